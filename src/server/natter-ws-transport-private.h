/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-ws-transport.h"

G_BEGIN_DECLS

/* What the poller calls, from its one source's dispatch. */
void natter_ws_transport_handle_io (NatterWsTransport *self, guint32 events);
void natter_ws_transport_flush (NatterWsTransport *self);
void natter_ws_transport_ping_due (NatterWsTransport *self, gint64 now_us);
void natter_ws_transport_close_timed_out (NatterWsTransport *self);

/* A wslay context between two transports (natter-ws-transport.c); the
 * poller keeps a few. */
typedef struct _NatterWsWslayHolder NatterWsWslayHolder;

void natter_ws_wslay_holder_free (NatterWsWslayHolder *holder);
NatterWsWslayHolder *natter_ws_poller_take_spare_wslay (NatterWsPoller *self);
gboolean natter_ws_poller_keep_spare_wslay (NatterWsPoller *self, NatterWsWslayHolder *holder);

G_END_DECLS
