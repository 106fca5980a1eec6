/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* At most this many attachments go with one message (PROTOCOL.md 1.1). */
#define NATTER_ATTACHMENT_TRAY_MAX_FILES 10

/* GFileInfo attributes of a pending attachment, besides standard::*. */
#define NATTER_ATTACHMENT_ATTRIBUTE_FILE "natter::file"
#define NATTER_ATTACHMENT_ATTRIBUTE_WIDTH "natter::width"
#define NATTER_ATTACHMENT_ATTRIBUTE_HEIGHT "natter::height"

#define NATTER_TYPE_ATTACHMENT_TRAY (natter_attachment_tray_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterAttachmentTray, natter_attachment_tray, NATTER, ATTACHMENT_TRAY, GtkWidget)

GtkWidget *natter_attachment_tray_new (void);
GListModel *natter_attachment_tray_get_attachments (NatterAttachmentTray *self);
guint64 natter_attachment_tray_get_max_file_size (NatterAttachmentTray *self);
void natter_attachment_tray_set_max_file_size (NatterAttachmentTray *self, guint64 max_file_size);
gboolean natter_attachment_tray_add_file (NatterAttachmentTray *self, GFile *file, GError **error);
void natter_attachment_tray_add_texture_async (NatterAttachmentTray *self,
                                               GdkTexture *texture,
                                               GCancellable *cancellable,
                                               GAsyncReadyCallback callback,
                                               gpointer user_data);
gboolean natter_attachment_tray_add_texture_finish (NatterAttachmentTray *self,
                                                    GAsyncResult *result,
                                                    GError **error);
gboolean natter_attachment_tray_paste (NatterAttachmentTray *self, GdkClipboard *clipboard);
void natter_attachment_tray_choose_files (NatterAttachmentTray *self);
GtkEventController *natter_attachment_tray_create_drop_target (NatterAttachmentTray *self);
void natter_attachment_tray_remove (NatterAttachmentTray *self, guint position);
void natter_attachment_tray_clear (NatterAttachmentTray *self);

G_END_DECLS
