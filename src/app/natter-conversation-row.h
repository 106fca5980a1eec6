/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-conversation-item.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CONVERSATION_ROW (natter_conversation_row_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterConversationRow, natter_conversation_row, NATTER, CONVERSATION_ROW, GtkWidget)

GtkWidget *natter_conversation_row_new (void);
NatterConversationItem *natter_conversation_row_get_item (NatterConversationRow *self);
void natter_conversation_row_set_item (NatterConversationRow *self, NatterConversationItem *item);
gboolean natter_conversation_row_get_presence_known (NatterConversationRow *self);
void natter_conversation_row_set_presence_known (NatterConversationRow *self,
                                                 gboolean presence_known);

gboolean natter_conversation_row_get_muted (NatterConversationRow *self);
void natter_conversation_row_set_muted (NatterConversationRow *self, gboolean muted);

G_END_DECLS
