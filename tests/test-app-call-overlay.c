/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app-call-overlay"

#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>

#include "natter-call-manager.h"
#include "natter-call-overlay.h"
#include "natter-client.h"
#include "natter-test-call-fixture.h"
#include "natter-test-log.h"
#include "natter-test-client.h"
#include "natter-test-server.h"

/* The call overlay bound to a real NatterCall between two real clients
 * through the real natter-server, with GStreamer test sources: it follows
 * the call's state and pictures, and its controls act on the call. */

#define TIMEOUT_MS 20000

static void
test_follows_video_call (NatterTestCallFixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) call = natter_test_call_fixture_ring_alice (fixture, "video", &bob_call);
  GtkPicture *remote_picture = natter_test_call_fixture_template_child (fixture, "remote_picture");
  GdkPaintable *remote;
  GdkPaintable *local;

  natter_call_overlay_set_call (fixture->overlay, call);
  g_assert_true (natter_call_overlay_get_call (fixture->overlay) == call);
  g_assert_cmpstr (natter_test_call_fixture_label_text (fixture, "name_label"), ==, "Bob Tesfaye");
  g_assert_cmpstr (natter_test_call_fixture_label_text (fixture, "status_label"), ==,
                   "Incoming call");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (
                     natter_test_call_fixture_template_child (fixture, "media_stack")),
                   ==, "video");
  /* The peer's picture is there from the start; the self view comes with
   * the pipeline that accepting builds. */
  g_assert_nonnull (gtk_picture_get_paintable (remote_picture));
  g_assert_null (natter_call_overlay_get_local_video (fixture->overlay));

  g_assert_true (natter_call_accept (call, TRUE));
  natter_test_wait_until (natter_test_call_has_state (call, NATTER_CALL_STATE_CONNECTED),
                          TIMEOUT_MS);
  natter_test_wait_until (
    g_str_has_prefix (natter_test_call_fixture_label_text (fixture, "status_label"),
                      "Connected · "),
    TIMEOUT_MS);
  natter_test_wait_until (natter_call_overlay_get_local_video (fixture->overlay) != NULL,
                          TIMEOUT_MS);
  local = natter_call_overlay_get_local_video (fixture->overlay);
  remote = gtk_picture_get_paintable (remote_picture);
  natter_test_wait_until (gdk_paintable_get_intrinsic_width (local) > 0, TIMEOUT_MS);
  natter_test_wait_until (gdk_paintable_get_intrinsic_width (remote) > 0, TIMEOUT_MS);
  g_assert_true (
    gtk_widget_get_visible (natter_test_call_fixture_template_child (fixture, "self_view")));
  natter_test_call_fixture_save_screenshot (fixture, "call-overlay-bound-video");

  /* The controls act on the call, and the call's changes show. */
  g_assert_true (
    gtk_widget_activate_action (GTK_WIDGET (fixture->overlay), "call.toggle-mute", NULL));
  g_assert_true (natter_call_get_muted (call));
  natter_test_wait_until (natter_call_get_remote_muted (bob_call), TIMEOUT_MS);
  natter_call_set_muted (call, FALSE);
  g_assert_false (natter_call_overlay_get_muted (fixture->overlay));

  g_assert_true (
    gtk_widget_activate_action (GTK_WIDGET (fixture->overlay), "call.toggle-camera", NULL));
  g_assert_false (natter_call_get_camera_enabled (call));
  g_assert_false (
    gtk_widget_get_visible (natter_test_call_fixture_template_child (fixture, "self_view")));
  natter_test_wait_until (!natter_call_get_remote_camera_enabled (bob_call), TIMEOUT_MS);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->overlay), "call.hang-up", NULL));
  g_assert_true (natter_test_call_has_state (call, NATTER_CALL_STATE_ENDED));
  g_assert_true (g_str_has_prefix (natter_test_call_fixture_label_text (fixture, "ended_label"),
                                   "Call ended · "));
  g_assert_true (gtk_revealer_get_reveal_child (
    natter_test_call_fixture_template_child (fixture, "ended_revealer")));
  g_assert_false (
    gtk_widget_get_visible (natter_test_call_fixture_template_child (fixture, "controls")));
  natter_test_wait_until (natter_test_call_has_state (bob_call, NATTER_CALL_STATE_ENDED),
                          TIMEOUT_MS);

  /* Unbound, the overlay lets go of the call's pictures, and once the
   * ended call is let go (its closed pipeline with it) nothing keeps them
   * and their last frames: an app that runs all day keeps no call's
   * textures (issue 20). */
  local = natter_call_overlay_get_local_video (fixture->overlay);
  remote = gtk_picture_get_paintable (remote_picture);
  g_object_add_weak_pointer (G_OBJECT (local), (gpointer *) &local);
  g_object_add_weak_pointer (G_OBJECT (remote), (gpointer *) &remote);
  natter_call_overlay_set_call (fixture->overlay, NULL);
  g_assert_null (natter_call_overlay_get_local_video (fixture->overlay));
  g_assert_null (gtk_picture_get_paintable (remote_picture));
  g_clear_object (&call);
  g_clear_object (&bob_call);
  natter_test_wait_until (local == NULL && remote == NULL, TIMEOUT_MS);
}

static void
test_says_how_call_ended (NatterTestCallFixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) call = natter_test_call_fixture_ring_alice (fixture, "voice", &bob_call);

  /* Bob's side: the overlay of the caller whose call is declined. */
  natter_call_overlay_set_call (fixture->overlay, bob_call);
  g_assert_cmpstr (natter_test_call_fixture_label_text (fixture, "voice_name_label"), ==,
                   "Alice Kebede");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (
                     natter_test_call_fixture_template_child (fixture, "media_stack")),
                   ==, "voice");
  natter_test_wait_until (
    g_str_equal (natter_test_call_fixture_label_text (fixture, "status_label"), "Ringing…"),
    TIMEOUT_MS);
  g_assert_null (gtk_picture_get_paintable (
    natter_test_call_fixture_template_child (fixture, "remote_picture")));

  natter_call_decline (call);
  natter_test_wait_until (natter_test_call_has_state (bob_call, NATTER_CALL_STATE_ENDED),
                          TIMEOUT_MS);
  g_assert_cmpstr (natter_test_call_fixture_label_text (fixture, "ended_label"), ==,
                   "Call declined");
  g_assert_true (gtk_revealer_get_reveal_child (
    natter_test_call_fixture_template_child (fixture, "ended_revealer")));
  natter_test_call_fixture_save_screenshot (fixture, "call-overlay-bound-declined");
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
  g_setenv ("LANGUAGE", "C", TRUE);

  g_test_init (&argc, &argv, NULL);
  natter_test_log_allow_gst_sort_warning ();
  gst_init (&argc, &argv);
  adw_init ();

#define ADD(path, func)                                                                 \
  g_test_add (path, NatterTestCallFixture, NULL, natter_test_call_fixture_set_up, func, \
              natter_test_call_fixture_tear_down)
  ADD ("/natter/app/call-overlay/follows-video-call", test_follows_video_call);
  ADD ("/natter/app/call-overlay/says-how-call-ended", test_says_how_call_ended);
#undef ADD

  return g_test_run ();
}
