/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "natter-hub.h"
#include "natter-metrics.h"
#include "natter-server-config.h"
#include "natter-server-db.h"

G_BEGIN_DECLS

#define NATTER_TYPE_SERVER (natter_server_get_type ())
G_DECLARE_FINAL_TYPE (NatterServer, natter_server, NATTER, SERVER, GObject)

NatterServer *natter_server_new (NatterServerConfig *config, GError **error);
/* --db: a SQLite file, or PostgreSQL with a postgresql:// URI. */
gboolean natter_server_db_is_postgresql (const char *db);
gboolean natter_server_open_store (const char *db,
                                   NatterServerDb **out_db,
                                   NatterServerStore **out_store,
                                   NatterStoreQueries **out_queries,
                                   GError **error);
gboolean natter_server_listen (NatterServer *self, GError **error);
char *natter_server_get_url (NatterServer *self);
guint natter_server_get_port (NatterServer *self);
/* NULL on PostgreSQL. */
NatterServerDb *natter_server_get_db (NatterServer *self);
NatterMetrics *natter_server_get_metrics (NatterServer *self);
NatterHub *natter_server_get_hub (NatterServer *self);
SoupServer *natter_server_get_soup_server (NatterServer *self);

void natter_server_shutdown_async (NatterServer *self,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean natter_server_shutdown_finish (NatterServer *self, GAsyncResult *result, GError **error);

/* The two commands of the natter-server program. */
int natter_server_run (int argc, char **argv);
int natter_server_adduser (int argc, char **argv);

G_END_DECLS
