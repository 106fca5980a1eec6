/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-account.h"
#include "natter-attachment-item.h"
#include "natter-connection.h"
#include "natter-store.h"

G_BEGIN_DECLS

/* The download cache's default size limit. */
#define NATTER_DEFAULT_ATTACHMENT_CACHE_BYTES (G_GUINT64_CONSTANT (512) * 1024 * 1024)

#define NATTER_TYPE_ATTACHMENT_TRANSFERS (natter_attachment_transfers_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterAttachmentTransfers, natter_attachment_transfers, NATTER, ATTACHMENT_TRANSFERS, GObject)

NatterAttachmentTransfers *natter_attachment_transfers_new (NatterAccount *account,
                                                            NatterStore *store,
                                                            NatterConnection *connection);

guint64 natter_attachment_transfers_get_cache_limit (NatterAttachmentTransfers *self);
void natter_attachment_transfers_set_cache_limit (NatterAttachmentTransfers *self, guint64 bytes);

NatterAttachmentItem *
natter_attachment_transfers_item_for_attachment (NatterAttachmentTransfers *self,
                                                 const NatterAttachment *attachment);
NatterAttachmentItem *
natter_attachment_transfers_item_for_outbox (NatterAttachmentTransfers *self,
                                             const NatterOutboxEntry *entry,
                                             const NatterOutboxAttachment *attachment);

void natter_attachment_transfers_start_uploads (NatterAttachmentTransfers *self);
gboolean natter_attachment_transfers_cancel_message (NatterAttachmentTransfers *self,
                                                     const char *client_msg_id,
                                                     GError **error);

void natter_attachment_transfers_download_async (NatterAttachmentTransfers *self,
                                                 gint64 attachment_id,
                                                 GCancellable *cancellable,
                                                 GAsyncReadyCallback callback,
                                                 gpointer user_data);
char *natter_attachment_transfers_download_finish (NatterAttachmentTransfers *self,
                                                   GAsyncResult *result,
                                                   GError **error);

G_END_DECLS
