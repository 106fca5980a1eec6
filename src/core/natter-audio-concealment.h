/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * NatterAudioConcealment:
 *
 * Follows what reaches an Opus decoder (GStreamer 1.22's opusdec with
 * `plc` on) to tell the lost 20 ms frames it rebuilds from the next
 * packet's in-band FEC from those it conceals (synthesises). opusdec's own
 * `plc-num-samples` counts both. The rule is libopus's: a gap is rebuilt
 * only for the Opus frame just before the next packet, when the decoder
 * uses FEC, that packet and the one decoded before the gap are not
 * CELT-only, and that packet carries LBRR; frames lost before it (two or
 * more in a row) are concealed. As libwebrtc's `concealedSamples`: frames
 * decoded from FEC are not concealed. Concealed frames between two packets
 * the encoder found no voice in are counted apart as silent (libwebrtc's
 * `silentConcealedSamples`): LBRR is only coded for speech.
 *
 * Gaps and packets come from one streaming thread; the counters may be
 * read from any thread.
 */
typedef struct _NatterAudioConcealment NatterAudioConcealment;

NatterAudioConcealment *natter_audio_concealment_new (gboolean decoder_uses_fec);
NatterAudioConcealment *natter_audio_concealment_ref (NatterAudioConcealment *self);
void natter_audio_concealment_unref (NatterAudioConcealment *self);

void natter_audio_concealment_add_gap (NatterAudioConcealment *self, gint64 duration_us);
void
natter_audio_concealment_add_packet (NatterAudioConcealment *self, const guint8 *data, gsize size);

guint64 natter_audio_concealment_get_packets (NatterAudioConcealment *self);
guint64 natter_audio_concealment_get_lost_frames (NatterAudioConcealment *self);
guint64 natter_audio_concealment_get_rebuilt_frames (NatterAudioConcealment *self);
guint64 natter_audio_concealment_get_silent_concealed_frames (NatterAudioConcealment *self);

NatterAudioConcealment *natter_audio_concealment_watch_decoder (GstElement *decoder);
NatterAudioConcealment *natter_audio_concealment_get_for_decoder (GstElement *element);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterAudioConcealment, natter_audio_concealment_unref)

G_END_DECLS
