/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-websocket-limit-connection"

#include "natter-websocket-limit-connection.h"

/*
 * The stream an upgraded HTTP connection hands to SoupWebsocketConnection,
 * with its input read through NatterWebsocketLimitInput.
 *
 * A GSocketConnection on the same socket, because libsoup half-closes a
 * socket connection after its close frame (the client sees the end at
 * once) and only waits out its 5 s timeout for any other stream. Reads and
 * writes go through @base, the stream libsoup took over from the HTTP
 * message, which may already hold bytes the client sent right after the
 * handshake; closing closes @base.
 */

struct _NatterWebsocketLimitConnection {
  GSocketConnection parent_instance;

  GIOStream *base;
  NatterWebsocketLimitInput *input;
};

G_DEFINE_FINAL_TYPE (NatterWebsocketLimitConnection,
                     natter_websocket_limit_connection,
                     G_TYPE_SOCKET_CONNECTION)

static GInputStream *
natter_websocket_limit_connection_get_input_stream (GIOStream *stream)
{
  return G_INPUT_STREAM (NATTER_WEBSOCKET_LIMIT_CONNECTION (stream)->input);
}

static GOutputStream *
natter_websocket_limit_connection_get_output_stream (GIOStream *stream)
{
  return g_io_stream_get_output_stream (NATTER_WEBSOCKET_LIMIT_CONNECTION (stream)->base);
}

static gboolean
natter_websocket_limit_connection_close (GIOStream *stream,
                                         GCancellable *cancellable,
                                         GError **error)
{
  return g_io_stream_close (NATTER_WEBSOCKET_LIMIT_CONNECTION (stream)->base, cancellable, error);
}

static void
on_base_closed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;

  if (g_io_stream_close_finish (G_IO_STREAM (source), result, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
natter_websocket_limit_connection_close_async (GIOStream *stream,
                                               int io_priority,
                                               GCancellable *cancellable,
                                               GAsyncReadyCallback callback,
                                               gpointer user_data)
{
  NatterWebsocketLimitConnection *self = NATTER_WEBSOCKET_LIMIT_CONNECTION (stream);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, natter_websocket_limit_connection_close_async);
  g_io_stream_close_async (self->base, io_priority, cancellable, on_base_closed, task);
}

static gboolean
natter_websocket_limit_connection_close_finish (GIOStream *stream,
                                                GAsyncResult *result,
                                                GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
natter_websocket_limit_connection_dispose (GObject *object)
{
  NatterWebsocketLimitConnection *self = NATTER_WEBSOCKET_LIMIT_CONNECTION (object);

  /* GIOStream's dispose closes the stream, through @base. */
  G_OBJECT_CLASS (natter_websocket_limit_connection_parent_class)->dispose (object);

  g_clear_object (&self->input);
  g_clear_object (&self->base);
}

static void
natter_websocket_limit_connection_class_init (NatterWebsocketLimitConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GIOStreamClass *stream_class = G_IO_STREAM_CLASS (klass);

  object_class->dispose = natter_websocket_limit_connection_dispose;
  stream_class->get_input_stream = natter_websocket_limit_connection_get_input_stream;
  stream_class->get_output_stream = natter_websocket_limit_connection_get_output_stream;
  stream_class->close_fn = natter_websocket_limit_connection_close;
  stream_class->close_async = natter_websocket_limit_connection_close_async;
  stream_class->close_finish = natter_websocket_limit_connection_close_finish;
}

static void
natter_websocket_limit_connection_init (NatterWebsocketLimitConnection *self)
{
}

/**
 * natter_websocket_limit_connection_new:
 * @base: the stream taken over from an upgraded HTTP message
 * @socket: its socket
 * @max_message_bytes: the most payload one message may hold, all its
 *   fragments together
 *
 * Returns: (transfer full): @base, its input read through the limit
 */
NatterWebsocketLimitConnection *
natter_websocket_limit_connection_new (GIOStream *base, GSocket *socket, guint64 max_message_bytes)
{
  NatterWebsocketLimitConnection *self;

  g_return_val_if_fail (G_IS_IO_STREAM (base), NULL);
  g_return_val_if_fail (G_IS_SOCKET (socket), NULL);

  self = g_object_new (NATTER_TYPE_WEBSOCKET_LIMIT_CONNECTION, "socket", socket, NULL);
  self->base = g_object_ref (base);
  self->input =
    natter_websocket_limit_input_new (g_io_stream_get_input_stream (base), max_message_bytes);

  return self;
}

/**
 * natter_websocket_limit_connection_get_input:
 * @self: the connection
 *
 * Returns: (transfer none): its input, which says when a message passed
 *   the limit
 */
NatterWebsocketLimitInput *
natter_websocket_limit_connection_get_input (NatterWebsocketLimitConnection *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET_LIMIT_CONNECTION (self), NULL);

  return self->input;
}
