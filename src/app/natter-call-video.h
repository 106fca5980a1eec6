/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "natter-call.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CALL_VIDEO (natter_call_video_get_type ())
G_DECLARE_FINAL_TYPE (NatterCallVideo, natter_call_video, NATTER, CALL_VIDEO, GObject)

NatterCallVideo *natter_call_video_new (void);
NatterCall *natter_call_video_get_call (NatterCallVideo *self);
void natter_call_video_set_call (NatterCallVideo *self, NatterCall *call);
GdkPaintable *natter_call_video_get_remote_paintable (NatterCallVideo *self);
GdkPaintable *natter_call_video_get_local_paintable (NatterCallVideo *self);

G_END_DECLS
