/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int natter_call_media_ring_run (const char *mode_nick, const char *sound_dir);

G_END_DECLS
