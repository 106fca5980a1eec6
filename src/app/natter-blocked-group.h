/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "natter-client.h"

G_BEGIN_DECLS

#define NATTER_TYPE_BLOCKED_GROUP (natter_blocked_group_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterBlockedGroup, natter_blocked_group, NATTER, BLOCKED_GROUP, AdwPreferencesGroup)

GtkWidget *natter_blocked_group_new (void);
NatterClient *natter_blocked_group_get_client (NatterBlockedGroup *self);
void natter_blocked_group_set_client (NatterBlockedGroup *self, NatterClient *client);
/* The blocked profiles shown, once the list arrived. */
guint natter_blocked_group_get_n_blocked (NatterBlockedGroup *self);
gboolean natter_blocked_group_get_loaded (NatterBlockedGroup *self);

G_END_DECLS
