/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-handover"

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "natter-display.h"
#include "natter-handover.h"

/* Closing the last window of a Natter started with a window (from the
 * launcher) leaves what GSK and the GL driver loaded for that window: GTK
 * 4.8 keeps its GL driver, glyph and icon atlases, and llvmpipe its LLVM
 * code, for the life of the process (~200 MiB against ~30 MiB for a
 * process started hidden, issue 20). No API unloads them, so the process
 * hands over to a fresh image of itself: it quits its application as at
 * the end of a session (the store and the outbox closed, the connection
 * ended), and main () execs the same binary with --background, which
 * opens the display without GL and signs in again with the kept token.
 * The PID stays, so whatever watches it (a session's systemd scope, a
 * terminal) still sees Natter. */

#define DEFAULT_DELAY_MS 2000

/**
 * natter_handover_get_delay_ms:
 *
 * How long the last window must have been closed before handing over, so
 * that a window opened again at once (the launcher clicked twice, a
 * notification) keeps its process: 2 s, or NATTER_HANDOVER_DELAY_MS.
 *
 * Returns: the delay in milliseconds
 */
guint
natter_handover_get_delay_ms (void)
{
  const char *value = g_getenv ("NATTER_HANDOVER_DELAY_MS");
  guint64 delay;

  if (value == NULL || !g_ascii_string_to_unsigned (value, 10, 0, 10 * 60 * 1000, &delay, NULL))
    return DEFAULT_DELAY_MS;
  return (guint) delay;
}

/* A binary replaced on disk (a package upgrade) would start another
 * version against this one's libraries: not ours to do. */
static char *
own_binary (void)
{
  g_autofree char *path = g_file_read_link ("/proc/self/exe", NULL);

  if (path == NULL || g_str_has_suffix (path, " (deleted)") ||
      !g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
    return NULL;
  return g_steal_pointer (&path);
}

/**
 * natter_handover_possible:
 *
 * Whether this process can start over in the background: its binary is
 * still there, and the user did not ask for GL (GSK_RENDERER, GDK_DEBUG),
 * which the new image would load again.
 *
 * Returns: whether natter_handover_exec () may be used
 */
gboolean
natter_handover_possible (void)
{
  g_autofree char *binary = NULL;

  if (g_strcmp0 (g_getenv ("NATTER_HANDOVER"), "0") == 0 || natter_display_user_asked_for_gl ())
    return FALSE;
  binary = own_binary ();
  return binary != NULL;
}

/* Every descriptor but stdio closes at exec: GLib and SQLite open theirs
 * with O_CLOEXEC, but a library that does not (a GL driver's, a device's)
 * would otherwise live on, unused, in the new image. */
static void
mark_descriptors_close_on_exec (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *entry;

  if (dir == NULL)
    return;
  while ((entry = readdir (dir)) != NULL) {
    char *end = NULL;
    long fd = strtol (entry->d_name, &end, 10);
    int flags;

    if (end == entry->d_name || *end != '\0' || fd < 3 || fd == dirfd (dir))
      continue;
    flags = fcntl ((int) fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC))
      fcntl ((int) fd, F_SETFD, flags | FD_CLOEXEC);
  }
  closedir (dir);
}

/**
 * natter_handover_exec:
 * @argv0: the process's argv[0], kept for ps and the session
 * @server_url: (nullable): the --server it was started with
 *
 * Replaces the process with `natter --background [--server URL]`, the
 * same binary. Call it after the application has ended its run and been
 * freed. Returns only if the exec failed (logged).
 */
void
natter_handover_exec (const char *argv0, const char *server_url)
{
  g_autofree char *binary = own_binary ();
  const char *argv[5] = { argv0, "--background", NULL, NULL, NULL };

  if (binary == NULL) {
    g_warning ("Cannot start again in the background: the binary is gone");
    return;
  }
  if (server_url != NULL) {
    argv[2] = "--server";
    argv[3] = server_url;
  }

  fflush (stdout);
  fflush (stderr);
  mark_descriptors_close_on_exec ();
  execv (binary, (char **) argv);
  g_warning ("Cannot start again in the background: %s", g_strerror (errno));
}
