/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-application"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-application-private.h"
#include "natter-conversation-list.h"
#include "natter-preferences-window.h"
#include "natter-sign-in-window.h"
#include "natter-window.h"

/* The application's actions ("app.…"): menus, notifications, the
 * incoming-call dialog and shortcuts all end here. Calls are named by their
 * call log id, conversations by theirs. */

static void
show_toast (NatterApplication *self, const char *text)
{
  GtkWindow *window = natter_application_get_main_window (self);

  if (window != NULL)
    natter_window_add_toast (NATTER_WINDOW (window), text);
}

static void
on_start_call (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterApplication *self = user_data;
  g_autoptr (GError) error = NULL;
  GListModel *conversations;
  NatterConversationItem *item = NULL;
  const NatterProfile *peer;
  gint64 conversation_id;
  const char *call_type;

  if (self->call_manager == NULL || self->client == NULL)
    return;

  g_variant_get (parameter, "(x&s)", &conversation_id, &call_type);
  conversations = natter_client_get_conversations (self->client);
  if (conversations != NULL && NATTER_IS_CONVERSATION_LIST (conversations))
    item =
      natter_conversation_list_lookup (NATTER_CONVERSATION_LIST (conversations), conversation_id);
  peer = item ? natter_conversation_item_get_peer (item) : NULL;
  if (peer == NULL)
    return;

  if (natter_call_manager_start_call (self->call_manager, peer, call_type, conversation_id,
                                      &error) == NULL)
    show_toast (self, error->message);
}

static void switch_profile (NatterApplication *self, const NatterProfile *profile);

/* A call to another profile of the user is answered on that profile's
 * connection, and the window acts as that profile from then on. The
 * profile's client stays (as calling_watcher) while the call lasts. */
static void
accept_call (NatterApplication *self, gint64 call_log_id, gboolean with_video)
{
  NatterClient *client = NULL;
  NatterCall *call = natter_call_notifier_find_call (self->call_notifier, call_log_id, &client);
  g_autoptr (NatterClient) owner = NULL;
  NatterCall *active;

  if (call == NULL || !natter_call_get_incoming (call) || !natter_call_is_ringing (call))
    return;

  owner = g_object_ref (client);
  self->window_wanted = TRUE;
  if (self->signed_in)
    natter_application_present_main_window (self);

  if (owner == self->client) {
    natter_call_manager_end_active_and_accept (self->call_manager, call, with_video);
    return;
  }

  /* One call at a time, whichever profile it belongs to. */
  active = self->call_manager ? natter_call_manager_get_active_call (self->call_manager) : NULL;
  if (active != NULL)
    natter_call_hang_up (active);
  g_set_object (&self->calling_watcher, owner);
  if (!natter_call_manager_end_active_and_accept (natter_client_get_call_manager (owner), call,
                                                  with_video)) {
    g_clear_object (&self->calling_watcher);
    return;
  }
  switch_profile (self, natter_account_get_active_profile (natter_client_get_account (owner)));
}

static void
on_accept_call (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  accept_call (user_data, g_variant_get_int64 (parameter), FALSE);
}

static void
on_accept_video_call (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  accept_call (user_data, g_variant_get_int64 (parameter), TRUE);
}

static void
on_decline_call (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterApplication *self = user_data;
  NatterCall *call =
    natter_call_notifier_find_call (self->call_notifier, g_variant_get_int64 (parameter), NULL);

  if (call != NULL && natter_call_get_incoming (call) && natter_call_is_ringing (call))
    natter_call_decline (call);
}

/* The notification's body: bring the window up with the call's prompt. */
static void
on_show_incoming_call (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterApplication *self = user_data;
  NatterCall *call;

  self->window_wanted = TRUE;
  if (!self->signed_in)
    return;

  natter_application_present_main_window (self);
  call =
    natter_call_notifier_find_call (self->call_notifier, g_variant_get_int64 (parameter), NULL);
  if (call != NULL)
    natter_call_notifier_present (self->call_notifier, call);
}

static void
open_conversation (NatterApplication *self, gint64 conversation_id)
{
  GtkWindow *window;

  self->window_wanted = TRUE;
  if (!self->signed_in)
    return;

  natter_application_present_main_window (self);
  window = natter_application_get_main_window (self);
  natter_window_open_conversation (NATTER_WINDOW (window), conversation_id);
}

static void
on_open_conversation (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  open_conversation (user_data, g_variant_get_int64 (parameter));
}

static void
on_call_back (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterApplication *self = user_data;
  gint64 conversation_id;
  const char *call_type;

  g_variant_get (parameter, "(x&s)", &conversation_id, &call_type);
  open_conversation (self, conversation_id);

  if (g_action_group_has_action (G_ACTION_GROUP (self), "start-call"))
    g_action_group_activate_action (G_ACTION_GROUP (self), "start-call",
                                    g_variant_new ("(xs)", conversation_id, call_type));
}

/* "type:id", the target of app.switch-profile. */
static char *
profile_target (const NatterProfile *profile)
{
  return g_strdup_printf ("%s:%" G_GINT64_FORMAT, profile->profile_type, profile->profile_id);
}

static void
switch_profile (NatterApplication *self, const NatterProfile *profile)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *target = NULL;
  guint index;

  if (self->client == NULL || profile == NULL)
    return;

  target = profile_target (profile);
  /* Its watching client goes first: one store, one connection per profile
   * (unless it carries the call being answered). */
  if (natter_application_find_watcher (self, profile, &index) != NULL)
    g_ptr_array_remove_index (self->watchers, index);
  if (!natter_account_set_active_profile (natter_client_get_account (self->client),
                                          profile->profile_id, profile->profile_type, &error)) {
    show_toast (self, error->message);
    return;
  }

  g_settings_set_string (self->settings, "last-profile", target);
}

static void
on_switch_profile (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  const char *target = g_variant_get_string (parameter, NULL);
  g_auto (GStrv) parts = g_strsplit (target, ":", 2);
  g_autoptr (NatterProfile) profile = NULL;

  if (g_strv_length (parts) != 2)
    return;

  profile = natter_profile_new (g_ascii_strtoll (parts[1], NULL, 10), parts[0], NULL, NULL);
  switch_profile (user_data, profile);
}

/* A notification about another profile's message: act as that profile,
 * then open the conversation. */
static void
on_open_profile_conversation (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterApplication *self = user_data;
  const char *target;
  gint64 conversation_id;
  g_autoptr (GVariant) profile = NULL;

  g_variant_get (parameter, "(&sx)", &target, &conversation_id);
  /* Sunk: on_switch_profile() only reads it. */
  profile = g_variant_ref_sink (g_variant_new_string (target));
  on_switch_profile (NULL, profile, self);
  open_conversation (self, conversation_id);
}

/* Destroys every window of the application but those of type @keep (or
 * all, for G_TYPE_INVALID). A destroyed window can outlive its
 * gtk_window_destroy (): GTK keeps the one a click came from until the next
 * pointer event. When it goes at last, GTK disconnects it from its
 * transient parent, freed by then (Sign Out clicked in Preferences:
 * "instance with invalid (NULL) class pointer"), so each window lets go of
 * its parent first. The list holds references: destroying a parent also
 * destroys the windows kept above it (Preferences is destroyed with the
 * main window). */
static void
destroy_windows (NatterApplication *self, GType keep)
{
  GList *windows = g_list_copy_deep (gtk_application_get_windows (GTK_APPLICATION (self)),
                                     (GCopyFunc) g_object_ref, NULL);

  for (GList *l = windows; l != NULL; l = l->next)
    if (keep == G_TYPE_INVALID || !G_TYPE_CHECK_INSTANCE_TYPE (l->data, keep))
      gtk_window_set_transient_for (l->data, NULL);
  for (GList *l = windows; l != NULL; l = l->next)
    if (keep == G_TYPE_INVALID || !G_TYPE_CHECK_INSTANCE_TYPE (l->data, keep))
      gtk_window_destroy (l->data);
  g_list_free_full (windows, g_object_unref);
}

static void
on_signed_out (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterApplication) self = user_data;
  g_autoptr (GError) error = NULL;

  /* Signed out locally either way; a server we cannot reach just keeps a
   * token that expires. */
  if (!natter_client_sign_out_finish (NATTER_CLIENT (source), result, &error))
    g_message ("Signing out on the server failed: %s", error->message);
}

/* Whoever is on the other end of a call hears it end, while the connection
 * still carries the call_ended; a ringing call is declined. */
static void
end_calls (NatterClient *client)
{
  NatterCallManager *call_manager = client ? natter_client_get_call_manager (client) : NULL;
  g_autoptr (GPtrArray) ending = g_ptr_array_new_with_free_func (g_object_unref);
  GListModel *calls;

  if (call_manager == NULL)
    return;

  calls = natter_call_manager_get_calls (call_manager);
  for (guint i = 0; i < g_list_model_get_n_items (calls); i++)
    g_ptr_array_add (ending, g_list_model_get_item (calls, i));
  for (guint i = 0; i < ending->len; i++) {
    NatterCall *call = g_ptr_array_index (ending, i);

    if (natter_call_get_incoming (call) && natter_call_is_ringing (call))
      natter_call_decline (call);
    else
      natter_call_hang_up (call);
  }
}

/* @everywhere: the server also signs out the user's other devices. */
static void
sign_out (NatterApplication *self, gboolean everywhere)
{
  if (self->client == NULL || !self->signed_in)
    return;

  end_calls (self->client);
  end_calls (self->calling_watcher);
  for (guint i = 0; i < self->watchers->len; i++)
    end_calls (g_ptr_array_index (self->watchers, i));

  if (everywhere)
    natter_client_sign_out_everywhere_async (self->client, NULL, on_signed_out,
                                             g_object_ref (self));
  else
    natter_client_sign_out_async (self->client, NULL, on_signed_out, g_object_ref (self));
  /* "last-profile" stays: signing in again opens the profile used last. */
  self->signed_in = FALSE;
  natter_application_update_watchers (self);

  self->window_wanted = TRUE;
  natter_application_present_sign_in_window (self);

  destroy_windows (self, NATTER_TYPE_SIGN_IN_WINDOW);

  natter_application_update_hold (self);
}

static void
on_sign_out (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  sign_out (NATTER_APPLICATION (user_data), FALSE);
}

static void
on_sign_out_everywhere (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  sign_out (NATTER_APPLICATION (user_data), TRUE);
}

static void
on_preferences (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterApplication *self = user_data;
  GtkWindow *parent = natter_application_get_main_window (self);
  const NatterUser *user = NULL;
  NatterPreferencesWindow *preferences;

  if (self->client != NULL)
    user = natter_account_get_user (natter_client_get_account (self->client));

  preferences = natter_preferences_window_new (parent, self->settings, user ? user->email : NULL);
  natter_preferences_window_set_client (preferences, self->client);
  /* One of the app's windows, so an incoming call finds it when focused. */
  gtk_window_set_application (GTK_WINDOW (preferences), GTK_APPLICATION (self));
  gtk_window_present (GTK_WINDOW (preferences));
}

static void
on_about (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterApplication *self = user_data;
  const char *developers[] = { "The Natter developers", NULL };

  adw_show_about_window (
    natter_application_get_main_window (self), "application-name", "Natter", "application-icon",
    APPLICATION_ID, "version", PACKAGE_VERSION, "developer-name", _ ("The Natter developers"),
    "developers", developers, "license-type", GTK_LICENSE_GPL_3_0, "comments",
    _ ("Chat and call from your desktop"), "translator-credits", _ ("translator-credits"), NULL);
}

static void
on_quit (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterApplication *self = user_data;

  destroy_windows (self, G_TYPE_INVALID);
  g_application_quit (G_APPLICATION (self));
}

static const GActionEntry app_actions[] = {
  { "quit", on_quit },
  { "about", on_about },
  { "preferences", on_preferences },
  { "sign-out", on_sign_out },
  { "sign-out-everywhere", on_sign_out_everywhere },
  { "switch-profile", on_switch_profile, "s", "''" },
  { "open-profile-conversation", on_open_profile_conversation, "(sx)" },
  { "accept-call", on_accept_call, "x" },
  { "accept-video-call", on_accept_video_call, "x" },
  { "decline-call", on_decline_call, "x" },
  { "show-incoming-call", on_show_incoming_call, "x" },
  { "open-conversation", on_open_conversation, "x" },
  { "call-back", on_call_back, "(xs)" },
  { "start-call", on_start_call, "(xs)" },
};

/**
 * natter_application_add_actions:
 * @self: a #NatterApplication
 *
 * Adds the app actions and their keyboard shortcuts (at startup).
 */
void
natter_application_add_actions (NatterApplication *self)
{
  const char *quit_accels[] = { "<Control>q", NULL };
  const char *preferences_accels[] = { "<Control>comma", NULL };
  const char *close_accels[] = { "<Control>w", NULL };

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions),
                                   self);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.preferences",
                                         preferences_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "window.close", close_accels);
}
