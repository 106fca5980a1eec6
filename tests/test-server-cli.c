/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-cli"

#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "natter-http-body.h"
#include "natter-test-server.h"

#define EXIT_TIMEOUT_MS 15000

static const char *
server_binary (void)
{
  const char *binary = g_getenv ("NATTER_SERVER_BINARY");

  g_assert_nonnull (binary);

  return binary;
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

static void
wait_or_fail (AsyncWait *wait, const char *what)
{
  gint64 deadline = g_get_monotonic_time () + EXIT_TIMEOUT_MS * 1000;

  while (wait->result == NULL) {
    if (!natter_test_iterate_until (deadline))
      g_error ("timed out waiting for %s", what);
  }
}

/* Runs natter-server with @args to its exit; returns the exit status.
 * @input reaches it through a file, not a pipe: a server that refuses its
 * options exits without reading stdin, and a pipe would then fail the
 * write with EPIPE. */
static int
run_to_exit (const char *const *args, const char *input, char **out_stdout, char **out_stderr)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *input_path = NULL;
  AsyncWait wait = { NULL };
  int fd;

  g_ptr_array_add (argv, (gpointer) server_binary ());
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  fd = g_file_open_tmp ("natter-server-stdin-XXXXXX", &input_path, &error);
  g_assert_no_error (error);
  close (fd);
  g_file_set_contents (input_path, input != NULL ? input : "", -1, &error);
  g_assert_no_error (error);

  launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_stdin_file_path (launcher, input_path);
  process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (process, NULL, NULL, on_async_done, &wait);
  wait_or_fail (&wait, "natter-server to exit");
  g_subprocess_communicate_utf8_finish (process, wait.result, out_stdout, out_stderr, &error);
  g_clear_object (&wait.result);
  g_unlink (input_path);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (process));

  return g_subprocess_get_exit_status (process);
}

static void
test_help_lists_every_option (void)
{
  const char *help[] = { "--help", NULL };
  const char *adduser_help[] = { "adduser", "--help", NULL };
  const char *options[] = { "--listen",        "--port",           "--db",
                            "--ring-timeout",  "--allowed-origin", "--no-registration",
                            "--profile-types", "--tls-cert",       "--tls-key",
                            "--stun-uri",      "--turn-uri",       "--turn-secret",
                            "--demo",          "adduser" };
  const char *adduser_options[] = { "--db", "--email", "--name", "--profile-type",
                                    "--password-stdin" };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_assert_cmpint (run_to_exit (help, NULL, &out, &err), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (options); i++) {
    if (strstr (out, options[i]) == NULL)
      g_error ("--help does not mention %s:\n%s", options[i], out);
  }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_to_exit (adduser_help, NULL, &out, &err), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (adduser_options); i++) {
    if (strstr (out, adduser_options[i]) == NULL)
      g_error ("adduser --help does not mention %s:\n%s", adduser_options[i], out);
  }
}

/* A natter-server started by the test itself, stdout and stderr captured. */
typedef struct {
  GSubprocess *process;
  GDataInputStream *out;
  char *first_line;
  char *url;
} Spawned;

static void
spawn_server (Spawned *spawned, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  AsyncWait wait = { NULL };

  g_ptr_array_add (argv, (gpointer) server_binary ());
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  spawned->process =
    g_subprocess_newv ((const char *const *) argv->pdata,
                       G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  spawned->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (spawned->process));
  g_data_input_stream_read_line_async (spawned->out, G_PRIORITY_DEFAULT, NULL, on_async_done,
                                       &wait);
  wait_or_fail (&wait, "the listening line");
  spawned->first_line =
    g_data_input_stream_read_line_finish (spawned->out, wait.result, NULL, &error);
  g_clear_object (&wait.result);
  g_assert_no_error (error);
  g_assert_nonnull (spawned->first_line);
  g_assert_true (g_str_has_prefix (spawned->first_line, "listening on "));
  spawned->url = g_strdup (spawned->first_line + strlen ("listening on "));
}

/* SIGTERM, then everything the process wrote after its first line. */
static int
stop_server (Spawned *spawned, char **out_rest_of_stdout, char **out_stderr)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GByteArray) rest = g_byte_array_new ();
  g_autoptr (GByteArray) err = g_byte_array_new ();
  AsyncWait wait = { NULL };
  GInputStream *streams[] = { G_INPUT_STREAM (spawned->out),
                              g_subprocess_get_stderr_pipe (spawned->process) };
  GByteArray *outputs[] = { rest, err };
  int status;

  g_subprocess_send_signal (spawned->process, SIGTERM);
  g_subprocess_wait_async (spawned->process, NULL, on_async_done, &wait);
  wait_or_fail (&wait, "natter-server to exit after SIGTERM");
  g_clear_object (&wait.result);
  g_assert_true (g_subprocess_get_if_exited (spawned->process));
  status = g_subprocess_get_exit_status (spawned->process);

  /* The process is gone: both pipes end. */
  for (guint i = 0; i < G_N_ELEMENTS (streams); i++) {
    guint8 buffer[4096];
    gssize n;

    while ((n = g_input_stream_read (streams[i], buffer, sizeof buffer, NULL, &error)) > 0)
      g_byte_array_append (outputs[i], buffer, (guint) n);
    g_assert_no_error (error);
  }
  g_byte_array_append (rest, (const guint8 *) "", 1);
  g_byte_array_append (err, (const guint8 *) "", 1);
  *out_rest_of_stdout = g_strdup ((const char *) rest->data);
  *out_stderr = g_strdup ((const char *) err->data);

  g_clear_object (&spawned->out);
  g_clear_object (&spawned->process);
  g_clear_pointer (&spawned->first_line, g_free);
  g_clear_pointer (&spawned->url, g_free);

  return status;
}

static char *
make_tmpdir (void)
{
  g_autoptr (GError) error = NULL;
  char *folder = g_dir_make_tmp ("natter-test-cli-XXXXXX", &error);

  g_assert_no_error (error);

  return folder;
}

static void
remove_db_files (const char *db)
{
  const char *suffixes[] = { "", "-wal", "-shm" };

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++) {
    g_autofree char *path = g_strconcat (db, suffixes[i], NULL);

    g_remove (path);
  }
}

static void
test_listening_line_is_the_only_stdout (void)
{
  g_autofree char *folder = make_tmpdir ();
  g_autofree char *db = g_build_filename (folder, "natter.db", NULL);
  const char *args[] = { "--port", "0", "--db", db, NULL };
  g_autoptr (GRegex) regex =
    g_regex_new ("^listening on http://127\\.0\\.0\\.1:([0-9]+)$", 0, 0, NULL);
  g_autoptr (GMatchInfo) match = NULL;
  g_autoptr (SoupSession) session = soup_session_new ();
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GBytes) body = NULL;
  g_autofree char *port_text = NULL;
  g_autofree char *health_url = NULL;
  g_autofree char *rest = NULL;
  g_autofree char *err = NULL;
  Spawned spawned = { NULL };

  spawn_server (&spawned, args);
  g_assert_true (g_regex_match (regex, spawned.first_line, 0, &match));
  port_text = g_match_info_fetch (match, 1);
  g_assert_cmpint (g_ascii_strtoll (port_text, NULL, 10), >, 0);

  /* --port 0 picked a real, free port, and the server answers on it. */
  health_url = g_strconcat (spawned.url, "/healthz", NULL);
  msg = soup_message_new ("GET", health_url);
  body = soup_session_send_and_read (session, msg, NULL, NULL);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);

  g_assert_cmpint (stop_server (&spawned, &rest, &err), ==, 0);
  g_assert_cmpstr (rest, ==, "");
  g_assert_nonnull (strstr (err, "shutting down"));

  remove_db_files (db);
  g_rmdir (folder);
}

static void
test_demo_accounts (void)
{
  g_autofree char *folder = make_tmpdir ();
  g_autofree char *db = g_build_filename (folder, "natter.db", NULL);
  const char *spawn_args[] = { "--port", "0", "--db", db, "--demo", NULL };
  const char *demo_args[] = { "--demo", NULL };
  const char *emails[] = { "abebe@demo.natter", "selam@demo.natter", "hanna@demo.natter" };
  g_autofree char *rest = NULL;
  g_autofree char *err = NULL;
  Spawned spawned = { NULL };
  NatterTestServer *server;

  /* The accounts are printed on stderr, never stdout. */
  spawn_server (&spawned, spawn_args);
  g_assert_cmpint (stop_server (&spawned, &rest, &err), ==, 0);
  g_assert_cmpstr (rest, ==, "");
  for (guint i = 0; i < G_N_ELEMENTS (emails); i++)
    g_assert_nonnull (strstr (err, emails[i]));
  g_assert_nonnull (strstr (err, "natter-demo"));
  remove_db_files (db);
  g_rmdir (folder);

  /* Each can log in, and Abebe has two conversations with messages. */
  server = natter_test_server_new (demo_args);
  for (guint i = 0; i < G_N_ELEMENTS (emails); i++) {
    guint status;
    g_autofree char *token = natter_test_server_login (server, emails[i], "natter-demo", &status);

    g_assert_cmpuint (status, ==, 200);
    if (i == 0) {
      g_autofree char *me = natter_test_http (server, "GET", "/api/me", token, NULL, &status);
      g_autoptr (NatterUser) user = natter_user_parse (me, strlen (me), NULL);
      NatterProfile *profile = g_ptr_array_index (user->profiles, 0);
      g_autofree char *path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s/conversations",
                                               profile->profile_id, profile->profile_type);
      g_autofree char *list = natter_test_http (server, "GET", path, token, NULL, &status);
      g_autoptr (GPtrArray) conversations =
        natter_conversation_list_parse (list, strlen (list), NULL);

      g_assert_cmpstr (profile->profile_type, ==, "tutor");
      g_assert_cmpuint (conversations->len, ==, 2);
      for (guint j = 0; j < conversations->len; j++)
        g_assert_nonnull (
          ((NatterConversation *) g_ptr_array_index (conversations, j))->last_message);
    }
  }
  /* A restart with --demo on a database that has them adds nothing. */
  natter_test_server_restart (server);
  {
    guint status;
    g_autofree char *token = natter_test_server_login (server, emails[0], "natter-demo", &status);
    g_autofree char *found =
      natter_test_http (server, "GET", "/api/profiles?q=Abebe", token, NULL, &status);
    g_autoptr (GPtrArray) profiles = natter_profile_list_parse (found, strlen (found), NULL);

    g_assert_cmpuint (profiles->len, ==, 1);
  }
  natter_test_server_free (server);

  /* Only into an empty database. */
  server = natter_test_server_new (NULL);
  {
    g_autoptr (NatterUser) user =
      natter_test_server_register (server, "first@example.org", "First", "student", NULL, NULL);
    g_autofree char *token = NULL;
    guint status;

    g_assert_cmpint (natter_test_server_stop (server), ==, 0);
    natter_test_server_set_extra_args (server, demo_args);
    natter_test_server_restart (server);
    token = natter_test_server_login (server, emails[0], "natter-demo", &status);
    g_assert_cmpuint (status, ==, 401);
    g_assert_null (token);
  }
  natter_test_server_free (server);
}

static void
test_adduser (void)
{
  NatterTestServer *server = natter_test_server_new (NULL);
  const char *db = natter_test_server_get_db_path (server);
  const char *args[] = { "adduser",
                         "--db",
                         db,
                         "--email",
                         "Admin@Example.org",
                         "--name",
                         "Admin",
                         "--profile-type",
                         "Tutor",
                         "--password-stdin",
                         NULL };
  const char *no_stdin[] = { "adduser",       "--db",   db,  "--email",
                             "x@example.org", "--name", "X", "--profile-type",
                             "tutor",         NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *token = NULL;
  g_autofree char *me = NULL;
  g_autoptr (NatterUser) user = NULL;
  guint64 user_id;
  guint status;

  g_assert_cmpint (natter_test_server_stop (server), ==, 0);

  g_assert_cmpint (run_to_exit (args, "admin-password-1\n", &out, &err), ==, 0);
  g_strchomp (out);
  g_assert_true (g_ascii_string_to_unsigned (out, 10, 1, G_MAXINT64, &user_id, NULL));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* The same email twice, a short password, no password: refused. */
  g_assert_cmpint (run_to_exit (args, "admin-password-2\n", &out, &err), !=, 0);
  g_assert_cmpstr (out, ==, "");
  g_assert_nonnull (strstr (err, "already"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  args[4] = "other@example.org";
  g_assert_cmpint (run_to_exit (args, "short\n", &out, &err), !=, 0);
  g_assert_cmpstr (out, ==, "");
  g_assert_cmpstr (err, !=, "");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_to_exit (no_stdin, "whatever-pass\n", &out, &err), !=, 0);
  g_assert_nonnull (strstr (err, "--password-stdin"));

  natter_test_server_restart (server);
  token = natter_test_server_login (server, "admin@example.org", "admin-password-1", &status);
  g_assert_cmpuint (status, ==, 200);
  me = natter_test_http (server, "GET", "/api/me", token, NULL, &status);
  user = natter_user_parse (me, strlen (me), NULL);
  g_assert_cmpint (user->user_id, ==, (gint64) user_id);
  g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (user->profiles, 0))->profile_type, ==,
                   "tutor");
  g_clear_pointer (&token, g_free);
  token = natter_test_server_login (server, "other@example.org", "short", &status);
  g_assert_cmpuint (status, ==, 401);

  natter_test_server_free (server);
}

static void
test_bad_options (void)
{
  g_autofree char *folder = make_tmpdir ();
  g_autofree char *db = g_build_filename (folder, "natter.db", NULL);
  g_autofree char *missing = g_build_filename (folder, "missing.pem", NULL);
  struct {
    const char *args[8];
    const char *mentions;
  } cases[] = {
    { { "--bogus", NULL }, "--bogus" },
    { { "--port", "70000", NULL }, "--port" },
    { { "--port", "eighty", NULL }, "--port" },
    { { "--listen", "not-an-address", NULL }, "--listen" },
    { { "--ring-timeout", "0", NULL }, "--ring-timeout" },
    { { "--tls-cert", missing, NULL }, "--tls-key" },
    { { "--tls-cert", missing, "--tls-key", missing, "--db", db, NULL }, "missing.pem" },
    { { "--turn-uri", "turn:turn.example.org", NULL }, "--turn-secret" },
    { { "--profile-types", "tutor,9bad", NULL }, "--profile-types" },
    { { "unexpected", NULL }, "unexpected" },
    { { "adduser", "--email", "x@example.org", NULL }, "--password-stdin" },
    /* Nothing listens on port 1: said at once, not served as errors. */
    { { "--db", "postgresql://postgres@127.0.0.1:1/natter", NULL }, "PostgreSQL" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = run_to_exit (cases[i].args, NULL, &out, &err);

    if (status == 0 || strstr (err, cases[i].mentions) == NULL)
      g_error ("case %u: exit status %d, stderr “%s” should mention %s", i, status, err,
               cases[i].mentions);
    g_assert_cmpstr (out, ==, "");
  }

  /* A port that is taken. */
  {
    NatterTestServer *server = natter_test_server_new (NULL);
    g_autofree char *port = g_strdup_printf ("%u", natter_test_server_get_port (server));
    const char *args[] = { "--port", port, "--db", db, NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    g_assert_cmpint (run_to_exit (args, NULL, &out, &err), !=, 0);
    g_assert_nonnull (strstr (err, "listen"));
    g_assert_cmpstr (out, ==, "");
    natter_test_server_free (server);
  }

  remove_db_files (db);
  g_rmdir (folder);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/server-cli/help-lists-every-option", test_help_lists_every_option);
  g_test_add_func ("/natter/server-cli/listening-line-is-the-only-stdout",
                   test_listening_line_is_the_only_stdout);
  g_test_add_func ("/natter/server-cli/demo-accounts-only-into-an-empty-database",
                   test_demo_accounts);
  g_test_add_func ("/natter/server-cli/adduser", test_adduser);
  g_test_add_func ("/natter/server-cli/bad-options-exit-non-zero", test_bad_options);

  return g_test_run ();
}
