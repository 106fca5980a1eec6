/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-db"

#include "natter-sqlite-coalescing-vfs.h"

#include <gio/gio.h>
#include <sqlite3.h>
#include <string.h>

/* SQLite writes each WAL frame with two writes, its 24-byte header then its
 * page (https://sqlite.org/fileformat2.html#walformat), and syncs at the
 * commit: 12 to 26 pwrite calls per chat message, in a VM where each call
 * costs more than copying the page. The frames of a transaction are only
 * read by other connections after its commit frame is written (and synced,
 * with synchronous=FULL) and the WAL index updated, so gathering them and
 * writing them at the end of the commit frame changes nothing they see.
 * A checkpoint writes the database in page order, mostly to consecutive
 * pages, and tells the file when it starts and when it is done: its runs of
 * pages are gathered in between. */
#define WAL_HEADER_SIZE 32
#define WAL_FRAME_HEADER_SIZE 24

struct _NatterSqliteCoalescingVfs {
  sqlite3_vfs vfs; /* first: SQLite hands it back to the methods */
  sqlite3_vfs *base;
  char *name;
  gsize buffer_limit;
  gsize n_writes;  /* atomic */
  gsize n_flushes; /* atomic */
};

/* A WAL or database file: the default VFS's file lives right after this
 * struct. */
typedef struct {
  sqlite3_file parent; /* first: pMethods is coalescing_methods */
  NatterSqliteCoalescingVfs *vfs;
  sqlite3_file *base;
  gboolean wal;
  /* The database file between SQLITE_FCNTL_CKPT_START and _DONE: the only
   * time its writes are gathered. */
  gboolean in_checkpoint;
  guint8 *buffer;
  gsize length;
  gsize allocated;
  sqlite3_int64 offset; /* where buffer[0] goes in the file */
  /* A commit frame's header was written: its page ends the transaction. */
  gboolean flush_after_next_write;
} CoalescingFile;

/* Where the default VFS's file starts, aligned for it. */
#define BASE_FILE_OFFSET ((sizeof (CoalescingFile) + 15) & ~(gsize) 15)

static int
flush (CoalescingFile *self)
{
  int rc;

  if (self->length == 0)
    return SQLITE_OK;

  rc = self->base->pMethods->xWrite (self->base, self->buffer, (int) self->length, self->offset);
  g_atomic_pointer_add (&self->vfs->n_flushes, 1);
  /* Written or failed, the frames are not kept: after a failed write SQLite
   * rolls the transaction back and writes them again. */
  self->length = 0;
  return rc;
}

static void
append (CoalescingFile *self, const void *data, int amount, sqlite3_int64 offset)
{
  if (self->length == 0)
    self->offset = offset;
  if (self->length + (gsize) amount > self->allocated) {
    self->allocated = MIN (MAX (self->allocated * 2, self->length + (gsize) amount),
                           MAX (self->vfs->buffer_limit, (gsize) amount));
    self->buffer = g_realloc (self->buffer, self->allocated);
  }
  memcpy (self->buffer + self->length, data, (gsize) amount);
  self->length += (gsize) amount;
}

static gboolean
is_commit_frame_header (const void *data, int amount, sqlite3_int64 offset)
{
  const guint8 *bytes = data;

  /* A frame header's second field is the database size after a commit,
   * zero in every other frame. */
  return amount == WAL_FRAME_HEADER_SIZE && offset >= WAL_HEADER_SIZE &&
         (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
}

static int
coalescing_write (sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset)
{
  CoalescingFile *self = (CoalescingFile *) file;
  sqlite3_int64 end = self->offset + (sqlite3_int64) self->length;
  gboolean ends_transaction = self->flush_after_next_write;
  int rc = SQLITE_OK;

  g_atomic_pointer_add (&self->vfs->n_writes, 1);
  if (!self->wal && !self->in_checkpoint) {
    g_atomic_pointer_add (&self->vfs->n_flushes, 1);
    return self->base->pMethods->xWrite (self->base, data, amount, offset);
  }
  self->flush_after_next_write = self->wal && is_commit_frame_header (data, amount, offset);

  if (self->length > 0 && offset >= self->offset && offset + amount <= end) {
    /* A frame of this transaction written again (SQLite does so when a
     * page changes after it was spilled). */
    memcpy (self->buffer + (offset - self->offset), data, (gsize) amount);
  } else {
    if (self->length > 0 &&
        (offset != end || self->length + (gsize) amount > self->vfs->buffer_limit)) {
      rc = flush (self);
      if (rc != SQLITE_OK)
        return rc;
    }
    if ((gsize) amount > self->vfs->buffer_limit) {
      g_atomic_pointer_add (&self->vfs->n_flushes, 1);
      return self->base->pMethods->xWrite (self->base, data, amount, offset);
    }
    append (self, data, amount, offset);
  }

  if (ends_transaction)
    rc = flush (self);
  return rc;
}

static int
coalescing_close (sqlite3_file *file)
{
  CoalescingFile *self = (CoalescingFile *) file;
  int rc = flush (self);
  int close_rc = self->base->pMethods->xClose (self->base);

  g_clear_pointer (&self->buffer, g_free);
  self->allocated = 0;
  return rc != SQLITE_OK ? rc : close_rc;
}

static int
coalescing_read (sqlite3_file *file, void *data, int amount, sqlite3_int64 offset)
{
  CoalescingFile *self = (CoalescingFile *) file;
  int rc = flush (self);

  if (rc != SQLITE_OK)
    return rc;
  return self->base->pMethods->xRead (self->base, data, amount, offset);
}

static int
coalescing_truncate (sqlite3_file *file, sqlite3_int64 size)
{
  CoalescingFile *self = (CoalescingFile *) file;
  int rc = flush (self);

  if (rc != SQLITE_OK)
    return rc;
  return self->base->pMethods->xTruncate (self->base, size);
}

static int
coalescing_sync (sqlite3_file *file, int flags)
{
  CoalescingFile *self = (CoalescingFile *) file;
  int rc = flush (self);

  /* Synced, the transaction is over whatever came before. */
  self->flush_after_next_write = FALSE;
  if (rc != SQLITE_OK)
    return rc;
  return self->base->pMethods->xSync (self->base, flags);
}

static int
coalescing_file_size (sqlite3_file *file, sqlite3_int64 *size)
{
  CoalescingFile *self = (CoalescingFile *) file;
  int rc = flush (self);

  if (rc != SQLITE_OK)
    return rc;
  return self->base->pMethods->xFileSize (self->base, size);
}

static int
coalescing_lock (sqlite3_file *file, int lock)
{
  CoalescingFile *self = (CoalescingFile *) file;
  int rc = flush (self);

  if (rc != SQLITE_OK)
    return rc;
  return self->base->pMethods->xLock (self->base, lock);
}

static int
coalescing_unlock (sqlite3_file *file, int lock)
{
  CoalescingFile *self = (CoalescingFile *) file;
  int rc = flush (self);

  if (rc != SQLITE_OK)
    return rc;
  return self->base->pMethods->xUnlock (self->base, lock);
}

static int
coalescing_check_reserved_lock (sqlite3_file *file, int *reserved)
{
  CoalescingFile *self = (CoalescingFile *) file;

  return self->base->pMethods->xCheckReservedLock (self->base, reserved);
}

static int
coalescing_file_control (sqlite3_file *file, int op, void *argument)
{
  CoalescingFile *self = (CoalescingFile *) file;
  int rc = flush (self);

  /* SQLite ignores what this file control returns, then tells other
   * connections the pages are in the database file (and rewinds the WAL
   * over them once all are): pages that never got there must not be
   * forgotten. Stopping keeps them in the WAL, which the next start copies
   * again. */
  if (op == SQLITE_FCNTL_CKPT_DONE && rc != SQLITE_OK)
    g_error ("A checkpoint could not write the database file (SQLite error %d); stopping, the WAL "
             "keeps the pages",
             rc);
  if (!self->wal && op == SQLITE_FCNTL_CKPT_START)
    self->in_checkpoint = TRUE;
  else if (op == SQLITE_FCNTL_CKPT_DONE)
    self->in_checkpoint = FALSE;
  if (rc != SQLITE_OK)
    return rc;
  return self->base->pMethods->xFileControl (self->base, op, argument);
}

static int
coalescing_sector_size (sqlite3_file *file)
{
  CoalescingFile *self = (CoalescingFile *) file;

  return self->base->pMethods->xSectorSize (self->base);
}

static int
coalescing_device_characteristics (sqlite3_file *file)
{
  CoalescingFile *self = (CoalescingFile *) file;

  return self->base->pMethods->xDeviceCharacteristics (self->base);
}

/* The shared-memory methods belong to the database file (the WAL index);
 * gathered pages are written before it changes. */
static int
coalescing_shm_map (sqlite3_file *file, int region, int size, int extend, void volatile **memory)
{
  CoalescingFile *self = (CoalescingFile *) file;
  int rc = flush (self);

  if (rc != SQLITE_OK)
    return rc;
  if (self->base->pMethods->iVersion < 2 || self->base->pMethods->xShmMap == NULL)
    return SQLITE_IOERR_SHMMAP;
  return self->base->pMethods->xShmMap (self->base, region, size, extend, memory);
}

static int
coalescing_shm_lock (sqlite3_file *file, int offset, int n, int flags)
{
  CoalescingFile *self = (CoalescingFile *) file;
  int rc = flush (self);

  if (rc != SQLITE_OK)
    return rc;
  if (self->base->pMethods->iVersion < 2 || self->base->pMethods->xShmLock == NULL)
    return SQLITE_IOERR_SHMLOCK;
  return self->base->pMethods->xShmLock (self->base, offset, n, flags);
}

static void
coalescing_shm_barrier (sqlite3_file *file)
{
  CoalescingFile *self = (CoalescingFile *) file;

  if (self->base->pMethods->iVersion >= 2 && self->base->pMethods->xShmBarrier != NULL)
    self->base->pMethods->xShmBarrier (self->base);
}

static int
coalescing_shm_unmap (sqlite3_file *file, int delete_flag)
{
  CoalescingFile *self = (CoalescingFile *) file;

  if (self->base->pMethods->iVersion < 2 || self->base->pMethods->xShmUnmap == NULL)
    return SQLITE_OK;
  return self->base->pMethods->xShmUnmap (self->base, delete_flag);
}

static int
coalescing_fetch (sqlite3_file *file, sqlite3_int64 offset, int amount, void **page)
{
  CoalescingFile *self = (CoalescingFile *) file;
  int rc = flush (self);

  *page = NULL;
  if (rc != SQLITE_OK || self->base->pMethods->iVersion < 3)
    return rc;
  return self->base->pMethods->xFetch (self->base, offset, amount, page);
}

static int
coalescing_unfetch (sqlite3_file *file, sqlite3_int64 offset, void *page)
{
  CoalescingFile *self = (CoalescingFile *) file;

  if (self->base->pMethods->iVersion < 3)
    return SQLITE_OK;
  return self->base->pMethods->xUnfetch (self->base, offset, page);
}

static const sqlite3_io_methods coalescing_methods = {
  .iVersion = 3,
  .xClose = coalescing_close,
  .xRead = coalescing_read,
  .xWrite = coalescing_write,
  .xTruncate = coalescing_truncate,
  .xSync = coalescing_sync,
  .xFileSize = coalescing_file_size,
  .xLock = coalescing_lock,
  .xUnlock = coalescing_unlock,
  .xCheckReservedLock = coalescing_check_reserved_lock,
  .xFileControl = coalescing_file_control,
  .xSectorSize = coalescing_sector_size,
  .xDeviceCharacteristics = coalescing_device_characteristics,
  .xShmMap = coalescing_shm_map,
  .xShmLock = coalescing_shm_lock,
  .xShmBarrier = coalescing_shm_barrier,
  .xShmUnmap = coalescing_shm_unmap,
  .xFetch = coalescing_fetch,
  .xUnfetch = coalescing_unfetch,
};

static int
vfs_open (sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
  NatterSqliteCoalescingVfs *self = (NatterSqliteCoalescingVfs *) vfs;
  CoalescingFile *coalescing = (CoalescingFile *) file;
  int rc;

  /* Journals and temporary files: the default VFS's own file in place. */
  if ((flags & (SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_DB)) == 0)
    return self->base->xOpen (self->base, name, file, flags, out_flags);

  memset (coalescing, 0, sizeof (CoalescingFile));
  coalescing->vfs = self;
  coalescing->wal = (flags & SQLITE_OPEN_WAL) != 0;
  coalescing->base = (sqlite3_file *) ((guint8 *) file + BASE_FILE_OFFSET);
  rc = self->base->xOpen (self->base, name, coalescing->base, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (coalescing->base->pMethods != NULL)
      coalescing->base->pMethods->xClose (coalescing->base);
    file->pMethods = NULL;
    return rc;
  }
  file->pMethods = &coalescing_methods;
  return SQLITE_OK;
}

static int
vfs_delete (sqlite3_vfs *vfs, const char *name, int sync_dir)
{
  sqlite3_vfs *base = ((NatterSqliteCoalescingVfs *) vfs)->base;

  return base->xDelete (base, name, sync_dir);
}

static int
vfs_access (sqlite3_vfs *vfs, const char *name, int flags, int *result)
{
  sqlite3_vfs *base = ((NatterSqliteCoalescingVfs *) vfs)->base;

  return base->xAccess (base, name, flags, result);
}

static int
vfs_full_pathname (sqlite3_vfs *vfs, const char *name, int size, char *out)
{
  sqlite3_vfs *base = ((NatterSqliteCoalescingVfs *) vfs)->base;

  return base->xFullPathname (base, name, size, out);
}

static void *
vfs_dl_open (sqlite3_vfs *vfs, const char *name)
{
  sqlite3_vfs *base = ((NatterSqliteCoalescingVfs *) vfs)->base;

  return base->xDlOpen (base, name);
}

static void
vfs_dl_error (sqlite3_vfs *vfs, int size, char *message)
{
  sqlite3_vfs *base = ((NatterSqliteCoalescingVfs *) vfs)->base;

  base->xDlError (base, size, message);
}

static void (*vfs_dl_sym (sqlite3_vfs *vfs, void *library, const char *symbol)) (void)
{
  sqlite3_vfs *base = ((NatterSqliteCoalescingVfs *) vfs)->base;

  return base->xDlSym (base, library, symbol);
}

static void
vfs_dl_close (sqlite3_vfs *vfs, void *library)
{
  sqlite3_vfs *base = ((NatterSqliteCoalescingVfs *) vfs)->base;

  base->xDlClose (base, library);
}

static int
vfs_randomness (sqlite3_vfs *vfs, int size, char *out)
{
  sqlite3_vfs *base = ((NatterSqliteCoalescingVfs *) vfs)->base;

  return base->xRandomness (base, size, out);
}

static int
vfs_sleep (sqlite3_vfs *vfs, int microseconds)
{
  sqlite3_vfs *base = ((NatterSqliteCoalescingVfs *) vfs)->base;

  return base->xSleep (base, microseconds);
}

static int
vfs_current_time (sqlite3_vfs *vfs, double *now)
{
  sqlite3_vfs *base = ((NatterSqliteCoalescingVfs *) vfs)->base;

  return base->xCurrentTime (base, now);
}

static int
vfs_get_last_error (sqlite3_vfs *vfs, int size, char *message)
{
  sqlite3_vfs *base = ((NatterSqliteCoalescingVfs *) vfs)->base;

  return base->xGetLastError != NULL ? base->xGetLastError (base, size, message) : 0;
}

static int
vfs_current_time_int64 (sqlite3_vfs *vfs, sqlite3_int64 *now)
{
  sqlite3_vfs *base = ((NatterSqliteCoalescingVfs *) vfs)->base;

  return base->xCurrentTimeInt64 (base, now);
}

/**
 * natter_sqlite_coalescing_vfs_register:
 * @name: the VFS's name, for sqlite3_open_v2 ()
 * @buffer_limit: the bytes gathered at most before a write, at most
 *   %NATTER_SQLITE_COALESCING_VFS_BUFFER_LIMIT; a larger write goes to the
 *   file at once
 * @error: a #GIOErrorEnum
 *
 * Registers the VFS over the default one (never as the default itself).
 *
 * Returns: (transfer full) (nullable): the VFS, registered until
 *   natter_sqlite_coalescing_vfs_unregister ()
 */
NatterSqliteCoalescingVfs *
natter_sqlite_coalescing_vfs_register (const char *name, gsize buffer_limit, GError **error)
{
  g_autoptr (NatterSqliteCoalescingVfs) self = NULL;
  sqlite3_vfs *base;
  int rc;

  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (
    buffer_limit > 0 && buffer_limit <= NATTER_SQLITE_COALESCING_VFS_BUFFER_LIMIT, NULL);

  base = sqlite3_vfs_find (NULL);
  if (base == NULL || base->iVersion < 2) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                         "SQLite has no default VFS of version 2 or later");
    return NULL;
  }

  self = g_new0 (NatterSqliteCoalescingVfs, 1);
  self->base = base;
  self->name = g_strdup (name);
  self->buffer_limit = buffer_limit;
  self->vfs = (sqlite3_vfs){
    .iVersion = 2,
    .szOsFile = (int) BASE_FILE_OFFSET + base->szOsFile,
    .mxPathname = base->mxPathname,
    .zName = self->name,
    .xOpen = vfs_open,
    .xDelete = vfs_delete,
    .xAccess = vfs_access,
    .xFullPathname = vfs_full_pathname,
    .xDlOpen = vfs_dl_open,
    .xDlError = vfs_dl_error,
    .xDlSym = vfs_dl_sym,
    .xDlClose = vfs_dl_close,
    .xRandomness = vfs_randomness,
    .xSleep = vfs_sleep,
    .xCurrentTime = vfs_current_time,
    .xGetLastError = vfs_get_last_error,
    .xCurrentTimeInt64 = vfs_current_time_int64,
  };

  rc = sqlite3_vfs_register (&self->vfs, 0);
  if (rc != SQLITE_OK) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot register the SQLite VFS %s: %s",
                 name, sqlite3_errstr (rc));
    /* Not registered: nothing to unregister. */
    g_clear_pointer (&self->name, g_free);
    g_clear_pointer (&self, g_free);
    return NULL;
  }

  return g_steal_pointer (&self);
}

/**
 * natter_sqlite_coalescing_vfs_unregister:
 * @self: (transfer full): the VFS, with no connection left open on it
 */
void
natter_sqlite_coalescing_vfs_unregister (NatterSqliteCoalescingVfs *self)
{
  if (self == NULL)
    return;

  if (self->name != NULL)
    sqlite3_vfs_unregister (&self->vfs);
  g_free (self->name);
  g_free (self);
}

const char *
natter_sqlite_coalescing_vfs_get_name (NatterSqliteCoalescingVfs *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->name;
}

guint64
natter_sqlite_coalescing_vfs_get_n_writes (NatterSqliteCoalescingVfs *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return (guint64) (gsize) g_atomic_pointer_get (&self->n_writes);
}

guint64
natter_sqlite_coalescing_vfs_get_n_flushes (NatterSqliteCoalescingVfs *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return (guint64) (gsize) g_atomic_pointer_get (&self->n_flushes);
}
