/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-blocked-group"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-blocked-group.h"

/* Preferences: the profiles the active profile blocked, each with an
 * Unblock button. The list comes from the server when the client is set. */

enum { PROP_0, PROP_CLIENT, PROP_N_BLOCKED, PROP_LOADED, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterBlockedGroup {
  AdwPreferencesGroup parent_instance;

  NatterClient *client;
  GCancellable *cancellable;
  GPtrArray *rows; /* GtkWidget, the rows added to the group */
  guint n_blocked;
  gboolean loaded;
};

G_DEFINE_FINAL_TYPE (NatterBlockedGroup, natter_blocked_group, ADW_TYPE_PREFERENCES_GROUP)

static void refresh (NatterBlockedGroup *self);

static void
clear_rows (NatterBlockedGroup *self)
{
  for (guint i = 0; i < self->rows->len; i++)
    adw_preferences_group_remove (ADW_PREFERENCES_GROUP (self), g_ptr_array_index (self->rows, i));
  g_ptr_array_set_size (self->rows, 0);
}

static void
on_unblocked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterBlockedGroup) self = user_data;
  g_autoptr (GError) error = NULL;

  if (!natter_client_set_blocked_finish (NATTER_CLIENT (source), result, &error)) {
    g_warning ("Cannot unblock: %s", error->message);
    return;
  }
  refresh (self);
}

static void
on_unblock_clicked (GtkButton *button, NatterBlockedGroup *self)
{
  const NatterProfile *profile = g_object_get_data (G_OBJECT (button), "natter-profile");

  if (self->client == NULL || profile == NULL)
    return;

  gtk_widget_set_sensitive (GTK_WIDGET (button), FALSE);
  natter_client_set_blocked_async (self->client, profile, FALSE, self->cancellable, on_unblocked,
                                   g_object_ref (self));
}

static GtkWidget *
row_for_profile (NatterBlockedGroup *self, const NatterProfile *profile)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *button = gtk_button_new_with_mnemonic (_ ("_Unblock"));
  g_autofree char *reference =
    g_strdup_printf ("%s:%" G_GINT64_FORMAT, profile->profile_type, profile->profile_id);

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row),
                                 profile->display_name != NULL ? profile->display_name : reference);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), reference);
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  g_object_set_data_full (G_OBJECT (button), "natter-profile", natter_profile_copy (profile),
                          (GDestroyNotify) natter_profile_free);
  g_signal_connect_object (button, "clicked", G_CALLBACK (on_unblock_clicked), self, 0);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);

  return row;
}

static void
set_state (NatterBlockedGroup *self, guint n_blocked, gboolean loaded)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (self->n_blocked != n_blocked) {
    self->n_blocked = n_blocked;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_BLOCKED]);
  }
  if (self->loaded != loaded) {
    self->loaded = loaded;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADED]);
  }
  g_object_thaw_notify (G_OBJECT (self));
}

static void
on_list_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterBlockedGroup) self = user_data;
  g_autoptr (GPtrArray) blocked = NULL;
  g_autoptr (GError) error = NULL;

  blocked = natter_client_list_blocked_finish (NATTER_CLIENT (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  clear_rows (self);
  if (blocked == NULL) {
    g_info ("Cannot list the blocked profiles: %s", error->message);
    set_state (self, 0, FALSE);
    return;
  }

  if (blocked->len == 0) {
    GtkWidget *row = adw_action_row_new ();

    adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _ ("No one is blocked"));
    gtk_widget_add_css_class (row, "dim-label");
    adw_preferences_group_add (ADW_PREFERENCES_GROUP (self), row);
    g_ptr_array_add (self->rows, row);
  }
  for (guint i = 0; i < blocked->len; i++) {
    GtkWidget *row = row_for_profile (self, g_ptr_array_index (blocked, i));

    adw_preferences_group_add (ADW_PREFERENCES_GROUP (self), row);
    g_ptr_array_add (self->rows, row);
  }
  set_state (self, blocked->len, TRUE);
}

static void
refresh (NatterBlockedGroup *self)
{
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);

  if (self->client == NULL) {
    clear_rows (self);
    set_state (self, 0, FALSE);
    return;
  }

  self->cancellable = g_cancellable_new ();
  natter_client_list_blocked_async (self->client, self->cancellable, on_list_answer,
                                    g_object_ref (self));
}

static void
natter_blocked_group_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterBlockedGroup *self = NATTER_BLOCKED_GROUP (object);

  switch (prop_id) {
    case PROP_CLIENT:
      g_value_set_object (value, self->client);
      break;
    case PROP_N_BLOCKED:
      g_value_set_uint (value, self->n_blocked);
      break;
    case PROP_LOADED:
      g_value_set_boolean (value, self->loaded);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_blocked_group_set_property (GObject *object,
                                   guint prop_id,
                                   const GValue *value,
                                   GParamSpec *pspec)
{
  NatterBlockedGroup *self = NATTER_BLOCKED_GROUP (object);

  switch (prop_id) {
    case PROP_CLIENT:
      natter_blocked_group_set_client (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_blocked_group_dispose (GObject *object)
{
  NatterBlockedGroup *self = NATTER_BLOCKED_GROUP (object);

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->client);
  g_clear_pointer (&self->rows, g_ptr_array_unref);

  G_OBJECT_CLASS (natter_blocked_group_parent_class)->dispose (object);
}

static void
natter_blocked_group_class_init (NatterBlockedGroupClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_blocked_group_get_property;
  object_class->set_property = natter_blocked_group_set_property;
  object_class->dispose = natter_blocked_group_dispose;

  properties[PROP_CLIENT] =
    g_param_spec_object ("client", NULL, NULL, NATTER_TYPE_CLIENT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_BLOCKED] = g_param_spec_uint ("n-blocked", NULL, NULL, 0, G_MAXUINT, 0,
                                                  G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_LOADED] =
    g_param_spec_boolean ("loaded", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_blocked_group_init (NatterBlockedGroup *self)
{
  self->rows = g_ptr_array_new ();
  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (self), _ ("Blocked"));
  adw_preferences_group_set_description (
    ADW_PREFERENCES_GROUP (self),
    _ ("Blocked people cannot write to you, call you or see when you are online"));
}

GtkWidget *
natter_blocked_group_new (void)
{
  return g_object_new (NATTER_TYPE_BLOCKED_GROUP, NULL);
}

NatterClient *
natter_blocked_group_get_client (NatterBlockedGroup *self)
{
  g_return_val_if_fail (NATTER_IS_BLOCKED_GROUP (self), NULL);

  return self->client;
}

/**
 * natter_blocked_group_set_client:
 * @self: a #NatterBlockedGroup
 * @client: (nullable): whose blocks to show
 *
 * Shows @client's blocked profiles, fetched from the server now.
 */
void
natter_blocked_group_set_client (NatterBlockedGroup *self, NatterClient *client)
{
  g_return_if_fail (NATTER_IS_BLOCKED_GROUP (self));
  g_return_if_fail (client == NULL || NATTER_IS_CLIENT (client));

  if (g_set_object (&self->client, client))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLIENT]);
  refresh (self);
}

guint
natter_blocked_group_get_n_blocked (NatterBlockedGroup *self)
{
  g_return_val_if_fail (NATTER_IS_BLOCKED_GROUP (self), 0);

  return self->n_blocked;
}

gboolean
natter_blocked_group_get_loaded (NatterBlockedGroup *self)
{
  g_return_val_if_fail (NATTER_IS_BLOCKED_GROUP (self), FALSE);

  return self->loaded;
}
