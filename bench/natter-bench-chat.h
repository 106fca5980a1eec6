/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* natter-bench chat: N connected clients exchanging messages at a paced
 * total rate; prints delivery rate, latency, loss and duplicates. */
int natter_bench_chat_main (int argc, char **argv);

G_END_DECLS
