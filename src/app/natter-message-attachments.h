/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define NATTER_TYPE_MESSAGE_ATTACHMENTS (natter_message_attachments_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterMessageAttachments, natter_message_attachments, NATTER, MESSAGE_ATTACHMENTS, GtkWidget)

GtkWidget *natter_message_attachments_new (void);
GListModel *natter_message_attachments_get_model (NatterMessageAttachments *self);
void natter_message_attachments_set_model (NatterMessageAttachments *self, GListModel *model);
gboolean natter_message_attachments_text_is_names (GListModel *model, const char *text);

G_END_DECLS
