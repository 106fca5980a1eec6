/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean natter_display_open_without_gl (void);
gboolean natter_display_open_for_cairo (void);
gboolean natter_display_user_asked_for_gl (void);

G_END_DECLS
