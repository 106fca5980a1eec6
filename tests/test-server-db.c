/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-db"

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "natter-protocol.h"
#include "natter-server-db-private.h"
#include "natter-server-db.h"

#define N_MESSAGES 1500
#define CHECKPOINT_TIMEOUT_MS 20000

typedef struct {
  char *folder;
  char *path;
  NatterServerDb *db;
  NatterProfile *a;
  NatterProfile *b;
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
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterConversation) conversation = NULL;

  fixture->folder = g_dir_make_tmp ("natter-test-server-db-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->path = g_build_filename (fixture->folder, "natter.db", NULL);
  fixture->db = natter_server_db_open (fixture->path, &error);
  g_assert_no_error (error);

  fixture->a = add_user (fixture->db, "a@test.invalid", "tutor");
  fixture->b = add_user (fixture->db, "b@test.invalid", "student");
  conversation =
    natter_server_db_get_or_create_direct (fixture->db, fixture->a, fixture->b, &error);
  g_assert_no_error (error);
  fixture->conversation_id = conversation->conversation_id;
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  const char *suffixes[] = { "", "-wal", "-shm" };

  if (fixture->db != NULL)
    g_assert_finalize_object (g_steal_pointer (&fixture->db));
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++) {
    g_autofree char *file = g_strconcat (fixture->path, suffixes[i], NULL);

    g_remove (file);
  }
  g_rmdir (fixture->folder);
  g_clear_pointer (&fixture->a, natter_profile_free);
  g_clear_pointer (&fixture->b, natter_profile_free);
  g_clear_pointer (&fixture->path, g_free);
  g_clear_pointer (&fixture->folder, g_free);
}

static goffset
file_size (const char *path)
{
  GStatBuf buf;

  if (g_stat (path, &buf) != 0)
    return 0;

  return buf.st_size;
}

/* The writing thread never checkpoints the bulk of the WAL (that waited for
 * fsync on the main thread); the worker does, once the WAL passed its threshold, and the
 * pages reach the database file while the writer goes on. */
static void
test_checkpoints_off_the_writing_thread (Fixture *fixture, gconstpointer data)
{
  g_autofree char *text = g_strnfill (2000, 'x');
  goffset schema_size = file_size (fixture->path);
  gint64 deadline;

  g_assert_cmpuint (natter_server_db_get_n_checkpoints (fixture->db), ==, 0);

  /* One commit each, as the hub's group commits under light load. */
  for (guint i = 0; i < N_MESSAGES; i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (NatterMessage) message = natter_server_db_add_message (
      fixture->db, fixture->conversation_id, fixture->a, text, NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpint (message->seq, ==, i + 1);
  }

  deadline = g_get_monotonic_time () + CHECKPOINT_TIMEOUT_MS * 1000;
  while (natter_server_db_get_n_checkpoints (fixture->db) == 0 ||
         file_size (fixture->path) < schema_size + N_MESSAGES * 1000) {
    if (g_get_monotonic_time () > deadline)
      g_error ("no checkpoint within %d ms: %u checkpoints, database file %" G_GOFFSET_FORMAT
               " bytes",
               CHECKPOINT_TIMEOUT_MS, natter_server_db_get_n_checkpoints (fixture->db),
               file_size (fixture->path));
    g_usleep (10 * 1000);
  }
}

/* A worker's pass never copies the frames committed while it ran, and the
 * WAL only rewinds once every frame is copied: the writing connection
 * copies the rest after its next commit, so that the WAL rewinds and stops
 * growing, however steadily commits come. Each commit below writes at
 * least one frame: a WAL file smaller than the commits made proves that
 * it rewound. */
static void
test_wal_rewinds_under_steady_commits (Fixture *fixture, gconstpointer data)
{
  g_autofree char *wal = g_strconcat (fixture->path, "-wal", NULL);
  g_autofree char *text = g_strnfill (3000, 'y');
  gint64 deadline = g_get_monotonic_time () + CHECKPOINT_TIMEOUT_MS * 1000;
  guint commits = 0;

  natter_server_db_set_checkpoint_threshold (fixture->db, 8);

  while (natter_server_db_get_n_wal_catch_ups (fixture->db) == 0 ||
         file_size (wal) >= (goffset) commits * 4096) {
    g_autoptr (GError) error = NULL;
    g_autoptr (NatterMessage) message = natter_server_db_add_message (
      fixture->db, fixture->conversation_id, fixture->a, text, NULL, &error);

    g_assert_no_error (error);
    commits++;
    if (g_get_monotonic_time () > deadline)
      g_error ("the WAL never rewound: %u commits, %u catch-ups, WAL %" G_GOFFSET_FORMAT " bytes",
               commits, natter_server_db_get_n_wal_catch_ups (fixture->db), file_size (wal));
  }
  g_assert_cmpuint (natter_server_db_get_n_checkpoints (fixture->db), >, 0);

  /* Nothing was lost on the way. */
  g_assert_finalize_object (g_steal_pointer (&fixture->db));
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GPtrArray) messages = NULL;
    gboolean has_more = TRUE;

    fixture->db = natter_server_db_open (fixture->path, &error);
    g_assert_no_error (error);
    messages = natter_server_db_list_messages (fixture->db, fixture->conversation_id, 0, 1,
                                               &has_more, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (messages->len, ==, 1);
    g_assert_cmpint (((NatterMessage *) g_ptr_array_index (messages, 0))->seq, ==, commits);
  }
}

/* Whatever the checkpointer did or did not copy yet, every commit is there
 * after closing and opening again. */
static void
test_commits_survive_reopening (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) messages = NULL;
  gboolean has_more = TRUE;

  for (guint i = 0; i < N_MESSAGES; i++) {
    g_autofree char *text = g_strdup_printf ("message %u", i + 1);
    g_autoptr (NatterMessage) message = natter_server_db_add_message (
      fixture->db, fixture->conversation_id, fixture->b, text, NULL, &error);

    g_assert_no_error (error);
  }
  g_assert_finalize_object (g_steal_pointer (&fixture->db));

  fixture->db = natter_server_db_open (fixture->path, &error);
  g_assert_no_error (error);
  messages =
    natter_server_db_list_messages (fixture->db, fixture->conversation_id, 0, 1, &has_more, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (messages->len, ==, 1);
  g_assert_true (has_more);
  g_assert_cmpstr (((NatterMessage *) g_ptr_array_index (messages, 0))->text, ==,
                   "message " G_STRINGIFY (N_MESSAGES));
  g_assert_cmpint (((NatterMessage *) g_ptr_array_index (messages, 0))->seq, ==, N_MESSAGES);
}

/* Event ids come from a cache: a rolled back event must not leave a gap or
 * a reused id behind. */
static void
test_event_ids_after_rollback (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterFrame) first = natter_frame_new (NATTER_FRAME_READ_RECEIPT);
  g_autoptr (NatterFrame) dropped = natter_frame_new (NATTER_FRAME_READ_RECEIPT);
  g_autoptr (NatterFrame) second = natter_frame_new (NATTER_FRAME_READ_RECEIPT);
  g_autoptr (GPtrArray) events = NULL;
  g_autofree char *json = NULL;
  gboolean truncated = TRUE;

  first->conversation_id = dropped->conversation_id = second->conversation_id =
    fixture->conversation_id;
  first->profile = natter_profile_copy (fixture->a);
  dropped->profile = natter_profile_copy (fixture->a);
  second->profile = natter_profile_copy (fixture->a);

  g_assert_cmpint (natter_server_db_add_event (fixture->db, fixture->b, first, &error), ==, 1);
  g_assert_no_error (error);

  g_assert_true (natter_server_db_begin (fixture->db, &error));
  g_assert_cmpint (
    natter_server_db_add_event_with_json (fixture->db, fixture->b, dropped, &json, &error), ==, 2);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (json, "\"event_id\":2"));
  natter_server_db_rollback (fixture->db);
  g_assert_cmpint (natter_server_db_get_last_event_id (fixture->db, fixture->b), ==, 1);

  g_assert_cmpint (natter_server_db_add_event (fixture->db, fixture->b, second, &error), ==, 2);
  g_assert_no_error (error);
  events = natter_server_db_list_events_after (fixture->db, fixture->b, 0, 10, &truncated, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (events->len, ==, 2);
  g_assert_false (truncated);
  g_assert_cmpint (natter_server_db_get_last_event_id (fixture->db, fixture->a), ==, 0);
}

/* Stored times (ms since the epoch) read back as natter_format_time ()
 * writes them, without GDateTime. */
static void
test_times_formatted_as_the_protocol_says (void)
{
  const gint64 values[] = { 0,
                            1,
                            999,
                            1000,
                            951782400123 /* 2000-02-29 */,
                            1796688000000,
                            1796774399999,
                            4102444800000,
                            253402300799999 };

  for (gsize i = 0; i < G_N_ELEMENTS (values); i++) {
    g_autoptr (GDateTime) seconds = g_date_time_new_from_unix_utc (values[i] / 1000);
    g_autoptr (GDateTime) time =
      g_date_time_add (seconds, (values[i] % 1000) * G_TIME_SPAN_MILLISECOND);
    g_autofree char *expected = natter_format_time (time);
    g_autofree char *text = natter_db_format_ms (values[i]);

    g_assert_cmpstr (text, ==, expected);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/server-db/times-formatted-as-the-protocol-says",
                   test_times_formatted_as_the_protocol_says);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/server-db/checkpoints-off-the-writing-thread",
       test_checkpoints_off_the_writing_thread);
  ADD ("/natter/server-db/wal-rewinds-under-steady-commits", test_wal_rewinds_under_steady_commits);
  ADD ("/natter/server-db/commits-survive-reopening", test_commits_survive_reopening);
  ADD ("/natter/server-db/event-ids-after-rollback", test_event_ids_after_rollback);
#undef ADD

  return g_test_run ();
}
