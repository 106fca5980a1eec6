/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The Redis bus (issue 17) against a real redis-server: two buses are two
 * nodes. */

#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "natter-redis-bus.h"
#include "natter-redis-connection.h"
#include "natter-test-server.h"
#include "natter-test-services.h"

/* Short enough that a stalled server is noticed within a second; stretched
 * with the other deadlines under sanitizers and valgrind. */
#define PING_INTERVAL_MS 100
#define WATCHDOG_TIMEOUT_MS 600

typedef struct {
  char *channel;
  GBytes *payload;
} Received;

typedef struct {
  NatterRedisBus *bus;
  GPtrArray *received;
  guint reconnected;
  guint disconnects;
} Node;

typedef struct {
  NatterTestRedis *redis;
  Node a;
  Node b;
} Fixture;

static void
received_free (Received *received)
{
  g_free (received->channel);
  g_bytes_unref (received->payload);
  g_free (received);
}

static void
on_message (NatterRedisBus *bus, const char *channel, GBytes *payload, Node *node)
{
  Received *received = g_new0 (Received, 1);

  received->channel = g_strdup (channel);
  received->payload = g_bytes_ref (payload);
  g_ptr_array_add (node->received, received);
}

static void
on_reconnected (NatterRedisBus *bus, Node *node)
{
  node->reconnected++;
}

static void
on_connected_changed (NatterRedisBus *bus, GParamSpec *pspec, Node *node)
{
  if (!natter_redis_bus_get_connected (bus))
    node->disconnects++;
}

static void
node_init (Node *node, NatterTestRedis *redis, const char *node_id)
{
  g_autoptr (GError) error = NULL;

  node->bus = natter_redis_bus_new (natter_test_redis_get_uri (redis), node_id, &error);
  g_assert_no_error (error);
  natter_redis_bus_set_watchdog (node->bus, natter_test_scale_ms (PING_INTERVAL_MS),
                                 natter_test_scale_ms (WATCHDOG_TIMEOUT_MS));
  natter_redis_bus_set_backoff (node->bus, 20, natter_test_scale_ms (300));
  node->received = g_ptr_array_new_with_free_func ((GDestroyNotify) received_free);
  g_signal_connect (node->bus, "message", G_CALLBACK (on_message), node);
  g_signal_connect (node->bus, "reconnected", G_CALLBACK (on_reconnected), node);
  g_signal_connect (node->bus, "notify::connected", G_CALLBACK (on_connected_changed), node);
  natter_redis_bus_start (node->bus);
}

static void
node_clear (Node *node)
{
  if (node->bus != NULL)
    g_assert_finalize_object (node->bus);
  g_clear_pointer (&node->received, g_ptr_array_unref);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  fixture->redis = natter_test_redis_new ();
  if (fixture->redis == NULL)
    return;

  node_init (&fixture->a, fixture->redis, "node-a");
  node_init (&fixture->b, fixture->redis, "node-b");
  natter_test_wait_until (natter_redis_bus_get_connected (fixture->a.bus) &&
                            natter_redis_bus_get_connected (fixture->b.bus),
                          10000);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  node_clear (&fixture->a);
  node_clear (&fixture->b);
  g_clear_pointer (&fixture->redis, natter_test_redis_free);
}

static void
subscribe (Node *node, const char *channel)
{
  natter_redis_bus_subscribe (node->bus, channel);
  natter_test_wait_until (natter_redis_bus_get_connected (node->bus), 10000);
}

static void
assert_received (Node *node, guint index, const char *channel, GBytes *payload)
{
  Received *received;

  g_assert_cmpuint (node->received->len, >, index);
  received = g_ptr_array_index (node->received, index);
  g_assert_cmpstr (received->channel, ==, channel);
  g_assert_true (g_bytes_equal (received->payload, payload));
}

/* A message published by one node reaches the other exactly once, bytes
 * intact (NUL included); a node not subscribed gets nothing. */
static void
test_round_trip (Fixture *fixture, gconstpointer data)
{
  static const char binary[] = { 'h', 'i', '\0', '\r', '\n', '*', '3' };
  g_autoptr (GBytes) first = g_bytes_new_static (binary, sizeof binary);
  g_autoptr (GBytes) second = g_bytes_new_static ("second", 6);
  g_autoptr (GBytes) reply = g_bytes_new_static ("reply", 5);

  if (fixture->redis == NULL)
    return;

  subscribe (&fixture->b, "natter:profile:7");
  g_assert_true (natter_redis_bus_publish (fixture->a.bus, "natter:profile:7", first));
  g_assert_true (natter_redis_bus_publish (fixture->a.bus, "natter:profile:7", second));
  natter_test_wait_until (fixture->b.received->len == 2, 5000);
  assert_received (&fixture->b, 0, "natter:profile:7", first);
  assert_received (&fixture->b, 1, "natter:profile:7", second);

  /* And back: node b publishes on a channel of node a. */
  subscribe (&fixture->a, "natter:node:node-a");
  g_assert_true (natter_redis_bus_publish (fixture->b.bus, "natter:node:node-a", reply));
  natter_test_wait_until (fixture->a.received->len == 1, 5000);
  assert_received (&fixture->a, 0, "natter:node:node-a", reply);
  g_assert_cmpuint (fixture->b.received->len, ==, 2);
  g_assert_cmpuint (fixture->a.reconnected + fixture->b.reconnected, ==, 0);
}

/* After unsubscribe nothing more arrives on that channel, while a channel
 * still subscribed goes on (messages of one publisher arrive in order, so
 * the marker comes after anything sent before it). */
static void
test_unsubscribe_stops_delivery (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GBytes) before = g_bytes_new_static ("before", 6);
  g_autoptr (GBytes) after = g_bytes_new_static ("after", 5);
  g_autoptr (GBytes) marker = g_bytes_new_static ("marker", 6);

  if (fixture->redis == NULL)
    return;

  subscribe (&fixture->b, "natter:profile:1");
  subscribe (&fixture->b, "natter:profile:2");
  g_assert_true (natter_redis_bus_publish (fixture->a.bus, "natter:profile:1", before));
  natter_test_wait_until (fixture->b.received->len == 1, 5000);

  natter_redis_bus_unsubscribe (fixture->b.bus, "natter:profile:1");
  g_assert_true (natter_redis_bus_publish (fixture->a.bus, "natter:profile:1", after));
  g_assert_true (natter_redis_bus_publish (fixture->a.bus, "natter:profile:2", marker));
  natter_test_wait_until (fixture->b.received->len >= 2, 5000);
  assert_received (&fixture->b, 1, "natter:profile:2", marker);
  g_assert_cmpuint (fixture->b.received->len, ==, 2);

  /* Subscribing again delivers again. */
  subscribe (&fixture->b, "natter:profile:1");
  g_assert_true (natter_redis_bus_publish (fixture->a.bus, "natter:profile:1", after));
  natter_test_wait_until (fixture->b.received->len == 3, 5000);
  assert_received (&fixture->b, 2, "natter:profile:1", after);
}

/* Publish from a to b and wait for it: the path works end to end. */
static void
assert_delivers (Fixture *fixture, const char *channel)
{
  g_autoptr (GBytes) payload = g_bytes_new_static ("after the outage", 16);
  guint before = fixture->b.received->len;

  g_assert_true (natter_redis_bus_publish (fixture->a.bus, channel, payload));
  natter_test_wait_until (fixture->b.received->len == before + 1, 5000);
  assert_received (&fixture->b, before, channel, payload);
}

/* redis-server killed and started again on the same port (empty: it knows
 * no subscriptions): both buses reconnect on their own, node b subscribes
 * again and says so with "reconnected". */
static void
test_reconnects_after_restart (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GBytes) lost = g_bytes_new_static ("lost", 4);

  if (fixture->redis == NULL)
    return;

  subscribe (&fixture->b, "natter:profile:9");
  assert_delivers (fixture, "natter:profile:9");

  natter_test_redis_kill (fixture->redis);
  natter_test_wait_until (!natter_redis_bus_get_connected (fixture->a.bus) &&
                            !natter_redis_bus_get_connected (fixture->b.bus),
                          5000);
  /* Nothing to publish to: the caller learns it at once. */
  g_assert_false (natter_redis_bus_publish (fixture->a.bus, "natter:profile:9", lost));
  g_assert_cmpuint (fixture->b.reconnected, ==, 0);

  natter_test_redis_restart (fixture->redis);
  natter_test_wait_until (fixture->a.reconnected >= 1 && fixture->b.reconnected >= 1, 10000);
  g_assert_true (natter_redis_bus_get_connected (fixture->b.bus));
  natter_test_wait_until (natter_redis_bus_get_connected (fixture->a.bus), 10000);
  assert_delivers (fixture, "natter:profile:9");
}

/* SIGSTOP: the connections stay open and nothing answers. The watchdog
 * drops them within its timeout; after SIGCONT the buses reconnect,
 * subscribe again and deliver. */
static guint
subscriber_drops (Node *node)
{
  guint drops;

  natter_redis_bus_get_disconnections (node->bus, NULL, &drops);
  return drops;
}

static guint
command_drops (Node *node)
{
  guint drops;

  natter_redis_bus_get_disconnections (node->bus, &drops, NULL);
  return drops;
}

static void
test_watchdog_drops_stalled_server (Fixture *fixture, gconstpointer data)
{
  guint a_before, b_before;

  if (fixture->redis == NULL)
    return;

  subscribe (&fixture->b, "natter:profile:5");
  assert_delivers (fixture, "natter:profile:5");
  a_before = subscriber_drops (&fixture->a);
  b_before = subscriber_drops (&fixture->b);
  g_assert_cmpuint (command_drops (&fixture->a) + command_drops (&fixture->b), ==, 0);

  natter_test_redis_pause (fixture->redis);
  /* Both watchdogs fire on both nodes: the command connection's PING and
   * the subscriber's heartbeat. Timeout plus a ping interval, plus slack. */
  natter_test_wait_until (subscriber_drops (&fixture->a) > a_before &&
                            subscriber_drops (&fixture->b) > b_before &&
                            command_drops (&fixture->a) > 0 && command_drops (&fixture->b) > 0,
                          3 * (WATCHDOG_TIMEOUT_MS + PING_INTERVAL_MS));
  g_assert_false (natter_redis_bus_get_connected (fixture->a.bus));
  g_assert_false (natter_redis_bus_get_connected (fixture->b.bus));
  g_assert_cmpuint (fixture->b.reconnected, ==, 0);

  natter_test_redis_resume (fixture->redis);
  natter_test_wait_until (fixture->a.reconnected >= 1 && fixture->b.reconnected >= 1, 10000);
  natter_test_wait_until (natter_redis_bus_get_connected (fixture->a.bus) &&
                            natter_redis_bus_get_connected (fixture->b.bus),
                          10000);
  assert_delivers (fixture, "natter:profile:5");
}

/* 1 MiB crosses in one message, byte for byte. */
static void
test_large_message (Fixture *fixture, gconstpointer data)
{
  gsize size = 1024 * 1024;
  guint8 *bytes = g_malloc (size);
  g_autoptr (GBytes) payload = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (17);

  if (fixture->redis == NULL) {
    g_free (bytes);
    return;
  }

  for (gsize i = 0; i < size; i++)
    bytes[i] = (guint8) g_rand_int_range (rand, 0, 256);
  payload = g_bytes_new_take (bytes, size);

  subscribe (&fixture->b, "natter:profile:big");
  g_assert_true (natter_redis_bus_publish (fixture->a.bus, "natter:profile:big", payload));
  natter_test_wait_until (fixture->b.received->len == 1, 10000);
  assert_received (&fixture->b, 0, "natter:profile:big", payload);
}

/* Redis dies while a node still has megabytes to write to it: the socket
 * is readable (the reset) and writable at once, and the read that finds
 * the reset frees hiredis's context; nothing may touch it after that
 * (hiredis issues 343, 468), and the write to the dead socket must not
 * kill the process with SIGPIPE. */
static void
test_server_dies_while_writing (Fixture *fixture, gconstpointer data)
{
  gsize size = 1024 * 1024;
  g_autoptr (GBytes) payload = NULL;

  if (fixture->redis == NULL)
    return;

  payload = g_bytes_new_take (g_malloc0 (size), size);
  subscribe (&fixture->b, "natter:profile:3");
  for (guint i = 0; i < 8; i++)
    g_assert_true (natter_redis_bus_publish (fixture->a.bus, "natter:profile:3", payload));
  natter_test_redis_kill (fixture->redis);
  natter_test_wait_until (!natter_redis_bus_get_connected (fixture->a.bus) &&
                            !natter_redis_bus_get_connected (fixture->b.bus),
                          5000);

  natter_test_redis_restart (fixture->redis);
  natter_test_wait_until (natter_redis_bus_get_connected (fixture->a.bus) &&
                            natter_redis_bus_get_connected (fixture->b.bus),
                          10000);
  assert_delivers (fixture, "natter:profile:3");
}

/* The reconnect delay doubles up to the backoff's maximum and stays there:
 * with Redis gone for 1 s and a 30 ms cap a node retries every 15 to 30 ms
 * (30 to 60 times), where doubling alone would retry about 7 times. */
static void
test_backoff_is_capped (Fixture *fixture, gconstpointer data)
{
  guint cap_ms = natter_test_scale_ms (30);
  gint64 down_until;
  guint before, attempts;

  if (fixture->redis == NULL)
    return;

  natter_redis_bus_set_backoff (fixture->a.bus, 10, cap_ms);
  natter_test_redis_kill (fixture->redis);
  natter_test_wait_until (!natter_redis_bus_get_connected (fixture->a.bus), 5000);
  before = command_drops (&fixture->a);
  down_until = g_get_monotonic_time () + (gint64) natter_test_scale_ms (1000) * 1000;
  while (natter_test_iterate_until (down_until))
    ;
  attempts = command_drops (&fixture->a) - before;
  g_test_message ("%u attempts in %u ms with a %u ms cap", attempts, natter_test_scale_ms (1000),
                  cap_ms);
  g_assert_cmpuint (attempts, >=, 15);

  natter_test_redis_restart (fixture->redis);
  natter_test_wait_until (natter_redis_bus_get_connected (fixture->a.bus), 5000);
}

static void
on_client_kill_reply (NatterRedisConnection *connection,
                      const struct redisReply *reply,
                      gpointer user_data)
{
  gboolean *replied = user_data;

  g_assert_nonnull (reply);
  *replied = TRUE;
}

/* Redis drops subscribers by itself (a slow one past its output buffer
 * limit): here every subscriber, by CLIENT KILL from a third connection.
 * Only the subscribers reconnect; they subscribe again and say so. */
static void
test_subscriber_killed_resubscribes (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterRedisConnection) admin = NULL;
  const char *argv[] = { "CLIENT", "KILL", "TYPE", "pubsub" };
  size_t argv_lengths[] = { 6, 4, 4, 6 };
  gboolean replied = FALSE;

  if (fixture->redis == NULL)
    return;

  subscribe (&fixture->b, "natter:profile:4");
  assert_delivers (fixture, "natter:profile:4");
  g_assert_cmpuint (subscriber_drops (&fixture->b), ==, 0);

  admin =
    natter_redis_connection_new ("127.0.0.1", natter_test_redis_get_port (fixture->redis), "admin");
  natter_redis_connection_start (admin);
  natter_test_wait_until (
    natter_redis_connection_get_state (admin) == NATTER_REDIS_CONNECTION_READY, 5000);
  g_assert_true (natter_redis_connection_command (admin, on_client_kill_reply, &replied,
                                                  G_N_ELEMENTS (argv), argv, argv_lengths));
  natter_test_wait_until (replied, 5000);

  natter_test_wait_until (fixture->a.reconnected >= 1 && fixture->b.reconnected >= 1, 10000);
  g_assert_cmpuint (subscriber_drops (&fixture->b), >=, 1);
  g_assert_cmpuint (command_drops (&fixture->a) + command_drops (&fixture->b), ==, 0);
  assert_delivers (fixture, "natter:profile:4");
  g_assert_finalize_object (g_steal_pointer (&admin));
}

static void
on_blocked_reply (NatterRedisConnection *connection,
                  const struct redisReply *reply,
                  gpointer user_data)
{
  guint *calls = user_data;

  g_assert_null (reply);
  (*calls)++;
}

/* A command Redis has not answered when its connection goes: its callback
 * runs once, with no reply, and nothing leaks (valgrind). */
static void
test_pending_command_on_close (Fixture *fixture, gconstpointer data)
{
  NatterRedisConnection *connection;
  const char *argv[] = { "BLPOP", "natter:nothing", "0" };
  size_t argv_lengths[] = { 5, 14, 1 };
  guint calls = 0;

  if (fixture->redis == NULL)
    return;

  connection = natter_redis_connection_new ("127.0.0.1",
                                            natter_test_redis_get_port (fixture->redis), "blocked");
  natter_redis_connection_start (connection);
  natter_test_wait_until (
    natter_redis_connection_get_state (connection) == NATTER_REDIS_CONNECTION_READY, 5000);
  /* BLPOP with no timeout on an empty list: Redis answers never. */
  g_assert_true (natter_redis_connection_command (connection, on_blocked_reply, &calls,
                                                  G_N_ELEMENTS (argv), argv, argv_lengths));
  g_assert_true (natter_redis_connection_command (connection, on_blocked_reply, &calls,
                                                  G_N_ELEMENTS (argv), argv, argv_lengths));
  g_assert_finalize_object (connection);
  g_assert_cmpuint (calls, ==, 2);
}

static void
test_rejects_bad_uri (void)
{
  const char *bad[] = { "http://127.0.0.1:6379", "redis://", "127.0.0.1:6379",
                        "redis://127.0.0.1:6379/extra", "redis://user:secret@127.0.0.1:6379" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;
    NatterRedisBus *bus = natter_redis_bus_new (bad[i], "node", &error);

    g_assert_null (bus);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "redis://HOST:PORT"));
  }
}

/* Two nodes on one machine get different ids: the host name, then the
 * process id. */
static void
test_default_node_id (void)
{
  g_autofree char *node_id = natter_redis_bus_default_node_id ();
  const char *dash = strrchr (node_id, '-');

  g_assert_nonnull (dash);
  g_assert_cmpuint ((gsize) (dash - node_id), ==, strlen (g_get_host_name ()));
  g_assert_true (g_str_has_prefix (node_id, g_get_host_name ()));
  g_assert_cmpint (atoi (dash + 1), ==, getpid ());
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/redis-bus/round-trip-between-nodes", test_round_trip);
  ADD ("/natter/redis-bus/unsubscribe-stops-delivery", test_unsubscribe_stops_delivery);
  ADD ("/natter/redis-bus/reconnects-after-redis-restart", test_reconnects_after_restart);
  ADD ("/natter/redis-bus/watchdog-drops-stalled-server", test_watchdog_drops_stalled_server);
  ADD ("/natter/redis-bus/large-message", test_large_message);
  ADD ("/natter/redis-bus/server-dies-while-writing", test_server_dies_while_writing);
  ADD ("/natter/redis-bus/backoff-is-capped", test_backoff_is_capped);
  ADD ("/natter/redis-bus/subscriber-killed-resubscribes", test_subscriber_killed_resubscribes);
  ADD ("/natter/redis-bus/pending-command-on-close", test_pending_command_on_close);
#undef ADD
  g_test_add_func ("/natter/redis-bus/rejects-bad-uri", test_rejects_bad_uri);
  g_test_add_func ("/natter/redis-bus/default-node-id", test_default_node_id);

  return g_test_run ();
}
