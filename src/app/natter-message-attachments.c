/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-message-attachments"

#include "config.h"

#include "natter-attachment-item.h"
#include "natter-file-card.h"
#include "natter-image-bubble.h"
#include "natter-message-attachments.h"

/* The attachments of one message, in its bubble: an image bubble for each
 * image, a file card for any other file, in the order they were sent. */

enum { PROP_0, PROP_MODEL, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterMessageAttachments {
  GtkWidget parent_instance;

  GListModel *model;
  gulong items_changed_handler;
};

G_DEFINE_FINAL_TYPE (NatterMessageAttachments, natter_message_attachments, GTK_TYPE_WIDGET)

static void
rebuild (NatterMessageAttachments *self)
{
  GtkWidget *child;
  guint n_items = self->model != NULL ? g_list_model_get_n_items (self->model) : 0;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);

  for (guint i = 0; i < n_items; i++) {
    g_autoptr (NatterAttachmentItem) attachment = g_list_model_get_item (self->model, i);

    child = natter_attachment_item_is_image (attachment) ? natter_image_bubble_new (attachment)
                                                         : natter_file_card_new (attachment);
    gtk_widget_set_halign (child, GTK_ALIGN_START);
    gtk_widget_set_parent (child, GTK_WIDGET (self));
  }

  gtk_widget_set_visible (GTK_WIDGET (self), n_items > 0);
}

static void
natter_message_attachments_get_property (GObject *object,
                                         guint prop_id,
                                         GValue *value,
                                         GParamSpec *pspec)
{
  NatterMessageAttachments *self = NATTER_MESSAGE_ATTACHMENTS (object);

  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_object (value, self->model);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_message_attachments_set_property (GObject *object,
                                         guint prop_id,
                                         const GValue *value,
                                         GParamSpec *pspec)
{
  NatterMessageAttachments *self = NATTER_MESSAGE_ATTACHMENTS (object);

  switch (prop_id) {
    case PROP_MODEL:
      natter_message_attachments_set_model (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_message_attachments_dispose (GObject *object)
{
  NatterMessageAttachments *self = NATTER_MESSAGE_ATTACHMENTS (object);

  natter_message_attachments_set_model (self, NULL);

  G_OBJECT_CLASS (natter_message_attachments_parent_class)->dispose (object);
}

static void
natter_message_attachments_class_init (NatterMessageAttachmentsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_message_attachments_get_property;
  object_class->set_property = natter_message_attachments_set_property;
  object_class->dispose = natter_message_attachments_dispose;

  properties[PROP_MODEL] =
    g_param_spec_object ("model", NULL, NULL, G_TYPE_LIST_MODEL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "natter-message-attachments");
}

static void
natter_message_attachments_init (NatterMessageAttachments *self)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));

  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 6);
  gtk_widget_set_visible (GTK_WIDGET (self), FALSE);
}

/**
 * natter_message_attachments_new:
 *
 * Returns: (transfer floating): a new, empty attachment column
 */
GtkWidget *
natter_message_attachments_new (void)
{
  return g_object_new (NATTER_TYPE_MESSAGE_ATTACHMENTS, NULL);
}

GListModel *
natter_message_attachments_get_model (NatterMessageAttachments *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ATTACHMENTS (self), NULL);

  return self->model;
}

/**
 * natter_message_attachments_set_model:
 * @self: a #NatterMessageAttachments
 * @model: (nullable): a #GListModel of #NatterAttachmentItem
 */
void
natter_message_attachments_set_model (NatterMessageAttachments *self, GListModel *model)
{
  g_return_if_fail (NATTER_IS_MESSAGE_ATTACHMENTS (self));
  g_return_if_fail (model == NULL || G_IS_LIST_MODEL (model));

  if (self->model == model)
    return;

  if (self->model != NULL)
    g_clear_signal_handler (&self->items_changed_handler, self->model);
  g_set_object (&self->model, model);
  if (model != NULL)
    self->items_changed_handler = g_signal_connect_object (
      model, "items-changed", G_CALLBACK (rebuild), self, G_CONNECT_SWAPPED);
  rebuild (self);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL]);
}

/**
 * natter_message_attachments_text_is_names:
 * @model: (nullable): a #GListModel of #NatterAttachmentItem
 * @text: (nullable): a message's text
 *
 * Senders put the files' names in the text for clients that show no
 * attachments (PROTOCOL.md 1.1); where the attachments are shown, that
 * text says nothing new.
 *
 * Returns: whether @text is only the names of the attachments, joined by
 *   ", "
 */
gboolean
natter_message_attachments_text_is_names (GListModel *model, const char *text)
{
  g_autoptr (GString) names = g_string_new (NULL);
  guint n_items = model != NULL ? g_list_model_get_n_items (model) : 0;

  if (n_items == 0 || text == NULL)
    return FALSE;

  for (guint i = 0; i < n_items; i++) {
    g_autoptr (NatterAttachmentItem) attachment = g_list_model_get_item (model, i);

    if (i > 0)
      g_string_append (names, ", ");
    g_string_append (names, natter_attachment_item_get_name (attachment));
  }

  return g_str_equal (names->str, text);
}
