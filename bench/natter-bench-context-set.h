/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A GSource that iterates many small GMainContexts (its members) from the
 * context it is attached to, visiting only those with a ready descriptor, a
 * due timeout or a wake-up: an iteration costs O(ready members), not
 * O(members). See natter-bench-context-set.c. */
typedef struct _NatterBenchContextSet NatterBenchContextSet;

NatterBenchContextSet *natter_bench_context_set_new (void);
void natter_bench_context_set_add (NatterBenchContextSet *set, GMainContext *context);
void natter_bench_context_set_remove (NatterBenchContextSet *set, GMainContext *context);
void natter_bench_context_set_wake (NatterBenchContextSet *set, GMainContext *context);
void natter_bench_context_set_enter (NatterBenchContextSet *set, GMainContext *context);
void natter_bench_context_set_leave (NatterBenchContextSet *set, GMainContext *context);
guint natter_bench_context_set_get_rounds (NatterBenchContextSet *set);
guint64 natter_bench_context_set_get_visits (NatterBenchContextSet *set);

G_END_DECLS
