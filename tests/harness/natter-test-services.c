/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-test-services"

#include "config.h"

#include "natter-test-services.h"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "natter-test-server.h"

/* The services the multi-node tests share (issue 17), started for real:
 * redis-server and a PostgreSQL 15 cluster in a temporary folder, each on a
 * free loopback port, gone when the test ends or dies. */

#define REDIS_SERVER "redis-server"
/* Debian's; NATTER_TEST_POSTGRES_BIN_DIR names another. */
#define POSTGRES_BIN_DIR "/usr/lib/postgresql/15/bin"
#define START_TIMEOUT_MS 15000
#define INITDB_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS 15000

struct _NatterTestRedis {
  char *binary;
  char *tmpdir;
  char *uri;
  guint port;
  GSubprocess *process;
};

struct _NatterTestPostgres {
  char *tmpdir;
  char *datadir;
  char *conninfo;
  char *uri;
  guint port;
  GSubprocess *process;
  /* Who the cluster runs as: PostgreSQL refuses root. */
  uid_t uid;
  gid_t gid;
};

typedef struct {
  pid_t parent;
  gboolean switch_user;
  uid_t uid;
  gid_t gid;
} ChildSetup;

/* In the child before exec. The user switch comes first: a change of
 * credentials clears the parent-death signal. runuser(1) would do the
 * switch too, but it stays as a watching parent, and the death signal of
 * the test would reach runuser, not the postmaster it leaves behind. */
static void
child_setup (gpointer user_data)
{
  const ChildSetup *setup = user_data;

  if (setup->switch_user) {
    if (setgroups (0, NULL) != 0 || setgid (setup->gid) != 0 || setuid (setup->uid) != 0)
      _exit (126);
  }
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != setup->parent)
    _exit (1);
}

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

static GSubprocess *
spawn (const char *const *argv, const ChildSetup *setup, const char *log_path)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;
  GSubprocess *process;

  /* Their output goes to a log file: stdout carries the test's TAP. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_stdout_file_path (launcher, log_path);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, (gpointer) setup, NULL);
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (process == NULL)
    g_error ("natter-test-services: cannot start %s: %s", argv[0], error->message);

  return process;
}

static void
on_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *exited = user_data;

  *exited = TRUE;
}

/* Waits for @process to exit, up to @timeout_ms (scaled); FALSE if it did
 * not. */
static gboolean
wait_exit (GSubprocess *process, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) natter_test_scale_ms (timeout_ms) * 1000;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  gboolean exited = FALSE;

  g_subprocess_wait_async (process, cancellable, on_exited, &exited);
  while (!exited) {
    if (!natter_test_iterate_until (deadline)) {
      g_cancellable_cancel (cancellable);
      while (!exited)
        g_main_context_iteration (g_main_context_get_thread_default (), TRUE);
      return FALSE;
    }
  }

  return g_subprocess_get_identifier (process) == NULL;
}

static void
stop_process (GSubprocess **process, int signal_number)
{
  if (*process == NULL)
    return;

  /* A stopped process must run to act on the signal. */
  g_subprocess_send_signal (*process, signal_number);
  g_subprocess_send_signal (*process, SIGCONT);
  if (!wait_exit (*process, STOP_TIMEOUT_MS)) {
    g_subprocess_force_exit (*process);
    wait_exit (*process, STOP_TIMEOUT_MS);
  }
  g_clear_object (process);
}

static void
print_log (const char *path)
{
  g_autofree char *text = NULL;

  if (g_file_get_contents (path, &text, NULL, NULL))
    g_printerr ("--- %s ---\n%s\n", path, text);
}

/* --- redis ---------------------------------------------------------------- */

/* A PING answered with +PONG: the server accepts commands. */
static gboolean
redis_answers (guint port)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) connection = NULL;
  char reply[8] = { 0 };
  gsize got = 0;

  g_socket_client_set_timeout (client, 1);
  connection = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, NULL);
  if (connection == NULL)
    return FALSE;
  if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                                  "PING\r\n", 6, NULL, NULL, NULL))
    return FALSE;
  if (!g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (connection)), reply, 7,
                                &got, NULL, NULL))
    return FALSE;

  return got == 7 && memcmp (reply, "+PONG\r\n", 7) == 0;
}

/* Starts redis-server on self->port; FALSE if it exited before answering
 * (the port was taken meanwhile). */
static gboolean
redis_try_start (NatterTestRedis *self)
{
  static ChildSetup setup;
  g_autofree char *port = g_strdup_printf ("%u", self->port);
  g_autofree char *log_path = g_build_filename (self->tmpdir, "redis.log", NULL);
  const char *argv[] = { self->binary, "--port",    port,         "--bind",
                         "127.0.0.1",  "--save",    "",           "--appendonly",
                         "no",         "--dir",     self->tmpdir, "--daemonize",
                         "no",         "--logfile", "",           "--protected-mode",
                         "no",         NULL };
  gint64 deadline =
    g_get_monotonic_time () + (gint64) natter_test_scale_ms (START_TIMEOUT_MS) * 1000;

  setup.parent = getpid ();
  self->process = spawn (argv, &setup, log_path);
  while (!redis_answers (self->port)) {
    if (g_subprocess_get_identifier (self->process) == NULL) {
      wait_exit (self->process, STOP_TIMEOUT_MS);
      g_clear_object (&self->process);
      return FALSE;
    }
    if (g_get_monotonic_time () >= deadline) {
      print_log (log_path);
      g_error ("natter-test-services: redis-server did not answer within %u ms",
               natter_test_scale_ms (START_TIMEOUT_MS));
    }
    natter_test_iterate_until (MIN (deadline, g_get_monotonic_time () + 20 * 1000));
  }

  return TRUE;
}

/**
 * natter_test_redis_new:
 *
 * Starts redis-server on a free loopback port, without persistence, in a
 * temporary folder. Skips the test (g_test_skip()) when redis-server is not
 * installed.
 *
 * Returns: (transfer full) (nullable): the server, or %NULL after skipping
 */
NatterTestRedis *
natter_test_redis_new (void)
{
  g_autofree char *binary = g_find_program_in_path (REDIS_SERVER);
  NatterTestRedis *self;

  if (binary == NULL) {
    g_test_skip ("redis-server is not installed (Debian: redis-server)");
    return NULL;
  }

  self = g_new0 (NatterTestRedis, 1);
  self->binary = g_steal_pointer (&binary);
  self->tmpdir = g_dir_make_tmp ("natter-redis-XXXXXX", NULL);
  g_assert_nonnull (self->tmpdir);
  for (guint attempt = 0;; attempt++) {
    self->port = free_port ();
    if (redis_try_start (self))
      break;
    if (attempt == 5)
      g_error ("natter-test-services: redis-server exited at start five times");
  }
  self->uri = g_strdup_printf ("redis://127.0.0.1:%u", self->port);

  return self;
}

void
natter_test_redis_free (NatterTestRedis *self)
{
  if (self == NULL)
    return;

  stop_process (&self->process, SIGTERM);
  natter_test_remove_tree (self->tmpdir);
  g_free (self->tmpdir);
  g_free (self->binary);
  g_free (self->uri);
  g_free (self);
}

guint
natter_test_redis_get_port (NatterTestRedis *self)
{
  return self->port;
}

const char *
natter_test_redis_get_uri (NatterTestRedis *self)
{
  return self->uri;
}

GPid
natter_test_redis_get_pid (NatterTestRedis *self)
{
  const char *id;

  g_return_val_if_fail (self->process != NULL, 0);
  id = g_subprocess_get_identifier (self->process);

  return id != NULL ? (GPid) g_ascii_strtoll (id, NULL, 10) : 0;
}

/**
 * natter_test_redis_kill:
 * @self: a running server
 *
 * SIGKILL, as a crash would; returns once the process is gone.
 */
void
natter_test_redis_kill (NatterTestRedis *self)
{
  stop_process (&self->process, SIGKILL);
}

/**
 * natter_test_redis_restart:
 * @self: a server
 *
 * Starts the server again on the same port (killing it first if it runs),
 * retrying while the port is still taken. It starts empty.
 */
void
natter_test_redis_restart (NatterTestRedis *self)
{
  gint64 retry_until =
    g_get_monotonic_time () + (gint64) natter_test_scale_ms (START_TIMEOUT_MS) * 1000;

  natter_test_redis_kill (self);
  while (!redis_try_start (self)) {
    if (g_get_monotonic_time () > retry_until)
      g_error ("natter-test-services: cannot restart redis-server on port %u", self->port);
    natter_test_iterate_until (g_get_monotonic_time () + 100 * 1000);
  }
}

/**
 * natter_test_redis_pause:
 * @self: a running server
 *
 * SIGSTOP: the server keeps its connections open and answers nothing, as a
 * stalled machine would.
 */
void
natter_test_redis_pause (NatterTestRedis *self)
{
  g_return_if_fail (self->process != NULL);
  g_subprocess_send_signal (self->process, SIGSTOP);
}

void
natter_test_redis_resume (NatterTestRedis *self)
{
  g_return_if_fail (self->process != NULL);
  g_subprocess_send_signal (self->process, SIGCONT);
}

/* --- postgres ------------------------------------------------------------- */

static const char *
postgres_bin_dir (void)
{
  const char *dir = g_getenv ("NATTER_TEST_POSTGRES_BIN_DIR");

  return dir != NULL && *dir != '\0' ? dir : POSTGRES_BIN_DIR;
}

/* Whether natter_test_postgres_new () has binaries to start. */
gboolean
natter_test_postgres_available (void)
{
  g_autofree char *initdb = g_build_filename (postgres_bin_dir (), "initdb", NULL);

  return g_file_test (initdb, G_FILE_TEST_IS_EXECUTABLE);
}

/* The postmaster writes "ready" on line 8 of postmaster.pid once it accepts
 * connections (PostgreSQL 10 and later). */
static gboolean
postgres_ready (NatterTestPostgres *self)
{
  g_autofree char *path = g_build_filename (self->datadir, "postmaster.pid", NULL);
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  lines = g_strsplit (text, "\n", -1);

  return g_strv_length (lines) > 7 && g_str_has_prefix (lines[7], "ready");
}

static gboolean
postgres_try_start (NatterTestPostgres *self, ChildSetup *setup)
{
  g_autofree char *binary = g_build_filename (postgres_bin_dir (), "postgres", NULL);
  g_autofree char *port = g_strdup_printf ("%u", self->port);
  g_autofree char *log_path = g_build_filename (self->tmpdir, "postgres.log", NULL);
  /* Throwaway data: no fsync. */
  const char *argv[] = { binary,
                         "-D",
                         self->datadir,
                         "-p",
                         port,
                         "-k",
                         self->tmpdir,
                         "-c",
                         "listen_addresses=127.0.0.1",
                         "-c",
                         "fsync=off",
                         "-c",
                         "full_page_writes=off",
                         "-c",
                         "synchronous_commit=off",
                         NULL };
  gint64 deadline =
    g_get_monotonic_time () + (gint64) natter_test_scale_ms (START_TIMEOUT_MS) * 1000;

  self->process = spawn (argv, setup, log_path);
  while (!postgres_ready (self)) {
    if (g_subprocess_get_identifier (self->process) == NULL) {
      wait_exit (self->process, STOP_TIMEOUT_MS);
      g_clear_object (&self->process);
      return FALSE;
    }
    if (!natter_test_iterate_until (MIN (deadline, g_get_monotonic_time () + 20 * 1000)) &&
        g_get_monotonic_time () >= deadline) {
      print_log (log_path);
      g_error ("natter-test-services: postgres not ready within %u ms",
               natter_test_scale_ms (START_TIMEOUT_MS));
    }
  }

  return TRUE;
}

static ChildSetup *
postgres_child_setup (NatterTestPostgres *self)
{
  static ChildSetup setup;

  setup.parent = getpid ();
  setup.switch_user = getuid () == 0;
  setup.uid = self->uid;
  setup.gid = self->gid;

  return &setup;
}

/**
 * natter_test_postgres_new:
 *
 * initdb in a temporary folder and a postmaster on a free loopback port,
 * its unix socket in that folder, trust authentication for the user
 * `postgres`. As root the cluster runs as the user postgres, on a folder
 * that user owns. Skips the test when PostgreSQL 15 is not installed.
 *
 * Returns: (transfer full) (nullable): the cluster, or %NULL after skipping
 */
NatterTestPostgres *
natter_test_postgres_new (void)
{
  g_autofree char *initdb = g_build_filename (postgres_bin_dir (), "initdb", NULL);
  g_autofree char *log_path = NULL;
  g_autoptr (GSubprocess) process = NULL;
  NatterTestPostgres *self;
  ChildSetup *setup;

  if (!g_file_test (initdb, G_FILE_TEST_IS_EXECUTABLE)) {
    g_test_skip ("PostgreSQL 15 is not installed (Debian: postgresql-15)");
    return NULL;
  }

  self = g_new0 (NatterTestPostgres, 1);
  self->uid = getuid ();
  self->gid = getgid ();
  self->tmpdir = g_dir_make_tmp ("natter-postgres-XXXXXX", NULL);
  g_assert_nonnull (self->tmpdir);
  if (getuid () == 0) {
    struct passwd *user = getpwnam ("postgres");

    if (user == NULL) {
      natter_test_postgres_free (self);
      g_test_skip ("PostgreSQL refuses root and there is no user postgres");
      return NULL;
    }
    self->uid = user->pw_uid;
    self->gid = user->pw_gid;
    g_assert_cmpint (chown (self->tmpdir, self->uid, self->gid), ==, 0);
  }
  self->datadir = g_build_filename (self->tmpdir, "data", NULL);
  setup = postgres_child_setup (self);

  log_path = g_build_filename (self->tmpdir, "initdb.log", NULL);
  {
    const char *argv[] = { initdb,     "-D",           self->datadir, "-U",
                           "postgres", "--auth=trust", "--no-sync",   "-E",
                           "UTF8",     "--locale=C",   NULL };

    process = spawn (argv, setup, log_path);
  }
  if (!wait_exit (process, INITDB_TIMEOUT_MS) || !g_subprocess_get_successful (process)) {
    print_log (log_path);
    g_error ("natter-test-services: initdb failed or took over %u ms",
             natter_test_scale_ms (INITDB_TIMEOUT_MS));
  }

  for (guint attempt = 0;; attempt++) {
    self->port = free_port ();
    if (postgres_try_start (self, setup))
      break;
    if (attempt == 5)
      g_error ("natter-test-services: postgres exited at start five times");
  }
  self->conninfo =
    g_strdup_printf ("host=127.0.0.1 port=%u user=postgres dbname=postgres", self->port);
  self->uri = g_strdup_printf ("postgresql://postgres@127.0.0.1:%u/postgres", self->port);

  return self;
}

void
natter_test_postgres_free (NatterTestPostgres *self)
{
  if (self == NULL)
    return;

  /* SIGINT: fast shutdown, the backends end too. */
  stop_process (&self->process, SIGINT);
  if (self->tmpdir != NULL)
    natter_test_remove_tree (self->tmpdir);
  g_free (self->tmpdir);
  g_free (self->datadir);
  g_free (self->conninfo);
  g_free (self->uri);
  g_free (self);
}

guint
natter_test_postgres_get_port (NatterTestPostgres *self)
{
  return self->port;
}

const char *
natter_test_postgres_get_socket_dir (NatterTestPostgres *self)
{
  return self->tmpdir;
}

/* libpq's "key=value" form, over TCP on loopback. */
const char *
natter_test_postgres_get_conninfo (NatterTestPostgres *self)
{
  return self->conninfo;
}

const char *
natter_test_postgres_get_uri (NatterTestPostgres *self)
{
  return self->uri;
}

/**
 * natter_test_postgres_kill:
 * @self: a running cluster
 *
 * SIGQUIT: an immediate shutdown, no checkpoint, connections cut, as a
 * crash would; the next start recovers from the WAL.
 */
void
natter_test_postgres_kill (NatterTestPostgres *self)
{
  stop_process (&self->process, SIGQUIT);
}

/**
 * natter_test_postgres_restart:
 * @self: a cluster
 *
 * Starts the postmaster again on the same port and data (killing it first if
 * it runs), retrying while the port or shared memory is still taken.
 */
void
natter_test_postgres_restart (NatterTestPostgres *self)
{
  gint64 retry_until =
    g_get_monotonic_time () + (gint64) natter_test_scale_ms (START_TIMEOUT_MS) * 1000;

  natter_test_postgres_kill (self);
  while (!postgres_try_start (self, postgres_child_setup (self))) {
    if (g_get_monotonic_time () > retry_until)
      g_error ("natter-test-services: cannot restart postgres on port %u", self->port);
    natter_test_iterate_until (g_get_monotonic_time () + 100 * 1000);
  }
}
