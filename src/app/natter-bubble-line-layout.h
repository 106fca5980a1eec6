/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define NATTER_TYPE_BUBBLE_LINE_LAYOUT (natter_bubble_line_layout_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterBubbleLineLayout, natter_bubble_line_layout, NATTER, BUBBLE_LINE_LAYOUT, GtkLayoutManager)

GtkLayoutManager *natter_bubble_line_layout_new (void);

G_END_DECLS
