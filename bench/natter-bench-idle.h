/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* natter-bench idle: N WebSockets held open; prints the server's RSS before
 * and after, and per connection. */
int natter_bench_idle_main (int argc, char **argv);

G_END_DECLS
