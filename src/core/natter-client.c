/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-client"

#include "config.h"

#include "natter-call-manager.h"
#include "natter-client.h"
#include "natter-http-body.h"

/* One per signed-in user on one server: the account, the connection as
 * the active profile, that profile's store and list models, and (from the
 * calls layer) the call manager. It turns server events into store changes
 * and user actions into outbox entries and frames. */

#define TYPING_EXPIRE_MS 6000

enum {
  PROP_0,
  PROP_ACCOUNT,
  PROP_CONNECTION,
  PROP_STORE,
  PROP_CONVERSATIONS,
  PROP_CALL_MANAGER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum { MESSAGE_RECEIVED, MESSAGE_SENT, MESSAGE_FAILED, READ_RECEIPT, MISSED_CALL, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterClient {
  GObject parent_instance;

  char *server_url;
  char *data_dir;

  /* Long-lived: created with the client, shared by every profile. */
  NatterAccount *account;
  NatterConnection *connection;
  NatterCallManager *call_manager;

  /* Per active profile: replaced when the profile changes. */
  NatterStore *store;
  NatterConversationList *conversations;
  GCancellable *profile_cancellable;
  NatterAttachmentTransfers *transfers;

  guint64 attachment_cache_limit;
};

G_DEFINE_FINAL_TYPE (NatterClient, natter_client, G_TYPE_OBJECT)

/* Error codes after which sending the same message again cannot help. */
static gboolean
error_code_is_permanent (const char *code)
{
  static const char *const transient[] = { "rate_limited", "internal", NULL };

  return code != NULL && !g_strv_contains (transient, code);
}

static gboolean
store_conversation_list (NatterStore *store, GBytes *body, GError **error)
{
  g_autoptr (GPtrArray) conversations = NULL;
  g_autoptr (GError) parse_error = NULL;
  const char *data;
  gsize length;

  data = g_bytes_get_data (body, &length);
  conversations = natter_conversation_list_parse (data, length, &parse_error);
  if (conversations == NULL) {
    g_set_error (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_BAD_RESPONSE,
                 "Bad conversation list: %s", parse_error->message);
    return FALSE;
  }

  return natter_store_set_conversations (store, conversations, error);
}

static void
on_background_conversations (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterStore) store = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;

  body = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  if (body == NULL || !store_conversation_list (store, body, &error)) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_info ("Cannot refresh the conversations: %s", error->message);
  }
}

/* Holds the store, not the client, so a client can go away while the
 * request runs (it is cancelled then). */
static void
refresh_conversations_in_background (NatterClient *self)
{
  g_autofree char *path = NULL;

  if (self->store == NULL || natter_account_get_active_profile (self->account) == NULL)
    return;

  path = natter_account_build_profile_path (self->account, "/conversations");
  natter_account_request_async (self->account, "GET", path, NULL, self->profile_cancellable,
                                on_background_conversations, g_object_ref (self->store));
}

#define CALL_LOG_LIMIT 50

static gboolean
store_call_log (NatterStore *store, GBytes *body, GError **error)
{
  g_autoptr (GPtrArray) calls = NULL;
  g_autoptr (GError) parse_error = NULL;
  const char *data;
  gsize length;

  data = g_bytes_get_data (body, &length);
  calls = natter_call_log_list_parse (data, length, &parse_error);
  if (calls == NULL) {
    g_set_error (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_BAD_RESPONSE, "Bad call log: %s",
                 parse_error->message);
    return FALSE;
  }

  return natter_store_add_calls (store, calls, error);
}

static void
on_call_log_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  NatterStore *store = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;

  body = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  if (body == NULL || !store_call_log (store, body, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  g_task_return_boolean (task, TRUE);
}

static void
on_background_call_log (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterStore) store = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;

  body = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  if (body == NULL || !store_call_log (store, body, &error)) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_info ("Cannot refresh the call log: %s", error->message);
  }
}

/* The calls of each conversation are rows in it: the log is fetched after
 * every connection and after every call (made, answered or declined calls
 * come as no event; only missed ones do). Holds the store, not the client,
 * like the conversations' refresh. */
static void
refresh_calls_in_background (NatterClient *self)
{
  g_autofree char *path = NULL;

  if (self->store == NULL || natter_account_get_active_profile (self->account) == NULL)
    return;

  path = natter_account_build_profile_path (self->account, "/calls?limit=%d", CALL_LOG_LIMIT);
  natter_account_request_async (self->account, "GET", path, NULL, self->profile_cancellable,
                                on_background_call_log, g_object_ref (self->store));
}

static void
on_chat_message (NatterClient *self, const NatterFrame *frame)
{
  g_autoptr (GError) error = NULL;
  gboolean applied = FALSE;

  if (self->store == NULL || frame->message == NULL)
    return;

  /* Our own message coming back as an event before its ack (or instead of
   * it, when the ack was lost with the link) is the ack. */
  if (frame->message->client_msg_id != NULL && frame->message->sender != NULL &&
      natter_profile_equal (frame->message->sender, natter_store_get_own_profile (self->store))) {
    g_autoptr (NatterOutboxEntry) entry =
      natter_store_outbox_lookup (self->store, frame->message->client_msg_id);

    if (entry != NULL) {
      if (!natter_store_outbox_ack (self->store, entry->client_msg_id, frame->message, &applied,
                                    &error)) {
        g_warning ("Cannot store an acknowledged message: %s", error->message);
        return;
      }
      if (applied)
        g_signal_emit (self, signals[MESSAGE_SENT], 0, entry->client_msg_id, frame->message);
    }
  }

  if (!natter_store_apply_event (self->store, frame, &applied, &error)) {
    g_warning ("Cannot store a message: %s", error->message);
    return;
  }

  if (applied)
    g_signal_emit (self, signals[MESSAGE_RECEIVED], 0, frame->message);
}

static void
on_read_receipt (NatterClient *self, const NatterFrame *frame)
{
  g_autoptr (GError) error = NULL;
  gboolean applied = FALSE;

  if (self->store == NULL || frame->profile == NULL)
    return;

  if (!natter_store_apply_event (self->store, frame, &applied, &error)) {
    g_warning ("Cannot store a read receipt: %s", error->message);
    return;
  }

  if (applied)
    g_signal_emit (self, signals[READ_RECEIPT], 0, frame->conversation_id, frame->profile,
                   frame->up_to_seq);
}

static void
on_missed_call (NatterClient *self, const NatterFrame *frame)
{
  g_autoptr (GError) error = NULL;
  gboolean applied = FALSE;

  if (self->store == NULL)
    return;

  if (!natter_store_apply_event (self->store, frame, &applied, &error)) {
    g_warning ("Cannot store a missed call: %s", error->message);
    return;
  }

  if (applied && frame->call != NULL)
    g_signal_emit (self, signals[MISSED_CALL], 0, frame->call);
}

static void
on_message_ack (NatterClient *self, const NatterFrame *frame)
{
  g_autoptr (GError) error = NULL;
  gboolean applied = FALSE;

  if (self->store == NULL || frame->client_msg_id == NULL || frame->message == NULL)
    return;

  if (!natter_store_outbox_ack (self->store, frame->client_msg_id, frame->message, &applied,
                                &error)) {
    g_warning ("Cannot store an acknowledged message: %s", error->message);
    return;
  }

  if (frame->event_id > 0 && !natter_store_note_own_event (self->store, frame->event_id, &error))
    g_warning ("Cannot store the last event id: %s", error->message);

  /* A repeated ack (a retry the server had already stored) is not news. */
  if (applied)
    g_signal_emit (self, signals[MESSAGE_SENT], 0, frame->client_msg_id, frame->message);
}

static void
on_error_frame (NatterClient *self, const NatterFrame *frame)
{
  g_autoptr (NatterOutboxEntry) entry = NULL;
  g_autoptr (GError) error = NULL;

  if (frame->ref == NULL || self->store == NULL) {
    g_info ("Server error: %s %s", frame->code != NULL ? frame->code : "",
            frame->error_message != NULL ? frame->error_message : "");
    return;
  }

  entry = natter_store_outbox_lookup (self->store, frame->ref);
  if (entry == NULL || !error_code_is_permanent (frame->code)) {
    g_debug ("Server error %s for %s: %s", frame->code != NULL ? frame->code : "", frame->ref,
             entry == NULL ? "not one of our messages" : "transient, the message stays pending");
    return;
  }

  if (!natter_store_outbox_fail (self->store, frame->ref, frame->code, frame->error_message,
                                 &error)) {
    g_warning ("Cannot mark a message failed: %s", error->message);
    return;
  }

  g_signal_emit (self, signals[MESSAGE_FAILED], 0, frame->ref, frame->code, frame->error_message);
}

static void
on_typing (NatterClient *self, const NatterFrame *frame)
{
  NatterConversationItem *item;

  if (self->conversations == NULL)
    return;

  item = natter_conversation_list_lookup (self->conversations, frame->conversation_id);
  if (item != NULL)
    natter_conversation_item_set_typing (item, frame->active, TYPING_EXPIRE_MS);
}

static void
on_presence (NatterClient *self, const NatterFrame *frame)
{
  if (self->conversations == NULL || frame->profile == NULL)
    return;

  natter_conversation_list_set_presence (self->conversations, frame->profile, frame->online,
                                         frame->last_seen);
}

/* Our read markers the server has not confirmed; each is the highest for
 * its conversation. Sent after the hello's sync, and again after each
 * reconnect until the read receipt comes back. */
static void
send_pending_reads (NatterClient *self)
{
  g_autoptr (GArray) reads = NULL;
  guint i;

  if (self->store == NULL ||
      natter_connection_get_state (self->connection) != NATTER_CONNECTION_STATE_CONNECTED)
    return;

  reads = natter_store_list_pending_reads (self->store);
  for (i = 0; i < reads->len; i++) {
    const NatterPendingRead *read = &g_array_index (reads, NatterPendingRead, i);
    g_autoptr (NatterFrame) frame = natter_frame_new (NATTER_FRAME_MARK_READ);

    frame->conversation_id = read->conversation_id;
    frame->up_to_seq = read->up_to_seq;
    if (!natter_connection_send_frame (self->connection, frame))
      return;
  }
}

static void
on_hello (NatterClient *self, const NatterFrame *frame)
{
  if (self->store != NULL)
    natter_store_begin_sync (self->store);

  /* The server's history changed under us: what we cached may be gone. */
  if (self->store != NULL && natter_store_take_position_reset (self->store))
    refresh_conversations_in_background (self);

  /* The server greets us with who is online now; sync_done ends it. */
  if (self->conversations != NULL)
    natter_conversation_list_begin_presence_refresh (self->conversations);

  send_pending_reads (self);
}

static void
on_sync_done (NatterClient *self, const NatterFrame *frame)
{
  g_autoptr (GError) error = NULL;

  if (self->store != NULL && !natter_store_end_sync (self->store, frame->last_event_id, &error))
    g_warning ("Cannot store the last event id: %s", error->message);

  if (self->conversations != NULL)
    natter_conversation_list_end_presence_refresh (self->conversations);

  /* Events were dropped from the replay: the summaries may be stale. */
  if (frame->truncated)
    refresh_conversations_in_background (self);
  refresh_calls_in_background (self);
}

static void
on_user_refreshed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (!natter_account_refresh_user_finish (NATTER_ACCOUNT (source), result, &error))
    g_info ("Cannot fetch the user: %s", error->message);
}

static void
on_connection_state (NatterClient *self)
{
  const GError *error = natter_connection_get_last_error (self->connection);

  /* Signed in offline: now that the server answers, learn who we are and
   * what changed while we were away. */
  if (natter_connection_get_state (self->connection) == NATTER_CONNECTION_STATE_CONNECTED &&
      natter_account_get_user (self->account) == NULL) {
    natter_account_refresh_user_async (self->account, self->profile_cancellable, on_user_refreshed,
                                       NULL);
    refresh_conversations_in_background (self);
  }

  /* The server refused our token: it was revoked (logout elsewhere) or has
   * expired. Forget it so the next start asks the user to sign in. */
  if (natter_connection_get_state (self->connection) == NATTER_CONNECTION_STATE_SIGNED_OUT &&
      g_error_matches (error, NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_UNAUTHORIZED) &&
      natter_account_get_token (self->account) != NULL)
    natter_account_forget_token (self->account);
}

static void
on_upload_failed (NatterClient *self,
                  const char *client_msg_id,
                  const char *code,
                  const char *reason)
{
  g_signal_emit (self, signals[MESSAGE_FAILED], 0, client_msg_id, code, reason);
}

static void
set_profile_state (NatterClient *self, NatterStore *store)
{
  g_autoptr (NatterConversationList) conversations = NULL;

  if (self->profile_cancellable != NULL)
    g_cancellable_cancel (self->profile_cancellable);
  g_clear_object (&self->profile_cancellable);

  /* The old profile's transfers stop now; their callbacks find them so. */
  if (self->transfers != NULL)
    g_object_run_dispose (G_OBJECT (self->transfers));
  g_clear_object (&self->transfers);

  if (store != NULL) {
    conversations = natter_conversation_list_new (store);
    self->profile_cancellable = g_cancellable_new ();
  }

  natter_connection_set_store (self->connection, store);

  if (store != NULL) {
    self->transfers = natter_attachment_transfers_new (self->account, store, self->connection);
    natter_attachment_transfers_set_cache_limit (self->transfers, self->attachment_cache_limit);
    g_signal_connect_object (self->transfers, "upload-failed", G_CALLBACK (on_upload_failed), self,
                             G_CONNECT_SWAPPED);
  }

  g_object_freeze_notify (G_OBJECT (self));
  if (g_set_object (&self->store, store))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STORE]);
  if (g_set_object (&self->conversations, conversations))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONVERSATIONS]);
  g_object_thaw_notify (G_OBJECT (self));
}

static void
on_active_profile_changed (NatterClient *self)
{
  const NatterProfile *profile = natter_account_get_active_profile (self->account);
  g_autoptr (NatterStore) store = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;

  if (profile == NULL) {
    /* Keep signed-out (a revoked token) visible; anything else stops. */
    if (natter_connection_get_state (self->connection) != NATTER_CONNECTION_STATE_SIGNED_OUT)
      natter_connection_stop (self->connection);
    set_profile_state (self, NULL);
    return;
  }

  if (self->store != NULL &&
      natter_profile_equal (natter_store_get_own_profile (self->store), profile))
    return;

  path = natter_store_build_path (natter_account_get_data_dir (self->account),
                                  natter_account_get_server_url (self->account), profile);
  store = natter_store_new (path, profile, &error);
  if (store == NULL) {
    g_warning ("Cannot open the local store %s: %s", path, error->message);
    natter_connection_stop (self->connection);
    set_profile_state (self, NULL);
    return;
  }

  set_profile_state (self, store);

  /* Another profile is another WebSocket. */
  natter_connection_reconnect (self->connection);
  refresh_conversations_in_background (self);
}

static void
natter_client_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterClient *self = NATTER_CLIENT (object);

  switch (prop_id) {
    case PROP_ACCOUNT:
      g_value_set_object (value, self->account);
      break;
    case PROP_CONNECTION:
      g_value_set_object (value, self->connection);
      break;
    case PROP_STORE:
      g_value_set_object (value, self->store);
      break;
    case PROP_CONVERSATIONS:
      g_value_set_object (value, self->conversations);
      break;
    case PROP_CALL_MANAGER:
      g_value_set_object (value, self->call_manager);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_client_dispose (GObject *object)
{
  NatterClient *self = NATTER_CLIENT (object);

  if (self->profile_cancellable != NULL)
    g_cancellable_cancel (self->profile_cancellable);
  g_clear_object (&self->profile_cancellable);

  if (self->account != NULL)
    g_signal_handlers_disconnect_by_data (self->account, self);
  if (self->connection != NULL) {
    g_signal_handlers_disconnect_by_data (self->connection, self);
    natter_connection_stop (self->connection);
    natter_connection_set_store (self->connection, NULL);
  }

  if (self->transfers != NULL)
    g_object_run_dispose (G_OBJECT (self->transfers));
  g_clear_object (&self->transfers);
  g_clear_object (&self->call_manager);
  g_clear_object (&self->conversations);
  g_clear_object (&self->store);
  g_clear_object (&self->connection);
  g_clear_object (&self->account);

  G_OBJECT_CLASS (natter_client_parent_class)->dispose (object);
}

static void
natter_client_finalize (GObject *object)
{
  NatterClient *self = NATTER_CLIENT (object);

  g_clear_pointer (&self->server_url, g_free);
  g_clear_pointer (&self->data_dir, g_free);

  G_OBJECT_CLASS (natter_client_parent_class)->finalize (object);
}

static void
natter_client_class_init (NatterClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = natter_client_get_property;
  object_class->dispose = natter_client_dispose;
  object_class->finalize = natter_client_finalize;

  properties[PROP_ACCOUNT] =
    g_param_spec_object ("account", NULL, NULL, NATTER_TYPE_ACCOUNT, flags);
  properties[PROP_CONNECTION] =
    g_param_spec_object ("connection", NULL, NULL, NATTER_TYPE_CONNECTION, flags);
  /**
   * NatterClient:store:
   *
   * The active profile's local store; %NULL while signed out.
   */
  properties[PROP_STORE] = g_param_spec_object ("store", NULL, NULL, NATTER_TYPE_STORE, flags);
  /**
   * NatterClient:conversations:
   *
   * The active profile's conversations, a #GListModel of
   * #NatterConversationItem; %NULL while signed out.
   */
  properties[PROP_CONVERSATIONS] =
    g_param_spec_object ("conversations", NULL, NULL, G_TYPE_LIST_MODEL, flags);
  /**
   * NatterClient:call-manager:
   *
   * The calls of the active profile (a #NatterCallManager), created with
   * the connection and living as long as the client.
   */
  properties[PROP_CALL_MANAGER] =
    g_param_spec_object ("call-manager", NULL, NULL, NATTER_TYPE_CALL_MANAGER, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterClient::message-received:
   * @self: the client
   * @message: the message
   *
   * A message was stored for the first time: from someone else, or from
   * another device of ours. Replays never emit it twice.
   */
  signals[MESSAGE_RECEIVED] =
    g_signal_new ("message-received", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, NATTER_TYPE_MESSAGE | G_SIGNAL_TYPE_STATIC_SCOPE);

  /**
   * NatterClient::message-sent:
   * @self: the client
   * @client_msg_id: the outbox entry
   * @message: the message as the server stored it
   *
   * The server acknowledged one of our messages; it left the outbox.
   */
  signals[MESSAGE_SENT] =
    g_signal_new ("message-sent", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_STRING, NATTER_TYPE_MESSAGE | G_SIGNAL_TYPE_STATIC_SCOPE);

  /**
   * NatterClient::message-failed:
   * @self: the client
   * @client_msg_id: the outbox entry
   * @code: the server's error code
   * @message: (nullable): the server's explanation
   *
   * The server refused one of our messages for good; it stays in the
   * outbox as failed until retried.
   */
  signals[MESSAGE_FAILED] =
    g_signal_new ("message-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);

  /**
   * NatterClient::read-receipt:
   * @self: the client
   * @conversation_id: the conversation
   * @profile: who read
   * @up_to_seq: how far
   */
  signals[READ_RECEIPT] = g_signal_new (
    "read-receipt", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
    3, G_TYPE_INT64, NATTER_TYPE_PROFILE | G_SIGNAL_TYPE_STATIC_SCOPE, G_TYPE_INT64);

  /**
   * NatterClient::missed-call:
   * @self: the client
   * @call: the call log of the call nobody answered
   */
  signals[MISSED_CALL] =
    g_signal_new ("missed-call", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, NATTER_TYPE_CALL_LOG | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
natter_client_init (NatterClient *self)
{
  self->attachment_cache_limit = NATTER_DEFAULT_ATTACHMENT_CACHE_BYTES;
}

/**
 * natter_client_new:
 * @server_url: (nullable): the server; %NULL for the last one used
 * @data_dir: (nullable): Natter's data directory; %NULL for `$XDG_DATA_HOME/natter`
 *
 * Creates the client, signed out; natter_client_sign_in_async() restores a
 * kept sign-in, and a login through the account signs in too.
 *
 * Returns: (transfer full): a new client
 */
static void connect_signals (NatterClient *self);

NatterClient *
natter_client_new (const char *server_url, const char *data_dir)
{
  NatterClient *self = g_object_new (NATTER_TYPE_CLIENT, NULL);

  self->server_url = g_strdup (server_url);
  self->data_dir = g_strdup (data_dir);

  self->account = natter_account_new (server_url, data_dir);
  self->connection = natter_connection_new (self->account);
  self->call_manager = natter_call_manager_new (self->connection, self->account);
  connect_signals (self);

  return self;
}

/**
 * natter_client_new_for_profile:
 * @signed_in: the signed-in client, acting as its active profile
 * @profile: another profile of the same user
 *
 * A client for one more profile of the signed-in user, with a connection
 * of its own as that profile and that profile's store, so its messages
 * arrive (and notify) while the user acts as another. It has no call
 * manager: calls are answered as the active profile.
 *
 * Returns: (transfer full): a new client, connecting
 */
NatterClient *
natter_client_new_for_profile (NatterClient *signed_in, const NatterProfile *profile)
{
  NatterClient *self;

  g_return_val_if_fail (NATTER_IS_CLIENT (signed_in), NULL);
  g_return_val_if_fail (profile != NULL, NULL);

  self = g_object_new (NATTER_TYPE_CLIENT, NULL);
  self->server_url = g_strdup (natter_account_get_server_url (signed_in->account));
  self->data_dir = g_strdup (natter_account_get_data_dir (signed_in->account));
  self->account = natter_account_new_for_profile (signed_in->account, profile);
  self->connection = natter_connection_new (self->account);
  connect_signals (self);
  on_active_profile_changed (self);

  return self;
}

static void
connect_signals (NatterClient *self)
{
  g_signal_connect_swapped (self->account, "notify::active-profile",
                            G_CALLBACK (on_active_profile_changed), self);
  g_signal_connect_swapped (self->connection, "notify::state", G_CALLBACK (on_connection_state),
                            self);
  g_signal_connect_swapped (self->connection, "frame::chat_message", G_CALLBACK (on_chat_message),
                            self);
  g_signal_connect_swapped (self->connection, "frame::read_receipt", G_CALLBACK (on_read_receipt),
                            self);
  g_signal_connect_swapped (self->connection, "frame::missed_call", G_CALLBACK (on_missed_call),
                            self);
  g_signal_connect_swapped (self->connection, "frame::message_ack", G_CALLBACK (on_message_ack),
                            self);
  g_signal_connect_swapped (self->connection, "frame::error", G_CALLBACK (on_error_frame), self);
  g_signal_connect_swapped (self->connection, "frame::typing", G_CALLBACK (on_typing), self);
  g_signal_connect_swapped (self->connection, "frame::presence", G_CALLBACK (on_presence), self);
  g_signal_connect_swapped (self->connection, "frame::hello", G_CALLBACK (on_hello), self);
  g_signal_connect_swapped (self->connection, "frame::sync_done", G_CALLBACK (on_sync_done), self);
  /* An ended call becomes a row of its conversation: refetch the log. */
  if (self->call_manager != NULL)
    g_signal_connect_swapped (self->call_manager, "call-ended",
                              G_CALLBACK (refresh_calls_in_background), self);
}

/**
 * natter_client_get_account:
 * @self: a #NatterClient
 *
 * Returns: (transfer none): the account
 */
NatterAccount *
natter_client_get_account (NatterClient *self)
{
  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);

  return self->account;
}

/**
 * natter_client_get_connection:
 * @self: a #NatterClient
 *
 * Returns: (transfer none): the WebSocket connection
 */
NatterConnection *
natter_client_get_connection (NatterClient *self)
{
  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);

  return self->connection;
}

/**
 * natter_client_get_store:
 * @self: a #NatterClient
 *
 * Returns: (transfer none) (nullable): the active profile's store
 */
NatterStore *
natter_client_get_store (NatterClient *self)
{
  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);

  return self->store;
}

/**
 * natter_client_get_conversations:
 * @self: a #NatterClient
 *
 * Returns: (transfer none) (nullable): a #GListModel of #NatterConversationItem
 */
GListModel *
natter_client_get_conversations (NatterClient *self)
{
  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);

  return self->conversations != NULL ? G_LIST_MODEL (self->conversations) : NULL;
}

static void
on_restored (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;

  if (!natter_account_restore_finish (NATTER_ACCOUNT (source), result, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * natter_client_sign_in_async:
 * @self: a #NatterClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when signed in, or not
 * @user_data: data for @callback
 *
 * Restores the kept sign-in (see natter_account_restore_async()); once the
 * active profile is known the connection starts on its own.
 */
void
natter_client_sign_in_async (NatterClient *self,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data)
{
  GTask *task;

  g_return_if_fail (NATTER_IS_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_client_sign_in_async);
  natter_account_restore_async (self->account, cancellable, on_restored, task);
}

/**
 * natter_client_sign_in_finish:
 * @self: a #NatterClient
 * @result: the result
 * @error: a #NatterAccountError
 *
 * Returns: %TRUE if signed in
 */
gboolean
natter_client_sign_in_finish (NatterClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_logged_out (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;

  if (!natter_account_logout_finish (NATTER_ACCOUNT (source), result, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * natter_client_sign_out_async:
 * @self: a #NatterClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Closes the connection and revokes the token everywhere. The local store
 * stays on disk for the next sign-in.
 */
void
natter_client_sign_out_async (NatterClient *self,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data)
{
  GTask *task;

  g_return_if_fail (NATTER_IS_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_client_sign_out_async);

  natter_connection_stop (self->connection);
  natter_account_logout_async (self->account, cancellable, on_logged_out, task);
}

/**
 * natter_client_sign_out_everywhere_async:
 * @self: a #NatterClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done; finish with natter_client_sign_out_finish()
 * @user_data: data for @callback
 *
 * Like natter_client_sign_out_async(), and the server also revokes every
 * other token of the user, signing out their other devices.
 */
void
natter_client_sign_out_everywhere_async (NatterClient *self,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data)
{
  GTask *task;

  g_return_if_fail (NATTER_IS_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_client_sign_out_everywhere_async);

  natter_connection_stop (self->connection);
  natter_account_logout_everywhere_async (self->account, cancellable, on_logged_out, task);
}

/**
 * natter_client_sign_out_finish:
 * @self: a #NatterClient
 * @result: the result
 * @error: a #GError, if the server could not be told
 *
 * Returns: %TRUE if the token was revoked on the server
 */
gboolean
natter_client_sign_out_finish (NatterClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_conversation_list_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  NatterClient *self = g_task_get_source_object (task);
  NatterStore *store = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;

  body = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  if (body == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  /* The profile may have changed while the request ran. */
  if (store != self->store) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "The profile changed");
    return;
  }

  if (!store_conversation_list (store, body, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  g_task_return_boolean (task, TRUE);
}

/**
 * natter_client_refresh_conversations_async:
 * @self: a #NatterClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when stored
 * @user_data: data for @callback
 *
 * Fetches the conversation list over HTTP into the store: participants,
 * unread counts and last messages.
 */
void
natter_client_refresh_conversations_async (NatterClient *self,
                                           GCancellable *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autofree char *path = NULL;

  g_return_if_fail (NATTER_IS_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_client_refresh_conversations_async);

  if (self->store == NULL) {
    g_task_return_new_error (task, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN,
                             "Not signed in");
    return;
  }

  g_task_set_task_data (task, g_object_ref (self->store), g_object_unref);
  path = natter_account_build_profile_path (self->account, "/conversations");
  natter_account_request_async (self->account, "GET", path, NULL, cancellable,
                                on_conversation_list_answer, g_steal_pointer (&task));
}

/**
 * natter_client_refresh_conversations_finish:
 * @self: a #NatterClient
 * @result: the result
 * @error: a #GError
 *
 * Returns: %TRUE if the list was stored
 */
gboolean
natter_client_refresh_conversations_finish (NatterClient *self,
                                            GAsyncResult *result,
                                            GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_client_open_conversation:
 * @self: a #NatterClient
 * @conversation_id: the conversation
 *
 * Returns: (transfer full) (nullable): its messages, loaded page by page
 *   from the local store; %NULL while signed out
 */
NatterMessageList *
natter_client_open_conversation (NatterClient *self, gint64 conversation_id)
{
  NatterMessageList *list;

  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);
  g_return_val_if_fail (conversation_id > 0, NULL);

  if (self->store == NULL)
    return NULL;

  list = natter_message_list_new (self->store, self->account, conversation_id);
  natter_message_list_set_attachment_transfers (list, self->transfers);

  return list;
}

static char *
enqueue_message (NatterClient *self,
                 gint64 conversation_id,
                 const NatterProfile *peer,
                 const char *text,
                 GError **error)
{
  g_autofree char *client_msg_id = NULL;
  g_autofree char *trimmed = NULL;
  glong length;

  if (self->store == NULL) {
    g_set_error (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN, "Not signed in");
    return NULL;
  }

  trimmed = g_strstrip (g_strdup (text));
  length = g_utf8_strlen (trimmed, -1);
  if (length < 1 || length > NATTER_MAX_CHAT_TEXT_CHARS) {
    g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_TOO_LONG,
                 "A message has 1 to %d characters", NATTER_MAX_CHAT_TEXT_CHARS);
    return NULL;
  }

  client_msg_id = g_uuid_string_random ();
  if (!natter_store_outbox_add (self->store, client_msg_id, conversation_id, peer, trimmed, error))
    return NULL;

  natter_connection_flush_outbox (self->connection);

  return g_steal_pointer (&client_msg_id);
}

/**
 * natter_client_send_message:
 * @self: a #NatterClient
 * @conversation_id: the conversation
 * @text: the text, 1..4096 characters after trimming
 * @error: a #GError
 *
 * Writes the message to the outbox and sends it when connected; it is
 * re-sent after every reconnect and restart until the server acknowledges it.
 *
 * Returns: (transfer full) (nullable): the message's client_msg_id
 */
char *
natter_client_send_message (NatterClient *self,
                            gint64 conversation_id,
                            const char *text,
                            GError **error)
{
  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);
  g_return_val_if_fail (conversation_id > 0, NULL);
  g_return_val_if_fail (text != NULL, NULL);

  return enqueue_message (self, conversation_id, NULL, text, error);
}

/**
 * natter_client_send_message_to_profile:
 * @self: a #NatterClient
 * @peer: the other person
 * @text: the text, 1..4096 characters after trimming
 * @error: a #GError
 *
 * Like natter_client_send_message(), to the direct conversation with @peer,
 * which the server creates if needed.
 *
 * Returns: (transfer full) (nullable): the message's client_msg_id
 */
char *
natter_client_send_message_to_profile (NatterClient *self,
                                       const NatterProfile *peer,
                                       const char *text,
                                       GError **error)
{
  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);
  g_return_val_if_fail (peer != NULL, NULL);
  g_return_val_if_fail (text != NULL, NULL);

  return enqueue_message (self, 0, peer, text, error);
}

/**
 * natter_client_retry_message:
 * @self: a #NatterClient
 * @client_msg_id: a failed message
 * @error: a #GError
 *
 * Makes a failed message pending again and sends it.
 *
 * Returns: %TRUE if queued
 */
gboolean
natter_client_retry_message (NatterClient *self, const char *client_msg_id, GError **error)
{
  g_return_val_if_fail (NATTER_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (client_msg_id != NULL, FALSE);

  if (self->store == NULL) {
    g_set_error (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN, "Not signed in");
    return FALSE;
  }

  if (!natter_store_outbox_retry (self->store, client_msg_id, error))
    return FALSE;

  natter_connection_flush_outbox (self->connection);

  return TRUE;
}

/**
 * natter_client_mark_read:
 * @self: a #NatterClient
 * @conversation_id: the conversation
 * @up_to_seq: the newest message the user has seen
 *
 * Moves the read marker in the store at once (the unread count drops) and
 * tells the server now if connected, else after the next hello, also
 * after a restart, until the server's read receipt confirms it. That
 * receipt updates the unread count on every device.
 *
 * Returns: %TRUE if the marker was recorded (or already was)
 */
gboolean
natter_client_mark_read (NatterClient *self, gint64 conversation_id, gint64 up_to_seq)
{
  g_autoptr (GError) error = NULL;
  gboolean changed = FALSE;

  g_return_val_if_fail (NATTER_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (conversation_id > 0, FALSE);

  if (self->store == NULL)
    return FALSE;

  if (!natter_store_mark_read (self->store, conversation_id, up_to_seq, &changed, &error)) {
    g_warning ("Cannot store a read marker: %s", error->message);
    return FALSE;
  }

  if (changed)
    send_pending_reads (self);

  return TRUE;
}

/**
 * natter_client_set_typing:
 * @self: a #NatterClient
 * @conversation_id: the conversation
 * @active: whether the user is typing
 *
 * Typing is ephemeral: while disconnected it is dropped, not queued (a
 * "typing" from minutes ago would be wrong when it finally arrives).
 *
 * Returns: %TRUE if sent
 */
gboolean
natter_client_set_typing (NatterClient *self, gint64 conversation_id, gboolean active)
{
  g_autoptr (NatterFrame) frame = NULL;

  g_return_val_if_fail (NATTER_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (conversation_id > 0, FALSE);

  frame = natter_frame_new (NATTER_FRAME_TYPING);
  frame->conversation_id = conversation_id;
  frame->active = active;

  return natter_connection_send_frame (self->connection, frame);
}

/**
 * natter_client_refresh_calls_async:
 * @self: a #NatterClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when stored
 * @user_data: data for @callback
 *
 * Fetches the newest calls of the server's call log into the store, where
 * each becomes a row of its conversation.
 */
void
natter_client_refresh_calls_async (NatterClient *self,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autofree char *path = NULL;

  g_return_if_fail (NATTER_IS_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_client_refresh_calls_async);

  if (self->store == NULL || natter_account_get_active_profile (self->account) == NULL) {
    g_task_return_new_error (task, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN,
                             "Not signed in");
    return;
  }

  g_task_set_task_data (task, g_object_ref (self->store), g_object_unref);
  path = natter_account_build_profile_path (self->account, "/calls?limit=%d", CALL_LOG_LIMIT);
  natter_account_request_async (self->account, "GET", path, NULL, cancellable, on_call_log_answer,
                                g_steal_pointer (&task));
}

/**
 * natter_client_refresh_calls_finish:
 * @self: a #NatterClient
 * @result: the result
 * @error: a #GError
 *
 * Returns: %TRUE if the call log was stored
 */
gboolean
natter_client_refresh_calls_finish (NatterClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_client_get_attachment_transfers:
 * @self: a #NatterClient
 *
 * Returns: (transfer none) (nullable): the uploads and downloads of the
 *   active profile, %NULL when none is active
 */
NatterAttachmentTransfers *
natter_client_get_attachment_transfers (NatterClient *self)
{
  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);

  return self->transfers;
}

/**
 * natter_client_set_attachment_cache_limit:
 * @self: a #NatterClient
 * @bytes: the most the download cache of each profile keeps
 */
void
natter_client_set_attachment_cache_limit (NatterClient *self, guint64 bytes)
{
  g_return_if_fail (NATTER_IS_CLIENT (self));

  self->attachment_cache_limit = bytes;
  if (self->transfers != NULL)
    natter_attachment_transfers_set_cache_limit (self->transfers, bytes);
}
