/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

struct redisReply;

typedef enum {
  NATTER_REDIS_CONNECTION_DISCONNECTED,
  NATTER_REDIS_CONNECTION_CONNECTING,
  NATTER_REDIS_CONNECTION_READY,
} NatterRedisConnectionState;

#define NATTER_TYPE_REDIS_CONNECTION (natter_redis_connection_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterRedisConnection, natter_redis_connection, NATTER, REDIS_CONNECTION, GObject)

/* @reply is NULL when the connection was lost before the reply came. */
typedef void (*NatterRedisReplyFunc) (NatterRedisConnection *self,
                                      const struct redisReply *reply,
                                      gpointer user_data);

NatterRedisConnection *natter_redis_connection_new (const char *host, guint port, const char *name);
void natter_redis_connection_set_watchdog (NatterRedisConnection *self,
                                           guint ping_interval_ms,
                                           guint timeout_ms);
void natter_redis_connection_set_backoff (NatterRedisConnection *self, guint min_ms, guint max_ms);
void natter_redis_connection_start (NatterRedisConnection *self);
NatterRedisConnectionState natter_redis_connection_get_state (NatterRedisConnection *self);
gboolean natter_redis_connection_command (NatterRedisConnection *self,
                                          NatterRedisReplyFunc func,
                                          gpointer user_data,
                                          int argc,
                                          const char **argv,
                                          const size_t *argv_lengths);
gboolean natter_redis_connection_subscribe (NatterRedisConnection *self, const char *channel);
gboolean natter_redis_connection_unsubscribe (NatterRedisConnection *self, const char *channel);
void natter_redis_connection_drop (NatterRedisConnection *self, const char *reason);

G_END_DECLS
