/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-store"

#include "config.h"

#include "natter-store-private.h"

/* The parts of the local store that only the chat pane needs: the draft of
 * each conversation, and a full-text index (SQLite FTS5) over the messages
 * already stored, kept up to date by triggers. */

#define STORE_CHAT_ERROR (g_quark_from_static_string ("natter-store-error"))

static const char chat_schema_sql[] =
  "CREATE TABLE IF NOT EXISTS drafts ("
  "  conversation_id INTEGER PRIMARY KEY,"
  "  text TEXT NOT NULL);"
  /* Words, case and accents folded, so "fraction" finds "Fractions". */
  "CREATE VIRTUAL TABLE IF NOT EXISTS message_search USING fts5 ("
  "  text, conversation_id UNINDEXED, seq UNINDEXED,"
  "  tokenize = 'unicode61 remove_diacritics 2');"
  "CREATE TRIGGER IF NOT EXISTS message_search_insert AFTER INSERT ON messages BEGIN"
  "  INSERT INTO message_search (text, conversation_id, seq)"
  "    VALUES (new.text, new.conversation_id, new.seq);"
  "END;"
  "CREATE TRIGGER IF NOT EXISTS message_search_delete AFTER DELETE ON messages BEGIN"
  "  DELETE FROM message_search WHERE conversation_id = old.conversation_id AND seq = old.seq;"
  "END;"
  /* The server's call log, as far as it was fetched or came as events. */
  "CREATE TABLE IF NOT EXISTS call_log ("
  "  call_log_id INTEGER PRIMARY KEY,"
  "  conversation_id INTEGER NOT NULL DEFAULT 0,"
  "  caller_id INTEGER NOT NULL,"
  "  caller_type TEXT NOT NULL,"
  "  callee_id INTEGER NOT NULL,"
  "  callee_type TEXT NOT NULL,"
  "  call_type TEXT NOT NULL,"
  "  status TEXT NOT NULL,"
  "  started_at TEXT NOT NULL,"
  "  answered_at TEXT,"
  "  ended_at TEXT,"
  "  duration_s INTEGER NOT NULL DEFAULT 0);"
  "CREATE INDEX IF NOT EXISTS call_log_by_conversation ON call_log (conversation_id, started_at);";

static gboolean
fail (NatterStore *self, GError **error)
{
  sqlite3 *db = natter_store_get_db (self);

  g_set_error (error, STORE_CHAT_ERROR, sqlite3_errcode (db), "Local store: %s",
               sqlite3_errmsg (db));
  return FALSE;
}

static sqlite3_stmt *
prepare (NatterStore *self, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (natter_store_get_db (self), sql, -1, &stmt, NULL) != SQLITE_OK) {
    fail (self, error);
    return NULL;
  }

  return stmt;
}

static gboolean
exec (NatterStore *self, const char *sql, GError **error)
{
  char *message = NULL;

  if (sqlite3_exec (natter_store_get_db (self), sql, NULL, NULL, &message) != SQLITE_OK) {
    g_set_error (error, STORE_CHAT_ERROR, sqlite3_errcode (natter_store_get_db (self)),
                 "Local store: %s", message);
    sqlite3_free (message);
    return FALSE;
  }

  return TRUE;
}

gboolean
natter_store_chat_init (NatterStore *self, GError **error)
{
  if (!exec (self, chat_schema_sql, error))
    return FALSE;

  /* A store from before the index: index what it holds, once. */
  return exec (self,
               "INSERT INTO message_search (text, conversation_id, seq)"
               " SELECT text, conversation_id, seq FROM messages"
               " WHERE NOT EXISTS (SELECT 1 FROM message_search LIMIT 1);",
               error);
}

/**
 * natter_store_get_draft:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Returns: (transfer full) (nullable): what the composer held when the user
 *   left the conversation, or %NULL
 */
char *
natter_store_get_draft (NatterStore *self, gint64 conversation_id)
{
  g_autoptr (GError) error = NULL;
  sqlite3_stmt *stmt;
  char *text = NULL;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  stmt = prepare (self, "SELECT text FROM drafts WHERE conversation_id = ?1", &error);
  if (stmt == NULL) {
    g_warning ("%s", error->message);
    return NULL;
  }

  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    text = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);

  return text;
}

/**
 * natter_store_set_draft:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @text: (nullable): the composer's text; %NULL or blank forgets the draft
 * @error: a #GError
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_set_draft (NatterStore *self, gint64 conversation_id, const char *text, GError **error)
{
  g_autofree char *stripped = g_strstrip (g_strdup (text ? text : ""));
  sqlite3_stmt *stmt;
  gboolean ok;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (conversation_id > 0, FALSE);

  if (*stripped == '\0')
    stmt = prepare (self, "DELETE FROM drafts WHERE conversation_id = ?1", error);
  else
    stmt = prepare (self,
                    "INSERT INTO drafts (conversation_id, text) VALUES (?1, ?2) "
                    "ON CONFLICT (conversation_id) DO UPDATE SET text = ?2",
                    error);
  if (stmt == NULL)
    return FALSE;

  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (*stripped != '\0')
    sqlite3_bind_text (stmt, 2, text, -1, SQLITE_TRANSIENT);
  ok = sqlite3_step (stmt) == SQLITE_DONE;
  sqlite3_finalize (stmt);

  return ok || fail (self, error);
}

/* The user's words as an FTS5 query: each word quoted (so nothing they
 * type is query syntax) and matched as a prefix, all words required. */
static char *
build_match_query (const char *text)
{
  g_auto (GStrv) words = NULL;
  g_autoptr (GString) query = g_string_new (NULL);

  if (text == NULL)
    return NULL;

  words = g_strsplit_set (text, " \t\n\r", -1);
  for (guint i = 0; words[i] != NULL; i++) {
    g_autofree char *escaped = NULL;
    g_auto (GStrv) quotes = NULL;

    if (*words[i] == '\0')
      continue;

    quotes = g_strsplit (words[i], "\"", -1);
    escaped = g_strjoinv ("\"\"", quotes);
    if (query->len > 0)
      g_string_append_c (query, ' ');
    g_string_append_printf (query, "\"%s\"*", escaped);
  }

  return query->len > 0 ? g_string_free (g_steal_pointer (&query), FALSE) : NULL;
}

/**
 * natter_store_search_messages:
 * @self: a #NatterStore
 * @conversation_id: the conversation to search, or 0 for all
 * @text: the words to find (each as the start of a word, in any order)
 * @limit: at most this many results
 *
 * Searches the messages stored here (the history already fetched).
 *
 * Returns: (transfer full) (element-type NatterSearchHit): the matching
 *   messages, oldest first
 */
GArray *
natter_store_search_messages (NatterStore *self,
                              gint64 conversation_id,
                              const char *text,
                              guint limit)
{
  g_autofree char *query = build_match_query (text);
  g_autoptr (GError) error = NULL;
  GArray *hits = g_array_new (FALSE, FALSE, sizeof (NatterSearchHit));
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), hits);

  if (query == NULL || limit == 0)
    return hits;

  /* The newest @limit matches, returned oldest first. */
  stmt =
    prepare (self,
             "SELECT conversation_id, seq FROM (SELECT conversation_id, seq FROM "
             "message_search WHERE message_search MATCH ?1 AND (?2 = 0 OR conversation_id "
             "= ?2) ORDER BY conversation_id, seq DESC LIMIT ?3) ORDER BY conversation_id, seq",
             &error);
  if (stmt == NULL) {
    g_warning ("%s", error->message);
    return hits;
  }

  sqlite3_bind_text (stmt, 1, query, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 2, conversation_id);
  sqlite3_bind_int64 (stmt, 3, limit);
  while (sqlite3_step (stmt) == SQLITE_ROW) {
    NatterSearchHit hit = { sqlite3_column_int64 (stmt, 0), sqlite3_column_int64 (stmt, 1) };

    g_array_append_val (hits, hit);
  }
  sqlite3_finalize (stmt);

  return hits;
}

/**
 * natter_store_conversation_has_match:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @text: the words to find
 *
 * Returns: whether a stored message of the conversation has all the words
 */
gboolean
natter_store_conversation_has_match (NatterStore *self, gint64 conversation_id, const char *text)
{
  g_autoptr (GArray) hits = NULL;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  if (conversation_id <= 0)
    return FALSE;

  hits = natter_store_search_messages (self, conversation_id, text, 1);
  return hits->len > 0;
}

static void
bind_text_or_null (sqlite3_stmt *stmt, int index, const char *text)
{
  if (text != NULL)
    sqlite3_bind_text (stmt, index, text, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null (stmt, index);
}

/* The conversation a call belongs to: the one it names, or else the
 * direct conversation with the other party. */
static gint64
call_conversation (NatterStore *self, const NatterCallLog *call)
{
  const NatterProfile *own = natter_store_get_own_profile (self);
  const NatterProfile *peer;

  if (call->conversation_id > 0)
    return call->conversation_id;

  peer = natter_profile_equal (call->caller, own) ? call->callee : call->caller;
  return natter_store_find_direct_conversation (self, peer);
}

/**
 * natter_store_chat_put_call: (skip)
 *
 * Stores or updates one call of the log, inside the caller's transaction.
 *
 * Returns: the conversation it belongs to (0: none known), or -1 on error
 */
gint64
natter_store_chat_put_call (NatterStore *self, const NatterCallLog *call, GError **error)
{
  sqlite3_stmt *stmt;
  gint64 conversation_id;
  gboolean ok;

  if (call == NULL || call->call_log_id <= 0 || call->caller == NULL || call->callee == NULL ||
      call->started_at == NULL)
    return 0;

  conversation_id = call_conversation (self, call);
  /* A missed_call event says "missed" even when the log row said more
   * (several attempts folded into one); the log's later word wins. */
  stmt = prepare (self,
                  "INSERT INTO call_log (call_log_id, conversation_id, caller_id, caller_type, "
                  "callee_id, callee_type, call_type, status, started_at, answered_at, ended_at, "
                  "duration_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
                  "ON CONFLICT (call_log_id) DO UPDATE SET conversation_id = max "
                  "(conversation_id, ?2), status = ?8, answered_at = coalesce (?10, answered_at), "
                  "ended_at = coalesce (?11, ended_at), duration_s = max (duration_s, ?12)",
                  error);
  if (stmt == NULL)
    return -1;

  sqlite3_bind_int64 (stmt, 1, call->call_log_id);
  sqlite3_bind_int64 (stmt, 2, conversation_id);
  sqlite3_bind_int64 (stmt, 3, call->caller->profile_id);
  bind_text_or_null (stmt, 4, call->caller->profile_type);
  sqlite3_bind_int64 (stmt, 5, call->callee->profile_id);
  bind_text_or_null (stmt, 6, call->callee->profile_type);
  bind_text_or_null (stmt, 7, call->call_type != NULL ? call->call_type : "voice");
  bind_text_or_null (stmt, 8, call->status != NULL ? call->status : "missed");
  bind_text_or_null (stmt, 9, call->started_at);
  bind_text_or_null (stmt, 10, call->answered_at);
  bind_text_or_null (stmt, 11, call->ended_at);
  sqlite3_bind_int64 (stmt, 12, MAX (call->duration_s, 0));
  ok = sqlite3_step (stmt) == SQLITE_DONE;
  sqlite3_finalize (stmt);

  if (!ok) {
    fail (self, error);
    return -1;
  }

  return conversation_id;
}

/**
 * natter_store_add_calls:
 * @self: a #NatterStore
 * @calls: (element-type NatterCallLog): calls from the server's log
 * @error: a #GError
 *
 * Stores the calls (new ones added, known ones updated) and emits
 * #NatterStore::calls-changed for each conversation they belong to.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_add_calls (NatterStore *self, GPtrArray *calls, GError **error)
{
  g_autoptr (GArray) changed = g_array_new (FALSE, FALSE, sizeof (gint64));

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (calls != NULL, FALSE);

  if (!exec (self, "BEGIN IMMEDIATE", error))
    return FALSE;

  for (guint i = 0; i < calls->len; i++) {
    gint64 conversation_id = natter_store_chat_put_call (self, g_ptr_array_index (calls, i), error);
    gboolean seen = FALSE;

    if (conversation_id < 0) {
      exec (self, "ROLLBACK", NULL);
      return FALSE;
    }

    for (guint j = 0; j < changed->len; j++)
      seen = seen || g_array_index (changed, gint64, j) == conversation_id;
    if (conversation_id > 0 && !seen)
      g_array_append_val (changed, conversation_id);
  }

  if (!exec (self, "COMMIT", error)) {
    exec (self, "ROLLBACK", NULL);
    return FALSE;
  }

  for (guint j = 0; j < changed->len; j++)
    g_signal_emit_by_name (self, "calls-changed", g_array_index (changed, gint64, j));

  return TRUE;
}

/**
 * natter_store_load_calls:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Returns: (transfer full) (element-type NatterCallLog): its calls, oldest
 *   first
 */
GPtrArray *
natter_store_load_calls (NatterStore *self, gint64 conversation_id)
{
  g_autoptr (GError) error = NULL;
  GPtrArray *calls = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_call_log_free);
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), calls);

  stmt = prepare (self,
                  "SELECT call_log_id, caller_id, caller_type, callee_id, callee_type, call_type, "
                  "status, started_at, answered_at, ended_at, duration_s FROM call_log "
                  "WHERE conversation_id = ?1 ORDER BY started_at, call_log_id",
                  &error);
  if (stmt == NULL) {
    g_warning ("%s", error->message);
    return calls;
  }

  sqlite3_bind_int64 (stmt, 1, conversation_id);
  while (sqlite3_step (stmt) == SQLITE_ROW) {
    NatterCallLog *call = natter_call_log_new ();

    call->call_log_id = sqlite3_column_int64 (stmt, 0);
    call->conversation_id = conversation_id;
    call->caller = natter_profile_new (sqlite3_column_int64 (stmt, 1),
                                       (const char *) sqlite3_column_text (stmt, 2), NULL, NULL);
    call->callee = natter_profile_new (sqlite3_column_int64 (stmt, 3),
                                       (const char *) sqlite3_column_text (stmt, 4), NULL, NULL);
    call->call_type = g_strdup ((const char *) sqlite3_column_text (stmt, 5));
    call->status = g_strdup ((const char *) sqlite3_column_text (stmt, 6));
    call->started_at = g_strdup ((const char *) sqlite3_column_text (stmt, 7));
    call->answered_at = g_strdup ((const char *) sqlite3_column_text (stmt, 8));
    call->ended_at = g_strdup ((const char *) sqlite3_column_text (stmt, 9));
    call->duration_s = sqlite3_column_int64 (stmt, 10);
    g_ptr_array_add (calls, call);
  }
  sqlite3_finalize (stmt);

  return calls;
}

/**
 * natter_store_count_messages_before:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @time: an RFC 3339 time
 *
 * Returns: how many stored messages of the conversation were sent before
 *   @time (where a call of that time goes among them)
 */
guint
natter_store_count_messages_before (NatterStore *self, gint64 conversation_id, const char *time)
{
  g_autoptr (GError) error = NULL;
  sqlite3_stmt *stmt;
  guint count = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  stmt = prepare (
    self, "SELECT count (*) FROM messages WHERE conversation_id = ?1 AND sent_at < ?2", &error);
  if (stmt == NULL) {
    g_warning ("%s", error->message);
    return 0;
  }

  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_text (stmt, 2, time != NULL ? time : "", -1, SQLITE_TRANSIENT);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    count = (guint) sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);

  return count;
}
