/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <unistd.h>

#include <gio/gio.h>

#include "natter-call-media-devices.h"
#include "natter-call-media-ring.h"
#include "natter-call-media-service.h"
#include "natter-call-pipeline.h"

/* natter-call-media: one call's media, for the app (issue 20). Started by
 * NatterCallMediaProxy with its end of a socketpair as --fd; exits when
 * the call is closed or the app goes away, taking the call stack's
 * libraries with it. With --ring MODE it plays the app's ringtone instead
 * (NatterRingtoneProcess), with --devices it is the app's device monitor
 * (NatterDeviceMonitorProcess): the app loads no GStreamer (issue 20). */

static void
on_finished (NatterCallMediaService *service, GParamSpec *pspec, GMainLoop *loop)
{
  g_main_loop_quit (loop);
}

int
main (int argc, char *argv[])
{
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketConnection) stream = NULL;
  g_autoptr (GDBusConnection) connection = NULL;
  g_autoptr (NatterCallMediaService) service = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autofree char *guid = g_dbus_generate_guid ();
  g_autofree char *ring = NULL;
  gboolean devices = FALSE;
  g_autofree char *sound_dir = NULL;
  int fd = -1;
  const GOptionEntry entries[] = {
    { "fd", 0, 0, G_OPTION_ARG_INT, &fd, "The app's end of the control socket", "FD" },
    { "ring", 0, 0, G_OPTION_ARG_STRING, &ring, "Play this ringtone until stdin closes", "MODE" },
    { "devices", 0, 0, G_OPTION_ARG_NONE, &devices, "List the devices and follow hot-plug", NULL },
    { "sound-dir", 0, 0, G_OPTION_ARG_FILENAME, &sound_dir, "The sound theme's directory", "DIR" },
    { NULL },
  };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("natter-call-media: %s\n", error->message);
    return 2;
  }
  if (devices)
    return natter_call_media_devices_run ();
  if (ring != NULL)
    return natter_call_media_ring_run (ring, sound_dir != NULL ? sound_dir : "/nonexistent");

  natter_call_pipeline_limit_arenas ();
  if (fd < 0) {
    g_printerr ("natter-call-media: --fd, --ring or --devices is needed\n");
    return 2;
  }

  /* The connection first: the app waits for its handshake. */
  socket = g_socket_new_from_fd (fd, &error);
  if (socket == NULL) {
    g_printerr ("natter-call-media: %s\n", error->message);
    return 1;
  }
  stream = g_socket_connection_factory_create_connection (socket);
  connection =
    g_dbus_connection_new_sync (G_IO_STREAM (stream), guid,
                                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER |
                                  G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_REQUIRE_SAME_USER |
                                  G_DBUS_CONNECTION_FLAGS_DELAY_MESSAGE_PROCESSING,
                                NULL, NULL, &error);
  if (connection == NULL) {
    g_printerr ("natter-call-media: %s\n", error->message);
    return 1;
  }
  g_dbus_connection_set_exit_on_close (connection, FALSE);

  /* gst_init, the plugins' preload and the allocator's settings for a
   * call: done while the call rings. */
  natter_call_pipeline_hold ();

  loop = g_main_loop_new (NULL, FALSE);
  service = natter_call_media_service_new (connection, &error);
  if (service == NULL) {
    g_printerr ("natter-call-media: %s\n", error->message);
    return 1;
  }
  g_signal_connect (service, "notify::finished", G_CALLBACK (on_finished), loop);
  g_dbus_connection_start_message_processing (connection);
  if (!natter_call_media_service_get_finished (service))
    g_main_loop_run (loop);

  g_dbus_connection_flush_sync (connection, NULL, NULL);
  g_clear_object (&service);
  natter_call_pipeline_preload_wait ();
  return 0;
}
