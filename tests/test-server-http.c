/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-http"

#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>

#include "natter-http-body.h"
#include "natter-server-db.h"
#include "natter-test-server.h"

typedef struct {
  NatterTestServer *server;
  char *token_a; /* tutor */
  char *token_b; /* student */
  NatterProfile *profile_a;
  NatterProfile *profile_b;
} Fixture;

static void
fixture_set_up_with (Fixture *fixture, const char *const *args)
{
  g_autoptr (NatterUser) a = NULL;
  g_autoptr (NatterUser) b = NULL;

  fixture->server = natter_test_server_new (args);
  a = natter_test_server_register (fixture->server, "alem@example.org", "Alem Tutor", "tutor",
                                   &fixture->token_a, &fixture->profile_a);
  b = natter_test_server_register (fixture->server, "bethel@example.org", "Bethel Student",
                                   "student", &fixture->token_b, &fixture->profile_b);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  fixture_set_up_with (fixture, data);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_clear_pointer (&fixture->server, natter_test_server_free);
  g_clear_pointer (&fixture->token_a, g_free);
  g_clear_pointer (&fixture->token_b, g_free);
  g_clear_pointer (&fixture->profile_a, natter_profile_free);
  g_clear_pointer (&fixture->profile_b, natter_profile_free);
}

/* Does the request and checks status and, for errors, the error code. */
static char *
expect (NatterTestServer *server,
        const char *method,
        const char *path,
        const char *token,
        const char *body,
        guint expected_status,
        const char *expected_code)
{
  guint status = 0;
  char *answer = natter_test_http (server, method, path, token, body, &status);

  g_assert_nonnull (answer);
  if (status != expected_status)
    g_error ("%s %s: expected %u, got %u: %s", method, path, expected_status, status, answer);
  if (expected_code != NULL) {
    g_autofree char *code = NULL;
    g_autofree char *message = NULL;

    if (!natter_http_error_parse (answer, strlen (answer), &code, &message))
      g_error ("%s %s: not an error body: %s", method, path, answer);
    g_assert_cmpstr (code, ==, expected_code);
    g_assert_nonnull (message);
  }

  return answer;
}

static void
expect_error (NatterTestServer *server,
              const char *method,
              const char *path,
              const char *token,
              const char *body,
              guint expected_status,
              const char *expected_code)
{
  g_free (expect (server, method, path, token, body, expected_status, expected_code));
}

static char *
as_path (const NatterProfile *profile, const char *rest)
{
  return g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/%s", profile->profile_id,
                          profile->profile_type, rest);
}

static char *
with_body (const NatterProfile *other)
{
  return g_strdup_printf ("{\"with\":[{\"profile_id\":%" G_GINT64_FORMAT
                          ",\"profile_type\":\"%s\"}]}",
                          other->profile_id, other->profile_type);
}

static void
test_healthz_and_metrics (Fixture *fixture, gconstpointer data)
{
  g_autofree char *ok = expect (fixture->server, "GET", "/healthz", NULL, NULL, 200, NULL);
  g_autofree char *metrics = NULL;
  guint status = 0;

  g_assert_cmpstr (ok, ==, "ok");
  expect_error (fixture->server, "GET", "/api/me", NULL, NULL, 401, "unauthorized");
  /* Never on the public address: only on --metrics-listen. */
  expect_error (fixture->server, "GET", "/metrics", NULL, NULL, 404, "not_found");
  metrics = natter_test_server_fetch_metrics (fixture->server, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (strstr (metrics, "# TYPE natter_http_requests_total counter\n"));
  g_assert_nonnull (
    strstr (metrics, "natter_http_requests_total{route=\"/healthz\",status=\"200\"} 1\n"));
  g_assert_nonnull (
    strstr (metrics, "natter_http_requests_total{route=\"/api/register\",status=\"201\"} 2\n"));
  g_assert_nonnull (strstr (metrics, "natter_http_errors_total{code=\"unauthorized\"} 1\n"));
  g_assert_nonnull (strstr (metrics, "natter_http_errors_total{code=\"not_found\"} 1\n"));
  g_assert_nonnull (strstr (metrics, "# TYPE natter_connections gauge\nnatter_connections 0\n"));
}

static void
test_unknown_route_and_method (Fixture *fixture, gconstpointer data)
{
  expect_error (fixture->server, "GET", "/api/nothing", fixture->token_a, NULL, 404, "not_found");
  expect_error (fixture->server, "GET", "/api/as/abc/tutor/conversations", fixture->token_a, NULL,
                404, "not_found");
  expect_error (fixture->server, "GET", "/api/as/1/9bad/conversations", fixture->token_a, NULL, 404,
                "not_found");
  expect_error (fixture->server, "DELETE", "/api/me", fixture->token_a, NULL, 405, "not_allowed");
  expect_error (fixture->server, "GET", "/api/login", NULL, NULL, 405, "not_allowed");
}

static void
test_register_login_me (Fixture *fixture, gconstpointer data)
{
  g_autofree char *me =
    expect (fixture->server, "GET", "/api/me", fixture->token_a, NULL, 200, NULL);
  g_autoptr (NatterUser) user = natter_user_parse (me, strlen (me), NULL);
  g_autofree char *token = NULL;
  g_autofree char *me_again = NULL;
  guint status;

  g_assert_nonnull (user);
  g_assert_cmpstr (user->email, ==, "alem@example.org");
  g_assert_cmpstr (user->display_name, ==, "Alem Tutor");
  g_assert_cmpuint (user->profiles->len, ==, 1);
  g_assert_true (natter_profile_equal (g_ptr_array_index (user->profiles, 0), fixture->profile_a));

  /* Emails are matched without case; every login is a new token. */
  token =
    natter_test_server_login (fixture->server, "ALEM@example.org", NATTER_TEST_PASSWORD, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (token);
  g_assert_cmpstr (token, !=, fixture->token_a);
  g_assert_cmpuint (strlen (token), ==, 43); /* 256 bits, base64url */
  me_again = expect (fixture->server, "GET", "/api/me", token, NULL, 200, NULL);
  g_assert_cmpstr (me_again, ==, me);
}

static void
test_register_errors (Fixture *fixture, gconstpointer data)
{
  expect_error (fixture->server, "POST", "/api/register", NULL,
                "{\"email\":\"Alem@Example.org\",\"password\":\"another-password\","
                "\"display_name\":\"Someone\",\"profile_types\":[\"student\"]}",
                409, "conflict");
  expect_error (fixture->server, "POST", "/api/register", NULL, "{\"email\":", 400, "bad_json");
  expect_error (fixture->server, "POST", "/api/register", NULL, "{\"email\":\"x@example.org\"}",
                400, "bad_frame");
  expect_error (fixture->server, "POST", "/api/register", NULL,
                "{\"email\":\"x@example.org\",\"password\":\"long-enough-pw\","
                "\"display_name\":\"X\",\"profile_types\":[\"wizard\"]}",
                400, "bad_frame");
  expect_error (fixture->server, "POST", "/api/login", NULL, "[1,2", 400, "bad_json");
}

static void
test_registration_disabled (void)
{
  const char *args[] = { "--no-registration", NULL };
  NatterTestServer *server = natter_test_server_new (args);

  expect_error (server, "POST", "/api/register", NULL,
                "{\"email\":\"x@example.org\",\"password\":\"long-enough-pw\","
                "\"display_name\":\"X\",\"profile_types\":[\"student\"]}",
                403, "forbidden");
  natter_test_server_free (server);
}

static gint64
time_login (NatterTestServer *server, const char *email, char **out_body)
{
  NatterLoginRequest request = { (char *) email, (char *) "wrong-password-123" };
  g_autofree char *json = natter_login_request_to_json (&request);
  gint64 start = g_get_monotonic_time ();
  guint status;

  *out_body = natter_test_http (server, "POST", "/api/login", NULL, json, &status);
  g_assert_cmpuint (status, ==, 401);

  return g_get_monotonic_time () - start;
}

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a;
  gint64 y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

static void
test_login_same_answer (Fixture *fixture, gconstpointer data)
{
  gint64 unknown[3];
  gint64 wrong[3];

  for (guint i = 0; i < 3; i++) {
    g_autofree char *unknown_body = NULL;
    g_autofree char *wrong_body = NULL;

    unknown[i] = time_login (fixture->server, "nobody@example.org", &unknown_body);
    wrong[i] = time_login (fixture->server, "alem@example.org", &wrong_body);
    g_assert_cmpstr (unknown_body, ==, wrong_body);
  }

  /* Both spend an argon2id verification: the medians are close. */
  qsort (unknown, 3, sizeof (gint64), compare_gint64);
  qsort (wrong, 3, sizeof (gint64), compare_gint64);
  g_test_message ("login 401: unknown email %" G_GINT64_FORMAT
                  " us, wrong password %" G_GINT64_FORMAT " us",
                  unknown[1], wrong[1]);
  g_assert_cmpint (unknown[1] * 2, >, wrong[1]);
  g_assert_cmpint (wrong[1] * 2, >, unknown[1]);
}

static void
test_login_rate_limited (void)
{
  const char *args[] = { "--login-burst", "3", "--login-rate", "1", NULL };
  NatterTestServer *server = natter_test_server_new (args);
  g_autoptr (NatterUser) user =
    natter_test_server_register (server, "c@example.org", "C", "student", NULL, NULL);
  g_autofree char *token = NULL;
  guint status;

  /* A successful login spends nothing. */
  for (guint i = 0; i < 5; i++) {
    g_autofree char *good =
      natter_test_server_login (server, "c@example.org", NATTER_TEST_PASSWORD, &status);
    g_assert_cmpuint (status, ==, 200);
  }
  for (guint i = 0; i < 3; i++)
    expect_error (server, "POST", "/api/login", NULL,
                  "{\"email\":\"c@example.org\",\"password\":\"not-the-password\"}", 401,
                  "unauthorized");
  expect_error (server, "POST", "/api/login", NULL,
                "{\"email\":\"c@example.org\",\"password\":\"not-the-password\"}", 429,
                "rate_limited");
  /* An empty bucket refuses the right password too: guessing gains nothing. */
  token = natter_test_server_login (server, "c@example.org", NATTER_TEST_PASSWORD, &status);
  g_assert_cmpuint (status, ==, 429);
  g_assert_null (token);

  natter_test_server_free (server);
}

static void
test_bad_and_revoked_tokens (Fixture *fixture, gconstpointer data)
{
  g_autofree char *second = NULL;
  g_autofree char *tampered = g_strdup (fixture->token_a);
  guint status;
  const char *bad_headers[] = { "Authorization", "Basic YWxlbTpwdw==", NULL };
  g_autoptr (GBytes) answer = NULL;

  expect_error (fixture->server, "GET", "/api/me", "not-a-token", NULL, 401, "unauthorized");
  tampered[0] = tampered[0] == 'A' ? 'B' : 'A';
  expect_error (fixture->server, "GET", "/api/me", tampered, NULL, 401, "unauthorized");
  answer = natter_test_http_full (fixture->server, "GET", "/api/me", NULL, NULL, NULL, bad_headers,
                                  &status, NULL);
  g_assert_cmpuint (status, ==, 401);

  second =
    natter_test_server_login (fixture->server, "alem@example.org", NATTER_TEST_PASSWORD, &status);
  g_assert_nonnull (second);

  expect_error (fixture->server, "POST", "/api/logout", NULL, NULL, 401, "unauthorized");
  g_free (expect (fixture->server, "POST", "/api/logout", fixture->token_a, NULL, 204, NULL));
  /* Revoked for every route, and logging out twice is refused. */
  expect_error (fixture->server, "GET", "/api/me", fixture->token_a, NULL, 401, "unauthorized");
  {
    g_autofree char *path = as_path (fixture->profile_a, "conversations");

    expect_error (fixture->server, "GET", path, fixture->token_a, NULL, 401, "unauthorized");
  }
  expect_error (fixture->server, "POST", "/api/logout", fixture->token_a, NULL, 401,
                "unauthorized");
  /* The user's other session is untouched. */
  g_free (expect (fixture->server, "GET", "/api/me", second, NULL, 200, NULL));
}

static gboolean
token_refused (gpointer user_data)
{
  Fixture *fixture = user_data;
  guint status;
  g_autofree char *answer =
    natter_test_http (fixture->server, "GET", "/api/me", fixture->token_a, NULL, &status);

  return status == 401;
}

static void
test_expired_token (Fixture *fixture, gconstpointer data)
{
  /* Tokens live 4 s here: long enough for the fixture's registrations on a
   * slow (sanitized) build, short enough to wait out. */
  g_free (expect (fixture->server, "GET", "/api/me", fixture->token_a, NULL, 200, NULL));
  natter_test_wait (token_refused, fixture, 10000);
  expect_error (fixture->server, "GET", "/api/me", fixture->token_a, NULL, 401, "unauthorized");
}

static void
test_acting_as_someone_else (Fixture *fixture, gconstpointer data)
{
  g_autofree char *theirs = as_path (fixture->profile_b, "conversations");
  g_autofree char *theirs_calls = as_path (fixture->profile_b, "calls");
  g_autofree char *theirs_messages = as_path (fixture->profile_b, "conversations/1/messages");
  g_autofree char *missing = g_strdup ("/api/as/9999/tutor/conversations");
  g_autofree char *wrong_type = g_strdup_printf (
    "/api/as/%" G_GINT64_FORMAT "/student/conversations", fixture->profile_a->profile_id);
  g_autofree char *upper = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/TuToR/conversations",
                                            fixture->profile_a->profile_id);
  g_autofree char *list = NULL;

  expect_error (fixture->server, "GET", theirs, fixture->token_a, NULL, 403, "forbidden");
  expect_error (fixture->server, "POST", theirs, fixture->token_a, "{\"with\":[]}", 403,
                "forbidden");
  expect_error (fixture->server, "GET", theirs_calls, fixture->token_a, NULL, 403, "forbidden");
  expect_error (fixture->server, "GET", theirs_messages, fixture->token_a, NULL, 403, "forbidden");
  expect_error (fixture->server, "GET", missing, fixture->token_a, NULL, 403, "forbidden");
  expect_error (fixture->server, "GET", wrong_type, fixture->token_a, NULL, 403, "forbidden");
  expect_error (fixture->server, "GET", theirs, NULL, NULL, 401, "unauthorized");

  list = expect (fixture->server, "GET", upper, fixture->token_a, NULL, 200, NULL);
  g_assert_cmpstr (list, ==, "{\"conversations\":[]}");
}

static void
test_conversations (Fixture *fixture, gconstpointer data)
{
  g_autofree char *path_a = as_path (fixture->profile_a, "conversations");
  g_autofree char *path_b = as_path (fixture->profile_b, "conversations");
  g_autofree char *body_a = with_body (fixture->profile_b);
  g_autofree char *body_b = with_body (fixture->profile_a);
  g_autofree char *self_body = with_body (fixture->profile_a);
  g_autofree char *created = NULL;
  g_autofree char *again = NULL;
  g_autofree char *from_b = NULL;
  g_autofree char *list = NULL;
  g_autoptr (NatterConversation) first = NULL;
  g_autoptr (NatterConversation) second = NULL;
  g_autoptr (NatterConversation) third = NULL;
  g_autoptr (GPtrArray) conversations = NULL;

  created = expect (fixture->server, "POST", path_a, fixture->token_a, body_a, 201, NULL);
  first = natter_conversation_parse (created, strlen (created), NULL);
  g_assert_nonnull (first);
  g_assert_cmpuint (first->participants->len, ==, 2);
  g_assert_null (first->last_message);
  g_assert_cmpint (first->unread_count, ==, 0);

  /* Never a duplicate, from either side. */
  again = expect (fixture->server, "POST", path_a, fixture->token_a, body_a, 200, NULL);
  second = natter_conversation_parse (again, strlen (again), NULL);
  g_assert_cmpint (second->conversation_id, ==, first->conversation_id);
  from_b = expect (fixture->server, "POST", path_b, fixture->token_b, body_b, 200, NULL);
  third = natter_conversation_parse (from_b, strlen (from_b), NULL);
  g_assert_cmpint (third->conversation_id, ==, first->conversation_id);

  expect_error (fixture->server, "POST", path_a, fixture->token_a, self_body, 400, "bad_frame");
  expect_error (fixture->server, "POST", path_a, fixture->token_a,
                "{\"with\":[{\"profile_id\":9999,\"profile_type\":\"student\"}]}", 404,
                "not_found");
  expect_error (fixture->server, "POST", path_a, fixture->token_a, "{\"with\":", 400, "bad_json");
  expect_error (fixture->server, "POST", path_a, fixture->token_a, "{\"with\":[]}", 400, NULL);

  list = expect (fixture->server, "GET", path_a, fixture->token_a, NULL, 200, NULL);
  conversations = natter_conversation_list_parse (list, strlen (list), NULL);
  g_assert_nonnull (conversations);
  g_assert_cmpuint (conversations->len, ==, 1);
}

/* Writes straight into the stopped server's database with the server's own
 * storage code, then starts it again. */
static void
add_history (Fixture *fixture, guint n_messages, gint64 *out_conversation_id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterServerDb) db = NULL;
  g_autoptr (NatterConversation) conversation = NULL;

  g_assert_cmpint (natter_test_server_stop (fixture->server), ==, 0);
  db = natter_server_db_open (natter_test_server_get_db_path (fixture->server), &error);
  g_assert_no_error (error);
  conversation =
    natter_server_db_get_or_create_direct (db, fixture->profile_a, fixture->profile_b, &error);
  g_assert_no_error (error);
  for (guint i = 1; i <= n_messages; i++) {
    g_autofree char *text = g_strdup_printf ("message %u", i);
    g_autoptr (NatterMessage) message = natter_server_db_add_message (
      db, conversation->conversation_id, i % 2 ? fixture->profile_a : fixture->profile_b, text,
      NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpint (message->seq, ==, i);
  }
  {
    g_autoptr (NatterCallLog) call = natter_server_db_create_call (
      db, fixture->profile_a, fixture->profile_b, "video", conversation->conversation_id, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (call->status, ==, "ringing");
  }
  natter_server_db_close (db);
  natter_test_server_restart (fixture->server);
  *out_conversation_id = conversation->conversation_id;
}

static void
test_messages_paging (Fixture *fixture, gconstpointer data)
{
  gint64 conversation_id;
  g_autofree char *path = NULL;
  g_autofree char *request = NULL;
  g_autofree char *page = NULL;
  g_autoptr (GPtrArray) messages = NULL;
  gboolean has_more = FALSE;
  g_autoptr (NatterProfile) outsider = NULL;
  g_autofree char *outsider_token = NULL;
  g_autoptr (NatterUser) outsider_user = NULL;

  add_history (fixture, 250, &conversation_id);
  path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/tutor/conversations/%" G_GINT64_FORMAT
                          "/messages",
                          fixture->profile_a->profile_id, conversation_id);

  page = expect (fixture->server, "GET", path, fixture->token_a, NULL, 200, NULL);
  messages = natter_message_page_parse (page, strlen (page), &has_more, NULL);
  g_assert_nonnull (messages);
  g_assert_cmpuint (messages->len, ==, 50);
  g_assert_true (has_more);
  g_assert_cmpint (((NatterMessage *) g_ptr_array_index (messages, 0))->seq, ==, 201);
  g_assert_cmpint (((NatterMessage *) g_ptr_array_index (messages, 49))->seq, ==, 250);
  g_assert_cmpstr (((NatterMessage *) g_ptr_array_index (messages, 49))->text, ==, "message 250");
  g_clear_pointer (&messages, g_ptr_array_unref);
  g_clear_pointer (&page, g_free);

  request = g_strdup_printf ("%s?before_seq=201&limit=200", path);
  page = expect (fixture->server, "GET", request, fixture->token_a, NULL, 200, NULL);
  messages = natter_message_page_parse (page, strlen (page), &has_more, NULL);
  g_assert_cmpuint (messages->len, ==, 200);
  g_assert_false (has_more);
  g_assert_cmpint (((NatterMessage *) g_ptr_array_index (messages, 0))->seq, ==, 1);
  g_assert_cmpint (((NatterMessage *) g_ptr_array_index (messages, 199))->seq, ==, 200);
  g_clear_pointer (&messages, g_ptr_array_unref);
  g_clear_pointer (&page, g_free);
  g_clear_pointer (&request, g_free);

  request = g_strdup_printf ("%s?before_seq=3&limit=5", path);
  page = expect (fixture->server, "GET", request, fixture->token_a, NULL, 200, NULL);
  messages = natter_message_page_parse (page, strlen (page), &has_more, NULL);
  g_assert_cmpuint (messages->len, ==, 2);
  g_assert_false (has_more);
  g_clear_pointer (&request, g_free);

  for (guint i = 0; i < 4; i++) {
    const char *bad[] = { "?limit=201", "?limit=0", "?limit=ten", "?before_seq=-1" };

    request = g_strconcat (path, bad[i], NULL);
    expect_error (fixture->server, "GET", request, fixture->token_a, NULL, 400, "bad_frame");
    g_clear_pointer (&request, g_free);
  }

  /* Someone outside the conversation, acting as their own profile. */
  outsider_user = natter_test_server_register (fixture->server, "o@example.org", "Outsider",
                                               "parent", &outsider_token, &outsider);
  request = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/parent/conversations/%" G_GINT64_FORMAT
                             "/messages",
                             outsider->profile_id, conversation_id);
  expect_error (fixture->server, "GET", request, outsider_token, NULL, 403, "forbidden");
  g_clear_pointer (&request, g_free);
  request = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/parent/conversations/777/messages",
                             outsider->profile_id);
  expect_error (fixture->server, "GET", request, outsider_token, NULL, 404, "not_found");
}

static void
test_conversation_unread_and_calls (Fixture *fixture, gconstpointer data)
{
  gint64 conversation_id;
  g_autofree char *path_b = as_path (fixture->profile_b, "conversations");
  g_autofree char *calls_path = as_path (fixture->profile_a, "calls?limit=5");
  g_autofree char *list = NULL;
  g_autofree char *calls_answer = NULL;
  g_autoptr (GPtrArray) conversations = NULL;
  g_autoptr (GPtrArray) calls = NULL;
  NatterConversation *conversation;
  NatterCallLog *call;

  add_history (fixture, 5, &conversation_id);

  /* Messages 1, 3, 5 come from A: B has three unread. */
  list = expect (fixture->server, "GET", path_b, fixture->token_b, NULL, 200, NULL);
  conversations = natter_conversation_list_parse (list, strlen (list), NULL);
  g_assert_cmpuint (conversations->len, ==, 1);
  conversation = g_ptr_array_index (conversations, 0);
  g_assert_cmpint (conversation->conversation_id, ==, conversation_id);
  g_assert_cmpint (conversation->unread_count, ==, 3);
  g_assert_nonnull (conversation->last_message);
  g_assert_cmpint (conversation->last_message->seq, ==, 5);

  /* The call left ringing by the stopped server failed at the restart. */
  calls_answer = expect (fixture->server, "GET", calls_path, fixture->token_a, NULL, 200, NULL);
  calls = natter_call_log_list_parse (calls_answer, strlen (calls_answer), NULL);
  g_assert_nonnull (calls);
  g_assert_cmpuint (calls->len, ==, 1);
  call = g_ptr_array_index (calls, 0);
  g_assert_cmpstr (call->status, ==, "failed");
  g_assert_cmpstr (call->call_type, ==, "video");
  g_assert_true (natter_profile_equal (call->caller, fixture->profile_a));
  g_assert_true (natter_profile_equal (call->callee, fixture->profile_b));
  g_assert_nonnull (call->ended_at);
  g_assert_cmpint (call->duration_s, ==, 0);

  g_clear_pointer (&calls_path, g_free);
  calls_path = as_path (fixture->profile_a, "calls?limit=201");
  expect_error (fixture->server, "GET", calls_path, fixture->token_a, NULL, 400, "bad_frame");
}

static void
test_profiles_search (Fixture *fixture, gconstpointer data)
{
  g_autofree char *answer = NULL;
  g_autoptr (GPtrArray) profiles = NULL;

  answer =
    expect (fixture->server, "GET", "/api/profiles?q=bethel", fixture->token_a, NULL, 200, NULL);
  profiles = natter_profile_list_parse (answer, strlen (answer), NULL);
  g_assert_nonnull (profiles);
  g_assert_cmpuint (profiles->len, ==, 1);
  g_assert_true (natter_profile_equal (g_ptr_array_index (profiles, 0), fixture->profile_b));
  g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (profiles, 0))->display_name, ==,
                   "Bethel Student");
  g_clear_pointer (&answer, g_free);
  g_clear_pointer (&profiles, g_ptr_array_unref);

  /* LIKE wildcards are literal. */
  answer =
    expect (fixture->server, "GET", "/api/profiles?q=%25", fixture->token_a, NULL, 200, NULL);
  g_assert_cmpstr (answer, ==, "{\"profiles\":[]}");
  g_clear_pointer (&answer, g_free);

  answer =
    expect (fixture->server, "GET", "/api/profiles?limit=1", fixture->token_a, NULL, 200, NULL);
  profiles = natter_profile_list_parse (answer, strlen (answer), NULL);
  g_assert_cmpuint (profiles->len, ==, 1);

  expect_error (fixture->server, "GET", "/api/profiles?limit=101", fixture->token_a, NULL, 400,
                "bad_frame");
  expect_error (fixture->server, "GET", "/api/profiles", NULL, NULL, 401, "unauthorized");
}

static GBytes *
fake_image (const guint8 *magic, gsize magic_size, gsize size)
{
  guint8 *data = g_malloc0 (size);

  memcpy (data, magic, magic_size);
  for (gsize i = magic_size; i < size; i++)
    data[i] = (guint8) (i * 7);

  return g_bytes_new_take (data, size);
}

static void
test_avatars (Fixture *fixture, gconstpointer data)
{
  static const guint8 png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  static const guint8 jpeg[] = { 0xff, 0xd8, 0xff, 0xe0 };
  g_autoptr (GBytes) png_image = fake_image (png, sizeof png, 4096);
  g_autoptr (GBytes) jpeg_image = fake_image (jpeg, sizeof jpeg, 2048);
  g_autoptr (GBytes) text = g_bytes_new_static ("hello, not an image", 19);
  g_autoptr (GBytes) huge = fake_image (png, sizeof png, 1024 * 1024 + 1);
  g_autofree char *path_a = g_strdup_printf ("/api/profiles/tutor/%" G_GINT64_FORMAT "/avatar",
                                             fixture->profile_a->profile_id);
  g_autofree char *path_b = g_strdup_printf ("/api/profiles/Student/%" G_GINT64_FORMAT "/avatar",
                                             fixture->profile_b->profile_id);
  g_autofree char *me = NULL;
  g_autoptr (NatterUser) user = NULL;
  guint status;

  expect_error (fixture->server, "GET", path_a, NULL, NULL, 404, "not_found");

  {
    g_autoptr (GBytes) answer =
      natter_test_http_full (fixture->server, "PUT", path_a, fixture->token_a, "image/png",
                             png_image, NULL, &status, NULL);
    g_assert_cmpuint (status, ==, 204);
  }
  {
    g_autofree char *content_type = NULL;
    g_autoptr (GBytes) answer = natter_test_http_full (fixture->server, "GET", path_a, NULL, NULL,
                                                       NULL, NULL, &status, &content_type);
    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpstr (content_type, ==, "image/png");
    g_assert_true (g_bytes_equal (answer, png_image));
  }
  me = expect (fixture->server, "GET", "/api/me", fixture->token_a, NULL, 200, NULL);
  user = natter_user_parse (me, strlen (me), NULL);
  g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (user->profiles, 0))->avatar_url, ==,
                   path_a);

  /* Someone else's profile, a non-image, a too large image, no token. */
  {
    g_autoptr (GBytes) answer =
      natter_test_http_full (fixture->server, "PUT", path_b, fixture->token_a, "image/png",
                             png_image, NULL, &status, NULL);
    g_assert_cmpuint (status, ==, 403);
  }
  {
    g_autoptr (GBytes) answer = natter_test_http_full (
      fixture->server, "PUT", path_a, fixture->token_a, "image/png", text, NULL, &status, NULL);
    g_assert_cmpuint (status, ==, 400);
  }
  {
    g_autoptr (GBytes) answer = natter_test_http_full (
      fixture->server, "PUT", path_a, fixture->token_a, "image/png", huge, NULL, &status, NULL);
    g_autofree char *code = NULL;

    g_assert_cmpuint (status, ==, 413);
    g_assert_true (natter_http_error_parse (g_bytes_get_data (answer, NULL),
                                            g_bytes_get_size (answer), &code, NULL));
    g_assert_cmpstr (code, ==, "too_large");
  }
  {
    g_autoptr (GBytes) answer = natter_test_http_full (fixture->server, "PUT", path_a, NULL,
                                                       "image/png", png_image, NULL, &status, NULL);
    g_assert_cmpuint (status, ==, 401);
  }
  {
    g_autoptr (GBytes) answer =
      natter_test_http_full (fixture->server, "PUT", "/api/profiles/tutor/9999/avatar",
                             fixture->token_a, "image/png", png_image, NULL, &status, NULL);
    g_assert_cmpuint (status, ==, 404);
  }

  /* B's own JPEG, found under a differently cased type. */
  {
    g_autoptr (GBytes) answer =
      natter_test_http_full (fixture->server, "PUT", path_b, fixture->token_b, "image/jpeg",
                             jpeg_image, NULL, &status, NULL);
    g_assert_cmpuint (status, ==, 204);
  }
  {
    g_autofree char *content_type = NULL;
    g_autoptr (GBytes) answer = natter_test_http_full (fixture->server, "GET", path_b, NULL, NULL,
                                                       NULL, NULL, &status, &content_type);
    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpstr (content_type, ==, "image/jpeg");
    g_assert_true (g_bytes_equal (answer, jpeg_image));
  }
  /* A's avatar is unchanged by the refused uploads. */
  {
    g_autoptr (GBytes) answer =
      natter_test_http_full (fixture->server, "GET", path_a, NULL, NULL, NULL, NULL, &status, NULL);
    g_assert_true (g_bytes_equal (answer, png_image));
  }
}

static void
test_oversized_body (Fixture *fixture, gconstpointer data)
{
  GString *body = g_string_new ("{\"email\":\"");
  g_autofree char *json = NULL;

  while (body->len < 70 * 1024)
    g_string_append (body, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  g_string_append (body, "\"}");
  json = g_string_free (body, FALSE);

  expect_error (fixture->server, "POST", "/api/register", NULL, json, 413, "too_large");
  expect_error (fixture->server, "POST", "/api/login", NULL, json, 413, "too_large");
  /* The server is still fine afterwards. */
  g_free (expect (fixture->server, "GET", "/api/me", fixture->token_a, NULL, 200, NULL));
}

static void
test_ice_servers (void)
{
  const char *args[] = { "--stun-uri",
                         "stun:stun.example.org:3478",
                         "--turn-uri",
                         "turn:turn.example.org:3478?transport=udp",
                         "--turn-secret",
                         "s3cret",
                         "--turn-ttl",
                         "600",
                         NULL };
  NatterTestServer *server = natter_test_server_new (args);
  g_autofree char *token = NULL;
  g_autoptr (NatterUser) user =
    natter_test_server_register (server, "ice@example.org", "Ice", "tutor", &token, NULL);
  g_autofree char *answer = expect (server, "GET", "/api/ice-servers", token, NULL, 200, NULL);
  g_autoptr (GPtrArray) servers = NULL;
  g_autoptr (GHmac) hmac = NULL;
  g_auto (GStrv) parts = NULL;
  NatterIceServer *stun;
  NatterIceServer *turn;
  gint64 ttl = 0;
  gint64 expiry;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  guint8 digest[20];
  gsize digest_size = sizeof digest;
  g_autofree char *expected = NULL;

  servers = natter_ice_servers_parse (answer, strlen (answer), &ttl, NULL);
  g_assert_nonnull (servers);
  g_assert_cmpint (ttl, ==, 600);
  g_assert_cmpuint (servers->len, ==, 2);
  stun = g_ptr_array_index (servers, 0);
  turn = g_ptr_array_index (servers, 1);
  g_assert_cmpstr (stun->urls[0], ==, "stun:stun.example.org:3478");
  g_assert_null (stun->username);
  g_assert_cmpstr (turn->urls[0], ==, "turn:turn.example.org:3478?transport=udp");

  /* TURN REST API: expiry_unix:user_id and base64 HMAC-SHA1 (secret, username). */
  parts = g_strsplit (turn->username, ":", -1);
  g_assert_cmpuint (g_strv_length (parts), ==, 2);
  expiry = g_ascii_strtoll (parts[0], NULL, 10);
  g_assert_cmpint (expiry, >=, now + 600 - 5);
  g_assert_cmpint (expiry, <=, now + 600 + 5);
  g_assert_cmpint (g_ascii_strtoll (parts[1], NULL, 10), ==, user->user_id);
  hmac = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) "s3cret", 6);
  g_hmac_update (hmac, (const guchar *) turn->username, -1);
  g_hmac_get_digest (hmac, digest, &digest_size);
  expected = g_base64_encode (digest, digest_size);
  g_assert_cmpstr (turn->credential, ==, expected);

  expect_error (server, "GET", "/api/ice-servers", NULL, NULL, 401, "unauthorized");
  natter_test_server_free (server);
}

static void
test_cors (void)
{
  const char *args[] = { "--allowed-origin", "https://app.example.org", NULL };
  NatterTestServer *server = natter_test_server_new (args);
  const char *allowed[] = { "Origin", "https://app.example.org", "Access-Control-Request-Method",
                            "POST", NULL };
  const char *foreign[] = { "Origin", "https://evil.example.net", "Access-Control-Request-Method",
                            "POST", NULL };
  g_autoptr (SoupSession) session = soup_session_new ();
  guint status;

  {
    g_autoptr (GBytes) answer = natter_test_http_full (server, "OPTIONS", "/api/login", NULL, NULL,
                                                       NULL, allowed, &status, NULL);
    g_assert_cmpuint (status, ==, 204);
  }
  {
    g_autoptr (GBytes) answer = natter_test_http_full (server, "OPTIONS", "/api/login", NULL, NULL,
                                                       NULL, foreign, &status, NULL);
    g_assert_cmpuint (status, ==, 403);
  }

  /* The headers themselves, read with a message of our own. */
  {
    g_autofree char *uri = g_strconcat (natter_test_server_get_url (server), "/api/login", NULL);
    g_autoptr (SoupMessage) msg = soup_message_new ("OPTIONS", uri);
    g_autoptr (GBytes) answer = NULL;
    SoupMessageHeaders *headers;

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Origin",
                                  "https://app.example.org");
    soup_message_headers_replace (soup_message_get_request_headers (msg),
                                  "Access-Control-Request-Headers", "authorization, content-type");
    answer = soup_session_send_and_read (session, msg, NULL, NULL);
    headers = soup_message_get_response_headers (msg);
    g_assert_cmpstr (soup_message_headers_get_one (headers, "Access-Control-Allow-Origin"), ==,
                     "https://app.example.org");
    g_assert_nonnull (
      strstr (soup_message_headers_get_one (headers, "Access-Control-Allow-Methods"), "POST"));
    g_assert_nonnull (strstr (
      soup_message_headers_get_one (headers, "Access-Control-Allow-Headers"), "Authorization"));
  }
  {
    g_autofree char *uri = g_strconcat (natter_test_server_get_url (server), "/healthz", NULL);
    g_autoptr (SoupMessage) msg = soup_message_new ("GET", uri);
    g_autoptr (GBytes) answer = NULL;

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Origin",
                                  "https://evil.example.net");
    answer = soup_session_send_and_read (session, msg, NULL, NULL);
    g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
    g_assert_null (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                 "Access-Control-Allow-Origin"));
  }

  natter_test_server_free (server);
}

static void
test_data_survives_restart (Fixture *fixture, gconstpointer data)
{
  g_autofree char *path_a = as_path (fixture->profile_a, "conversations");
  g_autofree char *body = with_body (fixture->profile_b);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  guint port = natter_test_server_get_port (fixture->server);
  GPid pid = natter_test_server_get_pid (fixture->server);

  g_free (expect (fixture->server, "POST", path_a, fixture->token_a, body, 201, NULL));
  before = expect (fixture->server, "GET", path_a, fixture->token_a, NULL, 200, NULL);

  /* SIGTERM: a graceful exit, status 0. */
  g_assert_cmpint (natter_test_server_stop (fixture->server), ==, 0);
  g_assert_false (natter_test_server_is_running (fixture->server));
  natter_test_server_restart (fixture->server);
  g_assert_cmpuint (natter_test_server_get_port (fixture->server), ==, port);
  g_assert_cmpint (natter_test_server_get_pid (fixture->server), !=, pid);

  after = expect (fixture->server, "GET", path_a, fixture->token_a, NULL, 200, NULL);
  g_assert_cmpstr (after, ==, before);
  g_free (expect (fixture->server, "GET", "/api/me", fixture->token_b, NULL, 200, NULL));

  /* And after a SIGKILL too: every answered write was committed. */
  natter_test_server_kill (fixture->server);
  natter_test_server_restart (fixture->server);
  g_clear_pointer (&after, g_free);
  after = expect (fixture->server, "GET", path_a, fixture->token_a, NULL, 200, NULL);
  g_assert_cmpstr (after, ==, before);
}

static char *
make_certificate (const char *folder)
{
  g_autofree char *cert = g_build_filename (folder, "cert.pem", NULL);
  g_autofree char *key = g_build_filename (folder, "key.pem", NULL);
  const char *argv[] = { "openssl", "req",     "-x509", "-newkey",       "rsa:2048",
                         "-nodes",  "-keyout", key,     "-out",          cert,
                         "-days",   "1",       "-subj", "/CN=127.0.0.1", NULL };
  g_autoptr (GError) error = NULL;
  int wait_status = 0;

  g_spawn_sync (NULL, (char **) argv, NULL,
                G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                NULL, NULL, NULL, &wait_status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (wait_status, NULL));

  return g_steal_pointer (&cert);
}

static void
test_tls (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *folder = g_dir_make_tmp ("natter-test-tls-XXXXXX", &error);
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  NatterTestServer *server;

  g_assert_no_error (error);
  cert = make_certificate (folder);
  key = g_build_filename (folder, "key.pem", NULL);
  {
    const char *args[] = { "--tls-cert", cert, "--tls-key", key, NULL };

    server = natter_test_server_new (args);
  }
  g_assert_true (g_str_has_prefix (natter_test_server_get_url (server), "https://127.0.0.1:"));
  g_assert_true (g_str_has_prefix (natter_test_server_get_ws_url (server), "wss://127.0.0.1:"));
  /* The TLS client is openssl in a child process, not GIO's GnuTLS module
   * in this one: GCC 12's LeakSanitizer crashes ("Tracer caught signal 11")
   * scanning the dynamic TLS that module leaves, and the sanitizer run would
   * fail on a leak check that never ran. */
  {
    const char *url = natter_test_server_get_url (server);
    g_autofree char *address = g_strdup (url + strlen ("https://"));
    g_autoptr (GSubprocess) client =
      g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                          G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                        &error, "openssl", "s_client", "-connect", address, "-quiet", NULL);
    g_autofree char *out = NULL;

    g_assert_no_error (error);
    g_assert_true (g_subprocess_communicate_utf8 (
      client, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", NULL, &out,
      NULL, &error));
    g_assert_no_error (error);
    g_assert_true (g_str_has_prefix (out, "HTTP/1.1 200"));
    g_assert_true (g_str_has_suffix (out, "\r\n\r\nok"));
  }
  natter_test_server_free (server);

  g_remove (cert);
  g_remove (key);
  g_rmdir (folder);
}

int
main (int argc, char **argv)
{
  static const char *const short_tokens[] = { "--token-lifetime", "4", NULL };

  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, data) \
  g_test_add ("/natter/server-http/" path, Fixture, data, fixture_set_up, func, fixture_tear_down)

  ADD ("healthz-and-metrics", test_healthz_and_metrics, NULL);
  ADD ("unknown-route-and-method", test_unknown_route_and_method, NULL);
  ADD ("register-login-me", test_register_login_me, NULL);
  ADD ("register-errors", test_register_errors, NULL);
  ADD ("login-same-answer-for-unknown-email-and-wrong-password", test_login_same_answer, NULL);
  ADD ("bad-and-revoked-tokens", test_bad_and_revoked_tokens, NULL);
  ADD ("expired-token", test_expired_token, short_tokens);
  ADD ("acting-as-someone-else-is-forbidden", test_acting_as_someone_else, NULL);
  ADD ("conversations-never-duplicated", test_conversations, NULL);
  ADD ("messages-paging", test_messages_paging, NULL);
  ADD ("unread-count-and-stale-calls", test_conversation_unread_and_calls, NULL);
  ADD ("profiles-search", test_profiles_search, NULL);
  ADD ("avatars", test_avatars, NULL);
  ADD ("oversized-body", test_oversized_body, NULL);
  ADD ("data-and-tokens-survive-restart", test_data_survives_restart, NULL);
  g_test_add_func ("/natter/server-http/registration-disabled", test_registration_disabled);
  g_test_add_func ("/natter/server-http/login-rate-limited", test_login_rate_limited);
  g_test_add_func ("/natter/server-http/ice-servers", test_ice_servers);
  g_test_add_func ("/natter/server-http/cors", test_cors);
  g_test_add_func ("/natter/server-http/tls", test_tls);

  return g_test_run ();
}
