/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-redis-connection.h"

G_BEGIN_DECLS

/* Call sessions in Redis (natter-redis-calls.c): the answers come back on
 * the main context, also (as "error", or -1) when Redis is lost. */

/* @verdict: "ring" (the pair is claimed), "offline", "glare"
 * (@ringing_call_log_id is the call that rings the other way), "wait" (a
 * call the other way is being made: ask again), "busy" or "error". */
typedef void (*NatterRedisCallsCheckedFunc) (guint64 request,
                                             const char *verdict,
                                             gint64 ringing_call_log_id,
                                             gpointer user_data);
/* @outcome: 1 the move was made, 0 the call was in another state, -1 Redis
 * does not know the call (or is unreachable). */
typedef void (*NatterRedisCallsMovedFunc) (guint64 request, int outcome, gpointer user_data);

/* How long Redis keeps an answered call that nobody ended (the node that
 * owns it ends it in Redis when it ends). */
#define NATTER_REDIS_ANSWERED_CALL_MS (24 * 3600 * 1000)
/* How long a check's claim waits for its ring: the node stores a row in
 * between; a dead node's claim lasts no longer. */
#define NATTER_REDIS_CLAIM_MS 5000

gboolean natter_redis_calls_check (NatterRedisConnection *commands,
                                   guint64 request,
                                   const char *node_id,
                                   const char *caller_key,
                                   const char *callee_key,
                                   guint max_ringing,
                                   NatterRedisCallsCheckedFunc func,
                                   gpointer user_data);
gboolean natter_redis_calls_ring (NatterRedisConnection *commands,
                                  gint64 call_log_id,
                                  const char *node_id,
                                  const char *caller_key,
                                  const char *callee_key,
                                  guint ring_ms,
                                  guint64 claim);
gboolean natter_redis_calls_drop_claim (NatterRedisConnection *commands,
                                        const char *node_id,
                                        guint64 claim,
                                        const char *caller_key);
gboolean natter_redis_calls_move (NatterRedisConnection *commands,
                                  guint64 request,
                                  gint64 call_log_id,
                                  const char *from_state,
                                  const char *to_state,
                                  const char *member,
                                  NatterRedisCallsMovedFunc func,
                                  gpointer user_data);

G_END_DECLS
