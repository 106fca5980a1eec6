/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-ws-transport"

/*
 * The hub's WebSocket transport (wslay in one epoll source) against a raw
 * client on the other end of a socket pair: framing, the whole-message
 * limit, keepalive, both close handshakes, the end of the stream, and
 * frames queued in one pass leaving together.
 */

#include <errno.h>
#include <gio/gio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natter-test-server.h"
#include "natter-ws-poller.h"
#include "natter-ws-transport.h"

#define MAX_MESSAGE 1000

typedef struct {
  NatterWsPoller *poller;
  NatterWsTransport *transport;
  int client;
  GByteArray *received; /* from the server, not yet parsed */

  GPtrArray *messages; /* "t:TEXT" or "b:BYTES" */
  guint pongs;
  guint closed;
  gushort close_code;
  /* Texts sent back for each message, all from one handler call. */
  guint echoes;
  /* With it, the first message's handler iterates the main context as the
   * PostgreSQL store's flush does, and counts the iterations that
   * dispatched something. */
  gboolean nest;
  guint nested_dispatches;
} Fixture;

static void client_send (Fixture *fixture, gboolean fin, guint opcode, const char *data, gsize n);

static void
on_message (gpointer user_data, gboolean text, const guint8 *data, gsize length)
{
  Fixture *fixture = user_data;

  g_ptr_array_add (fixture->messages, g_strdup_printf ("%c:%.*s", text ? 't' : 'b', (int) length,
                                                       (const char *) data));
  for (guint i = 0; i < fixture->echoes; i++) {
    g_autofree char *echo = g_strdup_printf ("echo %u", i);

    natter_ws_transport_send_text (fixture->transport, echo, strlen (echo));
  }
  if (fixture->nest) {
    fixture->nest = FALSE;
    /* The epoll set becomes readable while this pass runs. */
    client_send (fixture, TRUE, 0x1, "during", 6);
    for (guint i = 0; i < 100; i++) {
      if (g_main_context_iteration (NULL, FALSE))
        fixture->nested_dispatches++;
      g_usleep (100);
    }
  }
}

static void
on_pong (gpointer user_data)
{
  Fixture *fixture = user_data;

  fixture->pongs++;
}

static void
on_closed (gpointer user_data, gushort code)
{
  Fixture *fixture = user_data;

  fixture->closed++;
  fixture->close_code = code;
}

static const NatterWsTransportHandlers handlers = {
  .message = on_message,
  .pong = on_pong,
  .closed = on_closed,
};

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  guint keepalive_s = GPOINTER_TO_UINT (data);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketConnection) stream = NULL;
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  socket = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  stream = g_socket_connection_factory_create_connection (socket);

  fixture->poller = natter_ws_poller_new (NULL, &error);
  g_assert_no_error (error);
  fixture->transport = natter_ws_transport_new (fixture->poller, G_IO_STREAM (stream), socket,
                                                MAX_MESSAGE, keepalive_s, FALSE);
  natter_ws_transport_set_handlers (fixture->transport, &handlers, fixture);
  fixture->client = fds[1];
  fixture->received = g_byte_array_new ();
  fixture->messages = g_ptr_array_new_with_free_func (g_free);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  natter_ws_transport_set_handlers (fixture->transport, NULL, NULL);
  g_clear_object (&fixture->transport);
  g_clear_object (&fixture->poller);
  close (fixture->client);
  g_byte_array_unref (fixture->received);
  g_ptr_array_unref (fixture->messages);
}

/* A client frame, masked with a zero key so the payload goes as it is. */
static void
client_send (Fixture *fixture, gboolean fin, guint opcode, const char *data, gsize n)
{
  guint8 head[14];
  gsize length = 0;

  head[length++] = (guint8) ((fin ? 0x80 : 0) | opcode);
  if (n < 126) {
    head[length++] = (guint8) (0x80 | n);
  } else {
    g_assert_cmpuint (n, <=, 0xffff);
    head[length++] = 0x80 | 126;
    head[length++] = (guint8) (n >> 8);
    head[length++] = (guint8) n;
  }
  memset (head + length, 0, 4);
  length += 4;
  g_assert_cmpint (send (fixture->client, head, length, MSG_NOSIGNAL), ==, (gssize) length);
  if (n > 0)
    g_assert_cmpint (send (fixture->client, data, n, MSG_NOSIGNAL), ==, (gssize) n);
}

static void
client_send_close (Fixture *fixture, gushort code, const char *reason)
{
  g_autoptr (GString) payload = g_string_new (NULL);

  g_string_append_c (payload, (char) (code >> 8));
  g_string_append_c (payload, (char) (code & 0xff));
  g_string_append (payload, reason);
  client_send (fixture, TRUE, 0x8, payload->str, payload->len);
}

/* Runs the server side until the client can read; FALSE on the end of the
 * stream. Also returns at the deadline, with nothing more received. */
static gboolean
client_receive_more (Fixture *fixture, gint64 deadline_us)
{
  while (g_get_monotonic_time () < deadline_us) {
    struct pollfd pfd = { fixture->client, POLLIN, 0 };
    guint8 buffer[4096];
    gssize n;

    while (g_main_context_iteration (NULL, FALSE))
      ;
    if (poll (&pfd, 1, 5) != 1)
      continue;
    n = recv (fixture->client, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN)
      continue;
    if (n <= 0)
      return FALSE;
    g_byte_array_append (fixture->received, buffer, (guint) n);
    return TRUE;
  }
  return TRUE;
}

/* The next server frame: its opcode (0 at the end of the stream), and its
 * payload, NUL-terminated. Fails the test at the deadline. */
static guint
client_read_frame (Fixture *fixture, char **payload)
{
  gint64 deadline = g_get_monotonic_time () + natter_test_scale_ms (5000) * (gint64) 1000;

  for (;;) {
    guint8 *p = fixture->received->data;
    gsize header = 2;
    gsize length;

    if (fixture->received->len >= 2) {
      g_assert_cmpuint (p[1] & 0x80, ==, 0); /* server frames are not masked */
      length = p[1] & 0x7f;
      g_assert_cmpuint (length, <, 127);
      if (length == 126 && fixture->received->len >= 4) {
        length = (gsize) p[2] << 8 | p[3];
        header = 4;
      }
      if (length != 126 && fixture->received->len >= header + length) {
        guint opcode = p[0] & 0x0f;

        g_assert_cmpuint (p[0] & 0x80, !=, 0);
        if (payload != NULL)
          *payload = g_strndup ((const char *) p + header, length);
        g_byte_array_remove_range (fixture->received, 0, (guint) (header + length));
        return opcode;
      }
    }
    if (g_get_monotonic_time () >= deadline)
      g_error ("no frame from the server in time");
    if (!client_receive_more (fixture, deadline)) {
      g_assert_cmpuint (fixture->received->len, ==, 0);
      return 0;
    }
  }
}

static guint
close_code_of (const char *payload)
{
  return (guint) (guint8) payload[0] << 8 | (guint8) payload[1];
}

static void
test_messages_and_pings (Fixture *fixture, gconstpointer data)
{
  g_autofree char *pong = NULL;
  g_autofree char *echo = NULL;

  /* A text message in two fragments with a ping between them. */
  client_send (fixture, FALSE, 0x1, "{\"a\":", 5);
  client_send (fixture, TRUE, 0x9, "hi", 2);
  client_send (fixture, TRUE, 0x0, "1}", 2);
  client_send (fixture, TRUE, 0x2, "\x01\x02", 2);
  g_assert_cmpuint (client_read_frame (fixture, &pong), ==, 0xa);
  g_assert_cmpstr (pong, ==, "hi");
  natter_test_wait_until (fixture->messages->len == 2, 5000);
  g_assert_cmpstr (g_ptr_array_index (fixture->messages, 0), ==, "t:{\"a\":1}");
  g_assert_cmpstr (g_ptr_array_index (fixture->messages, 1), ==, "b:\x01\x02");

  /* Frames queued in one handler call arrive in order. */
  fixture->echoes = 3;
  client_send (fixture, TRUE, 0x1, "again", 5);
  for (guint i = 0; i < 3; i++) {
    g_autofree char *expected = g_strdup_printf ("echo %u", i);

    g_clear_pointer (&echo, g_free);
    g_assert_cmpuint (client_read_frame (fixture, &echo), ==, 0x1);
    g_assert_cmpstr (echo, ==, expected);
  }
  g_assert_true (natter_ws_transport_is_open (fixture->transport));
  g_assert_cmpuint (fixture->closed, ==, 0);
}

/* The limit counts the whole message over its fragments: exactly the
 * limit is delivered, one byte more closes 1009 and nothing is parsed
 * after it. */
static void
test_message_limit_at_its_edge (Fixture *fixture, gconstpointer data)
{
  g_autofree char *text = g_strnfill (MAX_MESSAGE + 1, 'x');
  g_autofree char *close = NULL;

  client_send (fixture, FALSE, 0x1, text, 600);
  client_send (fixture, TRUE, 0x0, text, MAX_MESSAGE - 600);
  natter_test_wait_until (fixture->messages->len == 1, 5000);
  g_assert_cmpuint (strlen (g_ptr_array_index (fixture->messages, 0)), ==, MAX_MESSAGE + 2);

  client_send (fixture, FALSE, 0x1, text, 600);
  client_send (fixture, TRUE, 0x0, text, MAX_MESSAGE + 1 - 600);
  client_send (fixture, TRUE, 0x1, "late", 4);
  g_assert_cmpuint (client_read_frame (fixture, &close), ==, 0x8);
  g_assert_cmpuint (close_code_of (close), ==, 1009);
  natter_test_wait_until (fixture->closed == 1, 5000);
  g_assert_cmpuint (fixture->close_code, ==, 1009);
  g_assert_false (natter_ws_transport_is_open (fixture->transport));
  /* The server shut its side: the client sees the end after the close. */
  g_assert_cmpuint (client_read_frame (fixture, NULL), ==, 0);
  g_assert_cmpuint (fixture->messages->len, ==, 1);
}

/* A compressed (RSV1) frame: no extension was agreed, so 1002. */
static void
test_reserved_bits_refused (Fixture *fixture, gconstpointer data)
{
  static const guint8 frame[] = { 0xc1, 0x82, 0, 0, 0, 0, 'h', 'i' };
  g_autofree char *close = NULL;

  g_assert_cmpint (send (fixture->client, frame, sizeof frame, MSG_NOSIGNAL), ==, sizeof frame);
  g_assert_cmpuint (client_read_frame (fixture, &close), ==, 0x8);
  g_assert_cmpuint (close_code_of (close), ==, 1002);
  g_assert_cmpuint (fixture->messages->len, ==, 0);
}

static void
test_peer_closes (Fixture *fixture, gconstpointer data)
{
  g_autofree char *close = NULL;

  client_send_close (fixture, 1000, "bye");
  g_assert_cmpuint (client_read_frame (fixture, &close), ==, 0x8);
  g_assert_cmpuint (close_code_of (close), ==, 1000);
  g_assert_cmpstr (close + 2, ==, "bye");
  natter_test_wait_until (fixture->closed == 1, 5000);
  g_assert_cmpuint (fixture->close_code, ==, 1000);
  g_assert_cmpuint (client_read_frame (fixture, NULL), ==, 0);
  g_assert_cmpuint (natter_ws_poller_get_n_sockets (fixture->poller), ==, 0);
}

/* The server's close frame goes before text queued after it is refused;
 * the peer sees the end at once and ::closed follows its answer. */
static void
test_server_closes (Fixture *fixture, gconstpointer data)
{
  g_autofree char *close = NULL;

  natter_ws_transport_close (fixture->transport, 4001, "done here");
  natter_ws_transport_send_text (fixture->transport, "after", 5);
  g_assert_false (natter_ws_transport_is_open (fixture->transport));
  g_assert_cmpuint (client_read_frame (fixture, &close), ==, 0x8);
  g_assert_cmpuint (close_code_of (close), ==, 4001);
  g_assert_cmpstr (close + 2, ==, "done here");
  g_assert_cmpuint (client_read_frame (fixture, NULL), ==, 0);
  g_assert_cmpuint (fixture->closed, ==, 0);
  client_send_close (fixture, 4001, "");
  natter_test_wait_until (fixture->closed == 1, 5000);
  g_assert_cmpuint (natter_ws_poller_get_n_sockets (fixture->poller), ==, 0);
}

/* The end of the stream without a close frame: 1006. */
static void
test_end_of_stream (Fixture *fixture, gconstpointer data)
{
  client_send (fixture, TRUE, 0x1, "last", 4);
  shutdown (fixture->client, SHUT_WR);
  natter_test_wait_until (fixture->closed == 1, 5000);
  g_assert_cmpuint (fixture->close_code, ==, 1006);
  g_assert_cmpuint (fixture->messages->len, ==, 1);
  g_assert_cmpuint (natter_ws_poller_get_n_sockets (fixture->poller), ==, 0);
}

/* Pings every keepalive interval; pongs reach the owner. */
static void
test_keepalive (Fixture *fixture, gconstpointer data)
{
  gint64 start = g_get_monotonic_time ();

  for (guint i = 0; i < 2; i++) {
    g_autofree char *ping = NULL;

    g_assert_cmpuint (client_read_frame (fixture, &ping), ==, 0x9);
    client_send (fixture, TRUE, 0xa, ping, strlen (ping));
  }
  /* Two intervals of 1 s, not one ping per pass. */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 1900 * 1000);
  natter_test_wait_until (fixture->pongs == 2, 5000);
}

/* A ping, then @n raw bytes, in one write: once the pong is back the
 * server has read both in the same pass. */
static void
client_send_ping_then (Fixture *fixture, const guint8 *bytes, gsize n)
{
  guint8 wire[64] = { 0x89, 0x80, 0, 0, 0, 0 };
  g_autofree char *pong = NULL;

  g_assert_cmpuint (n, <=, sizeof wire - 6);
  if (n > 0)
    memcpy (wire + 6, bytes, n);
  g_assert_cmpint (send (fixture->client, wire, 6 + n, MSG_NOSIGNAL), ==, (gssize) (6 + n));
  g_assert_cmpuint (client_read_frame (fixture, &pong), ==, 0xa);
}

/* wslay's contexts exist only while they hold something: not for an idle
 * connection, but across passes for a frame cut in its header or payload
 * and for a message in fragments, which then arrive whole. */
static void
test_framing_state_only_while_needed (Fixture *fixture, gconstpointer data)
{
  /* "hello": FIN + text, masked, 5 bytes, zero key. */
  static const guint8 frame[] = { 0x81, 0x85, 0, 0, 0, 0, 'h', 'e', 'l', 'l', 'o' };
  NatterWsTransport *transport = fixture->transport;

  g_assert_false (natter_ws_transport_holds_framing_state (transport));
  client_send (fixture, TRUE, 0x1, "first", 5);
  natter_test_wait_until (fixture->messages->len == 1, 5000);
  natter_test_wait_until (!natter_ws_transport_holds_framing_state (transport), 5000);

  /* Cut in the header (3 of 6 bytes), then in the payload (8 of 11). */
  for (gsize cut = 3; cut <= 8; cut += 5) {
    guint expected = fixture->messages->len + 1;

    client_send_ping_then (fixture, frame, cut);
    g_assert_true (natter_ws_transport_holds_framing_state (transport));
    g_assert_cmpint (send (fixture->client, frame + cut, sizeof frame - cut, MSG_NOSIGNAL), ==,
                     (gssize) (sizeof frame - cut));
    natter_test_wait_until (fixture->messages->len == expected, 5000);
    g_assert_cmpstr (g_ptr_array_index (fixture->messages, expected - 1), ==, "t:hello");
    natter_test_wait_until (!natter_ws_transport_holds_framing_state (transport), 5000);
  }

  /* A message in two fragments, the first one whole. */
  client_send (fixture, FALSE, 0x1, "frag", 4);
  client_send_ping_then (fixture, NULL, 0);
  g_assert_true (natter_ws_transport_holds_framing_state (transport));
  client_send (fixture, TRUE, 0x0, "ment", 4);
  natter_test_wait_until (fixture->messages->len == 4, 5000);
  g_assert_cmpstr (g_ptr_array_index (fixture->messages, 3), ==, "t:fragment");
  natter_test_wait_until (!natter_ws_transport_holds_framing_state (transport), 5000);

  /* Sending makes them again, only for as long as the frame takes. */
  natter_ws_transport_send_text (transport, "out", 3);
  g_assert_true (natter_ws_transport_holds_framing_state (transport));
  {
    g_autofree char *out = NULL;

    g_assert_cmpuint (client_read_frame (fixture, &out), ==, 0x1);
    g_assert_cmpstr (out, ==, "out");
  }
  natter_test_wait_until (!natter_ws_transport_holds_framing_state (transport), 5000);
  g_assert_true (natter_ws_transport_is_open (transport));
  g_assert_cmpuint (fixture->closed, ==, 0);
}

/* A second connection on the same poller, its own limit. */
static void
second_set_up (Fixture *second, Fixture *first, gsize max_message)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketConnection) stream = NULL;
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  socket = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  stream = g_socket_connection_factory_create_connection (socket);
  second->poller = g_object_ref (first->poller);
  second->transport =
    natter_ws_transport_new (second->poller, G_IO_STREAM (stream), socket, max_message, 0, FALSE);
  natter_ws_transport_set_handlers (second->transport, &handlers, second);
  second->client = fds[1];
  second->received = g_byte_array_new ();
  second->messages = g_ptr_array_new_with_free_func (g_free);
}

/* The poller keeps an idle connection's framing state for the next one:
 * taken over, it reports to its new connection only, with that one's
 * message limit, and the first connection gets framing state again. */
static void
test_framing_state_passes_between_connections (Fixture *fixture, gconstpointer data)
{
  Fixture second = { 0 };
  g_autofree char *echo = NULL;
  g_autofree char *close_payload = NULL;

  second_set_up (&second, fixture, 10);
  client_send (fixture, TRUE, 0x1, "first", 5);
  natter_test_wait_until (fixture->messages->len == 1, 5000);
  natter_test_wait_until (!natter_ws_transport_holds_framing_state (fixture->transport), 5000);

  second.echoes = 1;
  client_send (&second, TRUE, 0x1, "second", 6);
  natter_test_wait_until (second.messages->len == 1, 5000);
  g_assert_cmpstr (g_ptr_array_index (second.messages, 0), ==, "t:second");
  g_assert_cmpuint (client_read_frame (&second, &echo), ==, 0x1);
  g_assert_cmpstr (echo, ==, "echo 0");
  g_assert_cmpuint (fixture->messages->len, ==, 1);
  natter_test_wait_until (!natter_ws_transport_holds_framing_state (second.transport), 5000);

  /* 11 bytes: over the second connection's limit, under the first's. */
  client_send (fixture, TRUE, 0x1, "eleven byte", 11);
  natter_test_wait_until (fixture->messages->len == 2, 5000);
  g_assert_cmpstr (g_ptr_array_index (fixture->messages, 1), ==, "t:eleven byte");
  client_send (&second, TRUE, 0x1, "eleven byte", 11);
  g_assert_cmpuint (client_read_frame (&second, &close_payload), ==, 0x8);
  g_assert_cmpuint (close_code_of (close_payload), ==, 1009);
  g_assert_cmpuint (second.messages->len, ==, 1);
  g_assert_true (natter_ws_transport_is_open (fixture->transport));
  g_assert_cmpuint (fixture->closed, ==, 0);

  fixture_tear_down (&second, NULL);
}

/* A handler that iterates the main context inside the poller's pass: the
 * nested iterations do not spin on the still-readable epoll set or on the
 * frames the pass has queued (at most one dispatch, which takes the set out
 * of the poll); the pass writes its frames and the next one reads what
 * came meanwhile. */
static void
test_nested_iteration (Fixture *fixture, gconstpointer data)
{
  g_autofree char *echo = NULL;

  fixture->echoes = 1;
  fixture->nest = TRUE;
  client_send (fixture, TRUE, 0x1, "first", 5);
  g_assert_cmpuint (client_read_frame (fixture, &echo), ==, 0x1);
  g_assert_cmpstr (echo, ==, "echo 0");
  natter_test_wait_until (fixture->messages->len == 2, 5000);
  g_assert_cmpstr (g_ptr_array_index (fixture->messages, 0), ==, "t:first");
  g_assert_cmpstr (g_ptr_array_index (fixture->messages, 1), ==, "t:during");
  g_assert_cmpuint (fixture->nested_dispatches, <=, 1);
  g_assert_true (natter_ws_transport_is_open (fixture->transport));
}

/* Aborting closes the socket at once, without a handshake. */
static void
test_abort (Fixture *fixture, gconstpointer data)
{
  natter_ws_transport_send_text (fixture->transport, "never flushed", 13);
  natter_ws_transport_abort (fixture->transport);
  g_assert_cmpuint (fixture->closed, ==, 1);
  g_assert_cmpuint (fixture->close_code, ==, 1006);
  g_assert_cmpuint (natter_ws_poller_get_n_sockets (fixture->poller), ==, 0);
  g_assert_cmpuint (client_read_frame (fixture, NULL), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, keepalive_s, func)                                                 \
  g_test_add ("/natter/ws-transport/" path, Fixture, GUINT_TO_POINTER (keepalive_s), \
              fixture_set_up, func, fixture_tear_down)

  ADD ("messages-and-pings", 0, test_messages_and_pings);
  ADD ("message-limit-at-its-edge", 0, test_message_limit_at_its_edge);
  ADD ("reserved-bits-refused", 0, test_reserved_bits_refused);
  ADD ("peer-closes", 0, test_peer_closes);
  ADD ("server-closes", 0, test_server_closes);
  ADD ("end-of-stream", 0, test_end_of_stream);
  ADD ("keepalive", 1, test_keepalive);
  ADD ("abort", 0, test_abort);
  ADD ("framing-state-only-while-needed", 0, test_framing_state_only_while_needed);
  ADD ("framing-state-passes-between-connections", 0,
       test_framing_state_passes_between_connections);
  ADD ("nested-iteration", 0, test_nested_iteration);
#undef ADD

  return g_test_run ();
}
