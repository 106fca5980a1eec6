/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-server-db.h"
#include "natter-server-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_SERVER_SQLITE_STORE (natter_server_sqlite_store_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterServerSqliteStore, natter_server_sqlite_store, NATTER, SERVER_SQLITE_STORE, GObject)

/* The SQLite backend of NatterServerStore. For a database file it opens a
 * second connection that a writer thread owns: queued requests are stored
 * in one transaction per turn (group commit, one fsync with
 * synchronous=FULL), and their callbacks are handed to the main context
 * after the commit. @db stays the main thread's connection, for reads. An
 * in-memory database has no second connection: the requests run on @db in
 * an idle of the main context, still one transaction per turn. */
NatterServerSqliteStore *natter_server_sqlite_store_new (NatterServerDb *db, GError **error);

/* Stores what is queued, runs the callbacks, and stops the writer thread;
 * later requests fail. Called before the database closes. */
void natter_server_sqlite_store_close (NatterServerSqliteStore *self);

G_END_DECLS
