/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-store"

#include "config.h"

#include "natter-store-private.h"

/* The outbox of the local store: what the user wrote and the server has not
 * acknowledged yet, kept across restarts until its message_ack moves it to
 * the messages. */

static const char outbox_schema_sql[] = "CREATE TABLE IF NOT EXISTS outbox ("
                                        "  ordinal INTEGER PRIMARY KEY AUTOINCREMENT,"
                                        "  client_msg_id TEXT NOT NULL UNIQUE,"
                                        "  conversation_id INTEGER NOT NULL DEFAULT 0,"
                                        "  to_profile_id INTEGER,"
                                        "  to_profile_type TEXT,"
                                        "  text TEXT NOT NULL,"
                                        "  created_at TEXT NOT NULL,"
                                        "  state INTEGER NOT NULL DEFAULT 0,"
                                        "  error_code TEXT,"
                                        "  error_message TEXT);";

gboolean
natter_store_outbox_init (NatterStore *self, GError **error)
{
  char *message = NULL;
  sqlite3 *db = natter_store_get_db (self);

  if (sqlite3_exec (db, outbox_schema_sql, NULL, NULL, &message) != SQLITE_OK) {
    g_set_error (error, g_quark_from_static_string ("natter-store-error"), sqlite3_errcode (db),
                 "Local store: %s", message);
    sqlite3_free (message);
    return FALSE;
  }

  return TRUE;
}

void
natter_outbox_entry_free (NatterOutboxEntry *entry)
{
  if (entry == NULL)
    return;

  g_free (entry->client_msg_id);
  g_clear_pointer (&entry->to_profile, natter_profile_free);
  g_free (entry->text);
  g_free (entry->created_at);
  g_free (entry->error_code);
  g_free (entry->error_message);
  g_clear_pointer (&entry->attachments, g_ptr_array_unref);
  g_free (entry);
}

/**
 * natter_store_outbox_add:
 * @self: a #NatterStore
 * @client_msg_id: the message's idempotency key
 * @conversation_id: the conversation, or 0 with @to_profile
 * @to_profile: (nullable): the peer of a direct conversation
 * @text: the text
 * @error: a #GError
 *
 * Writes a message to the outbox, before anything is sent.
 *
 * Returns: %TRUE if stored
 */
gboolean
natter_store_outbox_add (NatterStore *self,
                         const char *client_msg_id,
                         gint64 conversation_id,
                         const NatterProfile *to_profile,
                         const char *text,
                         GError **error)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *created_at = natter_format_time (now);
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (client_msg_id != NULL, FALSE);
  g_return_val_if_fail (conversation_id > 0 || to_profile != NULL, FALSE);
  g_return_val_if_fail (text != NULL, FALSE);

  if (conversation_id <= 0)
    conversation_id = natter_store_find_direct_conversation (self, to_profile);

  stmt = natter_store_statement (
    self, "INSERT INTO outbox (client_msg_id, conversation_id, to_profile_id, "
          "to_profile_type, text, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  natter_store_bind_text (stmt, 1, client_msg_id);
  sqlite3_bind_int64 (stmt, 2, MAX (conversation_id, 0));
  if (conversation_id <= 0) {
    sqlite3_bind_int64 (stmt, 3, to_profile->profile_id);
    natter_store_bind_text (stmt, 4, to_profile->profile_type);
  }
  natter_store_bind_text (stmt, 5, text);
  natter_store_bind_text (stmt, 6, created_at);
  if (!natter_store_step_done (self, stmt, error))
    return FALSE;

  natter_store_emit_outbox_changed (self, MAX (conversation_id, 0));

  return TRUE;
}

static NatterOutboxEntry *
outbox_entry_from_row (sqlite3_stmt *stmt)
{
  NatterOutboxEntry *entry = g_new0 (NatterOutboxEntry, 1);

  entry->client_msg_id = natter_store_column_text (stmt, 0);
  entry->ordinal = sqlite3_column_int64 (stmt, 1);
  entry->conversation_id = sqlite3_column_int64 (stmt, 2);
  if (sqlite3_column_type (stmt, 3) != SQLITE_NULL)
    entry->to_profile = natter_profile_new (
      sqlite3_column_int64 (stmt, 3), (const char *) sqlite3_column_text (stmt, 4), NULL, NULL);
  entry->text = natter_store_column_text (stmt, 5);
  entry->created_at = natter_store_column_text (stmt, 6);
  entry->state = sqlite3_column_int (stmt, 7) == NATTER_OUTBOX_FAILED ? NATTER_OUTBOX_FAILED
                                                                      : NATTER_OUTBOX_PENDING;
  entry->error_code = natter_store_column_text (stmt, 8);
  entry->error_message = natter_store_column_text (stmt, 9);

  return entry;
}

/**
 * natter_store_outbox_list:
 * @self: a #NatterStore
 * @conversation_id: a conversation, or 0 for every entry
 * @pending_only: leave out failed entries
 *
 * Returns: (transfer full) (element-type NatterOutboxEntry): the entries in
 *   writing order
 */
GPtrArray *
natter_store_outbox_list (NatterStore *self, gint64 conversation_id, gboolean pending_only)
{
  GPtrArray *entries;
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  entries = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_outbox_entry_free);

  stmt = natter_store_statement (
    self, "SELECT client_msg_id, ordinal, conversation_id, to_profile_id, "
          "to_profile_type, text, created_at, state, error_code, error_message "
          "FROM outbox WHERE (?1 = 0 OR conversation_id = ?1) AND (?2 = 0 OR state = 0) "
          "ORDER BY ordinal");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int (stmt, 2, pending_only ? 1 : 0);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    g_ptr_array_add (entries, outbox_entry_from_row (stmt));
  sqlite3_reset (stmt);

  for (guint i = 0; i < entries->len; i++) {
    NatterOutboxEntry *entry = g_ptr_array_index (entries, i);

    entry->attachments = natter_store_outbox_attachments_load (self, entry->client_msg_id);
  }

  return entries;
}

/**
 * natter_store_outbox_lookup:
 * @self: a #NatterStore
 * @client_msg_id: the entry's key
 *
 * Returns: (transfer full) (nullable): the entry, %NULL if not in the outbox
 */
NatterOutboxEntry *
natter_store_outbox_lookup (NatterStore *self, const char *client_msg_id)
{
  NatterOutboxEntry *entry = NULL;
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);
  g_return_val_if_fail (client_msg_id != NULL, NULL);

  stmt = natter_store_statement (
    self, "SELECT client_msg_id, ordinal, conversation_id, to_profile_id, "
          "to_profile_type, text, created_at, state, error_code, error_message "
          "FROM outbox WHERE client_msg_id = ?1");
  natter_store_bind_text (stmt, 1, client_msg_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    entry = outbox_entry_from_row (stmt);
  sqlite3_reset (stmt);

  if (entry != NULL)
    entry->attachments = natter_store_outbox_attachments_load (self, entry->client_msg_id);

  return entry;
}

/**
 * natter_store_outbox_ack:
 * @self: a #NatterStore
 * @client_msg_id: the acknowledged entry
 * @message: the message as the server stored it
 * @out_applied: (out) (optional): %FALSE if the entry was no longer in the outbox
 * @error: a #GError
 *
 * Moves an entry from the outbox to the messages, in one transaction.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_outbox_ack (NatterStore *self,
                         const char *client_msg_id,
                         const NatterMessage *message,
                         gboolean *out_applied,
                         GError **error)
{
  g_autoptr (NatterOutboxEntry) entry = NULL;
  sqlite3_stmt *stmt;
  gboolean inserted;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (client_msg_id != NULL, FALSE);
  g_return_val_if_fail (message != NULL, FALSE);

  if (out_applied != NULL)
    *out_applied = FALSE;

  entry = natter_store_outbox_lookup (self, client_msg_id);

  if (!natter_store_begin (self, error))
    return FALSE;

  if (!natter_store_insert_message (self, message, &inserted, error))
    goto failed;

  /* A new direct conversation: remember who is in it, so later messages to
   * that peer go by conversation id. */
  if (entry != NULL && entry->to_profile != NULL) {
    if (!natter_store_upsert_participant (self, message->conversation_id, entry->to_profile,
                                          error) ||
        !natter_store_upsert_participant (self, message->conversation_id,
                                          natter_store_get_own_profile (self), error))
      goto failed;
  }

  stmt = natter_store_statement (self, "DELETE FROM outbox WHERE client_msg_id = ?1");
  natter_store_bind_text (stmt, 1, client_msg_id);
  if (!natter_store_step_done (self, stmt, error))
    goto failed;

  if (entry != NULL) {
    natter_store_queue_outbox_changed (self, entry->conversation_id);
    if (entry->conversation_id != message->conversation_id)
      natter_store_queue_outbox_changed (self, message->conversation_id);
  }

  if (!natter_store_commit (self, error))
    return FALSE;

  if (out_applied != NULL)
    *out_applied = entry != NULL;

  return TRUE;

failed:
  natter_store_rollback (self);
  return FALSE;
}

static gboolean
outbox_set_state (NatterStore *self,
                  const char *client_msg_id,
                  NatterOutboxState state,
                  const char *code,
                  const char *reason,
                  GError **error)
{
  g_autoptr (NatterOutboxEntry) entry = natter_store_outbox_lookup (self, client_msg_id);
  sqlite3_stmt *stmt;

  if (entry == NULL)
    return TRUE;

  stmt = natter_store_statement (
    self, "UPDATE outbox SET state = ?2, error_code = ?3, error_message = ?4 "
          "WHERE client_msg_id = ?1");
  natter_store_bind_text (stmt, 1, client_msg_id);
  sqlite3_bind_int (stmt, 2, state);
  natter_store_bind_text (stmt, 3, code);
  natter_store_bind_text (stmt, 4, reason);
  if (!natter_store_step_done (self, stmt, error))
    return FALSE;

  natter_store_emit_outbox_changed (self, entry->conversation_id);

  return TRUE;
}

/**
 * natter_store_outbox_fail:
 * @self: a #NatterStore
 * @client_msg_id: the refused entry
 * @code: the error frame's code
 * @reason: (nullable): the server's message
 * @error: a #GError
 *
 * Marks an entry failed; it is kept, and no longer sent on its own.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_outbox_fail (NatterStore *self,
                          const char *client_msg_id,
                          const char *code,
                          const char *reason,
                          GError **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (client_msg_id != NULL, FALSE);

  return outbox_set_state (self, client_msg_id, NATTER_OUTBOX_FAILED, code, reason, error);
}

/**
 * natter_store_outbox_retry:
 * @self: a #NatterStore
 * @client_msg_id: a failed entry
 * @error: a #GError
 *
 * Makes a failed entry pending again.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_outbox_retry (NatterStore *self, const char *client_msg_id, GError **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (client_msg_id != NULL, FALSE);

  return outbox_set_state (self, client_msg_id, NATTER_OUTBOX_PENDING, NULL, NULL, error);
}
