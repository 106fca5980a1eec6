/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A SQLite VFS over the default one that writes each transaction's WAL
 * frames with one write instead of two per frame (a header, then the page),
 * and a checkpoint's consecutive database pages with one write. Writes are
 * gathered in memory and written when the transaction's commit frame is
 * complete or the checkpoint's copy is done, and before anything that could
 * see the file (a read, a sync, its size, a truncation, a lock, the WAL
 * index, a file control, closing it) or a write elsewhere in the file: what
 * reaches the disk, and when it is synced, is what SQLite asked for.
 * Journals and temporary files go to the default VFS untouched. */
typedef struct _NatterSqliteCoalescingVfs NatterSqliteCoalescingVfs;

/* The VFS the server's database connections use. */
#define NATTER_SQLITE_COALESCING_VFS_NAME "natter-coalescing"
/* Bytes gathered at most before a write (15 frames of 4 KiB pages), and
 * the most a buffer may hold: SQLite's unix VFS writes no more than
 * 128 KiB - 1 bytes in one call (os_unix.c masks the size with 0x1ffff). */
#define NATTER_SQLITE_COALESCING_VFS_BUFFER_LIMIT (64 * 1024)

NatterSqliteCoalescingVfs *
natter_sqlite_coalescing_vfs_register (const char *name, gsize buffer_limit, GError **error);
void natter_sqlite_coalescing_vfs_unregister (NatterSqliteCoalescingVfs *self);
const char *natter_sqlite_coalescing_vfs_get_name (NatterSqliteCoalescingVfs *self);
/* The writes SQLite asked for on WAL and database files, and those that
 * reached them. */
guint64 natter_sqlite_coalescing_vfs_get_n_writes (NatterSqliteCoalescingVfs *self);
guint64 natter_sqlite_coalescing_vfs_get_n_flushes (NatterSqliteCoalescingVfs *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterSqliteCoalescingVfs, natter_sqlite_coalescing_vfs_unregister)

G_END_DECLS
