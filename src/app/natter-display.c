/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-display"

#include "config.h"

#include <gtk/gtk.h>
#include <string.h>

#include "natter-display.h"

/* How the app opens its display, and whether GL comes with it (issue 20).
 *
 * GTK 4.8's X11 backend chooses the visual of its windows through EGL (or
 * GLX) when it opens the display, window or not, and that loads the GL
 * driver for the life of the process: with Mesa's llvmpipe, libLLVM and
 * swrast_dri, about 50 MiB; a hardware driver costs tens of MiB too. No
 * public API delays it. GDK reads GDK_DEBUG once, in gtk_init (): it gets
 * gl-disable for that call only, so that what Natter launches (a viewer
 * for an attachment) keeps GL. */

/**
 * natter_display_user_asked_for_gl:
 *
 * The user's own choice wins: a renderer other than cairo, or a gl- key
 * in GDK_DEBUG.
 *
 * Returns: whether the environment asks for GL
 */
gboolean
natter_display_user_asked_for_gl (void)
{
  const char *renderer = g_getenv ("GSK_RENDERER");
  const char *debug = g_getenv ("GDK_DEBUG");

  if (renderer != NULL && *renderer != '\0' && g_ascii_strcasecmp (renderer, "cairo") != 0)
    return TRUE;
  return debug != NULL && strstr (debug, "gl-") != NULL;
}

/**
 * natter_display_open_without_gl:
 *
 * Opens the default display without GL, unless the user asked for GL;
 * its windows then draw with GSK's cairo renderer. Call it before
 * gtk_init () and before any thread.
 *
 * Returns: whether the display was opened here, without GL
 */
gboolean
natter_display_open_without_gl (void)
{
  g_autofree char *debug = g_strdup (g_getenv ("GDK_DEBUG"));
  g_autofree char *keys = NULL;
  gboolean opened;

  if (natter_display_user_asked_for_gl ())
    return FALSE;

  keys = debug != NULL && *debug != '\0' ? g_strconcat (debug, ",gl-disable", NULL)
                                         : g_strdup ("gl-disable");
  g_setenv ("GDK_DEBUG", keys, TRUE);
  /* No display: the application says so later, as it always did. */
  opened = gtk_init_check ();
  if (debug != NULL)
    g_setenv ("GDK_DEBUG", debug, TRUE);
  else
    g_unsetenv ("GDK_DEBUG");

  /* Without it GSK tries GL first and logs that it failed. The display's
   * "gsk-renderer" is how GTK's inspector names the renderer of its own
   * display. */
  if (opened)
    g_object_set_data (G_OBJECT (gdk_display_get_default ()), "gsk-renderer", (gpointer) "cairo");

  return opened;
}

/**
 * natter_display_open_for_cairo:
 *
 * When the environment asks for the cairo renderer (GSK_RENDERER=cairo),
 * opens the display without GL: nothing of a cairo-drawn window uses it
 * (49 of the 115 MiB at the first frame with llvmpipe). Otherwise does
 * nothing, and the application opens the display as usual.
 *
 * Returns: whether the display was opened here, without GL
 */
gboolean
natter_display_open_for_cairo (void)
{
  const char *renderer = g_getenv ("GSK_RENDERER");

  if (renderer == NULL || g_ascii_strcasecmp (renderer, "cairo") != 0)
    return FALSE;
  return natter_display_open_without_gl ();
}
