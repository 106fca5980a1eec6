/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-frame-timing"

#include "config.h"

#include "natter-frame-timing.h"

/* Frame rate and freezes as browsers count them (libwebrtc's
 * VideoQualityObserver): a gap is a freeze when it is at least
 * max(3 × average, average + 150 ms), the average over the last 30 gaps
 * including it, once there are 5 gaps. Times are made up, in µs. */

#define FRAME_30FPS_US 33333

/* Adds @count frames @gap_us apart after *@now_us; returns the last time. */
static gint64
add_frames (NatterFrameTiming *timing, gint64 *now_us, guint count, gint64 gap_us)
{
  for (guint i = 0; i < count; i++) {
    *now_us += gap_us;
    natter_frame_timing_add_frame (timing, *now_us);
  }
  return *now_us;
}

static void
test_steady_stream_has_no_freeze (void)
{
  g_autoptr (NatterFrameTiming) timing = natter_frame_timing_new ();
  gint64 now = 1000000;

  g_assert_cmpfloat (natter_frame_timing_get_frames_per_second (timing), ==, 0);
  natter_frame_timing_add_frame (timing, now);
  g_assert_cmpfloat (natter_frame_timing_get_frames_per_second (timing), ==, 0);
  add_frames (timing, &now, 299, FRAME_30FPS_US);

  g_assert_cmpuint (natter_frame_timing_get_frames (timing), ==, 300);
  g_assert_cmpfloat_with_epsilon (natter_frame_timing_get_frames_per_second (timing), 30.0, 0.01);
  g_assert_cmpuint (natter_frame_timing_get_freeze_count (timing), ==, 0);
  g_assert_cmpint (natter_frame_timing_get_freeze_duration_us (timing), ==, 0);
}

static void
test_long_gap_is_a_freeze (void)
{
  g_autoptr (NatterFrameTiming) timing = natter_frame_timing_new ();
  gint64 now = 0;

  natter_frame_timing_add_frame (timing, now);
  add_frames (timing, &now, 60, FRAME_30FPS_US);
  add_frames (timing, &now, 1, 500000);
  add_frames (timing, &now, 60, FRAME_30FPS_US);
  add_frames (timing, &now, 1, 1200000);
  add_frames (timing, &now, 10, FRAME_30FPS_US);

  g_assert_cmpuint (natter_frame_timing_get_freeze_count (timing), ==, 2);
  g_assert_cmpint (natter_frame_timing_get_freeze_duration_us (timing), ==, 1700000);
  /* 133 frames: 132 gaps over 130 × 33.3 ms + 1.7 s. */
  g_assert_cmpfloat_with_epsilon (natter_frame_timing_get_frames_per_second (timing),
                                  132.0 / (130 * 0.033333 + 1.7), 0.01);
}

/* At 30 fps, after 29 gaps of 33.333 ms, a gap G freezes when
 * G ≥ (29 × 33.333 + G) / 30 + 150 ms, that is G ≥ 188.5 ms (the 150 ms
 * term wins over 3 × the average). */
static void
test_threshold_at_30_fps (void)
{
  g_autoptr (NatterFrameTiming) below = natter_frame_timing_new ();
  g_autoptr (NatterFrameTiming) above = natter_frame_timing_new ();
  gint64 now_below = 0, now_above = 0;

  natter_frame_timing_add_frame (below, 0);
  natter_frame_timing_add_frame (above, 0);
  add_frames (below, &now_below, 29, FRAME_30FPS_US);
  add_frames (above, &now_above, 29, FRAME_30FPS_US);
  add_frames (below, &now_below, 1, 188000);
  add_frames (above, &now_above, 1, 189000);

  g_assert_cmpuint (natter_frame_timing_get_freeze_count (below), ==, 0);
  g_assert_cmpuint (natter_frame_timing_get_freeze_count (above), ==, 1);
  g_assert_cmpint (natter_frame_timing_get_freeze_duration_us (above), ==, 189000);
}

/* At 10 fps 3 × the average wins: after 29 gaps of 100 ms, G freezes when
 * G ≥ 3 × (2900 ms + G) / 30, that is G ≥ 322.2 ms. */
static void
test_threshold_at_10_fps (void)
{
  g_autoptr (NatterFrameTiming) below = natter_frame_timing_new ();
  g_autoptr (NatterFrameTiming) above = natter_frame_timing_new ();
  gint64 now_below = 0, now_above = 0;

  natter_frame_timing_add_frame (below, 0);
  natter_frame_timing_add_frame (above, 0);
  add_frames (below, &now_below, 29, 100000);
  add_frames (above, &now_above, 29, 100000);
  add_frames (below, &now_below, 1, 321000);
  add_frames (above, &now_above, 1, 323000);

  g_assert_cmpuint (natter_frame_timing_get_freeze_count (below), ==, 0);
  g_assert_cmpuint (natter_frame_timing_get_freeze_count (above), ==, 1);
}

/* The average covers the last 30 gaps only: after a slow stretch, a gap
 * that would have been normal there is a freeze once the stream is fast. */
static void
test_average_forgets_old_gaps (void)
{
  g_autoptr (NatterFrameTiming) timing = natter_frame_timing_new ();
  gint64 now = 0;

  natter_frame_timing_add_frame (timing, now);
  add_frames (timing, &now, 30, 150000); /* 6.7 fps: 300 ms would not freeze */
  add_frames (timing, &now, 30, FRAME_30FPS_US);
  add_frames (timing, &now, 1, 300000);

  g_assert_cmpuint (natter_frame_timing_get_freeze_count (timing), ==, 1);
}

static void
test_needs_five_gaps (void)
{
  g_autoptr (NatterFrameTiming) timing = natter_frame_timing_new ();
  gint64 now = 0;

  natter_frame_timing_add_frame (timing, now);
  add_frames (timing, &now, 3, FRAME_30FPS_US);
  add_frames (timing, &now, 1, 2000000); /* the 4th gap: too early to judge */
  g_assert_cmpuint (natter_frame_timing_get_freeze_count (timing), ==, 0);
  add_frames (timing, &now, 1, FRAME_30FPS_US);
  add_frames (timing, &now, 1, 2000000); /* the 6th: average 0.69 s, threshold 2.08 s */
  g_assert_cmpuint (natter_frame_timing_get_freeze_count (timing), ==, 0);
  add_frames (timing, &now, 30, FRAME_30FPS_US);
  add_frames (timing, &now, 1, 2000000);
  g_assert_cmpuint (natter_frame_timing_get_freeze_count (timing), ==, 1);
}

/* A time before the last frame (clock trouble) is a zero gap, not a crash
 * or a negative freeze. */
static void
test_time_going_back (void)
{
  g_autoptr (NatterFrameTiming) timing = natter_frame_timing_new ();
  gint64 now = 5000000;

  natter_frame_timing_add_frame (timing, now);
  add_frames (timing, &now, 10, FRAME_30FPS_US);
  natter_frame_timing_add_frame (timing, now - 4000000);
  add_frames (timing, &now, 10, FRAME_30FPS_US);

  g_assert_cmpuint (natter_frame_timing_get_frames (timing), ==, 22);
  g_assert_cmpuint (natter_frame_timing_get_freeze_count (timing), ==, 0);
  g_assert_cmpfloat (natter_frame_timing_get_frames_per_second (timing), >, 30.0);
}

typedef struct {
  NatterFrameTiming *timing;
  gint64 start_us;
} Feeder;

static gpointer
feed (gpointer user_data)
{
  Feeder *feeder = user_data;

  for (int i = 0; i < 10000; i++)
    natter_frame_timing_add_frame (feeder->timing, feeder->start_us + i);
  return NULL;
}

/* Frames come from streaming threads while the main thread reads. */
static void
test_threads (void)
{
  g_autoptr (NatterFrameTiming) timing = natter_frame_timing_new ();
  Feeder feeder = { timing, 0 };
  GThread *threads[4];

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("feeder", feed, &feeder);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);

  g_assert_cmpuint (natter_frame_timing_get_frames (timing), ==, 40000);
}

/* A packet held ~150 ms for a retransmission: the frames behind it leave
 * the decoder together although their running times stay 33 ms apart and
 * the pipeline's 200 ms latency still covers them. Counted as they leave
 * the decoder that is a 150 ms+ gap, a freeze; a synced sink shows them on
 * time, so counted at render time there is none (as browsers count). */
static void
test_burst_in_time_is_no_freeze (void)
{
  g_autoptr (NatterFrameTiming) decoded = natter_frame_timing_new ();
  g_autoptr (NatterFrameTiming) rendered = natter_frame_timing_new ();
  const gint64 latency_us = 200000, held_us = 160000;

  for (guint i = 0; i < 120; i++) {
    gint64 due = (gint64) i * FRAME_30FPS_US + latency_us;
    gint64 arrival = (gint64) i * FRAME_30FPS_US;

    /* Frames 60-64 wait for the retransmission, released together. */
    if (i >= 60 && i < 65)
      arrival = 60 * FRAME_30FPS_US + held_us;
    natter_frame_timing_add_frame (decoded, arrival);
    natter_frame_timing_add_scheduled_frame (rendered, arrival, due);
  }

  g_assert_cmpuint (natter_frame_timing_get_freeze_count (decoded), ==, 1);
  g_assert_cmpuint (natter_frame_timing_get_freeze_count (rendered), ==, 0);
  g_assert_cmpuint (natter_frame_timing_get_frames (rendered), ==, 120);
  g_assert_cmpfloat_with_epsilon (natter_frame_timing_get_frames_per_second (rendered), 30.0, 0.01);
}

/* A frame that comes after its render time is shown at once, late: a held
 * packet longer than the latency still freezes the rendered video, for the
 * time it came late. */
static void
test_late_frame_is_a_freeze (void)
{
  g_autoptr (NatterFrameTiming) rendered = natter_frame_timing_new ();
  const gint64 latency_us = 100000, held_us = 400000;

  for (guint i = 0; i < 120; i++) {
    gint64 due = (gint64) i * FRAME_30FPS_US + latency_us;
    gint64 arrival = (gint64) i * FRAME_30FPS_US;

    if (i >= 60 && i < 72)
      arrival = 60 * FRAME_30FPS_US + held_us;
    natter_frame_timing_add_scheduled_frame (rendered, arrival, due);
  }

  /* Frame 59 shown at 59 × 33.3 + 100 ms, frame 60 at 60 × 33.3 + 400 ms:
   * a 333 ms gap; frames 61-71 then come at once (no gap, not a freeze). */
  g_assert_cmpuint (natter_frame_timing_get_freeze_count (rendered), ==, 1);
  g_assert_cmpint (natter_frame_timing_get_freeze_duration_us (rendered), ==,
                   FRAME_30FPS_US + held_us - latency_us);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/frame-timing/steady-stream-has-no-freeze",
                   test_steady_stream_has_no_freeze);
  g_test_add_func ("/natter/frame-timing/long-gap-is-a-freeze", test_long_gap_is_a_freeze);
  g_test_add_func ("/natter/frame-timing/threshold-at-30-fps", test_threshold_at_30_fps);
  g_test_add_func ("/natter/frame-timing/threshold-at-10-fps", test_threshold_at_10_fps);
  g_test_add_func ("/natter/frame-timing/average-forgets-old-gaps", test_average_forgets_old_gaps);
  g_test_add_func ("/natter/frame-timing/needs-five-gaps", test_needs_five_gaps);
  g_test_add_func ("/natter/frame-timing/time-going-back", test_time_going_back);
  g_test_add_func ("/natter/frame-timing/threads", test_threads);
  g_test_add_func ("/natter/frame-timing/burst-in-time-is-no-freeze",
                   test_burst_in_time_is_no_freeze);
  g_test_add_func ("/natter/frame-timing/late-frame-is-a-freeze", test_late_frame_is_a_freeze);

  return g_test_run ();
}
