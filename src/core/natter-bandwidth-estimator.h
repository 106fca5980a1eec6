/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * NatterPacketFeedback:
 * @send_time_us: when we sent the packet, on our clock
 * @arrival_time_us: when the peer received it, on the peer's clock (only
 *   differences count); negative when the peer reports it lost
 * @size: bytes of the packet
 *
 * One packet of transport-wide congestion control feedback.
 */
typedef struct {
  gint64 send_time_us;
  gint64 arrival_time_us;
  guint size;
} NatterPacketFeedback;

typedef enum {
  NATTER_BANDWIDTH_USAGE_NORMAL,
  NATTER_BANDWIDTH_USAGE_UNDERUSING,
  NATTER_BANDWIDTH_USAGE_OVERUSING,
} NatterBandwidthUsage;

typedef struct _NatterBandwidthEstimator NatterBandwidthEstimator;

NatterBandwidthEstimator *
natter_bandwidth_estimator_new (guint min_bps, guint start_bps, guint max_bps);
void natter_bandwidth_estimator_free (NatterBandwidthEstimator *self);

void natter_bandwidth_estimator_on_feedback (NatterBandwidthEstimator *self,
                                             const NatterPacketFeedback *packets,
                                             guint n_packets,
                                             gint64 now_us);
void natter_bandwidth_estimator_on_loss_report (NatterBandwidthEstimator *self,
                                                double fraction_lost,
                                                gint64 now_us);

guint natter_bandwidth_estimator_get_estimate (const NatterBandwidthEstimator *self);
guint natter_bandwidth_estimator_get_delay_estimate (const NatterBandwidthEstimator *self);
guint natter_bandwidth_estimator_get_loss_estimate (const NatterBandwidthEstimator *self);
guint natter_bandwidth_estimator_get_acknowledged_bitrate (const NatterBandwidthEstimator *self);
double natter_bandwidth_estimator_get_loss (const NatterBandwidthEstimator *self);
NatterBandwidthUsage natter_bandwidth_estimator_get_usage (const NatterBandwidthEstimator *self);
double natter_bandwidth_estimator_get_trend (const NatterBandwidthEstimator *self);
gboolean natter_bandwidth_estimator_get_limited (const NatterBandwidthEstimator *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterBandwidthEstimator, natter_bandwidth_estimator_free)

G_END_DECLS
