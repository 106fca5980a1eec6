/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-bus"

#include "config.h"

#include "natter-server-bus.h"

enum {
  SIGNAL_MESSAGE,
  SIGNAL_SUBSCRIBED,
  SIGNAL_RECONNECTED,
  SIGNAL_CALLS_LEFT,
  SIGNAL_PRESENCE_CHANGED,
  SIGNAL_PRESENCE_QUERIED,
  SIGNAL_CALL_CHECKED,
  SIGNAL_CALL_MOVED,
  SIGNAL_CONNECTION_REFUSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_INTERFACE (NatterServerBus, natter_server_bus, G_TYPE_OBJECT)

static void
natter_server_bus_default_init (NatterServerBusInterface *iface)
{
  /**
   * NatterServerBus::message:
   * @channel: a subscribed channel
   * @payload: what another node published there
   */
  signals[SIGNAL_MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BYTES);
  /**
   * NatterServerBus::subscribed:
   * @channel: a channel the bus hears from now on
   */
  signals[SIGNAL_SUBSCRIBED] =
    g_signal_new ("subscribed", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * NatterServerBus::reconnected:
   *
   * The bus is back after losing a connection, subscribed again: messages
   * published meanwhile were lost, so gaps must be read from the store.
   */
  signals[SIGNAL_RECONNECTED] =
    g_signal_new ("reconnected", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
  /**
   * NatterServerBus::calls-left:
   * @node_id: the node they rang on
   * @own: %TRUE when that was this node's previous run
   * @call_log_ids: (element-type gint64): the calls, claimed by this node
   *   only
   */
  signals[SIGNAL_CALLS_LEFT] =
    g_signal_new ("calls-left", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_BOOLEAN, G_TYPE_ARRAY);
  /**
   * NatterServerBus::presence-changed:
   * @profile_key: a profile
   * @online: it came online (else it went offline) on the nodes together
   */
  signals[SIGNAL_PRESENCE_CHANGED] =
    g_signal_new ("presence-changed", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BOOLEAN);
  /**
   * NatterServerBus::presence-queried:
   * @request: the number given to natter_server_bus_query_presence ()
   * @online: the profile keys of those online (none when Redis is gone)
   */
  signals[SIGNAL_PRESENCE_QUERIED] =
    g_signal_new ("presence-queried", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_STRV);
  /**
   * NatterServerBus::connection-refused:
   * @member: a connection given to natter_server_bus_add_presence ()
   *
   * Its user already holds the cap on all nodes together: it does not
   * count, and the hub closes it.
   */
  signals[SIGNAL_CONNECTION_REFUSED] =
    g_signal_new ("connection-refused", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * NatterServerBus::call-checked:
   * @request: the number given to natter_server_bus_check_call ()
   * @verdict: "ring", "offline", "glare", "busy", or "error" (Redis lost)
   * @ringing_call_log_id: for "glare", the call ringing the other way
   */
  signals[SIGNAL_CALL_CHECKED] =
    g_signal_new ("call-checked", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 3, G_TYPE_UINT64, G_TYPE_STRING, G_TYPE_INT64);
  /**
   * NatterServerBus::call-moved:
   * @request: the number given to natter_server_bus_move_call ()
   * @outcome: 1 moved, 0 the call was in another state, -1 unknown to
   *   Redis (or Redis lost)
   */
  signals[SIGNAL_CALL_MOVED] =
    g_signal_new ("call-moved", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_INT);
}

/**
 * natter_server_bus_get_node_id:
 * @self: the bus
 *
 * Returns: (transfer none): this node's name (`--node-id`)
 */
const char *
natter_server_bus_get_node_id (NatterServerBus *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER_BUS (self), NULL);

  return NATTER_SERVER_BUS_GET_IFACE (self)->get_node_id (self);
}

/**
 * natter_server_bus_is_shared:
 * @self: the bus
 *
 * Returns: %TRUE when other nodes may hear what this one publishes; %FALSE
 *   for a node alone, whose hub then skips the bus altogether
 */
gboolean
natter_server_bus_is_shared (NatterServerBus *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER_BUS (self), FALSE);

  return NATTER_SERVER_BUS_GET_IFACE (self)->is_shared (self);
}

/**
 * natter_server_bus_subscribe:
 * @self: the bus
 * @channel: a channel name
 *
 * Kept across reconnections until natter_server_bus_unsubscribe ().
 */
void
natter_server_bus_subscribe (NatterServerBus *self, const char *channel)
{
  g_return_if_fail (NATTER_IS_SERVER_BUS (self));
  g_return_if_fail (channel != NULL);

  NATTER_SERVER_BUS_GET_IFACE (self)->subscribe (self, channel);
}

void
natter_server_bus_unsubscribe (NatterServerBus *self, const char *channel)
{
  g_return_if_fail (NATTER_IS_SERVER_BUS (self));
  g_return_if_fail (channel != NULL);

  NATTER_SERVER_BUS_GET_IFACE (self)->unsubscribe (self, channel);
}

/**
 * natter_server_bus_publish:
 * @self: the bus
 * @channel: a channel name
 * @payload: the message, binary safe
 *
 * Returns: %FALSE when the bus is down and the message was dropped (the
 *   nodes that wanted it read it from the store once they see the gap)
 */
gboolean
natter_server_bus_publish (NatterServerBus *self, const char *channel, GBytes *payload)
{
  g_return_val_if_fail (NATTER_IS_SERVER_BUS (self), FALSE);
  g_return_val_if_fail (channel != NULL && payload != NULL, FALSE);

  return NATTER_SERVER_BUS_GET_IFACE (self)->publish (self, channel, payload);
}

/**
 * natter_server_bus_own_call:
 * @self: the bus
 * @call_log_id: a call that rings on this node from now on
 *
 * Should this node die while it rings, another node makes it a missed
 * call (a node alone: nothing to do).
 */
void
natter_server_bus_own_call (NatterServerBus *self, gint64 call_log_id)
{
  NatterServerBusInterface *iface;

  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  iface = NATTER_SERVER_BUS_GET_IFACE (self);
  if (iface->own_call != NULL)
    iface->own_call (self, call_log_id);
}

/* @call_log_id no longer rings on this node. */
void
natter_server_bus_release_call (NatterServerBus *self, gint64 call_log_id)
{
  NatterServerBusInterface *iface;

  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  iface = NATTER_SERVER_BUS_GET_IFACE (self);
  if (iface->release_call != NULL)
    iface->release_call (self, call_log_id);
}

/**
 * natter_server_bus_add_presence:
 * @self: the bus
 * @profile_key: whose connection opened
 * @user_id: the profile's user
 * @member: the connection, unique among the nodes
 * @cap: the connections the user may hold on all nodes together
 *
 * Among several nodes, ::presence-changed tells whether the profile came
 * online by it and ::connection-refused whether it is one too many (a
 * node alone: nothing happens, the hub knows).
 */
void
natter_server_bus_add_presence (
  NatterServerBus *self, const char *profile_key, gint64 user_id, const char *member, guint cap)
{
  NatterServerBusInterface *iface;

  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  iface = NATTER_SERVER_BUS_GET_IFACE (self);
  if (iface->add_presence != NULL)
    iface->add_presence (self, profile_key, user_id, member, cap);
}

/* The connection closed; ::presence-changed if its profile went offline. */
void
natter_server_bus_remove_presence (NatterServerBus *self, const char *member)
{
  NatterServerBusInterface *iface;

  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  iface = NATTER_SERVER_BUS_GET_IFACE (self);
  if (iface->remove_presence != NULL)
    iface->remove_presence (self, member);
}

/**
 * natter_server_bus_query_presence:
 * @self: the bus
 * @request: a number for the answer
 * @profile_keys: profiles
 *
 * Returns: %TRUE when ::presence-queried will answer
 */
gboolean
natter_server_bus_query_presence (NatterServerBus *self,
                                  guint64 request,
                                  const char *const *profile_keys)
{
  NatterServerBusInterface *iface;

  g_return_val_if_fail (NATTER_IS_SERVER_BUS (self), FALSE);

  iface = NATTER_SERVER_BUS_GET_IFACE (self);
  return iface->query_presence != NULL && iface->query_presence (self, request, profile_keys);
}

/**
 * natter_server_bus_check_call:
 * @self: the bus
 * @request: a number for the answer
 * @caller_key: who invites
 * @callee_key: whom
 * @max_ringing: how many calls @caller_key may have ringing
 *
 * Glare, busy and whether the callee is online on any node, in one step.
 *
 * Returns: %TRUE when ::call-checked will answer
 */
gboolean
natter_server_bus_check_call (NatterServerBus *self,
                              guint64 request,
                              const char *caller_key,
                              const char *callee_key,
                              guint max_ringing)
{
  NatterServerBusInterface *iface;

  g_return_val_if_fail (NATTER_IS_SERVER_BUS (self), FALSE);

  iface = NATTER_SERVER_BUS_GET_IFACE (self);
  return iface->check_call != NULL &&
         iface->check_call (self, request, caller_key, callee_key, max_ringing);
}

/* A call rings from now on, for at most @ring_ms; it takes the place of
 * the claim of the check numbered @claim (0: none). */
void
natter_server_bus_ring_call (NatterServerBus *self,
                             gint64 call_log_id,
                             const char *caller_key,
                             const char *callee_key,
                             guint ring_ms,
                             guint64 claim)
{
  NatterServerBusInterface *iface;

  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  iface = NATTER_SERVER_BUS_GET_IFACE (self);
  if (iface->ring_call != NULL)
    iface->ring_call (self, call_log_id, caller_key, callee_key, ring_ms, claim);
}

/* The check numbered @claim said "ring", but no call rings: another
 * invitation between the two may go ahead. */
void
natter_server_bus_drop_call_claim (NatterServerBus *self, guint64 claim, const char *caller_key)
{
  NatterServerBusInterface *iface;

  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  iface = NATTER_SERVER_BUS_GET_IFACE (self);
  if (iface->drop_call_claim != NULL)
    iface->drop_call_claim (self, claim, caller_key);
}

/**
 * natter_server_bus_move_call:
 * @self: the bus
 * @request: a number for the answer (0: none wanted)
 * @call_log_id: the call
 * @from_state: "ringing", "answered", or "*" (any)
 * @to_state: "answered" or "ended"
 * @member: (nullable): the connection that moves it
 *
 * One compare-and-set on the call's state across all nodes.
 *
 * Returns: %TRUE when ::call-moved will answer
 */
gboolean
natter_server_bus_move_call (NatterServerBus *self,
                             guint64 request,
                             gint64 call_log_id,
                             const char *from_state,
                             const char *to_state,
                             const char *member)
{
  NatterServerBusInterface *iface;

  g_return_val_if_fail (NATTER_IS_SERVER_BUS (self), FALSE);

  iface = NATTER_SERVER_BUS_GET_IFACE (self);
  return iface->move_call != NULL &&
         iface->move_call (self, request, call_log_id, from_state, to_state, member);
}

void
natter_server_bus_emit_call_checked (NatterServerBus *self,
                                     guint64 request,
                                     const char *verdict,
                                     gint64 ringing_call_log_id)
{
  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  g_signal_emit (self, signals[SIGNAL_CALL_CHECKED], 0, request, verdict, ringing_call_log_id);
}

void
natter_server_bus_emit_call_moved (NatterServerBus *self, guint64 request, int outcome)
{
  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  g_signal_emit (self, signals[SIGNAL_CALL_MOVED], 0, request, outcome);
}

void
natter_server_bus_emit_message (NatterServerBus *self, const char *channel, GBytes *payload)
{
  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, channel, payload);
}

void
natter_server_bus_emit_subscribed (NatterServerBus *self, const char *channel)
{
  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  g_signal_emit (self, signals[SIGNAL_SUBSCRIBED], 0, channel);
}

void
natter_server_bus_emit_reconnected (NatterServerBus *self)
{
  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  g_signal_emit (self, signals[SIGNAL_RECONNECTED], 0);
}

void
natter_server_bus_emit_calls_left (NatterServerBus *self,
                                   const char *node_id,
                                   gboolean own,
                                   GArray *call_log_ids)
{
  g_return_if_fail (NATTER_IS_SERVER_BUS (self));
  g_return_if_fail (node_id != NULL && call_log_ids != NULL);

  g_signal_emit (self, signals[SIGNAL_CALLS_LEFT], 0, node_id, own, call_log_ids);
}

void
natter_server_bus_emit_presence_changed (NatterServerBus *self,
                                         const char *profile_key,
                                         gboolean online)
{
  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  g_signal_emit (self, signals[SIGNAL_PRESENCE_CHANGED], 0, profile_key, online);
}

void
natter_server_bus_emit_presence_queried (NatterServerBus *self,
                                         guint64 request,
                                         const char *const *online)
{
  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  g_signal_emit (self, signals[SIGNAL_PRESENCE_QUERIED], 0, request, online);
}

void
natter_server_bus_emit_connection_refused (NatterServerBus *self, const char *member)
{
  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  g_signal_emit (self, signals[SIGNAL_CONNECTION_REFUSED], 0, member);
}

/**
 * natter_server_bus_count_connections_async:
 * @self: a bus
 * @user_id: a user
 * @callback: told once the bus answered
 * @user_data: for @callback
 *
 * Counts the user's WebSocket connections on every node together (the
 * backend's presence members), for the upgrade's connection cap.
 */
void
natter_server_bus_count_connections_async (NatterServerBus *self,
                                           gint64 user_id,
                                           GAsyncReadyCallback callback,
                                           gpointer user_data)
{
  NatterServerBusInterface *iface;

  g_return_if_fail (NATTER_IS_SERVER_BUS (self));

  iface = NATTER_SERVER_BUS_GET_IFACE (self);
  if (iface->count_connections_async == NULL) {
    g_task_report_new_error (self, callback, user_data, natter_server_bus_count_connections_async,
                             G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                             "This bus counts no connections");
    return;
  }
  iface->count_connections_async (self, user_id, callback, user_data);
}

/**
 * natter_server_bus_count_connections_finish:
 * @self: a bus
 * @result: the result
 * @error: where the bus's failure goes
 *
 * Returns: the user's connections on all nodes, or -1 with @error set
 */
gssize
natter_server_bus_count_connections_finish (NatterServerBus *self,
                                            GAsyncResult *result,
                                            GError **error)
{
  g_return_val_if_fail (NATTER_IS_SERVER_BUS (self), -1);

  if (g_async_result_is_tagged (result, natter_server_bus_count_connections_async))
    return g_task_propagate_int (G_TASK (result), error);
  return NATTER_SERVER_BUS_GET_IFACE (self)->count_connections_finish (self, result, error);
}
