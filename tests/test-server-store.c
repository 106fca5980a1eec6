/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-store"

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "natter-server-db.h"
#include "natter-server-sqlite-store.h"

#ifdef NATTER_HAVE_LIBPQ
#include <libpq-fe.h>

#include "natter-server-pg-store.h"
#include "natter-test-server.h"
#include "natter-test-services.h"
#endif

#define N_CALLS 20
#define PER_CALL 10
#define WAIT_MS 20000

/* Every case runs against each backend of the storage interface. */
typedef enum {
  BACKEND_SQLITE,
  BACKEND_SQLITE_MEMORY,
  BACKEND_POSTGRES,
} Backend;

typedef struct {
  Backend backend;
  gboolean skipped;
  NatterServerStore *store;
  NatterProfile *a;
  NatterProfile *b;
  GPtrArray *participants;
  gint64 conversation_id;

  /* SQLite */
  char *folder;
  char *path;
  NatterServerDb *db;
  /* A connection of its own: it sees only what is committed. */
  NatterServerDb *observer;

#ifdef NATTER_HAVE_LIBPQ
  /* PostgreSQL: a database per case; a blocking connection of the test's
   * own sets it up and observes what is committed. */
  char *database;
  char *conninfo;
  PGconn *pg;
#endif
} Fixture;

#ifdef NATTER_HAVE_LIBPQ
/* One cluster for the whole program: initdb takes seconds. */
static NatterTestPostgres *postgres;
static gboolean postgres_tried;
static guint n_databases;

static NatterTestPostgres *
get_postgres (void)
{
  if (!postgres_tried) {
    postgres_tried = TRUE;
    postgres = natter_test_postgres_new ();
  } else if (postgres == NULL) {
    g_test_skip ("PostgreSQL 15 is not installed (Debian: postgresql-15)");
  }

  return postgres;
}

static PGconn *
pg_connect (const char *conninfo)
{
  PGconn *conn = PQconnectdb (conninfo);

  if (PQstatus (conn) != CONNECTION_OK)
    g_error ("cannot connect to %s: %s", conninfo, PQerrorMessage (conn));
  /* The harness's server does not wait for the WAL: the set-up must
   * survive recovers-after-restart's crash. */
  PQclear (PQexec (conn, "SET synchronous_commit = on"));

  return conn;
}

/* Runs @sql with text parameters; the rows, or the test fails. */
static PGresult *
pg_exec (PGconn *conn, const char *sql, int n_params, const char *const *params)
{
  PGresult *result = PQexecParams (conn, sql, n_params, NULL, params, NULL, NULL, 0);
  ExecStatusType status = PQresultStatus (result);

  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    g_error ("%s: %s", sql, PQresultErrorMessage (result));

  return result;
}

static gint64
pg_exec_int64 (PGconn *conn, const char *sql, int n_params, const char *const *params)
{
  PGresult *result = pg_exec (conn, sql, n_params, params);
  gint64 value = 0;

  if (PQntuples (result) > 0 && !PQgetisnull (result, 0, 0))
    value = g_ascii_strtoll (PQgetvalue (result, 0, 0), NULL, 10);
  PQclear (result);

  return value;
}

static void
pg_exec_admin (const char *sql)
{
  PGconn *admin = pg_connect (natter_test_postgres_get_conninfo (postgres));

  PQclear (pg_exec (admin, sql, 0, NULL));
  PQfinish (admin);
}

static void
wait_store_idle (NatterServerStore *store)
{
  natter_server_store_flush (store);
}
#endif

static NatterProfile *
add_user (Fixture *fixture, const char *email, const char *type)
{
  g_autoptr (GError) error = NULL;

#ifdef NATTER_HAVE_LIBPQ
  if (fixture->backend == BACKEND_POSTGRES) {
    const char *user_params[] = { email };
    g_autofree char *user_id = NULL;
    gint64 profile_id;

    user_id = g_strdup_printf (
      "%" G_GINT64_FORMAT,
      pg_exec_int64 (fixture->pg,
                     "INSERT INTO users (email, password_hash, display_name, created_at)"
                     " VALUES ($1, 'not-a-hash', $1, 0) RETURNING user_id",
                     1, user_params));
    {
      const char *profile_params[] = { type, user_id };

      profile_id = pg_exec_int64 (
        fixture->pg,
        "INSERT INTO profiles (profile_type, user_id) VALUES ($1, $2) RETURNING profile_id", 2,
        profile_params);
    }
    return natter_profile_new (profile_id, type, email, NULL);
  }
#endif

  {
    const char *types[] = { type, NULL };
    g_autoptr (NatterUser) user = NULL;
    gint64 user_id = 0;

    g_assert_true (natter_server_db_create_user (fixture->db, email, "not-a-hash", email, types,
                                                 &user_id, &error));
    g_assert_no_error (error);
    user = natter_server_db_get_user (fixture->db, user_id, &error);
    g_assert_no_error (error);

    return natter_profile_copy (g_ptr_array_index (user->profiles, 0));
  }
}

#ifdef NATTER_HAVE_LIBPQ
static const char *const *
profile_params (const NatterProfile *profile, char **id_out)
{
  static const char *params[2];

  *id_out = g_strdup_printf ("%" G_GINT64_FORMAT, profile->profile_id);
  params[0] = *id_out;
  params[1] = profile->profile_type;

  return params;
}
#endif

/* The id of the message @sender stored under @client_msg_id, as another
 * connection sees it: 0 when it does not (yet). */
static gint64
observed_message_id (Fixture *fixture, const NatterProfile *sender, const char *client_msg_id)
{
#ifdef NATTER_HAVE_LIBPQ
  if (fixture->backend == BACKEND_POSTGRES) {
    g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, sender->profile_id);
    const char *params[] = { id, sender->profile_type, client_msg_id };

    return pg_exec_int64 (fixture->pg,
                          "SELECT message_id FROM messages WHERE sender_id = $1"
                          " AND sender_type = $2 AND client_msg_id = $3",
                          3, params);
  }
#endif
  {
    g_autoptr (NatterMessage) seen = natter_server_db_find_message_by_client_id (
      fixture->observer != NULL ? fixture->observer : fixture->db, sender, client_msg_id);

    return seen != NULL ? seen->message_id : 0;
  }
}

static gint64
observed_last_event_id (Fixture *fixture, const NatterProfile *profile)
{
#ifdef NATTER_HAVE_LIBPQ
  if (fixture->backend == BACKEND_POSTGRES) {
    g_autofree char *id = NULL;

    return pg_exec_int64 (fixture->pg,
                          "SELECT coalesce (max (event_id), 0) FROM events"
                          " WHERE profile_id = $1 AND profile_type = $2",
                          2, profile_params (profile, &id));
  }
#endif
  return natter_server_db_get_last_event_id (
    fixture->observer != NULL ? fixture->observer : fixture->db, profile);
}

/* The stored frames of @profile, oldest first. */
static GPtrArray *
observed_events (Fixture *fixture, const NatterProfile *profile)
{
#ifdef NATTER_HAVE_LIBPQ
  if (fixture->backend == BACKEND_POSTGRES) {
    g_autofree char *id = NULL;
    PGresult *result = pg_exec (fixture->pg,
                                "SELECT frame FROM events WHERE profile_id = $1"
                                " AND profile_type = $2 ORDER BY event_id",
                                2, profile_params (profile, &id));
    GPtrArray *frames = g_ptr_array_new_with_free_func (g_free);

    for (int row = 0; row < PQntuples (result); row++)
      g_ptr_array_add (frames, g_strdup (PQgetvalue (result, row, 0)));
    PQclear (result);
    return frames;
  }
#endif
  {
    gboolean truncated = TRUE;
    GPtrArray *frames = natter_server_db_list_events_after (
      fixture->observer != NULL ? fixture->observer : fixture->db, profile, 0, 10000, &truncated,
      NULL);

    g_assert_nonnull (frames);
    g_assert_false (truncated);
    return frames;
  }
}

static guint
observed_n_events (Fixture *fixture, const NatterProfile *profile)
{
  g_autoptr (GPtrArray) frames = observed_events (fixture, profile);

  return frames->len;
}

static gint64
observed_read_seq (Fixture *fixture, gint64 conversation_id, const NatterProfile *profile)
{
#ifdef NATTER_HAVE_LIBPQ
  if (fixture->backend == BACKEND_POSTGRES) {
    g_autofree char *conversation = g_strdup_printf ("%" G_GINT64_FORMAT, conversation_id);
    g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, profile->profile_id);
    const char *params[] = { conversation, id, profile->profile_type };

    return pg_exec_int64 (fixture->pg,
                          "SELECT last_read_seq FROM participants WHERE conversation_id = $1"
                          " AND profile_id = $2 AND profile_type = $3",
                          3, params);
  }
#endif
  return natter_server_db_get_read_seq (fixture->db, conversation_id, profile);
}

/* The direct conversation of @a and @b, 0 when there is none. */
static gint64
observed_direct (Fixture *fixture, const NatterProfile *a, const NatterProfile *b)
{
#ifdef NATTER_HAVE_LIBPQ
  if (fixture->backend == BACKEND_POSTGRES) {
    g_autofree char *a_id = g_strdup_printf ("%" G_GINT64_FORMAT, a->profile_id);
    g_autofree char *b_id = g_strdup_printf ("%" G_GINT64_FORMAT, b->profile_id);
    const char *params[] = { a_id, a->profile_type, b_id, b->profile_type };

    /* Both are its only participants. */
    return pg_exec_int64 (fixture->pg,
                          "SELECT c.conversation_id FROM conversations c WHERE direct_key IS"
                          " NOT NULL AND (SELECT count (*) FROM participants r WHERE"
                          " r.conversation_id = c.conversation_id AND ((r.profile_id = $1"
                          " AND r.profile_type = $2) OR (r.profile_id = $3"
                          " AND r.profile_type = $4))) = 2",
                          4, params);
  }
#endif
  return natter_server_db_find_direct (fixture->db, a, b);
}

static gint64
create_direct (Fixture *fixture, const NatterProfile *a, const NatterProfile *b)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterConversation) conversation = NULL;

#ifdef NATTER_HAVE_LIBPQ
  if (fixture->backend == BACKEND_POSTGRES) {
    g_autofree char *key =
      g_strdup_printf ("%" G_GINT64_FORMAT ":%s|%" G_GINT64_FORMAT ":%s", a->profile_id,
                       a->profile_type, b->profile_id, b->profile_type);
    const char *key_params[] = { key };
    g_autofree char *conversation_id = g_strdup_printf (
      "%" G_GINT64_FORMAT,
      pg_exec_int64 (fixture->pg,
                     "INSERT INTO conversations (direct_key, created_at, updated_at)"
                     " VALUES ($1, 0, 0) RETURNING conversation_id",
                     1, key_params));
    const NatterProfile *both[] = { a, b };

    for (guint i = 0; i < G_N_ELEMENTS (both); i++) {
      g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, both[i]->profile_id);
      const char *params[] = { conversation_id, id, both[i]->profile_type };

      PQclear (pg_exec (fixture->pg,
                        "INSERT INTO participants (conversation_id, profile_id, profile_type)"
                        " VALUES ($1, $2, $3)",
                        3, params));
    }
    return g_ascii_strtoll (conversation_id, NULL, 10);
  }
#endif

  conversation = natter_server_db_get_or_create_direct (fixture->db, a, b, &error);
  g_assert_no_error (error);

  return conversation->conversation_id;
}

static void
close_store (Fixture *fixture, NatterServerStore *store)
{
#ifdef NATTER_HAVE_LIBPQ
  if (fixture->backend == BACKEND_POSTGRES) {
    natter_server_pg_store_close (NATTER_SERVER_PG_STORE (store));
    return;
  }
#endif
  natter_server_sqlite_store_close (NATTER_SERVER_SQLITE_STORE (store));
}

#ifdef NATTER_HAVE_LIBPQ
/* A store on the case's database, its schema migrated. */
static NatterServerStore *
new_pg_store (Fixture *fixture)
{
  NatterServerPgStore *store = natter_server_pg_store_new (fixture->conninfo);

  wait_store_idle (NATTER_SERVER_STORE (store));
  g_assert_cmpuint (natter_server_pg_store_get_schema_version (store), ==, 3);

  return NATTER_SERVER_STORE (store);
}
#endif

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fixture->backend = GPOINTER_TO_INT (data);

  if (fixture->backend == BACKEND_POSTGRES) {
#ifdef NATTER_HAVE_LIBPQ
    g_autofree char *create = NULL;

    if (get_postgres () == NULL) {
      fixture->skipped = TRUE;
      return;
    }
    fixture->database = g_strdup_printf ("natter_store_%u", ++n_databases);
    create = g_strdup_printf ("CREATE DATABASE %s", fixture->database);
    pg_exec_admin (create);
    fixture->conninfo =
      g_strdup_printf ("host=127.0.0.1 port=%u user=postgres dbname=%s",
                       natter_test_postgres_get_port (postgres), fixture->database);
    fixture->store = new_pg_store (fixture);
    fixture->pg = pg_connect (fixture->conninfo);
#else
    g_test_skip ("built without libpq");
    fixture->skipped = TRUE;
    return;
#endif
  } else {
    gboolean in_memory = fixture->backend == BACKEND_SQLITE_MEMORY;

    fixture->folder = g_dir_make_tmp ("natter-test-server-store-XXXXXX", &error);
    g_assert_no_error (error);
    fixture->path = g_build_filename (fixture->folder, "natter.db", NULL);
    fixture->db = natter_server_db_open (in_memory ? ":memory:" : fixture->path, &error);
    g_assert_no_error (error);
  }

  fixture->a = add_user (fixture, "a@test.invalid", "tutor");
  fixture->b = add_user (fixture, "b@test.invalid", "student");
  fixture->conversation_id = create_direct (fixture, fixture->a, fixture->b);
  fixture->participants = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  g_ptr_array_add (fixture->participants, natter_profile_copy (fixture->a));
  g_ptr_array_add (fixture->participants, natter_profile_copy (fixture->b));

  if (fixture->backend != BACKEND_POSTGRES) {
    fixture->store = NATTER_SERVER_STORE (natter_server_sqlite_store_new (fixture->db, &error));
    g_assert_no_error (error);
    if (fixture->backend == BACKEND_SQLITE) {
      fixture->observer = natter_server_db_open (fixture->path, &error);
      g_assert_no_error (error);
    }
  }
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  const char *suffixes[] = { "", "-wal", "-shm" };

  if (fixture->store != NULL) {
    close_store (fixture, fixture->store);
    g_assert_finalize_object (g_steal_pointer (&fixture->store));
  }
  if (fixture->observer != NULL)
    g_assert_finalize_object (g_steal_pointer (&fixture->observer));
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
  if (fixture->pg != NULL) {
    g_autofree char *drop = g_strdup_printf ("DROP DATABASE %s WITH (FORCE)", fixture->database);

    g_clear_pointer (&fixture->pg, PQfinish);
    pg_exec_admin (drop);
  }
  g_clear_pointer (&fixture->database, g_free);
  g_clear_pointer (&fixture->conninfo, g_free);
#endif
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

    g_assert_nonnull (request->message);
    g_assert_cmpint (observed_message_id (call->fixture, request->sender, request->client_msg_id),
                     ==, request->message->message_id);
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
  if (fixture->skipped)
    return;

  ChatCall calls[N_CALLS + 1];
  guint n_done = 0;
  g_autoptr (GPtrArray) events = NULL;
  NatterStoreChatMessage *first;
  NatterStoreChatMessage *retry;
  gint64 last_sender_event_id = 0;

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
      /* Both participants' copies, serialized once: each with its own id,
       * the same for both here (one event each per message). */
      for (guint p = 0; p < 2; p++) {
        const char *text = g_ptr_array_index (request->event_texts, p);
        g_autofree char *id = g_strdup_printf ("\"event_id\":%u", c * PER_CALL + i + 1);
        const char *at = strstr (text, id);

        g_assert_nonnull (at);
        g_assert_false (g_ascii_isdigit (at[strlen (id)]));
        g_assert_null (strstr (text, "9223372036854775807"));
        if (request->message_json != NULL)
          g_assert_nonnull (strstr (text, request->message_json));
      }
    }
  }
  g_assert_true (((NatterStoreChatMessage *) g_ptr_array_index (calls[0].requests, 0))->took_part);

  first = g_ptr_array_index (calls[0].requests, 0);
  retry = g_ptr_array_index (calls[N_CALLS].requests, 0);
  g_assert_true (retry->duplicate);
  g_assert_null (retry->event_texts);
  g_assert_cmpint (retry->message->message_id, ==, first->message->message_id);
  g_assert_cmpint (retry->sender_event_id, ==, first->sender_event_id);

  g_assert_cmpint (observed_last_event_id (fixture, fixture->b), ==, N_CALLS * PER_CALL);
  events = observed_events (fixture, fixture->b);
  g_assert_cmpuint (events->len, ==, N_CALLS * PER_CALL);
  /* The main connection reads the writer's ids too. */
  if (fixture->db != NULL)
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

typedef struct {
  guint n_done;
  GError *error;
} ErrorCall;

static void
on_error_kept (NatterServerStore *store, const GError *error, gpointer user_data)
{
  ErrorCall *call = user_data;

  g_assert_nonnull (error);
  if (call->error == NULL)
    call->error = g_error_copy (error);
  call->n_done++;
}

/* A read position moves forward only, and only a move makes receipts. */
static void
test_mark_read_forward_only (Fixture *fixture, gconstpointer data)
{
  if (fixture->skipped)
    return;

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
  g_assert_cmpint (observed_read_seq (fixture, fixture->conversation_id, fixture->b), ==, 2);
}

/* An event that replaces one still on its way leaves one in the history:
 * the second request finds the first one's id on the writer. In memory
 * (the fuzzer's database) the same runs on the main context, never inside
 * the call. */
static void
test_event_replaces_pending_one (Fixture *fixture, gconstpointer data)
{
  if (fixture->skipped)
    return;

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
  events = observed_events (fixture, fixture->b);
  g_assert_cmpuint (events->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (events, 0), ==, second->text);
}

/* Two messages to a profile without a conversation, both queued before
 * either is stored: the first creates it, the second finds it. */
static void
test_creates_direct_conversation_once (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterProfile) c = NULL;
  g_autoptr (GPtrArray) participants =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  g_autoptr (GPtrArray) first =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  g_autoptr (GPtrArray) second =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  NatterStoreChatMessage *one;
  NatterStoreChatMessage *two;
  guint n_done = 0;

  if (fixture->skipped)
    return;
  c = add_user (fixture, "c@test.invalid", "parent");
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
  g_assert_cmpint (observed_direct (fixture, fixture->a, c), ==, one->conversation_id);
}

/* Closing stores what is queued and runs its callbacks first. */
static void
test_close_flushes (Fixture *fixture, gconstpointer data)
{
  if (fixture->skipped)
    return;

  g_autoptr (GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  guint n_done = 0;

  g_ptr_array_add (messages, chat_request (fixture, "close-1"));
  natter_server_store_store_chat_messages (NATTER_SERVER_STORE (fixture->store), messages,
                                           on_counted, &n_done);
  close_store (fixture, fixture->store);
  g_assert_cmpuint (n_done, ==, 1);
  g_assert_nonnull (((NatterStoreChatMessage *) g_ptr_array_index (messages, 0))->message);
}

/* A turn that fails fails every request of it, with the error the hub
 * reports (NOT_FOUND for a conversation that is gone), stores none of them,
 * and the next request is stored. */
static void
test_failed_turn_stores_nothing (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) failing =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  g_autoptr (GPtrArray) after =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  NatterStoreChatMessage *gone;
  ErrorCall failed = { 0 };
  guint n_done = 0;

  if (fixture->skipped)
    return;

  g_ptr_array_add (failing, chat_request (fixture, "f-1"));
  gone = natter_store_chat_message_new (fixture->a, 999999, "gone", "f-2", fixture->participants);
  g_ptr_array_add (failing, gone);
  natter_server_store_store_chat_messages (fixture->store, failing, on_error_kept, &failed);
  iterate_until (&failed.n_done, 1);
  g_assert_error (failed.error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  g_assert_cmpint (observed_message_id (fixture, fixture->a, "f-1"), ==, 0);
  g_assert_cmpuint (observed_n_events (fixture, fixture->b), ==, 0);

  g_ptr_array_add (after, chat_request (fixture, "f-1"));
  natter_server_store_store_chat_messages (fixture->store, after, on_counted, &n_done);
  iterate_until (&n_done, 1);
  g_assert_false (((NatterStoreChatMessage *) g_ptr_array_index (after, 0))->duplicate);
  g_assert_cmpuint (observed_n_events (fixture, fixture->b), ==, 1);
  g_clear_error (&failed.error);
}

static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

/* The result of a read, waited for with a deadline. */
static GAsyncResult *
wait_read (GAsyncResult **result)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * 1000;

  while (*result == NULL) {
    g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    g_main_context_iteration (NULL, TRUE);
  }

  return *result;
}

/* A token of @profile's user, expiring at @expires_unix; revoked if asked. */
static void
add_token (Fixture *fixture,
           const NatterProfile *profile,
           const char *hash,
           gint64 expires_unix,
           gboolean revoked,
           gint64 *out_user_id)
{
#ifdef NATTER_HAVE_LIBPQ
  if (fixture->backend == BACKEND_POSTGRES) {
    g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, profile->profile_id);
    const char *owner_params[] = { id, profile->profile_type };
    g_autofree char *user_id = NULL;
    g_autofree char *expires = g_strdup_printf ("%" G_GINT64_FORMAT, expires_unix);

    *out_user_id = pg_exec_int64 (fixture->pg,
                                  "SELECT user_id FROM profiles WHERE profile_id = $1"
                                  " AND profile_type = $2",
                                  2, owner_params);
    user_id = g_strdup_printf ("%" G_GINT64_FORMAT, *out_user_id);
    {
      const char *params[] = { user_id, hash, expires, revoked ? "1" : NULL };

      PQclear (pg_exec (fixture->pg,
                        "INSERT INTO tokens (user_id, token_hash, created_at, expires_at,"
                        " revoked_at) VALUES ($1, $2, 0, $3, $4)",
                        4, params));
    }
    return;
  }
#endif
  {
    g_autoptr (GError) error = NULL;
    gint64 token_id = 0;

    *out_user_id =
      natter_server_db_get_profile_owner (fixture->db, profile->profile_id, profile->profile_type);
    g_assert_true (natter_server_db_add_token (fixture->db, *out_user_id, hash, expires_unix,
                                               &token_id, &error));
    g_assert_no_error (error);
    if (revoked)
      g_assert_true (natter_server_db_revoke_token (fixture->db, token_id, NULL));
  }
}

static NatterStoreAuth *
authenticate (Fixture *fixture, const char *hash, const NatterProfile *profile, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  natter_server_store_authenticate (fixture->store, hash, g_get_real_time () / G_USEC_PER_SEC,
                                    profile, on_read, &result);
  /* Never inside the call. */
  g_assert_null (result);

  return natter_server_store_authenticate_finish (fixture->store, wait_read (&result), error);
}

/* The upgrade's read: a valid token with its user's profile, with another
 * user's profile ("not yours"), and tokens that are not valid. */
static void
test_read_authenticate (Fixture *fixture, gconstpointer data)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 user_id = 0;
  gint64 other_user_id = 0;
  const char *refused[] = { "expired", "revoked", "unknown" };

  if (fixture->skipped)
    return;

  add_token (fixture, fixture->a, "valid", now + 3600, FALSE, &user_id);
  add_token (fixture, fixture->a, "expired", now - 1, FALSE, &other_user_id);
  add_token (fixture, fixture->a, "revoked", now + 3600, TRUE, &other_user_id);

  {
    g_autoptr (GError) error = NULL;
    g_autoptr (NatterStoreAuth) auth = authenticate (fixture, "valid", fixture->a, &error);

    g_assert_no_error (error);
    g_assert_cmpint (auth->user_id, ==, user_id);
    g_assert_cmpint (auth->token_id, >, 0);
    g_assert_nonnull (auth->profile);
    g_assert_true (natter_profile_equal (auth->profile, fixture->a));
    g_assert_cmpstr (auth->profile->display_name, ==, "a@test.invalid");
    g_assert_null (auth->profile->avatar_url);
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (NatterStoreAuth) auth = authenticate (fixture, "valid", fixture->b, &error);

    g_assert_no_error (error);
    g_assert_cmpint (auth->user_id, ==, user_id);
    g_assert_null (auth->profile);
  }
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (NatterStoreAuth) auth = authenticate (fixture, refused[i], fixture->a, &error);

    g_assert_null (auth);
    g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  }
}

/* A chat route: the participants in the order they joined, full; none for
 * a conversation that does not exist. */
static void
test_read_participants (Fixture *fixture, gconstpointer data)
{
  const gint64 conversations[] = { 0, 999999 };

  if (fixture->skipped)
    return;

  for (guint i = 0; i < G_N_ELEMENTS (conversations); i++) {
    g_autoptr (GAsyncResult) result = NULL;
    g_autoptr (GError) error = NULL;
    g_autoptr (GPtrArray) participants = NULL;

    natter_server_store_list_participants (
      fixture->store, i == 0 ? fixture->conversation_id : conversations[i], on_read, &result);
    participants =
      natter_server_store_list_participants_finish (fixture->store, wait_read (&result), &error);
    g_assert_no_error (error);
    if (i > 0) {
      g_assert_cmpuint (participants->len, ==, 0);
      continue;
    }
    g_assert_cmpuint (participants->len, ==, 2);
    g_assert_true (natter_profile_equal (g_ptr_array_index (participants, 0), fixture->a));
    g_assert_true (natter_profile_equal (g_ptr_array_index (participants, 1), fixture->b));
    g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (participants, 1))->display_name, ==,
                     "b@test.invalid");
  }
}

static NatterStoreDirect *
resolve_direct (Fixture *fixture, const NatterProfile *to, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  natter_server_store_resolve_direct (fixture->store, fixture->a, to, on_read, &result);
  return natter_server_store_resolve_direct_finish (fixture->store, wait_read (&result), error);
}

static void
add_block (Fixture *fixture, const NatterProfile *blocker, const NatterProfile *blocked)
{
#ifdef NATTER_HAVE_LIBPQ
  if (fixture->backend == BACKEND_POSTGRES) {
    g_autofree char *blocker_id = g_strdup_printf ("%" G_GINT64_FORMAT, blocker->profile_id);
    g_autofree char *blocked_id = g_strdup_printf ("%" G_GINT64_FORMAT, blocked->profile_id);
    const char *params[] = { blocker_id, blocker->profile_type, blocked_id, blocked->profile_type };

    PQclear (pg_exec (fixture->pg,
                      "INSERT INTO blocks (blocker_id, blocker_type, blocked_id, blocked_type,"
                      " created_at) VALUES ($1, $2, $3, $4, 0)",
                      4, params));
    return;
  }
#endif
  g_assert_true (natter_server_db_add_block (fixture->db, blocker, blocked, NULL));
}

/* A chat_message to a profile: its direct conversation when there is one,
 * else the profile (full) to create it with; NOT_FOUND for no such
 * profile; refused once either blocked the other. */
static void
test_read_resolve_direct (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterProfile) c = NULL;
  g_autoptr (NatterProfile) nobody = natter_profile_new (999999, "tutor", NULL, NULL);

  if (fixture->skipped)
    return;

  c = add_user (fixture, "c@test.invalid", "parent");
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (NatterStoreDirect) existing = resolve_direct (fixture, fixture->b, &error);

    g_assert_no_error (error);
    g_assert_false (existing->blocked);
    g_assert_cmpint (existing->conversation_id, ==, fixture->conversation_id);
    g_assert_null (existing->to);
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (NatterStoreDirect) first = resolve_direct (fixture, c, &error);

    g_assert_no_error (error);
    g_assert_false (first->blocked);
    g_assert_cmpint (first->conversation_id, ==, 0);
    g_assert_nonnull (first->to);
    g_assert_true (natter_profile_equal (first->to, c));
    g_assert_cmpstr (first->to->display_name, ==, "c@test.invalid");
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (NatterStoreDirect) missing = resolve_direct (fixture, nobody, &error);

    g_assert_null (missing);
    g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND);
  }

  add_block (fixture, fixture->b, fixture->a);
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (NatterStoreDirect) blocked = resolve_direct (fixture, fixture->b, &error);

    g_assert_no_error (error);
    g_assert_true (blocked->blocked);
    g_assert_null (blocked->to);
  }
}

static NatterStoreReplay *
replay (Fixture *fixture, gint64 after_event_id, guint limit)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  NatterStoreReplay *answer;

  natter_server_store_replay (fixture->store, fixture->b, after_event_id, limit, on_read, &result);
  answer = natter_server_store_replay_finish (fixture->store, wait_read (&result), &error);
  g_assert_no_error (error);

  return answer;
}

/* Replay after N: the stored frames after it, oldest first; the newest
 * ones when more than the limit follow; hello's last id and epoch. */
static void
test_read_replay (Fixture *fixture, gconstpointer data)
{
  NatterStoreEvent *events[5];
  guint n_done = 0;

  if (fixture->skipped)
    return;

  {
    g_autoptr (NatterStoreReplay) empty = replay (fixture, 0, 10);

    g_assert_cmpuint (empty->events->len, ==, 0);
    g_assert_false (empty->truncated);
    g_assert_cmpint (empty->last_event_id, ==, 0);
  }

  for (guint i = 0; i < G_N_ELEMENTS (events); i++) {
    events[i] = natter_store_event_new (fixture->b, natter_frame_new (NATTER_FRAME_MISSED_CALL));
    natter_server_store_add_event (fixture->store, events[i], on_counted, &n_done);
  }
  iterate_until (&n_done, G_N_ELEMENTS (events));

  {
    g_autoptr (NatterStoreReplay) after_two = replay (fixture, 2, 10);
    g_autoptr (NatterStoreReplay) newest = replay (fixture, 0, 2);
    g_autoptr (NatterStoreReplay) hello = replay (fixture, 5, 0);

    g_assert_cmpuint (after_two->events->len, ==, 3);
    g_assert_false (after_two->truncated);
    g_assert_cmpint (after_two->last_event_id, ==, 5);
    for (guint i = 0; i < 3; i++)
      g_assert_cmpstr (g_ptr_array_index (after_two->events, i), ==, events[i + 2]->text);

    g_assert_cmpuint (newest->events->len, ==, 2);
    g_assert_true (newest->truncated);
    g_assert_cmpstr (g_ptr_array_index (newest->events, 0), ==, events[3]->text);
    g_assert_cmpstr (g_ptr_array_index (newest->events, 1), ==, events[4]->text);

    g_assert_cmpuint (hello->events->len, ==, 0);
    g_assert_false (hello->truncated);
    g_assert_cmpint (hello->last_event_id, ==, 5);
    g_assert_cmpuint (strlen (hello->epoch), ==, 32);
    g_assert_cmpstr (hello->epoch, ==, newest->epoch);
  }

  for (guint i = 0; i < G_N_ELEMENTS (events); i++)
    natter_store_event_unref (events[i]);
}

#ifdef NATTER_HAVE_LIBPQ
#define N_NODES 3
#define N_PROFILES 6
/* Per node and profile. */
#define NODE_EVENTS 12
#define NODE_JOBS (N_PROFILES * NODE_EVENTS)

/* What one "node" saw: the ids its callbacks got, per profile. */
typedef struct {
  guint n_done;
  GArray *ids[N_PROFILES];
} NodeLog;

typedef struct {
  NodeLog *log;
  guint profile;
  NatterStoreEvent *event;
} NodeEvent;

static void
on_node_event (NatterServerStore *store, const GError *error, gpointer user_data)
{
  NodeEvent *call = user_data;

  g_assert_no_error (error);
  g_array_append_val (call->log->ids[call->profile], call->event->event_id);
  call->log->n_done++;
}

/* No reader ever sees a gap: ids commit in id order. */
static void
assert_no_visible_gap (Fixture *fixture, NatterProfile **profiles)
{
  for (guint p = 0; p < N_PROFILES; p++) {
    g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, profiles[p]->profile_id);
    const char *params[] = { id, profiles[p]->profile_type };
    PGresult *result = pg_exec (fixture->pg,
                                "SELECT count (*), coalesce (max (event_id), 0) FROM events"
                                " WHERE profile_id = $1 AND profile_type = $2",
                                2, params);

    g_assert_cmpstr (PQgetvalue (result, 0, 0), ==, PQgetvalue (result, 0, 1));
    PQclear (result);
  }
}

static guint
nodes_done (NodeLog *logs)
{
  guint n_done = 0;

  for (guint n = 0; n < N_NODES; n++)
    n_done += logs[n].n_done;

  return n_done;
}

/* Three stores on one database, as three nodes, each storing events for
 * the same six profiles in its own shuffled order, a few requests at a
 * time, so that their turns lock overlapping sets of counters at once and
 * turns queue up behind each other. No deadlock (PostgreSQL would fail a
 * turn with 40P01), every profile's ids are 1..3N without a gap or a
 * repeat, each node's callbacks see its ids rise, and a reader polling all
 * along never sees a later id committed before an earlier one. */
static void
test_nodes_gap_free (Fixture *fixture, gconstpointer data)
{
  NatterServerStore *nodes[N_NODES];
  NodeLog logs[N_NODES];
  NodeEvent calls[N_NODES][NODE_JOBS];
  NatterProfile *profiles[N_PROFILES];
  guint polls = 0;
  guint max_turn_jobs = 0;
  gint64 deadline;

  if (fixture->skipped)
    return;

  profiles[0] = natter_profile_copy (fixture->a);
  profiles[1] = natter_profile_copy (fixture->b);
  profiles[2] = add_user (fixture, "c@test.invalid", "parent");
  for (guint p = 3; p < N_PROFILES; p++) {
    g_autofree char *email = g_strdup_printf ("%u@test.invalid", p);

    profiles[p] = add_user (fixture, email, "tutor");
  }
  nodes[0] = fixture->store;
  for (guint n = 1; n < N_NODES; n++)
    nodes[n] = new_pg_store (fixture);

  for (guint n = 0; n < N_NODES; n++) {
    logs[n].n_done = 0;
    for (guint p = 0; p < N_PROFILES; p++)
      logs[n].ids[p] = g_array_new (FALSE, FALSE, sizeof (gint64));
    for (guint i = 0; i < NODE_JOBS; i++)
      calls[n][i].profile = i % N_PROFILES;
    /* Fisher-Yates: each node its own order of the same events. */
    for (guint i = NODE_JOBS - 1; i > 0; i--) {
      guint j = (guint) g_test_rand_int_range (0, (gint32) i + 1);
      guint swap = calls[n][i].profile;

      calls[n][i].profile = calls[n][j].profile;
      calls[n][j].profile = swap;
    }
    for (guint i = 0; i < NODE_JOBS; i++) {
      calls[n][i].log = &logs[n];
      calls[n][i].event = natter_store_event_new (profiles[calls[n][i].profile],
                                                  natter_frame_new (NATTER_FRAME_MISSED_CALL));
    }
  }

  deadline = g_get_monotonic_time () + WAIT_MS * 1000;
  for (guint i = 0; i < NODE_JOBS || nodes_done (logs) < N_NODES * NODE_JOBS;) {
    /* Three requests per node, then whatever the sockets have. */
    for (guint k = 0; k < 3 && i < NODE_JOBS; k++, i++) {
      for (guint n = 0; n < N_NODES; n++)
        natter_server_store_add_event (nodes[n], calls[n][i].event, on_node_event, &calls[n][i]);
    }
    g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    g_main_context_iteration (NULL, i >= NODE_JOBS);
    assert_no_visible_gap (fixture, profiles);
    polls++;
  }
  g_assert_cmpuint (polls, >, 1);

  for (guint p = 0; p < N_PROFILES; p++) {
    g_autoptr (GHashTable) seen = g_hash_table_new (g_int64_hash, g_int64_equal);

    for (guint n = 0; n < N_NODES; n++) {
      GArray *ids = logs[n].ids[p];

      g_assert_cmpuint (ids->len, ==, NODE_EVENTS);
      for (guint i = 0; i < ids->len; i++) {
        gint64 *id = &g_array_index (ids, gint64, i);

        if (i > 0)
          g_assert_cmpint (*id, >, g_array_index (ids, gint64, i - 1));
        g_assert_cmpint (*id, >=, 1);
        g_assert_cmpint (*id, <=, N_NODES * NODE_EVENTS);
        g_assert_false (g_hash_table_contains (seen, id));
        g_hash_table_add (seen, id);
      }
    }
    g_assert_cmpuint (g_hash_table_size (seen), ==, N_NODES * NODE_EVENTS);
    g_assert_cmpint (observed_last_event_id (fixture, profiles[p]), ==, N_NODES * NODE_EVENTS);
  }
  assert_no_visible_gap (fixture, profiles);

  for (guint n = 0; n < N_NODES; n++) {
    max_turn_jobs = MAX (
      max_turn_jobs, natter_server_pg_store_get_max_turn_jobs (NATTER_SERVER_PG_STORE (nodes[n])));
    for (guint p = 0; p < N_PROFILES; p++)
      g_array_unref (logs[n].ids[p]);
    for (guint i = 0; i < NODE_JOBS; i++)
      natter_store_event_unref (calls[n][i].event);
  }
  /* Group commit: some turn carried several requests. */
  g_assert_cmpuint (max_turn_jobs, >, 1);
  for (guint n = 1; n < N_NODES; n++) {
    close_store (fixture, nodes[n]);
    g_assert_finalize_object (nodes[n]);
  }
  for (guint p = 0; p < N_PROFILES; p++)
    natter_profile_free (profiles[p]);
}

/* The same (sender, client_msg_id) sent to two nodes at once, as a client
 * that retries on another node: one stores it, the other answers the same
 * ack as a duplicate, and the recipient has one event. */
static void
test_two_nodes_same_client_msg_id (Fixture *fixture, gconstpointer data)
{
  NatterServerStore *other;
  g_autoptr (GPtrArray) first =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  g_autoptr (GPtrArray) second =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  NatterStoreChatMessage *one;
  NatterStoreChatMessage *two;
  guint n_done = 0;

  if (fixture->skipped)
    return;

  other = new_pg_store (fixture);
  for (guint round = 0; round < 5; round++) {
    g_autofree char *id = g_strdup_printf ("twice-%u", round);
    NatterStoreChatMessage *stored;
    NatterStoreChatMessage *duplicate;

    one = chat_request (fixture, id);
    two = chat_request (fixture, id);
    g_ptr_array_add (first, one);
    g_ptr_array_add (second, two);
    {
      g_autoptr (GPtrArray) batch_one = g_ptr_array_new ();
      g_autoptr (GPtrArray) batch_two = g_ptr_array_new ();

      g_ptr_array_add (batch_one, one);
      g_ptr_array_add (batch_two, two);
      natter_server_store_store_chat_messages (fixture->store, batch_one, on_counted, &n_done);
      natter_server_store_store_chat_messages (other, batch_two, on_counted, &n_done);
      iterate_until (&n_done, 2 * (round + 1));
    }

    g_assert_true (one->duplicate != two->duplicate);
    stored = one->duplicate ? two : one;
    duplicate = one->duplicate ? one : two;
    g_assert_cmpint (duplicate->message->message_id, ==, stored->message->message_id);
    g_assert_cmpint (duplicate->message->seq, ==, stored->message->seq);
    g_assert_cmpint (duplicate->sender_event_id, ==, stored->sender_event_id);
    g_assert_null (duplicate->event_texts);
    g_assert_cmpint (observed_last_event_id (fixture, fixture->b), ==, round + 1);
  }

  close_store (fixture, other);
  g_assert_finalize_object (other);
}

/* Another store on a migrated database leaves it as it is; a database
 * from a newer server is refused, and requests fail rather than write. */
static void
test_migrations (Fixture *fixture, gconstpointer data)
{
  NatterServerStore *again;
  g_autoptr (GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_chat_message_free);
  ErrorCall failed = { 0 };

  if (fixture->skipped)
    return;

  again = new_pg_store (fixture);
  g_assert_cmpint (pg_exec_int64 (fixture->pg, "SELECT count (*) FROM schema_version", 0, NULL), ==,
                   1);
  close_store (fixture, again);
  g_assert_finalize_object (again);

  PQclear (pg_exec (fixture->pg, "UPDATE schema_version SET version = 99", 0, NULL));
  again = NATTER_SERVER_STORE (natter_server_pg_store_new (fixture->conninfo));
  g_ptr_array_add (messages, chat_request (fixture, "newer"));
  g_test_expect_message ("natter-server-store", G_LOG_LEVEL_WARNING, "*newer than this server*");
  natter_server_store_store_chat_messages (again, messages, on_error_kept, &failed);
  iterate_until (&failed.n_done, 1);
  g_test_assert_expected_messages ();
  g_assert_error (failed.error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED);
  g_assert_nonnull (strstr (failed.error->message, "newer than this server"));
  g_assert_cmpuint (natter_server_pg_store_get_schema_version (NATTER_SERVER_PG_STORE (again)), ==,
                    0);
  g_assert_cmpint (observed_message_id (fixture, fixture->a, "newer"), ==, 0);
  close_store (fixture, again);
  g_assert_finalize_object (again);
  g_clear_error (&failed.error);
}
#endif

#ifdef NATTER_HAVE_LIBPQ
#define RESTART_EVENTS 20

typedef struct {
  guint n_done;
  guint n_stored;
  GHashTable *ids; /* the event ids of the stored ones */
} RestartLog;

typedef struct {
  RestartLog *log;
  NatterStoreEvent *event;
} RestartCall;

static void
on_restart_event (NatterServerStore *store, const GError *error, gpointer user_data)
{
  RestartCall *call = user_data;

  call->log->n_done++;
  if (error != NULL) {
    g_assert_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED);
    return;
  }
  call->log->n_stored++;
  g_assert_false (g_hash_table_contains (call->log->ids, &call->event->event_id));
  g_hash_table_add (call->log->ids, g_memdup2 (&call->event->event_id, sizeof (gint64)));
}

/* PostgreSQL dies (an immediate shutdown) with a turn on its way, and
 * comes back: the requests it cut fail (their senders retry), none of them
 * is half stored (no part of a transaction runs on the next connection),
 * and once the store has reconnected, requests are stored again with the
 * next ids: what committed is gap-free and every id was acknowledged once. */
static void
test_recovers_after_restart (Fixture *fixture, gconstpointer data)
{
  RestartLog log = { 0 };
  RestartCall calls[RESTART_EVENTS];
  RestartCall retry = { &log, NULL };
  PGconn *locker;
  guint tries = 0;
  gint64 deadline;

  if (fixture->skipped)
    return;

  natter_server_pg_store_set_backoff (NATTER_SERVER_PG_STORE (fixture->store), 20, 200);
  log.ids = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  retry.event = natter_store_event_new (fixture->b, natter_frame_new (NATTER_FRAME_MISSED_CALL));
  natter_server_store_add_event (fixture->store, retry.event, on_restart_event, &retry);
  natter_test_wait_until (log.n_stored == 1, 10000);

  /* Another session holds b's counter: the next turn waits in the server,
   * its transaction open, until the server dies under it. */
  locker = pg_connect (fixture->conninfo);
  PQclear (pg_exec (locker, "BEGIN", 0, NULL));
  PQclear (pg_exec (locker, "SELECT last FROM event_counters FOR UPDATE", 0, NULL));
  for (guint i = 0; i < RESTART_EVENTS; i++) {
    calls[i].log = &log;
    calls[i].event =
      natter_store_event_new (fixture->b, natter_frame_new (NATTER_FRAME_MISSED_CALL));
    natter_server_store_add_event (fixture->store, calls[i].event, on_restart_event, &calls[i]);
  }
  natter_test_wait_until (
    pg_exec_int64 (fixture->pg,
                   "SELECT count (*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'", 0,
                   NULL) > 0,
    10000);
  natter_test_postgres_kill (postgres);
  natter_test_wait_until (log.n_done == RESTART_EVENTS + 1, 10000);
  g_assert_cmpuint (log.n_stored, ==, 1);
  PQfinish (locker);

  natter_test_postgres_restart (postgres);
  deadline = g_get_monotonic_time () + (gint64) natter_test_scale_ms (WAIT_MS) * 1000;
  for (guint stored = log.n_stored; log.n_stored == stored; tries++) {
    guint done = log.n_done;

    g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    g_clear_pointer (&retry.event, natter_store_event_unref);
    retry.event = natter_store_event_new (fixture->b, natter_frame_new (NATTER_FRAME_MISSED_CALL));
    natter_server_store_add_event (fixture->store, retry.event, on_restart_event, &retry);
    natter_test_wait_until (log.n_done > done, 10000);
    if (log.n_stored == stored)
      natter_test_iterate_until (g_get_monotonic_time () + 50 * 1000);
  }
  g_assert_cmpuint (tries, >, 0);

  PQreset (fixture->pg);
  g_assert_cmpint (PQstatus (fixture->pg), ==, CONNECTION_OK);
  g_assert_cmpuint (observed_n_events (fixture, fixture->b), ==, log.n_stored);
  g_assert_cmpint (observed_last_event_id (fixture, fixture->b), ==, log.n_stored);
  g_assert_cmpint (retry.event->event_id, ==, 2);
  g_assert_cmpuint (log.n_stored, ==, 2);

  natter_store_event_unref (retry.event);
  for (guint i = 0; i < RESTART_EVENTS; i++)
    natter_store_event_unref (calls[i].event);
  g_hash_table_unref (log.ids);
}
#endif

int
main (int argc, char **argv)
{
  static const struct {
    const char *name;
    void (*func) (Fixture *fixture, gconstpointer data);
  } cases[] = {
    { "chat-messages-in-order", test_chat_messages_in_order },
    { "mark-read-forward-only", test_mark_read_forward_only },
    { "event-replaces-pending-one", test_event_replaces_pending_one },
    { "creates-direct-conversation-once", test_creates_direct_conversation_once },
    { "close-flushes", test_close_flushes },
    { "failed-turn-stores-nothing", test_failed_turn_stores_nothing },
    { "read-authenticate", test_read_authenticate },
    { "read-participants", test_read_participants },
    { "read-resolve-direct", test_read_resolve_direct },
    { "read-replay", test_read_replay },
  };
  int status;

  g_test_init (&argc, &argv, NULL);

#define ADD(path, backend, func) \
  g_test_add (path, Fixture, GINT_TO_POINTER (backend), fixture_set_up, func, fixture_tear_down)
  /* Every case on both backends; the SQLite ones keep their old names. */
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    g_autofree char *path = g_strconcat ("/natter/server-store/", cases[c].name, NULL);
    g_autofree char *pg_path =
      g_strconcat ("/natter/server-store/postgresql/", cases[c].name, NULL);

    ADD (path, BACKEND_SQLITE, cases[c].func);
    ADD (pg_path, BACKEND_POSTGRES, cases[c].func);
  }
  ADD ("/natter/server-store/in-memory-event-replaces-pending-one", BACKEND_SQLITE_MEMORY,
       test_event_replaces_pending_one);
#ifdef NATTER_HAVE_LIBPQ
  ADD ("/natter/server-store/postgresql/nodes-gap-free", BACKEND_POSTGRES, test_nodes_gap_free);
  ADD ("/natter/server-store/postgresql/two-nodes-same-client-msg-id", BACKEND_POSTGRES,
       test_two_nodes_same_client_msg_id);
  ADD ("/natter/server-store/postgresql/migrations", BACKEND_POSTGRES, test_migrations);
  ADD ("/natter/server-store/postgresql/recovers-after-restart", BACKEND_POSTGRES,
       test_recovers_after_restart);
#endif
#undef ADD

  status = g_test_run ();
#ifdef NATTER_HAVE_LIBPQ
  g_clear_pointer (&postgres, natter_test_postgres_free);
#endif

  return status;
}
