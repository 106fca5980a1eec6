/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-db"

/* Chat: conversations, participants, messages, read positions, the per-profile
 * event history and its epoch. */

#include "config.h"

#include <sqlite3.h>
#include <string.h>

#include "natter-server-db-private.h"

static char *
direct_key (const NatterProfile *a, const NatterProfile *b)
{
  g_autofree char *key_a =
    g_strdup_printf ("%" G_GINT64_FORMAT ":%s", a->profile_id, a->profile_type);
  g_autofree char *key_b =
    g_strdup_printf ("%" G_GINT64_FORMAT ":%s", b->profile_id, b->profile_type);

  if (g_strcmp0 (key_a, key_b) <= 0)
    return g_strconcat (key_a, "|", key_b, NULL);

  return g_strconcat (key_b, "|", key_a, NULL);
}

gint64
natter_server_db_find_direct (NatterServerDb *self, const NatterProfile *a, const NatterProfile *b)
{
  g_autoptr (NatterDbStmt) stmt = NULL;
  g_autofree char *key = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);
  g_return_val_if_fail (a != NULL && b != NULL, 0);

  key = direct_key (a, b);
  stmt = natter_server_db_prepare (
    self, "SELECT conversation_id FROM conversations WHERE direct_key = ?;", NULL);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_TRANSIENT);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return 0;

  return sqlite3_column_int64 (stmt, 0);
}

static gboolean
add_participant (NatterServerDb *self,
                 gint64 conversation_id,
                 const NatterProfile *profile,
                 GError **error)
{
  g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
    self, "INSERT INTO participants (conversation_id, profile_id, profile_type) VALUES (?, ?, ?);",
    error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  natter_db_bind_profile (stmt, 2, profile->profile_id, profile->profile_type);

  return natter_db_step_done (self, stmt, error);
}

/**
 * natter_server_db_ensure_direct:
 * @self: the database
 * @a: one profile
 * @b: another profile
 * @error: a #NatterServerDbError: NOT_FOUND when a profile does not exist
 *
 * Finds or creates the direct conversation of @a and @b, without reading it
 * back (the hub only needs its id to route a message).
 *
 * Returns: the conversation_id, 0 on error
 */
static gint64 ensure_direct (NatterServerDb *self,
                             const NatterProfile *a,
                             const NatterProfile *b,
                             gboolean check_profiles,
                             gboolean *out_created,
                             GError **error);

gint64
natter_server_db_ensure_direct (NatterServerDb *self,
                                const NatterProfile *a,
                                const NatterProfile *b,
                                GError **error)
{
  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);
  g_return_val_if_fail (a != NULL && b != NULL, 0);

  return ensure_direct (self, a, b, TRUE, NULL, error);
}

/**
 * natter_server_db_ensure_direct_created:
 * @self: the database
 * @a: one profile, read from the database by the caller
 * @b: another profile, read from the database by the caller
 * @out_created: (out) (optional): whether this call created it
 * @error: a #NatterServerDbError
 *
 * As natter_server_db_ensure_direct (), without looking the profiles up
 * again: the store's writer gets them from the hub's checks, and profiles
 * are never deleted.
 *
 * Returns: the conversation_id, 0 on error
 */
gint64
natter_server_db_ensure_direct_created (NatterServerDb *self,
                                        const NatterProfile *a,
                                        const NatterProfile *b,
                                        gboolean *out_created,
                                        GError **error)
{
  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);
  g_return_val_if_fail (a != NULL && b != NULL, 0);

  return ensure_direct (self, a, b, FALSE, out_created, error);
}

static gint64
ensure_direct (NatterServerDb *self,
               const NatterProfile *a,
               const NatterProfile *b,
               gboolean check_profiles,
               gboolean *out_created,
               GError **error)
{
  gint64 conversation_id;
  g_autofree char *key = NULL;

  if (out_created != NULL)
    *out_created = FALSE;

  if (natter_profile_equal (a, b)) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                         "a conversation needs two different profiles");
    return 0;
  }

  conversation_id = natter_server_db_find_direct (self, a, b);
  if (conversation_id != 0)
    return conversation_id;

  if (check_profiles &&
      (natter_server_db_get_profile_owner (self, a->profile_id, a->profile_type) == 0 ||
       natter_server_db_get_profile_owner (self, b->profile_id, b->profile_type) == 0)) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no such profile");
    return 0;
  }

  key = direct_key (a, b);
  if (!natter_server_db_begin (self, error))
    return 0;

  {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self, "INSERT INTO conversations (direct_key, created_at, updated_at) VALUES (?, ?, ?);",
      error);
    gint64 now = natter_db_now_ms ();

    if (stmt == NULL)
      goto failed;
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (stmt, 2, now);
    sqlite3_bind_int64 (stmt, 3, now);
    if (!natter_db_step_done (self, stmt, error))
      goto failed;
    conversation_id = sqlite3_last_insert_rowid (self->handle);
  }

  if (!add_participant (self, conversation_id, a, error) ||
      !add_participant (self, conversation_id, b, error))
    goto failed;
  if (!natter_server_db_commit (self, error))
    return 0;

  if (out_created != NULL)
    *out_created = TRUE;
  return conversation_id;

failed:
  natter_server_db_rollback (self);
  return 0;
}

NatterConversation *
natter_server_db_get_or_create_direct (NatterServerDb *self,
                                       const NatterProfile *viewer,
                                       const NatterProfile *other,
                                       GError **error)
{
  gint64 conversation_id;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (viewer != NULL && other != NULL, NULL);

  conversation_id = natter_server_db_ensure_direct (self, viewer, other, error);
  if (conversation_id == 0)
    return NULL;

  return natter_server_db_get_conversation (self, conversation_id, viewer, error);
}

#define MESSAGE_COLUMNS                                                                    \
  "SELECT m.message_id, m.conversation_id, m.seq, m.text, m.sent_at, m.client_msg_id,"     \
  " m.sender_id, m.sender_type, u.display_name, p.avatar IS NOT NULL"                      \
  " FROM messages m"                                                                       \
  " LEFT JOIN profiles p ON p.profile_id = m.sender_id AND p.profile_type = m.sender_type" \
  " LEFT JOIN users u ON u.user_id = p.user_id "

static NatterMessage *
column_message (sqlite3_stmt *stmt)
{
  NatterMessage *message = natter_message_new ();

  message->message_id = sqlite3_column_int64 (stmt, 0);
  message->conversation_id = sqlite3_column_int64 (stmt, 1);
  message->seq = sqlite3_column_int64 (stmt, 2);
  message->text = natter_db_column_dup (stmt, 3);
  message->sent_at = natter_db_column_time (stmt, 4);
  message->client_msg_id = natter_db_column_dup (stmt, 5);
  message->sender = natter_db_column_profile (stmt, 6);

  return message;
}

static NatterMessage *
get_message (NatterServerDb *self, gint64 message_id, GError **error)
{
  g_autoptr (NatterDbStmt) stmt =
    natter_server_db_prepare (self, MESSAGE_COLUMNS "WHERE m.message_id = ?;", error);

  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, message_id);
  if (!natter_db_step_row (self, stmt, error, "no such message"))
    return NULL;

  return column_message (stmt);
}

NatterConversation *
natter_server_db_get_conversation (NatterServerDb *self,
                                   gint64 conversation_id,
                                   const NatterProfile *viewer,
                                   GError **error)
{
  g_autoptr (NatterConversation) conversation = NULL;
  g_autoptr (GPtrArray) participants = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);

  conversation = natter_conversation_new ();
  conversation->conversation_id = conversation_id;

  {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self, "SELECT updated_at FROM conversations WHERE conversation_id = ?;", error);

    if (stmt == NULL)
      return NULL;
    sqlite3_bind_int64 (stmt, 1, conversation_id);
    if (!natter_db_step_row (self, stmt, error, "no such conversation"))
      return NULL;
    conversation->updated_at = natter_db_column_time (stmt, 0);
  }

  participants = natter_server_db_list_participants (self, conversation_id, error);
  if (participants == NULL)
    return NULL;
  for (guint i = 0; i < participants->len; i++)
    g_ptr_array_add (conversation->participants,
                     natter_profile_copy (g_ptr_array_index (participants, i)));

  {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self, MESSAGE_COLUMNS "WHERE m.conversation_id = ? ORDER BY m.seq DESC LIMIT 1;", error);
    int rc;

    if (stmt == NULL)
      return NULL;
    sqlite3_bind_int64 (stmt, 1, conversation_id);
    rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW)
      conversation->last_message = column_message (stmt);
    else if (rc != SQLITE_DONE) {
      natter_db_set_error (self, rc, error);
      return NULL;
    }
  }

  if (viewer != NULL) {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self,
      "SELECT COUNT(*) FROM messages m, participants r"
      " WHERE r.conversation_id = ? AND r.profile_id = ? AND r.profile_type = ?"
      " AND m.conversation_id = r.conversation_id AND m.seq > r.last_read_seq"
      " AND NOT (m.sender_id = r.profile_id AND m.sender_type = r.profile_type);",
      error);
    int rc;

    if (stmt == NULL)
      return NULL;
    sqlite3_bind_int64 (stmt, 1, conversation_id);
    natter_db_bind_profile (stmt, 2, viewer->profile_id, viewer->profile_type);
    rc = sqlite3_step (stmt);
    if (rc != SQLITE_ROW) {
      natter_db_set_error (self, rc, error);
      return NULL;
    }
    conversation->unread_count = sqlite3_column_int64 (stmt, 0);
  }

  return g_steal_pointer (&conversation);
}

gboolean
natter_server_db_is_participant (NatterServerDb *self,
                                 gint64 conversation_id,
                                 const NatterProfile *profile)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (profile != NULL, FALSE);

  stmt = natter_server_db_prepare (self,
                                   "SELECT 1 FROM participants WHERE conversation_id = ?"
                                   " AND profile_id = ? AND profile_type = ?;",
                                   NULL);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  natter_db_bind_profile (stmt, 2, profile->profile_id, profile->profile_type);

  return sqlite3_step (stmt) == SQLITE_ROW;
}

GPtrArray *
natter_server_db_list_participants (NatterServerDb *self, gint64 conversation_id, GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);

  stmt = natter_server_db_prepare (
    self,
    "SELECT r.profile_id, r.profile_type, u.display_name, p.avatar IS NOT NULL"
    " FROM participants r"
    " LEFT JOIN profiles p ON p.profile_id = r.profile_id AND p.profile_type = r.profile_type"
    " LEFT JOIN users u ON u.user_id = p.user_id"
    " WHERE r.conversation_id = ? ORDER BY r.rowid;",
    error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  return natter_db_step_profiles (self, stmt, error);
}

GPtrArray *
natter_server_db_list_conversations (NatterServerDb *self,
                                     const NatterProfile *viewer,
                                     GError **error)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GPtrArray) conversations =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_conversation_free);

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (viewer != NULL, NULL);

  {
    g_autoptr (NatterDbStmt) stmt =
      natter_server_db_prepare (self,
                                "SELECT c.conversation_id FROM conversations c JOIN participants r"
                                " ON r.conversation_id = c.conversation_id"
                                " WHERE r.profile_id = ? AND r.profile_type = ?"
                                " ORDER BY c.updated_at DESC, c.conversation_id DESC;",
                                error);
    int rc;

    if (stmt == NULL)
      return NULL;
    natter_db_bind_profile (stmt, 1, viewer->profile_id, viewer->profile_type);
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
      gint64 id = sqlite3_column_int64 (stmt, 0);

      g_array_append_val (ids, id);
    }
    if (rc != SQLITE_DONE) {
      natter_db_set_error (self, rc, error);
      return NULL;
    }
  }

  for (guint i = 0; i < ids->len; i++) {
    NatterConversation *conversation =
      natter_server_db_get_conversation (self, g_array_index (ids, gint64, i), viewer, error);

    if (conversation == NULL)
      return NULL;
    g_ptr_array_add (conversations, conversation);
  }

  return g_steal_pointer (&conversations);
}

GPtrArray *
natter_server_db_list_contacts (NatterServerDb *self, const NatterProfile *profile, GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (profile != NULL, NULL);

  stmt = natter_server_db_prepare (
    self,
    "WITH c (id, type) AS ("
    "  SELECT o.profile_id, o.profile_type"
    "  FROM participants me JOIN participants o ON o.conversation_id = me.conversation_id"
    "  WHERE me.profile_id = ?1 AND me.profile_type = ?2 AND me.took_part AND o.took_part"
    "  AND NOT (o.profile_id = ?1 AND o.profile_type = ?2)"
    "  UNION SELECT callee_id, callee_type FROM calls"
    "  WHERE caller_id = ?1 AND caller_type = ?2 AND answered_at IS NOT NULL"
    "  UNION SELECT caller_id, caller_type FROM calls"
    "  WHERE callee_id = ?1 AND callee_type = ?2 AND answered_at IS NOT NULL)"
    " SELECT c.id, c.type, u.display_name, p.avatar IS NOT NULL FROM c"
    " LEFT JOIN profiles p ON p.profile_id = c.id AND p.profile_type = c.type"
    " LEFT JOIN users u ON u.user_id = p.user_id"
    " WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = ?1 AND b.blocker_type = ?2"
    "   AND b.blocked_id = c.id AND b.blocked_type = c.type) OR (b.blocked_id = ?1"
    "   AND b.blocked_type = ?2 AND b.blocker_id = c.id AND b.blocker_type = c.type));",
    error);
  if (stmt == NULL)
    return NULL;
  natter_db_bind_profile (stmt, 1, profile->profile_id, profile->profile_type);
  return natter_db_step_profiles (self, stmt, error);
}

NatterMessage *
natter_server_db_find_message_by_client_id (NatterServerDb *self,
                                            const NatterProfile *sender,
                                            const char *client_msg_id)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (sender != NULL, NULL);

  if (client_msg_id == NULL)
    return NULL;

  stmt = natter_server_db_prepare (self,
                                   MESSAGE_COLUMNS "WHERE m.sender_id = ? AND m.sender_type = ?"
                                                   " AND m.client_msg_id = ?;",
                                   NULL);
  if (stmt == NULL)
    return NULL;
  natter_db_bind_profile (stmt, 1, sender->profile_id, sender->profile_type);
  sqlite3_bind_text (stmt, 3, client_msg_id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return NULL;

  return column_message (stmt);
}

NatterMessage *
natter_server_db_add_message (NatterServerDb *self,
                              gint64 conversation_id,
                              const NatterProfile *sender,
                              const char *text,
                              const char *client_msg_id,
                              GError **error)
{
  return natter_server_db_add_message_with_sender_event (self, conversation_id, sender, text,
                                                         client_msg_id, 0, error);
}

/**
 * natter_server_db_add_message_with_sender_event:
 * @self: the database
 * @conversation_id: the conversation
 * @sender: who sent it
 * @text: its text
 * @client_msg_id: (nullable): the sender's id for it
 * @sender_event_id: the sender's own event of it, 0 when none
 * @error: a #NatterServerDbError
 *
 * As natter_server_db_add_message (): the store's writer knows the
 * sender's next event id before it stores the events, and so saves an
 * UPDATE per message.
 *
 * Returns: (transfer full) (nullable): the message as stored
 */
NatterMessage *
natter_server_db_add_message_with_sender_event (NatterServerDb *self,
                                                gint64 conversation_id,
                                                const NatterProfile *sender,
                                                const char *text,
                                                const char *client_msg_id,
                                                gint64 sender_event_id,
                                                GError **error)
{
  gint64 seq;
  gint64 message_id;
  gint64 now = natter_db_now_ms ();

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (sender != NULL && text != NULL, NULL);

  if (!natter_server_db_begin (self, error))
    return NULL;

  /* Read, then set, inside the write transaction: UPDATE … RETURNING would
   * stage its row in an ephemeral table, a b-tree opened, allocated and
   * freed for every message (a sixth of the writer's time at 5,000/s). */
  {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self, "SELECT last_seq FROM conversations WHERE conversation_id = ?;", error);

    if (stmt == NULL)
      goto failed;
    sqlite3_bind_int64 (stmt, 1, conversation_id);
    if (!natter_db_step_row (self, stmt, error, "no such conversation"))
      goto failed;
    seq = sqlite3_column_int64 (stmt, 0) + 1;
  }

  {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self, "UPDATE conversations SET last_seq = ?, updated_at = ? WHERE conversation_id = ?;",
      error);

    if (stmt == NULL)
      goto failed;
    sqlite3_bind_int64 (stmt, 1, seq);
    sqlite3_bind_int64 (stmt, 2, now);
    sqlite3_bind_int64 (stmt, 3, conversation_id);
    if (!natter_db_step_done (self, stmt, error))
      goto failed;
  }

  {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self,
      "INSERT INTO messages (conversation_id, seq, sender_id, sender_type, text, sent_at,"
      " client_msg_id, sender_event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?);",
      error);

    if (stmt == NULL)
      goto failed;
    sqlite3_bind_int64 (stmt, 1, conversation_id);
    sqlite3_bind_int64 (stmt, 2, seq);
    natter_db_bind_profile (stmt, 3, sender->profile_id, sender->profile_type);
    sqlite3_bind_text (stmt, 5, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (stmt, 6, now);
    if (client_msg_id != NULL)
      sqlite3_bind_text (stmt, 7, client_msg_id, -1, SQLITE_TRANSIENT);
    if (sender_event_id > 0)
      sqlite3_bind_int64 (stmt, 8, sender_event_id);
    if (!natter_db_step_done (self, stmt, error))
      goto failed;
    message_id = sqlite3_last_insert_rowid (self->handle);
  }

  if (!natter_server_db_commit (self, error))
    return NULL;

  return get_message (self, message_id, error);

failed:
  natter_server_db_rollback (self);
  return NULL;
}

GPtrArray *
natter_server_db_list_messages (NatterServerDb *self,
                                gint64 conversation_id,
                                gint64 before_seq,
                                guint limit,
                                gboolean *out_has_more,
                                GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;
  g_autoptr (GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  int rc;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);

  stmt = natter_server_db_prepare (
    self, MESSAGE_COLUMNS "WHERE m.conversation_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?;",
    error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2, before_seq > 0 ? before_seq : G_MAXINT64);
  /* One more than asked tells whether older messages remain. */
  sqlite3_bind_int64 (stmt, 3, (gint64) limit + 1);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (messages, column_message (stmt));
  if (rc != SQLITE_DONE) {
    natter_db_set_error (self, rc, error);
    return NULL;
  }

  if (out_has_more != NULL)
    *out_has_more = messages->len > limit;
  if (messages->len > limit)
    g_ptr_array_set_size (messages, limit);
  natter_db_reverse_array (messages);

  return g_steal_pointer (&messages);
}

gboolean
natter_server_db_mark_read (NatterServerDb *self,
                            gint64 conversation_id,
                            const NatterProfile *reader,
                            gint64 up_to_seq,
                            gint64 *out_up_to_seq,
                            GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (reader != NULL, FALSE);

  stmt = natter_server_db_prepare (
    self,
    "UPDATE participants SET last_read_seq = MAX(last_read_seq, MIN(MAX(?, 0),"
    " (SELECT last_seq FROM conversations WHERE conversation_id = participants.conversation_id)))"
    " WHERE conversation_id = ? AND profile_id = ? AND profile_type = ?"
    " RETURNING last_read_seq;",
    error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, up_to_seq);
  sqlite3_bind_int64 (stmt, 2, conversation_id);
  natter_db_bind_profile (stmt, 3, reader->profile_id, reader->profile_type);
  if (!natter_db_step_row (self, stmt, error, "not a participant of that conversation"))
    return FALSE;
  if (out_up_to_seq != NULL)
    *out_up_to_seq = sqlite3_column_int64 (stmt, 0);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_DONE)
    return natter_db_set_error (self, rc, error);

  return TRUE;
}

gint64
natter_server_db_add_event (NatterServerDb *self,
                            const NatterProfile *profile,
                            NatterFrame *frame,
                            GError **error)
{
  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);
  g_return_val_if_fail (profile != NULL && frame != NULL, 0);

  return natter_server_db_add_event_with_json (self, profile, frame, NULL, error);
}

/**
 * natter_server_db_add_event_with_json:
 * @self: the database
 * @profile: whose event it is
 * @frame: the event; its event_id is set
 * @out_json: (out) (optional) (transfer full): the frame as stored
 * @error: a #NatterServerDbError
 *
 * As natter_server_db_add_event (), and hands back the stored JSON, which is
 * what the profile's connections are sent: the frame is serialized once.
 *
 * Returns: the event_id, 0 on error
 */
static gint64
add_event (NatterServerDb *self,
           const NatterProfile *profile,
           NatterFrame *frame,
           const char *message_json,
           char **out_json,
           GError **error)
{
  gint64 event_id;
  g_autofree char *json = NULL;

  if (!natter_server_db_begin (self, error))
    return 0;

  event_id = natter_server_db_get_last_event_id (self, profile) + 1;
  frame->event_id = event_id;
  json = message_json != NULL ? natter_frame_to_json_with_message (frame, message_json, NULL)
                              : natter_frame_to_json (frame, NULL);

  {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self,
      "INSERT INTO events (profile_id, profile_type, event_id, frame, created_at)"
      " VALUES (?, ?, ?, ?, ?);",
      error);

    if (stmt == NULL)
      goto failed;
    natter_db_bind_profile (stmt, 1, profile->profile_id, profile->profile_type);
    sqlite3_bind_int64 (stmt, 3, event_id);
    sqlite3_bind_text (stmt, 4, json, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 5, natter_db_now_ms ());
    if (!natter_db_step_done (self, stmt, error))
      goto failed;
  }
  natter_db_remember_last_event_id (self, profile, event_id);

  if (!natter_server_db_commit (self, error))
    return 0;

  if (out_json != NULL)
    *out_json = g_steal_pointer (&json);
  return event_id;

failed:
  natter_server_db_rollback (self);
  frame->event_id = 0;
  return 0;
}

gint64
natter_server_db_add_event_with_json (NatterServerDb *self,
                                      const NatterProfile *profile,
                                      NatterFrame *frame,
                                      char **out_json,
                                      GError **error)
{
  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);
  g_return_val_if_fail (profile != NULL && frame != NULL, 0);

  return add_event (self, profile, frame, NULL, out_json, error);
}

/**
 * natter_server_db_add_message_event:
 * @self: a database
 * @profile: whose history gets the event
 * @frame: a chat_message event without its message
 * @message_json: the message, serialized once for all participants
 * @out_json: (out) (optional): the stored JSON
 * @error: return location
 *
 * As natter_server_db_add_event_with_json (), with the message written from
 * @message_json.
 *
 * Returns: the event_id, 0 on error
 */
gint64
natter_server_db_add_message_event (NatterServerDb *self,
                                    const NatterProfile *profile,
                                    NatterFrame *frame,
                                    const char *message_json,
                                    char **out_json,
                                    GError **error)
{
  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);
  g_return_val_if_fail (profile != NULL && frame != NULL && message_json != NULL, 0);

  return add_event (self, profile, frame, message_json, out_json, error);
}

/* An event_id no profile reaches: the frame is serialized once with it, and
 * each participant's copy replaces it with the real one. */
#define EVENT_ID_SLOT "\"event_id\":9223372036854775807"

/**
 * natter_server_db_add_message_events:
 * @self: a database
 * @participants: (element-type NatterProfile): whose histories get the event
 * @frame: a chat_message event without its message
 * @message_json: the message, serialized once for all participants
 * @out_texts: (element-type utf8): gets each participant's stored JSON
 * @out_event_ids: (array): gets each participant's event_id
 * @error: return location
 *
 * As natter_server_db_add_message_event () for each participant, with the
 * frame serialized once: the copies differ in their event_id only.
 *
 * Returns: whether every event was stored
 */
gboolean
natter_server_db_add_message_events (NatterServerDb *self,
                                     GPtrArray *participants,
                                     NatterFrame *frame,
                                     const char *message_json,
                                     GPtrArray *out_texts,
                                     gint64 *out_event_ids,
                                     GError **error)
{
  g_autofree char *shared = NULL;
  const char *slot = NULL;
  gsize prefix_length;
  const char *suffix;
  gint64 created_at = natter_db_now_ms ();

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (participants != NULL && frame != NULL && message_json != NULL, FALSE);

  frame->event_id = G_MAXINT64;
  shared = natter_frame_to_json_with_message (frame, message_json, NULL);
  frame->event_id = 0;
  if (shared != NULL)
    slot = strstr (shared, EVENT_ID_SLOT);
  /* Not exactly once (a frame written differently): one by one. */
  if (slot == NULL || strstr (slot + 1, EVENT_ID_SLOT) != NULL) {
    for (guint i = 0; i < participants->len; i++) {
      char *text = NULL;

      out_event_ids[i] = natter_server_db_add_message_event (
        self, g_ptr_array_index (participants, i), frame, message_json, &text, error);
      if (out_event_ids[i] == 0)
        return FALSE;
      g_ptr_array_add (out_texts, text);
    }
    return TRUE;
  }
  prefix_length = (gsize) (slot - shared) + strlen ("\"event_id\":");
  suffix = slot + strlen (EVENT_ID_SLOT);

  if (!natter_server_db_begin (self, error))
    return FALSE;
  for (guint i = 0; i < participants->len; i++) {
    const NatterProfile *profile = g_ptr_array_index (participants, i);
    gint64 event_id = natter_server_db_get_last_event_id (self, profile) + 1;
    GString *text = g_string_sized_new (strlen (shared));
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self,
      "INSERT INTO events (profile_id, profile_type, event_id, frame, created_at)"
      " VALUES (?, ?, ?, ?, ?);",
      error);

    g_string_append_len (text, shared, (gssize) prefix_length);
    g_string_append_printf (text, "%" G_GINT64_FORMAT, event_id);
    g_string_append (text, suffix);
    g_ptr_array_add (out_texts, g_string_free (text, FALSE));
    if (stmt == NULL)
      goto failed;
    natter_db_bind_profile (stmt, 1, profile->profile_id, profile->profile_type);
    sqlite3_bind_int64 (stmt, 3, event_id);
    sqlite3_bind_text (stmt, 4, g_ptr_array_index (out_texts, out_texts->len - 1), -1,
                       SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 5, created_at);
    if (!natter_db_step_done (self, stmt, error))
      goto failed;
    natter_db_remember_last_event_id (self, profile, event_id);
    out_event_ids[i] = event_id;
  }

  return natter_server_db_commit (self, error);

failed:
  natter_server_db_rollback (self);
  return FALSE;
}

gint64
natter_server_db_get_last_event_id (NatterServerDb *self, const NatterProfile *profile)
{
  g_autoptr (NatterDbStmt) stmt = NULL;
  EventOwner owner;
  gint64 *cached;
  gint64 last;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);
  g_return_val_if_fail (profile != NULL, 0);

  owner.profile_id = profile->profile_id;
  owner.profile_type = g_intern_string (profile->profile_type);
  cached =
    self->events_written_elsewhere ? NULL : g_hash_table_lookup (self->last_event_ids, &owner);
  if (cached != NULL)
    return *cached;

  stmt = natter_server_db_prepare (
    self, "SELECT MAX(event_id) FROM events WHERE profile_id = ? AND profile_type = ?;", NULL);
  if (stmt == NULL)
    return 0;
  natter_db_bind_profile (stmt, 1, profile->profile_id, profile->profile_type);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return 0;

  last = sqlite3_column_int64 (stmt, 0);
  if (!self->events_written_elsewhere)
    natter_db_remember_last_event_id (self, profile, last);
  return last;
}

GPtrArray *
natter_server_db_list_events_after (NatterServerDb *self,
                                    const NatterProfile *profile,
                                    gint64 after_event_id,
                                    guint limit,
                                    gboolean *out_truncated,
                                    GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;
  g_autoptr (GPtrArray) frames = g_ptr_array_new_with_free_func (g_free);
  int rc;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (profile != NULL, NULL);

  stmt = natter_server_db_prepare (self,
                                   "SELECT frame FROM events WHERE profile_id = ? AND"
                                   " profile_type = ? AND event_id > ?"
                                   " ORDER BY event_id DESC LIMIT ?;",
                                   error);
  if (stmt == NULL)
    return NULL;
  natter_db_bind_profile (stmt, 1, profile->profile_id, profile->profile_type);
  sqlite3_bind_int64 (stmt, 3, after_event_id);
  sqlite3_bind_int64 (stmt, 4, (gint64) limit + 1);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (frames, natter_db_column_dup (stmt, 0));
  if (rc != SQLITE_DONE) {
    natter_db_set_error (self, rc, error);
    return NULL;
  }

  if (out_truncated != NULL)
    *out_truncated = frames->len > limit;
  if (frames->len > limit)
    g_ptr_array_set_size (frames, limit);
  natter_db_reverse_array (frames);

  return g_steal_pointer (&frames);
}
/**
 * natter_server_db_get_epoch:
 * @self: the database
 *
 * Returns: (transfer none): the random id made with the database, which
 *   names its event history: a restored backup of another epoch is told
 *   apart by clients. "" when it cannot be read.
 */
const char *
natter_server_db_get_epoch (NatterServerDb *self)
{
  sqlite3_stmt *stmt;
  const char *epoch;
  char *copy;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), "");

  epoch = g_object_get_data (G_OBJECT (self), "natter-epoch");
  if (epoch != NULL)
    return epoch;

  stmt =
    natter_server_db_prepare (self, "SELECT value FROM server_meta WHERE key = 'epoch';", NULL);
  if (stmt == NULL)
    return "";
  if (sqlite3_step (stmt) != SQLITE_ROW) {
    sqlite3_reset (stmt);
    return "";
  }
  copy = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_reset (stmt);
  g_object_set_data_full (G_OBJECT (self), "natter-epoch", copy, g_free);

  return copy;
}

gboolean
natter_server_db_set_sender_event_id (NatterServerDb *self,
                                      gint64 message_id,
                                      gint64 event_id,
                                      GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);

  stmt = natter_server_db_prepare (
    self, "UPDATE messages SET sender_event_id = ?1 WHERE message_id = ?2;", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, event_id);
  sqlite3_bind_int64 (stmt, 2, message_id);
  return natter_db_step_reset (self, stmt, error);
}

gint64
natter_server_db_get_sender_event_id (NatterServerDb *self, gint64 message_id)
{
  sqlite3_stmt *stmt;
  gint64 event_id = 0;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);

  stmt = natter_server_db_prepare (
    self, "SELECT sender_event_id FROM messages WHERE message_id = ?1;", NULL);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_int64 (stmt, 1, message_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    event_id = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return event_id;
}

gint64
natter_server_db_get_read_seq (NatterServerDb *self,
                               gint64 conversation_id,
                               const NatterProfile *profile)
{
  sqlite3_stmt *stmt;
  gint64 seq = 0;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);
  g_return_val_if_fail (profile != NULL, 0);

  stmt =
    natter_server_db_prepare (self,
                              "SELECT last_read_seq FROM participants WHERE"
                              " conversation_id = ?1 AND profile_id = ?2 AND profile_type = ?3;",
                              NULL);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  natter_db_bind_profile_at (stmt, 2, profile);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    seq = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return seq;
}

gboolean
natter_server_db_set_took_part (NatterServerDb *self,
                                gint64 conversation_id,
                                const NatterProfile *profile,
                                gboolean *out_changed,
                                GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (profile != NULL, FALSE);

  if (out_changed != NULL)
    *out_changed = FALSE;

  stmt =
    natter_server_db_prepare (self,
                              "UPDATE participants SET took_part = 1 WHERE conversation_id = ?1"
                              " AND profile_id = ?2 AND profile_type = ?3 AND took_part = 0;",
                              error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  natter_db_bind_profile_at (stmt, 2, profile);
  if (!natter_db_step_reset (self, stmt, error))
    return FALSE;
  if (out_changed != NULL)
    *out_changed = sqlite3_changes (self->handle) > 0;

  return TRUE;
}

gboolean
natter_server_db_took_part (NatterServerDb *self,
                            gint64 conversation_id,
                            const NatterProfile *profile)
{
  sqlite3_stmt *stmt;
  gboolean took_part = FALSE;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (profile != NULL, FALSE);

  stmt = natter_server_db_prepare (self,
                                   "SELECT took_part FROM participants WHERE conversation_id = ?1"
                                   " AND profile_id = ?2 AND profile_type = ?3;",
                                   NULL);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  natter_db_bind_profile_at (stmt, 2, profile);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    took_part = sqlite3_column_int (stmt, 0) != 0;
  sqlite3_reset (stmt);

  return took_part;
}

gboolean
natter_server_db_delete_event (NatterServerDb *self,
                               const NatterProfile *profile,
                               gint64 event_id,
                               GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (profile != NULL, FALSE);

  stmt = natter_server_db_prepare (self,
                                   "DELETE FROM events WHERE profile_id = ?1 AND profile_type = ?2"
                                   " AND event_id = ?3;",
                                   error);
  if (stmt == NULL)
    return FALSE;
  natter_db_bind_profile_at (stmt, 1, profile);
  sqlite3_bind_int64 (stmt, 3, event_id);
  return natter_db_step_reset (self, stmt, error);
}
