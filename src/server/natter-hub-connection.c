/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-hub-connection"

#include "natter-hub-connection.h"

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "natter-hub-testing.h"
#include "natter-token-bucket.h"

#include <string.h>

enum { SIGNAL_FRAME_RECEIVED, SIGNAL_CLOSED, N_SIGNALS };

static guint signals[N_SIGNALS];

/* Linux's longest delayed ACK (TCP_DELACK_MAX). */
#define DELAYED_ACK_US (200 * 1000)
/* How often the watchdog reads TCP_INFO of a connection with nothing
 * waiting, to rebase the count of acknowledged bytes. */
#define ACKED_REFRESH_US (600 * G_USEC_PER_SEC)

static void mark_closed (NatterHubConnection *self, gushort code);

struct _NatterHubConnection {
  GObject parent_instance;

  /* NULL for a connection made for testing, whose frames go to outbox. */
  NatterWsTransport *transport;
  GPtrArray *outbox;
  /* A stand-in for a connection on another node: what is sent goes there. */
  NatterHubConnectionRelayFunc relay;
  gpointer relay_data;
  GDestroyNotify relay_destroy;
  NatterProfile *profile;
  char *profile_key;
  gint64 user_id;
  gint64 token_id;
  NatterMetrics *metrics;

  NatterTokenBucket *frame_bucket;
  NatterTokenBucket *chat_bucket;
  /* conversation_id -> NatterTokenBucket for typing frames */
  GHashTable *typing_buckets;
  double typing_rate_per_s;

  /* Slow readers. The bytes handed to the transport are counted here and compared with
   * what the peer's TCP stack acknowledged (TCP_INFO): the difference is
   * what waits, in the transport's queue or the kernel's. acked_base rebases the
   * count whenever it runs ahead (pings, pongs, TLS records we do not see). */
  GSocket *socket;
  guint64 bytes_sent;
  guint64 bytes_acked; /* as last read, minus acked_base */
  guint64 acked_base;
  /* When TCP_INFO was last read: the watchdog reads it again only for a
   * connection with bytes waiting, or after ACKED_REFRESH_US. */
  gint64 acked_refreshed_us;
  gsize max_outgoing_bytes;
  guint force_close_id;
  /* bytes_sent when the last replay began and ended: a replay the peer
   * has not taken yet is allowed on top of the limit (it has a limit of its
   * own), and no second sync is served before the peer took it. */
  guint64 sync_start_mark;
  guint64 sync_end_mark;

  /* The hub's one watchdog timer compares against the last sign of life:
   * no timer per connection, nothing re-armed on every frame. */
  gint64 last_activity_us;
  gint64 dead_after_us;
  gsize max_frame_bytes;

  /* While hello is read from the store: what is sent meanwhile (type and
   * text, in pairs) waits to follow it. */
  GPtrArray *held_output;

  gboolean closed;
};

G_DEFINE_FINAL_TYPE (NatterHubConnection, natter_hub_connection, G_TYPE_OBJECT)

char *
natter_hub_profile_key (gint64 profile_id, const char *profile_type)
{
  return g_strdup_printf ("%s/%" G_GINT64_FORMAT, profile_type, profile_id);
}

static void
count_error (NatterHubConnection *self, NatterProtocolError code)
{
  if (self->metrics != NULL)
    natter_metrics_inc (self->metrics, "natter_errors_total", "code",
                        natter_protocol_error_to_code (code));
}

static void
send_error_for (NatterHubConnection *self, const GError *error, const char *ref)
{
  g_autoptr (NatterFrame) frame = natter_frame_new_error (error, ref);

  count_error (self, (NatterProtocolError) error->code);
  natter_hub_connection_send_frame (self, frame);
}

/* One frame from the network: rate limits, parsing, then ::frame-received. */
static void
receive_frame (NatterHubConnection *self,
               SoupWebsocketDataType data_type,
               const char *data,
               gsize length)
{
  g_autoptr (NatterFrame) frame = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *ref = NULL;
  gint64 now_us = g_get_monotonic_time ();

  /* Frames do not count as a sign of life: a client that writes but never
   * reads would otherwise stay forever. Only pongs do. */
  if (self->closed)
    return;

  if (!natter_token_bucket_take (self->frame_bucket, now_us)) {
    if (self->metrics != NULL)
      natter_metrics_inc (self->metrics, "natter_frames_in_total", "type", "rate_limited");
    natter_hub_connection_send_error (self, NATTER_PROTOCOL_ERROR_RATE_LIMITED,
                                      "too many frames, slow down", NULL);
    return;
  }

  if (data_type != SOUP_WEBSOCKET_DATA_TEXT) {
    if (self->metrics != NULL)
      natter_metrics_inc (self->metrics, "natter_frames_in_total", "type", "invalid");
    natter_hub_connection_send_error (self, NATTER_PROTOCOL_ERROR_BAD_FRAME,
                                      "frames are UTF-8 text", NULL);
    return;
  }

  frame = natter_frame_parse (data, length, NATTER_DIRECTION_TO_SERVER, &ref, &error);
  if (frame == NULL) {
    if (self->metrics != NULL)
      natter_metrics_inc (self->metrics, "natter_frames_in_total", "type", "invalid");

    if (g_error_matches (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_FRAME_TOO_LARGE)) {
      natter_hub_connection_close (self, SOUP_WEBSOCKET_CLOSE_TOO_BIG, "frame too large");
      return;
    }

    if (error->domain != NATTER_PROTOCOL_ERROR) {
      g_autoptr (GError) internal = g_error_new_literal (
        NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME, error->message);
      send_error_for (self, internal, ref);
      return;
    }

    send_error_for (self, error, ref);
    return;
  }

  if (self->metrics != NULL)
    natter_metrics_inc (self->metrics, "natter_frames_in_total", "type",
                        natter_frame_type_to_string (frame->type));

  if (frame->type == NATTER_FRAME_CHAT_MESSAGE &&
      !natter_token_bucket_take (self->chat_bucket, now_us)) {
    natter_hub_connection_send_error (self, NATTER_PROTOCOL_ERROR_RATE_LIMITED,
                                      "too many chat messages, slow down", frame->client_msg_id);
    return;
  }

  g_signal_emit (self, signals[SIGNAL_FRAME_RECEIVED], 0, frame);
}

static void
on_transport_message (gpointer user_data, gboolean text, const guint8 *data, gsize length)
{
  NatterHubConnection *self = user_data;

  receive_frame (self, text ? SOUP_WEBSOCKET_DATA_TEXT : SOUP_WEBSOCKET_DATA_BINARY,
                 (const char *) data, length);
}

/* The bytes a frame takes on the wire (server frames are not masked). */
static guint64
wire_size (gsize payload)
{
  return payload + (payload < 126 ? 2 : payload < 65536 ? 4 : 10);
}

/* Reads how much the peer acknowledged; FALSE when the socket cannot say
 * (not TCP, already closed), and then nothing is counted as waiting. */
static gboolean
refresh_acked (NatterHubConnection *self)
{
  struct tcp_info info = { 0 };
  socklen_t length = sizeof info;
  guint64 raw;

  if (self->socket == NULL || g_socket_is_closed (self->socket))
    return FALSE;
  if (getsockopt (g_socket_get_fd (self->socket), IPPROTO_TCP, TCP_INFO, &info, &length) != 0 ||
      length < G_STRUCT_OFFSET (struct tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked)
    return FALSE;

  self->acked_refreshed_us = g_get_monotonic_time ();
  raw = info.tcpi_bytes_acked;
  if (raw < self->acked_base)
    self->acked_base = raw;
  if (raw - self->acked_base > self->bytes_sent)
    self->acked_base = raw - self->bytes_sent;
  self->bytes_acked = raw - self->acked_base;

  return TRUE;
}

static guint64
get_waiting_bytes (NatterHubConnection *self)
{
  return self->bytes_sent - MIN (self->bytes_acked, self->bytes_sent);
}

static gboolean
on_force_close (gpointer user_data)
{
  NatterHubConnection *self = user_data;
  /* Aborting tells ::closed at once, and the hub may drop the last ref. */
  g_autoptr (NatterHubConnection) hold = g_object_ref (self);

  self->force_close_id = 0;
  g_debug ("connection of %s did not take its close frame, closing", self->profile_key);
  if (self->transport != NULL)
    natter_ws_transport_abort (self->transport);
  mark_closed (self, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
  return G_SOURCE_REMOVE;
}

/* More than the limit waits for a peer that does not read: close with
 * 1008. The close frame waits behind the queue the peer does not read, so
 * the socket itself is closed soon after, which frees the queue. */
static guint64
get_allowed_bytes (NatterHubConnection *self)
{
  guint64 allowed = self->max_outgoing_bytes;

  if (self->sync_end_mark == G_MAXUINT64)
    return G_MAXUINT64;
  if (self->bytes_acked < self->sync_end_mark)
    allowed += self->sync_end_mark - self->sync_start_mark;
  return allowed;
}

static gboolean
check_outgoing_queue (NatterHubConnection *self)
{
  if (get_waiting_bytes (self) <= get_allowed_bytes (self))
    return TRUE;
  if (refresh_acked (self) && get_waiting_bytes (self) <= get_allowed_bytes (self))
    return TRUE;
  if (self->socket == NULL)
    return TRUE;

  g_debug ("connection of %s does not read (%" G_GUINT64_FORMAT " bytes waiting), closing",
           self->profile_key, get_waiting_bytes (self));
  natter_hub_connection_close_slow_reader (self, "too much data waiting, read faster");
  return FALSE;
}

static void
on_transport_pong (gpointer user_data)
{
  NatterHubConnection *self = user_data;

  self->last_activity_us = g_get_monotonic_time ();
}

static void
mark_closed (NatterHubConnection *self, gushort code)
{
  if (self->closed)
    return;

  self->closed = TRUE;
  g_debug ("connection of %s closed (%u)", self->profile_key, code);

  g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
}

static void
on_transport_closed (gpointer user_data, gushort code)
{
  NatterHubConnection *self = user_data;
  g_autoptr (NatterHubConnection) hold = g_object_ref (self);

  mark_closed (self, code);
}

static const NatterWsTransportHandlers transport_handlers = {
  .message = on_transport_message,
  .pong = on_transport_pong,
  .closed = on_transport_closed,
};

static void
natter_hub_connection_dispose (GObject *object)
{
  NatterHubConnection *self = (NatterHubConnection *) object;

  if (self->transport != NULL) {
    natter_ws_transport_set_handlers (self->transport, NULL, NULL);
    /* The poller keeps the transport until its close handshake ends. */
    natter_ws_transport_close (self->transport, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
  }
  g_clear_object (&self->transport);
  g_clear_object (&self->socket);
  g_clear_object (&self->metrics);
  g_clear_handle_id (&self->force_close_id, g_source_remove);

  G_OBJECT_CLASS (natter_hub_connection_parent_class)->dispose (object);
}

static void
natter_hub_connection_finalize (GObject *object)
{
  NatterHubConnection *self = (NatterHubConnection *) object;

  g_clear_pointer (&self->outbox, g_ptr_array_unref);
  if (self->relay_destroy != NULL)
    g_clear_pointer (&self->relay_data, self->relay_destroy);
  g_clear_pointer (&self->held_output, g_ptr_array_unref);
  g_clear_pointer (&self->profile, natter_profile_free);
  g_clear_pointer (&self->profile_key, g_free);
  g_clear_pointer (&self->frame_bucket, natter_token_bucket_free);
  g_clear_pointer (&self->chat_bucket, natter_token_bucket_free);
  g_clear_pointer (&self->typing_buckets, g_hash_table_unref);

  G_OBJECT_CLASS (natter_hub_connection_parent_class)->finalize (object);
}

static void
natter_hub_connection_class_init (NatterHubConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_hub_connection_dispose;
  object_class->finalize = natter_hub_connection_finalize;

  /**
   * NatterHubConnection::frame-received:
   * @self: the connection
   * @frame: the parsed, validated and rate-limited frame
   */
  signals[SIGNAL_FRAME_RECEIVED] =
    g_signal_new ("frame-received", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, NATTER_TYPE_FRAME | G_SIGNAL_TYPE_STATIC_SCOPE);

  /**
   * NatterHubConnection::closed:
   * @self: the connection
   *
   * The WebSocket is closed; emitted once.
   */
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
natter_hub_connection_init (NatterHubConnection *self)
{
  self->last_activity_us = g_get_monotonic_time ();
}

static NatterHubConnection *
connection_new (const NatterProfile *profile,
                gint64 user_id,
                gint64 token_id,
                const NatterServerConfig *config,
                NatterMetrics *metrics)
{
  NatterHubConnection *self;
  guint dead_after_s;

  self = g_object_new (NATTER_TYPE_HUB_CONNECTION, NULL);
  self->profile = natter_profile_copy (profile);
  self->profile_key = natter_hub_profile_key (profile->profile_id, profile->profile_type);
  self->user_id = user_id;
  self->token_id = token_id;
  self->metrics = metrics != NULL ? g_object_ref (metrics) : NULL;

  self->frame_bucket = natter_token_bucket_new (
    config->frame_rate_per_s > 0 ? config->frame_rate_per_s : NATTER_FRAME_RATE_PER_S,
    config->frame_burst > 0 ? config->frame_burst : NATTER_FRAME_BURST);
  self->chat_bucket = natter_token_bucket_new (
    config->chat_rate_per_s > 0 ? config->chat_rate_per_s : NATTER_CHAT_RATE_PER_S,
    config->chat_burst > 0 ? config->chat_burst : NATTER_CHAT_BURST);

  self->typing_buckets = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                                (GDestroyNotify) natter_token_bucket_free);
  self->typing_rate_per_s =
    config->typing_rate_per_s > 0 ? config->typing_rate_per_s : NATTER_TYPING_RATE_PER_S;
  self->max_outgoing_bytes =
    config->max_outgoing_bytes > 0 ? config->max_outgoing_bytes : NATTER_MAX_OUTGOING_BYTES;

  self->max_frame_bytes =
    config->max_frame_bytes > 0 ? config->max_frame_bytes : NATTER_MAX_FRAME_BYTES;
  dead_after_s = config->dead_after_s > 0 ? config->dead_after_s : NATTER_DEAD_AFTER_S;
  self->dead_after_us = (gint64) dead_after_s * G_USEC_PER_SEC;

  return self;
}

/**
 * natter_hub_connection_new:
 * @transport: the accepted WebSocket, limits and keepalive already set
 * @profile: the full profile the connection speaks as
 * @user_id: the owner of @profile
 * @token_id: the token that opened the connection
 * @config: limits and heartbeat timing
 * @metrics: (nullable): where frames and errors are counted
 *
 * Returns: (transfer full): a new connection, watching @transport
 */
NatterHubConnection *
natter_hub_connection_new (NatterWsTransport *transport,
                           const NatterProfile *profile,
                           gint64 user_id,
                           gint64 token_id,
                           const NatterServerConfig *config,
                           NatterMetrics *metrics)
{
  NatterHubConnection *self;

  g_return_val_if_fail (NATTER_IS_WS_TRANSPORT (transport), NULL);
  g_return_val_if_fail (profile != NULL, NULL);
  g_return_val_if_fail (config != NULL, NULL);

  self = connection_new (profile, user_id, token_id, config, metrics);
  self->transport = g_object_ref (transport);
  natter_ws_transport_set_handlers (transport, &transport_handlers, self);
  if (natter_ws_transport_is_closed (transport))
    mark_closed (self, natter_ws_transport_get_close_code (transport));

  return self;
}

/**
 * natter_hub_connection_new_for_testing:
 * @profile: the full profile the connection speaks as
 * @user_id: the owner of @profile
 * @token_id: a token id
 * @config: limits
 * @metrics: (nullable): where frames and errors are counted
 *
 * A connection without a WebSocket, for the fuzzer: frames come in through
 * natter_hub_connection_receive_for_testing () and what it would send is
 * kept in natter_hub_connection_get_outbox_for_testing ().
 *
 * Returns: (transfer full): a new connection
 */
NatterHubConnection *
natter_hub_connection_new_for_testing (const NatterProfile *profile,
                                       gint64 user_id,
                                       gint64 token_id,
                                       const NatterServerConfig *config,
                                       NatterMetrics *metrics)
{
  NatterHubConnection *self;

  g_return_val_if_fail (profile != NULL, NULL);
  g_return_val_if_fail (config != NULL, NULL);

  self = connection_new (profile, user_id, token_id, config, metrics);
  self->outbox = g_ptr_array_new_with_free_func (g_free);

  return self;
}

/**
 * natter_hub_connection_receive_for_testing:
 * @self: a connection from natter_hub_connection_new_for_testing ()
 * @data: the bytes of one text frame, as they came from the network
 * @length: their length
 *
 * Handles @data as a WebSocket text message, with every check a real one
 * gets: size, rate limits, parsing.
 */
void
natter_hub_connection_receive_for_testing (NatterHubConnection *self,
                                           const char *data,
                                           gsize length)
{
  g_return_if_fail (NATTER_IS_HUB_CONNECTION (self));
  g_return_if_fail (self->transport == NULL);
  g_return_if_fail (data != NULL || length == 0);

  if (self->closed)
    return;

  /* The transport closes with 1009 before a message over the limit is read. */
  if (length > self->max_frame_bytes) {
    natter_hub_connection_close (self, SOUP_WEBSOCKET_CLOSE_TOO_BIG, "frame too large");
    return;
  }

  receive_frame (self, SOUP_WEBSOCKET_DATA_TEXT, data != NULL ? data : "", length);
}

/**
 * natter_hub_connection_new_relay:
 * @profile: the profile of the connection it stands for
 * @config: the server's configuration
 * @metrics: (nullable): where frames are counted
 * @relay: called with every frame sent to it
 * @relay_data: for @relay, freed with @relay_destroy
 * @relay_destroy: (nullable): frees @relay_data
 *
 * A connection with no WebSocket that stands for one on another node
 * (natter-hub-remote-calls.c): the call signalling binds to it as to any
 * connection, and what it is sent travels on to the real one.
 *
 * Returns: (transfer full): a new connection
 */
NatterHubConnection *
natter_hub_connection_new_relay (const NatterProfile *profile,
                                 const NatterServerConfig *config,
                                 NatterMetrics *metrics,
                                 NatterHubConnectionRelayFunc relay,
                                 gpointer relay_data,
                                 GDestroyNotify relay_destroy)
{
  NatterHubConnection *self;

  g_return_val_if_fail (profile != NULL, NULL);
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (relay != NULL, NULL);

  self = connection_new (profile, 0, 0, config, metrics);
  self->relay = relay;
  self->relay_data = relay_data;
  self->relay_destroy = relay_destroy;

  return self;
}

/**
 * natter_hub_connection_get_outbox_for_testing:
 * @self: a connection from natter_hub_connection_new_for_testing ()
 *
 * Returns: (transfer none) (element-type utf8): the frames sent so far, in
 *   order; the caller may empty it
 */
GPtrArray *
natter_hub_connection_get_outbox_for_testing (NatterHubConnection *self)
{
  g_return_val_if_fail (NATTER_IS_HUB_CONNECTION (self), NULL);

  return self->outbox;
}

/**
 * natter_hub_connection_check_alive:
 * @self: a connection
 * @now_us: the monotonic time
 *
 * Closes the connection (1001) when nothing, not even a pong, came for
 * longer than the dead-after time.
 *
 * Returns: %FALSE when it was found dead
 */
gboolean
natter_hub_connection_check_alive (NatterHubConnection *self, gint64 now_us)
{
  g_return_val_if_fail (NATTER_IS_HUB_CONNECTION (self), FALSE);

  if (self->closed)
    return TRUE;

  /* Also rebases the count of waiting bytes, and catches a slow reader
   * that is no longer sent anything. A connection with nothing waiting
   * has nothing to catch: its TCP_INFO is read only now and then, to
   * rebase (the bytes we do not count, pings and pongs, are a few a
   * minute). */
  if (get_waiting_bytes (self) > 0 || now_us - self->acked_refreshed_us >= ACKED_REFRESH_US)
    refresh_acked (self);
  if (!check_outgoing_queue (self))
    return FALSE;

  if (now_us - self->last_activity_us < self->dead_after_us)
    return TRUE;

  g_debug ("connection of %s silent for too long, closing", self->profile_key);
  natter_hub_connection_close (self, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "no heartbeat");
  return FALSE;
}

/**
 * natter_hub_connection_needs_check:
 * @self: a connection
 * @now_us: the monotonic time
 *
 * Whether natter_hub_connection_check_alive () may have anything to do:
 * bytes wait for the peer, the count is due to be rebased, or the
 * connection is silent for longer than the dead-after time. Reads no
 * socket, so that the watchdog can walk 10,000 idle connections cheaply.
 *
 * Returns: %TRUE when the connection must be checked
 */
gboolean
natter_hub_connection_needs_check (NatterHubConnection *self, gint64 now_us)
{
  g_return_val_if_fail (NATTER_IS_HUB_CONNECTION (self), FALSE);

  if (self->closed)
    return FALSE;
  return get_waiting_bytes (self) > 0 || now_us - self->acked_refreshed_us >= ACKED_REFRESH_US ||
         now_us - self->last_activity_us >= self->dead_after_us;
}

const NatterProfile *
natter_hub_connection_get_profile (NatterHubConnection *self)
{
  g_return_val_if_fail (NATTER_IS_HUB_CONNECTION (self), NULL);

  return self->profile;
}

const char *
natter_hub_connection_get_profile_key (NatterHubConnection *self)
{
  g_return_val_if_fail (NATTER_IS_HUB_CONNECTION (self), NULL);

  return self->profile_key;
}

gint64
natter_hub_connection_get_user_id (NatterHubConnection *self)
{
  g_return_val_if_fail (NATTER_IS_HUB_CONNECTION (self), 0);

  return self->user_id;
}

gint64
natter_hub_connection_get_token_id (NatterHubConnection *self)
{
  g_return_val_if_fail (NATTER_IS_HUB_CONNECTION (self), 0);

  return self->token_id;
}

/**
 * natter_hub_connection_is_open:
 * @self: a connection
 *
 * Returns: %TRUE while frames can still be sent
 */
gboolean
natter_hub_connection_is_open (NatterHubConnection *self)
{
  g_return_val_if_fail (NATTER_IS_HUB_CONNECTION (self), FALSE);

  if (self->transport == NULL)
    return !self->closed;

  return !self->closed && natter_ws_transport_is_open (self->transport);
}

/**
 * natter_hub_connection_send_text:
 * @self: a connection
 * @type: the frame's type, for the metrics
 * @text: the serialized frame
 *
 * Queues @text; the transport writes it at the end of the poller's pass.
 */
void
natter_hub_connection_send_text (NatterHubConnection *self, const char *type, const char *text)
{
  gsize length;

  g_return_if_fail (NATTER_IS_HUB_CONNECTION (self));
  g_return_if_fail (text != NULL);

  if (!natter_hub_connection_is_open (self))
    return;

  if (self->held_output != NULL) {
    g_ptr_array_add (self->held_output, g_strdup (type));
    g_ptr_array_add (self->held_output, g_strdup (text));
    return;
  }

  length = strlen (text);
  if (self->transport != NULL)
    natter_ws_transport_send_text (self->transport, text, length);
  else if (self->relay != NULL)
    self->relay (self, type, text, self->relay_data);
  else
    g_ptr_array_add (self->outbox, g_strdup (text));
  self->bytes_sent += wire_size (length);
  if (self->metrics != NULL)
    natter_metrics_inc (self->metrics, "natter_frames_out_total", "type", type);

  check_outgoing_queue (self);
}

/**
 * natter_hub_connection_hold_output:
 * @self: a connection
 *
 * Keeps what is sent from now on until natter_hub_connection_release_output
 * (): the hub registers a connection at once, so that no event delivered
 * while its hello is read from the store is lost, and sends hello first.
 */
void
natter_hub_connection_hold_output (NatterHubConnection *self)
{
  g_return_if_fail (NATTER_IS_HUB_CONNECTION (self));

  if (self->held_output == NULL)
    self->held_output = g_ptr_array_new_with_free_func (g_free);
}

/**
 * natter_hub_connection_release_output:
 * @self: a connection
 * @type: the first frame's type
 * @text: the first frame, sent before what was held
 * @drop_type: (nullable): a type whose held frames are dropped (presence:
 *   the greeting that follows hello tells the state as it is now)
 */
void
natter_hub_connection_release_output (NatterHubConnection *self,
                                      const char *type,
                                      const char *text,
                                      const char *drop_type)
{
  g_autoptr (GPtrArray) held = NULL;

  g_return_if_fail (NATTER_IS_HUB_CONNECTION (self));

  held = g_steal_pointer (&self->held_output);
  natter_hub_connection_send_text (self, type, text);
  for (guint i = 0; held != NULL && i + 1 < held->len; i += 2) {
    if (g_strcmp0 (g_ptr_array_index (held, i), drop_type) != 0)
      natter_hub_connection_send_text (self, g_ptr_array_index (held, i),
                                       g_ptr_array_index (held, i + 1));
  }
}

/**
 * natter_hub_connection_set_socket:
 * @self: a connection
 * @socket: the TCP socket under its WebSocket
 *
 * Lets the connection see how much of what it sent the peer has taken, for
 * the limit on waiting bytes and for one sync at a time.
 */
void
natter_hub_connection_set_socket (NatterHubConnection *self, GSocket *socket)
{
  g_return_if_fail (NATTER_IS_HUB_CONNECTION (self));
  g_return_if_fail (socket == NULL || G_IS_SOCKET (socket));

  g_set_object (&self->socket, socket);
  self->acked_base = 0;
  self->bytes_acked = 0;
  if (refresh_acked (self)) {
    /* What was acknowledged so far was the HTTP handshake. */
    self->acked_base += self->bytes_acked;
    self->bytes_acked = 0;
  }
}

/**
 * natter_hub_connection_close_slow_reader:
 * @self: a connection
 * @reason: the close reason
 *
 * Closes (1008) a connection that does not read what it is sent. The close
 * frame waits behind what the peer does not read, so the socket itself is
 * closed a second later, which frees the queue.
 */
void
natter_hub_connection_close_slow_reader (NatterHubConnection *self, const char *reason)
{
  g_return_if_fail (NATTER_IS_HUB_CONNECTION (self));

  if (self->metrics != NULL)
    natter_metrics_inc (self->metrics, "natter_errors_total", "code", "slow_reader");
  natter_hub_connection_close (self, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, reason);
  if (self->transport != NULL && self->force_close_id == 0)
    self->force_close_id = g_timeout_add (1000, on_force_close, self);
}

/**
 * natter_hub_connection_begin_replay:
 * @self: a connection
 *
 * A sync's replay is about to be queued.
 */
void
natter_hub_connection_begin_replay (NatterHubConnection *self)
{
  g_return_if_fail (NATTER_IS_HUB_CONNECTION (self));

  self->sync_start_mark = self->bytes_sent;
  /* Until it ends, the whole replay is allowed. */
  self->sync_end_mark = G_MAXUINT64;
}

/**
 * natter_hub_connection_end_replay:
 * @self: a connection
 *
 * The replay of a sync has just been queued (sync_done included).
 */
void
natter_hub_connection_end_replay (NatterHubConnection *self)
{
  g_return_if_fail (NATTER_IS_HUB_CONNECTION (self));

  self->sync_end_mark = self->bytes_sent;
}

/**
 * natter_hub_connection_is_replaying:
 * @self: a connection
 *
 * Returns: %TRUE while the last replay still waits for the peer to take it
 */
gboolean
natter_hub_connection_is_replaying (NatterHubConnection *self)
{
  g_return_val_if_fail (NATTER_IS_HUB_CONNECTION (self), FALSE);

  if (self->bytes_acked >= self->sync_end_mark)
    return FALSE;
  /* The replay may still wait in this pass's queue, where the peer cannot
   * have taken it: hand it to the kernel before asking what it took. */
  if (self->transport != NULL)
    natter_ws_transport_flush_now (self->transport);
  if (!refresh_acked (self))
    return FALSE;
  if (self->bytes_acked >= self->sync_end_mark)
    return FALSE;
  /* All of it just went out on the wire, none waits for the peer's
   * window: the peer's TCP has it and may only be delaying its ACK (up to
   * TCP_DELACK_MAX), e.g. for syncs that were already on their way. */
  if (self->transport != NULL) {
    gint64 drained_us = natter_ws_transport_get_drained_time (self->transport);
    int unsent = 0;

    if (drained_us > 0 && g_get_monotonic_time () - drained_us < DELAYED_ACK_US &&
        ioctl (g_socket_get_fd (self->socket), SIOCOUTQNSD, &unsent) == 0 && unsent == 0)
      return FALSE;
  }
  return TRUE;
}

/**
 * natter_hub_connection_take_typing:
 * @self: a connection
 * @conversation_id: the conversation typed in
 *
 * Returns: %FALSE when the typing frame is over the rate and is dropped
 */
gboolean
natter_hub_connection_take_typing (NatterHubConnection *self, gint64 conversation_id)
{
  NatterTokenBucket *bucket;

  g_return_val_if_fail (NATTER_IS_HUB_CONNECTION (self), FALSE);

  bucket = g_hash_table_lookup (self->typing_buckets, &conversation_id);
  if (bucket == NULL) {
    /* Bounded by the conversations one connection types in; forgetting all
     * only hands out one more burst. */
    if (g_hash_table_size (self->typing_buckets) >= 1024)
      g_hash_table_remove_all (self->typing_buckets);
    bucket = natter_token_bucket_new (self->typing_rate_per_s, MAX (1.0, self->typing_rate_per_s));
    g_hash_table_insert (self->typing_buckets, g_memdup2 (&conversation_id, sizeof conversation_id),
                         bucket);
  }

  return natter_token_bucket_take (bucket, g_get_monotonic_time ());
}

/**
 * natter_hub_connection_send_frame:
 * @self: a connection
 * @frame: the frame to serialize and send
 */
void
natter_hub_connection_send_frame (NatterHubConnection *self, const NatterFrame *frame)
{
  g_autofree char *text = NULL;

  g_return_if_fail (NATTER_IS_HUB_CONNECTION (self));
  g_return_if_fail (frame != NULL);

  if (!natter_hub_connection_is_open (self))
    return;

  text = natter_frame_to_json (frame, NULL);
  natter_hub_connection_send_text (self, natter_frame_type_to_string (frame->type), text);
}

/**
 * natter_hub_connection_send_error:
 * @self: a connection
 * @code: the error code
 * @message: a human readable message
 * @ref: (nullable): the client_msg_id or client_call_id concerned
 *
 * Sends an error frame; the connection stays open.
 */
void
natter_hub_connection_send_error (NatterHubConnection *self,
                                  NatterProtocolError code,
                                  const char *message,
                                  const char *ref)
{
  g_autoptr (GError) error = NULL;

  g_return_if_fail (NATTER_IS_HUB_CONNECTION (self));

  error = g_error_new_literal (NATTER_PROTOCOL_ERROR, code, message);
  send_error_for (self, error, ref);
}

/**
 * natter_hub_connection_close:
 * @self: a connection
 * @code: the WebSocket close code
 * @reason: (nullable): the close reason
 *
 * Starts the close handshake; ::closed follows when it is done.
 */
void
natter_hub_connection_close (NatterHubConnection *self, gushort code, const char *reason)
{
  g_return_if_fail (NATTER_IS_HUB_CONNECTION (self));

  /* Without a WebSocket there is no handshake to wait for. */
  if (self->transport == NULL)
    mark_closed (self, code);
  else
    natter_ws_transport_close (self->transport, code, reason);
}
