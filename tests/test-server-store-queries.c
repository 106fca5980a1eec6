/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-store-queries"

/* The HTTP API's storage work (NatterStoreQueries) through
 * natter_server_store_query (), against each backend of the storage
 * interface: the same cases, the same answers. */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "natter-server-db.h"
#include "natter-server-sqlite-store.h"

#ifdef NATTER_HAVE_LIBPQ
#include <libpq-fe.h>

#include "natter-server-pg-store.h"
#include "natter-test-services.h"
#endif

#define WAIT_MS 20000

typedef enum {
  BACKEND_SQLITE,
  BACKEND_POSTGRES,
} Backend;

typedef struct {
  Backend backend;
  gboolean skipped;
  NatterServerStore *store;
  char *folder;
  char *path;
  NatterServerDb *db;
#ifdef NATTER_HAVE_LIBPQ
  char *database;
  char *conninfo;
#endif
} Fixture;

#ifdef NATTER_HAVE_LIBPQ
/* One cluster for the whole program: initdb takes seconds. */
static NatterTestPostgres *postgres;
static gboolean postgres_tried;
static guint n_databases;

static void
pg_run (const char *conninfo, const char *sql, int n_params, const char *const *params)
{
  PGconn *conn = PQconnectdb (conninfo);
  PGresult *result;

  if (PQstatus (conn) != CONNECTION_OK)
    g_error ("cannot connect to %s: %s", conninfo, PQerrorMessage (conn));
  result = PQexecParams (conn, sql, n_params, NULL, params, NULL, NULL, 0);
  if (PQresultStatus (result) != PGRES_COMMAND_OK && PQresultStatus (result) != PGRES_TUPLES_OK)
    g_error ("%s: %s", sql, PQresultErrorMessage (result));
  PQclear (result);
  PQfinish (conn);
}
#endif

static GThread *main_thread;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fixture->backend = GPOINTER_TO_INT (data);
  if (fixture->backend == BACKEND_POSTGRES) {
#ifdef NATTER_HAVE_LIBPQ
    g_autofree char *create = NULL;

    if (!postgres_tried) {
      postgres_tried = TRUE;
      postgres = natter_test_postgres_new ();
    }
    if (postgres == NULL) {
      g_test_skip ("PostgreSQL 15 is not installed (Debian: postgresql-15)");
      fixture->skipped = TRUE;
      return;
    }
    fixture->database = g_strdup_printf ("natter_queries_%u", ++n_databases);
    create = g_strdup_printf ("CREATE DATABASE %s", fixture->database);
    pg_run (natter_test_postgres_get_conninfo (postgres), create, 0, NULL);
    fixture->conninfo =
      g_strdup_printf ("host=127.0.0.1 port=%u user=postgres dbname=%s",
                       natter_test_postgres_get_port (postgres), fixture->database);
    fixture->store = NATTER_SERVER_STORE (natter_server_pg_store_new (fixture->conninfo));
    natter_server_store_flush (fixture->store);
#else
    g_test_skip ("built without libpq");
    fixture->skipped = TRUE;
#endif
    return;
  }

  fixture->folder = g_dir_make_tmp ("natter-test-store-queries-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->path = g_build_filename (fixture->folder, "natter.db", NULL);
  fixture->db = natter_server_db_open (fixture->path, &error);
  g_assert_no_error (error);
  fixture->store = NATTER_SERVER_STORE (natter_server_sqlite_store_new (fixture->db, &error));
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  const char *suffixes[] = { "", "-wal", "-shm" };

  if (fixture->store != NULL) {
#ifdef NATTER_HAVE_LIBPQ
    if (fixture->backend == BACKEND_POSTGRES)
      natter_server_pg_store_close (NATTER_SERVER_PG_STORE (fixture->store));
#endif
    if (fixture->backend == BACKEND_SQLITE)
      natter_server_sqlite_store_close (NATTER_SERVER_SQLITE_STORE (fixture->store));
    /* The last callbacks hold the store until they ran. */
    while (g_main_context_iteration (NULL, FALSE))
      ;
    g_assert_finalize_object (g_steal_pointer (&fixture->store));
  }
  if (fixture->db != NULL)
    g_assert_finalize_object (g_steal_pointer (&fixture->db));
  if (fixture->path != NULL) {
    for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++) {
      g_autofree char *file = g_strconcat (fixture->path, suffixes[i], NULL);

      g_remove (file);
    }
    g_rmdir (fixture->folder);
  }
#ifdef NATTER_HAVE_LIBPQ
  if (fixture->database != NULL) {
    g_autofree char *drop = g_strdup_printf ("DROP DATABASE %s WITH (FORCE)", fixture->database);

    pg_run (natter_test_postgres_get_conninfo (postgres), drop, 0, NULL);
  }
  g_clear_pointer (&fixture->database, g_free);
  g_clear_pointer (&fixture->conninfo, g_free);
#endif
  g_clear_pointer (&fixture->path, g_free);
  g_clear_pointer (&fixture->folder, g_free);
}

/* A step of a case: runs where the store runs queries, asserting there. */
typedef void (*Step) (NatterStoreQueries *queries, gpointer data);

typedef struct {
  Step step;
  gpointer data;
  GThread *thread;
} StepRun;

static gpointer
run_step (NatterStoreQueries *queries, gpointer data, GError **error)
{
  StepRun *run = data;

  run->thread = g_thread_self ();
  run->step (queries, run->data);

  return run;
}

static void
on_step_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static void
wait_for (GAsyncResult **result)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * 1000;

  while (*result == NULL) {
    g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    g_main_context_iteration (NULL, TRUE);
  }
}

/* Runs @step through the store and waits for its answer. */
static void
run (Fixture *fixture, Step step, gpointer data)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  StepRun step_run = { step, data, NULL };

  natter_server_store_query (fixture->store, run_step, &step_run, NULL, NULL, on_step_done,
                             &result);
  /* Never answered inside the call. */
  g_assert_null (result);
  wait_for (&result);
  g_assert_true (natter_server_store_query_finish (fixture->store, result, &error) == &step_run);
  g_assert_no_error (error);
  /* PostgreSQL blocks a thread of its own, never the main context's. */
  if (fixture->backend == BACKEND_POSTGRES)
    g_assert_true (step_run.thread != main_thread);
}

typedef struct {
  gint64 user_a;
  NatterProfile *a;
  NatterProfile *b;
  NatterProfile *c;
  gint64 conversation_id;
} People;

static void
people_clear (People *people)
{
  g_clear_pointer (&people->a, natter_profile_free);
  g_clear_pointer (&people->b, natter_profile_free);
  g_clear_pointer (&people->c, natter_profile_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (People, people_clear)

static NatterProfile *
make_user (NatterStoreQueries *queries, const char *email, const char *name, gint64 *out_user_id)
{
  const char *types[] = { "tutor", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterUser) user = NULL;
  gint64 user_id = 0;

  g_assert_true (
    natter_store_queries_create_user (queries, email, "hash", name, types, &user_id, &error));
  g_assert_no_error (error);
  user = natter_store_queries_get_user (queries, user_id, &error);
  g_assert_no_error (error);
  if (out_user_id != NULL)
    *out_user_id = user_id;

  return natter_profile_copy (g_ptr_array_index (user->profiles, 0));
}

static void
step_people (NatterStoreQueries *queries, gpointer data)
{
  People *people = data;

  people->a = make_user (queries, "alice@test.invalid", "Alice", &people->user_a);
  people->b = make_user (queries, "bob@test.invalid", "Bob", NULL);
  people->c = make_user (queries, "carol@test.invalid", "Carol 100%", NULL);
}

/* Users and tokens: accounts with their profiles in the order asked for,
 * one account per email, logins, tokens until revoked or expired. */
static void
step_accounts (NatterStoreQueries *queries, gpointer data)
{
  const char *types[] = { "tutor", "student", "tutor", NULL };
  const char *one_type[] = { "parent", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterUser) user = NULL;
  g_autofree char *hash = NULL;
  gint64 user_id = 0;
  gint64 other_id = 0;
  gint64 found_id = 0;
  gint64 token_id = 0;
  gint64 other_token = 0;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  g_assert_true (natter_store_queries_create_user (queries, "dana@test.invalid", "argon-hash",
                                                   "Dana", types, &user_id, &error));
  g_assert_no_error (error);
  g_assert_cmpint (user_id, >, 0);
  g_assert_false (natter_store_queries_create_user (queries, "dana@test.invalid", "x", "Other",
                                                    one_type, &other_id, &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_EXISTS);
  g_clear_error (&error);

  g_assert_true (
    natter_store_queries_find_login (queries, "dana@test.invalid", &found_id, &hash, &error));
  g_assert_no_error (error);
  g_assert_cmpint (found_id, ==, user_id);
  g_assert_cmpstr (hash, ==, "argon-hash");
  g_assert_false (
    natter_store_queries_find_login (queries, "nobody@test.invalid", &found_id, NULL, &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  g_clear_error (&error);

  user = natter_store_queries_get_user (queries, user_id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (user->email, ==, "dana@test.invalid");
  g_assert_cmpstr (user->display_name, ==, "Dana");
  g_assert_cmpuint (user->profiles->len, ==, 2);
  g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (user->profiles, 0))->profile_type, ==,
                   "tutor");
  g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (user->profiles, 1))->profile_type, ==,
                   "student");
  g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (user->profiles, 1))->display_name, ==,
                   "Dana");
  g_assert_cmpint (
    natter_store_queries_get_profile_owner (
      queries, ((NatterProfile *) g_ptr_array_index (user->profiles, 1))->profile_id, "student"),
    ==, user_id);
  g_assert_cmpint (natter_store_queries_get_profile_owner (queries, 999999, "student"), ==, 0);
  g_assert_null (natter_store_queries_get_user (queries, 999999, &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (
    natter_store_queries_add_token (queries, user_id, "hash-1", now + 60, &token_id, &error));
  g_assert_true (
    natter_store_queries_add_token (queries, user_id, "hash-2", now + 60, &other_token, &error));
  g_assert_true (
    natter_store_queries_add_token (queries, user_id, "hash-old", now - 1, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (other_token, >, token_id);
  found_id = 0;
  other_id = 0;
  g_assert_true (
    natter_store_queries_lookup_token (queries, "hash-1", now, &found_id, &other_id, &error));
  g_assert_no_error (error);
  g_assert_cmpint (found_id, ==, user_id);
  g_assert_cmpint (other_id, ==, token_id);
  g_assert_false (natter_store_queries_lookup_token (queries, "hash-old", now, NULL, NULL, &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (natter_store_queries_revoke_token (queries, token_id, &error));
  g_assert_false (natter_store_queries_lookup_token (queries, "hash-1", now, NULL, NULL, &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (natter_store_queries_revoke_token (queries, token_id, &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (natter_store_queries_lookup_token (queries, "hash-2", now, NULL, NULL, &error));
  g_assert_true (natter_store_queries_revoke_user_tokens (queries, user_id, &error));
  g_assert_no_error (error);
  g_assert_false (natter_store_queries_lookup_token (queries, "hash-2", now, NULL, NULL, &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
}

static void
test_accounts (Fixture *fixture, gconstpointer data)
{
  if (fixture->skipped)
    return;
  run (fixture, step_accounts, NULL);
}

/* The directory: by display name, whatever the case, the text literal;
 * avatars stored and read back byte for byte. */
static void
step_profiles (NatterStoreQueries *queries, gpointer data)
{
  People *people = data;
  static const guint8 png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 1, 0xff, '\\' };
  g_autoptr (GBytes) image = g_bytes_new_static (png, sizeof png);
  g_autoptr (GBytes) read_back = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *content_type = NULL;
  g_autofree char *avatar_url = NULL;

  {
    g_autoptr (GPtrArray) found = natter_store_queries_search_profiles (queries, "", 10, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (found->len, ==, 3);
    g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (found, 0))->display_name, ==, "Alice");
    g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (found, 2))->display_name, ==,
                     "Carol 100%");
  }
  {
    g_autoptr (GPtrArray) found = natter_store_queries_search_profiles (queries, "BO", 10, &error);

    g_assert_cmpuint (found->len, ==, 1);
    g_assert_true (natter_profile_equal (g_ptr_array_index (found, 0), people->b));
  }
  {
    g_autoptr (GPtrArray) found = natter_store_queries_search_profiles (queries, "0%", 10, &error);
    g_autoptr (GPtrArray) none = natter_store_queries_search_profiles (queries, "%o", 10, &error);
    g_autoptr (GPtrArray) limited = natter_store_queries_search_profiles (queries, "", 2, &error);

    g_assert_cmpuint (found->len, ==, 1);
    g_assert_cmpuint (none->len, ==, 0);
    g_assert_cmpuint (limited->len, ==, 2);
  }

  g_assert_null (natter_store_queries_get_avatar (queries, people->a->profile_id, "tutor",
                                                  &content_type, &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (
    natter_store_queries_set_avatar (queries, 999999, "tutor", image, "image/png", &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (natter_store_queries_set_avatar (queries, people->a->profile_id, "tutor", image,
                                                  "image/png", &error));
  g_assert_no_error (error);
  read_back = natter_store_queries_get_avatar (queries, people->a->profile_id, "tutor",
                                               &content_type, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (read_back, image));
  g_assert_cmpstr (content_type, ==, "image/png");

  avatar_url =
    g_strdup_printf ("/api/profiles/tutor/%" G_GINT64_FORMAT "/avatar", people->a->profile_id);
  {
    g_autoptr (GPtrArray) found = natter_store_queries_search_profiles (queries, "ali", 10, &error);

    g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (found, 0))->avatar_url, ==, avatar_url);
  }
}

static void
test_profiles (Fixture *fixture, gconstpointer data)
{
  g_auto (People) people = { 0 };

  if (fixture->skipped)
    return;
  run (fixture, step_people, &people);
  run (fixture, step_profiles, &people);
}

/* POST …/conversations: made once, then found; none with nobody. */
static void
step_direct (NatterStoreQueries *queries, gpointer data)
{
  People *people = data;
  g_autoptr (NatterProfile) nobody = natter_profile_new (999999, "tutor", NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterConversation) made = NULL;
  g_autoptr (NatterConversation) found = NULL;

  g_assert_cmpint (natter_store_queries_find_direct (queries, people->a, people->b), ==, 0);
  made = natter_store_queries_get_or_create_direct (queries, people->a, people->b, &error);
  g_assert_no_error (error);
  g_assert_cmpint (made->conversation_id, >, 0);
  g_assert_cmpuint (made->participants->len, ==, 2);
  g_assert_true (natter_profile_equal (g_ptr_array_index (made->participants, 0), people->a));
  g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (made->participants, 1))->display_name, ==,
                   "Bob");
  g_assert_null (made->last_message);
  g_assert_cmpint (made->unread_count, ==, 0);
  g_assert_nonnull (made->updated_at);
  g_assert_cmpint (natter_store_queries_find_direct (queries, people->b, people->a), ==,
                   made->conversation_id);
  found = natter_store_queries_get_or_create_direct (queries, people->b, people->a, &error);
  g_assert_no_error (error);
  g_assert_cmpint (found->conversation_id, ==, made->conversation_id);
  g_assert_null (natter_store_queries_get_or_create_direct (queries, people->a, nobody, &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);

  g_assert_true (natter_store_queries_is_participant (queries, made->conversation_id, people->b));
  g_assert_false (natter_store_queries_is_participant (queries, made->conversation_id, people->c));
  people->conversation_id = made->conversation_id;
}

static void
on_stored (NatterServerStore *store, const GError *error, gpointer user_data)
{
  guint *n_stored = user_data;

  g_assert_no_error (error);
  (*n_stored)++;
}

/* The history pages and the conversation list once Bob wrote three
 * messages: oldest first, "more" while older ones remain, unread counts
 * per viewer. */
static void
step_history (NatterStoreQueries *queries, gpointer data)
{
  People *people = data;
  g_autoptr (GError) error = NULL;
  gboolean has_more = FALSE;

  {
    g_autoptr (GPtrArray) page = natter_store_queries_list_messages (
      queries, people->conversation_id, 0, 2, &has_more, &error);
    NatterMessage *last;

    g_assert_no_error (error);
    g_assert_cmpuint (page->len, ==, 2);
    g_assert_true (has_more);
    g_assert_cmpint (((NatterMessage *) g_ptr_array_index (page, 0))->seq, ==, 2);
    last = g_ptr_array_index (page, 1);
    g_assert_cmpint (last->seq, ==, 3);
    g_assert_cmpstr (last->text, ==, "three");
    g_assert_cmpstr (last->client_msg_id, ==, "m3");
    g_assert_cmpstr (last->sender->display_name, ==, "Bob");
    g_assert_nonnull (last->sent_at);
    g_assert_null (last->attachments);
  }
  {
    g_autoptr (GPtrArray) page = natter_store_queries_list_messages (
      queries, people->conversation_id, 2, 50, &has_more, &error);

    g_assert_cmpuint (page->len, ==, 1);
    g_assert_false (has_more);
    g_assert_cmpstr (((NatterMessage *) g_ptr_array_index (page, 0))->text, ==, "one");
  }
  {
    g_autoptr (GPtrArray) mine =
      natter_store_queries_list_conversations (queries, people->a, &error);
    g_autoptr (GPtrArray) theirs =
      natter_store_queries_list_conversations (queries, people->b, &error);
    g_autoptr (GPtrArray) none =
      natter_store_queries_list_conversations (queries, people->c, &error);
    NatterConversation *conversation;

    g_assert_no_error (error);
    g_assert_cmpuint (mine->len, ==, 1);
    conversation = g_ptr_array_index (mine, 0);
    g_assert_cmpint (conversation->conversation_id, ==, people->conversation_id);
    g_assert_cmpint (conversation->unread_count, ==, 3);
    g_assert_cmpint (conversation->last_message->seq, ==, 3);
    g_assert_cmpuint (conversation->participants->len, ==, 2);
    g_assert_cmpint (((NatterConversation *) g_ptr_array_index (theirs, 0))->unread_count, ==, 0);
    g_assert_cmpuint (none->len, ==, 0);
  }
  {
    g_autoptr (GPtrArray) participants =
      natter_store_queries_list_participants (queries, people->conversation_id, &error);
    g_autoptr (GPtrArray) nobody = natter_store_queries_list_participants (queries, 999999, &error);

    g_assert_cmpuint (participants->len, ==, 2);
    g_assert_true (natter_profile_equal (g_ptr_array_index (participants, 1), people->b));
    g_assert_cmpuint (nobody->len, ==, 0);
  }
}

static void
test_conversations (Fixture *fixture, gconstpointer data)
{
  g_auto (People) people = { 0 };
  g_autoptr (GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  g_autoptr (GPtrArray) participants =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  const char *texts[] = { "one", "two", "three" };
  guint n_stored = 0;

  if (fixture->skipped)
    return;
  run (fixture, step_people, &people);
  run (fixture, step_direct, &people);

  /* Chat goes through the store's writes, as the hub's does. */
  g_ptr_array_add (participants, natter_profile_copy (people.a));
  g_ptr_array_add (participants, natter_profile_copy (people.b));
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
    g_autofree char *client_msg_id = g_strdup_printf ("m%u", i + 1);

    g_ptr_array_add (messages,
                     natter_store_chat_message_new (people.b, people.conversation_id, texts[i],
                                                    client_msg_id, participants));
  }
  natter_server_store_store_chat_messages (fixture->store, messages, on_stored, &n_stored);
  {
    gint64 deadline = g_get_monotonic_time () + WAIT_MS * 1000;

    while (n_stored == 0) {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  }
  run (fixture, step_history, &people);
}

/* Blocks: twice is once, either way counts, removed is gone. */
static void
step_blocks (NatterStoreQueries *queries, gpointer data)
{
  People *people = data;
  g_autoptr (GError) error = NULL;

  g_assert_true (natter_store_queries_add_block (queries, people->a, people->b, &error));
  g_assert_true (natter_store_queries_add_block (queries, people->a, people->b, &error));
  g_assert_no_error (error);
  g_assert_true (natter_store_queries_is_blocked_either (queries, people->b, people->a));
  g_assert_true (natter_store_queries_is_blocked_either (queries, people->a, people->b));
  g_assert_false (natter_store_queries_is_blocked_either (queries, people->a, people->c));
  {
    g_autoptr (GPtrArray) blocked = natter_store_queries_list_blocks (queries, people->a, &error);
    g_autoptr (GPtrArray) none = natter_store_queries_list_blocks (queries, people->b, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (blocked->len, ==, 1);
    g_assert_true (natter_profile_equal (g_ptr_array_index (blocked, 0), people->b));
    g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (blocked, 0))->display_name, ==, "Bob");
    g_assert_cmpuint (none->len, ==, 0);
  }
  g_assert_true (natter_store_queries_remove_block (queries, people->a, people->b, &error));
  g_assert_no_error (error);
  g_assert_false (natter_store_queries_is_blocked_either (queries, people->a, people->b));
  {
    g_autoptr (GPtrArray) blocked = natter_store_queries_list_blocks (queries, people->a, &error);

    g_assert_cmpuint (blocked->len, ==, 0);
  }
}

static void
test_blocks (Fixture *fixture, gconstpointer data)
{
  g_auto (People) people = { 0 };

  if (fixture->skipped)
    return;
  run (fixture, step_people, &people);
  run (fixture, step_blocks, &people);
}

/* Three calls of Alice's (one answered), one of Bob and Carol's. */
static void
add_calls (Fixture *fixture, People *people)
{
  const NatterProfile *callers[] = { people->a, people->b, people->a, people->b };
  const NatterProfile *callees[] = { people->b, people->a, people->c, people->c };
  const char *statuses[] = { "missed", "answered", "declined", "missed" };

  for (guint i = 0; i < G_N_ELEMENTS (callers); i++) {
#ifdef NATTER_HAVE_LIBPQ
    if (fixture->backend == BACKEND_POSTGRES) {
      g_autofree char *caller = g_strdup_printf ("%" G_GINT64_FORMAT, callers[i]->profile_id);
      g_autofree char *callee = g_strdup_printf ("%" G_GINT64_FORMAT, callees[i]->profile_id);
      const char *params[] = { caller, callee, statuses[i] };

      pg_run (fixture->conninfo,
              "INSERT INTO calls (caller_id, caller_type, callee_id, callee_type, call_type,"
              " status, started_at, answered_at, ended_at, duration_s)"
              " VALUES ($1, 'tutor', $2, 'tutor', 'video', $3, 1000,"
              " CASE WHEN $3 = 'answered' THEN 2000 END, 5000, CASE WHEN $3 = 'answered'"
              " THEN 3 ELSE 0 END)",
              3, params);
      continue;
    }
#endif
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (NatterCallLog) call =
        natter_server_db_create_call (fixture->db, callers[i], callees[i], "video", 0, &error);
      g_autoptr (NatterCallLog) ended = NULL;

      g_assert_no_error (error);
      ended =
        natter_server_db_set_call_status (fixture->db, call->call_log_id, statuses[i], &error);
      g_assert_no_error (error);
    }
  }
}

static void
step_calls (NatterStoreQueries *queries, gpointer data)
{
  People *people = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) calls = natter_store_queries_list_calls (queries, people->a, 2, &error);
  g_autoptr (GPtrArray) all = natter_store_queries_list_calls (queries, people->a, 10, &error);
  NatterCallLog *newest;
  NatterCallLog *answered;

  g_assert_no_error (error);
  g_assert_cmpuint (calls->len, ==, 2);
  g_assert_cmpuint (all->len, ==, 3);
  newest = g_ptr_array_index (calls, 0);
  g_assert_cmpstr (newest->status, ==, "declined");
  g_assert_cmpstr (newest->call_type, ==, "video");
  g_assert_true (natter_profile_equal (newest->callee, people->c));
  g_assert_cmpstr (newest->callee->display_name, ==, "Carol 100%");
  g_assert_cmpstr (newest->caller->display_name, ==, "Alice");
  g_assert_null (newest->answered_at);
  g_assert_nonnull (newest->started_at);
  g_assert_nonnull (newest->ended_at);
  answered = g_ptr_array_index (calls, 1);
  g_assert_cmpstr (answered->status, ==, "answered");
  g_assert_nonnull (answered->answered_at);
  g_assert_true (natter_profile_equal (answered->caller, people->b));
  g_assert_cmpint (answered->call_log_id, <, newest->call_log_id);
}

static void
test_calls (Fixture *fixture, gconstpointer data)
{
  g_auto (People) people = { 0 };

  if (fixture->skipped)
    return;
  run (fixture, step_people, &people);
  add_calls (fixture, &people);
  run (fixture, step_calls, &people);
}

/* The hub's operations: profiles, the call log from ringing to its end,
 * contacts made by an answered call, taking part, read positions, a
 * message looked up by its client id, attachment checks, token pruning. */
static void
step_hub (NatterStoreQueries *queries, gpointer data)
{
  People *people = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterProfile) found = NULL;
  g_autoptr (NatterCallLog) ringing = NULL;
  g_autoptr (NatterCallLog) answered = NULL;
  g_autoptr (NatterCallLog) ended = NULL;
  g_autoptr (NatterCallLog) stale = NULL;
  g_autoptr (NatterCallLog) failed = NULL;
  g_autoptr (NatterConversation) conversation = NULL;
  g_autoptr (NatterMessage) message = NULL;
  g_autoptr (NatterMessage) none = NULL;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GHashTable) pruned = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 missing = 999999;
  gint64 expired_token = 0;
  gint64 event_id = -1;

  g_assert_false (natter_store_queries_is_empty (queries));
  found = natter_store_queries_get_profile (queries, people->b->profile_id, "tutor", &error);
  g_assert_no_error (error);
  g_assert_true (natter_profile_equal (found, people->b));
  g_assert_cmpstr (found->display_name, ==, "Bob");
  g_assert_null (natter_store_queries_get_profile (queries, 999999, "tutor", &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* No contacts before an answered call; one after. */
  {
    g_autoptr (GPtrArray) contacts =
      natter_store_queries_list_contacts (queries, people->a, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (contacts->len, ==, 0);
  }
  ringing = natter_store_queries_create_call (queries, people->a, people->b, "audio", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ringing->status, ==, "ringing");
  g_assert_null (ringing->ended_at);
  g_assert_true (natter_profile_equal (ringing->callee, people->b));
  answered =
    natter_store_queries_set_call_status (queries, ringing->call_log_id, "answered", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (answered->status, ==, "answered");
  g_assert_nonnull (answered->answered_at);
  g_assert_null (answered->ended_at);
  {
    g_autoptr (GPtrArray) contacts =
      natter_store_queries_list_contacts (queries, people->a, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (contacts->len, ==, 1);
    g_assert_true (natter_profile_equal (g_ptr_array_index (contacts, 0), people->b));
  }
  ended = natter_store_queries_end_call (queries, ringing->call_log_id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ended->status, ==, "answered");
  g_assert_nonnull (ended->ended_at);
  g_assert_null (natter_store_queries_set_call_status (queries, missing, "missed", &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (natter_store_queries_get_call (queries, missing, &error));
  g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* A call left ringing fails at start-up; an ended one stays. */
  stale = natter_store_queries_create_call (queries, people->b, people->c, "video", 0, &error);
  g_assert_no_error (error);
  g_assert_true (natter_store_queries_fail_stale_calls (queries, &error));
  g_assert_no_error (error);
  failed = natter_store_queries_get_call (queries, stale->call_log_id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (failed->status, ==, "failed");
  g_clear_pointer (&failed, natter_call_log_free);
  failed = natter_store_queries_get_call (queries, ringing->call_log_id, &error);
  g_assert_cmpstr (failed->status, ==, "answered");

  /* Taking part and reading: nothing yet in a new conversation. */
  conversation = natter_store_queries_get_or_create_direct (queries, people->a, people->c, &error);
  g_assert_no_error (error);
  g_assert_false (
    natter_store_queries_took_part (queries, conversation->conversation_id, people->a));
  g_assert_cmpint (
    natter_store_queries_get_read_seq (queries, conversation->conversation_id, people->a), ==, 0);
  message = natter_store_queries_add_message (queries, conversation->conversation_id, people->a,
                                              "hello", &error);
  g_assert_no_error (error);
  g_assert_cmpint (message->seq, ==, 1);
  g_assert_cmpstr (message->text, ==, "hello");
  none = natter_store_queries_find_message_by_client_id (queries, people->a, "no-such-id",
                                                         &event_id, &error);
  g_assert_no_error (error);
  g_assert_null (none);
  g_assert_cmpint (event_id, ==, 0);

  /* Attachments that do not exist are refused for the error frame. */
  g_assert_true (natter_store_queries_check_attachments (queries, NULL, people->a,
                                                         conversation->conversation_id, &error));
  g_array_append_val (ids, missing);
  g_assert_false (natter_store_queries_check_attachments (queries, ids, people->a,
                                                          conversation->conversation_id, &error));
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* Expired tokens go, and are named. */
  g_assert_true (natter_store_queries_add_token (queries, people->user_a, "hub-expired", now - 5,
                                                 &expired_token, &error));
  g_assert_true (
    natter_store_queries_add_token (queries, people->user_a, "hub-fresh", now + 60, NULL, &error));
  g_assert_no_error (error);
  pruned = natter_store_queries_prune_tokens (queries, now, &error);
  g_assert_no_error (error);
  g_assert_true (g_hash_table_contains (pruned, &expired_token));
  g_assert_cmpuint (g_hash_table_size (pruned), ==, 1);
  g_assert_true (natter_store_queries_lookup_token (queries, "hub-fresh", now, NULL, NULL, &error));
  g_assert_no_error (error);
}

static void
test_hub (Fixture *fixture, gconstpointer data)
{
  g_auto (People) people = { 0 };

  if (fixture->skipped)
    return;
  run (fixture, step_people, &people);
  run (fixture, step_hub, &people);
}

/* Attachments: the uploader's until sent, then the conversation's; the
 * quota counts them; expiry takes only the unsent ones, naming the files
 * no row holds any more. */
#define SHA_SENT "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_UNSENT "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

typedef struct {
  People *people;
  gint64 user_b;
  gint64 user_c;
  gint64 sent_id;
  gint64 unsent_id;
} Files;

static NatterAttachment *
file_named (const char *name, const char *sha256, gint64 size)
{
  NatterAttachment *attachment = natter_attachment_new ();

  attachment->name = g_strdup (name);
  attachment->content_type = g_strdup ("text/plain");
  attachment->sha256 = g_strdup (sha256);
  attachment->size = size;

  return attachment;
}

static void
step_upload (NatterStoreQueries *queries, gpointer data)
{
  Files *files = data;
  People *people = files->people;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterAttachment) sent = file_named ("sent.txt", SHA_SENT, 100);
  g_autoptr (NatterAttachment) unsent = file_named ("unsent.txt", SHA_UNSENT, 30);
  g_autoptr (NatterAttachment) stored = NULL;
  g_autoptr (NatterAttachment) other = NULL;
  g_autoptr (NatterAttachment) seen = NULL;

  files->user_b = natter_store_queries_get_profile_owner (queries, people->b->profile_id, "tutor");
  files->user_c = natter_store_queries_get_profile_owner (queries, people->c->profile_id, "tutor");
  g_assert_cmpint (natter_store_queries_get_attachment_usage (queries, files->user_b), ==, 0);
  stored = natter_store_queries_add_attachment (queries, files->user_b, people->b,
                                                people->conversation_id, sent, &error);
  g_assert_no_error (error);
  g_assert_cmpint (stored->attachment_id, >, 0);
  g_assert_cmpstr (stored->name, ==, "sent.txt");
  other = natter_store_queries_add_attachment (queries, files->user_b, people->b,
                                               people->conversation_id, unsent, &error);
  g_assert_cmpint (other->attachment_id, >, stored->attachment_id);
  files->sent_id = stored->attachment_id;
  files->unsent_id = other->attachment_id;
  g_assert_cmpint (natter_store_queries_get_attachment_usage (queries, files->user_b), ==, 130);

  /* Unsent: only the uploader sees it. */
  g_assert_cmpint (natter_store_queries_get_attachment_for_user (queries, files->sent_id,
                                                                 files->user_b, &seen, &error),
                   ==, NATTER_ATTACHMENT_ACCESS_ALLOWED);
  g_assert_cmpstr (seen->sha256, ==, SHA_SENT);
  g_assert_cmpint (seen->size, ==, 100);
  g_assert_cmpint (natter_store_queries_get_attachment_for_user (queries, files->sent_id,
                                                                 people->user_a, NULL, &error),
                   ==, NATTER_ATTACHMENT_ACCESS_NONE);
  g_assert_cmpint (
    natter_store_queries_get_attachment_for_user (queries, 999999, files->user_b, NULL, &error), ==,
    NATTER_ATTACHMENT_ACCESS_NONE);
  g_assert_no_error (error);
}

static void
step_sent_files (NatterStoreQueries *queries, gpointer data)
{
  Files *files = data;
  People *people = files->people;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterAttachment) seen = NULL;
  g_autoptr (GPtrArray) unused = NULL;
  gboolean has_more = FALSE;

  g_assert_cmpint (natter_store_queries_get_attachment_for_user (queries, files->sent_id,
                                                                 people->user_a, &seen, &error),
                   ==, NATTER_ATTACHMENT_ACCESS_ALLOWED);
  g_assert_cmpint (natter_store_queries_get_attachment_for_user (queries, files->sent_id,
                                                                 files->user_c, NULL, &error),
                   ==, NATTER_ATTACHMENT_ACCESS_FORBIDDEN);
  {
    g_autoptr (GPtrArray) page = natter_store_queries_list_messages (
      queries, people->conversation_id, 0, 10, &has_more, &error);
    g_autoptr (GPtrArray) conversations =
      natter_store_queries_list_conversations (queries, people->a, &error);
    NatterMessage *message;
    NatterConversation *conversation;

    g_assert_no_error (error);
    g_assert_cmpuint (page->len, ==, 1);
    message = g_ptr_array_index (page, 0);
    g_assert_nonnull (message->attachments);
    g_assert_cmpuint (message->attachments->len, ==, 1);
    g_assert_cmpint (
      ((NatterAttachment *) g_ptr_array_index (message->attachments, 0))->attachment_id, ==,
      files->sent_id);
    conversation = g_ptr_array_index (conversations, 0);
    g_assert_cmpuint (conversation->last_message->attachments->len, ==, 1);
  }

  /* Expiry: the unsent one only; its file is no one's any more. */
  unused = natter_store_queries_expire_attachments (queries, G_MAXINT64, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (unused->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (unused, 0), ==, SHA_UNSENT);
  g_assert_cmpint (natter_store_queries_get_attachment_usage (queries, files->user_b), ==, 100);
  g_assert_cmpint (natter_store_queries_get_attachment_for_user (queries, files->unsent_id,
                                                                 files->user_b, NULL, &error),
                   ==, NATTER_ATTACHMENT_ACCESS_NONE);
}

static void
test_attachments (Fixture *fixture, gconstpointer data)
{
  g_auto (People) people = { 0 };
  Files files = { &people, 0, 0, 0, 0 };
  g_autoptr (GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  g_autoptr (GPtrArray) participants =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  NatterStoreChatMessage *message;
  guint n_stored = 0;
  gint64 deadline;

  if (fixture->skipped)
    return;
  run (fixture, step_people, &people);
  run (fixture, step_direct, &people);
  run (fixture, step_upload, &files);

  /* Sent with a message, through the store's writes. */
  g_ptr_array_add (participants, natter_profile_copy (people.a));
  g_ptr_array_add (participants, natter_profile_copy (people.b));
  message =
    natter_store_chat_message_new (people.b, people.conversation_id, "a file", "f1", participants);
  message->attachment_ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_array_append_val (message->attachment_ids, files.sent_id);
  g_ptr_array_add (messages, message);
  natter_server_store_store_chat_messages (fixture->store, messages, on_stored, &n_stored);
  deadline = g_get_monotonic_time () + WAIT_MS * 1000;
  while (n_stored == 0) {
    g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    g_main_context_iteration (NULL, TRUE);
  }
  run (fixture, step_sent_files, &files);
}

/* Queries answer in the order they were made. */
static void
step_append (NatterStoreQueries *queries, gpointer data)
{
  GArray *order = ((gpointer *) data)[0];
  guint index = GPOINTER_TO_UINT (((gpointer *) data)[1]);

  g_assert_cmpint (natter_store_queries_get_profile_owner (queries, 1, "tutor"), >=, 0);
  g_array_append_val (order, index);
}

static void
test_in_order (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GArray) order = g_array_new (FALSE, FALSE, sizeof (guint));
  GAsyncResult *results[20] = { NULL };
  StepRun runs[20];
  gpointer args[20][2];

  if (fixture->skipped)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (runs); i++) {
    args[i][0] = order;
    args[i][1] = GUINT_TO_POINTER (i);
    runs[i] = (StepRun){ step_append, args[i], NULL };
    natter_server_store_query (fixture->store, run_step, &runs[i], NULL, NULL, on_step_done,
                               &results[i]);
  }
  for (guint i = 0; i < G_N_ELEMENTS (runs); i++) {
    wait_for (&results[i]);
    /* Each answered before any later one. */
    for (guint j = i + 1; j < G_N_ELEMENTS (runs); j++)
      g_assert_true (results[j] == NULL || results[i] != NULL);
    g_assert_cmpuint (g_array_index (order, guint, i), ==, i);
  }
  for (guint i = 0; i < G_N_ELEMENTS (runs); i++)
    g_object_unref (results[i]);
}

int
main (int argc, char **argv)
{
  static const struct {
    const char *name;
    Backend backend;
  } backends[] = {
    { "sqlite", BACKEND_SQLITE },
    { "postgresql", BACKEND_POSTGRES },
  };
  static const struct {
    const char *name;
    void (*func) (Fixture *fixture, gconstpointer data);
  } cases[] = {
    { "accounts", test_accounts },
    { "profiles", test_profiles },
    { "conversations", test_conversations },
    { "blocks", test_blocks },
    { "calls", test_calls },
    { "hub", test_hub },
    { "attachments", test_attachments },
    { "in-order", test_in_order },
  };
  int status;

  g_test_init (&argc, &argv, NULL);
  main_thread = g_thread_self ();

  for (guint b = 0; b < G_N_ELEMENTS (backends); b++) {
    for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
      g_autofree char *path =
        g_strdup_printf ("/natter/server-store-queries/%s/%s", backends[b].name, cases[c].name);

      g_test_add (path, Fixture, GINT_TO_POINTER (backends[b].backend), fixture_set_up,
                  cases[c].func, fixture_tear_down);
    }
  }

  status = g_test_run ();
#ifdef NATTER_HAVE_LIBPQ
  g_clear_pointer (&postgres, natter_test_postgres_free);
#endif

  return status;
}
