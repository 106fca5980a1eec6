/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-attachment-item"

#include "config.h"

#include "natter-attachment-item.h"

/* One file or image of a message, as a view shows it. Unlike a message
 * item it changes in place while its bytes travel: the same object is
 * shared by every row that shows the attachment, so a bubble bound to it
 * follows the upload or download without being rebuilt. */

enum {
  PROP_0,
  PROP_ATTACHMENT_ID,
  PROP_NAME,
  PROP_CONTENT_TYPE,
  PROP_SIZE,
  PROP_WIDTH,
  PROP_HEIGHT,
  PROP_SHA256,
  PROP_LOCAL_PATH,
  PROP_PROGRESS,
  PROP_STATE,
  PROP_ERROR,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _NatterAttachmentItem {
  GObject parent_instance;

  gint64 attachment_id;
  char *name;
  char *content_type;
  gint64 size;
  int width;
  int height;
  char *sha256;
  char *local_path;
  double progress;
  NatterAttachmentState state;
  char *error;
};

G_DEFINE_FINAL_TYPE (NatterAttachmentItem, natter_attachment_item, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (NatterAttachmentState,
                    natter_attachment_state,
                    G_DEFINE_ENUM_VALUE (NATTER_ATTACHMENT_STATE_UPLOADING, "uploading"),
                    G_DEFINE_ENUM_VALUE (NATTER_ATTACHMENT_STATE_REMOTE, "remote"),
                    G_DEFINE_ENUM_VALUE (NATTER_ATTACHMENT_STATE_DOWNLOADING, "downloading"),
                    G_DEFINE_ENUM_VALUE (NATTER_ATTACHMENT_STATE_DOWNLOADED, "downloaded"),
                    G_DEFINE_ENUM_VALUE (NATTER_ATTACHMENT_STATE_FAILED, "failed"),
                    G_DEFINE_ENUM_VALUE (NATTER_ATTACHMENT_STATE_CANCELLED, "cancelled"))

static gboolean
set_string (char **field, const char *value)
{
  if (g_strcmp0 (*field, value) == 0)
    return FALSE;

  g_free (*field);
  *field = g_strdup (value);

  return TRUE;
}

static void
natter_attachment_item_get_property (GObject *object,
                                     guint prop_id,
                                     GValue *value,
                                     GParamSpec *pspec)
{
  NatterAttachmentItem *self = NATTER_ATTACHMENT_ITEM (object);

  switch (prop_id) {
    case PROP_ATTACHMENT_ID:
      g_value_set_int64 (value, self->attachment_id);
      break;
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_CONTENT_TYPE:
      g_value_set_string (value, self->content_type);
      break;
    case PROP_SIZE:
      g_value_set_int64 (value, self->size);
      break;
    case PROP_WIDTH:
      g_value_set_int (value, self->width);
      break;
    case PROP_HEIGHT:
      g_value_set_int (value, self->height);
      break;
    case PROP_SHA256:
      g_value_set_string (value, self->sha256);
      break;
    case PROP_LOCAL_PATH:
      g_value_set_string (value, self->local_path);
      break;
    case PROP_PROGRESS:
      g_value_set_double (value, self->progress);
      break;
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_ERROR:
      g_value_set_string (value, self->error);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_attachment_item_finalize (GObject *object)
{
  NatterAttachmentItem *self = NATTER_ATTACHMENT_ITEM (object);

  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->content_type, g_free);
  g_clear_pointer (&self->sha256, g_free);
  g_clear_pointer (&self->local_path, g_free);
  g_clear_pointer (&self->error, g_free);

  G_OBJECT_CLASS (natter_attachment_item_parent_class)->finalize (object);
}

static void
natter_attachment_item_class_init (NatterAttachmentItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = natter_attachment_item_get_property;
  object_class->finalize = natter_attachment_item_finalize;

  /**
   * NatterAttachmentItem:attachment-id:
   *
   * The server's id; 0 until the upload is done.
   */
  properties[PROP_ATTACHMENT_ID] =
    g_param_spec_int64 ("attachment-id", NULL, NULL, 0, G_MAXINT64, 0, flags);
  /**
   * NatterAttachmentItem:name:
   *
   * The file name, as the sender gave it.
   */
  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, flags);
  properties[PROP_CONTENT_TYPE] = g_param_spec_string ("content-type", NULL, NULL, NULL, flags);
  /**
   * NatterAttachmentItem:size:
   *
   * Bytes.
   */
  properties[PROP_SIZE] = g_param_spec_int64 ("size", NULL, NULL, 0, G_MAXINT64, 0, flags);
  /**
   * NatterAttachmentItem:width:
   *
   * An image's width in pixels as the sender measured it, 0 if unknown: a
   * view reserves the space before the image arrives.
   */
  properties[PROP_WIDTH] = g_param_spec_int ("width", NULL, NULL, 0, G_MAXINT, 0, flags);
  properties[PROP_HEIGHT] = g_param_spec_int ("height", NULL, NULL, 0, G_MAXINT, 0, flags);
  /**
   * NatterAttachmentItem:sha256:
   *
   * The bytes' SHA-256 in lowercase hex, as the server computed it; %NULL
   * until uploaded.
   */
  properties[PROP_SHA256] = g_param_spec_string ("sha256", NULL, NULL, NULL, flags);
  /**
   * NatterAttachmentItem:local-path:
   *
   * The file on this disk, when there is one: the sender's original, or
   * the verified copy in the download cache.
   */
  properties[PROP_LOCAL_PATH] = g_param_spec_string ("local-path", NULL, NULL, NULL, flags);
  /**
   * NatterAttachmentItem:progress:
   *
   * The share of the bytes moved so far by the current upload or download,
   * 0 to 1.
   */
  properties[PROP_PROGRESS] = g_param_spec_double ("progress", NULL, NULL, 0, 1, 0, flags);
  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, NATTER_TYPE_ATTACHMENT_STATE,
                                              NATTER_ATTACHMENT_STATE_REMOTE, flags);
  /**
   * NatterAttachmentItem:error:
   *
   * Why the last transfer failed, for people; %NULL otherwise.
   */
  properties[PROP_ERROR] = g_param_spec_string ("error", NULL, NULL, NULL, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_attachment_item_init (NatterAttachmentItem *self)
{
  self->state = NATTER_ATTACHMENT_STATE_REMOTE;
}

/**
 * natter_attachment_item_new:
 * @attachment_id: the server's id, 0 before the upload
 * @name: the file name
 * @content_type: (nullable): its MIME type
 * @size: bytes
 * @width: an image's width as measured by the sender, or 0
 * @height: an image's height, or 0
 * @sha256: (nullable): the bytes' SHA-256 in hex, if known
 *
 * Returns: (transfer full): a new item in state remote
 */
NatterAttachmentItem *
natter_attachment_item_new (gint64 attachment_id,
                            const char *name,
                            const char *content_type,
                            gint64 size,
                            int width,
                            int height,
                            const char *sha256)
{
  NatterAttachmentItem *self;

  g_return_val_if_fail (name != NULL, NULL);

  self = g_object_new (NATTER_TYPE_ATTACHMENT_ITEM, NULL);
  self->attachment_id = MAX (attachment_id, 0);
  self->name = g_strdup (name);
  self->content_type = g_strdup (content_type != NULL ? content_type : "application/octet-stream");
  self->size = MAX (size, 0);
  self->width = MAX (width, 0);
  self->height = MAX (height, 0);
  self->sha256 = g_strdup (sha256);

  return self;
}

/**
 * natter_attachment_item_get_attachment_id:
 * @self: a #NatterAttachmentItem
 *
 * Returns: the server's id, 0 until uploaded
 */
gint64
natter_attachment_item_get_attachment_id (NatterAttachmentItem *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (self), 0);

  return self->attachment_id;
}

/**
 * natter_attachment_item_get_name:
 * @self: a #NatterAttachmentItem
 *
 * Returns: the file name
 */
const char *
natter_attachment_item_get_name (NatterAttachmentItem *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (self), NULL);

  return self->name;
}

/**
 * natter_attachment_item_get_content_type:
 * @self: a #NatterAttachmentItem
 *
 * Returns: the MIME type
 */
const char *
natter_attachment_item_get_content_type (NatterAttachmentItem *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (self), NULL);

  return self->content_type;
}

/**
 * natter_attachment_item_get_size:
 * @self: a #NatterAttachmentItem
 *
 * Returns: the size in bytes
 */
gint64
natter_attachment_item_get_size (NatterAttachmentItem *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (self), 0);

  return self->size;
}

/**
 * natter_attachment_item_get_width:
 * @self: a #NatterAttachmentItem
 *
 * Returns: an image's width as the sender measured it, 0 if unknown
 */
int
natter_attachment_item_get_width (NatterAttachmentItem *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (self), 0);

  return self->width;
}

/**
 * natter_attachment_item_get_height:
 * @self: a #NatterAttachmentItem
 *
 * Returns: an image's height as the sender measured it, 0 if unknown
 */
int
natter_attachment_item_get_height (NatterAttachmentItem *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (self), 0);

  return self->height;
}

/**
 * natter_attachment_item_get_sha256:
 * @self: a #NatterAttachmentItem
 *
 * Returns: (nullable): the SHA-256 in lowercase hex, %NULL until uploaded
 */
const char *
natter_attachment_item_get_sha256 (NatterAttachmentItem *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (self), NULL);

  return self->sha256;
}

/**
 * natter_attachment_item_get_local_path:
 * @self: a #NatterAttachmentItem
 *
 * Returns: (nullable) (type filename): the file on this disk, if any
 */
const char *
natter_attachment_item_get_local_path (NatterAttachmentItem *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (self), NULL);

  return self->local_path;
}

/**
 * natter_attachment_item_get_progress:
 * @self: a #NatterAttachmentItem
 *
 * Returns: the share of the current transfer done, 0 to 1
 */
double
natter_attachment_item_get_progress (NatterAttachmentItem *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (self), 0);

  return self->progress;
}

/**
 * natter_attachment_item_get_state:
 * @self: a #NatterAttachmentItem
 *
 * Returns: where the bytes are
 */
NatterAttachmentState
natter_attachment_item_get_state (NatterAttachmentItem *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (self), NATTER_ATTACHMENT_STATE_REMOTE);

  return self->state;
}

/**
 * natter_attachment_item_get_error:
 * @self: a #NatterAttachmentItem
 *
 * Returns: (nullable): why the last transfer failed
 */
const char *
natter_attachment_item_get_error (NatterAttachmentItem *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (self), NULL);

  return self->error;
}

/**
 * natter_attachment_item_is_image:
 * @self: a #NatterAttachmentItem
 *
 * Returns: whether a view may show it as a picture
 */
gboolean
natter_attachment_item_is_image (NatterAttachmentItem *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_ITEM (self), FALSE);

  return g_str_has_prefix (self->content_type, "image/");
}

/**
 * natter_attachment_item_set_uploaded:
 * @self: a #NatterAttachmentItem
 * @attachment_id: the id the server gave
 * @sha256: (nullable): the SHA-256 the server computed
 *
 * The upload is done: the item is on the server (state remote, progress 1).
 */
void
natter_attachment_item_set_uploaded (NatterAttachmentItem *self,
                                     gint64 attachment_id,
                                     const char *sha256)
{
  g_return_if_fail (NATTER_IS_ATTACHMENT_ITEM (self));
  g_return_if_fail (attachment_id > 0);

  g_object_freeze_notify (G_OBJECT (self));
  if (attachment_id != self->attachment_id) {
    self->attachment_id = attachment_id;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ATTACHMENT_ID]);
  }
  if (set_string (&self->sha256, sha256))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHA256]);
  natter_attachment_item_set_progress (self, 1);
  natter_attachment_item_set_state (self, NATTER_ATTACHMENT_STATE_REMOTE, NULL);
  g_object_thaw_notify (G_OBJECT (self));
}

/**
 * natter_attachment_item_set_local_path:
 * @self: a #NatterAttachmentItem
 * @local_path: (nullable) (type filename): the file on this disk
 */
void
natter_attachment_item_set_local_path (NatterAttachmentItem *self, const char *local_path)
{
  g_return_if_fail (NATTER_IS_ATTACHMENT_ITEM (self));

  if (set_string (&self->local_path, local_path))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOCAL_PATH]);
}

/**
 * natter_attachment_item_set_progress:
 * @self: a #NatterAttachmentItem
 * @progress: 0 to 1
 */
void
natter_attachment_item_set_progress (NatterAttachmentItem *self, double progress)
{
  g_return_if_fail (NATTER_IS_ATTACHMENT_ITEM (self));

  progress = CLAMP (progress, 0, 1);
  if (progress == self->progress)
    return;

  self->progress = progress;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
}

/**
 * natter_attachment_item_set_state:
 * @self: a #NatterAttachmentItem
 * @state: where the bytes are now
 * @error: (nullable): why, for %NATTER_ATTACHMENT_STATE_FAILED
 */
void
natter_attachment_item_set_state (NatterAttachmentItem *self,
                                  NatterAttachmentState state,
                                  const char *error)
{
  g_return_if_fail (NATTER_IS_ATTACHMENT_ITEM (self));

  g_object_freeze_notify (G_OBJECT (self));
  if (set_string (&self->error, error))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
  if (state != self->state) {
    self->state = state;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  }
  g_object_thaw_notify (G_OBJECT (self));
}
