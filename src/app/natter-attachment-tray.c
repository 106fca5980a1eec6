/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-attachment-tray"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-attachment-tray.h"

/* The files waiting above the composer to go with the next message, as
 * chips with a remove button. Files come from the attach button (a native
 * file chooser, so Flatpak's portal is used), from a drop onto the chat and
 * from a pasted image, which is written to a PNG in the cache folder
 * first. Each file is described once, when added: its name, type and size,
 * and for an image the width and height the receiver needs to keep the
 * room for it before the image arrives. */

/* PROTOCOL.md 1.1: an attachment is at most 25 MiB. */
#define DEFAULT_MAX_FILE_SIZE (25 * 1024 * 1024)

enum { PROP_0, PROP_N_ATTACHMENTS, PROP_MAX_FILE_SIZE, N_PROPS };

static GParamSpec *properties[N_PROPS];

enum { SIGNAL_REFUSED, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterAttachmentTray {
  GtkWidget parent_instance;

  GListStore *attachments; /* GFileInfo */
  guint64 max_file_size;
  GCancellable *cancellable;

  GtkWidget *flow_box;
};

G_DEFINE_FINAL_TYPE (NatterAttachmentTray, natter_attachment_tray, GTK_TYPE_WIDGET)

static void
refuse (NatterAttachmentTray *self, const GError *error)
{
  g_signal_emit (self, signals[SIGNAL_REFUSED], 0, error->message);
}

static void
on_remove_clicked (GtkButton *button, NatterAttachmentTray *self)
{
  GFileInfo *info = g_object_get_data (G_OBJECT (button), "natter-attachment");
  guint position;

  if (g_list_store_find (self->attachments, info, &position))
    natter_attachment_tray_remove (self, position);
}

static GtkWidget *
create_chip (gpointer item, gpointer user_data)
{
  NatterAttachmentTray *self = user_data;
  GFileInfo *info = item;
  g_autofree char *size = g_format_size (g_file_info_get_size (info));
  g_autofree char *remove_label =
    g_strdup_printf (_ ("Remove %s"), g_file_info_get_display_name (info));
  GtkWidget *chip = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *icon = gtk_image_new_from_gicon (g_file_info_get_symbolic_icon (info));
  GtkWidget *name = gtk_label_new (g_file_info_get_display_name (info));
  GtkWidget *size_label = gtk_label_new (size);
  GtkWidget *remove = gtk_button_new_from_icon_name ("window-close-symbolic");

  gtk_widget_add_css_class (chip, "attachment-chip");
  gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_max_width_chars (GTK_LABEL (name), 24);
  gtk_widget_add_css_class (size_label, "dim-label");
  gtk_widget_add_css_class (size_label, "caption");
  gtk_widget_add_css_class (remove, "flat");
  gtk_widget_add_css_class (remove, "circular");
  gtk_widget_set_tooltip_text (remove, remove_label);
  gtk_accessible_update_property (GTK_ACCESSIBLE (remove), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  remove_label, -1);
  g_object_set_data_full (G_OBJECT (remove), "natter-attachment", g_object_ref (info),
                          g_object_unref);
  g_signal_connect_object (remove, "clicked", G_CALLBACK (on_remove_clicked), self, 0);

  gtk_box_append (GTK_BOX (chip), icon);
  gtk_box_append (GTK_BOX (chip), name);
  gtk_box_append (GTK_BOX (chip), size_label);
  gtk_box_append (GTK_BOX (chip), remove);

  return chip;
}

static void
on_items_changed (NatterAttachmentTray *self)
{
  gtk_widget_set_visible (GTK_WIDGET (self),
                          g_list_model_get_n_items (G_LIST_MODEL (self->attachments)) > 0);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ATTACHMENTS]);
}

/* The folder a pasted image is written to: removed with the cache, never
 * with the user's files. */
static char *
pasted_image_path (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "natter", "pasted", NULL);
  g_autofree char *stamp = g_date_time_format (now, "%Y-%m-%d %H.%M.%S");

  g_mkdir_with_parents (dir, 0700);
  for (guint i = 1;; i++) {
    g_autofree char *suffix = i == 1 ? g_strdup (stamp) : g_strdup_printf ("%s (%u)", stamp, i);
    /* Translators: the file name of an image pasted into a message; %s is the date and time */
    g_autofree char *name = g_strdup_printf (_ ("Pasted image %s.png"), suffix);
    g_autofree char *path = g_build_filename (dir, name, NULL);

    if (!g_file_test (path, G_FILE_TEST_EXISTS) || i >= 1000)
      return g_steal_pointer (&path);
  }
}

static void
save_texture_thread (GTask *task,
                     gpointer source_object,
                     gpointer task_data,
                     GCancellable *cancellable)
{
  GdkTexture *texture = task_data;
  g_autoptr (GBytes) png = gdk_texture_save_to_png_bytes (texture);
  g_autofree char *path = pasted_image_path ();
  GError *error = NULL;

  if (!g_file_set_contents_full (path, g_bytes_get_data (png, NULL), g_bytes_get_size (png),
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error)) {
    g_task_return_error (task, error);
    return;
  }

  g_task_return_pointer (task, g_file_new_for_path (path), g_object_unref);
}

static void
on_texture_saved (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  NatterAttachmentTray *self = g_task_get_source_object (task);
  g_autoptr (GFile) file = NULL;
  GError *error = NULL;

  file = g_task_propagate_pointer (G_TASK (result), &error);
  if (file == NULL || !natter_attachment_tray_add_file (self, file, &error)) {
    g_task_return_error (task, error);
    return;
  }

  g_task_return_boolean (task, TRUE);
}

static void
on_pasted_texture_added (GObject *source, GAsyncResult *result, gpointer user_data)
{
  NatterAttachmentTray *self = NATTER_ATTACHMENT_TRAY (source);
  g_autoptr (GError) error = NULL;

  if (!natter_attachment_tray_add_texture_finish (self, result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    refuse (self, error);
}

static void
add_files (NatterAttachmentTray *self, GSList *files)
{
  for (GSList *l = files; l != NULL; l = l->next) {
    g_autoptr (GError) error = NULL;

    if (!natter_attachment_tray_add_file (self, l->data, &error)) {
      refuse (self, error);
      break;
    }
  }
}

static void
on_clipboard_texture (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterAttachmentTray) self = user_data;
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GError) error = NULL;

  texture = gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (source), result, &error);
  if (texture == NULL) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      refuse (self, error);
    return;
  }

  natter_attachment_tray_add_texture_async (self, texture, self->cancellable,
                                            on_pasted_texture_added, NULL);
}

static void
on_clipboard_files (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterAttachmentTray) self = user_data;
  g_autoptr (GError) error = NULL;
  const GValue *value;
  GSList *files;

  value = gdk_clipboard_read_value_finish (GDK_CLIPBOARD (source), result, &error);
  if (value == NULL) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      refuse (self, error);
    return;
  }

  files = gdk_file_list_get_files (g_value_get_boxed (value));
  add_files (self, files);
  g_slist_free (files);
}

static gboolean
on_drop (GtkDropTarget *target, const GValue *value, double x, double y, NatterAttachmentTray *self)
{
  GSList *files;

  if (!G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;

  files = gdk_file_list_get_files (g_value_get_boxed (value));
  add_files (self, files);
  g_slist_free (files);

  return TRUE;
}

static void
on_files_chosen (GtkNativeDialog *chooser, int response, NatterAttachmentTray *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr (GListModel) files = gtk_file_chooser_get_files (GTK_FILE_CHOOSER (chooser));

    for (guint i = 0; i < g_list_model_get_n_items (files); i++) {
      g_autoptr (GFile) file = g_list_model_get_item (files, i);
      g_autoptr (GError) error = NULL;

      if (!natter_attachment_tray_add_file (self, file, &error)) {
        refuse (self, error);
        break;
      }
    }
  }

  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
}

static void
natter_attachment_tray_get_property (GObject *object,
                                     guint prop_id,
                                     GValue *value,
                                     GParamSpec *pspec)
{
  NatterAttachmentTray *self = NATTER_ATTACHMENT_TRAY (object);

  switch (prop_id) {
    case PROP_N_ATTACHMENTS:
      g_value_set_uint (value, g_list_model_get_n_items (G_LIST_MODEL (self->attachments)));
      break;
    case PROP_MAX_FILE_SIZE:
      g_value_set_uint64 (value, self->max_file_size);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_attachment_tray_set_property (GObject *object,
                                     guint prop_id,
                                     const GValue *value,
                                     GParamSpec *pspec)
{
  NatterAttachmentTray *self = NATTER_ATTACHMENT_TRAY (object);

  switch (prop_id) {
    case PROP_MAX_FILE_SIZE:
      natter_attachment_tray_set_max_file_size (self, g_value_get_uint64 (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_attachment_tray_dispose (GObject *object)
{
  NatterAttachmentTray *self = NATTER_ATTACHMENT_TRAY (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->flow_box, gtk_widget_unparent);
  g_clear_object (&self->attachments);

  G_OBJECT_CLASS (natter_attachment_tray_parent_class)->dispose (object);
}

static void
natter_attachment_tray_class_init (NatterAttachmentTrayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_attachment_tray_get_property;
  object_class->set_property = natter_attachment_tray_set_property;
  object_class->dispose = natter_attachment_tray_dispose;

  properties[PROP_N_ATTACHMENTS] =
    g_param_spec_uint ("n-attachments", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MAX_FILE_SIZE] =
    g_param_spec_uint64 ("max-file-size", NULL, NULL, 1, G_MAXUINT64, DEFAULT_MAX_FILE_SIZE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterAttachmentTray::refused:
   * @message: why, in a sentence for people
   *
   * A dropped, pasted or chosen file could not be attached.
   */
  signals[SIGNAL_REFUSED] = g_signal_new ("refused", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "natter-attachment-tray");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
natter_attachment_tray_init (NatterAttachmentTray *self)
{
  self->attachments = g_list_store_new (G_TYPE_FILE_INFO);
  self->max_file_size = DEFAULT_MAX_FILE_SIZE;
  self->cancellable = g_cancellable_new ();

  self->flow_box = gtk_flow_box_new ();
  gtk_flow_box_set_selection_mode (GTK_FLOW_BOX (self->flow_box), GTK_SELECTION_NONE);
  gtk_widget_set_halign (self->flow_box, GTK_ALIGN_START);
  gtk_flow_box_set_max_children_per_line (GTK_FLOW_BOX (self->flow_box),
                                          NATTER_ATTACHMENT_TRAY_MAX_FILES);
  gtk_flow_box_set_column_spacing (GTK_FLOW_BOX (self->flow_box), 6);
  gtk_flow_box_set_row_spacing (GTK_FLOW_BOX (self->flow_box), 6);
  gtk_flow_box_bind_model (GTK_FLOW_BOX (self->flow_box), G_LIST_MODEL (self->attachments),
                           create_chip, self, NULL);
  gtk_widget_set_parent (self->flow_box, GTK_WIDGET (self));

  g_signal_connect_object (self->attachments, "items-changed", G_CALLBACK (on_items_changed), self,
                           G_CONNECT_SWAPPED);
  gtk_widget_set_visible (GTK_WIDGET (self), FALSE);
}

/**
 * natter_attachment_tray_new:
 *
 * Returns: (transfer floating): a new, empty tray
 */
GtkWidget *
natter_attachment_tray_new (void)
{
  return g_object_new (NATTER_TYPE_ATTACHMENT_TRAY, NULL);
}

/**
 * natter_attachment_tray_get_attachments:
 * @self: a #NatterAttachmentTray
 *
 * Each item is a #GFileInfo with the standard display name, content type
 * and size, the #GFile as %NATTER_ATTACHMENT_ATTRIBUTE_FILE and, for an
 * image, %NATTER_ATTACHMENT_ATTRIBUTE_WIDTH and _HEIGHT.
 *
 * Returns: (transfer none): the files waiting to be sent
 */
GListModel *
natter_attachment_tray_get_attachments (NatterAttachmentTray *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_TRAY (self), NULL);

  return G_LIST_MODEL (self->attachments);
}

guint64
natter_attachment_tray_get_max_file_size (NatterAttachmentTray *self)
{
  g_return_val_if_fail (NATTER_IS_ATTACHMENT_TRAY (self), 0);

  return self->max_file_size;
}

/**
 * natter_attachment_tray_set_max_file_size:
 * @self: a #NatterAttachmentTray
 * @max_file_size: the largest file accepted, in bytes
 */
void
natter_attachment_tray_set_max_file_size (NatterAttachmentTray *self, guint64 max_file_size)
{
  g_return_if_fail (NATTER_IS_ATTACHMENT_TRAY (self));
  g_return_if_fail (max_file_size > 0);

  if (self->max_file_size == max_file_size)
    return;

  self->max_file_size = max_file_size;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_FILE_SIZE]);
}

/**
 * natter_attachment_tray_add_file:
 * @self: a #NatterAttachmentTray
 * @file: a local file
 * @error: return location for an error
 *
 * Adds @file to the next message: refused when it cannot be read, is not
 * a regular file, is larger than #NatterAttachmentTray:max-file-size, or
 * when the message already has the most attachments it can carry.
 *
 * Returns: %TRUE if @file was added
 */
gboolean
natter_attachment_tray_add_file (NatterAttachmentTray *self, GFile *file, GError **error)
{
  g_autoptr (GFileInfo) info = NULL;
  g_autofree char *path = NULL;
  g_autofree char *limit = NULL;
  const char *content_type;
  int width = 0, height = 0;

  g_return_val_if_fail (NATTER_IS_ATTACHMENT_TRAY (self), FALSE);
  g_return_val_if_fail (G_IS_FILE (file), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (g_list_model_get_n_items (G_LIST_MODEL (self->attachments)) >=
      NATTER_ATTACHMENT_TRAY_MAX_FILES) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                 g_dngettext (GETTEXT_PACKAGE, "A message can carry at most %d file",
                              "A message can carry at most %d files",
                              NATTER_ATTACHMENT_TRAY_MAX_FILES),
                 NATTER_ATTACHMENT_TRAY_MAX_FILES);
    return FALSE;
  }

  path = g_file_get_path (file);
  info = g_file_query_info (file,
                            G_FILE_ATTRIBUTE_STANDARD_DISPLAY_NAME
                            "," G_FILE_ATTRIBUTE_STANDARD_CONTENT_TYPE
                            "," G_FILE_ATTRIBUTE_STANDARD_SIZE "," G_FILE_ATTRIBUTE_STANDARD_TYPE
                            "," G_FILE_ATTRIBUTE_STANDARD_SYMBOLIC_ICON,
                            G_FILE_QUERY_INFO_NONE, NULL, error);
  if (info == NULL)
    return FALSE;

  if (path == NULL || g_file_info_get_file_type (info) != G_FILE_TYPE_REGULAR) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE, _ ("“%s” is not a file"),
                 g_file_info_get_display_name (info));
    return FALSE;
  }

  limit = g_format_size (self->max_file_size);
  if ((guint64) g_file_info_get_size (info) > self->max_file_size) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                 _ ("“%s” is larger than %s, the most a message can carry"),
                 g_file_info_get_display_name (info), limit);
    return FALSE;
  }

  /* Only the header is read: the receiver keeps this much room. */
  content_type = g_file_info_get_content_type (info);
  if (content_type != NULL && g_content_type_is_mime_type (content_type, "image/*") &&
      gdk_pixbuf_get_file_info (path, &width, &height) != NULL && width > 0 && height > 0) {
    g_file_info_set_attribute_int32 (info, NATTER_ATTACHMENT_ATTRIBUTE_WIDTH, width);
    g_file_info_set_attribute_int32 (info, NATTER_ATTACHMENT_ATTRIBUTE_HEIGHT, height);
  }
  g_file_info_set_attribute_object (info, NATTER_ATTACHMENT_ATTRIBUTE_FILE, G_OBJECT (file));

  g_list_store_append (self->attachments, info);

  return TRUE;
}

/**
 * natter_attachment_tray_add_texture_async:
 * @self: a #NatterAttachmentTray
 * @texture: an image, such as one pasted from the clipboard
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the image is written and added
 * @user_data: data for @callback
 *
 * Writes @texture to a PNG in the cache folder (on a worker thread) and
 * adds that file.
 */
void
natter_attachment_tray_add_texture_async (NatterAttachmentTray *self,
                                          GdkTexture *texture,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback,
                                          gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GTask) worker = NULL;

  g_return_if_fail (NATTER_IS_ATTACHMENT_TRAY (self));
  g_return_if_fail (GDK_IS_TEXTURE (texture));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_attachment_tray_add_texture_async);

  worker = g_task_new (NULL, cancellable, on_texture_saved, g_steal_pointer (&task));
  g_task_set_task_data (worker, g_object_ref (texture), g_object_unref);
  g_task_run_in_thread (worker, save_texture_thread);
}

gboolean
natter_attachment_tray_add_texture_finish (NatterAttachmentTray *self,
                                           GAsyncResult *result,
                                           GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_attachment_tray_paste:
 * @self: a #NatterAttachmentTray
 * @clipboard: the clipboard being pasted
 *
 * Attaches what @clipboard holds if it is an image or files and no text
 * (copying in a browser offers both; then the text is what is meant).
 *
 * Returns: %TRUE if the clipboard is being attached, so the caller does
 *   not paste it as text too
 */
gboolean
natter_attachment_tray_paste (NatterAttachmentTray *self, GdkClipboard *clipboard)
{
  GdkContentFormats *formats;

  g_return_val_if_fail (NATTER_IS_ATTACHMENT_TRAY (self), FALSE);
  g_return_val_if_fail (GDK_IS_CLIPBOARD (clipboard), FALSE);

  formats = gdk_clipboard_get_formats (clipboard);
  if (gdk_content_formats_contain_gtype (formats, GDK_TYPE_FILE_LIST)) {
    gdk_clipboard_read_value_async (clipboard, GDK_TYPE_FILE_LIST, G_PRIORITY_DEFAULT,
                                    self->cancellable, on_clipboard_files, g_object_ref (self));
    return TRUE;
  }

  if (gdk_content_formats_contain_gtype (formats, G_TYPE_STRING))
    return FALSE;

  if (gdk_content_formats_contain_gtype (formats, GDK_TYPE_TEXTURE)) {
    gdk_clipboard_read_texture_async (clipboard, self->cancellable, on_clipboard_texture,
                                      g_object_ref (self));
    return TRUE;
  }

  return FALSE;
}

/**
 * natter_attachment_tray_choose_files:
 * @self: a #NatterAttachmentTray
 *
 * Asks for files to attach with the native file chooser (the portal's in
 * Flatpak).
 */
void
natter_attachment_tray_choose_files (NatterAttachmentTray *self)
{
  GtkRoot *root;
  GtkFileChooserNative *chooser;

  g_return_if_fail (NATTER_IS_ATTACHMENT_TRAY (self));

  root = gtk_widget_get_root (GTK_WIDGET (self));
  chooser = gtk_file_chooser_native_new (_ ("Attach Files"),
                                         GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                         GTK_FILE_CHOOSER_ACTION_OPEN, _ ("_Attach"), NULL);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (chooser), TRUE);
  g_signal_connect_object (chooser, "response", G_CALLBACK (on_files_chosen), self, 0);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

/**
 * natter_attachment_tray_create_drop_target:
 * @self: a #NatterAttachmentTray
 *
 * Returns: (transfer full): a drop target that attaches files dropped on
 *   the widget it is added to
 */
GtkEventController *
natter_attachment_tray_create_drop_target (NatterAttachmentTray *self)
{
  GtkDropTarget *target;

  g_return_val_if_fail (NATTER_IS_ATTACHMENT_TRAY (self), NULL);

  target = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect_object (target, "drop", G_CALLBACK (on_drop), self, 0);

  return GTK_EVENT_CONTROLLER (target);
}

/**
 * natter_attachment_tray_remove:
 * @self: a #NatterAttachmentTray
 * @position: which attachment
 */
void
natter_attachment_tray_remove (NatterAttachmentTray *self, guint position)
{
  g_return_if_fail (NATTER_IS_ATTACHMENT_TRAY (self));
  g_return_if_fail (position < g_list_model_get_n_items (G_LIST_MODEL (self->attachments)));

  g_list_store_remove (self->attachments, position);
}

/**
 * natter_attachment_tray_clear:
 * @self: a #NatterAttachmentTray
 *
 * Empties the tray, as when its files were sent.
 */
void
natter_attachment_tray_clear (NatterAttachmentTray *self)
{
  g_return_if_fail (NATTER_IS_ATTACHMENT_TRAY (self));

  g_list_store_remove_all (self->attachments);
}
