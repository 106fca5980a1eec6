/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-store-queries.h"

G_BEGIN_DECLS

/* The PostgreSQL backend's NatterStoreQueries: blocking libpq on a
 * connection of their own, for the one thread the PostgreSQL store runs
 * them on (never the main context's). Connects on first use and again
 * after the connection broke. */
NatterStoreQueries *natter_server_pg_queries_new (const char *conninfo);
/* Connects now: FALSE with the server's answer when it cannot. */
gboolean natter_server_pg_queries_check (NatterStoreQueries *self, GError **error);

G_END_DECLS
