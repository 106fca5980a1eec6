/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-pg-connection.h"
#include "natter-server-store.h"

G_BEGIN_DECLS

/* PostgreSQL's errors as the SQLite backend's (a #NatterServerDbError):
 * NOT_FOUND for no_data_found (P0002), EXISTS for a unique key (23505),
 * else FAILED; "database: message (SQLSTATE)". */
GError *natter_server_pg_error_new (const GError *error);

gint64 natter_pg_value_int64 (PGresult *result, int row, int column);
gboolean natter_pg_value_bool (PGresult *result, int row, int column);
/* The conversations.direct_key of @a and @b, as the SQLite backend's. */
char *natter_pg_direct_key (const NatterProfile *a, const NatterProfile *b);

/* One read of NatterServerStore: made with the task it answers (taken),
 * then sent, or failed. */
typedef struct _NatterPgRead NatterPgRead;

NatterPgRead *natter_pg_read_authenticate (GTask *task,
                                           const char *token_hash_hex,
                                           gint64 now_unix,
                                           const NatterProfile *profile);
NatterPgRead *natter_pg_read_list_participants (GTask *task, gint64 conversation_id);
NatterPgRead *
natter_pg_read_resolve_direct (GTask *task, const NatterProfile *sender, const NatterProfile *to);
NatterPgRead *natter_pg_read_replay (GTask *task,
                                     const NatterProfile *profile,
                                     gint64 after_event_id,
                                     guint limit);
void natter_pg_read_send (NatterPgRead *read, NatterPgConnection *connection);
void natter_pg_read_fail (NatterPgRead *read, const GError *error);

G_END_DECLS
