/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-media-devices"

#include "config.h"

#include <stdio.h>

#include <gio/gunixinputstream.h>
#include <gst/gst.h>

#include "natter-call-media-devices.h"

/* natter-call-media --devices: the app's device monitor (issue 20), for
 * NatterDeviceMonitorProcess. Lists the microphones, cameras and speakers
 * present, says "ready", then follows hot-plug, a line each (see
 * natter-device-monitor-process.c), until stdin closes. */

static const char *const device_classes[] = { "Audio/Source", "Video/Source", "Audio/Sink" };

static void
report (const char *what, GstDevice *device)
{
  g_autofree char *name = gst_device_get_display_name (device);
  g_autofree char *device_class = gst_device_get_device_class (device);
  g_autofree char *escaped_name = g_strescape (name != NULL ? name : "", NULL);
  g_autofree char *escaped_class = g_strescape (device_class != NULL ? device_class : "", NULL);

  g_print ("%s\t%s\t%s\n", what, escaped_class, escaped_name);
  fflush (stdout);
}

static gboolean
on_bus_message (GstBus *bus, GstMessage *message, gpointer user_data)
{
  g_autoptr (GstDevice) device = NULL;

  switch (GST_MESSAGE_TYPE (message)) {
    case GST_MESSAGE_DEVICE_ADDED:
      gst_message_parse_device_added (message, &device);
      report ("added", device);
      break;
    case GST_MESSAGE_DEVICE_REMOVED:
      gst_message_parse_device_removed (message, &device);
      report ("removed", device);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

static void
on_stdin_closed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_input_stream_skip_finish (G_INPUT_STREAM (source), result, NULL);
  g_main_loop_quit (user_data);
}

/**
 * natter_call_media_devices_run:
 *
 * Returns: the exit status
 */
int
natter_call_media_devices_run (void)
{
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr (GInputStream) input = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  g_autoptr (GstDeviceMonitor) monitor = NULL;
  g_autoptr (GstBus) bus = NULL;
  GList *devices;
  guint watch_id;

  gst_init (NULL, NULL);
  monitor = gst_device_monitor_new ();
  for (guint i = 0; i < G_N_ELEMENTS (device_classes); i++)
    gst_device_monitor_add_filter (monitor, device_classes[i], NULL);
  bus = gst_device_monitor_get_bus (monitor);
  watch_id = gst_bus_add_watch (bus, on_bus_message, NULL);
  if (gst_device_monitor_start (monitor)) {
    devices = gst_device_monitor_get_devices (monitor);
    for (GList *l = devices; l != NULL; l = l->next)
      report ("added", l->data);
    g_list_free_full (devices, gst_object_unref);
  }
  /* With no monitor the lists stay empty, as in a process without one. */
  g_print ("ready\n");
  fflush (stdout);

  g_input_stream_skip_async (input, G_MAXSSIZE, G_PRIORITY_DEFAULT, NULL, on_stdin_closed, loop);
  g_main_loop_run (loop);
  g_source_remove (watch_id);
  gst_device_monitor_stop (monitor);
  return 0;
}
