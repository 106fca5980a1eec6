/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "natter-call.h"
#include "natter-call-overlay.h"
#include "natter-chat-view.h"
#include "natter-client.h"

G_BEGIN_DECLS

#define NATTER_TYPE_WINDOW (natter_window_get_type ())
G_DECLARE_FINAL_TYPE (NatterWindow, natter_window, NATTER, WINDOW, AdwApplicationWindow)

NatterWindow *
natter_window_new (GtkApplication *application, NatterClient *client, GSettings *settings);
NatterClient *natter_window_get_client (NatterWindow *self);
NatterChatView *natter_window_get_chat_view (NatterWindow *self);
NatterCallOverlay *natter_window_get_call_overlay (NatterWindow *self);
gboolean natter_window_open_conversation (NatterWindow *self, gint64 conversation_id);
gint64 natter_window_get_open_conversation_id (NatterWindow *self);
void natter_window_set_call_active (NatterWindow *self, gboolean active, const char *summary);
void natter_window_show_call (NatterWindow *self);
NatterCall *natter_window_get_call (NatterWindow *self);
void natter_window_set_call (NatterWindow *self, NatterCall *call);
void natter_window_add_toast (NatterWindow *self, const char *title);
void natter_window_set_filter_text (NatterWindow *self, const char *text);
gboolean natter_window_get_online (NatterWindow *self);

G_END_DECLS
