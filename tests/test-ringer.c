/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ringer"

#include "config.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <unistd.h>
#include <gst/gst.h>

#include "natter-call-media-proxy.h"
#include "natter-ringer.h"
#include "natter-test-processes.h"

/* The ringer on its own: every mode, the theme sounds and the synthesized
 * fallback, looping, the busy tone ending by itself, and stopping at once.
 * The sound goes to a fakesink that keeps real time. */

#define THEME_DIR "/usr/share/sounds/freedesktop/stereo"
#define WAIT_MS 10000

typedef gboolean (*Condition) (NatterRinger *ringer);

static gboolean
deadline_reached (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
iterate_until (NatterRinger *ringer, Condition condition, guint timeout_ms)
{
  gboolean reached = FALSE;
  guint id = g_timeout_add (timeout_ms, deadline_reached, &reached);

  while (!condition (ringer) && !reached)
    g_main_context_iteration (NULL, TRUE);
  if (!reached)
    g_source_remove (id);
  return condition (ringer);
}

/* Runs the main context for @ms whatever happens. */
static void
iterate_for (guint ms)
{
  gboolean reached = FALSE;

  g_timeout_add (ms, deadline_reached, &reached);
  while (!reached)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
is_playing (NatterRinger *ringer)
{
  return natter_ringer_get_playing (ringer);
}

static gboolean
is_silent (NatterRinger *ringer)
{
  return natter_ringer_get_mode (ringer) == NATTER_RINGER_MODE_NONE &&
         !natter_ringer_get_playing (ringer);
}

static void
count_notify (GObject *object, GParamSpec *pspec, guint *count)
{
  (*count)++;
}

static gboolean
theme_installed (void)
{
  return g_file_test (THEME_DIR "/phone-incoming-call.oga", G_FILE_TEST_IS_REGULAR) &&
         g_file_test (THEME_DIR "/phone-outgoing-calling.oga", G_FILE_TEST_IS_REGULAR) &&
         g_file_test (THEME_DIR "/phone-outgoing-busy.oga", G_FILE_TEST_IS_REGULAR);
}

static void
test_synthesized_modes (void)
{
  g_autoptr (NatterRinger) ringer = natter_ringer_new ();
  const NatterRingerMode modes[] = { NATTER_RINGER_MODE_INCOMING, NATTER_RINGER_MODE_RINGBACK,
                                     NATTER_RINGER_MODE_BUSY, NATTER_RINGER_MODE_SOFT };
  guint mode_notifies = 0;

  natter_ringer_set_sound_dir (ringer, "/nonexistent");
  g_signal_connect (ringer, "notify::mode", G_CALLBACK (count_notify), &mode_notifies);
  g_assert_cmpint (natter_ringer_get_mode (ringer), ==, NATTER_RINGER_MODE_NONE);
  g_assert_false (natter_ringer_get_playing (ringer));

  for (guint i = 0; i < G_N_ELEMENTS (modes); i++) {
    gint64 started = g_get_monotonic_time ();

    natter_ringer_set_mode (ringer, modes[i]);
    g_assert_cmpint (natter_ringer_get_mode (ringer), ==, modes[i]);
    g_assert_true (iterate_until (ringer, is_playing, WAIT_MS));
    /* To compare with in-helper-process. */
    g_test_message ("in process: playing %.1f ms after set_mode",
                    (g_get_monotonic_time () - started) / 1000.0);
    g_assert_true (natter_ringer_get_synthesized (ringer));

    /* Off, and silent before the call returns. */
    natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_NONE);
    g_assert_true (is_silent (ringer));
  }
  g_assert_cmpuint (mode_notifies, ==, 2 * G_N_ELEMENTS (modes));

  /* Setting the same mode again is no change. */
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_NONE);
  g_assert_cmpuint (mode_notifies, ==, 2 * G_N_ELEMENTS (modes));
  g_assert_finalize_object (g_steal_pointer (&ringer));
}

static void
test_switching_modes_restarts (void)
{
  g_autoptr (NatterRinger) ringer = natter_ringer_new ();

  natter_ringer_set_sound_dir (ringer, "/nonexistent");

  /* A ringing call becomes a second call during a call: the loud ringtone
   * turns into the soft one, then the caller's ringback, then nothing. */
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_INCOMING);
  g_assert_true (iterate_until (ringer, is_playing, WAIT_MS));
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_SOFT);
  g_assert_cmpint (natter_ringer_get_mode (ringer), ==, NATTER_RINGER_MODE_SOFT);
  g_assert_true (iterate_until (ringer, is_playing, WAIT_MS));
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_RINGBACK);
  g_assert_true (iterate_until (ringer, is_playing, WAIT_MS));
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_NONE);
  g_assert_true (is_silent (ringer));

  /* Nothing plays on afterwards. */
  iterate_for (200);
  g_assert_true (is_silent (ringer));
  g_assert_finalize_object (g_steal_pointer (&ringer));
}

static void
test_busy_ends_by_itself (void)
{
  g_autoptr (NatterRinger) ringer = natter_ringer_new ();
  gint64 started;

  natter_ringer_set_sound_dir (ringer, "/nonexistent");
  natter_ringer_set_busy_duration (ringer, 400);
  g_assert_cmpuint (natter_ringer_get_busy_duration (ringer), ==, 400);

  started = g_get_monotonic_time ();
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_BUSY);
  g_assert_true (iterate_until (ringer, is_playing, WAIT_MS));
  g_assert_true (iterate_until (ringer, is_silent, WAIT_MS));
  g_assert_cmpint (g_get_monotonic_time () - started, >=, 400 * 1000);

  /* An incoming call during the busy tone replaces it. */
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_BUSY);
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_INCOMING);
  iterate_for (600);
  g_assert_cmpint (natter_ringer_get_mode (ringer), ==, NATTER_RINGER_MODE_INCOMING);
  g_assert_true (natter_ringer_get_playing (ringer));
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_NONE);
  g_assert_finalize_object (g_steal_pointer (&ringer));
}

static void
test_theme_sounds (void)
{
  g_autoptr (NatterRinger) ringer = NULL;
  const NatterRingerMode themed[] = { NATTER_RINGER_MODE_INCOMING, NATTER_RINGER_MODE_RINGBACK,
                                      NATTER_RINGER_MODE_BUSY };

  if (!theme_installed ()) {
    g_test_skip ("sound-theme-freedesktop is not installed");
    return;
  }

  ringer = natter_ringer_new ();
  natter_ringer_set_sound_dir (ringer, THEME_DIR);
  for (guint i = 0; i < G_N_ELEMENTS (themed); i++) {
    natter_ringer_set_mode (ringer, themed[i]);
    g_assert_true (iterate_until (ringer, is_playing, WAIT_MS));
    g_assert_false (natter_ringer_get_synthesized (ringer));
    natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_NONE);
    g_assert_true (is_silent (ringer));
  }

  /* The theme has no sound for a second call: the soft beeps are ours. */
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_SOFT);
  g_assert_true (iterate_until (ringer, is_playing, WAIT_MS));
  g_assert_true (natter_ringer_get_synthesized (ringer));
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_NONE);
  g_assert_finalize_object (g_steal_pointer (&ringer));
}

/* Writes a 0.3 s Ogg/Vorbis file as the theme's ringtone. */
static char *
make_short_theme (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("natter-test-ringer-XXXXXX", &error);
  g_autofree char *file = NULL;
  g_autofree char *description = NULL;
  g_autoptr (GstElement) pipeline = NULL;
  g_autoptr (GstBus) bus = NULL;
  g_autoptr (GstMessage) message = NULL;

  g_assert_no_error (error);
  file = g_build_filename (dir, "phone-incoming-call.oga", NULL);
  description = g_strdup_printf ("audiotestsrc num-buffers=15 samplesperbuffer=960 freq=660 ! "
                                 "audioconvert ! vorbisenc ! oggmux ! filesink location=\"%s\"",
                                 file);
  pipeline = gst_parse_launch (description, &error);
  g_assert_no_error (error);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  bus = gst_element_get_bus (pipeline);
  message = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (message);
  g_assert_cmpint (GST_MESSAGE_TYPE (message), ==, GST_MESSAGE_EOS);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return g_steal_pointer (&dir);
}

static void
test_theme_sound_rings_past_its_end (void)
{
  g_autoptr (NatterRinger) ringer = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *file = NULL;
  g_autoptr (GstElementFactory) vorbisenc = gst_element_factory_find ("vorbisenc");

  if (vorbisenc == NULL) {
    g_test_skip ("vorbisenc is missing: cannot write a test ringtone");
    return;
  }
  dir = make_short_theme ();
  file = g_build_filename (dir, "phone-incoming-call.oga", NULL);

  ringer = natter_ringer_new ();
  natter_ringer_set_sound_dir (ringer, dir);
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_INCOMING);
  g_assert_true (iterate_until (ringer, is_playing, WAIT_MS));
  g_assert_false (natter_ringer_get_synthesized (ringer));

  /* Five times the file's length: it rings on until told to stop. */
  iterate_for (1500);
  g_assert_true (natter_ringer_get_playing (ringer));
  g_assert_cmpint (natter_ringer_get_mode (ringer), ==, NATTER_RINGER_MODE_INCOMING);

  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_NONE);
  g_assert_true (is_silent (ringer));
  g_assert_finalize_object (g_steal_pointer (&ringer));

  g_remove (file);
  g_rmdir (dir);
}

static void
test_dispose_while_ringing (void)
{
  NatterRinger *ringer = natter_ringer_new ();

  natter_ringer_set_sound_dir (ringer, "/nonexistent");
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_INCOMING);
  g_assert_true (iterate_until (ringer, is_playing, WAIT_MS));
  /* The pipeline, its bus watch and the cadence timer go with it. */
  g_assert_finalize_object (ringer);
  iterate_for (100);
}

/* natter-call-media children still running. */
static guint
count_helpers (void)
{
  return natter_test_count_children ("natter-call-med");
}

static gboolean
no_helper (NatterRinger *ringer)
{
  return count_helpers () == 0;
}

/* As in the app (issue 20): natter-call-media --ring plays each sound;
 * the ringer's API and timing are the same. */
static void
test_in_helper_process (void)
{
  g_autoptr (NatterRinger) ringer = natter_ringer_new ();
  const NatterRingerMode modes[] = { NATTER_RINGER_MODE_INCOMING, NATTER_RINGER_MODE_RINGBACK,
                                     NATTER_RINGER_MODE_SOFT };

  natter_call_media_proxy_set_helper_path (NATTER_CALL_MEDIA_BINARY);
  natter_ringer_set_sound_dir (ringer, "/nonexistent");
  for (guint i = 0; i < G_N_ELEMENTS (modes); i++) {
    gint64 started = g_get_monotonic_time ();

    natter_ringer_set_mode (ringer, modes[i]);
    g_assert_true (iterate_until (ringer, is_playing, WAIT_MS));
    g_test_message ("in natter-call-media: playing %.1f ms after set_mode",
                    (g_get_monotonic_time () - started) / 1000.0);
    g_assert_true (natter_ringer_get_synthesized (ringer));
    g_assert_cmpuint (count_helpers (), ==, 1);
    natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_NONE);
    g_assert_true (is_silent (ringer));
    g_assert_true (iterate_until (ringer, no_helper, WAIT_MS));
  }

  /* The busy tone ends by itself, and its helper with it. */
  natter_ringer_set_busy_duration (ringer, 2000); /* the helper starts in 0.5–0.8 s under ASan */
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_BUSY);
  g_assert_true (iterate_until (ringer, is_playing, WAIT_MS));
  g_assert_true (iterate_until (ringer, is_silent, WAIT_MS));
  g_assert_true (iterate_until (ringer, no_helper, WAIT_MS));

  natter_call_media_proxy_set_helper_path (NULL);
  g_assert_finalize_object (g_steal_pointer (&ringer));
}

/* A missing helper must not silence a call: the tone plays in process. */
static void
test_missing_helper_rings_in_process (void)
{
  g_autoptr (NatterRinger) ringer = natter_ringer_new ();

  natter_call_media_proxy_set_helper_path ("/nonexistent/natter-call-media");
  natter_ringer_set_sound_dir (ringer, "/nonexistent");
  g_test_expect_message ("natter-ringer", G_LOG_LEVEL_WARNING,
                         "Cannot start the ringtone's process, playing it in the app:*");
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_INCOMING);
  g_test_assert_expected_messages ();
  g_assert_true (iterate_until (ringer, is_playing, WAIT_MS));
  g_assert_cmpuint (count_helpers (), ==, 0);
  natter_ringer_set_mode (ringer, NATTER_RINGER_MODE_NONE);
  g_assert_true (is_silent (ringer));

  natter_call_media_proxy_set_helper_path (NULL);
  g_assert_finalize_object (g_steal_pointer (&ringer));
}

int
main (int argc, char *argv[])
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  /* A warning ("Cannot play the ringtone") fails the test. */
  g_log_set_always_fatal (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL);
  /* Real time, so a theme file plays for its length instead of at once. */
  g_setenv ("NATTER_AUDIO_SINK", "fakesink sync=true", TRUE);

  g_test_add_func ("/natter/ringer/synthesized-modes", test_synthesized_modes);
  g_test_add_func ("/natter/ringer/switching-modes-restarts", test_switching_modes_restarts);
  g_test_add_func ("/natter/ringer/busy-ends-by-itself", test_busy_ends_by_itself);
  g_test_add_func ("/natter/ringer/theme-sounds", test_theme_sounds);
  g_test_add_func ("/natter/ringer/theme-sound-rings-past-its-end",
                   test_theme_sound_rings_past_its_end);
  g_test_add_func ("/natter/ringer/dispose-while-ringing", test_dispose_while_ringing);
  g_test_add_func ("/natter/ringer/in-helper-process", test_in_helper_process);
  g_test_add_func ("/natter/ringer/missing-helper-rings-in-process",
                   test_missing_helper_rings_in_process);

  return g_test_run ();
}
