/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "natter-bench-context-set.h"

G_BEGIN_DECLS

/* What the chat and idle commands share: accounts, WebSocket connections on
 * one main loop, /proc figures of the server, and the report. Plain structs:
 * the bench holds thousands of them and wants no per-object overhead. */

typedef struct {
  char *email;
  char *password;
  char *token;
  gint64 profile_id;
  char *profile_type;
  GPtrArray *more_profiles; /* NatterBenchUser: the account's other profiles, during sign-in */
} NatterBenchUser;

void natter_bench_user_free (NatterBenchUser *user);

/* Counts by name ("rate_limited", "connect_failed", …), printed sorted. */
typedef struct {
  GHashTable *counts; /* char * -> GUINT_TO_POINTER */
} NatterBenchErrors;

void natter_bench_errors_init (NatterBenchErrors *errors);
void natter_bench_errors_clear (NatterBenchErrors *errors);
void natter_bench_errors_add (NatterBenchErrors *errors, const char *code);
/* Adds every count of @from to @into (a thread's errors to the run's). */
void natter_bench_errors_merge (NatterBenchErrors *into, const NatterBenchErrors *from);
guint natter_bench_errors_total (const NatterBenchErrors *errors);

typedef struct _NatterBenchConnection NatterBenchConnection;

typedef void (*NatterBenchFrameFunc) (NatterBenchConnection *connection,
                                      const char *data,
                                      gsize length,
                                      gpointer user_data);

struct _NatterBenchConnection {
  guint index;
  NatterBenchUser *user; /* unowned */
  const char *base_url;  /* unowned; NULL: the bench's server (chat spreads over several) */
  SoupWebsocketConnection *websocket;
  gint64 started_us;
  gint64 hello_us; /* 0 until the server's hello */
  gboolean failed;
  gboolean closed;
  NatterBenchFrameFunc on_frame;
  gpointer user_data;
  /* NULL: the thread-default context. Otherwise a member of @context_set
   * that holds this connection's WebSocket (both unowned). */
  GMainContext *context;
  NatterBenchContextSet *context_set;
};

/* Calls into libsoup for @connection from outside its context's dispatch go
 * between these: libsoup attaches its sources to the thread-default context,
 * and the set must look at the context after. */
void natter_bench_connection_enter (NatterBenchConnection *connection);
void natter_bench_connection_leave (NatterBenchConnection *connection);

/* One run of a command: the server, the HTTP session and the loop's errors. */
typedef struct {
  char *base_url; /* without the trailing slash */
  SoupSession *session;
  int server_pid; /* 0: not given */
  guint concurrency;
  NatterBenchErrors errors;
  char run_tag[9]; /* 8 hex digits, fresh per run */
  /* The profiles each registered account asks for (NULL: "student"): every
   * profile is one client, so N clients cost ⌈N / profiles⌉ password hashes. */
  char **profile_types;
} NatterBench;

gboolean natter_bench_init (
  NatterBench *bench, const char *server_url, int server_pid, guint concurrency, GError **error);
void natter_bench_clear (NatterBench *bench);

/* Adds a timer on the thread-default main context that wakes it every
 * @interval_ms (so loops check their clocks); returns the source to destroy. */
GSource *natter_bench_add_clock (guint interval_ms);

/* Runs the thread-default main context until @done returns TRUE or @deadline_us
 * (monotonic) passes; returns what @done says at the end.
 *
 * Each iteration of a GLib main loop prepares and checks every source, and
 * every WebSocket holds one: with a thousand connections an iteration costs
 * about 0.25 M instructions whatever it dispatches. A non-zero
 * @min_interval_us starts iterations at most that often, so that one
 * iteration dispatches the frames of many sockets; a frame then waits at
 * most that long before the bench reads it. */
gboolean natter_bench_iterate_until (gboolean (*done) (gpointer user_data),
                                     gpointer user_data,
                                     gint64 deadline_us,
                                     gint64 min_interval_us);

/* Raises RLIMIT_NOFILE to the hard limit; returns the new soft limit. */
guint64 natter_bench_raise_fd_limit (void);

/* Reads "email:password" lines; blank lines and '#' comments are skipped. */
GPtrArray *natter_bench_load_users (const char *path, GError **error);
gboolean natter_bench_save_users (const char *path, GPtrArray *users, GError **error);

/* Registers @n_register fresh users (when @users is empty) or logs every user
 * of @users in, @bench->concurrency requests at a time. Fills token and the
 * first profile; an account's further profiles follow it in @users as
 * entries of their own (same email and token). Failures are counted in
 * @bench->errors; the users that could not sign in are removed from @users. */
void natter_bench_sign_in (NatterBench *bench, GPtrArray *users, guint n_register);

/* Opens one WebSocket per entry of @connections (NatterBenchConnection with
 * user and on_frame set), @bench->concurrency handshakes at a time, and runs
 * the loop until every one got its hello or failed, or until @deadline_us.
 * Returns the number connected. */
guint natter_bench_connect_all (NatterBench *bench, GPtrArray *connections, gint64 deadline_us);
/* Closes every open WebSocket with 1000 and waits for the close handshakes. */
void natter_bench_close_all (GPtrArray *connections, gint64 deadline_us);
void natter_bench_connection_free (NatterBenchConnection *connection);

/* The string value of "@key" in a JSON object text, without unescaping (the
 * bench only reads ids and codes it can compare raw). FALSE when absent. */
gboolean natter_bench_scan_string (
  const char *data, gsize length, const char *key, const char **out_value, gsize *out_length);

typedef struct {
  guint64 rss_kib;
  guint64 hwm_kib;
  guint64 cpu_ticks; /* utime + stime */
} NatterBenchProcStats;

gboolean natter_bench_read_proc (int pid, NatterBenchProcStats *out);
/* CPU use between two samples, in percent of one core. */
double natter_bench_cpu_percent (const NatterBenchProcStats *before,
                                 const NatterBenchProcStats *after,
                                 gint64 elapsed_us);
/* CPU time used between two samples, in microseconds. */
gint64 natter_bench_cpu_us (const NatterBenchProcStats *before, const NatterBenchProcStats *after);
/* The bench's own user + system time, in microseconds. */
gint64 natter_bench_self_cpu_us (void);

/* Sorts @values_us (gint64) and reads percentile @p (0..100) from it. */
void natter_bench_sort (GArray *values_us);
double natter_bench_percentile_ms (GArray *sorted_us, double p);

/* The report: rows printed as an aligned table, or members of a JSON object. */
typedef struct {
  JsonBuilder *builder;
  GString *table;
} NatterBenchReport;

void natter_bench_report_init (NatterBenchReport *report, const char *command);
void natter_bench_report_section (NatterBenchReport *report, const char *title);
void natter_bench_report_int (NatterBenchReport *report,
                              const char *key,
                              const char *label,
                              gint64 value);
void natter_bench_report_double (
  NatterBenchReport *report, const char *key, const char *label, const char *unit, double value);
void natter_bench_report_errors (NatterBenchReport *report, const NatterBenchErrors *errors);
/* Prints to stdout and frees the report. */
void natter_bench_report_print (NatterBenchReport *report, gboolean json);

G_END_DECLS
