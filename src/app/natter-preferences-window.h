/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "natter-client.h"
#include "natter-devices.h"

G_BEGIN_DECLS

#define NATTER_TYPE_PREFERENCES_WINDOW (natter_preferences_window_get_type ())
G_DECLARE_FINAL_TYPE (NatterPreferencesWindow,
                      natter_preferences_window,
                      NATTER,
                      PREFERENCES_WINDOW,
                      AdwPreferencesWindow)

NatterPreferencesWindow *natter_preferences_window_new (GtkWindow *parent,
                                                        GSettings *settings,
                                                        const char *account_description);
GSettings *natter_preferences_window_get_settings (NatterPreferencesWindow *self);
void natter_preferences_window_set_client (NatterPreferencesWindow *self, NatterClient *client);
NatterDevices *natter_preferences_window_get_devices (NatterPreferencesWindow *self);
void natter_preferences_window_set_devices (NatterPreferencesWindow *self, NatterDevices *devices);

G_END_DECLS
