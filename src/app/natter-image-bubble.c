/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-image-bubble"

#include "config.h"

#include "natter-attachment-actions.h"
#include "natter-attachment-progress.h"
#include "natter-image-bubble.h"
#include "natter-image-viewer.h"

/* An image in a message. Its size is fixed from the width and height the
 * sender measured, before a byte of it is here, so the list does not jump
 * when the thumbnail arrives. The thumbnail is made on a worker thread when
 * the bubble is on screen; a received image is fetched on its own. A click
 * opens the image large. */

/* When the sender did not say how large the image is. */
#define UNKNOWN_WIDTH 240
#define UNKNOWN_HEIGHT 180
#define MIN_SIDE 48

enum { PROP_0, PROP_ATTACHMENT, PROP_LOADER, PROP_HAS_THUMBNAIL, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterImageBubble {
  GtkWidget parent_instance;

  NatterAttachmentItem *attachment;
  NatterThumbnailLoader *loader; /* NULL: the chat view's */
  GCancellable *load_cancellable;
  char *loaded_path;
  gboolean download_asked;

  GtkWidget *picture;
  GtkWidget *placeholder;
  GtkWidget *progress;
};

G_DEFINE_FINAL_TYPE (NatterImageBubble, natter_image_bubble, GTK_TYPE_WIDGET)

static void
reserved_size (NatterImageBubble *self, int *width, int *height)
{
  int w = natter_attachment_item_get_width (self->attachment);
  int h = natter_attachment_item_get_height (self->attachment);
  double scale;

  if (w <= 0 || h <= 0) {
    *width = UNKNOWN_WIDTH;
    *height = UNKNOWN_HEIGHT;
    return;
  }

  scale = MIN (1.0, MIN ((double) NATTER_IMAGE_BUBBLE_MAX_WIDTH / w,
                         (double) NATTER_IMAGE_BUBBLE_MAX_HEIGHT / h));
  *width = CLAMP ((int) (w * scale + 0.5), MIN_SIDE, NATTER_IMAGE_BUBBLE_MAX_WIDTH);
  *height = CLAMP ((int) (h * scale + 0.5), MIN_SIDE, NATTER_IMAGE_BUBBLE_MAX_HEIGHT);
}

static void
on_thumbnail_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  NatterImageBubble *self = user_data;
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GError) error = NULL;

  texture = natter_thumbnail_loader_load_finish (NATTER_THUMBNAIL_LOADER (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_object_unref (self);
    return;
  }

  g_clear_object (&self->load_cancellable);
  if (texture == NULL) {
    /* A file that does not decode is shown as a broken image, not a hole. */
    g_debug ("No thumbnail for %s: %s", self->loaded_path, error->message);
    gtk_image_set_from_icon_name (GTK_IMAGE (self->placeholder), "image-missing-symbolic");
    gtk_widget_set_tooltip_text (GTK_WIDGET (self), error->message);
  } else {
    gtk_picture_set_paintable (GTK_PICTURE (self->picture), GDK_PAINTABLE (texture));
    gtk_widget_set_visible (self->placeholder, FALSE);
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_THUMBNAIL]);
  }
  g_object_unref (self);
}

/* Loads the thumbnail once the bubble is on screen and the file is here;
 * asks for the file once if it is only on the server. */
static void
update (NatterImageBubble *self)
{
  NatterThumbnailLoader *loader;
  NatterAttachmentState state;
  const char *path;
  int width, height, scale;

  if (self->attachment == NULL)
    return;

  state = natter_attachment_item_get_state (self->attachment);
  gtk_widget_set_visible (self->progress, state == NATTER_ATTACHMENT_STATE_UPLOADING ||
                                            state == NATTER_ATTACHMENT_STATE_DOWNLOADING);
  if (state == NATTER_ATTACHMENT_STATE_FAILED) {
    gtk_widget_set_tooltip_text (GTK_WIDGET (self),
                                 natter_attachment_item_get_error (self->attachment));
    gtk_image_set_from_icon_name (GTK_IMAGE (self->placeholder), "image-missing-symbolic");
  }

  if (!gtk_widget_get_mapped (GTK_WIDGET (self)))
    return;

  if (!natter_attachment_has_file (self->attachment)) {
    if (state == NATTER_ATTACHMENT_STATE_REMOTE && !self->download_asked) {
      self->download_asked = TRUE;
      natter_attachment_download (GTK_WIDGET (self), self->attachment);
    }
    return;
  }

  path = natter_attachment_item_get_local_path (self->attachment);
  if (g_strcmp0 (path, self->loaded_path) == 0)
    return;

  loader = self->loader ? self->loader : natter_attachment_get_thumbnail_loader (GTK_WIDGET (self));
  if (loader == NULL)
    return;

  g_cancellable_cancel (self->load_cancellable);
  g_clear_object (&self->load_cancellable);
  self->load_cancellable = g_cancellable_new ();
  g_free (self->loaded_path);
  self->loaded_path = g_strdup (path);

  reserved_size (self, &width, &height);
  scale = gtk_widget_get_scale_factor (GTK_WIDGET (self));
  natter_thumbnail_loader_load_async (loader, path, width * scale, height * scale,
                                      self->load_cancellable, on_thumbnail_loaded,
                                      g_object_ref (self));
}

static void
on_clicked (GtkGestureClick *gesture, int n_press, double x, double y, NatterImageBubble *self)
{
  if (natter_attachment_has_file (self->attachment)) {
    gtk_widget_activate_action_variant (GTK_WIDGET (self), "attachment.open", NULL);
    return;
  }

  switch (natter_attachment_item_get_state (self->attachment)) {
    case NATTER_ATTACHMENT_STATE_REMOTE:
    case NATTER_ATTACHMENT_STATE_FAILED:
    case NATTER_ATTACHMENT_STATE_CANCELLED:
      natter_attachment_download (GTK_WIDGET (self), self->attachment);
      break;
    case NATTER_ATTACHMENT_STATE_UPLOADING:
    case NATTER_ATTACHMENT_STATE_DOWNLOADING:
    case NATTER_ATTACHMENT_STATE_DOWNLOADED:
    default:
      break;
  }
}

static void
on_open_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterImageBubble *self = NATTER_IMAGE_BUBBLE (widget);
  GtkRoot *root = gtk_widget_get_root (widget);
  NatterThumbnailLoader *loader =
    self->loader ? self->loader : natter_attachment_get_thumbnail_loader (widget);
  GtkWidget *viewer;

  if (!natter_attachment_has_file (self->attachment) || loader == NULL)
    return;

  viewer = natter_image_viewer_new (self->attachment, loader);
  if (GTK_IS_WINDOW (root))
    gtk_window_set_transient_for (GTK_WINDOW (viewer), GTK_WINDOW (root));
  gtk_window_present (GTK_WINDOW (viewer));
}

static void
on_save_as_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  natter_attachment_save_as (widget, NATTER_IMAGE_BUBBLE (widget)->attachment);
}

static void
on_cancel_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  natter_attachment_cancel (widget, NATTER_IMAGE_BUBBLE (widget)->attachment);
}

static void
natter_image_bubble_measure (GtkWidget *widget,
                             GtkOrientation orientation,
                             int for_size,
                             int *minimum,
                             int *natural,
                             int *minimum_baseline,
                             int *natural_baseline)
{
  NatterImageBubble *self = NATTER_IMAGE_BUBBLE (widget);
  int width, height;

  reserved_size (self, &width, &height);
  *minimum = *natural = orientation == GTK_ORIENTATION_HORIZONTAL ? width : height;
}

static void
natter_image_bubble_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  NatterImageBubble *self = NATTER_IMAGE_BUBBLE (widget);
  int progress_height = 0;

  gtk_widget_allocate (self->picture, width, height, -1, NULL);
  gtk_widget_allocate (self->placeholder, width, height, -1, NULL);
  if (gtk_widget_should_layout (self->progress)) {
    gtk_widget_measure (self->progress, GTK_ORIENTATION_VERTICAL, width, NULL, &progress_height,
                        NULL, NULL);
    progress_height = MIN (progress_height, height);
    gtk_widget_allocate (
      self->progress, width, progress_height, -1,
      gsk_transform_translate (NULL, &GRAPHENE_POINT_INIT (0, height - progress_height)));
  }
}

static void
natter_image_bubble_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (natter_image_bubble_parent_class)->map (widget);
  update (NATTER_IMAGE_BUBBLE (widget));
}

static void
natter_image_bubble_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterImageBubble *self = NATTER_IMAGE_BUBBLE (object);

  switch (prop_id) {
    case PROP_ATTACHMENT:
      g_value_set_object (value, self->attachment);
      break;
    case PROP_LOADER:
      g_value_set_object (value, self->loader);
      break;
    case PROP_HAS_THUMBNAIL:
      g_value_set_boolean (value, natter_image_bubble_get_has_thumbnail (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_image_bubble_set_property (GObject *object,
                                  guint prop_id,
                                  const GValue *value,
                                  GParamSpec *pspec)
{
  NatterImageBubble *self = NATTER_IMAGE_BUBBLE (object);

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
natter_image_bubble_constructed (GObject *object)
{
  NatterImageBubble *self = NATTER_IMAGE_BUBBLE (object);

  G_OBJECT_CLASS (natter_image_bubble_parent_class)->constructed (object);

  g_assert (self->attachment != NULL);
  natter_attachment_progress_set_attachment (NATTER_ATTACHMENT_PROGRESS (self->progress),
                                             self->attachment);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  natter_attachment_item_get_name (self->attachment), -1);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self),
                               natter_attachment_item_get_name (self->attachment));
  g_signal_connect_object (self->attachment, "notify", G_CALLBACK (update), self,
                           G_CONNECT_SWAPPED);
  update (self);
}

static void
natter_image_bubble_dispose (GObject *object)
{
  NatterImageBubble *self = NATTER_IMAGE_BUBBLE (object);

  g_cancellable_cancel (self->load_cancellable);
  g_clear_object (&self->load_cancellable);
  g_clear_pointer (&self->picture, gtk_widget_unparent);
  g_clear_pointer (&self->placeholder, gtk_widget_unparent);
  g_clear_pointer (&self->progress, gtk_widget_unparent);
  g_clear_object (&self->attachment);
  g_clear_object (&self->loader);

  G_OBJECT_CLASS (natter_image_bubble_parent_class)->dispose (object);
}

static void
natter_image_bubble_finalize (GObject *object)
{
  NatterImageBubble *self = NATTER_IMAGE_BUBBLE (object);

  g_free (self->loaded_path);

  G_OBJECT_CLASS (natter_image_bubble_parent_class)->finalize (object);
}

static void
natter_image_bubble_class_init (NatterImageBubbleClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_image_bubble_get_property;
  object_class->set_property = natter_image_bubble_set_property;
  object_class->constructed = natter_image_bubble_constructed;
  object_class->dispose = natter_image_bubble_dispose;
  object_class->finalize = natter_image_bubble_finalize;
  widget_class->measure = natter_image_bubble_measure;
  widget_class->size_allocate = natter_image_bubble_size_allocate;
  widget_class->map = natter_image_bubble_map;

  properties[PROP_ATTACHMENT] =
    g_param_spec_object ("attachment", NULL, NULL, NATTER_TYPE_ATTACHMENT_ITEM,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /* Where the thumbnails come from; unset, the chat view's. */
  properties[PROP_LOADER] =
    g_param_spec_object ("loader", NULL, NULL, NATTER_TYPE_THUMBNAIL_LOADER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_HAS_THUMBNAIL] =
    g_param_spec_boolean ("has-thumbnail", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_install_action (widget_class, "attachment.open", NULL, on_open_action);
  gtk_widget_class_install_action (widget_class, "attachment.save-as", NULL, on_save_as_action);
  gtk_widget_class_install_action (widget_class, "attachment.cancel", NULL, on_cancel_action);

  gtk_widget_class_set_css_name (widget_class, "natter-image-bubble");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
natter_image_bubble_init (NatterImageBubble *self)
{
  GtkGesture *click = gtk_gesture_click_new ();

  self->picture = gtk_picture_new ();
  gtk_picture_set_can_shrink (GTK_PICTURE (self->picture), TRUE);
  gtk_picture_set_content_fit (GTK_PICTURE (self->picture), GTK_CONTENT_FIT_COVER);
  gtk_widget_set_parent (self->picture, GTK_WIDGET (self));

  self->placeholder = gtk_image_new_from_icon_name ("image-x-generic-symbolic");
  gtk_image_set_pixel_size (GTK_IMAGE (self->placeholder), 48);
  gtk_widget_add_css_class (self->placeholder, "dim-label");
  gtk_widget_set_parent (self->placeholder, GTK_WIDGET (self));

  self->progress = natter_attachment_progress_new ();
  gtk_widget_add_css_class (self->progress, "osd");
  gtk_widget_set_parent (self->progress, GTK_WIDGET (self));

  gtk_widget_set_overflow (GTK_WIDGET (self), GTK_OVERFLOW_HIDDEN);
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), "pointer");
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_PRIMARY);
  g_signal_connect_object (click, "released", G_CALLBACK (on_clicked), self, 0);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));
}

/**
 * natter_image_bubble_new:
 * @attachment: an image attachment
 *
 * Returns: (transfer floating): a bubble showing @attachment
 */
GtkWidget *
natter_image_bubble_new (NatterAttachmentItem *attachment)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (attachment), NULL);

  return g_object_new (NATTER_TYPE_IMAGE_BUBBLE, "attachment", attachment, NULL);
}

NatterAttachmentItem *
natter_image_bubble_get_attachment (NatterImageBubble *self)
{
  g_return_val_if_fail (NATTER_IS_IMAGE_BUBBLE (self), NULL);

  return self->attachment;
}

/**
 * natter_image_bubble_get_has_thumbnail:
 * @self: a #NatterImageBubble
 *
 * Returns: whether the thumbnail is shown (not the placeholder)
 */
gboolean
natter_image_bubble_get_has_thumbnail (NatterImageBubble *self)
{
  g_return_val_if_fail (NATTER_IS_IMAGE_BUBBLE (self), FALSE);

  return gtk_picture_get_paintable (GTK_PICTURE (self->picture)) != NULL;
}

/**
 * natter_image_bubble_get_reserved_size:
 * @self: a #NatterImageBubble
 * @width: (out): the width kept for the image
 * @height: (out): the height kept for the image
 */
void
natter_image_bubble_get_reserved_size (NatterImageBubble *self, int *width, int *height)
{
  g_return_if_fail (NATTER_IS_IMAGE_BUBBLE (self));

  reserved_size (self, width, height);
}
