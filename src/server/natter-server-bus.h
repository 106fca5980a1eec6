/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* How a node reaches the other nodes (ARCHITECTURE.md "Server: one node,
 * many cores, many nodes", rule 2): publish a message on a channel, hear
 * the channels one subscribed to. The in-process backend (one node: there
 * is no one else to tell) costs nothing; the Redis backend joins several
 * nodes. A node never hears its own publications back through the bus
 * (the hub tells them apart by the node id in each payload), and what is
 * published while the bus is down is lost: ::reconnected says so, and the
 * hub reads what it missed from the store.
 *
 * Signals, emitted on the main context:
 * - "message" (const char *channel, GBytes *payload): someone published on
 *   a subscribed channel.
 * - "subscribed" (const char *channel): the subscription to @channel holds
 *   from now on (after natter_server_bus_subscribe () and after each
 *   reconnection); whatever was published there before may have been missed.
 * - "reconnected": the bus is back after a loss and subscribed again.
 * - "calls-left" (const char *node_id, gboolean own, GArray *call_log_ids):
 *   calls (gint64) that rang on a node that is gone, claimed by this node
 *   alone: another node that died (@own FALSE: they are missed), or this
 *   node's previous run under the same id (@own TRUE: they failed).
 * - "presence-changed" (const char *profile_key, gboolean online): this
 *   node alone saw the profile come online or go offline across all
 *   nodes, and announces it.
 * - "presence-queried" (guint64 request, GStrv online): the answer to
 *   natter_server_bus_query_presence ().
 * - "connection-refused" (const char *member): the connection added as
 *   @member is one more than its user may hold on all nodes together.
 * - "call-checked" (guint64 request, const char *verdict, gint64
 *   ringing_call_log_id): the answer to natter_server_bus_check_call ().
 * - "call-moved" (guint64 request, gint outcome): the answer to
 *   natter_server_bus_move_call (). */

#define NATTER_TYPE_SERVER_BUS (natter_server_bus_get_type ())
G_DECLARE_INTERFACE (NatterServerBus, natter_server_bus, NATTER, SERVER_BUS, GObject)

struct _NatterServerBusInterface {
  GTypeInterface parent_iface;

  const char *(*get_node_id) (NatterServerBus *self);
  /* FALSE: this node is alone, nothing published reaches anyone. */
  gboolean (*is_shared) (NatterServerBus *self);
  void (*subscribe) (NatterServerBus *self, const char *channel);
  void (*unsubscribe) (NatterServerBus *self, const char *channel);
  gboolean (*publish) (NatterServerBus *self, const char *channel, GBytes *payload);
  /* Optional (a node alone has no one to tell): a call rings here from
   * now on, or no longer. */
  void (*own_call) (NatterServerBus *self, gint64 call_log_id);
  void (*release_call) (NatterServerBus *self, gint64 call_log_id);
  /* Optional too: presence across nodes. */
  void (*add_presence) (
    NatterServerBus *self, const char *profile_key, gint64 user_id, const char *member, guint cap);
  void (*remove_presence) (NatterServerBus *self, const char *member);
  gboolean (*query_presence) (NatterServerBus *self,
                              guint64 request,
                              const char *const *profile_keys);
  /* Optional too: call sessions every node agrees on. */
  gboolean (*check_call) (NatterServerBus *self,
                          guint64 request,
                          const char *caller_key,
                          const char *callee_key,
                          guint max_ringing);
  void (*ring_call) (NatterServerBus *self,
                     gint64 call_log_id,
                     const char *caller_key,
                     const char *callee_key,
                     guint ring_ms,
                     guint64 claim);
  void (*drop_call_claim) (NatterServerBus *self, guint64 claim, const char *caller_key);
  gboolean (*move_call) (NatterServerBus *self,
                         guint64 request,
                         gint64 call_log_id,
                         const char *from_state,
                         const char *to_state,
                         const char *member);
  /* Optional too: a user's connections on all nodes together. */
  void (*count_connections_async) (NatterServerBus *self,
                                   gint64 user_id,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data);
  gssize (*count_connections_finish) (NatterServerBus *self, GAsyncResult *result, GError **error);
};

const char *natter_server_bus_get_node_id (NatterServerBus *self);
gboolean natter_server_bus_is_shared (NatterServerBus *self);
void natter_server_bus_subscribe (NatterServerBus *self, const char *channel);
void natter_server_bus_unsubscribe (NatterServerBus *self, const char *channel);
gboolean natter_server_bus_publish (NatterServerBus *self, const char *channel, GBytes *payload);
void natter_server_bus_own_call (NatterServerBus *self, gint64 call_log_id);
void natter_server_bus_release_call (NatterServerBus *self, gint64 call_log_id);
void natter_server_bus_add_presence (
  NatterServerBus *self, const char *profile_key, gint64 user_id, const char *member, guint cap);
void natter_server_bus_remove_presence (NatterServerBus *self, const char *member);
gboolean natter_server_bus_query_presence (NatterServerBus *self,
                                           guint64 request,
                                           const char *const *profile_keys);
gboolean natter_server_bus_check_call (NatterServerBus *self,
                                       guint64 request,
                                       const char *caller_key,
                                       const char *callee_key,
                                       guint max_ringing);
void natter_server_bus_ring_call (NatterServerBus *self,
                                  gint64 call_log_id,
                                  const char *caller_key,
                                  const char *callee_key,
                                  guint ring_ms,
                                  guint64 claim);
void
natter_server_bus_drop_call_claim (NatterServerBus *self, guint64 claim, const char *caller_key);
gboolean natter_server_bus_move_call (NatterServerBus *self,
                                      guint64 request,
                                      gint64 call_log_id,
                                      const char *from_state,
                                      const char *to_state,
                                      const char *member);

void natter_server_bus_count_connections_async (NatterServerBus *self,
                                                gint64 user_id,
                                                GAsyncReadyCallback callback,
                                                gpointer user_data);
gssize natter_server_bus_count_connections_finish (NatterServerBus *self,
                                                   GAsyncResult *result,
                                                   GError **error);

/* For backends. */
void natter_server_bus_emit_message (NatterServerBus *self, const char *channel, GBytes *payload);
void natter_server_bus_emit_subscribed (NatterServerBus *self, const char *channel);
void natter_server_bus_emit_reconnected (NatterServerBus *self);
void natter_server_bus_emit_calls_left (NatterServerBus *self,
                                        const char *node_id,
                                        gboolean own,
                                        GArray *call_log_ids);
void natter_server_bus_emit_presence_changed (NatterServerBus *self,
                                              const char *profile_key,
                                              gboolean online);
void natter_server_bus_emit_connection_refused (NatterServerBus *self, const char *member);
void natter_server_bus_emit_call_checked (NatterServerBus *self,
                                          guint64 request,
                                          const char *verdict,
                                          gint64 ringing_call_log_id);
void natter_server_bus_emit_call_moved (NatterServerBus *self, guint64 request, int outcome);
void natter_server_bus_emit_presence_queried (NatterServerBus *self,
                                              guint64 request,
                                              const char *const *online);

G_END_DECLS
