/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-store"

#include "config.h"

#include "natter-store-private.h"

/* The messages of the local store: each one stored once with its
 * conversation's summary and unread count following, pages of them loaded
 * for the message list, and where older history must be fetched from. */

/* Stores one message; *out_inserted says whether it was new. Unread counts
 * and the conversation's summary follow. */
gboolean
natter_store_insert_message (NatterStore *self,
                             const NatterMessage *message,
                             gboolean *out_inserted,
                             GError **error)
{
  const NatterProfile *own = natter_store_get_own_profile (self);
  sqlite3_stmt *stmt;
  gboolean inserted;

  *out_inserted = FALSE;

  if (message == NULL || message->sender == NULL || message->text == NULL)
    return TRUE;

  if (!natter_store_ensure_conversation (self, message->conversation_id, error))
    return FALSE;

  /* Another message at this place (even under the same id) is from a
   * server history that is gone (a restored backup): the server wins. */
  stmt =
    natter_store_statement (self, "DELETE FROM messages WHERE conversation_id = ?1 AND seq = ?2 "
                                  "AND NOT (message_id = ?3 AND text IS ?4 AND sent_at IS ?5)");
  sqlite3_bind_int64 (stmt, 1, message->conversation_id);
  sqlite3_bind_int64 (stmt, 2, message->seq);
  sqlite3_bind_int64 (stmt, 3, message->message_id);
  natter_store_bind_text (stmt, 4, message->text);
  natter_store_bind_text (stmt, 5, message->sent_at != NULL ? message->sent_at : "");
  if (!natter_store_step_done (self, stmt, error))
    return FALSE;
  if (sqlite3_changes (natter_store_get_db (self)) > 0) {
    stmt = natter_store_statement (
      self, "UPDATE conversations SET message_count = max (message_count - 1, 0) "
            "WHERE conversation_id = ?1");
    sqlite3_bind_int64 (stmt, 1, message->conversation_id);
    if (!natter_store_step_done (self, stmt, error))
      return FALSE;
  }

  stmt = natter_store_statement (
    self, "INSERT OR IGNORE INTO messages (conversation_id, seq, message_id, sender_id, "
          "sender_type, sender_name, sender_avatar, text, sent_at, client_msg_id) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  sqlite3_bind_int64 (stmt, 1, message->conversation_id);
  sqlite3_bind_int64 (stmt, 2, message->seq);
  sqlite3_bind_int64 (stmt, 3, message->message_id);
  sqlite3_bind_int64 (stmt, 4, message->sender->profile_id);
  natter_store_bind_text (stmt, 5, message->sender->profile_type);
  natter_store_bind_text (stmt, 6, message->sender->display_name);
  natter_store_bind_text (stmt, 7, message->sender->avatar_url);
  natter_store_bind_text (stmt, 8, message->text);
  natter_store_bind_text (stmt, 9, message->sent_at != NULL ? message->sent_at : "");
  natter_store_bind_text (stmt, 10, message->client_msg_id);
  if (!natter_store_step_done (self, stmt, error))
    return FALSE;

  inserted = sqlite3_changes (natter_store_get_db (self)) > 0;
  if (!inserted)
    return TRUE;

  if (!natter_store_attachments_put (self, message, error))
    return FALSE;

  /* Kept with the rows, so a long conversation opens without counting. */
  stmt = natter_store_statement (self, "UPDATE conversations SET message_count = message_count + 1 "
                                       "WHERE conversation_id = ?1");
  sqlite3_bind_int64 (stmt, 1, message->conversation_id);
  if (!natter_store_step_done (self, stmt, error))
    return FALSE;

  if (!natter_store_upsert_participant (self, message->conversation_id, message->sender, error))
    return FALSE;

  /* A new message from someone else past our read marker is unread. One
   * older than the newest known (a page of history) was already in the
   * server's count, or was read here: counting it again made a badge of 4
   * into 6 when the chat was opened. */
  if (!natter_store_is_own (self, message->sender->profile_id, message->sender->profile_type)) {
    stmt = natter_store_statement (
      self, "UPDATE conversations SET unread_count = unread_count + 1 "
            "WHERE conversation_id = ?1 AND ?2 > last_seq "
            "AND ?2 > coalesce ((SELECT read_seq FROM "
            "participants WHERE conversation_id = ?1 AND profile_id = ?3 AND "
            "profile_type = ?4), 0)");
    sqlite3_bind_int64 (stmt, 1, message->conversation_id);
    sqlite3_bind_int64 (stmt, 2, message->seq);
    sqlite3_bind_int64 (stmt, 3, own->profile_id);
    natter_store_bind_text (stmt, 4, own->profile_type);
    if (!natter_store_step_done (self, stmt, error))
      return FALSE;
  }

  stmt = natter_store_statement (
    self, "UPDATE conversations SET last_seq = ?2, last_text = ?3, last_sender_id = ?4, "
          "last_sender_type = ?5, last_sent_at = ?6, "
          "updated_at = max (updated_at, ?6) "
          "WHERE conversation_id = ?1 AND last_seq < ?2");
  sqlite3_bind_int64 (stmt, 1, message->conversation_id);
  sqlite3_bind_int64 (stmt, 2, message->seq);
  natter_store_bind_text (stmt, 3, message->text);
  sqlite3_bind_int64 (stmt, 4, message->sender->profile_id);
  natter_store_bind_text (stmt, 5, message->sender->profile_type);
  natter_store_bind_text (stmt, 6, message->sent_at != NULL ? message->sent_at : "");
  if (!natter_store_step_done (self, stmt, error))
    return FALSE;

  natter_store_queue_message_added (self, message->conversation_id, message->seq);
  natter_store_queue_conversation_changed (self, message->conversation_id);
  *out_inserted = TRUE;

  return TRUE;
}

/**
 * natter_store_add_messages:
 * @self: a #NatterStore
 * @messages: (element-type NatterMessage): messages from a history page
 * @error: a #GError
 *
 * Stores messages fetched over HTTP; those already stored are kept as they are.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_add_messages (NatterStore *self, GPtrArray *messages, GError **error)
{
  guint i;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (messages != NULL, FALSE);

  if (!natter_store_begin (self, error))
    return FALSE;

  for (i = 0; i < messages->len; i++) {
    gboolean inserted;

    if (!natter_store_insert_message (self, g_ptr_array_index (messages, i), &inserted, error)) {
      natter_store_rollback (self);
      return FALSE;
    }
  }

  return natter_store_commit (self, error);
}

/**
 * natter_store_set_has_older:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @has_older: whether the server holds messages older than the oldest stored
 * @error: a #GError
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_set_has_older (NatterStore *self,
                            gint64 conversation_id,
                            gboolean has_older,
                            GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  /* The row may not exist yet (a conversation opened before any list
   * refresh or message): an UPDATE alone would drop the flag, and the
   * default would say "more" at the next opening. */
  stmt = natter_store_statement (
    self, "INSERT INTO conversations (conversation_id, has_older) VALUES (?1, ?2) "
          "ON CONFLICT (conversation_id) DO UPDATE SET has_older = ?2");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int (stmt, 2, has_older ? 1 : 0);

  return natter_store_step_done (self, stmt, error);
}

/**
 * natter_store_get_has_older:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Returns: %FALSE once a history page said nothing older exists
 */
gboolean
natter_store_get_has_older (NatterStore *self, gint64 conversation_id)
{
  sqlite3_stmt *stmt;
  gboolean has_older = TRUE;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  stmt =
    natter_store_statement (self, "SELECT has_older FROM conversations WHERE conversation_id = ?1");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    has_older = sqlite3_column_int (stmt, 0) != 0;
  sqlite3_reset (stmt);

  return has_older;
}

/**
 * natter_store_get_last_seq:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Returns: the newest message's seq known for @conversation_id, 0 if none
 */
gint64
natter_store_get_last_seq (NatterStore *self, gint64 conversation_id)
{
  sqlite3_stmt *stmt;
  gint64 seq = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  stmt = natter_store_statement (
    self, "SELECT max (coalesce ((SELECT last_seq FROM conversations WHERE "
          "conversation_id = ?1), 0), coalesce ((SELECT max (seq) FROM messages WHERE "
          "conversation_id = ?1), 0))");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    seq = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return seq;
}

/**
 * natter_store_count_messages:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Returns: how many of its messages are stored locally
 */
guint
natter_store_count_messages (NatterStore *self, gint64 conversation_id)
{
  sqlite3_stmt *stmt;
  guint count = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  stmt = natter_store_statement (
    self, "SELECT message_count FROM conversations WHERE conversation_id = ?1");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    count = (guint) sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return count;
}

static NatterMessage *
message_from_row (sqlite3_stmt *stmt, gint64 conversation_id)
{
  NatterMessage *message = natter_message_new ();

  message->conversation_id = conversation_id;
  message->seq = sqlite3_column_int64 (stmt, 0);
  message->message_id = sqlite3_column_int64 (stmt, 1);
  message->sender = natter_profile_new (
    sqlite3_column_int64 (stmt, 2), (const char *) sqlite3_column_text (stmt, 3),
    (const char *) sqlite3_column_text (stmt, 4), (const char *) sqlite3_column_text (stmt, 5));
  message->text = natter_store_column_text (stmt, 6);
  message->sent_at = natter_store_column_text (stmt, 7);
  message->client_msg_id = natter_store_column_text (stmt, 8);

  return message;
}

/**
 * natter_store_load_messages:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @offset: position of the first message, oldest first
 * @limit: how many at most
 *
 * Returns: (transfer full) (element-type NatterMessage): a page of messages,
 *   oldest first
 */
GPtrArray *
natter_store_load_messages (NatterStore *self, gint64 conversation_id, guint offset, guint limit)
{
  GPtrArray *messages;
  sqlite3_stmt *stmt;
  guint count;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  messages = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  if (limit == 0)
    return messages;

  count = natter_store_count_messages (self, conversation_id);
  if (offset >= count)
    return messages;

  limit = MIN (limit, count - offset);

  /* Scrolling happens near the newest end: count from there so the index
   * walk is short. */
  if (offset > count / 2) {
    stmt = natter_store_statement (
      self, "SELECT seq, message_id, sender_id, sender_type, sender_name, "
            "sender_avatar, text, sent_at, client_msg_id FROM messages "
            "WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT ?2 OFFSET ?3");
    sqlite3_bind_int64 (stmt, 1, conversation_id);
    sqlite3_bind_int64 (stmt, 2, limit);
    sqlite3_bind_int64 (stmt, 3, count - offset - limit);
    while (sqlite3_step (stmt) == SQLITE_ROW)
      g_ptr_array_add (messages, message_from_row (stmt, conversation_id));
    sqlite3_reset (stmt);

    for (guint i = 0; i < messages->len / 2; i++) {
      gpointer tmp = messages->pdata[i];

      messages->pdata[i] = messages->pdata[messages->len - 1 - i];
      messages->pdata[messages->len - 1 - i] = tmp;
    }
  } else {
    stmt =
      natter_store_statement (self, "SELECT seq, message_id, sender_id, sender_type, sender_name, "
                                    "sender_avatar, text, sent_at, client_msg_id FROM messages "
                                    "WHERE conversation_id = ?1 ORDER BY seq LIMIT ?2 OFFSET ?3");
    sqlite3_bind_int64 (stmt, 1, conversation_id);
    sqlite3_bind_int64 (stmt, 2, limit);
    sqlite3_bind_int64 (stmt, 3, offset);
    while (sqlite3_step (stmt) == SQLITE_ROW)
      g_ptr_array_add (messages, message_from_row (stmt, conversation_id));
    sqlite3_reset (stmt);
  }

  for (guint i = 0; i < messages->len; i++)
    natter_store_attachments_load (self, g_ptr_array_index (messages, i));

  return messages;
}

/**
 * natter_store_get_message_position:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @seq: a message's seq
 *
 * Returns: how many stored messages come before @seq
 */
guint
natter_store_get_message_position (NatterStore *self, gint64 conversation_id, gint64 seq)
{
  sqlite3_stmt *stmt;
  guint position;
  guint newer = 0;
  guint total;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  /* Counted from the newest end: new messages land there, so the range
   * walked is short. */
  stmt = natter_store_statement (
    self, "SELECT count (*) FROM messages WHERE conversation_id = ?1 AND seq >= ?2");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2, seq);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    newer = (guint) sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  total = natter_store_count_messages (self, conversation_id);
  position = total > newer ? total - newer : 0;

  return position;
}

/**
 * natter_store_get_oldest_seq:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Returns: the oldest stored message's seq, 0 if none is stored
 */
gint64
natter_store_get_oldest_seq (NatterStore *self, gint64 conversation_id)
{
  sqlite3_stmt *stmt;
  gint64 seq = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  stmt = natter_store_statement (self, "SELECT min (seq) FROM messages WHERE conversation_id = ?1");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    seq = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return seq;
}

/**
 * natter_store_get_history_edge:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Where older history must be fetched from: the first seq of the newest
 * run of consecutive stored messages. Usually the oldest stored message;
 * after a truncated sync the replayed newest messages sit above a gap, and
 * the gap is what scrolling up must fill first.
 *
 * Returns: a seq, 0 if no message is stored
 */
gint64
natter_store_get_history_edge (NatterStore *self, gint64 conversation_id)
{
  sqlite3_stmt *stmt;
  gint64 edge = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  stmt = natter_store_statement (
    self, "SELECT max (m.seq) FROM messages m WHERE m.conversation_id = ?1 AND "
          "(m.seq = 1 OR NOT EXISTS (SELECT 1 FROM messages p WHERE "
          "p.conversation_id = ?1 AND p.seq = m.seq - 1))");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    edge = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return edge;
}
