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

char *
natter_store_column_text (sqlite3_stmt *stmt, int index)
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

gboolean
natter_store_is_own (NatterStore *self, gint64 profile_id, const char *profile_type)
{
  return profile_id == self->own_profile->profile_id &&
         g_strcmp0 (profile_type, self->own_profile->profile_type) == 0;
}

gboolean
natter_store_ensure_conversation (NatterStore *self, gint64 conversation_id, GError **error)
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
gboolean
natter_store_upsert_participant (NatterStore *self,
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

void
natter_store_queue_message_added (NatterStore *self, gint64 conversation_id, gint64 seq)
{
  queue_notify (self, MESSAGE_ADDED, conversation_id, seq);
}

void
natter_store_queue_conversation_changed (NatterStore *self, gint64 conversation_id)
{
  queue_notify (self, CONVERSATION_CHANGED, conversation_id, 0);
}

void
natter_store_queue_conversations_reset (NatterStore *self)
{
  queue_notify (self, CONVERSATIONS_RESET, 0, 0);
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
      ok = natter_store_insert_message (self, frame->message, &applied, error);
      break;
    case NATTER_FRAME_READ_RECEIPT:
      ok = natter_store_apply_read_receipt (self, frame, error);
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
