/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-call-pipeline"

#include "config.h"

#include <string.h>

#include "natter-call-adaptation.h"
#include "natter-call-pipeline.h"

/* Two pipelines in one process, signalled directly: no server, no network
 * beyond the host's own interfaces. */

typedef struct {
  NatterCallPipeline *caller;
  NatterCallPipeline *callee;
  char *offer_sdp;
  char *answer_sdp;
  guint caller_candidates;
  guint callee_candidates;
} Fixture;

typedef gboolean (*Condition) (Fixture *fixture);

static gboolean
deadline_reached (gpointer user_data)
{
  gboolean *reached = user_data;

  *reached = TRUE;
  return G_SOURCE_REMOVE;
}

/* Sanitizer runs are several times slower: build-aux/test.sh sets
 * NATTER_TEST_TIME_SCALE (1 to 20), as the server harness reads it. */
static guint
scale_ms (guint ms)
{
  const char *text = g_getenv ("NATTER_TEST_TIME_SCALE");
  double scale = text != NULL ? CLAMP (g_ascii_strtod (text, NULL), 1.0, 20.0) : 1.0;

  return (guint) (ms * scale);
}

static gboolean
iterate_until (Fixture *fixture, Condition condition, guint timeout_ms)
{
  gboolean reached = FALSE;
  guint id = g_timeout_add (scale_ms (timeout_ms), deadline_reached, &reached);

  while (!condition (fixture) && !reached)
    g_main_context_iteration (NULL, TRUE);
  if (!reached)
    g_source_remove (id);
  if (!condition (fixture) && fixture->caller != NULL)
    g_test_message ("caller: audio %" G_GUINT64_FORMAT " video %" G_GUINT64_FORMAT
                    "; callee: audio %" G_GUINT64_FORMAT " video %" G_GUINT64_FORMAT,
                    natter_call_pipeline_get_audio_buffers_received (fixture->caller),
                    natter_call_pipeline_get_video_frames_received (fixture->caller),
                    natter_call_pipeline_get_audio_buffers_received (fixture->callee),
                    natter_call_pipeline_get_video_frames_received (fixture->callee));
  return condition (fixture);
}

static void
on_caller_description (NatterCallPipeline *pipeline,
                       const char *type,
                       const char *sdp,
                       Fixture *fixture)
{
  g_autoptr (GError) error = NULL;

  g_assert_cmpstr (type, ==, "offer");
  g_free (fixture->offer_sdp);
  fixture->offer_sdp = g_strdup (sdp);
  g_assert_true (natter_call_pipeline_set_remote_description (fixture->callee, type, sdp, &error));
  g_assert_no_error (error);
}

static void
on_callee_description (NatterCallPipeline *pipeline,
                       const char *type,
                       const char *sdp,
                       Fixture *fixture)
{
  g_autoptr (GError) error = NULL;

  g_assert_cmpstr (type, ==, "answer");
  g_free (fixture->answer_sdp);
  fixture->answer_sdp = g_strdup (sdp);
  if (fixture->caller == NULL)
    return;
  g_assert_true (natter_call_pipeline_set_remote_description (fixture->caller, type, sdp, &error));
  g_assert_no_error (error);
}

static void
on_caller_candidate (NatterCallPipeline *pipeline,
                     guint mline,
                     const char *candidate,
                     Fixture *fixture)
{
  fixture->caller_candidates++;
  natter_call_pipeline_add_remote_candidate (fixture->callee, mline, candidate);
}

static void
on_callee_candidate (NatterCallPipeline *pipeline,
                     guint mline,
                     const char *candidate,
                     Fixture *fixture)
{
  fixture->callee_candidates++;
  if (fixture->caller != NULL)
    natter_call_pipeline_add_remote_candidate (fixture->caller, mline, candidate);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  gboolean with_video = GPOINTER_TO_INT (data);

  fixture->caller = natter_call_pipeline_new (with_video);
  fixture->callee = natter_call_pipeline_new (with_video);
  g_signal_connect (fixture->caller, "local-description", G_CALLBACK (on_caller_description),
                    fixture);
  g_signal_connect (fixture->callee, "local-description", G_CALLBACK (on_callee_description),
                    fixture);
  g_signal_connect (fixture->caller, "local-candidate", G_CALLBACK (on_caller_candidate), fixture);
  g_signal_connect (fixture->callee, "local-candidate", G_CALLBACK (on_callee_candidate), fixture);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  if (fixture->caller != NULL) {
    natter_call_pipeline_close (fixture->caller);
    g_signal_handlers_disconnect_by_data (fixture->caller, fixture);
  }
  natter_call_pipeline_close (fixture->callee);
  g_signal_handlers_disconnect_by_data (fixture->callee, fixture);

  /* Queued main-context work holds references; let it run out. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (fixture->caller != NULL)
    g_assert_finalize_object (fixture->caller);
  g_assert_finalize_object (fixture->callee);
  g_free (fixture->offer_sdp);
  g_free (fixture->answer_sdp);
}

static gboolean
media_flows_both_ways (Fixture *fixture)
{
  return natter_call_pipeline_get_video_frames_received (fixture->caller) >= 15 &&
         natter_call_pipeline_get_video_frames_received (fixture->callee) >= 15 &&
         natter_call_pipeline_get_audio_buffers_received (fixture->caller) >= 15 &&
         natter_call_pipeline_get_audio_buffers_received (fixture->callee) >= 15;
}

static gboolean
audio_flows_both_ways (Fixture *fixture)
{
  return natter_call_pipeline_get_audio_buffers_received (fixture->caller) >= 25 &&
         natter_call_pipeline_get_audio_buffers_received (fixture->callee) >= 25;
}

static gboolean
both_connected (Fixture *fixture)
{
  return natter_call_pipeline_get_state (fixture->caller) == NATTER_CALL_PIPELINE_STATE_CONNECTED &&
         natter_call_pipeline_get_state (fixture->callee) == NATTER_CALL_PIPELINE_STATE_CONNECTED;
}

static void
log_timeline (Fixture *fixture, gint64 start)
{
  g_autoptr (GEnumClass) marks = g_type_class_ref (NATTER_TYPE_CALL_PIPELINE_MARK);

  for (guint mark = 0; mark < NATTER_CALL_PIPELINE_N_MARKS; mark++) {
    gint64 caller = natter_call_pipeline_get_mark_time (fixture->caller, mark);
    gint64 callee = natter_call_pipeline_get_mark_time (fixture->callee, mark);

    g_test_message ("%-22s caller %5" G_GINT64_FORMAT " ms, callee %5" G_GINT64_FORMAT " ms",
                    g_enum_get_value (marks, mark)->value_nick,
                    caller > 0 ? (caller - start) / 1000 : -1,
                    callee > 0 ? (callee - start) / 1000 : -1);
  }
}

static void
test_video_both_ways (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  g_assert_true (natter_call_pipeline_start_offer (fixture->caller, &error));
  g_assert_no_error (error);

  g_assert_true (iterate_until (fixture, both_connected, 20000));
  g_test_message ("connected after %" G_GINT64_FORMAT " ms",
                  (g_get_monotonic_time () - start) / 1000);
  g_assert_true (iterate_until (fixture, media_flows_both_ways, 20000));
  g_test_message ("first video frame after %" G_GINT64_FORMAT " ms (caller), %" G_GINT64_FORMAT
                  " ms (callee)",
                  (natter_call_pipeline_get_first_video_time (fixture->caller) - start) / 1000,
                  (natter_call_pipeline_get_first_video_time (fixture->callee) - start) / 1000);

  log_timeline (fixture, start);

  g_assert_nonnull (strstr (fixture->offer_sdp, "m=audio"));
  g_assert_nonnull (strstr (fixture->offer_sdp, "m=video"));
  g_assert_nonnull (strstr (fixture->offer_sdp, "VP8/90000"));
  g_assert_nonnull (strstr (fixture->offer_sdp, "a=group:BUNDLE"));
  g_assert_cmpuint (fixture->caller_candidates, >, 0);
  g_assert_cmpuint (fixture->callee_candidates, >, 0);

  /* The encoder side counted what it sent. */
  g_assert_cmpuint (natter_call_pipeline_get_video_frames_sent (fixture->caller), >=, 15);
  g_assert_cmpuint (natter_call_pipeline_get_audio_buffers_sent (fixture->callee), >=, 15);
  g_assert_cmpint (natter_call_pipeline_get_first_video_time (fixture->caller), >, 0);
  g_assert_cmpint (natter_call_pipeline_get_first_audio_time (fixture->callee), >, 0);
}

static void
test_voice_only (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (natter_call_pipeline_start_offer (fixture->caller, &error));
  g_assert_no_error (error);
  g_assert_true (iterate_until (fixture, audio_flows_both_ways, 20000));

  g_assert_nonnull (strstr (fixture->offer_sdp, "m=audio"));
  g_assert_null (strstr (fixture->offer_sdp, "m=video"));
  g_assert_null (strstr (fixture->answer_sdp, "m=video"));
  g_assert_false (natter_call_pipeline_get_remote_has_video (fixture->callee));
  g_assert_cmpuint (natter_call_pipeline_get_video_frames_received (fixture->caller), ==, 0);
  g_assert_cmpuint (natter_call_pipeline_get_video_frames_received (fixture->callee), ==, 0);
  g_assert_cmpuint (natter_call_pipeline_get_video_frames_sent (fixture->caller), ==, 0);
}

/* GStreamer logs a line for each element a state change finds already in
 * PLAYING; a pipeline stuck waiting for a sink to preroll repeats that walk
 * over every element each time webrtcbin changes something. */
static gint skipped_transitions;

/* GStreamer never frees a list of log functions it replaced (another thread
 * may still walk it): adding one leaks the list gst_init() made. */
const char *__lsan_default_suppressions (void);

const char *
__lsan_default_suppressions (void)
{
  return "leak:gst_debug_add_log_function\n";
}
static gboolean counter_added;

static void
count_skipped_transitions (GstDebugCategory *category,
                           GstDebugLevel level,
                           const char *file,
                           const char *function,
                           int line,
                           GObject *object,
                           GstDebugMessage *message,
                           gpointer user_data)
{
  const char *text;

  if (level != GST_LEVEL_INFO || g_strcmp0 (gst_debug_category_get_name (category), "GST_STATES"))
    return;
  text = gst_debug_message_get (message);
  if (text != NULL && strstr (text, "skipping transition from PLAYING") != NULL)
    g_atomic_int_inc (&skipped_transitions);
}

static GstDebugCategory *
find_debug_category (const char *name)
{
  GSList *categories = gst_debug_get_all_categories ();
  GstDebugCategory *found = NULL;

  for (GSList *l = categories; l != NULL && found == NULL; l = l->next) {
    if (g_str_equal (gst_debug_category_get_name (l->data), name))
      found = l->data;
  }
  g_slist_free (categories);
  return found;
}

static void
test_no_state_change_loop (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  GstDebugLevel saved_threshold;
  GstDebugCategory *states = find_debug_category ("GST_STATES");
  gboolean was_active = gst_debug_is_active ();
  guint count;

  g_assert_nonnull (states);
  saved_threshold = gst_debug_category_get_threshold (states);
  g_atomic_int_set (&skipped_transitions, 0);
  /* Added once and never removed: GStreamer keeps replaced lists of log
   * functions alive (a reader may still walk them), which LSan reports. */
  if (!counter_added) {
    gst_debug_add_log_function (count_skipped_transitions, NULL, NULL);
    counter_added = TRUE;
  }
  gst_debug_set_active (TRUE);
  gst_debug_category_set_threshold (states, GST_LEVEL_INFO);

  g_assert_true (natter_call_pipeline_start_offer (fixture->caller, &error));
  g_assert_no_error (error);
  g_assert_true (iterate_until (fixture, audio_flows_both_ways, 20000));

  gst_debug_category_set_threshold (states, saved_threshold);
  gst_debug_set_active (was_active);

  /* A sink that prerolls made this several thousand on two cores; webrtcbin
   * adding its pads and elements once leaves a few dozen. */
  count = (guint) g_atomic_int_get (&skipped_transitions);
  g_test_message ("%u skipped PLAYING => PLAYING transitions", count);
  g_assert_cmpuint (count, <, 300);
}

/* Sources that fail for real when they open: a file that does not exist
 * (fails in READY to PAUSED) and a sound server that does not exist. */
static const char *const failing_sources[] = {
  "filesrc location=/nonexistent/natter-device",
  "pulsesrc server=/nonexistent/natter-pulse",
};

static void
test_microphone_fails_to_open (Fixture *fixture, gconstpointer data)
{
  g_autofree char *saved = g_strdup (g_getenv ("NATTER_AUDIO_SRC"));

  for (guint i = 0; i < G_N_ELEMENTS (failing_sources); i++) {
    g_autoptr (NatterCallPipeline) pipeline = NULL;
    g_autoptr (GError) error = NULL;
    g_autoptr (GstElementFactory) factory = NULL;
    g_auto (GStrv) words = g_strsplit (failing_sources[i], " ", 2);
    gint64 start;

    factory = gst_element_factory_find (words[0]);
    if (factory == NULL) {
      g_test_message ("%s is not installed", words[0]);
      continue;
    }
    g_setenv ("NATTER_AUDIO_SRC", failing_sources[i], TRUE);
    pipeline = natter_call_pipeline_new (FALSE);
    start = g_get_monotonic_time ();
    g_assert_false (natter_call_pipeline_start_offer (pipeline, &error));
    g_assert_nonnull (error);
    g_test_message ("%s: %s after %" G_GINT64_FORMAT " ms", failing_sources[i], error->message,
                    (g_get_monotonic_time () - start) / 1000);
    g_assert_true (g_str_has_prefix (error->message, "The microphone could not be opened: "));
    g_assert_cmpuint (strlen (error->message), >, strlen ("The microphone could not be opened: "));
    natter_call_pipeline_close (pipeline);
    while (g_main_context_iteration (NULL, FALSE))
      ;
  }
  g_setenv ("NATTER_AUDIO_SRC", saved, TRUE);
}

static gboolean
callee_video_and_audio_flow (Fixture *fixture)
{
  return natter_call_pipeline_get_video_frames_received (fixture->caller) >= 15 &&
         natter_call_pipeline_get_audio_buffers_received (fixture->caller) >= 15 &&
         natter_call_pipeline_get_audio_buffers_received (fixture->callee) >= 15;
}

static void
on_camera_enabled_notify (NatterCallPipeline *pipeline, GParamSpec *pspec, guint *count)
{
  (*count)++;
}

static void
test_camera_fails_to_open (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *saved = g_strdup (g_getenv ("NATTER_VIDEO_SRC"));
  guint notified = 0;

  g_signal_connect (fixture->caller, "notify::camera-enabled",
                    G_CALLBACK (on_camera_enabled_notify), &notified);
  /* Only the caller's camera fails: its pipeline is built here, the
   * callee's when the offer reaches it. */
  g_setenv ("NATTER_VIDEO_SRC", failing_sources[0], TRUE);
  g_assert_true (natter_call_pipeline_start_offer (fixture->caller, &error));
  g_setenv ("NATTER_VIDEO_SRC", saved, TRUE);
  g_assert_no_error (error);
  g_assert_false (natter_call_pipeline_get_camera_enabled (fixture->caller));
  g_assert_cmpuint (notified, ==, 1);

  g_assert_true (iterate_until (fixture, callee_video_and_audio_flow, 20000));
  g_assert_nonnull (strstr (fixture->offer_sdp, "m=video"));
  g_assert_cmpuint (natter_call_pipeline_get_video_frames_sent (fixture->caller), ==, 0);
  g_assert_cmpuint (natter_call_pipeline_get_video_frames_received (fixture->callee), ==, 0);

  /* Turning it on does not send the stand-in's black frames. */
  natter_call_pipeline_set_camera_enabled (fixture->caller, TRUE);
  g_assert_false (natter_call_pipeline_get_camera_enabled (fixture->caller));
  g_assert_cmpuint (notified, ==, 1);
  g_signal_handlers_disconnect_by_func (fixture->caller, on_camera_enabled_notify, &notified);
}

typedef struct {
  Fixture *fixture;
  guint64 last_count;
  gint64 stable_since;
} Stability;

static Stability stability;

static gboolean
caller_video_stopped (Fixture *fixture)
{
  guint64 sent = natter_call_pipeline_get_video_frames_sent (fixture->caller);
  gint64 now = g_get_monotonic_time ();

  if (sent != stability.last_count) {
    stability.last_count = sent;
    stability.stable_since = now;
    return FALSE;
  }
  /* No new frame for 10 frame intervals: the valve is shut. */
  return now - stability.stable_since > 330 * G_TIME_SPAN_MILLISECOND;
}

static guint64 callee_frames_mark;

static gboolean
callee_video_resumed (Fixture *fixture)
{
  return natter_call_pipeline_get_video_frames_received (fixture->callee) >=
         callee_frames_mark + 15;
}

static gboolean
wake_up (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static void
test_camera_off_and_on (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  guint ticker;

  g_assert_true (natter_call_pipeline_start_offer (fixture->caller, &error));
  g_assert_no_error (error);
  g_assert_true (iterate_until (fixture, media_flows_both_ways, 20000));

  /* Keep the loop turning so the stability check sees time pass. */
  ticker = g_timeout_add (20, wake_up, NULL);
  natter_call_pipeline_set_camera_enabled (fixture->caller, FALSE);
  g_assert_false (natter_call_pipeline_get_camera_enabled (fixture->caller));
  stability.last_count = G_MAXUINT64;
  g_assert_true (iterate_until (fixture, caller_video_stopped, 5000));

  callee_frames_mark = natter_call_pipeline_get_video_frames_received (fixture->callee);
  natter_call_pipeline_set_camera_enabled (fixture->caller, TRUE);
  g_assert_true (iterate_until (fixture, callee_video_resumed, 10000));
  g_source_remove (ticker);

  /* Muting keeps the stream (silence), so audio still arrives. */
  natter_call_pipeline_set_muted (fixture->caller, TRUE);
  g_assert_true (natter_call_pipeline_get_muted (fixture->caller));
}

static guint stats_notifications;

static void
on_stats_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  stats_notifications++;
}

static gboolean
first_stats_arrived (Fixture *fixture)
{
  return stats_notifications >= 1;
}

/* The pipeline samples on its own too (for the adaptation), so the sample
 * before ours can be a few milliseconds old, with no packet in between:
 * sample until one spans some media. */
static gboolean
bitrates_measured (Fixture *fixture)
{
  const NatterCallStats *stats = natter_call_pipeline_get_stats (fixture->callee);

  if (stats_notifications >= 2 && stats != NULL && stats->video_receive_bitrate > 0 &&
      stats->audio_receive_bitrate > 0 && stats->video_send_bitrate > 0)
    return TRUE;
  if (stats == NULL || g_get_monotonic_time () - stats->sampled_at_us >= 250 * 1000)
    natter_call_pipeline_update_stats (fixture->callee);
  return FALSE;
}

static void
test_stats (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const NatterCallStats *stats;

  g_assert_true (natter_call_pipeline_start_offer (fixture->caller, &error));
  g_assert_no_error (error);
  g_assert_true (iterate_until (fixture, media_flows_both_ways, 20000));

  stats_notifications = 0;
  g_signal_connect (fixture->callee, "notify::stats", G_CALLBACK (on_stats_notify), NULL);
  natter_call_pipeline_update_stats (fixture->callee);
  g_assert_true (iterate_until (fixture, first_stats_arrived, 5000));

  /* Bitrates need a second sample, some media later. */
  callee_frames_mark = natter_call_pipeline_get_video_frames_received (fixture->callee);
  g_assert_true (iterate_until (fixture, callee_video_resumed, 5000));
  natter_call_pipeline_update_stats (fixture->callee);
  g_assert_true (iterate_until (fixture, bitrates_measured, 5000));
  g_signal_handlers_disconnect_by_func (fixture->callee, on_stats_notify, NULL);

  stats = natter_call_pipeline_get_stats (fixture->callee);
  g_assert_nonnull (stats);
  g_assert_cmpuint (stats->packets_received, >, 0);
  g_assert_cmpfloat (stats->packet_loss, >=, 0.0);
  g_assert_cmpfloat (stats->packet_loss, <=, 1.0);
  g_assert_cmpuint (stats->video_receive_bitrate, >, 0);
  g_assert_cmpuint (stats->audio_receive_bitrate, >, 0);
  g_assert_cmpuint (stats->video_send_bitrate, >, 0);
  g_test_message ("rtt %.1f ms, loss %.3f, video in %" G_GUINT64_FORMAT
                  " bit/s, audio in %" G_GUINT64_FORMAT " bit/s",
                  stats->round_trip_time_ms, stats->packet_loss, stats->video_receive_bitrate,
                  stats->audio_receive_bitrate);
}

static gboolean
both_have_estimates (Fixture *fixture)
{
  return natter_call_pipeline_get_bandwidth_estimate (fixture->caller) > 0 &&
         natter_call_pipeline_get_bandwidth_estimate (fixture->callee) > 0;
}

/* Both ends negotiate transport-wide congestion control, send each other
 * its feedback, and estimate from it. */
/* Each rtpsession lets feedback out at once (its RTCP bandwidth is set
 * outright, not as a fraction of the media's) and alone (reduced-size
 * RTCP, answered too), and each jitter buffer asks for a missing packet
 * soon after the gap. */
static void
assert_repair_timing (NatterCallPipeline *pipeline)
{
  g_autoptr (GstIterator) elements =
    gst_bin_iterate_recurse (GST_BIN (natter_call_pipeline_get_element (pipeline)));
  g_auto (GValue) item = G_VALUE_INIT;
  guint sessions = 0;
  guint jitterbuffers = 0;

  while (gst_iterator_next (elements, &item) == GST_ITERATOR_OK) {
    GstElement *element = g_value_get_object (&item);
    GstElementFactory *factory = gst_element_get_factory (element);
    const char *name = factory != NULL ? GST_OBJECT_NAME (factory) : "";

    if (g_str_equal (name, "rtpsession")) {
      double rtcp_bandwidth = 0;
      g_autoptr (GObject) internal = NULL;
      gboolean reduced_size = FALSE;

      g_object_get (element, "rtcp-fraction", &rtcp_bandwidth, "internal-session", &internal, NULL);
      g_assert_cmpfloat (rtcp_bandwidth, >=, 100000);
      /* Both descriptions carry a=rtcp-rsize, so feedback goes alone. */
      g_object_get (internal, "rtcp-reduced-size", &reduced_size, NULL);
      g_assert_true (reduced_size);
      sessions++;
    } else if (g_str_equal (name, "rtpjitterbuffer")) {
      int delay = -1;

      g_object_get (element, "rtx-delay", &delay, NULL);
      g_assert_cmpint (delay, >=, 0);
      g_assert_cmpint (delay, <=, 10);
      jitterbuffers++;
    }
    g_value_reset (&item);
  }
  g_assert_cmpuint (sessions, >=, 1);
  g_assert_cmpuint (jitterbuffers, >=, 2);
}

static void
test_congestion_control_feedback (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const NatterRatePlan *plan;

  g_assert_true (natter_call_pipeline_start_offer (fixture->caller, &error));
  g_assert_no_error (error);
  g_assert_true (iterate_until (fixture, media_flows_both_ways, 20000));
  g_test_message ("offer: %s", fixture->offer_sdp);
  g_test_message ("answer: %s", fixture->answer_sdp);
  g_assert_nonnull (strstr (fixture->offer_sdp, "transport-wide-cc-extensions-01"));
  g_assert_nonnull (strstr (fixture->offer_sdp, "transport-cc"));
  g_assert_nonnull (strstr (fixture->answer_sdp, "transport-wide-cc-extensions-01"));
  g_assert_nonnull (strstr (fixture->answer_sdp, "transport-cc"));
  g_assert_nonnull (strstr (fixture->answer_sdp, "a=rtcp-rsize"));
  assert_repair_timing (fixture->caller);
  assert_repair_timing (fixture->callee);

  g_assert_true (iterate_until (fixture, both_have_estimates, 10000));
  g_test_message ("estimates: caller %u, callee %u",
                  natter_call_pipeline_get_bandwidth_estimate (fixture->caller),
                  natter_call_pipeline_get_bandwidth_estimate (fixture->callee));
  plan = natter_call_pipeline_get_send_plan (fixture->caller);
  g_assert_nonnull (plan);
  g_assert_cmpuint (plan->video_bps, >, 0);
}

static gboolean
caller_video_reduced (Fixture *fixture)
{
  return natter_call_pipeline_get_video_reduced (fixture->caller);
}

/* NATTER_CALL_MAX_BITRATE low enough (90 kbit/s, where video drops to
 * the ladder's last rung): the rate plan reduces the video, the pipeline
 * says so, and the peer keeps receiving frames. */
static void
test_capped_bitrate_reduces_video (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const NatterRatePlan *plan;
  g_autoptr (GstElement) encoder = NULL;
  int target = 0;
  guint64 frames;

  g_setenv ("NATTER_CALL_MAX_BITRATE", "90000", TRUE);
  g_assert_true (natter_call_pipeline_start_offer (fixture->caller, &error));
  g_unsetenv ("NATTER_CALL_MAX_BITRATE");
  g_assert_no_error (error);
  g_assert_true (iterate_until (fixture, media_flows_both_ways, 20000));
  g_assert_true (iterate_until (fixture, caller_video_reduced, 10000));

  plan = natter_call_pipeline_get_send_plan (fixture->caller);
  g_assert_nonnull (plan);
  g_assert_cmpuint (plan->max_fps, ==, 15);
  g_assert_cmpuint (plan->max_height, ==, 180);
  g_assert_cmpuint (plan->video_bps + plan->audio_bps, <=, 90000);
  {
    g_autoptr (GstIterator) elements =
      gst_bin_iterate_recurse (GST_BIN (natter_call_pipeline_get_element (fixture->caller)));
    g_auto (GValue) item = G_VALUE_INIT;

    while (gst_iterator_next (elements, &item) == GST_ITERATOR_OK) {
      GstElement *element = g_value_get_object (&item);
      GstElementFactory *factory = gst_element_get_factory (element);

      if (factory != NULL && g_str_equal (GST_OBJECT_NAME (factory), "vp8enc"))
        encoder = gst_object_ref (element);
      g_value_reset (&item);
    }
  }
  g_assert_nonnull (encoder);
  g_object_get (encoder, "target-bitrate", &target, NULL);
  g_assert_cmpint (target, <=, 90000);

  /* The callee still gets our frames. */
  frames = natter_call_pipeline_get_video_frames_received (fixture->callee);
  callee_frames_mark = frames;
  g_assert_true (iterate_until (fixture, callee_video_resumed, 10000));
}

/* Devices for live switching: each makes a test source or a fakesink
 * named after the device, and counts the buffers through it. */

#define TEST_TYPE_DEVICE (test_device_get_type ())
G_DECLARE_FINAL_TYPE (TestDevice, test_device, TEST, DEVICE, GstDevice)

struct _TestDevice {
  GstDevice parent_instance;
  gint buffers; /* atomic */
};

G_DEFINE_FINAL_TYPE (TestDevice, test_device, GST_TYPE_DEVICE)

static GstPadProbeReturn
count_device_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  g_atomic_int_inc (&TEST_DEVICE (user_data)->buffers);
  return GST_PAD_PROBE_OK;
}

static GstElement *
test_device_create_element (GstDevice *device, const char *name)
{
  g_autofree char *display_name = gst_device_get_display_name (device);
  g_autofree char *description = NULL;
  gboolean is_sink = gst_device_has_classes (device, "Audio/Sink");
  GstElement *element;
  g_autoptr (GstPad) pad = NULL;

  if (gst_device_has_classes (device, "Video/Source"))
    /* The pattern tells the cameras apart. */
    description = g_strdup_printf ("videotestsrc is-live=true pattern=%s ! "
                                   "video/x-raw,width=320,height=240,framerate=30/1",
                                   g_str_has_suffix (display_name, "B") ? "ball" : "smpte");
  else if (gst_device_has_classes (device, "Audio/Source"))
    description = g_strdup ("audiotestsrc is-live=true wave=ticks");
  else
    description = g_strdup ("fakesink sync=false async=false");

  element = gst_parse_bin_from_description (description, TRUE, NULL);
  g_assert_nonnull (element);
  gst_object_set_name (GST_OBJECT (element), display_name);
  pad = gst_element_get_static_pad (element, is_sink ? "sink" : "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_device_buffer, device, NULL);
  return element;
}

static void
test_device_class_init (TestDeviceClass *klass)
{
  GST_DEVICE_CLASS (klass)->create_element = test_device_create_element;
}

static void
test_device_init (TestDevice *self)
{
}

static TestDevice *
test_device_new (const char *display_name, const char *device_class)
{
  g_autoptr (GstCaps) caps = gst_caps_new_any ();

  return g_object_new (TEST_TYPE_DEVICE, "display-name", display_name, "device-class", device_class,
                       "caps", caps, NULL);
}

static TestDevice *switch_watched;
static guint switch_mark;

static gboolean
watched_device_flows (Fixture *fixture)
{
  return (guint) g_atomic_int_get (&switch_watched->buffers) >= switch_mark;
}

static gboolean
element_in_pipeline (NatterCallPipeline *pipeline, const char *name)
{
  g_autoptr (GstElement) element =
    gst_bin_get_by_name (GST_BIN (natter_call_pipeline_get_element (pipeline)), name);

  return element != NULL;
}

/* Microphone, camera and speaker switched during the call: the new device
 * is used at once, the old one is gone, and the call flows on. */
static void
test_switches_devices_live (Fixture *fixture, gconstpointer data)
{
  static const char *const overridden[] = { "NATTER_VIDEO_SRC", "NATTER_AUDIO_SRC",
                                            "NATTER_AUDIO_SINK" };
  char *saved[G_N_ELEMENTS (overridden)];
  g_autoptr (TestDevice) camera_a = test_device_new ("Camera A", "Video/Source");
  g_autoptr (TestDevice) camera_b = test_device_new ("Camera B", "Video/Source");
  g_autoptr (TestDevice) microphone_a = test_device_new ("Microphone A", "Audio/Source");
  g_autoptr (TestDevice) microphone_b = test_device_new ("Microphone B", "Audio/Source");
  g_autoptr (TestDevice) speaker_a = test_device_new ("Speaker A", "Audio/Sink");
  g_autoptr (TestDevice) speaker_b = test_device_new ("Speaker B", "Audio/Sink");
  g_autoptr (TestDevice) callee_camera = test_device_new ("Callee Camera", "Video/Source");
  g_autoptr (TestDevice) callee_microphone = test_device_new ("Callee Microphone", "Audio/Source");
  g_autoptr (GError) error = NULL;
  guint64 frames, audio;

  /* The sources come from the devices, not from the environment. */
  for (guint i = 0; i < G_N_ELEMENTS (overridden); i++) {
    saved[i] = g_strdup (g_getenv (overridden[i]));
    g_unsetenv (overridden[i]);
  }

  natter_call_pipeline_set_video_source_device (fixture->caller, GST_DEVICE (camera_a));
  natter_call_pipeline_set_audio_source_device (fixture->caller, GST_DEVICE (microphone_a));
  natter_call_pipeline_set_audio_sink_device (fixture->caller, GST_DEVICE (speaker_a));
  natter_call_pipeline_set_video_source_device (fixture->callee, GST_DEVICE (callee_camera));
  natter_call_pipeline_set_audio_source_device (fixture->callee, GST_DEVICE (callee_microphone));
  natter_call_pipeline_set_audio_sink_device (fixture->callee, GST_DEVICE (speaker_a));
  g_assert_true (natter_call_pipeline_start_offer (fixture->caller, &error));
  g_assert_no_error (error);
  g_assert_true (iterate_until (fixture, media_flows_both_ways, 20000));
  g_assert_cmpint (g_atomic_int_get (&camera_a->buffers), >, 0);

  /* Camera: B's frames go out, A is gone, the callee keeps decoding. */
  frames = natter_call_pipeline_get_video_frames_received (fixture->callee);
  natter_call_pipeline_set_video_source_device (fixture->caller, GST_DEVICE (camera_b));
  g_assert_false (element_in_pipeline (fixture->caller, "Camera A"));
  g_assert_true (element_in_pipeline (fixture->caller, "Camera B"));
  switch_watched = camera_b;
  switch_mark = 15;
  g_assert_true (iterate_until (fixture, watched_device_flows, 10000));
  callee_frames_mark = frames;
  g_assert_true (iterate_until (fixture, callee_video_resumed, 10000));

  /* Microphone. */
  natter_call_pipeline_set_audio_source_device (fixture->caller, GST_DEVICE (microphone_b));
  g_assert_false (element_in_pipeline (fixture->caller, "Microphone A"));
  switch_watched = microphone_b;
  switch_mark = 25;
  g_assert_true (iterate_until (fixture, watched_device_flows, 10000));
  audio = natter_call_pipeline_get_audio_buffers_received (fixture->callee);
  natter_call_pipeline_set_audio_sink_device (fixture->callee, GST_DEVICE (speaker_b));

  /* Speaker: the callee's remote audio now plays on B. */
  switch_watched = speaker_b;
  switch_mark = 25;
  g_assert_true (iterate_until (fixture, watched_device_flows, 10000));
  g_assert_false (element_in_pipeline (fixture->callee, "Speaker A"));
  g_assert_cmpuint (natter_call_pipeline_get_audio_buffers_received (fixture->callee), >, audio);
  g_assert_cmpint (natter_call_pipeline_get_state (fixture->caller), ==,
                   NATTER_CALL_PIPELINE_STATE_CONNECTED);
  g_assert_cmpint (natter_call_pipeline_get_state (fixture->callee), ==,
                   NATTER_CALL_PIPELINE_STATE_CONNECTED);

  for (guint i = 0; i < G_N_ELEMENTS (overridden); i++) {
    if (saved[i] != NULL)
      g_setenv (overridden[i], saved[i], TRUE);
    g_free (saved[i]);
  }
}

/* Shaped like what Chromium 120 offers for a camera-and-microphone call,
 * with its payload numbering (Opus 111, VP8 96, H.264 102…). */
static const char chromium_offer[] =
  "v=0\r\n"
  "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
  "s=-\r\n"
  "t=0 0\r\n"
  "a=group:BUNDLE 0 1\r\n"
  "a=extmap-allow-mixed\r\n"
  "a=msid-semantic: WMS 3d2a6b1e-5e5c-4c0d-9c43-0b5b0f0e6a11\r\n"
  "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
  "c=IN IP4 0.0.0.0\r\n"
  "a=rtcp:9 IN IP4 0.0.0.0\r\n"
  "a=ice-ufrag:G3kd\r\n"
  "a=ice-pwd:bHGhcbZlDxhDWq8v2S4FkGpe\r\n"
  "a=ice-options:trickle\r\n"
  "a=fingerprint:sha-256 "
  "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:"
  "08\r\n"
  "a=setup:actpass\r\n"
  "a=mid:0\r\n"
  "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
  "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
  "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
  "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
  "a=sendrecv\r\n"
  "a=msid:3d2a6b1e-5e5c-4c0d-9c43-0b5b0f0e6a11 5c1ef4c7-9f0e-4d8a-a0b4-7f2c0d1e9a21\r\n"
  "a=rtcp-mux\r\n"
  "a=rtpmap:111 opus/48000/2\r\n"
  "a=rtcp-fb:111 transport-cc\r\n"
  "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
  "a=rtpmap:63 red/48000/2\r\n"
  "a=fmtp:63 111/111\r\n"
  "a=rtpmap:9 G722/8000\r\n"
  "a=rtpmap:0 PCMU/8000\r\n"
  "a=rtpmap:8 PCMA/8000\r\n"
  "a=rtpmap:13 CN/8000\r\n"
  "a=rtpmap:110 telephone-event/48000\r\n"
  "a=rtpmap:126 telephone-event/8000\r\n"
  "a=ssrc:1001 cname:Vx7m1bq3cQ0Yx3Zr\r\n"
  "a=ssrc:1001 msid:3d2a6b1e-5e5c-4c0d-9c43-0b5b0f0e6a11 5c1ef4c7-9f0e-4d8a-a0b4-7f2c0d1e9a21\r\n"
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 98 99\r\n"
  "c=IN IP4 0.0.0.0\r\n"
  "a=rtcp:9 IN IP4 0.0.0.0\r\n"
  "a=ice-ufrag:G3kd\r\n"
  "a=ice-pwd:bHGhcbZlDxhDWq8v2S4FkGpe\r\n"
  "a=ice-options:trickle\r\n"
  "a=fingerprint:sha-256 "
  "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:"
  "08\r\n"
  "a=setup:actpass\r\n"
  "a=mid:1\r\n"
  "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\n"
  "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
  "a=extmap:13 urn:3gpp:video-orientation\r\n"
  "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
  "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
  "a=sendrecv\r\n"
  "a=msid:3d2a6b1e-5e5c-4c0d-9c43-0b5b0f0e6a11 8f0a3c2d-1b4e-4f6a-9d7c-2e5b8a1c0f33\r\n"
  "a=rtcp-mux\r\n"
  "a=rtcp-rsize\r\n"
  "a=rtpmap:96 VP8/90000\r\n"
  "a=rtcp-fb:96 goog-remb\r\n"
  "a=rtcp-fb:96 transport-cc\r\n"
  "a=rtcp-fb:96 ccm fir\r\n"
  "a=rtcp-fb:96 nack\r\n"
  "a=rtcp-fb:96 nack pli\r\n"
  "a=rtpmap:97 rtx/90000\r\n"
  "a=fmtp:97 apt=96\r\n"
  "a=rtpmap:102 H264/90000\r\n"
  "a=rtcp-fb:102 goog-remb\r\n"
  "a=rtcp-fb:102 transport-cc\r\n"
  "a=rtcp-fb:102 ccm fir\r\n"
  "a=rtcp-fb:102 nack\r\n"
  "a=rtcp-fb:102 nack pli\r\n"
  "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
  "a=rtpmap:103 rtx/90000\r\n"
  "a=fmtp:103 apt=102\r\n"
  "a=rtpmap:98 VP9/90000\r\n"
  "a=rtcp-fb:98 nack pli\r\n"
  "a=fmtp:98 profile-id=0\r\n"
  "a=rtpmap:99 rtx/90000\r\n"
  "a=fmtp:99 apt=98\r\n"
  "a=ssrc-group:FID 2002 2003\r\n"
  "a=ssrc:2002 cname:Vx7m1bq3cQ0Yx3Zr\r\n"
  "a=ssrc:2003 cname:Vx7m1bq3cQ0Yx3Zr\r\n";

static gboolean
answer_created (Fixture *fixture)
{
  return fixture->answer_sdp != NULL;
}

static char *
media_section (const char *sdp, const char *kind)
{
  g_autofree char *marker = g_strdup_printf ("m=%s ", kind);
  const char *start = strstr (sdp, marker);
  const char *end;

  if (start == NULL)
    return NULL;
  end = strstr (start + 2, "m=");
  return end != NULL ? g_strndup (start, end - start) : g_strdup (start);
}

static void
test_answers_chromium_offer (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *audio = NULL;
  g_autofree char *video = NULL;

  g_clear_object (&fixture->caller);
  g_assert_true (
    natter_call_pipeline_set_remote_description (fixture->callee, "offer", chromium_offer, &error));
  g_assert_no_error (error);
  g_assert_true (iterate_until (fixture, answer_created, 10000));
  g_assert_true (natter_call_pipeline_get_remote_has_video (fixture->callee));

  audio = media_section (fixture->answer_sdp, "audio");
  video = media_section (fixture->answer_sdp, "video");
  g_assert_nonnull (audio);
  g_assert_nonnull (video);
  /* Chromium's payload numbers, our codecs, both directions. */
  g_assert_nonnull (strstr (audio, "a=rtpmap:111 OPUS/48000/2"));
  g_assert_nonnull (strstr (audio, "a=mid:0"));
  g_assert_nonnull (strstr (audio, "a=sendrecv"));
  g_assert_nonnull (strstr (video, "a=rtpmap:96 VP8/90000"));
  g_assert_nonnull (strstr (video, "a=mid:1"));
  g_assert_nonnull (strstr (video, "a=sendrecv"));
  g_assert_nonnull (strstr (fixture->answer_sdp, "a=group:BUNDLE 0 1"));
  g_assert_null (strstr (fixture->answer_sdp, "a=setup:actpass"));
  /* Transport-wide congestion control with Chromium's extension id, both
   * ways; no FEC it did not offer. */
  g_assert_nonnull (strstr (video, "a=extmap:3 " NATTER_TWCC_EXTENSION_URI));
  g_assert_nonnull (strstr (video, "a=rtcp-fb:96 transport-cc"));
  g_assert_null (strstr (video, "ulpfec"));
}

/* Chromium's offer with RED and ULPFEC for video (its default). */
static GString *
chromium_fec_offer (void)
{
  GString *offer = g_string_new (chromium_offer);

  g_assert_cmpuint (g_string_replace (offer, "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 98 99\r\n",
                                      "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 98 99 116 117\r\n",
                                      1),
                    ==, 1);
  g_assert_cmpuint (g_string_replace (offer, "a=rtpmap:96 VP8/90000\r\n",
                                      "a=rtpmap:96 VP8/90000\r\n"
                                      "a=rtpmap:116 red/90000\r\n"
                                      "a=rtpmap:117 ulpfec/90000\r\n",
                                      1),
                    ==, 1);
  return offer;
}

static char *
answer_video_section (Fixture *fixture, const char *offer)
{
  g_autoptr (GError) error = NULL;

  g_clear_object (&fixture->caller);
  g_assert_true (
    natter_call_pipeline_set_remote_description (fixture->callee, "offer", offer, &error));
  g_assert_no_error (error);
  g_assert_true (iterate_until (fixture, answer_created, 10000));
  return media_section (fixture->answer_sdp, "video");
}

/* With transport-wide congestion control the answer leaves RED and ULPFEC
 * out: GStreamer 1.22's RED encoder drops the transport-wide sequence
 * number from the video packets, and the peer's feedback then covers audio
 * alone (the estimate stayed at its start value for a whole call with
 * Chromium). */
static void
test_answers_fec_offer (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GString) offer = chromium_fec_offer ();
  g_autofree char *video = answer_video_section (fixture, offer->str);

  g_assert_nonnull (video);
  g_assert_nonnull (strstr (video, "a=rtpmap:96 VP8/90000"));
  g_assert_nonnull (strstr (video, "a=extmap:3 " NATTER_TWCC_EXTENSION_URI));
  g_assert_nonnull (strstr (video, "a=rtcp-fb:96 transport-cc"));
  g_assert_nonnull (strstr (video, "a=rtcp-fb:96 nack"));
  g_assert_null (strstr (video, "red/90000"));
  g_assert_null (strstr (video, "ulpfec/90000"));
}

/* An offer with RED and ULPFEC but no transport-wide extension: the
 * answer takes them. */
static void
test_answers_fec_offer_without_twcc (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GString) offer = chromium_fec_offer ();
  g_autofree char *video = NULL;

  g_assert_cmpuint (g_string_replace (offer,
                                      "a=extmap:3 http://www.ietf.org/id/"
                                      "draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n",
                                      "", 0),
                    ==, 2);
  video = answer_video_section (fixture, offer->str);
  g_assert_nonnull (video);
  g_assert_nonnull (strstr (video, "a=rtpmap:96 VP8/90000"));
  g_assert_null (strstr (video, NATTER_TWCC_EXTENSION_URI));
  g_assert_nonnull (strstr (video, "red/90000"));
  g_assert_nonnull (strstr (video, "ulpfec/90000"));
}

static void
test_answers_h264_only_offer (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) offer = g_string_new (chromium_offer);
  g_autofree char *video = NULL;

  if (gst_element_factory_find ("openh264enc") == NULL) {
    g_test_skip ("openh264enc is not installed");
    return;
  }
  gst_object_unref (gst_element_factory_find ("openh264enc"));

  /* A browser that only does H.264. */
  g_string_replace (offer, "UDP/TLS/RTP/SAVPF 96 97 102 103 98 99", "UDP/TLS/RTP/SAVPF 102 103", 1);
  g_string_replace (offer, "a=rtpmap:96 VP8/90000\r\n", "", 1);
  g_string_replace (offer, "a=rtpmap:98 VP9/90000\r\n", "", 1);

  g_clear_object (&fixture->caller);
  g_assert_true (
    natter_call_pipeline_set_remote_description (fixture->callee, "offer", offer->str, &error));
  g_assert_no_error (error);
  g_assert_true (iterate_until (fixture, answer_created, 10000));

  video = media_section (fixture->answer_sdp, "video");
  g_assert_nonnull (video);
  g_assert_nonnull (strstr (video, "a=rtpmap:102 H264/90000"));
  g_assert_nonnull (strstr (video, "packetization-mode=1"));
  g_assert_nonnull (strstr (video, "a=sendrecv"));
  g_assert_null (strstr (video, "VP8"));
}

static void
test_rejects_garbage_sdp (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (
    natter_call_pipeline_set_remote_description (fixture->callee, "offer", "hello", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_false (
    natter_call_pipeline_set_remote_description (fixture->callee, "pranswer", "v=0\r\n", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  /* An answer before any offer is refused, not asserted on. */
  g_assert_false (natter_call_pipeline_set_remote_description (fixture->caller, "answer",
                                                               chromium_offer, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

/* A jitter buffer linked to an element whose source pad carries @caps, as
 * rtpbin links one to its payload type demuxer. */
static GstElement *
linked_jitterbuffer (GstBin *bin, const char *caps)
{
  GstElement *jitterbuffer = gst_element_factory_make ("rtpjitterbuffer", NULL);
  GstElement *demuxer = gst_element_factory_make ("identity", NULL);
  g_autoptr (GstPad) demuxer_src = NULL;
  g_autoptr (GstCaps) stream_caps = NULL;
  g_autoptr (GstEvent) caps_event = NULL;

  g_assert_nonnull (jitterbuffer);
  gst_bin_add_many (bin, jitterbuffer, demuxer, NULL);
  g_assert_true (gst_element_link (jitterbuffer, demuxer));
  g_object_set (jitterbuffer, "do-retransmission", TRUE, NULL);
  if (caps != NULL) {
    demuxer_src = gst_element_get_static_pad (demuxer, "src");
    stream_caps = gst_caps_from_string (caps);
    gst_pad_set_active (demuxer_src, TRUE);
    caps_event = gst_event_new_caps (stream_caps);
    g_assert_cmpint (gst_pad_store_sticky_event (demuxer_src, caps_event), ==, GST_FLOW_OK);
  }
  return jitterbuffer;
}

static gboolean
retransmission_requested (GstElement *jitterbuffer)
{
  gboolean requested = FALSE;

  g_object_get (jitterbuffer, "do-retransmission", &requested, NULL);
  return requested;
}

/* Only video has RTX: the audio jitter buffer's NACKs (hundreds a call on
 * 5 % loss) went unanswered and crowded out the video ones. */
static void
test_audio_jitterbuffer_stops_nack (void)
{
  g_autoptr (NatterCallAdaptation) adaptation = natter_call_adaptation_new (60, 0);
  g_autoptr (GstElement) bin = gst_bin_new (NULL);
  GstElement *audio = linked_jitterbuffer (
    GST_BIN (bin), "application/x-rtp, media=audio, clock-rate=48000, encoding-name=OPUS");
  GstElement *video = linked_jitterbuffer (
    GST_BIN (bin), "application/x-rtp, media=video, clock-rate=90000, encoding-name=VP8");
  GstElement *unknown = linked_jitterbuffer (GST_BIN (bin), NULL);

  natter_call_adaptation_add_jitterbuffer (adaptation, audio);
  natter_call_adaptation_add_jitterbuffer (adaptation, video);
  natter_call_adaptation_add_jitterbuffer (adaptation, unknown);
  g_assert_true (retransmission_requested (audio));

  natter_call_adaptation_on_receiver_report (adaptation, 63, 0.05, 1000000);
  g_assert_false (retransmission_requested (audio));
  g_assert_true (retransmission_requested (video));
  /* Not linked yet: its media is not known, and it keeps asking. */
  g_assert_true (retransmission_requested (unknown));
  /* The round trip sized them all. */
  g_assert_cmpuint (natter_call_adaptation_get_latency (adaptation), ==, 217);
}

int
main (int argc, char *argv[])
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  /* Small frames keep two encoders per process affordable on two cores. */
  g_setenv ("NATTER_VIDEO_SRC",
            "videotestsrc is-live=true pattern=ball ! capsfilter "
            "caps=\"video/x-raw,width=320,height=240,framerate=30/1\"",
            FALSE);
  g_setenv ("NATTER_AUDIO_SRC", "audiotestsrc is-live=true wave=ticks", FALSE);
  g_setenv ("NATTER_AUDIO_SINK", "fakesink sync=false", FALSE);

  g_test_add ("/natter/call-pipeline/video-both-ways", Fixture, GINT_TO_POINTER (TRUE),
              fixture_set_up, test_video_both_ways, fixture_tear_down);
  g_test_add ("/natter/call-pipeline/voice-only-has-no-video-mline", Fixture,
              GINT_TO_POINTER (FALSE), fixture_set_up, test_voice_only, fixture_tear_down);
  g_test_add ("/natter/call-pipeline/no-state-change-loop-during-setup", Fixture,
              GINT_TO_POINTER (FALSE), fixture_set_up, test_no_state_change_loop,
              fixture_tear_down);
  g_test_add ("/natter/call-pipeline/microphone-fails-to-open", Fixture, GINT_TO_POINTER (FALSE),
              NULL, test_microphone_fails_to_open, NULL);
  g_test_add ("/natter/call-pipeline/camera-fails-to-open-goes-on-without-video", Fixture,
              GINT_TO_POINTER (TRUE), fixture_set_up, test_camera_fails_to_open, fixture_tear_down);
  g_test_add ("/natter/call-pipeline/camera-off-and-on", Fixture, GINT_TO_POINTER (TRUE),
              fixture_set_up, test_camera_off_and_on, fixture_tear_down);
  g_test_add ("/natter/call-pipeline/congestion-control-feedback", Fixture, GINT_TO_POINTER (TRUE),
              fixture_set_up, test_congestion_control_feedback, fixture_tear_down);
  g_test_add ("/natter/call-pipeline/switches-devices-live", Fixture, GINT_TO_POINTER (TRUE),
              fixture_set_up, test_switches_devices_live, fixture_tear_down);
  g_test_add ("/natter/call-pipeline/capped-bitrate-reduces-video", Fixture, GINT_TO_POINTER (TRUE),
              fixture_set_up, test_capped_bitrate_reduces_video, fixture_tear_down);
  g_test_add ("/natter/call-pipeline/stats", Fixture, GINT_TO_POINTER (TRUE), fixture_set_up,
              test_stats, fixture_tear_down);
  g_test_add ("/natter/call-pipeline/answers-chromium-offer", Fixture, GINT_TO_POINTER (TRUE),
              fixture_set_up, test_answers_chromium_offer, fixture_tear_down);
  g_test_add ("/natter/call-pipeline/answers-fec-offer", Fixture, GINT_TO_POINTER (TRUE),
              fixture_set_up, test_answers_fec_offer, fixture_tear_down);
  g_test_add ("/natter/call-pipeline/answers-fec-offer-without-twcc", Fixture,
              GINT_TO_POINTER (TRUE), fixture_set_up, test_answers_fec_offer_without_twcc,
              fixture_tear_down);
  g_test_add ("/natter/call-pipeline/answers-h264-only-offer", Fixture, GINT_TO_POINTER (TRUE),
              fixture_set_up, test_answers_h264_only_offer, fixture_tear_down);
  g_test_add ("/natter/call-pipeline/rejects-garbage-sdp", Fixture, GINT_TO_POINTER (TRUE),
              fixture_set_up, test_rejects_garbage_sdp, fixture_tear_down);

  g_test_add_func ("/natter/call-pipeline/audio-jitterbuffer-stops-nack",
                   test_audio_jitterbuffer_stops_nack);
  return g_test_run ();
}
