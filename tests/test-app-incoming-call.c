/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app-incoming-call"

#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>
#include <gst/gst.h>

#include "natter-application.h"
#include "natter-call-notifier.h"
#include "natter-call-manager.h"
#include "natter-call-overlay.h"
#include "natter-chat-view.h"
#include "natter-incoming-call-dialog.h"
#include "natter-preferences-window.h"
#include "natter-message-item.h"
#include "natter-video-paintable.h"
#include "natter-window.h"
#include "natter-test-log.h"
#include "natter-test-server.h"

/* The application side of an incoming call, end to end: Bob calls Alice
 * through a real natter-server; Alice's NatterApplication (no window open,
 * as when running in the background) puts up a prompt, and the prompt goes
 * the moment the call stops ringing, whether Bob gives up or Alice declines
 * from the notification's action. */

#define TIMEOUT_MS 15000

/* What the session manager stand-in answers to Inhibit. */
#define SESSION_MANAGER_COOKIE 4711u

typedef struct {
  NatterTestServer *server;
  char *data_dir;
  NatterProfile *alice_profile;
  NatterProfile *bob_profile;
  gint64 conversation_id;
  NatterClient *bob;
  NatterApplication *application;
} Fixture;

static void
on_signed_in (GObject *source, GAsyncResult *result, gpointer user_data)
{
  int *state = user_data;

  *state = natter_client_sign_in_finish (NATTER_CLIENT (source), result, NULL) ? 1 : -1;
}

static NatterCallManager *
get_call_manager (NatterClient *client)
{
  NatterCallManager *call_manager = NULL;

  g_object_get (client, "call-manager", &call_manager, NULL);
  g_assert_nonnull (call_manager);
  g_object_unref (call_manager); /* the client keeps it */
  return call_manager;
}

static gboolean
connected (NatterClient *client)
{
  return client != NULL && natter_connection_get_state (natter_client_get_connection (client)) ==
                             NATTER_CONNECTION_STATE_CONNECTED;
}

/* Bob's picture on the server, before he connects (the server names it in
 * his invitations): a 32×32 PNG in one colour. */
static void
upload_bob_avatar (Fixture *fixture, const char *bob_token)
{
  g_autofree guint8 *data = g_malloc (32 * 32 * 4);
  g_autoptr (GBytes) pixels = NULL;
  g_autoptr (GdkTexture) picture = NULL;
  g_autoptr (GBytes) png = NULL;
  g_autoptr (GBytes) answer = NULL;
  g_autofree char *path = NULL;
  guint status = 0;

  for (guint i = 0; i < 32 * 32 * 4; i++)
    data[i] = i % 4 == 3 ? 0xff : (i % 4 == 2 ? 0xc0 : 0x20);
  pixels = g_bytes_new (data, 32 * 32 * 4);
  picture = gdk_memory_texture_new (32, 32, GDK_MEMORY_R8G8B8A8, pixels, 32 * 4);
  png = gdk_texture_save_to_png_bytes (picture);
  path = g_strdup_printf ("/api/profiles/%s/%" G_GINT64_FORMAT "/avatar",
                          fixture->bob_profile->profile_type, fixture->bob_profile->profile_id);
  answer = natter_test_http_full (fixture->server, "PUT", path, bob_token, "image/png", png, NULL,
                                  &status, NULL);
  g_assert_cmpuint (status / 100, ==, 2);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autofree char *alice_token = NULL;
  g_autofree char *bob_token = NULL;
  g_autofree char *path = NULL;
  g_autofree char *body = NULL;
  g_autofree char *answer = NULL;
  g_autofree char *bob_dir = NULL;
  g_autofree char *alice_dir = NULL;
  g_autoptr (NatterUser) alice = NULL;
  g_autoptr (NatterUser) bob = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (GSettings) settings = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *application_id = NULL;
  static guint fixture_count;
  guint status = 0;
  int state = 0;

  fixture->server = natter_test_server_new (data);
  fixture->data_dir = g_dir_make_tmp ("natter-app-call-XXXXXX", NULL);

  alice = natter_test_server_register (fixture->server, "alice@example.org", "Alice Kebede",
                                       "tutor", &alice_token, &fixture->alice_profile);
  bob = natter_test_server_register (fixture->server, "bob@example.org", "Bob Tesfaye", "student",
                                     &bob_token, &fixture->bob_profile);

  path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/conversations",
                          fixture->bob_profile->profile_id, fixture->bob_profile->profile_type);
  body =
    g_strdup_printf ("{\"with\":[{\"profile_id\":%" G_GINT64_FORMAT ",\"profile_type\":\"%s\"}]}",
                     fixture->alice_profile->profile_id, fixture->alice_profile->profile_type);
  answer = natter_test_http (fixture->server, "POST", path, bob_token, body, &status);
  g_assert_cmpuint (status / 100, ==, 2);
  node = json_from_string (answer, NULL);
  fixture->conversation_id =
    json_object_get_int_member (json_node_get_object (node), "conversation_id");

  upload_bob_avatar (fixture, bob_token);

  /* Bob: a plain client. */
  bob_dir = g_build_filename (fixture->data_dir, "bob", NULL);
  fixture->bob = natter_client_new (natter_test_server_get_url (fixture->server), bob_dir);
  g_setenv ("NATTER_TOKEN", bob_token, TRUE);
  natter_client_sign_in_async (fixture->bob, NULL, on_signed_in, &state);
  natter_test_wait_until (state != 0, TIMEOUT_MS);
  g_assert_cmpint (state, ==, 1);
  natter_test_wait_until (connected (fixture->bob), TIMEOUT_MS);

  /* Alice: the app, started as natter --gapplication-service would be:
   * signed in with the kept server and token, no window. */
  settings = g_settings_new (APPLICATION_ID);
  g_settings_set_string (settings, "server-url", natter_test_server_get_url (fixture->server));
  g_settings_set_boolean (settings, "run-in-background", FALSE);
  alice_dir = g_build_filename (fixture->data_dir, "alice", NULL);
  g_setenv ("NATTER_DATA_DIR", alice_dir, TRUE);
  g_setenv ("NATTER_TOKEN", alice_token, TRUE);

  fixture->application = natter_application_new ();
  /* One process runs several applications in turn: none takes the name,
   * and each exports its actions on a path of its own. */
  fixture_count++;
  application_id = g_strdup_printf ("%s.Test%u", APPLICATION_ID, fixture_count);
  g_application_set_application_id (G_APPLICATION (fixture->application), application_id);
  g_application_set_flags (G_APPLICATION (fixture->application),
                           g_application_get_flags (G_APPLICATION (fixture->application)) |
                             G_APPLICATION_NON_UNIQUE);
  g_application_register (G_APPLICATION (fixture->application), NULL, &error);
  g_assert_no_error (error);
  natter_test_wait_until (connected (natter_application_get_client (fixture->application)),
                          TIMEOUT_MS);
  g_unsetenv ("NATTER_TOKEN");
}

static void
on_final_activate (GApplication *application)
{
  g_signal_stop_emission_by_name (application, "activate");
  g_application_quit (application);
}

/* g_application_run () on the registered application, which activates it
 * (here: quits at once) and then shuts it down as at the end of a session. */
static void
end_application_run (GApplication *application)
{
  g_signal_connect (application, "activate", G_CALLBACK (on_final_activate), NULL);
  g_assert_cmpint (g_application_run (application, 0, NULL), ==, 0);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  GList *windows =
    g_list_copy (gtk_application_get_windows (GTK_APPLICATION (fixture->application)));

  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_destroy (l->data);
  g_list_free (windows);

  /* Without the end of a run ("shutdown", then unregistering from D-Bus),
   * GTK's action muxer keeps a reference to the application and the
   * application, its client and its D-Bus objects outlive the test. */
  end_application_run (G_APPLICATION (fixture->application));
  natter_test_wait_until (G_OBJECT (fixture->application)->ref_count == 1, TIMEOUT_MS);
  g_assert_finalize_object (g_steal_pointer (&fixture->application));
  g_clear_object (&fixture->bob);
  g_clear_pointer (&fixture->alice_profile, natter_profile_free);
  g_clear_pointer (&fixture->bob_profile, natter_profile_free);
  natter_test_server_free (fixture->server);
  g_clear_pointer (&fixture->data_dir, g_free);
  natter_test_iterate_until (g_get_monotonic_time () + 100 * 1000);
}

static gboolean
has_prompt (Fixture *fixture, NatterCall *call)
{
  return natter_call_notifier_has_prompt (
    natter_application_get_call_notifier (fixture->application), call);
}

/* Bob calls; returns Alice's ringing call once her app prompts. */
static NatterCall *
ring_alice_with (Fixture *fixture, const char *call_type, NatterCall **out_bob_call)
{
  NatterCallManager *alice_calls =
    get_call_manager (natter_application_get_client (fixture->application));
  g_autoptr (GError) error = NULL;
  NatterCall *alice_call;
  NatterCall *bob_call;

  bob_call =
    natter_call_manager_start_call (get_call_manager (fixture->bob), fixture->alice_profile,
                                    call_type, fixture->conversation_id, &error);
  g_assert_no_error (error);
  g_assert_nonnull (bob_call);
  *out_bob_call = g_object_ref (bob_call);

  natter_test_wait_until (
    g_list_model_get_n_items (natter_call_manager_get_calls (alice_calls)) > 0, TIMEOUT_MS);
  alice_call = g_list_model_get_item (natter_call_manager_get_calls (alice_calls), 0);
  g_assert_true (natter_call_get_incoming (alice_call));

  natter_test_wait_until (has_prompt (fixture, alice_call), TIMEOUT_MS);
  return alice_call;
}

static NatterCall *
ring_alice (Fixture *fixture, NatterCall **out_bob_call)
{
  return ring_alice_with (fixture, "voice", out_bob_call);
}

static void
test_prompt_follows_the_ring (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) first_call = NULL;
  g_autoptr (NatterCall) second_call = NULL;
  g_autoptr (NatterCall) first_ringing = NULL;
  g_autoptr (NatterCall) second_ringing = NULL;

  /* Bob gives up: the prompt goes. */
  first_ringing = ring_alice (fixture, &first_call);
  natter_call_hang_up (first_call);
  natter_test_wait_until (!has_prompt (fixture, first_ringing), TIMEOUT_MS);

  /* Alice declines from the notification's button: Bob hears so. */
  natter_test_wait_until (
    natter_call_manager_get_active_call (get_call_manager (fixture->bob)) == NULL, TIMEOUT_MS);
  second_ringing = ring_alice (fixture, &second_call);
  g_assert_true (first_ringing != second_ringing);
  g_assert_cmpint (natter_call_get_call_log_id (first_ringing), !=,
                   natter_call_get_call_log_id (second_ringing));
  g_action_group_activate_action (
    G_ACTION_GROUP (fixture->application), "decline-call",
    g_variant_new_int64 (natter_call_get_call_log_id (second_ringing)));
  g_assert_false (has_prompt (fixture, second_ringing));

  natter_test_wait_until (natter_call_get_state (second_call) == NATTER_CALL_STATE_ENDED,
                          TIMEOUT_MS);
  g_assert_cmpint (natter_call_get_end_reason (second_call), ==, NATTER_CALL_END_REASON_DECLINED);
}

static GtkWindow *
find_window (NatterApplication *application, GType type)
{
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (application)); l != NULL;
       l = l->next)
    if (G_TYPE_CHECK_INSTANCE_TYPE (l->data, type))
      return l->data;

  return NULL;
}

static NatterCall *
alice_call_with_id (Fixture *fixture, NatterCall *ringing)
{
  NatterCallManager *alice_calls =
    get_call_manager (natter_application_get_client (fixture->application));

  return natter_call_manager_find_call (alice_calls, natter_call_get_call_log_id (ringing));
}

static gboolean
call_started (NatterCall *call)
{
  NatterCallState state = natter_call_get_state (call);

  return state == NATTER_CALL_STATE_CONNECTING || state == NATTER_CALL_STATE_CONNECTED;
}

static void
hang_up_everything (Fixture *fixture, NatterCall *bob_call)
{
  natter_call_hang_up (bob_call);
  natter_test_wait_until (
    natter_call_manager_get_active_call (get_call_manager (fixture->bob)) == NULL &&
      natter_call_manager_get_active_call (
        get_call_manager (natter_application_get_client (fixture->application))) == NULL,
    TIMEOUT_MS);
}

/* The user is in preferences when the call comes: the dialog goes over
 * preferences, and Accept brings the call up in the main window. */
static AdwAvatar *
find_avatar (GtkWidget *widget)
{
  if (ADW_IS_AVATAR (widget))
    return ADW_AVATAR (widget);

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    AdwAvatar *found = find_avatar (child);

    if (found != NULL)
      return found;
  }

  return NULL;
}

static void
test_dialog_over_preferences (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) ringing = NULL;
  GtkWindow *main_window;
  GtkWindow *preferences;
  GtkWindow *dialog;
  NatterCall *alice_call;

  g_application_activate (G_APPLICATION (fixture->application));
  natter_test_wait_until (natter_application_get_main_window (fixture->application) != NULL,
                          TIMEOUT_MS);
  main_window = natter_application_get_main_window (fixture->application);
  natter_test_wait_until (gtk_window_is_active (main_window), TIMEOUT_MS);

  g_action_group_activate_action (G_ACTION_GROUP (fixture->application), "preferences", NULL);
  preferences = find_window (fixture->application, NATTER_TYPE_PREFERENCES_WINDOW);
  g_assert_nonnull (preferences);
  natter_test_wait_until (gtk_window_is_active (preferences), TIMEOUT_MS);
  g_assert_true (gtk_window_is_active (preferences));

  ringing = ring_alice (fixture, &bob_call);
  dialog = find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG);
  g_assert_nonnull (dialog);
  g_assert_true (gtk_window_get_transient_for (dialog) == preferences);
  natter_test_wait_until (gtk_widget_get_mapped (GTK_WIDGET (dialog)), TIMEOUT_MS);

  /* The dialog holds the call and shows Bob's picture, fetched for it. */
  g_assert_true (natter_incoming_call_dialog_get_call (NATTER_INCOMING_CALL_DIALOG (dialog)) ==
                 ringing);
  g_assert_cmpstr (
    natter_incoming_call_dialog_get_caller_name (NATTER_INCOMING_CALL_DIALOG (dialog)), ==,
    "Bob Tesfaye");
  natter_test_wait_until (adw_avatar_get_custom_image (find_avatar (GTK_WIDGET (dialog))) != NULL,
                          TIMEOUT_MS);
  g_assert_nonnull (natter_call_get_avatar (ringing));
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (
                     adw_avatar_get_custom_image (find_avatar (GTK_WIDGET (dialog)))),
                   ==, 32);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dialog), "call.accept", NULL));
  alice_call = alice_call_with_id (fixture, ringing);
  g_assert_nonnull (alice_call);
  natter_test_wait_until (call_started (alice_call), TIMEOUT_MS);
  g_assert_true (call_started (alice_call));
  g_assert_false (has_prompt (fixture, ringing));
  g_assert_null (find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG));

  /* The main window follows the call and shows its overlay. */
  natter_test_wait_until (natter_window_get_call (NATTER_WINDOW (main_window)) == alice_call &&
                            gtk_widget_get_mapped (GTK_WIDGET (
                              natter_window_get_call_overlay (NATTER_WINDOW (main_window)))),
                          TIMEOUT_MS);
  g_assert_true (natter_window_get_call (NATTER_WINDOW (main_window)) == alice_call);
  g_assert_true (gtk_widget_get_mapped (
    GTK_WIDGET (natter_window_get_call_overlay (NATTER_WINDOW (main_window)))));

  hang_up_everything (fixture, bob_call);
  gtk_window_destroy (preferences);
}

/* A video call accepted with video: the overlay's self view shows the
 * camera's frames from the call's own pipeline. */
static void
test_video_call_self_view (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) ringing = NULL;
  NatterCallOverlay *overlay;
  GdkPaintable *self_view;
  GtkWindow *main_window;
  GtkWindow *dialog;
  NatterCall *alice_call;

  g_application_activate (G_APPLICATION (fixture->application));
  natter_test_wait_until (natter_application_get_main_window (fixture->application) != NULL,
                          TIMEOUT_MS);
  main_window = natter_application_get_main_window (fixture->application);
  natter_test_wait_until (gtk_window_is_active (main_window), TIMEOUT_MS);

  ringing = ring_alice_with (fixture, "video", &bob_call);
  dialog = find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG);
  g_assert_nonnull (dialog);
  g_assert_true (gtk_window_get_transient_for (dialog) == main_window);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dialog), "call.accept-video", NULL));

  alice_call = alice_call_with_id (fixture, ringing);
  g_assert_nonnull (alice_call);
  natter_test_wait_until (natter_call_get_state (alice_call) == NATTER_CALL_STATE_CONNECTED,
                          TIMEOUT_MS);
  g_assert_cmpint (natter_call_get_state (alice_call), ==, NATTER_CALL_STATE_CONNECTED);

  overlay = natter_window_get_call_overlay (NATTER_WINDOW (main_window));
  natter_test_wait_until (natter_call_overlay_get_local_video (overlay) != NULL, TIMEOUT_MS);
  self_view = natter_call_overlay_get_local_video (overlay);
  g_assert_nonnull (self_view);
  g_assert_nonnull (
    natter_call_pipeline_get_local_video_sink (natter_call_get_pipeline (alice_call)));
  if (NATTER_IS_VIDEO_PAINTABLE (self_view))
    natter_test_wait_until (
      natter_video_paintable_get_frame_count (NATTER_VIDEO_PAINTABLE (self_view)) > 2, TIMEOUT_MS);
  natter_test_wait_until (gdk_paintable_get_intrinsic_width (self_view) > 0, TIMEOUT_MS);
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (self_view), >, 0);

  hang_up_everything (fixture, bob_call);
}

/* Calls take the devices chosen in preferences. */
static void
test_calls_use_chosen_devices (Fixture *fixture, gconstpointer data)
{
  NatterCallManager *calls =
    get_call_manager (natter_application_get_client (fixture->application));
  GSettings *settings = natter_application_get_settings (fixture->application);
  NatterDevices *devices = natter_call_manager_get_devices (calls);

  g_assert_nonnull (devices);
  g_settings_set_string (settings, "camera", "Test Camera");
  g_settings_set_string (settings, "microphone", "Test Microphone");
  g_assert_cmpstr (natter_devices_get_camera_name (devices), ==, "Test Camera");
  g_assert_cmpstr (natter_devices_get_microphone_name (devices), ==, "Test Microphone");
  g_settings_reset (settings, "camera");
  g_settings_reset (settings, "microphone");
  g_assert_cmpstr (natter_devices_get_camera_name (devices), ==, "");
}

/* The call overlay's devices button offers the same choices as preferences
 * and keeps them in the same settings. */
static void
test_devices_menu_in_call (Fixture *fixture, gconstpointer data)
{
  GSettings *settings = natter_application_get_settings (fixture->application);
  NatterDevices *devices = natter_call_manager_get_devices (
    get_call_manager (natter_application_get_client (fixture->application)));
  NatterCallOverlay *overlay;
  GtkWidget *devices_button;
  GMenuModel *menu;
  GtkWindow *main_window;

  g_application_activate (G_APPLICATION (fixture->application));
  natter_test_wait_until (natter_application_get_main_window (fixture->application) != NULL,
                          TIMEOUT_MS);
  main_window = natter_application_get_main_window (fixture->application);
  overlay = natter_window_get_call_overlay (NATTER_WINDOW (main_window));
  devices_button = GTK_WIDGET (gtk_widget_get_template_child (
    GTK_WIDGET (overlay), NATTER_TYPE_CALL_OVERLAY, "devices_button"));
  g_assert_true (gtk_widget_get_visible (devices_button));
  menu = gtk_menu_button_get_menu_model (GTK_MENU_BUTTON (devices_button));
  g_assert_nonnull (menu);
  /* Microphone, camera, speaker: a choice applies at once, no note needed. */
  g_assert_cmpint (g_menu_model_get_n_items (menu), ==, 3);

  g_assert_true (
    gtk_widget_activate_action (GTK_WIDGET (overlay), "devices.camera", "s", "Test Camera"));
  g_assert_cmpstr (natter_devices_get_camera_name (devices), ==, "Test Camera");
  {
    g_autofree char *camera = g_settings_get_string (settings, "camera");

    g_assert_cmpstr (camera, ==, "Test Camera");
  }
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (overlay), "devices.camera", "s", ""));
  g_assert_cmpstr (natter_devices_get_camera_name (devices), ==, "");
}

/* Outside Flatpak, "Start at login" is an XDG autostart entry that starts
 * Natter hidden. (XDG_CONFIG_HOME is the test's own folder, see main ().) */
static void
test_start_at_login_autostart (Fixture *fixture, gconstpointer data)
{
  GSettings *settings = natter_application_get_settings (fixture->application);
  g_autofree char *path =
    g_build_filename (g_get_user_config_dir (), "autostart", APPLICATION_ID ".desktop", NULL);
  g_autofree char *contents = NULL;

  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_settings_set_boolean (settings, "start-at-login", TRUE);
  natter_test_wait_until (g_file_test (path, G_FILE_TEST_EXISTS), TIMEOUT_MS);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_nonnull (strstr (contents, "\nExec=natter --background\n"));
  g_assert_nonnull (strstr (contents, "\nType=Application\n"));

  g_settings_set_boolean (settings, "start-at-login", FALSE);
  natter_test_wait_until (!g_file_test (path, G_FILE_TEST_EXISTS), TIMEOUT_MS);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

typedef struct {
  guint32 id;
  char *accept_action;
  char *decline_action;
  char *call_back_action;
  guint8 urgency;
} SentNotification;

/* dbusmock hands call arguments over as variants. */
static GVariant *
call_argument (GVariant *args, gsize index)
{
  g_autoptr (GVariant) boxed = g_variant_get_child_value (args, index);

  return g_variant_get_variant (boxed);
}

/* The Notify calls the stand-in daemon got; its ids count up from 1. */
static gboolean
find_sent_notification (const char *summary, SentNotification *out)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) calls = NULL;
  GVariantIter iter;
  const char *method;
  GVariant *args;
  guint32 next_id = 1;
  gboolean found = FALSE;

  reply = g_dbus_connection_call_sync (
    bus, "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
    "org.freedesktop.DBus.Mock", "GetCalls", NULL, G_VARIANT_TYPE ("(a(tsav))"),
    G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  g_assert_nonnull (reply);
  calls = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, calls);
  while (g_variant_iter_next (&iter, "(t&s@av)", NULL, &method, &args)) {
    g_autoptr (GVariant) owned_args = args;
    g_autoptr (GVariant) replaces = NULL;
    g_autoptr (GVariant) title = NULL;
    g_autoptr (GVariant) actions = NULL;
    g_autoptr (GVariant) hints = NULL;
    g_autoptr (GVariant) urgency = NULL;
    g_autofree const char **strv = NULL;
    guint32 id;

    if (!g_str_equal (method, "Notify"))
      continue;

    replaces = call_argument (args, 1);
    id = g_variant_get_uint32 (replaces) != 0 ? g_variant_get_uint32 (replaces) : next_id++;
    title = call_argument (args, 3);
    if (g_strcmp0 (g_variant_get_string (title, NULL), summary) != 0)
      continue;

    g_clear_pointer (&out->accept_action, g_free);
    g_clear_pointer (&out->decline_action, g_free);
    g_clear_pointer (&out->call_back_action, g_free);
    out->id = id;
    actions = call_argument (args, 5);
    strv = g_variant_get_strv (actions, NULL);
    for (guint i = 0; strv[i] != NULL && strv[i + 1] != NULL; i += 2) {
      if (g_str_equal (strv[i + 1], "Accept"))
        out->accept_action = g_strdup (strv[i]);
      else if (g_str_equal (strv[i + 1], "Decline"))
        out->decline_action = g_strdup (strv[i]);
      else if (g_str_equal (strv[i + 1], "Call Back"))
        out->call_back_action = g_strdup (strv[i]);
    }
    hints = call_argument (args, 6);
    urgency = g_variant_lookup_value (hints, "urgency", G_VARIANT_TYPE_BYTE);
    out->urgency = urgency ? g_variant_get_byte (urgency) : 0;
    found = TRUE;
  }

  return found;
}

/* The user presses Accept on the notification: the daemon says so over
 * D-Bus, as a desktop would. */
static void
invoke_notification_action (guint32 id, const char *action)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GVariant) reply = NULL;

  reply = g_dbus_connection_call_sync (
    bus, "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
    "org.freedesktop.DBus.Mock", "EmitSignal",
    g_variant_new (
      "(sss@av)", "org.freedesktop.Notifications", "ActionInvoked", "us",
      g_variant_new_array (G_VARIANT_TYPE_VARIANT,
                           (GVariant *[]){ g_variant_new_variant (g_variant_new_uint32 (id)),
                                           g_variant_new_variant (g_variant_new_string (action)) },
                           2)),
    NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  g_assert_nonnull (reply);
}

static NatterRinger *
alice_ringer (Fixture *fixture)
{
  return natter_call_manager_get_ringer (
    get_call_manager (natter_application_get_client (fixture->application)));
}

/* No window: an urgent notification with Accept and Decline; Accept from the
 * notification starts the call and brings the window up. */
static void
test_accept_from_notification (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) ringing = NULL;
  SentNotification sent = { 0 };
  NatterCall *alice_call;
  GtkWindow *main_window;

  g_assert_null (natter_application_get_main_window (fixture->application));
  ringing = ring_alice (fixture, &bob_call);
  g_assert_null (find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG));
  natter_test_wait_until (find_sent_notification ("Voice call from Bob Tesfaye", &sent),
                          TIMEOUT_MS);
  g_assert_cmpuint (sent.id, >, 0);
  g_assert_cmpuint (sent.urgency, ==, 2);
  g_assert_nonnull (sent.accept_action);
  g_assert_nonnull (sent.decline_action);
  g_assert_cmpint (natter_ringer_get_mode (alice_ringer (fixture)), ==,
                   NATTER_RINGER_MODE_INCOMING);

  invoke_notification_action (sent.id, sent.accept_action);
  alice_call = alice_call_with_id (fixture, ringing);
  g_assert_nonnull (alice_call);
  natter_test_wait_until (call_started (alice_call), TIMEOUT_MS);
  g_assert_true (call_started (alice_call));
  g_assert_false (has_prompt (fixture, ringing));
  g_assert_cmpint (natter_ringer_get_mode (alice_ringer (fixture)), ==, NATTER_RINGER_MODE_NONE);

  natter_test_wait_until (natter_application_get_main_window (fixture->application) != NULL,
                          TIMEOUT_MS);
  main_window = natter_application_get_main_window (fixture->application);
  g_assert_nonnull (main_window);
  natter_test_wait_until (gtk_widget_get_mapped (GTK_WIDGET (main_window)) &&
                            natter_window_get_call (NATTER_WINDOW (main_window)) == alice_call,
                          TIMEOUT_MS);
  g_assert_true (natter_window_get_call (NATTER_WINDOW (main_window)) == alice_call);

  hang_up_everything (fixture, bob_call);
  g_free (sent.accept_action);
  g_free (sent.decline_action);
  g_free (sent.call_back_action);
}

/* Nobody answers (the server's ring timeout is 1 s here): the prompt goes,
 * a missed-call notification comes with "Call Back", and that calls Bob. */
static void
test_missed_call_calls_back (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) ringing = NULL;
  SentNotification sent = { 0 };
  NatterCallManager *alice_calls =
    get_call_manager (natter_application_get_client (fixture->application));
  NatterCall *callback;
  GtkWindow *main_window;

  ringing = ring_alice (fixture, &bob_call);
  natter_test_wait_until (!has_prompt (fixture, ringing), TIMEOUT_MS);
  natter_test_wait_until (find_sent_notification ("Missed call from Bob Tesfaye", &sent),
                          TIMEOUT_MS);
  g_assert_nonnull (sent.call_back_action);
  natter_test_wait_until (natter_call_manager_get_active_call (alice_calls) == NULL &&
                            natter_call_manager_get_active_call (get_call_manager (fixture->bob)) ==
                              NULL,
                          TIMEOUT_MS);

  invoke_notification_action (sent.id, sent.call_back_action);
  natter_test_wait_until (natter_call_manager_get_active_call (alice_calls) != NULL, TIMEOUT_MS);
  callback = natter_call_manager_get_active_call (alice_calls);
  g_assert_false (natter_call_get_incoming (callback));
  g_assert_true (natter_profile_equal (natter_call_get_peer (callback), fixture->bob_profile));
  g_assert_cmpstr (natter_call_get_call_type (callback), ==, "voice");

  /* The window comes up with the call. */
  main_window = natter_application_get_main_window (fixture->application);
  g_assert_nonnull (main_window);
  natter_test_wait_until (natter_window_get_call (NATTER_WINDOW (main_window)) == callback,
                          TIMEOUT_MS);

  natter_call_hang_up (callback);
  natter_test_wait_until (natter_call_manager_get_active_call (alice_calls) == NULL, TIMEOUT_MS);
  g_free (sent.accept_action);
  g_free (sent.decline_action);
  g_free (sent.call_back_action);
}

/* A message while Natter runs in the background: a notification with the
 * sender, whose default action opens the window on the conversation. */
static void
test_message_notification_opens_conversation (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  SentNotification sent = { 0 };
  GtkWindow *main_window;

  g_assert_null (natter_application_get_main_window (fixture->application));
  id =
    natter_client_send_message (fixture->bob, fixture->conversation_id, "Are you there?", &error);
  g_assert_no_error (error);
  natter_test_wait_until (find_sent_notification ("Bob Tesfaye", &sent), TIMEOUT_MS);
  g_assert_cmpuint (sent.id, >, 0);

  invoke_notification_action (sent.id, "default");
  natter_test_wait_until (natter_application_get_main_window (fixture->application) != NULL,
                          TIMEOUT_MS);
  main_window = natter_application_get_main_window (fixture->application);
  natter_test_wait_until (natter_window_get_open_conversation_id (NATTER_WINDOW (main_window)) ==
                            fixture->conversation_id,
                          TIMEOUT_MS);
  g_assert_cmpint (natter_window_get_open_conversation_id (NATTER_WINDOW (main_window)), ==,
                   fixture->conversation_id);
  g_free (sent.accept_action);
  g_free (sent.decline_action);
  g_free (sent.call_back_action);
}

static void
on_message_arrived (NatterClient *client, const NatterMessage *message, gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
}

/* Issue 20: closing the last window while Natter runs in the background
 * destroys the window and its views, the message list they read with them;
 * the connection and the call manager stay, and a call still rings. */
static void
test_closing_window_frees_views (Fixture *fixture, gconstpointer data)
{
  NatterClient *client = natter_application_get_client (fixture->application);
  NatterCallManager *call_manager = get_call_manager (client);
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) ringing = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  GtkWindow *window;
  NatterChatView *chat_view;
  GListModel *messages;
  gboolean arrived = FALSE;

  g_settings_set_boolean (natter_application_get_settings (fixture->application),
                          "run-in-background", TRUE);
  g_signal_connect (client, "message-received", G_CALLBACK (on_message_arrived), &arrived);
  id = natter_client_send_message (fixture->bob, fixture->conversation_id, "Still there?", &error);
  g_assert_no_error (error);
  natter_test_wait_until (arrived, TIMEOUT_MS);
  g_signal_handlers_disconnect_by_func (client, on_message_arrived, &arrived);
  g_action_group_activate_action (G_ACTION_GROUP (fixture->application), "open-conversation",
                                  g_variant_new_int64 (fixture->conversation_id));
  natter_test_wait_until (natter_application_get_main_window (fixture->application) != NULL,
                          TIMEOUT_MS);
  window = natter_application_get_main_window (fixture->application);
  natter_test_wait_until (natter_window_get_open_conversation_id (NATTER_WINDOW (window)) ==
                            fixture->conversation_id,
                          TIMEOUT_MS);
  chat_view = natter_window_get_chat_view (NATTER_WINDOW (window));
  natter_test_wait_until (natter_chat_view_get_messages (chat_view) != NULL &&
                            g_list_model_get_n_items (natter_chat_view_get_messages (chat_view)) >
                              0,
                          TIMEOUT_MS);
  messages = natter_chat_view_get_messages (chat_view);
  natter_test_wait_until (gtk_widget_get_mapped (GTK_WIDGET (window)), TIMEOUT_MS);
  g_object_add_weak_pointer (G_OBJECT (window), (gpointer *) &window);
  g_object_add_weak_pointer (G_OBJECT (chat_view), (gpointer *) &chat_view);
  g_object_add_weak_pointer (G_OBJECT (messages), (gpointer *) &messages);

  gtk_window_close (window);
  natter_test_wait_until (window == NULL && chat_view == NULL && messages == NULL, TIMEOUT_MS);
  g_assert_null (window);
  g_assert_null (chat_view);
  g_assert_null (messages);
  g_assert_true (natter_application_get_client (fixture->application) == client);
  g_assert_true (get_call_manager (client) == call_manager);
  g_assert_true (connected (client));

  ringing = ring_alice (fixture, &bob_call);
  g_assert_cmpint (natter_call_get_state (ringing), ==, NATTER_CALL_STATE_RINGING_INCOMING);
  natter_call_hang_up (bob_call);
  natter_test_wait_until (!has_prompt (fixture, ringing), TIMEOUT_MS);
}

/* Issue 20: the device monitor (it probes every device provider) waits
 * for a call, or preferences, to need the lists. */
static void
test_devices_wait_for_a_call (Fixture *fixture, gconstpointer data)
{
  NatterCallManager *call_manager =
    get_call_manager (natter_application_get_client (fixture->application));
  NatterDevices *devices = natter_call_manager_get_devices (call_manager);
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) ringing = NULL;

  g_assert_nonnull (devices);
  g_assert_false (natter_devices_get_started (devices));

  ringing = ring_alice (fixture, &bob_call);
  g_assert_true (natter_devices_get_started (devices));
  natter_call_hang_up (bob_call);
  natter_test_wait_until (!has_prompt (fixture, ringing), TIMEOUT_MS);
}

/* Someone new writes while Natter runs in the background: the conversation
 * is not in Alice's list yet when the notification comes, and its default
 * action still opens it. */
static void
test_new_conversation_notification_opens_it (Fixture *fixture, gconstpointer data)
{
  g_autofree char *carol_token = NULL;
  g_autofree char *carol_dir = g_build_filename (fixture->data_dir, "carol", NULL);
  g_autofree char *path = NULL;
  g_autofree char *body = NULL;
  g_autofree char *answer = NULL;
  g_autofree char *id = NULL;
  g_autoptr (NatterProfile) carol_profile = NULL;
  g_autoptr (NatterUser) carol_user = NULL;
  g_autoptr (NatterClient) carol = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (GError) error = NULL;
  SentNotification sent = { 0 };
  GtkWindow *main_window;
  gint64 conversation_id;
  guint status = 0;
  int state = 0;

  carol_user = natter_test_server_register (fixture->server, "carol@example.org", "Carol Haile",
                                            "parent", &carol_token, &carol_profile);
  path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/conversations",
                          carol_profile->profile_id, carol_profile->profile_type);
  body =
    g_strdup_printf ("{\"with\":[{\"profile_id\":%" G_GINT64_FORMAT ",\"profile_type\":\"%s\"}]}",
                     fixture->alice_profile->profile_id, fixture->alice_profile->profile_type);
  answer = natter_test_http (fixture->server, "POST", path, carol_token, body, &status);
  g_assert_cmpuint (status / 100, ==, 2);
  node = json_from_string (answer, NULL);
  conversation_id = json_object_get_int_member (json_node_get_object (node), "conversation_id");
  g_assert_cmpint (conversation_id, !=, fixture->conversation_id);

  carol = natter_client_new (natter_test_server_get_url (fixture->server), carol_dir);
  g_setenv ("NATTER_TOKEN", carol_token, TRUE);
  natter_client_sign_in_async (carol, NULL, on_signed_in, &state);
  natter_test_wait_until (state != 0, TIMEOUT_MS);
  g_unsetenv ("NATTER_TOKEN");
  g_assert_cmpint (state, ==, 1);
  natter_test_wait_until (connected (carol), TIMEOUT_MS);

  id = natter_client_send_message (carol, conversation_id, "Hello, I'm Meron's mother", &error);
  g_assert_no_error (error);
  natter_test_wait_until (find_sent_notification ("Carol Haile", &sent), TIMEOUT_MS);

  invoke_notification_action (sent.id, "default");
  natter_test_wait_until (natter_application_get_main_window (fixture->application) != NULL,
                          TIMEOUT_MS);
  main_window = natter_application_get_main_window (fixture->application);
  natter_test_wait_until (natter_window_get_open_conversation_id (NATTER_WINDOW (main_window)) ==
                            conversation_id,
                          TIMEOUT_MS);
  g_assert_cmpint (natter_window_get_open_conversation_id (NATTER_WINDOW (main_window)), ==,
                   conversation_id);
  g_free (sent.accept_action);
  g_free (sent.decline_action);
  g_free (sent.call_back_action);
}

static void
on_service_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  char **line = user_data;

  *line =
    g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, NULL);
  if (*line == NULL)
    *line = g_strdup ("");
}

/* Whether the process has a GL or Vulkan driver mapped (Mesa's, any). */
static gboolean
maps_gl_driver (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/maps", (int) pid);
  g_autofree char *maps = NULL;

  g_assert_true (g_file_get_contents (path, &maps, NULL, NULL));
  return strstr (maps, "_dri.so") != NULL || strstr (maps, "libEGL_") != NULL ||
         strstr (maps, "libGLX_") != NULL || strstr (maps, "libvulkan") != NULL ||
         strstr (maps, "libLLVM") != NULL;
}

/* The real natter binary, started as at login (natter --background): it
 * signs in with no window and without GL (issue 20: the driver alone is
 * most of its memory), and a call rings it through a notification.
 * NATTER_BENCH_TIMING would print a line when a window paints: none does. */
static void
test_service_starts_hidden_and_rings (Fixture *fixture, gconstpointer data)
{
  g_autofree char *natter = natter_test_top_build_filename ("src", "app", "natter", NULL);
  g_autofree char *dawit_dir = g_build_filename (fixture->data_dir, "dawit", NULL);
  g_autofree char *dawit_token = NULL;
  g_autofree char *line = NULL;
  g_autoptr (NatterProfile) dawit_profile = NULL;
  g_autoptr (NatterUser) dawit = NULL;
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr (GSubprocess) service = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *object_path = g_strdelimit (g_strconcat ("/", APPLICATION_ID, NULL), ".", '/');
  SentNotification sent = { 0 };
  g_autoptr (NatterCall) bob_call = NULL;
  gint64 deadline;
  NatterCallManager *bob_calls = get_call_manager (fixture->bob);

  dawit = natter_test_server_register (fixture->server, "dawit@example.org", "Dawit Alemu",
                                       "student", &dawit_token, &dawit_profile);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN", dawit_token, TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_DATA_DIR", dawit_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_BENCH_TIMING", "1", TRUE);
  /* The sanitizer run sets cairo; a user's GSK_RENDERER=gl would keep GL. */
  g_subprocess_launcher_unsetenv (launcher, "GSK_RENDERER");
  service = g_subprocess_launcher_spawn (launcher, &error, natter, "--background", "--server",
                                         natter_test_server_get_url (fixture->server), NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (service));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, cancellable, on_service_line,
                                       &line);

  /* Online without a window: Bob's call reaches it and it rings. Until
   * it has signed in, the server answers "unavailable": call again. */
  deadline = g_get_monotonic_time () + (gint64) natter_test_scale_ms (TIMEOUT_MS) * 1000;
  for (;;) {
    g_clear_object (&bob_call);
    bob_call = natter_call_manager_start_call (bob_calls, dawit_profile, "voice", 0, &error);
    g_assert_no_error (error);
    g_assert_nonnull (bob_call);
    g_object_ref (bob_call); /* the manager drops it when it ends */
    natter_test_wait_until (natter_call_get_peer_ringing (bob_call) ||
                              natter_call_get_state (bob_call) == NATTER_CALL_STATE_ENDED,
                            TIMEOUT_MS);
    if (natter_call_get_peer_ringing (bob_call))
      break;
    natter_test_wait_until (natter_call_manager_get_active_call (bob_calls) == NULL, TIMEOUT_MS);
    g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    natter_test_iterate_until (g_get_monotonic_time () + 200 * 1000);
  }
  natter_test_wait_until (find_sent_notification ("Voice call from Bob Tesfaye", &sent),
                          TIMEOUT_MS);
  g_assert_cmpuint (sent.urgency, ==, 2);
  g_assert_null (line);
  g_assert_false (
    maps_gl_driver ((GPid) g_ascii_strtoll (g_subprocess_get_identifier (service), NULL, 10)));

  natter_call_hang_up (bob_call);
  natter_test_wait_until (natter_call_manager_get_active_call (bob_calls) == NULL, TIMEOUT_MS);

  /* Quit as the menu does; still no window painted. */
  reply = g_dbus_connection_call_sync (bus, APPLICATION_ID, object_path, "org.gtk.Actions",
                                       "Activate", g_variant_new ("(sava{sv})", "quit", NULL, NULL),
                                       NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait (service, NULL, &error));
  g_assert_no_error (error);
  natter_test_wait_until (line != NULL, TIMEOUT_MS);
  g_assert_cmpstr (line, ==, "");
  g_free (sent.accept_action);
  g_free (sent.decline_action);
  g_free (sent.call_back_action);
}

/* The caller gives up while the notification is up: it goes, and so does
 * the ringtone. */
static void
test_caller_cancels (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) ringing = NULL;

  ringing = ring_alice (fixture, &bob_call);
  g_assert_null (find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG));
  natter_test_wait_until (
    natter_ringer_get_mode (alice_ringer (fixture)) == NATTER_RINGER_MODE_INCOMING, TIMEOUT_MS);
  g_assert_cmpint (natter_ringer_get_mode (alice_ringer (fixture)), ==,
                   NATTER_RINGER_MODE_INCOMING);

  natter_call_hang_up (bob_call);
  natter_test_wait_until (!has_prompt (fixture, ringing) && natter_ringer_get_mode (alice_ringer (
                                                              fixture)) == NATTER_RINGER_MODE_NONE,
                          TIMEOUT_MS);
  g_assert_false (has_prompt (fixture, ringing));
  g_assert_cmpint (natter_ringer_get_mode (alice_ringer (fixture)), ==, NATTER_RINGER_MODE_NONE);
  g_assert_false (natter_ringer_get_playing (alice_ringer (fixture)));
}

static gboolean
list_has_text (GListModel *messages, const char *text)
{
  guint n = messages ? g_list_model_get_n_items (messages) : 0;

  for (guint i = 0; i < n; i++) {
    g_autoptr (NatterMessageItem) item = g_list_model_get_item (messages, i);

    if (g_strcmp0 (natter_message_item_get_text (item), text) == 0)
      return TRUE;
  }

  return FALSE;
}

/* What the other side sends shows up in the open conversation. */
static void
test_message_appears_in_open_conversation (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  GtkWindow *main_window;
  GListModel *messages;

  g_application_activate (G_APPLICATION (fixture->application));
  natter_test_wait_until (natter_application_get_main_window (fixture->application) != NULL,
                          TIMEOUT_MS);
  main_window = natter_application_get_main_window (fixture->application);
  natter_test_wait_until (
    natter_window_open_conversation (NATTER_WINDOW (main_window), fixture->conversation_id),
    TIMEOUT_MS);
  g_assert_cmpint (natter_window_get_open_conversation_id (NATTER_WINDOW (main_window)), ==,
                   fixture->conversation_id);
  messages =
    natter_chat_view_get_messages (natter_window_get_chat_view (NATTER_WINDOW (main_window)));
  g_assert_nonnull (messages);
  g_assert_false (list_has_text (messages, "Hello from Bob"));

  id =
    natter_client_send_message (fixture->bob, fixture->conversation_id, "Hello from Bob", &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);
  natter_test_wait_until (list_has_text (messages, "Hello from Bob"), TIMEOUT_MS);
  g_assert_true (list_has_text (messages, "Hello from Bob"));
}

/* The Inhibit and Uninhibit calls the session manager stand-in got, in
 * order, as (method, arguments) pairs. */
static GVariant *
session_manager_calls (void)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GVariant) reply = NULL;

  reply = g_dbus_connection_call_sync (
    bus, "org.gnome.SessionManager", "/org/gnome/SessionManager", "org.freedesktop.DBus.Mock",
    "GetCalls", NULL, G_VARIANT_TYPE ("(a(tsav))"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  g_assert_nonnull (reply);
  return g_variant_get_child_value (reply, 0);
}

static guint
count_session_manager_calls (const char *method)
{
  g_autoptr (GVariant) calls = session_manager_calls ();
  GVariantIter iter;
  const char *name;
  guint n = 0;

  g_variant_iter_init (&iter, calls);
  while (g_variant_iter_next (&iter, "(t&s@av)", NULL, &name, NULL))
    if (g_str_equal (name, method))
      n++;

  return n;
}

/* The arguments of the first call of @method, or NULL. */
static GVariant *
session_manager_call_args (const char *method)
{
  g_autoptr (GVariant) calls = session_manager_calls ();
  GVariantIter iter;
  const char *name;
  GVariant *args;

  g_variant_iter_init (&iter, calls);
  while (g_variant_iter_next (&iter, "(t&s@av)", NULL, &name, &args)) {
    if (g_str_equal (name, method))
      return args;
    g_variant_unref (args);
  }

  return NULL;
}

static void
clear_session_manager_calls (void)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GVariant) reply = NULL;

  reply = g_dbus_connection_call_sync (bus, "org.gnome.SessionManager", "/org/gnome/SessionManager",
                                       "org.freedesktop.DBus.Mock", "ClearCalls", NULL, NULL,
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  g_assert_nonnull (reply);
}

/* While a call is going on the session may neither idle nor suspend: GTK
 * asks org.gnome.SessionManager (the stand-in here) and the app gives the
 * cookie back when the call ends. */
static void
test_call_inhibits_idle_and_suspend (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (GVariant) inhibit = NULL;
  g_autoptr (GVariant) uninhibit = NULL;
  g_autoptr (GVariant) app_id = NULL;
  g_autoptr (GVariant) toplevel = NULL;
  g_autoptr (GVariant) reason = NULL;
  g_autoptr (GVariant) flags = NULL;
  g_autoptr (GVariant) cookie = NULL;
  g_autoptr (NatterCall) ringing = NULL;
  GtkWindow *main_window;
  GtkWindow *dialog;
  NatterCall *alice_call;

  g_application_activate (G_APPLICATION (fixture->application));
  natter_test_wait_until (natter_application_get_main_window (fixture->application) != NULL,
                          TIMEOUT_MS);
  main_window = natter_application_get_main_window (fixture->application);
  natter_test_wait_until (gtk_window_is_active (main_window), TIMEOUT_MS);
  clear_session_manager_calls ();

  /* Ringing alone inhibits nothing. */
  ringing = ring_alice (fixture, &bob_call);
  g_assert_cmpuint (count_session_manager_calls ("Inhibit"), ==, 0);

  dialog = find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG);
  g_assert_nonnull (dialog);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dialog), "call.accept", NULL));
  alice_call = alice_call_with_id (fixture, ringing);
  g_assert_nonnull (alice_call);
  natter_test_wait_until (natter_call_get_state (alice_call) == NATTER_CALL_STATE_CONNECTED,
                          TIMEOUT_MS);
  g_assert_cmpint (natter_call_get_state (alice_call), ==, NATTER_CALL_STATE_CONNECTED);

  /* Once, for idle and suspend, on behalf of the main window. */
  g_assert_cmpuint (count_session_manager_calls ("Inhibit"), ==, 1);
  inhibit = session_manager_call_args ("Inhibit");
  g_assert_nonnull (inhibit);
  g_assert_cmpuint (g_variant_n_children (inhibit), ==, 4);
  app_id = call_argument (inhibit, 0);
  g_assert_cmpstr (g_variant_get_string (app_id, NULL), ==,
                   g_application_get_application_id (G_APPLICATION (fixture->application)));
  toplevel = call_argument (inhibit, 1);
  g_assert_cmpuint (g_variant_get_uint32 (toplevel), !=, 0);
  reason = call_argument (inhibit, 2);
  g_assert_cmpstr (g_variant_get_string (reason, NULL), ==, "A call is in progress");
  flags = call_argument (inhibit, 3);
  g_assert_cmpuint (g_variant_get_uint32 (flags), ==,
                    GTK_APPLICATION_INHIBIT_IDLE | GTK_APPLICATION_INHIBIT_SUSPEND);
  g_assert_cmpuint (count_session_manager_calls ("Uninhibit"), ==, 0);

  /* The call ends: the same cookie goes back, once. */
  hang_up_everything (fixture, bob_call);
  natter_test_wait_until (count_session_manager_calls ("Uninhibit") > 0, TIMEOUT_MS);
  g_assert_cmpuint (count_session_manager_calls ("Uninhibit"), ==, 1);
  uninhibit = session_manager_call_args ("Uninhibit");
  g_assert_nonnull (uninhibit);
  cookie = call_argument (uninhibit, 0);
  g_assert_cmpuint (g_variant_get_uint32 (cookie), ==, SESSION_MANAGER_COOKIE);
  g_assert_cmpuint (count_session_manager_calls ("Inhibit"), ==, 1);
}

/* On a bare window manager no notification server runs: with the window
 * closed the incoming call shows a window of its own, and answering it
 * works; the caller is not left ringing into nothing. Runs in a process
 * of its own that starts no notification server stand-in
 * (NATTER_TEST_NO_NOTIFICATION_SERVER=1, the app-incoming-call-bare test). */
static void
test_rings_without_notification_server (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) ringing = NULL;
  NatterIncomingCallDialog *dialog;
  NatterCall *alice_call;

  if (g_getenv ("NATTER_TEST_NO_NOTIFICATION_SERVER") == NULL) {
    g_test_skip ("needs a session bus without a notification server");
    return;
  }
  g_assert_null (natter_application_get_main_window (fixture->application));
  ringing = ring_alice (fixture, &bob_call);
  natter_test_wait_until (
    find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG) != NULL, TIMEOUT_MS);
  dialog = NATTER_INCOMING_CALL_DIALOG (
    find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG));
  g_assert_nonnull (dialog);
  natter_test_wait_until (gtk_widget_get_mapped (GTK_WIDGET (dialog)), TIMEOUT_MS);
  g_assert_cmpstr (natter_incoming_call_dialog_get_caller_name (dialog), ==, "Bob Tesfaye");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dialog), "call.accept", NULL));
  alice_call = alice_call_with_id (fixture, ringing);
  g_assert_nonnull (alice_call);
  natter_test_wait_until (call_started (alice_call), TIMEOUT_MS);
  g_assert_true (call_started (alice_call));

  hang_up_everything (fixture, bob_call);
}

/* A stand-in for GNOME's session manager, for GtkApplication's Inhibit and
 * Uninhibit. GTK looks for it when an application starts up and only then,
 * so it must be on the bus before the first application registers. Outside
 * a sandbox GTK 4.8 asks it rather than the Inhibit portal (the portal only
 * with GDK_DEBUG=portals; 4.8 has no "no-portals" key). */
static GSubprocess *
start_session_manager (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *inhibit_code = NULL;
  GSubprocess *manager;
  gint64 deadline;

  manager = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, "/usr/bin/python3", "-m",
                              "dbusmock", "org.gnome.SessionManager", "/org/gnome/SessionManager",
                              "org.gnome.SessionManager", NULL);
  g_assert_no_error (error);

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);
  deadline = g_get_monotonic_time () + (gint64) natter_test_scale_ms (TIMEOUT_MS) * 1000;
  for (;;) {
    g_autoptr (GVariant) owner = g_dbus_connection_call_sync (
      bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
      g_variant_new ("(s)", "org.gnome.SessionManager"), G_VARIANT_TYPE ("(b)"),
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
    gboolean owned = FALSE;

    if (owner != NULL)
      g_variant_get (owner, "(b)", &owned);
    if (owned)
      break;
    if (g_get_monotonic_time () > deadline)
      g_error ("the session manager stand-in did not start");
    g_usleep (50 * 1000);
  }

  inhibit_code = g_strdup_printf ("ret = %u", SESSION_MANAGER_COOKIE);
  reply = g_dbus_connection_call_sync (
    bus, "org.gnome.SessionManager", "/org/gnome/SessionManager", "org.freedesktop.DBus.Mock",
    "AddMethod", g_variant_new ("(sssss)", "", "Inhibit", "susu", "u", inhibit_code), NULL,
    G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);
  reply = g_dbus_connection_call_sync (bus, "org.gnome.SessionManager", "/org/gnome/SessionManager",
                                       "org.freedesktop.DBus.Mock", "AddMethod",
                                       g_variant_new ("(sssss)", "", "Uninhibit", "u", "", ""),
                                       NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);
  reply = g_dbus_connection_call_sync (
    bus, "org.gnome.SessionManager", "/org/gnome/SessionManager", "org.freedesktop.DBus.Mock",
    "AddMethod", g_variant_new ("(sssss)", "", "IsInhibited", "u", "b", "ret = False"), NULL,
    G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);

  return manager;
}

int
main (int argc, char *argv[])
{
  static const char *const short_ring[] = { "--ring-timeout", "1", NULL };
  /* Calls an offline service again and again until it is up: more than
   * the server's 10 invitations a minute. */
  static const char *const many_invitations[] = { "--call-invitations-per-minute", "1000", NULL };
  g_autoptr (GSubprocess) notification_daemon = NULL;
  g_autoptr (GSubprocess) session_manager = NULL;
  g_autofree char *config_dir = g_dir_make_tmp ("natter-app-config-XXXXXX", NULL);
  g_autofree char *autostart_dir = g_build_filename (config_dir, "autostart", NULL);
  int status;

  /* Before GLib reads it: autostart entries go to a folder of the test's. */
  g_setenv ("XDG_CONFIG_HOME", config_dir, TRUE);

  gtk_test_init (&argc, &argv, NULL);
  natter_test_log_allow_gst_sort_warning ();
  adw_init ();
  gst_init (NULL, NULL);

  /* No devices here: test sources and sinks. */
  g_setenv ("NATTER_AUDIO_SRC", "audiotestsrc is-live=true wave=silence", FALSE);
  g_setenv ("NATTER_AUDIO_SINK", "fakesink", FALSE);
  g_setenv ("NATTER_VIDEO_SRC", "videotestsrc is-live=true", FALSE);

  g_test_add ("/natter/app/incoming-call/prompt-follows-the-ring", Fixture, NULL, fixture_set_up,
              test_prompt_follows_the_ring, fixture_tear_down);
  g_test_add ("/natter/app/incoming-call/dialog-over-preferences", Fixture, NULL, fixture_set_up,
              test_dialog_over_preferences, fixture_tear_down);
  g_test_add ("/natter/app/incoming-call/video-call-self-view", Fixture, NULL, fixture_set_up,
              test_video_call_self_view, fixture_tear_down);
  g_test_add ("/natter/app/calls/use-chosen-devices", Fixture, NULL, fixture_set_up,
              test_calls_use_chosen_devices, fixture_tear_down);
  g_test_add ("/natter/app/calls/devices-menu-in-call", Fixture, NULL, fixture_set_up,
              test_devices_menu_in_call, fixture_tear_down);
  g_test_add ("/natter/app/incoming-call/accept-from-notification", Fixture, NULL, fixture_set_up,
              test_accept_from_notification, fixture_tear_down);
  g_test_add ("/natter/app/incoming-call/missed-call-calls-back", Fixture, short_ring,
              fixture_set_up, test_missed_call_calls_back, fixture_tear_down);
  g_test_add ("/natter/app/notifications/message-opens-conversation", Fixture, NULL, fixture_set_up,
              test_message_notification_opens_conversation, fixture_tear_down);
  g_test_add ("/natter/app/notifications/new-conversation-opens-it", Fixture, NULL, fixture_set_up,
              test_new_conversation_notification_opens_it, fixture_tear_down);
  g_test_add ("/natter/app/background/start-at-login-autostart", Fixture, NULL, fixture_set_up,
              test_start_at_login_autostart, fixture_tear_down);
  g_test_add ("/natter/app/background/closing-window-frees-views", Fixture, NULL, fixture_set_up,
              test_closing_window_frees_views, fixture_tear_down);
  g_test_add ("/natter/app/background/devices-wait-for-a-call", Fixture, NULL, fixture_set_up,
              test_devices_wait_for_a_call, fixture_tear_down);
  g_test_add ("/natter/app/background/service-starts-hidden-and-rings", Fixture, many_invitations,
              fixture_set_up, test_service_starts_hidden_and_rings, fixture_tear_down);
  g_test_add ("/natter/app/incoming-call/caller-cancels", Fixture, NULL, fixture_set_up,
              test_caller_cancels, fixture_tear_down);
  g_test_add ("/natter/app/calls/inhibit-idle-and-suspend", Fixture, NULL, fixture_set_up,
              test_call_inhibits_idle_and_suspend, fixture_tear_down);
  g_test_add ("/natter/app/incoming-call/rings-without-notification-server", Fixture, NULL,
              fixture_set_up, test_rings_without_notification_server, fixture_tear_down);
  g_test_add ("/natter/app/chat/message-appears-in-open-conversation", Fixture, NULL,
              fixture_set_up, test_message_appears_in_open_conversation, fixture_tear_down);

  if (g_getenv ("NATTER_TEST_NO_NOTIFICATION_SERVER") == NULL)
    notification_daemon = natter_test_start_notification_server ();
  session_manager = start_session_manager ();
  status = g_test_run ();
  g_subprocess_force_exit (session_manager);
  if (notification_daemon != NULL)
    g_subprocess_force_exit (notification_daemon);
  g_rmdir (autostart_dir);
  g_rmdir (config_dir);

  return status;
}
