/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef struct _NatterWsTransport NatterWsTransport;

#define NATTER_TYPE_WS_POLLER (natter_ws_poller_get_type ())
G_DECLARE_FINAL_TYPE (NatterWsPoller, natter_ws_poller, NATTER, WS_POLLER, GObject)

/* One registered socket; owned by the poller, valid until
 * natter_ws_poller_remove (). */
typedef struct _NatterWsPollerHandle NatterWsPollerHandle;

NatterWsPoller *natter_ws_poller_new (GMainContext *context, GError **error);

NatterWsPollerHandle *
natter_ws_poller_add (NatterWsPoller *self, int fd, guint32 events, NatterWsTransport *transport);
void natter_ws_poller_remove (NatterWsPollerHandle *handle);
void natter_ws_poller_set_events (NatterWsPollerHandle *handle, guint32 events);
void natter_ws_poller_queue_flush (NatterWsPollerHandle *handle);
void natter_ws_poller_schedule_ping (NatterWsPollerHandle *handle, gint64 deadline_us);
void natter_ws_poller_schedule_close_timeout (NatterWsPollerHandle *handle, gint64 deadline_us);

/* A buffer for one flush at a time, shared by every socket of the poller:
 * frames are written into it and leave in one send (). */
guint8 *natter_ws_poller_get_write_buffer (NatterWsPoller *self, gsize *size);
guint natter_ws_poller_get_n_sockets (NatterWsPoller *self);
void natter_ws_poller_abort_all (NatterWsPoller *self);

G_END_DECLS
