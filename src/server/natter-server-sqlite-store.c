/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-store"

#include "config.h"

#include "natter-server-sqlite-store.h"
#include "natter-server-db-attachments.h"

#include "natter-server-db-private.h"

/* Requests stored in one transaction at most: a turn stays short enough
 * that the main thread's own writes (a new conversation, a call log row)
 * never wait long for the write lock. */
#define TURN_MAX_JOBS 64

typedef gboolean (*JobRun) (NatterServerDb *db, gpointer request, GError **error);

/* One request on its way: queued, taken by the writer, finished. */
typedef struct {
  JobRun run;
  gpointer request;
  NatterServerStoreDone done;
  gpointer user_data;
  GError *error;
} Job;

struct _NatterServerSqliteStore {
  GObject parent_instance;

  NatterServerDb *db;          /* the main thread's connection */
  NatterServerDb *writer_db;   /* the writer thread's; NULL in memory */
  NatterStoreQueries *queries; /* on @db, made when first needed */
  GMainContext *context;       /* where the callbacks run */
  GThread *thread;

  GMutex lock;
  GCond changed;
  GQueue queued;   /* Job, waiting for the writer */
  GQueue finished; /* Job, stored or failed, waiting for their callback */
  guint n_running; /* jobs the writer took and has not finished */
  /* Attached to the main context, each holding a reference to the store:
   * the callbacks of finished jobs, and (in memory) the next turn. */
  GSource *callbacks_source;
  GSource *turn_source;
  gboolean stopping;
  gboolean closed;
};

static void natter_server_sqlite_store_iface_init (NatterServerStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterServerSqliteStore,
                               natter_server_sqlite_store,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NATTER_TYPE_SERVER_STORE,
                                                      natter_server_sqlite_store_iface_init))

static void
job_free (Job *job)
{
  g_clear_error (&job->error);
  g_free (job);
}

/* One turn: every job in one transaction, committed (and so on disk) before
 * any of them finishes. A failure rolls the whole turn back, and every job
 * of it fails: its sender retries with the same client_msg_id. */
static void
run_turn (NatterServerDb *db, GQueue *jobs)
{
  g_autoptr (GError) error = NULL;
  gboolean stored = natter_server_db_begin (db, &error);

  if (stored) {
    for (GList *l = jobs->head; l != NULL && stored; l = l->next) {
      Job *job = l->data;

      stored = job->run (db, job->request, &error);
    }
    if (stored)
      stored = natter_server_db_commit (db, &error);
    else
      natter_server_db_rollback (db);
  }

  if (stored)
    return;
  for (GList *l = jobs->head; l != NULL; l = l->next) {
    Job *job = l->data;

    job->error = error != NULL
                   ? g_error_copy (error)
                   : g_error_new_literal (NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                                          "database: the transaction failed");
  }
}

/* Main context: the callbacks of everything finished, in request order. */
static void
run_callbacks (NatterServerSqliteStore *self)
{
  GQueue finished = G_QUEUE_INIT;
  Job *job;

  GSource *source;

  g_mutex_lock (&self->lock);
  finished = self->finished;
  g_queue_init (&self->finished);
  source = g_steal_pointer (&self->callbacks_source);
  g_mutex_unlock (&self->lock);

  /* Called directly (a flush) the source has nothing left to do. */
  if (source != NULL) {
    g_source_destroy (source);
    g_source_unref (source);
  }

  while ((job = g_queue_pop_head (&finished)) != NULL) {
    job->done (NATTER_SERVER_STORE (self), job->error, job->user_data);
    job_free (job);
  }
}

static gboolean
on_callbacks_due (gpointer user_data)
{
  run_callbacks (user_data);
  return G_SOURCE_REMOVE;
}

/* With the lock held. Default priority like the sockets, not idle: under
 * load an idle would never run. */
static void
schedule_callbacks_locked (NatterServerSqliteStore *self)
{
  if (self->callbacks_source != NULL)
    return;

  self->callbacks_source = g_idle_source_new ();
  g_source_set_priority (self->callbacks_source, G_PRIORITY_DEFAULT);
  g_source_set_static_name (self->callbacks_source, "natter-store-callbacks");
  g_source_set_callback (self->callbacks_source, on_callbacks_due, g_object_ref (self),
                         g_object_unref);
  g_source_attach (self->callbacks_source, self->context);
}

/* Takes up to one turn of queued jobs into @turn; with the lock held. */
static void
take_turn_locked (NatterServerSqliteStore *self, GQueue *turn)
{
  Job *job;

  while (turn->length < TURN_MAX_JOBS && (job = g_queue_pop_head (&self->queued)) != NULL)
    g_queue_push_tail (turn, job);
  self->n_running = turn->length;
}

static void
finish_turn_locked (NatterServerSqliteStore *self, GQueue *turn)
{
  Job *job;

  while ((job = g_queue_pop_head (turn)) != NULL)
    g_queue_push_tail (&self->finished, job);
  self->n_running = 0;
  schedule_callbacks_locked (self);
  g_cond_broadcast (&self->changed);
}

static gpointer
writer_thread (gpointer data)
{
  NatterServerSqliteStore *self = data;

  g_mutex_lock (&self->lock);
  for (;;) {
    GQueue turn = G_QUEUE_INIT;
    gboolean idle;

    while (g_queue_is_empty (&self->queued) && !self->stopping)
      g_cond_wait (&self->changed, &self->lock);
    if (g_queue_is_empty (&self->queued))
      break;

    take_turn_locked (self, &turn);
    g_mutex_unlock (&self->lock);
    run_turn (self->writer_db, &turn);
    g_mutex_lock (&self->lock);
    finish_turn_locked (self, &turn);
    /* The acks of this turn are on their way: a pause costs least now,
     * and nothing at all when no request waits. */
    idle = g_queue_is_empty (&self->queued);
    g_mutex_unlock (&self->lock);
    natter_server_db_catch_up_wal (self->writer_db, idle);
    g_mutex_lock (&self->lock);
  }
  g_mutex_unlock (&self->lock);

  return NULL;
}

/* In memory, where a second connection would open a second database: the
 * main thread runs each turn. */
static gboolean
on_inline_turn (gpointer user_data)
{
  NatterServerSqliteStore *self = user_data;
  GQueue turn = G_QUEUE_INIT;
  gboolean more;

  g_mutex_lock (&self->lock);
  take_turn_locked (self, &turn);
  g_mutex_unlock (&self->lock);

  if (turn.length > 0)
    run_turn (self->db, &turn);

  g_mutex_lock (&self->lock);
  finish_turn_locked (self, &turn);
  more = !g_queue_is_empty (&self->queued);
  g_mutex_unlock (&self->lock);

  if (!more && self->turn_source != NULL) {
    /* Done: also when a flush called this directly. */
    g_source_destroy (self->turn_source);
    g_clear_pointer (&self->turn_source, g_source_unref);
  }

  return more ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
enqueue (NatterServerSqliteStore *self,
         JobRun run,
         gpointer request,
         NatterServerStoreDone done,
         gpointer user_data)
{
  Job *job = g_new0 (Job, 1);
  gboolean start_inline_turn;

  job->run = run;
  job->request = request;
  job->done = done;
  job->user_data = user_data;

  g_mutex_lock (&self->lock);
  if (self->closed) {
    job->error = g_error_new_literal (NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                                      "database: closed");
    g_queue_push_tail (&self->finished, job);
    schedule_callbacks_locked (self);
    g_mutex_unlock (&self->lock);
    return;
  }
  start_inline_turn = self->thread == NULL && g_queue_is_empty (&self->queued);
  g_queue_push_tail (&self->queued, job);
  g_cond_broadcast (&self->changed);
  g_mutex_unlock (&self->lock);

  if (start_inline_turn && self->turn_source == NULL) {
    self->turn_source = g_idle_source_new ();
    g_source_set_priority (self->turn_source, G_PRIORITY_DEFAULT);
    g_source_set_static_name (self->turn_source, "natter-store-turn");
    g_source_set_callback (self->turn_source, on_inline_turn, g_object_ref (self), g_object_unref);
    g_source_attach (self->turn_source, self->context);
  }
}

/* The writer's side of each request. */

static gboolean
store_chat_message (NatterServerDb *db, NatterStoreChatMessage *request, GError **error)
{
  g_autoptr (NatterFrame) event = NULL;
  g_autofree gint64 *event_ids = NULL;
  guint n = request->participants->len;
  gint64 expected_sender_event_id;

  /* A retry after a reconnect, also one queued behind the first copy:
   * same ack, no second copy, no second event. */
  request->message =
    natter_server_db_find_message_by_client_id (db, request->sender, request->client_msg_id);
  if (request->message != NULL) {
    request->duplicate = TRUE;
    request->sender_event_id =
      natter_server_db_get_sender_event_id (db, request->message->message_id);
    return natter_server_db_fill_attachments (db, request->message, error);
  }

  if (request->conversation_id == 0) {
    request->conversation_id = natter_server_db_ensure_direct_created (
      db, request->sender, request->to_profile, &request->created, error);
    if (request->conversation_id == 0)
      return FALSE;
  }

  /* The sender's own event comes next in its history (the writer holds
   * every profile's last event id): stored with the message, no UPDATE
   * after the events. The hub checked the attachments; linking them fails
   * the transaction if another message took one meanwhile (its sender then
   * retries and is told). */
  expected_sender_event_id = natter_server_db_get_last_event_id (db, request->sender) + 1;
  request->message = natter_server_db_add_message_with_sender_event (
    db, request->conversation_id, request->sender, request->text, request->client_msg_id,
    expected_sender_event_id, error);
  if (request->message == NULL ||
      !natter_server_db_link_attachments (db, request->message, request->attachment_ids, error))
    return FALSE;

  /* One frame, its event_id changed for each participant; the message in
   * it serialized once, for the events and the sender's ack. */
  event = natter_frame_new (NATTER_FRAME_CHAT_MESSAGE);
  natter_store_stamp_sender (event, request->sender);
  request->message_json = natter_message_to_json (request->message);
  request->event_texts = g_ptr_array_new_full (n, g_free);
  event_ids = g_new0 (gint64, n);
  if (!natter_server_db_add_message_events (db, request->participants, event, request->message_json,
                                            request->event_texts, event_ids, error))
    return FALSE;
  for (guint i = 0; i < n; i++) {
    if (natter_profile_equal (g_ptr_array_index (request->participants, i), request->sender))
      request->sender_event_id = event_ids[i];
  }

  /* Not the id guessed above (the sender is no participant): set it. */
  if (request->sender_event_id != expected_sender_event_id &&
      !natter_server_db_set_sender_event_id (db, request->message->message_id,
                                             request->sender_event_id, error))
    return FALSE;
  return natter_server_db_set_took_part (db, request->conversation_id, request->sender,
                                         &request->took_part, error);
}

static gboolean
run_chat_messages (NatterServerDb *db, gpointer request, GError **error)
{
  GPtrArray *messages = request;

  for (guint i = 0; i < messages->len; i++) {
    if (!store_chat_message (db, g_ptr_array_index (messages, i), error))
      return FALSE;
  }

  return TRUE;
}

static gboolean
run_mark_read (NatterServerDb *db, gpointer request, GError **error)
{
  NatterStoreReadMark *mark = request;

  mark->event_texts = g_ptr_array_new_full (mark->participants->len, g_free);

  /* A mark_read that does not move the position stores and sends nothing:
   * a client repeating one must not fill everyone's event history. */
  if (mark->up_to_seq <= natter_server_db_get_read_seq (db, mark->conversation_id, mark->reader))
    return TRUE;
  if (!natter_server_db_mark_read (db, mark->conversation_id, mark->reader, mark->up_to_seq,
                                   &mark->stored_up_to_seq, error))
    return FALSE;

  for (guint i = 0; i < mark->participants->len; i++) {
    g_autoptr (NatterFrame) receipt = natter_frame_new (NATTER_FRAME_READ_RECEIPT);
    char *text = NULL;

    receipt->conversation_id = mark->conversation_id;
    receipt->profile = natter_profile_copy (mark->reader);
    receipt->up_to_seq = mark->stored_up_to_seq;
    natter_store_stamp_sender (receipt, mark->reader);
    if (natter_server_db_add_event_with_json (db, g_ptr_array_index (mark->participants, i),
                                              receipt, &text, error) == 0)
      return FALSE;
    g_ptr_array_add (mark->event_texts, text);
  }

  return TRUE;
}

static gboolean
run_add_event (NatterServerDb *db, gpointer request, GError **error)
{
  NatterStoreEvent *event = request;
  gint64 replace_event_id = event->replace_event_id;

  /* The request this one replaces ran before on this thread: its id is set. */
  if (event->replaces != NULL) {
    replace_event_id = event->replaces->event_id;
    g_clear_pointer (&event->replaces, natter_store_event_unref);
  }
  if (replace_event_id > 0 &&
      !natter_server_db_delete_event (db, event->profile, replace_event_id, error))
    return FALSE;

  g_clear_pointer (&event->text, g_free);
  event->event_id =
    natter_server_db_add_event_with_json (db, event->profile, event->frame, &event->text, error);

  return event->event_id != 0;
}

static void
natter_server_sqlite_store_store_chat_messages (NatterServerStore *store,
                                                GPtrArray *messages,
                                                NatterServerStoreDone done,
                                                gpointer user_data)
{
  enqueue (NATTER_SERVER_SQLITE_STORE (store), run_chat_messages, messages, done, user_data);
}

static void
natter_server_sqlite_store_mark_read (NatterServerStore *store,
                                      NatterStoreReadMark *mark,
                                      NatterServerStoreDone done,
                                      gpointer user_data)
{
  enqueue (NATTER_SERVER_SQLITE_STORE (store), run_mark_read, mark, done, user_data);
}

static void
natter_server_sqlite_store_add_event (NatterServerStore *store,
                                      NatterStoreEvent *event,
                                      NatterServerStoreDone done,
                                      gpointer user_data)
{
  enqueue (NATTER_SERVER_SQLITE_STORE (store), run_add_event, event, done, user_data);
}

static void
natter_server_sqlite_store_flush (NatterServerStore *store)
{
  NatterServerSqliteStore *self = NATTER_SERVER_SQLITE_STORE (store);

  if (self->thread == NULL) {
    while (on_inline_turn (self) == G_SOURCE_CONTINUE)
      ;
  } else {
    g_mutex_lock (&self->lock);
    while (!g_queue_is_empty (&self->queued) || self->n_running > 0)
      g_cond_wait (&self->changed, &self->lock);
    g_mutex_unlock (&self->lock);
  }

  run_callbacks (self);
}

/* Reads: on the main thread's connection, answered in a later iteration
 * (GTask); SQLite reads are local and short. */

static void
natter_server_sqlite_store_authenticate (NatterServerStore *store,
                                         const char *token_hash_hex,
                                         gint64 now_unix,
                                         const NatterProfile *profile,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data)
{
  NatterServerSqliteStore *self = NATTER_SERVER_SQLITE_STORE (store);
  g_autoptr (GTask) task = natter_server_store_read_task_new (
    store, natter_server_sqlite_store_authenticate, callback, user_data);
  g_autoptr (NatterStoreAuth) auth = g_new0 (NatterStoreAuth, 1);
  GError *error = NULL;

  if (!natter_server_db_lookup_token (self->db, token_hash_hex, now_unix, &auth->user_id,
                                      &auth->token_id, &error)) {
    g_task_return_error (task, error);
    return;
  }
  if (natter_server_db_get_profile_owner (self->db, profile->profile_id, profile->profile_type) ==
      auth->user_id) {
    auth->profile =
      natter_server_db_get_profile (self->db, profile->profile_id, profile->profile_type, &error);
    if (auth->profile == NULL) {
      g_task_return_error (task, error);
      return;
    }
  }
  g_task_return_pointer (task, g_steal_pointer (&auth), (GDestroyNotify) natter_store_auth_free);
}

static void
natter_server_sqlite_store_list_participants (NatterServerStore *store,
                                              gint64 conversation_id,
                                              GAsyncReadyCallback callback,
                                              gpointer user_data)
{
  NatterServerSqliteStore *self = NATTER_SERVER_SQLITE_STORE (store);
  g_autoptr (GTask) task = natter_server_store_read_task_new (
    store, natter_server_sqlite_store_list_participants, callback, user_data);
  GError *error = NULL;
  GPtrArray *participants = natter_server_db_list_participants (self->db, conversation_id, &error);

  if (participants == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, participants, (GDestroyNotify) g_ptr_array_unref);
}

static void
natter_server_sqlite_store_resolve_direct (NatterServerStore *store,
                                           const NatterProfile *sender,
                                           const NatterProfile *to,
                                           GAsyncReadyCallback callback,
                                           gpointer user_data)
{
  NatterServerSqliteStore *self = NATTER_SERVER_SQLITE_STORE (store);
  g_autoptr (GTask) task = natter_server_store_read_task_new (
    store, natter_server_sqlite_store_resolve_direct, callback, user_data);
  g_autoptr (NatterStoreDirect) direct = g_new0 (NatterStoreDirect, 1);
  GError *error = NULL;

  direct->blocked = natter_server_db_is_blocked_either (self->db, sender, to);
  if (!direct->blocked) {
    direct->conversation_id = natter_server_db_find_direct (self->db, sender, to);
    if (direct->conversation_id == 0) {
      direct->to =
        natter_server_db_get_profile (self->db, to->profile_id, to->profile_type, &error);
      if (direct->to == NULL) {
        g_task_return_error (task, error);
        return;
      }
    }
  }
  g_task_return_pointer (task, g_steal_pointer (&direct),
                         (GDestroyNotify) natter_store_direct_free);
}

static void
natter_server_sqlite_store_replay (NatterServerStore *store,
                                   const NatterProfile *profile,
                                   gint64 after_event_id,
                                   guint limit,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  NatterServerSqliteStore *self = NATTER_SERVER_SQLITE_STORE (store);
  g_autoptr (GTask) task = natter_server_store_read_task_new (
    store, natter_server_sqlite_store_replay, callback, user_data);
  g_autoptr (NatterStoreReplay) replay = g_new0 (NatterStoreReplay, 1);
  GError *error = NULL;

  /* The last id first: a later commit only adds events after it. */
  replay->last_event_id = natter_server_db_get_last_event_id (self->db, profile);
  replay->epoch = g_strdup (natter_server_db_get_epoch (self->db));
  replay->events = natter_server_db_list_events_after (self->db, profile, MAX (after_event_id, 0),
                                                       limit, &replay->truncated, &error);
  if (replay->events == NULL) {
    g_task_return_error (task, error);
    return;
  }
  g_task_return_pointer (task, g_steal_pointer (&replay),
                         (GDestroyNotify) natter_store_replay_free);
}

/* The HTTP API's queries: on the main thread's connection too, as the
 * reads above. */
static void
natter_server_sqlite_store_query (NatterServerStore *store,
                                  NatterStoreQueryFunc func,
                                  gpointer data,
                                  GDestroyNotify data_free,
                                  GDestroyNotify result_free,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  NatterServerSqliteStore *self = NATTER_SERVER_SQLITE_STORE (store);
  GTask *task = natter_server_store_read_task_new (store, natter_server_sqlite_store_query,
                                                   callback, user_data);

  if (self->queries == NULL)
    self->queries = natter_store_queries_sqlite_new (self->db);
  natter_server_store_query_run (task, self->queries, func, data, data_free, result_free);
}

static void
natter_server_sqlite_store_iface_init (NatterServerStoreInterface *iface)
{
  iface->query = natter_server_sqlite_store_query;
  iface->authenticate = natter_server_sqlite_store_authenticate;
  iface->list_participants = natter_server_sqlite_store_list_participants;
  iface->resolve_direct = natter_server_sqlite_store_resolve_direct;
  iface->replay = natter_server_sqlite_store_replay;
  iface->store_chat_messages = natter_server_sqlite_store_store_chat_messages;
  iface->mark_read = natter_server_sqlite_store_mark_read;
  iface->add_event = natter_server_sqlite_store_add_event;
  iface->flush = natter_server_sqlite_store_flush;
}

static void
natter_server_sqlite_store_dispose (GObject *object)
{
  NatterServerSqliteStore *self = NATTER_SERVER_SQLITE_STORE (object);

  if (!self->closed)
    natter_server_sqlite_store_close (self);

  G_OBJECT_CLASS (natter_server_sqlite_store_parent_class)->dispose (object);
}

static void
natter_server_sqlite_store_finalize (GObject *object)
{
  NatterServerSqliteStore *self = NATTER_SERVER_SQLITE_STORE (object);

  /* Every scheduled turn and callback holds a reference: nothing is left. */
  g_assert (self->thread == NULL);
  g_assert (g_queue_is_empty (&self->queued) && g_queue_is_empty (&self->finished));

  g_clear_object (&self->writer_db);
  g_clear_pointer (&self->queries, natter_store_queries_free);
  g_clear_object (&self->db);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->changed);

  G_OBJECT_CLASS (natter_server_sqlite_store_parent_class)->finalize (object);
}

static void
natter_server_sqlite_store_class_init (NatterServerSqliteStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = natter_server_sqlite_store_dispose;
  G_OBJECT_CLASS (klass)->finalize = natter_server_sqlite_store_finalize;
}

static void
natter_server_sqlite_store_init (NatterServerSqliteStore *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->changed);
  g_queue_init (&self->queued);
  g_queue_init (&self->finished);
}

/**
 * natter_server_sqlite_store_new:
 * @db: the open database
 * @error: a #NatterServerDbError
 *
 * Returns: (transfer full) (nullable): the store, its writer running
 */
NatterServerSqliteStore *
natter_server_sqlite_store_new (NatterServerDb *db, GError **error)
{
  g_autoptr (NatterServerSqliteStore) self = NULL;
  const char *path;

  g_return_val_if_fail (NATTER_IS_SERVER_DB (db), NULL);

  self = g_object_new (NATTER_TYPE_SERVER_SQLITE_STORE, NULL);
  self->db = g_object_ref (db);
  self->context = g_main_context_ref_thread_default ();

  path = db->handle != NULL ? sqlite3_db_filename (db->handle, "main") : NULL;
  if (path == NULL || *path == '\0')
    return g_steal_pointer (&self);

  self->writer_db = natter_server_db_open (path, error);
  if (self->writer_db == NULL)
    return NULL;
  natter_server_db_defer_wal_catch_up (self->writer_db);
  /* From now on only the writer adds events. */
  db->events_written_elsewhere = TRUE;
  self->thread = g_thread_new ("natter-store", writer_thread, self);

  return g_steal_pointer (&self);
}

void
natter_server_sqlite_store_close (NatterServerSqliteStore *self)
{
  g_return_if_fail (NATTER_IS_SERVER_SQLITE_STORE (self));

  natter_server_store_flush (NATTER_SERVER_STORE (self));

  g_mutex_lock (&self->lock);
  self->closed = TRUE;
  self->stopping = TRUE;
  g_cond_broadcast (&self->changed);
  g_mutex_unlock (&self->lock);

  g_clear_pointer (&self->thread, g_thread_join);
  if (self->writer_db != NULL)
    natter_server_db_close (self->writer_db);
  run_callbacks (self);
}
