/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-thumbnail-loader"

#include "config.h"

#include "natter-thumbnail-loader.h"

/* Decodes and scales images for the chat's bubbles on a worker thread, so a
 * phone photo of 12 megapixels never stalls the main loop, and turns them
 * upright by their EXIF orientation. The last few thumbnails are kept: a
 * list view rebinds its rows all the time while scrolling. */

enum { PROP_0, PROP_CACHE_SIZE, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterThumbnailLoader {
  GObject parent_instance;

  guint cache_size;
  GHashTable *cache;  /* key → GdkTexture */
  GQueue cache_order; /* keys, most recently used first; owned by cache */
};

G_DEFINE_FINAL_TYPE (NatterThumbnailLoader, natter_thumbnail_loader, G_TYPE_OBJECT)

typedef struct {
  char *path;
  char *key;
  int max_width;
  int max_height;
} LoadRequest;

static void
load_request_free (LoadRequest *request)
{
  g_free (request->path);
  g_free (request->key);
  g_free (request);
}

static LoadRequest *
load_request_copy (const LoadRequest *request)
{
  LoadRequest *copy = g_new0 (LoadRequest, 1);

  copy->path = g_strdup (request->path);
  copy->key = g_strdup (request->key);
  copy->max_width = request->max_width;
  copy->max_height = request->max_height;

  return copy;
}

/* The file's change time is part of the key, so a file replaced under the
 * same name (a re-downloaded attachment) is decoded again. */
static char *
make_key (const char *path, int max_width, int max_height)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInfo) info =
    g_file_query_info (file, G_FILE_ATTRIBUTE_TIME_MODIFIED "," G_FILE_ATTRIBUTE_STANDARD_SIZE,
                       G_FILE_QUERY_INFO_NONE, NULL, NULL);
  guint64 mtime =
    info ? g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_TIME_MODIFIED) : 0;
  goffset size = info ? g_file_info_get_size (info) : 0;

  return g_strdup_printf ("%s\n%dx%d\n%" G_GUINT64_FORMAT "\n%" G_GOFFSET_FORMAT, path, max_width,
                          max_height, mtime, size);
}

static void
cache_touch (NatterThumbnailLoader *self, const char *key)
{
  GList *link = g_queue_find_custom (&self->cache_order, key, (GCompareFunc) g_strcmp0);

  if (link != NULL) {
    g_queue_unlink (&self->cache_order, link);
    g_queue_push_head_link (&self->cache_order, link);
  }
}

static void
cache_insert (NatterThumbnailLoader *self, const char *key, GdkTexture *texture)
{
  char *owned_key;

  if (self->cache_size == 0)
    return;

  if (g_hash_table_contains (self->cache, key)) {
    cache_touch (self, key);
    return;
  }

  while (g_queue_get_length (&self->cache_order) >= self->cache_size) {
    char *oldest = g_queue_pop_tail (&self->cache_order);

    g_hash_table_remove (self->cache, oldest);
  }

  owned_key = g_strdup (key);
  g_hash_table_insert (self->cache, owned_key, g_object_ref (texture));
  g_queue_push_head (&self->cache_order, owned_key);
}

/* Fits width x height into the box without enlarging it. */
static void
fit_into (int width, int height, int max_width, int max_height, int *out_width, int *out_height)
{
  double scale = MIN (1.0, MIN ((double) max_width / width, (double) max_height / height));

  *out_width = MAX (1, (int) (width * scale + 0.5));
  *out_height = MAX (1, (int) (height * scale + 0.5));
}

static void
load_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  LoadRequest *request = task_data;
  g_autoptr (GdkPixbuf) decoded = NULL;
  g_autoptr (GdkPixbuf) upright = NULL;
  g_autoptr (GdkPixbuf) scaled = NULL;
  GError *error = NULL;
  int longest = MAX (request->max_width, request->max_height);
  int width, height;

  if (g_task_return_error_if_cancelled (task))
    return;

  /* Decoded at most as large as the longer side of the box in either
   * direction (libjpeg scales while it decodes), since the orientation is
   * only known, and applied, afterwards; at_scale would also enlarge a
   * small image, so that one is read as it is. */
  if (gdk_pixbuf_get_file_info (request->path, &width, &height) != NULL && width <= longest &&
      height <= longest)
    decoded = gdk_pixbuf_new_from_file (request->path, &error);
  else
    decoded = gdk_pixbuf_new_from_file_at_scale (request->path, longest, longest, TRUE, &error);
  if (decoded == NULL) {
    g_task_return_error (task, error);
    return;
  }

  upright = gdk_pixbuf_apply_embedded_orientation (decoded);
  if (upright == NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot turn the image upright");
    return;
  }

  if (g_task_return_error_if_cancelled (task))
    return;

  fit_into (gdk_pixbuf_get_width (upright), gdk_pixbuf_get_height (upright), request->max_width,
            request->max_height, &width, &height);
  if (width == gdk_pixbuf_get_width (upright) && height == gdk_pixbuf_get_height (upright))
    scaled = g_object_ref (upright);
  else
    scaled = gdk_pixbuf_scale_simple (upright, width, height, GDK_INTERP_BILINEAR);
  if (scaled == NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "Cannot scale the image");
    return;
  }

  g_task_return_pointer (task, gdk_texture_new_for_pixbuf (scaled), g_object_unref);
}

static void
natter_thumbnail_loader_get_property (GObject *object,
                                      guint prop_id,
                                      GValue *value,
                                      GParamSpec *pspec)
{
  NatterThumbnailLoader *self = NATTER_THUMBNAIL_LOADER (object);

  switch (prop_id) {
    case PROP_CACHE_SIZE:
      g_value_set_uint (value, self->cache_size);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_thumbnail_loader_set_property (GObject *object,
                                      guint prop_id,
                                      const GValue *value,
                                      GParamSpec *pspec)
{
  NatterThumbnailLoader *self = NATTER_THUMBNAIL_LOADER (object);

  switch (prop_id) {
    case PROP_CACHE_SIZE:
      self->cache_size = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_thumbnail_loader_finalize (GObject *object)
{
  NatterThumbnailLoader *self = NATTER_THUMBNAIL_LOADER (object);

  g_queue_clear (&self->cache_order);
  g_clear_pointer (&self->cache, g_hash_table_unref);

  G_OBJECT_CLASS (natter_thumbnail_loader_parent_class)->finalize (object);
}

static void
natter_thumbnail_loader_class_init (NatterThumbnailLoaderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_thumbnail_loader_get_property;
  object_class->set_property = natter_thumbnail_loader_set_property;
  object_class->finalize = natter_thumbnail_loader_finalize;

  properties[PROP_CACHE_SIZE] =
    g_param_spec_uint ("cache-size", NULL, NULL, 0, G_MAXUINT, 64,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_thumbnail_loader_init (NatterThumbnailLoader *self)
{
  self->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  g_queue_init (&self->cache_order);
}

/**
 * natter_thumbnail_loader_new:
 * @cache_size: how many thumbnails to keep
 *
 * Returns: (transfer full): a new loader
 */
NatterThumbnailLoader *
natter_thumbnail_loader_new (guint cache_size)
{
  return g_object_new (NATTER_TYPE_THUMBNAIL_LOADER, "cache-size", cache_size, NULL);
}

guint
natter_thumbnail_loader_get_cache_size (NatterThumbnailLoader *self)
{
  g_return_val_if_fail (NATTER_IS_THUMBNAIL_LOADER (self), 0);

  return self->cache_size;
}

/**
 * natter_thumbnail_loader_get_n_cached:
 * @self: a #NatterThumbnailLoader
 *
 * Returns: how many thumbnails the cache holds now
 */
guint
natter_thumbnail_loader_get_n_cached (NatterThumbnailLoader *self)
{
  g_return_val_if_fail (NATTER_IS_THUMBNAIL_LOADER (self), 0);

  return g_hash_table_size (self->cache);
}

/**
 * natter_thumbnail_loader_lookup:
 * @self: a #NatterThumbnailLoader
 * @path: the image file
 * @max_width: the box the thumbnail fits in
 * @max_height: the box the thumbnail fits in
 *
 * Returns: (transfer none) (nullable): the cached thumbnail, if there is one
 */
GdkTexture *
natter_thumbnail_loader_lookup (NatterThumbnailLoader *self,
                                const char *path,
                                int max_width,
                                int max_height)
{
  g_autofree char *key = NULL;
  GdkTexture *texture;

  g_return_val_if_fail (NATTER_IS_THUMBNAIL_LOADER (self), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  key = make_key (path, max_width, max_height);
  texture = g_hash_table_lookup (self->cache, key);
  if (texture != NULL)
    cache_touch (self, key);

  return texture;
}

static void
on_load_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) outer = user_data;
  NatterThumbnailLoader *self = g_task_get_source_object (outer);
  LoadRequest *request = g_task_get_task_data (outer);
  g_autoptr (GdkTexture) texture = NULL;
  GError *error = NULL;

  texture = g_task_propagate_pointer (G_TASK (result), &error);
  if (texture == NULL) {
    g_task_return_error (outer, error);
    return;
  }

  /* An image opened large is not kept: a few of those would be hundreds
   * of megabytes. */
  if ((gint64) gdk_texture_get_width (texture) * gdk_texture_get_height (texture) <=
      NATTER_THUMBNAIL_LOADER_MAX_CACHED_PIXELS)
    cache_insert (self, request->key, texture);
  g_task_return_pointer (outer, g_steal_pointer (&texture), g_object_unref);
}

/**
 * natter_thumbnail_loader_load_async:
 * @self: a #NatterThumbnailLoader
 * @path: the image file
 * @max_width: the box the thumbnail fits in (it is never enlarged)
 * @max_height: the box the thumbnail fits in
 * @cancellable: (nullable): a #GCancellable
 * @callback: called on the calling thread's main context when done
 * @user_data: data for @callback
 *
 * Decodes @path on a worker thread, turns it upright by its EXIF
 * orientation and scales it to fit the box; a cached thumbnail is returned
 * at once.
 */
void
natter_thumbnail_loader_load_async (NatterThumbnailLoader *self,
                                    const char *path,
                                    int max_width,
                                    int max_height,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GTask) worker = NULL;
  LoadRequest *request;
  GdkTexture *cached;

  g_return_if_fail (NATTER_IS_THUMBNAIL_LOADER (self));
  g_return_if_fail (path != NULL);
  g_return_if_fail (max_width > 0 && max_height > 0);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_thumbnail_loader_load_async);

  request = g_new0 (LoadRequest, 1);
  request->path = g_strdup (path);
  request->key = make_key (path, max_width, max_height);
  request->max_width = max_width;
  request->max_height = max_height;
  g_task_set_task_data (task, request, (GDestroyNotify) load_request_free);

  cached = g_hash_table_lookup (self->cache, request->key);
  if (cached != NULL) {
    cache_touch (self, request->key);
    g_task_return_pointer (task, g_object_ref (cached), g_object_unref);
    return;
  }

  /* The worker has its own task and its own copy of the request (a
   * cancelled worker may still be decoding after the caller is answered),
   * so the cache is filled on this thread. */
  worker = g_task_new (NULL, cancellable, on_load_done, g_steal_pointer (&task));
  g_task_set_task_data (worker, load_request_copy (request), (GDestroyNotify) load_request_free);
  g_task_set_return_on_cancel (worker, TRUE);
  g_task_run_in_thread (worker, load_thread);
}

/**
 * natter_thumbnail_loader_load_finish:
 * @self: a #NatterThumbnailLoader
 * @result: the result
 * @error: return location for an error
 *
 * Returns: (transfer full): the thumbnail, or %NULL with @error set
 */
GdkTexture *
natter_thumbnail_loader_load_finish (NatterThumbnailLoader *self,
                                     GAsyncResult *result,
                                     GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
