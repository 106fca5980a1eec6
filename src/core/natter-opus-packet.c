/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-opus-packet"

#include "config.h"

#include <opus.h>
#include <string.h>

#include "natter-opus-packet.h"

/* A SILK frame lasts 20 ms (10 ms in a 10 ms Opus frame): 960 samples at
 * 48 kHz. A 40 or 60 ms Opus frame holds 2 or 3 of them. */
#define SILK_FRAME_SAMPLES 960

/* What libopus 1.5's opus_packet_has_lbrr() reads (1.3.1, Debian 12's, has
 * no such call). The SILK layer of a SILK or hybrid frame opens (RFC 6716
 * §4.2.3-4.2.4) with one voice activity flag per SILK frame and then the
 * LBRR flag, for the mid channel, then the same for the side channel. Each
 * is range coded with probability 1/2, which at the start of the range
 * coder makes them the first byte's top bits, in that order. */
static void
read_silk_header (const guint8 *frame,
                  gsize size,
                  guint samples_per_frame,
                  NatterOpusPacketInfo *info)
{
  guint silk_frames = MAX (samples_per_frame / SILK_FRAME_SAMPLES, 1);
  guint voice_mask = (0xffu << (8 - silk_frames)) & 0xffu;

  /* An empty frame (a lost or discontinued one) carries nothing. */
  if (size == 0)
    return;
  info->has_voice = (frame[0] & voice_mask) != 0;
  info->has_lbrr = (frame[0] >> (7 - silk_frames)) & 1;
}

/**
 * natter_opus_packet_parse:
 * @data: (array length=size): one Opus packet, as RTP carries it (network
 *   input: any length and content is handled)
 * @size: its length
 * @info: (out): what it holds
 *
 * Reads an Opus packet's coding mode, frames, in-band FEC and voice
 * activity flags without decoding it. The packet's framing is checked by
 * libopus's opus_packet_parse(), so nothing outside @data is read.
 *
 * Returns: %FALSE, @info zeroed, when @data is not a valid Opus packet
 */
gboolean
natter_opus_packet_parse (const guint8 *data, gsize size, NatterOpusPacketInfo *info)
{
  const unsigned char *frames[48];
  opus_int16 sizes[48];
  unsigned char toc;
  guint config;
  int count;

  g_return_val_if_fail (info != NULL, FALSE);

  memset (info, 0, sizeof *info);
  if (data == NULL || size == 0 || size > G_MAXINT32)
    return FALSE;
  count = opus_packet_parse (data, (opus_int32) size, &toc, frames, sizes, NULL);
  if (count <= 0)
    return FALSE;

  /* TOC configurations 0-11 are SILK, 12-15 hybrid, 16-31 CELT. */
  config = toc >> 3;
  info->mode = config < 12   ? NATTER_OPUS_MODE_SILK
               : config < 16 ? NATTER_OPUS_MODE_HYBRID
                             : NATTER_OPUS_MODE_CELT;
  info->samples_per_frame = (guint) opus_packet_get_samples_per_frame (data, 48000);
  info->frames = (guint) count;
  info->channels = (guint) opus_packet_get_nb_channels (data);
  if (info->mode != NATTER_OPUS_MODE_CELT)
    read_silk_header (frames[0], (gsize) sizes[0], info->samples_per_frame, info);
  return TRUE;
}
