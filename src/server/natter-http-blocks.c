/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-http-blocks"

/* PROTOCOL.md's blocks: GET and POST /api/as/{id}/{type}/blocks, DELETE
 * /api/as/{id}/{type}/blocks/{type}/{id}. Kept apart from natter-http-api.c,
 * which hands these paths here first. */

#include "natter-http-blocks.h"

#include <string.h>

#include "natter-http-body.h"
#include "natter-password.h"

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

/* The bearer token's user, or 0 after answering 401 (or 500). */
static gint64
authenticate (NatterServerDb *db, SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *authorization = soup_message_headers_get_one (headers, "Authorization");
  g_autofree char *token_hash = NULL;
  g_autoptr (GError) error = NULL;
  const char *token;
  gint64 user_id = 0;
  gint64 token_id = 0;

  if (authorization == NULL || g_ascii_strncasecmp (authorization, "Bearer ", 7) != 0) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "WWW-Authenticate", "Bearer");
    respond_error (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized", "a bearer token is needed");
    return 0;
  }
  for (token = authorization + 7; *token == ' '; token++)
    ;

  token_hash = natter_token_hash (token);
  if (!natter_server_db_lookup_token (db, token_hash, g_get_real_time () / G_USEC_PER_SEC, &user_id,
                                      &token_id, &error)) {
    if (g_error_matches (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND))
      respond_error (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                     "the token is unknown, expired or revoked");
    else
      respond_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal", "the server failed");
    return 0;
  }

  return user_id;
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

/**
 * natter_http_blocks_handle:
 * @db: the database
 * @hub: (nullable): told of new blocks, so presence stops at once
 * @msg: a request
 * @path: its path
 *
 * Answers @msg when @path is one of the blocks paths.
 *
 * Returns: %TRUE when @msg was answered here
 */
gboolean
natter_http_blocks_handle (NatterServerDb *db,
                           NatterHub *hub,
                           SoupServerMessage *msg,
                           const char *path)
{
  g_autoptr (NatterProfile) actor = NULL;
  g_autoptr (NatterProfile) other = NULL;
  g_autoptr (GError) error = NULL;
  const char *method = soup_server_message_get_method (msg);
  gint64 user_id;

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

  user_id = authenticate (db, msg);
  if (user_id == 0)
    return TRUE;
  if (natter_server_db_get_profile_owner (db, actor->profile_id, actor->profile_type) != user_id) {
    respond_error (msg, SOUP_STATUS_FORBIDDEN, "forbidden", "that profile is not yours");
    return TRUE;
  }

  if (g_str_equal (method, "GET")) {
    g_autoptr (GPtrArray) blocked = natter_server_db_list_blocks (db, actor, &error);

    if (blocked == NULL)
      respond_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal", "the server failed");
    else
      respond (msg, SOUP_STATUS_OK, "application/json", natter_block_list_to_json (blocked));
    return TRUE;
  }

  if (g_str_equal (method, "POST")) {
    g_autoptr (GBytes) body =
      soup_message_body_flatten (soup_server_message_get_request_body (msg));

    other =
      natter_block_request_parse (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
    if (other == NULL) {
      respond_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_frame", error->message);
      return TRUE;
    }
    if (natter_profile_equal (actor, other)) {
      respond_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_frame", "you cannot block yourself");
      return TRUE;
    }
    if (natter_server_db_get_profile_owner (db, other->profile_id, other->profile_type) == 0) {
      respond_error (msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such profile");
      return TRUE;
    }
    if (!natter_server_db_add_block (db, actor, other, &error)) {
      respond_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal", "the server failed");
      return TRUE;
    }
    if (hub != NULL)
      natter_hub_profile_blocked (hub, actor, other);
    respond (msg, SOUP_STATUS_NO_CONTENT, NULL, NULL);
    return TRUE;
  }

  if (!natter_server_db_remove_block (db, actor, other, &error)) {
    respond_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal", "the server failed");
    return TRUE;
  }
  respond (msg, SOUP_STATUS_NO_CONTENT, NULL, NULL);
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
