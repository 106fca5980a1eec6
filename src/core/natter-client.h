/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-account.h"
#include "natter-attachment-transfers.h"
#include "natter-call-manager.h"
#include "natter-connection.h"
#include "natter-conversation-list.h"
#include "natter-message-list.h"
#include "natter-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CLIENT (natter_client_get_type ())
G_DECLARE_FINAL_TYPE (NatterClient, natter_client, NATTER, CLIENT, GObject)

NatterClient *natter_client_new (const char *server_url, const char *data_dir);
NatterClient *natter_client_new_for_profile (NatterClient *signed_in, const NatterProfile *profile);

NatterAccount *natter_client_get_account (NatterClient *self);
NatterConnection *natter_client_get_connection (NatterClient *self);
NatterCallManager *natter_client_get_call_manager (NatterClient *self);
NatterStore *natter_client_get_store (NatterClient *self);
GListModel *natter_client_get_conversations (NatterClient *self);

void natter_client_sign_in_async (NatterClient *self,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean natter_client_sign_in_finish (NatterClient *self, GAsyncResult *result, GError **error);

void natter_client_sign_out_async (NatterClient *self,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data);
void natter_client_sign_out_everywhere_async (NatterClient *self,
                                              GCancellable *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer user_data);
gboolean natter_client_sign_out_finish (NatterClient *self, GAsyncResult *result, GError **error);

void natter_client_refresh_conversations_async (NatterClient *self,
                                                GCancellable *cancellable,
                                                GAsyncReadyCallback callback,
                                                gpointer user_data);
gboolean natter_client_refresh_conversations_finish (NatterClient *self,
                                                     GAsyncResult *result,
                                                     GError **error);

void natter_client_refresh_calls_async (NatterClient *self,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer user_data);
gboolean
natter_client_refresh_calls_finish (NatterClient *self, GAsyncResult *result, GError **error);

NatterMessageList *natter_client_open_conversation (NatterClient *self, gint64 conversation_id);

char *natter_client_send_message (NatterClient *self,
                                  gint64 conversation_id,
                                  const char *text,
                                  GError **error);
char *natter_client_send_message_to_profile (NatterClient *self,
                                             const NatterProfile *peer,
                                             const char *text,
                                             GError **error);
gboolean
natter_client_retry_message (NatterClient *self, const char *client_msg_id, GError **error);
gboolean natter_client_mark_read (NatterClient *self, gint64 conversation_id, gint64 up_to_seq);
gboolean natter_client_set_typing (NatterClient *self, gint64 conversation_id, gboolean active);

NatterAttachmentTransfers *natter_client_get_attachment_transfers (NatterClient *self);
void natter_client_set_attachment_cache_limit (NatterClient *self, guint64 bytes);

/* natter-client-attachments.c */
char *natter_client_send_message_with_attachments (NatterClient *self,
                                                   gint64 conversation_id,
                                                   const NatterProfile *peer,
                                                   const char *text,
                                                   GPtrArray *files,
                                                   GError **error);
gboolean
natter_client_cancel_message (NatterClient *self, const char *client_msg_id, GError **error);
void natter_client_download_attachment_async (NatterClient *self,
                                              gint64 attachment_id,
                                              GCancellable *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer user_data);
char *
natter_client_download_attachment_finish (NatterClient *self, GAsyncResult *result, GError **error);

/* natter-client-conversations.c */
void natter_client_start_conversation_async (NatterClient *self,
                                             const NatterProfile *peer,
                                             GCancellable *cancellable,
                                             GAsyncReadyCallback callback,
                                             gpointer user_data);
NatterConversation *
natter_client_start_conversation_finish (NatterClient *self, GAsyncResult *result, GError **error);
void natter_client_fetch_history_async (NatterClient *self,
                                        gint64 conversation_id,
                                        gint64 before_seq,
                                        guint limit,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer user_data);
GPtrArray *natter_client_fetch_history_finish (NatterClient *self,
                                               GAsyncResult *result,
                                               gboolean *out_has_more,
                                               GError **error);

/* natter-client-blocks.c */
void natter_client_list_blocked_async (NatterClient *self,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
GPtrArray *
natter_client_list_blocked_finish (NatterClient *self, GAsyncResult *result, GError **error);
void natter_client_set_blocked_async (NatterClient *self,
                                      const NatterProfile *profile,
                                      gboolean blocked,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data);
gboolean
natter_client_set_blocked_finish (NatterClient *self, GAsyncResult *result, GError **error);

G_END_DECLS
