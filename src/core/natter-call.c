/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call"

#include "config.h"

#include "natter-call-media-proxy.h"
#include "natter-call-private.h"

#define STATS_INTERVAL_MS 2000
#define DEFAULT_RECOVERY_MS 15000

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (NatterCall, natter_call, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (NatterCallState,
                    natter_call_state,
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_STATE_RINGING_OUTGOING, "ringing-outgoing"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_STATE_RINGING_INCOMING, "ringing-incoming"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_STATE_CONNECTING, "connecting"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_STATE_CONNECTED, "connected"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_STATE_ENDED, "ended"))

G_DEFINE_ENUM_TYPE (
  NatterCallEndReason,
  natter_call_end_reason,
  G_DEFINE_ENUM_VALUE (NATTER_CALL_END_REASON_NONE, "none"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_END_REASON_HANGUP, "hangup"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_END_REASON_DECLINED, "declined"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_END_REASON_BUSY, "busy"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_END_REASON_NO_ANSWER, "no_answer"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_END_REASON_ANSWERED_ELSEWHERE, "answered_elsewhere"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_END_REASON_DECLINED_ELSEWHERE, "declined_elsewhere"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_END_REASON_CALLER_CANCELLED, "caller_cancelled"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_END_REASON_TIMEOUT, "timeout"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_END_REASON_UNAVAILABLE, "unavailable"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_END_REASON_FAILED, "failed"))

void
natter_call_notify (NatterCall *self, guint prop)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
update_network_quality (NatterCall *self)
{
  int quality = -1;
  gboolean poor = FALSE;

  if (self->media != NULL && self->state == NATTER_CALL_STATE_CONNECTED) {
    gboolean reduced = natter_call_media_get_video_reduced (self->media);
    /* A start-up estimate, still growing, says nothing of the link. */
    guint estimate = natter_call_media_get_bandwidth_limited (self->media)
                       ? natter_call_media_get_bandwidth_estimate (self->media)
                       : 0;

    quality = natter_call_stats_get_network_quality (
      natter_call_media_get_stats (self->media), estimate,
      natter_call_media_get_with_video (self->media) && self->camera_enabled, reduced);
    poor = reduced;
  }
  if (quality != self->network_quality) {
    self->network_quality = quality;
    natter_call_notify (self, PROP_NETWORK_QUALITY);
  }
  if (poor != self->poor_connection) {
    self->poor_connection = poor;
    natter_call_notify (self, PROP_POOR_CONNECTION);
  }
}

void
natter_call_set_state (NatterCall *self, NatterCallState state)
{
  if (self->state == state || self->state == NATTER_CALL_STATE_ENDED)
    return;
  if (!g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN)) {
    g_autofree char *name = g_enum_to_string (NATTER_TYPE_CALL_STATE, state);

    g_debug ("call %" G_GINT64_FORMAT ": %s", self->call_log_id, name);
  }
  self->state = state;
  natter_call_notify (self, PROP_STATE);
  update_network_quality (self);
}

void
natter_call_send_frame (NatterCall *self, NatterFrame *frame)
{
  /* Queued by the connection while it is down; signalling that is lost
   * during a cut is covered by ICE keeping the media path. */
  if (!natter_connection_send_frame (self->connection, frame))
    g_debug ("call frame %s not sent", natter_frame_type_to_string (frame->type));
  natter_frame_free (frame);
}

void
natter_call_send_candidate (NatterCall *self, const NatterIceCandidate *candidate)
{
  NatterFrame *frame = natter_frame_new (NATTER_FRAME_ICE_CANDIDATE);

  frame->call_log_id = self->call_log_id;
  frame->candidate = candidate != NULL ? natter_ice_candidate_copy (candidate) : NULL;
  natter_call_send_frame (self, frame);
}

static void
send_media_state (NatterCall *self)
{
  NatterFrame *frame;

  if (self->call_log_id == 0 || !natter_call_is_live (self))
    return;
  frame = natter_frame_new (NATTER_FRAME_CALL_MEDIA_STATE);
  frame->call_log_id = self->call_log_id;
  frame->audio_muted = self->muted;
  frame->video_enabled =
    self->camera_enabled && self->media != NULL && natter_call_media_get_with_video (self->media);
  natter_call_send_frame (self, frame);
}

static void
on_local_description (NatterCallMedia *pipeline,
                      const char *type,
                      const char *sdp,
                      NatterCall *self)
{
  NatterFrame *frame;
  g_autoptr (NatterSessionDescription) description = natter_session_description_new (type, sdp);

  /* Our candidates name their m-line's mid too (PROTOCOL.md's sdpMid). */
  g_strfreev (self->local_mids);
  self->local_mids = natter_sdp_get_mids (sdp);

  if (g_str_equal (type, "offer") && !self->incoming && !self->invitation_sent) {
    frame = natter_frame_new (NATTER_FRAME_CALL_INVITATION);
    frame->client_call_id = g_strdup (self->client_call_id);
    frame->to_profile_id = self->peer->profile_id;
    frame->to_profile_type = g_strdup (self->peer->profile_type);
    frame->call_type = g_strdup (self->call_type);
    frame->conversation_id = self->conversation_id;
    frame->offer = g_steal_pointer (&description);
    self->invitation_sent = TRUE;
    self->invited_at = g_get_monotonic_time ();
  } else if (g_str_equal (type, "answer") && self->incoming && !self->answer_sent) {
    frame = natter_frame_new (NATTER_FRAME_CALL_ANSWER);
    frame->call_log_id = self->call_log_id;
    frame->answer = g_steal_pointer (&description);
    self->answer_sent = TRUE;
  } else {
    /* A rebuilt pipeline after ICE failed, on either side: renegotiate in
     * the same call. */
    frame = natter_frame_new (NATTER_FRAME_CALL_UPDATE);
    frame->call_log_id = self->call_log_id;
    if (g_str_equal (type, "offer"))
      frame->offer = g_steal_pointer (&description);
    else
      frame->answer = g_steal_pointer (&description);
  }
  natter_call_send_frame (self, frame);
  if (g_str_equal (type, "answer"))
    send_media_state (self);
}

static void
on_local_candidate (NatterCallMedia *pipeline, guint mline, const char *candidate, NatterCall *self)
{
  g_autoptr (NatterIceCandidate) ice = NULL;
  const char *mid = NULL;

  if (self->local_mids != NULL && mline < g_strv_length (self->local_mids) &&
      *self->local_mids[mline] != '\0')
    mid = self->local_mids[mline];
  if (candidate != NULL)
    ice = natter_ice_candidate_new (candidate, mid, mline);

  if (self->call_log_id == 0) {
    g_ptr_array_add (self->pending_candidates,
                     ice != NULL ? natter_ice_candidate_copy (ice) : NULL);
    return;
  }
  natter_call_send_candidate (self, ice);
}

static gboolean
on_duration_tick (gpointer user_data)
{
  NatterCall *self = user_data;
  guint duration = (guint) ((g_get_monotonic_time () - self->connected_at) / G_USEC_PER_SEC);

  if (duration != self->duration) {
    self->duration = duration;
    natter_call_notify (self, PROP_DURATION);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_stats_tick (gpointer user_data)
{
  NatterCall *self = user_data;

  if (self->media != NULL)
    natter_call_media_update_stats (self->media);
  return G_SOURCE_CONTINUE;
}

static void
on_pipeline_stats (NatterCallMedia *pipeline, GParamSpec *pspec, NatterCall *self)
{
  natter_call_notify (self, PROP_STATS);
  update_network_quality (self);
}

static void
on_pipeline_adaptation (NatterCallMedia *pipeline, GParamSpec *pspec, NatterCall *self)
{
  update_network_quality (self);
}

static gboolean
on_recovery_timeout (gpointer user_data)
{
  NatterCall *self = user_data;
  g_autofree char *message = NULL;
  const char *cause =
    self->media != NULL ? natter_call_media_get_error_message (self->media) : NULL;

  /* A restarted session that never connected has no error of its own: the
   * cause is what ended the one before it. */
  if (cause == NULL)
    cause = self->last_error;

  self->recovery_id = 0;
  message =
    g_strdup_printf ("The media path did not recover within %g s%s%s", self->recovery_ms / 1000.0,
                     cause != NULL ? ": " : "", cause != NULL ? cause : "");
  natter_call_end (self, NATTER_CALL_END_REASON_FAILED, message, TRUE);
  return G_SOURCE_REMOVE;
}

void
natter_call_start_recovery (NatterCall *self)
{
  if (self->recovery_id == 0)
    self->recovery_id = g_timeout_add (self->recovery_ms, on_recovery_timeout, self);
}

static void replace_pipeline (NatterCall *self, gboolean with_video);

/* The call cannot go on for a cause of ours: the peer hears of it as of a
 * hang-up, or of a decline while our answer has not gone out. */
static void
end_failed (NatterCall *self, const char *message)
{
  NatterFrame *frame = NULL;

  if (self->incoming && !self->answer_sent)
    frame = natter_frame_new (NATTER_FRAME_CALL_DECLINED);
  else if (self->call_log_id != 0)
    frame = natter_frame_new (NATTER_FRAME_CALL_ENDED);
  else
    self->hang_up_pending = self->invitation_sent;
  if (frame != NULL) {
    frame->call_log_id = self->call_log_id;
    frame->reason = frame->type == NATTER_FRAME_CALL_DECLINED ? g_strdup ("declined") : NULL;
    natter_call_send_frame (self, frame);
  }
  natter_call_end (self, NATTER_CALL_END_REASON_FAILED, message, TRUE);
}

static void
on_pipeline_state (NatterCallMedia *pipeline, GParamSpec *pspec, NatterCall *self)
{
  NatterCallPipelineState state = natter_call_media_get_state (pipeline);

  if (pipeline != self->media || self->state == NATTER_CALL_STATE_ENDED)
    return;

  switch (state) {
    case NATTER_CALL_PIPELINE_STATE_CONNECTED:
      g_clear_handle_id (&self->recovery_id, g_source_remove);
      g_clear_pointer (&self->last_error, g_free);
      if (self->state == NATTER_CALL_STATE_CONNECTING) {
        self->connected_at = g_get_monotonic_time ();
        self->duration_id = g_timeout_add_seconds (1, on_duration_tick, self);
        natter_call_set_state (self, NATTER_CALL_STATE_CONNECTED);
        send_media_state (self);
      }
      break;
    case NATTER_CALL_PIPELINE_STATE_DISCONNECTED:
    case NATTER_CALL_PIPELINE_STATE_FAILED:
      /* No new session brings back a microphone that failed as it started. */
      if (natter_call_media_get_unrecoverable (pipeline)) {
        end_failed (self, natter_call_media_get_error_message (pipeline));
        break;
      }
      /* From here the call has recovery_ms to get its media back, however
       * many restarts that takes; the timer stops when a pipeline connects. */
      if (self->recovery_id == 0)
        self->recovery_id = g_timeout_add (self->recovery_ms, on_recovery_timeout, self);
      /* The ICE restart. webrtcbin 1.22 cannot restart ICE in place: the
       * side that notices builds a new session (new ICE credentials and
       * candidates) and offers it through call_update; the other answers
       * from a new session of its own. Disconnected counts too: it means no media
       * came for a while, and waiting longer does not bring it back. */
      if (natter_call_media_get_error_message (pipeline) != NULL) {
        g_free (self->last_error);
        self->last_error = g_strdup (natter_call_media_get_error_message (pipeline));
      }
      /* Either side may offer the restart (PROTOCOL.md): when only the
       * callee stops receiving, only the callee notices. */
      if (self->call_log_id != 0) {
        g_message ("Call %" G_GINT64_FORMAT ": media %s (%s), restarting ICE", self->call_log_id,
                   state == NATTER_CALL_PIPELINE_STATE_FAILED ? "failed" : "lost",
                   self->last_error != NULL ? self->last_error : "no cause");
        replace_pipeline (self, natter_call_media_get_with_video (pipeline));
      }
      break;
    case NATTER_CALL_PIPELINE_STATE_NEW:
    case NATTER_CALL_PIPELINE_STATE_NEGOTIATING:
    case NATTER_CALL_PIPELINE_STATE_CONNECTING:
    case NATTER_CALL_PIPELINE_STATE_CLOSED:
    default:
      break;
  }
}

/* The pipeline turns the camera off itself when it cannot open it. */
static void
on_pipeline_camera_enabled (NatterCallMedia *pipeline, GParamSpec *pspec, NatterCall *self)
{
  if (pipeline != self->media || natter_call_media_get_camera_enabled (pipeline))
    return;
  natter_call_set_camera_enabled (self, FALSE);
}

static void
drop_pipeline (NatterCall *self)
{
  if (self->media == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->media, self);
  natter_call_media_close (self->media);
  g_clear_object (&self->media);
}

/* The app runs each call's media in a process of its own (see
 * natter_call_media_proxy_set_helper_path()); natter-cli and the benches
 * keep it in this one. */
NatterCallMedia *
natter_call_create_pipeline (NatterCall *self, gboolean with_video, GError **error)
{
  NatterCallMedia *pipeline;

  if (natter_call_media_proxy_get_helper_path () != NULL) {
    pipeline = natter_call_media_proxy_new (with_video, error);
    if (pipeline == NULL)
      return NULL;
  } else {
    pipeline = NATTER_CALL_MEDIA (natter_call_pipeline_new (with_video));
  }

  if (self->video_sink != NULL)
    natter_call_media_set_video_sink (pipeline, self->video_sink);
  natter_call_media_set_ice_servers (pipeline, self->ice_servers);
  natter_call_media_set_devices (pipeline, self->microphone, self->camera, self->speaker);
  natter_call_media_set_muted (pipeline, self->muted);
  natter_call_media_set_camera_enabled (pipeline, self->camera_enabled);
  g_signal_connect (pipeline, "local-description", G_CALLBACK (on_local_description), self);
  g_signal_connect (pipeline, "local-candidate", G_CALLBACK (on_local_candidate), self);
  g_signal_connect (pipeline, "notify::state", G_CALLBACK (on_pipeline_state), self);
  g_signal_connect (pipeline, "notify::stats", G_CALLBACK (on_pipeline_stats), self);
  g_signal_connect (pipeline, "notify::bandwidth-estimate", G_CALLBACK (on_pipeline_adaptation),
                    self);
  g_signal_connect (pipeline, "notify::video-reduced", G_CALLBACK (on_pipeline_adaptation), self);
  g_signal_connect (pipeline, "notify::camera-enabled", G_CALLBACK (on_pipeline_camera_enabled),
                    self);

  drop_pipeline (self);
  self->media = pipeline;
  natter_call_notify (self, PROP_PIPELINE);

  if (self->stats_id == 0)
    self->stats_id = g_timeout_add (STATS_INTERVAL_MS, on_stats_tick, self);
  return pipeline;
}

static void
replace_pipeline (NatterCall *self, gboolean with_video)
{
  g_autoptr (GError) error = NULL;
  NatterCallMedia *pipeline = natter_call_create_pipeline (self, with_video, &error);

  self->restart_offered = TRUE;

  if (pipeline == NULL || !natter_call_media_start_offer (pipeline, &error))
    natter_call_end (self, NATTER_CALL_END_REASON_FAILED, error->message, TRUE);
}

void
natter_call_end (NatterCall *self,
                 NatterCallEndReason reason,
                 const char *message,
                 gboolean locally)
{
  /* The manager drops its reference when the state becomes ended. */
  G_GNUC_UNUSED g_autoptr (NatterCall) keep = g_object_ref (self);

  if (self->state == NATTER_CALL_STATE_ENDED)
    return;

  g_clear_handle_id (&self->duration_id, g_source_remove);
  g_clear_handle_id (&self->stats_id, g_source_remove);
  g_clear_handle_id (&self->recovery_id, g_source_remove);

  g_object_freeze_notify (G_OBJECT (self));
  self->end_reason = reason;
  natter_call_notify (self, PROP_END_REASON);
  if (message != NULL) {
    g_free (self->end_message);
    self->end_message = g_strdup (message);
    natter_call_notify (self, PROP_END_MESSAGE);
  }
  if (self->ended_locally != locally) {
    self->ended_locally = locally;
    natter_call_notify (self, PROP_ENDED_LOCALLY);
  }
  if (self->peer_ringing) {
    self->peer_ringing = FALSE;
    natter_call_notify (self, PROP_PEER_RINGING);
  }
  natter_call_set_state (self, NATTER_CALL_STATE_ENDED);
  g_object_thaw_notify (G_OBJECT (self));

  /* The counters stay readable: the pipeline is stopped, not dropped. */
  if (self->media != NULL)
    natter_call_media_close (self->media);
  g_ptr_array_set_size (self->early_candidates, 0);
  g_ptr_array_set_size (self->pending_candidates, 0);
}

static void
natter_call_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterCall *self = NATTER_CALL (object);

  switch (prop_id) {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_END_REASON:
      g_value_set_enum (value, self->end_reason);
      break;
    case PROP_END_MESSAGE:
      g_value_set_string (value, self->end_message);
      break;
    case PROP_ENDED_LOCALLY:
      g_value_set_boolean (value, self->ended_locally);
      break;
    case PROP_INCOMING:
      g_value_set_boolean (value, self->incoming);
      break;
    case PROP_CALL_LOG_ID:
      g_value_set_int64 (value, self->call_log_id);
      break;
    case PROP_PEER:
      g_value_set_boxed (value, self->peer);
      break;
    case PROP_CALL_TYPE:
      g_value_set_string (value, self->call_type);
      break;
    case PROP_PEER_RINGING:
      g_value_set_boolean (value, self->peer_ringing);
      break;
    case PROP_SILENCED:
      g_value_set_boolean (value, self->silenced);
      break;
    case PROP_DURATION:
      g_value_set_uint (value, self->duration);
      break;
    case PROP_MUTED:
      g_value_set_boolean (value, self->muted);
      break;
    case PROP_CAMERA_ENABLED:
      g_value_set_boolean (value, self->camera_enabled);
      break;
    case PROP_REMOTE_MUTED:
      g_value_set_boolean (value, self->remote_muted);
      break;
    case PROP_REMOTE_CAMERA_ENABLED:
      g_value_set_boolean (value, self->remote_camera_enabled);
      break;
    case PROP_STATS:
      g_value_set_boxed (value, natter_call_get_stats (self));
      break;
    case PROP_NETWORK_QUALITY:
      g_value_set_int (value, self->network_quality);
      break;
    case PROP_AVATAR:
      g_value_set_object (value, self->avatar);
      break;
    case PROP_POOR_CONNECTION:
      g_value_set_boolean (value, self->poor_connection);
      break;
    case PROP_PIPELINE:
      g_value_set_object (value, self->media);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  NatterCall *self = NATTER_CALL (object);

  switch (prop_id) {
    case PROP_MUTED:
      natter_call_set_muted (self, g_value_get_boolean (value));
      break;
    case PROP_CAMERA_ENABLED:
      natter_call_set_camera_enabled (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_dispose (GObject *object)
{
  NatterCall *self = NATTER_CALL (object);

  g_clear_handle_id (&self->duration_id, g_source_remove);
  g_clear_handle_id (&self->stats_id, g_source_remove);
  g_clear_handle_id (&self->recovery_id, g_source_remove);
  drop_pipeline (self);
  g_clear_object (&self->connection);
  g_clear_object (&self->video_sink);
  g_clear_object (&self->microphone);
  g_clear_object (&self->camera);
  g_clear_object (&self->speaker);

  G_OBJECT_CLASS (natter_call_parent_class)->dispose (object);
}

static void
natter_call_finalize (GObject *object)
{
  NatterCall *self = NATTER_CALL (object);

  g_free (self->end_message);
  g_free (self->last_error);
  g_free (self->client_call_id);
  g_free (self->call_type);
  g_clear_pointer (&self->peer, natter_profile_free);
  g_clear_object (&self->avatar);
  g_clear_pointer (&self->remote_offer, natter_session_description_free);
  g_clear_pointer (&self->early_candidates, g_ptr_array_unref);
  g_clear_pointer (&self->pending_candidates, g_ptr_array_unref);
  g_clear_pointer (&self->local_mids, g_strfreev);
  g_clear_pointer (&self->ice_servers, g_ptr_array_unref);

  G_OBJECT_CLASS (natter_call_parent_class)->finalize (object);
}

static void
natter_call_class_init (NatterCallClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags readable = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  GParamFlags writable = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = natter_call_get_property;
  object_class->set_property = natter_call_set_property;
  object_class->dispose = natter_call_dispose;
  object_class->finalize = natter_call_finalize;

  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, NATTER_TYPE_CALL_STATE,
                                              NATTER_CALL_STATE_RINGING_OUTGOING, readable);
  properties[PROP_END_REASON] = g_param_spec_enum (
    "end-reason", NULL, NULL, NATTER_TYPE_CALL_END_REASON, NATTER_CALL_END_REASON_NONE, readable);
  /**
   * NatterCall:end-message:
   *
   * The peer's reason word, or why the media failed.
   */
  properties[PROP_END_MESSAGE] = g_param_spec_string ("end-message", NULL, NULL, NULL, readable);
  properties[PROP_ENDED_LOCALLY] =
    g_param_spec_boolean ("ended-locally", NULL, NULL, FALSE, readable);
  properties[PROP_INCOMING] = g_param_spec_boolean ("incoming", NULL, NULL, FALSE, readable);
  properties[PROP_CALL_LOG_ID] =
    g_param_spec_int64 ("call-log-id", NULL, NULL, 0, G_MAXINT64, 0, readable);
  properties[PROP_PEER] = g_param_spec_boxed ("peer", NULL, NULL, NATTER_TYPE_PROFILE, readable);
  properties[PROP_CALL_TYPE] = g_param_spec_string ("call-type", NULL, NULL, "video", readable);
  /**
   * NatterCall:peer-ringing:
   *
   * For an outgoing call: the server reported that the callee's devices
   * ring (ringback plays).
   */
  properties[PROP_PEER_RINGING] =
    g_param_spec_boolean ("peer-ringing", NULL, NULL, FALSE, readable);
  properties[PROP_SILENCED] = g_param_spec_boolean ("silenced", NULL, NULL, FALSE, readable);
  properties[PROP_DURATION] = g_param_spec_uint ("duration", NULL, NULL, 0, G_MAXUINT, 0, readable);
  properties[PROP_MUTED] = g_param_spec_boolean ("muted", NULL, NULL, FALSE, writable);
  properties[PROP_CAMERA_ENABLED] =
    g_param_spec_boolean ("camera-enabled", NULL, NULL, TRUE, writable);
  properties[PROP_REMOTE_MUTED] =
    g_param_spec_boolean ("remote-muted", NULL, NULL, FALSE, readable);
  properties[PROP_REMOTE_CAMERA_ENABLED] =
    g_param_spec_boolean ("remote-camera-enabled", NULL, NULL, TRUE, readable);
  /**
   * NatterCall:stats:
   *
   * Round-trip time, loss and bitrates, refreshed every 2 s during the call.
   */
  properties[PROP_STATS] =
    g_param_spec_boxed ("stats", NULL, NULL, NATTER_TYPE_CALL_STATS, readable);
  properties[PROP_PIPELINE] =
    g_param_spec_object ("pipeline", NULL, NULL, NATTER_TYPE_CALL_MEDIA, readable);
  /**
   * NatterCall:network-quality:
   *
   * 0 (very poor) to 4 (excellent) while connected, from the loss and
   * round trip both ways and the bandwidth estimate; -1 when unknown.
   */
  properties[PROP_NETWORK_QUALITY] =
    g_param_spec_int ("network-quality", NULL, NULL, -1, 4, -1, readable);
  /**
   * NatterCall:poor-connection:
   *
   * Whether the video we send is being reduced (smaller or slower) for
   * want of bandwidth: the call view says so in words.
   */
  properties[PROP_POOR_CONNECTION] =
    g_param_spec_boolean ("poor-connection", NULL, NULL, FALSE, readable);
  /**
   * NatterCall:avatar:
   *
   * The peer's picture (the image bytes of its avatar URL), or %NULL while
   * unknown or when the peer has none.
   */
  properties[PROP_AVATAR] =
    g_param_spec_object ("avatar", NULL, NULL, G_TYPE_LOADABLE_ICON, readable);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_call_init (NatterCall *self)
{
  const char *recovery = g_getenv ("NATTER_CALL_RECOVERY_MS");

  self->early_candidates =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_ice_candidate_free);
  self->pending_candidates =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_ice_candidate_free);
  self->camera_enabled = TRUE;
  self->camera_available = TRUE;
  self->network_quality = -1;
  self->remote_camera_enabled = TRUE;
  self->recovery_ms = DEFAULT_RECOVERY_MS;
  if (recovery != NULL)
    self->recovery_ms = (guint) CLAMP (g_ascii_strtoull (recovery, NULL, 10), 100, 600000);
}

/**
 * natter_call_new_outgoing:
 * @connection: the connection to signal through
 * @peer: whom to call
 * @call_type: "voice" or "video"
 * @conversation_id: the conversation, or 0
 *
 * Returns: (transfer full): a call; natter_call_start() rings the peer
 */
NatterCall *
natter_call_new_outgoing (NatterConnection *connection,
                          const NatterProfile *peer,
                          const char *call_type,
                          gint64 conversation_id)
{
  NatterCall *self;

  g_return_val_if_fail (NATTER_IS_CONNECTION (connection), NULL);
  g_return_val_if_fail (peer != NULL, NULL);
  g_return_val_if_fail (natter_call_type_is_valid (call_type), NULL);

  self = g_object_new (NATTER_TYPE_CALL, NULL);
  self->connection = g_object_ref (connection);
  self->peer = natter_profile_copy (peer);
  self->call_type = g_strdup (call_type);
  self->conversation_id = conversation_id;
  self->client_call_id = g_uuid_string_random ();
  self->state = NATTER_CALL_STATE_RINGING_OUTGOING;
  return self;
}

/**
 * natter_call_new_incoming:
 * @connection: the connection to signal through
 * @invitation: the call_invitation frame
 *
 * Returns: (transfer full) (nullable): a ringing call, or %NULL if the
 *   invitation lacks what a call needs
 */
NatterCall *
natter_call_new_incoming (NatterConnection *connection, const NatterFrame *invitation)
{
  NatterCall *self;

  g_return_val_if_fail (NATTER_IS_CONNECTION (connection), NULL);
  g_return_val_if_fail (invitation != NULL, NULL);

  if (invitation->call_log_id <= 0 || invitation->offer == NULL || invitation->offer->sdp == NULL ||
      invitation->from_profile_type == NULL)
    return NULL;

  self = g_object_new (NATTER_TYPE_CALL, NULL);
  self->connection = g_object_ref (connection);
  self->incoming = TRUE;
  self->call_log_id = invitation->call_log_id;
  self->peer = natter_profile_new (invitation->from_profile_id, invitation->from_profile_type,
                                   invitation->from_name, invitation->from_avatar);
  self->call_type =
    g_strdup (natter_call_type_is_valid (invitation->call_type) ? invitation->call_type : "video");
  self->conversation_id = invitation->conversation_id;
  self->remote_offer = natter_session_description_copy (invitation->offer);
  self->state = NATTER_CALL_STATE_RINGING_INCOMING;
  self->invited_at = g_get_monotonic_time ();
  return self;
}

/**
 * natter_call_start:
 * @self: an outgoing #NatterCall
 * @error: return location for a #GError
 *
 * Builds the media pipeline and sends the invitation once the offer is ready.
 *
 * Returns: %TRUE if the pipeline started
 */
gboolean
natter_call_start (NatterCall *self, GError **error)
{
  NatterCallMedia *pipeline;

  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  g_return_val_if_fail (!self->incoming && self->media == NULL, FALSE);

  pipeline = natter_call_create_pipeline (
    self, g_str_equal (self->call_type, "video") && self->camera_available, error);
  if (pipeline == NULL || !natter_call_media_start_offer (pipeline, error)) {
    natter_call_end (self, NATTER_CALL_END_REASON_FAILED,
                     error != NULL && *error != NULL ? (*error)->message : NULL, TRUE);
    return FALSE;
  }
  return TRUE;
}

/**
 * natter_call_accept:
 * @self: a ringing incoming #NatterCall
 * @with_video: send our camera (a video call can be answered voice-only)
 *
 * Builds the answerer from the caller's offer, applies the candidates that
 * arrived while ringing and sends the answer.
 *
 * Returns: %TRUE if the call is now connecting
 */
gboolean
natter_call_accept (NatterCall *self, gboolean with_video)
{
  g_autoptr (GError) error = NULL;
  NatterCallMedia *pipeline;

  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);

  if (self->state != NATTER_CALL_STATE_RINGING_INCOMING)
    return FALSE;

  self->accepted_at = g_get_monotonic_time ();
  natter_call_set_state (self, NATTER_CALL_STATE_CONNECTING);
  pipeline = natter_call_create_pipeline (
    self, with_video && self->camera_available && g_str_equal (self->call_type, "video"), &error);
  if (pipeline == NULL || !natter_call_media_set_remote_description (
                            pipeline, "offer", self->remote_offer->sdp, &error)) {
    end_failed (self, error->message);
    return FALSE;
  }

  for (guint i = 0; i < self->early_candidates->len; i++)
    natter_call_add_remote_candidate (self, g_ptr_array_index (self->early_candidates, i));
  g_ptr_array_set_size (self->early_candidates, 0);
  return TRUE;
}

static void
decline_with (NatterCall *self, const char *reason, NatterCallEndReason end_reason)
{
  NatterFrame *frame;

  if (self->state != NATTER_CALL_STATE_RINGING_INCOMING)
    return;
  frame = natter_frame_new (NATTER_FRAME_CALL_DECLINED);
  frame->call_log_id = self->call_log_id;
  frame->reason = g_strdup (reason);
  natter_call_send_frame (self, frame);
  natter_call_end (self, end_reason, reason, TRUE);
}

/**
 * natter_call_decline:
 * @self: a ringing incoming #NatterCall
 *
 * Declines; the caller hears "declined" and our other devices stop ringing.
 */
void
natter_call_decline (NatterCall *self)
{
  g_return_if_fail (NATTER_IS_CALL (self));
  decline_with (self, "declined", NATTER_CALL_END_REASON_DECLINED);
}

/**
 * natter_call_decline_busy:
 * @self: a ringing incoming #NatterCall
 *
 * Declines because we are in another call.
 */
void
natter_call_decline_busy (NatterCall *self)
{
  g_return_if_fail (NATTER_IS_CALL (self));
  decline_with (self, "busy", NATTER_CALL_END_REASON_BUSY);
}

/**
 * natter_call_hang_up:
 * @self: a #NatterCall
 *
 * Ends the call from our side in any state: declines a ringing incoming
 * call, cancels a ringing outgoing one, hangs up a live one.
 */
void
natter_call_hang_up (NatterCall *self)
{
  g_return_if_fail (NATTER_IS_CALL (self));

  if (self->state == NATTER_CALL_STATE_ENDED)
    return;
  if (self->state == NATTER_CALL_STATE_RINGING_INCOMING) {
    natter_call_decline (self);
    return;
  }

  if (self->call_log_id != 0) {
    NatterFrame *frame = natter_frame_new (NATTER_FRAME_CALL_ENDED);

    frame->call_log_id = self->call_log_id;
    natter_call_send_frame (self, frame);
  } else if (self->invitation_sent) {
    /* The server has not named the call yet: end it when it does. */
    self->hang_up_pending = TRUE;
  }
  natter_call_end (self, NATTER_CALL_END_REASON_HANGUP, NULL, TRUE);
}

/**
 * natter_call_set_muted:
 * @self: a #NatterCall
 * @muted: whether our microphone is muted
 *
 * The peer learns it through call_media_state.
 */
void
natter_call_set_muted (NatterCall *self, gboolean muted)
{
  g_return_if_fail (NATTER_IS_CALL (self));

  muted = !!muted;
  if (self->muted == muted)
    return;
  self->muted = muted;
  if (self->media != NULL)
    natter_call_media_set_muted (self->media, muted);
  send_media_state (self);
  natter_call_notify (self, PROP_MUTED);
}

/**
 * natter_call_set_camera_enabled:
 * @self: a #NatterCall
 * @enabled: whether we send video
 */
void
natter_call_set_camera_enabled (NatterCall *self, gboolean enabled)
{
  g_return_if_fail (NATTER_IS_CALL (self));

  enabled = !!enabled;
  if (self->camera_enabled == enabled)
    return;
  self->camera_enabled = enabled;
  if (self->media != NULL)
    natter_call_media_set_camera_enabled (self->media, enabled);
  send_media_state (self);
  natter_call_notify (self, PROP_CAMERA_ENABLED);
}

/**
 * natter_call_silence:
 * @self: a ringing incoming #NatterCall
 *
 * Stops the ringtone for this call without declining it.
 */
void
natter_call_silence (NatterCall *self)
{
  g_return_if_fail (NATTER_IS_CALL (self));

  if (self->silenced || self->state != NATTER_CALL_STATE_RINGING_INCOMING)
    return;
  self->silenced = TRUE;
  natter_call_notify (self, PROP_SILENCED);
}

/**
 * natter_call_get_avatar:
 * @self: a #NatterCall
 *
 * Returns: (transfer none) (nullable): the peer's picture
 */
GLoadableIcon *
natter_call_get_avatar (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), NULL);
  return self->avatar;
}

/**
 * natter_call_set_avatar:
 * @self: a #NatterCall
 * @avatar: (nullable): the peer's picture, fetched by whoever shows the call
 */
void
natter_call_set_avatar (NatterCall *self, GLoadableIcon *avatar)
{
  g_return_if_fail (NATTER_IS_CALL (self));
  g_return_if_fail (avatar == NULL || G_IS_LOADABLE_ICON (avatar));

  if (g_set_object (&self->avatar, avatar))
    natter_call_notify (self, PROP_AVATAR);
}

NatterCallState
natter_call_get_state (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), NATTER_CALL_STATE_ENDED);
  return self->state;
}

/**
 * natter_call_is_ringing:
 * @self: a #NatterCall
 *
 * Returns: whether the call rings, either way
 */
gboolean
natter_call_is_ringing (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  return self->state == NATTER_CALL_STATE_RINGING_INCOMING ||
         self->state == NATTER_CALL_STATE_RINGING_OUTGOING;
}

/**
 * natter_call_is_live:
 * @self: a #NatterCall
 *
 * Returns: whether the call was answered and has not ended
 */
gboolean
natter_call_is_live (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  return self->state == NATTER_CALL_STATE_CONNECTING || self->state == NATTER_CALL_STATE_CONNECTED;
}

NatterCallEndReason
natter_call_get_end_reason (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), NATTER_CALL_END_REASON_NONE);
  return self->end_reason;
}

/**
 * natter_call_get_end_message:
 * @self: a #NatterCall
 *
 * Returns: (nullable): the cause of the end, if one was given
 */
const char *
natter_call_get_end_message (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), NULL);
  return self->end_message;
}

gboolean
natter_call_get_ended_locally (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  return self->ended_locally;
}

gboolean
natter_call_get_incoming (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  return self->incoming;
}

gint64
natter_call_get_call_log_id (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), 0);
  return self->call_log_id;
}

/**
 * natter_call_get_client_call_id:
 * @self: a #NatterCall
 *
 * Returns: (nullable): our id for an outgoing call
 */
const char *
natter_call_get_client_call_id (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), NULL);
  return self->client_call_id;
}

/**
 * natter_call_get_peer:
 * @self: a #NatterCall
 *
 * Returns: (transfer none): the other party
 */
const NatterProfile *
natter_call_get_peer (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), NULL);
  return self->peer;
}

const char *
natter_call_get_call_type (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), NULL);
  return self->call_type;
}

gboolean
natter_call_get_peer_ringing (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  return self->peer_ringing;
}

gboolean
natter_call_get_silenced (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  return self->silenced;
}

/**
 * natter_call_get_duration:
 * @self: a #NatterCall
 *
 * Returns: seconds since the media connected
 */
guint
natter_call_get_duration (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), 0);
  return self->duration;
}

gboolean
natter_call_get_muted (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  return self->muted;
}

gboolean
natter_call_get_camera_enabled (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  return self->camera_enabled;
}

gboolean
natter_call_get_remote_muted (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  return self->remote_muted;
}

gboolean
natter_call_get_remote_camera_enabled (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  return self->remote_camera_enabled;
}

/**
 * natter_call_get_network_quality:
 * @self: a #NatterCall
 *
 * Returns: see #NatterCall:network-quality
 */
int
natter_call_get_network_quality (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), -1);
  return self->network_quality;
}

/**
 * natter_call_get_poor_connection:
 * @self: a #NatterCall
 *
 * Returns: see #NatterCall:poor-connection
 */
gboolean
natter_call_get_poor_connection (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  return self->poor_connection;
}

/**
 * natter_call_get_stats:
 * @self: a #NatterCall
 *
 * Returns: (transfer none) (nullable): the latest statistics
 */
const NatterCallStats *
natter_call_get_stats (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), NULL);
  return self->media != NULL ? natter_call_media_get_stats (self->media) : NULL;
}

/**
 * natter_call_get_pipeline:
 * @self: a #NatterCall
 *
 * Returns: (transfer none) (nullable): the media side, once built, when
 *   it runs in this process
 */
NatterCallPipeline *
natter_call_get_pipeline (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), NULL);
  return NATTER_IS_CALL_PIPELINE (self->media) ? NATTER_CALL_PIPELINE (self->media) : NULL;
}

/**
 * natter_call_get_media:
 * @self: a #NatterCall
 *
 * Returns: (transfer none) (nullable): the media side, once built: a
 *   #NatterCallPipeline or a #NatterCallMediaProxy
 */
NatterCallMedia *
natter_call_get_media (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), NULL);
  return self->media;
}

/**
 * natter_call_set_video_sink:
 * @self: a #NatterCall
 * @sink: (nullable): where the remote video goes
 */
void
natter_call_set_video_sink (NatterCall *self, GstElement *sink)
{
  g_return_if_fail (NATTER_IS_CALL (self));

  if (sink != NULL)
    gst_object_ref_sink (sink);
  g_clear_object (&self->video_sink);
  self->video_sink = sink;
  if (self->media != NULL)
    natter_call_media_set_video_sink (self->media, sink);
}

/**
 * natter_call_set_ice_servers:
 * @self: a #NatterCall
 * @ice_servers: (element-type NatterIceServer) (nullable): the servers
 */
void
natter_call_set_ice_servers (NatterCall *self, GPtrArray *ice_servers)
{
  g_return_if_fail (NATTER_IS_CALL (self));

  g_clear_pointer (&self->ice_servers, g_ptr_array_unref);
  if (ice_servers != NULL)
    self->ice_servers = g_ptr_array_ref (ice_servers);
}

/**
 * natter_call_set_devices:
 * @self: a #NatterCall
 * @microphone: (nullable): the chosen microphone
 * @camera: (nullable): the chosen camera
 * @speaker: (nullable): the chosen speaker
 *
 * Before the call connects they are what its pipeline opens; during the
 * call a changed one replaces the old at once, without renegotiation.
 */
void
natter_call_set_devices (NatterCall *self,
                         NatterDevice *microphone,
                         NatterDevice *camera,
                         NatterDevice *speaker)
{
  g_return_if_fail (NATTER_IS_CALL (self));

  g_set_object (&self->microphone, microphone);
  g_set_object (&self->camera, camera);
  g_set_object (&self->speaker, speaker);
  /* During the call the pipeline switches at once. */
  if (self->media != NULL)
    natter_call_media_set_devices (self->media, microphone, camera, speaker);
}

/**
 * natter_call_set_camera_available:
 * @self: a #NatterCall
 * @available: whether a camera exists
 *
 * Without one, a video call is made or answered voice-only: no failure.
 */
void
natter_call_set_camera_available (NatterCall *self, gboolean available)
{
  g_return_if_fail (NATTER_IS_CALL (self));
  self->camera_available = !!available;
}

gint64
natter_call_get_invited_at (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), 0);
  return self->invited_at;
}

/**
 * natter_call_get_ringing_at:
 * @self: an outgoing #NatterCall
 *
 * Returns: g_get_monotonic_time() when call_ringing arrived, or 0
 */
gint64
natter_call_get_ringing_at (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), 0);
  return self->ringing_at;
}

/**
 * natter_call_get_accepted_at:
 * @self: a #NatterCall
 *
 * Returns: g_get_monotonic_time() of accept (callee) or of the answer's
 *   arrival (caller), or 0
 */
gint64
natter_call_get_accepted_at (NatterCall *self)
{
  g_return_val_if_fail (NATTER_IS_CALL (self), 0);
  return self->accepted_at;
}
