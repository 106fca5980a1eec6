/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-background"

#include "config.h"

#include <malloc.h>
#include <string.h>

#include "natter-background.h"

/* What a process that runs all day without a window does to stay small
 * (issue 20). */

/**
 * natter_background_start_without_gl:
 *
 * For a process started with no window (natter --background, as at
 * login): opens the display without GL, so Mesa never loads, and its
 * windows draw with cairo.
 *
 * Why: GTK 4.8's X11 backend chooses the visual of all its windows
 * through EGL (or GLX) when it opens the display, window or not, and that
 * loads the GL driver: with llvmpipe libLLVM and swrast_dri, 58 of the 95
 * MiB of a hidden, signed-in Natter; a hardware driver costs tens of MiB
 * too, and nothing unloads it. The choice holds for the life of the
 * process, so a window opened later (a call, the user) draws with GSK's
 * cairo renderer: the same widgets, text, images and call video, drawn on
 * the CPU. Started with a window (from the launcher), Natter keeps GL.
 *
 * GDK reads GDK_DEBUG once, in gtk_init (): this runs it early, before
 * any thread, and puts the variable back so that what Natter launches
 * (a viewer for an attachment) keeps GL. The user's own choice wins: a
 * GSK_RENDERER other than cairo, or a gl- key in GDK_DEBUG.
 */
void
natter_background_start_without_gl (void)
{
  const char *renderer = g_getenv ("GSK_RENDERER");
  g_autofree char *debug = g_strdup (g_getenv ("GDK_DEBUG"));
  g_autofree char *keys = NULL;

  if (renderer != NULL && *renderer != '\0' && g_ascii_strcasecmp (renderer, "cairo") != 0)
    return;
  if (debug != NULL && strstr (debug, "gl-") != NULL)
    return;

  if (debug != NULL && *debug != '\0')
    keys = g_strconcat (debug, ",gl-disable", NULL);
  else
    keys = g_strdup ("gl-disable");
  g_setenv ("GDK_DEBUG", keys, TRUE);
  gtk_init ();
  if (debug != NULL)
    g_setenv ("GDK_DEBUG", debug, TRUE);
  else
    g_unsetenv ("GDK_DEBUG");

  /* Without it GSK tries GL first and logs that it failed. The display's
   * "gsk-renderer" is how GTK's inspector names the renderer of its own
   * display. */
  g_object_set_data (G_OBJECT (gdk_display_get_default ()), "gsk-renderer", (gpointer) "cairo");
}

/**
 * natter_background_give_memory_back:
 *
 * Returns the heap's free pages to the system, once the last window and
 * its views are gone: glibc keeps what it freed in its arenas otherwise,
 * and the process runs on for hours with no window.
 */
void
natter_background_give_memory_back (void)
{
  malloc_trim (0);
}
