/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* Checkpoints a WAL database from a worker thread on its own connection, so
 * that the fsyncs of a checkpoint never stall the thread that writes. The
 * writer turns off SQLite's automatic checkpoints and calls
 * natter_wal_checkpointer_notify () after each commit (from its wal hook). */
typedef struct _NatterWalCheckpointer NatterWalCheckpointer;

NatterWalCheckpointer *natter_wal_checkpointer_new (const char *path,
                                                    const char *vfs_name,
                                                    guint threshold_pages,
                                                    GError **error);
/* Wakes the worker when @wal_pages reached the threshold; never blocks. */
void natter_wal_checkpointer_notify (NatterWalCheckpointer *self, guint wal_pages);
/* On the writing thread, outside a transaction: after a pass of the worker,
 * copies what was committed since, so that the WAL can rewind. */
void natter_wal_checkpointer_catch_up (NatterWalCheckpointer *self,
                                       sqlite3 *handle,
                                       gboolean writer_idle);
/* Stops the worker (a checkpoint under way finishes first) and closes its
 * connection. */
void natter_wal_checkpointer_free (NatterWalCheckpointer *self);
/* How many checkpoints ran, for tests and logs. */
guint natter_wal_checkpointer_get_n_checkpoints (NatterWalCheckpointer *self);
void natter_wal_checkpointer_set_threshold (NatterWalCheckpointer *self, guint threshold_pages);
/* How many times the writing connection copied the rest after a pass. */
guint natter_wal_checkpointer_get_n_catch_ups (NatterWalCheckpointer *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterWalCheckpointer, natter_wal_checkpointer_free)

G_END_DECLS
