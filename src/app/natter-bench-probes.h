/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-window.h"

G_BEGIN_DECLS

#define NATTER_TYPE_BENCH_PROBES (natter_bench_probes_get_type ())
G_DECLARE_FINAL_TYPE (NatterBenchProbes, natter_bench_probes, NATTER, BENCH_PROBES, GObject)

NatterBenchProbes *natter_bench_probes_new (NatterWindow *window);
void natter_bench_probes_conversation_opened (NatterBenchProbes *self);

G_END_DECLS
