/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-sqlite-coalescing-vfs"

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "natter-sqlite-coalescing-vfs.h"

#define VFS_NAME "natter-test-coalescing"
#define PAGE_SIZE 4096
#define FRAME_HEADER_SIZE 24
#define FRAME_SIZE (FRAME_HEADER_SIZE + PAGE_SIZE)
#define WAL_HEADER_SIZE 32
/* Rows 1 to N (the library may lack generate_series). */
#define SERIES(n) \
  "WITH RECURSIVE s (value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM s WHERE value < " #n ") "

typedef struct {
  char *folder;
  char *path;
  /* Given to xOpen, which keeps it until the file is closed. */
  char *wal_path;
  NatterSqliteCoalescingVfs *vfs;
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  gsize buffer_limit = GPOINTER_TO_SIZE (data);
  g_autoptr (GError) error = NULL;

  fixture->folder = g_dir_make_tmp ("natter-test-coalescing-vfs-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->path = g_build_filename (fixture->folder, "test.db", NULL);
  fixture->wal_path = g_strconcat (fixture->path, "-wal", NULL);
  fixture->vfs = natter_sqlite_coalescing_vfs_register (
    VFS_NAME, buffer_limit > 0 ? buffer_limit : NATTER_SQLITE_COALESCING_VFS_BUFFER_LIMIT, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fixture->vfs);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  const char *suffixes[] = { "", "-wal", "-shm", "-journal" };

  g_clear_pointer (&fixture->vfs, natter_sqlite_coalescing_vfs_unregister);
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++) {
    g_autofree char *file = g_strconcat (fixture->path, suffixes[i], NULL);

    g_remove (file);
  }
  g_rmdir (fixture->folder);
  g_free (fixture->wal_path);
  g_free (fixture->path);
  g_free (fixture->folder);
}

static sqlite3 *
open_database (Fixture *fixture, const char *vfs_name, const char *synchronous)
{
  g_autofree char *pragmas =
    g_strdup_printf ("PRAGMA journal_mode = WAL; PRAGMA synchronous = %s;", synchronous);
  sqlite3 *db = NULL;

  g_assert_cmpint (
    sqlite3_open_v2 (fixture->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs_name), ==,
    SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, pragmas, NULL, NULL, NULL), ==, SQLITE_OK);
  /* The WAL stays: the tests count what reaches it. */
  sqlite3_wal_autocheckpoint (db, 0);

  return db;
}

static void
exec (sqlite3 *db, const char *sql)
{
  char *message = NULL;
  int rc = sqlite3_exec (db, sql, NULL, NULL, &message);

  if (rc != SQLITE_OK)
    g_error ("%s: %s", sql, message);
}

static gint64
query_int (sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  gint64 value;

  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  value = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);

  return value;
}

static gint64
wal_size_on_disk (Fixture *fixture)
{
  g_autofree char *wal = g_strconcat (fixture->path, "-wal", NULL);
  GStatBuf buf;

  if (g_stat (wal, &buf) != 0)
    return 0;
  return (gint64) buf.st_size;
}

/* A transaction of many frames reaches the WAL in one write. */
static void
test_one_write_per_commit (Fixture *fixture, gconstpointer data)
{
  sqlite3 *db = open_database (fixture, VFS_NAME, "FULL");
  guint64 writes;
  guint64 flushes;
  gint64 wal_before;

  exec (db, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB);");
  wal_before = wal_size_on_disk (fixture);
  writes = natter_sqlite_coalescing_vfs_get_n_writes (fixture->vfs);
  flushes = natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs);

  /* Eight rows of 3,000 bytes: a page each, and the table's root. */
  exec (db, "BEGIN; " SERIES (8) "INSERT INTO t (body) SELECT randomblob (3000) FROM s; COMMIT;");

  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_writes (fixture->vfs) - writes, >=, 2 * 9);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs) - flushes, ==, 1);
  g_assert_cmpint (wal_size_on_disk (fixture) - wal_before, >=, 9 * FRAME_SIZE);
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM t;"), ==, 8);
  sqlite3_close (db);
}

/* Another connection reads a commit at once, even with no sync to end it
 * (synchronous=OFF): the commit frame ends the gathering. */
static void
test_commit_visible_without_sync (Fixture *fixture, gconstpointer data)
{
  sqlite3 *writer = open_database (fixture, VFS_NAME, "OFF");
  sqlite3 *reader = open_database (fixture, NULL, "OFF");

  exec (writer, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB);");
  for (guint i = 1; i <= 50; i++) {
    exec (writer, SERIES (3) "INSERT INTO t (body) SELECT randomblob (1500) FROM s;");
    g_assert_cmpint (query_int (reader, "SELECT count(*) FROM t;"), ==, 3 * i);
  }
  g_assert_cmpint (query_int (reader, "SELECT sum (length (body)) FROM t;"), ==, 150 * 1500);
  sqlite3_close (reader);
  sqlite3_close (writer);
}

/* A transaction larger than the page cache spills frames to the WAL and
 * reads them back before it commits. */
static void
test_spilled_transaction_reads_its_frames (Fixture *fixture, gconstpointer data)
{
  sqlite3 *db = open_database (fixture, VFS_NAME, "FULL");
  sqlite3 *check = NULL;
  g_autofree char *result = NULL;
  sqlite3_stmt *stmt = NULL;

  exec (db, "PRAGMA cache_size = 10;");
  exec (db, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB, n INTEGER);");
  exec (db,
        "BEGIN; " SERIES (3000) "INSERT INTO t (body, n) SELECT randomblob (700), value FROM s; "
                                "UPDATE t SET n = n * 2 WHERE id % 7 = 0; COMMIT;");
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM t;"), ==, 3000);
  g_assert_cmpint (query_int (db, "SELECT sum (n) FROM t;"), ==,
                   3000 * 3001 / 2 + 7 * (428 * 429 / 2));
  sqlite3_close (db);

  g_assert_cmpint (sqlite3_open_v2 (fixture->path, &check, SQLITE_OPEN_READONLY, NULL), ==,
                   SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (check, "PRAGMA integrity_check;", -1, &stmt, NULL), ==,
                   SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  result = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  g_assert_cmpstr (result, ==, "ok");
  sqlite3_finalize (stmt);
  g_assert_cmpint (query_int (check, "SELECT count(*) FROM t;"), ==, 3000);
  sqlite3_close (check);
}

/* A process killed right after its commit returned keeps the commit: the
 * frames were written and synced, not waiting in memory for a close. */
static void
test_commit_survives_sigkill (Fixture *fixture, gconstpointer data)
{
  sqlite3 *db;
  int status = 0;
  pid_t child = fork ();

  g_assert_cmpint (child, >=, 0);
  if (child == 0) {
    db = open_database (fixture, VFS_NAME, "FULL");
    exec (db, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB);");
    exec (db,
          "BEGIN; " SERIES (20) "INSERT INTO t (body) SELECT randomblob (2000) FROM s; COMMIT;");
    raise (SIGKILL);
    _exit (1);
  }
  g_assert_cmpint (waitpid (child, &status, 0), ==, child);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);

  db = open_database (fixture, NULL, "FULL");
  g_assert_cmpint (query_int (db, "SELECT count(*) FROM t;"), ==, 20);
  g_assert_cmpint (query_int (db, "SELECT sum (length (body)) FROM t;"), ==, 20 * 2000);
  sqlite3_close (db);
}

/* A checkpoint copies consecutive pages of a new table with a write per
 * run of them, not one per page; what it wrote reads back. */
static void
test_checkpoint_writes_runs_of_pages (Fixture *fixture, gconstpointer data)
{
  sqlite3 *db = open_database (fixture, VFS_NAME, "FULL");
  sqlite3 *check = NULL;
  int n_log = 0;
  int n_copied = 0;
  guint64 writes;
  guint64 flushes;

  exec (db, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB);");
  exec (db, "BEGIN; " SERIES (200) "INSERT INTO t (body) SELECT randomblob (3000) FROM s; COMMIT;");
  writes = natter_sqlite_coalescing_vfs_get_n_writes (fixture->vfs);
  flushes = natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs);
  g_assert_cmpint (
    sqlite3_wal_checkpoint_v2 (db, NULL, SQLITE_CHECKPOINT_PASSIVE, &n_log, &n_copied), ==,
    SQLITE_OK);

  /* A page per row in runs of at most 64 KiB (16 pages), and a few more
   * for the pages out of line (the first one, the table's root). */
  g_assert_cmpint (n_copied, >, 200);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_writes (fixture->vfs) - writes, >=, 200);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs) - flushes, <=,
                    (guint64) n_copied / 16 + 8);
  sqlite3_close (db);

  g_assert_cmpint (sqlite3_open_v2 (fixture->path, &check, SQLITE_OPEN_READONLY, NULL), ==,
                   SQLITE_OK);
  g_assert_cmpint (query_int (check, "SELECT count(*) FROM t WHERE length (body) = 3000;"), ==,
                   200);
  sqlite3_close (check);
}

/* Outside a checkpoint (here a rollback journal) every write to the
 * database file goes to it at once. */
static void
test_database_writes_go_through_outside_checkpoints (Fixture *fixture, gconstpointer data)
{
  sqlite3 *db = NULL;
  guint64 writes;
  guint64 flushes;

  g_assert_cmpint (
    sqlite3_open_v2 (fixture->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, VFS_NAME), ==,
    SQLITE_OK);
  exec (db, "PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF;");
  exec (db, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB);");
  writes = natter_sqlite_coalescing_vfs_get_n_writes (fixture->vfs);
  flushes = natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs);
  exec (db, "BEGIN; " SERIES (20) "INSERT INTO t (body) SELECT randomblob (3000) FROM s; COMMIT;");

  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_writes (fixture->vfs) - writes, >=, 20);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs) - flushes, ==,
                    natter_sqlite_coalescing_vfs_get_n_writes (fixture->vfs) - writes);
  sqlite3_close (db);
}

/* The WAL file through the VFS's own methods, for exact sizes. */
static sqlite3_file *
open_wal (Fixture *fixture)
{
  sqlite3_vfs *vfs = sqlite3_vfs_find (VFS_NAME);
  sqlite3_file *file = g_malloc0 ((gsize) vfs->szOsFile);
  int flags = 0;

  /* The unix VFS gives the WAL the database file's mode: it must exist. A
   * plain path does for the name, which it only reads. */
  g_assert_true (g_file_set_contents (fixture->path, "", 0, NULL));
  g_assert_cmpint (vfs->xOpen (vfs, fixture->wal_path, file,
                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_WAL,
                               &flags),
                   ==, SQLITE_OK);
  return file;
}

static void
close_wal (sqlite3_file *file)
{
  g_assert_cmpint (file->pMethods->xClose (file), ==, SQLITE_OK);
  g_free (file);
}

static void
write_bytes (sqlite3_file *file, guint8 value, int amount, sqlite3_int64 offset)
{
  g_autofree guint8 *bytes = g_malloc ((gsize) amount);

  memset (bytes, value, (gsize) amount);
  g_assert_cmpint (file->pMethods->xWrite (file, bytes, amount, offset), ==, SQLITE_OK);
}

static void
write_frame (sqlite3_file *file, guint index, gboolean commit)
{
  guint8 header[FRAME_HEADER_SIZE] = { 0 };
  g_autofree guint8 *page = g_malloc ((gsize) PAGE_SIZE);
  sqlite3_int64 offset = WAL_HEADER_SIZE + (sqlite3_int64) index * FRAME_SIZE;

  header[3] = (guint8) (index + 1); /* the page number */
  header[7] = commit ? 9 : 0;       /* the database size after a commit */
  memset (page, (int) index, PAGE_SIZE);
  g_assert_cmpint (file->pMethods->xWrite (file, header, FRAME_HEADER_SIZE, offset), ==, SQLITE_OK);
  g_assert_cmpint (file->pMethods->xWrite (file, page, PAGE_SIZE, offset + FRAME_HEADER_SIZE), ==,
                   SQLITE_OK);
}

/* Frames wait in memory until the commit frame's page is written. */
static void
test_commit_frame_ends_gathering (Fixture *fixture, gconstpointer data)
{
  sqlite3_file *wal = open_wal (fixture);

  write_bytes (wal, 0x37, WAL_HEADER_SIZE, 0);
  write_frame (wal, 0, FALSE);
  write_frame (wal, 1, FALSE);
  g_assert_cmpint (wal_size_on_disk (fixture), ==, 0);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs), ==, 0);

  write_frame (wal, 2, TRUE);
  g_assert_cmpint (wal_size_on_disk (fixture), ==, WAL_HEADER_SIZE + 3 * FRAME_SIZE);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_writes (fixture->vfs), ==, 7);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs), ==, 1);
  close_wal (wal);
}

/* Whatever looks at the file first writes what waits: a read (which sees
 * the bytes), the file's size, a sync, a write elsewhere, closing it. */
static void
test_gathered_bytes_written_before_use (Fixture *fixture, gconstpointer data)
{
  sqlite3_file *wal = open_wal (fixture);
  guint8 read_back[40];
  sqlite3_int64 size = 0;

  write_bytes (wal, 0x11, 100, WAL_HEADER_SIZE);
  /* Rewritten where it waits: still one write. */
  write_bytes (wal, 0x22, 10, WAL_HEADER_SIZE + 50);
  g_assert_cmpint (wal_size_on_disk (fixture), ==, 0);
  g_assert_cmpint (wal->pMethods->xRead (wal, read_back, sizeof read_back, WAL_HEADER_SIZE + 40),
                   ==, SQLITE_OK);
  g_assert_cmpuint (read_back[9], ==, 0x11);
  g_assert_cmpuint (read_back[10], ==, 0x22);
  g_assert_cmpuint (read_back[19], ==, 0x22);
  g_assert_cmpuint (read_back[20], ==, 0x11);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs), ==, 1);

  write_bytes (wal, 0x33, 10, 2000);
  g_assert_cmpint (wal->pMethods->xFileSize (wal, &size), ==, SQLITE_OK);
  g_assert_cmpint (size, ==, 2010);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs), ==, 2);

  write_bytes (wal, 0x44, 10, 2010);
  g_assert_cmpint (wal->pMethods->xSync (wal, SQLITE_SYNC_NORMAL), ==, SQLITE_OK);
  g_assert_cmpint (wal_size_on_disk (fixture), ==, 2020);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs), ==, 3);

  /* Not where the last write ended: what waits goes first. */
  write_bytes (wal, 0x55, 10, 2020);
  write_bytes (wal, 0x66, 10, 3000);
  g_assert_cmpint (wal_size_on_disk (fixture), ==, 2030);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs), ==, 4);

  close_wal (wal);
  g_assert_cmpint (wal_size_on_disk (fixture), ==, 3010);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs), ==, 5);
}

#define SMALL_LIMIT 100

/* Up to the limit waits; one byte more writes what waited; a write larger
 * than the limit goes to the file at once. */
static void
test_buffer_limit (Fixture *fixture, gconstpointer data)
{
  sqlite3_file *wal = open_wal (fixture);

  write_bytes (wal, 1, 60, WAL_HEADER_SIZE);
  write_bytes (wal, 2, SMALL_LIMIT - 60, WAL_HEADER_SIZE + 60);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs), ==, 0);
  g_assert_cmpint (wal_size_on_disk (fixture), ==, 0);

  write_bytes (wal, 3, 1, WAL_HEADER_SIZE + SMALL_LIMIT);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs), ==, 1);
  g_assert_cmpint (wal_size_on_disk (fixture), ==, WAL_HEADER_SIZE + SMALL_LIMIT);

  write_bytes (wal, 4, SMALL_LIMIT + 1, WAL_HEADER_SIZE + SMALL_LIMIT + 1);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs), ==, 3);
  g_assert_cmpint (wal_size_on_disk (fixture), ==, WAL_HEADER_SIZE + 2 * SMALL_LIMIT + 2);
  close_wal (wal);
  g_assert_cmpuint (natter_sqlite_coalescing_vfs_get_n_flushes (fixture->vfs), ==, 3);
}

/* The largest buffer the unix VFS writes in one call is accepted; one byte
 * more is refused. */
static void
test_largest_buffer_limit (void)
{
  g_autoptr (NatterSqliteCoalescingVfs) vfs = NULL;

  if (g_test_subprocess ()) {
    g_assert_null (natter_sqlite_coalescing_vfs_register (
      VFS_NAME, NATTER_SQLITE_COALESCING_VFS_BUFFER_LIMIT + 1, NULL));
    return;
  }

  vfs = natter_sqlite_coalescing_vfs_register (VFS_NAME, NATTER_SQLITE_COALESCING_VFS_BUFFER_LIMIT,
                                               NULL);
  g_assert_nonnull (vfs);
  g_assert_true (sqlite3_vfs_find (VFS_NAME) != NULL);
  g_clear_pointer (&vfs, natter_sqlite_coalescing_vfs_unregister);
  g_assert_null (sqlite3_vfs_find (VFS_NAME));

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*buffer_limit*");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, function, limit)                                                      \
  g_test_add ("/natter/sqlite-coalescing-vfs/" path, Fixture, GSIZE_TO_POINTER (limit), \
              fixture_set_up, function, fixture_tear_down)
  ADD ("one-write-per-commit", test_one_write_per_commit, 0);
  ADD ("commit-visible-without-sync", test_commit_visible_without_sync, 0);
  ADD ("spilled-transaction-reads-its-frames", test_spilled_transaction_reads_its_frames, 0);
  ADD ("commit-survives-sigkill", test_commit_survives_sigkill, 0);
  ADD ("commit-frame-ends-gathering", test_commit_frame_ends_gathering, 0);
  ADD ("gathered-bytes-written-before-use", test_gathered_bytes_written_before_use, 0);
  ADD ("buffer-limit", test_buffer_limit, SMALL_LIMIT);
  ADD ("checkpoint-writes-runs-of-pages", test_checkpoint_writes_runs_of_pages, 0);
  ADD ("database-writes-go-through-outside-checkpoints",
       test_database_writes_go_through_outside_checkpoints, 0);
#undef ADD
  g_test_add_func ("/natter/sqlite-coalescing-vfs/largest-buffer-limit", test_largest_buffer_limit);

  return g_test_run ();
}
