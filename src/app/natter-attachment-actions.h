/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-attachment-item.h"
#include "natter-thumbnail-loader.h"

G_BEGIN_DECLS

gboolean natter_attachment_has_file (NatterAttachmentItem *attachment);
void natter_attachment_open (GtkWidget *widget, NatterAttachmentItem *attachment);
void natter_attachment_save_as (GtkWidget *widget, NatterAttachmentItem *attachment);
void natter_attachment_download (GtkWidget *widget, NatterAttachmentItem *attachment);
void natter_attachment_cancel (GtkWidget *widget, NatterAttachmentItem *attachment);
NatterThumbnailLoader *natter_attachment_get_thumbnail_loader (GtkWidget *widget);

G_END_DECLS
