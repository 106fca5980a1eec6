/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-pacer"

#include "config.h"

#include <gst/rtp/rtp.h>

#include "natter-pacer.h"

/* The pacer's timing on a made-up clock (µs), and once on real pads: that
 * a payloader's buffer list leaves packet by packet, paced. */

#define MS 1000

static void
count_signal (NatterPacer *pacer, gpointer user_data)
{
  (*(guint *) user_data)++;
}

/* 800 kbit/s: a 1,000-byte packet takes 10 ms. */
static void
test_frame_is_spread (void)
{
  g_autoptr (NatterPacer) pacer = natter_pacer_new (800000, 300);
  gint64 now = 5000000, send_at = -1;

  for (guint i = 0; i < 5; i++) {
    g_assert_cmpint (natter_pacer_schedule_video (pacer, 1000, i == 4, now, &send_at), ==,
                     NATTER_PACER_SEND);
    g_assert_cmpint (send_at, ==, now + i * 10 * MS);
  }
  /* A packet whose time has come (the pacer's thread woke late) goes at
   * once, and the budget counts from there. */
  now += 60 * MS;
  natter_pacer_schedule_video (pacer, 1000, FALSE, now, &send_at);
  g_assert_cmpint (send_at, ==, now);
  natter_pacer_schedule_video (pacer, 500, TRUE, now, &send_at);
  g_assert_cmpint (send_at, ==, now + 10 * MS);
  g_assert_cmpuint (natter_pacer_get_packets_dropped (pacer), ==, 0);
}

/* Unused time is not saved up for a burst later. */
static void
test_idle_time_is_not_saved (void)
{
  g_autoptr (NatterPacer) pacer = natter_pacer_new (800000, 300);
  gint64 now = 0, send_at = -1;

  natter_pacer_schedule_video (pacer, 1000, TRUE, now, &send_at);
  now += 2 * G_USEC_PER_SEC;
  for (guint i = 0; i < 3; i++) {
    natter_pacer_schedule_video (pacer, 1000, i == 2, now, &send_at);
    g_assert_cmpint (send_at, ==, now + i * 10 * MS);
  }
}

/* Audio never waits; the video after it waits audio's share. */
static void
test_audio_goes_first (void)
{
  g_autoptr (NatterPacer) pacer = natter_pacer_new (800000, 300);
  gint64 now = 0, send_at = -1;

  natter_pacer_schedule_video (pacer, 1000, FALSE, now, &send_at);
  g_assert_cmpint (send_at, ==, 0);
  /* The video budget is spent until 10 ms: audio at 2 ms still goes now
   * (it has no verdict to wait for), and pushes the next video packet
   * back by its 1 ms. */
  natter_pacer_account_audio (pacer, 100, 2 * MS);
  natter_pacer_schedule_video (pacer, 1000, TRUE, 2 * MS, &send_at);
  g_assert_cmpint (send_at, ==, 11 * MS);
  /* On an idle budget, audio counts from its own time. */
  now = G_USEC_PER_SEC;
  natter_pacer_account_audio (pacer, 200, now);
  natter_pacer_schedule_video (pacer, 1000, TRUE, now, &send_at);
  g_assert_cmpint (send_at, ==, now + 2 * MS);
}

static void
test_rate_change_applies_to_next_packet (void)
{
  g_autoptr (NatterPacer) pacer = natter_pacer_new (800000, 300);
  gint64 send_at = -1;

  natter_pacer_schedule_video (pacer, 1000, FALSE, 0, &send_at);
  natter_pacer_set_rate (pacer, 400000);
  g_assert_cmpuint (natter_pacer_get_rate (pacer), ==, 400000);
  natter_pacer_schedule_video (pacer, 1000, FALSE, 0, &send_at);
  g_assert_cmpint (send_at, ==, 10 * MS);
  natter_pacer_schedule_video (pacer, 1000, TRUE, 0, &send_at);
  g_assert_cmpint (send_at, ==, 30 * MS);
  /* A rate of nothing would stall the video for good: there is a floor. */
  natter_pacer_set_rate (pacer, 0);
  g_assert_cmpuint (natter_pacer_get_rate (pacer), >, 0);
}

/* 80 kbit/s: a 1,000-byte packet takes 100 ms; max-delay 200 ms. A packet
 * that would wait exactly max-delay goes; one more is dropped with the rest
 * of its frame, and one keyframe is asked for. */
static void
test_too_long_a_wait_drops_the_frame (void)
{
  g_autoptr (NatterPacer) pacer = natter_pacer_new (80000, 200);
  guint keyframes = 0;
  gint64 send_at = -1;

  g_signal_connect (pacer, "keyframe-needed", G_CALLBACK (count_signal), &keyframes);
  g_assert_cmpuint (natter_pacer_get_max_delay_ms (pacer), ==, 200);
  g_assert_cmpint (natter_pacer_schedule_video (pacer, 1000, FALSE, 0, &send_at), ==,
                   NATTER_PACER_SEND);
  g_assert_cmpint (natter_pacer_schedule_video (pacer, 1000, FALSE, 0, &send_at), ==,
                   NATTER_PACER_SEND);
  g_assert_cmpint (natter_pacer_schedule_video (pacer, 1000, FALSE, 0, &send_at), ==,
                   NATTER_PACER_SEND);
  g_assert_cmpint (send_at, ==, 200 * MS);
  g_assert_cmpuint (keyframes, ==, 0);

  /* Would wait 300 ms: dropped, and so is the rest of the frame, however
   * soon it could go. */
  g_assert_cmpint (natter_pacer_schedule_video (pacer, 1000, FALSE, 0, &send_at), ==,
                   NATTER_PACER_DROP);
  g_assert_cmpuint (keyframes, ==, 1);
  g_assert_cmpint (natter_pacer_schedule_video (pacer, 100, FALSE, 250 * MS, &send_at), ==,
                   NATTER_PACER_DROP);
  g_assert_cmpint (natter_pacer_schedule_video (pacer, 100, TRUE, 260 * MS, &send_at), ==,
                   NATTER_PACER_DROP);
  g_assert_cmpuint (keyframes, ==, 1);
  g_assert_cmpuint (natter_pacer_get_packets_dropped (pacer), ==, 3);
  g_assert_cmpuint (natter_pacer_get_frames_dropped (pacer), ==, 1);

  /* Dropped packets took no time: the next frame goes when the budget
   * allows (300 ms, when the third packet is through). */
  g_assert_cmpint (natter_pacer_schedule_video (pacer, 1000, TRUE, 270 * MS, &send_at), ==,
                   NATTER_PACER_SEND);
  g_assert_cmpint (send_at, ==, 300 * MS);
  g_assert_cmpuint (keyframes, ==, 1);
}

/* Real pads, real time (tens of ms): a list of five RTP packets at
 * 400 kbit/s (500 bytes: 10 ms each) arrives as five buffers, the last at
 * least 40 ms after the push began. */
typedef struct {
  GArray *arrivals; /* gint64 µs */
} Sink;

static GstFlowReturn
sink_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  Sink *sink = g_object_get_data (G_OBJECT (pad), "sink");
  gint64 now = g_get_monotonic_time ();

  g_array_append_val (sink->arrivals, now);
  gst_buffer_unref (buffer);
  return GST_FLOW_OK;
}

static gboolean
sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  gst_event_unref (event);
  return TRUE;
}

static GstBuffer *
rtp_packet (gsize payload, gboolean marker)
{
  GstBuffer *buffer = gst_rtp_buffer_new_allocate ((guint) payload, 0, 0);
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;

  g_assert_true (gst_rtp_buffer_map (buffer, GST_MAP_WRITE, &rtp));
  gst_rtp_buffer_set_marker (&rtp, marker);
  gst_rtp_buffer_unmap (&rtp);
  return buffer;
}

static gint64
time_scale (void)
{
  const char *scale = g_getenv ("NATTER_TEST_TIME_SCALE");

  return scale != NULL ? MAX (g_ascii_strtoll (scale, NULL, 10), 1) : 1;
}

static void
test_pads_pace_a_list (void)
{
  g_autoptr (NatterPacer) pacer = natter_pacer_new (400000, 300);
  g_autoptr (GstPad) src = gst_pad_new ("src", GST_PAD_SRC);
  g_autoptr (GstPad) sink_pad = gst_pad_new ("sink", GST_PAD_SINK);
  Sink sink = { g_array_new (FALSE, FALSE, sizeof (gint64)) };
  GstBufferList *list = gst_buffer_list_new ();
  gint64 start;
  GstFlowReturn result;
  gsize packet_size;

  g_object_set_data (G_OBJECT (sink_pad), "sink", &sink);
  gst_pad_set_chain_function (sink_pad, sink_chain);
  g_assert_cmpint (gst_pad_link (src, sink_pad), ==, GST_PAD_LINK_OK);
  gst_pad_set_active (sink_pad, TRUE);
  gst_pad_set_active (src, TRUE);
  gst_pad_set_event_function (sink_pad, sink_event);
  natter_pacer_attach_video (pacer, src);
  {
    g_autoptr (GstCaps) caps = gst_caps_new_empty_simple ("application/x-rtp");
    GstSegment segment;

    gst_segment_init (&segment, GST_FORMAT_TIME);
    g_assert_true (gst_pad_push_event (src, gst_event_new_stream_start ("pacer")));
    g_assert_true (gst_pad_push_event (src, gst_event_new_caps (caps)));
    g_assert_true (gst_pad_push_event (src, gst_event_new_segment (&segment)));
  }

  for (guint i = 0; i < 5; i++)
    gst_buffer_list_add (list, rtp_packet (488, i == 4));
  packet_size = gst_buffer_get_size (gst_buffer_list_get (list, 0));
  g_assert_cmpuint (packet_size, ==, 500);

  start = g_get_monotonic_time ();
  result = gst_pad_push_list (src, list);
  g_assert_cmpint (result, ==, GST_FLOW_OK);
  g_assert_cmpuint (sink.arrivals->len, ==, 5);
  /* The last left four packet times after the first, which left after
   * the push began; the waits are within that. Without valgrind's slowness
   * (a packet's own handling under 10 ms) each waited most of its 10 ms. */
  g_assert_cmpint (g_array_index (sink.arrivals, gint64, 4) - start, >=, 40 * MS);
  g_assert_cmpint (natter_pacer_get_time_waited_us (pacer), <=,
                   g_array_index (sink.arrivals, gint64, 4) - start);
  if (time_scale () == 1)
    g_assert_cmpint (natter_pacer_get_time_waited_us (pacer), >=, 30 * MS);

  /* Stopped, it lets everything through at once. */
  natter_pacer_stop (pacer);
  start = g_get_monotonic_time ();
  for (guint i = 0; i < 20; i++)
    g_assert_cmpint (gst_pad_push (src, rtp_packet (4000, TRUE)), ==, GST_FLOW_OK);
  g_assert_cmpuint (sink.arrivals->len, ==, 25);
  /* 20 × 80 ms paced; a generous bound for a loaded machine (and more
   * under valgrind or ASan, NATTER_TEST_TIME_SCALE). */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 800 * MS * time_scale ());

  gst_pad_set_active (src, FALSE);
  gst_pad_set_active (sink_pad, FALSE);
  g_array_unref (sink.arrivals);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/pacer/frame-is-spread", test_frame_is_spread);
  g_test_add_func ("/natter/pacer/idle-time-is-not-saved", test_idle_time_is_not_saved);
  g_test_add_func ("/natter/pacer/audio-goes-first", test_audio_goes_first);
  g_test_add_func ("/natter/pacer/rate-change-applies-to-next-packet",
                   test_rate_change_applies_to_next_packet);
  g_test_add_func ("/natter/pacer/too-long-a-wait-drops-the-frame",
                   test_too_long_a_wait_drops_the_frame);
  g_test_add_func ("/natter/pacer/pads-pace-a-list", test_pads_pace_a_list);
  return g_test_run ();
}
