/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Shared by the SQLite storage files only (natter-server-db*.c): the handle,
 * the statement cache and the helpers every query uses. Nothing else in the
 * server includes sqlite3.h. */

#include <sqlite3.h>

#include "natter-server-db.h"
#include "natter-wal-checkpointer.h"

G_BEGIN_DECLS

struct _NatterServerDb {
  GObject parent_instance;

  sqlite3 *handle;
  NatterWalCheckpointer *checkpointer;
  GHashTable *statements; /* SQL text -> sqlite3_stmt */
  /* The same, keyed by the address of the caller's SQL text: nearly every
   * caller passes a string literal, and hashing a 200-byte query on every
   * call cost more than running some of them. Checked with strcmp. */
  GHashTable *statements_by_address;
  /* EventOwner -> the profile's last event_id (gint64 *), so that storing an
   * event needs no MAX() query. Only this process writes the database; a
   * rollback forgets everything, whatever it wrote may be gone. */
  GHashTable *last_event_ids;
  /* Another connection (the store's writer) adds the events: the cache
   * above would go stale, every read asks the database. */
  gboolean events_written_elsewhere;
  /* PRAGMA data_version when this connection's last transaction began: it
   * moves when another connection, maybe another process (a second node
   * on this file), committed meanwhile, and then last_event_ids is stale. */
  gint64 data_version;
  guint transaction_depth;
  gboolean rollback_only;
  /* Between natter_server_db_begin_reads () and _end_reads (): a deferred
   * transaction holds one read lock for all the reads in it. */
  gboolean in_reads;
  /* The store's writer calls natter_server_db_catch_up_wal () itself. */
  gboolean wal_catch_up_deferred;
};

/* A profile as the key of last_event_ids: the type is interned, so that
 * keys compare by pointer. */
typedef struct {
  gint64 profile_id;
  const char *profile_type;
} EventOwner;

/* Releasing a statement resets it, so that no read transaction stays open
 * and the cached statement is ready for the next caller. */
typedef sqlite3_stmt NatterDbStmt;

void natter_db_stmt_release (NatterDbStmt *stmt);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterDbStmt, natter_db_stmt_release)

/* A statement prepared once per SQL text, cached and returned reset with its
 * bindings cleared. The caller resets it again when done (g_autoptr
 * (NatterDbStmt) does). */
sqlite3_stmt *natter_server_db_prepare (NatterServerDb *self, const char *sql, GError **error);

/* Sets @error from @rc and the handle's message (EXISTS for a constraint);
 * returns FALSE. */
gboolean natter_db_set_error (NatterServerDb *self, int rc, GError **error);
/* The same for the handle's last error. */
gboolean natter_db_fail (NatterServerDb *self, GError **error);
gboolean natter_db_exec (NatterServerDb *self, const char *sql, GError **error);

/* Runs a statement that returns no rows. */
gboolean natter_db_step_done (NatterServerDb *self, sqlite3_stmt *stmt, GError **error);
/* The same, and resets it either way. */
gboolean natter_db_step_reset (NatterServerDb *self, sqlite3_stmt *stmt, GError **error);
/* Steps @stmt to its one row: TRUE on a row; FALSE with NOT_FOUND and the
 * message @not_found when there is none, FAILED on an SQLite error. */
gboolean natter_db_step_row (NatterServerDb *self,
                             sqlite3_stmt *stmt,
                             GError **error,
                             const char *not_found,
                             ...) G_GNUC_PRINTF (4, 5);

void
natter_db_bind_profile (sqlite3_stmt *stmt, int first, gint64 profile_id, const char *profile_type);
void natter_db_bind_profile_at (sqlite3_stmt *stmt, int first, const NatterProfile *profile);

char *natter_db_column_dup (sqlite3_stmt *stmt, int column);
/* A millisecond time column as PROTOCOL.md's time text, NULL for NULL. */
char *natter_db_column_time (sqlite3_stmt *stmt, int column);
/* Reads a profile from four columns: id, type, display name, has avatar. */
NatterProfile *natter_db_column_profile (sqlite3_stmt *stmt, int first);
/* Every row of @stmt as such a profile; NULL with @error on an SQLite error. */
GPtrArray *natter_db_step_profiles (NatterServerDb *self, sqlite3_stmt *stmt, GError **error);
char *natter_db_avatar_url_for (gint64 profile_id, const char *profile_type);

gint64 natter_db_now_ms (void);
char *natter_db_format_ms (gint64 ms);
void natter_db_reverse_array (GPtrArray *array);

/* The cache of each profile's last event id (see last_event_ids). */
void natter_db_remember_last_event_id (NatterServerDb *self,
                                       const NatterProfile *profile,
                                       gint64 event_id);
void natter_db_forget_uncommitted (NatterServerDb *self);

G_END_DECLS
