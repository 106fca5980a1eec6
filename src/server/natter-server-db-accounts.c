/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-db"

/* Accounts: users, tokens, profiles and their avatars, blocks. */

#include "config.h"

#include <sqlite3.h>
#include <string.h>

#include "natter-server-db-private.h"

gboolean
natter_server_db_is_empty (NatterServerDb *self)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);

  stmt = natter_server_db_prepare (self, "SELECT 1 FROM users LIMIT 1;", NULL);

  return stmt != NULL && sqlite3_step (stmt) == SQLITE_DONE;
}

gboolean
natter_server_db_create_user (NatterServerDb *self,
                              const char *email,
                              const char *password_hash,
                              const char *display_name,
                              const char *const *profile_types,
                              gint64 *out_user_id,
                              GError **error)
{
  gint64 user_id;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (email != NULL && password_hash != NULL && display_name != NULL, FALSE);
  g_return_val_if_fail (profile_types != NULL && profile_types[0] != NULL, FALSE);

  if (!natter_server_db_begin (self, error))
    return FALSE;

  {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self,
      "INSERT INTO users (email, password_hash, display_name, created_at) VALUES (?, ?, ?, ?);",
      error);
    int rc;

    if (stmt == NULL)
      goto failed;
    sqlite3_bind_text (stmt, 1, email, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text (stmt, 2, password_hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text (stmt, 3, display_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (stmt, 4, natter_db_now_ms ());
    rc = sqlite3_step (stmt);
    if (rc != SQLITE_DONE) {
      natter_db_set_error (self, rc, error);
      if (error != NULL && *error != NULL && (*error)->code == NATTER_SERVER_DB_ERROR_EXISTS) {
        g_clear_error (error);
        g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_EXISTS,
                             "this email already has an account");
      }
      goto failed;
    }
    user_id = sqlite3_last_insert_rowid (self->handle);
  }

  for (guint i = 0; profile_types[i] != NULL; i++) {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self, "INSERT OR IGNORE INTO profiles (profile_type, user_id) VALUES (?, ?);", error);

    if (stmt == NULL)
      goto failed;
    sqlite3_bind_text (stmt, 1, profile_types[i], -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (stmt, 2, user_id);
    if (!natter_db_step_done (self, stmt, error))
      goto failed;
  }

  if (!natter_server_db_commit (self, error))
    return FALSE;
  if (out_user_id != NULL)
    *out_user_id = user_id;

  return TRUE;

failed:
  natter_server_db_rollback (self);
  return FALSE;
}

gboolean
natter_server_db_find_login (NatterServerDb *self,
                             const char *email,
                             gint64 *out_user_id,
                             char **out_password_hash,
                             GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (email != NULL, FALSE);

  stmt = natter_server_db_prepare (
    self, "SELECT user_id, password_hash FROM users WHERE email = ?;", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, email, -1, SQLITE_TRANSIENT);
  if (!natter_db_step_row (self, stmt, error, "no such user"))
    return FALSE;

  if (out_user_id != NULL)
    *out_user_id = sqlite3_column_int64 (stmt, 0);
  if (out_password_hash != NULL)
    *out_password_hash = natter_db_column_dup (stmt, 1);

  return TRUE;
}

static GPtrArray *
list_user_profiles (NatterServerDb *self, gint64 user_id, GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  stmt = natter_server_db_prepare (
    self,
    "SELECT p.profile_id, p.profile_type, u.display_name, p.avatar IS NOT NULL"
    " FROM profiles p JOIN users u ON u.user_id = p.user_id"
    " WHERE p.user_id = ? ORDER BY p.profile_id;",
    error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, user_id);
  return natter_db_step_profiles (self, stmt, error);
}

NatterUser *
natter_server_db_get_user (NatterServerDb *self, gint64 user_id, GError **error)
{
  g_autoptr (NatterUser) user = NULL;
  g_autoptr (GPtrArray) profiles = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);

  {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self, "SELECT email, display_name FROM users WHERE user_id = ?;", error);

    if (stmt == NULL)
      return NULL;
    sqlite3_bind_int64 (stmt, 1, user_id);
    if (!natter_db_step_row (self, stmt, error, "no such user"))
      return NULL;
    user = natter_user_new ();
    user->user_id = user_id;
    user->email = natter_db_column_dup (stmt, 0);
    user->display_name = natter_db_column_dup (stmt, 1);
  }

  profiles = list_user_profiles (self, user_id, error);
  if (profiles == NULL)
    return NULL;
  for (guint i = 0; i < profiles->len; i++)
    g_ptr_array_add (user->profiles, natter_profile_copy (g_ptr_array_index (profiles, i)));

  return g_steal_pointer (&user);
}

gboolean
natter_server_db_add_token (NatterServerDb *self,
                            gint64 user_id,
                            const char *token_hash_hex,
                            gint64 expires_unix,
                            gint64 *out_token_id,
                            GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (token_hash_hex != NULL, FALSE);

  stmt = natter_server_db_prepare (
    self, "INSERT INTO tokens (user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?);",
    error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, token_hash_hex, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 3, g_get_real_time () / G_USEC_PER_SEC);
  sqlite3_bind_int64 (stmt, 4, expires_unix);
  if (!natter_db_step_done (self, stmt, error))
    return FALSE;
  if (out_token_id != NULL)
    *out_token_id = sqlite3_last_insert_rowid (self->handle);

  return TRUE;
}

gboolean
natter_server_db_lookup_token (NatterServerDb *self,
                               const char *token_hash_hex,
                               gint64 now_unix,
                               gint64 *out_user_id,
                               gint64 *out_token_id,
                               GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (token_hash_hex != NULL, FALSE);

  stmt = natter_server_db_prepare (self,
                                   "SELECT user_id, token_id FROM tokens WHERE token_hash = ?"
                                   " AND revoked_at IS NULL AND expires_at > ?;",
                                   error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, token_hash_hex, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 2, now_unix);
  if (!natter_db_step_row (self, stmt, error, "unknown, expired or revoked token"))
    return FALSE;

  if (out_user_id != NULL)
    *out_user_id = sqlite3_column_int64 (stmt, 0);
  if (out_token_id != NULL)
    *out_token_id = sqlite3_column_int64 (stmt, 1);

  return TRUE;
}

gboolean
natter_server_db_revoke_token (NatterServerDb *self, gint64 token_id, GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);

  stmt = natter_server_db_prepare (
    self, "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL;", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, g_get_real_time () / G_USEC_PER_SEC);
  sqlite3_bind_int64 (stmt, 2, token_id);
  if (!natter_db_step_done (self, stmt, error))
    return FALSE;
  if (sqlite3_changes (self->handle) == 0) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no such token");
    return FALSE;
  }

  return TRUE;
}

/**
 * natter_server_db_revoke_user_tokens:
 * @self: the database
 * @user_id: whose tokens
 * @error: a #NatterServerDbError
 *
 * Revokes every live token of @user_id (sign out everywhere).
 *
 * Returns: %TRUE on success
 */
gboolean
natter_server_db_revoke_user_tokens (NatterServerDb *self, gint64 user_id, GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);

  stmt = natter_server_db_prepare (
    self, "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL;", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, g_get_real_time () / G_USEC_PER_SEC);
  sqlite3_bind_int64 (stmt, 2, user_id);

  return natter_db_step_done (self, stmt, error);
}

/**
 * natter_server_db_prune_tokens:
 * @self: the database
 * @now_unix: the time
 * @error: a #NatterServerDbError
 *
 * Deletes the tokens that expired or were revoked: they can never be used
 * again, and a table of every token ever issued would only grow.
 *
 * Returns: (transfer full) (nullable): the deleted token ids (gint64 keys
 *   of a set), %NULL on error
 */
GHashTable *
natter_server_db_prune_tokens (NatterServerDb *self, gint64 now_unix, GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;
  g_autoptr (GHashTable) pruned = NULL;
  int rc;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);

  stmt = natter_server_db_prepare (
    self, "DELETE FROM tokens WHERE expires_at <= ? OR revoked_at IS NOT NULL RETURNING token_id;",
    error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, now_unix);
  pruned = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    gint64 *token_id = g_new (gint64, 1);

    *token_id = sqlite3_column_int64 (stmt, 0);
    g_hash_table_add (pruned, token_id);
  }
  if (rc != SQLITE_DONE) {
    natter_db_set_error (self, rc, error);
    return NULL;
  }

  return g_steal_pointer (&pruned);
}

NatterProfile *
natter_server_db_get_profile (NatterServerDb *self,
                              gint64 profile_id,
                              const char *profile_type,
                              GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (profile_type != NULL, NULL);

  stmt = natter_server_db_prepare (
    self,
    "SELECT p.profile_id, p.profile_type, u.display_name, p.avatar IS NOT NULL"
    " FROM profiles p JOIN users u ON u.user_id = p.user_id"
    " WHERE p.profile_id = ? AND p.profile_type = ?;",
    error);
  if (stmt == NULL)
    return NULL;
  natter_db_bind_profile (stmt, 1, profile_id, profile_type);
  if (!natter_db_step_row (self, stmt, error, "no profile %s %" G_GINT64_FORMAT, profile_type,
                           profile_id))
    return NULL;

  return natter_db_column_profile (stmt, 0);
}

gint64
natter_server_db_get_profile_owner (NatterServerDb *self,
                                    gint64 profile_id,
                                    const char *profile_type)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);
  g_return_val_if_fail (profile_type != NULL, 0);

  stmt = natter_server_db_prepare (
    self, "SELECT user_id FROM profiles WHERE profile_id = ? AND profile_type = ?;", NULL);
  if (stmt == NULL)
    return 0;
  natter_db_bind_profile (stmt, 1, profile_id, profile_type);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return 0;

  return sqlite3_column_int64 (stmt, 0);
}

GPtrArray *
natter_server_db_search_profiles (NatterServerDb *self,
                                  const char *query,
                                  guint limit,
                                  GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;
  GString *pattern = g_string_new ("%");

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);

  /* The search text is literal: escape LIKE's wildcards. */
  for (const char *p = query != NULL ? query : ""; *p != '\0'; p++) {
    if (*p == '%' || *p == '_' || *p == '\\')
      g_string_append_c (pattern, '\\');
    g_string_append_c (pattern, *p);
  }
  g_string_append_c (pattern, '%');

  stmt = natter_server_db_prepare (
    self,
    "SELECT p.profile_id, p.profile_type, u.display_name, p.avatar IS NOT NULL"
    " FROM profiles p JOIN users u ON u.user_id = p.user_id"
    " WHERE u.display_name LIKE ? ESCAPE '\\'"
    " ORDER BY u.display_name COLLATE NOCASE, p.profile_id LIMIT ?;",
    error);
  if (stmt == NULL) {
    g_string_free (pattern, TRUE);
    return NULL;
  }
  sqlite3_bind_text (stmt, 1, pattern->str, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 2, limit);
  g_string_free (pattern, TRUE);
  return natter_db_step_profiles (self, stmt, error);
}

gboolean
natter_server_db_set_avatar (NatterServerDb *self,
                             gint64 profile_id,
                             const char *profile_type,
                             GBytes *image,
                             const char *content_type,
                             GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;
  gsize size = 0;
  gconstpointer data;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (profile_type != NULL && content_type != NULL, FALSE);
  g_return_val_if_fail (image != NULL, FALSE);

  stmt = natter_server_db_prepare (self,
                                   "UPDATE profiles SET avatar = ?, avatar_content_type = ?"
                                   " WHERE profile_id = ? AND profile_type = ?;",
                                   error);
  if (stmt == NULL)
    return FALSE;
  data = g_bytes_get_data (image, &size);
  sqlite3_bind_blob64 (stmt, 1, size > 0 ? data : "", size, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 2, content_type, -1, SQLITE_TRANSIENT);
  natter_db_bind_profile (stmt, 3, profile_id, profile_type);
  if (!natter_db_step_done (self, stmt, error))
    return FALSE;
  if (sqlite3_changes (self->handle) == 0) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no such profile");
    return FALSE;
  }

  return TRUE;
}

GBytes *
natter_server_db_get_avatar (NatterServerDb *self,
                             gint64 profile_id,
                             const char *profile_type,
                             char **out_content_type,
                             GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (profile_type != NULL, NULL);

  stmt = natter_server_db_prepare (self,
                                   "SELECT avatar, avatar_content_type FROM profiles"
                                   " WHERE profile_id = ? AND profile_type = ?"
                                   " AND avatar IS NOT NULL;",
                                   error);
  if (stmt == NULL)
    return NULL;
  natter_db_bind_profile (stmt, 1, profile_id, profile_type);
  if (!natter_db_step_row (self, stmt, error, "no avatar"))
    return NULL;
  if (out_content_type != NULL)
    *out_content_type = natter_db_column_dup (stmt, 1);

  return g_bytes_new (sqlite3_column_blob (stmt, 0), (gsize) sqlite3_column_bytes (stmt, 0));
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
  natter_db_bind_profile_at (stmt, 1, blocker);
  natter_db_bind_profile_at (stmt, 3, blocked);
  sqlite3_bind_int64 (stmt, 5, g_get_real_time () / 1000);
  return natter_db_step_reset (self, stmt, error);
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
  natter_db_bind_profile_at (stmt, 1, blocker);
  natter_db_bind_profile_at (stmt, 3, blocked);
  return natter_db_step_reset (self, stmt, error);
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
  natter_db_bind_profile_at (stmt, 1, blocker);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
    gint64 id = sqlite3_column_int64 (stmt, 0);

    g_array_append_val (ids, id);
    g_ptr_array_add (types, g_strdup ((const char *) sqlite3_column_text (stmt, 1)));
  }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE) {
    natter_db_fail (self, error);
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

  /* Two primary-key probes: written as one WHERE with OR, SQLite made a
   * temporary b-tree on every call to merge the two lookups, and the hub
   * asks this for every chat message. */
  stmt = natter_server_db_prepare (
    self,
    "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = ?1 AND blocker_type = ?2"
    " AND blocked_id = ?3 AND blocked_type = ?4) OR EXISTS (SELECT 1 FROM blocks"
    " WHERE blocker_id = ?3 AND blocker_type = ?4 AND blocked_id = ?1 AND blocked_type = ?2);",
    NULL);
  if (stmt == NULL)
    return FALSE;
  natter_db_bind_profile_at (stmt, 1, a);
  natter_db_bind_profile_at (stmt, 3, b);
  blocked = sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_int (stmt, 0) != 0;
  sqlite3_reset (stmt);

  return blocked;
}
