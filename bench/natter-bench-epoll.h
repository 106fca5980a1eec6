/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int natter_bench_epoll_poll (GPollFD *fds, guint n_fds, int timeout_ms);

G_END_DECLS
