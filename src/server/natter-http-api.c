/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-http-api"

#include "config.h"

#include <string.h>

#include "natter-attempt-limiter.h"
#include "natter-http-api.h"
#include "natter-http-blocks.h"
#include "natter-http-body.h"
#include "natter-http-routes.h"
#include "natter-password.h"
#include "natter-protocol.h"
#include "natter-request-guard.h"
#include "natter-server-db-attachments.h"

#define ROUTE_KEY "natter-route"
/* Keys each limiter remembers; the least recently used go first. */
#define LIMITER_CAPACITY 100000
/* libsoup 3.2 names no constant for it. */
#define STATUS_TOO_MANY_REQUESTS 429

typedef enum {
  ROUTE_NONE,
  ROUTE_HEALTHZ,
  ROUTE_REGISTER,
  ROUTE_LOGIN,
  ROUTE_LOGOUT,
  ROUTE_ME,
  ROUTE_PROFILES,
  ROUTE_AVATAR,
  ROUTE_CONVERSATIONS,
  ROUTE_MESSAGES,
  ROUTE_CALLS,
  ROUTE_ICE_SERVERS,
} RouteId;

typedef struct {
  RouteId id;
  const char *template; /* the metrics label */
  const char *methods;  /* the Allow header */
} RouteInfo;

static const RouteInfo routes[] = {
  { ROUTE_NONE, "other", "" },
  { ROUTE_HEALTHZ, "/healthz", "GET, HEAD" },
  { ROUTE_REGISTER, "/api/register", "POST" },
  { ROUTE_LOGIN, "/api/login", "POST" },
  { ROUTE_LOGOUT, "/api/logout", "POST" },
  { ROUTE_ME, "/api/me", "GET" },
  { ROUTE_PROFILES, "/api/profiles", "GET" },
  { ROUTE_AVATAR, "/api/profiles/{type}/{id}/avatar", "GET, PUT" },
  { ROUTE_CONVERSATIONS, "/api/as/{id}/{type}/conversations", "GET, POST" },
  { ROUTE_MESSAGES, "/api/as/{id}/{type}/conversations/{cid}/messages", "GET" },
  { ROUTE_CALLS, "/api/as/{id}/{type}/calls", "GET" },
  { ROUTE_ICE_SERVERS, "/api/ice-servers", "GET" },
};

/* What the path names, once matched. */
typedef struct {
  RouteId id;
  gint64 profile_id;
  char *profile_type;
  gint64 conversation_id;
} Route;

struct _NatterHttpApi {
  GObject parent_instance;

  NatterServerStore *store; /* every route's storage work but the passwords' */
  const NatterServerConfig *config;
  NatterMetrics *metrics;
  NatterHub *hub;
  NatterHttpAttachments *attachments; /* NULL: no attachment paths */
  NatterAttemptLimiter *logins_by_address;
  NatterAttemptLimiter *logins_by_account;
  NatterAttemptLimiter *registrations_by_address;
  guint hashes_waiting; /* password jobs queued or running */
  gboolean shutting_down;
};

G_DEFINE_FINAL_TYPE (NatterHttpApi, natter_http_api, G_TYPE_OBJECT)

static void
route_clear (Route *route)
{
  g_clear_pointer (&route->profile_type, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Route, route_clear)

static gboolean
parse_id (const char *text, gint64 *out_id)
{
  return g_ascii_string_to_signed (text, 10, 1, NATTER_MAX_ID, out_id, NULL);
}

/* Matches PROTOCOL.md's paths; the ids and types they carry must be valid
 * or the path names nothing (404). */
static gboolean
match_route (const char *path, Route *route)
{
  g_auto (GStrv) parts = NULL;
  guint n;

  route->id = ROUTE_NONE;
  if (path == NULL || path[0] != '/')
    return FALSE;
  parts = g_strsplit (path + 1, "/", 9);
  n = g_strv_length (parts);

  /* /metrics is not here: natter_http_api_install_metrics () serves it on
   * its own address only. */
  if (n == 1 && g_str_equal (parts[0], "healthz"))
    route->id = ROUTE_HEALTHZ;
  else if (n < 2 || !g_str_equal (parts[0], "api"))
    return FALSE;
  else if (n == 2 && g_str_equal (parts[1], "register"))
    route->id = ROUTE_REGISTER;
  else if (n == 2 && g_str_equal (parts[1], "login"))
    route->id = ROUTE_LOGIN;
  else if (n == 2 && g_str_equal (parts[1], "logout"))
    route->id = ROUTE_LOGOUT;
  else if (n == 2 && g_str_equal (parts[1], "me"))
    route->id = ROUTE_ME;
  else if (n == 2 && g_str_equal (parts[1], "profiles"))
    route->id = ROUTE_PROFILES;
  else if (n == 2 && g_str_equal (parts[1], "ice-servers"))
    route->id = ROUTE_ICE_SERVERS;
  else if (n == 5 && g_str_equal (parts[1], "profiles") && g_str_equal (parts[4], "avatar")) {
    route->profile_type = natter_profile_type_normalize (parts[2], NULL);
    if (route->profile_type == NULL || !parse_id (parts[3], &route->profile_id))
      return FALSE;
    route->id = ROUTE_AVATAR;
  } else if (n >= 5 && g_str_equal (parts[1], "as")) {
    if (!parse_id (parts[2], &route->profile_id))
      return FALSE;
    route->profile_type = natter_profile_type_normalize (parts[3], NULL);
    if (route->profile_type == NULL)
      return FALSE;
    if (n == 5 && g_str_equal (parts[4], "conversations"))
      route->id = ROUTE_CONVERSATIONS;
    else if (n == 5 && g_str_equal (parts[4], "calls"))
      route->id = ROUTE_CALLS;
    else if (n == 7 && g_str_equal (parts[4], "conversations") &&
             g_str_equal (parts[6], "messages") && parse_id (parts[5], &route->conversation_id))
      route->id = ROUTE_MESSAGES;
    else
      return FALSE;
  } else {
    return FALSE;
  }

  return TRUE;
}

static void
respond_json (SoupServerMessage *msg, guint status, char *json)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, json, strlen (json));
}

static void
respond_error (
  NatterHttpApi *self, SoupServerMessage *msg, guint status, const char *code, const char *message)
{
  natter_metrics_inc (self->metrics, "natter_http_errors_total", "code", code);
  respond_json (msg, status, natter_http_error_to_json (code, message));
}

static void
respond_no_content (SoupServerMessage *msg)
{
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static void
respond_internal (NatterHttpApi *self, SoupServerMessage *msg, const GError *error)
{
  g_warning ("%s %s: %s", soup_server_message_get_method (msg),
             g_uri_get_path (soup_server_message_get_uri (msg)),
             error != NULL ? error->message : "failed");
  respond_error (self, msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                 "the server could not complete the request");
}

/* A parse failure of the protocol library becomes a 400 with its code. */
static void
respond_bad_input (NatterHttpApi *self, SoupServerMessage *msg, const GError *error)
{
  const char *code = "bad_frame";

  if (error->domain == NATTER_PROTOCOL_ERROR)
    code = natter_protocol_error_to_code (error->code);
  respond_error (self, msg, SOUP_STATUS_BAD_REQUEST, code, error->message);
}

static void
early_handler (SoupServer *server,
               SoupServerMessage *msg,
               const char *path,
               GHashTable *query,
               gpointer user_data)
{
  NatterHttpApi *self = NATTER_HTTP_API (user_data);
  if (self->shutting_down) {
    soup_message_headers_append (soup_server_message_get_response_headers (msg), "Connection",
                                 "close");
    respond_error (self, msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "internal",
                   "the server is shutting down");
  }
}

static void
add_cors_headers (NatterHttpApi *self, SoupServerMessage *msg, gboolean preflight)
{
  SoupMessageHeaders *request = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *response = soup_server_message_get_response_headers (msg);
  const char *origin = soup_message_headers_get_one (request, "Origin");

  if (origin == NULL)
    return;
  /* Once only: the request guard may have added them before the body. */
  if (!soup_message_headers_header_contains (response, "Vary", "Origin"))
    soup_message_headers_append (response, "Vary", "Origin");
  if (!natter_server_config_origin_allowed (self->config, origin))
    return;

  soup_message_headers_replace (response, "Access-Control-Allow-Origin", origin);
  if (preflight) {
    soup_message_headers_replace (response, "Access-Control-Allow-Methods",
                                  "GET, POST, PUT, OPTIONS");
    soup_message_headers_replace (response, "Access-Control-Allow-Headers",
                                  "Authorization, Content-Type");
    soup_message_headers_replace (response, "Access-Control-Max-Age", "600");
  }
}

static GBytes *
request_body (SoupServerMessage *msg)
{
  return soup_message_body_flatten (soup_server_message_get_request_body (msg));
}

/* Login and registration hash in a worker thread while the message waits:
 * argon2id takes tens of milliseconds the WebSockets should not wait for. */
typedef struct {
  NatterHttpApi *self;
  SoupServerMessage *msg;
  gulong disconnected_id;
  gboolean disconnected;
  char *client_address;
  char *account_key; /* login: the email, lowercased */

  /* register */
  NatterRegisterRequest *register_request;
  /* login */
  char *email;
  gint64 user_id;
  char *password;
  char *stored_hash; /* NULL: unknown email, verify against the dummy */

  /* results of the thread */
  char *new_hash;
  gboolean verified;
  GError *error;
} PasswordJob;

static void
password_job_free (PasswordJob *job)
{
  if (job->disconnected_id != 0)
    g_signal_handler_disconnect (job->msg, job->disconnected_id);
  g_clear_object (&job->msg);
  g_clear_object (&job->self);
  g_free (job->client_address);
  g_free (job->account_key);
  g_free (job->email);
  g_clear_pointer (&job->register_request, natter_register_request_free);
  if (job->password != NULL)
    memset (job->password, 0, strlen (job->password));
  g_free (job->password);
  g_free (job->stored_hash);
  g_free (job->new_hash);
  g_clear_error (&job->error);
  g_free (job);
}

static void
on_job_message_disconnected (SoupServerMessage *msg, gpointer user_data)
{
  PasswordJob *job = user_data;

  job->disconnected = TRUE;
}

static PasswordJob *
password_job_new (NatterHttpApi *self, SoupServerMessage *msg)
{
  PasswordJob *job = g_new0 (PasswordJob, 1);

  job->self = g_object_ref (self);
  job->msg = g_object_ref (msg);
  job->client_address = natter_request_guard_client_address (self->config, msg);
  job->disconnected_id =
    g_signal_connect (msg, "disconnected", G_CALLBACK (on_job_message_disconnected), job);
  soup_server_message_pause (msg);

  return job;
}

static void
password_job_thread (GTask *task,
                     gpointer source_object,
                     gpointer task_data,
                     GCancellable *cancellable)
{
  PasswordJob *job = task_data;

  if (job->register_request != NULL) {
    job->new_hash = natter_password_hash (job->register_request->password, &job->error);
  } else if (job->stored_hash != NULL) {
    job->verified = natter_password_verify (job->stored_hash, job->password);
  } else {
    natter_password_verify_dummy (job->password);
    job->verified = FALSE;
  }
  g_task_return_boolean (task, TRUE);
}

/* Refuses with 429 and Retry-After. */
static void
respond_rate_limited (NatterHttpApi *self,
                      SoupServerMessage *msg,
                      guint retry_after_s,
                      const char *text)
{
  g_autofree char *seconds = g_strdup_printf ("%u", MAX (retry_after_s, 1));

  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After",
                                seconds);
  respond_error (self, msg, STATUS_TOO_MANY_REQUESTS, "rate_limited", text);
}

/* Hashing takes a worker thread tens of milliseconds and 19 MiB: past
 * --max-hashes-waiting jobs, new ones are refused (503) rather than queued
 * without bound. */
static gboolean
reserve_hash (NatterHttpApi *self, SoupServerMessage *msg)
{
  if (self->hashes_waiting >= self->config->max_hashes_waiting) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After",
                                  "1");
    respond_error (self, msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "rate_limited",
                   "the server is busy; try again in a moment");
    return FALSE;
  }
  return TRUE;
}

static void
run_password_job (NatterHttpApi *self, PasswordJob *job, GAsyncReadyCallback callback)
{
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, NULL);

  self->hashes_waiting++;
  natter_metrics_inc (self->metrics, "natter_password_hashes_total", NULL, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) password_job_free);
  g_task_run_in_thread (task, password_job_thread);
}

/* The account and its first token: through the store, while the message
 * stays paused. */
static void
start_session (NatterHttpApi *self, PasswordJob *job, NatterHttpQueryRun run, guint status)
{
  NatterHttpRoute *session = natter_http_route_new ();

  session->user_id = job->user_id;
  session->token_lifetime_s = self->config->token_lifetime_s;
  session->session_status = status;
  session->registration = g_steal_pointer (&job->register_request);
  session->password_hash = g_steal_pointer (&job->new_hash);
  natter_http_query_start (self->store, self->metrics, job->msg, run, NULL, session,
                           (GDestroyNotify) natter_http_route_free);
}

static void
on_register_hashed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PasswordJob *job = g_task_get_task_data (G_TASK (result));
  NatterHttpApi *self = job->self;

  self->hashes_waiting--;
  if (job->disconnected)
    return;

  if (job->new_hash == NULL) {
    respond_internal (self, job->msg, job->error);
    soup_server_message_unpause (job->msg);
    return;
  }
  start_session (self, job, natter_http_route_register, SOUP_STATUS_CREATED);
}

static void
handle_register (NatterHttpApi *self, SoupServerMessage *msg)
{
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterRegisterRequest) request = NULL;
  g_autofree char *address = NULL;
  PasswordJob *job;
  guint retry_after_s = 0;

  if (!self->config->registration_enabled) {
    respond_error (self, msg, SOUP_STATUS_FORBIDDEN, "forbidden",
                   "this server does not allow registration");
    return;
  }

  body = request_body (msg);
  request =
    natter_register_request_parse (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
  if (request == NULL) {
    respond_bad_input (self, msg, error);
    return;
  }
  for (guint i = 0; request->profile_types[i] != NULL; i++) {
    if (!g_strv_contains ((const char *const *) self->config->profile_types,
                          request->profile_types[i])) {
      g_autofree char *message = g_strdup_printf ("profile_types: this server does not offer “%s”",
                                                  request->profile_types[i]);

      respond_error (self, msg, SOUP_STATUS_BAD_REQUEST, "bad_frame", message);
      return;
    }
  }

  /* A well-formed request takes its token before anything slow happens,
   * so parallel ones cannot pass together; a malformed one costs nothing
   * and counts for nothing. */
  address = natter_request_guard_client_address (self->config, msg);
  if (!natter_attempt_limiter_take (self->registrations_by_address, address,
                                    g_get_monotonic_time (), &retry_after_s)) {
    respond_rate_limited (self, msg, retry_after_s, "too many registrations; try again later");
    return;
  }
  if (!reserve_hash (self, msg)) {
    natter_attempt_limiter_give_back (self->registrations_by_address, address);
    return;
  }
  job = password_job_new (self, msg);
  job->register_request = g_steal_pointer (&request);
  run_password_job (self, job, on_register_hashed);
}

static void
on_login_verified (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PasswordJob *job = g_task_get_task_data (G_TASK (result));
  NatterHttpApi *self = job->self;

  self->hashes_waiting--;
  /* Only failed attempts keep their tokens spent. */
  if (job->verified) {
    natter_attempt_limiter_give_back (self->logins_by_address, job->client_address);
    natter_attempt_limiter_give_back (self->logins_by_account, job->account_key);
  }
  if (job->disconnected)
    return;

  if (job->verified) {
    start_session (self, job, natter_http_route_session, SOUP_STATUS_OK);
    return;
  }
  /* The same answer for an unknown email and a wrong password. */
  respond_error (self, job->msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                 "wrong email or password");
  soup_server_message_unpause (job->msg);
}

/* On the store's side: the account's hash, none for an unknown email. */
static gpointer
find_login (NatterStoreQueries *queries, gpointer data, GError **error)
{
  PasswordJob *job = data;
  g_autoptr (GError) local_error = NULL;

  if (!natter_store_queries_find_login (queries, job->email, &job->user_id, &job->stored_hash,
                                        &local_error) &&
      !g_error_matches (local_error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND)) {
    g_propagate_error (error, g_steal_pointer (&local_error));
    return NULL;
  }

  return job;
}

static void
on_login_found (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PasswordJob *job = user_data;
  NatterHttpApi *self = job->self;
  g_autoptr (GError) error = NULL;

  self->hashes_waiting--;
  if (natter_server_store_query_finish (NATTER_SERVER_STORE (source), result, &error) == NULL) {
    if (!job->disconnected) {
      respond_internal (self, job->msg, error);
      soup_server_message_unpause (job->msg);
    }
    password_job_free (job);
    return;
  }
  run_password_job (self, job, on_login_verified);
}

static void
handle_login (NatterHttpApi *self, SoupServerMessage *msg)
{
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterLoginRequest) request = NULL;
  g_autofree char *address = NULL;
  g_autofree char *account = NULL;
  gint64 now = g_get_monotonic_time ();
  guint retry_after_s = 0;
  PasswordJob *job;

  /* Tokens are taken when the request arrives, so that parallel guesses
   * cannot all pass; a correct password gives them back. */
  address = natter_request_guard_client_address (self->config, msg);
  if (!natter_attempt_limiter_take (self->logins_by_address, address, now, &retry_after_s)) {
    respond_rate_limited (self, msg, retry_after_s, "too many failed logins; try again later");
    return;
  }

  body = request_body (msg);
  request =
    natter_login_request_parse (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
  if (request == NULL) {
    respond_bad_input (self, msg, error);
    return;
  }

  /* Per account too, whatever the address: an attacker with many
   * addresses still gets a burst of guesses, then ever longer waits. The
   * same for unknown emails, so the answer does not tell them apart. */
  account = g_utf8_strdown (request->email, -1);
  if (!natter_attempt_limiter_take (self->logins_by_account, account, now, &retry_after_s)) {
    respond_rate_limited (self, msg, retry_after_s, "too many failed logins; try again later");
    return;
  }
  if (!reserve_hash (self, msg)) {
    natter_attempt_limiter_give_back (self->logins_by_address, address);
    natter_attempt_limiter_give_back (self->logins_by_account, account);
    return;
  }

  job = password_job_new (self, msg);
  job->account_key = g_steal_pointer (&account);
  job->email = g_strdup (request->email);
  job->password = g_strdup (request->password);
  /* The hash stays reserved while the account is looked up. */
  self->hashes_waiting++;
  natter_server_store_query (self->store, find_login, job, NULL, NULL, on_login_found, job);
}

static NatterHttpRoute *
route_query_new (NatterHttpApi *self, const Route *route)
{
  NatterHttpRoute *query = natter_http_route_new ();

  query->owner = g_object_ref (self);
  query->owner_free = g_object_unref;
  query->profile_id = route->profile_id;
  query->profile_type = g_strdup (route->profile_type);
  query->conversation_id = route->conversation_id;

  return query;
}

static void
start_route (NatterHttpApi *self,
             SoupServerMessage *msg,
             NatterHttpRoute *query,
             NatterHttpQueryRun run,
             NatterHttpQueryDone done)
{
  natter_http_query_start (self->store, self->metrics, msg, run, done, query,
                           (GDestroyNotify) natter_http_route_free);
}

/* Reads ?NAME=N within @min..@max, @fallback when absent; a bad value
 * becomes the 400 the route answers once the token passed. */
static void
query_limit (NatterHttpRoute *route,
             GHashTable *query,
             const char *name,
             gint64 min,
             gint64 max,
             gint64 fallback,
             gint64 *out_value)
{
  const char *text = query != NULL ? g_hash_table_lookup (query, name) : NULL;

  *out_value = fallback;
  if (text == NULL || g_ascii_string_to_signed (text, 10, min, max, out_value, NULL) ||
      route->bad_request != NULL)
    return;
  route->bad_request = g_strdup_printf (
    "%s: expected a whole number from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, name, min, max);
}

static void
on_logout_done (NatterHttpReply *reply, gpointer data)
{
  NatterHttpRoute *route = data;
  NatterHttpApi *self = route->owner;

  if (reply->status != SOUP_STATUS_NO_CONTENT || self->hub == NULL)
    return;
  if (route->all_tokens)
    natter_hub_disconnect_user (self->hub, route->user_id);
  else
    natter_hub_disconnect_token (self->hub, route->token_id);
}

static void
handle_logout (NatterHttpApi *self, SoupServerMessage *msg, const Route *route, GHashTable *query)
{
  const char *everywhere = query != NULL ? g_hash_table_lookup (query, "everywhere") : NULL;
  NatterHttpRoute *logout;

  if (everywhere != NULL && !g_str_equal (everywhere, "true") &&
      !g_str_equal (everywhere, "false")) {
    respond_error (self, msg, SOUP_STATUS_BAD_REQUEST, "bad_frame",
                   "everywhere: expected true or false");
    return;
  }
  logout = route_query_new (self, route);
  logout->all_tokens = g_strcmp0 (everywhere, "true") == 0;
  start_route (self, msg, logout, natter_http_route_logout, on_logout_done);
}

static void
handle_profiles (NatterHttpApi *self, SoupServerMessage *msg, const Route *route, GHashTable *query)
{
  NatterHttpRoute *search = route_query_new (self, route);
  const char *text = query != NULL ? g_hash_table_lookup (query, "q") : NULL;

  query_limit (search, query, "limit", 1, NATTER_DIRECTORY_LIMIT_MAX,
               NATTER_DIRECTORY_LIMIT_DEFAULT, &search->limit);
  if (text != NULL && g_utf8_strlen (text, -1) > NATTER_MAX_DISPLAY_NAME_CHARS &&
      search->bad_request == NULL)
    search->bad_request = g_strdup ("q: too long");
  search->text = g_strdup (text);
  start_route (self, msg, search, natter_http_route_profiles, NULL);
}

static void
on_conversations_done (NatterHttpReply *reply, gpointer data)
{
  NatterHttpRoute *route = data;
  NatterHttpApi *self = route->owner;

  if (route->created && self->hub != NULL)
    natter_hub_conversation_created (self->hub, route->conversation_id);
}

static void
handle_messages (NatterHttpApi *self, SoupServerMessage *msg, const Route *route, GHashTable *query)
{
  NatterHttpRoute *page = route_query_new (self, route);

  query_limit (page, query, "before_seq", 0, NATTER_MAX_ID, 0, &page->before_seq);
  query_limit (page, query, "limit", 1, NATTER_HISTORY_LIMIT_MAX, NATTER_HISTORY_LIMIT_DEFAULT,
               &page->limit);
  start_route (self, msg, page, natter_http_route_messages, NULL);
}

static void
handle_calls (NatterHttpApi *self, SoupServerMessage *msg, const Route *route, GHashTable *query)
{
  NatterHttpRoute *calls = route_query_new (self, route);

  query_limit (calls, query, "limit", 1, NATTER_CALLS_LIMIT_MAX, NATTER_CALLS_LIMIT_DEFAULT,
               &calls->limit);
  start_route (self, msg, calls, natter_http_route_calls, NULL);
}

/* Once the token passed (204 from the query): the servers. */
static void
on_ice_servers_authenticated (NatterHttpReply *reply, gpointer data)
{
  NatterHttpRoute *route = data;
  NatterHttpApi *self = route->owner;
  g_autoptr (GPtrArray) servers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_ice_server_free);

  if (reply->status != SOUP_STATUS_NO_CONTENT)
    return;

  if (self->config->stun_uris != NULL && self->config->stun_uris[0] != NULL)
    g_ptr_array_add (
      servers, natter_ice_server_new ((const char *const *) self->config->stun_uris, NULL, NULL));
  if (self->config->turn_uris != NULL && self->config->turn_uris[0] != NULL &&
      self->config->turn_secret != NULL) {
    /* TURN REST API: the TURN server recomputes the HMAC from the shared
     * secret and refuses the username once its expiry has passed. */
    gint64 expiry = g_get_real_time () / G_USEC_PER_SEC + self->config->turn_ttl_s;
    g_autofree char *username =
      g_strdup_printf ("%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT, expiry, route->user_id);
    g_autofree char *credential = natter_turn_credential (self->config->turn_secret, username);

    g_ptr_array_add (servers, natter_ice_server_new ((const char *const *) self->config->turn_uris,
                                                     username, credential));
  }

  natter_http_reply_json (reply, SOUP_STATUS_OK,
                          natter_ice_servers_to_json (servers, self->config->turn_ttl_s));
}

static void
handle_metrics (NatterHttpApi *self, SoupServerMessage *msg)
{
  char *text;

  if (self->hub != NULL)
    natter_metrics_set (self->metrics, "natter_connections", NULL, NULL,
                        natter_hub_get_n_connections (self->hub));
  text = natter_metrics_render (self->metrics);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain; version=0.0.4; charset=utf-8",
                                    SOUP_MEMORY_TAKE, text, strlen (text));
}

static gboolean
method_allowed (const RouteInfo *info, const char *method)
{
  g_auto (GStrv) methods = g_strsplit (info->methods, ", ", -1);

  return g_strv_contains ((const char *const *) methods, method);
}

/**
 * natter_http_api_check_request:
 * @msg: the request, its headers read
 * @method: the request's method
 * @path: its path
 * @out_body_limit: (out): the most its body may hold
 * @user_data: the #NatterHttpApi
 *
 * What the API answers a request before reading its body: an unknown path
 * 404, a method the path does not take 405; otherwise 0 and the body limit
 * of that route (natter-request-guard.c refuses bodies past it unread).
 * The headers any answer to @msg carries (CORS; Allow with a 405) go on
 * its response now, so that a refusal made before the body has them too.
 *
 * Returns: 0, or the status the request gets whatever its body
 */
guint
natter_http_api_check_request (SoupServerMessage *msg,
                               const char *method,
                               const char *path,
                               gsize *out_body_limit,
                               gpointer user_data)
{
  NatterHttpApi *self = NATTER_HTTP_API (user_data);
  SoupMessageHeaders *response = soup_server_message_get_response_headers (msg);
  g_auto (Route) route = { 0 };

  *out_body_limit = 0;
  add_cors_headers (self, msg, FALSE);
  if (!match_route (path, &route)) {
    guint status =
      natter_http_attachments_check_request (self->config, method, path, response, out_body_limit);

    if (status != SOUP_STATUS_NOT_FOUND)
      return status;
    status = natter_http_blocks_check_request (method, path, response);

    if (status == 0)
      *out_body_limit = self->config->max_request_body_bytes;
    return status;
  }
  if (!g_str_equal (method, "OPTIONS") && !method_allowed (&routes[route.id], method)) {
    soup_message_headers_replace (response, "Allow", routes[route.id].methods);
    return SOUP_STATUS_METHOD_NOT_ALLOWED;
  }

  /* Each route's own limit; an upload route (attachments) answers
   * config->max_attachment_bytes here. */
  if (route.id == ROUTE_AVATAR)
    *out_body_limit = self->config->max_avatar_bytes;
  else
    *out_body_limit = self->config->max_request_body_bytes;

  return 0;
}

static void
handler (SoupServer *server,
         SoupServerMessage *msg,
         const char *path,
         GHashTable *query,
         gpointer user_data)
{
  NatterHttpApi *self = NATTER_HTTP_API (user_data);
  const char *method = soup_server_message_get_method (msg);
  g_auto (Route) route = { 0 };
  const RouteInfo *info;
  gboolean matched = match_route (path, &route);

  info = &routes[route.id];
  g_object_set_data (G_OBJECT (msg), ROUTE_KEY, (gpointer) info->template);

  /* Attachments live in natter-http-attachments.c; a browser reads them
   * across origins like the rest of the API. */
  if (!matched && self->attachments != NULL &&
      natter_http_attachments_is_path (self->attachments, path)) {
    g_object_set_data (G_OBJECT (msg), ROUTE_KEY,
                       g_str_has_prefix (path, "/api/attachments/")
                         ? (gpointer) "/api/attachments/{id}"
                         : (gpointer) "/api/as/{id}/{type}/conversations/{cid}/attachments");
    add_cors_headers (self, msg, g_str_equal (method, "OPTIONS"));
    natter_http_attachments_handle (self->attachments, msg, path);
    return;
  }

  /* Blocks live in natter-http-blocks.c. */
  if (!matched && natter_http_blocks_handle (self->store, self->hub, msg, path)) {
    g_object_set_data (G_OBJECT (msg), ROUTE_KEY, (gpointer) "/api/as/{id}/{type}/blocks");
    return;
  }

  if (g_str_equal (method, "OPTIONS")) {
    const char *origin =
      soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Origin");

    if (!matched) {
      respond_error (self, msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such resource");
    } else if (origin != NULL && !natter_server_config_origin_allowed (self->config, origin)) {
      respond_error (self, msg, SOUP_STATUS_FORBIDDEN, "forbidden", "origin not allowed");
    } else {
      add_cors_headers (self, msg, TRUE);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow",
                                    info->methods);
      respond_no_content (msg);
    }
    return;
  }

  add_cors_headers (self, msg, FALSE);

  if (!matched) {
    respond_error (self, msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such resource");
    return;
  }
  if (!method_allowed (info, method)) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow",
                                  info->methods);
    respond_error (self, msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "not_allowed",
                   "this method is not allowed here");
    return;
  }

  switch (route.id) {
    case ROUTE_HEALTHZ:
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "ok", 2);
      break;
    case ROUTE_REGISTER:
      handle_register (self, msg);
      break;
    case ROUTE_LOGIN:
      handle_login (self, msg);
      break;
    case ROUTE_LOGOUT:
      handle_logout (self, msg, &route, query);
      break;
    case ROUTE_ME:
      start_route (self, msg, route_query_new (self, &route), natter_http_route_me, NULL);
      break;
    case ROUTE_PROFILES:
      handle_profiles (self, msg, &route, query);
      break;
    case ROUTE_AVATAR:
      start_route (self, msg, route_query_new (self, &route), natter_http_route_avatar, NULL);
      break;
    case ROUTE_CONVERSATIONS:
      start_route (self, msg, route_query_new (self, &route), natter_http_route_conversations,
                   on_conversations_done);
      break;
    case ROUTE_MESSAGES:
      handle_messages (self, msg, &route, query);
      break;
    case ROUTE_CALLS:
      handle_calls (self, msg, &route, query);
      break;
    case ROUTE_ICE_SERVERS:
      start_route (self, msg, route_query_new (self, &route), natter_http_route_authenticate,
                   on_ice_servers_authenticated);
      break;
    case ROUTE_NONE:
    default:
      respond_error (self, msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such resource");
      break;
  }
}

static void
on_request_finished (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  NatterHttpApi *self = NATTER_HTTP_API (user_data);
  const char *route = g_object_get_data (G_OBJECT (msg), ROUTE_KEY);
  char status[16];

  if (route == NULL) {
    const char *path = g_uri_get_path (soup_server_message_get_uri (msg));

    route = path != NULL && g_str_has_prefix (path, "/ws/") ? "/ws/{id}/{type}" : "other";
  }
  g_snprintf (status, sizeof status, "%u", soup_server_message_get_status (msg));
  natter_metrics_add_labels (self->metrics, "natter_http_requests_total", "route", route, "status",
                             status, 1);
}

static void
natter_http_api_dispose (GObject *object)
{
  NatterHttpApi *self = NATTER_HTTP_API (object);

  g_clear_object (&self->store);
  g_clear_object (&self->metrics);
  g_clear_object (&self->hub);
  g_clear_object (&self->attachments);

  G_OBJECT_CLASS (natter_http_api_parent_class)->dispose (object);
}

static void
natter_http_api_finalize (GObject *object)
{
  NatterHttpApi *self = NATTER_HTTP_API (object);

  g_clear_pointer (&self->logins_by_address, natter_attempt_limiter_free);
  g_clear_pointer (&self->logins_by_account, natter_attempt_limiter_free);
  g_clear_pointer (&self->registrations_by_address, natter_attempt_limiter_free);

  G_OBJECT_CLASS (natter_http_api_parent_class)->finalize (object);
}

static void
natter_http_api_class_init (NatterHttpApiClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_http_api_dispose;
  object_class->finalize = natter_http_api_finalize;
}

static void
natter_http_api_init (NatterHttpApi *self)
{
}

/**
 * natter_http_api_new:
 * @store: where the routes' storage work runs
 * @config: the configuration; must outlive the API
 * @metrics: where requests are counted
 * @hub: (nullable): the hub, told about logouts
 *
 * Returns: (transfer full): the HTTP API of PROTOCOL.md
 */
NatterHttpApi *
natter_http_api_new (NatterServerStore *store,
                     const NatterServerConfig *config,
                     NatterMetrics *metrics,
                     NatterHub *hub)
{
  NatterHttpApi *self;

  g_return_val_if_fail (NATTER_IS_SERVER_STORE (store), NULL);
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (NATTER_IS_METRICS (metrics), NULL);
  g_return_val_if_fail (hub == NULL || NATTER_IS_HUB (hub), NULL);

  self = g_object_new (NATTER_TYPE_HTTP_API, NULL);
  self->store = g_object_ref (store);
  self->config = config;
  self->metrics = g_object_ref (metrics);
  self->hub = hub != NULL ? g_object_ref (hub) : NULL;
  self->logins_by_address = natter_attempt_limiter_new (config->login_rate_per_min / 60.0,
                                                        config->login_burst, LIMITER_CAPACITY);
  self->logins_by_account = natter_attempt_limiter_new (config->login_rate_per_min / 60.0,
                                                        config->login_burst, LIMITER_CAPACITY);
  self->registrations_by_address = natter_attempt_limiter_new (
    config->registration_rate_per_hour / 3600.0, config->registration_burst, LIMITER_CAPACITY);

  return self;
}

/**
 * natter_http_api_install:
 * @self: the API
 * @server: the server to answer on
 *
 * Handles every path but the hub's /ws/, counts every request.
 */
void
natter_http_api_install (NatterHttpApi *self, SoupServer *server)
{
  g_return_if_fail (NATTER_IS_HTTP_API (self));
  g_return_if_fail (SOUP_IS_SERVER (server));

  soup_server_add_early_handler (server, NULL, early_handler, self, NULL);
  soup_server_add_handler (server, NULL, handler, self, NULL);
  g_signal_connect_object (server, "request-finished", G_CALLBACK (on_request_finished), self, 0);
}

void
natter_http_api_set_attachments (NatterHttpApi *self, NatterHttpAttachments *attachments)
{
  g_return_if_fail (NATTER_IS_HTTP_API (self));

  g_set_object (&self->attachments, attachments);
}

static void
metrics_handler (SoupServer *server,
                 SoupServerMessage *msg,
                 const char *path,
                 GHashTable *query,
                 gpointer user_data)
{
  NatterHttpApi *self = NATTER_HTTP_API (user_data);
  const char *method = soup_server_message_get_method (msg);

  if (!g_str_equal (path, "/metrics")) {
    respond_error (self, msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such resource");
  } else if (!g_str_equal (method, "GET") && !g_str_equal (method, "HEAD")) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow",
                                  "GET, HEAD");
    respond_error (self, msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "not_allowed",
                   "this method is not allowed here");
  } else {
    handle_metrics (self, msg);
  }
}

/**
 * natter_http_api_install_metrics:
 * @self: the API
 * @server: the server of the metrics address (--metrics-listen)
 *
 * Serves `GET /metrics` on @server, which is never the public one.
 */
void
natter_http_api_install_metrics (NatterHttpApi *self, SoupServer *server)
{
  g_return_if_fail (NATTER_IS_HTTP_API (self));
  g_return_if_fail (SOUP_IS_SERVER (server));

  soup_server_add_handler (server, NULL, metrics_handler, self, NULL);
}

/**
 * natter_http_api_set_shutting_down:
 * @self: the API
 * @shutting_down: whether new requests are refused
 *
 * While the server shuts down, new requests get 503.
 */
void
natter_http_api_set_shutting_down (NatterHttpApi *self, gboolean shutting_down)
{
  g_return_if_fail (NATTER_IS_HTTP_API (self));

  self->shutting_down = shutting_down;
}
