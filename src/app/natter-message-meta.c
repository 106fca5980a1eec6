/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-message-meta"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-message-meta.h"

/* The foot of a bubble: when the message was sent and, for own messages,
 * its delivery state as an icon (clock, one tick, two ticks, error),
 * drawn by this one widget instead of a box holding a label and an image.
 * GTK 4.8 restyles every CSS node of every row below a row it inserts
 * (gtkcssnode.c), so while the list fills a scroll frame's work grew with
 * the nodes of all rows; this is one node where there were three.
 *
 * It looks as the label and the image did: the time in the widget's font
 * (the caption font made smaller, tabular figures), the 14 px icon 4 px
 * after it (before it right to left), both centred on the line. The
 * stylesheet dims it with a lighter colour rather than with opacity, so
 * the ticks of a read message can be drawn at full strength, in the
 * bubble's own colour, beside a dimmed time. */

#define ICON_SIZE 14
#define SPACING 4

struct _NatterMessageMeta {
  GtkWidget parent_instance;

  char *time;
  char *icon_name;
  char *description;
  gboolean emphasized;

  /* Follows the widget's font: GTK updates the widget's Pango context on
   * a style change and the layout checks the context's serial. */
  PangoLayout *layout;
  GtkIconPaintable *icon;
};

G_DEFINE_FINAL_TYPE (NatterMessageMeta, natter_message_meta, GTK_TYPE_WIDGET)

static PangoLayout *
ensure_layout (NatterMessageMeta *self)
{
  if (self->layout == NULL) {
    g_autoptr (PangoAttrList) attributes = pango_attr_list_new ();

    self->layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), self->time);
    /* What the .numeric style class gives a label: figures of one width,
     * so times do not shift as they change. */
    pango_attr_list_insert (attributes, pango_attr_font_features_new ("tnum=1"));
    pango_layout_set_attributes (self->layout, attributes);
  }

  return self->layout;
}

static void
text_size (NatterMessageMeta *self, int *width, int *height)
{
  PangoRectangle logical;

  pango_layout_get_extents (ensure_layout (self), NULL, &logical);
  *width = PANGO_PIXELS_CEIL (logical.width);
  *height = PANGO_PIXELS_CEIL (logical.height);
}

/* Looked up again when the icon, the scale or the direction changes; the
 * icon theme keeps its own cache of what it loaded. */
static GtkIconPaintable *
ensure_icon (NatterMessageMeta *self)
{
  GtkWidget *widget = GTK_WIDGET (self);

  if (self->icon_name == NULL)
    return NULL;

  if (self->icon == NULL) {
    GtkIconTheme *theme = gtk_icon_theme_get_for_display (gtk_widget_get_display (widget));

    self->icon = gtk_icon_theme_lookup_icon (theme, self->icon_name, NULL, ICON_SIZE,
                                             gtk_widget_get_scale_factor (widget),
                                             gtk_widget_get_direction (widget), 0);
  }

  return self->icon;
}

static void
update_accessible (NatterMessageMeta *self)
{
  g_autofree char *label = NULL;

  if (self->description != NULL)
    /* Translators: what a screen reader says for a message's foot: its
     * time, then its delivery state ("14:02, Read") */
    label = g_strdup_printf (C_ ("message time and state", "%s, %s"),
                             self->time != NULL ? self->time : "", self->description);
  else
    label = g_strdup (self->time != NULL ? self->time : "");

  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, label,
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, self->description, -1);
}

static void
natter_message_meta_measure (GtkWidget *widget,
                             GtkOrientation orientation,
                             int for_size,
                             int *minimum,
                             int *natural,
                             int *minimum_baseline,
                             int *natural_baseline)
{
  NatterMessageMeta *self = NATTER_MESSAGE_META (widget);
  gboolean has_icon = self->icon_name != NULL;
  int width, height;

  text_size (self, &width, &height);
  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    *minimum = *natural = width + (has_icon ? SPACING + ICON_SIZE : 0);
  else
    *minimum = *natural = MAX (height, has_icon ? ICON_SIZE : 0);
}

static void
natter_message_meta_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  NatterMessageMeta *self = NATTER_MESSAGE_META (widget);
  gboolean rtl = gtk_widget_get_direction (widget) == GTK_TEXT_DIR_RTL;
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  GtkIconPaintable *icon = ensure_icon (self);
  GdkRGBA color;
  int text_width, text_height;
  int text_x = 0;

  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &color);
  text_size (self, &text_width, &text_height);

  if (icon != NULL) {
    /* The palette GTK gives symbolic icons when the theme sets none. */
    GdkRGBA colors[4] = {
      color,
      { 0.8, 0, 0, 1 },
      { 0.961, 0.475, 0, 1 },
      { 0.306, 0.604, 0.024, 1 },
    };
    float icon_x = rtl ? 0 : width - ICON_SIZE;

    if (self->emphasized)
      gtk_style_context_get_color (gtk_widget_get_style_context (gtk_widget_get_parent (widget)),
                                   &colors[0]);
    gtk_snapshot_save (snapshot);
    gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (icon_x, (height - ICON_SIZE) / 2.0f));
    gtk_symbolic_paintable_snapshot_symbolic (GTK_SYMBOLIC_PAINTABLE (icon), snapshot, ICON_SIZE,
                                              ICON_SIZE, colors, G_N_ELEMENTS (colors));
    gtk_snapshot_restore (snapshot);
    if (rtl)
      text_x = ICON_SIZE + SPACING;
  }

  if (self->time != NULL && *self->time != '\0') {
    gtk_snapshot_save (snapshot);
    gtk_snapshot_translate (snapshot,
                            &GRAPHENE_POINT_INIT (text_x, floorf ((height - text_height) / 2.0f)));
    gtk_snapshot_append_layout (snapshot, self->layout, &color);
    gtk_snapshot_restore (snapshot);
  }
}

static void
natter_message_meta_direction_changed (GtkWidget *widget, GtkTextDirection previous)
{
  NatterMessageMeta *self = NATTER_MESSAGE_META (widget);

  g_clear_object (&self->icon);
  GTK_WIDGET_CLASS (natter_message_meta_parent_class)->direction_changed (widget, previous);
}

static void
on_scale_factor_changed (NatterMessageMeta *self)
{
  g_clear_object (&self->icon);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
natter_message_meta_finalize (GObject *object)
{
  NatterMessageMeta *self = NATTER_MESSAGE_META (object);

  g_clear_object (&self->layout);
  g_clear_object (&self->icon);
  g_free (self->time);
  g_free (self->icon_name);
  g_free (self->description);

  G_OBJECT_CLASS (natter_message_meta_parent_class)->finalize (object);
}

static void
natter_message_meta_class_init (NatterMessageMetaClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = natter_message_meta_finalize;
  widget_class->measure = natter_message_meta_measure;
  widget_class->snapshot = natter_message_meta_snapshot;
  widget_class->direction_changed = natter_message_meta_direction_changed;

  gtk_widget_class_set_css_name (widget_class, "natter-message-meta");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_LABEL);
}

static void
natter_message_meta_init (NatterMessageMeta *self)
{
  g_signal_connect (self, "notify::scale-factor", G_CALLBACK (on_scale_factor_changed), NULL);
}

/**
 * natter_message_meta_new:
 *
 * Returns: (transfer floating): a new message foot, without time or state
 */
GtkWidget *
natter_message_meta_new (void)
{
  return g_object_new (NATTER_TYPE_MESSAGE_META, NULL);
}

/**
 * natter_message_meta_set_time:
 * @self: a #NatterMessageMeta
 * @time: (nullable): when the message was sent, as shown ("14:02")
 */
void
natter_message_meta_set_time (NatterMessageMeta *self, const char *time)
{
  g_return_if_fail (NATTER_IS_MESSAGE_META (self));

  if (g_strcmp0 (self->time, time) == 0)
    return;

  g_free (self->time);
  self->time = g_strdup (time);
  if (self->layout != NULL)
    pango_layout_set_text (self->layout, time != NULL ? time : "", -1);
  update_accessible (self);
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

/**
 * natter_message_meta_get_time:
 * @self: a #NatterMessageMeta
 *
 * Returns: (nullable): the time shown
 */
const char *
natter_message_meta_get_time (NatterMessageMeta *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_META (self), NULL);

  return self->time;
}

/**
 * natter_message_meta_set_state:
 * @self: a #NatterMessageMeta
 * @icon_name: (nullable): the delivery state's icon, or %NULL for none
 * @description: (nullable): the state in words, for the tooltip and
 *   screen readers
 * @emphasized: whether the icon is drawn at full strength (read)
 */
void
natter_message_meta_set_state (NatterMessageMeta *self,
                               const char *icon_name,
                               const char *description,
                               gboolean emphasized)
{
  gboolean resize;

  g_return_if_fail (NATTER_IS_MESSAGE_META (self));

  emphasized = !!emphasized;
  if (g_strcmp0 (self->icon_name, icon_name) == 0 &&
      g_strcmp0 (self->description, description) == 0 && self->emphasized == emphasized)
    return;

  resize = (self->icon_name == NULL) != (icon_name == NULL);
  g_free (self->icon_name);
  self->icon_name = g_strdup (icon_name);
  g_free (self->description);
  self->description = g_strdup (description);
  self->emphasized = emphasized;
  g_clear_object (&self->icon);

  gtk_widget_set_tooltip_text (GTK_WIDGET (self), description);
  update_accessible (self);
  if (resize)
    gtk_widget_queue_resize (GTK_WIDGET (self));
  else
    gtk_widget_queue_draw (GTK_WIDGET (self));
}

/**
 * natter_message_meta_get_icon_name:
 * @self: a #NatterMessageMeta
 *
 * Returns: (nullable): the name of the delivery state's icon shown
 */
const char *
natter_message_meta_get_icon_name (NatterMessageMeta *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_META (self), NULL);

  return self->icon_name;
}
