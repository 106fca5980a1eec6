/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-media-service"

#define _GNU_SOURCE
#include "config.h"

#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

#include "natter-call-media-dbus.h"
#include "natter-call-media-service.h"
#include "natter-call-pipeline.h"
#include "natter-types.h"

/* The helper's side of org.natter.CallMedia1: one NatterCallPipeline,
 * driven by the app's NatterCallMediaProxy. Its decoded frames, the peer's
 * and the camera's own, leave as memfds (VideoFrame), each sent from the
 * appsink's streaming thread as it arrives: GDBusConnection is thread-safe
 * and keeps no frame waiting on this process's main loop. */

enum { PROP_0, PROP_FINISHED, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterCallMediaService {
  GObject parent_instance;

  GDBusConnection *connection;
  guint registration_id;
  NatterCallPipeline *pipeline;
  gboolean finished;
};

G_DEFINE_FINAL_TYPE (NatterCallMediaService, natter_call_media_service, G_TYPE_OBJECT)

static void
emit (NatterCallMediaService *self, const char *name, GVariant *parameters)
{
  g_dbus_connection_emit_signal (self->connection, NULL, NATTER_CALL_MEDIA_DBUS_PATH,
                                 NATTER_CALL_MEDIA_DBUS_INTERFACE, name, parameters, NULL);
}

static void
emit_state (NatterCallMediaService *self,
            NatterCallPipelineState state,
            const char *error,
            gboolean unrecoverable)
{
  emit (self, "State", g_variant_new ("(usb)", state, error != NULL ? error : "", unrecoverable));
}

static void
on_pipeline_state (NatterCallPipeline *pipeline, GParamSpec *pspec, NatterCallMediaService *self)
{
  emit_state (self, natter_call_pipeline_get_state (pipeline),
              natter_call_pipeline_get_error_message (pipeline),
              natter_call_pipeline_get_microphone_failed (pipeline));
}

static void
on_pipeline_camera_enabled (NatterCallPipeline *pipeline,
                            GParamSpec *pspec,
                            NatterCallMediaService *self)
{
  emit (self, "CameraEnabled",
        g_variant_new ("(b)", natter_call_pipeline_get_camera_enabled (pipeline)));
}

static void
on_pipeline_stats (NatterCallPipeline *pipeline, GParamSpec *pspec, NatterCallMediaService *self)
{
  const NatterCallStats *stats = natter_call_pipeline_get_stats (pipeline);

  if (stats == NULL)
    return;
  emit (self, "Stats",
        g_variant_new ("((dddtttttttttt))", stats->round_trip_time_ms, stats->packet_loss,
                       stats->send_packet_loss, stats->packets_received, stats->packets_lost,
                       stats->audio_send_bitrate, stats->audio_receive_bitrate,
                       stats->video_send_bitrate, stats->video_receive_bitrate,
                       stats->audio_packets_played, stats->audio_packets_concealed,
                       stats->audio_packets_rebuilt, stats->audio_packets_concealed_silent));
}

static void
on_pipeline_adaptation (NatterCallPipeline *pipeline,
                        GParamSpec *pspec,
                        NatterCallMediaService *self)
{
  emit (self, "Adaptation",
        g_variant_new ("(ubb)", natter_call_pipeline_get_bandwidth_estimate (pipeline),
                       natter_call_pipeline_get_bandwidth_limited (pipeline),
                       natter_call_pipeline_get_video_reduced (pipeline)));
}

static void
on_local_description (NatterCallPipeline *pipeline,
                      const char *type,
                      const char *sdp,
                      NatterCallMediaService *self)
{
  emit (self, "LocalDescription", g_variant_new ("(ss)", type, sdp));
}

static void
on_local_candidate (NatterCallPipeline *pipeline,
                    guint mline,
                    const char *candidate,
                    NatterCallMediaService *self)
{
  emit (self, "LocalCandidate",
        g_variant_new ("(usb)", mline, candidate != NULL ? candidate : "", candidate == NULL));
}

static void
on_first_remote_media (NatterCallPipeline *pipeline, const char *kind, NatterCallMediaService *self)
{
  emit (self, "FirstRemoteMedia", g_variant_new ("(s)", kind));
}

/* One frame, compact RGBA rows, in a sealed memfd: the app maps it read-only
 * and the seals keep this process from shrinking it under the app. */
static int
frame_to_memfd (GstVideoFrame *frame, guint *out_stride)
{
  guint height = GST_VIDEO_FRAME_HEIGHT (frame);
  guint stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);
  const guint8 *pixels = GST_VIDEO_FRAME_PLANE_DATA (frame, 0);
  gsize size = (gsize) stride * height;
  int fd = memfd_create ("natter-frame", MFD_CLOEXEC | MFD_ALLOW_SEALING);

  if (fd < 0)
    return -1;
  if (ftruncate (fd, (off_t) size) < 0 || pwrite (fd, pixels, size, 0) != (ssize_t) size ||
      fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
    close (fd);
    return -1;
  }
  *out_stride = stride;
  return fd;
}

/* Streaming thread. */
static GstFlowReturn
on_new_sample (GstAppSink *appsink, gpointer user_data)
{
  NatterCallMediaService *self = user_data;
  gboolean local = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (appsink), "natter-local"));
  g_autoptr (GstSample) sample = gst_app_sink_pull_sample (appsink);
  g_autoptr (GDBusMessage) message = NULL;
  g_autoptr (GUnixFDList) fd_list = NULL;
  GstVideoInfo info;
  GstVideoFrame frame;
  guint stride = 0;
  int fd;

  if (sample == NULL)
    return GST_FLOW_EOS;
  if (!gst_video_info_from_caps (&info, gst_sample_get_caps (sample)) ||
      !gst_video_frame_map (&frame, &info, gst_sample_get_buffer (sample), GST_MAP_READ))
    return GST_FLOW_OK;
  fd = frame_to_memfd (&frame, &stride);
  gst_video_frame_unmap (&frame);
  if (fd < 0)
    return GST_FLOW_OK;

  fd_list = g_unix_fd_list_new_from_array (&fd, 1);
  message = g_dbus_message_new_signal (NATTER_CALL_MEDIA_DBUS_PATH,
                                       NATTER_CALL_MEDIA_DBUS_INTERFACE, "VideoFrame");
  g_dbus_message_set_body (message,
                           g_variant_new ("(buuuh)", local, (guint) GST_VIDEO_INFO_WIDTH (&info),
                                          (guint) GST_VIDEO_INFO_HEIGHT (&info), stride, 0));
  g_dbus_message_set_unix_fd_list (message, fd_list);
  g_dbus_connection_send_message (self->connection, message, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL,
                                  NULL);
  return GST_FLOW_OK;
}

static GstElement *
create_frame_sink (NatterCallMediaService *self, gboolean local)
{
  GstAppSinkCallbacks callbacks = { .new_sample = on_new_sample };
  g_autoptr (GstCaps) caps = gst_caps_from_string ("video/x-raw,format=RGBA");
  g_autoptr (GstPad) pad = NULL;
  GstElement *bin = gst_bin_new (local ? "local-frames" : "remote-frames");
  GstElement *convert = gst_element_factory_make ("videoconvert", NULL);
  GstElement *appsink = gst_element_factory_make ("appsink", NULL);

  /* Not synced: a frame leaves as it is decoded (the jitter buffer has
   * smoothed the stream already) and the app shows it at its next paint.
   * Synced, each frame also waited out the pipeline's latency here, 74 to
   * 85 ms for the first one in natter-bench-app --calls (2026-12-07). */
  g_object_set (appsink, "caps", caps, "max-buffers", 1, "drop", TRUE, "sync", FALSE, NULL);
  g_object_set_data (G_OBJECT (appsink), "natter-local", GINT_TO_POINTER (local));
  gst_app_sink_set_callbacks (GST_APP_SINK (appsink), &callbacks, self, NULL);
  gst_bin_add_many (GST_BIN (bin), convert, appsink, NULL);
  gst_element_link (convert, appsink);
  pad = gst_element_get_static_pad (convert, "sink");
  gst_element_add_pad (bin, gst_ghost_pad_new ("sink", pad));
  return bin;
}

static GstDevice *
find_device (const char *device_class, const char *name)
{
  g_autoptr (GstDeviceMonitor) monitor = NULL;
  GList *devices;
  GstDevice *found = NULL;

  if (name == NULL || *name == '\0')
    return NULL;
  monitor = gst_device_monitor_new ();
  gst_device_monitor_add_filter (monitor, device_class, NULL);
  if (!gst_device_monitor_start (monitor))
    return NULL;
  devices = gst_device_monitor_get_devices (monitor);
  for (GList *l = devices; l != NULL && found == NULL; l = l->next) {
    g_autofree char *display_name = gst_device_get_display_name (l->data);

    if (g_strcmp0 (display_name, name) == 0)
      found = g_object_ref (l->data);
  }
  g_list_free_full (devices, gst_object_unref);
  gst_device_monitor_stop (monitor);
  return found;
}

static void
create_pipeline (NatterCallMediaService *self, gboolean with_video)
{
  if (self->pipeline != NULL)
    return;
  self->pipeline = natter_call_pipeline_new (with_video);
  if (with_video) {
    natter_call_pipeline_set_video_sink (self->pipeline, create_frame_sink (self, FALSE));
    natter_call_pipeline_set_local_video_sink (self->pipeline, create_frame_sink (self, TRUE));
  } else {
    /* The peer may still send video on an audio call's answer. */
    natter_call_pipeline_set_video_sink (self->pipeline, create_frame_sink (self, FALSE));
  }
  g_signal_connect (self->pipeline, "notify::state", G_CALLBACK (on_pipeline_state), self);
  g_signal_connect (self->pipeline, "notify::camera-enabled",
                    G_CALLBACK (on_pipeline_camera_enabled), self);
  g_signal_connect (self->pipeline, "notify::stats", G_CALLBACK (on_pipeline_stats), self);
  g_signal_connect (self->pipeline, "notify::bandwidth-estimate",
                    G_CALLBACK (on_pipeline_adaptation), self);
  g_signal_connect (self->pipeline, "notify::video-reduced", G_CALLBACK (on_pipeline_adaptation),
                    self);
  g_signal_connect (self->pipeline, "local-description", G_CALLBACK (on_local_description), self);
  g_signal_connect (self->pipeline, "local-candidate", G_CALLBACK (on_local_candidate), self);
  g_signal_connect (self->pipeline, "first-remote-media", G_CALLBACK (on_first_remote_media), self);
}

static void
set_ice_servers (NatterCallMediaService *self, GVariant *parameters)
{
  g_autoptr (GPtrArray) servers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_ice_server_free);
  g_autoptr (GVariantIter) iter = NULL;
  g_autofree const char **urls = NULL;
  const char *username, *credential;

  g_variant_get (parameters, "(a(asss))", &iter);
  while (g_variant_iter_next (iter, "(^a&s&s&s)", &urls, &username, &credential)) {
    g_ptr_array_add (servers, natter_ice_server_new (urls, *username != '\0' ? username : NULL,
                                                     *credential != '\0' ? credential : NULL));
    g_clear_pointer (&urls, g_free);
  }
  natter_call_pipeline_set_ice_servers (self->pipeline, servers);
}

static void
finish (NatterCallMediaService *self)
{
  if (self->pipeline != NULL) {
    g_signal_handlers_disconnect_by_data (self->pipeline, self);
    natter_call_pipeline_close (self->pipeline);
  }
  if (!self->finished) {
    self->finished = TRUE;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FINISHED]);
  }
}

static void
on_method_call (GDBusConnection *connection,
                const char *sender,
                const char *object_path,
                const char *interface_name,
                const char *method_name,
                GVariant *parameters,
                GDBusMethodInvocation *invocation,
                gpointer user_data)
{
  NatterCallMediaService *self = user_data;
  g_autoptr (GError) error = NULL;

  if (g_str_equal (method_name, "Create")) {
    gboolean with_video;

    g_variant_get (parameters, "(b)", &with_video);
    create_pipeline (self, with_video);
  } else if (g_str_equal (method_name, "Close")) {
    finish (self);
  } else if (self->pipeline == NULL) {
    g_dbus_method_invocation_return_error_literal (
      invocation, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED, "Create comes first");
    return;
  } else if (g_str_equal (method_name, "SetIceServers")) {
    set_ice_servers (self, parameters);
  } else if (g_str_equal (method_name, "SetDevices")) {
    const char *microphone, *camera, *speaker;
    g_autoptr (GstDevice) microphone_device = NULL;
    g_autoptr (GstDevice) camera_device = NULL;
    g_autoptr (GstDevice) speaker_device = NULL;

    g_variant_get (parameters, "(&s&s&s)", &microphone, &camera, &speaker);
    microphone_device = find_device ("Audio/Source", microphone);
    camera_device = find_device ("Video/Source", camera);
    speaker_device = find_device ("Audio/Sink", speaker);
    natter_call_pipeline_set_audio_source_device (self->pipeline, microphone_device);
    natter_call_pipeline_set_video_source_device (self->pipeline, camera_device);
    natter_call_pipeline_set_audio_sink_device (self->pipeline, speaker_device);
  } else if (g_str_equal (method_name, "SetMuted")) {
    gboolean muted;

    g_variant_get (parameters, "(b)", &muted);
    natter_call_pipeline_set_muted (self->pipeline, muted);
  } else if (g_str_equal (method_name, "SetCameraEnabled")) {
    gboolean enabled;

    g_variant_get (parameters, "(b)", &enabled);
    natter_call_pipeline_set_camera_enabled (self->pipeline, enabled);
  } else if (g_str_equal (method_name, "StartOffer")) {
    if (!natter_call_pipeline_start_offer (self->pipeline, &error))
      emit_state (self, NATTER_CALL_PIPELINE_STATE_FAILED, error->message, TRUE);
  } else if (g_str_equal (method_name, "SetRemoteDescription")) {
    const char *type, *sdp;

    g_variant_get (parameters, "(&s&s)", &type, &sdp);
    if (!natter_call_pipeline_set_remote_description (self->pipeline, type, sdp, &error)) {
      /* A bad answer to a restart is ignored, as in process; a bad offer
       * leaves nothing to answer with. */
      if (g_str_equal (type, "offer"))
        emit_state (self, NATTER_CALL_PIPELINE_STATE_FAILED, error->message, TRUE);
      else
        g_debug ("Ignoring an answer: %s", error->message);
    }
  } else if (g_str_equal (method_name, "AddRemoteCandidate")) {
    guint mline;
    const char *candidate;

    g_variant_get (parameters, "(u&s)", &mline, &candidate);
    natter_call_pipeline_add_remote_candidate (self->pipeline, mline,
                                               *candidate != '\0' ? candidate : NULL);
  } else if (g_str_equal (method_name, "UpdateStats")) {
    natter_call_pipeline_update_stats (self->pipeline);
  }
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static const GDBusInterfaceVTable interface_vtable = { .method_call = on_method_call };

static void
on_connection_closed (GDBusConnection *connection,
                      gboolean remote_peer_vanished,
                      GError *error,
                      NatterCallMediaService *self)
{
  finish (self);
}

static void
natter_call_media_service_get_property (GObject *object,
                                        guint prop_id,
                                        GValue *value,
                                        GParamSpec *pspec)
{
  NatterCallMediaService *self = NATTER_CALL_MEDIA_SERVICE (object);

  switch (prop_id) {
    case PROP_FINISHED:
      g_value_set_boolean (value, self->finished);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_media_service_dispose (GObject *object)
{
  NatterCallMediaService *self = NATTER_CALL_MEDIA_SERVICE (object);

  if (self->pipeline != NULL) {
    g_signal_handlers_disconnect_by_data (self->pipeline, self);
    natter_call_pipeline_close (self->pipeline);
  }
  g_clear_object (&self->pipeline);
  if (self->connection != NULL) {
    g_signal_handlers_disconnect_by_data (self->connection, self);
    if (self->registration_id != 0)
      g_dbus_connection_unregister_object (self->connection, self->registration_id);
    self->registration_id = 0;
  }
  g_clear_object (&self->connection);

  G_OBJECT_CLASS (natter_call_media_service_parent_class)->dispose (object);
}

static void
natter_call_media_service_class_init (NatterCallMediaServiceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_call_media_service_get_property;
  object_class->dispose = natter_call_media_service_dispose;

  /**
   * NatterCallMediaService:finished:
   *
   * The app closed the call or went away: the helper may exit.
   */
  properties[PROP_FINISHED] =
    g_param_spec_boolean ("finished", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_call_media_service_init (NatterCallMediaService *self)
{
}

/**
 * natter_call_media_service_new:
 * @connection: the private connection to the app
 * @error: where a failed registration says so
 *
 * Returns: (transfer full) (nullable): the service, exported on @connection
 */
NatterCallMediaService *
natter_call_media_service_new (GDBusConnection *connection, GError **error)
{
  g_autoptr (NatterCallMediaService) self = g_object_new (NATTER_TYPE_CALL_MEDIA_SERVICE, NULL);

  self->connection = g_object_ref (connection);
  self->registration_id = g_dbus_connection_register_object (
    connection, NATTER_CALL_MEDIA_DBUS_PATH, natter_call_media_dbus_get_interface_info (),
    &interface_vtable, self, NULL, error);
  if (self->registration_id == 0)
    return NULL;
  g_signal_connect (connection, "closed", G_CALLBACK (on_connection_closed), self);
  return g_steal_pointer (&self);
}

/**
 * natter_call_media_service_get_finished:
 * @self: a #NatterCallMediaService
 *
 * Returns: whether the call is over for this process
 */
gboolean
natter_call_media_service_get_finished (NatterCallMediaService *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA_SERVICE (self), FALSE);
  return self->finished;
}
