/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app-display"

#include "config.h"

#include <gtk/gtk.h>

#include "natter-display.h"

/* With GSK_RENDERER=cairo the display opens without GL, so no GL driver
 * is loaded into the process (issue 20), and a window still draws. Runs
 * under Xvfb, where GTK would otherwise load Mesa's llvmpipe. */

static gboolean
gl_driver_mapped (void)
{
  g_autofree char *maps = NULL;

  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  return strstr (maps, "_dri.so") != NULL || strstr (maps, "libLLVM") != NULL ||
         strstr (maps, "libEGL_mesa") != NULL || strstr (maps, "libGLX_mesa") != NULL;
}

static void
on_frame (GdkFrameClock *clock, gboolean *painted)
{
  *painted = TRUE;
}

static void
test_cairo_opens_without_gl (void)
{
  GtkWidget *window;
  GskRenderer *renderer;
  gboolean painted = FALSE;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  /* Another renderer asked for: nothing is opened here. */
  g_setenv ("GSK_RENDERER", "ngl", TRUE);
  g_assert_false (natter_display_open_for_cairo ());
  g_assert_null (gdk_display_get_default ());

  g_setenv ("GSK_RENDERER", "cairo", TRUE);
  g_unsetenv ("GDK_DEBUG");
  g_assert_true (natter_display_open_for_cairo ());
  g_assert_nonnull (gdk_display_get_default ());
  /* What the app launches later keeps GL. */
  g_assert_null (g_getenv ("GDK_DEBUG"));

  window = gtk_window_new ();
  gtk_window_set_child (GTK_WINDOW (window), gtk_label_new ("Natter"));
  gtk_window_present (GTK_WINDOW (window));
  g_signal_connect (gtk_widget_get_frame_clock (window), "after-paint", G_CALLBACK (on_frame),
                    &painted);
  while (!painted && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (painted);

  renderer = gtk_native_get_renderer (GTK_NATIVE (window));
  g_assert_cmpstr (G_OBJECT_TYPE_NAME (renderer), ==, "GskCairoRenderer");
  g_assert_false (gl_driver_mapped ());

  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/app/display/cairo-opens-without-gl", test_cairo_opens_without_gl);

  return g_test_run ();
}
