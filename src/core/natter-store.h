/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-frame.h"
#include "natter-types.h"

G_BEGIN_DECLS

/**
 * NatterOutboxState:
 * @NATTER_OUTBOX_PENDING: waiting for its message_ack
 * @NATTER_OUTBOX_FAILED: refused for good; kept with the reason, retryable
 */
typedef enum {
  NATTER_OUTBOX_PENDING,
  NATTER_OUTBOX_FAILED,
} NatterOutboxState;

/**
 * NatterOutboxAttachment:
 * @position: its place among the message's attachments, from 0
 * @path: the sender's file
 * @name: the file name sent
 * @content_type: its MIME type
 * @size: bytes, as measured when it was attached
 * @width: an image's width as the sender measured it, or 0
 * @height: an image's height, or 0
 * @attachment_id: the server's id once uploaded, 0 before
 * @sha256: the server's SHA-256 once uploaded
 *
 * A file of a message in the outbox.
 */
typedef struct {
  guint position;
  char *path;
  char *name;
  char *content_type;
  gint64 size;
  int width;
  int height;
  gint64 attachment_id;
  char *sha256;
} NatterOutboxAttachment;

void natter_outbox_attachment_free (NatterOutboxAttachment *attachment);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterOutboxAttachment, natter_outbox_attachment_free)

/**
 * NatterOutboxEntry:
 *
 * A message the user wrote that the server has not acknowledged yet. Either
 * @conversation_id is set, or @to_profile names the peer of a direct
 * conversation not known locally yet.
 */
typedef struct {
  char *client_msg_id;
  gint64 ordinal; /* order of writing */
  gint64 conversation_id;
  NatterProfile *to_profile; /* NULL when conversation_id is set */
  char *text;
  char *created_at;
  NatterOutboxState state;
  char *error_code;
  char *error_message;
  GPtrArray *attachments; /* NatterOutboxAttachment, in order; empty for text only */
} NatterOutboxEntry;

void natter_outbox_entry_free (NatterOutboxEntry *entry);
gboolean natter_outbox_entry_is_uploaded (const NatterOutboxEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterOutboxEntry, natter_outbox_entry_free)

/**
 * NatterPendingRead:
 * @conversation_id: the conversation
 * @up_to_seq: how far we have read it
 *
 * Our own read marker, set here and not yet confirmed by the server.
 */
typedef struct {
  gint64 conversation_id;
  gint64 up_to_seq;
} NatterPendingRead;

#define NATTER_TYPE_STORE (natter_store_get_type ())
G_DECLARE_FINAL_TYPE (NatterStore, natter_store, NATTER, STORE, GObject)

NatterStore *natter_store_new (const char *path, const NatterProfile *own_profile, GError **error);
char *natter_store_build_path (const char *data_dir,
                               const char *server_url,
                               const NatterProfile *profile);

const char *natter_store_get_path (NatterStore *self);
const NatterProfile *natter_store_get_own_profile (NatterStore *self);
gint64 natter_store_get_last_event_id (NatterStore *self);

void natter_store_begin_sync (NatterStore *self);
gboolean natter_store_end_sync (NatterStore *self, gint64 last_event_id, GError **error);
gboolean natter_store_check_epoch (NatterStore *self,
                                   const char *server_epoch,
                                   gint64 server_last_event_id,
                                   GError **error);
gboolean natter_store_take_position_reset (NatterStore *self);
gboolean natter_store_note_own_event (NatterStore *self, gint64 event_id, GError **error);
gboolean natter_store_apply_event (NatterStore *self,
                                   const NatterFrame *frame,
                                   gboolean *out_applied,
                                   GError **error);
gboolean natter_store_add_messages (NatterStore *self, GPtrArray *messages, GError **error);
gboolean
natter_store_set_conversations (NatterStore *self, GPtrArray *conversations, GError **error);
gboolean natter_store_set_has_older (NatterStore *self,
                                     gint64 conversation_id,
                                     gboolean has_older,
                                     GError **error);
gboolean natter_store_get_has_older (NatterStore *self, gint64 conversation_id);

/* Conversations */
GPtrArray *natter_store_load_conversations (NatterStore *self);
NatterConversation *natter_store_load_conversation (NatterStore *self, gint64 conversation_id);
gint64 natter_store_find_direct_conversation (NatterStore *self, const NatterProfile *peer);
gint64
natter_store_get_read_seq (NatterStore *self, gint64 conversation_id, const NatterProfile *profile);
gint64 natter_store_get_last_seq (NatterStore *self, gint64 conversation_id);
gboolean natter_store_mark_read (NatterStore *self,
                                 gint64 conversation_id,
                                 gint64 up_to_seq,
                                 gboolean *out_changed,
                                 GError **error);
GArray *natter_store_list_pending_reads (NatterStore *self);

/* Messages, oldest first */
guint natter_store_count_messages (NatterStore *self, gint64 conversation_id);
GPtrArray *
natter_store_load_messages (NatterStore *self, gint64 conversation_id, guint offset, guint limit);
guint natter_store_get_message_position (NatterStore *self, gint64 conversation_id, gint64 seq);
gint64 natter_store_get_oldest_seq (NatterStore *self, gint64 conversation_id);
gint64 natter_store_get_history_edge (NatterStore *self, gint64 conversation_id);

/* Outbox, in writing order */
gboolean natter_store_outbox_add (NatterStore *self,
                                  const char *client_msg_id,
                                  gint64 conversation_id,
                                  const NatterProfile *to_profile,
                                  const char *text,
                                  GError **error);
GPtrArray *
natter_store_outbox_list (NatterStore *self, gint64 conversation_id, gboolean pending_only);
NatterOutboxEntry *natter_store_outbox_lookup (NatterStore *self, const char *client_msg_id);
gboolean natter_store_outbox_ack (NatterStore *self,
                                  const char *client_msg_id,
                                  const NatterMessage *message,
                                  gboolean *out_applied,
                                  GError **error);
gboolean natter_store_outbox_fail (NatterStore *self,
                                   const char *client_msg_id,
                                   const char *code,
                                   const char *reason,
                                   GError **error);
gboolean natter_store_outbox_retry (NatterStore *self, const char *client_msg_id, GError **error);
gboolean natter_store_outbox_add_with_attachments (NatterStore *self,
                                                   const char *client_msg_id,
                                                   gint64 conversation_id,
                                                   const NatterProfile *to_profile,
                                                   const char *text,
                                                   GPtrArray *attachments,
                                                   GError **error);
gboolean natter_store_outbox_set_uploaded (NatterStore *self,
                                           const char *client_msg_id,
                                           guint position,
                                           const NatterAttachment *uploaded,
                                           GError **error);
gboolean natter_store_outbox_remove (NatterStore *self,
                                     const char *client_msg_id,
                                     gboolean *out_removed,
                                     GError **error);

/* Attachments of stored messages, and the files of them on this disk */
NatterAttachment *natter_store_lookup_attachment (NatterStore *self, gint64 attachment_id);
char *natter_store_get_attachment_file (NatterStore *self, gint64 attachment_id);
gboolean natter_store_set_attachment_file (NatterStore *self,
                                           gint64 attachment_id,
                                           const char *path,
                                           gboolean cached,
                                           gint64 size,
                                           GError **error);
gboolean
natter_store_forget_attachment_file (NatterStore *self, gint64 attachment_id, GError **error);
gint64 natter_store_get_cache_size (NatterStore *self);
GArray *natter_store_list_cached_files (NatterStore *self);
char *natter_store_get_cache_dir (NatterStore *self);

/* Drafts, one per conversation */
char *natter_store_get_draft (NatterStore *self, gint64 conversation_id);
gboolean natter_store_set_draft (NatterStore *self,
                                 gint64 conversation_id,
                                 const char *text,
                                 GError **error);

/* The call log, merged into each conversation's timeline */
gboolean natter_store_add_calls (NatterStore *self, GPtrArray *calls, GError **error);
GPtrArray *natter_store_load_calls (NatterStore *self, gint64 conversation_id);
guint
natter_store_count_messages_before (NatterStore *self, gint64 conversation_id, const char *time);

/* Full-text search over the stored messages */
typedef struct {
  gint64 conversation_id;
  gint64 seq;
} NatterSearchHit;

GArray *natter_store_search_messages (NatterStore *self,
                                      gint64 conversation_id,
                                      const char *text,
                                      guint limit);
gboolean
natter_store_conversation_has_match (NatterStore *self, gint64 conversation_id, const char *text);

G_END_DECLS
