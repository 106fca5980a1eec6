/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-node-faults"

/* Faults among several nodes (issue 17, item 5): two real natter-server
 * processes on one SQLite file and one real redis-server, with clients
 * writing all the time. A node SIGKILLed mid-traffic: its clients go to
 * the other node and send again what was not acknowledged; every message
 * reaches the recipient exactly once, the event ids of each profile have
 * no gap, and its profiles go offline within --node-dead-after-ms. Redis
 * restarted mid-traffic: every message is acknowledged and delivered once,
 * and chat flows both ways after it returns. With NATTER_TEST_DB=postgresql
 * (server-node-faults-postgresql) the nodes share a PostgreSQL database,
 * and PostgreSQL restarted mid-traffic loses nothing either. Skipped when
 * redis-server is not installed. */

#include "config.h"

#include <string.h>

#include "natter-test-server.h"
#include "natter-test-services.h"
#include "natter-test-ws.h"

#define N_MESSAGES 40
/* Messages sent and not yet acknowledged at most: traffic, not a queue. */
#define IN_FLIGHT 4
/* --node-dead-after-ms, before scaling. */
#define DEAD_AFTER_MS 1000
/* How long a delivery may take, on a quiet machine. */
#define DELIVERY_MS 5000

typedef struct {
  NatterTestRedis *redis;
  NatterTestServer *a;
  NatterTestServer *b;
  NatterTestPeer *alice; /* writes, on node A */
  NatterTestPeer *bob;   /* reads (and writes), on node B */
  gint64 conversation_id;
} Cluster;

/* FALSE (the test skipped) without redis-server. */
static gboolean
cluster_start (Cluster *cluster)
{
  g_autofree char *dead_after = g_strdup_printf ("%u", natter_test_scale_ms (DEAD_AFTER_MS));

  cluster->redis = natter_test_redis_new ();
  if (cluster->redis == NULL) {
    g_test_skip ("redis-server is not installed (Debian: redis-server)");
    return FALSE;
  }
  {
    const char *args_a[] = { "--redis",
                             natter_test_redis_get_uri (cluster->redis),
                             "--node-id",
                             "node-a",
                             "--node-dead-after-ms",
                             dead_after,
                             "--chat-burst",
                             "1000",
                             "--registration-burst",
                             "100",
                             NULL };

    cluster->a = natter_test_server_new (args_a);
  }
  {
    /* The harness gives each server a --db of its own; a later one wins. */
    const char *args_b[] = { "--redis",
                             natter_test_redis_get_uri (cluster->redis),
                             "--node-id",
                             "node-b",
                             "--node-dead-after-ms",
                             dead_after,
                             "--chat-burst",
                             "1000",
                             "--db",
                             natter_test_server_get_db_path (cluster->a),
                             NULL };

    cluster->b = natter_test_server_new (args_b);
  }
  cluster->alice = natter_test_peer_new (cluster->a, "alice", "tutor");
  cluster->bob = natter_test_peer_new (cluster->b, "bob", "student");
  {
    guint64 changes = natter_test_server_metric (cluster->a, "natter_presence_changes_total");

    /* Contacts, and the presence changes of the WebSockets that made them
     * announced: none comes late to the test's connections. */
    natter_test_peers_befriend (cluster->a, cluster->alice, cluster->bob);
    natter_test_wait_until (
      natter_test_server_metric (cluster->a, "natter_presence_changes_total") >= changes + 4,
      DELIVERY_MS);
  }
  cluster->conversation_id =
    natter_test_peer_conversation_with (cluster->b, cluster->alice, cluster->bob);
  return TRUE;
}

static void
cluster_stop (Cluster *cluster)
{
  g_clear_pointer (&cluster->alice, natter_test_peer_free);
  g_clear_pointer (&cluster->bob, natter_test_peer_free);
  /* B first: A's folder holds the database. */
  g_clear_pointer (&cluster->b, natter_test_server_free);
  g_clear_pointer (&cluster->a, natter_test_server_free);
  g_clear_pointer (&cluster->redis, natter_test_redis_free);
}

/* A client with an outbox, like the core's: what it sent and what the
 * server acknowledged or delivered to it, over all its connections. */
typedef struct {
  NatterTestWs *ws;
  gint64 first_event_id; /* the last_event_id of its first hello, + 1 */
  GHashTable *acked;     /* client_msg_id -> event id (as a string) */
  GHashTable *received;  /* text -> how many times it came */
  GArray *event_ids;     /* gint64: of every event, acks too, as they came */
  GPtrArray *sent;       /* client_msg_ids, in order */
  GHashTable *texts;     /* client_msg_id -> text */
  /* While the database is away: messages refused with `internal`, sent
   * again by client_settle() as an outbox would (NULL: none allowed). */
  GHashTable *refused;
  gint64 resend_at_us; /* not before: an outbox waits between retries */
} Client;

static void
client_connect (Client *client, NatterTestServer *server, NatterTestPeer *peer)
{
  g_autoptr (NatterFrame) hello = NULL;
  guint status = 0;

  g_clear_pointer (&client->ws, natter_test_ws_free);
  client->ws = natter_test_ws_connect (natter_test_server_get_url (server),
                                       peer->profile->profile_id, peer->profile->profile_type,
                                       peer->token, NULL, NATTER_TEST_WS_TOKEN_IN_HEADER, &status);
  g_assert_nonnull (client->ws);
  hello = natter_test_ws_expect (client->ws, "hello");
  if (client->first_event_id == 0)
    client->first_event_id = hello->last_event_id + 1;
}

static Client *
client_new (NatterTestServer *server, NatterTestPeer *peer)
{
  Client *client = g_new0 (Client, 1);

  client->acked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  client->received = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  client->event_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  client->sent = g_ptr_array_new_with_free_func (g_free);
  client->texts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  client_connect (client, server, peer);
  return client;
}

static void
client_free (Client *client)
{
  g_clear_pointer (&client->ws, natter_test_ws_free);
  g_hash_table_unref (client->acked);
  g_hash_table_unref (client->received);
  g_array_unref (client->event_ids);
  g_ptr_array_unref (client->sent);
  g_hash_table_unref (client->texts);
  g_clear_pointer (&client->refused, g_hash_table_unref);
  g_free (client);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Client, client_free)

/* Takes what arrived so far. An ack for a client_msg_id acked before must
 * name the same event (a retry is answered with the first ack). */
static void
client_drain (Client *client)
{
  NatterFrame *frame;

  if (client->ws == NULL)
    return;
  while ((frame = natter_test_ws_wait_for (client->ws, "chat_message", 0)) != NULL) {
    guint count = GPOINTER_TO_UINT (g_hash_table_lookup (client->received, frame->message->text));

    g_hash_table_replace (client->received, g_strdup (frame->message->text),
                          GUINT_TO_POINTER (count + 1));
    g_array_append_val (client->event_ids, frame->event_id);
    natter_frame_free (frame);
  }
  while ((frame = natter_test_ws_wait_for (client->ws, "error", 0)) != NULL) {
    g_test_message ("error %s for %s: %s", frame->code, frame->ref, frame->error_message);
    /* A store that cannot take a message says so, naming it: sent again. */
    if (client->refused != NULL && g_strcmp0 (frame->code, "internal") == 0 && frame->ref != NULL &&
        g_hash_table_contains (client->texts, frame->ref)) {
      g_hash_table_add (client->refused, g_strdup (frame->ref));
      natter_frame_free (frame);
      continue;
    }
    /* Every message is stored once: no refusal of any other kind. */
    g_assert_cmpstr (frame->code, ==, NULL);
  }
  while ((frame = natter_test_ws_wait_for (client->ws, "message_ack", 0)) != NULL) {
    g_autofree char *event_id = g_strdup_printf ("%" G_GINT64_FORMAT, frame->event_id);
    const char *before = g_hash_table_lookup (client->acked, frame->client_msg_id);

    if (before != NULL)
      g_assert_cmpstr (before, ==, event_id);
    else {
      g_hash_table_insert (client->acked, g_strdup (frame->client_msg_id),
                           g_steal_pointer (&event_id));
      g_array_append_val (client->event_ids, frame->event_id);
    }
    natter_frame_free (frame);
  }
}

static void
client_send (Client *client, gint64 conversation_id, const char *id, const char *text)
{
  if (!g_hash_table_contains (client->texts, id)) {
    g_ptr_array_add (client->sent, g_strdup (id));
    g_hash_table_insert (client->texts, g_strdup (id), g_strdup (text));
  }
  if (client->ws == NULL || !natter_test_ws_is_open (client->ws))
    return;
  natter_test_ws_send_printf (client->ws,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"%s\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"%s\"}",
                              id, conversation_id, text);
}

/* The outbox after a reconnection: everything not acknowledged again. */
static void
client_resend (Client *client, gint64 conversation_id)
{
  for (guint i = 0; i < client->sent->len; i++) {
    const char *id = g_ptr_array_index (client->sent, i);

    if (!g_hash_table_contains (client->acked, id))
      client_send (client, conversation_id, id, g_hash_table_lookup (client->texts, id));
  }
}

/* Sends again what the store refused; TRUE once every message is acked. */
static gboolean
client_settle (Client *client, gint64 conversation_id)
{
  g_autoptr (GPtrArray) again = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer id;

  client_drain (client);
  if (g_get_monotonic_time () < client->resend_at_us)
    return FALSE;
  client->resend_at_us = g_get_monotonic_time () + 200 * 1000;
  g_hash_table_iter_init (&iter, client->refused);
  while (g_hash_table_iter_next (&iter, &id, NULL)) {
    g_ptr_array_add (again, id);
    g_hash_table_iter_steal (&iter);
  }
  for (guint i = 0; i < again->len; i++) {
    const char *text = g_hash_table_lookup (client->texts, g_ptr_array_index (again, i));

    client_send (client, conversation_id, g_ptr_array_index (again, i), text);
  }
  return g_hash_table_size (client->acked) == client->sent->len;
}

static gboolean
client_all_acked (Client *client)
{
  client_drain (client);
  return g_hash_table_size (client->acked) == client->sent->len;
}

static gboolean
client_received (Client *client, guint n)
{
  client_drain (client);
  return g_hash_table_size (client->received) >= n;
}

/* Waits until fewer than IN_FLIGHT of @client's messages await their ack,
 * or its connection closed. */
static gboolean
client_can_send (Client *client)
{
  client_drain (client);
  return client->sent->len - g_hash_table_size (client->acked) < IN_FLIGHT ||
         !natter_test_ws_is_open (client->ws);
}

static int
compare_int64 (gconstpointer a, gconstpointer b)
{
  gint64 first = *(const gint64 *) a;
  gint64 second = *(const gint64 *) b;

  return first < second ? -1 : first > second;
}

/* Every event of the profile came once, and together they are
 * first_event_id … first_event_id + @n - 1: no gap, no copy. */
static void
assert_gap_free (Client *client, guint n)
{
  g_autoptr (GArray) sorted = g_array_copy (client->event_ids);

  g_array_sort (sorted, compare_int64);
  g_assert_cmpuint (sorted->len, ==, n);
  for (guint i = 0; i < sorted->len; i++)
    g_assert_cmpint (g_array_index (sorted, gint64, i), ==, client->first_event_id + i);
}

/* @sender's every message reached @recipient exactly once. */
static void
assert_delivered_once (Client *sender, Client *recipient)
{
  natter_test_ws_assert_none (recipient->ws, "chat_message", 300);
  client_drain (recipient);
  for (guint i = 0; i < sender->sent->len; i++) {
    const char *text = g_hash_table_lookup (sender->texts, g_ptr_array_index (sender->sent, i));

    g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (recipient->received, text)), ==, 1);
  }
}

static void
expect_presence (NatterTestWs *ws, NatterTestPeer *peer, gboolean online, guint timeout_ms)
{
  g_autoptr (NatterFrame) presence = natter_test_ws_wait_for (ws, "presence", timeout_ms);

  g_assert_nonnull (presence);
  g_assert_nonnull (presence->profile);
  g_assert_cmpint (presence->profile->profile_id, ==, peer->profile->profile_id);
  g_assert_cmpint (presence->online, ==, online);
}

/* Alice writes through node A without waiting (IN_FLIGHT at a time) and A
 * is SIGKILLed halfway: messages acknowledged, stored without an ack, or
 * never stored. Bob on B sees Alice go offline within the expiry; Alice
 * reconnects to B and sends what was not acknowledged again. Bob gets
 * every message once; each retry of a stored one gets its first ack;
 * Alice's and Bob's event ids have no gap. */
static void
test_killed_node_mid_traffic (void)
{
  Cluster cluster = { 0 };
  g_autoptr (Client) alice = NULL;
  g_autoptr (Client) bob = NULL;
  gint64 killed_at;
  guint acked_before_kill;

  if (!cluster_start (&cluster))
    return;
  bob = client_new (cluster.b, cluster.bob);
  alice = client_new (cluster.a, cluster.alice);
  expect_presence (bob->ws, cluster.alice, TRUE, natter_test_scale_ms (DELIVERY_MS));

  for (guint i = 0; i < N_MESSAGES; i++) {
    g_autofree char *id = g_strdup_printf ("k-%u", i);
    g_autofree char *text = g_strdup_printf ("kill %u", i);

    natter_test_wait_until (client_can_send (alice), DELIVERY_MS);
    client_send (alice, cluster.conversation_id, id, text);
    /* Right after a send: messages in flight, maybe stored unacked. */
    if (i == N_MESSAGES / 2) {
      natter_test_server_kill (cluster.a);
      /* Until it sees the connection gone, what it sends is lost on the
       * wire: kept in its outbox all the same. */
      g_assert_cmpuint (natter_test_ws_wait_closed (alice->ws, natter_test_scale_ms (DELIVERY_MS)),
                        !=, 0);
    }
  }
  killed_at = g_get_monotonic_time ();
  client_drain (alice);
  acked_before_kill = g_hash_table_size (alice->acked);
  g_assert_cmpuint (acked_before_kill, >=, N_MESSAGES / 2 + 1 - IN_FLIGHT);
  g_assert_cmpuint (acked_before_kill, <=, N_MESSAGES / 2 + 1);

  /* No connection of hers lives: offline, by the node cleaning up. */
  expect_presence (bob->ws, cluster.alice, FALSE,
                   natter_test_scale_ms (3 * DEAD_AFTER_MS + DELIVERY_MS));
  g_test_message ("offline %" G_GINT64_FORMAT " ms after the kill (dead after %u ms)",
                  (g_get_monotonic_time () - killed_at) / 1000,
                  natter_test_scale_ms (DEAD_AFTER_MS));

  g_test_message ("%u of %u acknowledged before the kill", acked_before_kill, N_MESSAGES / 2 + 1);
  client_connect (alice, cluster.b, cluster.alice);
  expect_presence (bob->ws, cluster.alice, TRUE, natter_test_scale_ms (DELIVERY_MS));
  client_resend (alice, cluster.conversation_id);
  natter_test_wait_until (client_all_acked (alice), DELIVERY_MS);
  natter_test_wait_until (client_received (bob, N_MESSAGES), DELIVERY_MS);

  assert_delivered_once (alice, bob);
  assert_gap_free (bob, N_MESSAGES);
  assert_gap_free (alice, N_MESSAGES);
  cluster_stop (&cluster);
}

/* Alice on A and Bob on B write to each other without waiting while
 * Redis is killed and, later, started again on its port: every message is
 * acknowledged (stored without Redis), reaches the other exactly once,
 * and both profiles' event ids have no gap; after the restart a message
 * each way still flows. */
static void
test_redis_restart_mid_traffic (void)
{
  Cluster cluster = { 0 };
  g_autoptr (Client) alice = NULL;
  g_autoptr (Client) bob = NULL;
  g_autoptr (NatterFrame) to_bob = NULL;
  g_autoptr (NatterFrame) to_alice = NULL;

  if (!cluster_start (&cluster))
    return;
  alice = client_new (cluster.a, cluster.alice);
  bob = client_new (cluster.b, cluster.bob);

  for (guint i = 0; i < N_MESSAGES; i++) {
    g_autofree char *alice_id = g_strdup_printf ("a-%u", i);
    g_autofree char *alice_text = g_strdup_printf ("from alice %u", i);
    g_autofree char *bob_id = g_strdup_printf ("b-%u", i);
    g_autofree char *bob_text = g_strdup_printf ("from bob %u", i);

    natter_test_wait_until (client_can_send (alice) && client_can_send (bob), DELIVERY_MS);
    if (i == N_MESSAGES / 4)
      natter_test_redis_kill (cluster.redis);
    if (i == N_MESSAGES / 2)
      natter_test_redis_restart (cluster.redis);
    client_send (alice, cluster.conversation_id, alice_id, alice_text);
    client_send (bob, cluster.conversation_id, bob_id, bob_text);
  }
  natter_test_wait_until (client_all_acked (alice) && client_all_acked (bob), DELIVERY_MS);
  natter_test_wait_until (client_received (alice, N_MESSAGES) && client_received (bob, N_MESSAGES),
                          DELIVERY_MS);
  g_assert_true (natter_test_ws_is_open (alice->ws));
  g_assert_true (natter_test_ws_is_open (bob->ws));
  assert_delivered_once (alice, bob);
  assert_delivered_once (bob, alice);
  assert_gap_free (alice, 2 * N_MESSAGES);
  assert_gap_free (bob, 2 * N_MESSAGES);

  /* Redis is back: chat flows live both ways. */
  client_send (alice, cluster.conversation_id, "a-last", "alice after");
  client_send (bob, cluster.conversation_id, "b-last", "bob after");
  natter_test_wait_until (
    client_received (alice, N_MESSAGES + 1) && client_received (bob, N_MESSAGES + 1), DELIVERY_MS);
  g_assert_true (g_hash_table_contains (bob->received, "alice after"));
  g_assert_true (g_hash_table_contains (alice->received, "bob after"));
  cluster_stop (&cluster);
}

/* Alice on A and Bob on B write to each other while PostgreSQL crashes
 * (SIGQUIT, no checkpoint) and starts again: the nodes reconnect on their
 * own; a message the store could not take meanwhile is refused with
 * `internal` and its client_msg_id and sent again, as an outbox does. In
 * the end every message is acknowledged, reaches the other exactly once,
 * and both profiles' event ids have no gap; chat flows after. */
static void
test_postgres_restart_mid_traffic (void)
{
  Cluster cluster = { 0 };
  g_autoptr (Client) alice = NULL;
  g_autoptr (Client) bob = NULL;

  if (!natter_test_server_uses_postgresql ()) {
    g_test_skip ("runs on PostgreSQL only (server-node-faults-postgresql)");
    return;
  }
  if (!cluster_start (&cluster))
    return;
  g_assert_nonnull (natter_test_server_get_postgres ());
  alice = client_new (cluster.a, cluster.alice);
  bob = client_new (cluster.b, cluster.bob);
  alice->refused = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  bob->refused = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < N_MESSAGES; i++) {
    g_autofree char *alice_id = g_strdup_printf ("a-%u", i);
    g_autofree char *alice_text = g_strdup_printf ("from alice %u", i);
    g_autofree char *bob_id = g_strdup_printf ("b-%u", i);
    g_autofree char *bob_text = g_strdup_printf ("from bob %u", i);

    /* A refused message is in flight until it is sent again. */
    natter_test_wait_until (
      (client_settle (alice, cluster.conversation_id) || client_can_send (alice)) &&
        (client_settle (bob, cluster.conversation_id) || client_can_send (bob)),
      4 * DELIVERY_MS);
    if (i == N_MESSAGES / 4)
      natter_test_postgres_restart (natter_test_server_get_postgres ());
    client_send (alice, cluster.conversation_id, alice_id, alice_text);
    client_send (bob, cluster.conversation_id, bob_id, bob_text);
  }
  natter_test_wait_until (client_settle (alice, cluster.conversation_id) &&
                            client_settle (bob, cluster.conversation_id),
                          4 * DELIVERY_MS);
  natter_test_wait_until (client_received (alice, N_MESSAGES) && client_received (bob, N_MESSAGES),
                          DELIVERY_MS);
  g_assert_true (natter_test_ws_is_open (alice->ws));
  g_assert_true (natter_test_ws_is_open (bob->ws));
  assert_delivered_once (alice, bob);
  assert_delivered_once (bob, alice);
  assert_gap_free (alice, 2 * N_MESSAGES);
  assert_gap_free (bob, 2 * N_MESSAGES);

  client_send (alice, cluster.conversation_id, "a-last", "alice after");
  natter_test_wait_until (client_received (bob, N_MESSAGES + 1), DELIVERY_MS);
  g_assert_true (g_hash_table_contains (bob->received, "alice after"));
  cluster_stop (&cluster);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/server-node-faults/killed-node-mid-traffic",
                   test_killed_node_mid_traffic);
  g_test_add_func ("/natter/server-node-faults/redis-restart-mid-traffic",
                   test_redis_restart_mid_traffic);
  g_test_add_func ("/natter/server-node-faults/postgres-restart-mid-traffic",
                   test_postgres_restart_mid_traffic);
  return g_test_run ();
}
