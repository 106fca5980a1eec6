/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench"
#define _GNU_SOURCE /* sched_setaffinity, cpu_set_t */

#include "config.h"

#include "natter-bench-server.h"

#include <glib/gstdio.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>

#define START_TIMEOUT_MS 30000

static cpu_set_t server_cpus;
static gboolean server_pinned;

gboolean
natter_bench_server_set_cpus (const char *list, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (list, ",", -1);

  CPU_ZERO (&server_cpus);
  for (guint i = 0; parts[i] != NULL; i++) {
    g_auto (GStrv) range = g_strsplit (parts[i], "-", 2);
    guint64 first, last;

    if (!g_ascii_string_to_unsigned (range[0], 10, 0, CPU_SETSIZE - 1, &first, error) ||
        !g_ascii_string_to_unsigned (range[1] != NULL ? range[1] : range[0], 10, first,
                                     CPU_SETSIZE - 1, &last, error)) {
      g_prefix_error (error, "--server-cpus %s: ", list);
      return FALSE;
    }
    for (guint64 cpu = first; cpu <= last; cpu++)
      CPU_SET (cpu, &server_cpus);
  }
  if (CPU_COUNT (&server_cpus) == 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "--server-cpus %s: no CPU", list);
    return FALSE;
  }
  server_pinned = TRUE;
  return TRUE;
}

/* In the child before exec: every thread the server starts inherits it. */
static void
pin_child (gpointer user_data)
{
  if (server_pinned)
    sched_setaffinity (0, sizeof server_cpus, &server_cpus);
}

char *
natter_bench_find_program (const char *env_variable, const char *build_path, const char *name)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *bench_dir = exe != NULL ? g_path_get_dirname (exe) : g_strdup (".");
  g_autofree char *build_dir = g_path_get_dirname (bench_dir);
  g_autofree char *in_build = g_build_filename (build_dir, build_path, name, NULL);
  g_autofree char *beside = g_build_filename (bench_dir, name, NULL);
  const char *candidates[] = { g_getenv (env_variable), in_build, beside };

  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++) {
    if (candidates[i] != NULL && g_file_test (candidates[i], G_FILE_TEST_IS_EXECUTABLE))
      return g_strdup (candidates[i]);
  }
  return g_find_program_in_path (name);
}

void
natter_bench_remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *child = g_build_filename (path, name, NULL);

    if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
      natter_bench_remove_tree (child);
    else
      g_unlink (child);
  }
  g_rmdir (path);
}

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  char **line = user_data;
  g_autoptr (GError) error = NULL;

  *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, &error);
  if (*line == NULL)
    *line = g_strdup (""); /* end of output: the server died */
}

static gboolean
cancel_read (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

/**
 * natter_bench_server_start:
 * @server: (out caller-allocates): where to keep the running server
 * @error: why it could not start
 *
 * Starts natter-server on a free loopback port with a fresh database and
 * waits (30 s at most) for its "listening on URL" line.
 */
gboolean
natter_bench_server_start (NatterBenchServer *server, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autofree char *binary =
    natter_bench_find_program ("NATTER_SERVER", "src/server", "natter-server");
  g_autofree char *db = NULL;
  g_autofree char *line = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  guint timeout;

  memset (server, 0, sizeof *server);
  g_subprocess_launcher_set_child_setup (launcher, pin_child, NULL, NULL);
  if (binary == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                         "natter-server not found (give --server URL, or set NATTER_SERVER)");
    return FALSE;
  }
  server->directory = g_dir_make_tmp ("natter-bench-server-XXXXXX", error);
  if (server->directory == NULL)
    return FALSE;
  db = g_build_filename (server->directory, "natter.db", NULL);
  server->process = g_subprocess_launcher_spawn (
    launcher, error, binary, "--port", "0", "--db", db, "--chat-rate", "1000000", "--chat-burst",
    "1000000", "--frame-rate", "1000000", "--frame-burst", "1000000",
    /* Every bench client comes from 127.0.0.1: the per-address limits a
     * public server has would stop the bench, not measure it. */
    "--registration-burst", "1000000", "--login-burst", "1000000", "--max-connections-per-address",
    "1000000", "--max-hashes-waiting", "1000000",
    /* natter-bench calls places more than a caller's 10 a minute. */
    "--call-invitations-per-minute", "100000", "--profile-types", NATTER_BENCH_SERVER_PROFILE_TYPES,
    NULL);
  if (server->process == NULL) {
    natter_bench_server_stop (server);
    return FALSE;
  }
  server->pid = atoi (g_subprocess_get_identifier (server->process));
  server->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server->process));

  g_data_input_stream_read_line_async (server->out, G_PRIORITY_DEFAULT, cancellable, on_line,
                                       &line);
  timeout = g_timeout_add (START_TIMEOUT_MS, cancel_read, cancellable);
  /* on_line always runs: with the line, at the end of the output, or
   * cancelled at the deadline. */
  while (line == NULL)
    g_main_context_iteration (NULL, TRUE);
  if (!g_cancellable_is_cancelled (cancellable))
    g_source_remove (timeout);
  if (!g_str_has_prefix (line, "listening on ")) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s did not start%s", binary,
                 g_cancellable_is_cancelled (cancellable) ? " within 30 s" : "");
    natter_bench_server_stop (server);
    return FALSE;
  }
  server->url = g_strstrip (g_strdup (line + strlen ("listening on ")));
  return TRUE;
}

gboolean
natter_bench_server_start_unless_given (NatterBenchServer *server,
                                        char **url,
                                        int *pid,
                                        GError **error)
{
  if (*url != NULL)
    return TRUE;
  if (!natter_bench_server_start (server, error))
    return FALSE;
  *url = g_strdup (server->url);
  if (pid != NULL)
    *pid = server->pid;
  return TRUE;
}

void
natter_bench_server_stop (NatterBenchServer *server)
{
  if (server->process != NULL) {
    g_subprocess_send_signal (server->process, SIGTERM);
    g_subprocess_wait (server->process, NULL, NULL);
  }
  if (server->directory != NULL)
    natter_bench_remove_tree (server->directory);
  g_clear_object (&server->out);
  g_clear_object (&server->process);
  g_clear_pointer (&server->directory, g_free);
  g_clear_pointer (&server->url, g_free);
  server->pid = 0;
}

/* Adds the inode of every socket listening on @port in @table_path
 * (/proc/net/tcp's format: "sl local rem st … inode"). */
static void
add_listening_inodes (const char *table_path, guint port, GHashTable *inodes)
{
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents (table_path, &contents, NULL, NULL))
    return;
  lines = g_strsplit (contents, "\n", 0);
  for (guint i = 1; lines[i] != NULL; i++) {
    g_auto (GStrv) fields = g_strsplit_set (g_strstrip (lines[i]), " ", 0);
    g_autoptr (GPtrArray) words = g_ptr_array_new ();
    const char *colon;

    for (guint j = 0; fields[j] != NULL; j++) {
      if (*fields[j] != '\0')
        g_ptr_array_add (words, fields[j]);
    }
    /* 1: local address:port (hex), 3: state (0A is LISTEN), 9: inode. */
    if (words->len < 10 || !g_str_equal (g_ptr_array_index (words, 3), "0A"))
      continue;
    colon = strrchr (g_ptr_array_index (words, 1), ':');
    if (colon == NULL || g_ascii_strtoull (colon + 1, NULL, 16) != port)
      continue;
    g_hash_table_add (inodes,
                      g_strdup_printf ("socket:[%s]", (char *) g_ptr_array_index (words, 9)));
  }
}

static gboolean
process_holds_socket (const char *pid, GHashTable *inodes)
{
  g_autofree char *fd_dir_path = g_build_filename ("/proc", pid, "fd", NULL);
  g_autoptr (GDir) fd_dir = g_dir_open (fd_dir_path, 0, NULL);
  const char *fd;

  if (fd_dir == NULL)
    return FALSE;
  while ((fd = g_dir_read_name (fd_dir)) != NULL) {
    g_autofree char *path = g_build_filename (fd_dir_path, fd, NULL);
    g_autofree char *target = g_file_read_link (path, NULL);

    if (target != NULL && g_hash_table_contains (inodes, target))
      return TRUE;
  }
  return FALSE;
}

int
natter_bench_find_server_pid (const char *url)
{
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  g_autoptr (GHashTable) inodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GDir) proc = NULL;
  const char *host;
  const char *name;
  int port;

  if (uri == NULL)
    return 0;
  host = g_uri_get_host (uri);
  port = g_uri_get_port (uri);
  if (port <= 0)
    port = g_str_equal (g_uri_get_scheme (uri), "https") ? 443 : 80;
  if (host == NULL || !(g_str_equal (host, "localhost") || g_str_has_prefix (host, "127.") ||
                        g_str_equal (host, "::1")))
    return 0;

  add_listening_inodes ("/proc/net/tcp", (guint) port, inodes);
  add_listening_inodes ("/proc/net/tcp6", (guint) port, inodes);
  if (g_hash_table_size (inodes) == 0)
    return 0;
  proc = g_dir_open ("/proc", 0, NULL);
  if (proc == NULL)
    return 0;
  while ((name = g_dir_read_name (proc)) != NULL) {
    if (g_ascii_isdigit (*name) && process_holds_socket (name, inodes))
      return atoi (name);
  }
  return 0;
}
