/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-application"

#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "natter-background.h"
#include "natter-format.h"
#include "natter-handover.h"
#include "natter-muted-conversations.h"
#include "natter-application-private.h"
#include "natter-conversation-list.h"
#include "natter-sign-in-window.h"
#include "natter-token-store.h"
#include "natter-window.h"

/* The application owns the client, and so the connection: it lives from
 * sign-in to sign-out or Quit, with or without a window. Windows and
 * notifications are listeners. Closing the last window keeps Natter running
 * while "run-in-background" is on. */

G_DEFINE_FINAL_TYPE (NatterApplication, natter_application, ADW_TYPE_APPLICATION)

static void on_active_profile_changed (NatterApplication *self);

static gboolean
name_has_owner (GDBusConnection *bus, const char *name)
{
  g_autoptr (GVariant) reply = NULL;
  gboolean owned = FALSE;

  if (bus == NULL)
    return FALSE;
  reply = g_dbus_connection_call_sync (
    bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
    g_variant_new ("(s)", name), G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, 1000, NULL, NULL);
  if (reply != NULL)
    g_variant_get (reply, "(b)", &owned);
  return owned;
}

static gboolean
is_sandboxed (void)
{
  return g_file_test ("/.flatpak-info", G_FILE_TEST_EXISTS);
}

/* GLib sends notifications through the portal in a sandbox, to
 * org.gtk.Notifications where the desktop offers it (both take plain text),
 * and otherwise straight to org.freedesktop.Notifications, whose servers
 * read the body as markup. It picks once, at registration; so do we. */
static gboolean
notification_body_reads_markup (NatterApplication *self)
{
  const char *backend = g_getenv ("GNOTIFICATION_BACKEND");

  if (backend != NULL)
    return g_str_equal (backend, "freedesktop");
  if (is_sandboxed ())
    return FALSE;
  return !name_has_owner (g_application_get_dbus_connection (G_APPLICATION (self)),
                          "org.gtk.Notifications");
}

/* @text is what a person wrote: "<3" and "Tom & Jerry" must arrive as typed. */
void
natter_application_set_notification_body (NatterApplication *self,
                                          GNotification *notification,
                                          const char *text)
{
  g_autofree char *escaped = NULL;

  if (self->notification_body_markup)
    text = escaped = g_markup_escape_text (text != NULL ? text : "", -1);
  g_notification_set_body (notification, text);
}

/* Whether a notification would reach anyone: on a bare window manager no
 * notification server runs, and a ringing call must show its own window. */
gboolean
natter_application_can_notify (NatterApplication *self)
{
  GDBusConnection *bus = g_application_get_dbus_connection (G_APPLICATION (self));

  return is_sandboxed () || name_has_owner (bus, "org.gtk.Notifications") ||
         name_has_owner (bus, "org.freedesktop.Notifications");
}

static char *
normalize_server_url (const char *url)
{
  g_autofree char *stripped = g_strstrip (g_strdup (url ? url : ""));
  gsize length = strlen (stripped);

  while (length > 0 && stripped[length - 1] == '/')
    stripped[--length] = '\0';

  if (*stripped != '\0' && !g_str_has_prefix (stripped, "http://") &&
      !g_str_has_prefix (stripped, "https://"))
    return g_strconcat ("https://", stripped, NULL);

  return g_steal_pointer (&stripped);
}

static char *
get_data_dir (void)
{
  const char *override = g_getenv ("NATTER_DATA_DIR");

  if (override != NULL && *override != '\0')
    return g_strdup (override);

  return g_build_filename (g_get_user_data_dir (), "natter", NULL);
}

static GtkWindow *
find_window_of_type (NatterApplication *self, GType type)
{
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l != NULL; l = l->next)
    if (G_TYPE_CHECK_INSTANCE_TYPE (l->data, type))
      return l->data;

  return NULL;
}

void
natter_application_update_hold (NatterApplication *self)
{
  gboolean hold = self->signed_in && g_settings_get_boolean (self->settings, "run-in-background");

  if (hold == self->held)
    return;

  self->held = hold;
  if (hold)
    g_application_hold (G_APPLICATION (self));
  else
    g_application_release (G_APPLICATION (self));
}

static void
apply_last_profile (NatterApplication *self)
{
  g_autofree char *last = g_settings_get_string (self->settings, "last-profile");
  g_auto (GStrv) parts = NULL;
  gint64 profile_id;

  if (*last == '\0')
    return;

  parts = g_strsplit (last, ":", 2);
  if (g_strv_length (parts) != 2)
    return;

  profile_id = g_ascii_strtoll (parts[1], NULL, 10);
  if (profile_id > 0)
    natter_account_set_active_profile (natter_client_get_account (self->client), profile_id,
                                       parts[0], NULL);
}

NatterClient *
natter_application_find_watcher (NatterApplication *self,
                                 const NatterProfile *profile,
                                 guint *out_index)
{
  for (guint i = 0; i < self->watchers->len; i++) {
    NatterClient *watcher = g_ptr_array_index (self->watchers, i);

    if (natter_profile_equal (
          natter_account_get_active_profile (natter_client_get_account (watcher)), profile)) {
      if (out_index != NULL)
        *out_index = i;
      return watcher;
    }
  }

  return NULL;
}

static void on_missed_call (NatterApplication *self, const NatterCallLog *call);
static void watch_calls (NatterApplication *self, NatterClient *client);
static void
on_watched_message (NatterClient *client, const NatterMessage *message, gpointer user_data);

static void
on_watcher_synced (NatterClient *watcher)
{
  g_object_set_data (G_OBJECT (watcher), "natter-quiet", NULL);
}

/* The application owns one connection per signed-in profile: the active
 * one's is self->client's; every other profile of the user gets a client
 * of its own, so messages to it arrive and notify too. */
void
natter_application_update_watchers (NatterApplication *self)
{
  NatterAccount *account = self->client ? natter_client_get_account (self->client) : NULL;
  const NatterUser *user = account ? natter_account_get_user (account) : NULL;
  const NatterProfile *active = account ? natter_account_get_active_profile (account) : NULL;
  g_autoptr (GPtrArray) old = g_steal_pointer (&self->watchers);

  self->watchers = g_ptr_array_new_with_free_func (g_object_unref);
  if (!self->signed_in || user == NULL || user->profiles == NULL || active == NULL ||
      natter_account_get_token (account) == NULL)
    return;

  for (guint i = 0; i < user->profiles->len; i++) {
    const NatterProfile *profile = g_ptr_array_index (user->profiles, i);
    NatterClient *watcher = NULL;
    guint index;

    if (natter_profile_equal (profile, active))
      continue;

    for (index = 0; index < old->len; index++) {
      NatterClient *candidate = g_ptr_array_index (old, index);

      if (natter_profile_equal (
            natter_account_get_active_profile (natter_client_get_account (candidate)), profile)) {
        watcher = g_ptr_array_steal_index (old, index);
        break;
      }
    }

    if (watcher == NULL) {
      NatterStore *store;

      watcher = natter_client_new_for_profile (self->client, profile);
      /* A profile this computer never followed: its whole history comes
       * on the first sync, old news that must not notify. */
      store = natter_client_get_store (watcher);
      if (store == NULL || natter_store_get_last_event_id (store) == 0) {
        g_object_set_data (G_OBJECT (watcher), "natter-quiet", GINT_TO_POINTER (TRUE));
        g_signal_connect_object (natter_client_get_connection (watcher), "frame::sync_done",
                                 G_CALLBACK (on_watcher_synced), watcher, G_CONNECT_SWAPPED);
      }
      g_signal_connect_object (watcher, "message-received", G_CALLBACK (on_watched_message), self,
                               0);
      g_signal_connect_object (watcher, "missed-call", G_CALLBACK (on_missed_call), self,
                               G_CONNECT_SWAPPED);
      watch_calls (self, watcher);
    }
    g_ptr_array_add (self->watchers, watcher);
  }
}

static void
on_signed_in (NatterApplication *self)
{
  self->signed_in = TRUE;
  apply_last_profile (self);
  natter_application_update_watchers (self);
  natter_application_update_hold (self);

  if (self->window_wanted)
    natter_application_present_main_window (self);
}

static void
on_restore_finished (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterApplication) self = user_data;
  g_autoptr (GError) error = NULL;

  self->restoring = FALSE;

  if (natter_client_sign_in_finish (NATTER_CLIENT (source), result, &error)) {
    on_signed_in (self);
  } else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    if (!g_error_matches (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN))
      g_message ("Could not sign in with the saved token: %s", error->message);
    if (self->window_wanted)
      natter_application_present_sign_in_window (self);
  }

  /* Released after the window, if any, is up: see start_restore(). */
  g_application_release (G_APPLICATION (self));
}

/* Replaces the client when the user names another server. */
static void
ensure_client (NatterApplication *self, const char *server_url)
{
  g_autofree char *data_dir = NULL;

  if (self->client != NULL &&
      g_strcmp0 (natter_account_get_server_url (natter_client_get_account (self->client)),
                 server_url) == 0)
    return;

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();

  g_ptr_array_set_size (self->watchers, 0);
  g_clear_object (&self->calling_watcher);
  if (self->client != NULL)
    natter_call_notifier_remove_client (self->call_notifier, self->client);
  g_clear_object (&self->client);
  data_dir = get_data_dir ();
  self->client = natter_client_new (server_url, data_dir);
}

/* Server times are RFC 3339; -1 when missing or broken. */
static gint64
parse_server_time (const char *rfc3339)
{
  g_autoptr (GDateTime) time = NULL;

  if (rfc3339 == NULL)
    return -1;
  time = g_date_time_new_from_iso8601 (rfc3339, NULL);
  if (time == NULL)
    return -1;

  return g_date_time_to_unix (time) * G_USEC_PER_SEC + g_date_time_get_microsecond (time);
}

/* The first hello after a sign-in on this computer: from then on events are
 * news. What came before (a new computer fetches all of it on its first
 * sync) was seen elsewhere or is old, and does not notify. */
static void
on_hello (NatterApplication *self, const NatterFrame *frame)
{
  gint64 server_time = parse_server_time (frame->server_time);

  if (!self->mark_sign_in || server_time < 0)
    return;

  self->mark_sign_in = FALSE;
  g_settings_set_int64 (self->settings, "notify-after", server_time);
}

static gboolean
is_news (NatterApplication *self, const char *event_time)
{
  gint64 time = parse_server_time (event_time);

  if (self->mark_sign_in)
    return FALSE;

  return time < 0 || time >= g_settings_get_int64 (self->settings, "notify-after");
}

/**
 * natter_application_get_conversation_muted:
 * @self: a #NatterApplication
 * @conversation_id: a conversation of the signed-in server
 *
 * Returns: whether the conversation's messages notify no more
 */
gboolean
natter_application_get_conversation_muted (NatterApplication *self, gint64 conversation_id)
{
  g_return_val_if_fail (NATTER_IS_APPLICATION (self), FALSE);

  if (self->client == NULL || self->settings == NULL)
    return FALSE;

  return natter_settings_get_conversation_muted (
    self->settings, natter_account_get_server_url (natter_client_get_account (self->client)),
    conversation_id);
}

/* A message to @client's profile: the active one (self->client) or another
 * profile of the user, watched on a connection of its own. */
static void
notify_message (NatterApplication *self, NatterClient *client, const NatterMessage *message)
{
  NatterAccount *account = natter_client_get_account (client);
  const NatterProfile *own = natter_account_get_active_profile (account);
  GtkWindow *window = natter_application_get_main_window (self);
  g_autoptr (GNotification) notification = NULL;
  g_autofree char *id = NULL;
  g_autofree char *title = NULL;
  g_autofree char *target = NULL;
  const char *sender_name;

  if (!g_settings_get_boolean (self->settings, "notifications-enabled") ||
      g_settings_get_boolean (self->settings, "do-not-disturb") || own == NULL)
    return;
  if (message->sender != NULL && natter_profile_equal (message->sender, own))
    return;
  if (!is_news (self, message->sent_at) ||
      natter_application_get_conversation_muted (self, message->conversation_id))
    return;

  /* Only what the user cannot see already. */
  if (client == self->client && window != NULL && gtk_window_is_active (window) &&
      natter_window_get_open_conversation_id (NATTER_WINDOW (window)) == message->conversation_id)
    return;

  sender_name = message->sender && message->sender->display_name ? message->sender->display_name
                                                                 : _ ("New message");
  if (client == self->client)
    title = g_strdup (sender_name);
  else
    /* Translators: a message to another profile of the user: sender, then
     * the profile it went to ("Parent") */
    title = g_strdup_printf (_ ("%s · to %s"), sender_name,
                             natter_profile_type_label (own->profile_type));
  notification = g_notification_new (title);
  natter_application_set_notification_body (self, notification, message->text);
  target = g_strdup_printf ("%s:%" G_GINT64_FORMAT, own->profile_type, own->profile_id);
  if (client == self->client)
    g_notification_set_default_action_and_target (notification, "app.open-conversation", "x",
                                                  message->conversation_id);
  else
    g_notification_set_default_action_and_target (notification, "app.open-profile-conversation",
                                                  "(sx)", target, message->conversation_id);
  id = g_strdup_printf ("conversation-%" G_GINT64_FORMAT, message->conversation_id);
  g_application_send_notification (G_APPLICATION (self), id, notification);
}

static void
on_message_received (NatterApplication *self, const NatterMessage *message)
{
  notify_message (self, self->client, message);
}

static void
on_watched_message (NatterClient *client, const NatterMessage *message, gpointer user_data)
{
  NatterApplication *self = NATTER_APPLICATION (user_data);

  /* The client kept for a call of the now active profile: self->client
   * notifies its messages already. */
  if (client == self->calling_watcher)
    return;
  if (g_object_get_data (G_OBJECT (client), "natter-quiet") == NULL)
    notify_message (self, client, message);
}

static void
on_missed_call (NatterApplication *self, const NatterCallLog *call)
{
  g_autoptr (GNotification) notification = NULL;
  g_autofree char *title = NULL;
  g_autofree char *id = NULL;
  const char *name;

  if (!g_settings_get_boolean (self->settings, "notifications-enabled") ||
      !is_news (self, call->started_at))
    return;

  name = call->caller && call->caller->display_name ? call->caller->display_name : _ ("Someone");
  title = g_strdup_printf (_ ("Missed call from %s"), name);
  notification = g_notification_new (title);
  natter_application_set_notification_body (
    self, notification,
    g_strcmp0 (call->call_type, "video") == 0 ? _ ("Video call") : _ ("Voice call"));
  if (call->conversation_id > 0) {
    g_notification_set_default_action_and_target (notification, "app.open-conversation", "x",
                                                  call->conversation_id);
    g_notification_add_button_with_target (notification, _ ("Call Back"), "app.call-back", "(xs)",
                                           call->conversation_id,
                                           call->call_type ? call->call_type : "voice");
  }

  id = g_strdup_printf ("missed-call-%" G_GINT64_FORMAT, call->call_log_id);
  g_application_send_notification (G_APPLICATION (self), id, notification);
}

static gboolean
drop_calling_watcher (gpointer user_data)
{
  NatterApplication *self = user_data;
  NatterCallManager *call_manager =
    self->calling_watcher ? natter_client_get_call_manager (self->calling_watcher) : NULL;

  if (call_manager != NULL && natter_call_manager_get_active_call (call_manager) == NULL) {
    natter_call_notifier_remove_client (self->call_notifier, self->calling_watcher);
    g_clear_object (&self->calling_watcher);
    natter_application_update_watchers (self);
  }
  return G_SOURCE_REMOVE;
}

/* The call in progress: the active profile's, or the one answered for
 * another profile (see accept_call()). */
static void
on_active_call_changed (NatterApplication *self)
{
  NatterCall *call = natter_call_manager_get_active_call (self->call_manager);
  NatterCallManager *other =
    self->calling_watcher ? natter_client_get_call_manager (self->calling_watcher) : NULL;
  GtkWindow *window;

  if (call == NULL && other != NULL)
    call = natter_call_manager_get_active_call (other);
  /* The other profile's client goes once its call is over, outside the
   * notification of its own call manager. */
  if (other != NULL && natter_call_manager_get_active_call (other) == NULL)
    g_idle_add_full (G_PRIORITY_DEFAULT, drop_calling_watcher, g_object_ref (self), g_object_unref);

  natter_application_set_call_active (self, call != NULL);
  if (call == NULL)
    return;

  self->window_wanted = TRUE;
  if (self->signed_in)
    natter_application_present_main_window (self);

  window = natter_application_get_main_window (self);
  if (window != NULL)
    natter_window_set_call (NATTER_WINDOW (window), call);
}

/* Every signed-in profile's calls ring, and a call in progress shows. */
static void
watch_calls (NatterApplication *self, NatterClient *client)
{
  NatterCallManager *call_manager = natter_client_get_call_manager (client);

  if (call_manager == NULL)
    return;

  natter_call_manager_set_devices (call_manager, self->devices);
  g_signal_connect_object (call_manager, "notify::active-call", G_CALLBACK (on_active_call_changed),
                           self, G_CONNECT_SWAPPED);
  natter_call_notifier_add_client (self->call_notifier, client);
}

static void
connect_client_signals (NatterApplication *self)
{
  g_set_object (&self->call_manager, natter_client_get_call_manager (self->client));
  watch_calls (self, self->client);

  g_signal_connect_object (self->client, "message-received", G_CALLBACK (on_message_received), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->client, "missed-call", G_CALLBACK (on_missed_call), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (natter_client_get_connection (self->client), "frame::hello",
                           G_CALLBACK (on_hello), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (natter_client_get_account (self->client), "notify::active-profile",
                           G_CALLBACK (on_active_profile_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (natter_client_get_account (self->client), "notify::user",
                           G_CALLBACK (natter_application_update_watchers), self,
                           G_CONNECT_SWAPPED);
  on_active_profile_changed (self);
}

static void
start_restore (NatterApplication *self, const char *server_url)
{
  ensure_client (self, server_url);
  connect_client_signals (self);
  self->restoring = TRUE;
  /* Signed in before this computer kept the time of it (or never): now. */
  self->mark_sign_in = g_settings_get_int64 (self->settings, "notify-after") == 0;
  /* Nothing else keeps the application alive until a window opens. */
  g_application_hold (G_APPLICATION (self));
  natter_client_sign_in_async (self->client, self->cancellable, on_restore_finished,
                               g_object_ref (self));
}

static void
on_sign_in_finished (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterSignInWindow) window = user_data;
  NatterApplication *self = NATTER_APPLICATION (gtk_window_get_application (GTK_WINDOW (window)));
  NatterAccount *account = NATTER_ACCOUNT (source);
  g_autoptr (GError) error = NULL;
  gboolean ok;

  if (natter_sign_in_window_get_creating_account (window))
    ok = natter_account_register_finish (account, result, &error);
  else
    ok = natter_account_login_finish (account, result, &error);

  natter_sign_in_window_set_busy (window, FALSE);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (!ok) {
    natter_sign_in_window_show_error (window, error);
    return;
  }
  if (self == NULL)
    return;

  g_settings_set_string (self->settings, "server-url", natter_account_get_server_url (account));
  self->mark_sign_in = TRUE;
  self->window_wanted = TRUE;
  on_signed_in (self);
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
on_sign_in_submit (NatterApplication *self, NatterSignInWindow *window)
{
  g_autofree char *server_url =
    normalize_server_url (natter_sign_in_window_get_server_url (window));
  NatterAccount *account;

  if (self->client == NULL ||
      g_strcmp0 (natter_account_get_server_url (natter_client_get_account (self->client)),
                 server_url) != 0) {
    ensure_client (self, server_url);
    connect_client_signals (self);
  }

  account = natter_client_get_account (self->client);
  natter_sign_in_window_set_busy (window, TRUE);

  if (natter_sign_in_window_get_creating_account (window)) {
    const char *types[] = { natter_sign_in_window_get_profile_type (window), NULL };

    natter_account_register_async (account, natter_sign_in_window_get_email (window),
                                   natter_sign_in_window_get_password (window),
                                   natter_sign_in_window_get_display_name (window), types,
                                   self->cancellable, on_sign_in_finished, g_object_ref (window));
  } else {
    natter_account_login_async (account, natter_sign_in_window_get_email (window),
                                natter_sign_in_window_get_password (window), self->cancellable,
                                on_sign_in_finished, g_object_ref (window));
  }
}

void
natter_application_present_sign_in_window (NatterApplication *self)
{
  GtkWindow *window = find_window_of_type (self, NATTER_TYPE_SIGN_IN_WINDOW);

  if (window == NULL) {
    g_autofree char *server_url = g_settings_get_string (self->settings, "server-url");

    window = GTK_WINDOW (natter_sign_in_window_new (GTK_APPLICATION (self)));
    natter_sign_in_window_set_server_url (NATTER_SIGN_IN_WINDOW (window),
                                          self->server_url_option ? self->server_url_option
                                                                  : server_url);
    g_signal_connect_object (window, "submit", G_CALLBACK (on_sign_in_submit), self,
                             G_CONNECT_SWAPPED);
  }

  gtk_window_present (window);
}

void
natter_application_present_main_window (NatterApplication *self)
{
  GtkWindow *window = natter_application_get_main_window (self);
  GtkWindow *sign_in = find_window_of_type (self, NATTER_TYPE_SIGN_IN_WINDOW);

  if (window == NULL)
    window = GTK_WINDOW (natter_window_new (GTK_APPLICATION (self), self->client, self->settings));

  gtk_window_present (window);
  if (sign_in != NULL)
    gtk_window_destroy (sign_in);
}

/* app.switch-profile's state is the active profile, "type:id", so its menu
 * items show which one is active. */
static void
on_active_profile_changed (NatterApplication *self)
{
  const NatterProfile *active =
    self->client ? natter_account_get_active_profile (natter_client_get_account (self->client))
                 : NULL;
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), "switch-profile");
  g_autofree char *target = NULL;

  if (active != NULL)
    target = g_strdup_printf ("%s:%" G_GINT64_FORMAT, active->profile_type, active->profile_id);
  if (action != NULL)
    g_simple_action_set_state (G_SIMPLE_ACTION (action),
                               g_variant_new_string (target ? target : ""));
  natter_application_update_watchers (self);
}

static void
write_autostart_file (gboolean enabled)
{
  g_autofree char *dir = g_build_filename (g_get_user_config_dir (), "autostart", NULL);
  g_autofree char *path = g_build_filename (dir, APPLICATION_ID ".desktop", NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;

  if (!enabled) {
    if (g_unlink (path) != 0 && errno != ENOENT)
      g_warning ("Could not remove %s: %s", path, g_strerror (errno));
    return;
  }

  contents = g_strdup_printf ("[Desktop Entry]\n"
                              "Type=Application\n"
                              "Name=Natter\n"
                              "Icon=%s\n"
                              "Exec=natter --background\n"
                              "X-GNOME-Autostart-enabled=true\n"
                              "NoDisplay=true\n",
                              APPLICATION_ID);

  if (g_mkdir_with_parents (dir, 0700) != 0 || !g_file_set_contents (path, contents, -1, &error))
    g_warning ("Could not write %s: %s", path, error ? error->message : g_strerror (errno));
}

static void
on_background_request_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    g_warning ("The background portal refused the request: %s", error->message);
}

/* Under Flatpak the sandbox cannot write autostart files: the Background
 * portal does it for us. */
static void
request_background_portal (NatterApplication *self, gboolean enabled)
{
  GDBusConnection *bus = g_application_get_dbus_connection (G_APPLICATION (self));
  g_autoptr (GVariantBuilder) options = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  const char *const commandline[] = { "natter", "--background", NULL };

  if (bus == NULL)
    return;

  g_variant_builder_add (options, "{sv}", "reason",
                         g_variant_new_string (_ ("Receive calls and messages in the background")));
  g_variant_builder_add (options, "{sv}", "autostart", g_variant_new_boolean (enabled));
  g_variant_builder_add (options, "{sv}", "commandline", g_variant_new_strv (commandline, -1));
  g_variant_builder_add (options, "{sv}", "dbus-activatable", g_variant_new_boolean (FALSE));

  g_dbus_connection_call (bus, "org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop",
                          "org.freedesktop.portal.Background", "RequestBackground",
                          g_variant_new ("(sa{sv})", "", options), G_VARIANT_TYPE ("(o)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_background_request_sent, NULL);
}

static void
on_start_at_login_changed (NatterApplication *self)
{
  gboolean enabled = g_settings_get_boolean (self->settings, "start-at-login");

  if (g_file_test ("/.flatpak-info", G_FILE_TEST_EXISTS))
    request_background_portal (self, enabled);
  else
    write_autostart_file (enabled);
}

static int
natter_application_handle_local_options (GApplication *application, GVariantDict *options)
{
  NatterApplication *self = NATTER_APPLICATION (application);
  const char *server = NULL;

  if (g_variant_dict_lookup (options, "server", "&s", &server))
    self->server_url_option = normalize_server_url (server);

  if (g_variant_dict_contains (options, "version")) {
    g_print ("natter %s\n", PACKAGE_VERSION);
    return 0;
  }

  /* As at login (the autostart file, the Background portal): a service,
   * signed in, with no window; and so, before GTK starts, without GL. */
  if (g_variant_dict_contains (options, "background")) {
    g_application_set_flags (application,
                             g_application_get_flags (application) | G_APPLICATION_IS_SERVICE);
    natter_background_start_without_gl ();
    self->started_hidden = TRUE;
  }

  return -1;
}

static void
natter_application_startup (GApplication *application)
{
  NatterApplication *self = NATTER_APPLICATION (application);
  g_autofree char *server_url = NULL;

  G_APPLICATION_CLASS (natter_application_parent_class)->startup (application);

  gtk_window_set_default_icon_name (APPLICATION_ID);
  self->notification_body_markup = notification_body_reads_markup (self);

  self->settings = g_settings_new (APPLICATION_ID);
  g_signal_connect_object (self->settings, "changed::run-in-background",
                           G_CALLBACK (natter_application_update_hold), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::start-at-login",
                           G_CALLBACK (on_start_at_login_changed), self, G_CONNECT_SWAPPED);

  /* Calls take the devices chosen in preferences (display names in
   * GSettings), following hot-plug. The monitor itself starts when a call
   * or preferences need the lists (issue 20): it probes every device
   * provider, and a process in the background may go all day without. */
  self->devices = natter_devices_new ();
  g_settings_bind (self->settings, "microphone", self->devices, "microphone-name",
                   G_SETTINGS_BIND_GET);
  g_settings_bind (self->settings, "camera", self->devices, "camera-name", G_SETTINGS_BIND_GET);
  g_settings_bind (self->settings, "speaker", self->devices, "speaker-name", G_SETTINGS_BIND_GET);
  natter_devices_start_on_demand (self->devices);

  natter_application_add_actions (self);

  /* Sign in with the kept token at once, window or not, so calls ring even
   * when started hidden (--gapplication-service). */
  server_url = self->server_url_option ? g_strdup (self->server_url_option)
                                       : g_settings_get_string (self->settings, "server-url");
  if (*server_url != '\0')
    start_restore (self, server_url);
}

static void
natter_application_activate (GApplication *application)
{
  NatterApplication *self = NATTER_APPLICATION (application);

  self->window_wanted = TRUE;

  if (self->signed_in)
    natter_application_present_main_window (self);
  else if (!self->restoring)
    natter_application_present_sign_in_window (self);
}

static void
natter_application_shutdown (GApplication *application)
{
  NatterApplication *self = NATTER_APPLICATION (application);

  g_cancellable_cancel (self->cancellable);
  g_ptr_array_set_size (self->watchers, 0);
  g_clear_object (&self->calling_watcher);
  if (self->devices != NULL)
    natter_devices_stop (self->devices);
  if (self->inhibit_cookie != 0) {
    gtk_application_uninhibit (GTK_APPLICATION (self), self->inhibit_cookie);
    self->inhibit_cookie = 0;
  }
  /* The preload a call began may still be loading a plugin: the process
   * must not exit under it (OpenSSL's exit handlers free what the DTLS
   * element is initialising; seen as a crash of a short app test). */
  natter_call_pipeline_preload_wait ();

  G_APPLICATION_CLASS (natter_application_parent_class)->shutdown (application);
}

static gboolean
give_memory_back (gpointer user_data)
{
  NatterApplication *self = user_data;

  self->give_back_id = 0;
  if (gtk_application_get_windows (GTK_APPLICATION (self)) == NULL)
    natter_background_give_memory_back ();
  return G_SOURCE_REMOVE;
}

static gboolean
calls_of (NatterClient *client)
{
  NatterCallManager *calls = client ? natter_client_get_call_manager (client) : NULL;

  return calls != NULL && g_list_model_get_n_items (natter_call_manager_get_calls (calls)) > 0;
}

/* A call ringing, placed or going on, for any profile: handing over would
 * drop it. */
static gboolean
has_calls (NatterApplication *self)
{
  if (self->inhibit_cookie != 0 || calls_of (self->client) || calls_of (self->calling_watcher))
    return TRUE;
  for (guint i = 0; i < self->watchers->len; i++)
    if (calls_of (g_ptr_array_index (self->watchers, i)))
      return TRUE;
  return FALSE;
}

/* Lets a launcher click during the handover start a Natter of its own
 * (D-Bus activation) instead of reaching this one as it quits; the new
 * image, a service, then finds the name taken and exits. */
static void
release_bus_name (NatterApplication *self)
{
  GDBusConnection *bus = g_application_get_dbus_connection (G_APPLICATION (self));
  g_autoptr (GVariant) reply = NULL;

  if (bus == NULL || g_application_get_application_id (G_APPLICATION (self)) == NULL)
    return;
  reply = g_dbus_connection_call_sync (
    bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ReleaseName",
    g_variant_new ("(s)", g_application_get_application_id (G_APPLICATION (self))),
    G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, 1000, NULL, NULL);
}

/* The new image signs in with the token it finds where this one keeps it
 * (the keyring, or the token file): read it as it will, and hand over only
 * if it is this session's. A keyring that cannot answer now would leave
 * the background signed out. NATTER_TOKEN, in the environment, stays. */
static gboolean
token_kept (NatterApplication *self)
{
  NatterAccount *account = natter_client_get_account (self->client);
  g_autoptr (NatterTokenStore) store = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *kept = NULL;
  const char *environment_token = g_getenv ("NATTER_TOKEN");

  if (natter_account_get_token (account) == NULL)
    return FALSE;
  if (environment_token != NULL && *environment_token != '\0')
    return g_str_equal (environment_token, natter_account_get_token (account));

  data_dir = get_data_dir ();
  store = natter_token_store_new (data_dir);
  kept = natter_token_store_lookup (store, natter_account_get_server_url (account), &error);
  if (kept == NULL)
    g_message ("Staying as I am in the background: the kept token cannot be read%s%s",
               error != NULL ? ": " : "", error != NULL ? error->message : "");
  return g_strcmp0 (kept, natter_account_get_token (account)) == 0;
}

/* See natter-handover.c. Only while no window is open, signed in and kept
 * in the background ("run-in-background": otherwise the last window's
 * close ends the process anyway), and never under a call: waits for it. */
static gboolean
hand_over_when_idle (gpointer user_data)
{
  NatterApplication *self = user_data;

  if (gtk_application_get_windows (GTK_APPLICATION (self)) != NULL || !self->held ||
      self->client == NULL) {
    self->handover_id = 0;
    return G_SOURCE_REMOVE;
  }
  if (has_calls (self))
    return G_SOURCE_CONTINUE;
  if (!natter_handover_possible () || !token_kept (self)) {
    self->handover_id = 0;
    return G_SOURCE_REMOVE;
  }

  self->handover_id = 0;
  self->handover_requested = TRUE;
  g_message ("The last window closed: starting again in the background, without its memory");
  /* GSettings writes are asynchronous (dconf): the new image reads them. */
  g_settings_sync ();
  release_bus_name (self);
  g_application_quit (G_APPLICATION (self));
  return G_SOURCE_REMOVE;
}

static void
natter_application_window_added (GtkApplication *application, GtkWindow *window)
{
  NatterApplication *self = NATTER_APPLICATION (application);

  g_clear_handle_id (&self->handover_id, g_source_remove);
  GTK_APPLICATION_CLASS (natter_application_parent_class)->window_added (application, window);
}

/* Closing the last window destroys it (GTK's default), and its views and
 * their caches (thumbnails, textures, message lists) go with it; what
 * they freed goes back to the system once GTK has finished tearing them
 * down, a second later. What GSK and the GL driver keep goes only with a
 * handover, when main () allows one. */
static void
natter_application_window_removed (GtkApplication *application, GtkWindow *window)
{
  NatterApplication *self = NATTER_APPLICATION (application);

  GTK_APPLICATION_CLASS (natter_application_parent_class)->window_removed (application, window);
  if (gtk_application_get_windows (application) != NULL)
    return;
  if (self->give_back_id == 0)
    self->give_back_id = g_timeout_add_seconds (1, give_memory_back, self);
  if (self->handover_enabled && !self->started_hidden && self->handover_id == 0)
    self->handover_id = g_timeout_add (natter_handover_get_delay_ms (), hand_over_when_idle, self);
}

static void
natter_application_dispose (GObject *object)
{
  NatterApplication *self = NATTER_APPLICATION (object);

  g_clear_handle_id (&self->give_back_id, g_source_remove);
  g_clear_handle_id (&self->handover_id, g_source_remove);

  g_clear_pointer (&self->watchers, g_ptr_array_unref);
  g_clear_object (&self->calling_watcher);
  g_clear_object (&self->call_notifier);
  g_clear_object (&self->call_manager);
  g_clear_object (&self->client);
  g_clear_object (&self->devices);
  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (natter_application_parent_class)->dispose (object);
}

static void
natter_application_finalize (GObject *object)
{
  NatterApplication *self = NATTER_APPLICATION (object);

  g_clear_pointer (&self->server_url_option, g_free);

  G_OBJECT_CLASS (natter_application_parent_class)->finalize (object);
}

static void
natter_application_class_init (NatterApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *application_class = G_APPLICATION_CLASS (klass);
  GtkApplicationClass *gtk_application_class = GTK_APPLICATION_CLASS (klass);

  object_class->dispose = natter_application_dispose;
  object_class->finalize = natter_application_finalize;
  application_class->handle_local_options = natter_application_handle_local_options;
  application_class->startup = natter_application_startup;
  application_class->activate = natter_application_activate;
  application_class->shutdown = natter_application_shutdown;
  gtk_application_class->window_added = natter_application_window_added;
  gtk_application_class->window_removed = natter_application_window_removed;
}

static void
natter_application_init (NatterApplication *self)
{
  const GOptionEntry options[] = {
    { "server", 's', 0, G_OPTION_ARG_STRING, NULL, N_ ("The Natter server to use"), N_ ("URL") },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_ ("Show the version and quit"), NULL },
    { "background", 0, 0, G_OPTION_ARG_NONE, NULL,
      N_ ("Start without a window, as at login, to receive calls and messages"), NULL },
    { NULL }
  };

  self->call_notifier = natter_call_notifier_new (GTK_APPLICATION (self));
  self->cancellable = g_cancellable_new ();
  self->watchers = g_ptr_array_new_with_free_func (g_object_unref);

  g_application_add_main_option_entries (G_APPLICATION (self), options);
  g_application_set_option_context_parameter_string (G_APPLICATION (self), NULL);
}

/**
 * natter_application_new:
 *
 * Returns: (transfer full): the application
 */
NatterApplication *
natter_application_new (void)
{
  return g_object_new (NATTER_TYPE_APPLICATION, "application-id", APPLICATION_ID, "flags",
                       G_APPLICATION_DEFAULT_FLAGS, "resource-base-path", "/org/natter/Natter",
                       NULL);
}

/**
 * natter_application_enable_handover:
 * @self: a #NatterApplication
 *
 * Lets the application end its run when its last window has closed, to be
 * started again in the background by main () (see natter-handover.c).
 * Only main () may: the process is replaced.
 */
void
natter_application_enable_handover (NatterApplication *self)
{
  g_return_if_fail (NATTER_IS_APPLICATION (self));

  self->handover_enabled = TRUE;
}

/**
 * natter_application_get_handover_requested:
 * @self: a #NatterApplication
 *
 * Returns: whether the run ended to hand over to a fresh `natter --background`
 */
gboolean
natter_application_get_handover_requested (NatterApplication *self)
{
  g_return_val_if_fail (NATTER_IS_APPLICATION (self), FALSE);

  return self->handover_requested;
}

/**
 * natter_application_get_server_url_option:
 * @self: a #NatterApplication
 *
 * Returns: (nullable): the server named by --server, normalized
 */
const char *
natter_application_get_server_url_option (NatterApplication *self)
{
  g_return_val_if_fail (NATTER_IS_APPLICATION (self), NULL);

  return self->server_url_option;
}

/**
 * natter_application_get_client:
 * @self: a #NatterApplication
 *
 * Returns: (transfer none) (nullable): the client, once a server is known
 */
NatterClient *
natter_application_get_client (NatterApplication *self)
{
  g_return_val_if_fail (NATTER_IS_APPLICATION (self), NULL);

  return self->client;
}

/**
 * natter_application_get_settings:
 * @self: a #NatterApplication
 *
 * Returns: (transfer none) (nullable): the settings, after startup
 */
GSettings *
natter_application_get_settings (NatterApplication *self)
{
  g_return_val_if_fail (NATTER_IS_APPLICATION (self), NULL);

  return self->settings;
}

/**
 * natter_application_get_main_window:
 * @self: a #NatterApplication
 *
 * Returns: (transfer none) (nullable): the main window, if open
 */
GtkWindow *
natter_application_get_main_window (NatterApplication *self)
{
  g_return_val_if_fail (NATTER_IS_APPLICATION (self), NULL);

  return find_window_of_type (self, NATTER_TYPE_WINDOW);
}

/**
 * natter_application_get_call_notifier:
 * @self: a #NatterApplication
 *
 * Returns: (transfer none): what puts ringing calls in front of the user
 */
NatterCallNotifier *
natter_application_get_call_notifier (NatterApplication *self)
{
  g_return_val_if_fail (NATTER_IS_APPLICATION (self), NULL);

  return self->call_notifier;
}

/**
 * natter_application_set_call_active:
 * @self: a #NatterApplication
 * @active: whether a call is going on
 *
 * Keeps the computer awake and unlocked during a call.
 */
void
natter_application_set_call_active (NatterApplication *self, gboolean active)
{
  g_return_if_fail (NATTER_IS_APPLICATION (self));

  if (active && self->inhibit_cookie == 0) {
    self->inhibit_cookie = gtk_application_inhibit (
      GTK_APPLICATION (self), natter_application_get_main_window (self),
      GTK_APPLICATION_INHIBIT_SUSPEND | GTK_APPLICATION_INHIBIT_IDLE, _ ("A call is in progress"));
  } else if (!active && self->inhibit_cookie != 0) {
    gtk_application_uninhibit (GTK_APPLICATION (self), self->inhibit_cookie);
    self->inhibit_cookie = 0;
  }
}

/**
 * natter_application_get_profile_client:
 * @self: a #NatterApplication
 * @profile: a profile of the signed-in user
 *
 * Returns: (transfer none) (nullable): the client with the connection as
 *   @profile: the main client for the active profile, else the one that
 *   watches it
 */
NatterClient *
natter_application_get_profile_client (NatterApplication *self, const NatterProfile *profile)
{
  const NatterProfile *active;

  g_return_val_if_fail (NATTER_IS_APPLICATION (self), NULL);
  g_return_val_if_fail (profile != NULL, NULL);

  if (self->client == NULL)
    return NULL;

  active = natter_account_get_active_profile (natter_client_get_account (self->client));
  if (active != NULL && natter_profile_equal (active, profile))
    return self->client;

  return natter_application_find_watcher (self, profile, NULL);
}
