/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-cli-call"

#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "natter-test-server.h"

/* natter-cli call / answer as separate processes against the real server. */

typedef struct {
  GSubprocess *process;
  GDataInputStream *out;
  GPtrArray *lines;
  gboolean eof;
  gboolean exited;
} Cli;

typedef struct {
  NatterTestServer *server;
  char *caller_token;
  char *callee_token;
  NatterProfile *caller;
  NatterProfile *callee;
  char *data_dir;
} Fixture;

static void read_next_line (Cli *cli);

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Cli *cli = user_data;
  g_autoptr (GError) error = NULL;
  char *line =
    g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, &error);

  if (line == NULL) {
    cli->eof = TRUE;
    return;
  }
  g_test_message ("cli: %s", line);
  g_ptr_array_add (cli->lines, line);
  read_next_line (cli);
}

static void
read_next_line (Cli *cli)
{
  g_data_input_stream_read_line_async (cli->out, G_PRIORITY_DEFAULT, NULL, on_line, cli);
}

static void
on_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Cli *cli = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  cli->exited = TRUE;
}

/* @env: NULL or name, value, …, NULL; with it the lines read include
 * stderr's. */
static Cli *
cli_spawn_full (Fixture *fixture,
                const char *token,
                const NatterProfile *profile,
                const char *const *args,
                const char *const *env)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
    G_SUBPROCESS_FLAGS_STDOUT_PIPE | (env != NULL ? G_SUBPROCESS_FLAGS_STDERR_MERGE : 0));
  g_autofree char *binary = natter_test_top_build_filename ("src", "cli", "natter-cli", NULL);
  g_autofree char *profile_arg =
    g_strdup_printf ("%s:%" G_GINT64_FORMAT, profile->profile_type, profile->profile_id);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *data_home = NULL;
  g_autoptr (GError) error = NULL;
  Cli *cli = g_new0 (Cli, 1);

  data_home = g_build_filename (fixture->data_dir, profile_arg, NULL);
  g_mkdir_with_parents (data_home, 0700);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN", token, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", data_home, TRUE);
  for (guint i = 0; env != NULL && env[i] != NULL && env[i + 1] != NULL; i += 2)
    g_subprocess_launcher_setenv (launcher, env[i], env[i + 1], TRUE);

  g_ptr_array_add (argv, binary);
  g_ptr_array_add (argv, "--server");
  g_ptr_array_add (argv, (char *) natter_test_server_get_url (fixture->server));
  g_ptr_array_add (argv, "--profile");
  g_ptr_array_add (argv, profile_arg);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);

  cli->process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  cli->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (cli->process));
  cli->lines = g_ptr_array_new_with_free_func (g_free);
  read_next_line (cli);
  g_subprocess_wait_async (cli->process, NULL, on_exited, cli);
  return cli;
}

static Cli *
cli_spawn (Fixture *fixture,
           const char *token,
           const NatterProfile *profile,
           const char *const *args)
{
  return cli_spawn_full (fixture, token, profile, args, NULL);
}

static gboolean
has_line_with (Cli *cli, const char *text)
{
  for (guint i = 0; i < cli->lines->len; i++) {
    if (strstr (g_ptr_array_index (cli->lines, i), text) != NULL)
      return TRUE;
  }
  return FALSE;
}

static void
cli_free (Cli *cli)
{
  if (!cli->exited)
    g_subprocess_force_exit (cli->process);
  while (!cli->exited || !cli->eof)
    g_main_context_iteration (NULL, TRUE);
  g_object_unref (cli->out);
  g_object_unref (cli->process);
  g_ptr_array_unref (cli->lines);
  g_free (cli);
}

static gboolean
has_event (Cli *cli, const char *event)
{
  g_autofree char *needle = g_strdup_printf ("\"event\":\"%s\"", event);

  for (guint i = 0; i < cli->lines->len; i++) {
    if (strstr (g_ptr_array_index (cli->lines, i), needle) != NULL)
      return TRUE;
  }
  return FALSE;
}

/* The call_summary line, parsed. */
static JsonObject *
summary (Cli *cli, JsonParser *parser)
{
  for (guint i = 0; i < cli->lines->len; i++) {
    const char *line = g_ptr_array_index (cli->lines, i);

    if (strstr (line, "\"event\":\"call_summary\"") != NULL) {
      g_assert_true (json_parser_load_from_data (parser, line, -1, NULL));
      return json_node_get_object (json_parser_get_root (parser));
    }
  }
  g_assert_not_reached ();
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterUser) caller = NULL;
  g_autoptr (NatterUser) callee = NULL;
  g_autoptr (GError) error = NULL;

  fixture->server = natter_test_server_new (NULL);
  caller = natter_test_server_register (fixture->server, "abebe@example.org", "Abebe", "tutor",
                                        &fixture->caller_token, &fixture->caller);
  callee = natter_test_server_register (fixture->server, "bethlehem@example.org", "Bethlehem",
                                        "student", &fixture->callee_token, &fixture->callee);
  fixture->data_dir = g_dir_make_tmp ("natter-test-cli-call-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *child = g_build_filename (path, name, NULL);

    if (g_file_test (child, G_FILE_TEST_IS_DIR))
      remove_tree (child);
    else
      g_remove (child);
  }
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  natter_test_server_free (fixture->server);
  remove_tree (fixture->data_dir);
  g_free (fixture->data_dir);
  g_free (fixture->caller_token);
  g_free (fixture->callee_token);
  natter_profile_free (fixture->caller);
  natter_profile_free (fixture->callee);
}

static char *
profile_string (const NatterProfile *profile)
{
  return g_strdup_printf ("%s:%" G_GINT64_FORMAT, profile->profile_type, profile->profile_id);
}

static void
test_video_call (Fixture *fixture, gconstpointer data)
{
  const char *answer_args[] = { "answer", "--auto", "--count", "1", "--duration", "30", NULL };
  g_autofree char *callee = profile_string (fixture->callee);
  const char *call_args[] = { "call", callee, "--video", "--duration", "2", "--stats-interval",
                              "500",  NULL };
  g_autoptr (JsonParser) caller_parser = json_parser_new ();
  g_autoptr (JsonParser) callee_parser = json_parser_new ();
  Cli *answer, *call;
  JsonObject *caller_summary, *callee_summary;

  answer = cli_spawn (fixture, fixture->callee_token, fixture->callee, answer_args);
  natter_test_wait_until (has_event (answer, "waiting"), 20000);
  call = cli_spawn (fixture, fixture->caller_token, fixture->caller, call_args);

  natter_test_wait_until (call->exited && call->eof && answer->exited && answer->eof, 60000);
  g_assert_true (g_subprocess_get_if_exited (call->process));
  g_assert_cmpint (g_subprocess_get_exit_status (call->process), ==, 0);
  g_assert_cmpint (g_subprocess_get_exit_status (answer->process), ==, 0);
  g_assert_true (has_event (call, "call_state"));

  caller_summary = summary (call, caller_parser);
  callee_summary = summary (answer, callee_parser);
  g_assert_cmpstr (json_object_get_string_member (caller_summary, "end_reason"), ==, "hangup");
  g_assert_true (json_object_get_boolean_member (caller_summary, "ended_locally"));
  g_assert_cmpstr (json_object_get_string_member (callee_summary, "end_reason"), ==, "hangup");
  g_assert_false (json_object_get_boolean_member (callee_summary, "ended_locally"));
  g_assert_true (json_object_get_boolean_member (caller_summary, "media_both_ways"));
  g_assert_true (json_object_get_boolean_member (callee_summary, "media_both_ways"));
  g_assert_cmpint (json_object_get_int_member (caller_summary, "video_frames_received"), >, 0);
  g_assert_cmpint (json_object_get_int_member (callee_summary, "video_frames_received"), >, 0);
  g_assert_cmpint (json_object_get_int_member (caller_summary, "video_frames_sent"), >, 0);
  g_assert_cmpint (json_object_get_int_member (caller_summary, "invitation_to_ringing_ms"), >=, 0);
  g_assert_cmpint (json_object_get_int_member (callee_summary, "accept_to_first_video_ms"), >=, 0);
  /* How smooth it was: a frame rate each way, freezes counted (none is
   * asserted: the machine may be loaded), the audio the caller played. */
  g_assert_cmpfloat (json_object_get_double_member (caller_summary, "video_fps_received"), >, 0);
  g_assert_cmpfloat (json_object_get_double_member (caller_summary, "video_fps_sent"), >, 0);
  g_assert_cmpfloat (json_object_get_double_member (callee_summary, "video_fps_received"), >, 0);
  g_assert_cmpint (json_object_get_int_member (caller_summary, "video_freezes"), >=, 0);
  g_assert_cmpint (json_object_get_int_member (caller_summary, "video_freeze_ms"), >=, 0);
  g_assert_true (json_object_has_member (caller_summary, "video_freezes_decoded"));
  g_assert_true (json_object_has_member (caller_summary, "video_freeze_ms_decoded"));
  g_assert_cmpint (json_object_get_int_member (caller_summary, "audio_frames_played"), >, 0);
  g_assert_cmpfloat (json_object_get_double_member (caller_summary, "audio_concealed_pct"), >=, 0);
  g_assert_cmpfloat (json_object_get_double_member (caller_summary, "audio_concealed_pct"), <=,
                     100);
  /* --stats-interval: call_stats lines while connected, the callee's none. */
  g_assert_true (has_event (call, "call_stats"));
  g_assert_false (has_event (answer, "call_stats"));

  cli_free (call);
  cli_free (answer);
}

static void
test_declined_voice_call (Fixture *fixture, gconstpointer data)
{
  const char *answer_args[] = { "answer", "--decline", "--count", "1", NULL };
  g_autofree char *callee = profile_string (fixture->callee);
  const char *call_args[] = { "call", callee, "--voice", NULL };
  g_autoptr (JsonParser) parser = json_parser_new ();
  Cli *answer, *call;
  JsonObject *caller_summary;

  answer = cli_spawn (fixture, fixture->callee_token, fixture->callee, answer_args);
  natter_test_wait_until (has_event (answer, "waiting"), 20000);
  call = cli_spawn (fixture, fixture->caller_token, fixture->caller, call_args);

  natter_test_wait_until (call->exited && call->eof && answer->exited && answer->eof, 60000);
  /* No media: the caller fails; declining as asked is a success. */
  g_assert_cmpint (g_subprocess_get_exit_status (call->process), !=, 0);
  g_assert_cmpint (g_subprocess_get_exit_status (answer->process), ==, 0);
  caller_summary = summary (call, parser);
  g_assert_cmpstr (json_object_get_string_member (caller_summary, "end_reason"), ==, "declined");
  g_assert_cmpstr (json_object_get_string_member (caller_summary, "call_type"), ==, "voice");
  g_assert_false (json_object_get_boolean_member (caller_summary, "media_both_ways"));

  cli_free (call);
  cli_free (answer);
}

/* On a machine without sound devices the microphone opens and fails as it
 * starts (autoaudiosrc's choice there); a file descriptor that reads
 * nothing does the same anywhere. natter-cli says so at once, and how to
 * call with test sources, instead of waiting for the media path. */
static void
test_missing_microphone_says_so_at_once (Fixture *fixture, gconstpointer data)
{
  g_autofree char *callee = profile_string (fixture->callee);
  const char *call_args[] = { "call", callee, "--voice", "--timeout", "30", NULL };
  const char *env[] = { "NATTER_AUDIO_SRC", "fdsrc fd=2147483647 ! rawaudioparse", NULL };
  Cli *call;
  gint64 start = g_get_monotonic_time ();

  call = cli_spawn_full (fixture, fixture->caller_token, fixture->caller, call_args, env);
  natter_test_wait_until (call->exited && call->eof, 3000);
  g_assert_cmpint ((g_get_monotonic_time () - start) / 1000, <, natter_test_scale_ms (3000));
  g_assert_cmpint (g_subprocess_get_exit_status (call->process), !=, 0);
  g_assert_true (has_line_with (call, "The microphone could not be opened"));
  g_assert_true (has_line_with (call, "NATTER_AUDIO_SRC=audiotestsrc"));
  g_assert_false (has_line_with (call, "did not recover"));

  cli_free (call);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_setenv ("NATTER_VIDEO_SRC",
            "videotestsrc is-live=true pattern=ball ! capsfilter "
            "caps=\"video/x-raw,width=320,height=240,framerate=30/1\"",
            FALSE);
  g_setenv ("NATTER_AUDIO_SRC", "audiotestsrc is-live=true wave=ticks", FALSE);
  g_setenv ("NATTER_AUDIO_SINK", "fakesink sync=false", FALSE);
  g_setenv ("NATTER_SOUND_DIR", "/nonexistent", TRUE);
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);

  g_test_add ("/natter/cli-call/video-call-media-both-ways", Fixture, NULL, fixture_set_up,
              test_video_call, fixture_tear_down);
  g_test_add ("/natter/cli-call/declined-voice-call", Fixture, NULL, fixture_set_up,
              test_declined_voice_call, fixture_tear_down);
  g_test_add ("/natter/cli-call/missing-microphone-says-so-at-once", Fixture, NULL, fixture_set_up,
              test_missing_microphone_says_so_at_once, fixture_tear_down);

  return g_test_run ();
}
