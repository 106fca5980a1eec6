/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-device"

#include "config.h"

#include "natter-device.h"

/* A microphone, camera or speaker as the device lists show it: its display
 * name and class, and the #GstDevice when this process found it itself.
 * The app's lists come from natter-call-media (issue 20) and carry no
 * #GstDevice: a call's helper finds the device again by its name. */

enum { PROP_0, PROP_DISPLAY_NAME, PROP_DEVICE_CLASS, PROP_GST_DEVICE, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterDevice {
  GObject parent_instance;

  char *display_name;
  char *device_class;
  GstDevice *gst_device;
};

G_DEFINE_FINAL_TYPE (NatterDevice, natter_device, G_TYPE_OBJECT)

static void
natter_device_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterDevice *self = NATTER_DEVICE (object);

  switch (prop_id) {
    case PROP_DISPLAY_NAME:
      g_value_set_string (value, self->display_name);
      break;
    case PROP_DEVICE_CLASS:
      g_value_set_string (value, self->device_class);
      break;
    case PROP_GST_DEVICE:
      g_value_set_object (value, self->gst_device);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_device_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  NatterDevice *self = NATTER_DEVICE (object);

  switch (prop_id) {
    case PROP_DISPLAY_NAME:
      self->display_name = g_value_dup_string (value);
      break;
    case PROP_DEVICE_CLASS:
      self->device_class = g_value_dup_string (value);
      break;
    case PROP_GST_DEVICE:
      self->gst_device = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_device_finalize (GObject *object)
{
  NatterDevice *self = NATTER_DEVICE (object);

  g_free (self->display_name);
  g_free (self->device_class);
  g_clear_object (&self->gst_device);

  G_OBJECT_CLASS (natter_device_parent_class)->finalize (object);
}

static void
natter_device_class_init (NatterDeviceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = natter_device_get_property;
  object_class->set_property = natter_device_set_property;
  object_class->finalize = natter_device_finalize;

  properties[PROP_DISPLAY_NAME] = g_param_spec_string ("display-name", NULL, NULL, "", flags);
  properties[PROP_DEVICE_CLASS] = g_param_spec_string ("device-class", NULL, NULL, "", flags);
  /* G_TYPE_OBJECT, not GST_TYPE_DEVICE: a process without GStreamer
   * (the app) has these too. */
  properties[PROP_GST_DEVICE] =
    g_param_spec_object ("gst-device", NULL, NULL, G_TYPE_OBJECT, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_device_init (NatterDevice *self)
{
}

/**
 * natter_device_new:
 * @display_name: what the lists show, and what a helper finds it by
 * @device_class: "Audio/Source", "Video/Source" or "Audio/Sink"
 *
 * Returns: (transfer full): a device known by name only
 */
NatterDevice *
natter_device_new (const char *display_name, const char *device_class)
{
  g_return_val_if_fail (display_name != NULL, NULL);
  g_return_val_if_fail (device_class != NULL, NULL);

  return g_object_new (NATTER_TYPE_DEVICE, "display-name", display_name, "device-class",
                       device_class, NULL);
}

/**
 * natter_device_new_for_gst_device:
 * @device: a device a #GstDeviceMonitor found
 *
 * Returns: (transfer full): a device that holds @device
 */
NatterDevice *
natter_device_new_for_gst_device (GstDevice *device)
{
  g_autofree char *display_name = NULL;
  g_autofree char *device_class = NULL;

  g_return_val_if_fail (GST_IS_DEVICE (device), NULL);

  display_name = gst_device_get_display_name (device);
  device_class = gst_device_get_device_class (device);
  return g_object_new (NATTER_TYPE_DEVICE, "display-name", display_name != NULL ? display_name : "",
                       "device-class", device_class != NULL ? device_class : "", "gst-device",
                       device, NULL);
}

const char *
natter_device_get_display_name (NatterDevice *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICE (self), NULL);
  return self->display_name;
}

const char *
natter_device_get_device_class (NatterDevice *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICE (self), NULL);
  return self->device_class;
}

/**
 * natter_device_has_class:
 * @self: a #NatterDevice
 * @device_class: e.g. "Audio/Source"
 *
 * As gst_device_has_classes() with one class: every "/"-separated part of
 * @device_class is one of the device's.
 *
 * Returns: whether the device is of @device_class
 */
gboolean
natter_device_has_class (NatterDevice *self, const char *device_class)
{
  g_auto (GStrv) wanted = NULL;
  g_auto (GStrv) own = NULL;

  g_return_val_if_fail (NATTER_IS_DEVICE (self), FALSE);
  g_return_val_if_fail (device_class != NULL, FALSE);

  wanted = g_strsplit (device_class, "/", -1);
  own = g_strsplit (self->device_class, "/", -1);
  for (guint i = 0; wanted[i] != NULL; i++) {
    if (!g_strv_contains ((const char *const *) own, wanted[i]))
      return FALSE;
  }
  return TRUE;
}

/**
 * natter_device_get_gst_device:
 * @self: a #NatterDevice
 *
 * Returns: (transfer none) (nullable): the #GstDevice, when this process
 *   found the device itself
 */
GstDevice *
natter_device_get_gst_device (NatterDevice *self)
{
  g_return_val_if_fail (NATTER_IS_DEVICE (self), NULL);
  return self->gst_device != NULL ? GST_DEVICE (self->gst_device) : NULL;
}
