/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-app-handover"

#include "config.h"

#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>

#include "natter-client.h"
#include "natter-call-manager.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "natter-test-x11.h"

/* Issue 20: the real natter binary, started with its window (as from the
 * launcher), hands over to a fresh `natter --background` when that window
 * closes: the same process (PID) with a new image, no GL driver, signed in
 * again with the kept token, and a call still rings it. With
 * NATTER_TEST_NO_NOTIFICATION_SERVER (a bare window manager) the ring is
 * a window of its own; otherwise a notification. */

#define TIMEOUT_MS 20000

static GSubprocess *notification_daemon;

static gboolean
connected (NatterClient *client)
{
  return natter_connection_get_state (natter_client_get_connection (client)) ==
         NATTER_CONNECTION_STATE_CONNECTED;
}

static void
on_signed_in (GObject *source, GAsyncResult *result, gpointer user_data)
{
  int *state = user_data;

  *state = natter_client_sign_in_finish (NATTER_CLIENT (source), result, NULL) ? 1 : -1;
}

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  char **line = user_data;

  *line =
    g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, NULL);
  if (*line == NULL)
    *line = g_strdup ("");
}

static char *
read_line (GDataInputStream *out)
{
  char *line = NULL;

  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, NULL, on_line, &line);
  natter_test_wait_until (line != NULL, TIMEOUT_MS);
  return line;
}

/* The process's arguments, NUL-separated, as one string with spaces. */
static char *
command_line_of (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/cmdline", (int) pid);
  g_autofree char *contents = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, &contents, &length, NULL))
    return g_strdup ("");
  for (gsize i = 0; i + 1 < length; i++)
    if (contents[i] == '\0')
      contents[i] = ' ';
  return g_steal_pointer (&contents);
}

static gboolean
maps_gl_driver (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/maps", (int) pid);
  g_autofree char *maps = NULL;

  g_assert_true (g_file_get_contents (path, &maps, NULL, NULL));
  return strstr (maps, "_dri.so") != NULL || strstr (maps, "libEGL_") != NULL ||
         strstr (maps, "libGLX_") != NULL || strstr (maps, "libLLVM") != NULL;
}

/* The targets of @pid's descriptors above stdio ("socket:[1234]", paths). */
static GPtrArray *
descriptors_of (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/fd", (int) pid);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  GPtrArray *targets = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *link_path = g_build_filename (path, name, NULL);
    char *target;

    if (g_ascii_strtoll (name, NULL, 10) < 3)
      continue;
    target = g_file_read_link (link_path, NULL);
    if (target != NULL)
      g_ptr_array_add (targets, target);
  }
  return targets;
}

static guint
count_ending_with (GPtrArray *targets, const char *suffix)
{
  guint count = 0;

  for (guint i = 0; i < targets->len; i++)
    if (g_str_has_suffix (g_ptr_array_index (targets, i), suffix))
      count++;
  return count;
}

/* A window can go between XQueryTree () and the questions about it
 * (the app closing it, or its image being replaced): Xlib's default
 * handler would end the test for that BadWindow. */
static int
ignore_x_error (Display *display, XErrorEvent *event)
{
  return 0;
}

/* @pid's viewable top-level windows; with @close, each gets the
 * WM_DELETE_WINDOW message a window manager's close button sends. */
static guint
windows_of (GPid pid, gboolean close)
{
  Display *display = XOpenDisplay (NULL);
  g_autoptr (GArray) windows = NULL;

  g_assert_nonnull (display);
  windows = natter_test_x11_windows_of (display, pid);
  for (guint i = 0; close && i < windows->len; i++)
    natter_test_x11_close_window (display, g_array_index (windows, Window, i));
  XCloseDisplay (display);
  return windows->len;
}

/* Saves @pid's (first) viewable window as PNG at @path, once it shows more
 * than one colour (painted); returns whether it did. */
static gboolean
save_window_png (GPid pid, const char *path)
{
  Display *display = XOpenDisplay (NULL);
  g_autoptr (GArray) windows = NULL;
  gboolean saved = FALSE;

  g_assert_nonnull (display);
  windows = natter_test_x11_windows_of (display, pid);
  for (guint i = 0; i < windows->len && !saved; i++) {
    Window window = g_array_index (windows, Window, i);
    XWindowAttributes attributes;
    gboolean painted = FALSE;
    XImage *image;
    g_autoptr (GdkPixbuf) pixbuf = NULL;

    if (!XGetWindowAttributes (display, window, &attributes))
      continue;
    image =
      XGetImage (display, window, 0, 0, attributes.width, attributes.height, AllPlanes, ZPixmap);
    if (image == NULL)
      continue;
    pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, attributes.width, attributes.height);
    for (int y = 0; y < attributes.height; y++) {
      guchar *row = gdk_pixbuf_get_pixels (pixbuf) + y * gdk_pixbuf_get_rowstride (pixbuf);

      for (int x = 0; x < attributes.width; x++) {
        unsigned long pixel = XGetPixel (image, x, y);

        row[x * 3] = (pixel >> 16) & 0xff;
        row[x * 3 + 1] = (pixel >> 8) & 0xff;
        row[x * 3 + 2] = pixel & 0xff;
        if (pixel != XGetPixel (image, 0, 0))
          painted = TRUE;
      }
    }
    XDestroyImage (image);
    if (painted)
      saved = gdk_pixbuf_save (pixbuf, path, "png", NULL, NULL);
  }
  XCloseDisplay (display);
  return saved;
}

/* Whether the stand-in notification daemon was asked to show @summary. */
static gboolean
notified (const char *summary)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) calls = NULL;
  GVariantIter iter;
  const char *method;
  GVariant *args;
  gboolean found = FALSE;

  reply = g_dbus_connection_call_sync (
    bus, "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
    "org.freedesktop.DBus.Mock", "GetCalls", NULL, G_VARIANT_TYPE ("(a(tsav))"),
    G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  g_assert_nonnull (reply);
  calls = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, calls);
  while (g_variant_iter_next (&iter, "(t&s@av)", NULL, &method, &args)) {
    g_autoptr (GVariant) owned_args = args;
    g_autoptr (GVariant) boxed = NULL;
    g_autoptr (GVariant) title = NULL;

    if (!g_str_equal (method, "Notify"))
      continue;
    boxed = g_variant_get_child_value (args, 3);
    title = g_variant_get_variant (boxed);
    if (g_strcmp0 (g_variant_get_string (title, NULL), summary) == 0)
      found = TRUE;
  }
  return found;
}

typedef struct {
  NatterTestServer *server;
  char *data_dir;
  NatterProfile *dawit_profile;
  NatterClient *bob;
  GSubprocess *app;
  GDataInputStream *out;
  GPid pid;
} Fixture;

typedef struct {
  const char *delay_ms;    /* NATTER_HANDOVER_DELAY_MS */
  gboolean background_off; /* the user turned "run-in-background" off */
} Options;

/* Dawit's natter, started with its window as from the launcher; Bob, a
 * core client, online to call him. */
static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  const Options *options = data;
  g_autofree char *natter = natter_test_top_build_filename ("src", "app", "natter", NULL);
  g_autofree char *dawit_dir = NULL;
  g_autofree char *bob_dir = NULL;
  g_autofree char *bob_token = NULL;
  g_autofree char *line = NULL;
  g_autoptr (NatterProfile) bob_profile = NULL;
  g_autoptr (NatterUser) dawit = NULL;
  g_autoptr (NatterUser) bob = NULL;
  g_autofree char *dawit_token = NULL;
  g_autoptr (NatterClient) dawit_once = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;
  int state = 0;

  fixture->server = natter_test_server_new (NULL);
  fixture->data_dir = g_dir_make_tmp ("natter-app-handover-XXXXXX", NULL);
  dawit_dir = g_build_filename (fixture->data_dir, "dawit", NULL);
  bob_dir = g_build_filename (fixture->data_dir, "bob", NULL);
  dawit = natter_test_server_register (fixture->server, "dawit@example.org", "Dawit Alemu",
                                       "student", &dawit_token, &fixture->dawit_profile);
  bob = natter_test_server_register (fixture->server, "bob@example.org", "Bob Tesfaye", "tutor",
                                     &bob_token, &bob_profile);

  /* Dawit signed in on this computer before: his token is in the token
   * file of his data folder, where the new image must find it again. */
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
  dawit_once = natter_client_new (natter_test_server_get_url (fixture->server), dawit_dir);
  natter_test_client_login (dawit_once, "dawit@example.org", TIMEOUT_MS);
  g_clear_object (&dawit_once);

  fixture->bob = natter_client_new (natter_test_server_get_url (fixture->server), bob_dir);
  g_setenv ("NATTER_TOKEN", bob_token, TRUE);
  natter_client_sign_in_async (fixture->bob, NULL, on_signed_in, &state);
  natter_test_wait_until (state != 0, TIMEOUT_MS);
  g_assert_cmpint (state, ==, 1);
  g_unsetenv ("NATTER_TOKEN");
  natter_test_wait_until (connected (fixture->bob), TIMEOUT_MS);

  /* From the launcher: a window. GSK_RENDERER stays as the run sets it
   * (cairo under the sanitizers): the handover does not depend on GL. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_setenv (launcher, "NATTER_DATA_DIR", dawit_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_BENCH_TIMING", "1", TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_HANDOVER_DELAY_MS", options->delay_ms, TRUE);
  if (options->background_off) {
    /* Settings the process reads from a file, as dconf would keep them. */
    g_autofree char *config = g_build_filename (fixture->data_dir, "config", NULL);
    g_autofree char *folder = g_build_filename (config, "glib-2.0", "settings", NULL);
    g_autofree char *keyfile = g_build_filename (folder, "keyfile", NULL);

    g_assert_cmpint (g_mkdir_with_parents (folder, 0700), ==, 0);
    g_assert_true (
      g_file_set_contents (keyfile, "[org/natter/Natter]\nrun-in-background=false\n", -1, NULL));
    g_subprocess_launcher_setenv (launcher, "GSETTINGS_BACKEND", "keyfile", TRUE);
    g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", config, TRUE);
  }
  fixture->app = g_subprocess_launcher_spawn (launcher, &error, natter, "--server",
                                              natter_test_server_get_url (fixture->server), NULL);
  g_assert_no_error (error);
  fixture->pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (fixture->app), NULL, 10);
  fixture->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (fixture->app));
  while (line == NULL || !g_str_has_prefix (line, "natter-bench: first-frame")) {
    g_clear_pointer (&line, g_free);
    line = read_line (fixture->out);
    g_assert_cmpstr (line, !=, "");
  }
  g_assert_cmpuint (windows_of (fixture->pid, FALSE), ==, 1);
  natter_test_wait_until (natter_test_server_metric (fixture->server, "natter_connections ") == 2,
                          TIMEOUT_MS);
}

static gboolean
name_has_owner (GDBusConnection *bus, const char *name)
{
  g_autoptr (GVariant) reply = NULL;
  gboolean owned = FALSE;

  reply = g_dbus_connection_call_sync (
    bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
    g_variant_new ("(s)", name), G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  g_assert_nonnull (reply);
  g_variant_get (reply, "(b)", &owned);
  return owned;
}

/* Quits as the menu does, once whichever image runs owns the
 * application's name (a new one takes it as it starts). */
static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *object_path = g_strdelimit (g_strconcat ("/", APPLICATION_ID, NULL), ".", '/');
  const Options *options = data;

  if (!options->background_off) {
    natter_test_wait_until (name_has_owner (bus, APPLICATION_ID), TIMEOUT_MS);
    reply =
      g_dbus_connection_call_sync (bus, APPLICATION_ID, object_path, "org.gtk.Actions", "Activate",
                                   g_variant_new ("(sava{sv})", "quit", NULL, NULL), NULL,
                                   G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
    g_assert_no_error (error);
  }
  g_assert_true (g_subprocess_wait (fixture->app, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (fixture->app));
  g_assert_cmpint (g_subprocess_get_exit_status (fixture->app), ==, 0);

  g_clear_object (&fixture->out);
  g_clear_object (&fixture->app);
  g_clear_object (&fixture->bob);
  g_clear_pointer (&fixture->dawit_profile, natter_profile_free);
  natter_test_server_free (fixture->server);
  natter_test_remove_tree (fixture->data_dir);
  g_clear_pointer (&fixture->data_dir, g_free);
}

static gboolean
handed_over (Fixture *fixture)
{
  g_autofree char *command_line = command_line_of (fixture->pid);

  return strstr (command_line, "--background") != NULL;
}

/* Bob calls Dawit until his app rings (while it is offline the server
 * answers "unavailable"); returns Bob's call. */
static NatterCall *
ring_dawit (Fixture *fixture)
{
  NatterCallManager *bob_calls = natter_client_get_call_manager (fixture->bob);
  gint64 deadline = g_get_monotonic_time () + (gint64) natter_test_scale_ms (TIMEOUT_MS) * 1000;
  g_autoptr (GError) error = NULL;

  for (;;) {
    g_autoptr (NatterCall) bob_call =
      natter_call_manager_start_call (bob_calls, fixture->dawit_profile, "voice", 0, &error);

    g_assert_no_error (error);
    g_assert_nonnull (bob_call);
    g_object_ref (bob_call); /* the manager drops it when it ends */
    natter_test_wait_until (natter_call_get_peer_ringing (bob_call) ||
                              natter_call_get_state (bob_call) == NATTER_CALL_STATE_ENDED,
                            TIMEOUT_MS);
    if (natter_call_get_peer_ringing (bob_call))
      return g_steal_pointer (&bob_call);
    natter_test_wait_until (natter_call_manager_get_active_call (bob_calls) == NULL, TIMEOUT_MS);
    g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    natter_test_iterate_until (g_get_monotonic_time () + 200 * 1000);
  }
}

static void
hang_up (Fixture *fixture, NatterCall *bob_call)
{
  natter_call_hang_up (bob_call);
  natter_test_wait_until (
    natter_call_manager_get_active_call (natter_client_get_call_manager (fixture->bob)) == NULL,
    TIMEOUT_MS);
}

static void
test_window_closed_hands_over (Fixture *fixture, gconstpointer data)
{
  g_autofree char *after = NULL;
  g_autofree char *shots = natter_test_top_build_filename ("screenshots", NULL);
  g_autofree char *shot = g_build_filename (shots, "background-ring-after-handover.png", NULL);
  g_autoptr (NatterCall) bob_call = NULL;
  g_autoptr (GPtrArray) old_descriptors = descriptors_of (fixture->pid);
  g_autoptr (GPtrArray) new_descriptors = NULL;
  gint64 offline_since;

  g_assert_false (handed_over (fixture));
  g_assert_cmpuint (count_ending_with (old_descriptors, ".db"), >, 0);

  /* The window manager's close button. The server sees Dawit's
   * connection go and come back: how long he was offline is printed. */
  g_assert_cmpuint (windows_of (fixture->pid, TRUE), ==, 1);
  natter_test_wait_until (natter_test_server_metric (fixture->server, "natter_connections ") < 2,
                          TIMEOUT_MS);
  offline_since = g_get_monotonic_time ();
  natter_test_wait_until (natter_test_server_metric (fixture->server, "natter_connections ") == 2,
                          TIMEOUT_MS);
  g_test_message ("offline for %.0f ms during the handover",
                  (g_get_monotonic_time () - offline_since) / 1000.0);
  g_mkdir_with_parents (shots, 0755);
  /* The same process (not reaped), a new image. */
  natter_test_wait_until (handed_over (fixture), TIMEOUT_MS);
  g_assert_nonnull (g_subprocess_get_identifier (fixture->app));
  after = command_line_of (fixture->pid);
  g_assert_nonnull (strstr (after, natter_test_server_get_url (fixture->server)));

  /* Online again, from the token file: Bob's call rings it. */
  bob_call = ring_dawit (fixture);
  if (notification_daemon != NULL)
    natter_test_wait_until (notified ("Voice call from Bob Tesfaye"), TIMEOUT_MS);
  else
    natter_test_wait_until (save_window_png (fixture->pid, shot), TIMEOUT_MS);

  /* The new image: no GL driver, and nothing of the old one's open but
   * its stdio: none of its sockets (X, bus, server), its store not twice. */
  g_assert_false (maps_gl_driver (fixture->pid));
  new_descriptors = descriptors_of (fixture->pid);
  g_assert_cmpuint (count_ending_with (new_descriptors, ".db"), <=,
                    count_ending_with (old_descriptors, ".db"));
  for (guint i = 0; i < old_descriptors->len; i++) {
    const char *target = g_ptr_array_index (old_descriptors, i);

    if (g_str_has_prefix (target, "socket:"))
      g_assert_false (
        g_ptr_array_find_with_equal_func (new_descriptors, target, g_str_equal, NULL));
  }

  hang_up (fixture, bob_call);
  natter_test_wait_until (windows_of (fixture->pid, FALSE) == 0, TIMEOUT_MS);
}

/* A call rings when the window has just closed: no handover while it
 * rings (it would drop the call), one once it has ended. */
static void
test_no_handover_while_ringing (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) bob_call = NULL;
  gint64 closed = g_get_monotonic_time ();
  gint64 until;

  g_assert_cmpuint (windows_of (fixture->pid, TRUE), ==, 1);
  natter_test_wait_until (windows_of (fixture->pid, FALSE) == 0, TIMEOUT_MS);
  bob_call = ring_dawit (fixture);
  g_assert_false (handed_over (fixture));

  /* The handover delay (3 s) is over, and more: still ringing, the same
   * image. */
  until = closed + (3000 + (gint64) natter_test_scale_ms (1000)) * 1000;
  while (natter_test_iterate_until (until))
    ;
  g_assert_true (natter_call_get_peer_ringing (bob_call));
  g_assert_false (handed_over (fixture));

  hang_up (fixture, bob_call);
  natter_test_wait_until (handed_over (fixture), TIMEOUT_MS);
}

static void
on_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *exited = user_data;

  g_assert_true (g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL));
  *exited = TRUE;
}

/* The user turned "run-in-background" off: closing the window ends
 * Natter, as before; no handover keeps it. */
static void
test_no_handover_without_background (Fixture *fixture, gconstpointer data)
{
  gboolean exited = FALSE;

  g_subprocess_wait_async (fixture->app, NULL, on_exited, &exited);
  g_assert_cmpuint (windows_of (fixture->pid, TRUE), ==, 1);
  natter_test_wait_until (exited, TIMEOUT_MS);
  g_assert_true (g_subprocess_get_if_exited (fixture->app));
  g_assert_cmpint (g_subprocess_get_exit_status (fixture->app), ==, 0);
  g_assert_cmpuint (natter_test_server_metric (fixture->server, "natter_connections "), ==, 1);
}

int
main (int argc, char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  XSetErrorHandler (ignore_x_error);
  g_setenv ("NATTER_SOUND_DIR", "/nonexistent", FALSE);
  g_setenv ("NATTER_AUDIO_SRC", "audiotestsrc is-live=true wave=silence", FALSE);
  g_setenv ("NATTER_AUDIO_SINK", "fakesink", FALSE);

  static const Options quick = { "300", FALSE };
  static const Options slow = { "3000", FALSE };
  static const Options background_off = { "300", TRUE };

  g_test_add ("/natter/app/background/window-closed-hands-over", Fixture, &quick, fixture_set_up,
              test_window_closed_hands_over, fixture_tear_down);
  g_test_add ("/natter/app/background/no-handover-while-ringing", Fixture, &slow, fixture_set_up,
              test_no_handover_while_ringing, fixture_tear_down);
  g_test_add ("/natter/app/background/no-handover-without-background", Fixture, &background_off,
              fixture_set_up, test_no_handover_without_background, fixture_tear_down);

  if (g_getenv ("NATTER_TEST_NO_NOTIFICATION_SERVER") == NULL)
    notification_daemon = natter_test_start_notification_server ();
  status = g_test_run ();
  if (notification_daemon != NULL)
    g_subprocess_force_exit (notification_daemon);
  return status;
}
