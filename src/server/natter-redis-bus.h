/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-server-bus.h"

G_BEGIN_DECLS

#define NATTER_TYPE_REDIS_BUS (natter_redis_bus_get_type ())
G_DECLARE_FINAL_TYPE (NatterRedisBus, natter_redis_bus, NATTER, REDIS_BUS, GObject)

NatterRedisBus *natter_redis_bus_new (const char *uri, const char *node_id, GError **error);
char *natter_redis_bus_default_node_id (void);
void natter_redis_bus_set_watchdog (NatterRedisBus *self, guint ping_interval_ms, guint timeout_ms);
void natter_redis_bus_set_backoff (NatterRedisBus *self, guint min_ms, guint max_ms);
void natter_redis_bus_set_dead_after (NatterRedisBus *self, guint dead_after_ms);
gboolean natter_redis_bus_is_cleaner (NatterRedisBus *self);
void natter_redis_bus_start (NatterRedisBus *self);
const char *natter_redis_bus_get_node_id (NatterRedisBus *self);
gboolean natter_redis_bus_get_connected (NatterRedisBus *self);
void natter_redis_bus_get_disconnections (NatterRedisBus *self,
                                          guint *out_commands,
                                          guint *out_subscriber);
void natter_redis_bus_subscribe (NatterRedisBus *self, const char *channel);
void natter_redis_bus_unsubscribe (NatterRedisBus *self, const char *channel);
gboolean natter_redis_bus_publish (NatterRedisBus *self, const char *channel, GBytes *payload);

G_END_DECLS
