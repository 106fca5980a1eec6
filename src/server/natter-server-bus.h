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
 * - "reconnected": the bus is back after a loss and subscribed again. */

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
};

const char *natter_server_bus_get_node_id (NatterServerBus *self);
gboolean natter_server_bus_is_shared (NatterServerBus *self);
void natter_server_bus_subscribe (NatterServerBus *self, const char *channel);
void natter_server_bus_unsubscribe (NatterServerBus *self, const char *channel);
gboolean natter_server_bus_publish (NatterServerBus *self, const char *channel, GBytes *payload);

/* For backends. */
void natter_server_bus_emit_message (NatterServerBus *self, const char *channel, GBytes *payload);
void natter_server_bus_emit_subscribed (NatterServerBus *self, const char *channel);
void natter_server_bus_emit_reconnected (NatterServerBus *self);

G_END_DECLS
