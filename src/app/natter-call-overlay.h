/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-call.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CALL_OVERLAY (natter_call_overlay_get_type ())
G_DECLARE_FINAL_TYPE (NatterCallOverlay, natter_call_overlay, NATTER, CALL_OVERLAY, GtkWidget)

GtkWidget *natter_call_overlay_new (void);
NatterCall *natter_call_overlay_get_call (NatterCallOverlay *self);
void natter_call_overlay_set_call (NatterCallOverlay *self, NatterCall *call);
void natter_call_overlay_set_peer_name (NatterCallOverlay *self, const char *peer_name);
void natter_call_overlay_set_call_type (NatterCallOverlay *self, const char *call_type);
void natter_call_overlay_set_status (NatterCallOverlay *self, const char *status);
void natter_call_overlay_set_duration (NatterCallOverlay *self, gint64 seconds);
gboolean natter_call_overlay_get_muted (NatterCallOverlay *self);
void natter_call_overlay_set_muted (NatterCallOverlay *self, gboolean muted);
gboolean natter_call_overlay_get_camera_enabled (NatterCallOverlay *self);
void natter_call_overlay_set_camera_enabled (NatterCallOverlay *self, gboolean camera_enabled);
void natter_call_overlay_set_remote_state (NatterCallOverlay *self,
                                           gboolean remote_muted,
                                           gboolean remote_camera_off);
void natter_call_overlay_set_quality (NatterCallOverlay *self, int quality);
void natter_call_overlay_set_poor_connection (NatterCallOverlay *self, gboolean poor);
gboolean natter_call_overlay_get_poor_connection (NatterCallOverlay *self);
void natter_call_overlay_set_remote_video (NatterCallOverlay *self, GdkPaintable *paintable);
void natter_call_overlay_set_local_video (NatterCallOverlay *self, GdkPaintable *paintable);
GdkPaintable *natter_call_overlay_get_local_video (NatterCallOverlay *self);
void natter_call_overlay_set_devices_menu (NatterCallOverlay *self, GMenuModel *menu);
void natter_call_overlay_show_ended (NatterCallOverlay *self, const char *how);

G_END_DECLS
