/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-outbox"

#include "config.h"

#include "natter-client.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "tcp-proxy.h"

/* The outbox: messages survive reconnects, client restarts and a link
 * that keeps breaking, and arrive exactly once, in order. */

#define N_MESSAGES 300

typedef struct {
  NatterClient *client;
  NatterProfile *profile;
  char *data_dir;
  char *email;
  GPtrArray *received; /* NatterMessage */
  guint sent;
} Side;

typedef struct {
  NatterTestServer *server;
  NatterTcpProxy *proxy;
  char *data_dir;
  Side a;
  Side b;
} Fixture;

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
  side->sent++;
}

static void
side_attach (Side *side, const char *url)
{
  side->client = natter_client_new (url, side->data_dir);
  g_signal_connect (side->client, "message-received", G_CALLBACK (on_message_received), side);
  g_signal_connect (side->client, "message-sent", G_CALLBACK (on_message_sent), side);
}

static void
side_detach (Side *side)
{
  if (side->client == NULL)
    return;

  g_signal_handlers_disconnect_by_data (side->client, side);
  g_assert_finalize_object (g_steal_pointer (&side->client));
}

static void
side_login (Side *side, const char *url)
{
  side_attach (side, url);
  natter_test_client_login (side->client, side->email, 5000);
  natter_test_wait_until (natter_test_client_is_connected (side->client), 5000);
}

static void
side_set_up (Fixture *fixture, Side *side, const char *name, const char *type)
{
  g_autoptr (NatterUser) user = NULL;

  side->email = g_strdup_printf ("%s@example.org", name);
  side->data_dir = g_build_filename (fixture->data_dir, name, NULL);
  side->received = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  user =
    natter_test_server_register (fixture->server, side->email, name, type, NULL, &side->profile);
}

static void
side_clear (Side *side)
{
  side_detach (side);
  g_clear_pointer (&side->received, g_ptr_array_unref);
  g_clear_pointer (&side->profile, natter_profile_free);
  g_clear_pointer (&side->data_dir, g_free);
  g_clear_pointer (&side->email, g_free);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  const char *const args[] = { "--chat-rate", "200", "--chat-burst", "400", NULL };
  g_autoptr (GError) error = NULL;

  fixture->server = natter_test_server_new (args);
  fixture->proxy = natter_tcp_proxy_new (natter_test_server_get_port (fixture->server));
  fixture->data_dir = g_dir_make_tmp ("natter-test-outbox-XXXXXX", &error);
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
count_pending (Side *side)
{
  g_autoptr (GPtrArray) pending =
    natter_store_outbox_list (natter_client_get_store (side->client), 0, TRUE);

  return pending->len;
}

static void
test_survives_client_restart (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_test_server_get_url (fixture->server);
  g_autoptr (GError) error = NULL;
  g_autofree char *client_msg_id = NULL;
  g_autoptr (NatterOutboxEntry) entry = NULL;
  NatterMessage *message;

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);

  /* The server goes away; a message is written while it is gone, then the
   * application quits. */
  natter_test_server_stop (fixture->server);
  natter_test_wait_until (!natter_test_client_is_connected (fixture->a.client), 5000);
  client_msg_id = natter_client_send_message_to_profile (fixture->a.client, fixture->b.profile,
                                                         "written offline", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (count_pending (&fixture->a), ==, 1);
  side_detach (&fixture->a);

  /* A new NatterClient on the same data directory, signing in while the
   * server is still down: it works from the remembered profile. */
  side_attach (&fixture->a, url);
  natter_test_client_sign_in (fixture->a.client, 5000);
  g_assert_nonnull (natter_client_get_store (fixture->a.client));
  entry = natter_store_outbox_lookup (natter_client_get_store (fixture->a.client), client_msg_id);
  g_assert_nonnull (entry);
  g_assert_cmpint (entry->state, ==, NATTER_OUTBOX_PENDING);

  natter_test_server_restart (fixture->server);
  natter_test_wait_until (fixture->a.sent == 1, 15000);
  natter_test_wait_until (fixture->b.received->len == 1, 5000);
  g_assert_cmpuint (count_pending (&fixture->a), ==, 0);

  message = g_ptr_array_index (fixture->b.received, 0);
  g_assert_cmpstr (message->text, ==, "written offline");
  g_assert_cmpstr (message->client_msg_id, ==, client_msg_id);

  /* The restarted client learned who it is once the server answered. */
  natter_test_wait_until (
    natter_account_get_user (natter_client_get_account (fixture->a.client)) != NULL, 5000);
}

typedef struct {
  Fixture *fixture;
  guint a_queued;
  guint b_queued;
  gint64 conversation_id;
  guint source_id;
} Typist;

/* Both sides type a message every 20 ms (about 6 s for 300), whatever
 * state their link is in. */
static gboolean
on_type_some (gpointer user_data)
{
  Typist *typist = user_data;
  Fixture *fixture = typist->fixture;

  for (guint i = 0; i < 1 && typist->a_queued < N_MESSAGES; i++) {
    g_autofree char *text = g_strdup_printf ("a %03u", ++typist->a_queued);
    g_autoptr (GError) error = NULL;
    g_autofree char *id =
      natter_client_send_message (fixture->a.client, typist->conversation_id, text, &error);

    g_assert_no_error (error);
    g_assert_nonnull (id);
  }

  for (guint i = 0; i < 1 && typist->b_queued < N_MESSAGES; i++) {
    g_autofree char *text = g_strdup_printf ("b %03u", ++typist->b_queued);
    g_autoptr (GError) error = NULL;
    g_autofree char *id =
      natter_client_send_message (fixture->b.client, typist->conversation_id, text, &error);

    g_assert_no_error (error);
    g_assert_nonnull (id);
  }

  if (typist->a_queued < N_MESSAGES || typist->b_queued < N_MESSAGES)
    return G_SOURCE_CONTINUE;

  typist->source_id = 0;
  return G_SOURCE_REMOVE;
}

static int
compare_seq (gconstpointer a, gconstpointer b)
{
  const NatterMessage *first = *(NatterMessage **) a;
  const NatterMessage *second = *(NatterMessage **) b;

  return first->seq < second->seq ? -1 : first->seq > second->seq;
}

/* In conversation order (seq, as every view shows it), the sender's
 * messages appear once each, in the order they were written. Arrival
 * order may differ: a replay after a reconnect interleaves with live
 * messages. */
static void
assert_exactly_once_in_order (GPtrArray *received, const char *prefix)
{
  g_autoptr (GPtrArray) by_seq = g_ptr_array_new ();
  guint expected = 0;

  for (guint i = 0; i < received->len; i++) {
    NatterMessage *message = g_ptr_array_index (received, i);

    if (g_str_has_prefix (message->text, prefix))
      g_ptr_array_add (by_seq, message);
  }
  g_ptr_array_sort (by_seq, compare_seq);

  for (guint i = 0; i < by_seq->len; i++) {
    NatterMessage *message = g_ptr_array_index (by_seq, i);
    g_autofree char *text = g_strdup_printf ("%s%03u", prefix, ++expected);

    g_assert_cmpstr (message->text, ==, text);
    if (i > 0)
      g_assert_cmpint (message->seq, >, ((NatterMessage *) g_ptr_array_index (by_seq, i - 1))->seq);
  }

  g_assert_cmpuint (expected, ==, N_MESSAGES);
}

static void
test_random_cuts (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_tcp_proxy_get_url (fixture->proxy);
  const char *seed_text = g_getenv ("NATTER_TEST_PROXY_SEED");
  guint32 seed = seed_text != NULL ? (guint32) g_ascii_strtoull (seed_text, NULL, 10) : 20261122;
  Typist typist = { fixture, 0, 0, 0, 0 };
  gint64 settle;

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);

  g_free (
    natter_client_send_message_to_profile (fixture->a.client, fixture->b.profile, "start", NULL));
  natter_test_wait_until (fixture->b.received->len == 1, 5000);
  typist.conversation_id =
    ((NatterMessage *) g_ptr_array_index (fixture->b.received, 0))->conversation_id;

  g_test_message ("proxy seed %u (NATTER_TEST_PROXY_SEED replays a run)", seed);
  /* Slower runs (NATTER_TEST_TIME_SCALE) cut links that much less often, so a
   * reconnect still has time to send some. */
  natter_tcp_proxy_cut_randomly (fixture->proxy, seed, natter_test_scale_ms (300),
                                 natter_test_scale_ms (1200));
  typist.source_id = g_timeout_add (20, on_type_some, &typist);

  natter_test_wait_until (fixture->a.sent == N_MESSAGES + 1 && fixture->b.sent == N_MESSAGES,
                          120000);
  natter_tcp_proxy_stop_cutting (fixture->proxy);
  natter_test_wait_until (
    fixture->a.received->len >= N_MESSAGES && fixture->b.received->len >= N_MESSAGES + 1, 30000);

  /* Give a duplicate every chance to arrive before counting. */
  settle = g_get_monotonic_time () + 1000 * 1000;
  while (natter_test_iterate_until (settle))
    ;

  g_test_message ("%u cuts", natter_tcp_proxy_get_n_cuts (fixture->proxy));
  g_assert_cmpuint (natter_tcp_proxy_get_n_cuts (fixture->proxy), >=, 3);

  g_assert_cmpuint (fixture->b.received->len, ==, N_MESSAGES + 1);
  g_assert_cmpuint (fixture->a.received->len, ==, N_MESSAGES);
  assert_exactly_once_in_order (fixture->b.received, "a ");
  assert_exactly_once_in_order (fixture->a.received, "b ");
  g_assert_cmpuint (count_pending (&fixture->a), ==, 0);
  g_assert_cmpuint (count_pending (&fixture->b), ==, 0);
  g_assert_cmpuint (natter_store_count_messages (natter_client_get_store (fixture->a.client),
                                                 typist.conversation_id),
                    ==, 2 * N_MESSAGES + 1);

  g_clear_handle_id (&typist.source_id, g_source_remove);
}

int
main (int argc, char **argv)
{
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
  g_setenv ("NATTER_CHAT_RATE", "150", TRUE);
  g_setenv ("NATTER_CHAT_BURST", "300", TRUE);
  g_unsetenv ("NATTER_TOKEN");
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/outbox/survives-client-restart", test_survives_client_restart);
  ADD ("/natter/outbox/random-cuts-300-each-exactly-once-in-order", test_random_cuts);
#undef ADD

  return g_test_run ();
}
