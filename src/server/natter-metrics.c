/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-metrics"

#include "config.h"

#include "natter-metrics.h"

typedef struct {
  char *name;
  char *labels; /* "" or {a="b",c="d"}, escaped */
  gint64 value;
} NatterSeries;

struct _NatterMetrics {
  GObject parent_instance;

  /* "name\1labels" -> NatterSeries: sorted so that a family's series are
   * adjacent ('\1' sorts before every character of a longer name). */
  GTree *series;
};

G_DEFINE_FINAL_TYPE (NatterMetrics, natter_metrics, G_TYPE_OBJECT)

static void
natter_series_free (gpointer data)
{
  NatterSeries *series = data;

  g_free (series->name);
  g_free (series->labels);
  g_free (series);
}

static void
append_escaped (GString *out, const char *value)
{
  for (const char *p = value; *p != '\0'; p++) {
    if (*p == '\\')
      g_string_append (out, "\\\\");
    else if (*p == '"')
      g_string_append (out, "\\\"");
    else if (*p == '\n')
      g_string_append (out, "\\n");
    else
      g_string_append_c (out, *p);
  }
}

static char *
format_labels (const char *label1_name,
               const char *label1_value,
               const char *label2_name,
               const char *label2_value)
{
  GString *out = g_string_new (NULL);

  if (label1_name != NULL && label1_value != NULL) {
    g_string_append_printf (out, "%s=\"", label1_name);
    append_escaped (out, label1_value);
    g_string_append_c (out, '"');
  }
  if (label2_name != NULL && label2_value != NULL) {
    if (out->len > 0)
      g_string_append_c (out, ',');
    g_string_append_printf (out, "%s=\"", label2_name);
    append_escaped (out, label2_value);
    g_string_append_c (out, '"');
  }
  if (out->len > 0) {
    g_string_prepend_c (out, '{');
    g_string_append_c (out, '}');
  }

  return g_string_free (out, FALSE);
}

static NatterSeries *
lookup_series (NatterMetrics *self, const char *name, char *labels, gboolean create)
{
  g_autofree char *key = g_strconcat (name, "\1", labels, NULL);
  NatterSeries *series = g_tree_lookup (self->series, key);

  if (series == NULL && create) {
    series = g_new0 (NatterSeries, 1);
    series->name = g_strdup (name);
    series->labels = g_strdup (labels);
    g_tree_insert (self->series, g_steal_pointer (&key), series);
  }

  return series;
}

static void
natter_metrics_finalize (GObject *object)
{
  NatterMetrics *self = NATTER_METRICS (object);

  g_clear_pointer (&self->series, g_tree_unref);

  G_OBJECT_CLASS (natter_metrics_parent_class)->finalize (object);
}

static void
natter_metrics_class_init (NatterMetricsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = natter_metrics_finalize;
}

static void
natter_metrics_init (NatterMetrics *self)
{
  self->series = g_tree_new_full ((GCompareDataFunc) g_strcmp0, NULL, g_free, natter_series_free);
}

/**
 * natter_metrics_new:
 *
 * Returns: (transfer full): an empty set of counters and gauges
 */
NatterMetrics *
natter_metrics_new (void)
{
  return g_object_new (NATTER_TYPE_METRICS, NULL);
}

/**
 * natter_metrics_add_labels:
 * @self: the metrics
 * @name: the metric, ending in `_total` for a counter
 * @label1_name: (nullable): first label
 * @label1_value: (nullable): its value
 * @label2_name: (nullable): second label
 * @label2_value: (nullable): its value
 * @delta: what to add
 *
 * Adds @delta to the series of @name with those labels.
 */
void
natter_metrics_add_labels (NatterMetrics *self,
                           const char *name,
                           const char *label1_name,
                           const char *label1_value,
                           const char *label2_name,
                           const char *label2_value,
                           gint64 delta)
{
  g_autofree char *labels = NULL;

  g_return_if_fail (NATTER_IS_METRICS (self));
  g_return_if_fail (name != NULL);

  labels = format_labels (label1_name, label1_value, label2_name, label2_value);
  lookup_series (self, name, labels, TRUE)->value += delta;
}

/**
 * natter_metrics_add:
 * @self: the metrics
 * @name: the metric, ending in `_total` for a counter
 * @label_name: (nullable): the label
 * @label_value: (nullable): its value
 * @delta: what to add
 *
 * Adds @delta to a counter or gauge.
 */
void
natter_metrics_add (NatterMetrics *self,
                    const char *name,
                    const char *label_name,
                    const char *label_value,
                    gint64 delta)
{
  natter_metrics_add_labels (self, name, label_name, label_value, NULL, NULL, delta);
}

/**
 * natter_metrics_set:
 * @self: the metrics
 * @name: the gauge
 * @label_name: (nullable): the label
 * @label_value: (nullable): its value
 * @value: the new value
 *
 * Sets a gauge.
 */
void
natter_metrics_set (NatterMetrics *self,
                    const char *name,
                    const char *label_name,
                    const char *label_value,
                    gint64 value)
{
  g_autofree char *labels = NULL;

  g_return_if_fail (NATTER_IS_METRICS (self));
  g_return_if_fail (name != NULL);

  labels = format_labels (label_name, label_value, NULL, NULL);
  lookup_series (self, name, labels, TRUE)->value = value;
}

/**
 * natter_metrics_get:
 * @self: the metrics
 * @name: the metric
 * @label_name: (nullable): the label
 * @label_value: (nullable): its value
 *
 * Returns: the series' value, 0 when it was never touched
 */
gint64
natter_metrics_get (NatterMetrics *self,
                    const char *name,
                    const char *label_name,
                    const char *label_value)
{
  g_autofree char *labels = NULL;
  NatterSeries *series;

  g_return_val_if_fail (NATTER_IS_METRICS (self), 0);
  g_return_val_if_fail (name != NULL, 0);

  labels = format_labels (label_name, label_value, NULL, NULL);
  series = lookup_series (self, name, labels, FALSE);

  return series != NULL ? series->value : 0;
}

typedef struct {
  GString *out;
  const char *family;
} RenderState;

static gboolean
render_series (gpointer key, gpointer value, gpointer user_data)
{
  NatterSeries *series = value;
  RenderState *state = user_data;

  if (state->family == NULL || !g_str_equal (state->family, series->name)) {
    state->family = series->name;
    g_string_append_printf (state->out, "# TYPE %s %s\n", series->name,
                            g_str_has_suffix (series->name, "_total") ? "counter" : "gauge");
  }
  g_string_append_printf (state->out, "%s%s %" G_GINT64_FORMAT "\n", series->name, series->labels,
                          series->value);

  return FALSE;
}

/**
 * natter_metrics_render:
 * @self: the metrics
 *
 * Returns: (transfer full): every series in Prometheus' text format
 */
char *
natter_metrics_render (NatterMetrics *self)
{
  RenderState state = { NULL, NULL };

  g_return_val_if_fail (NATTER_IS_METRICS (self), NULL);

  state.out = g_string_new (NULL);
  g_tree_foreach (self->series, render_series, &state);

  return g_string_free (state.out, FALSE);
}
