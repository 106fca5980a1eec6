/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the files of NatterCallPipeline share: the object itself
 * (natter-call-pipeline.c), its send chains (natter-call-media-send.c),
 * its receive side (natter-call-media-receive.c) and the signalling with
 * webrtcbin (natter-call-negotiation.c). Not for use outside them. */

#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>

#include "natter-call-adaptation.h"
#include "natter-call-pipeline.h"
#include "natter-call-session-senders.h"
#include "natter-pacer.h"

G_BEGIN_DECLS

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

enum { SIGNAL_LOCAL_DESCRIPTION, SIGNAL_LOCAL_CANDIDATE, SIGNAL_FIRST_REMOTE_MEDIA, N_SIGNALS };

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
  NatterPacer *pacer;      /* with congestion control: spreads the video packets */
  guint twcc_extension_id; /* 0: not negotiated */
  NatterCallSessionSenders *session_senders; /* see natter-call-session-senders.c */
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
  gboolean camera_failed;     /* the camera did not open: the call goes on without it */
  gboolean microphone_failed; /* it errored before its first buffer: the call cannot */
  gboolean closed;
  gboolean stats_pending;

  gint rtp_received; /* atomic: bumped on streaming threads */
  gint audio_buffers_received;
  gint video_frames_received;
  gint audio_buffers_sent;
  gint video_frames_sent;
  NatterFrameTiming *video_received_timing; /* fps and freezes, each way */
  NatterFrameTiming *video_decoded_timing;  /* received, as frames left the decoder */
  /* The jitter buffers' latency in ms, for the streaming thread (atomic). */
  gint video_render_latency_ms;
  NatterFrameTiming *video_sent_timing;
  gboolean dtls_watched;
  GObject *dtls_transport;                    /* watched for its state */
  GstWebRTCRTPTransceiver *video_transceiver; /* with FEC, when negotiated */
  guint fec_percentage;

  GMutex marks_lock; /* marks are set from streaming threads */
  gint64 marks[NATTER_CALL_PIPELINE_N_MARKS];
};

/* Streaming-thread callbacks hand their work to the main context with a
 * reference, so the object outlives every queued call. */
typedef void (*MainFunc) (NatterCallPipeline *self, gpointer data);

static inline guint
natter_call_pipeline_counter_get (gint *counter)
{
  return (guint) g_atomic_int_get (counter);
}

extern GParamSpec *natter_call_pipeline_properties[N_PROPS];
extern guint natter_call_pipeline_signals[N_SIGNALS];

/* natter-call-pipeline.c */
void natter_call_pipeline_set_mark (NatterCallPipeline *self, NatterCallPipelineMark mark);
gint64 natter_call_pipeline_get_mark (NatterCallPipeline *self, NatterCallPipelineMark mark);
void natter_call_pipeline_set_state (NatterCallPipeline *self, NatterCallPipelineState state);
void natter_call_pipeline_fail (NatterCallPipeline *self, const char *message);
void natter_call_pipeline_invoke_on_main (NatterCallPipeline *self,
                                          MainFunc func,
                                          gpointer data,
                                          GDestroyNotify data_free);
void natter_call_pipeline_pending_candidate_free (gpointer data);

/* natter-call-media-send.c */
GstElement *natter_call_pipeline_make_element (const char *factory, const char *name);
GstElement *natter_call_pipeline_make_endpoint (const char *env_name,
                                                GstDevice *device,
                                                const char *fallback,
                                                GError **error);
gboolean natter_call_pipeline_open_source (GstElement *source, GError **error);
gboolean natter_call_pipeline_have_element (const char *factory);
void natter_call_pipeline_update_adaptation_properties (NatterCallPipeline *self);
NatterPacer *natter_call_pipeline_ensure_pacer (NatterCallPipeline *self);
GstElement *
natter_call_pipeline_build_audio_send_bin (NatterCallPipeline *self, guint payload, GError **error);
GstElement *natter_call_pipeline_build_video_send_bin (NatterCallPipeline *self,
                                                       VideoCodec codec,
                                                       guint payload,
                                                       GError **error);
gboolean natter_call_pipeline_attach_send_bin (NatterCallPipeline *self,
                                               GstElement *bin,
                                               int mline,
                                               GError **error);
void natter_call_pipeline_request_keyframe (NatterCallPipeline *self);
gboolean natter_call_pipeline_overridden (const char *env_name);

/* natter-call-media-receive.c */
void natter_call_pipeline_make_sink_not_async (GstElement *element);
void natter_call_pipeline_on_deep_element_added (GstBin *bin,
                                                 GstBin *sub_bin,
                                                 GstElement *element,
                                                 gpointer user_data);
void
natter_call_pipeline_on_webrtc_pad_added (GstElement *webrtcbin, GstPad *pad, gpointer user_data);
gboolean natter_call_pipeline_build_audio_receive_chain (NatterCallPipeline *self, GError **error);

void natter_call_pipeline_update_render_latency (NatterCallPipeline *self);

G_END_DECLS
