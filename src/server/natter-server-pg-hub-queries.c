/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-store"

/* The hub's NatterStoreQueries on PostgreSQL (presence, routing checks,
 * the call log, the start-up's work): one statement each, with the SQLite
 * backend's semantics (natter-server-db*.c). */

#include "config.h"

#include "natter-server-db.h"
#include "natter-server-pg-queries-private.h"
#include "natter-server-pg-reads.h"

#define NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

#define run natter_pg_queries_run
#define params_new natter_pg_queries_params_new
#define int_param natter_pg_queries_int_param
#define add_profile_params natter_pg_queries_add_profile_params
#define value_dup natter_pg_queries_value_dup
#define value_time natter_pg_queries_value_time
#define value_profile natter_pg_queries_value_profile

#define CALL_SELECT                                                               \
  "SELECT c.call_log_id, c.conversation_id, c.call_type, c.status, c.started_at," \
  " c.answered_at, c.ended_at, c.duration_s,"                                     \
  " c.caller_id, c.caller_type, uc.display_name, pc.avatar IS NOT NULL,"          \
  " c.callee_id, c.callee_type, ue.display_name, pe.avatar IS NOT NULL"           \
  " FROM calls c"                                                                 \
  " LEFT JOIN profiles pc ON pc.profile_id = c.caller_id"                         \
  " AND pc.profile_type = c.caller_type"                                          \
  " LEFT JOIN users uc ON uc.user_id = pc.user_id"                                \
  " LEFT JOIN profiles pe ON pe.profile_id = c.callee_id"                         \
  " AND pe.profile_type = c.callee_type"                                          \
  " LEFT JOIN users ue ON ue.user_id = pe.user_id "

static void
set_not_found (GError **error, const char *what)
{
  g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND, what);
}

NatterProfile *
natter_pg_get_profile (NatterStoreQueries *self,
                       gint64 profile_id,
                       const char *profile_type,
                       GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (profile_id));
  g_ptr_array_add (params, g_strdup (profile_type));
  rows = run (self,
              "SELECT p.profile_id, p.profile_type, u.display_name, p.avatar IS NOT NULL"
              " FROM profiles p JOIN users u ON u.user_id = p.user_id"
              " WHERE p.profile_id = $1::bigint AND p.profile_type = $2",
              params, error);
  if (rows == NULL)
    return NULL;
  if (PQntuples (rows) == 0) {
    set_not_found (error, "no such profile");
    return NULL;
  }

  return value_profile (rows, 0, 0);
}

GPtrArray *
natter_pg_list_contacts (NatterStoreQueries *self, const NatterProfile *profile, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  add_profile_params (params, profile);
  rows = run (
    self,
    "WITH c (id, type) AS ("
    "  SELECT o.profile_id, o.profile_type"
    "  FROM participants me JOIN participants o ON o.conversation_id = me.conversation_id"
    "  WHERE me.profile_id = $1::bigint AND me.profile_type = $2 AND me.took_part AND o.took_part"
    "  AND NOT (o.profile_id = $1::bigint AND o.profile_type = $2)"
    "  UNION SELECT callee_id, callee_type FROM calls"
    "  WHERE caller_id = $1::bigint AND caller_type = $2 AND answered_at IS NOT NULL"
    "  UNION SELECT caller_id, caller_type FROM calls"
    "  WHERE callee_id = $1::bigint AND callee_type = $2 AND answered_at IS NOT NULL)"
    " SELECT c.id, c.type, u.display_name, p.avatar IS NOT NULL FROM c"
    " LEFT JOIN profiles p ON p.profile_id = c.id AND p.profile_type = c.type"
    " LEFT JOIN users u ON u.user_id = p.user_id"
    " WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = $1::bigint"
    "   AND b.blocker_type = $2 AND b.blocked_id = c.id AND b.blocked_type = c.type)"
    "   OR (b.blocked_id = $1::bigint AND b.blocked_type = $2 AND b.blocker_id = c.id"
    "   AND b.blocker_type = c.type))",
    params, error);
  if (rows == NULL)
    return NULL;

  return natter_pg_queries_rows_profiles (rows);
}

static PGresult *
participant_row (NatterStoreQueries *self,
                 const char *column,
                 gint64 conversation_id,
                 const NatterProfile *profile)
{
  g_autofree char *sql =
    g_strdup_printf ("SELECT %s FROM participants WHERE conversation_id = $1::bigint"
                     " AND profile_id = $2::bigint AND profile_type = $3",
                     column);
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (conversation_id));
  add_profile_params (params, profile);
  return run (self, sql, params, NULL);
}

gboolean
natter_pg_took_part (NatterStoreQueries *self, gint64 conversation_id, const NatterProfile *profile)
{
  g_autoptr (PGresult) rows = participant_row (self, "took_part", conversation_id, profile);

  return rows != NULL && PQntuples (rows) > 0 && natter_pg_value_bool (rows, 0, 0);
}

gint64
natter_pg_get_read_seq (NatterStoreQueries *self,
                        gint64 conversation_id,
                        const NatterProfile *profile)
{
  g_autoptr (PGresult) rows = participant_row (self, "last_read_seq", conversation_id, profile);

  if (rows == NULL || PQntuples (rows) == 0)
    return 0;
  return natter_pg_value_int64 (rows, 0, 0);
}

NatterMessage *
natter_pg_find_message_by_client_id (NatterStoreQueries *self,
                                     const NatterProfile *sender,
                                     const char *client_msg_id,
                                     gint64 *out_sender_event_id,
                                     GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  g_autoptr (GPtrArray) messages = NULL;
  GPtrArray *params = params_new ();

  add_profile_params (params, sender);
  g_ptr_array_add (params, g_strdup (client_msg_id));
  rows = run (self,
              "SELECT m.message_id, m.conversation_id, m.seq, m.text, m.sent_at, m.client_msg_id,"
              " m.sender_id, m.sender_type, u.display_name, p.avatar IS NOT NULL,"
              " coalesce (m.sender_event_id, 0)"
              " FROM messages m"
              " LEFT JOIN profiles p ON p.profile_id = m.sender_id"
              " AND p.profile_type = m.sender_type"
              " LEFT JOIN users u ON u.user_id = p.user_id"
              " WHERE m.sender_id = $1::bigint AND m.sender_type = $2 AND m.client_msg_id = $3",
              params, error);
  if (rows == NULL || PQntuples (rows) == 0)
    return NULL;

  messages = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  g_ptr_array_add (messages, natter_pg_queries_value_message (rows, 0));
  *out_sender_event_id = natter_pg_value_int64 (rows, 0, 10);
  if (!natter_pg_queries_fill_attachments (self, messages, error))
    return NULL;

  return g_ptr_array_steal_index (messages, 0);
}

gboolean
natter_pg_check_attachments (NatterStoreQueries *self,
                             GArray *attachment_ids,
                             const NatterProfile *sender,
                             gint64 conversation_id,
                             GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GString *ids = g_string_new ("{");
  GPtrArray *params = params_new ();

  for (guint i = 0; i < attachment_ids->len; i++)
    g_string_append_printf (ids, "%s%" G_GINT64_FORMAT, i > 0 ? "," : "",
                            g_array_index (attachment_ids, gint64, i));
  g_string_append_c (ids, '}');
  g_ptr_array_add (params, g_string_free (ids, FALSE));
  rows = run (self,
              "SELECT attachment_id, uploader_id, uploader_type, conversation_id,"
              " message_id IS NOT NULL FROM attachments"
              " WHERE attachment_id = ANY ($1::bigint[])",
              params, error);
  if (rows == NULL)
    return FALSE;

  /* In the order given: the first refused id is the one named. */
  for (guint i = 0; i < attachment_ids->len; i++) {
    gint64 id = g_array_index (attachment_ids, gint64, i);
    int row;

    for (row = 0; row < PQntuples (rows); row++) {
      if (natter_pg_value_int64 (rows, row, 0) == id)
        break;
    }
    /* Someone else's upload does not exist for this sender. */
    if (row == PQntuples (rows) || natter_pg_value_int64 (rows, row, 1) != sender->profile_id ||
        g_strcmp0 (PQgetvalue (rows, row, 2), sender->profile_type) != 0) {
      g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_NOT_FOUND,
                   "attachment %" G_GINT64_FORMAT " does not exist", id);
      return FALSE;
    }
    if (natter_pg_value_int64 (rows, row, 3) != conversation_id) {
      g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                   "attachment %" G_GINT64_FORMAT " was uploaded to another conversation", id);
      return FALSE;
    }
    if (natter_pg_value_bool (rows, row, 4)) {
      g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                   "attachment %" G_GINT64_FORMAT " was already sent", id);
      return FALSE;
    }
  }

  return TRUE;
}

NatterCallLog *
natter_pg_get_call (NatterStoreQueries *self, gint64 call_log_id, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  NatterCallLog *call;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (call_log_id));
  rows = run (self, CALL_SELECT "WHERE c.call_log_id = $1::bigint", params, error);
  if (rows == NULL)
    return NULL;
  if (PQntuples (rows) == 0) {
    set_not_found (error, "no such call");
    return NULL;
  }

  call = natter_call_log_new ();
  call->call_log_id = natter_pg_value_int64 (rows, 0, 0);
  call->conversation_id = natter_pg_value_int64 (rows, 0, 1);
  call->call_type = value_dup (rows, 0, 2);
  call->status = value_dup (rows, 0, 3);
  call->started_at = value_time (rows, 0, 4);
  call->answered_at = value_time (rows, 0, 5);
  call->ended_at = value_time (rows, 0, 6);
  call->duration_s = natter_pg_value_int64 (rows, 0, 7);
  call->caller = value_profile (rows, 0, 8);
  call->callee = value_profile (rows, 0, 12);

  return call;
}

/* Runs @sql, whose one row is the call_log_id, then reads that call. */
static NatterCallLog *
change_call (NatterStoreQueries *self, const char *sql, GPtrArray *params, GError **error)
{
  g_autoptr (PGresult) rows = run (self, sql, params, error);

  if (rows == NULL)
    return NULL;
  if (PQntuples (rows) == 0) {
    set_not_found (error, "no such call");
    return NULL;
  }

  return natter_pg_get_call (self, natter_pg_value_int64 (rows, 0, 0), error);
}

NatterCallLog *
natter_pg_create_call (NatterStoreQueries *self,
                       const NatterProfile *caller,
                       const NatterProfile *callee,
                       const char *call_type,
                       gint64 conversation_id,
                       GError **error)
{
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, conversation_id > 0 ? int_param (conversation_id) : NULL);
  add_profile_params (params, caller);
  add_profile_params (params, callee);
  g_ptr_array_add (params, g_strdup (call_type));
  return change_call (self,
                      "INSERT INTO calls (conversation_id, caller_id, caller_type, callee_id,"
                      " callee_type, call_type, status, started_at) VALUES ($1::bigint,"
                      " $2::bigint, $3, $4::bigint, $5, $6, 'ringing', " NOW_MS ")"
                      " RETURNING call_log_id",
                      params, error);
}

NatterCallLog *
natter_pg_set_call_status (NatterStoreQueries *self,
                           gint64 call_log_id,
                           const char *status,
                           GError **error)
{
  GPtrArray *params = params_new ();

  /* answered_at now for "answered"; ended_at and duration_s for every
   * status but "answered" and "ringing" (the right side reads the old row). */
  g_ptr_array_add (params, int_param (call_log_id));
  g_ptr_array_add (params, g_strdup (status));
  return change_call (self,
                      "UPDATE calls SET status = $2::text,"
                      " answered_at = CASE WHEN $2::text = 'answered' THEN " NOW_MS
                      " ELSE answered_at END,"
                      " ended_at = CASE WHEN $2::text IN ('answered', 'ringing') THEN ended_at"
                      "   ELSE " NOW_MS " END,"
                      " duration_s = CASE WHEN $2::text IN ('answered', 'ringing') THEN duration_s"
                      "   WHEN answered_at IS NULL THEN 0"
                      "   ELSE greatest (0, (" NOW_MS " - answered_at) / 1000) END"
                      " WHERE call_log_id = $1::bigint RETURNING call_log_id",
                      params, error);
}

NatterCallLog *
natter_pg_end_call (NatterStoreQueries *self, gint64 call_log_id, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (call_log_id));
  rows = run (self,
              "UPDATE calls SET ended_at = " NOW_MS ","
              " duration_s = CASE WHEN answered_at IS NULL THEN 0"
              " ELSE greatest (0, (" NOW_MS " - answered_at) / 1000) END"
              " WHERE call_log_id = $1::bigint AND ended_at IS NULL",
              params, error);
  if (rows == NULL)
    return NULL;

  return natter_pg_get_call (self, call_log_id, error);
}

gboolean
natter_pg_fail_stale_calls (NatterStoreQueries *self, GError **error)
{
  g_autoptr (PGresult) rows = NULL;

  rows = run (self,
              "UPDATE calls SET status = 'failed', ended_at = " NOW_MS ", duration_s = 0"
              " WHERE status = 'ringing'",
              params_new (), error);
  if (rows == NULL)
    return FALSE;
  if (atoi (PQcmdTuples (rows)) > 0)
    g_message ("%s calls left ringing by the previous run marked failed", PQcmdTuples (rows));

  return TRUE;
}

GHashTable *
natter_pg_prune_tokens (NatterStoreQueries *self, gint64 now_unix, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GHashTable *pruned;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (now_unix));
  rows = run (self,
              "DELETE FROM tokens WHERE expires_at <= $1::bigint OR revoked_at IS NOT NULL"
              " RETURNING token_id",
              params, error);
  if (rows == NULL)
    return NULL;

  pruned = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  for (int row = 0; row < PQntuples (rows); row++) {
    gint64 *token_id = g_new (gint64, 1);

    *token_id = natter_pg_value_int64 (rows, row, 0);
    g_hash_table_add (pruned, token_id);
  }

  return pruned;
}

gboolean
natter_pg_is_empty (NatterStoreQueries *self)
{
  g_autoptr (PGresult) rows =
    run (self, "SELECT NOT EXISTS (SELECT 1 FROM users)", params_new (), NULL);

  return rows != NULL && natter_pg_value_bool (rows, 0, 0);
}

NatterMessage *
natter_pg_add_message (NatterStoreQueries *self,
                       gint64 conversation_id,
                       const NatterProfile *sender,
                       const char *text,
                       GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  NatterMessage *message;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (conversation_id));
  add_profile_params (params, sender);
  g_ptr_array_add (params, g_strdup (text));
  rows = run (self,
              "WITH c AS (UPDATE conversations SET last_seq = last_seq + 1,"
              " updated_at = " NOW_MS " WHERE conversation_id = $1::bigint"
              " RETURNING last_seq, updated_at)"
              " INSERT INTO messages (conversation_id, seq, sender_id, sender_type, text, sent_at)"
              " SELECT $1::bigint, c.last_seq, $2::bigint, $3, $4, c.updated_at FROM c"
              " RETURNING message_id, seq, sent_at",
              params, error);
  if (rows == NULL)
    return NULL;
  if (PQntuples (rows) == 0) {
    set_not_found (error, "no such conversation");
    return NULL;
  }

  message = natter_message_new ();
  message->message_id = natter_pg_value_int64 (rows, 0, 0);
  message->conversation_id = conversation_id;
  message->seq = natter_pg_value_int64 (rows, 0, 1);
  message->sent_at = value_time (rows, 0, 2);
  message->text = g_strdup (text);
  message->sender = natter_profile_copy (sender);

  return message;
}
