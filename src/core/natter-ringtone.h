/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

#include "natter-ringer.h"

G_BEGIN_DECLS

#define NATTER_TYPE_RINGTONE (natter_ringtone_get_type ())
G_DECLARE_FINAL_TYPE (NatterRingtone, natter_ringtone, NATTER, RINGTONE, GObject)

NatterRingtone *natter_ringtone_new (NatterRingerMode mode, const char *sound_dir);

gboolean natter_ringtone_start (NatterRingtone *self);
gboolean natter_ringtone_get_playing (NatterRingtone *self);
gboolean natter_ringtone_get_failed (NatterRingtone *self);

char *natter_ringtone_find_sound (NatterRingerMode mode, const char *sound_dir);

G_END_DECLS
