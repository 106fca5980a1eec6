/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app-screens"

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <gst/gst.h>

#include "natter-blocked-group.h"
#include "natter-call-overlay.h"
#include "natter-chat-view.h"
#include "natter-conversation-row.h"
#include "natter-client.h"
#include "natter-call-manager.h"
#include "natter-incoming-call-dialog.h"
#include "natter-message-list.h"
#include "natter-new-conversation-dialog.h"
#include "natter-preferences-window.h"
#include "natter-sign-in-window.h"
#include "natter-test-log.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "natter-video-paintable.h"
#include "natter-window.h"

/* Opens every screen of the app against a real natter-server, checks what
 * it shows, and saves a PNG of each into <build>/screenshots for people to
 * look at. Runs under Xvfb (see tests/meson.build). */

#define TIMEOUT_MS 10000

/* One application for the process: GTK starts up once. */
static GtkApplication *test_application;

typedef struct {
  NatterTestServer *server;
  char *data_dir;
  NatterClient *alice;
  NatterClient *bob;
  NatterProfile *alice_profile;
  NatterProfile *bob_profile;
  gint64 conversation_id;
  GtkApplication *application;
  GSettings *settings;
  char *shots_dir;
  char *alice_token;
} Fixture;

static NatterClient *
signed_in_client (Fixture *fixture, const char *name, const char *token)
{
  g_autofree char *dir = g_build_filename (fixture->data_dir, name, NULL);

  return natter_test_client_new_signed_in (natter_test_server_get_url (fixture->server), dir, token,
                                           TIMEOUT_MS);
}

static guint
count_messages (NatterClient *client, gint64 conversation_id)
{
  NatterStore *store = natter_client_get_store (client);

  return store ? natter_store_count_messages (store, conversation_id) : 0;
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autofree char *alice_token = NULL;
  g_autofree char *bob_token = NULL;
  g_autoptr (NatterUser) alice = NULL;
  g_autoptr (NatterUser) bob = NULL;

  fixture->server = natter_test_server_new (data);
  fixture->data_dir = g_dir_make_tmp ("natter-app-XXXXXX", NULL);
  fixture->shots_dir = natter_test_top_build_filename ("screenshots", NULL);
  g_mkdir_with_parents (fixture->shots_dir, 0755);

  alice = natter_test_server_register (fixture->server, "alice@example.org", "Alice Kebede",
                                       "tutor", &alice_token, &fixture->alice_profile);
  bob = natter_test_server_register (fixture->server, "bob@example.org", "Bob Tesfaye", "student",
                                     &bob_token, &fixture->bob_profile);
  g_assert_nonnull (alice);
  g_assert_nonnull (bob);

  fixture->conversation_id = natter_test_server_create_conversation (
    fixture->server, alice_token, fixture->alice_profile, fixture->bob_profile);

  fixture->alice = signed_in_client (fixture, "alice", alice_token);
  fixture->alice_token = g_strdup (alice_token);
  fixture->bob = signed_in_client (fixture, "bob", bob_token);
  natter_test_client_refresh_conversations (fixture->alice, TIMEOUT_MS);
  natter_test_client_refresh_conversations (fixture->bob, TIMEOUT_MS);

  fixture->settings = g_settings_new (APPLICATION_ID);
  fixture->application = g_object_ref (test_application);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  GList *windows = g_list_copy (gtk_application_get_windows (fixture->application));

  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_destroy (l->data);
  g_list_free (windows);

  g_clear_object (&fixture->alice);
  g_clear_object (&fixture->bob);
  g_clear_object (&fixture->settings);
  g_clear_object (&fixture->application);
  g_clear_pointer (&fixture->alice_profile, natter_profile_free);
  g_clear_pointer (&fixture->bob_profile, natter_profile_free);
  natter_test_server_free (fixture->server);
  g_clear_pointer (&fixture->shots_dir, g_free);
  g_clear_pointer (&fixture->alice_token, g_free);
  g_clear_pointer (&fixture->data_dir, g_free);

  /* Let finished requests and closed sockets release what they hold. */
  natter_test_iterate_until (g_get_monotonic_time () + 100 * 1000);
}

static void
on_after_paint (GdkFrameClock *clock, int *frames)
{
  (*frames)++;
}

/* Waits until the window has drawn a few frames with what it shows now. */
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
  /* Revealers and stack transitions take 250 ms. */
  natter_test_iterate_until (g_get_monotonic_time () + 400 * 1000);
  gtk_widget_queue_draw (widget);
  natter_test_wait_until (frames >= 2, TIMEOUT_MS);
  g_signal_handler_disconnect (clock, handler);
}

/* A conversation that does not fill the view asks the server for older
 * messages once it is laid out: wait for that to end before a screenshot. */
static void
wait_history_settled (GtkWidget *window, NatterChatView *chat_view)
{
  GtkRevealer *spinner = GTK_REVEALER (gtk_widget_get_template_child (
    GTK_WIDGET (chat_view), NATTER_TYPE_CHAT_VIEW, "loading_revealer"));
  GListModel *messages;

  settle (window);
  messages = natter_chat_view_get_messages (chat_view);
  g_assert_nonnull (messages);
  natter_test_wait_until (!natter_message_list_get_loading (NATTER_MESSAGE_LIST (messages)) &&
                            !gtk_revealer_get_child_revealed (spinner),
                          TIMEOUT_MS);
}

static void
save_screenshot (Fixture *fixture, GtkWidget *widget, const char *name)
{
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  g_autoptr (GdkTexture) texture = NULL;
  g_autoptr (GskRenderNode) node = NULL;
  const char *prefix = g_getenv ("NATTER_SCREENSHOT_PREFIX");
  g_autofree char *file = g_strconcat (prefix ? prefix : "", name, ".png", NULL);
  g_autofree char *path = g_build_filename (fixture->shots_dir, file, NULL);
  GtkSnapshot *snapshot;
  GskRenderer *renderer;
  int width, height;

  settle (widget);
  width = gtk_widget_get_width (widget);
  height = gtk_widget_get_height (widget);
  g_assert_cmpint (width, >, 0);
  g_assert_cmpint (height, >, 0);

  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);

  renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("saved %s", path);
}

static NatterWindow *
open_main_window (Fixture *fixture, int width, int height)
{
  NatterWindow *window = natter_window_new (fixture->application, fixture->alice, NULL);

  gtk_window_set_default_size (GTK_WINDOW (window), width, height);
  gtk_window_present (GTK_WINDOW (window));
  return window;
}

static void
send_conversation (Fixture *fixture)
{
  const char *lines[] = {
    "Hi Alice! Are we still on for the maths session tomorrow?",
    "Yes! 4 pm works for me. I'll bring the exercises on fractions.",
    "Great. Could you also look at question 7 from last week? I didn't get it.",
    "Sure, we'll start with that one.",
    "Here are the notes: https://example.org/notes/fractions.pdf",
    "Thanks 🙏",
  };
  guint before = count_messages (fixture->alice, fixture->conversation_id);

  for (guint i = 0; i < G_N_ELEMENTS (lines); i++) {
    NatterClient *sender = i % 2 == 0 ? fixture->bob : fixture->alice;
    g_autoptr (GError) error = NULL;
    g_autofree char *id =
      natter_client_send_message (sender, fixture->conversation_id, lines[i], &error);

    g_assert_no_error (error);
    g_assert_nonnull (id);
    natter_test_wait_until (
      count_messages (fixture->alice, fixture->conversation_id) >= before + i + 1 &&
        count_messages (fixture->bob, fixture->conversation_id) >= before + i + 1,
      TIMEOUT_MS);
  }
}

static void
test_sign_in (Fixture *fixture, gconstpointer data)
{
  NatterSignInWindow *window = natter_sign_in_window_new (fixture->application);
  g_autoptr (GError) error =
    g_error_new_literal (NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_UNAUTHORIZED, "401");

  gtk_window_present (GTK_WINDOW (window));
  save_screenshot (fixture, GTK_WIDGET (window), "sign-in");

  natter_sign_in_window_set_server_url (window, natter_test_server_get_url (fixture->server));
  natter_sign_in_window_set_email (window, "alice@example.org");
  g_assert_false (gtk_widget_activate_action (GTK_WIDGET (window), "sign-in.submit", NULL) &&
                  natter_sign_in_window_get_busy (window));
  natter_sign_in_window_show_error (window, error);
  save_screenshot (fixture, GTK_WIDGET (window), "sign-in-error");

  natter_sign_in_window_set_creating_account (window, TRUE);
  g_assert_true (natter_sign_in_window_get_creating_account (window));
  g_assert_cmpstr (natter_sign_in_window_get_profile_type (window), ==, "student");
  save_screenshot (fixture, GTK_WIDGET (window), "create-account");

  gtk_window_destroy (GTK_WINDOW (window));
}

/* The password must not leave for another machine unencrypted unwarned. */
static void
test_sign_in_cleartext_warning (Fixture *fixture, gconstpointer data)
{
  static const struct {
    const char *url;
    gboolean warned;
  } cases[] = {
    { "http://chat.example.org", TRUE },
    { "http://192.0.2.7:8000", TRUE },
    { "ws://[2001:db8::1]:8000", TRUE },
    { "HTTP://chat.example.org/", TRUE },
    { "https://chat.example.org", FALSE },
    { "http://127.0.0.1:8000", FALSE },
    { "http://127.8.9.10", FALSE },
    { "http://[::1]:8000", FALSE },
    { "http://localhost:8000", FALSE },
    { "chat.example.org", FALSE },
    { "", FALSE },
  };
  NatterSignInWindow *window = natter_sign_in_window_new (fixture->application);
  GtkRevealer *revealer = GTK_REVEALER (gtk_widget_get_template_child (
    GTK_WIDGET (window), NATTER_TYPE_SIGN_IN_WINDOW, "cleartext_revealer"));

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (natter_server_url_is_cleartext (cases[i].url), ==, cases[i].warned);

  gtk_window_present (GTK_WINDOW (window));
  natter_sign_in_window_set_server_url (window, natter_test_server_get_url (fixture->server));
  g_assert_false (gtk_revealer_get_reveal_child (revealer));

  natter_sign_in_window_set_server_url (window, " http://chat.example.org:8000 ");
  natter_sign_in_window_set_email (window, "alice@example.org");
  g_assert_true (gtk_revealer_get_reveal_child (revealer));
  natter_test_wait_until (gtk_revealer_get_child_revealed (revealer), TIMEOUT_MS);
  save_screenshot (fixture, GTK_WIDGET (window), "sign-in-cleartext");

  natter_sign_in_window_set_server_url (window, "https://chat.example.org");
  g_assert_false (gtk_revealer_get_reveal_child (revealer));

  gtk_window_destroy (GTK_WINDOW (window));
}

typedef struct {
  gboolean done;
  GError *error;
} LoginWait;

static void
on_login_finished (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LoginWait *wait = user_data;

  g_assert_false (natter_account_login_finish (NATTER_ACCOUNT (source), result, &wait->error));
  wait->done = TRUE;
}

/* Signs in against @server_url for real and returns what the form says. */
static char *
sign_in_error_text (Fixture *fixture,
                    NatterSignInWindow *window,
                    const char *server_url,
                    const char *password)
{
  g_autofree char *dir = g_build_filename (fixture->data_dir, "sign-in", NULL);
  g_autoptr (NatterClient) client = natter_client_new (server_url, dir);
  GtkLabel *label = GTK_LABEL (
    gtk_widget_get_template_child (GTK_WIDGET (window), NATTER_TYPE_SIGN_IN_WINDOW, "error_label"));
  LoginWait wait = { 0 };

  natter_sign_in_window_set_server_url (window, server_url);
  natter_account_login_async (natter_client_get_account (client), "alice@example.org", password,
                              NULL, on_login_finished, &wait);
  natter_test_wait_until (wait.done, TIMEOUT_MS);
  g_assert_nonnull (wait.error);
  natter_sign_in_window_show_error (window, wait.error);
  g_clear_error (&wait.error);

  return g_strdup (gtk_label_get_label (label));
}

static char *
make_certificate (const char *folder)
{
  g_autofree char *cert = g_build_filename (folder, "cert.pem", NULL);
  g_autofree char *key = g_build_filename (folder, "key.pem", NULL);
  const char *argv[] = { "openssl", "req",     "-x509", "-newkey",       "rsa:2048",
                         "-nodes",  "-keyout", key,     "-out",          cert,
                         "-days",   "1",       "-subj", "/CN=127.0.0.1", NULL };
  g_autoptr (GError) error = NULL;
  int wait_status = 0;

  g_spawn_sync (NULL, (char **) argv, NULL,
                G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                NULL, NULL, NULL, &wait_status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (wait_status, NULL));

  return g_steal_pointer (&cert);
}

/* The inline errors come from real failures: a wrong password on the real
 * server, nothing listening, and a server whose certificate is self-signed. */
static void
test_sign_in_errors (Fixture *fixture, gconstpointer data)
{
  NatterSignInWindow *window = natter_sign_in_window_new (fixture->application);
  g_autofree char *folder = g_build_filename (fixture->data_dir, "tls", NULL);
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autofree char *text = NULL;
  g_autofree char *expected = NULL;
  NatterTestServer *tls_server;

  gtk_window_present (GTK_WINDOW (window));

  text = sign_in_error_text (fixture, window, natter_test_server_get_url (fixture->server),
                             "not the password");
  g_assert_cmpstr (text, ==, "Wrong email or password.");
  g_clear_pointer (&text, g_free);

  text = sign_in_error_text (fixture, window, "http://127.0.0.1:1", NATTER_TEST_PASSWORD);
  g_assert_cmpstr (text, ==, "Cannot reach a Natter server at http://127.0.0.1:1.");
  save_screenshot (fixture, GTK_WIDGET (window), "sign-in-unreachable");
  g_clear_pointer (&text, g_free);

  g_mkdir_with_parents (folder, 0700);
  cert = make_certificate (folder);
  key = g_build_filename (folder, "key.pem", NULL);
  {
    const char *args[] = { "--tls-cert", cert, "--tls-key", key, NULL };

    tls_server = natter_test_server_new (args);
  }
  text = sign_in_error_text (fixture, window, natter_test_server_get_url (tls_server),
                             NATTER_TEST_PASSWORD);
  g_assert_true (g_str_has_prefix (text, "The server’s security certificate is not valid"));
  natter_test_server_free (tls_server);

  g_remove (cert);
  g_remove (key);
  g_rmdir (folder);
  gtk_window_destroy (GTK_WINDOW (window));
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

/* The sidebar row of a conversation, as the list view made it. */
static NatterConversationRow *
find_conversation_row (NatterWindow *window, gint64 conversation_id)
{
  GtkWidget *list_view = GTK_WIDGET (gtk_widget_get_template_child (
    GTK_WIDGET (window), NATTER_TYPE_WINDOW, "conversation_list_view"));

  g_assert_nonnull (list_view);
  return find_row_under (list_view, conversation_id);
}

typedef struct {
  NatterWindow *window;
  GtkWidget *dot;
  guint connecting;
  guint shown_online;
} RetryWatch;

/* After the window's own handler: while a retry connects, is presence
 * shown? */
static void
on_retry_state (NatterConnection *connection, GParamSpec *pspec, RetryWatch *watch)
{
  if (natter_connection_get_state (connection) != NATTER_CONNECTION_STATE_CONNECTING)
    return;
  watch->connecting++;
  if (natter_window_get_online (watch->window) || gtk_widget_get_visible (watch->dot))
    watch->shown_online++;
}

/* What a screen reader hears of the row: with presence only when online. */
static void
assert_row_label (NatterConversationRow *row, gboolean with_presence)
{
  NatterConversationItem *item = natter_conversation_row_get_item (row);
  const char *title = natter_conversation_item_get_title (item);
  guint unread = natter_conversation_item_get_unread_count (item);
  g_autofree char *expected = NULL;

  if (with_presence)
    expected = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s, %s, %u unread message",
                                             "%s, %s, %u unread messages", unread),
                                title,
                                natter_conversation_item_get_peer_online (item)
                                  ? g_dgettext (GETTEXT_PACKAGE, "online")
                                  : g_dgettext (GETTEXT_PACKAGE, "offline"),
                                unread);
  else
    expected = g_strdup_printf (
      g_dngettext (GETTEXT_PACKAGE, "%s, %u unread message", "%s, %u unread messages", unread),
      title, unread);
  gtk_test_accessible_assert_property (row, GTK_ACCESSIBLE_PROPERTY_LABEL, expected);
}

static void
test_main_window (Fixture *fixture, gconstpointer data)
{
  NatterWindow *window;
  NatterChatView *chat_view;
  GListModel *messages;

  send_conversation (fixture);
  window = open_main_window (fixture, 1000, 700);
  save_screenshot (fixture, GTK_WIDGET (window), "main-empty");

  g_assert_true (natter_window_open_conversation (window, fixture->conversation_id));
  chat_view = natter_window_get_chat_view (window);
  messages = natter_chat_view_get_messages (chat_view);
  g_assert_nonnull (messages);
  natter_test_wait_until (g_list_model_get_n_items (messages) >= 6, TIMEOUT_MS);
  natter_chat_view_set_draft (chat_view, "See you tomorrow!");
  wait_history_settled (GTK_WIDGET (window), chat_view);
  save_screenshot (fixture, GTK_WIDGET (window), "main-chat");

  {
    AdwWindowTitle *title = ADW_WINDOW_TITLE (gtk_widget_get_template_child (
      GTK_WIDGET (chat_view), NATTER_TYPE_CHAT_VIEW, "window_title"));
    NatterConversationRow *row = find_conversation_row (window, fixture->conversation_id);
    RetryWatch retry = { 0 };
    gulong handler;
    GtkWidget *dot;

    /* Online: Bob's presence in the header and a dot on his row. */
    g_assert_nonnull (row);
    dot = GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (row), NATTER_TYPE_CONVERSATION_ROW,
                                                     "presence_dot"));
    natter_test_wait_until (gtk_widget_get_visible (dot), TIMEOUT_MS);
    g_assert_true (natter_window_get_online (window));
    g_assert_true (gtk_widget_get_visible (dot));
    g_assert_cmpstr (adw_window_title_get_subtitle (title), !=, "");
    assert_row_label (row, TRUE);

    /* The server goes away: what the window knows of presence is stale, in
     * the header and in the sidebar, also while the retries connect. */
    natter_test_server_stop (fixture->server);
    natter_test_wait_until (!natter_window_get_online (window), TIMEOUT_MS);
    g_assert_false (natter_window_get_online (window));
    g_assert_false (natter_conversation_row_get_presence_known (row));
    g_assert_false (gtk_widget_get_visible (dot));
    g_assert_cmpstr (adw_window_title_get_subtitle (title), ==, "");
    assert_row_label (row, FALSE);
    retry.window = window;
    retry.dot = dot;
    handler = g_signal_connect (natter_client_get_connection (fixture->alice), "notify::state",
                                G_CALLBACK (on_retry_state), &retry);
    natter_test_wait_until (retry.connecting > 0, TIMEOUT_MS);
    g_clear_signal_handler (&handler, natter_client_get_connection (fixture->alice));
    g_assert_cmpuint (retry.connecting, >, 0);
    g_assert_cmpuint (retry.shown_online, ==, 0);
    save_screenshot (fixture, GTK_WIDGET (window), "main-offline");

    /* Back: Bob's dot too, once his own client is back. */
    natter_test_server_restart (fixture->server);
    natter_test_wait_until (natter_window_get_online (window) && gtk_widget_get_visible (dot),
                            TIMEOUT_MS);
    g_assert_true (natter_window_get_online (window));
    g_assert_true (gtk_widget_get_visible (dot));
    assert_row_label (row, TRUE);
  }

  adw_style_manager_set_color_scheme (adw_style_manager_get_default (),
                                      ADW_COLOR_SCHEME_FORCE_DARK);
  save_screenshot (fixture, GTK_WIDGET (window), "main-chat-dark");
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (), ADW_COLOR_SCHEME_DEFAULT);

  /* High contrast, as the desktop's accessibility setting asks (libadwaita
   * reads it from GSettings without a portal). */
  {
    g_autoptr (GSettings) a11y = g_settings_new ("org.gnome.desktop.a11y.interface");

    g_settings_set_boolean (a11y, "high-contrast", TRUE);
    natter_test_wait_until (adw_style_manager_get_high_contrast (adw_style_manager_get_default ()),
                            TIMEOUT_MS);
    save_screenshot (fixture, GTK_WIDGET (window), "main-chat-high-contrast");
    g_settings_reset (a11y, "high-contrast");
    natter_test_wait_until (!adw_style_manager_get_high_contrast (adw_style_manager_get_default ()),
                            TIMEOUT_MS);
  }

  gtk_window_destroy (GTK_WINDOW (window));

  window = open_main_window (fixture, 400, 700);
  save_screenshot (fixture, GTK_WIDGET (window), "narrow-sidebar");
  g_assert_true (natter_window_open_conversation (window, fixture->conversation_id));
  wait_history_settled (GTK_WIDGET (window), natter_window_get_chat_view (window));
  save_screenshot (fixture, GTK_WIDGET (window), "narrow-chat");
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
on_message_received (NatterClient *client, const NatterMessage *message, char **text)
{
  g_free (*text);
  *text = g_strdup (message->text);
}

/* Alice on a new computer, with a server that replays only the last event
 * on sync: the local store has the newest message at most, and opening the
 * conversation fetches the rest. */
static void
test_history_from_server (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterClient) fresh = NULL;
  NatterWindow *window;
  GListModel *messages;
  GtkWidget *content_stack;

  send_conversation (fixture);
  fresh = signed_in_client (fixture, "alice-new-computer", fixture->alice_token);
  g_assert_cmpuint (count_messages (fresh, fixture->conversation_id), <=, 1);

  window = natter_window_new (fixture->application, fresh, NULL);
  gtk_window_set_default_size (GTK_WINDOW (window), 1000, 700);
  gtk_window_present (GTK_WINDOW (window));
  natter_test_wait_until (natter_window_open_conversation (window, fixture->conversation_id),
                          TIMEOUT_MS);
  messages = natter_chat_view_get_messages (natter_window_get_chat_view (window));
  natter_test_wait_until (g_list_model_get_n_items (messages) >= 6, TIMEOUT_MS);
  g_assert_cmpuint (g_list_model_get_n_items (messages), ==, 6);

  /* The list, not the "no messages" page. */
  content_stack = GTK_WIDGET (gtk_widget_get_template_child (
    GTK_WIDGET (natter_window_get_chat_view (window)), NATTER_TYPE_CHAT_VIEW, "content_stack"));
  g_assert_cmpstr (gtk_stack_get_visible_child_name (GTK_STACK (content_stack)), ==, "messages");
  save_screenshot (fixture, GTK_WIDGET (window), "history-from-server");

  gtk_window_destroy (GTK_WINDOW (window));
}

static NatterMessageState
last_item_state (GListModel *messages)
{
  guint n = g_list_model_get_n_items (messages);
  g_autoptr (NatterMessageItem) last = n > 0 ? g_list_model_get_item (messages, n - 1) : NULL;

  return last ? natter_message_item_get_state (last) : NATTER_MESSAGE_STATE_PENDING;
}

static void
test_message_reaches_other_side (Fixture *fixture, gconstpointer data)
{
  NatterWindow *window = open_main_window (fixture, 1000, 700);
  NatterChatView *chat_view = natter_window_get_chat_view (window);
  g_autofree char *received = NULL;
  g_autoptr (GError) error = NULL;
  GListModel *messages;

  g_signal_connect (fixture->bob, "message-received", G_CALLBACK (on_message_received), &received);
  g_assert_true (natter_window_open_conversation (window, fixture->conversation_id));
  settle (GTK_WIDGET (window));

  natter_chat_view_set_draft (chat_view, "  Typed in the app  ");
  g_assert_true (natter_chat_view_send_draft (chat_view, &error));
  g_assert_no_error (error);

  natter_test_wait_until (received != NULL, TIMEOUT_MS);
  g_assert_cmpstr (received, ==, "Typed in the app");

  /* The own copy is in the list too, and no longer pending. */
  messages = natter_chat_view_get_messages (chat_view);
  natter_test_wait_until (g_list_model_get_n_items (messages) >= 1, TIMEOUT_MS);
  {
    guint n = g_list_model_get_n_items (messages);
    g_autoptr (NatterMessageItem) last = g_list_model_get_item (messages, n - 1);

    g_assert_cmpstr (natter_message_item_get_text (last), ==, "Typed in the app");
    g_assert_true (natter_message_item_get_outgoing (last));
  }
  /* The list replaces the pending item by the stored one: ask again. */
  natter_test_wait_until (last_item_state (messages) == NATTER_MESSAGE_STATE_SENT, TIMEOUT_MS);

  /* A blank draft is not sent. */
  natter_chat_view_set_draft (chat_view, "   ");
  g_assert_false (natter_chat_view_send_draft (chat_view, &error));
  g_assert_no_error (error);

  /* Keys in the composer: Shift+Enter is left to the text view (a new
   * line), Enter sends. */
  {
    GtkWidget *text_view = GTK_WIDGET (
      gtk_widget_get_template_child (GTK_WIDGET (chat_view), NATTER_TYPE_CHAT_VIEW, "text_view"));
    GtkTextBuffer *buffer = gtk_text_view_get_buffer (GTK_TEXT_VIEW (text_view));
    g_autoptr (GListModel) controllers = gtk_widget_observe_controllers (text_view);
    GtkEventController *keys = NULL;
    gboolean handled = FALSE;

    for (guint i = 0; i < g_list_model_get_n_items (controllers); i++) {
      g_autoptr (GtkEventController) controller = g_list_model_get_item (controllers, i);

      if (GTK_IS_EVENT_CONTROLLER_KEY (controller) &&
          gtk_event_controller_get_propagation_phase (controller) == GTK_PHASE_CAPTURE)
        keys = controller;
    }
    g_assert_nonnull (keys);

    g_clear_pointer (&received, g_free);
    gtk_text_buffer_set_text (buffer, "Sent with Enter", -1);
    g_signal_emit_by_name (keys, "key-pressed", GDK_KEY_Return, 0, GDK_SHIFT_MASK, &handled);
    g_assert_false (handled);
    g_signal_emit_by_name (keys, "key-pressed", GDK_KEY_Return, 0, 0, &handled);
    g_assert_true (handled);
    natter_test_wait_until (received != NULL, TIMEOUT_MS);
    g_assert_cmpstr (received, ==, "Sent with Enter");
    g_assert_cmpint (gtk_text_buffer_get_char_count (buffer), ==, 0);
  }

  g_signal_handlers_disconnect_by_func (fixture->bob, on_message_received, &received);
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
on_profile_chosen (NatterNewConversationDialog *dialog,
                   const NatterProfile *profile,
                   NatterProfile **chosen)
{
  *chosen = natter_profile_copy (profile);
}

static void
test_new_conversation (Fixture *fixture, gconstpointer data)
{
  NatterWindow *window = open_main_window (fixture, 1000, 700);
  NatterNewConversationDialog *dialog = natter_new_conversation_dialog_new (
    GTK_WINDOW (window), natter_client_get_account (fixture->alice));
  g_autoptr (NatterProfile) chosen = NULL;

  g_signal_connect (dialog, "profile-chosen", G_CALLBACK (on_profile_chosen), &chosen);
  gtk_window_present (GTK_WINDOW (dialog));
  save_screenshot (fixture, GTK_WIDGET (dialog), "new-conversation");

  natter_new_conversation_dialog_search (dialog, "Bob");
  natter_test_wait_until (
    g_strcmp0 (gtk_stack_get_visible_child_name (GTK_STACK (gtk_widget_get_template_child (
                 GTK_WIDGET (dialog), NATTER_TYPE_NEW_CONVERSATION_DIALOG, "stack"))),
               "results") == 0,
    TIMEOUT_MS);
  save_screenshot (fixture, GTK_WIDGET (dialog), "new-conversation-results");
  {
    GtkWidget *results = GTK_WIDGET (gtk_widget_get_template_child (
      GTK_WIDGET (dialog), NATTER_TYPE_NEW_CONVERSATION_DIALOG, "results_list"));
    GtkWidget *first = gtk_widget_get_first_child (results);

    /* The profile type as the user reads it, translated, not the wire's. */
    g_assert_true (ADW_IS_ACTION_ROW (first));
    g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (first)), ==,
                     g_dpgettext2 (GETTEXT_PACKAGE, "profile type", "Student"));
  }

  /* Enter in the search entry picks the first person found. */
  g_signal_emit_by_name (gtk_widget_get_template_child (GTK_WIDGET (dialog),
                                                        NATTER_TYPE_NEW_CONVERSATION_DIALOG,
                                                        "search_entry"),
                         "activate");
  g_assert_nonnull (chosen);
  g_assert_true (natter_profile_equal (chosen, fixture->bob_profile));

  gtk_window_destroy (GTK_WINDOW (dialog));
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
on_action_activated (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
}

static void
test_preferences (Fixture *fixture, gconstpointer data)
{
  NatterWindow *window = open_main_window (fixture, 1000, 700);
  NatterPreferencesWindow *preferences =
    natter_preferences_window_new (GTK_WINDOW (window), fixture->settings, "alice@example.org");
  g_autoptr (GSimpleAction) sign_out = g_simple_action_new ("sign-out", NULL);
  g_autoptr (GSimpleAction) sign_out_everywhere = g_simple_action_new ("sign-out-everywhere", NULL);
  GtkWidget *sign_out_button;
  GtkWidget *sign_out_everywhere_button;
  gboolean signed_out = FALSE;
  gboolean signed_out_everywhere = FALSE;

  /* The test application stands in for NatterApplication's app.sign-out,
   * and the window is one of the application's, as the app makes it: the
   * button is live, not greyed out, in the screenshot. */
  g_signal_connect (sign_out, "activate", G_CALLBACK (on_action_activated), &signed_out);
  g_action_map_add_action (G_ACTION_MAP (fixture->application), G_ACTION (sign_out));
  g_signal_connect (sign_out_everywhere, "activate", G_CALLBACK (on_action_activated),
                    &signed_out_everywhere);
  g_action_map_add_action (G_ACTION_MAP (fixture->application), G_ACTION (sign_out_everywhere));
  gtk_window_set_application (GTK_WINDOW (preferences), fixture->application);

  /* Tall enough for the whole page, sign-out included, in the screenshot. */
  gtk_window_set_default_size (GTK_WINDOW (preferences), 560, 800);
  gtk_window_present (GTK_WINDOW (preferences));
  save_screenshot (fixture, GTK_WIDGET (preferences), "preferences");

  sign_out_button = GTK_WIDGET (gtk_widget_get_template_child (
    GTK_WIDGET (preferences), NATTER_TYPE_PREFERENCES_WINDOW, "sign_out_button"));
  g_assert_true (gtk_widget_is_sensitive (sign_out_button));
  /* A button activated from the keyboard clicks after its pressed look. */
  g_assert_true (gtk_widget_activate (sign_out_button));
  natter_test_wait_until (signed_out, TIMEOUT_MS);
  g_action_map_remove_action (G_ACTION_MAP (fixture->application), "sign-out");

  /* Sign out everywhere: the user's other devices too. */
  sign_out_everywhere_button = GTK_WIDGET (gtk_widget_get_template_child (
    GTK_WIDGET (preferences), NATTER_TYPE_PREFERENCES_WINDOW, "sign_out_everywhere_button"));
  g_assert_true (gtk_widget_is_sensitive (sign_out_everywhere_button));
  signed_out = FALSE;
  g_assert_true (gtk_widget_activate (sign_out_everywhere_button));
  natter_test_wait_until (signed_out_everywhere, TIMEOUT_MS);
  g_assert_false (signed_out);
  g_action_map_remove_action (G_ACTION_MAP (fixture->application), "sign-out-everywhere");

  g_settings_set_boolean (fixture->settings, "ringtone-enabled", FALSE);
  g_assert_false (gtk_switch_get_active (GTK_SWITCH (gtk_widget_get_template_child (
    GTK_WIDGET (preferences), NATTER_TYPE_PREFERENCES_WINDOW, "ringtone_switch"))));
  g_settings_reset (fixture->settings, "ringtone-enabled");

  /* A sign-in kept in a file instead of a keyring is said, with the file. */
  {
    AdwActionRow *token_file_row = ADW_ACTION_ROW (gtk_widget_get_template_child (
      GTK_WIDGET (preferences), NATTER_TYPE_PREFERENCES_WINDOW, "token_file_row"));
    g_autofree char *dir = g_build_filename (fixture->data_dir, "token-in-file", NULL);
    g_autoptr (NatterClient) client = NULL;

    g_assert_false (gtk_widget_get_visible (GTK_WIDGET (token_file_row)));
    g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
    client = natter_client_new (natter_test_server_get_url (fixture->server), dir);
    g_unsetenv ("NATTER_TOKEN_STORE");
    natter_preferences_window_set_client (preferences, client);
    g_assert_true (gtk_widget_get_visible (GTK_WIDGET (token_file_row)));
    g_assert_nonnull (strstr (adw_action_row_get_subtitle (token_file_row), "tokens.ini"));
    g_assert_nonnull (strstr (adw_action_row_get_subtitle (token_file_row), dir));
    {
      GtkWidget *scrolled =
        gtk_widget_get_ancestor (GTK_WIDGET (token_file_row), GTK_TYPE_SCROLLED_WINDOW);
      GtkAdjustment *adjustment =
        gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (scrolled));

      graphene_rect_t bounds = { 0 };

      /* Scrolled to the end once the new row is laid out and in view. */
      natter_test_wait_until (
        (gtk_adjustment_set_value (adjustment, gtk_adjustment_get_upper (adjustment)),
         gtk_widget_compute_bounds (GTK_WIDGET (token_file_row), scrolled, &bounds) &&
           bounds.origin.y + bounds.size.height <= gtk_widget_get_height (scrolled)),
        TIMEOUT_MS);
    }
    save_screenshot (fixture, GTK_WIDGET (preferences), "preferences-token-in-file");
    natter_preferences_window_set_client (preferences, NULL);
    g_assert_false (gtk_widget_get_visible (GTK_WIDGET (token_file_row)));
  }

  gtk_window_destroy (GTK_WINDOW (preferences));
  gtk_window_destroy (GTK_WINDOW (window));
}

/* The first GtkButton under @widget whose label is @label. */
static GtkWidget *
find_button_labelled (GtkWidget *widget, const char *label)
{
  if (GTK_IS_BUTTON (widget) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (widget)), label) == 0)
    return widget;

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    GtkWidget *found = find_button_labelled (child, label);

    if (found != NULL)
      return found;
  }
  return NULL;
}

static GtkWidget *
find_widget_of_type (GtkWidget *widget, GType type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    GtkWidget *found = find_widget_of_type (child, type);

    if (found != NULL)
      return found;
  }
  return NULL;
}

static gboolean
bob_is_blocked (Fixture *fixture, gboolean *out_answered)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GPtrArray) blocked = NULL;
  g_autoptr (GError) error = NULL;

  natter_client_list_blocked_async (fixture->alice, NULL, natter_test_on_task_done, &result);
  natter_test_wait_until (result != NULL, TIMEOUT_MS);
  blocked = natter_client_list_blocked_finish (fixture->alice, result, &error);
  g_assert_no_error (error);
  *out_answered = TRUE;
  return blocked->len == 1 &&
         natter_profile_equal (g_ptr_array_index (blocked, 0), fixture->bob_profile);
}

/* "Block" in the conversation's menu blocks the peer; Preferences lists
 * the blocked profiles, and "Unblock" there lifts the block. */
static void
test_block_from_menu_and_unblock (Fixture *fixture, gconstpointer data)
{
  NatterWindow *window;
  NatterChatView *chat_view;
  NatterPreferencesWindow *preferences;
  NatterBlockedGroup *group;
  GtkMenuButton *menu_button;
  GtkWidget *unblock;
  gboolean answered = FALSE;

  send_conversation (fixture);
  window = open_main_window (fixture, 1000, 700);
  g_assert_true (natter_window_open_conversation (window, fixture->conversation_id));
  chat_view = natter_window_get_chat_view (window);
  wait_history_settled (GTK_WIDGET (window), chat_view);

  menu_button =
    GTK_MENU_BUTTON (find_widget_of_type (GTK_WIDGET (chat_view), GTK_TYPE_MENU_BUTTON));
  g_assert_nonnull (menu_button);
  gtk_menu_button_popup (menu_button);
  natter_test_wait_until (
    gtk_widget_get_mapped (GTK_WIDGET (gtk_menu_button_get_popover (menu_button))), TIMEOUT_MS);
  save_screenshot (fixture, GTK_WIDGET (gtk_menu_button_get_popover (menu_button)),
                   "conversation-menu");
  gtk_menu_button_popdown (menu_button);

  g_assert_false (bob_is_blocked (fixture, &answered));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (chat_view), "chat.block-peer", NULL));
  {
    gint64 deadline = g_get_monotonic_time () + (gint64) natter_test_scale_ms (TIMEOUT_MS) * 1000;

    while (!bob_is_blocked (fixture, &answered))
      g_assert_true (natter_test_iterate_until (deadline));
  }

  preferences =
    natter_preferences_window_new (GTK_WINDOW (window), fixture->settings, "alice@example.org");
  natter_preferences_window_set_client (preferences, fixture->alice);
  gtk_window_set_application (GTK_WINDOW (preferences), fixture->application);
  gtk_window_set_default_size (GTK_WINDOW (preferences), 560, 1000);
  gtk_window_present (GTK_WINDOW (preferences));
  group = NATTER_BLOCKED_GROUP (gtk_widget_get_template_child (
    GTK_WIDGET (preferences), NATTER_TYPE_PREFERENCES_WINDOW, "blocked_group"));
  natter_test_wait_until (natter_blocked_group_get_loaded (group) &&
                            natter_blocked_group_get_n_blocked (group) == 1,
                          TIMEOUT_MS);
  save_screenshot (fixture, GTK_WIDGET (preferences), "preferences-blocked");

  unblock = find_button_labelled (GTK_WIDGET (group), _ ("_Unblock"));
  g_assert_nonnull (unblock);
  g_assert_true (gtk_widget_activate (unblock));
  natter_test_wait_until (natter_blocked_group_get_n_blocked (group) == 0, TIMEOUT_MS);
  g_assert_false (bob_is_blocked (fixture, &answered));

  gtk_window_destroy (GTK_WINDOW (preferences));
  gtk_window_destroy (GTK_WINDOW (window));
}

static NatterCallManager *
call_manager_of (NatterClient *client)
{
  NatterCallManager *call_manager = NULL;

  g_object_get (client, "call-manager", &call_manager, NULL);
  g_assert_nonnull (call_manager);
  g_object_unref (call_manager); /* the client keeps it */
  return call_manager;
}

/* Bob calls Alice: her ringing call, with a picture of Bob (an orange
 * square with a dark band) as the call's avatar. */
static NatterCall *
ring_alice (Fixture *fixture, const char *call_type, NatterCall **out_bob_call)
{
  NatterCallManager *alice_calls = call_manager_of (fixture->alice);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) pixels = NULL;
  g_autoptr (GdkTexture) picture = NULL;
  g_autoptr (GBytes) png = NULL;
  g_autoptr (GIcon) avatar = NULL;
  guint8 *data = g_malloc (64 * 64 * 4);
  NatterCall *alice_call;

  for (guint i = 0; i < 64 * 64; i++) {
    gboolean band = (i / 64) >= 24 && (i / 64) < 40;

    data[4 * i] = band ? 0x24 : 0xf6;
    data[4 * i + 1] = band ? 0x1f : 0x61;
    data[4 * i + 2] = band ? 0x31 : 0x51;
    data[4 * i + 3] = 0xff;
  }
  pixels = g_bytes_new_take (data, 64 * 64 * 4);
  picture = gdk_memory_texture_new (64, 64, GDK_MEMORY_R8G8B8A8, pixels, 64 * 4);
  png = gdk_texture_save_to_png_bytes (picture);

  *out_bob_call = g_object_ref (natter_call_manager_start_call (call_manager_of (fixture->bob),
                                                                fixture->alice_profile, call_type,
                                                                fixture->conversation_id, &error));
  g_assert_no_error (error);
  natter_test_wait_until (
    g_list_model_get_n_items (natter_call_manager_get_calls (alice_calls)) > 0, TIMEOUT_MS);
  alice_call = g_list_model_get_item (natter_call_manager_get_calls (alice_calls), 0);
  g_assert_true (natter_call_is_ringing (alice_call));
  avatar = g_bytes_icon_new (png);
  natter_call_set_avatar (alice_call, G_LOADABLE_ICON (avatar));
  return alice_call;
}

static void
hang_up (Fixture *fixture, NatterCall *bob_call)
{
  natter_call_hang_up (bob_call);
  natter_test_wait_until (g_list_model_get_n_items (
                            natter_call_manager_get_calls (call_manager_of (fixture->alice))) == 0,
                          TIMEOUT_MS);
}

static void
on_accept_video_call (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  *(gint64 *) user_data = g_variant_get_int64 (parameter);
}

static void
test_incoming_call_dialog (Fixture *fixture, gconstpointer data)
{
  NatterWindow *window = open_main_window (fixture, 1000, 700);
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (NatterCall) call = ring_alice (fixture, "video", &bob_call);
  NatterIncomingCallDialog *dialog = natter_incoming_call_dialog_new (GTK_WINDOW (window), call);
  g_autoptr (GSimpleActionGroup) app_actions = g_simple_action_group_new ();
  g_autoptr (GSimpleAction) accept_video = NULL;
  gint64 accepted_call_log_id = 0;

  /* Answers go to the application's actions, targeted at the call. */
  accept_video = g_simple_action_new ("accept-video-call", G_VARIANT_TYPE_INT64);
  g_signal_connect (accept_video, "activate", G_CALLBACK (on_accept_video_call),
                    &accepted_call_log_id);
  g_action_map_add_action (G_ACTION_MAP (app_actions), G_ACTION (accept_video));
  gtk_widget_insert_action_group (GTK_WIDGET (dialog), "app", G_ACTION_GROUP (app_actions));

  gtk_window_present (GTK_WINDOW (dialog));
  g_assert_cmpstr (natter_incoming_call_dialog_get_caller_name (dialog), ==, "Bob Tesfaye");
  save_screenshot (fixture, GTK_WIDGET (dialog), "incoming-call");

  /* Escape silences, as the shortcuts window says. */
  {
    g_autoptr (GListModel) controllers = gtk_widget_observe_controllers (GTK_WIDGET (dialog));
    const char *escape_action = NULL;

    for (guint i = 0; i < g_list_model_get_n_items (controllers); i++) {
      g_autoptr (GObject) controller = g_list_model_get_item (controllers, i);

      if (!GTK_IS_SHORTCUT_CONTROLLER (controller))
        continue;
      for (guint j = 0; j < g_list_model_get_n_items (G_LIST_MODEL (controller)); j++) {
        g_autoptr (GtkShortcut) shortcut = g_list_model_get_item (G_LIST_MODEL (controller), j);
        GtkShortcutTrigger *trigger = gtk_shortcut_get_trigger (shortcut);
        GtkShortcutAction *action = gtk_shortcut_get_action (shortcut);

        if (GTK_IS_KEYVAL_TRIGGER (trigger) &&
            gtk_keyval_trigger_get_keyval (GTK_KEYVAL_TRIGGER (trigger)) == GDK_KEY_Escape &&
            GTK_IS_NAMED_ACTION (action))
          escape_action = gtk_named_action_get_action_name (GTK_NAMED_ACTION (action));
      }
    }
    g_assert_cmpstr (escape_action, ==, "call.silence");
  }

  g_assert_false (natter_call_get_silenced (call));
  gtk_widget_activate_action (GTK_WIDGET (dialog), "call.silence", NULL);
  g_assert_true (natter_call_get_silenced (call));
  gtk_widget_activate_action (GTK_WIDGET (dialog), "call.accept-video", NULL);
  g_assert_cmpint (accepted_call_log_id, ==, natter_call_get_call_log_id (call));
  gtk_window_destroy (GTK_WINDOW (dialog));
  hang_up (fixture, bob_call);
  g_clear_object (&call);
  g_clear_object (&bob_call);

  call = ring_alice (fixture, "voice", &bob_call);
  dialog = natter_incoming_call_dialog_new (GTK_WINDOW (window), call);
  gtk_window_present (GTK_WINDOW (dialog));
  save_screenshot (fixture, GTK_WIDGET (dialog), "incoming-call-voice");

  gtk_window_destroy (GTK_WINDOW (dialog));
  hang_up (fixture, bob_call);
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_call_overlay (Fixture *fixture, gconstpointer data)
{
  NatterWindow *window = open_main_window (fixture, 1000, 700);
  NatterCallOverlay *overlay = natter_window_get_call_overlay (window);
  g_autoptr (NatterVideoPaintable) remote = natter_video_paintable_new ();
  g_autoptr (NatterVideoPaintable) local = natter_video_paintable_new ();
  g_autoptr (GstElement) pipeline = NULL;
  GstElement *remote_sink;
  GstElement *local_sink;
  GstElement *remote_src;
  GstElement *local_src;

  natter_call_overlay_set_peer_name (overlay, "Bob Tesfaye");
  natter_call_overlay_set_call_type (overlay, "voice");
  natter_call_overlay_set_status (overlay, "Connected");
  natter_call_overlay_set_duration (overlay, 83);
  natter_call_overlay_set_quality (overlay, 3);
  {
    g_autoptr (GMenu) devices = g_menu_new ();

    g_menu_append (devices, "System Default", NULL);
    natter_call_overlay_set_devices_menu (overlay, G_MENU_MODEL (devices));
  }
  natter_window_set_call_active (window, TRUE, "Bob Tesfaye · 1:23 — Return to Call");
  natter_window_show_call (window);
  save_screenshot (fixture, GTK_WIDGET (window), "call-voice");

  /* Video: real frames through the fallback paintable. */
  pipeline = gst_pipeline_new (NULL);
  remote_src = gst_element_factory_make ("videotestsrc", NULL);
  local_src = gst_element_factory_make ("videotestsrc", NULL);
  g_object_set (remote_src, "pattern", 0, "is-live", TRUE, NULL);
  g_object_set (local_src, "pattern", 18, "is-live", TRUE, NULL);
  remote_sink = natter_video_paintable_create_sink (remote);
  local_sink = natter_video_paintable_create_sink (local);
  gst_bin_add_many (GST_BIN (pipeline), remote_src, remote_sink, local_src, local_sink, NULL);
  g_assert_true (gst_element_link (remote_src, remote_sink));
  g_assert_true (gst_element_link (local_src, local_sink));
  gst_element_set_state (pipeline, GST_STATE_PLAYING);

  natter_call_overlay_set_call_type (overlay, "video");
  natter_call_overlay_set_remote_video (overlay, GDK_PAINTABLE (remote));
  natter_call_overlay_set_local_video (overlay, GDK_PAINTABLE (local));
  natter_call_overlay_set_remote_state (overlay, TRUE, FALSE);
  natter_test_wait_until (natter_video_paintable_get_frame_count (remote) > 2 &&
                            natter_video_paintable_get_frame_count (local) > 2,
                          TIMEOUT_MS);
  save_screenshot (fixture, GTK_WIDGET (window), "call-video");
  /* Our video reduced for want of bandwidth: said in words. */
  g_assert_false (natter_call_overlay_get_poor_connection (overlay));
  natter_call_overlay_set_poor_connection (overlay, TRUE);
  g_assert_true (natter_call_overlay_get_poor_connection (overlay));
  natter_call_overlay_set_poor_connection (overlay, FALSE);

  natter_call_overlay_set_muted (overlay, TRUE);
  gtk_widget_activate_action (GTK_WIDGET (overlay), "call.toggle-camera", NULL);
  g_assert_false (natter_call_overlay_get_camera_enabled (overlay));
  /* What NatterWindow does when the call ends. */
  natter_call_overlay_set_status (overlay, "Call ended");
  natter_call_overlay_set_duration (overlay, -1);
  natter_call_overlay_set_quality (overlay, -1);
  natter_call_overlay_show_ended (overlay, "Call ended · 1:23");
  save_screenshot (fixture, GTK_WIDGET (window), "call-ended");

  gst_element_set_state (pipeline, GST_STATE_NULL);

  /* Another conversation during the call: the bar leads back. */
  natter_call_overlay_show_ended (overlay, NULL);
  g_assert_true (natter_window_open_conversation (window, fixture->conversation_id));
  save_screenshot (fixture, GTK_WIDGET (window), "return-to-call");

  natter_window_set_call_active (window, FALSE, NULL);
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
on_final_activate (GApplication *application)
{
  g_signal_stop_emission_by_name (application, "activate");
  g_application_quit (application);
}

int
main (int argc, char *argv[])
{
  static const char *const short_replay[] = { "--sync-replay-max", "1", NULL };
  g_autofree char *localedir = NULL;

  /* gtk_test_init () keeps the C locale; a translated run wants the
   * environment's. */
  if (g_getenv ("NATTER_SCREENSHOT_PREFIX") != NULL)
    setlocale (LC_ALL, "");

  /* GTK's test accessibility backend, so the tests can read what a screen
   * reader would hear (with "none", widgets have no AT context). */
  g_setenv ("GTK_A11Y", "test", TRUE);
  /* The incoming-call dialog shows a real ringing call: no devices needed. */
  g_setenv ("NATTER_AUDIO_SRC", "audiotestsrc is-live=true wave=silence", FALSE);
  g_setenv ("NATTER_AUDIO_SINK", "fakesink", FALSE);
  g_setenv ("NATTER_VIDEO_SRC", "videotestsrc is-live=true", FALSE);
  gtk_test_init (&argc, &argv, NULL);
  natter_test_log_allow_gst_sort_warning ();
  adw_init ();
  gst_init (NULL, NULL);

  /* The translations the build made, for runs in other languages. */
  localedir = natter_test_top_build_filename ("po", NULL);
  bindtextdomain (GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* Screens are captured in their final state, not halfway through a
   * transition; a loaded machine may draw few frames. */
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  /* The app's resource path, so its style.css applies as in natter. */
  test_application =
    g_object_new (ADW_TYPE_APPLICATION, "application-id", "org.natter.Natter.Test", "flags",
                  G_APPLICATION_NON_UNIQUE, "resource-base-path", "/org/natter/Natter", NULL);
  g_assert_true (g_application_register (G_APPLICATION (test_application), NULL, NULL));

  g_test_add ("/natter/app/screens/sign-in", Fixture, NULL, fixture_set_up, test_sign_in,
              fixture_tear_down);
  g_test_add ("/natter/app/sign-in/errors-from-real-failures", Fixture, NULL, fixture_set_up,
              test_sign_in_errors, fixture_tear_down);
  g_test_add ("/natter/app/sign-in/warns-on-cleartext-address", Fixture, NULL, fixture_set_up,
              test_sign_in_cleartext_warning, fixture_tear_down);
  g_test_add ("/natter/app/chat/history-from-server", Fixture, short_replay, fixture_set_up,
              test_history_from_server, fixture_tear_down);
  g_test_add ("/natter/app/screens/main-window", Fixture, NULL, fixture_set_up, test_main_window,
              fixture_tear_down);
  g_test_add ("/natter/app/chat/message-reaches-other-side", Fixture, NULL, fixture_set_up,
              test_message_reaches_other_side, fixture_tear_down);
  g_test_add ("/natter/app/screens/new-conversation", Fixture, NULL, fixture_set_up,
              test_new_conversation, fixture_tear_down);
  g_test_add ("/natter/app/screens/preferences", Fixture, NULL, fixture_set_up, test_preferences,
              fixture_tear_down);
  g_test_add ("/natter/app/screens/block-from-menu-and-unblock", Fixture, NULL, fixture_set_up,
              test_block_from_menu_and_unblock, fixture_tear_down);
  g_test_add ("/natter/app/screens/incoming-call", Fixture, NULL, fixture_set_up,
              test_incoming_call_dialog, fixture_tear_down);
  g_test_add ("/natter/app/screens/call-overlay", Fixture, NULL, fixture_set_up, test_call_overlay,
              fixture_tear_down);

  {
    int status = g_test_run ();

    /* The end of a run: GTK drops its own reference at shutdown. */
    g_signal_connect (test_application, "activate", G_CALLBACK (on_final_activate), NULL);
    g_assert_cmpint (g_application_run (G_APPLICATION (test_application), 0, NULL), ==, 0);
    g_assert_finalize_object (g_steal_pointer (&test_application));
    return status;
  }
}
