/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-image-viewer"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-attachment-actions.h"
#include "natter-image-viewer.h"

/* An image of the chat opened large, in a window of its own: upright by
 * its EXIF orientation (decoded by the same loader as the thumbnails, on a
 * worker thread), scaled to the window, with Save As; Escape closes it. */

enum { PROP_0, PROP_ATTACHMENT, PROP_LOADER, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterImageViewer {
  AdwWindow parent_instance;

  NatterAttachmentItem *attachment;
  NatterThumbnailLoader *loader;
  GCancellable *cancellable;

  GtkWidget *picture;
  GtkWidget *spinner;
};

G_DEFINE_FINAL_TYPE (NatterImageViewer, natter_image_viewer, ADW_TYPE_WINDOW)

static void
on_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterImageViewer) self = user_data;
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GError) error = NULL;

  texture = natter_thumbnail_loader_load_finish (NATTER_THUMBNAIL_LOADER (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  gtk_widget_set_visible (self->spinner, FALSE);
  if (texture == NULL) {
    GtkWidget *status = adw_status_page_new ();

    adw_status_page_set_icon_name (ADW_STATUS_PAGE (status), "image-missing-symbolic");
    adw_status_page_set_title (ADW_STATUS_PAGE (status), _ ("The Image Cannot Be Shown"));
    adw_status_page_set_description (ADW_STATUS_PAGE (status), error->message);
    gtk_widget_set_parent (status, gtk_widget_get_parent (self->picture));
    gtk_widget_set_visible (self->picture, FALSE);
    return;
  }

  gtk_picture_set_paintable (GTK_PICTURE (self->picture), GDK_PAINTABLE (texture));
}

static void
on_save_as_clicked (NatterImageViewer *self)
{
  natter_attachment_save_as (GTK_WIDGET (self), self->attachment);
}

static void
natter_image_viewer_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterImageViewer *self = NATTER_IMAGE_VIEWER (object);

  switch (prop_id) {
    case PROP_ATTACHMENT:
      g_value_set_object (value, self->attachment);
      break;
    case PROP_LOADER:
      g_value_set_object (value, self->loader);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_image_viewer_set_property (GObject *object,
                                  guint prop_id,
                                  const GValue *value,
                                  GParamSpec *pspec)
{
  NatterImageViewer *self = NATTER_IMAGE_VIEWER (object);

  switch (prop_id) {
    case PROP_ATTACHMENT:
      self->attachment = g_value_dup_object (value);
      break;
    case PROP_LOADER:
      self->loader = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_image_viewer_constructed (GObject *object)
{
  NatterImageViewer *self = NATTER_IMAGE_VIEWER (object);
  const char *path;

  G_OBJECT_CLASS (natter_image_viewer_parent_class)->constructed (object);

  gtk_window_set_title (GTK_WINDOW (self), natter_attachment_item_get_name (self->attachment));
  path = natter_attachment_item_get_local_path (self->attachment);
  if (path != NULL)
    natter_thumbnail_loader_load_async (self->loader, path, NATTER_IMAGE_VIEWER_MAX_SIDE,
                                        NATTER_IMAGE_VIEWER_MAX_SIDE, self->cancellable, on_loaded,
                                        g_object_ref (self));
}

static void
natter_image_viewer_dispose (GObject *object)
{
  NatterImageViewer *self = NATTER_IMAGE_VIEWER (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->attachment);
  g_clear_object (&self->loader);

  G_OBJECT_CLASS (natter_image_viewer_parent_class)->dispose (object);
}

static void
natter_image_viewer_class_init (NatterImageViewerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_image_viewer_get_property;
  object_class->set_property = natter_image_viewer_set_property;
  object_class->constructed = natter_image_viewer_constructed;
  object_class->dispose = natter_image_viewer_dispose;

  properties[PROP_ATTACHMENT] =
    g_param_spec_object ("attachment", NULL, NULL, NATTER_TYPE_ATTACHMENT_ITEM,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_LOADER] =
    g_param_spec_object ("loader", NULL, NULL, NATTER_TYPE_THUMBNAIL_LOADER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
natter_image_viewer_init (NatterImageViewer *self)
{
  GtkWidget *toolbar = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new ();
  GtkWidget *save_button = gtk_button_new_from_icon_name ("document-save-as-symbolic");
  GtkWidget *overlay = gtk_overlay_new ();

  self->cancellable = g_cancellable_new ();

  gtk_widget_set_tooltip_text (save_button, _ ("Save As…"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (save_button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _ ("Save As…"), -1);
  g_signal_connect_object (save_button, "clicked", G_CALLBACK (on_save_as_clicked), self,
                           G_CONNECT_SWAPPED);
  adw_header_bar_pack_end (ADW_HEADER_BAR (header), save_button);
  gtk_box_append (GTK_BOX (toolbar), header);

  self->picture = gtk_picture_new ();
  gtk_picture_set_can_shrink (GTK_PICTURE (self->picture), TRUE);
  gtk_widget_set_vexpand (self->picture, TRUE);
  gtk_widget_set_hexpand (self->picture, TRUE);
  gtk_overlay_set_child (GTK_OVERLAY (overlay), self->picture);
  self->spinner = gtk_spinner_new ();
  gtk_spinner_set_spinning (GTK_SPINNER (self->spinner), TRUE);
  gtk_widget_set_size_request (self->spinner, 32, 32);
  gtk_widget_set_halign (self->spinner, GTK_ALIGN_CENTER);
  gtk_widget_set_valign (self->spinner, GTK_ALIGN_CENTER);
  gtk_overlay_add_overlay (GTK_OVERLAY (overlay), self->spinner);
  gtk_box_append (GTK_BOX (toolbar), overlay);

  adw_window_set_content (ADW_WINDOW (self), toolbar);
  gtk_window_set_default_size (GTK_WINDOW (self), 800, 600);
  gtk_widget_add_css_class (GTK_WIDGET (self), "image-viewer");
}

/**
 * natter_image_viewer_new:
 * @attachment: an image attachment whose file is here
 * @loader: the loader to decode it with
 *
 * Returns: (transfer floating): a new viewer window
 */
GtkWidget *
natter_image_viewer_new (NatterAttachmentItem *attachment, NatterThumbnailLoader *loader)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (attachment), NULL);
  g_return_val_if_fail (NATTER_IS_THUMBNAIL_LOADER (loader), NULL);

  return g_object_new (NATTER_TYPE_IMAGE_VIEWER, "attachment", attachment, "loader", loader, NULL);
}

NatterAttachmentItem *
natter_image_viewer_get_attachment (NatterImageViewer *self)
{
  g_return_val_if_fail (NATTER_IS_IMAGE_VIEWER (self), NULL);

  return self->attachment;
}

/**
 * natter_image_viewer_get_paintable:
 * @self: a #NatterImageViewer
 *
 * Returns: (transfer none) (nullable): the image, once decoded
 */
GdkPaintable *
natter_image_viewer_get_paintable (NatterImageViewer *self)
{
  g_return_val_if_fail (NATTER_IS_IMAGE_VIEWER (self), NULL);

  return gtk_picture_get_paintable (GTK_PICTURE (self->picture));
}
