/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-bench-epoll"

/*
 * natter-bench's GPollFunc over epoll (bench/natter-bench-epoll.c) gives
 * the answer poll (2) gives, for the same GPollFD arrays: readable and
 * writable sockets, a hang-up, descriptors that leave GLib's set and come
 * back with other events, a closed descriptor; and a GMainContext that
 * uses it serves a socket's source.
 */

#include <glib.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natter-bench-epoll.h"

#define N_PAIRS 8

/* Both functions on copies of @fds, with a zero timeout: same revents,
 * same count. */
static void
assert_same_answer (const GPollFD *fds, guint n_fds)
{
  g_autofree GPollFD *by_poll = g_memdup2 (fds, n_fds * sizeof *fds);
  g_autofree GPollFD *by_epoll = g_memdup2 (fds, n_fds * sizeof *fds);
  int n_poll = g_poll (by_poll, n_fds, 0);
  int n_epoll = natter_bench_epoll_poll (by_epoll, n_fds, 0);

  g_assert_cmpint (n_epoll, ==, n_poll);
  for (guint i = 0; i < n_fds; i++) {
    g_test_message ("fd %d events %#x: poll %#x, epoll %#x", fds[i].fd, fds[i].events,
                    by_poll[i].revents, by_epoll[i].revents);
    g_assert_cmpuint (by_epoll[i].revents, ==, by_poll[i].revents);
  }
}

static void
test_same_as_poll (void)
{
  int pairs[N_PAIRS][2];
  GPollFD fds[N_PAIRS];
  char byte = 'x';

  for (guint i = 0; i < N_PAIRS; i++) {
    g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pairs[i]), ==, 0);
    fds[i].fd = pairs[i][0];
    fds[i].events = G_IO_IN;
    fds[i].revents = 0;
  }

  /* Nothing to read anywhere. */
  assert_same_answer (fds, N_PAIRS);

  /* Readable: pairs 1 and 5. */
  g_assert_cmpint (write (pairs[1][1], &byte, 1), ==, 1);
  g_assert_cmpint (write (pairs[5][1], &byte, 1), ==, 1);
  assert_same_answer (fds, N_PAIRS);
  /* Level-triggered: still readable until read. */
  assert_same_answer (fds, N_PAIRS);
  g_assert_cmpint (read (pairs[1][0], &byte, 1), ==, 1);
  assert_same_answer (fds, N_PAIRS);

  /* Writable too, on pair 2 (a socket with room always is). */
  fds[2].events = G_IO_IN | G_IO_OUT;
  assert_same_answer (fds, N_PAIRS);
  fds[2].events = G_IO_IN;
  assert_same_answer (fds, N_PAIRS);

  /* The peer of pair 3 hangs up. */
  close (pairs[3][1]);
  pairs[3][1] = -1;
  assert_same_answer (fds, N_PAIRS);

  /* Pair 4 leaves GLib's set, is written to meanwhile, and comes back. */
  {
    GPollFD fewer[N_PAIRS - 1];
    guint n = 0;

    for (guint i = 0; i < N_PAIRS; i++)
      if (i != 4)
        fewer[n++] = fds[i];
    assert_same_answer (fewer, n);
    g_assert_cmpint (write (pairs[4][1], &byte, 1), ==, 1);
    assert_same_answer (fewer, n);
    assert_same_answer (fds, N_PAIRS);
  }

  /* Pair 6 is closed on our side and its number reused by a new socket
   * while out of the set: the new one is watched, not the old one. */
  {
    GPollFD fewer[N_PAIRS - 1];
    guint n = 0;
    int reused[2];

    for (guint i = 0; i < N_PAIRS; i++)
      if (i != 6)
        fewer[n++] = fds[i];
    assert_same_answer (fewer, n);
    close (pairs[6][0]);
    close (pairs[6][1]);
    g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, reused), ==, 0);
    pairs[6][0] = reused[0];
    pairs[6][1] = reused[1];
    fds[6].fd = reused[0];
    g_assert_cmpint (write (reused[1], &byte, 1), ==, 1);
    assert_same_answer (fds, N_PAIRS);
  }

  /* A descriptor that is not open: poll says G_IO_NVAL. */
  {
    int closed[2];
    GPollFD with_closed[N_PAIRS + 1];

    g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, closed), ==, 0);
    close (closed[0]);
    close (closed[1]);
    memcpy (with_closed, fds, sizeof fds);
    with_closed[N_PAIRS].fd = closed[0];
    with_closed[N_PAIRS].events = G_IO_IN;
    with_closed[N_PAIRS].revents = 0;
    assert_same_answer (with_closed, N_PAIRS + 1);
  }

  for (guint i = 0; i < N_PAIRS; i++) {
    close (pairs[i][0]);
    if (pairs[i][1] >= 0)
      close (pairs[i][1]);
  }
}

/* It blocks for the timeout when nothing is ready, and returns early for
 * a socket that becomes readable: a context using it serves the socket's
 * source. */
static gboolean
on_readable (int fd, GIOCondition condition, gpointer user_data)
{
  char byte;

  g_assert_cmpint (read (fd, &byte, 1), ==, 1);
  (*(guint *) user_data)++;
  return G_SOURCE_CONTINUE;
}

static void
test_main_context (void)
{
  GMainContext *context = g_main_context_new ();
  int pair[2];
  guint served = 0;
  GSource *source;
  char byte = 'y';
  gint64 deadline;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
  g_main_context_push_thread_default (context);
  g_main_context_set_poll_func (context, natter_bench_epoll_poll);
  source = g_unix_fd_source_new (pair[0], G_IO_IN);
  g_source_set_callback (source, G_SOURCE_FUNC (on_readable), &served, NULL);
  g_source_attach (source, context);

  g_assert_false (g_main_context_iteration (context, FALSE));
  g_assert_cmpuint (served, ==, 0);
  for (guint i = 0; i < 3; i++) {
    g_assert_cmpint (write (pair[1], &byte, 1), ==, 1);
    deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
    while (served == i && g_get_monotonic_time () < deadline)
      g_main_context_iteration (context, TRUE);
    g_assert_cmpuint (served, ==, i + 1);
  }

  g_source_destroy (source);
  g_source_unref (source);
  g_main_context_set_poll_func (context, NULL);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  close (pair[0]);
  close (pair[1]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/bench-epoll/same-as-poll", test_same_as_poll);
  g_test_add_func ("/natter/bench-epoll/main-context", test_main_context);

  return g_test_run ();
}
