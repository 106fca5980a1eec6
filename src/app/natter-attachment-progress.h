/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-attachment-item.h"

G_BEGIN_DECLS

#define NATTER_TYPE_ATTACHMENT_PROGRESS (natter_attachment_progress_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterAttachmentProgress, natter_attachment_progress, NATTER, ATTACHMENT_PROGRESS, GtkWidget)

GtkWidget *natter_attachment_progress_new (void);
NatterAttachmentItem *natter_attachment_progress_get_attachment (NatterAttachmentProgress *self);
void natter_attachment_progress_set_attachment (NatterAttachmentProgress *self,
                                                NatterAttachmentItem *attachment);

G_END_DECLS
