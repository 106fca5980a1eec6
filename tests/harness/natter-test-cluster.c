/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-test-cluster"

#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "natter-test-cluster.h"
#include "natter-test-server.h"
#include "natter-test-services.h"

#define REDIS_SERVER "redis-server"

/**
 * NatterTestCluster:
 *
 * The server acceptance tests run a second time with NATTER_TEST_NODES=2
 * (issue 17: "any node must serve any request"): the NatterTestServer a
 * test gets is then the first of two natter-server nodes sharing one
 * database and one redis-server, and its URLs alternate between the two on
 * every call, so consecutive clients, and a client's HTTP and WebSocket,
 * land on different nodes. Whatever acts on one process (restart, kill,
 * stop, pid, port, metrics) acts on the first node.
 */
struct _NatterTestCluster {
  NatterTestRedis *redis;
  NatterTestServer *second;
  guint picks;
};

/* The second node is a NatterTestServer too: while it starts, the mode is
 * off, or it would start a cluster of its own. */
static gboolean starting_second_node;

gboolean
natter_test_cluster_wanted (void)
{
  static int nodes = -1;

  if (nodes < 0) {
    const char *text = g_getenv ("NATTER_TEST_NODES");

    nodes = text != NULL ? (int) g_ascii_strtoll (text, NULL, 10) : 1;
    if (nodes != 1 && nodes != 2)
      g_error ("natter-test-cluster: NATTER_TEST_NODES must be 1 or 2, not “%s”", text);
  }

  return nodes == 2 && !starting_second_node;
}

/**
 * natter_test_cluster_skip_without_services:
 *
 * Called before main(): without redis-server the whole program is one
 * skipped TAP plan (a test could not go on without its server).
 */
void
natter_test_cluster_skip_without_services (void)
{
  g_autofree char *binary = NULL;

  if (!natter_test_cluster_wanted ())
    return;
  binary = g_find_program_in_path (REDIS_SERVER);
  if (binary != NULL)
    return;

  printf ("1..0 # SKIP NATTER_TEST_NODES=2 needs redis-server, which is not installed "
          "(Debian: redis-server)\n");
  fflush (stdout);
  _exit (0);
}

NatterTestCluster *
natter_test_cluster_new (void)
{
  NatterTestCluster *self = g_new0 (NatterTestCluster, 1);

  self->redis = natter_test_redis_new ();
  if (self->redis == NULL)
    g_error ("natter-test-cluster: NATTER_TEST_NODES=2 needs redis-server");

  return self;
}

/* Before the test's own options, so that a test's --db and the like win. */
void
natter_test_cluster_add_first_node_args (NatterTestCluster *self, GPtrArray *argv)
{
  g_ptr_array_add (argv, g_strdup ("--redis"));
  g_ptr_array_add (argv, g_strdup (natter_test_redis_get_uri (self->redis)));
  g_ptr_array_add (argv, g_strdup ("--node-id"));
  g_ptr_array_add (argv, g_strdup ("test-node-1"));
}

void
natter_test_cluster_start_second_node (NatterTestCluster *self,
                                       const char *const *extra_args,
                                       const char *db_path)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();

  g_ptr_array_add (args, (gpointer) "--redis");
  g_ptr_array_add (args, (gpointer) natter_test_redis_get_uri (self->redis));
  g_ptr_array_add (args, (gpointer) "--node-id");
  g_ptr_array_add (args, (gpointer) "test-node-2");
  for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (args, (gpointer) extra_args[i]);
  /* The first node's database, after the test's options: a later --db
   * wins. */
  g_ptr_array_add (args, (gpointer) "--db");
  g_ptr_array_add (args, (gpointer) db_path);
  g_ptr_array_add (args, NULL);

  starting_second_node = TRUE;
  self->second = natter_test_server_new ((const char *const *) args->pdata);
  starting_second_node = FALSE;
}

/**
 * natter_test_cluster_pick_url:
 * @self: the cluster
 * @first_node_url: the first node's URL of the kind wanted
 * @websocket: whether the ws:// URL is wanted
 *
 * One counter for both kinds: a client that asks for the HTTP URL and then
 * for the WebSocket URL gets two nodes.
 *
 * Returns: a node's URL
 */
const char *
natter_test_cluster_pick_url (NatterTestCluster *self,
                              const char *first_node_url,
                              gboolean websocket)
{
  if (self->second == NULL || self->picks++ % 2 == 0)
    return first_node_url;

  return websocket ? natter_test_server_get_ws_url (self->second)
                   : natter_test_server_get_url (self->second);
}

/* Returns: (transfer none) (nullable): the second node, once started */
NatterTestServer *
natter_test_cluster_get_second_node (NatterTestCluster *self)
{
  return self->second;
}

void
natter_test_cluster_free (NatterTestCluster *self)
{
  if (self == NULL)
    return;

  g_clear_pointer (&self->second, natter_test_server_free);
  g_clear_pointer (&self->redis, natter_test_redis_free);
  g_free (self);
}
