/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "natter-metrics.h"
#include "natter-server-bus.h"
#include "natter-server-config.h"
#include "natter-server-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_HUB (natter_hub_get_type ())
G_DECLARE_FINAL_TYPE (NatterHub, natter_hub, NATTER, HUB, GObject)

/* The hub: who is connected as which profile, the routing of PROTOCOL.md's
 * WebSocket frames, events and replay, presence, and call sessions. */
NatterHub *
natter_hub_new (NatterServerStore *store, const NatterServerConfig *config, NatterMetrics *metrics);

/* How this node reaches the others; the in-process bus until set. */
void natter_hub_set_bus (NatterHub *self, NatterServerBus *bus);

/* Adds the /ws/{profile_id}/{profile_type} endpoint to @server: token (header
 * or ?token=), profile ownership and Origin are checked before the upgrade
 * (401 / 403), and the per-user connection cap (429). */
void natter_hub_install (NatterHub *self, SoupServer *server);

/* Closes every connection opened with that token (logout). */
void natter_hub_disconnect_token (NatterHub *self, gint64 token_id);
void natter_hub_disconnect_user (NatterHub *self, gint64 user_id);
void natter_hub_disconnect_tokens (NatterHub *self, GHashTable *token_ids);

/* Graceful shutdown: closes every WebSocket with 1001 and stops timers;
 * @callback runs when every close handshake finished or timed out. */
void natter_hub_shutdown_async (NatterHub *self,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data);
gboolean natter_hub_shutdown_finish (NatterHub *self, GAsyncResult *result, GError **error);

/* Tells the online participants of a new conversation who of the others is
 * online (presence frames). */
void natter_hub_conversation_created (NatterHub *self, gint64 conversation_id);

/* @blocker just blocked @blocked: each stops seeing the other online. */
void natter_hub_profile_blocked (NatterHub *self,
                                 const NatterProfile *blocker,
                                 const NatterProfile *blocked);

guint natter_hub_get_n_connections (NatterHub *self);
gboolean
natter_hub_profile_is_online (NatterHub *self, gint64 profile_id, const char *profile_type);

G_END_DECLS
