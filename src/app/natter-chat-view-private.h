/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "natter-attachment-tray.h"
#include "natter-chat-view.h"
#include "natter-tail-list-model.h"
#include "natter-thumbnail-loader.h"

G_BEGIN_DECLS

/* NatterChatView's fields, for the sibling files that hold parts of it
 * (natter-chat-view-draft.c, natter-chat-view-attachments.c). */
struct _NatterChatView {
  GtkWidget parent_instance;

  NatterClient *client;
  NatterConversationItem *conversation;
  gulong conversation_notify_handler;
  NatterMessageList *messages;
  NatterTailListModel *shown_messages; /* the newest of @messages, grown on scroll */
  GtkSelectionModel *selection;
  gulong items_changed_handler;
  GHashTable *bound_items; /* GtkListItem */
  GCancellable *load_cancellable;

  gboolean online;
  gboolean show_back_button;
  gboolean calls_enabled;
  gboolean follow_newest;
  /* Anchored on the newest item, and that row not yet seen on screen:
   * the list is still measuring and moves the value both ways. */
  gboolean settling;
  double last_value;
  GdkFrameClock *frame_clock;
  gulong after_paint_handler;
  GtkWindow *window;
  gulong window_active_handler;
  gint64 typing_sent_at;
  guint typing_idle_id;
  guint mark_read_id;
  guint save_draft_id;
  gboolean loading_draft;
  gboolean fill_after_paint;
  gboolean grow_after_paint;

  AdwWindowTitle *window_title;
  GtkWidget *back_button;
  GtkRevealer *offline_revealer;
  GtkStack *content_stack;
  GtkScrolledWindow *scrolled_window;
  GtkListView *message_list_view;
  GtkRevealer *loading_revealer;
  GtkRevealer *jump_revealer;
  GtkWidget *jump_label;
  GtkTextView *text_view;
  GtkWidget *placeholder;
  GtkWidget *emoji_button;
  NatterAttachmentTray *attachment_tray;
  NatterThumbnailLoader *thumbnail_loader;
  GtkSearchBar *search_bar;
  GtkEditable *search_entry;
  GtkLabel *search_count_label;
  GtkWidget *search_server_button;

  /* In-conversation search: the matches in the local store, oldest first,
   * and the one shown. */
  GArray *search_hits;
  int search_current;
  guint search_server_pages_left;
};

void natter_chat_view_save_draft (NatterChatView *self);
void natter_chat_view_queue_draft_save (NatterChatView *self);
void natter_chat_view_load_draft (NatterChatView *self);
void natter_chat_view_show_toast (NatterChatView *self, const char *title);
void natter_chat_view_install_attachment_actions (GtkWidgetClass *widget_class);
void natter_chat_view_setup_attachments (NatterChatView *self);
void natter_chat_view_setup_emoji (NatterChatView *self);
gboolean natter_chat_view_has_attachments (NatterChatView *self);
char *natter_chat_view_send_attachments (NatterChatView *self, const char *text, GError **error);

G_END_DECLS
