/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-store"

#include "config.h"

#include "natter-server-db-attachments.h"
#include "natter-server-db.h"
#include "natter-store-queries.h"

#define CALL(self, name, ...) ((self)->klass->name ((self), __VA_ARGS__))

void
natter_store_queries_free (NatterStoreQueries *self)
{
  if (self != NULL)
    self->klass->free (self);
}

gboolean
natter_store_queries_create_user (NatterStoreQueries *self,
                                  const char *email,
                                  const char *password_hash,
                                  const char *display_name,
                                  const char *const *profile_types,
                                  gint64 *out_user_id,
                                  GError **error)
{
  return CALL (self, create_user, email, password_hash, display_name, profile_types, out_user_id,
               error);
}

gboolean
natter_store_queries_find_login (NatterStoreQueries *self,
                                 const char *email,
                                 gint64 *out_user_id,
                                 char **out_password_hash,
                                 GError **error)
{
  return CALL (self, find_login, email, out_user_id, out_password_hash, error);
}

NatterUser *
natter_store_queries_get_user (NatterStoreQueries *self, gint64 user_id, GError **error)
{
  return CALL (self, get_user, user_id, error);
}

gboolean
natter_store_queries_add_token (NatterStoreQueries *self,
                                gint64 user_id,
                                const char *token_hash_hex,
                                gint64 expires_unix,
                                gint64 *out_token_id,
                                GError **error)
{
  return CALL (self, add_token, user_id, token_hash_hex, expires_unix, out_token_id, error);
}

gboolean
natter_store_queries_lookup_token (NatterStoreQueries *self,
                                   const char *token_hash_hex,
                                   gint64 now_unix,
                                   gint64 *out_user_id,
                                   gint64 *out_token_id,
                                   GError **error)
{
  return CALL (self, lookup_token, token_hash_hex, now_unix, out_user_id, out_token_id, error);
}

gboolean
natter_store_queries_revoke_token (NatterStoreQueries *self, gint64 token_id, GError **error)
{
  return CALL (self, revoke_token, token_id, error);
}

gboolean
natter_store_queries_revoke_user_tokens (NatterStoreQueries *self, gint64 user_id, GError **error)
{
  return CALL (self, revoke_user_tokens, user_id, error);
}

gint64
natter_store_queries_get_profile_owner (NatterStoreQueries *self,
                                        gint64 profile_id,
                                        const char *profile_type)
{
  return CALL (self, get_profile_owner, profile_id, profile_type);
}

GPtrArray *
natter_store_queries_search_profiles (NatterStoreQueries *self,
                                      const char *query,
                                      guint limit,
                                      GError **error)
{
  return CALL (self, search_profiles, query, limit, error);
}

gboolean
natter_store_queries_set_avatar (NatterStoreQueries *self,
                                 gint64 profile_id,
                                 const char *profile_type,
                                 GBytes *image,
                                 const char *content_type,
                                 GError **error)
{
  return CALL (self, set_avatar, profile_id, profile_type, image, content_type, error);
}

GBytes *
natter_store_queries_get_avatar (NatterStoreQueries *self,
                                 gint64 profile_id,
                                 const char *profile_type,
                                 char **out_content_type,
                                 GError **error)
{
  return CALL (self, get_avatar, profile_id, profile_type, out_content_type, error);
}

gint64
natter_store_queries_find_direct (NatterStoreQueries *self,
                                  const NatterProfile *a,
                                  const NatterProfile *b)
{
  return CALL (self, find_direct, a, b);
}

NatterConversation *
natter_store_queries_get_or_create_direct (NatterStoreQueries *self,
                                           const NatterProfile *viewer,
                                           const NatterProfile *other,
                                           GError **error)
{
  return CALL (self, get_or_create_direct, viewer, other, error);
}

gboolean
natter_store_queries_is_participant (NatterStoreQueries *self,
                                     gint64 conversation_id,
                                     const NatterProfile *profile)
{
  return CALL (self, is_participant, conversation_id, profile);
}

GPtrArray *
natter_store_queries_list_participants (NatterStoreQueries *self,
                                        gint64 conversation_id,
                                        GError **error)
{
  return CALL (self, list_participants, conversation_id, error);
}

GPtrArray *
natter_store_queries_list_conversations (NatterStoreQueries *self,
                                         const NatterProfile *viewer,
                                         GError **error)
{
  return CALL (self, list_conversations, viewer, error);
}

GPtrArray *
natter_store_queries_list_messages (NatterStoreQueries *self,
                                    gint64 conversation_id,
                                    gint64 before_seq,
                                    guint limit,
                                    gboolean *out_has_more,
                                    GError **error)
{
  return CALL (self, list_messages, conversation_id, before_seq, limit, out_has_more, error);
}

GPtrArray *
natter_store_queries_list_calls (NatterStoreQueries *self,
                                 const NatterProfile *profile,
                                 guint limit,
                                 GError **error)
{
  return CALL (self, list_calls, profile, limit, error);
}

gboolean
natter_store_queries_add_block (NatterStoreQueries *self,
                                const NatterProfile *blocker,
                                const NatterProfile *blocked,
                                GError **error)
{
  return CALL (self, add_block, blocker, blocked, error);
}

gboolean
natter_store_queries_remove_block (NatterStoreQueries *self,
                                   const NatterProfile *blocker,
                                   const NatterProfile *blocked,
                                   GError **error)
{
  return CALL (self, remove_block, blocker, blocked, error);
}

GPtrArray *
natter_store_queries_list_blocks (NatterStoreQueries *self,
                                  const NatterProfile *blocker,
                                  GError **error)
{
  return CALL (self, list_blocks, blocker, error);
}

void
natter_store_queries_begin_reads (NatterStoreQueries *self)
{
  if (self->klass->begin_reads != NULL)
    self->klass->begin_reads (self);
}

void
natter_store_queries_end_reads (NatterStoreQueries *self)
{
  if (self->klass->end_reads != NULL)
    self->klass->end_reads (self);
}

gboolean
natter_store_queries_is_blocked_either (NatterStoreQueries *self,
                                        const NatterProfile *a,
                                        const NatterProfile *b)
{
  return CALL (self, is_blocked_either, a, b);
}

NatterAttachment *
natter_store_queries_add_attachment (NatterStoreQueries *self,
                                     gint64 user_id,
                                     const NatterProfile *uploader,
                                     gint64 conversation_id,
                                     const NatterAttachment *attachment,
                                     GError **error)
{
  return CALL (self, add_attachment, user_id, uploader, conversation_id, attachment, error);
}

gint64
natter_store_queries_get_attachment_usage (NatterStoreQueries *self, gint64 user_id)
{
  return CALL (self, get_attachment_usage, user_id);
}

NatterAttachmentAccess
natter_store_queries_get_attachment_for_user (NatterStoreQueries *self,
                                              gint64 attachment_id,
                                              gint64 user_id,
                                              NatterAttachment **out_attachment,
                                              GError **error)
{
  return CALL (self, get_attachment_for_user, attachment_id, user_id, out_attachment, error);
}

GPtrArray *
natter_store_queries_expire_attachments (NatterStoreQueries *self, gint64 before_ms, GError **error)
{
  return CALL (self, expire_attachments, before_ms, error);
}

/* SQLite: the database's own functions. */

NatterProfile *
natter_store_queries_get_profile (NatterStoreQueries *self,
                                  gint64 profile_id,
                                  const char *profile_type,
                                  GError **error)
{
  return CALL (self, get_profile, profile_id, profile_type, error);
}

GPtrArray *
natter_store_queries_list_contacts (NatterStoreQueries *self,
                                    const NatterProfile *profile,
                                    GError **error)
{
  return CALL (self, list_contacts, profile, error);
}

gboolean
natter_store_queries_took_part (NatterStoreQueries *self,
                                gint64 conversation_id,
                                const NatterProfile *profile)
{
  return CALL (self, took_part, conversation_id, profile);
}

gint64
natter_store_queries_get_read_seq (NatterStoreQueries *self,
                                   gint64 conversation_id,
                                   const NatterProfile *profile)
{
  return CALL (self, get_read_seq, conversation_id, profile);
}

NatterMessage *
natter_store_queries_find_message_by_client_id (NatterStoreQueries *self,
                                                const NatterProfile *sender,
                                                const char *client_msg_id,
                                                gint64 *out_sender_event_id,
                                                GError **error)
{
  *out_sender_event_id = 0;
  if (client_msg_id == NULL)
    return NULL;
  return CALL (self, find_message_by_client_id, sender, client_msg_id, out_sender_event_id, error);
}

gboolean
natter_store_queries_check_attachments (NatterStoreQueries *self,
                                        GArray *attachment_ids,
                                        const NatterProfile *sender,
                                        gint64 conversation_id,
                                        GError **error)
{
  if (attachment_ids == NULL)
    return TRUE;
  if (attachment_ids->len > NATTER_MAX_MESSAGE_ATTACHMENTS) {
    g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME,
                 "attachments: more than %d attachments", NATTER_MAX_MESSAGE_ATTACHMENTS);
    return FALSE;
  }
  return CALL (self, check_attachments, attachment_ids, sender, conversation_id, error);
}

NatterCallLog *
natter_store_queries_get_call (NatterStoreQueries *self, gint64 call_log_id, GError **error)
{
  return CALL (self, get_call, call_log_id, error);
}

NatterCallLog *
natter_store_queries_create_call (NatterStoreQueries *self,
                                  const NatterProfile *caller,
                                  const NatterProfile *callee,
                                  const char *call_type,
                                  gint64 conversation_id,
                                  GError **error)
{
  return CALL (self, create_call, caller, callee, call_type, conversation_id, error);
}

NatterCallLog *
natter_store_queries_set_call_status (NatterStoreQueries *self,
                                      gint64 call_log_id,
                                      const char *status,
                                      GError **error)
{
  return CALL (self, set_call_status, call_log_id, status, error);
}

NatterCallLog *
natter_store_queries_end_call (NatterStoreQueries *self, gint64 call_log_id, GError **error)
{
  return CALL (self, end_call, call_log_id, error);
}

gboolean
natter_store_queries_fail_stale_calls (NatterStoreQueries *self, GError **error)
{
  return CALL (self, fail_stale_calls, error);
}

GHashTable *
natter_store_queries_prune_tokens (NatterStoreQueries *self, gint64 now_unix, GError **error)
{
  return CALL (self, prune_tokens, now_unix, error);
}

gboolean
natter_store_queries_is_empty (NatterStoreQueries *self)
{
  return self->klass->is_empty (self);
}

NatterMessage *
natter_store_queries_add_message (NatterStoreQueries *self,
                                  gint64 conversation_id,
                                  const NatterProfile *sender,
                                  const char *text,
                                  GError **error)
{
  return CALL (self, add_message, conversation_id, sender, text, error);
}

typedef struct {
  NatterStoreQueries parent;
  NatterServerDb *db;
} SqliteQueries;

#define DB(self) (((SqliteQueries *) (self))->db)

static gboolean
sqlite_create_user (NatterStoreQueries *self,
                    const char *email,
                    const char *password_hash,
                    const char *display_name,
                    const char *const *profile_types,
                    gint64 *out_user_id,
                    GError **error)
{
  return natter_server_db_create_user (DB (self), email, password_hash, display_name, profile_types,
                                       out_user_id, error);
}

static gboolean
sqlite_find_login (NatterStoreQueries *self,
                   const char *email,
                   gint64 *out_user_id,
                   char **out_password_hash,
                   GError **error)
{
  return natter_server_db_find_login (DB (self), email, out_user_id, out_password_hash, error);
}

static NatterUser *
sqlite_get_user (NatterStoreQueries *self, gint64 user_id, GError **error)
{
  return natter_server_db_get_user (DB (self), user_id, error);
}

static gboolean
sqlite_add_token (NatterStoreQueries *self,
                  gint64 user_id,
                  const char *token_hash_hex,
                  gint64 expires_unix,
                  gint64 *out_token_id,
                  GError **error)
{
  return natter_server_db_add_token (DB (self), user_id, token_hash_hex, expires_unix, out_token_id,
                                     error);
}

static gboolean
sqlite_lookup_token (NatterStoreQueries *self,
                     const char *token_hash_hex,
                     gint64 now_unix,
                     gint64 *out_user_id,
                     gint64 *out_token_id,
                     GError **error)
{
  return natter_server_db_lookup_token (DB (self), token_hash_hex, now_unix, out_user_id,
                                        out_token_id, error);
}

static gboolean
sqlite_revoke_token (NatterStoreQueries *self, gint64 token_id, GError **error)
{
  return natter_server_db_revoke_token (DB (self), token_id, error);
}

static gboolean
sqlite_revoke_user_tokens (NatterStoreQueries *self, gint64 user_id, GError **error)
{
  return natter_server_db_revoke_user_tokens (DB (self), user_id, error);
}

static gint64
sqlite_get_profile_owner (NatterStoreQueries *self, gint64 profile_id, const char *profile_type)
{
  return natter_server_db_get_profile_owner (DB (self), profile_id, profile_type);
}

static GPtrArray *
sqlite_search_profiles (NatterStoreQueries *self, const char *query, guint limit, GError **error)
{
  return natter_server_db_search_profiles (DB (self), query, limit, error);
}

static gboolean
sqlite_set_avatar (NatterStoreQueries *self,
                   gint64 profile_id,
                   const char *profile_type,
                   GBytes *image,
                   const char *content_type,
                   GError **error)
{
  return natter_server_db_set_avatar (DB (self), profile_id, profile_type, image, content_type,
                                      error);
}

static GBytes *
sqlite_get_avatar (NatterStoreQueries *self,
                   gint64 profile_id,
                   const char *profile_type,
                   char **out_content_type,
                   GError **error)
{
  return natter_server_db_get_avatar (DB (self), profile_id, profile_type, out_content_type, error);
}

static gint64
sqlite_find_direct (NatterStoreQueries *self, const NatterProfile *a, const NatterProfile *b)
{
  return natter_server_db_find_direct (DB (self), a, b);
}

static NatterConversation *
sqlite_get_or_create_direct (NatterStoreQueries *self,
                             const NatterProfile *viewer,
                             const NatterProfile *other,
                             GError **error)
{
  return natter_server_db_get_or_create_direct (DB (self), viewer, other, error);
}

static gboolean
sqlite_is_participant (NatterStoreQueries *self,
                       gint64 conversation_id,
                       const NatterProfile *profile)
{
  return natter_server_db_is_participant (DB (self), conversation_id, profile);
}

static GPtrArray *
sqlite_list_participants (NatterStoreQueries *self, gint64 conversation_id, GError **error)
{
  return natter_server_db_list_participants (DB (self), conversation_id, error);
}

static GPtrArray *
sqlite_list_conversations (NatterStoreQueries *self, const NatterProfile *viewer, GError **error)
{
  g_autoptr (GPtrArray) conversations =
    natter_server_db_list_conversations (DB (self), viewer, error);

  if (conversations == NULL)
    return NULL;
  for (guint i = 0; i < conversations->len; i++) {
    NatterConversation *conversation = g_ptr_array_index (conversations, i);

    if (conversation->last_message != NULL &&
        !natter_server_db_fill_attachments (DB (self), conversation->last_message, error))
      return NULL;
  }

  return g_steal_pointer (&conversations);
}

static GPtrArray *
sqlite_list_messages (NatterStoreQueries *self,
                      gint64 conversation_id,
                      gint64 before_seq,
                      guint limit,
                      gboolean *out_has_more,
                      GError **error)
{
  g_autoptr (GPtrArray) messages = natter_server_db_list_messages (
    DB (self), conversation_id, before_seq, limit, out_has_more, error);

  if (messages == NULL || !natter_server_db_fill_attachments_of_list (DB (self), messages, error))
    return NULL;

  return g_steal_pointer (&messages);
}

static GPtrArray *
sqlite_list_calls (NatterStoreQueries *self,
                   const NatterProfile *profile,
                   guint limit,
                   GError **error)
{
  return natter_server_db_list_calls (DB (self), profile, limit, error);
}

static gboolean
sqlite_add_block (NatterStoreQueries *self,
                  const NatterProfile *blocker,
                  const NatterProfile *blocked,
                  GError **error)
{
  return natter_server_db_add_block (DB (self), blocker, blocked, error);
}

static gboolean
sqlite_remove_block (NatterStoreQueries *self,
                     const NatterProfile *blocker,
                     const NatterProfile *blocked,
                     GError **error)
{
  return natter_server_db_remove_block (DB (self), blocker, blocked, error);
}

static GPtrArray *
sqlite_list_blocks (NatterStoreQueries *self, const NatterProfile *blocker, GError **error)
{
  return natter_server_db_list_blocks (DB (self), blocker, error);
}

static gboolean
sqlite_is_blocked_either (NatterStoreQueries *self, const NatterProfile *a, const NatterProfile *b)
{
  return natter_server_db_is_blocked_either (DB (self), a, b);
}

static void
sqlite_begin_reads (NatterStoreQueries *self)
{
  natter_server_db_begin_reads (DB (self));
}

static void
sqlite_end_reads (NatterStoreQueries *self)
{
  natter_server_db_end_reads (DB (self));
}

static NatterAttachment *
sqlite_add_attachment (NatterStoreQueries *self,
                       gint64 user_id,
                       const NatterProfile *uploader,
                       gint64 conversation_id,
                       const NatterAttachment *attachment,
                       GError **error)
{
  return natter_server_db_add_attachment (DB (self), user_id, uploader, conversation_id, attachment,
                                          error);
}

static gint64
sqlite_get_attachment_usage (NatterStoreQueries *self, gint64 user_id)
{
  return natter_server_db_get_attachment_usage (DB (self), user_id);
}

static NatterAttachmentAccess
sqlite_get_attachment_for_user (NatterStoreQueries *self,
                                gint64 attachment_id,
                                gint64 user_id,
                                NatterAttachment **out_attachment,
                                GError **error)
{
  return natter_server_db_get_attachment_for_user (DB (self), attachment_id, user_id,
                                                   out_attachment, error);
}

static GPtrArray *
sqlite_expire_attachments (NatterStoreQueries *self, gint64 before_ms, GError **error)
{
  return natter_server_db_expire_attachments (DB (self), before_ms, error);
}

static NatterProfile *
sqlite_get_profile (NatterStoreQueries *self,
                    gint64 profile_id,
                    const char *profile_type,
                    GError **error)
{
  return natter_server_db_get_profile (DB (self), profile_id, profile_type, error);
}

static GPtrArray *
sqlite_list_contacts (NatterStoreQueries *self, const NatterProfile *profile, GError **error)
{
  return natter_server_db_list_contacts (DB (self), profile, error);
}

static gboolean
sqlite_took_part (NatterStoreQueries *self, gint64 conversation_id, const NatterProfile *profile)
{
  return natter_server_db_took_part (DB (self), conversation_id, profile);
}

static gint64
sqlite_get_read_seq (NatterStoreQueries *self, gint64 conversation_id, const NatterProfile *profile)
{
  return natter_server_db_get_read_seq (DB (self), conversation_id, profile);
}

static NatterMessage *
sqlite_find_message_by_client_id (NatterStoreQueries *self,
                                  const NatterProfile *sender,
                                  const char *client_msg_id,
                                  gint64 *out_sender_event_id,
                                  GError **error)
{
  g_autoptr (NatterMessage) message =
    natter_server_db_find_message_by_client_id (DB (self), sender, client_msg_id);

  if (message == NULL)
    return NULL;
  *out_sender_event_id = natter_server_db_get_sender_event_id (DB (self), message->message_id);
  if (!natter_server_db_fill_attachments (DB (self), message, error))
    return NULL;
  return g_steal_pointer (&message);
}

static gboolean
sqlite_check_attachments (NatterStoreQueries *self,
                          GArray *attachment_ids,
                          const NatterProfile *sender,
                          gint64 conversation_id,
                          GError **error)
{
  return natter_server_db_check_attachments (DB (self), attachment_ids, sender, conversation_id,
                                             error);
}

static NatterCallLog *
sqlite_get_call (NatterStoreQueries *self, gint64 call_log_id, GError **error)
{
  return natter_server_db_get_call (DB (self), call_log_id, error);
}

static NatterCallLog *
sqlite_create_call (NatterStoreQueries *self,
                    const NatterProfile *caller,
                    const NatterProfile *callee,
                    const char *call_type,
                    gint64 conversation_id,
                    GError **error)
{
  return natter_server_db_create_call (DB (self), caller, callee, call_type, conversation_id,
                                       error);
}

static NatterCallLog *
sqlite_set_call_status (NatterStoreQueries *self,
                        gint64 call_log_id,
                        const char *status,
                        GError **error)
{
  return natter_server_db_set_call_status (DB (self), call_log_id, status, error);
}

static NatterCallLog *
sqlite_end_call (NatterStoreQueries *self, gint64 call_log_id, GError **error)
{
  return natter_server_db_end_call (DB (self), call_log_id, error);
}

static gboolean
sqlite_fail_stale_calls (NatterStoreQueries *self, GError **error)
{
  return natter_server_db_fail_stale_calls (DB (self), error);
}

static GHashTable *
sqlite_prune_tokens (NatterStoreQueries *self, gint64 now_unix, GError **error)
{
  return natter_server_db_prune_tokens (DB (self), now_unix, error);
}

static gboolean
sqlite_is_empty (NatterStoreQueries *self)
{
  return natter_server_db_is_empty (DB (self));
}

static NatterMessage *
sqlite_add_message (NatterStoreQueries *self,
                    gint64 conversation_id,
                    const NatterProfile *sender,
                    const char *text,
                    GError **error)
{
  return natter_server_db_add_message (DB (self), conversation_id, sender, text, NULL, error);
}

static void
sqlite_free (NatterStoreQueries *self)
{
  g_clear_object (&DB (self));
  g_free (self);
}

static const NatterStoreQueriesClass sqlite_class = {
  .create_user = sqlite_create_user,
  .find_login = sqlite_find_login,
  .get_user = sqlite_get_user,
  .add_token = sqlite_add_token,
  .lookup_token = sqlite_lookup_token,
  .revoke_token = sqlite_revoke_token,
  .revoke_user_tokens = sqlite_revoke_user_tokens,
  .get_profile_owner = sqlite_get_profile_owner,
  .search_profiles = sqlite_search_profiles,
  .set_avatar = sqlite_set_avatar,
  .get_avatar = sqlite_get_avatar,
  .find_direct = sqlite_find_direct,
  .get_or_create_direct = sqlite_get_or_create_direct,
  .is_participant = sqlite_is_participant,
  .list_participants = sqlite_list_participants,
  .list_conversations = sqlite_list_conversations,
  .list_messages = sqlite_list_messages,
  .list_calls = sqlite_list_calls,
  .add_block = sqlite_add_block,
  .remove_block = sqlite_remove_block,
  .list_blocks = sqlite_list_blocks,
  .is_blocked_either = sqlite_is_blocked_either,
  .add_attachment = sqlite_add_attachment,
  .get_attachment_usage = sqlite_get_attachment_usage,
  .get_attachment_for_user = sqlite_get_attachment_for_user,
  .expire_attachments = sqlite_expire_attachments,
  .get_profile = sqlite_get_profile,
  .list_contacts = sqlite_list_contacts,
  .took_part = sqlite_took_part,
  .get_read_seq = sqlite_get_read_seq,
  .find_message_by_client_id = sqlite_find_message_by_client_id,
  .check_attachments = sqlite_check_attachments,
  .get_call = sqlite_get_call,
  .create_call = sqlite_create_call,
  .set_call_status = sqlite_set_call_status,
  .end_call = sqlite_end_call,
  .fail_stale_calls = sqlite_fail_stale_calls,
  .prune_tokens = sqlite_prune_tokens,
  .is_empty = sqlite_is_empty,
  .add_message = sqlite_add_message,
  .begin_reads = sqlite_begin_reads,
  .end_reads = sqlite_end_reads,
  .free = sqlite_free,
};

/**
 * natter_store_queries_sqlite_new:
 * @db: (type NatterServerDb): the connection they run on (a reference is kept)
 *
 * Returns: (transfer full): the SQLite backend's queries
 */
NatterStoreQueries *
natter_store_queries_sqlite_new (gpointer db)
{
  SqliteQueries *self = g_new0 (SqliteQueries, 1);

  g_return_val_if_fail (NATTER_IS_SERVER_DB (db), NULL);

  self->parent.klass = &sqlite_class;
  self->db = g_object_ref (db);

  return &self->parent;
}
