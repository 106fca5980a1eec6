/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-store"

#include "config.h"

#include "natter-store-private.h"

/* The conversations of the local store: the server's list taken in, and
 * each conversation loaded with its participants and last message. */

/**
 * natter_store_set_conversations:
 * @self: a #NatterStore
 * @conversations: (element-type NatterConversation): the server's list
 * @error: a #GError
 *
 * Takes the server's view of the conversations: participants, unread
 * counts, last messages.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_set_conversations (NatterStore *self, GPtrArray *conversations, GError **error)
{
  guint i;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (conversations != NULL, FALSE);

  if (!natter_store_begin (self, error))
    return FALSE;

  for (i = 0; i < conversations->len; i++) {
    NatterConversation *conversation = g_ptr_array_index (conversations, i);
    NatterMessage *last = conversation->last_message;
    sqlite3_stmt *stmt;
    guint j;

    if (!natter_store_ensure_conversation (self, conversation->conversation_id, error))
      goto failed;

    for (j = 0; j < conversation->participants->len; j++) {
      if (!natter_store_upsert_participant (self, conversation->conversation_id,
                                            g_ptr_array_index (conversation->participants, j),
                                            error))
        goto failed;
    }

    stmt = natter_store_statement (
      self, "UPDATE conversations SET unread_count = ?2, "
            "updated_at = coalesce (?3, updated_at) WHERE conversation_id = ?1");
    sqlite3_bind_int64 (stmt, 1, conversation->conversation_id);
    sqlite3_bind_int64 (stmt, 2, MAX (conversation->unread_count, 0));
    natter_store_bind_text (stmt, 3, conversation->updated_at);
    if (!natter_store_step_done (self, stmt, error))
      goto failed;

    /* The server has not seen our newest read marker yet: its count is
     * older than ours. */
    if (natter_store_has_pending_read (self, conversation->conversation_id) &&
        !natter_store_recount_unread (self, conversation->conversation_id, error))
      goto failed;

    if (last != NULL && last->sender != NULL) {
      stmt = natter_store_statement (
        self, "UPDATE conversations SET last_seq = ?2, last_text = ?3, "
              "last_sender_id = ?4, last_sender_type = ?5, last_sent_at = ?6 "
              "WHERE conversation_id = ?1 AND last_seq <= ?2");
      sqlite3_bind_int64 (stmt, 1, conversation->conversation_id);
      sqlite3_bind_int64 (stmt, 2, last->seq);
      natter_store_bind_text (stmt, 3, last->text);
      sqlite3_bind_int64 (stmt, 4, last->sender->profile_id);
      natter_store_bind_text (stmt, 5, last->sender->profile_type);
      natter_store_bind_text (stmt, 6, last->sent_at);
      if (!natter_store_step_done (self, stmt, error))
        goto failed;
    }

    natter_store_queue_conversation_changed (self, conversation->conversation_id);
  }

  natter_store_queue_conversations_reset (self);

  return natter_store_commit (self, error);

failed:
  natter_store_rollback (self);
  return FALSE;
}

static NatterConversation *
conversation_from_row (NatterStore *self, sqlite3_stmt *row)
{
  g_autoptr (NatterConversation) conversation = natter_conversation_new ();
  sqlite3_stmt *stmt;

  conversation->conversation_id = sqlite3_column_int64 (row, 0);
  conversation->updated_at = natter_store_column_text (row, 1);
  conversation->unread_count = sqlite3_column_int64 (row, 2);

  if (sqlite3_column_int64 (row, 3) > 0) {
    NatterMessage *last = natter_message_new ();

    last->conversation_id = conversation->conversation_id;
    last->seq = sqlite3_column_int64 (row, 3);
    last->text = natter_store_column_text (row, 4);
    last->sender = natter_profile_new (sqlite3_column_int64 (row, 5),
                                       (const char *) sqlite3_column_text (row, 6), NULL, NULL);
    last->sent_at = natter_store_column_text (row, 7);
    conversation->last_message = last;
  }

  stmt = natter_store_statement (
    self, "SELECT profile_id, profile_type, display_name, avatar_url FROM participants "
          "WHERE conversation_id = ?1 ORDER BY profile_type, profile_id");
  sqlite3_bind_int64 (stmt, 1, conversation->conversation_id);
  while (sqlite3_step (stmt) == SQLITE_ROW) {
    g_ptr_array_add (conversation->participants,
                     natter_profile_new (sqlite3_column_int64 (stmt, 0),
                                         (const char *) sqlite3_column_text (stmt, 1),
                                         (const char *) sqlite3_column_text (stmt, 2),
                                         (const char *) sqlite3_column_text (stmt, 3)));
  }
  sqlite3_reset (stmt);

  return g_steal_pointer (&conversation);
}

/**
 * natter_store_load_conversations:
 * @self: a #NatterStore
 *
 * Returns: (transfer full) (element-type NatterConversation): the stored
 *   conversations, most recently active first
 */
GPtrArray *
natter_store_load_conversations (NatterStore *self)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  GPtrArray *conversations;
  sqlite3_stmt *stmt;
  guint i;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  /* A row without participants only holds history state: nothing to show
   * until the server's list or a message says who is in it. */
  stmt = natter_store_statement (
    self, "SELECT conversation_id FROM conversations c WHERE EXISTS (SELECT 1 "
          "FROM participants p WHERE p.conversation_id = c.conversation_id) "
          "ORDER BY max (updated_at, coalesce (last_sent_at, '')) DESC, "
          "conversation_id DESC");
  while (sqlite3_step (stmt) == SQLITE_ROW) {
    gint64 id = sqlite3_column_int64 (stmt, 0);

    g_array_append_val (ids, id);
  }
  sqlite3_reset (stmt);

  conversations = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_conversation_free);
  for (i = 0; i < ids->len; i++) {
    NatterConversation *conversation;

    conversation = natter_store_load_conversation (self, g_array_index (ids, gint64, i));
    if (conversation != NULL)
      g_ptr_array_add (conversations, conversation);
  }

  return conversations;
}

/**
 * natter_store_load_conversation:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Returns: (transfer full) (nullable): the conversation, or %NULL if unknown
 */
NatterConversation *
natter_store_load_conversation (NatterStore *self, gint64 conversation_id)
{
  NatterConversation *conversation = NULL;
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  stmt = natter_store_statement (
    self, "SELECT conversation_id, updated_at, unread_count, last_seq, last_text, "
          "last_sender_id, last_sender_type, last_sent_at FROM conversations "
          "WHERE conversation_id = ?1");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW) {
    /* conversation_from_row runs its own statement: keep this row's values
     * alive by not resetting until it returns. */
    conversation = conversation_from_row (self, stmt);
  }
  sqlite3_reset (stmt);

  return conversation;
}

/**
 * natter_store_find_direct_conversation:
 * @self: a #NatterStore
 * @peer: the other person
 *
 * Returns: the two-party conversation with @peer, or 0 if none is stored
 */
gint64
natter_store_find_direct_conversation (NatterStore *self, const NatterProfile *peer)
{
  const NatterProfile *own;
  sqlite3_stmt *stmt;
  gint64 conversation_id = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);
  g_return_val_if_fail (peer != NULL, 0);

  own = natter_store_get_own_profile (self);
  stmt = natter_store_statement (
    self, "SELECT p.conversation_id FROM participants p WHERE p.profile_id = ?1 AND "
          "p.profile_type = ?2 AND (SELECT count (*) FROM participants q WHERE "
          "q.conversation_id = p.conversation_id) = 2 AND EXISTS (SELECT 1 FROM "
          "participants r WHERE r.conversation_id = p.conversation_id AND "
          "r.profile_id = ?3 AND r.profile_type = ?4) LIMIT 1");
  sqlite3_bind_int64 (stmt, 1, peer->profile_id);
  natter_store_bind_text (stmt, 2, peer->profile_type);
  sqlite3_bind_int64 (stmt, 3, own->profile_id);
  natter_store_bind_text (stmt, 4, own->profile_type);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    conversation_id = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return conversation_id;
}
