/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-test-call-fixture"

#include "config.h"

#include <glib/gstdio.h>

#include "natter-test-call-fixture.h"
#include "natter-test-client.h"
#include "natter-test-log.h"

#define TIMEOUT_MS 20000

static NatterClient *
signed_in_client (NatterTestCallFixture *fixture, const char *email)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data_dir = g_dir_make_tmp ("natter-test-call-XXXXXX", &error);
  NatterClient *client;

  g_assert_no_error (error);
  client = natter_client_new (natter_test_server_get_url (fixture->server), data_dir);
  g_ptr_array_add (fixture->data_dirs, g_steal_pointer (&data_dir));
  natter_test_client_login (client, email, 5000);
  natter_test_wait_until (natter_test_client_is_connected (client), 5000);

  return client;
}

NatterCallManager *
natter_test_call_manager_of (NatterClient *client)
{
  NatterCallManager *manager = NULL;

  g_object_get (client, "call-manager", &manager, NULL);
  g_assert_nonnull (manager);
  /* The client keeps it alive; callers borrow it. */
  g_object_unref (manager);

  return manager;
}

NatterCall *
natter_test_call_first (NatterClient *client)
{
  GListModel *calls = natter_call_manager_get_calls (natter_test_call_manager_of (client));
  g_autoptr (NatterCall) call = NULL;

  if (g_list_model_get_n_items (calls) == 0)
    return NULL;
  call = g_list_model_get_item (calls, 0);

  return call;
}

gboolean
natter_test_call_has_state (NatterCall *call, NatterCallState state)
{
  return call != NULL && natter_call_get_state (call) == state;
}

void
natter_test_call_fixture_set_up (NatterTestCallFixture *fixture, gconstpointer data)
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

void
natter_test_call_fixture_tear_down (NatterTestCallFixture *fixture, gconstpointer data)
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

gpointer
natter_test_call_fixture_template_child (NatterTestCallFixture *fixture, const char *name)
{
  return gtk_widget_get_template_child (GTK_WIDGET (fixture->overlay), NATTER_TYPE_CALL_OVERLAY,
                                        name);
}

const char *
natter_test_call_fixture_label_text (NatterTestCallFixture *fixture, const char *name)
{
  return gtk_label_get_label (GTK_LABEL (natter_test_call_fixture_template_child (fixture, name)));
}

static void
on_after_paint (GdkFrameClock *clock, int *frames)
{
  (*frames)++;
}

void
natter_test_call_fixture_save_screenshot (NatterTestCallFixture *fixture, const char *name)
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
NatterCall *
natter_test_call_fixture_ring_alice (NatterTestCallFixture *fixture,
                                     const char *call_type,
                                     NatterCall **out_bob_call)
{
  g_autoptr (GError) error = NULL;
  NatterCall *bob_call = natter_call_manager_start_call (
    natter_test_call_manager_of (fixture->bob), fixture->alice_profile, call_type, 0, &error);

  g_assert_no_error (error);
  g_assert_nonnull (bob_call);
  *out_bob_call = g_object_ref (bob_call);
  natter_test_wait_until (natter_test_call_has_state (natter_test_call_first (fixture->alice),
                                                      NATTER_CALL_STATE_RINGING_INCOMING),
                          TIMEOUT_MS);

  return g_object_ref (natter_test_call_first (fixture->alice));
}
