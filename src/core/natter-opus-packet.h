/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * NatterOpusMode:
 * @NATTER_OPUS_MODE_SILK: SILK only (narrow to wide band speech)
 * @NATTER_OPUS_MODE_HYBRID: SILK below 8 kHz, CELT above
 * @NATTER_OPUS_MODE_CELT: CELT only, which never carries in-band FEC
 *
 * The coding mode of an Opus packet, from its TOC byte (RFC 6716 §3.1).
 */
typedef enum {
  NATTER_OPUS_MODE_SILK,
  NATTER_OPUS_MODE_HYBRID,
  NATTER_OPUS_MODE_CELT,
} NatterOpusMode;

/**
 * NatterOpusPacketInfo:
 * @mode: the coding mode
 * @samples_per_frame: the duration of each Opus frame, in samples at 48 kHz
 * @frames: the number of Opus frames in the packet
 * @channels: 1 or 2 coded channels
 * @has_lbrr: whether the packet's first frame carries in-band FEC (SILK's
 *   low bit-rate redundancy, LBRR) of the audio just before the packet, for
 *   its mid (or only) channel: what the decoder rebuilds a lost packet from
 * @has_voice: whether the encoder's voice activity detector found speech in
 *   the packet's first frame (any of its SILK frames, mid channel); always
 *   %FALSE in CELT-only packets, which carry no such flag
 */
typedef struct {
  NatterOpusMode mode;
  guint samples_per_frame;
  guint frames;
  guint channels;
  gboolean has_lbrr;
  gboolean has_voice;
} NatterOpusPacketInfo;

gboolean natter_opus_packet_parse (const guint8 *data, gsize size, NatterOpusPacketInfo *info);

G_END_DECLS
