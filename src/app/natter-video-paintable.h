/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gdk/gdk.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define NATTER_TYPE_VIDEO_PAINTABLE (natter_video_paintable_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterVideoPaintable, natter_video_paintable, NATTER, VIDEO_PAINTABLE, GObject)

NatterVideoPaintable *natter_video_paintable_new (void);
gboolean natter_video_paintable_push_sample (NatterVideoPaintable *self, GstSample *sample);
gboolean
natter_video_paintable_push_buffer (NatterVideoPaintable *self, GstBuffer *buffer, GstCaps *caps);
void natter_video_paintable_push_texture (NatterVideoPaintable *self, GdkTexture *texture);
void natter_video_paintable_clear (NatterVideoPaintable *self);
GstElement *natter_video_paintable_create_sink (NatterVideoPaintable *self);
guint64 natter_video_paintable_get_frame_count (NatterVideoPaintable *self);
GdkTexture *natter_video_paintable_get_texture (NatterVideoPaintable *self);

G_END_DECLS
