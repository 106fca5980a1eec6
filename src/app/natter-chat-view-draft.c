/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-chat-view"

/* The composer's draft, apart from natter-chat-view.c: saved a moment
 * after each change and when the view lets the conversation go, loaded
 * when a conversation opens; and its emoji button. */

#include "config.h"

#include "natter-chat-view-private.h"

#define SAVE_DRAFT_DELAY_MS 500

/* The composer's text is kept per conversation in the local store, so it
 * survives switching conversations and restarting. */
void
natter_chat_view_save_draft (NatterChatView *self)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->text_view);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  GtkTextIter start, end;
  NatterStore *store;

  g_clear_handle_id (&self->save_draft_id, g_source_remove);
  if (self->client == NULL || self->conversation == NULL)
    return;

  store = natter_client_get_store (self->client);
  if (store == NULL)
    return;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  text = gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
  if (!natter_store_set_draft (
        store, natter_conversation_item_get_conversation_id (self->conversation), text, &error))
    g_warning ("Cannot keep the draft: %s", error->message);
}

static gboolean
on_save_draft_timeout (gpointer user_data)
{
  NatterChatView *self = user_data;

  self->save_draft_id = 0;
  natter_chat_view_save_draft (self);

  return G_SOURCE_REMOVE;
}

void
natter_chat_view_load_draft (NatterChatView *self)
{
  NatterStore *store = self->client ? natter_client_get_store (self->client) : NULL;
  g_autofree char *draft = NULL;

  if (store != NULL && self->conversation != NULL)
    draft = natter_store_get_draft (
      store, natter_conversation_item_get_conversation_id (self->conversation));

  self->loading_draft = TRUE;
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->text_view), draft ? draft : "", -1);
  self->loading_draft = FALSE;
}

void
natter_chat_view_queue_draft_save (NatterChatView *self)
{
  g_clear_handle_id (&self->save_draft_id, g_source_remove);
  self->save_draft_id = g_timeout_add (SAVE_DRAFT_DELAY_MS, on_save_draft_timeout, self);
}

static void
on_emoji_picked (NatterChatView *self, const char *emoji)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->text_view);

  gtk_text_buffer_insert_at_cursor (buffer, emoji, -1);
  gtk_widget_grab_focus (GTK_WIDGET (self->text_view));
}

/* Made when first opened: GTK's emoji chooser fills itself from idle
 * callbacks as soon as it exists, a label per emoji, and measuring those
 * decoded the colour emoji font's PNGs for about 0.2 s of CPU while the
 * window drew its first frames and opened a conversation (issue 20). */
static void
create_emoji_chooser (GtkMenuButton *button, gpointer user_data)
{
  NatterChatView *self = NATTER_CHAT_VIEW (user_data);
  GtkWidget *chooser = gtk_emoji_chooser_new ();

  g_signal_connect_object (chooser, "emoji-picked", G_CALLBACK (on_emoji_picked), self,
                           G_CONNECT_SWAPPED);
  gtk_menu_button_set_popover (button, chooser);
}

void
natter_chat_view_setup_emoji (NatterChatView *self)
{
  gtk_menu_button_set_create_popup_func (GTK_MENU_BUTTON (self->emoji_button), create_emoji_chooser,
                                         self, NULL);
}
