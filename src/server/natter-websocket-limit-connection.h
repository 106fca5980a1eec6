/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-websocket-limit-input.h"

G_BEGIN_DECLS

#define NATTER_TYPE_WEBSOCKET_LIMIT_CONNECTION (natter_websocket_limit_connection_get_type ())

G_DECLARE_FINAL_TYPE (NatterWebsocketLimitConnection,
                      natter_websocket_limit_connection,
                      NATTER,
                      WEBSOCKET_LIMIT_CONNECTION,
                      GSocketConnection)

NatterWebsocketLimitConnection *
natter_websocket_limit_connection_new (GIOStream *base, GSocket *socket, guint64 max_message_bytes);
NatterWebsocketLimitInput *
natter_websocket_limit_connection_get_input (NatterWebsocketLimitConnection *self);

G_END_DECLS
