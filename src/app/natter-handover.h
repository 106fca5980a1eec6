/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean natter_handover_possible (void);
guint natter_handover_get_delay_ms (void);
void natter_handover_exec (const char *argv0, const char *server_url);

G_END_DECLS
