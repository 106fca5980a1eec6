/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-store"

#include "config.h"

#include <string.h>

#include "natter-pg-connection.h"
#include "natter-server-db.h"
#include "natter-server-pg-queries.h"
#include "natter-server-pg-reads.h"
#include "natter-server-pg-schema.h"
#include "natter-server-pg-store.h"

/* Requests stored in one transaction at most, as in the SQLite backend:
 * the event counters a turn locks stay locked for two round trips. */
#define TURN_MAX_JOBS 64

/* Serialises the migrations of nodes that start at once. */
#define MIGRATION_LOCK_KEY "7361626"

#define NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

typedef enum {
  JOB_CHAT_MESSAGES,
  JOB_MARK_READ,
  JOB_ADD_EVENT,
} JobKind;

typedef struct {
  JobKind kind;
  gpointer request; /* GPtrArray of NatterStoreChatMessage, NatterStoreReadMark, NatterStoreEvent */
  NatterServerStoreDone done;
  gpointer user_data;
  GError *error;
} Job;

/* One statement of a pipelined round. */
typedef struct {
  const char *sql;
  GPtrArray *params; /* char *, NULL for SQL NULL */
} Statement;

typedef struct _Round Round;
typedef void (*RoundDone) (NatterServerPgStore *self, Round *round, const GError *error);

/* Statements sent at once, each with its own sync point; done runs once
 * every result is in, with the first error. */
struct _Round {
  NatterServerPgStore *store;
  PGresult **results;
  guint n;
  guint n_done;
  GError *error;
  RoundDone done;
};

typedef struct {
  Round *round;
  guint index;
} Slot;

/* A profile whose event counter a turn locks; next is the last id given. */
typedef struct {
  gint64 profile_id;
  const char *profile_type; /* interned */
  gint64 first_last;
  gint64 next;
} Counter;

struct _NatterServerPgStore {
  GObject parent_instance;

  NatterPgConnection *connection;
  /* Reads go on a connection of their own: outside the writer's open
   * transaction, they see only what is committed. */
  NatterPgConnection *reader;
  GQueue pending_reads; /* NatterPgRead, waiting for the schema */
  /* The HTTP API's queries: blocking libpq on one thread of their own
   * (a connection of its own), in request order. */
  char *conninfo;
  GThreadPool *query_pool;
  NatterStoreQueries *queries; /* touched only by the pool's thread */
  GQueue pending_queries;      /* QueryJob, waiting for the schema */
  /* Counts the connections made: a transaction's second round goes only
   * on the connection its first went on. */
  guint generation;
  guint round_generation;
  GMainContext *context;
  GQueue queued;        /* Job */
  GQueue turn;          /* Job, on their way */
  GHashTable *counters; /* "id:type" -> Counter, of the turn on its way */
  GSource *start_source;
  guint schema_version;
  gboolean migrating;
  gboolean turn_running;
  gboolean closed;
  guint n_turns;
  guint max_turn_jobs;
};

static void natter_server_pg_store_iface_init (NatterServerStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterServerPgStore,
                               natter_server_pg_store,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NATTER_TYPE_SERVER_STORE,
                                                      natter_server_pg_store_iface_init))

static void start_turn (NatterServerPgStore *self);
static void send_pending_reads (NatterServerPgStore *self, const GError *error);

typedef struct {
  GTask *task;
  NatterStoreQueryFunc func;
  gpointer data;
  GDestroyNotify data_free;
  GDestroyNotify result_free;
} QueryJob;

static void
pool_free_waiting (GThreadPool *pool)
{
  g_thread_pool_free (pool, FALSE, TRUE);
}

static void
query_job_fail (QueryJob *job, const GError *error)
{
  if (job->data_free != NULL)
    job->data_free (job->data);
  g_task_return_error (job->task, g_error_copy (error));
  g_object_unref (job->task);
  g_free (job);
}

static void
run_query_job (gpointer job_data, gpointer pool_data)
{
  QueryJob *job = job_data;

  natter_server_store_query_run (job->task, pool_data, job->func, job->data, job->data_free,
                                 job->result_free);
  g_free (job);
}

static void
job_free (Job *job)
{
  g_clear_error (&job->error);
  g_free (job);
}

static char *
format_ms (gint64 ms)
{
  g_autoptr (GDateTime) seconds = g_date_time_new_from_unix_utc (ms / 1000);
  g_autoptr (GDateTime) time = NULL;

  if (seconds == NULL)
    return NULL;
  time = g_date_time_add (seconds, (ms % 1000) * G_TIME_SPAN_MILLISECOND);

  return natter_format_time (time);
}

/* Statements */

static Statement *
statement_new (GPtrArray *statements, const char *sql)
{
  Statement *statement = g_new0 (Statement, 1);

  statement->sql = sql;
  statement->params = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (statements, statement);

  return statement;
}

static void
statement_free (Statement *statement)
{
  g_ptr_array_unref (statement->params);
  g_free (statement);
}

static GPtrArray *
statements_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) statement_free);
}

static void
param_take (Statement *statement, char *value)
{
  g_ptr_array_add (statement->params, value);
}

static void
param_int64 (Statement *statement, gint64 value)
{
  param_take (statement, g_strdup_printf ("%" G_GINT64_FORMAT, value));
}

/* Array literals for unnest (): every element quoted. */
static void
array_add_text (GString *array, const char *text)
{
  if (array->len > 1)
    g_string_append_c (array, ',');
  g_string_append_c (array, '"');
  for (const char *c = text; *c != '\0'; c++) {
    if (*c == '"' || *c == '\\')
      g_string_append_c (array, '\\');
    g_string_append_c (array, *c);
  }
  g_string_append_c (array, '"');
}

static void
array_add_int64 (GString *array, gint64 value)
{
  if (array->len > 1)
    g_string_append_c (array, ',');
  g_string_append_printf (array, "%" G_GINT64_FORMAT, value);
}

static char *
array_finish (GString *array)
{
  g_string_append_c (array, '}');

  return g_string_free (array, FALSE);
}

/* Rounds */

static void
round_free (Round *round)
{
  for (guint i = 0; i < round->n; i++)
    g_clear_pointer (&round->results[i], PQclear);
  g_free (round->results);
  g_clear_error (&round->error);
  g_object_unref (round->store);
  g_free (round);
}

static void
on_statement_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Slot *slot = user_data;
  Round *round = slot->round;
  GError *error = NULL;

  round->results[slot->index] =
    natter_pg_connection_query_finish (NATTER_PG_CONNECTION (source), result, &error);
  if (error != NULL && round->error == NULL)
    round->error = error;
  else
    g_clear_error (&error);
  g_free (slot);

  if (++round->n_done < round->n)
    return;
  round->done (round->store, round, round->error);
  round_free (round);
}

/* Sends @statements in one go; their results come back in order. */
static void
send_round (NatterServerPgStore *self, GPtrArray *statements, RoundDone done)
{
  Round *round = g_new0 (Round, 1);

  round->store = g_object_ref (self);
  round->n = statements->len;
  round->results = g_new0 (PGresult *, MAX (round->n, 1));
  round->done = done;

  for (guint i = 0; i < statements->len; i++) {
    Statement *statement = g_ptr_array_index (statements, i);
    Slot *slot = g_new0 (Slot, 1);

    slot->round = round;
    slot->index = i;
    natter_pg_connection_query (self->connection, statement->sql, (int) statement->params->len,
                                (const char *const *) statement->params->pdata, on_statement_done,
                                slot);
  }
}

static void
on_rolled_back (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (PGresult) rows =
    natter_pg_connection_query_finish (NATTER_PG_CONNECTION (source), result, NULL);
}

/* After a failed statement the transaction is aborted; a lost connection
 * took it with it. The next BEGIN follows on the same pipeline. */
static void
roll_back (NatterServerPgStore *self, const GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED))
    return;

  natter_pg_connection_query (self->connection, "ROLLBACK", 0, NULL, on_rolled_back, NULL);
}

static gboolean
committed (Round *round)
{
  PGresult *last = round->results[round->n - 1];

  /* COMMIT of an aborted transaction answers ROLLBACK, without an error. */
  return last != NULL && g_strcmp0 (PQcmdStatus (last), "COMMIT") == 0;
}

static void
on_connection_state (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  NatterServerPgStore *self = user_data;

  if (natter_pg_connection_get_state (self->connection) == NATTER_PG_CONNECTION_READY)
    self->generation++;
}

/* Before the first round of a transaction: made while connecting, it
 * goes on the connection being made. */
static void
remember_connection (NatterServerPgStore *self)
{
  gboolean ready = natter_pg_connection_get_state (self->connection) == NATTER_PG_CONNECTION_READY;

  self->round_generation = ready ? self->generation : self->generation + 1;
}

/* Before a later round: FALSE with @error when the connection is not the
 * one the transaction began on. */
static gboolean
same_connection (NatterServerPgStore *self, GError **error)
{
  if (natter_pg_connection_get_state (self->connection) == NATTER_PG_CONNECTION_READY &&
      self->generation == self->round_generation)
    return TRUE;

  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                       "the connection was lost during the transaction");
  return FALSE;
}

/* Callbacks */

/* Runs the callbacks of @jobs in order; @error fails them all. */
static void
finish_jobs (NatterServerPgStore *self, GQueue *jobs, const GError *error)
{
  Job *job;

  while ((job = g_queue_pop_head (jobs)) != NULL) {
    if (error != NULL && job->error == NULL)
      job->error = natter_server_pg_error_new (error);
    if (job->error != NULL && job->kind == JOB_ADD_EVENT) {
      /* A later request that replaces this one must not delete another. */
      ((NatterStoreEvent *) job->request)->event_id = 0;
    }
    job->done (NATTER_SERVER_STORE (self), job->error, job->user_data);
    job_free (job);
  }
}

static void
finish_turn (NatterServerPgStore *self, const GError *error)
{
  GQueue jobs = self->turn;

  g_queue_init (&self->turn);
  g_hash_table_remove_all (self->counters);
  self->turn_running = FALSE;
  if (error == NULL) {
    self->n_turns++;
    self->max_turn_jobs = MAX (self->max_turn_jobs, jobs.length);
  } else {
    g_autoptr (GError) reported = natter_server_pg_error_new (error);

    g_message ("storing %u requests failed: %s", jobs.length, reported->message);
  }
  finish_jobs (self, &jobs, error);
  start_turn (self);
}

/* Migrations */

static void
fail_queued (NatterServerPgStore *self, const GError *error)
{
  GQueue jobs = self->queued;

  g_queue_init (&self->queued);
  finish_jobs (self, &jobs, error);
}

static void
migration_failed (NatterServerPgStore *self, const GError *error)
{
  self->migrating = FALSE;
  g_warning ("PostgreSQL schema migration failed: %s", error->message);
  roll_back (self, error);
  fail_queued (self, error);
  send_pending_reads (self, error);
}

static void
on_migrated (NatterServerPgStore *self, Round *round, const GError *error)
{
  g_autoptr (GError) local_error = NULL;

  if (error == NULL && !committed (round))
    error = local_error =
      g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "the schema migration was rolled back");
  if (error != NULL) {
    migration_failed (self, error);
    return;
  }

  self->migrating = FALSE;
  self->schema_version = natter_server_pg_schema_version ();
  send_pending_reads (self, NULL);
  start_turn (self);
}

static void
on_schema_version_read (NatterServerPgStore *self, Round *round, const GError *error)
{
  g_autoptr (GPtrArray) statements = statements_new ();
  g_autoptr (GError) local_error = NULL;
  guint target = natter_server_pg_schema_version ();
  gint64 version;
  Statement *statement;

  if (error == NULL && !same_connection (self, &local_error))
    error = local_error;
  if (error != NULL) {
    migration_failed (self, error);
    return;
  }

  version = natter_pg_value_int64 (round->results[round->n - 1], 0, 0);
  if (version > (gint64) target) {
    local_error = g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED,
                               "schema version %" G_GINT64_FORMAT " is newer than this server (%u)",
                               version, target);
    migration_failed (self, local_error);
    return;
  }

  for (gint64 v = version; v < (gint64) target; v++) {
    for (const char *const *sql = natter_server_pg_migrations[v]; *sql != NULL; sql++)
      statement_new (statements, *sql);
    g_debug ("PostgreSQL schema: migrating to version %" G_GINT64_FORMAT, v + 1);
  }
  statement_new (statements, "DELETE FROM schema_version");
  statement = statement_new (statements, "INSERT INTO schema_version (version) VALUES ($1)");
  param_int64 (statement, target);
  statement_new (statements, "COMMIT");
  send_round (self, statements, on_migrated);
}

/* One transaction for every step, under an advisory lock: a node that
 * starts while another migrates waits and then finds the schema done. */
static void
start_migration (NatterServerPgStore *self)
{
  g_autoptr (GPtrArray) statements = statements_new ();

  self->migrating = TRUE;
  remember_connection (self);
  statement_new (statements, "BEGIN");
  statement_new (statements, "SET LOCAL synchronous_commit TO on");
  statement_new (statements, "SELECT pg_advisory_xact_lock (" MIGRATION_LOCK_KEY ")");
  /* Not CREATE TABLE IF NOT EXISTS, whose notice libpq prints. */
  statement_new (statements, "DO $$ BEGIN IF to_regclass ('schema_version') IS NULL THEN"
                             " CREATE TABLE schema_version (version integer NOT NULL);"
                             " END IF; END $$");
  statement_new (statements, "SELECT coalesce (max (version), 0) FROM schema_version");
  send_round (self, statements, on_schema_version_read);
}

/* Turns: round one */

static char *
counter_key (const NatterProfile *profile)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT ":%s", profile->profile_id, profile->profile_type);
}

static void
need_counter (NatterServerPgStore *self, const NatterProfile *profile)
{
  char *key = counter_key (profile);
  Counter *counter;

  if (g_hash_table_contains (self->counters, key)) {
    g_free (key);
    return;
  }
  counter = g_new0 (Counter, 1);
  counter->profile_id = profile->profile_id;
  counter->profile_type = g_intern_string (profile->profile_type);
  g_hash_table_insert (self->counters, key, counter);
}

static gint
compare_counters (gconstpointer a, gconstpointer b)
{
  const Counter *first = *(Counter *const *) a;
  const Counter *second = *(Counter *const *) b;

  if (first->profile_id != second->profile_id)
    return first->profile_id < second->profile_id ? -1 : 1;

  return strcmp (first->profile_type, second->profile_type);
}

/* Every profile the turn gives an event, sorted: the lock order. */
static void
add_lock_statement (NatterServerPgStore *self, GPtrArray *statements)
{
  g_autoptr (GPtrArray) sorted = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer counter_data;
  GString *ids = g_string_new ("{");
  GString *types = g_string_new ("{");
  Statement *statement;

  g_hash_table_iter_init (&iter, self->counters);
  while (g_hash_table_iter_next (&iter, NULL, &counter_data))
    g_ptr_array_add (sorted, counter_data);
  g_ptr_array_sort (sorted, compare_counters);
  for (guint i = 0; i < sorted->len; i++) {
    Counter *counter = g_ptr_array_index (sorted, i);

    array_add_int64 (ids, counter->profile_id);
    array_add_text (types, counter->profile_type);
  }

  /* Makes the missing counters and locks every one, in this order (the
   * conflict's update locks the row): transactions that share profiles
   * queue up in the same order, so they never deadlock, and a profile's
   * ids commit in the order they are given. */
  statement = statement_new (
    statements, "INSERT INTO event_counters (profile_id, profile_type)"
                " SELECT t.id, t.type FROM unnest ($1::bigint[], $2::text[]) AS t (id, type)"
                " ORDER BY t.id, t.type COLLATE \"C\""
                " ON CONFLICT (profile_id, profile_type) DO UPDATE SET last = event_counters.last"
                " RETURNING profile_id, profile_type, last");
  param_take (statement, array_finish (ids));
  param_take (statement, array_finish (types));
}

static void
add_message_statement (GPtrArray *statements, NatterStoreChatMessage *request)
{
  Statement *statement = statement_new (
    statements, "SELECT * FROM natter_store_message ($1::bigint, $2, $3::bigint, $4::bigint, $5,"
                " $6, $7, $8, $9::bigint[])");

  param_int64 (statement, request->sender->profile_id);
  param_take (statement, g_strdup (request->sender->profile_type));
  param_int64 (statement, request->conversation_id);
  if (request->conversation_id == 0 && request->to_profile != NULL) {
    param_int64 (statement, request->to_profile->profile_id);
    param_take (statement, g_strdup (request->to_profile->profile_type));
    param_take (statement, natter_pg_direct_key (request->sender, request->to_profile));
  } else {
    param_take (statement, NULL);
    param_take (statement, NULL);
    param_take (statement, NULL);
  }
  param_take (statement, g_strdup (request->text));
  param_take (statement, g_strdup (request->client_msg_id));
  if (request->attachment_ids != NULL && request->attachment_ids->len > 0) {
    GString *ids = g_string_new ("{");

    for (guint i = 0; i < request->attachment_ids->len; i++)
      array_add_int64 (ids, g_array_index (request->attachment_ids, gint64, i));
    param_take (statement, array_finish (ids));
  } else {
    param_take (statement, NULL);
  }
}

static void on_rows_stored (NatterServerPgStore *self, Round *round, const GError *error);

/* Round one: BEGIN, the counters locked, every request's rows (the
 * messages, read positions) stored. */
static void
start_turn (NatterServerPgStore *self)
{
  g_autoptr (GPtrArray) statements = NULL;
  Job *job;

  if (self->turn_running || self->migrating || g_queue_is_empty (&self->queued))
    return;
  if (self->closed) {
    GQueue jobs = self->queued;

    g_queue_init (&self->queued);
    for (GList *l = jobs.head; l != NULL; l = l->next)
      ((Job *) l->data)->error = g_error_new_literal (
        NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED, "database: closed");
    finish_jobs (self, &jobs, NULL);
    return;
  }
  if (self->schema_version == 0) {
    start_migration (self);
    return;
  }

  self->turn_running = TRUE;
  while (self->turn.length < TURN_MAX_JOBS && (job = g_queue_pop_head (&self->queued)) != NULL)
    g_queue_push_tail (&self->turn, job);

  for (GList *l = self->turn.head; l != NULL; l = l->next) {
    job = l->data;
    if (job->kind == JOB_CHAT_MESSAGES) {
      GPtrArray *messages = job->request;

      for (guint i = 0; i < messages->len; i++) {
        NatterStoreChatMessage *request = g_ptr_array_index (messages, i);

        need_counter (self, request->sender);
        if (request->to_profile != NULL)
          need_counter (self, request->to_profile);
        for (guint p = 0; p < request->participants->len; p++)
          need_counter (self, g_ptr_array_index (request->participants, p));
      }
    } else if (job->kind == JOB_MARK_READ) {
      NatterStoreReadMark *mark = job->request;

      need_counter (self, mark->reader);
      for (guint p = 0; p < mark->participants->len; p++)
        need_counter (self, g_ptr_array_index (mark->participants, p));
    } else {
      need_counter (self, ((NatterStoreEvent *) job->request)->profile);
    }
  }

  statements = statements_new ();
  remember_connection (self);
  statement_new (statements, "BEGIN");
  /* Acknowledged means durable, whatever the server's default. */
  statement_new (statements, "SET LOCAL synchronous_commit TO on");
  add_lock_statement (self, statements);
  for (GList *l = self->turn.head; l != NULL; l = l->next) {
    job = l->data;
    if (job->kind == JOB_CHAT_MESSAGES) {
      GPtrArray *messages = job->request;

      for (guint i = 0; i < messages->len; i++)
        add_message_statement (statements, g_ptr_array_index (messages, i));
    } else if (job->kind == JOB_MARK_READ) {
      NatterStoreReadMark *mark = job->request;
      Statement *statement = statement_new (
        statements, "SELECT natter_mark_read ($1::bigint, $2::bigint, $3, $4::bigint)");

      param_int64 (statement, mark->conversation_id);
      param_int64 (statement, mark->reader->profile_id);
      param_take (statement, g_strdup (mark->reader->profile_type));
      param_int64 (statement, mark->up_to_seq);
    }
  }
  send_round (self, statements, on_rows_stored);
}

/* Turns: round two */

typedef struct {
  GString *ids, *types, *event_ids, *frames;
  GString *delete_ids, *delete_types, *delete_event_ids;
  GString *message_ids, *sender_event_ids;
  guint n_events, n_deletes, n_messages;
  /* message_id -> the sender's event id, of the messages of this turn: a
   * retry queued behind the first copy finds it here. */
  GHashTable *sender_event_ids_by_message;
} Events;

static gint64
next_event_id (NatterServerPgStore *self, const NatterProfile *profile)
{
  g_autofree char *key = counter_key (profile);
  Counter *counter = g_hash_table_lookup (self->counters, key);

  g_assert (counter != NULL);

  return ++counter->next;
}

/* Serialises @frame as @profile's next event, to be stored in round two. */
static char *
add_event_row (NatterServerPgStore *self,
               Events *events,
               const NatterProfile *profile,
               NatterFrame *frame)
{
  char *text;

  frame->event_id = next_event_id (self, profile);
  text = natter_frame_to_json (frame, NULL);
  array_add_int64 (events->ids, profile->profile_id);
  array_add_text (events->types, profile->profile_type);
  array_add_int64 (events->event_ids, frame->event_id);
  array_add_text (events->frames, text);
  events->n_events++;

  return text;
}

static GPtrArray *
parse_attachments (PGresult *result, int column, GError **error)
{
  g_autoptr (JsonParser) parser = NULL;

  if (PQgetisnull (result, 0, column))
    return NULL;

  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, PQgetvalue (result, 0, column), -1, error))
    return NULL;

  return natter_attachment_list_from_node (json_parser_get_root (parser), "attachments", error);
}

/* The columns of natter_store_message (). */
enum {
  COLUMN_DUPLICATE,
  COLUMN_MESSAGE_ID,
  COLUMN_CONVERSATION_ID,
  COLUMN_SEQ,
  COLUMN_SENT_AT,
  COLUMN_TEXT,
  COLUMN_CREATED,
  COLUMN_TOOK_PART,
  COLUMN_SENDER_EVENT_ID,
  COLUMN_ATTACHMENTS,
};

static gboolean
build_message_events (NatterServerPgStore *self,
                      Events *events,
                      NatterStoreChatMessage *request,
                      PGresult *row,
                      GError **error)
{
  g_autoptr (NatterFrame) event = NULL;
  NatterMessage *message = natter_message_new ();
  g_autoptr (GError) local_error = NULL;

  message->message_id = natter_pg_value_int64 (row, 0, COLUMN_MESSAGE_ID);
  message->conversation_id = natter_pg_value_int64 (row, 0, COLUMN_CONVERSATION_ID);
  message->seq = natter_pg_value_int64 (row, 0, COLUMN_SEQ);
  message->text = g_strdup (PQgetvalue (row, 0, COLUMN_TEXT));
  message->sent_at = format_ms (natter_pg_value_int64 (row, 0, COLUMN_SENT_AT));
  message->client_msg_id = g_strdup (request->client_msg_id);
  message->sender = natter_profile_copy (request->sender);
  message->attachments = parse_attachments (row, COLUMN_ATTACHMENTS, &local_error);
  g_clear_pointer (&request->message, natter_message_free);
  request->message = message;
  if (local_error != NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "stored attachments: %s",
                 local_error->message);
    return FALSE;
  }

  /* A retry, also of a message another node stored: same ack, no event. */
  if (natter_pg_value_bool (row, 0, COLUMN_DUPLICATE)) {
    gint64 *earlier =
      g_hash_table_lookup (events->sender_event_ids_by_message, &message->message_id);

    request->duplicate = TRUE;
    request->sender_event_id =
      earlier != NULL ? *earlier : natter_pg_value_int64 (row, 0, COLUMN_SENDER_EVENT_ID);
    return TRUE;
  }

  if (request->conversation_id == 0) {
    request->conversation_id = message->conversation_id;
    request->created = natter_pg_value_bool (row, 0, COLUMN_CREATED);
  }
  request->took_part = natter_pg_value_bool (row, 0, COLUMN_TOOK_PART);

  /* One frame, its event_id changed for each participant. */
  event = natter_frame_new (NATTER_FRAME_CHAT_MESSAGE);
  event->message = g_steal_pointer (&request->message);
  natter_store_stamp_sender (event, request->sender);
  g_clear_pointer (&request->event_texts, g_ptr_array_unref);
  request->event_texts = g_ptr_array_new_full (request->participants->len, g_free);
  for (guint i = 0; i < request->participants->len; i++) {
    const NatterProfile *participant = g_ptr_array_index (request->participants, i);

    g_ptr_array_add (request->event_texts, add_event_row (self, events, participant, event));
    if (natter_profile_equal (participant, request->sender))
      request->sender_event_id = event->event_id;
  }
  request->message = g_steal_pointer (&event->message);

  g_hash_table_insert (events->sender_event_ids_by_message,
                       g_memdup2 (&request->message->message_id, sizeof (gint64)),
                       g_memdup2 (&request->sender_event_id, sizeof (gint64)));
  array_add_int64 (events->message_ids, request->message->message_id);
  array_add_int64 (events->sender_event_ids, request->sender_event_id);
  events->n_messages++;

  return TRUE;
}

static void
build_receipts (NatterServerPgStore *self, Events *events, NatterStoreReadMark *mark, PGresult *row)
{
  g_clear_pointer (&mark->event_texts, g_ptr_array_unref);
  mark->event_texts = g_ptr_array_new_full (mark->participants->len, g_free);

  /* A mark that does not move the position stores and sends nothing. */
  if (PQgetisnull (row, 0, 0))
    return;

  mark->stored_up_to_seq = natter_pg_value_int64 (row, 0, 0);
  for (guint i = 0; i < mark->participants->len; i++) {
    g_autoptr (NatterFrame) receipt = natter_frame_new (NATTER_FRAME_READ_RECEIPT);

    receipt->conversation_id = mark->conversation_id;
    receipt->profile = natter_profile_copy (mark->reader);
    receipt->up_to_seq = mark->stored_up_to_seq;
    natter_store_stamp_sender (receipt, mark->reader);
    g_ptr_array_add (
      mark->event_texts,
      add_event_row (self, events, g_ptr_array_index (mark->participants, i), receipt));
  }
}

static void
build_event (NatterServerPgStore *self, Events *events, NatterStoreEvent *event)
{
  gint64 replace_event_id = event->replace_event_id;

  /* The request this one replaces came before: its id is set, also when it
   * is in this turn (its row is inserted before the delete runs). */
  if (event->replaces != NULL) {
    replace_event_id = event->replaces->event_id;
    g_clear_pointer (&event->replaces, natter_store_event_unref);
  }
  if (replace_event_id > 0) {
    array_add_int64 (events->delete_ids, event->profile->profile_id);
    array_add_text (events->delete_types, event->profile->profile_type);
    array_add_int64 (events->delete_event_ids, replace_event_id);
    events->n_deletes++;
  }

  g_free (event->text);
  event->text = add_event_row (self, events, event->profile, event->frame);
  event->event_id = event->frame->event_id;
}

static void
on_turn_committed (NatterServerPgStore *self, Round *round, const GError *error)
{
  g_autoptr (GError) local_error = NULL;

  if (error == NULL && !committed (round))
    error = local_error =
      g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "the transaction was rolled back");
  if (error != NULL)
    roll_back (self, error);
  finish_turn (self, error);
}

/* Round two: the events (their frames carry the ids), the counters moved
 * on, the messages' own event ids, COMMIT. */
static void
on_rows_stored (NatterServerPgStore *self, Round *round, const GError *error)
{
  g_autoptr (GPtrArray) statements = NULL;
  g_autoptr (GError) local_error = NULL;
  Events events = { 0 };
  PGresult *locked;
  guint index = 3;
  GHashTableIter iter;
  Counter *counter;
  GString *counter_ids;
  GString *counter_types;
  GString *counter_steps;
  Statement *statement;

  if (error != NULL) {
    roll_back (self, error);
    finish_turn (self, error);
    return;
  }

  locked = round->results[2];
  for (int row = 0; row < PQntuples (locked); row++) {
    g_autofree char *key =
      g_strdup_printf ("%s:%s", PQgetvalue (locked, row, 0), PQgetvalue (locked, row, 1));

    counter = g_hash_table_lookup (self->counters, key);
    if (counter != NULL)
      counter->first_last = counter->next = natter_pg_value_int64 (locked, row, 2);
  }

  events.ids = g_string_new ("{");
  events.types = g_string_new ("{");
  events.event_ids = g_string_new ("{");
  events.frames = g_string_new ("{");
  events.delete_ids = g_string_new ("{");
  events.delete_types = g_string_new ("{");
  events.delete_event_ids = g_string_new ("{");
  events.message_ids = g_string_new ("{");
  events.sender_event_ids = g_string_new ("{");
  events.sender_event_ids_by_message =
    g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);

  for (GList *l = self->turn.head; l != NULL && local_error == NULL; l = l->next) {
    Job *job = l->data;

    if (job->kind == JOB_CHAT_MESSAGES) {
      GPtrArray *messages = job->request;

      for (guint i = 0; i < messages->len && local_error == NULL; i++)
        build_message_events (self, &events, g_ptr_array_index (messages, i),
                              round->results[index++], &local_error);
    } else if (job->kind == JOB_MARK_READ) {
      build_receipts (self, &events, job->request, round->results[index++]);
    } else {
      build_event (self, &events, job->request);
    }
  }

  g_hash_table_unref (events.sender_event_ids_by_message);

  counter_ids = g_string_new ("{");
  counter_types = g_string_new ("{");
  counter_steps = g_string_new ("{");
  g_hash_table_iter_init (&iter, self->counters);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &counter)) {
    if (counter->next == counter->first_last)
      continue;
    array_add_int64 (counter_ids, counter->profile_id);
    array_add_text (counter_types, counter->profile_type);
    array_add_int64 (counter_steps, counter->next - counter->first_last);
  }

  statements = statements_new ();
  if (events.n_events > 0) {
    statement = statement_new (
      statements, "INSERT INTO events (profile_id, profile_type, event_id, frame, created_at)"
                  " SELECT t.id, t.type, t.event_id, t.frame, " NOW_MS
                  " FROM unnest ($1::bigint[], $2::text[], $3::bigint[], $4::text[])"
                  " AS t (id, type, event_id, frame)");
    param_take (statement, array_finish (events.ids));
    param_take (statement, array_finish (events.types));
    param_take (statement, array_finish (events.event_ids));
    param_take (statement, array_finish (events.frames));

    /* The counters are locked: moving them on now cannot race. */
    statement = statement_new (
      statements, "UPDATE event_counters c SET last = c.last + t.step"
                  " FROM unnest ($1::bigint[], $2::text[], $3::bigint[]) AS t (id, type, step)"
                  " WHERE c.profile_id = t.id AND c.profile_type = t.type");
    param_take (statement, array_finish (counter_ids));
    param_take (statement, array_finish (counter_types));
    param_take (statement, array_finish (counter_steps));
  } else {
    g_string_free (events.ids, TRUE);
    g_string_free (events.types, TRUE);
    g_string_free (events.event_ids, TRUE);
    g_string_free (events.frames, TRUE);
    g_string_free (counter_ids, TRUE);
    g_string_free (counter_types, TRUE);
    g_string_free (counter_steps, TRUE);
  }
  if (events.n_deletes > 0) {
    statement = statement_new (
      statements, "DELETE FROM events e"
                  " USING unnest ($1::bigint[], $2::text[], $3::bigint[]) AS d (id, type, event_id)"
                  " WHERE e.profile_id = d.id AND e.profile_type = d.type"
                  " AND e.event_id = d.event_id");
    param_take (statement, array_finish (events.delete_ids));
    param_take (statement, array_finish (events.delete_types));
    param_take (statement, array_finish (events.delete_event_ids));
  } else {
    g_string_free (events.delete_ids, TRUE);
    g_string_free (events.delete_types, TRUE);
    g_string_free (events.delete_event_ids, TRUE);
  }
  if (events.n_messages > 0) {
    statement = statement_new (
      statements, "UPDATE messages m SET sender_event_id = t.event_id"
                  " FROM unnest ($1::bigint[], $2::bigint[]) AS t (message_id, event_id)"
                  " WHERE m.message_id = t.message_id");
    param_take (statement, array_finish (events.message_ids));
    param_take (statement, array_finish (events.sender_event_ids));
  } else {
    g_string_free (events.message_ids, TRUE);
    g_string_free (events.sender_event_ids, TRUE);
  }

  if (local_error != NULL) {
    roll_back (self, local_error);
    finish_turn (self, local_error);
    return;
  }

  if (!same_connection (self, &local_error)) {
    finish_turn (self, local_error);
    return;
  }
  statement_new (statements, "COMMIT");
  send_round (self, statements, on_turn_committed);
}

/* Requests */

static gboolean
on_start_due (gpointer user_data)
{
  NatterServerPgStore *self = user_data;

  g_clear_pointer (&self->start_source, g_source_unref);
  start_turn (self);

  return G_SOURCE_REMOVE;
}

static void
enqueue (NatterServerPgStore *self,
         JobKind kind,
         gpointer request,
         NatterServerStoreDone done,
         gpointer user_data)
{
  Job *job = g_new0 (Job, 1);

  job->kind = kind;
  job->request = request;
  job->done = done;
  job->user_data = user_data;
  g_queue_push_tail (&self->queued, job);

  /* Never inside the call: the turn starts from the main context. */
  if (self->start_source == NULL && !self->turn_running) {
    self->start_source = g_idle_source_new ();
    g_source_set_priority (self->start_source, G_PRIORITY_DEFAULT);
    g_source_set_static_name (self->start_source, "natter-pg-store-turn");
    g_source_set_callback (self->start_source, on_start_due, g_object_ref (self), g_object_unref);
    g_source_attach (self->start_source, self->context);
  }
}

static void
natter_server_pg_store_store_chat_messages (NatterServerStore *store,
                                            GPtrArray *messages,
                                            NatterServerStoreDone done,
                                            gpointer user_data)
{
  NatterServerPgStore *self = NATTER_SERVER_PG_STORE (store);

  enqueue (self, JOB_CHAT_MESSAGES, messages, done, user_data);
}

static void
natter_server_pg_store_mark_read (NatterServerStore *store,
                                  NatterStoreReadMark *mark,
                                  NatterServerStoreDone done,
                                  gpointer user_data)
{
  NatterServerPgStore *self = NATTER_SERVER_PG_STORE (store);

  enqueue (self, JOB_MARK_READ, mark, done, user_data);
}

static void
natter_server_pg_store_add_event (NatterServerStore *store,
                                  NatterStoreEvent *event,
                                  NatterServerStoreDone done,
                                  gpointer user_data)
{
  NatterServerPgStore *self = NATTER_SERVER_PG_STORE (store);

  enqueue (self, JOB_ADD_EVENT, event, done, user_data);
}

static gboolean
is_idle (NatterServerPgStore *self)
{
  return g_queue_is_empty (&self->queued) && !self->turn_running && !self->migrating;
}

/* Iterates the main context until every request made so far has had its
 * callback. Not from inside one of the store's callbacks. */
static void
natter_server_pg_store_flush (NatterServerStore *store)
{
  g_autoptr (NatterServerPgStore) self = g_object_ref (NATTER_SERVER_PG_STORE (store));

  if (self->start_source != NULL) {
    g_source_destroy (self->start_source);
    g_clear_pointer (&self->start_source, g_source_unref);
    start_turn (self);
  }
  while (!is_idle (self))
    g_main_context_iteration (self->context, TRUE);
}

/* Reads (natter-server-pg-reads.c), on the reader connection once the
 * schema is there. */

/* Once migrated: the reads that waited for the schema; @error fails them. */
static void
send_pending_reads (NatterServerPgStore *self, const GError *error)
{
  NatterPgRead *read;
  QueryJob *job;

  while ((job = g_queue_pop_head (&self->pending_queries)) != NULL) {
    if (error != NULL)
      query_job_fail (job, error);
    else
      g_thread_pool_push (self->query_pool, job, NULL);
  }

  while ((read = g_queue_pop_head (&self->pending_reads)) != NULL) {
    if (error != NULL)
      natter_pg_read_fail (read, error);
    else
      natter_pg_read_send (read, self->reader);
  }
}

static void
start_read (NatterServerPgStore *self, NatterPgRead *read)
{
  if (self->schema_version > 0) {
    natter_pg_read_send (read, self->reader);
    return;
  }
  g_queue_push_tail (&self->pending_reads, read);
  if (!self->migrating)
    start_migration (self);
}

static void
natter_server_pg_store_authenticate (NatterServerStore *store,
                                     const char *token_hash_hex,
                                     gint64 now_unix,
                                     const NatterProfile *profile,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data)
{
  NatterServerPgStore *self = NATTER_SERVER_PG_STORE (store);
  GTask *task = natter_server_store_read_task_new (store, natter_server_pg_store_authenticate,
                                                   callback, user_data);

  start_read (self, natter_pg_read_authenticate (task, token_hash_hex, now_unix, profile));
}

static void
natter_server_pg_store_list_participants (NatterServerStore *store,
                                          gint64 conversation_id,
                                          GAsyncReadyCallback callback,
                                          gpointer user_data)
{
  NatterServerPgStore *self = NATTER_SERVER_PG_STORE (store);
  GTask *task = natter_server_store_read_task_new (store, natter_server_pg_store_list_participants,
                                                   callback, user_data);

  start_read (self, natter_pg_read_list_participants (task, conversation_id));
}

static void
natter_server_pg_store_resolve_direct (NatterServerStore *store,
                                       const NatterProfile *sender,
                                       const NatterProfile *to,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data)
{
  NatterServerPgStore *self = NATTER_SERVER_PG_STORE (store);
  GTask *task = natter_server_store_read_task_new (store, natter_server_pg_store_resolve_direct,
                                                   callback, user_data);

  start_read (self, natter_pg_read_resolve_direct (task, sender, to));
}

static void
natter_server_pg_store_replay (NatterServerStore *store,
                               const NatterProfile *profile,
                               gint64 after_event_id,
                               guint limit,
                               GAsyncReadyCallback callback,
                               gpointer user_data)
{
  NatterServerPgStore *self = NATTER_SERVER_PG_STORE (store);
  GTask *task =
    natter_server_store_read_task_new (store, natter_server_pg_store_replay, callback, user_data);

  start_read (self, natter_pg_read_replay (task, profile, after_event_id, limit));
}

static void
natter_server_pg_store_query (NatterServerStore *store,
                              NatterStoreQueryFunc func,
                              gpointer data,
                              GDestroyNotify data_free,
                              GDestroyNotify result_free,
                              GAsyncReadyCallback callback,
                              gpointer user_data)
{
  NatterServerPgStore *self = NATTER_SERVER_PG_STORE (store);
  QueryJob *job = g_new0 (QueryJob, 1);

  job->task =
    natter_server_store_read_task_new (store, natter_server_pg_store_query, callback, user_data);
  job->func = func;
  job->data = data;
  job->data_free = data_free;
  job->result_free = result_free;

  if (self->closed) {
    g_autoptr (GError) error = g_error_new_literal (
      NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED, "database: closed");

    query_job_fail (job, error);
    return;
  }
  if (self->schema_version > 0) {
    g_thread_pool_push (self->query_pool, job, NULL);
    return;
  }
  g_queue_push_tail (&self->pending_queries, job);
  if (!self->migrating)
    start_migration (self);
}

static void
natter_server_pg_store_iface_init (NatterServerStoreInterface *iface)
{
  iface->query = natter_server_pg_store_query;
  iface->authenticate = natter_server_pg_store_authenticate;
  iface->list_participants = natter_server_pg_store_list_participants;
  iface->resolve_direct = natter_server_pg_store_resolve_direct;
  iface->replay = natter_server_pg_store_replay;
  iface->store_chat_messages = natter_server_pg_store_store_chat_messages;
  iface->mark_read = natter_server_pg_store_mark_read;
  iface->add_event = natter_server_pg_store_add_event;
  iface->flush = natter_server_pg_store_flush;
}

static void
natter_server_pg_store_dispose (GObject *object)
{
  NatterServerPgStore *self = NATTER_SERVER_PG_STORE (object);

  if (!self->closed)
    natter_server_pg_store_close (self);
  g_clear_object (&self->connection);
  g_clear_object (&self->reader);

  G_OBJECT_CLASS (natter_server_pg_store_parent_class)->dispose (object);
}

static void
natter_server_pg_store_finalize (GObject *object)
{
  NatterServerPgStore *self = NATTER_SERVER_PG_STORE (object);

  g_assert (g_queue_is_empty (&self->queued) && g_queue_is_empty (&self->turn));
  g_assert (g_queue_is_empty (&self->pending_reads));
  g_assert (g_queue_is_empty (&self->pending_queries));
  g_free (self->conninfo);
  g_clear_pointer (&self->counters, g_hash_table_unref);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (natter_server_pg_store_parent_class)->finalize (object);
}

static void
natter_server_pg_store_class_init (NatterServerPgStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = natter_server_pg_store_dispose;
  G_OBJECT_CLASS (klass)->finalize = natter_server_pg_store_finalize;
}

static void
natter_server_pg_store_init (NatterServerPgStore *self)
{
  g_queue_init (&self->queued);
  g_queue_init (&self->turn);
  g_queue_init (&self->pending_reads);
  g_queue_init (&self->pending_queries);
  self->counters = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

/**
 * natter_server_pg_store_new:
 * @conninfo: libpq's connection string or a `postgresql://` URI
 *
 * Returns: (transfer full): the store, connecting and then migrating the
 *   schema; requests wait for both (a flush too)
 */
NatterServerPgStore *
natter_server_pg_store_new (const char *conninfo)
{
  NatterServerPgStore *self;

  g_return_val_if_fail (conninfo != NULL, NULL);

  self = g_object_new (NATTER_TYPE_SERVER_PG_STORE, NULL);
  self->context = g_main_context_ref_thread_default ();
  self->connection = natter_pg_connection_new (conninfo);
  /* A turn's queries, sent over two round trips, are one transaction: none
   * of them may run on a new connection outside its BEGIN. */
  natter_pg_connection_set_fail_fast (self->connection, TRUE);
  g_signal_connect_object (self->connection, "notify::state", G_CALLBACK (on_connection_state),
                           self, G_CONNECT_DEFAULT);
  natter_pg_connection_start (self->connection);
  self->reader = natter_pg_connection_new (conninfo);
  natter_pg_connection_start (self->reader);
  self->conninfo = g_strdup (conninfo);
  self->queries = natter_server_pg_queries_new (conninfo);
  self->query_pool = g_thread_pool_new (run_query_job, self->queries, 1, FALSE, NULL);
  start_migration (self);

  return self;
}

void
natter_server_pg_store_set_backoff (NatterServerPgStore *self, guint min_ms, guint max_ms)
{
  g_return_if_fail (NATTER_IS_SERVER_PG_STORE (self));

  natter_pg_connection_set_backoff (self->connection, min_ms, max_ms);
  natter_pg_connection_set_backoff (self->reader, min_ms, max_ms);
}

guint
natter_server_pg_store_get_schema_version (NatterServerPgStore *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER_PG_STORE (self), 0);

  return self->schema_version;
}

guint
natter_server_pg_store_get_n_turns (NatterServerPgStore *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER_PG_STORE (self), 0);

  return self->n_turns;
}

guint
natter_server_pg_store_get_max_turn_jobs (NatterServerPgStore *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER_PG_STORE (self), 0);

  return self->max_turn_jobs;
}

void
natter_server_pg_store_close (NatterServerPgStore *self)
{
  g_return_if_fail (NATTER_IS_SERVER_PG_STORE (self));

  if (self->closed)
    return;
  natter_server_store_flush (NATTER_SERVER_STORE (self));
  self->closed = TRUE;

  /* Queries already queued still run; their callbacks come later. */
  {
    g_autoptr (GError) error = g_error_new_literal (
      NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED, "database: closed");
    QueryJob *job;

    while ((job = g_queue_pop_head (&self->pending_queries)) != NULL)
      query_job_fail (job, error);
  }
  g_clear_pointer (&self->query_pool, pool_free_waiting);
  g_clear_pointer (&self->queries, natter_store_queries_free);
}
