/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

#include "natter-device.h"

G_BEGIN_DECLS

#define NATTER_TYPE_DEVICES (natter_devices_get_type ())
G_DECLARE_FINAL_TYPE (NatterDevices, natter_devices, NATTER, DEVICES, GObject)

NatterDevices *natter_devices_new (void);

gboolean natter_devices_start (NatterDevices *self);
void natter_devices_stop (NatterDevices *self);
gboolean natter_devices_get_started (NatterDevices *self);
void natter_devices_start_on_demand (NatterDevices *self);
void natter_devices_ensure_started (NatterDevices *self);
void natter_devices_stop_helper (NatterDevices *self);

GListModel *natter_devices_get_microphones (NatterDevices *self);
GListModel *natter_devices_get_cameras (NatterDevices *self);
GListModel *natter_devices_get_speakers (NatterDevices *self);

const char *natter_devices_get_microphone_name (NatterDevices *self);
void natter_devices_set_microphone_name (NatterDevices *self, const char *name);
const char *natter_devices_get_camera_name (NatterDevices *self);
void natter_devices_set_camera_name (NatterDevices *self, const char *name);
const char *natter_devices_get_speaker_name (NatterDevices *self);
void natter_devices_set_speaker_name (NatterDevices *self, const char *name);

NatterDevice *natter_devices_get_microphone (NatterDevices *self);
NatterDevice *natter_devices_get_camera (NatterDevices *self);
NatterDevice *natter_devices_get_speaker (NatterDevices *self);
gboolean natter_devices_get_has_camera (NatterDevices *self);

void natter_devices_add_device (NatterDevices *self, GstDevice *device);
void natter_devices_remove_device (NatterDevices *self, GstDevice *device);

G_END_DECLS
