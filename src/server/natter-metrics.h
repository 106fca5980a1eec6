/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define NATTER_TYPE_METRICS (natter_metrics_get_type ())
G_DECLARE_FINAL_TYPE (NatterMetrics, natter_metrics, NATTER, METRICS, GObject)

NatterMetrics *natter_metrics_new (void);

/* Counters and gauges keyed by metric name and one optional label, e.g.
 * natter_metrics_inc (m, "natter_frames_in_total", "type", "chat_message").
 * @label_name and @label_value may be NULL. */
void natter_metrics_add (NatterMetrics *self,
                         const char *name,
                         const char *label_name,
                         const char *label_value,
                         gint64 delta);
#define natter_metrics_inc(self, name, label_name, label_value) \
  natter_metrics_add ((self), (name), (label_name), (label_value), 1)
void natter_metrics_set (NatterMetrics *self,
                         const char *name,
                         const char *label_name,
                         const char *label_value,
                         gint64 value);
gint64 natter_metrics_get (NatterMetrics *self,
                           const char *name,
                           const char *label_name,
                           const char *label_value);
/* The same with two labels, e.g. HTTP requests by route and status. */
void natter_metrics_add_labels (NatterMetrics *self,
                                const char *name,
                                const char *label1_name,
                                const char *label1_value,
                                const char *label2_name,
                                const char *label2_value,
                                gint64 delta);
/* Prometheus text exposition format, with # TYPE lines. */
char *natter_metrics_render (NatterMetrics *self);

G_END_DECLS
