/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bandwidth-estimator"

#include "config.h"

#include <math.h>

#include "natter-bandwidth-estimator.h"

/* A send-side bandwidth estimate after Google Congestion Control
 * (draft-ietf-rmcat-gcc-02, and libwebrtc's trendline estimator): a
 * delay-based part that watches whether the packets' one-way delay grows
 * (a queue filling at the bottleneck) and a loss-based part on the loss the
 * feedback reports; the estimate is the lower of the two.
 *
 * Input is transport-wide congestion control feedback (send and arrival
 * time of every packet), or RTCP receiver reports' loss alone when the
 * peer sends no such feedback. */

/* Packets sent within 5 ms form one group (one frame's burst). */
#define GROUP_SPAN_US 5000
/* Trendline: linear regression over the last 20 group delay samples of
 * the smoothed accumulated delay. */
#define TREND_WINDOW 20
#define TREND_SMOOTHING 0.9
#define TREND_GAIN 4.0
#define THRESHOLD_INITIAL 12.5
#define THRESHOLD_MIN 6.0
#define THRESHOLD_MAX 600.0
#define THRESHOLD_K_UP 0.0087
#define THRESHOLD_K_DOWN 0.039
#define OVERUSE_TIME_MS 10.0
/* What was acknowledged over this window is the rate the path carries. */
#define ACK_WINDOW_US 500000
#define ACK_HISTORY 512
/* On overuse, the least fraction of the estimate the decrease starts from. */
#define DECREASE_FLOOR 0.5
/* Sending under this share of the estimate is application-limited (the
 * encoder, not the path, sets the rate), as libwebrtc's ALR detector. */
#define APP_LIMITED_FRACTION 0.8
/* Over a second, so that a keyframe's burst does not hide it. */
#define SENT_WINDOW_US 1000000
/* ...unless the path carries less than this share of what was sent: then
 * the queue is growing and the sender is over the path's rate after all. */
#define CARRIED_FRACTION 0.85
/* Loss-based: judged over at least this long. */
#define LOSS_INTERVAL_US 500000
#define LOSS_HIGH 0.10
#define LOSS_LOW 0.02

typedef struct {
  gint64 first_send_us;
  gint64 last_send_us;
  gint64 last_arrival_us;
  gboolean valid;
} PacketGroup;

typedef enum {
  RATE_HOLD,
  RATE_INCREASE,
  RATE_DECREASE,
} RateState;

struct _NatterBandwidthEstimator {
  guint min_bps;
  guint max_bps;

  /* Delay-based. */
  PacketGroup current;
  PacketGroup previous;
  gint64 first_arrival_us;
  gboolean have_first_arrival;
  double accumulated_delay_ms;
  double smoothed_delay_ms;
  double window_x[TREND_WINDOW];
  double window_y[TREND_WINDOW];
  guint window_count;
  guint window_next;
  guint num_deltas;
  double trend;
  double previous_trend;
  double threshold;
  gint64 last_threshold_update_us;
  double time_over_ms;
  guint overuse_count;
  NatterBandwidthUsage usage;

  /* AIMD rate control on the delay signal. */
  RateState rate_state;
  gboolean starting; /* no congestion seen yet: grow fast */
  double delay_bps;
  gint64 last_rate_update_us;

  /* Acknowledged bitrate: arrival time and size of received packets. */
  gint64 ack_arrival_us[ACK_HISTORY];
  guint ack_size[ACK_HISTORY];
  guint ack_next;
  guint ack_count;
  guint acknowledged_bps;

  /* Sent bitrate: send time and size of every reported packet, lost ones
   * too. */
  gint64 sent_time_us[ACK_HISTORY];
  guint sent_size[ACK_HISTORY];
  guint sent_next;
  guint sent_count;
  guint sent_bps;
  /* The estimate before an overuse seen while application-limited: while
   * the sender stays so, the estimate may grow back to it. */
  double app_limited_ceiling_bps;

  /* Loss-based. */
  double loss_bps;
  guint interval_lost;
  guint interval_total;
  gint64 interval_start_us;
  gint64 last_feedback_us;
  double loss;
};

NatterBandwidthEstimator *
natter_bandwidth_estimator_new (guint min_bps, guint start_bps, guint max_bps)
{
  NatterBandwidthEstimator *self = g_new0 (NatterBandwidthEstimator, 1);

  g_return_val_if_fail (min_bps <= max_bps, self);

  self->min_bps = min_bps;
  self->max_bps = max_bps;
  self->delay_bps = CLAMP (start_bps, min_bps, max_bps);
  self->loss_bps = self->delay_bps;
  self->threshold = THRESHOLD_INITIAL;
  self->rate_state = RATE_INCREASE;
  self->starting = TRUE;
  self->usage = NATTER_BANDWIDTH_USAGE_NORMAL;
  self->last_feedback_us = G_MININT64;
  self->last_rate_update_us = G_MININT64;
  self->last_threshold_update_us = G_MININT64;
  self->interval_start_us = G_MININT64;
  return self;
}

void
natter_bandwidth_estimator_free (NatterBandwidthEstimator *self)
{
  g_free (self);
}

static double
clamp_rate (NatterBandwidthEstimator *self, double bps)
{
  return CLAMP (bps, (double) self->min_bps, (double) self->max_bps);
}

/* Slope of y over x by least squares; 0 when x does not vary. */
static double
linear_fit_slope (const double *x, const double *y, guint n)
{
  double sum_x = 0, sum_y = 0, numerator = 0, denominator = 0;

  for (guint i = 0; i < n; i++) {
    sum_x += x[i];
    sum_y += y[i];
  }
  for (guint i = 0; i < n; i++) {
    double dx = x[i] - sum_x / n;

    numerator += dx * (y[i] - sum_y / n);
    denominator += dx * dx;
  }
  return denominator > 0 ? numerator / denominator : 0;
}

/* The detection threshold follows the trend slowly, so that a path whose
 * delay varies a lot anyway (Wi-Fi) does not look congested all the time,
 * and a competing TCP flow does not starve us (RMCAT GCC §5.4). */
static void
update_threshold (NatterBandwidthEstimator *self, double modified_trend, gint64 now_us)
{
  double magnitude = fabs (modified_trend);
  double k, dt_ms;

  if (self->last_threshold_update_us == G_MININT64)
    self->last_threshold_update_us = now_us;
  if (magnitude > self->threshold + 15.0) {
    self->last_threshold_update_us = now_us;
    return;
  }
  k = magnitude < self->threshold ? THRESHOLD_K_DOWN : THRESHOLD_K_UP;
  dt_ms = MIN ((now_us - self->last_threshold_update_us) / 1000.0, 100.0);
  self->threshold += k * (magnitude - self->threshold) * dt_ms;
  self->threshold = CLAMP (self->threshold, THRESHOLD_MIN, THRESHOLD_MAX);
  self->last_threshold_update_us = now_us;
}

static void
detect_overuse (NatterBandwidthEstimator *self, double delta_ms, gint64 arrival_us)
{
  double modified_trend = MIN (self->num_deltas, 60) * self->trend * TREND_GAIN;

  if (modified_trend > self->threshold) {
    self->time_over_ms += delta_ms;
    self->overuse_count++;
    if (self->time_over_ms > OVERUSE_TIME_MS && self->overuse_count > 1 &&
        self->trend >= self->previous_trend) {
      self->time_over_ms = 0;
      self->overuse_count = 0;
      self->usage = NATTER_BANDWIDTH_USAGE_OVERUSING;
    }
  } else if (modified_trend < -self->threshold) {
    self->time_over_ms = 0;
    self->overuse_count = 0;
    self->usage = NATTER_BANDWIDTH_USAGE_UNDERUSING;
  } else {
    self->time_over_ms = 0;
    self->overuse_count = 0;
    self->usage = NATTER_BANDWIDTH_USAGE_NORMAL;
  }
  self->previous_trend = self->trend;
  update_threshold (self, modified_trend, arrival_us);
}

/* One completed group against the one before it. */
static void
add_group_delta (NatterBandwidthEstimator *self)
{
  double send_delta_ms, arrival_delta_ms, delay_delta_ms;

  send_delta_ms = (self->current.last_send_us - self->previous.last_send_us) / 1000.0;
  arrival_delta_ms = (self->current.last_arrival_us - self->previous.last_arrival_us) / 1000.0;
  /* Reordered across groups: no delay signal in it. */
  if (arrival_delta_ms < 0)
    return;
  delay_delta_ms = arrival_delta_ms - send_delta_ms;

  self->num_deltas++;
  self->accumulated_delay_ms += delay_delta_ms;
  self->smoothed_delay_ms =
    TREND_SMOOTHING * self->smoothed_delay_ms + (1 - TREND_SMOOTHING) * self->accumulated_delay_ms;
  self->window_x[self->window_next] =
    (self->current.last_arrival_us - self->first_arrival_us) / 1000.0;
  self->window_y[self->window_next] = self->smoothed_delay_ms;
  self->window_next = (self->window_next + 1) % TREND_WINDOW;
  self->window_count = MIN (self->window_count + 1, TREND_WINDOW);
  if (self->window_count == TREND_WINDOW)
    self->trend = linear_fit_slope (self->window_x, self->window_y, TREND_WINDOW);

  detect_overuse (self, arrival_delta_ms, self->current.last_arrival_us);
}

static void
add_received_packet (NatterBandwidthEstimator *self, const NatterPacketFeedback *packet)
{
  if (!self->have_first_arrival) {
    self->have_first_arrival = TRUE;
    self->first_arrival_us = packet->arrival_time_us;
  }

  self->ack_arrival_us[self->ack_next] = packet->arrival_time_us;
  self->ack_size[self->ack_next] = packet->size;
  self->ack_next = (self->ack_next + 1) % ACK_HISTORY;
  self->ack_count = MIN (self->ack_count + 1, ACK_HISTORY);

  if (!self->current.valid) {
    self->current.valid = TRUE;
    self->current.first_send_us = packet->send_time_us;
    self->current.last_send_us = packet->send_time_us;
    self->current.last_arrival_us = packet->arrival_time_us;
    return;
  }
  /* A packet sent before the current group is a late one: skip it. */
  if (packet->send_time_us < self->current.first_send_us)
    return;
  if (packet->send_time_us - self->current.first_send_us > GROUP_SPAN_US) {
    if (self->previous.valid)
      add_group_delta (self);
    self->previous = self->current;
    self->current.first_send_us = packet->send_time_us;
    self->current.last_send_us = packet->send_time_us;
    self->current.last_arrival_us = packet->arrival_time_us;
    return;
  }
  self->current.last_send_us = MAX (self->current.last_send_us, packet->send_time_us);
  self->current.last_arrival_us = MAX (self->current.last_arrival_us, packet->arrival_time_us);
}

static void
add_sent_packet (NatterBandwidthEstimator *self, const NatterPacketFeedback *packet)
{
  self->sent_time_us[self->sent_next] = packet->send_time_us;
  self->sent_size[self->sent_next] = packet->size;
  self->sent_next = (self->sent_next + 1) % ACK_HISTORY;
  self->sent_count = MIN (self->sent_count + 1, ACK_HISTORY);
}

static void
update_sent_bitrate (NatterBandwidthEstimator *self)
{
  gint64 latest = G_MININT64, earliest = G_MAXINT64;
  guint64 bytes = 0;

  for (guint i = 0; i < self->sent_count; i++)
    latest = MAX (latest, self->sent_time_us[i]);
  for (guint i = 0; i < self->sent_count; i++) {
    if (self->sent_time_us[i] > latest - SENT_WINDOW_US) {
      bytes += self->sent_size[i];
      earliest = MIN (earliest, self->sent_time_us[i]);
    }
  }
  if (self->sent_count == 0 || latest - earliest < SENT_WINDOW_US / 5)
    return;
  self->sent_bps = (guint) (bytes * 8 * G_USEC_PER_SEC / MAX (latest - earliest, 1));
}

/* Whether the encoder rather than the path limits what is sent: then what
 * is acknowledged is the encoder's rate and says nothing about the path's
 * (GCC's application-limited region). */
static gboolean
is_app_limited (const NatterBandwidthEstimator *self)
{
  double estimate = MIN (self->delay_bps, self->loss_bps);

  if (self->sent_bps == 0 || self->acknowledged_bps == 0)
    return FALSE;
  return self->sent_bps < APP_LIMITED_FRACTION * estimate &&
         self->acknowledged_bps >= CARRIED_FRACTION * self->sent_bps;
}

static void
update_acknowledged_bitrate (NatterBandwidthEstimator *self)
{
  gint64 latest = G_MININT64, earliest = G_MAXINT64;
  guint64 bytes = 0;

  for (guint i = 0; i < self->ack_count; i++)
    latest = MAX (latest, self->ack_arrival_us[i]);
  for (guint i = 0; i < self->ack_count; i++) {
    if (self->ack_arrival_us[i] > latest - ACK_WINDOW_US) {
      bytes += self->ack_size[i];
      earliest = MIN (earliest, self->ack_arrival_us[i]);
    }
  }
  /* Less than a fifth of the window says little. */
  if (self->ack_count == 0 || latest - earliest < ACK_WINDOW_US / 5)
    return;
  self->acknowledged_bps = (guint) (bytes * 8 * G_USEC_PER_SEC / MAX (latest - earliest, 1));
}

/* Additive-increase, multiplicative-decrease on the delay signal (RMCAT
 * GCC §5.5): back off to 85 % of what got through on overuse, hold on
 * underuse (the queue is draining), grow 8 % a second otherwise, never
 * far beyond what the path has been seen to carry. */
static void
update_delay_rate (NatterBandwidthEstimator *self, gint64 now_us)
{
  double seconds;

  if (self->last_rate_update_us == G_MININT64)
    self->last_rate_update_us = now_us;
  seconds = MIN ((now_us - self->last_rate_update_us) / (double) G_USEC_PER_SEC, 1.0);
  self->last_rate_update_us = now_us;

  switch (self->usage) {
    case NATTER_BANDWIDTH_USAGE_OVERUSING:
      if (self->rate_state != RATE_DECREASE) {
        /* What got through, but never under half the estimate in one step:
         * a window of few acknowledged bytes (feedback held up on a busy
         * machine, the encoder skipping frames) once took a call from
         * 140 to 60 kbit/s on a 300 kbit/s link, where it stayed. A real
         * bottleneck goes on signalling and is followed down in a few
         * steps. */
        double base = self->acknowledged_bps > 0
                        ? MAX (self->acknowledged_bps, DECREASE_FLOOR * self->delay_bps)
                        : self->delay_bps;

        /* Application-limited, what got through is what the encoder sent:
         * cutting from it, and from the next, lower, figure at the next
         * overuse (a keyframe's burst, a busy machine), took a 300 kbit/s
         * call's estimate from 200 to 100 kbit/s in 20 s. Cut from the
         * estimate instead, and let it grow back while the sender stays
         * application-limited; a real bottleneck goes on signalling and
         * soon carries less than is sent, which ends the exception. */
        gboolean app_limited = is_app_limited (self);

        if (app_limited) {
          self->app_limited_ceiling_bps = MAX (self->app_limited_ceiling_bps, self->delay_bps);
          base = self->delay_bps;
        } else {
          self->app_limited_ceiling_bps = 0;
        }
        g_debug ("overuse: %.0f -> %.0f bit/s (sent %u, acknowledged %u%s)", self->delay_bps,
                 clamp_rate (self, MIN (self->delay_bps, 0.85 * base)), self->sent_bps,
                 self->acknowledged_bps, app_limited ? ", application-limited" : "");
        self->delay_bps = clamp_rate (self, MIN (self->delay_bps, 0.85 * base));
        self->starting = FALSE;
        /* Wait for the queue to drain before judging again. */
        self->rate_state = RATE_DECREASE;
      }
      break;
    case NATTER_BANDWIDTH_USAGE_UNDERUSING:
      self->rate_state = RATE_HOLD;
      break;
    case NATTER_BANDWIDTH_USAGE_NORMAL:
      if (self->rate_state == RATE_DECREASE) {
        self->rate_state = RATE_HOLD;
      } else {
        /* Until the first sign of congestion, +50 % a second (a call starts
         * low and finds a clean link's rate in a few seconds, as libwebrtc's
         * start-up probing does); then 8 %. */
        double grown = self->delay_bps * pow (self->starting ? 1.5 : 1.08, seconds);

        self->rate_state = RATE_INCREASE;
        /* An encoder that sends less than allowed must not let the estimate
         * run away from what was ever tested. */
        if (self->acknowledged_bps > 0) {
          double ceiling = 1.5 * self->acknowledged_bps + 10000;

          if (is_app_limited (self))
            ceiling = MAX (ceiling, self->app_limited_ceiling_bps);
          grown = MIN (grown, MAX (self->delay_bps, ceiling));
        }
        self->delay_bps = clamp_rate (self, grown);
      }
      break;
    default:
      g_assert_not_reached ();
  }
}

/* Loss-based (RMCAT GCC §6): over 10 % lost, cut by half the loss; under
 * 2 %, grow 5 %; in between, hold. Runs once per interval. */
static void
update_loss_rate (NatterBandwidthEstimator *self, guint lost, guint total, gint64 now_us)
{
  double fraction;

  if (self->interval_start_us == G_MININT64)
    self->interval_start_us = now_us;
  self->interval_lost += lost;
  self->interval_total += total;
  if (now_us - self->interval_start_us < LOSS_INTERVAL_US || self->interval_total == 0)
    return;

  fraction = (double) self->interval_lost / self->interval_total;
  self->loss = self->loss == 0 ? fraction : 0.7 * self->loss + 0.3 * fraction;
  if (fraction > LOSS_HIGH)
    self->starting = FALSE;
  if (fraction > LOSS_HIGH)
    self->loss_bps = clamp_rate (self, self->loss_bps * (1 - 0.5 * fraction));
  else if (fraction < LOSS_LOW)
    self->loss_bps = clamp_rate (self, MIN (self->loss_bps * 1.05, 1.5 * self->delay_bps));
  self->interval_lost = 0;
  self->interval_total = 0;
  self->interval_start_us = now_us;
}

/**
 * natter_bandwidth_estimator_on_feedback:
 * @self: an estimator
 * @packets: (array length=n_packets): feedback in send order
 * @n_packets: how many
 * @now_us: the local monotonic time the feedback arrived
 *
 * Takes one transport-wide congestion control feedback report.
 */
void
natter_bandwidth_estimator_on_feedback (NatterBandwidthEstimator *self,
                                        const NatterPacketFeedback *packets,
                                        guint n_packets,
                                        gint64 now_us)
{
  guint lost = 0;

  g_return_if_fail (self != NULL);
  g_return_if_fail (packets != NULL || n_packets == 0);

  if (n_packets == 0)
    return;
  self->last_feedback_us = now_us;
  for (guint i = 0; i < n_packets; i++) {
    add_sent_packet (self, &packets[i]);
    if (packets[i].arrival_time_us < 0)
      lost++;
    else
      add_received_packet (self, &packets[i]);
  }
  update_acknowledged_bitrate (self);
  update_sent_bitrate (self);
  update_delay_rate (self, now_us);
  update_loss_rate (self, lost, n_packets, now_us);
}

/**
 * natter_bandwidth_estimator_on_loss_report:
 * @self: an estimator
 * @fraction_lost: from an RTCP receiver report, 0…1
 * @now_us: local monotonic time
 *
 * Loss as RTCP receiver reports give it. Used only while no transport-wide
 * feedback arrives (a peer without transport-cc), which counts loss itself.
 */
void
natter_bandwidth_estimator_on_loss_report (NatterBandwidthEstimator *self,
                                           double fraction_lost,
                                           gint64 now_us)
{
  g_return_if_fail (self != NULL);

  if (self->last_feedback_us != G_MININT64 && now_us - self->last_feedback_us < 2 * G_USEC_PER_SEC)
    return;
  if (!(fraction_lost >= 0 && fraction_lost <= 1))
    return;
  /* Counted as a hundred packets, so one report is one interval. */
  self->interval_start_us = G_MININT64;
  self->interval_lost = 0;
  self->interval_total = 0;
  update_loss_rate (self, (guint) lround (fraction_lost * 100), 100, now_us);
  update_loss_rate (self, 0, 0, now_us + LOSS_INTERVAL_US);
}

guint
natter_bandwidth_estimator_get_estimate (const NatterBandwidthEstimator *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return (guint) MIN (self->delay_bps, self->loss_bps);
}

guint
natter_bandwidth_estimator_get_delay_estimate (const NatterBandwidthEstimator *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return (guint) self->delay_bps;
}

guint
natter_bandwidth_estimator_get_loss_estimate (const NatterBandwidthEstimator *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return (guint) self->loss_bps;
}

/**
 * natter_bandwidth_estimator_get_acknowledged_bitrate:
 *
 * Returns: bits per second the peer received over the last half second of
 *   feedback; 0 before there is enough
 */
guint
natter_bandwidth_estimator_get_acknowledged_bitrate (const NatterBandwidthEstimator *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->acknowledged_bps;
}

/**
 * natter_bandwidth_estimator_get_loss:
 *
 * Returns: the smoothed fraction (0…1) of packets lost on the way to the peer
 */
double
natter_bandwidth_estimator_get_loss (const NatterBandwidthEstimator *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->loss;
}

NatterBandwidthUsage
natter_bandwidth_estimator_get_usage (const NatterBandwidthEstimator *self)
{
  g_return_val_if_fail (self != NULL, NATTER_BANDWIDTH_USAGE_NORMAL);
  return self->usage;
}

/**
 * natter_bandwidth_estimator_get_limited:
 *
 * Returns: whether congestion was seen, so that the estimate is the path's
 *   limit rather than a start-up value still growing
 */
gboolean
natter_bandwidth_estimator_get_limited (const NatterBandwidthEstimator *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return !self->starting;
}

/**
 * natter_bandwidth_estimator_get_trend:
 *
 * Returns: the slope of the queuing delay (ms per ms) over the last groups
 */
double
natter_bandwidth_estimator_get_trend (const NatterBandwidthEstimator *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->trend;
}
