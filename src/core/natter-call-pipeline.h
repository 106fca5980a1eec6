/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gst/gst.h>

#include "natter-call-stats.h"
#include "natter-frame-timing.h"
#include "natter-rate-controller.h"
#include "natter-types.h"

G_BEGIN_DECLS

/**
 * NatterCallPipelineState:
 * @NATTER_CALL_PIPELINE_STATE_NEW: built, nothing negotiated yet
 * @NATTER_CALL_PIPELINE_STATE_NEGOTIATING: offer or answer in progress
 * @NATTER_CALL_PIPELINE_STATE_CONNECTING: descriptions exchanged, ICE/DTLS running
 * @NATTER_CALL_PIPELINE_STATE_CONNECTED: media path up
 * @NATTER_CALL_PIPELINE_STATE_DISCONNECTED: ICE lost the path; it may come back
 * @NATTER_CALL_PIPELINE_STATE_FAILED: ICE failed or an element errored
 * @NATTER_CALL_PIPELINE_STATE_CLOSED: torn down
 */
typedef enum {
  NATTER_CALL_PIPELINE_STATE_NEW,
  NATTER_CALL_PIPELINE_STATE_NEGOTIATING,
  NATTER_CALL_PIPELINE_STATE_CONNECTING,
  NATTER_CALL_PIPELINE_STATE_CONNECTED,
  NATTER_CALL_PIPELINE_STATE_DISCONNECTED,
  NATTER_CALL_PIPELINE_STATE_FAILED,
  NATTER_CALL_PIPELINE_STATE_CLOSED,
} NatterCallPipelineState;

#define NATTER_TYPE_CALL_PIPELINE_STATE (natter_call_pipeline_state_get_type ())
GType natter_call_pipeline_state_get_type (void);

/**
 * NatterCallPipelineMark:
 * @NATTER_CALL_PIPELINE_MARK_STARTED: the pipeline was built and set playing
 * @NATTER_CALL_PIPELINE_MARK_LOCAL_DESCRIPTION: our offer or answer was
 *   created and handed to the signalling (the answer is sent)
 * @NATTER_CALL_PIPELINE_MARK_REMOTE_DESCRIPTION: the peer's description was
 *   applied
 * @NATTER_CALL_PIPELINE_MARK_FIRST_LOCAL_CANDIDATE: the first local ICE
 *   candidate was gathered
 * @NATTER_CALL_PIPELINE_MARK_ICE_CONNECTED: ICE found a working pair
 * @NATTER_CALL_PIPELINE_MARK_DTLS_CONNECTED: the DTLS handshake completed
 * @NATTER_CALL_PIPELINE_MARK_FIRST_RTP: the first SRTP packet was decrypted
 * @NATTER_CALL_PIPELINE_MARK_FIRST_AUDIO: the first remote audio buffer was
 *   decoded
 * @NATTER_CALL_PIPELINE_MARK_FIRST_VIDEO: the first remote video frame was
 *   decoded
 *
 * Points of a call's setup, for the setup-time breakdown of
 * `natter-bench calls` and `natter-cli`'s call_summary.
 */
typedef enum {
  NATTER_CALL_PIPELINE_MARK_STARTED,
  NATTER_CALL_PIPELINE_MARK_LOCAL_DESCRIPTION,
  NATTER_CALL_PIPELINE_MARK_REMOTE_DESCRIPTION,
  NATTER_CALL_PIPELINE_MARK_FIRST_LOCAL_CANDIDATE,
  NATTER_CALL_PIPELINE_MARK_ICE_CONNECTED,
  NATTER_CALL_PIPELINE_MARK_DTLS_CONNECTED,
  NATTER_CALL_PIPELINE_MARK_FIRST_RTP,
  NATTER_CALL_PIPELINE_MARK_FIRST_AUDIO,
  NATTER_CALL_PIPELINE_MARK_FIRST_VIDEO,
  NATTER_CALL_PIPELINE_N_MARKS,
} NatterCallPipelineMark;

#define NATTER_TYPE_CALL_PIPELINE_MARK (natter_call_pipeline_mark_get_type ())
GType natter_call_pipeline_mark_get_type (void);

#define NATTER_TYPE_CALL_PIPELINE (natter_call_pipeline_get_type ())
G_DECLARE_FINAL_TYPE (NatterCallPipeline, natter_call_pipeline, NATTER, CALL_PIPELINE, GObject)

void natter_call_pipeline_preload (void);
void natter_call_pipeline_preload_wait (void);
void natter_call_pipeline_limit_arenas (void);
void natter_call_pipeline_hold (void);
void natter_call_pipeline_release (void);
void natter_call_pipeline_trim_memory (void);
gboolean natter_call_pipeline_get_held (void);
NatterCallPipeline *natter_call_pipeline_new (gboolean with_video);

NatterCallPipelineState natter_call_pipeline_get_state (NatterCallPipeline *self);
const char *natter_call_pipeline_get_error_message (NatterCallPipeline *self);
gboolean natter_call_pipeline_get_microphone_failed (NatterCallPipeline *self);
gboolean natter_call_pipeline_get_with_video (NatterCallPipeline *self);
gboolean natter_call_pipeline_get_remote_has_video (NatterCallPipeline *self);

void natter_call_pipeline_set_video_sink (NatterCallPipeline *self, GstElement *sink);
GstElement *natter_call_pipeline_get_video_sink (NatterCallPipeline *self);
void natter_call_pipeline_set_local_video_sink (NatterCallPipeline *self, GstElement *sink);
GstElement *natter_call_pipeline_get_local_video_sink (NatterCallPipeline *self);
void natter_call_pipeline_set_audio_source_device (NatterCallPipeline *self, GstDevice *device);
void natter_call_pipeline_set_video_source_device (NatterCallPipeline *self, GstDevice *device);
void natter_call_pipeline_set_audio_sink_device (NatterCallPipeline *self, GstDevice *device);
void natter_call_pipeline_set_latency (NatterCallPipeline *self, guint latency_ms);
guint natter_call_pipeline_get_latency (NatterCallPipeline *self);
void natter_call_pipeline_set_ice_servers (NatterCallPipeline *self, GPtrArray *ice_servers);

gboolean natter_call_pipeline_start_offer (NatterCallPipeline *self, GError **error);
gboolean natter_call_pipeline_set_remote_description (NatterCallPipeline *self,
                                                      const char *type,
                                                      const char *sdp,
                                                      GError **error);
void natter_call_pipeline_add_remote_candidate (NatterCallPipeline *self,
                                                guint sdp_mline_index,
                                                const char *candidate);
gboolean natter_call_pipeline_restart_ice (NatterCallPipeline *self);
void natter_call_pipeline_close (NatterCallPipeline *self);

void natter_call_pipeline_set_muted (NatterCallPipeline *self, gboolean muted);
gboolean natter_call_pipeline_get_muted (NatterCallPipeline *self);
void natter_call_pipeline_set_camera_enabled (NatterCallPipeline *self, gboolean enabled);
gboolean natter_call_pipeline_get_camera_enabled (NatterCallPipeline *self);

guint64 natter_call_pipeline_get_audio_buffers_received (NatterCallPipeline *self);
guint64 natter_call_pipeline_get_video_frames_received (NatterCallPipeline *self);
guint64 natter_call_pipeline_get_audio_buffers_sent (NatterCallPipeline *self);
guint64 natter_call_pipeline_get_video_frames_sent (NatterCallPipeline *self);
gint64 natter_call_pipeline_get_first_audio_time (NatterCallPipeline *self);
gint64 natter_call_pipeline_get_first_video_time (NatterCallPipeline *self);
NatterFrameTiming *natter_call_pipeline_get_video_received_timing (NatterCallPipeline *self);
NatterFrameTiming *natter_call_pipeline_get_video_decoded_timing (NatterCallPipeline *self);
NatterFrameTiming *natter_call_pipeline_get_video_sent_timing (NatterCallPipeline *self);
gint64 natter_call_pipeline_get_mark_time (NatterCallPipeline *self, NatterCallPipelineMark mark);

GstElement *natter_call_pipeline_get_element (NatterCallPipeline *self);
guint natter_call_pipeline_get_bandwidth_estimate (NatterCallPipeline *self);
gboolean natter_call_pipeline_get_bandwidth_limited (NatterCallPipeline *self);
gboolean natter_call_pipeline_get_video_reduced (NatterCallPipeline *self);
const NatterRatePlan *natter_call_pipeline_get_send_plan (NatterCallPipeline *self);
guint natter_call_pipeline_get_jitter_latency (NatterCallPipeline *self);

void natter_call_pipeline_update_stats (NatterCallPipeline *self);
const NatterCallStats *natter_call_pipeline_get_stats (NatterCallPipeline *self);

G_END_DECLS
