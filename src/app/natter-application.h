/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "natter-call-notifier.h"
#include "natter-client.h"

G_BEGIN_DECLS

#define NATTER_TYPE_APPLICATION (natter_application_get_type ())
G_DECLARE_FINAL_TYPE (NatterApplication, natter_application, NATTER, APPLICATION, AdwApplication)

NatterApplication *natter_application_new (void);
NatterClient *natter_application_get_client (NatterApplication *self);
GSettings *natter_application_get_settings (NatterApplication *self);
GtkWindow *natter_application_get_main_window (NatterApplication *self);
NatterCallNotifier *natter_application_get_call_notifier (NatterApplication *self);
void natter_application_set_call_active (NatterApplication *self, gboolean active);
NatterClient *natter_application_get_profile_client (NatterApplication *self,
                                                     const NatterProfile *profile);
gboolean natter_application_get_conversation_muted (NatterApplication *self,
                                                    gint64 conversation_id);

void natter_application_enable_handover (NatterApplication *self);
gboolean natter_application_get_handover_requested (NatterApplication *self);
const char *natter_application_get_server_url_option (NatterApplication *self);

G_END_DECLS
