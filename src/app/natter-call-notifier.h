/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-call.h"
#include "natter-client.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CALL_NOTIFIER (natter_call_notifier_get_type ())
G_DECLARE_FINAL_TYPE (NatterCallNotifier, natter_call_notifier, NATTER, CALL_NOTIFIER, GObject)

NatterCallNotifier *natter_call_notifier_new (GtkApplication *application);
void natter_call_notifier_add_client (NatterCallNotifier *self, NatterClient *client);
void natter_call_notifier_remove_client (NatterCallNotifier *self, NatterClient *client);
NatterCall *natter_call_notifier_find_call (NatterCallNotifier *self,
                                            gint64 call_log_id,
                                            NatterClient **out_client);
void natter_call_notifier_present (NatterCallNotifier *self, NatterCall *call);
gboolean natter_call_notifier_has_prompt (NatterCallNotifier *self, NatterCall *call);

G_END_DECLS
