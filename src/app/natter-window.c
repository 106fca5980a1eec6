/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-window"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-bench-probes.h"
#include "natter-call-manager.h"
#include "natter-call-overlay.h"
#include "natter-chat-view.h"
#include "natter-conversation-row.h"
#include "natter-format.h"
#include "natter-muted-conversations.h"
#include "natter-new-conversation-dialog.h"
#include "natter-window.h"

/* The main window: the conversation sidebar (filter, profiles in the
 * primary menu), the chat pane, and the call overlay with its "return to
 * call" bar. It only listens to the client and the call it is given. */

#define ENDED_CALL_SHOWN_S 4

enum { PROP_0, PROP_CLIENT, PROP_SETTINGS, PROP_ONLINE, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterWindow {
  AdwApplicationWindow parent_instance;

  NatterClient *client;
  GSettings *settings;
  GtkCustomFilter *filter;
  GtkFilterListModel *filtered;
  GtkSingleSelection *selection;
  char *filter_text;
  gboolean call_active;
  gboolean online;
  gboolean link_dropped;

  NatterCall *call;
  GSignalGroup *call_signals;
  NatterDevices *devices;
  NatterBenchProbes *bench_probes; /* with NATTER_BENCH_TIMING */
  guint ended_timeout_id;

  GHashTable *bound_rows; /* NatterConversationRow */
  GtkWidget *row_menu;    /* the rows' context menu, moved to the row it is for */

  GMenu *profiles_section;
  AdwToastOverlay *toast_overlay;
  AdwLeaflet *leaflet;
  GtkWidget *sidebar_header_bar;
  AdwWindowTitle *sidebar_title;
  GtkStack *sidebar_title_stack;
  GtkWidget *profile_button;
  GtkLabel *profile_name_label;
  GtkLabel *profile_type_label;
  GtkSearchEntry *search_entry;
  GtkSearchBar *search_bar;
  GtkStack *sidebar_stack;
  GtkListView *conversation_list_view;
  GtkRevealer *return_to_call_revealer;
  GtkLabel *return_to_call_label;
  GtkStack *content_stack;
  NatterChatView *chat_view;
  NatterCallOverlay *call_overlay;
};

G_DEFINE_FINAL_TYPE (NatterWindow, natter_window, ADW_TYPE_APPLICATION_WINDOW)

static GListModel *
get_conversations (NatterWindow *self)
{
  return natter_client_get_conversations (self->client);
}

static void
update_sidebar_page (NatterWindow *self)
{
  const char *page = "list";

  if (get_conversations (self) == NULL || g_list_model_get_n_items (get_conversations (self)) == 0)
    page = "empty";
  else if (g_list_model_get_n_items (G_LIST_MODEL (self->filtered)) == 0)
    page = "no-match";

  gtk_stack_set_visible_child_name (self->sidebar_stack, page);
}

static void
update_return_to_call (NatterWindow *self)
{
  gboolean in_call_page =
    g_strcmp0 (gtk_stack_get_visible_child_name (self->content_stack), "call") == 0;

  gtk_revealer_set_reveal_child (self->return_to_call_revealer, self->call_active && !in_call_page);
}

static void
update_online (NatterWindow *self)
{
  NatterConnection *connection = natter_client_get_connection (self->client);
  NatterConnectionState state = natter_connection_get_state (connection);

  gboolean online;

  /* Connecting at start-up is not "offline"; a dropped link is, also while
   * the retries connect again. */
  if (state == NATTER_CONNECTION_STATE_CONNECTED)
    self->link_dropped = FALSE;
  else if (state == NATTER_CONNECTION_STATE_WAITING_TO_RETRY)
    self->link_dropped = TRUE;
  online = state == NATTER_CONNECTION_STATE_CONNECTED ||
           (state == NATTER_CONNECTION_STATE_CONNECTING && !self->link_dropped);

  natter_chat_view_set_online (NATTER_CHAT_VIEW (self->chat_view), online);
  if (self->online != online) {
    self->online = online;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ONLINE]);
  }
}

/* The active profile in the sidebar's header: who the user is acting as,
 * with the other profiles one click away (radio items of the stateful
 * app.switch-profile). */
static void
update_profiles (NatterWindow *self)
{
  NatterAccount *account = natter_client_get_account (self->client);
  const NatterUser *user = natter_account_get_user (account);
  const NatterProfile *active = natter_account_get_active_profile (account);
  gboolean several = user != NULL && user->profiles != NULL && user->profiles->len > 1;
  const char *active_name = active && active->display_name ? active->display_name : "";
  g_autofree char *tooltip = NULL;

  g_menu_remove_all (self->profiles_section);
  adw_window_title_set_subtitle (self->sidebar_title, active_name);
  gtk_stack_set_visible_child_name (self->sidebar_title_stack,
                                    several && active != NULL ? "switcher" : "title");
  if (!several || active == NULL)
    return;

  gtk_label_set_label (self->profile_name_label,
                       *active_name != '\0' ? active_name : user->display_name);
  gtk_label_set_label (self->profile_type_label, natter_profile_type_label (active->profile_type));
  /* Translators: tooltip of the profile switcher: the active profile's type */
  tooltip = g_strdup_printf (_ ("Acting as %s: switch profile"),
                             natter_profile_type_label (active->profile_type));
  gtk_widget_set_tooltip_text (self->profile_button, tooltip);

  for (guint i = 0; i < user->profiles->len; i++) {
    const NatterProfile *profile = g_ptr_array_index (user->profiles, i);
    g_autofree char *target =
      g_strdup_printf ("%s:%" G_GINT64_FORMAT, profile->profile_type, profile->profile_id);
    /* Translators: a profile in the menu: the name, then "Tutor", "Parent"… */
    g_autofree char *label =
      g_strdup_printf (C_ ("profile menu", "%s (%s)"),
                       profile->display_name ? profile->display_name : user->display_name,
                       natter_profile_type_label (profile->profile_type));
    g_autoptr (GMenuItem) item = g_menu_item_new (label, NULL);

    g_menu_item_set_action_and_target (item, "app.switch-profile", "s", target);
    g_menu_append_item (self->profiles_section, item);
  }
}

static gboolean
filter_conversation (gpointer item, gpointer user_data)
{
  NatterWindow *self = user_data;
  g_autofree char *title = NULL;
  NatterStore *store;

  if (self->filter_text == NULL || *self->filter_text == '\0')
    return TRUE;

  title = g_utf8_casefold (natter_conversation_item_get_title (item) ?: "", -1);
  if (strstr (title, self->filter_text) != NULL)
    return TRUE;

  /* Or a message of the conversation has the words (the local store's
   * full-text index over the history fetched so far). */
  store = self->client != NULL ? natter_client_get_store (self->client) : NULL;
  return store != NULL &&
         natter_store_conversation_has_match (
           store, natter_conversation_item_get_conversation_id (item), self->filter_text);
}

static void
on_search_changed (NatterWindow *self)
{
  natter_window_set_filter_text (self, gtk_editable_get_text (GTK_EDITABLE (self->search_entry)));
}

static void
on_leaflet_folded_changed (NatterWindow *self)
{
  natter_chat_view_set_show_back_button (self->chat_view, adw_leaflet_get_folded (self->leaflet));
}

static void
show_conversation (NatterWindow *self, NatterConversationItem *item)
{
  natter_chat_view_set_conversation (self->chat_view, item);
  gtk_stack_set_visible_child_name (self->content_stack, item ? "chat" : "empty");
  update_return_to_call (self);
  if (item != NULL) {
    adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
    natter_chat_view_focus_composer (self->chat_view);
  }
}

static void
on_conversation_activated (NatterWindow *self, guint position)
{
  g_autoptr (NatterConversationItem) item =
    g_list_model_get_item (G_LIST_MODEL (self->filtered), position);

  gtk_single_selection_set_selected (self->selection, position);
  show_conversation (self, item);
}

static const char *
get_server_url (NatterWindow *self)
{
  return natter_account_get_server_url (natter_client_get_account (self->client));
}

static gboolean
get_muted (NatterWindow *self, gint64 conversation_id)
{
  return self->settings != NULL && natter_settings_get_conversation_muted (
                                     self->settings, get_server_url (self), conversation_id);
}

static void
update_row_muted (NatterWindow *self, NatterConversationRow *row)
{
  NatterConversationItem *item = natter_conversation_row_get_item (row);

  natter_conversation_row_set_muted (
    row, item != NULL && get_muted (self, natter_conversation_item_get_conversation_id (item)));
}

static void
on_muted_conversations_changed (NatterWindow *self)
{
  GHashTableIter iter;
  gpointer row;

  g_hash_table_iter_init (&iter, self->bound_rows);
  while (g_hash_table_iter_next (&iter, &row, NULL))
    update_row_muted (self, row);
}

static NatterConversationRow *
find_bound_row (NatterWindow *self, gint64 conversation_id)
{
  GHashTableIter iter;
  gpointer row;

  g_hash_table_iter_init (&iter, self->bound_rows);
  while (g_hash_table_iter_next (&iter, &row, NULL)) {
    NatterConversationItem *item = natter_conversation_row_get_item (row);

    if (item != NULL && natter_conversation_item_get_conversation_id (item) == conversation_id)
      return row;
  }

  return NULL;
}

/* The row's context menu: mute, with what muting does in words. */
static void
popup_row_menu (NatterWindow *self, NatterConversationRow *row, double x, double y)
{
  NatterConversationItem *item = natter_conversation_row_get_item (row);
  g_autoptr (GMenu) menu = g_menu_new ();
  g_autoptr (GMenu) actions = g_menu_new ();
  g_autoptr (GMenu) note = g_menu_new ();
  g_autoptr (GMenuItem) toggle = NULL;
  gint64 conversation_id;
  gboolean muted;

  if (item == NULL || self->settings == NULL)
    return;

  conversation_id = natter_conversation_item_get_conversation_id (item);
  muted = get_muted (self, conversation_id);
  toggle = g_menu_item_new (muted ? _ ("_Unmute Notifications") : _ ("_Mute Notifications"), NULL);
  g_menu_item_set_action_and_target (toggle, "win.toggle-mute", "x", conversation_id);
  g_menu_append_item (actions, toggle);
  g_menu_append_section (menu, NULL, G_MENU_MODEL (actions));
  /* An item without an action shows as a greyed-out line. */
  g_menu_append (note,
                 muted ? _ ("Messages here do not notify")
                       : _ ("Messages here will not notify; calls still ring unless Do Not "
                            "Disturb is on"),
                 NULL);
  g_menu_append_section (menu, NULL, G_MENU_MODEL (note));

  gtk_popover_menu_set_menu_model (GTK_POPOVER_MENU (self->row_menu), G_MENU_MODEL (menu));
  if (gtk_widget_get_parent (self->row_menu) != GTK_WIDGET (row)) {
    if (gtk_widget_get_parent (self->row_menu) != NULL)
      gtk_widget_unparent (self->row_menu);
    gtk_widget_set_parent (self->row_menu, GTK_WIDGET (row));
  }
  if (x >= 0 && y >= 0)
    gtk_popover_set_pointing_to (GTK_POPOVER (self->row_menu),
                                 &(GdkRectangle){ (int) x, (int) y, 1, 1 });
  else
    gtk_popover_set_pointing_to (GTK_POPOVER (self->row_menu), NULL);
  gtk_popover_popup (GTK_POPOVER (self->row_menu));
}

static void
on_row_secondary_click (GtkGestureClick *gesture, int n_press, double x, double y, gpointer data)
{
  GtkWidget *row = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (gesture));

  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  popup_row_menu (NATTER_WINDOW (data), NATTER_CONVERSATION_ROW (row), x, y);
}

static void
on_row_long_press (GtkGestureLongPress *gesture, double x, double y, gpointer data)
{
  GtkWidget *row = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (gesture));

  popup_row_menu (NATTER_WINDOW (data), NATTER_CONVERSATION_ROW (row), x, y);
}

static void
on_conversation_setup (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer data)
{
  GtkWidget *row = natter_conversation_row_new ();
  GtkGesture *click = gtk_gesture_click_new ();
  GtkGesture *long_press = gtk_gesture_long_press_new ();

  /* Offline, the peers' presence is stale: the rows stop showing it. */
  g_object_bind_property (data, "online", row, "presence-known", G_BINDING_SYNC_CREATE);
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_SECONDARY);
  g_signal_connect_object (click, "pressed", G_CALLBACK (on_row_secondary_click), data, 0);
  gtk_widget_add_controller (row, GTK_EVENT_CONTROLLER (click));
  gtk_gesture_single_set_touch_only (GTK_GESTURE_SINGLE (long_press), TRUE);
  g_signal_connect_object (long_press, "pressed", G_CALLBACK (on_row_long_press), data, 0);
  gtk_widget_add_controller (row, GTK_EVENT_CONTROLLER (long_press));
  gtk_list_item_set_child (list_item, row);
}

static void
on_conversation_bind (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer data)
{
  NatterWindow *self = NATTER_WINDOW (data);
  NatterConversationRow *row = NATTER_CONVERSATION_ROW (gtk_list_item_get_child (list_item));

  natter_conversation_row_set_item (row, gtk_list_item_get_item (list_item));
  g_hash_table_add (self->bound_rows, row);
  update_row_muted (self, row);
}

static void
on_conversation_unbind (GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer data)
{
  NatterWindow *self = NATTER_WINDOW (data);
  NatterConversationRow *row = NATTER_CONVERSATION_ROW (gtk_list_item_get_child (list_item));

  g_hash_table_remove (self->bound_rows, row);
  natter_conversation_row_set_item (row, NULL);
}

static void
on_toggle_mute_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterWindow *self = NATTER_WINDOW (widget);
  gint64 conversation_id = g_variant_get_int64 (parameter);

  if (self->settings == NULL || conversation_id <= 0)
    return;

  natter_settings_set_conversation_muted (self->settings, get_server_url (self), conversation_id,
                                          !get_muted (self, conversation_id));
}

static void
on_conversation_menu_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterWindow *self = NATTER_WINDOW (widget);
  NatterConversationRow *row = find_bound_row (self, g_variant_get_int64 (parameter));

  if (row != NULL)
    popup_row_menu (self, row, -1, -1);
}

/* A conversation that moves to the top is removed and inserted again, and
 * GtkSingleSelection drops the selection with the removed item: find the
 * open conversation's new place, so the sidebar keeps showing which one is
 * open (or none while a search hides it). */
static void
select_open_conversation (NatterWindow *self)
{
  NatterConversationItem *open = natter_chat_view_get_conversation (self->chat_view);
  GListModel *model = G_LIST_MODEL (self->filtered);
  guint n_items = g_list_model_get_n_items (model);
  guint selected;
  gint64 open_id;

  if (open == NULL)
    return;

  /* By position: after a removal GTK 4.8 can keep the removed item as the
   * selected item while its position already names another. */
  open_id = natter_conversation_item_get_conversation_id (open);
  selected = gtk_single_selection_get_selected (self->selection);
  if (selected < n_items) {
    g_autoptr (NatterConversationItem) item = g_list_model_get_item (model, selected);

    if (natter_conversation_item_get_conversation_id (item) == open_id)
      return;
  }

  for (guint i = 0; i < n_items; i++) {
    g_autoptr (NatterConversationItem) item = g_list_model_get_item (model, i);

    if (natter_conversation_item_get_conversation_id (item) == open_id) {
      gtk_single_selection_set_selected (self->selection, i);
      return;
    }
  }
  gtk_single_selection_set_selected (self->selection, GTK_INVALID_LIST_POSITION);
}

static void
on_conversations_changed (NatterWindow *self)
{
  select_open_conversation (self);
  update_sidebar_page (self);
}

/* The list belongs to the active profile: a profile switch brings a new one. */
static void
on_client_conversations_changed (NatterWindow *self)
{
  show_conversation (self, NULL);
  gtk_single_selection_set_selected (self->selection, GTK_INVALID_LIST_POSITION);
  gtk_filter_list_model_set_model (self->filtered, get_conversations (self));
  update_sidebar_page (self);
}

static void
on_chat_start_call (NatterWindow *self, const char *call_type)
{
  NatterConversationItem *item = natter_chat_view_get_conversation (self->chat_view);
  GApplication *application = G_APPLICATION (gtk_window_get_application (GTK_WINDOW (self)));

  if (item == NULL || application == NULL)
    return;

  /* The application owns the calls; it starts one when it can. */
  g_action_group_activate_action (
    G_ACTION_GROUP (application), "start-call",
    g_variant_new ("(xs)", natter_conversation_item_get_conversation_id (item), call_type));
}

static void on_conversation_created (GObject *source, GAsyncResult *result, gpointer user_data);

static void
on_profile_chosen (NatterWindow *self, const NatterProfile *profile, GtkWindow *dialog)
{
  GListModel *conversations = get_conversations (self);
  NatterConversationItem *existing = NULL;

  gtk_window_close (dialog);

  if (conversations != NULL && NATTER_IS_CONVERSATION_LIST (conversations))
    existing =
      natter_conversation_list_find_by_peer (NATTER_CONVERSATION_LIST (conversations), profile);
  if (existing != NULL) {
    natter_window_open_conversation (self, natter_conversation_item_get_conversation_id (existing));
    return;
  }

  natter_client_start_conversation_async (self->client, profile, NULL, on_conversation_created,
                                          g_object_ref (self));
}

static void
on_conversations_refreshed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  NatterWindow *self = g_task_get_source_object (task);
  gint64 conversation_id = GPOINTER_TO_SIZE (g_task_get_task_data (task));
  g_autoptr (GError) error = NULL;

  if (!natter_client_refresh_conversations_finish (NATTER_CLIENT (source), result, &error)) {
    natter_window_add_toast (self, error->message);
    return;
  }

  natter_window_open_conversation (self, conversation_id);
}

static void
on_conversation_created (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterWindow) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterConversation) conversation = NULL;
  GTask *task;

  conversation = natter_client_start_conversation_finish (NATTER_CLIENT (source), result, &error);

  if (conversation == NULL) {
    g_autofree char *message =
      g_strdup_printf (_ ("Could not start the conversation: %s"), error->message);

    natter_window_add_toast (self, message);
    return;
  }

  task = g_task_new (self, NULL, NULL, NULL);
  g_task_set_task_data (task, GSIZE_TO_POINTER ((gsize) conversation->conversation_id), NULL);
  natter_client_refresh_conversations_async (self->client, NULL, on_conversations_refreshed, task);
}

static void
on_new_conversation_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterWindow *self = NATTER_WINDOW (widget);
  NatterNewConversationDialog *dialog = natter_new_conversation_dialog_new (
    GTK_WINDOW (self), natter_client_get_account (self->client));

  g_signal_connect_object (dialog, "profile-chosen", G_CALLBACK (on_profile_chosen), self,
                           G_CONNECT_SWAPPED);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_show_sidebar_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterWindow *self = NATTER_WINDOW (widget);

  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

static void
on_show_call_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  natter_window_show_call (NATTER_WINDOW (widget));
}

static void
on_search_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterWindow *self = NATTER_WINDOW (widget);

  gtk_search_bar_set_search_mode (self->search_bar, TRUE);
  gtk_widget_grab_focus (GTK_WIDGET (self->search_entry));
}

static gboolean
on_ended_call_timeout (gpointer user_data)
{
  NatterWindow *self = user_data;

  self->ended_timeout_id = 0;
  natter_window_set_call (self, NULL);

  return G_SOURCE_REMOVE;
}

/* The overlay follows the call itself; the window keeps the "return to
 * call" bar and, once the call ended, shows the overlay for a moment. */
static void
update_call (NatterWindow *self)
{
  NatterCall *call = self->call;
  const NatterProfile *peer;
  g_autofree char *duration = NULL;
  g_autofree char *summary = NULL;
  const char *name;

  if (call == NULL)
    return;

  if (natter_call_get_state (call) == NATTER_CALL_STATE_ENDED) {
    self->call_active = FALSE;
    update_return_to_call (self);
    if (self->ended_timeout_id == 0)
      self->ended_timeout_id =
        g_timeout_add_seconds (ENDED_CALL_SHOWN_S, on_ended_call_timeout, self);
    return;
  }

  peer = natter_call_get_peer (call);
  name = peer && peer->display_name ? peer->display_name : _ ("Unknown");
  duration = natter_format_duration (natter_call_get_duration (call));
  /* Translators: the bar above a conversation during a call: name, duration */
  summary = g_strdup_printf (_ ("%s · %s — Return to Call"), name, duration);
  natter_window_set_call_active (self, TRUE, summary);
}

/* The devices button of the call overlay offers the choices of preferences
 * (the GSettings keys, as radio items). A choice made during a call applies
 * at once: NatterCallManager hands it to the call, whose pipeline swaps the
 * device in place. */
static void
update_devices_menu (NatterWindow *self)
{
  static const struct {
    const char *key;
    const char *context;
    const char *title;
  } kinds[] = {
    { "microphone", NULL, N_ ("Microphone") },
    { "camera", "webcam", NC_ ("webcam", "Camera") },
    { "speaker", "loudspeaker", NC_ ("loudspeaker", "Speaker") },
  };
  g_autoptr (GMenu) menu = NULL;

  if (self->devices == NULL || self->settings == NULL) {
    natter_call_overlay_set_devices_menu (self->call_overlay, NULL);
    return;
  }

  menu = g_menu_new ();
  for (guint kind = 0; kind < G_N_ELEMENTS (kinds); kind++) {
    g_autoptr (GMenu) section = g_menu_new ();
    g_autofree char *action = g_strconcat ("devices.", kinds[kind].key, NULL);
    GListModel *list = kind == 0   ? natter_devices_get_microphones (self->devices)
                       : kind == 1 ? natter_devices_get_cameras (self->devices)
                                   : natter_devices_get_speakers (self->devices);
    g_autoptr (GMenuItem) fallback =
      g_menu_item_new (kind == 1 ? _ ("First Camera Found") : _ ("System Default"), NULL);
    guint n = list ? g_list_model_get_n_items (list) : 0;

    g_menu_item_set_action_and_target (fallback, action, "s", "");
    g_menu_append_item (section, fallback);
    for (guint i = 0; i < n; i++) {
      g_autoptr (NatterDevice) device = g_list_model_get_item (list, i);
      const char *name = natter_device_get_display_name (device);
      g_autoptr (GMenuItem) item = g_menu_item_new (name, NULL);

      g_menu_item_set_action_and_target (item, action, "s", name);
      g_menu_append_item (section, item);
    }
    g_menu_append_section (
      menu,
      kinds[kind].context ? g_dpgettext2 (GETTEXT_PACKAGE, kinds[kind].context, kinds[kind].title)
                          : _ (kinds[kind].title),
      G_MENU_MODEL (section));
  }

  natter_call_overlay_set_devices_menu (self->call_overlay, G_MENU_MODEL (menu));
}

static void
setup_devices_menu (NatterWindow *self)
{
  g_autoptr (NatterCallManager) call_manager = NULL;
  g_autoptr (GSimpleActionGroup) group = NULL;
  const char *keys[] = { "microphone", "camera", "speaker" };

  g_object_get (self->client, "call-manager", &call_manager, NULL);
  if (call_manager == NULL || self->settings == NULL ||
      natter_call_manager_get_devices (call_manager) == NULL)
    return;

  g_set_object (&self->devices, natter_call_manager_get_devices (call_manager));
  group = g_simple_action_group_new ();
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
    g_autoptr (GAction) action = g_settings_create_action (self->settings, keys[i]);

    g_action_map_add_action (G_ACTION_MAP (group), action);
  }
  gtk_widget_insert_action_group (GTK_WIDGET (self), "devices", G_ACTION_GROUP (group));

  /* Hot-plug: the lists follow the device monitor. */
  g_signal_connect_object (natter_devices_get_microphones (self->devices), "items-changed",
                           G_CALLBACK (update_devices_menu), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (natter_devices_get_cameras (self->devices), "items-changed",
                           G_CALLBACK (update_devices_menu), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (natter_devices_get_speakers (self->devices), "items-changed",
                           G_CALLBACK (update_devices_menu), self, G_CONNECT_SWAPPED);
  update_devices_menu (self);
}

static void
natter_window_constructed (GObject *object)
{
  NatterWindow *self = NATTER_WINDOW (object);
  G_OBJECT_CLASS (natter_window_parent_class)->constructed (object);

  g_assert (NATTER_IS_CLIENT (self->client));

  if (self->settings != NULL) {
    g_settings_bind (self->settings, "window-width", self, "default-width",
                     G_SETTINGS_BIND_DEFAULT);
    g_settings_bind (self->settings, "window-height", self, "default-height",
                     G_SETTINGS_BIND_DEFAULT);
    g_settings_bind (self->settings, "window-maximized", self, "maximized",
                     G_SETTINGS_BIND_DEFAULT);
  }

  if (self->settings != NULL) {
    g_autoptr (GSimpleActionGroup) notifications = g_simple_action_group_new ();
    g_autoptr (GAction) do_not_disturb =
      g_settings_create_action (self->settings, "do-not-disturb");

    g_action_map_add_action (G_ACTION_MAP (notifications), do_not_disturb);
    gtk_widget_insert_action_group (GTK_WIDGET (self), "notifications",
                                    G_ACTION_GROUP (notifications));
    g_signal_connect_object (self->settings, "changed::muted-conversations",
                             G_CALLBACK (on_muted_conversations_changed), self, G_CONNECT_SWAPPED);
  }

  self->filter = gtk_custom_filter_new (filter_conversation, self, NULL);
  self->filtered = gtk_filter_list_model_new (NULL, GTK_FILTER (g_object_ref (self->filter)));
  if (get_conversations (self) != NULL)
    gtk_filter_list_model_set_model (self->filtered, get_conversations (self));
  self->selection = gtk_single_selection_new (G_LIST_MODEL (g_object_ref (self->filtered)));
  gtk_single_selection_set_autoselect (self->selection, FALSE);
  gtk_single_selection_set_can_unselect (self->selection, TRUE);
  gtk_single_selection_set_selected (self->selection, GTK_INVALID_LIST_POSITION);
  gtk_list_view_set_model (self->conversation_list_view, GTK_SELECTION_MODEL (self->selection));

  /* The selection's own signal: it comes after the selection has followed the
   * change, which the filter model's may not. */
  g_signal_connect_object (self->selection, "items-changed", G_CALLBACK (on_conversations_changed),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->client, "notify::conversations",
                           G_CALLBACK (on_client_conversations_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (natter_client_get_connection (self->client), "notify::state",
                           G_CALLBACK (update_online), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (natter_client_get_account (self->client), "notify::user",
                           G_CALLBACK (update_profiles), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (natter_client_get_account (self->client), "notify::active-profile",
                           G_CALLBACK (update_profiles), self, G_CONNECT_SWAPPED);

  self->call_signals = g_signal_group_new (NATTER_TYPE_CALL);
  g_signal_group_connect_swapped (self->call_signals, "notify", G_CALLBACK (update_call), self);

  natter_chat_view_set_client (self->chat_view, self->client);
  {
    g_autoptr (GObject) call_manager = NULL;

    g_object_get (self->client, "call-manager", &call_manager, NULL);
    natter_chat_view_set_calls_enabled (self->chat_view, call_manager != NULL);
  }
  setup_devices_menu (self);
  if (g_getenv ("NATTER_BENCH_TIMING") != NULL)
    self->bench_probes = natter_bench_probes_new (self);
  update_online (self);
  update_profiles (self);
  update_sidebar_page (self);
  on_leaflet_folded_changed (self);
}

static void
natter_window_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterWindow *self = NATTER_WINDOW (object);

  switch (prop_id) {
    case PROP_CLIENT:
      g_value_set_object (value, self->client);
      break;
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;
    case PROP_ONLINE:
      g_value_set_boolean (value, self->online);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_window_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  NatterWindow *self = NATTER_WINDOW (object);

  switch (prop_id) {
    case PROP_CLIENT:
      self->client = g_value_dup_object (value);
      break;
    case PROP_SETTINGS:
      self->settings = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_window_dispose (GObject *object)
{
  NatterWindow *self = NATTER_WINDOW (object);

  g_clear_handle_id (&self->ended_timeout_id, g_source_remove);
  if (self->call_signals != NULL)
    g_signal_group_set_target (self->call_signals, NULL);
  g_clear_object (&self->call_signals);
  g_clear_object (&self->call);
  g_clear_object (&self->devices);
  g_clear_object (&self->bench_probes);

  if (self->row_menu != NULL && gtk_widget_get_parent (self->row_menu) != NULL)
    gtk_widget_unparent (self->row_menu);
  g_clear_object (&self->row_menu);
  if (self->conversation_list_view != NULL)
    gtk_list_view_set_model (self->conversation_list_view, NULL);
  g_clear_object (&self->selection);
  g_clear_object (&self->filtered);
  g_clear_object (&self->filter);

  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_WINDOW);

  G_OBJECT_CLASS (natter_window_parent_class)->dispose (object);
}

static void
natter_window_finalize (GObject *object)
{
  NatterWindow *self = NATTER_WINDOW (object);

  g_clear_object (&self->client);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->filter_text, g_free);
  g_clear_pointer (&self->bound_rows, g_hash_table_unref);

  G_OBJECT_CLASS (natter_window_parent_class)->finalize (object);
}

static void
natter_window_class_init (NatterWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = natter_window_constructed;
  object_class->get_property = natter_window_get_property;
  object_class->set_property = natter_window_set_property;
  object_class->dispose = natter_window_dispose;
  object_class->finalize = natter_window_finalize;

  properties[PROP_CLIENT] =
    g_param_spec_object ("client", NULL, NULL, NATTER_TYPE_CLIENT,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, G_TYPE_SETTINGS,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterWindow:online:
   *
   * Whether the window shows the connection as online: connected, or
   * connecting at start-up. Presence is shown only while online.
   */
  properties[PROP_ONLINE] =
    g_param_spec_boolean ("online", NULL, NULL, TRUE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (NATTER_TYPE_CHAT_VIEW);
  g_type_ensure (NATTER_TYPE_CALL_OVERLAY);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/natter/Natter/natter-window.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, profiles_section);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, leaflet);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, sidebar_header_bar);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, sidebar_title);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, sidebar_title_stack);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, profile_button);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, profile_name_label);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, profile_type_label);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, search_entry);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, search_bar);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, sidebar_stack);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, conversation_list_view);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, return_to_call_revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, return_to_call_label);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, content_stack);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, chat_view);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, call_overlay);
  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_leaflet_folded_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_conversation_activated);
  gtk_widget_class_bind_template_callback (widget_class, on_conversation_setup);
  gtk_widget_class_bind_template_callback (widget_class, on_conversation_bind);
  gtk_widget_class_bind_template_callback (widget_class, on_conversation_unbind);
  gtk_widget_class_bind_template_callback (widget_class, on_chat_start_call);

  gtk_widget_class_install_action (widget_class, "win.new-conversation", NULL,
                                   on_new_conversation_action);
  gtk_widget_class_install_action (widget_class, "win.show-sidebar", NULL, on_show_sidebar_action);
  gtk_widget_class_install_action (widget_class, "win.show-call", NULL, on_show_call_action);
  gtk_widget_class_install_action (widget_class, "win.search", NULL, on_search_action);
  gtk_widget_class_install_action (widget_class, "win.toggle-mute", "x", on_toggle_mute_action);
  gtk_widget_class_install_action (widget_class, "win.conversation-menu", "x",
                                   on_conversation_menu_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, GDK_CONTROL_MASK,
                                       "win.new-conversation", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_f, GDK_CONTROL_MASK, "win.search",
                                       NULL);
}

static void
natter_window_init (NatterWindow *self)
{
  self->online = TRUE;
  self->bound_rows = g_hash_table_new (NULL, NULL);
  self->row_menu = g_object_ref_sink (gtk_popover_menu_new_from_model (NULL));
  gtk_popover_set_has_arrow (GTK_POPOVER (self->row_menu), FALSE);
  gtk_widget_set_halign (self->row_menu, GTK_ALIGN_START);
  gtk_widget_init_template (GTK_WIDGET (self));

  if (g_str_has_suffix (APPLICATION_ID, ".Devel"))
    gtk_widget_add_css_class (GTK_WIDGET (self), "devel");
}

/**
 * natter_window_new:
 * @application: the application
 * @client: the signed-in client the window shows
 * @settings: (nullable): where the window size is kept
 *
 * Returns: (transfer full): a new main window
 */
NatterWindow *
natter_window_new (GtkApplication *application, NatterClient *client, GSettings *settings)
{
  g_return_val_if_fail (GTK_IS_APPLICATION (application), NULL);
  g_return_val_if_fail (NATTER_IS_CLIENT (client), NULL);
  g_return_val_if_fail (settings == NULL || G_IS_SETTINGS (settings), NULL);

  return g_object_new (NATTER_TYPE_WINDOW, "application", application, "client", client, "settings",
                       settings, NULL);
}

/**
 * natter_window_get_client:
 * @self: a #NatterWindow
 *
 * Returns: (transfer none): the client the window shows
 */
NatterClient *
natter_window_get_client (NatterWindow *self)
{
  g_return_val_if_fail (NATTER_IS_WINDOW (self), NULL);

  return self->client;
}

/**
 * natter_window_get_chat_view:
 * @self: a #NatterWindow
 *
 * Returns: (transfer none): the chat pane
 */
NatterChatView *
natter_window_get_chat_view (NatterWindow *self)
{
  g_return_val_if_fail (NATTER_IS_WINDOW (self), NULL);

  return self->chat_view;
}

/**
 * natter_window_get_call_overlay:
 * @self: a #NatterWindow
 *
 * Returns: (transfer none): the call overlay
 */
NatterCallOverlay *
natter_window_get_call_overlay (NatterWindow *self)
{
  g_return_val_if_fail (NATTER_IS_WINDOW (self), NULL);

  return self->call_overlay;
}

/**
 * natter_window_open_conversation:
 * @self: a #NatterWindow
 * @conversation_id: the conversation to show
 *
 * Selects the conversation in the sidebar and shows it.
 *
 * Returns: %TRUE if the conversation is known
 */
gboolean
natter_window_open_conversation (NatterWindow *self, gint64 conversation_id)
{
  GListModel *model;
  guint n_items;

  g_return_val_if_fail (NATTER_IS_WINDOW (self), FALSE);

  natter_window_set_filter_text (self, NULL);
  gtk_search_bar_set_search_mode (self->search_bar, FALSE);

  model = G_LIST_MODEL (self->filtered);
  n_items = g_list_model_get_n_items (model);
  for (guint i = 0; i < n_items; i++) {
    g_autoptr (NatterConversationItem) item = g_list_model_get_item (model, i);

    if (natter_conversation_item_get_conversation_id (item) == conversation_id) {
      on_conversation_activated (self, i);
      if (self->bench_probes != NULL)
        natter_bench_probes_conversation_opened (self->bench_probes);
      return TRUE;
    }
  }

  return FALSE;
}

/**
 * natter_window_get_open_conversation_id:
 * @self: a #NatterWindow
 *
 * Returns: the conversation on screen, or 0
 */
gint64
natter_window_get_open_conversation_id (NatterWindow *self)
{
  NatterConversationItem *item;

  g_return_val_if_fail (NATTER_IS_WINDOW (self), 0);

  item = natter_chat_view_get_conversation (self->chat_view);
  if (item == NULL ||
      g_strcmp0 (gtk_stack_get_visible_child_name (self->content_stack), "chat") != 0)
    return 0;

  return natter_conversation_item_get_conversation_id (item);
}

/**
 * natter_window_set_call_active:
 * @self: a #NatterWindow
 * @active: whether a call is going on
 * @summary: (nullable): text for the "return to call" bar
 */
void
natter_window_set_call_active (NatterWindow *self, gboolean active, const char *summary)
{
  g_return_if_fail (NATTER_IS_WINDOW (self));

  self->call_active = !!active;
  gtk_label_set_label (self->return_to_call_label, summary ? summary : _ ("Return to Call"));

  if (!active && g_strcmp0 (gtk_stack_get_visible_child_name (self->content_stack), "call") == 0)
    gtk_stack_set_visible_child_name (
      self->content_stack, natter_chat_view_get_conversation (self->chat_view) ? "chat" : "empty");
  update_return_to_call (self);
}

/**
 * natter_window_show_call:
 * @self: a #NatterWindow
 *
 * Brings the call overlay to the front of the content pane.
 */
void
natter_window_show_call (NatterWindow *self)
{
  g_return_if_fail (NATTER_IS_WINDOW (self));

  gtk_stack_set_visible_child_name (self->content_stack, "call");
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
  gtk_widget_grab_focus (GTK_WIDGET (self->call_overlay));
  update_return_to_call (self);
}

/**
 * natter_window_add_toast:
 * @self: a #NatterWindow
 * @title: a short message for the user
 */
void
natter_window_add_toast (NatterWindow *self, const char *title)
{
  g_autofree char *escaped = NULL;

  g_return_if_fail (NATTER_IS_WINDOW (self));
  g_return_if_fail (title != NULL);

  /* A toast's title is markup; @title is text, often the server's. */
  escaped = g_markup_escape_text (title, -1);
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (escaped));
}

/**
 * natter_window_set_filter_text:
 * @self: a #NatterWindow
 * @text: (nullable): show only conversations whose name contains this
 */
void
natter_window_set_filter_text (NatterWindow *self, const char *text)
{
  g_autofree char *folded = NULL;

  g_return_if_fail (NATTER_IS_WINDOW (self));

  folded = text && *text ? g_utf8_casefold (text, -1) : NULL;
  if (g_strcmp0 (folded, self->filter_text) == 0)
    return;

  g_free (self->filter_text);
  self->filter_text = g_steal_pointer (&folded);
  if (text == NULL && *gtk_editable_get_text (GTK_EDITABLE (self->search_entry)) != '\0')
    gtk_editable_set_text (GTK_EDITABLE (self->search_entry), "");
  gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  update_sidebar_page (self);
}

/**
 * natter_window_get_call:
 * @self: a #NatterWindow
 *
 * Returns: (transfer none) (nullable): the call the overlay shows
 */
NatterCall *
natter_window_get_call (NatterWindow *self)
{
  g_return_val_if_fail (NATTER_IS_WINDOW (self), NULL);

  return self->call;
}

/**
 * natter_window_set_call:
 * @self: a #NatterWindow
 * @call: (nullable): the call to show in the overlay; its remote video is
 *   routed to the overlay. An ended call stays on screen for a few seconds.
 */
void
natter_window_set_call (NatterWindow *self, NatterCall *call)
{
  g_return_if_fail (NATTER_IS_WINDOW (self));
  g_return_if_fail (call == NULL || NATTER_IS_CALL (call));

  if (self->call == call)
    return;

  g_clear_handle_id (&self->ended_timeout_id, g_source_remove);
  g_set_object (&self->call, call);
  g_signal_group_set_target (self->call_signals, call);
  natter_call_overlay_set_call (self->call_overlay, call);

  if (call == NULL) {
    natter_window_set_call_active (self, FALSE, NULL);
    return;
  }

  update_call (self);
  natter_window_show_call (self);
}

/**
 * natter_window_get_online:
 * @self: a #NatterWindow
 *
 * Returns: whether the window shows the connection as online (connected,
 *   or connecting at start-up); presence shows only then
 */
gboolean
natter_window_get_online (NatterWindow *self)
{
  g_return_val_if_fail (NATTER_IS_WINDOW (self), FALSE);

  return self->online;
}
