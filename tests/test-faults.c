/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-faults"

#include "config.h"

#include <json-glib/json-glib.h>
#include <signal.h>

#include "natter-call-manager.h"
#include "natter-client.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "tcp-proxy.h"

/* Fault injection at issue #8's scale, with the real natter-server and real
 * NatterClients: links cut at random by tests/tcp-proxy.c, the server killed
 * with SIGKILL mid-traffic, and a call that lives through a server restart.
 * Every random choice comes from one seed, printed by each test; set
 * NATTER_TEST_FAULT_SEED to replay a run. NATTER_TEST_TIME_SCALE (set by
 * build-aux/test.sh for sanitizer builds, which run several times slower)
 * stretches the pace of writing, the intervals between cuts and the
 * deadlines, so the same traffic meets the same faults. */

#define CUTS_PER_SIDE 500
#define KILL_PER_SIDE 300
#define WAIT_MS 20000

typedef struct _KillPlan KillPlan;

typedef struct {
  NatterClient *client;
  NatterProfile *profile;
  char *token;
  char *data_dir;
  char *email;
  GPtrArray *received; /* NatterMessage, in arrival order */
  GHashTable *acked;   /* client_msg_id → GINT_TO_POINTER (1), message_ack seen */
  GPtrArray *written;  /* client_msg_id, in writing order */
  guint sent;
  KillPlan *kill_plan; /* armed: SIGKILL from on_message_sent */
} Side;

/* The server is killed from inside the handler of the first message_ack
 * past a mark, and what each side had seen acknowledged is copied right
 * there: waiting in the test body instead would let the main loop take
 * every ack already on the wire first, and on a loaded machine that can be
 * the whole burst. */
struct _KillPlan {
  GPid server_pid;
  Side *a;
  Side *b;
  guint mark_a;
  guint mark_b;
  GHashTable *acked_a; /* copies, made before the kill */
  GHashTable *acked_b;
  guint written_a; /* written->len at the kill */
  guint written_b;
  gboolean killed;
};

typedef struct {
  NatterTestServer *server;
  NatterTcpProxy *proxy;
  char *data_dir;
  guint32 seed;
  Side a;
  Side b;
} Fixture;

static GHashTable *
copy_ids (GHashTable *ids)
{
  GHashTable *copy = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, ids);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_hash_table_add (copy, g_strdup (key));
  return copy;
}

static void
on_message_received (NatterClient *client, const NatterMessage *message, Side *side)
{
  g_ptr_array_add (side->received, natter_message_copy (message));
}

static void
on_message_sent (NatterClient *client,
                 const char *client_msg_id,
                 const NatterMessage *message,
                 Side *side)
{
  KillPlan *plan = side->kill_plan;

  side->sent++;
  g_hash_table_add (side->acked, g_strdup (client_msg_id));

  if (plan == NULL || plan->killed ||
      (plan->a->sent <= plan->mark_a && plan->b->sent <= plan->mark_b))
    return;
  plan->acked_a = copy_ids (plan->a->acked);
  plan->acked_b = copy_ids (plan->b->acked);
  plan->written_a = plan->a->written->len;
  plan->written_b = plan->b->written->len;
  /* Only the signal here; the test body reaps the process. */
  g_assert_cmpint (kill (plan->server_pid, SIGKILL), ==, 0);
  plan->killed = TRUE;
}

static void
side_login (Side *side, const char *url)
{
  side->client = natter_client_new (url, side->data_dir);
  g_signal_connect (side->client, "message-received", G_CALLBACK (on_message_received), side);
  g_signal_connect (side->client, "message-sent", G_CALLBACK (on_message_sent), side);
  natter_test_client_login (side->client, side->email, WAIT_MS);
  natter_test_wait_until (natter_test_client_is_connected (side->client), WAIT_MS);
}

static void
side_set_up (Fixture *fixture, Side *side, const char *name, const char *type)
{
  g_autoptr (NatterUser) user = NULL;

  side->email = g_strdup_printf ("%s@example.org", name);
  side->data_dir = g_build_filename (fixture->data_dir, name, NULL);
  side->received = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  side->acked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  side->written = g_ptr_array_new_with_free_func (g_free);
  user = natter_test_server_register (fixture->server, side->email, name, type, &side->token,
                                      &side->profile);
}

static void
side_clear (Side *side)
{
  if (side->client != NULL) {
    g_signal_handlers_disconnect_by_data (side->client, side);
    g_assert_finalize_object (g_steal_pointer (&side->client));
  }
  g_clear_pointer (&side->received, g_ptr_array_unref);
  g_clear_pointer (&side->acked, g_hash_table_unref);
  g_clear_pointer (&side->written, g_ptr_array_unref);
  g_clear_pointer (&side->profile, natter_profile_free);
  g_clear_pointer (&side->token, g_free);
  g_clear_pointer (&side->data_dir, g_free);
  g_clear_pointer (&side->email, g_free);
}

static guint32
fault_seed (void)
{
  const char *text = g_getenv ("NATTER_TEST_FAULT_SEED");

  if (text != NULL && *text != '\0')
    return (guint32) g_ascii_strtoull (text, NULL, 10);
  return g_random_int ();
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  const char *const args[] = { "--chat-rate", "400", "--chat-burst", "800", NULL };
  g_autoptr (GError) error = NULL;

  fixture->seed = fault_seed ();
  g_test_message ("seed %u (NATTER_TEST_FAULT_SEED=%u replays this run)", fixture->seed,
                  fixture->seed);
  /* Also on stderr: meson keeps it with the failure. */
  g_printerr ("# %s: seed %u (NATTER_TEST_FAULT_SEED=%u replays this run)\n", g_test_get_path (),
              fixture->seed, fixture->seed);

  fixture->server = natter_test_server_new (args);
  fixture->proxy = natter_tcp_proxy_new (natter_test_server_get_port (fixture->server));
  fixture->data_dir = g_dir_make_tmp ("natter-test-faults-XXXXXX", &error);
  g_assert_no_error (error);

  side_set_up (fixture, &fixture->a, "abebe", "tutor");
  side_set_up (fixture, &fixture->b, "sara", "student");
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  side_clear (&fixture->a);
  side_clear (&fixture->b);
  natter_tcp_proxy_free (fixture->proxy);
  natter_test_server_free (fixture->server);
  natter_test_remove_tree (fixture->data_dir);
  g_free (fixture->data_dir);
}

static guint
count_outbox (Side *side)
{
  g_autoptr (GPtrArray) entries =
    natter_store_outbox_list (natter_client_get_store (side->client), 0, FALSE);

  return entries->len;
}

/* Both sides write one message per tick whatever their link's state, as a
 * person typing would; the outbox is what carries them. */
typedef struct {
  Fixture *fixture;
  gint64 conversation_id;
  guint per_side;
  guint source_id;
} Typist;

static void
type_one (Side *side, Typist *typist, const char *prefix)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  char *id;

  if (side->written->len >= typist->per_side)
    return;

  text = g_strdup_printf ("%s%04u", prefix, side->written->len + 1);
  id = natter_client_send_message (side->client, typist->conversation_id, text, &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);
  g_ptr_array_add (side->written, id);
}

static gboolean
on_type (gpointer user_data)
{
  Typist *typist = user_data;

  type_one (&typist->fixture->a, typist, "a ");
  type_one (&typist->fixture->b, typist, "b ");

  if (typist->fixture->a.written->len < typist->per_side ||
      typist->fixture->b.written->len < typist->per_side)
    return G_SOURCE_CONTINUE;

  typist->source_id = 0;
  return G_SOURCE_REMOVE;
}

/* A opens the conversation so both sides can write into it by id; its
 * first message is then left out of the counts. */
static gint64
open_conversation (Fixture *fixture)
{
  gint64 conversation_id;

  g_free (
    natter_client_send_message_to_profile (fixture->a.client, fixture->b.profile, "start", NULL));
  natter_test_wait_until (fixture->b.received->len == 1 && fixture->a.sent == 1, WAIT_MS);
  conversation_id = ((NatterMessage *) g_ptr_array_index (fixture->b.received, 0))->conversation_id;

  g_ptr_array_set_size (fixture->b.received, 0);
  g_hash_table_remove_all (fixture->a.acked);
  fixture->a.sent = 0;
  return conversation_id;
}

static int
compare_seq (gconstpointer a, gconstpointer b)
{
  const NatterMessage *first = *(NatterMessage **) a;
  const NatterMessage *second = *(NatterMessage **) b;

  return first->seq < second->seq ? -1 : first->seq > second->seq;
}

/* @receiver got each of @sender's written messages exactly once, and in
 * conversation order (seq, as every view shows it) they stand in the order
 * they were written. Arrival order may differ: a replay after a reconnect
 * interleaves with live messages. */
static void
assert_exactly_once_in_order (Side *receiver, Side *sender)
{
  g_autoptr (GPtrArray) by_seq = g_ptr_array_new ();
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < receiver->received->len; i++) {
    NatterMessage *message = g_ptr_array_index (receiver->received, i);

    if (!natter_profile_equal (message->sender, sender->profile))
      continue;
    g_assert_nonnull (message->client_msg_id);
    /* Delivered twice? */
    g_assert_true (g_hash_table_add (seen, message->client_msg_id));
    g_ptr_array_add (by_seq, message);
  }
  g_ptr_array_sort (by_seq, compare_seq);

  g_assert_cmpuint (by_seq->len, ==, sender->written->len);
  for (guint i = 0; i < by_seq->len; i++) {
    NatterMessage *message = g_ptr_array_index (by_seq, i);

    g_assert_cmpstr (message->client_msg_id, ==, g_ptr_array_index (sender->written, i));
    if (i > 0)
      g_assert_cmpint (message->seq, >, ((NatterMessage *) g_ptr_array_index (by_seq, i - 1))->seq);
  }
}

static void
settle (guint ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) ms * 1000;

  while (natter_test_iterate_until (deadline))
    ;
}

/* a. The proxy cuts every link at random every 0.2–2 s while both sides
 * write 500 messages each (1,000 in all), one each every 25 ms: about
 * 12 s of writing, so a dozen cuts land in the middle of the traffic. */
static void
test_random_cuts (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_tcp_proxy_get_url (fixture->proxy);
  Typist typist = { fixture, 0, CUTS_PER_SIDE, 0 };
  gint64 started;

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);
  typist.conversation_id = open_conversation (fixture);

  started = g_get_monotonic_time ();
  natter_tcp_proxy_cut_randomly (fixture->proxy, fixture->seed, natter_test_scale_ms (200),
                                 natter_test_scale_ms (2000));
  typist.source_id = g_timeout_add (natter_test_scale_ms (25), on_type, &typist);

  natter_test_wait_until (fixture->a.sent == CUTS_PER_SIDE && fixture->b.sent == CUTS_PER_SIDE,
                          90000);
  natter_tcp_proxy_stop_cutting (fixture->proxy);
  natter_test_wait_until (fixture->a.received->len >= CUTS_PER_SIDE &&
                            fixture->b.received->len >= CUTS_PER_SIDE,
                          WAIT_MS);
  g_test_message ("%u cuts in %.1f s", natter_tcp_proxy_get_n_cuts (fixture->proxy),
                  (g_get_monotonic_time () - started) / (double) G_USEC_PER_SEC);

  /* Give a duplicate every chance to arrive before counting. */
  settle (1000);

  g_assert_cmpuint (natter_tcp_proxy_get_n_cuts (fixture->proxy), >=, 5);
  assert_exactly_once_in_order (&fixture->b, &fixture->a);
  assert_exactly_once_in_order (&fixture->a, &fixture->b);
  g_assert_cmpuint (fixture->b.received->len, ==, CUTS_PER_SIDE);
  g_assert_cmpuint (fixture->a.received->len, ==, CUTS_PER_SIDE);

  /* Every outbox entry ended acknowledged (an acknowledged entry leaves the
   * outbox for the message list), none failed. */
  g_assert_cmpuint (count_outbox (&fixture->a), ==, 0);
  g_assert_cmpuint (count_outbox (&fixture->b), ==, 0);
  g_assert_cmpuint (g_hash_table_size (fixture->a.acked), ==, CUTS_PER_SIDE);
  g_assert_cmpuint (g_hash_table_size (fixture->b.acked), ==, CUTS_PER_SIDE);
  g_assert_cmpuint (natter_store_count_messages (natter_client_get_store (fixture->a.client),
                                                 typist.conversation_id),
                    ==, 2 * CUTS_PER_SIDE + 1);
  g_assert_cmpuint (natter_store_count_messages (natter_client_get_store (fixture->b.client),
                                                 typist.conversation_id),
                    ==, 2 * CUTS_PER_SIDE + 1);

  g_clear_handle_id (&typist.source_id, g_source_remove);
}

/* The client_msg_ids of @side's messages in the server's history of the
 * conversation, read over HTTP. */
static GHashTable *
server_history (Fixture *fixture, Side *reader, gint64 conversation_id)
{
  GHashTable *ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gint64 before_seq = 0;
  gboolean has_more = TRUE;

  while (has_more) {
    g_autofree char *path = NULL;
    g_autofree char *body = NULL;
    g_autoptr (JsonNode) root = NULL;
    g_autoptr (GError) error = NULL;
    JsonObject *object;
    JsonArray *messages;
    guint status = 0;

    if (before_seq > 0)
      path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/conversations/%" G_GINT64_FORMAT
                              "/messages?limit=200&before_seq=%" G_GINT64_FORMAT,
                              reader->profile->profile_id, reader->profile->profile_type,
                              conversation_id, before_seq);
    else
      path = g_strdup_printf (
        "/api/as/%" G_GINT64_FORMAT "/%s/conversations/%" G_GINT64_FORMAT "/messages?limit=200",
        reader->profile->profile_id, reader->profile->profile_type, conversation_id);
    body = natter_test_http (fixture->server, "GET", path, reader->token, NULL, &status);
    g_assert_cmpuint (status, ==, 200);
    root = json_from_string (body, &error);
    g_assert_no_error (error);
    object = json_node_get_object (root);
    messages = json_object_get_array_member (object, "messages");
    has_more = json_object_get_boolean_member (object, "has_more");
    g_assert_true (json_array_get_length (messages) > 0 || !has_more);

    for (guint i = 0; i < json_array_get_length (messages); i++) {
      JsonObject *message = json_array_get_object_element (messages, i);
      const char *id = json_object_get_string_member_with_default (message, "client_msg_id", NULL);
      gint64 seq = json_object_get_int_member (message, "seq");

      if (id != NULL)
        g_assert_true (g_hash_table_add (ids, g_strdup (id)));
      if (before_seq == 0 || seq < before_seq)
        before_seq = seq;
    }
  }

  return ids;
}

/* b. natter-server dies by SIGKILL with traffic in flight and comes back on
 * the same port and database. */
static void
test_server_sigkill (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_test_server_get_url (fixture->server);
  Typist typist = { fixture, 0, KILL_PER_SIDE, 0 };
  g_autoptr (GHashTable) acked_a = NULL;
  g_autoptr (GHashTable) acked_b = NULL;
  g_autoptr (GHashTable) history = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (fixture->seed);
  guint kill_after = (guint) g_rand_int_range (rand, 60, 180);
  guint down_ms = (guint) g_rand_int_range (rand, 200, 2000);
  GHashTableIter iter;
  gpointer key;
  gint64 restarted;
  guint mark_a, mark_b;
  KillPlan plan = { 0 };

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);
  typist.conversation_id = open_conversation (fixture);

  typist.source_id = g_timeout_add (natter_test_scale_ms (10), on_type, &typist);
  natter_test_wait_until (fixture->a.sent >= kill_after && fixture->b.sent >= kill_after, WAIT_MS);

  /* A burst from each side, and the kill as soon as the server has
   * acknowledged a part of it: the rest is in flight, some of it perhaps
   * stored without its message_ack reaching the client. */
  mark_a = fixture->a.sent;
  mark_b = fixture->b.sent;
  for (guint i = 0; i < 20; i++) {
    type_one (&fixture->a, &typist, "a ");
    type_one (&fixture->b, &typist, "b ");
  }
  plan.server_pid = natter_test_server_get_pid (fixture->server);
  plan.a = &fixture->a;
  plan.b = &fixture->b;
  plan.mark_a = mark_a;
  plan.mark_b = mark_b;
  fixture->a.kill_plan = &plan;
  fixture->b.kill_plan = &plan;
  natter_test_wait_until (plan.killed, WAIT_MS);
  fixture->a.kill_plan = NULL;
  fixture->b.kill_plan = NULL;
  natter_test_server_kill (fixture->server);
  /* What the server acknowledged before it died: it must all be there. */
  acked_a = g_steal_pointer (&plan.acked_a);
  acked_b = g_steal_pointer (&plan.acked_b);
  g_test_message ("killed after %u + %u acknowledged, %u + %u written; down %u ms",
                  g_hash_table_size (acked_a), g_hash_table_size (acked_b), plan.written_a,
                  plan.written_b, down_ms);
  g_assert_cmpuint (g_hash_table_size (acked_a), <, KILL_PER_SIDE);
  g_assert_cmpuint (g_hash_table_size (acked_a) + g_hash_table_size (acked_b), <,
                    plan.written_a + plan.written_b);

  /* Writing goes on while the server is gone. */
  natter_test_wait_until (!natter_test_client_is_connected (fixture->a.client) &&
                            !natter_test_client_is_connected (fixture->b.client),
                          WAIT_MS);
  settle (down_ms);

  natter_test_server_restart (fixture->server);
  restarted = g_get_monotonic_time ();

  /* The clients come back on their own. */
  natter_test_wait_until (natter_test_client_is_connected (fixture->a.client) &&
                            natter_test_client_is_connected (fixture->b.client),
                          WAIT_MS);
  g_test_message ("both connected %.1f s after the restart",
                  (g_get_monotonic_time () - restarted) / (double) G_USEC_PER_SEC);

  natter_test_wait_until (fixture->a.sent == KILL_PER_SIDE && fixture->b.sent == KILL_PER_SIDE &&
                            fixture->a.received->len >= KILL_PER_SIDE &&
                            fixture->b.received->len >= KILL_PER_SIDE,
                          60000);
  settle (1000);

  assert_exactly_once_in_order (&fixture->b, &fixture->a);
  assert_exactly_once_in_order (&fixture->a, &fixture->b);
  g_assert_cmpuint (fixture->a.received->len, ==, KILL_PER_SIDE);
  g_assert_cmpuint (fixture->b.received->len, ==, KILL_PER_SIDE);
  g_assert_cmpuint (count_outbox (&fixture->a), ==, 0);
  g_assert_cmpuint (count_outbox (&fixture->b), ==, 0);

  /* The server's own history after the restart: every message it had
   * acknowledged, and every one re-sent from an outbox, once. */
  history = server_history (fixture, &fixture->b, typist.conversation_id);
  g_hash_table_iter_init (&iter, acked_a);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_assert_true (g_hash_table_contains (history, key));
  g_hash_table_iter_init (&iter, acked_b);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_assert_true (g_hash_table_contains (history, key));
  g_assert_cmpuint (g_hash_table_size (history), ==, 2 * KILL_PER_SIDE + 1);

  g_clear_handle_id (&typist.source_id, g_source_remove);
}

/* c. A call in progress lives through a server restart. */

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

/* Media keeps arriving on both sides: 30 more video frames (a second at
 * 30 fps) and 20 more audio buffers each. */
static void
assert_media_flows (NatterCall *outgoing, NatterCall *incoming)
{
  guint64 video_out = video_received (outgoing);
  guint64 video_in = video_received (incoming);
  guint64 audio_out = audio_received (outgoing);
  guint64 audio_in = audio_received (incoming);

  natter_test_wait_until (
    video_received (outgoing) >= video_out + 30 && video_received (incoming) >= video_in + 30 &&
      audio_received (outgoing) >= audio_out + 20 && audio_received (incoming) >= audio_in + 20,
    WAIT_MS);
  g_assert_cmpint (natter_call_get_state (outgoing), ==, NATTER_CALL_STATE_CONNECTED);
  g_assert_cmpint (natter_call_get_state (incoming), ==, NATTER_CALL_STATE_CONNECTED);
}

static void
test_call_survives_server_restart (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_test_server_get_url (fixture->server);
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterCall) outgoing = NULL;
  g_autoptr (NatterCall) incoming = NULL;

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);

  outgoing = natter_call_manager_start_call (manager_of (fixture->a.client), fixture->b.profile,
                                             "video", 0, &error);
  g_assert_no_error (error);
  g_object_ref (outgoing);
  natter_test_wait_until (
    has_state (first_call (fixture->b.client), NATTER_CALL_STATE_RINGING_INCOMING), WAIT_MS);
  incoming = g_object_ref (first_call (fixture->b.client));
  g_assert_true (natter_call_accept (incoming, TRUE));
  natter_test_wait_until (has_state (outgoing, NATTER_CALL_STATE_CONNECTED) &&
                            has_state (incoming, NATTER_CALL_STATE_CONNECTED),
                          WAIT_MS);
  assert_media_flows (outgoing, incoming);

  /* The server goes away: media is peer to peer and keeps flowing. */
  g_assert_cmpint (natter_test_server_stop (fixture->server), ==, 0);
  natter_test_wait_until (!natter_test_client_is_connected (fixture->a.client) &&
                            !natter_test_client_is_connected (fixture->b.client),
                          WAIT_MS);
  assert_media_flows (outgoing, incoming);

  natter_test_server_restart (fixture->server);
  natter_test_wait_until (natter_test_client_is_connected (fixture->a.client) &&
                            natter_test_client_is_connected (fixture->b.client),
                          WAIT_MS);
  assert_media_flows (outgoing, incoming);
  g_assert_true (natter_call_manager_get_active_call (manager_of (fixture->a.client)) == outgoing);
  g_assert_true (natter_call_manager_get_active_call (manager_of (fixture->b.client)) == incoming);

  /* What the restarted server knows of the call: only its call log row,
   * "answered" and not ended; call sessions live in memory and are not
   * rebuilt (a restart fails only calls left ringing). So media state and
   * renegotiation frames for it get not_found, but call_ended from one of
   * its two parties still ends it: the server stores the end and sends
   * call_ended to every connection of the other party. */
  natter_call_hang_up (outgoing);
  g_assert_cmpint (natter_call_get_state (outgoing), ==, NATTER_CALL_STATE_ENDED);
  g_assert_cmpint (natter_call_get_end_reason (outgoing), ==, NATTER_CALL_END_REASON_HANGUP);
  natter_test_wait_until (has_state (incoming, NATTER_CALL_STATE_ENDED), WAIT_MS);
  g_assert_cmpint (natter_call_get_end_reason (incoming), ==, NATTER_CALL_END_REASON_HANGUP);
  g_assert_false (natter_call_get_ended_locally (incoming));
  g_assert_null (natter_call_manager_get_active_call (manager_of (fixture->a.client)));
  natter_test_wait_until (
    natter_call_manager_get_active_call (manager_of (fixture->b.client)) == NULL, WAIT_MS);
}

int
main (int argc, char **argv)
{
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
  g_setenv ("NATTER_CHAT_RATE", "300", TRUE);
  g_setenv ("NATTER_CHAT_BURST", "600", TRUE);
  g_unsetenv ("NATTER_TOKEN");
  g_setenv ("NATTER_VIDEO_SRC",
            "videotestsrc is-live=true pattern=ball ! capsfilter "
            "caps=\"video/x-raw,width=320,height=240,framerate=30/1\"",
            FALSE);
  g_setenv ("NATTER_AUDIO_SRC", "audiotestsrc is-live=true wave=ticks", FALSE);
  g_setenv ("NATTER_AUDIO_SINK", "fakesink sync=false", FALSE);
  g_setenv ("NATTER_SOUND_DIR", "/nonexistent", TRUE);
  g_setenv ("NATTER_CALL_RECOVERY_MS", "3000", FALSE);
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/natter/faults/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("proxy-cuts-500-each-exactly-once-in-order", test_random_cuts);
  ADD ("server-sigkill-loses-no-acknowledged-message", test_server_sigkill);
  ADD ("call-survives-server-restart", test_call_survives_server_restart);
#undef ADD

  return g_test_run ();
}
