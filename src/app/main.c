/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "natter-application.h"
#include "natter-call-pipeline.h"
#include "natter-display.h"

int
main (int argc, char *argv[])
{
  g_autoptr (NatterApplication) application = NULL;

  /* Before any thread: what calls free goes back to the system. */
  natter_call_pipeline_limit_arenas ();
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* No gst_init() here: GStreamer loads with the first call, ring or
   * device list (issue 20), not before the first frame. */
  natter_display_open_for_cairo ();

  application = natter_application_new ();
  return g_application_run (G_APPLICATION (application), argc, argv);
}
