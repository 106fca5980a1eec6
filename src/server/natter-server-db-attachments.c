/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-db"

/* Attachment rows, on the same handle and statement cache as
 * natter-server-db.c. */

#include "natter-protocol.h"
#include "natter-server-db-attachments.h"
#include "natter-server-db-private.h"

/* 3: attachments. created_at in Unix milliseconds; message_id and position
 * NULL until a chat_message sends it. */
const char natter_server_db_attachments_migration[] =
  "CREATE TABLE attachments ("
  "  attachment_id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  user_id INTEGER NOT NULL,"
  "  uploader_id INTEGER NOT NULL,"
  "  uploader_type TEXT NOT NULL,"
  "  conversation_id INTEGER NOT NULL REFERENCES conversations (conversation_id)"
  "    ON DELETE CASCADE,"
  "  name TEXT NOT NULL,"
  "  content_type TEXT NOT NULL,"
  "  size INTEGER NOT NULL,"
  "  sha256 TEXT NOT NULL,"
  "  width INTEGER,"
  "  height INTEGER,"
  "  created_at INTEGER NOT NULL,"
  "  message_id INTEGER REFERENCES messages (message_id) ON DELETE CASCADE,"
  "  position INTEGER);"
  "CREATE INDEX attachments_by_message ON attachments (message_id, position)"
  "  WHERE message_id IS NOT NULL;"
  "CREATE INDEX attachments_unsent ON attachments (created_at) WHERE message_id IS NULL;"
  "CREATE INDEX attachments_by_sha256 ON attachments (sha256);"
  "CREATE INDEX attachments_by_user ON attachments (user_id);";

#define ATTACHMENT_COLUMNS "attachment_id, name, content_type, size, sha256, width, height"

static gboolean
fail (NatterServerDb *self, GError **error)
{
  g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED, "database: %s",
               sqlite3_errmsg (self->handle));
  return FALSE;
}

/* Reads the ATTACHMENT_COLUMNS starting at @first. */
static NatterAttachment *
column_attachment (sqlite3_stmt *stmt, int first)
{
  NatterAttachment *attachment = natter_attachment_new ();

  attachment->attachment_id = sqlite3_column_int64 (stmt, first);
  attachment->name = g_strdup ((const char *) sqlite3_column_text (stmt, first + 1));
  attachment->content_type = g_strdup ((const char *) sqlite3_column_text (stmt, first + 2));
  attachment->size = sqlite3_column_int64 (stmt, first + 3);
  attachment->sha256 = g_strdup ((const char *) sqlite3_column_text (stmt, first + 4));
  attachment->width = sqlite3_column_int64 (stmt, first + 5);
  attachment->height = sqlite3_column_int64 (stmt, first + 6);

  return attachment;
}

static void
bind_optional (sqlite3_stmt *stmt, int index, gint64 value)
{
  if (value > 0)
    sqlite3_bind_int64 (stmt, index, value);
  else
    sqlite3_bind_null (stmt, index);
}

/**
 * natter_server_db_add_attachment:
 * @self: the database
 * @user_id: the uploader's user, whose quota it counts against
 * @uploader: the profile that uploaded it
 * @conversation_id: where it may be sent
 * @attachment: name, content_type, size, sha256, width and height
 * @error: a #NatterServerDbError
 *
 * Returns: (transfer full) (nullable): @attachment with its new id
 */
NatterAttachment *
natter_server_db_add_attachment (NatterServerDb *self,
                                 gint64 user_id,
                                 const NatterProfile *uploader,
                                 gint64 conversation_id,
                                 const NatterAttachment *attachment,
                                 GError **error)
{
  g_autoptr (NatterAttachment) stored = NULL;
  sqlite3_stmt *stmt;
  int rc;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (uploader != NULL && attachment != NULL, NULL);

  stmt = natter_server_db_prepare (
    self,
    "INSERT INTO attachments (user_id, uploader_id, uploader_type, conversation_id, name,"
    " content_type, size, sha256, width, height, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);",
    error);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_int64 (stmt, 2, uploader->profile_id);
  sqlite3_bind_text (stmt, 3, uploader->profile_type, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 4, conversation_id);
  sqlite3_bind_text (stmt, 5, attachment->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 6, attachment->content_type, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 7, attachment->size);
  sqlite3_bind_text (stmt, 8, attachment->sha256, -1, SQLITE_TRANSIENT);
  bind_optional (stmt, 9, attachment->width);
  bind_optional (stmt, 10, attachment->height);
  sqlite3_bind_int64 (stmt, 11, g_get_real_time () / 1000);
  rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE) {
    fail (self, error);
    return NULL;
  }

  stored = natter_attachment_copy (attachment);
  stored->attachment_id = sqlite3_last_insert_rowid (self->handle);
  return g_steal_pointer (&stored);
}

gint64
natter_server_db_get_attachment_usage (NatterServerDb *self, gint64 user_id)
{
  sqlite3_stmt *stmt;
  gint64 used = 0;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);

  stmt = natter_server_db_prepare (
    self, "SELECT COALESCE (SUM (size), 0) FROM attachments WHERE user_id = ?;", NULL);
  if (stmt == NULL)
    return G_MAXINT64;
  sqlite3_bind_int64 (stmt, 1, user_id);
  /* A failed read counts as full: no upload past a quota we cannot see. */
  used = sqlite3_step (stmt) == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : G_MAXINT64;
  sqlite3_reset (stmt);

  return used;
}

gboolean
natter_server_db_user_in_conversation (NatterServerDb *self, gint64 conversation_id, gint64 user_id)
{
  sqlite3_stmt *stmt;
  gboolean found;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);

  stmt =
    natter_server_db_prepare (self,
                              "SELECT 1 FROM participants p JOIN profiles r"
                              " ON r.profile_id = p.profile_id AND r.profile_type = p.profile_type"
                              " WHERE p.conversation_id = ? AND r.user_id = ? LIMIT 1;",
                              NULL);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2, user_id);
  found = sqlite3_step (stmt) == SQLITE_ROW;
  sqlite3_reset (stmt);

  return found;
}

/**
 * natter_server_db_get_attachment_for_user:
 * @self: the database
 * @attachment_id: the attachment asked for
 * @user_id: who asks
 * @out_attachment: (out) (transfer full): the attachment when allowed
 * @error: a #NatterServerDbError, with %NATTER_ATTACHMENT_ACCESS_NONE
 *
 * A sent attachment is for the participants of its conversation; an unsent
 * one only for its uploader, and to anyone else it does not exist.
 *
 * Returns: what @user_id may do
 */
NatterAttachmentAccess
natter_server_db_get_attachment_for_user (NatterServerDb *self,
                                          gint64 attachment_id,
                                          gint64 user_id,
                                          NatterAttachment **out_attachment,
                                          GError **error)
{
  sqlite3_stmt *stmt;
  g_autoptr (NatterAttachment) attachment = NULL;
  gint64 conversation_id;
  gboolean sent;
  gint64 owner;
  int rc;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NATTER_ATTACHMENT_ACCESS_NONE);

  stmt = natter_server_db_prepare (self,
                                   "SELECT " ATTACHMENT_COLUMNS ", conversation_id,"
                                   " message_id IS NOT NULL, user_id"
                                   " FROM attachments WHERE attachment_id = ?;",
                                   error);
  if (stmt == NULL)
    return NATTER_ATTACHMENT_ACCESS_NONE;
  sqlite3_bind_int64 (stmt, 1, attachment_id);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW) {
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE)
      fail (self, error);
    return NATTER_ATTACHMENT_ACCESS_NONE;
  }
  attachment = column_attachment (stmt, 0);
  conversation_id = sqlite3_column_int64 (stmt, 7);
  sent = sqlite3_column_int (stmt, 8) != 0;
  owner = sqlite3_column_int64 (stmt, 9);
  sqlite3_reset (stmt);

  if (!sent && owner != user_id)
    return NATTER_ATTACHMENT_ACCESS_NONE;
  if (owner != user_id && !natter_server_db_user_in_conversation (self, conversation_id, user_id))
    return NATTER_ATTACHMENT_ACCESS_FORBIDDEN;

  *out_attachment = g_steal_pointer (&attachment);
  return NATTER_ATTACHMENT_ACCESS_ALLOWED;
}

gboolean
natter_server_db_check_attachments (NatterServerDb *self,
                                    GArray *attachment_ids,
                                    const NatterProfile *sender,
                                    gint64 conversation_id,
                                    GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);

  if (attachment_ids == NULL)
    return TRUE;
  if (attachment_ids->len > NATTER_MAX_MESSAGE_ATTACHMENTS) {
    g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME,
                 "attachments: more than %d attachments", NATTER_MAX_MESSAGE_ATTACHMENTS);
    return FALSE;
  }

  stmt = natter_server_db_prepare (self,
                                   "SELECT uploader_id, uploader_type, conversation_id,"
                                   " message_id IS NOT NULL FROM attachments"
                                   " WHERE attachment_id = ?;",
                                   error);
  if (stmt == NULL)
    return FALSE;

  for (guint i = 0; i < attachment_ids->len; i++) {
    gint64 id = g_array_index (attachment_ids, gint64, i);
    gboolean own;
    gboolean same_conversation;
    gboolean sent;
    int rc;

    sqlite3_bind_int64 (stmt, 1, id);
    rc = sqlite3_step (stmt);
    if (rc != SQLITE_ROW) {
      sqlite3_reset (stmt);
      if (rc != SQLITE_DONE)
        return fail (self, error);
      g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_NOT_FOUND,
                   "attachment %" G_GINT64_FORMAT " does not exist", id);
      return FALSE;
    }
    own = sqlite3_column_int64 (stmt, 0) == sender->profile_id &&
          g_strcmp0 ((const char *) sqlite3_column_text (stmt, 1), sender->profile_type) == 0;
    same_conversation = sqlite3_column_int64 (stmt, 2) == conversation_id;
    sent = sqlite3_column_int (stmt, 3) != 0;
    sqlite3_reset (stmt);

    /* Someone else's upload does not exist for this sender. */
    if (!own) {
      g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_NOT_FOUND,
                   "attachment %" G_GINT64_FORMAT " does not exist", id);
      return FALSE;
    }
    if (!same_conversation) {
      g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                   "attachment %" G_GINT64_FORMAT " was uploaded to another conversation", id);
      return FALSE;
    }
    if (sent) {
      g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                   "attachment %" G_GINT64_FORMAT " was already sent", id);
      return FALSE;
    }
  }

  return TRUE;
}

gboolean
natter_server_db_link_attachments (NatterServerDb *self,
                                   NatterMessage *message,
                                   GArray *attachment_ids,
                                   GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (message != NULL, FALSE);

  if (attachment_ids == NULL || attachment_ids->len == 0)
    return TRUE;

  stmt = natter_server_db_prepare (self,
                                   "UPDATE attachments SET message_id = ?, position = ?"
                                   " WHERE attachment_id = ? AND message_id IS NULL;",
                                   error);
  if (stmt == NULL)
    return FALSE;

  for (guint i = 0; i < attachment_ids->len; i++) {
    int rc;

    sqlite3_bind_int64 (stmt, 1, message->message_id);
    sqlite3_bind_int64 (stmt, 2, i);
    sqlite3_bind_int64 (stmt, 3, g_array_index (attachment_ids, gint64, i));
    rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE)
      return fail (self, error);
    if (sqlite3_changes (self->handle) != 1) {
      g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                   "database: attachment %" G_GINT64_FORMAT " vanished",
                   g_array_index (attachment_ids, gint64, i));
      return FALSE;
    }
  }

  return natter_server_db_fill_attachments (self, message, error);
}

gboolean
natter_server_db_fill_attachments (NatterServerDb *self, NatterMessage *message, GError **error)
{
  g_autoptr (GPtrArray) attachments = NULL;
  sqlite3_stmt *stmt;
  int rc;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (message != NULL, FALSE);

  stmt = natter_server_db_prepare (self,
                                   "SELECT " ATTACHMENT_COLUMNS " FROM attachments"
                                   " WHERE message_id = ? ORDER BY position;",
                                   error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, message->message_id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    if (attachments == NULL)
      attachments = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_attachment_free);
    g_ptr_array_add (attachments, column_attachment (stmt, 0));
  }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return fail (self, error);

  g_clear_pointer (&message->attachments, g_ptr_array_unref);
  message->attachments = g_steal_pointer (&attachments);
  return TRUE;
}

gboolean
natter_server_db_fill_attachments_of_list (NatterServerDb *self,
                                           GPtrArray *messages,
                                           GError **error)
{
  for (guint i = 0; i < messages->len; i++) {
    if (!natter_server_db_fill_attachments (self, g_ptr_array_index (messages, i), error))
      return FALSE;
  }

  return TRUE;
}

gboolean
natter_server_db_attachment_hash_in_use (NatterServerDb *self, const char *sha256)
{
  sqlite3_stmt *stmt;
  gboolean used;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), TRUE);

  stmt =
    natter_server_db_prepare (self, "SELECT 1 FROM attachments WHERE sha256 = ? LIMIT 1;", NULL);
  /* When in doubt, keep the file. */
  if (stmt == NULL)
    return TRUE;
  sqlite3_bind_text (stmt, 1, sha256, -1, SQLITE_TRANSIENT);
  used = sqlite3_step (stmt) != SQLITE_DONE;
  sqlite3_reset (stmt);

  return used;
}

GPtrArray *
natter_server_db_expire_attachments (NatterServerDb *self, gint64 before_ms, GError **error)
{
  g_autoptr (GPtrArray) hashes = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) unused = g_ptr_array_new_with_free_func (g_free);
  sqlite3_stmt *stmt;
  int rc;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);

  stmt = natter_server_db_prepare (self,
                                   "DELETE FROM attachments WHERE message_id IS NULL"
                                   " AND created_at < ? RETURNING sha256;",
                                   error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, before_ms);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (hashes, g_strdup ((const char *) sqlite3_column_text (stmt, 0)));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE) {
    fail (self, error);
    return NULL;
  }

  for (guint i = 0; i < hashes->len; i++) {
    const char *sha256 = g_ptr_array_index (hashes, i);

    if (!natter_server_db_attachment_hash_in_use (self, sha256) &&
        !g_ptr_array_find_with_equal_func (unused, sha256, g_str_equal, NULL))
      g_ptr_array_add (unused, g_strdup (sha256));
  }

  return g_steal_pointer (&unused);
}
