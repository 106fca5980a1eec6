/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* NATTER_TEST_NODES=2: natter_test_server_new() starts a redis-server and
 * two natter-server nodes on one database (natter-test-cluster.c). */
typedef struct _NatterTestCluster NatterTestCluster;

gboolean natter_test_cluster_wanted (void);
void natter_test_cluster_skip_without_services (void);
NatterTestCluster *natter_test_cluster_new (void);
void natter_test_cluster_add_first_node_args (NatterTestCluster *self, GPtrArray *argv);
void natter_test_cluster_start_second_node (NatterTestCluster *self,
                                            const char *const *extra_args,
                                            const char *db_path);
const char *natter_test_cluster_pick_url (NatterTestCluster *self,
                                          const char *first_node_url,
                                          gboolean websocket);
struct _NatterTestServer *natter_test_cluster_get_second_node (NatterTestCluster *self);
void natter_test_cluster_free (NatterTestCluster *self);

G_END_DECLS
