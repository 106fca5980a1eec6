/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NATTER_TYPE_CALL_MEDIA_SERVICE (natter_call_media_service_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterCallMediaService, natter_call_media_service, NATTER, CALL_MEDIA_SERVICE, GObject)

NatterCallMediaService *natter_call_media_service_new (GDBusConnection *connection, GError **error);
gboolean natter_call_media_service_get_finished (NatterCallMediaService *self);

G_END_DECLS
