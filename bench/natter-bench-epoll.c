/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench"

#include "natter-bench-epoll.h"

#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

/*
 * A GPollFunc that asks epoll instead of poll (2).
 *
 * A chat thread of the bench holds 5,000 libsoup WebSockets, each with a
 * socket in its GMainContext, and iterates up to a thousand times a second
 * under load: poll (2) with 5,000 descriptors walks every socket in the
 * kernel each time, which cost the bench more CPU per message than the
 * server it measures. Here the descriptors GLib passes are kept in an epoll
 * set, registered or changed only when GLib's set differs from the last
 * call's, and a call costs the walk over GLib's array plus the sockets that
 * are ready. libsoup and GLib are unchanged: this only answers the question
 * poll (2) would.
 *
 * GPollFunc has no user data, so the set is per thread; a context whose
 * poll function this is must be iterated on one thread only (each chat
 * thread iterates its own). Descriptors must not be closed and reused
 * between two calls while staying in GLib's array with the same events: the
 * chat command installs it only once every connection is up, and removes
 * it before closing them.
 */

typedef struct {
  guint32 registered; /* the epoll events it is in the set with */
  guint32 seen;       /* the call that last saw it, 0 for none */
  guint index;        /* its place in that call's array */
  gboolean in_set;
} FdState;

typedef struct {
  int epoll_fd;
  GArray *fds;    /* FdState, indexed by descriptor */
  GArray *in_set; /* int: the descriptors in the epoll set */
  GArray *events; /* struct epoll_event */
  guint32 call;
} EpollPoll;

static void
epoll_poll_free (gpointer data)
{
  EpollPoll *state = data;

  if (state->epoll_fd >= 0)
    close (state->epoll_fd);
  g_array_unref (state->fds);
  g_array_unref (state->in_set);
  g_array_unref (state->events);
  g_free (state);
}

/* Freed when the thread ends. */
static GPrivate epoll_poll_key = G_PRIVATE_INIT (epoll_poll_free);

static EpollPoll *
get_state (void)
{
  EpollPoll *state = g_private_get (&epoll_poll_key);

  if (state == NULL) {
    state = g_new0 (EpollPoll, 1);
    state->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
    state->fds = g_array_new (FALSE, TRUE, sizeof (FdState));
    state->in_set = g_array_new (FALSE, FALSE, sizeof (int));
    state->events = g_array_new (FALSE, FALSE, sizeof (struct epoll_event));
    g_private_set (&epoll_poll_key, state);
  }
  return state;
}

/* GLib's condition bits and epoll's, both ways: the context set uses them
 * too. */
guint32
natter_bench_epoll_events_from_glib (gushort events)
{
  guint32 out = 0;

  if (events & G_IO_IN)
    out |= EPOLLIN;
  if (events & G_IO_PRI)
    out |= EPOLLPRI;
  if (events & G_IO_OUT)
    out |= EPOLLOUT;
  return out;
}

gushort
natter_bench_epoll_events_to_glib (guint32 events)
{
  gushort out = 0;

  if (events & EPOLLIN)
    out |= G_IO_IN;
  if (events & EPOLLPRI)
    out |= G_IO_PRI;
  if (events & EPOLLOUT)
    out |= G_IO_OUT;
  if (events & EPOLLERR)
    out |= G_IO_ERR;
  if (events & EPOLLHUP)
    out |= G_IO_HUP;
  return out;
}

/* Brings @fd's registration to @wanted; FALSE when epoll refuses the
 * descriptor (closed: poll (2) would say POLLNVAL). */
static gboolean
set_events (EpollPoll *state, FdState *fd_state, int fd, guint32 wanted)
{
  struct epoll_event event = { 0 };

  event.events = wanted;
  event.data.fd = fd;
  if (fd_state->in_set) {
    if (fd_state->registered == wanted)
      return TRUE;
    if (epoll_ctl (state->epoll_fd, EPOLL_CTL_MOD, fd, &event) == 0) {
      fd_state->registered = wanted;
      return TRUE;
    }
    /* Closed since, and the number reused: add it again. */
    if (errno != ENOENT)
      return FALSE;
  }
  if (epoll_ctl (state->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0 &&
      (errno != EEXIST || epoll_ctl (state->epoll_fd, EPOLL_CTL_MOD, fd, &event) != 0))
    return FALSE;
  if (!fd_state->in_set) {
    fd_state->in_set = TRUE;
    g_array_append_val (state->in_set, fd);
  }
  fd_state->registered = wanted;
  return TRUE;
}

/**
 * natter_bench_epoll_poll:
 * @fds: what GLib polls
 * @n_fds: how many
 * @timeout_ms: as for poll (2)
 *
 * A #GPollFunc (g_main_context_set_poll_func ()) with poll (2)'s answer,
 * from an epoll set kept across calls.
 *
 * Returns: the number of descriptors with events, -1 on error (errno set)
 */
int
natter_bench_epoll_poll (GPollFD *fds, guint n_fds, int timeout_ms)
{
  EpollPoll *state = get_state ();
  int n_ready = 0;
  int n;

  if (state->epoll_fd < 0)
    return g_poll (fds, n_fds, timeout_ms);

  /* 0 means "never seen". */
  if (++state->call == 0)
    state->call = 1;

  for (guint i = 0; i < n_fds; i++) {
    int fd = fds[i].fd;
    FdState *fd_state;

    fds[i].revents = 0;
    if (fd < 0)
      continue;
    if ((guint) fd >= state->fds->len)
      g_array_set_size (state->fds, (guint) fd + 1);
    fd_state = &g_array_index (state->fds, FdState, fd);
    if (fd_state->seen == state->call) {
      /* The same descriptor twice in one array: rare, let poll (2) answer. */
      return g_poll (fds, n_fds, timeout_ms);
    }
    if (!set_events (state, fd_state, fd, natter_bench_epoll_events_from_glib (fds[i].events))) {
      /* Left for the sweep below to take out of the set. */
      fds[i].revents = G_IO_NVAL;
      n_ready++;
      continue;
    }
    fd_state->seen = state->call;
    fd_state->index = i;
  }

  /* Descriptors GLib no longer polls leave the set. */
  for (guint j = 0; j < state->in_set->len;) {
    int fd = g_array_index (state->in_set, int, j);
    FdState *fd_state = &g_array_index (state->fds, FdState, fd);

    if (fd_state->seen == state->call) {
      j++;
      continue;
    }
    epoll_ctl (state->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    fd_state->in_set = FALSE;
    fd_state->registered = 0;
    g_array_remove_index_fast (state->in_set, j);
  }

  if (n_ready > 0)
    timeout_ms = 0;
  g_array_set_size (state->events, MAX (n_fds, 1));
  do {
    n = epoll_wait (state->epoll_fd, (struct epoll_event *) (void *) state->events->data,
                    (int) state->events->len, timeout_ms);
  } while (n < 0 && errno == EINTR && timeout_ms == 0);
  if (n < 0)
    return n_ready > 0 ? n_ready : -1;

  for (int k = 0; k < n; k++) {
    const struct epoll_event *event = &g_array_index (state->events, struct epoll_event, k);
    FdState *fd_state = &g_array_index (state->fds, FdState, event->data.fd);
    GPollFD *pollfd = &fds[fd_state->index];

    pollfd->revents =
      natter_bench_epoll_events_to_glib (event->events) & (pollfd->events | G_IO_ERR | G_IO_HUP);
    if (pollfd->revents != 0)
      n_ready++;
  }
  return n_ready;
}
