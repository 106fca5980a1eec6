/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Node liveness and the cleaner (issue 17, item 3) against a real
 * redis-server: each NatterRedisBus is a node; finalizing one without a
 * word is a node that died. */

#include "config.h"

#include <string.h>

#include <hiredis/hiredis.h>

#include "natter-redis-bus.h"
#include "natter-redis-connection.h"
#include "natter-test-server.h"
#include "natter-test-services.h"

/* Short enough that each case takes about a second; stretched with the
 * other deadlines under sanitizers and valgrind. */
#define DEAD_AFTER_MS 300

typedef struct {
  char *node_id;
  gboolean own;
  GArray *ids;
} CallsLeft;

typedef struct {
  NatterRedisBus *bus;
  GPtrArray *calls_left; /* CallsLeft */
} Node;

typedef struct {
  NatterTestRedis *redis;
  Node a;
  Node b;
  Node c;
} Fixture;

static void
calls_left_free (CallsLeft *calls_left)
{
  g_free (calls_left->node_id);
  g_array_unref (calls_left->ids);
  g_free (calls_left);
}

static void
on_calls_left (NatterRedisBus *bus, const char *node_id, gboolean own, GArray *ids, Node *node)
{
  CallsLeft *calls_left = g_new0 (CallsLeft, 1);

  calls_left->node_id = g_strdup (node_id);
  calls_left->own = own;
  calls_left->ids = g_array_copy (ids);
  g_ptr_array_add (node->calls_left, calls_left);
}

static guint
dead_after_ms (void)
{
  return natter_test_scale_ms (DEAD_AFTER_MS);
}

static void
node_start (Node *node, NatterTestRedis *redis, const char *node_id)
{
  g_autoptr (GError) error = NULL;

  node->bus = natter_redis_bus_new (natter_test_redis_get_uri (redis), node_id, &error);
  g_assert_no_error (error);
  natter_redis_bus_set_backoff (node->bus, 20, natter_test_scale_ms (300));
  natter_redis_bus_set_dead_after (node->bus, dead_after_ms ());
  if (node->calls_left == NULL)
    node->calls_left = g_ptr_array_new_with_free_func ((GDestroyNotify) calls_left_free);
  g_signal_connect (node->bus, "calls-left", G_CALLBACK (on_calls_left), node);
  natter_redis_bus_start (node->bus);
  natter_test_wait_until (natter_redis_bus_get_connected (node->bus), 10000);
}

/* Gone without a word, as a SIGKILL would: its keys stay until they
 * expire. */
static void
node_die (Node *node)
{
  if (node->bus != NULL)
    g_assert_finalize_object (g_steal_pointer (&node->bus));
}

static void
node_clear (Node *node)
{
  node_die (node);
  g_clear_pointer (&node->calls_left, g_ptr_array_unref);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  fixture->redis = natter_test_redis_new ();
  if (fixture->redis == NULL)
    return;
  node_start (&fixture->a, fixture->redis, "node-a");
  node_start (&fixture->b, fixture->redis, "node-b");
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  node_clear (&fixture->a);
  node_clear (&fixture->b);
  node_clear (&fixture->c);
  g_clear_pointer (&fixture->redis, natter_test_redis_free);
}

static gboolean
is_cleaner (Node *node)
{
  return node->bus != NULL && natter_redis_bus_is_cleaner (node->bus);
}

/* Runs the main loop for @ms, failing at once if two nodes clean up. */
static void
run_with_one_cleaner_at_most (Fixture *fixture, guint ms)
{
  gint64 until = g_get_monotonic_time () + (gint64) ms * 1000;

  while (natter_test_iterate_until (until))
    g_assert_cmpuint (
      is_cleaner (&fixture->a) + is_cleaner (&fixture->b) + is_cleaner (&fixture->c), <=, 1);
}

/* Exactly one node cleans up at a time; when it dies, another takes over
 * once its key expired. */
static void
test_one_cleaner (Fixture *fixture, gconstpointer data)
{
  Node *cleaner;
  Node *other;

  if (fixture->redis == NULL)
    return;

  natter_test_wait_until (is_cleaner (&fixture->a) || is_cleaner (&fixture->b), 5000);
  run_with_one_cleaner_at_most (fixture, 2 * dead_after_ms ());
  cleaner = is_cleaner (&fixture->a) ? &fixture->a : &fixture->b;
  other = cleaner == &fixture->a ? &fixture->b : &fixture->a;
  g_assert_true (is_cleaner (cleaner));

  node_die (cleaner);
  /* Its key expires after DEAD_AFTER_MS; the other asks every third. */
  natter_test_wait_until (is_cleaner (other), 3 * DEAD_AFTER_MS);
}

static void
on_integer (NatterRedisConnection *connection, const redisReply *reply, gpointer user_data)
{
  gint64 *out = user_data;

  *out = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -2;
}

/* What Redis holds, asked on a connection of the test's own. */
static gint64
redis_integer (NatterTestRedis *redis, const char *command, const char *key)
{
  g_autoptr (NatterRedisConnection) connection =
    natter_redis_connection_new ("127.0.0.1", natter_test_redis_get_port (redis), "test");
  const char *argv[] = { command, key };
  size_t lengths[] = { strlen (command), strlen (key) };
  gint64 value = -1;

  natter_redis_connection_start (connection);
  natter_test_wait_until (
    natter_redis_connection_get_state (connection) == NATTER_REDIS_CONNECTION_READY, 5000);
  g_assert_true (
    natter_redis_connection_command (connection, on_integer, &value, 2, argv, lengths));
  natter_test_wait_until (value != -1, 5000);
  return value;
}

static guint
n_calls_left (Node *node)
{
  return node->calls_left != NULL ? node->calls_left->len : 0;
}

/* A dead node's ringing calls go to one live node, once: of two live
 * nodes only one hears of them. The call it stopped ringing is not among
 * them. */
static void
test_dead_node_calls_claimed_once (Fixture *fixture, gconstpointer data)
{
  CallsLeft *calls_left;

  if (fixture->redis == NULL)
    return;

  node_start (&fixture->c, fixture->redis, "node-c");
  natter_server_bus_own_call (NATTER_SERVER_BUS (fixture->a.bus), 101);
  natter_server_bus_own_call (NATTER_SERVER_BUS (fixture->a.bus), 102);
  natter_server_bus_own_call (NATTER_SERVER_BUS (fixture->a.bus), 103);
  natter_server_bus_release_call (NATTER_SERVER_BUS (fixture->a.bus), 102);
  /* What it wrote reached Redis before it dies. */
  natter_test_wait_until (redis_integer (fixture->redis, "SCARD", "natter:node:node-a:calls") == 2,
                          5000);
  node_die (&fixture->a);

  natter_test_wait_until (n_calls_left (&fixture->b) + n_calls_left (&fixture->c) == 1,
                          4 * DEAD_AFTER_MS);
  /* Nobody else claims them later. */
  run_with_one_cleaner_at_most (fixture, 2 * dead_after_ms ());
  g_assert_cmpuint (n_calls_left (&fixture->b) + n_calls_left (&fixture->c), ==, 1);

  calls_left = g_ptr_array_index (
    n_calls_left (&fixture->b) == 1 ? fixture->b.calls_left : fixture->c.calls_left, 0);
  g_assert_cmpstr (calls_left->node_id, ==, "node-a");
  g_assert_false (calls_left->own);
  g_assert_cmpuint (calls_left->ids->len, ==, 2);
  {
    gint64 first = g_array_index (calls_left->ids, gint64, 0);
    gint64 second = g_array_index (calls_left->ids, gint64, 1);

    g_assert_cmpint (MIN (first, second), ==, 101);
    g_assert_cmpint (MAX (first, second), ==, 103);
  }
}

/* The edge of --node-dead-after-ms: a node that lives keeps saying so, and
 * its calls stay its own however long they ring. */
static void
test_live_node_keeps_its_calls (Fixture *fixture, gconstpointer data)
{
  if (fixture->redis == NULL)
    return;

  natter_server_bus_own_call (NATTER_SERVER_BUS (fixture->a.bus), 201);
  run_with_one_cleaner_at_most (fixture, 3 * dead_after_ms ());
  g_assert_true (is_cleaner (&fixture->a) || is_cleaner (&fixture->b));
  g_assert_cmpuint (n_calls_left (&fixture->a), ==, 0);
  g_assert_cmpuint (n_calls_left (&fixture->b), ==, 0);
}

/* A node that starts again under its id before it counts as dead takes
 * its previous run's calls itself (they failed with it); the other node
 * never hears of them. */
static void
test_restart_takes_own_calls (Fixture *fixture, gconstpointer data)
{
  CallsLeft *calls_left;

  if (fixture->redis == NULL)
    return;

  natter_server_bus_own_call (NATTER_SERVER_BUS (fixture->a.bus), 301);
  natter_test_wait_until (redis_integer (fixture->redis, "SCARD", "natter:node:node-a:calls") == 1,
                          5000);
  node_die (&fixture->a);
  node_start (&fixture->a, fixture->redis, "node-a");

  natter_test_wait_until (n_calls_left (&fixture->a) == 1, 5000);
  calls_left = g_ptr_array_index (fixture->a.calls_left, 0);
  g_assert_cmpstr (calls_left->node_id, ==, "node-a");
  g_assert_true (calls_left->own);
  g_assert_cmpuint (calls_left->ids->len, ==, 1);
  g_assert_cmpint (g_array_index (calls_left->ids, gint64, 0), ==, 301);

  run_with_one_cleaner_at_most (fixture, 2 * dead_after_ms ());
  g_assert_cmpuint (n_calls_left (&fixture->a), ==, 1);
  g_assert_cmpuint (n_calls_left (&fixture->b), ==, 0);
}

/* A restarted Redis forgot which calls ring where: each node writes its
 * own again, and they still end when it dies. */
static void
test_calls_survive_redis_restart (Fixture *fixture, gconstpointer data)
{
  CallsLeft *calls_left;

  if (fixture->redis == NULL)
    return;

  natter_server_bus_own_call (NATTER_SERVER_BUS (fixture->a.bus), 401);
  natter_test_redis_restart (fixture->redis);
  /* Nothing survives the restart: the set is back only if node A wrote it
   * again. */
  natter_test_wait_until (redis_integer (fixture->redis, "SCARD", "natter:node:node-a:calls") == 1,
                          10000);
  node_die (&fixture->a);

  natter_test_wait_until (n_calls_left (&fixture->b) == 1, 4 * DEAD_AFTER_MS);
  calls_left = g_ptr_array_index (fixture->b.calls_left, 0);
  g_assert_cmpstr (calls_left->node_id, ==, "node-a");
  g_assert_cmpuint (calls_left->ids->len, ==, 1);
  g_assert_cmpint (g_array_index (calls_left->ids, gint64, 0), ==, 401);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/redis-nodes/one-cleaner", test_one_cleaner);
  ADD ("/natter/redis-nodes/dead-node-calls-claimed-once", test_dead_node_calls_claimed_once);
  ADD ("/natter/redis-nodes/live-node-keeps-its-calls", test_live_node_keeps_its_calls);
  ADD ("/natter/redis-nodes/restart-takes-own-calls", test_restart_takes_own_calls);
  ADD ("/natter/redis-nodes/calls-survive-redis-restart", test_calls_survive_redis_restart);
#undef ADD

  return g_test_run ();
}
