/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-http-postgresql"

/* The HTTP API with its storage on PostgreSQL: the real NatterHttpApi on a
 * SoupServer of the test's own, over the PostgreSQL store. natter-server
 * cannot select PostgreSQL yet (its hub still reads SQLite directly), so
 * this is the seam: everything the API reads and writes goes through the
 * store, and the rows land in PostgreSQL. */

#include "config.h"

#include <libsoup/soup.h>
#include <string.h>

#include "natter-http-api.h"
#include "natter-http-body.h"
#include "natter-password.h"
#include "natter-request-guard.h"
#include "natter-test-server.h"

#ifdef NATTER_HAVE_LIBPQ
#include <libpq-fe.h>

#include "natter-server-pg-store.h"
#include "natter-test-services.h"

#define WAIT_MS 20000

typedef struct {
  NatterTestPostgres *postgres;
  char *conninfo;
  NatterServerStore *store;
  NatterServerConfig *config;
  NatterMetrics *metrics;
  NatterHttpApi *api;
  NatterRequestGuard *guard;
  NatterHttpAttachments *attachments;
  char *folder; /* the attachments' files */
  SoupServer *server;
  SoupSession *session;
  char *url;
} Fixture;

static gint64
pg_count (Fixture *fixture, const char *sql)
{
  PGconn *conn = PQconnectdb (fixture->conninfo);
  PGresult *result;
  gint64 count;

  g_assert_cmpint (PQstatus (conn), ==, CONNECTION_OK);
  result = PQexec (conn, sql);
  g_assert_cmpint (PQresultStatus (result), ==, PGRES_TUPLES_OK);
  count = g_ascii_strtoll (PQgetvalue (result, 0, 0), NULL, 10);
  PQclear (result);
  PQfinish (conn);

  return count;
}

static void
on_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

/* One request, the server answering on this main context meanwhile. */
static GBytes *
http (Fixture *fixture,
      const char *method,
      const char *path,
      const char *token,
      const char *content_type,
      GBytes *body,
      guint *out_status,
      char **out_content_type)
{
  g_autofree char *uri = g_strconcat (fixture->url, path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new (method, uri);
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  gint64 deadline = g_get_monotonic_time () + natter_test_scale_ms (WAIT_MS) * 1000;
  GBytes *answer;

  if (token != NULL) {
    g_autofree char *authorization = g_strconcat ("Bearer ", token, NULL);

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                  authorization);
  }
  if (body != NULL)
    soup_message_set_request_body_from_bytes (msg, content_type, body);
  soup_session_send_and_read_async (fixture->session, msg, G_PRIORITY_DEFAULT, NULL, on_sent,
                                    &result);
  while (result == NULL) {
    g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    g_main_context_iteration (NULL, TRUE);
  }
  answer = soup_session_send_and_read_finish (fixture->session, result, &error);
  g_assert_no_error (error);
  *out_status = soup_message_get_status (msg);
  if (out_content_type != NULL)
    *out_content_type = g_strdup (
      soup_message_headers_get_content_type (soup_message_get_response_headers (msg), NULL));

  return answer;
}

/* A JSON request; the answer's text, its status checked. */
static char *
expect (Fixture *fixture,
        const char *method,
        const char *path,
        const char *token,
        const char *json,
        guint status)
{
  g_autoptr (GBytes) body = json != NULL ? g_bytes_new (json, strlen (json)) : NULL;
  g_autoptr (GBytes) answer = NULL;
  guint got = 0;

  answer = http (fixture, method, path, token, "application/json", body, &got, NULL);
  if (got != status)
    g_error ("%s %s: %u, expected %u: %.*s", method, path, got, status,
             (int) g_bytes_get_size (answer), (const char *) g_bytes_get_data (answer, NULL));

  return g_strndup (g_bytes_get_data (answer, NULL), g_bytes_get_size (answer));
}

static NatterSession *
sign_up (Fixture *fixture, const char *email, const char *name, const char *type)
{
  g_autofree char *json = g_strdup_printf ("{\"email\":\"%s\",\"password\":\"" NATTER_TEST_PASSWORD
                                           "\",\"display_name\":\"%s\","
                                           "\"profile_types\":[\"%s\"]}",
                                           email, name, type);
  g_autofree char *answer = expect (fixture, "POST", "/api/register", NULL, json, 201);
  g_autoptr (GError) error = NULL;
  NatterSession *session = natter_session_parse (answer, strlen (answer), &error);

  g_assert_no_error (error);
  return session;
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  PGconn *admin;

  fixture->postgres = natter_test_postgres_new ();
  if (fixture->postgres == NULL) {
    g_test_skip ("PostgreSQL 15 is not installed (Debian: postgresql-15)");
    return;
  }
  admin = PQconnectdb (natter_test_postgres_get_conninfo (fixture->postgres));
  g_assert_cmpint (PQstatus (admin), ==, CONNECTION_OK);
  PQclear (PQexec (admin, "CREATE DATABASE natter_http"));
  PQfinish (admin);
  fixture->conninfo = g_strdup_printf ("host=127.0.0.1 port=%u user=postgres dbname=natter_http",
                                       natter_test_postgres_get_port (fixture->postgres));

  fixture->store = NATTER_SERVER_STORE (natter_server_pg_store_new (fixture->conninfo));
  fixture->config = natter_server_config_new ();
  fixture->folder = g_dir_make_tmp ("natter-test-http-pg-XXXXXX", NULL);
  g_assert_nonnull (fixture->folder);
  g_free (fixture->config->db_path);
  fixture->config->db_path = g_build_filename (fixture->folder, "natter.db", NULL);
  fixture->config->attachment_quota_bytes = 1000;
  fixture->metrics = natter_metrics_new ();
  fixture->api = natter_http_api_new (fixture->store, fixture->config, fixture->metrics, NULL);
  fixture->server = soup_server_new (NULL, NULL);
  /* As natter-server.c puts them together. */
  natter_http_api_install (fixture->api, fixture->server);
  fixture->guard = natter_request_guard_new (fixture->config, fixture->metrics,
                                             natter_http_api_check_request, fixture->api);
  natter_request_guard_install (fixture->guard, fixture->server);
  fixture->attachments = natter_http_attachments_new (fixture->store, fixture->config,
                                                      fixture->metrics, fixture->guard, NULL);
  g_assert_nonnull (fixture->attachments);
  natter_http_attachments_install (fixture->attachments, fixture->server);
  natter_http_api_set_attachments (fixture->api, fixture->attachments);
  fixture->url = natter_test_soup_server_listen (fixture->server);
  fixture->session = soup_session_new ();
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  if (fixture->postgres == NULL)
    return;
  g_clear_object (&fixture->session);
  soup_server_disconnect (fixture->server);
  g_clear_object (&fixture->server);
  natter_server_pg_store_close (NATTER_SERVER_PG_STORE (fixture->store));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_finalize_object (g_steal_pointer (&fixture->api));
  g_assert_finalize_object (g_steal_pointer (&fixture->attachments));
  g_clear_object (&fixture->guard);
  g_assert_finalize_object (g_steal_pointer (&fixture->store));
  g_clear_object (&fixture->metrics);
  g_clear_pointer (&fixture->config, natter_server_config_free);
  g_free (fixture->url);
  g_free (fixture->conninfo);
  natter_test_remove_tree (fixture->folder);
  g_free (fixture->folder);
  g_clear_pointer (&fixture->postgres, natter_test_postgres_free);
}

static void
on_stored (NatterServerStore *store, const GError *error, gpointer user_data)
{
  gboolean *stored = user_data;

  g_assert_no_error (error);
  *stored = TRUE;
}

/* Sign up, log in, the directory, an avatar, a conversation and its
 * history, calls, blocks, log out: each route answers as on SQLite, and
 * the rows are PostgreSQL's. */
static void
test_routes (Fixture *fixture, gconstpointer data)
{
  static const guint8 png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 7 };
  g_autoptr (NatterSession) alice = NULL;
  g_autoptr (NatterSession) bob = NULL;
  g_autoptr (GError) error = NULL;
  NatterProfile *a;
  NatterProfile *b;
  g_autofree char *as_a = NULL;
  g_autofree char *with_b = NULL;
  g_autofree char *block_b = NULL;
  g_autofree char *token = NULL;
  gint64 conversation_id;

  if (fixture->postgres == NULL)
    return;

  alice = sign_up (fixture, "alice@test.invalid", "Alice", "tutor");
  bob = sign_up (fixture, "bob@test.invalid", "Bob", "student");
  a = g_ptr_array_index (alice->user->profiles, 0);
  b = g_ptr_array_index (bob->user->profiles, 0);
  g_assert_cmpint (pg_count (fixture, "SELECT count (*) FROM users"), ==, 2);
  g_free (expect (fixture, "POST", "/api/register", NULL,
                  "{\"email\":\"alice@test.invalid\",\"password\":\"another-password\","
                  "\"display_name\":\"A\",\"profile_types\":[\"tutor\"]}",
                  409));

  /* Log in: a new token; a wrong password is refused. */
  {
    g_autofree char *answer =
      expect (fixture, "POST", "/api/login", NULL,
              "{\"email\":\"alice@test.invalid\",\"password\":\"" NATTER_TEST_PASSWORD "\"}", 200);
    g_autoptr (NatterSession) session = natter_session_parse (answer, strlen (answer), &error);

    g_assert_no_error (error);
    g_assert_cmpstr (session->token, !=, alice->token);
    token = g_strdup (session->token);
    g_free (expect (fixture, "POST", "/api/login", NULL,
                    "{\"email\":\"alice@test.invalid\",\"password\":\"wrong-password\"}", 401));
  }
  {
    g_autofree char *me = expect (fixture, "GET", "/api/me", token, NULL, 200);
    g_autoptr (NatterUser) user = natter_user_parse (me, strlen (me), &error);

    g_assert_no_error (error);
    g_assert_cmpstr (user->email, ==, "alice@test.invalid");
    g_free (expect (fixture, "GET", "/api/me", "not-a-token", NULL, 401));
  }

  /* The directory. */
  {
    g_autofree char *found = expect (fixture, "GET", "/api/profiles?q=BO", token, NULL, 200);

    g_assert_nonnull (strstr (found, "\"Bob\""));
    g_assert_null (strstr (found, "\"Alice\""));
    g_free (expect (fixture, "GET", "/api/profiles?limit=0", token, NULL, 400));
  }

  /* An avatar, read back byte for byte. */
  {
    g_autofree char *path =
      g_strdup_printf ("/api/profiles/tutor/%" G_GINT64_FORMAT "/avatar", a->profile_id);
    g_autoptr (GBytes) image = g_bytes_new_static (png, sizeof png);
    g_autoptr (GBytes) put = NULL;
    g_autoptr (GBytes) got = NULL;
    g_autofree char *content_type = NULL;
    guint status = 0;

    put = http (fixture, "PUT", path, token, "image/png", image, &status, NULL);
    g_assert_cmpuint (status, ==, 204);
    put = (g_bytes_unref (put),
           http (fixture, "PUT", path, bob->token, "image/png", image, &status, NULL));
    g_assert_cmpuint (status, ==, 403);
    got = http (fixture, "GET", path, NULL, NULL, NULL, &status, &content_type);
    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpstr (content_type, ==, "image/png");
    g_assert_true (g_bytes_equal (got, image));
  }

  /* A conversation: made, then found; its history. */
  as_a = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/tutor", a->profile_id);
  with_b = g_strdup_printf ("{\"with\":[{\"profile_id\":%" G_GINT64_FORMAT
                            ",\"profile_type\":\"student\"}]}",
                            b->profile_id);
  {
    g_autofree char *path = g_strconcat (as_a, "/conversations", NULL);
    g_autofree char *made = expect (fixture, "POST", path, token, with_b, 201);
    g_autofree char *found = expect (fixture, "POST", path, token, with_b, 200);
    g_autoptr (JsonNode) node = json_from_string (made, &error);

    g_assert_no_error (error);
    conversation_id = json_object_get_int_member (json_node_get_object (node), "conversation_id");
    g_assert_cmpint (conversation_id, >, 0);
    g_assert_cmpint (pg_count (fixture, "SELECT count (*) FROM conversations"), ==, 1);
    g_free (expect (fixture, "GET", path, bob->token, NULL, 403));
  }
  {
    g_autoptr (GPtrArray) participants =
      g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
    g_autoptr (GPtrArray) messages =
      g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
    g_autofree char *path =
      g_strdup_printf ("%s/conversations/%" G_GINT64_FORMAT "/messages", as_a, conversation_id);
    g_autofree char *list_path = g_strconcat (as_a, "/conversations", NULL);
    g_autofree char *page = NULL;
    g_autofree char *list = NULL;
    gboolean stored = FALSE;
    gint64 deadline = g_get_monotonic_time () + natter_test_scale_ms (WAIT_MS) * 1000;

    g_ptr_array_add (participants, natter_profile_copy (a));
    g_ptr_array_add (participants, natter_profile_copy (b));
    g_ptr_array_add (messages, natter_store_chat_message_new (b, conversation_id, "hello Alice",
                                                              "m1", participants));
    natter_server_store_store_chat_messages (fixture->store, messages, on_stored, &stored);
    while (!stored) {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
    page = expect (fixture, "GET", path, token, NULL, 200);
    g_assert_nonnull (strstr (page, "\"hello Alice\""));
    list = expect (fixture, "GET", list_path, token, NULL, 200);
    g_assert_nonnull (strstr (list, "\"unread_count\":1"));
    g_assert_nonnull (strstr (list, "\"hello Alice\""));
  }
  {
    g_autofree char *path = g_strconcat (as_a, "/calls", NULL);
    g_autofree char *calls = expect (fixture, "GET", path, token, NULL, 200);

    g_assert_cmpstr (calls, ==, "{\"calls\":[]}");
  }

  /* Attachments: uploaded within the quota, read back by the other
   * participant once sent, refused past the quota. */
  {
    g_autofree char *path = g_strdup_printf (
      "%s/conversations/%" G_GINT64_FORMAT "/attachments?name=notes.txt", as_a, conversation_id);
    g_autoptr (GBytes) text = g_bytes_new_static ("some notes", 10);
    g_autoptr (GBytes) big = g_bytes_new_take (g_malloc0 (995), 995);
    g_autoptr (GBytes) answer = NULL;
    g_autoptr (GBytes) again = NULL;
    g_autoptr (GBytes) read_back = NULL;
    g_autoptr (GBytes) unsent = NULL;
    g_autoptr (JsonNode) node = NULL;
    g_autofree char *download = NULL;
    guint status = 0;
    gint64 attachment_id;

    answer = http (fixture, "POST", path, token, "text/plain", text, &status, NULL);
    g_assert_cmpuint (status, ==, 201);
    node = json_from_string (g_bytes_get_data (answer, NULL), &error);
    g_assert_no_error (error);
    attachment_id = json_object_get_int_member (json_node_get_object (node), "attachment_id");
    g_assert_cmpint (pg_count (fixture, "SELECT count (*) FROM attachments"), ==, 1);
    download = g_strdup_printf ("/api/attachments/%" G_GINT64_FORMAT, attachment_id);
    read_back = http (fixture, "GET", download, token, NULL, NULL, &status, NULL);
    g_assert_cmpuint (status, ==, 200);
    g_assert_true (g_bytes_equal (read_back, text));
    /* Unsent: Bob does not see it. */
    unsent = http (fixture, "GET", download, bob->token, NULL, NULL, &status, NULL);
    g_assert_cmpuint (status, ==, 404);
    /* 10 bytes used of 1000: 995 more do not fit. */
    again = http (fixture, "POST", path, token, "text/plain", big, &status, NULL);
    g_assert_cmpuint (status, ==, 413);
    g_assert_cmpint (pg_count (fixture, "SELECT count (*) FROM attachments"), ==, 1);
    g_clear_pointer (&again, g_bytes_unref);
    again = http (fixture, "POST", path, bob->token, "text/plain", text, &status, NULL);
    g_assert_cmpuint (status, ==, 403);
  }

  /* Blocks: listed, refuse a conversation, lifted. */
  {
    g_autofree char *path = g_strconcat (as_a, "/blocks", NULL);
    g_autofree char *one =
      g_strdup_printf ("%s/blocks/student/%" G_GINT64_FORMAT, as_a, b->profile_id);
    g_autofree char *conversations = g_strconcat (as_a, "/conversations", NULL);
    g_autofree char *listed = NULL;
    g_autofree char *after = NULL;

    block_b = g_strdup_printf ("{\"profile_id\":%" G_GINT64_FORMAT ",\"profile_type\":\"student\"}",
                               b->profile_id);
    g_free (expect (fixture, "POST", path, token, block_b, 204));
    listed = expect (fixture, "GET", path, token, NULL, 200);
    g_assert_nonnull (strstr (listed, "\"Bob\""));
    g_assert_cmpint (pg_count (fixture, "SELECT count (*) FROM blocks"), ==, 1);
    g_free (expect (fixture, "POST", conversations, token, with_b, 403));
    g_free (expect (fixture, "DELETE", one, token, NULL, 204));
    after = expect (fixture, "GET", path, token, NULL, 200);
    g_assert_null (strstr (after, "\"Bob\""));
  }

  /* Log out: the token stops working, the first one does not. */
  g_free (expect (fixture, "POST", "/api/logout", token, NULL, 204));
  g_free (expect (fixture, "GET", "/api/me", token, NULL, 401));
  g_free (expect (fixture, "GET", "/api/me", alice->token, NULL, 200));
  g_assert_cmpint (pg_count (fixture, "SELECT count (*) FROM tokens WHERE revoked_at IS NOT NULL"),
                   ==, 1);
}
#endif

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The password code runs in this process: its warning about the test
   * parameters (CI's valgrind run sets NATTER_TEST_INSECURE_PASSWORD_HASH)
   * comes once, here, expected. */
  if (g_strcmp0 (g_getenv ("NATTER_TEST_INSECURE_PASSWORD_HASH"), "1") == 0) {
    g_autofree char *hash = NULL;

    g_test_expect_message ("natter-password", G_LOG_LEVEL_WARNING,
                           "*NATTER_TEST_INSECURE_PASSWORD_HASH*");
    hash = natter_password_hash ("a password", NULL);
    g_test_assert_expected_messages ();
    g_assert_nonnull (hash);
  }
#ifdef NATTER_HAVE_LIBPQ
  g_test_add ("/natter/server-http-postgresql/routes", Fixture, NULL, fixture_set_up, test_routes,
              fixture_tear_down);
#endif

  return g_test_run ();
}
