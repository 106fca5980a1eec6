/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-account.h"
#include "natter-call.h"
#include "natter-connection.h"
#include "natter-devices.h"
#include "natter-ringer.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CALL_MANAGER (natter_call_manager_get_type ())
G_DECLARE_FINAL_TYPE (NatterCallManager, natter_call_manager, NATTER, CALL_MANAGER, GObject)

NatterCallManager *natter_call_manager_new (NatterConnection *connection, NatterAccount *account);

NatterConnection *natter_call_manager_get_connection (NatterCallManager *self);
GListModel *natter_call_manager_get_calls (NatterCallManager *self);
NatterCall *natter_call_manager_get_active_call (NatterCallManager *self);
NatterRinger *natter_call_manager_get_ringer (NatterCallManager *self);
NatterDevices *natter_call_manager_get_devices (NatterCallManager *self);
void natter_call_manager_set_devices (NatterCallManager *self, NatterDevices *devices);
GPtrArray *natter_call_manager_get_ice_servers (NatterCallManager *self);

NatterCall *natter_call_manager_start_call (NatterCallManager *self,
                                            const NatterProfile *peer,
                                            const char *call_type,
                                            gint64 conversation_id,
                                            GError **error);
gboolean natter_call_manager_end_active_and_accept (NatterCallManager *self,
                                                    NatterCall *call,
                                                    gboolean with_video);
NatterCall *natter_call_manager_find_call (NatterCallManager *self, gint64 call_log_id);

G_END_DECLS
