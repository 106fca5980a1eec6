/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "natter-application.h"
#include "natter-call-media-proxy.h"
#include "natter-call-pipeline.h"
#include "natter-display.h"
#include "natter-handover.h"

int
main (int argc, char *argv[])
{
  g_autoptr (NatterApplication) application = NULL;
  g_autofree char *server_url = NULL;
  int status;

  /* Before any thread: what calls free goes back to the system. */
  natter_call_pipeline_limit_arenas ();
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* No gst_init() here: GStreamer loads with the first call, ring or
   * device list (issue 20), not before the first frame. */
  natter_display_open_for_cairo ();

  /* Each call's media runs in natter-call-media, which exits when the call
   * ends and takes the call stack's libraries with it (issue 20).
   * NATTER_CALL_MEDIA_HELPER names another one (the build tree's);
   * NATTER_CALL_MEDIA=in-process keeps calls in this process, to compare. */
  if (g_strcmp0 (g_getenv ("NATTER_CALL_MEDIA"), "in-process") != 0) {
    const char *helper = g_getenv ("NATTER_CALL_MEDIA_HELPER");

    natter_call_media_proxy_set_helper_path (helper != NULL ? helper
                                                            : LIBEXECDIR "/natter-call-media");
  }

  application = natter_application_new ();
  natter_application_enable_handover (application);
  status = g_application_run (G_APPLICATION (application), argc, argv);
  if (!natter_application_get_handover_requested (application))
    return status;

  /* The last window closed: the same binary again, in the background,
   * once this run has closed its store and connection. */
  server_url = g_strdup (natter_application_get_server_url_option (application));
  g_clear_object (&application);
  natter_handover_exec (argv[0], server_url);
  return 1;
}
