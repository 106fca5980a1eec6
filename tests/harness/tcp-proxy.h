/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A TCP proxy inside the test process, between clients and the server,
 * that cuts every connection on demand or at seeded random intervals. */
typedef struct _NatterTcpProxy NatterTcpProxy;

NatterTcpProxy *natter_tcp_proxy_new (guint16 target_port);
void natter_tcp_proxy_free (NatterTcpProxy *self);

guint16 natter_tcp_proxy_get_port (NatterTcpProxy *self);
const char *natter_tcp_proxy_get_url (NatterTcpProxy *self);
guint natter_tcp_proxy_get_n_links (NatterTcpProxy *self);
guint natter_tcp_proxy_get_n_cuts (NatterTcpProxy *self);

void natter_tcp_proxy_cut_all (NatterTcpProxy *self);
void natter_tcp_proxy_cut_randomly (NatterTcpProxy *self, guint32 seed, guint min_ms, guint max_ms);
void natter_tcp_proxy_stop_cutting (NatterTcpProxy *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterTcpProxy, natter_tcp_proxy_free)

G_END_DECLS
