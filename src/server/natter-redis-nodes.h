/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-redis-connection.h"

G_BEGIN_DECLS

#define NATTER_TYPE_REDIS_NODES (natter_redis_nodes_get_type ())
G_DECLARE_FINAL_TYPE (NatterRedisNodes, natter_redis_nodes, NATTER, REDIS_NODES, GObject)

/* @call_log_ids (gint64) rang on @node_id, which is gone: this node
 * (@own: the same node id before a restart) claimed them, nobody else
 * did. */
typedef void (*NatterRedisNodesCallsLeftFunc) (const char *node_id,
                                               gboolean own,
                                               GArray *call_log_ids,
                                               gpointer user_data);

/* @profile_key came online (@online) or went offline, on every node
 * together. */
typedef void (*NatterRedisNodesPresenceFunc) (const char *profile_key,
                                              gboolean online,
                                              gpointer user_data);
/* The answer to natter_redis_nodes_query (): the keys of those online. */
typedef void (*NatterRedisNodesQueriedFunc) (guint64 request,
                                             const char *const *online,
                                             gpointer user_data);

/* The connection @member is one too many for its user on all nodes: it
 * does not count, close it. */
typedef void (*NatterRedisNodesRefusedFunc) (const char *member, gpointer user_data);

#define NATTER_NODE_DEAD_AFTER_MS 10000

NatterRedisNodes *natter_redis_nodes_new (NatterRedisConnection *commands,
                                          const char *node_id,
                                          NatterRedisNodesCallsLeftFunc calls_left,
                                          NatterRedisNodesPresenceFunc presence_changed,
                                          NatterRedisNodesQueriedFunc presence_queried,
                                          NatterRedisNodesRefusedFunc refused,
                                          gpointer user_data);
void natter_redis_nodes_set_dead_after (NatterRedisNodes *self, guint dead_after_ms);
void natter_redis_nodes_start (NatterRedisNodes *self);
void natter_redis_nodes_connected (NatterRedisNodes *self);
void natter_redis_nodes_own_call (NatterRedisNodes *self, gint64 call_log_id);
void natter_redis_nodes_release_call (NatterRedisNodes *self, gint64 call_log_id);
gboolean natter_redis_nodes_is_cleaner (NatterRedisNodes *self);
void natter_redis_nodes_presence_add (
  NatterRedisNodes *self, const char *profile_key, gint64 user_id, const char *member, guint cap);
void natter_redis_nodes_presence_remove (NatterRedisNodes *self, const char *member);
gboolean
natter_redis_nodes_query (NatterRedisNodes *self, guint64 request, const char *const *profile_keys);
void natter_redis_nodes_count_connections_async (NatterRedisNodes *self,
                                                 gint64 user_id,
                                                 GAsyncReadyCallback callback,
                                                 gpointer user_data);
gssize natter_redis_nodes_count_connections_finish (NatterRedisNodes *self,
                                                    GAsyncResult *result,
                                                    GError **error);

G_END_DECLS
