/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-display"

#include "config.h"

#include <gtk/gtk.h>
#include <string.h>

#include "natter-display.h"

/**
 * natter_display_open_for_cairo:
 *
 * When the environment asks for GSK's cairo renderer (GSK_RENDERER=cairo),
 * opens the default display without GL; otherwise does nothing and the
 * application opens the display as usual. Call it before gtk_init().
 *
 * Why: nothing of a cairo-drawn window uses GL, yet GTK 4.8's X11 backend
 * chooses the visual of its windows through EGL when it opens the display,
 * and that loads the GL driver for the life of the process: with Mesa's
 * llvmpipe, libLLVM and swrast_dri, 49 of the 115 MiB at the first frame
 * (issue 20). GDK reads GDK_DEBUG once, in gtk_init(): it gets gl-disable
 * for that call only, so what Natter launches keeps GL. A gl- key the user
 * put in GDK_DEBUG wins.
 *
 * Returns: whether the display was opened here, without GL
 */
gboolean
natter_display_open_for_cairo (void)
{
  const char *renderer = g_getenv ("GSK_RENDERER");
  g_autofree char *debug = g_strdup (g_getenv ("GDK_DEBUG"));
  g_autofree char *keys = NULL;
  gboolean opened;

  if (renderer == NULL || g_ascii_strcasecmp (renderer, "cairo") != 0)
    return FALSE;
  if (debug != NULL && strstr (debug, "gl-") != NULL)
    return FALSE;

  keys = debug != NULL && *debug != '\0' ? g_strconcat (debug, ",gl-disable", NULL)
                                         : g_strdup ("gl-disable");
  g_setenv ("GDK_DEBUG", keys, TRUE);
  /* No display: the application says so as it always did. */
  opened = gtk_init_check ();
  if (debug != NULL)
    g_setenv ("GDK_DEBUG", debug, TRUE);
  else
    g_unsetenv ("GDK_DEBUG");

  return opened;
}
