/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-attachment-item.h"

G_BEGIN_DECLS

#define NATTER_TYPE_FILE_CARD (natter_file_card_get_type ())
G_DECLARE_FINAL_TYPE (NatterFileCard, natter_file_card, NATTER, FILE_CARD, GtkWidget)

GtkWidget *natter_file_card_new (NatterAttachmentItem *attachment);
NatterAttachmentItem *natter_file_card_get_attachment (NatterFileCard *self);

G_END_DECLS
