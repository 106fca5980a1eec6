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

  if (values->len == 0) {
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
  g_autoptr (GArray) caller_first = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) callee_first = g_array_new (FALSE, FALSE, sizeof (double));
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
    SummaryWait summary = { &callee, (guint) i + 1 };
    double cpu_self = 0, cpu_callee = 0;
    gint64 started = 0;
    GPid pid = 0;
    const char *identifier = g_subprocess_get_identifier (callee.process);

    call = natter_call_manager_start_call (manager, peer, "video", 0, &error);
    if (call == NULL)
      g_error ("Cannot call: %s", error->message);
    g_object_ref (call);

    media.call = call;
    media.frames = 1;
    if (!wait_for (call_has_video, &media, 30000) ||
        natter_call_get_state (call) == NATTER_CALL_STATE_ENDED) {
      fprintf (stderr, "call %d: no video (%s)\n", i, natter_call_get_end_message (call));
      natter_call_hang_up (call);
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
      value = (natter_call_pipeline_get_first_video_time (pipeline) -
               natter_call_get_accepted_at (call)) /
              1000.0;
      g_array_append_val (caller_first, value);
    }

    natter_call_hang_up (call);
    wait_for (call_ended, call, 5000);
    wait_for (summaries_arrived, &summary, 10000);

    if (!cpu_run && callee.summaries->len > (guint) i) {
      g_autoptr (JsonParser) parser = json_parser_new ();

      if (json_parser_load_from_data (parser, g_ptr_array_index (callee.summaries, i), -1, NULL)) {
        JsonObject *object = json_node_get_object (json_parser_get_root (parser));
        double value = (double) json_object_get_int_member (object, "accept_to_first_video_ms");

        if (value >= 0)
          g_array_append_val (callee_first, value);
      }
    }
  }

  report ("invitation -> callee ringing", ringing);
  report ("accept -> first video frame (caller)", caller_first);
  report ("accept -> first video frame (callee)", callee_first);

  g_subprocess_send_signal (callee.process, SIGTERM);
  g_subprocess_wait (callee.process, NULL, NULL);
  g_clear_object (&callee.out);
  g_clear_object (&callee.process);
  g_ptr_array_unref (callee.summaries);
  return 0;
}
