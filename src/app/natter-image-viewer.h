/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "natter-attachment-item.h"
#include "natter-thumbnail-loader.h"

G_BEGIN_DECLS

/* How large the viewer decodes an image at most. */
#define NATTER_IMAGE_VIEWER_MAX_SIDE 2048

#define NATTER_TYPE_IMAGE_VIEWER (natter_image_viewer_get_type ())
G_DECLARE_FINAL_TYPE (NatterImageViewer, natter_image_viewer, NATTER, IMAGE_VIEWER, AdwWindow)

GtkWidget *natter_image_viewer_new (NatterAttachmentItem *attachment,
                                    NatterThumbnailLoader *loader);
NatterAttachmentItem *natter_image_viewer_get_attachment (NatterImageViewer *self);
GdkPaintable *natter_image_viewer_get_paintable (NatterImageViewer *self);

G_END_DECLS
