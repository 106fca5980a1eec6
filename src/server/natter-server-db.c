/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-db"

#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <time.h>

#include "natter-server-db-attachments.h"
#include "natter-server-db-private.h"
#include "natter-sqlite-coalescing-vfs.h"

/* WAL size that starts a checkpoint: SQLite's own default (4 MiB). */
#define CHECKPOINT_THRESHOLD_PAGES 1000

G_DEFINE_FINAL_TYPE (NatterServerDb, natter_server_db, G_TYPE_OBJECT)

G_DEFINE_QUARK (natter - server - db - error - quark, natter_server_db_error)

void
natter_db_stmt_release (NatterDbStmt *stmt)
{
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}

/* Each entry moves the schema from version (index) to version (index + 1). */
static const char *const migrations[] = {
  "CREATE TABLE users ("
  "  user_id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  email TEXT NOT NULL UNIQUE,"
  "  password_hash TEXT NOT NULL,"
  "  display_name TEXT NOT NULL,"
  "  created_at INTEGER NOT NULL);"
  "CREATE TABLE profiles ("
  "  profile_id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  profile_type TEXT NOT NULL,"
  "  user_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,"
  "  avatar BLOB,"
  "  avatar_content_type TEXT,"
  "  UNIQUE (user_id, profile_type));"
  "CREATE TABLE tokens ("
  "  token_id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  user_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,"
  "  token_hash TEXT NOT NULL UNIQUE,"
  "  created_at INTEGER NOT NULL,"
  "  expires_at INTEGER NOT NULL,"
  "  revoked_at INTEGER);"
  "CREATE TABLE conversations ("
  "  conversation_id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  direct_key TEXT UNIQUE,"
  "  created_at INTEGER NOT NULL,"
  "  updated_at INTEGER NOT NULL,"
  "  last_seq INTEGER NOT NULL DEFAULT 0);"
  "CREATE TABLE participants ("
  "  conversation_id INTEGER NOT NULL REFERENCES conversations (conversation_id) ON DELETE CASCADE,"
  "  profile_id INTEGER NOT NULL,"
  "  profile_type TEXT NOT NULL,"
  "  last_read_seq INTEGER NOT NULL DEFAULT 0,"
  "  PRIMARY KEY (conversation_id, profile_id, profile_type));"
  "CREATE INDEX participants_by_profile ON participants (profile_id, profile_type);"
  "CREATE TABLE messages ("
  "  message_id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  conversation_id INTEGER NOT NULL REFERENCES conversations (conversation_id) ON DELETE CASCADE,"
  "  seq INTEGER NOT NULL,"
  "  sender_id INTEGER NOT NULL,"
  "  sender_type TEXT NOT NULL,"
  "  text TEXT NOT NULL,"
  "  sent_at INTEGER NOT NULL,"
  "  client_msg_id TEXT,"
  "  UNIQUE (conversation_id, seq));"
  "CREATE UNIQUE INDEX messages_by_client_id ON messages (sender_id, sender_type, client_msg_id)"
  "  WHERE client_msg_id IS NOT NULL;"
  "CREATE TABLE events ("
  "  profile_id INTEGER NOT NULL,"
  "  profile_type TEXT NOT NULL,"
  "  event_id INTEGER NOT NULL,"
  "  frame TEXT NOT NULL,"
  "  created_at INTEGER NOT NULL,"
  "  PRIMARY KEY (profile_id, profile_type, event_id)) WITHOUT ROWID;"
  "CREATE TABLE calls ("
  "  call_log_id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  conversation_id INTEGER,"
  "  caller_id INTEGER NOT NULL,"
  "  caller_type TEXT NOT NULL,"
  "  callee_id INTEGER NOT NULL,"
  "  callee_type TEXT NOT NULL,"
  "  call_type TEXT NOT NULL,"
  "  status TEXT NOT NULL,"
  "  started_at INTEGER NOT NULL,"
  "  answered_at INTEGER,"
  "  ended_at INTEGER,"
  "  duration_s INTEGER NOT NULL DEFAULT 0);"
  "CREATE INDEX calls_by_caller ON calls (caller_id, caller_type, call_log_id);"
  "CREATE INDEX calls_by_callee ON calls (callee_id, callee_type, call_log_id);"
  "CREATE INDEX calls_by_status ON calls (status);",

  /* 2: the history's epoch, the sender's own event of a message (its ack),
   * who took part in a conversation (presence), blocks. */
  "CREATE TABLE server_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
  "INSERT INTO server_meta (key, value) VALUES ('epoch', lower(hex(randomblob(16))));"
  "ALTER TABLE messages ADD COLUMN sender_event_id INTEGER;"
  "ALTER TABLE participants ADD COLUMN took_part INTEGER NOT NULL DEFAULT 0;"
  "UPDATE participants SET took_part = 1 WHERE EXISTS (SELECT 1 FROM messages m"
  "  WHERE m.conversation_id = participants.conversation_id"
  "  AND m.sender_id = participants.profile_id AND m.sender_type = participants.profile_type);"
  "CREATE TABLE blocks ("
  "  blocker_id INTEGER NOT NULL,"
  "  blocker_type TEXT NOT NULL,"
  "  blocked_id INTEGER NOT NULL,"
  "  blocked_type TEXT NOT NULL,"
  "  created_at INTEGER NOT NULL,"
  "  PRIMARY KEY (blocker_id, blocker_type, blocked_id, blocked_type)) WITHOUT ROWID;"
  "CREATE INDEX blocks_by_blocked ON blocks (blocked_id, blocked_type);",

  /* 3: attachments (natter-server-db-attachments.c) */
  natter_server_db_attachments_migration,
};

gint64
natter_db_now_ms (void)
{
  return g_get_real_time () / 1000;
}

/* What natter_format_time () writes for @ms, through GDateTime. */
static char *
format_ms_slowly (gint64 ms)
{
  g_autoptr (GDateTime) seconds = g_date_time_new_from_unix_utc (ms / 1000);
  g_autoptr (GDateTime) time = NULL;

  if (seconds == NULL)
    return NULL;
  time = g_date_time_add (seconds, (ms % 1000) * G_TIME_SPAN_MILLISECOND);

  return natter_format_time (time);
}

char *
natter_db_format_ms (gint64 ms)
{
  time_t seconds = (time_t) (ms / 1000);
  struct tm utc;

  /* Every stored time is read this way (each message's sent_at, read back
   * on the writer per message): gmtime_r costs a tenth of two GDateTimes
   * and their formatting. Outside years 1970 to 9999, the same as before. */
  if (ms < 0 || gmtime_r (&seconds, &utc) == NULL || utc.tm_year + 1900 > 9999)
    return format_ms_slowly (ms);

  return g_strdup_printf ("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                          utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, (int) (ms % 1000));
}

void
natter_db_reverse_array (GPtrArray *array)
{
  for (guint i = 0, j = array->len; i + 1 < j; i++, j--) {
    gpointer first = array->pdata[i];

    array->pdata[i] = array->pdata[j - 1];
    array->pdata[j - 1] = first;
  }
}

static guint
event_owner_hash (gconstpointer key)
{
  const EventOwner *owner = key;

  return g_int64_hash (&owner->profile_id) ^ g_direct_hash (owner->profile_type);
}

static gboolean
event_owner_equal (gconstpointer a, gconstpointer b)
{
  const EventOwner *first = a;
  const EventOwner *second = b;

  return first->profile_id == second->profile_id && first->profile_type == second->profile_type;
}

/* After a ROLLBACK: cached ids may name events that are gone. */
void
natter_db_forget_uncommitted (NatterServerDb *self)
{
  g_hash_table_remove_all (self->last_event_ids);
}

void
natter_db_remember_last_event_id (NatterServerDb *self,
                                  const NatterProfile *profile,
                                  gint64 event_id)
{
  EventOwner *owner = g_new (EventOwner, 1);

  owner->profile_id = profile->profile_id;
  owner->profile_type = g_intern_string (profile->profile_type);
  g_hash_table_replace (self->last_event_ids, owner, g_memdup2 (&event_id, sizeof event_id));
}

gboolean
natter_db_set_error (NatterServerDb *self, int rc, GError **error)
{
  int code = NATTER_SERVER_DB_ERROR_FAILED;

  if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT)
    code = NATTER_SERVER_DB_ERROR_EXISTS;
  g_set_error (error, NATTER_SERVER_DB_ERROR, code, "database: %s",
               self->handle != NULL ? sqlite3_errmsg (self->handle) : sqlite3_errstr (rc));

  return FALSE;
}

gboolean
natter_db_exec (NatterServerDb *self, const char *sql, GError **error)
{
  char *message = NULL;
  int rc = sqlite3_exec (self->handle, sql, NULL, NULL, &message);

  if (rc != SQLITE_OK) {
    g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED, "database: %s",
                 message != NULL ? message : sqlite3_errstr (rc));
    sqlite3_free (message);
    return FALSE;
  }

  return TRUE;
}

char *
natter_db_column_dup (sqlite3_stmt *stmt, int column)
{
  const unsigned char *text = sqlite3_column_text (stmt, column);

  return text != NULL ? g_strdup ((const char *) text) : NULL;
}

char *
natter_db_column_time (sqlite3_stmt *stmt, int column)
{
  if (sqlite3_column_type (stmt, column) == SQLITE_NULL)
    return NULL;

  return natter_db_format_ms (sqlite3_column_int64 (stmt, column));
}

GPtrArray *
natter_db_step_profiles (NatterServerDb *self, sqlite3_stmt *stmt, GError **error)
{
  g_autoptr (GPtrArray) profiles =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  int rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (profiles, natter_db_column_profile (stmt, 0));
  if (rc != SQLITE_DONE) {
    natter_db_set_error (self, rc, error);
    return NULL;
  }

  return g_steal_pointer (&profiles);
}

char *
natter_db_avatar_url_for (gint64 profile_id, const char *profile_type)
{
  return g_strdup_printf ("/api/profiles/%s/%" G_GINT64_FORMAT "/avatar", profile_type, profile_id);
}

NatterProfile *
natter_db_column_profile (sqlite3_stmt *stmt, int first)
{
  gint64 profile_id = sqlite3_column_int64 (stmt, first);
  const char *profile_type = (const char *) sqlite3_column_text (stmt, first + 1);
  const char *display_name = (const char *) sqlite3_column_text (stmt, first + 2);
  gboolean has_avatar = sqlite3_column_int (stmt, first + 3) != 0;
  g_autofree char *avatar_url = NULL;

  if (has_avatar)
    avatar_url = natter_db_avatar_url_for (profile_id, profile_type);

  return natter_profile_new (profile_id, profile_type, display_name, avatar_url);
}

static void
natter_server_db_finalize (GObject *object)
{
  NatterServerDb *self = NATTER_SERVER_DB (object);

  natter_server_db_close (self);
  g_clear_pointer (&self->statements_by_address, g_hash_table_unref);
  g_clear_pointer (&self->statements, g_hash_table_unref);
  g_clear_pointer (&self->last_event_ids, g_hash_table_unref);

  G_OBJECT_CLASS (natter_server_db_parent_class)->finalize (object);
}

static void
natter_server_db_class_init (NatterServerDbClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = natter_server_db_finalize;
}

static void
natter_server_db_init (NatterServerDb *self)
{
  self->statements =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) sqlite3_finalize);
  self->statements_by_address = g_hash_table_new (NULL, NULL);
  self->last_event_ids =
    g_hash_table_new_full (event_owner_hash, event_owner_equal, g_free, g_free);
}

static gboolean
migrate (NatterServerDb *self, GError **error)
{
  gint version = natter_server_db_get_schema_version (self);

  if (version > (gint) G_N_ELEMENTS (migrations)) {
    g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                 "database: schema version %d is newer than this server (%u)", version,
                 (guint) G_N_ELEMENTS (migrations));
    return FALSE;
  }

  for (; version < (gint) G_N_ELEMENTS (migrations); version++) {
    g_autofree char *set_version = g_strdup_printf ("PRAGMA user_version = %d;", version + 1);

    if (!natter_server_db_begin (self, error))
      return FALSE;
    if (!natter_db_exec (self, migrations[version], error) ||
        !natter_db_exec (self, set_version, error)) {
      natter_server_db_rollback (self);
      return FALSE;
    }
    if (!natter_server_db_commit (self, error))
      return FALSE;
    g_debug ("database schema migrated to version %d", version + 1);
  }

  return TRUE;
}

static int
on_wal_commit (gpointer user_data, sqlite3 *handle, const char *db_name, int wal_pages)
{
  NatterServerDb *self = user_data;

  natter_wal_checkpointer_notify (self->checkpointer, (guint) MAX (wal_pages, 0));
  return SQLITE_OK;
}

/* The VFS every connection of the server writes through, registered once for
 * the process: one write per transaction's WAL frames and per run of a
 * checkpoint's pages (see the file). */
static const char *
get_vfs_name (void)
{
  static gsize registered = 0;

  if (g_once_init_enter (&registered)) {
    g_autoptr (GError) error = NULL;
    /* Registered for the process's lifetime. */
    NatterSqliteCoalescingVfs *vfs = natter_sqlite_coalescing_vfs_register (
      NATTER_SQLITE_COALESCING_VFS_NAME, NATTER_SQLITE_COALESCING_VFS_BUFFER_LIMIT, &error);

    if (vfs == NULL)
      g_warning ("Writing the WAL frame by frame: %s", error->message);
    g_once_init_leave (&registered, vfs != NULL ? 1 : 2);
  }

  return registered == 1 ? NATTER_SQLITE_COALESCING_VFS_NAME : NULL;
}

/* SQLite checkpoints on the committing thread by default, and a checkpoint
 * waits for fsync twice: with every write on the main thread that stalled
 * the hub for tens of milliseconds every 1000 pages. A worker thread with
 * its own connection does them instead. With synchronous=FULL every commit
 * fsyncs the WAL: an acknowledged message survives a power cut, not only
 * the process being killed. */
static gboolean
start_checkpointer (NatterServerDb *self, const char *path, GError **error)
{
  g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (self, "PRAGMA journal_mode;", error);
  g_autoptr (GError) local_error = NULL;
  int rc;

  if (stmt == NULL)
    return FALSE;
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    return natter_db_set_error (self, rc, error);
  /* An in-memory or temporary database has no WAL to checkpoint. */
  if (g_ascii_strcasecmp ((const char *) sqlite3_column_text (stmt, 0), "wal") != 0)
    return TRUE;

  self->checkpointer =
    natter_wal_checkpointer_new (path, get_vfs_name (), CHECKPOINT_THRESHOLD_PAGES, &local_error);
  if (self->checkpointer == NULL) {
    g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED, "database: %s",
                 local_error->message);
    return FALSE;
  }

  sqlite3_wal_autocheckpoint (self->handle, 0);
  sqlite3_wal_hook (self->handle, on_wal_commit, self);

  return TRUE;
}

/* Tests make storage fail on purpose: NATTER_TEST_DB_MAX_PAGE_COUNT caps
 * the file at that many pages plus what it has now (SQLITE_FULL after). */
static gboolean
apply_test_page_limit (NatterServerDb *self, GError **error)
{
  const char *extra = g_getenv ("NATTER_TEST_DB_MAX_PAGE_COUNT");
  g_autoptr (NatterDbStmt) stmt = NULL;
  g_autofree char *pragma = NULL;
  guint64 pages = 0;

  if (extra == NULL || !g_ascii_string_to_unsigned (extra, 10, 0, G_MAXINT32, &pages, NULL))
    return TRUE;

  stmt = natter_server_db_prepare (self, "PRAGMA page_count;", error);
  if (stmt == NULL || sqlite3_step (stmt) != SQLITE_ROW)
    return stmt != NULL;
  pragma = g_strdup_printf ("PRAGMA max_page_count = %" G_GINT64_FORMAT ";",
                            (gint64) sqlite3_column_int64 (stmt, 0) + (gint64) pages);
  g_warning (
    "Test switch NATTER_TEST_DB_MAX_PAGE_COUNT: the database may grow by %" G_GUINT64_FORMAT
    " pages only",
    pages);
  return natter_db_exec (self, pragma, error);
}

void
natter_server_db_configure_library (void)
{
  /* SQLite's memory statistics take a global mutex on every allocation;
   * nothing reads them. Only possible before SQLite initializes. */
  sqlite3_config (SQLITE_CONFIG_MEMSTATUS, 0);
}

/**
 * natter_server_db_open:
 * @path: the database file; its folder is created if needed
 * @error: a #NatterServerDbError
 *
 * Opens the database in WAL mode and brings its schema to the current version.
 *
 * Returns: (transfer full) (nullable): the database
 */
NatterServerDb *
natter_server_db_open (const char *path, GError **error)
{
  g_autoptr (NatterServerDb) self = NULL;
  g_autofree char *folder = NULL;
  int rc;

  g_return_val_if_fail (path != NULL, NULL);

  folder = g_path_get_dirname (path);
  if (g_mkdir_with_parents (folder, 0700) != 0) {
    int saved_errno = errno;

    g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                 "database: cannot create %s: %s", folder, g_strerror (saved_errno));
    return NULL;
  }

  self = g_object_new (NATTER_TYPE_SERVER_DB, NULL);
  rc = sqlite3_open_v2 (path, &self->handle,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        get_vfs_name ());
  if (rc != SQLITE_OK) {
    natter_db_set_error (self, rc, error);
    g_prefix_error (error, "%s: ", path);
    return NULL;
  }
  sqlite3_busy_timeout (self->handle, 5000);
  sqlite3_extended_result_codes (self->handle, 1);

  /* 64 MiB of page cache and temporary b-trees in memory: the hub reads the
   * same few pages (participants, last event ids) for every message. No
   * mmap: the checkpointer grows the file all the time under load, and each
   * connection then maps it anew and faults its pages in again (about 4 maps
   * a second at 2,000 messages/s, a fifth of the server's CPU; see
   * bench/README.md). A WAL that grew during a burst is cut back to 64 MiB
   * when it rewinds. */
  if (!natter_db_exec (self, "PRAGMA journal_mode = WAL;", error) ||
      !natter_db_exec (self, "PRAGMA synchronous = FULL;", error) ||
      !natter_db_exec (self, "PRAGMA foreign_keys = ON;", error) ||
      !natter_db_exec (self, "PRAGMA cache_size = -65536;", error) ||
      !natter_db_exec (self, "PRAGMA temp_store = MEMORY;", error) ||
      !natter_db_exec (self, "PRAGMA journal_size_limit = 67108864;", error) ||
      !migrate (self, error) || !start_checkpointer (self, path, error) ||
      !apply_test_page_limit (self, error)) {
    g_prefix_error (error, "%s: ", path);
    return NULL;
  }

  return g_steal_pointer (&self);
}

/**
 * natter_server_db_close:
 * @self: the database
 *
 * Finalizes every statement and closes the file; later calls fail.
 */
void
natter_server_db_close (NatterServerDb *self)
{
  g_return_if_fail (NATTER_IS_SERVER_DB (self));

  if (self->handle == NULL)
    return;

  if (self->transaction_depth > 0) {
    g_warning ("closing the database inside a transaction; rolling back");
    natter_db_exec (self, "ROLLBACK;", NULL);
    self->transaction_depth = 0;
  }
  natter_db_forget_uncommitted (self);
  g_hash_table_remove_all (self->statements_by_address);
  g_hash_table_remove_all (self->statements);
  /* The worker's connection closes first: the main one, last to close,
   * checkpoints what is left and removes the WAL. */
  if (self->checkpointer != NULL) {
    sqlite3_wal_hook (self->handle, NULL, NULL);
    g_clear_pointer (&self->checkpointer, natter_wal_checkpointer_free);
  }
  sqlite3_close (self->handle);
  self->handle = NULL;
}

gint
natter_server_db_get_schema_version (NatterServerDb *self)
{
  g_autoptr (NatterDbStmt) stmt = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), -1);

  stmt = natter_server_db_prepare (self, "PRAGMA user_version;", NULL);
  if (stmt == NULL || sqlite3_step (stmt) != SQLITE_ROW)
    return -1;

  return sqlite3_column_int (stmt, 0);
}

guint
natter_server_db_get_n_checkpoints (NatterServerDb *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);

  if (self->checkpointer == NULL)
    return 0;

  return natter_wal_checkpointer_get_n_checkpoints (self->checkpointer);
}

guint
natter_server_db_get_n_wal_catch_ups (NatterServerDb *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);

  if (self->checkpointer == NULL)
    return 0;

  return natter_wal_checkpointer_get_n_catch_ups (self->checkpointer);
}

/* For tests: a WAL of @pages more pages starts a checkpoint (a no-op
 * without a WAL). */
void
natter_server_db_set_checkpoint_threshold (NatterServerDb *self, guint pages)
{
  g_return_if_fail (NATTER_IS_SERVER_DB (self));

  if (self->checkpointer != NULL)
    natter_wal_checkpointer_set_threshold (self->checkpointer, pages);
}

/**
 * natter_server_db_prepare:
 * @self: the database
 * @sql: one SQL statement
 * @error: a #NatterServerDbError
 *
 * Returns: (transfer none) (nullable): the cached statement, reset
 */
struct sqlite3_stmt *
natter_server_db_prepare (NatterServerDb *self, const char *sql, GError **error)
{
  sqlite3_stmt *stmt;
  int rc;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (sql != NULL, NULL);

  if (self->handle == NULL) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                         "database: closed");
    return NULL;
  }

  stmt = g_hash_table_lookup (self->statements_by_address, sql);
  if (stmt != NULL && strcmp (sqlite3_sql (stmt), sql) == 0) {
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    return stmt;
  }

  stmt = g_hash_table_lookup (self->statements, sql);
  if (stmt != NULL) {
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    g_hash_table_insert (self->statements_by_address, (gpointer) sql, stmt);
    return stmt;
  }

  rc = sqlite3_prepare_v3 (self->handle, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
  if (rc != SQLITE_OK) {
    natter_db_set_error (self, rc, error);
    return NULL;
  }
  g_hash_table_insert (self->statements, g_strdup (sql), stmt);
  g_hash_table_insert (self->statements_by_address, (gpointer) sql, stmt);

  return stmt;
}

gboolean
natter_db_step_done (NatterServerDb *self, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);

  if (rc != SQLITE_DONE)
    return natter_db_set_error (self, rc, error);

  return TRUE;
}

void
natter_db_bind_profile (sqlite3_stmt *stmt, int first, gint64 profile_id, const char *profile_type)
{
  sqlite3_bind_int64 (stmt, first, profile_id);
  sqlite3_bind_text (stmt, first + 1, profile_type, -1, SQLITE_TRANSIENT);
}

gboolean
natter_db_fail (NatterServerDb *self, GError **error)
{
  return natter_db_set_error (self, sqlite3_errcode (self->handle), error);
}

gboolean
natter_db_step_reset (NatterServerDb *self, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);

  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return natter_db_set_error (self, rc, error);

  return TRUE;
}

gboolean
natter_db_step_row (
  NatterServerDb *self, sqlite3_stmt *stmt, GError **error, const char *not_found, ...)
{
  int rc = sqlite3_step (stmt);
  va_list args;

  if (rc == SQLITE_ROW)
    return TRUE;
  if (rc != SQLITE_DONE)
    return natter_db_set_error (self, rc, error);

  va_start (args, not_found);
  g_propagate_error (error, g_error_new_valist (NATTER_SERVER_DB_ERROR,
                                                NATTER_SERVER_DB_ERROR_NOT_FOUND, not_found, args));
  va_end (args);

  return FALSE;
}

void
natter_db_bind_profile_at (sqlite3_stmt *stmt, int first, const NatterProfile *profile)
{
  natter_db_bind_profile (stmt, first, profile->profile_id, profile->profile_type);
}

/* Inside a write transaction: the cached last event ids hold unless another
 * connection committed since the last one began. */
static void
forget_foreign_commits (NatterServerDb *self)
{
  g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (self, "PRAGMA data_version;", NULL);
  gint64 version;

  if (stmt == NULL || sqlite3_step (stmt) != SQLITE_ROW) {
    natter_db_forget_uncommitted (self);
    return;
  }
  version = sqlite3_column_int64 (stmt, 0);
  if (version != self->data_version)
    natter_db_forget_uncommitted (self);
  self->data_version = version;
}

/**
 * natter_server_db_begin_reads:
 * @self: the database
 *
 * Starts a batch of reads that share one snapshot. Each read outside a
 * transaction is a transaction of its own, which in WAL mode takes and
 * drops a read lock on the shared-memory file (fcntl calls): the hub
 * checks every chat message with a few reads. Does nothing inside a transaction. A write
 * transaction begun before natter_server_db_end_reads () ends the batch first.
 */
void
natter_server_db_begin_reads (NatterServerDb *self)
{
  g_return_if_fail (NATTER_IS_SERVER_DB (self));

  if (self->handle == NULL || self->transaction_depth > 0 || self->in_reads)
    return;
  self->in_reads = natter_db_exec (self, "BEGIN;", NULL);
}

void
natter_server_db_end_reads (NatterServerDb *self)
{
  g_return_if_fail (NATTER_IS_SERVER_DB (self));

  if (!self->in_reads)
    return;
  self->in_reads = FALSE;
  /* A read-only transaction cannot fail to commit; roll back if it did. */
  if (!natter_db_exec (self, "COMMIT;", NULL))
    natter_db_exec (self, "ROLLBACK;", NULL);
}

gboolean
natter_server_db_begin (NatterServerDb *self, GError **error)
{
  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);

  /* A write needs the newest snapshot and BEGIN IMMEDIATE. */
  if (self->in_reads)
    natter_server_db_end_reads (self);

  if (self->transaction_depth == 0) {
    if (self->handle == NULL) {
      g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                           "database: closed");
      return FALSE;
    }
    if (!natter_db_exec (self, "BEGIN IMMEDIATE;", error))
      return FALSE;
    self->rollback_only = FALSE;
    forget_foreign_commits (self);
  }
  self->transaction_depth++;

  return TRUE;
}

gboolean
natter_server_db_commit (NatterServerDb *self, GError **error)
{
  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (self->transaction_depth > 0, FALSE);

  if (--self->transaction_depth > 0)
    return TRUE;

  if (self->rollback_only) {
    natter_db_exec (self, "ROLLBACK;", NULL);
    natter_db_forget_uncommitted (self);
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                         "database: an inner transaction was rolled back");
    return FALSE;
  }
  if (!natter_db_exec (self, "COMMIT;", error)) {
    natter_db_exec (self, "ROLLBACK;", NULL);
    natter_db_forget_uncommitted (self);
    return FALSE;
  }
  if (!self->wal_catch_up_deferred)
    natter_server_db_catch_up_wal (self, TRUE);

  return TRUE;
}

/**
 * natter_server_db_catch_up_wal:
 * @self: the database, outside a transaction
 * @idle: whether nothing waits for this connection's thread (otherwise it
 *   only copies once the WAL grew very large)
 *
 * After a checkpoint pass of the worker, copies the few frames this
 * connection committed since, so that its next transaction can rewind the
 * WAL to its start (natter-wal-checkpointer.c says why). Commits do it
 * themselves unless natter_server_db_defer_wal_catch_up () was called.
 */
void
natter_server_db_catch_up_wal (NatterServerDb *self, gboolean idle)
{
  g_return_if_fail (NATTER_IS_SERVER_DB (self));

  if (self->checkpointer != NULL && self->handle != NULL && self->transaction_depth == 0)
    natter_wal_checkpointer_catch_up (self->checkpointer, self->handle, idle);
}

/**
 * natter_server_db_defer_wal_catch_up:
 * @self: the database
 *
 * Commits leave natter_server_db_catch_up_wal () to the caller, which
 * calls it when a short pause costs least (the store's writer: after the
 * turn's callbacks were scheduled).
 */
void
natter_server_db_defer_wal_catch_up (NatterServerDb *self)
{
  g_return_if_fail (NATTER_IS_SERVER_DB (self));

  self->wal_catch_up_deferred = TRUE;
}

void
natter_server_db_rollback (NatterServerDb *self)
{
  g_return_if_fail (NATTER_IS_SERVER_DB (self));
  g_return_if_fail (self->transaction_depth > 0);

  if (--self->transaction_depth > 0) {
    /* The outermost commit will roll everything back. */
    self->rollback_only = TRUE;
    return;
  }
  natter_db_exec (self, "ROLLBACK;", NULL);
  natter_db_forget_uncommitted (self);
}
