/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-attachment-item.h"

G_BEGIN_DECLS

/* The box an image's thumbnail fits in, in the bubble. */
#define NATTER_IMAGE_BUBBLE_MAX_WIDTH 280
#define NATTER_IMAGE_BUBBLE_MAX_HEIGHT 280

#define NATTER_TYPE_IMAGE_BUBBLE (natter_image_bubble_get_type ())
G_DECLARE_FINAL_TYPE (NatterImageBubble, natter_image_bubble, NATTER, IMAGE_BUBBLE, GtkWidget)

GtkWidget *natter_image_bubble_new (NatterAttachmentItem *attachment);
NatterAttachmentItem *natter_image_bubble_get_attachment (NatterImageBubble *self);
gboolean natter_image_bubble_get_has_thumbnail (NatterImageBubble *self);
void natter_image_bubble_get_reserved_size (NatterImageBubble *self, int *width, int *height);

G_END_DECLS
