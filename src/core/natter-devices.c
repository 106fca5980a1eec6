/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-devices"

#include "config.h"

#include "natter-call-media-proxy.h"
#include "natter-device-monitor-process.h"
#include "natter-devices.h"

/* The microphones, cameras and speakers present, as #NatterDevice lists
 * that follow hot-plug, and the ones chosen. A GstDeviceMonitor in this
 * process finds them (core, natter-cli), or, when calls run in
 * natter-call-media (the app), that helper's --devices mode does
 * (#NatterDeviceMonitorProcess): the app loads no GStreamer for its lists
 * (issue 20). */

enum {
  PROP_0,
  PROP_MICROPHONE_NAME,
  PROP_CAMERA_NAME,
  PROP_SPEAKER_NAME,
  PROP_HAS_CAMERA,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

typedef enum { KIND_MICROPHONE, KIND_CAMERA, KIND_SPEAKER, N_KINDS } Kind;

static const char *const kind_classes[N_KINDS] = { "Audio/Source", "Video/Source", "Audio/Sink" };

struct _NatterDevices {
  GObject parent_instance;

  GstDeviceMonitor *monitor;
  guint bus_watch_id;
  NatterDeviceMonitorProcess *monitor_process;
  GListStore *stores[N_KINDS];
  char *chosen[N_KINDS]; /* display names, bound to GSettings by the app */
  gboolean has_camera;
  gboolean start_on_demand; /* natter_devices_ensure_started() starts it */
};

G_DEFINE_FINAL_TYPE (NatterDevices, natter_devices, G_TYPE_OBJECT)

static void
update_has_camera (NatterDevices *self)
{
  gboolean has_camera = g_list_model_get_n_items (G_LIST_MODEL (self->stores[KIND_CAMERA])) > 0;

  if (self->has_camera == has_camera)
    return;
  self->has_camera = has_camera;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_CAMERA]);
}

static int
device_kind (NatterDevice *device)
{
  for (int kind = 0; kind < N_KINDS; kind++) {
    if (natter_device_has_class (device, kind_classes[kind]))
      return kind;
  }
  return -1;
}

static gboolean
same_gst_device (gconstpointer item, gconstpointer device)
{
  return natter_device_get_gst_device ((NatterDevice *) item) ==
         natter_device_get_gst_device ((NatterDevice *) device);
}

static gboolean
same_name_and_class (gconstpointer item, gconstpointer device)
{
  return g_str_equal (natter_device_get_display_name ((NatterDevice *) item),
                      natter_device_get_display_name ((NatterDevice *) device)) &&
         g_str_equal (natter_device_get_device_class ((NatterDevice *) item),
                      natter_device_get_device_class ((NatterDevice *) device));
}

static void
add_device (NatterDevices *self, NatterDevice *device, GEqualFunc same)
{
  int kind = device_kind (device);
  guint position;

  if (kind < 0 || g_list_store_find_with_equal_func (self->stores[kind], device, same, &position))
    return;
  g_list_store_append (self->stores[kind], device);
  update_has_camera (self);
}

static void
remove_device (NatterDevices *self, NatterDevice *device, GEqualFunc same)
{
  guint position;

  for (int kind = 0; kind < N_KINDS; kind++) {
    if (g_list_store_find_with_equal_func (self->stores[kind], device, same, &position))
      g_list_store_remove (self->stores[kind], position);
  }
  update_has_camera (self);
}

static void
on_process_device_added (NatterDeviceMonitorProcess *process,
                         NatterDevice *device,
                         NatterDevices *self)
{
  add_device (self, device, same_name_and_class);
}

static void
on_process_device_removed (NatterDeviceMonitorProcess *process,
                           NatterDevice *device,
                           NatterDevices *self)
{
  remove_device (self, device, same_name_and_class);
}

static gboolean
on_bus_message (GstBus *bus, GstMessage *message, gpointer user_data)
{
  NatterDevices *self = user_data;
  g_autoptr (GstDevice) device = NULL;

  switch (GST_MESSAGE_TYPE (message)) {
    case GST_MESSAGE_DEVICE_ADDED:
      gst_message_parse_device_added (message, &device);
      natter_devices_add_device (self, device);
      break;
    case GST_MESSAGE_DEVICE_REMOVED:
      gst_message_parse_device_removed (message, &device);
      natter_devices_remove_device (self, device);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

static NatterDevice *
chosen_device (NatterDevices *self, Kind kind)
{
  GListModel *model = G_LIST_MODEL (self->stores[kind]);
  guint n = g_list_model_get_n_items (model);

  /* The remembered one if it is plugged in, otherwise the first. */
  for (guint i = 0; self->chosen[kind] != NULL && i < n; i++) {
    g_autoptr (NatterDevice) device = g_list_model_get_item (model, i);

    if (g_strcmp0 (natter_device_get_display_name (device), self->chosen[kind]) == 0)
      return g_steal_pointer (&device);
  }
  return n > 0 ? g_list_model_get_item (model, 0) : NULL;
}

static void
set_chosen (NatterDevices *self, Kind kind, const char *name, guint prop)
{
  if (g_strcmp0 (self->chosen[kind], name) == 0)
    return;
  g_free (self->chosen[kind]);
  self->chosen[kind] = g_strdup (name);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
natter_devices_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterDevices *self = NATTER_DEVICES (object);

  switch (prop_id) {
    case PROP_MICROPHONE_NAME:
      g_value_set_string (value, self->chosen[KIND_MICROPHONE]);
      break;
    case PROP_CAMERA_NAME:
      g_value_set_string (value, self->chosen[KIND_CAMERA]);
      break;
    case PROP_SPEAKER_NAME:
      g_value_set_string (value, self->chosen[KIND_SPEAKER]);
      break;
    case PROP_HAS_CAMERA:
      g_value_set_boolean (value, self->has_camera);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_devices_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  NatterDevices *self = NATTER_DEVICES (object);

  switch (prop_id) {
    case PROP_MICROPHONE_NAME:
      natter_devices_set_microphone_name (self, g_value_get_string (value));
      break;
    case PROP_CAMERA_NAME:
      natter_devices_set_camera_name (self, g_value_get_string (value));
      break;
    case PROP_SPEAKER_NAME:
      natter_devices_set_speaker_name (self, g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_devices_dispose (GObject *object)
{
  NatterDevices *self = NATTER_DEVICES (object);

  natter_devices_stop (self);
  g_clear_object (&self->monitor);
  g_clear_object (&self->monitor_process);
  for (int kind = 0; kind < N_KINDS; kind++)
    g_clear_object (&self->stores[kind]);

  G_OBJECT_CLASS (natter_devices_parent_class)->dispose (object);
}

static void
natter_devices_finalize (GObject *object)
{
  NatterDevices *self = NATTER_DEVICES (object);

  for (int kind = 0; kind < N_KINDS; kind++)
    g_free (self->chosen[kind]);

  G_OBJECT_CLASS (natter_devices_parent_class)->finalize (object);
}

static void
natter_devices_class_init (NatterDevicesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = natter_devices_get_property;
  object_class->set_property = natter_devices_set_property;
  object_class->dispose = natter_devices_dispose;
  object_class->finalize = natter_devices_finalize;

  /**
   * NatterDevices:microphone-name:
   *
   * The display name of the chosen microphone; the app binds it to
   * GSettings. %NULL or a missing device means the first one.
   */
  properties[PROP_MICROPHONE_NAME] =
    g_param_spec_string ("microphone-name", NULL, NULL, NULL, flags);
  properties[PROP_CAMERA_NAME] = g_param_spec_string ("camera-name", NULL, NULL, NULL, flags);
  properties[PROP_SPEAKER_NAME] = g_param_spec_string ("speaker-name", NULL, NULL, NULL, flags);
  properties[PROP_HAS_CAMERA] =
    g_param_spec_boolean ("has-camera", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_devices_init (NatterDevices *self)
{
  for (int kind = 0; kind < N_KINDS; kind++)
    self->stores[kind] = g_list_store_new (NATTER_TYPE_DEVICE);
}

/**
 * natter_devices_new:
 *
 * Returns: (transfer full): device lists, empty until natter_devices_start()
 */
NatterDevices *
natter_devices_new (void)
{
  /* GStreamer itself loads in natter_devices_start(): an app that never
   * calls or opens preferences does without it (issue 20). */
  return g_object_new (NATTER_TYPE_DEVICES, NULL);
}

/**
 * natter_devices_start:
 * @self: a #NatterDevices
 *
 * Lists the devices present and follows hot-plug on the main context.
 *
 * Returns: %TRUE if the monitor runs
 */
gboolean
natter_devices_start (NatterDevices *self)
{
  g_autoptr (GstBus) bus = NULL;
  GList *devices;

  g_return_val_if_fail (NATTER_IS_DEVICES (self), FALSE);

  if (natter_devices_get_started (self))
    return TRUE;

  if (natter_call_media_proxy_get_helper_path () != NULL) {
    g_autoptr (GError) error = NULL;

    /* A fresh list: what was unplugged while no helper ran goes. */
    for (int kind = 0; kind < N_KINDS; kind++)
      g_list_store_remove_all (self->stores[kind]);
    update_has_camera (self);
    self->monitor_process =
      natter_device_monitor_process_new (natter_call_media_proxy_get_helper_path ());
    g_signal_connect (self->monitor_process, "device-added", G_CALLBACK (on_process_device_added),
                      self);
    g_signal_connect (self->monitor_process, "device-removed",
                      G_CALLBACK (on_process_device_removed), self);
    if (!natter_device_monitor_process_start (self->monitor_process, &error)) {
      g_message ("No device monitor: %s", error->message);
      g_signal_handlers_disconnect_by_data (self->monitor_process, self);
      g_clear_object (&self->monitor_process);
      return FALSE;
    }
    return TRUE;
  }

  if (self->monitor == NULL) {
    gst_init (NULL, NULL);
    self->monitor = gst_device_monitor_new ();
    for (int kind = 0; kind < N_KINDS; kind++)
      gst_device_monitor_add_filter (self->monitor, kind_classes[kind], NULL);
  }

  bus = gst_device_monitor_get_bus (self->monitor);
  self->bus_watch_id = gst_bus_add_watch (bus, on_bus_message, self);
  if (!gst_device_monitor_start (self->monitor)) {
    g_clear_handle_id (&self->bus_watch_id, g_source_remove);
    return FALSE;
  }

  devices = gst_device_monitor_get_devices (self->monitor);
  for (GList *l = devices; l != NULL; l = l->next)
    natter_devices_add_device (self, l->data);
  g_list_free_full (devices, gst_object_unref);
  return TRUE;
}

/**
 * natter_devices_start_on_demand:
 * @self: a #NatterDevices
 *
 * Defers the monitor (it probes every device provider) to the first
 * natter_devices_ensure_started(): a call or the device settings.
 */
void
natter_devices_start_on_demand (NatterDevices *self)
{
  g_return_if_fail (NATTER_IS_DEVICES (self));

  self->start_on_demand = TRUE;
}

/**
 * natter_devices_ensure_started:
 * @self: a #NatterDevices
 *
 * Starts the monitor deferred by natter_devices_start_on_demand(), if
 * it does not run yet; lists filled by hand (tests) stay as they are.
 */
void
natter_devices_ensure_started (NatterDevices *self)
{
  g_return_if_fail (NATTER_IS_DEVICES (self));

  if (self->start_on_demand && !natter_devices_get_started (self) && !natter_devices_start (self))
    g_debug ("no device monitor: calls use the default devices");
}

/**
 * natter_devices_stop_helper:
 * @self: a #NatterDevices
 *
 * Stops natter-call-media --devices, if it runs, keeping the lists as
 * they are: when no call needs them (the app, a few seconds after the
 * last call). natter_devices_ensure_started() starts it again. Without
 * a helper the monitor in this process goes on.
 */
void
natter_devices_stop_helper (NatterDevices *self)
{
  g_return_if_fail (NATTER_IS_DEVICES (self));

  if (self->monitor_process == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->monitor_process, self);
  g_clear_object (&self->monitor_process); /* the helper exits */
}

/**
 * natter_devices_get_started:
 * @self: a #NatterDevices
 *
 * Returns: whether the monitor runs (natter_devices_start() was called)
 */
gboolean
natter_devices_get_started (NatterDevices *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICES (self), FALSE);

  return self->bus_watch_id != 0 || self->monitor_process != NULL;
}

void
natter_devices_stop (NatterDevices *self)
{
  g_return_if_fail (NATTER_IS_DEVICES (self));

  natter_devices_stop_helper (self);
  if (self->bus_watch_id == 0)
    return;
  g_clear_handle_id (&self->bus_watch_id, g_source_remove);
  gst_device_monitor_stop (self->monitor);
}

/**
 * natter_devices_get_microphones:
 * @self: a #NatterDevices
 *
 * Returns: (transfer none): the microphones (#NatterDevice)
 */
GListModel *
natter_devices_get_microphones (NatterDevices *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICES (self), NULL);
  return G_LIST_MODEL (self->stores[KIND_MICROPHONE]);
}

/**
 * natter_devices_get_cameras:
 * @self: a #NatterDevices
 *
 * Returns: (transfer none): the cameras (#NatterDevice)
 */
GListModel *
natter_devices_get_cameras (NatterDevices *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICES (self), NULL);
  return G_LIST_MODEL (self->stores[KIND_CAMERA]);
}

/**
 * natter_devices_get_speakers:
 * @self: a #NatterDevices
 *
 * Returns: (transfer none): the speakers (#NatterDevice)
 */
GListModel *
natter_devices_get_speakers (NatterDevices *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICES (self), NULL);
  return G_LIST_MODEL (self->stores[KIND_SPEAKER]);
}

const char *
natter_devices_get_microphone_name (NatterDevices *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICES (self), NULL);
  return self->chosen[KIND_MICROPHONE];
}

void
natter_devices_set_microphone_name (NatterDevices *self, const char *name)
{
  g_return_if_fail (NATTER_IS_DEVICES (self));
  set_chosen (self, KIND_MICROPHONE, name, PROP_MICROPHONE_NAME);
}

const char *
natter_devices_get_camera_name (NatterDevices *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICES (self), NULL);
  return self->chosen[KIND_CAMERA];
}

void
natter_devices_set_camera_name (NatterDevices *self, const char *name)
{
  g_return_if_fail (NATTER_IS_DEVICES (self));
  set_chosen (self, KIND_CAMERA, name, PROP_CAMERA_NAME);
}

const char *
natter_devices_get_speaker_name (NatterDevices *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICES (self), NULL);
  return self->chosen[KIND_SPEAKER];
}

void
natter_devices_set_speaker_name (NatterDevices *self, const char *name)
{
  g_return_if_fail (NATTER_IS_DEVICES (self));
  set_chosen (self, KIND_SPEAKER, name, PROP_SPEAKER_NAME);
}

/**
 * natter_devices_get_microphone:
 * @self: a #NatterDevices
 *
 * Returns: (transfer full) (nullable): the chosen microphone
 */
NatterDevice *
natter_devices_get_microphone (NatterDevices *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICES (self), NULL);
  return chosen_device (self, KIND_MICROPHONE);
}

/**
 * natter_devices_get_camera:
 * @self: a #NatterDevices
 *
 * Returns: (transfer full) (nullable): the chosen camera
 */
NatterDevice *
natter_devices_get_camera (NatterDevices *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICES (self), NULL);
  return chosen_device (self, KIND_CAMERA);
}

/**
 * natter_devices_get_speaker:
 * @self: a #NatterDevices
 *
 * Returns: (transfer full) (nullable): the chosen speaker
 */
NatterDevice *
natter_devices_get_speaker (NatterDevices *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICES (self), NULL);
  return chosen_device (self, KIND_SPEAKER);
}

/**
 * natter_devices_get_has_camera:
 * @self: a #NatterDevices
 *
 * Returns: whether any camera is plugged in
 */
gboolean
natter_devices_get_has_camera (NatterDevices *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICES (self), FALSE);
  return self->has_camera;
}

/**
 * natter_devices_add_device:
 * @self: a #NatterDevices
 * @device: a device the monitor reported (or a test made)
 */
void
natter_devices_add_device (NatterDevices *self, GstDevice *device)
{
  g_autoptr (NatterDevice) item = NULL;

  g_return_if_fail (NATTER_IS_DEVICES (self));
  g_return_if_fail (GST_IS_DEVICE (device));

  item = natter_device_new_for_gst_device (device);
  add_device (self, item, same_gst_device);
}

/**
 * natter_devices_remove_device:
 * @self: a #NatterDevices
 * @device: a device that went away
 */
void
natter_devices_remove_device (NatterDevices *self, GstDevice *device)
{
  g_autoptr (NatterDevice) item = NULL;

  g_return_if_fail (NATTER_IS_DEVICES (self));
  g_return_if_fail (GST_IS_DEVICE (device));

  item = natter_device_new_for_gst_device (device);
  remove_device (self, item, same_gst_device);
}
