/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

#include "natter-frame.h"
#include "natter-types.h"

G_BEGIN_DECLS

#define NATTER_SERVER_DB_ERROR (natter_server_db_error_quark ())

typedef enum {
  NATTER_SERVER_DB_ERROR_FAILED,    /* SQLite said no: I/O, corruption, busy */
  NATTER_SERVER_DB_ERROR_EXISTS,    /* unique key taken (email) */
  NATTER_SERVER_DB_ERROR_NOT_FOUND, /* no such row, or token expired/revoked */
} NatterServerDbError;

GQuark natter_server_db_error_quark (void);

#define NATTER_TYPE_SERVER_DB (natter_server_db_get_type ())
G_DECLARE_FINAL_TYPE (NatterServerDb, natter_server_db, NATTER, SERVER_DB, GObject)

/* Process-wide SQLite settings; before the first database opens. */
void natter_server_db_configure_library (void);

/* Opens (creating folders and the file) and migrates the schema. WAL,
 * synchronous=FULL: a commit survives a power cut. Every query
 * is a prepared statement, prepared once. One thread at a time uses a
 * connection: the main thread its own, the store's writer thread another. */
NatterServerDb *natter_server_db_open (const char *path, GError **error);
void natter_server_db_close (NatterServerDb *self);
gint natter_server_db_get_schema_version (NatterServerDb *self);
/* WAL checkpoints run so far by the worker thread (none for a database
 * without WAL), for tests and logs. */
guint natter_server_db_get_n_checkpoints (NatterServerDb *self);
guint natter_server_db_get_n_wal_catch_ups (NatterServerDb *self);
void natter_server_db_set_checkpoint_threshold (NatterServerDb *self, guint pages);
void natter_server_db_catch_up_wal (NatterServerDb *self, gboolean idle);
void natter_server_db_defer_wal_catch_up (NatterServerDb *self);

/* Groups several writes into one commit (the hub stores a message and its
 * events together, then acks). Nested begin/commit pairs are counted. */
gboolean natter_server_db_begin (NatterServerDb *self, GError **error);
void natter_server_db_begin_reads (NatterServerDb *self);
void natter_server_db_end_reads (NatterServerDb *self);
gboolean natter_server_db_commit (NatterServerDb *self, GError **error);
void natter_server_db_rollback (NatterServerDb *self);

/* users and tokens */
gboolean natter_server_db_is_empty (NatterServerDb *self);
gboolean natter_server_db_create_user (NatterServerDb *self,
                                       const char *email,
                                       const char *password_hash,
                                       const char *display_name,
                                       const char *const *profile_types,
                                       gint64 *out_user_id,
                                       GError **error);
/* NOT_FOUND when no user has that email. */
gboolean natter_server_db_find_login (NatterServerDb *self,
                                      const char *email,
                                      gint64 *out_user_id,
                                      char **out_password_hash,
                                      GError **error);
/* The user with its profiles. */
NatterUser *natter_server_db_get_user (NatterServerDb *self, gint64 user_id, GError **error);
gboolean natter_server_db_add_token (NatterServerDb *self,
                                     gint64 user_id,
                                     const char *token_hash_hex,
                                     gint64 expires_unix,
                                     gint64 *out_token_id,
                                     GError **error);
/* NOT_FOUND when unknown, revoked or expired at @now_unix. */
gboolean natter_server_db_lookup_token (NatterServerDb *self,
                                        const char *token_hash_hex,
                                        gint64 now_unix,
                                        gint64 *out_user_id,
                                        gint64 *out_token_id,
                                        GError **error);
gboolean natter_server_db_revoke_token (NatterServerDb *self, gint64 token_id, GError **error);
gboolean natter_server_db_revoke_user_tokens (NatterServerDb *self, gint64 user_id, GError **error);
GHashTable *natter_server_db_prune_tokens (NatterServerDb *self, gint64 now_unix, GError **error);

/* profiles: (profile_id, profile_type); display_name is the user's, avatar_url
 * is "/api/profiles/{type}/{id}/avatar" when an avatar is stored, else NULL */
NatterProfile *natter_server_db_get_profile (NatterServerDb *self,
                                             gint64 profile_id,
                                             const char *profile_type,
                                             GError **error);
/* The owning user_id, or 0 when the profile does not exist. */
gint64 natter_server_db_get_profile_owner (NatterServerDb *self,
                                           gint64 profile_id,
                                           const char *profile_type);
GPtrArray *natter_server_db_search_profiles (NatterServerDb *self,
                                             const char *query,
                                             guint limit,
                                             GError **error);
gboolean natter_server_db_set_avatar (NatterServerDb *self,
                                      gint64 profile_id,
                                      const char *profile_type,
                                      GBytes *image,
                                      const char *content_type,
                                      GError **error);
GBytes *natter_server_db_get_avatar (NatterServerDb *self,
                                     gint64 profile_id,
                                     const char *profile_type,
                                     char **out_content_type,
                                     GError **error);

/* conversations; @viewer decides unread_count */
/* The direct conversation of @a and @b, or 0 when there is none yet. */
gint64
natter_server_db_find_direct (NatterServerDb *self, const NatterProfile *a, const NatterProfile *b);
/* The id of the direct conversation of @a and @b, created if needed; 0 on
 * error (NOT_FOUND when a profile does not exist). */
gint64 natter_server_db_ensure_direct (NatterServerDb *self,
                                       const NatterProfile *a,
                                       const NatterProfile *b,
                                       GError **error);
/* The same for two profiles the caller read (no lookups), and whether
 * this call created it. */
gint64 natter_server_db_ensure_direct_created (NatterServerDb *self,
                                               const NatterProfile *a,
                                               const NatterProfile *b,
                                               gboolean *out_created,
                                               GError **error);
NatterConversation *natter_server_db_get_or_create_direct (NatterServerDb *self,
                                                           const NatterProfile *viewer,
                                                           const NatterProfile *other,
                                                           GError **error);
NatterConversation *natter_server_db_get_conversation (NatterServerDb *self,
                                                       gint64 conversation_id,
                                                       const NatterProfile *viewer,
                                                       GError **error);
gboolean natter_server_db_is_participant (NatterServerDb *self,
                                          gint64 conversation_id,
                                          const NatterProfile *profile);
/* NatterProfile list, full profiles. */
GPtrArray *
natter_server_db_list_participants (NatterServerDb *self, gint64 conversation_id, GError **error);
/* Newest first. */
GPtrArray *natter_server_db_list_conversations (NatterServerDb *self,
                                                const NatterProfile *viewer,
                                                GError **error);
/* Every profile that sees @profile's presence: both took part in a shared
 * conversation (sent a message) or in an answered call, and neither
 * blocked the other. */
GPtrArray *
natter_server_db_list_contacts (NatterServerDb *self, const NatterProfile *profile, GError **error);

/* messages */
/* The message @sender already stored under @client_msg_id, or NULL. */
NatterMessage *natter_server_db_find_message_by_client_id (NatterServerDb *self,
                                                           const NatterProfile *sender,
                                                           const char *client_msg_id);
/* Assigns message_id, the next seq of the conversation and sent_at. */
NatterMessage *natter_server_db_add_message (NatterServerDb *self,
                                             gint64 conversation_id,
                                             const NatterProfile *sender,
                                             const char *text,
                                             const char *client_msg_id,
                                             GError **error);
/* The same, with the sender's own event id stored at once (0: none). */
NatterMessage *natter_server_db_add_message_with_sender_event (NatterServerDb *self,
                                                               gint64 conversation_id,
                                                               const NatterProfile *sender,
                                                               const char *text,
                                                               const char *client_msg_id,
                                                               gint64 sender_event_id,
                                                               GError **error);
/* Oldest first; @before_seq 0 means the newest page. */
GPtrArray *natter_server_db_list_messages (NatterServerDb *self,
                                           gint64 conversation_id,
                                           gint64 before_seq,
                                           guint limit,
                                           gboolean *out_has_more,
                                           GError **error);
/* Keeps the highest @up_to_seq seen (clamped to the conversation's last seq);
 * returns the stored value through @out_up_to_seq. */
gboolean natter_server_db_mark_read (NatterServerDb *self,
                                     gint64 conversation_id,
                                     const NatterProfile *reader,
                                     gint64 up_to_seq,
                                     gint64 *out_up_to_seq,
                                     GError **error);

/* events: what must never be lost, per profile, ids increasing per profile */
/* Sets frame->event_id to the profile's next id, stores the serialized
 * frame, and returns the id (0 on error). */
gint64 natter_server_db_add_event (NatterServerDb *self,
                                   const NatterProfile *profile,
                                   NatterFrame *frame,
                                   GError **error);
/* The same, and hands back the stored JSON for sending (@out_json may be
 * NULL): each event is serialized once. */
gint64 natter_server_db_add_event_with_json (NatterServerDb *self,
                                             const NatterProfile *profile,
                                             NatterFrame *frame,
                                             char **out_json,
                                             GError **error);
/* The same for a chat_message whose message is already serialized. */
gboolean natter_server_db_add_message_events (NatterServerDb *self,
                                              GPtrArray *participants,
                                              NatterFrame *frame,
                                              const char *message_json,
                                              GPtrArray *out_texts,
                                              gint64 *out_event_ids,
                                              GError **error);
gint64 natter_server_db_add_message_event (NatterServerDb *self,
                                           const NatterProfile *profile,
                                           NatterFrame *frame,
                                           const char *message_json,
                                           char **out_json,
                                           GError **error);
gint64 natter_server_db_get_last_event_id (NatterServerDb *self, const NatterProfile *profile);
/* The stored frames (JSON strings, in order) with event_id > @after_event_id;
 * when more than @limit exist, the newest @limit and *out_truncated = TRUE. */
GPtrArray *natter_server_db_list_events_after (NatterServerDb *self,
                                               const NatterProfile *profile,
                                               gint64 after_event_id,
                                               guint limit,
                                               gboolean *out_truncated,
                                               GError **error);

/* call log */
NatterCallLog *natter_server_db_create_call (NatterServerDb *self,
                                             const NatterProfile *caller,
                                             const NatterProfile *callee,
                                             const char *call_type,
                                             gint64 conversation_id,
                                             GError **error);
/* answered_at is set now for "answered"; ended_at and duration_s (from
 * answered_at, 0 if never answered) for every other status but "ringing". */
NatterCallLog *natter_server_db_set_call_status (NatterServerDb *self,
                                                 gint64 call_log_id,
                                                 const char *status,
                                                 GError **error);
NatterCallLog *natter_server_db_get_call (NatterServerDb *self, gint64 call_log_id, GError **error);
/* Newest first, calls where @profile is caller or callee. */
GPtrArray *natter_server_db_list_calls (NatterServerDb *self,
                                        const NatterProfile *profile,
                                        guint limit,
                                        GError **error);
/* At start-up: calls left "ringing" by a previous process become "failed". */
gboolean natter_server_db_fail_stale_calls (NatterServerDb *self, GError **error);
/* The end of an answered call: ended_at now and duration_s from answered_at,
 * the status stays "answered". */
NatterCallLog *natter_server_db_end_call (NatterServerDb *self, gint64 call_log_id, GError **error);

/* epoch, own events, taking part, blocks */
/* Names this database's event history (made with the database). */
const char *natter_server_db_get_epoch (NatterServerDb *self);
gboolean natter_server_db_set_sender_event_id (NatterServerDb *self,
                                               gint64 message_id,
                                               gint64 event_id,
                                               GError **error);
/* 0 when unknown (a message stored before schema 2). */
gint64 natter_server_db_get_sender_event_id (NatterServerDb *self, gint64 message_id);
gint64 natter_server_db_get_read_seq (NatterServerDb *self,
                                      gint64 conversation_id,
                                      const NatterProfile *profile);
/* Marks @profile as having taken part in the conversation; *out_changed is
 * TRUE the first time. */
gboolean natter_server_db_set_took_part (NatterServerDb *self,
                                         gint64 conversation_id,
                                         const NatterProfile *profile,
                                         gboolean *out_changed,
                                         GError **error);
gboolean natter_server_db_took_part (NatterServerDb *self,
                                     gint64 conversation_id,
                                     const NatterProfile *profile);
gboolean natter_server_db_delete_event (NatterServerDb *self,
                                        const NatterProfile *profile,
                                        gint64 event_id,
                                        GError **error);
/* Blocks: @blocker no longer hears from @blocked. Adding twice is no error. */
gboolean natter_server_db_add_block (NatterServerDb *self,
                                     const NatterProfile *blocker,
                                     const NatterProfile *blocked,
                                     GError **error);
gboolean natter_server_db_remove_block (NatterServerDb *self,
                                        const NatterProfile *blocker,
                                        const NatterProfile *blocked,
                                        GError **error);
/* The profiles @blocker blocked, full profiles, newest first. */
GPtrArray *
natter_server_db_list_blocks (NatterServerDb *self, const NatterProfile *blocker, GError **error);
/* TRUE when either of the two blocked the other. */
gboolean natter_server_db_is_blocked_either (NatterServerDb *self,
                                             const NatterProfile *a,
                                             const NatterProfile *b);

G_END_DECLS
