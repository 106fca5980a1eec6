/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-store"

#include "config.h"

#include "natter-store-private.h"

/* Attachments in the local store: those of stored messages (as the server
 * described them), those of messages still in the outbox (the sender's
 * files, and their ids once uploaded), and the files of attachments on this
 * disk: the sender's originals and the download cache, whose rows keep the
 * last use for eviction. */

static const char attachments_schema_sql[] =
  "CREATE TABLE IF NOT EXISTS message_attachments ("
  "  conversation_id INTEGER NOT NULL,"
  "  seq INTEGER NOT NULL,"
  "  position INTEGER NOT NULL,"
  "  attachment_id INTEGER NOT NULL,"
  "  name TEXT NOT NULL,"
  "  content_type TEXT NOT NULL,"
  "  size INTEGER NOT NULL,"
  "  sha256 TEXT,"
  "  width INTEGER NOT NULL DEFAULT 0,"
  "  height INTEGER NOT NULL DEFAULT 0,"
  "  PRIMARY KEY (conversation_id, seq, position)) WITHOUT ROWID;"
  "CREATE INDEX IF NOT EXISTS message_attachments_by_id ON message_attachments (attachment_id);"
  "CREATE TRIGGER IF NOT EXISTS message_attachments_delete AFTER DELETE ON messages BEGIN"
  "  DELETE FROM message_attachments"
  "    WHERE conversation_id = old.conversation_id AND seq = old.seq;"
  "END;"
  "CREATE TABLE IF NOT EXISTS outbox_attachments ("
  "  client_msg_id TEXT NOT NULL,"
  "  position INTEGER NOT NULL,"
  "  path TEXT NOT NULL,"
  "  name TEXT NOT NULL,"
  "  content_type TEXT NOT NULL,"
  "  size INTEGER NOT NULL,"
  "  width INTEGER NOT NULL DEFAULT 0,"
  "  height INTEGER NOT NULL DEFAULT 0,"
  "  attachment_id INTEGER NOT NULL DEFAULT 0,"
  "  sha256 TEXT,"
  "  PRIMARY KEY (client_msg_id, position)) WITHOUT ROWID;"
  "CREATE TRIGGER IF NOT EXISTS outbox_attachments_delete AFTER DELETE ON outbox BEGIN"
  "  DELETE FROM outbox_attachments WHERE client_msg_id = old.client_msg_id;"
  "END;"
  /* cached = 1: a copy in the download cache, evicted least recently used
   * first; 0: the sender's own file, never touched. */
  "CREATE TABLE IF NOT EXISTS attachment_files ("
  "  attachment_id INTEGER PRIMARY KEY,"
  "  path TEXT NOT NULL,"
  "  cached INTEGER NOT NULL,"
  "  size INTEGER NOT NULL,"
  "  used_at INTEGER NOT NULL);";

gboolean
natter_store_attachments_init (NatterStore *self, GError **error)
{
  char *message = NULL;
  sqlite3 *db = natter_store_get_db (self);

  if (sqlite3_exec (db, attachments_schema_sql, NULL, NULL, &message) != SQLITE_OK) {
    g_set_error (error, g_quark_from_static_string ("natter-store-error"), sqlite3_errcode (db),
                 "Local store: %s", message);
    sqlite3_free (message);
    return FALSE;
  }

  return TRUE;
}

void
natter_outbox_attachment_free (NatterOutboxAttachment *attachment)
{
  if (attachment == NULL)
    return;

  g_free (attachment->path);
  g_free (attachment->name);
  g_free (attachment->content_type);
  g_free (attachment->sha256);
  g_free (attachment);
}

/**
 * natter_outbox_entry_is_uploaded:
 * @entry: an outbox entry
 *
 * Returns: whether every file of @entry is on the server, so its
 *   chat_message may go
 */
gboolean
natter_outbox_entry_is_uploaded (const NatterOutboxEntry *entry)
{
  g_return_val_if_fail (entry != NULL, FALSE);

  if (entry->attachments == NULL)
    return TRUE;

  for (guint i = 0; i < entry->attachments->len; i++) {
    NatterOutboxAttachment *attachment = g_ptr_array_index (entry->attachments, i);

    if (attachment->attachment_id <= 0)
      return FALSE;
  }

  return TRUE;
}

/* Called inside insert_message's transaction, for a message stored the
 * first time. */
gboolean
natter_store_attachments_put (NatterStore *self, const NatterMessage *message, GError **error)
{
  sqlite3_stmt *stmt;

  if (message->attachments == NULL)
    return TRUE;

  for (guint i = 0; i < message->attachments->len; i++) {
    NatterAttachment *attachment = g_ptr_array_index (message->attachments, i);

    stmt = natter_store_statement (
      self, "INSERT OR REPLACE INTO message_attachments (conversation_id, seq, position, "
            "attachment_id, name, content_type, size, sha256, width, height) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    sqlite3_bind_int64 (stmt, 1, message->conversation_id);
    sqlite3_bind_int64 (stmt, 2, message->seq);
    sqlite3_bind_int (stmt, 3, (int) i);
    sqlite3_bind_int64 (stmt, 4, attachment->attachment_id);
    natter_store_bind_text (stmt, 5, attachment->name != NULL ? attachment->name : "");
    natter_store_bind_text (stmt, 6,
                            attachment->content_type != NULL ? attachment->content_type
                                                             : "application/octet-stream");
    sqlite3_bind_int64 (stmt, 7, attachment->size);
    natter_store_bind_text (stmt, 8, attachment->sha256);
    sqlite3_bind_int64 (stmt, 9, attachment->width);
    sqlite3_bind_int64 (stmt, 10, attachment->height);
    if (!natter_store_step_done (self, stmt, error))
      return FALSE;
  }

  return TRUE;
}

static NatterAttachment *
attachment_from_row (sqlite3_stmt *stmt)
{
  NatterAttachment *attachment = natter_attachment_new ();

  attachment->attachment_id = sqlite3_column_int64 (stmt, 0);
  attachment->name = natter_store_column_text (stmt, 1);
  attachment->content_type = natter_store_column_text (stmt, 2);
  attachment->size = sqlite3_column_int64 (stmt, 3);
  attachment->sha256 = natter_store_column_text (stmt, 4);
  attachment->width = sqlite3_column_int64 (stmt, 5);
  attachment->height = sqlite3_column_int64 (stmt, 6);

  return attachment;
}

void
natter_store_attachments_load (NatterStore *self, NatterMessage *message)
{
  sqlite3_stmt *stmt = natter_store_statement (
    self, "SELECT attachment_id, name, content_type, size, sha256, width, height "
          "FROM message_attachments WHERE conversation_id = ?1 AND seq = ?2 ORDER BY position");

  sqlite3_bind_int64 (stmt, 1, message->conversation_id);
  sqlite3_bind_int64 (stmt, 2, message->seq);
  while (sqlite3_step (stmt) == SQLITE_ROW) {
    if (message->attachments == NULL)
      message->attachments =
        g_ptr_array_new_with_free_func ((GDestroyNotify) natter_attachment_free);
    g_ptr_array_add (message->attachments, attachment_from_row (stmt));
  }
  sqlite3_reset (stmt);
}

GPtrArray *
natter_store_outbox_attachments_load (NatterStore *self, const char *client_msg_id)
{
  GPtrArray *attachments =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_outbox_attachment_free);
  sqlite3_stmt *stmt = natter_store_statement (
    self, "SELECT position, path, name, content_type, size, width, height, attachment_id, sha256 "
          "FROM outbox_attachments WHERE client_msg_id = ?1 ORDER BY position");

  natter_store_bind_text (stmt, 1, client_msg_id);
  while (sqlite3_step (stmt) == SQLITE_ROW) {
    NatterOutboxAttachment *attachment = g_new0 (NatterOutboxAttachment, 1);

    attachment->position = (guint) sqlite3_column_int (stmt, 0);
    attachment->path = natter_store_column_text (stmt, 1);
    attachment->name = natter_store_column_text (stmt, 2);
    attachment->content_type = natter_store_column_text (stmt, 3);
    attachment->size = sqlite3_column_int64 (stmt, 4);
    attachment->width = sqlite3_column_int (stmt, 5);
    attachment->height = sqlite3_column_int (stmt, 6);
    attachment->attachment_id = sqlite3_column_int64 (stmt, 7);
    attachment->sha256 = natter_store_column_text (stmt, 8);
    g_ptr_array_add (attachments, attachment);
  }
  sqlite3_reset (stmt);

  return attachments;
}

/**
 * natter_store_outbox_add_with_attachments:
 * @self: a #NatterStore
 * @client_msg_id: the message's idempotency key
 * @conversation_id: the conversation, or 0 with @to_profile
 * @to_profile: (nullable): the peer of a direct conversation
 * @text: the text
 * @attachments: (element-type NatterOutboxAttachment): the files, not yet
 *   uploaded; their positions are set here
 * @error: a #GError
 *
 * Writes a message and its files to the outbox in one transaction.
 *
 * Returns: %TRUE if stored
 */
gboolean
natter_store_outbox_add_with_attachments (NatterStore *self,
                                          const char *client_msg_id,
                                          gint64 conversation_id,
                                          const NatterProfile *to_profile,
                                          const char *text,
                                          GPtrArray *attachments,
                                          GError **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (attachments != NULL, FALSE);

  if (!natter_store_begin (self, error))
    return FALSE;

  for (guint i = 0; i < attachments->len; i++) {
    NatterOutboxAttachment *attachment = g_ptr_array_index (attachments, i);
    sqlite3_stmt *stmt = natter_store_statement (
      self, "INSERT INTO outbox_attachments (client_msg_id, position, path, name, content_type, "
            "size, width, height) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");

    attachment->position = i;
    natter_store_bind_text (stmt, 1, client_msg_id);
    sqlite3_bind_int (stmt, 2, (int) i);
    natter_store_bind_text (stmt, 3, attachment->path);
    natter_store_bind_text (stmt, 4, attachment->name);
    natter_store_bind_text (stmt, 5, attachment->content_type);
    sqlite3_bind_int64 (stmt, 6, attachment->size);
    sqlite3_bind_int (stmt, 7, attachment->width);
    sqlite3_bind_int (stmt, 8, attachment->height);
    if (!natter_store_step_done (self, stmt, error))
      goto failed;
  }

  /* The outbox row last: outbox-changed is emitted with it, and its
   * listeners must find the files. */
  if (!natter_store_outbox_add (self, client_msg_id, conversation_id, to_profile, text, error))
    goto failed;

  return natter_store_commit (self, error);

failed:
  natter_store_rollback (self);
  return FALSE;
}

/**
 * natter_store_outbox_set_uploaded:
 * @self: a #NatterStore
 * @client_msg_id: the message
 * @position: which of its files
 * @uploaded: the server's answer to the upload
 * @error: a #GError
 *
 * Keeps the id the server gave the file, so a restart does not upload it
 * again, and remembers the sender's file as this attachment's local copy.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_outbox_set_uploaded (NatterStore *self,
                                  const char *client_msg_id,
                                  guint position,
                                  const NatterAttachment *uploaded,
                                  GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (uploaded != NULL, FALSE);

  if (!natter_store_begin (self, error))
    return FALSE;

  stmt = natter_store_statement (self, "UPDATE outbox_attachments SET attachment_id = ?3, "
                                       "sha256 = ?4 WHERE client_msg_id = ?1 AND position = ?2");
  natter_store_bind_text (stmt, 1, client_msg_id);
  sqlite3_bind_int (stmt, 2, (int) position);
  sqlite3_bind_int64 (stmt, 3, uploaded->attachment_id);
  natter_store_bind_text (stmt, 4, uploaded->sha256);
  if (!natter_store_step_done (self, stmt, error))
    goto failed;

  stmt = natter_store_statement (
    self, "INSERT OR REPLACE INTO attachment_files (attachment_id, path, cached, size, used_at) "
          "SELECT ?3, path, 0, size, ?4 FROM outbox_attachments "
          "WHERE client_msg_id = ?1 AND position = ?2");
  natter_store_bind_text (stmt, 1, client_msg_id);
  sqlite3_bind_int (stmt, 2, (int) position);
  sqlite3_bind_int64 (stmt, 3, uploaded->attachment_id);
  sqlite3_bind_int64 (stmt, 4, g_get_real_time ());
  if (!natter_store_step_done (self, stmt, error))
    goto failed;

  return natter_store_commit (self, error);

failed:
  natter_store_rollback (self);
  return FALSE;
}

/**
 * natter_store_outbox_remove:
 * @self: a #NatterStore
 * @client_msg_id: the message
 * @out_removed: (out) (optional): %FALSE if it was not in the outbox
 * @error: a #GError
 *
 * Takes a message back before it is sent (its files with it).
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_outbox_remove (NatterStore *self,
                            const char *client_msg_id,
                            gboolean *out_removed,
                            GError **error)
{
  g_autoptr (NatterOutboxEntry) entry = NULL;
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (client_msg_id != NULL, FALSE);

  if (out_removed != NULL)
    *out_removed = FALSE;

  entry = natter_store_outbox_lookup (self, client_msg_id);
  if (entry == NULL)
    return TRUE;

  stmt = natter_store_statement (self, "DELETE FROM outbox WHERE client_msg_id = ?1");
  natter_store_bind_text (stmt, 1, client_msg_id);
  if (!natter_store_step_done (self, stmt, error))
    return FALSE;

  natter_store_emit_outbox_changed (self, entry->conversation_id);
  if (out_removed != NULL)
    *out_removed = TRUE;

  return TRUE;
}

/**
 * natter_store_lookup_attachment:
 * @self: a #NatterStore
 * @attachment_id: an attachment's id
 *
 * Returns: (transfer full) (nullable): the attachment as a stored message
 *   describes it
 */
NatterAttachment *
natter_store_lookup_attachment (NatterStore *self, gint64 attachment_id)
{
  NatterAttachment *attachment = NULL;
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  stmt = natter_store_statement (
    self, "SELECT attachment_id, name, content_type, size, sha256, width, height "
          "FROM message_attachments WHERE attachment_id = ?1 LIMIT 1");
  sqlite3_bind_int64 (stmt, 1, attachment_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    attachment = attachment_from_row (stmt);
  sqlite3_reset (stmt);

  return attachment;
}

/**
 * natter_store_get_attachment_file:
 * @self: a #NatterStore
 * @attachment_id: an attachment's id
 *
 * Returns: (transfer full) (nullable) (type filename): the file known for
 *   it here (it may since have been removed by someone else)
 */
char *
natter_store_get_attachment_file (NatterStore *self, gint64 attachment_id)
{
  char *path = NULL;
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  stmt =
    natter_store_statement (self, "SELECT path FROM attachment_files WHERE attachment_id = ?1");
  sqlite3_bind_int64 (stmt, 1, attachment_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    path = natter_store_column_text (stmt, 0);
  sqlite3_reset (stmt);

  return path;
}

/**
 * natter_store_set_attachment_file:
 * @self: a #NatterStore
 * @attachment_id: an attachment's id
 * @path: (type filename): its file here
 * @cached: %TRUE for a copy in the download cache
 * @size: the file's size
 * @error: a #GError
 *
 * Records the file, or marks it used now.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_set_attachment_file (NatterStore *self,
                                  gint64 attachment_id,
                                  const char *path,
                                  gboolean cached,
                                  gint64 size,
                                  GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  stmt = natter_store_statement (
    self, "INSERT OR REPLACE INTO attachment_files (attachment_id, path, cached, size, used_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5)");
  sqlite3_bind_int64 (stmt, 1, attachment_id);
  natter_store_bind_text (stmt, 2, path);
  sqlite3_bind_int (stmt, 3, cached ? 1 : 0);
  sqlite3_bind_int64 (stmt, 4, size);
  sqlite3_bind_int64 (stmt, 5, g_get_real_time ());

  return natter_store_step_done (self, stmt, error);
}

/**
 * natter_store_forget_attachment_file:
 * @self: a #NatterStore
 * @attachment_id: an attachment's id
 * @error: a #GError
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_forget_attachment_file (NatterStore *self, gint64 attachment_id, GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  stmt = natter_store_statement (self, "DELETE FROM attachment_files WHERE attachment_id = ?1");
  sqlite3_bind_int64 (stmt, 1, attachment_id);

  return natter_store_step_done (self, stmt, error);
}

/**
 * natter_store_get_cache_size:
 * @self: a #NatterStore
 *
 * Returns: the bytes in the download cache
 */
gint64
natter_store_get_cache_size (NatterStore *self)
{
  gint64 size = 0;
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  stmt = natter_store_statement (
    self, "SELECT coalesce (sum (size), 0) FROM attachment_files WHERE cached");
  if (sqlite3_step (stmt) == SQLITE_ROW)
    size = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return size;
}

/**
 * natter_store_list_cached_files:
 * @self: a #NatterStore
 *
 * Returns: (transfer full) (element-type gint64): the attachment ids with
 *   a copy in the download cache, least recently used first
 */
GArray *
natter_store_list_cached_files (NatterStore *self)
{
  GArray *ids;
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  stmt = natter_store_statement (
    self,
    "SELECT attachment_id FROM attachment_files WHERE cached ORDER BY used_at, attachment_id");
  while (sqlite3_step (stmt) == SQLITE_ROW) {
    gint64 id = sqlite3_column_int64 (stmt, 0);

    g_array_append_val (ids, id);
  }
  sqlite3_reset (stmt);

  return ids;
}

/**
 * natter_store_get_cache_dir:
 * @self: a #NatterStore
 *
 * Returns: (transfer full) (type filename): the download cache of this
 *   store, beside its database
 */
char *
natter_store_get_cache_dir (NatterStore *self)
{
  g_autofree char *dir = NULL;
  g_autofree char *base = NULL;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  dir = g_path_get_dirname (natter_store_get_path (self));
  base = g_path_get_basename (natter_store_get_path (self));

  return g_strdup_printf ("%s/%s.attachments", dir, base);
}
