/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gst/rtp/rtp.h>

#include "natter-bandwidth-estimator.h"
#include "natter-call-adaptation.h"
#include "natter-rate-controller.h"

/* The estimator is fed feedback sequences recorded from a simulated path:
 * a sender at the estimate (30 video frames a second split in 1,200-byte
 * packets, a 100-byte audio packet every 20 ms), a bottleneck queue of a
 * given rate and size (as tbf), propagation delay, seeded random loss, and
 * a receiver that reports every 50 ms the way transport-wide congestion
 * control feedback does. The peer's clock is offset from ours: only
 * differences of arrival times may matter. */

#define REMOTE_CLOCK_OFFSET_US 987654321

typedef struct {
  guint rate_bps; /* 0: no bottleneck */
  guint delay_ms;
  double loss;
  guint queue_bytes;
  guint32 seed;
  /* The sender: the share of the estimate the encoder fills (0: all of
   * it), and a keyframe of this many bytes every this many ms (0: none). */
  double encoder_fill;
  guint keyframe_bytes;
  guint keyframe_interval_ms;
} PathProfile;

typedef struct {
  gint64 send_us;
  gint64 arrival_us; /* -1 lost */
  guint size;
} SentPacket;

typedef struct {
  guint final_estimate;
  guint min_estimate_after_5s;
  guint max_estimate_after_5s;
  double bottleneck_drop_after_5s; /* fraction of packets the queue dropped */
  guint max_queue_delay_ms_after_5s;
  guint overuse_signals;
} RunResult;

static RunResult
run_path (const PathProfile *path, guint start_bps, guint seconds)
{
  g_autoptr (NatterBandwidthEstimator) estimator =
    natter_bandwidth_estimator_new (50000, start_bps, 2500000);
  g_autoptr (GRand) rand = g_rand_new_with_seed (path->seed);
  g_autoptr (GArray) sent = g_array_new (FALSE, FALSE, sizeof (SentPacket));
  g_autoptr (GArray) feedback = g_array_new (FALSE, FALSE, sizeof (NatterPacketFeedback));
  RunResult result = { 0, G_MAXUINT, 0, 0, 0, 0 };
  gint64 link_free_us = 0; /* when the bottleneck has sent all it holds */
  guint reported = 0, dropped_late = 0, total_late = 0;
  gint64 end_us = (gint64) seconds * G_USEC_PER_SEC;
  NatterBandwidthUsage last_usage = NATTER_BANDWIDTH_USAGE_NORMAL;

  for (gint64 now = 0; now < end_us; now += 1000) {
    guint estimate = natter_bandwidth_estimator_get_estimate (estimator);
    GArray *burst = g_array_new (FALSE, FALSE, sizeof (guint));

    if (now % 33000 == 0) {
      double fill = path->encoder_fill > 0 ? path->encoder_fill : 1.0;
      guint frame = MAX (fill * estimate - 40000, 20000) / 30 / 8;

      if (path->keyframe_interval_ms > 0 && now > 0 &&
          now / 33000 % (path->keyframe_interval_ms / 33) == 0)
        frame += path->keyframe_bytes;

      for (guint left = frame; left > 0;) {
        guint size = MIN (left, 1200);

        g_array_append_val (burst, size);
        left -= size;
      }
    }
    if (now % 20000 == 0) {
      guint size = 100;

      g_array_append_val (burst, size);
    }

    for (guint i = 0; i < burst->len; i++) {
      SentPacket packet = { now, -1, g_array_index (burst, guint, i) };
      gboolean tail_drop = FALSE;

      if (path->rate_bps > 0) {
        gint64 backlog_us = MAX (link_free_us - now, 0);
        guint64 backlog_bytes = (guint64) backlog_us * path->rate_bps / 8 / G_USEC_PER_SEC;

        if (backlog_bytes + packet.size > path->queue_bytes) {
          tail_drop = TRUE;
        } else {
          link_free_us =
            MAX (link_free_us, now) + (gint64) packet.size * 8 * G_USEC_PER_SEC / path->rate_bps;
          packet.arrival_us = link_free_us + path->delay_ms * 1000;
          if (now >= 5 * G_USEC_PER_SEC)
            result.max_queue_delay_ms_after_5s =
              MAX (result.max_queue_delay_ms_after_5s, (guint) ((link_free_us - now) / 1000));
        }
      } else {
        packet.arrival_us = now + path->delay_ms * 1000;
      }
      if (!tail_drop && g_rand_double (rand) < path->loss)
        packet.arrival_us = -1;
      if (now >= 5 * G_USEC_PER_SEC) {
        total_late++;
        if (tail_drop)
          dropped_late++;
      }
      g_array_append_val (sent, packet);
    }
    g_array_unref (burst);

    /* Feedback every 50 ms on what has arrived (or is known lost) by now,
     * reaching us one propagation delay later. */
    if (now % 50000 == 0 && now > 0) {
      gint64 receiver_now = now - path->delay_ms * 1000;

      g_array_set_size (feedback, 0);
      while (reported < sent->len) {
        SentPacket *packet = &g_array_index (sent, SentPacket, reported);
        NatterPacketFeedback entry;

        if (packet->arrival_us >= 0 && packet->arrival_us > receiver_now)
          break;
        if (packet->arrival_us < 0 && packet->send_us + path->delay_ms * 1000 > receiver_now)
          break;
        entry.send_time_us = packet->send_us;
        entry.arrival_time_us =
          packet->arrival_us < 0 ? -1 : packet->arrival_us + REMOTE_CLOCK_OFFSET_US;
        entry.size = packet->size;
        g_array_append_val (feedback, entry);
        reported++;
      }
      natter_bandwidth_estimator_on_feedback (estimator, (NatterPacketFeedback *) feedback->data,
                                              feedback->len, now);
      if (natter_bandwidth_estimator_get_usage (estimator) == NATTER_BANDWIDTH_USAGE_OVERUSING &&
          last_usage != NATTER_BANDWIDTH_USAGE_OVERUSING)
        result.overuse_signals++;
      last_usage = natter_bandwidth_estimator_get_usage (estimator);
      if (now >= 5 * G_USEC_PER_SEC) {
        estimate = natter_bandwidth_estimator_get_estimate (estimator);
        result.min_estimate_after_5s = MIN (result.min_estimate_after_5s, estimate);
        result.max_estimate_after_5s = MAX (result.max_estimate_after_5s, estimate);
      }
    }
  }
  result.final_estimate = natter_bandwidth_estimator_get_estimate (estimator);
  result.bottleneck_drop_after_5s = total_late > 0 ? (double) dropped_late / total_late : 0;
  g_test_message ("rate %u delay %u loss %.2f: final %u, after 5 s %u-%u, drops %.3f, "
                  "queue <= %u ms, %u overuse signals",
                  path->rate_bps, path->delay_ms, path->loss, result.final_estimate,
                  result.min_estimate_after_5s, result.max_estimate_after_5s,
                  result.bottleneck_drop_after_5s, result.max_queue_delay_ms_after_5s,
                  result.overuse_signals);
  return result;
}

static void
test_clean_path_grows (void)
{
  PathProfile path = { 0, 20, 0, 0, 1 };
  RunResult result = run_path (&path, 300000, 20);

  /* Nothing limits it: from 300 kbit/s to well above a megabit in 20 s,
   * without a single false overuse. */
  g_assert_cmpuint (result.final_estimate, >, 1000000);
  g_assert_cmpuint (result.overuse_signals, ==, 0);
}

static void
test_bottleneck_800k (void)
{
  /* tbf-like: 800 kbit/s, a 30 KB queue (300 ms). */
  PathProfile path = { 800000, 40, 0, 30000, 2 };
  RunResult result = run_path (&path, 1500000, 20);

  g_assert_cmpuint (result.overuse_signals, >, 0);
  g_assert_cmpuint (result.max_estimate_after_5s, <=, 1000000);
  g_assert_cmpuint (result.min_estimate_after_5s, >=, 400000);
  g_assert_cmpfloat (result.bottleneck_drop_after_5s, <, 0.10);
  g_assert_cmpuint (result.max_queue_delay_ms_after_5s, <, 300);
}

/* As a call starts: low, then fast growth until the first congestion. */
static void
test_bottleneck_800k_from_low_start (void)
{
  PathProfile path = { 800000, 40, 0, 10000, 6 };
  RunResult result = run_path (&path, 300000, 20);

  g_assert_cmpuint (result.overuse_signals, >, 0);
  g_assert_cmpuint (result.max_estimate_after_5s, <=, 1000000);
  g_assert_cmpuint (result.min_estimate_after_5s, >=, 400000);
  g_assert_cmpfloat (result.bottleneck_drop_after_5s, <, 0.10);
}

static void
test_bottleneck_300k_with_loss (void)
{
  PathProfile path = { 300000, 40, 0.01, 15000, 3 };
  RunResult result = run_path (&path, 1000000, 20);

  g_assert_cmpuint (result.final_estimate, <=, 360000);
  g_assert_cmpuint (result.final_estimate, >=, 150000);
  g_assert_cmpfloat (result.bottleneck_drop_after_5s, <, 0.10);
}

static void
test_random_loss_holds (void)
{
  /* 5 % random loss is not congestion: the loss-based part holds rather
   * than cutting, and the delay signal stays quiet. */
  PathProfile path = { 0, 30, 0.05, 0, 4 };
  RunResult result = run_path (&path, 1000000, 15);

  g_assert_cmpuint (result.final_estimate, >=, 900000);
  g_assert_cmpuint (result.overuse_signals, ==, 0);
}

static void
test_heavy_loss_cuts (void)
{
  PathProfile path = { 0, 30, 0.25, 0, 5 };
  RunResult result = run_path (&path, 1000000, 10);

  g_assert_cmpuint (result.final_estimate, <, 400000);
  g_assert_cmpuint (result.final_estimate, >=, 50000);
}

static void
test_loss_report_fallback (void)
{
  g_autoptr (NatterBandwidthEstimator) estimator =
    natter_bandwidth_estimator_new (50000, 1000000, 2500000);
  NatterPacketFeedback packet = { 0, 1000, 1200 };
  gint64 now = 0;

  /* Receiver reports alone: 30 % lost cuts, each time. */
  natter_bandwidth_estimator_on_loss_report (estimator, 0.30, now);
  g_assert_cmpuint (natter_bandwidth_estimator_get_estimate (estimator), ==, 850000);
  natter_bandwidth_estimator_on_loss_report (estimator, 0.30, now += G_USEC_PER_SEC);
  g_assert_cmpuint (natter_bandwidth_estimator_get_estimate (estimator), <, 850000);
  g_assert_cmpfloat (natter_bandwidth_estimator_get_loss (estimator), >, 0.25);

  /* Out-of-range fractions from the network change nothing. */
  {
    guint before = natter_bandwidth_estimator_get_estimate (estimator);

    natter_bandwidth_estimator_on_loss_report (estimator, -1, now += G_USEC_PER_SEC);
    natter_bandwidth_estimator_on_loss_report (estimator, NAN, now += G_USEC_PER_SEC);
    natter_bandwidth_estimator_on_loss_report (estimator, 7, now += G_USEC_PER_SEC);
    g_assert_cmpuint (natter_bandwidth_estimator_get_estimate (estimator), ==, before);
  }

  /* While transport-wide feedback flows, it counts loss itself and the
   * reports are ignored. */
  natter_bandwidth_estimator_on_feedback (estimator, &packet, 1, now += G_USEC_PER_SEC);
  {
    guint before = natter_bandwidth_estimator_get_loss_estimate (estimator);

    natter_bandwidth_estimator_on_loss_report (estimator, 0.9, now + 100000);
    g_assert_cmpuint (natter_bandwidth_estimator_get_loss_estimate (estimator), ==, before);
  }
}

static void
test_odd_feedback (void)
{
  g_autoptr (NatterBandwidthEstimator) estimator =
    natter_bandwidth_estimator_new (50000, 500000, 2500000);
  NatterPacketFeedback packets[64];

  /* Empty, all lost, arrival times going backwards, duplicates: the
   * estimate stays within its bounds. */
  natter_bandwidth_estimator_on_feedback (estimator, NULL, 0, 0);
  for (guint i = 0; i < G_N_ELEMENTS (packets); i++) {
    packets[i].send_time_us = i * 7000;
    packets[i].arrival_time_us = (i % 3 == 0) ? -1 : (gint64) (G_N_ELEMENTS (packets) - i) * 9000;
    packets[i].size = i % 2 ? 1200 : 0;
  }
  for (guint round = 0; round < 20; round++)
    natter_bandwidth_estimator_on_feedback (estimator, packets, G_N_ELEMENTS (packets),
                                            round * 50000);
  g_assert_cmpuint (natter_bandwidth_estimator_get_estimate (estimator), >=, 50000);
  g_assert_cmpuint (natter_bandwidth_estimator_get_estimate (estimator), <=, 2500000);
}

/* A sender far below its estimate (the encoder skipping frames) sees its
 * delay grow: the estimate comes down, but not to what little was
 * acknowledged, in one step: at most to 0.85 × half of it. */
static void
test_overuse_cut_is_bounded (void)
{
  g_autoptr (NatterBandwidthEstimator) estimator =
    natter_bandwidth_estimator_new (50000, 1000000, 2500000);
  gint64 now = 0, delay = 40000;
  guint before;

  /* 50 bytes every 10 ms (40 kbit/s), reported every 50 ms, each arriving
   * 2 ms later than the one before: a queue filling. */
  for (guint report = 0; report < 40; report++) {
    NatterPacketFeedback packets[5];

    for (guint i = 0; i < 5; i++) {
      now += 10000;
      delay += 2000;
      packets[i].send_time_us = now;
      packets[i].arrival_time_us = now + delay + REMOTE_CLOCK_OFFSET_US;
      packets[i].size = 50;
    }
    before = natter_bandwidth_estimator_get_estimate (estimator);
    natter_bandwidth_estimator_on_feedback (estimator, packets, 5, now + delay + 10000);
    if (natter_bandwidth_estimator_get_estimate (estimator) < before)
      break;
  }
  g_assert_cmpuint (natter_bandwidth_estimator_get_acknowledged_bitrate (estimator), <, 60000);
  g_assert_cmpuint (natter_bandwidth_estimator_get_estimate (estimator), <, before);
  g_assert_cmpuint (natter_bandwidth_estimator_get_estimate (estimator), >=,
                    0.85 * 0.5 * before - 1);
  g_assert_true (natter_bandwidth_estimator_get_limited (estimator));
}

/* An encoder that sends less than it is allowed (VP8 at 180p sends about
 * half its target on the bench's picture) on 300 kbit/s with 1 % loss and
 * a keyframe every 3 s: the keyframes queue briefly and read as overuse.
 * Cutting from what was acknowledged (the encoder's rate, not the path's)
 * took the estimate from about 200 down to 100 kbit/s over a 20 s call on
 * the emulator, and further the longer it ran. */
static void
test_app_limited_does_not_drift (void)
{
  PathProfile path = { 300000, 40, 0.01, 3750, 7, 0.5, 4000, 3000 };
  RunResult result = run_path (&path, 300000, 60);

  g_assert_cmpuint (result.overuse_signals, >, 0);
  g_assert_cmpuint (result.final_estimate, >=, 200000);
  g_assert_cmpuint (result.min_estimate_after_5s, >=, 150000);
  g_assert_cmpfloat (result.bottleneck_drop_after_5s, <, 0.10);
}

/* The other side of it: a sender well under its estimate whose path then
 * carries even less must still be followed down (the acknowledged rate
 * falls behind what was sent, so it is not application-limited). */
static void
test_app_limited_follows_real_bottleneck (void)
{
  PathProfile path = { 150000, 40, 0, 3750, 8, 0.5, 0, 0 };
  RunResult result = run_path (&path, 1500000, 20);

  g_assert_cmpuint (result.final_estimate, <=, 400000);
  g_assert_cmpfloat (result.bottleneck_drop_after_5s, <, 0.10);
}

static void
test_ladder (void)
{
  g_autoptr (NatterRateController) controller = natter_rate_controller_new ();
  const NatterRatePlan *plan;
  gint64 now = 0;

  plan = natter_rate_controller_update (controller, 2000000, now);
  g_assert_cmpuint (plan->max_height, ==, 720);
  g_assert_cmpuint (plan->max_fps, ==, 30);
  g_assert_cmpuint (plan->audio_bps, ==, 32000);
  g_assert_cmpuint (plan->video_bps + plan->audio_bps, <=, 2000000);

  /* Down at once, several rungs if need be. */
  plan = natter_rate_controller_update (controller, 1100000, now += 100000);
  g_assert_cmpuint (plan->max_height, ==, 480);
  plan = natter_rate_controller_update (controller, 250000, now += 100000);
  g_assert_cmpuint (plan->max_height, ==, 240);
  g_assert_cmpuint (plan->max_fps, ==, 30);
  g_assert_cmpuint (plan->audio_bps, ==, 32000);
  /* Below 240p, 180p keeps 30 fps while video has 60 kbit/s (90 % of the
   * estimate, less Opus's 32 kbit/s): 103 kbit/s is just above that edge,
   * 102 just below, and there Opus still has its full rate. */
  plan = natter_rate_controller_update (controller, 200000, now += 100000);
  g_assert_cmpuint (plan->max_height, ==, 180);
  g_assert_cmpuint (plan->max_fps, ==, 30);
  plan = natter_rate_controller_update (controller, 103000, now += 100000);
  g_assert_cmpuint (plan->max_height, ==, 180);
  g_assert_cmpuint (plan->max_fps, ==, 30);
  plan = natter_rate_controller_update (controller, 102000, now += 100000);
  g_assert_cmpuint (plan->max_height, ==, 180);
  g_assert_cmpuint (plan->max_fps, ==, 15);
  g_assert_cmpuint (plan->audio_bps, ==, 32000);
  g_assert_cmpuint (plan->rung, ==, natter_rate_controller_get_n_rungs () - 1);

  /* Audio goes last, and video keeps a floor. */
  plan = natter_rate_controller_update (controller, 60000, now += 100000);
  g_assert_cmpuint (plan->audio_bps, ==, 16000);
  g_assert_cmpuint (plan->video_bps, >=, 50000);

  /* Up only after the estimate has held above the next rung for 3 s. */
  plan = natter_rate_controller_update (controller, 800000, now += 100000);
  g_assert_cmpuint (plan->max_fps, ==, 15);
  plan = natter_rate_controller_update (controller, 800000, now += 2 * G_USEC_PER_SEC);
  g_assert_cmpuint (plan->max_fps, ==, 15);
  plan = natter_rate_controller_update (controller, 800000, now += 1100000);
  g_assert_cmpuint (plan->max_fps, ==, 30);
  g_assert_cmpuint (plan->max_height, ==, 180);
  /* A dip restarts the wait. */
  plan = natter_rate_controller_update (controller, 800000, now += 2 * G_USEC_PER_SEC);
  plan = natter_rate_controller_update (controller, 200000, now += 100000);
  plan = natter_rate_controller_update (controller, 800000, now += 1100000);
  g_assert_cmpuint (plan->max_height, ==, 180);
  plan = natter_rate_controller_update (controller, 800000, now += 3 * G_USEC_PER_SEC);
  g_assert_cmpuint (plan->max_height, ==, 240);
}

/* rtpsession's RTPTWCCPackets as GStreamer 1.22 sends it upstream: a
 * GValueArray of RTPTWCCPacket structures, times in nanoseconds, lost
 * packets with remote-ts GST_CLOCK_TIME_NONE. */
static GstStructure *
twcc_packets (guint n, guint lost_every)
{
  GstStructure *packets = gst_structure_new_empty ("RTPTWCCPackets");
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  GValueArray *array = g_value_array_new (n);
  GValue value = G_VALUE_INIT;

  for (guint i = 0; i < n; i++) {
    GValue item = G_VALUE_INIT;
    gboolean lost = lost_every > 0 && i % lost_every == lost_every - 1;
    GstStructure *packet = gst_structure_new (
      "RTPTWCCPacket", "seqnum", G_TYPE_UINT, i, "local-ts", G_TYPE_UINT64,
      (guint64) (1000 + i * 10) * GST_MSECOND, "remote-ts", G_TYPE_UINT64,
      lost ? GST_CLOCK_TIME_NONE : (guint64) (5000 + i * 10 + 40) * GST_MSECOND, "payload-type",
      G_TYPE_UCHAR, 96, "size", G_TYPE_UINT, 1200u, "lost", G_TYPE_BOOLEAN, lost, NULL);

    g_value_init (&item, GST_TYPE_STRUCTURE);
    g_value_take_boxed (&item, packet);
    g_value_array_append (array, &item);
    g_value_unset (&item);
  }
  g_value_init (&value, g_value_array_get_type ());
  g_value_take_boxed (&value, array);
  G_GNUC_END_IGNORE_DEPRECATIONS
  gst_structure_take_value (packets, "packets", &value);
  return packets;
}

static void
test_parse_twcc (void)
{
  g_autoptr (GstStructure) packets = twcc_packets (10, 5);
  g_autoptr (GstStructure) other = gst_structure_new_empty ("GstForceKeyUnit");
  g_autoptr (GstStructure) empty = gst_structure_new_empty ("RTPTWCCPackets");
  g_autoptr (GArray) feedback = natter_call_adaptation_parse_twcc (packets);
  g_autoptr (GArray) none = natter_call_adaptation_parse_twcc (other);
  g_autoptr (GArray) nothing = natter_call_adaptation_parse_twcc (empty);
  NatterPacketFeedback *first, *lost;

  g_assert_cmpuint (feedback->len, ==, 10);
  first = &g_array_index (feedback, NatterPacketFeedback, 0);
  g_assert_cmpint (first->send_time_us, ==, 1000000);
  g_assert_cmpint (first->arrival_time_us, ==, 5040000);
  g_assert_cmpuint (first->size, ==, 1200);
  lost = &g_array_index (feedback, NatterPacketFeedback, 4);
  g_assert_cmpint (lost->arrival_time_us, <, 0);
  g_assert_cmpuint (none->len, ==, 0);
  g_assert_cmpuint (nothing->len, ==, 0);
}

/* A stream of feedback with a packet in five lost: Opus is told to expect
 * 20 % loss, and the estimate comes down. */
static void
test_adaptation_follows_feedback (void)
{
  g_autoptr (NatterCallAdaptation) adaptation = natter_call_adaptation_new (60, 0);
  g_autoptr (GstElement) opus = gst_element_factory_make ("opusenc", NULL);
  guint start = natter_call_adaptation_get_estimate (adaptation);
  int percentage = 0;

  if (opus == NULL) {
    g_test_skip ("no opusenc");
    return;
  }
  natter_call_adaptation_set_audio_encoder (adaptation, opus);
  for (guint i = 0; i < 20; i++) {
    g_autoptr (GstStructure) packets = twcc_packets (10, 5);

    natter_call_adaptation_on_twcc (adaptation, packets, (gint64) i * 100000);
  }
  g_object_get (opus, "packet-loss-percentage", &percentage, NULL);
  g_assert_cmpint (percentage, >=, 15);
  g_assert_cmpint (percentage, <=, 25);
  g_assert_cmpuint (natter_call_adaptation_get_estimate (adaptation), <, start);
}

/* Opus codes no FEC at a packet-loss-percentage of 0: a loss that rounds
 * to 0 % still asks for 1 %, from NATTER_CALL_ADAPTATION_MIN_FEC_LOSS. */
static void
test_small_loss_keeps_fec (void)
{
  g_autoptr (NatterCallAdaptation) adaptation = natter_call_adaptation_new (60, 0);
  g_autoptr (NatterCallAdaptation) lossless = natter_call_adaptation_new (60, 0);
  g_autoptr (GstElement) opus = gst_element_factory_make ("opusenc", NULL);
  g_autoptr (GstElement) lossless_opus = gst_element_factory_make ("opusenc", NULL);
  int percentage = -1;

  if (opus == NULL || lossless_opus == NULL) {
    g_test_skip ("no opusenc");
    return;
  }
  natter_call_adaptation_set_audio_encoder (adaptation, opus);
  natter_call_adaptation_set_audio_encoder (lossless, lossless_opus);
  natter_call_adaptation_on_receiver_report (adaptation, 50, NATTER_CALL_ADAPTATION_MIN_FEC_LOSS,
                                             1000000);
  g_object_get (opus, "packet-loss-percentage", &percentage, NULL);
  g_assert_cmpint (percentage, ==, 1);
  /* Under the edge: no FEC asked for. */
  natter_call_adaptation_on_receiver_report (lossless, 50, NATTER_CALL_ADAPTATION_MIN_FEC_LOSS / 2,
                                             1000000);
  g_object_get (lossless_opus, "packet-loss-percentage", &percentage, NULL);
  g_assert_cmpint (percentage, ==, 0);
}

static void
test_latency_for_rtt (void)
{
  /* Unknown: the floor; a LAN: the floor; 100 ms: one retransmission and
   * some; far: bounded at 400 ms. */
  g_assert_cmpuint (natter_call_adaptation_latency_for_rtt (60, -1), ==, 60);
  g_assert_cmpuint (natter_call_adaptation_latency_for_rtt (60, 0), ==, 60);
  g_assert_cmpuint (natter_call_adaptation_latency_for_rtt (60, 10), ==, 85);
  /* The 30 ms / 5 % link's round trip: room for a second request. */
  g_assert_cmpuint (natter_call_adaptation_latency_for_rtt (60, 63), ==, 217);
  g_assert_cmpuint (natter_call_adaptation_latency_for_rtt (60, 100), ==, 310);
  g_assert_cmpuint (natter_call_adaptation_latency_for_rtt (60, 135), ==, 397);
  g_assert_cmpuint (natter_call_adaptation_latency_for_rtt (60, 399), ==, 400);
  g_assert_cmpuint (natter_call_adaptation_latency_for_rtt (60, 5000), ==, 400);
  g_assert_cmpuint (natter_call_adaptation_latency_for_rtt (500, 100), ==, 500);
}

/* Before RTCP has a round trip, transport-wide feedback gives one: each
 * report comes back some time after the newest packet it covers was sent
 * (here 150 ms for the quickest, more for the others), and the jitter
 * buffers wait for one retransmission. An RTCP round trip then wins. */
static void
test_round_trip_from_feedback (void)
{
  g_autoptr (NatterCallAdaptation) adaptation = natter_call_adaptation_new (60, 0);
  /* twcc_packets(): the newest packet was sent at 1,090 ms. */
  gint64 newest_send_us = 1090000;

  g_assert_cmpfloat (natter_call_adaptation_get_round_trip_time (adaptation), <, 0);
  g_assert_cmpuint (natter_call_adaptation_get_latency (adaptation), ==, 60);
  for (guint i = 0; i < 5; i++) {
    g_autoptr (GstStructure) packets = twcc_packets (10, 0);

    natter_call_adaptation_on_twcc (adaptation, packets, newest_send_us + (300 - i * 30) * 1000);
  }
  g_assert_cmpfloat_with_epsilon (natter_call_adaptation_get_round_trip_time (adaptation), 180.0,
                                  0.01);
  {
    g_autoptr (GstStructure) packets = twcc_packets (10, 0);

    natter_call_adaptation_on_twcc (adaptation, packets, newest_send_us + 150000);
  }
  g_assert_cmpfloat_with_epsilon (natter_call_adaptation_get_round_trip_time (adaptation), 150.0,
                                  0.01);
  g_assert_cmpuint (natter_call_adaptation_get_latency (adaptation), ==,
                    natter_call_adaptation_latency_for_rtt (60, 150));

  /* A report that came before its packets were sent is no round trip. */
  {
    g_autoptr (GstStructure) packets = twcc_packets (10, 0);

    natter_call_adaptation_on_twcc (adaptation, packets, newest_send_us - 1000);
  }
  g_assert_cmpfloat_with_epsilon (natter_call_adaptation_get_round_trip_time (adaptation), 150.0,
                                  0.01);

  /* RTCP's round trip, once there is one, is the one used. */
  natter_call_adaptation_on_receiver_report (adaptation, 100, -1, newest_send_us + 200000);
  g_assert_cmpfloat_with_epsilon (natter_call_adaptation_get_round_trip_time (adaptation), 100.0,
                                  0.01);
  {
    g_autoptr (GstStructure) packets = twcc_packets (10, 0);

    natter_call_adaptation_on_twcc (adaptation, packets, newest_send_us + 2500000);
  }
  g_assert_cmpfloat_with_epsilon (natter_call_adaptation_get_round_trip_time (adaptation), 100.0,
                                  0.01);
}

static void
test_retry_timeout_for_rtt (void)
{
  /* Unknown: the jitter buffer's own choice; a LAN: at least 20 ms; the
   * 30 ms / 5 % link: a round trip and 20 ms; far: bounded. */
  g_assert_cmpint (natter_call_adaptation_retry_timeout_for_rtt (-1), ==, -1);
  g_assert_cmpint (natter_call_adaptation_retry_timeout_for_rtt (NAN), ==, -1);
  g_assert_cmpint (natter_call_adaptation_retry_timeout_for_rtt (0), ==, 20);
  g_assert_cmpint (natter_call_adaptation_retry_timeout_for_rtt (63), ==, 83);
  g_assert_cmpint (natter_call_adaptation_retry_timeout_for_rtt (279), ==, 299);
  g_assert_cmpint (natter_call_adaptation_retry_timeout_for_rtt (280), ==, 300);
  g_assert_cmpint (natter_call_adaptation_retry_timeout_for_rtt (5000), ==, 300);
}

static void
assert_retransmission_timing (GstElement *jitterbuffer, guint latency, int retry_timeout)
{
  guint actual_latency = 0;
  int delay = -1;
  int actual_retry_timeout = 0;
  gboolean next_seqnum = TRUE;

  g_object_get (jitterbuffer, "latency", &actual_latency, "rtx-delay", &delay, "rtx-retry-timeout",
                &actual_retry_timeout, "rtx-next-seqnum", &next_seqnum, NULL);
  g_assert_cmpuint (actual_latency, ==, latency);
  /* Asked for soon after the gap, not after its own 16-40 ms, and only
   * for a gap: not for the next packet, which a paced frame may not have
   * sent yet. */
  g_assert_cmpint (delay, >=, 0);
  g_assert_cmpint (delay, <=, 10);
  g_assert_false (next_seqnum);
  g_assert_cmpint (actual_retry_timeout, ==, retry_timeout);
}

/* The jitter buffers follow the round trip: their latency and their
 * retry timeout, for those there and those made later; a few ms of change
 * moves neither. */
static void
test_jitterbuffer_follows_round_trip (void)
{
  g_autoptr (NatterCallAdaptation) adaptation = natter_call_adaptation_new (60, 0);
  g_autoptr (GstElement) early = gst_element_factory_make ("rtpjitterbuffer", NULL);
  g_autoptr (GstElement) late = gst_element_factory_make ("rtpjitterbuffer", NULL);

  g_assert_nonnull (early);
  g_assert_nonnull (late);
  gst_object_ref_sink (early);
  gst_object_ref_sink (late);
  natter_call_adaptation_add_jitterbuffer (adaptation, early);
  assert_retransmission_timing (early, 60, -1);

  natter_call_adaptation_on_receiver_report (adaptation, 63, -1, 1000000);
  assert_retransmission_timing (early, natter_call_adaptation_latency_for_rtt (60, 63),
                                natter_call_adaptation_retry_timeout_for_rtt (63));
  natter_call_adaptation_on_receiver_report (adaptation, 67, -1, 2000000);
  assert_retransmission_timing (early, natter_call_adaptation_latency_for_rtt (60, 63),
                                natter_call_adaptation_retry_timeout_for_rtt (63));

  natter_call_adaptation_add_jitterbuffer (adaptation, late);
  assert_retransmission_timing (late, natter_call_adaptation_latency_for_rtt (60, 63),
                                natter_call_adaptation_retry_timeout_for_rtt (63));

  /* At the bounds: 400 ms of latency, 300 ms between requests. */
  natter_call_adaptation_on_receiver_report (adaptation, 5000, -1, 3000000);
  assert_retransmission_timing (early, 400, 300);
  assert_retransmission_timing (late, 400, 300);
}

/* An rtpsession as a call's: the peer's video comes in; the jitter buffer
 * asks for packets (as it does after a loss) and the NACKs in the RTCP
 * going out are timed. */
typedef struct {
  GMutex lock;
  gint64 nacked_us[2];
  guint16 seqnums[2];
  guint rtcp_packets;
} NackWatch;

static GstPadProbeReturn
watch_nacks (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  NackWatch *watch = user_data;
  GstRTCPBuffer rtcp = GST_RTCP_BUFFER_INIT;
  GstRTCPPacket packet;
  gint64 now = g_get_monotonic_time ();
  gboolean more;

  if (!gst_rtcp_buffer_map (GST_PAD_PROBE_INFO_BUFFER (info), GST_MAP_READ, &rtcp))
    return GST_PAD_PROBE_OK;
  g_mutex_lock (&watch->lock);
  watch->rtcp_packets++;
  for (more = gst_rtcp_buffer_get_first_packet (&rtcp, &packet); more;
       more = gst_rtcp_packet_move_to_next (&packet)) {
    const guint8 *fci;

    if (gst_rtcp_packet_get_type (&packet) != GST_RTCP_TYPE_RTPFB ||
        gst_rtcp_packet_fb_get_type (&packet) != GST_RTCP_RTPFB_TYPE_NACK)
      continue;
    fci = gst_rtcp_packet_fb_get_fci (&packet);
    for (guint i = 0; fci != NULL && i < gst_rtcp_packet_fb_get_fci_length (&packet); i++) {
      guint16 pid = GST_READ_UINT16_BE (fci + 4 * i);
      guint16 blp = GST_READ_UINT16_BE (fci + 4 * i + 2);

      for (guint j = 0; j < G_N_ELEMENTS (watch->seqnums); j++) {
        guint16 offset = watch->seqnums[j] - pid;

        if (watch->nacked_us[j] == 0 &&
            (offset == 0 || (offset <= 16 && (blp >> (offset - 1)) & 1)))
          watch->nacked_us[j] = now;
      }
    }
  }
  g_mutex_unlock (&watch->lock);
  gst_rtcp_buffer_unmap (&rtcp);
  return GST_PAD_PROBE_OK;
}

#define PEER_SSRC 0x12345678

static void
push_rtp (GstPad *pad, GstElement *pipeline, guint16 seqnum)
{
  GstBuffer *buffer = gst_rtp_buffer_new_allocate (100, 0, 0);
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  g_autoptr (GstClock) clock = gst_element_get_clock (pipeline);
  GstClockTime running_time = gst_clock_get_time (clock) - gst_element_get_base_time (pipeline);

  gst_rtp_buffer_map (buffer, GST_MAP_WRITE, &rtp);
  gst_rtp_buffer_set_ssrc (&rtp, PEER_SSRC);
  gst_rtp_buffer_set_seq (&rtp, seqnum);
  gst_rtp_buffer_set_payload_type (&rtp, 96);
  gst_rtp_buffer_set_timestamp (&rtp, (guint32) (running_time * 90000 / GST_SECOND));
  gst_rtp_buffer_unmap (&rtp);
  GST_BUFFER_PTS (buffer) = GST_BUFFER_DTS (buffer) = running_time;
  g_assert_cmpint (gst_pad_push (pad, buffer), ==, GST_FLOW_OK);
}

static void
request_retransmission (GstPad *recv_rtp_src, guint16 seqnum)
{
  /* As rtpjitterbuffer asks: 5 ms late, 400 ms of latency, a 60 ms round
   * trip measured. */
  GstStructure *request =
    gst_structure_new ("GstRTPRetransmissionRequest", "seqnum", G_TYPE_UINT, (guint) seqnum, "ssrc",
                       G_TYPE_UINT, (guint) PEER_SSRC, "delay", G_TYPE_UINT, 5u, "deadline",
                       G_TYPE_UINT, 400u, "avg-rtt", G_TYPE_UINT, 60u, NULL);

  gst_pad_send_event (recv_rtp_src, gst_event_new_custom (GST_EVENT_CUSTOM_UPSTREAM, request));
}

static guint
scale_ms (guint ms)
{
  const char *scale = g_getenv ("NATTER_TEST_TIME_SCALE");
  guint factor = scale != NULL ? (guint) g_ascii_strtoull (scale, NULL, 10) : 1;

  return ms * MAX (factor, 1);
}

/* Two losses 40 ms apart, at the low bitrate where rtpsession's own
 * timing made the second NACK wait for room for early feedback (290 ms in
 * one run, past its deadline and never in another): each NACK now leaves
 * within a fraction of a ms of its request. */
static void
test_nacks_leave_at_once (void)
{
  g_autoptr (GstElement) pipeline = gst_pipeline_new (NULL);
  GstElement *session = gst_element_factory_make ("rtpsession", NULL);
  GstElement *rtp_sink = gst_element_factory_make ("fakesink", NULL);
  GstElement *rtcp_sink = gst_element_factory_make ("fakesink", NULL);
  g_autoptr (GstPad) source = gst_pad_new ("src", GST_PAD_SRC);
  g_autoptr (GstPad) recv_rtp_sink = NULL;
  g_autoptr (GstPad) recv_rtp_src = NULL;
  g_autoptr (GstPad) send_rtcp_src = NULL;
  g_autoptr (GstPad) rtcp_sink_pad = NULL;
  g_autoptr (GstCaps) caps = gst_caps_from_string (
    "application/x-rtp, media=video, clock-rate=90000, encoding-name=VP8, payload=96");
  GstSegment segment;
  NackWatch watch = { .seqnums = { 90, 93 } };
  gint64 requested_us[2] = { 0, 0 };
  gint64 deadline;
  guint16 seqnum = 1;

  g_assert_nonnull (session);
  g_mutex_init (&watch.lock);
  /* As webrtcbin and NatterCallPipeline set it. */
  gst_util_set_object_arg (G_OBJECT (session), "rtp-profile", "savpf");
  g_object_set (session, "rtcp-min-interval", (guint64) GST_SECOND, NULL);
  natter_call_adaptation_configure_session (session);
  g_object_set (rtcp_sink, "sync", FALSE, "async", FALSE, NULL);
  g_object_set (rtp_sink, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add_many (GST_BIN (pipeline), session, rtp_sink, rtcp_sink, NULL);
  recv_rtp_sink = gst_element_request_pad_simple (session, "recv_rtp_sink");
  send_rtcp_src = gst_element_request_pad_simple (session, "send_rtcp_src");
  recv_rtp_src = gst_element_get_static_pad (session, "recv_rtp_src");
  rtcp_sink_pad = gst_element_get_static_pad (rtcp_sink, "sink");
  g_assert_cmpint (gst_pad_link (source, recv_rtp_sink), ==, GST_PAD_LINK_OK);
  g_assert_true (gst_element_link_pads (session, "recv_rtp_src", rtp_sink, "sink"));
  g_assert_cmpint (gst_pad_link (send_rtcp_src, rtcp_sink_pad), ==, GST_PAD_LINK_OK);
  gst_pad_add_probe (rtcp_sink_pad, GST_PAD_PROBE_TYPE_BUFFER, watch_nacks, &watch, NULL);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);

  gst_pad_set_active (source, TRUE);
  gst_pad_push_event (source, gst_event_new_stream_start ("nack-timing"));
  gst_pad_push_event (source, gst_event_new_caps (caps));
  gst_segment_init (&segment, GST_FORMAT_TIME);
  gst_pad_push_event (source, gst_event_new_segment (&segment));

  /* 50 small packets a second (the least bitrate rtpsession assumes), 89
   * and 92 lost; the requests go once the regular reports have started. */
  deadline = g_get_monotonic_time () + scale_ms (10000) * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < deadline) {
    gboolean done;

    if (seqnum != 89 && seqnum != 92)
      push_rtp (source, pipeline, seqnum);
    g_mutex_lock (&watch.lock);
    if (seqnum >= 91 && requested_us[0] == 0 && watch.rtcp_packets > 0) {
      requested_us[0] = g_get_monotonic_time ();
      watch.seqnums[0] = 89;
      request_retransmission (recv_rtp_src, 89);
    } else if (requested_us[0] != 0 && requested_us[1] == 0 &&
               g_get_monotonic_time () - requested_us[0] >= 40 * G_TIME_SPAN_MILLISECOND) {
      requested_us[1] = g_get_monotonic_time ();
      watch.seqnums[1] = 92;
      request_retransmission (recv_rtp_src, 92);
    }
    done = watch.nacked_us[0] != 0 && watch.nacked_us[1] != 0;
    g_mutex_unlock (&watch.lock);
    if (done)
      break;
    /* The peer's packet rate, not a wait for a result. */
    g_usleep (20 * G_TIME_SPAN_MILLISECOND);
    seqnum++;
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_element_release_request_pad (session, recv_rtp_sink);
  gst_element_release_request_pad (session, send_rtcp_src);
  g_mutex_clear (&watch.lock);

  g_test_message ("NACKs after %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT " us",
                  watch.nacked_us[0] - requested_us[0], watch.nacked_us[1] - requested_us[1]);
  g_assert_cmpint (requested_us[1], >, 0);
  g_assert_cmpint (watch.nacked_us[0], >=, requested_us[0]);
  g_assert_cmpint (watch.nacked_us[1], >=, requested_us[1]);
  g_assert_cmpint (watch.nacked_us[0] - requested_us[0], <=,
                   scale_ms (60) * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpint (watch.nacked_us[1] - requested_us[1], <=,
                   scale_ms (60) * G_TIME_SPAN_MILLISECOND);
}

static void
test_keyframe_requests_limited (void)
{
  g_autoptr (NatterCallAdaptation) adaptation = natter_call_adaptation_new (60, 0);

  /* A storm of PLIs within 300 ms makes one keyframe. */
  g_assert_true (natter_call_adaptation_allow_keyframe (adaptation, 1000000));
  g_assert_false (natter_call_adaptation_allow_keyframe (adaptation, 1050000));
  g_assert_false (natter_call_adaptation_allow_keyframe (adaptation, 1299000));
  g_assert_true (natter_call_adaptation_allow_keyframe (adaptation, 1300000));
}

/* Replays @path, feedback recorded from a real call with
 * NATTER_CALL_FEEDBACK_RECORD (natter-call-adaptation.c), into a new
 * estimator made as a call makes it; calls @check with the estimate after
 * each step. Returns the number of feedback lines. */
static guint
replay_recording (const char *path,
                  NatterBandwidthEstimator *estimator,
                  void (*check) (gint64 elapsed_us, guint estimate))
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  gint64 start_us = -1;
  guint n_feedback = 0;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++) {
    g_auto (GStrv) fields = g_strsplit (lines[i], " ", -1);
    gint64 now_us = g_ascii_strtoll (fields[1], NULL, 10);

    if (start_us < 0)
      start_us = now_us;
    if (g_str_equal (fields[0], "L")) {
      natter_bandwidth_estimator_on_loss_report (estimator, g_ascii_strtod (fields[2], NULL),
                                                 now_us);
    } else {
      g_autoptr (GArray) packets = g_array_new (FALSE, FALSE, sizeof (NatterPacketFeedback));

      g_assert_cmpstr (fields[0], ==, "F");
      for (guint f = 2; fields[f] != NULL; f++) {
        NatterPacketFeedback packet = { 0 };

        g_assert_cmpint (sscanf (fields[f], "%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%u",
                                 &packet.send_time_us, &packet.arrival_time_us, &packet.size),
                         ==, 3);
        g_array_append_val (packets, packet);
      }
      natter_bandwidth_estimator_on_feedback (estimator, (NatterPacketFeedback *) packets->data,
                                              packets->len, now_us);
      n_feedback++;
    }
    check (now_us - start_us, natter_bandwidth_estimator_get_estimate (estimator));
  }
  return n_feedback;
}

static void
check_800k_link (gint64 elapsed_us, guint estimate)
{
  /* Never far over the link; once found (after 8 s), not far under it. */
  g_assert_cmpuint (estimate, <=, 960000);
  if (elapsed_us > 8 * G_USEC_PER_SEC)
    g_assert_cmpuint (estimate, >=, 400000);
}

/* Transport-wide feedback and receiver reports recorded from a real call
 * across the link emulator (800 kbit/s, 40 ms each way, no loss;
 * `NATTER_CALL_FEEDBACK_RECORD=DIR natter-bench calls --link 40,0,800
 * --count 1 --duration 20`): the estimate finds the link and stays under it. */
static void
test_recorded_800k_call (void)
{
  g_autofree char *path =
    g_test_build_filename (G_TEST_DIST, "data", "feedback-800kbit-40ms.txt", NULL);
  NatterBandwidthEstimator *estimator = natter_bandwidth_estimator_new (60000, 300000, 2500000);

  g_assert_cmpuint (replay_recording (path, estimator, check_800k_link), >, 500);
  g_test_message ("estimate at the end: %u bit/s",
                  natter_bandwidth_estimator_get_estimate (estimator));
  g_assert_cmpuint (natter_bandwidth_estimator_get_estimate (estimator), >=, 500000);
  natter_bandwidth_estimator_free (estimator);
}

static void
check_nothing (gint64 elapsed_us, guint estimate)
{
}

/* What NATTER_CALL_FEEDBACK_RECORD writes reads back as the same feedback. */
static void
test_records_feedback (void)
{
  g_autofree char *dir = g_dir_make_tmp ("natter-feedback-XXXXXX", NULL);
  g_autoptr (GstStructure) packets = twcc_packets (10, 5);
  g_autoptr (GDir) listing = NULL;
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  NatterCallAdaptation *adaptation;
  NatterBandwidthEstimator *estimator;

  g_setenv ("NATTER_CALL_FEEDBACK_RECORD", dir, TRUE);
  adaptation = natter_call_adaptation_new (60, 0);
  g_unsetenv ("NATTER_CALL_FEEDBACK_RECORD");
  natter_call_adaptation_on_twcc (adaptation, packets, 7000000);
  natter_call_adaptation_on_receiver_report (adaptation, 80, 0.25, 7100000);
  natter_call_adaptation_free (adaptation);

  listing = g_dir_open (dir, 0, NULL);
  path = g_build_filename (dir, g_dir_read_name (listing), NULL);
  g_assert_null (g_dir_read_name (listing));
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_true (g_str_has_prefix (text, "F 7000000 1000000,5040000,1200 "));
  g_assert_nonnull (strstr (text, ",-1,1200 "));
  g_assert_true (g_str_has_suffix (text, "\nL 7100000 0.250000\n"));
  estimator = natter_bandwidth_estimator_new (60000, 300000, 2500000);
  g_assert_cmpuint (replay_recording (path, estimator, check_nothing), ==, 1);
  natter_bandwidth_estimator_free (estimator);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char *argv[])
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/bandwidth-estimator/clean-path-grows", test_clean_path_grows);
  g_test_add_func ("/natter/bandwidth-estimator/bottleneck-800k", test_bottleneck_800k);
  g_test_add_func ("/natter/call-adaptation/round-trip-from-feedback",
                   test_round_trip_from_feedback);
  g_test_add_func ("/natter/bandwidth-estimator/bottleneck-800k-from-low-start",
                   test_bottleneck_800k_from_low_start);
  g_test_add_func ("/natter/bandwidth-estimator/bottleneck-300k-with-loss",
                   test_bottleneck_300k_with_loss);
  g_test_add_func ("/natter/bandwidth-estimator/random-loss-holds", test_random_loss_holds);
  g_test_add_func ("/natter/bandwidth-estimator/heavy-loss-cuts", test_heavy_loss_cuts);
  g_test_add_func ("/natter/bandwidth-estimator/loss-report-fallback", test_loss_report_fallback);
  g_test_add_func ("/natter/bandwidth-estimator/odd-feedback", test_odd_feedback);
  g_test_add_func ("/natter/bandwidth-estimator/overuse-cut-is-bounded",
                   test_overuse_cut_is_bounded);
  g_test_add_func ("/natter/bandwidth-estimator/app-limited-does-not-drift",
                   test_app_limited_does_not_drift);
  g_test_add_func ("/natter/bandwidth-estimator/app-limited-follows-real-bottleneck",
                   test_app_limited_follows_real_bottleneck);
  g_test_add_func ("/natter/bandwidth-estimator/recorded-800k-call", test_recorded_800k_call);
  g_test_add_func ("/natter/call-adaptation/records-feedback", test_records_feedback);
  g_test_add_func ("/natter/rate-controller/ladder", test_ladder);
  g_test_add_func ("/natter/call-adaptation/parse-twcc", test_parse_twcc);
  g_test_add_func ("/natter/call-adaptation/follows-feedback", test_adaptation_follows_feedback);
  g_test_add_func ("/natter/call-adaptation/small-loss-keeps-fec", test_small_loss_keeps_fec);
  g_test_add_func ("/natter/call-adaptation/latency-for-rtt", test_latency_for_rtt);
  g_test_add_func ("/natter/call-adaptation/retry-timeout-for-rtt", test_retry_timeout_for_rtt);
  g_test_add_func ("/natter/call-adaptation/jitterbuffer-follows-round-trip",
                   test_jitterbuffer_follows_round_trip);
  g_test_add_func ("/natter/call-adaptation/nacks-leave-at-once", test_nacks_leave_at_once);
  g_test_add_func ("/natter/call-adaptation/keyframe-requests-limited",
                   test_keyframe_requests_limited);

  return g_test_run ();
}
