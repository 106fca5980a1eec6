/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int natter_bench_epoll_poll (GPollFD *fds, guint n_fds, int timeout_ms);
guint32 natter_bench_epoll_events_from_glib (gushort events);
gushort natter_bench_epoll_events_to_glib (guint32 events);

G_END_DECLS
