/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-store"

/* NatterStoreQueries on PostgreSQL: each operation one statement (a
 * transaction of its own), with the SQLite backend's semantics. */

#include "config.h"

#include <libpq-fe.h>
#include <string.h>

#include "natter-server-db.h"
#include "natter-server-pg-queries-private.h"
#include "natter-server-pg-queries.h"
#include "natter-server-pg-reads.h"

#define NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

#define PROFILE_COLUMNS(alias) \
  alias ".profile_id, " alias ".profile_type, u.display_name, p.avatar IS NOT NULL"

#define MESSAGE_COLUMNS                                                                    \
  "SELECT m.message_id, m.conversation_id, m.seq, m.text, m.sent_at, m.client_msg_id,"     \
  " m.sender_id, m.sender_type, u.display_name, p.avatar IS NOT NULL"                      \
  " FROM messages m"                                                                       \
  " LEFT JOIN profiles p ON p.profile_id = m.sender_id AND p.profile_type = m.sender_type" \
  " LEFT JOIN users u ON u.user_id = p.user_id "

typedef struct {
  NatterStoreQueries parent;
  char *conninfo;
  PGconn *conn;
} PgQueries;

static char *
int_param (gint64 value)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT, value);
}

static gboolean
ensure_connection (PgQueries *self, GError **error)
{
  if (self->conn == NULL)
    self->conn = PQconnectdb (self->conninfo);
  else if (PQstatus (self->conn) != CONNECTION_OK)
    PQreset (self->conn);
  if (PQstatus (self->conn) != CONNECTION_OK) {
    g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED, "database: %s",
                 PQerrorMessage (self->conn));
    return FALSE;
  }

  return TRUE;
}

/* Runs @sql with @params (char *, NULL for SQL NULL; freed here). */
static PGresult *
run (NatterStoreQueries *queries, const char *sql, GPtrArray *params, GError **error)
{
  PgQueries *self = (PgQueries *) queries;
  g_autoptr (GPtrArray) owned = params;
  PGresult *result;
  ExecStatusType status;

  if (!ensure_connection (self, error))
    return NULL;

  result = PQexecParams (self->conn, sql, (int) params->len, NULL,
                         (const char *const *) params->pdata, NULL, NULL, 0);
  status = PQresultStatus (result);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    const char *state = result != NULL ? PQresultErrorField (result, PG_DIAG_SQLSTATE) : NULL;
    g_autoptr (GError) raw =
      g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", state != NULL ? state : "08000",
                   PQerrorMessage (self->conn));

    PQclear (result);
    if (error != NULL)
      *error = natter_server_pg_error_new (raw);
    return NULL;
  }

  return result;
}

static GPtrArray *
params_new (void)
{
  return g_ptr_array_new_with_free_func (g_free);
}

static void
add_profile_params (GPtrArray *params, const NatterProfile *profile)
{
  g_ptr_array_add (params, int_param (profile->profile_id));
  g_ptr_array_add (params, g_strdup (profile->profile_type));
}

static char *
value_dup (PGresult *rows, int row, int column)
{
  return PQgetisnull (rows, row, column) ? NULL : g_strdup (PQgetvalue (rows, row, column));
}

static char *
value_time (PGresult *rows, int row, int column)
{
  g_autoptr (GDateTime) seconds = NULL;
  g_autoptr (GDateTime) time = NULL;
  gint64 ms;

  if (PQgetisnull (rows, row, column))
    return NULL;
  ms = natter_pg_value_int64 (rows, row, column);
  seconds = g_date_time_new_from_unix_utc (ms / 1000);
  if (seconds == NULL)
    return NULL;
  time = g_date_time_add (seconds, (ms % 1000) * G_TIME_SPAN_MILLISECOND);

  return natter_format_time (time);
}

/* PROFILE_COLUMNS at @first: id, type, display name, has an avatar. */
static NatterProfile *
value_profile (PGresult *rows, int row, int first)
{
  gint64 profile_id = natter_pg_value_int64 (rows, row, first);
  const char *profile_type = PQgetvalue (rows, row, first + 1);
  g_autofree char *avatar_url = NULL;

  if (natter_pg_value_bool (rows, row, first + 3))
    avatar_url =
      g_strdup_printf ("/api/profiles/%s/%" G_GINT64_FORMAT "/avatar", profile_type, profile_id);

  return natter_profile_new (
    profile_id, profile_type,
    PQgetisnull (rows, row, first + 2) ? NULL : PQgetvalue (rows, row, first + 2), avatar_url);
}

static GPtrArray *
rows_profiles (PGresult *rows)
{
  GPtrArray *profiles = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);

  for (int row = 0; row < PQntuples (rows); row++)
    g_ptr_array_add (profiles, value_profile (rows, row, 0));

  return profiles;
}

static NatterMessage *
value_message (PGresult *rows, int row)
{
  NatterMessage *message = natter_message_new ();

  message->message_id = natter_pg_value_int64 (rows, row, 0);
  message->conversation_id = natter_pg_value_int64 (rows, row, 1);
  message->seq = natter_pg_value_int64 (rows, row, 2);
  message->text = value_dup (rows, row, 3);
  message->sent_at = value_time (rows, row, 4);
  message->client_msg_id = value_dup (rows, row, 5);
  message->sender = value_profile (rows, row, 6);

  return message;
}

/* Array literals for bigint[] and text[]: every text element quoted. */
static void
array_add (GString *array, const char *text, gboolean quote)
{
  if (array->len > 1)
    g_string_append_c (array, ',');
  if (!quote) {
    g_string_append (array, text);
    return;
  }
  g_string_append_c (array, '"');
  for (const char *c = text; *c != '\0'; c++) {
    if (*c == '"' || *c == '\\')
      g_string_append_c (array, '\\');
    g_string_append_c (array, *c);
  }
  g_string_append_c (array, '"');
}

/* Sets the attachments of @messages (NatterMessage), in one statement. */
static gboolean
fill_attachments (NatterStoreQueries *self, GPtrArray *messages, GError **error)
{
  g_autoptr (GHashTable) by_id = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_autoptr (PGresult) rows = NULL;
  GString *ids = g_string_new ("{");
  GPtrArray *params = params_new ();

  if (messages->len == 0) {
    g_string_free (ids, TRUE);
    g_ptr_array_unref (params);
    return TRUE;
  }
  for (guint i = 0; i < messages->len; i++) {
    NatterMessage *message = g_ptr_array_index (messages, i);
    g_autofree char *id = int_param (message->message_id);

    g_clear_pointer (&message->attachments, g_ptr_array_unref);
    g_hash_table_insert (by_id, &message->message_id, message);
    array_add (ids, id, FALSE);
  }
  g_string_append_c (ids, '}');
  g_ptr_array_add (params, g_string_free (ids, FALSE));

  rows = run (self,
              "SELECT message_id, attachment_id, name, content_type, size, sha256, width, height"
              " FROM attachments WHERE message_id = ANY ($1::bigint[])"
              " ORDER BY message_id, position",
              params, error);
  if (rows == NULL)
    return FALSE;
  for (int row = 0; row < PQntuples (rows); row++) {
    gint64 message_id = natter_pg_value_int64 (rows, row, 0);
    NatterMessage *message = g_hash_table_lookup (by_id, &message_id);
    NatterAttachment *attachment;

    if (message == NULL)
      continue;
    attachment = natter_attachment_new ();
    attachment->attachment_id = natter_pg_value_int64 (rows, row, 1);
    attachment->name = value_dup (rows, row, 2);
    attachment->content_type = value_dup (rows, row, 3);
    attachment->size = natter_pg_value_int64 (rows, row, 4);
    attachment->sha256 = value_dup (rows, row, 5);
    attachment->width = natter_pg_value_int64 (rows, row, 6);
    attachment->height = natter_pg_value_int64 (rows, row, 7);
    if (message->attachments == NULL)
      message->attachments =
        g_ptr_array_new_with_free_func ((GDestroyNotify) natter_attachment_free);
    g_ptr_array_add (message->attachments, attachment);
  }

  return TRUE;
}

/* For natter-server-pg-hub-queries.c. */

PGresult *
natter_pg_queries_run (NatterStoreQueries *self, const char *sql, GPtrArray *params, GError **error)
{
  return run (self, sql, params, error);
}

GPtrArray *
natter_pg_queries_params_new (void)
{
  return params_new ();
}

char *
natter_pg_queries_int_param (gint64 value)
{
  return int_param (value);
}

void
natter_pg_queries_add_profile_params (GPtrArray *params, const NatterProfile *profile)
{
  add_profile_params (params, profile);
}

char *
natter_pg_queries_value_dup (PGresult *rows, int row, int column)
{
  return value_dup (rows, row, column);
}

char *
natter_pg_queries_value_time (PGresult *rows, int row, int column)
{
  return value_time (rows, row, column);
}

NatterProfile *
natter_pg_queries_value_profile (PGresult *rows, int row, int first)
{
  return value_profile (rows, row, first);
}

GPtrArray *
natter_pg_queries_rows_profiles (PGresult *rows)
{
  return rows_profiles (rows);
}

NatterMessage *
natter_pg_queries_value_message (PGresult *rows, int row)
{
  return value_message (rows, row);
}

gboolean
natter_pg_queries_fill_attachments (NatterStoreQueries *self, GPtrArray *messages, GError **error)
{
  return fill_attachments (self, messages, error);
}

/* users and tokens */

static gboolean
pg_create_user (NatterStoreQueries *self,
                const char *email,
                const char *password_hash,
                const char *display_name,
                const char *const *profile_types,
                gint64 *out_user_id,
                GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();
  GString *types = g_string_new ("{");

  for (guint i = 0; profile_types != NULL && profile_types[i] != NULL; i++)
    array_add (types, profile_types[i], TRUE);
  g_string_append_c (types, '}');
  g_ptr_array_add (params, g_strdup (email));
  g_ptr_array_add (params, g_strdup (password_hash));
  g_ptr_array_add (params, g_strdup (display_name));
  g_ptr_array_add (params, g_string_free (types, FALSE));

  /* The profiles in the order asked for: their ids follow it. */
  rows =
    run (self,
         "WITH u AS (INSERT INTO users (email, password_hash, display_name, created_at)"
         "   VALUES ($1, $2, $3, " NOW_MS ") RETURNING user_id),"
         " p AS (INSERT INTO profiles (profile_type, user_id)"
         "   SELECT t.type, u.user_id FROM u,"
         "   (SELECT type, min (n) AS n FROM unnest ($4::text[]) WITH ORDINALITY AS a (type, n)"
         "    GROUP BY type) t ORDER BY t.n"
         "   ON CONFLICT DO NOTHING RETURNING profile_id)"
         " SELECT user_id, (SELECT count (*) FROM p) FROM u",
         params, error);
  if (rows == NULL) {
    /* Worded as SQLite's: adduser prints it. */
    if (error != NULL && *error != NULL && (*error)->domain == NATTER_SERVER_DB_ERROR &&
        (*error)->code == NATTER_SERVER_DB_ERROR_EXISTS) {
      g_clear_error (error);
      g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_EXISTS,
                           "this email already has an account");
    }
    return FALSE;
  }
  if (out_user_id != NULL)
    *out_user_id = natter_pg_value_int64 (rows, 0, 0);

  return TRUE;
}

static gboolean
pg_find_login (NatterStoreQueries *self,
               const char *email,
               gint64 *out_user_id,
               char **out_password_hash,
               GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, g_strdup (email));
  rows = run (self, "SELECT user_id, password_hash FROM users WHERE email = $1", params, error);
  if (rows == NULL)
    return FALSE;
  if (PQntuples (rows) == 0) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no such user");
    return FALSE;
  }
  if (out_user_id != NULL)
    *out_user_id = natter_pg_value_int64 (rows, 0, 0);
  if (out_password_hash != NULL)
    *out_password_hash = value_dup (rows, 0, 1);

  return TRUE;
}

static NatterUser *
pg_get_user (NatterStoreQueries *self, gint64 user_id, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  NatterUser *user;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (user_id));
  /* One row per profile, the user's columns on each; none without a
   * profile is impossible (registration makes at least one). */
  rows = run (self,
              "SELECT u.email, " PROFILE_COLUMNS (
                "p") " FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id"
                     " WHERE u.user_id = $1::bigint ORDER BY p.profile_id",
              params, error);
  if (rows == NULL)
    return NULL;
  if (PQntuples (rows) == 0) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no such user");
    return NULL;
  }

  user = natter_user_new ();
  user->user_id = user_id;
  user->email = value_dup (rows, 0, 0);
  user->display_name = value_dup (rows, 0, 3);
  for (int row = 0; row < PQntuples (rows); row++) {
    if (!PQgetisnull (rows, row, 1))
      g_ptr_array_add (user->profiles, value_profile (rows, row, 1));
  }

  return user;
}

static gboolean
pg_add_token (NatterStoreQueries *self,
              gint64 user_id,
              const char *token_hash_hex,
              gint64 expires_unix,
              gint64 *out_token_id,
              GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (user_id));
  g_ptr_array_add (params, g_strdup (token_hash_hex));
  g_ptr_array_add (params, int_param (expires_unix));
  rows = run (self,
              "INSERT INTO tokens (user_id, token_hash, created_at, expires_at)"
              " VALUES ($1::bigint, $2, extract(epoch FROM clock_timestamp())::bigint, $3::bigint)"
              " RETURNING token_id",
              params, error);
  if (rows == NULL)
    return FALSE;
  if (out_token_id != NULL)
    *out_token_id = natter_pg_value_int64 (rows, 0, 0);

  return TRUE;
}

static gboolean
pg_lookup_token (NatterStoreQueries *self,
                 const char *token_hash_hex,
                 gint64 now_unix,
                 gint64 *out_user_id,
                 gint64 *out_token_id,
                 GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, g_strdup (token_hash_hex));
  g_ptr_array_add (params, int_param (now_unix));
  rows = run (self,
              "SELECT user_id, token_id FROM tokens WHERE token_hash = $1"
              " AND revoked_at IS NULL AND expires_at > $2::bigint",
              params, error);
  if (rows == NULL)
    return FALSE;
  if (PQntuples (rows) == 0) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "unknown, expired or revoked token");
    return FALSE;
  }
  if (out_user_id != NULL)
    *out_user_id = natter_pg_value_int64 (rows, 0, 0);
  if (out_token_id != NULL)
    *out_token_id = natter_pg_value_int64 (rows, 0, 1);

  return TRUE;
}

static gboolean
pg_revoke_token (NatterStoreQueries *self, gint64 token_id, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (token_id));
  rows = run (self,
              "UPDATE tokens SET revoked_at = extract(epoch FROM clock_timestamp())::bigint"
              " WHERE token_id = $1::bigint AND revoked_at IS NULL",
              params, error);
  if (rows == NULL)
    return FALSE;
  if (g_strcmp0 (PQcmdTuples (rows), "0") == 0) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no such token");
    return FALSE;
  }

  return TRUE;
}

static gboolean
pg_revoke_user_tokens (NatterStoreQueries *self, gint64 user_id, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (user_id));
  rows = run (self,
              "UPDATE tokens SET revoked_at = extract(epoch FROM clock_timestamp())::bigint"
              " WHERE user_id = $1::bigint AND revoked_at IS NULL",
              params, error);

  return rows != NULL;
}

/* profiles */

static gint64
pg_get_profile_owner (NatterStoreQueries *self, gint64 profile_id, const char *profile_type)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (profile_id));
  g_ptr_array_add (params, g_strdup (profile_type));
  rows =
    run (self, "SELECT user_id FROM profiles WHERE profile_id = $1::bigint AND profile_type = $2",
         params, NULL);
  if (rows == NULL || PQntuples (rows) == 0)
    return 0;

  return natter_pg_value_int64 (rows, 0, 0);
}

static GPtrArray *
pg_search_profiles (NatterStoreQueries *self, const char *query, guint limit, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();
  GString *pattern = g_string_new ("%");

  /* The search text is literal: escape LIKE's wildcards. */
  for (const char *c = query != NULL ? query : ""; *c != '\0'; c++) {
    if (*c == '%' || *c == '_' || *c == '\\')
      g_string_append_c (pattern, '\\');
    g_string_append_c (pattern, *c);
  }
  g_string_append_c (pattern, '%');
  g_ptr_array_add (params, g_string_free (pattern, FALSE));
  g_ptr_array_add (params, int_param (limit));
  /* SQLite's LIKE and NOCASE ignore the case (of ASCII letters). */
  rows = run (self,
              "SELECT " PROFILE_COLUMNS (
                "p") " FROM profiles p JOIN users u ON u.user_id = p.user_id"
                     " WHERE u.display_name ILIKE $1 ESCAPE '\\'"
                     " ORDER BY lower (u.display_name), p.profile_id LIMIT $2::bigint",
              params, error);
  if (rows == NULL)
    return NULL;

  return rows_profiles (rows);
}

static gboolean
pg_set_avatar (NatterStoreQueries *self,
               gint64 profile_id,
               const char *profile_type,
               GBytes *image,
               const char *content_type,
               GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();
  gsize size;
  const guint8 *data = g_bytes_get_data (image, &size);
  GString *hex = g_string_sized_new (2 + size * 2);

  /* bytea's hex input format. */
  g_string_append (hex, "\\x");
  for (gsize i = 0; i < size; i++)
    g_string_append_printf (hex, "%02x", data[i]);
  g_ptr_array_add (params, g_string_free (hex, FALSE));
  g_ptr_array_add (params, g_strdup (content_type));
  g_ptr_array_add (params, int_param (profile_id));
  g_ptr_array_add (params, g_strdup (profile_type));
  rows = run (self,
              "UPDATE profiles SET avatar = $1::bytea, avatar_content_type = $2"
              " WHERE profile_id = $3::bigint AND profile_type = $4",
              params, error);
  if (rows == NULL)
    return FALSE;
  if (g_strcmp0 (PQcmdTuples (rows), "0") == 0) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no such profile");
    return FALSE;
  }

  return TRUE;
}

static GBytes *
pg_get_avatar (NatterStoreQueries *self,
               gint64 profile_id,
               const char *profile_type,
               char **out_content_type,
               GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();
  unsigned char *data;
  size_t size = 0;
  GBytes *image;

  g_ptr_array_add (params, int_param (profile_id));
  g_ptr_array_add (params, g_strdup (profile_type));
  rows = run (self,
              "SELECT avatar, avatar_content_type FROM profiles"
              " WHERE profile_id = $1::bigint AND profile_type = $2 AND avatar IS NOT NULL",
              params, error);
  if (rows == NULL)
    return NULL;
  if (PQntuples (rows) == 0) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no avatar");
    return NULL;
  }
  data = PQunescapeBytea ((const unsigned char *) PQgetvalue (rows, 0, 0), &size);
  if (data == NULL) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                         "database: out of memory");
    return NULL;
  }
  image = g_bytes_new (data, size);
  PQfreemem (data);
  if (out_content_type != NULL)
    *out_content_type = value_dup (rows, 0, 1);

  return image;
}

/* conversations and messages */

static gint64
pg_find_direct (NatterStoreQueries *self, const NatterProfile *a, const NatterProfile *b)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, natter_pg_direct_key (a, b));
  rows =
    run (self, "SELECT conversation_id FROM conversations WHERE direct_key = $1", params, NULL);
  if (rows == NULL || PQntuples (rows) == 0)
    return 0;

  return natter_pg_value_int64 (rows, 0, 0);
}

static GPtrArray *
pg_list_participants (NatterStoreQueries *self, gint64 conversation_id, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (conversation_id));
  rows =
    run (self,
         "SELECT " PROFILE_COLUMNS ("r") " FROM participants r"
                                         " LEFT JOIN profiles p ON p.profile_id = r.profile_id"
                                         " AND p.profile_type = r.profile_type"
                                         " LEFT JOIN users u ON u.user_id = p.user_id"
                                         " WHERE r.conversation_id = $1::bigint ORDER BY r.added",
         params, error);
  if (rows == NULL)
    return NULL;

  return rows_profiles (rows);
}

/* The conversations of @ids (in that order) as @viewer sees them. */
static GPtrArray *
read_conversations (NatterStoreQueries *self,
                    GArray *ids,
                    const NatterProfile *viewer,
                    GError **error)
{
  g_autoptr (GPtrArray) conversations =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_conversation_free);
  g_autoptr (GPtrArray) last_messages = g_ptr_array_new ();

  for (guint i = 0; i < ids->len; i++) {
    gint64 conversation_id = g_array_index (ids, gint64, i);
    g_autoptr (NatterConversation) conversation = natter_conversation_new ();
    g_autoptr (PGresult) rows = NULL;
    g_autoptr (GPtrArray) participants = NULL;
    GPtrArray *params = params_new ();

    /* The conversation, its unread count for the viewer and its last
     * message, in one snapshot. */
    g_ptr_array_add (params, int_param (conversation_id));
    add_profile_params (params, viewer);
    rows = run (self,
                "SELECT c.updated_at, (SELECT count (*) FROM messages m, participants r"
                "   WHERE r.conversation_id = c.conversation_id AND r.profile_id = $2::bigint"
                "   AND r.profile_type = $3 AND m.conversation_id = r.conversation_id"
                "   AND m.seq > r.last_read_seq"
                "   AND NOT (m.sender_id = r.profile_id AND m.sender_type = r.profile_type)),"
                " l.* FROM conversations c LEFT JOIN LATERAL (" MESSAGE_COLUMNS
                "   WHERE m.conversation_id = c.conversation_id ORDER BY m.seq DESC LIMIT 1) l"
                "   ON true"
                " WHERE c.conversation_id = $1::bigint",
                params, error);
    if (rows == NULL)
      return NULL;
    if (PQntuples (rows) == 0) {
      g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                           "no such conversation");
      return NULL;
    }
    conversation->conversation_id = conversation_id;
    conversation->updated_at = value_time (rows, 0, 0);
    conversation->unread_count = natter_pg_value_int64 (rows, 0, 1);
    if (!PQgetisnull (rows, 0, 2)) {
      /* MESSAGE_COLUMNS from column 2: read them as from a row of their own. */
      NatterMessage *message = natter_message_new ();

      message->message_id = natter_pg_value_int64 (rows, 0, 2);
      message->conversation_id = natter_pg_value_int64 (rows, 0, 3);
      message->seq = natter_pg_value_int64 (rows, 0, 4);
      message->text = value_dup (rows, 0, 5);
      message->sent_at = value_time (rows, 0, 6);
      message->client_msg_id = value_dup (rows, 0, 7);
      message->sender = value_profile (rows, 0, 8);
      conversation->last_message = message;
      g_ptr_array_add (last_messages, message);
    }

    participants = pg_list_participants (self, conversation_id, error);
    if (participants == NULL)
      return NULL;
    for (guint j = 0; j < participants->len; j++)
      g_ptr_array_add (conversation->participants,
                       natter_profile_copy (g_ptr_array_index (participants, j)));
    g_ptr_array_add (conversations, g_steal_pointer (&conversation));
  }

  if (!fill_attachments (self, last_messages, error))
    return NULL;

  return g_steal_pointer (&conversations);
}

static NatterConversation *
pg_get_or_create_direct (NatterStoreQueries *self,
                         const NatterProfile *viewer,
                         const NatterProfile *other,
                         GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GPtrArray) conversations = NULL;
  GPtrArray *params = params_new ();
  gint64 conversation_id;

  if (natter_profile_equal (viewer, other)) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                         "a conversation needs two different profiles");
    return NULL;
  }

  /* Made at once or found: a chat message that makes it at the same time
   * (natter_store_message) meets the unique direct_key, and so does this. */
  add_profile_params (params, viewer);
  add_profile_params (params, other);
  g_ptr_array_add (params, natter_pg_direct_key (viewer, other));
  rows = run (self,
              "WITH found AS (SELECT conversation_id FROM conversations WHERE direct_key = $5),"
              " ok AS (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM found)"
              "   AND EXISTS (SELECT 1 FROM profiles WHERE profile_id = $1::bigint"
              "     AND profile_type = $2)"
              "   AND EXISTS (SELECT 1 FROM profiles WHERE profile_id = $3::bigint"
              "     AND profile_type = $4)),"
              " made AS (INSERT INTO conversations (direct_key, created_at, updated_at)"
              "   SELECT $5, " NOW_MS ", " NOW_MS " FROM ok"
              "   ON CONFLICT (direct_key) DO NOTHING RETURNING conversation_id),"
              " joined AS (INSERT INTO participants (conversation_id, profile_id, profile_type)"
              "   SELECT made.conversation_id, v.id, v.type FROM made,"
              "   (VALUES (1, $1::bigint, $2), (2, $3::bigint, $4)) AS v (n, id, type)"
              "   ORDER BY v.n RETURNING 1)"
              " SELECT conversation_id FROM found UNION ALL"
              " SELECT conversation_id FROM made WHERE (SELECT count (*) FROM joined) = 2",
              params, error);
  if (rows == NULL)
    return NULL;
  if (PQntuples (rows) == 0) {
    /* Either a profile is missing, or another node made it meanwhile. */
    conversation_id = pg_find_direct (self, viewer, other);
    if (conversation_id == 0) {
      g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                           "no such profile");
      return NULL;
    }
  } else {
    conversation_id = natter_pg_value_int64 (rows, 0, 0);
  }

  g_array_append_val (ids, conversation_id);
  conversations = read_conversations (self, ids, viewer, error);
  if (conversations == NULL)
    return NULL;

  return g_ptr_array_steal_index (conversations, 0);
}

static gboolean
pg_is_participant (NatterStoreQueries *self, gint64 conversation_id, const NatterProfile *profile)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (conversation_id));
  add_profile_params (params, profile);
  rows = run (self,
              "SELECT 1 FROM participants WHERE conversation_id = $1::bigint"
              " AND profile_id = $2::bigint AND profile_type = $3",
              params, NULL);

  return rows != NULL && PQntuples (rows) > 0;
}

static GPtrArray *
pg_list_conversations (NatterStoreQueries *self, const NatterProfile *viewer, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  GPtrArray *params = params_new ();

  add_profile_params (params, viewer);
  rows = run (self,
              "SELECT c.conversation_id FROM conversations c JOIN participants r"
              " ON r.conversation_id = c.conversation_id"
              " WHERE r.profile_id = $1::bigint AND r.profile_type = $2"
              " ORDER BY c.updated_at DESC, c.conversation_id DESC",
              params, error);
  if (rows == NULL)
    return NULL;
  for (int row = 0; row < PQntuples (rows); row++) {
    gint64 id = natter_pg_value_int64 (rows, row, 0);

    g_array_append_val (ids, id);
  }

  return read_conversations (self, ids, viewer, error);
}

static GPtrArray *
pg_list_messages (NatterStoreQueries *self,
                  gint64 conversation_id,
                  gint64 before_seq,
                  guint limit,
                  gboolean *out_has_more,
                  GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  g_autoptr (GPtrArray) messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  GPtrArray *params = params_new ();
  int n;

  g_ptr_array_add (params, int_param (conversation_id));
  g_ptr_array_add (params, int_param (before_seq > 0 ? before_seq : G_MAXINT64));
  /* One more than asked tells whether older messages remain. */
  g_ptr_array_add (params, int_param ((gint64) limit + 1));
  rows = run (self,
              MESSAGE_COLUMNS "WHERE m.conversation_id = $1::bigint AND m.seq < $2::bigint"
                              " ORDER BY m.seq DESC LIMIT $3::bigint",
              params, error);
  if (rows == NULL)
    return NULL;

  n = MIN (PQntuples (rows), (int) limit);
  if (out_has_more != NULL)
    *out_has_more = PQntuples (rows) > (int) limit;
  /* Oldest first. */
  for (int row = n - 1; row >= 0; row--)
    g_ptr_array_add (messages, value_message (rows, row));
  if (!fill_attachments (self, messages, error))
    return NULL;

  return g_steal_pointer (&messages);
}

static GPtrArray *
pg_list_calls (NatterStoreQueries *self, const NatterProfile *profile, guint limit, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *calls = NULL;
  GPtrArray *params = params_new ();

  add_profile_params (params, profile);
  g_ptr_array_add (params, int_param (limit));
  rows = run (self,
              "SELECT c.call_log_id, c.conversation_id, c.call_type, c.status, c.started_at,"
              " c.answered_at, c.ended_at, c.duration_s,"
              " c.caller_id, c.caller_type, uc.display_name, pc.avatar IS NOT NULL,"
              " c.callee_id, c.callee_type, ue.display_name, pe.avatar IS NOT NULL"
              " FROM calls c"
              " LEFT JOIN profiles pc ON pc.profile_id = c.caller_id"
              " AND pc.profile_type = c.caller_type"
              " LEFT JOIN users uc ON uc.user_id = pc.user_id"
              " LEFT JOIN profiles pe ON pe.profile_id = c.callee_id"
              " AND pe.profile_type = c.callee_type"
              " LEFT JOIN users ue ON ue.user_id = pe.user_id"
              " WHERE (c.caller_id = $1::bigint AND c.caller_type = $2)"
              " OR (c.callee_id = $1::bigint AND c.callee_type = $2)"
              " ORDER BY c.call_log_id DESC LIMIT $3::bigint",
              params, error);
  if (rows == NULL)
    return NULL;

  calls = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_call_log_free);
  for (int row = 0; row < PQntuples (rows); row++) {
    NatterCallLog *call = natter_call_log_new ();

    call->call_log_id = natter_pg_value_int64 (rows, row, 0);
    call->conversation_id = natter_pg_value_int64 (rows, row, 1);
    call->call_type = value_dup (rows, row, 2);
    call->status = value_dup (rows, row, 3);
    call->started_at = value_time (rows, row, 4);
    call->answered_at = value_time (rows, row, 5);
    call->ended_at = value_time (rows, row, 6);
    call->duration_s = natter_pg_value_int64 (rows, row, 7);
    call->caller = value_profile (rows, row, 8);
    call->callee = value_profile (rows, row, 12);
    g_ptr_array_add (calls, call);
  }

  return calls;
}

/* blocks */

static gboolean
pg_add_block (NatterStoreQueries *self,
              const NatterProfile *blocker,
              const NatterProfile *blocked,
              GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  add_profile_params (params, blocker);
  add_profile_params (params, blocked);
  rows = run (self,
              "INSERT INTO blocks (blocker_id, blocker_type, blocked_id, blocked_type, created_at)"
              " VALUES ($1::bigint, $2, $3::bigint, $4, " NOW_MS ") ON CONFLICT DO NOTHING",
              params, error);

  return rows != NULL;
}

static gboolean
pg_remove_block (NatterStoreQueries *self,
                 const NatterProfile *blocker,
                 const NatterProfile *blocked,
                 GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  add_profile_params (params, blocker);
  add_profile_params (params, blocked);
  rows = run (self,
              "DELETE FROM blocks WHERE blocker_id = $1::bigint AND blocker_type = $2"
              " AND blocked_id = $3::bigint AND blocked_type = $4",
              params, error);

  return rows != NULL;
}

static GPtrArray *
pg_list_blocks (NatterStoreQueries *self, const NatterProfile *blocker, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  add_profile_params (params, blocker);
  rows = run (self,
              "SELECT b.blocked_id, b.blocked_type, u.display_name, p.avatar IS NOT NULL"
              " FROM blocks b"
              " LEFT JOIN profiles p ON p.profile_id = b.blocked_id"
              " AND p.profile_type = b.blocked_type"
              " LEFT JOIN users u ON u.user_id = p.user_id"
              " WHERE b.blocker_id = $1::bigint AND b.blocker_type = $2"
              " ORDER BY b.created_at DESC",
              params, error);
  if (rows == NULL)
    return NULL;

  return rows_profiles (rows);
}

static gboolean
pg_is_blocked_either (NatterStoreQueries *self, const NatterProfile *a, const NatterProfile *b)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  add_profile_params (params, a);
  add_profile_params (params, b);
  rows = run (self,
              "SELECT 1 FROM blocks WHERE (blocker_id = $1::bigint AND blocker_type = $2"
              " AND blocked_id = $3::bigint AND blocked_type = $4) OR (blocker_id = $3::bigint"
              " AND blocker_type = $4 AND blocked_id = $1::bigint AND blocked_type = $2) LIMIT 1",
              params, NULL);

  return rows != NULL && PQntuples (rows) > 0;
}

/* attachments */

static NatterAttachment *
pg_add_attachment (NatterStoreQueries *self,
                   gint64 user_id,
                   const NatterProfile *uploader,
                   gint64 conversation_id,
                   const NatterAttachment *attachment,
                   GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();
  NatterAttachment *stored;

  g_ptr_array_add (params, int_param (user_id));
  add_profile_params (params, uploader);
  g_ptr_array_add (params, int_param (conversation_id));
  g_ptr_array_add (params, g_strdup (attachment->name));
  g_ptr_array_add (params, g_strdup (attachment->content_type));
  g_ptr_array_add (params, int_param (attachment->size));
  g_ptr_array_add (params, g_strdup (attachment->sha256));
  g_ptr_array_add (params, attachment->width > 0 ? int_param (attachment->width) : NULL);
  g_ptr_array_add (params, attachment->height > 0 ? int_param (attachment->height) : NULL);
  rows = run (self,
              "INSERT INTO attachments (user_id, uploader_id, uploader_type, conversation_id,"
              " name, content_type, size, sha256, width, height, created_at)"
              " VALUES ($1::bigint, $2::bigint, $3, $4::bigint, $5, $6, $7::bigint, $8,"
              " $9::bigint, $10::bigint, " NOW_MS ") RETURNING attachment_id",
              params, error);
  if (rows == NULL)
    return NULL;

  stored = natter_attachment_copy (attachment);
  stored->attachment_id = natter_pg_value_int64 (rows, 0, 0);
  return stored;
}

static gint64
pg_get_attachment_usage (NatterStoreQueries *self, gint64 user_id)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();

  g_ptr_array_add (params, int_param (user_id));
  rows = run (self, "SELECT coalesce (sum (size), 0) FROM attachments WHERE user_id = $1::bigint",
              params, NULL);
  /* A failed read counts as full: no upload past a quota we cannot see. */
  if (rows == NULL || PQntuples (rows) == 0)
    return G_MAXINT64;

  return natter_pg_value_int64 (rows, 0, 0);
}

static NatterAttachmentAccess
pg_get_attachment_for_user (NatterStoreQueries *self,
                            gint64 attachment_id,
                            gint64 user_id,
                            NatterAttachment **out_attachment,
                            GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();
  NatterAttachment *attachment;
  gint64 owner;

  g_ptr_array_add (params, int_param (attachment_id));
  g_ptr_array_add (params, int_param (user_id));
  rows = run (self,
              "SELECT a.attachment_id, a.name, a.content_type, a.size, a.sha256, a.width,"
              " a.height, a.message_id IS NOT NULL, a.user_id,"
              " EXISTS (SELECT 1 FROM participants p JOIN profiles r"
              "   ON r.profile_id = p.profile_id AND r.profile_type = p.profile_type"
              "   WHERE p.conversation_id = a.conversation_id AND r.user_id = $2::bigint)"
              " FROM attachments a WHERE a.attachment_id = $1::bigint",
              params, error);
  if (rows == NULL || PQntuples (rows) == 0)
    return NATTER_ATTACHMENT_ACCESS_NONE;

  owner = natter_pg_value_int64 (rows, 0, 8);
  /* Unsent: only its uploader sees it; to anyone else it does not exist. */
  if (!natter_pg_value_bool (rows, 0, 7) && owner != user_id)
    return NATTER_ATTACHMENT_ACCESS_NONE;
  if (owner != user_id && !natter_pg_value_bool (rows, 0, 9))
    return NATTER_ATTACHMENT_ACCESS_FORBIDDEN;

  attachment = natter_attachment_new ();
  attachment->attachment_id = natter_pg_value_int64 (rows, 0, 0);
  attachment->name = value_dup (rows, 0, 1);
  attachment->content_type = value_dup (rows, 0, 2);
  attachment->size = natter_pg_value_int64 (rows, 0, 3);
  attachment->sha256 = value_dup (rows, 0, 4);
  attachment->width = natter_pg_value_int64 (rows, 0, 5);
  attachment->height = natter_pg_value_int64 (rows, 0, 6);
  *out_attachment = attachment;
  return NATTER_ATTACHMENT_ACCESS_ALLOWED;
}

static GPtrArray *
pg_expire_attachments (NatterStoreQueries *self, gint64 before_ms, GError **error)
{
  g_autoptr (PGresult) rows = NULL;
  GPtrArray *params = params_new ();
  GPtrArray *unused;

  g_ptr_array_add (params, int_param (before_ms));
  /* The statement sees the rows as before its DELETE: the deleted ones are
   * left out by id. */
  rows = run (self,
              "WITH gone AS (DELETE FROM attachments WHERE message_id IS NULL"
              "   AND created_at < $1::bigint RETURNING attachment_id, sha256)"
              " SELECT DISTINCT g.sha256 FROM gone g WHERE NOT EXISTS (SELECT 1 FROM attachments a"
              "   WHERE a.sha256 = g.sha256"
              "   AND a.attachment_id NOT IN (SELECT attachment_id FROM gone))",
              params, error);
  if (rows == NULL)
    return NULL;

  unused = g_ptr_array_new_with_free_func (g_free);
  for (int row = 0; row < PQntuples (rows); row++)
    g_ptr_array_add (unused, value_dup (rows, row, 0));
  return unused;
}

static void
pg_free (NatterStoreQueries *queries)
{
  PgQueries *self = (PgQueries *) queries;

  g_clear_pointer (&self->conn, PQfinish);
  g_free (self->conninfo);
  g_free (self);
}

static const NatterStoreQueriesClass pg_class = {
  .create_user = pg_create_user,
  .find_login = pg_find_login,
  .get_user = pg_get_user,
  .add_token = pg_add_token,
  .lookup_token = pg_lookup_token,
  .revoke_token = pg_revoke_token,
  .revoke_user_tokens = pg_revoke_user_tokens,
  .get_profile_owner = pg_get_profile_owner,
  .search_profiles = pg_search_profiles,
  .set_avatar = pg_set_avatar,
  .get_avatar = pg_get_avatar,
  .find_direct = pg_find_direct,
  .get_or_create_direct = pg_get_or_create_direct,
  .is_participant = pg_is_participant,
  .list_participants = pg_list_participants,
  .list_conversations = pg_list_conversations,
  .list_messages = pg_list_messages,
  .list_calls = pg_list_calls,
  .add_block = pg_add_block,
  .remove_block = pg_remove_block,
  .list_blocks = pg_list_blocks,
  .is_blocked_either = pg_is_blocked_either,
  .add_attachment = pg_add_attachment,
  .get_attachment_usage = pg_get_attachment_usage,
  .get_attachment_for_user = pg_get_attachment_for_user,
  .expire_attachments = pg_expire_attachments,
  .get_profile = natter_pg_get_profile,
  .list_contacts = natter_pg_list_contacts,
  .took_part = natter_pg_took_part,
  .get_read_seq = natter_pg_get_read_seq,
  .find_message_by_client_id = natter_pg_find_message_by_client_id,
  .check_attachments = natter_pg_check_attachments,
  .get_call = natter_pg_get_call,
  .create_call = natter_pg_create_call,
  .set_call_status = natter_pg_set_call_status,
  .end_call = natter_pg_end_call,
  .fail_stale_calls = natter_pg_fail_stale_calls,
  .prune_tokens = natter_pg_prune_tokens,
  .is_empty = natter_pg_is_empty,
  .add_message = natter_pg_add_message,
  .free = pg_free,
};

/**
 * natter_server_pg_queries_new:
 * @conninfo: libpq's connection string or a `postgresql://` URI
 *
 * Returns: (transfer full): queries that connect on first use
 */
NatterStoreQueries *
natter_server_pg_queries_new (const char *conninfo)
{
  PgQueries *self = g_new0 (PgQueries, 1);

  self->parent.klass = &pg_class;
  self->conninfo = g_strdup (conninfo);

  return &self->parent;
}

/**
 * natter_server_pg_queries_check:
 * @self: queries from natter_server_pg_queries_new ()
 * @error: why PostgreSQL cannot be reached
 *
 * Returns: whether the connection is up
 */
gboolean
natter_server_pg_queries_check (NatterStoreQueries *self, GError **error)
{
  return ensure_connection ((PgQueries *) self, error);
}
