/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-pipeline"

#include "config.h"

#include <gst/rtp/rtp.h>

#include "natter-call-session-senders.h"

/* Works around a race in GStreamer 1.22's rtpsession (gst-plugins-good
 * gst/rtpmanager/rtpsession.c). To build RTCP, its RTCP thread walks the
 * session's table of sources (rtp_session_on_timeout → generate_rtcp), and
 * for a sending source whose clock rate it does not know yet it asks for it
 * with the session lock released (rtp_source_get_new_sr →
 * fetch_caps_for_payload → source_caps). A packet from a new remote SSRC
 * (the peer's first packets, after call set-up or an ICE restart, or its
 * first retransmission) adds a source in that moment, on a streaming
 * thread: "g_hash_table_foreach: assertion 'version == hash_table->version'
 * failed", then a walk over a changed table. With max-bundle the session's
 * send caps come from rtpfunnel and name no SSRC, so every sending source
 * starts without a clock rate and its first sender report opens that
 * window. Newer GStreamer walks a copy of the table there (rtpsession.c:
 * "Make a local copy of the hashtable. We need to do this because the
 * generate_rtcp stage below releases the session lock").
 *
 * Here the first packet of each of our sending SSRCs is preceded by a caps
 * event naming that SSRC, its payload type and its clock rate
 * (rtp_session_update_send_caps() gives the source its clock rate), then
 * the session's own caps again: no sending source is left for RTCP to look
 * up. */

struct _NatterCallSessionSenders {
  gint audio_payload; /* atomic; -1 until the audio send chain exists */
};

typedef struct {
  NatterCallSessionSenders *senders;
  GArray *ssrcs; /* guint32 already announced; under the pad's stream lock */
} PadWatch;

NatterCallSessionSenders *
natter_call_session_senders_new (void)
{
  NatterCallSessionSenders *self = g_atomic_rc_box_new0 (NatterCallSessionSenders);

  self->audio_payload = -1;
  return self;
}

NatterCallSessionSenders *
natter_call_session_senders_ref (NatterCallSessionSenders *self)
{
  return g_atomic_rc_box_acquire (self);
}

void
natter_call_session_senders_unref (NatterCallSessionSenders *self)
{
  g_atomic_rc_box_release (self);
}

/* Opus is the only stream at 48 kHz; every other payload we send (VP8,
 * H.264, RED, ULPFEC, RTX of video) runs at 90 kHz. */
void
natter_call_session_senders_set_audio_payload (NatterCallSessionSenders *self, guint payload)
{
  g_atomic_int_set (&self->audio_payload, (gint) payload);
}

static void
pad_watch_free (gpointer data)
{
  PadWatch *watch = data;

  natter_call_session_senders_unref (watch->senders);
  g_array_unref (watch->ssrcs);
  g_free (watch);
}

static void
announce (GstPad *pad, PadWatch *watch, GstBuffer *buffer)
{
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  g_autoptr (GstCaps) current = NULL;
  g_autoptr (GstCaps) caps = NULL;
  guint32 ssrc;
  guint8 payload;

  if (!gst_rtp_buffer_map (buffer, GST_MAP_READ, &rtp))
    return;
  ssrc = gst_rtp_buffer_get_ssrc (&rtp);
  payload = gst_rtp_buffer_get_payload_type (&rtp);
  gst_rtp_buffer_unmap (&rtp);

  for (guint i = 0; i < watch->ssrcs->len; i++) {
    if (g_array_index (watch->ssrcs, guint32, i) == ssrc)
      return;
  }
  g_array_append_val (watch->ssrcs, ssrc);

  current = gst_pad_get_current_caps (pad);
  if (current == NULL || gst_caps_get_size (current) != 1)
    return;
  caps = gst_caps_copy (current);
  gst_caps_set_simple (
    caps, "ssrc", G_TYPE_UINT, ssrc, "payload", G_TYPE_INT, (gint) payload, "clock-rate",
    G_TYPE_INT, payload == g_atomic_int_get (&watch->senders->audio_payload) ? 48000 : 90000, NULL);
  g_debug ("announcing sending SSRC %08x (payload %u) to the RTP session", ssrc, payload);
  gst_pad_send_event (pad, gst_event_new_caps (caps));
  gst_pad_send_event (pad, gst_event_new_caps (current));
}

static gboolean
announce_in_list (GstBuffer **buffer, guint index, gpointer user_data)
{
  gpointer *args = user_data;

  announce (args[0], args[1], *buffer);
  return TRUE;
}

static GstPadProbeReturn
on_send_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    announce (pad, user_data, GST_PAD_PROBE_INFO_BUFFER (info));
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    gpointer args[] = { pad, user_data };

    gst_buffer_list_foreach (GST_PAD_PROBE_INFO_BUFFER_LIST (info), announce_in_list, args);
  }
  return GST_PAD_PROBE_OK;
}

static void
watch_pad (NatterCallSessionSenders *self, GstPad *pad)
{
  PadWatch *watch;

  if (!g_str_equal (GST_PAD_NAME (pad), "send_rtp_sink"))
    return;
  watch = g_new0 (PadWatch, 1);
  watch->senders = natter_call_session_senders_ref (self);
  watch->ssrcs = g_array_new (FALSE, FALSE, sizeof (guint32));
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
                     on_send_buffer, watch, pad_watch_free);
}

static void
on_session_pad_added (GstElement *rtpsession, GstPad *pad, gpointer user_data)
{
  watch_pad (user_data, pad);
}

static void
release_senders (gpointer data, GClosure *closure)
{
  natter_call_session_senders_unref (data);
}

/**
 * natter_call_session_senders_watch:
 * @self: the pipeline's senders
 * @rtpsession: an rtpsession element, just created (any thread)
 *
 * Announces each sending SSRC of @rtpsession to it before its first packet.
 */
void
natter_call_session_senders_watch (NatterCallSessionSenders *self, GstElement *rtpsession)
{
  g_autoptr (GstPad) existing = NULL;

  /* Connected first: a pad added in between is then seen twice, which
   * only announces its SSRCs twice. */
  g_signal_connect_data (rtpsession, "pad-added", G_CALLBACK (on_session_pad_added),
                         natter_call_session_senders_ref (self), release_senders, 0);
  existing = gst_element_get_static_pad (rtpsession, "send_rtp_sink");
  if (existing != NULL)
    watch_pad (self, existing);
}
