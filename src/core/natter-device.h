/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define NATTER_TYPE_DEVICE (natter_device_get_type ())
G_DECLARE_FINAL_TYPE (NatterDevice, natter_device, NATTER, DEVICE, GObject)

NatterDevice *natter_device_new (const char *display_name, const char *device_class);
NatterDevice *natter_device_new_for_gst_device (GstDevice *device);

const char *natter_device_get_display_name (NatterDevice *self);
const char *natter_device_get_device_class (NatterDevice *self);
gboolean natter_device_has_class (NatterDevice *self, const char *device_class);
GstDevice *natter_device_get_gst_device (NatterDevice *self);

G_END_DECLS
