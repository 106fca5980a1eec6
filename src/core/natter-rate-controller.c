/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-rate-controller"

#include "config.h"

#include "natter-rate-controller.h"

/* Splits a bandwidth estimate between audio and video and picks the frame
 * size and rate that suit the video's share, as browsers do: fewer pixels
 * look better than a starved encoder's blocks. Down a rung at once, up
 * only after the estimate has stayed above the next rung (with a margin)
 * for a while, so the picture does not flap between sizes. */

typedef struct {
  guint width;
  guint height;
  guint fps;
  guint min_video_bps; /* below this, the next rung down */
} Rung;

/* The floors are measured with the link benchmark's moving test picture
 * (vp8enc as the call sets it, 5 s of 640x360 scaled): below them VP8
 * skips frames rather than overshoot. 640x360 at 300 kbit/s gave 15 fps,
 * at 450 kbit/s 22; 426x240 needs about 190 kbit/s for 30 fps (65 kbit/s
 * gave 11.6 fps, 150 kbit/s 26); 320x180 keeps 29.6 fps at 65 kbit/s. So
 * the picture gets smaller rather than slower, as Chromium's does on a
 * 300 kbit/s link (180p at about 25 fps), and 15 fps is the last resort.
 * A camera's picture needs less than this one, which moves everywhere. */
static const Rung ladder[] = {
  { 1280, 720, 30, 1500000 }, { 854, 480, 30, 900000 }, { 640, 360, 30, 500000 },
  { 426, 240, 30, 160000 },   { 320, 180, 30, 60000 },  { 320, 180, 15, 0 },
};

#define UP_MARGIN 1.2
#define UP_HOLD_US (3 * G_USEC_PER_SEC)
/* Opus keeps its rate until video is at its floor: audio goes last. */
#define AUDIO_BPS 32000
#define AUDIO_LOW_BPS 16000
#define AUDIO_LOW_BELOW_BPS 90000
#define VIDEO_MIN_BPS 50000
/* RTP/SRTP headers, RTCP, retransmissions. */
#define OVERHEAD 0.9

struct _NatterRateController {
  NatterRatePlan plan;
  gint64 up_since_us; /* when the estimate first allowed the rung above */
};

static void
set_rung (NatterRateController *self, guint rung)
{
  self->plan.rung = rung;
  self->plan.max_width = ladder[rung].width;
  self->plan.max_height = ladder[rung].height;
  self->plan.max_fps = ladder[rung].fps;
}

NatterRateController *
natter_rate_controller_new (void)
{
  NatterRateController *self = g_new0 (NatterRateController, 1);

  set_rung (self, 0);
  self->plan.audio_bps = AUDIO_BPS;
  self->plan.video_bps = 1500000;
  self->up_since_us = -1;
  return self;
}

void
natter_rate_controller_free (NatterRateController *self)
{
  g_free (self);
}

/**
 * natter_rate_controller_update:
 * @self: a rate controller
 * @estimate_bps: the bandwidth estimate for everything we send
 * @now_us: monotonic time
 *
 * Returns: (transfer none): the plan for @estimate_bps
 */
const NatterRatePlan *
natter_rate_controller_update (NatterRateController *self, guint estimate_bps, gint64 now_us)
{
  guint usable = (guint) (estimate_bps * OVERHEAD);
  guint rung = self->plan.rung;

  g_return_val_if_fail (self != NULL, NULL);

  self->plan.audio_bps = estimate_bps < AUDIO_LOW_BELOW_BPS ? AUDIO_LOW_BPS : AUDIO_BPS;
  self->plan.video_bps =
    usable > self->plan.audio_bps + VIDEO_MIN_BPS ? usable - self->plan.audio_bps : VIDEO_MIN_BPS;

  while (rung + 1 < G_N_ELEMENTS (ladder) && self->plan.video_bps < ladder[rung].min_video_bps)
    rung++;
  if (rung != self->plan.rung) {
    self->up_since_us = -1;
    set_rung (self, rung);
    return &self->plan;
  }

  if (rung > 0 && self->plan.video_bps >= ladder[rung - 1].min_video_bps * UP_MARGIN) {
    if (self->up_since_us < 0)
      self->up_since_us = now_us;
    if (now_us - self->up_since_us >= UP_HOLD_US) {
      self->up_since_us = -1;
      set_rung (self, rung - 1);
    }
  } else {
    self->up_since_us = -1;
  }
  return &self->plan;
}

const NatterRatePlan *
natter_rate_controller_get_plan (const NatterRateController *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return &self->plan;
}

guint
natter_rate_controller_get_n_rungs (void)
{
  return G_N_ELEMENTS (ladder);
}
