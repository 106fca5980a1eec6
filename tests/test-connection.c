/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-connection"

#include "config.h"

#include <libsoup/soup.h>
#include <signal.h>

#include "natter-backoff.h"
#include "natter-client.h"
#include "natter-http-body.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "tcp-proxy.h"

typedef struct {
  NatterTestServer *server;
  NatterTcpProxy *proxy;
  char *data_dir;
  char *token;
  NatterProfile *profile;
  NatterClient *client;
} Fixture;

static NatterClient *
signed_in_client (const char *url, const char *data_dir, const char *email)
{
  NatterClient *client = natter_client_new (url, data_dir);

  natter_test_client_login (client, email, 5000);

  return client;
}

static gboolean
is_state (NatterClient *client, NatterConnectionState state)
{
  return natter_connection_get_state (natter_client_get_connection (client)) == state;
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterUser) user = NULL;
  g_autoptr (GError) error = NULL;

  fixture->server = natter_test_server_new (NULL);
  fixture->proxy = natter_tcp_proxy_new (natter_test_server_get_port (fixture->server));
  fixture->data_dir = g_dir_make_tmp ("natter-test-connection-XXXXXX", &error);
  g_assert_no_error (error);

  user = natter_test_server_register (fixture->server, "abebe@example.org", "Abebe", "tutor",
                                      &fixture->token, &fixture->profile);
  fixture->client = signed_in_client (natter_tcp_proxy_get_url (fixture->proxy), fixture->data_dir,
                                      "abebe@example.org");
  natter_test_wait_until (is_state (fixture->client, NATTER_CONNECTION_STATE_CONNECTED), 5000);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_assert_finalize_object (g_steal_pointer (&fixture->client));
  natter_tcp_proxy_free (fixture->proxy);
  natter_test_server_free (fixture->server);
  natter_test_remove_tree (fixture->data_dir);
  g_free (fixture->data_dir);
  g_free (fixture->token);
  natter_profile_free (fixture->profile);
}

static void
test_backoff (void)
{
  guint32 seed;

  for (seed = 1; seed <= 200; seed++) {
    g_autoptr (NatterBackoff) backoff = natter_backoff_new_with_seed (1000, 2000, 30000, seed);
    g_autoptr (NatterBackoff) replay = natter_backoff_new_with_seed (1000, 2000, 30000, seed);
    guint max_seen = 0;
    guint i;

    /* The first retry comes within a second. */
    g_assert_cmpuint (natter_backoff_next_delay (backoff), <=, 1000);
    natter_backoff_next_delay (replay);

    for (i = 0; i < 60; i++) {
      guint delay = natter_backoff_next_delay (backoff);

      g_assert_cmpuint (delay, <=, 30000);
      g_assert_cmpuint (natter_backoff_next_delay (replay), ==, delay);
      max_seen = MAX (max_seen, delay);
    }

    /* Full jitter up to the cap: over 60 attempts the delays reach well
     * past the early ceilings. */
    g_assert_cmpuint (max_seen, >, 8000);
    g_assert_cmpuint (natter_backoff_get_attempts (backoff), ==, 61);

    natter_backoff_reset (backoff);
    g_assert_cmpuint (natter_backoff_get_attempts (backoff), ==, 0);
    g_assert_cmpuint (natter_backoff_next_delay (backoff), <=, 1000);
  }

  /* The ceiling doubles: attempt n (n >= 1) is at most 2000 * 2^(n-1). */
  {
    g_autoptr (NatterBackoff) backoff = natter_backoff_new_with_seed (1000, 2000, 30000, 7);

    natter_backoff_next_delay (backoff);
    g_assert_cmpuint (natter_backoff_next_delay (backoff), <=, 2000);
    g_assert_cmpuint (natter_backoff_next_delay (backoff), <=, 4000);
    g_assert_cmpuint (natter_backoff_next_delay (backoff), <=, 8000);
  }
}

static void
count_frame (NatterConnection *connection, const NatterFrame *frame, guint *count)
{
  (*count)++;
}

static void
test_reconnects_after_server_restart (Fixture *fixture, gconstpointer data)
{
  NatterConnection *connection = natter_client_get_connection (fixture->client);
  guint hellos = 0;
  guint presences = 0;

  g_signal_connect (connection, "frame::hello", G_CALLBACK (count_frame), &hellos);
  g_signal_connect (connection, "frame::presence", G_CALLBACK (count_frame), &presences);

  natter_test_server_stop (fixture->server);
  natter_test_wait_until (!is_state (fixture->client, NATTER_CONNECTION_STATE_CONNECTED), 5000);

  natter_test_server_restart (fixture->server);
  natter_test_wait_until (is_state (fixture->client, NATTER_CONNECTION_STATE_CONNECTED), 5000);

  /* One hello per connection, dispatched by its type only. */
  g_assert_cmpuint (hellos, ==, 1);
  g_assert_cmpuint (presences, ==, 0);
  g_assert_null (natter_connection_get_last_error (connection));

  g_signal_handlers_disconnect_by_data (connection, &hellos);
  g_signal_handlers_disconnect_by_data (connection, &presences);
}

static void
count_notify (guint *count)
{
  (*count)++;
}

static void
test_revoked_token_signs_out (Fixture *fixture, gconstpointer data)
{
  NatterConnection *connection = natter_client_get_connection (fixture->client);
  NatterAccount *account = natter_client_get_account (fixture->client);
  g_autofree char *answer = NULL;
  const GError *error;
  guint status = 0;
  guint changes = 0;
  gint64 settle;

  /* Log out "elsewhere": the same token, revoked over HTTP. */
  answer = natter_test_http (fixture->server, "POST", "/api/logout",
                             natter_account_get_token (account), NULL, &status);
  g_assert_cmpuint (status, ==, 204);

  natter_tcp_proxy_cut_all (fixture->proxy);
  natter_test_wait_until (is_state (fixture->client, NATTER_CONNECTION_STATE_SIGNED_OUT), 5000);

  error = natter_connection_get_last_error (connection);
  g_assert_error ((GError *) error, NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_UNAUTHORIZED);
  g_assert_false (natter_account_get_signed_in (account));

  /* No retry loop: the state never moves again. */
  g_signal_connect_swapped (connection, "notify::state", G_CALLBACK (count_notify), &changes);
  settle = g_get_monotonic_time () + 2500 * 1000;
  while (natter_test_iterate_until (settle))
    ;
  g_assert_true (is_state (fixture->client, NATTER_CONNECTION_STATE_SIGNED_OUT));
  g_assert_cmpuint (changes, ==, 0);
  g_signal_handlers_disconnect_by_data (connection, &changes);
}

static void
count_connecting (NatterConnection *connection, GParamSpec *pspec, guint *attempts)
{
  if (natter_connection_get_state (connection) == NATTER_CONNECTION_STATE_CONNECTING)
    (*attempts)++;
}

static void
test_watchdog_declares_silent_link_dead (Fixture *fixture, gconstpointer data)
{
  NatterConnection *connection = natter_client_get_connection (fixture->client);
  GPid pid = natter_test_server_get_pid (fixture->server);
  const GError *error;
  guint attempts = 0;

  natter_connection_set_keepalive_interval (connection, 1);
  natter_connection_set_dead_after (connection, 1500);

  /* A frozen server keeps the TCP link open but answers nothing. */
  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  natter_test_wait_until (is_state (fixture->client, NATTER_CONNECTION_STATE_WAITING_TO_RETRY) ||
                            is_state (fixture->client, NATTER_CONNECTION_STATE_CONNECTING),
                          5000);
  error = natter_connection_get_last_error (connection);
  g_assert_error ((GError *) error, NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_NETWORK);

  /* Handshakes into the frozen server time out too: the client keeps
   * trying instead of waiting on one forever. */
  g_signal_connect (connection, "notify::state", G_CALLBACK (count_connecting), &attempts);
  natter_test_wait_until (attempts >= 2, 10000);
  g_signal_handlers_disconnect_by_data (connection, &attempts);

  g_assert_cmpint (kill (pid, SIGCONT), ==, 0);
  natter_test_wait_until (is_state (fixture->client, NATTER_CONNECTION_STATE_CONNECTED), 10000);
}

static void
test_switching_profile_reconnects (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterClient) client = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_build_filename (fixture->data_dir, "two", NULL);
  NatterAccount *account;
  const NatterUser *me;
  NatterStore *first_store;
  guint hellos = 0;
  char *types[] = { (char *) "tutor", (char *) "parent", NULL };
  NatterRegisterRequest request = { (char *) "lidya@example.org", (char *) NATTER_TEST_PASSWORD,
                                    (char *) "Lidya", types };
  g_autofree char *json = natter_register_request_to_json (&request);
  g_autofree char *answer = NULL;
  const NatterProfile *second;
  guint status = 0;

  answer = natter_test_http (fixture->server, "POST", "/api/register", NULL, json, &status);
  g_assert_cmpuint (status, ==, 201);

  client = signed_in_client (natter_tcp_proxy_get_url (fixture->proxy), dir, "lidya@example.org");
  account = natter_client_get_account (client);
  natter_test_wait_until (is_state (client, NATTER_CONNECTION_STATE_CONNECTED), 5000);

  me = natter_account_get_user (account);
  g_assert_cmpuint (me->profiles->len, ==, 2);
  first_store = natter_client_get_store (client);
  g_assert_nonnull (first_store);

  g_signal_connect (natter_client_get_connection (client), "frame::hello", G_CALLBACK (count_frame),
                    &hellos);

  second = g_ptr_array_index (me->profiles, 1);
  g_assert_true (
    natter_account_set_active_profile (account, second->profile_id, second->profile_type, &error));
  g_assert_no_error (error);

  natter_test_wait_until (hellos == 1, 5000);
  g_assert_true (is_state (client, NATTER_CONNECTION_STATE_CONNECTED));
  g_assert_true (
    natter_profile_equal (natter_store_get_own_profile (natter_client_get_store (client)), second));

  g_signal_handlers_disconnect_by_data (natter_client_get_connection (client), &hellos);
  g_assert_finalize_object (g_steal_pointer (&client));
}

static void
test_forbidden_profile_is_surfaced (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterUser) other = NULL;
  g_autoptr (NatterProfile) other_profile = NULL;
  g_autoptr (GError) error = NULL;
  NatterAccount *account;
  const GError *last_error;

  other = natter_test_server_register (fixture->server, "sara@example.org", "Sara", "student", NULL,
                                       &other_profile);

  /* Restarted while the server is down, the client cannot check which
   * profiles are the user's and takes the one it is given. */
  natter_test_server_stop (fixture->server);
  g_assert_finalize_object (g_steal_pointer (&fixture->client));
  fixture->client =
    natter_client_new (natter_tcp_proxy_get_url (fixture->proxy), fixture->data_dir);
  account = natter_client_get_account (fixture->client);
  natter_test_client_sign_in (fixture->client, 5000);
  g_assert_true (natter_account_set_active_profile (account, other_profile->profile_id,
                                                    other_profile->profile_type, &error));

  /* The server refuses someone else's profile: surfaced, not retried. */
  natter_test_server_restart (fixture->server);
  natter_test_wait_until (is_state (fixture->client, NATTER_CONNECTION_STATE_DISCONNECTED), 10000);
  last_error = natter_connection_get_last_error (natter_client_get_connection (fixture->client));
  g_assert_error ((GError *) last_error, NATTER_CONNECTION_ERROR,
                  NATTER_CONNECTION_ERROR_FORBIDDEN);
}

/* The HTTP side of a scripted server (natter_test_scripted_server_init):
 * just enough HTTP for a login. */
static const char broken_user[] =
  "{\"user_id\":1,\"email\":\"abebe@example.org\",\"display_name\":\"Abebe\","
  "\"profiles\":[{\"profile_id\":1,\"profile_type\":\"tutor\",\"display_name\":\"Abebe\"}]}";

static void
broken_respond (SoupServerMessage *message, const char *json)
{
  soup_server_message_set_status (message, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (message, "application/json", SOUP_MEMORY_COPY, json,
                                    strlen (json));
}

static void
on_broken_http (SoupServer *server,
                SoupServerMessage *message,
                const char *path,
                GHashTable *query,
                gpointer user_data)
{
  g_autofree char *session = NULL;

  if (g_str_equal (path, "/api/login")) {
    session = g_strdup_printf ("{\"token\":\"broken-token\",\"expires_at\":"
                               "\"2099-01-01T00:00:00Z\",\"user\":%s}",
                               broken_user);
    broken_respond (message, session);
  } else if (g_str_equal (path, "/api/me")) {
    broken_respond (message, broken_user);
  } else if (g_str_has_prefix (path, "/api/as/")) {
    broken_respond (message, "{\"conversations\":[]}");
  } else {
    soup_server_message_set_status (message, SOUP_STATUS_NOT_FOUND, NULL);
  }
}

static gboolean
has_error (NatterConnection *connection, int code, const char *part)
{
  const GError *error = natter_connection_get_last_error (connection);

  return g_error_matches (error, NATTER_CONNECTION_ERROR, code) &&
         strstr (error->message, part) != NULL;
}

static void
test_protocol_errors_are_surfaced (void)
{
  g_autofree char *data_dir = g_dir_make_tmp ("natter-test-connection-XXXXXX", NULL);
  NatterTestScriptedServer broken = { 0 };
  g_autoptr (NatterClient) client = NULL;
  NatterConnection *connection;
  guint attempts = 0;
  gint64 settle;

  natter_test_scripted_server_init (&broken, on_broken_http);
  client = signed_in_client (broken.url, data_dir, "abebe@example.org");
  connection = natter_client_get_connection (client);
  g_signal_connect (connection, "notify::state", G_CALLBACK (count_connecting), &attempts);
  natter_test_wait_until (broken.websocket != NULL, 5000);

  /* An unreadable frame: said, and the link stays. */
  soup_websocket_connection_send_text (broken.websocket, "{\"type\":\"hello\",");
  natter_test_wait_until (has_error (connection, NATTER_CONNECTION_ERROR_PROTOCOL, "Unreadable"),
                          5000);
  g_assert_true (is_state (client, NATTER_CONNECTION_STATE_CONNECTING));

  /* A good hello clears it. */
  soup_websocket_connection_send_text (
    broken.websocket, "{\"type\":\"hello\",\"protocol\":1,\"profile\":{\"profile_id\":1,"
                      "\"profile_type\":\"tutor\"},\"last_event_id\":0,\"heartbeat_s\":30,"
                      "\"server_time\":\"2026-01-01T00:00:00Z\"}");
  natter_test_wait_until (is_state (client, NATTER_CONNECTION_STATE_CONNECTED), 5000);
  g_assert_null (natter_connection_get_last_error (connection));

  /* A binary frame: said, still connected. */
  soup_websocket_connection_send_binary (broken.websocket, "\x01\x02", 2);
  natter_test_wait_until (has_error (connection, NATTER_CONNECTION_ERROR_PROTOCOL, "binary"), 5000);
  g_assert_true (is_state (client, NATTER_CONNECTION_STATE_CONNECTED));

  /* A server of another protocol version: no use retrying. */
  soup_websocket_connection_send_text (
    broken.websocket, "{\"type\":\"hello\",\"protocol\":99,\"profile\":{\"profile_id\":1,"
                      "\"profile_type\":\"tutor\"},\"last_event_id\":0,\"heartbeat_s\":30,"
                      "\"server_time\":\"2026-01-01T00:00:00Z\"}");
  natter_test_wait_until (is_state (client, NATTER_CONNECTION_STATE_DISCONNECTED), 5000);
  g_assert_true (has_error (connection, NATTER_CONNECTION_ERROR_PROTOCOL, "protocol 99"));

  attempts = 0;
  settle = g_get_monotonic_time () + 1500 * 1000;
  while (natter_test_iterate_until (settle))
    ;
  g_assert_cmpuint (attempts, ==, 0);
  g_assert_true (is_state (client, NATTER_CONNECTION_STATE_DISCONNECTED));

  g_signal_handlers_disconnect_by_data (connection, &attempts);
  g_assert_finalize_object (g_steal_pointer (&client));
  natter_test_scripted_server_clear (&broken);
  natter_test_remove_tree (data_dir);
}

int
main (int argc, char **argv)
{
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
  g_unsetenv ("NATTER_TOKEN");
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/connection/backoff-first-within-1s-capped-at-30s", test_backoff);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/connection/reconnects-after-server-restart", test_reconnects_after_server_restart);
  ADD ("/natter/connection/revoked-token-signs-out", test_revoked_token_signs_out);
  ADD ("/natter/connection/watchdog-declares-silent-link-dead",
       test_watchdog_declares_silent_link_dead);
  ADD ("/natter/connection/switching-profile-reconnects", test_switching_profile_reconnects);
  ADD ("/natter/connection/forbidden-profile-is-surfaced", test_forbidden_profile_is_surfaced);
#undef ADD
  g_test_add_func ("/natter/connection/protocol-errors-are-surfaced",
                   test_protocol_errors_are_surfaced);

  return g_test_run ();
}
