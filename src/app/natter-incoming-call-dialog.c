/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-incoming-call-dialog"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-incoming-call-dialog.h"

/* The prompt for a ringing call over whichever Natter window is on top. It
 * takes the call and shows what the call says (who, their picture, voice or
 * video, silenced); answers go to the application's call actions, keyed by
 * the call log id, as the notification's buttons do. The call notifier owns
 * the dialog and closes it as soon as the call stops ringing. */

enum { PROP_0, PROP_CALL, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterIncomingCallDialog {
  AdwWindow parent_instance;

  NatterCall *call;

  AdwAvatar *avatar;
  GtkLabel *name_label;
  GtkLabel *call_type_label;
  GtkWidget *accept_video_box;
  GtkWidget *silence_button;
};

G_DEFINE_FINAL_TYPE (NatterIncomingCallDialog, natter_incoming_call_dialog, ADW_TYPE_WINDOW)

static gboolean
peer_to_name (GBinding *binding, const GValue *from, GValue *to, gpointer user_data)
{
  const NatterProfile *peer = g_value_get_boxed (from);
  gboolean for_label = GPOINTER_TO_INT (user_data);

  if (peer != NULL && peer->display_name != NULL && *peer->display_name != '\0')
    g_value_set_string (to, peer->display_name);
  else
    g_value_set_string (to, for_label ? _ ("Unknown caller") : NULL);
  return TRUE;
}

static gboolean
call_type_to_label (GBinding *binding, const GValue *from, GValue *to, gpointer user_data)
{
  gboolean video = g_strcmp0 (g_value_get_string (from), "video") == 0;

  g_value_set_string (to, video ? _ ("Incoming video call") : _ ("Incoming voice call"));
  return TRUE;
}

static gboolean
call_type_is_video (GBinding *binding, const GValue *from, GValue *to, gpointer user_data)
{
  g_value_set_boolean (to, g_strcmp0 (g_value_get_string (from), "video") == 0);
  return TRUE;
}

/* The call holds the picture as image bytes (core has no GDK); an image
 * that does not decode leaves the initials. */
static gboolean
avatar_to_texture (GBinding *binding, const GValue *from, GValue *to, gpointer user_data)
{
  GObject *avatar = g_value_get_object (from);
  g_autoptr (GdkTexture) texture = NULL;

  if (G_IS_BYTES_ICON (avatar)) {
    g_autoptr (GError) error = NULL;

    texture = gdk_texture_new_from_bytes (g_bytes_icon_get_bytes (G_BYTES_ICON (avatar)), &error);
    if (texture == NULL)
      g_debug ("The caller's avatar is no image: %s", error->message);
  }
  g_value_set_object (to, texture);
  return TRUE;
}

static void
activate_app_call_action (NatterIncomingCallDialog *self, const char *action_name)
{
  gint64 call_log_id = natter_call_get_call_log_id (self->call);

  if (!gtk_widget_activate_action (GTK_WIDGET (self), action_name, "x", call_log_id))
    g_debug ("No %s for this dialog", action_name);
}

static void
on_accept (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  activate_app_call_action (NATTER_INCOMING_CALL_DIALOG (widget), "app.accept-call");
}

static void
on_accept_video (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  activate_app_call_action (NATTER_INCOMING_CALL_DIALOG (widget), "app.accept-video-call");
}

static void
on_decline (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  activate_app_call_action (NATTER_INCOMING_CALL_DIALOG (widget), "app.decline-call");
}

/* Silencing is the call's own business: the prompt stays. */
static void
on_silence (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  natter_call_silence (NATTER_INCOMING_CALL_DIALOG (widget)->call);
}

static void
natter_incoming_call_dialog_get_property (GObject *object,
                                          guint prop_id,
                                          GValue *value,
                                          GParamSpec *pspec)
{
  NatterIncomingCallDialog *self = NATTER_INCOMING_CALL_DIALOG (object);

  switch (prop_id) {
    case PROP_CALL:
      g_value_set_object (value, self->call);
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
    case PROP_CALL:
      self->call = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_incoming_call_dialog_constructed (GObject *object)
{
  NatterIncomingCallDialog *self = NATTER_INCOMING_CALL_DIALOG (object);
  const GBindingFlags flags = G_BINDING_SYNC_CREATE;

  G_OBJECT_CLASS (natter_incoming_call_dialog_parent_class)->constructed (object);

  g_assert (NATTER_IS_CALL (self->call));

  g_object_bind_property_full (self->call, "peer", self->name_label, "label", flags, peer_to_name,
                               NULL, GINT_TO_POINTER (TRUE), NULL);
  g_object_bind_property_full (self->call, "peer", self->avatar, "text", flags, peer_to_name, NULL,
                               GINT_TO_POINTER (FALSE), NULL);
  g_object_bind_property_full (self->call, "avatar", self->avatar, "custom-image", flags,
                               avatar_to_texture, NULL, NULL, NULL);
  g_object_bind_property_full (self->call, "call-type", self->call_type_label, "label", flags,
                               call_type_to_label, NULL, NULL, NULL);
  g_object_bind_property_full (self->call, "call-type", self->accept_video_box, "visible", flags,
                               call_type_is_video, NULL, NULL, NULL);
  g_object_bind_property (self->call, "silenced", self->silence_button, "sensitive",
                          flags | G_BINDING_INVERT_BOOLEAN);
}

static void
natter_incoming_call_dialog_dispose (GObject *object)
{
  NatterIncomingCallDialog *self = NATTER_INCOMING_CALL_DIALOG (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_INCOMING_CALL_DIALOG);

  G_OBJECT_CLASS (natter_incoming_call_dialog_parent_class)->dispose (object);
}

static void
natter_incoming_call_dialog_finalize (GObject *object)
{
  NatterIncomingCallDialog *self = NATTER_INCOMING_CALL_DIALOG (object);

  g_clear_object (&self->call);

  G_OBJECT_CLASS (natter_incoming_call_dialog_parent_class)->finalize (object);
}

static void
natter_incoming_call_dialog_class_init (NatterIncomingCallDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_incoming_call_dialog_get_property;
  object_class->set_property = natter_incoming_call_dialog_set_property;
  object_class->constructed = natter_incoming_call_dialog_constructed;
  object_class->dispose = natter_incoming_call_dialog_dispose;
  object_class->finalize = natter_incoming_call_dialog_finalize;

  /**
   * NatterIncomingCallDialog:call:
   *
   * The ringing call the dialog asks about.
   */
  properties[PROP_CALL] =
    g_param_spec_object ("call", NULL, NULL, NATTER_TYPE_CALL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/natter/Natter/natter-incoming-call-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterIncomingCallDialog, avatar);
  gtk_widget_class_bind_template_child (widget_class, NatterIncomingCallDialog, name_label);
  gtk_widget_class_bind_template_child (widget_class, NatterIncomingCallDialog, call_type_label);
  gtk_widget_class_bind_template_child (widget_class, NatterIncomingCallDialog, accept_video_box);
  gtk_widget_class_bind_template_child (widget_class, NatterIncomingCallDialog, silence_button);

  gtk_widget_class_install_action (widget_class, "call.accept", NULL, on_accept);
  gtk_widget_class_install_action (widget_class, "call.accept-video", NULL, on_accept_video);
  gtk_widget_class_install_action (widget_class, "call.decline", NULL, on_decline);
  gtk_widget_class_install_action (widget_class, "call.silence", NULL, on_silence);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, 0, "call.accept", NULL);
  /* As the shortcuts window says; the prompt stays, without the ringtone. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "call.silence", NULL);
}

static void
natter_incoming_call_dialog_init (NatterIncomingCallDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * natter_incoming_call_dialog_new:
 * @parent: (nullable): the window to show the dialog over
 * @call: the ringing call
 *
 * Returns: (transfer floating): a new, not yet presented dialog
 */
NatterIncomingCallDialog *
natter_incoming_call_dialog_new (GtkWindow *parent, NatterCall *call)
{
  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (NATTER_IS_CALL (call), NULL);

  return g_object_new (NATTER_TYPE_INCOMING_CALL_DIALOG, "transient-for", parent, "call", call,
                       NULL);
}

/**
 * natter_incoming_call_dialog_get_call:
 * @self: a #NatterIncomingCallDialog
 *
 * Returns: (transfer none): the call the dialog asks about
 */
NatterCall *
natter_incoming_call_dialog_get_call (NatterIncomingCallDialog *self)
{
  g_return_val_if_fail (NATTER_IS_INCOMING_CALL_DIALOG (self), NULL);

  return self->call;
}

/**
 * natter_incoming_call_dialog_get_caller_name:
 * @self: a #NatterIncomingCallDialog
 *
 * Returns: what the dialog shows as the caller's name
 */
const char *
natter_incoming_call_dialog_get_caller_name (NatterIncomingCallDialog *self)
{
  g_return_val_if_fail (NATTER_IS_INCOMING_CALL_DIALOG (self), NULL);

  return gtk_label_get_label (self->name_label);
}
