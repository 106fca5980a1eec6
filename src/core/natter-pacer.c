/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-pacer"

#include "config.h"

#include <gst/rtp/rtp.h>

#include "natter-pacer.h"

/* Spreads the video's RTP packets over time instead of letting a whole
 * frame (a keyframe above all) leave in one burst. A slow link's
 * bottleneck queue holds a few packets: at 300 kbit/s, 100 ms of queue is
 * three full-size packets, and a frame of ten sent at once loses the rest,
 * which brings a keyframe request and the next, larger burst. Paced at
 * about twice the estimate, a frame still leaves within a frame interval,
 * and the queue at the bottleneck grows by a fraction of it only.
 *
 * The pacer holds the video's streaming thread (the encoder's, fed by a
 * leaky queue) until each packet's time comes, so its own queue is one
 * frame: while it waits, the camera's frames are dropped before the
 * encoder, where dropping costs the decoder nothing. Audio has its own
 * thread and never waits: its packets pass at once and only take their
 * share of the budget, so video waits behind audio and not the other way
 * round. A packet that would wait longer than max-delay (a frame too big
 * for the rate) is dropped with the rest of its frame, and the encoder is
 * asked for a keyframe ("keyframe-needed") since the decoder lost a
 * reference.
 *
 * The timing is natter_pacer_schedule_video() and
 * natter_pacer_account_audio(), pure functions of the time given, so tests
 * drive them with a fake clock. */

#define MIN_RATE_BPS 16000

struct _NatterPacer {
  GObject parent_instance;

  GMutex lock;
  GCond wake;
  guint rate_bps;
  guint max_delay_ms;
  gint64 next_free_us; /* when the budget allows the next video packet */
  gboolean dropping_frame;
  gboolean stopped;

  guint packets_dropped;
  guint frames_dropped;
  gint64 time_waited_us;
};

enum { SIGNAL_KEYFRAME_NEEDED, N_SIGNALS };

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (NatterPacer, natter_pacer, G_TYPE_OBJECT)

static void
natter_pacer_finalize (GObject *object)
{
  NatterPacer *self = NATTER_PACER (object);

  g_mutex_clear (&self->lock);
  g_cond_clear (&self->wake);
  G_OBJECT_CLASS (natter_pacer_parent_class)->finalize (object);
}

static void
natter_pacer_class_init (NatterPacerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = natter_pacer_finalize;

  /**
   * NatterPacer::keyframe-needed:
   *
   * A video frame was dropped (it would have waited too long): the
   * receiver's decoder lost a reference. Emitted on the streaming thread.
   */
  signals[SIGNAL_KEYFRAME_NEEDED] =
    g_signal_new ("keyframe-needed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
}

static void
natter_pacer_init (NatterPacer *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->wake);
  self->next_free_us = G_MININT64;
}

/**
 * natter_pacer_new:
 * @rate_bps: the pace for video and audio together
 * @max_delay_ms: the longest a video packet may wait before it is dropped
 *
 * Returns: (transfer full): a new pacer
 */
NatterPacer *
natter_pacer_new (guint rate_bps, guint max_delay_ms)
{
  NatterPacer *self = g_object_new (NATTER_TYPE_PACER, NULL);

  self->rate_bps = MAX (rate_bps, MIN_RATE_BPS);
  self->max_delay_ms = max_delay_ms;
  return self;
}

void
natter_pacer_set_rate (NatterPacer *self, guint rate_bps)
{
  g_return_if_fail (NATTER_IS_PACER (self));
  g_mutex_lock (&self->lock);
  self->rate_bps = MAX (rate_bps, MIN_RATE_BPS);
  g_mutex_unlock (&self->lock);
}

guint
natter_pacer_get_rate (NatterPacer *self)
{
  guint rate;

  g_return_val_if_fail (NATTER_IS_PACER (self), 0);
  g_mutex_lock (&self->lock);
  rate = self->rate_bps;
  g_mutex_unlock (&self->lock);
  return rate;
}

guint
natter_pacer_get_max_delay_ms (NatterPacer *self)
{
  g_return_val_if_fail (NATTER_IS_PACER (self), 0);
  return self->max_delay_ms;
}

static gint64
duration_us (NatterPacer *self, gsize size)
{
  return (gint64) ((guint64) size * 8 * G_USEC_PER_SEC / self->rate_bps);
}

/* Unused budget is not saved up: after a pause the next packet goes at
 * once, and the one after it a packet's time later. */
static NatterPacerVerdict
schedule_video_locked (NatterPacer *self,
                       gsize size,
                       gboolean frame_end,
                       gint64 now_us,
                       gint64 *send_at_us,
                       gboolean *frame_newly_dropped)
{
  gint64 send_at = MAX (self->next_free_us, now_us);

  *frame_newly_dropped = FALSE;
  if (!self->dropping_frame && send_at - now_us > (gint64) self->max_delay_ms * 1000) {
    self->dropping_frame = TRUE;
    self->frames_dropped++;
    *frame_newly_dropped = TRUE;
  }
  if (self->dropping_frame) {
    /* The rest of a frame is useless without its start. */
    self->packets_dropped++;
    if (frame_end)
      self->dropping_frame = FALSE;
    *send_at_us = now_us;
    return NATTER_PACER_DROP;
  }
  self->next_free_us = send_at + duration_us (self, size);
  *send_at_us = send_at;
  return NATTER_PACER_SEND;
}

/**
 * natter_pacer_schedule_video:
 * @self: a pacer
 * @size: the packet's size in bytes
 * @frame_end: whether it is the last packet of its frame (RTP marker)
 * @now_us: monotonic time
 * @send_at_us: (out): when to send it (@now_us or later)
 *
 * Takes the packet's time from the budget.
 *
 * Returns: whether to send the packet at @send_at_us or drop it
 */
NatterPacerVerdict
natter_pacer_schedule_video (
  NatterPacer *self, gsize size, gboolean frame_end, gint64 now_us, gint64 *send_at_us)
{
  NatterPacerVerdict verdict;
  gboolean newly_dropped;

  g_return_val_if_fail (NATTER_IS_PACER (self), NATTER_PACER_SEND);
  g_return_val_if_fail (send_at_us != NULL, NATTER_PACER_SEND);

  g_mutex_lock (&self->lock);
  verdict = schedule_video_locked (self, size, frame_end, now_us, send_at_us, &newly_dropped);
  g_mutex_unlock (&self->lock);
  if (newly_dropped)
    g_signal_emit (self, signals[SIGNAL_KEYFRAME_NEEDED], 0);
  return verdict;
}

/**
 * natter_pacer_account_audio:
 * @self: a pacer
 * @size: the packet's size in bytes
 * @now_us: monotonic time
 *
 * An audio packet leaves at once; the video after it waits its time.
 */
void
natter_pacer_account_audio (NatterPacer *self, gsize size, gint64 now_us)
{
  g_return_if_fail (NATTER_IS_PACER (self));

  g_mutex_lock (&self->lock);
  self->next_free_us = MAX (self->next_free_us, now_us) + duration_us (self, size);
  g_mutex_unlock (&self->lock);
}

static gboolean
is_frame_end (GstBuffer *buffer)
{
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  gboolean marker;

  /* Not RTP: nothing to keep together. */
  if (!gst_rtp_buffer_map (buffer, GST_MAP_READ, &rtp))
    return TRUE;
  marker = gst_rtp_buffer_get_marker (&rtp);
  gst_rtp_buffer_unmap (&rtp);
  return marker;
}

/* Returns whether to send @buffer; waits until its time. */
static gboolean
pace_buffer (NatterPacer *self, GstBuffer *buffer)
{
  gboolean frame_end = is_frame_end (buffer);
  gboolean newly_dropped = FALSE;
  NatterPacerVerdict verdict = NATTER_PACER_SEND;
  gint64 now = g_get_monotonic_time ();
  gint64 send_at = now;

  g_mutex_lock (&self->lock);
  if (!self->stopped)
    verdict = schedule_video_locked (self, gst_buffer_get_size (buffer), frame_end, now, &send_at,
                                     &newly_dropped);
  if (verdict == NATTER_PACER_SEND && send_at > now) {
    self->time_waited_us += send_at - now;
    while (!self->stopped && g_get_monotonic_time () < send_at)
      g_cond_wait_until (&self->wake, &self->lock, send_at);
  }
  g_mutex_unlock (&self->lock);
  if (newly_dropped) {
    g_debug ("dropped a video frame: it would have waited over %u ms", self->max_delay_ms);
    g_signal_emit (self, signals[SIGNAL_KEYFRAME_NEEDED], 0);
  }
  return verdict == NATTER_PACER_SEND;
}

static GstPadProbeReturn
on_video_data (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  NatterPacer *self = user_data;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    return pace_buffer (self, GST_PAD_PROBE_INFO_BUFFER (info)) ? GST_PAD_PROBE_OK
                                                                : GST_PAD_PROBE_DROP;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    /* A payloader pushes a frame's packets as one list: each goes on its
     * own (and through this probe again as a buffer), at its own time. */
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST (info);
    GstFlowReturn result = GST_FLOW_OK;

    for (guint i = 0; i < gst_buffer_list_length (list) && result == GST_FLOW_OK; i++)
      result = gst_pad_push (pad, gst_buffer_ref (gst_buffer_list_get (list, i)));
    gst_buffer_list_unref (list);
    GST_PAD_PROBE_INFO_DATA (info) = NULL;
    GST_PAD_PROBE_INFO_FLOW_RETURN (info) = result;
    return GST_PAD_PROBE_HANDLED;
  }
  return GST_PAD_PROBE_OK;
}

static gboolean
account_one (GstBuffer **buffer, guint index, gpointer user_data)
{
  natter_pacer_account_audio (user_data, gst_buffer_get_size (*buffer), g_get_monotonic_time ());
  return TRUE;
}

static GstPadProbeReturn
on_audio_data (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    natter_pacer_account_audio (user_data, gst_buffer_get_size (GST_PAD_PROBE_INFO_BUFFER (info)),
                                g_get_monotonic_time ());
  else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    gst_buffer_list_foreach (GST_PAD_PROBE_INFO_BUFFER_LIST (info), account_one, user_data);
  return GST_PAD_PROBE_OK;
}

/**
 * natter_pacer_attach_video:
 * @self: a pacer
 * @pad: the source pad the video's RTP packets leave by
 *
 * Paces what @pad pushes; the pad's streaming thread waits.
 */
void
natter_pacer_attach_video (NatterPacer *self, GstPad *pad)
{
  g_return_if_fail (NATTER_IS_PACER (self));
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, on_video_data,
                     g_object_ref (self), g_object_unref);
}

/**
 * natter_pacer_attach_audio:
 * @self: a pacer
 * @pad: the source pad the audio's RTP packets leave by
 *
 * Counts what @pad pushes against the budget; it never waits.
 */
void
natter_pacer_attach_audio (NatterPacer *self, GstPad *pad)
{
  g_return_if_fail (NATTER_IS_PACER (self));
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, on_audio_data,
                     g_object_ref (self), g_object_unref);
}

/**
 * natter_pacer_stop:
 * @self: a pacer
 *
 * Lets a waiting packet go and every packet after it pass at once, so the
 * pipeline can stop without waiting for the pace.
 */
void
natter_pacer_stop (NatterPacer *self)
{
  g_return_if_fail (NATTER_IS_PACER (self));
  g_mutex_lock (&self->lock);
  self->stopped = TRUE;
  g_cond_broadcast (&self->wake);
  g_mutex_unlock (&self->lock);
}

guint
natter_pacer_get_packets_dropped (NatterPacer *self)
{
  guint n;

  g_return_val_if_fail (NATTER_IS_PACER (self), 0);
  g_mutex_lock (&self->lock);
  n = self->packets_dropped;
  g_mutex_unlock (&self->lock);
  return n;
}

guint
natter_pacer_get_frames_dropped (NatterPacer *self)
{
  guint n;

  g_return_val_if_fail (NATTER_IS_PACER (self), 0);
  g_mutex_lock (&self->lock);
  n = self->frames_dropped;
  g_mutex_unlock (&self->lock);
  return n;
}

/**
 * natter_pacer_get_time_waited_us:
 *
 * Returns: how long video packets have waited for their time in all
 */
gint64
natter_pacer_get_time_waited_us (NatterPacer *self)
{
  gint64 waited;

  g_return_val_if_fail (NATTER_IS_PACER (self), 0);
  g_mutex_lock (&self->lock);
  waited = self->time_waited_us;
  g_mutex_unlock (&self->lock);
  return waited;
}
