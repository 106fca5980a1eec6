/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-ws-poller.h"

G_BEGIN_DECLS

#define NATTER_TYPE_WS_TRANSPORT (natter_ws_transport_get_type ())
G_DECLARE_FINAL_TYPE (NatterWsTransport, natter_ws_transport, NATTER, WS_TRANSPORT, GObject)

/* What the owner hears; called straight from the poller's pass (the
 * message handler runs for every frame, so no signal marshalling). */
typedef struct {
  /* A whole message: @text is FALSE for a binary one. */
  void (*message) (gpointer user_data, gboolean text, const guint8 *data, gsize length);
  void (*pong) (gpointer user_data);
  /* Emitted once, when the close handshake is done or the socket failed. */
  void (*closed) (gpointer user_data, gushort code);
} NatterWsTransportHandlers;

NatterWsTransport *natter_ws_transport_new (NatterWsPoller *poller,
                                            GIOStream *stream,
                                            GSocket *socket,
                                            gsize max_message_bytes,
                                            guint keepalive_s,
                                            gboolean tls);

void natter_ws_transport_set_handlers (NatterWsTransport *self,
                                       const NatterWsTransportHandlers *handlers,
                                       gpointer user_data);
gboolean natter_ws_transport_is_open (NatterWsTransport *self);
gboolean natter_ws_transport_is_closed (NatterWsTransport *self);
gushort natter_ws_transport_get_close_code (NatterWsTransport *self);
void natter_ws_transport_send_text (NatterWsTransport *self, const char *text, gsize length);
void natter_ws_transport_flush_now (NatterWsTransport *self);
void natter_ws_transport_close (NatterWsTransport *self, gushort code, const char *reason);
void natter_ws_transport_abort (NatterWsTransport *self);
/* Bytes framed but not yet handed to the kernel. */
gsize natter_ws_transport_get_queued_bytes (NatterWsTransport *self);
gint64 natter_ws_transport_get_drained_time (NatterWsTransport *self);
gboolean natter_ws_transport_holds_framing_state (NatterWsTransport *self);

G_END_DECLS
