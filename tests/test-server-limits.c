/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-limits"

#include "natter-test-server.h"
#include "natter-test-ws.h"

typedef struct {
  NatterTestServer *server;
  NatterTestPeer *alice;
  NatterTestPeer *bob;
  gint64 conversation_id;
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  fixture->server = natter_test_server_new (data);
  fixture->alice = natter_test_peer_new (fixture->server, "alice", "tutor");
  fixture->bob = natter_test_peer_new (fixture->server, "bob", "student");
  fixture->conversation_id =
    natter_test_peer_conversation_with (fixture->server, fixture->alice, fixture->bob);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_clear_pointer (&fixture->alice, natter_test_peer_free);
  g_clear_pointer (&fixture->bob, natter_test_peer_free);
  g_clear_pointer (&fixture->server, natter_test_server_free);
}

typedef struct {
  NatterTestWs *ws;
  guint expected;
  const char *type;
} CountData;

static gboolean
counted_enough (gpointer user_data)
{
  CountData *data = user_data;

  return natter_test_ws_count (data->ws, data->type) >= data->expected;
}

static const char *const chat_limit_args[] = { "--chat-rate", "1", "--chat-burst", "5", NULL };

static void
test_chat_flood_is_limited (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) limited = NULL;
  g_autoptr (NatterFrame) later = NULL;
  CountData acks = { alice, 1, "message_ack" };
  CountData errors = { alice, 1, "error" };
  guint n_acks;
  guint n_limited;

  for (guint i = 0; i < 12; i++)
    natter_test_ws_send_printf (alice,
                                "{\"type\":\"chat_message\",\"client_msg_id\":\"flood-%u\","
                                "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"spam %u\"}",
                                i, fixture->conversation_id, i);

  /* Every frame is answered: an ack or a rate_limited error. */
  acks.expected = 1;
  natter_test_ws_iterate_until (counted_enough, &acks, 5000);
  natter_test_ws_iterate_until (counted_enough, &errors, 5000);
  {
    gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

    while (natter_test_ws_count (alice, "message_ack") + natter_test_ws_count (alice, "error") <
             12 &&
           g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, FALSE);
  }
  n_acks = natter_test_ws_count (alice, "message_ack");
  n_limited = natter_test_ws_count (alice, "error");
  g_assert_cmpuint (n_acks + n_limited, ==, 12);
  g_assert_cmpuint (n_acks, >=, 5);
  g_assert_cmpuint (n_acks, <=, 7);

  limited = natter_test_ws_expect_error (alice, "rate_limited");
  g_assert_true (g_str_has_prefix (limited->ref, "flood-"));
  g_assert_true (natter_test_ws_is_open (alice));

  /* Dropped frames were not delivered. */
  acks.ws = bob;
  acks.type = "chat_message";
  acks.expected = n_acks;
  natter_test_ws_iterate_until (counted_enough, &acks, 5000);
  natter_test_ws_assert_none (bob, "error", 200);
  g_assert_cmpuint (natter_test_ws_count (bob, "chat_message"), ==, n_acks);

  /* The bucket refills: a second later a message passes again. */
  natter_test_ws_clear (alice);
  natter_test_ws_assert_none (alice, "error", 1100);
  natter_test_ws_send_printf (alice,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"after\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"calm now\"}",
                              fixture->conversation_id);
  later = natter_test_ws_expect (alice, "message_ack");
  g_assert_cmpstr (later->client_msg_id, ==, "after");
}

/* Typing frames are the flood here; their own limit (2/s) is lifted. */
static const char *const frame_limit_args[] = {
  "--frame-rate", "5", "--frame-burst", "20", "--typing-rate", "1000", NULL
};

static void
test_frame_flood_is_limited (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) limited = NULL;
  g_autoptr (NatterFrame) done = NULL;
  CountData typing = { bob, 20, "typing" };
  CountData errors = { alice, 1, "error" };

  for (guint i = 0; i < 60; i++)
    natter_test_ws_send_printf (
      alice, "{\"type\":\"typing\",\"conversation_id\":%" G_GINT64_FORMAT ",\"active\":%s}",
      fixture->conversation_id, i % 2 ? "true" : "false");

  g_assert_true (natter_test_ws_iterate_until (counted_enough, &typing, 5000));
  g_assert_true (natter_test_ws_iterate_until (counted_enough, &errors, 5000));
  limited = natter_test_ws_expect_error (alice, "rate_limited");
  /* Lets stragglers arrive before counting. */
  natter_test_ws_assert_none (bob, "call_invitation", 300);
  g_assert_cmpuint (natter_test_ws_count (bob, "typing"), >=, 20);
  g_assert_cmpuint (natter_test_ws_count (bob, "typing"), <, 40);
  g_assert_true (natter_test_ws_is_open (alice));

  /* Still usable once the bucket refills. */
  natter_test_ws_assert_none (alice, "sync_done", 1000);
  natter_test_ws_send (alice, "{\"type\":\"sync\",\"after_event_id\":0}");
  done = natter_test_ws_expect (alice, "sync_done");
}

static const char *const cap_args[] = { "--max-connections-per-user", "3", NULL };

static void
test_connection_cap (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) first = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) second = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) third = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) refused = NULL;
  g_autoptr (NatterTestWs) other_user = NULL;
  g_autoptr (NatterTestWs) replacement = NULL;
  guint status = 0;

  refused = natter_test_ws_connect (natter_test_server_get_url (fixture->server),
                                    fixture->alice->profile->profile_id, "tutor",
                                    fixture->alice->token, NULL, 0, &status);
  g_assert_null (refused);
  g_assert_cmpuint (status, ==, 429);

  /* The cap is per user. */
  other_user = natter_test_peer_open (fixture->server, fixture->bob);

  /* A closed connection frees its place. */
  natter_test_ws_close (third);
  {
    gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

    while (replacement == NULL && g_get_monotonic_time () < deadline) {
      replacement = natter_test_ws_connect (natter_test_server_get_url (fixture->server),
                                            fixture->alice->profile->profile_id, "tutor",
                                            fixture->alice->token, NULL, 0, &status);
    }
  }
  g_assert_nonnull (replacement);
}

static gboolean
has_connections (NatterTestServer *server, guint n)
{
  guint status = 0;
  g_autofree char *metrics = natter_test_server_fetch_metrics (server, &status);
  g_autofree char *line = g_strdup_printf ("natter_connections %u\n", n);

  return status == 200 && metrics != NULL && strstr (metrics, line) != NULL;
}

static void
test_metrics (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) ack = NULL;
  g_autoptr (NatterFrame) error = NULL;
  g_autoptr (NatterFrame) unavailable = NULL;
  g_autofree char *metrics = NULL;
  guint status = 0;

  natter_test_ws_send_printf (alice,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"m\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"count me\"}",
                              fixture->conversation_id);
  ack = natter_test_ws_expect (alice, "message_ack");
  natter_test_ws_send (alice, "{\"type\":\"nonsense\"}");
  error = natter_test_ws_expect_error (alice, "unknown_type");
  natter_test_ws_close (bob);
  /* The server must have seen Bob go before the invitation, or it rings
   * him (a race on slow builds: valgrind). */
  natter_test_wait_until (has_connections (fixture->server, 1), 5000);
  natter_test_ws_send_printf (
    alice,
    "{\"type\":\"call_invitation\",\"client_call_id\":\"c\",\"to_profile_id\":%" G_GINT64_FORMAT
    ",\"to_profile_type\":\"student\",\"call_type\":\"voice\","
    "\"offer\":{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\"}}",
    fixture->bob->profile->profile_id);
  unavailable = natter_test_ws_expect (alice, "call_unavailable");

  metrics = natter_test_server_fetch_metrics (fixture->server, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (strstr (metrics, "natter_frames_in_total{type=\"chat_message\"} 1"));
  g_assert_nonnull (strstr (metrics, "natter_frames_out_total{type=\"message_ack\"} 1"));
  g_assert_nonnull (strstr (metrics, "natter_errors_total{code=\"unknown_type\"} 1"));
  g_assert_nonnull (strstr (metrics, "natter_calls_total{outcome=\"missed\"} 1"));
  g_assert_nonnull (strstr (metrics, "natter_connections 1"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, args) \
  g_test_add (path, Fixture, args, fixture_set_up, func, fixture_tear_down)

  ADD ("/natter/server-limits/chat-flood-is-limited", test_chat_flood_is_limited, chat_limit_args);
  ADD ("/natter/server-limits/frame-flood-is-limited", test_frame_flood_is_limited,
       frame_limit_args);
  ADD ("/natter/server-limits/connection-cap", test_connection_cap, cap_args);
  ADD ("/natter/server-limits/metrics", test_metrics, NULL);

  return g_test_run ();
}
