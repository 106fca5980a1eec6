/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench"

#include "config.h"

#include "natter-bench-calls-link.h"

#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "natter-bench-server.h"

/* natter-bench calls --link DELAY_MS,LOSS_PCT,KBIT [--count N] [--duration S]
 *
 * Video calls over an emulated link: natter-cli in network namespace A
 * calls natter-cli in namespace B; tests/link-emulator forwards between
 * them with the delay, the seeded loss and the bottleneck (KBIT each way,
 * 0 for none); natter-server runs outside both, reachable from each over
 * a veth of its own (tests/link-emulator.sh). Without the namespaces in
 * the environment, the command runs itself again under link-emulator.sh.
 *
 * Each side prints call_stats lines every second (natter-cli
 * --stats-interval); the emulator prints its counters with the same
 * monotonic clock. The figures leave the first --warm-up seconds out
 * (the sender has found the rate), and are the median over the calls. */

#define LINK_TIMEOUT_S 60

typedef struct {
  double fps;
  double freezes;
  double freeze_s;
  double concealed_pct;
  double rebuilt_pct; /* audio frames rebuilt from Opus in-band FEC */
  double silent_pct;  /* concealed between packets without voice */
  double dropped_pct; /* of the link's packets in this direction */
} Direction;

typedef struct {
  Direction directions[2];  /* [0] caller → callee, [1] callee → caller */
  double first_video_ms[2]; /* accept → first decoded video, each direction */
  GString *send_kbit;       /* the caller's video send bitrate every 2 s */
  GString *target_kbit;     /* its encoder's target */
  GString *estimate_kbit;   /* the congestion controller's estimate */
} CallResult;

static const char *const direction_names[2] = { "caller to callee", "callee to caller" };

static void
call_result_clear (CallResult *result)
{
  if (result->send_kbit != NULL)
    g_string_free (result->send_kbit, TRUE);
  if (result->target_kbit != NULL)
    g_string_free (result->target_kbit, TRUE);
  if (result->estimate_kbit != NULL)
    g_string_free (result->estimate_kbit, TRUE);
}

/* The JSON object lines of @path whose "event" is @event. */
static GPtrArray *
read_events (const char *path, const char *event)
{
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  GPtrArray *objects = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return objects;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autoptr (JsonNode) node = json_from_string (lines[i], NULL);

    if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
      continue;
    if (g_strcmp0 (
          json_object_get_string_member_with_default (json_node_get_object (node), "event", ""),
          event) == 0)
      g_ptr_array_add (objects, json_object_ref (json_node_get_object (node)));
  }
  return objects;
}

static double
member (JsonObject *object, const char *name)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, name) : NULL;

  if (node == NULL || JSON_NODE_TYPE (node) != JSON_NODE_VALUE)
    return -1;
  return json_node_get_double (node);
}

/* A side's call_stats lines as (absolute time, line); the first at or
 * after @from_us and the last. */
static gboolean
window (
  GPtrArray *stats, gint64 accepted_at_us, gint64 from_us, JsonObject **first, JsonObject **last)
{
  *first = *last = NULL;
  for (guint i = 0; i < stats->len; i++) {
    JsonObject *line = g_ptr_array_index (stats, i);
    gint64 at = accepted_at_us + (gint64) member (line, "t_ms") * 1000;

    if (at >= from_us && *first == NULL)
      *first = line;
    *last = line;
  }
  return *first != NULL && *last != NULL && *first != *last;
}

/* What the receiving side saw of one direction after @from_us. */
static void
receiver_figures (GPtrArray *stats, JsonObject *summary, gint64 from_us, Direction *direction)
{
  gint64 accepted_at = (gint64) member (summary, "accepted_at_us");
  JsonObject *first, *last;
  double seconds, played, concealed, rebuilt, silent;

  if (!window (stats, accepted_at, from_us, &first, &last)) {
    direction->fps = direction->freezes = direction->freeze_s = direction->concealed_pct = -1;
    direction->rebuilt_pct = direction->silent_pct = -1;
    return;
  }
  seconds = (member (last, "t_ms") - member (first, "t_ms")) / 1000.0;
  direction->fps =
    (member (last, "video_frames_received") - member (first, "video_frames_received")) / seconds;
  direction->freezes = member (last, "video_freezes") - member (first, "video_freezes");
  direction->freeze_s =
    (member (last, "video_freeze_ms") - member (first, "video_freeze_ms")) / 1000.0;
  played = member (last, "audio_frames_played") - member (first, "audio_frames_played");
  concealed = member (last, "audio_frames_concealed") - member (first, "audio_frames_concealed");
  /* Rebuilt from in-band FEC: lost, yet not concealed (-1 from a natter-cli
   * older than the member: none). */
  rebuilt = MAX (member (last, "audio_frames_rebuilt"), 0) -
            MAX (member (first, "audio_frames_rebuilt"), 0);
  direction->rebuilt_pct =
    played + concealed + rebuilt > 0 ? 100.0 * rebuilt / (played + concealed + rebuilt) : 0;
  silent = MAX (member (last, "audio_frames_concealed_silent"), 0) -
           MAX (member (first, "audio_frames_concealed_silent"), 0);
  direction->concealed_pct =
    played + concealed + rebuilt > 0 ? 100.0 * concealed / (played + concealed + rebuilt) : 0;
  direction->silent_pct =
    played + concealed + rebuilt > 0 ? 100.0 * silent / (played + concealed + rebuilt) : 0;
}

/* The emulator's bottleneck drops per direction between @from_us and
 * @to_us, in % of the packets that entered the link. */
static void
link_figures (const char *stats_path, gint64 from_us, gint64 to_us, CallResult *result)
{
  g_autoptr (GPtrArray) lines = read_events (stats_path, "stats");
  JsonObject *first = NULL, *last = NULL;
  static const char *const keys[2] = { "a_to_b", "b_to_a" };

  for (guint i = 0; i < lines->len; i++) {
    JsonObject *line = g_ptr_array_index (lines, i);
    gint64 at = (gint64) member (line, "now_us");

    if (at >= from_us && first == NULL)
      first = line;
    if (at <= to_us)
      last = line;
  }
  for (int d = 0; d < 2; d++) {
    JsonObject *before, *after;
    double packets, dropped;

    if (first == NULL || last == NULL || first == last) {
      result->directions[d].dropped_pct = -1;
      continue;
    }
    before = json_object_get_object_member (first, keys[d]);
    after = json_object_get_object_member (last, keys[d]);
    packets = member (after, "packets_in") - member (before, "packets_in");
    dropped = member (after, "bottleneck_dropped") - member (before, "bottleneck_dropped");
    result->directions[d].dropped_pct = packets > 0 ? 100.0 * dropped / packets : 0;
  }
}

static void
append_kbit (GString *series, double bits)
{
  if (bits < 0)
    g_string_append (series, " n/a");
  else
    g_string_append_printf (series, " %.0f", bits / 1000.0);
}

static gboolean
analyse_call (const char *caller_out,
              const char *callee_out,
              const char *link_stats,
              double warm_up_s,
              CallResult *result,
              GError **error)
{
  g_autoptr (GPtrArray) caller_summary = read_events (caller_out, "call_summary");
  g_autoptr (GPtrArray) callee_summary = read_events (callee_out, "call_summary");
  g_autoptr (GPtrArray) caller_stats = read_events (caller_out, "call_stats");
  g_autoptr (GPtrArray) callee_stats = read_events (callee_out, "call_stats");
  JsonObject *caller, *callee, *last;
  gint64 from_us, to_us;

  if (caller_summary->len == 0 || callee_summary->len == 0 || caller_stats->len == 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no call_summary from %s",
                 caller_summary->len == 0 ? "the caller" : "the callee");
    return FALSE;
  }
  caller = g_ptr_array_index (caller_summary, 0);
  callee = g_ptr_array_index (callee_summary, 0);
  from_us = (gint64) member (caller, "accepted_at_us") + (gint64) (warm_up_s * G_USEC_PER_SEC);
  last = g_ptr_array_index (caller_stats, caller_stats->len - 1);
  to_us = (gint64) member (caller, "accepted_at_us") + (gint64) member (last, "t_ms") * 1000;

  /* Caller → callee is what the callee decoded, and the other way round. */
  receiver_figures (callee_stats, callee, from_us, &result->directions[0]);
  receiver_figures (caller_stats, caller, from_us, &result->directions[1]);
  link_figures (link_stats, from_us, to_us, result);
  result->first_video_ms[0] = member (callee, "accept_to_first_video_ms");
  result->first_video_ms[1] = member (caller, "accept_to_first_video_ms");

  result->send_kbit = g_string_new (NULL);
  result->target_kbit = g_string_new (NULL);
  result->estimate_kbit = g_string_new (NULL);
  for (guint i = 1; i < caller_stats->len; i += 2) {
    JsonObject *line = g_ptr_array_index (caller_stats, i);

    append_kbit (result->send_kbit, member (line, "video_send_bitrate"));
    append_kbit (result->target_kbit, member (line, "encoder_target_bitrate"));
    append_kbit (result->estimate_kbit, member (line, "estimated_bitrate"));
  }
  return TRUE;
}

/* ip netns exec NS natter-cli ARGS…, stdout to @out_path (or piped). */
static GSubprocess *
spawn_cli (const char *netns,
           const char *cli_path,
           const char *data_dir,
           const char *out_path,
           GError **error,
           ...)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  const char *arg;
  va_list ap;

  const char *stderr_dir = g_getenv ("NATTER_BENCH_STDERR_DIR");
  gboolean keep_stderr = out_path != NULL && stderr_dir != NULL && *stderr_dir != '\0';

  launcher = g_subprocess_launcher_new (
    out_path != NULL ? (keep_stderr ? G_SUBPROCESS_FLAGS_NONE : G_SUBPROCESS_FLAGS_STDERR_SILENCE)
                     : G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  if (out_path != NULL)
    g_subprocess_launcher_set_stdout_file_path (launcher, out_path);
  /* NATTER_BENCH_STDERR_DIR: each call's natter-cli logs (G_MESSAGES_DEBUG)
   * are kept there, named after the side. */
  if (keep_stderr) {
    g_autofree char *base = g_path_get_basename (out_path);
    g_autofree char *name = g_strconcat (base, ".stderr", NULL);
    g_autofree char *path = g_build_filename (stderr_dir, name, NULL);

    g_subprocess_launcher_set_stderr_file_path (launcher, path);
  }
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", data_dir, TRUE);
  g_ptr_array_add (args, (gpointer) "ip");
  g_ptr_array_add (args, (gpointer) "netns");
  g_ptr_array_add (args, (gpointer) "exec");
  g_ptr_array_add (args, (gpointer) netns);
  g_ptr_array_add (args, (gpointer) cli_path);
  va_start (ap, error);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (args, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  return g_subprocess_launcher_spawnv (launcher, (const char *const *) args->pdata, error);
}

static gboolean
sign_in (const char *netns,
         const char *cli_path,
         const char *data_dir,
         const char *server_url,
         const char *email,
         GError **error)
{
  g_autoptr (GSubprocess) login =
    spawn_cli (netns, cli_path, data_dir, NULL, error, "--server", server_url, "login", "--email",
               email, "--password-stdin", NULL);

  if (login == NULL ||
      !g_subprocess_communicate_utf8 (login, "natter-demo\n", NULL, NULL, NULL, error))
    return FALSE;
  if (!g_subprocess_get_successful (login)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s could not sign in from %s", email,
                 netns);
    return FALSE;
  }
  return TRUE;
}

static gboolean
file_contains (const char *path, const char *text)
{
  g_autofree char *contents = NULL;

  return g_file_get_contents (path, &contents, NULL, NULL) && strstr (contents, text) != NULL;
}

static void
stop_process (GSubprocess *process, guint grace_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) grace_s * G_USEC_PER_SEC;

  /* The identifier goes once the process has exited. */
  while (g_subprocess_get_identifier (process) != NULL && g_get_monotonic_time () < deadline)
    g_usleep (50000);
  if (g_subprocess_get_identifier (process) != NULL)
    g_subprocess_send_signal (process, SIGTERM);
  g_subprocess_wait (process, NULL, NULL);
}

static gboolean
run_call (const char *cli_path,
          const char *data_dir,
          int index,
          int duration_s,
          CallResult *result,
          double warm_up_s,
          GError **error)
{
  g_autofree char *caller_out = g_strdup_printf ("%s/caller-%d.jsonl", data_dir, index);
  g_autofree char *callee_out = g_strdup_printf ("%s/callee-%d.jsonl", data_dir, index);
  g_autofree char *caller_dir = g_build_filename (data_dir, "a", NULL);
  g_autofree char *callee_dir = g_build_filename (data_dir, "b", NULL);
  g_autofree char *duration = g_strdup_printf ("%d", duration_s);
  g_autofree char *callee_duration = g_strdup_printf ("%d", duration_s + LINK_TIMEOUT_S);
  g_autoptr (GSubprocess) callee = NULL;
  g_autoptr (GSubprocess) caller = NULL;
  gint64 deadline;

  callee = spawn_cli (g_getenv ("NATTER_LINK_NETNS_B"), cli_path, callee_dir, callee_out, error,
                      "answer", "--auto", "--count", "1", "--duration", callee_duration,
                      "--stats-interval", "1000", NULL);
  if (callee == NULL)
    return FALSE;
  deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  while (!file_contains (callee_out, "\"waiting\"") && g_get_monotonic_time () < deadline)
    g_usleep (50000);
  if (!file_contains (callee_out, "\"waiting\"")) {
    stop_process (callee, 0);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "the callee did not come up");
    return FALSE;
  }
  caller = spawn_cli (g_getenv ("NATTER_LINK_NETNS_A"), cli_path, caller_dir, caller_out, error,
                      "call", "student:2", "--video", "--duration", duration, "--timeout", "60",
                      "--stats-interval", "1000", NULL);
  if (caller == NULL) {
    stop_process (callee, 0);
    return FALSE;
  }
  g_subprocess_wait (caller, NULL, NULL);
  /* The callee ends when the caller's hang-up reaches it. */
  stop_process (callee, 15);
  return analyse_call (caller_out, callee_out, g_getenv ("NATTER_LINK_STATS"), warm_up_s, result,
                       error);
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* The median of the calls' values at @offset in CallResult; -1 (unknown)
 * values are left out. */
static double
median_of (GArray *results, gsize offset)
{
  g_autoptr (GArray) values = g_array_new (FALSE, FALSE, sizeof (double));

  for (guint i = 0; i < results->len; i++) {
    double value = *(double *) ((char *) &g_array_index (results, CallResult, i) + offset);

    if (value >= 0)
      g_array_append_val (values, value);
  }
  if (values->len == 0)
    return -1;
  g_array_sort (values, compare_doubles);
  return values->len % 2 == 1 ? g_array_index (values, double, values->len / 2)
                              : (g_array_index (values, double, values->len / 2 - 1) +
                                 g_array_index (values, double, values->len / 2)) /
                                  2;
}

#define DIRECTION_OFFSET(d, field)                                       \
  (G_STRUCT_OFFSET (CallResult, directions) + (d) * sizeof (Direction) + \
   G_STRUCT_OFFSET (Direction, field))

static void
print_text (const char *link, GArray *results, int duration_s, double warm_up_s, int failed)
{
  g_print ("natter-bench calls --link %s: %u calls of %d s at 640×360 (%d failed); "
           "after the first %.0f s, median of %u\n",
           link, results->len, duration_s, failed, warm_up_s, results->len);
  g_print ("%-30s %18s %18s\n", "", direction_names[0], direction_names[1]);
  g_print ("%-30s %18.1f %18.1f\n", "frames per second",
           median_of (results, DIRECTION_OFFSET (0, fps)),
           median_of (results, DIRECTION_OFFSET (1, fps)));
  g_print ("%-30s %18.0f %18.0f\n", "freezes", median_of (results, DIRECTION_OFFSET (0, freezes)),
           median_of (results, DIRECTION_OFFSET (1, freezes)));
  g_print ("%-30s %18.2f %18.2f\n", "freeze time (s)",
           median_of (results, DIRECTION_OFFSET (0, freeze_s)),
           median_of (results, DIRECTION_OFFSET (1, freeze_s)));
  g_print ("%-30s %18.2f %18.2f\n", "concealed audio (%)",
           median_of (results, DIRECTION_OFFSET (0, concealed_pct)),
           median_of (results, DIRECTION_OFFSET (1, concealed_pct)));
  g_print ("%-30s %18.2f %18.2f\n", "  of which silence (%)",
           median_of (results, DIRECTION_OFFSET (0, silent_pct)),
           median_of (results, DIRECTION_OFFSET (1, silent_pct)));
  g_print ("%-30s %18.2f %18.2f\n", "audio rebuilt from FEC (%)",
           median_of (results, DIRECTION_OFFSET (0, rebuilt_pct)),
           median_of (results, DIRECTION_OFFSET (1, rebuilt_pct)));
  g_print ("%-30s %18.1f %18.1f\n", "bottleneck drops (%)",
           median_of (results, DIRECTION_OFFSET (0, dropped_pct)),
           median_of (results, DIRECTION_OFFSET (1, dropped_pct)));
  g_print ("%-30s", "accept to first video (ms)");
  for (int side = 0; side < 2; side++) {
    double ms =
      median_of (results, G_STRUCT_OFFSET (CallResult, first_video_ms) + side * sizeof (double));

    /* Calls without any video are left out of the median; none: never. */
    if (ms < 0)
      g_print (" %18s", "never");
    else
      g_print (" %18.0f", ms);
  }
  g_print ("\n");
  for (guint i = 0; i < results->len; i++) {
    CallResult *result = &g_array_index (results, CallResult, i);

    g_print (
      "call %u: fps %.1f / %.1f, freezes %.0f (%.2f s) / %.0f (%.2f s), concealed audio "
      "%.2f / %.2f %% (silence %.2f / %.2f %%, rebuilt from FEC %.2f / %.2f %%), dropped %.1f / "
      "%.1f %%\n",
      i + 1, result->directions[0].fps, result->directions[1].fps, result->directions[0].freezes,
      result->directions[0].freeze_s, result->directions[1].freezes, result->directions[1].freeze_s,
      result->directions[0].concealed_pct, result->directions[1].concealed_pct,
      result->directions[0].silent_pct, result->directions[1].silent_pct,
      result->directions[0].rebuilt_pct, result->directions[1].rebuilt_pct,
      result->directions[0].dropped_pct, result->directions[1].dropped_pct);
    g_print ("  caller's video send kbit/s every 2 s:%s\n", result->send_kbit->str);
    g_print ("  encoder target kbit/s:%s\n", result->target_kbit->str);
    g_print ("  estimate kbit/s:%s\n", result->estimate_kbit->str);
  }
}

static void
print_json (const char *link, GArray *results, int duration_s, double warm_up_s, int failed)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;
  static const char *const keys[2] = { "caller_to_callee", "callee_to_caller" };

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "link");
  json_builder_add_string_value (builder, link);
  json_builder_set_member_name (builder, "calls");
  json_builder_add_int_value (builder, results->len);
  json_builder_set_member_name (builder, "failed");
  json_builder_add_int_value (builder, failed);
  json_builder_set_member_name (builder, "duration_s");
  json_builder_add_int_value (builder, duration_s);
  json_builder_set_member_name (builder, "warm_up_s");
  json_builder_add_double_value (builder, warm_up_s);
  for (int d = 0; d < 2; d++) {
    json_builder_set_member_name (builder, keys[d]);
    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "fps");
    json_builder_add_double_value (builder, median_of (results, DIRECTION_OFFSET (d, fps)));
    json_builder_set_member_name (builder, "freezes");
    json_builder_add_double_value (builder, median_of (results, DIRECTION_OFFSET (d, freezes)));
    json_builder_set_member_name (builder, "freeze_s");
    json_builder_add_double_value (builder, median_of (results, DIRECTION_OFFSET (d, freeze_s)));
    json_builder_set_member_name (builder, "concealed_audio_pct");
    json_builder_add_double_value (builder,
                                   median_of (results, DIRECTION_OFFSET (d, concealed_pct)));
    json_builder_set_member_name (builder, "silent_concealed_audio_pct");
    json_builder_add_double_value (builder, median_of (results, DIRECTION_OFFSET (d, silent_pct)));
    json_builder_set_member_name (builder, "rebuilt_audio_pct");
    json_builder_add_double_value (builder, median_of (results, DIRECTION_OFFSET (d, rebuilt_pct)));
    json_builder_set_member_name (builder, "bottleneck_dropped_pct");
    json_builder_add_double_value (builder, median_of (results, DIRECTION_OFFSET (d, dropped_pct)));
    /* -1: no video came in any call. */
    json_builder_set_member_name (builder, "accept_to_first_video_ms");
    json_builder_add_double_value (
      builder,
      median_of (results, G_STRUCT_OFFSET (CallResult, first_video_ms) + d * sizeof (double)));
    json_builder_end_object (builder);
  }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  text = json_to_string (root, FALSE);
  g_print ("%s\n", text);
}

/* Runs this very command again under link-emulator.sh, which makes the
 * namespaces and the link and takes them down whatever happens. */
static int
run_under_emulator (
  int argc, char **argv, double delay_ms, double loss, int kbit, double queue_ms, gint64 seed)
{
  g_autofree char *script =
    natter_bench_find_program ("NATTER_LINK_SCRIPT", "tests", "link-emulator.sh");
  g_autofree char *emulator =
    natter_bench_find_program ("NATTER_LINK_EMULATOR", "tests", "link-emulator");
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autoptr (GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  int status = 0;

  if (script == NULL || emulator == NULL || self == NULL) {
    g_printerr ("natter-bench calls: link-emulator.sh or link-emulator not found (set "
                "NATTER_LINK_SCRIPT and NATTER_LINK_EMULATOR)\n");
    return 2;
  }
  g_ptr_array_add (args, g_strdup (script));
  g_ptr_array_add (args, g_strdup ("--emulator"));
  g_ptr_array_add (args, g_strdup (emulator));
  g_ptr_array_add (args, g_strdup ("--delay-ms"));
  g_ptr_array_add (args, g_strdup_printf ("%g", delay_ms));
  g_ptr_array_add (args, g_strdup ("--loss"));
  g_ptr_array_add (args, g_strdup_printf ("%g", loss));
  g_ptr_array_add (args, g_strdup ("--rate-kbit"));
  g_ptr_array_add (args, g_strdup_printf ("%d", kbit));
  g_ptr_array_add (args, g_strdup ("--queue-ms"));
  g_ptr_array_add (args, g_strdup_printf ("%g", queue_ms));
  g_ptr_array_add (args, g_strdup ("--seed"));
  g_ptr_array_add (args, g_strdup_printf ("%" G_GINT64_FORMAT, seed));
  g_ptr_array_add (args, g_strdup ("--stats-interval-ms"));
  g_ptr_array_add (args, g_strdup ("500"));
  g_ptr_array_add (args, g_strdup ("--"));
  g_ptr_array_add (args, g_strdup (self));
  g_ptr_array_add (args, g_strdup ("calls"));
  for (int i = 1; i < argc; i++)
    g_ptr_array_add (args, g_strdup (argv[i]));
  g_ptr_array_add (args, NULL);

  if (!g_spawn_sync (NULL, (char **) args->pdata, NULL, G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL,
                     NULL, NULL, &status, &error)) {
    g_printerr ("natter-bench calls: %s\n", error->message);
    return 1;
  }
  if (WIFEXITED (status) && WEXITSTATUS (status) == 77)
    g_printerr ("natter-bench calls: --link needs root (network namespaces and TUN devices)\n");
  return WIFEXITED (status) ? WEXITSTATUS (status) : 1;
}

static gboolean
start_server (GSubprocess **server, char **port, const char *data_dir, GError **error)
{
  g_autofree char *binary =
    natter_bench_find_program ("NATTER_SERVER", "src/server", "natter-server");
  g_autofree char *db = g_build_filename (data_dir, "natter.db", NULL);
  g_autoptr (GDataInputStream) out = NULL;
  g_autofree char *line = NULL;
  const char *colon;
  static const char *const accounts[][3] = {
    { "abebe@demo.natter", "Abebe Kebede", "tutor" },
    { "selam@demo.natter", "Selam Tesfaye", "student" },
  };

  if (binary == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "natter-server not found");
    return FALSE;
  }
  /* The two accounts of --demo, made by hand: --demo only serves loopback,
   * and the namespaces reach the server over their veth. */
  for (guint i = 0; i < G_N_ELEMENTS (accounts); i++) {
    g_autoptr (GSubprocess) adduser =
      g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE, error,
                        binary, "adduser", "--db", db, "--email", accounts[i][0], "--name",
                        accounts[i][1], "--profile-type", accounts[i][2], "--password-stdin", NULL);

    if (adduser == NULL ||
        !g_subprocess_communicate_utf8 (adduser, "natter-demo\n", NULL, NULL, NULL, error))
      return FALSE;
    if (!g_subprocess_get_successful (adduser)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s adduser %s failed", binary,
                   accounts[i][0]);
      return FALSE;
    }
  }

  /* Every address, so that both namespaces reach it over their veth. */
  *server =
    g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, error,
                      binary, "--listen", "0.0.0.0", "--port", "0", "--db", db, NULL);
  if (*server == NULL)
    return FALSE;
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (*server));
  line = g_data_input_stream_read_line_utf8 (out, NULL, NULL, error);
  if (line == NULL || !g_str_has_prefix (line, "listening on ") ||
      (colon = strrchr (line, ':')) == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s did not start", binary);
    return FALSE;
  }
  *port = g_strdup (colon + 1);
  return TRUE;
}

/* Read aloud as each side's microphone with --audio speech: Opus codes its
 * in-band FEC only for frames its voice detector finds speech in, so a
 * test tone measures concealment without the FEC a real voice gets. */
#define SPEECH_TEXT                                                                          \
  "Good morning. Today we go on with fractions. Take the worksheet from last week and look " \
  "at the third exercise. If you add one half and one third, what do you get? Write it "     \
  "down first, then tell me how you found it. Remember that both parts need the same "       \
  "denominator before you add them. Six is the smallest number both two and three divide, "  \
  "so one half is three sixths and one third is two sixths. Together that makes five "       \
  "sixths. Now try the next one on your own, and say it out loud while you work. "

/* Writes SPEECH_TEXT, said often enough to outlast a call of @duration_s,
 * as a WAV file in @dir with espeak-ng; returns its path, or NULL. */
static char *
make_speech (const char *dir, int duration_s, GError **error)
{
  g_autofree char *path = g_build_filename (dir, "speech.wav", NULL);
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GSubprocess) espeak = NULL;

  /* About 40 s per reading; the call rings and connects first. */
  for (int i = 0; i < duration_s / 40 + 2; i++)
    g_string_append (text, SPEECH_TEXT);
  espeak = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, error, "espeak-ng", "-v", "en",
                             "-s", "150", "-w", path, text->str, NULL);
  if (espeak == NULL || !g_subprocess_wait_check (espeak, NULL, error))
    return NULL;
  return g_steal_pointer (&path);
}

int
natter_bench_calls_link_main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *link = NULL;
  g_autofree char *cli_path = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *port = NULL;
  g_autofree char *url_a = NULL, *url_b = NULL;
  g_autofree char *dir_a = NULL, *dir_b = NULL;
  g_autoptr (GSubprocess) server = NULL;
  g_autoptr (GArray) results = NULL;
  g_auto (GStrv) parts = NULL;
  g_auto (GStrv) original_argv = g_strdupv (argv); /* parsing takes the options out */
  int count = 3, duration_s = 20, kbit = 0, failed = 0;
  double delay_ms = 0, loss = 0, queue_ms = 100, warm_up_s = 5;
  gint64 seed = 1;
  gboolean json = FALSE;
  g_autofree char *audio = NULL;
  g_autofree char *speech = NULL;
  g_autofree char *audio_src = NULL;
  GOptionEntry entries[] = {
    { "link", 0, 0, G_OPTION_ARG_STRING, &link,
      "Calls over an emulated link: one-way delay, random loss, rate each way (0: none)",
      "DELAY_MS,LOSS_PCT,KBIT" },
    { "count", 0, 0, G_OPTION_ARG_INT, &count, "Calls (default 3)", "N" },
    { "duration", 0, 0, G_OPTION_ARG_INT, &duration_s, "Seconds per call (default 20)", "S" },
    { "warm-up", 0, 0, G_OPTION_ARG_DOUBLE, &warm_up_s,
      "Seconds left out at the start of each call (default 5)", "S" },
    { "queue-ms", 0, 0, G_OPTION_ARG_DOUBLE, &queue_ms,
      "The bottleneck's queue, in ms of its rate (default 100)", "MS" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed of the link's random loss (default 1)", "N" },
    { "natter-cli", 0, 0, G_OPTION_ARG_FILENAME, &cli_path,
      "natter-cli for both sides (default: this build's)", "PATH" },
    { "audio", 0, 0, G_OPTION_ARG_STRING, &audio,
      "Each side's microphone: speech (espeak-ng, the default) or ticks (a test tone)",
      "speech|ticks" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the medians as JSON", NULL },
    { NULL },
  };

  context = g_option_context_new ("--link DELAY_MS,LOSS_PCT,KBIT - video calls over an "
                                  "emulated link");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("natter-bench calls: %s\n", error->message);
    return 2;
  }
  parts = link != NULL ? g_strsplit (link, ",", -1) : NULL;
  if (parts == NULL || g_strv_length (parts) != 3 || count < 1 || duration_s < 1 || warm_up_s < 0 ||
      warm_up_s >= duration_s) {
    g_printerr ("natter-bench calls: --link DELAY_MS,LOSS_PCT,KBIT, --count ≥ 1, "
                "--duration > --warm-up\n");
    return 2;
  }
  delay_ms = g_ascii_strtod (parts[0], NULL);
  loss = g_ascii_strtod (parts[1], NULL);
  kbit = atoi (parts[2]);
  if (audio == NULL)
    audio = g_strdup ("speech");
  if (!g_str_equal (audio, "speech") && !g_str_equal (audio, "ticks")) {
    g_printerr ("natter-bench calls: --audio speech or --audio ticks\n");
    return 2;
  }
  if (delay_ms < 0 || loss < 0 || loss > 100 || kbit < 0) {
    g_printerr ("natter-bench calls: --link: delay ≥ 0, loss 0–100, kbit ≥ 0\n");
    return 2;
  }

  if (g_getenv ("NATTER_LINK_NETNS_A") == NULL)
    return run_under_emulator (g_strv_length (original_argv), original_argv, delay_ms, loss, kbit,
                               queue_ms, seed);

  if (cli_path == NULL)
    cli_path = natter_bench_find_program ("NATTER_CLI", "src/cli", "natter-cli");
  if (cli_path == NULL) {
    g_printerr ("natter-bench calls: natter-cli not found\n");
    return 2;
  }
  /* 640×360 of a moving pattern: VP8 needs about 0.9 Mbit/s for it, more
   * than the 800 kbit/s link, as a camera would. */
  g_setenv ("NATTER_VIDEO_SRC",
            "videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! capsfilter "
            "caps=\"video/x-raw,width=640,height=360,framerate=30/1\"",
            FALSE);
  g_setenv ("NATTER_AUDIO_SINK", "fakesink sync=false", FALSE);
  g_setenv ("NATTER_SOUND_DIR", "/nonexistent", FALSE);
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);

  data_dir = g_dir_make_tmp ("natter-bench-link-XXXXXX", &error);
  if (data_dir != NULL && g_str_equal (audio, "speech")) {
    speech = make_speech (data_dir, duration_s, &error);
    if (speech == NULL) {
      g_printerr ("natter-bench calls: --audio speech needs espeak-ng (%s); "
                  "--audio ticks uses a test tone\n",
                  error->message);
      natter_bench_remove_tree (data_dir);
      return 2;
    }
    audio_src = g_strdup_printf ("filesrc location=\"%s\" ! wavparse ! audioconvert ! "
                                 "audioresample ! identity sync=true",
                                 speech);
  }
  g_setenv ("NATTER_AUDIO_SRC",
            audio_src != NULL ? audio_src : "audiotestsrc is-live=true wave=ticks", FALSE);
  g_print ("audio: %s\n", g_getenv ("NATTER_AUDIO_SRC"));
  if (data_dir == NULL || !start_server (&server, &port, data_dir, &error)) {
    g_printerr ("natter-bench calls: %s\n", error->message);
    if (data_dir != NULL)
      natter_bench_remove_tree (data_dir);
    return 1;
  }
  url_a = g_strdup_printf ("http://%s:%s", g_getenv ("NATTER_LINK_SERVER_A"), port);
  url_b = g_strdup_printf ("http://%s:%s", g_getenv ("NATTER_LINK_SERVER_B"), port);
  dir_a = g_build_filename (data_dir, "a", NULL);
  dir_b = g_build_filename (data_dir, "b", NULL);
  results = g_array_new (FALSE, TRUE, sizeof (CallResult));
  g_array_set_clear_func (results, (GDestroyNotify) call_result_clear);

  /* The demo accounts: tutor Abebe calls student Selam. */
  if (sign_in (g_getenv ("NATTER_LINK_NETNS_A"), cli_path, dir_a, url_a, "abebe@demo.natter",
               &error) &&
      sign_in (g_getenv ("NATTER_LINK_NETNS_B"), cli_path, dir_b, url_b, "selam@demo.natter",
               &error)) {
    for (int i = 0; i < count; i++) {
      CallResult result = { 0 };

      if (run_call (cli_path, data_dir, i, duration_s, &result, warm_up_s, &error)) {
        g_array_append_val (results, result);
      } else {
        g_printerr ("natter-bench calls: call %d: %s\n", i + 1, error->message);
        g_clear_error (&error);
        call_result_clear (&result);
        failed++;
      }
    }
  } else {
    g_printerr ("natter-bench calls: %s\n", error->message);
    failed = count;
  }

  g_subprocess_send_signal (server, SIGTERM);
  g_subprocess_wait (server, NULL, NULL);
  /* Kept with the natter-cli logs, for a look at the call_stats lines. */
  if (g_getenv ("NATTER_BENCH_STDERR_DIR") != NULL)
    g_printerr ("natter-bench calls: kept %s\n", data_dir);
  else
    natter_bench_remove_tree (data_dir);

  if (results->len > 0) {
    if (json)
      print_json (link, results, duration_s, warm_up_s, failed);
    else
      print_text (link, results, duration_s, warm_up_s, failed);
  }
  return failed == 0 ? 0 : 1;
}
