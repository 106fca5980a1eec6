/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-cli"

#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <gdk-pixbuf/gdk-pixbuf.h>

#include "natter-test-server.h"
#include "tcp-proxy.h"

/* natter-cli end to end: the real binary against the real server, each
 * user with their own XDG_DATA_HOME. */

typedef struct {
  NatterTestServer *server;
  char *tmpdir;
  const char *url; /* where natter-cli connects; NULL: the server itself */
  NatterTcpProxy *proxy;
} Fixture;

/* A running natter-cli whose stdout lines are collected as they come. */
typedef struct {
  GSubprocess *process;
  GDataInputStream *stdout_lines;
  GPtrArray *lines;
  GCancellable *cancellable;
  gboolean eof;
  gboolean exited;
  int exit_status;
} Cli;

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fixture->server = natter_test_server_new (NULL);
  fixture->tmpdir = g_dir_make_tmp ("natter-test-cli-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_clear_pointer (&fixture->proxy, natter_tcp_proxy_free);
  natter_test_server_free (fixture->server);
  natter_test_remove_tree (fixture->tmpdir);
  g_free (fixture->tmpdir);
}

static void read_next_line (Cli *cli);

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Cli *cli = user_data;
  g_autoptr (GError) error = NULL;
  char *line;

  line =
    g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, &error);
  if (line == NULL) {
    cli->eof = TRUE;
    return;
  }

  g_test_message ("natter-cli: %s", line);
  g_ptr_array_add (cli->lines, line);
  read_next_line (cli);
}

static void
read_next_line (Cli *cli)
{
  g_data_input_stream_read_line_async (cli->stdout_lines, G_PRIORITY_DEFAULT, cli->cancellable,
                                       on_line, cli);
}

static void
on_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Cli *cli = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  cli->exit_status = g_subprocess_get_if_exited (G_SUBPROCESS (source))
                       ? g_subprocess_get_exit_status (G_SUBPROCESS (source))
                       : -1;
  cli->exited = TRUE;
}

static char *
data_home (Fixture *fixture, const char *user)
{
  return g_build_filename (fixture->tmpdir, user, NULL);
}

/* Starts natter-cli as @user (its own XDG_DATA_HOME); @stdin_text, if any,
 * is written to its stdin. The arguments end with NULL. */
static Cli *
cli_spawn (Fixture *fixture, const char *user, const char *stdin_text, const char *first_arg, ...)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *home = data_home (fixture, user);
  g_autofree char *dead_after_ms = g_strdup_printf ("%u", natter_test_scale_ms (3000));
  Cli *cli = g_new0 (Cli, 1);
  const char *arg;
  va_list args;

  g_ptr_array_add (argv, (gpointer) NATTER_CLI_BINARY);
  g_ptr_array_add (argv, (gpointer) "--server");
  g_ptr_array_add (argv, (gpointer) (fixture->url != NULL
                                       ? fixture->url
                                       : natter_test_server_get_url (fixture->server)));
  va_start (args, first_arg);
  for (arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDIN_PIPE);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", home, TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN_STORE", "file", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "NATTER_TOKEN");
  g_subprocess_launcher_setenv (launcher, "NATTER_KEEPALIVE_S", "1", TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_DEAD_AFTER_MS", dead_after_ms, TRUE);

  cli->process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  cli->lines = g_ptr_array_new_with_free_func (g_free);
  cli->cancellable = g_cancellable_new ();
  cli->stdout_lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (cli->process));

  {
    GOutputStream *input = g_subprocess_get_stdin_pipe (cli->process);

    if (stdin_text != NULL)
      g_output_stream_write_all (input, stdin_text, strlen (stdin_text), NULL, NULL, &error);
    g_assert_no_error (error);
    g_output_stream_close (input, NULL, NULL);
  }

  read_next_line (cli);
  g_subprocess_wait_async (cli->process, cli->cancellable, on_exited, cli);

  return cli;
}

static int
cli_wait (Cli *cli, guint timeout_ms)
{
  natter_test_wait_until (cli->exited && cli->eof, timeout_ms);

  return cli->exit_status;
}

static void
cli_free (Cli *cli)
{
  if (!cli->exited) {
    g_subprocess_force_exit (cli->process);
    natter_test_wait_until (cli->exited, 5000);
  }
  natter_test_wait_until (cli->eof, 5000);
  g_cancellable_cancel (cli->cancellable);
  g_object_unref (cli->stdout_lines);
  g_object_unref (cli->process);
  g_object_unref (cli->cancellable);
  g_ptr_array_unref (cli->lines);
  g_free (cli);
}

/* A --timeout argument: @seconds on a quiet machine. */
static char *
scaled_seconds (guint seconds)
{
  return g_strdup_printf ("%u", natter_test_scale_ms (seconds));
}

/* Runs natter-cli to its end; returns the exit status. Longer than any
 * --timeout a test gives (60 s at most), so natter-cli says why it gave up. */
#define cli_run(fixture, out_cli, user, stdin_text, ...)                        \
  (*(out_cli) = cli_spawn ((fixture), (user), (stdin_text), __VA_ARGS__, NULL), \
   cli_wait (*(out_cli), 90000))

static JsonObject *
line_object (Cli *cli, guint index)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonNode *root;

  g_assert_cmpuint (index, <, cli->lines->len);
  json_parser_load_from_data (parser, g_ptr_array_index (cli->lines, index), -1, &error);
  g_assert_no_error (error);
  root = json_parser_get_root (parser);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  g_assert_true (json_object_has_member (json_node_get_object (root), "event"));

  return json_object_ref (json_node_get_object (root));
}

/* The lines whose "event" is @event, as objects. */
static GPtrArray *
events_named (Cli *cli, const char *event)
{
  GPtrArray *events = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);

  for (guint i = 0; i < cli->lines->len; i++) {
    JsonObject *object = line_object (cli, i);

    if (g_strcmp0 (json_object_get_string_member (object, "event"), event) == 0)
      g_ptr_array_add (events, object);
    else
      json_object_unref (object);
  }

  return events;
}

static gboolean
has_event_with (Cli *cli, const char *event, const char *member, const char *value)
{
  g_autoptr (GPtrArray) events = events_named (cli, event);

  for (guint i = 0; i < events->len; i++) {
    JsonObject *object = g_ptr_array_index (events, i);

    if (member == NULL ||
        g_strcmp0 (json_object_get_string_member_with_default (object, member, NULL), value) == 0)
      return TRUE;
  }

  return FALSE;
}

static void
register_user (Fixture *fixture, const char *user, const char *type)
{
  g_autofree char *email = g_strdup_printf ("%s@example.org", user);
  g_autoptr (GPtrArray) signed_in = NULL;
  Cli *cli;

  g_assert_cmpint (cli_run (fixture, &cli, user, "password-of-" NATTER_TEST_PASSWORD "\n",
                            "register", "--email", email, "--name", user, "--profile-type", type,
                            "--password-stdin"),
                   ==, 0);
  signed_in = events_named (cli, "signed_in");
  g_assert_cmpuint (signed_in->len, ==, 1);
  g_assert_cmpstr (json_object_get_string_member (g_ptr_array_index (signed_in, 0), "email"), ==,
                   email);
  cli_free (cli);
}

/* `logout --everywhere` on one device signs the user out on the others. */
static void
test_logout_everywhere (Fixture *fixture, gconstpointer data)
{
  Cli *cli;

  register_user (fixture, "abebe", "tutor");
  g_assert_cmpint (cli_run (fixture, &cli, "abebe-laptop", "password-of-" NATTER_TEST_PASSWORD "\n",
                            "login", "--email", "abebe@example.org", "--password-stdin"),
                   ==, 0);
  cli_free (cli);
  g_assert_cmpint (cli_run (fixture, &cli, "abebe-laptop", NULL, "conversations"), ==, 0);
  cli_free (cli);

  g_assert_cmpint (cli_run (fixture, &cli, "abebe", NULL, "logout", "--everywhere"), ==, 0);
  g_assert_true (has_event_with (cli, "signed_out", NULL, NULL));
  cli_free (cli);

  /* The laptop's token was revoked too. */
  g_assert_cmpint (cli_run (fixture, &cli, "abebe-laptop", NULL, "conversations"), !=, 0);
  g_assert_cmpuint (cli->lines->len, ==, 0);
  cli_free (cli);
}

static void
test_account_commands (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) whoami = NULL;
  g_autofree char *token_file = NULL;
  GStatBuf info;
  JsonObject *me;
  Cli *cli;

  register_user (fixture, "abebe", "tutor");

  g_assert_cmpint (cli_run (fixture, &cli, "abebe", NULL, "whoami"), ==, 0);
  whoami = events_named (cli, "whoami");
  g_assert_cmpuint (whoami->len, ==, 1);
  me = g_ptr_array_index (whoami, 0);
  g_assert_cmpstr (json_object_get_string_member (me, "display_name"), ==, "abebe");
  g_assert_cmpstr (json_object_get_string_member (me, "active_profile"), ==, "tutor:1");
  g_assert_cmpstr (json_object_get_string_member (me, "token_storage"), ==, "file");
  cli_free (cli);

  /* The fallback token file is the user's alone. */
  token_file = g_build_filename (fixture->tmpdir, "abebe", "natter", "tokens.ini", NULL);
  g_assert_cmpint (g_stat (token_file, &info), ==, 0);
  g_assert_cmpint (info.st_mode & 0777, ==, 0600);

  g_assert_cmpint (cli_run (fixture, &cli, "abebe", NULL, "logout"), ==, 0);
  g_assert_true (has_event_with (cli, "signed_out", NULL, NULL));
  cli_free (cli);

  /* Signed out: whoami fails, with nothing on stdout. */
  g_assert_cmpint (cli_run (fixture, &cli, "abebe", NULL, "whoami"), !=, 0);
  g_assert_cmpuint (cli->lines->len, ==, 0);
  cli_free (cli);

  g_assert_cmpint (cli_run (fixture, &cli, "abebe", "wrong password\n", "login", "--email",
                            "abebe@example.org", "--password-stdin"),
                   !=, 0);
  g_assert_cmpuint (cli->lines->len, ==, 0);
  cli_free (cli);

  g_assert_cmpint (cli_run (fixture, &cli, "abebe", "password-of-" NATTER_TEST_PASSWORD "\n",
                            "login", "--email", "abebe@example.org", "--password-stdin"),
                   ==, 0);
  g_assert_true (has_event_with (cli, "signed_in", "active_profile", "tutor:1"));
  cli_free (cli);

  g_assert_cmpint (cli_run (fixture, &cli, "abebe", NULL, "no-such-command"), !=, 0);
  cli_free (cli);
}

static void
test_send_listen_across_restart (Fixture *fixture, gconstpointer data)
{
  g_autofree char *sixty = scaled_seconds (60);
  g_autofree char *thirty = scaled_seconds (30);
  g_autoptr (GPtrArray) messages = NULL;
  g_autoptr (GPtrArray) conversations = NULL;
  const char *expected[] = { "one", "two", "three" };
  Cli *listener;
  Cli *sender;

  register_user (fixture, "abebe", "tutor");
  register_user (fixture, "sara", "student");

  listener = cli_spawn (fixture, "sara", NULL, "listen", "--count", "3", "--timeout", sixty, NULL);
  natter_test_wait_until (has_event_with (listener, "state", "state", "connected"), 10000);

  g_assert_cmpint (
    cli_run (fixture, &sender, "abebe", NULL, "send", "student:2", "one", "--timeout", thirty), ==,
    0);
  g_assert_true (has_event_with (sender, "queued", NULL, NULL));
  g_assert_true (has_event_with (sender, "sent", NULL, NULL));
  cli_free (sender);

  /* The server goes away; a send waits for it, retrying. */
  natter_test_server_stop (fixture->server);
  natter_test_wait_until (has_event_with (listener, "state", "state", "waiting-to-retry"), 10000);
  sender =
    cli_spawn (fixture, "abebe", NULL, "send", "student:2", "two", "--timeout", thirty, NULL);
  natter_test_wait_until (has_event_with (sender, "queued", NULL, NULL), 10000);
  g_assert_false (sender->exited);

  natter_test_server_restart (fixture->server);
  g_assert_cmpint (cli_wait (sender, 30000), ==, 0);
  g_assert_true (has_event_with (sender, "sent", NULL, NULL));
  cli_free (sender);

  g_assert_cmpint (
    cli_run (fixture, &sender, "abebe", NULL, "send", "student:2", "three", "--timeout", thirty),
    ==, 0);
  cli_free (sender);

  /* The listener reconnected by itself and printed each message once. */
  g_assert_cmpint (cli_wait (listener, 30000), ==, 0);
  messages = events_named (listener, "message");
  g_assert_cmpuint (messages->len, ==, 3);
  for (guint i = 0; i < 3; i++) {
    JsonObject *message = g_ptr_array_index (messages, i);

    g_assert_cmpstr (json_object_get_string_member (message, "text"), ==, expected[i]);
    g_assert_cmpstr (json_object_get_string_member (message, "from"), ==, "tutor:1");
    g_assert_cmpint (json_object_get_int_member (message, "seq"), ==, i + 1);
  }
  cli_free (listener);

  g_assert_cmpint (cli_run (fixture, &listener, "sara", NULL, "conversations"), ==, 0);
  conversations = events_named (listener, "conversation");
  g_assert_cmpuint (conversations->len, ==, 1);
  g_assert_cmpstr (json_object_get_string_member (g_ptr_array_index (conversations, 0), "peer"), ==,
                   "tutor:1");
  g_assert_cmpint (
    json_object_get_int_member (g_ptr_array_index (conversations, 0), "unread_count"), ==, 3);
  cli_free (listener);

  g_assert_cmpint (cli_run (fixture, &listener, "sara", NULL, "history", "1", "--limit", "2"), ==,
                   0);
  g_clear_pointer (&messages, g_ptr_array_unref);
  messages = events_named (listener, "message");
  g_assert_cmpuint (messages->len, ==, 2);
  g_assert_cmpstr (json_object_get_string_member (g_ptr_array_index (messages, 1), "text"), ==,
                   "three");
  cli_free (listener);
}

static void
test_token_from_environment (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterUser) user = NULL;
  g_autofree char *token = NULL;
  g_autofree char *nobody = data_home (fixture, "nobody");
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) envp = NULL;
  const char *argv[] = { NATTER_CLI_BINARY, "--server",
                         natter_test_server_get_url (fixture->server), "whoami", NULL };
  int status = -1;

  user = natter_test_server_register (fixture->server, "lidya@example.org", "Lidya", "parent",
                                      &token, NULL);

  envp = g_get_environ ();
  envp = g_environ_setenv (envp, "NATTER_TOKEN", token, TRUE);
  envp = g_environ_setenv (envp, "XDG_DATA_HOME", nobody, TRUE);
  envp = g_environ_setenv (envp, "NATTER_TOKEN_STORE", "file", TRUE);
  g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, "\"event\":\"whoami\""));
  g_assert_nonnull (strstr (out, "\"token_storage\":\"environment\""));
  g_assert_nonnull (strstr (out, "\"email\":\"lidya@example.org\""));
}

static gint64
elapsed_ms (gint64 since_us)
{
  return (g_get_monotonic_time () - since_us) / 1000;
}

static void
test_send_timeout_with_server_down (Fixture *fixture, gconstpointer data)
{
  g_autofree char *thirty = scaled_seconds (30);
  g_autoptr (GPtrArray) messages = NULL;
  g_autofree char *two = scaled_seconds (2);
  Cli *listener;
  Cli *sender;
  gint64 started;

  register_user (fixture, "abebe", "tutor");
  register_user (fixture, "sara", "student");

  /* Nobody answers: send waits its --timeout, then fails, and says the
   * message is still queued. */
  natter_test_server_stop (fixture->server);
  started = g_get_monotonic_time ();
  g_assert_cmpint (
    cli_run (fixture, &sender, "abebe", NULL, "send", "student:2", "waited", "--timeout", two), ==,
    1);
  g_assert_cmpint (elapsed_ms (started), >=, natter_test_scale_ms (2000));
  g_assert_cmpint (elapsed_ms (started), <, natter_test_scale_ms (10000));
  g_assert_true (has_event_with (sender, "queued", NULL, NULL));
  g_assert_false (has_event_with (sender, "sent", NULL, NULL));
  cli_free (sender);

  /* The outbox goes out with the next run: both arrive, once, in order. */
  natter_test_server_restart (fixture->server);
  listener = cli_spawn (fixture, "sara", NULL, "listen", "--count", "2", "--timeout", thirty, NULL);
  natter_test_wait_until (has_event_with (listener, "state", "state", "connected"), 10000);
  g_assert_cmpint (
    cli_run (fixture, &sender, "abebe", NULL, "send", "student:2", "after", "--timeout", thirty),
    ==, 0);
  cli_free (sender);

  g_assert_cmpint (cli_wait (listener, 30000), ==, 0);
  messages = events_named (listener, "message");
  g_assert_cmpuint (messages->len, ==, 2);
  g_assert_cmpstr (json_object_get_string_member (g_ptr_array_index (messages, 0), "text"), ==,
                   "waited");
  g_assert_cmpstr (json_object_get_string_member (g_ptr_array_index (messages, 1), "text"), ==,
                   "after");
  cli_free (listener);
}

static void
test_listen_count_and_timeout (Fixture *fixture, gconstpointer data)
{
  g_autofree char *sixty = scaled_seconds (60);
  g_autoptr (GPtrArray) messages = NULL;
  g_autofree char *two = scaled_seconds (2);
  Cli *listener;
  Cli *sender;
  gint64 started;

  register_user (fixture, "abebe", "tutor");
  register_user (fixture, "sara", "student");

  /* --timeout alone: listening that long is success. */
  started = g_get_monotonic_time ();
  g_assert_cmpint (cli_run (fixture, &listener, "sara", NULL, "listen", "--timeout", two), ==, 0);
  g_assert_cmpint (elapsed_ms (started), >=, natter_test_scale_ms (2000));
  g_assert_true (has_event_with (listener, "state", "state", "connected"));
  cli_free (listener);

  /* --count not reached by the --timeout: a failure. Nothing needs to
   * happen within it, so it is not stretched (20 s under valgrind). */
  g_assert_cmpint (
    cli_run (fixture, &listener, "sara", NULL, "listen", "--count", "1", "--timeout", "2"), ==, 1);
  g_assert_false (has_event_with (listener, "message", NULL, NULL));
  cli_free (listener);

  /* --count reached: exits at once, before the --timeout. */
  listener = cli_spawn (fixture, "sara", NULL, "listen", "--count", "1", "--timeout", sixty, NULL);
  natter_test_wait_until (has_event_with (listener, "state", "state", "connected"), 10000);
  started = g_get_monotonic_time ();
  g_assert_cmpint (
    cli_run (fixture, &sender, "abebe", NULL, "send", "student:2", "hi", "--timeout", sixty), ==,
    0);
  cli_free (sender);
  g_assert_cmpint (cli_wait (listener, 10000), ==, 0);
  g_assert_cmpint (elapsed_ms (started), <, natter_test_scale_ms (10000));
  messages = events_named (listener, "message");
  g_assert_cmpuint (messages->len, ==, 1);
  cli_free (listener);

  /* Bad arguments: an error, nothing on stdout. */
  g_assert_cmpint (cli_run (fixture, &listener, "sara", NULL, "listen", "--count", "-1"), ==, 1);
  g_assert_cmpuint (listener->lines->len, ==, 0);
  cli_free (listener);
  g_assert_cmpint (cli_run (fixture, &sender, "abebe", NULL, "send", "student:2"), ==, 1);
  g_assert_cmpuint (sender->lines->len, ==, 0);
  cli_free (sender);
}

static void
test_refusals_are_errors (Fixture *fixture, gconstpointer data)
{
  g_autofree char *thirty = scaled_seconds (30);
  g_autofree char *five = scaled_seconds (5);
  Cli *cli;

  register_user (fixture, "abebe", "tutor");
  register_user (fixture, "sara", "student");

  /* Someone else's profile: refused before anything is printed. */
  g_assert_cmpint (
    cli_run (fixture, &cli, "abebe", NULL, "--profile", "student:2", "listen", "--timeout", five),
    ==, 1);
  g_assert_cmpuint (cli->lines->len, ==, 0);
  cli_free (cli);

  /* A profile nobody has: the server refuses the message for good. */
  g_assert_cmpint (
    cli_run (fixture, &cli, "abebe", NULL, "send", "student:99", "anyone?", "--timeout", thirty),
    ==, 1);
  g_assert_true (has_event_with (cli, "queued", NULL, NULL));
  g_assert_true (has_event_with (cli, "failed", NULL, NULL));
  g_assert_false (has_event_with (cli, "sent", NULL, NULL));
  cli_free (cli);

  /* A revoked token: signed out, an error, no retry loop. */
  g_assert_cmpint (cli_run (fixture, &cli, "abebe", NULL, "logout"), ==, 0);
  cli_free (cli);
  g_assert_cmpint (cli_run (fixture, &cli, "abebe", NULL, "listen", "--timeout", five), ==, 1);
  cli_free (cli);
}

/* block, blocked, unblock: a blocked profile's message is refused for
 * good (not_allowed), and goes through again once unblocked. */
static void
test_block_unblock_blocked (Fixture *fixture, gconstpointer data)
{
  g_autofree char *thirty = scaled_seconds (30);
  g_autoptr (GPtrArray) blocked = NULL;
  Cli *cli;

  register_user (fixture, "abebe", "tutor");
  register_user (fixture, "sara", "student");

  g_assert_cmpint (cli_run (fixture, &cli, "sara", NULL, "blocked"), ==, 0);
  g_assert_cmpuint (cli->lines->len, ==, 0);
  cli_free (cli);

  g_assert_cmpint (cli_run (fixture, &cli, "sara", NULL, "block", "tutor:1"), ==, 0);
  g_assert_true (has_event_with (cli, "blocked", "profile", "tutor:1"));
  cli_free (cli);

  g_assert_cmpint (cli_run (fixture, &cli, "sara", NULL, "blocked"), ==, 0);
  blocked = events_named (cli, "blocked");
  g_assert_cmpuint (blocked->len, ==, 1);
  g_assert_cmpstr (json_object_get_string_member (g_ptr_array_index (blocked, 0), "profile"), ==,
                   "tutor:1");
  g_assert_cmpstr (json_object_get_string_member (g_ptr_array_index (blocked, 0), "display_name"),
                   ==, "abebe");
  cli_free (cli);

  g_assert_cmpint (
    cli_run (fixture, &cli, "abebe", NULL, "send", "student:2", "hello?", "--timeout", thirty), ==,
    1);
  g_assert_true (has_event_with (cli, "failed", "code", "not_allowed"));
  cli_free (cli);

  /* Bad input is an error with nothing on stdout. */
  g_assert_cmpint (cli_run (fixture, &cli, "sara", NULL, "block", "nobody"), !=, 0);
  g_assert_cmpuint (cli->lines->len, ==, 0);
  cli_free (cli);

  g_assert_cmpint (cli_run (fixture, &cli, "sara", NULL, "unblock", "tutor:1"), ==, 0);
  g_assert_true (has_event_with (cli, "unblocked", "profile", "tutor:1"));
  cli_free (cli);
  g_assert_cmpint (cli_run (fixture, &cli, "sara", NULL, "blocked"), ==, 0);
  g_assert_cmpuint (cli->lines->len, ==, 0);
  cli_free (cli);

  g_assert_cmpint (
    cli_run (fixture, &cli, "abebe", NULL, "send", "student:2", "hello!", "--timeout", thirty), ==,
    0);
  g_assert_true (has_event_with (cli, "sent", NULL, NULL));
  cli_free (cli);
}

static guint
count_substrings (const char *haystack, const char *needle)
{
  guint count = 0;

  for (const char *p = strstr (haystack, needle); p != NULL; p = strstr (p + 1, needle))
    count++;

  return count;
}

/* Runs natter-cli with stderr captured, in an environment without a
 * Secret Service; @wrapper (nullable) runs it under dbus-run-session. */
static int
run_without_secret_service (Fixture *fixture,
                            const char *wrapper,
                            const char *stdin_text,
                            char **out_stdout,
                            char **out_stderr,
                            const char *command,
                            ...)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *home = data_home (fixture, "nobus");
  g_autofree char *runtime = g_build_filename (fixture->tmpdir, "runtime", NULL);
  const char *arg;
  va_list args;

  g_mkdir_with_parents (runtime, 0700);
  if (wrapper != NULL) {
    g_ptr_array_add (argv, (gpointer) wrapper);
    g_ptr_array_add (argv, (gpointer) "--");
  }
  g_ptr_array_add (argv, (gpointer) NATTER_CLI_BINARY);
  g_ptr_array_add (argv, (gpointer) "--server");
  g_ptr_array_add (argv, (gpointer) (fixture->url != NULL
                                       ? fixture->url
                                       : natter_test_server_get_url (fixture->server)));
  g_ptr_array_add (argv, (gpointer) command);
  va_start (args, command);
  for (arg = va_arg (args, const char *); arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                               G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", home, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", runtime, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "DBUS_SESSION_BUS_ADDRESS");
  g_subprocess_launcher_unsetenv (launcher, "NATTER_TOKEN_STORE");
  g_subprocess_launcher_unsetenv (launcher, "NATTER_TOKEN");
  g_subprocess_launcher_unsetenv (launcher, "G_MESSAGES_DEBUG");
  process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, stdin_text, NULL, out_stdout, out_stderr, &error);
  g_assert_no_error (error);
  g_test_message ("stderr: %s", *out_stderr);

  return g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
}

static void
assert_json_lines (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_autoptr (GError) error = NULL;

    if (lines[i][0] == '\0')
      continue;
    json_parser_load_from_data (parser, lines[i], -1, &error);
    g_assert_no_error (error);
    g_assert_true (
      json_object_has_member (json_node_get_object (json_parser_get_root (parser)), "event"));
  }
}

static void
test_token_file_fallback_said_once (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterUser) user = NULL;
  g_autofree char *dbus_run_session = g_find_program_in_path ("dbus-run-session");
  const char *const wrappers[] = { NULL, dbus_run_session };
  const char *fallback = "No Secret Service";

  user = natter_test_server_register (fixture->server, "lidya@example.org", "Lidya", "parent", NULL,
                                      NULL);

  /* Without a session bus, and (if dbus-run-session exists) with a bus
   * but no Secret Service on it: the file is used, and each run says so
   * once on stderr, never on stdout. */
  for (guint i = 0; i < G_N_ELEMENTS (wrappers); i++) {
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    if (i > 0 && wrappers[i] == NULL)
      continue;

    g_assert_cmpint (run_without_secret_service (fixture, wrappers[i], NATTER_TEST_PASSWORD "\n",
                                                 &out, &err, "login", "--email",
                                                 "lidya@example.org", "--password-stdin", NULL),
                     ==, 0);
    g_assert_cmpuint (count_substrings (err, fallback), ==, 1);
    g_assert_nonnull (strstr (out, "\"event\":\"signed_in\""));
    assert_json_lines (out);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);

    g_assert_cmpint (
      run_without_secret_service (fixture, wrappers[i], NULL, &out, &err, "whoami", NULL), ==, 0);
    g_assert_cmpuint (count_substrings (err, fallback), ==, 1);
    g_assert_nonnull (strstr (out, "\"token_storage\":\"file\""));
    assert_json_lines (out);
  }
}

/* The HTTP side of a scripted server (natter_test_scripted_server_init):
 * /api/me for the sign-in. */
static void
on_broken_http (SoupServer *server,
                SoupServerMessage *message,
                const char *path,
                GHashTable *query,
                gpointer user_data)
{
  static const char user[] =
    "{\"user_id\":1,\"email\":\"abebe@example.org\",\"display_name\":\"Abebe\",\"profiles\":"
    "[{\"profile_id\":1,\"profile_type\":\"tutor\",\"display_name\":\"Abebe\"}]}";
  const char *body = g_str_equal (path, "/api/me") ? user : "{\"conversations\":[]}";

  soup_server_message_set_status (message, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (message, "application/json", SOUP_MEMORY_COPY, body,
                                    strlen (body));
}

#define BROKEN_HELLO                                                                    \
  "{\"type\":\"hello\",\"protocol\":%d,\"profile\":{\"profile_id\":1,\"profile_type\":" \
  "\"tutor\"},\"last_event_id\":0,\"heartbeat_s\":30,\"server_time\":"                  \
  "\"2026-01-01T00:00:00Z\"}"

static void
on_listen_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *exited = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *exited = TRUE;
}

static void
test_protocol_errors_on_stderr (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *home = data_home (fixture, "broken");
  g_autofree char *err_path = g_build_filename (fixture->tmpdir, "broken-stderr.txt", NULL);
  g_autofree char *err = NULL;
  g_autofree char *timeout = scaled_seconds (30);
  NatterTestScriptedServer broken = { 0 };
  gboolean exited = FALSE;
  g_autofree char *hello_1 = g_strdup_printf (BROKEN_HELLO, 1);
  g_autofree char *hello_99 = g_strdup_printf (BROKEN_HELLO, 99);

  natter_test_scripted_server_init (&broken, on_broken_http);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_stderr_file_path (launcher, err_path);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", home, TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN_STORE", "file", TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN", "broken-token", TRUE);
  process = g_subprocess_launcher_spawn (launcher, &error, NATTER_CLI_BINARY, "--server",
                                         broken.url, "listen", "--timeout", timeout, NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (process, NULL, on_listen_exited, &exited);

  natter_test_wait_until (broken.websocket != NULL, 10000);

  /* Garbage, then a good hello: the link stays, the garbage is told. */
  soup_websocket_connection_send_text (broken.websocket, "{\"type\":\"hello\",");
  soup_websocket_connection_send_text (broken.websocket, hello_1);
  /* A server of another protocol: told, and listen gives up with 1. */
  soup_websocket_connection_send_text (broken.websocket, hello_99);
  natter_test_wait_until (exited, 10000);
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 1);

  g_assert_true (g_file_get_contents (err_path, &err, NULL, NULL));
  g_test_message ("stderr: %s", err);
  g_assert_cmpuint (count_substrings (err, "Unreadable frame from the server"), ==, 1);
  g_assert_cmpuint (count_substrings (err, "protocol 99"), ==, 1);

  natter_test_scripted_server_clear (&broken);
}

/* --- attachments ------------------------------------------------------------ */

/* 20 MiB, the worksheet; under valgrind (a time scale of 10 or
 * more) 5 MiB, so hashing at valgrind's pace in three processes stays
 * within seconds. Cuts land a quarter of the way in. */
static gsize
big_file_bytes (void)
{
  return natter_test_scale_ms (1000) >= 10000 ? 5 * 1024 * 1024 : 20 * 1024 * 1024;
}

#define BIG_FILE_BYTES big_file_bytes ()
#define CUT_AFTER_BYTES ((goffset) big_file_bytes () / 4)

static char *
file_sha256_of (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  gsize length;

  g_file_get_contents (path, &data, &length, &error);
  g_assert_no_error (error);

  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guint8 *) data, length);
}

static char *
write_big_file (Fixture *fixture, const char *name, char **out_sha256)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261206);
  gsize size = BIG_FILE_BYTES;
  g_autofree guint32 *data = g_malloc (size);
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (fixture->tmpdir, name, NULL);

  for (gsize i = 0; i < size / sizeof (guint32); i++)
    data[i] = g_rand_int (rand);
  g_file_set_contents (path, (const char *) data, size, &error);
  g_assert_no_error (error);
  *out_sha256 = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guint8 *) data, size);

  return path;
}

/* A phone-sized photo: a 1600×1200 JPEG. */
static char *
write_photo (Fixture *fixture, const char *name, char **out_sha256)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 1600, 1200);
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (fixture->tmpdir, name, NULL);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);

  for (int y = 0; y < 1200; y++) {
    for (int x = 0; x < 1600; x++) {
      pixels[y * stride + x * 3] = (guint8) x;
      pixels[y * stride + x * 3 + 1] = (guint8) y;
      pixels[y * stride + x * 3 + 2] = (guint8) (x ^ y);
    }
  }
  gdk_pixbuf_save (pixbuf, path, "jpeg", &error, "quality", "90", NULL);
  g_assert_no_error (error);
  *out_sha256 = file_sha256_of (path);

  return path;
}

/* The largest regular file under @dir (recursively) whose name ends with
 * @suffix, or 0: how far a transfer in progress has come. */
static goffset
largest_file (const char *dir, const char *suffix)
{
  g_autoptr (GDir) folder = g_dir_open (dir, 0, NULL);
  const char *name;
  goffset largest = 0;

  while (folder != NULL && (name = g_dir_read_name (folder)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);
    GStatBuf buf;

    if (g_stat (path, &buf) != 0)
      continue;
    if (S_ISDIR (buf.st_mode))
      largest = MAX (largest, largest_file (path, suffix));
    else if (g_str_has_suffix (name, suffix))
      largest = MAX (largest, (goffset) buf.st_size);
  }

  return largest;
}

static JsonObject *
attachment_named (Cli *cli, const char *name)
{
  g_autoptr (GPtrArray) attachments = events_named (cli, "attachment");

  for (guint i = 0; i < attachments->len; i++) {
    JsonObject *attachment = g_ptr_array_index (attachments, i);

    if (g_strcmp0 (json_object_get_string_member (attachment, "name"), name) == 0)
      return json_object_ref (attachment);
  }

  g_error ("No attachment line for %s", name);
}

/* `download` to a file of its own, compared with @sha256; with
 * @cut_in_the_middle the proxy cuts the link once 4 MiB are in. */
static void
assert_download_identical (Fixture *fixture,
                           const char *user,
                           gint64 attachment_id,
                           const char *sha256,
                           gboolean cut_in_the_middle)
{
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, attachment_id);
  g_autofree char *output = g_strdup_printf ("%s/%s-download-%s", fixture->tmpdir, user, id);
  g_autofree char *home = data_home (fixture, user);
  g_autofree char *sixty = scaled_seconds (60);
  g_autofree char *received = NULL;
  Cli *cli;

  cli =
    cli_spawn (fixture, user, NULL, "download", id, "--output", output, "--timeout", sixty, NULL);
  if (cut_in_the_middle) {
    /* The cache writes a .part file beside its final place. */
    natter_test_wait_until (largest_file (home, ".part") >= CUT_AFTER_BYTES, 30000);
    natter_tcp_proxy_cut_all (fixture->proxy);
  }
  g_assert_cmpint (cli_wait (cli, 90000), ==, 0);
  g_assert_true (has_event_with (cli, "downloaded", "path", output));
  cli_free (cli);

  received = file_sha256_of (output);
  g_assert_cmpstr (received, ==, sha256);
}

/* A 20 MiB file and a photo go up with `send --file` and come down with
 * `download` byte-identical, both ways; `history` lists them under their
 * message, whose text is their names when none was given. */
static void
test_attachments_round_trip (Fixture *fixture, gconstpointer data)
{
  g_autofree char *big_sha256 = NULL;
  g_autofree char *photo_sha256 = NULL;
  g_autofree char *big = write_big_file (fixture, "worksheet.pdf", &big_sha256);
  g_autofree char *photo = write_photo (fixture, "homework.jpg", &photo_sha256);
  g_autofree char *sixty = scaled_seconds (60);
  g_autofree char *back = NULL;
  g_autoptr (JsonObject) big_line = NULL;
  g_autoptr (JsonObject) photo_line = NULL;
  g_autoptr (GPtrArray) messages = NULL;
  g_autoptr (GPtrArray) attachments = NULL;
  Cli *cli;

  register_user (fixture, "abebe", "tutor");
  register_user (fixture, "sara", "student");

  g_assert_cmpint (cli_run (fixture, &cli, "abebe", NULL, "send", "student:2", "--file", big,
                            "--file", photo, "--timeout", sixty),
                   ==, 0);
  g_assert_true (has_event_with (cli, "sent", NULL, NULL));
  big_line = attachment_named (cli, "worksheet.pdf");
  photo_line = attachment_named (cli, "homework.jpg");
  g_assert_cmpint (json_object_get_int_member (big_line, "size"), ==, (gint64) BIG_FILE_BYTES);
  g_assert_cmpstr (json_object_get_string_member (big_line, "sha256"), ==, big_sha256);
  g_assert_cmpstr (json_object_get_string_member (photo_line, "content_type"), ==, "image/jpeg");
  g_assert_cmpstr (json_object_get_string_member (photo_line, "sha256"), ==, photo_sha256);
  /* Measured by the sender, so the receiver reserves the space. */
  g_assert_cmpint (json_object_get_int_member (photo_line, "width"), ==, 1600);
  g_assert_cmpint (json_object_get_int_member (photo_line, "height"), ==, 1200);
  cli_free (cli);

  g_assert_cmpint (cli_run (fixture, &cli, "sara", NULL, "history", "1"), ==, 0);
  messages = events_named (cli, "message");
  attachments = events_named (cli, "attachment");
  g_assert_cmpuint (messages->len, ==, 1);
  g_assert_cmpstr (json_object_get_string_member (g_ptr_array_index (messages, 0), "text"), ==,
                   "worksheet.pdf, homework.jpg");
  g_assert_cmpuint (attachments->len, ==, 2);
  g_assert_cmpstr (json_object_get_string_member (g_ptr_array_index (attachments, 0), "name"), ==,
                   "worksheet.pdf");
  g_assert_cmpint (json_object_get_int_member (g_ptr_array_index (attachments, 1), "seq"), ==, 1);
  cli_free (cli);

  assert_download_identical (
    fixture, "sara", json_object_get_int_member (big_line, "attachment_id"), big_sha256, FALSE);
  assert_download_identical (
    fixture, "sara", json_object_get_int_member (photo_line, "attachment_id"), photo_sha256, FALSE);

  /* And back: what Sara downloaded goes to Abebe as her own file. */
  back = g_strdup_printf ("%s/sara-download-%" G_GINT64_FORMAT, fixture->tmpdir,
                          json_object_get_int_member (big_line, "attachment_id"));
  g_assert_cmpint (cli_run (fixture, &cli, "sara", NULL, "send", "tutor:1", "Done, see attached",
                            "--file", back, "--timeout", sixty),
                   ==, 0);
  g_clear_pointer (&big_line, json_object_unref);
  g_clear_pointer (&attachments, g_ptr_array_unref);
  attachments = events_named (cli, "attachment");
  g_assert_cmpuint (attachments->len, ==, 1);
  big_line = json_object_ref (g_ptr_array_index (attachments, 0));
  cli_free (cli);
  assert_download_identical (
    fixture, "abebe", json_object_get_int_member (big_line, "attachment_id"), big_sha256, FALSE);
}

/* Through a link cut in the middle of the upload and again in the middle
 * of the download: the message is stored once, the files arrive whole. */
static void
test_attachments_through_cut_link (Fixture *fixture, gconstpointer data)
{
  g_autofree char *big_sha256 = NULL;
  g_autofree char *photo_sha256 = NULL;
  g_autofree char *big = write_big_file (fixture, "worksheet.pdf", &big_sha256);
  g_autofree char *photo = write_photo (fixture, "homework.jpg", &photo_sha256);
  g_autofree char *sixty = scaled_seconds (60);
  g_autofree char *db_dir = g_path_get_dirname (natter_test_server_get_db_path (fixture->server));
  g_autofree char *uploads = g_build_filename (db_dir, "attachments", "tmp", NULL);
  g_autoptr (JsonObject) big_line = NULL;
  g_autoptr (JsonObject) photo_line = NULL;
  g_autoptr (GPtrArray) messages = NULL;
  g_autoptr (GPtrArray) attachments = NULL;
  Cli *cli;

  fixture->proxy = natter_tcp_proxy_new (natter_test_server_get_port (fixture->server));
  fixture->url = natter_tcp_proxy_get_url (fixture->proxy);
  register_user (fixture, "abebe", "tutor");
  register_user (fixture, "sara", "student");

  cli = cli_spawn (fixture, "abebe", NULL, "send", "student:2", "--file", big, "--file", photo,
                   "--timeout", sixty, NULL);
  /* The server writes an upload to a temporary file: cut at 4 MiB. */
  natter_test_wait_until (largest_file (uploads, "") >= CUT_AFTER_BYTES, 30000);
  natter_tcp_proxy_cut_all (fixture->proxy);
  g_assert_cmpint (cli_wait (cli, 90000), ==, 0);
  g_assert_true (has_event_with (cli, "sent", NULL, NULL));
  big_line = attachment_named (cli, "worksheet.pdf");
  photo_line = attachment_named (cli, "homework.jpg");
  cli_free (cli);

  g_assert_cmpint (cli_run (fixture, &cli, "sara", NULL, "history", "1"), ==, 0);
  messages = events_named (cli, "message");
  attachments = events_named (cli, "attachment");
  g_assert_cmpuint (messages->len, ==, 1);
  g_assert_cmpuint (attachments->len, ==, 2);
  cli_free (cli);

  assert_download_identical (
    fixture, "sara", json_object_get_int_member (big_line, "attachment_id"), big_sha256, TRUE);
  assert_download_identical (
    fixture, "sara", json_object_get_int_member (photo_line, "attachment_id"), photo_sha256, FALSE);
  g_assert_cmpuint (natter_tcp_proxy_get_n_cuts (fixture->proxy), >=, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/cli/account-commands", test_account_commands);
  ADD ("/natter/cli/logout-everywhere", test_logout_everywhere);
  ADD ("/natter/cli/send-and-listen-across-server-restart", test_send_listen_across_restart);
  ADD ("/natter/cli/token-from-environment", test_token_from_environment);
  ADD ("/natter/cli/send-timeout-with-server-down", test_send_timeout_with_server_down);
  ADD ("/natter/cli/listen-count-and-timeout", test_listen_count_and_timeout);
  ADD ("/natter/cli/refusals-are-errors", test_refusals_are_errors);
  ADD ("/natter/cli/block-unblock-blocked", test_block_unblock_blocked);
  ADD ("/natter/cli/token-file-fallback-said-once", test_token_file_fallback_said_once);
  ADD ("/natter/cli/protocol-errors-on-stderr", test_protocol_errors_on_stderr);
  ADD ("/natter/cli/attachments-round-trip-byte-identical", test_attachments_round_trip);
  ADD ("/natter/cli/attachments-through-cut-link-exactly-once", test_attachments_through_cut_link);
#undef ADD

  return g_test_run ();
}
