/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-media-ring"

#include "config.h"

#include <stdio.h>

#include <gio/gunixinputstream.h>

#include "natter-call-media-ring.h"
#include "natter-ringtone.h"

/* natter-call-media --ring MODE: plays one #NatterRingtone for the app's
 * NatterRingtoneProcess (issue 20), reports on stdout a word a line
 * ("playing", "paused", "failed") and exits when stdin closes. */

static void
report (const char *word)
{
  g_print ("%s\n", word);
  fflush (stdout);
}

static void
on_playing (NatterRingtone *ringtone, GParamSpec *pspec, gpointer user_data)
{
  report (natter_ringtone_get_playing (ringtone) ? "playing" : "paused");
}

static void
on_failed (NatterRingtone *ringtone, GParamSpec *pspec, GMainLoop *loop)
{
  report ("failed");
  g_main_loop_quit (loop);
}

/* The app closed our stdin: it stopped the ringtone, or it is gone. */
static void
on_stdin_closed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_input_stream_skip_finish (G_INPUT_STREAM (source), result, NULL);
  g_main_loop_quit (user_data);
}

/**
 * natter_call_media_ring_run:
 * @mode_nick: a #NatterRingerMode's nick ("incoming", "busy", …)
 * @sound_dir: where the theme's `phone-*.oga` files are
 *
 * Returns: the exit status
 */
int
natter_call_media_ring_run (const char *mode_nick, const char *sound_dir)
{
  g_autoptr (GEnumClass) modes = g_type_class_ref (NATTER_TYPE_RINGER_MODE);
  GEnumValue *mode = g_enum_get_value_by_nick (modes, mode_nick);
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr (GInputStream) input = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  g_autoptr (NatterRingtone) ringtone = NULL;

  if (mode == NULL || mode->value == NATTER_RINGER_MODE_NONE) {
    g_printerr ("natter-call-media: no ringtone called %s\n", mode_nick);
    return 2;
  }
  ringtone = natter_ringtone_new (mode->value, sound_dir);
  g_signal_connect (ringtone, "notify::playing", G_CALLBACK (on_playing), NULL);
  g_signal_connect (ringtone, "notify::failed", G_CALLBACK (on_failed), loop);
  /* A skip that ends only at end of file. */
  g_input_stream_skip_async (input, G_MAXSSIZE, G_PRIORITY_DEFAULT, NULL, on_stdin_closed, loop);
  if (!natter_ringtone_start (ringtone)) {
    report ("failed");
    return 1;
  }
  g_main_loop_run (loop);
  return natter_ringtone_get_failed (ringtone) ? 1 : 0;
}
