/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-pg-connection"

#include "natter-pg-connection.h"

/* One PostgreSQL connection on the main context, never blocking: libpq's
 * non-blocking connect and pipeline mode on a GSource over PQsocket().
 * Queries go out as soon as they are made, each with its own sync point
 * (an error fails that query alone), and their results come back in order.
 * A lost connection fails the queries it had sent (their outcome is
 * unknown to us) and is made again with backoff; queries not sent yet
 * wait for it, and fail if connecting fails. */

#define DEFAULT_BACKOFF_MIN_MS 100
#define DEFAULT_BACKOFF_MAX_MS 5000

enum { PROP_0, PROP_STATE, N_PROPS };

static GParamSpec *properties[N_PROPS];

typedef struct {
  char *sql;
  int n_params;
  char **params;
  GTask *task;
  PGresult *result;
} PgQuery;

struct _NatterPgConnection {
  GObject parent_instance;

  char *conninfo;
  guint backoff_min_ms;
  guint backoff_max_ms;

  NatterPgConnectionState state;
  PGconn *conn;
  GSource *source;
  gpointer fd_tag;
  int fd;
  /* Made but not sent, and sent but not answered, oldest first. */
  GQueue waiting;
  GQueue sent;
  guint max_in_flight;
  guint attempts;
  guint reconnect_id;
  gboolean started;
  gboolean fail_fast;
};

G_DEFINE_FINAL_TYPE (NatterPgConnection, natter_pg_connection, G_TYPE_OBJECT)

static void connect_now (NatterPgConnection *self);
static void on_socket_ready (NatterPgConnection *self, GIOCondition revents);

typedef struct {
  GSource source;
  NatterPgConnection *connection;
} PgSource;

static gboolean
pg_source_dispatch (GSource *gsource, GSourceFunc callback, gpointer user_data)
{
  PgSource *source = (PgSource *) gsource;
  /* A query's callback may drop the last other reference. */
  g_autoptr (NatterPgConnection) self = g_object_ref (source->connection);

  on_socket_ready (self, g_source_query_unix_fd (gsource, self->fd_tag));

  return G_SOURCE_CONTINUE;
}

static GSourceFuncs pg_source_funcs = {
  .dispatch = pg_source_dispatch,
};

static void
pg_query_free (PgQuery *query)
{
  g_free (query->sql);
  for (int i = 0; i < query->n_params; i++)
    g_free (query->params[i]);
  g_free (query->params);
  g_clear_pointer (&query->result, PQclear);
  g_clear_object (&query->task);
  g_free (query);
}

static void
fail_query (PgQuery *query, GIOErrorEnum code, const char *message)
{
  g_task_return_new_error (query->task, G_IO_ERROR, code, "%s", message);
  pg_query_free (query);
}

/* Empties @queue first: a callback may make new queries. */
static void
fail_queue (GQueue *queue, GIOErrorEnum code, const char *message)
{
  GQueue failed = *queue;
  PgQuery *query;

  g_queue_init (queue);
  while ((query = g_queue_pop_head (&failed)) != NULL)
    fail_query (query, code, message);
}

static void
set_state (NatterPgConnection *self, NatterPgConnectionState state)
{
  if (self->state == state)
    return;

  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

/* Watches @events on the connection's socket, which libpq may replace
 * while connecting. */
static void
watch (NatterPgConnection *self, GIOCondition events)
{
  int fd = PQsocket (self->conn);

  if (self->source == NULL) {
    self->source = g_source_new (&pg_source_funcs, sizeof (PgSource));
    ((PgSource *) self->source)->connection = self;
    g_source_set_static_name (self->source, "natter-pg");
    g_source_attach (self->source, g_main_context_get_thread_default ());
  }
  if (self->fd_tag != NULL && fd != self->fd) {
    g_source_remove_unix_fd (self->source, self->fd_tag);
    self->fd_tag = NULL;
  }
  if (self->fd_tag == NULL) {
    self->fd = fd;
    self->fd_tag = g_source_add_unix_fd (self->source, fd, events);
  } else {
    g_source_modify_unix_fd (self->source, self->fd_tag, events);
  }
}

static void
close_connection (NatterPgConnection *self)
{
  if (self->source != NULL) {
    g_source_destroy (self->source);
    g_clear_pointer (&self->source, g_source_unref);
  }
  self->fd_tag = NULL;
  self->fd = -1;
  g_clear_pointer (&self->conn, PQfinish);
}

static gboolean
on_reconnect_due (gpointer user_data)
{
  g_autoptr (NatterPgConnection) self = g_object_ref (user_data);

  self->reconnect_id = 0;
  connect_now (self);

  return G_SOURCE_REMOVE;
}

/* Exponential backoff with jitter. */
static guint
next_delay_ms (NatterPgConnection *self)
{
  guint shift = MIN (self->attempts, 16);
  guint64 delay = MIN ((guint64) self->backoff_min_ms << shift, (guint64) self->backoff_max_ms);

  self->attempts++;

  return (guint) delay / 2 + (guint) g_random_int_range (0, (gint32) MAX (delay / 2, 1));
}

static void
connection_lost (NatterPgConnection *self, const char *reason)
{
  g_autofree char *message = g_strstrip (g_strdup (reason));
  gboolean was_ready = self->state == NATTER_PG_CONNECTION_READY;

  close_connection (self);
  if (was_ready)
    g_message ("connection to PostgreSQL lost: %s", message);
  else
    g_debug ("cannot connect to PostgreSQL: %s", message);
  set_state (self, NATTER_PG_CONNECTION_DISCONNECTED);
  fail_queue (&self->sent, G_IO_ERROR_CONNECTION_CLOSED, message);
  /* Unsent queries wait for a connection that was there; not for one that
   * cannot be made, nor when they must not outlive theirs (fail_fast). */
  if (!was_ready || self->fail_fast)
    fail_queue (&self->waiting, G_IO_ERROR_NOT_CONNECTED, message);
  if (self->started && self->reconnect_id == 0)
    self->reconnect_id = g_timeout_add (next_delay_ms (self), on_reconnect_due, self);
}

/* Sends what libpq holds; watches for writability while some is left. */
static gboolean
flush (NatterPgConnection *self)
{
  int pending = PQflush (self->conn);

  if (pending < 0) {
    connection_lost (self, PQerrorMessage (self->conn));
    return FALSE;
  }
  watch (self, pending > 0 ? G_IO_IN | G_IO_OUT : G_IO_IN);

  return TRUE;
}

static void
send_waiting (NatterPgConnection *self)
{
  PgQuery *query;

  if (self->state != NATTER_PG_CONNECTION_READY)
    return;

  while ((query = g_queue_pop_head (&self->waiting)) != NULL) {
    if (!PQsendQueryParams (self->conn, query->sql, query->n_params, NULL,
                            (const char *const *) query->params, NULL, NULL, 0) ||
        !PQpipelineSync (self->conn)) {
      g_queue_push_head (&self->waiting, query);
      connection_lost (self, PQerrorMessage (self->conn));
      return;
    }
    g_queue_push_tail (&self->sent, query);
  }
  self->max_in_flight = MAX (self->max_in_flight, self->sent.length);
  flush (self);
}

static void
complete_query (PgQuery *query)
{
  PGresult *result = g_steal_pointer (&query->result);
  ExecStatusType status = result != NULL ? PQresultStatus (result) : PGRES_FATAL_ERROR;

  if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
    g_task_return_pointer (query->task, result, (GDestroyNotify) PQclear);
  } else {
    const char *sqlstate = result != NULL ? PQresultErrorField (result, PG_DIAG_SQLSTATE) : NULL;
    g_autofree char *message =
      g_strstrip (g_strdup (result != NULL ? PQresultErrorMessage (result) : "no result"));

    g_task_return_new_error (query->task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s%s%s",
                             sqlstate != NULL ? sqlstate : "", sqlstate != NULL ? ": " : "",
                             message);
    g_clear_pointer (&result, PQclear);
  }
  pg_query_free (query);
}

/* Takes every result libpq has whole; each query ends with its sync. */
static void
read_results (NatterPgConnection *self)
{
  gboolean idle = FALSE;

  while (self->conn != NULL && !g_queue_is_empty (&self->sent) && !PQisBusy (self->conn)) {
    PGresult *result = PQgetResult (self->conn);
    PgQuery *head = g_queue_peek_head (&self->sent);

    if (result == NULL) {
      /* The end of one query's results; twice in a row: nothing more yet. */
      if (idle)
        break;
      idle = TRUE;
      continue;
    }
    idle = FALSE;
    if (PQresultStatus (result) == PGRES_PIPELINE_SYNC) {
      PQclear (result);
      complete_query (g_queue_pop_head (&self->sent));
    } else if (head->result == NULL) {
      head->result = result;
    } else {
      PQclear (result);
    }
  }
}

static void
poll_connect (NatterPgConnection *self)
{
  switch (PQconnectPoll (self->conn)) {
    case PGRES_POLLING_READING:
      watch (self, G_IO_IN);
      break;
    case PGRES_POLLING_WRITING:
      watch (self, G_IO_OUT);
      break;
    case PGRES_POLLING_OK:
      if (PQsetnonblocking (self->conn, 1) != 0 || !PQenterPipelineMode (self->conn)) {
        connection_lost (self, PQerrorMessage (self->conn));
        return;
      }
      self->attempts = 0;
      g_debug ("connected to PostgreSQL");
      set_state (self, NATTER_PG_CONNECTION_READY);
      watch (self, G_IO_IN);
      send_waiting (self);
      break;
    case PGRES_POLLING_FAILED:
    default:
      connection_lost (self, PQerrorMessage (self->conn));
      break;
  }
}

static void
on_socket_ready (NatterPgConnection *self, GIOCondition revents)
{
  if (self->state == NATTER_PG_CONNECTION_CONNECTING) {
    poll_connect (self);
    return;
  }

  if ((revents & G_IO_OUT) != 0 && !flush (self))
    return;
  if ((revents & (G_IO_IN | G_IO_HUP | G_IO_ERR)) != 0) {
    if (!PQconsumeInput (self->conn)) {
      connection_lost (self, PQerrorMessage (self->conn));
      return;
    }
    read_results (self);
    if (self->conn != NULL && PQstatus (self->conn) == CONNECTION_BAD)
      connection_lost (self, PQerrorMessage (self->conn));
  }
}

static void
connect_now (NatterPgConnection *self)
{
  self->conn = PQconnectStart (self->conninfo);
  if (self->conn == NULL) {
    connection_lost (self, "out of memory");
    return;
  }
  set_state (self, NATTER_PG_CONNECTION_CONNECTING);
  if (PQstatus (self->conn) == CONNECTION_BAD) {
    connection_lost (self, PQerrorMessage (self->conn));
    return;
  }
  /* libpq's documentation: start as if PQconnectPoll said "writing". */
  watch (self, G_IO_OUT);
}

static void
natter_pg_connection_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterPgConnection *self = NATTER_PG_CONNECTION (object);

  switch (prop_id) {
    case PROP_STATE:
      g_value_set_int (value, self->state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_pg_connection_dispose (GObject *object)
{
  NatterPgConnection *self = NATTER_PG_CONNECTION (object);

  /* Every query holds a reference: nothing is pending here. */
  self->started = FALSE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  close_connection (self);

  G_OBJECT_CLASS (natter_pg_connection_parent_class)->dispose (object);
}

static void
natter_pg_connection_finalize (GObject *object)
{
  NatterPgConnection *self = NATTER_PG_CONNECTION (object);

  g_free (self->conninfo);

  G_OBJECT_CLASS (natter_pg_connection_parent_class)->finalize (object);
}

static void
natter_pg_connection_class_init (NatterPgConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_pg_connection_get_property;
  object_class->dispose = natter_pg_connection_dispose;
  object_class->finalize = natter_pg_connection_finalize;

  /**
   * NatterPgConnection:state:
   *
   * A #NatterPgConnectionState.
   */
  properties[PROP_STATE] =
    g_param_spec_int ("state", NULL, NULL, NATTER_PG_CONNECTION_DISCONNECTED,
                      NATTER_PG_CONNECTION_READY, NATTER_PG_CONNECTION_DISCONNECTED,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_pg_connection_init (NatterPgConnection *self)
{
  self->fd = -1;
  self->backoff_min_ms = DEFAULT_BACKOFF_MIN_MS;
  self->backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
  g_queue_init (&self->waiting);
  g_queue_init (&self->sent);
}

/**
 * natter_pg_connection_new:
 * @conninfo: libpq's connection string or `postgresql://` URI
 *
 * Returns: (transfer full): a connection, not connecting yet
 */
NatterPgConnection *
natter_pg_connection_new (const char *conninfo)
{
  NatterPgConnection *self;

  g_return_val_if_fail (conninfo != NULL, NULL);

  self = g_object_new (NATTER_TYPE_PG_CONNECTION, NULL);
  self->conninfo = g_strdup (conninfo);

  return self;
}

/**
 * natter_pg_connection_set_backoff:
 * @self: a connection
 * @min_ms: the first wait before reconnecting
 * @max_ms: the longest wait; each failed attempt doubles the wait up to it
 */
void
natter_pg_connection_set_backoff (NatterPgConnection *self, guint min_ms, guint max_ms)
{
  g_return_if_fail (NATTER_IS_PG_CONNECTION (self));
  g_return_if_fail (min_ms > 0 && min_ms <= max_ms);

  self->backoff_min_ms = min_ms;
  self->backoff_max_ms = max_ms;
}

/**
 * natter_pg_connection_set_fail_fast:
 * @self: a connection
 * @fail_fast: whether queries stay on the connection they were made for
 *
 * For a user whose queries belong together (a transaction sent as several
 * queries): a lost connection fails every query made before the loss, sent
 * or not, and a query made while disconnected fails at once instead of
 * waiting. So no part of a transaction runs on the next connection, outside
 * its BEGIN. Queries made while connecting still wait for the connection.
 */
void
natter_pg_connection_set_fail_fast (NatterPgConnection *self, gboolean fail_fast)
{
  g_return_if_fail (NATTER_IS_PG_CONNECTION (self));

  self->fail_fast = fail_fast;
}

/**
 * natter_pg_connection_start:
 * @self: a connection
 *
 * Connects, and keeps reconnecting until disposed.
 */
void
natter_pg_connection_start (NatterPgConnection *self)
{
  g_return_if_fail (NATTER_IS_PG_CONNECTION (self));

  if (self->started)
    return;
  self->started = TRUE;
  connect_now (self);
}

NatterPgConnectionState
natter_pg_connection_get_state (NatterPgConnection *self)
{
  g_return_val_if_fail (NATTER_IS_PG_CONNECTION (self), NATTER_PG_CONNECTION_DISCONNECTED);

  return self->state;
}

/**
 * natter_pg_connection_get_max_in_flight:
 * @self: a connection
 *
 * Returns: the most queries that were sent and not answered at once: above
 *   1 when the pipeline carried several
 */
guint
natter_pg_connection_get_max_in_flight (NatterPgConnection *self)
{
  g_return_val_if_fail (NATTER_IS_PG_CONNECTION (self), 0);

  return self->max_in_flight;
}

/**
 * natter_pg_connection_query:
 * @self: a started connection
 * @sql: one statement, parameters as `$1`, `$2`…
 * @n_params: the number of parameters
 * @params: (array length=n_params) (nullable): their values as text, %NULL
 *   for SQL NULL
 * @callback: called on the main context with the result
 * @user_data: for @callback
 *
 * Sends the query at once if connected (several queries share the
 * pipeline), else when the connection is made.
 */
void
natter_pg_connection_query (NatterPgConnection *self,
                            const char *sql,
                            int n_params,
                            const char *const *params,
                            GAsyncReadyCallback callback,
                            gpointer user_data)
{
  PgQuery *query;

  g_return_if_fail (NATTER_IS_PG_CONNECTION (self));
  g_return_if_fail (sql != NULL);
  g_return_if_fail (n_params >= 0 && (n_params == 0 || params != NULL));

  query = g_new0 (PgQuery, 1);
  query->task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (query->task, natter_pg_connection_query);
  query->sql = g_strdup (sql);
  query->n_params = n_params;
  query->params = g_new0 (char *, MAX (n_params, 1));
  for (int i = 0; i < n_params; i++)
    query->params[i] = g_strdup (params[i]);

  g_queue_push_tail (&self->waiting, query);
  if (self->state == NATTER_PG_CONNECTION_READY)
    send_waiting (self);
  else if (!self->started)
    fail_queue (&self->waiting, G_IO_ERROR_NOT_CONNECTED, "the connection is not started");
  else if (self->fail_fast && self->state == NATTER_PG_CONNECTION_DISCONNECTED)
    fail_queue (&self->waiting, G_IO_ERROR_NOT_CONNECTED, "the connection was lost");
}

/**
 * natter_pg_connection_query_finish:
 * @self: a connection
 * @result: the result passed to the callback
 * @error: the server's error (SQLSTATE first), or a lost connection
 *   (#G_IO_ERROR_CONNECTION_CLOSED: the query may or may not have run)
 *
 * Returns: (transfer full) (nullable): the rows or command status
 */
PGresult *
natter_pg_connection_query_finish (NatterPgConnection *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
