/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app-call-media"

#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>
#include <signal.h>

#include "natter-call-manager.h"
#include "natter-call-media-proxy.h"
#include "natter-call-overlay.h"
#include "natter-client.h"
#include "natter-preferences-window.h"
#include "natter-test-call-fixture.h"
#include "natter-test-log.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "natter-test-processes.h"

/* Calls whose media runs in natter-call-media, as the app's do (issue 20):
 * two real clients through the real natter-server, the call overlay on
 * one side. The pictures come from the helper as shared memory; when the
 * call ends the helper exits and this process maps none of the call
 * stack's libraries; a helper that dies ends the call, not the app. */

#define TIMEOUT_MS 20000

/* natter-call-media children still running. */
static guint
count_helpers (void)
{
  return natter_test_count_children ("natter-call-med");
}

/* The libraries only the call stack loads, one a line: webrtcbin's ICE,
 * DTLS and SRTP, the VP8 codec, the echo canceller, and the plugins that
 * load them. (This test program links libpq, and with it libcrypto: what
 * counts is what a call adds.) */
static char *
mapped_call_libraries (void)
{
  static const char *const libraries[] = {
    "libnice",         "libcrypto",  "libvpx",     "libsrtp2",  "libwebrtc",       "libgstnice",
    "libgstwebrtc.so", "libgstdtls", "libgstsrtp", "libgstvpx", "libgstwebrtcdsp",
  };
  g_autofree char *maps = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GString) found = g_string_new (NULL);

  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  lines = g_strsplit (maps, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    const char *path = strchr (lines[i], '/');
    const char *base = path != NULL ? strrchr (path, '/') + 1 : NULL;

    for (guint j = 0; base != NULL && j < G_N_ELEMENTS (libraries); j++) {
      if (g_str_has_prefix (base, libraries[j]) && strstr (found->str, path) == NULL)
        g_string_append_printf (found, "%s\n", path);
    }
  }
  return g_string_free (g_steal_pointer (&found), FALSE);
}

/* What of GStreamer this process maps beyond the libraries it links
 * (libgstreamer and liborc come with core): the plugins that gst_init()'s
 * registry and the first pipeline or device monitor load. */
static char *
mapped_gstreamer_plugins (void)
{
  g_autofree char *maps = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GString) found = g_string_new (NULL);

  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  lines = g_strsplit (maps, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    const char *path = strchr (lines[i], '/');

    if (path != NULL && strstr (path, "/gstreamer-1.0/") != NULL &&
        strstr (found->str, path) == NULL)
      g_string_append_printf (found, "%s\n", path);
  }
  return g_string_free (g_steal_pointer (&found), FALSE);
}

static gboolean
paintable_has_frame (GdkPaintable *paintable)
{
  return paintable != NULL && gdk_paintable_get_intrinsic_width (paintable) > 0;
}

static void
connect_video_call (NatterTestCallFixture *fixture,
                    NatterCall **out_call,
                    NatterCall **out_bob_call)
{
  NatterCall *call = natter_test_call_fixture_ring_alice (fixture, "video", out_bob_call);
  GtkPicture *remote_picture = natter_test_call_fixture_template_child (fixture, "remote_picture");

  *out_call = call;
  natter_call_overlay_set_call (fixture->overlay, call);
  g_assert_true (natter_call_accept (call, TRUE));
  natter_test_wait_until (natter_test_call_has_state (call, NATTER_CALL_STATE_CONNECTED),
                          TIMEOUT_MS);
  natter_test_wait_until (paintable_has_frame (gtk_picture_get_paintable (remote_picture)),
                          TIMEOUT_MS);
  natter_test_wait_until (
    paintable_has_frame (natter_call_overlay_get_local_video (fixture->overlay)), TIMEOUT_MS);
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (gtk_picture_get_paintable (remote_picture)),
                   ==, 320);
}

static void
test_video_call_leaves_no_call_stack (NatterTestCallFixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) call = NULL;
  g_autofree char *mapped_before = mapped_call_libraries ();
  g_autofree char *mapped_after = NULL;

  guint helpers_during_call;

  connect_video_call (fixture, &call, &bob_call);
  helpers_during_call = count_helpers ();
  natter_test_call_fixture_save_screenshot (fixture, "call-media-video");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->overlay), "call.hang-up", NULL));
  natter_test_wait_until (natter_test_call_has_state (bob_call, NATTER_CALL_STATE_ENDED),
                          TIMEOUT_MS);
  natter_call_overlay_set_call (fixture->overlay, NULL);
  g_clear_object (&call);
  g_clear_object (&bob_call);

  natter_test_wait_until (count_helpers () == 0, TIMEOUT_MS);
  mapped_after = mapped_call_libraries ();
  g_assert_cmpstr (mapped_after, ==, mapped_before);
  /* One helper a side (both clients live in this process). */
  g_assert_cmpuint (helpers_during_call, ==, 2);
}

static gboolean
ringer_playing (NatterClient *client)
{
  return natter_ringer_get_playing (
    natter_call_manager_get_ringer (natter_test_call_manager_of (client)));
}

/* Ringing, a video call with the device lists in use, the busy tone and
 * Preferences' device lists: the ringtones play in natter-call-media
 * --ring, the lists come from natter-call-media --devices, and this
 * process never starts GStreamer (issue 20). */
static void
test_app_loads_no_gstreamer (NatterTestCallFixture *fixture, gconstpointer data)
{
  g_autoptr (NatterDevices) devices = natter_devices_new ();
  g_autoptr (GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) call = NULL;
  g_autofree char *mapped = NULL;
  NatterCallManager *alice_manager = natter_test_call_manager_of (fixture->alice);
  NatterRinger *alice_ringer = natter_call_manager_get_ringer (alice_manager);
  NatterPreferencesWindow *preferences;
  gint64 rang_at;

  natter_devices_start_on_demand (devices);
  natter_call_manager_set_devices (alice_manager, devices);

  /* Ringing: Alice's ringtone and Bob's ringback, each from a helper. */
  call = natter_test_call_fixture_ring_alice (fixture, "video", &bob_call);
  rang_at = g_get_monotonic_time ();
  g_assert_cmpint (natter_ringer_get_mode (alice_ringer), ==, NATTER_RINGER_MODE_INCOMING);
  natter_test_wait_until (ringer_playing (fixture->alice), TIMEOUT_MS);
  g_test_message ("ringtone playing %.1f ms after the call rang",
                  (g_get_monotonic_time () - rang_at) / 1000.0);
  natter_test_wait_until (ringer_playing (fixture->bob), TIMEOUT_MS);
  g_assert_true (natter_devices_get_started (devices));

  natter_call_overlay_set_call (fixture->overlay, call);
  g_assert_true (natter_call_accept (call, TRUE));
  natter_test_wait_until (natter_test_call_has_state (call, NATTER_CALL_STATE_CONNECTED),
                          TIMEOUT_MS);
  g_assert_false (natter_ringer_get_playing (alice_ringer));
  natter_test_wait_until (paintable_has_frame (gtk_picture_get_paintable (
                            natter_test_call_fixture_template_child (fixture, "remote_picture"))),
                          TIMEOUT_MS);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->overlay), "call.hang-up", NULL));
  natter_test_wait_until (natter_test_call_has_state (bob_call, NATTER_CALL_STATE_ENDED),
                          TIMEOUT_MS);
  natter_call_overlay_set_call (fixture->overlay, NULL);

  /* The busy tone, from a helper too. */
  natter_ringer_set_mode (alice_ringer, NATTER_RINGER_MODE_BUSY);
  natter_test_wait_until (natter_ringer_get_playing (alice_ringer), TIMEOUT_MS);
  natter_ringer_set_mode (alice_ringer, NATTER_RINGER_MODE_NONE);
  g_assert_false (natter_ringer_get_playing (alice_ringer));

  /* With the call stack released (NATTER_CALL_RELEASE_DELAY_MS=0), the
   * device monitor's helper has gone too; Preferences starts it again. */
  natter_test_wait_until (count_helpers () == 0, TIMEOUT_MS);
  g_assert_false (natter_devices_get_started (devices));
  preferences = natter_preferences_window_new (NULL, settings, "alice@example.org");
  natter_preferences_window_set_client (preferences, fixture->alice);
  g_assert_true (natter_devices_get_started (devices));
  g_assert_cmpuint (count_helpers (), ==, 1);
  g_assert_true (natter_preferences_window_get_devices (preferences) == devices);
  gtk_window_present (GTK_WINDOW (preferences));
  natter_test_wait_until (gtk_widget_get_mapped (GTK_WIDGET (preferences)), TIMEOUT_MS);
  gtk_window_destroy (GTK_WINDOW (preferences));

  g_assert_false (gst_is_initialized ());
  mapped = mapped_gstreamer_plugins ();
  g_assert_cmpstr (mapped, ==, "");

  natter_call_manager_set_devices (alice_manager, NULL);
  natter_devices_stop (devices);
  g_clear_object (&call);
  g_clear_object (&bob_call);
  natter_test_wait_until (count_helpers () == 0, TIMEOUT_MS);
}

static void
test_helper_killed_mid_call (NatterTestCallFixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) call = NULL;
  GPid pid;

  connect_video_call (fixture, &call, &bob_call);
  g_assert_true (NATTER_IS_CALL_MEDIA_PROXY (natter_call_get_media (call)));
  g_assert_null (natter_call_get_pipeline (call));
  pid =
    natter_call_media_proxy_get_helper_pid (NATTER_CALL_MEDIA_PROXY (natter_call_get_media (call)));
  g_assert_cmpint (pid, >, 0);
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);

  natter_test_wait_until (natter_test_call_has_state (call, NATTER_CALL_STATE_ENDED), TIMEOUT_MS);
  g_assert_cmpint (natter_call_get_end_reason (call), ==, NATTER_CALL_END_REASON_FAILED);
  g_assert_cmpstr (natter_call_get_end_message (call), ==,
                   "The call's media process stopped unexpectedly");
  g_assert_true (gtk_revealer_get_reveal_child (
    natter_test_call_fixture_template_child (fixture, "ended_revealer")));
  g_assert_nonnull (
    strstr (natter_test_call_fixture_label_text (fixture, "ended_label"), "media process"));
  natter_test_call_fixture_save_screenshot (fixture, "call-media-helper-killed");
  /* The peer hears of it as of a hang-up. */
  natter_test_wait_until (natter_test_call_has_state (bob_call, NATTER_CALL_STATE_ENDED),
                          TIMEOUT_MS);
  natter_call_overlay_set_call (fixture->overlay, NULL);
}

static void
test_helper_that_cannot_start (NatterTestCallFixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NatterCall *call;

  natter_call_media_proxy_set_helper_path ("/nonexistent/natter-call-media");
  call = natter_call_manager_start_call (natter_test_call_manager_of (fixture->bob),
                                         fixture->alice_profile, "video", 0, &error);
  natter_call_media_proxy_set_helper_path (NATTER_CALL_MEDIA_BINARY);
  g_assert_null (call);
  g_assert_nonnull (error);
  g_assert_true (g_str_has_prefix (error->message, "Could not start the call's media process: "));
}

int
main (int argc, char **argv)
{
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
  g_unsetenv ("NATTER_TOKEN");
  g_setenv ("NATTER_VIDEO_SRC",
            "videotestsrc is-live=true pattern=ball ! capsfilter "
            "caps=\"video/x-raw,width=320,height=240,framerate=30/1\"",
            FALSE);
  g_setenv ("NATTER_AUDIO_SRC", "audiotestsrc is-live=true wave=ticks", FALSE);
  g_setenv ("NATTER_AUDIO_SINK", "fakesink sync=false", FALSE);
  g_setenv ("NATTER_SOUND_DIR", "/nonexistent", TRUE);
  g_setenv ("NATTER_CALL_RELEASE_DELAY_MS", "0", FALSE);
  g_setenv ("LANGUAGE", "C", TRUE);

  g_test_init (&argc, &argv, NULL);
  natter_test_log_allow_gst_sort_warning ();
  adw_init ();
  /* As the app's main does; NATTER_CALL_MEDIA=in-process shows what the
   * test catches without the helper. */
  if (g_strcmp0 (g_getenv ("NATTER_CALL_MEDIA"), "in-process") != 0)
    natter_call_media_proxy_set_helper_path (NATTER_CALL_MEDIA_BINARY);

#define ADD(path, func)                                                                 \
  g_test_add (path, NatterTestCallFixture, NULL, natter_test_call_fixture_set_up, func, \
              natter_test_call_fixture_tear_down)
  ADD ("/natter/app/call-media/video-call-leaves-no-call-stack",
       test_video_call_leaves_no_call_stack);
  ADD ("/natter/app/call-media/app-loads-no-gstreamer", test_app_loads_no_gstreamer);
  ADD ("/natter/app/call-media/helper-killed-mid-call", test_helper_killed_mid_call);
  ADD ("/natter/app/call-media/helper-that-cannot-start", test_helper_that_cannot_start);
#undef ADD

  return g_test_run ();
}
