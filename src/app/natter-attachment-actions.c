/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-attachment-actions"

/* What the image bubble and the file card do with an attachment: open it
 * with the desktop's application, save a copy where the user says, fetch
 * it, stop its transfer. The client and the thumbnail loader come from the
 * chat view the widget is in. */

#include "config.h"

#include <glib/gi18n.h>

#include "natter-attachment-actions.h"
#include "natter-chat-view-private.h"
#include "natter-message-row.h"

static NatterChatView *
chat_view_of (GtkWidget *widget)
{
  GtkWidget *view = gtk_widget_get_ancestor (widget, NATTER_TYPE_CHAT_VIEW);

  return view != NULL ? NATTER_CHAT_VIEW (view) : NULL;
}

static void
toast (GtkWidget *widget, const char *title)
{
  NatterChatView *view = chat_view_of (widget);

  if (view != NULL)
    natter_chat_view_show_toast (view, title);
  else
    g_message ("%s", title);
}

static GtkWindow *
window_of (GtkWidget *widget)
{
  GtkRoot *root = gtk_widget_get_root (widget);

  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

/**
 * natter_attachment_has_file:
 * @attachment: a #NatterAttachmentItem
 *
 * Returns: whether the attachment's bytes are on this computer: the
 *   sender's own file, or a download checked against its SHA-256
 */
gboolean
natter_attachment_has_file (NatterAttachmentItem *attachment)
{
  const char *path = natter_attachment_item_get_local_path (attachment);

  return path != NULL && g_file_test (path, G_FILE_TEST_IS_REGULAR);
}

/**
 * natter_attachment_open:
 * @widget: the widget asking
 * @attachment: a downloaded attachment
 *
 * Opens the file with the desktop's default application (the portal's
 * OpenURI in Flatpak).
 */
void
natter_attachment_open (GtkWidget *widget, NatterAttachmentItem *attachment)
{
  g_autoptr (GFile) file = NULL;

  if (!natter_attachment_has_file (attachment))
    return;

  file = g_file_new_for_path (natter_attachment_item_get_local_path (attachment));
#if defined(GDK_VERSION_4_10) && GDK_VERSION_MAX_ALLOWED >= GDK_VERSION_4_10
  {
    g_autoptr (GtkFileLauncher) launcher = gtk_file_launcher_new (file);

    gtk_file_launcher_launch (launcher, window_of (widget), NULL, NULL, NULL);
  }
#else
  {
    g_autofree char *uri = g_file_get_uri (file);

    /* GTK 4.8: GtkFileLauncher is 4.10; gtk_show_uri goes through the
     * OpenURI portal where there is one, too. */
    gtk_show_uri (window_of (widget), uri, GDK_CURRENT_TIME);
  }
#endif
}

static void
on_copied (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GtkWidget) widget = user_data;
  g_autoptr (GError) error = NULL;

  if (!g_file_copy_finish (G_FILE (source), result, &error)) {
    g_autofree char *title = g_strdup_printf (_ ("Could not save: %s"), error->message);

    toast (widget, title);
  }
}

static void
on_save_chosen (GtkNativeDialog *chooser, int response, gpointer user_data)
{
  g_autoptr (GtkWidget) widget = user_data;
  NatterAttachmentItem *attachment = g_object_get_data (G_OBJECT (chooser), "natter-attachment");

  if (response == GTK_RESPONSE_ACCEPT && natter_attachment_has_file (attachment)) {
    g_autoptr (GFile) destination = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
    g_autoptr (GFile) source =
      g_file_new_for_path (natter_attachment_item_get_local_path (attachment));

    g_file_copy_async (source, destination, G_FILE_COPY_OVERWRITE, G_PRIORITY_DEFAULT, NULL, NULL,
                       NULL, on_copied, g_object_ref (widget));
  }

  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
}

/**
 * natter_attachment_save_as:
 * @widget: the widget asking
 * @attachment: a downloaded attachment
 *
 * Asks where to save a copy (the native file chooser, the portal's in
 * Flatpak), under the attachment's name.
 */
void
natter_attachment_save_as (GtkWidget *widget, NatterAttachmentItem *attachment)
{
  GtkFileChooserNative *chooser;

  if (!natter_attachment_has_file (attachment))
    return;

  chooser = gtk_file_chooser_native_new (_ ("Save File"), window_of (widget),
                                         GTK_FILE_CHOOSER_ACTION_SAVE, _ ("_Save"), NULL);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser),
                                     natter_attachment_item_get_name (attachment));
  g_object_set_data_full (G_OBJECT (chooser), "natter-attachment", g_object_ref (attachment),
                          g_object_unref);
  g_signal_connect (chooser, "response", G_CALLBACK (on_save_chosen), g_object_ref (widget));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

/* A download's cancellable, kept on the item: a download goes on while its
 * row is scrolled away (and its widgets recycled). */
#define DOWNLOAD_CANCELLABLE_KEY "natter-app-download"

static void
on_downloaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterChatView) view = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;

  path = natter_client_download_attachment_finish (NATTER_CLIENT (source), result, &error);
  if (path == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_autofree char *title = g_strdup_printf (_ ("Could not download: %s"), error->message);

    natter_chat_view_show_toast (view, title);
  }
}

/**
 * natter_attachment_download:
 * @widget: the widget asking
 * @attachment: an attachment on the server
 *
 * Fetches the attachment into the client's download cache; its state,
 * progress and local path follow.
 */
void
natter_attachment_download (GtkWidget *widget, NatterAttachmentItem *attachment)
{
  NatterChatView *view = chat_view_of (widget);
  GCancellable *cancellable;

  if (view == NULL || view->client == NULL ||
      natter_attachment_item_get_attachment_id (attachment) <= 0 ||
      natter_attachment_item_get_state (attachment) == NATTER_ATTACHMENT_STATE_DOWNLOADING)
    return;

  cancellable = g_cancellable_new ();
  g_object_set_data_full (G_OBJECT (attachment), DOWNLOAD_CANCELLABLE_KEY, cancellable,
                          g_object_unref);
  natter_client_download_attachment_async (view->client,
                                           natter_attachment_item_get_attachment_id (attachment),
                                           cancellable, on_downloaded, g_object_ref (view));
}

/**
 * natter_attachment_cancel:
 * @widget: the widget asking, inside the message's row
 * @attachment: an attachment going up or coming down
 *
 * Stops a download; stops an upload by taking its whole message out of the
 * outbox (a message goes with all its files or not at all).
 */
void
natter_attachment_cancel (GtkWidget *widget, NatterAttachmentItem *attachment)
{
  NatterChatView *view = chat_view_of (widget);
  GtkWidget *row = gtk_widget_get_ancestor (widget, NATTER_TYPE_MESSAGE_ROW);

  switch (natter_attachment_item_get_state (attachment)) {
    case NATTER_ATTACHMENT_STATE_DOWNLOADING:
      g_cancellable_cancel (g_object_get_data (G_OBJECT (attachment), DOWNLOAD_CANCELLABLE_KEY));
      break;
    case NATTER_ATTACHMENT_STATE_UPLOADING:
      if (view != NULL && view->client != NULL && row != NULL &&
          natter_message_row_get_item (NATTER_MESSAGE_ROW (row)) != NULL) {
        NatterMessageItem *message = natter_message_row_get_item (NATTER_MESSAGE_ROW (row));
        g_autoptr (GError) error = NULL;

        if (!natter_client_cancel_message (
              view->client, natter_message_item_get_client_msg_id (message), &error)) {
          g_autofree char *title = g_strdup_printf (_ ("Could not cancel: %s"), error->message);

          toast (widget, title);
        }
      }
      break;
    case NATTER_ATTACHMENT_STATE_REMOTE:
    case NATTER_ATTACHMENT_STATE_DOWNLOADED:
    case NATTER_ATTACHMENT_STATE_FAILED:
    case NATTER_ATTACHMENT_STATE_CANCELLED:
    default:
      break;
  }
}

/**
 * natter_attachment_get_thumbnail_loader:
 * @widget: a widget in a chat view
 *
 * Returns: (transfer none) (nullable): the chat view's thumbnail loader
 */
NatterThumbnailLoader *
natter_attachment_get_thumbnail_loader (GtkWidget *widget)
{
  NatterChatView *view = chat_view_of (widget);

  return view != NULL ? view->thumbnail_loader : NULL;
}
