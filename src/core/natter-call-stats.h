/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * NatterCallStats:
 * @round_trip_time_ms: from RTCP receiver reports; negative when unknown
 * @packet_loss: fraction (0…1) of the packets the peer sent us that were lost
 * @send_packet_loss: fraction (0…1) of the packets we sent that the peer's
 *   last receiver report says were lost; negative when unknown
 * @packets_received: RTP packets received, all streams
 * @packets_lost: RTP packets lost, all streams
 * @audio_send_bitrate: bits per second over the last interval
 * @audio_receive_bitrate: bits per second over the last interval
 * @video_send_bitrate: bits per second over the last interval
 * @video_receive_bitrate: bits per second over the last interval
 * @audio_packets_played: audio packets the jitter buffer passed on (set by
 *   natter_call_stats_read_audio_playout())
 * @audio_packets_concealed: audio packets the jitter buffer gave up on (lost
 *   or too late) that the decoder had to conceal (synthesise): those it
 *   rebuilt from the next packet's in-band FEC are not counted, as
 *   libwebrtc's `concealedSamples` does not
 * @audio_packets_rebuilt: audio packets the jitter buffer gave up on that
 *   the decoder rebuilt from the next packet's in-band FEC
 * @audio_packets_concealed_silent: of @audio_packets_concealed, those lost
 *   between two packets the encoder found no voice in (libwebrtc's
 *   `silentConcealedSamples`); Opus codes no in-band FEC for them
 *
 * One sample of webrtcbin's `get-stats`, reduced to what a call shows.
 */
typedef struct {
  double round_trip_time_ms;
  double packet_loss;
  double send_packet_loss;
  guint64 packets_received;
  guint64 packets_lost;
  guint64 audio_send_bitrate;
  guint64 audio_receive_bitrate;
  guint64 video_send_bitrate;
  guint64 video_receive_bitrate;
  guint64 audio_packets_played;
  guint64 audio_packets_concealed;
  guint64 audio_packets_rebuilt;
  guint64 audio_packets_concealed_silent;

  /*< private >*/
  gint64 sampled_at_us;
  guint64 audio_bytes_sent;
  guint64 audio_bytes_received;
  guint64 video_bytes_sent;
  guint64 video_bytes_received;
} NatterCallStats;

#define NATTER_TYPE_CALL_STATS (natter_call_stats_get_type ())
GType natter_call_stats_get_type (void);

NatterCallStats *natter_call_stats_new (void);
NatterCallStats *natter_call_stats_copy (const NatterCallStats *stats);
void natter_call_stats_free (NatterCallStats *stats);
NatterCallStats *natter_call_stats_new_from_structure (const GstStructure *report,
                                                       const NatterCallStats *previous,
                                                       gint64 now_us);

void natter_call_stats_read_audio_playout (NatterCallStats *stats, GstElement *pipeline);
gboolean natter_call_stats_jitterbuffer_is_audio (GstElement *jitterbuffer);
double natter_call_stats_get_audio_concealed (const NatterCallStats *stats);
int natter_call_stats_get_network_quality (const NatterCallStats *stats,
                                           guint estimate,
                                           gboolean sending_video,
                                           gboolean reduced);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterCallStats, natter_call_stats_free)

G_END_DECLS
