/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-ws-poller"

#include "natter-ws-poller.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "natter-ws-transport-private.h"

/*
 * Every WebSocket of the hub in one epoll set, seen by GLib as one source.
 *
 * GLib's main loop prepares, polls and checks every source on every
 * iteration: with a few GSources per connection, 10,000 idle connections
 * cost a quarter of a core. Here the main loop polls one fd; a pass asks
 * epoll which sockets are ready and touches only those. Keepalive pings
 * and close timeouts are two lists sorted by deadline (all connections
 * share one interval, so appending keeps them sorted), and the source's
 * ready time is the earliest deadline: no timer per connection either.
 * Frames queued during a pass are written once at its end, one send ()
 * per socket.
 */

#define MAX_EVENTS_PER_PASS 256
/* Idle wslay contexts kept for the next transport that needs one (8.4 KiB
 * each): about as many as a pass and the store's callbacks before it use. */
#define MAX_SPARE_WSLAY 512
#define WRITE_BUFFER_SIZE (256 * 1024)
/* Pings wait for the next whole second of the monotonic clock, so that
 * the loop wakes once a second for all the pings due in it instead of once
 * per connection (333 times a second for 10,000 connections at 30 s);
 * their pongs come back together too. A ping is late by under a second. */
#define PING_BATCH_US G_USEC_PER_SEC

struct _NatterWsPollerHandle {
  NatterWsPoller *poller;
  NatterWsTransport *transport; /* owned */
  int fd;
  guint32 events;
  gboolean removed;
  gboolean flush_queued;
  gint64 ping_deadline_us;
  gint64 close_deadline_us;
  GList all_link;
  GList flush_link;
  GList ping_link;
  GList close_link;
};

typedef struct {
  GSource source;
  NatterWsPoller *poller;
} PollerSource;

struct _NatterWsPoller {
  GObject parent_instance;

  int epoll_fd;
  GSource *source;

  GQueue all;
  GQueue flush_queue;
  GQueue ping_queue;  /* sorted by ping_deadline_us */
  GQueue close_queue; /* sorted by close_deadline_us */
  /* Handles removed during a pass: epoll may still report them in the
   * same batch, so they are freed when it ends. */
  GPtrArray *removed;
  gboolean dispatching;
  gpointer epoll_tag;
  /* A nested iteration found the epoll set readable during a pass: it is
   * left out of the poll until the pass ends. */
  gboolean epoll_paused;

  guint8 *write_buffer;
  GPtrArray *spare_wslay; /* NatterWsWslayHolder */
};

G_DEFINE_FINAL_TYPE (NatterWsPoller, natter_ws_poller, G_TYPE_OBJECT)

static void
handle_free (NatterWsPollerHandle *handle)
{
  g_clear_object (&handle->transport);
  g_free (handle);
}

static void
update_ready_time (NatterWsPoller *self)
{
  gint64 ready = -1;

  if (self->source == NULL)
    return;
  /* Queued flushes are not a ready time: poller_source_prepare () sees
   * them. */
  if (self->ping_queue.head != NULL) {
    gint64 ping = ((NatterWsPollerHandle *) self->ping_queue.head->data)->ping_deadline_us;

    ready = (ping + PING_BATCH_US - 1) / PING_BATCH_US * PING_BATCH_US;
  }
  if (self->close_queue.head != NULL) {
    gint64 close = ((NatterWsPollerHandle *) self->close_queue.head->data)->close_deadline_us;

    if (ready < 0 || close < ready)
      ready = close;
  }
  if (g_source_get_ready_time (self->source) != ready)
    g_source_set_ready_time (self->source, ready);
}

/* Inserts @link so that @queue stays sorted by the deadline at @offset;
 * walks from the tail, where a new deadline almost always belongs. */
static void
insert_sorted (GQueue *queue, GList *link, gsize offset)
{
  gint64 deadline = G_STRUCT_MEMBER (gint64, link->data, offset);
  GList *after = queue->tail;

  while (after != NULL && G_STRUCT_MEMBER (gint64, after->data, offset) > deadline)
    after = after->prev;
  if (after == NULL)
    g_queue_push_head_link (queue, link);
  else if (after == queue->tail)
    g_queue_push_tail_link (queue, link);
  else
    g_queue_insert_after_link (queue, after, link);
}

static void
unlink_from (GQueue *queue, GList *link)
{
  if (link->prev != NULL || link->next != NULL || queue->head == link)
    g_queue_unlink (queue, link);
}

static gboolean
poller_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  NatterWsPoller *self = ((PollerSource *) source)->poller;
  struct epoll_event events[MAX_EVENTS_PER_PASS];
  gint64 now_us;
  int n;

  /* A handler that iterates the main context does not start a second
   * pass inside this one, nor spin in it: the epoll set stays readable
   * until the outer pass reads it, so it leaves the poll until then (the
   * outer pass also sets the ready time when it ends). */
  if (self->dispatching) {
    g_source_set_ready_time (source, -1);
    if (!self->epoll_paused) {
      g_source_modify_unix_fd (source, self->epoll_tag, 0);
      self->epoll_paused = TRUE;
    }
    return G_SOURCE_CONTINUE;
  }
  g_object_ref (self);
  self->dispatching = TRUE;

  n = epoll_wait (self->epoll_fd, events, G_N_ELEMENTS (events), 0);
  if (n < 0 && errno != EINTR)
    g_warning ("epoll_wait: %s", g_strerror (errno));
  for (int i = 0; i < n; i++) {
    NatterWsPollerHandle *handle = events[i].data.ptr;

    if (!handle->removed)
      natter_ws_transport_handle_io (handle->transport, events[i].events);
  }

  now_us = g_get_monotonic_time ();
  while (self->ping_queue.head != NULL) {
    NatterWsPollerHandle *handle = self->ping_queue.head->data;
    gboolean flush_was_queued = handle->flush_queued;

    if (handle->ping_deadline_us > now_us)
      break;
    g_queue_unlink (&self->ping_queue, &handle->ping_link);
    natter_ws_transport_ping_due (handle->transport, now_us);
    /* A ping on an idle connection leaves at once rather than at the end
     * of the pass: its framing state is made for it and freed right after,
     * so a second's batch of pings reuses one block of memory instead of
     * holding (and faulting in) one per connection until the pass ends. */
    if (!flush_was_queued && handle->flush_queued && !handle->removed) {
      g_queue_unlink (&self->flush_queue, &handle->flush_link);
      handle->flush_queued = FALSE;
      natter_ws_transport_flush (handle->transport);
    }
  }
  while (self->close_queue.head != NULL) {
    NatterWsPollerHandle *handle = self->close_queue.head->data;

    if (handle->close_deadline_us > now_us)
      break;
    g_queue_unlink (&self->close_queue, &handle->close_link);
    natter_ws_transport_close_timed_out (handle->transport);
  }

  /* Everything this pass queued, written once per socket. */
  while (self->flush_queue.head != NULL) {
    NatterWsPollerHandle *handle = self->flush_queue.head->data;

    g_queue_unlink (&self->flush_queue, &handle->flush_link);
    handle->flush_queued = FALSE;
    natter_ws_transport_flush (handle->transport);
  }

  self->dispatching = FALSE;
  if (self->epoll_paused) {
    g_source_modify_unix_fd (source, self->epoll_tag, G_IO_IN);
    self->epoll_paused = FALSE;
  }
  g_ptr_array_set_size (self->removed, 0);
  update_ready_time (self);
  g_object_unref (self);

  return G_SOURCE_CONTINUE;
}

/* Frames queued outside a pass (the store's callbacks, other sources) are
 * written in the next iteration. Always on the main context's own thread,
 * so a check here is enough: a ready time of 0 would wake the context
 * through its eventfd, a write and a read for every first frame queued
 * after a pass. */
static gboolean
poller_source_prepare (GSource *source, gint *timeout)
{
  NatterWsPoller *self = ((PollerSource *) source)->poller;

  *timeout = -1;
  /* During a pass (a nested iteration), its end writes them. */
  return self->flush_queue.length > 0 && !self->dispatching;
}

static GSourceFuncs poller_source_funcs = {
  .prepare = poller_source_prepare,
  .dispatch = poller_source_dispatch,
};

/**
 * natter_ws_poller_abort_all:
 * @self: a poller
 *
 * Closes every socket at once, without a close handshake.
 */
void
natter_ws_poller_abort_all (NatterWsPoller *self)
{
  g_return_if_fail (NATTER_IS_WS_POLLER (self));

  while (self->all.head != NULL) {
    NatterWsPollerHandle *handle = self->all.head->data;
    g_autoptr (NatterWsTransport) transport = g_object_ref (handle->transport);

    natter_ws_transport_abort (transport);
    /* The transport removes itself; make sure the loop ends regardless. */
    if (self->all.head != NULL && self->all.head->data == handle)
      natter_ws_poller_remove (handle);
  }
}

static void
natter_ws_poller_dispose (GObject *object)
{
  NatterWsPoller *self = (NatterWsPoller *) object;

  natter_ws_poller_abort_all (self);
  if (self->source != NULL) {
    g_source_destroy (self->source);
    g_clear_pointer (&self->source, g_source_unref);
  }

  G_OBJECT_CLASS (natter_ws_poller_parent_class)->dispose (object);
}

static void
natter_ws_poller_finalize (GObject *object)
{
  NatterWsPoller *self = (NatterWsPoller *) object;

  g_clear_pointer (&self->removed, g_ptr_array_unref);
  if (self->epoll_fd >= 0)
    close (self->epoll_fd);
  g_free (self->write_buffer);
  g_clear_pointer (&self->spare_wslay, g_ptr_array_unref);

  G_OBJECT_CLASS (natter_ws_poller_parent_class)->finalize (object);
}

static void
natter_ws_poller_class_init (NatterWsPollerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_ws_poller_dispose;
  object_class->finalize = natter_ws_poller_finalize;
}

static void
natter_ws_poller_init (NatterWsPoller *self)
{
  self->epoll_fd = -1;
  self->removed = g_ptr_array_new_with_free_func ((GDestroyNotify) handle_free);
  self->spare_wslay = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_ws_wslay_holder_free);
}

/**
 * natter_ws_poller_new:
 * @context: (nullable): the main context to run on; %NULL for the
 *   thread-default one
 * @error: where a failure to create the epoll set goes
 *
 * Returns: (transfer full) (nullable): a poller without sockets
 */
NatterWsPoller *
natter_ws_poller_new (GMainContext *context, GError **error)
{
  g_autoptr (NatterWsPoller) self = g_object_new (NATTER_TYPE_WS_POLLER, NULL);
  int saved_errno;

  self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  saved_errno = errno;
  if (self->epoll_fd < 0) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "epoll_create1: %s",
                 g_strerror (saved_errno));
    return NULL;
  }

  self->source = g_source_new (&poller_source_funcs, sizeof (PollerSource));
  ((PollerSource *) self->source)->poller = self;
  g_source_set_static_name (self->source, "natter-ws-poller");
  /* GLib blocks a source that cannot recurse while it dispatches, which
   * removes its fd from the poll set and adds it back after: two writes to
   * the context's wakeup eventfd per pass, and an extra loop iteration to
   * read them (most of an idle server's wake-ups). The pass guards against
   * re-entry itself. */
  g_source_set_can_recurse (self->source, TRUE);
  self->epoll_tag = g_source_add_unix_fd (self->source, self->epoll_fd, G_IO_IN);
  g_source_attach (self->source, context != NULL ? context : g_main_context_get_thread_default ());

  return g_steal_pointer (&self);
}

/**
 * natter_ws_poller_add:
 * @self: a poller
 * @fd: a non-blocking socket
 * @events: the epoll events to wait for
 * @transport: what handles it; the poller keeps a reference until removal
 *
 * Returns: (transfer none) (nullable): the handle, or %NULL when epoll
 *   refused @fd
 */
NatterWsPollerHandle *
natter_ws_poller_add (NatterWsPoller *self, int fd, guint32 events, NatterWsTransport *transport)
{
  NatterWsPollerHandle *handle;
  struct epoll_event event = { 0 };

  g_return_val_if_fail (NATTER_IS_WS_POLLER (self), NULL);
  g_return_val_if_fail (fd >= 0, NULL);

  handle = g_new0 (NatterWsPollerHandle, 1);
  handle->poller = self;
  handle->fd = fd;
  handle->events = events;
  handle->all_link.data = handle;
  handle->flush_link.data = handle;
  handle->ping_link.data = handle;
  handle->close_link.data = handle;

  event.events = events;
  event.data.ptr = handle;
  if (epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
    g_warning ("epoll_ctl (ADD, %d): %s", fd, g_strerror (errno));
    g_free (handle);
    return NULL;
  }
  handle->transport = g_object_ref (transport);
  g_queue_push_tail_link (&self->all, &handle->all_link);

  return handle;
}

/**
 * natter_ws_poller_remove:
 * @handle: a handle from natter_ws_poller_add ()
 *
 * Stops watching the socket (before it is closed) and drops the reference
 * to its transport, at the end of the pass when one is running.
 */
void
natter_ws_poller_remove (NatterWsPollerHandle *handle)
{
  NatterWsPoller *self;

  g_return_if_fail (handle != NULL && !handle->removed);

  self = handle->poller;
  handle->removed = TRUE;
  if (epoll_ctl (self->epoll_fd, EPOLL_CTL_DEL, handle->fd, NULL) != 0 && errno != EBADF &&
      errno != ENOENT)
    g_warning ("epoll_ctl (DEL, %d): %s", handle->fd, g_strerror (errno));
  g_queue_unlink (&self->all, &handle->all_link);
  if (handle->flush_queued)
    g_queue_unlink (&self->flush_queue, &handle->flush_link);
  unlink_from (&self->ping_queue, &handle->ping_link);
  unlink_from (&self->close_queue, &handle->close_link);

  if (self->dispatching)
    g_ptr_array_add (self->removed, handle);
  else
    handle_free (handle);
}

/**
 * natter_ws_poller_set_events:
 * @handle: a handle
 * @events: the epoll events to wait for from now on
 */
void
natter_ws_poller_set_events (NatterWsPollerHandle *handle, guint32 events)
{
  struct epoll_event event = { 0 };

  g_return_if_fail (handle != NULL && !handle->removed);

  if (handle->events == events)
    return;
  handle->events = events;
  event.events = events;
  event.data.ptr = handle;
  if (epoll_ctl (handle->poller->epoll_fd, EPOLL_CTL_MOD, handle->fd, &event) != 0)
    g_warning ("epoll_ctl (MOD, %d): %s", handle->fd, g_strerror (errno));
}

/**
 * natter_ws_poller_queue_flush:
 * @handle: a handle
 *
 * The transport has frames to write: it is flushed at the end of this pass,
 * or in the next one when no pass runs.
 */
void
natter_ws_poller_queue_flush (NatterWsPollerHandle *handle)
{
  NatterWsPoller *self;

  g_return_if_fail (handle != NULL);

  if (handle->removed || handle->flush_queued)
    return;
  self = handle->poller;
  handle->flush_queued = TRUE;
  g_queue_push_tail_link (&self->flush_queue, &handle->flush_link);
}

/**
 * natter_ws_poller_schedule_ping:
 * @handle: a handle
 * @deadline_us: the monotonic time of the next keepalive ping
 */
void
natter_ws_poller_schedule_ping (NatterWsPollerHandle *handle, gint64 deadline_us)
{
  NatterWsPoller *self;

  g_return_if_fail (handle != NULL);

  if (handle->removed)
    return;
  self = handle->poller;
  unlink_from (&self->ping_queue, &handle->ping_link);
  handle->ping_deadline_us = deadline_us;
  insert_sorted (&self->ping_queue, &handle->ping_link,
                 G_STRUCT_OFFSET (NatterWsPollerHandle, ping_deadline_us));
  if (!self->dispatching)
    update_ready_time (self);
}

/**
 * natter_ws_poller_schedule_close_timeout:
 * @handle: a handle
 * @deadline_us: when the close handshake is given up
 */
void
natter_ws_poller_schedule_close_timeout (NatterWsPollerHandle *handle, gint64 deadline_us)
{
  NatterWsPoller *self;

  g_return_if_fail (handle != NULL);

  if (handle->removed)
    return;
  self = handle->poller;
  unlink_from (&self->close_queue, &handle->close_link);
  handle->close_deadline_us = deadline_us;
  insert_sorted (&self->close_queue, &handle->close_link,
                 G_STRUCT_OFFSET (NatterWsPollerHandle, close_deadline_us));
  if (!self->dispatching)
    update_ready_time (self);
}

/**
 * natter_ws_poller_get_write_buffer:
 * @self: a poller
 * @size: (out): its size
 *
 * Returns: (transfer none): the buffer one flush at a time writes into
 */
guint8 *
natter_ws_poller_get_write_buffer (NatterWsPoller *self, gsize *size)
{
  g_return_val_if_fail (NATTER_IS_WS_POLLER (self), NULL);

  if (self->write_buffer == NULL)
    self->write_buffer = g_malloc (WRITE_BUFFER_SIZE);
  *size = WRITE_BUFFER_SIZE;
  return self->write_buffer;
}

/* Private (natter-ws-transport-private.h): an idle wslay context, or NULL. */
NatterWsWslayHolder *
natter_ws_poller_take_spare_wslay (NatterWsPoller *self)
{
  if (self->spare_wslay->len == 0)
    return NULL;
  return g_ptr_array_steal_index_fast (self->spare_wslay, self->spare_wslay->len - 1);
}

/* Private: keeps @holder (idle) unless enough are kept; FALSE then. */
gboolean
natter_ws_poller_keep_spare_wslay (NatterWsPoller *self, NatterWsWslayHolder *holder)
{
  if (self->spare_wslay->len >= MAX_SPARE_WSLAY)
    return FALSE;
  g_ptr_array_add (self->spare_wslay, holder);
  return TRUE;
}

/**
 * natter_ws_poller_get_n_sockets:
 * @self: a poller
 *
 * Returns: how many sockets it watches
 */
guint
natter_ws_poller_get_n_sockets (NatterWsPoller *self)
{
  g_return_val_if_fail (NATTER_IS_WS_POLLER (self), 0);

  return self->all.length;
}
