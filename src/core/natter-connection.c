/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-connection"

#include "config.h"

#include <libsoup/soup.h>

#include "natter-account.h"
#include "natter-backoff.h"
#include "natter-connection.h"
#include "natter-store.h"

/* The application's one WebSocket: connects as the account's active
 * profile, resumes with `sync`, sends the outbox, keeps the link alive and
 * comes back on its own after every drop. Frames go out as the detailed
 * signal `frame::<type>`; nothing else in the client reads JSON. */

#define FIRST_RETRY_MS 1000
#define RETRY_BASE_MS 2000
#define RETRY_MAX_MS 30000
#define NETWORK_RETRY_THROTTLE_US (2 * G_USEC_PER_SEC)
#define RATE_LIMITED_RETRY_MS 1000
#define SYNC_WAIT_MS 10000

enum {
  PROP_0,
  PROP_ACCOUNT,
  PROP_STORE,
  PROP_STATE,
  PROP_LAST_ERROR,
  PROP_KEEPALIVE_INTERVAL,
  PROP_DEAD_AFTER,
  PROP_NETWORK_MONITOR,
  PROP_RETRY_DELAY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum { FRAME, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterConnection {
  GObject parent_instance;

  NatterAccount *account;
  NatterStore *store;
  NatterConnectionState state;
  GError *last_error;
  guint keepalive_interval_s;
  guint dead_after_ms;

  SoupWebsocketConnection *websocket;
  /* Closed by natter_connection_close(), kept until the server answered
   * the close: it has then read every frame sent before. */
  SoupWebsocketConnection *closing_websocket;
  SoupMessage *handshake;
  GCancellable *connect_cancellable;
  NatterBackoff *backoff;
  guint retry_source_id;
  guint retry_delay_ms;
  guint watchdog_source_id;
  gint64 last_activity_us;
  GNetworkMonitor *network_monitor;
  gint64 last_network_retry_us;
  gboolean network_lost; /* the monitor said "no network" since this link opened */

  /* Outbox sending: ids queued in writing order, ids already sent on this
   * link, and a token bucket that keeps us under the server's chat rate. */
  GQueue send_queue;
  GHashTable *sent_ids;
  double chat_rate_per_s;
  double chat_burst;
  double chat_tokens;
  gint64 chat_tokens_at_us;
  guint pump_source_id;
  /* The outbox waits for the sync replay: our own messages that reached the
   * server before the link broke come back in it and leave the outbox
   * without being sent again. */
  gboolean synced;
  guint sync_wait_source_id;
};

G_DEFINE_FINAL_TYPE (NatterConnection, natter_connection, G_TYPE_OBJECT)

G_DEFINE_QUARK (natter - connection - error - quark, natter_connection_error)

G_DEFINE_ENUM_TYPE (NatterConnectionState,
                    natter_connection_state,
                    G_DEFINE_ENUM_VALUE (NATTER_CONNECTION_STATE_DISCONNECTED, "disconnected"),
                    G_DEFINE_ENUM_VALUE (NATTER_CONNECTION_STATE_CONNECTING, "connecting"),
                    G_DEFINE_ENUM_VALUE (NATTER_CONNECTION_STATE_CONNECTED, "connected"),
                    G_DEFINE_ENUM_VALUE (NATTER_CONNECTION_STATE_WAITING_TO_RETRY,
                                         "waiting-to-retry"),
                    G_DEFINE_ENUM_VALUE (NATTER_CONNECTION_STATE_SIGNED_OUT, "signed-out"))

static void connect_now (NatterConnection *self);
static void pump_outbox (NatterConnection *self);

static void
set_state (NatterConnection *self, NatterConnectionState state)
{
  if (self->state == state)
    return;

  g_debug ("State %d -> %d", self->state, state);
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_last_error (NatterConnection *self, GError *error)
{
  if (error == NULL && self->last_error == NULL)
    return;

  if (error != NULL && self->last_error != NULL && error->domain == self->last_error->domain &&
      error->code == self->last_error->code &&
      g_strcmp0 (error->message, self->last_error->message) == 0) {
    g_error_free (error);
    return;
  }

  if (error != NULL)
    g_info ("Connection: %s", error->message);

  g_clear_error (&self->last_error);
  self->last_error = error;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_ERROR]);
}

static double
env_double (const char *name, double fallback)
{
  const char *value = g_getenv (name);
  double parsed;
  char *end = NULL;

  if (value == NULL)
    return fallback;

  parsed = g_ascii_strtod (value, &end);
  if (end == value || parsed <= 0)
    return fallback;

  return parsed;
}

static guint
env_uint (const char *name, guint fallback)
{
  const char *value = g_getenv (name);
  guint64 parsed;

  if (value == NULL || !g_ascii_string_to_unsigned (value, 10, 1, G_MAXINT32, &parsed, NULL))
    return fallback;

  return (guint) parsed;
}

static void
set_retry_delay (NatterConnection *self, guint delay_ms)
{
  if (self->retry_delay_ms == delay_ms)
    return;

  self->retry_delay_ms = delay_ms;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RETRY_DELAY]);
}

static void
cancel_retry (NatterConnection *self)
{
  g_clear_handle_id (&self->retry_source_id, g_source_remove);
  set_retry_delay (self, 0);
}

static void
drop_websocket (NatterConnection *self)
{
  g_clear_handle_id (&self->watchdog_source_id, g_source_remove);
  g_clear_handle_id (&self->pump_source_id, g_source_remove);
  g_clear_handle_id (&self->sync_wait_source_id, g_source_remove);
  self->synced = FALSE;

  if (self->connect_cancellable != NULL) {
    g_cancellable_cancel (self->connect_cancellable);
    g_clear_object (&self->connect_cancellable);
  }
  g_clear_object (&self->handshake);

  if (self->websocket != NULL) {
    SoupWebsocketConnection *websocket = g_steal_pointer (&self->websocket);

    g_signal_handlers_disconnect_by_data (websocket, self);
    if (soup_websocket_connection_get_state (websocket) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close (websocket, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
    g_object_unref (websocket);
  }

  g_queue_clear_full (&self->send_queue, g_free);
  g_hash_table_remove_all (self->sent_ids);
}

static gboolean
on_retry_timeout (gpointer user_data)
{
  NatterConnection *self = user_data;

  self->retry_source_id = 0;
  set_retry_delay (self, 0);
  connect_now (self);

  return G_SOURCE_REMOVE;
}

static void
schedule_retry (NatterConnection *self)
{
  guint delay;

  drop_websocket (self);
  cancel_retry (self);

  delay = natter_backoff_next_delay (self->backoff);
  g_debug ("Retrying in %u ms", delay);
  self->retry_source_id = g_timeout_add (delay, on_retry_timeout, self);
  set_retry_delay (self, delay);
  set_state (self, NATTER_CONNECTION_STATE_WAITING_TO_RETRY);
}

/* A failure retrying cannot fix: keep the error and stay down. */
static void
give_up (NatterConnection *self, NatterConnectionState state, GError *error)
{
  drop_websocket (self);
  cancel_retry (self);
  set_last_error (self, error);
  set_state (self, state);
}

static void
send_sync (NatterConnection *self)
{
  g_autoptr (NatterFrame) frame = natter_frame_new (NATTER_FRAME_SYNC);

  frame->after_event_id = self->store != NULL ? natter_store_get_last_event_id (self->store) : 0;
  natter_connection_send_frame (self, frame);
}

static void
outbox_may_go (NatterConnection *self)
{
  g_clear_handle_id (&self->sync_wait_source_id, g_source_remove);
  self->synced = TRUE;
  natter_connection_flush_outbox (self);
}

static gboolean
on_sync_wait_timeout (gpointer user_data)
{
  NatterConnection *self = user_data;

  /* A server that never ends its replay must not hold the outbox forever:
   * the server drops duplicates by client_msg_id anyway. */
  self->sync_wait_source_id = 0;
  g_debug ("No sync_done after %u ms; sending the outbox", SYNC_WAIT_MS);
  outbox_may_go (self);
  return G_SOURCE_REMOVE;
}

static void
handle_hello (NatterConnection *self, const NatterFrame *frame)
{
  if (frame->protocol != NATTER_PROTOCOL_VERSION) {
    give_up (self, NATTER_CONNECTION_STATE_DISCONNECTED,
             g_error_new (NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_PROTOCOL,
                          "The server speaks protocol %" G_GINT64_FORMAT ", this client %d",
                          frame->protocol, NATTER_PROTOCOL_VERSION));
    return;
  }

  natter_backoff_reset (self->backoff);
  set_last_error (self, NULL);
  set_state (self, NATTER_CONNECTION_STATE_CONNECTED);

  if (self->store != NULL) {
    g_autoptr (GError) error = NULL;

    /* Before the sync: a restored or replaced server history restarts it. */
    if (!natter_store_check_epoch (self->store, frame->server_epoch, frame->last_event_id, &error))
      g_warning ("Cannot check the server's epoch: %s", error->message);
    send_sync (self);
    g_clear_handle_id (&self->sync_wait_source_id, g_source_remove);
    self->sync_wait_source_id = g_timeout_add (SYNC_WAIT_MS, on_sync_wait_timeout, self);
  }
}

static void
handle_error_frame (NatterConnection *self, const NatterFrame *frame)
{
  if (frame->ref == NULL || !g_hash_table_remove (self->sent_ids, frame->ref))
    return;

  /* The server answered for that message: it may be sent again, after a
   * pause when the server was only busy (the client decides about the
   * other errors: a retried failed message goes out again). */
  if (g_strcmp0 (frame->code, "rate_limited") == 0 || g_strcmp0 (frame->code, "internal") == 0) {
    g_clear_handle_id (&self->pump_source_id, g_source_remove);
    self->chat_tokens = 0;
    self->chat_tokens_at_us = g_get_monotonic_time () + RATE_LIMITED_RETRY_MS * 1000;
    natter_connection_flush_outbox (self);
  }
}

static void
on_websocket_message (SoupWebsocketConnection *websocket,
                      SoupWebsocketDataType type,
                      GBytes *message,
                      gpointer user_data)
{
  NatterConnection *self = user_data;
  g_autoptr (NatterFrame) frame = NULL;
  g_autoptr (GError) error = NULL;
  /* A handler may drop the last reference to us during the emission. */
  g_autoptr (GObject) guard G_GNUC_UNUSED = g_object_ref (G_OBJECT (self));
  const char *data;
  gsize length;

  self->last_activity_us = g_get_monotonic_time ();

  if (type != SOUP_WEBSOCKET_DATA_TEXT) {
    set_last_error (self,
                    g_error_new_literal (NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_PROTOCOL,
                                         "The server sent a binary frame"));
    return;
  }

  data = g_bytes_get_data (message, &length);
  frame = natter_frame_parse (data, length, NATTER_DIRECTION_TO_CLIENT, NULL, &error);
  if (frame == NULL) {
    /* One bad frame is the server's bug, not a reason to drop the link. */
    set_last_error (self, g_error_new (NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_PROTOCOL,
                                       "Unreadable frame from the server: %s", error->message));
    return;
  }

  if (frame->type == NATTER_FRAME_HELLO)
    handle_hello (self, frame);
  else if (frame->type == NATTER_FRAME_ERROR)
    handle_error_frame (self, frame);

  g_signal_emit (self, signals[FRAME],
                 g_quark_from_static_string (natter_frame_type_to_string (frame->type)), frame);

  /* After the handlers: the replayed messages have acknowledged what the
   * server already had. */
  if (frame->type == NATTER_FRAME_SYNC_DONE && self->websocket != NULL && !self->synced)
    outbox_may_go (self);
}

static void
on_websocket_pong (SoupWebsocketConnection *websocket, GBytes *message, gpointer user_data)
{
  NatterConnection *self = user_data;

  self->last_activity_us = g_get_monotonic_time ();
}

static void
on_websocket_error (SoupWebsocketConnection *websocket, GError *error, gpointer user_data)
{
  NatterConnection *self = user_data;

  set_last_error (self, g_error_new (NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_NETWORK,
                                     "Connection error: %s", error->message));
}

static void
on_websocket_closed (SoupWebsocketConnection *websocket, gpointer user_data)
{
  NatterConnection *self = user_data;
  gushort code = soup_websocket_connection_get_close_code (websocket);
  const char *reason = soup_websocket_connection_get_close_data (websocket);

  g_debug ("Closed by the server: %u %s", code, reason != NULL ? reason : "");

  if (code == SOUP_WEBSOCKET_CLOSE_TOO_BIG) {
    set_last_error (self, g_error_new (NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_PROTOCOL,
                                       "The server refused a frame as too big"));
  } else if (self->state == NATTER_CONNECTION_STATE_CONNECTED) {
    set_last_error (self, g_error_new (NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_NETWORK,
                                       "The connection closed (%u)", code));
  }

  schedule_retry (self);
}

static gboolean
on_watchdog (gpointer user_data)
{
  NatterConnection *self = user_data;
  gint64 silent_us = g_get_monotonic_time () - self->last_activity_us;

  if (silent_us < (gint64) self->dead_after_ms * 1000)
    return G_SOURCE_CONTINUE;

  self->watchdog_source_id = 0;
  set_last_error (self, g_error_new (NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_NETWORK,
                                     "No answer from the server for %u ms", self->dead_after_ms));
  schedule_retry (self);

  return G_SOURCE_REMOVE;
}

static void
start_watchdog (NatterConnection *self)
{
  guint period = MAX (self->dead_after_ms / 4, 50);

  g_clear_handle_id (&self->watchdog_source_id, g_source_remove);
  self->last_activity_us = g_get_monotonic_time ();
  self->watchdog_source_id = g_timeout_add (period, on_watchdog, self);
}

static void
on_websocket_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  NatterConnection *self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (SoupMessage) handshake = NULL;
  SoupWebsocketConnection *websocket;
  guint status;

  websocket = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_object_unref (self);
    return;
  }

  handshake = g_steal_pointer (&self->handshake);
  g_clear_object (&self->connect_cancellable);

  if (websocket == NULL) {
    status = handshake != NULL ? soup_message_get_status (handshake) : 0;

    if (status == SOUP_STATUS_UNAUTHORIZED) {
      give_up (self, NATTER_CONNECTION_STATE_SIGNED_OUT,
               g_error_new_literal (NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_UNAUTHORIZED,
                                    "The server no longer accepts this sign-in"));
    } else if (status == SOUP_STATUS_FORBIDDEN) {
      give_up (self, NATTER_CONNECTION_STATE_DISCONNECTED,
               g_error_new_literal (NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_FORBIDDEN,
                                    "The server refused this profile (403)"));
    } else {
      set_last_error (self, g_error_new (NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_NETWORK,
                                         "Cannot connect: %s", error->message));
      schedule_retry (self);
    }

    g_object_unref (self);
    return;
  }

  self->websocket = websocket;
  soup_websocket_connection_set_max_incoming_payload_size (websocket, NATTER_MAX_FRAME_BYTES);
  soup_websocket_connection_set_keepalive_interval (websocket, self->keepalive_interval_s);
  g_signal_connect (websocket, "message", G_CALLBACK (on_websocket_message), self);
  g_signal_connect (websocket, "pong", G_CALLBACK (on_websocket_pong), self);
  g_signal_connect (websocket, "error", G_CALLBACK (on_websocket_error), self);
  g_signal_connect (websocket, "closed", G_CALLBACK (on_websocket_closed), self);

  /* Until hello arrives we are still connecting; the watchdog also covers
   * a server that accepts the upgrade and then says nothing. */
  start_watchdog (self);

  g_object_unref (self);
}

static char *
build_websocket_url (NatterConnection *self, const NatterProfile *profile)
{
  const char *server_url = natter_account_get_server_url (self->account);
  const char *rest;
  const char *scheme;

  if (g_str_has_prefix (server_url, "https://")) {
    scheme = "wss://";
    rest = server_url + strlen ("https://");
  } else if (g_str_has_prefix (server_url, "http://")) {
    scheme = "ws://";
    rest = server_url + strlen ("http://");
  } else {
    scheme = "";
    rest = server_url;
  }

  return g_strdup_printf ("%s%s/ws/%" G_GINT64_FORMAT "/%s", scheme, rest, profile->profile_id,
                          profile->profile_type);
}

static void
connect_now (NatterConnection *self)
{
  const NatterProfile *profile = natter_account_get_active_profile (self->account);
  const char *token = natter_account_get_token (self->account);
  g_autofree char *url = NULL;
  g_autofree char *authorization = NULL;

  drop_websocket (self);
  cancel_retry (self);
  self->network_lost = FALSE;

  if (token == NULL || profile == NULL) {
    give_up (self, NATTER_CONNECTION_STATE_SIGNED_OUT,
             g_error_new_literal (NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_UNAUTHORIZED,
                                  "Not signed in"));
    return;
  }

  url = build_websocket_url (self, profile);
  self->handshake = soup_message_new (SOUP_METHOD_GET, url);
  if (self->handshake == NULL) {
    give_up (self, NATTER_CONNECTION_STATE_DISCONNECTED,
             g_error_new (NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_PROTOCOL,
                          "Not a valid server URL: %s",
                          natter_account_get_server_url (self->account)));
    return;
  }

  authorization = g_strconcat ("Bearer ", token, NULL);
  soup_message_headers_replace (soup_message_get_request_headers (self->handshake), "Authorization",
                                authorization);

  self->connect_cancellable = g_cancellable_new ();
  set_state (self, NATTER_CONNECTION_STATE_CONNECTING);

  soup_session_websocket_connect_async (natter_account_get_session (self->account), self->handshake,
                                        NULL, NULL, G_PRIORITY_DEFAULT, self->connect_cancellable,
                                        on_websocket_connected, g_object_ref (self));

  /* A handshake into a half-open link would otherwise wait forever. */
  start_watchdog (self);
}

static void
on_network_changed (GNetworkMonitor *monitor, gboolean available, gpointer user_data)
{
  NatterConnection *self = user_data;
  gint64 now = g_get_monotonic_time ();

  /* Losing the network changes nothing yet: a scheduled retry stays where
   * the backoff put it, so an offline machine does not spin. */
  if (!available) {
    if (self->state == NATTER_CONNECTION_STATE_CONNECTED ||
        self->state == NATTER_CONNECTION_STATE_CONNECTING)
      self->network_lost = TRUE;
    return;
  }

  /* Back: a waiting retry happens now. A link that lived through the loss
   * is most likely dead (another address, a suspended laptop) and would
   * only be found out by the watchdog: it is replaced now. */
  if (self->state != NATTER_CONNECTION_STATE_WAITING_TO_RETRY && !self->network_lost)
    return;
  if (self->state == NATTER_CONNECTION_STATE_SIGNED_OUT ||
      self->state == NATTER_CONNECTION_STATE_DISCONNECTED)
    return;

  /* Network monitors fire in bursts (one per interface and route); one
   * retry per burst is enough, the backoff covers the rest. */
  if (self->last_network_retry_us != 0 &&
      now - self->last_network_retry_us < NETWORK_RETRY_THROTTLE_US)
    return;

  self->last_network_retry_us = now;
  g_debug ("The network is back: connecting now");
  connect_now (self);
}

static gboolean
on_pump_timeout (gpointer user_data)
{
  NatterConnection *self = user_data;

  self->pump_source_id = 0;
  pump_outbox (self);

  return G_SOURCE_REMOVE;
}

static void
refill_tokens (NatterConnection *self)
{
  gint64 now = g_get_monotonic_time ();

  if (now > self->chat_tokens_at_us) {
    self->chat_tokens =
      MIN (self->chat_burst, self->chat_tokens + (now - self->chat_tokens_at_us) *
                                                   self->chat_rate_per_s / G_USEC_PER_SEC);
    self->chat_tokens_at_us = now;
  }
}

static void
pump_outbox (NatterConnection *self)
{
  if (self->state != NATTER_CONNECTION_STATE_CONNECTED || self->store == NULL)
    return;

  refill_tokens (self);

  while (!g_queue_is_empty (&self->send_queue) && self->chat_tokens >= 1) {
    g_autofree char *client_msg_id = g_queue_pop_head (&self->send_queue);
    g_autoptr (NatterOutboxEntry) entry = NULL;
    g_autoptr (NatterFrame) frame = NULL;

    entry = natter_store_outbox_lookup (self->store, client_msg_id);
    if (entry == NULL || entry->state != NATTER_OUTBOX_PENDING)
      continue;

    /* Its files are still going up: the next flush, after the last
     * upload, queues it again. */
    if (!natter_outbox_entry_is_uploaded (entry))
      continue;

    frame = natter_frame_new (NATTER_FRAME_CHAT_MESSAGE);
    frame->client_msg_id = g_strdup (entry->client_msg_id);
    frame->text = g_strdup (entry->text);
    for (guint i = 0; entry->attachments != NULL && i < entry->attachments->len; i++) {
      NatterOutboxAttachment *attachment = g_ptr_array_index (entry->attachments, i);

      if (frame->attachment_ids == NULL)
        frame->attachment_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
      g_array_append_val (frame->attachment_ids, attachment->attachment_id);
    }
    if (entry->conversation_id > 0) {
      frame->conversation_id = entry->conversation_id;
    } else if (entry->to_profile != NULL) {
      frame->to_profile_id = entry->to_profile->profile_id;
      frame->to_profile_type = g_strdup (entry->to_profile->profile_type);
    }

    if (!natter_connection_send_frame (self, frame))
      return;

    g_hash_table_add (self->sent_ids, g_steal_pointer (&client_msg_id));
    self->chat_tokens -= 1;
  }

  if (!g_queue_is_empty (&self->send_queue) && self->pump_source_id == 0) {
    double wait_s = (1 - self->chat_tokens) / self->chat_rate_per_s;
    gint64 until_us = MAX (self->chat_tokens_at_us - g_get_monotonic_time (), 0);
    guint wait_ms = (guint) (wait_s * 1000 + until_us / 1000) + 1;

    self->pump_source_id = g_timeout_add (wait_ms, on_pump_timeout, self);
  }
}

static void
natter_connection_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterConnection *self = NATTER_CONNECTION (object);

  switch (prop_id) {
    case PROP_ACCOUNT:
      g_value_set_object (value, self->account);
      break;
    case PROP_STORE:
      g_value_set_object (value, self->store);
      break;
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_LAST_ERROR:
      g_value_set_boxed (value, self->last_error);
      break;
    case PROP_KEEPALIVE_INTERVAL:
      g_value_set_uint (value, self->keepalive_interval_s);
      break;
    case PROP_DEAD_AFTER:
      g_value_set_uint (value, self->dead_after_ms);
      break;
    case PROP_NETWORK_MONITOR:
      g_value_set_object (value, self->network_monitor);
      break;
    case PROP_RETRY_DELAY:
      g_value_set_uint (value, self->retry_delay_ms);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_connection_set_property (GObject *object,
                                guint prop_id,
                                const GValue *value,
                                GParamSpec *pspec)
{
  NatterConnection *self = NATTER_CONNECTION (object);

  switch (prop_id) {
    case PROP_ACCOUNT:
      self->account = g_value_dup_object (value);
      break;
    case PROP_STORE:
      natter_connection_set_store (self, g_value_get_object (value));
      break;
    case PROP_KEEPALIVE_INTERVAL:
      natter_connection_set_keepalive_interval (self, g_value_get_uint (value));
      break;
    case PROP_DEAD_AFTER:
      natter_connection_set_dead_after (self, g_value_get_uint (value));
      break;
    case PROP_NETWORK_MONITOR:
      natter_connection_set_network_monitor (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
forget_closing_websocket (NatterConnection *self)
{
  if (self->closing_websocket == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->closing_websocket, self);
  g_clear_object (&self->closing_websocket);
}

static void
on_closing_websocket_closed (SoupWebsocketConnection *websocket, NatterConnection *self)
{
  forget_closing_websocket (self);
}

static void
natter_connection_dispose (GObject *object)
{
  NatterConnection *self = NATTER_CONNECTION (object);

  forget_closing_websocket (self);
  drop_websocket (self);
  cancel_retry (self);
  if (self->network_monitor != NULL)
    g_signal_handlers_disconnect_by_data (self->network_monitor, self);
  g_clear_object (&self->network_monitor);
  g_clear_object (&self->store);
  g_clear_object (&self->account);

  G_OBJECT_CLASS (natter_connection_parent_class)->dispose (object);
}

static void
natter_connection_finalize (GObject *object)
{
  NatterConnection *self = NATTER_CONNECTION (object);

  g_clear_error (&self->last_error);
  g_clear_object (&self->backoff);
  g_clear_pointer (&self->sent_ids, g_hash_table_unref);

  G_OBJECT_CLASS (natter_connection_parent_class)->finalize (object);
}

static void
natter_connection_class_init (NatterConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_connection_get_property;
  object_class->set_property = natter_connection_set_property;
  object_class->dispose = natter_connection_dispose;
  object_class->finalize = natter_connection_finalize;

  properties[PROP_ACCOUNT] =
    g_param_spec_object ("account", NULL, NULL, NATTER_TYPE_ACCOUNT,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterConnection:store:
   *
   * The active profile's store: where `sync` starts and the outbox lives.
   */
  properties[PROP_STORE] =
    g_param_spec_object ("store", NULL, NULL, NATTER_TYPE_STORE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATE] = g_param_spec_enum (
    "state", NULL, NULL, NATTER_TYPE_CONNECTION_STATE, NATTER_CONNECTION_STATE_DISCONNECTED,
    G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterConnection:last-error:
   *
   * Why the link last failed (%NATTER_CONNECTION_ERROR); %NULL once connected again.
   */
  properties[PROP_LAST_ERROR] =
    g_param_spec_boxed ("last-error", NULL, NULL, G_TYPE_ERROR,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterConnection:keepalive-interval:
   *
   * Seconds between WebSocket pings; applies from the next connection.
   */
  properties[PROP_KEEPALIVE_INTERVAL] =
    g_param_spec_uint ("keepalive-interval", NULL, NULL, 1, 3600, NATTER_HEARTBEAT_S,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterConnection:dead-after:
   *
   * Milliseconds without any frame or pong after which the link is
   * declared dead and replaced.
   */
  properties[PROP_DEAD_AFTER] =
    g_param_spec_uint ("dead-after", NULL, NULL, 100, G_MAXUINT, NATTER_DEAD_AFTER_S * 1000,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * NatterConnection:network-monitor:
   *
   * Tells when the network comes back, so a waiting retry happens at once,
   * and a link that was open while the network went away is replaced (at
   * most one attempt every 2 s). %NULL on construction means
   * g_network_monitor_get_default(); tests give one of their own.
   */
  properties[PROP_NETWORK_MONITOR] = g_param_spec_object (
    "network-monitor", NULL, NULL, G_TYPE_NETWORK_MONITOR,
    G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterConnection:retry-delay:
   *
   * In state %NATTER_CONNECTION_STATE_WAITING_TO_RETRY, the milliseconds
   * the scheduled retry waits (drawn by the backoff); 0 otherwise.
   */
  properties[PROP_RETRY_DELAY] =
    g_param_spec_uint ("retry-delay", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterConnection::frame:
   * @self: the connection
   * @frame: the frame, valid during the emission
   *
   * A frame arrived from the server. Detailed with the frame's type, so
   * `frame::call_invitation` hears only invitations.
   */
  signals[FRAME] =
    g_signal_new ("frame", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, NATTER_TYPE_FRAME | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
natter_connection_init (NatterConnection *self)
{
  const char *dead_after = g_getenv ("NATTER_DEAD_AFTER_MS");
  const char *keepalive = g_getenv ("NATTER_KEEPALIVE_S");

  self->keepalive_interval_s = NATTER_HEARTBEAT_S;
  self->dead_after_ms = NATTER_DEAD_AFTER_S * 1000;
  /* Tests and odd networks shorten the timers without recompiling. */
  if (dead_after != NULL && g_ascii_strtoull (dead_after, NULL, 10) >= 100)
    self->dead_after_ms = (guint) g_ascii_strtoull (dead_after, NULL, 10);
  if (keepalive != NULL && g_ascii_strtoull (keepalive, NULL, 10) >= 1)
    self->keepalive_interval_s = (guint) g_ascii_strtoull (keepalive, NULL, 10);

  /* NATTER_RETRY_*_MS: tests make the backoff long to show what cuts it short. */
  self->backoff = natter_backoff_new (env_uint ("NATTER_RETRY_FIRST_MS", FIRST_RETRY_MS),
                                      env_uint ("NATTER_RETRY_BASE_MS", RETRY_BASE_MS),
                                      env_uint ("NATTER_RETRY_MAX_MS", RETRY_MAX_MS));
  self->sent_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_queue_init (&self->send_queue);

  self->chat_rate_per_s = env_double ("NATTER_CHAT_RATE", NATTER_CHAT_RATE_PER_S);
  self->chat_burst = env_double ("NATTER_CHAT_BURST", NATTER_CHAT_BURST);
  self->chat_tokens = self->chat_burst;
  self->chat_tokens_at_us = g_get_monotonic_time ();
}

/**
 * natter_connection_new:
 * @account: the account whose active profile it connects as
 *
 * Returns: (transfer full): a new connection, disconnected
 */
NatterConnection *
natter_connection_new (NatterAccount *account)
{
  g_return_val_if_fail (NATTER_IS_ACCOUNT (account), NULL);

  return g_object_new (NATTER_TYPE_CONNECTION, "account", account, NULL);
}

/**
 * natter_connection_get_account:
 * @self: a #NatterConnection
 *
 * Returns: (transfer none): the account
 */
NatterAccount *
natter_connection_get_account (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), NULL);

  return self->account;
}

/**
 * natter_connection_get_store:
 * @self: a #NatterConnection
 *
 * Returns: (transfer none) (nullable): the store of the active profile
 */
NatterStore *
natter_connection_get_store (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), NULL);

  return self->store;
}

/**
 * natter_connection_set_store:
 * @self: a #NatterConnection
 * @store: (nullable): the store of the active profile
 *
 * Without a store, no `sync` is sent and there is no outbox.
 */
void
natter_connection_set_store (NatterConnection *self, NatterStore *store)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));
  g_return_if_fail (store == NULL || NATTER_IS_STORE (store));

  if (g_set_object (&self->store, store))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STORE]);
}

/**
 * natter_connection_get_state:
 * @self: a #NatterConnection
 *
 * Returns: the link's state
 */
NatterConnectionState
natter_connection_get_state (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), NATTER_CONNECTION_STATE_DISCONNECTED);

  return self->state;
}

/**
 * natter_connection_get_last_error:
 * @self: a #NatterConnection
 *
 * Returns: (transfer none) (nullable): why the link last failed
 */
const GError *
natter_connection_get_last_error (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), NULL);

  return self->last_error;
}

/**
 * natter_connection_get_keepalive_interval:
 * @self: a #NatterConnection
 *
 * Returns: seconds between pings
 */
guint
natter_connection_get_keepalive_interval (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), 0);

  return self->keepalive_interval_s;
}

/**
 * natter_connection_set_keepalive_interval:
 * @self: a #NatterConnection
 * @seconds: seconds between pings
 */
void
natter_connection_set_keepalive_interval (NatterConnection *self, guint seconds)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));
  g_return_if_fail (seconds > 0);

  if (self->keepalive_interval_s == seconds)
    return;

  self->keepalive_interval_s = seconds;
  if (self->websocket != NULL)
    soup_websocket_connection_set_keepalive_interval (self->websocket, seconds);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEEPALIVE_INTERVAL]);
}

/**
 * natter_connection_get_dead_after:
 * @self: a #NatterConnection
 *
 * Returns: milliseconds of silence after which the link is dead
 */
guint
natter_connection_get_dead_after (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), 0);

  return self->dead_after_ms;
}

/**
 * natter_connection_set_dead_after:
 * @self: a #NatterConnection
 * @milliseconds: silence after which the link is dead
 */
void
natter_connection_set_dead_after (NatterConnection *self, guint milliseconds)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));
  g_return_if_fail (milliseconds >= 100);

  if (self->dead_after_ms == milliseconds)
    return;

  self->dead_after_ms = milliseconds;
  if (self->watchdog_source_id != 0)
    start_watchdog (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEAD_AFTER]);
}

/**
 * natter_connection_get_network_monitor:
 * @self: a #NatterConnection
 *
 * Returns: (transfer none): the monitor that says when the network is back
 */
GNetworkMonitor *
natter_connection_get_network_monitor (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), NULL);

  return self->network_monitor;
}

/**
 * natter_connection_set_network_monitor:
 * @self: a #NatterConnection
 * @monitor: (nullable): a network monitor; %NULL for the default one
 *
 * When @monitor reports the network available again while a retry is
 * waiting, the connection retries at once (throttled).
 */
void
natter_connection_set_network_monitor (NatterConnection *self, GNetworkMonitor *monitor)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));
  g_return_if_fail (monitor == NULL || G_IS_NETWORK_MONITOR (monitor));

  if (monitor == NULL)
    monitor = g_network_monitor_get_default ();

  if (self->network_monitor == monitor)
    return;

  if (self->network_monitor != NULL)
    g_signal_handlers_disconnect_by_data (self->network_monitor, self);
  g_set_object (&self->network_monitor, monitor);
  g_signal_connect (self->network_monitor, "network-changed", G_CALLBACK (on_network_changed),
                    self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NETWORK_MONITOR]);
}

/**
 * natter_connection_get_retry_delay:
 * @self: a #NatterConnection
 *
 * Returns: how long the scheduled retry waits, in milliseconds; 0 when
 *   none is scheduled
 */
guint
natter_connection_get_retry_delay (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), 0);

  return self->retry_delay_ms;
}

/**
 * natter_connection_start:
 * @self: a #NatterConnection
 *
 * Connects as the account's active profile, unless already connected or
 * connecting; from then on the connection keeps itself up.
 */
void
natter_connection_start (NatterConnection *self)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));

  if (self->state == NATTER_CONNECTION_STATE_CONNECTED ||
      self->state == NATTER_CONNECTION_STATE_CONNECTING)
    return;

  natter_backoff_reset (self->backoff);
  connect_now (self);
}

/**
 * natter_connection_stop:
 * @self: a #NatterConnection
 *
 * Closes the link and stops retrying.
 */
void
natter_connection_stop (NatterConnection *self)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));

  drop_websocket (self);
  cancel_retry (self);
  set_state (self, NATTER_CONNECTION_STATE_DISCONNECTED);
}

/**
 * natter_connection_close:
 * @self: a #NatterConnection
 *
 * Like natter_connection_stop(), but with the WebSocket close handshake
 * instead of dropping the link: the frames already sent (a call_declined
 * just before the process exits) reach the server, which answers the close
 * only after reading them. natter_connection_is_closing() tells when that
 * answer came.
 */
void
natter_connection_close (NatterConnection *self)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));

  if (self->websocket != NULL &&
      soup_websocket_connection_get_state (self->websocket) == SOUP_WEBSOCKET_STATE_OPEN) {
    forget_closing_websocket (self);
    self->closing_websocket = g_steal_pointer (&self->websocket);
    /* Frames that still come are read (a socket closed with unread data is
     * reset, which can cost the server what we sent last) but not handled. */
    g_signal_handlers_disconnect_by_data (self->closing_websocket, self);
    g_signal_connect (self->closing_websocket, "closed", G_CALLBACK (on_closing_websocket_closed),
                      self);
    soup_websocket_connection_close (self->closing_websocket, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  }
  natter_connection_stop (self);
}

/**
 * natter_connection_is_closing:
 * @self: a #NatterConnection
 *
 * Returns: %TRUE from natter_connection_close() until the server answered
 *   the close or the link broke
 */
gboolean
natter_connection_is_closing (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), FALSE);

  return self->closing_websocket != NULL;
}

/**
 * natter_connection_reconnect:
 * @self: a #NatterConnection
 *
 * Replaces the link at once, for example as another profile.
 */
void
natter_connection_reconnect (NatterConnection *self)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));

  natter_backoff_reset (self->backoff);
  connect_now (self);
}

/**
 * natter_connection_send_frame:
 * @self: a #NatterConnection
 * @frame: the frame
 *
 * Sends a frame now. Frames are not queued: chat messages go through the
 * outbox instead, and ephemeral frames are worthless later.
 *
 * Returns: %TRUE if the frame was handed to the socket
 */
gboolean
natter_connection_send_frame (NatterConnection *self, const NatterFrame *frame)
{
  g_autofree char *json = NULL;

  g_return_val_if_fail (NATTER_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (frame != NULL, FALSE);

  if (self->websocket == NULL ||
      soup_websocket_connection_get_state (self->websocket) != SOUP_WEBSOCKET_STATE_OPEN)
    return FALSE;

  json = natter_frame_to_json (frame, NULL);
  if (json == NULL)
    return FALSE;

  soup_websocket_connection_send_text (self->websocket, json);

  return TRUE;
}

/**
 * natter_connection_flush_outbox:
 * @self: a #NatterConnection
 *
 * Queues every pending outbox entry not yet sent on this link, in writing
 * order, and sends them as fast as the server's chat rate allows.
 */
void
natter_connection_flush_outbox (NatterConnection *self)
{
  g_autoptr (GPtrArray) entries = NULL;
  guint i;

  g_return_if_fail (NATTER_IS_CONNECTION (self));

  if (self->state != NATTER_CONNECTION_STATE_CONNECTED || self->store == NULL || !self->synced)
    return;

  entries = natter_store_outbox_list (self->store, 0, TRUE);
  for (i = 0; i < entries->len; i++) {
    NatterOutboxEntry *entry = g_ptr_array_index (entries, i);

    if (!natter_outbox_entry_is_uploaded (entry) ||
        g_hash_table_contains (self->sent_ids, entry->client_msg_id) ||
        g_queue_find_custom (&self->send_queue, entry->client_msg_id, (GCompareFunc) g_strcmp0))
      continue;

    g_queue_push_tail (&self->send_queue, g_strdup (entry->client_msg_id));
  }

  pump_outbox (self);
}
