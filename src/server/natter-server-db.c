/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-db"

#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

#include "natter-server-db.h"
#include "natter-server-db-attachments.h"
#include "natter-wal-checkpointer.h"

/* WAL size that starts a checkpoint: SQLite's own default (4 MiB). */
#define CHECKPOINT_THRESHOLD_PAGES 1000

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
  guint transaction_depth;
  gboolean rollback_only;
};

/* A profile as the key of last_event_ids: the type is interned, so that
 * keys compare by pointer. */
typedef struct {
  gint64 profile_id;
  const char *profile_type;
} EventOwner;

G_DEFINE_FINAL_TYPE (NatterServerDb, natter_server_db, G_TYPE_OBJECT)

G_DEFINE_QUARK (natter - server - db - error - quark, natter_server_db_error)

/* Releasing a statement resets it, so that no read transaction stays open
 * and the cached statement is ready for the next caller. */
typedef sqlite3_stmt NatterDbStmt;

static void
natter_db_stmt_release (NatterDbStmt *stmt)
{
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterDbStmt, natter_db_stmt_release)

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

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

static char *
format_ms (gint64 ms)
{
  g_autoptr (GDateTime) seconds = g_date_time_new_from_unix_utc (ms / 1000);
  g_autoptr (GDateTime) time = NULL;

  if (seconds == NULL)
    return NULL;
  time = g_date_time_add (seconds, (ms % 1000) * G_TIME_SPAN_MILLISECOND);

  return natter_format_time (time);
}

static void
reverse_array (GPtrArray *array)
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
static void
forget_uncommitted (NatterServerDb *self)
{
  g_hash_table_remove_all (self->last_event_ids);
}

static void
remember_last_event_id (NatterServerDb *self, const NatterProfile *profile, gint64 event_id)
{
  EventOwner *owner = g_new (EventOwner, 1);

  owner->profile_id = profile->profile_id;
  owner->profile_type = g_intern_string (profile->profile_type);
  g_hash_table_replace (self->last_event_ids, owner, g_memdup2 (&event_id, sizeof event_id));
}

static gboolean
set_error_from_sqlite (NatterServerDb *self, int rc, GError **error)
{
  int code = NATTER_SERVER_DB_ERROR_FAILED;

  if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT)
    code = NATTER_SERVER_DB_ERROR_EXISTS;
  g_set_error (error, NATTER_SERVER_DB_ERROR, code, "database: %s",
               self->handle != NULL ? sqlite3_errmsg (self->handle) : sqlite3_errstr (rc));

  return FALSE;
}

static gboolean
exec (NatterServerDb *self, const char *sql, GError **error)
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

static char *
column_dup (sqlite3_stmt *stmt, int column)
{
  const unsigned char *text = sqlite3_column_text (stmt, column);

  return text != NULL ? g_strdup ((const char *) text) : NULL;
}

static char *
column_time (sqlite3_stmt *stmt, int column)
{
  if (sqlite3_column_type (stmt, column) == SQLITE_NULL)
    return NULL;

  return format_ms (sqlite3_column_int64 (stmt, column));
}

static char *
avatar_url_for (gint64 profile_id, const char *profile_type)
{
  return g_strdup_printf ("/api/profiles/%s/%" G_GINT64_FORMAT "/avatar", profile_type, profile_id);
}

/* Reads a profile from four columns: id, type, display name, has avatar. */
static NatterProfile *
column_profile (sqlite3_stmt *stmt, int first)
{
  gint64 profile_id = sqlite3_column_int64 (stmt, first);
  const char *profile_type = (const char *) sqlite3_column_text (stmt, first + 1);
  const char *display_name = (const char *) sqlite3_column_text (stmt, first + 2);
  gboolean has_avatar = sqlite3_column_int (stmt, first + 3) != 0;
  g_autofree char *avatar_url = NULL;

  if (has_avatar)
    avatar_url = avatar_url_for (profile_id, profile_type);

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
    if (!exec (self, migrations[version], error) || !exec (self, set_version, error)) {
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
  int rc;

  if (stmt == NULL)
    return FALSE;
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    return set_error_from_sqlite (self, rc, error);
  /* An in-memory or temporary database has no WAL to checkpoint. */
  if (g_ascii_strcasecmp ((const char *) sqlite3_column_text (stmt, 0), "wal") != 0)
    return TRUE;

  self->checkpointer = natter_wal_checkpointer_new (path, CHECKPOINT_THRESHOLD_PAGES, error);
  if (self->checkpointer == NULL)
    return FALSE;

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
  return exec (self, pragma, error);
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
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    set_error_from_sqlite (self, rc, error);
    g_prefix_error (error, "%s: ", path);
    return NULL;
  }
  sqlite3_busy_timeout (self->handle, 5000);
  sqlite3_extended_result_codes (self->handle, 1);

  /* 16 MiB of page cache, reads through mmap, temporary b-trees in memory:
   * the hub reads the same few pages (participants, last event ids) for
   * every message. A WAL that grew during a burst is cut back to 64 MiB
   * when it rewinds. */
  if (!exec (self, "PRAGMA journal_mode = WAL;", error) ||
      !exec (self, "PRAGMA synchronous = FULL;", error) ||
      !exec (self, "PRAGMA foreign_keys = ON;", error) ||
      !exec (self, "PRAGMA cache_size = -16384;", error) ||
      !exec (self, "PRAGMA mmap_size = 268435456;", error) ||
      !exec (self, "PRAGMA temp_store = MEMORY;", error) ||
      !exec (self, "PRAGMA journal_size_limit = 67108864;", error) || !migrate (self, error) ||
      !start_checkpointer (self, path, error) || !apply_test_page_limit (self, error)) {
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
    exec (self, "ROLLBACK;", NULL);
    self->transaction_depth = 0;
  }
  forget_uncommitted (self);
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

/**
 * natter_server_db_get_handle:
 * @self: the database
 *
 * Returns: (transfer none) (nullable): the SQLite handle, %NULL once closed
 */
struct sqlite3 *
natter_server_db_get_handle (NatterServerDb *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);

  return self->handle;
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
    set_error_from_sqlite (self, rc, error);
    return NULL;
  }
  g_hash_table_insert (self->statements, g_strdup (sql), stmt);
  g_hash_table_insert (self->statements_by_address, (gpointer) sql, stmt);

  return stmt;
}

/* Runs a statement that returns no rows. */
static gboolean
step_done (NatterServerDb *self, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);

  if (rc != SQLITE_DONE)
    return set_error_from_sqlite (self, rc, error);

  return TRUE;
}

static void
bind_profile (sqlite3_stmt *stmt, int first, gint64 profile_id, const char *profile_type)
{
  sqlite3_bind_int64 (stmt, first, profile_id);
  sqlite3_bind_text (stmt, first + 1, profile_type, -1, SQLITE_TRANSIENT);
}

gboolean
natter_server_db_begin (NatterServerDb *self, GError **error)
{
  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);

  if (self->transaction_depth == 0) {
    if (self->handle == NULL) {
      g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                           "database: closed");
      return FALSE;
    }
    if (!exec (self, "BEGIN IMMEDIATE;", error))
      return FALSE;
    self->rollback_only = FALSE;
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
    exec (self, "ROLLBACK;", NULL);
    forget_uncommitted (self);
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                         "database: an inner transaction was rolled back");
    return FALSE;
  }
  if (!exec (self, "COMMIT;", error)) {
    exec (self, "ROLLBACK;", NULL);
    forget_uncommitted (self);
    return FALSE;
  }

  return TRUE;
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
  exec (self, "ROLLBACK;", NULL);
  forget_uncommitted (self);
}

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
    sqlite3_bind_int64 (stmt, 4, now_ms ());
    rc = sqlite3_step (stmt);
    if (rc != SQLITE_DONE) {
      set_error_from_sqlite (self, rc, error);
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
    if (!step_done (self, stmt, error))
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
  int rc;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), FALSE);
  g_return_val_if_fail (email != NULL, FALSE);

  stmt = natter_server_db_prepare (
    self, "SELECT user_id, password_hash FROM users WHERE email = ?;", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, email, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no such user");
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return set_error_from_sqlite (self, rc, error);

  if (out_user_id != NULL)
    *out_user_id = sqlite3_column_int64 (stmt, 0);
  if (out_password_hash != NULL)
    *out_password_hash = column_dup (stmt, 1);

  return TRUE;
}

static GPtrArray *
list_user_profiles (NatterServerDb *self, gint64 user_id, GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;
  g_autoptr (GPtrArray) profiles =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  int rc;

  stmt = natter_server_db_prepare (
    self,
    "SELECT p.profile_id, p.profile_type, u.display_name, p.avatar IS NOT NULL"
    " FROM profiles p JOIN users u ON u.user_id = p.user_id"
    " WHERE p.user_id = ? ORDER BY p.profile_id;",
    error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, user_id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (profiles, column_profile (stmt, 0));
  if (rc != SQLITE_DONE) {
    set_error_from_sqlite (self, rc, error);
    return NULL;
  }

  return g_steal_pointer (&profiles);
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
    int rc;

    if (stmt == NULL)
      return NULL;
    sqlite3_bind_int64 (stmt, 1, user_id);
    rc = sqlite3_step (stmt);
    if (rc == SQLITE_DONE) {
      g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                           "no such user");
      return NULL;
    }
    if (rc != SQLITE_ROW) {
      set_error_from_sqlite (self, rc, error);
      return NULL;
    }
    user = natter_user_new ();
    user->user_id = user_id;
    user->email = column_dup (stmt, 0);
    user->display_name = column_dup (stmt, 1);
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
  if (!step_done (self, stmt, error))
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
  int rc;

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
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "unknown, expired or revoked token");
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return set_error_from_sqlite (self, rc, error);

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
  if (!step_done (self, stmt, error))
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

  return step_done (self, stmt, error);
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
    set_error_from_sqlite (self, rc, error);
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
  int rc;

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
  bind_profile (stmt, 1, profile_id, profile_type);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE) {
    g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                 "no profile %s %" G_GINT64_FORMAT, profile_type, profile_id);
    return NULL;
  }
  if (rc != SQLITE_ROW) {
    set_error_from_sqlite (self, rc, error);
    return NULL;
  }

  return column_profile (stmt, 0);
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
  bind_profile (stmt, 1, profile_id, profile_type);
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
  g_autoptr (GPtrArray) profiles =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  GString *pattern = g_string_new ("%");
  int rc;

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
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (profiles, column_profile (stmt, 0));
  if (rc != SQLITE_DONE) {
    set_error_from_sqlite (self, rc, error);
    return NULL;
  }

  return g_steal_pointer (&profiles);
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
  bind_profile (stmt, 3, profile_id, profile_type);
  if (!step_done (self, stmt, error))
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
  int rc;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (profile_type != NULL, NULL);

  stmt = natter_server_db_prepare (self,
                                   "SELECT avatar, avatar_content_type FROM profiles"
                                   " WHERE profile_id = ? AND profile_type = ?"
                                   " AND avatar IS NOT NULL;",
                                   error);
  if (stmt == NULL)
    return NULL;
  bind_profile (stmt, 1, profile_id, profile_type);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no avatar");
    return NULL;
  }
  if (rc != SQLITE_ROW) {
    set_error_from_sqlite (self, rc, error);
    return NULL;
  }
  if (out_content_type != NULL)
    *out_content_type = column_dup (stmt, 1);

  return g_bytes_new (sqlite3_column_blob (stmt, 0), (gsize) sqlite3_column_bytes (stmt, 0));
}

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
  bind_profile (stmt, 2, profile->profile_id, profile->profile_type);

  return step_done (self, stmt, error);
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
gint64
natter_server_db_ensure_direct (NatterServerDb *self,
                                const NatterProfile *a,
                                const NatterProfile *b,
                                GError **error)
{
  gint64 conversation_id;
  g_autofree char *key = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);
  g_return_val_if_fail (a != NULL && b != NULL, 0);

  if (natter_profile_equal (a, b)) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                         "a conversation needs two different profiles");
    return 0;
  }

  conversation_id = natter_server_db_find_direct (self, a, b);
  if (conversation_id != 0)
    return conversation_id;

  if (natter_server_db_get_profile_owner (self, a->profile_id, a->profile_type) == 0 ||
      natter_server_db_get_profile_owner (self, b->profile_id, b->profile_type) == 0) {
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
    gint64 now = now_ms ();

    if (stmt == NULL)
      goto failed;
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (stmt, 2, now);
    sqlite3_bind_int64 (stmt, 3, now);
    if (!step_done (self, stmt, error))
      goto failed;
    conversation_id = sqlite3_last_insert_rowid (self->handle);
  }

  if (!add_participant (self, conversation_id, a, error) ||
      !add_participant (self, conversation_id, b, error))
    goto failed;
  if (!natter_server_db_commit (self, error))
    return 0;

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
  message->text = column_dup (stmt, 3);
  message->sent_at = column_time (stmt, 4);
  message->client_msg_id = column_dup (stmt, 5);
  message->sender = column_profile (stmt, 6);

  return message;
}

static NatterMessage *
get_message (NatterServerDb *self, gint64 message_id, GError **error)
{
  g_autoptr (NatterDbStmt) stmt =
    natter_server_db_prepare (self, MESSAGE_COLUMNS "WHERE m.message_id = ?;", error);
  int rc;

  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, message_id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no such message");
    return NULL;
  }
  if (rc != SQLITE_ROW) {
    set_error_from_sqlite (self, rc, error);
    return NULL;
  }

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
    int rc;

    if (stmt == NULL)
      return NULL;
    sqlite3_bind_int64 (stmt, 1, conversation_id);
    rc = sqlite3_step (stmt);
    if (rc == SQLITE_DONE) {
      g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                           "no such conversation");
      return NULL;
    }
    if (rc != SQLITE_ROW) {
      set_error_from_sqlite (self, rc, error);
      return NULL;
    }
    conversation->updated_at = column_time (stmt, 0);
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
      set_error_from_sqlite (self, rc, error);
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
    bind_profile (stmt, 2, viewer->profile_id, viewer->profile_type);
    rc = sqlite3_step (stmt);
    if (rc != SQLITE_ROW) {
      set_error_from_sqlite (self, rc, error);
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
  bind_profile (stmt, 2, profile->profile_id, profile->profile_type);

  return sqlite3_step (stmt) == SQLITE_ROW;
}

GPtrArray *
natter_server_db_list_participants (NatterServerDb *self, gint64 conversation_id, GError **error)
{
  g_autoptr (NatterDbStmt) stmt = NULL;
  g_autoptr (GPtrArray) profiles =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  int rc;

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
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (profiles, column_profile (stmt, 0));
  if (rc != SQLITE_DONE) {
    set_error_from_sqlite (self, rc, error);
    return NULL;
  }

  return g_steal_pointer (&profiles);
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
    bind_profile (stmt, 1, viewer->profile_id, viewer->profile_type);
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
      gint64 id = sqlite3_column_int64 (stmt, 0);

      g_array_append_val (ids, id);
    }
    if (rc != SQLITE_DONE) {
      set_error_from_sqlite (self, rc, error);
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
  g_autoptr (GPtrArray) profiles =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  int rc;

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
  bind_profile (stmt, 1, profile->profile_id, profile->profile_type);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (profiles, column_profile (stmt, 0));
  if (rc != SQLITE_DONE) {
    set_error_from_sqlite (self, rc, error);
    return NULL;
  }

  return g_steal_pointer (&profiles);
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
  bind_profile (stmt, 1, sender->profile_id, sender->profile_type);
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
  gint64 seq;
  gint64 message_id;
  gint64 now = now_ms ();

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), NULL);
  g_return_val_if_fail (sender != NULL && text != NULL, NULL);

  if (!natter_server_db_begin (self, error))
    return NULL;

  {
    g_autoptr (NatterDbStmt) stmt =
      natter_server_db_prepare (self,
                                "UPDATE conversations SET last_seq = last_seq + 1, updated_at = ?"
                                " WHERE conversation_id = ? RETURNING last_seq;",
                                error);
    int rc;

    if (stmt == NULL)
      goto failed;
    sqlite3_bind_int64 (stmt, 1, now);
    sqlite3_bind_int64 (stmt, 2, conversation_id);
    rc = sqlite3_step (stmt);
    if (rc == SQLITE_DONE) {
      g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                           "no such conversation");
      goto failed;
    }
    if (rc != SQLITE_ROW) {
      set_error_from_sqlite (self, rc, error);
      goto failed;
    }
    seq = sqlite3_column_int64 (stmt, 0);
    /* RETURNING finishes the update only when stepped to the end. */
    rc = sqlite3_step (stmt);
    if (rc != SQLITE_DONE) {
      set_error_from_sqlite (self, rc, error);
      goto failed;
    }
  }

  {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self,
      "INSERT INTO messages (conversation_id, seq, sender_id, sender_type, text, sent_at,"
      " client_msg_id) VALUES (?, ?, ?, ?, ?, ?, ?);",
      error);

    if (stmt == NULL)
      goto failed;
    sqlite3_bind_int64 (stmt, 1, conversation_id);
    sqlite3_bind_int64 (stmt, 2, seq);
    bind_profile (stmt, 3, sender->profile_id, sender->profile_type);
    sqlite3_bind_text (stmt, 5, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (stmt, 6, now);
    if (client_msg_id != NULL)
      sqlite3_bind_text (stmt, 7, client_msg_id, -1, SQLITE_TRANSIENT);
    if (!step_done (self, stmt, error))
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
    set_error_from_sqlite (self, rc, error);
    return NULL;
  }

  if (out_has_more != NULL)
    *out_has_more = messages->len > limit;
  if (messages->len > limit)
    g_ptr_array_set_size (messages, limit);
  reverse_array (messages);

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
  bind_profile (stmt, 3, reader->profile_id, reader->profile_type);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "not a participant of that conversation");
    return FALSE;
  }
  if (rc != SQLITE_ROW)
    return set_error_from_sqlite (self, rc, error);
  if (out_up_to_seq != NULL)
    *out_up_to_seq = sqlite3_column_int64 (stmt, 0);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_DONE)
    return set_error_from_sqlite (self, rc, error);

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
gint64
natter_server_db_add_event_with_json (NatterServerDb *self,
                                      const NatterProfile *profile,
                                      NatterFrame *frame,
                                      char **out_json,
                                      GError **error)
{
  gint64 event_id;
  g_autofree char *json = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (self), 0);
  g_return_val_if_fail (profile != NULL && frame != NULL, 0);

  if (!natter_server_db_begin (self, error))
    return 0;

  event_id = natter_server_db_get_last_event_id (self, profile) + 1;
  frame->event_id = event_id;
  json = natter_frame_to_json (frame, NULL);

  {
    g_autoptr (NatterDbStmt) stmt = natter_server_db_prepare (
      self,
      "INSERT INTO events (profile_id, profile_type, event_id, frame, created_at)"
      " VALUES (?, ?, ?, ?, ?);",
      error);

    if (stmt == NULL)
      goto failed;
    bind_profile (stmt, 1, profile->profile_id, profile->profile_type);
    sqlite3_bind_int64 (stmt, 3, event_id);
    sqlite3_bind_text (stmt, 4, json, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 5, now_ms ());
    if (!step_done (self, stmt, error))
      goto failed;
  }
  remember_last_event_id (self, profile, event_id);

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
  cached = g_hash_table_lookup (self->last_event_ids, &owner);
  if (cached != NULL)
    return *cached;

  stmt = natter_server_db_prepare (
    self, "SELECT MAX(event_id) FROM events WHERE profile_id = ? AND profile_type = ?;", NULL);
  if (stmt == NULL)
    return 0;
  bind_profile (stmt, 1, profile->profile_id, profile->profile_type);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return 0;

  last = sqlite3_column_int64 (stmt, 0);
  remember_last_event_id (self, profile, last);
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
  bind_profile (stmt, 1, profile->profile_id, profile->profile_type);
  sqlite3_bind_int64 (stmt, 3, after_event_id);
  sqlite3_bind_int64 (stmt, 4, (gint64) limit + 1);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (frames, column_dup (stmt, 0));
  if (rc != SQLITE_DONE) {
    set_error_from_sqlite (self, rc, error);
    return NULL;
  }

  if (out_truncated != NULL)
    *out_truncated = frames->len > limit;
  if (frames->len > limit)
    g_ptr_array_set_size (frames, limit);
  reverse_array (frames);

  return g_steal_pointer (&frames);
}

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
  row->caller_type = column_dup (stmt, 3);
  row->callee_id = sqlite3_column_int64 (stmt, 4);
  row->callee_type = column_dup (stmt, 5);
  row->call_type = column_dup (stmt, 6);
  row->status = column_dup (stmt, 7);
  row->started_at = column_time (stmt, 8);
  row->answered_at = column_time (stmt, 9);
  row->ended_at = column_time (stmt, 10);
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
    int rc;

    if (stmt == NULL)
      return NULL;
    sqlite3_bind_int64 (stmt, 1, call_log_id);
    rc = sqlite3_step (stmt);
    if (rc == SQLITE_DONE) {
      g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                           "no such call");
      return NULL;
    }
    if (rc != SQLITE_ROW) {
      set_error_from_sqlite (self, rc, error);
      return NULL;
    }
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
  bind_profile (stmt, 2, caller->profile_id, caller->profile_type);
  bind_profile (stmt, 4, callee->profile_id, callee->profile_type);
  sqlite3_bind_text (stmt, 6, call_type, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 7, now_ms ());
  if (!step_done (self, stmt, error))
    return NULL;

  return natter_server_db_get_call (self, sqlite3_last_insert_rowid (self->handle), error);
}

NatterCallLog *
natter_server_db_set_call_status (NatterServerDb *self,
                                  gint64 call_log_id,
                                  const char *status,
                                  GError **error)
{
  gint64 now = now_ms ();

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
    if (!step_done (self, stmt, error))
      return NULL;
  } else if (g_str_equal (status, "ringing")) {
    g_autoptr (NatterDbStmt) stmt =
      natter_server_db_prepare (self, "UPDATE calls SET status = ? WHERE call_log_id = ?;", error);

    if (stmt == NULL)
      return NULL;
    sqlite3_bind_text (stmt, 1, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (stmt, 2, call_log_id);
    if (!step_done (self, stmt, error))
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
    if (!step_done (self, stmt, error))
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
    bind_profile (stmt, 1, profile->profile_id, profile->profile_type);
    sqlite3_bind_int64 (stmt, 3, limit);
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
      CallRow row = { 0 };

      column_call_row (stmt, &row);
      g_array_append_val (rows, row);
    }
    if (rc != SQLITE_DONE) {
      set_error_from_sqlite (self, rc, error);
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
  sqlite3_bind_int64 (stmt, 1, now_ms ());
  if (!step_done (self, stmt, error))
    return FALSE;
  if (sqlite3_changes (self->handle) > 0)
    g_message ("%d calls left ringing by the previous run marked failed",
               sqlite3_changes (self->handle));

  return TRUE;
}
