/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-frame-timing"

#include "config.h"

#include "natter-frame-timing.h"

struct _NatterFrameTiming {
  GMutex lock;
  guint64 frames;
  gint64 first_us;
  gint64 last_us;
  /* The last NATTER_FRAME_TIMING_WINDOW gaps, a ring, and their sum. */
  gint64 gaps[NATTER_FRAME_TIMING_WINDOW];
  guint gap_count;
  guint next_gap;
  gint64 gap_sum;
  guint freezes;
  gint64 freeze_us;
  /* The last frame's render time (natter_frame_timing_add_scheduled_frame). */
  gint64 last_render_us;
};

/**
 * natter_frame_timing_new:
 *
 * Returns: (transfer full): a timing with no frames
 */
NatterFrameTiming *
natter_frame_timing_new (void)
{
  NatterFrameTiming *self = g_new0 (NatterFrameTiming, 1);

  g_mutex_init (&self->lock);
  return self;
}

void
natter_frame_timing_free (NatterFrameTiming *self)
{
  if (self == NULL)
    return;
  g_mutex_clear (&self->lock);
  g_free (self);
}

/**
 * natter_frame_timing_add_frame:
 * @self: a #NatterFrameTiming
 * @time_us: when the frame arrived, g_get_monotonic_time(); never earlier
 *   than the frame before (an earlier time counts as no gap)
 *
 * Counts a frame; thread-safe.
 */
void
natter_frame_timing_add_frame (NatterFrameTiming *self, gint64 time_us)
{
  g_autoptr (GMutexLocker) locker = NULL;
  gint64 gap, average;

  g_return_if_fail (self != NULL);
  locker = g_mutex_locker_new (&self->lock);

  self->frames++;
  if (self->frames == 1) {
    self->first_us = self->last_us = time_us;
    return;
  }
  gap = MAX (time_us - self->last_us, 0);
  self->last_us = MAX (time_us, self->last_us);

  /* As libwebrtc's VideoQualityObserver: the average includes this gap. */
  if (self->gap_count == NATTER_FRAME_TIMING_WINDOW)
    self->gap_sum -= self->gaps[self->next_gap];
  else
    self->gap_count++;
  self->gaps[self->next_gap] = gap;
  self->next_gap = (self->next_gap + 1) % NATTER_FRAME_TIMING_WINDOW;
  self->gap_sum += gap;

  if (self->gap_count < NATTER_FRAME_TIMING_MIN_GAPS)
    return;
  average = self->gap_sum / self->gap_count;
  if (gap >= MAX (3 * average, average + NATTER_FRAME_TIMING_MIN_FREEZE_INCREASE_US)) {
    self->freezes++;
    self->freeze_us += gap;
  }
}

/**
 * natter_frame_timing_add_scheduled_frame:
 * @self: a #NatterFrameTiming
 * @arrival_us: when the frame reached the sink, on any clock in µs
 * @due_us: when a sink synced to that clock shows it (its running time
 *   plus the pipeline's latency), on the same clock
 *
 * Counts a frame at the time it is rendered, as browsers count freezes
 * (from rendered frames): a synced sink shows it at @due_us, or at once if
 * it came late, and never before the frame it showed last. A frame held
 * back by a retransmission but in time for its turn is no gap, while one
 * decoded late is. Thread-safe.
 */
void
natter_frame_timing_add_scheduled_frame (NatterFrameTiming *self, gint64 arrival_us, gint64 due_us)
{
  gint64 render_us;

  g_return_if_fail (self != NULL);
  g_mutex_lock (&self->lock);
  render_us = MAX (arrival_us, due_us);
  if (self->frames > 0)
    render_us = MAX (render_us, self->last_render_us);
  self->last_render_us = render_us;
  g_mutex_unlock (&self->lock);
  natter_frame_timing_add_frame (self, render_us);
}

/**
 * natter_frame_timing_get_frames:
 * @self: a #NatterFrameTiming
 *
 * Returns: the frames added so far
 */
guint64
natter_frame_timing_get_frames (NatterFrameTiming *self)
{
  g_autoptr (GMutexLocker) locker = NULL;

  g_return_val_if_fail (self != NULL, 0);
  locker = g_mutex_locker_new (&self->lock);
  return self->frames;
}

/**
 * natter_frame_timing_get_freeze_count:
 * @self: a #NatterFrameTiming
 *
 * Returns: the freezes so far
 */
guint
natter_frame_timing_get_freeze_count (NatterFrameTiming *self)
{
  g_autoptr (GMutexLocker) locker = NULL;

  g_return_val_if_fail (self != NULL, 0);
  locker = g_mutex_locker_new (&self->lock);
  return self->freezes;
}

/**
 * natter_frame_timing_get_freeze_duration_us:
 * @self: a #NatterFrameTiming
 *
 * Returns: the sum of the freezes' gaps, in microseconds
 */
gint64
natter_frame_timing_get_freeze_duration_us (NatterFrameTiming *self)
{
  g_autoptr (GMutexLocker) locker = NULL;

  g_return_val_if_fail (self != NULL, 0);
  locker = g_mutex_locker_new (&self->lock);
  return self->freeze_us;
}

/**
 * natter_frame_timing_get_frames_per_second:
 * @self: a #NatterFrameTiming
 *
 * Returns: the frame rate between the first and the last frame; 0 before
 *   there are two
 */
double
natter_frame_timing_get_frames_per_second (NatterFrameTiming *self)
{
  g_autoptr (GMutexLocker) locker = NULL;

  g_return_val_if_fail (self != NULL, 0);
  locker = g_mutex_locker_new (&self->lock);
  if (self->frames < 2 || self->last_us <= self->first_us)
    return 0;
  return (double) (self->frames - 1) * G_USEC_PER_SEC / (double) (self->last_us - self->first_us);
}
