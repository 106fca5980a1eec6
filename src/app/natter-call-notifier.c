/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-notifier"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-application-private.h"
#include "natter-call-manager.h"
#include "natter-call-notifier.h"
#include "natter-conversation-list.h"
#include "natter-incoming-call-dialog.h"

/* Puts every ringing call where the user is, and takes it away when it
 * stops ringing. It listens to the call manager of each signed-in profile's
 * client; a prompt is the call itself, shown as a dialog over the focused
 * Natter window or as an urgent notification whose buttons are app actions
 * targeted at the call log id. GNOME Calls' CallsNotifier is the model. */

typedef struct {
  NatterCall *call;
  NatterIncomingCallDialog *dialog; /* not owned: the application's window */
  gboolean notified;
} Prompt;

struct _NatterCallNotifier {
  GObject parent_instance;

  NatterApplication *application; /* weak: the application owns the notifier */
  GPtrArray *clients;             /* NatterClient whose calls ring here, not owned */
  GPtrArray *prompts;             /* Prompt, one per ringing call shown */
  GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE (NatterCallNotifier, natter_call_notifier, G_TYPE_OBJECT)

static void
prompt_free (Prompt *prompt)
{
  g_clear_object (&prompt->call);
  g_free (prompt);
}

static Prompt *
find_prompt (NatterCallNotifier *self, NatterCall *call, guint *out_index)
{
  for (guint i = 0; i < self->prompts->len; i++) {
    Prompt *prompt = g_ptr_array_index (self->prompts, i);

    if (prompt->call == call) {
      if (out_index != NULL)
        *out_index = i;
      return prompt;
    }
  }

  return NULL;
}

static char *
notification_id_for (NatterCall *call)
{
  return g_strdup_printf ("call-%" G_GINT64_FORMAT, natter_call_get_call_log_id (call));
}

static void
withdraw_notification (NatterCallNotifier *self, Prompt *prompt)
{
  g_autofree char *id = NULL;

  if (!prompt->notified)
    return;

  prompt->notified = FALSE;
  id = notification_id_for (prompt->call);
  g_application_withdraw_notification (G_APPLICATION (self->application), id);
}

static void
on_dialog_destroy (NatterCallNotifier *self, NatterIncomingCallDialog *dialog)
{
  Prompt *prompt = find_prompt (self, natter_incoming_call_dialog_get_call (dialog), NULL);

  if (prompt == NULL || prompt->dialog != dialog)
    return;

  prompt->dialog = NULL;
  if (!prompt->notified)
    g_ptr_array_remove_fast (self->prompts, prompt);
}

/* Whatever ended the ring (answered here or elsewhere, declined, cancelled,
 * timed out), the prompt goes at once. */
static void
withdraw (NatterCallNotifier *self, NatterCall *call)
{
  guint index;
  Prompt *prompt = find_prompt (self, call, &index);
  NatterIncomingCallDialog *dialog;

  if (prompt == NULL)
    return;

  withdraw_notification (self, prompt);
  dialog = g_steal_pointer (&prompt->dialog);
  g_ptr_array_remove_index_fast (self->prompts, index);
  if (dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (dialog));
}

static void
on_call_state (NatterCallNotifier *self, GParamSpec *pspec, NatterCall *call)
{
  if (natter_call_is_ringing (call))
    return;

  withdraw (self, call);
  g_signal_handlers_disconnect_by_func (call, on_call_state, self);
}

static GtkWindow *
find_focused_window (NatterCallNotifier *self)
{
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self->application)); l != NULL;
       l = l->next)
    if (gtk_widget_get_visible (l->data) && gtk_window_is_active (l->data) &&
        !NATTER_IS_INCOMING_CALL_DIALOG (l->data))
      return l->data;

  return NULL;
}

static void
send_notification (NatterCallNotifier *self, Prompt *prompt)
{
  const NatterProfile *peer = natter_call_get_peer (prompt->call);
  gint64 call_log_id = natter_call_get_call_log_id (prompt->call);
  gboolean video = g_strcmp0 (natter_call_get_call_type (prompt->call), "video") == 0;
  const char *name =
    peer != NULL && peer->display_name != NULL ? peer->display_name : _ ("Unknown caller");
  g_autoptr (GNotification) notification = NULL;
  g_autofree char *title = NULL;
  g_autofree char *id = notification_id_for (prompt->call);

  title = g_strdup_printf (video ? _ ("Video call from %s") : _ ("Voice call from %s"), name);
  notification = g_notification_new (title);
  natter_application_set_notification_body (self->application, notification, _ ("Incoming call"));
  g_notification_set_priority (notification, G_NOTIFICATION_PRIORITY_URGENT);
  g_notification_set_category (notification, "call.incoming");
  g_notification_set_default_action_and_target (notification, "app.show-incoming-call", "x",
                                                call_log_id);
  g_notification_add_button_with_target (notification, _ ("Decline"), "app.decline-call", "x",
                                         call_log_id);
  g_notification_add_button_with_target (notification, C_ ("incoming call", "Accept"),
                                         "app.accept-call", "x", call_log_id);
  g_application_send_notification (G_APPLICATION (self->application), id, notification);
  prompt->notified = TRUE;
}

static void
on_avatar_fetched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterCall) call = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) image = NULL;
  g_autoptr (GIcon) avatar = NULL;

  image = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  if (image == NULL) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_debug ("No avatar for the caller: %s", error->message);
    return;
  }

  avatar = g_bytes_icon_new (image);
  natter_call_set_avatar (call, G_LOADABLE_ICON (avatar));
}

static void
fetch_avatar (NatterCallNotifier *self, NatterClient *client, NatterCall *call)
{
  const NatterProfile *peer = natter_call_get_peer (call);

  if (peer == NULL || peer->avatar_url == NULL || peer->avatar_url[0] != '/' ||
      natter_call_get_avatar (call) != NULL)
    return;

  natter_account_request_async (natter_client_get_account (client), "GET", peer->avatar_url, NULL,
                                self->cancellable, on_avatar_fetched, g_object_ref (call));
}

static gboolean
caller_is_muted (NatterCallNotifier *self, NatterClient *client, NatterCall *call)
{
  GListModel *conversations = natter_client_get_conversations (client);
  const NatterProfile *peer = natter_call_get_peer (call);
  NatterConversationItem *item = NULL;

  /* A call is one to one: its conversation is the direct one with the peer. */
  if (peer != NULL && conversations != NULL && NATTER_IS_CONVERSATION_LIST (conversations))
    item = natter_conversation_list_find_by_peer (NATTER_CONVERSATION_LIST (conversations), peer);

  return item != NULL && natter_application_get_conversation_muted (
                           self->application, natter_conversation_item_get_conversation_id (item));
}

static void
on_incoming_call (NatterCallNotifier *self, NatterCall *call, NatterCallManager *call_manager)
{
  GSettings *settings = natter_application_get_settings (self->application);
  NatterClient *client = NULL;

  for (guint i = 0; i < self->clients->len && client == NULL; i++)
    if (natter_client_get_call_manager (g_ptr_array_index (self->clients, i)) == call_manager)
      client = g_ptr_array_index (self->clients, i);
  if (client == NULL)
    return;

  g_signal_connect_object (call, "notify::state", G_CALLBACK (on_call_state), self,
                           G_CONNECT_SWAPPED);
  /* Do Not Disturb lets calls ring, as GNOME lets urgent notifications
   * through, but not from a conversation the user muted as well. */
  if (settings != NULL && g_settings_get_boolean (settings, "do-not-disturb") &&
      caller_is_muted (self, client, call))
    natter_call_silence (call);
  fetch_avatar (self, client, call);
  natter_call_notifier_present (self, call);
}

/* A client goes with its profile (sign-out, profile switch); its call
 * manager ended its calls, and so their prompts, on the way. */
static void
on_client_finalized (gpointer user_data, GObject *client)
{
  NatterCallNotifier *self = user_data;

  g_ptr_array_remove (self->clients, client);
}

static void
natter_call_notifier_dispose (GObject *object)
{
  NatterCallNotifier *self = NATTER_CALL_NOTIFIER (object);

  g_cancellable_cancel (self->cancellable);
  while (self->clients != NULL && self->clients->len > 0)
    natter_call_notifier_remove_client (self, g_ptr_array_index (self->clients, 0));
  while (self->prompts != NULL && self->prompts->len > 0)
    withdraw (self, ((Prompt *) g_ptr_array_index (self->prompts, 0))->call);
  g_clear_pointer (&self->clients, g_ptr_array_unref);
  g_clear_pointer (&self->prompts, g_ptr_array_unref);
  g_clear_object (&self->cancellable);
  g_clear_weak_pointer (&self->application);

  G_OBJECT_CLASS (natter_call_notifier_parent_class)->dispose (object);
}

static void
natter_call_notifier_class_init (NatterCallNotifierClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_call_notifier_dispose;
}

static void
natter_call_notifier_init (NatterCallNotifier *self)
{
  self->clients = g_ptr_array_new ();
  self->prompts = g_ptr_array_new_with_free_func ((GDestroyNotify) prompt_free);
  self->cancellable = g_cancellable_new ();
}

/**
 * natter_call_notifier_new:
 * @application: the application whose windows and notifications show calls
 *
 * Returns: (transfer full): a notifier listening to no client yet
 */
NatterCallNotifier *
natter_call_notifier_new (GtkApplication *application)
{
  NatterCallNotifier *self;

  g_return_val_if_fail (NATTER_IS_APPLICATION (application), NULL);

  self = g_object_new (NATTER_TYPE_CALL_NOTIFIER, NULL);
  g_set_weak_pointer (&self->application, NATTER_APPLICATION (application));
  return self;
}

/**
 * natter_call_notifier_add_client:
 * @self: a #NatterCallNotifier
 * @client: the client of a signed-in profile
 *
 * Calls to @client's profile ring here from now on.
 */
void
natter_call_notifier_add_client (NatterCallNotifier *self, NatterClient *client)
{
  NatterCallManager *call_manager;

  g_return_if_fail (NATTER_IS_CALL_NOTIFIER (self));
  g_return_if_fail (NATTER_IS_CLIENT (client));

  call_manager = natter_client_get_call_manager (client);
  if (call_manager == NULL || g_ptr_array_find (self->clients, client, NULL))
    return;

  g_ptr_array_add (self->clients, client);
  g_object_weak_ref (G_OBJECT (client), on_client_finalized, self);
  g_signal_connect_object (call_manager, "incoming-call", G_CALLBACK (on_incoming_call), self,
                           G_CONNECT_SWAPPED);
}

/**
 * natter_call_notifier_remove_client:
 * @self: a #NatterCallNotifier
 * @client: a client given to natter_call_notifier_add_client()
 *
 * Its calls ring here no more, and their prompts go.
 */
void
natter_call_notifier_remove_client (NatterCallNotifier *self, NatterClient *client)
{
  NatterCallManager *call_manager;
  guint index;

  g_return_if_fail (NATTER_IS_CALL_NOTIFIER (self));
  g_return_if_fail (NATTER_IS_CLIENT (client));

  if (!g_ptr_array_find (self->clients, client, &index))
    return;

  call_manager = natter_client_get_call_manager (client);
  if (call_manager != NULL) {
    GListModel *calls = natter_call_manager_get_calls (call_manager);

    g_signal_handlers_disconnect_by_func (call_manager, on_incoming_call, self);
    for (guint i = 0; i < g_list_model_get_n_items (calls); i++) {
      g_autoptr (NatterCall) call = g_list_model_get_item (calls, i);

      g_signal_handlers_disconnect_by_func (call, on_call_state, self);
      withdraw (self, call);
    }
  }
  g_object_weak_unref (G_OBJECT (client), on_client_finalized, self);
  g_ptr_array_remove_index (self->clients, index);
}

/**
 * natter_call_notifier_find_call:
 * @self: a #NatterCallNotifier
 * @call_log_id: the server's id of a call
 * @out_client: (out) (optional) (transfer none): the client the call came to
 *
 * Returns: (transfer none) (nullable): the call, on any profile's client
 */
NatterCall *
natter_call_notifier_find_call (NatterCallNotifier *self,
                                gint64 call_log_id,
                                NatterClient **out_client)
{
  g_return_val_if_fail (NATTER_IS_CALL_NOTIFIER (self), NULL);

  for (guint i = 0; i < self->clients->len; i++) {
    NatterClient *client = g_ptr_array_index (self->clients, i);
    NatterCall *call =
      natter_call_manager_find_call (natter_client_get_call_manager (client), call_log_id);

    if (call != NULL) {
      if (out_client != NULL)
        *out_client = client;
      return call;
    }
  }

  return NULL;
}

/**
 * natter_call_notifier_present:
 * @self: a #NatterCallNotifier
 * @call: a ringing incoming call
 *
 * Puts the call's prompt where the user is: a dialog over the focused
 * Natter window, or an urgent notification when no Natter window is
 * focused, or a dialog of its own when no notification server runs. A
 * dialog supersedes the call's notification.
 */
void
natter_call_notifier_present (NatterCallNotifier *self, NatterCall *call)
{
  Prompt *prompt;
  GtkWindow *focused;

  g_return_if_fail (NATTER_IS_CALL_NOTIFIER (self));
  g_return_if_fail (NATTER_IS_CALL (call));

  if (self->application == NULL || !natter_call_is_ringing (call) ||
      !natter_call_get_incoming (call))
    return;

  prompt = find_prompt (self, call, NULL);
  if (prompt == NULL) {
    prompt = g_new0 (Prompt, 1);
    prompt->call = g_object_ref (call);
    g_ptr_array_add (self->prompts, prompt);
  }
  if (prompt->dialog != NULL)
    return;

  /* Without a notification server the prompt is a window of its own, even
   * with no Natter window open: the caller hears it ring, so the user must
   * see it. */
  focused = find_focused_window (self);
  if (focused != NULL || !natter_application_can_notify (self->application)) {
    prompt->dialog = natter_incoming_call_dialog_new (focused, call);
    g_signal_connect_object (prompt->dialog, "destroy", G_CALLBACK (on_dialog_destroy), self,
                             G_CONNECT_SWAPPED);
    gtk_window_set_application (GTK_WINDOW (prompt->dialog), GTK_APPLICATION (self->application));
    gtk_window_present (GTK_WINDOW (prompt->dialog));
    withdraw_notification (self, prompt);
  } else if (!prompt->notified) {
    send_notification (self, prompt);
  }
}

/**
 * natter_call_notifier_has_prompt:
 * @self: a #NatterCallNotifier
 * @call: a call
 *
 * Returns: whether a dialog or notification asks about @call
 */
gboolean
natter_call_notifier_has_prompt (NatterCallNotifier *self, NatterCall *call)
{
  g_return_val_if_fail (NATTER_IS_CALL_NOTIFIER (self), FALSE);
  g_return_val_if_fail (NATTER_IS_CALL (call), FALSE);

  return find_prompt (self, call, NULL) != NULL;
}
