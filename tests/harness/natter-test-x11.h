/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <X11/Xlib.h>
#include <glib.h>

G_BEGIN_DECLS

GArray *natter_test_x11_windows_of (Display *display, GPid pid);
void natter_test_x11_close_window (Display *display, Window window);

G_END_DECLS
