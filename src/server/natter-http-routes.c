/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-http-api"

#include "config.h"

#include <string.h>

#include "natter-http-body.h"
#include "natter-http-routes.h"
#include "natter-password.h"
#include "natter-server-db.h"

NatterHttpRoute *
natter_http_route_new (void)
{
  return g_new0 (NatterHttpRoute, 1);
}

void
natter_http_route_free (NatterHttpRoute *route)
{
  if (route == NULL)
    return;
  g_free (route->profile_type);
  g_free (route->text);
  g_free (route->bad_request);
  g_clear_pointer (&route->registration, natter_register_request_free);
  g_free (route->password_hash);
  if (route->owner != NULL && route->owner_free != NULL)
    route->owner_free (route->owner);
  g_free (route);
}

/* The token, then what the main context found wrong with the request. */
static gboolean
authenticate (NatterStoreQueries *queries,
              const NatterHttpRequest *request,
              NatterHttpReply *reply,
              NatterHttpRoute *route)
{
  if (!natter_http_query_authenticate (queries, request, reply, &route->user_id, &route->token_id))
    return FALSE;
  if (route->bad_request != NULL) {
    natter_http_reply_error (reply, SOUP_STATUS_BAD_REQUEST, "bad_frame", route->bad_request);
    return FALSE;
  }

  return TRUE;
}

/* /api/as/{id}/{type}/…: only the profile's owner may act as it. */
static gboolean
authorize_profile (NatterStoreQueries *queries,
                   const NatterHttpRequest *request,
                   NatterHttpReply *reply,
                   NatterHttpRoute *route)
{
  gint64 owner;

  if (!natter_http_query_authenticate (queries, request, reply, &route->user_id, &route->token_id))
    return FALSE;
  owner = natter_store_queries_get_profile_owner (queries, route->profile_id, route->profile_type);
  if (owner == 0 || owner != route->user_id) {
    natter_http_reply_error (reply, SOUP_STATUS_FORBIDDEN, "forbidden",
                             "that profile is not yours");
    return FALSE;
  }
  if (route->bad_request != NULL) {
    natter_http_reply_error (reply, SOUP_STATUS_BAD_REQUEST, "bad_frame", route->bad_request);
    return FALSE;
  }

  return TRUE;
}

/* Only the token: the main context answers (GET /api/ice-servers). */
void
natter_http_route_authenticate (NatterStoreQueries *queries,
                                const NatterHttpRequest *request,
                                NatterHttpReply *reply,
                                gpointer data)
{
  if (authenticate (queries, request, reply, data))
    natter_http_reply_no_content (reply);
}

void
natter_http_route_session (NatterStoreQueries *queries,
                           const NatterHttpRequest *request,
                           NatterHttpReply *reply,
                           gpointer data)
{
  NatterHttpRoute *route = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterUser) user = NULL;
  g_autoptr (GDateTime) expires = NULL;
  g_autofree char *token = NULL;
  g_autofree char *token_hash = NULL;
  g_autofree char *expires_at = NULL;
  NatterSession session = { 0 };
  gint64 expires_unix = g_get_real_time () / G_USEC_PER_SEC + route->token_lifetime_s;

  /* Only the token's SHA-256 is stored. */
  token = natter_token_generate (&error);
  if (token == NULL) {
    natter_http_reply_internal (reply, error);
    return;
  }
  token_hash = natter_token_hash (token);
  if (!natter_store_queries_add_token (queries, route->user_id, token_hash, expires_unix,
                                       &route->token_id, &error)) {
    natter_http_reply_internal (reply, error);
    return;
  }
  user = natter_store_queries_get_user (queries, route->user_id, &error);
  if (user == NULL) {
    natter_http_reply_internal (reply, error);
    return;
  }

  expires = g_date_time_new_from_unix_utc (expires_unix);
  expires_at = natter_format_time (expires);
  session.token = token;
  session.expires_at = expires_at;
  session.user = user;
  natter_http_reply_json (reply, route->session_status, natter_session_to_json (&session));
}

void
natter_http_route_register (NatterStoreQueries *queries,
                            const NatterHttpRequest *request,
                            NatterHttpReply *reply,
                            gpointer data)
{
  NatterHttpRoute *route = data;
  NatterRegisterRequest *registration = route->registration;
  g_autoptr (GError) error = NULL;

  if (!natter_store_queries_create_user (
        queries, registration->email, route->password_hash, registration->display_name,
        (const char *const *) registration->profile_types, &route->user_id, &error)) {
    if (g_error_matches (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_EXISTS))
      natter_http_reply_error (reply, SOUP_STATUS_CONFLICT, "conflict",
                               "this email already has an account");
    else
      natter_http_reply_internal (reply, error);
    return;
  }
  g_message ("registered user %" G_GINT64_FORMAT, route->user_id);
  natter_http_route_session (queries, request, reply, route);
}

void
natter_http_route_logout (NatterStoreQueries *queries,
                          const NatterHttpRequest *request,
                          NatterHttpReply *reply,
                          gpointer data)
{
  NatterHttpRoute *route = data;
  g_autoptr (GError) error = NULL;

  if (!authenticate (queries, request, reply, route))
    return;
  if (route->all_tokens ? !natter_store_queries_revoke_user_tokens (queries, route->user_id, &error)
                        : !natter_store_queries_revoke_token (queries, route->token_id, &error)) {
    natter_http_reply_internal (reply, error);
    return;
  }
  natter_http_reply_no_content (reply);
}

void
natter_http_route_me (NatterStoreQueries *queries,
                      const NatterHttpRequest *request,
                      NatterHttpReply *reply,
                      gpointer data)
{
  NatterHttpRoute *route = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterUser) user = NULL;

  if (!authenticate (queries, request, reply, route))
    return;
  user = natter_store_queries_get_user (queries, route->user_id, &error);
  if (user == NULL) {
    natter_http_reply_db_error (reply, error);
    return;
  }
  natter_http_reply_json (reply, SOUP_STATUS_OK, natter_user_to_json (user));
}

void
natter_http_route_profiles (NatterStoreQueries *queries,
                            const NatterHttpRequest *request,
                            NatterHttpReply *reply,
                            gpointer data)
{
  NatterHttpRoute *route = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) profiles = NULL;

  if (!authenticate (queries, request, reply, route))
    return;
  profiles =
    natter_store_queries_search_profiles (queries, route->text, (guint) route->limit, &error);
  if (profiles == NULL) {
    natter_http_reply_internal (reply, error);
    return;
  }
  natter_http_reply_json (reply, SOUP_STATUS_OK, natter_profile_list_to_json (profiles));
}

static const char *
image_content_type (GBytes *image)
{
  static const guint8 png_magic[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  static const guint8 jpeg_magic[] = { 0xff, 0xd8, 0xff };
  gsize size;
  const guint8 *data = g_bytes_get_data (image, &size);

  if (size >= sizeof png_magic && memcmp (data, png_magic, sizeof png_magic) == 0)
    return "image/png";
  if (size >= sizeof jpeg_magic && memcmp (data, jpeg_magic, sizeof jpeg_magic) == 0)
    return "image/jpeg";

  return NULL;
}

void
natter_http_route_avatar (NatterStoreQueries *queries,
                          const NatterHttpRequest *request,
                          NatterHttpReply *reply,
                          gpointer data)
{
  NatterHttpRoute *route = data;
  g_autoptr (GError) error = NULL;
  const char *content_type;
  gint64 owner;

  if (g_str_equal (request->method, "GET") || g_str_equal (request->method, "HEAD")) {
    g_autofree char *stored_type = NULL;
    g_autoptr (GBytes) image = natter_store_queries_get_avatar (
      queries, route->profile_id, route->profile_type, &stored_type, &error);

    if (image == NULL) {
      natter_http_reply_db_error (reply, error);
      return;
    }
    natter_http_reply_header (reply, "Cache-Control", "no-cache");
    natter_http_reply_bytes (reply, SOUP_STATUS_OK, stored_type, image);
    return;
  }

  if (!authenticate (queries, request, reply, route))
    return;
  owner = natter_store_queries_get_profile_owner (queries, route->profile_id, route->profile_type);
  if (owner == 0) {
    natter_http_reply_error (reply, SOUP_STATUS_NOT_FOUND, "not_found", "no such profile");
    return;
  }
  if (owner != route->user_id) {
    natter_http_reply_error (reply, SOUP_STATUS_FORBIDDEN, "forbidden",
                             "that profile is not yours");
    return;
  }
  content_type = image_content_type (request->body);
  if (content_type == NULL) {
    natter_http_reply_error (reply, SOUP_STATUS_BAD_REQUEST, "bad_frame",
                             "an avatar must be a PNG or JPEG image");
    return;
  }
  if (!natter_store_queries_set_avatar (queries, route->profile_id, route->profile_type,
                                        request->body, content_type, &error)) {
    natter_http_reply_db_error (reply, error);
    return;
  }
  natter_http_reply_no_content (reply);
}

static void
start_conversation (NatterStoreQueries *queries,
                    const NatterHttpRequest *request,
                    NatterHttpReply *reply,
                    NatterHttpRoute *route,
                    const NatterProfile *viewer)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) with = NULL;
  g_autoptr (NatterConversation) conversation = NULL;
  NatterProfile *other;
  gboolean existed;

  with = natter_conversation_request_parse (g_bytes_get_data (request->body, NULL),
                                            g_bytes_get_size (request->body), &error);
  if (with == NULL) {
    natter_http_reply_bad_input (reply, error);
    return;
  }
  if (with->len != 1) {
    natter_http_reply_error (reply, SOUP_STATUS_BAD_REQUEST, "bad_frame",
                             "with: a direct conversation has exactly one other profile");
    return;
  }
  other = g_ptr_array_index (with, 0);
  if (natter_profile_equal (viewer, other)) {
    natter_http_reply_error (reply, SOUP_STATUS_BAD_REQUEST, "bad_frame",
                             "with: a conversation with yourself is not possible");
    return;
  }
  if (natter_store_queries_get_profile_owner (queries, other->profile_id, other->profile_type) ==
      0) {
    natter_http_reply_error (reply, SOUP_STATUS_NOT_FOUND, "not_found", "with: no such profile");
    return;
  }

  /* A block answers like a stranger's attempt elsewhere: not allowed. */
  if (natter_store_queries_is_blocked_either (queries, viewer, other)) {
    natter_http_reply_error (reply, SOUP_STATUS_FORBIDDEN, "not_allowed",
                             "you cannot start a conversation with this profile");
    return;
  }

  existed = natter_store_queries_find_direct (queries, viewer, other) != 0;
  conversation = natter_store_queries_get_or_create_direct (queries, viewer, other, &error);
  if (conversation == NULL) {
    natter_http_reply_db_error (reply, error);
    return;
  }
  route->created = !existed;
  route->conversation_id = conversation->conversation_id;
  natter_http_reply_json (reply, existed ? SOUP_STATUS_OK : SOUP_STATUS_CREATED,
                          natter_conversation_to_json (conversation));
}

void
natter_http_route_conversations (NatterStoreQueries *queries,
                                 const NatterHttpRequest *request,
                                 NatterHttpReply *reply,
                                 gpointer data)
{
  NatterHttpRoute *route = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterProfile) viewer = NULL;
  g_autoptr (GPtrArray) conversations = NULL;

  if (!authorize_profile (queries, request, reply, route))
    return;
  viewer = natter_profile_new (route->profile_id, route->profile_type, NULL, NULL);
  if (!g_str_equal (request->method, "GET")) {
    start_conversation (queries, request, reply, route, viewer);
    return;
  }

  conversations = natter_store_queries_list_conversations (queries, viewer, &error);
  if (conversations == NULL) {
    natter_http_reply_internal (reply, error);
    return;
  }
  natter_http_reply_json (reply, SOUP_STATUS_OK, natter_conversation_list_to_json (conversations));
}

void
natter_http_route_messages (NatterStoreQueries *queries,
                            const NatterHttpRequest *request,
                            NatterHttpReply *reply,
                            gpointer data)
{
  NatterHttpRoute *route = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterProfile) viewer = NULL;
  g_autoptr (GPtrArray) messages = NULL;
  gboolean has_more = FALSE;

  if (!authorize_profile (queries, request, reply, route))
    return;

  viewer = natter_profile_new (route->profile_id, route->profile_type, NULL, NULL);
  if (!natter_store_queries_is_participant (queries, route->conversation_id, viewer)) {
    g_autoptr (GPtrArray) participants =
      natter_store_queries_list_participants (queries, route->conversation_id, NULL);

    if (participants != NULL && participants->len > 0)
      natter_http_reply_error (reply, SOUP_STATUS_FORBIDDEN, "forbidden",
                               "that profile is not in this conversation");
    else
      natter_http_reply_error (reply, SOUP_STATUS_NOT_FOUND, "not_found", "no such conversation");
    return;
  }

  messages = natter_store_queries_list_messages (queries, route->conversation_id, route->before_seq,
                                                 (guint) route->limit, &has_more, &error);
  if (messages == NULL) {
    natter_http_reply_internal (reply, error);
    return;
  }
  natter_http_reply_json (reply, SOUP_STATUS_OK, natter_message_page_to_json (messages, has_more));
}

void
natter_http_route_calls (NatterStoreQueries *queries,
                         const NatterHttpRequest *request,
                         NatterHttpReply *reply,
                         gpointer data)
{
  NatterHttpRoute *route = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterProfile) viewer = NULL;
  g_autoptr (GPtrArray) calls = NULL;

  if (!authorize_profile (queries, request, reply, route))
    return;

  viewer = natter_profile_new (route->profile_id, route->profile_type, NULL, NULL);
  calls = natter_store_queries_list_calls (queries, viewer, (guint) route->limit, &error);
  if (calls == NULL) {
    natter_http_reply_internal (reply, error);
    return;
  }
  natter_http_reply_json (reply, SOUP_STATUS_OK, natter_call_log_list_to_json (calls));
}
