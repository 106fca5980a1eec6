/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void natter_test_log_allow_gst_sort_warning (void);

G_END_DECLS
