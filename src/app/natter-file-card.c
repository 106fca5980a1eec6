/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-file-card"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-attachment-actions.h"
#include "natter-attachment-progress.h"
#include "natter-file-card.h"

/* A file that is not an image, in a message: an icon for its type, its
 * name and size, and Open and Save As. A received file is fetched when the
 * user asks for it (Download, or Open / Save As, which then go on once it
 * is here), not on its own: it may be 25 MiB. */

enum { PROP_0, PROP_ATTACHMENT, N_PROPS };

static GParamSpec *properties[N_PROPS];

typedef enum {
  AFTER_DOWNLOAD_NOTHING,
  AFTER_DOWNLOAD_OPEN,
  AFTER_DOWNLOAD_SAVE_AS,
} AfterDownload;

struct _NatterFileCard {
  GtkWidget parent_instance;

  NatterAttachmentItem *attachment;
  AfterDownload after_download;

  GtkWidget *icon;
  GtkWidget *name_label;
  GtkWidget *size_label;
  GtkWidget *download_button;
  GtkWidget *open_button;
  GtkWidget *save_button;
  GtkWidget *progress;
};

G_DEFINE_FINAL_TYPE (NatterFileCard, natter_file_card, GTK_TYPE_WIDGET)

static void
update (NatterFileCard *self)
{
  NatterAttachmentState state = natter_attachment_item_get_state (self->attachment);
  gboolean here = natter_attachment_has_file (self->attachment);
  gboolean moving =
    state == NATTER_ATTACHMENT_STATE_UPLOADING || state == NATTER_ATTACHMENT_STATE_DOWNLOADING;
  g_autofree char *size = g_format_size (natter_attachment_item_get_size (self->attachment));

  if (state == NATTER_ATTACHMENT_STATE_FAILED) {
    const char *error = natter_attachment_item_get_error (self->attachment);
    /* Translators: a file's size and why its transfer failed */
    g_autofree char *text = g_strdup_printf (_ ("%s · Failed: %s"), size, error ? error : "");

    gtk_label_set_label (GTK_LABEL (self->size_label), text);
    gtk_widget_set_tooltip_text (self->size_label, text);
  } else {
    gtk_label_set_label (GTK_LABEL (self->size_label), size);
    gtk_widget_set_tooltip_text (self->size_label, NULL);
  }

  gtk_widget_set_visible (self->download_button, !here && !moving);
  gtk_widget_set_visible (self->open_button, here);
  gtk_widget_set_visible (self->save_button, here);

  /* Open or Save As asked for before the file was here. */
  if (here && state != NATTER_ATTACHMENT_STATE_UPLOADING &&
      self->after_download != AFTER_DOWNLOAD_NOTHING) {
    AfterDownload next = self->after_download;

    self->after_download = AFTER_DOWNLOAD_NOTHING;
    if (next == AFTER_DOWNLOAD_OPEN)
      natter_attachment_open (GTK_WIDGET (self), self->attachment);
    else
      natter_attachment_save_as (GTK_WIDGET (self), self->attachment);
  } else if (state == NATTER_ATTACHMENT_STATE_FAILED ||
             state == NATTER_ATTACHMENT_STATE_CANCELLED) {
    self->after_download = AFTER_DOWNLOAD_NOTHING;
  }
}

static void
fetch_then (NatterFileCard *self, AfterDownload next)
{
  if (natter_attachment_has_file (self->attachment)) {
    self->after_download = next;
    update (self);
    return;
  }

  self->after_download = next;
  natter_attachment_download (GTK_WIDGET (self), self->attachment);
}

static void
on_open_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  fetch_then (NATTER_FILE_CARD (widget), AFTER_DOWNLOAD_OPEN);
}

static void
on_save_as_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  fetch_then (NATTER_FILE_CARD (widget), AFTER_DOWNLOAD_SAVE_AS);
}

static void
on_download_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterFileCard *self = NATTER_FILE_CARD (widget);

  self->after_download = AFTER_DOWNLOAD_NOTHING;
  natter_attachment_download (widget, self->attachment);
}

static void
on_cancel_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterFileCard *self = NATTER_FILE_CARD (widget);

  self->after_download = AFTER_DOWNLOAD_NOTHING;
  natter_attachment_cancel (widget, self->attachment);
}

static GtkWidget *
action_button (const char *icon_name, const char *action_name, const char *label)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon_name);

  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), action_name);
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, label);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, label,
                                  -1);
  gtk_widget_add_css_class (button, "flat");
  gtk_widget_add_css_class (button, "circular");

  return button;
}

static void
natter_file_card_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterFileCard *self = NATTER_FILE_CARD (object);

  switch (prop_id) {
    case PROP_ATTACHMENT:
      g_value_set_object (value, self->attachment);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_file_card_set_property (GObject *object,
                               guint prop_id,
                               const GValue *value,
                               GParamSpec *pspec)
{
  NatterFileCard *self = NATTER_FILE_CARD (object);

  switch (prop_id) {
    case PROP_ATTACHMENT:
      self->attachment = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_file_card_constructed (GObject *object)
{
  NatterFileCard *self = NATTER_FILE_CARD (object);
  const char *content_type = natter_attachment_item_get_content_type (self->attachment);
  g_autofree char *type =
    g_content_type_from_mime_type (content_type ? content_type : "application/octet-stream");
  g_autoptr (GIcon) icon =
    g_content_type_get_symbolic_icon (type ? type : "application/octet-stream");

  G_OBJECT_CLASS (natter_file_card_parent_class)->constructed (object);

  g_assert (self->attachment != NULL);
  gtk_image_set_from_gicon (GTK_IMAGE (self->icon), icon);
  gtk_label_set_label (GTK_LABEL (self->name_label),
                       natter_attachment_item_get_name (self->attachment));
  gtk_widget_set_tooltip_text (self->name_label,
                               natter_attachment_item_get_name (self->attachment));
  natter_attachment_progress_set_attachment (NATTER_ATTACHMENT_PROGRESS (self->progress),
                                             self->attachment);
  g_signal_connect_object (self->attachment, "notify", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
  update (self);
}

static void
natter_file_card_dispose (GObject *object)
{
  NatterFileCard *self = NATTER_FILE_CARD (object);
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->attachment);

  G_OBJECT_CLASS (natter_file_card_parent_class)->dispose (object);
}

static void
natter_file_card_class_init (NatterFileCardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_file_card_get_property;
  object_class->set_property = natter_file_card_set_property;
  object_class->constructed = natter_file_card_constructed;
  object_class->dispose = natter_file_card_dispose;

  properties[PROP_ATTACHMENT] =
    g_param_spec_object ("attachment", NULL, NULL, NATTER_TYPE_ATTACHMENT_ITEM,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_install_action (widget_class, "attachment.open", NULL, on_open_action);
  gtk_widget_class_install_action (widget_class, "attachment.save-as", NULL, on_save_as_action);
  gtk_widget_class_install_action (widget_class, "attachment.download", NULL, on_download_action);
  gtk_widget_class_install_action (widget_class, "attachment.cancel", NULL, on_cancel_action);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "natter-file-card");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
natter_file_card_init (NatterFileCard *self)
{
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 10);
  GtkWidget *text = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);

  gtk_orientable_set_orientation (
    GTK_ORIENTABLE (gtk_widget_get_layout_manager (GTK_WIDGET (self))), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (gtk_widget_get_layout_manager (GTK_WIDGET (self))),
                              6);

  self->icon = gtk_image_new ();
  gtk_image_set_pixel_size (GTK_IMAGE (self->icon), 32);
  gtk_widget_add_css_class (self->icon, "file-icon");
  gtk_box_append (GTK_BOX (row), self->icon);

  self->name_label = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (self->name_label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (self->name_label), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_max_width_chars (GTK_LABEL (self->name_label), 28);
  gtk_label_set_width_chars (GTK_LABEL (self->name_label), 12);
  gtk_widget_add_css_class (self->name_label, "heading");
  self->size_label = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (self->size_label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (self->size_label), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (self->size_label, "caption");
  gtk_widget_add_css_class (self->size_label, "numeric");
  gtk_box_append (GTK_BOX (text), self->name_label);
  gtk_box_append (GTK_BOX (text), self->size_label);
  gtk_widget_set_hexpand (text, TRUE);
  gtk_widget_set_valign (text, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (row), text);

  self->download_button =
    action_button ("folder-download-symbolic", "attachment.download", _ ("Download"));
  self->open_button = action_button ("document-open-symbolic", "attachment.open", _ ("Open"));
  self->save_button =
    action_button ("document-save-as-symbolic", "attachment.save-as", _ ("Save As…"));
  gtk_box_append (GTK_BOX (row), self->download_button);
  gtk_box_append (GTK_BOX (row), self->open_button);
  gtk_box_append (GTK_BOX (row), self->save_button);
  gtk_widget_set_parent (row, GTK_WIDGET (self));

  self->progress = natter_attachment_progress_new ();
  gtk_widget_set_parent (self->progress, GTK_WIDGET (self));
}

/**
 * natter_file_card_new:
 * @attachment: a file attachment
 *
 * Returns: (transfer floating): a card showing @attachment
 */
GtkWidget *
natter_file_card_new (NatterAttachmentItem *attachment)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (attachment), NULL);

  return g_object_new (NATTER_TYPE_FILE_CARD, "attachment", attachment, NULL);
}

NatterAttachmentItem *
natter_file_card_get_attachment (NatterFileCard *self)
{
  g_return_val_if_fail (NATTER_IS_FILE_CARD (self), NULL);

  return self->attachment;
}
