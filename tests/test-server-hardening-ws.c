/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-hardening-ws"

/* The hub's limits of PROTOCOL.md 1.1 (issue #15), tried as an attacker
 * would: clients that never read, sync floods, call floods, repeated
 * mark_read and typing; and the durability rules: an ack carries the
 * sender's own event, an event that could not be stored is never sent. */

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natter-http-body.h"
#include "natter-test-server.h"
#include "natter-test-ws.h"

#define OFFER \
  "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n\"}"
#define CANDIDATE(n)                                                          \
  "{\"candidate\":\"candidate:" #n " 1 UDP 2122252543 192.0.2." #n " 5000" #n \
  " typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}"

typedef struct {
  NatterTestServer *server;
  NatterTestPeer *alice;
  NatterTestPeer *bob;
  NatterTestPeer *carol;
  gint64 conversation_id; /* alice and bob */
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  fixture->server = natter_test_server_new (data);
  fixture->alice = natter_test_peer_new (fixture->server, "alice", "tutor");
  fixture->bob = natter_test_peer_new (fixture->server, "bob", "student");
  fixture->carol = natter_test_peer_new (fixture->server, "carol", "parent");
  fixture->conversation_id =
    natter_test_peer_conversation_with (fixture->server, fixture->alice, fixture->bob);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_clear_pointer (&fixture->alice, natter_test_peer_free);
  g_clear_pointer (&fixture->bob, natter_test_peer_free);
  g_clear_pointer (&fixture->carol, natter_test_peer_free);
  g_clear_pointer (&fixture->server, natter_test_server_free);
}

/* The server's resident memory in KiB, from /proc. */
static guint64
server_rss_kib (Fixture *fixture)
{
  g_autofree char *path =
    g_strdup_printf ("/proc/%d/status", (int) natter_test_server_get_pid (fixture->server));
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true (g_file_get_contents (path, &status, NULL, NULL));
  line = strstr (status, "VmRSS:");
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen ("VmRSS:"), NULL, 10);
}

/* A WebSocket client on a bare socket, for clients that do not read: it
 * does the handshake, reads the 101 answer's headers and nothing else. */
static int
raw_ws_open (Fixture *fixture, NatterTestPeer *peer, int receive_buffer)
{
  struct sockaddr_in address = { 0 };
  g_autofree char *request = NULL;
  GString *answer = g_string_new (NULL);
  int fd = socket (AF_INET, SOCK_STREAM, 0);

  g_assert_cmpint (fd, >=, 0);
  /* A small window: the server's data waits on its side, as for a client
   * on a slow link. */
  if (receive_buffer > 0)
    g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer),
                     ==, 0);
  address.sin_family = AF_INET;
  address.sin_port = htons (natter_test_server_get_port (fixture->server));
  address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &address, sizeof address), ==, 0);

  request = g_strdup_printf ("GET /ws/%" G_GINT64_FORMAT "/%s HTTP/1.1\r\n"
                             "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
                             peer->profile->profile_id, peer->profile->profile_type, peer->token);
  g_assert_cmpint (send (fd, request, strlen (request), MSG_NOSIGNAL), ==, strlen (request));

  /* Byte by byte: not one byte of the frames after the headers. */
  while (!g_str_has_suffix (answer->str, "\r\n\r\n")) {
    char c;

    g_assert_cmpint (recv (fd, &c, 1, 0), ==, 1);
    g_string_append_c (answer, c);
    g_assert_cmpuint (answer->len, <, 4096);
  }
  g_assert_true (g_str_has_prefix (answer->str, "HTTP/1.1 101"));
  g_string_free (answer, TRUE);

  return fd;
}

/* Sends one masked text frame; FALSE once the server has reset the
 * connection. */
static gboolean
raw_ws_send (int fd, const char *text)
{
  gsize length = strlen (text);
  g_autofree guint8 *frame = g_malloc (length + 14);
  const guint8 mask[4] = { 0x12, 0x34, 0x56, 0x78 };
  gsize header = 2;
  gsize sent = 0;

  g_assert_cmpuint (length, <, 65536);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else {
    frame[1] = 0x80 | 126;
    frame[2] = length >> 8;
    frame[3] = length & 0xff;
    header = 4;
  }
  memcpy (frame + header, mask, 4);
  for (gsize i = 0; i < length; i++)
    frame[header + 4 + i] = text[i] ^ mask[i % 4];

  while (sent < header + 4 + length) {
    gssize n = send (fd, frame + sent, header + 4 + length - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      g_usleep (1000);
      continue;
    }
    if (n < 0)
      return FALSE;
    sent += n;
  }

  return TRUE;
}

/* The server closed a connection whose peer does not read: data sent to a
 * closed socket is answered with a reset, which the next sends see. */
static gboolean
raw_ws_reset_by_server (int fd)
{
  return !raw_ws_send (fd, "{\"type\":\"typing\",\"conversation_id\":1,\"active\":true}");
}

/* Stores @n messages of @chars characters from @from in the conversation. */
static void
send_messages (Fixture *fixture, NatterTestPeer *from, guint n, guint chars, const char *prefix)
{
  g_autoptr (NatterTestWs) ws = natter_test_peer_open (fixture->server, from);
  g_autofree char *text = g_strnfill (chars, 'x');

  for (guint i = 0; i < n; i++) {
    g_autoptr (NatterFrame) ack = NULL;

    natter_test_ws_send_printf (ws,
                                "{\"type\":\"chat_message\",\"client_msg_id\":\"%s-%u\","
                                "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"%s\"}",
                                prefix, i, fixture->conversation_id, text);
    ack = natter_test_ws_expect (ws, "message_ack");
  }
}

static const char *const slow_reader_args[] = { "--chat-rate",
                                                "1000",
                                                "--chat-burst",
                                                "1000",
                                                "--frame-rate",
                                                "1000",
                                                "--frame-burst",
                                                "1000",
                                                "--max-outgoing-bytes",
                                                "262144",
                                                NULL };

/* PROTOCOL.md: one sync at a time, at most the limit waiting per connection.
 * A client that asks for its history 400 times and never reads is closed
 * within seconds, the server's memory stays flat, and the client loses
 * nothing once it reconnects and syncs as it should. */
static void
test_sync_flood_of_a_client_that_never_reads (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) bob = NULL;
  g_autoptr (NatterFrame) done = NULL;
  guint64 rss_before;
  guint64 rss_peak = 0;
  gint64 started;
  gint64 deadline;
  gboolean reset = FALSE;
  int fd;

  /* 200 events of ~4 KiB for Bob: 850 KiB a replay. */
  send_messages (fixture, fixture->alice, 200, 4000, "big");
  rss_before = server_rss_kib (fixture);

  fd = raw_ws_open (fixture, fixture->bob, 4096);
  started = g_get_monotonic_time ();
  for (guint i = 0; i < 400 && !reset; i++)
    reset = !raw_ws_send (fd, "{\"type\":\"sync\",\"after_event_id\":0}");

  deadline = started + (gint64) natter_test_scale_ms (5000) * 1000;
  while (!reset && g_get_monotonic_time () < deadline) {
    rss_peak = MAX (rss_peak, server_rss_kib (fixture));
    g_usleep (50 * 1000);
    reset = raw_ws_reset_by_server (fd);
  }
  rss_peak = MAX (rss_peak, server_rss_kib (fixture));
  g_test_message ("closed after %" G_GINT64_FORMAT " ms; RSS %" G_GUINT64_FORMAT
                  " KiB -> peak %" G_GUINT64_FORMAT " KiB",
                  (g_get_monotonic_time () - started) / 1000, rss_before, rss_peak);
  close (fd);
  g_assert_true (reset);
  /* 400 replays would be 340 MiB; one is under one. */
  g_assert_cmpuint (rss_peak, <, rss_before + 32 * 1024);

  /* Nothing was lost: a proper sync gets every event. */
  bob = natter_test_peer_open (fixture->server, fixture->bob);
  natter_test_ws_send (bob, "{\"type\":\"sync\",\"after_event_id\":0}");
  done = natter_test_ws_expect (bob, "sync_done");
  g_assert_false (done->truncated);
  g_assert_cmpint (done->last_event_id, ==, 200);
  g_assert_cmpuint (natter_test_ws_count (bob, "chat_message"), ==, 200);
}

/* Waits until the server's data can be read, at most @timeout_ms. */
static gboolean
raw_ws_wait_readable (int fd, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) natter_test_scale_ms (timeout_ms) * 1000;

  while (g_get_monotonic_time () < deadline) {
    struct pollfd readable = { fd, POLLIN, 0 };

    if (poll (&readable, 1, 100) > 0)
      return TRUE;
  }

  return FALSE;
}

/* Reads what the server sent until it closes, at most @timeout_ms. */
static GString *
raw_ws_read_until_closed (int fd, guint timeout_ms, gboolean *out_closed)
{
  GString *received = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + (gint64) natter_test_scale_ms (timeout_ms) * 1000;
  char buffer[65536];

  *out_closed = FALSE;
  while (g_get_monotonic_time () < deadline) {
    struct pollfd readable = { fd, POLLIN, 0 };
    gssize n;

    if (poll (&readable, 1, 100) == 0)
      continue;
    n = recv (fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      g_string_append_len (received, buffer, n);
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      *out_closed = TRUE;
      break;
    }
  }

  return received;
}

static guint
count_substrings (const char *haystack, const char *needle)
{
  guint n = 0;

  for (const char *at = strstr (haystack, needle); at != NULL; at = strstr (at + 1, needle))
    n++;
  return n;
}

/* One sync at a time: a second sync while the first replay still waits
 * unread closes the connection (1008) instead of queueing a second
 * replay; a client that reads gets a replay for each sync. */
static void
test_one_sync_at_a_time (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) bob = NULL;
  g_autoptr (NatterFrame) done = NULL;
  GString *received;
  gboolean closed = FALSE;
  int fd;

  send_messages (fixture, fixture->alice, 100, 4000, "m");

  fd = raw_ws_open (fixture, fixture->bob, 4096);
  g_assert_true (raw_ws_send (fd, "{\"type\":\"sync\",\"after_event_id\":0}"));
  /* The replay has reached the small window and waits there, unread. */
  g_assert_true (raw_ws_wait_readable (fd, 5000));
  g_assert_true (raw_ws_send (fd, "{\"type\":\"sync\",\"after_event_id\":0}"));
  /* Reading now would race the server's check: what the client reads
   * before the server handles the second sync is a replay taken, and the
   * server rightly serves it. So the verdict comes first, then the reading. */
  natter_test_wait_until (
    natter_test_server_metric (fixture->server, "natter_errors_total{code=\"slow_reader\"} ") == 1,
    10000);

  received = raw_ws_read_until_closed (fd, 10000, &closed);
  close (fd);
  g_assert_true (closed);
  g_assert_cmpuint (count_substrings (received->str, "\"sync_done\""), <=, 1);
  g_assert_cmpuint (received->len, <, 600 * 1024);
  g_string_free (received, TRUE);

  /* A client that reads gets a replay for each sync, one after the other. */
  bob = natter_test_peer_open (fixture->server, fixture->bob);
  for (guint i = 0; i < 2; i++) {
    g_clear_pointer (&done, natter_frame_free);
    natter_test_ws_send (bob, "{\"type\":\"sync\",\"after_event_id\":90}");
    done = natter_test_ws_expect (bob, "sync_done");
  }
  g_assert_cmpuint (natter_test_ws_count (bob, "chat_message"), ==, 20);
  natter_test_ws_assert_none (bob, "error", 200);
  g_assert_true (natter_test_ws_is_open (bob));
}

static const char *const replay_bytes_args[] = { "--sync-replay-max-bytes", "20000", NULL };

/* A replay stops at the byte limit, newest events kept, truncated. */
static void
test_replay_stops_at_byte_limit (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) bob = NULL;
  g_autoptr (NatterFrame) done = NULL;
  g_autoptr (NatterFrame) first = NULL;
  guint n;

  send_messages (fixture, fixture->alice, 10, 4000, "b");

  bob = natter_test_peer_open (fixture->server, fixture->bob);
  natter_test_ws_send (bob, "{\"type\":\"sync\",\"after_event_id\":0}");
  done = natter_test_ws_expect (bob, "sync_done");
  g_assert_true (done->truncated);
  g_assert_cmpint (done->last_event_id, ==, 10);
  n = natter_test_ws_count (bob, "chat_message");
  g_assert_cmpuint (n, >=, 3);
  g_assert_cmpuint (n, <=, 4);
  first = natter_test_ws_expect (bob, "chat_message");
  g_assert_cmpint (first->event_id, ==, 10 - n + 1);
}

static const char *const heartbeat_args[] = { "--heartbeat", "1", "--dead-after", "2", NULL };

static gboolean
has_close_frame (GString *received, guint8 code_high, guint8 code_low)
{
  for (gsize i = 0; i + 3 < received->len; i++) {
    if ((guint8) received->str[i] == 0x88 && received->str[i + 1] >= 2 &&
        (guint8) received->str[i + 2] == code_high && (guint8) received->str[i + 3] == code_low)
      return TRUE;
  }
  return FALSE;
}

/* A connection is alive while it answers pings: one that writes all the
 * time (and reads, but never answers a ping) is closed (1001) after the
 * dead-after time. */
static void
test_writer_that_never_answers_pings_is_dead (Fixture *fixture, gconstpointer data)
{
  GString *received = g_string_new (NULL);
  gint64 started = g_get_monotonic_time ();
  gint64 deadline = started + (gint64) natter_test_scale_ms (6000) * 1000;
  char buffer[4096];
  gboolean closed = FALSE;
  int fd;

  fd = raw_ws_open (fixture, fixture->bob, 0);
  while (!closed && g_get_monotonic_time () < deadline) {
    gssize n;

    gboolean sent = raw_ws_send (fd, "{\"type\":\"sync\",\"after_event_id\":0}");

    g_usleep (100 * 1000);
    /* Also after a reset: the close frame may be waiting to be read. */
    while ((n = recv (fd, buffer, sizeof buffer, MSG_DONTWAIT)) > 0)
      g_string_append_len (received, buffer, n);
    closed = has_close_frame (received, 0x03, 0xe9);
    if (!sent)
      break;
  }
  g_test_message ("closed after %" G_GINT64_FORMAT " ms",
                  (g_get_monotonic_time () - started) / 1000);
  close (fd);
  g_string_free (received, TRUE);
  g_assert_true (closed);
  /* Not before the dead-after time (2 s). */
  g_assert_cmpint (g_get_monotonic_time () - started, >=, 2 * G_USEC_PER_SEC);
}

/* PROTOCOL.md 1.1: the sending connection gets message_ack with its own
 * event id and no chat_message copy; its other connections get the
 * message as that event, and a replay carries it too. */
static void
test_ack_carries_own_event_and_no_copy (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice1 = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) alice2 = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterFrame) ack = NULL;
  g_autoptr (NatterFrame) retry_ack = NULL;
  g_autoptr (NatterFrame) on_alice2 = NULL;
  g_autoptr (NatterFrame) replayed = NULL;
  g_autoptr (NatterFrame) done = NULL;
  g_autofree char *frame = g_strdup_printf (
    "{\"type\":\"chat_message\",\"client_msg_id\":\"own-1\",\"conversation_id\":%" G_GINT64_FORMAT
    ",\"text\":\"mine\"}",
    fixture->conversation_id);

  natter_test_ws_send (alice1, frame);
  ack = natter_test_ws_expect (alice1, "message_ack");
  g_assert_cmpint (ack->event_id, ==, 1);
  on_alice2 = natter_test_ws_expect (alice2, "chat_message");
  g_assert_cmpint (on_alice2->event_id, ==, ack->event_id);
  natter_test_ws_assert_none (alice1, "chat_message", 300);

  /* A retry gets the same ack, event id included. */
  natter_test_ws_send (alice1, frame);
  retry_ack = natter_test_ws_expect (alice1, "message_ack");
  g_assert_cmpint (retry_ack->event_id, ==, ack->event_id);
  g_assert_cmpint (retry_ack->message->message_id, ==, ack->message->message_id);

  natter_test_ws_send (alice1, "{\"type\":\"sync\",\"after_event_id\":0}");
  done = natter_test_ws_expect (alice1, "sync_done");
  replayed = natter_test_ws_expect (alice1, "chat_message");
  g_assert_cmpint (replayed->event_id, ==, ack->event_id);
  g_assert_cmpstr (replayed->message->text, ==, "mine");
}

/* A mark_read that does not move the position stores and sends nothing. */
static void
test_mark_read_that_does_not_advance (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = NULL;
  g_autoptr (NatterTestWs) bob = NULL;
  g_autoptr (NatterFrame) on_alice = NULL;
  g_autoptr (NatterFrame) on_bob = NULL;
  g_autoptr (NatterFrame) done = NULL;

  send_messages (fixture, fixture->alice, 2, 10, "r");
  alice = natter_test_peer_open (fixture->server, fixture->alice);
  bob = natter_test_peer_open (fixture->server, fixture->bob);

  natter_test_ws_send_printf (
    bob, "{\"type\":\"mark_read\",\"conversation_id\":%" G_GINT64_FORMAT ",\"up_to_seq\":2}",
    fixture->conversation_id);
  on_alice = natter_test_ws_expect (alice, "read_receipt");
  on_bob = natter_test_ws_expect (bob, "read_receipt");
  g_assert_cmpint (on_alice->up_to_seq, ==, 2);

  /* The same again, and an older one: nothing. */
  for (guint i = 0; i < 20; i++)
    natter_test_ws_send_printf (
      bob, "{\"type\":\"mark_read\",\"conversation_id\":%" G_GINT64_FORMAT ",\"up_to_seq\":%u}",
      fixture->conversation_id, i % 2 ? 2 : 1);
  natter_test_ws_assert_none (alice, "read_receipt", 300);
  g_assert_cmpuint (natter_test_ws_count (bob, "read_receipt"), ==, 0);
  g_assert_cmpuint (natter_test_ws_count (bob, "error"), ==, 0);

  /* Nor stored: Alice's history holds her two messages and one receipt. */
  natter_test_ws_send (alice, "{\"type\":\"sync\",\"after_event_id\":0}");
  done = natter_test_ws_expect (alice, "sync_done");
  g_assert_cmpint (done->last_event_id, ==, 3);
}

/* Typing is relayed at most twice a second per conversation; the rest is
 * dropped without an error. */
static void
test_typing_is_limited (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) later = NULL;
  guint relayed;

  gint64 started = g_get_monotonic_time ();
  double elapsed_s;

  for (guint i = 0; i < 20; i++)
    natter_test_ws_send_printf (
      bob, "{\"type\":\"typing\",\"conversation_id\":%" G_GINT64_FORMAT ",\"active\":true}",
      fixture->conversation_id);
  natter_test_ws_send (bob, "{\"type\":\"sync\",\"after_event_id\":0}");
  g_clear_pointer (&later, natter_frame_free);
  later = natter_test_ws_expect (bob, "sync_done");
  /* Everything was handled once the sync is answered; the bucket refilled
   * for as long as that took (long under valgrind). */
  elapsed_s = (g_get_monotonic_time () - started) / (double) G_USEC_PER_SEC;
  natter_test_ws_assert_none (alice, "error", 200);
  g_assert_cmpuint (natter_test_ws_count (bob, "error"), ==, 0);
  relayed = natter_test_ws_count (alice, "typing");
  g_test_message ("%u of 20 typing frames relayed in %.2f s", relayed, elapsed_s);
  g_assert_cmpuint (relayed, >=, 2);
  g_assert_cmpuint (relayed, <=, 3 + (guint) (2 * elapsed_s));
  g_assert_cmpuint (relayed, <, 20);

  /* The bucket refills. */
  g_clear_pointer (&later, natter_frame_free);
  natter_test_ws_clear (alice);
  natter_test_ws_assert_none (alice, "typing", 1000);
  natter_test_ws_send_printf (
    bob, "{\"type\":\"typing\",\"conversation_id\":%" G_GINT64_FORMAT ",\"active\":false}",
    fixture->conversation_id);
  later = natter_test_ws_expect (alice, "typing");
  g_assert_false (later->active);
}

static void
send_invitation (NatterTestWs *caller, NatterTestPeer *callee, const char *client_call_id)
{
  natter_test_ws_send_printf (caller,
                              "{\"type\":\"call_invitation\",\"client_call_id\":\"%s\","
                              "\"to_profile_id\":%" G_GINT64_FORMAT ",\"to_profile_type\":\"%s\","
                              "\"call_type\":\"video\",\"offer\":" OFFER "}",
                              client_call_id, callee->profile->profile_id,
                              callee->profile->profile_type);
}

/* At most two outgoing calls ring at once; the third is busy, without a
 * call log row. */
static void
test_third_ringing_call_is_busy (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterTestWs) carol = natter_test_peer_open (fixture->server, fixture->carol);
  g_autoptr (NatterFrame) first = NULL;
  g_autoptr (NatterFrame) second = NULL;
  g_autoptr (NatterFrame) third = NULL;
  g_autoptr (NatterFrame) after = NULL;

  send_invitation (alice, fixture->bob, "call-1");
  first = natter_test_ws_expect (alice, "call_ringing");
  send_invitation (alice, fixture->carol, "call-2");
  second = natter_test_ws_expect (alice, "call_ringing");
  send_invitation (alice, fixture->bob, "call-3");
  third = natter_test_ws_expect (alice, "call_unavailable");
  g_assert_cmpstr (third->client_call_id, ==, "call-3");
  g_assert_cmpstr (third->reason, ==, "busy");
  g_assert_cmpint (third->call_log_id, ==, 0);
  /* On two nodes the first invitation may reach Bob after Alice's answer
   * to the third: wait for it, then there must be no other. */
  natter_test_wait_until (natter_test_ws_count (bob, "call_invitation") >= 1, 5000);
  g_assert_cmpuint (natter_test_ws_count (bob, "call_invitation"), ==, 1);

  /* One ends: a new one may ring. */
  natter_test_ws_send_printf (
    alice, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", first->call_log_id);
  send_invitation (alice, fixture->bob, "call-4");
  after = natter_test_ws_expect (alice, "call_ringing");
  g_assert_cmpstr (after->client_call_id, ==, "call-4");
}

/* A closed WebSocket gives its slot of --max-connections-per-address
 * back at once: the request guard looks at WebSockets only every tenth
 * sweep, but an address at its limit is counted again on the spot. */
static const char *const per_address_args[] = { "--max-connections-per-address", "8", NULL };

static void
test_closed_websocket_frees_its_address_slot (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_test_server_get_url (fixture->server);
  gint64 profile_id = fixture->alice->profile->profile_id;
  g_autoptr (GPtrArray) open =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_test_ws_free);
  NatterTestWs *ws;
  guint status = 0;
  gint64 deadline;

  /* Up to the limit (the set-up's HTTP connections may hold some). */
  for (;;) {
    ws = natter_test_ws_connect (url, profile_id, "tutor", fixture->alice->token, NULL, 0, &status);
    if (ws == NULL)
      break;
    g_ptr_array_add (open, ws);
    g_assert_cmpuint (open->len, <=, 8);
  }
  g_assert_cmpuint (status, ==, 429);
  g_assert_cmpuint (open->len, >=, 1);

  /* One closes; the next upgrade is let in long before a sweep of every
   * connection would have noticed (10 s). */
  natter_test_ws_close (g_ptr_array_index (open, 0));
  g_assert_cmpuint (natter_test_ws_wait_closed (g_ptr_array_index (open, 0), 5000), !=, 0);
  g_ptr_array_remove_index (open, 0);
  deadline = g_get_monotonic_time () + natter_test_scale_ms (3000) * (gint64) 1000;
  for (;;) {
    ws = natter_test_ws_connect (url, profile_id, "tutor", fixture->alice->token, NULL, 0, &status);
    if (ws != NULL)
      break;
    g_assert_cmpuint (status, ==, 429);
    g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    natter_test_iterate_until (g_get_monotonic_time () + 50 * 1000);
  }
  g_ptr_array_add (open, ws);
}

static const char *const invitation_rate_args[] = { "--call-invitations-per-minute", "3",
                                                    "--max-ringing-calls", "100", NULL };

/* At most N invitations a minute: the next is refused as rate_limited. */
static void
test_invitations_per_minute (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterFrame) limited = NULL;

  /* Bob is offline: each passes as call_unavailable "offline". */
  for (guint i = 0; i < 3; i++) {
    g_autofree char *id = g_strdup_printf ("rate-%u", i);
    g_autoptr (NatterFrame) unavailable = NULL;

    send_invitation (alice, fixture->bob, id);
    unavailable = natter_test_ws_expect (alice, "call_unavailable");
    g_assert_cmpstr (unavailable->reason, ==, "offline");
  }
  send_invitation (alice, fixture->bob, "rate-3");
  limited = natter_test_ws_expect_error (alice, "rate_limited");
  g_assert_cmpstr (limited->ref, ==, "rate-3");
  natter_test_ws_assert_none (alice, "call_unavailable", 200);
}

static const char *const candidate_args[] = { "--max-call-candidates", "3", NULL };

/* A device that joins during the ring gets the invitation and at most the
 * kept candidates; the devices already ringing get every one. */
static void
test_kept_candidates_are_capped (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob1 = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterTestWs) bob2 = NULL;
  g_autoptr (NatterFrame) ringing = NULL;
  g_autoptr (NatterFrame) invitation = NULL;
  const char *const candidates[] = { CANDIDATE (1), CANDIDATE (2), CANDIDATE (3), CANDIDATE (4),
                                     CANDIDATE (5) };

  send_invitation (alice, fixture->bob, "cand");
  ringing = natter_test_ws_expect (alice, "call_ringing");
  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    natter_test_ws_send_printf (
      alice, "{\"type\":\"ice_candidate\",\"call_log_id\":%" G_GINT64_FORMAT ",\"candidate\":%s}",
      ringing->call_log_id, candidates[i]);
  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++) {
    g_autoptr (NatterFrame) candidate = natter_test_ws_expect (bob1, "ice_candidate");
  }

  bob2 = natter_test_peer_open (fixture->server, fixture->bob);
  invitation = natter_test_ws_expect (bob2, "call_invitation");
  natter_test_ws_assert_none (bob2, "call_cancelled", 300);
  g_assert_cmpuint (natter_test_ws_count (bob2, "ice_candidate"), ==, 3);
}

/* Answering a call takes part like writing: the first answered call
 * between two strangers gives each the other's presence at once. */
static void
test_answered_call_makes_contacts (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) carol = natter_test_peer_open (fixture->server, fixture->carol);
  g_autoptr (NatterFrame) ringing = NULL;
  g_autoptr (NatterFrame) invitation = NULL;
  g_autoptr (NatterFrame) answer = NULL;
  g_autoptr (NatterFrame) on_alice = NULL;
  g_autoptr (NatterFrame) on_carol = NULL;

  natter_test_ws_assert_none (alice, "presence", 200);
  send_invitation (alice, fixture->carol, "first-call");
  ringing = natter_test_ws_expect (alice, "call_ringing");
  /* Carol answers once it rang: on two nodes (NATTER_TEST_NODES=2) the
   * ring reaches her through Redis after alice's call_ringing. */
  invitation = natter_test_ws_expect (carol, "call_invitation");
  g_assert_cmpint (invitation->call_log_id, ==, ringing->call_log_id);
  g_assert_cmpuint (natter_test_ws_count (carol, "presence"), ==, 0);
  natter_test_ws_send_printf (carol,
                              "{\"type\":\"call_answer\",\"call_log_id\":%" G_GINT64_FORMAT
                              ",\"answer\":{\"type\":\"answer\",\"sdp\":\"v=0\\r\\no=- 2 1 IN IP4 "
                              "127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n\"}}",
                              ringing->call_log_id);
  answer = natter_test_ws_expect (alice, "call_answer");
  on_alice = natter_test_ws_expect (alice, "presence");
  g_assert_cmpint (on_alice->profile->profile_id, ==, fixture->carol->profile->profile_id);
  g_assert_true (on_alice->online);
  on_carol = natter_test_ws_expect (carol, "presence");
  g_assert_cmpint (on_carol->profile->profile_id, ==, fixture->alice->profile->profile_id);
}

/* A caller's missed calls to a profile away since are one missed_call
 * event with a count, at the end of the history. */
static void
test_missed_calls_while_away_are_one_event (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) carol = natter_test_peer_open (fixture->server, fixture->carol);
  g_autoptr (NatterTestWs) bob = NULL;
  g_autoptr (NatterFrame) done = NULL;
  g_autoptr (NatterFrame) from_alice = NULL;
  g_autoptr (NatterFrame) from_carol = NULL;
  g_autoptr (NatterFrame) again = NULL;

  for (guint i = 0; i < 5; i++) {
    g_autofree char *id = g_strdup_printf ("away-%u", i);
    g_autoptr (NatterFrame) unavailable = NULL;

    send_invitation (alice, fixture->bob, id);
    unavailable = natter_test_ws_expect (alice, "call_unavailable");
    g_assert_cmpstr (unavailable->reason, ==, "offline");
  }
  send_invitation (carol, fixture->bob, "carol-1");
  g_clear_pointer (&done, natter_frame_free);
  done = natter_test_ws_expect (carol, "call_unavailable");

  bob = natter_test_peer_open (fixture->server, fixture->bob);
  natter_test_ws_send (bob, "{\"type\":\"sync\",\"after_event_id\":0}");
  g_clear_pointer (&done, natter_frame_free);
  done = natter_test_ws_expect (bob, "sync_done");
  g_assert_cmpuint (natter_test_ws_count (bob, "missed_call"), ==, 2);
  from_alice = natter_test_ws_expect (bob, "missed_call");
  from_carol = natter_test_ws_expect (bob, "missed_call");
  g_assert_cmpint (from_alice->call->caller->profile_id, ==, fixture->alice->profile->profile_id);
  g_assert_cmpint (from_alice->count, ==, 5);
  g_assert_cmpint (from_carol->count, ==, 1);
  g_assert_cmpint (from_carol->event_id, >, from_alice->event_id);

  /* Bob was online since: the next missed call is news of its own. */
  natter_test_ws_close (bob);
  g_clear_pointer (&bob, natter_test_ws_free);
  /* Only Alice and Carol left, as the server sees it: an invitation that
   * overtook Bob's close would ring him instead. */
  natter_test_wait_until (natter_test_server_metric (fixture->server, "natter_connections ") == 2,
                          10000);
  send_invitation (alice, fixture->bob, "later");
  g_clear_pointer (&done, natter_frame_free);
  done = natter_test_ws_expect (alice, "call_unavailable");
  bob = natter_test_peer_open (fixture->server, fixture->bob);
  natter_test_ws_send_printf (bob, "{\"type\":\"sync\",\"after_event_id\":%" G_GINT64_FORMAT "}",
                              from_carol->event_id);
  again = natter_test_ws_expect (bob, "missed_call");
  g_assert_cmpint (again->count, ==, 1);
}

static char *
hello_epoch (Fixture *fixture)
{
  g_autoptr (NatterTestWs) ws = NULL;
  g_autoptr (NatterFrame) hello = NULL;
  guint status = 0;

  ws = natter_test_ws_connect (natter_test_server_get_url (fixture->server),
                               fixture->alice->profile->profile_id, "tutor", fixture->alice->token,
                               NULL, 0, &status);
  g_assert_nonnull (ws);
  hello = natter_test_ws_expect (ws, "hello");
  g_assert_nonnull (hello->server_epoch);
  return g_strdup (hello->server_epoch);
}

/* hello names the database's event history: made once with the database,
 * the same after a restart, another for another database. */
static void
test_hello_has_server_epoch (Fixture *fixture, gconstpointer data)
{
  g_autofree char *epoch = hello_epoch (fixture);
  g_autofree char *after_restart = NULL;
  NatterTestServer *other = natter_test_server_new (NULL);
  NatterTestPeer *someone = natter_test_peer_new (other, "someone", "tutor");
  NatterTestWs *other_ws = NULL;
  g_autoptr (NatterFrame) other_hello = NULL;
  guint status = 0;

  g_assert_cmpuint (strlen (epoch), ==, 32);

  natter_test_server_stop (fixture->server);
  natter_test_server_restart (fixture->server);
  after_restart = hello_epoch (fixture);
  g_assert_cmpstr (after_restart, ==, epoch);

  other_ws =
    natter_test_ws_connect (natter_test_server_get_url (other), someone->profile->profile_id,
                            "tutor", someone->token, NULL, 0, &status);
  other_hello = natter_test_ws_expect (other_ws, "hello");
  g_assert_cmpstr (other_hello->server_epoch, !=, epoch);

  natter_test_ws_free (other_ws);
  natter_test_peer_free (someone);
  natter_test_server_free (other);
}

/* An event that could not be stored is never sent; the sender gets
 * `internal` with its client_msg_id as ref, and may retry. The database is
 * made full on purpose (NATTER_TEST_DB_MAX_PAGE_COUNT). */
static void
test_unstored_event_is_never_sent (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice1 = NULL;
  g_autoptr (NatterTestWs) alice2 = NULL;
  g_autoptr (NatterTestWs) bob = NULL;
  g_autofree char *text = g_strnfill (4000, 'y');
  guint n_failed = 0;
  guint n_stored = 0;

  natter_test_server_stop (fixture->server);
  g_setenv ("NATTER_TEST_DB_MAX_PAGE_COUNT", "8", TRUE);
  natter_test_server_restart (fixture->server);
  g_unsetenv ("NATTER_TEST_DB_MAX_PAGE_COUNT");

  alice1 = natter_test_peer_open (fixture->server, fixture->alice);
  alice2 = natter_test_peer_open (fixture->server, fixture->alice);
  bob = natter_test_peer_open (fixture->server, fixture->bob);

  for (guint i = 0; i < 40 && n_failed == 0; i++) {
    g_autofree char *id = g_strdup_printf ("full-%u", i);
    g_autoptr (NatterFrame) answer = NULL;

    natter_test_ws_send_printf (alice1,
                                "{\"type\":\"chat_message\",\"client_msg_id\":\"%s\","
                                "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"%s\"}",
                                id, fixture->conversation_id, text);
    do {
      g_clear_pointer (&answer, natter_frame_free);
      answer = natter_test_ws_next (alice1);
    } while (answer->type != NATTER_FRAME_MESSAGE_ACK && answer->type != NATTER_FRAME_ERROR);

    if (answer->type == NATTER_FRAME_ERROR) {
      g_assert_cmpstr (answer->code, ==, "internal");
      g_assert_cmpstr (answer->ref, ==, id);
      n_failed++;
    } else {
      g_autoptr (NatterFrame) on_bob = natter_test_ws_expect (bob, "chat_message");
      g_autoptr (NatterFrame) on_alice2 = natter_test_ws_expect (alice2, "chat_message");

      g_assert_cmpstr (on_bob->message->client_msg_id, ==, id);
      n_stored++;
    }
  }
  g_test_message ("%u messages stored before the database was full", n_stored);
  g_assert_cmpuint (n_failed, ==, 1);

  /* The failed message reached nobody. */
  natter_test_ws_assert_none (bob, "chat_message", 300);
  g_assert_cmpuint (natter_test_ws_count (alice2, "chat_message"), ==, 0);

  /* Nothing of it is stored either: the history has the stored ones. */
  {
    g_autoptr (NatterFrame) done = NULL;

    natter_test_ws_send (bob, "{\"type\":\"sync\",\"after_event_id\":0}");
    done = natter_test_ws_expect (bob, "sync_done");
    g_assert_cmpint (done->last_event_id, ==, n_stored);
  }
}

static char *
blocks_path (NatterTestPeer *peer)
{
  return g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/blocks", peer->profile->profile_id,
                          peer->profile->profile_type);
}

/* Blocks: the blocked profile can no longer write, call, start a
 * conversation or see presence (not_allowed, as for a stranger); history
 * stays; unblocking lets it write again. */
static void
test_block_stops_everything (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = NULL;
  g_autoptr (NatterTestWs) bob = NULL;
  g_autoptr (NatterTestWs) alice_again = NULL;
  g_autoptr (NatterFrame) online = NULL;
  g_autoptr (NatterFrame) offline = NULL;
  g_autoptr (NatterFrame) refused = NULL;
  g_autoptr (NatterFrame) before = NULL;
  g_autoptr (GPtrArray) blocked = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = blocks_path (fixture->bob);
  g_autofree char *answer = NULL;
  g_autofree char *body = NULL;
  g_autofree char *delete_path = NULL;
  g_autofree char *conversations_path = NULL;
  guint status = 0;

  natter_test_peers_befriend (fixture->server, fixture->alice, fixture->bob);
  alice = natter_test_peer_open (fixture->server, fixture->alice);
  bob = natter_test_peer_open (fixture->server, fixture->bob);
  online = natter_test_ws_expect (alice, "presence");
  g_assert_true (online->online);

  /* By profile before the block: the hub then knows the pair's
   * conversation, and the block below must hold all the same. */
  natter_test_ws_send_printf (alice,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"before-block\","
                              "\"to_profile_id\":%" G_GINT64_FORMAT
                              ",\"to_profile_type\":\"student\",\"text\":\"hi\"}",
                              fixture->bob->profile->profile_id);
  before = natter_test_ws_expect (alice, "message_ack");
  g_assert_cmpstr (before->client_msg_id, ==, "before-block");
  g_assert_cmpint (before->message->conversation_id, ==, fixture->conversation_id);
  g_clear_pointer (&before, natter_frame_free);
  before = natter_test_ws_expect (bob, "chat_message");

  body =
    g_strdup_printf ("{\"profile_id\":%" G_GINT64_FORMAT ",\"profile_type\":\"%s\"}",
                     fixture->alice->profile->profile_id, fixture->alice->profile->profile_type);
  answer = natter_test_http (fixture->server, "POST", path, fixture->bob->token, body, &status);
  g_assert_cmpuint (status, ==, 204);
  offline = natter_test_ws_expect (alice, "presence");
  g_assert_cmpint (offline->profile->profile_id, ==, fixture->bob->profile->profile_id);
  g_assert_false (offline->online);

  /* Only the owner lists or changes a profile's blocks. */
  g_free (answer);
  answer = natter_test_http (fixture->server, "GET", path, fixture->alice->token, NULL, &status);
  g_assert_cmpuint (status, ==, 403);
  g_free (answer);
  answer = natter_test_http (fixture->server, "GET", path, fixture->bob->token, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  blocked = natter_block_list_parse (answer, strlen (answer), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (blocked->len, ==, 1);
  g_assert_true (natter_profile_equal (g_ptr_array_index (blocked, 0), fixture->alice->profile));
  g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (blocked, 0))->display_name, ==, "alice");

  /* Messages, by conversation or by profile. */
  natter_test_ws_send_printf (alice,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"blocked-1\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"hey\"}",
                              fixture->conversation_id);
  refused = natter_test_ws_expect_error (alice, "not_allowed");
  g_assert_cmpstr (refused->ref, ==, "blocked-1");
  natter_test_ws_send_printf (alice,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"blocked-2\","
                              "\"to_profile_id\":%" G_GINT64_FORMAT
                              ",\"to_profile_type\":\"student\",\"text\":\"hey\"}",
                              fixture->bob->profile->profile_id);
  g_clear_pointer (&refused, natter_frame_free);
  refused = natter_test_ws_expect_error (alice, "not_allowed");
  g_assert_cmpstr (refused->ref, ==, "blocked-2");

  /* Calls and typing. */
  send_invitation (alice, fixture->bob, "blocked-call");
  g_clear_pointer (&refused, natter_frame_free);
  refused = natter_test_ws_expect_error (alice, "not_allowed");
  g_assert_cmpstr (refused->ref, ==, "blocked-call");
  natter_test_ws_send_printf (
    alice, "{\"type\":\"typing\",\"conversation_id\":%" G_GINT64_FORMAT ",\"active\":true}",
    fixture->conversation_id);
  natter_test_ws_assert_none (bob, "typing", 300);
  g_assert_cmpuint (natter_test_ws_count (bob, "chat_message"), ==, 0);
  g_assert_cmpuint (natter_test_ws_count (bob, "call_invitation"), ==, 0);

  /* A new conversation, the way a stranger would try. */
  conversations_path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/tutor/conversations",
                                        fixture->alice->profile->profile_id);
  g_free (body);
  body = g_strdup_printf ("{\"with\":[{\"profile_id\":%" G_GINT64_FORMAT
                          ",\"profile_type\":\"student\"}]}",
                          fixture->bob->profile->profile_id);
  g_free (answer);
  answer = natter_test_http (fixture->server, "POST", conversations_path, fixture->alice->token,
                             body, &status);
  g_assert_cmpuint (status, ==, 403);
  g_assert_nonnull (strstr (answer, "not_allowed"));

  /* Presence: a new connection of Alice does not see Bob online. */
  alice_again = natter_test_peer_open (fixture->server, fixture->alice);
  natter_test_ws_assert_none (alice_again, "presence", 300);

  /* Unblocked: Alice writes again. */
  delete_path =
    g_strdup_printf ("%s/tutor/%" G_GINT64_FORMAT, path, fixture->alice->profile->profile_id);
  g_free (answer);
  answer =
    natter_test_http (fixture->server, "DELETE", delete_path, fixture->bob->token, NULL, &status);
  g_assert_cmpuint (status, ==, 204);
  g_free (answer);
  answer = natter_test_http (fixture->server, "GET", path, fixture->bob->token, NULL, &status);
  g_assert_cmpstr (answer, ==, "{\"blocked\":[]}");
  natter_test_ws_send_printf (alice,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"again\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"sorry\"}",
                              fixture->conversation_id);
  g_clear_pointer (&refused, natter_frame_free);
  refused = natter_test_ws_expect (bob, "chat_message");
  g_assert_cmpstr (refused->message->text, ==, "sorry");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, args, func)                                                           \
  g_test_add ("/natter/server-hardening-ws/" path, Fixture, args, fixture_set_up, func, \
              fixture_tear_down)

  ADD ("sync-flood-of-a-client-that-never-reads", slow_reader_args,
       test_sync_flood_of_a_client_that_never_reads);
  ADD ("one-sync-at-a-time", slow_reader_args, test_one_sync_at_a_time);
  ADD ("replay-stops-at-byte-limit", replay_bytes_args, test_replay_stops_at_byte_limit);
  ADD ("writer-that-never-answers-pings-is-dead", heartbeat_args,
       test_writer_that_never_answers_pings_is_dead);
  ADD ("ack-carries-own-event-and-no-copy", NULL, test_ack_carries_own_event_and_no_copy);
  ADD ("mark-read-that-does-not-advance", NULL, test_mark_read_that_does_not_advance);
  ADD ("typing-is-limited", NULL, test_typing_is_limited);
  ADD ("third-ringing-call-is-busy", NULL, test_third_ringing_call_is_busy);
  ADD ("closed-websocket-frees-its-address-slot", per_address_args,
       test_closed_websocket_frees_its_address_slot);
  ADD ("invitations-per-minute", invitation_rate_args, test_invitations_per_minute);
  ADD ("kept-candidates-are-capped", candidate_args, test_kept_candidates_are_capped);
  ADD ("missed-calls-while-away-are-one-event", NULL, test_missed_calls_while_away_are_one_event);
  ADD ("answered-call-makes-contacts", NULL, test_answered_call_makes_contacts);
  ADD ("hello-has-server-epoch", NULL, test_hello_has_server_epoch);
  ADD ("unstored-event-is-never-sent", NULL, test_unstored_event_is_never_sent);
  ADD ("block-stops-everything", NULL, test_block_stops_everything);
#undef ADD

  return g_test_run ();
}
