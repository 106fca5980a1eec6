/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-overlay"

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "natter-format.h"
#include "natter-call-overlay.h"
#include "natter-call-video.h"

/* What the user sees during a call: the remote video filling the pane (or
 * the peer's avatar for a voice call), the self view in a corner, state and
 * duration, the peer's mute and camera marks, network quality, and the call
 * controls. Given a #NatterCall it follows the call and acts on it (mute,
 * camera, hang up); without one it shows the state its setters give it. */

enum { PROP_0, PROP_MUTED, PROP_CAMERA_ENABLED, PROP_CALL, N_PROPS };

static GParamSpec *properties[N_PROPS];

enum { HANG_UP, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterCallOverlay {
  GtkWidget parent_instance;

  NatterCall *call;
  GSignalGroup *call_signals;
  NatterCallVideo *video; /* the call's pictures as paintables */
  gboolean call_was_connected;

  char *call_type;
  char *status;
  gint64 duration;
  gboolean muted;
  gboolean camera_enabled;

  GtkStack *media_stack;
  AdwAvatar *avatar;
  GtkLabel *voice_name_label;
  GtkLabel *voice_status_label;
  GtkPicture *remote_picture;
  GtkLabel *name_label;
  GtkLabel *status_label;
  GtkWidget *remote_muted_image;
  GtkWidget *remote_camera_off_image;
  GtkImage *quality_image;
  GtkWidget *poor_connection_label;
  GtkWidget *self_view;
  GtkPicture *local_picture;
  GtkRevealer *ended_revealer;
  GtkLabel *ended_label;
  GtkToggleButton *mute_button;
  GtkToggleButton *camera_button;
  GtkMenuButton *devices_button;
  GtkToggleButton *fullscreen_button;
  GtkWidget *controls;
};

G_DEFINE_FINAL_TYPE (NatterCallOverlay, natter_call_overlay, GTK_TYPE_WIDGET)

/* GLib 2.76's g_set_str(): replaces the string, TRUE if it changed. */
static gboolean
set_str (char **str_pointer, const char *new_str)
{
  char *copy;

  g_return_val_if_fail (str_pointer != NULL, FALSE);

  if (*str_pointer == new_str || g_strcmp0 (*str_pointer, new_str) == 0)
    return FALSE;

  copy = g_strdup (new_str);
  g_free (*str_pointer);
  *str_pointer = copy;

  return TRUE;
}

static gboolean
is_video (NatterCallOverlay *self)
{
  return g_strcmp0 (self->call_type, "video") == 0;
}

static void
update_status (NatterCallOverlay *self)
{
  g_autofree char *text = NULL;

  if (self->duration >= 0) {
    g_autofree char *duration = natter_format_duration (self->duration);

    text = self->status ? g_strdup_printf ("%s · %s", self->status, duration)
                        : g_steal_pointer (&duration);
  } else {
    text = g_strdup (self->status ? self->status : "");
  }

  gtk_label_set_label (self->status_label, text);
  gtk_label_set_label (self->voice_status_label, text);
}

static void
update_media (NatterCallOverlay *self)
{
  gboolean video = is_video (self);

  gtk_stack_set_visible_child_name (self->media_stack, video ? "video" : "voice");
  gtk_widget_set_visible (GTK_WIDGET (self->camera_button), video);
  gtk_widget_set_visible (self->self_view,
                          video && self->camera_enabled &&
                            gtk_picture_get_paintable (self->local_picture) != NULL);
  if (video)
    gtk_widget_add_css_class (GTK_WIDGET (self), "video");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self), "video");
}

static void
update_toggles (NatterCallOverlay *self)
{
  gtk_toggle_button_set_active (self->mute_button, self->muted);
  gtk_button_set_icon_name (GTK_BUTTON (self->mute_button),
                            self->muted ? "microphone-sensitivity-muted-symbolic"
                                        : "audio-input-microphone-symbolic");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->mute_button), self->muted
                                                                 ? _ ("Unmute Microphone (Ctrl+D)")
                                                                 : _ ("Mute Microphone (Ctrl+D)"));

  gtk_toggle_button_set_active (self->camera_button, !self->camera_enabled);
  gtk_button_set_icon_name (GTK_BUTTON (self->camera_button), self->camera_enabled
                                                                ? "camera-web-symbolic"
                                                                : "camera-disabled-symbolic");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->camera_button), self->camera_enabled
                                                                   ? _ ("Turn Camera Off (Ctrl+E)")
                                                                   : _ ("Turn Camera On (Ctrl+E)"));
  update_media (self);
}

static void
on_toggle_mute_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterCallOverlay *self = NATTER_CALL_OVERLAY (widget);

  natter_call_overlay_set_muted (self, !self->muted);
}

static void
on_toggle_camera_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterCallOverlay *self = NATTER_CALL_OVERLAY (widget);

  if (is_video (self))
    natter_call_overlay_set_camera_enabled (self, !self->camera_enabled);
}

static void
on_toggle_fullscreen_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterCallOverlay *self = NATTER_CALL_OVERLAY (widget);
  GtkRoot *root = gtk_widget_get_root (widget);
  gboolean fullscreen;

  if (!GTK_IS_WINDOW (root))
    return;

  fullscreen = !gtk_window_is_fullscreen (GTK_WINDOW (root));
  if (fullscreen)
    gtk_window_fullscreen (GTK_WINDOW (root));
  else
    gtk_window_unfullscreen (GTK_WINDOW (root));

  gtk_toggle_button_set_active (self->fullscreen_button, fullscreen);
  gtk_button_set_icon_name (GTK_BUTTON (self->fullscreen_button),
                            fullscreen ? "view-restore-symbolic" : "view-fullscreen-symbolic");
}

static void
on_hang_up_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  NatterCallOverlay *self = NATTER_CALL_OVERLAY (widget);

  g_signal_emit (self, signals[HANG_UP], 0);
  if (self->call != NULL && natter_call_get_state (self->call) != NATTER_CALL_STATE_ENDED)
    natter_call_hang_up (self->call);
}

/* What the call view says once the call is over: how long it lasted, or
 * why it never started. */
static char *
describe_end (NatterCallOverlay *self)
{
  g_autofree char *duration = NULL;

  if (self->call_was_connected &&
      natter_call_get_end_reason (self->call) == NATTER_CALL_END_REASON_FAILED &&
      natter_call_get_end_message (self->call) != NULL) {
    duration = natter_format_duration (natter_call_get_duration (self->call));
    /* Translators: a call that broke off: its length, "12:04", and why */
    return g_strdup_printf (_ ("Call failed after %s: %s"), duration,
                            natter_call_get_end_message (self->call));
  }
  if (self->call_was_connected) {
    duration = natter_format_duration (natter_call_get_duration (self->call));
    /* Translators: shown for a moment when a call ends: its length, "12:04" */
    return g_strdup_printf (_ ("Call ended · %s"), duration);
  }

  switch (natter_call_get_end_reason (self->call)) {
    case NATTER_CALL_END_REASON_DECLINED:
      return g_strdup (_ ("Call declined"));
    case NATTER_CALL_END_REASON_BUSY:
      return g_strdup (_ ("Busy in another call"));
    case NATTER_CALL_END_REASON_NO_ANSWER:
      return g_strdup (_ ("No answer"));
    case NATTER_CALL_END_REASON_UNAVAILABLE:
      return g_strdup (_ ("Not available"));
    case NATTER_CALL_END_REASON_FAILED:
      return g_strdup (_ ("The call could not connect"));
    case NATTER_CALL_END_REASON_NONE:
    case NATTER_CALL_END_REASON_HANGUP:
    case NATTER_CALL_END_REASON_ANSWERED_ELSEWHERE:
    case NATTER_CALL_END_REASON_DECLINED_ELSEWHERE:
    case NATTER_CALL_END_REASON_CALLER_CANCELLED:
    case NATTER_CALL_END_REASON_TIMEOUT:
    default:
      return g_strdup (_ ("Call ended"));
  }
}

static void
update_from_call (NatterCallOverlay *self)
{
  NatterCall *call = self->call;
  const NatterProfile *peer;
  const char *status;
  NatterCallState state;

  if (call == NULL)
    return;

  state = natter_call_get_state (call);
  peer = natter_call_get_peer (call);

  switch (state) {
    case NATTER_CALL_STATE_RINGING_OUTGOING:
      status = natter_call_get_peer_ringing (call) ? _ ("Ringing…") : _ ("Calling…");
      break;
    case NATTER_CALL_STATE_RINGING_INCOMING:
      status = _ ("Incoming call");
      break;
    case NATTER_CALL_STATE_CONNECTING:
      status = _ ("Connecting…");
      break;
    case NATTER_CALL_STATE_CONNECTED:
      status = _ ("Connected");
      break;
    case NATTER_CALL_STATE_ENDED:
    default:
      status = _ ("Call ended");
      break;
  }

  natter_call_overlay_set_peer_name (self, peer && peer->display_name ? peer->display_name
                                                                      : _ ("Unknown"));
  natter_call_overlay_set_call_type (self, natter_call_get_call_type (call));
  natter_call_overlay_set_status (self, status);
  natter_call_overlay_set_duration (
    self, state == NATTER_CALL_STATE_CONNECTED ? (gint64) natter_call_get_duration (call) : -1);
  natter_call_overlay_set_muted (self, natter_call_get_muted (call));
  natter_call_overlay_set_camera_enabled (self, natter_call_get_camera_enabled (call));
  natter_call_overlay_set_remote_state (self, natter_call_get_remote_muted (call),
                                        !natter_call_get_remote_camera_enabled (call));
  natter_call_overlay_set_quality (self, natter_call_get_network_quality (call));
  natter_call_overlay_set_poor_connection (self, natter_call_get_poor_connection (call));

  if (state == NATTER_CALL_STATE_CONNECTED)
    self->call_was_connected = TRUE;

  if (state == NATTER_CALL_STATE_ENDED) {
    g_autofree char *how = describe_end (self);

    /* The call view stays, saying how the call ended, for as long as the
     * window shows the call. */
    natter_call_overlay_show_ended (self, how);
  } else {
    natter_call_overlay_show_ended (self, NULL);
  }
}

static void
on_remote_paintable_changed (NatterCallOverlay *self)
{
  natter_call_overlay_set_remote_video (self, natter_call_video_get_remote_paintable (self->video));
}

static void
on_local_paintable_changed (NatterCallOverlay *self)
{
  natter_call_overlay_set_local_video (self, natter_call_video_get_local_paintable (self->video));
}

static void
natter_call_overlay_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterCallOverlay *self = NATTER_CALL_OVERLAY (object);

  switch (prop_id) {
    case PROP_MUTED:
      g_value_set_boolean (value, self->muted);
      break;
    case PROP_CAMERA_ENABLED:
      g_value_set_boolean (value, self->camera_enabled);
      break;
    case PROP_CALL:
      g_value_set_object (value, self->call);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_overlay_set_property (GObject *object,
                                  guint prop_id,
                                  const GValue *value,
                                  GParamSpec *pspec)
{
  NatterCallOverlay *self = NATTER_CALL_OVERLAY (object);

  switch (prop_id) {
    case PROP_MUTED:
      natter_call_overlay_set_muted (self, g_value_get_boolean (value));
      break;
    case PROP_CAMERA_ENABLED:
      natter_call_overlay_set_camera_enabled (self, g_value_get_boolean (value));
      break;
    case PROP_CALL:
      natter_call_overlay_set_call (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_overlay_dispose (GObject *object)
{
  NatterCallOverlay *self = NATTER_CALL_OVERLAY (object);

  if (self->call_signals != NULL)
    g_signal_group_set_target (self->call_signals, NULL);
  g_clear_object (&self->call_signals);
  if (self->video != NULL)
    g_signal_handlers_disconnect_by_data (self->video, self);
  g_clear_object (&self->video);
  g_clear_object (&self->call);

  gtk_widget_dispose_template (GTK_WIDGET (object), NATTER_TYPE_CALL_OVERLAY);
  /* The template's top-level children are not bound, so unparent them too. */
  {
    GtkWidget *child;

    while ((child = gtk_widget_get_first_child (GTK_WIDGET (object))) != NULL)
      gtk_widget_unparent (child);
  }

  G_OBJECT_CLASS (natter_call_overlay_parent_class)->dispose (object);
}

static void
natter_call_overlay_finalize (GObject *object)
{
  NatterCallOverlay *self = NATTER_CALL_OVERLAY (object);

  g_clear_pointer (&self->call_type, g_free);
  g_clear_pointer (&self->status, g_free);

  G_OBJECT_CLASS (natter_call_overlay_parent_class)->finalize (object);
}

static void
natter_call_overlay_class_init (NatterCallOverlayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = natter_call_overlay_get_property;
  object_class->set_property = natter_call_overlay_set_property;
  object_class->dispose = natter_call_overlay_dispose;
  object_class->finalize = natter_call_overlay_finalize;

  properties[PROP_MUTED] =
    g_param_spec_boolean ("muted", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAMERA_ENABLED] =
    g_param_spec_boolean ("camera-enabled", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallOverlay:call:
   *
   * The call shown: the overlay follows its state and pictures, and the
   * controls act on it.
   */
  properties[PROP_CALL] =
    g_param_spec_object ("call", NULL, NULL, NATTER_TYPE_CALL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterCallOverlay::hang-up:
   *
   * The user ended the call.
   */
  signals[HANG_UP] = g_signal_new ("hang-up", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                   NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/natter/Natter/natter-call-overlay.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, media_stack);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, avatar);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, voice_name_label);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, voice_status_label);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, remote_picture);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, name_label);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, status_label);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, remote_muted_image);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, remote_camera_off_image);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, quality_image);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, poor_connection_label);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, self_view);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, local_picture);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, ended_revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, ended_label);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, mute_button);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, camera_button);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, devices_button);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, fullscreen_button);
  gtk_widget_class_bind_template_child (widget_class, NatterCallOverlay, controls);

  gtk_widget_class_install_action (widget_class, "call.toggle-mute", NULL, on_toggle_mute_action);
  gtk_widget_class_install_action (widget_class, "call.toggle-camera", NULL,
                                   on_toggle_camera_action);
  gtk_widget_class_install_action (widget_class, "call.toggle-fullscreen", NULL,
                                   on_toggle_fullscreen_action);
  gtk_widget_class_install_action (widget_class, "call.hang-up", NULL, on_hang_up_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_d, GDK_CONTROL_MASK,
                                       "call.toggle-mute", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_e, GDK_CONTROL_MASK,
                                       "call.toggle-camera", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F11, 0, "call.toggle-fullscreen",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_H, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "call.hang-up", NULL);

  gtk_widget_class_set_css_name (widget_class, "natter-call-overlay");
}

static void
natter_call_overlay_init (NatterCallOverlay *self)
{
  self->camera_enabled = TRUE;
  self->duration = -1;
  self->call_type = g_strdup ("voice");

  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  update_toggles (self);
  update_status (self);

  self->call_signals = g_signal_group_new (NATTER_TYPE_CALL);
  g_signal_group_connect_swapped (self->call_signals, "notify", G_CALLBACK (update_from_call),
                                  self);
  self->video = natter_call_video_new ();
  g_signal_connect_swapped (self->video, "notify::remote-paintable",
                            G_CALLBACK (on_remote_paintable_changed), self);
  g_signal_connect_swapped (self->video, "notify::local-paintable",
                            G_CALLBACK (on_local_paintable_changed), self);
}

/**
 * natter_call_overlay_new:
 *
 * Returns: (transfer floating): a new call overlay
 */
GtkWidget *
natter_call_overlay_new (void)
{
  return g_object_new (NATTER_TYPE_CALL_OVERLAY, NULL);
}

/**
 * natter_call_overlay_set_peer_name:
 * @self: a #NatterCallOverlay
 * @peer_name: (nullable): who the call is with
 */
void
natter_call_overlay_set_peer_name (NatterCallOverlay *self, const char *peer_name)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  gtk_label_set_label (self->name_label, peer_name ? peer_name : "");
  gtk_label_set_label (self->voice_name_label, peer_name ? peer_name : "");
  adw_avatar_set_text (self->avatar, peer_name);
}

/**
 * natter_call_overlay_set_call_type:
 * @self: a #NatterCallOverlay
 * @call_type: "voice" or "video"
 */
void
natter_call_overlay_set_call_type (NatterCallOverlay *self, const char *call_type)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  if (set_str (&self->call_type, call_type))
    update_media (self);
}

/**
 * natter_call_overlay_set_status:
 * @self: a #NatterCallOverlay
 * @status: (nullable): the call's state in words ("Ringing…", "Connected")
 */
void
natter_call_overlay_set_status (NatterCallOverlay *self, const char *status)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  if (set_str (&self->status, status))
    update_status (self);
}

/**
 * natter_call_overlay_set_duration:
 * @self: a #NatterCallOverlay
 * @seconds: how long the call has been connected, or -1 before it connects
 */
void
natter_call_overlay_set_duration (NatterCallOverlay *self, gint64 seconds)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  if (self->duration == seconds)
    return;

  self->duration = seconds;
  update_status (self);
}

gboolean
natter_call_overlay_get_muted (NatterCallOverlay *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_OVERLAY (self), FALSE);

  return self->muted;
}

/**
 * natter_call_overlay_set_muted:
 * @self: a #NatterCallOverlay
 * @muted: whether the own microphone is muted
 */
void
natter_call_overlay_set_muted (NatterCallOverlay *self, gboolean muted)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  muted = !!muted;
  if (self->muted == muted)
    return;

  self->muted = muted;
  update_toggles (self);
  if (self->call != NULL && natter_call_get_muted (self->call) != muted)
    natter_call_set_muted (self->call, muted);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MUTED]);
}

gboolean
natter_call_overlay_get_camera_enabled (NatterCallOverlay *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_OVERLAY (self), FALSE);

  return self->camera_enabled;
}

/**
 * natter_call_overlay_set_camera_enabled:
 * @self: a #NatterCallOverlay
 * @camera_enabled: whether the own camera is sending
 */
void
natter_call_overlay_set_camera_enabled (NatterCallOverlay *self, gboolean camera_enabled)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  camera_enabled = !!camera_enabled;
  if (self->camera_enabled == camera_enabled)
    return;

  self->camera_enabled = camera_enabled;
  update_toggles (self);
  if (self->call != NULL && natter_call_get_camera_enabled (self->call) != camera_enabled)
    natter_call_set_camera_enabled (self->call, camera_enabled);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAMERA_ENABLED]);
}

/**
 * natter_call_overlay_set_remote_state:
 * @self: a #NatterCallOverlay
 * @remote_muted: the peer muted their microphone
 * @remote_camera_off: the peer turned their camera off
 */
void
natter_call_overlay_set_remote_state (NatterCallOverlay *self,
                                      gboolean remote_muted,
                                      gboolean remote_camera_off)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  gtk_widget_set_visible (self->remote_muted_image, remote_muted);
  gtk_widget_set_visible (self->remote_camera_off_image, remote_camera_off && is_video (self));
}

/**
 * natter_call_overlay_set_quality:
 * @self: a #NatterCallOverlay
 * @quality: 0 (bad) to 4 (excellent) from the call statistics, or -1 when
 *   unknown
 */
void
natter_call_overlay_set_quality (NatterCallOverlay *self, int quality)
{
  static const char *const icons[] = {
    "network-cellular-signal-none-symbolic",      "network-cellular-signal-weak-symbolic",
    "network-cellular-signal-ok-symbolic",        "network-cellular-signal-good-symbolic",
    "network-cellular-signal-excellent-symbolic",
  };
  static const char *descriptions[G_N_ELEMENTS (icons)];

  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  descriptions[0] = _ ("Connection: very poor");
  descriptions[1] = _ ("Connection: poor");
  descriptions[2] = _ ("Connection: fair");
  descriptions[3] = _ ("Connection: good");
  descriptions[4] = _ ("Connection: excellent");

  gtk_widget_set_visible (GTK_WIDGET (self->quality_image), quality >= 0);
  if (quality < 0)
    return;

  quality = MIN (quality, (int) G_N_ELEMENTS (icons) - 1);
  gtk_image_set_from_icon_name (self->quality_image, icons[quality]);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->quality_image), descriptions[quality]);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->quality_image),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, descriptions[quality], -1);
}

/**
 * natter_call_overlay_set_poor_connection:
 * @self: a #NatterCallOverlay
 * @poor: whether our video is being reduced for want of bandwidth
 *   (#NatterCall:poor-connection)
 */
void
natter_call_overlay_set_poor_connection (NatterCallOverlay *self, gboolean poor)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  gtk_widget_set_visible (self->poor_connection_label, poor);
}

/**
 * natter_call_overlay_get_poor_connection:
 * @self: a #NatterCallOverlay
 *
 * Returns: whether "Poor connection" is shown
 */
gboolean
natter_call_overlay_get_poor_connection (NatterCallOverlay *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_OVERLAY (self), FALSE);
  return gtk_widget_get_visible (self->poor_connection_label);
}

/**
 * natter_call_overlay_set_remote_video:
 * @self: a #NatterCallOverlay
 * @paintable: (nullable): the peer's video
 */
void
natter_call_overlay_set_remote_video (NatterCallOverlay *self, GdkPaintable *paintable)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  gtk_picture_set_paintable (self->remote_picture, paintable);
}

/**
 * natter_call_overlay_set_local_video:
 * @self: a #NatterCallOverlay
 * @paintable: (nullable): the own camera's picture for the self view
 */
void
natter_call_overlay_set_local_video (NatterCallOverlay *self, GdkPaintable *paintable)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  gtk_picture_set_paintable (self->local_picture, paintable);
  update_media (self);
}

/**
 * natter_call_overlay_get_local_video:
 * @self: a #NatterCallOverlay
 *
 * Returns: (transfer none) (nullable): the self view's picture
 */
GdkPaintable *
natter_call_overlay_get_local_video (NatterCallOverlay *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_OVERLAY (self), NULL);

  return gtk_picture_get_paintable (self->local_picture);
}

/**
 * natter_call_overlay_set_devices_menu:
 * @self: a #NatterCallOverlay
 * @menu: (nullable): the device choices offered during the call
 */
void
natter_call_overlay_set_devices_menu (NatterCallOverlay *self, GMenuModel *menu)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  gtk_menu_button_set_menu_model (self->devices_button, menu);
  gtk_widget_set_visible (GTK_WIDGET (self->devices_button), menu != NULL);
}

/**
 * natter_call_overlay_show_ended:
 * @self: a #NatterCallOverlay
 * @how: (nullable): how the call ended ("Call ended · 3:12", "No answer"),
 *   or %NULL for a call that is going on
 */
void
natter_call_overlay_show_ended (NatterCallOverlay *self, const char *how)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));

  if (how != NULL)
    gtk_label_set_label (self->ended_label, how);
  gtk_revealer_set_reveal_child (self->ended_revealer, how != NULL);
  gtk_widget_set_sensitive (self->controls, how == NULL);
  gtk_widget_set_visible (self->controls, how == NULL);
}

/**
 * natter_call_overlay_get_call:
 * @self: a #NatterCallOverlay
 *
 * Returns: (transfer none) (nullable): the call shown
 */
NatterCall *
natter_call_overlay_get_call (NatterCallOverlay *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_OVERLAY (self), NULL);

  return self->call;
}

/**
 * natter_call_overlay_set_call:
 * @self: a #NatterCallOverlay
 * @call: (nullable): the call to show; its video goes to the overlay
 */
void
natter_call_overlay_set_call (NatterCallOverlay *self, NatterCall *call)
{
  g_return_if_fail (NATTER_IS_CALL_OVERLAY (self));
  g_return_if_fail (call == NULL || NATTER_IS_CALL (call));

  if (!g_set_object (&self->call, call))
    return;

  self->call_was_connected = FALSE;
  g_signal_group_set_target (self->call_signals, call);
  natter_call_video_set_call (self->video, call);
  update_from_call (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CALL]);
}
