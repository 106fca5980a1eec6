/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-ws-transport"

#include "natter-ws-transport.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

#include "natter-ws-transport-private.h"

/*
 * One server-side WebSocket after the HTTP upgrade: wslay does the framing
 * (masking, fragments, control frames, UTF-8 of text, the whole-message
 * limit, the close handshake) over the raw socket, and the poller tells
 * when the socket is ready.
 *
 * Reads go straight into wslay's buffer; a short read means the socket is
 * empty, so no second recv () only to hear EAGAIN. Writes: wslay frames
 * into the poller's shared buffer and the whole of it leaves in one send ();
 * only what the kernel does not take is copied aside (pending) and waits
 * for EPOLLOUT, and then wslay keeps the rest in its own queue.
 *
 * Memory: wslay's two contexts take 8.4 KiB (a 4 KiB input and a 4 KiB
 * output buffer). An idle connection keeps none: the contexts are made
 * when bytes arrive or a message is queued, and freed at the end of the
 * pass when wslay holds nothing (no byte of a frame not yet parsed, no
 * fragmented message under way, nothing queued, no close started). The
 * transport counts the bytes it handed wslay against the frames wslay
 * finished to know that; wslay refuses a length not encoded in its
 * shortest form, so a frame's header length follows from its payload's.
 *
 * Closing: the side that closes sends its close frame, then shuts its
 * write half so that the peer sees the end at once, and waits (at most
 * CLOSE_TIMEOUT_US) for the peer's close frame. When the peer broke the
 * protocol or passed the message limit, nothing more is parsed: the input
 * is read and dropped until the peer hangs up, so that the peer gets the
 * close frame and not a reset.
 */

#define CLOSE_TIMEOUT_US (5 * G_USEC_PER_SEC)
/* Bytes read from one socket per pass, so that one busy peer cannot keep
 * the others waiting. */
#define READ_BUDGET_BYTES (256 * 1024)
#define CLOSE_ABNORMAL 1006

/* wslay takes its user_data once, at init: a context passed from one
 * transport to another (see get_wslay ()) carries this, which says whose
 * it is now. */
struct _NatterWsWslayHolder {
  wslay_event_context_ptr context;
  NatterWsTransport *transport;
};

struct _NatterWsTransport {
  GObject parent_instance;

  NatterWsPoller *poller; /* not owned: it outlives its transports */
  NatterWsPollerHandle *handle;
  GIOStream *stream;
  GSocket *socket;
  int fd;
  /* NULL while idle (see above): then open, nothing buffered or queued. */
  wslay_event_context_ptr wslay;
  NatterWsWslayHolder *wslay_holder;
  gsize max_message_bytes;
  /* Bytes handed to wslay that are not yet part of a finished frame. */
  guint64 wslay_unparsed;
  guint64 frame_bytes;
  gboolean in_fragmented_message;

  const NatterWsTransportHandlers *handlers;
  gpointer handlers_data;

  /* Bytes libsoup read past the handshake wait in the stolen stream's
   * buffer: they are read from it first, until it would block. Under TLS
   * every byte goes through the stream (tls: early_input stays). */
  GPollableInputStream *early_input;
  GPollableOutputStream *tls_output;
  gboolean tls;
  /* Input may wait where epoll does not see it (the stream's buffers):
   * read again in the next pass. */
  gboolean read_again;
  gboolean socket_empty;
  gsize read_budget;

  /* A flush in progress: the poller's shared buffer, and how much of it
   * is filled. */
  guint8 *write_buffer;
  gsize write_buffer_size;
  gsize write_buffer_used;
  /* What the kernel did not take yet. */
  guint8 *pending;
  gsize pending_length;
  gsize pending_offset;
  /* When everything queued was last handed to the kernel. */
  gint64 drained_us;

  gint64 keepalive_us;
  gushort close_code;
  gboolean write_shut;
  gboolean draining;
  gboolean close_timer_started;
  gboolean closing;
  gboolean failed;
  gboolean closed_emitted;
  gboolean finished;
};

G_DEFINE_FINAL_TYPE (NatterWsTransport, natter_ws_transport, G_TYPE_OBJECT)

static void finish (NatterWsTransport *self, gushort code);

static void
emit_closed (NatterWsTransport *self, gushort code)
{
  if (self->closed_emitted)
    return;
  self->closed_emitted = TRUE;
  self->close_code = code;
  if (self->handlers != NULL && self->handlers->closed != NULL)
    self->handlers->closed (self->handlers_data, code);
}

static gboolean
has_pending (NatterWsTransport *self)
{
  return self->pending_offset < self->pending_length;
}

static void
update_events (NatterWsTransport *self)
{
  guint32 events = 0;

  if (self->handle == NULL)
    return;
  if (self->draining || self->wslay == NULL || wslay_event_want_read (self->wslay))
    events |= EPOLLIN | EPOLLRDHUP;
  if (has_pending (self))
    events |= EPOLLOUT;
  natter_ws_poller_set_events (self->handle, events);
}

static void
queue_flush (NatterWsTransport *self)
{
  if (self->handle != NULL)
    natter_ws_poller_queue_flush (self->handle);
}

static void
start_close_timer (NatterWsTransport *self)
{
  if (self->close_timer_started || self->handle == NULL)
    return;
  self->close_timer_started = TRUE;
  natter_ws_poller_schedule_close_timeout (self->handle,
                                           g_get_monotonic_time () + CLOSE_TIMEOUT_US);
}

static ssize_t
on_wslay_recv (wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user_data)
{
  NatterWsTransport *self = ((NatterWsWslayHolder *) user_data)->transport;
  ssize_t n;

  if (self->early_input != NULL) {
    g_autoptr (GError) error = NULL;

    if (self->read_budget == 0) {
      self->read_again = TRUE;
      wslay_event_set_error (ctx, WSLAY_ERR_WOULDBLOCK);
      return -1;
    }
    n = g_pollable_input_stream_read_nonblocking (self->early_input, buf,
                                                  MIN (len, self->read_budget), NULL, &error);
    if (n > 0) {
      self->read_budget -= (gsize) n;
      self->wslay_unparsed += (guint64) n;
      return n;
    }
    if (!self->tls)
      g_clear_object (&self->early_input);
    if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
      self->socket_empty = TRUE;
      wslay_event_set_error (ctx, WSLAY_ERR_WOULDBLOCK);
      return -1;
    }
    g_debug ("fd %d: %s", self->fd, n == 0 ? "end of stream" : error->message);
    self->failed = TRUE;
    wslay_event_set_error (ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }

  if (self->socket_empty || self->read_budget == 0) {
    wslay_event_set_error (ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }

  do
    n = recv (self->fd, buf, MIN (len, self->read_budget), 0);
  while (n < 0 && errno == EINTR);
  if (n > 0) {
    if ((size_t) n < MIN (len, self->read_budget))
      self->socket_empty = TRUE;
    self->read_budget -= (gsize) n;
    self->wslay_unparsed += (guint64) n;
    return n;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    self->socket_empty = TRUE;
    wslay_event_set_error (ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }

  /* The end of the stream or a reset, without a close frame. */
  g_debug ("fd %d: %s", self->fd, n == 0 ? "end of stream" : g_strerror (errno));
  self->failed = TRUE;
  wslay_event_set_error (ctx, WSLAY_ERR_CALLBACK_FAILURE);
  return -1;
}

static ssize_t
on_wslay_send (
  wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user_data)
{
  NatterWsTransport *self = ((NatterWsWslayHolder *) user_data)->transport;
  gsize room = self->write_buffer_size - self->write_buffer_used;

  if (self->write_buffer == NULL || room == 0) {
    wslay_event_set_error (ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  len = MIN (len, room);
  memcpy (self->write_buffer + self->write_buffer_used, data, len);
  self->write_buffer_used += len;
  return (ssize_t) len;
}

static void
on_wslay_message (wslay_event_context_ptr ctx,
                  const struct wslay_event_on_msg_recv_arg *arg,
                  void *user_data)
{
  NatterWsTransport *self = ((NatterWsWslayHolder *) user_data)->transport;

  if (self->handlers == NULL || self->finished)
    return;

  switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME:
      /* Messages that arrive after our close frame are not for the hub. */
      if (natter_ws_transport_is_open (self) && self->handlers->message != NULL)
        self->handlers->message (self->handlers_data, arg->opcode == WSLAY_TEXT_FRAME, arg->msg,
                                 arg->msg_length);
      break;
    case WSLAY_PONG:
      if (self->handlers->pong != NULL)
        self->handlers->pong (self->handlers_data);
      break;
    default:
      /* Pings are answered and close frames echoed by wslay itself. */
      break;
  }
}

/* A frame's size on the wire: a client's frames are masked (wslay fails
 * the connection otherwise), and their length is in its shortest form. */
static void
on_wslay_frame_start (wslay_event_context_ptr ctx,
                      const struct wslay_event_on_frame_recv_start_arg *arg,
                      void *user_data)
{
  NatterWsTransport *self = ((NatterWsWslayHolder *) user_data)->transport;
  guint64 header = 2 + 4;

  if (arg->payload_length >= 65536)
    header += 8;
  else if (arg->payload_length >= 126)
    header += 2;
  self->frame_bytes = header + arg->payload_length;
  if (!wslay_is_ctrl_frame (arg->opcode))
    self->in_fragmented_message = !arg->fin;
}

static void
on_wslay_frame_end (wslay_event_context_ptr ctx, void *user_data)
{
  NatterWsTransport *self = ((NatterWsWslayHolder *) user_data)->transport;

  self->wslay_unparsed -= MIN (self->wslay_unparsed, self->frame_bytes);
  self->frame_bytes = 0;
}

static const struct wslay_event_callbacks wslay_callbacks = {
  .recv_callback = on_wslay_recv,
  .send_callback = on_wslay_send,
  .on_frame_recv_start_callback = on_wslay_frame_start,
  .on_frame_recv_end_callback = on_wslay_frame_end,
  .on_msg_recv_callback = on_wslay_message,
};

void
natter_ws_wslay_holder_free (NatterWsWslayHolder *holder)
{
  wslay_event_context_free (holder->context);
  g_free (holder);
}

/* The contexts go back to the poller when idle and the next transport that
 * needs some takes them: making them (8.4 KiB, calloc) for each frame of a
 * connection was a tenth of the routing thread at 5,000 messages/s. An idle
 * context holds nothing of its connection (see release_wslay_if_idle ()),
 * as after any of the connection's own finished frames. */
static wslay_event_context_ptr
get_wslay (NatterWsTransport *self)
{
  if (self->wslay == NULL) {
    NatterWsWslayHolder *holder = natter_ws_poller_take_spare_wslay (self->poller);

    if (holder == NULL) {
      holder = g_new0 (NatterWsWslayHolder, 1);
      /* No extension is negotiated: RSV bits stay refused (1002), so a
       * compressed frame is never inflated. */
      if (wslay_event_context_server_init (&holder->context, &wslay_callbacks, holder) != 0)
        g_error ("out of memory");
    }
    holder->transport = self;
    self->wslay_holder = holder;
    self->wslay = holder->context;
    wslay_event_config_set_max_recv_msg_length (self->wslay, self->max_message_bytes);
    self->wslay_unparsed = self->frame_bytes = 0;
    self->in_fragmented_message = FALSE;
  }
  return self->wslay;
}

/* A context in any state, never passed on. */
static void
free_wslay (NatterWsTransport *self)
{
  self->wslay = NULL;
  g_clear_pointer (&self->wslay_holder, natter_ws_wslay_holder_free);
}

/* At the end of a pass: wslay's contexts go when they hold nothing. */
static void
release_wslay_if_idle (NatterWsTransport *self)
{
  wslay_event_context_ptr wslay = self->wslay;
  NatterWsWslayHolder *holder;

  if (wslay == NULL || self->finished || self->failed || self->draining || self->closing ||
      self->read_again || self->wslay_unparsed != 0 || self->in_fragmented_message)
    return;
  if (!wslay_event_get_read_enabled (wslay) || !wslay_event_get_write_enabled (wslay) ||
      wslay_event_get_close_sent (wslay) || wslay_event_get_close_received (wslay) ||
      wslay_event_want_write (wslay) || wslay_event_get_queued_msg_count (wslay) != 0)
    return;
  holder = g_steal_pointer (&self->wslay_holder);
  self->wslay = NULL;
  holder->transport = NULL;
  if (!natter_ws_poller_keep_spare_wslay (self->poller, holder))
    natter_ws_wslay_holder_free (holder);
}

/* Hands bytes to the kernel (through TLS when it is on): how many it
 * took, 0 when it would block, -1 when the connection failed. */
static gssize
write_some (NatterWsTransport *self, const guint8 *data, gsize length)
{
  if (self->tls) {
    g_autoptr (GError) error = NULL;
    gssize n =
      g_pollable_output_stream_write_nonblocking (self->tls_output, data, length, NULL, &error);

    if (n >= 0)
      return n;
    return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) ? 0 : -1;
  }

  for (;;) {
    gssize n = send (self->fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);

    if (n >= 0)
      return n;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    g_debug ("fd %d: send: %s", self->fd, g_strerror (errno));
    return -1;
  }
}

/* Sends what waits from earlier flushes; FALSE while some still waits. */
static gboolean
send_pending (NatterWsTransport *self)
{
  while (has_pending (self)) {
    gssize n = write_some (self, self->pending + self->pending_offset,
                           self->pending_length - self->pending_offset);

    if (n > 0) {
      self->pending_offset += (gsize) n;
    } else {
      self->failed = n < 0;
      return FALSE;
    }
  }
  g_clear_pointer (&self->pending, g_free);
  self->pending_length = self->pending_offset = 0;
  return TRUE;
}

/* The close handshake's progress, after every read and write. */
static void
check_close_state (NatterWsTransport *self)
{
  if (self->finished)
    return;
  if (self->failed) {
    finish (self, self->wslay != NULL && wslay_event_get_close_received (self->wslay)
                    ? wslay_event_get_status_code_received (self->wslay)
                    : CLOSE_ABNORMAL);
    return;
  }
  if (self->wslay == NULL || !wslay_event_get_close_sent (self->wslay) || has_pending (self))
    return;

  if (!self->write_shut) {
    self->write_shut = TRUE;
    /* Under TLS, the close frame says it: a bare FIN would cut a record. */
    if (!self->tls)
      shutdown (self->fd, SHUT_WR);
  }
  if (wslay_event_get_close_received (self->wslay)) {
    finish (self, wslay_event_get_status_code_received (self->wslay));
  } else if (!wslay_event_get_read_enabled (self->wslay)) {
    /* We failed the connection (limit, protocol): nothing more is parsed. */
    if (!self->draining) {
      self->draining = TRUE;
      emit_closed (self, wslay_event_get_status_code_sent (self->wslay));
    }
    start_close_timer (self);
  } else {
    start_close_timer (self);
  }
  if (!self->finished)
    update_events (self);
}

static void
drain_input (NatterWsTransport *self)
{
  guint8 buffer[16384];
  gsize budget = READ_BUDGET_BYTES;

  while (budget > 0) {
    gssize n;

    if (self->tls) {
      g_autoptr (GError) error = NULL;

      n = g_pollable_input_stream_read_nonblocking (self->early_input, buffer, sizeof buffer, NULL,
                                                    &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return;
      if (n <= 0) {
        finish (self, self->close_code);
        return;
      }
      budget -= MIN (budget, (gsize) n);
      continue;
    }
    n = recv (self->fd, buffer, sizeof buffer, 0);

    if (n > 0) {
      budget -= MIN (budget, (gsize) n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    finish (self, self->close_code);
    return;
  }
}

void
natter_ws_transport_handle_io (NatterWsTransport *self, guint32 events)
{
  g_autoptr (NatterWsTransport) hold = g_object_ref (self);

  if (self->finished)
    return;

  if (events & EPOLLOUT)
    queue_flush (self);

  if (self->draining) {
    drain_input (self);
    return;
  }

  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    if (self->wslay == NULL || wslay_event_want_read (self->wslay)) {
      self->socket_empty = FALSE;
      self->read_budget = READ_BUDGET_BYTES;
      int result = wslay_event_recv (get_wslay (self));

      if (result != 0) {
        g_debug ("fd %d: wslay_event_recv: %d", self->fd, result);
        self->failed = TRUE;
      }
      if (self->read_again)
        queue_flush (self);
      /* Pongs, echoed close frames, and whatever the handlers sent. */
      queue_flush (self);
    } else if (events & (EPOLLHUP | EPOLLERR)) {
      g_debug ("fd %d: hung up", self->fd);
      self->failed = TRUE;
    }
  }

  check_close_state (self);
}

/* What wslay queued, framed into the shared buffer and handed to the
 * kernel in one write; the rest waits in pending, then in wslay's queue. */
static void
write_out (NatterWsTransport *self)
{
  while (!self->failed && send_pending (self) && self->wslay != NULL &&
         wslay_event_want_write (self->wslay)) {
    ssize_t sent = 0;
    int result;

    self->write_buffer = natter_ws_poller_get_write_buffer (self->poller, &self->write_buffer_size);
    self->write_buffer_used = 0;
    result = wslay_event_send (self->wslay);
    if (result != 0) {
      g_debug ("fd %d: wslay_event_send: %d", self->fd, result);
      self->failed = TRUE;
    }

    while (sent < (ssize_t) self->write_buffer_used && !self->failed) {
      gssize n =
        write_some (self, self->write_buffer + sent, self->write_buffer_used - (gsize) sent);

      if (n > 0)
        sent += n;
      else if (n == 0)
        break;
      else
        self->failed = TRUE;
    }
    if (!self->failed && sent < (ssize_t) self->write_buffer_used) {
      self->pending_length = self->write_buffer_used - (gsize) sent;
      self->pending_offset = 0;
      self->pending = g_memdup2 (self->write_buffer + sent, self->pending_length);
    }
    self->write_buffer = NULL;
    self->write_buffer_used = 0;
  }
  if (!self->failed && !has_pending (self) &&
      (self->wslay == NULL || !wslay_event_want_write (self->wslay)))
    self->drained_us = g_get_monotonic_time ();
}

void
natter_ws_transport_flush (NatterWsTransport *self)
{
  g_autoptr (NatterWsTransport) hold = g_object_ref (self);

  if (self->finished)
    return;
  if (self->read_again) {
    self->read_again = FALSE;
    natter_ws_transport_handle_io (self, EPOLLIN);
  }
  if (self->finished)
    return;

  write_out (self);
  check_close_state (self);
  if (!self->finished) {
    release_wslay_if_idle (self);
    update_events (self);
  }
}

/**
 * natter_ws_transport_flush_now:
 * @self: a transport
 *
 * Writes what is queued at once instead of at the end of the pass: for a
 * caller about to ask the kernel how much the peer took. Never closes or
 * calls a handler; a failure is handled in the next pass.
 */
void
natter_ws_transport_flush_now (NatterWsTransport *self)
{
  g_return_if_fail (NATTER_IS_WS_TRANSPORT (self));

  if (self->finished || self->write_buffer != NULL)
    return;
  write_out (self);
  if (self->failed)
    queue_flush (self);
  else
    update_events (self);
}

void
natter_ws_transport_ping_due (NatterWsTransport *self, gint64 now_us)
{
  struct wslay_event_msg ping = { WSLAY_PING, NULL, 0 };

  if (!natter_ws_transport_is_open (self))
    return;
  if (wslay_event_queue_msg (get_wslay (self), &ping) == 0)
    queue_flush (self);
  natter_ws_poller_schedule_ping (self->handle, now_us + self->keepalive_us);
}

void
natter_ws_transport_close_timed_out (NatterWsTransport *self)
{
  g_autoptr (NatterWsTransport) hold = g_object_ref (self);

  g_debug ("close handshake timed out");
  finish (self, self->closed_emitted ? self->close_code : CLOSE_ABNORMAL);
}

/* The socket is done with: out of the poller, closed, and the owner told. */
static void
finish (NatterWsTransport *self, gushort code)
{
  g_autoptr (NatterWsTransport) hold = g_object_ref (self);

  if (self->finished)
    return;
  self->finished = TRUE;
  g_debug ("fd %d: closed (%u)", self->fd, code);

  if (self->handle != NULL)
    natter_ws_poller_remove (g_steal_pointer (&self->handle));
  g_clear_object (&self->early_input);
  g_clear_object (&self->tls_output);
  /* The socket first: closing a TLS stream would otherwise wait to send
   * its close_notify to a peer that may not read. */
  if (self->socket != NULL && !g_socket_is_closed (self->socket))
    g_socket_close (self->socket, NULL);
  if (self->stream != NULL)
    g_io_stream_close (self->stream, NULL, NULL);
  g_clear_pointer (&self->pending, g_free);
  self->pending_length = self->pending_offset = 0;

  emit_closed (self, code);
}

static void
natter_ws_transport_dispose (GObject *object)
{
  NatterWsTransport *self = (NatterWsTransport *) object;

  self->handlers = NULL;
  if (!self->finished)
    finish (self, CLOSE_ABNORMAL);
  g_clear_object (&self->stream);
  g_clear_object (&self->socket);

  G_OBJECT_CLASS (natter_ws_transport_parent_class)->dispose (object);
}

static void
natter_ws_transport_finalize (GObject *object)
{
  NatterWsTransport *self = (NatterWsTransport *) object;

  free_wslay (self);
  g_free (self->pending);

  G_OBJECT_CLASS (natter_ws_transport_parent_class)->finalize (object);
}

static void
natter_ws_transport_class_init (NatterWsTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_ws_transport_dispose;
  object_class->finalize = natter_ws_transport_finalize;
}

static void
natter_ws_transport_init (NatterWsTransport *self)
{
  self->fd = -1;
}

/**
 * natter_ws_transport_new:
 * @poller: the poller to register with
 * @stream: the connection taken over from the HTTP server after the 101;
 *   bytes it buffered are read first, and closing closes it
 * @socket: the socket under @stream
 * @max_message_bytes: the largest message, counted over its fragments;
 *   one byte more closes with 1009 and stops reading
 * @keepalive_s: the interval of keepalive pings; 0 for none
 * @tls: whether @stream encrypts: then every byte goes through it, else
 *   through the socket
 *
 * Returns: (transfer full): a transport, open; the poller keeps it alive
 *   until its socket is closed
 */
NatterWsTransport *
natter_ws_transport_new (NatterWsPoller *poller,
                         GIOStream *stream,
                         GSocket *socket,
                         gsize max_message_bytes,
                         guint keepalive_s,
                         gboolean tls)
{
  NatterWsTransport *self;
  GInputStream *input;
  GOutputStream *output;

  g_return_val_if_fail (NATTER_IS_WS_POLLER (poller), NULL);
  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  g_return_val_if_fail (G_IS_SOCKET (socket), NULL);

  self = g_object_new (NATTER_TYPE_WS_TRANSPORT, NULL);
  self->poller = poller;
  self->stream = g_object_ref (stream);
  self->socket = g_object_ref (socket);
  self->fd = g_socket_get_fd (socket);
  self->keepalive_us = (gint64) keepalive_s * G_USEC_PER_SEC;

  input = g_io_stream_get_input_stream (stream);
  output = g_io_stream_get_output_stream (stream);
  if (G_IS_POLLABLE_INPUT_STREAM (input) &&
      g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (input)))
    self->early_input = g_object_ref (G_POLLABLE_INPUT_STREAM (input));
  if (tls) {
    if (self->early_input == NULL || !G_IS_POLLABLE_OUTPUT_STREAM (output) ||
        !g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (output))) {
      g_warning ("a TLS stream that cannot poll: closing it");
      self->failed = TRUE;
    } else {
      self->tls = TRUE;
      self->tls_output = g_object_ref (G_POLLABLE_OUTPUT_STREAM (output));
    }
  }

  self->max_message_bytes = max_message_bytes;

  self->handle = natter_ws_poller_add (poller, self->fd, EPOLLIN | EPOLLRDHUP, self);
  if (self->handle == NULL || self->failed) {
    self->failed = TRUE;
    finish (self, CLOSE_ABNORMAL);
    return self;
  }
  if (self->keepalive_us > 0)
    natter_ws_poller_schedule_ping (self->handle, g_get_monotonic_time () + self->keepalive_us);
  /* What libsoup buffered raises no epoll event: it is read in the next
   * pass (natter_ws_transport_flush ()), once the owner listens. */
  if (self->early_input != NULL) {
    self->read_again = TRUE;
    queue_flush (self);
  }

  return self;
}

/**
 * natter_ws_transport_set_handlers:
 * @self: a transport
 * @handlers: (nullable): the callbacks, static; %NULL to stop hearing
 * @user_data: for them, not owned: the owner clears the handlers before
 *   it goes
 */
void
natter_ws_transport_set_handlers (NatterWsTransport *self,
                                  const NatterWsTransportHandlers *handlers,
                                  gpointer user_data)
{
  g_return_if_fail (NATTER_IS_WS_TRANSPORT (self));

  self->handlers = handlers;
  self->handlers_data = handlers != NULL ? user_data : NULL;
}

/**
 * natter_ws_transport_is_open:
 * @self: a transport
 *
 * Returns: %TRUE until either side started to close
 */
gboolean
natter_ws_transport_is_open (NatterWsTransport *self)
{
  g_return_val_if_fail (NATTER_IS_WS_TRANSPORT (self), FALSE);

  if (self->finished || self->failed || self->draining || self->closing)
    return FALSE;
  return self->wslay == NULL || (wslay_event_get_read_enabled (self->wslay) &&
                                 wslay_event_get_write_enabled (self->wslay) &&
                                 !wslay_event_get_close_received (self->wslay));
}

/**
 * natter_ws_transport_is_closed:
 * @self: a transport
 *
 * Returns: %TRUE once ::closed was called
 */
gboolean
natter_ws_transport_is_closed (NatterWsTransport *self)
{
  g_return_val_if_fail (NATTER_IS_WS_TRANSPORT (self), TRUE);

  return self->closed_emitted;
}

/**
 * natter_ws_transport_get_close_code:
 * @self: a transport
 *
 * Returns: the code the connection closed with (1006 without a close
 *   frame), 0 while it is not closed
 */
gushort
natter_ws_transport_get_close_code (NatterWsTransport *self)
{
  g_return_val_if_fail (NATTER_IS_WS_TRANSPORT (self), 0);

  return self->closed_emitted ? self->close_code : 0;
}

/**
 * natter_ws_transport_send_text:
 * @self: a transport
 * @text: UTF-8 text
 * @length: its length in bytes
 *
 * Queues one text message; it is written at the end of the poller's pass.
 * Does nothing once the connection is closing.
 */
void
natter_ws_transport_send_text (NatterWsTransport *self, const char *text, gsize length)
{
  struct wslay_event_msg message = { WSLAY_TEXT_FRAME, (const uint8_t *) text, length };

  g_return_if_fail (NATTER_IS_WS_TRANSPORT (self));
  g_return_if_fail (text != NULL || length == 0);

  if (!natter_ws_transport_is_open (self))
    return;
  if (wslay_event_queue_msg (get_wslay (self), &message) == 0)
    queue_flush (self);
}

/**
 * natter_ws_transport_close:
 * @self: a transport
 * @code: the close code
 * @reason: (nullable): the reason, cut to the 123 bytes a close frame holds
 *
 * Starts the close handshake: the close frame goes before any message not
 * yet written; ::closed follows the peer's answer, or a timeout.
 */
void
natter_ws_transport_close (NatterWsTransport *self, gushort code, const char *reason)
{
  gsize reason_length = reason != NULL ? strlen (reason) : 0;

  g_return_if_fail (NATTER_IS_WS_TRANSPORT (self));

  if (!natter_ws_transport_is_open (self))
    return;
  if (reason_length > 123) {
    /* Cut on a character boundary. */
    const char *end = reason + 123;

    while (end > reason && (*end & 0xc0) == 0x80)
      end--;
    reason_length = (gsize) (end - reason);
  }
  self->closing = TRUE;
  wslay_event_queue_close (get_wslay (self), code, (const uint8_t *) reason, reason_length);
  start_close_timer (self);
  queue_flush (self);
}

/**
 * natter_ws_transport_abort:
 * @self: a transport
 *
 * Closes the socket at once, without a close handshake (a peer that does
 * not read would never take the close frame).
 */
void
natter_ws_transport_abort (NatterWsTransport *self)
{
  g_return_if_fail (NATTER_IS_WS_TRANSPORT (self));

  finish (self, self->closed_emitted ? self->close_code : CLOSE_ABNORMAL);
}

/**
 * natter_ws_transport_get_queued_bytes:
 * @self: a transport
 *
 * Returns: the bytes of messages not yet handed to the kernel
 */
gsize
natter_ws_transport_get_queued_bytes (NatterWsTransport *self)
{
  g_return_val_if_fail (NATTER_IS_WS_TRANSPORT (self), 0);

  return (self->wslay != NULL ? wslay_event_get_queued_msg_length (self->wslay) : 0) +
         (self->pending_length - self->pending_offset);
}

/**
 * natter_ws_transport_get_drained_time:
 * @self: a transport
 *
 * Returns: the monotonic time when the last queued byte was handed to the
 *   kernel; 0 while some wait in the transport
 */
gint64
natter_ws_transport_get_drained_time (NatterWsTransport *self)
{
  g_return_val_if_fail (NATTER_IS_WS_TRANSPORT (self), 0);

  if (has_pending (self) || (self->wslay != NULL && wslay_event_want_write (self->wslay)))
    return 0;
  return self->drained_us;
}

/**
 * natter_ws_transport_holds_framing_state:
 * @self: a transport
 *
 * Returns: whether wslay's contexts (8.4 KiB) exist now; an idle open
 *   connection holds none
 */
gboolean
natter_ws_transport_holds_framing_state (NatterWsTransport *self)
{
  g_return_val_if_fail (NATTER_IS_WS_TRANSPORT (self), FALSE);

  return self->wslay != NULL;
}
