/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app-video-paintable"

#include "config.h"

#include <gst/video/video.h>
#include <gtk/gtk.h>

#include "natter-video-paintable.h"

/* The fallback video paintable: frames in RGBA and BGRx become textures
 * with the right pixels and size, other formats are refused, and frames
 * from a real pipeline reach it through its appsink. */

#define TIMEOUT_US (10 * G_USEC_PER_SEC)

static GstBuffer *
solid_frame (GstVideoFormat format, int width, int height, const guint8 pixel[4])
{
  GstVideoInfo info;
  GstVideoFrame frame;
  GstBuffer *buffer;

  gst_video_info_set_format (&info, format, width, height);
  buffer = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  g_assert_true (gst_video_frame_map (&frame, &info, buffer, GST_MAP_WRITE));
  for (int y = 0; y < height; y++) {
    guint8 *row = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0) +
                  y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);

    for (int x = 0; x < width; x++)
      memcpy (row + x * 4, pixel, 4);
  }
  gst_video_frame_unmap (&frame);

  return buffer;
}

static GstCaps *
caps_for (GstVideoFormat format, int width, int height)
{
  GstVideoInfo info;

  gst_video_info_set_format (&info, format, width, height);
  return gst_video_info_to_caps (&info);
}

/* Reads the texture back as premultiplied BGRA (cairo's ARGB32 in memory). */
static void
assert_texture_pixel (GdkTexture *texture, guint8 red, guint8 green, guint8 blue)
{
  int width = gdk_texture_get_width (texture);
  int height = gdk_texture_get_height (texture);
  g_autofree guint8 *data = g_malloc ((gsize) width * height * 4);

  gdk_texture_download (texture, data, (gsize) width * 4);
  g_assert_cmpuint (data[2], ==, red);
  g_assert_cmpuint (data[1], ==, green);
  g_assert_cmpuint (data[0], ==, blue);
  g_assert_cmpuint (data[3], ==, 0xff);
}

static void
test_rgba_frame (void)
{
  g_autoptr (NatterVideoPaintable) paintable = natter_video_paintable_new ();
  const guint8 pixel[4] = { 0x20, 0x80, 0xe0, 0xff };
  g_autoptr (GstBuffer) buffer = solid_frame (GST_VIDEO_FORMAT_RGBA, 64, 48, pixel);
  g_autoptr (GstCaps) caps = caps_for (GST_VIDEO_FORMAT_RGBA, 64, 48);
  GdkTexture *texture;

  g_assert_null (natter_video_paintable_get_texture (paintable));
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (GDK_PAINTABLE (paintable)), ==, 0);

  g_assert_true (natter_video_paintable_push_buffer (paintable, buffer, caps));
  texture = natter_video_paintable_get_texture (paintable);
  g_assert_nonnull (texture);
  g_assert_cmpint (gdk_texture_get_width (texture), ==, 64);
  g_assert_cmpint (gdk_texture_get_height (texture), ==, 48);
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (GDK_PAINTABLE (paintable)), ==, 64);
  g_assert_cmpint (gdk_paintable_get_intrinsic_height (GDK_PAINTABLE (paintable)), ==, 48);
  g_assert_cmpuint (natter_video_paintable_get_frame_count (paintable), ==, 1);
  assert_texture_pixel (texture, 0x20, 0x80, 0xe0);

  natter_video_paintable_clear (paintable);
  g_assert_null (natter_video_paintable_get_texture (paintable));
  g_assert_finalize_object (g_steal_pointer (&paintable));
}

static void
test_bgrx_frame_is_opaque (void)
{
  g_autoptr (NatterVideoPaintable) paintable = natter_video_paintable_new ();
  /* B, G, R and a padding byte that must not become transparency. */
  const guint8 pixel[4] = { 0x10, 0x40, 0xc0, 0x00 };
  g_autoptr (GstBuffer) buffer = solid_frame (GST_VIDEO_FORMAT_BGRx, 30, 20, pixel);
  g_autoptr (GstCaps) caps = caps_for (GST_VIDEO_FORMAT_BGRx, 30, 20);

  g_assert_true (natter_video_paintable_push_buffer (paintable, buffer, caps));
  assert_texture_pixel (natter_video_paintable_get_texture (paintable), 0xc0, 0x40, 0x10);
  g_assert_finalize_object (g_steal_pointer (&paintable));
}

static void
test_other_formats_refused (void)
{
  g_autoptr (NatterVideoPaintable) paintable = natter_video_paintable_new ();
  g_autoptr (GstCaps) caps = caps_for (GST_VIDEO_FORMAT_I420, 16, 16);
  GstVideoInfo info;
  g_autoptr (GstBuffer) buffer = NULL;

  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 16, 16);
  buffer = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  g_assert_false (natter_video_paintable_push_buffer (paintable, buffer, caps));
  g_assert_null (natter_video_paintable_get_texture (paintable));
  g_assert_cmpuint (natter_video_paintable_get_frame_count (paintable), ==, 0);
  g_assert_finalize_object (g_steal_pointer (&paintable));
}

static void
on_invalidate_size (GdkPaintable *paintable, int *count)
{
  (*count)++;
}

static void
test_pipeline_frames_arrive (void)
{
  g_autoptr (NatterVideoPaintable) paintable = natter_video_paintable_new ();
  g_autoptr (GstElement) pipeline = NULL;
  g_autoptr (GstCaps) caps = gst_caps_from_string ("video/x-raw,format=I420,width=160,height=90");
  GstElement *sink;
  GstElement *source;
  gint64 deadline;
  int size_changes = 0;

  g_signal_connect (paintable, "invalidate-size", G_CALLBACK (on_invalidate_size), &size_changes);

  pipeline = gst_pipeline_new (NULL);
  source = gst_element_factory_make ("videotestsrc", NULL);
  g_assert_nonnull (source);
  g_object_set (source, "num-buffers", 30, NULL);
  sink = natter_video_paintable_create_sink (paintable);
  g_assert_nonnull (sink);
  gst_bin_add_many (GST_BIN (pipeline), source, sink, NULL);
  /* I420 at 160x90: the sink converts. */
  g_assert_true (gst_element_link_filtered (source, sink, caps));
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);

  deadline = g_get_monotonic_time () + TIMEOUT_US;
  while (natter_video_paintable_get_frame_count (paintable) < 5 &&
         g_get_monotonic_time () < deadline) {
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
  }

  g_assert_cmpuint (natter_video_paintable_get_frame_count (paintable), >=, 5);
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (GDK_PAINTABLE (paintable)), ==, 160);
  g_assert_cmpint (gdk_paintable_get_intrinsic_height (GDK_PAINTABLE (paintable)), ==, 90);
  g_assert_cmpint (size_changes, ==, 1);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_clear_object (&pipeline);
  /* Idle sources still queued hold references; let them run. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_finalize_object (g_steal_pointer (&paintable));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);

  g_test_add_func ("/natter/video-paintable/rgba-frame", test_rgba_frame);
  g_test_add_func ("/natter/video-paintable/bgrx-frame-is-opaque", test_bgrx_frame_is_opaque);
  g_test_add_func ("/natter/video-paintable/other-formats-refused", test_other_formats_refused);
  g_test_add_func ("/natter/video-paintable/pipeline-frames-arrive", test_pipeline_frames_arrive);

  return g_test_run ();
}
