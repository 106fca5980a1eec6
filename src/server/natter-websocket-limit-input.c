/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-websocket-limit-input"

#include "natter-websocket-limit-input.h"

/*
 * What a WebSocket client sends, read through a scan of its frame headers
 * that counts each message's payload across its fragments.
 *
 * libsoup 3.2 checks the length of each frame, not of a message: a client
 * can send one message as any number of small fragments and libsoup joins
 * them all in memory before anyone sees it (CVE-2025-32049; Debian 12's
 * 3.2.3-0+deb12u2 is affected: 20,000 fragments of 10 kB took the server
 * to 200 MB). Once a message passes the limit this stream stops reading
 * the socket altogether (the client's sends back up in TCP) and emits
 * ::limit-exceeded on the next main-loop iteration, where the owner closes
 * with 1009; then the input ends and libsoup lets the connection go.
 * libsoup's own framing stays the only parser of the frames.
 */

struct _NatterWebsocketLimitInput {
  GFilterInputStream parent_instance;

  guint64 max_message_bytes;
  gboolean exceeded;
  /* The owner has closed (1009): reads end, so that libsoup lets go of
   * the connection now instead of waiting for a close frame it will
   * never read. */
  gboolean ended;

  /* The frame being read: its header so far, then its payload. */
  guint8 header[14];
  guint header_length;
  guint header_needed;
  guint64 payload_left;
  gboolean frame_ends_message;
  /* The payload of the data message so far, across its fragments. */
  guint64 message_bytes;

  /* (element-type SourcePair): the sources handed out, so that their
   * child on the base stream can be taken away once the limit is passed. */
  GArray *sources;
};

typedef struct {
  GSource *source;
  GSource *child;
} SourcePair;

enum {
  SIGNAL_LIMIT_EXCEEDED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

static void natter_websocket_limit_input_pollable_init (GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterWebsocketLimitInput,
                               natter_websocket_limit_input,
                               G_TYPE_FILTER_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                      natter_websocket_limit_input_pollable_init))

static GInputStream *
base_stream (NatterWebsocketLimitInput *self)
{
  return g_filter_input_stream_get_base_stream (G_FILTER_INPUT_STREAM (self));
}

static void
source_pair_clear (SourcePair *pair)
{
  g_clear_pointer (&pair->source, g_source_unref);
  g_clear_pointer (&pair->child, g_source_unref);
}

static gboolean
emit_limit_exceeded (gpointer user_data)
{
  NatterWebsocketLimitInput *self = user_data;

  g_signal_emit (self, signals[SIGNAL_LIMIT_EXCEEDED], 0);

  /* The close frame is on its way; the end of the input comes next. */
  self->ended = TRUE;
  for (guint i = 0; i < self->sources->len; i++) {
    SourcePair *pair = &g_array_index (self->sources, SourcePair, i);

    if (!g_source_is_destroyed (pair->source))
      g_source_set_ready_time (pair->source, 0);
  }

  return G_SOURCE_REMOVE;
}

static void
exceed (NatterWebsocketLimitInput *self)
{
  GSource *idle;

  self->exceeded = TRUE;
  for (guint i = 0; i < self->sources->len; i++) {
    SourcePair *pair = &g_array_index (self->sources, SourcePair, i);

    if (!g_source_is_destroyed (pair->source) && pair->child != NULL)
      g_source_remove_child_source (pair->source, pair->child);
    g_clear_pointer (&pair->child, g_source_unref);
  }

  /* Not from inside libsoup's read: the owner closes the connection. */
  idle = g_idle_source_new ();
  g_source_set_callback (idle, emit_limit_exceeded, g_object_ref (self), g_object_unref);
  g_source_attach (idle, g_main_context_get_thread_default ());
  g_source_unref (idle);
}

static guint
header_size (const guint8 *header)
{
  guint length_code = header[1] & 0x7f;
  guint size = 2;

  if (length_code == 126)
    size += 2;
  else if (length_code == 127)
    size += 8;
  if (header[1] & 0x80)
    size += 4; /* the mask */

  return size;
}

static guint64
payload_length (const guint8 *header)
{
  guint length_code = header[1] & 0x7f;
  guint64 length = 0;

  if (length_code < 126)
    return length_code;
  for (guint i = 0; i < (length_code == 126 ? 2u : 8u); i++)
    length = (length << 8) | header[2 + i];

  return length;
}

static void
frame_done (NatterWebsocketLimitInput *self)
{
  if (self->frame_ends_message)
    self->message_bytes = 0;
  self->frame_ends_message = FALSE;
}

static void
header_done (NatterWebsocketLimitInput *self)
{
  guint opcode = self->header[0] & 0x0f;
  gboolean fin = (self->header[0] & 0x80) != 0;
  guint64 length = payload_length (self->header);

  self->header_length = 0;
  self->header_needed = 2;

  /* Control frames (close, ping, pong) may come between fragments and
   * are not part of the message. */
  if (opcode < 0x8) {
    if (length > self->max_message_bytes - self->message_bytes) {
      exceed (self);
      return;
    }
    self->message_bytes += length;
    self->frame_ends_message = fin;
  }

  self->payload_left = length;
  if (length == 0)
    frame_done (self);
}

static void
scan (NatterWebsocketLimitInput *self, const guint8 *data, gsize length)
{
  gsize at = 0;

  while (at < length && !self->exceeded) {
    if (self->payload_left > 0) {
      guint64 take = MIN (self->payload_left, (guint64) (length - at));

      at += take;
      self->payload_left -= take;
      if (self->payload_left == 0)
        frame_done (self);
      continue;
    }

    self->header[self->header_length++] = data[at++];
    if (self->header_length == 2)
      self->header_needed = header_size (self->header);
    if (self->header_length >= 2 && self->header_length == self->header_needed)
      header_done (self);
  }
}

static gssize
natter_websocket_limit_input_read (
  GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable, GError **error)
{
  NatterWebsocketLimitInput *self = NATTER_WEBSOCKET_LIMIT_INPUT (stream);
  gssize n;

  if (self->exceeded) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                         "a WebSocket message passed its size limit");
    return -1;
  }

  n = g_input_stream_read (base_stream (self), buffer, count, cancellable, error);
  if (n > 0)
    scan (self, buffer, (gsize) n);

  return n;
}

/* GFilterInputStream would skip on the base stream, past the scan. */
static gssize
natter_websocket_limit_input_skip (GInputStream *stream,
                                   gsize count,
                                   GCancellable *cancellable,
                                   GError **error)
{
  guint8 buffer[4096];

  return natter_websocket_limit_input_read (stream, buffer, MIN (count, sizeof buffer), cancellable,
                                            error);
}

static gboolean
natter_websocket_limit_input_can_poll (GPollableInputStream *stream)
{
  GInputStream *base = base_stream (NATTER_WEBSOCKET_LIMIT_INPUT (stream));

  return G_IS_POLLABLE_INPUT_STREAM (base) &&
         g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (base));
}

static gboolean
natter_websocket_limit_input_is_readable (GPollableInputStream *stream)
{
  NatterWebsocketLimitInput *self = NATTER_WEBSOCKET_LIMIT_INPUT (stream);

  if (self->exceeded)
    return self->ended;
  return g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (base_stream (self)));
}

static GSource *
natter_websocket_limit_input_create_source (GPollableInputStream *stream, GCancellable *cancellable)
{
  NatterWebsocketLimitInput *self = NATTER_WEBSOCKET_LIMIT_INPUT (stream);
  SourcePair pair;

  for (guint i = self->sources->len; i > 0; i--) {
    if (g_source_is_destroyed (g_array_index (self->sources, SourcePair, i - 1).source))
      g_array_remove_index_fast (self->sources, i - 1);
  }

  /* Past the limit the socket is not watched: the source fires only to
   * deliver the end of the input. */
  pair.child =
    self->exceeded
      ? NULL
      : g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (base_stream (self)), NULL);
  pair.source = g_pollable_source_new_full (self, pair.child, cancellable);
  if (self->ended)
    g_source_set_ready_time (pair.source, 0);
  g_array_append_val (self->sources, pair);

  return g_source_ref (pair.source);
}

static gssize
natter_websocket_limit_input_read_nonblocking (GPollableInputStream *stream,
                                               void *buffer,
                                               gsize count,
                                               GError **error)
{
  NatterWebsocketLimitInput *self = NATTER_WEBSOCKET_LIMIT_INPUT (stream);
  gssize n;

  if (self->ended)
    return 0;
  if (self->exceeded) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                         "reading stopped: a message passed its size limit");
    return -1;
  }

  n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (base_stream (self)),
                                                buffer, count, NULL, error);
  if (n > 0)
    scan (self, buffer, (gsize) n);

  return n;
}

static void
natter_websocket_limit_input_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = natter_websocket_limit_input_can_poll;
  iface->is_readable = natter_websocket_limit_input_is_readable;
  iface->create_source = natter_websocket_limit_input_create_source;
  iface->read_nonblocking = natter_websocket_limit_input_read_nonblocking;
}

static void
natter_websocket_limit_input_dispose (GObject *object)
{
  NatterWebsocketLimitInput *self = NATTER_WEBSOCKET_LIMIT_INPUT (object);

  g_array_set_size (self->sources, 0);

  G_OBJECT_CLASS (natter_websocket_limit_input_parent_class)->dispose (object);
}

static void
natter_websocket_limit_input_finalize (GObject *object)
{
  NatterWebsocketLimitInput *self = NATTER_WEBSOCKET_LIMIT_INPUT (object);

  g_array_unref (self->sources);

  G_OBJECT_CLASS (natter_websocket_limit_input_parent_class)->finalize (object);
}

static void
natter_websocket_limit_input_class_init (NatterWebsocketLimitInputClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GInputStreamClass *input_class = G_INPUT_STREAM_CLASS (klass);

  object_class->dispose = natter_websocket_limit_input_dispose;
  object_class->finalize = natter_websocket_limit_input_finalize;
  input_class->read_fn = natter_websocket_limit_input_read;
  input_class->skip = natter_websocket_limit_input_skip;

  /**
   * NatterWebsocketLimitInput::limit-exceeded:
   *
   * A message passed the limit; nothing more is read. Emitted once, from
   * the main context the limit was passed on, outside any read.
   */
  signals[SIGNAL_LIMIT_EXCEEDED] =
    g_signal_new ("limit-exceeded", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
}

static void
natter_websocket_limit_input_init (NatterWebsocketLimitInput *self)
{
  self->header_needed = 2;
  self->sources = g_array_new (FALSE, FALSE, sizeof (SourcePair));
  g_array_set_clear_func (self->sources, (GDestroyNotify) source_pair_clear);
}

/**
 * natter_websocket_limit_input_new:
 * @base: what a WebSocket client sends, from just after the handshake
 * @max_message_bytes: the most payload one message may hold, all its
 *   fragments together
 *
 * Returns: (transfer full): @base, read through the limit
 */
NatterWebsocketLimitInput *
natter_websocket_limit_input_new (GInputStream *base, guint64 max_message_bytes)
{
  NatterWebsocketLimitInput *self;

  g_return_val_if_fail (G_IS_INPUT_STREAM (base), NULL);

  self = g_object_new (NATTER_TYPE_WEBSOCKET_LIMIT_INPUT, "base-stream", base, NULL);
  self->max_message_bytes = max_message_bytes;

  return self;
}

/**
 * natter_websocket_limit_input_get_exceeded:
 * @self: the stream
 *
 * Returns: whether a message passed the limit (and reading stopped)
 */
gboolean
natter_websocket_limit_input_get_exceeded (NatterWebsocketLimitInput *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET_LIMIT_INPUT (self), FALSE);

  return self->exceeded;
}
