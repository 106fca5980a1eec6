/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-attachment-item.h"

#include "natter-store.h"
#include "natter-types.h"

G_BEGIN_DECLS

/**
 * NatterMessageState:
 * @NATTER_MESSAGE_STATE_SENT: stored by the server
 * @NATTER_MESSAGE_STATE_PENDING: in the outbox, waiting for its ack
 * @NATTER_MESSAGE_STATE_FAILED: refused for good; can be retried
 */
typedef enum {
  NATTER_MESSAGE_STATE_SENT,
  NATTER_MESSAGE_STATE_PENDING,
  NATTER_MESSAGE_STATE_FAILED,
} NatterMessageState;

#define NATTER_TYPE_MESSAGE_STATE (natter_message_state_get_type ())
GType natter_message_state_get_type (void);

#define NATTER_TYPE_MESSAGE_ITEM (natter_message_item_get_type ())
G_DECLARE_FINAL_TYPE (NatterMessageItem, natter_message_item, NATTER, MESSAGE_ITEM, GObject)

NatterMessageItem *natter_message_item_new (const NatterMessage *message, gboolean outgoing);
NatterMessageItem *natter_message_item_new_from_outbox (const NatterOutboxEntry *entry,
                                                        const NatterProfile *own_profile);
NatterMessageItem *natter_message_item_new_from_call (const NatterCallLog *call,
                                                      const NatterProfile *own_profile);
const NatterCallLog *natter_message_item_get_call (NatterMessageItem *self);

gint64 natter_message_item_get_message_id (NatterMessageItem *self);
gint64 natter_message_item_get_conversation_id (NatterMessageItem *self);
gint64 natter_message_item_get_seq (NatterMessageItem *self);
const NatterProfile *natter_message_item_get_sender (NatterMessageItem *self);
const char *natter_message_item_get_sender_name (NatterMessageItem *self);
const char *natter_message_item_get_text (NatterMessageItem *self);
const char *natter_message_item_get_sent_at (NatterMessageItem *self);
const char *natter_message_item_get_client_msg_id (NatterMessageItem *self);
gboolean natter_message_item_get_outgoing (NatterMessageItem *self);
NatterMessageState natter_message_item_get_state (NatterMessageItem *self);
const char *natter_message_item_get_error_message (NatterMessageItem *self);
GListModel *natter_message_item_get_attachments (NatterMessageItem *self);
void natter_message_item_add_attachment (NatterMessageItem *self, NatterAttachmentItem *attachment);

G_END_DECLS
