/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-store"

#include "config.h"

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "natter-conversation-list.h"
#include "natter-message-list.h"
#include "natter-store.h"

typedef struct {
  char *dir;
  char *path;
  NatterProfile *own;
  NatterProfile *peer;
  NatterStore *store;
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("natter-test-store-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->own = natter_profile_new (1, "tutor", "Abebe", NULL);
  fixture->peer = natter_profile_new (2, "student", "Sara", NULL);
  fixture->path = natter_store_build_path (fixture->dir, "http://127.0.0.1:8000", fixture->own);
  fixture->store = natter_store_new (fixture->path, fixture->own, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fixture->store);
}

static void
remove_dir (const char *dir)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  while (handle != NULL && (name = g_dir_read_name (handle)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);

    g_unlink (path);
  }
  g_rmdir (dir);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  if (fixture->store != NULL)
    g_assert_finalize_object (fixture->store);
  remove_dir (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->path);
  natter_profile_free (fixture->own);
  natter_profile_free (fixture->peer);
}

static NatterMessage *
make_message (gint64 conversation_id, gint64 seq, const NatterProfile *sender, const char *text)
{
  NatterMessage *message = natter_message_new ();
  g_autoptr (GDateTime) base = g_date_time_new_utc (2026, 1, 1, 0, 0, 0);
  g_autoptr (GDateTime) time = g_date_time_add_seconds (base, (double) seq);

  message->conversation_id = conversation_id;
  message->seq = seq;
  message->message_id = conversation_id * 100000 + seq;
  message->sender = natter_profile_copy (sender);
  message->text = g_strdup (text);
  message->sent_at = natter_format_time (time);

  return message;
}

static NatterFrame *
make_chat_event (gint64 event_id, NatterMessage *message)
{
  NatterFrame *frame = natter_frame_new (NATTER_FRAME_CHAT_MESSAGE);

  frame->event_id = event_id;
  frame->message = message;

  return frame;
}

static void
apply (NatterStore *store, const NatterFrame *frame, gboolean expect_applied)
{
  g_autoptr (GError) error = NULL;
  gboolean applied = !expect_applied;

  g_assert_true (natter_store_apply_event (store, frame, &applied, &error));
  g_assert_no_error (error);
  g_assert_cmpint (applied, ==, expect_applied);
}

static void
test_replayed_event_changes_nothing (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterFrame) first = make_chat_event (5, make_message (7, 1, fixture->peer, "hi"));
  g_autoptr (NatterFrame) older = make_chat_event (4, make_message (7, 2, fixture->peer, "late"));
  g_autoptr (NatterConversation) conversation = NULL;

  apply (fixture->store, first, TRUE);
  apply (fixture->store, first, FALSE);
  /* An event id at or below the last one was processed before. */
  apply (fixture->store, older, FALSE);

  g_assert_cmpint (natter_store_get_last_event_id (fixture->store), ==, 5);
  g_assert_cmpuint (natter_store_count_messages (fixture->store, 7), ==, 1);

  conversation = natter_store_load_conversation (fixture->store, 7);
  g_assert_nonnull (conversation);
  g_assert_cmpint (conversation->unread_count, ==, 1);
}

static void
test_live_events_during_sync (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterFrame) live = make_chat_event (10, make_message (7, 3, fixture->peer, "live"));
  g_autoptr (NatterFrame) replayed =
    make_chat_event (6, make_message (7, 2, fixture->peer, "older"));
  g_autoptr (GError) error = NULL;

  /* A live event overtakes the replay: the older one must still apply. */
  natter_store_begin_sync (fixture->store);
  apply (fixture->store, live, TRUE);
  g_assert_cmpint (natter_store_get_last_event_id (fixture->store), ==, 0);
  apply (fixture->store, replayed, TRUE);
  g_assert_true (natter_store_end_sync (fixture->store, 10, &error));
  g_assert_no_error (error);

  g_assert_cmpint (natter_store_get_last_event_id (fixture->store), ==, 10);
  g_assert_cmpuint (natter_store_count_messages (fixture->store, 7), ==, 2);
  apply (fixture->store, replayed, FALSE);
}

/* A receipt or missed call that happens while a connection syncs comes
 * live and then again in the replay (same event id): it is applied, and
 * announced, once. Seen as two read-receipt signals in client-chat. */
static void
test_event_live_and_replayed_during_sync (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterFrame) receipt = natter_frame_new (NATTER_FRAME_READ_RECEIPT);
  g_autoptr (NatterFrame) missed = natter_frame_new (NATTER_FRAME_MISSED_CALL);
  g_autoptr (NatterFrame) message = make_chat_event (7, make_message (7, 1, fixture->peer, "hi"));
  g_autoptr (GError) error = NULL;

  receipt->event_id = 8;
  receipt->conversation_id = 7;
  receipt->profile = natter_profile_copy (fixture->peer);
  receipt->up_to_seq = 1;
  missed->event_id = 9;
  missed->call = natter_call_log_new ();
  missed->call->call_log_id = 3;
  missed->call->conversation_id = 7;
  missed->call->caller = natter_profile_copy (fixture->peer);

  natter_store_begin_sync (fixture->store);
  apply (fixture->store, receipt, TRUE);
  apply (fixture->store, missed, TRUE);
  apply (fixture->store, message, TRUE);
  apply (fixture->store, receipt, FALSE);
  apply (fixture->store, missed, FALSE);
  apply (fixture->store, message, FALSE);
  g_assert_true (natter_store_end_sync (fixture->store, 9, &error));
  g_assert_no_error (error);
  apply (fixture->store, receipt, FALSE);

  /* A new sync forgets the last one's ids: the event id covers them. */
  natter_store_begin_sync (fixture->store);
  apply (fixture->store, missed, FALSE);
  g_assert_true (natter_store_end_sync (fixture->store, 9, &error));
}

static void
test_event_id_survives_reopen (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterFrame) frame = make_chat_event (42, make_message (7, 1, fixture->peer, "hi"));
  g_autoptr (GError) error = NULL;

  apply (fixture->store, frame, TRUE);
  g_assert_finalize_object (g_steal_pointer (&fixture->store));

  fixture->store = natter_store_new (fixture->path, fixture->own, &error);
  g_assert_no_error (error);
  g_assert_cmpint (natter_store_get_last_event_id (fixture->store), ==, 42);
  g_assert_cmpuint (natter_store_count_messages (fixture->store, 7), ==, 1);
  apply (fixture->store, frame, FALSE);
}

/* A new server epoch, or a server whose last event id is below ours (a
 * restored backup), forgets the position: new events with ids we already
 * passed are applied, and a message at a place we hold from the lost
 * history replaces it. The same epoch again changes nothing. */
static void
test_new_epoch_resets_position (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterFrame) old = make_chat_event (3, make_message (7, 2, fixture->peer, "lost"));
  g_autoptr (NatterFrame) reused = make_chat_event (2, make_message (7, 2, fixture->peer, "new"));
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterMessageList) messages = NULL;
  g_autoptr (NatterMessageItem) item = NULL;

  /* Another message at the same place (conversation 7, seq 2). */
  reused->message->message_id += 50;
  g_assert_true (natter_store_check_epoch (fixture->store, "aaaa", 0, &error));
  g_assert_false (natter_store_take_position_reset (fixture->store));
  apply (fixture->store, old, TRUE);
  g_assert_cmpint (natter_store_get_last_event_id (fixture->store), ==, 3);

  /* Same epoch, server ahead: nothing to forget. */
  g_assert_true (natter_store_check_epoch (fixture->store, "aaaa", 5, &error));
  g_assert_false (natter_store_take_position_reset (fixture->store));
  g_assert_cmpint (natter_store_get_last_event_id (fixture->store), ==, 3);

  /* Same epoch, server behind us: a restored backup. */
  g_assert_true (natter_store_check_epoch (fixture->store, "aaaa", 1, &error));
  g_assert_no_error (error);
  g_assert_true (natter_store_take_position_reset (fixture->store));
  g_assert_false (natter_store_take_position_reset (fixture->store));
  g_assert_cmpint (natter_store_get_last_event_id (fixture->store), ==, 0);
  apply (fixture->store, reused, TRUE);
  g_assert_cmpuint (natter_store_count_messages (fixture->store, 7), ==, 1);
  messages = natter_message_list_new (fixture->store, NULL, 7);
  item = g_list_model_get_item (G_LIST_MODEL (messages), 0);
  g_assert_cmpstr (natter_message_item_get_text (item), ==, "new");

  /* Another epoch, even ahead of us: forgotten too, and kept over a reopen. */
  g_assert_true (natter_store_check_epoch (fixture->store, "bbbb", 100, &error));
  g_assert_true (natter_store_take_position_reset (fixture->store));
  g_assert_cmpint (natter_store_get_last_event_id (fixture->store), ==, 0);
  g_clear_object (&item);
  g_assert_finalize_object (g_steal_pointer (&messages));
  g_assert_finalize_object (g_steal_pointer (&fixture->store));
  fixture->store = natter_store_new (fixture->path, fixture->own, &error);
  g_assert_no_error (error);
  g_assert_true (natter_store_check_epoch (fixture->store, "bbbb", 0, &error));
  g_assert_false (natter_store_take_position_reset (fixture->store));
}

/* The sending connection gets no copy of its own message: the ack's event
 * id counts as processed, outside a sync at once, during one at its end. */
static void
test_own_event_from_ack (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (natter_store_note_own_event (fixture->store, 4, &error));
  g_assert_cmpint (natter_store_get_last_event_id (fixture->store), ==, 4);
  g_assert_true (natter_store_note_own_event (fixture->store, 2, &error));
  g_assert_cmpint (natter_store_get_last_event_id (fixture->store), ==, 4);

  natter_store_begin_sync (fixture->store);
  g_assert_true (natter_store_note_own_event (fixture->store, 9, &error));
  g_assert_cmpint (natter_store_get_last_event_id (fixture->store), ==, 4);
  g_assert_true (natter_store_end_sync (fixture->store, 9, &error));
  g_assert_cmpint (natter_store_get_last_event_id (fixture->store), ==, 9);
  g_assert_no_error (error);
}

static void
test_outbox_lifecycle (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) pending = NULL;
  g_autoptr (GPtrArray) all = NULL;
  g_autoptr (NatterMessage) acked = NULL;
  g_autoptr (NatterOutboxEntry) failed = NULL;
  gboolean applied = FALSE;
  NatterOutboxEntry *entry;

  g_assert_true (natter_store_outbox_add (fixture->store, "m-1", 0, fixture->peer, "one", &error));
  g_assert_true (natter_store_outbox_add (fixture->store, "m-2", 0, fixture->peer, "two", &error));
  g_assert_no_error (error);

  pending = natter_store_outbox_list (fixture->store, 0, TRUE);
  g_assert_cmpuint (pending->len, ==, 2);
  entry = g_ptr_array_index (pending, 0);
  g_assert_cmpstr (entry->client_msg_id, ==, "m-1");
  g_assert_true (natter_profile_equal (entry->to_profile, fixture->peer));
  g_assert_cmpstr (((NatterOutboxEntry *) g_ptr_array_index (pending, 1))->client_msg_id, ==,
                   "m-2");

  acked = make_message (9, 1, fixture->own, "one");
  acked->client_msg_id = g_strdup ("m-1");
  g_assert_true (natter_store_outbox_ack (fixture->store, "m-1", acked, &applied, &error));
  g_assert_true (applied);
  /* A second ack for the same message (a retry) is not news. */
  g_assert_true (natter_store_outbox_ack (fixture->store, "m-1", acked, &applied, &error));
  g_assert_false (applied);
  g_assert_cmpuint (natter_store_count_messages (fixture->store, 9), ==, 1);

  /* The new direct conversation is known: later messages go by its id. */
  g_assert_cmpint (natter_store_find_direct_conversation (fixture->store, fixture->peer), ==, 9);

  g_assert_true (natter_store_outbox_fail (fixture->store, "m-2", "too_long", "Too long", &error));
  g_clear_pointer (&pending, g_ptr_array_unref);
  pending = natter_store_outbox_list (fixture->store, 0, TRUE);
  g_assert_cmpuint (pending->len, ==, 0);
  all = natter_store_outbox_list (fixture->store, 0, FALSE);
  g_assert_cmpuint (all->len, ==, 1);

  failed = natter_store_outbox_lookup (fixture->store, "m-2");
  g_assert_cmpint (failed->state, ==, NATTER_OUTBOX_FAILED);
  g_assert_cmpstr (failed->error_code, ==, "too_long");
  g_assert_cmpstr (failed->error_message, ==, "Too long");

  g_assert_true (natter_store_outbox_retry (fixture->store, "m-2", &error));
  g_clear_pointer (&pending, g_ptr_array_unref);
  pending = natter_store_outbox_list (fixture->store, 0, TRUE);
  g_assert_cmpuint (pending->len, ==, 1);
  g_assert_no_error (error);
}

static void
test_unread_counts_and_receipts (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterConversation) conversation = NULL;
  g_autoptr (NatterFrame) own_receipt = natter_frame_new (NATTER_FRAME_READ_RECEIPT);
  g_autoptr (NatterFrame) peer_receipt = natter_frame_new (NATTER_FRAME_READ_RECEIPT);
  gint64 event_id = 0;

  for (gint64 seq = 1; seq <= 3; seq++) {
    g_autoptr (NatterFrame) frame =
      make_chat_event (++event_id, make_message (7, seq, fixture->peer, "hey"));

    apply (fixture->store, frame, TRUE);
  }

  {
    g_autoptr (NatterFrame) mine =
      make_chat_event (++event_id, make_message (7, 4, fixture->own, "mine"));

    apply (fixture->store, mine, TRUE);
  }

  conversation = natter_store_load_conversation (fixture->store, 7);
  g_assert_cmpint (conversation->unread_count, ==, 3);
  g_assert_cmpint (conversation->last_message->seq, ==, 4);
  g_clear_pointer (&conversation, natter_conversation_free);

  own_receipt->event_id = ++event_id;
  own_receipt->conversation_id = 7;
  own_receipt->profile = natter_profile_copy (fixture->own);
  own_receipt->up_to_seq = 2;
  apply (fixture->store, own_receipt, TRUE);

  conversation = natter_store_load_conversation (fixture->store, 7);
  g_assert_cmpint (conversation->unread_count, ==, 1);

  peer_receipt->event_id = ++event_id;
  peer_receipt->conversation_id = 7;
  peer_receipt->profile = natter_profile_copy (fixture->peer);
  peer_receipt->up_to_seq = 4;
  apply (fixture->store, peer_receipt, TRUE);
  g_assert_cmpint (natter_store_get_read_seq (fixture->store, 7, fixture->peer), ==, 4);

  /* Read markers never move back. */
  peer_receipt->event_id = ++event_id;
  peer_receipt->up_to_seq = 1;
  apply (fixture->store, peer_receipt, TRUE);
  g_assert_cmpint (natter_store_get_read_seq (fixture->store, 7, fixture->peer), ==, 4);
}

static gint64
pending_read (NatterStore *store, gint64 conversation_id)
{
  g_autoptr (GArray) reads = natter_store_list_pending_reads (store);

  for (guint i = 0; i < reads->len; i++) {
    NatterPendingRead *read = &g_array_index (reads, NatterPendingRead, i);

    if (read->conversation_id == conversation_id)
      return read->up_to_seq;
  }

  return 0;
}

static gint64
unread (NatterStore *store, gint64 conversation_id)
{
  g_autoptr (NatterConversation) conversation =
    natter_store_load_conversation (store, conversation_id);

  return conversation->unread_count;
}

static void
mark_read (NatterStore *store, gint64 conversation_id, gint64 up_to_seq, gboolean expect_changed)
{
  g_autoptr (GError) error = NULL;
  gboolean changed = !expect_changed;

  g_assert_true (natter_store_mark_read (store, conversation_id, up_to_seq, &changed, &error));
  g_assert_no_error (error);
  g_assert_cmpint (changed, ==, expect_changed);
}

static void
test_read_markers_pending_until_confirmed (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterFrame) own_receipt = natter_frame_new (NATTER_FRAME_READ_RECEIPT);
  g_autoptr (GPtrArray) from_server = NULL;
  g_autoptr (GError) error = NULL;
  NatterConversation *summary;
  gint64 event_id = 0;

  for (gint64 seq = 1; seq <= 4; seq++) {
    g_autoptr (NatterFrame) frame =
      make_chat_event (++event_id, make_message (7, seq, fixture->peer, "hey"));

    apply (fixture->store, frame, TRUE);
  }
  g_assert_cmpint (unread (fixture->store, 7), ==, 4);

  /* Marked here: the count drops at once, the marker waits to be sent. */
  mark_read (fixture->store, 7, 2, TRUE);
  g_assert_cmpint (unread (fixture->store, 7), ==, 2);
  g_assert_cmpint (pending_read (fixture->store, 7), ==, 2);

  /* Only the highest is kept; going back changes nothing; beyond the
   * newest message known means up to it. */
  mark_read (fixture->store, 7, 1, FALSE);
  mark_read (fixture->store, 7, 99, TRUE);
  g_assert_cmpint (pending_read (fixture->store, 7), ==, 4);
  g_assert_cmpint (unread (fixture->store, 7), ==, 0);
  mark_read (fixture->store, 7, 4, FALSE);
  /* A conversation without messages has nothing to mark. */
  mark_read (fixture->store, 8, 3, FALSE);
  g_assert_cmpint (pending_read (fixture->store, 8), ==, 0);

  /* The server's list, fetched before it saw the marker, does not bring
   * the count back. */
  summary = natter_conversation_new ();
  summary->conversation_id = 7;
  summary->unread_count = 4;
  g_ptr_array_add (summary->participants, natter_profile_copy (fixture->own));
  g_ptr_array_add (summary->participants, natter_profile_copy (fixture->peer));
  from_server = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_conversation_free);
  g_ptr_array_add (from_server, summary);
  g_assert_true (natter_store_set_conversations (fixture->store, from_server, &error));
  g_assert_no_error (error);
  g_assert_cmpint (unread (fixture->store, 7), ==, 0);

  /* It survives reopening. */
  g_assert_finalize_object (g_steal_pointer (&fixture->store));
  fixture->store = natter_store_new (fixture->path, fixture->own, &error);
  g_assert_no_error (error);
  g_assert_cmpint (pending_read (fixture->store, 7), ==, 4);
  g_assert_cmpint (unread (fixture->store, 7), ==, 0);

  /* An older receipt of ours (another device) does not confirm it ... */
  own_receipt->event_id = ++event_id;
  own_receipt->conversation_id = 7;
  own_receipt->profile = natter_profile_copy (fixture->own);
  own_receipt->up_to_seq = 3;
  apply (fixture->store, own_receipt, TRUE);
  g_assert_cmpint (pending_read (fixture->store, 7), ==, 4);
  g_assert_cmpint (unread (fixture->store, 7), ==, 0);

  /* ... the server's answer to ours does. */
  own_receipt->event_id = ++event_id;
  own_receipt->up_to_seq = 4;
  apply (fixture->store, own_receipt, TRUE);
  g_assert_cmpint (pending_read (fixture->store, 7), ==, 0);
  g_assert_cmpint (unread (fixture->store, 7), ==, 0);
}

/* The server counts 4 unread, the store holds the newest 2: the page of
 * history fetched when the chat opens brings the other 2, which are in the
 * server's count already (the badge went from 4 to 6). */
static void
test_history_page_adds_no_unread (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) from_server =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_conversation_free);
  g_autoptr (GPtrArray) page =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  g_autoptr (GError) error = NULL;
  NatterConversation *summary;
  gint64 event_id = 0;

  for (gint64 seq = 9; seq <= 10; seq++) {
    g_autoptr (NatterFrame) frame =
      make_chat_event (++event_id, make_message (7, seq, fixture->peer, "new"));

    apply (fixture->store, frame, TRUE);
  }
  g_assert_cmpint (unread (fixture->store, 7), ==, 2);

  summary = natter_conversation_new ();
  summary->conversation_id = 7;
  summary->unread_count = 4;
  summary->last_message = make_message (7, 10, fixture->peer, "new");
  g_ptr_array_add (summary->participants, natter_profile_copy (fixture->own));
  g_ptr_array_add (summary->participants, natter_profile_copy (fixture->peer));
  g_ptr_array_add (from_server, summary);
  g_assert_true (natter_store_set_conversations (fixture->store, from_server, &error));
  g_assert_no_error (error);
  g_assert_cmpint (unread (fixture->store, 7), ==, 4);

  for (gint64 seq = 5; seq <= 8; seq++)
    g_ptr_array_add (page, make_message (7, seq, seq == 6 ? fixture->own : fixture->peer, "old"));
  g_assert_true (natter_store_add_messages (fixture->store, page, &error));
  g_assert_no_error (error);
  g_assert_cmpint (natter_store_count_messages (fixture->store, 7), ==, 6);
  g_assert_cmpint (unread (fixture->store, 7), ==, 4);

  /* A new message still counts; reading up to it clears the badge. */
  {
    g_autoptr (NatterFrame) frame =
      make_chat_event (++event_id, make_message (7, 11, fixture->peer, "newer"));

    apply (fixture->store, frame, TRUE);
  }
  g_assert_cmpint (unread (fixture->store, 7), ==, 5);
  mark_read (fixture->store, 7, 11, TRUE);
  g_assert_cmpint (unread (fixture->store, 7), ==, 0);
}

static void
reopen (Fixture *fixture)
{
  g_autoptr (GError) error = NULL;

  if (fixture->store != NULL)
    g_assert_finalize_object (g_steal_pointer (&fixture->store));
  fixture->store = natter_store_new (fixture->path, fixture->own, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fixture->store);
}

static void
test_drafts_survive_reopen (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *draft = NULL;

  g_assert_null (natter_store_get_draft (fixture->store, 7));
  g_assert_true (natter_store_set_draft (fixture->store, 7, "Half a thought, \"quoted\"", &error));
  g_assert_no_error (error);
  g_assert_true (natter_store_set_draft (fixture->store, 8, "Another one", &error));
  g_assert_true (natter_store_set_draft (fixture->store, 8, "Another one, longer", &error));
  g_assert_no_error (error);

  reopen (fixture);
  draft = natter_store_get_draft (fixture->store, 7);
  g_assert_cmpstr (draft, ==, "Half a thought, \"quoted\"");
  g_clear_pointer (&draft, g_free);
  draft = natter_store_get_draft (fixture->store, 8);
  g_assert_cmpstr (draft, ==, "Another one, longer");
  g_clear_pointer (&draft, g_free);

  /* Blank is no draft. */
  g_assert_true (natter_store_set_draft (fixture->store, 7, "  \n ", &error));
  g_assert_no_error (error);
  g_assert_null (natter_store_get_draft (fixture->store, 7));
  g_assert_true (natter_store_set_draft (fixture->store, 8, NULL, &error));
  g_assert_null (natter_store_get_draft (fixture->store, 8));
}

static void
add_messages (NatterStore *store,
              gint64 conversation_id,
              const NatterProfile *sender,
              const char *const *texts)
{
  g_autoptr (GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  g_autoptr (GError) error = NULL;
  gint64 first = natter_store_get_last_seq (store, conversation_id) + 1;

  for (guint i = 0; texts[i] != NULL; i++)
    g_ptr_array_add (messages, make_message (conversation_id, first + i, sender, texts[i]));
  g_assert_true (natter_store_add_messages (store, messages, &error));
  g_assert_no_error (error);
}

static char *
search (NatterStore *store, gint64 conversation_id, const char *text)
{
  g_autoptr (GArray) hits = natter_store_search_messages (store, conversation_id, text, 50);
  g_autoptr (GString) seqs = g_string_new (NULL);

  for (guint i = 0; i < hits->len; i++) {
    NatterSearchHit *hit = &g_array_index (hits, NatterSearchHit, i);

    g_string_append_printf (seqs, "%s%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT, i ? " " : "",
                            hit->conversation_id, hit->seq);
  }

  return g_string_free (g_steal_pointer (&seqs), FALSE);
}

#define ASSERT_SEARCH(store, conversation_id, text, expected)              \
  G_STMT_START                                                             \
  {                                                                        \
    g_autofree char *found_ = search ((store), (conversation_id), (text)); \
    g_assert_cmpstr (found_, ==, (expected));                              \
  }                                                                        \
  G_STMT_END

static void
test_search_stored_messages (Fixture *fixture, gconstpointer data)
{
  const char *const seven[] = { "Fractions today at 4 pm?", "Yes, bring the exercises",
                                "Décimales et fractions", "(unbalanced \"quote* AND OR", NULL };
  const char *const eight[] = { "A fraction of the price", NULL };
  sqlite3 *db = NULL;

  add_messages (fixture->store, 7, fixture->peer, seven);
  add_messages (fixture->store, 8, fixture->own, eight);

  /* Word starts, any case, accents folded, all words required. */
  ASSERT_SEARCH (fixture->store, 7, "fraction", "7:1 7:3");
  ASSERT_SEARCH (fixture->store, 7, "FRACT", "7:1 7:3");
  ASSERT_SEARCH (fixture->store, 7, "decimales", "7:3");
  ASSERT_SEARCH (fixture->store, 7, "fractions today", "7:1");
  ASSERT_SEARCH (fixture->store, 7, "homework", "");
  ASSERT_SEARCH (fixture->store, 0, "fraction", "7:1 7:3 8:1");
  /* What people type is never query syntax. */
  ASSERT_SEARCH (fixture->store, 7, "\"quote*", "7:4");
  ASSERT_SEARCH (fixture->store, 7, "AND OR (", "7:4");
  ASSERT_SEARCH (fixture->store, 7, "NOT fractions", "");
  ASSERT_SEARCH (fixture->store, 7, "  ", "");
  g_assert_true (natter_store_conversation_has_match (fixture->store, 8, "price"));
  g_assert_false (natter_store_conversation_has_match (fixture->store, 7, "price"));

  /* A store from before the index is indexed when opened. */
  g_assert_finalize_object (g_steal_pointer (&fixture->store));
  g_assert_cmpint (sqlite3_open (fixture->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db,
                                 "DROP TRIGGER message_search_insert;"
                                 "DROP TRIGGER message_search_delete;"
                                 "DROP TABLE message_search;",
                                 NULL, NULL, NULL),
                   ==, SQLITE_OK);
  sqlite3_close (db);
  reopen (fixture);
  ASSERT_SEARCH (fixture->store, 0, "fraction", "7:1 7:3 8:1");
}

typedef struct {
  guint position;
  guint removed;
  guint added;
  guint count;
} ItemsChanged;

static void
on_items_changed (GListModel *model, guint position, guint removed, guint added, ItemsChanged *seen)
{
  seen->position = position;
  seen->removed = removed;
  seen->added = added;
  seen->count++;
}

static NatterCallLog *
make_call (gint64 call_log_id,
           gint64 conversation_id,
           double at_seconds,
           const NatterProfile *caller,
           const NatterProfile *callee,
           const char *status)
{
  NatterCallLog *call = natter_call_log_new ();
  g_autoptr (GDateTime) base = g_date_time_new_utc (2026, 1, 1, 0, 0, 0);
  g_autoptr (GDateTime) time = g_date_time_add_seconds (base, at_seconds);

  call->call_log_id = call_log_id;
  call->conversation_id = conversation_id;
  call->caller = natter_profile_copy (caller);
  call->callee = natter_profile_copy (callee);
  call->call_type = g_strdup ("voice");
  call->status = g_strdup (status);
  call->started_at = natter_format_time (time);
  call->duration_s = g_str_equal (status, "answered") ? 725 : 0;

  return call;
}

static gint64
call_at (GListModel *list, guint position)
{
  g_autoptr (NatterMessageItem) item = g_list_model_get_item (list, position);
  const NatterCallLog *call = item ? natter_message_item_get_call (item) : NULL;

  return call ? call->call_log_id : -natter_message_item_get_seq (item);
}

static char *
timeline (GListModel *list)
{
  g_autoptr (GString) text = g_string_new (NULL);

  for (guint i = 0; i < g_list_model_get_n_items (list); i++) {
    gint64 id = call_at (list, i);

    if (id > 0)
      g_string_append_printf (text, "%scall%" G_GINT64_FORMAT, i ? " " : "", id);
    else
      g_string_append_printf (text, "%s%" G_GINT64_FORMAT, i ? " " : "", -id);
  }

  return g_string_free (g_steal_pointer (&text), FALSE);
}

#define ASSERT_TIMELINE(list, expected)                          \
  G_STMT_START                                                   \
  {                                                              \
    g_autofree char *timeline_ = timeline (G_LIST_MODEL (list)); \
    g_assert_cmpstr (timeline_, ==, (expected));                 \
  }                                                              \
  G_STMT_END

/* Calls are rows of their conversation, among the messages in time order,
 * whether they come from the server's log or as missed_call events, and
 * they stay in place as older history comes in. */
static void
test_calls_in_timeline (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) newer =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  g_autoptr (GPtrArray) older =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  g_autoptr (GPtrArray) calls =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_call_log_free);
  g_autoptr (NatterFrame) missed = natter_frame_new (NATTER_FRAME_MISSED_CALL);
  g_autoptr (NatterMessageList) list = NULL;
  g_autoptr (GError) error = NULL;
  ItemsChanged seen = { 0 };

  for (gint64 seq = 3; seq <= 5; seq++)
    g_ptr_array_add (newer, make_message (7, seq, fixture->peer, "newer"));
  g_assert_true (natter_store_add_messages (fixture->store, newer, &error));
  g_assert_no_error (error);

  /* A made call between 3 and 4, one without a conversation (the direct
   * one with the peer is meant) after 5, and another conversation's. */
  g_ptr_array_add (calls, make_call (11, 7, 3.5, fixture->own, fixture->peer, "answered"));
  g_ptr_array_add (calls, make_call (12, 0, 9, fixture->own, fixture->peer, "declined"));
  g_ptr_array_add (calls, make_call (13, 8, 4, fixture->peer, fixture->own, "missed"));
  g_assert_true (natter_store_add_calls (fixture->store, calls, &error));
  g_assert_no_error (error);

  list = natter_message_list_new (fixture->store, NULL, 7);
  g_signal_connect (list, "items-changed", G_CALLBACK (on_items_changed), &seen);
  ASSERT_TIMELINE (list, "3 call11 4 5");
  {
    g_autoptr (GPtrArray) other = natter_store_load_calls (fixture->store, 8);

    g_assert_cmpuint (other->len, ==, 1);
  }

  /* Known once the direct conversation is: a list of participants. */
  {
    g_autoptr (GPtrArray) from_server =
      g_ptr_array_new_with_free_func ((GDestroyNotify) natter_conversation_free);
    NatterConversation *summary = natter_conversation_new ();

    summary->conversation_id = 7;
    g_ptr_array_add (summary->participants, natter_profile_copy (fixture->own));
    g_ptr_array_add (summary->participants, natter_profile_copy (fixture->peer));
    g_ptr_array_add (from_server, summary);
    g_assert_true (natter_store_set_conversations (fixture->store, from_server, &error));
    g_assert_true (natter_store_add_calls (fixture->store, calls, &error));
    g_assert_no_error (error);
  }
  ASSERT_TIMELINE (list, "3 call11 4 5 call12");
  g_assert_cmpuint (seen.position, ==, 4);
  g_assert_cmpuint (seen.added, ==, 1);

  /* A missed call comes as an event. */
  missed->event_id = 1;
  missed->call = make_call (14, 7, 4.5, fixture->peer, fixture->own, "missed");
  apply (fixture->store, missed, TRUE);
  ASSERT_TIMELINE (list, "3 call11 4 call14 5 call12");
  g_assert_cmpuint (seen.position, ==, 3);

  /* Older history goes in above, the calls keep their place. */
  for (gint64 seq = 1; seq <= 2; seq++)
    g_ptr_array_add (older, make_message (7, seq, fixture->peer, "older"));
  g_assert_true (natter_store_add_messages (fixture->store, older, &error));
  g_assert_no_error (error);
  ASSERT_TIMELINE (list, "1 2 3 call11 4 call14 5 call12");

  /* A new message after them all; an update of a known call replaces
   * its row in place. */
  {
    g_autoptr (NatterMessage) message = make_message (7, 10, fixture->own, "new");
    g_autoptr (GPtrArray) one = g_ptr_array_new ();
    g_autoptr (NatterMessageItem) item = NULL;

    g_ptr_array_add (one, message);
    g_assert_true (natter_store_add_messages (fixture->store, one, &error));
    ASSERT_TIMELINE (list, "1 2 3 call11 4 call14 5 call12 10");
    g_assert_cmpuint (seen.position, ==, 8);

    g_free (((NatterCallLog *) calls->pdata[1])->status);
    ((NatterCallLog *) calls->pdata[1])->status = g_strdup ("answered");
    g_assert_true (natter_store_add_calls (fixture->store, calls, &error));
    ASSERT_TIMELINE (list, "1 2 3 call11 4 call14 5 call12 10");
    g_assert_cmpuint (seen.position, ==, 7);
    g_assert_cmpuint (seen.removed, ==, 1);
    item = g_list_model_get_item (G_LIST_MODEL (list), 7);
    g_assert_cmpstr (natter_message_item_get_call (item)->status, ==, "answered");
    g_assert_true (natter_message_item_get_outgoing (item));
  }
  g_assert_cmpuint (natter_message_list_get_position_for_seq (list, 5), ==, 6);
}

static void
test_message_list_pages (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  g_autoptr (NatterMessageList) list = NULL;
  g_autoptr (NatterMessageItem) first = NULL;
  g_autoptr (NatterMessageItem) last = NULL;
  g_autoptr (NatterMessageItem) pending = NULL;
  g_autoptr (GError) error = NULL;
  ItemsChanged seen = { 0 };

  /* Every third message is ours; seq 1..500. */
  for (gint64 seq = 1; seq <= 500; seq++)
    g_ptr_array_add (messages,
                     make_message (7, seq, seq % 3 == 0 ? fixture->own : fixture->peer, "text"));
  g_assert_true (natter_store_add_messages (fixture->store, messages, &error));
  g_assert_no_error (error);

  list = natter_message_list_new (fixture->store, NULL, 7);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 500);
  g_assert_true (g_list_model_get_item_type (G_LIST_MODEL (list)) == NATTER_TYPE_MESSAGE_ITEM);

  last = g_list_model_get_item (G_LIST_MODEL (list), 499);
  g_assert_cmpint (natter_message_item_get_seq (last), ==, 500);
  g_assert_true (natter_message_item_get_outgoing (last) == (500 % 3 == 0));
  first = g_list_model_get_item (G_LIST_MODEL (list), 0);
  g_assert_cmpint (natter_message_item_get_seq (first), ==, 1);
  g_assert_null (g_list_model_get_item (G_LIST_MODEL (list), 500));

  /* Walking the whole history one item at a time sees every seq in order. */
  for (guint i = 0; i < 500; i++) {
    g_autoptr (NatterMessageItem) item = g_list_model_get_item (G_LIST_MODEL (list), i);

    g_assert_cmpint (natter_message_item_get_seq (item), ==, i + 1);
  }

  g_signal_connect (list, "items-changed", G_CALLBACK (on_items_changed), &seen);

  /* A message filling a gap lands at its place. */
  {
    g_autoptr (GPtrArray) later =
      g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);

    g_ptr_array_add (later, make_message (7, 600, fixture->peer, "later"));
    g_assert_true (natter_store_add_messages (fixture->store, later, &error));
  }
  g_assert_cmpuint (seen.count, ==, 1);
  g_assert_cmpuint (seen.position, ==, 500);
  g_assert_cmpuint (seen.added, ==, 1);

  /* A message in the outbox shows at the end, pending. */
  g_assert_true (natter_store_outbox_add (fixture->store, "m-1", 7, NULL, "on its way", &error));
  g_assert_cmpuint (seen.count, ==, 2);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 502);
  pending = g_list_model_get_item (G_LIST_MODEL (list), 501);
  g_assert_cmpint (natter_message_item_get_state (pending), ==, NATTER_MESSAGE_STATE_PENDING);
  g_assert_cmpstr (natter_message_item_get_text (pending), ==, "on its way");
  g_assert_true (natter_message_item_get_outgoing (pending));

  g_signal_handlers_disconnect_by_data (list, &seen);
  g_assert_finalize_object (g_steal_pointer (&list));
}

static void
test_history_edge_is_above_the_gap (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (natter_store_get_history_edge (fixture->store, 7), ==, 0);

  /* 1..10 from long ago, 990..1000 from a truncated replay. */
  for (gint64 seq = 1; seq <= 10; seq++)
    g_ptr_array_add (messages, make_message (7, seq, fixture->peer, "old"));
  for (gint64 seq = 990; seq <= 1000; seq++)
    g_ptr_array_add (messages, make_message (7, seq, fixture->peer, "new"));
  g_assert_true (natter_store_add_messages (fixture->store, messages, &error));
  g_assert_no_error (error);

  g_assert_cmpint (natter_store_get_oldest_seq (fixture->store, 7), ==, 1);
  g_assert_cmpint (natter_store_get_history_edge (fixture->store, 7), ==, 990);
  g_assert_cmpuint (natter_store_get_message_position (fixture->store, 7, 990), ==, 10);
  g_assert_cmpuint (natter_store_count_messages (fixture->store, 7), ==, 21);
}

/* The history flag is kept for a conversation the store holds nothing of
 * yet (opened before any list refresh or message), without making it show
 * up in the conversation list. */
static void
test_has_older_kept_without_conversation (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) conversations = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (natter_store_get_has_older (fixture->store, 9));
  g_assert_true (natter_store_set_has_older (fixture->store, 9, FALSE, &error));
  g_assert_no_error (error);
  g_assert_false (natter_store_get_has_older (fixture->store, 9));

  conversations = natter_store_load_conversations (fixture->store);
  g_assert_cmpuint (conversations->len, ==, 0);

  g_assert_finalize_object (g_steal_pointer (&fixture->store));
  fixture->store = natter_store_new (fixture->path, fixture->own, &error);
  g_assert_no_error (error);
  g_assert_false (natter_store_get_has_older (fixture->store, 9));

  /* Other conversations keep the default. */
  g_assert_true (natter_store_get_has_older (fixture->store, 10));
}

static void
test_conversation_list_moves_active_to_top (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterProfile) other = natter_profile_new (3, "parent", "Lidya", NULL);
  g_autoptr (NatterConversationList) list = NULL;
  g_autoptr (NatterConversationItem) top = NULL;
  ItemsChanged seen = { 0 };
  gint64 event_id = 0;

  {
    g_autoptr (NatterFrame) a =
      make_chat_event (++event_id, make_message (7, 1, fixture->peer, "a"));
    g_autoptr (NatterFrame) b = make_chat_event (++event_id, make_message (8, 2, other, "b"));

    apply (fixture->store, a, TRUE);
    apply (fixture->store, b, TRUE);
  }

  list = natter_conversation_list_new (fixture->store);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 2);
  top = g_list_model_get_item (G_LIST_MODEL (list), 0);
  g_assert_cmpint (natter_conversation_item_get_conversation_id (top), ==, 8);
  g_assert_cmpstr (natter_conversation_item_get_title (top), ==, "Lidya");
  g_clear_object (&top);

  g_signal_connect (list, "items-changed", G_CALLBACK (on_items_changed), &seen);

  {
    g_autoptr (NatterFrame) c =
      make_chat_event (++event_id, make_message (7, 3, fixture->peer, "c"));

    apply (fixture->store, c, TRUE);
  }

  /* One move: out of position 1, into position 0. */
  g_assert_cmpuint (seen.count, ==, 2);
  g_assert_cmpuint (seen.position, ==, 0);
  g_assert_cmpuint (seen.added, ==, 1);
  top = g_list_model_get_item (G_LIST_MODEL (list), 0);
  g_assert_cmpint (natter_conversation_item_get_conversation_id (top), ==, 7);
  g_assert_cmpstr (natter_conversation_item_get_last_message_text (top), ==, "c");
  g_assert_cmpuint (natter_conversation_item_get_unread_count (top), ==, 2);

  g_signal_handlers_disconnect_by_data (list, &seen);
  g_clear_object (&top);
  g_assert_finalize_object (g_steal_pointer (&list));
}

static gboolean
quit_loop (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_typing_expires (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterConversation) conversation = natter_conversation_new ();
  g_autoptr (NatterConversationItem) item = NULL;
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  gint64 deadline;

  conversation->conversation_id = 7;
  g_ptr_array_add (conversation->participants, natter_profile_copy (fixture->peer));
  item = natter_conversation_item_new (conversation, fixture->own);

  natter_conversation_item_set_typing (item, TRUE, 50);
  g_assert_true (natter_conversation_item_get_typing (item));

  deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (natter_conversation_item_get_typing (item) && g_get_monotonic_time () < deadline) {
    g_timeout_add (10, quit_loop, loop);
    g_main_loop_run (loop);
  }
  g_assert_false (natter_conversation_item_get_typing (item));

  natter_conversation_item_set_presence (item, TRUE, "2026-01-01T00:00:00.000Z");
  g_assert_true (natter_conversation_item_get_peer_online (item));
  g_assert_cmpstr (natter_conversation_item_get_peer_last_seen (item), ==,
                   "2026-01-01T00:00:00.000Z");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/store/replayed-event-changes-nothing", test_replayed_event_changes_nothing);
  ADD ("/natter/store/event-id-survives-reopen", test_event_id_survives_reopen);
  ADD ("/natter/store/live-events-during-sync", test_live_events_during_sync);
  ADD ("/natter/store/event-live-and-replayed-during-sync",
       test_event_live_and_replayed_during_sync);
  ADD ("/natter/store/outbox-lifecycle", test_outbox_lifecycle);
  ADD ("/natter/store/unread-counts-and-receipts", test_unread_counts_and_receipts);
  ADD ("/natter/store/read-markers-pending-until-confirmed",
       test_read_markers_pending_until_confirmed);
  ADD ("/natter/store/history-page-adds-no-unread", test_history_page_adds_no_unread);
  ADD ("/natter/store/drafts-survive-reopen", test_drafts_survive_reopen);
  ADD ("/natter/store/search-stored-messages", test_search_stored_messages);
  ADD ("/natter/store/message-list-pages", test_message_list_pages);
  ADD ("/natter/store/calls-in-timeline", test_calls_in_timeline);
  ADD ("/natter/store/history-edge-is-above-the-gap", test_history_edge_is_above_the_gap);
  ADD ("/natter/store/has-older-kept-without-conversation",
       test_has_older_kept_without_conversation);
  ADD ("/natter/store/conversation-list-moves-active-to-top",
       test_conversation_list_moves_active_to_top);
  ADD ("/natter/store/typing-expires", test_typing_expires);
  ADD ("/natter/store/new-epoch-resets-position", test_new_epoch_resets_position);
  ADD ("/natter/store/own-event-from-ack", test_own_event_from_ack);
#undef ADD

  return g_test_run ();
}
