/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

#include "natter-types.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CONVERSATION_ITEM (natter_conversation_item_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterConversationItem, natter_conversation_item, NATTER, CONVERSATION_ITEM, GObject)

NatterConversationItem *natter_conversation_item_new (const NatterConversation *conversation,
                                                      const NatterProfile *own_profile);
void natter_conversation_item_update (NatterConversationItem *self,
                                      const NatterConversation *conversation);

gint64 natter_conversation_item_get_conversation_id (NatterConversationItem *self);
const char *natter_conversation_item_get_title (NatterConversationItem *self);
const NatterProfile *natter_conversation_item_get_peer (NatterConversationItem *self);
const char *natter_conversation_item_get_last_message_text (NatterConversationItem *self);
gint64 natter_conversation_item_get_last_seq (NatterConversationItem *self);
const char *natter_conversation_item_get_updated_at (NatterConversationItem *self);
guint natter_conversation_item_get_unread_count (NatterConversationItem *self);
gint64 natter_conversation_item_get_peer_read_seq (NatterConversationItem *self);
void natter_conversation_item_set_peer_read_seq (NatterConversationItem *self, gint64 seq);

gboolean natter_conversation_item_get_typing (NatterConversationItem *self);
void natter_conversation_item_set_typing (NatterConversationItem *self,
                                          gboolean typing,
                                          guint expire_ms);
gboolean natter_conversation_item_get_peer_online (NatterConversationItem *self);
const char *natter_conversation_item_get_peer_last_seen (NatterConversationItem *self);
void natter_conversation_item_set_presence (NatterConversationItem *self,
                                            gboolean online,
                                            const char *last_seen);

G_END_DECLS
