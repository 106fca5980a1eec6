/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The PostgreSQL schema (natter-server-pg-schema.c): migration N moves the
 * database from version N - 1 to N, the same logical tables as the SQLite
 * schema of that version (natter-server-db.c), one statement per string
 * (the extended protocol takes one at a time). Each migration ends with
 * NULL; the list ends with a NULL migration. */
extern const char *const *const natter_server_pg_migrations[];

guint natter_server_pg_schema_version (void);

G_END_DECLS
