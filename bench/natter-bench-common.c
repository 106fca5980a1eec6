/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench"

#include "config.h"

#include "natter-bench-common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "natter-frame.h"
#include "natter-http-body.h"

#define BENCH_PROFILE_TYPE "student"

void
natter_bench_user_free (NatterBenchUser *user)
{
  if (user == NULL)
    return;

  g_free (user->email);
  g_free (user->password);
  g_free (user->token);
  g_free (user->profile_type);
  g_clear_pointer (&user->more_profiles, g_ptr_array_unref);
  g_free (user);
}

void
natter_bench_errors_init (NatterBenchErrors *errors)
{
  errors->counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

void
natter_bench_errors_clear (NatterBenchErrors *errors)
{
  g_clear_pointer (&errors->counts, g_hash_table_unref);
}

void
natter_bench_errors_add (NatterBenchErrors *errors, const char *code)
{
  gpointer count = g_hash_table_lookup (errors->counts, code);

  g_hash_table_replace (errors->counts, g_strdup (code),
                        GUINT_TO_POINTER (GPOINTER_TO_UINT (count) + 1));
}

void
natter_bench_errors_merge (NatterBenchErrors *into, const NatterBenchErrors *from)
{
  GHashTableIter iter;
  gpointer code;
  gpointer count;

  g_hash_table_iter_init (&iter, from->counts);
  while (g_hash_table_iter_next (&iter, &code, &count)) {
    guint before = GPOINTER_TO_UINT (g_hash_table_lookup (into->counts, code));

    g_hash_table_replace (into->counts, g_strdup (code),
                          GUINT_TO_POINTER (before + GPOINTER_TO_UINT (count)));
  }
}

guint
natter_bench_errors_total (const NatterBenchErrors *errors)
{
  GHashTableIter iter;
  gpointer count;
  guint total = 0;

  g_hash_table_iter_init (&iter, errors->counts);
  while (g_hash_table_iter_next (&iter, NULL, &count))
    total += GPOINTER_TO_UINT (count);

  return total;
}

/**
 * natter_bench_init:
 * @bench: the run to fill
 * @server_url: the server, http:// or https://
 * @server_pid: its process id for /proc figures, 0 when unknown
 * @concurrency: sign-ins and handshakes in flight at once
 * @error: where a bad URL is reported
 *
 * Returns: %TRUE when @bench is ready; clear it with natter_bench_clear ()
 */
gboolean
natter_bench_init (
  NatterBench *bench, const char *server_url, int server_pid, guint concurrency, GError **error)
{
  g_autoptr (GUri) uri = NULL;

  g_return_val_if_fail (bench != NULL, FALSE);
  g_return_val_if_fail (server_url != NULL, FALSE);

  memset (bench, 0, sizeof *bench);

  uri = g_uri_parse (server_url, G_URI_FLAGS_NONE, error);
  if (uri == NULL)
    return FALSE;
  if (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 &&
      g_strcmp0 (g_uri_get_scheme (uri), "https") != 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "--server: %s is not an http:// or https:// URL", server_url);
    return FALSE;
  }

  bench->base_url = g_strdup (server_url);
  while (g_str_has_suffix (bench->base_url, "/"))
    bench->base_url[strlen (bench->base_url) - 1] = '\0';

  bench->server_pid = server_pid;
  bench->concurrency = MAX (concurrency, 1);
  /* The connection cap only limits handshakes in flight: an upgraded
   * WebSocket leaves the session's pool. No I/O timeout: idle WebSockets
   * are the point of the idle command. */
  bench->session = soup_session_new_with_options (
    "max-conns", bench->concurrency + 8, "max-conns-per-host", bench->concurrency + 8, "timeout", 0,
    "idle-timeout", 0, "user-agent", "natter-bench/" PACKAGE_VERSION, NULL);
  /* Straight to the server: no proxy lookup (libproxy, a thread and
   * GSettings) before every request and handshake. */
  soup_session_set_proxy_resolver (bench->session, NULL);
  natter_bench_errors_init (&bench->errors);
  g_snprintf (bench->run_tag, sizeof bench->run_tag, "%08x", g_random_int ());

  return TRUE;
}

void
natter_bench_clear (NatterBench *bench)
{
  g_clear_pointer (&bench->base_url, g_free);
  g_clear_object (&bench->session);
  g_clear_pointer (&bench->profile_types, g_strfreev);
  natter_bench_errors_clear (&bench->errors);
}

static gboolean
on_clock_tick (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

GSource *
natter_bench_add_clock (guint interval_ms)
{
  GSource *source = g_timeout_source_new (interval_ms);

  g_source_set_callback (source, on_clock_tick, NULL, NULL);
  g_source_attach (source, g_main_context_get_thread_default ());
  return source;
}

static void
remove_clock (GSource *source)
{
  g_source_destroy (source);
  g_source_unref (source);
}

/**
 * natter_bench_iterate_until:
 * @done: the condition, checked before every iteration
 * @user_data: for @done
 * @deadline_us: monotonic time to give up at
 * @min_interval_us: shortest time between iteration starts, 0 for none
 *
 * Returns: what @done says at the end
 */
gboolean
natter_bench_iterate_until (gboolean (*done) (gpointer user_data),
                            gpointer user_data,
                            gint64 deadline_us,
                            gint64 min_interval_us)
{
  /* A chat thread runs its own context; the main thread the global one. */
  GMainContext *context = g_main_context_get_thread_default ();

  while (!done (user_data)) {
    gint64 started_us = g_get_monotonic_time ();
    gint64 spent_us;

    if (started_us >= deadline_us)
      return done (user_data);
    /* Blocks in poll; a timer wakes it at least every 50 ms for the clock. */
    g_main_context_iteration (context, TRUE);

    spent_us = g_get_monotonic_time () - started_us;
    if (spent_us < min_interval_us)
      g_usleep ((gulong) (min_interval_us - spent_us));
  }

  return TRUE;
}

/**
 * natter_bench_raise_fd_limit:
 *
 * Raises the soft RLIMIT_NOFILE to the hard limit.
 *
 * Returns: the soft limit now in force
 */
guint64
natter_bench_raise_fd_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return 0;

  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
      g_warning ("Could not raise the open file limit: %s", g_strerror (errno));
    getrlimit (RLIMIT_NOFILE, &limit);
  }

  return limit.rlim_cur;
}

/**
 * natter_bench_load_users:
 * @path: a file of `email:password` lines
 * @error: where a missing file or a bad line is reported
 *
 * Returns: (transfer full) (element-type NatterBenchUser): the users, not
 *   signed in yet
 */
GPtrArray *
natter_bench_load_users (const char *path, GError **error)
{
  g_autoptr (GPtrArray) users =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_bench_user_free);
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents (path, &contents, NULL, error))
    return NULL;

  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    char *line = g_strstrip (lines[i]);
    char *colon;
    NatterBenchUser *user;

    if (*line == '\0' || *line == '#')
      continue;

    colon = strchr (line, ':');
    if (colon == NULL || colon == line || colon[1] == '\0') {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s:%u: expected email:password",
                   path, i + 1);
      return NULL;
    }

    user = g_new0 (NatterBenchUser, 1);
    user->email = g_strndup (line, colon - line);
    user->password = g_strdup (colon + 1);
    g_ptr_array_add (users, user);
  }

  return g_steal_pointer (&users);
}

gboolean
natter_bench_save_users (const char *path, GPtrArray *users, GError **error)
{
  g_autoptr (GString) contents = g_string_new (NULL);

  for (guint i = 0; i < users->len; i++) {
    NatterBenchUser *user = g_ptr_array_index (users, i);
    NatterBenchUser *before = i > 0 ? g_ptr_array_index (users, i - 1) : NULL;

    /* An account's profiles follow each other: one line per account. */
    if (before == NULL || g_strcmp0 (before->email, user->email) != 0)
      g_string_append_printf (contents, "%s:%s\n", user->email, user->password);
  }

  return g_file_set_contents_full (path, contents->str, contents->len,
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

typedef struct {
  NatterBench *bench;
  GPtrArray *users;
  gboolean registering;
  guint next;
  guint in_flight;
  guint finished;
} SignIn;

typedef struct {
  SignIn *sign_in;
  NatterBenchUser *user;
  SoupMessage *message;
} SignInRequest;

static void sign_in_start_more (SignIn *sign_in);

static void
count_http_failure (
  NatterBench *bench, const char *what, SoupMessage *message, GBytes *body, const GError *error)
{
  g_autofree char *code = NULL;
  g_autofree char *text = NULL;
  g_autofree char *name = NULL;

  if (error != NULL) {
    g_debug ("%s failed: %s", what, error->message);
    name = g_strdup_printf ("%s:network", what);
  } else if (body != NULL && natter_http_error_parse (g_bytes_get_data (body, NULL),
                                                      g_bytes_get_size (body), &code, &text))
    name = g_strdup_printf ("%s:%s", what, code);
  else
    name = g_strdup_printf ("%s:http_%u", what, soup_message_get_status (message));

  natter_bench_errors_add (&bench->errors, name);
}

static void
on_sign_in_answered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SignInRequest *request = user_data;
  SignIn *sign_in = request->sign_in;
  NatterBenchUser *user = request->user;
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterSession) session = NULL;
  const char *what = sign_in->registering ? "register" : "login";
  guint status;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  status = soup_message_get_status (request->message);

  if (body == NULL || (status != SOUP_STATUS_OK && status != SOUP_STATUS_CREATED)) {
    count_http_failure (sign_in->bench, what, request->message, body, error);
  } else {
    session = natter_session_parse (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
    if (session == NULL || session->user->profiles->len == 0) {
      g_autofree char *name = g_strdup_printf ("%s:bad_answer", what);

      natter_bench_errors_add (&sign_in->bench->errors, name);
    } else {
      NatterProfile *profile = g_ptr_array_index (session->user->profiles, 0);

      user->token = g_strdup (session->token);
      user->profile_id = profile->profile_id;
      user->profile_type = g_strdup (profile->profile_type);
      /* Each further profile is a client of its own on the same account. */
      for (guint i = 1; i < session->user->profiles->len; i++) {
        NatterBenchUser *more = g_new0 (NatterBenchUser, 1);

        profile = g_ptr_array_index (session->user->profiles, i);
        more->email = g_strdup (user->email);
        more->password = g_strdup (user->password);
        more->token = g_strdup (session->token);
        more->profile_id = profile->profile_id;
        more->profile_type = g_strdup (profile->profile_type);
        if (user->more_profiles == NULL)
          user->more_profiles =
            g_ptr_array_new_with_free_func ((GDestroyNotify) natter_bench_user_free);
        g_ptr_array_add (user->more_profiles, more);
      }
    }
  }

  g_object_unref (request->message);
  g_free (request);

  sign_in->in_flight--;
  sign_in->finished++;
  sign_in_start_more (sign_in);
}

static void
sign_in_start_more (SignIn *sign_in)
{
  NatterBench *bench = sign_in->bench;

  while (sign_in->in_flight < bench->concurrency && sign_in->next < sign_in->users->len) {
    NatterBenchUser *user = g_ptr_array_index (sign_in->users, sign_in->next++);
    g_autoptr (GBytes) body = NULL;
    g_autofree char *url = NULL;
    char *json;
    SignInRequest *request;

    if (sign_in->registering) {
      g_autofree char *display_name = g_strdup_printf ("Bench %s", user->email);
      const char *types[] = { BENCH_PROFILE_TYPE, NULL };
      NatterRegisterRequest register_request = {
        .email = user->email,
        .password = user->password,
        .display_name = display_name,
        .profile_types = bench->profile_types != NULL ? bench->profile_types : (GStrv) types,
      };

      json = natter_register_request_to_json (&register_request);
      url = g_strdup_printf ("%s/api/register", bench->base_url);
    } else {
      NatterLoginRequest login_request = {
        .email = user->email,
        .password = user->password,
      };

      json = natter_login_request_to_json (&login_request);
      url = g_strdup_printf ("%s/api/login", bench->base_url);
    }

    body = g_bytes_new_take (json, strlen (json));
    request = g_new0 (SignInRequest, 1);
    request->sign_in = sign_in;
    request->user = user;
    request->message = soup_message_new ("POST", url);
    soup_message_set_request_body_from_bytes (request->message, "application/json", body);

    sign_in->in_flight++;
    soup_session_send_and_read_async (bench->session, request->message, G_PRIORITY_DEFAULT, NULL,
                                      on_sign_in_answered, request);
  }
}

static gboolean
sign_in_done (gpointer user_data)
{
  SignIn *sign_in = user_data;

  return sign_in->finished == sign_in->users->len;
}

/**
 * natter_bench_sign_in:
 * @bench: the run
 * @users: (element-type NatterBenchUser): users to log in, or empty to register
 * @n_register: how many to register when @users is empty
 *
 * Runs the main context until every request answered. Users that could not
 * sign in are counted in the errors and removed from @users.
 */
void
natter_bench_sign_in (NatterBench *bench, GPtrArray *users, guint n_register)
{
  SignIn sign_in = {
    .bench = bench,
    .users = users,
    .registering = users->len == 0,
  };
  GSource *clock;
  g_autofree gpointer *signed_in = NULL;
  gsize n_signed_in = 0;

  g_return_if_fail (bench != NULL);
  g_return_if_fail (users != NULL);

  if (sign_in.registering) {
    /* Fresh addresses every run, so a bench can run again on the same
     * database without 409s. */
    for (guint i = 0; i < n_register; i++) {
      NatterBenchUser *user = g_new0 (NatterBenchUser, 1);

      user->email = g_strdup_printf ("bench-%s-%u@bench.invalid", bench->run_tag, i);
      user->password = g_strdup_printf ("bench-password-%s-%u", bench->run_tag, i);
      g_ptr_array_add (users, user);
    }
  }

  clock = natter_bench_add_clock (50);
  sign_in_start_more (&sign_in);
  /* Requests always finish: libsoup reports network failures. */
  natter_bench_iterate_until (sign_in_done, &sign_in, G_MAXINT64, 0);
  remove_clock (clock);

  /* The users that signed in, each followed by its account's other profiles. */
  signed_in = g_ptr_array_steal (users, &n_signed_in);
  for (gsize i = 0; i < n_signed_in; i++) {
    NatterBenchUser *user = signed_in[i];
    g_autoptr (GPtrArray) more = g_steal_pointer (&user->more_profiles);

    if (user->token == NULL) {
      natter_bench_user_free (user);
      continue;
    }
    g_ptr_array_add (users, user);
    while (more != NULL && more->len > 0)
      g_ptr_array_add (users, g_ptr_array_steal_index (more, 0));
  }
}

typedef struct {
  NatterBench *bench;
  GPtrArray *connections;
  guint next;
  guint in_flight;
  guint finished; /* hello received, or failed */
  guint connected;
} Connector;

static void connector_start_more (Connector *connector);

static void
on_websocket_message (SoupWebsocketConnection *websocket,
                      SoupWebsocketDataType data_type,
                      GBytes *message,
                      NatterBenchConnection *connection)
{
  gsize length;
  const char *data = g_bytes_get_data (message, &length);

  connection->on_frame (connection, data, length, connection->user_data);
}

static void
on_websocket_closed (SoupWebsocketConnection *websocket, NatterBenchConnection *connection)
{
  connection->closed = TRUE;
}

static void
on_websocket_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  NatterBenchConnection *connection = user_data;
  Connector *connector = connection->user_data;
  g_autoptr (GError) error = NULL;

  connection->websocket =
    soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  connector->in_flight--;

  if (connection->websocket == NULL) {
    g_autofree char *name = NULL;

    if (g_error_matches (error, SOUP_WEBSOCKET_ERROR, SOUP_WEBSOCKET_ERROR_NOT_WEBSOCKET))
      name = g_strdup ("connect:refused");
    else
      name = g_strdup_printf ("connect:%s", g_quark_to_string (error->domain));
    natter_bench_errors_add (&connector->bench->errors, name);
    g_debug ("Connection %u failed: %s", connection->index, error->message);
    connection->failed = TRUE;
    connector->finished++;
  } else {
    /* The server ends the handshake; the bench reads frames of any size. */
    soup_websocket_connection_set_max_incoming_payload_size (connection->websocket, 0);
    g_signal_connect (connection->websocket, "message", G_CALLBACK (on_websocket_message),
                      connection);
    g_signal_connect (connection->websocket, "closed", G_CALLBACK (on_websocket_closed),
                      connection);
  }

  connector_start_more (connector);
}

/* Until its hello, a connection's frames come here; then the command's. */
static void
on_connecting_frame (NatterBenchConnection *connection,
                     const char *data,
                     gsize length,
                     gpointer user_data)
{
  Connector *connector = user_data;
  const char *type;
  gsize type_length;

  if (!natter_bench_scan_string (data, length, "type", &type, &type_length) || type_length != 5 ||
      memcmp (type, "hello", 5) != 0)
    return;

  connection->hello_us = g_get_monotonic_time ();
  connector->finished++;
  connector->connected++;
}

static void
connector_start_more (Connector *connector)
{
  NatterBench *bench = connector->bench;

  while (connector->in_flight < bench->concurrency &&
         connector->next < connector->connections->len) {
    NatterBenchConnection *connection =
      g_ptr_array_index (connector->connections, connector->next++);
    g_autoptr (SoupMessage) message = NULL;
    g_autofree char *url = NULL;
    g_autofree char *authorization = NULL;

    url = g_strdup_printf ("%s/ws/%" G_GINT64_FORMAT "/%s",
                           connection->base_url != NULL ? connection->base_url : bench->base_url,
                           connection->user->profile_id, connection->user->profile_type);
    message = soup_message_new ("GET", url);
    authorization = g_strdup_printf ("Bearer %s", connection->user->token);
    soup_message_headers_replace (soup_message_get_request_headers (message), "Authorization",
                                  authorization);

    connection->started_us = g_get_monotonic_time ();
    connector->in_flight++;
    /* The handshake, its callback and the WebSocket belong to the
     * connection's context. */
    natter_bench_connection_enter (connection);
    soup_session_websocket_connect_async (bench->session, message, NULL, NULL, G_PRIORITY_DEFAULT,
                                          NULL, on_websocket_connected, connection);
    natter_bench_connection_leave (connection);
  }
}

static gboolean
connector_done (gpointer user_data)
{
  Connector *connector = user_data;

  return connector->finished == connector->connections->len;
}

/**
 * natter_bench_connect_all:
 * @bench: the run
 * @connections: (element-type NatterBenchConnection): user and on_frame set
 * @deadline_us: monotonic time after which the rest count as timed out
 *
 * Returns: how many connections got the server's hello
 */
guint
natter_bench_connect_all (NatterBench *bench, GPtrArray *connections, gint64 deadline_us)
{
  Connector connector = {
    .bench = bench,
    .connections = connections,
  };
  g_autofree NatterBenchFrameFunc *frame_funcs = NULL;
  g_autofree gpointer *frame_data = NULL;
  GSource *clock;

  g_return_val_if_fail (bench != NULL, 0);
  g_return_val_if_fail (connections != NULL, 0);

  frame_funcs = g_new (NatterBenchFrameFunc, connections->len);
  frame_data = g_new (gpointer, connections->len);

  for (guint i = 0; i < connections->len; i++) {
    NatterBenchConnection *connection = g_ptr_array_index (connections, i);

    frame_funcs[i] = connection->on_frame;
    frame_data[i] = connection->user_data;
    connection->on_frame = on_connecting_frame;
    connection->user_data = &connector;
  }

  clock = natter_bench_add_clock (50);
  connector_start_more (&connector);
  natter_bench_iterate_until (connector_done, &connector, deadline_us, 0);
  remove_clock (clock);

  /* Handshakes still in flight after the deadline hold a pointer to the
   * connector: stop starting new ones and let those finish first. */
  connector.next = connections->len;
  while (connector.in_flight > 0)
    g_main_context_iteration (g_main_context_get_thread_default (), TRUE);

  for (guint i = 0; i < connections->len; i++) {
    NatterBenchConnection *connection = g_ptr_array_index (connections, i);

    connection->on_frame = frame_funcs[i];
    connection->user_data = frame_data[i];
    if (connection->hello_us == 0 && !connection->failed) {
      natter_bench_errors_add (&bench->errors, "connect:timeout");
      connection->failed = TRUE;
    }
  }

  return connector.connected;
}

static gboolean
all_closed (gpointer user_data)
{
  GPtrArray *connections = user_data;

  for (guint i = 0; i < connections->len; i++) {
    NatterBenchConnection *connection = g_ptr_array_index (connections, i);

    if (connection->websocket != NULL && !connection->closed)
      return FALSE;
  }

  return TRUE;
}

/**
 * natter_bench_close_all:
 * @connections: (element-type NatterBenchConnection): the connections
 * @deadline_us: monotonic time to stop waiting for close handshakes
 */
void
natter_bench_close_all (GPtrArray *connections, gint64 deadline_us)
{
  GSource *clock;

  for (guint i = 0; i < connections->len; i++) {
    NatterBenchConnection *connection = g_ptr_array_index (connections, i);

    if (connection->websocket != NULL &&
        soup_websocket_connection_get_state (connection->websocket) == SOUP_WEBSOCKET_STATE_OPEN) {
      natter_bench_connection_enter (connection);
      soup_websocket_connection_close (connection->websocket, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      natter_bench_connection_leave (connection);
    }
  }

  clock = natter_bench_add_clock (50);
  natter_bench_iterate_until (all_closed, connections, deadline_us, 0);
  remove_clock (clock);
}

/**
 * natter_bench_connection_enter:
 * @connection: a connection
 *
 * Makes @connection's context thread-default, when it has one.
 */
void
natter_bench_connection_enter (NatterBenchConnection *connection)
{
  if (connection->context_set != NULL)
    natter_bench_context_set_enter (connection->context_set, connection->context);
}

/**
 * natter_bench_connection_leave:
 * @connection: the connection natter_bench_connection_enter () entered
 */
void
natter_bench_connection_leave (NatterBenchConnection *connection)
{
  if (connection->context_set != NULL)
    natter_bench_context_set_leave (connection->context_set, connection->context);
}

void
natter_bench_connection_free (NatterBenchConnection *connection)
{
  if (connection == NULL)
    return;

  if (connection->websocket != NULL) {
    g_signal_handlers_disconnect_by_data (connection->websocket, connection);
    g_clear_object (&connection->websocket);
  }
  g_free (connection);
}

static gsize
skip_space (const char *data, gsize length, gsize at)
{
  while (at < length &&
         (data[at] == ' ' || data[at] == '\t' || data[at] == '\n' || data[at] == '\r'))
    at++;
  return at;
}

/**
 * natter_bench_scan_string:
 * @data: a JSON object's text, not necessarily NUL-terminated
 * @length: its length
 * @key: the member name
 * @out_value: (out): the raw string value, pointing into @data
 * @out_length: (out): its length
 *
 * Returns: %TRUE when @key has a string value in @data
 */
gboolean
natter_bench_scan_string (
  const char *data, gsize length, const char *key, const char **out_value, gsize *out_length)
{
  gsize key_length = strlen (key);
  gsize at = 0;

  /* Looks for "key" followed by a colon: a string value equal to the key is
   * followed by ',' or '}' instead, so it is skipped. */
  while (at + key_length + 2 < length) {
    const char *quote = memchr (data + at, '"', length - at);
    gsize start;
    gsize end;

    if (quote == NULL)
      return FALSE;
    at = quote - data + 1;

    if (at + key_length + 1 > length || memcmp (data + at, key, key_length) != 0 ||
        data[at + key_length] != '"')
      continue;

    start = skip_space (data, length, at + key_length + 1);
    if (start >= length || data[start] != ':')
      continue;
    start = skip_space (data, length, start + 1);
    if (start >= length || data[start] != '"')
      continue;
    start++;

    for (end = start; end < length && data[end] != '"'; end++) {
      if (data[end] == '\\')
        end++;
    }
    if (end >= length)
      return FALSE;

    *out_value = data + start;
    *out_length = end - start;
    return TRUE;
  }

  return FALSE;
}

/**
 * natter_bench_read_proc:
 * @pid: a process id
 * @out: (out caller-allocates): its RSS, peak RSS and CPU ticks
 *
 * Returns: %FALSE when /proc/@pid cannot be read (@out is then zero)
 */
gboolean
natter_bench_read_proc (int pid, NatterBenchProcStats *out)
{
  g_autofree char *path = NULL;
  g_autofree char *stat = NULL;
  g_autofree char *status = NULL;
  g_auto (GStrv) fields = NULL;
  const char *line;
  char *paren;

  memset (out, 0, sizeof *out);
  if (pid <= 0)
    return FALSE;

  path = g_strdup_printf ("/proc/%d/stat", pid);
  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return FALSE;
  /* The command name may hold spaces: the fields start after its ')'. */
  paren = strrchr (stat, ')');
  if (paren == NULL)
    return FALSE;
  fields = g_strsplit (paren + 2, " ", -1);
  /* state is field 3 of stat(5), so utime (14) and stime (15) are 11, 12. */
  if (g_strv_length (fields) < 13)
    return FALSE;
  out->cpu_ticks =
    g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10);

  g_free (path);
  path = g_strdup_printf ("/proc/%d/status", pid);
  if (!g_file_get_contents (path, &status, NULL, NULL))
    return FALSE;
  line = strstr (status, "\nVmRSS:");
  if (line != NULL)
    out->rss_kib = g_ascii_strtoull (line + strlen ("\nVmRSS:"), NULL, 10);
  line = strstr (status, "\nVmHWM:");
  if (line != NULL)
    out->hwm_kib = g_ascii_strtoull (line + strlen ("\nVmHWM:"), NULL, 10);

  return TRUE;
}

double
natter_bench_cpu_percent (const NatterBenchProcStats *before,
                          const NatterBenchProcStats *after,
                          gint64 elapsed_us)
{
  long ticks_per_s = sysconf (_SC_CLK_TCK);

  if (elapsed_us <= 0 || ticks_per_s <= 0 || after->cpu_ticks < before->cpu_ticks)
    return 0;

  return 100.0 * (double) (after->cpu_ticks - before->cpu_ticks) / (double) ticks_per_s /
         ((double) elapsed_us / G_USEC_PER_SEC);
}

gint64
natter_bench_cpu_us (const NatterBenchProcStats *before, const NatterBenchProcStats *after)
{
  long ticks_per_s = sysconf (_SC_CLK_TCK);

  if (ticks_per_s <= 0 || after->cpu_ticks < before->cpu_ticks)
    return 0;

  return (gint64) ((after->cpu_ticks - before->cpu_ticks) * G_USEC_PER_SEC / (guint64) ticks_per_s);
}

gint64
natter_bench_self_cpu_us (void)
{
  struct rusage usage;

  if (getrusage (RUSAGE_SELF, &usage) != 0)
    return 0;

  return (gint64) usage.ru_utime.tv_sec * G_USEC_PER_SEC + usage.ru_utime.tv_usec +
         (gint64) usage.ru_stime.tv_sec * G_USEC_PER_SEC + usage.ru_stime.tv_usec;
}

static int
compare_int64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a;
  gint64 y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

void
natter_bench_sort (GArray *values_us)
{
  g_array_sort (values_us, compare_int64);
}

/**
 * natter_bench_percentile_ms:
 * @sorted_us: (element-type gint64): values in microseconds, sorted
 * @p: the percentile, 0 to 100
 *
 * Returns: the nearest-rank percentile in milliseconds, 0 for no values
 */
double
natter_bench_percentile_ms (GArray *sorted_us, double p)
{
  gsize rank;

  if (sorted_us->len == 0)
    return 0;

  /* Nearest rank: the smallest value with at least p% at or below it. */
  rank = (gsize) ((p / 100.0) * sorted_us->len + 0.999999);
  rank = CLAMP (rank, 1, sorted_us->len);
  return g_array_index (sorted_us, gint64, rank - 1) / 1000.0;
}

void
natter_bench_report_init (NatterBenchReport *report, const char *command)
{
  report->builder = json_builder_new ();
  report->table = g_string_new (NULL);

  json_builder_begin_object (report->builder);
  json_builder_set_member_name (report->builder, "command");
  json_builder_add_string_value (report->builder, command);
  g_string_append_printf (report->table, "natter-bench %s\n", command);
}

void
natter_bench_report_section (NatterBenchReport *report, const char *title)
{
  g_string_append_printf (report->table, "\n%s\n", title);
}

void
natter_bench_report_int (NatterBenchReport *report,
                         const char *key,
                         const char *label,
                         gint64 value)
{
  json_builder_set_member_name (report->builder, key);
  json_builder_add_int_value (report->builder, value);
  g_string_append_printf (report->table, "  %-34s %12" G_GINT64_FORMAT "\n", label, value);
}

void
natter_bench_report_double (
  NatterBenchReport *report, const char *key, const char *label, const char *unit, double value)
{
  /* Three decimals are plenty and keep the JSON short. */
  json_builder_set_member_name (report->builder, key);
  json_builder_add_double_value (report->builder, round (value * 1000.0) / 1000.0);
  g_string_append_printf (report->table, "  %-34s %12.2f %s\n", label, value, unit);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

void
natter_bench_report_errors (NatterBenchReport *report, const NatterBenchErrors *errors)
{
  g_autofree const char **codes = NULL;
  guint n_codes = 0;

  codes = (const char **) g_hash_table_get_keys_as_array (errors->counts, &n_codes);
  qsort (codes, n_codes, sizeof *codes, compare_strings);

  json_builder_set_member_name (report->builder, "errors");
  json_builder_begin_object (report->builder);
  g_string_append_printf (report->table, "\nerrors by code\n");
  if (n_codes == 0)
    g_string_append (report->table, "  (none)\n");
  for (guint i = 0; i < n_codes; i++) {
    guint count = GPOINTER_TO_UINT (g_hash_table_lookup (errors->counts, codes[i]));

    json_builder_set_member_name (report->builder, codes[i]);
    json_builder_add_int_value (report->builder, count);
    g_string_append_printf (report->table, "  %-34s %12u\n", codes[i], count);
  }
  json_builder_end_object (report->builder);
}

/**
 * natter_bench_report_print:
 * @report: a report from natter_bench_report_init ()
 * @json: print JSON instead of the table
 *
 * Prints @report to stdout and frees what it holds.
 */
void
natter_bench_report_print (NatterBenchReport *report, gboolean json)
{
  json_builder_end_object (report->builder);

  if (json) {
    g_autoptr (JsonGenerator) generator = json_generator_new ();
    g_autoptr (JsonNode) root = json_builder_get_root (report->builder);
    g_autofree char *text = NULL;

    json_generator_set_root (generator, root);
    json_generator_set_pretty (generator, TRUE);
    text = json_generator_to_data (generator, NULL);
    fprintf (stdout, "%s\n", text);
  } else {
    fputs (report->table->str, stdout);
  }
  fflush (stdout);

  g_clear_object (&report->builder);
  g_string_free (report->table, TRUE);
  report->table = NULL;
}
