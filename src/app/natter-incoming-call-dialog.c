/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-incoming-call-dialog"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-app-util.h"
#include "natter-incoming-call-dialog.h"

/* The prompt for a ringing call over whichever Natter window is on top. It
 * only reports what the user chose ("response"); the application owns the
 * call and closes this dialog as soon as the call stops ringing. */

enum { PROP_0, PROP_CALLER_NAME, PROP_CALL_TYPE, PROP_AVATAR, PROP_SILENCED, N_PROPS };

static GParamSpec *properties[N_PROPS];

enum { RESPONSE, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterIncomingCallDialog {
  AdwWindow parent_instance;

  char *caller_name;
  char *call_type;
  GdkPaintable *avatar_image;
  gboolean silenced;

  AdwAvatar *avatar;
  GtkLabel *name_label;
  GtkLabel *call_type_label;
  GtkWidget *accept_video_box;
  GtkWidget *silence_button;
};

G_DEFINE_FINAL_TYPE (NatterIncomingCallDialog, natter_incoming_call_dialog, ADW_TYPE_WINDOW)

static void
update_call_type (NatterIncomingCallDialog *self)
{
  gboolean video = g_strcmp0 (self->call_type, "video") == 0;

  gtk_label_set_label (self->call_type_label,
                       video ? _ ("Incoming video call") : _ ("Incoming voice call"));
  gtk_widget_set_visible (self->accept_video_box, video);
}

static void
on_response_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterIncomingCallDialog *self = NATTER_INCOMING_CALL_DIALOG (widget);
  const char *response = action_name + strlen ("call.");

  if (g_str_equal (response, "silence")) {
    if (self->silenced)
      return;
    self->silenced = TRUE;
    gtk_widget_set_sensitive (self->silence_button, FALSE);
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SILENCED]);
  }

  g_signal_emit (self, signals[RESPONSE], 0, response);
}

static void
natter_incoming_call_dialog_get_property (GObject *object,
                                          guint prop_id,
                                          GValue *value,
                                          GParamSpec *pspec)
{
  NatterIncomingCallDialog *self = NATTER_INCOMING_CALL_DIALOG (object);

  switch (prop_id) {
    case PROP_CALLER_NAME:
      g_value_set_string (value, self->caller_name);
      break;
    case PROP_CALL_TYPE:
      g_value_set_string (value, self->call_type);
      break;
    case PROP_AVATAR:
      g_value_set_object (value, self->avatar_image);
      break;
    case PROP_SILENCED:
      g_value_set_boolean (value, self->silenced);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_incoming_call_dialog_set_property (GObject *object,
                                          guint prop_id,
                                          const GValue *value,
                                          GParamSpec *pspec)
{
  NatterIncomingCallDialog *self = NATTER_INCOMING_CALL_DIALOG (object);

  switch (prop_id) {
    case PROP_CALLER_NAME:
      natter_incoming_call_dialog_set_caller_name (self, g_value_get_string (value));
      break;
    case PROP_CALL_TYPE:
      natter_incoming_call_dialog_set_call_type (self, g_value_get_string (value));
      break;
    case PROP_AVATAR:
      natter_incoming_call_dialog_set_avatar (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_incoming_call_dialog_finalize (GObject *object)
{
  NatterIncomingCallDialog *self = NATTER_INCOMING_CALL_DIALOG (object);

  g_clear_pointer (&self->caller_name, g_free);
  g_clear_pointer (&self->call_type, g_free);
  g_clear_object (&self->avatar_image);

  G_OBJECT_CLASS (natter_incoming_call_dialog_parent_class)->finalize (object);
}

static void
natter_incoming_call_dialog_class_init (NatterIncomingCallDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_incoming_call_dialog_get_property;
  object_class->set_property = natter_incoming_call_dialog_set_property;
  object_class->finalize = natter_incoming_call_dialog_finalize;

  properties[PROP_CALLER_NAME] =
    g_param_spec_string ("caller-name", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CALL_TYPE] =
    g_param_spec_string ("call-type", NULL, NULL, "voice",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_AVATAR] =
    g_param_spec_object ("avatar", NULL, NULL, GDK_TYPE_PAINTABLE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SILENCED] =
    g_param_spec_boolean ("silenced", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterIncomingCallDialog::response:
   * @response: "accept", "accept-video", "decline" or "silence"
   *
   * The user chose what to do with the call.
   */
  signals[RESPONSE] = g_signal_new ("response", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                    NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/natter/Natter/natter-incoming-call-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterIncomingCallDialog, avatar);
  gtk_widget_class_bind_template_child (widget_class, NatterIncomingCallDialog, name_label);
  gtk_widget_class_bind_template_child (widget_class, NatterIncomingCallDialog, call_type_label);
  gtk_widget_class_bind_template_child (widget_class, NatterIncomingCallDialog, accept_video_box);
  gtk_widget_class_bind_template_child (widget_class, NatterIncomingCallDialog, silence_button);

  gtk_widget_class_install_action (widget_class, "call.accept", NULL, on_response_action);
  gtk_widget_class_install_action (widget_class, "call.accept-video", NULL, on_response_action);
  gtk_widget_class_install_action (widget_class, "call.decline", NULL, on_response_action);
  gtk_widget_class_install_action (widget_class, "call.silence", NULL, on_response_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, 0, "call.accept", NULL);
  /* As the shortcuts window says; the prompt stays, without the ringtone. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "call.silence", NULL);
}

static void
natter_incoming_call_dialog_init (NatterIncomingCallDialog *self)
{
  self->call_type = g_strdup ("voice");

  gtk_widget_init_template (GTK_WIDGET (self));
  update_call_type (self);
}

/**
 * natter_incoming_call_dialog_new:
 * @parent: (nullable): the window to show the dialog over
 * @caller_name: who is calling
 * @call_type: "voice" or "video"
 *
 * Returns: (transfer floating): a new, not yet presented dialog
 */
NatterIncomingCallDialog *
natter_incoming_call_dialog_new (GtkWindow *parent, const char *caller_name, const char *call_type)
{
  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);

  return g_object_new (NATTER_TYPE_INCOMING_CALL_DIALOG, "transient-for", parent, "caller-name",
                       caller_name, "call-type", call_type, NULL);
}

const char *
natter_incoming_call_dialog_get_caller_name (NatterIncomingCallDialog *self)
{
  g_return_val_if_fail (NATTER_IS_INCOMING_CALL_DIALOG (self), NULL);

  return self->caller_name;
}

/**
 * natter_incoming_call_dialog_set_caller_name:
 * @self: a #NatterIncomingCallDialog
 * @caller_name: (nullable): the caller's display name
 */
void
natter_incoming_call_dialog_set_caller_name (NatterIncomingCallDialog *self,
                                             const char *caller_name)
{
  g_return_if_fail (NATTER_IS_INCOMING_CALL_DIALOG (self));

  if (!natter_set_str (&self->caller_name, caller_name))
    return;

  gtk_label_set_label (self->name_label, caller_name ? caller_name : _ ("Unknown caller"));
  adw_avatar_set_text (self->avatar, caller_name);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CALLER_NAME]);
}

const char *
natter_incoming_call_dialog_get_call_type (NatterIncomingCallDialog *self)
{
  g_return_val_if_fail (NATTER_IS_INCOMING_CALL_DIALOG (self), NULL);

  return self->call_type;
}

/**
 * natter_incoming_call_dialog_set_call_type:
 * @self: a #NatterIncomingCallDialog
 * @call_type: "voice" or "video"; anything else counts as voice
 */
void
natter_incoming_call_dialog_set_call_type (NatterIncomingCallDialog *self, const char *call_type)
{
  g_return_if_fail (NATTER_IS_INCOMING_CALL_DIALOG (self));

  if (call_type == NULL)
    call_type = "voice";

  if (!natter_set_str (&self->call_type, call_type))
    return;

  update_call_type (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CALL_TYPE]);
}

GdkPaintable *
natter_incoming_call_dialog_get_avatar (NatterIncomingCallDialog *self)
{
  g_return_val_if_fail (NATTER_IS_INCOMING_CALL_DIALOG (self), NULL);

  return self->avatar_image;
}

/**
 * natter_incoming_call_dialog_set_avatar:
 * @self: a #NatterIncomingCallDialog
 * @avatar: (nullable): the caller's picture; initials are shown without one
 */
void
natter_incoming_call_dialog_set_avatar (NatterIncomingCallDialog *self, GdkPaintable *avatar)
{
  g_return_if_fail (NATTER_IS_INCOMING_CALL_DIALOG (self));
  g_return_if_fail (avatar == NULL || GDK_IS_PAINTABLE (avatar));

  if (!g_set_object (&self->avatar_image, avatar))
    return;

  adw_avatar_set_custom_image (self->avatar, avatar);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_AVATAR]);
}

/**
 * natter_incoming_call_dialog_get_silenced:
 * @self: a #NatterIncomingCallDialog
 *
 * Returns: whether the user silenced the ringtone from this dialog
 */
gboolean
natter_incoming_call_dialog_get_silenced (NatterIncomingCallDialog *self)
{
  g_return_val_if_fail (NATTER_IS_INCOMING_CALL_DIALOG (self), FALSE);

  return self->silenced;
}
