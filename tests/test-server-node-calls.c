/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-node-calls"

/* Calls across nodes (issue 17, items 3 and 5): three real natter-server
 * processes on one SQLite file and one real redis-server. A callee with
 * devices on two nodes rings on both, and when both answer at once exactly
 * one wins, the other gets answered_elsewhere; a device that connects to a
 * third node during the ring rings too; glare is seen across nodes, also
 * when both invite each other at once; a call
 * answered across nodes carries SDP and ICE both ways and hangs up.
 * Skipped when redis-server is not installed. */

#include "config.h"

#include <string.h>

#include <hiredis/hiredis.h>

#include "natter-redis-connection.h"
#include "natter-test-server.h"
#include "natter-test-services.h"
#include "natter-test-ws.h"

#define OFFER \
  "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n\"}"
#define ANSWER \
  "{\"type\":\"answer\",\"sdp\":\"v=0\\r\\no=- 2 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n\"}"
#define RACES 20
/* How long a frame may take across nodes, on a quiet machine. */
#define DELIVERY_MS 5000
#define PROFILE_SUBSCRIPTIONS "natter_bus_subscribed_total{kind=\"profile\"}"

/* One redis-server and three nodes for every test (starting them per test
 * would cost most of the file's time under valgrind); each test has
 * accounts of its own. */
typedef struct {
  NatterTestRedis *redis;
  NatterTestServer *a;
  NatterTestServer *b;
  NatterTestServer *c;
  gboolean no_redis;
  guint n_peers;
} Cluster;

static Cluster cluster;

static NatterTestServer *
start_node (const char *node_id, const char *db_path)
{
  const char *args[] = { "--redis",
                         natter_test_redis_get_uri (cluster.redis),
                         "--node-id",
                         node_id,
                         "--registration-burst",
                         "100",
                         "--call-invitations-per-minute",
                         "1000",
                         db_path != NULL ? "--db" : NULL,
                         db_path,
                         NULL };

  return natter_test_server_new (args);
}

static gboolean
cluster_start (void)
{
  if (cluster.a != NULL)
    return TRUE;
  if (cluster.no_redis) {
    g_test_skip ("redis-server is not installed (Debian: redis-server)");
    return FALSE;
  }
  cluster.redis = natter_test_redis_new ();
  if (cluster.redis == NULL) {
    cluster.no_redis = TRUE;
    return FALSE;
  }
  cluster.a = start_node ("node-a", NULL);
  /* The harness gives each server a --db of its own; a later one wins. */
  cluster.b = start_node ("node-b", natter_test_server_get_db_path (cluster.a));
  cluster.c = start_node ("node-c", natter_test_server_get_db_path (cluster.a));
  return TRUE;
}

static void
cluster_stop (void)
{
  /* A last: its folder holds the database. */
  g_clear_pointer (&cluster.c, natter_test_server_free);
  g_clear_pointer (&cluster.b, natter_test_server_free);
  g_clear_pointer (&cluster.a, natter_test_server_free);
  g_clear_pointer (&cluster.redis, natter_test_redis_free);
}

typedef struct {
  gboolean skipped;
  NatterTestPeer *alice; /* the caller, on node A */
  NatterTestPeer *bob;   /* the callee */
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autofree char *alice = NULL;
  g_autofree char *bob = NULL;

  if (!cluster_start ()) {
    fixture->skipped = TRUE;
    return;
  }
  cluster.n_peers++;
  alice = g_strdup_printf ("alice%u", cluster.n_peers);
  bob = g_strdup_printf ("bob%u", cluster.n_peers);
  fixture->alice = natter_test_peer_new (cluster.a, alice, "tutor");
  fixture->bob = natter_test_peer_new (cluster.b, bob, "student");
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_clear_pointer (&fixture->alice, natter_test_peer_free);
  g_clear_pointer (&fixture->bob, natter_test_peer_free);
}

/* Opens the first WebSocket of @peer on @server, once the node hears the
 * profile's channel: what other nodes send there from now on arrives. */
static NatterTestWs *
open_on (NatterTestServer *server, NatterTestPeer *peer)
{
  guint64 subscribed = natter_test_server_metric (server, PROFILE_SUBSCRIPTIONS);
  NatterTestWs *ws = natter_test_peer_open (server, peer);

  natter_test_wait_until (natter_test_server_metric (server, PROFILE_SUBSCRIPTIONS) > subscribed,
                          DELIVERY_MS);
  return ws;
}

/* Invites @callee; returns the frame that answered (call_ringing or
 * call_unavailable) with the client_call_id checked. */
static NatterFrame *
invite (NatterTestWs *caller, NatterTestPeer *callee)
{
  g_autofree char *client_call_id = natter_test_ws_uuid ();
  NatterFrame *reply = NULL;

  natter_test_ws_send_printf (caller,
                              "{\"type\":\"call_invitation\",\"client_call_id\":\"%s\","
                              "\"to_profile_id\":%" G_GINT64_FORMAT ",\"to_profile_type\":\"%s\","
                              "\"call_type\":\"video\",\"offer\":" OFFER "}",
                              client_call_id, callee->profile->profile_id,
                              callee->profile->profile_type);
  natter_test_wait_until (natter_test_ws_count (caller, "call_ringing") > 0 ||
                            natter_test_ws_count (caller, "call_unavailable") > 0,
                          DELIVERY_MS);
  reply = natter_test_ws_wait_for (caller, "call_ringing", 0);
  if (reply == NULL)
    reply = natter_test_ws_wait_for (caller, "call_unavailable", 0);
  g_assert_cmpstr (reply->client_call_id, ==, client_call_id);
  return reply;
}

static gint64
start_call (NatterTestWs *caller, NatterTestPeer *callee)
{
  g_autoptr (NatterFrame) ringing = invite (caller, callee);

  g_assert_cmpint (ringing->type, ==, NATTER_FRAME_CALL_RINGING);
  g_assert_cmpint (ringing->call_log_id, >, 0);
  return ringing->call_log_id;
}

static void
expect_invitation (NatterTestWs *ws, gint64 call_log_id, const NatterProfile *caller)
{
  g_autoptr (NatterFrame) invitation = natter_test_ws_expect (ws, "call_invitation");

  g_assert_cmpint (invitation->call_log_id, ==, call_log_id);
  g_assert_cmpint (invitation->from_profile_id, ==, caller->profile_id);
  g_assert_cmpstr (invitation->from_profile_type, ==, caller->profile_type);
  g_assert_cmpstr (invitation->call_type, ==, "video");
  g_assert_nonnull (invitation->offer);
  g_assert_nonnull (strstr (invitation->offer->sdp, "o=- 1 1"));
  g_assert_nonnull (invitation->expires_at);
}

static void
send_candidate (NatterTestWs *ws, gint64 call_log_id, const char *candidate)
{
  natter_test_ws_send_printf (ws,
                              "{\"type\":\"ice_candidate\",\"call_log_id\":%" G_GINT64_FORMAT
                              ",\"candidate\":{\"candidate\":\"%s\",\"sdpMid\":\"0\","
                              "\"sdpMLineIndex\":0}}",
                              call_log_id, candidate);
}

static void
expect_candidate (NatterTestWs *ws, gint64 call_log_id, const char *candidate)
{
  g_autoptr (NatterFrame) frame = natter_test_ws_expect (ws, "ice_candidate");

  g_assert_cmpint (frame->call_log_id, ==, call_log_id);
  g_assert_nonnull (frame->candidate);
  g_assert_cmpstr (frame->candidate->candidate, ==, candidate);
}

static void
expect_call_frame (NatterTestWs *ws, const char *type, gint64 call_log_id, const char *reason)
{
  g_autoptr (NatterFrame) frame = natter_test_ws_expect (ws, type);

  g_assert_cmpint (frame->call_log_id, ==, call_log_id);
  g_assert_cmpstr (frame->reason, ==, reason);
}

static void
on_reply (NatterRedisConnection *connection, const redisReply *reply, gpointer user_data)
{
  char **out = user_data;

  if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
    *out = g_strdup ("error");
  else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
    GString *text = g_string_new (NULL);

    /* "state owner answered_by", "-" for a field not there */
    for (size_t i = 0; i < 3; i++)
      g_string_append_printf (text, "%s%s", i > 0 ? " " : "",
                              reply->element[i]->type == REDIS_REPLY_STRING ? reply->element[i]->str
                                                                            : "-");
    *out = g_string_free (text, FALSE);
  } else
    *out = g_strdup ("unexpected");
}

/* The call's hash in Redis: "state owner answered_by" ("- - -" once gone). */
static char *
call_in_redis (gint64 call_log_id)
{
  g_autoptr (NatterRedisConnection) connection =
    natter_redis_connection_new ("127.0.0.1", natter_test_redis_get_port (cluster.redis), "test");
  g_autofree char *key = g_strdup_printf ("natter:call:%" G_GINT64_FORMAT, call_log_id);
  const char *argv[] = { "HMGET", key, "state", "owner", "answered_by" };
  size_t lengths[G_N_ELEMENTS (argv)];
  char *value = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (argv); i++)
    lengths[i] = strlen (argv[i]);
  natter_redis_connection_start (connection);
  natter_test_wait_until (
    natter_redis_connection_get_state (connection) == NATTER_REDIS_CONNECTION_READY, DELIVERY_MS);
  g_assert_true (natter_redis_connection_command (connection, on_reply, &value, G_N_ELEMENTS (argv),
                                                  argv, lengths));
  natter_test_wait_until (value != NULL, DELIVERY_MS);
  return value;
}

static gboolean
call_in_redis_is (gint64 call_log_id, const char *expected)
{
  g_autofree char *value = call_in_redis (call_log_id);

  return g_str_equal (value, expected);
}

/* A callee with a device on the caller's node and one on another rings on
 * both, gets the caller's candidates on both, and both stop when the
 * caller cancels; a callee online only on another node rings there (not
 * "offline"), one online nowhere is still offline. */
static void
test_rings_on_every_node (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = NULL;
  g_autoptr (NatterTestWs) bob_a = NULL;
  g_autoptr (NatterTestWs) bob_b = NULL;
  g_autoptr (NatterFrame) offline = NULL;
  g_autoptr (NatterTestPeer) carol = NULL;
  gint64 call_log_id;

  if (fixture->skipped)
    return;
  alice = open_on (cluster.a, fixture->alice);
  carol = natter_test_peer_new (cluster.c, "carol-away", "parent");
  offline = invite (alice, carol);
  g_assert_cmpint (offline->type, ==, NATTER_FRAME_CALL_UNAVAILABLE);
  g_assert_cmpstr (offline->reason, ==, "offline");

  /* Only on another node: it rings there. */
  bob_b = open_on (cluster.b, fixture->bob);
  call_log_id = start_call (alice, fixture->bob);
  expect_invitation (bob_b, call_log_id, fixture->alice->profile);
  natter_test_ws_send_printf (
    alice, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", call_log_id);
  expect_call_frame (bob_b, "call_ended", call_log_id, "caller_cancelled");

  /* On both nodes: both ring, both get the candidates, both stop. */
  bob_a = open_on (cluster.a, fixture->bob);
  call_log_id = start_call (alice, fixture->bob);
  expect_invitation (bob_a, call_log_id, fixture->alice->profile);
  expect_invitation (bob_b, call_log_id, fixture->alice->profile);
  send_candidate (alice, call_log_id, "candidate:1 1 udp 1 127.0.0.1 5000 typ host");
  expect_candidate (bob_a, call_log_id, "candidate:1 1 udp 1 127.0.0.1 5000 typ host");
  expect_candidate (bob_b, call_log_id, "candidate:1 1 udp 1 127.0.0.1 5000 typ host");
  natter_test_ws_send_printf (
    alice, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", call_log_id);
  expect_call_frame (bob_a, "call_ended", call_log_id, "caller_cancelled");
  expect_call_frame (bob_b, "call_ended", call_log_id, "caller_cancelled");
}

/* The callee's devices on two nodes answer at once, RACES times: each
 * time the caller gets one answer, one device got answered_elsewhere and
 * the other carries the call to its end. Every other call comes from a
 * third node, so that both answers cross the bus and either may win. */
static void
test_answer_race (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice_a = NULL;
  g_autoptr (NatterTestWs) alice_c = NULL;
  g_autoptr (NatterTestWs) bob_a = NULL;
  g_autoptr (NatterTestWs) bob_b = NULL;
  guint won_on_b = 0;

  if (fixture->skipped)
    return;
  alice_a = open_on (cluster.a, fixture->alice);
  alice_c = open_on (cluster.c, fixture->alice);
  bob_a = open_on (cluster.a, fixture->bob);
  bob_b = open_on (cluster.b, fixture->bob);

  for (guint i = 0; i < RACES; i++) {
    g_autoptr (NatterFrame) answer = NULL;
    g_autoptr (NatterFrame) cancelled = NULL;
    NatterTestWs *alice = i % 2 == 0 ? alice_a : alice_c;
    gint64 call_log_id = start_call (alice, fixture->bob);
    NatterTestWs *winner;
    NatterTestWs *loser;

    expect_invitation (bob_a, call_log_id, fixture->alice->profile);
    expect_invitation (bob_b, call_log_id, fixture->alice->profile);
    /* At once: neither device waits for the other. */
    natter_test_ws_send_printf (bob_b,
                                "{\"type\":\"call_answer\",\"call_log_id\":%" G_GINT64_FORMAT
                                ",\"answer\":" ANSWER "}",
                                call_log_id);
    natter_test_ws_send_printf (bob_a,
                                "{\"type\":\"call_answer\",\"call_log_id\":%" G_GINT64_FORMAT
                                ",\"answer\":" ANSWER "}",
                                call_log_id);

    answer = natter_test_ws_expect (alice, "call_answer");
    g_assert_cmpint (answer->call_log_id, ==, call_log_id);
    natter_test_wait_until (natter_test_ws_count (bob_a, "call_cancelled") +
                                natter_test_ws_count (bob_b, "call_cancelled") >
                              0,
                            DELIVERY_MS);
    loser = natter_test_ws_count (bob_a, "call_cancelled") > 0 ? bob_a : bob_b;
    winner = loser == bob_a ? bob_b : bob_a;
    won_on_b += winner == bob_b;
    cancelled = natter_test_ws_expect (loser, "call_cancelled");
    g_assert_cmpint (cancelled->call_log_id, ==, call_log_id);
    g_assert_cmpstr (cancelled->reason, ==, "answered_elsewhere");

    /* The caller hangs up: only the winner hears it. */
    natter_test_ws_send_printf (
      alice, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", call_log_id);
    expect_call_frame (winner, "call_ended", call_log_id, NULL);
    g_assert_cmpuint (natter_test_ws_count (winner, "call_cancelled"), ==, 0);
    g_assert_cmpuint (natter_test_ws_count (alice, "call_answer"), ==, 0);
    g_assert_cmpuint (natter_test_ws_count (loser, "call_ended"), ==, 0);
    natter_test_ws_clear (alice_a);
    natter_test_ws_clear (alice_c);
    natter_test_ws_clear (bob_a);
    natter_test_ws_clear (bob_b);
  }
  g_test_message ("the device on the other node won %u of %u races", won_on_b, RACES);
}

/* A device that connects to a third node while the call rings gets the
 * invitation and the candidates so far, and its answer wins over the
 * device on the second node. */
static void
test_late_device_on_third_node (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = NULL;
  g_autoptr (NatterTestWs) bob_b = NULL;
  g_autoptr (NatterTestWs) bob_c = NULL;
  g_autoptr (NatterFrame) answer = NULL;
  gint64 call_log_id;

  if (fixture->skipped)
    return;
  alice = open_on (cluster.a, fixture->alice);
  bob_b = open_on (cluster.b, fixture->bob);
  call_log_id = start_call (alice, fixture->bob);
  expect_invitation (bob_b, call_log_id, fixture->alice->profile);
  send_candidate (alice, call_log_id, "candidate:7 1 udp 1 127.0.0.1 5007 typ host");
  expect_candidate (bob_b, call_log_id, "candidate:7 1 udp 1 127.0.0.1 5007 typ host");

  bob_c = open_on (cluster.c, fixture->bob);
  expect_invitation (bob_c, call_log_id, fixture->alice->profile);
  expect_candidate (bob_c, call_log_id, "candidate:7 1 udp 1 127.0.0.1 5007 typ host");

  natter_test_ws_send_printf (
    bob_c, "{\"type\":\"call_answer\",\"call_log_id\":%" G_GINT64_FORMAT ",\"answer\":" ANSWER "}",
    call_log_id);
  answer = natter_test_ws_expect (alice, "call_answer");
  g_assert_cmpint (answer->call_log_id, ==, call_log_id);
  g_assert_nonnull (strstr (answer->answer->sdp, "o=- 2 1"));
  expect_call_frame (bob_b, "call_cancelled", call_log_id, "answered_elsewhere");

  natter_test_ws_send_printf (
    alice, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", call_log_id);
  expect_call_frame (bob_c, "call_ended", call_log_id, NULL);
}

/* Bob, rung from node A, calls Alice back from node B: glare, naming the
 * call that rings; Alice's call survives and can be answered. */
static void
test_glare_across_nodes (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = NULL;
  g_autoptr (NatterTestWs) bob_b = NULL;
  g_autoptr (NatterFrame) glare = NULL;
  g_autoptr (NatterFrame) answer = NULL;
  gint64 call_log_id;

  if (fixture->skipped)
    return;
  alice = open_on (cluster.a, fixture->alice);
  bob_b = open_on (cluster.b, fixture->bob);
  call_log_id = start_call (alice, fixture->bob);
  expect_invitation (bob_b, call_log_id, fixture->alice->profile);

  glare = invite (bob_b, fixture->alice);
  g_assert_cmpint (glare->type, ==, NATTER_FRAME_CALL_UNAVAILABLE);
  g_assert_cmpstr (glare->reason, ==, "glare");
  g_assert_cmpint (glare->ringing_call_log_id, ==, call_log_id);
  g_assert_cmpint (glare->call_log_id, ==, 0);
  g_assert_cmpuint (natter_test_ws_count (alice, "call_invitation"), ==, 0);

  natter_test_ws_send_printf (
    bob_b, "{\"type\":\"call_answer\",\"call_log_id\":%" G_GINT64_FORMAT ",\"answer\":" ANSWER "}",
    call_log_id);
  answer = natter_test_ws_expect (alice, "call_answer");
  g_assert_cmpint (answer->call_log_id, ==, call_log_id);
  natter_test_ws_send_printf (
    alice, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", call_log_id);
  expect_call_frame (bob_b, "call_ended", call_log_id, NULL);
}

/* Alice on node A and Bob on node B invite each other at the same moment,
 * RACES times: each time exactly one call rings (its callee gets the
 * invitation) and the other invitation gets glare naming it, with no row
 * of its own; never two calls, never two refusals. */
static void
test_glare_race (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = NULL;
  g_autoptr (NatterTestWs) bob = NULL;
  guint alice_won = 0;

  if (fixture->skipped)
    return;
  alice = open_on (cluster.a, fixture->alice);
  bob = open_on (cluster.b, fixture->bob);

  for (guint i = 0; i < RACES; i++) {
    NatterTestWs *sides[2] = { alice, bob };
    NatterTestPeer *callees[2] = { fixture->bob, fixture->alice };
    g_autoptr (NatterFrame) ringing = NULL;
    g_autoptr (NatterFrame) glare = NULL;
    NatterTestWs *caller;
    NatterTestWs *callee;

    for (guint side = 0; side < 2; side++) {
      g_autofree char *client_call_id = natter_test_ws_uuid ();

      natter_test_ws_send_printf (
        sides[side],
        "{\"type\":\"call_invitation\",\"client_call_id\":\"%s\","
        "\"to_profile_id\":%" G_GINT64_FORMAT ",\"to_profile_type\":\"%s\","
        "\"call_type\":\"video\",\"offer\":" OFFER "}",
        client_call_id, callees[side]->profile->profile_id, callees[side]->profile->profile_type);
    }
    for (guint side = 0; side < 2; side++)
      natter_test_wait_until (natter_test_ws_count (sides[side], "call_ringing") +
                                  natter_test_ws_count (sides[side], "call_unavailable") >
                                0,
                              DELIVERY_MS);
    g_assert_cmpuint (natter_test_ws_count (alice, "call_ringing") +
                        natter_test_ws_count (bob, "call_ringing"),
                      ==, 1);
    caller = natter_test_ws_count (alice, "call_ringing") > 0 ? alice : bob;
    callee = caller == alice ? bob : alice;
    alice_won += caller == alice;
    ringing = natter_test_ws_expect (caller, "call_ringing");
    glare = natter_test_ws_expect (callee, "call_unavailable");
    g_assert_cmpstr (glare->reason, ==, "glare");
    g_assert_cmpint (glare->ringing_call_log_id, ==, ringing->call_log_id);
    g_assert_cmpint (glare->call_log_id, ==, 0);
    expect_invitation (callee, ringing->call_log_id,
                       caller == alice ? fixture->alice->profile : fixture->bob->profile);

    /* The caller gives up; Redis forgets the call before the next race. */
    natter_test_ws_send_printf (caller,
                                "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}",
                                ringing->call_log_id);
    expect_call_frame (callee, "call_ended", ringing->call_log_id, "caller_cancelled");
    natter_test_wait_until (call_in_redis_is (ringing->call_log_id, "- - -"), DELIVERY_MS);
    g_assert_cmpuint (natter_test_ws_count (caller, "call_unavailable"), ==, 0);
    g_assert_cmpuint (natter_test_ws_count (callee, "call_ringing"), ==, 0);
    natter_test_ws_clear (alice);
    natter_test_ws_clear (bob);
  }
  g_test_message ("Alice's call survived %u of %u races", alice_won, RACES);
}

/* A call answered across nodes: SDP and ICE both ways, an ICE restart
 * from the callee, media state, and the callee's hang-up ends it for both
 * (a frame for it afterwards finds no call). */
static void
test_answered_call_across_nodes (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = NULL;
  g_autoptr (NatterTestWs) bob_b = NULL;
  g_autoptr (NatterFrame) answer = NULL;
  g_autoptr (NatterFrame) update = NULL;
  g_autoptr (NatterFrame) media = NULL;
  gint64 call_log_id;

  if (fixture->skipped)
    return;
  alice = open_on (cluster.a, fixture->alice);
  bob_b = open_on (cluster.b, fixture->bob);
  call_log_id = start_call (alice, fixture->bob);
  expect_invitation (bob_b, call_log_id, fixture->alice->profile);

  natter_test_ws_send_printf (
    bob_b, "{\"type\":\"call_answer\",\"call_log_id\":%" G_GINT64_FORMAT ",\"answer\":" ANSWER "}",
    call_log_id);
  answer = natter_test_ws_expect (alice, "call_answer");
  g_assert_cmpint (answer->call_log_id, ==, call_log_id);
  g_assert_cmpstr (answer->answer->type, ==, "answer");
  g_assert_nonnull (strstr (answer->answer->sdp, "o=- 2 1"));

  send_candidate (alice, call_log_id, "candidate:2 1 udp 1 127.0.0.1 6002 typ host");
  expect_candidate (bob_b, call_log_id, "candidate:2 1 udp 1 127.0.0.1 6002 typ host");
  send_candidate (bob_b, call_log_id, "candidate:3 1 udp 1 127.0.0.1 6003 typ host");
  expect_candidate (alice, call_log_id, "candidate:3 1 udp 1 127.0.0.1 6003 typ host");

  natter_test_ws_send_printf (
    bob_b, "{\"type\":\"call_update\",\"call_log_id\":%" G_GINT64_FORMAT ",\"offer\":" OFFER "}",
    call_log_id);
  update = natter_test_ws_expect (alice, "call_update");
  g_assert_cmpint (update->call_log_id, ==, call_log_id);
  g_assert_nonnull (update->offer);
  natter_test_ws_send_printf (alice,
                              "{\"type\":\"call_media_state\",\"call_log_id\":%" G_GINT64_FORMAT
                              ",\"audio_muted\":true,\"video_enabled\":false}",
                              call_log_id);
  media = natter_test_ws_expect (bob_b, "call_media_state");
  g_assert_cmpint (media->call_log_id, ==, call_log_id);
  g_assert_true (media->audio_muted);
  g_assert_false (media->video_enabled);

  natter_test_ws_send_printf (
    bob_b, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", call_log_id);
  expect_call_frame (alice, "call_ended", call_log_id, NULL);
  send_candidate (alice, call_log_id, "candidate:4 1 udp 1 127.0.0.1 6004 typ host");
  natter_frame_free (natter_test_ws_expect_error (alice, "not_found"));
}

/* The call's hash in Redis follows it: ringing with its owner, answered
 * with the connection that won the compare-and-set, gone once it ends. */
static void
test_call_in_redis (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = NULL;
  g_autoptr (NatterTestWs) bob_b = NULL;
  g_autoptr (NatterFrame) answer = NULL;
  g_autofree char *ringing = NULL;
  g_autofree char *answered = NULL;
  gint64 call_log_id;

  if (fixture->skipped)
    return;
  alice = open_on (cluster.a, fixture->alice);
  bob_b = open_on (cluster.b, fixture->bob);
  call_log_id = start_call (alice, fixture->bob);
  expect_invitation (bob_b, call_log_id, fixture->alice->profile);
  ringing = call_in_redis (call_log_id);
  g_assert_cmpstr (ringing, ==, "ringing node-a -");

  natter_test_ws_send_printf (
    bob_b, "{\"type\":\"call_answer\",\"call_log_id\":%" G_GINT64_FORMAT ",\"answer\":" ANSWER "}",
    call_log_id);
  answer = natter_test_ws_expect (alice, "call_answer");
  answered = call_in_redis (call_log_id);
  /* Bob's connection on node B, as its presence names it. */
  g_assert_true (g_str_has_prefix (answered, "answered node-a node-b:"));

  natter_test_ws_send_printf (
    alice, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", call_log_id);
  expect_call_frame (bob_b, "call_ended", call_log_id, NULL);
  natter_test_wait_until (call_in_redis_is (call_log_id, "- - -"), DELIVERY_MS);
}

/* The limit of ringing calls holds across nodes: two ring from Alice's
 * device on node A, a third from her device on node C is busy, though no
 * call rings on C. */
static void
test_busy_across_nodes (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice_a = NULL;
  g_autoptr (NatterTestWs) alice_c = NULL;
  g_autoptr (NatterTestWs) bob_b = NULL;
  g_autoptr (NatterTestWs) carol_b = NULL;
  g_autoptr (NatterTestWs) dan_b = NULL;
  g_autoptr (NatterTestPeer) carol = NULL;
  g_autoptr (NatterTestPeer) dan = NULL;
  g_autoptr (NatterFrame) busy = NULL;
  g_autofree char *carol_name = g_strdup_printf ("carol%u", cluster.n_peers);
  g_autofree char *dan_name = g_strdup_printf ("dan%u", cluster.n_peers);

  if (fixture->skipped)
    return;
  carol = natter_test_peer_new (cluster.b, carol_name, "student");
  dan = natter_test_peer_new (cluster.b, dan_name, "student");
  alice_a = open_on (cluster.a, fixture->alice);
  alice_c = open_on (cluster.c, fixture->alice);
  bob_b = open_on (cluster.b, fixture->bob);
  carol_b = open_on (cluster.b, carol);
  dan_b = open_on (cluster.b, dan);

  start_call (alice_a, fixture->bob);
  start_call (alice_a, carol);
  busy = invite (alice_c, dan);
  g_assert_cmpint (busy->type, ==, NATTER_FRAME_CALL_UNAVAILABLE);
  g_assert_cmpstr (busy->reason, ==, "busy");
  g_assert_cmpint (busy->call_log_id, ==, 0);
  g_assert_cmpuint (natter_test_ws_count (dan_b, "call_invitation"), ==, 0);
}

/* The callee's device that answered drops and comes back on another
 * node: the call goes on there (candidates both ways, the hang-up), as a
 * reconnect to the same node does. */
static void
test_callee_back_on_another_node (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = NULL;
  g_autoptr (NatterTestWs) bob_b = NULL;
  g_autoptr (NatterTestWs) bob_c = NULL;
  g_autoptr (NatterFrame) answer = NULL;
  gint64 call_log_id;

  if (fixture->skipped)
    return;
  alice = open_on (cluster.a, fixture->alice);
  bob_b = open_on (cluster.b, fixture->bob);
  call_log_id = start_call (alice, fixture->bob);
  expect_invitation (bob_b, call_log_id, fixture->alice->profile);
  natter_test_ws_send_printf (
    bob_b, "{\"type\":\"call_answer\",\"call_log_id\":%" G_GINT64_FORMAT ",\"answer\":" ANSWER "}",
    call_log_id);
  answer = natter_test_ws_expect (alice, "call_answer");

  natter_test_ws_close (bob_b);
  g_assert_cmpuint (natter_test_ws_wait_closed (bob_b, natter_test_scale_ms (DELIVERY_MS)), !=, 0);
  bob_c = open_on (cluster.c, fixture->bob);

  /* Until it speaks, what Alice sends goes to every device of Bob's. */
  send_candidate (alice, call_log_id, "candidate:5 1 udp 1 127.0.0.1 6005 typ host");
  expect_candidate (bob_c, call_log_id, "candidate:5 1 udp 1 127.0.0.1 6005 typ host");
  send_candidate (bob_c, call_log_id, "candidate:6 1 udp 1 127.0.0.1 6006 typ host");
  expect_candidate (alice, call_log_id, "candidate:6 1 udp 1 127.0.0.1 6006 typ host");
  natter_test_ws_send_printf (
    alice, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", call_log_id);
  expect_call_frame (bob_c, "call_ended", call_log_id, NULL);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/server-node-calls/rings-on-every-node", test_rings_on_every_node);
  ADD ("/natter/server-node-calls/answer-race", test_answer_race);
  ADD ("/natter/server-node-calls/late-device-on-third-node", test_late_device_on_third_node);
  ADD ("/natter/server-node-calls/glare-across-nodes", test_glare_across_nodes);
  ADD ("/natter/server-node-calls/glare-race", test_glare_race);
  ADD ("/natter/server-node-calls/answered-call-across-nodes", test_answered_call_across_nodes);
  ADD ("/natter/server-node-calls/call-in-redis", test_call_in_redis);
  ADD ("/natter/server-node-calls/busy-across-nodes", test_busy_across_nodes);
  ADD ("/natter/server-node-calls/callee-back-on-another-node", test_callee_back_on_another_node);
#undef ADD

  status = g_test_run ();
  cluster_stop ();
  return status;
}
