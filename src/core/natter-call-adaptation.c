/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-adaptation"

#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "natter-call-adaptation.h"
#include "natter-call-stats.h"

/* What a call does with what the peer reports about our packets: the
 * bandwidth estimate drives the video encoder's bitrate, the frame size and
 * rate, and last Opus's bitrate; the loss sets Opus's in-band FEC; the
 * round trip sizes the jitter buffers so a retransmission can still make
 * it in time. Everything here changes running elements in place: no
 * renegotiation. Main thread only, except add_jitterbuffer(). */

/* Where a call starts before any feedback: below the old fixed 1.5 Mbit/s,
 * so a slow link is not flooded for its first seconds; the estimator grows
 * it fast until it sees congestion, so a clean link reaches 480p and
 * 720p within seconds, as browsers do. */
#define START_BPS 300000
#define MIN_BPS 60000
#define MAX_BPS 2500000
/* Apply at most this often: each change of vp8enc's rate reconfigures it. */
#define APPLY_INTERVAL_US 200000
#define MAX_LATENCY_MS 400
/* A PLI storm (every lost packet of a keyframe asks again) would make
 * every frame a keyframe; one in flight answers them all. */
#define KEYFRAME_INTERVAL_US 300000

struct _NatterCallAdaptation {
  NatterBandwidthEstimator *estimator;
  NatterRateController *controller;
  GstElement *video_encoder;
  GstElement *video_scale;
  GstElement *size_filter;
  GstElement *video_rate;
  GstElement *audio_encoder;
  GMutex jitterbuffers_lock;
  GPtrArray *jitterbuffers;

  guint min_latency_ms;
  guint latency_ms;
  int retry_timeout_ms; /* the jitter buffers' rtx-retry-timeout */
  gint64 last_apply_us;
  gint64 last_keyframe_us;
  NatterRatePlan applied;
  gboolean have_applied;
  guint applied_loss_percentage;
  double loss;
  double round_trip_time_ms;
  gint64 rtcp_round_trip_at_us;  /* when RTCP last gave one */
  double feedback_round_trip_ms; /* from transport-wide feedback; < 0: none */
  double window_round_trip_ms;
  gint64 window_start_us;
  FILE *record; /* NATTER_CALL_FEEDBACK_RECORD: what the estimator was fed */
};

/* RTCP gives the round trip only after a sender report went and a receiver
 * report came back: 5 to 10 s into a call at rtpsession's intervals (and on
 * a slow link it was seen missing for a whole 20 s call). Until then, and
 * whenever RTCP's is older than this, the round trip is taken from
 * transport-wide feedback. */
#define RTCP_ROUND_TRIP_FRESH_US (8 * G_USEC_PER_SEC)
#define FEEDBACK_ROUND_TRIP_WINDOW_US G_USEC_PER_SEC

/* With NATTER_CALL_FEEDBACK_RECORD=DIR, each call writes what its
 * estimator is fed to DIR/feedback-PID-N.txt, for the estimator's tests to
 * replay (tests/test-bandwidth-estimator.c reads the format). */
static FILE *
open_record (void)
{
  static gint n_records;
  const char *dir = g_getenv ("NATTER_CALL_FEEDBACK_RECORD");
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;
  FILE *record;

  if (dir == NULL || *dir == '\0')
    return NULL;
  name = g_strdup_printf ("feedback-%d-%d.txt", (int) getpid (), g_atomic_int_add (&n_records, 1));
  path = g_build_filename (dir, name, NULL);
  record = fopen (path, "we");
  if (record == NULL)
    g_warning ("Cannot record the call's feedback in %s: %s", path, g_strerror (errno));
  return record;
}

/**
 * natter_call_adaptation_new:
 * @min_latency_ms: the jitter buffers' latency before the round trip is
 *   known, and their least
 * @max_bps: the most to send, whatever the estimate (0: 2.5 Mbit/s)
 *
 * Returns: (transfer full): a new adaptation
 */
NatterCallAdaptation *
natter_call_adaptation_new (guint min_latency_ms, guint max_bps)
{
  NatterCallAdaptation *self = g_new0 (NatterCallAdaptation, 1);
  guint max = max_bps > 0 ? CLAMP (max_bps, MIN_BPS, MAX_BPS) : MAX_BPS;

  self->estimator = natter_bandwidth_estimator_new (MIN_BPS, MIN (START_BPS, max), max);
  self->controller = natter_rate_controller_new ();
  natter_rate_controller_update (self->controller, MIN (START_BPS, max), 0);
  g_mutex_init (&self->jitterbuffers_lock);
  self->jitterbuffers = g_ptr_array_new_with_free_func (gst_object_unref);
  self->min_latency_ms = min_latency_ms;
  self->latency_ms = min_latency_ms;
  self->retry_timeout_ms = -1;
  self->last_apply_us = G_MININT64;
  self->last_keyframe_us = G_MININT64;
  self->round_trip_time_ms = -1;
  self->rtcp_round_trip_at_us = G_MININT64;
  self->feedback_round_trip_ms = -1;
  self->window_round_trip_ms = -1;
  self->window_start_us = G_MININT64;
  self->record = open_record ();
  return self;
}

void
natter_call_adaptation_free (NatterCallAdaptation *self)
{
  g_clear_pointer (&self->record, fclose);
  g_clear_pointer (&self->estimator, natter_bandwidth_estimator_free);
  g_clear_pointer (&self->controller, natter_rate_controller_free);
  g_clear_object (&self->video_encoder);
  g_clear_object (&self->video_scale);
  g_clear_object (&self->size_filter);
  g_clear_object (&self->video_rate);
  g_clear_object (&self->audio_encoder);
  g_clear_pointer (&self->jitterbuffers, g_ptr_array_unref);
  g_mutex_clear (&self->jitterbuffers_lock);
  g_free (self);
}

/**
 * natter_call_adaptation_set_video:
 * @encoder: vp8enc (or openh264enc)
 * @scale: the videoscale, whose input is the camera's size
 * @size_filter: the capsfilter after videoscale and videorate
 * @rate: the videorate
 */
void
natter_call_adaptation_set_video (NatterCallAdaptation *self,
                                  GstElement *encoder,
                                  GstElement *scale,
                                  GstElement *size_filter,
                                  GstElement *rate)
{
  g_set_object (&self->video_encoder, encoder);
  g_set_object (&self->video_scale, scale);
  g_set_object (&self->size_filter, size_filter);
  g_set_object (&self->video_rate, rate);
  /* The send chain was built with the current plan: setting it again on the
   * first feedback would renegotiate the size filter and restart the
   * encoder right under the call's first frames. */
  self->applied = *natter_rate_controller_get_plan (self->controller);
  self->have_applied = TRUE;
}

void
natter_call_adaptation_set_audio_encoder (NatterCallAdaptation *self, GstElement *encoder)
{
  g_set_object (&self->audio_encoder, encoder);
}

/* How long a jitter buffer waits past a missing packet's expected time
 * before asking for it. Its own choice (twice the jitter, at least half a
 * video frame's spacing: 16-40 ms) made most of the 30 ms median between
 * a loss and its request on the 30 ms / 5 % link; libwebrtc asks at once.
 * A packet merely reordered by more than this costs one duplicate.
 *
 * Only for gaps: with `rtx-next-seqnum` a jitter buffer also expects the
 * packet after the newest one a frame interval later, and the next frame
 * leaves the encoder and the pacer later than that often enough that at
 * 5 ms over, nine in ten requests were for packets not yet sent (450 in a
 * 20 s call, 40 % more video sent again). A lost last packet of a frame is
 * asked for when the next frame's first one shows the gap. */
#define RTX_DELAY_MS 5

static void
set_retransmission_timing (GstElement *jitterbuffer, guint latency_ms, int retry_timeout_ms)
{
  g_object_set (jitterbuffer, "latency", latency_ms, "rtx-delay", RTX_DELAY_MS, "rtx-next-seqnum",
                FALSE, "rtx-retry-timeout", retry_timeout_ms, NULL);
}

/* Any thread: rtpbin makes jitter buffers on its streaming threads. */
void
natter_call_adaptation_add_jitterbuffer (NatterCallAdaptation *self, GstElement *jitterbuffer)
{
  g_mutex_lock (&self->jitterbuffers_lock);
  g_ptr_array_add (self->jitterbuffers, gst_object_ref (jitterbuffer));
  set_retransmission_timing (jitterbuffer, self->latency_ms, self->retry_timeout_ms);
  g_mutex_unlock (&self->jitterbuffers_lock);
}

/* The RTCP bandwidth rtpsession times its feedback from, in its units
 * (bits/s, though its documentation says bytes). Under the AVPF profile
 * webrtcbin uses, after one early RTCP packet (a NACK, a PLI, a
 * transport-wide report) the next may go only one interval T_rr later,
 * and T_rr comes from 5 % of the media's bitrate: 95-360 ms on the
 * 30 ms / 5 % link, where NACKs waited 58 ms (median) for room and 40 %
 * expired unsent. `rtcp-min-interval` does not shorten T_rr (under AVPF it
 * only spaces the regular reports, which stay a second apart). With this
 * T_rr is a few ms (two members, 60-100 byte packets): feedback leaves
 * when it is asked for, and RTCP costs what is asked for, one small
 * packet per request or report. */
#define FEEDBACK_RTCP_BANDWIDTH 200000.0

/**
 * natter_call_adaptation_configure_session:
 * @session: an `rtpsession` element of the call
 *
 * Lets its feedback (NACK, PLI, transport-wide reports) leave as soon as
 * it is asked for. Any thread.
 */
void
natter_call_adaptation_configure_session (GstElement *session)
{
  g_return_if_fail (GST_IS_ELEMENT (session));

  if (g_object_class_find_property (G_OBJECT_GET_CLASS (session), "rtcp-fraction") != NULL)
    g_object_set (session, "rtcp-fraction", FEEDBACK_RTCP_BANDWIDTH, NULL);
}

/**
 * natter_call_adaptation_retry_timeout_for_rtt:
 * @round_trip_time_ms: negative when unknown
 *
 * A retransmission asked for comes a round trip later, plus what the
 * sender and the network add. Left to itself a jitter buffer retries every
 * 40 ms until it has measured a retransmission (twelve requests for one
 * packet were seen on a 63 ms round trip), and after that from its
 * measurements, which included the waits for RTCP room. A round trip +
 * 20 ms, within 20-300 ms.
 *
 * Returns: the jitter buffers' `rtx-retry-timeout` in ms; -1 (their own
 *   choice) while the round trip is unknown
 */
int
natter_call_adaptation_retry_timeout_for_rtt (double round_trip_time_ms)
{
  if (!(round_trip_time_ms >= 0))
    return -1;
  return (int) CLAMP (round_trip_time_ms + 20, 20, 300);
}

/**
 * natter_call_adaptation_latency_for_rtt:
 * @min_latency_ms: the floor (the call's configured latency)
 * @round_trip_time_ms: negative when unknown
 *
 * A lost packet is noticed when the next one arrives (at 300 kbit/s video
 * that is up to a frame, 33 ms, later), asked for again, and comes back
 * one round trip later: the jitter buffer must wait that long or NACK
 * cannot help. At 5 % loss one request in ten (the NACK or the
 * retransmission lost) needs a second try a round trip later. 1.5 round
 * trips + 20 ms was measured too short on the 30 ms / 5 % link: the video
 * jitter buffer (128 ms) saw retransmissions take 113-260 ms on average
 * and gave up on most, each loss a freeze until the next keyframe. So
 * 2.5 round trips + 60 ms, and never more than 400 ms, past which talk
 * feels delayed.
 *
 * Returns: the jitter buffer latency for @round_trip_time_ms
 */
guint
natter_call_adaptation_latency_for_rtt (guint min_latency_ms, double round_trip_time_ms)
{
  double wanted;

  if (!(round_trip_time_ms >= 0))
    return min_latency_ms;
  wanted = MIN (2.5 * round_trip_time_ms + 60, MAX_LATENCY_MS);
  return MAX (min_latency_ms, (guint) wanted);
}

static GstCaps *
size_caps (const NatterRatePlan *plan)
{
  return gst_caps_new_simple ("video/x-raw", "width", GST_TYPE_INT_RANGE, 16, (int) plan->max_width,
                              "height", GST_TYPE_INT_RANGE, 16, (int) plan->max_height,
                              "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
}

static gboolean
apply_plan (NatterCallAdaptation *self, gint64 now_us)
{
  const NatterRatePlan *plan;
  gboolean changed = FALSE;

  plan = natter_rate_controller_update (
    self->controller, natter_bandwidth_estimator_get_estimate (self->estimator), now_us);
  if (self->last_apply_us != G_MININT64 && now_us - self->last_apply_us < APPLY_INTERVAL_US)
    return FALSE;
  self->last_apply_us = now_us;

  if (self->video_encoder != NULL &&
      (!self->have_applied || fabs ((double) plan->video_bps - self->applied.video_bps) >
                                0.05 * self->applied.video_bps)) {
    GObjectClass *klass = G_OBJECT_GET_CLASS (self->video_encoder);

    if (g_object_class_find_property (klass, "target-bitrate") != NULL)
      g_object_set (self->video_encoder, "target-bitrate", (int) plan->video_bps, NULL);
    else if (g_object_class_find_property (klass, "bitrate") != NULL)
      g_object_set (self->video_encoder, "bitrate", (guint) plan->video_bps, NULL);
    changed = TRUE;
  }
  if (self->size_filter != NULL &&
      (!self->have_applied || plan->max_height != self->applied.max_height)) {
    g_autoptr (GstCaps) caps = size_caps (plan);

    g_object_set (self->size_filter, "caps", caps, NULL);
    changed = TRUE;
  }
  if (self->video_rate != NULL && (!self->have_applied || plan->max_fps != self->applied.max_fps)) {
    g_object_set (self->video_rate, "max-rate", (int) plan->max_fps, NULL);
    changed = TRUE;
  }
  if (self->audio_encoder != NULL &&
      (!self->have_applied || plan->audio_bps != self->applied.audio_bps)) {
    g_object_set (self->audio_encoder, "bitrate", (int) plan->audio_bps, NULL);
    changed = TRUE;
  }
  if (changed)
    g_debug ("estimate %u bit/s: video %u bit/s at most %ux%u@%u, audio %u bit/s",
             natter_bandwidth_estimator_get_estimate (self->estimator), plan->video_bps,
             plan->max_width, plan->max_height, plan->max_fps, plan->audio_bps);
  self->applied = *plan;
  self->have_applied = TRUE;
  return changed;
}

/* Opus's in-band FEC only spends bits on what it expects to be lost, and
 * none at all at 0 %: a loss under 0.5 % (the smoothed loss of a 1 % link
 * dips there) still asks for 1 %, or its lost packets find no LBRR. */
static void
apply_loss (NatterCallAdaptation *self)
{
  guint percentage = (guint) CLAMP (lround (self->loss * 100), 0, 100);

  if (percentage == 0 && self->loss >= NATTER_CALL_ADAPTATION_MIN_FEC_LOSS)
    percentage = 1;

  if (self->audio_encoder == NULL || percentage == self->applied_loss_percentage)
    return;
  self->applied_loss_percentage = percentage;
  g_object_set (self->audio_encoder, "packet-loss-percentage", (int) percentage, NULL);
}

static void
apply_latency (NatterCallAdaptation *self)
{
  guint latency =
    natter_call_adaptation_latency_for_rtt (self->min_latency_ms, self->round_trip_time_ms);
  int retry_timeout = natter_call_adaptation_retry_timeout_for_rtt (self->round_trip_time_ms);

  /* Small changes are not worth a jump in the playout. */
  if (latency + 20 > self->latency_ms && latency < self->latency_ms + 20)
    latency = self->latency_ms;
  if (latency == self->latency_ms && ABS (retry_timeout - self->retry_timeout_ms) < 10)
    return;
  g_mutex_lock (&self->jitterbuffers_lock);
  self->latency_ms = latency;
  self->retry_timeout_ms = retry_timeout;
  for (guint i = 0; i < self->jitterbuffers->len; i++)
    set_retransmission_timing (g_ptr_array_index (self->jitterbuffers, i), latency, retry_timeout);
  g_mutex_unlock (&self->jitterbuffers_lock);
  g_debug ("round trip %.0f ms: jitter buffers at %u ms", self->round_trip_time_ms, latency);
}

static gint64
clock_time_to_us (const GValue *value)
{
  GstClockTime time;

  if (value == NULL)
    return -1;
  if (G_VALUE_HOLDS_UINT64 (value))
    time = g_value_get_uint64 (value);
  else if (G_VALUE_HOLDS_INT64 (value))
    time = (GstClockTime) g_value_get_int64 (value);
  else
    return -1;
  if (!GST_CLOCK_TIME_IS_VALID (time) || time > G_MAXINT64 / 2)
    return -1;
  return (gint64) (time / GST_USECOND);
}

static void
append_packet (GArray *feedback, const GValue *value)
{
  const GstStructure *packet;
  NatterPacketFeedback entry = { 0 };
  gboolean lost = FALSE;
  guint size = 0;

  if (!GST_VALUE_HOLDS_STRUCTURE (value))
    return;
  packet = gst_value_get_structure (value);
  entry.send_time_us = clock_time_to_us (gst_structure_get_value (packet, "local-ts"));
  entry.arrival_time_us = clock_time_to_us (gst_structure_get_value (packet, "remote-ts"));
  gst_structure_get_boolean (packet, "lost", &lost);
  gst_structure_get_uint (packet, "size", &size);
  /* A packet we have no send time for (sent before the extension was
   * negotiated) tells nothing. */
  if (entry.send_time_us < 0)
    return;
  if (lost)
    entry.arrival_time_us = -1;
  entry.size = size;
  g_array_append_val (feedback, entry);
}

/**
 * natter_call_adaptation_parse_twcc:
 * @packets: the `RTPTWCCPackets` structure rtpsession sends upstream for
 *   each transport-wide feedback
 *
 * Returns: (transfer full): #NatterPacketFeedback in the order given
 */
GArray *
natter_call_adaptation_parse_twcc (const GstStructure *packets)
{
  GArray *feedback = g_array_new (FALSE, FALSE, sizeof (NatterPacketFeedback));
  const GValue *list;

  g_return_val_if_fail (packets != NULL, feedback);

  if (!gst_structure_has_name (packets, "RTPTWCCPackets"))
    return feedback;
  list = gst_structure_get_value (packets, "packets");
  if (list == NULL)
    return feedback;
  /* rtpsession 1.22 gives a GValueArray (deprecated, and so its type macro). */
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  if (G_VALUE_HOLDS (list, g_value_array_get_type ())) {
    GValueArray *array = g_value_get_boxed (list);

    for (guint i = 0; array != NULL && i < array->n_values; i++)
      append_packet (feedback, g_value_array_get_nth (array, i));
  } else if (GST_VALUE_HOLDS_LIST (list)) {
    for (guint i = 0; i < gst_value_list_get_size (list); i++)
      append_packet (feedback, gst_value_list_get_value (list, i));
  } else if (GST_VALUE_HOLDS_ARRAY (list)) {
    for (guint i = 0; i < gst_value_array_get_size (list); i++)
      append_packet (feedback, gst_value_array_get_value (list, i));
  }
  G_GNUC_END_IGNORE_DEPRECATIONS
  return feedback;
}

/* A feedback report arrives one round trip (plus the peer's wait before
 * it reports, plus any queue) after the newest packet it covers was sent;
 * the least of that over a second is close to the round trip itself. */
static void
update_feedback_round_trip (NatterCallAdaptation *self, GArray *feedback, gint64 now_us)
{
  gint64 newest_send_us = G_MININT64;
  double sample_ms;

  for (guint i = 0; i < feedback->len; i++) {
    const NatterPacketFeedback *packet = &g_array_index (feedback, NatterPacketFeedback, i);

    if (packet->arrival_time_us >= 0)
      newest_send_us = MAX (newest_send_us, packet->send_time_us);
  }
  if (newest_send_us == G_MININT64)
    return;
  sample_ms = (now_us - newest_send_us) / 1000.0;
  /* Send times are the pipeline's monotonic clock, as @now_us; anything
   * else (a clock of another kind, a report from before a restart) is no
   * round trip. */
  if (sample_ms <= 0 || sample_ms > 5000)
    return;

  if (self->window_start_us == G_MININT64 ||
      now_us - self->window_start_us >= FEEDBACK_ROUND_TRIP_WINDOW_US) {
    if (self->window_round_trip_ms >= 0)
      self->feedback_round_trip_ms = self->window_round_trip_ms;
    self->window_start_us = now_us;
    self->window_round_trip_ms = sample_ms;
  } else {
    self->window_round_trip_ms = MIN (self->window_round_trip_ms, sample_ms);
  }
  /* The first window gives its least so far at once. */
  if (self->feedback_round_trip_ms < 0 || self->window_round_trip_ms < self->feedback_round_trip_ms)
    self->feedback_round_trip_ms = self->window_round_trip_ms;

  if (self->rtcp_round_trip_at_us == G_MININT64 ||
      now_us - self->rtcp_round_trip_at_us > RTCP_ROUND_TRIP_FRESH_US) {
    self->round_trip_time_ms = self->feedback_round_trip_ms;
    apply_latency (self);
  }
}

/**
 * natter_call_adaptation_get_round_trip_time:
 *
 * Returns: the round trip the jitter buffers follow, in ms (RTCP's, or
 *   transport-wide feedback's until RTCP has one); negative when unknown
 */
double
natter_call_adaptation_get_round_trip_time (NatterCallAdaptation *self)
{
  return self->round_trip_time_ms;
}

/**
 * natter_call_adaptation_on_twcc:
 * @self: an adaptation
 * @packets: an `RTPTWCCPackets` structure
 * @now_us: monotonic time
 *
 * Returns: %TRUE if what we send changed
 */
gboolean
natter_call_adaptation_on_twcc (NatterCallAdaptation *self,
                                const GstStructure *packets,
                                gint64 now_us)
{
  g_autoptr (GArray) feedback = natter_call_adaptation_parse_twcc (packets);

  if (self->record != NULL) {
    /* "F NOW SEND,ARRIVAL,SIZE ...", arrival -1 for a lost packet. */
    fprintf (self->record, "F %" G_GINT64_FORMAT, now_us);
    for (guint i = 0; i < feedback->len; i++) {
      const NatterPacketFeedback *packet = &g_array_index (feedback, NatterPacketFeedback, i);

      fprintf (self->record, " %" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%u", packet->send_time_us,
               packet->arrival_time_us < 0 ? -1 : packet->arrival_time_us, packet->size);
    }
    fputc ('\n', self->record);
  }
  natter_bandwidth_estimator_on_feedback (self->estimator, (NatterPacketFeedback *) feedback->data,
                                          feedback->len, now_us);
  /* Ten and more a second: formatted only when someone reads it. */
  if (!g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN))
    g_debug ("feedback on %u packets: estimate %u, acknowledged %u bit/s, loss %.3f, trend %.4f",
             feedback->len, natter_bandwidth_estimator_get_estimate (self->estimator),
             natter_bandwidth_estimator_get_acknowledged_bitrate (self->estimator),
             natter_bandwidth_estimator_get_loss (self->estimator),
             natter_bandwidth_estimator_get_trend (self->estimator));
  self->loss = natter_bandwidth_estimator_get_loss (self->estimator);
  apply_loss (self);
  update_feedback_round_trip (self, feedback, now_us);
  return apply_plan (self, now_us);
}

/* Only video is retransmitted (RTX is negotiated for video alone; Opus
 * repairs itself with in-band FEC), yet every jitter buffer starts asking
 * (webrtcbin gives them all do-retransmission): on a 5 % loss link the
 * audio one sent ~600 NACKs in 20 s that nobody answers, taking RTCP's
 * early-feedback room from the video NACKs that can be. Its media is known
 * once the payload type demuxer after it has linked, well before the first
 * receiver report. Also logs what each jitter buffer repaired and gave up
 * on, for reading a lossy call's freezes. */
static void
update_jitterbuffers (NatterCallAdaptation *self)
{
  gboolean logging = !g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);

  g_mutex_lock (&self->jitterbuffers_lock);
  for (guint i = 0; i < self->jitterbuffers->len; i++) {
    GstElement *jitterbuffer = g_ptr_array_index (self->jitterbuffers, i);
    g_autoptr (GstStructure) stats = NULL;
    g_autofree char *text = NULL;
    gboolean retransmission = FALSE;
    guint latency = 0;

    g_object_get (jitterbuffer, "do-retransmission", &retransmission, NULL);
    if (retransmission && natter_call_stats_jitterbuffer_is_audio (jitterbuffer)) {
      g_object_set (jitterbuffer, "do-retransmission", FALSE, NULL);
      retransmission = FALSE;
    }
    if (!logging)
      continue;
    g_object_get (jitterbuffer, "stats", &stats, "latency", &latency, NULL);
    if (stats != NULL)
      text = gst_structure_to_string (stats);
    g_debug ("jitter buffer %s at %u ms, %s: %s", GST_OBJECT_NAME (jitterbuffer), latency,
             retransmission ? "retransmission" : "no retransmission",
             text != NULL ? text : "no stats");
  }
  g_mutex_unlock (&self->jitterbuffers_lock);
}

/**
 * natter_call_adaptation_on_receiver_report:
 * @round_trip_time_ms: from RTCP, negative when unknown
 * @fraction_lost: of what we sent, from RTCP, negative when unknown
 *
 * Returns: %TRUE if what we send changed
 */
gboolean
natter_call_adaptation_on_receiver_report (NatterCallAdaptation *self,
                                           double round_trip_time_ms,
                                           double fraction_lost,
                                           gint64 now_us)
{
  g_debug ("receiver report: round trip %.1f ms, %.3f lost", round_trip_time_ms, fraction_lost);
  update_jitterbuffers (self);
  if (round_trip_time_ms >= 0 && round_trip_time_ms < 60000) {
    self->round_trip_time_ms = round_trip_time_ms;
    self->rtcp_round_trip_at_us = now_us;
    apply_latency (self);
  }
  if (fraction_lost >= 0 && fraction_lost <= 1) {
    if (self->record != NULL)
      fprintf (self->record, "L %" G_GINT64_FORMAT " %.6f\n", now_us, fraction_lost);
    natter_bandwidth_estimator_on_loss_report (self->estimator, fraction_lost, now_us);
    /* Transport-wide feedback counts loss more often, when there is some. */
    self->loss = MAX (natter_bandwidth_estimator_get_loss (self->estimator), fraction_lost);
    apply_loss (self);
  }
  return apply_plan (self, now_us);
}

/**
 * natter_call_adaptation_allow_keyframe:
 *
 * Returns: whether a keyframe request at @now_us goes to the encoder
 */
gboolean
natter_call_adaptation_allow_keyframe (NatterCallAdaptation *self, gint64 now_us)
{
  if (self->last_keyframe_us != G_MININT64 &&
      now_us - self->last_keyframe_us < KEYFRAME_INTERVAL_US)
    return FALSE;
  self->last_keyframe_us = now_us;
  return TRUE;
}

guint
natter_call_adaptation_get_estimate (NatterCallAdaptation *self)
{
  return natter_bandwidth_estimator_get_estimate (self->estimator);
}

gboolean
natter_call_adaptation_get_limited (NatterCallAdaptation *self)
{
  return natter_bandwidth_estimator_get_limited (self->estimator);
}

double
natter_call_adaptation_get_loss (NatterCallAdaptation *self)
{
  return self->loss;
}

guint
natter_call_adaptation_get_latency (NatterCallAdaptation *self)
{
  return self->latency_ms;
}

const NatterRatePlan *
natter_call_adaptation_get_plan (NatterCallAdaptation *self)
{
  return natter_rate_controller_get_plan (self->controller);
}

/**
 * natter_call_adaptation_get_video_reduced:
 *
 * Returns: whether the video we send is smaller or slower than the
 *   camera gives, for want of bandwidth
 */
gboolean
natter_call_adaptation_get_video_reduced (NatterCallAdaptation *self)
{
  const NatterRatePlan *plan = natter_rate_controller_get_plan (self->controller);
  int source_height = 0;

  if (self->video_encoder == NULL)
    return FALSE;
  if (plan->max_fps < 30)
    return TRUE;
  if (self->video_scale != NULL) {
    g_autoptr (GstPad) pad = gst_element_get_static_pad (self->video_scale, "sink");
    g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);

    if (caps != NULL && gst_caps_get_size (caps) > 0)
      gst_structure_get_int (gst_caps_get_structure (caps, 0), "height", &source_height);
  }
  if (source_height <= 0)
    source_height = 720;
  return (int) plan->max_height < source_height;
}
