/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * NatterFrameTiming:
 *
 * When the frames of one video stream arrived, reduced to what a call's
 * smoothness is judged by: frames per second, and freezes counted as
 * browsers count them (WebRTC statistics' `freezeCount`,
 * `totalFreezesDuration`): a gap between two frames is a freeze when it is
 * at least max(3 × the average gap, the average gap + 150 ms), the average
 * taken over the last 30 gaps including this one, once there are 5.
 * Frames may be added from any thread.
 */
typedef struct _NatterFrameTiming NatterFrameTiming;

#define NATTER_FRAME_TIMING_WINDOW 30
#define NATTER_FRAME_TIMING_MIN_GAPS 5
#define NATTER_FRAME_TIMING_MIN_FREEZE_INCREASE_US (150 * G_USEC_PER_SEC / 1000)

NatterFrameTiming *natter_frame_timing_new (void);
void natter_frame_timing_free (NatterFrameTiming *self);
void natter_frame_timing_add_frame (NatterFrameTiming *self, gint64 time_us);
void
natter_frame_timing_add_scheduled_frame (NatterFrameTiming *self, gint64 arrival_us, gint64 due_us);

guint64 natter_frame_timing_get_frames (NatterFrameTiming *self);
guint natter_frame_timing_get_freeze_count (NatterFrameTiming *self);
gint64 natter_frame_timing_get_freeze_duration_us (NatterFrameTiming *self);
double natter_frame_timing_get_frames_per_second (NatterFrameTiming *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterFrameTiming, natter_frame_timing_free)

G_END_DECLS
