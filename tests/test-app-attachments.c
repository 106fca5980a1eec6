/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app-attachments"

#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>
#include <gst/gst.h>

#include "natter-attachment-progress.h"
#include "natter-attachment-tray.h"
#include "natter-chat-view.h"
#include "natter-client.h"
#include "natter-message-list.h"
#include "natter-file-card.h"
#include "natter-image-bubble.h"
#include "natter-image-viewer.h"
#include "natter-test-log.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "natter-window.h"
#include "tcp-proxy.h"

/* Files and images in the chat (issue 18), as a person uses them: files
 * dropped on the chat, an image pasted into the composer and files chosen
 * become removable chips above the composer, within the limits; images
 * are measured as they are added. Runs under Xvfb against the real
 * natter-server, GLib and GTK warnings fatal (see tests/meson.build). */

#define TIMEOUT_MS 10000

static GtkApplication *test_application;

typedef struct {
  NatterTestServer *server;
  char *data_dir;
  char *shots_dir;
  NatterClient *alice;
  NatterClient *bob;
  NatterProfile *alice_profile;
  NatterProfile *bob_profile;
  gint64 conversation_id;
  NatterWindow *window;
  NatterChatView *chat_view;
  char *alice_token;
  char *bob_token;
} Fixture;

static NatterClient *
signed_in_client (Fixture *fixture, const char *name, const char *token)
{
  g_autofree char *dir = g_build_filename (fixture->data_dir, name, NULL);

  return natter_test_client_new_signed_in (natter_test_server_get_url (fixture->server), dir, token,
                                           TIMEOUT_MS);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autofree char *alice_token = NULL;
  g_autofree char *bob_token = NULL;
  g_autoptr (NatterUser) alice = NULL;
  g_autoptr (NatterUser) bob = NULL;

  fixture->server = natter_test_server_new (NULL);
  fixture->data_dir = g_dir_make_tmp ("natter-attachments-XXXXXX", NULL);
  fixture->shots_dir = natter_test_top_build_filename ("screenshots", NULL);
  g_mkdir_with_parents (fixture->shots_dir, 0755);

  alice = natter_test_server_register (fixture->server, "alice@example.org", "Alice Kebede",
                                       "tutor", &alice_token, &fixture->alice_profile);
  bob = natter_test_server_register (fixture->server, "bob@example.org", "Bob Tesfaye", "student",
                                     &bob_token, &fixture->bob_profile);
  g_assert_nonnull (alice);
  g_assert_nonnull (bob);

  fixture->conversation_id = natter_test_server_create_conversation (
    fixture->server, alice_token, fixture->alice_profile, fixture->bob_profile);

  fixture->alice = signed_in_client (fixture, "alice", alice_token);
  fixture->alice_token = g_strdup (alice_token);
  fixture->bob = signed_in_client (fixture, "bob", bob_token);
  fixture->bob_token = g_strdup (bob_token);
  natter_test_client_refresh_conversations (fixture->alice, TIMEOUT_MS);
  natter_test_client_refresh_conversations (fixture->bob, TIMEOUT_MS);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  if (fixture->window != NULL)
    gtk_window_destroy (GTK_WINDOW (fixture->window));

  g_clear_object (&fixture->alice);
  g_clear_object (&fixture->bob);
  g_clear_pointer (&fixture->alice_profile, natter_profile_free);
  g_clear_pointer (&fixture->bob_profile, natter_profile_free);
  natter_test_server_free (fixture->server);
  natter_test_remove_tree (fixture->data_dir);
  g_clear_pointer (&fixture->data_dir, g_free);
  g_clear_pointer (&fixture->shots_dir, g_free);
  g_clear_pointer (&fixture->alice_token, g_free);
  g_clear_pointer (&fixture->bob_token, g_free);

  natter_test_iterate_until (g_get_monotonic_time () + 100 * 1000);
}

static void
open_window (Fixture *fixture)
{
  fixture->window = natter_window_new (test_application, fixture->alice, NULL);
  gtk_window_set_default_size (GTK_WINDOW (fixture->window), 900, 640);
  gtk_window_present (GTK_WINDOW (fixture->window));
  natter_test_wait_until (gtk_widget_get_mapped (GTK_WIDGET (fixture->window)), TIMEOUT_MS);
  natter_test_wait_until (
    natter_window_open_conversation (fixture->window, fixture->conversation_id), TIMEOUT_MS);
  fixture->chat_view = natter_window_get_chat_view (fixture->window);
  natter_test_wait_until (gtk_window_is_active (GTK_WINDOW (fixture->window)), TIMEOUT_MS);
  /* The history fetch done: its spinner would keep software GL drawing. */
  natter_test_wait_until (!natter_message_list_get_loading (NATTER_MESSAGE_LIST (
                            natter_chat_view_get_messages (fixture->chat_view))),
                          TIMEOUT_MS);
}

static void
on_after_paint (GdkFrameClock *clock, int *frames)
{
  (*frames)++;
}

/* Lets @window draw @count more frames. */
static void
wait_window_frames (GtkWidget *window, int count)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (window);
  int frames = 0;
  gulong handler;

  g_assert_nonnull (clock);
  handler = g_signal_connect (clock, "after-paint", G_CALLBACK (on_after_paint), &frames);
  for (int seen = 0; seen < count; seen++) {
    gtk_widget_queue_draw (window);
    natter_test_wait_until (frames > seen, TIMEOUT_MS);
  }
  g_signal_handler_disconnect (clock, handler);
}

static void
wait_frames (Fixture *fixture, int count)
{
  wait_window_frames (GTK_WIDGET (fixture->window), count);
}

static void
save_screenshot (Fixture *fixture, const char *name)
{
  GtkWidget *widget = GTK_WIDGET (fixture->window);
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GskRenderNode) node = NULL;
  g_autofree char *file = g_strconcat (name, ".png", NULL);
  g_autofree char *path = g_build_filename (fixture->shots_dir, file, NULL);
  GtkSnapshot *snapshot;
  int width, height;

  wait_frames (fixture, 2);
  width = gtk_widget_get_width (widget);
  height = gtk_widget_get_height (widget);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (widget)), node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("saved %s", path);
}

/* A photo-like PNG: a gradient, so a thumbnail shows something. */
static char *
write_image (Fixture *fixture, const char *name, int width, int height)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (fixture->data_dir, name, NULL);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      guint8 *p = pixels + y * stride + x * 3;

      p[0] = 40 + 200 * x / width;
      p[1] = 90 + 120 * y / height;
      p[2] = 200 - 120 * x / width;
    }
  g_assert_true (gdk_pixbuf_save (pixbuf, path, "png", &error, NULL));
  g_assert_no_error (error);

  return path;
}

/* A small file that starts like a PDF. */
static char *
write_document (Fixture *fixture, const char *name, gsize size)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = g_malloc (size);
  char *path = g_build_filename (fixture->data_dir, name, NULL);

  memset (contents, 'x', size);
  memcpy (contents, "%PDF-1.4\n", 9);
  g_assert_true (g_file_set_contents (path, contents, size, &error));
  g_assert_no_error (error);

  return path;
}

static GtkDropTarget *
find_drop_target (GtkWidget *widget)
{
  g_autoptr (GListModel) controllers = gtk_widget_observe_controllers (widget);

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++) {
    g_autoptr (GObject) controller = g_list_model_get_item (controllers, i);

    if (GTK_IS_DROP_TARGET (controller))
      return GTK_DROP_TARGET (controller);
  }

  return NULL;
}

/* What a drop of these files onto the chat does: the drop target's handler
 * with the GdkFileList a file manager would give. */
static gboolean
drop_files (Fixture *fixture, const char *const *paths)
{
  GtkDropTarget *target = find_drop_target (GTK_WIDGET (fixture->chat_view));
  g_auto (GValue) value = G_VALUE_INIT;
  GSList *files = NULL;
  gboolean accepted = FALSE;

  g_assert_nonnull (target);
  g_assert_true (
    gdk_content_formats_contain_gtype (gtk_drop_target_get_formats (target), GDK_TYPE_FILE_LIST));
  for (guint i = 0; paths[i] != NULL; i++)
    files = g_slist_append (files, g_file_new_for_path (paths[i]));
  g_value_init (&value, GDK_TYPE_FILE_LIST);
  g_value_take_boxed (&value, gdk_file_list_new_from_list (files));
  g_slist_free_full (files, g_object_unref);

  g_signal_emit_by_name (target, "drop", &value, 10.0, 10.0, &accepted);

  return accepted;
}

static NatterAttachmentTray *
tray_of (Fixture *fixture)
{
  return NATTER_ATTACHMENT_TRAY (natter_chat_view_get_attachment_tray (fixture->chat_view));
}

static guint
n_attachments (Fixture *fixture)
{
  return g_list_model_get_n_items (natter_attachment_tray_get_attachments (tray_of (fixture)));
}

static GFileInfo *
attachment_at (Fixture *fixture, guint position)
{
  return g_list_model_get_item (natter_attachment_tray_get_attachments (tray_of (fixture)),
                                position);
}

/* The chips drawn above the composer: the labels inside the tray. */
static gboolean
tray_shows_label (GtkWidget *widget, const char *text)
{
  if (GTK_IS_LABEL (widget) && gtk_widget_is_drawable (widget) &&
      g_strcmp0 (gtk_label_get_label (GTK_LABEL (widget)), text) == 0)
    return TRUE;

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (tray_shows_label (child, text))
      return TRUE;

  return FALSE;
}

static GtkWidget *
find_button_labelled (GtkWidget *widget, const char *tooltip)
{
  if (GTK_IS_BUTTON (widget) && g_strcmp0 (gtk_widget_get_tooltip_text (widget), tooltip) == 0)
    return widget;

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    GtkWidget *found = find_button_labelled (child, tooltip);

    if (found != NULL)
      return found;
  }

  return NULL;
}

static void
on_refused (NatterAttachmentTray *tray, const char *message, GPtrArray *messages)
{
  g_ptr_array_add (messages, g_strdup (message));
}

static void
test_drop_adds_chips (Fixture *fixture, gconstpointer data)
{
  g_autofree char *photo = write_image (fixture, "homework.png", 640, 480);
  g_autofree char *worksheet = write_document (fixture, "worksheet.pdf", 20000);
  const char *const both[] = { photo, worksheet, NULL };
  g_autoptr (GFileInfo) image_info = NULL;
  g_autoptr (GFileInfo) document_info = NULL;
  g_autofree char *document_size = g_format_size (20000);
  GtkWidget *tray;
  GtkWidget *remove;

  open_window (fixture);
  tray = GTK_WIDGET (tray_of (fixture));
  g_assert_false (gtk_widget_get_visible (tray));
  g_assert_cmpuint (n_attachments (fixture), ==, 0);

  g_assert_true (drop_files (fixture, both));
  g_assert_cmpuint (n_attachments (fixture), ==, 2);

  /* The image is measured when added; the document is not an image. */
  image_info = attachment_at (fixture, 0);
  g_assert_cmpstr (g_file_info_get_display_name (image_info), ==, "homework.png");
  g_assert_cmpstr (g_file_info_get_content_type (image_info), ==, "image/png");
  g_assert_cmpint (g_file_info_get_attribute_int32 (image_info, NATTER_ATTACHMENT_ATTRIBUTE_WIDTH),
                   ==, 640);
  g_assert_cmpint (g_file_info_get_attribute_int32 (image_info, NATTER_ATTACHMENT_ATTRIBUTE_HEIGHT),
                   ==, 480);
  document_info = attachment_at (fixture, 1);
  g_assert_cmpstr (g_file_info_get_display_name (document_info), ==, "worksheet.pdf");
  g_assert_cmpstr (g_file_info_get_content_type (document_info), ==, "application/pdf");
  g_assert_cmpint (g_file_info_get_size (document_info), ==, 20000);
  g_assert_false (g_file_info_has_attribute (document_info, NATTER_ATTACHMENT_ATTRIBUTE_WIDTH));

  /* On screen: a chip for each, with name and size. */
  wait_frames (fixture, 2);
  g_assert_true (gtk_widget_get_visible (tray));
  g_assert_true (tray_shows_label (tray, "homework.png"));
  g_assert_true (tray_shows_label (tray, "worksheet.pdf"));
  g_assert_true (tray_shows_label (tray, document_size));
  save_screenshot (fixture, "attachments-tray");

  /* A chip's remove button takes that file out, and only that one. */
  remove = find_button_labelled (tray, "Remove homework.png");
  g_assert_nonnull (remove);
  g_signal_emit_by_name (remove, "clicked");
  g_assert_cmpuint (n_attachments (fixture), ==, 1);
  g_clear_object (&document_info);
  document_info = attachment_at (fixture, 0);
  g_assert_cmpstr (g_file_info_get_display_name (document_info), ==, "worksheet.pdf");
  wait_frames (fixture, 1);
  g_assert_false (tray_shows_label (tray, "homework.png"));

  natter_attachment_tray_clear (tray_of (fixture));
  g_assert_false (gtk_widget_get_visible (tray));
}

static void
test_limits (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) refused = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *small = write_document (fixture, "small.pdf", 1000);
  g_autofree char *large = write_document (fixture, "large.pdf", 1001);
  const char *const small_only[] = { small, NULL };
  const char *const large_only[] = { large, NULL };
  const char *const folder[] = { fixture->data_dir, NULL };
  NatterAttachmentTray *tray;

  open_window (fixture);
  tray = tray_of (fixture);
  g_signal_connect (tray, "refused", G_CALLBACK (on_refused), refused);
  natter_attachment_tray_set_max_file_size (tray, 1000);

  /* At the size limit: taken; one byte over: refused, with its name. */
  g_assert_true (drop_files (fixture, small_only));
  g_assert_cmpuint (n_attachments (fixture), ==, 1);
  g_assert_true (drop_files (fixture, large_only));
  g_assert_cmpuint (n_attachments (fixture), ==, 1);
  g_assert_cmpuint (refused->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (refused, 0), "large.pdf"));

  /* A folder is not a file. */
  g_assert_true (drop_files (fixture, folder));
  g_assert_cmpuint (n_attachments (fixture), ==, 1);
  g_assert_cmpuint (refused->len, ==, 2);

  /* Ten files at most: the eleventh is refused. */
  for (guint i = n_attachments (fixture); i < NATTER_ATTACHMENT_TRAY_MAX_FILES; i++)
    g_assert_true (drop_files (fixture, small_only));
  g_assert_cmpuint (n_attachments (fixture), ==, NATTER_ATTACHMENT_TRAY_MAX_FILES);
  g_assert_true (drop_files (fixture, small_only));
  g_assert_cmpuint (n_attachments (fixture), ==, NATTER_ATTACHMENT_TRAY_MAX_FILES);
  g_assert_cmpuint (refused->len, ==, 3);
}

static void
test_paste (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, TRUE, 8, 120, 90);
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GFileInfo) info = NULL;
  g_autofree char *path = NULL;
  g_autofree char *pasted_dir =
    g_build_filename (g_get_user_cache_dir (), "natter", "pasted", NULL);
  g_autoptr (GdkPixbuf) written = NULL;
  g_autoptr (GError) error = NULL;
  GtkWidget *text_view;
  GdkClipboard *clipboard;
  GtkTextBuffer *buffer;

  open_window (fixture);
  natter_chat_view_focus_composer (fixture->chat_view);
  text_view = gtk_window_get_focus (GTK_WINDOW (fixture->window));
  g_assert_true (GTK_IS_TEXT_VIEW (text_view));
  buffer = gtk_text_view_get_buffer (GTK_TEXT_VIEW (text_view));
  clipboard = gtk_widget_get_clipboard (text_view);

  /* An image on the clipboard becomes a PNG file in the cache, attached. */
  gdk_pixbuf_fill (pixbuf, 0x3584e4ff);
  texture = gdk_texture_new_for_pixbuf (pixbuf);
  gdk_clipboard_set_texture (clipboard, texture);
  g_signal_emit_by_name (text_view, "paste-clipboard");
  natter_test_wait_until (n_attachments (fixture) == 1, TIMEOUT_MS);
  g_assert_cmpint (gtk_text_buffer_get_char_count (buffer), ==, 0);

  info = attachment_at (fixture, 0);
  path = g_file_get_path (
    G_FILE (g_file_info_get_attribute_object (info, NATTER_ATTACHMENT_ATTRIBUTE_FILE)));
  g_assert_true (g_str_has_prefix (path, pasted_dir));
  g_assert_true (g_str_has_suffix (path, ".png"));
  g_assert_cmpstr (g_file_info_get_content_type (info), ==, "image/png");
  g_assert_cmpint (g_file_info_get_attribute_int32 (info, NATTER_ATTACHMENT_ATTRIBUTE_WIDTH), ==,
                   120);
  g_assert_cmpint (g_file_info_get_attribute_int32 (info, NATTER_ATTACHMENT_ATTRIBUTE_HEIGHT), ==,
                   90);
  written = gdk_pixbuf_new_from_file (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_pixbuf_get_width (written), ==, 120);

  /* Files copied in a file manager are attached too. */
  {
    g_autofree char *notes = write_document (fixture, "notes.pdf", 2000);
    g_autoptr (GFile) file = g_file_new_for_path (notes);
    GSList *files = g_slist_append (NULL, file);
    GdkFileList *list = gdk_file_list_new_from_list (files);
    g_autoptr (GFileInfo) notes_info = NULL;

    g_slist_free (files);
    gdk_clipboard_set (clipboard, GDK_TYPE_FILE_LIST, list);
    g_boxed_free (GDK_TYPE_FILE_LIST, list);
    g_signal_emit_by_name (text_view, "paste-clipboard");
    natter_test_wait_until (n_attachments (fixture) == 2, TIMEOUT_MS);
    notes_info = attachment_at (fixture, 1);
    g_assert_cmpstr (g_file_info_get_display_name (notes_info), ==, "notes.pdf");
    g_assert_cmpint (gtk_text_buffer_get_char_count (buffer), ==, 0);
  }

  /* Text on the clipboard is pasted as text, nothing is attached. */
  gdk_clipboard_set_text (clipboard, "page 12, exercise 3");
  g_signal_emit_by_name (text_view, "paste-clipboard");
  natter_test_wait_until (gtk_text_buffer_get_char_count (buffer) > 0, TIMEOUT_MS);
  g_assert_cmpuint (n_attachments (fixture), ==, 2);
}

static void
collect_widgets (GtkWidget *widget, GType type, GPtrArray *found)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type) && gtk_widget_is_drawable (widget))
    g_ptr_array_add (found, widget);

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    collect_widgets (child, type, found);
}

/* The drawn widget of @type in the chat view showing attachment @name. */
static GtkWidget *
shown_attachment (Fixture *fixture, GType type, const char *name)
{
  g_autoptr (GPtrArray) found = g_ptr_array_new ();

  collect_widgets (GTK_WIDGET (fixture->chat_view), type, found);
  for (guint i = 0; i < found->len; i++) {
    GtkWidget *widget = g_ptr_array_index (found, i);
    NatterAttachmentItem *attachment = NULL;

    g_object_get (widget, "attachment", &attachment, NULL);
    if (attachment != NULL && g_strcmp0 (natter_attachment_item_get_name (attachment), name) == 0) {
      g_object_unref (attachment);
      return widget;
    }
    g_clear_object (&attachment);
  }

  return NULL;
}

static char *
file_sha256 (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;

  g_assert_true (g_file_get_contents (path, &contents, &length, &error));
  g_assert_no_error (error);
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, length);
}

static NatterMessageItem *
last_message (NatterMessageList *messages)
{
  guint n_items = g_list_model_get_n_items (G_LIST_MODEL (messages));

  return n_items > 0 ? g_list_model_get_item (G_LIST_MODEL (messages), n_items - 1) : NULL;
}

static guint
n_attachments_of_last (NatterMessageList *messages)
{
  g_autoptr (NatterMessageItem) message = last_message (messages);

  return message != NULL ? g_list_model_get_n_items (natter_message_item_get_attachments (message))
                         : 0;
}

typedef struct {
  char *path;
  GError *error;
  gboolean done;
} Download;

static void
on_downloaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Download *download = user_data;

  download->path =
    natter_client_download_attachment_finish (NATTER_CLIENT (source), result, &download->error);
  download->done = TRUE;
}

static char *
download (NatterClient *client, NatterAttachmentItem *attachment)
{
  Download result = { 0 };

  natter_client_download_attachment_async (
    client, natter_attachment_item_get_attachment_id (attachment), NULL, on_downloaded, &result);
  natter_test_wait_until (result.done, TIMEOUT_MS);
  g_assert_no_error (result.error);
  g_assert_nonnull (result.path);
  return result.path;
}

/* A photo and a PDF go from the app to Bob, byte for byte; Bob's photo
 * and PDF come back and show in the app: the image's room kept from the
 * start, the card with name and size. */
static void
test_send_and_receive (Fixture *fixture, gconstpointer data)
{
  g_autofree char *photo = write_image (fixture, "homework.png", 1600, 1200);
  g_autofree char *worksheet = write_document (fixture, "worksheet.pdf", 300 * 1000);
  g_autofree char *reply_photo = write_image (fixture, "corrected.png", 800, 1000);
  g_autofree char *reply_notes = write_document (fixture, "notes.pdf", 4321);
  const char *const both[] = { photo, worksheet, NULL };
  g_autoptr (NatterMessageList) bob_messages = NULL;
  g_autoptr (NatterMessageItem) received = NULL;
  g_autoptr (GPtrArray) reply = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GError) error = NULL;
  g_autofree char *reply_id = NULL;
  g_autofree char *notes_size = g_format_size (4321);
  GtkWidget *bubble, *card;
  int width, height;

  open_window (fixture);

  /* Alice: two files and a line of text. */
  g_assert_true (drop_files (fixture, both));
  natter_chat_view_set_draft (fixture->chat_view, "My homework and the worksheet");
  g_assert_true (natter_chat_view_send_draft (fixture->chat_view, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_attachments (fixture), ==, 0);
  natter_test_wait_until (shown_attachment (fixture, NATTER_TYPE_IMAGE_BUBBLE, "homework.png") &&
                            shown_attachment (fixture, NATTER_TYPE_FILE_CARD, "worksheet.pdf"),
                          TIMEOUT_MS);

  /* Bob gets both, measured, and the same bytes. */
  bob_messages = natter_client_open_conversation (fixture->bob, fixture->conversation_id);
  /* Generous: the upload runs at low priority behind the window's work. */
  natter_test_wait_until (n_attachments_of_last (bob_messages) == 2, 3 * TIMEOUT_MS);
  received = last_message (bob_messages);
  g_assert_cmpstr (natter_message_item_get_text (received), ==, "My homework and the worksheet");
  {
    GListModel *attachments = natter_message_item_get_attachments (received);
    g_autoptr (NatterAttachmentItem) image = g_list_model_get_item (attachments, 0);
    g_autoptr (NatterAttachmentItem) document = g_list_model_get_item (attachments, 1);
    g_autofree char *image_path = NULL;
    g_autofree char *document_path = NULL;
    g_autofree char *sent_image_sum = file_sha256 (photo);
    g_autofree char *sent_document_sum = file_sha256 (worksheet);
    g_autofree char *image_sum = NULL;
    g_autofree char *document_sum = NULL;

    g_assert_cmpstr (natter_attachment_item_get_name (image), ==, "homework.png");
    g_assert_cmpint (natter_attachment_item_get_width (image), ==, 1600);
    g_assert_cmpint (natter_attachment_item_get_height (image), ==, 1200);
    g_assert_cmpstr (natter_attachment_item_get_name (document), ==, "worksheet.pdf");
    g_assert_cmpint (natter_attachment_item_get_size (document), ==, 300 * 1000);
    image_path = download (fixture->bob, image);
    document_path = download (fixture->bob, document);
    image_sum = file_sha256 (image_path);
    document_sum = file_sha256 (document_path);
    g_assert_cmpstr (image_sum, ==, sent_image_sum);
    g_assert_cmpstr (document_sum, ==, sent_document_sum);
  }

  /* Bob answers with files of his own. */
  g_ptr_array_add (reply, g_file_new_for_path (reply_photo));
  g_ptr_array_add (reply, g_file_new_for_path (reply_notes));
  reply_id = natter_client_send_message_with_attachments (fixture->bob, fixture->conversation_id,
                                                          NULL, NULL, reply, &error);
  g_assert_no_error (error);
  g_assert_nonnull (reply_id);

  natter_test_wait_until (
    (bubble = shown_attachment (fixture, NATTER_TYPE_IMAGE_BUBBLE, "corrected.png")) != NULL,
    3 * TIMEOUT_MS);
  /* Room for 800 x 1000 in 280 x 280 from the first frame it is drawn. */
  natter_test_wait_until (gtk_widget_get_height (bubble) > 0, TIMEOUT_MS);
  natter_image_bubble_get_reserved_size (NATTER_IMAGE_BUBBLE (bubble), &width, &height);
  g_assert_cmpint (width, ==, 224);
  g_assert_cmpint (height, ==, 280);
  g_assert_cmpint (gtk_widget_get_width (bubble), ==, 224);
  g_assert_cmpint (gtk_widget_get_height (bubble), ==, 280);
  natter_test_wait_until (natter_image_bubble_get_has_thumbnail (NATTER_IMAGE_BUBBLE (bubble)),
                          3 * TIMEOUT_MS);
  wait_frames (fixture, 2);
  bubble = shown_attachment (fixture, NATTER_TYPE_IMAGE_BUBBLE, "corrected.png");
  g_assert_nonnull (bubble);
  g_assert_cmpint (gtk_widget_get_width (bubble), ==, 224);
  g_assert_cmpint (gtk_widget_get_height (bubble), ==, 280);
  {
    NatterAttachmentItem *image = natter_image_bubble_get_attachment (NATTER_IMAGE_BUBBLE (bubble));
    g_autofree char *sum = file_sha256 (natter_attachment_item_get_local_path (image));
    g_autofree char *sent_sum = file_sha256 (reply_photo);

    g_assert_cmpint (natter_attachment_item_get_state (image), ==,
                     NATTER_ATTACHMENT_STATE_DOWNLOADED);
    g_assert_cmpstr (sum, ==, sent_sum);
  }

  /* The PDF waits to be asked for: its card shows name and size. */
  card = shown_attachment (fixture, NATTER_TYPE_FILE_CARD, "notes.pdf");
  g_assert_nonnull (card);
  g_assert_true (tray_shows_label (card, "notes.pdf"));
  g_assert_true (tray_shows_label (card, notes_size));
  g_assert_true (gtk_widget_is_drawable (find_button_labelled (card, "Download")));
  natter_chat_view_scroll_to_bottom (fixture->chat_view);
  save_screenshot (fixture, "attachments-chat");

  /* Download from the card: then Open and Save As. */
  g_assert_true (gtk_widget_activate_action_variant (card, "attachment.download", NULL));
  natter_test_wait_until (natter_attachment_item_get_state (natter_file_card_get_attachment (
                            NATTER_FILE_CARD (card))) == NATTER_ATTACHMENT_STATE_DOWNLOADED,
                          TIMEOUT_MS);
  wait_frames (fixture, 1);
  card = shown_attachment (fixture, NATTER_TYPE_FILE_CARD, "notes.pdf");
  g_assert_true (gtk_widget_is_drawable (find_button_labelled (card, "Open")));
  g_assert_true (gtk_widget_is_drawable (find_button_labelled (card, "Save As…")));
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (),
                                      ADW_COLOR_SCHEME_FORCE_DARK);
  save_screenshot (fixture, "attachments-chat-dark");
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (), ADW_COLOR_SCHEME_DEFAULT);
}

/* Widget tests: an image bubble and a file card on their own, in a plain
 * window, following an attachment item as the core would change it. */
typedef struct {
  char *dir;
  char *shots_dir;
  GtkWindow *window;
  GtkWidget *column;
  NatterThumbnailLoader *loader;
} WidgetFixture;

static void
widget_fixture_set_up (WidgetFixture *fixture, gconstpointer data)
{
  fixture->dir = g_dir_make_tmp ("natter-attachment-widgets-XXXXXX", NULL);
  fixture->shots_dir = natter_test_top_build_filename ("screenshots", NULL);
  g_mkdir_with_parents (fixture->shots_dir, 0755);
  fixture->loader = natter_thumbnail_loader_new (4);
  fixture->window = GTK_WINDOW (gtk_window_new ());
  gtk_window_set_default_size (fixture->window, 420, 560);
  fixture->column = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  gtk_widget_set_margin_start (fixture->column, 12);
  gtk_widget_set_margin_end (fixture->column, 12);
  gtk_widget_set_margin_top (fixture->column, 12);
  gtk_widget_set_margin_bottom (fixture->column, 12);
  gtk_window_set_child (fixture->window, fixture->column);
  gtk_window_present (fixture->window);
  natter_test_wait_until (gtk_widget_get_mapped (GTK_WIDGET (fixture->window)), TIMEOUT_MS);
}

static void
widget_fixture_tear_down (WidgetFixture *fixture, gconstpointer data)
{
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (), ADW_COLOR_SCHEME_DEFAULT);
  gtk_window_destroy (fixture->window);
  g_clear_object (&fixture->loader);
  natter_test_remove_tree (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->shots_dir);
  natter_test_iterate_until (g_get_monotonic_time () + 50 * 1000);
}

static void
widget_frames (WidgetFixture *fixture, int count)
{
  wait_window_frames (GTK_WIDGET (fixture->window), count);
}

static void
widget_screenshot (WidgetFixture *fixture, const char *name)
{
  GtkWidget *widget = GTK_WIDGET (fixture->window);
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GskRenderNode) node = NULL;
  g_autofree char *file = g_strconcat (name, ".png", NULL);
  g_autofree char *path = g_build_filename (fixture->shots_dir, file, NULL);
  GtkSnapshot *snapshot;
  int width, height;

  widget_frames (fixture, 2);
  width = gtk_widget_get_width (widget);
  height = gtk_widget_get_height (widget);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (widget)), node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("saved %s", path);
}

static char *
write_photo (const char *dir, const char *name, int width, int height)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      guint8 *p = pixels + y * stride + x * 3;

      p[0] = 40 + 200 * x / width;
      p[1] = 90 + 120 * y / height;
      p[2] = 200 - 120 * x / width;
    }
  g_assert_true (gdk_pixbuf_save (pixbuf, path, "png", &error, NULL));
  g_assert_no_error (error);

  return path;
}

static GtkWidget *
find_progress (GtkWidget *widget)
{
  if (NATTER_IS_ATTACHMENT_PROGRESS (widget))
    return widget;

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    GtkWidget *found = find_progress (child);

    if (found != NULL)
      return found;
  }

  return NULL;
}

static GtkWidget *
add_bubble (WidgetFixture *fixture, NatterAttachmentItem *item)
{
  GtkWidget *bubble = g_object_new (NATTER_TYPE_IMAGE_BUBBLE, "attachment", item, "loader",
                                    fixture->loader, "halign", GTK_ALIGN_START, NULL);

  gtk_box_append (GTK_BOX (fixture->column), bubble);
  return bubble;
}

static NatterImageViewer *
find_viewer (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++) {
    g_autoptr (GObject) window = g_list_model_get_item (toplevels, i);

    if (NATTER_IS_IMAGE_VIEWER (window))
      return NATTER_IMAGE_VIEWER (window);
  }

  return NULL;
}

/* The sender measured 1600 x 1200: the bubble keeps 280 x 210 from the
 * start, while the image is still on its way, and keeps exactly that when
 * the thumbnail arrives. */
static void
test_image_bubble_reserves_size (WidgetFixture *fixture, gconstpointer data)
{
  g_autoptr (NatterAttachmentItem) photo =
    natter_attachment_item_new (7, "homework.png", "image/png", 250000, 1600, 1200, NULL);
  g_autoptr (NatterAttachmentItem) unmeasured =
    natter_attachment_item_new (8, "unknown.png", "image/png", 1000, 0, 0, NULL);
  g_autoptr (NatterAttachmentItem) tall =
    natter_attachment_item_new (9, "receipt.png", "image/png", 1000, 300, 3000, NULL);
  g_autofree char *path = NULL;
  GtkWidget *bubble, *progress;
  NatterImageViewer *viewer;
  int width, height;

  natter_attachment_item_set_state (photo, NATTER_ATTACHMENT_STATE_DOWNLOADING, NULL);
  natter_attachment_item_set_progress (photo, 0.4);
  bubble = add_bubble (fixture, photo);
  add_bubble (fixture, unmeasured);
  add_bubble (fixture, tall);
  widget_frames (fixture, 2);

  natter_image_bubble_get_reserved_size (NATTER_IMAGE_BUBBLE (bubble), &width, &height);
  g_assert_cmpint (width, ==, 280);
  g_assert_cmpint (height, ==, 210);
  g_assert_cmpint (gtk_widget_get_width (bubble), ==, 280);
  g_assert_cmpint (gtk_widget_get_height (bubble), ==, 210);
  g_assert_false (natter_image_bubble_get_has_thumbnail (NATTER_IMAGE_BUBBLE (bubble)));
  progress = find_progress (bubble);
  g_assert_nonnull (progress);
  g_assert_true (gtk_widget_is_drawable (progress));
  widget_screenshot (fixture, "attachments-image-downloading");

  /* Unmeasured: a fixed box; very tall: fitted, never thinner than usable. */
  natter_image_bubble_get_reserved_size (NATTER_IMAGE_BUBBLE (gtk_widget_get_next_sibling (bubble)),
                                         &width, &height);
  g_assert_cmpint (width, ==, 240);
  g_assert_cmpint (height, ==, 180);
  natter_image_bubble_get_reserved_size (
    NATTER_IMAGE_BUBBLE (gtk_widget_get_last_child (fixture->column)), &width, &height);
  g_assert_cmpint (width, ==, 48);
  g_assert_cmpint (height, ==, 280);

  /* The download ends: the thumbnail comes, the size stays. */
  path = write_photo (fixture->dir, "homework.png", 1600, 1200);
  natter_attachment_item_set_local_path (photo, path);
  natter_attachment_item_set_state (photo, NATTER_ATTACHMENT_STATE_DOWNLOADED, NULL);
  natter_test_wait_until (natter_image_bubble_get_has_thumbnail (NATTER_IMAGE_BUBBLE (bubble)),
                          TIMEOUT_MS);
  widget_frames (fixture, 2);
  g_assert_cmpint (gtk_widget_get_width (bubble), ==, 280);
  g_assert_cmpint (gtk_widget_get_height (bubble), ==, 210);
  g_assert_false (gtk_widget_get_visible (progress));
  widget_screenshot (fixture, "attachments-image");

  /* A click opens it large, upright and whole (1600 x 1200 fits in 2048). */
  g_assert_null (find_viewer ());
  g_assert_true (gtk_widget_activate_action_variant (bubble, "attachment.open", NULL));
  viewer = find_viewer ();
  g_assert_nonnull (viewer);
  g_assert_true (natter_image_viewer_get_attachment (viewer) == photo);
  natter_test_wait_until (natter_image_viewer_get_paintable (viewer) != NULL, TIMEOUT_MS);
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (natter_image_viewer_get_paintable (viewer)),
                   ==, 1600);
  g_assert_cmpint (gdk_paintable_get_intrinsic_height (natter_image_viewer_get_paintable (viewer)),
                   ==, 1200);
  gtk_window_destroy (GTK_WINDOW (viewer));
}

/* A PDF: its name and size, a download button until it is here, progress
 * while it moves, then Open and Save As. Dark too. */
static void
test_file_card (WidgetFixture *fixture, gconstpointer data)
{
  g_autoptr (NatterAttachmentItem) worksheet = natter_attachment_item_new (
    11, "Fractions worksheet.pdf", "application/pdf", 20 * 1024 * 1024, 0, 0, NULL);
  g_autoptr (NatterAttachmentItem) photo =
    natter_attachment_item_new (12, "homework.png", "image/png", 250000, 1600, 1200, NULL);
  g_autofree char *size = g_format_size (20 * 1024 * 1024);
  g_autofree char *half = g_format_size (10 * 1024 * 1024);
  g_autofree char *sending = NULL;
  g_autofree char *photo_path = write_photo (fixture->dir, "homework.png", 1600, 1200);
  g_autofree char *pdf_path = g_build_filename (fixture->dir, "worksheet.pdf", NULL);
  GtkWidget *card = natter_file_card_new (worksheet);
  GtkWidget *download, *open, *save, *progress;

  gtk_widget_set_halign (card, GTK_ALIGN_START);
  gtk_box_append (GTK_BOX (fixture->column), card);
  widget_frames (fixture, 2);

  g_assert_true (tray_shows_label (card, "Fractions worksheet.pdf"));
  g_assert_true (tray_shows_label (card, size));
  download = find_button_labelled (card, "Download");
  open = find_button_labelled (card, "Open");
  save = find_button_labelled (card, "Save As…");
  g_assert_nonnull (download);
  g_assert_nonnull (open);
  g_assert_nonnull (save);
  g_assert_true (gtk_widget_is_drawable (download));
  g_assert_false (gtk_widget_get_visible (open));
  g_assert_false (gtk_widget_get_visible (save));
  progress = find_progress (card);
  g_assert_false (gtk_widget_get_visible (progress));

  /* Going up: half way, with Cancel. */
  natter_attachment_item_set_state (worksheet, NATTER_ATTACHMENT_STATE_UPLOADING, NULL);
  natter_attachment_item_set_progress (worksheet, 0.5);
  widget_frames (fixture, 1);
  g_assert_true (gtk_widget_is_drawable (progress));
  g_assert_false (gtk_widget_get_visible (download));
  sending = g_strdup_printf ("Sending %s of %s", half, size);
  g_assert_true (tray_shows_label (card, sending));
  g_assert_nonnull (find_button_labelled (progress, "Cancel"));
  widget_screenshot (fixture, "attachments-file-card-progress");

  g_assert_true (g_file_set_contents (pdf_path, "%PDF-1.4\n", -1, NULL));
  natter_attachment_item_set_local_path (worksheet, pdf_path);
  natter_attachment_item_set_state (worksheet, NATTER_ATTACHMENT_STATE_DOWNLOADED, NULL);
  widget_frames (fixture, 1);
  g_assert_false (gtk_widget_get_visible (progress));
  g_assert_true (gtk_widget_is_drawable (open));
  g_assert_true (gtk_widget_is_drawable (save));
  g_assert_false (gtk_widget_get_visible (download));

  /* A failure says why. */
  natter_attachment_item_set_state (worksheet, NATTER_ATTACHMENT_STATE_FAILED, "connection lost");
  widget_frames (fixture, 1);
  {
    g_autofree char *failed = g_strdup_printf ("%s · Failed: connection lost", size);

    g_assert_true (tray_shows_label (card, failed));
  }
  natter_attachment_item_set_state (worksheet, NATTER_ATTACHMENT_STATE_DOWNLOADED, NULL);

  natter_attachment_item_set_local_path (photo, photo_path);
  natter_attachment_item_set_state (photo, NATTER_ATTACHMENT_STATE_DOWNLOADED, NULL);
  {
    GtkWidget *bubble = add_bubble (fixture, photo);

    natter_test_wait_until (natter_image_bubble_get_has_thumbnail (NATTER_IMAGE_BUBBLE (bubble)),
                            TIMEOUT_MS);
  }
  widget_screenshot (fixture, "attachments-file-card");
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (),
                                      ADW_COLOR_SCHEME_FORCE_DARK);
  widget_screenshot (fixture, "attachments-dark");
}

/* Cancel on a file still going up (here: the server is away, so it
 * cannot have gone): the message is taken back and never reaches Bob;
 * what Alice writes next does. */
static void
test_cancel_upload (Fixture *fixture, gconstpointer data)
{
  g_autofree char *worksheet = write_document (fixture, "worksheet.pdf", 5000);
  const char *const one[] = { worksheet, NULL };
  g_autoptr (NatterMessageList) bob_messages = NULL;
  g_autoptr (NatterMessageItem) last = NULL;
  g_autoptr (NatterAttachmentItem) attachment = NULL;
  g_autoptr (GError) error = NULL;
  GtkWidget *card, *progress, *cancel;

  open_window (fixture);
  natter_test_server_stop (fixture->server);
  natter_test_wait_until (natter_connection_get_state (natter_client_get_connection (
                            fixture->alice)) != NATTER_CONNECTION_STATE_CONNECTED,
                          TIMEOUT_MS);

  g_assert_true (drop_files (fixture, one));
  g_assert_true (natter_chat_view_send_draft (fixture->chat_view, &error));
  g_assert_no_error (error);
  natter_test_wait_until (shown_attachment (fixture, NATTER_TYPE_FILE_CARD, "worksheet.pdf"),
                          TIMEOUT_MS);
  card = shown_attachment (fixture, NATTER_TYPE_FILE_CARD, "worksheet.pdf");
  attachment = g_object_ref (natter_file_card_get_attachment (NATTER_FILE_CARD (card)));
  g_assert_cmpint (natter_attachment_item_get_state (attachment), ==,
                   NATTER_ATTACHMENT_STATE_UPLOADING);
  wait_frames (fixture, 1);
  progress = find_progress (card);
  g_assert_true (gtk_widget_is_drawable (progress));
  save_screenshot (fixture, "attachments-chat-uploading");
  cancel = find_button_labelled (progress, "Cancel");
  g_assert_nonnull (cancel);
  g_signal_emit_by_name (cancel, "clicked");
  g_assert_cmpint (natter_attachment_item_get_state (attachment), ==,
                   NATTER_ATTACHMENT_STATE_CANCELLED);

  /* Back online: the next message arrives, the cancelled one never does. */
  natter_test_server_restart (fixture->server);
  natter_chat_view_set_draft (fixture->chat_view, "Sorry, wrong file");
  g_assert_true (natter_chat_view_send_draft (fixture->chat_view, &error));
  g_assert_no_error (error);
  bob_messages = natter_client_open_conversation (fixture->bob, fixture->conversation_id);
  natter_test_wait_until (g_list_model_get_n_items (G_LIST_MODEL (bob_messages)) > 0,
                          3 * TIMEOUT_MS);
  last = last_message (bob_messages);
  g_assert_cmpstr (natter_message_item_get_text (last), ==, "Sorry, wrong file");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (bob_messages)), ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (natter_message_item_get_attachments (last)), ==, 0);
}

/* --- the "Done when": app → natter-cli → app through a cut link -- */

/* 20 MiB, the worksheet, and a 4032 × 3024 phone photo; under
 * sanitizers or valgrind (a time scale above 1) 5 MiB and 2016 × 1512, so
 * hashing and thumbnailing at their pace stay within seconds. */
static gboolean
round_trip_scaled_down (void)
{
  return natter_test_scale_ms (1000) > 1000;
}

/* Random bytes, so no layer can shorten them. */
static char *
write_random_file (Fixture *fixture, const char *name, gsize size)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261206);
  g_autofree guint32 *data = g_malloc (size);
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (fixture->data_dir, name, NULL);

  for (gsize i = 0; i < size / sizeof (guint32); i++)
    data[i] = g_rand_int (rand);
  g_assert_true (g_file_set_contents (path, (const char *) data, size, &error));
  g_assert_no_error (error);

  return path;
}

static char *
write_jpeg (Fixture *fixture, const char *name, int width, int height)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (fixture->data_dir, name, NULL);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      guint8 *p = pixels + y * stride + x * 3;

      p[0] = (guint8) x;
      p[1] = (guint8) y;
      p[2] = (guint8) (x ^ y);
    }
  g_assert_true (gdk_pixbuf_save (pixbuf, path, "jpeg", &error, "quality", "90", NULL));
  g_assert_no_error (error);

  return path;
}

/* The size of the largest file in @dir: how far an upload has come on the
 * server, which writes it to a temporary file there. */
static goffset
largest_file_in (const char *dir)
{
  g_autoptr (GDir) folder = g_dir_open (dir, 0, NULL);
  const char *name;
  goffset largest = 0;

  while (folder != NULL && (name = g_dir_read_name (folder)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);
    GStatBuf buf;

    if (g_stat (path, &buf) == 0 && S_ISREG (buf.st_mode))
      largest = MAX (largest, (goffset) buf.st_size);
  }

  return largest;
}

typedef struct {
  char *out;
  int status;
  gboolean done;
} CliRun;

static void
on_cli_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CliRun *run = user_data;
  g_autoptr (GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &run->out, NULL, &error);
  g_assert_no_error (error);
  run->status = g_subprocess_get_if_exited (G_SUBPROCESS (source))
                  ? g_subprocess_get_exit_status (G_SUBPROCESS (source))
                  : -1;
  run->done = TRUE;
}

/* natter-cli, the process, as Bob (his token in the environment), straight
 * to the server; its JSON lines, parsed. Exits 0 or the test fails. */
static GPtrArray *
bob_cli (Fixture *fixture, const char *const *args)
{
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *home = g_build_filename (fixture->data_dir, "bob-cli", NULL);
  g_auto (GStrv) lines = NULL;
  GPtrArray *objects = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  CliRun run = { 0 };

  g_ptr_array_add (argv, (gpointer) NATTER_CLI_BINARY);
  g_ptr_array_add (argv, (gpointer) "--server");
  g_ptr_array_add (argv, (gpointer) natter_test_server_get_url (fixture->server));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", home, TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN_STORE", "file", TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN", fixture->bob_token, TRUE);
  process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (process, NULL, NULL, on_cli_done, &run);
  natter_test_wait_until (run.done, 60000);
  g_test_message ("natter-cli %s: %s", args[0], run.out);
  g_assert_cmpint (run.status, ==, 0);

  lines = g_strsplit (run.out, "\n", -1);
  g_free (run.out);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autoptr (JsonNode) node = NULL;

    if (*lines[i] == '\0')
      continue;
    node = json_from_string (lines[i], &error);
    g_assert_no_error (error);
    g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
    g_ptr_array_add (objects, json_object_ref (json_node_get_object (node)));
  }

  return objects;
}

/* How many of natter-cli's @lines are @event with @member equal to @value. */
static guint
count_lines (GPtrArray *lines, const char *event, const char *member, const char *value)
{
  guint count = 0;

  for (guint i = 0; i < lines->len; i++) {
    JsonObject *line = g_ptr_array_index (lines, i);

    if (g_strcmp0 (json_object_get_string_member_with_default (line, "event", NULL), event) == 0 &&
        g_strcmp0 (json_object_get_string_member_with_default (line, member, NULL), value) == 0)
      count++;
  }

  return count;
}

static gint64
attachment_id_named (GPtrArray *lines, const char *name)
{
  for (guint i = 0; i < lines->len; i++) {
    JsonObject *line = g_ptr_array_index (lines, i);

    if (g_strcmp0 (json_object_get_string_member_with_default (line, "event", NULL),
                   "attachment") == 0 &&
        g_strcmp0 (json_object_get_string_member_with_default (line, "name", NULL), name) == 0)
      return json_object_get_int_member (line, "attachment_id");
  }

  g_error ("natter-cli printed no attachment %s", name);
}

/* Bob's natter-cli downloads attachment @name of @history to @output and
 * the bytes are the ones in @original. */
static void
assert_cli_download (
  Fixture *fixture, GPtrArray *history, const char *name, const char *output, const char *original)
{
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, attachment_id_named (history, name));
  const char *args[] = { "download", id, "--output", output, NULL };
  g_autoptr (GPtrArray) lines = bob_cli (fixture, args);
  g_autofree char *got = file_sha256 (output);
  g_autofree char *sent = file_sha256 (original);

  g_assert_cmpuint (count_lines (lines, "downloaded", "path", output), ==, 1);
  g_assert_cmpstr (got, ==, sent);
}

/* The "Done when": a 20 MiB PDF and a phone photo go from the app,
 * whose link to the server is cut during the upload and again during the
 * download, to natter-cli and back, exactly once and byte-identical
 * (SHA-256). */
static void
test_round_trip_through_cut_link (Fixture *fixture, gconstpointer data)
{
  gsize big_size = round_trip_scaled_down () ? 5 * 1024 * 1024 : 20 * 1024 * 1024;
  int photo_width = round_trip_scaled_down () ? 2016 : 4032;
  int photo_height = round_trip_scaled_down () ? 1512 : 3024;
  g_autofree char *worksheet = write_random_file (fixture, "worksheet.pdf", big_size);
  g_autofree char *photo = write_jpeg (fixture, "IMG_20261206.jpg", photo_width, photo_height);
  g_autofree char *db_dir = g_path_get_dirname (natter_test_server_get_db_path (fixture->server));
  g_autofree char *uploads = g_build_filename (db_dir, "attachments", "tmp", NULL);
  g_autofree char *cid = g_strdup_printf ("%" G_GINT64_FORMAT, fixture->conversation_id);
  g_autofree char *alice =
    g_strdup_printf ("%s:%" G_GINT64_FORMAT, fixture->alice_profile->profile_type,
                     fixture->alice_profile->profile_id);
  g_autofree char *worksheet_back =
    g_build_filename (fixture->data_dir, "worksheet-checked.pdf", NULL);
  g_autofree char *photo_back = g_build_filename (fixture->data_dir, "IMG_checked.jpg", NULL);
  const char *history_args[] = { "history", cid, NULL };
  const char *send_args[] = {
    "send", alice, "Checked, see attached", "--file", worksheet_back, "--file", photo_back, NULL
  };
  g_autoptr (NatterTcpProxy) proxy =
    natter_tcp_proxy_new (natter_test_server_get_port (fixture->server));
  g_autoptr (GFile) worksheet_file = g_file_new_for_path (worksheet);
  g_autoptr (GFile) photo_file = g_file_new_for_path (photo);
  g_autoptr (GPtrArray) history = NULL;
  g_autoptr (GPtrArray) sent = NULL;
  g_autoptr (NatterMessageList) bob_messages = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *alice_dir = g_build_filename (fixture->data_dir, "alice-proxied", NULL);
  GtkWidget *bubble, *card;

  /* The app signed in through the proxy instead of straight to the server. */
  g_clear_object (&fixture->alice);
  fixture->alice = natter_test_client_new_signed_in (natter_tcp_proxy_get_url (proxy), alice_dir,
                                                     fixture->alice_token, TIMEOUT_MS);
  natter_test_client_refresh_conversations (fixture->alice, TIMEOUT_MS);
  open_window (fixture);

  /* Both through the attach path (what the file chooser's answer does). */
  g_assert_true (natter_attachment_tray_add_file (tray_of (fixture), worksheet_file, &error));
  g_assert_no_error (error);
  g_assert_true (natter_attachment_tray_add_file (tray_of (fixture), photo_file, &error));
  g_assert_no_error (error);
  {
    g_autoptr (GFileInfo) info = attachment_at (fixture, 0);

    g_assert_cmpstr (g_file_info_get_content_type (info), ==, "application/pdf");
  }
  natter_chat_view_set_draft (fixture->chat_view, "The worksheet and my photo");
  g_assert_true (natter_chat_view_send_draft (fixture->chat_view, &error));
  g_assert_no_error (error);

  /* A quarter of the worksheet on the server's disk: cut the app's link. */
  natter_test_wait_until (largest_file_in (uploads) >= (goffset) big_size / 4, 3 * TIMEOUT_MS);
  natter_tcp_proxy_cut_all (proxy);
  g_assert_cmpuint (natter_tcp_proxy_get_n_cuts (proxy), >=, 1);

  /* The message reaches Bob (his client straight to the server) ... */
  bob_messages = natter_client_open_conversation (fixture->bob, fixture->conversation_id);
  natter_test_wait_until (n_attachments_of_last (bob_messages) == 2, 6 * TIMEOUT_MS);

  /* ... and natter-cli lists it once, with both files, byte-identical. */
  history = bob_cli (fixture, history_args);
  g_assert_cmpuint (count_lines (history, "message", "text", "The worksheet and my photo"), ==, 1);
  g_assert_cmpuint (count_lines (history, "attachment", "name", "worksheet.pdf"), ==, 1);
  g_assert_cmpuint (count_lines (history, "attachment", "name", "IMG_20261206.jpg"), ==, 1);
  g_assert_cmpuint (count_lines (history, "attachment", "content_type", "application/pdf"), ==, 1);
  assert_cli_download (fixture, history, "worksheet.pdf", worksheet_back, worksheet);
  assert_cli_download (fixture, history, "IMG_20261206.jpg", photo_back, photo);

  /* natter-cli sends both back in one message; the app shows it. */
  sent = bob_cli (fixture, send_args);
  g_assert_cmpuint (count_lines (sent, "attachment", "name", "worksheet-checked.pdf"), ==, 1);
  natter_test_wait_until (
    (bubble = shown_attachment (fixture, NATTER_TYPE_IMAGE_BUBBLE, "IMG_checked.jpg")) != NULL &&
      shown_attachment (fixture, NATTER_TYPE_FILE_CARD, "worksheet-checked.pdf") != NULL,
    6 * TIMEOUT_MS);

  /* The app downloads both through the proxy: the photo by itself for its
   * thumbnail, the PDF from its card; the cached copies are the originals. */
  card = shown_attachment (fixture, NATTER_TYPE_FILE_CARD, "worksheet-checked.pdf");
  g_assert_true (gtk_widget_activate_action_variant (card, "attachment.download", NULL));
  {
    g_autoptr (NatterAttachmentItem) image = NULL;
    g_autoptr (NatterAttachmentItem) document = NULL;
    g_autofree char *image_sum = NULL;
    g_autofree char *document_sum = NULL;
    g_autofree char *photo_sum = file_sha256 (photo);
    g_autofree char *worksheet_sum = file_sha256 (worksheet);

    guint cuts = natter_tcp_proxy_get_n_cuts (proxy);

    g_object_get (bubble, "attachment", &image, NULL);
    g_object_get (card, "attachment", &document, NULL);
    /* Cut again while the PDF comes down: the download goes on. */
    natter_test_wait_until (natter_attachment_item_get_progress (document) > 0 ||
                              natter_attachment_item_get_state (document) ==
                                NATTER_ATTACHMENT_STATE_DOWNLOADED,
                            6 * TIMEOUT_MS);
    g_assert_cmpint (natter_attachment_item_get_state (document), ==,
                     NATTER_ATTACHMENT_STATE_DOWNLOADING);
    natter_tcp_proxy_cut_all (proxy);
    g_assert_cmpuint (natter_tcp_proxy_get_n_cuts (proxy), >, cuts);
    natter_test_wait_until (
      natter_attachment_item_get_state (document) == NATTER_ATTACHMENT_STATE_DOWNLOADED &&
        natter_attachment_item_get_state (image) == NATTER_ATTACHMENT_STATE_DOWNLOADED,
      6 * TIMEOUT_MS);
    image_sum = file_sha256 (natter_attachment_item_get_local_path (image));
    document_sum = file_sha256 (natter_attachment_item_get_local_path (document));
    g_assert_cmpstr (image_sum, ==, photo_sum);
    g_assert_cmpstr (document_sum, ==, worksheet_sum);
    g_assert_cmpint (natter_attachment_item_get_width (image), ==, photo_width);
    g_assert_cmpint (natter_attachment_item_get_height (image), ==, photo_height);
  }

  /* Each message exactly once, in natter-cli's history and in the app. */
  g_clear_pointer (&history, g_ptr_array_unref);
  history = bob_cli (fixture, history_args);
  g_assert_cmpuint (count_lines (history, "message", "text", "The worksheet and my photo"), ==, 1);
  g_assert_cmpuint (count_lines (history, "message", "text", "Checked, see attached"), ==, 1);
  g_assert_cmpuint (count_lines (history, "attachment", "name", "worksheet.pdf"), ==, 1);
  g_assert_cmpuint (count_lines (history, "attachment", "name", "worksheet-checked.pdf"), ==, 1);
  g_assert_cmpuint (count_lines (history, "attachment", "name", "IMG_checked.jpg"), ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (natter_chat_view_get_messages (fixture->chat_view)),
                    ==, 2);
  g_assert_cmpuint (natter_tcp_proxy_get_n_cuts (proxy), >=, 1);

  /* The window goes before the client and the proxy it uses. */
  gtk_window_destroy (GTK_WINDOW (fixture->window));
  fixture->window = NULL;
  g_clear_object (&fixture->alice);
}

static void
on_final_activate (GApplication *application)
{
  g_signal_stop_emission_by_name (application, "activate");
  g_application_quit (application);
}

int
main (int argc, char *argv[])
{
  g_autofree char *cache_dir = g_dir_make_tmp ("natter-attachments-cache-XXXXXX", NULL);

  /* Pasted images go to the cache folder: a fresh one, not the user's. */
  g_setenv ("XDG_CACHE_HOME", cache_dir, TRUE);
  g_setenv ("GTK_A11Y", "test", TRUE);
  gtk_test_init (&argc, &argv, NULL);
  natter_test_log_allow_gst_sort_warning ();
  adw_init ();
  gst_init (NULL, NULL);

  test_application = g_object_new (
    ADW_TYPE_APPLICATION, "application-id", "org.natter.Natter.AttachmentsTest", "flags",
    G_APPLICATION_NON_UNIQUE, "resource-base-path", "/org/natter/Natter", NULL);
  g_assert_true (g_application_register (G_APPLICATION (test_application), NULL, NULL));

  g_test_add ("/natter/app/attachments/drop-adds-chips", Fixture, NULL, fixture_set_up,
              test_drop_adds_chips, fixture_tear_down);
  g_test_add ("/natter/app/attachments/limits", Fixture, NULL, fixture_set_up, test_limits,
              fixture_tear_down);
  g_test_add ("/natter/app/attachments/image-bubble-reserves-size", WidgetFixture, NULL,
              widget_fixture_set_up, test_image_bubble_reserves_size, widget_fixture_tear_down);
  g_test_add ("/natter/app/attachments/file-card", WidgetFixture, NULL, widget_fixture_set_up,
              test_file_card, widget_fixture_tear_down);
  g_test_add ("/natter/app/attachments/send-and-receive", Fixture, NULL, fixture_set_up,
              test_send_and_receive, fixture_tear_down);
  g_test_add ("/natter/app/attachments/cancel-upload", Fixture, NULL, fixture_set_up,
              test_cancel_upload, fixture_tear_down);
  g_test_add ("/natter/app/attachments/round-trip-through-cut-link", Fixture, NULL, fixture_set_up,
              test_round_trip_through_cut_link, fixture_tear_down);
  g_test_add ("/natter/app/attachments/paste", Fixture, NULL, fixture_set_up, test_paste,
              fixture_tear_down);
  {
    int status = g_test_run ();

    g_signal_connect (test_application, "activate", G_CALLBACK (on_final_activate), NULL);
    g_assert_cmpint (g_application_run (G_APPLICATION (test_application), 0, NULL), ==, 0);
    g_assert_finalize_object (g_steal_pointer (&test_application));
    natter_test_remove_tree (cache_dir);
    return status;
  }
}
