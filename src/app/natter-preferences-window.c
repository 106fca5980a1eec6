/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-preferences-window"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-call-manager.h"
#include "natter-preferences-window.h"

#include "natter-blocked-group.h"

/* Preferences: the call devices (the lists of the core's NatterDevices,
 * which follow hot-plugging), ringtone, notifications, background and autostart,
 * and signing out. Everything is stored in GSettings; the application reacts
 * to the keys. */

enum { PROP_0, PROP_SETTINGS, N_PROPS };

static GParamSpec *properties[N_PROPS];

typedef struct {
  GListModel *(*get_list) (NatterDevices *devices);
  const char *settings_key;
} DeviceKind;

static const DeviceKind device_kinds[] = {
  { natter_devices_get_microphones, "microphone" },
  { natter_devices_get_cameras, "camera" },
  { natter_devices_get_speakers, "speaker" },
};

struct _NatterPreferencesWindow {
  AdwPreferencesWindow parent_instance;

  GSettings *settings;
  NatterDevices *devices;
  gboolean updating;

  AdwComboRow *microphone_row;
  AdwComboRow *camera_row;
  AdwComboRow *speaker_row;
  GtkWidget *ringtone_switch;
  GtkWidget *notifications_switch;
  GtkWidget *do_not_disturb_switch;
  GtkWidget *background_switch;
  GtkWidget *autostart_switch;
  AdwActionRow *account_row;
  GtkButton *sign_out_button;
  NatterBlockedGroup *blocked_group;
  GtkButton *sign_out_everywhere_button;
  AdwActionRow *token_file_row;
};

G_DEFINE_FINAL_TYPE (NatterPreferencesWindow,
                     natter_preferences_window,
                     ADW_TYPE_PREFERENCES_WINDOW)

static AdwComboRow *
row_for_kind (NatterPreferencesWindow *self, guint kind)
{
  AdwComboRow *rows[] = { self->microphone_row, self->camera_row, self->speaker_row };

  return rows[kind];
}

static void
update_device_row (NatterPreferencesWindow *self, guint kind)
{
  AdwComboRow *row = row_for_kind (self, kind);
  g_autoptr (GtkStringList) names = gtk_string_list_new (NULL);
  g_autofree char *chosen = g_settings_get_string (self->settings, device_kinds[kind].settings_key);
  GListModel *devices = self->devices ? device_kinds[kind].get_list (self->devices) : NULL;
  guint n_devices = devices ? g_list_model_get_n_items (devices) : 0;
  guint selected = 0;
  guint n = 1;

  gtk_string_list_append (names, kind == 1 ? _ ("First Camera Found") : _ ("System Default"));

  for (guint i = 0; i < n_devices; i++) {
    g_autoptr (NatterDevice) device = g_list_model_get_item (devices, i);
    const char *name = natter_device_get_display_name (device);

    gtk_string_list_append (names, name);
    if (g_strcmp0 (name, chosen) == 0)
      selected = n;
    n++;
  }

  /* Keep a chosen device that is unplugged now, so the choice survives. */
  if (selected == 0 && *chosen != '\0') {
    g_autofree char *missing = g_strdup_printf (_ ("%s (not connected)"), chosen);

    gtk_string_list_append (names, missing);
    selected = n;
  }

  self->updating = TRUE;
  adw_combo_row_set_model (row, G_LIST_MODEL (names));
  adw_combo_row_set_selected (row, selected);
  self->updating = FALSE;
}

static void
update_device_rows (NatterPreferencesWindow *self)
{
  for (guint kind = 0; kind < G_N_ELEMENTS (device_kinds); kind++)
    update_device_row (self, kind);
}

static void
on_device_row_selected (NatterPreferencesWindow *self, GParamSpec *pspec, AdwComboRow *row)
{
  guint selected = adw_combo_row_get_selected (row);
  GListModel *model = adw_combo_row_get_model (row);
  g_autofree char *current = NULL;
  const char *name = "";

  if (self->updating || model == NULL)
    return;

  for (guint kind = 0; kind < G_N_ELEMENTS (device_kinds); kind++) {
    if (row_for_kind (self, kind) != row)
      continue;

    current = g_settings_get_string (self->settings, device_kinds[kind].settings_key);
    if (selected > 0 && selected != GTK_INVALID_LIST_POSITION)
      name = gtk_string_list_get_string (GTK_STRING_LIST (model), selected);
    /* The "not connected" entry stands for the saved choice itself. */
    if (selected > 0 && *current != '\0' && g_str_has_prefix (name, current))
      return;

    g_settings_set_string (self->settings, device_kinds[kind].settings_key, name);
  }
}

static void
natter_preferences_window_constructed (GObject *object)
{
  NatterPreferencesWindow *self = NATTER_PREFERENCES_WINDOW (object);

  G_OBJECT_CLASS (natter_preferences_window_parent_class)->constructed (object);

  g_assert (self->settings != NULL);

  g_settings_bind (self->settings, "ringtone-enabled", self->ringtone_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "notifications-enabled", self->notifications_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "do-not-disturb", self->do_not_disturb_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "run-in-background", self->background_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "start-at-login", self->autostart_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);

  update_device_rows (self);

  for (guint kind = 0; kind < G_N_ELEMENTS (device_kinds); kind++)
    g_signal_connect_object (row_for_kind (self, kind), "notify::selected",
                             G_CALLBACK (on_device_row_selected), self, G_CONNECT_SWAPPED);
}

static void
natter_preferences_window_get_property (GObject *object,
                                        guint prop_id,
                                        GValue *value,
                                        GParamSpec *pspec)
{
  NatterPreferencesWindow *self = NATTER_PREFERENCES_WINDOW (object);

  switch (prop_id) {
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_preferences_window_set_property (GObject *object,
                                        guint prop_id,
                                        const GValue *value,
                                        GParamSpec *pspec)
{
  NatterPreferencesWindow *self = NATTER_PREFERENCES_WINDOW (object);

  switch (prop_id) {
    case PROP_SETTINGS:
      self->settings = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_preferences_window_dispose (GObject *object)
{
  NatterPreferencesWindow *self = NATTER_PREFERENCES_WINDOW (object);

  for (guint kind = 0; self->devices != NULL && kind < G_N_ELEMENTS (device_kinds); kind++)
    g_signal_handlers_disconnect_by_data (device_kinds[kind].get_list (self->devices), self);
  g_clear_object (&self->devices);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (natter_preferences_window_parent_class)->dispose (object);
}

static void
natter_preferences_window_class_init (NatterPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  g_type_ensure (NATTER_TYPE_BLOCKED_GROUP);

  object_class->constructed = natter_preferences_window_constructed;
  object_class->get_property = natter_preferences_window_get_property;
  object_class->set_property = natter_preferences_window_set_property;
  object_class->dispose = natter_preferences_window_dispose;

  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, G_TYPE_SETTINGS,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/natter/Natter/natter-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, microphone_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, camera_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, speaker_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, ringtone_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow,
                                        notifications_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow,
                                        do_not_disturb_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, background_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, autostart_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, account_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, sign_out_button);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, blocked_group);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow,
                                        sign_out_everywhere_button);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, token_file_row);
}

static void
natter_preferences_window_init (NatterPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * natter_preferences_window_new:
 * @parent: (nullable): the window to show over
 * @settings: the application's settings
 * @account_description: (nullable): who is signed in, for the account row
 *
 * Returns: (transfer full): a new preferences window
 */
NatterPreferencesWindow *
natter_preferences_window_new (GtkWindow *parent,
                               GSettings *settings,
                               const char *account_description)
{
  NatterPreferencesWindow *self;

  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  self = g_object_new (NATTER_TYPE_PREFERENCES_WINDOW, "transient-for", parent, "settings",
                       settings, NULL);
  adw_action_row_set_subtitle (self->account_row, account_description ? account_description : "");

  return self;
}

/**
 * natter_preferences_window_get_settings:
 * @self: a #NatterPreferencesWindow
 *
 * Returns: (transfer none): the settings the window edits
 */
GSettings *
natter_preferences_window_get_settings (NatterPreferencesWindow *self)
{
  g_return_val_if_fail (NATTER_IS_PREFERENCES_WINDOW (self), NULL);

  return self->settings;
}

/**
 * natter_preferences_window_set_client:
 * @self: a #NatterPreferencesWindow
 * @client: (nullable): the signed-in client, for the blocked profiles and
 *   where its sign-in is kept
 */
void
natter_preferences_window_set_client (NatterPreferencesWindow *self, NatterClient *client)
{
  g_autofree char *token_file = NULL;

  g_return_if_fail (NATTER_IS_PREFERENCES_WINDOW (self));
  g_return_if_fail (client == NULL || NATTER_IS_CLIENT (client));

  natter_blocked_group_set_client (self->blocked_group, client);

  /* The device lists the calls use, kept by the client's call manager;
   * their monitor starts when a call or this page needs them. */
  if (client != NULL) {
    g_autoptr (NatterCallManager) call_manager = NULL;
    NatterDevices *devices;

    g_object_get (client, "call-manager", &call_manager, NULL);
    devices = call_manager ? natter_call_manager_get_devices (call_manager) : NULL;
    if (devices != NULL)
      natter_devices_ensure_started (devices);
    natter_preferences_window_set_devices (self, devices);
  } else {
    natter_preferences_window_set_devices (self, NULL);
  }

  /* Without a keyring the token sits in a file: the user should know that
   * whoever reads it can act as them. */
  if (client != NULL)
    token_file = natter_account_dup_token_file (natter_client_get_account (client));
  gtk_widget_set_visible (GTK_WIDGET (self->token_file_row), token_file != NULL);
  if (token_file != NULL) {
    g_autofree char *subtitle = g_strdup_printf (
      _ ("No keyring was available, so your sign-in is stored in %s, readable only by you. "
         "Anyone who can read that file can act as you."),
      token_file);
    g_autofree char *escaped = g_markup_escape_text (subtitle, -1);

    adw_action_row_set_subtitle (self->token_file_row, escaped);
  }
}

/**
 * natter_preferences_window_set_devices:
 * @self: a #NatterPreferencesWindow
 * @devices: (nullable): the microphones, cameras and speakers to offer;
 *   the rows follow their lists
 */
void
natter_preferences_window_set_devices (NatterPreferencesWindow *self, NatterDevices *devices)
{
  g_return_if_fail (NATTER_IS_PREFERENCES_WINDOW (self));
  g_return_if_fail (devices == NULL || NATTER_IS_DEVICES (devices));

  if (self->devices == devices)
    return;

  for (guint kind = 0; self->devices != NULL && kind < G_N_ELEMENTS (device_kinds); kind++)
    g_signal_handlers_disconnect_by_data (device_kinds[kind].get_list (self->devices), self);
  g_set_object (&self->devices, devices);
  for (guint kind = 0; devices != NULL && kind < G_N_ELEMENTS (device_kinds); kind++)
    g_signal_connect_object (device_kinds[kind].get_list (devices), "items-changed",
                             G_CALLBACK (update_device_rows), self, G_CONNECT_SWAPPED);

  if (self->settings != NULL)
    update_device_rows (self);
}

/**
 * natter_preferences_window_get_devices:
 * @self: a #NatterPreferencesWindow
 *
 * Returns: (transfer none) (nullable): the devices offered
 */
NatterDevices *
natter_preferences_window_get_devices (NatterPreferencesWindow *self)
{
  g_return_val_if_fail (NATTER_IS_PREFERENCES_WINDOW (self), NULL);

  return self->devices;
}
