/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-attachment-transfers"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixoutputstream.h>
#include <glib/gstdio.h>
#include <string.h>

#include "natter-attachment-transfers.h"
#include "natter-http-body.h"

/* Moves the bytes of attachments, for one profile's store: uploads the
 * files of outbox messages one at a time, streamed from disk (a cut link
 * or a restart starts that file again from its beginning; the message's
 * chat_message goes only once every file has its id, so it is still sent
 * exactly once), and downloads into a cache folder beside the store,
 * verified against the SHA-256 and kept under a size limit by evicting the
 * least recently used. It also keeps the live NatterAttachmentItems, so
 * every row that shows an attachment shares the one that moves. */

#define UPLOAD_RETRY_MS 1000
#define DOWNLOAD_CHUNK_BYTES (512 * 1024)
/* A download cut by the network goes on where it stopped (Range), after
 * 0.25 s, 0.5 s, ... up to 8 s between tries: about a minute in all. */
#define DOWNLOAD_RETRY_FIRST_MS 250
#define DOWNLOAD_RETRY_MAX_MS 8000
#define DOWNLOAD_MAX_RETRIES 10

enum { PROP_0, PROP_CACHE_LIMIT, N_PROPS };

static GParamSpec *properties[N_PROPS];

enum { UPLOAD_FAILED, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterAttachmentTransfers {
  GObject parent_instance;

  NatterAccount *account;
  NatterStore *store;
  NatterConnection *connection;
  guint64 cache_limit;

  GHashTable *items; /* key -> NatterAttachmentItem, weak */

  /* The one upload under way. */
  char *upload_msg_id;
  guint upload_position;
  NatterAttachmentItem *upload_item;
  GCancellable *upload_cancellable;
  goffset upload_sent;
  goffset upload_total;
  guint retry_source_id;
  guint start_source_id;
};

G_DEFINE_FINAL_TYPE (NatterAttachmentTransfers, natter_attachment_transfers, G_TYPE_OBJECT)

/* One key of the live items: an item shown under two keys (its outbox
 * place and, once uploaded, its id) has two. */
typedef struct {
  NatterAttachmentTransfers *self; /* cleared when it goes first */
  char *key;
  NatterAttachmentItem *item; /* weak */
} ItemWatch;

static void start_next_upload (NatterAttachmentTransfers *self);

static void
on_item_finalized (gpointer data, GObject *where_the_object_was)
{
  ItemWatch *watch = data;

  if (watch->self != NULL && g_hash_table_lookup (watch->self->items, watch->key) == watch)
    g_hash_table_remove (watch->self->items, watch->key);

  g_free (watch->key);
  g_free (watch);
}

static void
forget_item (ItemWatch *watch)
{
  g_object_weak_unref (G_OBJECT (watch->item), on_item_finalized, watch);
  g_free (watch->key);
  g_free (watch);
}

static void
remember_item (NatterAttachmentTransfers *self, const char *key, NatterAttachmentItem *item)
{
  ItemWatch *watch = g_hash_table_lookup (self->items, key);

  if (watch != NULL) {
    if (watch->item == item)
      return;
    g_hash_table_steal (self->items, key);
    forget_item (watch);
  }

  watch = g_new0 (ItemWatch, 1);
  watch->self = self;
  watch->key = g_strdup (key);
  watch->item = item;
  g_object_weak_ref (G_OBJECT (item), on_item_finalized, watch);
  g_hash_table_insert (self->items, watch->key, watch);
}

static NatterAttachmentItem *
lookup_item (NatterAttachmentTransfers *self, const char *key)
{
  ItemWatch *watch = g_hash_table_lookup (self->items, key);

  return watch != NULL ? g_object_ref (watch->item) : NULL;
}

static char *
outbox_key (const char *client_msg_id, guint position)
{
  return g_strdup_printf ("o:%s:%u", client_msg_id, position);
}

static char *
attachment_key (gint64 attachment_id)
{
  return g_strdup_printf ("a:%" G_GINT64_FORMAT, attachment_id);
}

/* (transfer none) */
static NatterAttachmentItem *
find_attachment_item (NatterAttachmentTransfers *self, gint64 attachment_id)
{
  g_autofree char *key = attachment_key (attachment_id);
  ItemWatch *watch = g_hash_table_lookup (self->items, key);

  return watch != NULL ? watch->item : NULL;
}

/* Permanent: the server will say the same again (too large, not a
 * participant, quota). */
static gboolean
status_is_permanent (guint status)
{
  return status >= 400 && status < 500 && status != SOUP_STATUS_REQUEST_TIMEOUT && status != 429;
}

static void
finish_upload (NatterAttachmentTransfers *self)
{
  g_clear_pointer (&self->upload_msg_id, g_free);
  g_clear_object (&self->upload_item);
  g_clear_object (&self->upload_cancellable);
  self->upload_sent = 0;
  self->upload_total = 0;
}

static gboolean
on_retry_upload (gpointer user_data)
{
  NatterAttachmentTransfers *self = user_data;

  self->retry_source_id = 0;
  start_next_upload (self);

  return G_SOURCE_REMOVE;
}

static void
retry_later (NatterAttachmentTransfers *self)
{
  if (self->retry_source_id == 0)
    self->retry_source_id = g_timeout_add (UPLOAD_RETRY_MS, on_retry_upload, self);
}

static void
fail_message (NatterAttachmentTransfers *self,
              const char *client_msg_id,
              const char *code,
              const char *reason)
{
  g_autoptr (GError) error = NULL;

  if (self->upload_item != NULL)
    natter_attachment_item_set_state (self->upload_item, NATTER_ATTACHMENT_STATE_FAILED, reason);
  if (!natter_store_outbox_fail (self->store, client_msg_id, code, reason, &error)) {
    g_warning ("Cannot mark a message failed: %s", error->message);
    return;
  }

  g_signal_emit (self, signals[UPLOAD_FAILED], 0, client_msg_id, code, reason);
}

static void
on_wrote_body_data (SoupMessage *message, guint chunk_size, gpointer user_data)
{
  NatterAttachmentTransfers *self = user_data;

  self->upload_sent += chunk_size;
  if (self->upload_item != NULL && self->upload_total > 0)
    natter_attachment_item_set_progress (self->upload_item,
                                         (double) self->upload_sent / self->upload_total);
}

static void
on_uploaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterAttachmentTransfers) self = user_data;
  SoupMessage *message = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterAttachment) uploaded = NULL;
  g_autofree char *client_msg_id = NULL;
  guint status;

  g_signal_handlers_disconnect_by_func (message, on_wrote_body_data, self);
  body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);

  /* Cancelled: the message was taken back (or the profile closed). */
  if (self->store == NULL || self->upload_msg_id == NULL ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    finish_upload (self);
    if (self->store != NULL)
      start_next_upload (self);
    return;
  }

  client_msg_id = g_strdup (self->upload_msg_id);

  if (body == NULL) {
    g_debug ("Upload of %s interrupted: %s; it starts again", client_msg_id, error->message);
    natter_attachment_item_set_progress (self->upload_item, 0);
    finish_upload (self);
    retry_later (self);
    return;
  }

  status = soup_message_get_status (message);
  if (!SOUP_STATUS_IS_SUCCESSFUL (status)) {
    g_autoptr (GError) refused = natter_account_error_for_status (status, body);
    g_autofree char *code = NULL;
    gsize length;
    const char *data = g_bytes_get_data (body, &length);

    if (!status_is_permanent (status)) {
      g_debug ("Upload of %s refused for now: %s", client_msg_id, refused->message);
      natter_attachment_item_set_progress (self->upload_item, 0);
      finish_upload (self);
      retry_later (self);
      return;
    }

    if (data == NULL || !natter_http_error_parse (data, length, &code, NULL))
      code = g_strdup (status == SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE ? "too_large" : "refused");
    fail_message (self, client_msg_id, code, refused->message);
    finish_upload (self);
    start_next_upload (self);
    return;
  }

  {
    gsize length;
    const char *data = g_bytes_get_data (body, &length);

    uploaded = natter_attachment_parse (data != NULL ? data : "", length, &error);
  }
  if (uploaded == NULL) {
    fail_message (self, client_msg_id, "bad_response", error->message);
    finish_upload (self);
    start_next_upload (self);
    return;
  }

  if (!natter_store_outbox_set_uploaded (self->store, client_msg_id, self->upload_position,
                                         uploaded, &error)) {
    g_warning ("Cannot keep an uploaded attachment's id: %s", error->message);
    finish_upload (self);
    retry_later (self);
    return;
  }

  {
    g_autofree char *key = attachment_key (uploaded->attachment_id);

    natter_attachment_item_set_uploaded (self->upload_item, uploaded->attachment_id,
                                         uploaded->sha256);
    remember_item (self, key, self->upload_item);
  }

  finish_upload (self);
  natter_connection_flush_outbox (self->connection);
  start_next_upload (self);
}

static void
upload_to (NatterAttachmentTransfers *self,
           const NatterOutboxEntry *entry,
           const NatterOutboxAttachment *attachment,
           gint64 conversation_id)
{
  g_autoptr (GFile) file = g_file_new_for_path (attachment->path);
  g_autoptr (GFileInputStream) stream = NULL;
  g_autoptr (GFileInfo) info = NULL;
  g_autoptr (SoupMessage) message = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) query = g_string_new (NULL);
  g_autofree char *escaped = g_uri_escape_string (attachment->name, NULL, FALSE);
  g_autofree char *path = NULL;

  stream = g_file_read (file, NULL, &error);
  if (stream != NULL)
    info = g_file_input_stream_query_info (stream, G_FILE_ATTRIBUTE_STANDARD_SIZE, NULL, &error);
  if (info == NULL) {
    fail_message (self, entry->client_msg_id, "file_unreadable", error->message);
    finish_upload (self);
    start_next_upload (self);
    return;
  }

  g_string_append_printf (query, "?name=%s", escaped);
  if (attachment->width > 0 && attachment->height > 0)
    g_string_append_printf (query, "&width=%d&height=%d", attachment->width, attachment->height);
  path = natter_account_build_profile_path (self->account,
                                            "/conversations/%" G_GINT64_FORMAT "/attachments%s",
                                            conversation_id, query->str);
  message = natter_account_new_message (self->account, "POST", path);
  if (message == NULL) {
    fail_message (self, entry->client_msg_id, "bad_server_url", "Not a valid server URL");
    finish_upload (self);
    return;
  }

  /* Streamed from the file as the socket takes it: never whole in memory. */
  self->upload_total = g_file_info_get_size (info);
  self->upload_sent = 0;
  soup_message_set_request_body (message, attachment->content_type, G_INPUT_STREAM (stream),
                                 self->upload_total);
  g_signal_connect (message, "wrote-body-data", G_CALLBACK (on_wrote_body_data), self);
  natter_attachment_item_set_state (self->upload_item, NATTER_ATTACHMENT_STATE_UPLOADING, NULL);
  natter_attachment_item_set_progress (self->upload_item, 0);

  /* At the default priority: below idle (G_PRIORITY_LOW), a window that
   * keeps redrawing (a progress bar, a spinner) held the server's answer
   * back for seconds. */
  soup_session_send_and_read_async (natter_account_get_session (self->account), message,
                                    G_PRIORITY_DEFAULT, self->upload_cancellable, on_uploaded,
                                    g_object_ref (self));
}

typedef struct {
  NatterAttachmentTransfers *self;
  NatterOutboxEntry *entry;
  guint position;
} ConversationWait;

static void
on_conversation_for_upload (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ConversationWait *wait = user_data;
  g_autoptr (NatterAttachmentTransfers) self = wait->self;
  g_autoptr (NatterOutboxEntry) entry = wait->entry;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  g_autoptr (NatterConversation) conversation = NULL;
  guint position = wait->position;

  g_free (wait);

  body = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  if (self->store == NULL || self->upload_msg_id == NULL || entry == NULL ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
      g_strcmp0 (self->upload_msg_id, entry->client_msg_id) != 0) {
    finish_upload (self);
    if (self->store != NULL)
      start_next_upload (self);
    return;
  }

  if (body != NULL) {
    gsize length;
    const char *data = g_bytes_get_data (body, &length);

    conversation = natter_conversation_parse (data != NULL ? data : "", length, &error);
  }

  if (conversation == NULL) {
    if (g_error_matches (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_FORBIDDEN) ||
        g_error_matches (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NOT_FOUND)) {
      fail_message (self, entry->client_msg_id, "not_allowed", error->message);
      finish_upload (self);
      start_next_upload (self);
    } else {
      finish_upload (self);
      retry_later (self);
    }
    return;
  }

  upload_to (self, entry, g_ptr_array_index (entry->attachments, position),
             conversation->conversation_id);
}

static void
start_upload (NatterAttachmentTransfers *self,
              const NatterOutboxEntry *entry,
              const NatterOutboxAttachment *attachment)
{
  gint64 conversation_id = entry->conversation_id;

  self->upload_msg_id = g_strdup (entry->client_msg_id);
  self->upload_position = attachment->position;
  self->upload_item = natter_attachment_transfers_item_for_outbox (self, entry, attachment);
  self->upload_cancellable = g_cancellable_new ();

  if (conversation_id <= 0 && entry->to_profile != NULL)
    conversation_id = natter_store_find_direct_conversation (self->store, entry->to_profile);

  /* Files go up into a conversation: a first message to someone makes
   * (or finds) the direct conversation first. */
  if (conversation_id <= 0 && entry->to_profile != NULL) {
    g_autoptr (GPtrArray) with = g_ptr_array_new ();
    g_autofree char *body = NULL;
    g_autofree char *path = natter_account_build_profile_path (self->account, "/conversations");
    ConversationWait *wait = g_new0 (ConversationWait, 1);

    g_ptr_array_add (with, entry->to_profile);
    body = natter_conversation_request_to_json (with);
    wait->self = g_object_ref (self);
    wait->entry = natter_store_outbox_lookup (self->store, entry->client_msg_id);
    wait->position = attachment->position;
    natter_account_request_async (self->account, "POST", path, body, self->upload_cancellable,
                                  on_conversation_for_upload, wait);
    return;
  }

  upload_to (self, entry, attachment, conversation_id);
}

static void
start_next_upload (NatterAttachmentTransfers *self)
{
  g_autoptr (GPtrArray) entries = NULL;

  if (self->store == NULL || self->upload_msg_id != NULL || self->retry_source_id != 0)
    return;
  if (natter_connection_get_state (self->connection) != NATTER_CONNECTION_STATE_CONNECTED)
    return;
  if (natter_account_get_active_profile (self->account) == NULL)
    return;

  entries = natter_store_outbox_list (self->store, 0, TRUE);
  for (guint i = 0; i < entries->len; i++) {
    NatterOutboxEntry *entry = g_ptr_array_index (entries, i);

    for (guint j = 0; entry->attachments != NULL && j < entry->attachments->len; j++) {
      NatterOutboxAttachment *attachment = g_ptr_array_index (entry->attachments, j);

      if (attachment->attachment_id <= 0) {
        start_upload (self, entry, attachment);
        return;
      }
    }
  }
}

static void
on_connection_state (NatterAttachmentTransfers *self)
{
  start_next_upload (self);
}

static gboolean
on_start_uploads (gpointer user_data)
{
  NatterAttachmentTransfers *self = user_data;

  self->start_source_id = 0;
  start_next_upload (self);

  return G_SOURCE_REMOVE;
}

/* After the change's transaction is committed, once per burst. */
static void
on_outbox_changed (NatterAttachmentTransfers *self)
{
  if (self->start_source_id == 0)
    self->start_source_id = g_idle_add (on_start_uploads, self);
}

static void
natter_attachment_transfers_get_property (GObject *object,
                                          guint prop_id,
                                          GValue *value,
                                          GParamSpec *pspec)
{
  NatterAttachmentTransfers *self = NATTER_ATTACHMENT_TRANSFERS (object);

  switch (prop_id) {
    case PROP_CACHE_LIMIT:
      g_value_set_uint64 (value, self->cache_limit);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_attachment_transfers_set_property (GObject *object,
                                          guint prop_id,
                                          const GValue *value,
                                          GParamSpec *pspec)
{
  NatterAttachmentTransfers *self = NATTER_ATTACHMENT_TRANSFERS (object);

  switch (prop_id) {
    case PROP_CACHE_LIMIT:
      natter_attachment_transfers_set_cache_limit (self, g_value_get_uint64 (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_attachment_transfers_dispose (GObject *object)
{
  NatterAttachmentTransfers *self = NATTER_ATTACHMENT_TRANSFERS (object);

  g_clear_handle_id (&self->retry_source_id, g_source_remove);
  g_clear_handle_id (&self->start_source_id, g_source_remove);
  if (self->upload_cancellable != NULL)
    g_cancellable_cancel (self->upload_cancellable);
  finish_upload (self);

  if (self->connection != NULL)
    g_signal_handlers_disconnect_by_data (self->connection, self);
  if (self->store != NULL)
    g_signal_handlers_disconnect_by_data (self->store, self);

  /* Items outlive us in views: they stop telling us they go. */
  {
    g_autoptr (GList) watches = g_hash_table_get_values (self->items);

    g_hash_table_steal_all (self->items);
    g_list_foreach (watches, (GFunc) forget_item, NULL);
  }

  g_clear_object (&self->connection);
  g_clear_object (&self->store);
  g_clear_object (&self->account);

  G_OBJECT_CLASS (natter_attachment_transfers_parent_class)->dispose (object);
}

static void
natter_attachment_transfers_finalize (GObject *object)
{
  NatterAttachmentTransfers *self = NATTER_ATTACHMENT_TRANSFERS (object);

  g_clear_pointer (&self->items, g_hash_table_unref);

  G_OBJECT_CLASS (natter_attachment_transfers_parent_class)->finalize (object);
}

static void
natter_attachment_transfers_class_init (NatterAttachmentTransfersClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_attachment_transfers_get_property;
  object_class->set_property = natter_attachment_transfers_set_property;
  object_class->dispose = natter_attachment_transfers_dispose;
  object_class->finalize = natter_attachment_transfers_finalize;

  /**
   * NatterAttachmentTransfers:cache-limit:
   *
   * The most bytes the download cache keeps; the least recently used
   * copies go first. The newest download stays even if it alone is larger.
   */
  properties[PROP_CACHE_LIMIT] = g_param_spec_uint64 (
    "cache-limit", NULL, NULL, 0, G_MAXUINT64, NATTER_DEFAULT_ATTACHMENT_CACHE_BYTES,
    G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterAttachmentTransfers::upload-failed:
   * @self: the transfers
   * @client_msg_id: the message, now failed in the outbox
   * @code: why, as a word (`too_large`, `file_unreadable`, the server's code)
   * @message: (nullable): why, for people
   *
   * A file of the message was refused for good; the message is kept as
   * failed and can be retried.
   */
  signals[UPLOAD_FAILED] =
    g_signal_new ("upload-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
}

static void
natter_attachment_transfers_init (NatterAttachmentTransfers *self)
{
  self->items = g_hash_table_new (g_str_hash, g_str_equal);
  self->cache_limit = NATTER_DEFAULT_ATTACHMENT_CACHE_BYTES;
}

/**
 * natter_attachment_transfers_new:
 * @account: the account, for its session and token
 * @store: the active profile's store
 * @connection: the connection, whose outbox the uploads feed
 *
 * Returns: (transfer full): the transfers of @store's profile
 */
NatterAttachmentTransfers *
natter_attachment_transfers_new (NatterAccount *account,
                                 NatterStore *store,
                                 NatterConnection *connection)
{
  NatterAttachmentTransfers *self;

  g_return_val_if_fail (NATTER_IS_ACCOUNT (account), NULL);
  g_return_val_if_fail (NATTER_IS_STORE (store), NULL);
  g_return_val_if_fail (NATTER_IS_CONNECTION (connection), NULL);

  self = g_object_new (NATTER_TYPE_ATTACHMENT_TRANSFERS, NULL);
  self->account = g_object_ref (account);
  self->store = g_object_ref (store);
  self->connection = g_object_ref (connection);

  g_signal_connect_swapped (connection, "notify::state", G_CALLBACK (on_connection_state), self);
  g_signal_connect_swapped (store, "outbox-changed", G_CALLBACK (on_outbox_changed), self);

  return self;
}

/**
 * natter_attachment_transfers_get_cache_limit:
 * @self: a #NatterAttachmentTransfers
 *
 * Returns: the download cache's limit in bytes
 */
guint64
natter_attachment_transfers_get_cache_limit (NatterAttachmentTransfers *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_TRANSFERS (self), 0);

  return self->cache_limit;
}

/**
 * natter_attachment_transfers_set_cache_limit:
 * @self: a #NatterAttachmentTransfers
 * @bytes: the download cache's new limit
 *
 * Takes effect at the next download.
 */
void
natter_attachment_transfers_set_cache_limit (NatterAttachmentTransfers *self, guint64 bytes)
{
  g_return_if_fail (NATTER_IS_ATTACHMENT_TRANSFERS (self));

  if (self->cache_limit == bytes)
    return;

  self->cache_limit = bytes;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CACHE_LIMIT]);
}

/**
 * natter_attachment_transfers_item_for_attachment:
 * @self: a #NatterAttachmentTransfers
 * @attachment: an attachment of a stored message
 *
 * Returns: (transfer full): the live item for it, shared with every other
 *   view of it
 */
NatterAttachmentItem *
natter_attachment_transfers_item_for_attachment (NatterAttachmentTransfers *self,
                                                 const NatterAttachment *attachment)
{
  g_autofree char *key = NULL;
  g_autofree char *path = NULL;
  NatterAttachmentItem *item;

  g_return_val_if_fail (NATTER_IS_ATTACHMENT_TRANSFERS (self), NULL);
  g_return_val_if_fail (attachment != NULL, NULL);

  key = attachment_key (attachment->attachment_id);
  item = lookup_item (self, key);
  if (item != NULL)
    return item;

  item = natter_attachment_item_new (
    attachment->attachment_id, attachment->name != NULL ? attachment->name : "",
    attachment->content_type, attachment->size, (int) CLAMP (attachment->width, 0, G_MAXINT),
    (int) CLAMP (attachment->height, 0, G_MAXINT), attachment->sha256);

  if (self->store != NULL)
    path = natter_store_get_attachment_file (self->store, attachment->attachment_id);
  if (path != NULL && g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    g_autofree char *cache_dir = natter_store_get_cache_dir (self->store);
    gboolean cached = g_str_has_prefix (path, cache_dir);

    natter_attachment_item_set_local_path (item, path);
    natter_attachment_item_set_progress (item, 1);
    if (cached)
      natter_attachment_item_set_state (item, NATTER_ATTACHMENT_STATE_DOWNLOADED, NULL);
  }

  remember_item (self, key, item);

  return item;
}

/**
 * natter_attachment_transfers_item_for_outbox:
 * @self: a #NatterAttachmentTransfers
 * @entry: an outbox entry
 * @attachment: one of its files
 *
 * Returns: (transfer full): the live item for it
 */
NatterAttachmentItem *
natter_attachment_transfers_item_for_outbox (NatterAttachmentTransfers *self,
                                             const NatterOutboxEntry *entry,
                                             const NatterOutboxAttachment *attachment)
{
  g_autofree char *key = NULL;
  NatterAttachmentItem *item;

  g_return_val_if_fail (NATTER_IS_ATTACHMENT_TRANSFERS (self), NULL);
  g_return_val_if_fail (entry != NULL, NULL);
  g_return_val_if_fail (attachment != NULL, NULL);

  key = outbox_key (entry->client_msg_id, attachment->position);
  item = lookup_item (self, key);
  if (item == NULL) {
    item = natter_attachment_item_new (attachment->attachment_id, attachment->name,
                                       attachment->content_type, attachment->size,
                                       attachment->width, attachment->height, attachment->sha256);
    natter_attachment_item_set_local_path (item, attachment->path);
    if (attachment->attachment_id > 0)
      natter_attachment_item_set_progress (item, 1);
    else
      natter_attachment_item_set_state (item, NATTER_ATTACHMENT_STATE_UPLOADING, NULL);
    remember_item (self, key, item);
  }

  /* A failed message shows why on the file that did not go up. */
  if (entry->state == NATTER_OUTBOX_FAILED && attachment->attachment_id <= 0)
    natter_attachment_item_set_state (item, NATTER_ATTACHMENT_STATE_FAILED,
                                      entry->error_message != NULL ? entry->error_message
                                                                   : entry->error_code);
  else if (entry->state == NATTER_OUTBOX_PENDING && attachment->attachment_id <= 0)
    natter_attachment_item_set_state (item, NATTER_ATTACHMENT_STATE_UPLOADING, NULL);

  return item;
}

/**
 * natter_attachment_transfers_start_uploads:
 * @self: a #NatterAttachmentTransfers
 *
 * Uploads what the outbox waits for, if connected and not already busy.
 */
void
natter_attachment_transfers_start_uploads (NatterAttachmentTransfers *self)
{
  g_return_if_fail (NATTER_IS_ATTACHMENT_TRANSFERS (self));

  start_next_upload (self);
}

/**
 * natter_attachment_transfers_cancel_message:
 * @self: a #NatterAttachmentTransfers
 * @client_msg_id: a message whose files are going up
 * @error: %G_IO_ERROR_NOT_FOUND if it is not in the outbox,
 *   %G_IO_ERROR_BUSY if its files are all up (its chat_message may already
 *   be on its way and can no longer be taken back)
 *
 * Cancels the upload: the message is taken out of the outbox and never
 * sent, as a person expects of Cancel on a file still going up (the server
 * removes files that are never sent). Its items turn cancelled.
 *
 * Returns: %TRUE if the message was taken back
 */
gboolean
natter_attachment_transfers_cancel_message (NatterAttachmentTransfers *self,
                                            const char *client_msg_id,
                                            GError **error)
{
  g_autoptr (NatterOutboxEntry) entry = NULL;

  g_return_val_if_fail (NATTER_IS_ATTACHMENT_TRANSFERS (self), FALSE);
  g_return_val_if_fail (client_msg_id != NULL, FALSE);

  entry = natter_store_outbox_lookup (self->store, client_msg_id);
  if (entry == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "This message is not waiting to be sent");
    return FALSE;
  }
  if (natter_outbox_entry_is_uploaded (entry) && entry->state == NATTER_OUTBOX_PENDING) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY, "This message is already on its way");
    return FALSE;
  }

  if (g_strcmp0 (self->upload_msg_id, client_msg_id) == 0)
    g_cancellable_cancel (self->upload_cancellable);

  for (guint i = 0; entry->attachments != NULL && i < entry->attachments->len; i++) {
    NatterOutboxAttachment *attachment = g_ptr_array_index (entry->attachments, i);
    g_autofree char *key = outbox_key (client_msg_id, attachment->position);
    ItemWatch *watch = g_hash_table_lookup (self->items, key);

    if (watch != NULL)
      natter_attachment_item_set_state (watch->item, NATTER_ATTACHMENT_STATE_CANCELLED, NULL);
  }

  return natter_store_outbox_remove (self->store, client_msg_id, NULL, error);
}

typedef struct {
  gint64 attachment_id;
  NatterAttachment *expected; /* from the store; NULL if unknown here */
  NatterAttachmentItem *item; /* NULL if nobody shows it */
  SoupMessage *message;
  GInputStream *body;
  GOutputStream *out;
  char *part_path;
  GChecksum *checksum;
  goffset received;
  goffset total;
  char *etag_sha256;
  char *served_name; /* Content-Disposition's, when no stored message names it */
  guint retries;
  GSource *retry_timeout; /* while waiting to go on after a cut */
  GSource *retry_cancelled;
} Download;

static void
stop_retry_wait (Download *download)
{
  if (download->retry_timeout != NULL) {
    g_source_destroy (download->retry_timeout);
    g_clear_pointer (&download->retry_timeout, g_source_unref);
  }
  if (download->retry_cancelled != NULL) {
    g_source_destroy (download->retry_cancelled);
    g_clear_pointer (&download->retry_cancelled, g_source_unref);
  }
}

static void
download_free (Download *download)
{
  stop_retry_wait (download);
  if (download->part_path != NULL)
    g_unlink (download->part_path);
  g_clear_pointer (&download->expected, natter_attachment_free);
  g_clear_object (&download->item);
  g_clear_object (&download->message);
  g_clear_object (&download->body);
  g_clear_object (&download->out);
  g_clear_pointer (&download->part_path, g_free);
  g_clear_pointer (&download->checksum, g_checksum_free);
  g_clear_pointer (&download->etag_sha256, g_free);
  g_clear_pointer (&download->served_name, g_free);
  g_free (download);
}

static void
download_failed (GTask *task, GError *error)
{
  Download *download = g_task_get_task_data (task);

  if (download->item != NULL) {
    gboolean cancelled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

    natter_attachment_item_set_progress (download->item, 0);
    natter_attachment_item_set_state (download->item,
                                      cancelled ? NATTER_ATTACHMENT_STATE_CANCELLED
                                                : NATTER_ATTACHMENT_STATE_FAILED,
                                      cancelled ? NULL : error->message);
  }

  g_task_return_error (task, error);
}

/* An ETag holding a SHA-256 (a content-addressed server's) is the check
 * when no stored message names the attachment. */
static char *
sha256_from_etag (const char *etag)
{
  g_autofree char *bare = NULL;

  if (etag == NULL)
    return NULL;

  if (g_str_has_prefix (etag, "W/"))
    return NULL;
  bare = g_strdup (etag);
  g_strstrip (bare);
  if (bare[0] == '"') {
    gsize length = strlen (bare);

    if (length < 2 || bare[length - 1] != '"')
      return NULL;
    bare[length - 1] = '\0';
    memmove (bare, bare + 1, length - 1);
  }

  return natter_attachment_sha256_is_valid (bare) ? g_ascii_strdown (bare, -1) : NULL;
}

static void
evict_cache (NatterAttachmentTransfers *self, gint64 keep_id)
{
  g_autoptr (GArray) ids = natter_store_list_cached_files (self->store);
  gint64 total = natter_store_get_cache_size (self->store);

  for (guint i = 0; i < ids->len && (guint64) total > self->cache_limit; i++) {
    gint64 id = g_array_index (ids, gint64, i);
    g_autofree char *path = NULL;
    g_autoptr (GError) error = NULL;
    NatterAttachmentItem *item;

    if (id == keep_id)
      continue;

    path = natter_store_get_attachment_file (self->store, id);
    if (path != NULL && g_unlink (path) != 0 && errno != ENOENT) {
      g_warning ("Cannot remove %s from the attachment cache: %s", path, g_strerror (errno));
      continue;
    }
    if (!natter_store_forget_attachment_file (self->store, id, &error)) {
      g_warning ("Cannot forget a cached attachment: %s", error->message);
      return;
    }

    item = find_attachment_item (self, id);
    if (item != NULL) {
      natter_attachment_item_set_local_path (item, NULL);
      natter_attachment_item_set_progress (item, 0);
      natter_attachment_item_set_state (item, NATTER_ATTACHMENT_STATE_REMOTE, NULL);
    }

    total = natter_store_get_cache_size (self->store);
  }
}

static void
download_complete (GTask *task)
{
  NatterAttachmentTransfers *self = g_task_get_source_object (task);
  Download *download = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autofree char *cache_dir = NULL;
  g_autofree char *safe_name = NULL;
  g_autofree char *final_path = NULL;
  const char *expected_sha256 = NULL;
  const char *sha256;

  if (!g_output_stream_close (download->out, NULL, &error)) {
    download_failed (task, g_steal_pointer (&error));
    return;
  }

  if (self->store == NULL) {
    download_failed (
      task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "The profile was closed"));
    return;
  }

  sha256 = g_checksum_get_string (download->checksum);
  if (download->expected != NULL && download->expected->sha256 != NULL)
    expected_sha256 = download->expected->sha256;
  else
    expected_sha256 = download->etag_sha256;

  if ((download->total > 0 && download->received != download->total) ||
      (expected_sha256 != NULL && g_ascii_strcasecmp (sha256, expected_sha256) != 0)) {
    download_failed (task,
                     g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                  "The downloaded file is not the one sent (%" G_GOFFSET_FORMAT
                                  " bytes, SHA-256 %s)",
                                  download->received, sha256));
    return;
  }

  cache_dir = natter_store_get_cache_dir (self->store);
  if (download->expected != NULL && download->expected->name != NULL)
    safe_name = g_strdup (download->expected->name);
  else
    safe_name = g_strdup (download->served_name != NULL ? download->served_name : "attachment");
  g_strdelimit (safe_name, "/\\", '_');
  final_path =
    g_strdup_printf ("%s/%" G_GINT64_FORMAT "-%s", cache_dir, download->attachment_id, safe_name);
  if (g_rename (download->part_path, final_path) != 0) {
    int saved_errno = errno;

    download_failed (task, g_error_new (G_IO_ERROR, g_io_error_from_errno (saved_errno),
                                        "Cannot keep the download in %s: %s", cache_dir,
                                        g_strerror (saved_errno)));
    return;
  }
  g_clear_pointer (&download->part_path, g_free);

  if (!natter_store_set_attachment_file (self->store, download->attachment_id, final_path, TRUE,
                                         download->received, &error)) {
    g_unlink (final_path);
    download_failed (task, g_steal_pointer (&error));
    return;
  }

  evict_cache (self, download->attachment_id);

  if (download->item != NULL) {
    natter_attachment_item_set_local_path (download->item, final_path);
    natter_attachment_item_set_progress (download->item, 1);
    natter_attachment_item_set_state (download->item, NATTER_ATTACHMENT_STATE_DOWNLOADED, NULL);
  }

  g_task_return_pointer (task, g_steal_pointer (&final_path), g_free);
}

static void read_next_chunk (GTask *task);
static void retry_or_fail (GTask *task, GError *error);

static void
on_chunk_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  Download *download = g_task_get_task_data (task);
  g_autoptr (GBytes) chunk = NULL;
  g_autoptr (GError) error = NULL;
  gsize length;
  const guint8 *data;

  chunk = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
  if (chunk == NULL) {
    retry_or_fail (g_steal_pointer (&task), g_steal_pointer (&error));
    return;
  }

  data = g_bytes_get_data (chunk, &length);
  if (length == 0) {
    download_complete (task);
    return;
  }

  /* The server said how much: more is not the file that was sent. */
  if (download->total > 0 && download->received + (goffset) length > download->total) {
    download_failed (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                                "The server sent more than the file's size"));
    return;
  }

  g_checksum_update (download->checksum, data, length);
  if (!g_output_stream_write_all (download->out, data, length, NULL, g_task_get_cancellable (task),
                                  &error)) {
    download_failed (task, g_steal_pointer (&error));
    return;
  }

  download->received += length;
  if (download->item != NULL && download->total > 0)
    natter_attachment_item_set_progress (download->item,
                                         (double) download->received / download->total);

  read_next_chunk (g_steal_pointer (&task));
}

static void
read_next_chunk (GTask *task)
{
  Download *download = g_task_get_task_data (task);

  g_input_stream_read_bytes_async (download->body, DOWNLOAD_CHUNK_BYTES, G_PRIORITY_DEFAULT,
                                   g_task_get_cancellable (task), on_chunk_read, task);
}

static void
on_download_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  NatterAttachmentTransfers *self = g_task_get_source_object (task);
  Download *download = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autofree char *cache_dir = NULL;
  g_autofree char *template = NULL;
  SoupMessageHeaders *headers;
  guint status;
  int fd;

  g_clear_object (&download->body);
  download->body = soup_session_send_finish (SOUP_SESSION (source), result, &error);
  if (download->body == NULL) {
    retry_or_fail (g_steal_pointer (&task), g_steal_pointer (&error));
    return;
  }

  if (self->store == NULL) {
    download_failed (
      task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "The profile was closed"));
    return;
  }

  status = soup_message_get_status (download->message);
  if (!SOUP_STATUS_IS_SUCCESSFUL (status)) {
    download_failed (task, natter_account_error_for_status (status, NULL));
    return;
  }

  headers = soup_message_get_response_headers (download->message);

  /* Going on after a cut: the rest, from where the part file ends. */
  if (download->out != NULL) {
    goffset start = -1, end = -1, length = -1;

    g_debug ("Download of attachment %" G_GINT64_FORMAT " answered %u after a cut",
             download->attachment_id, status);

    if (status == SOUP_STATUS_PARTIAL_CONTENT &&
        soup_message_headers_get_content_range (headers, &start, &end, &length) &&
        start == download->received) {
      read_next_chunk (g_steal_pointer (&task));
      return;
    }
    /* Not the rest of the same bytes: from the start again. */
    g_output_stream_close (download->out, NULL, NULL);
    g_clear_object (&download->out);
    g_unlink (download->part_path);
    g_clear_pointer (&download->part_path, g_free);
    g_clear_pointer (&download->checksum, g_checksum_free);
    g_clear_pointer (&download->etag_sha256, g_free);
    g_clear_pointer (&download->served_name, g_free);
    download->received = 0;
    if (status == SOUP_STATUS_PARTIAL_CONTENT) {
      retry_or_fail (g_steal_pointer (&task),
                     g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                                          "The server sent another part of the file"));
      return;
    }
  }

  download->etag_sha256 = sha256_from_etag (soup_message_headers_get_one (headers, "ETag"));
  {
    g_autoptr (GHashTable) params = NULL;

    if (soup_message_headers_get_content_disposition (headers, NULL, &params) &&
        natter_attachment_name_is_valid (g_hash_table_lookup (params, "filename")))
      download->served_name = g_strdup (g_hash_table_lookup (params, "filename"));
  }
  download->total = soup_message_headers_get_content_length (headers);
  if (download->total <= 0 && download->expected != NULL)
    download->total = download->expected->size;

  cache_dir = natter_store_get_cache_dir (self->store);
  if (g_mkdir_with_parents (cache_dir, 0700) != 0) {
    int saved_errno = errno;

    download_failed (task,
                     g_error_new (G_IO_ERROR, g_io_error_from_errno (saved_errno),
                                  "Cannot create %s: %s", cache_dir, g_strerror (saved_errno)));
    return;
  }

  /* Written beside its final place and renamed once verified: the cache
   * never holds half a file under an attachment's name. */
  template =
    g_strdup_printf ("%s/.%" G_GINT64_FORMAT "-XXXXXX.part", cache_dir, download->attachment_id);
  fd = g_mkstemp_full (template, O_RDWR, 0600);
  if (fd < 0) {
    int saved_errno = errno;

    download_failed (task,
                     g_error_new (G_IO_ERROR, g_io_error_from_errno (saved_errno),
                                  "Cannot write in %s: %s", cache_dir, g_strerror (saved_errno)));
    return;
  }
  download->part_path = g_steal_pointer (&template);
  download->out = g_unix_output_stream_new (fd, TRUE);
  download->checksum = g_checksum_new (G_CHECKSUM_SHA256);

  read_next_chunk (g_steal_pointer (&task));
}

static void
send_download_request (GTask *task)
{
  NatterAttachmentTransfers *self = g_task_get_source_object (task);
  Download *download = g_task_get_task_data (task);
  g_autofree char *path =
    g_strdup_printf ("/api/attachments/%" G_GINT64_FORMAT, download->attachment_id);

  g_clear_object (&download->message);
  download->message = natter_account_new_message (self->account, "GET", path);
  if (download->message == NULL) {
    download_failed (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                                "Not a valid server URL"));
    g_object_unref (task);
    return;
  }
  if (download->out != NULL)
    soup_message_headers_set_range (soup_message_get_request_headers (download->message),
                                    download->received, -1);

  soup_session_send_async (natter_account_get_session (self->account), download->message,
                           G_PRIORITY_DEFAULT, g_task_get_cancellable (task), on_download_answer,
                           task);
}

static gboolean
on_retry_timeout (gpointer user_data)
{
  GTask *task = user_data;
  Download *download = g_task_get_task_data (task);

  stop_retry_wait (download);
  send_download_request (g_object_ref (task));
  return G_SOURCE_REMOVE;
}

static gboolean
on_retry_cancelled (GCancellable *cancellable, gpointer user_data)
{
  GTask *task = user_data;
  Download *download = g_task_get_task_data (task);

  g_object_ref (task);
  stop_retry_wait (download);
  download_failed (
    task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "The download was cancelled"));
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

/* A cut link or a refused connection: tried again, from where the part
 * file ends, while the tries last; anything else fails the download. */
static void
retry_or_fail (GTask *task, GError *error)
{
  Download *download = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  guint delay;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
      (cancellable != NULL && g_cancellable_is_cancelled (cancellable)) ||
      download->retries >= DOWNLOAD_MAX_RETRIES) {
    download_failed (task, error);
    g_object_unref (task);
    return;
  }

  /* The cut request's body holds its connection: let it go, or the
   * session's per-host limit keeps the next try waiting for it. */
  if (download->body != NULL)
    g_input_stream_close (download->body, NULL, NULL);
  g_clear_object (&download->body);
  g_clear_object (&download->message);

  delay =
    MIN ((guint) DOWNLOAD_RETRY_FIRST_MS << MIN (download->retries, 8u), DOWNLOAD_RETRY_MAX_MS);
  download->retries++;
  g_debug ("Download of attachment %" G_GINT64_FORMAT " cut at %" G_GOFFSET_FORMAT
           " bytes (%s): again in %u ms",
           download->attachment_id, download->received, error->message, delay);
  g_error_free (error);

  download->retry_timeout = g_timeout_source_new (delay);
  g_source_set_callback (download->retry_timeout, on_retry_timeout, task, g_object_unref);
  g_source_attach (download->retry_timeout, g_main_context_get_thread_default ());
  if (cancellable != NULL) {
    download->retry_cancelled = g_cancellable_source_new (cancellable);
    g_source_set_callback (download->retry_cancelled, G_SOURCE_FUNC (on_retry_cancelled),
                           g_object_ref (task), g_object_unref);
    g_source_attach (download->retry_cancelled, g_main_context_get_thread_default ());
  }
}

/**
 * natter_attachment_transfers_download_async:
 * @self: a #NatterAttachmentTransfers
 * @attachment_id: the attachment
 * @cancellable: (nullable): stops the download
 * @callback: called with the file
 * @user_data: data for @callback
 *
 * Gets the attachment's bytes into the download cache (or finds them
 * there, or finds the sender's own file), checked against the SHA-256 that
 * the message gives (or the server's ETag when the message is not stored
 * here). The live item's progress follows.
 */
void
natter_attachment_transfers_download_async (NatterAttachmentTransfers *self,
                                            gint64 attachment_id,
                                            GCancellable *cancellable,
                                            GAsyncReadyCallback callback,
                                            gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autofree char *known_path = NULL;
  Download *download;
  NatterAttachmentItem *item;

  g_return_if_fail (NATTER_IS_ATTACHMENT_TRANSFERS (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_attachment_transfers_download_async);

  if (attachment_id <= 0) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                             "Not an attachment id: %" G_GINT64_FORMAT, attachment_id);
    return;
  }

  known_path = natter_store_get_attachment_file (self->store, attachment_id);
  if (known_path != NULL && g_file_test (known_path, G_FILE_TEST_IS_REGULAR)) {
    g_autofree char *cache_dir = natter_store_get_cache_dir (self->store);
    GStatBuf buf;

    /* Used now: the last to be evicted. */
    if (g_str_has_prefix (known_path, cache_dir) && g_stat (known_path, &buf) == 0)
      natter_store_set_attachment_file (self->store, attachment_id, known_path, TRUE, buf.st_size,
                                        NULL);
    g_task_return_pointer (task, g_steal_pointer (&known_path), g_free);
    return;
  }

  download = g_new0 (Download, 1);
  download->attachment_id = attachment_id;
  download->expected = natter_store_lookup_attachment (self->store, attachment_id);
  item = find_attachment_item (self, attachment_id);
  if (item == NULL && download->expected != NULL)
    item = natter_attachment_transfers_item_for_attachment (self, download->expected);
  else if (item != NULL)
    g_object_ref (item);
  download->item = item;
  g_task_set_task_data (task, download, (GDestroyNotify) download_free);

  if (download->item != NULL) {
    natter_attachment_item_set_progress (download->item, 0);
    natter_attachment_item_set_state (download->item, NATTER_ATTACHMENT_STATE_DOWNLOADING, NULL);
  }

  send_download_request (g_steal_pointer (&task));
}

/**
 * natter_attachment_transfers_download_finish:
 * @self: a #NatterAttachmentTransfers
 * @result: the result
 * @error: a #GError: %G_IO_ERROR_INVALID_DATA when the bytes do not match,
 *   %G_IO_ERROR_CANCELLED, a %NATTER_ACCOUNT_ERROR from the server
 *
 * Returns: (transfer full) (nullable) (type filename): the file
 */
char *
natter_attachment_transfers_download_finish (NatterAttachmentTransfers *self,
                                             GAsyncResult *result,
                                             GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
