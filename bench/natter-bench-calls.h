/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* natter-bench calls: N calls one after the other between two in-process
 * clients with test sources; prints call setup times and the CPU of a call. */
int natter_bench_calls_main (int argc, char **argv);

G_END_DECLS
