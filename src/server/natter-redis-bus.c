/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-redis-bus"

#include "natter-redis-bus.h"

#include <hiredis/hiredis.h>
#include <string.h>
#include <unistd.h>

#include "natter-redis-connection.h"
#include "natter-redis-calls.h"
#include "natter-redis-nodes.h"

/* A node's link to the other nodes through Redis pub/sub. Two connections
 * (RESP2: a subscriber cannot send commands): one for PUBLISH and other
 * commands, one subscriber. The subscriber answers no PING, so the bus
 * watches it by publishing heartbeats on a channel of its own through the
 * command connection: one that does not come back within the timeout
 * drops the subscriber. After any loss the bus subscribes again and emits
 * "reconnected": what was published meanwhile is gone, and the hub reads
 * the gap from the store. */

#define DEFAULT_REDIS_PORT 6379
#define DEFAULT_PING_INTERVAL_MS 2000
#define DEFAULT_TIMEOUT_MS 5000

enum { PROP_0, PROP_CONNECTED, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterRedisBus {
  GObject parent_instance;

  char *node_id;
  char *watchdog_channel;
  /* Tells this bus's heartbeats from another process's with the same node
   * id. */
  char *instance;
  guint ping_interval_ms;
  guint timeout_ms;

  NatterRedisConnection *commands;
  NatterRedisConnection *subscriber;
  /* Liveness, the cleaner election, the calls ringing here. */
  NatterRedisNodes *nodes;
  /* The channels the hub wants, and those Redis has not confirmed yet on the
   * current subscriber connection. */
  GHashTable *channels;
  GHashTable *unconfirmed;
  gboolean connected;
  /* Set when a connection is lost after the first connect: "reconnected"
   * is due once everything is back. */
  gboolean lost;
  gboolean ever_connected;
  guint commands_lost;
  guint subscriber_lost;

  guint heartbeat_id;
  guint64 heartbeat_sent;
  guint64 heartbeat_received;
  /* When the oldest heartbeat not seen yet was sent; 0: none pending. */
  gint64 heartbeat_pending_since_us;
};

static void natter_redis_bus_iface_init (NatterServerBusInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterRedisBus,
                               natter_redis_bus,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NATTER_TYPE_SERVER_BUS,
                                                      natter_redis_bus_iface_init))

static gboolean
connection_ready (NatterRedisConnection *connection)
{
  return natter_redis_connection_get_state (connection) == NATTER_REDIS_CONNECTION_READY;
}

static void
update_connected (NatterRedisBus *self)
{
  gboolean connected = connection_ready (self->commands) && connection_ready (self->subscriber) &&
                       g_hash_table_size (self->unconfirmed) == 0;

  if (connected == self->connected)
    return;

  self->connected = connected;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTED]);
  if (!connected)
    return;

  if (self->ever_connected && self->lost) {
    self->lost = FALSE;
    g_message ("node %s: Redis bus reconnected", self->node_id);
    natter_server_bus_emit_reconnected (NATTER_SERVER_BUS (self));
  }
  self->ever_connected = TRUE;
  self->lost = FALSE;
}

static void
subscribe_all (NatterRedisBus *self)
{
  GHashTableIter iter;
  gpointer channel;

  g_hash_table_remove_all (self->unconfirmed);
  g_hash_table_add (self->unconfirmed, g_strdup (self->watchdog_channel));
  g_hash_table_iter_init (&iter, self->channels);
  while (g_hash_table_iter_next (&iter, &channel, NULL))
    g_hash_table_add (self->unconfirmed, g_strdup (channel));

  g_hash_table_iter_init (&iter, self->unconfirmed);
  while (g_hash_table_iter_next (&iter, &channel, NULL))
    natter_redis_connection_subscribe (self->subscriber, channel);
}

static void
on_connection_state (NatterRedisConnection *connection, GParamSpec *pspec, NatterRedisBus *self)
{
  NatterRedisConnectionState state = natter_redis_connection_get_state (connection);

  if (state == NATTER_REDIS_CONNECTION_DISCONNECTED) {
    if (connection == self->subscriber)
      self->subscriber_lost++;
    else
      self->commands_lost++;
    if (self->ever_connected)
      self->lost = TRUE;
  }
  if (connection == self->commands && state == NATTER_REDIS_CONNECTION_READY)
    natter_redis_nodes_connected (self->nodes);
  if (connection == self->subscriber) {
    self->heartbeat_pending_since_us = 0;
    if (state == NATTER_REDIS_CONNECTION_READY)
      subscribe_all (self);
  }
  update_connected (self);
}

static void
on_subscribed (NatterRedisConnection *connection, const char *channel, NatterRedisBus *self)
{
  gboolean wanted = g_hash_table_remove (self->unconfirmed, channel) &&
                    g_hash_table_contains (self->channels, channel);

  update_connected (self);
  if (wanted)
    natter_server_bus_emit_subscribed (NATTER_SERVER_BUS (self), channel);
}

static void
on_heartbeat (NatterRedisBus *self, GBytes *payload)
{
  gsize size;
  const char *data = g_bytes_get_data (payload, &size);
  g_autofree char *text = g_strndup (data, size);
  const char *colon = strrchr (text, ':');
  guint64 sequence;

  if (colon == NULL || strncmp (text, self->instance, (gsize) (colon - text)) != 0 ||
      strlen (self->instance) != (gsize) (colon - text))
    return;
  sequence = g_ascii_strtoull (colon + 1, NULL, 10);
  if (sequence <= self->heartbeat_received || sequence > self->heartbeat_sent)
    return;

  self->heartbeat_received = sequence;
  /* Later ones are still on their way: the clock restarts from now. */
  self->heartbeat_pending_since_us = sequence == self->heartbeat_sent ? 0 : g_get_monotonic_time ();
}

static void
on_message (NatterRedisConnection *connection,
            const char *channel,
            GBytes *payload,
            NatterRedisBus *self)
{
  if (g_str_equal (channel, self->watchdog_channel)) {
    on_heartbeat (self, payload);
    return;
  }
  /* After an unsubscribe, messages that were on their way still come. */
  if (!g_hash_table_contains (self->channels, channel))
    return;

  natter_server_bus_emit_message (NATTER_SERVER_BUS (self), channel, payload);
}

static void
on_calls_left (const char *node_id, gboolean own, GArray *call_log_ids, gpointer user_data)
{
  natter_server_bus_emit_calls_left (NATTER_SERVER_BUS (user_data), node_id, own, call_log_ids);
}

static void
on_presence_changed (const char *profile_key, gboolean online, gpointer user_data)
{
  natter_server_bus_emit_presence_changed (NATTER_SERVER_BUS (user_data), profile_key, online);
}

static void
on_refused (const char *member, gpointer user_data)
{
  natter_server_bus_emit_connection_refused (NATTER_SERVER_BUS (user_data), member);
}

static void
on_presence_queried (guint64 request, const char *const *online, gpointer user_data)
{
  natter_server_bus_emit_presence_queried (NATTER_SERVER_BUS (user_data), request, online);
}

static gboolean
on_heartbeat_due (gpointer user_data)
{
  NatterRedisBus *self = user_data;
  gint64 now = g_get_monotonic_time ();

  if (self->heartbeat_pending_since_us != 0 &&
      now - self->heartbeat_pending_since_us > (gint64) self->timeout_ms * 1000) {
    self->heartbeat_pending_since_us = 0;
    natter_redis_connection_drop (self->subscriber, "no heartbeat within the watchdog timeout");
    return G_SOURCE_CONTINUE;
  }

  if (connection_ready (self->subscriber) &&
      !g_hash_table_contains (self->unconfirmed, self->watchdog_channel)) {
    g_autofree char *payload =
      g_strdup_printf ("%s:%" G_GUINT64_FORMAT, self->instance, self->heartbeat_sent + 1);
    const char *argv[] = { "PUBLISH", self->watchdog_channel, payload };
    size_t argv_lengths[] = { 7, strlen (self->watchdog_channel), strlen (payload) };

    if (natter_redis_connection_command (self->commands, NULL, NULL, 3, argv, argv_lengths)) {
      self->heartbeat_sent++;
      if (self->heartbeat_pending_since_us == 0)
        self->heartbeat_pending_since_us = now;
    }
  }

  return G_SOURCE_CONTINUE;
}

static void
natter_redis_bus_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterRedisBus *self = NATTER_REDIS_BUS (object);

  switch (prop_id) {
    case PROP_CONNECTED:
      g_value_set_boolean (value, self->connected);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_redis_bus_dispose (GObject *object)
{
  NatterRedisBus *self = NATTER_REDIS_BUS (object);

  g_clear_handle_id (&self->heartbeat_id, g_source_remove);
  if (self->commands != NULL)
    g_signal_handlers_disconnect_by_data (self->commands, self);
  if (self->subscriber != NULL)
    g_signal_handlers_disconnect_by_data (self->subscriber, self);
  /* Commands first: their pending replies reach the node registry. */
  g_clear_object (&self->commands);
  g_clear_object (&self->subscriber);
  g_clear_object (&self->nodes);

  G_OBJECT_CLASS (natter_redis_bus_parent_class)->dispose (object);
}

static void
natter_redis_bus_finalize (GObject *object)
{
  NatterRedisBus *self = NATTER_REDIS_BUS (object);

  g_free (self->node_id);
  g_free (self->watchdog_channel);
  g_free (self->instance);
  g_hash_table_unref (self->channels);
  g_hash_table_unref (self->unconfirmed);

  G_OBJECT_CLASS (natter_redis_bus_parent_class)->finalize (object);
}

static void
natter_redis_bus_class_init (NatterRedisBusClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_redis_bus_get_property;
  object_class->dispose = natter_redis_bus_dispose;
  object_class->finalize = natter_redis_bus_finalize;

  /**
   * NatterRedisBus:connected:
   *
   * Both connections are ready and every subscription is confirmed.
   */
  properties[PROP_CONNECTED] =
    g_param_spec_boolean ("connected", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  /* ::message and ::reconnected are NatterServerBus's. */
}

static void
natter_redis_bus_init (NatterRedisBus *self)
{
  self->channels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->unconfirmed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->instance = g_strdup_printf ("%08x%08x", g_random_int (), g_random_int ());
  self->ping_interval_ms = DEFAULT_PING_INTERVAL_MS;
  self->timeout_ms = DEFAULT_TIMEOUT_MS;
}

/**
 * natter_redis_bus_new:
 * @uri: `redis://HOST:PORT` (the port defaults to 6379)
 * @node_id: this node's name
 * @error: a #G_IO_ERROR_INVALID_ARGUMENT for a bad @uri
 *
 * Returns: (transfer full) (nullable): a bus, not connecting yet
 */
NatterRedisBus *
natter_redis_bus_new (const char *uri, const char *node_id, GError **error)
{
  g_autoptr (GUri) parsed = NULL;
  g_autoptr (GError) parse_error = NULL;
  NatterRedisBus *self;
  const char *host;
  int port;

  g_return_val_if_fail (uri != NULL, NULL);
  g_return_val_if_fail (node_id != NULL && *node_id != '\0', NULL);

  parsed = g_uri_parse (uri, G_URI_FLAGS_NONE, &parse_error);
  if (parsed == NULL || g_strcmp0 (g_uri_get_scheme (parsed), "redis") != 0 ||
      g_uri_get_host (parsed) == NULL || *g_uri_get_host (parsed) == '\0' ||
      (*g_uri_get_path (parsed) != '\0' && !g_str_equal (g_uri_get_path (parsed), "/")) ||
      g_uri_get_userinfo (parsed) != NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "“%s” is not a Redis address: use redis://HOST:PORT", uri);
    return NULL;
  }
  host = g_uri_get_host (parsed);
  port = g_uri_get_port (parsed);
  if (port <= 0)
    port = DEFAULT_REDIS_PORT;

  self = g_object_new (NATTER_TYPE_REDIS_BUS, NULL);
  self->node_id = g_strdup (node_id);
  self->watchdog_channel = g_strdup_printf ("natter:node:%s:watchdog", node_id);
  self->commands = natter_redis_connection_new (host, (guint) port, "redis commands");
  self->subscriber = natter_redis_connection_new (host, (guint) port, "redis subscriber");
  g_signal_connect (self->commands, "notify::state", G_CALLBACK (on_connection_state), self);
  g_signal_connect (self->subscriber, "notify::state", G_CALLBACK (on_connection_state), self);
  g_signal_connect (self->subscriber, "subscribed", G_CALLBACK (on_subscribed), self);
  g_signal_connect (self->subscriber, "message", G_CALLBACK (on_message), self);
  self->nodes = natter_redis_nodes_new (self->commands, node_id, on_calls_left, on_presence_changed,
                                        on_presence_queried, on_refused, self);
  natter_redis_bus_set_watchdog (self, DEFAULT_PING_INTERVAL_MS, DEFAULT_TIMEOUT_MS);

  return self;
}

/**
 * natter_redis_bus_default_node_id:
 *
 * What `--node-id` defaults to: unique among the nodes of one machine and
 * across machines.
 *
 * Returns: (transfer full): `HOSTNAME-PID`
 */
char *
natter_redis_bus_default_node_id (void)
{
  return g_strdup_printf ("%s-%d", g_get_host_name (), (int) getpid ());
}

/**
 * natter_redis_bus_set_watchdog:
 * @self: a bus, not started yet
 * @ping_interval_ms: time between PINGs and heartbeats
 * @timeout_ms: how long a connection may stay silent before it is dropped
 *   and made again
 */
void
natter_redis_bus_set_watchdog (NatterRedisBus *self, guint ping_interval_ms, guint timeout_ms)
{
  g_return_if_fail (NATTER_IS_REDIS_BUS (self));
  g_return_if_fail (ping_interval_ms > 0 && timeout_ms > 0);

  self->ping_interval_ms = ping_interval_ms;
  self->timeout_ms = timeout_ms;
  natter_redis_connection_set_watchdog (self->commands, ping_interval_ms, timeout_ms);
  natter_redis_connection_set_watchdog (self->subscriber, 0, timeout_ms);
}

/**
 * natter_redis_bus_set_backoff:
 * @self: a bus (applies from the next reconnection)
 * @min_ms: the first wait before reconnecting
 * @max_ms: the longest wait
 */
void
natter_redis_bus_set_backoff (NatterRedisBus *self, guint min_ms, guint max_ms)
{
  g_return_if_fail (NATTER_IS_REDIS_BUS (self));

  natter_redis_connection_set_backoff (self->commands, min_ms, max_ms);
  natter_redis_connection_set_backoff (self->subscriber, min_ms, max_ms);
}

/**
 * natter_redis_bus_set_dead_after:
 * @self: a bus, not started yet
 * @dead_after_ms: how long a node that stopped refreshing its liveness key
 *   still counts as alive (default 10 s)
 */
void
natter_redis_bus_set_dead_after (NatterRedisBus *self, guint dead_after_ms)
{
  g_return_if_fail (NATTER_IS_REDIS_BUS (self));

  natter_redis_nodes_set_dead_after (self->nodes, dead_after_ms);
}

/* Whether this node cleaned up after dead nodes at its last heartbeat. */
gboolean
natter_redis_bus_is_cleaner (NatterRedisBus *self)
{
  g_return_val_if_fail (NATTER_IS_REDIS_BUS (self), FALSE);

  return natter_redis_nodes_is_cleaner (self->nodes);
}

/**
 * natter_redis_bus_start:
 * @self: a bus
 *
 * Connects both connections; they reconnect on their own from then on.
 * #NatterRedisBus:connected turns %TRUE once both are ready.
 */
void
natter_redis_bus_start (NatterRedisBus *self)
{
  g_return_if_fail (NATTER_IS_REDIS_BUS (self));

  if (self->heartbeat_id != 0)
    return;
  self->heartbeat_id = g_timeout_add (self->ping_interval_ms, on_heartbeat_due, self);
  natter_redis_nodes_start (self->nodes);
  natter_redis_connection_start (self->commands);
  natter_redis_connection_start (self->subscriber);
}

const char *
natter_redis_bus_get_node_id (NatterRedisBus *self)
{
  g_return_val_if_fail (NATTER_IS_REDIS_BUS (self), NULL);

  return self->node_id;
}

gboolean
natter_redis_bus_get_connected (NatterRedisBus *self)
{
  g_return_val_if_fail (NATTER_IS_REDIS_BUS (self), FALSE);

  return self->connected;
}

/**
 * natter_redis_bus_get_disconnections:
 * @self: a bus
 * @out_commands: (out) (optional): how often the command connection was
 *   lost or failed to connect
 * @out_subscriber: (out) (optional): the same for the subscriber
 *
 * For metrics, and for telling which watchdog fired.
 */
void
natter_redis_bus_get_disconnections (NatterRedisBus *self,
                                     guint *out_commands,
                                     guint *out_subscriber)
{
  g_return_if_fail (NATTER_IS_REDIS_BUS (self));

  if (out_commands != NULL)
    *out_commands = self->commands_lost;
  if (out_subscriber != NULL)
    *out_subscriber = self->subscriber_lost;
}

/**
 * natter_redis_bus_subscribe:
 * @self: a bus
 * @channel: a channel, e.g. a profile's
 *
 * Kept across reconnections. Messages published before Redis confirms the
 * subscription (#NatterRedisBus:connected is %FALSE until then) may be
 * missed.
 */
void
natter_redis_bus_subscribe (NatterRedisBus *self, const char *channel)
{
  g_return_if_fail (NATTER_IS_REDIS_BUS (self));
  g_return_if_fail (channel != NULL);

  if (g_str_equal (channel, self->watchdog_channel) ||
      !g_hash_table_add (self->channels, g_strdup (channel)))
    return;
  if (connection_ready (self->subscriber)) {
    g_hash_table_add (self->unconfirmed, g_strdup (channel));
    natter_redis_connection_subscribe (self->subscriber, channel);
    update_connected (self);
  }
}

/**
 * natter_redis_bus_unsubscribe:
 * @self: a bus
 * @channel: a subscribed channel
 *
 * No #NatterRedisBus::message for @channel from now on.
 */
void
natter_redis_bus_unsubscribe (NatterRedisBus *self, const char *channel)
{
  g_return_if_fail (NATTER_IS_REDIS_BUS (self));
  g_return_if_fail (channel != NULL);

  if (!g_hash_table_remove (self->channels, channel))
    return;
  g_hash_table_remove (self->unconfirmed, channel);
  if (connection_ready (self->subscriber))
    natter_redis_connection_unsubscribe (self->subscriber, channel);
  update_connected (self);
}

/**
 * natter_redis_bus_publish:
 * @self: a bus
 * @channel: the channel
 * @payload: the message, binary safe
 *
 * Returns: %FALSE when the command connection is not ready: the message is
 *   not sent (subscribers read it from the store when they see the gap)
 */
gboolean
natter_redis_bus_publish (NatterRedisBus *self, const char *channel, GBytes *payload)
{
  gsize size;
  const char *data;
  const char *argv[3];
  size_t argv_lengths[3];

  g_return_val_if_fail (NATTER_IS_REDIS_BUS (self), FALSE);
  g_return_val_if_fail (channel != NULL && payload != NULL, FALSE);

  data = g_bytes_get_data (payload, &size);
  argv[0] = "PUBLISH";
  argv[1] = channel;
  argv[2] = data != NULL ? data : "";
  argv_lengths[0] = 7;
  argv_lengths[1] = strlen (channel);
  argv_lengths[2] = size;

  return natter_redis_connection_command (self->commands, NULL, NULL, 3, argv, argv_lengths);
}

static const char *
natter_redis_bus_iface_get_node_id (NatterServerBus *bus)
{
  return natter_redis_bus_get_node_id (NATTER_REDIS_BUS (bus));
}

static gboolean
natter_redis_bus_iface_is_shared (NatterServerBus *bus)
{
  return TRUE;
}

static void
natter_redis_bus_iface_subscribe (NatterServerBus *bus, const char *channel)
{
  natter_redis_bus_subscribe (NATTER_REDIS_BUS (bus), channel);
}

static void
natter_redis_bus_iface_unsubscribe (NatterServerBus *bus, const char *channel)
{
  natter_redis_bus_unsubscribe (NATTER_REDIS_BUS (bus), channel);
}

static gboolean
natter_redis_bus_iface_publish (NatterServerBus *bus, const char *channel, GBytes *payload)
{
  return natter_redis_bus_publish (NATTER_REDIS_BUS (bus), channel, payload);
}

static void
natter_redis_bus_iface_own_call (NatterServerBus *bus, gint64 call_log_id)
{
  natter_redis_nodes_own_call (NATTER_REDIS_BUS (bus)->nodes, call_log_id);
}

static void
natter_redis_bus_iface_release_call (NatterServerBus *bus, gint64 call_log_id)
{
  natter_redis_nodes_release_call (NATTER_REDIS_BUS (bus)->nodes, call_log_id);
}

static void
natter_redis_bus_iface_add_presence (
  NatterServerBus *bus, const char *profile_key, gint64 user_id, const char *member, guint cap)
{
  natter_redis_nodes_presence_add (NATTER_REDIS_BUS (bus)->nodes, profile_key, user_id, member,
                                   cap);
}

static void
natter_redis_bus_iface_remove_presence (NatterServerBus *bus, const char *member)
{
  natter_redis_nodes_presence_remove (NATTER_REDIS_BUS (bus)->nodes, member);
}

static gboolean
natter_redis_bus_iface_query_presence (NatterServerBus *bus,
                                       guint64 request,
                                       const char *const *profile_keys)
{
  return natter_redis_nodes_query (NATTER_REDIS_BUS (bus)->nodes, request, profile_keys);
}

static void
on_nodes_counted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;
  gssize count;

  count = natter_redis_nodes_count_connections_finish (NATTER_REDIS_NODES (source), result, &error);
  if (count < 0)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, count);
}

static void
natter_redis_bus_iface_count_connections_async (NatterServerBus *bus,
                                                gint64 user_id,
                                                GAsyncReadyCallback callback,
                                                gpointer user_data)
{
  GTask *task = g_task_new (bus, NULL, callback, user_data);

  natter_redis_nodes_count_connections_async (NATTER_REDIS_BUS (bus)->nodes, user_id,
                                              on_nodes_counted, task);
}

static gssize
natter_redis_bus_iface_count_connections_finish (NatterServerBus *bus,
                                                 GAsyncResult *result,
                                                 GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, bus), -1);

  return g_task_propagate_int (G_TASK (result), error);
}

static void
on_call_checked (guint64 request,
                 const char *verdict,
                 gint64 ringing_call_log_id,
                 gpointer user_data)
{
  natter_server_bus_emit_call_checked (NATTER_SERVER_BUS (user_data), request, verdict,
                                       ringing_call_log_id);
}

static gboolean
natter_redis_bus_iface_check_call (NatterServerBus *bus,
                                   guint64 request,
                                   const char *caller_key,
                                   const char *callee_key,
                                   guint max_ringing)
{
  if (NATTER_REDIS_BUS (bus)->commands == NULL)
    return FALSE;
  return natter_redis_calls_check (NATTER_REDIS_BUS (bus)->commands, request,
                                   NATTER_REDIS_BUS (bus)->node_id, caller_key, callee_key,
                                   max_ringing, on_call_checked, bus);
}

static void
natter_redis_bus_iface_ring_call (NatterServerBus *bus,
                                  gint64 call_log_id,
                                  const char *caller_key,
                                  const char *callee_key,
                                  guint ring_ms,
                                  guint64 claim)
{
  NatterRedisBus *self = NATTER_REDIS_BUS (bus);

  if (self->commands != NULL)
    natter_redis_calls_ring (self->commands, call_log_id, self->node_id, caller_key, callee_key,
                             ring_ms, claim);
}

static void
natter_redis_bus_iface_drop_call_claim (NatterServerBus *bus, guint64 claim, const char *caller_key)
{
  NatterRedisBus *self = NATTER_REDIS_BUS (bus);

  if (self->commands != NULL)
    natter_redis_calls_drop_claim (self->commands, self->node_id, claim, caller_key);
}

static void
on_call_moved (guint64 request, int outcome, gpointer user_data)
{
  natter_server_bus_emit_call_moved (NATTER_SERVER_BUS (user_data), request, outcome);
}

static gboolean
natter_redis_bus_iface_move_call (NatterServerBus *bus,
                                  guint64 request,
                                  gint64 call_log_id,
                                  const char *from_state,
                                  const char *to_state,
                                  const char *member)
{
  if (NATTER_REDIS_BUS (bus)->commands == NULL)
    return FALSE;
  return natter_redis_calls_move (NATTER_REDIS_BUS (bus)->commands, request, call_log_id,
                                  from_state, to_state, member, on_call_moved, bus);
}

static void
natter_redis_bus_iface_init (NatterServerBusInterface *iface)
{
  iface->check_call = natter_redis_bus_iface_check_call;
  iface->ring_call = natter_redis_bus_iface_ring_call;
  iface->drop_call_claim = natter_redis_bus_iface_drop_call_claim;
  iface->move_call = natter_redis_bus_iface_move_call;
  iface->add_presence = natter_redis_bus_iface_add_presence;
  iface->remove_presence = natter_redis_bus_iface_remove_presence;
  iface->query_presence = natter_redis_bus_iface_query_presence;
  iface->count_connections_async = natter_redis_bus_iface_count_connections_async;
  iface->count_connections_finish = natter_redis_bus_iface_count_connections_finish;
  iface->own_call = natter_redis_bus_iface_own_call;
  iface->release_call = natter_redis_bus_iface_release_call;
  iface->get_node_id = natter_redis_bus_iface_get_node_id;
  iface->is_shared = natter_redis_bus_iface_is_shared;
  iface->subscribe = natter_redis_bus_iface_subscribe;
  iface->unsubscribe = natter_redis_bus_iface_unsubscribe;
  iface->publish = natter_redis_bus_iface_publish;
}
