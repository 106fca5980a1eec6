/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * NatterRingerMode:
 * @NATTER_RINGER_MODE_NONE: silent
 * @NATTER_RINGER_MODE_INCOMING: the looping ringtone of an incoming call
 * @NATTER_RINGER_MODE_RINGBACK: the caller hears the callee's phone ring
 * @NATTER_RINGER_MODE_BUSY: the callee is busy (plays a few seconds, then stops)
 * @NATTER_RINGER_MODE_SOFT: a second call arrived during a call: quiet beeps
 */
typedef enum {
  NATTER_RINGER_MODE_NONE,
  NATTER_RINGER_MODE_INCOMING,
  NATTER_RINGER_MODE_RINGBACK,
  NATTER_RINGER_MODE_BUSY,
  NATTER_RINGER_MODE_SOFT,
} NatterRingerMode;

#define NATTER_TYPE_RINGER_MODE (natter_ringer_mode_get_type ())
GType natter_ringer_mode_get_type (void);

#define NATTER_TYPE_RINGER (natter_ringer_get_type ())
G_DECLARE_FINAL_TYPE (NatterRinger, natter_ringer, NATTER, RINGER, GObject)

NatterRinger *natter_ringer_new (void);

NatterRingerMode natter_ringer_get_mode (NatterRinger *self);
void natter_ringer_set_mode (NatterRinger *self, NatterRingerMode mode);
gboolean natter_ringer_get_playing (NatterRinger *self);
gboolean natter_ringer_get_synthesized (NatterRinger *self);
const char *natter_ringer_get_sound_dir (NatterRinger *self);
void natter_ringer_set_sound_dir (NatterRinger *self, const char *sound_dir);
guint natter_ringer_get_busy_duration (NatterRinger *self);
void natter_ringer_set_busy_duration (NatterRinger *self, guint milliseconds);

G_END_DECLS
