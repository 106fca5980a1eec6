/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench"

#include "natter-bench-context-set.h"
#include "natter-bench-epoll.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/*
 * A GSource that runs many small GMainContexts, visiting only the ready ones.
 *
 * A chat thread of the bench holds thousands of libsoup WebSockets, each
 * with two sources (its pollable stream's and that one's socket child). In
 * one GMainContext, every iteration prepares and checks all of them, which
 * cost the bench more CPU per message than the server it measured (77 % of
 * its profile, bench/README.md). Here each WebSocket (or a few) lives in a
 * member context of its own, and the set does for each member what
 * g_main_context_iterate () does, split at the poll: after a visit it
 * prepares and queries the member and puts the member's descriptors in one
 * epoll set and its earliest timeout in a sorted sequence; when epoll reports
 * a descriptor or the timeout is due, it checks and dispatches the member
 * with the revents epoll gave, then prepares and queries it again. A round
 * costs one epoll_wait plus the members it visits.
 *
 * What GLib does not tell: a source attached to a member from outside its
 * visit. Attaching from another thread, changing a member's descriptors or a
 * source's ready time signals the member's wake-up eventfd, which is in the
 * epoll set like any descriptor; a source attached from this thread (a
 * libsoup timeout) signals nothing, so code that calls into a member from
 * outside its visit brackets the call with natter_bench_context_set_enter ()
 * and _leave (), which makes the member thread-default (libsoup attaches its
 * sources to the thread-default context) and visits it in the next round.
 *
 * A member is acquired by the thread the set runs on for as long as it is a
 * member, and is dispatched with itself pushed as thread-default. One
 * descriptor is in one member only: a descriptor epoll refuses (not open, a
 * regular file) or one that another member already watches is polled with
 * poll (2) in every round instead, as GLib would, which keeps the loop awake.
 */

typedef struct {
  GMainContext *context;
  guint id;
  GPollFD *fds;        /* the last query's, sorted by descriptor; revents from epoll */
  guint32 *registered; /* per entry of fds: the epoll events it is in the set with, 0 for none */
  guint n_fds;
  guint fds_size;
  gint max_priority;
  gint64 deadline_us; /* when its earliest timeout is due; -1: none */
  GSequenceIter *timer;
  gboolean queued;
  gboolean direct; /* some descriptor is not in the epoll set: poll (2) each round */
  gboolean removed;
} Member;

struct _NatterBenchContextSet {
  GSource source;
  int epoll_fd;
  gpointer epoll_tag;
  GPtrArray *members;     /* Member, indexed by id; NULL for a free id */
  GArray *free_ids;       /* guint */
  GHashTable *by_context; /* GMainContext -> Member */
  GArray *owners;         /* guint32 per descriptor: id + 1 of the member it is registered for */
  GPtrArray *queue;       /* Member: to visit in the next round */
  GPtrArray *visiting;    /* Member: this round's */
  GPtrArray *direct;      /* Member with direct set */
  GPtrArray *removed;     /* Member: removed during a round, freed at its end */
  GSequence *timers;      /* Member, by deadline */
  GArray *events;         /* struct epoll_event */
  GPollFD *scratch;       /* a query's answer, before sync_fds () */
  guint32 *scratch_registered;
  guint scratch_size;
  gboolean in_round;
  guint rounds;
  guint64 visits;
};

static int
compare_deadlines (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const Member *first = a;
  const Member *second = b;

  if (first->deadline_us != second->deadline_us)
    return first->deadline_us < second->deadline_us ? -1 : 1;
  return first->id < second->id ? -1 : first->id > second->id ? 1 : 0;
}

static void
queue_member (NatterBenchContextSet *set, Member *member)
{
  if (member->queued || member->removed)
    return;
  member->queued = TRUE;
  g_ptr_array_add (set->queue, member);
}

static void
set_deadline (NatterBenchContextSet *set, Member *member, gint64 deadline_us)
{
  if (member->timer != NULL) {
    if (member->deadline_us == deadline_us)
      return;
    g_sequence_remove (member->timer);
    member->timer = NULL;
  }
  member->deadline_us = deadline_us;
  if (deadline_us >= 0)
    member->timer = g_sequence_insert_sorted (set->timers, member, compare_deadlines, NULL);
}

static guint32 *
owner_of (NatterBenchContextSet *set, int fd)
{
  if ((guint) fd >= set->owners->len)
    g_array_set_size (set->owners, (guint) fd + 1);
  return &g_array_index (set->owners, guint32, fd);
}

/* Whether @fd is among @member's last queried descriptors. */
static GPollFD *
find_fd (Member *member, int fd)
{
  guint low = 0;
  guint high = member->n_fds;

  /* GLib fills the array sorted by descriptor. */
  while (low < high) {
    guint middle = (low + high) / 2;

    if (member->fds[middle].fd == fd)
      return &member->fds[middle];
    if (member->fds[middle].fd < fd)
      low = middle + 1;
    else
      high = middle;
  }
  return NULL;
}

static void
unregister_fd (NatterBenchContextSet *set, Member *member, int fd)
{
  guint32 *owner = owner_of (set, fd);

  /* Closed since (epoll forgot it) and its number taken by another member:
   * that registration is not ours to delete. */
  if (*owner != member->id + 1)
    return;
  epoll_ctl (set->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
  *owner = 0;
}

/* Puts @fd in the epoll set for @member with @wanted, from @current (0: not
 * in it). Returns the events it is registered with, 0 when it could not be. */
static guint32
register_fd (NatterBenchContextSet *set, Member *member, int fd, guint32 current, guint32 wanted)
{
  struct epoll_event event = { 0 };
  guint32 *owner = owner_of (set, fd);
  Member *other;

  /* EPOLLERR and EPOLLHUP are always reported: a descriptor polled for
   * nothing else is still registered, and the value returned is never 0. */
  event.events = wanted;
  event.data.u64 = ((guint64) member->id << 32) | (guint32) fd;
  if (current != 0 && *owner == member->id + 1) {
    if (current == (wanted | EPOLLERR))
      return current;
    if (epoll_ctl (set->epoll_fd, EPOLL_CTL_MOD, fd, &event) == 0)
      return wanted | EPOLLERR;
    /* ENOENT: closed and its number reused; EBADF: closed. */
    if (errno != ENOENT)
      return 0;
  }
  /* Epoll forgets a descriptor when it is closed: ADD succeeds for a new
   * socket on the number another member registered before it was closed. */
  if (epoll_ctl (set->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
    if (errno != EEXIST)
      return 0;
    /* Registered for the same open socket: another member's, which epoll
     * cannot hold twice, or ours from a registration we lost track of. */
    other = *owner != 0 ? g_ptr_array_index (set->members, *owner - 1) : NULL;
    if ((other != NULL && other != member && find_fd (other, fd) != NULL) ||
        epoll_ctl (set->epoll_fd, EPOLL_CTL_MOD, fd, &event) != 0)
      return 0;
  }
  *owner = member->id + 1;
  return wanted | EPOLLERR;
}

/* Brings the epoll set from @member's registered descriptors to @fds (both
 * sorted), and makes @fds the member's. */
static void
sync_fds (NatterBenchContextSet *set, Member *member, const GPollFD *fds, guint n_fds)
{
  guint32 *registered = set->scratch_registered;
  gboolean direct = FALSE;
  guint old = 0;

  for (guint i = 0; i < n_fds; i++) {
    guint32 current = 0;

    while (old < member->n_fds && member->fds[old].fd < fds[i].fd) {
      if (member->registered[old] != 0)
        unregister_fd (set, member, member->fds[old].fd);
      old++;
    }
    if (old < member->n_fds && member->fds[old].fd == fds[i].fd)
      current = member->registered[old++];
    registered[i] = register_fd (set, member, fds[i].fd, current,
                                 natter_bench_epoll_events_from_glib (fds[i].events));
    if (registered[i] == 0)
      direct = TRUE;
  }
  for (; old < member->n_fds; old++)
    if (member->registered[old] != 0)
      unregister_fd (set, member, member->fds[old].fd);

  if (n_fds > member->fds_size) {
    member->fds_size = n_fds;
    member->fds = g_renew (GPollFD, member->fds, n_fds);
    member->registered = g_renew (guint32, member->registered, n_fds);
  }
  if (n_fds > 0) {
    memcpy (member->fds, fds, n_fds * sizeof *fds);
    memcpy (member->registered, registered, n_fds * sizeof *registered);
  }
  member->n_fds = n_fds;

  if (direct != member->direct) {
    member->direct = direct;
    if (direct)
      g_ptr_array_add (set->direct, member);
    else
      g_ptr_array_remove_fast (set->direct, member);
  }
}

/* The first half of an iteration: prepare, query, register what to wait for. */
static void
prepare_member (NatterBenchContextSet *set, Member *member)
{
  gint max_priority = G_MAXINT;
  gboolean ready = g_main_context_prepare (member->context, &max_priority);
  int timeout_ms = -1;
  int n;

  while ((n = g_main_context_query (member->context, max_priority, &timeout_ms, set->scratch,
                                    (int) set->scratch_size)) > (int) set->scratch_size) {
    set->scratch_size = (guint) n * 2;
    set->scratch = g_renew (GPollFD, set->scratch, set->scratch_size);
    set->scratch_registered = g_renew (guint32, set->scratch_registered, set->scratch_size);
  }
  sync_fds (set, member, set->scratch, (guint) n);
  member->max_priority = max_priority;

  if (ready || timeout_ms == 0) {
    set_deadline (set, member, -1);
    queue_member (set, member);
  } else if (timeout_ms < 0) {
    set_deadline (set, member, -1);
  } else {
    set_deadline (set, member, g_get_monotonic_time () + (gint64) timeout_ms * 1000);
  }
}

/* The second half: check with the revents gathered, dispatch, and prepare
 * the next. */
static void
visit_member (NatterBenchContextSet *set, Member *member)
{
  GMainContext *context = member->context;

  set->visits++;
  g_main_context_push_thread_default (context);
  if (member->direct)
    g_poll (member->fds, member->n_fds, 0);
  if (g_main_context_check (context, member->max_priority, member->fds, (int) member->n_fds))
    g_main_context_dispatch (context);
  /* Removed by its own dispatch: nothing more to wait for. */
  if (!member->removed) {
    for (guint i = 0; i < member->n_fds; i++)
      member->fds[i].revents = 0;
    prepare_member (set, member);
  }
  g_main_context_pop_thread_default (context);
}

static void
member_free (Member *member)
{
  g_free (member->fds);
  g_free (member->registered);
  g_free (member);
}

static gboolean
has_due_work (NatterBenchContextSet *set, gint64 now_us, int *timeout_ms)
{
  GSequenceIter *first;
  Member *member;

  if (set->queue->len > 0 || set->direct->len > 0)
    return TRUE;
  first = g_sequence_get_begin_iter (set->timers);
  if (g_sequence_iter_is_end (first))
    return FALSE;
  member = g_sequence_get (first);
  if (member->deadline_us <= now_us)
    return TRUE;
  if (timeout_ms != NULL)
    *timeout_ms = (int) MIN ((member->deadline_us - now_us + 999) / 1000, G_MAXINT);
  return FALSE;
}

static gboolean
context_set_prepare (GSource *source, int *timeout_ms)
{
  NatterBenchContextSet *set = (NatterBenchContextSet *) source;

  *timeout_ms = -1;
  return has_due_work (set, g_source_get_time (source), timeout_ms);
}

static gboolean
context_set_check (GSource *source)
{
  NatterBenchContextSet *set = (NatterBenchContextSet *) source;

  return (g_source_query_unix_fd (source, set->epoll_tag) & G_IO_IN) != 0 ||
         has_due_work (set, g_get_monotonic_time (), NULL);
}

static gboolean
context_set_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  NatterBenchContextSet *set = (NatterBenchContextSet *) source;
  gint64 now_us = g_get_monotonic_time ();
  GPtrArray *visiting;
  int n;

  set->rounds++;
  set->in_round = TRUE;

  do
    n = epoll_wait (set->epoll_fd, (struct epoll_event *) (void *) set->events->data,
                    (int) set->events->len, 0);
  while (n < 0 && errno == EINTR);
  for (int k = 0; k < n; k++) {
    const struct epoll_event *event = &g_array_index (set->events, struct epoll_event, k);
    guint id = (guint) (event->data.u64 >> 32);
    int fd = (int) (event->data.u64 & G_MAXUINT32);
    Member *member = id < set->members->len ? g_ptr_array_index (set->members, id) : NULL;
    GPollFD *pollfd;

    if (member == NULL || (pollfd = find_fd (member, fd)) == NULL)
      continue;
    pollfd->revents |=
      natter_bench_epoll_events_to_glib (event->events) & (pollfd->events | G_IO_ERR | G_IO_HUP);
    queue_member (set, member);
  }
  /* Reported as many as it could hold: the next round reads the rest. */
  if (n == (int) set->events->len && set->events->len < 65536)
    g_array_set_size (set->events, set->events->len * 2);

  for (;;) {
    GSequenceIter *first = g_sequence_get_begin_iter (set->timers);
    Member *member;

    if (g_sequence_iter_is_end (first))
      break;
    member = g_sequence_get (first);
    if (member->deadline_us > now_us)
      break;
    set_deadline (set, member, -1);
    queue_member (set, member);
  }
  for (guint i = 0; i < set->direct->len; i++)
    queue_member (set, g_ptr_array_index (set->direct, i));

  /* Members queued while this round visits go to the next one. */
  visiting = set->queue;
  set->queue = set->visiting;
  set->visiting = visiting;
  for (guint i = 0; i < visiting->len; i++) {
    Member *member = g_ptr_array_index (visiting, i);

    if (member->removed)
      continue;
    member->queued = FALSE;
    visit_member (set, member);
  }
  g_ptr_array_set_size (visiting, 0);

  set->in_round = FALSE;
  g_ptr_array_set_size (set->removed, 0);
  return G_SOURCE_CONTINUE;
}

static void
context_set_finalize (GSource *source)
{
  NatterBenchContextSet *set = (NatterBenchContextSet *) source;

  while (set->members->len > 0) {
    Member *member = g_ptr_array_index (set->members, set->members->len - 1);

    if (member != NULL)
      natter_bench_context_set_remove (set, member->context);
    g_ptr_array_set_size (set->members, set->members->len - 1);
  }
  g_ptr_array_unref (set->members);
  g_ptr_array_unref (set->removed);
  g_array_unref (set->free_ids);
  g_hash_table_unref (set->by_context);
  g_array_unref (set->owners);
  g_ptr_array_unref (set->queue);
  g_ptr_array_unref (set->visiting);
  g_ptr_array_unref (set->direct);
  g_sequence_free (set->timers);
  g_array_unref (set->events);
  g_free (set->scratch);
  g_free (set->scratch_registered);
  if (set->epoll_fd >= 0)
    close (set->epoll_fd);
}

static GSourceFuncs context_set_funcs = {
  .prepare = context_set_prepare,
  .check = context_set_check,
  .dispatch = context_set_dispatch,
  .finalize = context_set_finalize,
};

/**
 * natter_bench_context_set_new:
 *
 * A source to attach to the context that runs the members.
 *
 * Returns: (transfer full): the set, a #GSource
 */
NatterBenchContextSet *
natter_bench_context_set_new (void)
{
  GSource *source = g_source_new (&context_set_funcs, sizeof (NatterBenchContextSet));
  NatterBenchContextSet *set = (NatterBenchContextSet *) source;

  g_source_set_name (source, "NatterBenchContextSet");
  set->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (set->epoll_fd < 0)
    g_error ("epoll_create1: %s", g_strerror (errno));
  set->epoll_tag = g_source_add_unix_fd (source, set->epoll_fd, G_IO_IN);
  set->members = g_ptr_array_new ();
  set->free_ids = g_array_new (FALSE, FALSE, sizeof (guint));
  set->by_context = g_hash_table_new (NULL, NULL);
  set->owners = g_array_new (FALSE, TRUE, sizeof (guint32));
  set->queue = g_ptr_array_new ();
  set->visiting = g_ptr_array_new ();
  set->direct = g_ptr_array_new ();
  set->removed = g_ptr_array_new_with_free_func ((GDestroyNotify) member_free);
  set->timers = g_sequence_new (NULL);
  set->events = g_array_new (FALSE, TRUE, sizeof (struct epoll_event));
  g_array_set_size (set->events, 256);
  set->scratch_size = 16;
  set->scratch = g_new (GPollFD, set->scratch_size);
  set->scratch_registered = g_new (guint32, set->scratch_size);
  return set;
}

/**
 * natter_bench_context_set_add:
 * @set: the set
 * @context: a context no other thread owns
 *
 * Makes @context a member: the thread that iterates @set's context acquires
 * it (call this on that thread) and runs it from now on.
 */
void
natter_bench_context_set_add (NatterBenchContextSet *set, GMainContext *context)
{
  Member *member;

  g_return_if_fail (set != NULL);
  g_return_if_fail (context != NULL);
  g_return_if_fail (g_hash_table_lookup (set->by_context, context) == NULL);

  if (!g_main_context_acquire (context)) {
    g_critical ("natter_bench_context_set_add: another thread owns the context");
    return;
  }
  member = g_new0 (Member, 1);
  member->context = g_main_context_ref (context);
  member->deadline_us = -1;
  if (set->free_ids->len > 0) {
    member->id = g_array_index (set->free_ids, guint, set->free_ids->len - 1);
    g_array_set_size (set->free_ids, set->free_ids->len - 1);
    g_ptr_array_index (set->members, member->id) = member;
  } else {
    member->id = set->members->len;
    g_ptr_array_add (set->members, member);
  }
  g_hash_table_insert (set->by_context, context, member);

  g_main_context_push_thread_default (context);
  prepare_member (set, member);
  g_main_context_pop_thread_default (context);
}

/**
 * natter_bench_context_set_remove:
 * @set: the set
 * @context: a member
 *
 * Stops running @context and releases it; its sources stay attached.
 */
void
natter_bench_context_set_remove (NatterBenchContextSet *set, GMainContext *context)
{
  Member *member;

  g_return_if_fail (set != NULL);
  member = g_hash_table_lookup (set->by_context, context);
  g_return_if_fail (member != NULL);

  for (guint i = 0; i < member->n_fds; i++)
    if (member->registered[i] != 0)
      unregister_fd (set, member, member->fds[i].fd);
  member->n_fds = 0;
  set_deadline (set, member, -1);
  if (member->direct)
    g_ptr_array_remove_fast (set->direct, member);
  if (member->queued)
    g_ptr_array_remove_fast (set->queue, member);
  member->removed = TRUE;
  g_hash_table_remove (set->by_context, context);
  g_ptr_array_index (set->members, member->id) = NULL;
  g_array_append_val (set->free_ids, member->id);
  g_main_context_release (context);
  g_main_context_unref (context);
  /* The round visiting it may still hold it. */
  if (set->in_round)
    g_ptr_array_add (set->removed, member);
  else
    member_free (member);
}

/**
 * natter_bench_context_set_wake:
 * @set: the set
 * @context: a member
 *
 * Visits @context in the next round: for a source attached to it from this
 * thread outside its visit, which GLib does not signal.
 */
void
natter_bench_context_set_wake (NatterBenchContextSet *set, GMainContext *context)
{
  Member *member;

  g_return_if_fail (set != NULL);
  member = g_hash_table_lookup (set->by_context, context);
  g_return_if_fail (member != NULL);
  queue_member (set, member);
}

/**
 * natter_bench_context_set_enter:
 * @set: the set
 * @context: a member
 *
 * Makes @context the thread-default context, so that what a call into
 * libsoup attaches goes to it; end with natter_bench_context_set_leave ().
 */
void
natter_bench_context_set_enter (NatterBenchContextSet *set, GMainContext *context)
{
  g_return_if_fail (set != NULL);
  g_main_context_push_thread_default (context);
}

/**
 * natter_bench_context_set_leave:
 * @set: the set
 * @context: the member natter_bench_context_set_enter () entered
 *
 * Pops @context and visits it in the next round.
 */
void
natter_bench_context_set_leave (NatterBenchContextSet *set, GMainContext *context)
{
  g_main_context_pop_thread_default (context);
  natter_bench_context_set_wake (set, context);
}

/**
 * natter_bench_context_set_get_rounds:
 * @set: the set
 *
 * Returns: how many times the set's source dispatched
 */
guint
natter_bench_context_set_get_rounds (NatterBenchContextSet *set)
{
  return set->rounds;
}

/**
 * natter_bench_context_set_get_visits:
 * @set: the set
 *
 * Returns: how many member iterations the rounds made
 */
guint64
natter_bench_context_set_get_visits (NatterBenchContextSet *set)
{
  return set->visits;
}
