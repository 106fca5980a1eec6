/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-frame.h"

G_BEGIN_DECLS

typedef struct _NatterAccount NatterAccount;
typedef struct _NatterStore NatterStore;

/**
 * NatterConnectionState:
 * @NATTER_CONNECTION_STATE_DISCONNECTED: not started, or stopped
 * @NATTER_CONNECTION_STATE_CONNECTING: the WebSocket handshake is under way
 * @NATTER_CONNECTION_STATE_CONNECTED: the server said hello
 * @NATTER_CONNECTION_STATE_WAITING_TO_RETRY: the link dropped; a retry is scheduled
 * @NATTER_CONNECTION_STATE_SIGNED_OUT: the server refused the token (401); no retry
 */
typedef enum {
  NATTER_CONNECTION_STATE_DISCONNECTED,
  NATTER_CONNECTION_STATE_CONNECTING,
  NATTER_CONNECTION_STATE_CONNECTED,
  NATTER_CONNECTION_STATE_WAITING_TO_RETRY,
  NATTER_CONNECTION_STATE_SIGNED_OUT,
} NatterConnectionState;

#define NATTER_TYPE_CONNECTION_STATE (natter_connection_state_get_type ())
GType natter_connection_state_get_type (void);

#define NATTER_CONNECTION_ERROR (natter_connection_error_quark ())

/**
 * NatterConnectionError:
 * @NATTER_CONNECTION_ERROR_UNAUTHORIZED: the server refused the token (401)
 * @NATTER_CONNECTION_ERROR_FORBIDDEN: the profile is not the user's, or the
 *   origin is refused (403); no retry
 * @NATTER_CONNECTION_ERROR_PROTOCOL: the server spoke something we do not
 *   understand (bad frame, wrong protocol version)
 * @NATTER_CONNECTION_ERROR_NETWORK: the link failed or went silent; retried
 */
typedef enum {
  NATTER_CONNECTION_ERROR_UNAUTHORIZED,
  NATTER_CONNECTION_ERROR_FORBIDDEN,
  NATTER_CONNECTION_ERROR_PROTOCOL,
  NATTER_CONNECTION_ERROR_NETWORK,
} NatterConnectionError;

GQuark natter_connection_error_quark (void);

#define NATTER_TYPE_CONNECTION (natter_connection_get_type ())
G_DECLARE_FINAL_TYPE (NatterConnection, natter_connection, NATTER, CONNECTION, GObject)

NatterConnection *natter_connection_new (NatterAccount *account);

NatterAccount *natter_connection_get_account (NatterConnection *self);
NatterStore *natter_connection_get_store (NatterConnection *self);
void natter_connection_set_store (NatterConnection *self, NatterStore *store);
NatterConnectionState natter_connection_get_state (NatterConnection *self);
const GError *natter_connection_get_last_error (NatterConnection *self);
guint natter_connection_get_keepalive_interval (NatterConnection *self);
void natter_connection_set_keepalive_interval (NatterConnection *self, guint seconds);
guint natter_connection_get_dead_after (NatterConnection *self);
void natter_connection_set_dead_after (NatterConnection *self, guint milliseconds);
GNetworkMonitor *natter_connection_get_network_monitor (NatterConnection *self);
void natter_connection_set_network_monitor (NatterConnection *self, GNetworkMonitor *monitor);
guint natter_connection_get_retry_delay (NatterConnection *self);

void natter_connection_start (NatterConnection *self);
void natter_connection_stop (NatterConnection *self);
void natter_connection_close (NatterConnection *self);
gboolean natter_connection_is_closing (NatterConnection *self);
void natter_connection_reconnect (NatterConnection *self);
gboolean natter_connection_send_frame (NatterConnection *self, const NatterFrame *frame);
void natter_connection_flush_outbox (NatterConnection *self);

G_END_DECLS
