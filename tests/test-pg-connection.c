/* SPDX-License-Identifier: GPL-3.0-or-later */
/* NatterPgConnection (issue 17) against a real PostgreSQL 15 that the
 * harness starts once for the whole program (initdb takes seconds). */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "natter-pg-connection.h"
#include "natter-test-server.h"
#include "natter-test-services.h"

static NatterTestPostgres *postgres;
static gboolean postgres_tried;

typedef struct {
  GPtrArray *results; /* PGresult or NULL, in completion order */
  GPtrArray *errors;  /* GError or NULL, same order */
} Replies;

static NatterTestPostgres *
get_postgres (void)
{
  if (!postgres_tried) {
    postgres_tried = TRUE;
    postgres = natter_test_postgres_new ();
  } else if (postgres == NULL) {
    g_test_skip ("PostgreSQL 15 is not installed (Debian: postgresql-15)");
  }

  return postgres;
}

static void
error_free_nullable (GError *error)
{
  if (error != NULL)
    g_error_free (error);
}

static void
replies_init (Replies *replies)
{
  replies->results = g_ptr_array_new_with_free_func ((GDestroyNotify) PQclear);
  replies->errors = g_ptr_array_new_with_free_func ((GDestroyNotify) error_free_nullable);
}

static void
on_query_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Replies *replies = user_data;
  GError *error = NULL;
  PGresult *rows =
    natter_pg_connection_query_finish (NATTER_PG_CONNECTION (source), result, &error);

  g_ptr_array_add (replies->results, rows);
  g_ptr_array_add (replies->errors, error);
}

static NatterPgConnection *
connect_ready (NatterTestPostgres *pg)
{
  NatterPgConnection *connection =
    natter_pg_connection_new (natter_test_postgres_get_conninfo (pg));

  natter_pg_connection_set_backoff (connection, 20, natter_test_scale_ms (300));
  natter_pg_connection_start (connection);
  natter_test_wait_until (natter_pg_connection_get_state (connection) == NATTER_PG_CONNECTION_READY,
                          10000);

  return connection;
}

/* Parameters travel as values, never spliced into the SQL: quotes, a
 * semicolon and non-ASCII text come back unchanged; NULL stays NULL. */
static void
test_parameterised_query (void)
{
  NatterTestPostgres *pg = get_postgres ();
  g_autoptr (NatterPgConnection) connection = NULL;
  const char *params[] = { "2", "3", "Robert'); DROP TABLE students;-- ሰላም", NULL };
  Replies replies;
  PGresult *rows;

  if (pg == NULL)
    return;

  replies_init (&replies);
  connection = connect_ready (pg);
  natter_pg_connection_query (connection,
                              "SELECT $1::int + $2::int, $3::text, $4::text IS NULL, "
                              "length($3::text)",
                              4, params, on_query_done, &replies);
  natter_test_wait_until (replies.results->len == 1, 5000);
  g_assert_no_error ((GError *) g_ptr_array_index (replies.errors, 0));
  rows = g_ptr_array_index (replies.results, 0);
  g_assert_cmpint (PQntuples (rows), ==, 1);
  g_assert_cmpstr (PQgetvalue (rows, 0, 0), ==, "5");
  g_assert_cmpstr (PQgetvalue (rows, 0, 1), ==, params[2]);
  g_assert_cmpstr (PQgetvalue (rows, 0, 2), ==, "t");
  g_assert_cmpint (atoi (PQgetvalue (rows, 0, 3)), ==, g_utf8_strlen (params[2], -1));

  g_ptr_array_unref (replies.results);
  g_ptr_array_unref (replies.errors);
  g_assert_finalize_object (g_steal_pointer (&connection));
}

/* 500 queries made at once share the pipeline and come back in order; a
 * failing one in the middle fails alone, with PostgreSQL's SQLSTATE. */
static void
test_pipelined_queries (void)
{
  NatterTestPostgres *pg = get_postgres ();
  g_autoptr (NatterPgConnection) connection = NULL;
  const guint count = 500;
  const guint failing = 250;
  Replies replies;

  if (pg == NULL)
    return;

  replies_init (&replies);
  connection = connect_ready (pg);
  for (guint i = 0; i < count; i++) {
    g_autofree char *number = g_strdup_printf ("%u", i);
    const char *params[] = { number };

    natter_pg_connection_query (
      connection, i == failing ? "SELECT 1 / ($1::int - $1::int)" : "SELECT $1::int * 2", 1, params,
      on_query_done, &replies);
  }
  natter_test_wait_until (replies.results->len == count, 20000);
  g_assert_cmpuint (natter_pg_connection_get_max_in_flight (connection), >, 1);

  for (guint i = 0; i < count; i++) {
    PGresult *rows = g_ptr_array_index (replies.results, i);
    GError *error = g_ptr_array_index (replies.errors, i);
    g_autofree char *expected = g_strdup_printf ("%u", i * 2);

    if (i == failing) {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
      g_assert_true (g_str_has_prefix (error->message, "22012: ")); /* division_by_zero */
      g_assert_null (rows);
      continue;
    }
    g_assert_no_error (error);
    g_assert_cmpstr (PQgetvalue (rows, 0, 0), ==, expected);
  }

  g_ptr_array_unref (replies.results);
  g_ptr_array_unref (replies.errors);
  g_assert_finalize_object (g_steal_pointer (&connection));
}

/* The server goes down (an immediate shutdown, as a crash) with a query
 * running: the query fails as a lost connection, the connection comes back
 * on its own once the server is up again, and queries run again. */
static void
test_reconnects_after_server_restart (void)
{
  NatterTestPostgres *pg = get_postgres ();
  g_autoptr (NatterPgConnection) connection = NULL;
  g_autoptr (NatterPgConnection) observer = NULL;
  Replies replies;
  int active = 0;

  if (pg == NULL)
    return;

  replies_init (&replies);
  connection = connect_ready (pg);
  natter_pg_connection_query (connection, "SELECT pg_sleep(30)", 0, NULL, on_query_done, &replies);
  natter_pg_connection_query (connection, "SELECT 'queued behind'", 0, NULL, on_query_done,
                              &replies);
  /* Kill once the server is running the first: watched from a second
   * connection. */
  observer = connect_ready (pg);
  while (active == 0) {
    Replies seen;
    PGresult *rows;

    replies_init (&seen);
    natter_pg_connection_query (observer,
                                "SELECT count(*) FROM pg_stat_activity "
                                "WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'",
                                0, NULL, on_query_done, &seen);
    natter_test_wait_until (seen.results->len == 1, 5000);
    g_assert_no_error ((GError *) g_ptr_array_index (seen.errors, 0));
    rows = g_ptr_array_index (seen.results, 0);
    active = atoi (PQgetvalue (rows, 0, 0));
    g_ptr_array_unref (seen.results);
    g_ptr_array_unref (seen.errors);
  }
  g_assert_cmpuint (replies.results->len, ==, 0);

  natter_test_postgres_kill (pg);
  natter_test_wait_until (replies.results->len == 2, 10000);
  for (guint i = 0; i < 2; i++)
    g_assert_error ((GError *) g_ptr_array_index (replies.errors, i), G_IO_ERROR,
                    G_IO_ERROR_CONNECTION_CLOSED);
  natter_test_wait_until (natter_pg_connection_get_state (connection) != NATTER_PG_CONNECTION_READY,
                          5000);

  natter_test_postgres_restart (pg);
  natter_test_wait_until (natter_pg_connection_get_state (connection) == NATTER_PG_CONNECTION_READY,
                          20000);
  natter_pg_connection_query (connection, "SELECT 'back'", 0, NULL, on_query_done, &replies);
  natter_test_wait_until (replies.results->len == 3, 5000);
  g_assert_no_error ((GError *) g_ptr_array_index (replies.errors, 2));
  g_assert_cmpstr (PQgetvalue ((PGresult *) g_ptr_array_index (replies.results, 2), 0, 0), ==,
                   "back");

  g_ptr_array_unref (replies.results);
  g_ptr_array_unref (replies.errors);
  g_assert_finalize_object (g_steal_pointer (&connection));
  g_assert_finalize_object (g_steal_pointer (&observer));
}

/* Nothing listens: connecting fails, and a query made meanwhile fails
 * instead of waiting for ever. */
static void
test_query_fails_without_server (void)
{
  g_autofree char *conninfo = g_strdup_printf ("host=127.0.0.1 port=1 user=postgres "
                                               "connect_timeout=2");
  g_autoptr (NatterPgConnection) connection = natter_pg_connection_new (conninfo);
  Replies replies;

  replies_init (&replies);
  natter_pg_connection_set_backoff (connection, 1000, 1000);
  natter_pg_connection_start (connection);
  natter_pg_connection_query (connection, "SELECT 1", 0, NULL, on_query_done, &replies);
  natter_test_wait_until (replies.results->len == 1, 5000);
  g_assert_error ((GError *) g_ptr_array_index (replies.errors, 0), G_IO_ERROR,
                  G_IO_ERROR_NOT_CONNECTED);
  g_assert_cmpint (natter_pg_connection_get_state (connection), !=, NATTER_PG_CONNECTION_READY);

  g_ptr_array_unref (replies.results);
  g_ptr_array_unref (replies.errors);
  g_assert_finalize_object (g_steal_pointer (&connection));
}

/* Fail-fast (the store's transactions): with the server gone, a query
 * fails at once instead of waiting for the next connection, which is a
 * minute of backoff away here. */
static void
test_fail_fast_while_disconnected (void)
{
  NatterTestPostgres *pg = get_postgres ();
  g_autoptr (NatterPgConnection) connection = NULL;
  Replies replies;

  if (pg == NULL)
    return;

  replies_init (&replies);
  connection = natter_pg_connection_new (natter_test_postgres_get_conninfo (pg));
  natter_pg_connection_set_backoff (connection, 60000, 60000);
  natter_pg_connection_set_fail_fast (connection, TRUE);
  natter_pg_connection_start (connection);
  natter_test_wait_until (natter_pg_connection_get_state (connection) == NATTER_PG_CONNECTION_READY,
                          10000);

  natter_test_postgres_kill (pg);
  natter_test_wait_until (
    natter_pg_connection_get_state (connection) == NATTER_PG_CONNECTION_DISCONNECTED, 10000);
  natter_pg_connection_query (connection, "SELECT 1", 0, NULL, on_query_done, &replies);
  natter_test_wait_until (replies.results->len == 1, 1000);
  g_assert_error ((GError *) g_ptr_array_index (replies.errors, 0), G_IO_ERROR,
                  G_IO_ERROR_NOT_CONNECTED);
  /* No connection was tried meanwhile: the failure did not wait for one. */
  g_assert_cmpint (natter_pg_connection_get_state (connection), ==,
                   NATTER_PG_CONNECTION_DISCONNECTED);

  natter_test_postgres_restart (pg);
  g_ptr_array_unref (replies.results);
  g_ptr_array_unref (replies.errors);
  g_assert_finalize_object (g_steal_pointer (&connection));
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/pg-connection/parameterised-query", test_parameterised_query);
  g_test_add_func ("/natter/pg-connection/pipelined-queries", test_pipelined_queries);
  g_test_add_func ("/natter/pg-connection/reconnects-after-server-restart",
                   test_reconnects_after_server_restart);
  g_test_add_func ("/natter/pg-connection/query-fails-without-server",
                   test_query_fails_without_server);
  g_test_add_func ("/natter/pg-connection/fail-fast-while-disconnected",
                   test_fail_fast_while_disconnected);

  status = g_test_run ();
  g_clear_pointer (&postgres, natter_test_postgres_free);

  return status;
}
