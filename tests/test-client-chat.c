/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-client-chat"

#include "config.h"

#include <glib/gstdio.h>

#include "natter-client.h"
#include "natter-http-body.h"
#include "natter-test-client.h"
#include "natter-test-server.h"

/* Two real clients (NatterClient, each with its own data directory) talk
 * through the real server. */

typedef struct _Fixture Fixture;

typedef struct {
  Fixture *fixture;
  NatterClient *client;
  NatterProfile *profile;
  GPtrArray *received; /* NatterMessage, in arrival order */
  guint sent;
  guint receipts;
} Side;

struct _Fixture {
  NatterTestServer *server;
  char *data_dir;
  Side a;
  Side b;
};

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
on_read_receipt (NatterClient *client,
                 gint64 conversation_id,
                 const NatterProfile *profile,
                 gint64 up_to_seq,
                 Side *side)
{
  side->receipts++;
}

static void
side_sign_in (Side *side, const char *url, const char *data_dir, const char *email)
{
  side->client = natter_client_new (url, data_dir);
  side->received = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);

  g_signal_connect (side->client, "message-received", G_CALLBACK (on_message_received), side);
  g_signal_connect (side->client, "message-sent", G_CALLBACK (on_message_sent), side);
  g_signal_connect (side->client, "read-receipt", G_CALLBACK (on_read_receipt), side);

  natter_test_client_login (side->client, email, 5000);
  natter_test_wait_until (natter_test_client_is_connected (side->client), 5000);
}

static void
side_clear (Side *side)
{
  if (side->client != NULL) {
    g_signal_handlers_disconnect_by_data (side->client, side);
    g_assert_finalize_object (g_steal_pointer (&side->client));
  }
  g_clear_pointer (&side->received, g_ptr_array_unref);
  g_clear_pointer (&side->profile, natter_profile_free);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  const char *const args[] = { "--chat-rate", "1000", "--chat-burst", "1000", "--sync-replay-max",
                               "20",          NULL };
  g_autoptr (NatterUser) user_a = NULL;
  g_autoptr (NatterUser) user_b = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir_a = NULL;
  g_autofree char *dir_b = NULL;

  fixture->server = natter_test_server_new (args);
  fixture->a.fixture = fixture;
  fixture->b.fixture = fixture;
  fixture->data_dir = g_dir_make_tmp ("natter-test-client-chat-XXXXXX", &error);
  g_assert_no_error (error);

  user_a = natter_test_server_register (fixture->server, "abebe@example.org", "Abebe", "tutor",
                                        NULL, &fixture->a.profile);
  user_b = natter_test_server_register (fixture->server, "sara@example.org", "Sara", "student",
                                        NULL, &fixture->b.profile);

  dir_a = g_build_filename (fixture->data_dir, "a", NULL);
  dir_b = g_build_filename (fixture->data_dir, "b", NULL);
  side_sign_in (&fixture->a, natter_test_server_get_url (fixture->server), dir_a,
                "abebe@example.org");
  side_sign_in (&fixture->b, natter_test_server_get_url (fixture->server), dir_b,
                "sara@example.org");
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  side_clear (&fixture->a);
  side_clear (&fixture->b);
  natter_test_server_free (fixture->server);
  natter_test_remove_tree (fixture->data_dir);
  g_free (fixture->data_dir);
}

static char *
send_to (Side *from, Side *to, const char *text)
{
  g_autoptr (GError) error = NULL;
  char *client_msg_id;

  client_msg_id = natter_client_send_message_to_profile (from->client, to->profile, text, &error);
  g_assert_no_error (error);
  g_assert_nonnull (client_msg_id);

  return client_msg_id;
}

static NatterConversationItem *
find_conversation (Side *side, const NatterProfile *peer)
{
  GListModel *conversations = natter_client_get_conversations (side->client);

  return natter_conversation_list_find_by_peer (NATTER_CONVERSATION_LIST (conversations), peer);
}

static void
test_two_clients_chat (Fixture *fixture, gconstpointer data)
{
  g_autofree char *id1 = NULL;
  g_autofree char *id2 = NULL;
  g_autofree char *id3 = NULL;
  g_autoptr (NatterMessageList) messages = NULL;
  g_autoptr (NatterMessageItem) last = NULL;
  NatterConversationItem *at_a;
  NatterConversationItem *at_b;
  NatterMessage *first;
  gint64 conversation_id;

  id1 = send_to (&fixture->a, &fixture->b, "Hello Sara");
  natter_test_wait_until (fixture->b.received->len == 1, 5000);
  first = g_ptr_array_index (fixture->b.received, 0);
  g_assert_cmpstr (first->text, ==, "Hello Sara");
  g_assert_cmpstr (first->client_msg_id, ==, id1);
  g_assert_true (natter_profile_equal (first->sender, fixture->a.profile));
  conversation_id = first->conversation_id;
  natter_test_wait_until (fixture->a.sent == 1, 5000);

  /* The reply goes by conversation id. */
  id2 = natter_client_send_message (fixture->b.client, conversation_id, "Hi Abebe", NULL);
  g_assert_nonnull (id2);
  natter_test_wait_until (fixture->a.received->len == 1 && fixture->b.sent == 1, 5000);
  id3 = send_to (&fixture->a, &fixture->b, "See you at four");
  natter_test_wait_until (fixture->b.received->len == 2 && fixture->a.sent == 2, 5000);

  /* Unread counts: B has two from A, A has one from B. */
  natter_test_wait_until ((at_b = find_conversation (&fixture->b, fixture->a.profile)) != NULL,
                          5000);
  natter_test_wait_until ((at_a = find_conversation (&fixture->a, fixture->b.profile)) != NULL,
                          5000);
  g_assert_cmpint (natter_conversation_item_get_conversation_id (at_b), ==, conversation_id);
  g_assert_cmpuint (natter_conversation_item_get_unread_count (at_b), ==, 2);
  g_assert_cmpuint (natter_conversation_item_get_unread_count (at_a), ==, 1);
  g_assert_cmpstr (natter_conversation_item_get_title (at_b), ==, "Abebe");
  g_assert_cmpint (natter_conversation_item_get_last_seq (at_a), ==, 3);

  /* Both see the same three messages in the same order. */
  messages = natter_client_open_conversation (fixture->a.client, conversation_id);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (messages)), ==, 3);
  last = g_list_model_get_item (G_LIST_MODEL (messages), 2);
  g_assert_cmpstr (natter_message_item_get_text (last), ==, "See you at four");
  g_assert_cmpint (natter_message_item_get_state (last), ==, NATTER_MESSAGE_STATE_SENT);
  g_assert_true (natter_message_item_get_outgoing (last));

  /* B reads everything: B's unread drops on its own devices, A gets the
   * read receipt. */
  g_assert_true (natter_client_mark_read (fixture->b.client, conversation_id, 3));
  natter_test_wait_until (natter_conversation_item_get_unread_count (at_b) == 0, 5000);
  natter_test_wait_until (natter_conversation_item_get_peer_read_seq (at_a) == 3, 5000);
  g_assert_cmpuint (fixture->a.receipts, ==, 1);
  g_assert_cmpuint (natter_conversation_item_get_unread_count (at_a), ==, 1);

  /* Typing reaches the other side's conversation item. */
  g_assert_true (natter_client_set_typing (fixture->a.client, conversation_id, TRUE));
  natter_test_wait_until (natter_conversation_item_get_typing (at_b), 5000);
  g_assert_true (natter_client_set_typing (fixture->a.client, conversation_id, FALSE));
  natter_test_wait_until (!natter_conversation_item_get_typing (at_b), 5000);

  g_assert_finalize_object (g_steal_pointer (&messages));
}

static void
on_load_older_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static void
test_history_pages (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterMessageList) messages = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir_c = g_build_filename (fixture->data_dir, "c", NULL);
  Side c = { 0 };
  gint64 conversation_id;
  guint rounds = 0;

  for (guint i = 1; i <= 120; i++) {
    g_autofree char *text = g_strdup_printf ("message %03u", i);
    g_free (send_to (&fixture->a, &fixture->b, text));
  }
  natter_test_wait_until (fixture->a.sent == 120, 10000);
  natter_test_wait_until (fixture->b.received->len == 120, 10000);
  conversation_id = ((NatterMessage *) g_ptr_array_index (fixture->b.received, 0))->conversation_id;

  /* A new device of B's: sync replays only the newest 20 (the server's
   * --sync-replay-max), the rest is history to page in over HTTP. */
  c.profile = natter_profile_copy (fixture->b.profile);
  side_sign_in (&c, natter_test_server_get_url (fixture->server), dir_c, "sara@example.org");
  natter_test_wait_until (c.received->len == 20, 5000);

  messages = natter_client_open_conversation (c.client, conversation_id);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (messages)), ==, 20);
  g_assert_true (natter_message_list_get_has_more (messages));

  while (natter_message_list_get_has_more (messages)) {
    g_autoptr (GAsyncResult) result = NULL;
    guint before = g_list_model_get_n_items (G_LIST_MODEL (messages));
    guint added;

    natter_message_list_load_older_async (messages, 50, NULL, on_load_older_done, &result);
    g_assert_true (natter_message_list_get_loading (messages));
    natter_test_wait_until (result != NULL, 5000);
    added = natter_message_list_load_older_finish (messages, result, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (messages)), ==, before + added);
    g_assert_cmpuint (++rounds, <=, 4);
  }

  g_assert_cmpuint (rounds, ==, 2);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (messages)), ==, 120);
  for (guint i = 0; i < 120; i++) {
    g_autoptr (NatterMessageItem) item = g_list_model_get_item (G_LIST_MODEL (messages), i);
    g_autofree char *text = g_strdup_printf ("message %03u", i + 1);

    g_assert_cmpint (natter_message_item_get_seq (item), ==, i + 1);
    g_assert_cmpstr (natter_message_item_get_text (item), ==, text);
  }

  g_assert_finalize_object (g_steal_pointer (&messages));
  side_clear (&c);
}

static int
compare_seq (gconstpointer a, gconstpointer b)
{
  const NatterMessage *first = *(NatterMessage **) a;
  const NatterMessage *second = *(NatterMessage **) b;

  return first->seq < second->seq ? -1 : first->seq > second->seq;
}

/* Conversation order (seq): a replay after a reconnect may interleave with
 * live messages, so arrival order is not what is checked. */
static void
assert_texts_in_order (GPtrArray *received, const char *const *expected)
{
  g_autoptr (GPtrArray) by_seq = g_ptr_array_copy (received, NULL, NULL);
  guint n = g_strv_length ((GStrv) expected);

  /* The copy borrows the messages. */
  g_ptr_array_set_free_func (by_seq, NULL);

  g_ptr_array_sort (by_seq, compare_seq);
  g_assert_cmpuint (by_seq->len, ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpstr (((NatterMessage *) g_ptr_array_index (by_seq, i))->text, ==, expected[i]);
}

static void
test_server_restart_mid_conversation (Fixture *fixture, gconstpointer data)
{
  const char *const to_b[] = { "before", "down 1", "down 2", "down 3", "after", NULL };
  const char *const to_a[] = { "reply down 1", "reply down 2", NULL };
  gint64 conversation_id;

  g_free (send_to (&fixture->a, &fixture->b, "before"));
  natter_test_wait_until (fixture->b.received->len == 1, 5000);
  conversation_id = ((NatterMessage *) g_ptr_array_index (fixture->b.received, 0))->conversation_id;

  natter_test_server_stop (fixture->server);
  natter_test_wait_until (!natter_test_client_is_connected (fixture->a.client) &&
                            !natter_test_client_is_connected (fixture->b.client),
                          5000);

  /* Typed while the server is down: they wait in the outboxes. */
  g_free (send_to (&fixture->a, &fixture->b, "down 1"));
  g_free (natter_client_send_message (fixture->b.client, conversation_id, "reply down 1", NULL));
  g_free (send_to (&fixture->a, &fixture->b, "down 2"));
  g_free (natter_client_send_message (fixture->b.client, conversation_id, "reply down 2", NULL));
  g_free (send_to (&fixture->a, &fixture->b, "down 3"));

  natter_test_server_restart (fixture->server);
  natter_test_wait_until (natter_test_client_is_connected (fixture->a.client) &&
                            natter_test_client_is_connected (fixture->b.client),
                          10000);
  g_free (send_to (&fixture->a, &fixture->b, "after"));

  natter_test_wait_until (fixture->b.received->len >= 5 && fixture->a.received->len >= 2, 10000);
  natter_test_wait_until (fixture->a.sent == 5 && fixture->b.sent == 2, 5000);

  /* Let any duplicate show up before counting. */
  {
    gint64 settle = g_get_monotonic_time () + 500 * 1000;

    while (natter_test_iterate_until (settle))
      ;
  }

  assert_texts_in_order (fixture->b.received, to_b);
  assert_texts_in_order (fixture->a.received, to_a);
  g_assert_cmpuint (
    natter_store_count_messages (natter_client_get_store (fixture->a.client), conversation_id), ==,
    7);
  g_assert_cmpuint (
    natter_store_count_messages (natter_client_get_store (fixture->b.client), conversation_id), ==,
    7);
}

static void
copy_database (const char *from, const char *to)
{
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_get_contents (from, &contents, &length, &error));
  g_assert_true (g_file_set_contents (to, contents, length, &error));
  g_assert_no_error (error);
}

static gboolean
has_received (Side *side, const char *text)
{
  for (guint i = 0; i < side->received->len; i++) {
    NatterMessage *message = g_ptr_array_index (side->received, i);

    if (g_strcmp0 (message->text, text) == 0)
      return TRUE;
  }
  return FALSE;
}

/* An older copy of the server's database is restored under connected
 * clients: their last event ids are now above the server's. They notice
 * (hello's last_event_id is lower), sync from the start, and a message
 * sent after the restore, whose event id they had already passed, still
 * reaches them. */
static void
test_restored_backup_resyncs (Fixture *fixture, gconstpointer data)
{
  const char *db_path = natter_test_server_get_db_path (fixture->server);
  g_autofree char *backup =
    g_build_filename (natter_test_server_get_tmpdir (fixture->server), "backup.db", NULL);
  g_autofree char *wal = g_strconcat (db_path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (db_path, "-shm", NULL);
  NatterStore *store_b = natter_client_get_store (fixture->b.client);

  g_free (send_to (&fixture->a, &fixture->b, "one"));
  natter_test_wait_until (fixture->b.received->len == 1 && fixture->a.sent == 1, 5000);

  /* The backup, taken with the server stopped (its WAL folded in). */
  natter_test_server_stop (fixture->server);
  copy_database (db_path, backup);
  natter_test_server_restart (fixture->server);
  natter_test_wait_until (natter_test_client_is_connected (fixture->a.client) &&
                            natter_test_client_is_connected (fixture->b.client),
                          10000);

  g_free (send_to (&fixture->a, &fixture->b, "two"));
  g_free (send_to (&fixture->a, &fixture->b, "three"));
  natter_test_wait_until (fixture->b.received->len == 3 && fixture->a.sent == 3, 5000);
  natter_test_wait_until (natter_store_get_last_event_id (store_b) == 3, 5000);

  /* The restore: "two" and "three" are gone from the server. */
  natter_test_server_stop (fixture->server);
  natter_test_wait_until (!natter_test_client_is_connected (fixture->a.client) &&
                            !natter_test_client_is_connected (fixture->b.client),
                          5000);
  g_remove (wal);
  g_remove (shm);
  copy_database (backup, db_path);
  natter_test_server_restart (fixture->server);
  natter_test_wait_until (natter_test_client_is_connected (fixture->a.client) &&
                            natter_test_client_is_connected (fixture->b.client),
                          10000);
  natter_test_wait_until (natter_store_get_last_event_id (store_b) == 1, 5000);

  /* Event 2 again for B, a message it has never seen. */
  g_free (send_to (&fixture->a, &fixture->b, "four"));
  natter_test_wait_until (has_received (&fixture->b, "four"), 5000);
  natter_test_wait_until (natter_store_get_last_event_id (store_b) == 2, 5000);
}

static void
on_message_failed (NatterClient *client,
                   const char *client_msg_id,
                   const char *code,
                   const char *message,
                   char **out_code)
{
  g_free (*out_code);
  *out_code = g_strdup (code);
}

static void
test_refused_message_fails_and_is_kept (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterMessageList) messages = NULL;
  g_autoptr (NatterMessageItem) item = NULL;
  g_autoptr (NatterOutboxEntry) entry = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *client_msg_id = NULL;
  g_autofree char *code = NULL;
  NatterStore *store = natter_client_get_store (fixture->a.client);

  g_signal_connect (fixture->a.client, "message-failed", G_CALLBACK (on_message_failed), &code);

  /* A conversation A is not part of: the server refuses for good. */
  client_msg_id = natter_client_send_message (fixture->a.client, 4242, "Anyone there?", &error);
  g_assert_no_error (error);
  natter_test_wait_until (code != NULL, 5000);
  g_assert_true (g_str_equal (code, "not_allowed") || g_str_equal (code, "not_found"));

  entry = natter_store_outbox_lookup (store, client_msg_id);
  g_assert_nonnull (entry);
  g_assert_cmpint (entry->state, ==, NATTER_OUTBOX_FAILED);
  g_assert_cmpstr (entry->error_code, ==, code);

  messages = natter_client_open_conversation (fixture->a.client, 4242);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (messages)), ==, 1);
  item = g_list_model_get_item (G_LIST_MODEL (messages), 0);
  g_assert_cmpint (natter_message_item_get_state (item), ==, NATTER_MESSAGE_STATE_FAILED);
  g_assert_nonnull (natter_message_item_get_error_message (item));

  /* Retrying sends it again; it fails again, and is still kept. */
  g_clear_pointer (&code, g_free);
  g_assert_true (natter_client_retry_message (fixture->a.client, client_msg_id, &error));
  natter_test_wait_until (code != NULL, 5000);
  g_clear_pointer (&entry, natter_outbox_entry_free);
  entry = natter_store_outbox_lookup (store, client_msg_id);
  g_assert_cmpint (entry->state, ==, NATTER_OUTBOX_FAILED);

  g_signal_handlers_disconnect_by_data (fixture->a.client, &code);
  g_clear_object (&item);
  g_assert_finalize_object (g_steal_pointer (&messages));
}

/* The unread count the server keeps for @side in @conversation_id. */
static gint64
server_unread_count (Fixture *fixture, Side *side, gint64 conversation_id)
{
  NatterAccount *account = natter_client_get_account (side->client);
  g_autoptr (GPtrArray) conversations = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *body = NULL;
  guint status = 0;

  path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/conversations",
                          side->profile->profile_id, side->profile->profile_type);
  body = natter_test_http (fixture->server, "GET", path, natter_account_get_token (account), NULL,
                           &status);
  g_assert_cmpuint (status, ==, 200);
  conversations = natter_conversation_list_parse (body, strlen (body), &error);
  g_assert_no_error (error);

  for (guint i = 0; i < conversations->len; i++) {
    NatterConversation *conversation = g_ptr_array_index (conversations, i);

    if (conversation->conversation_id == conversation_id)
      return conversation->unread_count;
  }

  g_assert_not_reached ();
}

static void
side_restart (Side *side, const char *url, const char *data_dir)
{
  side->client = natter_client_new (url, data_dir);
  g_signal_connect (side->client, "message-received", G_CALLBACK (on_message_received), side);
  g_signal_connect (side->client, "message-sent", G_CALLBACK (on_message_sent), side);
  g_signal_connect (side->client, "read-receipt", G_CALLBACK (on_read_receipt), side);
  natter_test_client_sign_in (side->client, 5000);
}

static gint64
receive_three (Fixture *fixture)
{
  g_free (send_to (&fixture->a, &fixture->b, "one"));
  g_free (send_to (&fixture->a, &fixture->b, "two"));
  g_free (send_to (&fixture->a, &fixture->b, "three"));
  natter_test_wait_until (fixture->b.received->len == 3 && fixture->a.sent == 3, 5000);

  return ((NatterMessage *) g_ptr_array_index (fixture->b.received, 0))->conversation_id;
}

static void
settle (guint ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) ms * 1000;

  while (natter_test_iterate_until (deadline))
    ;
}

static guint
count_pending_reads (NatterStore *store)
{
  g_autoptr (GArray) pending = natter_store_list_pending_reads (store);

  return pending->len;
}

static void
test_mark_read_offline (Fixture *fixture, gconstpointer data)
{
  gint64 conversation_id = receive_three (fixture);
  NatterStore *store_b = natter_client_get_store (fixture->b.client);
  NatterConversationItem *at_a;
  NatterConversationItem *at_b;
  g_autoptr (GArray) pending = NULL;

  natter_test_wait_until ((at_b = find_conversation (&fixture->b, fixture->a.profile)) != NULL &&
                            natter_conversation_item_get_unread_count (at_b) == 3,
                          5000);
  natter_test_wait_until ((at_a = find_conversation (&fixture->a, fixture->b.profile)) != NULL,
                          5000);
  g_assert_cmpint (server_unread_count (fixture, &fixture->b, conversation_id), ==, 3);

  natter_test_server_stop (fixture->server);
  natter_test_wait_until (!natter_test_client_is_connected (fixture->a.client) &&
                            !natter_test_client_is_connected (fixture->b.client),
                          5000);

  /* Read offline, message by message: the badge drops at once, and only
   * the highest marker waits to be sent. Typing offline goes nowhere. */
  g_assert_true (natter_client_mark_read (fixture->b.client, conversation_id, 1));
  g_assert_true (natter_client_mark_read (fixture->b.client, conversation_id, 2));
  g_assert_true (natter_client_mark_read (fixture->b.client, conversation_id, 3));
  g_assert_false (natter_client_set_typing (fixture->b.client, conversation_id, TRUE));
  g_assert_cmpuint (natter_conversation_item_get_unread_count (at_b), ==, 0);
  pending = natter_store_list_pending_reads (store_b);
  g_assert_cmpuint (pending->len, ==, 1);
  g_assert_cmpint (g_array_index (pending, NatterPendingRead, 0).up_to_seq, ==, 3);
  g_clear_pointer (&pending, g_array_unref);

  /* Back online: A gets one receipt, the server's count is 0. */
  natter_test_server_restart (fixture->server);
  natter_test_wait_until (natter_conversation_item_get_peer_read_seq (at_a) == 3, 10000);
  natter_test_wait_until (server_unread_count (fixture, &fixture->b, conversation_id) == 0, 5000);
  settle (300);
  g_assert_cmpuint (fixture->a.receipts, ==, 1);
  g_assert_false (natter_conversation_item_get_typing (at_a));

  /* Confirmed by B's own receipt: nothing is pending any more. */
  natter_test_wait_until (count_pending_reads (store_b) == 0, 5000);
  g_assert_cmpuint (natter_conversation_item_get_unread_count (at_b), ==, 0);
}

static void
test_mark_read_survives_restart (Fixture *fixture, gconstpointer data)
{
  gint64 conversation_id = receive_three (fixture);
  g_autofree char *dir_b = g_build_filename (fixture->data_dir, "b", NULL);
  NatterConversationItem *at_a;
  NatterConversationItem *at_b;

  natter_test_wait_until ((at_a = find_conversation (&fixture->a, fixture->b.profile)) != NULL,
                          5000);
  natter_test_wait_until ((at_b = find_conversation (&fixture->b, fixture->a.profile)) != NULL &&
                            natter_conversation_item_get_unread_count (at_b) == 3,
                          5000);

  /* Marked read while the server is down, then B quits. */
  natter_test_server_stop (fixture->server);
  natter_test_wait_until (!natter_test_client_is_connected (fixture->b.client), 5000);
  g_assert_true (natter_client_mark_read (fixture->b.client, conversation_id, 2));
  g_signal_handlers_disconnect_by_data (fixture->b.client, &fixture->b);
  g_assert_finalize_object (g_steal_pointer (&fixture->b.client));

  /* B starts again, still offline: the marker is still there. */
  side_restart (&fixture->b, natter_test_server_get_url (fixture->server), dir_b);
  natter_test_wait_until ((at_b = find_conversation (&fixture->b, fixture->a.profile)) != NULL,
                          5000);
  g_assert_cmpuint (natter_conversation_item_get_unread_count (at_b), ==, 1);

  natter_test_server_restart (fixture->server);
  natter_test_wait_until (natter_conversation_item_get_peer_read_seq (at_a) == 2, 10000);
  natter_test_wait_until (server_unread_count (fixture, &fixture->b, conversation_id) == 1, 5000);
  g_assert_cmpuint (fixture->a.receipts, ==, 1);
}

/* How many history pages the server has answered, from its /metrics. */
static guint64
count_history_requests (Fixture *fixture)
{
  const char *prefix = "natter_http_requests_total{route=\"/api/as/{id}/{type}/conversations/"
                       "{cid}/messages\",status=\"200\"} ";

  return natter_test_server_metric (fixture->server, prefix);
}

/* What the chat view does when a conversation opens: fetch older pages
 * while the list says the server has more. Returns how many it fetched. */
static guint
open_and_fill (Side *side, gint64 conversation_id, guint n_expected)
{
  g_autoptr (NatterMessageList) messages = NULL;
  guint rounds = 0;

  messages = natter_client_open_conversation (side->client, conversation_id);
  while (natter_message_list_get_has_more (messages)) {
    g_autoptr (GAsyncResult) result = NULL;
    g_autoptr (GError) error = NULL;
    guint before = count_history_requests (side->fixture);

    natter_message_list_load_older_async (messages, 50, NULL, on_load_older_done, &result);
    natter_test_wait_until (result != NULL, 5000);
    natter_message_list_load_older_finish (messages, result, &error);
    g_assert_no_error (error);
    rounds += count_history_requests (side->fixture) - before;
    g_assert_cmpuint (rounds, <=, 4);
  }
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (messages)), ==, n_expected);

  g_assert_finalize_object (g_steal_pointer (&messages));
  return rounds;
}

/* Opened again: the list starts with nothing more to load. */
static void
assert_history_complete (Side *side, gint64 conversation_id)
{
  g_autoptr (NatterMessageList) messages =
    natter_client_open_conversation (side->client, conversation_id);

  g_assert_false (natter_message_list_get_has_more (messages));
  g_assert_finalize_object (g_steal_pointer (&messages));
}

static void
test_history_fetched_once (Fixture *fixture, gconstpointer data)
{
  NatterAccount *account = natter_client_get_account (fixture->a.client);
  g_autoptr (NatterConversation) conversation = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir_c = g_build_filename (fixture->data_dir, "c", NULL);
  g_autofree char *path = NULL;
  g_autofree char *body = NULL;
  g_autofree char *answer = NULL;
  Side c = { 0 };
  gint64 conversation_id;
  guint status = 0;

  /* A new conversation, opened before the list knows it: one empty page,
   * then never again. */
  path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/conversations",
                          fixture->a.profile->profile_id, fixture->a.profile->profile_type);
  body =
    g_strdup_printf ("{\"with\":[{\"profile_id\":%" G_GINT64_FORMAT ",\"profile_type\":\"%s\"}]}",
                     fixture->b.profile->profile_id, fixture->b.profile->profile_type);
  answer = natter_test_http (fixture->server, "POST", path, natter_account_get_token (account),
                             body, &status);
  g_assert_cmpuint (status, ==, 201);
  conversation = natter_conversation_parse (answer, strlen (answer), &error);
  g_assert_no_error (error);
  conversation_id = conversation->conversation_id;

  g_assert_cmpuint (open_and_fill (&fixture->a, conversation_id, 0), ==, 1);
  assert_history_complete (&fixture->a, conversation_id);
  g_assert_cmpuint (open_and_fill (&fixture->a, conversation_id, 0), ==, 0);

  /* Every message stored from seq 1 on, as events: nothing to fetch, and
   * the next opening knows it. */
  for (guint i = 1; i <= 30; i++) {
    g_autofree char *text = g_strdup_printf ("message %02u", i);

    g_free (natter_client_send_message (fixture->a.client, conversation_id, text, &error));
    g_assert_no_error (error);
  }
  natter_test_wait_until (fixture->a.sent == 30 && fixture->b.received->len == 30, 10000);
  g_assert_cmpuint (open_and_fill (&fixture->b, conversation_id, 30), ==, 0);
  assert_history_complete (&fixture->b, conversation_id);

  /* A new device of B's holds the newest 20 (--sync-replay-max): the first
   * opening fetches the rest, later ones nothing, also after a restart. */
  c.fixture = fixture;
  c.profile = natter_profile_copy (fixture->b.profile);
  side_sign_in (&c, natter_test_server_get_url (fixture->server), dir_c, "sara@example.org");
  natter_test_wait_until (c.received->len == 20, 5000);
  g_assert_cmpuint (open_and_fill (&c, conversation_id, 30), ==, 1);
  assert_history_complete (&c, conversation_id);

  g_signal_handlers_disconnect_by_data (c.client, &c);
  g_assert_finalize_object (g_steal_pointer (&c.client));
  side_restart (&c, natter_test_server_get_url (fixture->server), dir_c);
  natter_test_wait_until (natter_test_client_is_connected (c.client), 5000);
  assert_history_complete (&c, conversation_id);
  g_assert_cmpuint (open_and_fill (&c, conversation_id, 30), ==, 0);

  side_clear (&c);
}

int
main (int argc, char **argv)
{
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
  g_setenv ("NATTER_CHAT_RATE", "500", TRUE);
  g_setenv ("NATTER_CHAT_BURST", "500", TRUE);
  g_unsetenv ("NATTER_TOKEN");
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/client/two-clients-chat", test_two_clients_chat);
  ADD ("/natter/client/history-pages", test_history_pages);
  ADD ("/natter/client/history-fetched-once", test_history_fetched_once);
  ADD ("/natter/client/server-restart-mid-conversation", test_server_restart_mid_conversation);
  ADD ("/natter/client/refused-message-fails-and-is-kept", test_refused_message_fails_and_is_kept);
  ADD ("/natter/client/mark-read-offline-reaches-peer", test_mark_read_offline);
  ADD ("/natter/client/mark-read-survives-restart", test_mark_read_survives_restart);
  ADD ("/natter/client/restored-backup-resyncs", test_restored_backup_resyncs);
#undef ADD

  return g_test_run ();
}
