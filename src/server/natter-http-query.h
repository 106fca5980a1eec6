/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "natter-metrics.h"
#include "natter-server-store.h"

G_BEGIN_DECLS

/* An HTTP API route's storage work, run through natter_server_store_query ()
 * while its message waits (paused): the route's function sees only what
 * was copied from the request and writes the answer into a reply, which is
 * applied on the main context. It may run on the store's own thread: it
 * touches nothing but its arguments (and read-only configuration). */

typedef struct {
  char *method;
  char *authorization; /* nullable */
  GBytes *body;
} NatterHttpRequest;

typedef struct {
  guint status;
  char *content_type;
  GBytes *body;       /* nullable */
  char *error_code;   /* counted in natter_http_errors_total when set */
  char *failure;      /* an internal error, logged */
  GPtrArray *headers; /* char *: name, value, name, value… */
} NatterHttpReply;

typedef void (*NatterHttpQueryRun) (NatterStoreQueries *queries,
                                    const NatterHttpRequest *request,
                                    NatterHttpReply *reply,
                                    gpointer data);
/* On the main context once @run ran, before the answer goes out (it runs
 * even when the client left). */
typedef void (*NatterHttpQueryDone) (NatterHttpReply *reply, gpointer data);

/* Pauses @msg, runs @run, answers; @metrics (nullable) counts the errors. */
void natter_http_query_start (NatterServerStore *store,
                              NatterMetrics *metrics,
                              SoupServerMessage *msg,
                              NatterHttpQueryRun run,
                              NatterHttpQueryDone done,
                              gpointer data,
                              GDestroyNotify data_free);

void natter_http_reply_json (NatterHttpReply *reply, guint status, char *json);
void natter_http_reply_bytes (NatterHttpReply *reply,
                              guint status,
                              const char *content_type,
                              GBytes *body);
void natter_http_reply_no_content (NatterHttpReply *reply);
void natter_http_reply_error (NatterHttpReply *reply,
                              guint status,
                              const char *code,
                              const char *message);
/* 500, with @error logged. */
void natter_http_reply_internal (NatterHttpReply *reply, const GError *error);
/* NOT_FOUND → 404, EXISTS → 409, else 500. */
void natter_http_reply_db_error (NatterHttpReply *reply, const GError *error);
/* A parse failure of the protocol library: 400 with its code. */
void natter_http_reply_bad_input (NatterHttpReply *reply, const GError *error);
void natter_http_reply_header (NatterHttpReply *reply, const char *name, const char *value);

/* Checks the bearer token; answers 401 (or 500) itself when it is missing
 * or bad. */
gboolean natter_http_query_authenticate (NatterStoreQueries *queries,
                                         const NatterHttpRequest *request,
                                         NatterHttpReply *reply,
                                         gint64 *out_user_id,
                                         gint64 *out_token_id);

G_END_DECLS
