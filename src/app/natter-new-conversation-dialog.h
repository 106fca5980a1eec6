/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "natter-account.h"

G_BEGIN_DECLS

#define NATTER_TYPE_NEW_CONVERSATION_DIALOG (natter_new_conversation_dialog_get_type ())
G_DECLARE_FINAL_TYPE (NatterNewConversationDialog,
                      natter_new_conversation_dialog,
                      NATTER,
                      NEW_CONVERSATION_DIALOG,
                      AdwWindow)

NatterNewConversationDialog *natter_new_conversation_dialog_new (GtkWindow *parent,
                                                                 NatterAccount *account);
NatterAccount *natter_new_conversation_dialog_get_account (NatterNewConversationDialog *self);
void natter_new_conversation_dialog_set_results (NatterNewConversationDialog *self,
                                                 GPtrArray *profiles);
void natter_new_conversation_dialog_search (NatterNewConversationDialog *self, const char *query);

G_END_DECLS
