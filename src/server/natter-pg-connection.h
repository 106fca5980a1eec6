/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <libpq-fe.h>

G_BEGIN_DECLS

typedef enum {
  NATTER_PG_CONNECTION_DISCONNECTED,
  NATTER_PG_CONNECTION_CONNECTING,
  NATTER_PG_CONNECTION_READY,
} NatterPgConnectionState;

#define NATTER_TYPE_PG_CONNECTION (natter_pg_connection_get_type ())
G_DECLARE_FINAL_TYPE (NatterPgConnection, natter_pg_connection, NATTER, PG_CONNECTION, GObject)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PGresult, PQclear)

NatterPgConnection *natter_pg_connection_new (const char *conninfo);
void natter_pg_connection_set_backoff (NatterPgConnection *self, guint min_ms, guint max_ms);
void natter_pg_connection_set_fail_fast (NatterPgConnection *self, gboolean fail_fast);
void natter_pg_connection_start (NatterPgConnection *self);
NatterPgConnectionState natter_pg_connection_get_state (NatterPgConnection *self);
guint natter_pg_connection_get_max_in_flight (NatterPgConnection *self);
void natter_pg_connection_query (NatterPgConnection *self,
                                 const char *sql,
                                 int n_params,
                                 const char *const *params,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data);
PGresult *
natter_pg_connection_query_finish (NatterPgConnection *self, GAsyncResult *result, GError **error);

G_END_DECLS
