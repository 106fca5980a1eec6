/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-ws"

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "natter-test-server.h"
#include "natter-test-ws.h"

typedef struct {
  NatterTestServer *server;
  NatterTestPeer *alice;
  NatterTestPeer *bob;
  const char *url;
} Fixture;

static const char *const default_args[] = { "--allowed-origin", "https://good.example", NULL };

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  const char *const *args = data != NULL ? data : default_args;

  fixture->server = natter_test_server_new (args);
  fixture->url = natter_test_server_get_url (fixture->server);
  fixture->alice = natter_test_peer_new (fixture->server, "alice", "tutor");
  fixture->bob = natter_test_peer_new (fixture->server, "bob", "student");
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_clear_pointer (&fixture->alice, natter_test_peer_free);
  g_clear_pointer (&fixture->bob, natter_test_peer_free);
  g_clear_pointer (&fixture->server, natter_test_server_free);
}

static void
test_hello_is_first_frame (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) ws = NULL;
  g_autoptr (NatterFrame) hello = NULL;
  g_autoptr (GDateTime) server_time = NULL;
  guint status = 0;

  ws = natter_test_ws_connect (fixture->url, fixture->alice->profile->profile_id, "tutor",
                               fixture->alice->token, NULL, 0, &status);
  g_assert_nonnull (ws);
  g_assert_cmpuint (status, ==, 101);

  hello = natter_test_ws_expect (ws, "hello");
  g_assert_cmpint (hello->protocol, ==, 1);
  g_assert_cmpint (hello->profile->profile_id, ==, fixture->alice->profile->profile_id);
  g_assert_cmpstr (hello->profile->profile_type, ==, "tutor");
  g_assert_cmpstr (hello->profile->display_name, ==, "alice");
  g_assert_cmpint (hello->last_event_id, ==, 0);
  g_assert_cmpint (hello->heartbeat_s, ==, 30);
  server_time = natter_parse_time (hello->server_time);
  g_assert_nonnull (server_time);
}

static void
test_token_in_query_and_type_case (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) ws = NULL;
  g_autoptr (NatterFrame) hello = NULL;
  guint status = 0;

  ws = natter_test_ws_connect (fixture->url, fixture->bob->profile->profile_id, "StUdEnT",
                               fixture->bob->token, NULL, NATTER_TEST_WS_TOKEN_IN_QUERY, &status);
  g_assert_nonnull (ws);
  hello = natter_test_ws_expect (ws, "hello");
  g_assert_cmpstr (hello->profile->profile_type, ==, "student");
}

static void
assert_refused (Fixture *fixture,
                const NatterProfile *profile,
                const char *profile_type,
                const char *token,
                const char *origin,
                guint expected_status)
{
  g_autoptr (NatterTestWs) ws = NULL;
  guint status = 0;

  ws = natter_test_ws_connect (fixture->url, profile->profile_id, profile_type, token, origin, 0,
                               &status);
  g_assert_null (ws);
  g_assert_cmpuint (status, ==, expected_status);
}

static void
test_refuses_bad_tokens (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) ws = NULL;
  g_autofree char *answer = NULL;
  guint status = 0;

  assert_refused (fixture, fixture->alice->profile, "tutor", NULL, NULL, 401);
  assert_refused (fixture, fixture->alice->profile, "tutor", "not-a-real-token", NULL, 401);

  /* Logout revokes the token: the open connection closes, a new one is
   * refused. */
  ws = natter_test_peer_open (fixture->server, fixture->alice);
  answer =
    natter_test_http (fixture->server, "POST", "/api/logout", fixture->alice->token, NULL, &status);
  g_assert_cmpuint (status, ==, 204);
  g_assert_cmpuint (natter_test_ws_wait_closed (ws, 5000), !=, 0);
  assert_refused (fixture, fixture->alice->profile, "tutor", fixture->alice->token, NULL, 401);
}

static void
test_refuses_foreign_profile (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterProfile) unknown = natter_profile_new (999999, "tutor", NULL, NULL);

  /* Bob's profile with Alice's token. */
  assert_refused (fixture, fixture->bob->profile, "student", fixture->alice->token, NULL, 403);
  /* Her own id with a type she does not hold. */
  assert_refused (fixture, fixture->alice->profile, "student", fixture->alice->token, NULL, 403);
  assert_refused (fixture, unknown, "tutor", fixture->alice->token, NULL, 403);
}

static void
test_refuses_foreign_origin (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) allowed = NULL;
  guint status = 0;

  assert_refused (fixture, fixture->alice->profile, "tutor", fixture->alice->token,
                  "https://evil.example", 403);

  allowed = natter_test_ws_connect (fixture->url, fixture->alice->profile->profile_id, "tutor",
                                    fixture->alice->token, "https://good.example", 0, &status);
  g_assert_nonnull (allowed);
  g_assert_cmpuint (status, ==, 101);
}

static void
assert_still_open (NatterTestWs *ws)
{
  g_autoptr (NatterFrame) done = NULL;

  natter_test_ws_send (ws, "{\"type\":\"sync\",\"after_event_id\":0}");
  done = natter_test_ws_expect (ws, "sync_done");
  g_assert_true (natter_test_ws_is_open (ws));
}

static void
test_errors_keep_connection_open (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) ws = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterFrame) bad_json = NULL;
  g_autoptr (NatterFrame) bad_frame = NULL;
  g_autoptr (NatterFrame) unknown = NULL;
  g_autoptr (NatterFrame) wrong_way = NULL;
  g_autoptr (NatterFrame) with_ref = NULL;

  natter_test_ws_send (ws, "{\"type\":\"chat_message\",");
  bad_json = natter_test_ws_expect_error (ws, "bad_json");
  g_assert_nonnull (bad_json->error_message);

  natter_test_ws_send (ws, "{\"type\":\"typing\",\"conversation_id\":\"seven\",\"active\":true}");
  bad_frame = natter_test_ws_expect_error (ws, "bad_frame");

  natter_test_ws_send (ws, "{\"type\":\"teleport\"}");
  unknown = natter_test_ws_expect_error (ws, "unknown_type");

  natter_test_ws_send (ws, "{\"type\":\"message_ack\",\"client_msg_id\":\"x\"}");
  wrong_way = natter_test_ws_expect (ws, "error");
  g_assert_true (g_strcmp0 (wrong_way->code, "unknown_type") == 0 ||
                 g_strcmp0 (wrong_way->code, "bad_frame") == 0);

  /* The ref names the client's id even when the frame is refused. */
  natter_test_ws_send (
    ws, "{\"type\":\"chat_message\",\"client_msg_id\":\"ref-1\",\"conversation_id\":1}");
  with_ref = natter_test_ws_expect_error (ws, "bad_frame");
  g_assert_cmpstr (with_ref->ref, ==, "ref-1");

  assert_still_open (ws);
}

static void
test_oversized_frame_closes_1009 (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) ws = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) exact = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterFrame) error = NULL;

  /* Exactly 64 KiB is still a frame (a bad one). */
  natter_test_ws_send_bytes (exact, 64 * 1024, ' ');
  error = natter_test_ws_expect (exact, "error");
  g_assert_true (natter_test_ws_is_open (exact));

  natter_test_ws_send_bytes (ws, 64 * 1024 + 1, ' ');
  g_assert_cmpuint (natter_test_ws_wait_closed (ws, 5000), ==, SOUP_WEBSOCKET_CLOSE_TOO_BIG);
}

static void
send_chat (NatterTestWs *ws, gint64 conversation_id, const char *text)
{
  g_autofree char *id = natter_test_ws_uuid ();
  g_autoptr (NatterFrame) ack = NULL;

  natter_test_ws_send_printf (ws,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"%s\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"%s\"}",
                              id, conversation_id, text);
  ack = natter_test_ws_expect (ws, "message_ack");
  g_assert_cmpstr (ack->client_msg_id, ==, id);
}

static void
test_sync_replays_in_order (Fixture *fixture, gconstpointer data)
{
  gint64 conversation_id =
    natter_test_peer_conversation_with (fixture->server, fixture->alice, fixture->bob);
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = NULL;
  g_autoptr (NatterFrame) hello = NULL;
  g_autoptr (NatterFrame) done = NULL;
  g_autoptr (NatterFrame) done_again = NULL;
  gint64 event_ids[3];
  guint status = 0;

  send_chat (alice, conversation_id, "one");
  send_chat (alice, conversation_id, "two");
  send_chat (alice, conversation_id, "three");

  bob = natter_test_ws_connect (fixture->url, fixture->bob->profile->profile_id, "student",
                                fixture->bob->token, NULL, 0, &status);
  hello = natter_test_ws_expect (bob, "hello");
  g_assert_cmpint (hello->last_event_id, >, 0);

  natter_test_ws_send (bob, "{\"type\":\"sync\",\"after_event_id\":0}");
  for (guint i = 0; i < 3; i++) {
    static const char *const texts[] = { "one", "two", "three" };
    g_autoptr (NatterFrame) event = natter_test_ws_expect (bob, "chat_message");

    g_assert_cmpstr (event->message->text, ==, texts[i]);
    g_assert_cmpint (event->message->seq, ==, i + 1);
    event_ids[i] = event->event_id;
    if (i > 0)
      g_assert_cmpint (event_ids[i], >, event_ids[i - 1]);
  }
  done = natter_test_ws_expect (bob, "sync_done");
  g_assert_cmpint (done->last_event_id, ==, event_ids[2]);
  g_assert_cmpint (done->last_event_id, ==, hello->last_event_id);
  g_assert_false (done->truncated);

  natter_test_ws_send_printf (bob, "{\"type\":\"sync\",\"after_event_id\":%" G_GINT64_FORMAT "}",
                              event_ids[1]);
  done_again = natter_test_ws_expect (bob, "sync_done");
  g_assert_cmpuint (natter_test_ws_count (bob, "chat_message"), ==, 1);
}

static const char *const truncate_args[] = { "--sync-replay-max", "3", NULL };

static void
test_sync_truncates (Fixture *fixture, gconstpointer data)
{
  gint64 conversation_id =
    natter_test_peer_conversation_with (fixture->server, fixture->alice, fixture->bob);
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = NULL;
  g_autoptr (NatterFrame) done = NULL;
  g_autoptr (NatterFrame) first = NULL;

  for (guint i = 0; i < 5; i++) {
    g_autofree char *text = g_strdup_printf ("message %u", i);

    send_chat (alice, conversation_id, text);
  }

  bob = natter_test_peer_open (fixture->server, fixture->bob);
  natter_test_ws_send (bob, "{\"type\":\"sync\",\"after_event_id\":0}");
  done = natter_test_ws_expect (bob, "sync_done");
  g_assert_true (done->truncated);
  /* The newest three, oldest of them first. */
  g_assert_cmpuint (natter_test_ws_count (bob, "chat_message"), ==, 3);
  first = natter_test_ws_expect (bob, "chat_message");
  g_assert_cmpstr (first->message->text, ==, "message 2");
}

static void
test_presence (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = NULL;
  g_autoptr (NatterTestWs) bob = NULL;
  g_autoptr (NatterTestWs) bob2 = NULL;
  g_autoptr (NatterFrame) online = NULL;
  g_autoptr (NatterFrame) offline = NULL;
  g_autoptr (NatterFrame) already = NULL;

  natter_test_peers_befriend (fixture->server, fixture->alice, fixture->bob);
  alice = natter_test_peer_open (fixture->server, fixture->alice);
  bob = natter_test_peer_open (fixture->server, fixture->bob);

  online = natter_test_ws_expect (alice, "presence");
  g_assert_cmpint (online->profile->profile_id, ==, fixture->bob->profile->profile_id);
  g_assert_true (online->online);

  /* Bob learns that Alice was already online. */
  already = natter_test_ws_expect (bob, "presence");
  g_assert_cmpint (already->profile->profile_id, ==, fixture->alice->profile->profile_id);
  g_assert_true (already->online);

  /* A second device is not a change, closing one of two neither. */
  bob2 = natter_test_peer_open (fixture->server, fixture->bob);
  natter_test_ws_close (bob2);
  natter_test_ws_assert_none (alice, "presence", 300);

  natter_test_ws_close (bob);
  offline = natter_test_ws_expect (alice, "presence");
  g_assert_false (offline->online);
  g_assert_nonnull (offline->last_seen);
}

static void
test_shutdown_closes_1001 (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) ws = natter_test_peer_open (fixture->server, fixture->alice);
  int status;

  status = natter_test_server_stop (fixture->server);
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpuint (natter_test_ws_wait_closed (ws, 5000), ==, SOUP_WEBSOCKET_CLOSE_GOING_AWAY);
}

static const char *const heartbeat_args[] = { "--heartbeat", "1", "--dead-after", "2", NULL };

/* A client that completes the handshake and then never answers a ping: the
 * server must close it after --dead-after. */
static void
test_silent_connection_is_closed (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) connection = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *request = NULL;
  GInputStream *input;
  GOutputStream *output;
  gboolean saw_close = FALSE;
  gint64 started = g_get_monotonic_time ();
  guint8 buffer[4096];

  connection = g_socket_client_connect_to_host (
    client, "127.0.0.1", natter_test_server_get_port (fixture->server), NULL, &error);
  g_assert_no_error (error);
  g_socket_set_timeout (g_socket_connection_get_socket (connection), 10);

  request = g_strdup_printf ("GET /ws/%" G_GINT64_FORMAT "/tutor HTTP/1.1\r\n"
                             "Host: 127.0.0.1\r\n"
                             "Upgrade: websocket\r\n"
                             "Connection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n"
                             "Authorization: Bearer %s\r\n\r\n",
                             fixture->alice->profile->profile_id, fixture->alice->token);
  output = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  input = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  g_output_stream_write_all (output, request, strlen (request), NULL, NULL, &error);
  g_assert_no_error (error);

  /* Reads (and ignores: no pong) until the server sends a close frame
   * (opcode 8) or hangs up. */
  for (;;) {
    gssize n = g_input_stream_read (input, buffer, sizeof buffer, NULL, &error);

    g_assert_no_error (error);
    if (n <= 0)
      break;
    for (gssize i = 0; i + 1 < n; i++) {
      if (buffer[i] == 0x88)
        saw_close = TRUE;
    }
    if (saw_close)
      break;
  }

  g_assert_true (saw_close);
  g_assert_cmpint (g_get_monotonic_time () - started, >=, 1 * G_USEC_PER_SEC);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, args) \
  g_test_add (path, Fixture, args, fixture_set_up, func, fixture_tear_down)

  ADD ("/natter/server-ws/hello-is-first-frame", test_hello_is_first_frame, NULL);
  ADD ("/natter/server-ws/token-in-query-and-type-case", test_token_in_query_and_type_case, NULL);
  ADD ("/natter/server-ws/refuses-bad-tokens", test_refuses_bad_tokens, NULL);
  ADD ("/natter/server-ws/refuses-foreign-profile", test_refuses_foreign_profile, NULL);
  ADD ("/natter/server-ws/refuses-foreign-origin", test_refuses_foreign_origin, NULL);
  ADD ("/natter/server-ws/errors-keep-connection-open", test_errors_keep_connection_open, NULL);
  ADD ("/natter/server-ws/oversized-frame-closes-1009", test_oversized_frame_closes_1009, NULL);
  ADD ("/natter/server-ws/sync-replays-in-order", test_sync_replays_in_order, NULL);
  ADD ("/natter/server-ws/sync-truncates", test_sync_truncates, truncate_args);
  ADD ("/natter/server-ws/presence", test_presence, NULL);
  ADD ("/natter/server-ws/shutdown-closes-1001", test_shutdown_closes_1001, NULL);
  ADD ("/natter/server-ws/silent-connection-is-closed", test_silent_connection_is_closed,
       heartbeat_args);

  return g_test_run ();
}
