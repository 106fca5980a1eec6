/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-stats"

#include "config.h"

#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>

#include "natter-audio-concealment.h"
#include "natter-call-stats.h"

G_DEFINE_BOXED_TYPE (NatterCallStats,
                     natter_call_stats,
                     natter_call_stats_copy,
                     natter_call_stats_free)

/**
 * natter_call_stats_new:
 *
 * Returns: (transfer full): an empty sample (round-trip time unknown)
 */
NatterCallStats *
natter_call_stats_new (void)
{
  NatterCallStats *stats = g_new0 (NatterCallStats, 1);

  stats->round_trip_time_ms = -1;
  stats->send_packet_loss = -1;
  return stats;
}

/**
 * natter_call_stats_copy:
 * @stats: a #NatterCallStats
 *
 * Returns: (transfer full): a copy
 */
NatterCallStats *
natter_call_stats_copy (const NatterCallStats *stats)
{
  g_return_val_if_fail (stats != NULL, NULL);
  return g_memdup2 (stats, sizeof *stats);
}

void
natter_call_stats_free (NatterCallStats *stats)
{
  g_free (stats);
}

typedef struct {
  NatterCallStats *stats;
} Walk;

/* The kind of an RTP stream. With max-bundle webrtcbin 1.22 labels every
 * stream with the kind and codec of the bundle's transceiver, so go by the
 * RTP source's clock rate: 90 kHz is video, Opus runs at 48 kHz. */
static gboolean
stream_is_video (const GstStructure *rtp)
{
  const GstStructure *source = NULL;
  const GValue *value = gst_structure_get_value (rtp, "gst-rtpsource-stats");
  int clock_rate = 0;

  if (value != NULL && GST_VALUE_HOLDS_STRUCTURE (value))
    source = gst_value_get_structure (value);
  if (source != NULL && gst_structure_get_int (source, "clock-rate", &clock_rate))
    return clock_rate == 90000;
  return g_strcmp0 (gst_structure_get_string (rtp, "kind"), "video") == 0;
}

static gboolean
visit_entry (GQuark field_id, const GValue *value, gpointer user_data)
{
  Walk *walk = user_data;
  const GstStructure *entry;
  GstWebRTCStatsType type;
  guint64 bytes = 0;
  guint64 packets = 0;
  gint64 lost = 0;
  double rtt = 0;
  double fraction = 0;

  if (!GST_VALUE_HOLDS_STRUCTURE (value))
    return TRUE;
  entry = gst_value_get_structure (value);
  if (!gst_structure_get (entry, "type", GST_TYPE_WEBRTC_STATS_TYPE, &type, NULL))
    return TRUE;

  switch (type) {
    case GST_WEBRTC_STATS_INBOUND_RTP:
      gst_structure_get_uint64 (entry, "bytes-received", &bytes);
      gst_structure_get_uint64 (entry, "packets-received", &packets);
      gst_structure_get_int64 (entry, "packets-lost", &lost);
      walk->stats->packets_received += packets;
      walk->stats->packets_lost += MAX (lost, 0);
      if (stream_is_video (entry))
        walk->stats->video_bytes_received += bytes;
      else
        walk->stats->audio_bytes_received += bytes;
      break;
    case GST_WEBRTC_STATS_OUTBOUND_RTP:
      gst_structure_get_uint64 (entry, "bytes-sent", &bytes);
      if (stream_is_video (entry))
        walk->stats->video_bytes_sent += bytes;
      else
        walk->stats->audio_bytes_sent += bytes;
      break;
    case GST_WEBRTC_STATS_REMOTE_INBOUND_RTP:
      if (gst_structure_get_double (entry, "round-trip-time", &rtt) && rtt > 0)
        walk->stats->round_trip_time_ms = MAX (walk->stats->round_trip_time_ms, rtt * 1000.0);
      if (gst_structure_get_double (entry, "fraction-lost", &fraction) && fraction >= 0 &&
          fraction <= 1)
        walk->stats->send_packet_loss = MAX (walk->stats->send_packet_loss, fraction);
      break;
    default:
      break;
  }
  return TRUE;
}

static guint64
bitrate (guint64 now_bytes, guint64 then_bytes, gint64 interval_us)
{
  if (interval_us <= 0 || now_bytes < then_bytes)
    return 0;
  return (now_bytes - then_bytes) * 8 * G_USEC_PER_SEC / (guint64) interval_us;
}

/**
 * natter_call_stats_new_from_structure:
 * @report: the reply of webrtcbin's `get-stats`
 * @previous: (nullable): the sample before, for bitrates
 * @now_us: g_get_monotonic_time() of this sample
 *
 * Returns: (transfer full): the reduced sample
 */
NatterCallStats *
natter_call_stats_new_from_structure (const GstStructure *report,
                                      const NatterCallStats *previous,
                                      gint64 now_us)
{
  NatterCallStats *stats = natter_call_stats_new ();
  Walk walk = { stats };

  g_return_val_if_fail (report != NULL, stats);

  stats->sampled_at_us = now_us;
  gst_structure_foreach (report, visit_entry, &walk);

  if (stats->packets_received + stats->packets_lost > 0)
    stats->packet_loss =
      (double) stats->packets_lost / (double) (stats->packets_received + stats->packets_lost);

  if (previous != NULL) {
    gint64 interval = now_us - previous->sampled_at_us;

    stats->audio_send_bitrate =
      bitrate (stats->audio_bytes_sent, previous->audio_bytes_sent, interval);
    stats->audio_receive_bitrate =
      bitrate (stats->audio_bytes_received, previous->audio_bytes_received, interval);
    stats->video_send_bitrate =
      bitrate (stats->video_bytes_sent, previous->video_bytes_sent, interval);
    stats->video_receive_bitrate =
      bitrate (stats->video_bytes_received, previous->video_bytes_received, interval);
  }
  return stats;
}

/**
 * natter_call_stats_get_audio_concealed:
 * @stats: a #NatterCallStats
 *
 * Returns: the share (0…1) of the peer's 20 ms audio frames that had to be
 *   concealed so far (frames rebuilt from in-band FEC are not concealed)
 */
double
natter_call_stats_get_audio_concealed (const NatterCallStats *stats)
{
  guint64 total;

  g_return_val_if_fail (stats != NULL, 0);
  total =
    stats->audio_packets_played + stats->audio_packets_concealed + stats->audio_packets_rebuilt;
  return total > 0 ? (double) stats->audio_packets_concealed / (double) total : 0;
}

static gboolean
caps_are_audio (GstCaps *caps)
{
  const GstStructure *structure;
  int clock_rate = 0;

  if (caps == NULL || gst_caps_get_size (caps) == 0)
    return FALSE;
  structure = gst_caps_get_structure (caps, 0);
  if (gst_structure_has_field (structure, "media"))
    return g_strcmp0 (gst_structure_get_string (structure, "media"), "audio") == 0;
  return gst_structure_get_int (structure, "clock-rate", &clock_rate) && clock_rate != 90000;
}

/**
 * natter_call_stats_jitterbuffer_is_audio:
 *
 * A jitter buffer's caps carry only the SSRC: the payload type demuxer
 * after it knows the stream's media.
 *
 * Returns: whether @jitterbuffer passes on audio (%FALSE until it is linked)
 */
gboolean
natter_call_stats_jitterbuffer_is_audio (GstElement *jitterbuffer)
{
  g_autoptr (GstPad) pad = gst_element_get_static_pad (jitterbuffer, "src");
  g_autoptr (GstPad) peer = pad != NULL ? gst_pad_get_peer (pad) : NULL;
  g_autoptr (GstElement) demuxer = peer != NULL ? gst_pad_get_parent_element (peer) : NULL;
  g_autoptr (GstIterator) iterator = NULL;
  g_auto (GValue) item = G_VALUE_INIT;
  gboolean audio = FALSE;

  if (demuxer == NULL)
    return FALSE;
  iterator = gst_element_iterate_src_pads (demuxer);
  while (!audio && gst_iterator_next (iterator, &item) == GST_ITERATOR_OK) {
    g_autoptr (GstCaps) caps = gst_pad_get_current_caps (g_value_get_object (&item));

    audio = caps_are_audio (caps);
    g_value_reset (&item);
  }
  return audio;
}

/**
 * natter_call_stats_read_audio_playout:
 * @stats: a #NatterCallStats
 * @pipeline: the call's pipeline
 *
 * Sets @stats' audio_packets_played, audio_packets_concealed and
 * audio_packets_rebuilt from the jitter buffers of the peer's audio and
 * what its Opus decoder got. webrtcbin 1.22's `get-stats` leaves their
 * statistics out; each packet a jitter buffer declares lost (never came, or
 * came after its time) is a gap for opusdec, which rebuilds it from the
 * next packet's in-band FEC when that carries some for it
 * (#NatterAudioConcealment follows which), and conceals it otherwise.
 */
void
natter_call_stats_read_audio_playout (NatterCallStats *stats, GstElement *pipeline)
{
  g_autoptr (GstIterator) iterator = NULL;
  g_auto (GValue) item = G_VALUE_INIT;
  guint64 played = 0, lost = 0, rebuilt = 0, silent = 0, decoder_lost = 0;

  g_return_if_fail (stats != NULL);
  g_return_if_fail (GST_IS_BIN (pipeline));

  iterator = gst_bin_iterate_recurse (GST_BIN (pipeline));
  while (gst_iterator_next (iterator, &item) == GST_ITERATOR_OK) {
    GstElement *element = g_value_get_object (&item);
    GstElementFactory *factory = gst_element_get_factory (element);
    NatterAudioConcealment *concealment = natter_audio_concealment_get_for_decoder (element);

    if (concealment != NULL) {
      rebuilt += natter_audio_concealment_get_rebuilt_frames (concealment);
      silent += natter_audio_concealment_get_silent_concealed_frames (concealment);
      decoder_lost += natter_audio_concealment_get_lost_frames (concealment);
    }
    if (factory != NULL && g_str_equal (GST_OBJECT_NAME (factory), "rtpjitterbuffer") &&
        natter_call_stats_jitterbuffer_is_audio (element)) {
      g_autoptr (GstStructure) jitter_stats = NULL;
      guint64 pushed = 0, jitter_lost = 0;

      g_object_get (element, "stats", &jitter_stats, NULL);
      if (jitter_stats != NULL && gst_structure_get_uint64 (jitter_stats, "num-pushed", &pushed) &&
          gst_structure_get_uint64 (jitter_stats, "num-lost", &jitter_lost)) {
        played += pushed;
        lost += jitter_lost;
      }
    }
    g_value_reset (&item);
  }
  g_debug ("audio: %" G_GUINT64_FORMAT " played, %" G_GUINT64_FORMAT " lost (%" G_GUINT64_FORMAT
           " gaps at the decoder), %" G_GUINT64_FORMAT " rebuilt, %" G_GUINT64_FORMAT " silent",
           played, lost, decoder_lost, rebuilt, silent);
  /* The decoder's count and the jitter buffers' are read at slightly
   * different moments: never more rebuilt than lost. */
  rebuilt = MIN (rebuilt, lost);
  stats->audio_packets_played = played;
  stats->audio_packets_concealed = lost - rebuilt;
  stats->audio_packets_rebuilt = rebuilt;
  stats->audio_packets_concealed_silent = MIN (silent, lost - rebuilt);
}

/**
 * natter_call_stats_get_network_quality:
 * @stats: (nullable): the latest statistics
 * @estimate: the bandwidth estimate in bit/s, 0 when not known
 * @sending_video: whether we send video
 * @reduced: whether our video is reduced for want of bandwidth
 *
 * 0 (very poor) to 4 (excellent): loss and round trip both ways from
 * RTCP, and, while we send video, the bandwidth the estimate finds.
 *
 * Returns: the quality, or -1 when nothing was received yet
 */
int
natter_call_stats_get_network_quality (const NatterCallStats *stats,
                                       guint estimate,
                                       gboolean sending_video,
                                       gboolean reduced)
{
  double loss, rtt;
  int quality;

  /* Nothing received yet says nothing; a round trip not known yet (RTCP
   * takes a second or two) leaves the loss to judge by. */
  if (stats == NULL || stats->packets_received == 0)
    return -1;
  rtt = MAX (stats->round_trip_time_ms, 0);
  loss = MAX (stats->packet_loss, stats->send_packet_loss);
  if (loss > 0.10 || rtt > 800)
    quality = 0;
  else if (loss > 0.05 || rtt > 400)
    quality = 1;
  else if (loss > 0.02 || rtt > 250)
    quality = 2;
  else if (loss > 0.005 || rtt > 120)
    quality = 3;
  else
    quality = 4;

  if (sending_video && estimate > 0) {
    if (estimate < 150000)
      quality = MIN (quality, 0);
    else if (estimate < 300000)
      quality = MIN (quality, 1);
    else if (estimate < 600000)
      quality = MIN (quality, 2);
    else if (estimate < 1000000)
      quality = MIN (quality, 3);
  }
  if (reduced)
    quality = MIN (quality, 1);
  return quality;
}
