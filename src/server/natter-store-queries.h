/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-server-db-attachments.h"
#include "natter-types.h"

G_BEGIN_DECLS

/* The synchronous reads and writes of the HTTP API, one backend-neutral
 * vtable that each store backend implements once: a store runs them where
 * they cannot hold up the routing thread (natter_server_store_query ():
 * PostgreSQL on a thread and connection of its own; SQLite on its
 * main-thread connection, as before). Errors are NatterServerDbError's, the
 * semantics those of the natter_server_db_* function of the same name. */
typedef struct _NatterStoreQueries NatterStoreQueries;

typedef struct {
  /* users and tokens */
  gboolean (*create_user) (NatterStoreQueries *self,
                           const char *email,
                           const char *password_hash,
                           const char *display_name,
                           const char *const *profile_types,
                           gint64 *out_user_id,
                           GError **error);
  gboolean (*find_login) (NatterStoreQueries *self,
                          const char *email,
                          gint64 *out_user_id,
                          char **out_password_hash,
                          GError **error);
  NatterUser *(*get_user) (NatterStoreQueries *self, gint64 user_id, GError **error);
  gboolean (*add_token) (NatterStoreQueries *self,
                         gint64 user_id,
                         const char *token_hash_hex,
                         gint64 expires_unix,
                         gint64 *out_token_id,
                         GError **error);
  gboolean (*lookup_token) (NatterStoreQueries *self,
                            const char *token_hash_hex,
                            gint64 now_unix,
                            gint64 *out_user_id,
                            gint64 *out_token_id,
                            GError **error);
  gboolean (*revoke_token) (NatterStoreQueries *self, gint64 token_id, GError **error);
  gboolean (*revoke_user_tokens) (NatterStoreQueries *self, gint64 user_id, GError **error);

  /* profiles */
  gint64 (*get_profile_owner) (NatterStoreQueries *self,
                               gint64 profile_id,
                               const char *profile_type);
  GPtrArray *(*search_profiles) (NatterStoreQueries *self,
                                 const char *query,
                                 guint limit,
                                 GError **error);
  gboolean (*set_avatar) (NatterStoreQueries *self,
                          gint64 profile_id,
                          const char *profile_type,
                          GBytes *image,
                          const char *content_type,
                          GError **error);
  GBytes *(*get_avatar) (NatterStoreQueries *self,
                         gint64 profile_id,
                         const char *profile_type,
                         char **out_content_type,
                         GError **error);

  /* conversations and messages; the messages come with their attachments */
  gint64 (*find_direct) (NatterStoreQueries *self, const NatterProfile *a, const NatterProfile *b);
  NatterConversation *(*get_or_create_direct) (NatterStoreQueries *self,
                                               const NatterProfile *viewer,
                                               const NatterProfile *other,
                                               GError **error);
  gboolean (*is_participant) (NatterStoreQueries *self,
                              gint64 conversation_id,
                              const NatterProfile *profile);
  GPtrArray *(*list_participants) (NatterStoreQueries *self,
                                   gint64 conversation_id,
                                   GError **error);
  GPtrArray *(*list_conversations) (NatterStoreQueries *self,
                                    const NatterProfile *viewer,
                                    GError **error);
  GPtrArray *(*list_messages) (NatterStoreQueries *self,
                               gint64 conversation_id,
                               gint64 before_seq,
                               guint limit,
                               gboolean *out_has_more,
                               GError **error);
  GPtrArray *(*list_calls) (NatterStoreQueries *self,
                            const NatterProfile *profile,
                            guint limit,
                            GError **error);

  /* blocks */
  gboolean (*add_block) (NatterStoreQueries *self,
                         const NatterProfile *blocker,
                         const NatterProfile *blocked,
                         GError **error);
  gboolean (*remove_block) (NatterStoreQueries *self,
                            const NatterProfile *blocker,
                            const NatterProfile *blocked,
                            GError **error);
  GPtrArray *(*list_blocks) (NatterStoreQueries *self,
                             const NatterProfile *blocker,
                             GError **error);
  gboolean (*is_blocked_either) (NatterStoreQueries *self,
                                 const NatterProfile *a,
                                 const NatterProfile *b);

  /* attachments */
  NatterAttachment *(*add_attachment) (NatterStoreQueries *self,
                                       gint64 user_id,
                                       const NatterProfile *uploader,
                                       gint64 conversation_id,
                                       const NatterAttachment *attachment,
                                       GError **error);
  gint64 (*get_attachment_usage) (NatterStoreQueries *self, gint64 user_id);
  NatterAttachmentAccess (*get_attachment_for_user) (NatterStoreQueries *self,
                                                     gint64 attachment_id,
                                                     gint64 user_id,
                                                     NatterAttachment **out_attachment,
                                                     GError **error);
  GPtrArray *(*expire_attachments) (NatterStoreQueries *self, gint64 before_ms, GError **error);

  /* the hub's (WebSockets) and the start-up's */
  NatterProfile *(*get_profile) (NatterStoreQueries *self,
                                 gint64 profile_id,
                                 const char *profile_type,
                                 GError **error);
  GPtrArray *(*list_contacts) (NatterStoreQueries *self,
                               const NatterProfile *profile,
                               GError **error);
  gboolean (*took_part) (NatterStoreQueries *self,
                         gint64 conversation_id,
                         const NatterProfile *profile);
  gint64 (*get_read_seq) (NatterStoreQueries *self,
                          gint64 conversation_id,
                          const NatterProfile *profile);
  /* With its attachments and the sender's event id (0 when unknown);
   * NULL without @error when there is none. */
  NatterMessage *(*find_message_by_client_id) (NatterStoreQueries *self,
                                               const NatterProfile *sender,
                                               const char *client_msg_id,
                                               gint64 *out_sender_event_id,
                                               GError **error);
  gboolean (*check_attachments) (NatterStoreQueries *self,
                                 GArray *attachment_ids,
                                 const NatterProfile *sender,
                                 gint64 conversation_id,
                                 GError **error);
  NatterCallLog *(*get_call) (NatterStoreQueries *self, gint64 call_log_id, GError **error);
  NatterCallLog *(*create_call) (NatterStoreQueries *self,
                                 const NatterProfile *caller,
                                 const NatterProfile *callee,
                                 const char *call_type,
                                 gint64 conversation_id,
                                 GError **error);
  NatterCallLog *(*set_call_status) (NatterStoreQueries *self,
                                     gint64 call_log_id,
                                     const char *status,
                                     GError **error);
  NatterCallLog *(*end_call) (NatterStoreQueries *self, gint64 call_log_id, GError **error);
  gboolean (*fail_stale_calls) (NatterStoreQueries *self, GError **error);
  GHashTable *(*prune_tokens) (NatterStoreQueries *self, gint64 now_unix, GError **error);
  gboolean (*is_empty) (NatterStoreQueries *self);
  /* A message without events (the --demo accounts' history). */
  NatterMessage *(*add_message) (NatterStoreQueries *self,
                                 gint64 conversation_id,
                                 const NatterProfile *sender,
                                 const char *text,
                                 GError **error);

  /* Optional (NULL where it saves nothing): the reads between them share
   * one snapshot and one read lock. */
  void (*begin_reads) (NatterStoreQueries *self);
  void (*end_reads) (NatterStoreQueries *self);

  void (*free) (NatterStoreQueries *self);
} NatterStoreQueriesClass;

struct _NatterStoreQueries {
  const NatterStoreQueriesClass *klass;
};

/* What natter_server_store_query () runs: returns its result (transfer
 * full), or NULL with @error set. */
typedef gpointer (*NatterStoreQueryFunc) (NatterStoreQueries *queries,
                                          gpointer data,
                                          GError **error);

/* The SQLite backend's: the natter_server_db_* functions on @db. */
NatterStoreQueries *natter_store_queries_sqlite_new (gpointer db);

void natter_store_queries_free (NatterStoreQueries *self);
void natter_store_queries_begin_reads (NatterStoreQueries *self);
void natter_store_queries_end_reads (NatterStoreQueries *self);

gboolean natter_store_queries_create_user (NatterStoreQueries *self,
                                           const char *email,
                                           const char *password_hash,
                                           const char *display_name,
                                           const char *const *profile_types,
                                           gint64 *out_user_id,
                                           GError **error);
gboolean natter_store_queries_find_login (NatterStoreQueries *self,
                                          const char *email,
                                          gint64 *out_user_id,
                                          char **out_password_hash,
                                          GError **error);
NatterUser *
natter_store_queries_get_user (NatterStoreQueries *self, gint64 user_id, GError **error);
gboolean natter_store_queries_add_token (NatterStoreQueries *self,
                                         gint64 user_id,
                                         const char *token_hash_hex,
                                         gint64 expires_unix,
                                         gint64 *out_token_id,
                                         GError **error);
gboolean natter_store_queries_lookup_token (NatterStoreQueries *self,
                                            const char *token_hash_hex,
                                            gint64 now_unix,
                                            gint64 *out_user_id,
                                            gint64 *out_token_id,
                                            GError **error);
gboolean
natter_store_queries_revoke_token (NatterStoreQueries *self, gint64 token_id, GError **error);
gboolean
natter_store_queries_revoke_user_tokens (NatterStoreQueries *self, gint64 user_id, GError **error);
gint64 natter_store_queries_get_profile_owner (NatterStoreQueries *self,
                                               gint64 profile_id,
                                               const char *profile_type);
GPtrArray *natter_store_queries_search_profiles (NatterStoreQueries *self,
                                                 const char *query,
                                                 guint limit,
                                                 GError **error);
gboolean natter_store_queries_set_avatar (NatterStoreQueries *self,
                                          gint64 profile_id,
                                          const char *profile_type,
                                          GBytes *image,
                                          const char *content_type,
                                          GError **error);
GBytes *natter_store_queries_get_avatar (NatterStoreQueries *self,
                                         gint64 profile_id,
                                         const char *profile_type,
                                         char **out_content_type,
                                         GError **error);
gint64 natter_store_queries_find_direct (NatterStoreQueries *self,
                                         const NatterProfile *a,
                                         const NatterProfile *b);
NatterConversation *natter_store_queries_get_or_create_direct (NatterStoreQueries *self,
                                                               const NatterProfile *viewer,
                                                               const NatterProfile *other,
                                                               GError **error);
gboolean natter_store_queries_is_participant (NatterStoreQueries *self,
                                              gint64 conversation_id,
                                              const NatterProfile *profile);
GPtrArray *natter_store_queries_list_participants (NatterStoreQueries *self,
                                                   gint64 conversation_id,
                                                   GError **error);
GPtrArray *natter_store_queries_list_conversations (NatterStoreQueries *self,
                                                    const NatterProfile *viewer,
                                                    GError **error);
GPtrArray *natter_store_queries_list_messages (NatterStoreQueries *self,
                                               gint64 conversation_id,
                                               gint64 before_seq,
                                               guint limit,
                                               gboolean *out_has_more,
                                               GError **error);
GPtrArray *natter_store_queries_list_calls (NatterStoreQueries *self,
                                            const NatterProfile *profile,
                                            guint limit,
                                            GError **error);
gboolean natter_store_queries_add_block (NatterStoreQueries *self,
                                         const NatterProfile *blocker,
                                         const NatterProfile *blocked,
                                         GError **error);
gboolean natter_store_queries_remove_block (NatterStoreQueries *self,
                                            const NatterProfile *blocker,
                                            const NatterProfile *blocked,
                                            GError **error);
GPtrArray *natter_store_queries_list_blocks (NatterStoreQueries *self,
                                             const NatterProfile *blocker,
                                             GError **error);
gboolean natter_store_queries_is_blocked_either (NatterStoreQueries *self,
                                                 const NatterProfile *a,
                                                 const NatterProfile *b);

NatterAttachment *natter_store_queries_add_attachment (NatterStoreQueries *self,
                                                       gint64 user_id,
                                                       const NatterProfile *uploader,
                                                       gint64 conversation_id,
                                                       const NatterAttachment *attachment,
                                                       GError **error);
/* G_MAXINT64 when it cannot be read: no upload past a quota unseen. */
gint64 natter_store_queries_get_attachment_usage (NatterStoreQueries *self, gint64 user_id);
NatterAttachmentAccess
natter_store_queries_get_attachment_for_user (NatterStoreQueries *self,
                                              gint64 attachment_id,
                                              gint64 user_id,
                                              NatterAttachment **out_attachment,
                                              GError **error);
GPtrArray *natter_store_queries_expire_attachments (NatterStoreQueries *self,
                                                    gint64 before_ms,
                                                    GError **error);

NatterProfile *natter_store_queries_get_profile (NatterStoreQueries *self,
                                                 gint64 profile_id,
                                                 const char *profile_type,
                                                 GError **error);
GPtrArray *natter_store_queries_list_contacts (NatterStoreQueries *self,
                                               const NatterProfile *profile,
                                               GError **error);
gboolean natter_store_queries_took_part (NatterStoreQueries *self,
                                         gint64 conversation_id,
                                         const NatterProfile *profile);
gint64 natter_store_queries_get_read_seq (NatterStoreQueries *self,
                                          gint64 conversation_id,
                                          const NatterProfile *profile);
NatterMessage *natter_store_queries_find_message_by_client_id (NatterStoreQueries *self,
                                                               const NatterProfile *sender,
                                                               const char *client_msg_id,
                                                               gint64 *out_sender_event_id,
                                                               GError **error);
gboolean natter_store_queries_check_attachments (NatterStoreQueries *self,
                                                 GArray *attachment_ids,
                                                 const NatterProfile *sender,
                                                 gint64 conversation_id,
                                                 GError **error);
NatterCallLog *
natter_store_queries_get_call (NatterStoreQueries *self, gint64 call_log_id, GError **error);
NatterCallLog *natter_store_queries_create_call (NatterStoreQueries *self,
                                                 const NatterProfile *caller,
                                                 const NatterProfile *callee,
                                                 const char *call_type,
                                                 gint64 conversation_id,
                                                 GError **error);
NatterCallLog *natter_store_queries_set_call_status (NatterStoreQueries *self,
                                                     gint64 call_log_id,
                                                     const char *status,
                                                     GError **error);
NatterCallLog *
natter_store_queries_end_call (NatterStoreQueries *self, gint64 call_log_id, GError **error);
gboolean natter_store_queries_fail_stale_calls (NatterStoreQueries *self, GError **error);
GHashTable *
natter_store_queries_prune_tokens (NatterStoreQueries *self, gint64 now_unix, GError **error);
gboolean natter_store_queries_is_empty (NatterStoreQueries *self);
NatterMessage *natter_store_queries_add_message (NatterStoreQueries *self,
                                                 gint64 conversation_id,
                                                 const NatterProfile *sender,
                                                 const char *text,
                                                 GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterStoreQueries, natter_store_queries_free)

G_END_DECLS
