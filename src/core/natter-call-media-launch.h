/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NATTER_TYPE_CALL_MEDIA_LAUNCH (natter_call_media_launch_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterCallMediaLaunch, natter_call_media_launch, NATTER, CALL_MEDIA_LAUNCH, GObject)

NatterCallMediaLaunch *natter_call_media_launch_new (const char *helper_path, GError **error);

gboolean natter_call_media_launch_get_done (NatterCallMediaLaunch *self);
GDBusConnection *natter_call_media_launch_get_connection (NatterCallMediaLaunch *self);
const GError *natter_call_media_launch_get_error (NatterCallMediaLaunch *self);
GSubprocess *natter_call_media_launch_get_helper (NatterCallMediaLaunch *self);
void natter_call_media_launch_cancel (NatterCallMediaLaunch *self);

G_END_DECLS
