/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-db"

#include "natter-wal-checkpointer.h"

#include <gio/gio.h>
#include <sqlite3.h>

struct _NatterWalCheckpointer {
  sqlite3 *handle; /* used by the worker only, once it runs */
  guint threshold_pages;
  /* The WAL size that asks for the next checkpoint: the threshold once the
   * WAL restarts, a quarter more than now while writers keep it from
   * restarting. Written by the worker, read by the writer. */
  guint trigger_pages;

  GThread *thread;
  GMutex mutex;
  GCond cond;
  gboolean requested;
  gboolean stopping;

  guint n_checkpoints;
};

/* Passive checkpoints never take the writer lock: the writing thread goes on
 * appending to the WAL meanwhile. Once everything is backfilled, the next
 * write transaction rewinds the WAL to its start; while commits keep coming
 * faster than that, the next checkpoint waits for the WAL to grow a quarter
 * of the threshold more, so that each copies many frames (and each page
 * once, however often it changed) instead of fsyncing for a few. */
static void
checkpoint (NatterWalCheckpointer *self)
{
  int n_log = 0;
  int n_ckpt = 0;
  int rc;

  rc = sqlite3_wal_checkpoint_v2 (self->handle, NULL, SQLITE_CHECKPOINT_PASSIVE, &n_log, &n_ckpt);
  g_atomic_int_inc (&self->n_checkpoints);

  if (rc != SQLITE_OK && rc != SQLITE_BUSY)
    g_warning ("WAL checkpoint failed: %s", sqlite3_errmsg (self->handle));

  if (rc == SQLITE_OK && n_log > n_ckpt)
    g_atomic_int_set (&self->trigger_pages, (guint) n_log + MAX (self->threshold_pages / 4, 1));
  else
    g_atomic_int_set (&self->trigger_pages, self->threshold_pages);
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
 * @threshold_pages: the WAL size, in pages, that starts a checkpoint
 * @error: a #NatterServerDbError
 *
 * Opens a second connection to @path and starts the worker thread.
 *
 * Returns: (transfer full) (nullable): the checkpointer
 */
NatterWalCheckpointer *
natter_wal_checkpointer_new (const char *path, guint threshold_pages, GError **error)
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

  rc = sqlite3_open_v2 (path, &self->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
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
 * Called on the writing thread after each commit. Asks the worker for a
 * checkpoint once the WAL grew enough; the lock is only held to set a
 * flag, never while a checkpoint runs.
 */
void
natter_wal_checkpointer_notify (NatterWalCheckpointer *self, guint wal_pages)
{
  g_return_if_fail (self != NULL);

  if (wal_pages < (guint) g_atomic_int_get (&self->trigger_pages))
    return;

  g_mutex_lock (&self->mutex);
  self->requested = TRUE;
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->mutex);
}

guint
natter_wal_checkpointer_get_n_checkpoints (NatterWalCheckpointer *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return (guint) g_atomic_int_get (&self->n_checkpoints);
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
