/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app-thumbnail-loader"

#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>

#include "natter-thumbnail-loader.h"

/* The thumbnail loader on real image files written by the test: scaled to
 * fit without enlarging, turned upright by EXIF orientation, answered from
 * its cache within its size, cancellable, and a clear error for a file
 * that is no image. */

#define TIMEOUT_S 20

typedef struct {
  char *dir;
  NatterThumbnailLoader *loader;
} Fixture;

typedef struct {
  GdkTexture *texture;
  GError *error;
  gboolean done;
} LoadResult;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("natter-thumbnails-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->loader = natter_thumbnail_loader_new (2);
}

static void
remove_dir (const char *dir)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  while (handle != NULL && (name = g_dir_read_name (handle)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);

    g_unlink (path);
  }
  g_rmdir (dir);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_assert_finalize_object (fixture->loader);
  remove_dir (fixture->dir);
  g_free (fixture->dir);
}

/* Left half red, right half blue: which way round it comes out shows the
 * orientation. */
static GdkPixbuf *
two_colour_pixbuf (int width, int height)
{
  GdkPixbuf *pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      guint8 *p = pixels + y * stride + x * 3;

      p[0] = x < width / 2 ? 0xff : 0x00;
      p[1] = 0x00;
      p[2] = x < width / 2 ? 0x00 : 0xff;
    }

  return pixbuf;
}

static char *
write_png (Fixture *fixture, const char *name, int width, int height)
{
  g_autoptr (GdkPixbuf) pixbuf = two_colour_pixbuf (width, height);
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (fixture->dir, name, NULL);

  g_assert_true (gdk_pixbuf_save (pixbuf, path, "png", &error, NULL));
  g_assert_no_error (error);

  return path;
}

/* A JPEG as a phone writes it: the pixels as the sensor saw them and an
 * EXIF APP1 segment right after SOI saying how to turn them (TIFF,
 * big-endian, one IFD entry: Orientation, SHORT). */
static char *
write_jpeg_with_orientation (
  Fixture *fixture, const char *name, int width, int height, guint16 orientation)
{
  static const guint8 exif_head[] = {
    0xff, 0xe1, 0x00, 0x22, 'E',  'x',  'i',  'f',  0, 0, /* APP1, length 34 */
    'M',  'M',  0x00, 0x2a, 0x00, 0x00, 0x00, 0x08,       /* TIFF header */
    0x00, 0x01,                                           /* one entry */
    0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,       /* Orientation, SHORT, 1 */
  };
  g_autoptr (GdkPixbuf) pixbuf = two_colour_pixbuf (width, height);
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *jpeg = NULL;
  gsize jpeg_size = 0;
  guint8 value[] = { orientation >> 8, orientation & 0xff, 0, 0, 0, 0, 0, 0 }; /* value, next IFD */
  char *path = g_build_filename (fixture->dir, name, NULL);

  g_assert_true (
    gdk_pixbuf_save_to_buffer (pixbuf, &jpeg, &jpeg_size, "jpeg", &error, "quality", "95", NULL));
  g_assert_no_error (error);
  g_assert_cmpuint ((guint8) jpeg[0], ==, 0xff);
  g_assert_cmpuint ((guint8) jpeg[1], ==, 0xd8);

  g_byte_array_append (bytes, (const guint8 *) jpeg, 2);
  g_byte_array_append (bytes, exif_head, sizeof exif_head);
  g_byte_array_append (bytes, value, sizeof value);
  g_byte_array_append (bytes, (const guint8 *) jpeg + 2, jpeg_size - 2);
  g_assert_true (g_file_set_contents (path, (const char *) bytes->data, bytes->len, &error));
  g_assert_no_error (error);

  return path;
}

static void
on_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LoadResult *load = user_data;

  g_assert_true (g_main_context_is_owner (g_main_context_default ()));
  load->texture =
    natter_thumbnail_loader_load_finish (NATTER_THUMBNAIL_LOADER (source), result, &load->error);
  load->done = TRUE;
}

static gboolean
on_timeout (gpointer user_data)
{
  g_error ("timed out waiting for a thumbnail");
  return G_SOURCE_REMOVE;
}

static void
load (Fixture *fixture,
      const char *path,
      int max_width,
      int max_height,
      GCancellable *cancellable,
      LoadResult *result)
{
  guint timeout_id = g_timeout_add_seconds (TIMEOUT_S, on_timeout, NULL);

  *result = (LoadResult){ 0 };
  natter_thumbnail_loader_load_async (fixture->loader, path, max_width, max_height, cancellable,
                                      on_loaded, result);
  /* Answered through the main loop, never from inside the call. */
  g_assert_false (result->done);
  while (!result->done)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout_id);
}

static void
load_result_clear (LoadResult *result)
{
  g_clear_object (&result->texture);
  g_clear_error (&result->error);
}

/* The colour at (x, y) of the texture as 0xRRGGBB, each channel rounded to
 * 0x00 or 0xff (JPEG is lossy). */
static guint32
texture_colour_at (GdkTexture *texture, int x, int y)
{
  int width = gdk_texture_get_width (texture);
  int height = gdk_texture_get_height (texture);
  g_autofree guint8 *data = g_malloc ((gsize) width * height * 4);
  const guint8 *p;

  gdk_texture_download (texture, data, (gsize) width * 4);
  p = data + ((gsize) y * width + x) * 4; /* BGRA */

  return (p[2] > 0x80 ? 0xff0000 : 0) | (p[1] > 0x80 ? 0x00ff00 : 0) | (p[0] > 0x80 ? 0x0000ff : 0);
}

static void
test_scales_to_fit (Fixture *fixture, gconstpointer data)
{
  g_autofree char *wide = write_png (fixture, "wide.png", 400, 200);
  g_autofree char *small = write_png (fixture, "small.png", 40, 20);
  LoadResult result;

  load (fixture, wide, 100, 100, NULL, &result);
  g_assert_no_error (result.error);
  g_assert_cmpint (gdk_texture_get_width (result.texture), ==, 100);
  g_assert_cmpint (gdk_texture_get_height (result.texture), ==, 50);
  g_assert_cmphex (texture_colour_at (result.texture, 5, 25), ==, 0xff0000);
  g_assert_cmphex (texture_colour_at (result.texture, 95, 25), ==, 0x0000ff);
  load_result_clear (&result);

  /* A tall box: the width is what limits. */
  load (fixture, wide, 80, 300, NULL, &result);
  g_assert_no_error (result.error);
  g_assert_cmpint (gdk_texture_get_width (result.texture), ==, 80);
  g_assert_cmpint (gdk_texture_get_height (result.texture), ==, 40);
  load_result_clear (&result);

  /* Never enlarged: a small image stays as it is. */
  load (fixture, small, 300, 300, NULL, &result);
  g_assert_no_error (result.error);
  g_assert_cmpint (gdk_texture_get_width (result.texture), ==, 40);
  g_assert_cmpint (gdk_texture_get_height (result.texture), ==, 20);
  load_result_clear (&result);
}

static void
test_exif_orientation (Fixture *fixture, gconstpointer data)
{
  g_autofree char *rotated = write_jpeg_with_orientation (fixture, "rotated.jpg", 80, 40, 6);
  g_autofree char *upright = write_jpeg_with_orientation (fixture, "upright.jpg", 80, 40, 1);
  g_autoptr (GdkPixbuf) check = NULL;
  g_autoptr (GError) error = NULL;
  LoadResult result;

  /* The fixture is what it should be: gdk-pixbuf reads the tag back. */
  check = gdk_pixbuf_new_from_file (rotated, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (gdk_pixbuf_get_option (check, "orientation"), ==, "6");

  /* 6: turn 90° clockwise to show; the red left half ends up on top. */
  load (fixture, rotated, 200, 200, NULL, &result);
  g_assert_no_error (result.error);
  g_assert_cmpint (gdk_texture_get_width (result.texture), ==, 40);
  g_assert_cmpint (gdk_texture_get_height (result.texture), ==, 80);
  g_assert_cmphex (texture_colour_at (result.texture, 20, 5), ==, 0xff0000);
  g_assert_cmphex (texture_colour_at (result.texture, 20, 75), ==, 0x0000ff);
  load_result_clear (&result);

  /* Turned first, then fitted: the long side is now the height. */
  load (fixture, rotated, 100, 20, NULL, &result);
  g_assert_no_error (result.error);
  g_assert_cmpint (gdk_texture_get_width (result.texture), ==, 10);
  g_assert_cmpint (gdk_texture_get_height (result.texture), ==, 20);
  load_result_clear (&result);

  /* Decoded smaller than the file (libjpeg's scaling): still turned. */
  load (fixture, rotated, 30, 30, NULL, &result);
  g_assert_no_error (result.error);
  g_assert_cmpint (gdk_texture_get_width (result.texture), ==, 15);
  g_assert_cmpint (gdk_texture_get_height (result.texture), ==, 30);
  g_assert_cmphex (texture_colour_at (result.texture, 7, 2), ==, 0xff0000);
  g_assert_cmphex (texture_colour_at (result.texture, 7, 27), ==, 0x0000ff);
  load_result_clear (&result);

  load (fixture, upright, 200, 200, NULL, &result);
  g_assert_no_error (result.error);
  g_assert_cmpint (gdk_texture_get_width (result.texture), ==, 80);
  g_assert_cmpint (gdk_texture_get_height (result.texture), ==, 40);
  g_assert_cmphex (texture_colour_at (result.texture, 5, 20), ==, 0xff0000);
  load_result_clear (&result);
}

static void
test_cache (Fixture *fixture, gconstpointer data)
{
  g_autofree char *first = write_png (fixture, "first.png", 64, 64);
  g_autofree char *second = write_png (fixture, "second.png", 64, 64);
  g_autofree char *third = write_png (fixture, "third.png", 64, 64);
  GdkTexture *first_texture;
  LoadResult result;

  g_assert_cmpuint (natter_thumbnail_loader_get_cache_size (fixture->loader), ==, 2);
  g_assert_null (natter_thumbnail_loader_lookup (fixture->loader, first, 32, 32));

  load (fixture, first, 32, 32, NULL, &result);
  g_assert_no_error (result.error);
  first_texture = result.texture;
  g_assert_true (natter_thumbnail_loader_lookup (fixture->loader, first, 32, 32) == first_texture);
  /* Another box is another thumbnail. */
  g_assert_null (natter_thumbnail_loader_lookup (fixture->loader, first, 16, 16));

  /* The same again comes from the cache: the very same texture. */
  load (fixture, first, 32, 32, NULL, &result);
  g_assert_true (result.texture == first_texture);
  g_object_unref (result.texture);
  g_assert_cmpuint (natter_thumbnail_loader_get_n_cached (fixture->loader), ==, 1);

  load (fixture, second, 32, 32, NULL, &result);
  load_result_clear (&result);
  g_assert_cmpuint (natter_thumbnail_loader_get_n_cached (fixture->loader), ==, 2);

  /* Used last, the first stays; a third pushes out the second. */
  g_assert_nonnull (natter_thumbnail_loader_lookup (fixture->loader, first, 32, 32));
  load (fixture, third, 32, 32, NULL, &result);
  load_result_clear (&result);
  g_assert_cmpuint (natter_thumbnail_loader_get_n_cached (fixture->loader), ==, 2);
  g_assert_nonnull (natter_thumbnail_loader_lookup (fixture->loader, first, 32, 32));
  g_assert_null (natter_thumbnail_loader_lookup (fixture->loader, second, 32, 32));
  g_assert_nonnull (natter_thumbnail_loader_lookup (fixture->loader, third, 32, 32));

  g_object_unref (first_texture);

  /* At the pixel limit a result is kept; one row more and it is not. */
  {
    g_autofree char *at_limit = write_png (fixture, "at-limit.png", 1024, 1024);
    g_autofree char *over_limit = write_png (fixture, "over-limit.png", 1024, 1025);

    load (fixture, at_limit, 2048, 2048, NULL, &result);
    g_assert_cmpint (gdk_texture_get_height (result.texture), ==, 1024);
    load_result_clear (&result);
    g_assert_nonnull (natter_thumbnail_loader_lookup (fixture->loader, at_limit, 2048, 2048));
    load (fixture, over_limit, 2048, 2048, NULL, &result);
    g_assert_cmpint (gdk_texture_get_height (result.texture), ==, 1025);
    load_result_clear (&result);
    g_assert_null (natter_thumbnail_loader_lookup (fixture->loader, over_limit, 2048, 2048));
    g_assert_nonnull (natter_thumbnail_loader_lookup (fixture->loader, at_limit, 2048, 2048));
  }
}

static void
test_cancel (Fixture *fixture, gconstpointer data)
{
  g_autofree char *image = write_png (fixture, "image.png", 64, 64);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  LoadResult result;

  g_cancellable_cancel (cancellable);
  load (fixture, image, 32, 32, cancellable, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (result.texture);
  load_result_clear (&result);
  g_assert_cmpuint (natter_thumbnail_loader_get_n_cached (fixture->loader), ==, 0);
}

static void
test_not_an_image (Fixture *fixture, gconstpointer data)
{
  g_autofree char *text = g_build_filename (fixture->dir, "notes.png", NULL);
  g_autofree char *missing = g_build_filename (fixture->dir, "missing.png", NULL);
  g_autoptr (GError) error = NULL;
  LoadResult result;

  g_assert_true (g_file_set_contents (text, "not a picture at all", -1, &error));
  load (fixture, text, 32, 32, NULL, &result);
  g_assert_nonnull (result.error);
  g_assert_null (result.texture);
  load_result_clear (&result);

  load (fixture, missing, 32, 32, NULL, &result);
  g_assert_error (result.error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  load_result_clear (&result);
  g_assert_cmpuint (natter_thumbnail_loader_get_n_cached (fixture->loader), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/natter/app/thumbnail-loader/scales-to-fit", Fixture, NULL, fixture_set_up,
              test_scales_to_fit, fixture_tear_down);
  g_test_add ("/natter/app/thumbnail-loader/exif-orientation", Fixture, NULL, fixture_set_up,
              test_exif_orientation, fixture_tear_down);
  g_test_add ("/natter/app/thumbnail-loader/cache", Fixture, NULL, fixture_set_up, test_cache,
              fixture_tear_down);
  g_test_add ("/natter/app/thumbnail-loader/cancel", Fixture, NULL, fixture_set_up, test_cancel,
              fixture_tear_down);
  g_test_add ("/natter/app/thumbnail-loader/not-an-image", Fixture, NULL, fixture_set_up,
              test_not_an_image, fixture_tear_down);

  return g_test_run ();
}
