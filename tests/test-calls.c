/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-calls"

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>

#include "natter-call-manager.h"
#include "natter-client.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "tcp-proxy.h"

/* Calls between real clients through the real natter-server, with real
 * pipelines on test sources. Clients go through a TCP proxy so a test can
 * cut their WebSockets. */

/* natter_test_wait_until() stretches it with NATTER_TEST_TIME_SCALE. */
#define WAIT_MS 20000

typedef struct {
  NatterTestServer *server;
  NatterTcpProxy *proxy;
  GPtrArray *data_dirs;
  NatterProfile *caller_profile;
  NatterProfile *callee_profile;
  NatterProfile *third_profile;
  NatterClient *caller;
  NatterClient *callee;
  NatterClient *callee_second; /* another device of the callee, when a test needs it */
  NatterClient *third;
} Fixture;

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *child = g_build_filename (path, name, NULL);

    if (g_file_test (child, G_FILE_TEST_IS_DIR))
      remove_tree (child);
    else
      g_remove (child);
  }
  g_rmdir (path);
}

static NatterClient *
signed_in_client (Fixture *fixture, const char *email)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data_dir = g_dir_make_tmp ("natter-test-calls-XXXXXX", &error);
  NatterClient *client;

  g_assert_no_error (error);
  client = natter_client_new (natter_tcp_proxy_get_url (fixture->proxy), data_dir);
  g_ptr_array_add (fixture->data_dirs, g_steal_pointer (&data_dir));
  natter_test_client_login (client, email, 5000);
  natter_test_wait_until (natter_test_client_is_connected (client), 5000);
  return client;
}

static NatterCallManager *
manager_of (NatterClient *client)
{
  NatterCallManager *manager = NULL;

  g_object_get (client, "call-manager", &manager, NULL);
  g_assert_nonnull (manager);
  /* The client keeps it alive; callers borrow it. */
  g_object_unref (manager);
  return manager;
}

static NatterRinger *
ringer_of (NatterClient *client)
{
  return natter_call_manager_get_ringer (manager_of (client));
}

static NatterRingerMode
ringer_mode (NatterClient *client)
{
  return natter_ringer_get_mode (ringer_of (client));
}

/* The first call of a client that has not ended, or NULL. */
static NatterCall *
first_call (NatterClient *client)
{
  GListModel *calls = natter_call_manager_get_calls (manager_of (client));
  g_autoptr (NatterCall) call = NULL;

  if (g_list_model_get_n_items (calls) == 0)
    return NULL;
  call = g_list_model_get_item (calls, 0);
  return call;
}

static gboolean
has_state (NatterCall *call, NatterCallState state)
{
  return call != NULL && natter_call_get_state (call) == state;
}

static guint64
video_received (NatterCall *call)
{
  NatterCallPipeline *pipeline = natter_call_get_pipeline (call);

  return pipeline != NULL ? natter_call_pipeline_get_video_frames_received (pipeline) : 0;
}

static guint64
audio_received (NatterCall *call)
{
  NatterCallPipeline *pipeline = natter_call_get_pipeline (call);

  return pipeline != NULL ? natter_call_pipeline_get_audio_buffers_received (pipeline) : 0;
}

static void
fixture_set_up_with (Fixture *fixture, const char *const *server_args)
{
  g_autoptr (NatterUser) caller_user = NULL;
  g_autoptr (NatterUser) callee_user = NULL;
  g_autoptr (NatterUser) third_user = NULL;
  g_autofree char *token = NULL;

  fixture->server = natter_test_server_new (server_args);
  fixture->proxy = natter_tcp_proxy_new (natter_test_server_get_port (fixture->server));
  fixture->data_dirs = g_ptr_array_new_with_free_func (g_free);

  caller_user = natter_test_server_register (fixture->server, "abebe@example.org", "Abebe", "tutor",
                                             &token, &fixture->caller_profile);
  g_clear_pointer (&token, g_free);
  callee_user = natter_test_server_register (fixture->server, "bethlehem@example.org", "Bethlehem",
                                             "student", &token, &fixture->callee_profile);
  g_clear_pointer (&token, g_free);
  third_user = natter_test_server_register (fixture->server, "chala@example.org", "Chala", "parent",
                                            &token, &fixture->third_profile);

  fixture->caller = signed_in_client (fixture, "abebe@example.org");
  fixture->callee = signed_in_client (fixture, "bethlehem@example.org");
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  fixture_set_up_with (fixture, data);
}

static void
drain_main_context (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  NatterClient **clients[] = { &fixture->caller, &fixture->callee, &fixture->callee_second,
                               &fixture->third };

  /* Hang everything up first so no peer waits on a dead one. */
  for (guint i = 0; i < G_N_ELEMENTS (clients); i++) {
    if (*clients[i] != NULL &&
        natter_call_manager_get_active_call (manager_of (*clients[i])) != NULL)
      natter_call_hang_up (natter_call_manager_get_active_call (manager_of (*clients[i])));
  }
  drain_main_context ();
  for (guint i = 0; i < G_N_ELEMENTS (clients); i++) {
    if (*clients[i] != NULL)
      g_assert_finalize_object (g_steal_pointer (clients[i]));
  }
  drain_main_context ();

  natter_tcp_proxy_free (fixture->proxy);
  natter_test_server_free (fixture->server);
  for (guint i = 0; i < fixture->data_dirs->len; i++)
    remove_tree (g_ptr_array_index (fixture->data_dirs, i));
  g_ptr_array_unref (fixture->data_dirs);
  natter_profile_free (fixture->caller_profile);
  natter_profile_free (fixture->callee_profile);
  natter_profile_free (fixture->third_profile);
}

static NatterCall *
place_call (NatterClient *from, const NatterProfile *to, const char *call_type)
{
  g_autoptr (GError) error = NULL;
  NatterCall *call = natter_call_manager_start_call (manager_of (from), to, call_type, 0, &error);

  g_assert_no_error (error);
  g_assert_nonnull (call);
  g_assert_cmpint (natter_call_get_state (call), ==, NATTER_CALL_STATE_RINGING_OUTGOING);
  return g_object_ref (call);
}

/* Places a call and waits until it rings on the callee and ringback plays. */
static NatterCall *
ring (Fixture *fixture, const char *call_type, NatterCall **out_incoming)
{
  NatterCall *outgoing = place_call (fixture->caller, fixture->callee_profile, call_type);

  natter_test_wait_until (
    has_state (first_call (fixture->callee), NATTER_CALL_STATE_RINGING_INCOMING), WAIT_MS);
  natter_test_wait_until (natter_call_get_peer_ringing (outgoing), WAIT_MS);
  *out_incoming = g_object_ref (first_call (fixture->callee));
  g_assert_cmpint (natter_call_get_call_log_id (*out_incoming), ==,
                   natter_call_get_call_log_id (outgoing));
  g_assert_true (natter_call_get_incoming (*out_incoming));
  g_assert_cmpstr (natter_call_get_call_type (*out_incoming), ==, call_type);
  g_assert_cmpint (natter_call_get_peer (*out_incoming)->profile_id, ==,
                   fixture->caller_profile->profile_id);
  g_assert_cmpstr (natter_call_get_peer (*out_incoming)->display_name, ==, "Abebe");

  /* The ringer at this step: ringtone for the callee, ringback for the caller. */
  g_assert_cmpint (ringer_mode (fixture->callee), ==, NATTER_RINGER_MODE_INCOMING);
  g_assert_cmpint (ringer_mode (fixture->caller), ==, NATTER_RINGER_MODE_RINGBACK);
  natter_test_wait_until (natter_ringer_get_playing (ringer_of (fixture->callee)), WAIT_MS);
  natter_test_wait_until (natter_ringer_get_playing (ringer_of (fixture->caller)), WAIT_MS);
  g_assert_true (natter_ringer_get_synthesized (ringer_of (fixture->callee)));
  return outgoing;
}

static void
wait_connected (NatterCall *a, NatterCall *b)
{
  natter_test_wait_until (has_state (a, NATTER_CALL_STATE_CONNECTED) &&
                            has_state (b, NATTER_CALL_STATE_CONNECTED),
                          WAIT_MS);
}

static void
test_video_call (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;

  outgoing = ring (fixture, "video", &incoming);
  g_assert_true (natter_call_accept (incoming, TRUE));

  /* The ringer stops the moment the call leaves ringing. */
  g_assert_cmpint (ringer_mode (fixture->callee), ==, NATTER_RINGER_MODE_NONE);
  g_assert_false (natter_ringer_get_playing (ringer_of (fixture->callee)));

  wait_connected (outgoing, incoming);
  g_assert_cmpint (ringer_mode (fixture->caller), ==, NATTER_RINGER_MODE_NONE);
  g_assert_false (natter_ringer_get_playing (ringer_of (fixture->caller)));
  g_assert_true (natter_call_manager_get_active_call (manager_of (fixture->caller)) == outgoing);
  g_assert_true (natter_call_manager_get_active_call (manager_of (fixture->callee)) == incoming);

  natter_test_wait_until (video_received (outgoing) >= 15 && video_received (incoming) >= 15 &&
                            audio_received (outgoing) >= 15 && audio_received (incoming) >= 15,
                          WAIT_MS);

  natter_call_hang_up (outgoing);
  g_assert_cmpint (natter_call_get_end_reason (outgoing), ==, NATTER_CALL_END_REASON_HANGUP);
  g_assert_true (natter_call_get_ended_locally (outgoing));
  natter_test_wait_until (has_state (incoming, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (incoming), ==, NATTER_CALL_END_REASON_HANGUP);
  g_assert_false (natter_call_get_ended_locally (incoming));
  g_assert_null (natter_call_manager_get_active_call (manager_of (fixture->callee)));
  g_assert_cmpuint (
    g_list_model_get_n_items (natter_call_manager_get_calls (manager_of (fixture->callee))), ==, 0);
}

static void
test_voice_call (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;

  outgoing = ring (fixture, "voice", &incoming);
  g_assert_true (natter_call_accept (incoming, TRUE));
  wait_connected (outgoing, incoming);
  natter_test_wait_until (audio_received (outgoing) >= 25 && audio_received (incoming) >= 25,
                          WAIT_MS);
  g_assert_cmpuint (video_received (outgoing), ==, 0);
  g_assert_cmpuint (video_received (incoming), ==, 0);
  g_assert_false (natter_call_pipeline_get_with_video (natter_call_get_pipeline (incoming)));

  /* Hang-up from the callee's side this time. */
  natter_call_hang_up (incoming);
  natter_test_wait_until (has_state (outgoing, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (outgoing), ==, NATTER_CALL_END_REASON_HANGUP);
  g_assert_false (natter_call_get_ended_locally (outgoing));
}

static void
test_decline (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;

  outgoing = ring (fixture, "video", &incoming);

  /* Silencing stops the sound but keeps the call ringing. */
  natter_call_silence (incoming);
  g_assert_cmpint (ringer_mode (fixture->callee), ==, NATTER_RINGER_MODE_NONE);
  g_assert_cmpint (natter_call_get_state (incoming), ==, NATTER_CALL_STATE_RINGING_INCOMING);

  natter_call_decline (incoming);
  g_assert_cmpint (natter_call_get_end_reason (incoming), ==, NATTER_CALL_END_REASON_DECLINED);
  natter_test_wait_until (has_state (outgoing, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (outgoing), ==, NATTER_CALL_END_REASON_DECLINED);
  g_assert_cmpint (ringer_mode (fixture->caller), ==, NATTER_RINGER_MODE_NONE);
  g_assert_null (natter_call_manager_get_active_call (manager_of (fixture->caller)));
}

static void
test_busy (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  g_autoptr (NatterCall) second = NULL;
  g_autoptr (NatterCall) waiting = NULL;
  GListModel *calls;

  outgoing = ring (fixture, "voice", &incoming);
  g_assert_true (natter_call_accept (incoming, TRUE));
  wait_connected (outgoing, incoming);

  fixture->third = signed_in_client (fixture, "chala@example.org");
  natter_ringer_set_busy_duration (ringer_of (fixture->third), 300);
  second = place_call (fixture->third, fixture->callee_profile, "voice");

  calls = natter_call_manager_get_calls (manager_of (fixture->callee));
  natter_test_wait_until (g_list_model_get_n_items (calls) == 2, WAIT_MS);
  waiting = g_list_model_get_item (calls, 1);
  g_assert_cmpint (natter_call_get_state (waiting), ==, NATTER_CALL_STATE_RINGING_INCOMING);
  /* A second call during a call rings softly. */
  g_assert_cmpint (ringer_mode (fixture->callee), ==, NATTER_RINGER_MODE_SOFT);

  natter_call_decline_busy (waiting);
  g_assert_cmpint (ringer_mode (fixture->callee), ==, NATTER_RINGER_MODE_NONE);
  natter_test_wait_until (has_state (second, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (second), ==, NATTER_CALL_END_REASON_BUSY);
  g_assert_cmpint (ringer_mode (fixture->third), ==, NATTER_RINGER_MODE_BUSY);
  natter_test_wait_until (ringer_mode (fixture->third) == NATTER_RINGER_MODE_NONE, WAIT_MS);

  /* The first call is untouched. */
  g_assert_cmpint (natter_call_get_state (incoming), ==, NATTER_CALL_STATE_CONNECTED);
}

static void
test_end_current_and_accept (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  g_autoptr (NatterCall) second = NULL;
  g_autoptr (NatterCall) waiting = NULL;
  GListModel *calls;

  outgoing = ring (fixture, "voice", &incoming);
  g_assert_true (natter_call_accept (incoming, TRUE));
  wait_connected (outgoing, incoming);

  fixture->third = signed_in_client (fixture, "chala@example.org");
  second = place_call (fixture->third, fixture->callee_profile, "voice");
  calls = natter_call_manager_get_calls (manager_of (fixture->callee));
  natter_test_wait_until (g_list_model_get_n_items (calls) == 2, WAIT_MS);
  waiting = g_list_model_get_item (calls, 1);

  g_assert_true (
    natter_call_manager_end_active_and_accept (manager_of (fixture->callee), waiting, TRUE));
  natter_test_wait_until (has_state (outgoing, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (outgoing), ==, NATTER_CALL_END_REASON_HANGUP);
  wait_connected (second, waiting);
  natter_test_wait_until (audio_received (second) >= 15 && audio_received (waiting) >= 15, WAIT_MS);
}

static void
test_caller_cancels (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;

  outgoing = ring (fixture, "video", &incoming);
  natter_call_hang_up (outgoing);
  g_assert_cmpint (ringer_mode (fixture->caller), ==, NATTER_RINGER_MODE_NONE);
  natter_test_wait_until (has_state (incoming, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (incoming), ==,
                   NATTER_CALL_END_REASON_CALLER_CANCELLED);
  g_assert_cmpint (ringer_mode (fixture->callee), ==, NATTER_RINGER_MODE_NONE);
  g_assert_false (natter_ringer_get_playing (ringer_of (fixture->callee)));
}

static void
test_ring_timeout (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;

  outgoing = ring (fixture, "video", &incoming);
  natter_test_wait_until (has_state (outgoing, NATTER_CALL_STATE_ENDED) &&
                            has_state (incoming, NATTER_CALL_STATE_ENDED),
                          10000);
  g_assert_cmpint (natter_call_get_end_reason (outgoing), ==, NATTER_CALL_END_REASON_NO_ANSWER);
  g_assert_cmpint (natter_call_get_end_reason (incoming), ==, NATTER_CALL_END_REASON_TIMEOUT);
  g_assert_cmpint (ringer_mode (fixture->callee), ==, NATTER_RINGER_MODE_NONE);
  g_assert_cmpint (ringer_mode (fixture->caller), ==, NATTER_RINGER_MODE_NONE);
}

static void
test_answered_elsewhere (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  g_autoptr (NatterCall) other = NULL;

  fixture->callee_second = signed_in_client (fixture, "bethlehem@example.org");
  outgoing = ring (fixture, "video", &incoming);
  natter_test_wait_until (
    has_state (first_call (fixture->callee_second), NATTER_CALL_STATE_RINGING_INCOMING), WAIT_MS);
  other = g_object_ref (first_call (fixture->callee_second));
  g_assert_cmpint (ringer_mode (fixture->callee_second), ==, NATTER_RINGER_MODE_INCOMING);

  g_assert_true (natter_call_accept (incoming, TRUE));
  natter_test_wait_until (has_state (other, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (other), ==,
                   NATTER_CALL_END_REASON_ANSWERED_ELSEWHERE);
  g_assert_cmpint (ringer_mode (fixture->callee_second), ==, NATTER_RINGER_MODE_NONE);
  g_assert_false (natter_ringer_get_playing (ringer_of (fixture->callee_second)));
  g_assert_null (natter_call_get_pipeline (other));

  wait_connected (outgoing, incoming);
  natter_test_wait_until (video_received (outgoing) >= 10 && video_received (incoming) >= 10,
                          WAIT_MS);
}

static void
test_device_connects_during_ring (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  g_autoptr (NatterCall) late = NULL;

  outgoing = ring (fixture, "video", &incoming);

  /* Switched on during the ring: it rings too, with the candidates so far. */
  fixture->callee_second = signed_in_client (fixture, "bethlehem@example.org");
  natter_test_wait_until (
    has_state (first_call (fixture->callee_second), NATTER_CALL_STATE_RINGING_INCOMING), WAIT_MS);
  late = g_object_ref (first_call (fixture->callee_second));
  g_assert_cmpint (ringer_mode (fixture->callee_second), ==, NATTER_RINGER_MODE_INCOMING);

  g_assert_true (natter_call_accept (late, TRUE));
  natter_test_wait_until (has_state (incoming, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (incoming), ==,
                   NATTER_CALL_END_REASON_ANSWERED_ELSEWHERE);
  g_assert_cmpint (ringer_mode (fixture->callee), ==, NATTER_RINGER_MODE_NONE);
  wait_connected (outgoing, late);
  natter_test_wait_until (video_received (outgoing) >= 10 && video_received (late) >= 10, WAIT_MS);
}

static void
test_glare (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) first = NULL;
  g_autoptr (NatterCall) second = NULL;
  g_autoptr (NatterCall) survivor = NULL;

  first = place_call (fixture->caller, fixture->callee_profile, "voice");
  natter_test_wait_until (
    has_state (first_call (fixture->callee), NATTER_CALL_STATE_RINGING_INCOMING), WAIT_MS);
  natter_test_wait_until (natter_call_get_peer_ringing (first), WAIT_MS);

  /* The callee calls back instead of answering: the server keeps the
   * earlier call, and the callee's client accepts it on its own. The
   * manager allows it because a ringing incoming call is not active. */
  second = place_call (fixture->callee, fixture->caller_profile, "voice");
  natter_test_wait_until (has_state (second, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (second), ==, NATTER_CALL_END_REASON_UNAVAILABLE);
  g_assert_cmpstr (natter_call_get_end_message (second), ==, "glare");

  survivor = g_object_ref (natter_call_manager_find_call (manager_of (fixture->callee),
                                                          natter_call_get_call_log_id (first)));
  wait_connected (first, survivor);
  natter_test_wait_until (audio_received (first) >= 15 && audio_received (survivor) >= 15, WAIT_MS);
}

static void
test_media_state_reaches_peer (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;

  outgoing = ring (fixture, "video", &incoming);
  g_assert_true (natter_call_accept (incoming, TRUE));
  wait_connected (outgoing, incoming);
  g_assert_false (natter_call_get_remote_muted (incoming));
  g_assert_true (natter_call_get_remote_camera_enabled (incoming));

  natter_call_set_muted (outgoing, TRUE);
  natter_test_wait_until (natter_call_get_remote_muted (incoming), WAIT_MS);
  natter_call_set_camera_enabled (outgoing, FALSE);
  natter_test_wait_until (!natter_call_get_remote_camera_enabled (incoming), WAIT_MS);

  natter_call_set_muted (outgoing, FALSE);
  natter_call_set_camera_enabled (outgoing, TRUE);
  natter_test_wait_until (!natter_call_get_remote_muted (incoming) &&
                            natter_call_get_remote_camera_enabled (incoming),
                          WAIT_MS);

  /* And the other way. */
  natter_call_set_muted (incoming, TRUE);
  natter_test_wait_until (natter_call_get_remote_muted (outgoing), WAIT_MS);
}

static void
test_websocket_cut_keeps_media (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  guint64 mark_caller, mark_callee;

  outgoing = ring (fixture, "video", &incoming);
  g_assert_true (natter_call_accept (incoming, TRUE));
  wait_connected (outgoing, incoming);
  natter_test_wait_until (video_received (outgoing) >= 10 && video_received (incoming) >= 10,
                          WAIT_MS);

  natter_tcp_proxy_cut_all (fixture->proxy);
  natter_test_wait_until (!natter_test_client_is_connected (fixture->caller) &&
                            !natter_test_client_is_connected (fixture->callee),
                          WAIT_MS);

  /* Media is peer to peer: it flows while the signalling link is down. */
  mark_caller = video_received (outgoing);
  mark_callee = video_received (incoming);
  natter_test_wait_until (video_received (outgoing) >= mark_caller + 30 &&
                            video_received (incoming) >= mark_callee + 30,
                          WAIT_MS);
  g_assert_cmpint (natter_call_get_state (outgoing), ==, NATTER_CALL_STATE_CONNECTED);
  g_assert_cmpint (natter_call_get_state (incoming), ==, NATTER_CALL_STATE_CONNECTED);

  /* The clients reconnect and the call can still be ended properly. */
  natter_test_wait_until (natter_test_client_is_connected (fixture->caller) &&
                            natter_test_client_is_connected (fixture->callee),
                          30000);
  natter_call_hang_up (incoming);
  natter_test_wait_until (has_state (outgoing, NATTER_CALL_STATE_ENDED), WAIT_MS);
}

/* Sets a variable the call objects read when they are made; restores the
 * previous value at the end of the test's scope. */
typedef struct {
  const char *name;
  char *old;
} ScopedEnv;

static ScopedEnv
scoped_env (const char *name, const char *value)
{
  ScopedEnv env = { name, g_strdup (g_getenv (name)) };

  g_setenv (name, value, TRUE);
  return env;
}

static void
scoped_env_restore (ScopedEnv *env)
{
  if (env->old != NULL)
    g_setenv (env->name, env->old, TRUE);
  else
    g_unsetenv (env->name);
  g_clear_pointer (&env->old, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ScopedEnv, scoped_env_restore)

/* Fails for real when it opens (in READY to PAUSED). */
#define FAILING_SOURCE "filesrc location=/nonexistent/natter-device"
#define MICROPHONE_FAILED "The microphone could not be opened: "

static void
test_microphone_fails_ends_call_at_once (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  NatterCall *call;
  gint64 start = g_get_monotonic_time ();

  /* The caller's microphone: the call ends before it rings anywhere. */
  {
    g_auto (ScopedEnv) env = scoped_env ("NATTER_AUDIO_SRC", FAILING_SOURCE);

    call = natter_call_manager_start_call (manager_of (fixture->caller), fixture->callee_profile,
                                           "voice", 0, &error);
  }
  g_assert_null (call);
  g_assert_nonnull (error);
  g_assert_true (g_str_has_prefix (error->message, MICROPHONE_FAILED));
  g_assert_cmpint ((g_get_monotonic_time () - start) / 1000, <, natter_test_scale_ms (2000));
  g_assert_null (natter_call_manager_get_active_call (manager_of (fixture->caller)));

  /* The callee's: accepting fails at once, and the caller hears of it. */
  outgoing = ring (fixture, "voice", &incoming);
  {
    g_auto (ScopedEnv) env = scoped_env ("NATTER_AUDIO_SRC", FAILING_SOURCE);

    g_assert_false (natter_call_accept (incoming, FALSE));
  }
  g_assert_true (has_state (incoming, NATTER_CALL_STATE_ENDED));
  g_assert_cmpint (natter_call_get_end_reason (incoming), ==, NATTER_CALL_END_REASON_FAILED);
  g_assert_true (g_str_has_prefix (natter_call_get_end_message (incoming), MICROPHONE_FAILED));
  natter_test_wait_until (has_state (outgoing, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_false (natter_ringer_get_playing (ringer_of (fixture->callee)));
}

/* Opens (a file descriptor is no device to open) and fails on its first
 * read, as autoaudiosrc's choice does on a machine without sound devices. */
#define SOURCE_FAILING_AT_START "fdsrc fd=2147483647 ! rawaudioparse"

static gboolean
ended_failed_on_microphone (NatterCall *call)
{
  return natter_call_get_state (call) == NATTER_CALL_STATE_ENDED &&
         natter_call_get_end_reason (call) == NATTER_CALL_END_REASON_FAILED &&
         g_str_has_prefix (natter_call_get_end_message (call), MICROPHONE_FAILED);
}

static void
test_microphone_fails_as_it_starts_ends_call_at_once (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  gint64 start;

  /* The callee's: accepted, then ended in under a second, and the caller
   * hears of it. */
  outgoing = ring (fixture, "voice", &incoming);
  {
    g_auto (ScopedEnv) env = scoped_env ("NATTER_AUDIO_SRC", SOURCE_FAILING_AT_START);

    start = g_get_monotonic_time ();
    g_assert_true (natter_call_accept (incoming, FALSE));
    natter_test_wait_until (ended_failed_on_microphone (incoming), 1000);
  }
  g_assert_cmpint ((g_get_monotonic_time () - start) / 1000, <, natter_test_scale_ms (1000));
  natter_test_wait_until (has_state (outgoing, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_false (natter_ringer_get_playing (ringer_of (fixture->callee)));
  g_clear_object (&outgoing);
  g_clear_object (&incoming);

  /* The caller's: the call ends as fast, before anyone answers. */
  {
    g_auto (ScopedEnv) env = scoped_env ("NATTER_AUDIO_SRC", SOURCE_FAILING_AT_START);

    start = g_get_monotonic_time ();
    outgoing = place_call (fixture->caller, fixture->callee_profile, "voice");
    natter_test_wait_until (ended_failed_on_microphone (outgoing), 1000);
  }
  g_assert_cmpint ((g_get_monotonic_time () - start) / 1000, <, natter_test_scale_ms (1000));
  g_assert_null (natter_call_manager_get_active_call (manager_of (fixture->caller)));
}

static void
test_camera_fails_goes_on_without_video (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;

  /* The caller's pipeline is built as it calls, the callee's on accept. */
  {
    g_auto (ScopedEnv) env = scoped_env ("NATTER_VIDEO_SRC", FAILING_SOURCE);

    outgoing = ring (fixture, "video", &incoming);
  }
  g_assert_false (natter_call_get_camera_enabled (outgoing));
  g_assert_true (natter_call_accept (incoming, TRUE));
  wait_connected (outgoing, incoming);
  natter_test_wait_until (video_received (outgoing) >= 15 && audio_received (outgoing) >= 15 &&
                            audio_received (incoming) >= 15,
                          WAIT_MS);
  natter_test_wait_until (!natter_call_get_remote_camera_enabled (incoming), WAIT_MS);
  g_assert_cmpuint (video_received (incoming), ==, 0);
  g_assert_cmpint (natter_call_get_state (outgoing), ==, NATTER_CALL_STATE_CONNECTED);
}

static GstPadProbeReturn
drop_everything (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  g_atomic_int_inc ((gint *) user_data);
  return GST_PAD_PROBE_DROP;
}

/* Stands for a network path that stopped carrying anything: every packet
 * into and out of @pipeline's ICE transport is dropped. Returns how many
 * elements were cut. */
static guint
cut_network_full (NatterCallPipeline *pipeline, gboolean receive_only, gint *dropped)
{
  GstElement *element = natter_call_pipeline_get_element (pipeline);
  g_autoptr (GstIterator) iterator = gst_bin_iterate_recurse (GST_BIN (element));
  g_auto (GValue) item = G_VALUE_INIT;
  guint cut = 0;

  while (gst_iterator_next (iterator, &item) == GST_ITERATOR_OK) {
    GstElement *child = g_value_get_object (&item);
    GstElementFactory *factory = gst_element_get_factory (child);
    const char *name = factory != NULL ? gst_plugin_feature_get_name (factory) : "";
    const char *pad_name = g_str_equal (name, "nicesrc")                     ? "src"
                           : g_str_equal (name, "nicesink") && !receive_only ? "sink"
                                                                             : NULL;

    if (pad_name != NULL) {
      g_autoptr (GstPad) pad = gst_element_get_static_pad (child, pad_name);

      gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
                         drop_everything, dropped, NULL);
      cut++;
    }
    g_value_reset (&item);
  }
  return cut;
}

static guint
cut_network (NatterCallPipeline *pipeline, gint *dropped)
{
  return cut_network_full (pipeline, FALSE, dropped);
}

/* The ice-ufrag of an SDP, the session's ICE credentials. */
static char *
ice_ufrag (const char *sdp)
{
  const char *found = sdp != NULL ? strstr (sdp, "a=ice-ufrag:") : NULL;

  if (found == NULL)
    return NULL;
  found += strlen ("a=ice-ufrag:");
  return g_strndup (found, strcspn (found, "\r\n"));
}

typedef struct {
  GPtrArray *offers;  /* SDP of call_invitation and call_update offers, in order */
  GPtrArray *answers; /* SDP of call_answer and call_update answers */
  guint updates;
} SignallingLog;

static void
on_signalling_frame (NatterConnection *connection, const NatterFrame *frame, SignallingLog *log)
{
  if (frame->type == NATTER_FRAME_CALL_UPDATE)
    log->updates++;
  if (frame->offer != NULL && frame->offer->sdp != NULL)
    g_ptr_array_add (log->offers, g_strdup (frame->offer->sdp));
  if (frame->answer != NULL && frame->answer->sdp != NULL)
    g_ptr_array_add (log->answers, g_strdup (frame->answer->sdp));
}

static void
test_ice_restart_after_lost_path (Fixture *fixture, gconstpointer data)
{
  g_auto (ScopedEnv) media_timeout = scoped_env ("NATTER_CALL_MEDIA_TIMEOUT_MS", "1500");
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  g_autoptr (NatterCallPipeline) caller_before = NULL;
  g_autoptr (NatterCallPipeline) callee_before = NULL;
  SignallingLog callee_log = { g_ptr_array_new_with_free_func (g_free), NULL, 0 };
  SignallingLog caller_log = { NULL, g_ptr_array_new_with_free_func (g_free), 0 };
  g_autofree char *caller_first = NULL;
  g_autofree char *caller_new = NULL;
  g_autofree char *callee_first = NULL;
  g_autofree char *callee_new = NULL;
  gulong callee_handler, caller_handler;
  gint dropped = 0;

  callee_log.answers = g_ptr_array_new_with_free_func (g_free);
  caller_log.offers = g_ptr_array_new_with_free_func (g_free);
  callee_handler = g_signal_connect (natter_client_get_connection (fixture->callee), "frame",
                                     G_CALLBACK (on_signalling_frame), &callee_log);
  caller_handler = g_signal_connect (natter_client_get_connection (fixture->caller), "frame",
                                     G_CALLBACK (on_signalling_frame), &caller_log);

  outgoing = ring (fixture, "video", &incoming);
  g_assert_true (natter_call_accept (incoming, TRUE));
  wait_connected (outgoing, incoming);
  natter_test_wait_until (video_received (outgoing) >= 10 && video_received (incoming) >= 10,
                          WAIT_MS);
  caller_before = g_object_ref (natter_call_get_pipeline (outgoing));
  callee_before = g_object_ref (natter_call_get_pipeline (incoming));

  /* The callee's path goes dead both ways. */
  g_assert_cmpuint (cut_network (callee_before, &dropped), >=, 2);

  /* No media for 1.5 s: ICE restarts through call_update and both sides
   * run new sessions, with media flowing again. */
  natter_test_wait_until (natter_call_get_pipeline (outgoing) != caller_before &&
                            natter_call_get_pipeline (incoming) != callee_before,
                          WAIT_MS);
  natter_test_wait_until (video_received (outgoing) >= 10 && video_received (incoming) >= 10 &&
                            audio_received (outgoing) >= 10 && audio_received (incoming) >= 10,
                          WAIT_MS);
  g_assert_cmpint (g_atomic_int_get (&dropped), >, 0);
  /* Both sides stop receiving at once: whichever notices first restarts,
   * the other answers its call_update, so one of the two old sessions
   * ended on its media timeout. */
  g_assert_true (natter_call_pipeline_get_error_message (caller_before) != NULL ||
                 natter_call_pipeline_get_error_message (callee_before) != NULL);
  g_assert_cmpint (natter_call_get_state (outgoing), ==, NATTER_CALL_STATE_CONNECTED);
  g_assert_cmpint (natter_call_get_state (incoming), ==, NATTER_CALL_STATE_CONNECTED);
  g_assert_true (natter_call_manager_get_active_call (manager_of (fixture->caller)) == outgoing);
  g_assert_true (natter_call_manager_get_active_call (manager_of (fixture->callee)) == incoming);
  g_assert_cmpint (ringer_mode (fixture->caller), ==, NATTER_RINGER_MODE_NONE);
  g_assert_cmpint (ringer_mode (fixture->callee), ==, NATTER_RINGER_MODE_NONE);

  /* New ICE credentials went both ways in call_update frames: an offer
   * from whichever side restarted, the other side's answer. */
  g_assert_cmpuint (callee_log.updates + caller_log.updates, >=, 2);
  caller_first = ice_ufrag (g_ptr_array_index (callee_log.offers, 0));
  callee_first = ice_ufrag (g_ptr_array_index (caller_log.answers, 0));
  if (callee_log.offers->len >= 2) {
    g_assert_cmpuint (caller_log.answers->len, >=, 2);
    caller_new = ice_ufrag (g_ptr_array_index (callee_log.offers, callee_log.offers->len - 1));
    callee_new = ice_ufrag (g_ptr_array_index (caller_log.answers, caller_log.answers->len - 1));
  } else {
    g_assert_cmpuint (caller_log.offers->len, >=, 1);
    g_assert_cmpuint (callee_log.answers->len, >=, 1);
    callee_new = ice_ufrag (g_ptr_array_index (caller_log.offers, caller_log.offers->len - 1));
    caller_new = ice_ufrag (g_ptr_array_index (callee_log.answers, callee_log.answers->len - 1));
  }
  g_assert_nonnull (caller_first);
  g_assert_nonnull (callee_first);
  g_assert_nonnull (caller_new);
  g_assert_nonnull (callee_new);
  g_assert_cmpstr (caller_first, !=, caller_new);
  g_assert_cmpstr (callee_first, !=, callee_new);

  natter_call_hang_up (outgoing);
  natter_test_wait_until (has_state (incoming, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (incoming), ==, NATTER_CALL_END_REASON_HANGUP);

  g_signal_handler_disconnect (natter_client_get_connection (fixture->callee), callee_handler);
  g_signal_handler_disconnect (natter_client_get_connection (fixture->caller), caller_handler);
  g_ptr_array_unref (callee_log.offers);
  g_ptr_array_unref (callee_log.answers);
  g_ptr_array_unref (caller_log.offers);
  g_ptr_array_unref (caller_log.answers);
}

/* natter-cli as a peer in its own process, so the test can kill it. */
typedef struct {
  GSubprocess *process;
  GDataInputStream *out;
  gboolean waiting;
  gboolean connected;
  gboolean eof;
} CliPeer;

static void cli_peer_read (CliPeer *peer);

static void
on_cli_peer_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CliPeer *peer = user_data;
  g_autofree char *line =
    g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, NULL);

  if (line == NULL) {
    peer->eof = TRUE;
    return;
  }
  g_test_message ("cli: %s", line);
  if (strstr (line, "\"event\":\"waiting\"") != NULL)
    peer->waiting = TRUE;
  if (strstr (line, "\"state\":\"connected\"") != NULL)
    peer->connected = TRUE;
  cli_peer_read (peer);
}

static void
cli_peer_read (CliPeer *peer)
{
  g_data_input_stream_read_line_async (peer->out, G_PRIORITY_DEFAULT, NULL, on_cli_peer_line, peer);
}

/* Only the callee stops receiving: the caller's media keeps coming, so
 * only the callee notices, and it offers the restart itself. */
static void
test_callee_restarts_ice (Fixture *fixture, gconstpointer data)
{
  g_auto (ScopedEnv) media_timeout = scoped_env ("NATTER_CALL_MEDIA_TIMEOUT_MS", "1500");
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  g_autoptr (NatterCallPipeline) caller_before = NULL;
  g_autoptr (NatterCallPipeline) callee_before = NULL;
  SignallingLog caller_log = { g_ptr_array_new_with_free_func (g_free), NULL, 0 };
  SignallingLog callee_log = { NULL, g_ptr_array_new_with_free_func (g_free), 0 };
  gulong caller_handler, callee_handler;
  guint offers_before;
  gint dropped = 0;

  outgoing = ring (fixture, "voice", &incoming);
  g_assert_true (natter_call_accept (incoming, FALSE));
  wait_connected (outgoing, incoming);
  natter_test_wait_until (audio_received (outgoing) >= 10 && audio_received (incoming) >= 10,
                          WAIT_MS);
  caller_before = g_object_ref (natter_call_get_pipeline (outgoing));
  callee_before = g_object_ref (natter_call_get_pipeline (incoming));
  offers_before = caller_log.offers->len;
  caller_handler = g_signal_connect (natter_client_get_connection (fixture->caller), "frame",
                                     G_CALLBACK (on_signalling_frame), &caller_log);
  callee_handler = g_signal_connect (natter_client_get_connection (fixture->callee), "frame",
                                     G_CALLBACK (on_signalling_frame), &callee_log);

  g_assert_cmpuint (cut_network_full (callee_before, TRUE, &dropped), >=, 1);

  /* The callee offers a new session in call_update; the caller answers from
   * a new session of its own, and media flows again both ways. */
  natter_test_wait_until (natter_call_get_pipeline (outgoing) != caller_before &&
                            natter_call_get_pipeline (incoming) != callee_before,
                          WAIT_MS);
  natter_test_wait_until (audio_received (outgoing) >= 10 && audio_received (incoming) >= 10,
                          WAIT_MS);
  g_assert_cmpint (g_atomic_int_get (&dropped), >, 0);
  g_assert_cmpuint (caller_log.offers->len, >, offers_before);
  g_assert_cmpuint (caller_log.updates, >=, 1);
  g_assert_cmpuint (callee_log.answers->len, >=, 1);
  g_assert_cmpstr (natter_call_pipeline_get_error_message (callee_before), !=, NULL);
  g_assert_null (natter_call_pipeline_get_error_message (caller_before));
  g_assert_cmpint (natter_call_get_state (outgoing), ==, NATTER_CALL_STATE_CONNECTED);
  g_assert_cmpint (natter_call_get_state (incoming), ==, NATTER_CALL_STATE_CONNECTED);

  g_signal_handler_disconnect (natter_client_get_connection (fixture->caller), caller_handler);
  g_signal_handler_disconnect (natter_client_get_connection (fixture->callee), callee_handler);
  g_ptr_array_unref (caller_log.offers);
  g_ptr_array_unref (callee_log.answers);

  natter_call_hang_up (incoming);
  natter_test_wait_until (has_state (outgoing, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (outgoing), ==, NATTER_CALL_END_REASON_HANGUP);
}

/* ICE restarts one after another while the other direction keeps
 * streaming: each restart tears down a session that is still sending and
 * receiving (as when media was only slow) and builds the next one. Every
 * round must bring media back both ways, and no GLib critical may fire
 * (the test runs with G_DEBUG=fatal-criticals). */
static void
test_repeated_ice_restarts_keep_media (Fixture *fixture, gconstpointer data)
{
  g_auto (ScopedEnv) media_timeout = scoped_env ("NATTER_CALL_MEDIA_TIMEOUT_MS", "500");
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  /* NATTER_TEST_RESTART_ROUNDS: more rounds, to hunt a rare race. */
  const char *rounds_env = g_getenv ("NATTER_TEST_RESTART_ROUNDS");
  const guint rounds = rounds_env != NULL ? (guint) g_ascii_strtoull (rounds_env, NULL, 10) : 5;

  outgoing = ring (fixture, "video", &incoming);
  g_assert_true (natter_call_accept (incoming, TRUE));
  wait_connected (outgoing, incoming);
  natter_test_wait_until (video_received (outgoing) >= 5 && video_received (incoming) >= 5,
                          WAIT_MS);

  for (guint round = 0; round < rounds; round++) {
    g_autoptr (NatterCallPipeline) caller_before =
      g_object_ref (natter_call_get_pipeline (outgoing));
    g_autoptr (NatterCallPipeline) callee_before =
      g_object_ref (natter_call_get_pipeline (incoming));
    gint dropped = 0;

    /* Only the callee stops receiving; the caller's session keeps
     * sending into it and receiving from it until the restart. */
    g_assert_cmpuint (cut_network_full (callee_before, TRUE, &dropped), >=, 1);
    natter_test_wait_until (natter_call_get_pipeline (outgoing) != caller_before &&
                              natter_call_get_pipeline (incoming) != callee_before,
                            WAIT_MS);
    natter_test_wait_until (video_received (outgoing) >= 5 && video_received (incoming) >= 5 &&
                              audio_received (outgoing) >= 5 && audio_received (incoming) >= 5,
                            WAIT_MS);
    g_assert_cmpint (g_atomic_int_get (&dropped), >, 0);
    g_assert_cmpint (natter_call_pipeline_get_state (caller_before), ==,
                     NATTER_CALL_PIPELINE_STATE_CLOSED);
    g_assert_cmpint (natter_call_get_state (outgoing), ==, NATTER_CALL_STATE_CONNECTED);
    g_assert_cmpint (natter_call_get_state (incoming), ==, NATTER_CALL_STATE_CONNECTED);
    g_test_message ("round %u: media back both ways", round + 1);
  }

  natter_call_hang_up (outgoing);
  natter_test_wait_until (has_state (incoming, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (incoming), ==, NATTER_CALL_END_REASON_HANGUP);
}

/* What the RTP sessions' sender reports did, from rtpsource's own log. */
typedef struct {
  gint reports;      /* rtp_source_get_new_sr() ran: a sender report was made */
  gint rate_lookups; /* ...and had to look its sender's clock rate up */
} SenderReportLog;

static void
on_gst_log (GstDebugCategory *category,
            GstDebugLevel level,
            const gchar *file,
            const gchar *function,
            gint line,
            GObject *object,
            GstDebugMessage *message,
            gpointer user_data)
{
  SenderReportLog *log = user_data;
  const char *text;

  if (!g_str_equal (gst_debug_category_get_name (category), "rtpsource") ||
      !g_str_equal (function, "rtp_source_get_new_sr"))
    return;
  text = gst_debug_message_get (message);
  if (text != NULL && g_str_has_prefix (text, "last_rtime"))
    g_atomic_int_inc (&log->reports);
  if (text != NULL && g_str_has_prefix (text, "no clock-rate"))
    g_atomic_int_inc (&log->rate_lookups);
}

/* GStreamer 1.22's rtpsession looks a sending source's unknown clock rate
 * up with its lock released, halfway through walking its sources to build
 * RTCP; a new remote source added in that moment (the peer's first packets
 * after set-up or an ICE restart) stopped calls with "g_hash_table_foreach:
 * assertion 'version == hash_table->version' failed" (see
 * natter-call-session-senders.c). Every sending source must be known with
 * its clock rate before its first sender report, in the first session and
 * in the one an ICE restart builds. */
static void
test_sender_reports_need_no_rate_lookup (Fixture *fixture, gconstpointer data)
{
  g_auto (ScopedEnv) media_timeout = scoped_env ("NATTER_CALL_MEDIA_TIMEOUT_MS", "500");
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  g_autoptr (NatterCallPipeline) callee_before = NULL;
  SenderReportLog log = { 0, 0 };
  gint reports_before_restart;
  gint dropped = 0;

  gst_debug_remove_log_function (gst_debug_log_default);
  gst_debug_add_log_function (on_gst_log, &log, NULL);
  gst_debug_set_threshold_for_name ("rtpsource", GST_LEVEL_DEBUG);

  outgoing = ring (fixture, "video", &incoming);
  g_assert_true (natter_call_accept (incoming, TRUE));
  wait_connected (outgoing, incoming);
  /* Audio and video, both ways: at least four sender reports. */
  natter_test_wait_until (g_atomic_int_get (&log.reports) >= 4, WAIT_MS);

  callee_before = g_object_ref (natter_call_get_pipeline (incoming));
  g_assert_cmpuint (cut_network_full (callee_before, TRUE, &dropped), >=, 1);
  natter_test_wait_until (natter_call_get_pipeline (incoming) != callee_before, WAIT_MS);
  reports_before_restart = g_atomic_int_get (&log.reports);
  natter_test_wait_until (video_received (outgoing) >= 5 && video_received (incoming) >= 5 &&
                            g_atomic_int_get (&log.reports) >= reports_before_restart + 4,
                          WAIT_MS);

  gst_debug_set_threshold_for_name ("rtpsource", GST_LEVEL_NONE);
  gst_debug_remove_log_function (on_gst_log);
  gst_debug_add_log_function (gst_debug_log_default, NULL, NULL);
  g_test_message ("%d sender reports, %d clock-rate lookups", g_atomic_int_get (&log.reports),
                  g_atomic_int_get (&log.rate_lookups));
  g_assert_cmpint (g_atomic_int_get (&log.rate_lookups), ==, 0);

  natter_call_hang_up (outgoing);
  natter_test_wait_until (has_state (incoming, NATTER_CALL_STATE_ENDED), WAIT_MS);
}

static void
test_peer_vanishes_ends_failed (Fixture *fixture, gconstpointer data)
{
  g_auto (ScopedEnv) media_timeout = scoped_env ("NATTER_CALL_MEDIA_TIMEOUT_MS", "1000");
  g_auto (ScopedEnv) recovery = scoped_env ("NATTER_CALL_RECOVERY_MS", "3000");
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autofree char *binary = natter_test_top_build_filename ("src", "cli", "natter-cli", NULL);
  g_autofree char *profile =
    g_strdup_printf ("%s:%" G_GINT64_FORMAT, fixture->third_profile->profile_type,
                     fixture->third_profile->profile_id);
  g_autofree char *token = NULL;
  g_autofree char *data_home = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterCall) outgoing = NULL;
  CliPeer peer = { 0 };
  const char *message;
  guint status = 0;
  gint64 killed_at, elapsed_ms;

  token =
    natter_test_server_login (fixture->server, "chala@example.org", NATTER_TEST_PASSWORD, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (token);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN", token, TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN_STORE", "file", TRUE);
  data_home = g_dir_make_tmp ("natter-test-calls-cli-XXXXXX", &error);
  g_assert_no_error (error);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", data_home, TRUE);
  g_ptr_array_add (fixture->data_dirs, g_steal_pointer (&data_home));
  peer.process = g_subprocess_launcher_spawn (
    launcher, &error, binary, "--server", natter_test_server_get_url (fixture->server), "--profile",
    profile, "answer", "--auto", "--count", "1", "--duration", "120", NULL);
  g_assert_no_error (error);
  peer.out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (peer.process));
  cli_peer_read (&peer);
  natter_test_wait_until (peer.waiting, WAIT_MS);

  outgoing = place_call (fixture->caller, fixture->third_profile, "video");
  natter_test_wait_until (has_state (outgoing, NATTER_CALL_STATE_CONNECTED) && peer.connected,
                          WAIT_MS);
  natter_test_wait_until (video_received (outgoing) >= 10 && audio_received (outgoing) >= 10,
                          WAIT_MS);

  /* The peer dies without a word: no call_ended, its WebSocket just drops
   * (which alone does not end an answered call). */
  g_subprocess_send_signal (peer.process, SIGKILL);
  killed_at = g_get_monotonic_time ();
  natter_test_wait_until (has_state (outgoing, NATTER_CALL_STATE_ENDED), WAIT_MS);
  elapsed_ms = (g_get_monotonic_time () - killed_at) / 1000;
  g_test_message ("call ended %" G_GINT64_FORMAT " ms after the peer died", elapsed_ms);

  /* 1 s without media, then 3 s to recover (an ICE restart nobody answers). */
  g_assert_cmpint (elapsed_ms, >=, 3000);
  g_assert_cmpint (elapsed_ms, <=, 1000 + 3000 + 4000);
  g_assert_cmpint (natter_call_get_end_reason (outgoing), ==, NATTER_CALL_END_REASON_FAILED);
  g_assert_true (natter_call_get_ended_locally (outgoing));
  message = natter_call_get_end_message (outgoing);
  g_assert_nonnull (message);
  g_assert_nonnull (strstr (message, "did not recover within 3 s"));
  g_assert_nonnull (strstr (message, "No media from the peer"));

  g_assert_cmpint (ringer_mode (fixture->caller), ==, NATTER_RINGER_MODE_NONE);
  g_assert_false (natter_ringer_get_playing (ringer_of (fixture->caller)));
  g_assert_null (natter_call_manager_get_active_call (manager_of (fixture->caller)));
  g_assert_cmpuint (
    g_list_model_get_n_items (natter_call_manager_get_calls (manager_of (fixture->caller))), ==, 0);

  g_subprocess_wait (peer.process, NULL, NULL);
  g_assert_true (g_subprocess_get_if_signaled (peer.process));
  natter_test_wait_until (peer.eof, WAIT_MS);
  g_clear_object (&peer.out);
  g_clear_object (&peer.process);
}

static gboolean
stats_have_rtt (NatterCall *call)
{
  const NatterCallStats *stats = natter_call_get_stats (call);

  return stats != NULL && stats->video_receive_bitrate > 0 && stats->packets_received > 0;
}

static void
test_stats_refresh (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;

  outgoing = ring (fixture, "video", &incoming);
  g_assert_true (natter_call_accept (incoming, TRUE));
  wait_connected (outgoing, incoming);
  /* Refreshed every 2 s on its own; bitrates need two samples. */
  natter_test_wait_until (stats_have_rtt (incoming), WAIT_MS);
  natter_test_wait_until (natter_call_get_duration (incoming) >= 1, WAIT_MS);
  /* The network quality follows them: known, and good on loopback, with
   * no video reduced. */
  natter_test_wait_until (natter_call_get_network_quality (incoming) >= 0 &&
                            natter_call_get_network_quality (outgoing) >= 0,
                          WAIT_MS);
  g_assert_cmpint (natter_call_get_network_quality (incoming), >=, 2);
  g_assert_false (natter_call_get_poor_connection (incoming));
  g_assert_false (natter_call_get_poor_connection (outgoing));
}

/* The call stack is the calls' own: held from the first ring to a moment
 * after the last call ends (NATTER_CALL_RELEASE_DELAY_MS, 0 here), when
 * its memory goes back. */
static void
test_call_stack_held_while_calls_last (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;

  natter_test_wait_until (!natter_call_pipeline_get_held (), WAIT_MS);
  outgoing = ring (fixture, "voice", &incoming);
  g_assert_true (natter_call_pipeline_get_held ());
  g_assert_true (natter_call_accept (incoming, FALSE));
  wait_connected (outgoing, incoming);
  natter_call_hang_up (outgoing);
  natter_test_wait_until (has_state (incoming, NATTER_CALL_STATE_ENDED), WAIT_MS);
  natter_test_wait_until (!natter_call_pipeline_get_held (), WAIT_MS);
}

int
main (int argc, char *argv[])
{
  static const char *const ring_timeout_args[] = { "--ring-timeout", "2", NULL };

  g_test_init (&argc, &argv, NULL);

  g_setenv ("NATTER_VIDEO_SRC",
            "videotestsrc is-live=true pattern=ball ! capsfilter "
            "caps=\"video/x-raw,width=320,height=240,framerate=30/1\"",
            FALSE);
  g_setenv ("NATTER_AUDIO_SRC", "audiotestsrc is-live=true wave=ticks", FALSE);
  g_setenv ("NATTER_AUDIO_SINK", "fakesink sync=false", FALSE);
  /* The synthesized fallback, whatever the machine has installed. */
  g_setenv ("NATTER_SOUND_DIR", "/nonexistent", TRUE);
  /* Memory goes back at once after each test's last call. */
  g_setenv ("NATTER_CALL_RELEASE_DELAY_MS", "0", TRUE);

#define ADD(path, func, args) \
  g_test_add ("/natter/calls/" path, Fixture, args, fixture_set_up, func, fixture_tear_down)
  ADD ("video-call-media-both-ways", test_video_call, NULL);
  ADD ("voice-call-and-callee-hangs-up", test_voice_call, NULL);
  ADD ("decline-after-silence", test_decline, NULL);
  ADD ("busy-while-in-a-call", test_busy, NULL);
  ADD ("end-current-and-accept", test_end_current_and_accept, NULL);
  ADD ("caller-cancels", test_caller_cancels, NULL);
  ADD ("ring-timeout", test_ring_timeout, ring_timeout_args);
  ADD ("answered-elsewhere-stops-other-ringer", test_answered_elsewhere, NULL);
  ADD ("device-connects-during-ring", test_device_connects_during_ring, NULL);
  ADD ("glare-accepts-the-surviving-call", test_glare, NULL);
  ADD ("mute-and-camera-reach-peer", test_media_state_reaches_peer, NULL);
  ADD ("websocket-cut-keeps-media", test_websocket_cut_keeps_media, NULL);
  ADD ("stats-refresh", test_stats_refresh, NULL);
  ADD ("ice-restart-after-lost-path", test_ice_restart_after_lost_path, NULL);
  ADD ("peer-vanishes-ends-failed", test_peer_vanishes_ends_failed, NULL);
  ADD ("callee-restarts-ice-when-only-it-stops-receiving", test_callee_restarts_ice, NULL);
  ADD ("repeated-ice-restarts-keep-media", test_repeated_ice_restarts_keep_media, NULL);
  ADD ("sender-reports-need-no-clock-rate-lookup", test_sender_reports_need_no_rate_lookup, NULL);
  ADD ("microphone-fails-ends-call-at-once", test_microphone_fails_ends_call_at_once, NULL);
  ADD ("microphone-fails-as-it-starts-ends-call-at-once",
       test_microphone_fails_as_it_starts_ends_call_at_once, NULL);
  ADD ("camera-fails-goes-on-without-video", test_camera_fails_goes_on_without_video, NULL);
  ADD ("call-stack-held-while-calls-last", test_call_stack_held_while_calls_last, NULL);
#undef ADD

  return g_test_run ();
}
