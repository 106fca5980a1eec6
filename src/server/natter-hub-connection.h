/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "natter-frame.h"
#include "natter-metrics.h"
#include "natter-server-config.h"
#include "natter-ws-transport.h"

G_BEGIN_DECLS

#define NATTER_TYPE_HUB_CONNECTION (natter_hub_connection_get_type ())
G_DECLARE_FINAL_TYPE (NatterHubConnection, natter_hub_connection, NATTER, HUB_CONNECTION, GObject)

/* One accepted WebSocket: the profile it speaks as, the token that opened
 * it, its rate limiters and its last sign of life. Incoming text frames are
 * parsed and limited here; valid frames are handed to the hub through
 * ::frame-received, every failure is answered with an error frame. */
NatterHubConnection *natter_hub_connection_new (NatterWsTransport *transport,
                                                const NatterProfile *profile,
                                                gint64 user_id,
                                                gint64 token_id,
                                                const NatterServerConfig *config,
                                                NatterMetrics *metrics);

typedef void (*NatterHubConnectionRelayFunc) (NatterHubConnection *self,
                                              const char *type,
                                              const char *text,
                                              gpointer user_data);
NatterHubConnection *natter_hub_connection_new_relay (const NatterProfile *profile,
                                                      const NatterServerConfig *config,
                                                      NatterMetrics *metrics,
                                                      NatterHubConnectionRelayFunc relay,
                                                      gpointer relay_data,
                                                      GDestroyNotify relay_destroy);

const NatterProfile *natter_hub_connection_get_profile (NatterHubConnection *self);
/* "type/id": the key of the hub's tables for this profile. */
const char *natter_hub_connection_get_profile_key (NatterHubConnection *self);
gint64 natter_hub_connection_get_user_id (NatterHubConnection *self);
gint64 natter_hub_connection_get_token_id (NatterHubConnection *self);
gboolean natter_hub_connection_is_open (NatterHubConnection *self);
/* Closes the connection when it was silent for too long (the hub calls this
 * from its one watchdog timer); FALSE when it did. */
gboolean natter_hub_connection_check_alive (NatterHubConnection *self, gint64 now_us);
gboolean natter_hub_connection_needs_check (NatterHubConnection *self, gint64 now_us);

/* Sends an already serialized frame; @type labels the metrics. Does nothing
 * once the connection is closing. */
void
natter_hub_connection_send_text (NatterHubConnection *self, const char *type, const char *text);
/* Until hello is read: what is sent meanwhile follows @text. */
void natter_hub_connection_hold_output (NatterHubConnection *self);
void natter_hub_connection_release_output (NatterHubConnection *self,
                                           const char *type,
                                           const char *text,
                                           const char *drop_type);
void natter_hub_connection_send_frame (NatterHubConnection *self, const NatterFrame *frame);
void natter_hub_connection_send_error (NatterHubConnection *self,
                                       NatterProtocolError code,
                                       const char *message,
                                       const char *ref);
void natter_hub_connection_close (NatterHubConnection *self, gushort code, const char *reason);

/* Slow readers, replay and typing limits (PROTOCOL.md "Limits"). */
void natter_hub_connection_set_socket (NatterHubConnection *self, GSocket *socket);
void natter_hub_connection_close_slow_reader (NatterHubConnection *self, const char *reason);
void natter_hub_connection_begin_replay (NatterHubConnection *self);
void natter_hub_connection_end_replay (NatterHubConnection *self);
gboolean natter_hub_connection_is_replaying (NatterHubConnection *self);
gboolean natter_hub_connection_take_typing (NatterHubConnection *self, gint64 conversation_id);

char *natter_hub_profile_key (gint64 profile_id, const char *profile_type);

G_END_DECLS
