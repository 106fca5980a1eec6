/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

gboolean natter_settings_get_conversation_muted (GSettings *settings,
                                                 const char *server_url,
                                                 gint64 conversation_id);
void natter_settings_set_conversation_muted (GSettings *settings,
                                             const char *server_url,
                                             gint64 conversation_id,
                                             gboolean muted);

G_END_DECLS
