/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NATTER_TYPE_WEBSOCKET_LIMIT_INPUT (natter_websocket_limit_input_get_type ())

G_DECLARE_FINAL_TYPE (NatterWebsocketLimitInput,
                      natter_websocket_limit_input,
                      NATTER,
                      WEBSOCKET_LIMIT_INPUT,
                      GFilterInputStream)

NatterWebsocketLimitInput *natter_websocket_limit_input_new (GInputStream *base,
                                                             guint64 max_message_bytes);
gboolean natter_websocket_limit_input_get_exceeded (NatterWebsocketLimitInput *self);

G_END_DECLS
