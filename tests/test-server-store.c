/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-store"

#include "config.h"

#include <glib/gstdio.h>

#include "natter-server-db.h"
#include "natter-server-sqlite-store.h"

#define N_CALLS 20
#define PER_CALL 10
#define WAIT_MS 20000

typedef struct {
  char *folder;
  char *path;
  NatterServerDb *db;
  NatterServerSqliteStore *store;
  /* A connection of its own: it sees only what is committed. */
  NatterServerDb *observer;
  NatterProfile *a;
  NatterProfile *b;
  GPtrArray *participants;
  gint64 conversation_id;
} Fixture;

static NatterProfile *
add_user (NatterServerDb *db, const char *email, const char *type)
{
  const char *types[] = { type, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterUser) user = NULL;
  gint64 user_id = 0;

  g_assert_true (
    natter_server_db_create_user (db, email, "not-a-hash", email, types, &user_id, &error));
  g_assert_no_error (error);
  user = natter_server_db_get_user (db, user_id, &error);
  g_assert_no_error (error);

  return natter_profile_copy (g_ptr_array_index (user->profiles, 0));
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  gboolean in_memory = GPOINTER_TO_INT (data);
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterConversation) conversation = NULL;

  fixture->folder = g_dir_make_tmp ("natter-test-server-store-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->path = g_build_filename (fixture->folder, "natter.db", NULL);
  fixture->db = natter_server_db_open (in_memory ? ":memory:" : fixture->path, &error);
  g_assert_no_error (error);

  fixture->a = add_user (fixture->db, "a@test.invalid", "tutor");
  fixture->b = add_user (fixture->db, "b@test.invalid", "student");
  conversation =
    natter_server_db_get_or_create_direct (fixture->db, fixture->a, fixture->b, &error);
  g_assert_no_error (error);
  fixture->conversation_id = conversation->conversation_id;
  fixture->participants = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  g_ptr_array_add (fixture->participants, natter_profile_copy (fixture->a));
  g_ptr_array_add (fixture->participants, natter_profile_copy (fixture->b));

  fixture->store = natter_server_sqlite_store_new (fixture->db, &error);
  g_assert_no_error (error);
  if (!in_memory) {
    fixture->observer = natter_server_db_open (fixture->path, &error);
    g_assert_no_error (error);
  }
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  const char *suffixes[] = { "", "-wal", "-shm" };

  natter_server_sqlite_store_close (fixture->store);
  g_assert_finalize_object (g_steal_pointer (&fixture->store));
  if (fixture->observer != NULL)
    g_assert_finalize_object (g_steal_pointer (&fixture->observer));
  g_assert_finalize_object (g_steal_pointer (&fixture->db));
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++) {
    g_autofree char *file = g_strconcat (fixture->path, suffixes[i], NULL);

    g_remove (file);
  }
  g_rmdir (fixture->folder);
  g_clear_pointer (&fixture->participants, g_ptr_array_unref);
  g_clear_pointer (&fixture->a, natter_profile_free);
  g_clear_pointer (&fixture->b, natter_profile_free);
  g_clear_pointer (&fixture->path, g_free);
  g_clear_pointer (&fixture->folder, g_free);
}

static void
iterate_until (guint *counter, guint target)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * 1000;

  while (*counter < target) {
    if (g_get_monotonic_time () > deadline)
      g_error ("only %u of %u callbacks within %d ms", *counter, target, WAIT_MS);
    g_main_context_iteration (NULL, TRUE);
  }
}

typedef struct {
  Fixture *fixture;
  guint index;
  guint *n_done;
  GPtrArray *requests; /* NatterStoreChatMessage */
} ChatCall;

static void
on_chat_stored (NatterServerStore *store, const GError *error, gpointer user_data)
{
  ChatCall *call = user_data;

  g_assert_no_error (error);
  /* Callbacks in request order, each after its commit: another connection
   * already sees every message of it. */
  g_assert_cmpuint (*call->n_done, ==, call->index);
  for (guint i = 0; i < call->requests->len; i++) {
    NatterStoreChatMessage *request = g_ptr_array_index (call->requests, i);
    g_autoptr (NatterMessage) seen = NULL;

    g_assert_nonnull (request->message);
    seen = natter_server_db_find_message_by_client_id (call->fixture->observer, request->sender,
                                                       request->client_msg_id);
    g_assert_nonnull (seen);
    g_assert_cmpint (seen->message_id, ==, request->message->message_id);
  }
  (*call->n_done)++;
}

static NatterStoreChatMessage *
chat_request (Fixture *fixture, const char *client_msg_id)
{
  return natter_store_chat_message_new (fixture->a, fixture->conversation_id, "hello",
                                        client_msg_id, fixture->participants);
}

/* 20 requests queued before any is stored, the last one a retry of the
 * first message: acks come after the commit and in order, event ids have
 * no gaps, and the retry stores nothing. */
static void
test_chat_messages_in_order (Fixture *fixture, gconstpointer data)
{
  ChatCall calls[N_CALLS + 1];
  guint n_done = 0;
  g_autoptr (GPtrArray) events = NULL;
  NatterStoreChatMessage *first;
  NatterStoreChatMessage *retry;
  gint64 last_sender_event_id = 0;
  gboolean truncated = TRUE;

  for (guint c = 0; c <= N_CALLS; c++) {
    guint n = c < N_CALLS ? PER_CALL : 1;

    calls[c].fixture = fixture;
    calls[c].index = c;
    calls[c].n_done = &n_done;
    calls[c].requests =
      g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
    for (guint i = 0; i < n; i++) {
      g_autofree char *id = g_strdup_printf ("m-%u", c < N_CALLS ? c * PER_CALL + i : 0);

      g_ptr_array_add (calls[c].requests, chat_request (fixture, id));
    }
    natter_server_store_store_chat_messages (NATTER_SERVER_STORE (fixture->store),
                                             calls[c].requests, on_chat_stored, &calls[c]);
  }
  g_assert_cmpuint (n_done, ==, 0);
  iterate_until (&n_done, N_CALLS + 1);

  for (guint c = 0; c < N_CALLS; c++) {
    for (guint i = 0; i < PER_CALL; i++) {
      NatterStoreChatMessage *request = g_ptr_array_index (calls[c].requests, i);

      g_assert_false (request->duplicate);
      g_assert_cmpint (request->message->seq, ==, c * PER_CALL + i + 1);
      g_assert_cmpint (request->sender_event_id, ==, last_sender_event_id + 1);
      last_sender_event_id = request->sender_event_id;
      g_assert_cmpuint (request->event_texts->len, ==, 2);
    }
  }
  g_assert_true (((NatterStoreChatMessage *) g_ptr_array_index (calls[0].requests, 0))->took_part);

  first = g_ptr_array_index (calls[0].requests, 0);
  retry = g_ptr_array_index (calls[N_CALLS].requests, 0);
  g_assert_true (retry->duplicate);
  g_assert_null (retry->event_texts);
  g_assert_cmpint (retry->message->message_id, ==, first->message->message_id);
  g_assert_cmpint (retry->sender_event_id, ==, first->sender_event_id);

  g_assert_cmpint (natter_server_db_get_last_event_id (fixture->observer, fixture->b), ==,
                   N_CALLS * PER_CALL);
  events =
    natter_server_db_list_events_after (fixture->observer, fixture->b, 0, 1000, &truncated, NULL);
  g_assert_nonnull (events);
  g_assert_false (truncated);
  g_assert_cmpuint (events->len, ==, N_CALLS * PER_CALL);
  /* The main connection reads the writer's ids too. */
  g_assert_cmpint (natter_server_db_get_last_event_id (fixture->db, fixture->a), ==,
                   N_CALLS * PER_CALL);

  for (guint c = 0; c <= N_CALLS; c++)
    g_ptr_array_unref (calls[c].requests);
}

static void
on_counted (NatterServerStore *store, const GError *error, gpointer user_data)
{
  guint *n_done = user_data;

  g_assert_no_error (error);
  (*n_done)++;
}

/* A read position moves forward only, and only a move makes receipts. */
static void
test_mark_read_forward_only (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterStoreReadMark) forward = NULL;
  g_autoptr (NatterStoreReadMark) back = NULL;
  g_autoptr (GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  guint n_done = 0;

  for (guint i = 0; i < 3; i++) {
    g_autofree char *id = g_strdup_printf ("r-%u", i);

    g_ptr_array_add (messages, chat_request (fixture, id));
  }
  natter_server_store_store_chat_messages (NATTER_SERVER_STORE (fixture->store), messages,
                                           on_counted, &n_done);
  forward =
    natter_store_read_mark_new (fixture->b, fixture->conversation_id, 2, fixture->participants);
  back =
    natter_store_read_mark_new (fixture->b, fixture->conversation_id, 1, fixture->participants);
  natter_server_store_mark_read (NATTER_SERVER_STORE (fixture->store), forward, on_counted,
                                 &n_done);
  natter_server_store_mark_read (NATTER_SERVER_STORE (fixture->store), back, on_counted, &n_done);
  iterate_until (&n_done, 3);

  g_assert_cmpint (forward->stored_up_to_seq, ==, 2);
  g_assert_cmpuint (forward->event_texts->len, ==, 2);
  g_assert_cmpuint (back->event_texts->len, ==, 0);
  g_assert_cmpint (
    natter_server_db_get_read_seq (fixture->db, fixture->conversation_id, fixture->b), ==, 2);
}

/* An event that replaces one still on its way leaves one in the history:
 * the second request finds the first one's id on the writer. In memory
 * (the fuzzer's database) the same runs on the main context, never inside
 * the call. */
static void
test_event_replaces_pending_one (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterStoreEvent) first = NULL;
  g_autoptr (NatterStoreEvent) second = NULL;
  g_autoptr (GPtrArray) events = NULL;
  guint n_done = 0;

  first = natter_store_event_new (fixture->b, natter_frame_new (NATTER_FRAME_MISSED_CALL));
  second = natter_store_event_new (fixture->b, natter_frame_new (NATTER_FRAME_MISSED_CALL));
  second->replaces = natter_store_event_ref (first);
  natter_server_store_add_event (NATTER_SERVER_STORE (fixture->store), first, on_counted, &n_done);
  natter_server_store_add_event (NATTER_SERVER_STORE (fixture->store), second, on_counted, &n_done);
  g_assert_cmpuint (n_done, ==, 0);
  iterate_until (&n_done, 2);

  g_assert_cmpint (first->event_id, ==, 1);
  g_assert_cmpint (second->event_id, ==, 2);
  g_assert_nonnull (second->text);
  events = natter_server_db_list_events_after (fixture->db, fixture->b, 0, 10, NULL, NULL);
  g_assert_cmpuint (events->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (events, 0), ==, second->text);
}

/* Two messages to a profile without a conversation, both queued before
 * either is stored: the first creates it, the second finds it. */
static void
test_creates_direct_conversation_once (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterProfile) c = add_user (fixture->db, "c@test.invalid", "parent");
  g_autoptr (GPtrArray) participants =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  g_autoptr (GPtrArray) first =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  g_autoptr (GPtrArray) second =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  NatterStoreChatMessage *one;
  NatterStoreChatMessage *two;
  guint n_done = 0;

  g_ptr_array_add (participants, natter_profile_copy (fixture->a));
  g_ptr_array_add (participants, natter_profile_copy (c));
  one = natter_store_chat_message_new (fixture->a, 0, "one", "d-1", participants);
  one->to_profile = natter_profile_copy (c);
  two = natter_store_chat_message_new (fixture->a, 0, "two", "d-2", participants);
  two->to_profile = natter_profile_copy (c);
  g_ptr_array_add (first, one);
  g_ptr_array_add (second, two);
  natter_server_store_store_chat_messages (NATTER_SERVER_STORE (fixture->store), first, on_counted,
                                           &n_done);
  natter_server_store_store_chat_messages (NATTER_SERVER_STORE (fixture->store), second, on_counted,
                                           &n_done);
  iterate_until (&n_done, 2);

  g_assert_true (one->created);
  g_assert_false (two->created);
  g_assert_cmpint (one->conversation_id, !=, 0);
  g_assert_cmpint (one->conversation_id, !=, fixture->conversation_id);
  g_assert_cmpint (two->conversation_id, ==, one->conversation_id);
  g_assert_cmpint (two->message->seq, ==, 2);
  g_assert_cmpint (natter_server_db_find_direct (fixture->db, fixture->a, c), ==,
                   one->conversation_id);
}

/* Closing stores what is queued and runs its callbacks first. */
static void
test_close_flushes (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  guint n_done = 0;

  g_ptr_array_add (messages, chat_request (fixture, "close-1"));
  natter_server_store_store_chat_messages (NATTER_SERVER_STORE (fixture->store), messages,
                                           on_counted, &n_done);
  natter_server_sqlite_store_close (fixture->store);
  g_assert_cmpuint (n_done, ==, 1);
  g_assert_nonnull (((NatterStoreChatMessage *) g_ptr_array_index (messages, 0))->message);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, in_memory, func) \
  g_test_add (path, Fixture, GINT_TO_POINTER (in_memory), fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/server-store/chat-messages-in-order", FALSE, test_chat_messages_in_order);
  ADD ("/natter/server-store/mark-read-forward-only", FALSE, test_mark_read_forward_only);
  ADD ("/natter/server-store/event-replaces-pending-one", FALSE, test_event_replaces_pending_one);
  ADD ("/natter/server-store/in-memory-event-replaces-pending-one", TRUE,
       test_event_replaces_pending_one);
  ADD ("/natter/server-store/creates-direct-conversation-once", FALSE,
       test_creates_direct_conversation_once);
  ADD ("/natter/server-store/close-flushes", FALSE, test_close_flushes);
#undef ADD

  return g_test_run ();
}
