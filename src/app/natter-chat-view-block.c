/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-chat-view"

/* The conversation menu's "Block": chat.block-peer blocks the peer of the
 * open conversation (natter_client_set_blocked_async) and says so in a
 * toast. Apart from natter-chat-view.c, which only installs it. */

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "natter-chat-view-block.h"

static void
toast (GtkWidget *widget, const char *title)
{
  GtkWidget *overlay = gtk_widget_get_ancestor (widget, ADW_TYPE_TOAST_OVERLAY);

  if (overlay != NULL)
    adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), adw_toast_new (title));
}

static void
on_blocked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GtkWidget) view = user_data;
  g_autoptr (GError) error = NULL;

  if (!natter_client_set_blocked_finish (NATTER_CLIENT (source), result, &error)) {
    g_autofree char *title = g_strdup_printf (_ ("Could not block: %s"), error->message);

    toast (view, title);
    return;
  }

  toast (view, _ ("Blocked. Unblock in Preferences."));
}

static void
on_block_peer_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterChatView *view = NATTER_CHAT_VIEW (widget);
  NatterClient *client = natter_chat_view_get_client (view);
  NatterConversationItem *conversation = natter_chat_view_get_conversation (view);
  const NatterProfile *peer;

  if (client == NULL || conversation == NULL)
    return;
  peer = natter_conversation_item_get_peer (conversation);
  if (peer == NULL)
    return;

  natter_client_set_blocked_async (client, peer, TRUE, NULL, on_blocked, g_object_ref (widget));
}

/**
 * natter_chat_view_install_block_action:
 * @widget_class: NatterChatView's class
 *
 * Installs chat.block-peer, the conversation menu's "Block".
 */
void
natter_chat_view_install_block_action (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "chat.block-peer", NULL, on_block_peer_action);
}
