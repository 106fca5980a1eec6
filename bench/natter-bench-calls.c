/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench-calls"

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "natter-call-manager.h"
#include "natter-client.h"

/* natter-bench-calls --server URL [--calls 20] [--cpu-seconds 10]
 *
 * The caller runs in this process (a NatterClient); the callee is a
 * `natter-cli answer --auto` child, as on another machine. Each call rings,
 * is answered, runs until both sides decoded video, and is hung up. Prints
 * the median and worst of invitation → ringing and accept → first decoded
 * remote video frame on each side, then the CPU each side uses during one
 * longer 720p call. */

typedef struct {
  GSubprocess *process;
  GDataInputStream *out;
  GPtrArray *summaries; /* callee's call_summary lines */
  gboolean ready;
  gboolean eof;
} Callee;

static void read_callee_line (Callee *callee);

static void
on_callee_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Callee *callee = user_data;
  char *line =
    g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, NULL);

  if (line == NULL) {
    callee->eof = TRUE;
    return;
  }
  /* The callee's events and its debug output (G_MESSAGES_DEBUG), for
   * looking into a slow or failed call. */
  if (g_getenv ("NATTER_BENCH_VERBOSE") != NULL)
    fprintf (stderr, "callee: %s\n", line);
  if (strstr (line, "\"event\":\"waiting\"") != NULL)
    callee->ready = TRUE;
  if (strstr (line, "\"event\":\"call_summary\"") != NULL)
    g_ptr_array_add (callee->summaries, line);
  else
    g_free (line);
  read_callee_line (callee);
}

static void
read_callee_line (Callee *callee)
{
  g_data_input_stream_read_line_async (callee->out, G_PRIORITY_DEFAULT, NULL, on_callee_line,
                                       callee);
}

static void
on_task_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static gboolean
wake_up (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates until *@flag or the deadline. */
static gboolean
wait_for (gboolean (*check) (gpointer), gpointer data, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  guint tick = g_timeout_add (50, wake_up, NULL);

  while (!check (data) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return check (data);
}

static gboolean
result_ready (gpointer data)
{
  return *(GAsyncResult **) data != NULL;
}

static gboolean
client_connected (gpointer data)
{
  return natter_connection_get_state (natter_client_get_connection (data)) ==
         NATTER_CONNECTION_STATE_CONNECTED;
}

static gboolean
callee_ready (gpointer data)
{
  return ((Callee *) data)->ready;
}

static NatterClient *
register_client (const char *server, const char *data_dir, const char *name, const char *type)
{
  NatterClient *client = natter_client_new (server, data_dir);
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *email = g_strdup_printf ("bench-%s-%08x@example.org", name, g_random_int ());
  const char *types[] = { type, NULL };

  natter_account_register_async (natter_client_get_account (client), email, "bench-password-123",
                                 name, types, NULL, on_task_done, &result);
  wait_for (result_ready, &result, 10000);
  if (result == NULL ||
      !natter_account_register_finish (natter_client_get_account (client), result, &error))
    g_error ("Cannot register %s: %s", email, error != NULL ? error->message : "timed out");
  if (!wait_for (client_connected, client, 10000))
    g_error ("%s could not connect", email);
  return client;
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static void
report (const char *what, GArray *values)
{
  double median, worst;

  if (values == NULL || values->len == 0) {
    printf ("%-40s no samples\n", what);
    return;
  }
  g_array_sort (values, compare_doubles);
  median = values->len % 2 ? g_array_index (values, double, values->len / 2)
                           : (g_array_index (values, double, values->len / 2 - 1) +
                              g_array_index (values, double, values->len / 2)) /
                               2;
  worst = g_array_index (values, double, values->len - 1);
  printf ("%-40s median %7.1f ms   worst %7.1f ms   (n=%u)\n", what, median, worst, values->len);
}

static double
process_cpu_seconds (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *contents = NULL;
  g_auto (GStrv) fields = NULL;
  const char *after_name;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  /* Fields after the ")" of the command name: utime is the 12th, stime the 13th. */
  after_name = strrchr (contents, ')');
  if (after_name == NULL)
    return 0;
  fields = g_strsplit (after_name + 2, " ", 0);
  if (g_strv_length (fields) < 13)
    return 0;
  return (g_ascii_strtod (fields[11], NULL) + g_ascii_strtod (fields[12], NULL)) /
         sysconf (_SC_CLK_TCK);
}

static double
self_cpu_seconds (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec / 1e6;
}

typedef struct {
  NatterCall *call;
  guint64 frames;
} MediaWait;

static gboolean
call_has_video (gpointer data)
{
  MediaWait *wait = data;
  NatterCallPipeline *pipeline = natter_call_get_pipeline (wait->call);

  return natter_call_get_state (wait->call) == NATTER_CALL_STATE_ENDED ||
         (pipeline != NULL &&
          natter_call_pipeline_get_video_frames_received (pipeline) >= wait->frames);
}

static gboolean
call_ended (gpointer data)
{
  return natter_call_get_state (data) == NATTER_CALL_STATE_ENDED;
}

typedef struct {
  Callee *callee;
  guint n;
} SummaryWait;

static gboolean
summaries_arrived (gpointer data)
{
  SummaryWait *wait = data;

  return wait->callee->summaries->len >= wait->n || wait->callee->eof;
}

static const char *
enum_nick (GType type, int value)
{
  g_autoptr (GEnumClass) klass = g_type_class_ref (type);
  GEnumValue *enum_value = g_enum_get_value (klass, value);

  return enum_value != NULL ? enum_value->value_nick : "unknown";
}

/* Setup points of both sides, in ms after the callee's accept: the two
 * processes share the system's monotonic clock. */
typedef struct {
  GArray *caller[NATTER_CALL_PIPELINE_N_MARKS];
  GArray *callee[NATTER_CALL_PIPELINE_N_MARKS];
  GArray *caller_answer;
} Breakdown;

static void
append_ms (GArray **values, gint64 from_us, gint64 to_us)
{
  double value = (to_us - from_us) / 1000.0;

  if (*values == NULL)
    *values = g_array_new (FALSE, FALSE, sizeof (double));
  if (from_us > 0 && to_us > 0)
    g_array_append_val (*values, value);
}

static void
add_breakdown (Breakdown *breakdown,
               JsonObject *summary,
               gint64 caller_answer_at,
               const gint64 *caller_marks)
{
  gint64 accepted = json_object_get_int_member_with_default (summary, "accepted_at_us", 0);
  JsonObject *setup = json_object_get_object_member (summary, "setup_ms");

  if (accepted <= 0 || setup == NULL)
    return;
  append_ms (&breakdown->caller_answer, accepted, caller_answer_at);
  for (int mark = 0; mark < NATTER_CALL_PIPELINE_N_MARKS; mark++) {
    const char *nick = enum_nick (NATTER_TYPE_CALL_PIPELINE_MARK, mark);

    append_ms (&breakdown->caller[mark], accepted, caller_marks[mark]);
    if (json_object_has_member (setup, nick))
      append_ms (&breakdown->callee[mark], accepted,
                 accepted + json_object_get_int_member (setup, nick) * 1000);
    else
      append_ms (&breakdown->callee[mark], 0, 0);
  }
}

static void
breakdown_clear (Breakdown *breakdown)
{
  for (int mark = 0; mark < NATTER_CALL_PIPELINE_N_MARKS; mark++) {
    g_clear_pointer (&breakdown->caller[mark], g_array_unref);
    g_clear_pointer (&breakdown->callee[mark], g_array_unref);
  }
  g_clear_pointer (&breakdown->caller_answer, g_array_unref);
}

int
main (int argc, char *argv[])
{
  g_autoptr (GOptionContext) context = g_option_context_new ("- call setup and CPU benchmark");
  g_autoptr (GError) error = NULL;
  g_autofree char *server = NULL;
  g_autofree char *cli_path = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *callee_data = NULL;
  g_autofree char *callee_profile = NULL;
  g_autofree char *total = NULL;
  g_autoptr (NatterClient) caller = NULL;
  g_autoptr (NatterClient) callee_client = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GArray) ringing = g_array_new (FALSE, FALSE, sizeof (double));
  Breakdown breakdown = { 0 };
  NatterCallManager *manager = NULL;
  g_autoptr (NatterProfile) peer = NULL;
  Callee callee = { 0 };
  int calls = 20;
  int cpu_seconds = 10;
  int width = 1280, height = 720;
  GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_STRING, &server, "The natter-server URL", "URL" },
    { "calls", 0, 0, G_OPTION_ARG_INT, &calls, "How many calls to time (default 20)", "N" },
    { "cpu-seconds", 0, 0, G_OPTION_ARG_INT, &cpu_seconds, "Length of the CPU call (default 10)",
      "S" },
    { "width", 0, 0, G_OPTION_ARG_INT, &width, "Test video width (default 1280)", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &height, "Test video height (default 720)", "H" },
    { "natter-cli", 0, 0, G_OPTION_ARG_FILENAME, &cli_path, "The natter-cli binary for the callee",
      "PATH" },
    { NULL },
  };
  g_autofree char *video_src = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || server == NULL || calls <= 0) {
    fprintf (stderr, "usage: natter-bench-calls --server URL [--calls N] [--cpu-seconds S]\n");
    return 2;
  }
  if (cli_path == NULL) {
    g_autofree char *directory = g_path_get_dirname (argv[0]);

    cli_path = g_build_filename (directory, "..", "src", "cli", "natter-cli", NULL);
  }

  video_src = g_strdup_printf ("videotestsrc is-live=true pattern=ball ! capsfilter "
                               "caps=\"video/x-raw,width=%d,height=%d,framerate=30/1\"",
                               width, height);
  g_setenv ("NATTER_VIDEO_SRC", video_src, FALSE);
  g_setenv ("NATTER_AUDIO_SRC", "audiotestsrc is-live=true wave=ticks", FALSE);
  g_setenv ("NATTER_AUDIO_SINK", "fakesink sync=false", FALSE);
  /* As the app does when it starts. */
  natter_call_pipeline_preload ();
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);

  data_dir = g_dir_make_tmp ("natter-bench-calls-XXXXXX", &error);
  g_assert_no_error (error);
  callee_data = g_build_filename (data_dir, "callee", NULL);
  caller = register_client (server, data_dir, "Caller", "tutor");
  callee_client = register_client (server, callee_data, "Callee", "student");
  peer = natter_profile_copy (
    natter_account_get_active_profile (natter_client_get_account (callee_client)));
  callee_profile = g_strdup_printf ("%s:%" G_GINT64_FORMAT, peer->profile_type, peer->profile_id);

  /* The callee answers in its own process, with its own token. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_setenv (
    launcher, "NATTER_TOKEN", natter_account_get_token (natter_client_get_account (callee_client)),
    TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", callee_data, TRUE);
  total = g_strdup_printf ("%d", calls + 1);
  callee.process = g_subprocess_launcher_spawn (launcher, &error, cli_path, "--server", server,
                                                "--profile", callee_profile, "answer", "--auto",
                                                "--count", total, "--duration", "3600", NULL);
  if (callee.process == NULL)
    g_error ("Cannot start %s: %s", cli_path, error->message);
  g_clear_object (&callee_client);
  callee.out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (callee.process));
  callee.summaries = g_ptr_array_new_with_free_func (g_free);
  read_callee_line (&callee);
  if (!wait_for (callee_ready, &callee, 20000))
    g_error ("The callee did not start");

  g_object_get (caller, "call-manager", &manager, NULL);
  g_object_unref (manager);

  printf ("%d calls, %dx%d, jitter buffer %s ms\n", calls, width, height,
          g_getenv ("NATTER_CALL_LATENCY_MS") != NULL ? g_getenv ("NATTER_CALL_LATENCY_MS")
                                                      : "default");

  for (int i = 0; i <= calls; i++) {
    gboolean cpu_run = i == calls;
    g_autoptr (NatterCall) call = NULL;
    MediaWait media = { 0 };
    SummaryWait summary = { &callee, callee.summaries->len + 1 };
    double cpu_self = 0, cpu_callee = 0;
    gint64 started = 0;
    GPid pid = 0;
    const char *identifier = g_subprocess_get_identifier (callee.process);
    gint64 caller_marks[NATTER_CALL_PIPELINE_N_MARKS] = { 0 };
    gint64 caller_answer_at = 0;
    gboolean timed = FALSE;

    call = natter_call_manager_start_call (manager, peer, "video", 0, &error);
    if (call == NULL)
      g_error ("Cannot call: %s", error->message);
    g_object_ref (call);

    /* A second of video, so that the callee has decoded its first frame
     * too before the hang-up. */
    media.call = call;
    media.frames = 30;
    if (!wait_for (call_has_video, &media, 30000) ||
        natter_call_get_state (call) == NATTER_CALL_STATE_ENDED) {
      fprintf (stderr, "call %d: no video (%s)\n", i, natter_call_get_end_message (call));
      natter_call_hang_up (call);
      wait_for (summaries_arrived, &summary, 10000);
      continue;
    }

    if (cpu_run && identifier != NULL) {
      /* Steady state: measure over the middle of a long call. */
      pid = (GPid) atoi (identifier);
      media.frames = 60;
      wait_for (call_has_video, &media, 30000);
      cpu_self = self_cpu_seconds ();
      cpu_callee = process_cpu_seconds (pid);
      started = g_get_monotonic_time ();
      media.frames = G_MAXUINT64;
      wait_for (call_has_video, &media, (guint) cpu_seconds * 1000);
    }

    if (cpu_run && started > 0) {
      double wall = (g_get_monotonic_time () - started) / 1e6;

      printf ("CPU during a %dx%d call: caller %.0f%%, callee %.0f%% of one core (over %.1f s)\n",
              width, height, 100.0 * (self_cpu_seconds () - cpu_self) / wall,
              100.0 * (process_cpu_seconds (pid) - cpu_callee) / wall, wall);
    } else {
      NatterCallPipeline *pipeline = natter_call_get_pipeline (call);
      double value;

      value = (natter_call_get_ringing_at (call) - natter_call_get_invited_at (call)) / 1000.0;
      g_array_append_val (ringing, value);
      for (int mark = 0; mark < NATTER_CALL_PIPELINE_N_MARKS; mark++)
        caller_marks[mark] = natter_call_pipeline_get_mark_time (pipeline, mark);
      caller_answer_at = natter_call_get_accepted_at (call);
      timed = TRUE;
    }

    natter_call_hang_up (call);
    wait_for (call_ended, call, 5000);
    wait_for (summaries_arrived, &summary, 10000);

    if (timed && callee.summaries->len >= summary.n) {
      g_autoptr (JsonParser) parser = json_parser_new ();
      const char *line = g_ptr_array_index (callee.summaries, summary.n - 1);

      if (json_parser_load_from_data (parser, line, -1, NULL))
        add_breakdown (&breakdown, json_node_get_object (json_parser_get_root (parser)),
                       caller_answer_at, caller_marks);
    }
  }

  report ("invitation -> callee ringing", ringing);
  report ("accept -> first video frame (caller)",
          breakdown.caller[NATTER_CALL_PIPELINE_MARK_FIRST_VIDEO]);
  report ("accept -> first video frame (callee)",
          breakdown.callee[NATTER_CALL_PIPELINE_MARK_FIRST_VIDEO]);
  printf ("\nWhere the time goes, from the callee's accept:\n");
  report ("  callee: answer sent", breakdown.callee[NATTER_CALL_PIPELINE_MARK_LOCAL_DESCRIPTION]);
  report ("  caller: answer received", breakdown.caller_answer);
  report ("  caller: answer applied",
          breakdown.caller[NATTER_CALL_PIPELINE_MARK_REMOTE_DESCRIPTION]);
  report ("  callee: first local candidate",
          breakdown.callee[NATTER_CALL_PIPELINE_MARK_FIRST_LOCAL_CANDIDATE]);
  for (int mark = NATTER_CALL_PIPELINE_MARK_ICE_CONNECTED; mark < NATTER_CALL_PIPELINE_N_MARKS;
       mark++) {
    g_autofree char *caller_label =
      g_strdup_printf ("  caller: %s", enum_nick (NATTER_TYPE_CALL_PIPELINE_MARK, mark));
    g_autofree char *callee_label =
      g_strdup_printf ("  callee: %s", enum_nick (NATTER_TYPE_CALL_PIPELINE_MARK, mark));

    report (callee_label, breakdown.callee[mark]);
    report (caller_label, breakdown.caller[mark]);
  }
  breakdown_clear (&breakdown);

  g_subprocess_send_signal (callee.process, SIGTERM);
  g_subprocess_wait (callee.process, NULL, NULL);
  g_clear_object (&callee.out);
  g_clear_object (&callee.process);
  g_ptr_array_unref (callee.summaries);
  return 0;
}
