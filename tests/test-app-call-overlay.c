/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app-call-overlay"

#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>

#include "natter-call-manager.h"
#include "natter-call-overlay.h"
#include "natter-client.h"
#include "natter-test-log.h"
#include "natter-test-client.h"
#include "natter-test-server.h"

/* The call overlay bound to a real NatterCall between two real clients
 * through the real natter-server, with GStreamer test sources: it follows
 * the call's state and pictures, and its controls act on the call. */

#define TIMEOUT_MS 20000

typedef struct {
  NatterTestServer *server;
  GPtrArray *data_dirs;
  NatterProfile *alice_profile;
  NatterProfile *bob_profile;
  NatterClient *alice;
  NatterClient *bob;
  GtkWindow *window;
  NatterCallOverlay *overlay;
  char *shots_dir;
  GtkCssProvider *css;
} Fixture;

static NatterClient *
signed_in_client (Fixture *fixture, const char *email)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data_dir = g_dir_make_tmp ("natter-test-call-overlay-XXXXXX", &error);
  NatterClient *client;

  g_assert_no_error (error);
  client = natter_client_new (natter_test_server_get_url (fixture->server), data_dir);
  g_ptr_array_add (fixture->data_dirs, g_steal_pointer (&data_dir));
  natter_test_client_login (client, email, 5000);
  natter_test_wait_until (natter_test_client_is_connected (client), 5000);

  return client;
}

static NatterCallManager *
manager_of (NatterClient *client)
{
  NatterCallManager *manager = NULL;

  g_object_get (client, "call-manager", &manager, NULL);
  g_assert_nonnull (manager);
  /* The client keeps it alive; callers borrow it. */
  g_object_unref (manager);

  return manager;
}

static NatterCall *
first_call (NatterClient *client)
{
  GListModel *calls = natter_call_manager_get_calls (manager_of (client));
  g_autoptr (NatterCall) call = NULL;

  if (g_list_model_get_n_items (calls) == 0)
    return NULL;
  call = g_list_model_get_item (calls, 0);

  return call;
}

static gboolean
has_state (NatterCall *call, NatterCallState state)
{
  return call != NULL && natter_call_get_state (call) == state;
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterUser) alice = NULL;
  g_autoptr (NatterUser) bob = NULL;

  fixture->server = natter_test_server_new (NULL);
  fixture->data_dirs = g_ptr_array_new_with_free_func (g_free);
  fixture->shots_dir = natter_test_top_build_filename ("screenshots", NULL);
  g_mkdir_with_parents (fixture->shots_dir, 0755);

  alice = natter_test_server_register (fixture->server, "alice@example.org", "Alice Kebede",
                                       "tutor", NULL, &fixture->alice_profile);
  bob = natter_test_server_register (fixture->server, "bob@example.org", "Bob Tesfaye", "student",
                                     NULL, &fixture->bob_profile);
  fixture->alice = signed_in_client (fixture, "alice@example.org");
  fixture->bob = signed_in_client (fixture, "bob@example.org");

  /* The app's style sheet, as AdwApplication would load it. */
  if (fixture->css == NULL) {
    fixture->css = gtk_css_provider_new ();
    gtk_css_provider_load_from_resource (fixture->css, "/org/natter/Natter/style.css");
    gtk_style_context_add_provider_for_display (gdk_display_get_default (),
                                                GTK_STYLE_PROVIDER (fixture->css),
                                                GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
  }

  fixture->window = GTK_WINDOW (gtk_window_new ());
  fixture->overlay = NATTER_CALL_OVERLAY (natter_call_overlay_new ());
  gtk_window_set_child (fixture->window, GTK_WIDGET (fixture->overlay));
  gtk_window_set_default_size (fixture->window, 720, 480);
  gtk_window_present (fixture->window);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  gtk_window_destroy (fixture->window);
  gtk_style_context_remove_provider_for_display (gdk_display_get_default (),
                                                 GTK_STYLE_PROVIDER (fixture->css));
  g_clear_object (&fixture->css);
  g_clear_object (&fixture->alice);
  g_clear_object (&fixture->bob);
  g_clear_pointer (&fixture->alice_profile, natter_profile_free);
  g_clear_pointer (&fixture->bob_profile, natter_profile_free);
  natter_test_server_free (fixture->server);
  for (guint i = 0; i < fixture->data_dirs->len; i++)
    natter_test_remove_tree (g_ptr_array_index (fixture->data_dirs, i));
  g_ptr_array_unref (fixture->data_dirs);
  g_clear_pointer (&fixture->shots_dir, g_free);

  /* Let finished requests and closed sockets release what they hold. */
  natter_test_iterate_until (g_get_monotonic_time () + 100 * 1000);
}

static gpointer
template_child (Fixture *fixture, const char *name)
{
  return gtk_widget_get_template_child (GTK_WIDGET (fixture->overlay), NATTER_TYPE_CALL_OVERLAY,
                                        name);
}

static const char *
label_text (Fixture *fixture, const char *name)
{
  return gtk_label_get_label (GTK_LABEL (template_child (fixture, name)));
}

static void
on_after_paint (GdkFrameClock *clock, int *frames)
{
  (*frames)++;
}

static void
save_screenshot (Fixture *fixture, const char *name)
{
  GtkWidget *widget = GTK_WIDGET (fixture->window);
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GskRenderNode) node = NULL;
  g_autofree char *file = g_strconcat (name, ".png", NULL);
  g_autofree char *path = g_build_filename (fixture->shots_dir, file, NULL);
  GdkFrameClock *clock = gtk_widget_get_frame_clock (widget);
  GtkSnapshot *snapshot;
  int frames = 0;
  gulong handler;

  g_assert_nonnull (clock);
  handler = g_signal_connect (clock, "after-paint", G_CALLBACK (on_after_paint), &frames);
  gtk_widget_queue_draw (widget);
  natter_test_wait_until (frames >= 2, TIMEOUT_MS);
  g_signal_handler_disconnect (clock, handler);

  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, gtk_widget_get_width (widget),
                          gtk_widget_get_height (widget));
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (
    gtk_native_get_renderer (GTK_NATIVE (widget)), node,
    &GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (widget), gtk_widget_get_height (widget)));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("saved %s", path);
}

/* Bob calls Alice; the overlay shows Alice's side of it. */
static NatterCall *
ring_alice (Fixture *fixture, const char *call_type, NatterCall **out_bob_call)
{
  g_autoptr (GError) error = NULL;
  NatterCall *bob_call = natter_call_manager_start_call (
    manager_of (fixture->bob), fixture->alice_profile, call_type, 0, &error);

  g_assert_no_error (error);
  g_assert_nonnull (bob_call);
  *out_bob_call = g_object_ref (bob_call);
  natter_test_wait_until (
    has_state (first_call (fixture->alice), NATTER_CALL_STATE_RINGING_INCOMING), TIMEOUT_MS);

  return g_object_ref (first_call (fixture->alice));
}

static void
test_follows_video_call (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) call = ring_alice (fixture, "video", &bob_call);
  GtkPicture *remote_picture = template_child (fixture, "remote_picture");
  GdkPaintable *remote;
  GdkPaintable *local;

  natter_call_overlay_set_call (fixture->overlay, call);
  g_assert_true (natter_call_overlay_get_call (fixture->overlay) == call);
  g_assert_cmpstr (label_text (fixture, "name_label"), ==, "Bob Tesfaye");
  g_assert_cmpstr (label_text (fixture, "status_label"), ==, "Incoming call");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (template_child (fixture, "media_stack")), ==,
                   "video");
  /* The peer's picture is there from the start; the self view comes with
   * the pipeline that accepting builds. */
  g_assert_nonnull (gtk_picture_get_paintable (remote_picture));
  g_assert_null (natter_call_overlay_get_local_video (fixture->overlay));

  g_assert_true (natter_call_accept (call, TRUE));
  natter_test_wait_until (has_state (call, NATTER_CALL_STATE_CONNECTED), TIMEOUT_MS);
  natter_test_wait_until (g_str_has_prefix (label_text (fixture, "status_label"), "Connected · "),
                          TIMEOUT_MS);
  natter_test_wait_until (natter_call_overlay_get_local_video (fixture->overlay) != NULL,
                          TIMEOUT_MS);
  local = natter_call_overlay_get_local_video (fixture->overlay);
  remote = gtk_picture_get_paintable (remote_picture);
  natter_test_wait_until (gdk_paintable_get_intrinsic_width (local) > 0, TIMEOUT_MS);
  natter_test_wait_until (gdk_paintable_get_intrinsic_width (remote) > 0, TIMEOUT_MS);
  g_assert_true (gtk_widget_get_visible (template_child (fixture, "self_view")));
  save_screenshot (fixture, "call-overlay-bound-video");

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
  g_assert_false (gtk_widget_get_visible (template_child (fixture, "self_view")));
  natter_test_wait_until (!natter_call_get_remote_camera_enabled (bob_call), TIMEOUT_MS);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->overlay), "call.hang-up", NULL));
  g_assert_true (has_state (call, NATTER_CALL_STATE_ENDED));
  g_assert_true (g_str_has_prefix (label_text (fixture, "ended_label"), "Call ended · "));
  g_assert_true (gtk_revealer_get_reveal_child (template_child (fixture, "ended_revealer")));
  g_assert_false (gtk_widget_get_visible (template_child (fixture, "controls")));
  natter_test_wait_until (has_state (bob_call, NATTER_CALL_STATE_ENDED), TIMEOUT_MS);

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
test_says_how_call_ended (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) call = ring_alice (fixture, "voice", &bob_call);

  /* Bob's side: the overlay of the caller whose call is declined. */
  natter_call_overlay_set_call (fixture->overlay, bob_call);
  g_assert_cmpstr (label_text (fixture, "voice_name_label"), ==, "Alice Kebede");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (template_child (fixture, "media_stack")), ==,
                   "voice");
  natter_test_wait_until (g_str_equal (label_text (fixture, "status_label"), "Ringing…"),
                          TIMEOUT_MS);
  g_assert_null (gtk_picture_get_paintable (template_child (fixture, "remote_picture")));

  natter_call_decline (call);
  natter_test_wait_until (has_state (bob_call, NATTER_CALL_STATE_ENDED), TIMEOUT_MS);
  g_assert_cmpstr (label_text (fixture, "ended_label"), ==, "Call declined");
  g_assert_true (gtk_revealer_get_reveal_child (template_child (fixture, "ended_revealer")));
  save_screenshot (fixture, "call-overlay-bound-declined");
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

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/app/call-overlay/follows-video-call", test_follows_video_call);
  ADD ("/natter/app/call-overlay/says-how-call-ended", test_says_how_call_ended);
#undef ADD

  return g_test_run ();
}
