/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-pipeline"

#include "config.h"

#include <gst/video/video.h>

#include "natter-call-pipeline-private.h"

GstElement *
natter_call_pipeline_make_element (const char *factory, const char *name)
{
  GstElement *element = gst_element_factory_make (factory, name);

  if (element == NULL)
    g_warning ("GStreamer element %s is missing", factory);
  return element;
}

/* NATTER_VIDEO_SRC and friends name a bin description; otherwise the chosen
 * device, otherwise the automatic element. */
GstElement *
natter_call_pipeline_make_endpoint (const char *env_name,
                                    GstDevice *device,
                                    const char *fallback,
                                    GError **error)
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
gboolean
natter_call_pipeline_open_source (GstElement *source, GError **error)
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

gboolean
natter_call_pipeline_have_element (const char *factory)
{
  g_autoptr (GstElementFactory) found = gst_element_factory_find (factory);

  return found != NULL;
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

/* Video leaves at about twice the estimate: a frame (and a keyframe of a
 * few frames' worth) still goes within a frame interval or two, and the
 * bottleneck's queue grows by half of it at most. Until the estimator has
 * seen congestion its estimate is only a start-up value, and the call's
 * first keyframe should not wait on it: four times then. A packet that
 * would wait longer than MAX_DELAY_MS is dropped with its frame. */
#define PACING_FACTOR 2.0
#define PACING_FACTOR_STARTING 4.0
#define PACER_MAX_DELAY_MS 300

static guint
pacing_rate (NatterCallPipeline *self)
{
  double factor =
    natter_call_adaptation_get_limited (self->adaptation) ? PACING_FACTOR : PACING_FACTOR_STARTING;

  return (guint) (factor * natter_call_adaptation_get_estimate (self->adaptation));
}

static void
on_keyframe_needed (NatterPacer *pacer, gpointer user_data)
{
  natter_call_pipeline_request_keyframe (user_data);
}

NatterPacer *
natter_call_pipeline_ensure_pacer (NatterCallPipeline *self)
{
  if (!self->congestion_control || self->adaptation == NULL)
    return NULL;
  if (self->pacer == NULL) {
    self->pacer = natter_pacer_new (pacing_rate (self), PACER_MAX_DELAY_MS);
    g_signal_connect (self->pacer, "keyframe-needed", G_CALLBACK (on_keyframe_needed), self);
  }
  return self->pacer;
}

void
natter_call_pipeline_update_adaptation_properties (NatterCallPipeline *self)
{
  guint estimate = natter_call_adaptation_get_estimate (self->adaptation);
  gboolean reduced = natter_call_adaptation_get_video_reduced (self->adaptation);

  /* Feedback comes ten times a second: tell only real moves. */
  if (estimate / 10000 != self->bandwidth_estimate / 10000) {
    self->bandwidth_estimate = estimate;
    g_object_notify_by_pspec (G_OBJECT (self),
                              natter_call_pipeline_properties[PROP_BANDWIDTH_ESTIMATE]);
  }
  if (reduced != self->video_reduced) {
    self->video_reduced = reduced;
    g_object_notify_by_pspec (G_OBJECT (self), natter_call_pipeline_properties[PROP_VIDEO_REDUCED]);
  }
  if (self->pacer != NULL)
    natter_pacer_set_rate (self->pacer, pacing_rate (self));
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
  natter_call_pipeline_update_adaptation_properties (self);
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
    natter_call_pipeline_invoke_on_main (user_data, on_twcc_main, gst_structure_copy (structure),
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

GstElement *
natter_call_pipeline_build_audio_send_bin (NatterCallPipeline *self, guint payload, GError **error)
{
  g_autoptr (GstElement) source = NULL;
  g_autoptr (GstCaps) caps = NULL;
  GstElement *bin, *convert, *resample, *dsp = NULL, *convert2, *volume, *encoder, *payloader,
                                        *filter;
  g_autoptr (GstPad) src_pad = NULL;

  source = natter_call_pipeline_make_endpoint ("NATTER_AUDIO_SRC", self->audio_source_device,
                                               "autoaudiosrc", error);
  if (source == NULL)
    return NULL;
  gst_object_ref_sink (source);
  {
    g_autoptr (GError) open_error = NULL;

    if (!natter_call_pipeline_open_source (source, &open_error)) {
      g_set_error (error, open_error->domain, open_error->code,
                   "The microphone could not be opened: %s", open_error->message);
      return NULL;
    }
  }

  bin = gst_bin_new ("audio-send");
  convert = natter_call_pipeline_make_element ("audioconvert", NULL);
  resample = natter_call_pipeline_make_element ("audioresample", NULL);
  convert2 = natter_call_pipeline_make_element ("audioconvert", NULL);
  volume = natter_call_pipeline_make_element ("volume", "mute");
  encoder = natter_call_pipeline_make_element ("opusenc", NULL);
  payloader = natter_call_pipeline_make_element ("rtpopuspay", NULL);
  filter = natter_call_pipeline_make_element ("capsfilter", NULL);
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

    dsp = natter_call_pipeline_make_element ("webrtcdsp", NULL);
    g_object_set (dsp, "probe", probe_name, "echo-cancel", TRUE, "noise-suppression", TRUE,
                  "gain-control", TRUE, NULL);
  }

  g_object_set (volume, "mute", self->muted, NULL);
  g_object_set (encoder, "bitrate", 32000, "frame-size", 20, "inband-fec", TRUE, "audio-type",
                2048 /* voice */, NULL);
  g_object_set (payloader, "pt", payload, NULL);
  natter_call_session_senders_set_audio_payload (self->session_senders, payload);
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
  if (natter_call_pipeline_ensure_pacer (self) != NULL)
    natter_pacer_attach_audio (self->pacer, src_pad);
  gst_element_add_pad (bin, gst_ghost_pad_new ("src", src_pad));
  self->mute_volume = volume;
  return bin;
}

GstElement *
natter_call_pipeline_build_video_send_bin (NatterCallPipeline *self,
                                           VideoCodec codec,
                                           guint payload,
                                           GError **error)
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

  source = natter_call_pipeline_make_endpoint ("NATTER_VIDEO_SRC", self->video_source_device,
                                               "autovideosrc", error);
  if (source == NULL)
    return NULL;
  gst_object_ref_sink (source);
  {
    g_autoptr (GError) open_error = NULL;

    /* A camera that does not open makes the call voice-only from our side:
     * the video m-line stays (the peer may still send), the valve stays shut
     * and the peer learns through call_media_state that our camera is off. */
    if (!natter_call_pipeline_open_source (source, &open_error)) {
      g_message ("The camera could not be opened (%s); going on without video",
                 open_error->message);
      g_clear_object (&source);
      source = gst_object_ref_sink (natter_call_pipeline_make_element ("videotestsrc", NULL));
      g_object_set (source, "is-live", TRUE, "pattern", 2 /* black */, NULL);
      self->camera_failed = TRUE;
      if (self->camera_enabled) {
        self->camera_enabled = FALSE;
        g_object_notify_by_pspec (G_OBJECT (self),
                                  natter_call_pipeline_properties[PROP_CAMERA_ENABLED]);
      }
    }
  }

  bin = gst_bin_new ("video-send");
  convert = natter_call_pipeline_make_element ("videoconvert", NULL);
  scale = natter_call_pipeline_make_element ("videoscale", NULL);
  rate = natter_call_pipeline_make_element ("videorate", NULL);
  raw_filter = natter_call_pipeline_make_element ("capsfilter", NULL);
  valve = natter_call_pipeline_make_element ("valve", NULL);
  queue = natter_call_pipeline_make_element ("queue", NULL);
  encoder =
    natter_call_pipeline_make_element (codec == VIDEO_CODEC_H264 ? "openh264enc" : "vp8enc", NULL);
  payloader = natter_call_pipeline_make_element (
    codec == VIDEO_CODEC_H264 ? "rtph264pay" : "rtpvp8pay", NULL);
  filter = natter_call_pipeline_make_element ("capsfilter", NULL);
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
    GstElement *tee = natter_call_pipeline_make_element ("tee", NULL);
    GstElement *preview_queue = natter_call_pipeline_make_element ("queue", NULL);
    GstElement *preview_convert = natter_call_pipeline_make_element ("videoconvert", NULL);

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
  if (natter_call_pipeline_ensure_pacer (self) != NULL)
    natter_pacer_attach_video (self->pacer, src_pad);
  gst_element_add_pad (bin, gst_ghost_pad_new ("src", src_pad));
  self->video_valve = valve;
  self->video_encoder = encoder;
  return bin;
}

gboolean
natter_call_pipeline_attach_send_bin (NatterCallPipeline *self,
                                      GstElement *bin,
                                      int mline,
                                      GError **error)
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

/* Upstream from the encoder's source pad, as a receiver's PLI would come:
 * that event is not serialized, so the main thread never waits for the
 * stream lock of an encoder whose push is held up downstream (webrtcbin
 * holds RTP until DTLS is up; a serialized event sent from here used to
 * stall the main context for 200-350 ms right when the call connected). */
void
natter_call_pipeline_request_keyframe (NatterCallPipeline *self)
{
  g_autoptr (GstPad) pad = NULL;

  if (self->video_encoder == NULL)
    return;
  pad = gst_element_get_static_pad (self->video_encoder, "src");
  gst_pad_send_event (pad,
                      gst_video_event_new_upstream_force_key_unit (GST_CLOCK_TIME_NONE, TRUE, 0));
}

/* Live device switching: the new element takes the old one's place in
 * the running pipeline, and the caps towards the encoder stay what the
 * converters and the size filter make them, so nothing is renegotiated. */

gboolean
natter_call_pipeline_overridden (const char *env_name)
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
  if (*current == NULL || self->closed || natter_call_pipeline_overridden (env_name))
    return FALSE;

  replacement = natter_call_pipeline_make_endpoint (env_name, device, fallback, &error);
  if (replacement == NULL) {
    g_message ("Keeping the current device: %s", error != NULL ? error->message : fallback);
    return FALSE;
  }
  gst_object_ref_sink (replacement);
  if (!natter_call_pipeline_open_source (replacement, &error)) {
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
    natter_call_pipeline_fail (self, "Could not link the new device");
    return FALSE;
  }
  gst_element_sync_state_with_parent (replacement);
  *current = replacement;
  g_debug ("switched to %s", GST_OBJECT_NAME (replacement));
  return TRUE;
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
    natter_call_pipeline_request_keyframe (self);
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
  g_object_notify_by_pspec (G_OBJECT (self), natter_call_pipeline_properties[PROP_MUTED]);
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
      natter_call_pipeline_request_keyframe (self);
  }
  g_object_notify_by_pspec (G_OBJECT (self), natter_call_pipeline_properties[PROP_CAMERA_ENABLED]);
}

gboolean
natter_call_pipeline_get_camera_enabled (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return self->camera_enabled;
}
