/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-calls"

#include "natter-http-body.h"
#include "natter-test-server.h"
#include "natter-test-ws.h"

#define OFFER \
  "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n\"}"
#define ANSWER \
  "{\"type\":\"answer\",\"sdp\":\"v=0\\r\\no=- 2 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n\"}"
#define CANDIDATE(n)                                                          \
  "{\"candidate\":\"candidate:" #n " 1 UDP 2122252543 192.0.2." #n " 5000" #n \
  " typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}"

typedef struct {
  NatterTestServer *server;
  NatterTestPeer *alice; /* calls */
  NatterTestPeer *bob;   /* is called */
  NatterTestPeer *carol; /* a stranger */
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  fixture->server = natter_test_server_new (data);
  fixture->alice = natter_test_peer_new (fixture->server, "alice", "tutor");
  fixture->bob = natter_test_peer_new (fixture->server, "bob", "student");
  fixture->carol = natter_test_peer_new (fixture->server, "carol", "parent");
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_clear_pointer (&fixture->alice, natter_test_peer_free);
  g_clear_pointer (&fixture->bob, natter_test_peer_free);
  g_clear_pointer (&fixture->carol, natter_test_peer_free);
  g_clear_pointer (&fixture->server, natter_test_server_free);
}

static void
send_invitation (NatterTestWs *caller,
                 NatterTestPeer *callee,
                 const char *client_call_id,
                 gint64 conversation_id)
{
  g_autofree char *conversation = NULL;

  if (conversation_id != 0)
    conversation = g_strdup_printf (",\"conversation_id\":%" G_GINT64_FORMAT, conversation_id);

  natter_test_ws_send_printf (caller,
                              "{\"type\":\"call_invitation\",\"client_call_id\":\"%s\","
                              "\"to_profile_id\":%" G_GINT64_FORMAT ",\"to_profile_type\":\"%s\","
                              "\"call_type\":\"video\"%s,\"offer\":" OFFER "}",
                              client_call_id, callee->profile->profile_id,
                              callee->profile->profile_type,
                              conversation != NULL ? conversation : "");
}

/* Invites @callee and returns the call_log_id of call_ringing. */
static gint64
start_call (NatterTestWs *caller, NatterTestPeer *callee)
{
  g_autofree char *client_call_id = natter_test_ws_uuid ();
  g_autoptr (NatterFrame) ringing = NULL;

  send_invitation (caller, callee, client_call_id, 0);
  ringing = natter_test_ws_expect (caller, "call_ringing");
  g_assert_cmpstr (ringing->client_call_id, ==, client_call_id);
  g_assert_cmpint (ringing->call_log_id, >, 0);

  return ringing->call_log_id;
}

/* A device acts on a call once it rang there: on two nodes
 * (NATTER_TEST_NODES=2) the ring reaches it through Redis after the
 * caller's call_ringing. */
static void
await_ring (NatterTestWs *device, gint64 call_log_id)
{
  g_autoptr (NatterFrame) invitation = natter_test_ws_expect (device, "call_invitation");

  g_assert_cmpint (invitation->call_log_id, ==, call_log_id);
}

static void
send_candidate (NatterTestWs *ws, gint64 call_log_id, const char *candidate)
{
  natter_test_ws_send_printf (
    ws, "{\"type\":\"ice_candidate\",\"call_log_id\":%" G_GINT64_FORMAT ",\"candidate\":%s}",
    call_log_id, candidate);
}

static void
send_answer (NatterTestWs *ws, gint64 call_log_id)
{
  natter_test_ws_send_printf (
    ws, "{\"type\":\"call_answer\",\"call_log_id\":%" G_GINT64_FORMAT ",\"answer\":" ANSWER "}",
    call_log_id);
}

static NatterCallLog *
fetch_call (Fixture *fixture, NatterTestPeer *viewer, gint64 call_log_id)
{
  g_autofree char *path = NULL;
  g_autofree char *answer = NULL;
  g_autoptr (GPtrArray) calls = NULL;
  g_autoptr (GError) error = NULL;
  guint status = 0;

  path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/calls", viewer->profile->profile_id,
                          viewer->profile->profile_type);
  answer = natter_test_http (fixture->server, "GET", path, viewer->token, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  calls = natter_call_log_list_parse (answer, strlen (answer), &error);
  g_assert_no_error (error);

  for (guint i = 0; i < calls->len; i++) {
    NatterCallLog *call_log = g_ptr_array_index (calls, i);

    if (call_log->call_log_id == call_log_id)
      return natter_call_log_copy (call_log);
  }

  g_error ("call %" G_GINT64_FORMAT " is not in the call log", call_log_id);
  return NULL;
}

static void
assert_call_status (Fixture *fixture, gint64 call_log_id, const char *status)
{
  g_autoptr (NatterCallLog) as_caller = fetch_call (fixture, fixture->alice, call_log_id);
  g_autoptr (NatterCallLog) as_callee = fetch_call (fixture, fixture->bob, call_log_id);

  g_assert_cmpstr (as_caller->status, ==, status);
  g_assert_cmpstr (as_callee->status, ==, status);
}

static void
test_invitation_rings_every_device (Fixture *fixture, gconstpointer data)
{
  gint64 conversation_id =
    natter_test_peer_conversation_with (fixture->server, fixture->alice, fixture->bob);
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob1 = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterTestWs) bob2 = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) ringing = NULL;
  g_autoptr (NatterCallLog) call_log = NULL;
  NatterTestWs *devices[] = { bob1, bob2 };

  send_invitation (alice, fixture->bob, "call-1", conversation_id);
  ringing = natter_test_ws_expect (alice, "call_ringing");
  g_assert_cmpstr (ringing->client_call_id, ==, "call-1");

  for (guint i = 0; i < G_N_ELEMENTS (devices); i++) {
    g_autoptr (NatterFrame) invitation = natter_test_ws_expect (devices[i], "call_invitation");
    g_autoptr (GDateTime) expires = NULL;

    g_assert_cmpint (invitation->call_log_id, ==, ringing->call_log_id);
    g_assert_cmpint (invitation->from_profile_id, ==, fixture->alice->profile->profile_id);
    g_assert_cmpstr (invitation->from_profile_type, ==, "tutor");
    g_assert_cmpstr (invitation->from_name, ==, "alice");
    g_assert_cmpstr (invitation->call_type, ==, "video");
    g_assert_cmpint (invitation->conversation_id, ==, conversation_id);
    g_assert_cmpstr (invitation->offer->type, ==, "offer");
    g_assert_true (g_str_has_prefix (invitation->offer->sdp, "v=0"));
    expires = natter_parse_time (invitation->expires_at);
    g_assert_nonnull (expires);
  }

  call_log = fetch_call (fixture, fixture->alice, ringing->call_log_id);
  g_assert_cmpstr (call_log->status, ==, "ringing");
  g_assert_cmpint (call_log->caller->profile_id, ==, fixture->alice->profile->profile_id);
  g_assert_cmpint (call_log->callee->profile_id, ==, fixture->bob->profile->profile_id);
}

static void
test_callee_offline (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = NULL;
  g_autoptr (NatterFrame) unavailable = NULL;
  g_autoptr (NatterFrame) missed = NULL;
  g_autoptr (NatterFrame) done = NULL;

  send_invitation (alice, fixture->bob, "call-offline", 0);
  unavailable = natter_test_ws_expect (alice, "call_unavailable");
  g_assert_cmpstr (unavailable->reason, ==, "offline");
  g_assert_cmpstr (unavailable->client_call_id, ==, "call-offline");
  g_assert_cmpint (unavailable->call_log_id, >, 0);
  assert_call_status (fixture, unavailable->call_log_id, "missed");

  bob = natter_test_peer_open (fixture->server, fixture->bob);
  natter_test_ws_send (bob, "{\"type\":\"sync\",\"after_event_id\":0}");
  missed = natter_test_ws_expect (bob, "missed_call");
  done = natter_test_ws_expect (bob, "sync_done");
  g_assert_cmpint (missed->call->call_log_id, ==, unavailable->call_log_id);
  g_assert_cmpstr (missed->call->status, ==, "missed");
  g_assert_cmpint (missed->event_id, ==, done->last_event_id);
}

static void
test_candidates_before_answer (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob1 = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterTestWs) bob2 = natter_test_peer_open (fixture->server, fixture->bob);
  NatterTestWs *devices[] = { bob1, bob2 };
  gint64 call_log_id = start_call (alice, fixture->bob);

  send_candidate (alice, call_log_id, CANDIDATE (1));
  send_candidate (alice, call_log_id, CANDIDATE (2));
  send_candidate (alice, call_log_id, "null");

  for (guint i = 0; i < G_N_ELEMENTS (devices); i++) {
    g_autoptr (NatterFrame) first = natter_test_ws_expect (devices[i], "ice_candidate");
    g_autoptr (NatterFrame) second = natter_test_ws_expect (devices[i], "ice_candidate");
    g_autoptr (NatterFrame) end = natter_test_ws_expect (devices[i], "ice_candidate");

    g_assert_cmpint (first->call_log_id, ==, call_log_id);
    g_assert_cmpint (first->from_profile_id, ==, fixture->alice->profile->profile_id);
    g_assert_true (g_str_has_prefix (first->candidate->candidate, "candidate:1 "));
    g_assert_cmpstr (first->candidate->sdp_mid, ==, "0");
    g_assert_true (g_str_has_prefix (second->candidate->candidate, "candidate:2 "));
    g_assert_null (end->candidate);
  }
}

static void
test_first_answer_wins (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob1 = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterTestWs) bob2 = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) answer = NULL;
  g_autoptr (NatterFrame) cancelled = NULL;
  g_autoptr (NatterFrame) late = NULL;
  g_autoptr (NatterFrame) to_bob1 = NULL;
  g_autoptr (NatterFrame) to_alice = NULL;
  g_autoptr (NatterFrame) wrong_device = NULL;
  g_autoptr (NatterFrame) media = NULL;
  g_autoptr (NatterFrame) update = NULL;
  g_autoptr (NatterFrame) ended = NULL;
  g_autoptr (NatterCallLog) call_log = NULL;
  gint64 call_log_id = start_call (alice, fixture->bob);

  await_ring (bob1, call_log_id);
  send_answer (bob1, call_log_id);
  answer = natter_test_ws_expect (alice, "call_answer");
  g_assert_cmpint (answer->call_log_id, ==, call_log_id);
  g_assert_cmpstr (answer->answer->type, ==, "answer");
  g_assert_cmpint (answer->from_profile_id, ==, fixture->bob->profile->profile_id);

  cancelled = natter_test_ws_expect (bob2, "call_cancelled");
  g_assert_cmpstr (cancelled->reason, ==, "answered_elsewhere");
  g_assert_cmpuint (natter_test_ws_count (bob1, "call_cancelled"), ==, 0);
  assert_call_status (fixture, call_log_id, "answered");

  /* Too late: the call is bound to bob1. */
  send_answer (bob2, call_log_id);
  late = natter_test_ws_expect_error (bob2, "not_allowed");

  send_candidate (alice, call_log_id, CANDIDATE (3));
  to_bob1 = natter_test_ws_expect (bob1, "ice_candidate");
  g_assert_true (g_str_has_prefix (to_bob1->candidate->candidate, "candidate:3 "));

  send_candidate (bob1, call_log_id, CANDIDATE (4));
  to_alice = natter_test_ws_expect (alice, "ice_candidate");
  g_assert_true (g_str_has_prefix (to_alice->candidate->candidate, "candidate:4 "));
  g_assert_cmpint (to_alice->from_profile_id, ==, fixture->bob->profile->profile_id);

  send_candidate (bob2, call_log_id, CANDIDATE (5));
  wrong_device = natter_test_ws_expect_error (bob2, "not_allowed");

  natter_test_ws_send_printf (alice,
                              "{\"type\":\"call_media_state\",\"call_log_id\":%" G_GINT64_FORMAT
                              ",\"audio_muted\":true,\"video_enabled\":false}",
                              call_log_id);
  media = natter_test_ws_expect (bob1, "call_media_state");
  g_assert_true (media->audio_muted);
  g_assert_false (media->video_enabled);

  natter_test_ws_send_printf (
    bob1, "{\"type\":\"call_update\",\"call_log_id\":%" G_GINT64_FORMAT ",\"offer\":" OFFER "}",
    call_log_id);
  update = natter_test_ws_expect (alice, "call_update");
  g_assert_nonnull (update->offer);
  g_assert_cmpint (update->from_profile_id, ==, fixture->bob->profile->profile_id);

  natter_test_ws_send_printf (
    alice, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", call_log_id);
  ended = natter_test_ws_expect (bob1, "call_ended");
  g_assert_cmpint (ended->call_log_id, ==, call_log_id);

  /* bob2 heard nothing after it stopped ringing. */
  g_assert_cmpuint (natter_test_ws_count (bob2, "ice_candidate"), ==, 0);
  g_assert_cmpuint (natter_test_ws_count (bob2, "call_media_state"), ==, 0);
  g_assert_cmpuint (natter_test_ws_count (bob2, "call_ended"), ==, 0);

  call_log = fetch_call (fixture, fixture->alice, call_log_id);
  g_assert_cmpstr (call_log->status, ==, "answered");
  g_assert_nonnull (call_log->answered_at);
  g_assert_nonnull (call_log->ended_at);
}

static void
decline (Fixture *fixture, const char *reason, const char *expected_status)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob1 = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterTestWs) bob2 = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) declined = NULL;
  g_autoptr (NatterFrame) cancelled = NULL;
  g_autoptr (NatterFrame) invitation = NULL;
  gint64 call_log_id = start_call (alice, fixture->bob);

  /* A device declines what rang on it: on two nodes the ring reaches bob1
   * through Redis after alice's call_ringing. */
  invitation = natter_test_ws_expect (bob1, "call_invitation");
  g_assert_cmpint (invitation->call_log_id, ==, call_log_id);
  natter_test_ws_send_printf (
    bob1, "{\"type\":\"call_declined\",\"call_log_id\":%" G_GINT64_FORMAT ",\"reason\":\"%s\"}",
    call_log_id, reason);
  declined = natter_test_ws_expect (alice, "call_declined");
  g_assert_cmpstr (declined->reason, ==, reason);
  g_assert_cmpint (declined->from_profile_id, ==, fixture->bob->profile->profile_id);

  cancelled = natter_test_ws_expect (bob2, "call_cancelled");
  g_assert_cmpstr (cancelled->reason, ==, "declined_elsewhere");
  assert_call_status (fixture, call_log_id, expected_status);
}

static void
test_decline (Fixture *fixture, gconstpointer data)
{
  decline (fixture, "declined", "declined");
}

static void
test_decline_busy (Fixture *fixture, gconstpointer data)
{
  decline (fixture, "busy", "busy");
}

static void
test_caller_cancels (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob1 = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterTestWs) bob2 = natter_test_peer_open (fixture->server, fixture->bob);
  NatterTestWs *devices[] = { bob1, bob2 };
  gint64 call_log_id = start_call (alice, fixture->bob);

  natter_test_ws_send_printf (
    alice, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", call_log_id);
  for (guint i = 0; i < G_N_ELEMENTS (devices); i++) {
    g_autoptr (NatterFrame) ended = natter_test_ws_expect (devices[i], "call_ended");

    g_assert_cmpint (ended->call_log_id, ==, call_log_id);
    g_assert_cmpstr (ended->reason, ==, "caller_cancelled");
  }
  assert_call_status (fixture, call_log_id, "cancelled");
}

static const char *const short_ring_args[] = { "--ring-timeout", "1", NULL };

static void
test_ring_timeout (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) ended = NULL;
  g_autoptr (NatterFrame) cancelled = NULL;
  g_autoptr (NatterFrame) missed = NULL;
  gint64 call_log_id = start_call (alice, fixture->bob);

  ended = natter_test_ws_expect (alice, "call_ended");
  g_assert_cmpint (ended->call_log_id, ==, call_log_id);
  g_assert_cmpstr (ended->reason, ==, "no_answer");

  cancelled = natter_test_ws_expect (bob, "call_cancelled");
  g_assert_cmpstr (cancelled->reason, ==, "timeout");

  missed = natter_test_ws_expect (bob, "missed_call");
  g_assert_cmpint (missed->call->call_log_id, ==, call_log_id);
  g_assert_cmpint (missed->event_id, >, 0);
  assert_call_status (fixture, call_log_id, "missed");
}

static void
test_late_device_rings_too (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob1 = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterTestWs) bob2 = NULL;
  g_autoptr (NatterFrame) invitation = NULL;
  g_autoptr (NatterFrame) first = NULL;
  g_autoptr (NatterFrame) second = NULL;
  g_autoptr (NatterFrame) on_bob1 = NULL;
  gint64 call_log_id = start_call (alice, fixture->bob);

  send_candidate (alice, call_log_id, CANDIDATE (1));
  send_candidate (alice, call_log_id, CANDIDATE (2));
  on_bob1 = natter_test_ws_expect (bob1, "ice_candidate");
  g_clear_pointer (&on_bob1, natter_frame_free);
  on_bob1 = natter_test_ws_expect (bob1, "ice_candidate");

  /* In this order: the invitation, then the candidates so far. */
  bob2 = natter_test_peer_open (fixture->server, fixture->bob);
  invitation = natter_test_ws_next (bob2);
  g_assert_cmpint (invitation->type, ==, NATTER_FRAME_CALL_INVITATION);
  g_assert_cmpint (invitation->call_log_id, ==, call_log_id);
  g_assert_cmpint (invitation->from_profile_id, ==, fixture->alice->profile->profile_id);
  first = natter_test_ws_next (bob2);
  g_assert_cmpint (first->type, ==, NATTER_FRAME_ICE_CANDIDATE);
  g_assert_true (g_str_has_prefix (first->candidate->candidate, "candidate:1 "));
  second = natter_test_ws_next (bob2);
  g_assert_cmpint (second->type, ==, NATTER_FRAME_ICE_CANDIDATE);
  g_assert_true (g_str_has_prefix (second->candidate->candidate, "candidate:2 "));
}

static void
test_glare (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) invitation = NULL;
  g_autoptr (NatterFrame) unavailable = NULL;
  g_autoptr (NatterFrame) answer = NULL;
  gint64 call_log_id = start_call (alice, fixture->bob);

  invitation = natter_test_ws_expect (bob, "call_invitation");

  /* Bob calls Alice while her call to him rings. */
  send_invitation (bob, fixture->alice, "bob-calls-back", 0);
  unavailable = natter_test_ws_expect (bob, "call_unavailable");
  g_assert_cmpstr (unavailable->reason, ==, "glare");
  g_assert_cmpstr (unavailable->client_call_id, ==, "bob-calls-back");
  g_assert_cmpint (unavailable->ringing_call_log_id, ==, call_log_id);
  g_assert_cmpuint (natter_test_ws_count (alice, "call_invitation"), ==, 0);

  /* The earlier call survives and can be answered. */
  send_answer (bob, call_log_id);
  answer = natter_test_ws_expect (alice, "call_answer");
  g_assert_cmpint (answer->call_log_id, ==, call_log_id);
  g_assert_cmpuint (natter_test_ws_count (alice, "call_invitation"), ==, 0);
}

static const char *const short_grace_args[] = { "--caller-grace", "1", NULL };

static void
test_caller_grace (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) alice_again = NULL;
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) ended = NULL;
  g_autoptr (NatterFrame) answer = NULL;
  gint64 gone_call;
  gint64 kept_call;

  /* The caller disappears: the call is cancelled after the grace. */
  gone_call = start_call (alice, fixture->bob);
  natter_test_ws_close (alice);
  ended = natter_test_ws_expect (bob, "call_ended");
  g_assert_cmpint (ended->call_log_id, ==, gone_call);
  g_assert_cmpstr (ended->reason, ==, "caller_cancelled");
  assert_call_status (fixture, gone_call, "cancelled");

  /* The caller comes back within the grace: the call goes on, and the
   * answer reaches the new connection. */
  g_clear_pointer (&alice, natter_test_ws_free);
  alice = natter_test_peer_open (fixture->server, fixture->alice);
  kept_call = start_call (alice, fixture->bob);
  natter_test_ws_close (alice);
  alice_again = natter_test_peer_open (fixture->server, fixture->alice);
  natter_test_ws_assert_none (bob, "call_ended", 1500);

  send_answer (bob, kept_call);
  answer = natter_test_ws_expect (alice_again, "call_answer");
  g_assert_cmpint (answer->call_log_id, ==, kept_call);
  assert_call_status (fixture, kept_call, "answered");
}

static void
test_not_your_call (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterTestWs) carol = natter_test_peer_open (fixture->server, fixture->carol);
  g_autoptr (NatterFrame) unknown = NULL;
  g_autoptr (NatterFrame) after_end = NULL;
  g_autoptr (NatterFrame) ended = NULL;
  gint64 call_log_id = start_call (alice, fixture->bob);
  /* @ID@ stands for the call_log_id. */
  const char *const attacks[] = {
    "{\"type\":\"ice_candidate\",\"call_log_id\":@ID@,\"candidate\":" CANDIDATE (9) "}",
    "{\"type\":\"call_answer\",\"call_log_id\":@ID@,\"answer\":" ANSWER "}",
    "{\"type\":\"call_declined\",\"call_log_id\":@ID@,\"reason\":\"declined\"}",
    "{\"type\":\"call_media_state\",\"call_log_id\":@ID@,\"audio_muted\":true,\"video_enabled\":"
    "true}",
    "{\"type\":\"call_update\",\"call_log_id\":@ID@,\"offer\":" OFFER "}",
    "{\"type\":\"call_ended\",\"call_log_id\":@ID@}",
  };
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, call_log_id);

  for (guint i = 0; i < G_N_ELEMENTS (attacks); i++) {
    g_autoptr (NatterFrame) error = NULL;
    g_auto (GStrv) parts = g_strsplit (attacks[i], "@ID@", -1);
    g_autofree char *frame = g_strjoinv (id, parts);

    natter_test_ws_send (carol, frame);
    error = natter_test_ws_expect_error (carol, "not_allowed");
  }

  /* The caller may not answer or decline her own call either. */
  send_answer (alice, call_log_id);
  g_clear_pointer (&unknown, natter_frame_free);
  unknown = natter_test_ws_expect_error (alice, "not_allowed");

  natter_test_ws_assert_none (bob, "ice_candidate", 200);
  g_assert_cmpuint (natter_test_ws_count (bob, "call_ended"), ==, 0);
  g_assert_cmpuint (natter_test_ws_count (alice, "call_answer"), ==, 0);
  g_assert_cmpuint (natter_test_ws_count (alice, "call_declined"), ==, 0);
  assert_call_status (fixture, call_log_id, "ringing");

  g_clear_pointer (&unknown, natter_frame_free);
  send_candidate (carol, 987654, CANDIDATE (1));
  unknown = natter_test_ws_expect_error (carol, "not_found");

  /* Once over, the call is still not hers. */
  natter_test_ws_send_printf (
    alice, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", call_log_id);
  ended = natter_test_ws_expect (bob, "call_ended");
  send_candidate (carol, call_log_id, CANDIDATE (1));
  after_end = natter_test_ws_expect_error (carol, "not_allowed");
}

static void
test_compat_routing (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) answer = NULL;
  g_autoptr (NatterFrame) to_alice = NULL;
  g_autoptr (NatterFrame) to_bob = NULL;
  g_autoptr (NatterFrame) stranger = NULL;
  g_autoptr (NatterTestWs) carol = natter_test_peer_open (fixture->server, fixture->carol);
  gint64 call_log_id = start_call (alice, fixture->bob);
  g_autoptr (NatterFrame) invitation = natter_test_ws_expect (bob, "call_invitation");

  g_assert_cmpint (invitation->call_log_id, ==, call_log_id);
  /* A browser client that only names the peer (once it rang: on two nodes
   * the ring reaches bob through Redis after alice's call_ringing). */
  natter_test_ws_send_printf (bob,
                              "{\"type\":\"call_answer\",\"to_profile_id\":%" G_GINT64_FORMAT
                              ",\"to_profile_type\":\"tutor\",\"answer\":" ANSWER "}",
                              fixture->alice->profile->profile_id);
  answer = natter_test_ws_expect (alice, "call_answer");
  g_assert_cmpint (answer->call_log_id, ==, call_log_id);
  assert_call_status (fixture, call_log_id, "answered");

  natter_test_ws_send_printf (bob,
                              "{\"type\":\"ice_candidate\",\"to_profile_id\":%" G_GINT64_FORMAT
                              ",\"to_profile_type\":\"tutor\",\"candidate\":" CANDIDATE (7) "}",
                              fixture->alice->profile->profile_id);
  to_alice = natter_test_ws_expect (alice, "ice_candidate");
  g_assert_true (g_str_has_prefix (to_alice->candidate->candidate, "candidate:7 "));
  g_assert_cmpint (to_alice->from_profile_id, ==, fixture->bob->profile->profile_id);

  natter_test_ws_send_printf (alice,
                              "{\"type\":\"ice_candidate\",\"to_profile_id\":%" G_GINT64_FORMAT
                              ",\"to_profile_type\":\"student\",\"candidate\":" CANDIDATE (8) "}",
                              fixture->bob->profile->profile_id);
  to_bob = natter_test_ws_expect (bob, "ice_candidate");
  g_assert_true (g_str_has_prefix (to_bob->candidate->candidate, "candidate:8 "));

  /* Naming a profile one has no call with routes nothing. */
  natter_test_ws_send_printf (carol,
                              "{\"type\":\"ice_candidate\",\"to_profile_id\":%" G_GINT64_FORMAT
                              ",\"to_profile_type\":\"student\",\"candidate\":" CANDIDATE (9) "}",
                              fixture->bob->profile->profile_id);
  stranger = natter_test_ws_expect_error (carol, "not_found");
  natter_test_ws_assert_none (bob, "ice_candidate", 200);
}

static void
test_dropped_connection_keeps_call (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterTestWs) bob_again = NULL;
  g_autoptr (NatterFrame) answer = NULL;
  g_autoptr (NatterFrame) candidate = NULL;
  g_autoptr (NatterFrame) media = NULL;
  g_autoptr (NatterFrame) ended = NULL;
  gint64 call_log_id = start_call (alice, fixture->bob);

  await_ring (bob, call_log_id);
  send_answer (bob, call_log_id);
  answer = natter_test_ws_expect (alice, "call_answer");

  natter_test_ws_close (bob);
  bob_again = natter_test_peer_open (fixture->server, fixture->bob);
  assert_call_status (fixture, call_log_id, "answered");

  /* ICE restart after the network change reaches the new connection. */
  send_candidate (alice, call_log_id, CANDIDATE (6));
  candidate = natter_test_ws_expect (bob_again, "ice_candidate");
  g_assert_cmpint (candidate->call_log_id, ==, call_log_id);

  natter_test_ws_send_printf (bob_again,
                              "{\"type\":\"call_media_state\",\"call_log_id\":%" G_GINT64_FORMAT
                              ",\"audio_muted\":false,\"video_enabled\":true}",
                              call_log_id);
  media = natter_test_ws_expect (alice, "call_media_state");
  g_assert_true (media->video_enabled);

  natter_test_ws_send_printf (
    bob_again, "{\"type\":\"call_ended\",\"call_log_id\":%" G_GINT64_FORMAT "}", call_log_id);
  ended = natter_test_ws_expect (alice, "call_ended");
}

static const char *const short_dead_args[] = { "--heartbeat", "1", "--dead-after", "3", NULL };

static gboolean
call_has_ended (gpointer user_data)
{
  gpointer *args = user_data;
  g_autoptr (NatterCallLog) call_log = fetch_call (args[0], args[1], *(gint64 *) args[2]);

  return call_log->ended_at != NULL;
}

static void
test_abandoned_call_ends (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterFrame) answer = NULL;
  g_autoptr (NatterCallLog) call_log = NULL;
  gint64 call_log_id = start_call (alice, fixture->bob);
  gpointer args[] = { fixture, fixture->alice, &call_log_id };

  await_ring (bob, call_log_id);
  send_answer (bob, call_log_id);
  answer = natter_test_ws_expect (alice, "call_answer");

  /* One side gone is a reconnect in progress: the call stays. */
  natter_test_ws_close (bob);
  natter_test_ws_assert_none (alice, "call_ended", 200);
  g_assert_false (call_has_ended (args));

  /* Both gone for --dead-after: the call ends, still "answered". */
  natter_test_ws_close (alice);
  g_assert_true (natter_test_ws_iterate_until (call_has_ended, args, 8000));
  call_log = fetch_call (fixture, fixture->bob, call_log_id);
  g_assert_cmpstr (call_log->status, ==, "answered");
}

static void
test_busy_profile_still_invited (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alice = natter_test_peer_open (fixture->server, fixture->alice);
  g_autoptr (NatterTestWs) bob = natter_test_peer_open (fixture->server, fixture->bob);
  g_autoptr (NatterTestWs) carol = natter_test_peer_open (fixture->server, fixture->carol);
  g_autoptr (NatterFrame) answer = NULL;
  g_autoptr (NatterFrame) first = NULL;
  g_autoptr (NatterFrame) second = NULL;
  g_autoptr (NatterFrame) declined = NULL;
  gint64 call_log_id = start_call (alice, fixture->bob);
  gint64 second_call;

  first = natter_test_ws_expect (bob, "call_invitation");
  send_answer (bob, call_log_id);
  answer = natter_test_ws_expect (alice, "call_answer");

  second_call = start_call (carol, fixture->bob);
  second = natter_test_ws_expect (bob, "call_invitation");
  g_assert_cmpint (second->call_log_id, ==, second_call);
  g_assert_cmpint (second->from_profile_id, ==, fixture->carol->profile->profile_id);

  natter_test_ws_send_printf (
    bob, "{\"type\":\"call_declined\",\"call_log_id\":%" G_GINT64_FORMAT ",\"reason\":\"busy\"}",
    second_call);
  declined = natter_test_ws_expect (carol, "call_declined");
  g_assert_cmpstr (declined->reason, ==, "busy");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, args) \
  g_test_add (path, Fixture, args, fixture_set_up, func, fixture_tear_down)

  ADD ("/natter/server-calls/invitation-rings-every-device", test_invitation_rings_every_device,
       NULL);
  ADD ("/natter/server-calls/callee-offline", test_callee_offline, NULL);
  ADD ("/natter/server-calls/candidates-before-answer", test_candidates_before_answer, NULL);
  ADD ("/natter/server-calls/first-answer-wins", test_first_answer_wins, NULL);
  ADD ("/natter/server-calls/decline", test_decline, NULL);
  ADD ("/natter/server-calls/decline-busy", test_decline_busy, NULL);
  ADD ("/natter/server-calls/caller-cancels", test_caller_cancels, NULL);
  ADD ("/natter/server-calls/ring-timeout", test_ring_timeout, short_ring_args);
  ADD ("/natter/server-calls/late-device-rings-too", test_late_device_rings_too, NULL);
  ADD ("/natter/server-calls/glare", test_glare, NULL);
  ADD ("/natter/server-calls/caller-grace", test_caller_grace, short_grace_args);
  ADD ("/natter/server-calls/not-your-call", test_not_your_call, NULL);
  ADD ("/natter/server-calls/compat-routing", test_compat_routing, NULL);
  ADD ("/natter/server-calls/dropped-connection-keeps-call", test_dropped_connection_keeps_call,
       NULL);
  ADD ("/natter/server-calls/abandoned-call-ends", test_abandoned_call_ends, short_dead_args);
  ADD ("/natter/server-calls/busy-profile-still-invited", test_busy_profile_still_invited, NULL);

  return g_test_run ();
}
