/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-http-blocks"

/* PROTOCOL.md's blocks: GET and POST /api/as/{id}/{type}/blocks, DELETE
 * /api/as/{id}/{type}/blocks/{type}/{id}. Kept apart from natter-http-api.c,
 * which hands these paths here first. */

#include "natter-http-blocks.h"

#include <string.h>

#include "natter-http-body.h"
#include "natter-http-query.h"

static void
respond (SoupServerMessage *msg, guint status, const char *content_type, char *body)
{
  soup_server_message_set_status (msg, status, NULL);
  if (body != NULL)
    soup_server_message_set_response (msg, content_type, SOUP_MEMORY_TAKE, body, strlen (body));
}

static void
respond_error (SoupServerMessage *msg, guint status, const char *code, const char *text)
{
  respond (msg, status, "application/json", natter_http_error_to_json (code, text));
}

/* As respond_error (), not counted in the metrics (as before). */
static void
reply_error (NatterHttpReply *reply, guint status, const char *code, const char *text)
{
  natter_http_reply_json (reply, status, natter_http_error_to_json (code, text));
}

/* "/api/as/{id}/{type}/blocks[/{type}/{id}]": the acting profile and, for
 * DELETE, the blocked one. FALSE when the path is not one of these. */
static gboolean
match_blocks_path (const char *path, NatterProfile **out_actor, NatterProfile **out_other)
{
  g_auto (GStrv) parts = NULL;
  g_autofree char *type = NULL;
  g_autofree char *other_type = NULL;
  gint64 id = 0;
  gint64 other_id = 0;
  guint n;

  if (path == NULL || !g_str_has_prefix (path, "/api/as/"))
    return FALSE;
  parts = g_strsplit (path + 1, "/", 8);
  n = g_strv_length (parts);
  if ((n != 5 && n != 7) || !g_str_equal (parts[4], "blocks") ||
      !g_ascii_string_to_signed (parts[2], 10, 1, NATTER_MAX_ID, &id, NULL) ||
      (type = natter_profile_type_normalize (parts[3], NULL)) == NULL)
    return FALSE;
  if (n == 7 && ((other_type = natter_profile_type_normalize (parts[5], NULL)) == NULL ||
                 !g_ascii_string_to_signed (parts[6], 10, 1, NATTER_MAX_ID, &other_id, NULL)))
    return FALSE;

  *out_actor = natter_profile_new (id, type, NULL, NULL);
  *out_other = n == 7 ? natter_profile_new (other_id, other_type, NULL, NULL) : NULL;
  return TRUE;
}

typedef struct {
  NatterProfile *actor;
  NatterProfile *other; /* DELETE's, then POST's once parsed */
  NatterHub *hub;       /* nullable */
} BlocksQuery;

static void
blocks_query_free (BlocksQuery *query)
{
  g_clear_pointer (&query->actor, natter_profile_free);
  g_clear_pointer (&query->other, natter_profile_free);
  g_clear_object (&query->hub);
  g_free (query);
}

static void
reply_failed (NatterHttpReply *reply, const GError *error)
{
  g_free (reply->failure);
  reply->failure = g_strdup (error != NULL ? error->message : "failed");
  reply_error (reply, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal", "the server failed");
}

/* The storage work, through the store (natter-http-query.h). */
static void
run_blocks (NatterStoreQueries *queries,
            const NatterHttpRequest *request,
            NatterHttpReply *reply,
            gpointer data)
{
  BlocksQuery *query = data;
  g_autoptr (GError) error = NULL;
  gint64 user_id = 0;

  if (!natter_http_query_authenticate (queries, request, reply, &user_id, NULL))
    return;
  if (natter_store_queries_get_profile_owner (queries, query->actor->profile_id,
                                              query->actor->profile_type) != user_id) {
    reply_error (reply, SOUP_STATUS_FORBIDDEN, "forbidden", "that profile is not yours");
    return;
  }

  if (g_str_equal (request->method, "GET")) {
    g_autoptr (GPtrArray) blocked =
      natter_store_queries_list_blocks (queries, query->actor, &error);

    if (blocked == NULL)
      reply_failed (reply, error);
    else
      natter_http_reply_json (reply, SOUP_STATUS_OK, natter_block_list_to_json (blocked));
    return;
  }

  if (g_str_equal (request->method, "POST")) {
    query->other = natter_block_request_parse (g_bytes_get_data (request->body, NULL),
                                               g_bytes_get_size (request->body), &error);
    if (query->other == NULL) {
      reply_error (reply, SOUP_STATUS_BAD_REQUEST, "bad_frame", error->message);
      return;
    }
    if (natter_profile_equal (query->actor, query->other)) {
      reply_error (reply, SOUP_STATUS_BAD_REQUEST, "bad_frame", "you cannot block yourself");
      return;
    }
    if (natter_store_queries_get_profile_owner (queries, query->other->profile_id,
                                                query->other->profile_type) == 0) {
      reply_error (reply, SOUP_STATUS_NOT_FOUND, "not_found", "no such profile");
      return;
    }
    if (!natter_store_queries_add_block (queries, query->actor, query->other, &error)) {
      reply_failed (reply, error);
      return;
    }
    /* 201: stored, the hub still to be told (on_blocks_done). */
    reply->status = SOUP_STATUS_CREATED;
    return;
  }

  if (!natter_store_queries_remove_block (queries, query->actor, query->other, &error)) {
    reply_failed (reply, error);
    return;
  }
  natter_http_reply_no_content (reply);
}

static void
on_blocks_done (NatterHttpReply *reply, gpointer data)
{
  BlocksQuery *query = data;

  if (reply->status != SOUP_STATUS_CREATED)
    return;
  if (query->hub != NULL)
    natter_hub_profile_blocked (query->hub, query->actor, query->other);
  natter_http_reply_no_content (reply);
}

/**
 * natter_http_blocks_handle:
 * @store: where the blocks are
 * @hub: (nullable): told of new blocks, so presence stops at once
 * @msg: a request
 * @path: its path
 *
 * Answers @msg when @path is one of the blocks paths (maybe later: the
 * message waits, paused, for the store).
 *
 * Returns: %TRUE when @msg is answered here
 */
gboolean
natter_http_blocks_handle (NatterServerStore *store,
                           NatterHub *hub,
                           SoupServerMessage *msg,
                           const char *path)
{
  g_autoptr (NatterProfile) actor = NULL;
  g_autoptr (NatterProfile) other = NULL;
  const char *method = soup_server_message_get_method (msg);
  BlocksQuery *query;

  if (!match_blocks_path (path, &actor, &other))
    return FALSE;

  if (g_str_equal (method, "OPTIONS")) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow",
                                  other != NULL ? "DELETE" : "GET, POST");
    respond (msg, SOUP_STATUS_NO_CONTENT, NULL, NULL);
    return TRUE;
  }
  if ((other == NULL && !g_str_equal (method, "GET") && !g_str_equal (method, "POST")) ||
      (other != NULL && !g_str_equal (method, "DELETE"))) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow",
                                  other != NULL ? "DELETE" : "GET, POST");
    respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "not_allowed",
                   "this method is not allowed here");
    return TRUE;
  }

  query = g_new0 (BlocksQuery, 1);
  query->actor = g_steal_pointer (&actor);
  query->other = g_steal_pointer (&other);
  query->hub = hub != NULL ? g_object_ref (hub) : NULL;
  natter_http_query_start (store, NULL, msg, run_blocks, on_blocks_done, query,
                           (GDestroyNotify) blocks_query_free);
  return TRUE;
}

/**
 * natter_http_blocks_check_request:
 * @method: the request's method
 * @path: the request's path
 * @response: the response's headers: a 405 sets Allow there
 *
 * What the request guard asks before reading a body: whether @path is a
 * blocks path that takes @method.
 *
 * Returns: 0 when it is, else the status to refuse it with (404 or 405)
 */
guint
natter_http_blocks_check_request (const char *method,
                                  const char *path,
                                  SoupMessageHeaders *response)
{
  g_autoptr (NatterProfile) actor = NULL;
  g_autoptr (NatterProfile) other = NULL;

  if (!match_blocks_path (path, &actor, &other))
    return SOUP_STATUS_NOT_FOUND;
  if (g_str_equal (method, "OPTIONS"))
    return 0;
  if (other == NULL ? g_str_equal (method, "GET") || g_str_equal (method, "POST")
                    : g_str_equal (method, "DELETE"))
    return 0;
  soup_message_headers_replace (response, "Allow", other != NULL ? "DELETE" : "GET, POST");
  return SOUP_STATUS_METHOD_NOT_ALLOWED;
}
