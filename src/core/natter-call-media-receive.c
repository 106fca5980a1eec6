/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-pipeline"

#include "config.h"

#include <gst/base/gstbasesink.h>
#include <gst/video/video.h>

#include "natter-audio-concealment.h"
#include "natter-call-pipeline-private.h"

static void
on_first_media_main (NatterCallPipeline *self, gpointer data)
{
  g_signal_emit (self, natter_call_pipeline_signals[SIGNAL_FIRST_REMOTE_MEDIA], 0,
                 (const char *) data);
}

static GstPadProbeReturn
count_received_audio (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  NatterCallPipeline *self = user_data;

  if (g_atomic_int_add (&self->audio_buffers_received, 1) == 0) {
    natter_call_pipeline_set_mark (self, NATTER_CALL_PIPELINE_MARK_FIRST_AUDIO);
    natter_call_pipeline_invoke_on_main (self, on_first_media_main, (gpointer) "audio", NULL);
  }
  return GST_PAD_PROBE_OK;
}

/* The latency a synced video sink renders with: the one the sinks were
 * given (the pipeline's), or, when no sink syncs (natter-cli's fakesinks
 * get 0), the jitter buffers' latency (it follows the round trip; copied
 * on the main thread at each report: a latency query up the path from
 * here held back the audio under ASan). */
static GstClockTime
video_render_latency (NatterCallPipeline *self)
{
  if (self->video_sink != NULL && GST_IS_BASE_SINK (self->video_sink)) {
    GstClockTime latency = gst_base_sink_get_latency (GST_BASE_SINK (self->video_sink));

    if (latency > 0)
      return latency;
  }
  return (GstClockTime) g_atomic_int_get (&self->video_render_latency_ms) * GST_MSECOND;
}

/* Counts a decoded frame when it leaves the decoder and when a sink synced
 * to the pipeline clock would render it: at its running time + base time +
 * the pipeline's latency (or at once if later). Browsers count freezes from
 * rendered frames; natter-cli's fakesink does not sync, so frames released
 * together after a retransmission would otherwise look like a freeze. */
static void
time_received_frame (NatterCallPipeline *self, GstPad *pad, GstBuffer *buffer)
{
  g_autoptr (GstClock) clock = gst_element_get_clock (self->pipeline);
  g_autoptr (GstEvent) segment_event = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);
  GstClockTime now, base_time, running_time = GST_CLOCK_TIME_NONE;
  const GstSegment *segment = NULL;

  natter_frame_timing_add_frame (self->video_decoded_timing, g_get_monotonic_time ());
  if (clock == NULL) {
    natter_frame_timing_add_frame (self->video_received_timing, g_get_monotonic_time ());
    return;
  }
  now = gst_clock_get_time (clock);
  base_time = gst_element_get_base_time (self->pipeline);
  if (segment_event != NULL)
    gst_event_parse_segment (segment_event, &segment);
  if (segment != NULL && segment->format == GST_FORMAT_TIME && GST_BUFFER_PTS_IS_VALID (buffer))
    running_time = gst_segment_to_running_time (segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buffer));
  if (!GST_CLOCK_TIME_IS_VALID (running_time)) {
    natter_frame_timing_add_frame (self->video_received_timing, (gint64) (now / GST_USECOND));
    return;
  }
  natter_frame_timing_add_scheduled_frame (
    self->video_received_timing, (gint64) (now / GST_USECOND),
    (gint64) ((base_time + running_time + video_render_latency (self)) / GST_USECOND));
}

static GstPadProbeReturn
count_received_video (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  NatterCallPipeline *self = user_data;

  time_received_frame (self, pad, GST_PAD_PROBE_INFO_BUFFER (info));
  if (g_atomic_int_add (&self->video_frames_received, 1) == 0) {
    natter_call_pipeline_set_mark (self, NATTER_CALL_PIPELINE_MARK_FIRST_VIDEO);
    natter_call_pipeline_invoke_on_main (self, on_first_media_main, (gpointer) "video", NULL);
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
  natter_call_pipeline_invoke_on_main (self, func, blocked, blocked_pad_free);
}

static void
link_decoded_audio (NatterCallPipeline *self, GstPad *pad)
{
  g_autoptr (GstPad) sink_pad = NULL;
  GstElement *convert = natter_call_pipeline_make_element ("audioconvert", NULL);
  GstElement *resample = natter_call_pipeline_make_element ("audioresample", NULL);

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
    natter_call_pipeline_fail (self, "Could not play the remote audio");
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
  natter_call_pipeline_update_render_latency (self);

  if (self->video_sink == NULL) {
    self->video_sink =
      gst_object_ref_sink (natter_call_pipeline_make_element ("fakesink", "remote-video-sink"));
    g_object_set (self->video_sink, "sync", FALSE, "async", FALSE, NULL);
  }

  queue = natter_call_pipeline_make_element ("queue", NULL);
  convert = natter_call_pipeline_make_element ("videoconvert", NULL);
  g_object_set (queue, "leaky", 2, "max-size-buffers", 3, NULL);
  gst_bin_add_many (GST_BIN (self->pipeline), queue, convert, self->video_sink, NULL);
  gst_element_link_many (queue, convert, self->video_sink, NULL);
  gst_element_sync_state_with_parent (self->video_sink);
  gst_element_sync_state_with_parent (convert);
  gst_element_sync_state_with_parent (queue);
  sink_pad = gst_element_get_static_pad (queue, "sink");
  if (gst_pad_link (pad, sink_pad) != GST_PAD_LINK_OK) {
    natter_call_pipeline_fail (self, "Could not show the remote video");
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
void
natter_call_pipeline_make_sink_not_async (GstElement *element)
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
void
natter_call_pipeline_on_deep_element_added (GstBin *bin,
                                            GstBin *sub_bin,
                                            GstElement *element,
                                            gpointer user_data)
{
  GstElementFactory *factory = gst_element_get_factory (element);
  const char *name;

  if (factory == NULL)
    return;
  name = gst_plugin_feature_get_name (GST_PLUGIN_FEATURE (factory));
  if (GST_IS_BASE_SINK (element))
    natter_call_pipeline_make_sink_not_async (element);
  if (g_str_equal (name, "rtpvp8depay") || g_str_equal (name, "rtph264depay")) {
    set_if_present (element, "request-keyframe", TRUE);
    set_if_present (element, "wait-for-keyframe", TRUE);
  } else if (GST_IS_VIDEO_DECODER (element)) {
    set_if_present (element, "automatic-request-sync-points", TRUE);
    set_if_present (element, "discard-corrupted-frames", TRUE);
  } else if (g_str_equal (name, "rtpsession")) {
    NatterCallPipeline *self = user_data;

    natter_call_session_senders_watch (self->session_senders, element);
    /* Receiver reports every second rather than every five: the round
     * trip they carry sizes the jitter buffers, and their loss Opus's FEC,
     * and both are wanted in the first seconds of a call. */
    g_object_set (element, "rtcp-min-interval", (guint64) GST_SECOND, NULL);
    natter_call_adaptation_configure_session (element);
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
      natter_call_pipeline_have_element ("rtpopusdepay") &&
      natter_call_pipeline_have_element ("opusdec")) {
    if (self->audio_receive_linked)
      return FALSE;
    video = FALSE;
    depay = natter_call_pipeline_make_element ("rtpopusdepay", NULL);
    decoder = natter_call_pipeline_make_element ("opusdec", NULL);
    /* Conceal a lost packet from the next one's redundancy, not silence. */
    g_object_set (decoder, "plc", TRUE, "use-inband-fec", TRUE, NULL);
    natter_audio_concealment_watch_decoder (decoder);
  } else if (g_str_equal (media, "video") && g_ascii_strcasecmp (encoding, "VP8") == 0 &&
             natter_call_pipeline_have_element ("rtpvp8depay") &&
             natter_call_pipeline_have_element ("vp8dec")) {
    if (self->video_receive_linked)
      return FALSE;
    video = TRUE;
    depay = natter_call_pipeline_make_element ("rtpvp8depay", NULL);
    decoder = natter_call_pipeline_make_element ("vp8dec", NULL);
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
    natter_call_pipeline_fail (self, "Could not decode the remote media");
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

  decodebin = natter_call_pipeline_make_element ("decodebin", NULL);
  g_signal_connect_object (decodebin, "pad-added", G_CALLBACK (on_decodebin_pad_added), self, 0);
  gst_bin_add (GST_BIN (self->pipeline), decodebin);
  gst_element_sync_state_with_parent (decodebin);
  sink_pad = gst_element_get_static_pad (decodebin, "sink");
  if (gst_pad_link (blocked->pad, sink_pad) != GST_PAD_LINK_OK)
    natter_call_pipeline_fail (self, "Could not decode the remote media");
}

void
natter_call_pipeline_on_webrtc_pad_added (GstElement *webrtcbin, GstPad *pad, gpointer user_data)
{
  NatterCallPipeline *self = user_data;

  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
    return;
  block_and_invoke (self, pad, on_webrtc_pad_main);
}

/* The audio output exists from the start: webrtcdsp looks its echo probe up
 * by name when it starts, before any remote audio arrives. */
gboolean
natter_call_pipeline_build_audio_receive_chain (NatterCallPipeline *self, GError **error)
{
  g_autoptr (GstElement) sink = NULL;
  GstElement *convert, *resample;

  sink = natter_call_pipeline_make_endpoint ("NATTER_AUDIO_SINK", self->audio_sink_device,
                                             "autoaudiosink", error);
  if (sink == NULL)
    return FALSE;
  gst_object_ref_sink (sink);
  natter_call_pipeline_make_sink_not_async (sink);

  convert = natter_call_pipeline_make_element ("audioconvert", NULL);
  resample = natter_call_pipeline_make_element ("audioresample", NULL);
  gst_bin_add_many (GST_BIN (self->pipeline), convert, resample, sink, NULL);
  self->audio_sink = sink;

  if (natter_call_pipeline_have_element ("webrtcdsp") &&
      natter_call_pipeline_have_element ("webrtcechoprobe")) {
    static gint serial;
    g_autofree char *name = g_strdup_printf ("natter-echo-probe-%d", g_atomic_int_add (&serial, 1));

    self->echo_probe = natter_call_pipeline_make_element ("webrtcechoprobe", name);
    gst_bin_add (GST_BIN (self->pipeline), self->echo_probe);
    gst_element_link_many (self->echo_probe, convert, resample, sink, NULL);
    self->audio_receive_head = self->echo_probe;
  } else {
    gst_element_link_many (convert, resample, sink, NULL);
    self->audio_receive_head = convert;
  }
  return TRUE;
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
  g_object_notify_by_pspec (G_OBJECT (self), natter_call_pipeline_properties[PROP_VIDEO_SINK]);
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

  if (self->audio_sink == NULL || self->closed ||
      natter_call_pipeline_overridden ("NATTER_AUDIO_SINK"))
    return;
  replacement =
    natter_call_pipeline_make_endpoint ("NATTER_AUDIO_SINK", device, "autoaudiosink", &error);
  if (replacement == NULL) {
    g_message ("Keeping the current speaker: %s", error != NULL ? error->message : "");
    return;
  }
  gst_object_ref_sink (replacement);
  natter_call_pipeline_make_sink_not_async (replacement);

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
