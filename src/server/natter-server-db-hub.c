/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-db"

/* Storage the hub needs beyond natter-server-db.c, on the same handle and
 * statement cache. */

#include <sqlite3.h>

#include "natter-server-db.h"

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
  int rc;

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
  rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE) {
    g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED, "database: %s",
                 sqlite3_errmsg (natter_server_db_get_handle (self)));
    return NULL;
  }

  return natter_server_db_get_call (self, call_log_id, error);
}
