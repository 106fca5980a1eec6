/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-test-server"

#include "config.h"

#include <execinfo.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <string.h>

#include "natter-http-body.h"
#include "natter-test-cluster.h"
#include "natter-test-server.h"
#include "natter-test-services.h"

#ifdef NATTER_TEST_HAVE_LIBPQ
#include <libpq-fe.h>
#endif
#include <stdlib.h>

#define START_TIMEOUT_MS natter_test_scale_ms (10000)
#define RESTART_RETRY_MS natter_test_scale_ms (5000)
#define STOP_TIMEOUT_MS natter_test_scale_ms (10000)
#define HTTP_TIMEOUT_MS natter_test_scale_ms (20000)

/**
 * NatterTestServer:
 *
 * A real natter-server process for one test: a temporary folder holding its
 * database, a loopback port, and its stdout read up to the listening line.
 * Its stderr goes to the test's stderr.
 */
struct _NatterTestServer {
  GStrv extra_args;
  char *tmpdir;
  char *db_path;
  guint port;
  char *url;
  char *ws_url;
  char *metrics_url;
  GSubprocess *process;
  GDataInputStream *stdout_stream;
  SoupSession *session;
  NatterTestCluster *cluster; /* NATTER_TEST_NODES=2: redis and a second node */
};

/**
 * natter_test_scale_ms:
 * @ms: a deadline that fits a normal build
 *
 * Sanitizer and valgrind runs are several times slower; build-aux/test.sh
 * sets NATTER_TEST_TIME_SCALE for them (1 to 20, default 1).
 *
 * Returns: @ms times the scale
 */
guint
natter_test_scale_ms (guint ms)
{
  static double scale;

  if (scale == 0) {
    const char *text = g_getenv ("NATTER_TEST_TIME_SCALE");

    scale = text != NULL ? CLAMP (g_ascii_strtod (text, NULL), 1.0, 20.0) : 1.0;
  }
  return (guint) (ms * scale);
}

/* A fatal critical (G_DEBUG=fatal-criticals) stops the test with SIGTRAP
 * and no stack: print the stack first, so that a failure seen once in CI
 * says where it came from. */
static void
on_fatal_trap (int signum)
{
  void *frames[64];
  int n = backtrace (frames, G_N_ELEMENTS (frames));

  backtrace_symbols_fd (frames, n, STDERR_FILENO);
  signal (signum, SIG_DFL);
  raise (signum);
}

/* Every program that links the harness: the stack on a fatal critical,
 * and a call's "no media" timeout stretched like every other wait when
 * sanitizers or valgrind slow the process down (NATTER_TEST_TIME_SCALE),
 * unless the test sets one of its own. */
static void __attribute__ ((constructor)) natter_test_harness_init (void)
{
  signal (SIGTRAP, on_fatal_trap);
  natter_test_cluster_skip_without_services ();
  if (g_getenv ("NATTER_CALL_MEDIA_TIMEOUT_MS") == NULL && natter_test_scale_ms (1000) > 1000) {
    g_autofree char *timeout = g_strdup_printf ("%u", natter_test_scale_ms (5000));

    g_setenv ("NATTER_CALL_MEDIA_TIMEOUT_MS", timeout, FALSE);
  }
}

gboolean
natter_test_iterate_until (gint64 deadline_us)
{
  g_autoptr (GMainContext) context = g_main_context_ref_thread_default ();
  gint64 remaining = deadline_us - g_get_monotonic_time ();
  GSource *wakeup;

  if (remaining <= 0)
    return FALSE;

  /* A timeout source bounds the blocking iteration by the deadline. */
  wakeup = g_timeout_source_new ((guint) MAX (1, MIN (remaining / 1000, 100)));
  g_source_set_dummy_callback (wakeup);
  g_source_attach (wakeup, context);
  g_main_context_iteration (context, TRUE);
  g_source_destroy (wakeup);
  g_source_unref (wakeup);

  return TRUE;
}

/**
 * natter_test_wait_full:
 * @condition: checked after each iteration
 * @user_data: for @condition
 * @timeout_ms: the deadline on a quiet machine (stretched as in
 *   natter_test_wait_until())
 * @what: what is awaited, for the failure message
 * @file: the caller's file
 * @line: the caller's line
 *
 * Iterates the thread-default main context until @condition holds; fails the
 * test at the deadline. Use natter_test_wait().
 */
void
natter_test_wait_full (NatterTestCondition condition,
                       gpointer user_data,
                       guint timeout_ms,
                       const char *what,
                       const char *file,
                       int line)
{
  guint scaled_ms = natter_test_scale_ms (timeout_ms);
  gint64 deadline = g_get_monotonic_time () + (gint64) scaled_ms * 1000;

  while (!condition (user_data)) {
    if (!natter_test_iterate_until (deadline))
      g_error ("%s:%d: timed out after %u ms waiting for %s", file, line, scaled_ms, what);
  }
}

typedef struct {
  GAsyncResult *result;
} AsyncWait;

static void
on_async_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncWait *wait = user_data;

  wait->result = g_object_ref (result);
}

/* Runs until the async call finishes or the deadline passes (then cancels it
 * and returns NULL once it has finished). */
static GAsyncResult *
wait_async (AsyncWait *wait, GCancellable *cancellable, gint64 deadline)
{
  while (wait->result == NULL) {
    if (!natter_test_iterate_until (deadline)) {
      g_cancellable_cancel (cancellable);
      while (wait->result == NULL)
        g_main_context_iteration (g_main_context_get_thread_default (), TRUE);
      g_clear_object (&wait->result);
      return NULL;
    }
  }

  return wait->result;
}

static const char *
server_binary (void)
{
  const char *binary = g_getenv ("NATTER_SERVER_BINARY");
  static char *fallback;

  if (binary != NULL)
    return binary;
  if (fallback == NULL)
    fallback = natter_test_top_build_filename ("src", "server", "natter-server", NULL);
  if (fallback == NULL || !g_file_test (fallback, G_FILE_TEST_IS_EXECUTABLE))
    g_error ("natter-test-server: set NATTER_SERVER_BINARY to the natter-server to test");

  return fallback;
}

/* In the child before exec: if the test process dies (a failed assertion
 * aborts it), the server goes too instead of holding the test's stderr open
 * and the port taken. */
static void
die_with_parent (gpointer user_data)
{
  pid_t parent = GPOINTER_TO_INT (user_data);

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != parent)
    _exit (1);
}

/* LeakSanitizer's fast unwinder stops at the first frame without a frame
 * pointer (GLib, libsoup are built without), so suppressions that name a
 * library function (natter-server-lsan.supp) never matched: the server
 * unwinds fully, whatever else ASAN_OPTIONS says. Harmless without ASan. */
static char *
server_sanitizer_options (void)
{
  const char *inherited = g_getenv ("ASAN_OPTIONS");

  if (inherited == NULL || *inherited == '\0')
    return g_strdup ("fast_unwind_on_malloc=0:detect_leaks=1");
  if (strstr (inherited, "fast_unwind_on_malloc=0") != NULL &&
      strstr (inherited, "detect_leaks=1") != NULL)
    return g_strdup (inherited);

  return g_strconcat (inherited, ":fast_unwind_on_malloc=0:detect_leaks=1", NULL);
}

/* A port nothing listens on now (the kernel's pick); another process could
 * take it before the server binds it, which on a test machine does not
 * happen in practice. */
static guint
free_port (void)
{
  g_autoptr (GSocket) socket =
    g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;

  g_assert_nonnull (socket);
  g_assert_true (g_socket_bind (socket, any_port, FALSE, NULL));
  bound = g_socket_get_local_address (socket, NULL);
  g_assert_nonnull (bound);

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* Starts the process on @port and reads its listening line. Returns FALSE
 * when the process exited before listening (the port may still be taken). */
static gboolean
try_start (NatterTestServer *self, guint port, gint64 deadline)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *line = NULL;
  AsyncWait wait = { NULL };
  GInputStream *pipe;
  const char *url;
  const char *colon;
  guint64 parsed_port;
  static char *sanitizer_options;

  if (sanitizer_options == NULL)
    sanitizer_options = server_sanitizer_options ();

  g_ptr_array_add (argv, g_strdup (server_binary ()));
  g_ptr_array_add (argv, g_strdup ("--port"));
  g_ptr_array_add (argv, g_strdup_printf ("%u", port));
  g_ptr_array_add (argv, g_strdup ("--db"));
  g_ptr_array_add (argv, g_strdup (self->db_path));
  /* /metrics is served only on its own address. */
  g_free (self->metrics_url);
  self->metrics_url = g_strdup_printf ("http://127.0.0.1:%u", free_port ());
  g_ptr_array_add (argv, g_strdup ("--metrics-listen"));
  g_ptr_array_add (argv, g_strdup (self->metrics_url + strlen ("http://")));
  if (self->cluster != NULL)
    natter_test_cluster_add_first_node_args (self->cluster, argv);
  for (guint i = 0; self->extra_args != NULL && self->extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (self->extra_args[i]));
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_setenv (launcher, "ASAN_OPTIONS", sanitizer_options, TRUE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, GINT_TO_POINTER (getpid ()),
                                         NULL);
  self->process =
    g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  if (self->process == NULL)
    g_error ("natter-test-server: cannot start %s: %s", server_binary (), error->message);

  pipe = g_subprocess_get_stdout_pipe (self->process);
  self->stdout_stream = g_data_input_stream_new (pipe);
  g_data_input_stream_read_line_async (self->stdout_stream, G_PRIORITY_DEFAULT, cancellable,
                                       on_async_done, &wait);
  if (wait_async (&wait, cancellable, deadline) == NULL) {
    g_subprocess_force_exit (self->process);
    g_error ("natter-test-server: no listening line within %u ms", START_TIMEOUT_MS);
  }
  line = g_data_input_stream_read_line_finish (self->stdout_stream, wait.result, NULL, &error);
  g_clear_object (&wait.result);

  if (line == NULL) {
    /* End of stdout: the process failed (its reason is on stderr). */
    AsyncWait exited = { NULL };

    g_subprocess_wait_async (self->process, NULL, on_async_done, &exited);
    while (exited.result == NULL)
      g_main_context_iteration (g_main_context_get_thread_default (), TRUE);
    g_clear_object (&exited.result);
    g_clear_object (&self->stdout_stream);
    g_clear_object (&self->process);
    return FALSE;
  }

  if (!g_str_has_prefix (line, "listening on "))
    g_error ("natter-test-server: unexpected first stdout line “%s”", line);
  url = line + strlen ("listening on ");
  colon = strrchr (url, ':');
  if (colon == NULL || !g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &parsed_port, NULL))
    g_error ("natter-test-server: cannot read the port in “%s”", line);

  self->port = (guint) parsed_port;
  g_free (self->url);
  self->url = g_strdup (url);
  g_free (self->ws_url);
  self->ws_url =
    g_strconcat (g_str_has_prefix (url, "https:") ? "wss" : "ws", strchr (url, ':'), NULL);

  return TRUE;
}

/**
 * natter_test_server_new:
 * @extra_args: (nullable) (array zero-terminated=1): more command-line
 *   options, e.g. `{ "--ring-timeout", "2", NULL }`
 *
 * Starts the natter-server binary (`NATTER_SERVER_BINARY`) with `--port 0
 * --db <tempdir>/natter.db` and waits up to 10 s for its listening line.
 * Fails the test if it does not come.
 *
 * Returns: (transfer full): the running server; free with
 *   natter_test_server_free()
 */
/* NATTER_TEST_DB=postgresql: every server of this test program runs on
 * PostgreSQL, a database of its own in one throwaway cluster (initdb once
 * per program: it takes seconds). */
static NatterTestPostgres *shared_postgres;

static void
free_shared_postgres (void)
{
  g_clear_pointer (&shared_postgres, natter_test_postgres_free);
}

static char *
new_postgres_database (void)
{
#ifdef NATTER_TEST_HAVE_LIBPQ
  static guint next;
  g_autofree char *name = NULL;
  g_autofree char *sql = NULL;
  PGconn *admin;
  PGresult *result;

  if (shared_postgres == NULL) {
    shared_postgres = natter_test_postgres_new ();
    if (shared_postgres == NULL)
      g_error ("natter-test-server: NATTER_TEST_DB=postgresql, but PostgreSQL did not start");
    atexit (free_shared_postgres);
  }

  name = g_strdup_printf ("natter_test_%u", ++next);
  sql = g_strdup_printf ("CREATE DATABASE %s", name);
  admin = PQconnectdb (natter_test_postgres_get_conninfo (shared_postgres));
  if (PQstatus (admin) != CONNECTION_OK)
    g_error ("natter-test-server: PostgreSQL: %s", PQerrorMessage (admin));
  result = PQexec (admin, sql);
  if (PQresultStatus (result) != PGRES_COMMAND_OK)
    g_error ("natter-test-server: %s: %s", sql, PQerrorMessage (admin));
  PQclear (result);
  PQfinish (admin);

  return g_strdup_printf ("postgresql://postgres@127.0.0.1:%u/%s",
                          natter_test_postgres_get_port (shared_postgres), name);
#else
  g_error (
    "natter-test-server: NATTER_TEST_DB=postgresql, but the harness was built without libpq");
#endif
}

/* A test program asked to run its servers on PostgreSQL where there is
 * none is skipped as a whole, before GLib's TAP output begins. */
__attribute__ ((constructor)) static void
skip_without_postgresql (void)
{
  if (g_strcmp0 (g_getenv ("NATTER_TEST_DB"), "postgresql") != 0 ||
      natter_test_postgres_available ())
    return;
  g_print ("1..0 # SKIP NATTER_TEST_DB=postgresql, but PostgreSQL 15 is not installed "
           "(Debian: postgresql-15)\n");
  exit (0);
}

/**
 * natter_test_server_uses_postgresql:
 *
 * Returns: whether the servers of this test program run on PostgreSQL
 *   (NATTER_TEST_DB=postgresql) rather than on a SQLite file
 */
gboolean
natter_test_server_uses_postgresql (void)
{
  return g_strcmp0 (g_getenv ("NATTER_TEST_DB"), "postgresql") == 0;
}

/**
 * natter_test_server_get_postgres:
 *
 * Returns: (transfer none) (nullable): the PostgreSQL cluster the servers of
 *   this test program run on, once one started; %NULL on SQLite
 */
NatterTestPostgres *
natter_test_server_get_postgres (void)
{
  return shared_postgres;
}

NatterTestServer *
natter_test_server_new (const char *const *extra_args)
{
  NatterTestServer *self = g_new0 (NatterTestServer, 1);
  g_autoptr (GError) error = NULL;

  self->extra_args = g_strdupv ((GStrv) extra_args);
  self->tmpdir = g_dir_make_tmp ("natter-test-server-XXXXXX", &error);
  if (self->tmpdir == NULL)
    g_error ("natter-test-server: %s", error->message);
  /* A postgresql:// URI when on PostgreSQL: --db takes either. */
  if (natter_test_server_uses_postgresql ())
    self->db_path = new_postgres_database ();
  else
    self->db_path = g_build_filename (self->tmpdir, "natter.db", NULL);
  if (natter_test_cluster_wanted ())
    self->cluster = natter_test_cluster_new ();

  /* The metrics port is found free, then given to the server: another test
   * running beside this one can take it in between. Try a few. */
  for (guint attempt = 0;; attempt++) {
    if (try_start (self, 0, g_get_monotonic_time () + START_TIMEOUT_MS * 1000))
      break;
    if (attempt == 4)
      g_error ("natter-test-server: natter-server exited before listening (see stderr)");
  }
  if (self->cluster != NULL)
    natter_test_cluster_start_second_node (self->cluster, extra_args, self->db_path);

  return self;
}

static void
remove_recursively (GFile *file)
{
  g_autoptr (GFileEnumerator) children = g_file_enumerate_children (
    file, G_FILE_ATTRIBUTE_STANDARD_NAME, G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);

  if (children != NULL) {
    GFileInfo *info;
    GFile *child;

    while (g_file_enumerator_iterate (children, &info, &child, NULL, NULL) && info != NULL)
      remove_recursively (child);
  }
  g_file_delete (file, NULL, NULL);
}

/**
 * natter_test_top_build_filename:
 * @first_element: the first element of a path below the project's build
 *   directory, then more, then %NULL
 *
 * Meson sets G_TEST_BUILDDIR to <build>/tests; the programs under test
 * are built in <build>/src, and screenshots land in <build>/screenshots.
 *
 * Returns: (transfer full): the path
 */
char *
natter_test_top_build_filename (const char *first_element, ...)
{
  g_autofree char *top = g_path_get_dirname (g_test_get_dir (G_TEST_BUILT));
  g_autoptr (GPtrArray) elements = g_ptr_array_new ();
  va_list args;

  g_ptr_array_add (elements, top);
  va_start (args, first_element);
  for (const char *element = first_element; element != NULL; element = va_arg (args, const char *))
    g_ptr_array_add (elements, (gpointer) element);
  va_end (args);
  g_ptr_array_add (elements, NULL);

  return g_build_filenamev ((char **) elements->pdata);
}

/**
 * natter_test_remove_tree:
 * @path: a file or folder
 *
 * Removes @path and, for a folder, everything below it (symbolic links are
 * removed, not followed). Errors are ignored: a test's temporary data may
 * already be gone.
 */
void
natter_test_remove_tree (const char *path)
{
  g_autoptr (GFile) file = NULL;

  g_return_if_fail (path != NULL);

  file = g_file_new_for_path (path);
  remove_recursively (file);
}

/**
 * natter_test_soup_server_listen:
 * @server: a #SoupServer the test made, with its handlers
 *
 * Makes @server listen on a free loopback port, on a socket of our own:
 * soup_server_listen_local() and soup_server_get_uris() leak in libsoup 3.2.
 *
 * Returns: (transfer full): the base URL, `http://127.0.0.1:PORT`
 */
char *
natter_test_soup_server_listen (SoupServer *server)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GInetAddress) loopback = NULL;
  g_autoptr (GSocketAddress) address = NULL;
  g_autoptr (GSocketAddress) local = NULL;

  g_return_val_if_fail (SOUP_IS_SERVER (server), NULL);

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  address = g_inet_socket_address_new (loopback, 0);
  g_assert_true (g_socket_bind (socket, address, TRUE, &error));
  g_assert_true (g_socket_listen (socket, &error));
  g_assert_true (soup_server_listen_socket (server, socket, 0, &error));
  g_assert_no_error (error);
  local = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);

  return g_strdup_printf ("http://127.0.0.1:%u",
                          g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
}

/**
 * natter_test_server_metric:
 * @server: a running server
 * @prefix: the start of the series' lines, e.g. `natter_frames_in_total{type="sync"} `
 *
 * Reads `GET /metrics` (failing the test unless it answers 200) and adds up
 * the values of the lines that start with @prefix: one series, or all the
 * series of a metric whose labels start so.
 *
 * Returns: the sum, 0 if no line matches
 */
/**
 * natter_test_server_fetch_metrics:
 * @server: a running server
 * @out_status: (out): the HTTP status, 0 on a transport failure
 *
 * `GET /metrics` on the server's metrics address (`--metrics-listen`,
 * which the harness always gives), not on its public one.
 *
 * Returns: (transfer full) (nullable): the Prometheus text
 */
char *
natter_test_server_fetch_metrics (NatterTestServer *server, guint *out_status)
{
  g_autofree char *url = NULL;

  g_return_val_if_fail (server != NULL, NULL);

  url = g_strconcat (server->metrics_url, "/metrics", NULL);
  return natter_test_http (server, "GET", url, NULL, NULL, out_status);
}

const char *
natter_test_server_get_metrics_url (NatterTestServer *self)
{
  return self->metrics_url;
}

guint64
natter_test_server_metric (NatterTestServer *server, const char *prefix)
{
  g_autofree char *metrics = NULL;
  g_auto (GStrv) lines = NULL;
  guint64 total = 0;
  guint status = 0;

  g_return_val_if_fail (server != NULL, 0);
  g_return_val_if_fail (prefix != NULL, 0);

  metrics = natter_test_server_fetch_metrics (server, &status);
  g_assert_cmpuint (status, ==, 200);
  lines = g_strsplit (metrics, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    const char *space = strrchr (lines[i], ' ');

    if (g_str_has_prefix (lines[i], prefix) && space != NULL)
      total += g_ascii_strtoull (space + 1, NULL, 10);
  }

  return total;
}

/**
 * natter_test_server_get_n_nodes:
 * @server: a running server
 *
 * Returns: 2 when @server is the first of two nodes (NATTER_TEST_NODES=2),
 *   else 1
 */
guint
natter_test_server_get_n_nodes (NatterTestServer *server)
{
  g_return_val_if_fail (server != NULL, 1);

  return server->cluster != NULL && natter_test_cluster_get_second_node (server->cluster) != NULL
           ? 2
           : 1;
}

/**
 * natter_test_server_metric_all_nodes:
 * @server: a running server
 * @prefix: as for natter_test_server_metric()
 *
 * natter_test_server_metric() added up over every node of @server: a
 * client's connections land on either of two nodes.
 *
 * Returns: the sum, 0 if no line matches
 */
guint64
natter_test_server_metric_all_nodes (NatterTestServer *server, const char *prefix)
{
  guint64 total;

  g_return_val_if_fail (server != NULL, 0);

  total = natter_test_server_metric (server, prefix);
  if (natter_test_server_get_n_nodes (server) > 1)
    total +=
      natter_test_server_metric (natter_test_cluster_get_second_node (server->cluster), prefix);

  return total;
}

static void
on_scripted_websocket (SoupServer *server,
                       SoupServerMessage *message,
                       const char *path,
                       SoupWebsocketConnection *websocket,
                       gpointer user_data)
{
  NatterTestScriptedServer *self = user_data;

  g_set_object (&self->websocket, websocket);
}

/**
 * natter_test_scripted_server_init:
 * @self: a zeroed #NatterTestScriptedServer
 * @http_handler: answers requests below `/api`, called with @self
 *
 * Starts a server that speaks whatever the test scripts (natter-server
 * never breaks the protocol): @http_handler for HTTP, and the last WebSocket
 * opened on `/ws` kept in @self->websocket for the test to write to.
 */
void
natter_test_scripted_server_init (NatterTestScriptedServer *self, SoupServerCallback http_handler)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (http_handler != NULL);

  self->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (self->server, "/api", http_handler, self, NULL);
  soup_server_add_websocket_handler (self->server, "/ws", NULL, NULL, on_scripted_websocket, self,
                                     NULL);
  self->url = natter_test_soup_server_listen (self->server);
}

/**
 * natter_test_scripted_server_clear:
 * @self: a server set up by natter_test_scripted_server_init()
 *
 * Stops it and frees what it holds.
 */
void
natter_test_scripted_server_clear (NatterTestScriptedServer *self)
{
  g_return_if_fail (self != NULL);

  g_clear_object (&self->websocket);
  if (self->server != NULL)
    soup_server_disconnect (self->server);
  g_clear_object (&self->server);
  g_clear_pointer (&self->url, g_free);
}

/**
 * natter_test_on_task_done:
 * @source: the source object
 * @result: the result
 * @user_data: a `GAsyncResult **`, %NULL until the call completes
 *
 * A #GAsyncReadyCallback that stores a reference to @result in
 * @user_data, for waiting with natter_test_wait_until (result != NULL, …)
 * and then calling the matching _finish().
 */
void
natter_test_on_task_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/**
 * natter_test_server_free:
 * @self: (transfer full): the server
 *
 * Stops the server if it runs and removes its temporary folder.
 */
void
natter_test_server_free (NatterTestServer *self)
{
  g_autoptr (GFile) tmpdir = NULL;

  if (self == NULL)
    return;

  if (self->process != NULL)
    natter_test_server_stop (self);
  g_clear_pointer (&self->cluster, natter_test_cluster_free);
  g_clear_object (&self->session);

  tmpdir = g_file_new_for_path (self->tmpdir);
  remove_recursively (tmpdir);

  g_strfreev (self->extra_args);
  g_free (self->tmpdir);
  g_free (self->db_path);
  g_free (self->url);
  g_free (self->ws_url);
  g_free (self->metrics_url);
  g_free (self);
}

/**
 * natter_test_server_get_url:
 * @self: the server
 *
 * Returns: `http://127.0.0.1:PORT` (https with TLS)
 */
const char *
natter_test_server_get_url (NatterTestServer *self)
{
  if (self->cluster != NULL)
    return natter_test_cluster_pick_url (self->cluster, self->url, FALSE);
  return self->url;
}

/**
 * natter_test_server_get_ws_url:
 * @self: the server
 *
 * Returns: `ws://127.0.0.1:PORT` (wss with TLS)
 */
const char *
natter_test_server_get_ws_url (NatterTestServer *self)
{
  if (self->cluster != NULL)
    return natter_test_cluster_pick_url (self->cluster, self->ws_url, TRUE);
  return self->ws_url;
}

guint
natter_test_server_get_port (NatterTestServer *self)
{
  return self->port;
}

const char *
natter_test_server_get_db_path (NatterTestServer *self)
{
  return self->db_path;
}

/**
 * natter_test_server_get_tmpdir:
 * @self: the server
 *
 * Returns: the temporary folder, removed by natter_test_server_free(): a
 *   place for the test's own files (certificates, …)
 */
const char *
natter_test_server_get_tmpdir (NatterTestServer *self)
{
  return self->tmpdir;
}

/**
 * natter_test_server_get_pid:
 * @self: the server
 *
 * Returns: the process id, 0 when stopped
 */
GPid
natter_test_server_get_pid (NatterTestServer *self)
{
  const char *id;

  if (self->process == NULL)
    return 0;
  id = g_subprocess_get_identifier (self->process);

  return id != NULL ? (GPid) g_ascii_strtoll (id, NULL, 10) : 0;
}

gboolean
natter_test_server_is_running (NatterTestServer *self)
{
  return self->process != NULL;
}

static int
wait_for_exit (NatterTestServer *self, const char *how)
{
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  AsyncWait wait = { NULL };
  int status;

  g_subprocess_wait_async (self->process, cancellable, on_async_done, &wait);
  if (wait_async (&wait, cancellable, g_get_monotonic_time () + STOP_TIMEOUT_MS * 1000) == NULL) {
    g_subprocess_force_exit (self->process);
    g_error ("natter-test-server: natter-server did not exit within %u ms of %s", STOP_TIMEOUT_MS,
             how);
  }
  g_clear_object (&wait.result);

  if (g_subprocess_get_if_exited (self->process))
    status = g_subprocess_get_exit_status (self->process);
  else
    status = 128 + g_subprocess_get_term_sig (self->process);

  g_clear_object (&self->stdout_stream);
  g_clear_object (&self->process);
  /* Connections to the old process are dead. */
  g_clear_object (&self->session);

  return status;
}

/**
 * natter_test_server_stop:
 * @self: the server
 *
 * Sends SIGTERM and waits (10 s at most) for the process to exit.
 *
 * Returns: the exit status (0 for a graceful shutdown; 128 + signal when
 *   a signal ended it)
 */
int
natter_test_server_stop (NatterTestServer *self)
{
  g_return_val_if_fail (self->process != NULL, -1);

  g_subprocess_send_signal (self->process, SIGTERM);

  return wait_for_exit (self, "SIGTERM");
}

/**
 * natter_test_server_kill:
 * @self: the server
 *
 * SIGKILL, as a crash or power cut would; waits for the process to be gone.
 */
void
natter_test_server_kill (NatterTestServer *self)
{
  g_return_if_fail (self->process != NULL);

  g_subprocess_force_exit (self->process);
  wait_for_exit (self, "SIGKILL");
}

/**
 * natter_test_server_restart:
 * @self: a stopped or running server
 *
 * Starts the server again on the same port and database (stopping it first
 * if it runs), retrying for a few seconds while the port is still taken.
 */
void
natter_test_server_restart (NatterTestServer *self)
{
  gint64 retry_until = g_get_monotonic_time () + RESTART_RETRY_MS * 1000;

  if (self->process != NULL)
    natter_test_server_stop (self);

  while (!try_start (self, self->port, g_get_monotonic_time () + START_TIMEOUT_MS * 1000)) {
    gint64 pause_until = g_get_monotonic_time () + 100 * 1000;

    if (g_get_monotonic_time () > retry_until)
      g_error ("natter-test-server: cannot restart on port %u (see stderr)", self->port);
    while (natter_test_iterate_until (pause_until))
      ;
  }
}

/**
 * natter_test_server_set_extra_args:
 * @self: the server
 * @extra_args: (nullable) (array zero-terminated=1): the options for the next
 *   natter_test_server_restart()
 *
 * Replaces the extra command-line options, e.g. to restart with --demo.
 */
void
natter_test_server_set_extra_args (NatterTestServer *self, const char *const *extra_args)
{
  g_strfreev (self->extra_args);
  self->extra_args = g_strdupv ((GStrv) extra_args);
}

static SoupSession *
session_for (NatterTestServer *self)
{
  if (self->session == NULL)
    self->session = soup_session_new ();

  return self->session;
}

static gboolean
accept_any_certificate (SoupMessage *msg,
                        GTlsCertificate *certificate,
                        GTlsCertificateFlags errors,
                        gpointer user_data)
{
  return TRUE;
}

/**
 * natter_test_http_full:
 * @server: the server
 * @method: "GET", "POST", …
 * @path: the path and query, e.g. "/api/me"
 * @token: (nullable): sent as `Authorization: Bearer`
 * @content_type: (nullable): of @body
 * @body: (nullable): the request body
 * @extra_headers: (nullable) (array zero-terminated=1): name, value, name,
 *   value… more request headers
 * @out_status: (out): the HTTP status, 0 when the request failed in transport
 * @out_content_type: (out) (optional) (transfer full): the answer's type
 *
 * One real HTTP request with libsoup, while the main context keeps running.
 * The server's self-signed certificate is accepted.
 *
 * Returns: (transfer full) (nullable): the answer's body, %NULL on a
 *   transport failure
 */
GBytes *
natter_test_http_full (NatterTestServer *server,
                       const char *method,
                       const char *path,
                       const char *token,
                       const char *content_type,
                       GBytes *body,
                       const char *const *extra_headers,
                       guint *out_status,
                       char **out_content_type)
{
  /* A whole URL (the metrics address) or a path on the public one. */
  g_autofree char *uri = g_str_has_prefix (path, "http")
                           ? g_strdup (path)
                           : g_strconcat (natter_test_server_get_url (server), path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new (method, uri);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  AsyncWait wait = { NULL };
  SoupMessageHeaders *headers;
  GBytes *answer;

  g_assert_nonnull (msg);
  *out_status = 0;
  if (out_content_type != NULL)
    *out_content_type = NULL;

  headers = soup_message_get_request_headers (msg);
  if (token != NULL) {
    g_autofree char *authorization = g_strconcat ("Bearer ", token, NULL);

    soup_message_headers_replace (headers, "Authorization", authorization);
  }
  for (guint i = 0;
       extra_headers != NULL && extra_headers[i] != NULL && extra_headers[i + 1] != NULL; i += 2)
    soup_message_headers_replace (headers, extra_headers[i], extra_headers[i + 1]);
  if (body != NULL)
    soup_message_set_request_body_from_bytes (msg, content_type, body);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any_certificate), NULL);

  soup_session_send_and_read_async (session_for (server), msg, G_PRIORITY_DEFAULT, cancellable,
                                    on_async_done, &wait);
  if (wait_async (&wait, cancellable, g_get_monotonic_time () + HTTP_TIMEOUT_MS * 1000) == NULL) {
    g_test_message ("%s %s: no answer within %u ms", method, path, HTTP_TIMEOUT_MS);
    return NULL;
  }
  answer = soup_session_send_and_read_finish (session_for (server), wait.result, &error);
  g_clear_object (&wait.result);
  if (answer == NULL) {
    g_test_message ("%s %s: %s", method, path, error->message);
    return NULL;
  }

  *out_status = soup_message_get_status (msg);
  if (out_content_type != NULL)
    *out_content_type = g_strdup (
      soup_message_headers_get_content_type (soup_message_get_response_headers (msg), NULL));

  return answer;
}

/**
 * natter_test_http:
 * @server: the server
 * @method: "GET", "POST", …
 * @path: the path and query
 * @token: (nullable): the bearer token
 * @json_body: (nullable): sent as application/json
 * @out_status: (out): the HTTP status, 0 on a transport failure
 *
 * Returns: (transfer full) (nullable): the answer's body as a string
 */
char *
natter_test_http (NatterTestServer *server,
                  const char *method,
                  const char *path,
                  const char *token,
                  const char *json_body,
                  guint *out_status)
{
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GBytes) answer = NULL;
  gsize size;
  const char *data;

  if (json_body != NULL)
    body = g_bytes_new (json_body, strlen (json_body));
  answer = natter_test_http_full (server, method, path, token,
                                  json_body != NULL ? "application/json" : NULL, body, NULL,
                                  out_status, NULL);
  if (answer == NULL)
    return NULL;
  data = g_bytes_get_data (answer, &size);

  return g_strndup (data != NULL ? data : "", size);
}

/**
 * natter_test_server_register:
 * @server: the server
 * @email: the new account's email
 * @display_name: its name
 * @profile_type: its one profile, e.g. "tutor"
 * @out_token: (out) (optional) (transfer full): the session token
 * @out_profile: (out) (optional) (transfer full): the new profile
 *
 * POST /api/register with password %NATTER_TEST_PASSWORD; fails the test
 * unless the server answers 201.
 *
 * Returns: (transfer full): the user
 */
NatterUser *
natter_test_server_register (NatterTestServer *server,
                             const char *email,
                             const char *display_name,
                             const char *profile_type,
                             char **out_token,
                             NatterProfile **out_profile)
{
  char *types[] = { (char *) profile_type, NULL };
  NatterRegisterRequest request = { (char *) email, (char *) NATTER_TEST_PASSWORD,
                                    (char *) display_name, types };
  g_autofree char *json = natter_register_request_to_json (&request);
  g_autofree char *answer = NULL;
  g_autoptr (NatterSession) session = NULL;
  g_autoptr (GError) error = NULL;
  NatterUser *user;
  guint status;

  answer = natter_test_http (server, "POST", "/api/register", NULL, json, &status);
  if (status != 201)
    g_error ("natter-test-server: register %s: status %u: %s", email, status,
             answer != NULL ? answer : "");
  session = natter_session_parse (answer, strlen (answer), &error);
  if (session == NULL)
    g_error ("natter-test-server: register %s: %s", email, error->message);
  g_assert_cmpuint (session->user->profiles->len, >=, 1);

  if (out_token != NULL)
    *out_token = g_strdup (session->token);
  if (out_profile != NULL)
    *out_profile = natter_profile_copy (g_ptr_array_index (session->user->profiles, 0));
  user = g_steal_pointer (&session->user);

  return user;
}

/**
 * natter_test_server_login:
 * @server: the server
 * @email: the account
 * @password: its password
 * @out_status: (out) (optional): the HTTP status
 *
 * Returns: (transfer full) (nullable): the token, %NULL unless 200
 */
char *
natter_test_server_login (NatterTestServer *server,
                          const char *email,
                          const char *password,
                          guint *out_status)
{
  NatterLoginRequest request = { (char *) email, (char *) password };
  g_autofree char *json = natter_login_request_to_json (&request);
  g_autofree char *answer = NULL;
  g_autoptr (NatterSession) session = NULL;
  guint status;

  answer = natter_test_http (server, "POST", "/api/login", NULL, json, &status);
  if (out_status != NULL)
    *out_status = status;
  if (status != 200 || answer == NULL)
    return NULL;
  session = natter_session_parse (answer, strlen (answer), NULL);

  return session != NULL ? g_strdup (session->token) : NULL;
}

/**
 * natter_test_server_create_conversation:
 * @server: a test server
 * @token: the session token of @as's account
 * @as: the profile that starts the conversation
 * @with: the other profile
 *
 * Starts (or finds) the direct conversation of @as and @with over HTTP;
 * fails the test unless the server answers 2xx.
 *
 * Returns: the conversation's id
 */
gint64
natter_test_server_create_conversation (NatterTestServer *server,
                                        const char *token,
                                        const NatterProfile *as,
                                        const NatterProfile *with)
{
  g_autofree char *path = NULL;
  g_autofree char *body = NULL;
  g_autofree char *answer = NULL;
  g_autoptr (NatterConversation) conversation = NULL;
  g_autoptr (GError) error = NULL;
  guint status = 0;

  path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/conversations", as->profile_id,
                          as->profile_type);
  body =
    g_strdup_printf ("{\"with\":[{\"profile_id\":%" G_GINT64_FORMAT ",\"profile_type\":\"%s\"}]}",
                     with->profile_id, with->profile_type);
  answer = natter_test_http (server, "POST", path, token, body, &status);
  g_assert_cmpuint (status / 100, ==, 2);
  conversation = natter_conversation_parse (answer, strlen (answer), &error);
  g_assert_no_error (error);
  g_assert_cmpint (conversation->conversation_id, >, 0);

  return conversation->conversation_id;
}

/**
 * natter_test_start_notification_server:
 *
 * Starts python-dbusmock's notification daemon on the test's session bus,
 * so GNotification has somewhere to go, and returns once it owns
 * org.freedesktop.Notifications. Its log of calls is silenced: it would go
 * into the TAP stream.
 *
 * Returns: (transfer full): the stand-in's process
 */
GSubprocess *
natter_test_start_notification_server (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  GSubprocess *daemon;
  gboolean owned = FALSE;

  daemon = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, "/usr/bin/python3", "-m",
                             "dbusmock", "--template", "notification_daemon", NULL);
  g_assert_no_error (error);

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);
  for (gint64 deadline =
         g_get_monotonic_time () + natter_test_scale_ms (10000) * G_GINT64_CONSTANT (1000);
       !owned; g_usleep (50 * 1000)) {
    g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
      g_variant_new ("(s)", "org.freedesktop.Notifications"), G_VARIANT_TYPE ("(b)"),
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);

    if (reply != NULL)
      g_variant_get (reply, "(b)", &owned);
    if (!owned && g_get_monotonic_time () > deadline)
      g_error ("the notification server stand-in did not start");
  }

  return daemon;
}
