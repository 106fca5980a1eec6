/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-http-api"

#include "config.h"

#include <string.h>

#include "natter-http-body.h"
#include "natter-http-query.h"
#include "natter-password.h"
#include "natter-protocol.h"
#include "natter-server-db.h"

typedef struct {
  NatterServerStore *store;
  NatterMetrics *metrics;
  SoupServerMessage *msg;
  gulong disconnected_id;
  gboolean disconnected;
  NatterHttpRequest request;
  NatterHttpReply reply;
  NatterHttpQueryRun run;
  NatterHttpQueryDone done;
  gpointer data;
  GDestroyNotify data_free;
} QueryJob;

static void
query_job_free (QueryJob *job)
{
  if (job->disconnected_id != 0)
    g_signal_handler_disconnect (job->msg, job->disconnected_id);
  g_clear_object (&job->msg);
  g_clear_object (&job->store);
  g_clear_object (&job->metrics);
  g_free (job->request.method);
  g_free (job->request.authorization);
  g_clear_pointer (&job->request.body, g_bytes_unref);
  g_free (job->reply.content_type);
  g_clear_pointer (&job->reply.body, g_bytes_unref);
  g_free (job->reply.error_code);
  g_free (job->reply.failure);
  g_ptr_array_unref (job->reply.headers);
  if (job->data_free != NULL)
    job->data_free (job->data);
  g_free (job);
}

static void
on_message_disconnected (SoupServerMessage *msg, gpointer user_data)
{
  QueryJob *job = user_data;

  job->disconnected = TRUE;
}

static gpointer
run_query (NatterStoreQueries *queries, gpointer data, GError **error)
{
  QueryJob *job = data;

  job->run (queries, &job->request, &job->reply, job->data);

  return job;
}

static void
apply_reply (QueryJob *job)
{
  SoupServerMessage *msg = job->msg;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  NatterHttpReply *reply = &job->reply;

  if (reply->failure != NULL)
    g_warning ("%s %s: %s", job->request.method, g_uri_get_path (soup_server_message_get_uri (msg)),
               reply->failure);
  if (reply->error_code != NULL && job->metrics != NULL)
    natter_metrics_inc (job->metrics, "natter_http_errors_total", "code", reply->error_code);
  for (guint i = 0; i + 1 < reply->headers->len; i += 2)
    soup_message_headers_replace (headers, g_ptr_array_index (reply->headers, i),
                                  g_ptr_array_index (reply->headers, i + 1));
  soup_server_message_set_status (msg, reply->status, NULL);
  if (reply->body != NULL)
    soup_server_message_set_response (msg, reply->content_type, SOUP_MEMORY_COPY,
                                      g_bytes_get_data (reply->body, NULL),
                                      g_bytes_get_size (reply->body));
}

static void
on_query_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  QueryJob *job = user_data;
  g_autoptr (GError) error = NULL;

  if (natter_server_store_query_finish (NATTER_SERVER_STORE (source), result, &error) == NULL)
    natter_http_reply_internal (&job->reply, error);
  else if (job->done != NULL)
    job->done (&job->reply, job->data);
  if (!job->disconnected) {
    apply_reply (job);
    soup_server_message_unpause (job->msg);
  }
  query_job_free (job);
}

/**
 * natter_http_query_start:
 * @store: where the queries run
 * @metrics: (nullable): counts the error answers
 * @msg: the request, answered once @run ran
 * @run: the route's storage work
 * @done: (nullable): the route's work on the main context afterwards
 * @data: for @run and @done
 * @data_free: (nullable): frees @data
 */
void
natter_http_query_start (NatterServerStore *store,
                         NatterMetrics *metrics,
                         SoupServerMessage *msg,
                         NatterHttpQueryRun run,
                         NatterHttpQueryDone done,
                         gpointer data,
                         GDestroyNotify data_free)
{
  QueryJob *job = g_new0 (QueryJob, 1);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  job->store = g_object_ref (store);
  job->metrics = metrics != NULL ? g_object_ref (metrics) : NULL;
  job->msg = g_object_ref (msg);
  job->run = run;
  job->done = done;
  job->data = data;
  job->data_free = data_free;
  job->request.method = g_strdup (soup_server_message_get_method (msg));
  job->request.authorization = g_strdup (soup_message_headers_get_one (headers, "Authorization"));
  job->request.body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  job->reply.status = SOUP_STATUS_INTERNAL_SERVER_ERROR;
  job->reply.headers = g_ptr_array_new_with_free_func (g_free);
  job->disconnected_id =
    g_signal_connect (msg, "disconnected", G_CALLBACK (on_message_disconnected), job);
  soup_server_message_pause (msg);

  natter_server_store_query (store, run_query, job, NULL, NULL, on_query_done, job);
}

void
natter_http_reply_bytes (NatterHttpReply *reply,
                         guint status,
                         const char *content_type,
                         GBytes *body)
{
  reply->status = status;
  g_free (reply->content_type);
  reply->content_type = g_strdup (content_type);
  g_clear_pointer (&reply->body, g_bytes_unref);
  reply->body = body != NULL ? g_bytes_ref (body) : NULL;
}

void
natter_http_reply_json (NatterHttpReply *reply, guint status, char *json)
{
  g_autoptr (GBytes) body = g_bytes_new_take (json, strlen (json));

  natter_http_reply_bytes (reply, status, "application/json", body);
}

void
natter_http_reply_no_content (NatterHttpReply *reply)
{
  natter_http_reply_bytes (reply, SOUP_STATUS_NO_CONTENT, NULL, NULL);
}

void
natter_http_reply_error (NatterHttpReply *reply,
                         guint status,
                         const char *code,
                         const char *message)
{
  g_free (reply->error_code);
  reply->error_code = g_strdup (code);
  natter_http_reply_json (reply, status, natter_http_error_to_json (code, message));
}

void
natter_http_reply_internal (NatterHttpReply *reply, const GError *error)
{
  g_free (reply->failure);
  reply->failure = g_strdup (error != NULL ? error->message : "failed");
  natter_http_reply_error (reply, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                           "the server could not complete the request");
}

void
natter_http_reply_db_error (NatterHttpReply *reply, const GError *error)
{
  if (g_error_matches (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND))
    natter_http_reply_error (reply, SOUP_STATUS_NOT_FOUND, "not_found", error->message);
  else if (g_error_matches (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_EXISTS))
    natter_http_reply_error (reply, SOUP_STATUS_CONFLICT, "conflict", error->message);
  else
    natter_http_reply_internal (reply, error);
}

void
natter_http_reply_bad_input (NatterHttpReply *reply, const GError *error)
{
  const char *code = "bad_frame";

  if (error->domain == NATTER_PROTOCOL_ERROR)
    code = natter_protocol_error_to_code (error->code);
  natter_http_reply_error (reply, SOUP_STATUS_BAD_REQUEST, code, error->message);
}

void
natter_http_reply_header (NatterHttpReply *reply, const char *name, const char *value)
{
  g_ptr_array_add (reply->headers, g_strdup (name));
  g_ptr_array_add (reply->headers, g_strdup (value));
}

/**
 * natter_http_query_authenticate:
 * @queries: the store's queries
 * @request: the request
 * @reply: answered with 401 or 500 on failure
 * @out_user_id: (out) (optional): the token's user
 * @out_token_id: (out) (optional): the token
 *
 * Returns: %TRUE when the bearer token is known, unexpired and not revoked
 */
gboolean
natter_http_query_authenticate (NatterStoreQueries *queries,
                                const NatterHttpRequest *request,
                                NatterHttpReply *reply,
                                gint64 *out_user_id,
                                gint64 *out_token_id)
{
  g_autofree char *token_hash = NULL;
  g_autoptr (GError) error = NULL;
  const char *token;

  if (request->authorization == NULL ||
      g_ascii_strncasecmp (request->authorization, "Bearer ", 7) != 0) {
    natter_http_reply_header (reply, "WWW-Authenticate", "Bearer");
    natter_http_reply_error (reply, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                             "a bearer token is needed");
    return FALSE;
  }
  for (token = request->authorization + 7; *token == ' '; token++)
    ;

  token_hash = natter_token_hash (token);
  if (!natter_store_queries_lookup_token (queries, token_hash, g_get_real_time () / G_USEC_PER_SEC,
                                          out_user_id, out_token_id, &error)) {
    if (!g_error_matches (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND)) {
      natter_http_reply_internal (reply, error);
      return FALSE;
    }
    natter_http_reply_header (reply, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    natter_http_reply_error (reply, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                             "the token is unknown, expired or revoked");
    return FALSE;
  }

  return TRUE;
}
