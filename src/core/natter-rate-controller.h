/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * NatterRatePlan:
 * @video_bps: the video encoder's target bitrate
 * @audio_bps: Opus's bitrate
 * @max_width: the largest frame to send
 * @max_height: the largest frame to send
 * @max_fps: the most frames a second to send
 * @rung: 0 for the top of the ladder, larger below
 *
 * What to send for a bandwidth estimate.
 */
typedef struct {
  guint video_bps;
  guint audio_bps;
  guint max_width;
  guint max_height;
  guint max_fps;
  guint rung;
} NatterRatePlan;

typedef struct _NatterRateController NatterRateController;

NatterRateController *natter_rate_controller_new (void);
void natter_rate_controller_free (NatterRateController *self);
const NatterRatePlan *
natter_rate_controller_update (NatterRateController *self, guint estimate_bps, gint64 now_us);
const NatterRatePlan *natter_rate_controller_get_plan (const NatterRateController *self);
guint natter_rate_controller_get_n_rungs (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterRateController, natter_rate_controller_free)

G_END_DECLS
