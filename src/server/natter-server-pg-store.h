/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-server-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_SERVER_PG_STORE (natter_server_pg_store_get_type ())
G_DECLARE_FINAL_TYPE (NatterServerPgStore, natter_server_pg_store, NATTER, SERVER_PG_STORE, GObject)

/* The PostgreSQL backend of NatterServerStore, on the thread-default main
 * context, never blocking (NatterPgConnection: libpq's pipeline mode).
 * Migrates the schema first (several nodes may start at once: an advisory
 * lock lets one migrate); requests made meanwhile wait. Requests queued
 * while a turn is on its way are stored together in the next turn: one
 * transaction, two round trips (the first locks the event counters of every
 * profile the turn touches, in sorted order, and stores the rows; the
 * second stores the events, whose frames carry the ids, and commits). */
NatterServerPgStore *natter_server_pg_store_new (const char *conninfo);

void natter_server_pg_store_set_backoff (NatterServerPgStore *self, guint min_ms, guint max_ms);
/* The schema version once migrated, else 0. */
guint natter_server_pg_store_get_schema_version (NatterServerPgStore *self);
/* Turns committed so far, and the most requests one of them carried. */
guint natter_server_pg_store_get_n_turns (NatterServerPgStore *self);
guint natter_server_pg_store_get_max_turn_jobs (NatterServerPgStore *self);

/* Stores what is queued, runs the callbacks, closes the connection; later
 * requests fail. */
void natter_server_pg_store_close (NatterServerPgStore *self);

G_END_DECLS
