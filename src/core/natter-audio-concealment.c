/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-audio-concealment"

#include "config.h"

#include "natter-audio-concealment.h"
#include "natter-opus-packet.h"

/* opusdec rounds a gap's duration to 2.5 ms, the least Opus can conceal. */
#define PLC_ALIGNMENT_US 2500
#define SAMPLES_PER_MS 48
#define DEFAULT_FRAME_SAMPLES (20 * SAMPLES_PER_MS)
#define DECODER_DATA_KEY "natter-audio-concealment"

struct _NatterAudioConcealment {
  gboolean decoder_uses_fec;

  /* Streaming thread only. */
  gboolean gap_pending;
  guint gap_samples; /* of the last gap: what opusdec rebuilds from */
  guint gap_frames;  /* of all the gaps since the last packet */
  gboolean have_last_mode;
  NatterOpusMode last_mode; /* of the last packet decoded */
  gboolean last_had_voice;
  guint last_packet_samples; /* its duration, for gaps of unknown length */

  /* Any thread (atomic): 2^31 frames of 20 ms are over a year. */
  gint packets;
  gint lost_frames;
  gint rebuilt_frames;
  gint silent_concealed_frames;
};

/**
 * natter_audio_concealment_new:
 * @decoder_uses_fec: whether the decoder's `use-inband-fec` is on
 *
 * Returns: (transfer full): a counter with nothing seen
 */
NatterAudioConcealment *
natter_audio_concealment_new (gboolean decoder_uses_fec)
{
  NatterAudioConcealment *self = g_atomic_rc_box_new0 (NatterAudioConcealment);

  self->decoder_uses_fec = decoder_uses_fec;
  self->last_packet_samples = DEFAULT_FRAME_SAMPLES;
  return self;
}

NatterAudioConcealment *
natter_audio_concealment_ref (NatterAudioConcealment *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return g_atomic_rc_box_acquire (self);
}

void
natter_audio_concealment_unref (NatterAudioConcealment *self)
{
  g_atomic_rc_box_release (self);
}

/**
 * natter_audio_concealment_add_gap:
 * @self: a #NatterAudioConcealment
 * @duration_us: how much audio is missing (a GAP event's duration), or a
 *   negative value when not known (opusdec then takes the last packet's)
 *
 * Notes that the decoder was told audio is missing.
 */
void
natter_audio_concealment_add_gap (NatterAudioConcealment *self, gint64 duration_us)
{
  guint samples, frames;

  g_return_if_fail (self != NULL);

  if (duration_us > 0) {
    /* A gap of more than a minute counts as a minute (whatever a peer's
     * timestamps say): no overflow below. */
    gint64 bounded = MIN (duration_us, 60 * G_USEC_PER_SEC);
    gint64 aligned = (bounded + PLC_ALIGNMENT_US / 2) / PLC_ALIGNMENT_US * PLC_ALIGNMENT_US;

    samples = (guint) MIN (aligned * SAMPLES_PER_MS / 1000, G_MAXUINT / 2);
  } else {
    samples = self->last_packet_samples;
  }
  if (samples == 0)
    return;
  frames = MAX ((samples + self->last_packet_samples / 2) / self->last_packet_samples, 1);
  g_atomic_int_add (&self->lost_frames, (gint) frames);
  self->gap_frames = MIN (self->gap_frames + frames, G_MAXINT / 2);
  self->gap_pending = TRUE;
  self->gap_samples = samples;
}

/**
 * natter_audio_concealment_add_packet:
 * @self: a #NatterAudioConcealment
 * @data: (array length=size): the Opus packet the decoder got
 * @size: its length
 *
 * Notes a packet; when a gap came just before it, decides whether the
 * decoder rebuilds the gap's last frame from it.
 */
void
natter_audio_concealment_add_packet (NatterAudioConcealment *self, const guint8 *data, gsize size)
{
  NatterOpusPacketInfo info;
  gboolean valid;

  g_return_if_fail (self != NULL);

  valid = natter_opus_packet_parse (data, size, &info);
  if (self->gap_pending) {
    guint concealed = self->gap_frames;

    if (valid && self->decoder_uses_fec && info.has_lbrr &&
        self->gap_samples >= info.samples_per_frame &&
        !(self->have_last_mode && self->last_mode == NATTER_OPUS_MODE_CELT)) {
      g_atomic_int_inc (&self->rebuilt_frames);
      concealed--;
    }
    /* No voice on either side (CELT-only packets tell nothing): silence
     * was lost. */
    if (valid && info.mode != NATTER_OPUS_MODE_CELT && !info.has_voice && self->have_last_mode &&
        self->last_mode != NATTER_OPUS_MODE_CELT && !self->last_had_voice)
      g_atomic_int_add (&self->silent_concealed_frames, (gint) concealed);
  }
  self->gap_pending = FALSE;
  self->gap_frames = 0;
  g_atomic_int_inc (&self->packets);
  if (valid) {
    self->have_last_mode = TRUE;
    self->last_mode = info.mode;
    self->last_had_voice = info.has_voice;
    self->last_packet_samples = MAX (info.samples_per_frame * info.frames, 1);
  }
}

/**
 * natter_audio_concealment_get_packets:
 * @self: a #NatterAudioConcealment
 *
 * Returns: the packets the decoder got
 */
guint64
natter_audio_concealment_get_packets (NatterAudioConcealment *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return (guint) g_atomic_int_get (&self->packets);
}

/**
 * natter_audio_concealment_get_lost_frames:
 * @self: a #NatterAudioConcealment
 *
 * Returns: the frames the gaps stood for (each the length of the packet
 *   before), rebuilt or concealed
 */
guint64
natter_audio_concealment_get_lost_frames (NatterAudioConcealment *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return (guint) g_atomic_int_get (&self->lost_frames);
}

/**
 * natter_audio_concealment_get_rebuilt_frames:
 * @self: a #NatterAudioConcealment
 *
 * Returns: the lost frames the decoder rebuilt from in-band FEC
 */
guint64
natter_audio_concealment_get_rebuilt_frames (NatterAudioConcealment *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return (guint) g_atomic_int_get (&self->rebuilt_frames);
}

/**
 * natter_audio_concealment_get_silent_concealed_frames:
 * @self: a #NatterAudioConcealment
 *
 * Returns: the lost frames the decoder concealed between two packets the
 *   encoder found no voice in (SILK or hybrid packets with their voice
 *   activity flags off)
 */
guint64
natter_audio_concealment_get_silent_concealed_frames (NatterAudioConcealment *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return (guint) g_atomic_int_get (&self->silent_concealed_frames);
}

/* What reaches opusdec: its packets, and the gaps (GAP events, or empty
 * buffers) the jitter buffer's lost packets become. */
static GstPadProbeReturn
follow_opus_input (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  NatterAudioConcealment *concealment = user_data;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
    GstMapInfo map;

    if (gst_buffer_get_size (buffer) == 0) {
      natter_audio_concealment_add_gap (concealment,
                                        GST_BUFFER_DURATION_IS_VALID (buffer)
                                          ? (gint64) (GST_BUFFER_DURATION (buffer) / GST_USECOND)
                                          : -1);
    } else if (gst_buffer_map (buffer, &map, GST_MAP_READ)) {
      natter_audio_concealment_add_packet (concealment, map.data, map.size);
      gst_buffer_unmap (buffer, &map);
    }
  } else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
    GstClockTime timestamp, duration;

    if (GST_EVENT_TYPE (event) == GST_EVENT_GAP) {
      gst_event_parse_gap (event, &timestamp, &duration);
      natter_audio_concealment_add_gap (
        concealment, GST_CLOCK_TIME_IS_VALID (duration) ? (gint64) (duration / GST_USECOND) : -1);
    }
  }
  return GST_PAD_PROBE_OK;
}

/**
 * natter_audio_concealment_watch_decoder:
 * @decoder: an `opusdec`, `plc` and `use-inband-fec` already set
 *
 * Follows what reaches @decoder, so that a call's statistics can tell the
 * lost audio frames it rebuilds from in-band FEC from those it conceals.
 * The counter lives as long as @decoder.
 *
 * Returns: (transfer none): the counter
 */
NatterAudioConcealment *
natter_audio_concealment_watch_decoder (GstElement *decoder)
{
  g_autoptr (GstPad) sink_pad = NULL;
  gboolean uses_fec = FALSE;
  NatterAudioConcealment *concealment;

  g_return_val_if_fail (GST_IS_ELEMENT (decoder), NULL);
  sink_pad = gst_element_get_static_pad (decoder, "sink");
  g_return_val_if_fail (sink_pad != NULL, NULL);
  g_object_get (decoder, "use-inband-fec", &uses_fec, NULL);
  concealment = natter_audio_concealment_new (uses_fec);
  gst_pad_add_probe (sink_pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     follow_opus_input, natter_audio_concealment_ref (concealment),
                     (GDestroyNotify) natter_audio_concealment_unref);
  g_object_set_data_full (G_OBJECT (decoder), DECODER_DATA_KEY, concealment,
                          (GDestroyNotify) natter_audio_concealment_unref);
  return concealment;
}

/**
 * natter_audio_concealment_get_for_decoder:
 * @element: any element
 *
 * Returns: (transfer none) (nullable): the counter
 *   natter_audio_concealment_watch_decoder() gave @element, if any
 */
NatterAudioConcealment *
natter_audio_concealment_get_for_decoder (GstElement *element)
{
  g_return_val_if_fail (GST_IS_ELEMENT (element), NULL);
  return g_object_get_data (G_OBJECT (element), DECODER_DATA_KEY);
}
