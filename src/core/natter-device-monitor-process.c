/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-device-monitor-process"

#include "config.h"

#include "natter-device-monitor-process.h"
#include "natter-device.h"

/* The app's device monitor (issue 20): `natter-call-media --devices` runs
 * the GstDeviceMonitor, with its PulseAudio and V4L2 providers, so the app
 * loads no GStreamer for its device lists. The helper writes a line for
 * each device present, then "ready", then one for each hot-plug:
 * "added\tCLASS\tNAME" or "removed\tCLASS\tNAME", both escaped as
 * g_strescape() does. It exits when its stdin closes: when this object
 * goes, or the app dies. */

enum { SIGNAL_DEVICE_ADDED, SIGNAL_DEVICE_REMOVED, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterDeviceMonitorProcess {
  GObject parent_instance;

  char *helper_path;
  GSubprocess *helper;
  GDataInputStream *reports;
  GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE (NatterDeviceMonitorProcess, natter_device_monitor_process, G_TYPE_OBJECT)

/* Returns: whether @line was "ready". */
static gboolean
handle_report (NatterDeviceMonitorProcess *self, const char *line)
{
  g_auto (GStrv) fields = NULL;
  g_autoptr (NatterDevice) device = NULL;
  g_autofree char *device_class = NULL;
  g_autofree char *display_name = NULL;

  if (g_str_equal (line, "ready"))
    return TRUE;
  fields = g_strsplit (line, "\t", 3);
  if (g_strv_length (fields) != 3) {
    g_debug ("natter-call-media --devices said: %s", line);
    return FALSE;
  }
  device_class = g_strcompress (fields[1]);
  display_name = g_strcompress (fields[2]);
  device = natter_device_new (display_name, device_class);
  if (g_str_equal (fields[0], "added"))
    g_signal_emit (self, signals[SIGNAL_DEVICE_ADDED], 0, device);
  else if (g_str_equal (fields[0], "removed"))
    g_signal_emit (self, signals[SIGNAL_DEVICE_REMOVED], 0, device);
  return FALSE;
}

static void read_report (NatterDeviceMonitorProcess *self);

static void
weak_ref_free (GWeakRef *ref)
{
  g_weak_ref_clear (ref);
  g_free (ref);
}

static void
on_report (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *line =
    g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, &error);
  g_autoptr (NatterDeviceMonitorProcess) self = g_weak_ref_get (user_data);

  weak_ref_free (user_data);
  /* Gone, or going: a line read as it went is not for anyone. */
  if (self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (line == NULL) {
    g_debug ("natter-call-media --devices exited: the lists stay as they are");
    return;
  }
  handle_report (self, line);
  read_report (self);
}

static void
read_report (NatterDeviceMonitorProcess *self)
{
  GWeakRef *ref = g_new0 (GWeakRef, 1);

  /* Not a strong reference: the helper stops when the last one goes. */
  g_weak_ref_init (ref, self);
  g_data_input_stream_read_line_async (self->reports, G_PRIORITY_DEFAULT, self->cancellable,
                                       on_report, ref);
}

static void
natter_device_monitor_process_dispose (GObject *object)
{
  NatterDeviceMonitorProcess *self = NATTER_DEVICE_MONITOR_PROCESS (object);

  g_cancellable_cancel (self->cancellable);
  if (self->helper != NULL) {
    g_subprocess_force_exit (self->helper);
    g_subprocess_wait_async (self->helper, NULL, NULL, NULL); /* reaps it */
  }
  g_clear_object (&self->reports);
  g_clear_object (&self->helper);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (natter_device_monitor_process_parent_class)->dispose (object);
}

static void
natter_device_monitor_process_finalize (GObject *object)
{
  g_free (NATTER_DEVICE_MONITOR_PROCESS (object)->helper_path);

  G_OBJECT_CLASS (natter_device_monitor_process_parent_class)->finalize (object);
}

static void
natter_device_monitor_process_class_init (NatterDeviceMonitorProcessClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_device_monitor_process_dispose;
  object_class->finalize = natter_device_monitor_process_finalize;

  /**
   * NatterDeviceMonitorProcess::device-added:
   * @self: the monitor
   * @device: a #NatterDevice, by name and class
   */
  signals[SIGNAL_DEVICE_ADDED] =
    g_signal_new ("device-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, NATTER_TYPE_DEVICE);
  signals[SIGNAL_DEVICE_REMOVED] =
    g_signal_new ("device-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, NATTER_TYPE_DEVICE);
}

static void
natter_device_monitor_process_init (NatterDeviceMonitorProcess *self)
{
  self->cancellable = g_cancellable_new ();
}

/**
 * natter_device_monitor_process_new:
 * @helper_path: the natter-call-media executable
 *
 * Returns: (transfer full): a monitor not started yet
 */
NatterDeviceMonitorProcess *
natter_device_monitor_process_new (const char *helper_path)
{
  NatterDeviceMonitorProcess *self;

  g_return_val_if_fail (helper_path != NULL, NULL);

  self = g_object_new (NATTER_TYPE_DEVICE_MONITOR_PROCESS, NULL);
  self->helper_path = g_strdup (helper_path);
  return self;
}

/**
 * natter_device_monitor_process_start:
 * @self: a #NatterDeviceMonitorProcess
 * @error: where a failed start is told
 *
 * Starts the helper and waits for its first list (::device-added for each
 * device present), as gst_device_monitor_start() and
 * gst_device_monitor_get_devices() would in this process: a call placed
 * now knows whether there is a camera. Hot-plug follows on the main
 * context.
 *
 * Returns: whether the helper started and listed the devices
 */
gboolean
natter_device_monitor_process_start (NatterDeviceMonitorProcess *self, GError **error)
{
  g_return_val_if_fail (NATTER_IS_DEVICE_MONITOR_PROCESS (self), FALSE);
  g_return_val_if_fail (self->helper == NULL, FALSE);

  self->helper = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                                   error, self->helper_path, "--devices", NULL);
  if (self->helper == NULL)
    return FALSE;
  self->reports = g_data_input_stream_new (g_subprocess_get_stdout_pipe (self->helper));
  for (;;) {
    g_autofree char *line =
      g_data_input_stream_read_line (self->reports, NULL, self->cancellable, error);

    if (line == NULL) {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                             "natter-call-media --devices exited before listing the devices");
      return FALSE;
    }
    if (handle_report (self, line))
      break;
  }
  read_report (self);
  return TRUE;
}
