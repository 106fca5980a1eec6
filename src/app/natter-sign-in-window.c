/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-sign-in-window"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-account.h"
#include "natter-sign-in-window.h"

/* The form the user fills in before anything else: it collects the server,
 * the credentials and, for a new account, a name and a profile type, then
 * emits "submit". The application does the network work and reports back
 * with set_busy() and show_error(). */

enum { PROP_0, PROP_CREATING_ACCOUNT, PROP_BUSY, N_PROPS };

static GParamSpec *properties[N_PROPS];

enum { SUBMIT, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterSignInWindow {
  AdwApplicationWindow parent_instance;

  gboolean creating_account;
  gboolean busy;
  GtkWidget *focus_before_busy;

  AdwEntryRow *server_row;
  AdwEntryRow *display_name_row;
  AdwEntryRow *email_row;
  AdwEntryRow *password_row;
  AdwComboRow *profile_type_row;
  GtkRevealer *cleartext_revealer;
  GtkRevealer *error_revealer;
  GtkLabel *error_label;
  GtkLabel *title_label;
  GtkLabel *subtitle_label;
  GtkLabel *submit_label;
  GtkStack *submit_stack;
  GtkButton *mode_button;
};

G_DEFINE_FINAL_TYPE (NatterSignInWindow, natter_sign_in_window, ADW_TYPE_APPLICATION_WINDOW)

/* The wire names of the types offered in the combo row, in its order. */
static const char *const profile_types[] = { "student", "tutor", "parent" };

static gboolean
is_blank (GtkEditable *editable)
{
  const char *text = gtk_editable_get_text (editable);

  while (*text != '\0' && g_ascii_isspace (*text))
    text++;

  return *text == '\0';
}

static gboolean
form_is_complete (NatterSignInWindow *self)
{
  if (is_blank (GTK_EDITABLE (self->server_row)) || is_blank (GTK_EDITABLE (self->email_row)) ||
      *gtk_editable_get_text (GTK_EDITABLE (self->password_row)) == '\0')
    return FALSE;

  if (self->creating_account && is_blank (GTK_EDITABLE (self->display_name_row)))
    return FALSE;

  return TRUE;
}

static void
update_actions (NatterSignInWindow *self)
{
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "sign-in.submit",
                                 !self->busy && form_is_complete (self));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "sign-in.toggle-mode", !self->busy);
}

static void
clear_row_errors (NatterSignInWindow *self)
{
  gtk_widget_remove_css_class (GTK_WIDGET (self->server_row), "error");
  gtk_widget_remove_css_class (GTK_WIDGET (self->email_row), "error");
  gtk_widget_remove_css_class (GTK_WIDGET (self->password_row), "error");
}

/* The app reads an address without a scheme as https://, so only an
 * explicit http:// to another machine is warned about. */
static void
update_cleartext_warning (NatterSignInWindow *self)
{
  const char *url = gtk_editable_get_text (GTK_EDITABLE (self->server_row));
  g_autofree char *stripped = g_strstrip (g_strdup (url));

  gtk_revealer_set_reveal_child (self->cleartext_revealer,
                                 natter_server_url_is_cleartext (stripped));
}

static void
on_entry_changed (NatterSignInWindow *self)
{
  update_cleartext_warning (self);
  update_actions (self);
}

static void
on_entry_activated (NatterSignInWindow *self)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "sign-in.submit", NULL);
}

static void
on_submit_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterSignInWindow *self = NATTER_SIGN_IN_WINDOW (widget);

  if (self->busy || !form_is_complete (self))
    return;

  natter_sign_in_window_set_error_message (self, NULL);
  g_signal_emit (self, signals[SUBMIT], 0);
}

static void
on_toggle_mode_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterSignInWindow *self = NATTER_SIGN_IN_WINDOW (widget);

  natter_sign_in_window_set_creating_account (self, !self->creating_account);
}

static void
natter_sign_in_window_get_property (GObject *object,
                                    guint prop_id,
                                    GValue *value,
                                    GParamSpec *pspec)
{
  NatterSignInWindow *self = NATTER_SIGN_IN_WINDOW (object);

  switch (prop_id) {
    case PROP_CREATING_ACCOUNT:
      g_value_set_boolean (value, self->creating_account);
      break;
    case PROP_BUSY:
      g_value_set_boolean (value, self->busy);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_sign_in_window_set_property (GObject *object,
                                    guint prop_id,
                                    const GValue *value,
                                    GParamSpec *pspec)
{
  NatterSignInWindow *self = NATTER_SIGN_IN_WINDOW (object);

  switch (prop_id) {
    case PROP_CREATING_ACCOUNT:
      natter_sign_in_window_set_creating_account (self, g_value_get_boolean (value));
      break;
    case PROP_BUSY:
      natter_sign_in_window_set_busy (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_sign_in_window_dispose (GObject *object)
{
  NatterSignInWindow *self = NATTER_SIGN_IN_WINDOW (object);

  g_clear_weak_pointer (&self->focus_before_busy);

  G_OBJECT_CLASS (natter_sign_in_window_parent_class)->dispose (object);
}

static void
natter_sign_in_window_class_init (NatterSignInWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_sign_in_window_get_property;
  object_class->set_property = natter_sign_in_window_set_property;
  object_class->dispose = natter_sign_in_window_dispose;

  properties[PROP_CREATING_ACCOUNT] =
    g_param_spec_boolean ("creating-account", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BUSY] =
    g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterSignInWindow::submit:
   *
   * The user asked to sign in, or to create the account (see
   * #NatterSignInWindow:creating-account), with a complete form.
   */
  signals[SUBMIT] = g_signal_new ("submit", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                  NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/natter/Natter/natter-sign-in-window.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, server_row);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, cleartext_revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, display_name_row);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, email_row);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, password_row);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, profile_type_row);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, error_revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, error_label);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, title_label);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, subtitle_label);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, submit_label);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, submit_stack);
  gtk_widget_class_bind_template_child (widget_class, NatterSignInWindow, mode_button);
  gtk_widget_class_bind_template_callback (widget_class, on_entry_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_entry_activated);

  gtk_widget_class_install_action (widget_class, "sign-in.submit", NULL, on_submit_action);
  gtk_widget_class_install_action (widget_class, "sign-in.toggle-mode", NULL,
                                   on_toggle_mode_action);
}

static void
natter_sign_in_window_init (NatterSignInWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  update_actions (self);
}

/**
 * natter_sign_in_window_new:
 * @application: the application
 *
 * Returns: (transfer full): a new sign-in window
 */
NatterSignInWindow *
natter_sign_in_window_new (GtkApplication *application)
{
  g_return_val_if_fail (GTK_IS_APPLICATION (application), NULL);

  return g_object_new (NATTER_TYPE_SIGN_IN_WINDOW, "application", application, NULL);
}

const char *
natter_sign_in_window_get_server_url (NatterSignInWindow *self)
{
  g_return_val_if_fail (NATTER_IS_SIGN_IN_WINDOW (self), NULL);

  return gtk_editable_get_text (GTK_EDITABLE (self->server_row));
}

/**
 * natter_sign_in_window_set_server_url:
 * @self: a #NatterSignInWindow
 * @server_url: (nullable): the address to offer
 */
void
natter_sign_in_window_set_server_url (NatterSignInWindow *self, const char *server_url)
{
  g_return_if_fail (NATTER_IS_SIGN_IN_WINDOW (self));

  gtk_editable_set_text (GTK_EDITABLE (self->server_row), server_url ? server_url : "");
}

const char *
natter_sign_in_window_get_email (NatterSignInWindow *self)
{
  g_return_val_if_fail (NATTER_IS_SIGN_IN_WINDOW (self), NULL);

  return gtk_editable_get_text (GTK_EDITABLE (self->email_row));
}

/**
 * natter_sign_in_window_set_email:
 * @self: a #NatterSignInWindow
 * @email: (nullable): the email address to fill in
 */
void
natter_sign_in_window_set_email (NatterSignInWindow *self, const char *email)
{
  g_return_if_fail (NATTER_IS_SIGN_IN_WINDOW (self));

  gtk_editable_set_text (GTK_EDITABLE (self->email_row), email ? email : "");
}

const char *
natter_sign_in_window_get_password (NatterSignInWindow *self)
{
  g_return_val_if_fail (NATTER_IS_SIGN_IN_WINDOW (self), NULL);

  return gtk_editable_get_text (GTK_EDITABLE (self->password_row));
}

const char *
natter_sign_in_window_get_display_name (NatterSignInWindow *self)
{
  g_return_val_if_fail (NATTER_IS_SIGN_IN_WINDOW (self), NULL);

  return gtk_editable_get_text (GTK_EDITABLE (self->display_name_row));
}

/**
 * natter_sign_in_window_get_profile_type:
 * @self: a #NatterSignInWindow
 *
 * Returns: the wire name of the profile type chosen for a new account
 */
const char *
natter_sign_in_window_get_profile_type (NatterSignInWindow *self)
{
  guint selected;

  g_return_val_if_fail (NATTER_IS_SIGN_IN_WINDOW (self), NULL);

  selected = adw_combo_row_get_selected (self->profile_type_row);
  if (selected >= G_N_ELEMENTS (profile_types))
    selected = 0;

  return profile_types[selected];
}

gboolean
natter_sign_in_window_get_creating_account (NatterSignInWindow *self)
{
  g_return_val_if_fail (NATTER_IS_SIGN_IN_WINDOW (self), FALSE);

  return self->creating_account;
}

/**
 * natter_sign_in_window_set_creating_account:
 * @self: a #NatterSignInWindow
 * @creating_account: %TRUE to show the form that registers a new account
 */
void
natter_sign_in_window_set_creating_account (NatterSignInWindow *self, gboolean creating_account)
{
  g_return_if_fail (NATTER_IS_SIGN_IN_WINDOW (self));

  creating_account = !!creating_account;
  if (self->creating_account == creating_account)
    return;

  self->creating_account = creating_account;

  gtk_widget_set_visible (GTK_WIDGET (self->display_name_row), creating_account);
  gtk_widget_set_visible (GTK_WIDGET (self->profile_type_row), creating_account);
  if (creating_account) {
    gtk_label_set_label (self->title_label, _ ("Create an Account"));
    gtk_label_set_label (self->subtitle_label, _ ("Choose how others will see you"));
    gtk_label_set_label (self->submit_label, _ ("_Create Account"));
    gtk_button_set_label (self->mode_button, _ ("I _Already Have an Account"));
    gtk_window_set_title (GTK_WINDOW (self), _ ("Create a Natter Account"));
  } else {
    gtk_label_set_label (self->title_label, _ ("Welcome to Natter"));
    gtk_label_set_label (self->subtitle_label, _ ("Sign in to chat and call"));
    gtk_label_set_label (self->submit_label, _ ("_Sign In"));
    gtk_button_set_label (self->mode_button, _ ("_Create an Account"));
    gtk_window_set_title (GTK_WINDOW (self), _ ("Sign In to Natter"));
  }

  natter_sign_in_window_set_error_message (self, NULL);
  update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CREATING_ACCOUNT]);
}

gboolean
natter_sign_in_window_get_busy (NatterSignInWindow *self)
{
  g_return_val_if_fail (NATTER_IS_SIGN_IN_WINDOW (self), FALSE);

  return self->busy;
}

/**
 * natter_sign_in_window_set_busy:
 * @self: a #NatterSignInWindow
 * @busy: whether a request is under way; the form is locked meanwhile
 */
void
natter_sign_in_window_set_busy (NatterSignInWindow *self, gboolean busy)
{
  g_return_if_fail (NATTER_IS_SIGN_IN_WINDOW (self));

  busy = !!busy;
  if (self->busy == busy)
    return;

  self->busy = busy;
  /* GTK 4.8 leaves a focused text's cursor blinking when its row turns
   * insensitive ("GtkText - did not receive a focus-out event"): the focus
   * leaves the form properly first, and comes back after. */
  if (busy) {
    g_set_weak_pointer (&self->focus_before_busy, gtk_window_get_focus (GTK_WINDOW (self)));
    gtk_window_set_focus (GTK_WINDOW (self), NULL);
  }
  gtk_stack_set_visible_child_name (self->submit_stack, busy ? "spinner" : "label");
  gtk_widget_set_sensitive (GTK_WIDGET (self->server_row), !busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->display_name_row), !busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->email_row), !busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->password_row), !busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->profile_type_row), !busy);
  if (!busy && self->focus_before_busy != NULL) {
    gtk_widget_grab_focus (self->focus_before_busy);
    g_clear_weak_pointer (&self->focus_before_busy);
  }
  update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

/**
 * natter_sign_in_window_set_error_message:
 * @self: a #NatterSignInWindow
 * @message: (nullable): text to show under the form, or %NULL to hide it
 */
void
natter_sign_in_window_set_error_message (NatterSignInWindow *self, const char *message)
{
  g_return_if_fail (NATTER_IS_SIGN_IN_WINDOW (self));

  if (message == NULL)
    clear_row_errors (self);
  else
    gtk_label_set_label (self->error_label, message);

  gtk_revealer_set_reveal_child (self->error_revealer, message != NULL);
}

/**
 * natter_sign_in_window_show_error:
 * @self: a #NatterSignInWindow
 * @error: why signing in or registering failed
 *
 * Says what went wrong in words a person understands and marks the field to
 * fix.
 */
void
natter_sign_in_window_show_error (NatterSignInWindow *self, const GError *error)
{
  g_autofree char *message = NULL;
  GtkWidget *row = NULL;

  g_return_if_fail (NATTER_IS_SIGN_IN_WINDOW (self));
  g_return_if_fail (error != NULL);

  clear_row_errors (self);

  if (g_error_matches (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_UNAUTHORIZED)) {
    message = g_strdup (_ ("Wrong email or password."));
    row = GTK_WIDGET (self->password_row);
  } else if (g_error_matches (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_CONFLICT)) {
    message = g_strdup (_ ("An account with this email exists already. Sign in instead."));
    row = GTK_WIDGET (self->email_row);
  } else if (g_error_matches (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_FORBIDDEN)) {
    message = g_strdup (self->creating_account ? _ ("This server does not accept new accounts.")
                                               : _ ("This account may not sign in here."));
  } else if (error->domain == G_TLS_ERROR) {
    message = g_strdup_printf (_ ("The server’s security certificate is not valid (%s). "
                                  "Check the address, or ask the server’s administrator."),
                               error->message);
    row = GTK_WIDGET (self->server_row);
  } else if (error->domain == G_RESOLVER_ERROR || error->domain == G_IO_ERROR ||
             g_error_matches (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NOT_FOUND) ||
             g_error_matches (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_BAD_RESPONSE)) {
    message = g_strdup_printf (_ ("Cannot reach a Natter server at %s."),
                               natter_sign_in_window_get_server_url (self));
    row = GTK_WIDGET (self->server_row);
  } else {
    message = g_strdup_printf (_ ("Signing in failed: %s"), error->message);
  }

  natter_sign_in_window_set_error_message (self, message);
  if (row != NULL)
    gtk_widget_add_css_class (row, "error");
}
