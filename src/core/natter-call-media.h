/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gst/gst.h>

#include "natter-call-pipeline.h"
#include "natter-device.h"
#include "natter-call-stats.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CALL_MEDIA (natter_call_media_get_type ())
G_DECLARE_INTERFACE (NatterCallMedia, natter_call_media, NATTER, CALL_MEDIA, GObject)

/**
 * NatterCallMediaInterface:
 *
 * What a #NatterCall asks of its media side: the in-process
 * #NatterCallPipeline, or #NatterCallMediaProxy, which runs one in a
 * process of its own. Implementations have the properties `state`,
 * `stats`, `bandwidth-estimate`, `video-reduced` and `camera-enabled`
 * and notify them; the signals `local-description` and `local-candidate`
 * are the interface's.
 */
struct _NatterCallMediaInterface {
  GTypeInterface g_iface;

  NatterCallPipelineState (*get_state) (NatterCallMedia *self);
  const char *(*get_error_message) (NatterCallMedia *self);
  gboolean (*get_unrecoverable) (NatterCallMedia *self);
  gboolean (*get_with_video) (NatterCallMedia *self);
  gboolean (*get_camera_enabled) (NatterCallMedia *self);
  const NatterCallStats *(*get_stats) (NatterCallMedia *self);
  guint (*get_bandwidth_estimate) (NatterCallMedia *self);
  gboolean (*get_bandwidth_limited) (NatterCallMedia *self);
  gboolean (*get_video_reduced) (NatterCallMedia *self);

  void (*set_video_sink) (NatterCallMedia *self, GstElement *sink);
  void (*set_ice_servers) (NatterCallMedia *self, GPtrArray *ice_servers);
  void (*set_devices) (NatterCallMedia *self,
                       NatterDevice *microphone,
                       NatterDevice *camera,
                       NatterDevice *speaker);
  void (*set_muted) (NatterCallMedia *self, gboolean muted);
  void (*set_camera_enabled) (NatterCallMedia *self, gboolean enabled);

  gboolean (*start_offer) (NatterCallMedia *self, GError **error);
  gboolean (*set_remote_description) (NatterCallMedia *self,
                                      const char *type,
                                      const char *sdp,
                                      GError **error);
  void (*add_remote_candidate) (NatterCallMedia *self,
                                guint sdp_mline_index,
                                const char *candidate);
  void (*update_stats) (NatterCallMedia *self);
  void (*close) (NatterCallMedia *self);
};

guint natter_call_media_local_description_signal (void);
guint natter_call_media_local_candidate_signal (void);

NatterCallPipelineState natter_call_media_get_state (NatterCallMedia *self);
const char *natter_call_media_get_error_message (NatterCallMedia *self);
gboolean natter_call_media_get_unrecoverable (NatterCallMedia *self);
gboolean natter_call_media_get_with_video (NatterCallMedia *self);
gboolean natter_call_media_get_camera_enabled (NatterCallMedia *self);
const NatterCallStats *natter_call_media_get_stats (NatterCallMedia *self);
guint natter_call_media_get_bandwidth_estimate (NatterCallMedia *self);
gboolean natter_call_media_get_bandwidth_limited (NatterCallMedia *self);
gboolean natter_call_media_get_video_reduced (NatterCallMedia *self);

void natter_call_media_set_video_sink (NatterCallMedia *self, GstElement *sink);
void natter_call_media_set_ice_servers (NatterCallMedia *self, GPtrArray *ice_servers);
void natter_call_media_set_devices (NatterCallMedia *self,
                                    NatterDevice *microphone,
                                    NatterDevice *camera,
                                    NatterDevice *speaker);
void natter_call_media_set_muted (NatterCallMedia *self, gboolean muted);
void natter_call_media_set_camera_enabled (NatterCallMedia *self, gboolean enabled);

gboolean natter_call_media_start_offer (NatterCallMedia *self, GError **error);
gboolean natter_call_media_set_remote_description (NatterCallMedia *self,
                                                   const char *type,
                                                   const char *sdp,
                                                   GError **error);
void natter_call_media_add_remote_candidate (NatterCallMedia *self,
                                             guint sdp_mline_index,
                                             const char *candidate);
void natter_call_media_update_stats (NatterCallMedia *self);
void natter_call_media_close (NatterCallMedia *self);

G_END_DECLS
