/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* natter-bench calls --link DELAY_MS,LOSS_PCT,KBIT: video calls between two
 * natter-cli over tests/link-emulator; fps, freezes, concealed audio and
 * bottleneck drops each way after the first seconds, median of N calls. */
int natter_bench_calls_link_main (int argc, char **argv);

G_END_DECLS
