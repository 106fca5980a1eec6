/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-account.h"
#include "natter-attachment-transfers.h"
#include "natter-message-item.h"
#include "natter-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_MESSAGE_LIST (natter_message_list_get_type ())
G_DECLARE_FINAL_TYPE (NatterMessageList, natter_message_list, NATTER, MESSAGE_LIST, GObject)

NatterMessageList *
natter_message_list_new (NatterStore *store, NatterAccount *account, gint64 conversation_id);

gint64 natter_message_list_get_conversation_id (NatterMessageList *self);
gboolean natter_message_list_get_has_more (NatterMessageList *self);
gboolean natter_message_list_get_loading (NatterMessageList *self);

void natter_message_list_load_older_async (NatterMessageList *self,
                                           guint limit,
                                           GCancellable *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer user_data);
guint natter_message_list_load_older_finish (NatterMessageList *self,
                                             GAsyncResult *result,
                                             GError **error);

guint natter_message_list_get_position_for_seq (NatterMessageList *self, gint64 seq);
void natter_message_list_set_attachment_transfers (NatterMessageList *self,
                                                   NatterAttachmentTransfers *transfers);

G_END_DECLS
