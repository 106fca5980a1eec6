/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench"

#include "config.h"

#include "natter-bench-calls.h"
#include "natter-bench-calls-link.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "natter-bench-common.h"
#include "natter-bench-server.h"
#include "natter-call-manager.h"
#include "natter-call-pipeline.h"
#include "natter-client.h"

/* natter-bench calls [--server URL] [--count N] [--cpu-seconds S] [--json]
 *
 * Two NatterClients in this process, with test sources in place of devices:
 * a caller (tutor) and a callee (student) that accepts with video as soon as
 * its call rings. N video calls one after the other; each runs until both
 * sides decoded a second of video, then the caller hangs up. Both share
 * this process's monotonic clock, so every interval is measured directly.
 *
 * The CPU of each side is read over one more, longer call whose callee is
 * a `natter-cli answer --auto` child with the callee's token (as on another
 * machine): one process cannot tell its two sides' threads apart. Without
 * natter-cli, that call runs in process and the figure is both sides'.
 *
 * natter-bench calls --link DELAY_MS,LOSS_PCT,KBIT: calls over an emulated
 * link instead, in natter-bench-calls-link.c. */

#define STEP_TIMEOUT_MS 30000
#define FRAMES_PER_CALL 30 /* a second of video at 30 fps */

typedef struct {
  NatterClient *caller;
  NatterClient *callee;
  NatterCall *incoming; /* the callee's side of the current call */
} Calls;

/* One sample list per figure, in ms. */
typedef struct {
  GArray *callee_rings;   /* caller's invitation sent → callee's call rings */
  GArray *caller_ringing; /* → caller hears the server's call_ringing */
  GArray *marks[2][NATTER_CALL_PIPELINE_N_MARKS]; /* [caller, callee], from accept */
} Samples;

static void
on_incoming_call (NatterCallManager *manager, NatterCall *call, gpointer user_data)
{
  Calls *calls = user_data;

  g_set_object (&calls->incoming, call);
}

static gboolean
wake_up (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates the main context until @check says so or @timeout_ms passes. */
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

static void
on_task_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
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

static NatterClient *
register_client (
  const char *server, const char *data_dir, const char *name, const char *type, GError **error)
{
  g_autoptr (NatterClient) client = natter_client_new (server, data_dir);
  g_autoptr (GAsyncResult) result = NULL;
  g_autofree char *email = g_strdup_printf ("bench-%s-%08x@example.org", name, g_random_int ());
  const char *types[] = { type, NULL };

  natter_account_register_async (natter_client_get_account (client), email, "bench-password-123",
                                 name, types, NULL, on_task_done, &result);
  if (!wait_for (result_ready, &result, STEP_TIMEOUT_MS)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "registering %s timed out", email);
    return NULL;
  }
  if (!natter_account_register_finish (natter_client_get_account (client), result, error))
    return NULL;
  if (!wait_for (client_connected, client, STEP_TIMEOUT_MS)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "%s could not connect", email);
    return NULL;
  }
  return g_steal_pointer (&client);
}

static NatterCallManager *
call_manager_of (NatterClient *client)
{
  NatterCallManager *manager = NULL;

  /* The client keeps its manager alive. */
  g_object_get (client, "call-manager", &manager, NULL);
  g_object_unref (manager);
  return manager;
}

static gboolean
callee_rang (gpointer data)
{
  return ((Calls *) data)->incoming != NULL;
}

static gboolean
call_ended (gpointer data)
{
  return natter_call_get_state (data) == NATTER_CALL_STATE_ENDED;
}

typedef struct {
  NatterCall *sides[2];
  guint64 frames;
} VideoWait;

static guint64
frames_received (NatterCall *call)
{
  NatterCallPipeline *pipeline = natter_call_get_pipeline (call);

  return pipeline != NULL ? natter_call_pipeline_get_video_frames_received (pipeline) : 0;
}

static gboolean
both_have_video (gpointer data)
{
  VideoWait *wait = data;

  for (int side = 0; side < 2; side++) {
    if (natter_call_get_state (wait->sides[side]) == NATTER_CALL_STATE_ENDED)
      return TRUE;
  }
  return frames_received (wait->sides[0]) >= wait->frames &&
         frames_received (wait->sides[1]) >= wait->frames;
}

static void
add_ms (GArray **values, gint64 from_us, gint64 to_us)
{
  gint64 value = to_us - from_us;

  if (*values == NULL)
    *values = g_array_new (FALSE, FALSE, sizeof (gint64));
  if (from_us > 0 && to_us > 0)
    g_array_append_val (*values, value);
}

static void
samples_clear (Samples *samples)
{
  g_clear_pointer (&samples->callee_rings, g_array_unref);
  g_clear_pointer (&samples->caller_ringing, g_array_unref);
  for (int side = 0; side < 2; side++) {
    for (int mark = 0; mark < NATTER_CALL_PIPELINE_N_MARKS; mark++)
      g_clear_pointer (&samples->marks[side][mark], g_array_unref);
  }
}

/* "<key>_median_ms" and, @with_worst, "<key>_worst_ms" rows of @values (µs). */
static void
report_times (NatterBenchReport *report,
              const char *key,
              const char *label,
              GArray *values,
              gboolean with_worst)
{
  g_autofree char *median_key = g_strdup_printf ("%s_median_ms", key);
  g_autofree char *worst_key = g_strdup_printf ("%s_worst_ms", key);
  g_autofree char *median_label = g_strdup_printf ("%s%s", label, with_worst ? ", median" : "");
  g_autofree char *worst_label = g_strdup_printf ("%s, worst", label);

  if (values == NULL || values->len == 0)
    return;
  natter_bench_sort (values);
  natter_bench_report_double (report, median_key, median_label, "ms",
                              natter_bench_percentile_ms (values, 50));
  if (with_worst)
    natter_bench_report_double (report, worst_key, worst_label, "ms",
                                natter_bench_percentile_ms (values, 100));
}

/* The callee of the CPU call: a natter-cli child and what it printed. */
typedef struct {
  GSubprocess *process;
  GDataInputStream *out;
  GCancellable *cancellable;
  gboolean waiting; /* it printed {"event":"waiting"}: connected, ready */
  gboolean eof;
} CalleeProcess;

static void read_callee_line (CalleeProcess *callee);

static void
on_callee_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *line =
    g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, &error);
  CalleeProcess *callee = user_data;

  /* Cancelled by callee_process_stop (): the bench is done with it. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (line == NULL) {
    callee->eof = TRUE;
    return;
  }
  if (strstr (line, "\"event\":\"waiting\"") != NULL)
    callee->waiting = TRUE;
  /* A line read just before the stop: nothing more to read. */
  if (callee->out != NULL)
    read_callee_line (callee);
}

static void
read_callee_line (CalleeProcess *callee)
{
  g_data_input_stream_read_line_async (callee->out, G_PRIORITY_DEFAULT, callee->cancellable,
                                       on_callee_line, callee);
}

static gboolean
callee_waiting (gpointer data)
{
  CalleeProcess *callee = data;

  return callee->waiting || callee->eof;
}

static gboolean
callee_process_start (CalleeProcess *callee,
                      const char *cli_path,
                      const char *server_url,
                      const char *token,
                      const NatterProfile *profile,
                      const char *data_dir,
                      GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autofree char *profile_arg =
    g_strdup_printf ("%s:%" G_GINT64_FORMAT, profile->profile_type, profile->profile_id);

  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN", token, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", data_dir, TRUE);
  callee->process = g_subprocess_launcher_spawn (launcher, error, cli_path, "--server", server_url,
                                                 "--profile", profile_arg, "answer", "--auto",
                                                 "--count", "1", "--duration", "3600", NULL);
  if (callee->process == NULL)
    return FALSE;
  callee->cancellable = g_cancellable_new ();
  callee->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (callee->process));
  read_callee_line (callee);
  if (!wait_for (callee_waiting, callee, STEP_TIMEOUT_MS) || !callee->waiting) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s answer did not start", cli_path);
    return FALSE;
  }
  return TRUE;
}

static void
callee_process_stop (CalleeProcess *callee)
{
  if (callee->cancellable != NULL)
    g_cancellable_cancel (callee->cancellable);
  if (callee->process != NULL) {
    g_subprocess_send_signal (callee->process, SIGTERM);
    g_subprocess_wait (callee->process, NULL, NULL);
  }
  g_clear_object (&callee->out);
  g_clear_object (&callee->process);
  g_clear_object (&callee->cancellable);
}

static gboolean
caller_has_video (gpointer data)
{
  VideoWait *wait = data;

  return natter_call_get_state (wait->sides[0]) == NATTER_CALL_STATE_ENDED ||
         frames_received (wait->sides[0]) >= wait->frames;
}

/* The CPU call with the callee in @callee's process: each side's CPU in %
 * of one core over @cpu_seconds of steady video. */
static gboolean
run_cpu_call_with_callee_process (Calls *calls,
                                  const NatterProfile *peer,
                                  CalleeProcess *callee,
                                  double cpu_seconds,
                                  double *out_caller_percent,
                                  double *out_callee_percent,
                                  GError **error)
{
  NatterCallManager *manager = call_manager_of (calls->caller);
  g_autoptr (NatterCall) call = NULL;
  VideoWait video = { { NULL, NULL }, 2 * FRAMES_PER_CALL };
  int pid = atoi (g_subprocess_get_identifier (callee->process));
  NatterBenchProcStats callee_before, callee_after;
  gint64 caller_before, started, elapsed;
  gboolean ok = FALSE;

  call = natter_call_manager_start_call (manager, peer, "video", 0, error);
  if (call == NULL)
    return FALSE;
  g_object_ref (call);
  video.sides[0] = call;
  /* Past the setup: two seconds of the callee's video decoded here. */
  if (!wait_for (caller_has_video, &video, STEP_TIMEOUT_MS) ||
      natter_call_get_state (call) == NATTER_CALL_STATE_ENDED) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "no video from the natter-cli callee (%" G_GUINT64_FORMAT " frames; %s)",
                 frames_received (call), natter_call_get_end_message (call));
    goto out;
  }
  if (!natter_bench_read_proc (pid, &callee_before)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot read the callee's /proc");
    goto out;
  }
  caller_before = natter_bench_self_cpu_us ();
  started = g_get_monotonic_time ();
  video.frames = G_MAXUINT64;
  wait_for (caller_has_video, &video, (guint) (cpu_seconds * 1000));
  elapsed = g_get_monotonic_time () - started;
  if (natter_call_get_state (call) == NATTER_CALL_STATE_ENDED ||
      !natter_bench_read_proc (pid, &callee_after)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the call ended early (%s)",
                 natter_call_get_end_message (call));
    goto out;
  }
  *out_caller_percent = 100.0 * (natter_bench_self_cpu_us () - caller_before) / (double) elapsed;
  *out_callee_percent = natter_bench_cpu_percent (&callee_before, &callee_after, elapsed);
  ok = TRUE;

out:
  natter_call_hang_up (call);
  wait_for (call_ended, call, STEP_TIMEOUT_MS);
  return ok;
}

static const char *
mark_nick (NatterCallPipelineMark mark)
{
  g_autoptr (GEnumClass) klass = g_type_class_ref (NATTER_TYPE_CALL_PIPELINE_MARK);
  GEnumValue *value = g_enum_get_value (klass, mark);

  return value != NULL ? value->value_nick : "unknown";
}

/* One call: rings, is accepted, runs until both sides decoded @frames video
 * frames (and @cpu_seconds more when measuring CPU), is hung up. */
static gboolean
run_call (Calls *calls,
          const NatterProfile *peer,
          Samples *samples,
          double cpu_seconds,
          double *out_cpu_percent,
          GError **error)
{
  NatterCallManager *manager = call_manager_of (calls->caller);
  g_autoptr (NatterCall) call = NULL;
  g_autoptr (NatterCall) incoming = NULL;
  VideoWait video = { { NULL, NULL }, FRAMES_PER_CALL };
  gboolean ok = FALSE;

  g_clear_object (&calls->incoming);
  call = natter_call_manager_start_call (manager, peer, "video", 0, error);
  if (call == NULL)
    return FALSE;
  g_object_ref (call);

  if (!wait_for (callee_rang, calls, STEP_TIMEOUT_MS)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "the callee's call did not ring (%s)",
                 natter_call_get_end_message (call));
    goto out;
  }
  incoming = g_object_ref (calls->incoming);
  if (!natter_call_accept (incoming, TRUE)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the callee could not accept");
    goto out;
  }

  video.sides[0] = call;
  video.sides[1] = incoming;
  if (!wait_for (both_have_video, &video, STEP_TIMEOUT_MS) ||
      natter_call_get_state (call) == NATTER_CALL_STATE_ENDED ||
      natter_call_get_state (incoming) == NATTER_CALL_STATE_ENDED) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "no video both ways (caller %" G_GUINT64_FORMAT
                 " frames, callee %" G_GUINT64_FORMAT " frames; %s)",
                 frames_received (call), frames_received (incoming),
                 natter_call_get_end_message (call));
    goto out;
  }

  if (cpu_seconds > 0) {
    gint64 cpu_before = natter_bench_self_cpu_us ();
    gint64 started = g_get_monotonic_time ();

    /* The steady state: the setup is over once video flows both ways. */
    video.frames = G_MAXUINT64;
    wait_for (both_have_video, &video, (guint) (cpu_seconds * 1000));
    *out_cpu_percent = 100.0 * (natter_bench_self_cpu_us () - cpu_before) /
                       (double) (g_get_monotonic_time () - started);
  } else {
    gint64 accepted = natter_call_get_accepted_at (incoming);

    add_ms (&samples->callee_rings, natter_call_get_invited_at (call),
            natter_call_get_invited_at (incoming));
    add_ms (&samples->caller_ringing, natter_call_get_invited_at (call),
            natter_call_get_ringing_at (call));
    for (int side = 0; side < 2; side++) {
      NatterCallPipeline *pipeline = natter_call_get_pipeline (video.sides[side]);

      for (int mark = 0; mark < NATTER_CALL_PIPELINE_N_MARKS; mark++)
        add_ms (&samples->marks[side][mark], accepted,
                natter_call_pipeline_get_mark_time (pipeline, mark));
    }
  }
  ok = TRUE;

out:
  natter_call_hang_up (call);
  wait_for (call_ended, call, STEP_TIMEOUT_MS);
  if (incoming != NULL)
    wait_for (call_ended, incoming, STEP_TIMEOUT_MS);
  g_clear_object (&calls->incoming);
  return ok;
}

int
natter_bench_calls_main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *server_url = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *caller_dir = NULL;
  g_autofree char *callee_dir = NULL;
  g_autofree char *video_src = NULL;
  g_autofree char *cli_path = NULL;
  g_autofree char *link = NULL; /* only for --help: --link runs elsewhere */
  g_auto (NatterBenchServer) local_server = { 0 };
  g_autoptr (NatterProfile) peer = NULL;
  int count = 20;
  double cpu_seconds = 10;
  int width = 1280, height = 720;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_STRING, &server_url,
      "Server URL (http://HOST:PORT; default: start this build's natter-server)", "URL" },
    { "count", 0, 0, G_OPTION_ARG_INT, &count, "Calls to time (default 20)", "N" },
    { "cpu-seconds", 0, 0, G_OPTION_ARG_DOUBLE, &cpu_seconds,
      "Length of one more call whose CPU use is measured (default 10; 0: none)", "S" },
    { "width", 0, 0, G_OPTION_ARG_INT, &width, "Test video width (default 1280)", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &height, "Test video height (default 720)", "H" },
    { "natter-cli", 0, 0, G_OPTION_ARG_FILENAME, &cli_path,
      "natter-cli for the callee of the CPU call (default: this build's)", "PATH" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the results as JSON", NULL },
    { "link", 0, 0, G_OPTION_ARG_STRING, &link,
      "Video calls over an emulated link instead (see --link DELAY_MS,LOSS_PCT,KBIT --help)",
      "DELAY_MS,LOSS_PCT,KBIT" },
    { NULL },
  };
  Calls calls = { 0 };
  CalleeProcess callee_process = { 0 };
  double caller_cpu_percent = -1, callee_cpu_percent = -1;
  Samples samples = { 0 };
  NatterBenchReport report;
  double cpu_percent = -1;
  int completed = 0;
  int failed = 0;
  static const char *const side_names[2] = { "caller", "callee" };

  /* As natter and natter-cli do, before any thread. */
  natter_call_pipeline_limit_arenas ();
  /* Over an emulated link the calls are natter-cli's, in two namespaces:
   * natter-bench-calls-link.c, with options of its own. */
  for (int i = 1; i < argc; i++) {
    if (g_str_has_prefix (argv[i], "--link"))
      return natter_bench_calls_link_main (argc, argv);
  }

  context = g_option_context_new ("- call setup: N calls between two in-process clients");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (
    context, "Two clients in this process, test sources instead of devices, place N video\n"
             "calls one after the other; the callee accepts each as soon as it rings. Prints\n"
             "invitation → ringing and accept → first decoded remote video frame on each\n"
             "side (median and worst), where the setup time goes, and the CPU of one call.");
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("natter-bench calls: %s\n", error->message);
    return 2;
  }
  if (count < 1 || cpu_seconds < 0 || width < 16 || height < 16) {
    g_printerr ("natter-bench calls: needs --count ≥ 1, --cpu-seconds ≥ 0, a video size\n");
    return 2;
  }

  video_src = g_strdup_printf ("videotestsrc is-live=true pattern=ball ! capsfilter "
                               "caps=\"video/x-raw,width=%d,height=%d,framerate=30/1\"",
                               width, height);
  g_setenv ("NATTER_VIDEO_SRC", video_src, FALSE);
  g_setenv ("NATTER_AUDIO_SRC", "audiotestsrc is-live=true wave=ticks", FALSE);
  g_setenv ("NATTER_AUDIO_SINK", "fakesink sync=false", FALSE);
  g_setenv ("NATTER_SOUND_DIR", "/nonexistent", FALSE); /* no ringtone to load */
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
  /* The call stack loads as the app does it: when the first call rings or
   * is placed (NatterCallManager). */

  if (!natter_bench_server_start_unless_given (&local_server, &server_url, NULL, &error)) {
    g_printerr ("natter-bench calls: %s\n", error->message);
    return 2;
  }

  data_dir = g_dir_make_tmp ("natter-bench-calls-XXXXXX", &error);
  if (data_dir == NULL) {
    g_printerr ("natter-bench calls: %s\n", error->message);
    return 2;
  }
  caller_dir = g_build_filename (data_dir, "caller", NULL);
  callee_dir = g_build_filename (data_dir, "callee", NULL);
  calls.caller = register_client (server_url, caller_dir, "Caller", "tutor", &error);
  if (calls.caller != NULL)
    calls.callee = register_client (server_url, callee_dir, "Callee", "student", &error);
  if (calls.callee == NULL) {
    g_printerr ("natter-bench calls: %s\n", error->message);
    g_clear_object (&calls.caller);
    natter_call_pipeline_preload_wait ();
    natter_bench_remove_tree (data_dir);
    return 1;
  }
  peer = natter_profile_copy (
    natter_account_get_active_profile (natter_client_get_account (calls.callee)));
  g_signal_connect (call_manager_of (calls.callee), "incoming-call", G_CALLBACK (on_incoming_call),
                    &calls);

  for (int i = 0; i < count; i++) {
    if (run_call (&calls, peer, &samples, 0, NULL, &error)) {
      completed++;
    } else {
      g_printerr ("natter-bench calls: call %d: %s\n", i + 1, error->message);
      g_clear_error (&error);
      failed++;
    }
  }

  if (cpu_seconds > 0) {
    g_autofree char *callee_process_dir = g_build_filename (data_dir, "callee-cli", NULL);

    if (cli_path == NULL)
      cli_path = natter_bench_find_program ("NATTER_CLI", "src/cli", "natter-cli");
    if (cli_path != NULL) {
      g_autofree char *token =
        g_strdup (natter_account_get_token (natter_client_get_account (calls.callee)));

      /* The in-process callee leaves first, so that only the child rings. */
      g_clear_object (&calls.callee);
      if (!callee_process_start (&callee_process, cli_path, server_url, token, peer,
                                 callee_process_dir, &error) ||
          !run_cpu_call_with_callee_process (&calls, peer, &callee_process, cpu_seconds,
                                             &caller_cpu_percent, &callee_cpu_percent, &error)) {
        g_printerr ("natter-bench calls: the CPU call: %s\n", error->message);
        g_clear_error (&error);
        failed++;
      }
      callee_process_stop (&callee_process);
    } else if (!run_call (&calls, peer, &samples, cpu_seconds, &cpu_percent, &error)) {
      g_printerr ("natter-bench calls: the CPU call: %s\n", error->message);
      g_clear_error (&error);
      failed++;
    }
  }

  natter_bench_report_init (&report, "calls");
  natter_bench_report_section (&report, "Calls");
  natter_bench_report_int (&report, "calls", "calls timed", count);
  natter_bench_report_int (&report, "completed", "completed (video both ways)", completed);
  natter_bench_report_int (&report, "failed", "failed", failed);
  natter_bench_report_int (&report, "width", "video width", width);
  natter_bench_report_int (&report, "height", "video height", height);
  natter_bench_report_section (&report, "Invitation sent to ringing");
  report_times (&report, "invitation_to_ringing", "callee's call rings", samples.callee_rings,
                TRUE);
  report_times (&report, "invitation_to_caller_ringing", "caller hears ringback",
                samples.caller_ringing, TRUE);
  natter_bench_report_section (&report, "Accept to first decoded remote video frame");
  report_times (&report, "accept_to_first_video_caller", "caller",
                samples.marks[0][NATTER_CALL_PIPELINE_MARK_FIRST_VIDEO], TRUE);
  report_times (&report, "accept_to_first_video_callee", "callee",
                samples.marks[1][NATTER_CALL_PIPELINE_MARK_FIRST_VIDEO], TRUE);
  natter_bench_report_section (&report, "Where the time goes (medians from the callee's accept)");
  for (int mark = 0; mark < NATTER_CALL_PIPELINE_N_MARKS; mark++) {
    for (int side = 0; side < 2; side++) {
      g_autofree char *key = g_strdup_printf ("%s_%s", side_names[side], mark_nick (mark));
      g_autofree char *label = g_strdup_printf ("%s: %s", side_names[side], mark_nick (mark));

      g_strdelimit (key, "-", '_');
      report_times (&report, key, label, samples.marks[side][mark], FALSE);
    }
  }
  if (caller_cpu_percent >= 0) {
    g_autofree char *title =
      g_strdup_printf ("CPU during a %dx%d call, in %% of one core", width, height);

    natter_bench_report_section (&report, title);
    natter_bench_report_double (&report, "cpu_percent_caller", "caller (this process)", "%",
                                caller_cpu_percent);
    natter_bench_report_double (&report, "cpu_percent_callee", "callee (natter-cli)", "%",
                                callee_cpu_percent);
  } else if (cpu_percent >= 0) {
    g_autofree char *title =
      g_strdup_printf ("CPU during a %dx%d call, in %% of one core", width, height);

    natter_bench_report_section (&report, title);
    natter_bench_report_double (&report, "cpu_percent_both_sides", "both sides (this process)", "%",
                                cpu_percent);
  }
  natter_bench_report_print (&report, json);

  samples_clear (&samples);
  g_clear_object (&calls.caller);
  g_clear_object (&calls.callee);
  natter_call_pipeline_preload_wait ();
  natter_bench_remove_tree (data_dir);
  return completed == count && failed == 0 ? 0 : 1;
}
