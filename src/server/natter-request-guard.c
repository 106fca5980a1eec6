/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-request-guard"

#include "config.h"

#include <string.h>

#include "natter-http-body.h"
#include "natter-request-guard.h"

/* libsoup 3.2 names no constant for it. */
#define STATUS_TOO_MANY_REQUESTS 429
#define RECEIVED_KEY "natter-guard-received"
#define LIMIT_KEY "natter-guard-limit"
/* After a refusal the rest of the body is read and dropped for a moment,
 * so that closing does not reset the connection before the client read the
 * status; never for long, never much. */
#define LINGER_MS 1000
#define LINGER_MAX_BYTES (1024 * 1024)
#define LINGER_BUFFER_BYTES (16 * 1024)
/* Every this many sweeps, one looks at every connection for a closed
 * socket; the others only at connections with a deadline. */
#define FULL_SWEEP_EVERY 10

/* One TCP connection, from its first request-started until its socket is
 * closed (a WebSocket keeps it open after the upgrade). libsoup 3.2 may
 * leak the socket of a closed connection, so closing, not finalizing,
 * ends the entry. */
typedef struct {
  GSocket *socket;
  char *address;
  gint64 deadline_us; /* 0: no deadline (a request is being served, or a WebSocket) */
  gboolean idle;      /* between two requests of a kept-alive connection */
} GuardedConnection;

struct _NatterRequestGuard {
  GObject parent_instance;

  const NatterServerConfig *config;
  NatterMetrics *metrics;
  NatterRequestCheckFunc check;
  gpointer check_data;
  GHashTable *connections; /* GSocket * -> GuardedConnection (owned) */
  /* The connections with a deadline: WebSockets have none, and a sweep
   * that walked them all every second cost 10,000 idle ones more than
   * everything else they do. */
  GHashTable *timed; /* set of GuardedConnection (not owned) */
  guint n_sweeps;
  GHashTable *per_address; /* address -> GPtrArray of its GuardedConnection (not owned) */
  guint sweep_id;
};

G_DEFINE_FINAL_TYPE (NatterRequestGuard, natter_request_guard, G_TYPE_OBJECT)

static void
guarded_connection_free (GuardedConnection *connection)
{
  g_clear_object (&connection->socket);
  g_free (connection->address);
  g_free (connection);
}

static void
set_deadline (NatterRequestGuard *self, GuardedConnection *connection, gint64 deadline_us)
{
  connection->deadline_us = deadline_us;
  if (deadline_us != 0)
    g_hash_table_add (self->timed, connection);
  else
    g_hash_table_remove (self->timed, connection);
}

/* Out of the per-address count and the table, which frees it; the caller
 * took it out of timed. */
static void
drop_connection (NatterRequestGuard *self, GuardedConnection *connection)
{
  GPtrArray *same_address = g_hash_table_lookup (self->per_address, connection->address);

  if (same_address != NULL) {
    g_ptr_array_remove_fast (same_address, connection);
    if (same_address->len == 0)
      g_hash_table_remove (self->per_address, connection->address);
  }
  g_hash_table_remove (self->connections, connection->socket);
}

static void
forget_connection (NatterRequestGuard *self, GuardedConnection *connection)
{
  g_hash_table_remove (self->timed, connection);
  drop_connection (self, connection);
}

/* Open connections of @address. The sweep notices closed ones within a
 * second; at the limit, look now, so a slot a client just gave back
 * counts as free. */
static guint
count_open (NatterRequestGuard *self, const char *address, gboolean purge)
{
  GPtrArray *same_address = g_hash_table_lookup (self->per_address, address);

  if (same_address == NULL)
    return 0;
  for (guint i = same_address->len; purge && i > 0; i--) {
    GuardedConnection *connection = g_ptr_array_index (same_address, i - 1);

    if (g_socket_is_closed (connection->socket))
      forget_connection (self, connection);
  }
  same_address = g_hash_table_lookup (self->per_address, address);

  return same_address != NULL ? same_address->len : 0;
}

static GuardedConnection *
lookup_connection (NatterRequestGuard *self, SoupServerMessage *msg)
{
  GSocket *socket = soup_server_message_get_socket (msg);

  return socket != NULL ? g_hash_table_lookup (self->connections, socket) : NULL;
}

static const char *
reason_phrase (guint status)
{
  if (status == STATUS_TOO_MANY_REQUESTS)
    return "Too Many Requests";
  return soup_status_get_phrase (status);
}

/* The first request-started of a connection comes when it is accepted,
 * before a byte is read: the cheapest moment to refuse it. */
static void
refuse_connection (NatterRequestGuard *self, GSocket *socket)
{
  natter_metrics_inc (self->metrics, "natter_http_connections_refused_total", "reason",
                      "per_address");
  /* Under TLS the handshake comes first: just close. */
  if (self->config->tls_cert_file == NULL) {
    g_autofree char *body = natter_http_error_to_json ("rate_limited", "too many connections");
    g_autofree char *response = g_strdup_printf ("HTTP/1.1 429 Too Many Requests\r\n"
                                                 "Content-Type: application/json\r\n"
                                                 "Content-Length: %zu\r\n"
                                                 "Retry-After: 10\r\n"
                                                 "Connection: close\r\n\r\n%s",
                                                 strlen (body), body);

    /* A fresh socket's buffer takes this much without blocking. */
    g_socket_send (socket, response, strlen (response), NULL, NULL);
  }
  g_socket_shutdown (socket, TRUE, TRUE, NULL);
}

typedef struct {
  GIOStream *stream;
  GCancellable *cancellable;
  guint timeout_id;
  gsize drained;
  GBytes *response;
  guint8 buffer[LINGER_BUFFER_BYTES];
} Linger;

static void
linger_free (Linger *linger)
{
  g_clear_handle_id (&linger->timeout_id, g_source_remove);
  g_io_stream_close_async (linger->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  g_clear_object (&linger->stream);
  g_clear_object (&linger->cancellable);
  g_clear_pointer (&linger->response, g_bytes_unref);
  g_free (linger);
}

static gboolean
on_linger_timeout (gpointer user_data)
{
  Linger *linger = user_data;

  linger->timeout_id = 0;
  g_cancellable_cancel (linger->cancellable);

  return G_SOURCE_REMOVE;
}

static void
on_linger_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Linger *linger = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n <= 0 || (linger->drained += (gsize) n) >= LINGER_MAX_BYTES) {
    linger_free (linger);
    return;
  }
  g_input_stream_read_async (G_INPUT_STREAM (source), linger->buffer, sizeof linger->buffer,
                             G_PRIORITY_LOW, linger->cancellable, on_linger_read, linger);
}

static void
on_refusal_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Linger *linger = user_data;
  GSocket *socket = g_object_get_data (G_OBJECT (linger->stream), "GSocket");

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL)) {
    linger_free (linger);
    return;
  }
  /* A FIN tells the client the answer is complete. */
  if (socket != NULL && !G_IS_TLS_CONNECTION (linger->stream))
    g_socket_shutdown (socket, FALSE, TRUE, NULL);
  linger->timeout_id = g_timeout_add (LINGER_MS, on_linger_timeout, linger);
  g_input_stream_read_async (g_io_stream_get_input_stream (linger->stream), linger->buffer,
                             sizeof linger->buffer, G_PRIORITY_LOW, linger->cancellable,
                             on_linger_read, linger);
}

/* Answers @msg at once, without reading its body, and closes the
 * connection: libsoup would otherwise read (and keep) the whole body before
 * its handlers could answer. */
static void
refuse_request (NatterRequestGuard *self,
                SoupServerMessage *msg,
                guint status,
                const char *code,
                const char *text)
{
  g_autofree char *body = natter_http_error_to_json (code, text);
  g_autoptr (GString) response = g_string_new (NULL);
  SoupMessageHeadersIter iter;
  const char *name;
  const char *value;
  GIOStream *stream;
  Linger *linger;
  gsize size;
  gconstpointer data;

  g_string_append_printf (response, "HTTP/1.1 %u %s\r\n", status, reason_phrase (status));
  g_string_append_printf (response,
                          "Content-Type: application/json\r\n"
                          "Content-Length: %zu\r\n"
                          "Connection: close\r\n",
                          strlen (body));
  /* The headers set so far (Allow, CORS: a browser only shows a refusal
   * that names its origin); the framing is this function's own. */
  soup_message_headers_iter_init (&iter, soup_server_message_get_response_headers (msg));
  while (soup_message_headers_iter_next (&iter, &name, &value)) {
    if (g_ascii_strcasecmp (name, "Content-Type") != 0 &&
        g_ascii_strcasecmp (name, "Content-Length") != 0 &&
        g_ascii_strcasecmp (name, "Transfer-Encoding") != 0 &&
        g_ascii_strcasecmp (name, "Connection") != 0)
      g_string_append_printf (response, "%s: %s\r\n", name, value);
  }
  g_string_append_printf (response, "\r\n%s", body);

  natter_metrics_inc (self->metrics, "natter_http_bodies_refused_total", "code", code);
  stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    return;

  linger = g_new0 (Linger, 1);
  linger->stream = stream;
  linger->cancellable = g_cancellable_new ();
  linger->response = g_string_free_to_bytes (g_steal_pointer (&response));
  data = g_bytes_get_data (linger->response, &size);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (stream), data, size,
                                   G_PRIORITY_DEFAULT, NULL, on_refusal_written, linger);
}

static gboolean
is_websocket_path (const char *path)
{
  return g_str_equal (path, "/ws") || g_str_has_prefix (path, "/ws/");
}

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  NatterRequestGuard *self = NATTER_REQUEST_GUARD (user_data);
  gsize limit = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (msg), LIMIT_KEY));
  gsize received = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (msg), RECEIVED_KEY));

  received += g_bytes_get_size (chunk);
  g_object_set_data (G_OBJECT (msg), RECEIVED_KEY, GSIZE_TO_POINTER (received));
  if (received > limit) {
    g_signal_handlers_disconnect_by_func (msg, on_got_chunk, self);
    refuse_request (self, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                    "the request body is too large");
  }
}

/* Runs after libsoup's own got-headers handler (and so after the early
 * handlers): decides whether the body may be read at all. */
static void
on_got_headers (SoupServerMessage *msg, gpointer user_data)
{
  NatterRequestGuard *self = NATTER_REQUEST_GUARD (user_data);
  GuardedConnection *connection = lookup_connection (self, msg);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupEncoding encoding = soup_message_headers_get_encoding (headers);
  const char *path = g_uri_get_path (soup_server_message_get_uri (msg));
  const char *method = soup_server_message_get_method (msg);
  goffset length = soup_message_headers_get_content_length (headers);
  gboolean has_body;
  gsize limit = 0;
  guint status;

  if (connection != NULL)
    set_deadline (self, connection, 0);

  has_body =
    encoding == SOUP_ENCODING_CHUNKED || (encoding == SOUP_ENCODING_CONTENT_LENGTH && length > 0);
  if (!has_body)
    return;

  if (is_websocket_path (path)) {
    refuse_request (self, msg, SOUP_STATUS_BAD_REQUEST, "bad_frame",
                    "a WebSocket upgrade carries no body");
    return;
  }

  status = self->check (msg, method, path, &limit, self->check_data);
  if (status == SOUP_STATUS_NOT_FOUND) {
    refuse_request (self, msg, status, "not_found", "no such resource");
  } else if (status == SOUP_STATUS_METHOD_NOT_ALLOWED) {
    refuse_request (self, msg, status, "not_allowed", "this method is not allowed here");
  } else if (status != 0) {
    refuse_request (self, msg, status, "bad_frame", "this request cannot carry a body");
  } else if (encoding == SOUP_ENCODING_CONTENT_LENGTH && (guint64) length > limit) {
    refuse_request (self, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                    "the request body is too large");
  } else if (encoding == SOUP_ENCODING_CHUNKED) {
    g_object_set_data (G_OBJECT (msg), LIMIT_KEY, GSIZE_TO_POINTER (limit));
    g_signal_connect_object (msg, "got-chunk", G_CALLBACK (on_got_chunk), self, 0);
  }
}

/* Runs after the handlers: a refused WebSocket upgrade closes the
 * connection, so that every client library reports the status at once. */
static void
on_got_body (SoupServerMessage *msg, gpointer user_data)
{
  const char *path = g_uri_get_path (soup_server_message_get_uri (msg));

  if (is_websocket_path (path) && soup_server_message_get_status (msg) >= 400)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                  "close");
}

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  NatterRequestGuard *self = NATTER_REQUEST_GUARD (user_data);
  GSocket *socket = soup_server_message_get_socket (msg);
  GuardedConnection *connection = NULL;

  if (socket != NULL) {
    connection = g_hash_table_lookup (self->connections, socket);
    if (connection == NULL) {
      const char *address = soup_server_message_get_remote_host (msg);
      guint max = self->config->max_connections_per_address;
      GPtrArray *same_address;

      if (address == NULL)
        address = "";
      if (count_open (self, address, FALSE) >= max && count_open (self, address, TRUE) >= max &&
          !natter_server_config_is_trusted_proxy (self->config, address)) {
        refuse_connection (self, socket);
        return;
      }
      connection = g_new0 (GuardedConnection, 1);
      connection->socket = g_object_ref (socket);
      connection->address = g_strdup (address);
      g_hash_table_insert (self->connections, socket, connection);
      same_address = g_hash_table_lookup (self->per_address, address);
      if (same_address == NULL) {
        same_address = g_ptr_array_new ();
        g_hash_table_insert (self->per_address, g_strdup (address), same_address);
      }
      g_ptr_array_add (same_address, connection);
    }
    set_deadline (self, connection,
                  g_get_monotonic_time () +
                    (gint64) self->config->header_timeout_s * G_USEC_PER_SEC);
    connection->idle = FALSE;
  }

  g_signal_connect_object (msg, "got-headers", G_CALLBACK (on_got_headers), self, 0);
  g_signal_connect_object (msg, "got-body", G_CALLBACK (on_got_body), self, 0);
}

/* A kept-alive connection now waits for its next request. */
static void
on_request_done (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  NatterRequestGuard *self = NATTER_REQUEST_GUARD (user_data);
  GuardedConnection *connection = lookup_connection (self, msg);

  if (connection != NULL) {
    set_deadline (self, connection,
                  g_get_monotonic_time () + (gint64) self->config->idle_timeout_s * G_USEC_PER_SEC);
    connection->idle = TRUE;
  }
}

/* One timer for every connection: a source each would cost every main-loop
 * iteration a walk over all of them. Shutting the socket down makes
 * libsoup read EOF and drop the connection the ordinary way; an idle
 * keep-alive connection libsoup would forget (3.2 leaks those) is closed
 * outright so that its descriptor comes back. */
static gboolean
on_sweep (gpointer user_data)
{
  NatterRequestGuard *self = NATTER_REQUEST_GUARD (user_data);
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->timed);
  while (g_hash_table_iter_next (&iter, &value, NULL)) {
    GuardedConnection *connection = value;

    if (connection->deadline_us <= now) {
      natter_metrics_inc (self->metrics, "natter_http_timeouts_total", NULL, NULL);
      if (connection->idle)
        g_socket_close (connection->socket, NULL);
      else
        g_socket_shutdown (connection->socket, TRUE, TRUE, NULL);
      /* Kept here until libsoup closes it after the shutdown. */
      connection->deadline_us = G_MAXINT64;
    }
    if (g_socket_is_closed (connection->socket)) {
      connection->deadline_us = 0;
      g_hash_table_iter_remove (&iter);
      drop_connection (self, connection);
    }
  }

  /* The others (WebSockets above all) are looked at less often: a closed
   * one leaves the table here, or at once when its address is at its limit
   * (count_open ()). */
  if (++self->n_sweeps < FULL_SWEEP_EVERY)
    return G_SOURCE_CONTINUE;
  self->n_sweeps = 0;
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    GuardedConnection *connection = value;

    if (g_socket_is_closed (connection->socket)) {
      GPtrArray *same_address = g_hash_table_lookup (self->per_address, connection->address);

      g_ptr_array_remove_fast (same_address, connection);
      if (same_address->len == 0)
        g_hash_table_remove (self->per_address, connection->address);
      g_hash_table_remove (self->timed, connection);
      g_hash_table_iter_remove (&iter);
    }
  }

  return G_SOURCE_CONTINUE;
}

static void
natter_request_guard_dispose (GObject *object)
{
  NatterRequestGuard *self = NATTER_REQUEST_GUARD (object);

  g_clear_handle_id (&self->sweep_id, g_source_remove);
  g_clear_pointer (&self->per_address, g_hash_table_unref);
  g_clear_pointer (&self->timed, g_hash_table_unref);
  g_clear_pointer (&self->connections, g_hash_table_unref);
  g_clear_object (&self->metrics);

  G_OBJECT_CLASS (natter_request_guard_parent_class)->dispose (object);
}

static void
natter_request_guard_class_init (NatterRequestGuardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_request_guard_dispose;
}

static void
natter_request_guard_init (NatterRequestGuard *self)
{
  self->connections =
    g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) guarded_connection_free);
  self->timed = g_hash_table_new (NULL, NULL);
  self->per_address =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
}

/**
 * natter_request_guard_new:
 * @config: the limits; must outlive the guard
 * @metrics: where refusals and timeouts are counted
 * @check: what the API would answer a request, before its body is read
 * @check_data: for @check; must outlive the guard
 *
 * Returns: (transfer full): the transport guard of natter-server
 */
NatterRequestGuard *
natter_request_guard_new (const NatterServerConfig *config,
                          NatterMetrics *metrics,
                          NatterRequestCheckFunc check,
                          gpointer check_data)
{
  NatterRequestGuard *self;
  guint shortest_s;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (NATTER_IS_METRICS (metrics), NULL);
  g_return_val_if_fail (check != NULL, NULL);

  self = g_object_new (NATTER_TYPE_REQUEST_GUARD, NULL);
  self->config = config;
  self->metrics = g_object_ref (metrics);
  self->check = check;
  self->check_data = check_data;

  shortest_s = MIN (config->header_timeout_s, config->idle_timeout_s);
  self->sweep_id = g_timeout_add (CLAMP (shortest_s * 1000 / 4, 100, 1000), on_sweep, self);

  return self;
}

/**
 * natter_request_guard_install:
 * @self: the guard
 * @server: the server to watch
 *
 * From then on every connection of @server counts against its client
 * address, has the header and idle timeouts, and no request body is read
 * past its limit, on any path.
 */
void
natter_request_guard_install (NatterRequestGuard *self, SoupServer *server)
{
  g_return_if_fail (NATTER_IS_REQUEST_GUARD (self));
  g_return_if_fail (SOUP_IS_SERVER (server));

  g_signal_connect_object (server, "request-started", G_CALLBACK (on_request_started), self, 0);
  g_signal_connect_object (server, "request-finished", G_CALLBACK (on_request_done), self, 0);
  g_signal_connect_object (server, "request-aborted", G_CALLBACK (on_request_done), self, 0);
}

guint
natter_request_guard_get_n_connections (NatterRequestGuard *self)
{
  g_return_val_if_fail (NATTER_IS_REQUEST_GUARD (self), 0);

  return g_hash_table_size (self->connections);
}

/**
 * natter_request_guard_refuse:
 * @self: the guard
 * @msg: a request whose body is not read yet (or only partly)
 * @status: the HTTP status
 * @code: the error word
 * @text: the error message
 *
 * Answers @msg without reading the rest of its body and closes its
 * connection once the client had a moment to read the answer.
 */
void
natter_request_guard_refuse (NatterRequestGuard *self,
                             SoupServerMessage *msg,
                             guint status,
                             const char *code,
                             const char *text)
{
  g_return_if_fail (NATTER_IS_REQUEST_GUARD (self));
  g_return_if_fail (SOUP_IS_SERVER_MESSAGE (msg));

  refuse_request (self, msg, status, code, text);
}

/**
 * natter_request_guard_client_address:
 * @config: for the trusted proxies
 * @msg: a request
 *
 * The client's address: the TCP peer's, or, when the peer is a trusted
 * proxy, the last address of X-Forwarded-For that is not one.
 *
 * Returns: (transfer full): the address as text ("" when unknown)
 */
char *
natter_request_guard_client_address (const NatterServerConfig *config, SoupServerMessage *msg)
{
  const char *peer = soup_server_message_get_remote_host (msg);
  const char *forwarded;
  g_auto (GStrv) hops = NULL;

  if (peer == NULL)
    peer = "";
  if (!natter_server_config_is_trusted_proxy (config, peer))
    return g_strdup (peer);

  forwarded = soup_message_headers_get_list (soup_server_message_get_request_headers (msg),
                                             "X-Forwarded-For");
  if (forwarded == NULL)
    return g_strdup (peer);

  /* Only the hops the trusted proxies appended can be believed: walk from
   * the right, past our own proxies, to the first other address. */
  hops = g_strsplit (forwarded, ",", -1);
  for (guint i = g_strv_length (hops); i > 0; i--) {
    g_autoptr (GInetAddress) address = NULL;
    char *hop = g_strstrip (hops[i - 1]);

    address = g_inet_address_new_from_string (hop);
    if (address == NULL)
      break;
    if (!natter_server_config_is_trusted_proxy (config, hop))
      return g_inet_address_to_string (address);
  }

  return g_strdup (peer);
}
