/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-redis-connection"

#include "natter-redis-connection.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <string.h>

/* One connection to Redis on the main context: hiredis's asynchronous API
 * on a GSource of our own, a PING watchdog and reconnection with backoff.
 * hiredis 0.14's bundled GLib adapter writes before it reads and can use
 * the context after a read freed it (hiredis issues 343 and 468); the
 * source below reads first and looks again before writing. */

#define DEFAULT_PING_INTERVAL_MS 2000
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_BACKOFF_MIN_MS 100
#define DEFAULT_BACKOFF_MAX_MS 5000

enum { PROP_0, PROP_STATE, N_PROPS };

static GParamSpec *properties[N_PROPS];

enum { SIGNAL_MESSAGE, SIGNAL_SUBSCRIBED, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterRedisConnection {
  GObject parent_instance;

  char *host;
  guint port;
  char *name;
  guint ping_interval_ms;
  guint timeout_ms;
  guint backoff_min_ms;
  guint backoff_max_ms;

  NatterRedisConnectionState state;
  redisAsyncContext *context;
  /* Failed attempts since the connection was last ready. */
  guint attempts;
  gboolean started;
  /* A subscriber answers nothing but subscription messages (RESP2), so it
   * sends no periodic PING; its owner watches it another way. */
  gboolean subscriber;
  guint reconnect_id;
  guint watchdog_id;
  guint ping_id;
};

G_DEFINE_FINAL_TYPE (NatterRedisConnection, natter_redis_connection, G_TYPE_OBJECT)

typedef struct {
  GSource source;
  redisAsyncContext *context;
  gpointer fd_tag;
  GIOCondition events;
} RedisSource;

static void
redis_source_update (RedisSource *source, GIOCondition add, GIOCondition remove)
{
  source->events = (source->events | add) & ~remove;
  g_source_modify_unix_fd (&source->source, source->fd_tag, source->events);
}

static void
on_add_read (void *data)
{
  redis_source_update (data, G_IO_IN, 0);
}

static void
on_del_read (void *data)
{
  redis_source_update (data, 0, G_IO_IN);
}

static void
on_add_write (void *data)
{
  redis_source_update (data, G_IO_OUT, 0);
}

static void
on_del_write (void *data)
{
  redis_source_update (data, 0, G_IO_OUT);
}

/* hiredis frees the context right after this: the source must not touch it
 * again, even in the dispatch that is running now. */
static void
on_cleanup (void *data)
{
  RedisSource *source = data;

  source->context = NULL;
  g_source_destroy (&source->source);
  g_source_unref (&source->source);
}

static gboolean
redis_source_dispatch (GSource *gsource, GSourceFunc callback, gpointer user_data)
{
  RedisSource *source = (RedisSource *) gsource;
  GIOCondition revents = g_source_query_unix_fd (gsource, source->fd_tag);

  /* Reading may end in a disconnect that frees the context (on_cleanup
   * clears it); GLib holds the source itself until we return. */
  if (source->context != NULL && (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR)) != 0)
    redisAsyncHandleRead (source->context);
  if (source->context != NULL && (revents & G_IO_OUT) != 0)
    redisAsyncHandleWrite (source->context);

  return G_SOURCE_CONTINUE;
}

static GSourceFuncs redis_source_funcs = {
  .dispatch = redis_source_dispatch,
};

/* The source belongs to the context from here: on_cleanup drops it. */
static void
redis_source_attach (redisAsyncContext *context)
{
  RedisSource *source = (RedisSource *) g_source_new (&redis_source_funcs, sizeof (RedisSource));

  g_source_set_static_name (&source->source, "natter-redis");
  source->context = context;
  source->fd_tag = g_source_add_unix_fd (&source->source, context->c.fd, 0);
  context->ev.data = source;
  context->ev.addRead = on_add_read;
  context->ev.delRead = on_del_read;
  context->ev.addWrite = on_add_write;
  context->ev.delWrite = on_del_write;
  context->ev.cleanup = on_cleanup;
  g_source_attach (&source->source, g_main_context_get_thread_default ());
}

typedef struct {
  NatterRedisReplyFunc func;
  gpointer user_data;
  /* Not a reference: dispose frees the context, which calls every pending
   * callback (with NULL) first. */
  NatterRedisConnection *connection;
} PendingCommand;

static void connect_now (NatterRedisConnection *self);

static void
set_state (NatterRedisConnection *self, NatterRedisConnectionState state)
{
  if (self->state == state)
    return;

  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static gboolean
on_reconnect_due (gpointer user_data)
{
  NatterRedisConnection *self = user_data;

  self->reconnect_id = 0;
  connect_now (self);

  return G_SOURCE_REMOVE;
}

/* Exponential backoff with jitter, so nodes that lost Redis together do
 * not all come back in the same millisecond. */
static guint
next_delay_ms (NatterRedisConnection *self)
{
  guint shift = MIN (self->attempts, 16);
  guint64 delay = MIN ((guint64) self->backoff_min_ms << shift, (guint64) self->backoff_max_ms);

  self->attempts++;

  return (guint) delay / 2 + (guint) g_random_int_range (0, (gint32) MAX (delay / 2, 1));
}

/* The context is gone (hiredis freed it or we did): wait, then retry. */
static void
connection_lost (NatterRedisConnection *self, const char *reason)
{
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  g_clear_handle_id (&self->ping_id, g_source_remove);
  self->subscriber = FALSE;
  if (!self->started)
    g_debug ("%s: closed (%s)", self->name, reason);
  else if (self->state == NATTER_REDIS_CONNECTION_READY)
    g_message ("%s: connection to %s:%u lost: %s", self->name, self->host, self->port, reason);
  else
    g_debug ("%s: cannot connect to %s:%u: %s", self->name, self->host, self->port, reason);
  if (self->started && self->reconnect_id == 0)
    self->reconnect_id = g_timeout_add (next_delay_ms (self), on_reconnect_due, self);
  set_state (self, NATTER_REDIS_CONNECTION_DISCONNECTED);
}

static gboolean
on_watchdog_expired (gpointer user_data)
{
  NatterRedisConnection *self = user_data;

  self->watchdog_id = 0;
  natter_redis_connection_drop (self, "no answer within the watchdog timeout");

  return G_SOURCE_REMOVE;
}

static void
arm_watchdog (NatterRedisConnection *self)
{
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  self->watchdog_id = g_timeout_add (self->timeout_ms, on_watchdog_expired, self);
}

static void send_ping (NatterRedisConnection *self);

static gboolean
on_ping_due (gpointer user_data)
{
  NatterRedisConnection *self = user_data;

  self->ping_id = 0;
  send_ping (self);

  return G_SOURCE_REMOVE;
}

static void
on_pong (redisAsyncContext *context, void *reply, void *privdata)
{
  NatterRedisConnection *self = context->data;

  /* NULL: the context is being freed; on_disconnect or drop handle that. */
  if (self == NULL || reply == NULL)
    return;

  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  if (self->state == NATTER_REDIS_CONNECTION_CONNECTING) {
    self->attempts = 0;
    g_debug ("%s: connected to %s:%u", self->name, self->host, self->port);
    set_state (self, NATTER_REDIS_CONNECTION_READY);
  }
  if (self->ping_interval_ms > 0 && !self->subscriber && self->context != NULL &&
      self->ping_id == 0)
    self->ping_id = g_timeout_add (self->ping_interval_ms, on_ping_due, self);
}

static void
send_ping (NatterRedisConnection *self)
{
  if (self->context == NULL || self->subscriber)
    return;

  redisAsyncCommand (self->context, on_pong, NULL, "PING");
  arm_watchdog (self);
}

static void
on_connect (const redisAsyncContext *context, int status)
{
  NatterRedisConnection *self = context->data;

  if (self == NULL)
    return;

  if (status != REDIS_OK) {
    /* hiredis frees the context when this returns. */
    self->context = NULL;
    connection_lost (self, context->errstr);
    return;
  }
  /* Connected is not ready: a stalled server accepts connections (the
   * kernel does) and answers nothing. The first PONG makes it ready. */
  send_ping (self);
}

static void
on_disconnect (const redisAsyncContext *context, int status)
{
  NatterRedisConnection *self = context->data;

  if (self == NULL)
    return;

  self->context = NULL;
  connection_lost (self, status == REDIS_OK ? "closed" : context->errstr);
}

static void
connect_now (NatterRedisConnection *self)
{
  redisAsyncContext *context;

  g_assert (self->context == NULL);

  context = redisAsyncConnect (self->host, (int) self->port);
  if (context == NULL) {
    connection_lost (self, "out of memory");
    return;
  }
  if (context->err != 0) {
    g_autofree char *reason = g_strdup (context->errstr);

    redisAsyncFree (context);
    connection_lost (self, reason);
    return;
  }

  self->context = context;
  context->data = self;
  /* The hooks first: setting the connect callback already asks for a
   * write event. */
  redis_source_attach (context);
  redisAsyncSetConnectCallback (context, on_connect);
  redisAsyncSetDisconnectCallback (context, on_disconnect);
  set_state (self, NATTER_REDIS_CONNECTION_CONNECTING);
  arm_watchdog (self);
}

static void
on_command_reply (redisAsyncContext *context, void *reply, void *privdata)
{
  PendingCommand *pending = privdata;

  pending->func (pending->connection, reply, pending->user_data);
  g_free (pending);
}

static gboolean
reply_is_string (const redisReply *reply)
{
  return reply != NULL && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS);
}

/* Every reply on a subscribed connection: confirmations and messages. */
static void
on_subscription_reply (redisAsyncContext *context, void *data, void *privdata)
{
  NatterRedisConnection *self = context->data;
  redisReply *reply = data;
  const char *kind;
  g_autofree char *channel = NULL;

  if (self == NULL || reply == NULL)
    return;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
      !reply_is_string (reply->element[0]) || !reply_is_string (reply->element[1]))
    return;

  kind = reply->element[0]->str;
  channel = g_strndup (reply->element[1]->str, reply->element[1]->len);
  if (g_str_equal (kind, "message") && reply_is_string (reply->element[2])) {
    g_autoptr (GBytes) payload = g_bytes_new (reply->element[2]->str, reply->element[2]->len);

    g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, channel, payload);
  } else if (g_str_equal (kind, "subscribe")) {
    g_signal_emit (self, signals[SIGNAL_SUBSCRIBED], 0, channel);
  }
}

static void
natter_redis_connection_get_property (GObject *object,
                                      guint prop_id,
                                      GValue *value,
                                      GParamSpec *pspec)
{
  NatterRedisConnection *self = NATTER_REDIS_CONNECTION (object);

  switch (prop_id) {
    case PROP_STATE:
      g_value_set_int (value, self->state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_redis_connection_dispose (GObject *object)
{
  NatterRedisConnection *self = NATTER_REDIS_CONNECTION (object);

  self->started = FALSE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  if (self->context != NULL)
    natter_redis_connection_drop (self, "closed by its owner");
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  g_clear_handle_id (&self->ping_id, g_source_remove);

  G_OBJECT_CLASS (natter_redis_connection_parent_class)->dispose (object);
}

static void
natter_redis_connection_finalize (GObject *object)
{
  NatterRedisConnection *self = NATTER_REDIS_CONNECTION (object);

  g_free (self->host);
  g_free (self->name);

  G_OBJECT_CLASS (natter_redis_connection_parent_class)->finalize (object);
}

static void
natter_redis_connection_class_init (NatterRedisConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_redis_connection_get_property;
  object_class->dispose = natter_redis_connection_dispose;
  object_class->finalize = natter_redis_connection_finalize;

  /* hiredis writes with write(2), not send(MSG_NOSIGNAL): a Redis that
   * goes away between poll and write would end the whole server. */
  signal (SIGPIPE, SIG_IGN);

  /**
   * NatterRedisConnection:state:
   *
   * A #NatterRedisConnectionState: ready once Redis answered a PING.
   */
  properties[PROP_STATE] =
    g_param_spec_int ("state", NULL, NULL, NATTER_REDIS_CONNECTION_DISCONNECTED,
                      NATTER_REDIS_CONNECTION_READY, NATTER_REDIS_CONNECTION_DISCONNECTED,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterRedisConnection::message:
   * @channel: the channel
   * @payload: what was published
   *
   * A message on a subscribed channel.
   */
  signals[SIGNAL_MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BYTES);
  /**
   * NatterRedisConnection::subscribed:
   * @channel: the channel
   *
   * Redis confirmed a subscription: messages published from now on arrive.
   */
  signals[SIGNAL_SUBSCRIBED] =
    g_signal_new ("subscribed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
natter_redis_connection_init (NatterRedisConnection *self)
{
  self->ping_interval_ms = DEFAULT_PING_INTERVAL_MS;
  self->timeout_ms = DEFAULT_TIMEOUT_MS;
  self->backoff_min_ms = DEFAULT_BACKOFF_MIN_MS;
  self->backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
}

/**
 * natter_redis_connection_new:
 * @host: the Redis host
 * @port: its port
 * @name: what the log calls this connection
 *
 * Returns: (transfer full): a connection, not connecting yet
 */
NatterRedisConnection *
natter_redis_connection_new (const char *host, guint port, const char *name)
{
  NatterRedisConnection *self;

  g_return_val_if_fail (host != NULL, NULL);

  self = g_object_new (NATTER_TYPE_REDIS_CONNECTION, NULL);
  self->host = g_strdup (host);
  self->port = port;
  self->name = g_strdup (name != NULL ? name : "redis");

  return self;
}

/**
 * natter_redis_connection_set_watchdog:
 * @self: a connection
 * @ping_interval_ms: time between PINGs once ready; 0: none (a subscriber)
 * @timeout_ms: how long connecting or a PING may take before the
 *   connection is dropped and made again
 */
void
natter_redis_connection_set_watchdog (NatterRedisConnection *self,
                                      guint ping_interval_ms,
                                      guint timeout_ms)
{
  g_return_if_fail (NATTER_IS_REDIS_CONNECTION (self));
  g_return_if_fail (timeout_ms > 0);

  self->ping_interval_ms = ping_interval_ms;
  self->timeout_ms = timeout_ms;
}

/**
 * natter_redis_connection_set_backoff:
 * @self: a connection
 * @min_ms: the first wait before reconnecting
 * @max_ms: the longest wait; each failed attempt doubles the wait up to it
 */
void
natter_redis_connection_set_backoff (NatterRedisConnection *self, guint min_ms, guint max_ms)
{
  g_return_if_fail (NATTER_IS_REDIS_CONNECTION (self));
  g_return_if_fail (min_ms > 0 && min_ms <= max_ms);

  self->backoff_min_ms = min_ms;
  self->backoff_max_ms = max_ms;
}

/**
 * natter_redis_connection_start:
 * @self: a connection
 *
 * Connects, and keeps reconnecting until disposed.
 */
void
natter_redis_connection_start (NatterRedisConnection *self)
{
  g_return_if_fail (NATTER_IS_REDIS_CONNECTION (self));

  if (self->started)
    return;
  self->started = TRUE;
  connect_now (self);
}

NatterRedisConnectionState
natter_redis_connection_get_state (NatterRedisConnection *self)
{
  g_return_val_if_fail (NATTER_IS_REDIS_CONNECTION (self), NATTER_REDIS_CONNECTION_DISCONNECTED);

  return self->state;
}

/**
 * natter_redis_connection_command:
 * @self: a ready connection
 * @func: (nullable): called with the reply, or with %NULL if the connection
 *   is lost, dropped or disposed first
 * @user_data: for @func
 * @argc: the number of arguments
 * @argv: (array length=argc): the command and its arguments
 * @argv_lengths: (array length=argc): their lengths (binary safe)
 *
 * Replies come in order, so a blocking command (BLPOP…) holds up the PING
 * behind it and the watchdog drops the connection: use none.
 *
 * Returns: %FALSE when the connection is not ready (@func is not called)
 */
gboolean
natter_redis_connection_command (NatterRedisConnection *self,
                                 NatterRedisReplyFunc func,
                                 gpointer user_data,
                                 int argc,
                                 const char **argv,
                                 const size_t *argv_lengths)
{
  PendingCommand *pending = NULL;

  g_return_val_if_fail (NATTER_IS_REDIS_CONNECTION (self), FALSE);
  g_return_val_if_fail (argc > 0, FALSE);

  if (self->state != NATTER_REDIS_CONNECTION_READY || self->context == NULL)
    return FALSE;

  if (func != NULL) {
    pending = g_new0 (PendingCommand, 1);
    pending->func = func;
    pending->user_data = user_data;
    pending->connection = self;
  }
  if (redisAsyncCommandArgv (self->context, func != NULL ? on_command_reply : NULL, pending, argc,
                             argv, argv_lengths) != REDIS_OK) {
    g_free (pending);
    return FALSE;
  }

  return TRUE;
}

static gboolean
subscription_command (NatterRedisConnection *self, const char *command, const char *channel)
{
  const char *argv[] = { command, channel };
  size_t argv_lengths[] = { strlen (command), strlen (channel) };

  if (self->state != NATTER_REDIS_CONNECTION_READY || self->context == NULL)
    return FALSE;

  /* From now on Redis answers PING with a message hiredis 0.14 drops. */
  self->subscriber = TRUE;
  g_clear_handle_id (&self->ping_id, g_source_remove);

  return redisAsyncCommandArgv (self->context, on_subscription_reply, NULL, 2, argv,
                                argv_lengths) == REDIS_OK;
}

/**
 * natter_redis_connection_subscribe:
 * @self: a ready connection, which becomes a subscriber: it sends no PING
 *   from now on until it reconnects
 * @channel: the channel
 *
 * #NatterRedisConnection::subscribed follows once Redis confirms it, then
 * #NatterRedisConnection::message for each message. A reconnected
 * connection has no subscriptions: its owner subscribes again.
 *
 * Returns: %FALSE when the connection is not ready
 */
gboolean
natter_redis_connection_subscribe (NatterRedisConnection *self, const char *channel)
{
  g_return_val_if_fail (NATTER_IS_REDIS_CONNECTION (self), FALSE);
  g_return_val_if_fail (channel != NULL, FALSE);

  return subscription_command (self, "SUBSCRIBE", channel);
}

/**
 * natter_redis_connection_unsubscribe:
 * @self: a ready connection
 * @channel: a subscribed channel
 *
 * Messages already on their way may still arrive.
 *
 * Returns: %FALSE when the connection is not ready
 */
gboolean
natter_redis_connection_unsubscribe (NatterRedisConnection *self, const char *channel)
{
  g_return_val_if_fail (NATTER_IS_REDIS_CONNECTION (self), FALSE);
  g_return_val_if_fail (channel != NULL, FALSE);

  return subscription_command (self, "UNSUBSCRIBE", channel);
}

/**
 * natter_redis_connection_drop:
 * @self: a connection
 * @reason: for the log
 *
 * Closes the connection now (pending commands get a %NULL reply) and, unless
 * disposed, connects again after the backoff: for a watchdog that found it
 * stalled.
 */
void
natter_redis_connection_drop (NatterRedisConnection *self, const char *reason)
{
  redisAsyncContext *context;

  g_return_if_fail (NATTER_IS_REDIS_CONNECTION (self));

  context = g_steal_pointer (&self->context);
  if (context != NULL) {
    /* Our callbacks see no owner and leave the rest to us. */
    context->data = NULL;
    redisAsyncFree (context);
  }
  connection_lost (self, reason);
}
