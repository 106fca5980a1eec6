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

static gboolean
fail (NatterServerDb *self, GError **error)
{
  g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED, "database: %s",
               sqlite3_errmsg (natter_server_db_get_handle (self)));
  return FALSE;
}

static void
bind_profile_at (sqlite3_stmt *stmt, int first, const NatterProfile *profile)
{
  sqlite3_bind_int64 (stmt, first, profile->profile_id);
  sqlite3_bind_text (stmt, first + 1, profile->profile_type, -1, SQLITE_TRANSIENT);
}

/* Runs a statement without rows; resets it either way. */
static gboolean
step_reset (NatterServerDb *self, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);

  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return fail (self, error);
  return TRUE;
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
  return step_reset (self, stmt, error);
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
  bind_profile_at (stmt, 2, profile);
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
  bind_profile_at (stmt, 2, profile);
  if (!step_reset (self, stmt, error))
    return FALSE;
  if (out_changed != NULL)
    *out_changed = sqlite3_changes (natter_server_db_get_handle (self)) > 0;

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
  bind_profile_at (stmt, 2, profile);
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
  bind_profile_at (stmt, 1, profile);
  sqlite3_bind_int64 (stmt, 3, event_id);
  return step_reset (self, stmt, error);
}

gboolean
natter_server_db_add_block (NatterServerDb *self,
                            const NatterProfile *blocker,
                            const NatterProfile *blocked,
                            GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (blocker != NULL && blocked != NULL, FALSE);

  stmt = natter_server_db_prepare (self,
                                   "INSERT OR IGNORE INTO blocks (blocker_id, blocker_type,"
                                   " blocked_id, blocked_type, created_at) VALUES (?1, ?2, ?3, ?4,"
                                   " ?5);",
                                   error);
  if (stmt == NULL)
    return FALSE;
  bind_profile_at (stmt, 1, blocker);
  bind_profile_at (stmt, 3, blocked);
  sqlite3_bind_int64 (stmt, 5, g_get_real_time () / 1000);
  return step_reset (self, stmt, error);
}

gboolean
natter_server_db_remove_block (NatterServerDb *self,
                               const NatterProfile *blocker,
                               const NatterProfile *blocked,
                               GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (blocker != NULL && blocked != NULL, FALSE);

  stmt = natter_server_db_prepare (self,
                                   "DELETE FROM blocks WHERE blocker_id = ?1 AND blocker_type = ?2"
                                   " AND blocked_id = ?3 AND blocked_type = ?4;",
                                   error);
  if (stmt == NULL)
    return FALSE;
  bind_profile_at (stmt, 1, blocker);
  bind_profile_at (stmt, 3, blocked);
  return step_reset (self, stmt, error);
}

GPtrArray *
natter_server_db_list_blocks (NatterServerDb *self, const NatterProfile *blocker, GError **error)
{
  g_autoptr (GPtrArray) profiles =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GPtrArray) types = g_ptr_array_new_with_free_func (g_free);
  sqlite3_stmt *stmt;
  int rc;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (blocker != NULL, NULL);

  stmt =
    natter_server_db_prepare (self,
                              "SELECT blocked_id, blocked_type FROM blocks WHERE blocker_id = ?1"
                              " AND blocker_type = ?2 ORDER BY created_at DESC;",
                              error);
  if (stmt == NULL)
    return NULL;
  bind_profile_at (stmt, 1, blocker);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    gint64 id = sqlite3_column_int64 (stmt, 0);

    g_array_append_val (ids, id);
    g_ptr_array_add (types, g_strdup ((const char *) sqlite3_column_text (stmt, 1)));
  }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE) {
    fail (self, error);
    return NULL;
  }

  /* Profiles are read after the statement is reset: they use the cache too. */
  for (guint i = 0; i < ids->len; i++) {
    gint64 id = g_array_index (ids, gint64, i);
    const char *type = g_ptr_array_index (types, i);
    NatterProfile *profile = natter_server_db_get_profile (self, id, type, NULL);

    g_ptr_array_add (profiles,
                     profile != NULL ? profile : natter_profile_new (id, type, NULL, NULL));
  }

  return g_steal_pointer (&profiles);
}

gboolean
natter_server_db_is_blocked_either (NatterServerDb *self,
                                    const NatterProfile *a,
                                    const NatterProfile *b)
{
  sqlite3_stmt *stmt;
  gboolean blocked = FALSE;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (a != NULL && b != NULL, FALSE);

  stmt =
    natter_server_db_prepare (self,
                              "SELECT 1 FROM blocks WHERE (blocker_id = ?1 AND blocker_type = ?2"
                              " AND blocked_id = ?3 AND blocked_type = ?4) OR (blocker_id = ?3"
                              " AND blocker_type = ?4 AND blocked_id = ?1 AND blocked_type = ?2)"
                              " LIMIT 1;",
                              NULL);
  if (stmt == NULL)
    return FALSE;
  bind_profile_at (stmt, 1, a);
  bind_profile_at (stmt, 3, b);
  blocked = sqlite3_step (stmt) == SQLITE_ROW;
  sqlite3_reset (stmt);

  return blocked;
}
