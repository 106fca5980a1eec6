/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libpq-fe.h>

#include "natter-store-queries.h"

G_BEGIN_DECLS

/* natter-server-pg-queries.c's helpers, for the hub's queries in
 * natter-server-pg-hub-queries.c. */
PGresult *natter_pg_queries_run (NatterStoreQueries *self,
                                 const char *sql,
                                 GPtrArray *params,
                                 GError **error);
GPtrArray *natter_pg_queries_params_new (void);
char *natter_pg_queries_int_param (gint64 value);
void natter_pg_queries_add_profile_params (GPtrArray *params, const NatterProfile *profile);
char *natter_pg_queries_value_dup (PGresult *rows, int row, int column);
char *natter_pg_queries_value_time (PGresult *rows, int row, int column);
NatterProfile *natter_pg_queries_value_profile (PGresult *rows, int row, int first);
GPtrArray *natter_pg_queries_rows_profiles (PGresult *rows);
NatterMessage *natter_pg_queries_value_message (PGresult *rows, int row);
gboolean
natter_pg_queries_fill_attachments (NatterStoreQueries *self, GPtrArray *messages, GError **error);

/* natter-server-pg-hub-queries.c */
NatterProfile *natter_pg_get_profile (NatterStoreQueries *self,
                                      gint64 profile_id,
                                      const char *profile_type,
                                      GError **error);
GPtrArray *
natter_pg_list_contacts (NatterStoreQueries *self, const NatterProfile *profile, GError **error);
gboolean natter_pg_took_part (NatterStoreQueries *self,
                              gint64 conversation_id,
                              const NatterProfile *profile);
gint64 natter_pg_get_read_seq (NatterStoreQueries *self,
                               gint64 conversation_id,
                               const NatterProfile *profile);
NatterMessage *natter_pg_find_message_by_client_id (NatterStoreQueries *self,
                                                    const NatterProfile *sender,
                                                    const char *client_msg_id,
                                                    gint64 *out_sender_event_id,
                                                    GError **error);
gboolean natter_pg_check_attachments (NatterStoreQueries *self,
                                      GArray *attachment_ids,
                                      const NatterProfile *sender,
                                      gint64 conversation_id,
                                      GError **error);
NatterCallLog *natter_pg_get_call (NatterStoreQueries *self, gint64 call_log_id, GError **error);
NatterCallLog *natter_pg_create_call (NatterStoreQueries *self,
                                      const NatterProfile *caller,
                                      const NatterProfile *callee,
                                      const char *call_type,
                                      gint64 conversation_id,
                                      GError **error);
NatterCallLog *natter_pg_set_call_status (NatterStoreQueries *self,
                                          gint64 call_log_id,
                                          const char *status,
                                          GError **error);
NatterCallLog *natter_pg_end_call (NatterStoreQueries *self, gint64 call_log_id, GError **error);
gboolean natter_pg_fail_stale_calls (NatterStoreQueries *self, GError **error);
GHashTable *natter_pg_prune_tokens (NatterStoreQueries *self, gint64 now_unix, GError **error);
gboolean natter_pg_is_empty (NatterStoreQueries *self);
NatterMessage *natter_pg_add_message (NatterStoreQueries *self,
                                      gint64 conversation_id,
                                      const NatterProfile *sender,
                                      const char *text,
                                      GError **error);

G_END_DECLS
