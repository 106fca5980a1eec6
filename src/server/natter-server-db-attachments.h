/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-server-db.h"

G_BEGIN_DECLS

/* Attachment metadata (natter-server-db-attachments.c). The bytes live in
 * files named by their SHA-256 (natter-http-attachments.c); a row names
 * who uploaded what to which conversation, and the message that sent it
 * (NULL until sent). */

/* Schema migration 3 of natter-server-db.c. */
extern const char natter_server_db_attachments_migration[];

typedef enum {
  NATTER_ATTACHMENT_ACCESS_NONE,      /* no such attachment, or not yours to see */
  NATTER_ATTACHMENT_ACCESS_FORBIDDEN, /* sent in a conversation you are not in */
  NATTER_ATTACHMENT_ACCESS_ALLOWED,
} NatterAttachmentAccess;

NatterAttachment *natter_server_db_add_attachment (NatterServerDb *self,
                                                   gint64 user_id,
                                                   const NatterProfile *uploader,
                                                   gint64 conversation_id,
                                                   const NatterAttachment *attachment,
                                                   GError **error);
/* Bytes of every attachment row of @user_id, sent or not. */
gint64 natter_server_db_get_attachment_usage (NatterServerDb *self, gint64 user_id);
/* TRUE when one of @user_id's profiles is a participant. */
gboolean natter_server_db_user_in_conversation (NatterServerDb *self,
                                                gint64 conversation_id,
                                                gint64 user_id);
/* Whether @user_id may download @attachment_id; on ALLOWED *out_attachment
 * is set (transfer full). */
NatterAttachmentAccess natter_server_db_get_attachment_for_user (NatterServerDb *self,
                                                                 gint64 attachment_id,
                                                                 gint64 user_id,
                                                                 NatterAttachment **out_attachment,
                                                                 GError **error);
/* Checks the ids of a chat_message: each uploaded by @sender to
 * @conversation_id and not yet sent. A refusal is a NATTER_PROTOCOL_ERROR
 * (not_found, not_allowed) for the error frame; a storage failure a
 * NATTER_SERVER_DB_ERROR. */
gboolean natter_server_db_check_attachments (NatterServerDb *self,
                                             GArray *attachment_ids,
                                             const NatterProfile *sender,
                                             gint64 conversation_id,
                                             GError **error);
/* Marks them sent with @message (inside the transaction that stored it)
 * and sets message->attachments, in the order given. */
gboolean natter_server_db_link_attachments (NatterServerDb *self,
                                            NatterMessage *message,
                                            GArray *attachment_ids,
                                            GError **error);
/* Sets message->attachments of a stored message (NULL when none). */
gboolean
natter_server_db_fill_attachments (NatterServerDb *self, NatterMessage *message, GError **error);
gboolean natter_server_db_fill_attachments_of_list (NatterServerDb *self,
                                                    GPtrArray *messages,
                                                    GError **error);
/* Deletes the unsent rows created before @before_ms (Unix milliseconds);
 * returns the SHA-256s no row references any more (transfer full), whose
 * files may go. */
GPtrArray *
natter_server_db_expire_attachments (NatterServerDb *self, gint64 before_ms, GError **error);
gboolean natter_server_db_attachment_hash_in_use (NatterServerDb *self, const char *sha256);

G_END_DECLS
