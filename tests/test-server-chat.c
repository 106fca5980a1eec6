/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-chat"

#include "natter-http-body.h"
#include "natter-test-server.h"
#include "natter-test-ws.h"

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
  fixture->server = natter_test_server_new (NULL);
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

static GPtrArray *
fetch_messages (Fixture *fixture, NatterTestPeer *viewer, gint64 conversation_id)
{
  g_autofree char *path = NULL;
  g_autofree char *answer = NULL;
  g_autoptr (GError) error = NULL;
  GPtrArray *messages;
  gboolean has_more = FALSE;
  guint status = 0;

  path =
    g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/conversations/%" G_GINT64_FORMAT "/messages",
                     viewer->profile->profile_id, viewer->profile->profile_type, conversation_id);
  answer = natter_test_http (fixture->server, "GET", path, viewer->token, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  messages = natter_message_page_parse (answer, strlen (answer), &has_more, &error);
  g_assert_no_error (error);

  return messages;
}

static void
test_message_reaches_every_connection (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice1 = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) alice2 = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) ack = NULL;
  g_autoptr (NatterFrame) on_alice2 = NULL;
  g_autoptr (NatterFrame) on_bob = NULL;
  g_autoptr (GPtrArray) stored = NULL;

  natter_test_ws_send_printf (alice1,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"m-1\","
                              "\"conversation_id\":%" G_GINT64_FORMAT
                              ",\"text\":\"  hello bob  \"}",
                              fixture->conversation_id);

  ack = natter_test_ws_expect (alice1, "message_ack");
  g_assert_cmpstr (ack->client_msg_id, ==, "m-1");
  g_assert_cmpint (ack->message->conversation_id, ==, fixture->conversation_id);
  g_assert_cmpint (ack->message->seq, ==, 1);
  g_assert_cmpstr (ack->message->text, ==, "hello bob");
  g_assert_cmpint (ack->message->sender->profile_id, ==, fixture->alice->profile->profile_id);

  /* The ack means stored: the history already has it. */
  stored = fetch_messages (fixture, fixture->bob, fixture->conversation_id);
  g_assert_cmpuint (stored->len, ==, 1);

  /* The sending connection has its ack, with its own event id, and no
   * copy; Alice's other device gets the message as that same event. */
  on_alice2 = natter_test_ws_expect (alice2, "chat_message");
  on_bob = natter_test_ws_expect (bob, "chat_message");
  g_assert_cmpint (on_bob->message->message_id, ==, ack->message->message_id);
  g_assert_cmpint (on_alice2->message->message_id, ==, ack->message->message_id);
  g_assert_cmpint (on_bob->event_id, >, 0);
  g_assert_cmpint (ack->event_id, >, 0);
  g_assert_cmpint (on_alice2->event_id, ==, ack->event_id);
  natter_test_ws_assert_none (alice1, "chat_message", 300);
  g_assert_cmpint (on_bob->from_profile_id, ==, fixture->alice->profile->profile_id);
  g_assert_cmpstr (on_bob->from_name, ==, "alice");
}

static void
test_to_profile_uses_direct_conversation (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) carol = natter_test_peer_open (fixture->server, fixture->carol);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) first = NULL;
  g_autoptr (NatterFrame) second = NULL;
  g_autoptr (NatterFrame) on_bob = NULL;

  natter_test_ws_send_printf (carol,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\","
                              "\"to_profile_id\":%" G_GINT64_FORMAT
                              ",\"to_profile_type\":\"Student\",\"text\":\"hi\"}",
                              fixture->bob->profile->profile_id);
  first = natter_test_ws_expect (carol, "message_ack");
  g_assert_cmpint (first->message->conversation_id, !=, fixture->conversation_id);

  natter_test_ws_send_printf (carol,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"c-2\","
                              "\"to_profile_id\":%" G_GINT64_FORMAT
                              ",\"to_profile_type\":\"student\",\"text\":\"again\"}",
                              fixture->bob->profile->profile_id);
  second = natter_test_ws_expect (carol, "message_ack");
  g_assert_cmpint (second->message->conversation_id, ==, first->message->conversation_id);
  g_assert_cmpint (second->message->seq, ==, 2);

  on_bob = natter_test_ws_expect (bob, "chat_message");
  g_assert_cmpint (on_bob->message->conversation_id, ==, first->message->conversation_id);
}

static void
test_duplicate_client_msg_id (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) ack1 = NULL;
  g_autoptr (NatterFrame) ack2 = NULL;
  g_autoptr (NatterFrame) event = NULL;
  g_autoptr (GPtrArray) stored = NULL;
  g_autofree char *frame = NULL;

  frame = g_strdup_printf ("{\"type\":\"chat_message\",\"client_msg_id\":\"dup-1\","
                           "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"once\"}",
                           fixture->conversation_id);
  natter_test_ws_send (alice, frame);
  ack1 = natter_test_ws_expect (alice, "message_ack");
  event = natter_test_ws_expect (bob, "chat_message");

  /* The retry, as after a reconnect. */
  natter_test_ws_send (alice, frame);
  ack2 = natter_test_ws_expect (alice, "message_ack");
  g_assert_cmpint (ack2->message->message_id, ==, ack1->message->message_id);
  g_assert_cmpint (ack2->message->seq, ==, ack1->message->seq);
  g_assert_cmpstr (ack2->message->sent_at, ==, ack1->message->sent_at);

  natter_test_ws_assert_none (bob, "chat_message", 300);
  stored = fetch_messages (fixture, fixture->alice, fixture->conversation_id);
  g_assert_cmpuint (stored->len, ==, 1);
}

static void
test_not_a_participant (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) carol = natter_test_peer_open (fixture->server, fixture->carol);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) not_allowed = NULL;
  g_autoptr (NatterFrame) not_found = NULL;
  g_autoptr (NatterFrame) typing = NULL;
  g_autoptr (NatterFrame) mark_read = NULL;
  g_autoptr (NatterFrame) no_profile = NULL;

  natter_test_ws_send_printf (carol,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"intruder\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"let me in\"}",
                              fixture->conversation_id);
  not_allowed = natter_test_ws_expect_error (carol, "not_allowed");
  g_assert_cmpstr (not_allowed->ref, ==, "intruder");

  natter_test_ws_send (carol, "{\"type\":\"chat_message\",\"client_msg_id\":\"lost\","
                              "\"conversation_id\":987654,\"text\":\"anyone?\"}");
  not_found = natter_test_ws_expect_error (carol, "not_found");
  g_assert_cmpstr (not_found->ref, ==, "lost");

  natter_test_ws_send (
    carol, "{\"type\":\"chat_message\",\"client_msg_id\":\"nobody\","
           "\"to_profile_id\":987654,\"to_profile_type\":\"student\",\"text\":\"anyone?\"}");
  no_profile = natter_test_ws_expect_error (carol, "not_found");

  natter_test_ws_send_printf (
    carol, "{\"type\":\"typing\",\"conversation_id\":%" G_GINT64_FORMAT ",\"active\":true}",
    fixture->conversation_id);
  typing = natter_test_ws_expect_error (carol, "not_allowed");

  natter_test_ws_send_printf (
    carol, "{\"type\":\"mark_read\",\"conversation_id\":%" G_GINT64_FORMAT ",\"up_to_seq\":1}",
    fixture->conversation_id);
  mark_read = natter_test_ws_expect_error (carol, "not_allowed");

  natter_test_ws_assert_none (bob, "chat_message", 200);
  g_assert_cmpuint (natter_test_ws_count (bob, "typing"), ==, 0);
  g_assert_cmpuint (natter_test_ws_count (bob, "read_receipt"), ==, 0);
}

static void
test_forged_sender_is_ignored (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) event = NULL;
  g_autoptr (NatterFrame) typing = NULL;

  /* Alice pretends to be Bob, in the stamp and in a "sender". */
  natter_test_ws_send_printf (
    alice,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"forged\","
    "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"trust me\","
    "\"from_profile_id\":%" G_GINT64_FORMAT ",\"from_profile_type\":\"student\","
    "\"from_name\":\"bob\",\"from_avatar\":\"/evil.png\","
    "\"sender\":{\"profile_id\":%" G_GINT64_FORMAT ",\"profile_type\":\"student\"}}",
    fixture->conversation_id, fixture->bob->profile->profile_id, fixture->bob->profile->profile_id);
  event = natter_test_ws_expect (bob, "chat_message");
  g_assert_cmpint (event->message->sender->profile_id, ==, fixture->alice->profile->profile_id);
  g_assert_cmpstr (event->message->sender->profile_type, ==, "tutor");
  g_assert_cmpint (event->from_profile_id, ==, fixture->alice->profile->profile_id);
  g_assert_cmpstr (event->from_name, ==, "alice");
  g_assert_cmpstr (event->from_avatar, !=, "/evil.png");

  natter_test_ws_send_printf (alice,
                              "{\"type\":\"typing\",\"conversation_id\":%" G_GINT64_FORMAT
                              ",\"active\":true,"
                              "\"from_profile_id\":%" G_GINT64_FORMAT
                              ",\"from_profile_type\":\"student\",\"from_name\":\"bob\"}",
                              fixture->conversation_id, fixture->bob->profile->profile_id);
  typing = natter_test_ws_expect (bob, "typing");
  g_assert_cmpint (typing->from_profile_id, ==, fixture->alice->profile->profile_id);
  g_assert_cmpstr (typing->from_profile_type, ==, "tutor");
  g_assert_cmpstr (typing->from_name, ==, "alice");
}

/* Messages the frame alone refuses (to oneself; no recipient), in one
 * batch with a good one: each gets its error with its ref, the good one
 * its ack, and the server lives on (it once freed the refused ones' empty
 * checks as if they were checks, and crashed). */
static void
test_refused_by_the_frame (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterFrame) to_self = NULL;
  g_autoptr (NatterFrame) nobody = NULL;
  g_autoptr (NatterFrame) ack = NULL;
  g_autoptr (NatterFrame) again = NULL;

  natter_test_ws_send_printf (
    alice,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"self\","
    "\"to_profile_id\":%" G_GINT64_FORMAT ",\"to_profile_type\":\"%s\",\"text\":\"me\"}",
    fixture->alice->profile->profile_id, fixture->alice->profile->profile_type);
  natter_test_ws_send_printf (alice, "{\"type\":\"chat_message\",\"client_msg_id\":\"nobody\","
                                     "\"text\":\"to whom?\"}");
  natter_test_ws_send_printf (alice,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"good\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"hi\"}",
                              fixture->conversation_id);

  /* The frame parser may refuse the second before the batch sees the
   * first: told apart by their refs. */
  to_self = natter_test_ws_expect (alice, "error");
  nobody = natter_test_ws_expect (alice, "error");
  if (g_strcmp0 (to_self->ref, "self") != 0) {
    NatterFrame *swap = to_self;

    to_self = nobody;
    nobody = swap;
  }
  g_assert_cmpstr (to_self->code, ==, "not_allowed");
  g_assert_cmpstr (to_self->ref, ==, "self");
  g_assert_cmpstr (nobody->code, ==, "bad_frame");
  g_assert_cmpstr (nobody->ref, ==, "nobody");
  ack = natter_test_ws_expect (alice, "message_ack");
  g_assert_cmpstr (ack->client_msg_id, ==, "good");

  natter_test_ws_send_printf (alice,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"after\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"still here\"}",
                              fixture->conversation_id);
  again = natter_test_ws_expect (alice, "message_ack");
  g_assert_cmpstr (again->client_msg_id, ==, "after");
}

static void
test_too_long (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterFrame) error = NULL;
  g_autoptr (NatterFrame) ack = NULL;
  g_autofree char *text = g_strnfill (4097, 'a');
  g_autofree char *fits = g_strnfill (4096, 'b');

  natter_test_ws_send_printf (alice,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"long\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"%s\"}",
                              fixture->conversation_id, text);
  error = natter_test_ws_expect_error (alice, "too_long");
  g_assert_cmpstr (error->ref, ==, "long");

  natter_test_ws_send_printf (alice,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"fits\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"%s\"}",
                              fixture->conversation_id, fits);
  ack = natter_test_ws_expect (alice, "message_ack");
  g_assert_cmpuint (strlen (ack->message->text), ==, 4096);
}

static void
test_typing_goes_to_the_others (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice1 = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) alice2 = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) typing = NULL;

  natter_test_ws_send_printf (
    alice1, "{\"type\":\"typing\",\"conversation_id\":%" G_GINT64_FORMAT ",\"active\":true}",
    fixture->conversation_id);
  typing = natter_test_ws_expect (bob, "typing");
  g_assert_cmpint (typing->conversation_id, ==, fixture->conversation_id);
  g_assert_true (typing->active);
  g_assert_cmpint (typing->from_profile_id, ==, fixture->alice->profile->profile_id);

  natter_test_ws_assert_none (alice2, "typing", 200);
  g_assert_cmpuint (natter_test_ws_count (alice1, "typing"), ==, 0);
}

static void
test_mark_read_reaches_everyone (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob1 = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterTestWs) bob2 = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) ack = NULL;
  g_autoptr (NatterFrame) on_alice = NULL;
  g_autoptr (NatterFrame) on_bob1 = NULL;
  g_autoptr (NatterFrame) on_bob2 = NULL;

  for (guint i = 0; i < 2; i++) {
    g_autoptr (NatterFrame) one_ack = NULL;

    natter_test_ws_send_printf (alice,
                                "{\"type\":\"chat_message\",\"client_msg_id\":\"r-%u\","
                                "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"read me\"}",
                                i, fixture->conversation_id);
    one_ack = natter_test_ws_expect (alice, "message_ack");
  }

  /* Beyond the last seq: stored clamped to 2. */
  natter_test_ws_send_printf (
    bob1, "{\"type\":\"mark_read\",\"conversation_id\":%" G_GINT64_FORMAT ",\"up_to_seq\":9}",
    fixture->conversation_id);
  on_alice = natter_test_ws_expect (alice, "read_receipt");
  on_bob1 = natter_test_ws_expect (bob1, "read_receipt");
  on_bob2 = natter_test_ws_expect (bob2, "read_receipt");

  g_assert_cmpint (on_alice->profile->profile_id, ==, fixture->bob->profile->profile_id);
  g_assert_cmpint (on_alice->conversation_id, ==, fixture->conversation_id);
  g_assert_cmpint (on_alice->up_to_seq, ==, 2);
  g_assert_cmpint (on_alice->event_id, >, 0);
  g_assert_cmpint (on_bob1->event_id, ==, on_bob2->event_id);
  g_assert_cmpint (on_bob2->up_to_seq, ==, 2);
}

static void
test_acked_messages_survive_kill (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = NULL;
  g_autoptr (NatterFrame) done = NULL;
  g_autoptr (GPtrArray) stored = NULL;
  guint n_events = 0;

  for (guint i = 0; i < 5; i++) {
    g_autoptr (NatterFrame) ack = NULL;

    natter_test_ws_send_printf (alice,
                                "{\"type\":\"chat_message\",\"client_msg_id\":\"k-%u\","
                                "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"durable %u\"}",
                                i, fixture->conversation_id, i);
    ack = natter_test_ws_expect (alice, "message_ack");
  }

  natter_test_server_kill (fixture->server);
  g_assert_cmpuint (natter_test_ws_wait_closed (alice, 5000), !=, 0);
  natter_test_server_restart (fixture->server);

  bob = natter_test_peer_open (fixture->server, fixture->bob);
  natter_test_ws_send (bob, "{\"type\":\"sync\",\"after_event_id\":0}");
  done = natter_test_ws_expect (bob, "sync_done");
  n_events = natter_test_ws_count (bob, "chat_message");
  g_assert_cmpuint (n_events, ==, 5);

  stored = fetch_messages (fixture, fixture->bob, fixture->conversation_id);
  g_assert_cmpuint (stored->len, ==, 5);
}

static void
assert_presence_of (NatterFrame *presence, NatterTestPeer *peer)
{
  g_assert_nonnull (presence);
  g_assert_cmpint (presence->profile->profile_id, ==, peer->profile->profile_id);
  g_assert_cmpstr (presence->profile->profile_type, ==, peer->profile->profile_type);
  g_assert_true (presence->online);
}

/* PROTOCOL.md 1.1: presence only between profiles who both took part in a
 * conversation. Opening one, or writing into it alone, tells nobody; the
 * answer of the other side makes them contacts, and each side learns the
 * other's presence then, once, on every device. */
static void
test_presence_waits_until_both_took_part (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestPeer) dave = natter_test_peer_new (fixture->server, "dave", "student");
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) carol = natter_test_peer_open (fixture->server, fixture->carol);
  g_autoptr (NatterTestWs) carol2 = natter_test_peer_open (fixture->server, fixture->carol);
  g_autoptr (NatterTestWs) dave_ws = NULL;
  g_autoptr (NatterFrame) ack = NULL;
  g_autoptr (NatterFrame) event = NULL;
  g_autoptr (NatterFrame) on_alice = NULL;
  g_autoptr (NatterFrame) on_carol = NULL;
  g_autoptr (NatterFrame) on_carol2 = NULL;

  /* Not contacts yet: nobody was told anything. */
  g_assert_cmpuint (natter_test_ws_count (alice, "presence"), ==, 0);
  g_assert_cmpuint (natter_test_ws_count (carol, "presence"), ==, 0);

  /* A stranger writes first: the conversation exists, but only Carol took
   * part: no presence either way. */
  natter_test_ws_send_printf (carol,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"n-1\","
                              "\"to_profile_id\":%" G_GINT64_FORMAT
                              ",\"to_profile_type\":\"tutor\",\"text\":\"hello\"}",
                              fixture->alice->profile->profile_id);
  ack = natter_test_ws_expect (carol, "message_ack");
  event = natter_test_ws_expect (alice, "chat_message");
  g_assert_cmpint (event->message->conversation_id, ==, ack->message->conversation_id);
  natter_test_ws_assert_none (alice, "presence", 300);
  g_assert_cmpuint (natter_test_ws_count (carol, "presence"), ==, 0);
  g_assert_cmpuint (natter_test_ws_count (carol2, "presence"), ==, 0);

  /* Alice answers: now both took part, each side learns of the other. */
  natter_test_ws_send_printf (alice,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"n-2\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"hi carol\"}",
                              ack->message->conversation_id);
  on_carol = natter_test_ws_expect (carol, "presence");
  assert_presence_of (on_carol, fixture->alice);
  on_carol2 = natter_test_ws_expect (carol2, "presence");
  assert_presence_of (on_carol2, fixture->alice);
  on_alice = natter_test_ws_expect (alice, "presence");
  assert_presence_of (on_alice, fixture->carol);

  /* Further messages are no news. */
  natter_test_ws_send_printf (carol,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"n-3\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"again\"}",
                              ack->message->conversation_id);
  do {
    g_clear_pointer (&event, natter_frame_free);
    event = natter_test_ws_expect (alice, "chat_message");
  } while (!g_str_equal (event->message->text, "again"));
  natter_test_ws_assert_none (alice, "presence", 200);
  g_assert_cmpuint (natter_test_ws_count (carol, "presence"), ==, 0);

  /* A conversation only opened over HTTP tells nobody, and a new
   * connection of a stranger learns nothing about who is online. */
  natter_test_peer_conversation_with (fixture->server, dave, fixture->carol);
  dave_ws = natter_test_peer_open (fixture->server, dave);
  natter_test_ws_assert_none (dave_ws, "presence", 300);
  g_assert_cmpuint (natter_test_ws_count (carol, "presence"), ==, 0);
  g_assert_cmpuint (natter_test_ws_count (alice, "presence"), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("/natter/server-chat/message-reaches-every-connection",
       test_message_reaches_every_connection);
  ADD ("/natter/server-chat/to-profile-uses-direct-conversation",
       test_to_profile_uses_direct_conversation);
  ADD ("/natter/server-chat/duplicate-client-msg-id", test_duplicate_client_msg_id);
  ADD ("/natter/server-chat/not-a-participant", test_not_a_participant);
  ADD ("/natter/server-chat/forged-sender-is-ignored", test_forged_sender_is_ignored);
  ADD ("/natter/server-chat/too-long", test_too_long);
  ADD ("/natter/server-chat/refused-by-the-frame", test_refused_by_the_frame);
  ADD ("/natter/server-chat/typing-goes-to-the-others", test_typing_goes_to_the_others);
  ADD ("/natter/server-chat/mark-read-reaches-everyone", test_mark_read_reaches_everyone);
  ADD ("/natter/server-chat/acked-messages-survive-kill", test_acked_messages_survive_kill);
  ADD ("/natter/server-chat/presence-waits-until-both-took-part",
       test_presence_waits_until_both_took_part);

  return g_test_run ();
}
