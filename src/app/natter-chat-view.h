/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-client.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CHAT_VIEW (natter_chat_view_get_type ())
G_DECLARE_FINAL_TYPE (NatterChatView, natter_chat_view, NATTER, CHAT_VIEW, GtkWidget)

GtkWidget *natter_chat_view_new (void);
NatterClient *natter_chat_view_get_client (NatterChatView *self);
void natter_chat_view_set_client (NatterChatView *self, NatterClient *client);
NatterConversationItem *natter_chat_view_get_conversation (NatterChatView *self);
void natter_chat_view_set_conversation (NatterChatView *self, NatterConversationItem *conversation);
GListModel *natter_chat_view_get_messages (NatterChatView *self);
gboolean natter_chat_view_get_online (NatterChatView *self);
void natter_chat_view_set_online (NatterChatView *self, gboolean online);
gboolean natter_chat_view_get_show_back_button (NatterChatView *self);
void natter_chat_view_set_show_back_button (NatterChatView *self, gboolean show_back_button);
void natter_chat_view_set_calls_enabled (NatterChatView *self, gboolean enabled);
void natter_chat_view_set_draft (NatterChatView *self, const char *text);
gboolean natter_chat_view_send_draft (NatterChatView *self, GError **error);
void natter_chat_view_scroll_to_bottom (NatterChatView *self);
void natter_chat_view_focus_composer (NatterChatView *self);
GtkWidget *natter_chat_view_get_attachment_tray (NatterChatView *self);

G_END_DECLS
