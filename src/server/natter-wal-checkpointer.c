/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-db"

#include "natter-wal-checkpointer.h"

#include <gio/gio.h>
#include <sqlite3.h>

struct _NatterWalCheckpointer {
  sqlite3 *handle;       /* used by the worker only, once it runs */
  guint threshold_pages; /* atomic: tests change it */
  /* The WAL size that asks for the next checkpoint: @threshold_pages more
   * than the last pass copied, or than nothing once the WAL rewound.
   * Written by both threads. */
  guint trigger_pages;
  /* The WAL's size at the last commit, written by the writing thread. */
  guint wal_pages;
  /* Set by the worker once a pass left only a few frames behind, taken by
   * the writer after a commit. */
  gint catch_up;

  GThread *thread;
  GMutex mutex;
  GCond cond;
  gboolean requested;
  gboolean stopping;

  guint n_checkpoints;
  guint n_catch_ups;
};

/* Passive checkpoints never take the writer lock: the writing thread goes on
 * appending to the WAL meanwhile, so a pass never copies everything, and
 * SQLite only rewinds the WAL to its start when a write transaction begins
 * with every frame copied. Without that the WAL grows for as long as
 * commits keep coming (400 MB in 10 s at 5,000 messages/s, all of it read
 * again after a crash): every commit then extends the file, and each
 * checkpoint copies a few frames and fsyncs for them. So the worker copies
 * in passes until only a few frames are left behind, and the writer copies
 * those itself after a commit (natter_wal_checkpointer_catch_up ()): a
 * short pause of the writer, after which its next transaction rewinds the
 * WAL. The writer does it when nothing waits for it, so that no ack
 * waits for the copy; a server far behind is never idle, and once the WAL
 * passed 64 MiB it copies the rest anyway, whatever the pause. */
#define CATCH_UP_MAX_FRAMES 256
#define MAX_PASSES 4
/* 64 MiB of 4 KiB pages, the journal_size_limit: past it the writer copies
 * whatever is left. */
#define CATCH_UP_ANYWAY_FRAMES 16384

static void
checkpoint (NatterWalCheckpointer *self)
{
  int n_log = 0;
  int n_ckpt = 0;
  int rc = SQLITE_OK;

  /* Each pass copies what the writer appended during the last one, fewer
   * frames each time (the copy costs far less per frame than the commit
   * that wrote it); a few passes at most, so that a writer far ahead is
   * still asked to catch up. */
  for (guint pass = 0; pass < MAX_PASSES; pass++) {
    rc = sqlite3_wal_checkpoint_v2 (self->handle, NULL, SQLITE_CHECKPOINT_PASSIVE, &n_log, &n_ckpt);
    g_atomic_int_inc (&self->n_checkpoints);
    if (rc != SQLITE_OK || g_atomic_int_get (&self->stopping) ||
        (guint) g_atomic_int_get (&self->wal_pages) <= (guint) n_ckpt + CATCH_UP_MAX_FRAMES)
      break;
  }

  if (rc != SQLITE_OK && rc != SQLITE_BUSY)
    g_warning ("WAL checkpoint failed: %s", sqlite3_errmsg (self->handle));

  if (rc == SQLITE_OK && n_ckpt > 0) {
    g_atomic_int_set (&self->trigger_pages,
                      (guint) n_ckpt + (guint) g_atomic_int_get (&self->threshold_pages));
    g_atomic_int_set (&self->catch_up, TRUE);
  }
}

static gpointer
run_worker (gpointer data)
{
  NatterWalCheckpointer *self = data;

  g_mutex_lock (&self->mutex);
  for (;;) {
    while (!self->requested && !self->stopping)
      g_cond_wait (&self->cond, &self->mutex);
    if (self->stopping)
      break;
    self->requested = FALSE;
    g_mutex_unlock (&self->mutex);

    checkpoint (self);

    g_mutex_lock (&self->mutex);
  }
  g_mutex_unlock (&self->mutex);

  return NULL;
}

/**
 * natter_wal_checkpointer_new:
 * @path: a database file already in WAL mode
 * @vfs_name: (nullable): the SQLite VFS to open it with, %NULL for the
 *   default
 * @threshold_pages: the WAL size, in pages, that starts a checkpoint
 * @error: a #NatterServerDbError
 *
 * Opens a second connection to @path and starts the worker thread.
 *
 * Returns: (transfer full) (nullable): the checkpointer
 */
NatterWalCheckpointer *
natter_wal_checkpointer_new (const char *path,
                             const char *vfs_name,
                             guint threshold_pages,
                             GError **error)
{
  g_autoptr (NatterWalCheckpointer) self = NULL;
  char *message = NULL;
  int rc;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (threshold_pages > 0, NULL);

  self = g_new0 (NatterWalCheckpointer, 1);
  self->threshold_pages = threshold_pages;
  self->trigger_pages = threshold_pages;
  g_mutex_init (&self->mutex);
  g_cond_init (&self->cond);

  rc = sqlite3_open_v2 (path, &self->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs_name);
  if (rc == SQLITE_OK)
    /* Reading the schema opens the WAL, which a checkpoint needs. */
    rc = sqlite3_exec (self->handle,
                       "PRAGMA synchronous = NORMAL; SELECT count(*) FROM sqlite_schema;", NULL,
                       NULL, &message);
  if (rc != SQLITE_OK) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "checkpoint connection: %s",
                 message != NULL        ? message
                 : self->handle != NULL ? sqlite3_errmsg (self->handle)
                                        : sqlite3_errstr (rc));
    sqlite3_free (message);
    return NULL;
  }

  self->thread = g_thread_try_new ("natter-checkpoint", run_worker, self, error);
  if (self->thread == NULL)
    return NULL;

  return g_steal_pointer (&self);
}

/**
 * natter_wal_checkpointer_notify:
 * @self: the checkpointer
 * @wal_pages: the WAL's size after a commit, in pages
 *
 * Called on the writing thread after each commit (from its WAL hook). Asks
 * the worker for a checkpoint once the WAL grew enough; the lock is only
 * held to set a flag, never while a checkpoint runs.
 */
void
natter_wal_checkpointer_notify (NatterWalCheckpointer *self, guint wal_pages)
{
  g_return_if_fail (self != NULL);

  /* Smaller than at the last commit: the WAL rewound. */
  if (wal_pages < (guint) g_atomic_int_get (&self->wal_pages))
    g_atomic_int_set (&self->trigger_pages, (guint) g_atomic_int_get (&self->threshold_pages));
  g_atomic_int_set (&self->wal_pages, wal_pages);
  if (wal_pages < (guint) g_atomic_int_get (&self->trigger_pages))
    return;

  g_mutex_lock (&self->mutex);
  self->requested = TRUE;
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->mutex);
}

/**
 * natter_wal_checkpointer_catch_up:
 * @self: the checkpointer
 * @handle: the writing connection, outside a transaction
 * @writer_idle: whether nothing waits for the writing thread
 *
 * Called on the writing thread after a commit, when a short pause costs
 * least (the store's writer: once the turn's callbacks are on their way).
 * After a pass of the worker, copies on @handle the few frames committed
 * since: with every frame copied, the writer's next transaction rewinds
 * the WAL. Does nothing otherwise.
 */
void
natter_wal_checkpointer_catch_up (NatterWalCheckpointer *self,
                                  sqlite3 *handle,
                                  gboolean writer_idle)
{
  int n_log = 0;
  int n_ckpt = 0;

  g_return_if_fail (self != NULL);

  /* With requests waiting, their acks would wait for the copy: later,
   * unless the WAL grew so large that bounding it matters more (a server
   * far behind is never idle). */
  if (!writer_idle && (guint) g_atomic_int_get (&self->wal_pages) < CATCH_UP_ANYWAY_FRAMES)
    return;
  if (!g_atomic_int_compare_and_exchange (&self->catch_up, TRUE, FALSE))
    return;

  if (sqlite3_wal_checkpoint_v2 (handle, NULL, SQLITE_CHECKPOINT_PASSIVE, &n_log, &n_ckpt) ==
      SQLITE_OK)
    g_atomic_int_inc (&self->n_catch_ups);
}

guint
natter_wal_checkpointer_get_n_checkpoints (NatterWalCheckpointer *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return (guint) g_atomic_int_get (&self->n_checkpoints);
}

/**
 * natter_wal_checkpointer_set_threshold:
 * @self: the checkpointer
 * @threshold_pages: the WAL growth, in pages, that starts the next checkpoint
 *
 * For tests, which write a few pages only.
 */
void
natter_wal_checkpointer_set_threshold (NatterWalCheckpointer *self, guint threshold_pages)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (threshold_pages > 0);

  g_atomic_int_set (&self->threshold_pages, threshold_pages);
  g_atomic_int_set (&self->trigger_pages, threshold_pages);
}

guint
natter_wal_checkpointer_get_n_catch_ups (NatterWalCheckpointer *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return (guint) g_atomic_int_get (&self->n_catch_ups);
}

void
natter_wal_checkpointer_free (NatterWalCheckpointer *self)
{
  if (self == NULL)
    return;

  if (self->thread != NULL) {
    g_mutex_lock (&self->mutex);
    g_atomic_int_set (&self->stopping, TRUE);
    g_cond_signal (&self->cond);
    g_mutex_unlock (&self->mutex);
    g_thread_join (self->thread);
  }

  if (self->handle != NULL)
    sqlite3_close (self->handle);
  g_mutex_clear (&self->mutex);
  g_cond_clear (&self->cond);
  g_free (self);
}
