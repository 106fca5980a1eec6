/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

void natter_background_start_without_gl (void);
void natter_background_give_memory_back (void);

G_END_DECLS
