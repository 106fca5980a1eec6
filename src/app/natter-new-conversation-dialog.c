/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-new-conversation-dialog"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-format.h"
#include "natter-new-conversation-dialog.h"

/* Searches the server's directory (GET /api/profiles?q=) as the user types
 * and reports the chosen person with "profile-chosen". */

#define SEARCH_LIMIT 20

enum { PROP_0, PROP_ACCOUNT, N_PROPS };

static GParamSpec *properties[N_PROPS];

enum { PROFILE_CHOSEN, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterNewConversationDialog {
  AdwWindow parent_instance;

  NatterAccount *account;
  GCancellable *search_cancellable;

  GtkSearchEntry *search_entry;
  GtkStack *stack;
  GtkListBox *results_list;
  AdwStatusPage *no_results_page;
};

G_DEFINE_FINAL_TYPE (NatterNewConversationDialog, natter_new_conversation_dialog, ADW_TYPE_WINDOW)

static void
on_search_finished (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterNewConversationDialog) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) profiles = NULL;

  profiles = natter_account_search_profiles_finish (NATTER_ACCOUNT (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (profiles == NULL) {
    adw_status_page_set_title (self->no_results_page, _ ("Search Failed"));
    adw_status_page_set_description (self->no_results_page, error ? error->message : NULL);
    gtk_stack_set_visible_child_name (self->stack, "no-results");
    return;
  }

  natter_new_conversation_dialog_set_results (self, profiles);
}

static void
on_search_changed (NatterNewConversationDialog *self)
{
  natter_new_conversation_dialog_search (self,
                                         gtk_editable_get_text (GTK_EDITABLE (self->search_entry)));
}

static void
on_row_activated (NatterNewConversationDialog *self, GtkListBoxRow *row)
{
  NatterProfile *profile = g_object_get_data (G_OBJECT (row), "natter-profile");

  if (profile != NULL)
    g_signal_emit (self, signals[PROFILE_CHOSEN], 0, profile);
}

static void
on_search_activate (NatterNewConversationDialog *self)
{
  GtkListBoxRow *first = gtk_list_box_get_row_at_index (self->results_list, 0);

  if (first != NULL && gtk_widget_get_visible (GTK_WIDGET (self->results_list)))
    on_row_activated (self, first);
}

static void
natter_new_conversation_dialog_get_property (GObject *object,
                                             guint prop_id,
                                             GValue *value,
                                             GParamSpec *pspec)
{
  NatterNewConversationDialog *self = NATTER_NEW_CONVERSATION_DIALOG (object);

  switch (prop_id) {
    case PROP_ACCOUNT:
      g_value_set_object (value, self->account);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_new_conversation_dialog_set_property (GObject *object,
                                             guint prop_id,
                                             const GValue *value,
                                             GParamSpec *pspec)
{
  NatterNewConversationDialog *self = NATTER_NEW_CONVERSATION_DIALOG (object);

  switch (prop_id) {
    case PROP_ACCOUNT:
      self->account = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_new_conversation_dialog_dispose (GObject *object)
{
  NatterNewConversationDialog *self = NATTER_NEW_CONVERSATION_DIALOG (object);

  g_cancellable_cancel (self->search_cancellable);
  g_clear_object (&self->search_cancellable);
  g_clear_object (&self->account);

  G_OBJECT_CLASS (natter_new_conversation_dialog_parent_class)->dispose (object);
}

static void
natter_new_conversation_dialog_class_init (NatterNewConversationDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_new_conversation_dialog_get_property;
  object_class->set_property = natter_new_conversation_dialog_set_property;
  object_class->dispose = natter_new_conversation_dialog_dispose;

  properties[PROP_ACCOUNT] =
    g_param_spec_object ("account", NULL, NULL, NATTER_TYPE_ACCOUNT,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterNewConversationDialog::profile-chosen:
   * @profile: the person to talk to
   */
  signals[PROFILE_CHOSEN] =
    g_signal_new ("profile-chosen", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, NATTER_TYPE_PROFILE | G_SIGNAL_TYPE_STATIC_SCOPE);

  gtk_widget_class_set_template_from_resource (
    widget_class, "/org/natter/Natter/natter-new-conversation-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterNewConversationDialog, search_entry);
  gtk_widget_class_bind_template_child (widget_class, NatterNewConversationDialog, stack);
  gtk_widget_class_bind_template_child (widget_class, NatterNewConversationDialog, results_list);
  gtk_widget_class_bind_template_child (widget_class, NatterNewConversationDialog, no_results_page);
  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_search_activate);
  gtk_widget_class_bind_template_callback (widget_class, on_row_activated);
}

static void
natter_new_conversation_dialog_init (NatterNewConversationDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_stack_set_visible_child_name (self->stack, "hint");
}

/**
 * natter_new_conversation_dialog_new:
 * @parent: the main window
 * @account: (nullable): the signed-in account, used for the search
 *
 * Returns: (transfer full): a new dialog
 */
NatterNewConversationDialog *
natter_new_conversation_dialog_new (GtkWindow *parent, NatterAccount *account)
{
  g_return_val_if_fail (GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (account == NULL || NATTER_IS_ACCOUNT (account), NULL);

  return g_object_new (NATTER_TYPE_NEW_CONVERSATION_DIALOG, "transient-for", parent, "account",
                       account, NULL);
}

/**
 * natter_new_conversation_dialog_get_account:
 * @self: a #NatterNewConversationDialog
 *
 * Returns: (transfer none) (nullable): the account searches go through
 */
NatterAccount *
natter_new_conversation_dialog_get_account (NatterNewConversationDialog *self)
{
  g_return_val_if_fail (NATTER_IS_NEW_CONVERSATION_DIALOG (self), NULL);

  return self->account;
}

/**
 * natter_new_conversation_dialog_set_results:
 * @self: a #NatterNewConversationDialog
 * @profiles: (element-type NatterProfile): what the directory found; the
 *   user's own profiles are left out
 */
void
natter_new_conversation_dialog_set_results (NatterNewConversationDialog *self, GPtrArray *profiles)
{
  const NatterUser *user = NULL;
  guint shown = 0;
  GtkWidget *child;

  g_return_if_fail (NATTER_IS_NEW_CONVERSATION_DIALOG (self));
  g_return_if_fail (profiles != NULL);

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->results_list))) != NULL)
    gtk_list_box_remove (self->results_list, child);

  if (self->account != NULL)
    user = natter_account_get_user (self->account);

  for (guint i = 0; i < profiles->len; i++) {
    const NatterProfile *profile = g_ptr_array_index (profiles, i);
    const char *name = profile->display_name ? profile->display_name : _ ("Unnamed");
    g_autofree char *escaped = g_markup_escape_text (name, -1);
    g_autofree char *type =
      g_markup_escape_text (natter_profile_type_label (profile->profile_type), -1);
    gboolean own = FALSE;
    GtkWidget *row;
    GtkWidget *avatar;

    for (guint j = 0; user != NULL && user->profiles != NULL && j < user->profiles->len; j++)
      own = own || natter_profile_equal (profile, g_ptr_array_index (user->profiles, j));
    if (own)
      continue;

    row = adw_action_row_new ();
    adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), escaped);
    adw_action_row_set_subtitle (ADW_ACTION_ROW (row), type);
    gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
    avatar = adw_avatar_new (36, name, TRUE);
    adw_action_row_add_prefix (ADW_ACTION_ROW (row), avatar);
    adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                               gtk_image_new_from_icon_name ("go-next-symbolic"));
    g_object_set_data_full (G_OBJECT (row), "natter-profile", natter_profile_copy (profile),
                            (GDestroyNotify) natter_profile_free);
    gtk_list_box_append (self->results_list, row);
    shown++;
  }

  adw_status_page_set_title (self->no_results_page, _ ("Nobody Found"));
  adw_status_page_set_description (self->no_results_page, _ ("Try another name"));
  gtk_stack_set_visible_child_name (self->stack, shown > 0 ? "results" : "no-results");
}

/**
 * natter_new_conversation_dialog_search:
 * @self: a #NatterNewConversationDialog
 * @query: the name to look for
 *
 * Starts a directory search, replacing the one under way.
 */
void
natter_new_conversation_dialog_search (NatterNewConversationDialog *self, const char *query)
{
  g_autofree char *stripped = NULL;

  g_return_if_fail (NATTER_IS_NEW_CONVERSATION_DIALOG (self));
  g_return_if_fail (query != NULL);

  g_cancellable_cancel (self->search_cancellable);
  g_clear_object (&self->search_cancellable);

  stripped = g_strstrip (g_strdup (query));
  if (*stripped == '\0' || self->account == NULL) {
    gtk_stack_set_visible_child_name (self->stack, "hint");
    return;
  }

  if (g_strcmp0 (gtk_editable_get_text (GTK_EDITABLE (self->search_entry)), query) != 0)
    gtk_editable_set_text (GTK_EDITABLE (self->search_entry), query);

  self->search_cancellable = g_cancellable_new ();
  gtk_stack_set_visible_child_name (self->stack, "searching");
  natter_account_search_profiles_async (self->account, stripped, SEARCH_LIMIT,
                                        self->search_cancellable, on_search_finished,
                                        g_object_ref (self));
}
