/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-video-paintable"

#include "config.h"

#include <gst/app/gstappsink.h>
#include <gtk/gtk.h>
#include <gst/video/video.h>

#include "natter-video-paintable.h"

/* Shows video frames from GStreamer as a GdkPaintable when
 * gtk4paintablesink is not installed: an appsink hands samples over from the
 * streaming thread, and each one becomes a GdkMemoryTexture on the main
 * thread. */

struct _NatterVideoPaintable {
  GObject parent_instance;

  GdkTexture *texture;
  int intrinsic_width;
  int intrinsic_height;
  guint64 frame_count;

  /* Handed from the streaming thread; only the newest frame is kept, so a
   * busy main loop drops frames instead of queueing them. */
  GMutex pending_lock;
  GstSample *pending_sample;
  guint pending_source_id;
};

static void natter_video_paintable_paintable_init (GdkPaintableInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterVideoPaintable,
                               natter_video_paintable,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (GDK_TYPE_PAINTABLE,
                                                      natter_video_paintable_paintable_init))

static void
natter_video_paintable_snapshot (GdkPaintable *paintable,
                                 GdkSnapshot *snapshot,
                                 double width,
                                 double height)
{
  NatterVideoPaintable *self = NATTER_VIDEO_PAINTABLE (paintable);

  if (self->texture != NULL) {
    gdk_paintable_snapshot (GDK_PAINTABLE (self->texture), snapshot, width, height);
  } else {
    graphene_rect_t bounds = GRAPHENE_RECT_INIT (0, 0, width, height);
    GdkRGBA black = { 0, 0, 0, 1 };

    gtk_snapshot_append_color (GTK_SNAPSHOT (snapshot), &black, &bounds);
  }
}

static GdkPaintable *
natter_video_paintable_get_current_image (GdkPaintable *paintable)
{
  NatterVideoPaintable *self = NATTER_VIDEO_PAINTABLE (paintable);

  if (self->texture != NULL)
    return GDK_PAINTABLE (g_object_ref (self->texture));

  return gdk_paintable_new_empty (self->intrinsic_width, self->intrinsic_height);
}

static int
natter_video_paintable_get_intrinsic_width (GdkPaintable *paintable)
{
  return NATTER_VIDEO_PAINTABLE (paintable)->intrinsic_width;
}

static int
natter_video_paintable_get_intrinsic_height (GdkPaintable *paintable)
{
  return NATTER_VIDEO_PAINTABLE (paintable)->intrinsic_height;
}

static double
natter_video_paintable_get_intrinsic_aspect_ratio (GdkPaintable *paintable)
{
  NatterVideoPaintable *self = NATTER_VIDEO_PAINTABLE (paintable);

  if (self->intrinsic_width <= 0 || self->intrinsic_height <= 0)
    return 0.0;

  return (double) self->intrinsic_width / (double) self->intrinsic_height;
}

static void
natter_video_paintable_paintable_init (GdkPaintableInterface *iface)
{
  iface->snapshot = natter_video_paintable_snapshot;
  iface->get_current_image = natter_video_paintable_get_current_image;
  iface->get_intrinsic_width = natter_video_paintable_get_intrinsic_width;
  iface->get_intrinsic_height = natter_video_paintable_get_intrinsic_height;
  iface->get_intrinsic_aspect_ratio = natter_video_paintable_get_intrinsic_aspect_ratio;
}

static void
video_frame_free (gpointer data)
{
  GstVideoFrame *frame = data;

  gst_video_frame_unmap (frame);
  g_free (frame);
}

/* RGBA is wrapped as it is; BGRx is copied because GTK 4.8 has no format
 * with an ignored fourth byte, so the padding byte is made opaque. */
static GdkTexture *
texture_from_buffer (GstBuffer *buffer, const GstVideoInfo *info)
{
  GstVideoFormat format = GST_VIDEO_INFO_FORMAT (info);
  g_autofree GstVideoFrame *frame = NULL;
  g_autoptr (GBytes) bytes = NULL;
  int width = GST_VIDEO_INFO_WIDTH (info);
  int height = GST_VIDEO_INFO_HEIGHT (info);
  gsize stride;
  const guint8 *pixels;

  if (format != GST_VIDEO_FORMAT_RGBA && format != GST_VIDEO_FORMAT_BGRx)
    return NULL;

  frame = g_new0 (GstVideoFrame, 1);
  if (!gst_video_frame_map (frame, (GstVideoInfo *) info, buffer, GST_MAP_READ))
    return NULL;

  stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);
  pixels = GST_VIDEO_FRAME_PLANE_DATA (frame, 0);

  if (format == GST_VIDEO_FORMAT_RGBA) {
    gsize size = stride * (gsize) (height - 1) + (gsize) width * 4;

    bytes = g_bytes_new_with_free_func (pixels, size, video_frame_free, g_steal_pointer (&frame));
    return gdk_memory_texture_new (width, height, GDK_MEMORY_R8G8B8A8, bytes, stride);
  } else {
    gsize out_stride = (gsize) width * 4;
    guint8 *out = g_malloc (out_stride * (gsize) height);

    for (int y = 0; y < height; y++) {
      const guint8 *src = pixels + stride * (gsize) y;
      guint8 *dest = out + out_stride * (gsize) y;

      memcpy (dest, src, out_stride);
      for (int x = 0; x < width; x++)
        dest[x * 4 + 3] = 0xff;
    }

    video_frame_free (g_steal_pointer (&frame));
    bytes = g_bytes_new_take (out, out_stride * (gsize) height);
    return gdk_memory_texture_new (width, height, GDK_MEMORY_B8G8R8A8, bytes, out_stride);
  }
}

static void
natter_video_paintable_set_texture (NatterVideoPaintable *self,
                                    GdkTexture *texture,
                                    int intrinsic_width,
                                    int intrinsic_height)
{
  gboolean size_changed =
    intrinsic_width != self->intrinsic_width || intrinsic_height != self->intrinsic_height;

  g_set_object (&self->texture, texture);
  self->intrinsic_width = intrinsic_width;
  self->intrinsic_height = intrinsic_height;

  if (size_changed)
    gdk_paintable_invalidate_size (GDK_PAINTABLE (self));
  gdk_paintable_invalidate_contents (GDK_PAINTABLE (self));
}

static gboolean
on_pending_sample_idle (gpointer user_data)
{
  NatterVideoPaintable *self = user_data;
  g_autoptr (GstSample) sample = NULL;

  g_mutex_lock (&self->pending_lock);
  sample = g_steal_pointer (&self->pending_sample);
  self->pending_source_id = 0;
  g_mutex_unlock (&self->pending_lock);

  if (sample != NULL)
    natter_video_paintable_push_sample (self, sample);

  return G_SOURCE_REMOVE;
}

/* Streaming thread. */
static GstFlowReturn
on_appsink_new_sample (GstAppSink *appsink, gpointer user_data)
{
  NatterVideoPaintable *self = user_data;
  GstSample *sample = gst_app_sink_pull_sample (appsink);

  if (sample == NULL)
    return GST_FLOW_EOS;

  g_mutex_lock (&self->pending_lock);
  g_clear_pointer (&self->pending_sample, gst_sample_unref);
  self->pending_sample = sample;
  if (self->pending_source_id == 0)
    self->pending_source_id = g_idle_add_full (G_PRIORITY_DEFAULT, on_pending_sample_idle,
                                               g_object_ref (self), g_object_unref);
  g_mutex_unlock (&self->pending_lock);

  return GST_FLOW_OK;
}

static void
natter_video_paintable_finalize (GObject *object)
{
  NatterVideoPaintable *self = NATTER_VIDEO_PAINTABLE (object);

  /* A scheduled idle holds a reference, so none can be pending here. */
  g_clear_pointer (&self->pending_sample, gst_sample_unref);
  g_mutex_clear (&self->pending_lock);
  g_clear_object (&self->texture);

  G_OBJECT_CLASS (natter_video_paintable_parent_class)->finalize (object);
}

static void
natter_video_paintable_class_init (NatterVideoPaintableClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = natter_video_paintable_finalize;
}

static void
natter_video_paintable_init (NatterVideoPaintable *self)
{
  g_mutex_init (&self->pending_lock);
}

/**
 * natter_video_paintable_new:
 *
 * Creates a paintable that shows nothing (black) until the first frame.
 *
 * Returns: (transfer full): a new #NatterVideoPaintable
 */
NatterVideoPaintable *
natter_video_paintable_new (void)
{
  return g_object_new (NATTER_TYPE_VIDEO_PAINTABLE, NULL);
}

/**
 * natter_video_paintable_push_buffer:
 * @self: a #NatterVideoPaintable
 * @buffer: a raw video frame
 * @caps: the caps of @buffer: `video/x-raw` in RGBA or BGRx
 *
 * Shows @buffer. Must be called on the main thread.
 *
 * Returns: %TRUE if the frame was shown, %FALSE if its format is not one
 *   this paintable reads
 */
gboolean
natter_video_paintable_push_buffer (NatterVideoPaintable *self, GstBuffer *buffer, GstCaps *caps)
{
  g_autoptr (GdkTexture) texture = NULL;
  GstVideoInfo info;
  int width;

  g_return_val_if_fail (NATTER_IS_VIDEO_PAINTABLE (self), FALSE);
  g_return_val_if_fail (GST_IS_BUFFER (buffer), FALSE);
  g_return_val_if_fail (GST_IS_CAPS (caps), FALSE);

  if (!gst_video_info_from_caps (&info, caps))
    return FALSE;
  if (GST_VIDEO_INFO_WIDTH (&info) <= 0 || GST_VIDEO_INFO_HEIGHT (&info) <= 0)
    return FALSE;

  texture = texture_from_buffer (buffer, &info);
  if (texture == NULL)
    return FALSE;

  width = GST_VIDEO_INFO_WIDTH (&info);
  if (GST_VIDEO_INFO_PAR_N (&info) > 0 && GST_VIDEO_INFO_PAR_D (&info) > 0)
    width = (int) gst_util_uint64_scale_int (width, GST_VIDEO_INFO_PAR_N (&info),
                                             GST_VIDEO_INFO_PAR_D (&info));

  self->frame_count++;
  natter_video_paintable_set_texture (self, texture, width, GST_VIDEO_INFO_HEIGHT (&info));

  return TRUE;
}

/**
 * natter_video_paintable_push_texture:
 * @self: a #NatterVideoPaintable
 * @texture: a decoded frame, e.g. one the call's media process sent
 *
 * Shows @texture. Must be called on the main thread.
 */
void
natter_video_paintable_push_texture (NatterVideoPaintable *self, GdkTexture *texture)
{
  g_return_if_fail (NATTER_IS_VIDEO_PAINTABLE (self));
  g_return_if_fail (GDK_IS_TEXTURE (texture));

  self->frame_count++;
  natter_video_paintable_set_texture (self, texture, gdk_texture_get_width (texture),
                                      gdk_texture_get_height (texture));
}

/**
 * natter_video_paintable_push_sample:
 * @self: a #NatterVideoPaintable
 * @sample: a sample with caps and a buffer, RGBA or BGRx
 *
 * Shows the frame in @sample. Must be called on the main thread.
 *
 * Returns: %TRUE if the frame was shown
 */
gboolean
natter_video_paintable_push_sample (NatterVideoPaintable *self, GstSample *sample)
{
  GstBuffer *buffer;
  GstCaps *caps;

  g_return_val_if_fail (NATTER_IS_VIDEO_PAINTABLE (self), FALSE);
  g_return_val_if_fail (GST_IS_SAMPLE (sample), FALSE);

  buffer = gst_sample_get_buffer (sample);
  caps = gst_sample_get_caps (sample);
  if (buffer == NULL || caps == NULL)
    return FALSE;

  return natter_video_paintable_push_buffer (self, buffer, caps);
}

/**
 * natter_video_paintable_clear:
 * @self: a #NatterVideoPaintable
 *
 * Drops the current frame; the paintable shows black again.
 */
void
natter_video_paintable_clear (NatterVideoPaintable *self)
{
  g_return_if_fail (NATTER_IS_VIDEO_PAINTABLE (self));

  if (self->texture == NULL)
    return;

  natter_video_paintable_set_texture (self, NULL, 0, 0);
}

/**
 * natter_video_paintable_create_sink:
 * @self: a #NatterVideoPaintable
 *
 * Creates a sink element that converts any raw video and feeds it to @self.
 * Frames are handed to the main thread; when it is busy, older frames are
 * dropped.
 *
 * Returns: (transfer floating): a bin with one sink pad
 */
GstElement *
natter_video_paintable_create_sink (NatterVideoPaintable *self)
{
  GstAppSinkCallbacks callbacks = { .new_sample = on_appsink_new_sample };
  g_autoptr (GstCaps) caps = NULL;
  GstElement *bin;
  GstElement *convert;
  GstElement *appsink;
  g_autoptr (GstPad) pad = NULL;

  g_return_val_if_fail (NATTER_IS_VIDEO_PAINTABLE (self), NULL);

  gst_init (NULL, NULL); /* the app does not load GStreamer at start-up */
  bin = gst_bin_new (NULL);
  convert = gst_element_factory_make ("videoconvert", NULL);
  appsink = gst_element_factory_make ("appsink", NULL);
  if (convert == NULL || appsink == NULL) {
    g_warning ("videoconvert or appsink is missing: install gst-plugins-base");
    g_clear_object (&convert);
    g_clear_object (&appsink);
    gst_object_unref (gst_object_ref_sink (bin));
    return NULL;
  }

  caps = gst_caps_from_string ("video/x-raw,format={RGBA,BGRx}");
  g_object_set (appsink, "caps", caps, "max-buffers", 2, "drop", TRUE, "sync", TRUE, NULL);
  gst_app_sink_set_callbacks (GST_APP_SINK (appsink), &callbacks, g_object_ref (self),
                              g_object_unref);

  gst_bin_add_many (GST_BIN (bin), convert, appsink, NULL);
  gst_element_link (convert, appsink);

  pad = gst_element_get_static_pad (convert, "sink");
  gst_element_add_pad (bin, gst_ghost_pad_new ("sink", pad));

  return bin;
}

/**
 * natter_video_paintable_get_frame_count:
 * @self: a #NatterVideoPaintable
 *
 * Returns: how many frames have been shown
 */
guint64
natter_video_paintable_get_frame_count (NatterVideoPaintable *self)
{
  g_return_val_if_fail (NATTER_IS_VIDEO_PAINTABLE (self), 0);

  return self->frame_count;
}

/**
 * natter_video_paintable_get_texture:
 * @self: a #NatterVideoPaintable
 *
 * Returns: (transfer none) (nullable): the frame shown now
 */
GdkTexture *
natter_video_paintable_get_texture (NatterVideoPaintable *self)
{
  g_return_val_if_fail (NATTER_IS_VIDEO_PAINTABLE (self), NULL);

  return self->texture;
}
