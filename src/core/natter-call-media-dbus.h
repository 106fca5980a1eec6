/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The control channel between the app and natter-call-media: a private
 * peer-to-peer D-Bus connection over a socketpair, no bus. */
#define NATTER_CALL_MEDIA_DBUS_INTERFACE "org.natter.CallMedia1"
#define NATTER_CALL_MEDIA_DBUS_PATH "/org/natter/CallMedia"

GDBusInterfaceInfo *natter_call_media_dbus_get_interface_info (void);

G_END_DECLS
