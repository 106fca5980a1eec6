/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-ringer.h"

G_BEGIN_DECLS

#define NATTER_TYPE_RINGTONE_PROCESS (natter_ringtone_process_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterRingtoneProcess, natter_ringtone_process, NATTER, RINGTONE_PROCESS, GObject)

NatterRingtoneProcess *
natter_ringtone_process_new (const char *helper_path, NatterRingerMode mode, const char *sound_dir);

gboolean natter_ringtone_process_start (NatterRingtoneProcess *self, GError **error);
gboolean natter_ringtone_process_get_playing (NatterRingtoneProcess *self);
gboolean natter_ringtone_process_get_failed (NatterRingtoneProcess *self);

G_END_DECLS
