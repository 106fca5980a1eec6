/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-store"

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "natter-store-private.h"

#define STORE_ERROR (g_quark_from_static_string ("natter-store-error"))

enum { PROP_0, PROP_PATH, N_PROPS };

static GParamSpec *properties[N_PROPS];

enum {
  MESSAGE_ADDED,
  OUTBOX_CHANGED,
  CONVERSATION_CHANGED,
  CONVERSATIONS_RESET,
  CALLS_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* What changed inside a transaction; signalled only after the commit, so
 * listeners never see state that could still roll back. */
typedef struct {
  guint signal_id;
  gint64 conversation_id;
  gint64 seq;
} PendingNotify;

struct _NatterStore {
  GObject parent_instance;

  char *path;
  NatterProfile *own_profile;
  sqlite3 *db;
  GHashTable *statements; /* SQL text (static) -> sqlite3_stmt */
  GArray *pending_notifies;
  gint64 last_event_id;
  gboolean syncing;
  /* Event ids applied since the sync began: last_event_id cannot move
   * while live events overtake the replay, and an event that happens
   * during the sync comes both live and replayed. */
  GHashTable *synced_event_ids;
  /* The position was forgotten (a new server epoch): conversations must be
   * fetched again. */
  gboolean position_reset;
};

G_DEFINE_FINAL_TYPE (NatterStore, natter_store, G_TYPE_OBJECT)

static const char schema_sql[] =
  "PRAGMA journal_mode=WAL;"
  "PRAGMA synchronous=NORMAL;"
  "CREATE TABLE IF NOT EXISTS meta ("
  "  key TEXT PRIMARY KEY,"
  "  value INTEGER NOT NULL);"
  "CREATE TABLE IF NOT EXISTS conversations ("
  "  conversation_id INTEGER PRIMARY KEY,"
  "  updated_at TEXT NOT NULL DEFAULT '',"
  "  unread_count INTEGER NOT NULL DEFAULT 0,"
  "  has_older INTEGER NOT NULL DEFAULT 1,"
  "  message_count INTEGER NOT NULL DEFAULT 0,"
  "  last_seq INTEGER NOT NULL DEFAULT 0,"
  "  last_text TEXT,"
  "  last_sender_id INTEGER,"
  "  last_sender_type TEXT,"
  "  last_sent_at TEXT);"
  "CREATE TABLE IF NOT EXISTS participants ("
  "  conversation_id INTEGER NOT NULL,"
  "  profile_id INTEGER NOT NULL,"
  "  profile_type TEXT NOT NULL,"
  "  display_name TEXT,"
  "  avatar_url TEXT,"
  "  read_seq INTEGER NOT NULL DEFAULT 0,"
  "  PRIMARY KEY (conversation_id, profile_id, profile_type)) WITHOUT ROWID;"
  "CREATE INDEX IF NOT EXISTS participants_by_profile"
  "  ON participants (profile_id, profile_type);"
  "CREATE TABLE IF NOT EXISTS messages ("
  "  conversation_id INTEGER NOT NULL,"
  "  seq INTEGER NOT NULL,"
  "  message_id INTEGER NOT NULL,"
  "  sender_id INTEGER NOT NULL,"
  "  sender_type TEXT NOT NULL,"
  "  sender_name TEXT,"
  "  sender_avatar TEXT,"
  "  text TEXT NOT NULL,"
  "  sent_at TEXT NOT NULL,"
  "  client_msg_id TEXT,"
  "  PRIMARY KEY (conversation_id, seq)) WITHOUT ROWID;"
  /* Our own read markers the server has not confirmed yet (no own
   * read_receipt back): sent again after every hello until it does. */
  "CREATE TABLE IF NOT EXISTS pending_reads ("
  "  conversation_id INTEGER PRIMARY KEY,"
  "  up_to_seq INTEGER NOT NULL);"
  "CREATE TABLE IF NOT EXISTS missed_calls ("
  "  call_log_id INTEGER PRIMARY KEY,"
  "  conversation_id INTEGER,"
  "  caller_id INTEGER NOT NULL,"
  "  caller_type TEXT NOT NULL,"
  "  call_type TEXT NOT NULL,"
  "  started_at TEXT NOT NULL);";

static gboolean
set_sqlite_error (NatterStore *self, GError **error, const char *what)
{
  g_set_error (error, STORE_ERROR, sqlite3_errcode (self->db), "%s: %s", what,
               sqlite3_errmsg (self->db));
  return FALSE;
}

/* Statements are prepared once and kept; @sql must be a string literal. */
static sqlite3_stmt *
statement (NatterStore *self, const char *sql)
{
  sqlite3_stmt *stmt = g_hash_table_lookup (self->statements, sql);

  if (stmt == NULL) {
    int rc = sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);

    /* Our own SQL: failing to prepare it is a programming error. */
    if (rc != SQLITE_OK)
      g_error ("Cannot prepare «%s»: %s", sql, sqlite3_errmsg (self->db));

    g_hash_table_insert (self->statements, (gpointer) sql, stmt);
  }

  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);

  return stmt;
}

static void
bind_text (sqlite3_stmt *stmt, int index, const char *text)
{
  if (text != NULL)
    sqlite3_bind_text (stmt, index, text, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null (stmt, index);
}

static char *
column_text (sqlite3_stmt *stmt, int index)
{
  return g_strdup ((const char *) sqlite3_column_text (stmt, index));
}

static gboolean
step_done (NatterStore *self, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);

  sqlite3_reset (stmt);

  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return set_sqlite_error (self, error, "Local store");

  return TRUE;
}

static gboolean
exec (NatterStore *self, const char *sql, GError **error)
{
  char *message = NULL;

  if (sqlite3_exec (self->db, sql, NULL, NULL, &message) != SQLITE_OK) {
    g_set_error (error, STORE_ERROR, sqlite3_errcode (self->db), "Local store: %s", message);
    sqlite3_free (message);
    return FALSE;
  }

  return TRUE;
}

static gboolean
begin (NatterStore *self, GError **error)
{
  return exec (self, "BEGIN IMMEDIATE", error);
}

static void
queue_notify (NatterStore *self, guint signal_index, gint64 conversation_id, gint64 seq)
{
  PendingNotify notify = { signal_index, conversation_id, seq };
  guint i;

  /* One conversation-changed per conversation and transaction is enough. */
  if (signal_index != MESSAGE_ADDED) {
    for (i = 0; i < self->pending_notifies->len; i++) {
      PendingNotify *queued = &g_array_index (self->pending_notifies, PendingNotify, i);

      if (queued->signal_id == signal_index && queued->conversation_id == conversation_id)
        return;
    }
  }

  g_array_append_val (self->pending_notifies, notify);
}

static void
emit_pending (NatterStore *self)
{
  g_autoptr (GArray) notifies = self->pending_notifies;
  guint i;

  self->pending_notifies = g_array_new (FALSE, FALSE, sizeof (PendingNotify));

  for (i = 0; i < notifies->len; i++) {
    PendingNotify *notify = &g_array_index (notifies, PendingNotify, i);

    if (notify->signal_id == MESSAGE_ADDED)
      g_signal_emit (self, signals[MESSAGE_ADDED], 0, notify->conversation_id, notify->seq);
    else if (notify->signal_id == CONVERSATIONS_RESET)
      g_signal_emit (self, signals[CONVERSATIONS_RESET], 0);
    else
      g_signal_emit (self, signals[notify->signal_id], 0, notify->conversation_id);
  }
}

static gboolean
commit (NatterStore *self, GError **error)
{
  if (!exec (self, "COMMIT", error)) {
    exec (self, "ROLLBACK", NULL);
    g_array_set_size (self->pending_notifies, 0);
    return FALSE;
  }

  emit_pending (self);

  return TRUE;
}

static void
rollback (NatterStore *self)
{
  exec (self, "ROLLBACK", NULL);
  g_array_set_size (self->pending_notifies, 0);
}

static gboolean
set_meta (NatterStore *self, const char *key, gint64 value, GError **error)
{
  sqlite3_stmt *stmt = statement (self, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                                        "ON CONFLICT (key) DO UPDATE SET value = ?2");

  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, value);

  return step_done (self, stmt, error);
}

static gint64
get_meta (NatterStore *self, const char *key)
{
  sqlite3_stmt *stmt = statement (self, "SELECT value FROM meta WHERE key = ?1");
  gint64 value = 0;

  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    value = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return value;
}

static gboolean
is_own (NatterStore *self, gint64 profile_id, const char *profile_type)
{
  return profile_id == self->own_profile->profile_id &&
         g_strcmp0 (profile_type, self->own_profile->profile_type) == 0;
}

static gboolean
ensure_conversation (NatterStore *self, gint64 conversation_id, GError **error)
{
  sqlite3_stmt *stmt =
    statement (self, "INSERT OR IGNORE INTO conversations (conversation_id) VALUES (?1)");

  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (!step_done (self, stmt, error))
    return FALSE;

  if (sqlite3_changes (self->db) > 0)
    queue_notify (self, CONVERSATIONS_RESET, 0, 0);

  return TRUE;
}

/* Adds a participant, or refreshes its name and avatar when given. */
static gboolean
upsert_participant (NatterStore *self,
                    gint64 conversation_id,
                    const NatterProfile *profile,
                    GError **error)
{
  sqlite3_stmt *stmt = statement (self, "INSERT INTO participants (conversation_id, profile_id, "
                                        "profile_type, display_name, avatar_url) "
                                        "VALUES (?1, ?2, ?3, ?4, ?5) "
                                        "ON CONFLICT DO UPDATE SET "
                                        "display_name = coalesce (?4, display_name), "
                                        "avatar_url = coalesce (?5, avatar_url)");

  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2, profile->profile_id);
  bind_text (stmt, 3, profile->profile_type);
  bind_text (stmt, 4, profile->display_name);
  bind_text (stmt, 5, profile->avatar_url);

  return step_done (self, stmt, error);
}

/* Stores one message; *out_inserted says whether it was new. Unread counts
 * and the conversation's summary follow. */
static gboolean
insert_message (NatterStore *self,
                const NatterMessage *message,
                gboolean *out_inserted,
                GError **error)
{
  sqlite3_stmt *stmt;
  gboolean inserted;

  *out_inserted = FALSE;

  if (message == NULL || message->sender == NULL || message->text == NULL)
    return TRUE;

  if (!ensure_conversation (self, message->conversation_id, error))
    return FALSE;

  /* Another message at this place (even under the same id) is from a
   * server history that is gone (a restored backup): the server wins. */
  stmt = statement (self, "DELETE FROM messages WHERE conversation_id = ?1 AND seq = ?2 "
                          "AND NOT (message_id = ?3 AND text IS ?4 AND sent_at IS ?5)");
  sqlite3_bind_int64 (stmt, 1, message->conversation_id);
  sqlite3_bind_int64 (stmt, 2, message->seq);
  sqlite3_bind_int64 (stmt, 3, message->message_id);
  bind_text (stmt, 4, message->text);
  bind_text (stmt, 5, message->sent_at != NULL ? message->sent_at : "");
  if (!step_done (self, stmt, error))
    return FALSE;
  if (sqlite3_changes (self->db) > 0) {
    stmt = statement (self, "UPDATE conversations SET message_count = max (message_count - 1, 0) "
                            "WHERE conversation_id = ?1");
    sqlite3_bind_int64 (stmt, 1, message->conversation_id);
    if (!step_done (self, stmt, error))
      return FALSE;
  }

  stmt =
    statement (self, "INSERT OR IGNORE INTO messages (conversation_id, seq, message_id, sender_id, "
                     "sender_type, sender_name, sender_avatar, text, sent_at, client_msg_id) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  sqlite3_bind_int64 (stmt, 1, message->conversation_id);
  sqlite3_bind_int64 (stmt, 2, message->seq);
  sqlite3_bind_int64 (stmt, 3, message->message_id);
  sqlite3_bind_int64 (stmt, 4, message->sender->profile_id);
  bind_text (stmt, 5, message->sender->profile_type);
  bind_text (stmt, 6, message->sender->display_name);
  bind_text (stmt, 7, message->sender->avatar_url);
  bind_text (stmt, 8, message->text);
  bind_text (stmt, 9, message->sent_at != NULL ? message->sent_at : "");
  bind_text (stmt, 10, message->client_msg_id);
  if (!step_done (self, stmt, error))
    return FALSE;

  inserted = sqlite3_changes (self->db) > 0;
  if (!inserted)
    return TRUE;

  if (!natter_store_attachments_put (self, message, error))
    return FALSE;

  /* Kept with the rows, so a long conversation opens without counting. */
  stmt = statement (self, "UPDATE conversations SET message_count = message_count + 1 "
                          "WHERE conversation_id = ?1");
  sqlite3_bind_int64 (stmt, 1, message->conversation_id);
  if (!step_done (self, stmt, error))
    return FALSE;

  if (!upsert_participant (self, message->conversation_id, message->sender, error))
    return FALSE;

  /* A new message from someone else past our read marker is unread. One
   * older than the newest known (a page of history) was already in the
   * server's count, or was read here: counting it again made a badge of 4
   * into 6 when the chat was opened. */
  if (!is_own (self, message->sender->profile_id, message->sender->profile_type)) {
    stmt = statement (self, "UPDATE conversations SET unread_count = unread_count + 1 "
                            "WHERE conversation_id = ?1 AND ?2 > last_seq "
                            "AND ?2 > coalesce ((SELECT read_seq FROM "
                            "participants WHERE conversation_id = ?1 AND profile_id = ?3 AND "
                            "profile_type = ?4), 0)");
    sqlite3_bind_int64 (stmt, 1, message->conversation_id);
    sqlite3_bind_int64 (stmt, 2, message->seq);
    sqlite3_bind_int64 (stmt, 3, self->own_profile->profile_id);
    bind_text (stmt, 4, self->own_profile->profile_type);
    if (!step_done (self, stmt, error))
      return FALSE;
  }

  stmt =
    statement (self, "UPDATE conversations SET last_seq = ?2, last_text = ?3, last_sender_id = ?4, "
                     "last_sender_type = ?5, last_sent_at = ?6, "
                     "updated_at = max (updated_at, ?6) "
                     "WHERE conversation_id = ?1 AND last_seq < ?2");
  sqlite3_bind_int64 (stmt, 1, message->conversation_id);
  sqlite3_bind_int64 (stmt, 2, message->seq);
  bind_text (stmt, 3, message->text);
  sqlite3_bind_int64 (stmt, 4, message->sender->profile_id);
  bind_text (stmt, 5, message->sender->profile_type);
  bind_text (stmt, 6, message->sent_at != NULL ? message->sent_at : "");
  if (!step_done (self, stmt, error))
    return FALSE;

  queue_notify (self, MESSAGE_ADDED, message->conversation_id, message->seq);
  queue_notify (self, CONVERSATION_CHANGED, message->conversation_id, 0);
  *out_inserted = TRUE;

  return TRUE;
}

/* Unread: messages from others past our own read marker, among those stored. */
static gboolean
recount_unread (NatterStore *self, gint64 conversation_id, GError **error)
{
  sqlite3_stmt *stmt =
    statement (self, "UPDATE conversations SET unread_count = (SELECT count (*) FROM messages m "
                     "WHERE m.conversation_id = ?1 AND m.seq > ?2 AND NOT (m.sender_id = ?3 AND "
                     "m.sender_type = ?4)) WHERE conversation_id = ?1");

  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2,
                      natter_store_get_read_seq (self, conversation_id, self->own_profile));
  sqlite3_bind_int64 (stmt, 3, self->own_profile->profile_id);
  bind_text (stmt, 4, self->own_profile->profile_type);

  return step_done (self, stmt, error);
}

static gboolean
has_pending_read (NatterStore *self, gint64 conversation_id)
{
  sqlite3_stmt *stmt = statement (self, "SELECT 1 FROM pending_reads WHERE conversation_id = ?1");
  gboolean found;

  sqlite3_bind_int64 (stmt, 1, conversation_id);
  found = sqlite3_step (stmt) == SQLITE_ROW;
  sqlite3_reset (stmt);

  return found;
}

static gboolean
apply_read_receipt (NatterStore *self, const NatterFrame *frame, GError **error)
{
  sqlite3_stmt *stmt;

  if (frame->profile == NULL || frame->conversation_id <= 0)
    return TRUE;

  if (!ensure_conversation (self, frame->conversation_id, error) ||
      !upsert_participant (self, frame->conversation_id, frame->profile, error))
    return FALSE;

  /* Read markers only move forward. */
  stmt = statement (self, "UPDATE participants SET read_seq = max (read_seq, ?4) "
                          "WHERE conversation_id = ?1 AND profile_id = ?2 AND profile_type = ?3");
  sqlite3_bind_int64 (stmt, 1, frame->conversation_id);
  sqlite3_bind_int64 (stmt, 2, frame->profile->profile_id);
  bind_text (stmt, 3, frame->profile->profile_type);
  sqlite3_bind_int64 (stmt, 4, frame->up_to_seq);
  if (!step_done (self, stmt, error))
    return FALSE;

  if (is_own (self, frame->profile->profile_id, frame->profile->profile_type)) {
    if (!recount_unread (self, frame->conversation_id, error))
      return FALSE;

    /* The server has our marker that far: nothing left to send. */
    stmt = statement (self, "DELETE FROM pending_reads WHERE conversation_id = ?1 AND "
                            "up_to_seq <= ?2");
    sqlite3_bind_int64 (stmt, 1, frame->conversation_id);
    sqlite3_bind_int64 (stmt, 2, frame->up_to_seq);
    if (!step_done (self, stmt, error))
      return FALSE;
  }

  queue_notify (self, CONVERSATION_CHANGED, frame->conversation_id, 0);

  return TRUE;
}

static gboolean
apply_missed_call (NatterStore *self, const NatterFrame *frame, GError **error)
{
  sqlite3_stmt *stmt;

  if (frame->call == NULL || frame->call->caller == NULL)
    return TRUE;

  stmt =
    statement (self, "INSERT OR IGNORE INTO missed_calls (call_log_id, conversation_id, caller_id, "
                     "caller_type, call_type, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  sqlite3_bind_int64 (stmt, 1, frame->call->call_log_id);
  sqlite3_bind_int64 (stmt, 2, frame->call->conversation_id);
  sqlite3_bind_int64 (stmt, 3, frame->call->caller->profile_id);
  bind_text (stmt, 4, frame->call->caller->profile_type);
  bind_text (stmt, 5, frame->call->call_type != NULL ? frame->call->call_type : "voice");
  bind_text (stmt, 6, frame->call->started_at != NULL ? frame->call->started_at : "");
  if (!step_done (self, stmt, error))
    return FALSE;

  /* It is also a row in its conversation. */
  {
    gint64 conversation_id = natter_store_chat_put_call (self, frame->call, error);

    if (conversation_id < 0)
      return FALSE;
    if (conversation_id > 0)
      queue_notify (self, CALLS_CHANGED, conversation_id, 0);
  }

  return TRUE;
}

static void
natter_store_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterStore *self = NATTER_STORE (object);

  switch (prop_id) {
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_store_finalize (GObject *object)
{
  NatterStore *self = NATTER_STORE (object);

  g_clear_pointer (&self->statements, g_hash_table_unref);
  g_clear_pointer (&self->db, sqlite3_close);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->own_profile, natter_profile_free);
  g_clear_pointer (&self->pending_notifies, g_array_unref);
  g_clear_pointer (&self->synced_event_ids, g_hash_table_unref);

  G_OBJECT_CLASS (natter_store_parent_class)->finalize (object);
}

static void
natter_store_class_init (NatterStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_store_get_property;
  object_class->finalize = natter_store_finalize;

  /**
   * NatterStore:path:
   *
   * The database file.
   */
  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterStore::message-added:
   * @self: the store
   * @conversation_id: the conversation
   * @seq: the new message's place in it
   *
   * A message was stored for the first time.
   */
  signals[MESSAGE_ADDED] =
    g_signal_new ("message-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 2, G_TYPE_INT64, G_TYPE_INT64);

  /**
   * NatterStore::outbox-changed:
   * @self: the store
   * @conversation_id: the conversation, 0 if not known yet
   *
   * An outbox entry was added, acknowledged, failed or retried.
   */
  signals[OUTBOX_CHANGED] =
    g_signal_new ("outbox-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_INT64);

  /**
   * NatterStore::conversation-changed:
   * @self: the store
   * @conversation_id: the conversation
   *
   * Its summary, unread count or read markers changed.
   */
  signals[CONVERSATION_CHANGED] =
    g_signal_new ("conversation-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);

  /**
   * NatterStore::conversations-reset:
   * @self: the store
   *
   * Conversations were added or replaced.
   */
  signals[CONVERSATIONS_RESET] =
    g_signal_new ("conversations-reset", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 0);

  /**
   * NatterStore::calls-changed:
   * @conversation_id: the conversation
   *
   * Calls of the conversation were added to the log or updated.
   */
  signals[CALLS_CHANGED] =
    g_signal_new ("calls-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
}

static void
natter_store_init (NatterStore *self)
{
  self->statements = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) sqlite3_finalize);
  self->pending_notifies = g_array_new (FALSE, FALSE, sizeof (PendingNotify));
  self->synced_event_ids = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
}

/**
 * natter_store_new:
 * @path: the database file; created with its directory if missing
 * @own_profile: the profile this store belongs to
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the opened store
 */
NatterStore *
natter_store_new (const char *path, const NatterProfile *own_profile, GError **error)
{
  g_autoptr (NatterStore) self = NULL;
  g_autofree char *dir = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (own_profile != NULL, NULL);

  dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0700) != 0) {
    int saved_errno = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "Cannot create %s: %s",
                 dir, g_strerror (saved_errno));
    return NULL;
  }

  self = g_object_new (NATTER_TYPE_STORE, NULL);
  self->path = g_strdup (path);
  self->own_profile = natter_profile_copy (own_profile);

  if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
      SQLITE_OK) {
    set_sqlite_error (self, error, path);
    return NULL;
  }

  sqlite3_busy_timeout (self->db, 5000);

  if (!exec (self, schema_sql, error) || !natter_store_chat_init (self, error) ||
      !natter_store_outbox_init (self, error) || !natter_store_attachments_init (self, error))
    return NULL;

  self->last_event_id = get_meta (self, "last_event_id");

  return g_steal_pointer (&self);
}

sqlite3 *
natter_store_get_db (NatterStore *self)
{
  return self->db;
}

/* The helpers below are for the sibling files (natter-store-private.h),
 * so each concern of the store keeps one statement cache and one
 * transaction discipline. */
sqlite3_stmt *
natter_store_statement (NatterStore *self, const char *sql)
{
  return statement (self, sql);
}

void
natter_store_bind_text (sqlite3_stmt *stmt, int index, const char *text)
{
  bind_text (stmt, index, text);
}

char *
natter_store_column_text (sqlite3_stmt *stmt, int index)
{
  return column_text (stmt, index);
}

gboolean
natter_store_step_done (NatterStore *self, sqlite3_stmt *stmt, GError **error)
{
  return step_done (self, stmt, error);
}

gboolean
natter_store_begin (NatterStore *self, GError **error)
{
  return begin (self, error);
}

gboolean
natter_store_commit (NatterStore *self, GError **error)
{
  return commit (self, error);
}

void
natter_store_rollback (NatterStore *self)
{
  rollback (self);
}

gboolean
natter_store_insert_message (NatterStore *self,
                             const NatterMessage *message,
                             gboolean *out_inserted,
                             GError **error)
{
  return insert_message (self, message, out_inserted, error);
}

gboolean
natter_store_upsert_participant (NatterStore *self,
                                 gint64 conversation_id,
                                 const NatterProfile *profile,
                                 GError **error)
{
  return upsert_participant (self, conversation_id, profile, error);
}

void
natter_store_queue_outbox_changed (NatterStore *self, gint64 conversation_id)
{
  queue_notify (self, OUTBOX_CHANGED, conversation_id, 0);
}

void
natter_store_emit_outbox_changed (NatterStore *self, gint64 conversation_id)
{
  g_signal_emit (self, signals[OUTBOX_CHANGED], 0, conversation_id);
}

/**
 * natter_store_build_path:
 * @data_dir: Natter's data directory
 * @server_url: the server
 * @profile: the profile
 *
 * One database per server and profile, named so a person can tell which.
 *
 * Returns: (transfer full): the path of the database file
 */
char *
natter_store_build_path (const char *data_dir, const char *server_url, const NatterProfile *profile)
{
  g_autoptr (GString) name = g_string_new (NULL);
  const char *p;

  g_return_val_if_fail (data_dir != NULL, NULL);
  g_return_val_if_fail (server_url != NULL, NULL);
  g_return_val_if_fail (profile != NULL, NULL);

  p = strstr (server_url, "://");
  p = p != NULL ? p + 3 : server_url;

  for (; *p != '\0'; p++) {
    if (g_ascii_isalnum (*p) || *p == '.' || *p == '-')
      g_string_append_c (name, *p);
    else
      g_string_append_c (name, '_');
  }

  g_string_append_printf (name, "-%s-%" G_GINT64_FORMAT ".db", profile->profile_type,
                          profile->profile_id);

  return g_build_filename (data_dir, name->str, NULL);
}

/**
 * natter_store_get_path:
 * @self: a #NatterStore
 *
 * Returns: the database file
 */
const char *
natter_store_get_path (NatterStore *self)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  return self->path;
}

/**
 * natter_store_get_own_profile:
 * @self: a #NatterStore
 *
 * Returns: (transfer none): the profile this store belongs to
 */
const NatterProfile *
natter_store_get_own_profile (NatterStore *self)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  return self->own_profile;
}

/**
 * natter_store_get_last_event_id:
 * @self: a #NatterStore
 *
 * Returns: the highest event id processed, for `sync`
 */
gint64
natter_store_get_last_event_id (NatterStore *self)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  return self->last_event_id;
}

/**
 * natter_store_begin_sync:
 * @self: a #NatterStore
 *
 * A connection said hello and asked for a replay. Until the replay ends,
 * live events interleave with replayed older ones, so events are applied
 * (idempotently) without moving the last event id: a live event must not
 * make the older ones still to come look processed.
 */
void
natter_store_begin_sync (NatterStore *self)
{
  g_return_if_fail (NATTER_IS_STORE (self));

  self->syncing = TRUE;
  g_hash_table_remove_all (self->synced_event_ids);
}

/**
 * natter_store_end_sync:
 * @self: a #NatterStore
 * @last_event_id: the `sync_done` frame's last event id
 * @error: a #GError
 *
 * Everything up to @last_event_id has been replayed and applied.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_end_sync (NatterStore *self, gint64 last_event_id, GError **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  self->syncing = FALSE;
  g_hash_table_remove_all (self->synced_event_ids);

  if (last_event_id <= self->last_event_id)
    return TRUE;

  if (!set_meta (self, "last_event_id", last_event_id, error))
    return FALSE;

  self->last_event_id = last_event_id;

  return TRUE;
}

static char *
get_meta_text (NatterStore *self, const char *key)
{
  sqlite3_stmt *stmt = statement (self, "SELECT value FROM meta WHERE key = ?1");
  char *value = NULL;

  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_type (stmt, 0) == SQLITE_TEXT)
    value = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_reset (stmt);

  return value;
}

static gboolean
set_meta_text (NatterStore *self, const char *key, const char *value, GError **error)
{
  sqlite3_stmt *stmt = statement (self, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                                        "ON CONFLICT (key) DO UPDATE SET value = ?2");

  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, value, -1, SQLITE_TRANSIENT);

  return step_done (self, stmt, error);
}

/**
 * natter_store_check_epoch:
 * @self: a #NatterStore
 * @server_epoch: (nullable): the hello's `server_epoch`
 * @server_last_event_id: the hello's `last_event_id`
 * @error: a #GError
 *
 * A new epoch, or a server whose last event id is below ours (a restored
 * backup), means our position names events the server no longer has: the
 * position is forgotten, so the next sync starts from 0 and no new event
 * is taken for one already seen.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_check_epoch (NatterStore *self,
                          const char *server_epoch,
                          gint64 server_last_event_id,
                          GError **error)
{
  /* Stored with a prefix: the meta column's integer affinity would turn an
   * epoch made only of digits into a number. */
  g_autofree char *stored = NULL;
  g_autofree char *wanted = NULL;
  gboolean reset;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  stored = get_meta_text (self, "server_epoch");
  wanted = server_epoch != NULL ? g_strconcat ("epoch:", server_epoch, NULL) : NULL;
  reset = server_last_event_id < self->last_event_id ||
          (wanted != NULL && stored != NULL && g_strcmp0 (stored, wanted) != 0);

  if (!reset && (wanted == NULL || g_strcmp0 (stored, wanted) == 0))
    return TRUE;

  if (!begin (self, error))
    return FALSE;
  if ((wanted != NULL && !set_meta_text (self, "server_epoch", wanted, error)) ||
      (reset && !set_meta (self, "last_event_id", 0, error))) {
    rollback (self);
    return FALSE;
  }
  if (!commit (self, error))
    return FALSE;

  if (reset) {
    g_info ("The server's event history changed (epoch %s, last event %" G_GINT64_FORMAT
            " < %" G_GINT64_FORMAT "?): syncing from the start",
            server_epoch != NULL ? server_epoch : "?", server_last_event_id, self->last_event_id);
    self->last_event_id = 0;
    g_hash_table_remove_all (self->synced_event_ids);
    self->position_reset = TRUE;
  }

  return TRUE;
}

/**
 * natter_store_take_position_reset:
 * @self: a #NatterStore
 *
 * Returns: %TRUE once after natter_store_check_epoch () forgot the position
 */
gboolean
natter_store_take_position_reset (NatterStore *self)
{
  gboolean reset;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  reset = self->position_reset;
  self->position_reset = FALSE;
  return reset;
}

/**
 * natter_store_note_own_event:
 * @self: a #NatterStore
 * @event_id: the `message_ack`'s event id: our own event for the message
 * @error: a #GError
 *
 * The sending connection gets no `chat_message` copy of its own message,
 * only the ack: its event id counts as processed like any other event's.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_note_own_event (NatterStore *self, gint64 event_id, GError **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  if (event_id <= self->last_event_id)
    return TRUE;

  if (self->syncing) {
    g_hash_table_add (self->synced_event_ids, g_memdup2 (&event_id, sizeof (gint64)));
    return TRUE;
  }

  if (!set_meta (self, "last_event_id", event_id, error))
    return FALSE;
  self->last_event_id = event_id;

  return TRUE;
}

/**
 * natter_store_apply_event:
 * @self: a #NatterStore
 * @frame: a `chat_message`, `read_receipt` or `missed_call` frame from the server
 * @out_applied: (out) (optional): %FALSE if the event was already processed
 * @error: a #GError
 *
 * Applies an event and records its id in one transaction, so a crash never
 * loses it or applies it twice; a replayed event changes nothing.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_apply_event (NatterStore *self,
                          const NatterFrame *frame,
                          gboolean *out_applied,
                          GError **error)
{
  gboolean applied = FALSE;
  gboolean ok = TRUE;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (frame != NULL, FALSE);

  if (out_applied != NULL)
    *out_applied = FALSE;

  if (frame->event_id > 0 && frame->event_id <= self->last_event_id)
    return TRUE;
  if (self->syncing && frame->event_id > 0 &&
      g_hash_table_contains (self->synced_event_ids, &frame->event_id))
    return TRUE;

  if (!begin (self, error))
    return FALSE;

  switch (frame->type) {
    case NATTER_FRAME_CHAT_MESSAGE:
      ok = insert_message (self, frame->message, &applied, error);
      break;
    case NATTER_FRAME_READ_RECEIPT:
      ok = apply_read_receipt (self, frame, error);
      applied = TRUE;
      break;
    case NATTER_FRAME_MISSED_CALL:
      ok = apply_missed_call (self, frame, error);
      applied = TRUE;
      break;
    default:
      break;
  }

  if (ok && !self->syncing && frame->event_id > self->last_event_id)
    ok = set_meta (self, "last_event_id", frame->event_id, error);

  if (!ok) {
    rollback (self);
    return FALSE;
  }

  if (!commit (self, error))
    return FALSE;

  if (!self->syncing)
    self->last_event_id = MAX (self->last_event_id, frame->event_id);
  else if (frame->event_id > 0)
    g_hash_table_add (self->synced_event_ids, g_memdup2 (&frame->event_id, sizeof (gint64)));

  if (out_applied != NULL)
    *out_applied = applied;

  return TRUE;
}

/**
 * natter_store_add_messages:
 * @self: a #NatterStore
 * @messages: (element-type NatterMessage): messages from a history page
 * @error: a #GError
 *
 * Stores messages fetched over HTTP; those already stored are kept as they are.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_add_messages (NatterStore *self, GPtrArray *messages, GError **error)
{
  guint i;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (messages != NULL, FALSE);

  if (!begin (self, error))
    return FALSE;

  for (i = 0; i < messages->len; i++) {
    gboolean inserted;

    if (!insert_message (self, g_ptr_array_index (messages, i), &inserted, error)) {
      rollback (self);
      return FALSE;
    }
  }

  return commit (self, error);
}

/**
 * natter_store_set_conversations:
 * @self: a #NatterStore
 * @conversations: (element-type NatterConversation): the server's list
 * @error: a #GError
 *
 * Takes the server's view of the conversations: participants, unread
 * counts, last messages.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_set_conversations (NatterStore *self, GPtrArray *conversations, GError **error)
{
  guint i;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (conversations != NULL, FALSE);

  if (!begin (self, error))
    return FALSE;

  for (i = 0; i < conversations->len; i++) {
    NatterConversation *conversation = g_ptr_array_index (conversations, i);
    NatterMessage *last = conversation->last_message;
    sqlite3_stmt *stmt;
    guint j;

    if (!ensure_conversation (self, conversation->conversation_id, error))
      goto failed;

    for (j = 0; j < conversation->participants->len; j++) {
      if (!upsert_participant (self, conversation->conversation_id,
                               g_ptr_array_index (conversation->participants, j), error))
        goto failed;
    }

    stmt = statement (self, "UPDATE conversations SET unread_count = ?2, "
                            "updated_at = coalesce (?3, updated_at) WHERE conversation_id = ?1");
    sqlite3_bind_int64 (stmt, 1, conversation->conversation_id);
    sqlite3_bind_int64 (stmt, 2, MAX (conversation->unread_count, 0));
    bind_text (stmt, 3, conversation->updated_at);
    if (!step_done (self, stmt, error))
      goto failed;

    /* The server has not seen our newest read marker yet: its count is
     * older than ours. */
    if (has_pending_read (self, conversation->conversation_id) &&
        !recount_unread (self, conversation->conversation_id, error))
      goto failed;

    if (last != NULL && last->sender != NULL) {
      stmt = statement (self, "UPDATE conversations SET last_seq = ?2, last_text = ?3, "
                              "last_sender_id = ?4, last_sender_type = ?5, last_sent_at = ?6 "
                              "WHERE conversation_id = ?1 AND last_seq <= ?2");
      sqlite3_bind_int64 (stmt, 1, conversation->conversation_id);
      sqlite3_bind_int64 (stmt, 2, last->seq);
      bind_text (stmt, 3, last->text);
      sqlite3_bind_int64 (stmt, 4, last->sender->profile_id);
      bind_text (stmt, 5, last->sender->profile_type);
      bind_text (stmt, 6, last->sent_at);
      if (!step_done (self, stmt, error))
        goto failed;
    }

    queue_notify (self, CONVERSATION_CHANGED, conversation->conversation_id, 0);
  }

  queue_notify (self, CONVERSATIONS_RESET, 0, 0);

  return commit (self, error);

failed:
  rollback (self);
  return FALSE;
}

/**
 * natter_store_set_has_older:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @has_older: whether the server holds messages older than the oldest stored
 * @error: a #GError
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_set_has_older (NatterStore *self,
                            gint64 conversation_id,
                            gboolean has_older,
                            GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  /* The row may not exist yet (a conversation opened before any list
   * refresh or message): an UPDATE alone would drop the flag, and the
   * default would say "more" at the next opening. */
  stmt = statement (self, "INSERT INTO conversations (conversation_id, has_older) VALUES (?1, ?2) "
                          "ON CONFLICT (conversation_id) DO UPDATE SET has_older = ?2");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int (stmt, 2, has_older ? 1 : 0);

  return step_done (self, stmt, error);
}

/**
 * natter_store_get_has_older:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Returns: %FALSE once a history page said nothing older exists
 */
gboolean
natter_store_get_has_older (NatterStore *self, gint64 conversation_id)
{
  sqlite3_stmt *stmt;
  gboolean has_older = TRUE;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  stmt = statement (self, "SELECT has_older FROM conversations WHERE conversation_id = ?1");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    has_older = sqlite3_column_int (stmt, 0) != 0;
  sqlite3_reset (stmt);

  return has_older;
}

static NatterConversation *
conversation_from_row (NatterStore *self, sqlite3_stmt *row)
{
  g_autoptr (NatterConversation) conversation = natter_conversation_new ();
  sqlite3_stmt *stmt;

  conversation->conversation_id = sqlite3_column_int64 (row, 0);
  conversation->updated_at = column_text (row, 1);
  conversation->unread_count = sqlite3_column_int64 (row, 2);

  if (sqlite3_column_int64 (row, 3) > 0) {
    NatterMessage *last = natter_message_new ();

    last->conversation_id = conversation->conversation_id;
    last->seq = sqlite3_column_int64 (row, 3);
    last->text = column_text (row, 4);
    last->sender = natter_profile_new (sqlite3_column_int64 (row, 5),
                                       (const char *) sqlite3_column_text (row, 6), NULL, NULL);
    last->sent_at = column_text (row, 7);
    conversation->last_message = last;
  }

  stmt =
    statement (self, "SELECT profile_id, profile_type, display_name, avatar_url FROM participants "
                     "WHERE conversation_id = ?1 ORDER BY profile_type, profile_id");
  sqlite3_bind_int64 (stmt, 1, conversation->conversation_id);
  while (sqlite3_step (stmt) == SQLITE_ROW) {
    g_ptr_array_add (conversation->participants,
                     natter_profile_new (sqlite3_column_int64 (stmt, 0),
                                         (const char *) sqlite3_column_text (stmt, 1),
                                         (const char *) sqlite3_column_text (stmt, 2),
                                         (const char *) sqlite3_column_text (stmt, 3)));
  }
  sqlite3_reset (stmt);

  return g_steal_pointer (&conversation);
}

/**
 * natter_store_load_conversations:
 * @self: a #NatterStore
 *
 * Returns: (transfer full) (element-type NatterConversation): the stored
 *   conversations, most recently active first
 */
GPtrArray *
natter_store_load_conversations (NatterStore *self)
{
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  GPtrArray *conversations;
  sqlite3_stmt *stmt;
  guint i;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  /* A row without participants only holds history state: nothing to show
   * until the server's list or a message says who is in it. */
  stmt = statement (self, "SELECT conversation_id FROM conversations c WHERE EXISTS (SELECT 1 "
                          "FROM participants p WHERE p.conversation_id = c.conversation_id) "
                          "ORDER BY max (updated_at, coalesce (last_sent_at, '')) DESC, "
                          "conversation_id DESC");
  while (sqlite3_step (stmt) == SQLITE_ROW) {
    gint64 id = sqlite3_column_int64 (stmt, 0);

    g_array_append_val (ids, id);
  }
  sqlite3_reset (stmt);

  conversations = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_conversation_free);
  for (i = 0; i < ids->len; i++) {
    NatterConversation *conversation;

    conversation = natter_store_load_conversation (self, g_array_index (ids, gint64, i));
    if (conversation != NULL)
      g_ptr_array_add (conversations, conversation);
  }

  return conversations;
}

/**
 * natter_store_load_conversation:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Returns: (transfer full) (nullable): the conversation, or %NULL if unknown
 */
NatterConversation *
natter_store_load_conversation (NatterStore *self, gint64 conversation_id)
{
  NatterConversation *conversation = NULL;
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  stmt = statement (self, "SELECT conversation_id, updated_at, unread_count, last_seq, last_text, "
                          "last_sender_id, last_sender_type, last_sent_at FROM conversations "
                          "WHERE conversation_id = ?1");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW) {
    /* conversation_from_row runs its own statement: keep this row's values
     * alive by not resetting until it returns. */
    conversation = conversation_from_row (self, stmt);
  }
  sqlite3_reset (stmt);

  return conversation;
}

/**
 * natter_store_find_direct_conversation:
 * @self: a #NatterStore
 * @peer: the other person
 *
 * Returns: the two-party conversation with @peer, or 0 if none is stored
 */
gint64
natter_store_find_direct_conversation (NatterStore *self, const NatterProfile *peer)
{
  sqlite3_stmt *stmt;
  gint64 conversation_id = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);
  g_return_val_if_fail (peer != NULL, 0);

  stmt =
    statement (self, "SELECT p.conversation_id FROM participants p WHERE p.profile_id = ?1 AND "
                     "p.profile_type = ?2 AND (SELECT count (*) FROM participants q WHERE "
                     "q.conversation_id = p.conversation_id) = 2 AND EXISTS (SELECT 1 FROM "
                     "participants r WHERE r.conversation_id = p.conversation_id AND "
                     "r.profile_id = ?3 AND r.profile_type = ?4) LIMIT 1");
  sqlite3_bind_int64 (stmt, 1, peer->profile_id);
  bind_text (stmt, 2, peer->profile_type);
  sqlite3_bind_int64 (stmt, 3, self->own_profile->profile_id);
  bind_text (stmt, 4, self->own_profile->profile_type);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    conversation_id = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return conversation_id;
}

/**
 * natter_store_get_read_seq:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @profile: a participant
 *
 * Returns: how far @profile has read @conversation
 */
gint64
natter_store_get_read_seq (NatterStore *self, gint64 conversation_id, const NatterProfile *profile)
{
  sqlite3_stmt *stmt;
  gint64 seq = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);
  g_return_val_if_fail (profile != NULL, 0);

  stmt = statement (self, "SELECT read_seq FROM participants WHERE conversation_id = ?1 AND "
                          "profile_id = ?2 AND profile_type = ?3");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2, profile->profile_id);
  bind_text (stmt, 3, profile->profile_type);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    seq = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return seq;
}

/**
 * natter_store_get_last_seq:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Returns: the newest message's seq known for @conversation_id, 0 if none
 */
gint64
natter_store_get_last_seq (NatterStore *self, gint64 conversation_id)
{
  sqlite3_stmt *stmt;
  gint64 seq = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  stmt =
    statement (self, "SELECT max (coalesce ((SELECT last_seq FROM conversations WHERE "
                     "conversation_id = ?1), 0), coalesce ((SELECT max (seq) FROM messages WHERE "
                     "conversation_id = ?1), 0))");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    seq = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return seq;
}

/**
 * natter_store_count_messages:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Returns: how many of its messages are stored locally
 */
guint
natter_store_count_messages (NatterStore *self, gint64 conversation_id)
{
  sqlite3_stmt *stmt;
  guint count = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  stmt = statement (self, "SELECT message_count FROM conversations WHERE conversation_id = ?1");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    count = (guint) sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return count;
}

static NatterMessage *
message_from_row (sqlite3_stmt *stmt, gint64 conversation_id)
{
  NatterMessage *message = natter_message_new ();

  message->conversation_id = conversation_id;
  message->seq = sqlite3_column_int64 (stmt, 0);
  message->message_id = sqlite3_column_int64 (stmt, 1);
  message->sender = natter_profile_new (
    sqlite3_column_int64 (stmt, 2), (const char *) sqlite3_column_text (stmt, 3),
    (const char *) sqlite3_column_text (stmt, 4), (const char *) sqlite3_column_text (stmt, 5));
  message->text = column_text (stmt, 6);
  message->sent_at = column_text (stmt, 7);
  message->client_msg_id = column_text (stmt, 8);

  return message;
}

/**
 * natter_store_load_messages:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @offset: position of the first message, oldest first
 * @limit: how many at most
 *
 * Returns: (transfer full) (element-type NatterMessage): a page of messages,
 *   oldest first
 */
GPtrArray *
natter_store_load_messages (NatterStore *self, gint64 conversation_id, guint offset, guint limit)
{
  GPtrArray *messages;
  sqlite3_stmt *stmt;
  guint count;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  messages = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  if (limit == 0)
    return messages;

  count = natter_store_count_messages (self, conversation_id);
  if (offset >= count)
    return messages;

  limit = MIN (limit, count - offset);

  /* Scrolling happens near the newest end: count from there so the index
   * walk is short. */
  if (offset > count / 2) {
    stmt = statement (self, "SELECT seq, message_id, sender_id, sender_type, sender_name, "
                            "sender_avatar, text, sent_at, client_msg_id FROM messages "
                            "WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT ?2 OFFSET ?3");
    sqlite3_bind_int64 (stmt, 1, conversation_id);
    sqlite3_bind_int64 (stmt, 2, limit);
    sqlite3_bind_int64 (stmt, 3, count - offset - limit);
    while (sqlite3_step (stmt) == SQLITE_ROW)
      g_ptr_array_add (messages, message_from_row (stmt, conversation_id));
    sqlite3_reset (stmt);

    for (guint i = 0; i < messages->len / 2; i++) {
      gpointer tmp = messages->pdata[i];

      messages->pdata[i] = messages->pdata[messages->len - 1 - i];
      messages->pdata[messages->len - 1 - i] = tmp;
    }
  } else {
    stmt = statement (self, "SELECT seq, message_id, sender_id, sender_type, sender_name, "
                            "sender_avatar, text, sent_at, client_msg_id FROM messages "
                            "WHERE conversation_id = ?1 ORDER BY seq LIMIT ?2 OFFSET ?3");
    sqlite3_bind_int64 (stmt, 1, conversation_id);
    sqlite3_bind_int64 (stmt, 2, limit);
    sqlite3_bind_int64 (stmt, 3, offset);
    while (sqlite3_step (stmt) == SQLITE_ROW)
      g_ptr_array_add (messages, message_from_row (stmt, conversation_id));
    sqlite3_reset (stmt);
  }

  for (guint i = 0; i < messages->len; i++)
    natter_store_attachments_load (self, g_ptr_array_index (messages, i));

  return messages;
}

/**
 * natter_store_get_message_position:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @seq: a message's seq
 *
 * Returns: how many stored messages come before @seq
 */
guint
natter_store_get_message_position (NatterStore *self, gint64 conversation_id, gint64 seq)
{
  sqlite3_stmt *stmt;
  guint position;
  guint newer = 0;
  guint total;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  /* Counted from the newest end: new messages land there, so the range
   * walked is short. */
  stmt =
    statement (self, "SELECT count (*) FROM messages WHERE conversation_id = ?1 AND seq >= ?2");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2, seq);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    newer = (guint) sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  total = natter_store_count_messages (self, conversation_id);
  position = total > newer ? total - newer : 0;

  return position;
}

/**
 * natter_store_get_oldest_seq:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Returns: the oldest stored message's seq, 0 if none is stored
 */
gint64
natter_store_get_oldest_seq (NatterStore *self, gint64 conversation_id)
{
  sqlite3_stmt *stmt;
  gint64 seq = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  stmt = statement (self, "SELECT min (seq) FROM messages WHERE conversation_id = ?1");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    seq = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return seq;
}

/**
 * natter_store_get_history_edge:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 *
 * Where older history must be fetched from: the first seq of the newest
 * run of consecutive stored messages. Usually the oldest stored message;
 * after a truncated sync the replayed newest messages sit above a gap, and
 * the gap is what scrolling up must fill first.
 *
 * Returns: a seq, 0 if no message is stored
 */
gint64
natter_store_get_history_edge (NatterStore *self, gint64 conversation_id)
{
  sqlite3_stmt *stmt;
  gint64 edge = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  stmt = statement (self, "SELECT max (m.seq) FROM messages m WHERE m.conversation_id = ?1 AND "
                          "(m.seq = 1 OR NOT EXISTS (SELECT 1 FROM messages p WHERE "
                          "p.conversation_id = ?1 AND p.seq = m.seq - 1))");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    edge = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return edge;
}

/**
 * natter_store_mark_read:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @up_to_seq: the newest message the user has seen
 * @out_changed: (out) (optional): %FALSE if the marker was already there
 * @error: a #GError
 *
 * Moves our own read marker forward at once (the unread count drops) and
 * keeps it as pending until the server's read receipt confirms it, so a
 * marker set offline, or before a restart, is not lost. @up_to_seq is
 * capped at the newest message known here.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_mark_read (NatterStore *self,
                        gint64 conversation_id,
                        gint64 up_to_seq,
                        gboolean *out_changed,
                        GError **error)
{
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (conversation_id > 0, FALSE);

  if (out_changed != NULL)
    *out_changed = FALSE;

  up_to_seq = MIN (up_to_seq, natter_store_get_last_seq (self, conversation_id));
  if (up_to_seq <= natter_store_get_read_seq (self, conversation_id, self->own_profile))
    return TRUE;

  if (!begin (self, error))
    return FALSE;

  if (!ensure_conversation (self, conversation_id, error) ||
      !upsert_participant (self, conversation_id, self->own_profile, error))
    goto failed;

  stmt = statement (self, "UPDATE participants SET read_seq = max (read_seq, ?4) "
                          "WHERE conversation_id = ?1 AND profile_id = ?2 AND profile_type = ?3");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2, self->own_profile->profile_id);
  bind_text (stmt, 3, self->own_profile->profile_type);
  sqlite3_bind_int64 (stmt, 4, up_to_seq);
  if (!step_done (self, stmt, error) || !recount_unread (self, conversation_id, error))
    goto failed;

  /* Only the highest marker per conversation is worth sending. */
  stmt = statement (self, "INSERT INTO pending_reads (conversation_id, up_to_seq) VALUES (?1, ?2) "
                          "ON CONFLICT (conversation_id) DO UPDATE SET "
                          "up_to_seq = max (up_to_seq, ?2)");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2, up_to_seq);
  if (!step_done (self, stmt, error))
    goto failed;

  queue_notify (self, CONVERSATION_CHANGED, conversation_id, 0);

  if (!commit (self, error))
    return FALSE;

  if (out_changed != NULL)
    *out_changed = TRUE;

  return TRUE;

failed:
  rollback (self);
  return FALSE;
}

/**
 * natter_store_list_pending_reads:
 * @self: a #NatterStore
 *
 * Returns: (transfer full) (element-type NatterPendingRead): our read
 *   markers not yet confirmed by the server, one per conversation
 */
GArray *
natter_store_list_pending_reads (NatterStore *self)
{
  GArray *reads;
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  reads = g_array_new (FALSE, FALSE, sizeof (NatterPendingRead));
  stmt = statement (self, "SELECT conversation_id, up_to_seq FROM pending_reads "
                          "ORDER BY conversation_id");
  while (sqlite3_step (stmt) == SQLITE_ROW) {
    NatterPendingRead read = { sqlite3_column_int64 (stmt, 0), sqlite3_column_int64 (stmt, 1) };

    g_array_append_val (reads, read);
  }
  sqlite3_reset (stmt);

  return reads;
}
