/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NATTER_TYPE_DEVICE_MONITOR_PROCESS (natter_device_monitor_process_get_type ())
G_DECLARE_FINAL_TYPE (NatterDeviceMonitorProcess,
                      natter_device_monitor_process,
                      NATTER,
                      DEVICE_MONITOR_PROCESS,
                      GObject)

NatterDeviceMonitorProcess *natter_device_monitor_process_new (const char *helper_path);

gboolean natter_device_monitor_process_start (NatterDeviceMonitorProcess *self, GError **error);

G_END_DECLS
