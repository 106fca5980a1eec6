/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app-window"

#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>
#include <gst/gst.h>

#include "natter-application.h"
#include "natter-call-manager.h"
#include "natter-call-overlay.h"
#include "natter-http-body.h"
#include "natter-conversation-row.h"
#include "natter-incoming-call-dialog.h"
#include "natter-preferences-window.h"
#include "natter-sign-in-window.h"
#include "natter-test-log.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "natter-window.h"

/* The main window and the application as a person meets them, against a
 * real natter-server, with Bob (a plain client) on the other side: what
 * the sidebar draws after a burst of messages, what Enter does on an
 * incoming call, what a call's end looks like, sign-out and sign-in,
 * profiles, and which events notify. Warnings are fatal (tests/meson.build):
 * a "snapshot without a current allocation" fails the test. Screenshots go
 * to <build>/screenshots. */

#define TIMEOUT_MS 15000

typedef struct {
  NatterTestServer *server;
  char *data_dir;
  char *shots_dir;
  char *alice_token;
  char *bob_token;
  NatterProfile *alice_profile;
  NatterProfile *bob_profile;
  gint64 conversation_id;
  NatterClient *bob;
  NatterApplication *application;
} Fixture;

static void clear_notifications (void);
static NatterCall *accepted_call_from_bob (Fixture *fixture, NatterCall **out_bob_call);
static guint count_notifications (const char *summary);
static char *last_notification_body (const char *summary);

static const char *const fast_chat[] = { "--chat-rate", "1000", "--chat-burst", "1000", NULL };

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

static NatterClient *
signed_in_client (Fixture *fixture, const char *name, const char *token)
{
  g_autofree char *dir = g_build_filename (fixture->data_dir, name, NULL);

  return natter_test_client_new_signed_in (natter_test_server_get_url (fixture->server), dir, token,
                                           TIMEOUT_MS);
}

/* Alice's NatterApplication, started with her kept server and token, as
 * `natter` is. One process runs several in turn: none takes the bus name. */
static NatterApplication *
start_application (Fixture *fixture, const char *data_dir_name, const char *token)
{
  static guint count;
  g_autofree char *dir = g_build_filename (fixture->data_dir, data_dir_name, NULL);
  g_autofree char *application_id = g_strdup_printf ("%s.WindowTest%u", APPLICATION_ID, ++count);
  g_autoptr (GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autoptr (GError) error = NULL;
  NatterApplication *application;

  g_settings_set_string (settings, "server-url", natter_test_server_get_url (fixture->server));
  g_settings_set_boolean (settings, "run-in-background", FALSE);
  g_setenv ("NATTER_DATA_DIR", dir, TRUE);
  if (token != NULL)
    g_setenv ("NATTER_TOKEN", token, TRUE);

  application = natter_application_new ();
  g_application_set_application_id (G_APPLICATION (application), application_id);
  g_application_set_flags (G_APPLICATION (application),
                           g_application_get_flags (G_APPLICATION (application)) |
                             G_APPLICATION_NON_UNIQUE);
  g_application_register (G_APPLICATION (application), NULL, &error);
  g_assert_no_error (error);
  if (token != NULL) {
    natter_test_wait_until (connected (natter_application_get_client (application)), TIMEOUT_MS);
    g_unsetenv ("NATTER_TOKEN");
  }

  return application;
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterUser) alice = NULL;
  g_autoptr (NatterUser) bob = NULL;

  fixture->server = natter_test_server_new (data ? data : fast_chat);
  fixture->data_dir = g_dir_make_tmp ("natter-app-window-XXXXXX", NULL);
  fixture->shots_dir = natter_test_top_build_filename ("screenshots", NULL);
  g_mkdir_with_parents (fixture->shots_dir, 0755);

  alice = natter_test_server_register (fixture->server, "alice@example.org", "Alice Kebede",
                                       "tutor", &fixture->alice_token, &fixture->alice_profile);
  bob = natter_test_server_register (fixture->server, "bob@example.org", "Bob Tesfaye", "student",
                                     &fixture->bob_token, &fixture->bob_profile);
  g_assert_nonnull (alice);
  g_assert_nonnull (bob);
  fixture->conversation_id = natter_test_server_create_conversation (
    fixture->server, fixture->bob_token, fixture->bob_profile, fixture->alice_profile);
  fixture->bob = signed_in_client (fixture, "bob", fixture->bob_token);
  clear_notifications ();
}

static void
on_final_activate (GApplication *application)
{
  g_signal_stop_emission_by_name (application, "activate");
  g_application_quit (application);
}

/* The end of a session: "shutdown", then the application is released. */
static void
stop_application (NatterApplication **application)
{
  GList *windows;

  if (*application == NULL)
    return;

  windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (*application)));
  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_destroy (l->data);
  g_list_free (windows);

  g_signal_connect (*application, "activate", G_CALLBACK (on_final_activate), NULL);
  g_assert_cmpint (g_application_run (G_APPLICATION (*application), 0, NULL), ==, 0);
  natter_test_wait_until (G_OBJECT (*application)->ref_count == 1, TIMEOUT_MS);
  g_assert_finalize_object (g_steal_pointer (application));
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  stop_application (&fixture->application);
  g_clear_object (&fixture->bob);
  g_clear_pointer (&fixture->alice_profile, natter_profile_free);
  g_clear_pointer (&fixture->bob_profile, natter_profile_free);
  natter_test_server_free (fixture->server);
  natter_test_remove_tree (fixture->data_dir);
  g_clear_pointer (&fixture->data_dir, g_free);
  g_clear_pointer (&fixture->shots_dir, g_free);
  g_clear_pointer (&fixture->alice_token, g_free);
  g_clear_pointer (&fixture->bob_token, g_free);
  natter_test_iterate_until (g_get_monotonic_time () + 100 * 1000);
}

static NatterWindow *
open_main_window (Fixture *fixture)
{
  GtkWindow *window;

  g_application_activate (G_APPLICATION (fixture->application));
  natter_test_wait_until (natter_application_get_main_window (fixture->application) != NULL,
                          TIMEOUT_MS);
  window = natter_application_get_main_window (fixture->application);
  gtk_window_set_default_size (window, 1000, 700);
  natter_test_wait_until (
    gtk_widget_get_mapped (GTK_WIDGET (window)) && gtk_window_is_active (window), TIMEOUT_MS);
  return NATTER_WINDOW (window);
}

static void
on_after_paint (GdkFrameClock *clock, int *frames)
{
  (*frames)++;
}

/* Waits until @widget's window has drawn a few frames of what it shows. */
static void
settle (GtkWidget *widget)
{
  GdkFrameClock *clock;
  int frames = 0;
  gulong handler;

  natter_test_wait_until (gtk_widget_get_mapped (widget), TIMEOUT_MS);
  clock = gtk_widget_get_frame_clock (widget);
  g_assert_nonnull (clock);
  handler = g_signal_connect (clock, "after-paint", G_CALLBACK (on_after_paint), &frames);
  natter_test_iterate_until (g_get_monotonic_time () + 300 * 1000);
  for (int wanted = frames + 1; wanted <= 3; wanted++) {
    gtk_widget_queue_draw (widget);
    natter_test_wait_until (frames >= wanted, TIMEOUT_MS);
  }
  g_signal_handler_disconnect (clock, handler);
}

static GdkTexture *
render (GtkWidget *widget)
{
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  g_autoptr (GskRenderNode) node = NULL;
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);

  g_assert_cmpint (width, >, 0);
  g_assert_cmpint (height, >, 0);
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  return gsk_renderer_render_texture (gtk_native_get_renderer (gtk_widget_get_native (widget)),
                                      node, &GRAPHENE_RECT_INIT (0, 0, width, height));
}

static void
save_screenshot (Fixture *fixture, GtkWidget *widget, const char *name)
{
  g_autoptr (GdkTexture) texture = NULL;
  g_autofree char *file = g_strconcat (name, ".png", NULL);
  g_autofree char *path = g_build_filename (fixture->shots_dir, file, NULL);

  settle (widget);
  texture = render (widget);
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("saved %s", path);
}

/* How many distinct colours the rectangle holds: a drawn row has text and
 * an avatar, a blank one a single background colour. */
static guint
count_colours (GdkTexture *texture, const graphene_rect_t *rect)
{
  int width = gdk_texture_get_width (texture);
  int height = gdk_texture_get_height (texture);
  g_autofree guint32 *pixels = g_new (guint32, (gsize) width * height);
  g_autoptr (GHashTable) colours = g_hash_table_new (NULL, NULL);

  gdk_texture_download (texture, (guchar *) pixels, (gsize) width * 4);
  for (int y = MAX (0, (int) rect->origin.y);
       y < MIN (height, (int) (rect->origin.y + rect->size.height)); y++)
    for (int x = MAX (0, (int) rect->origin.x);
         x < MIN (width, (int) (rect->origin.x + rect->size.width)); x++)
      g_hash_table_add (colours, GUINT_TO_POINTER (pixels[(gsize) y * width + x]));

  return g_hash_table_size (colours);
}

static NatterConversationRow *
find_row_under (GtkWidget *widget, gint64 conversation_id)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    NatterConversationRow *row;

    if (NATTER_IS_CONVERSATION_ROW (child)) {
      NatterConversationItem *item =
        natter_conversation_row_get_item (NATTER_CONVERSATION_ROW (child));

      if (item != NULL && natter_conversation_item_get_conversation_id (item) == conversation_id)
        return NATTER_CONVERSATION_ROW (child);
      continue;
    }
    row = find_row_under (child, conversation_id);
    if (row != NULL)
      return row;
  }

  return NULL;
}

static GtkWidget *
template_child (NatterWindow *window, const char *name)
{
  GtkWidget *child =
    GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (window), NATTER_TYPE_WINDOW, name));

  g_assert_nonnull (child);
  return child;
}

static guint
count_messages (NatterClient *client, gint64 conversation_id)
{
  NatterStore *store = natter_client_get_store (client);

  return store ? natter_store_count_messages (store, conversation_id) : 0;
}

/* Defect 2: messages arrive while a chat is open, and the sidebar, header
 * buttons included, stays drawn: every frame lays it out (a widget that
 * lost its allocation would warn "Trying to snapshot … without a current
 * allocation", fatal here), its rows have their place and show pixels. */
static void
test_sidebar_drawn_after_burst (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterUser) carol = NULL;
  g_autoptr (NatterProfile) carol_profile = NULL;
  g_autofree char *carol_token = NULL;
  g_autoptr (NatterClient) carol_client = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  NatterClient *alice;
  NatterWindow *window;
  GtkWidget *sidebar;
  gint64 carol_conversation;
  graphene_rect_t bounds;

  /* Two conversations, Carol's the newer: Bob's burst moves his to the top. */
  carol = natter_test_server_register (fixture->server, "carol@example.org", "Carol Haile",
                                       "parent", &carol_token, &carol_profile);
  carol_conversation = natter_test_server_create_conversation (
    fixture->server, carol_token, carol_profile, fixture->alice_profile);
  carol_client = signed_in_client (fixture, "carol", carol_token);
  id = natter_client_send_message (fixture->bob, fixture->conversation_id, "Hi", &error);
  g_assert_no_error (error);
  g_clear_pointer (&id, g_free);
  id = natter_client_send_message (carol_client, carol_conversation, "Hello", &error);
  g_assert_no_error (error);
  g_clear_pointer (&id, g_free);

  fixture->application = start_application (fixture, "alice", fixture->alice_token);
  alice = natter_application_get_client (fixture->application);
  natter_test_wait_until (count_messages (alice, carol_conversation) == 1 &&
                            count_messages (alice, fixture->conversation_id) == 1,
                          TIMEOUT_MS);
  window = open_main_window (fixture);
  natter_test_wait_until (natter_window_open_conversation (window, fixture->conversation_id),
                          TIMEOUT_MS);
  settle (GTK_WIDGET (window));

  for (guint i = 0; i < 50; i++) {
    g_autofree char *text = g_strdup_printf ("Message %u of the burst", i + 1);
    g_autofree char *message_id =
      natter_client_send_message (fixture->bob, fixture->conversation_id, text, &error);

    g_assert_no_error (error);
  }
  natter_test_wait_until (count_messages (alice, fixture->conversation_id) == 51, TIMEOUT_MS);
  settle (GTK_WIDGET (window));

  /* Every sidebar row has its place inside the sidebar. */
  sidebar = template_child (window, "sidebar_stack");
  for (guint i = 0; i < 2; i++) {
    gint64 conversation_id = i == 0 ? fixture->conversation_id : carol_conversation;
    NatterConversationRow *row = find_row_under (sidebar, conversation_id);

    g_assert_nonnull (row);
    g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (row)));
    g_assert_true (gtk_widget_compute_bounds (GTK_WIDGET (row), GTK_WIDGET (window), &bounds));
    g_assert_cmpfloat (bounds.size.width, >, 100);
    g_assert_cmpfloat (bounds.size.height, >, 20);

    /* Drawn: its avatar and text are there in a picture of the window. */
    g_clear_object (&texture);
    texture = render (GTK_WIDGET (window));
    g_assert_cmpuint (count_colours (texture, &bounds), >, 20);
  }

  /* Bob's conversation went to the top. */
  g_assert_true (gtk_widget_compute_bounds (
    GTK_WIDGET (find_row_under (sidebar, fixture->conversation_id)), GTK_WIDGET (window), &bounds));
  {
    graphene_rect_t carol_bounds;

    g_assert_true (
      gtk_widget_compute_bounds (GTK_WIDGET (find_row_under (sidebar, carol_conversation)),
                                 GTK_WIDGET (window), &carol_bounds));
    g_assert_cmpfloat (bounds.origin.y, <, carol_bounds.origin.y);
  }

  /* And the sidebar still shows it as the open one: moving it to the top
   * must not drop the selection. */
  {
    GtkSingleSelection *selection = GTK_SINGLE_SELECTION (
      gtk_list_view_get_model (GTK_LIST_VIEW (template_child (window, "conversation_list_view"))));
    NatterConversationItem *selected = gtk_single_selection_get_selected_item (selection);
    GtkWidget *row = GTK_WIDGET (find_row_under (sidebar, fixture->conversation_id));

    g_assert_nonnull (selected);
    g_assert_cmpint (natter_conversation_item_get_conversation_id (selected), ==,
                     fixture->conversation_id);
    g_assert_true (gtk_widget_get_state_flags (gtk_widget_get_parent (row)) &
                   GTK_STATE_FLAG_SELECTED);
    g_assert_false (gtk_widget_get_state_flags (gtk_widget_get_parent (
                      GTK_WIDGET (find_row_under (sidebar, carol_conversation)))) &
                    GTK_STATE_FLAG_SELECTED);
  }

  /* The header's buttons too. */
  g_assert_true (gtk_widget_compute_bounds (template_child (window, "sidebar_header_bar"),
                                            GTK_WIDGET (window), &bounds));
  g_assert_cmpuint (count_colours (texture, &bounds), >, 20);

  /* Alice never wrote to Bob: his presence is not shared with her
   * (PROTOCOL.md 1.1), and the header says nothing rather than "Offline". */
  {
    GtkWidget *chat_view = template_child (window, "chat_view");
    AdwWindowTitle *title = ADW_WINDOW_TITLE (
      gtk_widget_get_template_child (chat_view, NATTER_TYPE_CHAT_VIEW, "window_title"));
    const char *subtitle = adw_window_title_get_subtitle (title);

    g_assert_true (subtitle == NULL || *subtitle == '\0');
  }

  save_screenshot (fixture, GTK_WIDGET (window), "sidebar-after-burst");
}

/* Defect 3: Enter accepts, as the shortcuts window says: the focus starts
 * on Accept, and Enter activates the focused button. */
static void
test_enter_accepts_call (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  NatterCallManager *alice_calls;
  NatterIncomingCallDialog *dialog = NULL;
  GtkWidget *focus;
  GtkWidget *default_widget;
  NatterCall *alice_call;
  g_autoptr (GError) error = NULL;

  fixture->application = start_application (fixture, "alice", fixture->alice_token);
  open_main_window (fixture);
  alice_calls = get_call_manager (natter_application_get_client (fixture->application));

  bob_call =
    natter_call_manager_start_call (get_call_manager (fixture->bob), fixture->alice_profile,
                                    "voice", fixture->conversation_id, &error);
  g_assert_no_error (error);
  g_object_ref (bob_call);
  natter_test_wait_until (
    g_list_model_get_n_items (natter_call_manager_get_calls (alice_calls)) > 0, TIMEOUT_MS);
  alice_call = g_list_model_get_item (natter_call_manager_get_calls (alice_calls), 0);
  g_object_unref (alice_call); /* the manager keeps it */

  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (fixture->application));
       dialog == NULL; l = l ? l->next : NULL) {
    if (l == NULL) {
      natter_test_iterate_until (g_get_monotonic_time () + 50 * 1000);
      l = gtk_application_get_windows (GTK_APPLICATION (fixture->application));
    }
    if (NATTER_IS_INCOMING_CALL_DIALOG (l->data))
      dialog = l->data;
  }
  natter_test_wait_until (gtk_window_is_active (GTK_WINDOW (dialog)), TIMEOUT_MS);
  save_screenshot (fixture, GTK_WIDGET (dialog), "incoming-call-focus");

  /* Accept has the focus and is the default: Enter goes to it. */
  focus = gtk_window_get_focus (GTK_WINDOW (dialog));
  g_assert_true (GTK_IS_BUTTON (focus));
  g_assert_cmpstr (gtk_actionable_get_action_name (GTK_ACTIONABLE (focus)), ==, "call.accept");
  default_widget = gtk_window_get_default_widget (GTK_WINDOW (dialog));
  g_assert_true (default_widget == focus);

  /* What Enter does to the focused button. */
  g_assert_true (gtk_widget_activate (focus));
  natter_test_wait_until (natter_call_get_state (alice_call) == NATTER_CALL_STATE_CONNECTING ||
                            natter_call_get_state (alice_call) == NATTER_CALL_STATE_CONNECTED,
                          TIMEOUT_MS);

  natter_call_hang_up (bob_call);
  natter_test_wait_until (natter_call_manager_get_active_call (alice_calls) == NULL, TIMEOUT_MS);
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

static guint
n_conversations (NatterApplication *application)
{
  NatterClient *client = natter_application_get_client (application);
  GListModel *conversations = client ? natter_client_get_conversations (client) : NULL;

  return conversations ? g_list_model_get_n_items (conversations) : 0;
}

/* Signs in through the sign-in window, as a person does. */
static void
sign_in_with_form (Fixture *fixture, const char *email)
{
  GtkWindow *sign_in;
  GtkEditable *password;

  natter_test_wait_until (
    (sign_in = find_window (fixture->application, NATTER_TYPE_SIGN_IN_WINDOW)) != NULL &&
      gtk_widget_get_mapped (GTK_WIDGET (sign_in)),
    TIMEOUT_MS);
  natter_sign_in_window_set_server_url (NATTER_SIGN_IN_WINDOW (sign_in),
                                        natter_test_server_get_url (fixture->server));
  natter_sign_in_window_set_email (NATTER_SIGN_IN_WINDOW (sign_in), email);
  password = GTK_EDITABLE (gtk_widget_get_template_child (
    GTK_WIDGET (sign_in), NATTER_TYPE_SIGN_IN_WINDOW, "password_row"));
  gtk_editable_set_text (password, NATTER_TEST_PASSWORD);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (sign_in), "sign-in.submit", NULL));
  natter_test_wait_until (natter_application_get_main_window (fixture->application) != NULL &&
                            find_window (fixture->application, NATTER_TYPE_SIGN_IN_WINDOW) == NULL,
                          TIMEOUT_MS);
}

/* Defect 10: signing out (from preferences, in the middle of a video call)
 * uses no freed object (a critical would be fatal here) and ends the call
 * for the other side; defect 7: signing in again opens the profile with its
 * conversations, not an empty one. */
static void
test_sign_out_and_in (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  NatterClient *client;
  NatterWindow *window;
  GtkWindow *preferences;
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) alice_call = NULL;

  id = natter_client_send_message (fixture->bob, fixture->conversation_id, "Before", &error);
  g_assert_no_error (error);
  /* Signed in with the form, the token kept as the app keeps it. */
  fixture->application = start_application (fixture, "alice", NULL);
  g_application_activate (G_APPLICATION (fixture->application));
  sign_in_with_form (fixture, "alice@example.org");
  window = NATTER_WINDOW (natter_application_get_main_window (fixture->application));
  natter_test_wait_until (natter_window_open_conversation (window, fixture->conversation_id),
                          TIMEOUT_MS);
  settle (GTK_WIDGET (window));
  client = natter_application_get_client (fixture->application);

  /* She is in a video call with Bob when she signs out. */
  {
    NatterCallManager *alice_calls = get_call_manager (client);
    GtkWindow *dialog = NULL;

    bob_call = g_object_ref (natter_call_manager_start_call (get_call_manager (fixture->bob),
                                                             fixture->alice_profile, "video",
                                                             fixture->conversation_id, &error));
    g_assert_no_error (error);
    natter_test_wait_until (
      g_list_model_get_n_items (natter_call_manager_get_calls (alice_calls)) > 0, TIMEOUT_MS);
    alice_call = g_list_model_get_item (natter_call_manager_get_calls (alice_calls), 0);
    natter_test_wait_until (
      (dialog = find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG)) != NULL,
      TIMEOUT_MS);
    gtk_widget_activate_action (GTK_WIDGET (dialog), "call.accept-video", NULL);
    natter_test_wait_until (natter_call_get_state (alice_call) == NATTER_CALL_STATE_CONNECTED,
                            TIMEOUT_MS);
    natter_test_iterate_until (g_get_monotonic_time () + 1500 * 1000);
  }

  /* Preferences, Sign Out: as a person does it. */
  g_action_group_activate_action (G_ACTION_GROUP (fixture->application), "preferences", NULL);
  natter_test_wait_until (
    (preferences = find_window (fixture->application, NATTER_TYPE_PREFERENCES_WINDOW)) != NULL &&
      gtk_widget_get_mapped (GTK_WIDGET (preferences)),
    TIMEOUT_MS);
  settle (GTK_WIDGET (preferences));
  g_assert_true (gtk_widget_activate (GTK_WIDGET (gtk_widget_get_template_child (
    GTK_WIDGET (preferences), NATTER_TYPE_PREFERENCES_WINDOW, "sign_out_button"))));
  natter_test_wait_until (natter_application_get_main_window (fixture->application) == NULL &&
                            find_window (fixture->application, NATTER_TYPE_SIGN_IN_WINDOW) != NULL,
                          TIMEOUT_MS);
  natter_test_wait_until (natter_account_get_token (natter_client_get_account (client)) == NULL,
                          TIMEOUT_MS);
  g_assert_cmpuint (n_conversations (fixture->application), ==, 0);
  /* Signing out ends the call: Bob does not wait for media. */
  natter_test_wait_until (natter_call_get_state (bob_call) == NATTER_CALL_STATE_ENDED, TIMEOUT_MS);
  natter_test_iterate_until (g_get_monotonic_time () + 300 * 1000);

  sign_in_with_form (fixture, "alice@example.org");
  window = NATTER_WINDOW (natter_application_get_main_window (fixture->application));
  client = natter_application_get_client (fixture->application);
  natter_test_wait_until (connected (client) && n_conversations (fixture->application) == 1,
                          TIMEOUT_MS);
  g_assert_true (
    natter_profile_equal (natter_account_get_active_profile (natter_client_get_account (client)),
                          fixture->alice_profile));
  g_assert_true (natter_window_open_conversation (window, fixture->conversation_id));
  settle (GTK_WIDGET (window));
}

/* Bob calls Alice and she accepts from the app: returns her call, connected. */
static NatterCall *
accepted_call_from_bob (Fixture *fixture, NatterCall **out_bob_call)
{
  NatterCallManager *alice_calls =
    get_call_manager (natter_application_get_client (fixture->application));
  g_autoptr (GError) error = NULL;
  NatterCall *bob_call;
  NatterCall *alice_call;

  bob_call =
    natter_call_manager_start_call (get_call_manager (fixture->bob), fixture->alice_profile,
                                    "voice", fixture->conversation_id, &error);
  g_assert_no_error (error);
  *out_bob_call = g_object_ref (bob_call);
  natter_test_wait_until (
    g_list_model_get_n_items (natter_call_manager_get_calls (alice_calls)) > 0, TIMEOUT_MS);
  alice_call = g_list_model_get_item (natter_call_manager_get_calls (alice_calls), 0);
  g_object_unref (alice_call); /* the manager keeps it */
  natter_test_wait_until (
    natter_call_notifier_has_prompt (natter_application_get_call_notifier (fixture->application),
                                     alice_call),
    TIMEOUT_MS);
  g_action_group_activate_action (G_ACTION_GROUP (fixture->application), "accept-call",
                                  g_variant_new_int64 (natter_call_get_call_log_id (alice_call)));
  natter_test_wait_until (natter_call_get_state (alice_call) == NATTER_CALL_STATE_CONNECTED,
                          TIMEOUT_MS);
  return alice_call;
}

/* Calls leave a trace: when Bob hangs up, Alice's call view stays a moment
 * with "Call ended · 0:02" (its length), then gives way to the chat. */
static void
test_call_ended_shows_duration (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) alice_call = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *duration = NULL;
  NatterWindow *window;
  GtkStack *content_stack;
  GtkLabel *ended_label;
  GtkRevealer *ended_revealer;
  NatterCallOverlay *overlay;

  fixture->application = start_application (fixture, "alice", fixture->alice_token);
  window = open_main_window (fixture);
  natter_test_wait_until (natter_window_open_conversation (window, fixture->conversation_id),
                          TIMEOUT_MS);
  alice_call = g_object_ref (accepted_call_from_bob (fixture, &bob_call));
  content_stack = GTK_STACK (template_child (window, "content_stack"));
  overlay = natter_window_get_call_overlay (window);
  ended_label = GTK_LABEL (
    gtk_widget_get_template_child (GTK_WIDGET (overlay), NATTER_TYPE_CALL_OVERLAY, "ended_label"));
  ended_revealer = GTK_REVEALER (gtk_widget_get_template_child (
    GTK_WIDGET (overlay), NATTER_TYPE_CALL_OVERLAY, "ended_revealer"));
  natter_test_wait_until (natter_window_get_call (window) == alice_call, TIMEOUT_MS);
  natter_test_wait_until (natter_call_get_duration (alice_call) >= 2, TIMEOUT_MS);

  natter_call_hang_up (bob_call);
  natter_test_wait_until (natter_call_get_state (alice_call) == NATTER_CALL_STATE_ENDED,
                          TIMEOUT_MS);
  duration = g_strdup_printf ("%u:%02u", natter_call_get_duration (alice_call) / 60,
                              natter_call_get_duration (alice_call) % 60);
  expected = g_strdup_printf ("Call ended · %s", duration);

  /* Still the call view, saying so. */
  g_assert_cmpstr (gtk_stack_get_visible_child_name (content_stack), ==, "call");
  g_assert_true (gtk_revealer_get_reveal_child (ended_revealer));
  g_assert_cmpstr (gtk_label_get_label (ended_label), ==, expected);
  save_screenshot (fixture, GTK_WIDGET (window), "call-ended-duration");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (content_stack), ==, "call");
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (ended_label)));

  /* Then the chat again. */
  natter_test_wait_until (natter_window_get_call (window) == NULL, TIMEOUT_MS);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (content_stack), ==, "chat");
}

static const char *const fast_chat_short_ring[] = { "--chat-rate", "1000",           "--chat-burst",
                                                    "1000",        "--ring-timeout", "1",
                                                    NULL };

/* Defect 9: Alice signs in on a new computer. What happened before (three
 * messages she read elsewhere, a call she missed) is fetched but does not
 * notify; a message sent afterwards does. */
static void
test_new_device_notifies_only_news (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterClient) old_device = NULL;
  g_autoptr (GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autoptr (GError) error = NULL;
  NatterCall *bob_call;
  NatterClient *alice;

  old_device = signed_in_client (fixture, "alice-old", fixture->alice_token);
  for (guint i = 0; i < 3; i++) {
    g_autofree char *text = g_strdup_printf ("Old news %u", i + 1);
    g_autofree char *id =
      natter_client_send_message (fixture->bob, fixture->conversation_id, text, &error);

    g_assert_no_error (error);
  }
  natter_test_wait_until (count_messages (old_device, fixture->conversation_id) == 3, TIMEOUT_MS);
  g_assert_true (natter_client_mark_read (old_device, fixture->conversation_id, 3));

  /* Bob calls, nobody answers within the server's 1 s: a missed call. */
  bob_call =
    natter_call_manager_start_call (get_call_manager (fixture->bob), fixture->alice_profile,
                                    "voice", fixture->conversation_id, &error);
  g_assert_no_error (error);
  g_object_ref (bob_call);
  natter_test_wait_until (natter_call_get_state (bob_call) == NATTER_CALL_STATE_ENDED, TIMEOUT_MS);
  g_object_unref (bob_call);
  g_clear_object (&old_device);

  /* The new computer: nothing of Natter's kept yet. */
  g_settings_reset (settings, "notify-after");
  fixture->application = start_application (fixture, "alice-new", fixture->alice_token);
  alice = natter_application_get_client (fixture->application);
  natter_test_wait_until (count_messages (alice, fixture->conversation_id) == 3, TIMEOUT_MS);
  natter_test_iterate_until (g_get_monotonic_time () + 500 * 1000);
  g_assert_cmpuint (count_notifications ("Bob Tesfaye"), ==, 0);
  g_assert_cmpuint (count_notifications ("Missed call from Bob Tesfaye"), ==, 0);
  g_assert_cmpint (g_settings_get_int64 (settings, "notify-after"), >, 0);

  /* News notify. */
  {
    g_autofree char *id =
      natter_client_send_message (fixture->bob, fixture->conversation_id, "Are you there?", &error);

    g_assert_no_error (error);
  }
  natter_test_wait_until (count_notifications ("Bob Tesfaye") == 1, TIMEOUT_MS);
}

/* Bob calls Alice; returns her ringing call once the app prompts. */
static NatterCall *
ringing_call_from_bob (Fixture *fixture, NatterCall **out_bob_call)
{
  NatterCallManager *alice_calls =
    get_call_manager (natter_application_get_client (fixture->application));
  g_autoptr (GError) error = NULL;
  NatterCall *alice_call;

  *out_bob_call = g_object_ref (natter_call_manager_start_call (get_call_manager (fixture->bob),
                                                                fixture->alice_profile, "voice",
                                                                fixture->conversation_id, &error));
  g_assert_no_error (error);
  natter_test_wait_until (
    g_list_model_get_n_items (natter_call_manager_get_calls (alice_calls)) > 0, TIMEOUT_MS);
  alice_call = g_list_model_get_item (natter_call_manager_get_calls (alice_calls), 0);
  g_object_unref (alice_call); /* the manager keeps it */
  natter_test_wait_until (
    natter_call_notifier_has_prompt (natter_application_get_call_notifier (fixture->application),
                                     alice_call),
    TIMEOUT_MS);
  return alice_call;
}

static void
hang_up (Fixture *fixture, NatterCall *bob_call)
{
  natter_call_hang_up (bob_call);
  natter_test_wait_until (
    natter_call_manager_get_active_call (
      get_call_manager (natter_application_get_client (fixture->application))) == NULL &&
      g_list_model_get_n_items (natter_call_manager_get_calls (
        get_call_manager (natter_application_get_client (fixture->application)))) == 0,
    TIMEOUT_MS);
}

static GtkWidget *
find_popover (GtkWidget *widget)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (GTK_IS_POPOVER_MENU (child))
      return child;

  return NULL;
}

static void
bob_says (Fixture *fixture, const char *text)
{
  NatterClient *alice = natter_application_get_client (fixture->application);
  guint before = count_messages (alice, fixture->conversation_id);
  g_autoptr (GError) error = NULL;
  g_autofree char *id =
    natter_client_send_message (fixture->bob, fixture->conversation_id, text, &error);

  g_assert_no_error (error);
  natter_test_wait_until (count_messages (alice, fixture->conversation_id) > before, TIMEOUT_MS);
  /* The notification, if any, went out with the message. */
  natter_test_iterate_until (g_get_monotonic_time () + 300 * 1000);
}

/* org.freedesktop.Notifications servers read bodies as markup: what Bob
 * typed arrives as he typed it, and a toast shows it as it is too. */
static void
test_text_is_not_markup (Fixture *fixture, gconstpointer data)
{
  g_autofree char *body = NULL;
  NatterWindow *window;

  fixture->application = start_application (fixture, "alice", fixture->alice_token);
  window = open_main_window (fixture);
  gtk_window_minimize (GTK_WINDOW (window));
  clear_notifications ();
  bob_says (fixture, "Tom & Jerry <3 <b>bold</b>");
  natter_test_wait_until (count_notifications ("Bob Tesfaye") == 1, TIMEOUT_MS);
  body = last_notification_body ("Bob Tesfaye");
  g_assert_cmpstr (body, ==, "Tom &amp; Jerry &lt;3 &lt;b&gt;bold&lt;/b&gt;");

  /* Unescaped, Pango would refuse it with a warning (fatal here). */
  natter_window_add_toast (window, "Server says: <3 & goodbye");
  natter_test_iterate_until (g_get_monotonic_time () + 200 * 1000);
}

static NatterRingerMode
alice_ringer_mode (Fixture *fixture)
{
  return natter_ringer_get_mode (natter_call_manager_get_ringer (
    get_call_manager (natter_application_get_client (fixture->application))));
}

/* A muted conversation's messages do not notify, but its calls ring; Do Not
 * Disturb silences every message, and lets calls ring unless the caller's
 * conversation is muted too. The menu and preferences say so. */
static void
test_mute_and_do_not_disturb (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autoptr (NatterCall) bob_call = NULL;
  g_autofree char *muted_key = NULL;
  g_auto (GStrv) muted = NULL;
  NatterConversationRow *row;
  NatterCall *alice_call;
  NatterWindow *window;
  GtkWidget *menu;
  GtkWidget *muted_icon;
  GtkWindow *preferences;

  {
    g_autoptr (GError) error = NULL;
    g_autofree char *id =
      natter_client_send_message (fixture->bob, fixture->conversation_id, "Hi", &error);

    g_assert_no_error (error);
  }
  fixture->application = start_application (fixture, "alice", fixture->alice_token);
  window = open_main_window (fixture);
  natter_test_wait_until ((row = find_row_under (template_child (window, "sidebar_stack"),
                                                 fixture->conversation_id)) != NULL,
                          TIMEOUT_MS);
  muted_icon = GTK_WIDGET (
    gtk_widget_get_template_child (GTK_WIDGET (row), NATTER_TYPE_CONVERSATION_ROW, "muted_icon"));
  g_assert_false (gtk_widget_get_visible (muted_icon));

  /* The row's menu says what muting does. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.conversation-menu", "x",
                                             fixture->conversation_id));
  menu = find_popover (GTK_WIDGET (row));
  g_assert_nonnull (menu);
  natter_test_wait_until (gtk_widget_get_mapped (menu), TIMEOUT_MS);
  {
    GMenuModel *model = gtk_popover_menu_get_menu_model (GTK_POPOVER_MENU (menu));
    g_autoptr (GMenuModel) actions = g_menu_model_get_item_link (model, 0, G_MENU_LINK_SECTION);
    g_autoptr (GMenuModel) note = g_menu_model_get_item_link (model, 1, G_MENU_LINK_SECTION);
    g_autofree char *label = NULL;
    g_autofree char *explanation = NULL;

    g_assert_true (g_menu_model_get_item_attribute (actions, 0, "label", "s", &label));
    g_assert_cmpstr (label, ==, "_Mute Notifications");
    g_assert_true (g_menu_model_get_item_attribute (note, 0, "label", "s", &explanation));
    g_assert_cmpstr (explanation, ==,
                     "Messages here will not notify; calls still ring unless Do Not Disturb is on");
  }
  save_screenshot (fixture, menu, "conversation-menu-mute");
  gtk_popover_popdown (GTK_POPOVER (menu));

  /* Muted: the setting, the icon, and no notification for a message. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.toggle-mute", "x",
                                             fixture->conversation_id));
  muted = g_settings_get_strv (settings, "muted-conversations");
  muted_key = g_strdup_printf ("%s#%" G_GINT64_FORMAT, natter_test_server_get_url (fixture->server),
                               fixture->conversation_id);
  g_assert_true (g_strv_contains ((const char *const *) muted, muted_key));
  g_assert_true (gtk_widget_get_visible (muted_icon));
  save_screenshot (fixture, GTK_WIDGET (window), "conversation-muted");
  clear_notifications ();
  bob_says (fixture, "Muted hello");
  g_assert_cmpuint (count_notifications ("Bob Tesfaye"), ==, 0);

  /* Muted, no Do Not Disturb: his call rings. */
  alice_call = ringing_call_from_bob (fixture, &bob_call);
  natter_test_wait_until (alice_ringer_mode (fixture) == NATTER_RINGER_MODE_INCOMING, TIMEOUT_MS);
  g_assert_false (natter_call_get_silenced (alice_call));
  hang_up (fixture, bob_call);
  g_clear_object (&bob_call);

  /* Muted and Do Not Disturb: his call prompts without a sound. */
  g_settings_set_boolean (settings, "do-not-disturb", TRUE);
  alice_call = ringing_call_from_bob (fixture, &bob_call);
  g_assert_true (natter_call_get_silenced (alice_call));
  g_assert_cmpint (alice_ringer_mode (fixture), ==, NATTER_RINGER_MODE_NONE);
  hang_up (fixture, bob_call);
  g_clear_object (&bob_call);

  /* Do Not Disturb alone: calls ring, messages are quiet. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.toggle-mute", "x",
                                             fixture->conversation_id));
  g_assert_false (gtk_widget_get_visible (muted_icon));
  alice_call = ringing_call_from_bob (fixture, &bob_call);
  natter_test_wait_until (alice_ringer_mode (fixture) == NATTER_RINGER_MODE_INCOMING, TIMEOUT_MS);
  g_assert_false (natter_call_get_silenced (alice_call));
  hang_up (fixture, bob_call);
  g_clear_object (&bob_call);
  bob_says (fixture, "Quiet hello");
  g_assert_cmpuint (count_notifications ("Bob Tesfaye"), ==, 0);

  /* Preferences say what Do Not Disturb does. */
  g_action_group_activate_action (G_ACTION_GROUP (fixture->application), "preferences", NULL);
  preferences = find_window (fixture->application, NATTER_TYPE_PREFERENCES_WINDOW);
  g_assert_nonnull (preferences);
  gtk_window_set_default_size (preferences, 560, 900);
  g_assert_true (gtk_switch_get_active (GTK_SWITCH (gtk_widget_get_template_child (
    GTK_WIDGET (preferences), NATTER_TYPE_PREFERENCES_WINDOW, "do_not_disturb_switch"))));
  save_screenshot (fixture, GTK_WIDGET (preferences), "preferences-do-not-disturb");
  gtk_window_destroy (preferences);

  /* Both off: news notify again. */
  g_settings_set_boolean (settings, "do-not-disturb", FALSE);
  bob_says (fixture, "Loud hello");
  natter_test_wait_until (count_notifications ("Bob Tesfaye") == 1, TIMEOUT_MS);

  g_settings_reset (settings, "do-not-disturb");
  g_settings_reset (settings, "muted-conversations");
}

/* Dana: one user, a tutor and a parent profile. */
static NatterUser *
register_dana (Fixture *fixture)
{
  char *types[] = { "tutor", "parent", NULL };
  NatterRegisterRequest request = { "dana@example.org", NATTER_TEST_PASSWORD, "Dana Bekele",
                                    types };
  g_autofree char *json = natter_register_request_to_json (&request);
  g_autofree char *answer = NULL;
  g_autoptr (NatterSession) session = NULL;
  g_autoptr (GError) error = NULL;
  guint status = 0;

  answer = natter_test_http (fixture->server, "POST", "/api/register", NULL, json, &status);
  g_assert_cmpuint (status, ==, 201);
  session = natter_session_parse (answer, strlen (answer), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (session->user->profiles->len, ==, 2);
  return g_steal_pointer (&session->user);
}

static const NatterProfile *
active_profile (Fixture *fixture)
{
  return natter_account_get_active_profile (
    natter_client_get_account (natter_application_get_client (fixture->application)));
}

/* The client that follows @profile is connected and has had its first sync. */
static gboolean
watched_and_synced (Fixture *fixture, const NatterProfile *profile)
{
  NatterClient *client = natter_application_get_profile_client (fixture->application, profile);
  NatterStore *store = client ? natter_client_get_store (client) : NULL;

  return connected (client) && store != NULL && natter_store_get_last_event_id (store) > 0;
}

static char *
profile_target (const NatterProfile *profile)
{
  return g_strdup_printf ("%s:%" G_GINT64_FORMAT, profile->profile_type, profile->profile_id);
}

/* Defect 7: the sidebar's header shows the active profile and switches to
 * the other (a new WebSocket as that profile, its own conversations); the
 * profile used last reopens after signing out and in, and after a restart. */
static void
test_profile_switcher (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterUser) dana = register_dana (fixture);
  const NatterProfile *tutor = g_ptr_array_index (dana->profiles, 0);
  const NatterProfile *parent = g_ptr_array_index (dana->profiles, 1);
  g_autofree char *parent_target = profile_target (parent);
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  NatterWindow *window;
  GtkWidget *button;
  GtkWidget *popover;
  gint64 parent_conversation;

  g_assert_cmpstr (tutor->profile_type, ==, "tutor");
  parent_conversation = natter_test_server_create_conversation (fixture->server, fixture->bob_token,
                                                                fixture->bob_profile, parent);
  id = natter_client_send_message (fixture->bob, parent_conversation, "Hello, parent", &error);
  g_assert_no_error (error);

  fixture->application = start_application (fixture, "dana", NULL);
  g_application_activate (G_APPLICATION (fixture->application));
  sign_in_with_form (fixture, "dana@example.org");
  window = NATTER_WINDOW (natter_application_get_main_window (fixture->application));
  natter_test_wait_until (connected (natter_application_get_client (fixture->application)),
                          TIMEOUT_MS);

  /* The header says who she acts as: the tutor, with no conversations. */
  g_assert_true (natter_profile_equal (active_profile (fixture), tutor));
  g_assert_cmpstr (
    gtk_stack_get_visible_child_name (GTK_STACK (template_child (window, "sidebar_title_stack"))),
    ==, "switcher");
  g_assert_cmpstr (gtk_label_get_label (GTK_LABEL (template_child (window, "profile_type_label"))),
                   ==, "Tutor");
  g_assert_cmpuint (n_conversations (fixture->application), ==, 0);

  /* A message to her parent profile notifies all the same: that profile
   * has a connection of its own. The one from before she signed in, which
   * its first sync brings, does not. */
  natter_test_wait_until (watched_and_synced (fixture, parent), TIMEOUT_MS);
  {
    g_autofree char *later =
      natter_client_send_message (fixture->bob, parent_conversation, "Free at 5?", &error);

    g_assert_no_error (error);
  }
  natter_test_wait_until (count_notifications ("Bob Tesfaye · to Parent") == 1, TIMEOUT_MS);
  natter_test_iterate_until (g_get_monotonic_time () + 300 * 1000);
  g_assert_cmpuint (count_notifications ("Bob Tesfaye · to Parent"), ==, 1);
  g_assert_cmpuint (n_conversations (fixture->application), ==, 0);

  /* The switcher lists both, the active one checked. */
  button = template_child (window, "profile_button");
  settle (GTK_WIDGET (window));
  gtk_menu_button_popup (GTK_MENU_BUTTON (button));
  popover = GTK_WIDGET (gtk_menu_button_get_popover (GTK_MENU_BUTTON (button)));
  natter_test_wait_until (gtk_widget_get_mapped (popover), TIMEOUT_MS);
  g_assert_cmpint (
    g_menu_model_get_n_items (gtk_menu_button_get_menu_model (GTK_MENU_BUTTON (button))), ==, 1);
  state = g_action_group_get_action_state (G_ACTION_GROUP (fixture->application), "switch-profile");
  {
    g_autofree char *tutor_target = profile_target (tutor);

    g_assert_cmpstr (g_variant_get_string (state, NULL), ==, tutor_target);
  }
  save_screenshot (fixture, popover, "profile-switcher-menu");
  save_screenshot (fixture, GTK_WIDGET (window), "profile-switcher");
  gtk_menu_button_popdown (GTK_MENU_BUTTON (button));

  /* Switching reconnects as the parent, whose conversation shows. */
  g_action_group_activate_action (G_ACTION_GROUP (fixture->application), "switch-profile",
                                  g_variant_new_string (parent_target));
  natter_test_wait_until (natter_profile_equal (active_profile (fixture), parent) &&
                            connected (natter_application_get_client (fixture->application)) &&
                            n_conversations (fixture->application) == 1,
                          TIMEOUT_MS);
  g_assert_cmpstr (gtk_label_get_label (GTK_LABEL (template_child (window, "profile_type_label"))),
                   ==, "Parent");
  g_assert_true (natter_window_open_conversation (window, parent_conversation));
  save_screenshot (fixture, GTK_WIDGET (window), "profile-switched");

  /* Out and in again: the parent, with her conversation. */
  g_action_group_activate_action (G_ACTION_GROUP (fixture->application), "sign-out", NULL);
  natter_test_wait_until (natter_account_get_token (natter_client_get_account (
                            natter_application_get_client (fixture->application))) == NULL,
                          TIMEOUT_MS);
  sign_in_with_form (fixture, "dana@example.org");
  natter_test_wait_until (connected (natter_application_get_client (fixture->application)) &&
                            n_conversations (fixture->application) == 1,
                          TIMEOUT_MS);
  g_assert_true (natter_profile_equal (active_profile (fixture), parent));

  /* And after a restart, with the kept token. */
  stop_application (&fixture->application);
  fixture->application = start_application (fixture, "dana", NULL);
  natter_test_wait_until (connected (natter_application_get_client (fixture->application)) &&
                            n_conversations (fixture->application) == 1,
                          TIMEOUT_MS);
  g_assert_true (natter_profile_equal (active_profile (fixture), parent));

  /* Acting as the parent, the tutor is watched: a message to it notifies
   * (the first may come with the tutor's first sync, which is quiet). */
  {
    gint64 tutor_conversation = natter_test_server_create_conversation (
      fixture->server, fixture->bob_token, fixture->bob_profile, tutor);
    g_autofree char *first =
      natter_client_send_message (fixture->bob, tutor_conversation, "Maths at 6?", &error);
    g_autofree char *second = NULL;
    NatterClient *tutor_client;

    g_assert_no_error (error);
    natter_test_wait_until ((tutor_client = natter_application_get_profile_client (
                               fixture->application, tutor)) != NULL &&
                              count_messages (tutor_client, tutor_conversation) == 1,
                            TIMEOUT_MS);
    natter_test_wait_until (watched_and_synced (fixture, tutor), TIMEOUT_MS);
    second = natter_client_send_message (fixture->bob, tutor_conversation, "Or at 7?", &error);
    g_assert_no_error (error);
  }
  natter_test_wait_until (count_notifications ("Bob Tesfaye · to Tutor") >= 1, TIMEOUT_MS);
}

/* Defect 10 too: signing out while a call rings, its dialog up over the
 * open chat, uses no freed object (criticals are fatal here): the prompt
 * goes, the call is declined, and Bob hears so. */
static void
test_sign_out_while_ringing (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  NatterWindow *window;
  NatterCall *alice_call;

  fixture->application = start_application (fixture, "alice", NULL);
  g_application_activate (G_APPLICATION (fixture->application));
  sign_in_with_form (fixture, "alice@example.org");
  window = NATTER_WINDOW (natter_application_get_main_window (fixture->application));
  natter_test_wait_until (natter_window_open_conversation (window, fixture->conversation_id) &&
                            gtk_window_is_active (GTK_WINDOW (window)),
                          TIMEOUT_MS);
  settle (GTK_WIDGET (window));

  alice_call = g_object_ref (ringing_call_from_bob (fixture, &bob_call));
  natter_test_wait_until (
    find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG) != NULL, TIMEOUT_MS);

  g_action_group_activate_action (G_ACTION_GROUP (fixture->application), "sign-out", NULL);
  g_assert_null (find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG));
  g_assert_false (natter_call_notifier_has_prompt (
    natter_application_get_call_notifier (fixture->application), alice_call));
  natter_test_wait_until (natter_call_get_state (bob_call) == NATTER_CALL_STATE_ENDED, TIMEOUT_MS);
  g_assert_cmpint (natter_call_get_end_reason (bob_call), ==, NATTER_CALL_END_REASON_DECLINED);
  natter_test_wait_until (find_window (fixture->application, NATTER_TYPE_SIGN_IN_WINDOW) != NULL,
                          TIMEOUT_MS);
  natter_test_iterate_until (g_get_monotonic_time () + 300 * 1000);
  g_object_unref (alice_call);
}

/* Defect 10 as a person meets it: Sign Out clicked with the pointer in
 * Preferences, which is transient for the main window. GTK keeps the window
 * a click came from until the next pointer event, so Preferences outlives
 * the main window; when it goes, GTK disconnects it from its transient
 * parent, which must not be freed by then ("instance with invalid (NULL)
 * class pointer", g_signal_handlers_disconnect_matched: fatal here). The
 * test holds Preferences as the pointer does. */
static void
test_sign_out_clicked_in_preferences (Fixture *fixture, gconstpointer data)
{
  GtkWindow *window;
  GtkWindow *preferences;
  GtkWidget *sign_out;

  fixture->application = start_application (fixture, "alice", fixture->alice_token);
  window = GTK_WINDOW (open_main_window (fixture));
  natter_test_wait_until (
    natter_window_open_conversation (NATTER_WINDOW (window), fixture->conversation_id), TIMEOUT_MS);
  g_action_group_activate_action (G_ACTION_GROUP (fixture->application), "preferences", NULL);
  natter_test_wait_until (
    (preferences = find_window (fixture->application, NATTER_TYPE_PREFERENCES_WINDOW)) != NULL,
    TIMEOUT_MS);
  g_assert_true (gtk_window_get_transient_for (preferences) == window);
  settle (GTK_WIDGET (preferences));
  sign_out = GTK_WIDGET (gtk_widget_get_template_child (
    GTK_WIDGET (preferences), NATTER_TYPE_PREFERENCES_WINDOW, "sign_out_button"));

  g_object_ref (preferences); /* the pointer's hold */
  g_object_add_weak_pointer (G_OBJECT (window), (gpointer *) &window);
  g_signal_emit_by_name (sign_out, "clicked");
  natter_test_wait_until (window == NULL &&
                            find_window (fixture->application, NATTER_TYPE_SIGN_IN_WINDOW) != NULL,
                          TIMEOUT_MS);
  g_assert_null (find_window (fixture->application, NATTER_TYPE_PREFERENCES_WINDOW));
  natter_test_iterate_until (g_get_monotonic_time () + 100 * 1000);

  /* The next pointer event: GTK lets go of Preferences. */
  g_object_add_weak_pointer (G_OBJECT (preferences), (gpointer *) &preferences);
  g_object_unref (preferences);
  natter_test_wait_until (preferences == NULL, TIMEOUT_MS);
}

/* Issue 13: a call to a signed-in profile that is not the active one rings
 * and prompts too; accepting it answers on that profile's connection and
 * the window switches to that profile, showing the call. */
static void
test_other_profile_call_rings (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterUser) dana = register_dana (fixture);
  const NatterProfile *tutor = g_ptr_array_index (dana->profiles, 0);
  const NatterProfile *parent = g_ptr_array_index (dana->profiles, 1);
  g_autoptr (GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterCall) bob_call = NULL;
  NatterWindow *window;
  GtkWindow *dialog;
  NatterCall *dana_call;
  gint64 parent_conversation;

  parent_conversation = natter_test_server_create_conversation (fixture->server, fixture->bob_token,
                                                                fixture->bob_profile, parent);
  /* She acts as the tutor (the profile switcher's test leaves the parent
   * as the last one used). */
  g_settings_reset (settings, "last-profile");
  fixture->application = start_application (fixture, "dana", NULL);
  g_application_activate (G_APPLICATION (fixture->application));
  sign_in_with_form (fixture, "dana@example.org");
  window = NATTER_WINDOW (natter_application_get_main_window (fixture->application));
  natter_test_wait_until (
    connected (natter_application_get_client (fixture->application)) &&
      connected (natter_application_get_profile_client (fixture->application, parent)) &&
      gtk_window_is_active (GTK_WINDOW (window)),
    TIMEOUT_MS);
  g_assert_true (natter_profile_equal (active_profile (fixture), tutor));

  bob_call = g_object_ref (natter_call_manager_start_call (get_call_manager (fixture->bob), parent,
                                                           "voice", parent_conversation, &error));
  g_assert_no_error (error);

  /* Dana acts as the tutor: the call to her parent profile prompts all
   * the same, and rings. */
  natter_test_wait_until (
    find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG) != NULL, TIMEOUT_MS);
  dialog = find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG);
  g_assert_nonnull (dialog);
  g_assert_cmpstr (
    natter_incoming_call_dialog_get_caller_name (NATTER_INCOMING_CALL_DIALOG (dialog)), ==,
    "Bob Tesfaye");
  natter_test_wait_until (natter_call_get_peer_ringing (bob_call), TIMEOUT_MS);
  g_assert_true (natter_profile_equal (active_profile (fixture), tutor));

  /* Accept: the call connects, and the window now acts as the parent. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dialog), "call.accept", NULL));
  natter_test_wait_until (natter_call_get_state (bob_call) == NATTER_CALL_STATE_CONNECTED,
                          TIMEOUT_MS);
  g_assert_cmpint (natter_call_get_state (bob_call), ==, NATTER_CALL_STATE_CONNECTED);
  g_assert_null (find_window (fixture->application, NATTER_TYPE_INCOMING_CALL_DIALOG));
  natter_test_wait_until (natter_profile_equal (active_profile (fixture), parent) &&
                            natter_window_get_call (window) != NULL,
                          TIMEOUT_MS);
  dana_call = natter_window_get_call (window);
  g_assert_nonnull (dana_call);
  g_assert_true (natter_profile_equal (natter_call_get_peer (dana_call), fixture->bob_profile));
  g_assert_cmpint (natter_call_get_call_log_id (dana_call), ==,
                   natter_call_get_call_log_id (bob_call));
  /* Each end sees its own media arrive: Bob's can come first. */
  natter_test_wait_until (natter_call_get_state (dana_call) == NATTER_CALL_STATE_CONNECTED,
                          TIMEOUT_MS);
  g_assert_cmpint (natter_call_get_state (dana_call), ==, NATTER_CALL_STATE_CONNECTED);
  natter_test_wait_until (connected (natter_application_get_client (fixture->application)),
                          TIMEOUT_MS);

  /* The call survives the switch; Bob ends it, and it ends for Dana. */
  natter_test_iterate_until (g_get_monotonic_time () + 300 * 1000);
  g_assert_cmpint (natter_call_get_state (dana_call), ==, NATTER_CALL_STATE_CONNECTED);
  natter_call_hang_up (bob_call);
  natter_test_wait_until (natter_call_get_state (dana_call) == NATTER_CALL_STATE_ENDED, TIMEOUT_MS);
  /* The tutor is watched again, the parent is the window's own. */
  natter_test_wait_until (
    natter_application_get_profile_client (fixture->application, parent) ==
        natter_application_get_client (fixture->application) &&
      connected (natter_application_get_profile_client (fixture->application, tutor)),
    TIMEOUT_MS);
  g_settings_reset (settings, "last-profile");
}

static void
clear_notifications (void)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GVariant) reply = NULL;

  reply = g_dbus_connection_call_sync (
    bus, "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
    "org.freedesktop.DBus.Mock", "ClearCalls", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  g_assert_nonnull (reply);
}

/* The summaries ("Bob Tesfaye", "Missed call from Bob Tesfaye") of every
 * notification sent since the last clear_notifications (), in order. */
static GPtrArray *
sent_notifications (void)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) calls = NULL;
  GPtrArray *summaries = g_ptr_array_new_with_free_func (g_free);
  GVariantIter iter;
  const char *method;
  GVariant *args;

  reply = g_dbus_connection_call_sync (
    bus, "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
    "org.freedesktop.DBus.Mock", "GetCalls", NULL, G_VARIANT_TYPE ("(a(tsav))"),
    G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  g_assert_nonnull (reply);
  calls = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, calls);
  while (g_variant_iter_next (&iter, "(t&s@av)", NULL, &method, &args)) {
    g_autoptr (GVariant) owned_args = args;
    g_autoptr (GVariant) boxed = NULL;
    g_autoptr (GVariant) title = NULL;

    if (!g_str_equal (method, "Notify"))
      continue;
    boxed = g_variant_get_child_value (args, 3);
    title = g_variant_get_variant (boxed);
    g_ptr_array_add (summaries, g_variant_dup_string (title, NULL));
  }

  return summaries;
}

/* The body of the last notification whose summary is @summary. */
static char *
last_notification_body (const char *summary)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) calls = NULL;
  char *body = NULL;
  GVariantIter iter;
  const char *method;
  GVariant *args;

  reply = g_dbus_connection_call_sync (
    bus, "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
    "org.freedesktop.DBus.Mock", "GetCalls", NULL, G_VARIANT_TYPE ("(a(tsav))"),
    G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  g_assert_nonnull (reply);
  calls = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, calls);
  while (g_variant_iter_next (&iter, "(t&s@av)", NULL, &method, &args)) {
    g_autoptr (GVariant) owned_args = args;
    g_autoptr (GVariant) boxed_summary = NULL;
    g_autoptr (GVariant) boxed_body = NULL;
    g_autoptr (GVariant) title = NULL;
    g_autoptr (GVariant) text = NULL;

    if (!g_str_equal (method, "Notify"))
      continue;
    boxed_summary = g_variant_get_child_value (args, 3);
    title = g_variant_get_variant (boxed_summary);
    if (!g_str_equal (g_variant_get_string (title, NULL), summary))
      continue;
    boxed_body = g_variant_get_child_value (args, 4);
    text = g_variant_get_variant (boxed_body);
    g_free (body);
    body = g_variant_dup_string (text, NULL);
  }

  return body;
}

static guint
count_notifications (const char *summary)
{
  g_autoptr (GPtrArray) summaries = sent_notifications ();
  guint n = 0;

  for (guint i = 0; i < summaries->len; i++)
    if (g_str_equal (g_ptr_array_index (summaries, i), summary))
      n++;

  return n;
}

int
main (int argc, char *argv[])
{
  g_autoptr (GSubprocess) notification_daemon = NULL;
  g_autofree char *config_dir = g_dir_make_tmp ("natter-app-window-config-XXXXXX", NULL);
  int status;

  g_setenv ("XDG_CONFIG_HOME", config_dir, TRUE);
  gtk_test_init (&argc, &argv, NULL);
  natter_test_log_allow_gst_sort_warning ();
  adw_init ();
  gst_init (NULL, NULL);
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  /* No devices here: test sources and sinks. */
  g_setenv ("NATTER_AUDIO_SRC", "audiotestsrc is-live=true wave=silence", FALSE);
  g_setenv ("NATTER_AUDIO_SINK", "fakesink", FALSE);
  g_setenv ("NATTER_VIDEO_SRC", "videotestsrc is-live=true", FALSE);

  g_test_add ("/natter/app/window/sidebar-drawn-after-burst", Fixture, NULL, fixture_set_up,
              test_sidebar_drawn_after_burst, fixture_tear_down);
  g_test_add ("/natter/app/window/enter-accepts-call", Fixture, NULL, fixture_set_up,
              test_enter_accepts_call, fixture_tear_down);

  g_test_add ("/natter/app/window/sign-out-and-in", Fixture, NULL, fixture_set_up,
              test_sign_out_and_in, fixture_tear_down);

  g_test_add ("/natter/app/window/call-ended-shows-duration", Fixture, NULL, fixture_set_up,
              test_call_ended_shows_duration, fixture_tear_down);

  g_test_add ("/natter/app/window/new-device-notifies-only-news", Fixture, fast_chat_short_ring,
              fixture_set_up, test_new_device_notifies_only_news, fixture_tear_down);

  g_test_add ("/natter/app/window/mute-and-do-not-disturb", Fixture, NULL, fixture_set_up,
              test_mute_and_do_not_disturb, fixture_tear_down);
  g_test_add ("/natter/app/window/text-is-not-markup", Fixture, NULL, fixture_set_up,
              test_text_is_not_markup, fixture_tear_down);

  g_test_add ("/natter/app/window/profile-switcher", Fixture, NULL, fixture_set_up,
              test_profile_switcher, fixture_tear_down);
  g_test_add ("/natter/app/window/sign-out-while-ringing", Fixture, NULL, fixture_set_up,
              test_sign_out_while_ringing, fixture_tear_down);
  g_test_add ("/natter/app/window/sign-out-clicked-in-preferences", Fixture, NULL, fixture_set_up,
              test_sign_out_clicked_in_preferences, fixture_tear_down);
  g_test_add ("/natter/app/window/other-profile-call-rings", Fixture, NULL, fixture_set_up,
              test_other_profile_call_rings, fixture_tear_down);

  notification_daemon = natter_test_start_notification_server ();
  status = g_test_run ();
  g_subprocess_force_exit (notification_daemon);
  g_rmdir (config_dir);

  return status;
}
