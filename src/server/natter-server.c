/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server"

#include "config.h"

#include <glib-unix.h>
#include <locale.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "natter-http-api.h"
#include "natter-http-body.h"
#include "natter-local-bus.h"
#include "natter-password.h"
#include "natter-protocol.h"
#include "natter-request-guard.h"
#ifdef NATTER_HAVE_LIBPQ
#include "natter-server-pg-queries.h"
#include "natter-server-pg-store.h"
#endif
#include "natter-server-sqlite-store.h"
#include "natter-server.h"
#ifdef NATTER_HAVE_HIREDIS
#include "natter-redis-bus.h"
#endif

#define DEMO_PASSWORD "natter-demo"
/* How long PostgreSQL may take to answer and migrate at start-up. */
#define PG_START_S 15

struct _NatterServer {
  GObject parent_instance;

  NatterServerConfig *config;
  NatterServerDb *db;           /* SQLite only */
  NatterServerStore *store;     /* SQLite or PostgreSQL */
  NatterStoreQueries *start_up; /* the store's, for the start-up's work */
  NatterMetrics *metrics;
  NatterHub *hub;
  NatterHttpApi *api;
  NatterRequestGuard *guard;
  NatterHttpAttachments *attachments;
  SoupServer *soup_server;
  SoupServer *metrics_server; /* NULL without --metrics-listen */
  guint port;
  guint token_sweep_id;
  gboolean tls;
  gboolean shutting_down;
};

G_DEFINE_FINAL_TYPE (NatterServer, natter_server, G_TYPE_OBJECT)

typedef struct {
  const char *email;
  const char *name;
  const char *profile_type;
} DemoAccount;

static const DemoAccount demo_accounts[] = {
  { "abebe@demo.natter", "Abebe Kebede", "tutor" },
  { "selam@demo.natter", "Selam Tesfaye", "student" },
  { "hanna@demo.natter", "Hanna Girma", "parent" },
};

static const struct {
  guint from; /* index into demo_accounts */
  guint to;
  const char *text;
} demo_messages[] = {
  { 0, 1, "Hi Selam, ready for Thursday's algebra session?" },
  { 1, 0, "Yes! I finished the exercises on quadratic equations." },
  { 0, 1, "Great. Bring the ones you found hard and we'll go through them." },
  { 1, 0, "Will do, thank you!" },
  { 2, 0, "Hello Abebe, how is Selam doing in maths?" },
  { 0, 2, "Very well: she is confident with equations now. Let's talk on a call this week." },
};

static gboolean
create_demo_accounts (NatterStoreQueries *queries, GError **error)
{
  NatterProfile *profiles[G_N_ELEMENTS (demo_accounts)] = { NULL };
  gboolean ok = FALSE;

  if (!natter_store_queries_is_empty (queries))
    return TRUE;

  for (guint i = 0; i < G_N_ELEMENTS (demo_accounts); i++) {
    const char *types[] = { demo_accounts[i].profile_type, NULL };
    g_autofree char *hash = natter_password_hash (DEMO_PASSWORD, error);
    g_autoptr (NatterUser) user = NULL;
    gint64 user_id;

    if (hash == NULL ||
        !natter_store_queries_create_user (queries, demo_accounts[i].email, hash,
                                           demo_accounts[i].name, types, &user_id, error))
      goto out;
    user = natter_store_queries_get_user (queries, user_id, error);
    if (user == NULL)
      goto out;
    profiles[i] = natter_profile_copy (g_ptr_array_index (user->profiles, 0));
  }

  for (guint i = 0; i < G_N_ELEMENTS (demo_messages); i++) {
    const NatterProfile *from = profiles[demo_messages[i].from];
    const NatterProfile *to = profiles[demo_messages[i].to];
    g_autoptr (NatterConversation) conversation =
      natter_store_queries_get_or_create_direct (queries, from, to, error);
    g_autoptr (NatterMessage) message = NULL;

    if (conversation == NULL)
      goto out;
    message = natter_store_queries_add_message (queries, conversation->conversation_id, from,
                                                demo_messages[i].text, error);
    if (message == NULL)
      goto out;
  }

  g_printerr ("Demo accounts (password “%s”):\n", DEMO_PASSWORD);
  for (guint i = 0; i < G_N_ELEMENTS (demo_accounts); i++)
    g_printerr ("  %-20s %-8s %s (profile %s %" G_GINT64_FORMAT ")\n", demo_accounts[i].email,
                demo_accounts[i].profile_type, demo_accounts[i].name, profiles[i]->profile_type,
                profiles[i]->profile_id);
  ok = TRUE;

out:
  for (guint i = 0; i < G_N_ELEMENTS (profiles); i++)
    g_clear_pointer (&profiles[i], natter_profile_free);

  return ok;
}

static gpointer
run_prune_tokens (NatterStoreQueries *queries, gpointer data, GError **error)
{
  return natter_store_queries_prune_tokens (queries, g_get_real_time () / G_USEC_PER_SEC, error);
}

static void
on_tokens_pruned (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterServer) self = user_data;
  g_autoptr (GHashTable) pruned = NULL;
  g_autoptr (GError) error = NULL;

  pruned = natter_server_store_query_finish (NATTER_SERVER_STORE (source), result, &error);
  if (pruned == NULL) {
    g_warning ("could not prune the tokens: %s", error->message);
    return;
  }
  if (self->hub != NULL && !self->shutting_down)
    natter_hub_disconnect_tokens (self->hub, pruned);
}

/* Expired and revoked tokens go from the database, and the WebSockets they
 * opened are closed: a connection lives no longer than its token. */
static gboolean
on_token_sweep (gpointer user_data)
{
  NatterServer *self = NATTER_SERVER (user_data);

  natter_server_store_query (self->store, run_prune_tokens, NULL, NULL,
                             (GDestroyNotify) g_hash_table_unref, on_tokens_pruned,
                             g_object_ref (self));
  return G_SOURCE_CONTINUE;
}

static void
natter_server_dispose (GObject *object)
{
  NatterServer *self = NATTER_SERVER (object);

  g_clear_handle_id (&self->token_sweep_id, g_source_remove);
  if (self->soup_server != NULL)
    soup_server_disconnect (self->soup_server);
  if (self->metrics_server != NULL)
    soup_server_disconnect (self->metrics_server);
  g_clear_object (&self->metrics_server);
  g_clear_object (&self->attachments);
  g_clear_object (&self->guard);
  g_clear_object (&self->api);
  g_clear_object (&self->hub);
  g_clear_object (&self->store);
  g_clear_object (&self->soup_server);
  g_clear_object (&self->metrics);
  g_clear_pointer (&self->start_up, natter_store_queries_free);
  g_clear_object (&self->db);

  G_OBJECT_CLASS (natter_server_parent_class)->dispose (object);
}

static void
natter_server_finalize (GObject *object)
{
  NatterServer *self = NATTER_SERVER (object);

  g_clear_pointer (&self->config, natter_server_config_free);

  G_OBJECT_CLASS (natter_server_parent_class)->finalize (object);
}

static void
natter_server_class_init (NatterServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_server_dispose;
  object_class->finalize = natter_server_finalize;
}

static void
natter_server_init (NatterServer *self)
{
}

/* How this node reaches the others: through Redis with --redis, else there
 * are none. */
static NatterServerBus *
create_bus (const NatterServerConfig *config, GError **error)
{
  g_autofree char *node_id =
    config->node_id != NULL ? g_strdup (config->node_id) : natter_server_config_default_node_id ();

#ifdef NATTER_HAVE_HIREDIS
  if (config->redis_uri != NULL) {
    NatterRedisBus *bus = natter_redis_bus_new (config->redis_uri, node_id, error);

    if (bus == NULL)
      return NULL;
    g_message ("node %s: joining the other nodes through %s", node_id, config->redis_uri);
    if (config->node_dead_after_ms > 0)
      natter_redis_bus_set_dead_after (bus, config->node_dead_after_ms);
    natter_redis_bus_start (bus);
    return NATTER_SERVER_BUS (bus);
  }
#endif

  return NATTER_SERVER_BUS (natter_local_bus_new (node_id));
}

/**
 * natter_server_db_is_postgresql:
 * @db: what --db gave
 *
 * Returns: whether @db names a PostgreSQL database (a `postgresql://` or
 *   `postgres://` URI) rather than a SQLite file
 */
gboolean
natter_server_db_is_postgresql (const char *db)
{
  return db != NULL &&
         (g_str_has_prefix (db, "postgresql://") || g_str_has_prefix (db, "postgres://"));
}

/* Stores what is queued and closes the store's connections. */
static void
close_store (NatterServerStore *store)
{
#ifdef NATTER_HAVE_LIBPQ
  if (NATTER_IS_SERVER_PG_STORE (store)) {
    natter_server_pg_store_close (NATTER_SERVER_PG_STORE (store));
    return;
  }
#endif
  natter_server_sqlite_store_close (NATTER_SERVER_SQLITE_STORE (store));
}

static gboolean
on_migration_poll (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/**
 * natter_server_open_store:
 * @db: a SQLite file, or a `postgresql://` URI
 * @out_db: (out) (transfer full): the SQLite database, NULL for PostgreSQL
 * @out_store: (out) (transfer full): the store
 * @out_queries: (out) (transfer full): blocking queries on the same
 *   database, for the start-up's work only (before anything is served)
 * @error: when the database cannot be opened or reached
 *
 * Opens the chosen backend and no other. PostgreSQL must answer and be
 * migrated within PG_START_S seconds: a node that cannot reach it says so
 * at once instead of serving errors.
 */
gboolean
natter_server_open_store (const char *db,
                          NatterServerDb **out_db,
                          NatterServerStore **out_store,
                          NatterStoreQueries **out_queries,
                          GError **error)
{
  *out_db = NULL;
  *out_store = NULL;
  *out_queries = NULL;

  if (natter_server_db_is_postgresql (db)) {
#ifndef NATTER_HAVE_LIBPQ
    g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                 "this natter-server was built without PostgreSQL (libpq)");
    return FALSE;
#else
    g_autoptr (NatterStoreQueries) queries = natter_server_pg_queries_new (db);
    g_autoptr (NatterServerPgStore) store = NULL;
    gint64 deadline = g_get_monotonic_time () + PG_START_S * G_USEC_PER_SEC;
    guint poll_id;

    if (!natter_server_pg_queries_check (queries, error)) {
      g_prefix_error (error, "cannot reach PostgreSQL: ");
      return FALSE;
    }
    /* The store migrates the schema on its own connection, on this
     * context; nothing else runs yet. */
    store = natter_server_pg_store_new (db);
    poll_id = g_timeout_add (50, on_migration_poll, NULL);
    while (natter_server_pg_store_get_schema_version (store) == 0 &&
           g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
    g_source_remove (poll_id);
    if (natter_server_pg_store_get_schema_version (store) == 0) {
      g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                   "PostgreSQL: the schema was not ready after %d s", PG_START_S);
      natter_server_pg_store_close (store);
      return FALSE;
    }
    *out_store = NATTER_SERVER_STORE (g_steal_pointer (&store));
    *out_queries = g_steal_pointer (&queries);
    return TRUE;
#endif
  }

  {
    g_autoptr (NatterServerDb) sqlite = natter_server_db_open (db, error);
    NatterServerSqliteStore *store;

    if (sqlite == NULL)
      return FALSE;
    store = natter_server_sqlite_store_new (sqlite, error);
    if (store == NULL)
      return FALSE;
    *out_queries = natter_store_queries_sqlite_new (sqlite);
    *out_store = NATTER_SERVER_STORE (store);
    *out_db = g_steal_pointer (&sqlite);
    return TRUE;
  }
}

/**
 * natter_server_new:
 * @config: (transfer full): the configuration
 * @error: on failure to open the database or load the TLS certificate
 *
 * Opens and migrates the database, fails the calls a previous run left
 * ringing, creates the demo accounts when asked, and sets up the hub and the
 * HTTP API. Nothing listens until natter_server_listen().
 *
 * Returns: (transfer full) (nullable): the server
 */
NatterServer *
natter_server_new (NatterServerConfig *config, GError **error)
{
  g_autoptr (NatterServer) self = g_object_new (NATTER_TYPE_SERVER, NULL);

  g_return_val_if_fail (config != NULL, NULL);

  self->config = config;
  self->metrics = natter_metrics_new ();

  if (!natter_server_open_store (config->db_path, &self->db, &self->store, &self->start_up, error))
    return NULL;
  /* Among several nodes the others' calls ring on: only this node's own
   * fail, once Redis says which they are (natter-redis-nodes.c). */
  if (config->redis_uri == NULL && !natter_store_queries_fail_stale_calls (self->start_up, error))
    return NULL;
  if (config->demo && !create_demo_accounts (self->start_up, error))
    return NULL;

  self->soup_server = soup_server_new ("server-header", "natter-server/" PACKAGE_VERSION " ", NULL);
  if (config->tls_cert_file != NULL) {
    g_autoptr (GTlsCertificate) certificate =
      g_tls_certificate_new_from_files (config->tls_cert_file, config->tls_key_file, error);

    if (certificate == NULL)
      return NULL;
    soup_server_set_tls_certificate (self->soup_server, certificate);
    self->tls = TRUE;
  }

  self->hub = natter_hub_new (self->store, config, self->metrics);
  {
    g_autoptr (NatterServerBus) bus = create_bus (config, error);

    if (bus == NULL)
      return NULL;
    natter_hub_set_bus (self->hub, bus);
  }
  natter_hub_install (self->hub, self->soup_server);
  self->api = natter_http_api_new (self->store, config, self->metrics, self->hub);
  natter_http_api_install (self->api, self->soup_server);
  self->guard =
    natter_request_guard_new (config, self->metrics, natter_http_api_check_request, self->api);
  natter_request_guard_install (self->guard, self->soup_server);
  /* After the guard: its size check sees an upload's headers first. */
  self->attachments =
    natter_http_attachments_new (self->store, config, self->metrics, self->guard, error);
  if (self->attachments == NULL)
    return NULL;
  natter_http_attachments_install (self->attachments, self->soup_server);
  natter_http_api_set_attachments (self->api, self->attachments);
  if (config->metrics_listen != NULL) {
    self->metrics_server = soup_server_new ("server-header", NULL, NULL);
    natter_http_api_install_metrics (self->api, self->metrics_server);
  }

  /* Often enough that a connection outlives its token by at most half a
   * lifetime, never more than a minute. */
  self->token_sweep_id = g_timeout_add (
    (guint) CLAMP (config->token_lifetime_s * 1000 / 2, 500, 60 * 1000), on_token_sweep, self);

  /* Warm the dummy hash now, so the first login for an unknown email costs
   * no more than any other. */
  natter_password_get_dummy_hash ();

  return g_steal_pointer (&self);
}

/* --metrics-listen ADDR:PORT, plain HTTP: meant for a private network or
 * loopback, never the public address. */
static gboolean
listen_metrics (NatterServer *self, GError **error)
{
  g_autoptr (GSocketConnectable) connectable =
    g_network_address_parse (self->config->metrics_listen, 0, error);
  g_autoptr (GInetAddress) address = NULL;
  g_autoptr (GSocketAddress) socket_address = NULL;

  if (connectable == NULL)
    return FALSE;
  address = g_inet_address_new_from_string (
    g_network_address_get_hostname (G_NETWORK_ADDRESS (connectable)));
  if (address == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "--metrics-listen: “%s” is not ADDR:PORT", self->config->metrics_listen);
    return FALSE;
  }
  socket_address = g_inet_socket_address_new (
    address, g_network_address_get_port (G_NETWORK_ADDRESS (connectable)));

  return soup_server_listen (self->metrics_server, socket_address, 0, error);
}

/**
 * natter_server_listen:
 * @self: the server
 * @error: when the address cannot be bound
 *
 * Starts listening and prints the one stdout line, `listening on URL`.
 *
 * Returns: %TRUE when listening
 */
gboolean
natter_server_listen (NatterServer *self, GError **error)
{
  g_autoptr (GInetAddress) address = NULL;
  g_autoptr (GSocketAddress) socket_address = NULL;
  g_autoptr (GSocketAddress) local = NULL;
  g_autoptr (GSocket) listen_socket = NULL;
  g_autofree char *url = NULL;
  GSList *listeners;

  g_return_val_if_fail (NATTER_IS_SERVER (self), FALSE);

  address = g_inet_address_new_from_string (self->config->listen_address);
  if (address == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "“%s” is not an IP address",
                 self->config->listen_address);
    return FALSE;
  }
  socket_address = g_inet_socket_address_new (address, (guint16) self->config->port);
  /* Our own socket rather than soup_server_listen (): GLib's default
   * backlog of 10 overflows when clients come back together after a
   * restart (SYN retransmits cost them a second each). */
  listen_socket = g_socket_new (g_inet_address_get_family (address), G_SOCKET_TYPE_STREAM,
                                G_SOCKET_PROTOCOL_TCP, error);
  if (listen_socket == NULL)
    return FALSE;
  g_socket_set_listen_backlog (listen_socket, SOMAXCONN);
  if (!g_socket_bind (listen_socket, socket_address, TRUE, error) ||
      !g_socket_listen (listen_socket, error) ||
      !soup_server_listen_socket (self->soup_server, listen_socket,
                                  self->tls ? SOUP_SERVER_LISTEN_HTTPS : 0, error))
    return FALSE;

  listeners = soup_server_get_listeners (self->soup_server);
  if (listeners != NULL)
    local = g_socket_get_local_address (listeners->data, NULL);
  g_slist_free (listeners);
  if (local == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no listening socket");
    return FALSE;
  }
  self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));

  if (self->metrics_server != NULL && !listen_metrics (self, error))
    return FALSE;

  url = natter_server_get_url (self);
  fprintf (stdout, "listening on %s\n", url);
  fflush (stdout);

  return TRUE;
}

/**
 * natter_server_get_url:
 * @self: the server
 *
 * Returns: (transfer full): `http://ADDR:PORT` (https with TLS)
 */
char *
natter_server_get_url (NatterServer *self)
{
  const char *host;
  gboolean ipv6;

  g_return_val_if_fail (NATTER_IS_SERVER (self), NULL);

  host = self->config->listen_address;
  ipv6 = strchr (host, ':') != NULL;

  return g_strdup_printf ("%s://%s%s%s:%u", self->tls ? "https" : "http", ipv6 ? "[" : "", host,
                          ipv6 ? "]" : "", self->port);
}

guint
natter_server_get_port (NatterServer *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER (self), 0);

  return self->port;
}

/**
 * natter_server_get_db:
 * @self: the server
 *
 * Returns: (transfer none): the database
 */
NatterServerDb *
natter_server_get_db (NatterServer *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER (self), NULL);

  return self->db;
}

/**
 * natter_server_get_metrics:
 * @self: the server
 *
 * Returns: (transfer none): the metrics
 */
NatterMetrics *
natter_server_get_metrics (NatterServer *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER (self), NULL);

  return self->metrics;
}

/**
 * natter_server_get_hub:
 * @self: the server
 *
 * Returns: (transfer none): the hub
 */
NatterHub *
natter_server_get_hub (NatterServer *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER (self), NULL);

  return self->hub;
}

/**
 * natter_server_get_soup_server:
 * @self: the server
 *
 * Returns: (transfer none): the HTTP server
 */
SoupServer *
natter_server_get_soup_server (NatterServer *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER (self), NULL);

  return self->soup_server;
}

static void
on_hub_shut_down (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  NatterServer *self = g_task_get_source_object (task);
  g_autoptr (GError) error = NULL;

  if (!natter_hub_shutdown_finish (NATTER_HUB (source), result, &error))
    g_warning ("closing the WebSockets: %s", error->message);

  soup_server_disconnect (self->soup_server);
  if (self->metrics_server != NULL)
    soup_server_disconnect (self->metrics_server);
  close_store (self->store);
  if (self->db != NULL)
    natter_server_db_close (self->db);
  g_task_return_boolean (task, TRUE);
}

/**
 * natter_server_shutdown_async:
 * @self: the server
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when everything is closed
 * @user_data: for @callback
 *
 * Refuses new requests (503), closes every WebSocket with 1001 through the
 * hub, then stops listening and closes the database.
 */
void
natter_server_shutdown_async (NatterServer *self,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (NATTER_IS_SERVER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_server_shutdown_async);

  if (self->shutting_down) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING, "already shutting down");
    return;
  }
  self->shutting_down = TRUE;
  g_clear_handle_id (&self->token_sweep_id, g_source_remove);
  natter_http_api_set_shutting_down (self->api, TRUE);
  natter_hub_shutdown_async (self->hub, cancellable, on_hub_shut_down, g_steal_pointer (&task));
}

gboolean
natter_server_shutdown_finish (NatterServer *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Every log line goes to stderr: stdout carries only the listening line. */
static GLogWriterOutput
log_to_stderr (GLogLevelFlags log_level,
               const GLogField *fields,
               gsize n_fields,
               gpointer user_data)
{
  g_autofree char *line = NULL;
  const char *domain = NULL;

  for (gsize i = 0; i < n_fields; i++) {
    if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
      domain = fields[i].value;
  }
  if (g_log_writer_default_would_drop (log_level, domain))
    return G_LOG_WRITER_HANDLED;

  line = g_log_writer_format_fields (log_level, fields, n_fields, g_log_writer_supports_color (2));
  fprintf (stderr, "%s\n", line);
  fflush (stderr);

  if (log_level & G_LOG_FLAG_FATAL)
    return G_LOG_WRITER_UNHANDLED;

  return G_LOG_WRITER_HANDLED;
}

/* The main loop's poll() walks every socket and every GSource: with
 * thousands of connections one iteration costs more than the frames it
 * serves, if it wakes for each frame. Waking at most every
 * loop_interval_us lets frames gather, so that under load each iteration
 * serves many sockets; an idle server still wakes at once. GLib's poll
 * function takes no user data, hence the file-level state. */
static gint64 loop_interval_us;
static gint64 loop_woke_us;

static int
coalescing_poll (GPollFD *fds, guint n_fds, int timeout_ms)
{
  gint64 wait_us = loop_woke_us + loop_interval_us - g_get_monotonic_time ();
  int n_ready;

  if (timeout_ms != 0 && wait_us > 0) {
    if (timeout_ms > 0)
      wait_us = MIN (wait_us, (gint64) timeout_ms * 1000);
    g_usleep ((gulong) wait_us);
    if (timeout_ms > 0)
      timeout_ms = MAX (0, timeout_ms - (int) ((wait_us + 999) / 1000));
  }

  n_ready = g_poll (fds, n_fds, timeout_ms);
  loop_woke_us = g_get_monotonic_time ();

  return n_ready;
}

/* Every connection is a file descriptor: the default soft limit of 1024
 * would refuse clients long before memory or CPU run out. */
static void
raise_file_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max)
    return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
    g_warning ("could not raise the open file limit to %llu", (unsigned long long) limit.rlim_max);
}

typedef struct {
  GMainLoop *loop;
  NatterServer *server;
  gboolean terminating;
  int exit_status;
} RunState;

static void
on_shut_down (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunState *state = user_data;
  g_autoptr (GError) error = NULL;

  if (!natter_server_shutdown_finish (NATTER_SERVER (source), result, &error)) {
    g_warning ("shutdown: %s", error->message);
    state->exit_status = 1;
  }
  g_main_loop_quit (state->loop);
}

static gboolean
on_terminate (gpointer user_data)
{
  RunState *state = user_data;

  /* A second signal while shutting down changes nothing. */
  if (!state->terminating) {
    state->terminating = TRUE;
    g_message ("shutting down");
    natter_server_shutdown_async (state->server, NULL, on_shut_down, state);
  }

  return G_SOURCE_CONTINUE;
}

/**
 * natter_server_run:
 * @argc: the argument count
 * @argv: the arguments
 *
 * The natter-server program: parses the command line, serves until SIGTERM
 * or SIGINT, then shuts down gracefully.
 *
 * Returns: the exit status
 */
int
natter_server_run (int argc, char **argv)
{
  g_autoptr (NatterServerConfig) config = natter_server_config_new ();
  g_autoptr (NatterServer) server = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (GError) error = NULL;
  RunState state = { 0 };
  guint term_id;
  guint int_id;

  setlocale (LC_ALL, "");
  g_log_set_writer_func (log_to_stderr, NULL, NULL);
  g_set_prgname ("natter-server");

#ifdef __GLIBC__
  /* Each argon2id hash takes 19 MiB. glibc raises its mmap threshold past
   * the first such block freed, so the next ones came from the worker
   * threads' arenas and stayed resident: 170 MiB after a thousand logins.
   * A fixed threshold keeps big blocks in mmap, returned when freed. */
  mallopt (M_MMAP_THRESHOLD, 1024 * 1024);
#endif
  natter_server_db_configure_library ();

  if (!natter_server_config_parse_args (config, &argc, &argv, &error)) {
    g_printerr ("natter-server: %s\nTry “natter-server --help”.\n", error->message);
    return 2;
  }
  raise_file_limit ();

  loop_interval_us = config->loop_interval_us;
  server = natter_server_new (g_steal_pointer (&config), &error);
  if (server == NULL) {
    g_printerr ("natter-server: %s\n", error->message);
    return 1;
  }

  if (loop_interval_us > 0)
    g_main_context_set_poll_func (NULL, coalescing_poll);

  /* Before the listening line: whoever reads it may signal at once. */
  loop = g_main_loop_new (NULL, FALSE);
  state.loop = loop;
  state.server = server;
  term_id = g_unix_signal_add (SIGTERM, on_terminate, &state);
  int_id = g_unix_signal_add (SIGINT, on_terminate, &state);

  if (!natter_server_listen (server, &error)) {
    g_printerr ("natter-server: cannot listen: %s\n", error->message);
    g_source_remove (term_id);
    g_source_remove (int_id);
    return 1;
  }

  g_main_loop_run (loop);
  g_source_remove (term_id);
  g_source_remove (int_id);

  /* Let closed connections finish their teardown before exiting. */
  g_clear_object (&server);
  for (guint i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;

  return state.exit_status;
}

static char *
read_password_line (GError **error)
{
  g_autoptr (GString) line = g_string_new (NULL);
  int c;

  while ((c = getchar ()) != EOF && c != '\n') {
    if (line->len > NATTER_MAX_PASSWORD_CHARS * 4) {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the password is too long");
      return NULL;
    }
    g_string_append_c (line, (char) c);
  }
  if (line->len > 0 && line->str[line->len - 1] == '\r')
    g_string_truncate (line, line->len - 1);

  return g_string_free (g_steal_pointer (&line), FALSE);
}

/**
 * natter_server_adduser:
 * @argc: the argument count, "adduser" first
 * @argv: the arguments
 *
 * `natter-server adduser --db PATH --email E --name N --profile-type T
 * --password-stdin`: creates an account and prints its user id.
 *
 * Returns: the exit status
 */
int
natter_server_adduser (int argc, char **argv)
{
  g_autoptr (NatterServerConfig) config = natter_server_config_new ();
  g_autofree char *db_path = NULL;
  g_autofree char *email = NULL;
  g_autofree char *name = NULL;
  g_auto (GStrv) profile_types = NULL;
  gboolean password_stdin = FALSE;
  const GOptionEntry entries[] = {
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &db_path,
      "SQLite database file (default $XDG_DATA_HOME/natter-server/natter.db), or a "
      "postgresql:// URI",
      "PATH|URI" },
    { "email", 0, 0, G_OPTION_ARG_STRING, &email, "The account's email (its login)", "E" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "The display name", "N" },
    { "profile-type", 0, 0, G_OPTION_ARG_STRING_ARRAY, &profile_types,
      "A profile the user holds, e.g. tutor (repeatable)", "T" },
    { "password-stdin", 0, 0, G_OPTION_ARG_NONE, &password_stdin,
      "Read the password from the first line of stdin", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterServerDb) db = NULL;
  g_autoptr (NatterServerStore) store = NULL;
  g_autoptr (NatterStoreQueries) queries = NULL;
  g_autoptr (NatterRegisterRequest) request = NULL;
  g_autofree char *password = NULL;
  g_autofree char *json = NULL;
  g_autofree char *hash = NULL;
  NatterRegisterRequest draft = { 0 };
  gint64 user_id;

  setlocale (LC_ALL, "");
  g_log_set_writer_func (log_to_stderr, NULL, NULL);

  context = g_option_context_new ("- create a Natter account");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("natter-server adduser: %s\n", error->message);
    return 2;
  }
  if (argc > 1 || email == NULL || name == NULL || profile_types == NULL || !password_stdin) {
    g_printerr ("natter-server adduser: --email, --name, --profile-type and --password-stdin are "
                "needed\n");
    return 2;
  }

  password = read_password_line (&error);
  if (password == NULL) {
    g_printerr ("natter-server adduser: %s\n", error->message);
    return 1;
  }

  /* The same checks as POST /api/register, through the protocol library. */
  draft.email = email;
  draft.password = password;
  draft.display_name = name;
  draft.profile_types = profile_types;
  json = natter_register_request_to_json (&draft);
  request = natter_register_request_parse (json, strlen (json), &error);
  if (request == NULL) {
    g_printerr ("natter-server adduser: %s\n", error->message);
    return 2;
  }

  if (!natter_server_open_store (db_path != NULL ? db_path : config->db_path, &db, &store, &queries,
                                 &error)) {
    g_printerr ("natter-server adduser: %s\n", error->message);
    return 1;
  }
  hash = natter_password_hash (request->password, &error);
  if (hash == NULL || !natter_store_queries_create_user (
                        queries, request->email, hash, request->display_name,
                        (const char *const *) request->profile_types, &user_id, &error)) {
    g_printerr ("natter-server adduser: %s\n", error->message);
    return 1;
  }
  close_store (store);
  g_clear_pointer (&queries, natter_store_queries_free);
  if (db != NULL)
    natter_server_db_close (db);

  g_print ("%" G_GINT64_FORMAT "\n", user_id);

  return 0;
}
