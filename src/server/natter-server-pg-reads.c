/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-store"

/* The reads of the PostgreSQL store (natter-server-pg-store.c), each one
 * statement on the store's reader connection, and the helpers the store
 * shares with them. */

#include "config.h"

#include <string.h>

#include "natter-server-db.h"
#include "natter-server-pg-reads.h"

/* PostgreSQL's errors as the SQLite backend's: NOT_FOUND for a missing
 * profile or conversation (no_data_found), EXISTS for a unique key. */
GError *
natter_server_pg_error_new (const GError *error)
{
  int code = NATTER_SERVER_DB_ERROR_FAILED;

  if (error->domain == G_IO_ERROR && error->code == G_IO_ERROR_FAILED) {
    if (g_str_has_prefix (error->message, "P0002:"))
      code = NATTER_SERVER_DB_ERROR_NOT_FOUND;
    else if (g_str_has_prefix (error->message, "23505:"))
      code = NATTER_SERVER_DB_ERROR_EXISTS;
  }

  /* "SQLSTATE: ERROR:  message\nCONTEXT: …" from the connection: the
   * message and the SQLSTATE, on one line. */
  if (error->domain == G_IO_ERROR && error->code == G_IO_ERROR_FAILED &&
      strlen (error->message) > 6 && error->message[5] == ':') {
    const char *text = error->message + 6;
    g_autofree char *line = NULL;

    while (*text == ' ')
      text++;
    if (g_str_has_prefix (text, "ERROR:"))
      text += strlen ("ERROR:");
    while (*text == ' ')
      text++;
    line = g_strndup (text, strcspn (text, "\n"));
    return g_error_new (NATTER_SERVER_DB_ERROR, code, "database: %s (%.5s)", line, error->message);
  }

  return g_error_new (NATTER_SERVER_DB_ERROR, code, "database: %s", error->message);
}

gint64
natter_pg_value_int64 (PGresult *result, int row, int column)
{
  if (PQgetisnull (result, row, column))
    return 0;

  return g_ascii_strtoll (PQgetvalue (result, row, column), NULL, 10);
}

gboolean
natter_pg_value_bool (PGresult *result, int row, int column)
{
  return !PQgetisnull (result, row, column) && PQgetvalue (result, row, column)[0] == 't';
}

char *
natter_pg_direct_key (const NatterProfile *a, const NatterProfile *b)
{
  g_autofree char *key_a =
    g_strdup_printf ("%" G_GINT64_FORMAT ":%s", a->profile_id, a->profile_type);
  g_autofree char *key_b =
    g_strdup_printf ("%" G_GINT64_FORMAT ":%s", b->profile_id, b->profile_type);

  if (g_strcmp0 (key_a, key_b) <= 0)
    return g_strconcat (key_a, "|", key_b, NULL);

  return g_strconcat (key_b, "|", key_a, NULL);
}

typedef void (*ReadParse) (NatterPgRead *read, PGresult *rows);

struct _NatterPgRead {
  GTask *task;
  const char *sql;
  GPtrArray *params; /* char * */
  ReadParse parse;
  NatterProfile *profile; /* what was asked about */
  guint limit;
};

static void
pg_read_free (NatterPgRead *read)
{
  g_clear_object (&read->task);
  g_ptr_array_unref (read->params);
  g_clear_pointer (&read->profile, natter_profile_free);
  g_free (read);
}

static void
on_read_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  NatterPgRead *read = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (PGresult) rows =
    natter_pg_connection_query_finish (NATTER_PG_CONNECTION (source), result, &error);

  if (rows == NULL)
    g_task_return_error (read->task, natter_server_pg_error_new (error));
  else
    read->parse (read, rows);
  pg_read_free (read);
}

static NatterPgRead *
pg_read_new (GTask *task, const char *sql, ReadParse parse)
{
  NatterPgRead *read = g_new0 (NatterPgRead, 1);

  read->task = task;
  read->sql = sql;
  read->params = g_ptr_array_new_with_free_func (g_free);
  read->parse = parse;

  return read;
}

/**
 * natter_pg_read_send:
 * @read: (transfer full): a read
 * @connection: where it runs
 *
 * Answers the read's task once the rows are in.
 */
void
natter_pg_read_send (NatterPgRead *read, NatterPgConnection *connection)
{
  natter_pg_connection_query (connection, read->sql, (int) read->params->len,
                              (const char *const *) read->params->pdata, on_read_done, read);
}

/* Fails @read's task with @error (from the connection) and frees it. */
void
natter_pg_read_fail (NatterPgRead *read, const GError *error)
{
  g_task_return_error (read->task, natter_server_pg_error_new (error));
  pg_read_free (read);
}

static NatterProfile *
row_profile (PGresult *rows, int row, gint64 profile_id, const char *profile_type, int first)
{
  g_autofree char *avatar_url = NULL;

  if (natter_pg_value_bool (rows, row, first + 1))
    avatar_url =
      g_strdup_printf ("/api/profiles/%s/%" G_GINT64_FORMAT "/avatar", profile_type, profile_id);

  return natter_profile_new (profile_id, profile_type,
                             PQgetisnull (rows, row, first) ? NULL : PQgetvalue (rows, row, first),
                             avatar_url);
}

static void
parse_auth (NatterPgRead *read, PGresult *rows)
{
  g_autoptr (NatterStoreAuth) auth = NULL;

  if (PQntuples (rows) == 0) {
    g_task_return_new_error (read->task, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                             "unknown, expired or revoked token");
    return;
  }

  auth = g_new0 (NatterStoreAuth, 1);
  auth->user_id = natter_pg_value_int64 (rows, 0, 0);
  auth->token_id = natter_pg_value_int64 (rows, 0, 1);
  if (!PQgetisnull (rows, 0, 2))
    auth->profile =
      row_profile (rows, 0, read->profile->profile_id, read->profile->profile_type, 3);
  g_task_return_pointer (read->task, g_steal_pointer (&auth),
                         (GDestroyNotify) natter_store_auth_free);
}

NatterPgRead *
natter_pg_read_authenticate (GTask *task,
                             const char *token_hash_hex,
                             gint64 now_unix,
                             const NatterProfile *profile)
{
  NatterPgRead *read =
    pg_read_new (task,
                 "SELECT t.user_id, t.token_id, p.profile_id, u.display_name, p.avatar IS NOT NULL"
                 " FROM tokens t JOIN users u ON u.user_id = t.user_id"
                 " LEFT JOIN profiles p ON p.user_id = t.user_id AND p.profile_id = $3::bigint"
                 " AND p.profile_type = $4"
                 " WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2::bigint",
                 parse_auth);

  read->profile = natter_profile_copy (profile);
  g_ptr_array_add (read->params, g_strdup (token_hash_hex));
  g_ptr_array_add (read->params, g_strdup_printf ("%" G_GINT64_FORMAT, now_unix));
  g_ptr_array_add (read->params, g_strdup_printf ("%" G_GINT64_FORMAT, profile->profile_id));
  g_ptr_array_add (read->params, g_strdup (profile->profile_type));
  return read;
}

static void
parse_participants (NatterPgRead *read, PGresult *rows)
{
  GPtrArray *participants = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);

  for (int row = 0; row < PQntuples (rows); row++)
    g_ptr_array_add (participants, row_profile (rows, row, natter_pg_value_int64 (rows, row, 0),
                                                PQgetvalue (rows, row, 1), 2));
  g_task_return_pointer (read->task, participants, (GDestroyNotify) g_ptr_array_unref);
}

NatterPgRead *
natter_pg_read_list_participants (GTask *task, gint64 conversation_id)
{
  NatterPgRead *read = pg_read_new (
    task,
    "SELECT r.profile_id, r.profile_type, u.display_name, p.avatar IS NOT NULL"
    " FROM participants r"
    " LEFT JOIN profiles p ON p.profile_id = r.profile_id AND p.profile_type = r.profile_type"
    " LEFT JOIN users u ON u.user_id = p.user_id"
    " WHERE r.conversation_id = $1::bigint ORDER BY r.added",
    parse_participants);

  g_ptr_array_add (read->params, g_strdup_printf ("%" G_GINT64_FORMAT, conversation_id));
  return read;
}

static void
parse_direct (NatterPgRead *read, PGresult *rows)
{
  g_autoptr (NatterStoreDirect) direct = g_new0 (NatterStoreDirect, 1);

  if (PQntuples (rows) != 1) {
    g_task_return_new_error (read->task, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                             "database: resolve_direct read %d rows", PQntuples (rows));
    return;
  }
  direct->blocked = natter_pg_value_bool (rows, 0, 0);
  if (!direct->blocked) {
    direct->conversation_id = natter_pg_value_int64 (rows, 0, 1);
    if (direct->conversation_id == 0) {
      if (PQgetisnull (rows, 0, 2)) {
        g_task_return_new_error (read->task, NATTER_SERVER_DB_ERROR,
                                 NATTER_SERVER_DB_ERROR_NOT_FOUND, "no such profile");
        return;
      }
      direct->to = row_profile (rows, 0, read->profile->profile_id, read->profile->profile_type, 3);
    }
  }
  g_task_return_pointer (read->task, g_steal_pointer (&direct),
                         (GDestroyNotify) natter_store_direct_free);
}

NatterPgRead *
natter_pg_read_resolve_direct (GTask *task, const NatterProfile *sender, const NatterProfile *to)
{
  NatterPgRead *read = pg_read_new (
    task,
    "SELECT EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = $1::bigint"
    "   AND b.blocker_type = $2 AND b.blocked_id = $3::bigint AND b.blocked_type = $4)"
    "   OR (b.blocker_id = $3::bigint AND b.blocker_type = $4 AND b.blocked_id = $1::bigint"
    "   AND b.blocked_type = $2)),"
    " (SELECT c.conversation_id FROM conversations c WHERE c.direct_key = $5),"
    " p.profile_id, u.display_name, p.avatar IS NOT NULL"
    " FROM (SELECT 1) AS one"
    " LEFT JOIN profiles p ON p.profile_id = $3::bigint AND p.profile_type = $4"
    " LEFT JOIN users u ON u.user_id = p.user_id",
    parse_direct);

  read->profile = natter_profile_copy (to);
  g_ptr_array_add (read->params, g_strdup_printf ("%" G_GINT64_FORMAT, sender->profile_id));
  g_ptr_array_add (read->params, g_strdup (sender->profile_type));
  g_ptr_array_add (read->params, g_strdup_printf ("%" G_GINT64_FORMAT, to->profile_id));
  g_ptr_array_add (read->params, g_strdup (to->profile_type));
  g_ptr_array_add (read->params, natter_pg_direct_key (sender, to));
  return read;
}

static void
parse_replay (NatterPgRead *read, PGresult *rows)
{
  g_autoptr (NatterStoreReplay) replay = g_new0 (NatterStoreReplay, 1);

  replay->events = g_ptr_array_new_with_free_func (g_free);
  replay->epoch = g_strdup (PQntuples (rows) > 0 ? PQgetvalue (rows, 0, 1) : "");
  if (PQntuples (rows) > 0)
    replay->last_event_id = natter_pg_value_int64 (rows, 0, 0);
  /* Newest first, one more than the limit: the oldest of them is dropped. */
  for (int row = PQntuples (rows) - 1; row >= 0; row--) {
    if (PQgetisnull (rows, row, 2))
      continue;
    if ((guint) row >= read->limit) {
      replay->truncated = TRUE;
      continue;
    }
    g_ptr_array_add (replay->events, g_strdup (PQgetvalue (rows, row, 2)));
  }
  g_task_return_pointer (read->task, g_steal_pointer (&replay),
                         (GDestroyNotify) natter_store_replay_free);
}

NatterPgRead *
natter_pg_read_replay (GTask *task,
                       const NatterProfile *profile,
                       gint64 after_event_id,
                       guint limit)
{
  /* One statement, one snapshot: the last id and the events agree. */
  NatterPgRead *read = pg_read_new (
    task,
    "SELECT l.last, m.value, e.frame FROM"
    " (SELECT coalesce ((SELECT c.last FROM event_counters c WHERE c.profile_id = $1::bigint"
    "   AND c.profile_type = $2), 0) AS last) l"
    " CROSS JOIN (SELECT value FROM server_meta WHERE key = 'epoch') m"
    " LEFT JOIN LATERAL (SELECT v.frame, v.event_id FROM events v"
    "   WHERE v.profile_id = $1::bigint AND v.profile_type = $2 AND v.event_id > $3::bigint"
    "   ORDER BY v.event_id DESC LIMIT $4::bigint) e ON true"
    " ORDER BY e.event_id DESC",
    parse_replay);

  read->limit = limit;
  g_ptr_array_add (read->params, g_strdup_printf ("%" G_GINT64_FORMAT, profile->profile_id));
  g_ptr_array_add (read->params, g_strdup (profile->profile_type));
  g_ptr_array_add (read->params, g_strdup_printf ("%" G_GINT64_FORMAT, MAX (after_event_id, 0)));
  g_ptr_array_add (read->params, g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) limit + 1));
  return read;
}
