/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-presence"

#include "config.h"

#include "natter-client.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "natter-test-ws.h"

/* Two real clients that share a conversation see each other come and go,
 * through the conversation item properties the app binds (peer-online,
 * peer-last-seen). */

typedef struct {
  char *email;
  char *data_dir;
  NatterProfile *profile;
  NatterClient *client;
} Side;

typedef struct {
  NatterTestServer *server;
  char *tmpdir;
  char *token_a;
  Side a;
  Side b;
} Fixture;

static void
side_login (Side *side, NatterTestServer *server)
{
  side->client = natter_client_new (natter_test_server_get_url (server), side->data_dir);
  natter_test_client_login (side->client, side->email, 5000);
}

/* A restarted application: the kept token, the same data directory. */
static void
side_restart (Side *side, NatterTestServer *server)
{
  side->client = natter_client_new (natter_test_server_get_url (server), side->data_dir);
  natter_test_client_sign_in (side->client, 5000);
}

static void
side_quit (Side *side)
{
  g_assert_finalize_object (g_steal_pointer (&side->client));
}

static NatterConversationItem *
conversation_with (Side *side, const NatterProfile *peer)
{
  GListModel *conversations = natter_client_get_conversations (side->client);

  if (conversations == NULL)
    return NULL;

  return natter_conversation_list_find_by_peer (NATTER_CONVERSATION_LIST (conversations), peer);
}

static gboolean
sees_online (Side *side, const NatterProfile *peer)
{
  NatterConversationItem *item = conversation_with (side, peer);

  return item != NULL && natter_conversation_item_get_peer_online (item);
}

static gboolean
sees_offline (Side *side, const NatterProfile *peer)
{
  NatterConversationItem *item = conversation_with (side, peer);

  return item != NULL && !natter_conversation_item_get_peer_online (item) &&
         natter_conversation_item_get_peer_last_seen (item) != NULL;
}

/* A asks the server, over HTTP, for the direct conversation with B. */
static void
create_conversation (Fixture *fixture)
{
  g_autofree char *path = NULL;
  g_autofree char *body = NULL;
  g_autofree char *answer = NULL;
  guint status = 0;

  path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/conversations",
                          fixture->a.profile->profile_id, fixture->a.profile->profile_type);
  body =
    g_strdup_printf ("{\"with\":[{\"profile_id\":%" G_GINT64_FORMAT ",\"profile_type\":\"%s\"}]}",
                     fixture->b.profile->profile_id, fixture->b.profile->profile_type);
  answer = natter_test_http (fixture->server, "POST", path, fixture->token_a, body, &status);
  g_assert_cmpuint (status / 100, ==, 2);
}

/* @from writes to @to from a WebSocket of its own, closed again. */
static void
write_to (NatterTestServer *server,
          const NatterProfile *from,
          const char *token,
          const NatterProfile *to)
{
  g_autoptr (NatterTestWs) ws = natter_test_ws_open (natter_test_server_get_url (server),
                                                     from->profile_id, from->profile_type, token);
  g_autoptr (NatterFrame) ack = NULL;

  natter_test_ws_send_printf (ws,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"hi-%" G_GINT64_FORMAT
                              "\",\"to_profile_id\":%" G_GINT64_FORMAT
                              ",\"to_profile_type\":\"%s\",\"text\":\"hi\"}",
                              from->profile_id, to->profile_id, to->profile_type);
  ack = natter_test_ws_expect (ws, "message_ack");
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterUser) user_a = NULL;
  g_autoptr (NatterUser) user_b = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *token_b = NULL;

  fixture->server = natter_test_server_new (NULL);
  fixture->tmpdir = g_dir_make_tmp ("natter-test-presence-XXXXXX", &error);
  g_assert_no_error (error);

  user_a = natter_test_server_register (fixture->server, "abebe@example.org", "Abebe", "tutor",
                                        &fixture->token_a, &fixture->a.profile);
  user_b = natter_test_server_register (fixture->server, "sara@example.org", "Sara", "student",
                                        &token_b, &fixture->b.profile);
  fixture->a.email = g_strdup ("abebe@example.org");
  fixture->b.email = g_strdup ("sara@example.org");
  fixture->a.data_dir = g_build_filename (fixture->tmpdir, "a", NULL);
  fixture->b.data_dir = g_build_filename (fixture->tmpdir, "b", NULL);

  /* Presence is only for profiles that both wrote in a conversation
   * (PROTOCOL.md 1.1). Tests given @data ("message" or "http") start
   * theirs while both are online. */
  if (data == NULL) {
    write_to (fixture->server, fixture->a.profile, fixture->token_a, fixture->b.profile);
    write_to (fixture->server, fixture->b.profile, token_b, fixture->a.profile);
  }

  side_login (&fixture->a, fixture->server);
  natter_test_wait_until (natter_test_client_is_connected (fixture->a.client), 5000);
  side_login (&fixture->b, fixture->server);
  natter_test_wait_until (natter_test_client_is_connected (fixture->b.client), 5000);
}

static void
side_clear (Side *side)
{
  if (side->client != NULL)
    side_quit (side);
  g_clear_pointer (&side->profile, natter_profile_free);
  g_clear_pointer (&side->email, g_free);
  g_clear_pointer (&side->data_dir, g_free);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  side_clear (&fixture->a);
  side_clear (&fixture->b);
  natter_test_server_free (fixture->server);
  g_free (fixture->token_a);
  natter_test_remove_tree (fixture->tmpdir);
  g_free (fixture->tmpdir);
}

static void
count_notify (guint *count)
{
  (*count)++;
}

static void
test_online_offline_and_back (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterConversationItem) at_a = NULL;
  g_autoptr (GDateTime) before = NULL;
  g_autoptr (GDateTime) last_seen = NULL;
  g_autoptr (GDateTime) after = NULL;
  guint online_changes = 0;

  /* A was online first: B learns it from the server's greeting, which
   * comes before B's conversation list; A hears B arrive. */
  natter_test_wait_until (sees_online (&fixture->a, fixture->b.profile), 5000);
  natter_test_wait_until (sees_online (&fixture->b, fixture->a.profile), 5000);

  at_a = g_object_ref (conversation_with (&fixture->a, fixture->b.profile));
  g_signal_connect_swapped (at_a, "notify::peer-online", G_CALLBACK (count_notify),
                            &online_changes);

  /* B quits: A sees B offline, with the time B was last seen. */
  before = g_date_time_new_now_utc ();
  side_quit (&fixture->b);
  natter_test_wait_until (!natter_conversation_item_get_peer_online (at_a), 5000);
  after = g_date_time_new_now_utc ();
  g_assert_cmpuint (online_changes, ==, 1);
  g_assert_nonnull (natter_conversation_item_get_peer_last_seen (at_a));
  last_seen =
    g_date_time_new_from_iso8601 (natter_conversation_item_get_peer_last_seen (at_a), NULL);
  g_assert_nonnull (last_seen);
  /* The server stamps whole seconds. */
  g_assert_cmpint (g_date_time_difference (last_seen, before), >=, -G_USEC_PER_SEC);
  g_assert_cmpint (g_date_time_difference (after, last_seen), >=, 0);

  /* B starts again: both see each other online. */
  side_restart (&fixture->b, fixture->server);
  natter_test_wait_until (natter_conversation_item_get_peer_online (at_a), 5000);
  natter_test_wait_until (sees_online (&fixture->b, fixture->a.profile), 5000);
  g_assert_cmpuint (online_changes, ==, 2);

  g_signal_handlers_disconnect_by_data (at_a, &online_changes);
}

static void
test_peer_gone_while_away (Fixture *fixture, gconstpointer data)
{
  natter_test_wait_until (sees_online (&fixture->a, fixture->b.profile), 5000);

  /* The server goes down; B quits before it is back. Nobody tells A that
   * B went offline: the server's greeting after the reconnect simply does
   * not name B. */
  natter_test_server_stop (fixture->server);
  natter_test_wait_until (!natter_test_client_is_connected (fixture->a.client), 5000);
  side_quit (&fixture->b);
  g_assert_true (sees_online (&fixture->a, fixture->b.profile));

  natter_test_server_restart (fixture->server);
  natter_test_wait_until (natter_test_client_is_connected (fixture->a.client), 10000);
  natter_test_wait_until (sees_offline (&fixture->a, fixture->b.profile), 5000);

  /* Both back after another restart: each sees the other. */
  side_restart (&fixture->b, fixture->server);
  natter_test_wait_until (natter_test_client_is_connected (fixture->b.client), 10000);
  natter_test_wait_until (sees_online (&fixture->a, fixture->b.profile), 5000);
  natter_test_wait_until (sees_online (&fixture->b, fixture->a.profile), 5000);

  natter_test_server_stop (fixture->server);
  natter_test_wait_until (!natter_test_client_is_connected (fixture->a.client) &&
                            !natter_test_client_is_connected (fixture->b.client),
                          5000);
  natter_test_server_restart (fixture->server);
  natter_test_wait_until (natter_test_client_is_connected (fixture->a.client) &&
                            natter_test_client_is_connected (fixture->b.client),
                          10000);
  natter_test_wait_until (sees_online (&fixture->a, fixture->b.profile), 5000);
  natter_test_wait_until (sees_online (&fixture->b, fixture->a.profile), 5000);
}

static void
count_disconnects (NatterConnection *connection, GParamSpec *pspec, guint *disconnects)
{
  if (natter_connection_get_state (connection) != NATTER_CONNECTION_STATE_CONNECTED)
    (*disconnects)++;
}

static void
refresh_conversations (Side *side)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  natter_client_refresh_conversations_async (side->client, NULL, natter_test_on_task_done, &result);
  natter_test_wait_until (result != NULL, 5000);
  g_assert_true (natter_client_refresh_conversations_finish (side->client, result, &error));
  g_assert_no_error (error);
}

/* Both online before they share a conversation: opening it (over HTTP) or
 * writing into it alone tells nobody; once both wrote, each learns that the
 * other is online, with no reconnect. */
static void
test_online_when_conversation_created (Fixture *fixture, gconstpointer data)
{
  NatterConnection *connection_a = natter_client_get_connection (fixture->a.client);
  NatterConnection *connection_b = natter_client_get_connection (fixture->b.client);
  g_autoptr (GError) error = NULL;
  guint disconnects = 0;

  g_signal_connect (connection_a, "notify::state", G_CALLBACK (count_disconnects), &disconnects);
  g_signal_connect (connection_b, "notify::state", G_CALLBACK (count_disconnects), &disconnects);

  if (g_str_equal (data, "message")) {
    g_autofree char *client_msg_id = natter_client_send_message_to_profile (
      fixture->a.client, fixture->b.profile, "Hello", &error);

    g_assert_no_error (error);
    g_assert_nonnull (client_msg_id);
    natter_test_wait_until (conversation_with (&fixture->b, fixture->a.profile) != NULL, 5000);
  } else {
    create_conversation (fixture);
    refresh_conversations (&fixture->a);
    refresh_conversations (&fixture->b);
  }

  /* One side alone: no presence yet. */
  natter_test_iterate_until (g_get_monotonic_time () + 300 * 1000);
  g_assert_false (sees_online (&fixture->a, fixture->b.profile));
  g_assert_false (sees_online (&fixture->b, fixture->a.profile));

  {
    g_autofree char *reply = natter_client_send_message_to_profile (
      fixture->b.client, fixture->a.profile, "Hello back", &error);

    g_assert_no_error (error);
    g_assert_nonnull (reply);
  }
  if (!g_str_equal (data, "message")) {
    g_autofree char *answer = natter_client_send_message_to_profile (
      fixture->a.client, fixture->b.profile, "Hello", &error);

    g_assert_no_error (error);
    g_assert_nonnull (answer);
  }

  natter_test_wait_until (sees_online (&fixture->a, fixture->b.profile), 5000);
  natter_test_wait_until (sees_online (&fixture->b, fixture->a.profile), 5000);
  g_assert_cmpuint (disconnects, ==, 0);

  g_signal_handlers_disconnect_by_data (connection_a, &disconnects);
  g_signal_handlers_disconnect_by_data (connection_b, &disconnects);
}

int
main (int argc, char **argv)
{
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
  g_unsetenv ("NATTER_TOKEN");
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/presence/online-offline-and-back", test_online_offline_and_back);
  ADD ("/natter/presence/peer-gone-while-away-shows-offline", test_peer_gone_while_away);
#undef ADD
  g_test_add ("/natter/presence/online-when-both-have-written", Fixture, "message", fixture_set_up,
              test_online_when_conversation_created, fixture_tear_down);
  g_test_add ("/natter/presence/online-when-both-write-after-opening-over-http", Fixture, "http",
              fixture_set_up, test_online_when_conversation_created, fixture_tear_down);

  return g_test_run ();
}
