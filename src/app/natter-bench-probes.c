/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench-probes"

#include "config.h"

#include <time.h>

#include "natter-bench-probes.h"

/* With NATTER_BENCH_TIMING set (bench/natter-bench-app), the window has a
 * set of probes that print on stdout when it first paints and when an
 * opened conversation first paints, as g_get_monotonic_time ():
 * CLOCK_MONOTONIC, comparable with the clock of the process that started
 * Natter. With NATTER_BENCH_SCROLL set too, once the conversation is shown
 * they scroll its list to the top every frame until the oldest message is
 * shown, and print how many frames that took and the work of the longest
 * (the main thread's CPU time from before-paint to the end of after-paint:
 * layout, drawing, and the rows made after the frame). The window owns its probes. */

typedef enum {
  BENCH_FIRST_FRAME = 1 << 0,
  BENCH_CONVERSATION_SHOWN = 1 << 1,
  BENCH_SCROLL_TO_OLDEST = 1 << 2,
} BenchEvent;

#define FRAME_BUDGET_US 16000
#define SCROLL_DELAY_S 2 /* natter-bench-app reads the RSS 1 s after the conversation shows */

struct _NatterBenchProbes {
  GObject parent_instance;

  NatterWindow *window; /* unowned: it owns the probes */
  guint pending;        /* BenchEvent flags */
  gboolean scroll;      /* NATTER_BENCH_SCROLL */

  gint64 frame_started;
  gint64 scroll_started;
  guint scroll_frames;
  guint frames_over_budget;
  gint64 longest_frame_us;
  char *frame_log; /* NATTER_BENCH_FRAME_LOG: a file for each frame's work */
};

G_DEFINE_FINAL_TYPE (NatterBenchProbes, natter_bench_probes, G_TYPE_OBJECT)

static GtkWidget *
chat_child (NatterBenchProbes *self, const char *name)
{
  return GTK_WIDGET (gtk_widget_get_template_child (
    GTK_WIDGET (natter_window_get_chat_view (self->window)), NATTER_TYPE_CHAT_VIEW, name));
}

/* The main thread's CPU time: its work, whatever else the machine runs. */
static gint64
thread_cpu_us (void)
{
  struct timespec now;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &now);
  return (gint64) now.tv_sec * G_USEC_PER_SEC + now.tv_nsec / 1000;
}

static void
on_before_paint (NatterBenchProbes *self)
{
  self->frame_started = thread_cpu_us ();
}

/* Appends "frame N WORK_US ROWS" for each frame of the scroll, to see
 * which frames are slow and how many rows the list had then. */
static void
log_frame (NatterBenchProbes *self, gint64 work, guint n_rows)
{
  FILE *log = fopen (self->frame_log, "a");

  if (log == NULL)
    return;
  fprintf (log, "frame %u %" G_GINT64_FORMAT " %u\n", self->scroll_frames, work, n_rows);
  fclose (log);
}

/* One frame of scrolling to the top: done once every message is in the
 * list and the list is at its top. */
static void
scroll_frame (NatterBenchProbes *self, gint64 now)
{
  GListModel *messages = natter_chat_view_get_messages (natter_window_get_chat_view (self->window));
  GListModel *shown =
    G_LIST_MODEL (gtk_list_view_get_model (GTK_LIST_VIEW (chat_child (self, "message_list_view"))));
  GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (
    GTK_SCROLLED_WINDOW (chat_child (self, "scrolled_window")));
  gint64 work = thread_cpu_us () - self->frame_started;

  self->scroll_frames++;
  self->longest_frame_us = MAX (self->longest_frame_us, work);
  if (work > FRAME_BUDGET_US)
    self->frames_over_budget++;
  if (self->frame_log != NULL)
    log_frame (self, work, shown != NULL ? g_list_model_get_n_items (shown) : 0);

  if (messages != NULL && shown != NULL &&
      g_list_model_get_n_items (shown) == g_list_model_get_n_items (messages) &&
      gtk_adjustment_get_value (adjustment) <= gtk_adjustment_get_lower (adjustment) + 0.5) {
    g_print ("natter-bench: scrolled-to-oldest %u %u %" G_GINT64_FORMAT " %" G_GINT64_FORMAT "\n",
             self->scroll_frames, self->frames_over_budget, self->longest_frame_us,
             now - self->scroll_started);
    self->pending &= ~BENCH_SCROLL_TO_OLDEST;
    return;
  }

  gtk_adjustment_set_value (adjustment, gtk_adjustment_get_lower (adjustment));
  gtk_widget_queue_draw (GTK_WIDGET (self->window));
}

/* After the bench has read the RSS with the conversation open. */
static gboolean
start_scrolling (gpointer user_data)
{
  NatterBenchProbes *self = user_data;

  self->pending |= BENCH_SCROLL_TO_OLDEST;
  self->scroll_started = g_get_monotonic_time ();
  gtk_widget_queue_draw (GTK_WIDGET (self->window));
  return G_SOURCE_REMOVE;
}

/* Connected after the window's own handlers: the chat view grows its list
 * after each frame. */
static void
on_after_paint (NatterBenchProbes *self)
{
  gint64 now = g_get_monotonic_time ();

  if (self->pending & BENCH_FIRST_FRAME) {
    g_print ("natter-bench: first-frame %" G_GINT64_FORMAT "\n", now);
    self->pending &= ~BENCH_FIRST_FRAME;
  }

  if (self->pending & BENCH_SCROLL_TO_OLDEST)
    scroll_frame (self, now);

  if (self->pending & BENCH_CONVERSATION_SHOWN) {
    GListModel *messages =
      natter_chat_view_get_messages (natter_window_get_chat_view (self->window));
    guint n_items = messages ? g_list_model_get_n_items (messages) : 0;

    if (n_items > 0) {
      g_print ("natter-bench: conversation-shown %" G_GINT64_FORMAT " %u %" G_GINT64_FORMAT "\n",
               natter_window_get_open_conversation_id (self->window), n_items, now);
      self->pending &= ~BENCH_CONVERSATION_SHOWN;
      if (self->scroll)
        g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, SCROLL_DELAY_S, start_scrolling,
                                    g_object_ref (self), g_object_unref);
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
    g_signal_connect_object (clock, "before-paint", G_CALLBACK (on_before_paint), self,
                             G_CONNECT_SWAPPED);
    g_signal_connect_object (clock, "after-paint", G_CALLBACK (on_after_paint), self,
                             G_CONNECT_SWAPPED | G_CONNECT_AFTER);
  }
}

static void
natter_bench_probes_finalize (GObject *object)
{
  NatterBenchProbes *self = NATTER_BENCH_PROBES (object);

  g_free (self->frame_log);

  G_OBJECT_CLASS (natter_bench_probes_parent_class)->finalize (object);
}

static void
natter_bench_probes_class_init (NatterBenchProbesClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = natter_bench_probes_finalize;
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
  self->scroll = g_getenv ("NATTER_BENCH_SCROLL") != NULL;
  self->frame_log = g_strdup (g_getenv ("NATTER_BENCH_FRAME_LOG"));
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
