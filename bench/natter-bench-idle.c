/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench"

#include "config.h"

#include "natter-bench-idle.h"

#include <stdio.h>
#include <unistd.h>

#include "natter-bench-common.h"
#include "natter-bench-server.h"
#include "natter-protocol.h"

typedef struct {
  NatterBench bench;
  GPtrArray *users;
  GPtrArray *connections;
  guint64 n_frames_in;
} Idle;

static void
on_idle_frame (NatterBenchConnection *connection,
               const char *data,
               gsize length,
               gpointer user_data)
{
  Idle *idle = user_data;

  idle->n_frames_in++;
}

static gboolean
on_clock_tick (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
never (gpointer user_data)
{
  return FALSE;
}

/* Runs the loop for @seconds: held connections still answer pings. */
static void
hold (double seconds)
{
  guint clock_id = g_timeout_add (50, on_clock_tick, NULL);

  natter_bench_iterate_until (never, NULL,
                              g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC), 0);
  g_source_remove (clock_id);
}

static guint64
self_rss_kib (void)
{
  NatterBenchProcStats stats;

  natter_bench_read_proc (getpid (), &stats);
  return stats.rss_kib;
}

static void
idle_clear (Idle *idle)
{
  g_clear_pointer (&idle->connections, g_ptr_array_unref);
  g_clear_pointer (&idle->users, g_ptr_array_unref);
  natter_bench_clear (&idle->bench);
}

/**
 * natter_bench_idle_main:
 * @argc: the command's arguments, argv[0] naming it
 * @argv: (array length=argc): the arguments
 *
 * Returns: 0 when every connection opened, 1 otherwise, 2 on bad options
 */
int
natter_bench_idle_main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *server_url = NULL;
  g_autofree char *users_file = NULL;
  g_autofree char *save_users_file = NULL;
  int n_clients = 100;
  int per_user = NATTER_MAX_CONNECTIONS_PER_USER;
  double hold_s = 10;
  double connect_timeout_s = 300;
  int server_pid = 0;
  g_auto (NatterBenchServer) local_server = { 0 };
  g_autofree char *server_cpus = NULL;
  int concurrency = 8;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_STRING, &server_url,
      "Server URL (http://HOST:PORT; default: start this build's natter-server)", "URL" },
    { "clients", 0, 0, G_OPTION_ARG_INT, &n_clients, "WebSocket connections (default 100)", "N" },
    { "hold", 0, 0, G_OPTION_ARG_DOUBLE, &hold_s,
      "Seconds to hold them open before measuring (default 10)", "S" },
    { "server-pid", 0, 0, G_OPTION_ARG_INT, &server_pid,
      "The server's process id (default: the local process listening at the URL)", "PID" },
    { "per-user", 0, 0, G_OPTION_ARG_INT, &per_user,
      "Connections per user (default 16, the server's cap)", "K" },
    { "users", 0, 0, G_OPTION_ARG_FILENAME, &users_file,
      "Log in the users of FILE (email:password lines) instead of registering", "FILE" },
    { "save-users", 0, 0, G_OPTION_ARG_FILENAME, &save_users_file,
      "Write the registered users to FILE for --users", "FILE" },
    { "server-cpus", 0, 0, G_OPTION_ARG_STRING, &server_cpus,
      "Pin the server this command starts to these CPUs (taskset's list: 0 or 0,1)", "LIST" },
    { "concurrency", 0, 0, G_OPTION_ARG_INT, &concurrency,
      "Sign-ins and handshakes in flight (default 8)", "N" },
    { "connect-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &connect_timeout_s,
      "Seconds allowed for connecting everything (default 300)", "S" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the results as JSON", NULL },
    { NULL },
  };
  Idle idle = { 0 };
  NatterBenchReport report;
  NatterBenchProcStats before = { 0 };
  NatterBenchProcStats connected_stats = { 0 };
  NatterBenchProcStats held = { 0 };
  NatterBenchProcStats after_close = { 0 };
  guint64 fd_limit;
  guint64 bench_rss_before_kib;
  guint64 bench_rss_held_kib;
  gint64 sign_in_start_us;
  gint64 sign_in_us;
  gint64 connect_start_us;
  gint64 connect_us;
  gint64 bench_cpu_connect_us;
  guint n_users;
  guint connected;
  gint64 grown_kib;

  context = g_option_context_new ("- idle load: N WebSockets held open");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (
    context, "Opens N WebSockets (K per user, the server caps users at 16), holds them open\n"
             "and reports the server's resident memory before, with them, and per connection.\n"
             "Without --server it starts this build's natter-server with the limit it raised\n"
             "for itself; start a server of your own with one raised too (ulimit -n 20000).");
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("natter-bench idle: %s\n", error->message);
    return 2;
  }

  if (n_clients < 1 || per_user < 1 || hold_s < 0 || concurrency < 1) {
    g_printerr ("natter-bench idle: needs --clients ≥ 1, --per-user ≥ 1, --hold ≥ 0\n");
    return 2;
  }

  /* Before a server of our own starts, so that it inherits the limit. */
  fd_limit = natter_bench_raise_fd_limit ();
  if (fd_limit < (guint64) n_clients + 64)
    g_printerr ("natter-bench idle: the open file limit is %" G_GUINT64_FORMAT
                ", too low for %d connections\n",
                fd_limit, n_clients);

  if (server_cpus != NULL && !natter_bench_server_set_cpus (server_cpus, &error)) {
    g_printerr ("natter-bench idle: %s\n", error->message);
    return 2;
  }
  if (!natter_bench_server_start_unless_given (&local_server, &server_url, &server_pid, &error)) {
    g_printerr ("natter-bench idle: %s\n", error->message);
    return 2;
  }
  if (server_pid <= 0) {
    server_pid = natter_bench_find_server_pid (server_url);
    if (server_pid <= 0) {
      g_printerr ("natter-bench idle: needs --server-pid PID: no process of this machine "
                  "listens at %s\n",
                  server_url);
      return 2;
    }
  }

  if (!natter_bench_init (&idle.bench, server_url, server_pid, (guint) concurrency, &error)) {
    g_printerr ("natter-bench idle: %s\n", error->message);
    return 2;
  }
  if (!natter_bench_read_proc (server_pid, &before)) {
    g_printerr ("natter-bench idle: cannot read /proc/%d\n", server_pid);
    idle_clear (&idle);
    return 2;
  }

  n_users = (guint) ((n_clients + per_user - 1) / per_user);
  if (users_file != NULL) {
    idle.users = natter_bench_load_users (users_file, &error);
    if (idle.users == NULL) {
      g_printerr ("natter-bench idle: %s\n", error->message);
      idle_clear (&idle);
      return 2;
    }
    if (idle.users->len < n_users) {
      g_printerr ("natter-bench idle: %s has %u users, %d connections at %d each need %u\n",
                  users_file, idle.users->len, n_clients, per_user, n_users);
      idle_clear (&idle);
      return 2;
    }
    g_ptr_array_set_size (idle.users, n_users);
  } else {
    idle.users = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_bench_user_free);
  }

  sign_in_start_us = g_get_monotonic_time ();
  natter_bench_sign_in (&idle.bench, idle.users, n_users);
  sign_in_us = g_get_monotonic_time () - sign_in_start_us;
  if (save_users_file != NULL && !natter_bench_save_users (save_users_file, idle.users, &error)) {
    g_printerr ("natter-bench idle: %s\n", error->message);
    g_clear_error (&error);
  }

  idle.connections = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_bench_connection_free);
  for (guint i = 0; i < (guint) n_clients && idle.users->len > 0; i++) {
    NatterBenchConnection *connection = g_new0 (NatterBenchConnection, 1);

    /* Users in turn, so each ends with at most K connections. */
    connection->index = i;
    connection->user = g_ptr_array_index (idle.users, i % idle.users->len);
    connection->on_frame = on_idle_frame;
    connection->user_data = &idle;
    g_ptr_array_add (idle.connections, connection);
  }

  /* The baseline is the server after the sign-ins, with no WebSocket. */
  bench_rss_before_kib = self_rss_kib ();
  natter_bench_read_proc (server_pid, &before);
  bench_cpu_connect_us = natter_bench_self_cpu_us ();
  connect_start_us = g_get_monotonic_time ();
  connected =
    natter_bench_connect_all (&idle.bench, idle.connections,
                              connect_start_us + (gint64) (connect_timeout_s * G_USEC_PER_SEC));
  connect_us = g_get_monotonic_time () - connect_start_us;
  bench_cpu_connect_us = natter_bench_self_cpu_us () - bench_cpu_connect_us;
  natter_bench_read_proc (server_pid, &connected_stats);

  hold (hold_s);
  natter_bench_read_proc (server_pid, &held);
  bench_rss_held_kib = self_rss_kib ();

  natter_bench_close_all (idle.connections, g_get_monotonic_time () + 30 * G_USEC_PER_SEC);
  /* Give the server a moment to finalize what the closes released. */
  hold (1);
  natter_bench_read_proc (server_pid, &after_close);

  grown_kib = (gint64) held.rss_kib - (gint64) before.rss_kib;

  natter_bench_report_init (&report, "idle");
  natter_bench_report_section (&report, "setup");
  natter_bench_report_int (&report, "clients", "connections requested", n_clients);
  natter_bench_report_int (&report, "users", "users", idle.users->len);
  natter_bench_report_int (&report, "clients_connected", "connections open", connected);
  natter_bench_report_double (&report, "sign_in_s",
                              users_file != NULL ? "log in time" : "registration time", "s",
                              sign_in_us / 1e6);
  natter_bench_report_double (&report, "connect_s", "connect time (all)", "s", connect_us / 1e6);
  natter_bench_report_double (&report, "connects_per_s", "connections per second", "/s",
                              connect_us > 0 ? connected * 1e6 / connect_us : 0);
  natter_bench_report_double (&report, "server_cpu_percent_connecting",
                              "server CPU while connecting", "% of a core",
                              natter_bench_cpu_percent (&before, &connected_stats, connect_us));
  natter_bench_report_double (&report, "bench_cpu_percent_connecting", "bench CPU while connecting",
                              "% of a core", 100.0 * bench_cpu_connect_us / MAX (connect_us, 1));
  natter_bench_report_double (&report, "hold_s", "held for", "s", hold_s);

  natter_bench_report_section (&report, "server memory");
  natter_bench_report_int (&report, "server_rss_before_kib", "RSS before (KiB)",
                           (gint64) before.rss_kib);
  natter_bench_report_int (&report, "server_rss_connected_kib", "RSS all connected (KiB)",
                           (gint64) connected_stats.rss_kib);
  natter_bench_report_int (&report, "server_rss_held_kib", "RSS after holding (KiB)",
                           (gint64) held.rss_kib);
  natter_bench_report_int (&report, "server_rss_after_close_kib", "RSS after closing (KiB)",
                           (gint64) after_close.rss_kib);
  natter_bench_report_double (&report, "server_rss_per_connection_kib", "RSS per connection", "KiB",
                              connected > 0 ? (double) grown_kib / connected : 0);
  natter_bench_report_double (
    &report, "server_cpu_percent_holding", "server CPU while holding", "% of a core",
    natter_bench_cpu_percent (&connected_stats, &held, (gint64) (hold_s * G_USEC_PER_SEC)));

  natter_bench_report_section (&report, "bench");
  natter_bench_report_double (
    &report, "bench_rss_per_connection_kib", "bench RSS per connection", "KiB",
    connected > 0 ? ((double) bench_rss_held_kib - (double) bench_rss_before_kib) / connected : 0);
  natter_bench_report_int (&report, "frames_received", "frames received",
                           (gint64) idle.n_frames_in);
  natter_bench_report_errors (&report, &idle.bench.errors);
  natter_bench_report_print (&report, json);

  idle_clear (&idle);

  return connected == (guint) n_clients ? 0 : 1;
}
