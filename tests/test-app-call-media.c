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
#include "natter-test-log.h"
#include "natter-test-client.h"
#include "natter-test-server.h"

/* Calls whose media runs in natter-call-media, as the app's do (issue 20):
 * two real clients through the real natter-server, the call overlay on
 * one side. The pictures come from the helper as shared memory; when the
 * call ends the helper exits and this process maps none of the call
 * stack's libraries; a helper that dies ends the call, not the app. */

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
  g_autofree char *data_dir = g_dir_make_tmp ("natter-test-call-media-XXXXXX", &error);
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

/* natter-call-media processes this one started that have not exited. */
static guint
count_helpers (void)
{
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint count = 0;

  g_assert_nonnull (proc);
  while ((name = g_dir_read_name (proc)) != NULL) {
    g_autofree char *path = g_build_filename ("/proc", name, "stat", NULL);
    g_autofree char *stat = NULL;
    const char *end;
    int ppid = 0;
    char state = '?';

    if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &stat, NULL, NULL))
      continue;
    end = strrchr (stat, ')');
    if (end == NULL || strstr (stat, "(natter-call-med") == NULL)
      continue;
    if (sscanf (end + 1, " %c %d", &state, &ppid) == 2 && ppid == (int) getpid () && state != 'Z')
      count++;
  }
  return count;
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

static gboolean
paintable_has_frame (GdkPaintable *paintable)
{
  return paintable != NULL && gdk_paintable_get_intrinsic_width (paintable) > 0;
}

static void
connect_video_call (Fixture *fixture, NatterCall **out_call, NatterCall **out_bob_call)
{
  NatterCall *call = ring_alice (fixture, "video", out_bob_call);
  GtkPicture *remote_picture = template_child (fixture, "remote_picture");

  *out_call = call;
  natter_call_overlay_set_call (fixture->overlay, call);
  g_assert_true (natter_call_accept (call, TRUE));
  natter_test_wait_until (has_state (call, NATTER_CALL_STATE_CONNECTED), TIMEOUT_MS);
  natter_test_wait_until (paintable_has_frame (gtk_picture_get_paintable (remote_picture)),
                          TIMEOUT_MS);
  natter_test_wait_until (
    paintable_has_frame (natter_call_overlay_get_local_video (fixture->overlay)), TIMEOUT_MS);
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (gtk_picture_get_paintable (remote_picture)),
                   ==, 320);
}

static void
test_video_call_leaves_no_call_stack (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) call = NULL;
  g_autofree char *mapped_before = mapped_call_libraries ();
  g_autofree char *mapped_after = NULL;

  guint helpers_during_call;

  connect_video_call (fixture, &call, &bob_call);
  helpers_during_call = count_helpers ();
  save_screenshot (fixture, "call-media-video");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->overlay), "call.hang-up", NULL));
  natter_test_wait_until (has_state (bob_call, NATTER_CALL_STATE_ENDED), TIMEOUT_MS);
  natter_call_overlay_set_call (fixture->overlay, NULL);
  g_clear_object (&call);
  g_clear_object (&bob_call);

  natter_test_wait_until (count_helpers () == 0, TIMEOUT_MS);
  mapped_after = mapped_call_libraries ();
  g_assert_cmpstr (mapped_after, ==, mapped_before);
  /* One helper a side (both clients live in this process). */
  g_assert_cmpuint (helpers_during_call, ==, 2);
}

static void
test_helper_killed_mid_call (Fixture *fixture, gconstpointer data)
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

  natter_test_wait_until (has_state (call, NATTER_CALL_STATE_ENDED), TIMEOUT_MS);
  g_assert_cmpint (natter_call_get_end_reason (call), ==, NATTER_CALL_END_REASON_FAILED);
  g_assert_cmpstr (natter_call_get_end_message (call), ==,
                   "The call's media process stopped unexpectedly");
  g_assert_true (gtk_revealer_get_reveal_child (template_child (fixture, "ended_revealer")));
  g_assert_nonnull (strstr (label_text (fixture, "ended_label"), "media process"));
  save_screenshot (fixture, "call-media-helper-killed");
  /* The peer hears of it as of a hang-up. */
  natter_test_wait_until (has_state (bob_call, NATTER_CALL_STATE_ENDED), TIMEOUT_MS);
  natter_call_overlay_set_call (fixture->overlay, NULL);
}

static void
test_helper_that_cannot_start (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  NatterCall *call;

  natter_call_media_proxy_set_helper_path ("/nonexistent/natter-call-media");
  call = natter_call_manager_start_call (manager_of (fixture->bob), fixture->alice_profile, "video",
                                         0, &error);
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

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/app/call-media/video-call-leaves-no-call-stack",
       test_video_call_leaves_no_call_stack);
  ADD ("/natter/app/call-media/helper-killed-mid-call", test_helper_killed_mid_call);
  ADD ("/natter/app/call-media/helper-that-cannot-start", test_helper_that_cannot_start);
#undef ADD

  return g_test_run ();
}
