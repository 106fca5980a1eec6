/* SPDX-License-Identifier: GPL-3.0-or-later */
/* natter-bench-loop: the socket I/O spike of issue 16 (bench/README.md).
 *
 * What does one readable socket cost the thread that serves it, when N
 * connections sit open? N socketpairs; a feeder thread writes one byte to a
 * random connection R times a second; the serving side reads it. Designs:
 *
 *   glib     one GMainContext, each connection watched the way libsoup's
 *            SoupWebsocketConnection watches it: a pollable input source
 *            (a GPollableSource with a GSocket child source) and, with
 *            --keepalive, a g_timeout_source_new_seconds () for its pings
 *   threads  --threads K GMainContexts on K threads, each owning N/K
 *            connections (design a: I/O threads with a hub behind queues)
 *   epoll    one epoll set registered in a GMainContext as a single source
 *            (design b: the loop only visits ready sockets)
 *
 * It prints the serving threads' CPU time per event (CLOCK_THREAD_CPUTIME_ID
 * summed over them) and main-loop iterations per event. */
#include "config.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  GMainContext *context;
  GThread *thread;
  gint64 cpu_ns;
  guint64 iterations;
  guint64 events;
  gboolean stop;
  int epoll_fd;
} Loop;

static int n_connections = 1000;
static int rate = 1000;
static int duration_s = 10;
static int n_threads = 1;
static gboolean keepalive;
static char *design = NULL;
static int *feed_fds;
static Loop *loops;

static gint64
thread_cpu_ns (void)
{
  struct timespec now;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &now);
  return (gint64) now.tv_sec * 1000000000 + now.tv_nsec;
}

static gboolean
on_readable (GObject *stream, gpointer user_data)
{
  Loop *loop = user_data;
  char buffer[64];
  gssize n;

  n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (stream), buffer,
                                                sizeof buffer, NULL, NULL);
  if (n > 0)
    loop->events++;
  return G_SOURCE_CONTINUE;
}

static gboolean
on_keepalive (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Like SoupWebsocketConnection: a GSocketConnection's pollable input
 * stream, its source, and a keepalive timer per connection. */
static void
watch_glib (Loop *loop, int fd)
{
  g_autoptr (GSocket) socket = g_socket_new_from_fd (fd, NULL);
  GSocketConnection *connection = g_socket_connection_factory_create_connection (socket);
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  GSource *source = g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (input), NULL);

  g_source_set_callback (source, G_SOURCE_FUNC (on_readable), loop, NULL);
  g_source_attach (source, loop->context);
  g_source_unref (source);
  if (keepalive) {
    source = g_timeout_source_new_seconds (30);
    g_source_set_callback (source, on_keepalive, NULL, NULL);
    g_source_attach (source, loop->context);
    g_source_unref (source);
  }
  /* Kept for the process's life, like the server's connections. */
  (void) connection;
}

static gboolean
on_epoll_ready (int fd, GIOCondition condition, gpointer user_data)
{
  Loop *loop = user_data;
  struct epoll_event events[256];
  int n = epoll_wait (loop->epoll_fd, events, G_N_ELEMENTS (events), 0);

  for (int i = 0; i < n; i++) {
    char buffer[64];

    if (read (events[i].data.fd, buffer, sizeof buffer) > 0)
      loop->events++;
  }
  return G_SOURCE_CONTINUE;
}

static gpointer
run_loop (gpointer user_data)
{
  Loop *loop = user_data;
  gint64 started_ns;

  g_main_context_push_thread_default (loop->context);
  started_ns = thread_cpu_ns ();
  while (!g_atomic_int_get (&loop->stop)) {
    g_main_context_iteration (loop->context, TRUE);
    loop->iterations++;
  }
  loop->cpu_ns = thread_cpu_ns () - started_ns;
  g_main_context_pop_thread_default (loop->context);
  return NULL;
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "design", 0, 0, G_OPTION_ARG_STRING, &design, "glib, threads or epoll", "NAME" },
    { "connections", 0, 0, G_OPTION_ARG_INT, &n_connections, "open connections", "N" },
    { "rate", 0, 0, G_OPTION_ARG_INT, &rate, "readable events per second", "R" },
    { "duration", 0, 0, G_OPTION_ARG_INT, &duration_s, "seconds", "S" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &n_threads, "I/O threads (design threads)", "K" },
    { "keepalive", 0, 0, G_OPTION_ARG_NONE, &keepalive, "a timer source per connection", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) options = g_option_context_new ("- main-loop cost per event");
  g_autoptr (GError) error = NULL;
  struct rlimit limit;
  gboolean use_epoll;
  gint64 cpu_ns = 0;
  guint64 iterations = 0, events = 0, sent = 0;
  gint64 start_us, next_us;
  GRand *random = g_rand_new_with_seed (16);

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error)) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  if (design == NULL)
    design = g_strdup ("glib");
  use_epoll = g_str_equal (design, "epoll");
  if (!use_epoll && !g_str_equal (design, "threads"))
    n_threads = 1;
  if (n_connections < 1 || rate < 1 || duration_s < 1 || n_threads < 1 ||
      !(use_epoll || g_str_equal (design, "glib") || g_str_equal (design, "threads"))) {
    g_printerr ("bad arguments\n");
    return 2;
  }
  if (getrlimit (RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit (RLIMIT_NOFILE, &limit);
  }

  loops = g_new0 (Loop, n_threads);
  for (int t = 0; t < n_threads; t++) {
    loops[t].context = g_main_context_new ();
    if (use_epoll) {
      GSource *source;

      loops[t].epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
      source = g_unix_fd_source_new (loops[t].epoll_fd, G_IO_IN);
      g_source_set_callback (source, G_SOURCE_FUNC (on_epoll_ready), &loops[t], NULL);
      g_source_attach (source, loops[t].context);
      g_source_unref (source);
      /* Design b's keepalive: one timer for every connection (a wheel). */
      if (keepalive) {
        source = g_timeout_source_new_seconds (1);
        g_source_set_callback (source, on_keepalive, NULL, NULL);
        g_source_attach (source, loops[t].context);
        g_source_unref (source);
      }
    }
  }

  feed_fds = g_new (int, n_connections);
  for (int i = 0; i < n_connections; i++) {
    int pair[2];
    Loop *loop = &loops[i % n_threads];

    if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
      g_printerr ("socketpair failed at %d: raise ulimit -n\n", i);
      return 1;
    }
    feed_fds[i] = pair[0];
    if (use_epoll) {
      struct epoll_event event = { .events = EPOLLIN, .data.fd = pair[1] };

      epoll_ctl (loop->epoll_fd, EPOLL_CTL_ADD, pair[1], &event);
    } else {
      watch_glib (loop, pair[1]);
    }
  }

  for (int t = 0; t < n_threads; t++)
    loops[t].thread = g_thread_new ("loop", run_loop, &loops[t]);

  /* The feeder paces writes by the clock, 1 ms at a time. */
  start_us = g_get_monotonic_time ();
  next_us = start_us;
  while (next_us - start_us < (gint64) duration_s * G_USEC_PER_SEC) {
    guint64 due = (guint64) ((next_us - start_us) * (gint64) rate / G_USEC_PER_SEC);

    for (; sent < due; sent++) {
      int i = g_rand_int_range (random, 0, n_connections);

      if (write (feed_fds[i], "x", 1) != 1)
        g_printerr ("write failed\n");
    }
    next_us += 1000;
    g_usleep ((gulong) MAX (0, next_us - g_get_monotonic_time ()));
  }
  g_usleep (200000);

  for (int t = 0; t < n_threads; t++) {
    g_atomic_int_set (&loops[t].stop, TRUE);
    /* Not g_main_context_invoke (): between two iterations the context is
     * free and it would run here without waking the loop's thread. */
    g_main_context_wakeup (loops[t].context);
    g_thread_join (loops[t].thread);
    cpu_ns += loops[t].cpu_ns;
    iterations += loops[t].iterations;
    events += loops[t].events;
  }

  printf ("{\"design\":\"%s\",\"connections\":%d,\"threads\":%d,\"keepalive\":%s,\"rate\":%d,"
          "\"events\":%" G_GUINT64_FORMAT ",\"iterations\":%" G_GUINT64_FORMAT
          ",\"cpu_us_per_event\":%.2f,\"cpu_us_per_iteration\":%.2f}\n",
          design, n_connections, n_threads, keepalive ? "true" : "false", rate, events, iterations,
          events > 0 ? cpu_ns / 1000.0 / events : 0.0,
          iterations > 0 ? cpu_ns / 1000.0 / iterations : 0.0);
  g_rand_free (random);
  return events > 0 ? 0 : 1;
}
