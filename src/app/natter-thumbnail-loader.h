/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Larger results are handed out but not kept. */
#define NATTER_THUMBNAIL_LOADER_MAX_CACHED_PIXELS (1024 * 1024)

#define NATTER_TYPE_THUMBNAIL_LOADER (natter_thumbnail_loader_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterThumbnailLoader, natter_thumbnail_loader, NATTER, THUMBNAIL_LOADER, GObject)

NatterThumbnailLoader *natter_thumbnail_loader_new (guint cache_size);
guint natter_thumbnail_loader_get_cache_size (NatterThumbnailLoader *self);
guint natter_thumbnail_loader_get_n_cached (NatterThumbnailLoader *self);
GdkTexture *natter_thumbnail_loader_lookup (NatterThumbnailLoader *self,
                                            const char *path,
                                            int max_width,
                                            int max_height);
void natter_thumbnail_loader_load_async (NatterThumbnailLoader *self,
                                         const char *path,
                                         int max_width,
                                         int max_height,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data);
GdkTexture *natter_thumbnail_loader_load_finish (NatterThumbnailLoader *self,
                                                 GAsyncResult *result,
                                                 GError **error);

G_END_DECLS
