/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gst/gst.h>

#include "natter-bandwidth-estimator.h"
#include "natter-rate-controller.h"

G_BEGIN_DECLS

/* The RTP header extension that carries transport-wide sequence numbers. */
#define NATTER_TWCC_EXTENSION_URI \
  "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

/* The least measured loss (a fraction) Opus's in-band FEC is kept on for. */
#define NATTER_CALL_ADAPTATION_MIN_FEC_LOSS 0.002

typedef struct _NatterCallAdaptation NatterCallAdaptation;

NatterCallAdaptation *natter_call_adaptation_new (guint min_latency_ms, guint max_bps);
void natter_call_adaptation_free (NatterCallAdaptation *self);

void natter_call_adaptation_set_video (NatterCallAdaptation *self,
                                       GstElement *encoder,
                                       GstElement *scale,
                                       GstElement *size_filter,
                                       GstElement *rate);
void natter_call_adaptation_set_audio_encoder (NatterCallAdaptation *self, GstElement *encoder);
void natter_call_adaptation_add_jitterbuffer (NatterCallAdaptation *self, GstElement *jitterbuffer);
void natter_call_adaptation_configure_session (GstElement *session);

GArray *natter_call_adaptation_parse_twcc (const GstStructure *packets);
gboolean natter_call_adaptation_on_twcc (NatterCallAdaptation *self,
                                         const GstStructure *packets,
                                         gint64 now_us);
gboolean natter_call_adaptation_on_receiver_report (NatterCallAdaptation *self,
                                                    double round_trip_time_ms,
                                                    double fraction_lost,
                                                    gint64 now_us);
gboolean natter_call_adaptation_allow_keyframe (NatterCallAdaptation *self, gint64 now_us);

guint natter_call_adaptation_get_estimate (NatterCallAdaptation *self);
gboolean natter_call_adaptation_get_limited (NatterCallAdaptation *self);
double natter_call_adaptation_get_loss (NatterCallAdaptation *self);
guint natter_call_adaptation_get_latency (NatterCallAdaptation *self);
double natter_call_adaptation_get_round_trip_time (NatterCallAdaptation *self);
gboolean natter_call_adaptation_get_video_reduced (NatterCallAdaptation *self);
const NatterRatePlan *natter_call_adaptation_get_plan (NatterCallAdaptation *self);
guint natter_call_adaptation_latency_for_rtt (guint min_latency_ms, double round_trip_time_ms);
int natter_call_adaptation_retry_timeout_for_rtt (double round_trip_time_ms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterCallAdaptation, natter_call_adaptation_free)

G_END_DECLS
