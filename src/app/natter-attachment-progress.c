/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-attachment-progress"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-attachment-progress.h"

/* How far an upload or a download has come, with a Cancel button, shown
 * only while the attachment moves. Cancel activates attachment.cancel,
 * which the image bubble or file card around it installs. */

enum { PROP_0, PROP_ATTACHMENT, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterAttachmentProgress {
  GtkWidget parent_instance;

  NatterAttachmentItem *attachment;
  gulong notify_handler;

  GtkWidget *label;
  GtkWidget *bar;
  GtkWidget *cancel_button;
};

G_DEFINE_FINAL_TYPE (NatterAttachmentProgress, natter_attachment_progress, GTK_TYPE_WIDGET)

static void
update (NatterAttachmentProgress *self)
{
  NatterAttachmentState state;
  gboolean moving;
  double progress;

  if (self->attachment == NULL) {
    gtk_widget_set_visible (GTK_WIDGET (self), FALSE);
    return;
  }

  state = natter_attachment_item_get_state (self->attachment);
  moving =
    state == NATTER_ATTACHMENT_STATE_UPLOADING || state == NATTER_ATTACHMENT_STATE_DOWNLOADING;
  gtk_widget_set_visible (GTK_WIDGET (self), moving);
  if (!moving)
    return;

  /* In whole percents: a redraw per network chunk would slow the
   * transfer itself, which runs at low priority behind the window. */
  progress = (int) (natter_attachment_item_get_progress (self->attachment) * 100) / 100.0;
  if (progress != gtk_progress_bar_get_fraction (GTK_PROGRESS_BAR (self->bar)))
    gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (self->bar), progress);
  {
    g_autofree char *done =
      g_format_size ((guint64) (progress * natter_attachment_item_get_size (self->attachment)));
    g_autofree char *total = g_format_size (natter_attachment_item_get_size (self->attachment));
    /* Translators: an upload's progress: "1.2 MB of 3.4 MB" */
    g_autofree char *text =
      g_strdup_printf (state == NATTER_ATTACHMENT_STATE_UPLOADING ? _ ("Sending %s of %s")
                                                                  : _ ("Receiving %s of %s"),
                       done, total);

    gtk_label_set_label (GTK_LABEL (self->label), text);
  }
}

static void
on_cancel_clicked (NatterAttachmentProgress *self)
{
  gtk_widget_activate_action_variant (GTK_WIDGET (self), "attachment.cancel", NULL);
}

static void
natter_attachment_progress_get_property (GObject *object,
                                         guint prop_id,
                                         GValue *value,
                                         GParamSpec *pspec)
{
  NatterAttachmentProgress *self = NATTER_ATTACHMENT_PROGRESS (object);

  switch (prop_id) {
    case PROP_ATTACHMENT:
      g_value_set_object (value, self->attachment);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_attachment_progress_set_property (GObject *object,
                                         guint prop_id,
                                         const GValue *value,
                                         GParamSpec *pspec)
{
  NatterAttachmentProgress *self = NATTER_ATTACHMENT_PROGRESS (object);

  switch (prop_id) {
    case PROP_ATTACHMENT:
      natter_attachment_progress_set_attachment (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_attachment_progress_dispose (GObject *object)
{
  NatterAttachmentProgress *self = NATTER_ATTACHMENT_PROGRESS (object);
  GtkWidget *child;

  natter_attachment_progress_set_attachment (self, NULL);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);

  G_OBJECT_CLASS (natter_attachment_progress_parent_class)->dispose (object);
}

static void
natter_attachment_progress_class_init (NatterAttachmentProgressClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_attachment_progress_get_property;
  object_class->set_property = natter_attachment_progress_set_property;
  object_class->dispose = natter_attachment_progress_dispose;

  properties[PROP_ATTACHMENT] =
    g_param_spec_object ("attachment", NULL, NULL, NATTER_TYPE_ATTACHMENT_ITEM,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "natter-attachment-progress");
}

static void
natter_attachment_progress_init (NatterAttachmentProgress *self)
{
  GtkWidget *column = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);

  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (gtk_widget_get_layout_manager (GTK_WIDGET (self))),
                              6);

  self->label = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (self->label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (self->label), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (self->label, "caption");
  gtk_widget_add_css_class (self->label, "numeric");
  self->bar = gtk_progress_bar_new ();
  gtk_box_append (GTK_BOX (column), self->label);
  gtk_box_append (GTK_BOX (column), self->bar);
  gtk_widget_set_hexpand (column, TRUE);
  gtk_widget_set_valign (column, GTK_ALIGN_CENTER);
  gtk_widget_set_parent (column, GTK_WIDGET (self));

  self->cancel_button = gtk_button_new_from_icon_name ("process-stop-symbolic");
  gtk_widget_set_valign (self->cancel_button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (self->cancel_button, _ ("Cancel"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->cancel_button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _ ("Cancel Transfer"), -1);
  gtk_widget_add_css_class (self->cancel_button, "circular");
  g_signal_connect_object (self->cancel_button, "clicked", G_CALLBACK (on_cancel_clicked), self,
                           G_CONNECT_SWAPPED);
  gtk_widget_set_parent (self->cancel_button, GTK_WIDGET (self));

  gtk_widget_set_visible (GTK_WIDGET (self), FALSE);
}

/**
 * natter_attachment_progress_new:
 *
 * Returns: (transfer floating): a new progress row
 */
GtkWidget *
natter_attachment_progress_new (void)
{
  return g_object_new (NATTER_TYPE_ATTACHMENT_PROGRESS, NULL);
}

NatterAttachmentItem *
natter_attachment_progress_get_attachment (NatterAttachmentProgress *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_PROGRESS (self), NULL);

  return self->attachment;
}

/**
 * natter_attachment_progress_set_attachment:
 * @self: a #NatterAttachmentProgress
 * @attachment: (nullable): the attachment to follow
 */
void
natter_attachment_progress_set_attachment (NatterAttachmentProgress *self,
                                           NatterAttachmentItem *attachment)
{
  g_return_if_fail (NATTER_IS_ATTACHMENT_PROGRESS (self));
  g_return_if_fail (attachment == NULL || NATTER_IS_ATTACHMENT_ITEM (attachment));

  if (self->attachment == attachment)
    return;

  if (self->attachment != NULL)
    g_clear_signal_handler (&self->notify_handler, self->attachment);
  g_set_object (&self->attachment, attachment);
  if (attachment != NULL)
    self->notify_handler =
      g_signal_connect_object (attachment, "notify", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  update (self);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ATTACHMENT]);
}
