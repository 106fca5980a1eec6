/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench-app"

#include "config.h"

#include <X11/Xlib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>

#include "natter-bench-server.h"
#include "natter-call-manager.h"
#include "natter-client.h"
#include "natter-store.h"
#include "natter-test-x11.h"

/* The desktop app, measured as a user meets it: a real natter-server, an
 * account whose sign-in is stored (token file and local store of a previous
 * session) and one conversation of 10,000 messages in it. Each run starts the
 * real natter binary and reads the times it prints with NATTER_BENCH_TIMING
 * (CLOCK_MONOTONIC, so comparable with ours):
 *
 * - launch to the first frame of the main window (exec, GTK start-up, the
 *   stored sign-in checked with the server, the first paint);
 * - the conversation opened through the app.open-conversation action, as a
 *   notification does, to its first paint;
 * - the app's RSS a second after that.
 *
 * --background starts the app hidden instead, signed in and able to ring
 * (as at login, natter --background), and reads over --seconds its RSS
 * and how often each of its threads woke up (context switches, from
 * /proc/PID/task/TID/status). --calls N has the app place N video calls
 * to Bob (a core client in this process that answers and hangs up after a
 * few seconds) and reads its RSS before the first and after the last.
 * --background-after-window starts the app with its window, opens the
 * conversation, closes the window as the window manager's close button
 * does (WM_DELETE_WINDOW), then reads the same figures as --background.
 *
 * Run it inside a display and a session bus, e.g.
 *   xvfb-run -a dbus-run-session BUILD/bench/natter-bench-app
 */

#define PASSWORD "bench-password-1"
#define SEND_BATCH 500
#define LINE_TIMEOUT_US (60 * G_USEC_PER_SEC)

static char *opt_natter;
static char *opt_call_media;
static char *opt_server;
static char *opt_schemas;
static int opt_runs = 5;
static int opt_messages = 10000;
static gboolean opt_smaps;
static gboolean opt_background;
static gboolean opt_background_after_window;
static int opt_seconds = 60;
static int opt_calls;
static int opt_ring_ms;
static gboolean opt_scroll;
static char *opt_shader_cache;

typedef struct {
  gboolean done;
  gboolean ok;
  GError *error;
  GBytes *bytes;
  char *line;
} Wait;

static void
iterate_until (gboolean *done, gint64 deadline_us, const char *what)
{
  while (!*done) {
    if (g_get_monotonic_time () > deadline_us)
      g_error ("timed out waiting for %s", what);
    g_main_context_iteration (NULL, FALSE);
    if (!*done)
      g_usleep (1000);
  }
}

static void
iterate_for (gint64 duration_us)
{
  gint64 end = g_get_monotonic_time () + duration_us;

  while (g_get_monotonic_time () < end) {
    g_main_context_iteration (NULL, FALSE);
    g_usleep (1000);
  }
}

static gint64
rss_kib (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents (path, &status, NULL, NULL))
    return -1;
  line = strstr (status, "VmRSS:");
  return line ? g_ascii_strtoll (line + strlen ("VmRSS:"), NULL, 10) : -1;
}

static gint
compare_rss (gconstpointer a, gconstpointer b, gpointer user_data)
{
  GHashTable *totals = user_data;
  gsize ra = GPOINTER_TO_SIZE (g_hash_table_lookup (totals, *(const char *const *) a));
  gsize rb = GPOINTER_TO_SIZE (g_hash_table_lookup (totals, *(const char *const *) b));

  return ra < rb ? 1 : ra > rb ? -1 : 0;
}

/* Where the RSS is: /proc/PID/smaps summed by mapped file ("[anon]" for
 * anonymous memory), the biggest first. */
static GHashTable *
read_smaps (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/smaps", (int) pid);
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  GHashTable *totals = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const char *current = "[anon]";

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return totals;

  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    const char *line = lines[i];

    if (g_ascii_isxdigit (line[0]) && strchr (line, '-') != NULL && strchr (line, ' ') != NULL) {
      /* "start-end perms offset dev inode [path]" */
      g_auto (GStrv) fields = g_strsplit_set (line, " ", 6);
      const char *name = g_strv_length (fields) == 6 ? g_strstrip (fields[5]) : "";

      current = *name != '\0' ? g_intern_string (name) : "[anon]";
    } else if (g_str_has_prefix (line, "Rss:")) {
      gint64 kib = g_ascii_strtoll (line + 4, NULL, 10);
      gpointer old = g_hash_table_lookup (totals, current);

      g_hash_table_replace (totals, g_strdup (current),
                            GSIZE_TO_POINTER (GPOINTER_TO_SIZE (old) + (gsize) kib));
    }
  }

  return totals;
}

static void
print_smaps (GPid pid, guint top)
{
  g_autoptr (GHashTable) totals = read_smaps (pid);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, totals);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (names, key);
  g_ptr_array_sort_with_data (names, compare_rss, totals);
  g_print ("  RSS by mapping:\n");
  for (guint i = 0; i < MIN (top, names->len); i++)
    g_print ("    %8.1f MiB  %s\n",
             GPOINTER_TO_SIZE (g_hash_table_lookup (totals, names->pdata[i])) / 1024.0,
             (const char *) names->pdata[i]);
}

/* The change in KiB over the mappings of one kind: 'h' the heap, 'a'
 * anonymous memory (and other bracketed mappings but the heap), 'f' files. */
static gssize
smaps_change (GHashTable *before, GHashTable *after, char kind)
{
  GHashTable *tables[] = { before, after };
  gssize sums[2] = { 0, 0 };

  for (guint t = 0; t < 2; t++) {
    GHashTableIter iter;
    gpointer key, value;

    g_hash_table_iter_init (&iter, tables[t]);
    while (g_hash_table_iter_next (&iter, &key, &value)) {
      const char *name = key;
      char name_kind = g_str_equal (name, "[heap]") ? 'h' : name[0] == '[' ? 'a' : 'f';

      if (name_kind == kind)
        sums[t] += (gssize) GPOINTER_TO_SIZE (value);
    }
  }
  return sums[1] - sums[0];
}

/* How the RSS of each mapping changed since @before (from read_smaps()),
 * the changes over 0.5 MiB, biggest first. */
static void
print_smaps_change (GPid pid, GHashTable *before)
{
  g_autoptr (GHashTable) after = read_smaps (pid);
  g_autoptr (GHashTable) changes = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, after);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    gssize change = (gssize) GPOINTER_TO_SIZE (value) -
                    (gssize) GPOINTER_TO_SIZE (g_hash_table_lookup (before, key));

    if (ABS (change) >= 64) {
      g_hash_table_insert (changes, key, GSIZE_TO_POINTER ((gsize) ABS (change)));
      g_ptr_array_add (names, key);
    }
  }
  g_ptr_array_sort_with_data (names, compare_rss, changes);
  g_print ("  RSS change: %+.1f MiB in files, %+.1f MiB heap, %+.1f MiB anonymous\n",
           smaps_change (before, after, 'f') / 1024.0, smaps_change (before, after, 'h') / 1024.0,
           smaps_change (before, after, 'a') / 1024.0);
  g_print ("  RSS change by mapping:\n");
  for (guint i = 0; i < names->len; i++) {
    gssize change = (gssize) GPOINTER_TO_SIZE (g_hash_table_lookup (after, names->pdata[i])) -
                    (gssize) GPOINTER_TO_SIZE (g_hash_table_lookup (before, names->pdata[i]));

    g_print ("    %+8.1f MiB  %s\n", change / 1024.0, (const char *) names->pdata[i]);
  }
}

static double
median (GArray *values)
{
  double *v = (double *) values->data;

  g_assert (values->len > 0);
  for (guint i = 1; i < values->len; i++)
    for (guint j = i; j > 0 && v[j - 1] > v[j]; j--) {
      double t = v[j];

      v[j] = v[j - 1];
      v[j - 1] = t;
    }

  return values->len % 2 ? v[values->len / 2] : (v[values->len / 2 - 1] + v[values->len / 2]) / 2.0;
}

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *wait = user_data;

  wait->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result,
                                                          NULL, &wait->error);
  wait->done = TRUE;
}

/* The next line on @stream, or NULL at its end. */
static char *
read_line (GDataInputStream *stream, const char *what)
{
  Wait wait = { 0 };

  g_data_input_stream_read_line_async (stream, G_PRIORITY_DEFAULT, NULL, on_line, &wait);
  iterate_until (&wait.done, g_get_monotonic_time () + LINE_TIMEOUT_US, what);
  if (wait.error != NULL)
    g_error ("reading %s: %s", what, wait.error->message);
  return wait.line;
}

static void
on_registered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *wait = user_data;

  wait->ok = natter_account_register_finish (NATTER_ACCOUNT (source), result, &wait->error);
  wait->done = TRUE;
}

static void
on_signed_in (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *wait = user_data;

  wait->ok = natter_client_sign_in_finish (NATTER_CLIENT (source), result, &wait->error);
  wait->done = TRUE;
}

static void
on_request (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *wait = user_data;

  wait->bytes = natter_account_request_finish (NATTER_ACCOUNT (source), result, &wait->error);
  wait->done = TRUE;
}

/* Registers @email (the token goes to the data folder's token file, as
 * after a sign-in in the app) and connects. */
static NatterClient *
signed_up_client (const char *url,
                  const char *data_dir,
                  const char *email,
                  const char *name,
                  const char *profile_type)
{
  NatterClient *client = natter_client_new (url, data_dir);
  const char *types[] = { profile_type, NULL };
  Wait registered = { 0 };
  Wait signed_in = { 0 };

  natter_account_register_async (natter_client_get_account (client), email, PASSWORD, name, types,
                                 NULL, on_registered, &registered);
  iterate_until (&registered.done, g_get_monotonic_time () + 30 * G_USEC_PER_SEC, "register");
  if (!registered.ok)
    g_error ("register %s: %s", email, registered.error->message);

  natter_client_sign_in_async (client, NULL, on_signed_in, &signed_in);
  iterate_until (&signed_in.done, g_get_monotonic_time () + 30 * G_USEC_PER_SEC, "sign-in");
  if (!signed_in.ok)
    g_error ("sign in %s: %s", email, signed_in.error->message);

  return client;
}

static gboolean
connected (NatterClient *client)
{
  return natter_connection_get_state (natter_client_get_connection (client)) ==
         NATTER_CONNECTION_STATE_CONNECTED;
}

static gint64
create_conversation (NatterClient *from, NatterClient *to)
{
  const NatterProfile *peer = natter_account_get_active_profile (natter_client_get_account (to));
  NatterAccount *account = natter_client_get_account (from);
  g_autofree char *path = natter_account_build_profile_path (account, "/conversations");
  g_autofree char *body =
    g_strdup_printf ("{\"with\":[{\"profile_id\":%" G_GINT64_FORMAT ",\"profile_type\":\"%s\"}]}",
                     peer->profile_id, peer->profile_type);
  g_autoptr (JsonNode) node = NULL;
  Wait wait = { 0 };
  gint64 conversation_id;

  natter_account_request_async (account, "POST", path, body, NULL, on_request, &wait);
  iterate_until (&wait.done, g_get_monotonic_time () + 30 * G_USEC_PER_SEC, "conversation");
  if (wait.bytes == NULL)
    g_error ("creating the conversation: %s", wait.error->message);

  {
    gsize length;
    const char *data = g_bytes_get_data (wait.bytes, &length);
    g_autofree char *text = g_strndup (data, length);

    node = json_from_string (text, NULL);
  }
  g_bytes_unref (wait.bytes);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    g_error ("creating the conversation: not a JSON object");
  conversation_id = json_object_get_int_member (json_node_get_object (node), "conversation_id");
  if (conversation_id <= 0)
    g_error ("creating the conversation: no conversation_id");
  return conversation_id;
}

/* The other side sends the history; Alice's client stores it, as it would
 * have over weeks of chatting. */
static void
seed_conversation (NatterClient *alice, NatterClient *bob, gint64 conversation_id)
{
  static const char *const texts[] = {
    "Selam! Are we still on for the maths session tomorrow?",
    "Yes, 4 pm works. I'll bring the exercises on fractions.",
    "Could you also look at question 7 from last week? I didn't get it.",
    "Sure, we'll start with that one.",
    "Here are the notes: https://example.org/notes/fractions.pdf",
    "Thanks 🙏",
    "ok",
  };
  NatterStore *store = natter_client_get_store (alice);
  gint64 started = g_get_monotonic_time ();
  guint sent = 0;

  while (sent < (guint) opt_messages) {
    guint target = MIN (sent + SEND_BATCH, (guint) opt_messages);
    gboolean done = FALSE;
    gint64 deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;

    for (; sent < target; sent++) {
      g_autoptr (GError) error = NULL;
      g_autofree char *text = g_strdup_printf ("%s (%u)", texts[sent % G_N_ELEMENTS (texts)], sent);
      g_autofree char *id = natter_client_send_message (bob, conversation_id, text, &error);

      if (id == NULL)
        g_error ("sending: %s", error->message);
    }

    while (!done) {
      done = natter_store_count_messages (store, conversation_id) >= target;
      if (!done && g_get_monotonic_time () > deadline)
        g_error ("Alice has %u of %u messages",
                 natter_store_count_messages (store, conversation_id), target);
      if (!done)
        iterate_for (5000);
    }
  }

  g_printerr ("seeded %u messages in %.1f s\n",
              natter_store_count_messages (store, conversation_id),
              (g_get_monotonic_time () - started) / 1e6);
}

static GSubprocess *
start_server (const char *db_path, char **out_url)
{
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr (GDataInputStream) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *line = NULL;
  GSubprocess *server;

  /* The seeding sends far faster than a person types. */
  server = g_subprocess_launcher_spawn (launcher, &error, opt_server, "--port", "0", "--db",
                                        db_path, "--chat-rate", "100000", "--chat-burst", "100000",
                                        "--frame-rate", "100000", "--frame-burst", "100000",
                                        "--registration-burst", "100000", NULL);
  if (server == NULL)
    g_error ("natter-server: %s", error->message);

  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  line = read_line (out, "natter-server to listen");
  if (line == NULL || !g_str_has_prefix (line, "listening on "))
    g_error ("natter-server did not start");
  *out_url = g_strdup (line + strlen ("listening on "));
  return server;
}

static void
activate_action (GDBusConnection *bus, const char *name, GVariant *parameter)
{
  g_autofree char *object_path = g_strdup_printf ("/%s", APPLICATION_ID);
  g_autoptr (GVariantBuilder) parameters = g_variant_builder_new (G_VARIANT_TYPE ("av"));
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;

  g_strdelimit (object_path, ".", '/');
  g_strdelimit (object_path, "-", '_');
  if (parameter != NULL)
    g_variant_builder_add (parameters, "v", parameter);

  reply =
    g_dbus_connection_call_sync (bus, APPLICATION_ID, object_path, "org.gtk.Actions", "Activate",
                                 g_variant_new ("(sava{sv})", name, parameters, NULL), NULL,
                                 G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
  if (reply == NULL)
    g_error ("activating app.%s: %s", name, error->message);
}

typedef struct {
  double first_frame_ms;
  double open_ms;
  guint n_items;
  gint64 rss_first_frame_kib;
  gint64 rss_open_kib;
  /* --scroll: scrolling the conversation to its oldest message */
  guint scroll_frames;
  guint scroll_frames_over_16ms;
  double scroll_longest_frame_ms;
  double scroll_ms;
} Run;

static void
on_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *done = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *done = TRUE;
}

/* Mesa keeps what it compiled for GSK's shaders in an on-disk cache
 * (~/.cache/mesa_shader_cache; llvmpipe too): a user's first launch
 * compiles them, every later one reads them. "cold" gives each launch an
 * empty cache, "warm" one cache for all launches, filled by an unmeasured
 * launch first; without --shader-cache the app uses the caller's own. */
static void
set_shader_cache (GSubprocessLauncher *launcher, const char *tmp, guint index)
{
  g_autofree char *dir = NULL;

  if (opt_shader_cache == NULL)
    return;
  if (g_str_equal (opt_shader_cache, "cold"))
    dir = g_strdup_printf ("%s/mesa-shader-cache-%u", tmp, index);
  else
    dir = g_build_filename (tmp, "mesa-shader-cache-warm", NULL);
  g_subprocess_launcher_setenv (launcher, "MESA_SHADER_CACHE_DIR", dir, TRUE);
}

static Run
run_app (
  const char *url, const char *data_dir, gint64 conversation_id, guint index, const char *tmp)
{
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr (GSubprocess) app = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *log_path = g_strdup_printf ("%s/natter-%u.log", tmp, index);
  g_autofree char *line = NULL;
  Run run = { 0 };
  GPid pid;
  gint64 launched;
  gint64 stamp = 0;
  gint64 activated;
  gboolean exited = FALSE;

  g_subprocess_launcher_setenv (launcher, "NATTER_BENCH_TIMING", "1", TRUE);
  if (opt_scroll)
    g_subprocess_launcher_setenv (launcher, "NATTER_BENCH_SCROLL", "1", TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_DATA_DIR", data_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN_STORE", "file", TRUE);
  g_subprocess_launcher_setenv (launcher, "GSETTINGS_BACKEND", "memory", TRUE);
  g_subprocess_launcher_setenv (launcher, "GSETTINGS_SCHEMA_DIR", opt_schemas, TRUE);
  g_subprocess_launcher_set_stderr_file_path (launcher, log_path);
  set_shader_cache (launcher, tmp, index);

  launched = g_get_monotonic_time ();
  app = g_subprocess_launcher_spawn (launcher, &error, opt_natter, "--server", url, NULL);
  if (app == NULL)
    g_error ("natter: %s", error->message);
  pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (app), NULL, 10);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (app));

  while (stamp == 0) {
    g_clear_pointer (&line, g_free);
    line = read_line (out, "the main window's first frame");
    if (line == NULL)
      g_error ("natter exited before its first frame; see %s", log_path);
    if (sscanf (line, "natter-bench: first-frame %" G_GINT64_FORMAT, &stamp) != 1)
      stamp = 0;
  }
  run.first_frame_ms = (stamp - launched) / 1000.0;
  run.rss_first_frame_kib = rss_kib (pid);
  if (opt_smaps) {
    g_print ("run %u: at the first frame\n", index + 1);
    print_smaps (pid, 16);
  }

  /* As a notification's default action does. */
  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL)
    g_error ("session bus: %s", error->message);
  activated = g_get_monotonic_time ();
  activate_action (bus, "open-conversation", g_variant_new_int64 (conversation_id));

  stamp = 0;
  while (stamp == 0) {
    gint64 shown_id = 0;

    g_clear_pointer (&line, g_free);
    line = read_line (out, "the conversation to show");
    if (line == NULL)
      g_error ("natter exited before showing the conversation; see %s", log_path);
    if (sscanf (line, "natter-bench: conversation-shown %" G_GINT64_FORMAT " %u %" G_GINT64_FORMAT,
                &shown_id, &run.n_items, &stamp) != 3 ||
        shown_id != conversation_id)
      stamp = 0;
  }
  run.open_ms = (stamp - activated) / 1000.0;

  /* The pages around the newest messages load and the list settles. */
  iterate_for (G_USEC_PER_SEC);
  run.rss_open_kib = rss_kib (pid);
  if (opt_smaps)
    print_smaps (pid, 12);

  /* The app scrolls to the top every frame 2 s after showing the
   * conversation, until the oldest message is in the list (see
   * src/app/natter-bench-probes.c). */
  while (opt_scroll && run.scroll_frames == 0) {
    gint64 longest_us = 0, scroll_us = 0;

    g_clear_pointer (&line, g_free);
    line = read_line (out, "the scroll to the oldest message");
    if (line == NULL)
      g_error ("natter exited before scrolling to the oldest message; see %s", log_path);
    if (sscanf (line,
                "natter-bench: scrolled-to-oldest %u %u %" G_GINT64_FORMAT " %" G_GINT64_FORMAT,
                &run.scroll_frames, &run.scroll_frames_over_16ms, &longest_us, &scroll_us) != 4)
      run.scroll_frames = 0;
    run.scroll_longest_frame_ms = longest_us / 1000.0;
    run.scroll_ms = scroll_us / 1000.0;
  }

  activate_action (bus, "quit", NULL);
  g_subprocess_wait_async (app, NULL, on_exited, &exited);
  iterate_until (&exited, g_get_monotonic_time () + 10 * G_USEC_PER_SEC, "natter to quit");

  return run;
}

/* Context switches of each thread of @pid: name → voluntary + involuntary. */
static GHashTable *
thread_switches (GPid pid)
{
  g_autofree char *task_dir = g_strdup_printf ("/proc/%d/task", (int) pid);
  g_autoptr (GDir) dir = g_dir_open (task_dir, 0, NULL);
  GHashTable *switches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const char *tid;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL) {
    g_autofree char *status_path = g_build_filename (task_dir, tid, "status", NULL);
    g_autofree char *status = NULL;
    const char *name, *voluntary, *involuntary;
    g_autofree char *key = NULL;
    gsize count;

    if (!g_file_get_contents (status_path, &status, NULL, NULL))
      continue;
    name = strstr (status, "Name:");
    voluntary = strstr (status, "\nvoluntary_ctxt_switches:");
    involuntary = strstr (status, "nonvoluntary_ctxt_switches:");
    if (name == NULL || voluntary == NULL || involuntary == NULL)
      continue;
    name += strlen ("Name:");
    while (*name == ' ' || *name == '\t')
      name++;
    /* Threads of one name (a pool) count together; the TID tells apart
     * threads that come and go. */
    key = g_strdup_printf ("%.*s/%s", (int) strcspn (name, "\n"), name, tid);
    count =
      (gsize) g_ascii_strtoull (voluntary + strlen ("\nvoluntary_ctxt_switches:"), NULL, 10) +
      (gsize) g_ascii_strtoull (involuntary + strlen ("nonvoluntary_ctxt_switches:"), NULL, 10);
    g_hash_table_insert (switches, g_steal_pointer (&key), GSIZE_TO_POINTER (count));
  }
  return switches;
}

/* RSS and each thread's wake-ups of the app @pid over --seconds, then
 * quits it. */
static void
watch_background (GSubprocess *app, GPid pid)
{
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) before = NULL;
  g_autoptr (GHashTable) after = NULL;
  GHashTableIter iter;
  gpointer key, value;
  gsize total = 0;
  gint64 rss_start, rss_end;
  gboolean exited = FALSE;

  rss_start = rss_kib (pid);
  before = thread_switches (pid);
  iterate_for ((gint64) opt_seconds * G_USEC_PER_SEC);
  after = thread_switches (pid);
  rss_end = rss_kib (pid);

  g_print ("background, %d s: RSS %.1f MiB at the start, %.1f MiB at the end\n", opt_seconds,
           rss_start / 1024.0, rss_end / 1024.0);
  g_print ("context switches by thread (name/TID: count over the %d s):\n", opt_seconds);
  g_hash_table_iter_init (&iter, after);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    gpointer old = NULL;
    gsize delta;

    g_hash_table_lookup_extended (before, key, NULL, &old);
    delta = GPOINTER_TO_SIZE (value) - GPOINTER_TO_SIZE (old);
    total += delta;
    if (delta > 0)
      g_print ("  %-32s %6zu\n", (const char *) key, delta);
  }
  g_print ("background: %zu context switches in %d s (%.2f/s), RSS %.1f MiB\n", total, opt_seconds,
           (double) total / opt_seconds, rss_end / 1024.0);
  if (opt_smaps)
    print_smaps (pid, 12);

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL)
    g_error ("session bus: %s", error->message);
  activate_action (bus, "quit", NULL);
  g_subprocess_wait_async (app, NULL, on_exited, &exited);
  iterate_until (&exited, g_get_monotonic_time () + 10 * G_USEC_PER_SEC, "natter to quit");
}

static void
run_background (const char *url, const char *data_dir, const char *tmp)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GSubprocess) app = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *log_path = g_strdup_printf ("%s/natter-background.log", tmp);

  g_subprocess_launcher_setenv (launcher, "NATTER_DATA_DIR", data_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN_STORE", "file", TRUE);
  g_subprocess_launcher_setenv (launcher, "GSETTINGS_BACKEND", "memory", TRUE);
  g_subprocess_launcher_setenv (launcher, "GSETTINGS_SCHEMA_DIR", opt_schemas, TRUE);
  g_subprocess_launcher_set_stderr_file_path (launcher, log_path);
  app = g_subprocess_launcher_spawn (launcher, &error, opt_natter, "--background", "--server", url,
                                     NULL);
  if (app == NULL)
    g_error ("natter: %s", error->message);

  /* Signed in and connected, its start-up work done. */
  iterate_for (5 * G_USEC_PER_SEC);
  watch_background (app, (GPid) g_ascii_strtoll (g_subprocess_get_identifier (app), NULL, 10));
}

/* Closes @pid's windows as a window manager's close button does.
 * Returns how many it closed. */
static guint
close_windows_of (GPid pid)
{
  Display *display = XOpenDisplay (NULL);
  g_autoptr (GArray) windows = NULL;

  if (display == NULL)
    g_error ("cannot open the X display");
  windows = natter_test_x11_windows_of (display, pid);
  for (guint i = 0; i < windows->len; i++)
    natter_test_x11_close_window (display, g_array_index (windows, Window, i));
  XCloseDisplay (display);
  return windows->len;
}

/* As a user's day goes: the window opened (from the launcher: GL), a long
 * conversation read, the window closed; then the app in the background. */
static void
run_background_after_window (const char *url,
                             const char *data_dir,
                             gint64 conversation_id,
                             const char *tmp)
{
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr (GSubprocess) app = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *log_path = g_strdup_printf ("%s/natter-after-window.log", tmp);
  g_autofree char *line = NULL;
  gint64 rss_open;
  GPid pid;

  g_subprocess_launcher_setenv (launcher, "NATTER_BENCH_TIMING", "1", TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_DATA_DIR", data_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN_STORE", "file", TRUE);
  g_subprocess_launcher_setenv (launcher, "GSETTINGS_BACKEND", "memory", TRUE);
  g_subprocess_launcher_setenv (launcher, "GSETTINGS_SCHEMA_DIR", opt_schemas, TRUE);
  g_subprocess_launcher_set_stderr_file_path (launcher, log_path);
  app = g_subprocess_launcher_spawn (launcher, &error, opt_natter, "--server", url, NULL);
  if (app == NULL)
    g_error ("natter: %s", error->message);
  pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (app), NULL, 10);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (app));
  while (line == NULL || !g_str_has_prefix (line, "natter-bench: first-frame")) {
    g_clear_pointer (&line, g_free);
    line = read_line (out, "the main window's first frame");
    if (line == NULL)
      g_error ("natter exited before its first frame; see %s", log_path);
  }

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL)
    g_error ("session bus: %s", error->message);
  activate_action (bus, "open-conversation", g_variant_new_int64 (conversation_id));
  while (!g_str_has_prefix (line, "natter-bench: conversation-shown")) {
    g_clear_pointer (&line, g_free);
    line = read_line (out, "the conversation to show");
    if (line == NULL)
      g_error ("natter exited before showing the conversation; see %s", log_path);
  }
  iterate_for (G_USEC_PER_SEC);
  rss_open = rss_kib (pid);

  if (close_windows_of (pid) == 0)
    g_error ("natter has no window to close");
  /* The views go, and the memory they freed is given back. */
  iterate_for (5 * G_USEC_PER_SEC);
  if (rss_kib (pid) < 0)
    g_error ("natter exited when its window closed; see %s", log_path);
  if (close_windows_of (pid) > 0)
    g_error ("natter's window did not close");
  g_print ("window: RSS %.1f MiB with the %d-message conversation open; closed 5 s ago\n",
           rss_open / 1024.0, opt_messages);
  watch_background (app, pid);
}

typedef struct {
  NatterCall *call; /* Bob's */
  guint ended;
} Answerer;

static gboolean
hang_up_later (gpointer user_data)
{
  NatterCall *call = user_data;

  natter_call_hang_up (call);
  return G_SOURCE_REMOVE;
}

static void
on_bob_call_state (NatterCall *call, GParamSpec *pspec, Answerer *answerer)
{
  if (natter_call_get_state (call) == NATTER_CALL_STATE_CONNECTED)
    g_timeout_add_full (G_PRIORITY_DEFAULT, 3000, hang_up_later, g_object_ref (call),
                        g_object_unref);
  else if (natter_call_get_state (call) == NATTER_CALL_STATE_ENDED)
    answerer->ended++;
}

static gboolean
accept_later (gpointer user_data)
{
  natter_call_accept (user_data, TRUE);
  return G_SOURCE_REMOVE;
}

/* At once, or after --ring-ms as a person would: the app starts its media
 * helper as the call is placed, and a call rings for seconds. */
static void
on_bob_incoming_call (NatterCallManager *manager, NatterCall *call, Answerer *answerer)
{
  g_signal_connect (call, "notify::state", G_CALLBACK (on_bob_call_state), answerer);
  if (opt_ring_ms > 0)
    g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) opt_ring_ms, accept_later, g_object_ref (call),
                        g_object_unref);
  else
    natter_call_accept (call, TRUE);
}

/* The RSS of the app's natter-call-media helpers, summed (KiB). */
static gint64
helpers_rss_kib (GPid app)
{
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  gint64 total = 0;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL) {
    g_autofree char *path = g_build_filename ("/proc", name, "stat", NULL);
    g_autofree char *stat = NULL;
    const char *end;
    int ppid = 0;
    char state = '?';

    if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &stat, NULL, NULL))
      continue;
    end = strrchr (stat, ')');
    if (end == NULL || strstr (stat, "(natter-call-med") == NULL)
      continue;
    if (sscanf (end + 1, " %c %d", &state, &ppid) == 2 && ppid == (int) app && state != 'Z') {
      gint64 rss = rss_kib ((GPid) g_ascii_strtoll (name, NULL, 10));

      total += MAX (rss, 0);
    }
  }
  return total;
}

static void
run_calls (
  const char *url, const char *data_dir, gint64 conversation_id, NatterClient *bob, const char *tmp)
{
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr (GSubprocess) app = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *log_path = g_strdup_printf ("%s/natter-calls.log", tmp);
  g_autofree char *line = NULL;
  g_autoptr (GHashTable) smaps_before = NULL;
  NatterCallManager *manager = NULL;
  Answerer answerer = { 0 };
  gint64 rss_before, rss_after, rss_peak = 0, helpers_peak = 0;
  g_autoptr (GArray) first_video = g_array_new (FALSE, FALSE, sizeof (double));
  gboolean exited = FALSE;
  GPid pid;

  g_subprocess_launcher_setenv (launcher, "NATTER_BENCH_TIMING", "1", TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_DATA_DIR", data_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "NATTER_TOKEN_STORE", "file", TRUE);
  g_subprocess_launcher_setenv (launcher, "GSETTINGS_BACKEND", "memory", TRUE);
  g_subprocess_launcher_setenv (launcher, "GSETTINGS_SCHEMA_DIR", opt_schemas, TRUE);
  /* The app finds its media helper in the build tree so (main's app, which
   * has none, ignores it). */
  g_subprocess_launcher_setenv (launcher, "NATTER_CALL_MEDIA_HELPER", opt_call_media, FALSE);
  g_subprocess_launcher_set_stderr_file_path (launcher, log_path);
  app = g_subprocess_launcher_spawn (launcher, &error, opt_natter, "--server", url, NULL);
  if (app == NULL)
    g_error ("natter: %s", error->message);
  pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (app), NULL, 10);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (app));
  while (line == NULL || !g_str_has_prefix (line, "natter-bench: first-frame")) {
    g_clear_pointer (&line, g_free);
    line = read_line (out, "the main window's first frame");
    if (line == NULL)
      g_error ("natter exited before its first frame; see %s", log_path);
  }

  g_object_get (bob, "call-manager", &manager, NULL);
  g_signal_connect (manager, "incoming-call", G_CALLBACK (on_bob_incoming_call), &answerer);
  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL)
    g_error ("session bus: %s", error->message);

  iterate_for (3 * G_USEC_PER_SEC);
  g_print ("calls: app pid %d\n", (int) pid);
  rss_before = rss_kib (pid);
  smaps_before = read_smaps (pid);
  for (int i = 0; i < opt_calls; i++) {
    guint ended = answerer.ended;

    activate_action (bus, "start-call", g_variant_new ("(xs)", conversation_id, "video"));
    gint64 first_video_us = -1;

    while (answerer.ended == ended) {
      iterate_for (100 * 1000);
      rss_peak = MAX (rss_peak, rss_kib (pid));
      helpers_peak = MAX (helpers_peak, helpers_rss_kib (pid));
    }
    /* The app (NATTER_BENCH_TIMING) prints when the call's first remote
     * frame reached its picture; older apps print nothing. */
    while (first_video_us < 0 && g_getenv ("NATTER_BENCH_NO_CALL_TIMING") == NULL) {
      g_clear_pointer (&line, g_free);
      line = read_line (out, "the call's first remote frame");
      if (line == NULL)
        break;
      if (g_str_has_prefix (line, "natter-bench: call-trace "))
        g_print ("call %d: %s\n", i + 1, line + strlen ("natter-bench: call-trace "));
      sscanf (line, "natter-bench: call-first-video %" G_GINT64_FORMAT, &first_video_us);
    }
    if (first_video_us >= 0) {
      double ms = first_video_us / 1000.0;

      g_array_append_val (first_video, ms);
    }
    g_print ("call %d: ended; app RSS %.1f MiB; answer to first remote frame %.1f ms\n", i + 1,
             rss_kib (pid) / 1024.0, first_video_us / 1000.0);
    iterate_for (G_USEC_PER_SEC);
  }
  /* The app gives the calls' memory back a few seconds after the last. */
  iterate_for (8 * G_USEC_PER_SEC);
  rss_after = rss_kib (pid);
  g_print ("calls: %d video calls; app RSS %.1f MiB before the first, %.1f MiB at most during "
           "them, %.1f MiB after the last (%+.1f MiB)\n",
           opt_calls, rss_before / 1024.0, rss_peak / 1024.0, rss_after / 1024.0,
           (rss_after - rss_before) / 1024.0);
  g_print ("calls: media helpers' RSS %.1f MiB at most (0: the media ran in the app)\n",
           helpers_peak / 1024.0);
  if (first_video->len > 0) {
    double middle = median (first_video); /* sorts it */

    g_print ("calls: answer to first remote frame in the app: median %.1f ms, min %.1f, max "
             "%.1f (%u calls)\n",
             middle, g_array_index (first_video, double, 0),
             g_array_index (first_video, double, first_video->len - 1), first_video->len);
  }
  if (opt_smaps) {
    print_smaps (pid, 12);
    print_smaps_change (pid, smaps_before);
  }

  g_signal_handlers_disconnect_by_data (manager, &answerer);
  g_object_unref (manager);
  activate_action (bus, "quit", NULL);
  g_subprocess_wait_async (app, NULL, on_exited, &exited);
  iterate_until (&exited, g_get_monotonic_time () + 10 * G_USEC_PER_SEC, "natter to quit");
}

static void
set_default_paths (void)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *bench_dir = exe ? g_path_get_dirname (exe) : g_strdup (".");
  g_autofree char *build_dir = g_path_get_dirname (bench_dir);

  if (opt_natter == NULL)
    opt_natter = g_build_filename (build_dir, "src", "app", "natter", NULL);
  if (opt_call_media == NULL)
    opt_call_media = g_build_filename (build_dir, "src", "call-media", "natter-call-media", NULL);
  if (opt_server == NULL)
    opt_server = g_build_filename (build_dir, "src", "server", "natter-server", NULL);
  if (opt_schemas == NULL)
    opt_schemas = g_build_filename (build_dir, "data", NULL);
}

int
main (int argc, char *argv[])
{
  const GOptionEntry entries[] = {
    { "natter", 0, 0, G_OPTION_ARG_FILENAME, &opt_natter, "The app (default: this build's)",
      "PATH" },
    { "server", 0, 0, G_OPTION_ARG_FILENAME, &opt_server, "natter-server (default: this build's)",
      "PATH" },
    { "call-media", 0, 0, G_OPTION_ARG_FILENAME, &opt_call_media,
      "natter-call-media, the app's media helper (default: this build's)", "PATH" },
    { "schemas", 0, 0, G_OPTION_ARG_FILENAME, &opt_schemas,
      "Compiled GSettings schemas (default: this build's data/)", "DIR" },
    { "runs", 'n', 0, G_OPTION_ARG_INT, &opt_runs, "Launches to measure (default 5)", "N" },
    { "messages", 'm', 0, G_OPTION_ARG_INT, &opt_messages,
      "Messages in the conversation (default 10000)", "N" },
    { "smaps", 0, 0, G_OPTION_ARG_NONE, &opt_smaps,
      "After each run, where the RSS is (by mapping, from /proc/PID/smaps)", NULL },
    { "background", 0, 0, G_OPTION_ARG_NONE, &opt_background,
      "Instead: the app hidden and signed in, its RSS and wake-ups over --seconds", NULL },
    { "background-after-window", 0, 0, G_OPTION_ARG_NONE, &opt_background_after_window,
      "Instead: the same after the window was open on the conversation, then closed", NULL },
    { "seconds", 0, 0, G_OPTION_ARG_INT, &opt_seconds, "How long --background watches (default 60)",
      "S" },
    { "calls", 0, 0, G_OPTION_ARG_INT, &opt_calls,
      "Instead: the app's RSS before and after N video calls", "N" },
    { "ring-ms", 0, 0, G_OPTION_ARG_INT, &opt_ring_ms,
      "With --calls: the callee answers after MS of ringing (default 0: at once)", "MS" },
    { "scroll", 0, 0, G_OPTION_ARG_NONE, &opt_scroll,
      "Also scroll the open conversation to its oldest message; print the longest frame", NULL },
    { "shader-cache", 0, 0, G_OPTION_ARG_STRING, &opt_shader_cache,
      "Mesa's shader cache for each launch: cold (empty, a first launch) or warm (filled by an "
      "unmeasured launch; default: the caller's own cache)",
      "cold|warm" },
    { NULL }
  };
  g_autoptr (GOptionContext) context =
    g_option_context_new ("- the desktop app's start and memory");
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) server = NULL;
  g_autoptr (GArray) first_frame = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) open = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) rss_first = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) rss_open = g_array_new (FALSE, FALSE, sizeof (double));
  g_autofree char *tmp = NULL;
  g_autofree char *db_path = NULL;
  g_autofree char *alice_dir = NULL;
  g_autofree char *bob_dir = NULL;
  g_autofree char *url = NULL;
  NatterClient *alice;
  NatterClient *bob;
  gint64 conversation_id;
  gboolean alice_connected = FALSE;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  if (opt_runs < 1 || opt_messages < 1 || opt_seconds < 1 || opt_calls < 0) {
    g_printerr ("--runs, --messages and --seconds must be positive\n");
    return 2;
  }
  if (opt_shader_cache != NULL && !g_str_equal (opt_shader_cache, "cold") &&
      !g_str_equal (opt_shader_cache, "warm")) {
    g_printerr ("--shader-cache must be cold or warm\n");
    return 2;
  }
  if (g_getenv ("DISPLAY") == NULL && g_getenv ("WAYLAND_DISPLAY") == NULL) {
    g_printerr ("No display: run under xvfb-run -a dbus-run-session\n");
    return 2;
  }
  set_default_paths ();

  tmp = g_dir_make_tmp ("natter-bench-app-XXXXXX", &error);
  if (tmp == NULL)
    g_error ("%s", error->message);
  db_path = g_build_filename (tmp, "server.db", NULL);
  alice_dir = g_build_filename (tmp, "alice", NULL);
  bob_dir = g_build_filename (tmp, "bob", NULL);
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
  /* The client paces its sends to the server's default chat rate. */
  g_setenv ("NATTER_CHAT_RATE", "1000", TRUE);
  g_setenv ("NATTER_CHAT_BURST", "100", TRUE);
  if (opt_calls > 0) {
    /* Test sources for both ends: the app and Bob (in this process). */
    g_setenv ("NATTER_VIDEO_SRC",
              "videotestsrc is-live=true pattern=ball ! capsfilter "
              "caps=\"video/x-raw,width=1280,height=720,framerate=30/1\"",
              FALSE);
    g_setenv ("NATTER_AUDIO_SRC", "audiotestsrc is-live=true wave=ticks", FALSE);
    g_setenv ("NATTER_AUDIO_SINK", "fakesink sync=false", FALSE);
    g_setenv ("NATTER_SOUND_DIR", "/nonexistent", FALSE);
  }

  server = start_server (db_path, &url);
  alice = signed_up_client (url, alice_dir, "alice@bench.natter", "Alice Kebede", "tutor");
  bob = signed_up_client (url, bob_dir, "bob@bench.natter", "Bob Tesfaye", "student");
  while (!alice_connected) {
    alice_connected = connected (alice) && connected (bob);
    if (!alice_connected)
      iterate_for (5000);
  }
  conversation_id = create_conversation (bob, alice);
  seed_conversation (alice, bob, conversation_id);

  /* Alice's session ends here; the app takes over her data folder. Bob
   * stays to answer --calls. */
  if (opt_calls == 0)
    g_clear_object (&bob);
  g_object_unref (alice);
  iterate_for (200 * 1000);

  if (opt_background || opt_background_after_window || opt_calls > 0) {
    if (opt_background)
      run_background (url, alice_dir, tmp);
    if (opt_background_after_window)
      run_background_after_window (url, alice_dir, conversation_id, tmp);
    if (opt_calls > 0)
      run_calls (url, alice_dir, conversation_id, bob, tmp);
    g_clear_object (&bob);
    opt_runs = 0;
  }

  if (opt_runs > 0) {
    g_print ("natter-bench-app: %d messages, %d launches of %s; Mesa's shader cache: %s\n",
             opt_messages, opt_runs, opt_natter,
             opt_shader_cache == NULL                 ? "the caller's (warm after one launch)"
             : g_str_equal (opt_shader_cache, "cold") ? "cold (empty at each launch)"
                                                      : "warm (filled by an unmeasured launch)");
    /* Fills the warm cache; its figures are not counted. */
    if (opt_shader_cache != NULL && g_str_equal (opt_shader_cache, "warm"))
      run_app (url, alice_dir, conversation_id, (guint) opt_runs, tmp);
  }
  for (int i = 0; i < opt_runs; i++) {
    Run run = run_app (url, alice_dir, conversation_id, (guint) i, tmp);
    double rss_first_mib = run.rss_first_frame_kib / 1024.0;
    double rss_open_mib = run.rss_open_kib / 1024.0;

    g_print ("run %d: first frame %.0f ms (RSS %.1f MiB); conversation of %u shown %.0f ms "
             "after the action; RSS a second later %.1f MiB\n",
             i + 1, run.first_frame_ms, rss_first_mib, run.n_items, run.open_ms, rss_open_mib);
    if (opt_scroll)
      g_print ("run %d: scrolled to the oldest message in %.0f ms, %u frames, %u over 16 ms of "
               "work, the longest %.1f ms\n",
               i + 1, run.scroll_ms, run.scroll_frames, run.scroll_frames_over_16ms,
               run.scroll_longest_frame_ms);
    g_array_append_val (first_frame, run.first_frame_ms);
    g_array_append_val (open, run.open_ms);
    g_array_append_val (rss_first, rss_first_mib);
    g_array_append_val (rss_open, rss_open_mib);
  }

  if (opt_runs > 0)
    g_print ("median of %d: launch to first frame %.0f ms; open conversation %.0f ms; "
             "RSS at first frame %.1f MiB, with the %d-message conversation open %.1f MiB\n",
             opt_runs, median (first_frame), median (open), median (rss_first), opt_messages,
             median (rss_open));

  g_subprocess_send_signal (server, SIGTERM);
  g_subprocess_wait (server, NULL, NULL);
  natter_bench_remove_tree (tmp);
  g_free (opt_natter);
  g_free (opt_server);
  g_free (opt_schemas);
  g_free (opt_shader_cache);

  return 0;
}
