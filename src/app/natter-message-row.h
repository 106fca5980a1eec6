/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-message-item.h"

G_BEGIN_DECLS

#define NATTER_TYPE_MESSAGE_ROW (natter_message_row_get_type ())
G_DECLARE_FINAL_TYPE (NatterMessageRow, natter_message_row, NATTER, MESSAGE_ROW, GtkWidget)

GtkWidget *natter_message_row_new (void);
NatterMessageItem *natter_message_row_get_item (NatterMessageRow *self);
void natter_message_row_set_item (NatterMessageRow *self, NatterMessageItem *item);
void natter_message_row_set_context (NatterMessageRow *self,
                                     gboolean show_day,
                                     gboolean grouped,
                                     gboolean read);
void natter_message_row_set_highlight (NatterMessageRow *self, const char *words, gboolean current);
guint natter_message_row_get_n_highlights (NatterMessageRow *self);
gboolean natter_message_row_get_show_day (NatterMessageRow *self);
gboolean natter_message_row_get_grouped (NatterMessageRow *self);

G_END_DECLS
