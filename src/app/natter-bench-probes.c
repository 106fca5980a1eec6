/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench-probes"

#include "config.h"

#include "natter-bench-probes.h"

/* With NATTER_BENCH_TIMING set (bench/natter-bench-app), the window has a
 * set of probes that print on stdout when it first paints and when an
 * opened conversation first paints, as g_get_monotonic_time ():
 * CLOCK_MONOTONIC, comparable with the clock of the process that started
 * Natter. The window owns its probes. */

typedef enum {
  BENCH_FIRST_FRAME = 1 << 0,
  BENCH_CONVERSATION_SHOWN = 1 << 1,
} BenchEvent;

struct _NatterBenchProbes {
  GObject parent_instance;

  NatterWindow *window; /* unowned: it owns the probes */
  guint pending;        /* BenchEvent flags */
};

G_DEFINE_FINAL_TYPE (NatterBenchProbes, natter_bench_probes, G_TYPE_OBJECT)

static void
on_after_paint (NatterBenchProbes *self)
{
  if (self->pending & BENCH_FIRST_FRAME) {
    g_print ("natter-bench: first-frame %" G_GINT64_FORMAT "\n", g_get_monotonic_time ());
    self->pending &= ~BENCH_FIRST_FRAME;
  }

  if (self->pending & BENCH_CONVERSATION_SHOWN) {
    GListModel *messages =
      natter_chat_view_get_messages (natter_window_get_chat_view (self->window));
    guint n_items = messages ? g_list_model_get_n_items (messages) : 0;

    if (n_items > 0) {
      g_print ("natter-bench: conversation-shown %" G_GINT64_FORMAT " %u %" G_GINT64_FORMAT "\n",
               natter_window_get_open_conversation_id (self->window), n_items,
               g_get_monotonic_time ());
      self->pending &= ~BENCH_CONVERSATION_SHOWN;
    }
  }

  fflush (stdout);
}

static void
on_window_map (NatterBenchProbes *self)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (GTK_WIDGET (self->window));

  if (clock != NULL && !(self->pending & BENCH_FIRST_FRAME)) {
    self->pending |= BENCH_FIRST_FRAME;
    g_signal_connect_object (clock, "after-paint", G_CALLBACK (on_after_paint), self,
                             G_CONNECT_SWAPPED);
  }
}

static void
natter_bench_probes_class_init (NatterBenchProbesClass *klass)
{
}

static void
natter_bench_probes_init (NatterBenchProbes *self)
{
}

/**
 * natter_bench_probes_new:
 * @window: the window to time; it keeps the probes
 *
 * Returns: (transfer full): probes that print when @window first paints
 */
NatterBenchProbes *
natter_bench_probes_new (NatterWindow *window)
{
  NatterBenchProbes *self;

  g_return_val_if_fail (NATTER_IS_WINDOW (window), NULL);

  self = g_object_new (NATTER_TYPE_BENCH_PROBES, NULL);
  self->window = window;
  g_signal_connect_object (window, "map", G_CALLBACK (on_window_map), self, G_CONNECT_SWAPPED);

  return self;
}

/**
 * natter_bench_probes_conversation_opened:
 * @self: a #NatterBenchProbes
 *
 * Prints when the conversation just opened first paints with its messages.
 */
void
natter_bench_probes_conversation_opened (NatterBenchProbes *self)
{
  g_return_if_fail (NATTER_IS_BENCH_PROBES (self));

  self->pending |= BENCH_CONVERSATION_SHOWN;
  gtk_widget_queue_draw (GTK_WIDGET (self->window));
}
