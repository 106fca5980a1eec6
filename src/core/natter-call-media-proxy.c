/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-media-proxy"

#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>

#include "natter-call-media-dbus.h"
#include "natter-call-media-launch.h"
#include "natter-call-media-proxy.h"

/* A call's media in a process of its own (issue 20): natter-call-media
 * runs the NatterCallPipeline; this object stands in for it in the app and
 * speaks to it over a private D-Bus connection on a socketpair. When the
 * call ends the helper exits, and with it libnice, libcrypto, libsrtp2,
 * libvpx, webrtc-audio-processing and the GStreamer plugins, which a
 * process that loaded them never gives back. Decoded frames come as memfds
 * (see VideoFrame in natter-call-media-dbus.c) and leave as the
 * video-frame signal, for the app to wrap in a GdkMemoryTexture: the app
 * maps no codec, and a frame costs one mmap, no copy. */

enum {
  PROP_0,
  PROP_STATE,
  PROP_WITH_VIDEO,
  PROP_CAMERA_ENABLED,
  PROP_STATS,
  PROP_BANDWIDTH_ESTIMATE,
  PROP_VIDEO_REDUCED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum { SIGNAL_VIDEO_FRAME, SIGNAL_FIRST_REMOTE_MEDIA, N_SIGNALS };

static guint signals[N_SIGNALS];

/* The newest frame of each view, handed from GDBus's worker thread to the
 * main context; a busy main loop drops frames instead of queueing them. */
typedef struct {
  GMutex lock;
  GWeakRef proxy;
  GMainContext *context;
  GBytes *pending[2]; /* remote, local */
  guint width[2];
  guint height[2];
  guint stride[2];
  gboolean idle_pending;
} FrameInbox;

struct _NatterCallMediaProxy {
  GObject parent_instance;

  GSubprocess *helper;
  NatterCallMediaLaunch *launch; /* until its connection is up */
  GDBusConnection *connection;
  GQueue pending_calls; /* PendingCall: made before the connection was up */
  guint subscription_id;
  guint filter_id;
  FrameInbox *inbox;

  NatterCallPipelineState state;
  char *error_message;
  gboolean unrecoverable;
  gboolean with_video;
  gboolean camera_enabled;
  gboolean muted;
  gboolean closed;
  NatterCallStats *stats;
  guint bandwidth_estimate;
  gboolean bandwidth_limited;
  gboolean video_reduced;
  gint64 first_video_time;
  guint64 video_frames_shown;
};

static void natter_call_media_proxy_media_init (NatterCallMediaInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterCallMediaProxy,
                               natter_call_media_proxy,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NATTER_TYPE_CALL_MEDIA,
                                                      natter_call_media_proxy_media_init))

static char *helper_path;

/* A helper spawned when a call starts ringing or is placed, so that its
 * start (exec, gst_init, the plugins' preload) is done before accept. */
static NatterCallMediaLaunch *spare_launch;

typedef struct {
  char *method;
  GVariant *parameters; /* owned, nullable */
} PendingCall;

static void
pending_call_free (PendingCall *call)
{
  g_free (call->method);
  g_clear_pointer (&call->parameters, g_variant_unref);
  g_free (call);
}

static void
frame_inbox_clear (FrameInbox *inbox)
{
  g_weak_ref_clear (&inbox->proxy);
  for (guint i = 0; i < G_N_ELEMENTS (inbox->pending); i++)
    g_clear_pointer (&inbox->pending[i], g_bytes_unref);
  g_main_context_unref (inbox->context);
  g_mutex_clear (&inbox->lock);
}

static void
frame_inbox_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, (GDestroyNotify) frame_inbox_clear);
}

typedef struct {
  void *pixels;
  gsize size;
} MappedFrame;

static void
mapped_frame_free (gpointer data)
{
  MappedFrame *frame = data;

  munmap (frame->pixels, frame->size);
  g_free (frame);
}

static gboolean
on_frames_idle (gpointer user_data)
{
  FrameInbox *inbox = user_data;
  g_autoptr (NatterCallMediaProxy) self = g_weak_ref_get (&inbox->proxy);
  GBytes *frames[2];
  guint width[2], height[2], stride[2];

  g_mutex_lock (&inbox->lock);
  inbox->idle_pending = FALSE;
  for (guint i = 0; i < 2; i++) {
    frames[i] = g_steal_pointer (&inbox->pending[i]);
    width[i] = inbox->width[i];
    height[i] = inbox->height[i];
    stride[i] = inbox->stride[i];
  }
  g_mutex_unlock (&inbox->lock);

  for (guint i = 0; i < 2; i++) {
    if (frames[i] == NULL)
      continue;
    if (self != NULL && !self->closed) {
      if (i == 0)
        self->video_frames_shown++;
      g_signal_emit (self, signals[SIGNAL_VIDEO_FRAME], 0, i == 1, width[i], height[i], stride[i],
                     frames[i]);
    }
    g_bytes_unref (frames[i]);
  }
  return G_SOURCE_REMOVE;
}

/* GDBus's worker thread: VideoFrame carries a memfd, which the signal
 * subscription API would not hand over. */
static GDBusMessage *
filter_video_frames (GDBusConnection *connection,
                     GDBusMessage *message,
                     gboolean incoming,
                     gpointer user_data)
{
  FrameInbox *inbox = user_data;
  GUnixFDList *fd_list;
  gboolean local;
  guint width, height, stride;
  gint32 handle;
  int fd;
  gsize size;
  void *pixels;
  MappedFrame *frame;
  GBytes *bytes;

  if (!incoming || g_dbus_message_get_message_type (message) != G_DBUS_MESSAGE_TYPE_SIGNAL ||
      g_strcmp0 (g_dbus_message_get_member (message), "VideoFrame") != 0)
    return message;
  if (!g_variant_is_of_type (g_dbus_message_get_body (message), G_VARIANT_TYPE ("(buuuh)")))
    return message;

  g_variant_get (g_dbus_message_get_body (message), "(buuuh)", &local, &width, &height, &stride,
                 &handle);
  fd_list = g_dbus_message_get_unix_fd_list (message);
  fd = fd_list != NULL ? g_unix_fd_list_get (fd_list, handle, NULL) : -1;
  g_object_unref (message);
  if (fd < 0)
    return NULL;

  size = (gsize) stride * height;
  pixels = size > 0 && width > 0 && stride >= width * 4
             ? mmap (NULL, size, PROT_READ, MAP_SHARED, fd, 0)
             : MAP_FAILED;
  close (fd);
  if (pixels == MAP_FAILED)
    return NULL;

  frame = g_new (MappedFrame, 1);
  frame->pixels = pixels;
  frame->size = size;
  bytes = g_bytes_new_with_free_func (pixels, size, mapped_frame_free, frame);

  g_mutex_lock (&inbox->lock);
  g_clear_pointer (&inbox->pending[local ? 1 : 0], g_bytes_unref);
  inbox->pending[local ? 1 : 0] = bytes;
  inbox->width[local ? 1 : 0] = width;
  inbox->height[local ? 1 : 0] = height;
  inbox->stride[local ? 1 : 0] = stride;
  if (!inbox->idle_pending) {
    GSource *source = g_idle_source_new ();

    inbox->idle_pending = TRUE;
    g_source_set_priority (source, G_PRIORITY_HIGH_IDLE);
    g_source_set_callback (source, on_frames_idle, g_atomic_rc_box_acquire (inbox),
                           frame_inbox_release);
    g_source_attach (source, inbox->context);
    g_source_unref (source);
  }
  g_mutex_unlock (&inbox->lock);
  return NULL;
}

static void
set_state (NatterCallMediaProxy *self, NatterCallPipelineState state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
on_helper_signal (GDBusConnection *connection,
                  const char *sender_name,
                  const char *object_path,
                  const char *interface_name,
                  const char *signal_name,
                  GVariant *parameters,
                  gpointer user_data)
{
  NatterCallMediaProxy *self = user_data;

  if (self->closed)
    return;

  if (g_str_equal (signal_name, "State") &&
      g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(usb)"))) {
    guint state;
    const char *error;

    g_variant_get (parameters, "(u&sb)", &state, &error, &self->unrecoverable);
    g_free (self->error_message);
    self->error_message = *error != '\0' ? g_strdup (error) : NULL;
    if (state <= NATTER_CALL_PIPELINE_STATE_CLOSED)
      set_state (self, state);
  } else if (g_str_equal (signal_name, "CameraEnabled") &&
             g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(b)"))) {
    gboolean enabled;

    g_variant_get (parameters, "(b)", &enabled);
    if (enabled != self->camera_enabled) {
      self->camera_enabled = enabled;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAMERA_ENABLED]);
    }
  } else if (g_str_equal (signal_name, "LocalDescription") &&
             g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(ss)"))) {
    const char *type, *sdp;

    g_variant_get (parameters, "(&s&s)", &type, &sdp);
    g_signal_emit_by_name (self, "local-description", type, sdp);
  } else if (g_str_equal (signal_name, "LocalCandidate") &&
             g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(usb)"))) {
    guint mline;
    const char *candidate;
    gboolean end;

    g_variant_get (parameters, "(u&sb)", &mline, &candidate, &end);
    g_signal_emit_by_name (self, "local-candidate", mline, end ? NULL : candidate);
  } else if (g_str_equal (signal_name, "Stats") &&
             g_variant_is_of_type (parameters, G_VARIANT_TYPE ("((dddtttttttttt))"))) {
    NatterCallStats *stats = natter_call_stats_new ();

    g_variant_get (parameters, "((dddtttttttttt))", &stats->round_trip_time_ms, &stats->packet_loss,
                   &stats->send_packet_loss, &stats->packets_received, &stats->packets_lost,
                   &stats->audio_send_bitrate, &stats->audio_receive_bitrate,
                   &stats->video_send_bitrate, &stats->video_receive_bitrate,
                   &stats->audio_packets_played, &stats->audio_packets_concealed,
                   &stats->audio_packets_rebuilt, &stats->audio_packets_concealed_silent);
    g_clear_pointer (&self->stats, natter_call_stats_free);
    self->stats = stats;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATS]);
  } else if (g_str_equal (signal_name, "Adaptation") &&
             g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(ubb)"))) {
    gboolean reduced;

    g_variant_get (parameters, "(ubb)", &self->bandwidth_estimate, &self->bandwidth_limited,
                   &reduced);
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BANDWIDTH_ESTIMATE]);
    if (reduced != self->video_reduced) {
      self->video_reduced = reduced;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIDEO_REDUCED]);
    }
  } else if (g_str_equal (signal_name, "FirstRemoteMedia") &&
             g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(s)"))) {
    const char *kind;

    g_variant_get (parameters, "(&s)", &kind);
    if (g_str_equal (kind, "video") && self->first_video_time == 0)
      self->first_video_time = g_get_monotonic_time ();
    g_signal_emit (self, signals[SIGNAL_FIRST_REMOTE_MEDIA], 0, kind);
  }
}

/* The helper crashed or was killed: no new session brings it back. */
static void
on_connection_closed (GDBusConnection *connection,
                      gboolean remote_peer_vanished,
                      GError *error,
                      gpointer user_data)
{
  NatterCallMediaProxy *self = user_data;

  if (self->closed)
    return;
  g_message ("The call's media process (natter-call-media) stopped");
  g_free (self->error_message);
  self->error_message = g_strdup ("The call's media process stopped unexpectedly");
  self->unrecoverable = TRUE;
  set_state (self, NATTER_CALL_PIPELINE_STATE_FAILED);
}

/* @parameters: (transfer full) (nullable): floating, or a reference given
 * up (a queued call's) */
static void
call_helper (NatterCallMediaProxy *self, const char *method, GVariant *parameters)
{
  g_autoptr (GVariant) owned = parameters != NULL ? g_variant_take_ref (parameters) : NULL;

  /* Before the connection is up: sent, in order, when it is. */
  if (self->launch != NULL) {
    PendingCall *call = g_new0 (PendingCall, 1);

    call->method = g_strdup (method);
    call->parameters = g_steal_pointer (&owned);
    g_queue_push_tail (&self->pending_calls, call);
    return;
  }
  /* No reply asked for: the helper reports failures through State, and
   * the connection keeps the calls in order. */
  if (self->connection == NULL || g_dbus_connection_is_closed (self->connection))
    return;
  g_dbus_connection_call (self->connection, NULL, NATTER_CALL_MEDIA_DBUS_PATH,
                          NATTER_CALL_MEDIA_DBUS_INTERFACE, method, owned, NULL,
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL, NULL);
}

static void
natter_call_media_proxy_get_property (GObject *object,
                                      guint prop_id,
                                      GValue *value,
                                      GParamSpec *pspec)
{
  NatterCallMediaProxy *self = NATTER_CALL_MEDIA_PROXY (object);

  switch (prop_id) {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_WITH_VIDEO:
      g_value_set_boolean (value, self->with_video);
      break;
    case PROP_CAMERA_ENABLED:
      g_value_set_boolean (value, self->camera_enabled);
      break;
    case PROP_STATS:
      g_value_set_boxed (value, self->stats);
      break;
    case PROP_BANDWIDTH_ESTIMATE:
      g_value_set_uint (value, self->bandwidth_estimate);
      break;
    case PROP_VIDEO_REDUCED:
      g_value_set_boolean (value, self->video_reduced);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_media_proxy_dispose (GObject *object)
{
  NatterCallMediaProxy *self = NATTER_CALL_MEDIA_PROXY (object);

  natter_call_media_close (NATTER_CALL_MEDIA (self));
  if (self->launch != NULL) {
    g_signal_handlers_disconnect_by_data (self->launch, self);
    natter_call_media_launch_cancel (self->launch);
    g_clear_object (&self->launch);
  }
  g_queue_clear_full (&self->pending_calls, (GDestroyNotify) pending_call_free);
  if (self->connection != NULL) {
    g_signal_handlers_disconnect_by_data (self->connection, self);
    if (self->subscription_id != 0)
      g_dbus_connection_signal_unsubscribe (self->connection, self->subscription_id);
    if (self->filter_id != 0)
      g_dbus_connection_remove_filter (self->connection, self->filter_id);
    self->subscription_id = 0;
    self->filter_id = 0;
    /* Flushes Close; the helper exits when it reads it or sees the end. */
    g_dbus_connection_close (self->connection, NULL, NULL, NULL);
  }
  g_clear_object (&self->connection);
  /* GSubprocess reaps the helper when it exits. */
  g_clear_object (&self->helper);
  if (self->inbox != NULL)
    frame_inbox_release (g_steal_pointer (&self->inbox));

  G_OBJECT_CLASS (natter_call_media_proxy_parent_class)->dispose (object);
}

static void
natter_call_media_proxy_finalize (GObject *object)
{
  NatterCallMediaProxy *self = NATTER_CALL_MEDIA_PROXY (object);

  g_free (self->error_message);
  g_clear_pointer (&self->stats, natter_call_stats_free);

  G_OBJECT_CLASS (natter_call_media_proxy_parent_class)->finalize (object);
}

static void
natter_call_media_proxy_class_init (NatterCallMediaProxyClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags readable = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = natter_call_media_proxy_get_property;
  object_class->dispose = natter_call_media_proxy_dispose;
  object_class->finalize = natter_call_media_proxy_finalize;

  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, NATTER_TYPE_CALL_PIPELINE_STATE,
                                              NATTER_CALL_PIPELINE_STATE_NEW, readable);
  properties[PROP_WITH_VIDEO] = g_param_spec_boolean ("with-video", NULL, NULL, FALSE, readable);
  properties[PROP_CAMERA_ENABLED] =
    g_param_spec_boolean ("camera-enabled", NULL, NULL, TRUE, readable);
  properties[PROP_STATS] =
    g_param_spec_boxed ("stats", NULL, NULL, NATTER_TYPE_CALL_STATS, readable);
  properties[PROP_BANDWIDTH_ESTIMATE] =
    g_param_spec_uint ("bandwidth-estimate", NULL, NULL, 0, G_MAXUINT, 0, readable);
  properties[PROP_VIDEO_REDUCED] =
    g_param_spec_boolean ("video-reduced", NULL, NULL, FALSE, readable);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterCallMediaProxy::video-frame:
   * @local: %TRUE for the camera's own picture (the self view)
   * @width: in pixels
   * @height: in pixels
   * @stride: bytes per row
   * @pixels: RGBA, mapped from the helper's memfd
   *
   * A decoded frame to show, on the main context.
   */
  signals[SIGNAL_VIDEO_FRAME] = g_signal_new (
    "video-frame", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
    5, G_TYPE_BOOLEAN, G_TYPE_UINT, G_TYPE_UINT, G_TYPE_UINT, G_TYPE_BYTES);
  /**
   * NatterCallMediaProxy::first-remote-media:
   * @kind: "audio" or "video"
   */
  signals[SIGNAL_FIRST_REMOTE_MEDIA] =
    g_signal_new ("first-remote-media", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
natter_call_media_proxy_init (NatterCallMediaProxy *self)
{
  self->camera_enabled = TRUE;
  self->stats = natter_call_stats_new ();
}

static NatterCallPipelineState
proxy_get_state (NatterCallMedia *media)
{
  return NATTER_CALL_MEDIA_PROXY (media)->state;
}

static const char *
proxy_get_error_message (NatterCallMedia *media)
{
  return NATTER_CALL_MEDIA_PROXY (media)->error_message;
}

static gboolean
proxy_get_unrecoverable (NatterCallMedia *media)
{
  return NATTER_CALL_MEDIA_PROXY (media)->unrecoverable;
}

static gboolean
proxy_get_with_video (NatterCallMedia *media)
{
  return NATTER_CALL_MEDIA_PROXY (media)->with_video;
}

static gboolean
proxy_get_camera_enabled (NatterCallMedia *media)
{
  return NATTER_CALL_MEDIA_PROXY (media)->camera_enabled;
}

static const NatterCallStats *
proxy_get_stats (NatterCallMedia *media)
{
  return NATTER_CALL_MEDIA_PROXY (media)->stats;
}

static guint
proxy_get_bandwidth_estimate (NatterCallMedia *media)
{
  return NATTER_CALL_MEDIA_PROXY (media)->bandwidth_estimate;
}

static gboolean
proxy_get_bandwidth_limited (NatterCallMedia *media)
{
  return NATTER_CALL_MEDIA_PROXY (media)->bandwidth_limited;
}

static gboolean
proxy_get_video_reduced (NatterCallMedia *media)
{
  return NATTER_CALL_MEDIA_PROXY (media)->video_reduced;
}

/* The helper makes its own sinks and sends the frames. */
static void
proxy_set_video_sink (NatterCallMedia *media, GstElement *sink)
{
}

static void
proxy_set_ice_servers (NatterCallMedia *media, GPtrArray *ice_servers)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(asss)"));
  for (guint i = 0; ice_servers != NULL && i < ice_servers->len; i++) {
    NatterIceServer *server = g_ptr_array_index (ice_servers, i);
    const char *const empty[] = { NULL };

    g_variant_builder_add (&builder, "(^asss)",
                           server->urls != NULL ? (const char *const *) server->urls : empty,
                           server->username != NULL ? server->username : "",
                           server->credential != NULL ? server->credential : "");
  }
  call_helper (NATTER_CALL_MEDIA_PROXY (media), "SetIceServers",
               g_variant_new ("(a(asss))", &builder));
}

static const char *
device_name (NatterDevice *device)
{
  return device != NULL ? natter_device_get_display_name (device) : "";
}

/* By name: a device does not cross processes; the helper's own device
 * monitor finds it again. */
static void
proxy_set_devices (NatterCallMedia *media,
                   NatterDevice *microphone,
                   NatterDevice *camera,
                   NatterDevice *speaker)
{
  if (microphone == NULL && camera == NULL && speaker == NULL)
    return;
  call_helper (
    NATTER_CALL_MEDIA_PROXY (media), "SetDevices",
    g_variant_new ("(sss)", device_name (microphone), device_name (camera), device_name (speaker)));
}

static void
proxy_set_muted (NatterCallMedia *media, gboolean muted)
{
  NatterCallMediaProxy *self = NATTER_CALL_MEDIA_PROXY (media);

  self->muted = muted;
  call_helper (self, "SetMuted", g_variant_new ("(b)", muted));
}

static void
proxy_set_camera_enabled (NatterCallMedia *media, gboolean enabled)
{
  NatterCallMediaProxy *self = NATTER_CALL_MEDIA_PROXY (media);

  if (self->camera_enabled != enabled) {
    self->camera_enabled = enabled;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAMERA_ENABLED]);
  }
  call_helper (self, "SetCameraEnabled", g_variant_new ("(b)", enabled));
}

static gboolean
proxy_start_offer (NatterCallMedia *media, GError **error)
{
  NatterCallMediaProxy *self = NATTER_CALL_MEDIA_PROXY (media);

  set_state (self, NATTER_CALL_PIPELINE_STATE_NEGOTIATING);
  call_helper (self, "StartOffer", NULL);
  return TRUE;
}

static gboolean
proxy_set_remote_description (NatterCallMedia *media,
                              const char *type,
                              const char *sdp,
                              GError **error)
{
  call_helper (NATTER_CALL_MEDIA_PROXY (media), "SetRemoteDescription",
               g_variant_new ("(ss)", type, sdp));
  return TRUE;
}

static void
proxy_add_remote_candidate (NatterCallMedia *media, guint sdp_mline_index, const char *candidate)
{
  call_helper (NATTER_CALL_MEDIA_PROXY (media), "AddRemoteCandidate",
               g_variant_new ("(us)", sdp_mline_index, candidate != NULL ? candidate : ""));
}

static void
proxy_update_stats (NatterCallMedia *media)
{
  call_helper (NATTER_CALL_MEDIA_PROXY (media), "UpdateStats", NULL);
}

static void
proxy_close (NatterCallMedia *media)
{
  NatterCallMediaProxy *self = NATTER_CALL_MEDIA_PROXY (media);

  if (self->closed)
    return;
  if (self->launch != NULL) {
    /* Never connected: nothing to close but the launch; the helper
     * exits when its socket closes. */
    g_signal_handlers_disconnect_by_data (self->launch, self);
    natter_call_media_launch_cancel (self->launch);
    g_clear_object (&self->launch);
    g_queue_clear_full (&self->pending_calls, (GDestroyNotify) pending_call_free);
  }
  call_helper (self, "Close", NULL);
  self->closed = TRUE;
  set_state (self, NATTER_CALL_PIPELINE_STATE_CLOSED);
}

static void
natter_call_media_proxy_media_init (NatterCallMediaInterface *iface)
{
  iface->get_state = proxy_get_state;
  iface->get_error_message = proxy_get_error_message;
  iface->get_unrecoverable = proxy_get_unrecoverable;
  iface->get_with_video = proxy_get_with_video;
  iface->get_camera_enabled = proxy_get_camera_enabled;
  iface->get_stats = proxy_get_stats;
  iface->get_bandwidth_estimate = proxy_get_bandwidth_estimate;
  iface->get_bandwidth_limited = proxy_get_bandwidth_limited;
  iface->get_video_reduced = proxy_get_video_reduced;
  iface->set_video_sink = proxy_set_video_sink;
  iface->set_ice_servers = proxy_set_ice_servers;
  iface->set_devices = proxy_set_devices;
  iface->set_muted = proxy_set_muted;
  iface->set_camera_enabled = proxy_set_camera_enabled;
  iface->start_offer = proxy_start_offer;
  iface->set_remote_description = proxy_set_remote_description;
  iface->add_remote_candidate = proxy_add_remote_candidate;
  iface->update_stats = proxy_update_stats;
  iface->close = proxy_close;
}

/**
 * natter_call_media_proxy_set_helper_path:
 * @path: (nullable): the natter-call-media executable; %NULL keeps calls
 *   in this process
 *
 * Once per process, before its first call (the app's main does it).
 */
void
natter_call_media_proxy_set_helper_path (const char *path)
{
  g_free (helper_path);
  helper_path = g_strdup (path);
}

/**
 * natter_call_media_proxy_get_helper_path:
 *
 * Returns: (nullable): the helper calls run in, or %NULL for in-process
 */
const char *
natter_call_media_proxy_get_helper_path (void)
{
  return helper_path;
}

/**
 * natter_call_media_proxy_prepare:
 *
 * Starts a helper for the next call, unless one waits already: when a call
 * starts ringing or is placed, so that the helper's start-up is not
 * between accept and the first frame.
 */
void
natter_call_media_proxy_prepare (void)
{
  g_autoptr (GError) error = NULL;

  if (helper_path == NULL || spare_launch != NULL)
    return;
  /* The call itself fails with this, when it builds its media. */
  spare_launch = natter_call_media_launch_new (helper_path, &error);
  if (spare_launch == NULL)
    g_message ("%s", error->message);
}

/**
 * natter_call_media_proxy_discard_spare:
 *
 * The helper natter_call_media_proxy_prepare() started exits unused.
 */
void
natter_call_media_proxy_discard_spare (void)
{
  if (spare_launch != NULL)
    natter_call_media_launch_cancel (spare_launch);
  g_clear_object (&spare_launch);
}

/* The helper's connection is up: what the call asked meanwhile goes out,
 * in order. */
static void
attach_connection (NatterCallMediaProxy *self, GDBusConnection *connection)
{
  PendingCall *call;

  self->connection = g_object_ref (connection);
  self->subscription_id = g_dbus_connection_signal_subscribe (
    self->connection, NULL, NATTER_CALL_MEDIA_DBUS_INTERFACE, NULL, NATTER_CALL_MEDIA_DBUS_PATH,
    NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_helper_signal, self, NULL);
  self->filter_id =
    g_dbus_connection_add_filter (self->connection, filter_video_frames,
                                  g_atomic_rc_box_acquire (self->inbox), frame_inbox_release);
  g_signal_connect (self->connection, "closed", G_CALLBACK (on_connection_closed), self);
  g_dbus_connection_start_message_processing (self->connection);
  if (g_dbus_connection_is_closed (self->connection)) {
    on_connection_closed (self->connection, TRUE, NULL, self);
    return;
  }
  while ((call = g_queue_pop_head (&self->pending_calls)) != NULL) {
    call_helper (self, call->method, g_steal_pointer (&call->parameters));
    pending_call_free (call);
  }
}

static void
fail_to_start (NatterCallMediaProxy *self, const char *message)
{
  g_free (self->error_message);
  self->error_message = g_strdup (message);
  self->unrecoverable = TRUE;
  set_state (self, NATTER_CALL_PIPELINE_STATE_FAILED);
}

static void
on_launch_done (NatterCallMediaLaunch *launch, NatterCallMediaProxy *self)
{
  g_autoptr (NatterCallMediaLaunch) done = g_steal_pointer (&self->launch);
  GDBusConnection *connection = natter_call_media_launch_get_connection (launch);

  g_signal_handlers_disconnect_by_data (launch, self);
  if (connection == NULL) {
    const GError *error = natter_call_media_launch_get_error (launch);

    g_queue_clear_full (&self->pending_calls, (GDestroyNotify) pending_call_free);
    g_message ("%s", error != NULL ? error->message : "no connection");
    fail_to_start (self, "The call's media process stopped as it started");
    return;
  }
  attach_connection (self, connection);
}

/**
 * natter_call_media_proxy_new:
 * @with_video: whether to send video
 * @error: where a helper that cannot start says so
 *
 * Does not wait for the helper: what the call asks before its connection
 * is up is sent when it is.
 *
 * Returns: (transfer full) (nullable): the media side of one call, in the
 *   helper natter_call_media_proxy_prepare() started or in a new one
 */
NatterCallMedia *
natter_call_media_proxy_new (gboolean with_video, GError **error)
{
  g_autoptr (NatterCallMediaProxy) self = NULL;
  g_autoptr (NatterCallMediaLaunch) launch = NULL;
  FrameInbox *inbox;

  g_return_val_if_fail (helper_path != NULL, NULL);

  if (spare_launch != NULL && (!natter_call_media_launch_get_done (spare_launch) ||
                               natter_call_media_launch_get_connection (spare_launch) != NULL)) {
    launch = g_steal_pointer (&spare_launch);
  } else {
    natter_call_media_proxy_discard_spare ();
    launch = natter_call_media_launch_new (helper_path, error);
    if (launch == NULL)
      return NULL;
  }

  self = g_object_new (NATTER_TYPE_CALL_MEDIA_PROXY, NULL);
  self->with_video = with_video;
  self->helper = g_object_ref (natter_call_media_launch_get_helper (launch));

  inbox = g_atomic_rc_box_new0 (FrameInbox);
  g_mutex_init (&inbox->lock);
  g_weak_ref_init (&inbox->proxy, self);
  inbox->context = g_main_context_ref_thread_default ();
  self->inbox = inbox;

  if (natter_call_media_launch_get_done (launch)) {
    attach_connection (self, natter_call_media_launch_get_connection (launch));
    if (self->state == NATTER_CALL_PIPELINE_STATE_FAILED) {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                           "The call's media process stopped as it started");
      return NULL;
    }
  } else {
    self->launch = g_steal_pointer (&launch);
    g_signal_connect (self->launch, "done", G_CALLBACK (on_launch_done), self);
  }
  call_helper (self, "Create", g_variant_new ("(b)", with_video));
  return NATTER_CALL_MEDIA (g_steal_pointer (&self));
}

/**
 * natter_call_media_proxy_get_helper_pid:
 * @self: a #NatterCallMediaProxy
 *
 * Returns: the helper's process id, or 0 once it exited
 */
GPid
natter_call_media_proxy_get_helper_pid (NatterCallMediaProxy *self)
{
  const char *id;

  g_return_val_if_fail (NATTER_IS_CALL_MEDIA_PROXY (self), 0);

  id = self->helper != NULL ? g_subprocess_get_identifier (self->helper) : NULL;
  return id != NULL ? (GPid) g_ascii_strtoll (id, NULL, 10) : 0;
}

/**
 * natter_call_media_proxy_get_first_video_time:
 * @self: a #NatterCallMediaProxy
 *
 * Returns: g_get_monotonic_time() when the helper said it decoded the
 *   first remote frame, or 0
 */
gint64
natter_call_media_proxy_get_first_video_time (NatterCallMediaProxy *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA_PROXY (self), 0);
  return self->first_video_time;
}

/**
 * natter_call_media_proxy_get_video_frames_shown:
 * @self: a #NatterCallMediaProxy
 *
 * Returns: remote frames handed to the app so far
 */
guint64
natter_call_media_proxy_get_video_frames_shown (NatterCallMediaProxy *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA_PROXY (self), 0);
  return self->video_frames_shown;
}
