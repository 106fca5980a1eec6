/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <sqlite3.h>

#include "natter-store.h"

G_BEGIN_DECLS

/* For the files that keep one concern of the local store each
 * (natter-store-chat.c: drafts, the call log, full-text search). */
sqlite3 *natter_store_get_db (NatterStore *self);
gboolean natter_store_chat_init (NatterStore *self, GError **error);
gint64 natter_store_chat_put_call (NatterStore *self, const NatterCallLog *call, GError **error);

/* natter-store-outbox.c: what the user wrote and the server has not
 * acknowledged yet. */
gboolean natter_store_outbox_init (NatterStore *self, GError **error);

/* natter-store-attachments.c: attachments of stored and outgoing messages,
 * and the index of their files on this disk. */
gboolean natter_store_attachments_init (NatterStore *self, GError **error);
gboolean
natter_store_attachments_put (NatterStore *self, const NatterMessage *message, GError **error);
void natter_store_attachments_load (NatterStore *self, NatterMessage *message);
GPtrArray *natter_store_outbox_attachments_load (NatterStore *self, const char *client_msg_id);

/* Shared by the sibling files: one statement cache, one transaction
 * discipline (signals queued inside a transaction are emitted after its
 * commit). */
sqlite3_stmt *natter_store_statement (NatterStore *self, const char *sql);
void natter_store_bind_text (sqlite3_stmt *stmt, int index, const char *text);
char *natter_store_column_text (sqlite3_stmt *stmt, int index);
gboolean natter_store_step_done (NatterStore *self, sqlite3_stmt *stmt, GError **error);
gboolean natter_store_begin (NatterStore *self, GError **error);
gboolean natter_store_commit (NatterStore *self, GError **error);
void natter_store_rollback (NatterStore *self);
gboolean natter_store_is_own (NatterStore *self, gint64 profile_id, const char *profile_type);
gboolean
natter_store_ensure_conversation (NatterStore *self, gint64 conversation_id, GError **error);
gboolean natter_store_upsert_participant (NatterStore *self,
                                          gint64 conversation_id,
                                          const NatterProfile *profile,
                                          GError **error);
void natter_store_queue_message_added (NatterStore *self, gint64 conversation_id, gint64 seq);
void natter_store_queue_conversation_changed (NatterStore *self, gint64 conversation_id);
void natter_store_queue_conversations_reset (NatterStore *self);
void natter_store_queue_outbox_changed (NatterStore *self, gint64 conversation_id);
void natter_store_emit_outbox_changed (NatterStore *self, gint64 conversation_id);

/* natter-store-messages.c: a message stored once, with its conversation's
 * summary and unread count following. */
gboolean natter_store_insert_message (NatterStore *self,
                                      const NatterMessage *message,
                                      gboolean *out_inserted,
                                      GError **error);

/* natter-store-read-markers.c: read receipts applied, unread counts
 * recounted from our own marker. */
gboolean natter_store_recount_unread (NatterStore *self, gint64 conversation_id, GError **error);
gboolean natter_store_has_pending_read (NatterStore *self, gint64 conversation_id);
gboolean
natter_store_apply_read_receipt (NatterStore *self, const NatterFrame *frame, GError **error);

G_END_DECLS
