/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * NatterPacerVerdict:
 * @NATTER_PACER_SEND: send the packet at the time given
 * @NATTER_PACER_DROP: drop it: it would wait too long
 */
typedef enum {
  NATTER_PACER_SEND,
  NATTER_PACER_DROP,
} NatterPacerVerdict;

#define NATTER_TYPE_PACER (natter_pacer_get_type ())
G_DECLARE_FINAL_TYPE (NatterPacer, natter_pacer, NATTER, PACER, GObject)

NatterPacer *natter_pacer_new (guint rate_bps, guint max_delay_ms);
void natter_pacer_set_rate (NatterPacer *self, guint rate_bps);
guint natter_pacer_get_rate (NatterPacer *self);
guint natter_pacer_get_max_delay_ms (NatterPacer *self);

NatterPacerVerdict natter_pacer_schedule_video (
  NatterPacer *self, gsize size, gboolean frame_end, gint64 now_us, gint64 *send_at_us);
void natter_pacer_account_audio (NatterPacer *self, gsize size, gint64 now_us);

void natter_pacer_attach_video (NatterPacer *self, GstPad *pad);
void natter_pacer_attach_audio (NatterPacer *self, GstPad *pad);
void natter_pacer_stop (NatterPacer *self);

guint natter_pacer_get_packets_dropped (NatterPacer *self);
guint natter_pacer_get_frames_dropped (NatterPacer *self);
gint64 natter_pacer_get_time_waited_us (NatterPacer *self);

G_END_DECLS
