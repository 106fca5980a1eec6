/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-chat-view"

/* How files get into the chat view's composer, apart from
 * natter-chat-view.c: chat.attach (the native file chooser), a drop of
 * files anywhere on the view, and an image or files pasted into the text
 * field. All of them land in the attachment tray above the composer. */

#include "config.h"

#include "natter-chat-view-private.h"

/* Thumbnails kept decoded: a few screens of images. */
#define THUMBNAIL_CACHE_SIZE 48

static void
on_attach_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterChatView *self = NATTER_CHAT_VIEW (widget);

  natter_attachment_tray_choose_files (self->attachment_tray);
}

/* GtkTextView pastes text on its own; an image or files go to the tray
 * instead, and the text view is told to stop. */
static void
on_paste_clipboard (NatterChatView *self, GtkTextView *text_view)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (text_view));

  if (natter_attachment_tray_paste (self->attachment_tray, clipboard))
    g_signal_stop_emission_by_name (text_view, "paste-clipboard");
}

static void
on_attachment_refused (NatterChatView *self, const char *message)
{
  natter_chat_view_show_toast (self, message);
}

/**
 * natter_chat_view_install_attachment_actions:
 * @widget_class: NatterChatView's class
 *
 * Installs chat.attach, and makes the tray's type known to the template.
 */
void
natter_chat_view_install_attachment_actions (GtkWidgetClass *widget_class)
{
  g_type_ensure (NATTER_TYPE_ATTACHMENT_TRAY);
  gtk_widget_class_install_action (widget_class, "chat.attach", NULL, on_attach_action);
}

/**
 * natter_chat_view_setup_attachments:
 * @self: a #NatterChatView, its template initialised
 *
 * Makes the thumbnail loader; connects the drop target, the paste handler
 * and the tray's refusals.
 */
void
natter_chat_view_setup_attachments (NatterChatView *self)
{
  self->thumbnail_loader = natter_thumbnail_loader_new (THUMBNAIL_CACHE_SIZE);
  gtk_widget_add_controller (GTK_WIDGET (self),
                             natter_attachment_tray_create_drop_target (self->attachment_tray));
  g_signal_connect_object (self->text_view, "paste-clipboard", G_CALLBACK (on_paste_clipboard),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->attachment_tray, "refused", G_CALLBACK (on_attachment_refused),
                           self, G_CONNECT_SWAPPED);
}

gboolean
natter_chat_view_has_attachments (NatterChatView *self)
{
  return g_list_model_get_n_items (natter_attachment_tray_get_attachments (self->attachment_tray)) >
         0;
}

/**
 * natter_chat_view_send_attachments:
 * @self: a #NatterChatView
 * @text: the composer's text, trimmed; empty: the core writes the files'
 *   names, for clients that show no files
 * @error: return location for an error
 *
 * Queues a message with the tray's files (uploaded by the core, then
 * sent) and empties the tray.
 *
 * Returns: (transfer full) (nullable): the message's client_msg_id
 */
char *
natter_chat_view_send_attachments (NatterChatView *self, const char *text, GError **error)
{
  GListModel *attachments = natter_attachment_tray_get_attachments (self->attachment_tray);
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_object_unref);
  char *client_msg_id;

  for (guint i = 0; i < g_list_model_get_n_items (attachments); i++) {
    g_autoptr (GFileInfo) info = g_list_model_get_item (attachments, i);

    g_ptr_array_add (files, g_object_ref (g_file_info_get_attribute_object (
                              info, NATTER_ATTACHMENT_ATTRIBUTE_FILE)));
  }

  client_msg_id = natter_client_send_message_with_attachments (
    self->client, natter_conversation_item_get_conversation_id (self->conversation), NULL, text,
    files, error);
  if (client_msg_id != NULL)
    natter_attachment_tray_clear (self->attachment_tray);

  return client_msg_id;
}

/**
 * natter_chat_view_get_attachment_tray:
 * @self: a #NatterChatView
 *
 * Returns: (transfer none): the #NatterAttachmentTray of files waiting to
 *   go with the next message
 */
GtkWidget *
natter_chat_view_get_attachment_tray (NatterChatView *self)
{
  g_return_val_if_fail (NATTER_IS_CHAT_VIEW (self), NULL);

  return GTK_WIDGET (self->attachment_tray);
}
