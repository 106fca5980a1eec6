/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-nodes"

/* Several nodes (issue 17): two real natter-server processes share one
 * SQLite database file (both write it through their writer threads) and
 * one real redis-server. Chat between clients on different nodes arrives
 * once, in order, with gap-free event ids, also while Redis restarts.
 * Skipped when redis-server is not installed. */

#include "config.h"

#include <string.h>

#include "natter-test-server.h"
#include "natter-test-services.h"
#include "natter-test-ws.h"

#define N_MESSAGES 20
/* How long a delivery may take, on a quiet machine. */
#define DELIVERY_MS 5000
#define PROFILE_SUBSCRIPTIONS "natter_bus_subscribed_total{kind=\"profile\"}"

/* One redis-server and two nodes for every test: starting natter-server
 * twice per test would cost most of the file's time under valgrind. Each
 * test has accounts of its own. */
typedef struct {
  NatterTestRedis *redis;
  NatterTestServer *a;
  NatterTestServer *b;
  gboolean no_redis;
  guint n_peers;
} Cluster;

static Cluster cluster;

static gboolean
cluster_start (void)
{
  g_autofree char *uri = NULL;

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

  uri = g_strdup (natter_test_redis_get_uri (cluster.redis));
  {
    /* Every test registers two accounts from 127.0.0.1. */
    const char *args_a[] = { "--redis", uri, "--node-id", "node-a", "--registration-burst",
                             "100",     NULL };

    cluster.a = natter_test_server_new (args_a);
  }
  {
    /* The harness gives each server a --db of its own; a later one wins. */
    const char *args_b[] = { "--redis",
                             uri,
                             "--node-id",
                             "node-b",
                             "--registration-burst",
                             "100",
                             "--db",
                             natter_test_server_get_db_path (cluster.a),
                             NULL };

    cluster.b = natter_test_server_new (args_b);
  }
  return TRUE;
}

static void
cluster_stop (void)
{
  /* B first: A's folder holds the database. */
  g_clear_pointer (&cluster.b, natter_test_server_free);
  g_clear_pointer (&cluster.a, natter_test_server_free);
  g_clear_pointer (&cluster.redis, natter_test_redis_free);
}

typedef struct {
  NatterTestRedis *redis; /* the cluster's; NULL after a skip */
  NatterTestServer *a;
  NatterTestServer *b;
  NatterTestPeer *alice;
  NatterTestPeer *bob;
  gint64 conversation_id;
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autofree char *alice = NULL;
  g_autofree char *bob = NULL;

  if (!cluster_start ())
    return;
  fixture->redis = cluster.redis;
  fixture->a = cluster.a;
  fixture->b = cluster.b;

  /* Accounts made on one node are the other's too: one database. */
  cluster.n_peers++;
  alice = g_strdup_printf ("alice%u", cluster.n_peers);
  bob = g_strdup_printf ("bob%u", cluster.n_peers);
  fixture->alice = natter_test_peer_new (fixture->a, alice, "tutor");
  fixture->bob = natter_test_peer_new (fixture->b, bob, "student");
  fixture->conversation_id =
    natter_test_peer_conversation_with (fixture->b, fixture->alice, fixture->bob);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_clear_pointer (&fixture->alice, natter_test_peer_free);
  g_clear_pointer (&fixture->bob, natter_test_peer_free);
}

/* A connection and the event ids it learnt, from acks and events. */
typedef struct {
  NatterTestWs *ws;
  gint64 hello_last_event_id;
  GArray *event_ids; /* gint64: of the chat_message events, in the order they arrived */
  GPtrArray *texts;  /* char *: their chat texts */
  GArray *ack_ids;   /* gint64: of the message_acks */
} Client;

static Client *
client_open (NatterTestServer *server, NatterTestPeer *peer)
{
  Client *client = g_new0 (Client, 1);
  g_autoptr (NatterFrame) hello = NULL;
  guint status = 0;

  client->ws = natter_test_ws_connect (natter_test_server_get_url (server),
                                       peer->profile->profile_id, peer->profile->profile_type,
                                       peer->token, NULL, NATTER_TEST_WS_TOKEN_IN_HEADER, &status);
  g_assert_nonnull (client->ws);
  hello = natter_test_ws_expect (client->ws, "hello");
  client->hello_last_event_id = hello->last_event_id;
  client->event_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  client->ack_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  client->texts = g_ptr_array_new_with_free_func (g_free);
  return client;
}

static void
client_free (Client *client)
{
  natter_test_ws_free (client->ws);
  g_array_unref (client->event_ids);
  g_array_unref (client->ack_ids);
  g_ptr_array_unref (client->texts);
  g_free (client);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Client, client_free)

/* Takes what arrived so far: chat_message events and message_acks. */
static void
client_drain (Client *client)
{
  NatterFrame *frame;

  while ((frame = natter_test_ws_wait_for (client->ws, "chat_message", 0)) != NULL) {
    g_array_append_val (client->event_ids, frame->event_id);
    g_ptr_array_add (client->texts, g_strdup (frame->message->text));
    natter_frame_free (frame);
  }
  while ((frame = natter_test_ws_wait_for (client->ws, "message_ack", 0)) != NULL) {
    g_array_append_val (client->ack_ids, frame->event_id);
    natter_frame_free (frame);
  }
}

static gboolean
client_has (Client *client, guint n_events)
{
  client_drain (client);
  return client->event_ids->len + client->ack_ids->len >= n_events;
}

static void
wait_for_events (Client *client, guint n_events)
{
  natter_test_wait_until (client_has (client, n_events), DELIVERY_MS);
}

static int
compare_int64 (gconstpointer a, gconstpointer b)
{
  gint64 first = *(const gint64 *) a;
  gint64 second = *(const gint64 *) b;

  return first < second ? -1 : first > second;
}

/* Exactly hello_last_event_id + 1 … + n, each once: no gap, no copy. */
static void
assert_gap_free (Client *client, guint n_events)
{
  g_autoptr (GArray) sorted = NULL;

  /* A late duplicate would come after the count was reached. */
  natter_test_ws_assert_none (client->ws, "chat_message", 300);
  client_drain (client);
  for (guint i = 0; i < client->event_ids->len; i++)
    g_test_message ("event %" G_GINT64_FORMAT ": %s", g_array_index (client->event_ids, gint64, i),
                    (const char *) g_ptr_array_index (client->texts, i));
  g_assert_cmpuint (client->event_ids->len + client->ack_ids->len, ==, n_events);

  sorted = g_array_copy (client->event_ids);
  g_array_append_vals (sorted, client->ack_ids->data, client->ack_ids->len);
  g_array_sort (sorted, compare_int64);
  for (guint i = 0; i < sorted->len; i++)
    g_assert_cmpint (g_array_index (sorted, gint64, i), ==, client->hello_last_event_id + 1 + i);
}

/* Events come in id order. */
static void
assert_events_in_order (Client *client)
{
  for (guint i = 1; i < client->event_ids->len; i++)
    g_assert_cmpint (g_array_index (client->event_ids, gint64, i), >,
                     g_array_index (client->event_ids, gint64, i - 1));
}

/* The chat_message texts that start with @prefix are "@prefix 0" to
 * "@prefix @n - 1", in that order. */
static void
assert_texts_from (Client *client, const char *prefix, guint n)
{
  guint next = 0;

  for (guint i = 0; i < client->texts->len; i++) {
    const char *text = g_ptr_array_index (client->texts, i);
    g_autofree char *expected = g_strdup_printf ("%s %u", prefix, next);

    if (!g_str_has_prefix (text, prefix))
      continue;
    g_assert_cmpstr (text, ==, expected);
    next++;
  }
  g_assert_cmpuint (next, ==, n);
}

static void
send_chat (Client *client, gint64 conversation_id, const char *id, const char *text)
{
  natter_test_ws_send_printf (client->ws,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"%s\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"%s\"}",
                              id, conversation_id, text);
}

/* Alice on node A and Bob on node B write at the same time, each node
 * storing its own messages into the one file: every event of each profile
 * reaches each of its connections once, in order, ids without a gap,
 * whichever node stored it. Alice's second device on node B gets her own
 * messages from A as events too. */
static void
test_chat_across_nodes (Fixture *fixture, gconstpointer data)
{
  g_autoptr (Client) alice = NULL;
  g_autoptr (Client) alice_on_b = NULL;
  g_autoptr (Client) bob = NULL;

  if (fixture->redis == NULL)
    return;

  alice = client_open (fixture->a, fixture->alice);
  alice_on_b = client_open (fixture->b, fixture->alice);
  bob = client_open (fixture->b, fixture->bob);

  for (guint i = 0; i < N_MESSAGES; i++) {
    g_autofree char *alice_id = g_strdup_printf ("a-%u", i);
    g_autofree char *alice_text = g_strdup_printf ("from alice %u", i);
    g_autofree char *bob_id = g_strdup_printf ("b-%u", i);
    g_autofree char *bob_text = g_strdup_printf ("from bob %u", i);

    send_chat (alice, fixture->conversation_id, alice_id, alice_text);
    send_chat (bob, fixture->conversation_id, bob_id, bob_text);
  }

  /* Each message is one event for each participant. */
  wait_for_events (alice, 2 * N_MESSAGES);
  wait_for_events (alice_on_b, 2 * N_MESSAGES);
  wait_for_events (bob, 2 * N_MESSAGES);
  assert_gap_free (alice, 2 * N_MESSAGES);
  assert_gap_free (alice_on_b, 2 * N_MESSAGES);
  assert_gap_free (bob, 2 * N_MESSAGES);
  g_assert_cmpuint (alice->ack_ids->len, ==, N_MESSAGES);
  g_assert_cmpuint (bob->ack_ids->len, ==, N_MESSAGES);
  g_assert_cmpuint (alice_on_b->ack_ids->len, ==, 0);
  assert_events_in_order (alice);
  assert_events_in_order (alice_on_b);
  assert_events_in_order (bob);

  /* Each sender's messages arrive on the other node in the order sent. */
  assert_texts_from (bob, "from alice", N_MESSAGES);
  assert_texts_from (alice, "from bob", N_MESSAGES);
  assert_texts_from (alice_on_b, "from alice", N_MESSAGES);
  assert_texts_from (alice_on_b, "from bob", N_MESSAGES);
}

/* Redis dies and comes back on the same port while Alice writes: what was
 * published meanwhile is lost, and node B reads it from the store once it
 * subscribed again; the messages after the restart flow live. Nothing is
 * lost or doubled. */
static void
test_redis_restart (Fixture *fixture, gconstpointer data)
{
  g_autoptr (Client) alice = NULL;
  g_autoptr (Client) bob = NULL;
  guint64 gap_events, publish_failures, missed;

  if (fixture->redis == NULL)
    return;

  alice = client_open (fixture->a, fixture->alice);
  bob = client_open (fixture->b, fixture->bob);
  gap_events = natter_test_server_metric (fixture->b, "natter_bus_gap_events_total");
  publish_failures = natter_test_server_metric (fixture->a, "natter_bus_publish_failures_total");

  for (guint i = 0; i < N_MESSAGES; i++) {
    g_autofree char *id = g_strdup_printf ("r-%u", i);
    g_autofree char *text = g_strdup_printf ("message %u", i);

    if (i == N_MESSAGES / 4)
      natter_test_redis_kill (fixture->redis);
    if (i == N_MESSAGES / 2)
      natter_test_redis_restart (fixture->redis);
    send_chat (alice, fixture->conversation_id, id, text);
    /* Stored with or without Redis: the ack comes either way. */
    wait_for_events (alice, i + 1);
  }

  wait_for_events (bob, N_MESSAGES);
  assert_gap_free (bob, N_MESSAGES);
  assert_gap_free (alice, N_MESSAGES);
  assert_events_in_order (bob);
  for (guint i = 0; i < N_MESSAGES; i++) {
    g_autofree char *expected = g_strdup_printf ("message %u", i);

    g_assert_cmpstr (g_ptr_array_index (bob->texts, i), ==, expected);
  }

  /* Each message of the outage either failed to publish on node A, which
   * kept it and published it again once Redis was back, or was lost with
   * A's connection, and node B read it from the store; which of the two
   * is timing (B may read its gaps before or after A's kept events come),
   * the order and the ids are checked above. */
  missed = natter_test_server_metric (fixture->a, "natter_bus_publish_failures_total") -
           publish_failures +
           natter_test_server_metric (fixture->b, "natter_bus_gap_events_total") - gap_events;
  g_assert_cmpuint (missed, >=, N_MESSAGES / 4);

  /* Subscribed again: a message after the restart flows live. */
  send_chat (alice, fixture->conversation_id, "r-last", "after the restart");
  wait_for_events (bob, N_MESSAGES + 1);
  g_assert_cmpstr (g_ptr_array_index (bob->texts, N_MESSAGES), ==, "after the restart");
}

/* Until @server's subscriptions to profile channels confirmed reached
 * @n: a frame stored nowhere that is published before is not read back. */
static void
wait_for_subscriptions (NatterTestServer *server, guint64 n)
{
  natter_test_wait_until (natter_test_server_metric (server, "natter_bus_subscribed_total") >= n,
                          DELIVERY_MS);
}

/* Typing crosses nodes both ways, to the others only. */
static void
test_typing_across_nodes (Fixture *fixture, gconstpointer data)
{
  g_autoptr (Client) alice = NULL;
  g_autoptr (Client) bob = NULL;
  g_autoptr (Client) bob_on_a = NULL;
  g_autoptr (NatterFrame) typing = NULL;
  g_autoptr (NatterFrame) on_bob_a = NULL;
  g_autoptr (NatterFrame) back = NULL;
  guint64 subscribed_a;
  guint64 subscribed_b;

  if (fixture->redis == NULL)
    return;

  subscribed_a = natter_test_server_metric (fixture->a, PROFILE_SUBSCRIPTIONS);
  subscribed_b = natter_test_server_metric (fixture->b, PROFILE_SUBSCRIPTIONS);
  alice = client_open (fixture->a, fixture->alice);
  bob_on_a = client_open (fixture->a, fixture->bob);
  bob = client_open (fixture->b, fixture->bob);
  wait_for_subscriptions (fixture->a, subscribed_a + 2);
  wait_for_subscriptions (fixture->b, subscribed_b + 1);

  natter_test_ws_send_printf (
    alice->ws, "{\"type\":\"typing\",\"conversation_id\":%" G_GINT64_FORMAT ",\"active\":true}",
    fixture->conversation_id);
  typing = natter_test_ws_expect (bob->ws, "typing");
  g_assert_cmpint (typing->conversation_id, ==, fixture->conversation_id);
  g_assert_true (typing->active);
  g_assert_cmpint (typing->from_profile_id, ==, fixture->alice->profile->profile_id);
  g_assert_cmpstr (typing->from_name, ==, fixture->alice->profile->display_name);
  on_bob_a = natter_test_ws_expect (bob_on_a->ws, "typing");
  g_assert_cmpint (on_bob_a->from_profile_id, ==, fixture->alice->profile->profile_id);

  natter_test_ws_send_printf (
    bob->ws, "{\"type\":\"typing\",\"conversation_id\":%" G_GINT64_FORMAT ",\"active\":false}",
    fixture->conversation_id);
  back = natter_test_ws_expect (alice->ws, "typing");
  g_assert_false (back->active);
  g_assert_cmpint (back->from_profile_id, ==, fixture->bob->profile->profile_id);

  /* Once each, and never to the one typing. */
  natter_test_ws_assert_none (bob->ws, "typing", 300);
  g_assert_cmpuint (natter_test_ws_count (bob_on_a->ws, "typing"), ==, 0);
  g_assert_cmpuint (natter_test_ws_count (alice->ws, "typing"), ==, 0);
}

/* The last presence frame about @about that reached @ws within @timeout_ms
 * (NULL: none); earlier ones are dropped. */
static NatterFrame *
last_presence_of (NatterTestWs *ws, const NatterProfile *about, guint timeout_ms)
{
  NatterFrame *last = NULL;
  NatterFrame *frame;

  while ((frame = natter_test_ws_wait_for (ws, "presence", last == NULL ? timeout_ms : 300)) !=
         NULL) {
    if (frame->profile != NULL && frame->profile->profile_id == about->profile_id &&
        g_strcmp0 (frame->profile->profile_type, about->profile_type) == 0) {
      g_clear_pointer (&last, natter_frame_free);
      last = frame;
    } else {
      natter_frame_free (frame);
    }
  }
  return last;
}

/* A block made through one node stops presence between the two wherever
 * their connections are: Bob (on B) blocks Alice (on A) through node A's
 * API, and each hears the other go offline. */
static void
test_block_across_nodes (Fixture *fixture, gconstpointer data)
{
  g_autoptr (Client) alice = NULL;
  g_autoptr (Client) bob = NULL;
  g_autoptr (NatterFrame) bob_online = NULL;
  g_autoptr (NatterFrame) alice_hears = NULL;
  g_autoptr (NatterFrame) bob_hears = NULL;
  g_autofree char *path = NULL;
  g_autofree char *body = NULL;
  g_autofree char *answer = NULL;
  guint64 subscribed_a;
  guint64 subscribed_b;
  guint status = 0;

  if (fixture->redis == NULL)
    return;

  natter_test_peers_befriend (fixture->a, fixture->alice, fixture->bob);
  subscribed_a = natter_test_server_metric (fixture->a, PROFILE_SUBSCRIPTIONS);
  subscribed_b = natter_test_server_metric (fixture->b, PROFILE_SUBSCRIPTIONS);
  alice = client_open (fixture->a, fixture->alice);
  bob = client_open (fixture->b, fixture->bob);
  wait_for_subscriptions (fixture->a, subscribed_a + 1);
  wait_for_subscriptions (fixture->b, subscribed_b + 1);
  /* Contacts on two nodes: Alice hears Bob online. */
  bob_online = last_presence_of (alice->ws, fixture->bob->profile, DELIVERY_MS);
  g_assert_nonnull (bob_online);
  g_assert_true (bob_online->online);

  path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/blocks",
                          fixture->bob->profile->profile_id, fixture->bob->profile->profile_type);
  body =
    g_strdup_printf ("{\"profile_id\":%" G_GINT64_FORMAT ",\"profile_type\":\"%s\"}",
                     fixture->alice->profile->profile_id, fixture->alice->profile->profile_type);
  answer = natter_test_http (fixture->a, "POST", path, fixture->bob->token, body, &status);
  g_assert_cmpuint (status, ==, 204);

  alice_hears = last_presence_of (alice->ws, fixture->bob->profile, DELIVERY_MS);
  g_assert_nonnull (alice_hears);
  g_assert_false (alice_hears->online);
  bob_hears = last_presence_of (bob->ws, fixture->alice->profile, DELIVERY_MS);
  g_assert_nonnull (bob_hears);
  g_assert_false (bob_hears->online);
}

/* TRUE once the process is stopped (SIGSTOP is delivered asynchronously). */
static gboolean
process_stopped (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;
  const char *end;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return FALSE;
  end = strrchr (stat, ')');
  return end != NULL && end[1] == ' ' && (end[2] == 'T' || end[2] == 't');
}

static void
pause_redis (NatterTestRedis *redis)
{
  natter_test_redis_pause (redis);
  natter_test_wait_until (process_stopped (natter_test_redis_get_pid (redis)), DELIVERY_MS);
}

/* Redis stalls (SIGSTOP) with Alice's message to Bob inside: when Bob's
 * own next event, stored on his node, jumps past it, his node reads it from
 * the store and sends it first. Once Redis wakes up and hands the late copy
 * over, it is dropped. */
static void
test_jump_reads_the_gap (Fixture *fixture, gconstpointer data)
{
  g_autoptr (Client) alice = NULL;
  g_autoptr (Client) bob = NULL;
  g_autoptr (NatterFrame) one = NULL;
  g_autoptr (NatterFrame) ack = NULL;
  g_autoptr (NatterFrame) two = NULL;
  guint64 subscribed_a;
  guint64 subscribed_b;
  guint64 gap_events;

  if (fixture->redis == NULL)
    return;

  subscribed_a = natter_test_server_metric (fixture->a, PROFILE_SUBSCRIPTIONS);
  subscribed_b = natter_test_server_metric (fixture->b, PROFILE_SUBSCRIPTIONS);
  gap_events = natter_test_server_metric (fixture->b, "natter_bus_gap_events_total");
  alice = client_open (fixture->a, fixture->alice);
  bob = client_open (fixture->b, fixture->bob);
  wait_for_subscriptions (fixture->a, subscribed_a + 1);
  wait_for_subscriptions (fixture->b, subscribed_b + 1);

  pause_redis (fixture->redis);
  send_chat (alice, fixture->conversation_id, "j-1", "one");
  wait_for_events (alice, 1);
  send_chat (bob, fixture->conversation_id, "j-2", "two");

  /* Redis answers nothing: this came from the store. */
  one = natter_test_ws_expect (bob->ws, "chat_message");
  g_assert_cmpstr (one->message->text, ==, "one");
  g_assert_cmpint (one->event_id, ==, bob->hello_last_event_id + 1);
  ack = natter_test_ws_expect (bob->ws, "message_ack");
  g_assert_cmpint (ack->event_id, ==, bob->hello_last_event_id + 2);
  g_assert_cmpuint (natter_test_server_metric (fixture->b, "natter_bus_gap_events_total"), ==,
                    gap_events + 1);

  natter_test_redis_resume (fixture->redis);
  /* Alice's node publishes Bob's message once Redis reads again. */
  two = natter_test_ws_expect (alice->ws, "chat_message");
  g_assert_cmpstr (two->message->text, ==, "two");
  natter_test_ws_assert_none (bob->ws, "chat_message", 500);
}

/* The same for a read receipt: an event without a message. */
static void
test_jump_reads_a_receipt (Fixture *fixture, gconstpointer data)
{
  g_autoptr (Client) alice = NULL;
  g_autoptr (Client) bob = NULL;
  g_autoptr (NatterFrame) hi = NULL;
  g_autoptr (NatterFrame) own = NULL;
  g_autoptr (NatterFrame) first_ack = NULL;
  g_autoptr (NatterFrame) receipt = NULL;
  g_autoptr (NatterFrame) ack = NULL;
  guint64 subscribed_a;
  guint64 subscribed_b;

  if (fixture->redis == NULL)
    return;

  subscribed_a = natter_test_server_metric (fixture->a, PROFILE_SUBSCRIPTIONS);
  subscribed_b = natter_test_server_metric (fixture->b, PROFILE_SUBSCRIPTIONS);
  alice = client_open (fixture->a, fixture->alice);
  bob = client_open (fixture->b, fixture->bob);
  wait_for_subscriptions (fixture->a, subscribed_a + 1);
  wait_for_subscriptions (fixture->b, subscribed_b + 1);
  send_chat (alice, fixture->conversation_id, "k-1", "hi");
  hi = natter_test_ws_expect (bob->ws, "chat_message");
  first_ack = natter_test_ws_expect (alice->ws, "message_ack");

  pause_redis (fixture->redis);
  natter_test_ws_send_printf (bob->ws,
                              "{\"type\":\"mark_read\",\"conversation_id\":%" G_GINT64_FORMAT
                              ",\"up_to_seq\":%" G_GINT64_FORMAT "}",
                              fixture->conversation_id, hi->message->seq);
  own = natter_test_ws_expect (bob->ws, "read_receipt");
  send_chat (alice, fixture->conversation_id, "k-2", "there");

  receipt = natter_test_ws_expect (alice->ws, "read_receipt");
  g_assert_cmpint (receipt->up_to_seq, ==, hi->message->seq);
  g_assert_cmpint (receipt->event_id, ==, alice->hello_last_event_id + 2);
  ack = natter_test_ws_wait_for (alice->ws, "message_ack", natter_test_scale_ms (DELIVERY_MS));
  g_assert_nonnull (ack);
  g_assert_cmpint (ack->event_id, ==, alice->hello_last_event_id + 3);

  natter_test_redis_resume (fixture->redis);
  natter_test_ws_assert_none (alice->ws, "read_receipt", 500);
}

static guint
logout (NatterTestServer *server, const char *token, const char *query)
{
  g_autofree char *path = g_strconcat ("/api/logout", query, NULL);
  g_autofree char *answer = NULL;
  guint status = 0;

  answer = natter_test_http (server, "POST", path, token, NULL, &status);
  return status;
}

/* A token revoked on one node closes its WebSockets on every node; so does
 * signing out everywhere. */
static void
test_logout_across_nodes (Fixture *fixture, gconstpointer data)
{
  g_autoptr (Client) alice_on_b = NULL;
  g_autoptr (Client) bob_on_b = NULL;
  g_autoptr (Client) bob_on_a = NULL;

  if (fixture->redis == NULL)
    return;

  alice_on_b = client_open (fixture->b, fixture->alice);
  bob_on_a = client_open (fixture->a, fixture->bob);
  bob_on_b = client_open (fixture->b, fixture->bob);
  natter_test_wait_until (
    natter_test_server_metric (fixture->b, "natter_bus_subscribed_total{kind=\"nodes\"}") >= 1 &&
      natter_test_server_metric (fixture->a, "natter_bus_subscribed_total{kind=\"nodes\"}") >= 1,
    DELIVERY_MS);

  g_assert_cmpuint (logout (fixture->a, fixture->alice->token, ""), ==, 204);
  g_assert_cmpuint (natter_test_ws_wait_closed (alice_on_b->ws, natter_test_scale_ms (DELIVERY_MS)),
                    ==, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
  /* Bob's connections on either node stay. */
  g_assert_true (natter_test_ws_is_open (bob_on_b->ws));
  g_assert_true (natter_test_ws_is_open (bob_on_a->ws));

  g_assert_cmpuint (logout (fixture->b, fixture->bob->token, "?everywhere=true"), ==, 204);
  g_assert_cmpuint (natter_test_ws_wait_closed (bob_on_a->ws, natter_test_scale_ms (DELIVERY_MS)),
                    ==, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
  g_assert_cmpuint (natter_test_ws_wait_closed (bob_on_b->ws, natter_test_scale_ms (DELIVERY_MS)),
                    ==, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
}

/* A token that expires is swept from the database by whichever node comes
 * first; its WebSockets close on both. Two nodes of its own, with short
 * token lifetimes. */
static void
test_expired_token_everywhere (void)
{
  g_autofree char *lifetime = NULL;
  g_autoptr (NatterTestPeer) carol = NULL;
  g_autoptr (Client) on_c = NULL;
  g_autoptr (Client) on_d = NULL;
  NatterTestServer *c;
  NatterTestServer *d;
  guint lifetime_s;

  if (!cluster_start ())
    return;

  /* Long enough to register and connect twice, at valgrind's pace too. */
  lifetime_s = MAX (3, natter_test_scale_ms (3000) / 1000);
  lifetime = g_strdup_printf ("%u", lifetime_s);
  {
    const char *args_c[] = { "--redis",
                             natter_test_redis_get_uri (cluster.redis),
                             "--node-id",
                             "node-c",
                             "--token-lifetime",
                             lifetime,
                             NULL };

    c = natter_test_server_new (args_c);
  }
  {
    const char *args_d[] = { "--redis",
                             natter_test_redis_get_uri (cluster.redis),
                             "--node-id",
                             "node-d",
                             "--token-lifetime",
                             lifetime,
                             "--db",
                             natter_test_server_get_db_path (c),
                             NULL };

    d = natter_test_server_new (args_d);
  }

  carol = natter_test_peer_new (c, "carol", "parent");
  on_c = client_open (c, carol);
  on_d = client_open (d, carol);
  g_assert_cmpuint (
    natter_test_ws_wait_closed (on_c->ws, natter_test_scale_ms (2000) + lifetime_s * 2000), ==,
    SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
  g_assert_cmpuint (natter_test_ws_wait_closed (on_d->ws, natter_test_scale_ms (DELIVERY_MS)), ==,
                    SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);

  g_clear_pointer (&on_c, client_free);
  g_clear_pointer (&on_d, client_free);
  natter_test_server_free (d);
  natter_test_server_free (c);
}

/* A bad --redis or --node-id stops the server at start with a message that
 * names the option. */
static void
test_bad_options (void)
{
  static const char *const cases[][3] = {
    { "--redis", "http://127.0.0.1:6379", "--redis" },
    { "--redis", "redis://", "--redis" },
    { "--node-id", "no spaces", "--node-id" },
    { "--node-id", "", "--node-id" },
  };
  g_autofree char *server = natter_test_top_build_filename ("src", "server", "natter-server", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    const char *argv[] = { server, "--port", "0", cases[i][0], cases[i][1], NULL };
    g_autofree char *err = NULL;
    g_autoptr (GError) error = NULL;
    int status = 0;

    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                                 NULL, &err, &status, &error));
    g_assert_no_error (error);
    g_assert_false (g_spawn_check_wait_status (status, NULL));
    g_assert_nonnull (strstr (err, cases[i][2]));
  }
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/server-nodes/chat-across-nodes", test_chat_across_nodes);
  ADD ("/natter/server-nodes/redis-restart", test_redis_restart);
  ADD ("/natter/server-nodes/jump-reads-the-gap", test_jump_reads_the_gap);
  ADD ("/natter/server-nodes/jump-reads-a-receipt", test_jump_reads_a_receipt);
  ADD ("/natter/server-nodes/typing-across-nodes", test_typing_across_nodes);
  ADD ("/natter/server-nodes/logout-across-nodes", test_logout_across_nodes);
  ADD ("/natter/server-nodes/block-across-nodes", test_block_across_nodes);
#undef ADD
  g_test_add_func ("/natter/server-nodes/expired-token-everywhere", test_expired_token_everywhere);
  g_test_add_func ("/natter/server-nodes/bad-options", test_bad_options);

  status = g_test_run ();
  cluster_stop ();
  return status;
}
