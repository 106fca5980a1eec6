/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-db"

/* The call log. */

#include "config.h"

#include <sqlite3.h>
#include <string.h>

#include "natter-server-db-private.h"

static NatterProfile *
profile_or_reference (NatterServerDb *self, gint64 profile_id, const char *profile_type)
{
  NatterProfile *profile = natter_server_db_get_profile (self, profile_id, profile_type, NULL);

  return profile != NULL ? profile : natter_profile_new (profile_id, profile_type, NULL, NULL);
}

#define CALL_COLUMNS                                                                     \
  "SELECT call_log_id, conversation_id, caller_id, caller_type, callee_id, callee_type," \
  " call_type, status, started_at, answered_at, ended_at, duration_s FROM calls "

typedef struct {
  gint64 call_log_id;
  gint64 conversation_id;
  gint64 caller_id;
  char *caller_type;
  gint64 callee_id;
  char *callee_type;
  char *call_type;
  char *status;
  char *started_at;
  char *answered_at;
  char *ended_at;
  gint64 duration_s;
} CallRow;

static void
call_row_clear (CallRow *row)
{
  g_free (row->caller_type);
  g_free (row->callee_type);
  g_free (row->call_type);
  g_free (row->status);
  g_free (row->started_at);
  g_free (row->answered_at);
  g_free (row->ended_at);
}

static void
column_call_row (sqlite3_stmt *stmt, CallRow *row)
{
  row->call_log_id = sqlite3_column_int64 (stmt, 0);
  row->conversation_id = sqlite3_column_int64 (stmt, 1);
  row->caller_id = sqlite3_column_int64 (stmt, 2);
  row->caller_type = natter_db_column_dup (stmt, 3);
  row->callee_id = sqlite3_column_int64 (stmt, 4);
  row->callee_type = natter_db_column_dup (stmt, 5);
  row->call_type = natter_db_column_dup (stmt, 6);
  row->status = natter_db_column_dup (stmt, 7);
  row->started_at = natter_db_column_time (stmt, 8);
  row->answered_at = natter_db_column_time (stmt, 9);
  row->ended_at = natter_db_column_time (stmt, 10);
  row->duration_s = sqlite3_column_int64 (stmt, 11);
}

/* Profiles are looked up after the row statement is released. */
static NatterCallLog *
call_log_from_row (NatterServerDb *self, CallRow *row)
{
  NatterCallLog *call = natter_call_log_new ();

  call->call_log_id = row->call_log_id;
  call->conversation_id = row->conversation_id;
  call->caller = profile_or_reference (self, row->caller_id, row->caller_type);
  call->callee = profile_or_reference (self, row->callee_id, row->callee_type);
  call->call_type = g_steal_pointer (&row->call_type);
  call->status = g_steal_pointer (&row->status);
  call->started_at = g_steal_pointer (&row->started_at);
  call->answered_at = g_steal_pointer (&row->answered_at);
  call->ended_at = g_steal_pointer (&row->ended_at);
  call->duration_s = row->duration_s;

  return call;
}

NatterCallLog *
natter_server_db_get_call (NatterServerDb *self, gint64 call_log_id, GError **error)
{
  CallRow row = { 0 };
  NatterCallLog *call;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);

  {
    g_autoptr (NatterDbStmt) stmt =
      natter_server_db_prepare (self, CALL_COLUMNS "WHERE call_log_id = ?;", error);

    if (stmt == NULL)
      return NULL;
    sqlite3_bind_int64 (stmt, 1, call_log_id);
    if (!natter_db_step_row (self, stmt, error, "no such call"))
      return NULL;
    column_call_row (stmt, &row);
  }

  call = call_log_from_row (self, &row);
  call_row_clear (&row);

  return call;
}

NatterCallLog *
natter_server_db_create_call (NatterServerDb *self,
                              const NatterProfile *caller,
                              const NatterProfile *callee,
                              const char *call_type,
                              gint64 conversation_id,
                              GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (caller != NULL && callee != NULL && call_type != NULL, NULL);

  stmt = natter_server_db_prepare (
    self,
    "INSERT INTO calls (conversation_id, caller_id, caller_type, callee_id, callee_type,"
    " call_type, status, started_at) VALUES (?, ?, ?, ?, ?, ?, 'ringing', ?);",
    error);
  if (stmt == NULL)
    return NULL;
  if (conversation_id > 0)
    sqlite3_bind_int64 (stmt, 1, conversation_id);
  natter_db_bind_profile (stmt, 2, caller->profile_id, caller->profile_type);
  natter_db_bind_profile (stmt, 4, callee->profile_id, callee->profile_type);
  sqlite3_bind_text (stmt, 6, call_type, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 7, natter_db_now_ms ());
  if (!natter_db_step_done (self, stmt, error))
    return NULL;

  return natter_server_db_get_call (self, sqlite3_last_insert_rowid (self->handle), error);
}

NatterCallLog *
natter_server_db_set_call_status (NatterServerDb *self,
                                  gint64 call_log_id,
                                  const char *status,
                                  GError **error)
{
  gint64 now = natter_db_now_ms ();

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (status != NULL, NULL);

  if (g_str_equal (status, "answered")) {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self, "UPDATE calls SET status = ?, answered_at = ? WHERE call_log_id = ?;", error);

    if (stmt == NULL)
      return NULL;
    sqlite3_bind_text (stmt, 1, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (stmt, 2, now);
    sqlite3_bind_int64 (stmt, 3, call_log_id);
    if (!natter_db_step_done (self, stmt, error))
      return NULL;
  } else if (g_str_equal (status, "ringing")) {
    g_autoptr (NatterDbStmt) stmt =
      natter_server_db_prepare (self, "UPDATE calls SET status = ? WHERE call_log_id = ?;", error);

    if (stmt == NULL)
      return NULL;
    sqlite3_bind_text (stmt, 1, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (stmt, 2, call_log_id);
    if (!natter_db_step_done (self, stmt, error))
      return NULL;
  } else {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self,
      "UPDATE calls SET status = ?1, ended_at = ?2,"
      " duration_s = CASE WHEN answered_at IS NULL THEN 0"
      " ELSE MAX(0, (?2 - answered_at) / 1000) END WHERE call_log_id = ?3;",
      error);

    if (stmt == NULL)
      return NULL;
    sqlite3_bind_text (stmt, 1, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (stmt, 2, now);
    sqlite3_bind_int64 (stmt, 3, call_log_id);
    if (!natter_db_step_done (self, stmt, error))
      return NULL;
  }

  if (sqlite3_changes (self->handle) == 0) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no such call");
    return NULL;
  }

  return natter_server_db_get_call (self, call_log_id, error);
}

GPtrArray *
natter_server_db_list_calls (NatterServerDb *self,
                             const NatterProfile *profile,
                             guint limit,
                             GError **error)
{
  g_autoptr (GArray) rows = g_array_new (FALSE, TRUE, sizeof (CallRow));
  g_autoptr (GPtrArray) calls =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_call_log_free);

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (profile != NULL, NULL);

  g_array_set_clear_func (rows, (GDestroyNotify) call_row_clear);

  {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self,
      CALL_COLUMNS "WHERE (caller_id = ?1 AND caller_type = ?2) OR (callee_id = ?1 AND"
                   " callee_type = ?2) ORDER BY call_log_id DESC LIMIT ?3;",
      error);
    int rc;

    if (stmt == NULL)
      return NULL;
    natter_db_bind_profile (stmt, 1, profile->profile_id, profile->profile_type);
    sqlite3_bind_int64 (stmt, 3, limit);
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
      CallRow row = { 0 };

      column_call_row (stmt, &row);
      g_array_append_val (rows, row);
    }
    if (rc != SQLITE_DONE) {
      natter_db_set_error (self, rc, error);
      return NULL;
    }
  }

  for (guint i = 0; i < rows->len; i++)
    g_ptr_array_add (calls, call_log_from_row (self, &g_array_index (rows, CallRow, i)));

  return g_steal_pointer (&calls);
}

gboolean
natter_server_db_fail_stale_calls (NatterServerDb *self, GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);

  stmt = natter_server_db_prepare (
    self,
    "UPDATE calls SET status = 'failed', ended_at = ?, duration_s = 0 WHERE status = 'ringing';",
    error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, natter_db_now_ms ());
  if (!natter_db_step_done (self, stmt, error))
    return FALSE;
  if (sqlite3_changes (self->handle) > 0)
    g_message ("%d calls left ringing by the previous run marked failed",
               sqlite3_changes (self->handle));

  return TRUE;
}

/**
 * natter_server_db_end_call:
 * @self: the database
 * @call_log_id: an answered call
 * @error: a #NatterServerDbError
 *
 * Records the end of an answered call: ended_at now, duration_s from
 * answered_at. The status stays "answered".
 *
 * Returns: (transfer full) (nullable): the updated call log
 */
NatterCallLog *
natter_server_db_end_call (NatterServerDb *self, gint64 call_log_id, GError **error)
{
  sqlite3_stmt *stmt;
  gint64 now_ms = g_get_real_time () / 1000;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);

  stmt = natter_server_db_prepare (self,
                                   "UPDATE calls SET ended_at = ?1,"
                                   " duration_s = CASE WHEN answered_at IS NULL THEN 0"
                                   " ELSE MAX(0, (?1 - answered_at) / 1000) END"
                                   " WHERE call_log_id = ?2 AND ended_at IS NULL;",
                                   error);
  if (stmt == NULL)
    return NULL;

  sqlite3_bind_int64 (stmt, 1, now_ms);
  sqlite3_bind_int64 (stmt, 2, call_log_id);
  if (!natter_db_step_reset (self, stmt, error))
    return NULL;

  return natter_server_db_get_call (self, call_log_id, error);
}
