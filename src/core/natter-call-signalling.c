/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call"

/* The peer's side of a call: the frames the call manager routes to it. */

#include "config.h"

#include "natter-call-private.h"

static NatterCallEndReason
reason_from_string (const char *reason, NatterCallEndReason fallback)
{
  GEnumClass *klass;
  GEnumValue *value;

  if (reason == NULL)
    return fallback;
  klass = g_type_class_ref (NATTER_TYPE_CALL_END_REASON);
  value = g_enum_get_value_by_nick (klass, reason);
  g_type_class_unref (klass);
  if (value == NULL || value->value == NATTER_CALL_END_REASON_NONE)
    return fallback;
  return value->value;
}

/* Before accept there is no pipeline: the peer's early candidates wait. */
void
natter_call_add_remote_candidate (NatterCall *self, const NatterIceCandidate *candidate)
{
  if (candidate == NULL || candidate->candidate == NULL)
    return;

  if (self->media == NULL) {
    /* Early candidates wait for accept. */
    g_ptr_array_add (self->early_candidates, natter_ice_candidate_copy (candidate));
    return;
  }
  natter_call_media_add_remote_candidate (
    self->media, candidate->sdp_mline_index >= 0 ? (guint) candidate->sdp_mline_index : 0,
    candidate->candidate);
}

static void
handle_update (NatterCall *self, const NatterFrame *frame)
{
  g_autoptr (GError) error = NULL;

  if (!natter_call_is_live (self))
    return;

  if (frame->offer != NULL) {
    gboolean with_video = self->media != NULL && natter_call_media_get_with_video (self->media);
    NatterCallMedia *pipeline;

    /* Glare between two restarts: the caller's offer wins, the callee drops
     * its own session and answers the caller's. */
    if (!self->incoming && self->restart_offered) {
      g_debug ("Call %" G_GINT64_FORMAT ": ignoring the callee's restart offer, ours is out",
               self->call_log_id);
      return;
    }
    self->restart_offered = FALSE;
    pipeline = natter_call_create_pipeline (self, with_video, &error);

    natter_call_start_recovery (self);
    if (pipeline == NULL ||
        !natter_call_media_set_remote_description (pipeline, "offer", frame->offer->sdp, &error))
      natter_call_end (self, NATTER_CALL_END_REASON_FAILED, error->message, TRUE);
  } else if (frame->answer != NULL && self->media != NULL) {
    self->restart_offered = FALSE;
    if (!natter_call_media_set_remote_description (self->media, "answer", frame->answer->sdp,
                                                   &error))
      g_debug ("Ignoring a call_update answer: %s", error->message);
  }
}

/**
 * natter_call_handle_frame:
 * @self: a #NatterCall
 * @frame: a call frame addressed to this call (untrusted content)
 *
 * The call manager routes frames here by call_log_id or client_call_id.
 *
 * Returns: %TRUE if the frame meant something to this call
 */
gboolean
natter_call_handle_frame (NatterCall *self, const NatterFrame *frame)
{
  g_autoptr (GError) error = NULL;

  g_return_val_if_fail (NATTER_IS_CALL (self), FALSE);
  g_return_val_if_fail (frame != NULL, FALSE);

  if (self->state == NATTER_CALL_STATE_ENDED)
    return FALSE;

  switch (frame->type) {
    case NATTER_FRAME_CALL_RINGING:
      if (self->incoming || self->call_log_id != 0 || frame->call_log_id <= 0)
        return FALSE;
      self->call_log_id = frame->call_log_id;
      self->ringing_at = g_get_monotonic_time ();
      natter_call_notify (self, PROP_CALL_LOG_ID);
      if (self->hang_up_pending) {
        NatterFrame *ended = natter_frame_new (NATTER_FRAME_CALL_ENDED);

        ended->call_log_id = self->call_log_id;
        natter_call_send_frame (self, ended);
        return TRUE;
      }
      for (guint i = 0; i < self->pending_candidates->len; i++)
        natter_call_send_candidate (self, g_ptr_array_index (self->pending_candidates, i));
      g_ptr_array_set_size (self->pending_candidates, 0);
      self->peer_ringing = TRUE;
      natter_call_notify (self, PROP_PEER_RINGING);
      return TRUE;

    case NATTER_FRAME_CALL_UNAVAILABLE:
      if (frame->call_log_id > 0 && self->call_log_id == 0) {
        self->call_log_id = frame->call_log_id;
        natter_call_notify (self, PROP_CALL_LOG_ID);
      }
      natter_call_end (self, NATTER_CALL_END_REASON_UNAVAILABLE, frame->reason, FALSE);
      return TRUE;

    case NATTER_FRAME_CALL_ANSWER:
      if (self->incoming || self->state != NATTER_CALL_STATE_RINGING_OUTGOING ||
          frame->answer == NULL)
        return FALSE;
      self->accepted_at = g_get_monotonic_time ();
      self->peer_ringing = FALSE;
      natter_call_notify (self, PROP_PEER_RINGING);
      natter_call_set_state (self, NATTER_CALL_STATE_CONNECTING);
      if (!natter_call_media_set_remote_description (self->media, "answer", frame->answer->sdp,
                                                     &error)) {
        NatterFrame *ended = natter_frame_new (NATTER_FRAME_CALL_ENDED);

        ended->call_log_id = self->call_log_id;
        natter_call_send_frame (self, ended);
        natter_call_end (self, NATTER_CALL_END_REASON_FAILED, error->message, TRUE);
      }
      return TRUE;

    case NATTER_FRAME_CALL_DECLINED:
      natter_call_end (self,
                       g_strcmp0 (frame->reason, "busy") == 0 ? NATTER_CALL_END_REASON_BUSY
                                                              : NATTER_CALL_END_REASON_DECLINED,
                       frame->reason, FALSE);
      return TRUE;

    case NATTER_FRAME_CALL_CANCELLED:
      natter_call_end (self,
                       reason_from_string (frame->reason, NATTER_CALL_END_REASON_CALLER_CANCELLED),
                       frame->reason, FALSE);
      return TRUE;

    case NATTER_FRAME_CALL_ENDED:
      natter_call_end (self, reason_from_string (frame->reason, NATTER_CALL_END_REASON_HANGUP),
                       frame->reason, FALSE);
      return TRUE;

    case NATTER_FRAME_ICE_CANDIDATE:
      natter_call_add_remote_candidate (self, frame->candidate);
      return TRUE;

    case NATTER_FRAME_CALL_MEDIA_STATE:
      if (self->remote_muted != frame->audio_muted) {
        self->remote_muted = frame->audio_muted;
        natter_call_notify (self, PROP_REMOTE_MUTED);
      }
      if (self->remote_camera_enabled != frame->video_enabled) {
        self->remote_camera_enabled = frame->video_enabled;
        natter_call_notify (self, PROP_REMOTE_CAMERA_ENABLED);
      }
      return TRUE;

    case NATTER_FRAME_CALL_UPDATE:
      handle_update (self, frame);
      return TRUE;

    default:
      return FALSE;
  }
}
