/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-pipeline"

#include "config.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include <gst/sdp/sdp.h>
#include <gst/video/video.h>

#include "natter-call-pipeline-private.h"

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
    natter_call_pipeline_set_state (self, NATTER_CALL_PIPELINE_STATE_CONNECTING);
  g_signal_emit (self, natter_call_pipeline_signals[SIGNAL_LOCAL_DESCRIPTION], 0, description->type,
                 description->sdp);
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

static gboolean
media_has_attribute (const GstSDPMedia *media, const char *key)
{
  for (guint i = 0; i < gst_sdp_media_attributes_len (media); i++)
    if (g_strcmp0 (gst_sdp_media_get_attribute (media, i)->key, key) == 0)
      return TRUE;
  return FALSE;
}

/* webrtcbin 1.22 offers reduced-size RTCP (RFC 5506) but never answers
 * it, so a call it answers sends each early feedback packet (a NACK, a
 * transport-wide report) behind a sender report and SDES for each of our
 * three SSRCs: 300 bytes for 20-60 of feedback, and 135 kbit/s of RTCP
 * each way on the 30 ms / 5 % link once feedback leaves at once. Its
 * rtpsession takes reduced-size packets (Chromium's, whenever Chromium
 * answers it), and webrtcbin turns the mode on when both descriptions
 * carry the attribute. */
static void
answer_reduced_size_rtcp (NatterCallPipeline *self, GstWebRTCSessionDescription *answer)
{
  GstWebRTCSessionDescription *offer = NULL;

  g_object_get (self->webrtcbin, "remote-description", &offer, NULL);
  if (offer == NULL)
    return;
  for (guint i = 0;
       i < gst_sdp_message_medias_len (answer->sdp) && i < gst_sdp_message_medias_len (offer->sdp);
       i++) {
    /* GstSDPMessage has no mutable getter; the media is the message's own. */
    GstSDPMedia *media = (GstSDPMedia *) gst_sdp_message_get_media (answer->sdp, i);

    if (media_has_attribute (gst_sdp_message_get_media (offer->sdp, i), "rtcp-rsize") &&
        !media_has_attribute (media, "rtcp-rsize"))
      gst_sdp_media_add_attribute (media, "rtcp-rsize", "");
  }
  gst_webrtc_session_description_free (offer);
}

static void watch_dtls (NatterCallPipeline *self);

static void
on_description_created_main (NatterCallPipeline *self, gpointer data)
{
  GstPromise *promise = data;
  const GstStructure *reply = gst_promise_get_reply (promise);
  GstWebRTCSessionDescription *description = NULL;
  g_autoptr (GError) error = NULL;
  Description *local;

  if (reply == NULL) {
    natter_call_pipeline_fail (self, "webrtcbin gave no description");
    return;
  }
  gst_structure_get (reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &description, NULL);
  if (description == NULL)
    gst_structure_get (reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &description, NULL);
  if (description == NULL) {
    gst_structure_get (reply, "error", G_TYPE_ERROR, &error, NULL);
    natter_call_pipeline_fail (self, error != NULL ? error->message
                                                   : "Could not create a session description");
    return;
  }

  if (description->type == GST_WEBRTC_SDP_TYPE_ANSWER) {
    make_answer_passive (description);
    answer_reduced_size_rtcp (self, description);
  }
  g_signal_emit_by_name (self->webrtcbin, "set-local-description", description, NULL);
  natter_call_pipeline_set_mark (self, NATTER_CALL_PIPELINE_MARK_LOCAL_DESCRIPTION);
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

  natter_call_pipeline_invoke_on_main (self, on_description_created_main, promise,
                                       (GDestroyNotify) gst_promise_unref);
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
  natter_call_pipeline_invoke_on_main (user_data, on_negotiation_needed_main, NULL, NULL);
}

static void
on_remote_description_set_main (NatterCallPipeline *self, gpointer data)
{
  GstPromise *promise = data;
  const GstStructure *reply = gst_promise_get_reply (promise);
  g_autoptr (GError) error = NULL;

  if (reply != NULL && gst_structure_get (reply, "error", G_TYPE_ERROR, &error, NULL)) {
    natter_call_pipeline_fail (self, error->message);
    return;
  }

  self->remote_description_set = TRUE;
  natter_call_pipeline_set_mark (self, NATTER_CALL_PIPELINE_MARK_REMOTE_DESCRIPTION);
  watch_dtls (self);
  flush_pending_candidates (self);

  if (self->is_offerer)
    natter_call_pipeline_set_state (self, NATTER_CALL_PIPELINE_STATE_CONNECTING);
  else
    create_description (self, "create-answer");
}

static void
on_remote_description_set (GstPromise *promise, gpointer user_data)
{
  natter_call_pipeline_invoke_on_main (user_data, on_remote_description_set_main, promise,
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

  g_signal_emit (self, natter_call_pipeline_signals[SIGNAL_LOCAL_CANDIDATE], 0, local->mline,
                 local->candidate);
}

static void
on_ice_candidate (GstElement *webrtcbin, guint mline, const char *candidate, gpointer user_data)
{
  LocalCandidate *local = g_new0 (LocalCandidate, 1);

  natter_call_pipeline_set_mark (user_data, NATTER_CALL_PIPELINE_MARK_FIRST_LOCAL_CANDIDATE);
  local->mline = mline;
  local->candidate = g_strdup (candidate);
  natter_call_pipeline_invoke_on_main (user_data, on_ice_candidate_main, local,
                                       local_candidate_free);
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
  guint received = natter_call_pipeline_counter_get (&self->rtp_received);
  gint64 now = g_get_monotonic_time ();

  if (received != self->last_rtp_received) {
    self->last_rtp_received = received;
    self->last_rtp_at = now;
    if (self->media_lost) {
      self->media_lost = FALSE;
      g_clear_pointer (&self->error_message, g_free);
      if (self->state == NATTER_CALL_PIPELINE_STATE_DISCONNECTED)
        natter_call_pipeline_set_state (self, NATTER_CALL_PIPELINE_STATE_CONNECTED);
    }
  } else if (!self->media_lost && self->state == NATTER_CALL_PIPELINE_STATE_CONNECTED &&
             now - self->last_rtp_at >= (gint64) self->media_timeout_ms * 1000) {
    self->media_lost = TRUE;
    g_free (self->error_message);
    self->error_message =
      g_strdup_printf ("No media from the peer for %.1f s", self->media_timeout_ms / 1000.0);
    g_message ("Call media: %s", self->error_message);
    natter_call_pipeline_set_state (self, NATTER_CALL_PIPELINE_STATE_DISCONNECTED);
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
  self->last_rtp_received = natter_call_pipeline_counter_get (&self->rtp_received);
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
          natter_call_pipeline_counter_get (&self->video_frames_sent) > 1)
        natter_call_pipeline_request_keyframe (self);
      start_media_watch (self);
      if (!self->media_lost)
        natter_call_pipeline_set_state (self, NATTER_CALL_PIPELINE_STATE_CONNECTED);
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
      if (self->state == NATTER_CALL_PIPELINE_STATE_CONNECTED)
        natter_call_pipeline_set_state (self, NATTER_CALL_PIPELINE_STATE_DISCONNECTED);
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
      natter_call_pipeline_fail (self, "ICE or DTLS failed: no usable network path to the peer");
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
  natter_call_pipeline_invoke_on_main (user_data, on_connection_state_main, GINT_TO_POINTER (state),
                                       NULL);
}

static void
on_ice_connection_state_notify (GObject *webrtcbin, GParamSpec *pspec, gpointer user_data)
{
  GstWebRTCICEConnectionState state;

  g_object_get (webrtcbin, "ice-connection-state", &state, NULL);
  if (state == GST_WEBRTC_ICE_CONNECTION_STATE_CONNECTED ||
      state == GST_WEBRTC_ICE_CONNECTION_STATE_COMPLETED)
    natter_call_pipeline_set_mark (user_data, NATTER_CALL_PIPELINE_MARK_ICE_CONNECTED);
}

static void
on_dtls_state_notify (GObject *transport, GParamSpec *pspec, gpointer user_data)
{
  GstWebRTCDTLSTransportState state;

  g_object_get (transport, "state", &state, NULL);
  if (state == GST_WEBRTC_DTLS_TRANSPORT_STATE_CONNECTED)
    natter_call_pipeline_set_mark (user_data, NATTER_CALL_PIPELINE_MARK_DTLS_CONNECTED);
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
  g_signal_emit (self, natter_call_pipeline_signals[SIGNAL_LOCAL_CANDIDATE], 0, 0, NULL);
}

static void
on_gathering_state_notify (GObject *webrtcbin, GParamSpec *pspec, gpointer user_data)
{
  GstWebRTCICEGatheringState state;

  g_object_get (webrtcbin, "ice-gathering-state", &state, NULL);
  if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
    natter_call_pipeline_invoke_on_main (user_data, on_gathering_state_main, NULL, NULL);
}

static void
on_new_jitterbuffer (
  GstElement *rtpbin, GstElement *jitterbuffer, guint session, guint ssrc, gpointer user_data)
{
  NatterCallPipeline *self = user_data;

  /* A jitter buffer is made for each SSRC when its first packet is out of
   * SRTP. Plain property sets, safe from any thread. */
  natter_call_pipeline_set_mark (self, NATTER_CALL_PIPELINE_MARK_FIRST_RTP);
  g_object_set (jitterbuffer, "do-retransmission", TRUE, NULL);
  /* Its latency follows the round trip from here on. */
  natter_call_adaptation_add_jitterbuffer (self->adaptation, jitterbuffer);
  /* Without it the first packet waits the whole latency for earlier ones
   * that never come; two in sequence show the stream has started. */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (jitterbuffer), "faststart-min-packets"))
    g_object_set (jitterbuffer, "faststart-min-packets", 2u, NULL);
}

/* Whether @origin is the microphone (or inside it) and it never gave a
 * buffer: a device lost mid-call is the media path's business. */
static gboolean
microphone_failed_to_start (NatterCallPipeline *self, GstObject *origin)
{
  if (self->audio_source == NULL ||
      natter_call_pipeline_counter_get (&self->audio_buffers_sent) > 0)
    return FALSE;
  return origin == GST_OBJECT (self->audio_source) ||
         gst_object_has_as_ancestor (origin, GST_OBJECT (self->audio_source));
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
      /* A microphone that opened but fails as it starts (autoaudiosrc on
       * a machine without sound devices picks one that does) will not
       * come back: the call cannot go on without it. */
      if (microphone_failed_to_start (self, GST_MESSAGE_SRC (message))) {
        self->microphone_failed = TRUE;
        text = g_strdup_printf ("The microphone could not be opened: %s (%s)", error->message,
                                GST_OBJECT_NAME (GST_MESSAGE_SRC (message)));
        /* The machine's sound, not a fault of ours: no warning, the call
         * ends with this as its message. */
        g_message ("%s", text);
        if (self->error_message == NULL)
          self->error_message = g_steal_pointer (&text);
        natter_call_pipeline_set_state (self, NATTER_CALL_PIPELINE_STATE_FAILED);
        break;
      }
      text =
        g_strdup_printf ("%s (%s)", error->message, GST_OBJECT_NAME (GST_MESSAGE_SRC (message)));
      natter_call_pipeline_fail (self, text);
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
  self->webrtcbin = natter_call_pipeline_make_element ("webrtcbin", "webrtc");
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

  g_signal_connect_object (self->pipeline, "deep-element-added",
                           G_CALLBACK (natter_call_pipeline_on_deep_element_added), self, 0);
  g_signal_connect_object (self->webrtcbin, "on-negotiation-needed",
                           G_CALLBACK (on_negotiation_needed), self, 0);
  g_signal_connect_object (self->webrtcbin, "on-ice-candidate", G_CALLBACK (on_ice_candidate), self,
                           0);
  g_signal_connect_object (self->webrtcbin, "pad-added",
                           G_CALLBACK (natter_call_pipeline_on_webrtc_pad_added), self, 0);
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

  return natter_call_pipeline_build_audio_receive_chain (self, error);
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
 * do) and no transport-wide congestion control is negotiated (see
 * build_answerer()). It costs nothing until loss is seen; then the share of FEC packets
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
      !natter_call_pipeline_have_element ("rtpulpfecenc") ||
      !natter_call_pipeline_have_element ("rtpredenc"))
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
  natter_call_pipeline_set_mark (self, NATTER_CALL_PIPELINE_MARK_STARTED);
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

  audio = natter_call_pipeline_build_audio_send_bin (self, OPUS_PAYLOAD_DEFAULT, error);
  if (audio == NULL || !natter_call_pipeline_attach_send_bin (self, audio, -1, error))
    return FALSE;

  if (self->with_video) {
    video =
      natter_call_pipeline_build_video_send_bin (self, VIDEO_CODEC_VP8, VP8_PAYLOAD_DEFAULT, error);
    if (video == NULL || !natter_call_pipeline_attach_send_bin (self, video, -1, error))
      return FALSE;
  }
  set_transceivers_nack (self);
  set_transceivers_fec (self, g_strcmp0 (g_getenv ("NATTER_CALL_FEC"), "1") == 0);

  natter_call_pipeline_set_state (self, NATTER_CALL_PIPELINE_STATE_NEGOTIATING);
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
        bin = natter_call_pipeline_build_audio_send_bin (self, pt, error);
    } else if (g_strcmp0 (kind, "video") == 0) {
      self->remote_has_video = TRUE;
      if (!self->with_video)
        continue;
      pt = find_payload (media, "VP8", FALSE);
      if (pt >= 0) {
        bin = natter_call_pipeline_build_video_send_bin (self, VIDEO_CODEC_VP8, pt, error);
      } else if (natter_call_pipeline_have_element ("openh264enc")) {
        pt = find_payload (media, "H264", TRUE);
        if (pt >= 0)
          bin = natter_call_pipeline_build_video_send_bin (self, VIDEO_CODEC_H264, pt, error);
      }
    } else {
      continue;
    }

    if (error != NULL && *error != NULL)
      return FALSE;
    if (bin != NULL && !natter_call_pipeline_attach_send_bin (self, bin, (int) i, error))
      return FALSE;
  }
  set_transceivers_nack (self);
  /* Not with transport-wide congestion control (unless NATTER_CALL_FEC=1
   * asks for it): GStreamer 1.22's RED encoder leaves the transport-wide
   * sequence number extension out of the video packets it wraps, so the
   * peer's feedback covered audio alone and the estimate never moved from
   * its start (Chromium calling natter-cli on an 800 kbit/s link: 300
   * kbit/s for the whole call, and Chromium had no estimate either; without
   * RED both follow the link). NACK and RTX still repair video. */
  set_transceivers_fec (
    self, offer_has_fec (offer) &&
            (self->twcc_extension_id == 0 || g_strcmp0 (g_getenv ("NATTER_CALL_FEC"), "1") == 0));

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
    natter_call_pipeline_set_state (self, NATTER_CALL_PIPELINE_STATE_NEGOTIATING);
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
