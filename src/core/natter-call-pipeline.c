/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-pipeline"

#include "config.h"

#include <ifaddrs.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#define GST_USE_UNSTABLE_API
#include <gst/base/gstbasesink.h>
#include <gst/sdp/sdp.h>
#include <gst/video/video.h>
#include <gst/webrtc/webrtc.h>

#include "natter-call-adaptation.h"
#include "natter-call-pipeline.h"

/* Jitter buffer: see natter_call_pipeline_init() for why 60 ms. */
#define DEFAULT_LATENCY_MS 60

/* A connected call whose peer sends nothing for this long has lost its
 * media path (see check_media_flow()). */
#define DEFAULT_MEDIA_TIMEOUT_MS 5000

#define OPUS_PAYLOAD_DEFAULT 111
#define VP8_PAYLOAD_DEFAULT 96
/* The id our offers give the transport-wide sequence number extension
 * (Chromium's own choice too; any 1-14 works). */
#define TWCC_EXTENSION_ID_DEFAULT 3

enum {
  PROP_0,
  PROP_STATE,
  PROP_WITH_VIDEO,
  PROP_VIDEO_SINK,
  PROP_LOCAL_VIDEO_SINK,
  PROP_LATENCY,
  PROP_MUTED,
  PROP_CAMERA_ENABLED,
  PROP_STATS,
  PROP_BANDWIDTH_ESTIMATE,
  PROP_VIDEO_REDUCED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum { SIGNAL_LOCAL_DESCRIPTION, SIGNAL_LOCAL_CANDIDATE, SIGNAL_FIRST_REMOTE_MEDIA, N_SIGNALS };

static guint signals[N_SIGNALS];

typedef enum {
  VIDEO_CODEC_NONE,
  VIDEO_CODEC_VP8,
  VIDEO_CODEC_H264,
} VideoCodec;

typedef struct {
  guint mline;
  char *candidate;
} PendingCandidate;

struct _NatterCallPipeline {
  GObject parent_instance;

  GMainContext *context;
  GstElement *pipeline;
  GstElement *webrtcbin;
  GstElement *echo_probe;
  GstElement *audio_receive_head; /* sink pad free until remote audio arrives */
  GstElement *mute_volume;
  GstElement *video_valve;
  GstElement *video_encoder;
  GstElement *video_sink;
  GstElement *local_video_sink;
  GstElement *audio_source; /* the current microphone, camera and speaker elements */
  GstElement *video_source;
  GstElement *audio_sink;
  GstDevice *audio_source_device;
  GstDevice *video_source_device;
  GstDevice *audio_sink_device;
  guint bus_watch_id;

  NatterCallPipelineState state;
  char *error_message;
  GPtrArray *ice_servers; /* NatterIceServer */
  GPtrArray *pending_candidates;
  NatterCallStats *stats;
  NatterCallAdaptation *adaptation;
  guint twcc_extension_id; /* 0: not negotiated */
  gboolean twcc_probe_added;
  gboolean congestion_control;
  guint max_bitrate; /* bit/s, 0: no cap of our own */
  guint bandwidth_estimate;
  gboolean video_reduced;

  guint latency_ms;
  guint media_timeout_ms;
  guint media_watch_id;
  guint last_rtp_received;
  gint64 last_rtp_at;
  gboolean media_lost;
  guint echo_probe_serial;
  gboolean with_video;
  gboolean remote_has_video;
  gboolean is_offerer;
  gboolean offer_requested;
  gboolean remote_description_set;
  gboolean video_receive_linked;
  gboolean audio_receive_linked;
  gboolean muted;
  gboolean camera_enabled;
  gboolean camera_failed; /* the camera did not open: the call goes on without it */
  gboolean closed;
  gboolean stats_pending;

  gint rtp_received; /* atomic: bumped on streaming threads */
  gint audio_buffers_received;
  gint video_frames_received;
  gint audio_buffers_sent;
  gint video_frames_sent;
  NatterFrameTiming *video_received_timing; /* fps and freezes, each way */
  NatterFrameTiming *video_sent_timing;
  gboolean dtls_watched;
  GObject *dtls_transport;                    /* watched for its state */
  GstWebRTCRTPTransceiver *video_transceiver; /* with FEC, when negotiated */
  guint fec_percentage;

  GMutex marks_lock; /* marks are set from streaming threads */
  gint64 marks[NATTER_CALL_PIPELINE_N_MARKS];
};

G_DEFINE_FINAL_TYPE (NatterCallPipeline, natter_call_pipeline, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (NatterCallPipelineState,
                    natter_call_pipeline_state,
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_NEW, "new"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_NEGOTIATING, "negotiating"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_CONNECTING, "connecting"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_CONNECTED, "connected"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_DISCONNECTED, "disconnected"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_FAILED, "failed"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_CLOSED, "closed"))

G_DEFINE_ENUM_TYPE (
  NatterCallPipelineMark,
  natter_call_pipeline_mark,
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_STARTED, "started"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_LOCAL_DESCRIPTION, "local-description"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_REMOTE_DESCRIPTION, "remote-description"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_FIRST_LOCAL_CANDIDATE, "first-local-candidate"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_ICE_CONNECTED, "ice-connected"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_DTLS_CONNECTED, "dtls-connected"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_FIRST_RTP, "first-rtp"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_FIRST_AUDIO, "first-audio"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_FIRST_VIDEO, "first-video"))

/* Records the first time @mark happens; any thread. */
static void
set_mark (NatterCallPipeline *self, NatterCallPipelineMark mark)
{
  g_mutex_lock (&self->marks_lock);
  if (self->marks[mark] == 0)
    self->marks[mark] = g_get_monotonic_time ();
  g_mutex_unlock (&self->marks_lock);
}

static gint64
get_mark (NatterCallPipeline *self, NatterCallPipelineMark mark)
{
  gint64 time;

  g_mutex_lock (&self->marks_lock);
  time = self->marks[mark];
  g_mutex_unlock (&self->marks_lock);
  return time;
}

static void
pending_candidate_free (gpointer data)
{
  PendingCandidate *pending = data;

  g_free (pending->candidate);
  g_free (pending);
}

static void
set_state (NatterCallPipeline *self, NatterCallPipelineState state)
{
  if (self->state == state)
    return;

  /* Closed and failed are final, except that a failed path may recover. */
  if (self->state == NATTER_CALL_PIPELINE_STATE_CLOSED)
    return;

  if (!g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN)) {
    g_autofree char *name = g_enum_to_string (NATTER_TYPE_CALL_PIPELINE_STATE, state);

    g_debug ("pipeline %p: %s", self, name);
  }
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
fail (NatterCallPipeline *self, const char *message)
{
  if (self->state == NATTER_CALL_PIPELINE_STATE_CLOSED)
    return;

  g_warning ("Call media failed: %s", message);
  if (self->error_message == NULL)
    self->error_message = g_strdup (message);
  set_state (self, NATTER_CALL_PIPELINE_STATE_FAILED);
}

/* Streaming-thread callbacks hand their work to the main context with a
 * reference, so the object outlives every queued call. */
typedef void (*MainFunc) (NatterCallPipeline *self, gpointer data);

typedef struct {
  NatterCallPipeline *self;
  MainFunc func;
  gpointer data;
  GDestroyNotify data_free;
} Invocation;

static gboolean
run_invocation (gpointer user_data)
{
  Invocation *invocation = user_data;

  if (!invocation->self->closed)
    invocation->func (invocation->self, invocation->data);

  return G_SOURCE_REMOVE;
}

static void
invocation_free (gpointer user_data)
{
  Invocation *invocation = user_data;

  if (invocation->data_free != NULL)
    g_clear_pointer (&invocation->data, invocation->data_free);
  g_object_unref (invocation->self);
  g_free (invocation);
}

static void
invoke_on_main (NatterCallPipeline *self, MainFunc func, gpointer data, GDestroyNotify data_free)
{
  Invocation *invocation = g_new0 (Invocation, 1);
  GSource *source;

  invocation->self = g_object_ref (self);
  invocation->func = func;
  invocation->data = data;
  invocation->data_free = data_free;
  /* Always through a source: g_main_context_invoke() runs the function at
   * once on the calling streaming thread whenever it can acquire the
   * context, which it can while the main thread is between iterations (a
   * test's own code, natter-cli between waits). A candidate then went out
   * on the WebSocket from that thread while the main thread used it too,
   * and libsoup's frame queue broke (assertion "len > frame->sent"). */
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, run_invocation, invocation, invocation_free);
  g_source_set_static_name (source, "[natter] call pipeline to main");
  g_source_attach (source, self->context);
  g_source_unref (source);
}

static GstElement *
make_element (const char *factory, const char *name)
{
  GstElement *element = gst_element_factory_make (factory, name);

  if (element == NULL)
    g_warning ("GStreamer element %s is missing", factory);
  return element;
}

/* NATTER_VIDEO_SRC and friends name a bin description; otherwise the chosen
 * device, otherwise the automatic element. */
static GstElement *
make_endpoint (const char *env_name, GstDevice *device, const char *fallback, GError **error)
{
  const char *description = g_getenv (env_name);

  if (description != NULL && *description != '\0') {
    GstElement *bin;
    gboolean is_sink = g_str_has_suffix (env_name, "SINK");

    bin = gst_parse_bin_from_description (description, TRUE, error);
    if (bin == NULL)
      g_prefix_error (error, "%s: ", env_name);
    else if (is_sink)
      g_object_set (bin, "async-handling", TRUE, NULL);
    return bin;
  }

  if (device != NULL) {
    GstElement *element = gst_device_create_element (device, NULL);

    if (element != NULL)
      return element;
  }

  return gst_element_factory_make (fallback, NULL);
}

/* Opens a capture source on its own before it joins the pipeline, so a
 * device that cannot open (no sound server, no such file, busy camera) is
 * known while the call is built, not as a bus error after the offer went
 * out. Opening is what fails, in NULL to READY or READY to PAUSED; a live
 * source produces nothing in PAUSED. It is left in READY, opened, and the
 * pipeline takes it on from there. */
static gboolean
open_source (GstElement *source, GError **error)
{
  g_autoptr (GstBus) bus = gst_bus_new ();
  GstStateChangeReturn result;

  gst_element_set_bus (source, bus);
  result = gst_element_set_state (source, GST_STATE_PAUSED);
  if (result == GST_STATE_CHANGE_FAILURE) {
    g_autoptr (GstMessage) message = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);

    if (message != NULL)
      gst_message_parse_error (message, error, NULL);
    else
      g_set_error_literal (error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE,
                           "The device did not start");
    gst_element_set_state (source, GST_STATE_NULL);
  } else {
    gst_element_set_state (source, GST_STATE_READY);
  }
  gst_element_set_bus (source, NULL);
  return result != GST_STATE_CHANGE_FAILURE;
}

static gboolean
have_element (const char *factory)
{
  g_autoptr (GstElementFactory) found = gst_element_factory_find (factory);

  return found != NULL;
}

static gboolean
only_loopback_available (void)
{
  struct ifaddrs *addresses = NULL;
  gboolean other = FALSE;

  if (getifaddrs (&addresses) != 0)
    return FALSE;

  for (struct ifaddrs *it = addresses; it != NULL; it = it->ifa_next) {
    if (it->ifa_addr == NULL)
      continue;
    if (it->ifa_addr->sa_family != AF_INET && it->ifa_addr->sa_family != AF_INET6)
      continue;
    if ((it->ifa_flags & IFF_UP) && !(it->ifa_flags & IFF_LOOPBACK)) {
      other = TRUE;
      break;
    }
  }
  freeifaddrs (addresses);
  return !other;
}

static guint
counter_get (gint *counter)
{
  return (guint) g_atomic_int_get (counter);
}

static void
on_first_media_main (NatterCallPipeline *self, gpointer data)
{
  g_signal_emit (self, signals[SIGNAL_FIRST_REMOTE_MEDIA], 0, (const char *) data);
}

static GstPadProbeReturn
count_received_audio (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  NatterCallPipeline *self = user_data;

  if (g_atomic_int_add (&self->audio_buffers_received, 1) == 0) {
    set_mark (self, NATTER_CALL_PIPELINE_MARK_FIRST_AUDIO);
    invoke_on_main (self, on_first_media_main, (gpointer) "audio", NULL);
  }
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
count_received_video (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  NatterCallPipeline *self = user_data;

  natter_frame_timing_add_frame (self->video_received_timing, g_get_monotonic_time ());
  if (g_atomic_int_add (&self->video_frames_received, 1) == 0) {
    set_mark (self, NATTER_CALL_PIPELINE_MARK_FIRST_VIDEO);
    invoke_on_main (self, on_first_media_main, (gpointer) "video", NULL);
  }
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
count_rtp (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  NatterCallPipeline *self = user_data;

  g_atomic_int_inc (&self->rtp_received);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
count_sent (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  g_atomic_int_inc ((gint *) user_data);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
time_sent_frame (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  natter_frame_timing_add_frame (user_data, g_get_monotonic_time ());
  return GST_PAD_PROBE_OK;
}

static void
add_probe (GstElement *element, const char *pad_name, GstPadProbeCallback callback, gpointer data)
{
  g_autoptr (GstPad) pad = gst_element_get_static_pad (element, pad_name);

  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, callback, data, NULL);
}

/* Congestion control: see NatterCallAdaptation. */

static void
update_adaptation_properties (NatterCallPipeline *self)
{
  guint estimate = natter_call_adaptation_get_estimate (self->adaptation);
  gboolean reduced = natter_call_adaptation_get_video_reduced (self->adaptation);

  /* Feedback comes ten times a second: tell only real moves. */
  if (estimate / 10000 != self->bandwidth_estimate / 10000) {
    self->bandwidth_estimate = estimate;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BANDWIDTH_ESTIMATE]);
  }
  if (reduced != self->video_reduced) {
    self->video_reduced = reduced;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIDEO_REDUCED]);
  }
  if (self->video_transceiver != NULL) {
    /* Twice the loss, at most a fifth of the packets: one FEC packet
     * protects a few, and at 1 % loss 2 % of the video is cheap insurance.
     * None on a starved link or under heavy loss: there the loss is
     * congestion, and FEC would add to it. */
    double loss = natter_call_adaptation_get_loss (self->adaptation);
    guint percentage = loss < 0.10 && estimate >= 800000 ? (guint) CLAMP (loss * 200, 0, 20) : 0;

    if (percentage != self->fec_percentage) {
      self->fec_percentage = percentage;
      g_object_set (self->video_transceiver, "fec-percentage", percentage, NULL);
    }
  }
}

static void
on_twcc_main (NatterCallPipeline *self, gpointer data)
{
  if (self->closed || self->adaptation == NULL)
    return;
  natter_call_adaptation_on_twcc (self->adaptation, data, g_get_monotonic_time ());
  update_adaptation_properties (self);
}

/* rtpsession sends each transport-wide feedback upstream as an event
 * through every send chain of the bundle; one chain listens. */
static GstPadProbeReturn
on_upstream_event (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  const GstStructure *structure;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_UPSTREAM)
    return GST_PAD_PROBE_OK;
  structure = gst_event_get_structure (event);
  if (structure != NULL && gst_structure_has_name (structure, "RTPTWCCPackets"))
    invoke_on_main (user_data, on_twcc_main, gst_structure_copy (structure),
                    (GDestroyNotify) gst_structure_free);
  return GST_PAD_PROBE_OK;
}

static void
watch_feedback (NatterCallPipeline *self, GstElement *last)
{
  g_autoptr (GstPad) pad = NULL;

  if (self->twcc_extension_id == 0 || self->twcc_probe_added)
    return;
  self->twcc_probe_added = TRUE;
  pad = gst_element_get_static_pad (last, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, on_upstream_event, self, NULL);
}

/* Each PLI (and a lost keyframe brings one per lost packet, and again
 * each round trip until it is repaired) becomes a force-key-unit event:
 * one keyframe in flight answers them all. */
static GstPadProbeReturn
limit_keyframe_requests (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  NatterCallPipeline *self = user_data;
  gboolean allowed;

  if (!gst_video_event_is_force_key_unit (GST_PAD_PROBE_INFO_EVENT (info)))
    return GST_PAD_PROBE_OK;
  g_mutex_lock (&self->marks_lock);
  allowed = self->adaptation == NULL ||
            natter_call_adaptation_allow_keyframe (self->adaptation, g_get_monotonic_time ());
  g_mutex_unlock (&self->marks_lock);
  return allowed ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

/* The send caps carry the header extension (the payloader then writes it,
 * and webrtcbin puts it in the SDP) and ask for transport-cc feedback. */
static void
add_twcc_to_caps (NatterCallPipeline *self, GstCaps *caps)
{
  g_autofree char *field = NULL;

  if (self->twcc_extension_id == 0)
    return;
  field = g_strdup_printf ("extmap-%u", self->twcc_extension_id);
  gst_caps_set_simple (caps, field, G_TYPE_STRING, NATTER_TWCC_EXTENSION_URI,
                       "rtcp-fb-transport-cc", G_TYPE_BOOLEAN, TRUE, NULL);
}

/* Send chains. */

static GstElement *
build_audio_send_bin (NatterCallPipeline *self, guint payload, GError **error)
{
  g_autoptr (GstElement) source = NULL;
  g_autoptr (GstCaps) caps = NULL;
  GstElement *bin, *convert, *resample, *dsp = NULL, *convert2, *volume, *encoder, *payloader,
                                        *filter;
  g_autoptr (GstPad) src_pad = NULL;

  source = make_endpoint ("NATTER_AUDIO_SRC", self->audio_source_device, "autoaudiosrc", error);
  if (source == NULL)
    return NULL;
  gst_object_ref_sink (source);
  {
    g_autoptr (GError) open_error = NULL;

    if (!open_source (source, &open_error)) {
      g_set_error (error, open_error->domain, open_error->code,
                   "The microphone could not be opened: %s", open_error->message);
      return NULL;
    }
  }

  bin = gst_bin_new ("audio-send");
  convert = make_element ("audioconvert", NULL);
  resample = make_element ("audioresample", NULL);
  convert2 = make_element ("audioconvert", NULL);
  volume = make_element ("volume", "mute");
  encoder = make_element ("opusenc", NULL);
  payloader = make_element ("rtpopuspay", NULL);
  filter = make_element ("capsfilter", NULL);
  if (!convert || !resample || !convert2 || !volume || !encoder || !payloader || !filter) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN, "Opus elements are missing");
    g_clear_object (&convert);
    g_clear_object (&resample);
    g_clear_object (&convert2);
    g_clear_object (&volume);
    g_clear_object (&encoder);
    g_clear_object (&payloader);
    g_clear_object (&filter);
    gst_object_unref (bin);
    return NULL;
  }

  if (self->echo_probe != NULL) {
    g_autofree char *probe_name = gst_object_get_name (GST_OBJECT (self->echo_probe));

    dsp = make_element ("webrtcdsp", NULL);
    g_object_set (dsp, "probe", probe_name, "echo-cancel", TRUE, "noise-suppression", TRUE,
                  "gain-control", TRUE, NULL);
  }

  g_object_set (volume, "mute", self->muted, NULL);
  g_object_set (encoder, "bitrate", 32000, "frame-size", 20, "inband-fec", TRUE, "audio-type",
                2048 /* voice */, NULL);
  g_object_set (payloader, "pt", payload, NULL);
  caps = gst_caps_new_simple ("application/x-rtp", "media", G_TYPE_STRING, "audio", "encoding-name",
                              G_TYPE_STRING, "OPUS", "clock-rate", G_TYPE_INT, 48000, "payload",
                              G_TYPE_INT, payload, NULL);
  add_twcc_to_caps (self, caps);
  g_object_set (filter, "caps", caps, NULL);

  gst_bin_add_many (GST_BIN (bin), source, convert, resample, convert2, volume, encoder, payloader,
                    filter, NULL);
  if (dsp != NULL) {
    gst_bin_add (GST_BIN (bin), dsp);
    gst_element_link_many (source, convert, resample, dsp, convert2, volume, encoder, payloader,
                           filter, NULL);
  } else {
    gst_element_link_many (source, convert, resample, convert2, volume, encoder, payloader, filter,
                           NULL);
  }

  add_probe (encoder, "src", count_sent, &self->audio_buffers_sent);
  self->audio_source = source;
  if (self->congestion_control)
    natter_call_adaptation_set_audio_encoder (self->adaptation, encoder);
  watch_feedback (self, filter);
  src_pad = gst_element_get_static_pad (filter, "src");
  gst_element_add_pad (bin, gst_ghost_pad_new ("src", src_pad));
  self->mute_volume = volume;
  return bin;
}

static GstElement *
build_video_send_bin (NatterCallPipeline *self, VideoCodec codec, guint payload, GError **error)
{
  g_autoptr (GstElement) source = NULL;
  g_autoptr (GstCaps) raw_caps = NULL;
  g_autoptr (GstCaps) rtp_caps = NULL;
  g_autoptr (GstPad) src_pad = NULL;
  GstElement *bin, *convert, *scale, *rate, *raw_filter, *valve, *queue, *encoder, *payloader,
    *filter;
  GstElement *last;
  const NatterRatePlan *plan;
  static const NatterRatePlan full_plan = { 1500000, 32000, 1280, 720, 30, 0 };

  source = make_endpoint ("NATTER_VIDEO_SRC", self->video_source_device, "autovideosrc", error);
  if (source == NULL)
    return NULL;
  gst_object_ref_sink (source);
  {
    g_autoptr (GError) open_error = NULL;

    /* A camera that does not open makes the call voice-only from our side:
     * the video m-line stays (the peer may still send), the valve stays shut
     * and the peer learns through call_media_state that our camera is off. */
    if (!open_source (source, &open_error)) {
      g_message ("The camera could not be opened (%s); going on without video",
                 open_error->message);
      g_clear_object (&source);
      source = gst_object_ref_sink (make_element ("videotestsrc", NULL));
      g_object_set (source, "is-live", TRUE, "pattern", 2 /* black */, NULL);
      self->camera_failed = TRUE;
      if (self->camera_enabled) {
        self->camera_enabled = FALSE;
        g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAMERA_ENABLED]);
      }
    }
  }

  bin = gst_bin_new ("video-send");
  convert = make_element ("videoconvert", NULL);
  scale = make_element ("videoscale", NULL);
  rate = make_element ("videorate", NULL);
  raw_filter = make_element ("capsfilter", NULL);
  valve = make_element ("valve", NULL);
  queue = make_element ("queue", NULL);
  encoder = make_element (codec == VIDEO_CODEC_H264 ? "openh264enc" : "vp8enc", NULL);
  payloader = make_element (codec == VIDEO_CODEC_H264 ? "rtph264pay" : "rtpvp8pay", NULL);
  filter = make_element ("capsfilter", NULL);
  if (!convert || !scale || !rate || !raw_filter || !valve || !queue || !encoder || !payloader ||
      !filter) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                 "Video elements are missing");
    g_clear_object (&convert);
    g_clear_object (&scale);
    g_clear_object (&rate);
    g_clear_object (&raw_filter);
    g_clear_object (&valve);
    g_clear_object (&queue);
    g_clear_object (&encoder);
    g_clear_object (&payloader);
    g_clear_object (&filter);
    gst_object_unref (bin);
    return NULL;
  }

  /* At most 720p30: enough for a face, affordable for a laptop. Less when
   * the link is slow: the ladder of the rate controller starts where the
   * estimate does, and moves live (NatterCallAdaptation). */
  plan = natter_call_adaptation_get_plan (self->adaptation);
  if (!self->congestion_control)
    plan = &full_plan;
  g_object_set (rate, "max-rate", (int) plan->max_fps, "drop-only", TRUE, NULL);
  raw_caps =
    gst_caps_new_simple ("video/x-raw", "width", GST_TYPE_INT_RANGE, 16, (int) plan->max_width,
                         "height", GST_TYPE_INT_RANGE, 16, (int) plan->max_height,
                         "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
  g_object_set (raw_filter, "caps", raw_caps, NULL);
  /* Caps still pass while the camera is off: webrtcbin waits for them
   * before it negotiates. */
  gst_util_set_object_arg (G_OBJECT (valve), "drop-mode", "forward-sticky-events");
  g_object_set (valve, "drop", !self->camera_enabled, NULL);
  /* A late frame is better dropped than queued: keep latency flat. */
  g_object_set (queue, "max-size-buffers", 2, "max-size-bytes", 0, "max-size-time", (guint64) 0,
                "leaky", 2 /* downstream */, NULL);

  if (codec == VIDEO_CODEC_H264) {
    g_object_set (encoder, "bitrate", plan->video_bps, "gop-size", 60, "usage-type", 0, NULL);
    g_object_set (payloader, "config-interval", -1, "aggregate-mode", 1 /* zero-latency */, NULL);
    rtp_caps = gst_caps_new_simple (
      "application/x-rtp", "media", G_TYPE_STRING, "video", "encoding-name", G_TYPE_STRING, "H264",
      "clock-rate", G_TYPE_INT, 90000, "payload", G_TYPE_INT, payload, "packetization-mode",
      G_TYPE_STRING, "1", "profile-level-id", G_TYPE_STRING, "42e01f", NULL);
  } else {
    gst_util_set_object_arg (G_OBJECT (encoder), "error-resilient", "default+partitions");
    gst_util_set_object_arg (G_OBJECT (encoder), "end-usage", "cbr");
    /* One thread: a 720p frame takes 2 to 8 ms. libvpx's threads wait for
     * each other row by row, and while a call's other threads held both
     * cores, frames with two took 100 to 200 ms (the first one always: 141
     * to 166 ms on the callee, 23 ms alone). */
    g_object_set (encoder, "deadline", (gint64) 1, "cpu-used", 8, "keyframe-max-dist", 60,
                  "lag-in-frames", 0, "target-bitrate", (int) plan->video_bps, "threads", 1,
                  "buffer-size", 1000, "buffer-initial-size", 500, "buffer-optimal-size", 600,
                  NULL);
    /* A keyframe at most three frames' worth: an unbounded one (ten and
     * more) is a burst a slow link's queue drops, which brings a PLI and
     * the next big keyframe. The picture sharpens over the next frames. */
    /* And as libwebrtc sets libvpx: overshoot the rate by at most 15 %
     * (not the default 100 %), and skip a frame rather than overflow the
     * rate buffer. */
    g_object_set (encoder, "max-intra-bitrate", 300, "overshoot", 15, "undershoot", 100,
                  "dropframe-threshold", 30, NULL);
    g_object_set (payloader, "picture-id-mode", 2 /* 15 bit */, NULL);
    rtp_caps = gst_caps_new_simple ("application/x-rtp", "media", G_TYPE_STRING, "video",
                                    "encoding-name", G_TYPE_STRING, "VP8", "clock-rate", G_TYPE_INT,
                                    90000, "payload", G_TYPE_INT, payload, NULL);
  }
  add_twcc_to_caps (self, rtp_caps);
  g_object_set (payloader, "pt", payload, NULL);
  g_object_set (filter, "caps", rtp_caps, NULL);

  gst_bin_add_many (GST_BIN (bin), source, convert, scale, rate, raw_filter, valve, queue, encoder,
                    payloader, filter, NULL);
  gst_element_link_many (source, convert, scale, rate, raw_filter, NULL);
  last = raw_filter;

  if (self->local_video_sink != NULL) {
    GstElement *tee = make_element ("tee", NULL);
    GstElement *preview_queue = make_element ("queue", NULL);
    GstElement *preview_convert = make_element ("videoconvert", NULL);

    g_object_set (preview_queue, "leaky", 2, "max-size-buffers", 2, NULL);
    gst_bin_add_many (GST_BIN (bin), tee, preview_queue, preview_convert, self->local_video_sink,
                      NULL);
    gst_element_link_many (last, tee, preview_queue, preview_convert, self->local_video_sink, NULL);
    last = tee;
  }

  gst_element_link_many (last, valve, queue, encoder, payloader, filter, NULL);
  add_probe (encoder, "src", count_sent, &self->video_frames_sent);
  add_probe (encoder, "src", time_sent_frame, self->video_sent_timing);
  {
    g_autoptr (GstPad) encoder_src = gst_element_get_static_pad (encoder, "src");

    gst_pad_add_probe (encoder_src, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, limit_keyframe_requests,
                       self, NULL);
  }
  self->video_source = source;
  if (self->congestion_control)
    natter_call_adaptation_set_video (self->adaptation, encoder, scale, raw_filter, rate);
  watch_feedback (self, filter);
  src_pad = gst_element_get_static_pad (filter, "src");
  gst_element_add_pad (bin, gst_ghost_pad_new ("src", src_pad));
  self->video_valve = valve;
  self->video_encoder = encoder;
  return bin;
}

static gboolean
attach_send_bin (NatterCallPipeline *self, GstElement *bin, int mline, GError **error)
{
  g_autoptr (GstPad) src_pad = NULL;
  g_autoptr (GstPad) sink_pad = NULL;
  g_autofree char *name = NULL;

  gst_bin_add (GST_BIN (self->pipeline), bin);
  src_pad = gst_element_get_static_pad (bin, "src");

  /* "sink_N" locks the transceiver to m-line N: the answerer's send chains
   * land in the m-lines the offer put them in. */
  if (mline >= 0)
    name = g_strdup_printf ("sink_%d", mline);
  sink_pad = gst_element_request_pad_simple (self->webrtcbin, name != NULL ? name : "sink_%u");
  if (sink_pad == NULL || gst_pad_link (src_pad, sink_pad) != GST_PAD_LINK_OK) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION, "Could not link a send chain");
    return FALSE;
  }
  return TRUE;
}

/* Receive side. */

typedef struct {
  GstPad *pad;
  gulong block_id;
} BlockedPad;

static void
blocked_pad_free (gpointer data)
{
  BlockedPad *blocked = data;

  if (blocked->block_id != 0)
    gst_pad_remove_probe (blocked->pad, blocked->block_id);
  gst_object_unref (blocked->pad);
  g_free (blocked);
}

static GstPadProbeReturn
keep_blocked (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  return GST_PAD_PROBE_OK;
}

/* New pads arrive on streaming threads: block them there, link them on the
 * main context, then let data through. */
static void
block_and_invoke (NatterCallPipeline *self, GstPad *pad, MainFunc func)
{
  BlockedPad *blocked = g_new0 (BlockedPad, 1);

  blocked->pad = gst_object_ref (pad);
  blocked->block_id =
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM, keep_blocked, NULL, NULL);
  invoke_on_main (self, func, blocked, blocked_pad_free);
}

static void
link_decoded_audio (NatterCallPipeline *self, GstPad *pad)
{
  g_autoptr (GstPad) sink_pad = NULL;
  GstElement *convert = make_element ("audioconvert", NULL);
  GstElement *resample = make_element ("audioresample", NULL);

  if (self->audio_receive_linked || convert == NULL || resample == NULL) {
    g_clear_object (&convert);
    g_clear_object (&resample);
    return;
  }

  gst_bin_add_many (GST_BIN (self->pipeline), convert, resample, NULL);
  gst_element_link_many (convert, resample, self->audio_receive_head, NULL);
  gst_element_sync_state_with_parent (resample);
  gst_element_sync_state_with_parent (convert);
  sink_pad = gst_element_get_static_pad (convert, "sink");
  if (gst_pad_link (pad, sink_pad) != GST_PAD_LINK_OK) {
    fail (self, "Could not play the remote audio");
    return;
  }
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_received_audio, self, NULL);
  self->audio_receive_linked = TRUE;
}

static void
link_decoded_video (NatterCallPipeline *self, GstPad *pad)
{
  g_autoptr (GstPad) sink_pad = NULL;
  GstElement *queue, *convert;

  if (self->video_receive_linked)
    return;

  if (self->video_sink == NULL) {
    self->video_sink = gst_object_ref_sink (make_element ("fakesink", "remote-video-sink"));
    g_object_set (self->video_sink, "sync", FALSE, "async", FALSE, NULL);
  }

  queue = make_element ("queue", NULL);
  convert = make_element ("videoconvert", NULL);
  g_object_set (queue, "leaky", 2, "max-size-buffers", 3, NULL);
  gst_bin_add_many (GST_BIN (self->pipeline), queue, convert, self->video_sink, NULL);
  gst_element_link_many (queue, convert, self->video_sink, NULL);
  gst_element_sync_state_with_parent (self->video_sink);
  gst_element_sync_state_with_parent (convert);
  gst_element_sync_state_with_parent (queue);
  sink_pad = gst_element_get_static_pad (queue, "sink");
  if (gst_pad_link (pad, sink_pad) != GST_PAD_LINK_OK) {
    fail (self, "Could not show the remote video");
    return;
  }
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_received_video, self, NULL);
  self->video_receive_linked = TRUE;
}

static void
on_decoded_pad_main (NatterCallPipeline *self, gpointer data)
{
  BlockedPad *blocked = data;
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (blocked->pad);
  const char *name;

  if (caps == NULL)
    caps = gst_pad_query_caps (blocked->pad, NULL);
  name = gst_structure_get_name (gst_caps_get_structure (caps, 0));

  if (g_str_has_prefix (name, "audio/"))
    link_decoded_audio (self, blocked->pad);
  else if (g_str_has_prefix (name, "video/"))
    link_decoded_video (self, blocked->pad);
}

static void
on_decodebin_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  NatterCallPipeline *self = user_data;

  block_and_invoke (self, pad, on_decoded_pad_main);
}

static void
set_if_present (GstElement *element, const char *property, gboolean value)
{
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (element), property) != NULL)
    g_object_set (element, property, value, NULL);
}

/* The call pipeline is live: a sink that waits to preroll keeps it in an
 * asynchronous state until the first remote buffer, and until then every
 * state change webrtcbin makes as it adds its pads and elements walks the
 * whole pipeline again (thousands of PLAYING => PLAYING passes during call
 * setup). A sink wrapped in a bin (NATTER_AUDIO_SINK, autoaudiosink's
 * child) has to be reached where it is: here for the ones present, and
 * through deep-element-added for those created later. */
static void
make_sink_not_async (GstElement *element)
{
  if (GST_IS_BASE_SINK (element)) {
    gst_base_sink_set_async_enabled (GST_BASE_SINK (element), FALSE);
    return;
  }

  if (GST_IS_BIN (element)) {
    g_autoptr (GstIterator) iterator = gst_bin_iterate_recurse (GST_BIN (element));
    g_auto (GValue) item = G_VALUE_INIT;

    while (gst_iterator_next (iterator, &item) == GST_ITERATOR_OK) {
      GstElement *child = g_value_get_object (&item);

      if (GST_IS_BASE_SINK (child))
        gst_base_sink_set_async_enabled (GST_BASE_SINK (child), FALSE);
      g_value_reset (&item);
    }
  }
}

/* Runs on a streaming thread while decodebin plugs elements; it only sets
 * properties on the new element before it starts. Packets lost before SRTP
 * is up on both sides would otherwise leave the decoder showing nothing
 * until the next periodic keyframe. */
static void
on_deep_element_added (GstBin *bin, GstBin *sub_bin, GstElement *element, gpointer user_data)
{
  GstElementFactory *factory = gst_element_get_factory (element);
  const char *name;

  if (factory == NULL)
    return;
  name = gst_plugin_feature_get_name (GST_PLUGIN_FEATURE (factory));
  if (GST_IS_BASE_SINK (element))
    make_sink_not_async (element);
  if (g_str_equal (name, "rtpvp8depay") || g_str_equal (name, "rtph264depay")) {
    set_if_present (element, "request-keyframe", TRUE);
    set_if_present (element, "wait-for-keyframe", TRUE);
  } else if (GST_IS_VIDEO_DECODER (element)) {
    set_if_present (element, "automatic-request-sync-points", TRUE);
    set_if_present (element, "discard-corrupted-frames", TRUE);
  } else if (g_str_equal (name, "rtpsession")) {
    /* Receiver reports every second rather than every five: the round
     * trip they carry sizes the jitter buffers, and their loss Opus's FEC,
     * and both are wanted in the first seconds of a call. */
    g_object_set (element, "rtcp-min-interval", (guint64) GST_SECOND, NULL);
  }
}

/* The depayloader and decoder for the codecs we negotiate ourselves, built
 * directly: decodebin would search the registry for them and hand its pad
 * over through one more trip to the main context, which costs the first
 * frame tens of milliseconds. Anything else goes through decodebin. */
static gboolean
link_known_codec (NatterCallPipeline *self, GstPad *pad)
{
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  g_autoptr (GstPad) sink_pad = NULL;
  g_autoptr (GstPad) decoded_pad = NULL;
  GstStructure *structure;
  const char *media, *encoding;
  GstElement *depay, *decoder;
  gboolean video;

  if (caps == NULL || gst_caps_is_empty (caps))
    return FALSE;
  structure = gst_caps_get_structure (caps, 0);
  media = gst_structure_get_string (structure, "media");
  encoding = gst_structure_get_string (structure, "encoding-name");
  if (media == NULL || encoding == NULL)
    return FALSE;

  if (g_str_equal (media, "audio") && g_ascii_strcasecmp (encoding, "OPUS") == 0 &&
      have_element ("rtpopusdepay") && have_element ("opusdec")) {
    if (self->audio_receive_linked)
      return FALSE;
    video = FALSE;
    depay = make_element ("rtpopusdepay", NULL);
    decoder = make_element ("opusdec", NULL);
    /* Conceal a lost packet from the next one's redundancy, not silence. */
    g_object_set (decoder, "plc", TRUE, "use-inband-fec", TRUE, NULL);
  } else if (g_str_equal (media, "video") && g_ascii_strcasecmp (encoding, "VP8") == 0 &&
             have_element ("rtpvp8depay") && have_element ("vp8dec")) {
    if (self->video_receive_linked)
      return FALSE;
    video = TRUE;
    depay = make_element ("rtpvp8depay", NULL);
    decoder = make_element ("vp8dec", NULL);
    g_object_set (depay, "request-keyframe", TRUE, "wait-for-keyframe", TRUE, NULL);
    g_object_set (decoder, "automatic-request-sync-points", TRUE, "discard-corrupted-frames", TRUE,
                  NULL);
  } else {
    return FALSE;
  }

  gst_bin_add_many (GST_BIN (self->pipeline), depay, decoder, NULL);
  if (!gst_element_link (depay, decoder)) {
    gst_bin_remove_many (GST_BIN (self->pipeline), depay, decoder, NULL);
    return FALSE;
  }
  decoded_pad = gst_element_get_static_pad (decoder, "src");
  if (video)
    link_decoded_video (self, decoded_pad);
  else
    link_decoded_audio (self, decoded_pad);
  gst_element_sync_state_with_parent (decoder);
  gst_element_sync_state_with_parent (depay);

  sink_pad = gst_element_get_static_pad (depay, "sink");
  if (gst_pad_link (pad, sink_pad) != GST_PAD_LINK_OK)
    fail (self, "Could not decode the remote media");
  return TRUE;
}

static void
on_webrtc_pad_main (NatterCallPipeline *self, gpointer data)
{
  BlockedPad *blocked = data;
  g_autoptr (GstPad) sink_pad = NULL;
  GstElement *decodebin;

  if (GST_PAD_DIRECTION (blocked->pad) != GST_PAD_SRC)
    return;

  /* RTP out of the jitter buffer, before decoding: the media watch counts
   * packets, not the decoder's loss concealment. */
  gst_pad_add_probe (blocked->pad, GST_PAD_PROBE_TYPE_BUFFER, count_rtp, self, NULL);
  if (link_known_codec (self, blocked->pad))
    return;

  decodebin = make_element ("decodebin", NULL);
  g_signal_connect_object (decodebin, "pad-added", G_CALLBACK (on_decodebin_pad_added), self, 0);
  gst_bin_add (GST_BIN (self->pipeline), decodebin);
  gst_element_sync_state_with_parent (decodebin);
  sink_pad = gst_element_get_static_pad (decodebin, "sink");
  if (gst_pad_link (blocked->pad, sink_pad) != GST_PAD_LINK_OK)
    fail (self, "Could not decode the remote media");
}

static void
on_webrtc_pad_added (GstElement *webrtcbin, GstPad *pad, gpointer user_data)
{
  NatterCallPipeline *self = user_data;

  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
    return;
  block_and_invoke (self, pad, on_webrtc_pad_main);
}

/* The audio output exists from the start: webrtcdsp looks its echo probe up
 * by name when it starts, before any remote audio arrives. */
static gboolean
build_audio_receive_chain (NatterCallPipeline *self, GError **error)
{
  g_autoptr (GstElement) sink = NULL;
  GstElement *convert, *resample;

  sink = make_endpoint ("NATTER_AUDIO_SINK", self->audio_sink_device, "autoaudiosink", error);
  if (sink == NULL)
    return FALSE;
  gst_object_ref_sink (sink);
  make_sink_not_async (sink);

  convert = make_element ("audioconvert", NULL);
  resample = make_element ("audioresample", NULL);
  gst_bin_add_many (GST_BIN (self->pipeline), convert, resample, sink, NULL);
  self->audio_sink = sink;

  if (have_element ("webrtcdsp") && have_element ("webrtcechoprobe")) {
    static gint serial;
    g_autofree char *name = g_strdup_printf ("natter-echo-probe-%d", g_atomic_int_add (&serial, 1));

    self->echo_probe = make_element ("webrtcechoprobe", name);
    gst_bin_add (GST_BIN (self->pipeline), self->echo_probe);
    gst_element_link_many (self->echo_probe, convert, resample, sink, NULL);
    self->audio_receive_head = self->echo_probe;
  } else {
    gst_element_link_many (convert, resample, sink, NULL);
    self->audio_receive_head = convert;
  }
  return TRUE;
}

/* Signalling. */

typedef struct {
  char *type;
  char *sdp;
} Description;

static void
description_free (gpointer data)
{
  Description *description = data;

  g_free (description->type);
  g_free (description->sdp);
  g_free (description);
}

static void
flush_pending_candidates (NatterCallPipeline *self)
{
  for (guint i = 0; i < self->pending_candidates->len; i++) {
    PendingCandidate *pending = g_ptr_array_index (self->pending_candidates, i);

    g_signal_emit_by_name (self->webrtcbin, "add-ice-candidate", pending->mline,
                           pending->candidate);
  }
  g_ptr_array_set_size (self->pending_candidates, 0);
}

static void
on_local_description_set_main (NatterCallPipeline *self, gpointer data)
{
  Description *description = data;

  if (self->state == NATTER_CALL_PIPELINE_STATE_NEGOTIATING && !self->is_offerer)
    set_state (self, NATTER_CALL_PIPELINE_STATE_CONNECTING);
  g_signal_emit (self, signals[SIGNAL_LOCAL_DESCRIPTION], 0, description->type, description->sdp);
}

/* The answerer is ICE-controlled: it sees the nominated pair before the
 * caller does. As DTLS client (webrtcbin's default "active") it would send
 * its ClientHello while the caller's DTLS is still waiting for ICE, lose it,
 * and retransmit a second later. Answering "passive" makes the caller the
 * DTLS client, and it only starts once both ends have a pair. */
static void
make_answer_passive (GstWebRTCSessionDescription *description)
{
  g_autofree char *text = gst_sdp_message_as_text (description->sdp);
  g_autoptr (GString) munged = g_string_new (text);
  GstSDPMessage *message = NULL;

  if (g_string_replace (munged, "a=setup:active", "a=setup:passive", 0) == 0)
    return;
  if (gst_sdp_message_new_from_text (munged->str, &message) != GST_SDP_OK)
    return;
  gst_sdp_message_free (description->sdp);
  description->sdp = message;
}

static void watch_dtls (NatterCallPipeline *self);

/* Upstream from the encoder's source pad, as a receiver's PLI would come:
 * that event is not serialized, so the main thread never waits for the
 * stream lock of an encoder whose push is held up downstream (webrtcbin
 * holds RTP until DTLS is up; a serialized event sent from here used to
 * stall the main context for 200-350 ms right when the call connected). */
static void
request_keyframe (NatterCallPipeline *self)
{
  g_autoptr (GstPad) pad = NULL;

  if (self->video_encoder == NULL)
    return;
  pad = gst_element_get_static_pad (self->video_encoder, "src");
  gst_pad_send_event (pad,
                      gst_video_event_new_upstream_force_key_unit (GST_CLOCK_TIME_NONE, TRUE, 0));
}

static void
on_description_created_main (NatterCallPipeline *self, gpointer data)
{
  GstPromise *promise = data;
  const GstStructure *reply = gst_promise_get_reply (promise);
  GstWebRTCSessionDescription *description = NULL;
  g_autoptr (GError) error = NULL;
  Description *local;

  if (reply == NULL) {
    fail (self, "webrtcbin gave no description");
    return;
  }
  gst_structure_get (reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &description, NULL);
  if (description == NULL)
    gst_structure_get (reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &description, NULL);
  if (description == NULL) {
    gst_structure_get (reply, "error", G_TYPE_ERROR, &error, NULL);
    fail (self, error != NULL ? error->message : "Could not create a session description");
    return;
  }

  if (description->type == GST_WEBRTC_SDP_TYPE_ANSWER)
    make_answer_passive (description);
  g_signal_emit_by_name (self->webrtcbin, "set-local-description", description, NULL);
  set_mark (self, NATTER_CALL_PIPELINE_MARK_LOCAL_DESCRIPTION);
  watch_dtls (self);

  local = g_new0 (Description, 1);
  local->type = g_strdup (gst_webrtc_sdp_type_to_string (description->type));
  local->sdp = gst_sdp_message_as_text (description->sdp);
  gst_webrtc_session_description_free (description);
  on_local_description_set_main (self, local);
  description_free (local);
}

static void
on_description_created (GstPromise *promise, gpointer user_data)
{
  NatterCallPipeline *self = user_data;

  invoke_on_main (self, on_description_created_main, promise, (GDestroyNotify) gst_promise_unref);
}

static void
create_description (NatterCallPipeline *self, const char *action)
{
  /* The promise holds a reference until webrtcbin answers. */
  GstPromise *promise =
    gst_promise_new_with_change_func (on_description_created, g_object_ref (self), g_object_unref);

  g_signal_emit_by_name (self->webrtcbin, action, NULL, promise);
}

static void
on_negotiation_needed_main (NatterCallPipeline *self, gpointer data)
{
  if (!self->is_offerer || !self->offer_requested)
    return;
  self->offer_requested = FALSE;
  create_description (self, "create-offer");
}

static void
on_negotiation_needed (GstElement *webrtcbin, gpointer user_data)
{
  invoke_on_main (user_data, on_negotiation_needed_main, NULL, NULL);
}

static void
on_remote_description_set_main (NatterCallPipeline *self, gpointer data)
{
  GstPromise *promise = data;
  const GstStructure *reply = gst_promise_get_reply (promise);
  g_autoptr (GError) error = NULL;

  if (reply != NULL && gst_structure_get (reply, "error", G_TYPE_ERROR, &error, NULL)) {
    fail (self, error->message);
    return;
  }

  self->remote_description_set = TRUE;
  set_mark (self, NATTER_CALL_PIPELINE_MARK_REMOTE_DESCRIPTION);
  watch_dtls (self);
  flush_pending_candidates (self);

  if (self->is_offerer)
    set_state (self, NATTER_CALL_PIPELINE_STATE_CONNECTING);
  else
    create_description (self, "create-answer");
}

static void
on_remote_description_set (GstPromise *promise, gpointer user_data)
{
  invoke_on_main (user_data, on_remote_description_set_main, promise,
                  (GDestroyNotify) gst_promise_unref);
}

typedef struct {
  guint mline;
  char *candidate;
} LocalCandidate;

static void
local_candidate_free (gpointer data)
{
  LocalCandidate *local = data;

  g_free (local->candidate);
  g_free (local);
}

static void
on_ice_candidate_main (NatterCallPipeline *self, gpointer data)
{
  LocalCandidate *local = data;

  g_signal_emit (self, signals[SIGNAL_LOCAL_CANDIDATE], 0, local->mline, local->candidate);
}

static void
on_ice_candidate (GstElement *webrtcbin, guint mline, const char *candidate, gpointer user_data)
{
  LocalCandidate *local = g_new0 (LocalCandidate, 1);

  set_mark (user_data, NATTER_CALL_PIPELINE_MARK_FIRST_LOCAL_CANDIDATE);
  local->mline = mline;
  local->candidate = g_strdup (candidate);
  invoke_on_main (user_data, on_ice_candidate_main, local, local_candidate_free);
}

/* ICE in GStreamer 1.22 keeps a pair "connected" when the peer vanishes:
 * libnice's keepalives expect no answer. Audio never stops while a call
 * runs (a muted microphone still sends encoded silence), so a connected
 * pipeline that receives no RTP at all for media_timeout_ms has lost its
 * path; it reports disconnected, with the cause, and connected again when
 * packets come back. */
static gboolean
check_media_flow (gpointer user_data)
{
  /* A state change can make the call drop this pipeline (an ICE restart
   * builds a new one): hold it until the end. */
  g_autoptr (NatterCallPipeline) self = g_object_ref (user_data);
  guint received = counter_get (&self->rtp_received);
  gint64 now = g_get_monotonic_time ();

  if (received != self->last_rtp_received) {
    self->last_rtp_received = received;
    self->last_rtp_at = now;
    if (self->media_lost) {
      self->media_lost = FALSE;
      g_clear_pointer (&self->error_message, g_free);
      if (self->state == NATTER_CALL_PIPELINE_STATE_DISCONNECTED)
        set_state (self, NATTER_CALL_PIPELINE_STATE_CONNECTED);
    }
  } else if (!self->media_lost && self->state == NATTER_CALL_PIPELINE_STATE_CONNECTED &&
             now - self->last_rtp_at >= (gint64) self->media_timeout_ms * 1000) {
    self->media_lost = TRUE;
    g_free (self->error_message);
    self->error_message =
      g_strdup_printf ("No media from the peer for %.1f s", self->media_timeout_ms / 1000.0);
    g_message ("Call media: %s", self->error_message);
    set_state (self, NATTER_CALL_PIPELINE_STATE_DISCONNECTED);
  }
  /* The round trip and the peer's loss reports, for the adaptation (see
   * on_stats_main()), as soon as RTCP has them. */
  if (self->congestion_control && self->state == NATTER_CALL_PIPELINE_STATE_CONNECTED)
    natter_call_pipeline_update_stats (self);
  return G_SOURCE_CONTINUE;
}

static void
start_media_watch (NatterCallPipeline *self)
{
  GSource *source;

  if (self->media_watch_id != 0 || self->media_timeout_ms == 0)
    return;
  self->last_rtp_received = counter_get (&self->rtp_received);
  self->last_rtp_at = g_get_monotonic_time ();
  source = g_timeout_source_new (MAX (self->media_timeout_ms / 5, 50));
  g_source_set_callback (source, check_media_flow, self, NULL);
  self->media_watch_id = g_source_attach (source, self->context);
  g_source_unref (source);
}

static void
on_connection_state_main (NatterCallPipeline *self, gpointer data)
{
  GstWebRTCPeerConnectionState state = GPOINTER_TO_INT (data);

  switch (state) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
      /* webrtcbin holds the first RTP packet until SRTP is up, so the
       * encoder's first frame, a keyframe, waits there and starts the peer's
       * decoder. Only when more went out (the path came back after a loss)
       * does the peer need a fresh keyframe: asking for one on every connect
       * made the encoder spend a second 720p keyframe exactly while both
       * sides start decoding. A peer that still misses it asks with a PLI. */
      if (self->state != NATTER_CALL_PIPELINE_STATE_CONNECTED &&
          counter_get (&self->video_frames_sent) > 1)
        request_keyframe (self);
      start_media_watch (self);
      if (!self->media_lost)
        set_state (self, NATTER_CALL_PIPELINE_STATE_CONNECTED);
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
      if (self->state == NATTER_CALL_PIPELINE_STATE_CONNECTED)
        set_state (self, NATTER_CALL_PIPELINE_STATE_DISCONNECTED);
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
      fail (self, "ICE or DTLS failed: no usable network path to the peer");
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_NEW:
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING:
    case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
    default:
      break;
  }
}

static void
on_connection_state_notify (GObject *webrtcbin, GParamSpec *pspec, gpointer user_data)
{
  GstWebRTCPeerConnectionState state;

  g_object_get (webrtcbin, "connection-state", &state, NULL);
  invoke_on_main (user_data, on_connection_state_main, GINT_TO_POINTER (state), NULL);
}

static void
on_ice_connection_state_notify (GObject *webrtcbin, GParamSpec *pspec, gpointer user_data)
{
  GstWebRTCICEConnectionState state;

  g_object_get (webrtcbin, "ice-connection-state", &state, NULL);
  if (state == GST_WEBRTC_ICE_CONNECTION_STATE_CONNECTED ||
      state == GST_WEBRTC_ICE_CONNECTION_STATE_COMPLETED)
    set_mark (user_data, NATTER_CALL_PIPELINE_MARK_ICE_CONNECTED);
}

static void
on_dtls_state_notify (GObject *transport, GParamSpec *pspec, gpointer user_data)
{
  GstWebRTCDTLSTransportState state;

  g_object_get (transport, "state", &state, NULL);
  if (state == GST_WEBRTC_DTLS_TRANSPORT_STATE_CONNECTED)
    set_mark (user_data, NATTER_CALL_PIPELINE_MARK_DTLS_CONNECTED);
}

/* The DTLS transports exist once both descriptions are known; with
 * max-bundle the first transceiver's is the only one in use. */
static void
watch_dtls (NatterCallPipeline *self)
{
  g_autoptr (GArray) transceivers = NULL;
  g_autoptr (GstWebRTCRTPReceiver) receiver = NULL;
  g_autoptr (GstWebRTCDTLSTransport) transport = NULL;

  if (self->dtls_watched)
    return;
  g_signal_emit_by_name (self->webrtcbin, "get-transceivers", &transceivers);
  if (transceivers == NULL || transceivers->len == 0)
    return;
  g_object_get (g_array_index (transceivers, GstWebRTCRTPTransceiver *, 0), "receiver", &receiver,
                NULL);
  if (receiver != NULL)
    g_object_get (receiver, "transport", &transport, NULL);
  if (transport == NULL)
    return;
  self->dtls_watched = TRUE;
  self->dtls_transport = G_OBJECT (g_object_ref (transport));
  g_signal_connect_object (transport, "notify::state", G_CALLBACK (on_dtls_state_notify), self, 0);
  on_dtls_state_notify (G_OBJECT (transport), NULL, self);
}

static void
on_gathering_state_main (NatterCallPipeline *self, gpointer data)
{
  /* End of candidates, as a NULL candidate. */
  g_signal_emit (self, signals[SIGNAL_LOCAL_CANDIDATE], 0, 0, NULL);
}

static void
on_gathering_state_notify (GObject *webrtcbin, GParamSpec *pspec, gpointer user_data)
{
  GstWebRTCICEGatheringState state;

  g_object_get (webrtcbin, "ice-gathering-state", &state, NULL);
  if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
    invoke_on_main (user_data, on_gathering_state_main, NULL, NULL);
}

static void
on_new_jitterbuffer (
  GstElement *rtpbin, GstElement *jitterbuffer, guint session, guint ssrc, gpointer user_data)
{
  NatterCallPipeline *self = user_data;

  /* A jitter buffer is made for each SSRC when its first packet is out of
   * SRTP. Plain property sets, safe from any thread. */
  set_mark (self, NATTER_CALL_PIPELINE_MARK_FIRST_RTP);
  g_object_set (jitterbuffer, "do-retransmission", TRUE, NULL);
  /* Its latency follows the round trip from here on. */
  natter_call_adaptation_add_jitterbuffer (self->adaptation, jitterbuffer);
  /* Without it the first packet waits the whole latency for earlier ones
   * that never come; two in sequence show the stream has started. */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (jitterbuffer), "faststart-min-packets"))
    g_object_set (jitterbuffer, "faststart-min-packets", 2u, NULL);
}

static gboolean
on_bus_message (GstBus *bus, GstMessage *message, gpointer user_data)
{
  NatterCallPipeline *self = user_data;

  switch (GST_MESSAGE_TYPE (message)) {
    case GST_MESSAGE_ERROR: {
      g_autoptr (GError) error = NULL;
      g_autofree char *debug = NULL;
      g_autofree char *text = NULL;

      gst_message_parse_error (message, &error, &debug);
      g_debug ("%s: %s", GST_OBJECT_NAME (GST_MESSAGE_SRC (message)), debug);
      text =
        g_strdup_printf ("%s (%s)", error->message, GST_OBJECT_NAME (GST_MESSAGE_SRC (message)));
      fail (self, text);
      break;
    }
    case GST_MESSAGE_WARNING: {
      g_autoptr (GError) error = NULL;

      gst_message_parse_warning (message, &error, NULL);
      g_debug ("GStreamer warning from %s: %s", GST_OBJECT_NAME (GST_MESSAGE_SRC (message)),
               error->message);
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

static void
apply_ice_servers (NatterCallPipeline *self)
{
  gboolean have_stun = FALSE;

  if (self->ice_servers == NULL)
    return;

  for (guint i = 0; i < self->ice_servers->len; i++) {
    NatterIceServer *server = g_ptr_array_index (self->ice_servers, i);

    for (guint u = 0; server->urls != NULL && server->urls[u] != NULL; u++) {
      const char *url = server->urls[u];

      if (g_str_has_prefix (url, "stun:") && !have_stun) {
        g_autofree char *uri = g_strdup_printf ("stun://%s", url + strlen ("stun:"));

        g_object_set (self->webrtcbin, "stun-server", uri, NULL);
        have_stun = TRUE;
      } else if ((g_str_has_prefix (url, "turn:") || g_str_has_prefix (url, "turns:")) &&
                 server->username != NULL && server->credential != NULL) {
        gboolean secure = g_str_has_prefix (url, "turns:");
        const char *rest = url + (secure ? strlen ("turns:") : strlen ("turn:"));
        g_autofree char *user = g_uri_escape_string (server->username, NULL, FALSE);
        g_autofree char *password = g_uri_escape_string (server->credential, NULL, FALSE);
        g_autofree char *uri =
          g_strdup_printf ("%s://%s:%s@%s", secure ? "turns" : "turn", user, password, rest);
        gboolean added = FALSE;

        g_signal_emit_by_name (self->webrtcbin, "add-turn-server", uri, &added);
        if (!added)
          g_debug ("webrtcbin refused TURN server %s", url);
      }
    }
  }
}

/* libnice's defaults cost a call on loopback or a LAN about 100 ms of its
 * setup: one connectivity check every 20 ms, and a first retransmission
 * after 500 ms when a check reaches the peer before it has our
 * credentials. 5 ms is RFC 8445's smallest pacing (Ta). (Nomination stays
 * regular: webrtcbin creates the agent, and the mode is construct-only.) */
static void
tune_ice_agent (GObject *nice_agent)
{
  GObjectClass *klass = G_OBJECT_GET_CLASS (nice_agent);

  if (g_object_class_find_property (klass, "stun-pacing-timer") != NULL)
    g_object_set (nice_agent, "stun-pacing-timer", 5u, NULL);
  if (g_object_class_find_property (klass, "stun-initial-timeout") != NULL)
    g_object_set (nice_agent, "stun-initial-timeout", 200u, NULL);
  /* TCP host candidates double the candidates each side trickles and the
   * pairs ICE checks, for a path that only matters where UDP is blocked, and
   * there TURN over TCP or TLS (from the server's list) is the way through.
   * Browsers prefer UDP too. NATTER_ICE_TCP=1 brings them back. */
  if (g_object_class_find_property (klass, "ice-tcp") != NULL &&
      g_strcmp0 (g_getenv ("NATTER_ICE_TCP"), "1") != 0)
    g_object_set (nice_agent, "ice-tcp", FALSE, NULL);
}

static gboolean
build_pipeline (NatterCallPipeline *self, GError **error)
{
  g_autoptr (GstBus) bus = NULL;
  g_autoptr (GstElement) rtpbin = NULL;
  GObject *ice_agent = NULL;

  /* NATTER_CALL_MAX_BITRATE (bit/s, 60000 to 2500000): send no more than
   * this whatever the link allows, as on a metered connection. */
  if (g_getenv ("NATTER_CALL_MAX_BITRATE") != NULL)
    self->max_bitrate =
      (guint) MIN (g_ascii_strtoull (g_getenv ("NATTER_CALL_MAX_BITRATE"), NULL, 10), G_MAXUINT);
  self->adaptation = natter_call_adaptation_new (self->latency_ms, self->max_bitrate);
  self->pipeline = gst_object_ref_sink (gst_pipeline_new ("natter-call"));
  /* A microphone or speaker (pulsesrc, pulsesink) would otherwise be the
   * pipeline's clock, and switching devices during the call would take the
   * clock away with it. The sound elements follow the system clock
   * instead, as they do for any network stream. */
  {
    g_autoptr (GstClock) clock = gst_system_clock_obtain ();

    gst_pipeline_use_clock (GST_PIPELINE (self->pipeline), clock);
  }
  self->webrtcbin = make_element ("webrtcbin", "webrtc");
  if (self->webrtcbin == NULL) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN, "webrtcbin is missing");
    return FALSE;
  }
  gst_util_set_object_arg (G_OBJECT (self->webrtcbin), "bundle-policy", "max-bundle");
  g_object_set (self->webrtcbin, "latency", self->latency_ms, NULL);
  gst_bin_add (GST_BIN (self->pipeline), self->webrtcbin);

  rtpbin = gst_bin_get_by_name (GST_BIN (self->webrtcbin), "rtpbin");
  if (rtpbin != NULL)
    g_signal_connect_object (rtpbin, "new-jitterbuffer", G_CALLBACK (on_new_jitterbuffer), self, 0);

  /* libnice gathers nothing on loopback; give it 127.0.0.1 when that is all
   * there is, so two clients on one offline machine can still talk. */
  g_object_get (self->webrtcbin, "ice-agent", &ice_agent, NULL);
  if (ice_agent != NULL) {
    g_autoptr (GObject) nice_agent = NULL;

    /* UPnP port mapping only slows gathering down; TURN covers what it would. */
    if (g_object_class_find_property (G_OBJECT_GET_CLASS (ice_agent), "agent") != NULL)
      g_object_get (ice_agent, "agent", &nice_agent, NULL);
    if (nice_agent != NULL &&
        g_object_class_find_property (G_OBJECT_GET_CLASS (nice_agent), "upnp") != NULL)
      g_object_set (nice_agent, "upnp", FALSE, NULL);
    if (nice_agent != NULL)
      tune_ice_agent (nice_agent);

    if (only_loopback_available ()) {
      gboolean added = FALSE;

      g_signal_emit_by_name (ice_agent, "add-local-ip-address", "127.0.0.1", &added);
      g_debug ("only loopback available; added 127.0.0.1: %d", added);
    }
    g_object_unref (ice_agent);
  }
  apply_ice_servers (self);

  g_signal_connect_object (self->pipeline, "deep-element-added", G_CALLBACK (on_deep_element_added),
                           self, 0);
  g_signal_connect_object (self->webrtcbin, "on-negotiation-needed",
                           G_CALLBACK (on_negotiation_needed), self, 0);
  g_signal_connect_object (self->webrtcbin, "on-ice-candidate", G_CALLBACK (on_ice_candidate), self,
                           0);
  g_signal_connect_object (self->webrtcbin, "pad-added", G_CALLBACK (on_webrtc_pad_added), self, 0);
  g_signal_connect_object (self->webrtcbin, "notify::connection-state",
                           G_CALLBACK (on_connection_state_notify), self, 0);
  g_signal_connect_object (self->webrtcbin, "notify::ice-connection-state",
                           G_CALLBACK (on_ice_connection_state_notify), self, 0);
  g_signal_connect_object (self->webrtcbin, "notify::ice-gathering-state",
                           G_CALLBACK (on_gathering_state_notify), self, 0);

  bus = gst_pipeline_get_bus (GST_PIPELINE (self->pipeline));
  {
    GSource *source = gst_bus_create_watch (bus);

    g_source_set_callback (source, G_SOURCE_FUNC (on_bus_message), self, NULL);
    self->bus_watch_id = g_source_attach (source, self->context);
    g_source_unref (source);
  }

  return build_audio_receive_chain (self, error);
}

static int
pad_has_transceiver (gconstpointer item, gconstpointer transceiver)
{
  g_autoptr (GstWebRTCRTPTransceiver) linked = NULL;

  g_object_get (g_value_get_object (item), "transceiver", &linked, NULL);
  return linked == transceiver ? 0 : 1;
}

/* Whether the send chain linked to @transceiver carries audio. webrtcbin
 * learns a transceiver's kind only once caps flow, after the offer is
 * made, so the kind comes from the send chain's caps. */
static gboolean
transceiver_sends_audio (NatterCallPipeline *self, GstWebRTCRTPTransceiver *transceiver)
{
  g_autoptr (GstIterator) pads = gst_element_iterate_sink_pads (self->webrtcbin);
  g_auto (GValue) item = G_VALUE_INIT;
  g_autoptr (GstCaps) caps = NULL;
  const char *media;

  if (!gst_iterator_find_custom (pads, pad_has_transceiver, &item, transceiver))
    return FALSE;
  caps = gst_pad_peer_query_caps (g_value_get_object (&item), NULL);
  if (caps == NULL || gst_caps_get_size (caps) == 0)
    return FALSE;
  media = gst_structure_get_string (gst_caps_get_structure (caps, 0), "media");

  return g_strcmp0 (media, "audio") == 0;
}

/* NACK (and so RTX) for video only: Chromium refuses an offer whose audio
 * m-line carries a second (RTX) SSRC ("Failed to add remote stream ssrc"),
 * and Opus has in-band FEC for audio loss. */
static void
set_transceivers_nack (NatterCallPipeline *self)
{
  g_autoptr (GArray) transceivers = NULL;

  g_signal_emit_by_name (self->webrtcbin, "get-transceivers", &transceivers);
  for (guint i = 0; transceivers != NULL && i < transceivers->len; i++) {
    GstWebRTCRTPTransceiver *transceiver =
      g_array_index (transceivers, GstWebRTCRTPTransceiver *, i);

    g_object_set (transceiver, "do-nack", !transceiver_sends_audio (self, transceiver), NULL);
  }
}

/* ULPFEC in RED for video, answered when the peer offers it (browsers
 * do). It costs nothing until loss is seen; then the share of FEC packets
 * follows the loss (see update_adaptation_properties()). We offer it only
 * with NATTER_CALL_FEC=1: between two Natter clients on an emulated
 * 300 kbit/s link with 1 % loss, video fell from 6-10 fps to 1-7 fps with
 * RED negotiated, though no FEC packet was sent; on 50 ms / 1 % loss it
 * gained 1-3 fps. NATTER_CALL_FEC=0 does not answer it either. */
static void
set_transceivers_fec (NatterCallPipeline *self, gboolean allowed)
{
  g_autoptr (GArray) transceivers = NULL;

  if (!allowed || !self->congestion_control || g_strcmp0 (g_getenv ("NATTER_CALL_FEC"), "0") == 0 ||
      !have_element ("rtpulpfecenc") || !have_element ("rtpredenc"))
    return;
  g_signal_emit_by_name (self->webrtcbin, "get-transceivers", &transceivers);
  for (guint i = 0; transceivers != NULL && i < transceivers->len; i++) {
    GstWebRTCRTPTransceiver *transceiver =
      g_array_index (transceivers, GstWebRTCRTPTransceiver *, i);

    if (transceiver_sends_audio (self, transceiver))
      continue;
    g_object_set (transceiver, "fec-type", GST_WEBRTC_FEC_TYPE_ULP_RED, "fec-percentage", 0u, NULL);
    g_set_object (&self->video_transceiver, transceiver);
    break;
  }
}

/* Whether @offer's video carries both RED and ULPFEC. */
static gboolean
offer_has_fec (GstSDPMessage *offer)
{
  for (guint i = 0; i < gst_sdp_message_medias_len (offer); i++) {
    const GstSDPMedia *media = gst_sdp_message_get_media (offer, i);
    gboolean red = FALSE, ulpfec = FALSE;

    if (g_strcmp0 (gst_sdp_media_get_media (media), "video") != 0)
      continue;
    for (guint a = 0; a < gst_sdp_media_attributes_len (media); a++) {
      const GstSDPAttribute *attribute = gst_sdp_media_get_attribute (media, a);
      const char *space;

      if (g_strcmp0 (attribute->key, "rtpmap") != 0 || attribute->value == NULL)
        continue;
      space = strchr (attribute->value, ' ');
      if (space == NULL)
        continue;
      if (g_ascii_strncasecmp (space + 1, "red/", 4) == 0)
        red = TRUE;
      else if (g_ascii_strncasecmp (space + 1, "ulpfec/", 7) == 0)
        ulpfec = TRUE;
    }
    return red && ulpfec;
  }
  return FALSE;
}

static gboolean
start_playing (NatterCallPipeline *self, GError **error)
{
  set_mark (self, NATTER_CALL_PIPELINE_MARK_STARTED);
  if (gst_element_set_state (self->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE,
                 "Could not start the call pipeline");
    return FALSE;
  }
  return TRUE;
}

/* The payload type of @encoding in m-line @media, or -1. */
static int
find_payload (const GstSDPMedia *media, const char *encoding, gboolean need_packetization_mode_1)
{
  for (guint i = 0; i < gst_sdp_media_formats_len (media); i++) {
    const char *format = gst_sdp_media_get_format (media, i);
    int pt = atoi (format);
    g_autoptr (GstCaps) caps = gst_sdp_media_get_caps_from_media (media, pt);
    GstStructure *structure;
    const char *name;

    if (caps == NULL)
      continue;
    structure = gst_caps_get_structure (caps, 0);
    name = gst_structure_get_string (structure, "encoding-name");
    if (name == NULL || g_ascii_strcasecmp (name, encoding) != 0)
      continue;
    if (need_packetization_mode_1) {
      const char *mode = gst_structure_get_string (structure, "packetization-mode");
      const char *profile = gst_structure_get_string (structure, "profile-level-id");

      if (g_strcmp0 (mode, "1") != 0)
        continue;
      /* openh264 makes constrained baseline. */
      if (profile != NULL && !g_str_has_prefix (profile, "42"))
        continue;
    }
    return pt;
  }
  return -1;
}

static void
natter_call_pipeline_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterCallPipeline *self = NATTER_CALL_PIPELINE (object);

  switch (prop_id) {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_WITH_VIDEO:
      g_value_set_boolean (value, self->with_video);
      break;
    case PROP_VIDEO_SINK:
      g_value_set_object (value, self->video_sink);
      break;
    case PROP_LOCAL_VIDEO_SINK:
      g_value_set_object (value, self->local_video_sink);
      break;
    case PROP_LATENCY:
      g_value_set_uint (value, self->latency_ms);
      break;
    case PROP_MUTED:
      g_value_set_boolean (value, self->muted);
      break;
    case PROP_CAMERA_ENABLED:
      g_value_set_boolean (value, self->camera_enabled);
      break;
    case PROP_STATS:
      g_value_set_boxed (value, self->stats);
      break;
    case PROP_BANDWIDTH_ESTIMATE:
      g_value_set_uint (value, self->bandwidth_estimate);
      break;
    case PROP_VIDEO_REDUCED:
      g_value_set_boolean (value, self->video_reduced);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_pipeline_set_property (GObject *object,
                                   guint prop_id,
                                   const GValue *value,
                                   GParamSpec *pspec)
{
  NatterCallPipeline *self = NATTER_CALL_PIPELINE (object);

  switch (prop_id) {
    case PROP_WITH_VIDEO:
      self->with_video = g_value_get_boolean (value);
      break;
    case PROP_VIDEO_SINK:
      natter_call_pipeline_set_video_sink (self, g_value_get_object (value));
      break;
    case PROP_LOCAL_VIDEO_SINK:
      natter_call_pipeline_set_local_video_sink (self, g_value_get_object (value));
      break;
    case PROP_LATENCY:
      natter_call_pipeline_set_latency (self, g_value_get_uint (value));
      break;
    case PROP_MUTED:
      natter_call_pipeline_set_muted (self, g_value_get_boolean (value));
      break;
    case PROP_CAMERA_ENABLED:
      natter_call_pipeline_set_camera_enabled (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_pipeline_dispose (GObject *object)
{
  NatterCallPipeline *self = NATTER_CALL_PIPELINE (object);

  natter_call_pipeline_close (self);
  g_clear_object (&self->video_sink);
  g_clear_object (&self->local_video_sink);
  g_clear_object (&self->audio_source_device);
  g_clear_object (&self->video_source_device);
  g_clear_object (&self->audio_sink_device);

  G_OBJECT_CLASS (natter_call_pipeline_parent_class)->dispose (object);
}

static void
natter_call_pipeline_finalize (GObject *object)
{
  NatterCallPipeline *self = NATTER_CALL_PIPELINE (object);

  g_clear_pointer (&self->error_message, g_free);
  g_clear_pointer (&self->ice_servers, g_ptr_array_unref);
  g_clear_pointer (&self->pending_candidates, g_ptr_array_unref);
  g_clear_pointer (&self->stats, natter_call_stats_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_mutex_clear (&self->marks_lock);
  g_clear_pointer (&self->video_received_timing, natter_frame_timing_free);
  g_clear_pointer (&self->video_sent_timing, natter_frame_timing_free);

  G_OBJECT_CLASS (natter_call_pipeline_parent_class)->finalize (object);
}

static void
natter_call_pipeline_class_init (NatterCallPipelineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_call_pipeline_get_property;
  object_class->set_property = natter_call_pipeline_set_property;
  object_class->dispose = natter_call_pipeline_dispose;
  object_class->finalize = natter_call_pipeline_finalize;

  properties[PROP_STATE] = g_param_spec_enum (
    "state", NULL, NULL, NATTER_TYPE_CALL_PIPELINE_STATE, NATTER_CALL_PIPELINE_STATE_NEW,
    G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_WITH_VIDEO] =
    g_param_spec_boolean ("with-video", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallPipeline:video-sink:
   *
   * Where the remote video goes (the app's paintable sink). Set before the
   * remote video arrives; by default a fakesink, counted.
   */
  properties[PROP_VIDEO_SINK] =
    g_param_spec_object ("video-sink", NULL, NULL, GST_TYPE_ELEMENT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallPipeline:local-video-sink:
   *
   * Self view. Set before negotiation starts; %NULL for none.
   */
  properties[PROP_LOCAL_VIDEO_SINK] =
    g_param_spec_object ("local-video-sink", NULL, NULL, GST_TYPE_ELEMENT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_LATENCY] =
    g_param_spec_uint ("latency", NULL, NULL, 0, 10000, DEFAULT_LATENCY_MS,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MUTED] =
    g_param_spec_boolean ("muted", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAMERA_ENABLED] =
    g_param_spec_boolean ("camera-enabled", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATS] =
    g_param_spec_boxed ("stats", NULL, NULL, NATTER_TYPE_CALL_STATS,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallPipeline:bandwidth-estimate:
   *
   * Bits per second the path to the peer is estimated to carry, from the
   * peer's transport-wide congestion control feedback and receiver
   * reports; 0 before the first.
   */
  properties[PROP_BANDWIDTH_ESTIMATE] =
    g_param_spec_uint ("bandwidth-estimate", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallPipeline:video-reduced:
   *
   * Whether the video we send is smaller or slower than the camera gives,
   * for want of bandwidth.
   */
  properties[PROP_VIDEO_REDUCED] =
    g_param_spec_boolean ("video-reduced", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterCallPipeline::local-description:
   * @type: "offer" or "answer"
   * @sdp: the SDP text
   *
   * A local description was applied and must reach the peer.
   */
  signals[SIGNAL_LOCAL_DESCRIPTION] =
    g_signal_new ("local-description", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * NatterCallPipeline::local-candidate:
   * @sdp_mline_index: the m-line
   * @candidate: (nullable): the "candidate:…" line; %NULL at the end of
   *   gathering
   */
  signals[SIGNAL_LOCAL_CANDIDATE] =
    g_signal_new ("local-candidate", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_STRING);
  /**
   * NatterCallPipeline::first-remote-media:
   * @kind: "audio" or "video"
   *
   * The first remote audio buffer or video frame was decoded.
   */
  signals[SIGNAL_FIRST_REMOTE_MEDIA] =
    g_signal_new ("first-remote-media", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
natter_call_pipeline_init (NatterCallPipeline *self)
{
  self->context = g_main_context_ref_thread_default ();
  g_mutex_init (&self->marks_lock);
  self->video_received_timing = natter_frame_timing_new ();
  self->video_sent_timing = natter_frame_timing_new ();
  self->pending_candidates = g_ptr_array_new_with_free_func (pending_candidate_free);
  self->camera_enabled = TRUE;
  self->with_video = TRUE;
  /* 60 ms: the jitter buffer plays packets that arrive in order at once;
   * the latency is how long it waits for a late or retransmitted one, and
   * what the audio sink adds to the mouth-to-ear delay. 60 ms absorbs
   * ordinary Wi-Fi jitter and one NACK retransmission on a LAN or within a
   * city (RTT < 40 ms), and stays far below the 150 ms where talk starts to
   * feel delayed. At 30 ms a retransmission would rarely make it in time, and
   * a lost packet becomes a gap; webrtcbin's 200 ms is made for the open
   * internet. The first packets no longer wait
   * for it (faststart-min-packets, see on_new_jitterbuffer()), so the choice
   * does not cost the setup time. NATTER_CALL_LATENCY_MS overrides it. */
  self->media_timeout_ms = DEFAULT_MEDIA_TIMEOUT_MS;
  if (g_getenv ("NATTER_CALL_MEDIA_TIMEOUT_MS") != NULL)
    self->media_timeout_ms =
      (guint) MIN (g_ascii_strtoull (g_getenv ("NATTER_CALL_MEDIA_TIMEOUT_MS"), NULL, 10), 600000);
  /* NATTER_CALL_CONGESTION_CONTROL=0: a fixed 1.5 Mbit/s and no
   * transport-cc, as before (for comparisons). */
  self->congestion_control = g_strcmp0 (g_getenv ("NATTER_CALL_CONGESTION_CONTROL"), "0") != 0;
  self->latency_ms = DEFAULT_LATENCY_MS;
  if (g_getenv ("NATTER_CALL_LATENCY_MS") != NULL)
    self->latency_ms =
      (guint) MIN (g_ascii_strtoull (g_getenv ("NATTER_CALL_LATENCY_MS"), NULL, 10), 10000);
}

static gpointer
preload_thread (gpointer data)
{
  static const char *const factories[] = {
    "webrtcbin", "dtlsdec",   "nicesrc",      "srtpdec",      "opusenc",       "opusdec",
    "vp8enc",    "vp8dec",    "rtpopuspay",   "rtpopusdepay", "rtpvp8pay",     "rtpvp8depay",
    "webrtcdsp", "decodebin", "videoconvert", "audioconvert", "audioresample",
  };

  for (guint i = 0; i < G_N_ELEMENTS (factories); i++) {
    GstElement *element = gst_element_factory_make (factories[i], NULL);

    if (element != NULL)
      gst_object_unref (gst_object_ref_sink (element));
  }
  return NULL;
}

static GMutex preload_lock;
static GThread *preload_thread_handle;

/**
 * natter_call_pipeline_preload_wait:
 *
 * Waits for natter_call_pipeline_preload() to finish, if it runs: before
 * the first pipeline (the work is the same, no need to do it twice at
 * once), at exit, and before a program leaves through _exit(), so that no
 * plugin is half-way through a dlopen() when the process goes.
 */
void
natter_call_pipeline_preload_wait (void)
{
  GThread *thread;

  g_mutex_lock (&preload_lock);
  thread = g_steal_pointer (&preload_thread_handle);
  g_mutex_unlock (&preload_lock);
  if (thread != NULL)
    g_thread_join (thread);
}

/**
 * natter_call_pipeline_preload:
 *
 * Loads the plugins a call uses and makes the DTLS certificate, once per
 * process, on a worker thread. The first call of a process otherwise pays
 * for both between accept and the first frame: about half a second on a
 * busy machine. Programs that take calls call it as they start (the app,
 * natter-cli's call and answer); the others do not pay for it.
 * It also sets glibc's allocator to keep freed memory for the next call
 * (see below): process-wide, which is why only our own programs call it.
 */
void
natter_call_pipeline_preload (void)
{
  static gsize started = 0;

  if (g_once_init_enter (&started)) {
#ifdef __GLIBC__
    /* Every call allocates about 30 MiB for the VP8 encoder alone at 720p
     * and touches all of it. glibc gave big blocks back to the kernel when
     * a call ended (mmap, and trimming the top of each heap), so the next
     * call's encoder took 7,500 fresh page faults, 65 to 80 ms on the
     * callee between accept and its first frame. Fixed thresholds keep
     * freed blocks for the next call. And each call's new streaming
     * threads took arenas of their own (up to 16 here), each keeping its
     * peak: a callee grew to 380 MiB over 20 calls and 460 MiB over 40;
     * with two arenas it stays near 150 MiB. */
    mallopt (M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt (M_TRIM_THRESHOLD, 256 * 1024 * 1024);
    mallopt (M_ARENA_MAX, 2);
#endif
    gst_init (NULL, NULL);
    g_mutex_lock (&preload_lock);
    preload_thread_handle = g_thread_new ("natter-call-preload", preload_thread, NULL);
    g_mutex_unlock (&preload_lock);
    atexit (natter_call_pipeline_preload_wait);
    g_once_init_leave (&started, 1);
  }
}

/**
 * natter_call_pipeline_new:
 * @with_video: whether to send video (an offer then has a video m-line)
 *
 * Creates the media side of one call. Nothing runs until
 * natter_call_pipeline_start_offer() or
 * natter_call_pipeline_set_remote_description() with an offer.
 *
 * Returns: (transfer full): a new pipeline object
 */
NatterCallPipeline *
natter_call_pipeline_new (gboolean with_video)
{
  gst_init (NULL, NULL);
  natter_call_pipeline_preload_wait ();
  return g_object_new (NATTER_TYPE_CALL_PIPELINE, "with-video", with_video, NULL);
}

NatterCallPipelineState
natter_call_pipeline_get_state (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NATTER_CALL_PIPELINE_STATE_CLOSED);
  return self->state;
}

/**
 * natter_call_pipeline_get_error_message:
 * @self: a #NatterCallPipeline
 *
 * Returns: (nullable): why the pipeline failed
 */
const char *
natter_call_pipeline_get_error_message (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->error_message;
}

gboolean
natter_call_pipeline_get_with_video (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return self->with_video;
}

/**
 * natter_call_pipeline_get_remote_has_video:
 * @self: a #NatterCallPipeline
 *
 * Returns: whether the remote offer had a video m-line (answerer only)
 */
gboolean
natter_call_pipeline_get_remote_has_video (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return self->remote_has_video;
}

/**
 * natter_call_pipeline_set_video_sink:
 * @self: a #NatterCallPipeline
 * @sink: (nullable): the element the remote video goes to
 */
void
natter_call_pipeline_set_video_sink (NatterCallPipeline *self, GstElement *sink)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));
  g_return_if_fail (sink == NULL || GST_IS_ELEMENT (sink));

  if (self->video_receive_linked || self->video_sink == sink)
    return;
  if (sink != NULL)
    gst_object_ref_sink (sink);
  g_clear_object (&self->video_sink);
  self->video_sink = sink;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIDEO_SINK]);
}

/**
 * natter_call_pipeline_get_video_sink:
 * @self: a #NatterCallPipeline
 *
 * Returns: (transfer none) (nullable): the remote video sink
 */
GstElement *
natter_call_pipeline_get_video_sink (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->video_sink;
}

/**
 * natter_call_pipeline_set_local_video_sink:
 * @self: a #NatterCallPipeline
 * @sink: (nullable): the self-view element
 */
void
natter_call_pipeline_set_local_video_sink (NatterCallPipeline *self, GstElement *sink)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));
  g_return_if_fail (sink == NULL || GST_IS_ELEMENT (sink));

  if (self->pipeline != NULL || self->local_video_sink == sink)
    return;
  if (sink != NULL)
    gst_object_ref_sink (sink);
  g_clear_object (&self->local_video_sink);
  self->local_video_sink = sink;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOCAL_VIDEO_SINK]);
}

/**
 * natter_call_pipeline_get_local_video_sink:
 * @self: a #NatterCallPipeline
 *
 * Returns: (transfer none) (nullable): the self-view sink
 */
GstElement *
natter_call_pipeline_get_local_video_sink (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->local_video_sink;
}

/* Live device switching: the new element takes the old one's place in
 * the running pipeline, and the caps towards the encoder stay what the
 * converters and the size filter make them, so nothing is renegotiated. */

static gboolean
overridden (const char *env_name)
{
  const char *description = g_getenv (env_name);

  return description != NULL && *description != '\0';
}

/* The stream goes on: the new source's stream-start would tell the
 * encoder and webrtcbin that a new one began. */
static GstPadProbeReturn
drop_stream_start (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_STREAM_START)
    return GST_PAD_PROBE_DROP;
  return GST_PAD_PROBE_OK;
}

/* Returns whether @current was replaced by @device's element. */
static gboolean
switch_source (NatterCallPipeline *self,
               GstElement **current,
               const char *env_name,
               GstDevice *device,
               const char *fallback)
{
  g_autoptr (GstElement) replacement = NULL;
  g_autoptr (GstElement) old = NULL;
  g_autoptr (GstObject) bin = NULL;
  g_autoptr (GstPad) old_pad = NULL;
  g_autoptr (GstPad) new_pad = NULL;
  g_autoptr (GstPad) peer = NULL;
  g_autoptr (GError) error = NULL;

  /* Before the call is built the choice is simply kept; an environment
   * override is no device to switch to. */
  if (*current == NULL || self->closed || overridden (env_name))
    return FALSE;

  replacement = make_endpoint (env_name, device, fallback, &error);
  if (replacement == NULL) {
    g_message ("Keeping the current device: %s", error != NULL ? error->message : fallback);
    return FALSE;
  }
  gst_object_ref_sink (replacement);
  if (!open_source (replacement, &error)) {
    g_message ("Keeping the current device: the new one did not open (%s)", error->message);
    gst_element_set_state (replacement, GST_STATE_NULL);
    return FALSE;
  }

  old = gst_object_ref (*current);
  bin = gst_object_get_parent (GST_OBJECT (old));
  old_pad = gst_element_get_static_pad (old, "src");
  new_pad = gst_element_get_static_pad (replacement, "src");
  peer = old_pad != NULL ? gst_pad_get_peer (old_pad) : NULL;
  if (bin == NULL || peer == NULL || new_pad == NULL) {
    gst_element_set_state (replacement, GST_STATE_NULL);
    return FALSE;
  }

  /* Stopping the old source first ends its pushes (a source unlinked while
   * pushing would stop with "not-linked", an error for the whole call). */
  gst_element_set_locked_state (old, TRUE);
  gst_element_set_state (old, GST_STATE_NULL);
  gst_pad_unlink (old_pad, peer);
  gst_bin_remove (GST_BIN (bin), old);

  gst_bin_add (GST_BIN (bin), replacement);
  gst_pad_add_probe (new_pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, drop_stream_start, NULL, NULL);
  if (gst_pad_link (new_pad, peer) != GST_PAD_LINK_OK) {
    fail (self, "Could not link the new device");
    return FALSE;
  }
  gst_element_sync_state_with_parent (replacement);
  *current = replacement;
  g_debug ("switched to %s", GST_OBJECT_NAME (replacement));
  return TRUE;
}

typedef struct {
  NatterCallPipeline *self;
  GstElement *replacement;
} SinkSwitch;

static void
sink_switch_free (gpointer data)
{
  SinkSwitch *sink_switch = data;

  g_object_unref (sink_switch->self);
  gst_object_unref (sink_switch->replacement);
  g_free (sink_switch);
}

/* Once no buffer is on its way into the old sink (from any thread): a sink
 * set to NULL under a push would make the push fail as flushing and stop
 * the remote audio for good. */
static GstPadProbeReturn
replace_sink_when_idle (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  SinkSwitch *sink_switch = user_data;
  NatterCallPipeline *self = sink_switch->self;
  g_autoptr (GstPad) old_pad = gst_pad_get_peer (pad);
  g_autoptr (GstPad) new_pad = NULL;
  GstElement *old;

  g_mutex_lock (&self->marks_lock);
  old = self->audio_sink != NULL ? gst_object_ref (self->audio_sink) : NULL;
  g_mutex_unlock (&self->marks_lock);
  if (old == NULL || old_pad == NULL || self->pipeline == NULL)
    goto out;

  gst_pad_unlink (pad, old_pad);
  gst_element_set_locked_state (old, TRUE);
  gst_element_set_state (old, GST_STATE_NULL);
  gst_bin_remove (GST_BIN (self->pipeline), old);

  gst_bin_add (GST_BIN (self->pipeline), sink_switch->replacement);
  new_pad = gst_element_get_static_pad (sink_switch->replacement, "sink");
  if (new_pad != NULL)
    gst_pad_link (pad, new_pad);
  gst_element_sync_state_with_parent (sink_switch->replacement);
  g_mutex_lock (&self->marks_lock);
  self->audio_sink = sink_switch->replacement;
  g_mutex_unlock (&self->marks_lock);
  g_debug ("switched to %s", GST_OBJECT_NAME (sink_switch->replacement));

out:
  g_clear_object (&old);
  return GST_PAD_PROBE_REMOVE;
}

static void
switch_audio_sink (NatterCallPipeline *self, GstDevice *device)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GstPad) sink_pad = NULL;
  g_autoptr (GstPad) feeding = NULL;
  GstElement *replacement;
  SinkSwitch *sink_switch;

  if (self->audio_sink == NULL || self->closed || overridden ("NATTER_AUDIO_SINK"))
    return;
  replacement = make_endpoint ("NATTER_AUDIO_SINK", device, "autoaudiosink", &error);
  if (replacement == NULL) {
    g_message ("Keeping the current speaker: %s", error != NULL ? error->message : "");
    return;
  }
  gst_object_ref_sink (replacement);
  make_sink_not_async (replacement);

  sink_pad = gst_element_get_static_pad (self->audio_sink, "sink");
  feeding = sink_pad != NULL ? gst_pad_get_peer (sink_pad) : NULL;
  if (feeding == NULL) {
    gst_object_unref (replacement);
    return;
  }
  sink_switch = g_new0 (SinkSwitch, 1);
  sink_switch->self = g_object_ref (self);
  sink_switch->replacement = replacement;
  gst_pad_add_probe (feeding, GST_PAD_PROBE_TYPE_IDLE, replace_sink_when_idle, sink_switch,
                     sink_switch_free);
}

/**
 * natter_call_pipeline_set_audio_source_device:
 * @self: a #NatterCallPipeline
 * @device: (nullable): the microphone, or %NULL for the default
 *
 * Takes effect when the pipeline is built.
 */
void
natter_call_pipeline_set_audio_source_device (NatterCallPipeline *self, GstDevice *device)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));
  if (!g_set_object (&self->audio_source_device, device))
    return;
  switch_source (self, &self->audio_source, "NATTER_AUDIO_SRC", device, "autoaudiosrc");
}

/**
 * natter_call_pipeline_set_video_source_device:
 * @self: a #NatterCallPipeline
 * @device: (nullable): the camera, or %NULL for the default
 */
void
natter_call_pipeline_set_video_source_device (NatterCallPipeline *self, GstDevice *device)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));
  if (!g_set_object (&self->video_source_device, device))
    return;
  if (switch_source (self, &self->video_source, "NATTER_VIDEO_SRC", device, "autovideosrc"))
    request_keyframe (self);
}

/**
 * natter_call_pipeline_set_audio_sink_device:
 * @self: a #NatterCallPipeline
 * @device: (nullable): the speaker, or %NULL for the default
 */
void
natter_call_pipeline_set_audio_sink_device (NatterCallPipeline *self, GstDevice *device)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));
  if (!g_set_object (&self->audio_sink_device, device))
    return;
  switch_audio_sink (self, device);
}

void
natter_call_pipeline_set_latency (NatterCallPipeline *self, guint latency_ms)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));

  if (self->latency_ms == latency_ms)
    return;
  self->latency_ms = latency_ms;
  if (self->webrtcbin != NULL)
    g_object_set (self->webrtcbin, "latency", latency_ms, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LATENCY]);
}

guint
natter_call_pipeline_get_latency (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return self->latency_ms;
}

/**
 * natter_call_pipeline_set_ice_servers:
 * @self: a #NatterCallPipeline
 * @ice_servers: (element-type NatterIceServer) (nullable): STUN and TURN
 *   servers, as `GET /api/ice-servers` gives them
 *
 * Call before negotiation starts.
 */
void
natter_call_pipeline_set_ice_servers (NatterCallPipeline *self, GPtrArray *ice_servers)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));

  g_clear_pointer (&self->ice_servers, g_ptr_array_unref);
  if (ice_servers != NULL)
    self->ice_servers = g_ptr_array_ref (ice_servers);
}

/**
 * natter_call_pipeline_start_offer:
 * @self: a #NatterCallPipeline
 * @error: return location for a #GError
 *
 * Builds the pipeline as the caller and starts it; the offer comes through
 * #NatterCallPipeline::local-description.
 *
 * Returns: %TRUE if the pipeline started
 */
gboolean
natter_call_pipeline_start_offer (NatterCallPipeline *self, GError **error)
{
  GstElement *audio, *video;

  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  g_return_val_if_fail (self->pipeline == NULL, FALSE);

  self->is_offerer = TRUE;
  self->offer_requested = TRUE;
  if (self->congestion_control)
    self->twcc_extension_id = TWCC_EXTENSION_ID_DEFAULT;
  if (!build_pipeline (self, error))
    return FALSE;

  audio = build_audio_send_bin (self, OPUS_PAYLOAD_DEFAULT, error);
  if (audio == NULL || !attach_send_bin (self, audio, -1, error))
    return FALSE;

  if (self->with_video) {
    video = build_video_send_bin (self, VIDEO_CODEC_VP8, VP8_PAYLOAD_DEFAULT, error);
    if (video == NULL || !attach_send_bin (self, video, -1, error))
      return FALSE;
  }
  set_transceivers_nack (self);
  set_transceivers_fec (self, g_strcmp0 (g_getenv ("NATTER_CALL_FEC"), "1") == 0);

  set_state (self, NATTER_CALL_PIPELINE_STATE_NEGOTIATING);
  return start_playing (self, error);
}

/* The id the offer gives the transport-wide sequence number extension, or
 * 0. With BUNDLE it is the same in every m-line. */
static guint
find_twcc_extension_id (GstSDPMessage *offer)
{
  for (guint i = 0; i < gst_sdp_message_medias_len (offer); i++) {
    const GstSDPMedia *media = gst_sdp_message_get_media (offer, i);

    for (guint a = 0; a < gst_sdp_media_attributes_len (media); a++) {
      const GstSDPAttribute *attribute = gst_sdp_media_get_attribute (media, a);
      guint64 id;
      char *end = NULL;

      if (g_strcmp0 (attribute->key, "extmap") != 0 || attribute->value == NULL)
        continue;
      /* "ID[/direction] URI" */
      id = g_ascii_strtoull (attribute->value, &end, 10);
      if (end == attribute->value || id < 1 || id > 14)
        continue;
      end = strchr (end, ' ');
      if (end == NULL)
        continue;
      while (*end == ' ')
        end++;
      if (g_str_has_prefix (end, NATTER_TWCC_EXTENSION_URI))
        return (guint) id;
    }
  }
  return 0;
}

static gboolean
build_answerer (NatterCallPipeline *self, GstSDPMessage *offer, GError **error)
{
  if (self->congestion_control)
    self->twcc_extension_id = find_twcc_extension_id (offer);
  if (!build_pipeline (self, error))
    return FALSE;

  for (guint i = 0; i < gst_sdp_message_medias_len (offer); i++) {
    const GstSDPMedia *media = gst_sdp_message_get_media (offer, i);
    const char *kind = gst_sdp_media_get_media (media);
    GstElement *bin = NULL;
    int pt;

    /* A rejected m-line (port 0 without bundle-only) or a recvonly one
     * needs no sender. */
    if ((gst_sdp_media_get_port (media) == 0 &&
         gst_sdp_media_get_attribute_val (media, "bundle-only") == NULL) ||
        gst_sdp_media_get_attribute_val (media, "recvonly") != NULL ||
        gst_sdp_media_get_attribute_val (media, "inactive") != NULL)
      continue;

    if (g_strcmp0 (kind, "audio") == 0) {
      pt = find_payload (media, "OPUS", FALSE);
      if (pt >= 0)
        bin = build_audio_send_bin (self, pt, error);
    } else if (g_strcmp0 (kind, "video") == 0) {
      self->remote_has_video = TRUE;
      if (!self->with_video)
        continue;
      pt = find_payload (media, "VP8", FALSE);
      if (pt >= 0) {
        bin = build_video_send_bin (self, VIDEO_CODEC_VP8, pt, error);
      } else if (have_element ("openh264enc")) {
        pt = find_payload (media, "H264", TRUE);
        if (pt >= 0)
          bin = build_video_send_bin (self, VIDEO_CODEC_H264, pt, error);
      }
    } else {
      continue;
    }

    if (error != NULL && *error != NULL)
      return FALSE;
    if (bin != NULL && !attach_send_bin (self, bin, (int) i, error))
      return FALSE;
  }
  set_transceivers_nack (self);
  set_transceivers_fec (self, offer_has_fec (offer));

  return start_playing (self, error);
}

/**
 * natter_call_pipeline_set_remote_description:
 * @self: a #NatterCallPipeline
 * @type: "offer" or "answer"
 * @sdp: the SDP text from the peer (untrusted)
 * @error: return location for a #GError
 *
 * An offer on a new pipeline makes it the answerer: the send chains follow
 * the offer's m-lines and payload types, and the answer comes through
 * #NatterCallPipeline::local-description. An answer completes the caller's
 * negotiation.
 *
 * Returns: %TRUE if the description was accepted for processing
 */
gboolean
natter_call_pipeline_set_remote_description (NatterCallPipeline *self,
                                             const char *type,
                                             const char *sdp,
                                             GError **error)
{
  g_autoptr (GstSDPMessage) message = NULL;
  GstWebRTCSessionDescription *description;
  GstWebRTCSDPType sdp_type;
  GstPromise *promise;

  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  g_return_val_if_fail (type != NULL && sdp != NULL, FALSE);

  if (g_str_equal (type, "offer")) {
    sdp_type = GST_WEBRTC_SDP_TYPE_OFFER;
  } else if (g_str_equal (type, "answer")) {
    sdp_type = GST_WEBRTC_SDP_TYPE_ANSWER;
  } else {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Unknown description type “%s”", type);
    return FALSE;
  }

  if (gst_sdp_message_new_from_text (sdp, &message) != GST_SDP_OK ||
      gst_sdp_message_medias_len (message) == 0) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                         "The peer sent an unreadable SDP");
    return FALSE;
  }

  if (sdp_type == GST_WEBRTC_SDP_TYPE_OFFER) {
    if (self->pipeline != NULL) {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                           "Renegotiation needs a new pipeline");
      return FALSE;
    }
    self->is_offerer = FALSE;
    if (!build_answerer (self, message, error))
      return FALSE;
    set_state (self, NATTER_CALL_PIPELINE_STATE_NEGOTIATING);
  } else if (!self->is_offerer || self->pipeline == NULL || self->remote_description_set) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Unexpected answer");
    return FALSE;
  }

  description = gst_webrtc_session_description_new (sdp_type, g_steal_pointer (&message));
  promise = gst_promise_new_with_change_func (on_remote_description_set, g_object_ref (self),
                                              g_object_unref);
  g_signal_emit_by_name (self->webrtcbin, "set-remote-description", description, promise);
  gst_webrtc_session_description_free (description);
  return TRUE;
}

/**
 * natter_call_pipeline_add_remote_candidate:
 * @self: a #NatterCallPipeline
 * @sdp_mline_index: the m-line the candidate belongs to
 * @candidate: (nullable): the "candidate:…" line; %NULL or "" for the end of
 *   candidates
 *
 * Candidates that arrive before the remote description are kept until it is
 * applied.
 */
void
natter_call_pipeline_add_remote_candidate (NatterCallPipeline *self,
                                           guint sdp_mline_index,
                                           const char *candidate)
{
  PendingCandidate *pending;

  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));

  /* libnice learns the end of candidates from the checks themselves. */
  if (candidate == NULL || *candidate == '\0' || self->closed)
    return;

  if (self->remote_description_set) {
    g_signal_emit_by_name (self->webrtcbin, "add-ice-candidate", sdp_mline_index, candidate);
    return;
  }

  pending = g_new0 (PendingCandidate, 1);
  pending->mline = sdp_mline_index;
  pending->candidate = g_strdup (candidate);
  g_ptr_array_add (self->pending_candidates, pending);
}

/**
 * natter_call_pipeline_restart_ice:
 * @self: a #NatterCallPipeline
 *
 * webrtcbin 1.22 cannot restart ICE on a running session; callers rebuild
 * the pipeline instead (see NatterCall).
 *
 * Returns: %FALSE: not possible in place
 */
gboolean
natter_call_pipeline_restart_ice (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return FALSE;
}

/**
 * natter_call_pipeline_close:
 * @self: a #NatterCallPipeline
 *
 * Stops and releases the pipeline. Call on the main thread. Idempotent.
 */
void
natter_call_pipeline_close (NatterCallPipeline *self)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));

  if (self->closed)
    return;
  self->closed = TRUE;

  if (self->media_watch_id != 0) {
    GSource *source = g_main_context_find_source_by_id (self->context, self->media_watch_id);

    if (source != NULL)
      g_source_destroy (source);
    self->media_watch_id = 0;
  }

  if (self->bus_watch_id != 0) {
    GSource *source = g_main_context_find_source_by_id (self->context, self->bus_watch_id);

    if (source != NULL)
      g_source_destroy (source);
    self->bus_watch_id = 0;
  }

  /* Our handlers go before the elements do: webrtcbin finalizes some of
   * its objects on its own threads, and a handler left to
   * g_signal_connect_object() would be invalidated from whichever thread
   * drops the last reference. */
  if (self->dtls_transport != NULL) {
    g_signal_handlers_disconnect_by_data (self->dtls_transport, self);
    g_clear_object (&self->dtls_transport);
  }
  if (self->pipeline != NULL) {
    g_autoptr (GstIterator) iterator = gst_bin_iterate_recurse (GST_BIN (self->pipeline));
    g_auto (GValue) item = G_VALUE_INIT;
    GstIteratorResult result;

    g_signal_handlers_disconnect_by_data (self->pipeline, self);
    while ((result = gst_iterator_next (iterator, &item)) != GST_ITERATOR_DONE &&
           result != GST_ITERATOR_ERROR) {
      if (result == GST_ITERATOR_RESYNC) {
        gst_iterator_resync (iterator);
        continue;
      }
      g_signal_handlers_disconnect_by_data (g_value_get_object (&item), self);
      g_value_reset (&item);
    }
    gst_element_set_state (self->pipeline, GST_STATE_NULL);
    g_clear_object (&self->pipeline);
  }
  self->webrtcbin = NULL;
  self->echo_probe = NULL;
  self->audio_receive_head = NULL;
  self->mute_volume = NULL;
  self->video_valve = NULL;
  self->video_encoder = NULL;
  self->audio_source = NULL;
  self->video_source = NULL;
  self->audio_sink = NULL;
  g_clear_object (&self->video_transceiver);
  g_mutex_lock (&self->marks_lock);
  g_clear_pointer (&self->adaptation, natter_call_adaptation_free);
  g_mutex_unlock (&self->marks_lock);
  g_ptr_array_set_size (self->pending_candidates, 0);

  if (self->state != NATTER_CALL_PIPELINE_STATE_FAILED) {
    self->state = NATTER_CALL_PIPELINE_STATE_CLOSED;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  }
}

/**
 * natter_call_pipeline_set_muted:
 * @self: a #NatterCallPipeline
 * @muted: whether to send silence
 */
void
natter_call_pipeline_set_muted (NatterCallPipeline *self, gboolean muted)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));

  muted = !!muted;
  if (self->muted == muted)
    return;
  self->muted = muted;
  if (self->mute_volume != NULL)
    g_object_set (self->mute_volume, "mute", muted, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MUTED]);
}

gboolean
natter_call_pipeline_get_muted (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return self->muted;
}

/**
 * natter_call_pipeline_set_camera_enabled:
 * @self: a #NatterCallPipeline
 * @enabled: whether to send video frames
 */
void
natter_call_pipeline_set_camera_enabled (NatterCallPipeline *self, gboolean enabled)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));

  /* A camera that failed to open stays off for this session. */
  enabled = !!enabled && !self->camera_failed;
  if (self->camera_enabled == enabled)
    return;
  self->camera_enabled = enabled;

  if (self->video_valve != NULL) {
    g_object_set (self->video_valve, "drop", !enabled, NULL);
    /* The peer's decoder lost its references while we were off. */
    if (enabled)
      request_keyframe (self);
  }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAMERA_ENABLED]);
}

gboolean
natter_call_pipeline_get_camera_enabled (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return self->camera_enabled;
}

/**
 * natter_call_pipeline_get_audio_buffers_received:
 * @self: a #NatterCallPipeline
 *
 * Counters are read at any time; they are not notified.
 *
 * Returns: decoded remote audio buffers so far
 */
guint64
natter_call_pipeline_get_audio_buffers_received (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return counter_get (&self->audio_buffers_received);
}

guint64
natter_call_pipeline_get_video_frames_received (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return counter_get (&self->video_frames_received);
}

/**
 * natter_call_pipeline_get_audio_buffers_sent:
 * @self: a #NatterCallPipeline
 *
 * Returns: Opus packets the encoder produced
 */
guint64
natter_call_pipeline_get_audio_buffers_sent (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return counter_get (&self->audio_buffers_sent);
}

/**
 * natter_call_pipeline_get_video_frames_sent:
 * @self: a #NatterCallPipeline
 *
 * Returns: frames the video encoder produced
 */
guint64
natter_call_pipeline_get_video_frames_sent (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return counter_get (&self->video_frames_sent);
}

/**
 * natter_call_pipeline_get_first_audio_time:
 * @self: a #NatterCallPipeline
 *
 * Returns: g_get_monotonic_time() of the first decoded remote audio buffer,
 *   0 if none yet
 */
gint64
natter_call_pipeline_get_first_audio_time (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return get_mark (self, NATTER_CALL_PIPELINE_MARK_FIRST_AUDIO);
}

/**
 * natter_call_pipeline_get_video_received_timing:
 * @self: a #NatterCallPipeline
 *
 * Returns: (transfer none): when the peer's video frames were decoded
 */
NatterFrameTiming *
natter_call_pipeline_get_video_received_timing (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->video_received_timing;
}

/**
 * natter_call_pipeline_get_video_sent_timing:
 * @self: a #NatterCallPipeline
 *
 * Returns: (transfer none): when our video frames left the encoder
 */
NatterFrameTiming *
natter_call_pipeline_get_video_sent_timing (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->video_sent_timing;
}

/**
 * natter_call_pipeline_get_first_video_time:
 * @self: a #NatterCallPipeline
 *
 * Returns: g_get_monotonic_time() of the first decoded remote video frame,
 *   0 if none yet
 */
gint64
natter_call_pipeline_get_first_video_time (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return get_mark (self, NATTER_CALL_PIPELINE_MARK_FIRST_VIDEO);
}

static void
on_stats_main (NatterCallPipeline *self, gpointer data)
{
  GstPromise *promise = data;
  const GstStructure *reply = gst_promise_get_reply (promise);
  NatterCallStats *stats;

  self->stats_pending = FALSE;
  if (reply == NULL)
    return;

  stats = natter_call_stats_new_from_structure (reply, self->stats, g_get_monotonic_time ());
  if (self->pipeline != NULL)
    natter_call_stats_read_audio_playout (stats, self->pipeline);
  g_clear_pointer (&self->stats, natter_call_stats_free);
  self->stats = stats;
  if (self->adaptation != NULL && self->congestion_control) {
    natter_call_adaptation_on_receiver_report (self->adaptation, stats->round_trip_time_ms,
                                               stats->send_packet_loss, g_get_monotonic_time ());
    update_adaptation_properties (self);
  }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATS]);
}

static void
on_stats (GstPromise *promise, gpointer user_data)
{
  invoke_on_main (user_data, on_stats_main, gst_promise_ref (promise),
                  (GDestroyNotify) gst_promise_unref);
}

/**
 * natter_call_pipeline_update_stats:
 * @self: a #NatterCallPipeline
 *
 * Asks webrtcbin for statistics; #NatterCallPipeline:stats is notified when
 * they arrive.
 */
void
natter_call_pipeline_update_stats (NatterCallPipeline *self)
{
  GstPromise *promise;

  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));

  if (self->webrtcbin == NULL || self->stats_pending)
    return;
  self->stats_pending = TRUE;
  promise = gst_promise_new_with_change_func (on_stats, g_object_ref (self), g_object_unref);
  g_signal_emit_by_name (self->webrtcbin, "get-stats", NULL, promise);
  gst_promise_unref (promise);
}

/**
 * natter_call_pipeline_get_stats:
 * @self: a #NatterCallPipeline
 *
 * Returns: (transfer none) (nullable): the last statistics sample
 */
const NatterCallStats *
natter_call_pipeline_get_stats (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->stats;
}

/**
 * natter_call_pipeline_get_bandwidth_estimate:
 * @self: a #NatterCallPipeline
 *
 * Returns: see #NatterCallPipeline:bandwidth-estimate
 */
guint
natter_call_pipeline_get_bandwidth_estimate (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return self->bandwidth_estimate;
}

/**
 * natter_call_pipeline_get_bandwidth_limited:
 * @self: a #NatterCallPipeline
 *
 * Returns: whether the estimate has met the path's limit (congestion was
 *   seen); before, it is a start-up value still growing
 */
gboolean
natter_call_pipeline_get_bandwidth_limited (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return self->adaptation != NULL && natter_call_adaptation_get_limited (self->adaptation);
}

/**
 * natter_call_pipeline_get_video_reduced:
 * @self: a #NatterCallPipeline
 *
 * Returns: see #NatterCallPipeline:video-reduced
 */
gboolean
natter_call_pipeline_get_video_reduced (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return self->video_reduced;
}

/**
 * natter_call_pipeline_get_send_plan:
 * @self: a #NatterCallPipeline
 *
 * Returns: (transfer none) (nullable): what the rate controller has the
 *   encoders send, %NULL when there is no running call or no congestion
 *   control
 */
const NatterRatePlan *
natter_call_pipeline_get_send_plan (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  if (self->adaptation == NULL || !self->congestion_control)
    return NULL;
  return natter_call_adaptation_get_plan (self->adaptation);
}

/**
 * natter_call_pipeline_get_jitter_latency:
 * @self: a #NatterCallPipeline
 *
 * Returns: the jitter buffers' latency now, in ms (it follows the round
 *   trip)
 */
guint
natter_call_pipeline_get_jitter_latency (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return self->adaptation != NULL ? natter_call_adaptation_get_latency (self->adaptation)
                                  : self->latency_ms;
}

/**
 * natter_call_pipeline_get_element:
 * @self: a #NatterCallPipeline
 *
 * The GStreamer pipeline itself, for diagnostics and tests (a test cuts its
 * network elements to stand for a lost path).
 *
 * Returns: (transfer none) (nullable): the pipeline, %NULL before it is
 *   built or after it is closed
 */
GstElement *
natter_call_pipeline_get_element (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->pipeline;
}

/**
 * natter_call_pipeline_get_mark_time:
 * @self: a #NatterCallPipeline
 * @mark: a point of the call's setup
 *
 * Returns: g_get_monotonic_time() of the first time @mark happened, 0 if
 *   it has not
 */
gint64
natter_call_pipeline_get_mark_time (NatterCallPipeline *self, NatterCallPipelineMark mark)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  g_return_val_if_fail (mark < NATTER_CALL_PIPELINE_N_MARKS, 0);
  return get_mark (self, mark);
}
