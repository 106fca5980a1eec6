/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-media"

#include "config.h"

#include "natter-call-media.h"

/* What NatterCall asks of the media side of a call, so that it does not
 * care whether the pipeline runs in this process (natter-cli, the benches)
 * or in the helper the app spawns for each call (NatterCallMediaProxy,
 * issue 20: the call stack's libraries leave with that process). */

enum { SIGNAL_LOCAL_DESCRIPTION, SIGNAL_LOCAL_CANDIDATE, N_SIGNALS };

static guint signals[N_SIGNALS];

G_DEFINE_INTERFACE (NatterCallMedia, natter_call_media, G_TYPE_OBJECT)

static void
natter_call_media_default_init (NatterCallMediaInterface *iface)
{
  /**
   * NatterCallMedia::local-description:
   * @type: "offer" or "answer"
   * @sdp: the description to send to the peer
   */
  signals[SIGNAL_LOCAL_DESCRIPTION] =
    g_signal_new ("local-description", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * NatterCallMedia::local-candidate:
   * @sdp_mline_index: the m-line
   * @candidate: the ICE candidate to send to the peer
   */
  signals[SIGNAL_LOCAL_CANDIDATE] =
    g_signal_new ("local-candidate", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_STRING);
}

guint
natter_call_media_local_description_signal (void)
{
  g_type_default_interface_unref (g_type_default_interface_ref (NATTER_TYPE_CALL_MEDIA));
  return signals[SIGNAL_LOCAL_DESCRIPTION];
}

guint
natter_call_media_local_candidate_signal (void)
{
  g_type_default_interface_unref (g_type_default_interface_ref (NATTER_TYPE_CALL_MEDIA));
  return signals[SIGNAL_LOCAL_CANDIDATE];
}

gboolean
natter_call_media_start_offer (NatterCallMedia *self, GError **error)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA (self), FALSE);
  return NATTER_CALL_MEDIA_GET_IFACE (self)->start_offer (self, error);
}

gboolean
natter_call_media_set_remote_description (NatterCallMedia *self,
                                          const char *type,
                                          const char *sdp,
                                          GError **error)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA (self), FALSE);
  return NATTER_CALL_MEDIA_GET_IFACE (self)->set_remote_description (self, type, sdp, error);
}

NatterCallPipelineState
natter_call_media_get_state (NatterCallMedia *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA (self), NATTER_CALL_PIPELINE_STATE_CLOSED);
  return NATTER_CALL_MEDIA_GET_IFACE (self)->get_state (self);
}

const char *
natter_call_media_get_error_message (NatterCallMedia *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA (self), NULL);
  return NATTER_CALL_MEDIA_GET_IFACE (self)->get_error_message (self);
}

gboolean
natter_call_media_get_unrecoverable (NatterCallMedia *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA (self), FALSE);
  return NATTER_CALL_MEDIA_GET_IFACE (self)->get_unrecoverable (self);
}

gboolean
natter_call_media_get_with_video (NatterCallMedia *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA (self), FALSE);
  return NATTER_CALL_MEDIA_GET_IFACE (self)->get_with_video (self);
}

gboolean
natter_call_media_get_camera_enabled (NatterCallMedia *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA (self), FALSE);
  return NATTER_CALL_MEDIA_GET_IFACE (self)->get_camera_enabled (self);
}

const NatterCallStats *
natter_call_media_get_stats (NatterCallMedia *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA (self), NULL);
  return NATTER_CALL_MEDIA_GET_IFACE (self)->get_stats (self);
}

guint
natter_call_media_get_bandwidth_estimate (NatterCallMedia *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA (self), 0);
  return NATTER_CALL_MEDIA_GET_IFACE (self)->get_bandwidth_estimate (self);
}

gboolean
natter_call_media_get_bandwidth_limited (NatterCallMedia *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA (self), FALSE);
  return NATTER_CALL_MEDIA_GET_IFACE (self)->get_bandwidth_limited (self);
}

gboolean
natter_call_media_get_video_reduced (NatterCallMedia *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA (self), FALSE);
  return NATTER_CALL_MEDIA_GET_IFACE (self)->get_video_reduced (self);
}

void
natter_call_media_set_video_sink (NatterCallMedia *self, GstElement *sink)
{
  g_return_if_fail (NATTER_IS_CALL_MEDIA (self));
  NATTER_CALL_MEDIA_GET_IFACE (self)->set_video_sink (self, sink);
}

void
natter_call_media_set_ice_servers (NatterCallMedia *self, GPtrArray *ice_servers)
{
  g_return_if_fail (NATTER_IS_CALL_MEDIA (self));
  NATTER_CALL_MEDIA_GET_IFACE (self)->set_ice_servers (self, ice_servers);
}

void
natter_call_media_set_devices (NatterCallMedia *self,
                               NatterDevice *microphone,
                               NatterDevice *camera,
                               NatterDevice *speaker)
{
  g_return_if_fail (NATTER_IS_CALL_MEDIA (self));
  NATTER_CALL_MEDIA_GET_IFACE (self)->set_devices (self, microphone, camera, speaker);
}

void
natter_call_media_set_muted (NatterCallMedia *self, gboolean muted)
{
  g_return_if_fail (NATTER_IS_CALL_MEDIA (self));
  NATTER_CALL_MEDIA_GET_IFACE (self)->set_muted (self, muted);
}

void
natter_call_media_set_camera_enabled (NatterCallMedia *self, gboolean enabled)
{
  g_return_if_fail (NATTER_IS_CALL_MEDIA (self));
  NATTER_CALL_MEDIA_GET_IFACE (self)->set_camera_enabled (self, enabled);
}

void
natter_call_media_add_remote_candidate (NatterCallMedia *self,
                                        guint sdp_mline_index,
                                        const char *candidate)
{
  g_return_if_fail (NATTER_IS_CALL_MEDIA (self));
  NATTER_CALL_MEDIA_GET_IFACE (self)->add_remote_candidate (self, sdp_mline_index, candidate);
}

void
natter_call_media_update_stats (NatterCallMedia *self)
{
  g_return_if_fail (NATTER_IS_CALL_MEDIA (self));
  NATTER_CALL_MEDIA_GET_IFACE (self)->update_stats (self);
}

void
natter_call_media_close (NatterCallMedia *self)
{
  g_return_if_fail (NATTER_IS_CALL_MEDIA (self));
  NATTER_CALL_MEDIA_GET_IFACE (self)->close (self);
}
