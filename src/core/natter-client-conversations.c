/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-client"

/* Conversations over HTTP for the views (PROTOCOL.md:
 * /api/as/{id}/{type}/conversations and …/messages): starting one with a
 * person, and a page of history as the server holds it. The views call
 * these instead of building request bodies or parsing answers. */

#include "config.h"

#include "natter-client-private.h"

#include "natter-http-body.h"

typedef struct {
  GPtrArray *messages; /* NatterMessage */
  gboolean has_more;
} HistoryPage;

static void
history_page_free (HistoryPage *page)
{
  g_clear_pointer (&page->messages, g_ptr_array_unref);
  g_free (page);
}

static void
on_conversation_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  NatterConversation *conversation;

  body = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  if (body == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  conversation =
    natter_conversation_parse (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
  if (conversation == NULL)
    g_task_return_new_error (task, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_BAD_RESPONSE,
                             "Bad conversation: %s", error->message);
  else
    g_task_return_pointer (task, conversation, (GDestroyNotify) natter_conversation_free);
}

/**
 * natter_client_start_conversation_async:
 * @self: a #NatterClient
 * @peer: the profile to talk with
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the server's answer
 * @user_data: for @callback
 *
 * Asks the server for the direct conversation of the active profile with
 * @peer: the existing one if there is one, a new one otherwise.
 */
void
natter_client_start_conversation_async (NatterClient *self,
                                        const NatterProfile *peer,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GPtrArray) with = NULL;
  g_autofree char *path = NULL;
  g_autofree char *body = NULL;
  NatterAccount *account;

  g_return_if_fail (NATTER_IS_CLIENT (self));
  g_return_if_fail (peer != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_client_start_conversation_async);
  if (!natter_client_check_signed_in (self, task))
    return;

  with = g_ptr_array_new ();
  g_ptr_array_add (with, (gpointer) peer);
  body = natter_conversation_request_to_json (with);

  account = natter_client_get_account (self);
  path = natter_account_build_profile_path (account, "/conversations");
  natter_account_request_async (account, "POST", path, body, cancellable, on_conversation_answer,
                                g_steal_pointer (&task));
}

/**
 * natter_client_start_conversation_finish:
 * @self: a #NatterClient
 * @result: the result
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the conversation; %NULL on error
 */
NatterConversation *
natter_client_start_conversation_finish (NatterClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
on_history_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  HistoryPage *page;
  GPtrArray *messages;
  gboolean has_more = FALSE;

  body = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  if (body == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  messages = natter_message_page_parse (g_bytes_get_data (body, NULL), g_bytes_get_size (body),
                                        &has_more, &error);
  if (messages == NULL) {
    g_task_return_new_error (task, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_BAD_RESPONSE,
                             "Bad history page: %s", error->message);
    return;
  }

  page = g_new0 (HistoryPage, 1);
  page->messages = messages;
  page->has_more = has_more;
  g_task_return_pointer (task, page, (GDestroyNotify) history_page_free);
}

/**
 * natter_client_fetch_history_async:
 * @self: a #NatterClient
 * @conversation_id: the conversation
 * @before_seq: the page ends below this seq; 0 for the newest messages
 * @limit: how many messages, 1 to %NATTER_HISTORY_LIMIT_MAX
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the page
 * @user_data: for @callback
 *
 * Fetches one page of a conversation's messages as the server holds them,
 * without storing them (the message list keeps the local cache).
 */
void
natter_client_fetch_history_async (NatterClient *self,
                                   gint64 conversation_id,
                                   gint64 before_seq,
                                   guint limit,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autofree char *path = NULL;
  NatterAccount *account;

  g_return_if_fail (NATTER_IS_CLIENT (self));
  g_return_if_fail (conversation_id > 0);
  g_return_if_fail (before_seq >= 0);
  g_return_if_fail (limit >= 1 && limit <= NATTER_HISTORY_LIMIT_MAX);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_client_fetch_history_async);
  if (!natter_client_check_signed_in (self, task))
    return;

  account = natter_client_get_account (self);
  if (before_seq > 0)
    path = natter_account_build_profile_path (account,
                                              "/conversations/%" G_GINT64_FORMAT
                                              "/messages?before_seq=%" G_GINT64_FORMAT "&limit=%u",
                                              conversation_id, before_seq, limit);
  else
    path = natter_account_build_profile_path (
      account, "/conversations/%" G_GINT64_FORMAT "/messages?limit=%u", conversation_id, limit);
  natter_account_request_async (account, "GET", path, NULL, cancellable, on_history_answer,
                                g_steal_pointer (&task));
}

/**
 * natter_client_fetch_history_finish:
 * @self: a #NatterClient
 * @result: the result
 * @out_has_more: (out) (optional): whether older messages exist
 * @error: a #GError
 *
 * Returns: (transfer full) (element-type NatterMessage) (nullable): the
 *   messages, oldest first; %NULL on error
 */
GPtrArray *
natter_client_fetch_history_finish (NatterClient *self,
                                    GAsyncResult *result,
                                    gboolean *out_has_more,
                                    GError **error)
{
  HistoryPage *page;
  GPtrArray *messages;

  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  if (out_has_more != NULL)
    *out_has_more = FALSE;

  page = g_task_propagate_pointer (G_TASK (result), error);
  if (page == NULL)
    return NULL;

  if (out_has_more != NULL)
    *out_has_more = page->has_more;
  messages = g_steal_pointer (&page->messages);
  history_page_free (page);

  return messages;
}
