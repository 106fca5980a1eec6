/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-conversation-item.h"
#include "natter-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CONVERSATION_LIST (natter_conversation_list_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterConversationList, natter_conversation_list, NATTER, CONVERSATION_LIST, GObject)

NatterConversationList *natter_conversation_list_new (NatterStore *store);

NatterStore *natter_conversation_list_get_store (NatterConversationList *self);
NatterConversationItem *natter_conversation_list_lookup (NatterConversationList *self,
                                                         gint64 conversation_id);
NatterConversationItem *natter_conversation_list_find_by_peer (NatterConversationList *self,
                                                               const NatterProfile *peer);
void natter_conversation_list_set_presence (NatterConversationList *self,
                                            const NatterProfile *profile,
                                            gboolean online,
                                            const char *last_seen);
void natter_conversation_list_begin_presence_refresh (NatterConversationList *self);
void natter_conversation_list_end_presence_refresh (NatterConversationList *self);

G_END_DECLS
