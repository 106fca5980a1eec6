/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-client"

/* Messages with files (PROTOCOL.md 1.1 attachments): queued at once with
 * what the sender measured, uploaded by NatterAttachmentTransfers, sent
 * once every file is up; and downloads into the profile's cache. */

#include "config.h"

#include <gdk-pixbuf/gdk-pixbuf.h>

#include "natter-client.h"

static NatterOutboxAttachment *
measure_file (GFile *file, GError **error)
{
  g_autoptr (NatterOutboxAttachment) attachment = g_new0 (NatterOutboxAttachment, 1);
  g_autoptr (GFileInfo) info = NULL;
  g_autofree char *mime_type = NULL;
  const char *content_type;

  info =
    g_file_query_info (file,
                       G_FILE_ATTRIBUTE_STANDARD_SIZE "," G_FILE_ATTRIBUTE_STANDARD_TYPE
                                                      "," G_FILE_ATTRIBUTE_STANDARD_CONTENT_TYPE,
                       G_FILE_QUERY_INFO_NONE, NULL, error);
  if (info == NULL)
    return NULL;

  attachment->path = g_file_get_path (file);
  if (attachment->path == NULL || g_file_info_get_file_type (info) != G_FILE_TYPE_REGULAR) {
    g_autofree char *name = g_file_get_parse_name (file);

    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE, "%s is not a file", name);
    return NULL;
  }

  attachment->name = g_file_get_basename (file);
  if (!natter_attachment_name_is_valid (attachment->name)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_FILENAME,
                 "The name of %s cannot be sent (at most %d characters)", attachment->path,
                 NATTER_MAX_ATTACHMENT_NAME_CHARS);
    return NULL;
  }

  content_type = g_file_info_get_content_type (info);
  mime_type = content_type != NULL ? g_content_type_get_mime_type (content_type) : NULL;
  attachment->content_type =
    mime_type != NULL && natter_attachment_content_type_is_valid (mime_type)
      ? g_ascii_strdown (mime_type, -1)
      : g_strdup ("application/octet-stream");
  attachment->size = g_file_info_get_size (info);

  /* The receiver reserves the space before the image arrives. Only the
   * header is read. */
  if (g_str_has_prefix (attachment->content_type, "image/")) {
    int width = 0, height = 0;

    if (gdk_pixbuf_get_file_info (attachment->path, &width, &height) != NULL && width > 0 &&
        height > 0 && width <= NATTER_MAX_IMAGE_SIDE && height <= NATTER_MAX_IMAGE_SIDE) {
      attachment->width = width;
      attachment->height = height;
    }
  }

  return g_steal_pointer (&attachment);
}

/* A client that shows no files still gets a readable text: their names. */
static char *
text_for_files (GPtrArray *attachments)
{
  g_autoptr (GString) text = g_string_new (NULL);

  for (guint i = 0; i < attachments->len; i++) {
    NatterOutboxAttachment *attachment = g_ptr_array_index (attachments, i);

    if (i > 0)
      g_string_append (text, ", ");
    g_string_append (text, attachment->name);
  }

  if (g_utf8_strlen (text->str, -1) > NATTER_MAX_CHAT_TEXT_CHARS)
    g_string_truncate (text, g_utf8_offset_to_pointer (text->str, NATTER_MAX_CHAT_TEXT_CHARS) -
                               text->str);

  return g_string_free (g_steal_pointer (&text), FALSE);
}

/**
 * natter_client_send_message_with_attachments:
 * @self: a #NatterClient
 * @conversation_id: the conversation, or 0 with @peer
 * @peer: (nullable): the other person of a direct conversation
 * @text: (nullable): the text; %NULL or empty: the files' names
 * @files: (element-type GFile): 1 to 10 local files
 * @error: a #GError
 *
 * Measures the files (name, type, size, an image's width and height) and
 * writes the message to the outbox at once. The files are then uploaded,
 * streamed from disk, one at a time, and started again after a cut or a
 * restart; the chat_message goes once all are up, exactly once like text.
 * natter_client_cancel_message() takes it back until then.
 *
 * Returns: (transfer full) (nullable): the message's client_msg_id
 */
char *
natter_client_send_message_with_attachments (NatterClient *self,
                                             gint64 conversation_id,
                                             const NatterProfile *peer,
                                             const char *text,
                                             GPtrArray *files,
                                             GError **error)
{
  NatterStore *store;
  g_autoptr (GPtrArray) attachments = NULL;
  g_autofree char *client_msg_id = NULL;
  g_autofree char *trimmed = NULL;

  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);
  g_return_val_if_fail (conversation_id > 0 || peer != NULL, NULL);
  g_return_val_if_fail (files != NULL, NULL);

  store = natter_client_get_store (self);
  if (store == NULL) {
    g_set_error (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN, "Not signed in");
    return NULL;
  }

  if (files->len < 1 || files->len > NATTER_MAX_MESSAGE_ATTACHMENTS) {
    g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_TOO_LONG,
                 "A message carries 1 to %d files", NATTER_MAX_MESSAGE_ATTACHMENTS);
    return NULL;
  }

  attachments = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_outbox_attachment_free);
  for (guint i = 0; i < files->len; i++) {
    NatterOutboxAttachment *attachment = measure_file (g_ptr_array_index (files, i), error);

    if (attachment == NULL)
      return NULL;
    g_ptr_array_add (attachments, attachment);
  }

  trimmed = g_strstrip (g_strdup (text != NULL ? text : ""));
  if (trimmed[0] == '\0') {
    g_free (trimmed);
    trimmed = text_for_files (attachments);
  }
  if (g_utf8_strlen (trimmed, -1) > NATTER_MAX_CHAT_TEXT_CHARS) {
    g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_TOO_LONG,
                 "A message has at most %d characters", NATTER_MAX_CHAT_TEXT_CHARS);
    return NULL;
  }

  client_msg_id = g_uuid_string_random ();
  if (!natter_store_outbox_add_with_attachments (store, client_msg_id, conversation_id, peer,
                                                 trimmed, attachments, error))
    return NULL;

  natter_attachment_transfers_start_uploads (natter_client_get_attachment_transfers (self));

  return g_steal_pointer (&client_msg_id);
}

/**
 * natter_client_cancel_message:
 * @self: a #NatterClient
 * @client_msg_id: a message whose files are going up, or that failed
 * @error: a #GError
 *
 * Cancel on an upload: the message is taken out of the outbox and never
 * sent (what a person expects of Cancel before a message has left); its
 * items turn cancelled. A message whose files are all up is already on its
 * way and cannot be taken back (%G_IO_ERROR_BUSY).
 *
 * Returns: %TRUE if taken back
 */
gboolean
natter_client_cancel_message (NatterClient *self, const char *client_msg_id, GError **error)
{
  NatterAttachmentTransfers *transfers;

  g_return_val_if_fail (NATTER_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (client_msg_id != NULL, FALSE);

  transfers = natter_client_get_attachment_transfers (self);
  if (transfers == NULL) {
    g_set_error (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN, "Not signed in");
    return FALSE;
  }

  return natter_attachment_transfers_cancel_message (transfers, client_msg_id, error);
}

static void
on_downloaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  char *path;

  path = natter_attachment_transfers_download_finish (NATTER_ATTACHMENT_TRANSFERS (source), result,
                                                      &error);
  if (path == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, path, g_free);
}

/**
 * natter_client_download_attachment_async:
 * @self: a #NatterClient
 * @attachment_id: the attachment
 * @cancellable: (nullable): stops the download
 * @callback: called with the file
 * @user_data: data for @callback
 *
 * Gets the attachment into the active profile's download cache (a folder
 * beside its store, kept under natter_client_set_attachment_cache_limit()),
 * verified against its SHA-256; progress shows on its
 * #NatterAttachmentItem.
 */
void
natter_client_download_attachment_async (NatterClient *self,
                                         gint64 attachment_id,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  NatterAttachmentTransfers *transfers;

  g_return_if_fail (NATTER_IS_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_client_download_attachment_async);

  transfers = natter_client_get_attachment_transfers (self);
  if (transfers == NULL) {
    g_task_return_new_error (task, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN,
                             "Not signed in");
    return;
  }

  natter_attachment_transfers_download_async (transfers, attachment_id, cancellable, on_downloaded,
                                              g_steal_pointer (&task));
}

/**
 * natter_client_download_attachment_finish:
 * @self: a #NatterClient
 * @result: the result
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable) (type filename): the verified file
 */
char *
natter_client_download_attachment_finish (NatterClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
