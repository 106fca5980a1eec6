/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-store"

#include "config.h"

#include "natter-server-db.h"
#include "natter-server-store.h"

G_DEFINE_INTERFACE (NatterServerStore, natter_server_store, G_TYPE_OBJECT)

static void
natter_server_store_default_init (NatterServerStoreInterface *iface)
{
}

/**
 * natter_server_store_store_chat_messages:
 * @self: the store
 * @messages: (element-type NatterStoreChatMessage): requests, kept alive by
 *   the caller until @done ran
 * @done: runs on the main context once they are durable, or failed together
 * @user_data: for @done
 */
void
natter_server_store_store_chat_messages (NatterServerStore *self,
                                         GPtrArray *messages,
                                         NatterServerStoreDone done,
                                         gpointer user_data)
{
  g_return_if_fail (NATTER_IS_SERVER_STORE (self));
  g_return_if_fail (messages != NULL && done != NULL);

  NATTER_SERVER_STORE_GET_IFACE (self)->store_chat_messages (self, messages, done, user_data);
}

void
natter_server_store_mark_read (NatterServerStore *self,
                               NatterStoreReadMark *mark,
                               NatterServerStoreDone done,
                               gpointer user_data)
{
  g_return_if_fail (NATTER_IS_SERVER_STORE (self));
  g_return_if_fail (mark != NULL && done != NULL);

  NATTER_SERVER_STORE_GET_IFACE (self)->mark_read (self, mark, done, user_data);
}

void
natter_server_store_add_event (NatterServerStore *self,
                               NatterStoreEvent *event,
                               NatterServerStoreDone done,
                               gpointer user_data)
{
  g_return_if_fail (NATTER_IS_SERVER_STORE (self));
  g_return_if_fail (event != NULL && done != NULL);

  NATTER_SERVER_STORE_GET_IFACE (self)->add_event (self, event, done, user_data);
}

/**
 * natter_server_store_flush:
 * @self: the store
 *
 * Blocks until every request made so far is stored (or failed) and has had
 * its callback: for shutdown, so that nothing committed goes unacknowledged.
 */
void
natter_server_store_flush (NatterServerStore *self)
{
  g_return_if_fail (NATTER_IS_SERVER_STORE (self));

  NATTER_SERVER_STORE_GET_IFACE (self)->flush (self);
}

void
natter_server_store_authenticate (NatterServerStore *self,
                                  const char *token_hash_hex,
                                  gint64 now_unix,
                                  const NatterProfile *profile,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_return_if_fail (NATTER_IS_SERVER_STORE (self));
  g_return_if_fail (token_hash_hex != NULL && profile != NULL);

  NATTER_SERVER_STORE_GET_IFACE (self)->authenticate (self, token_hash_hex, now_unix, profile,
                                                      callback, user_data);
}

/**
 * natter_server_store_authenticate_finish:
 * @self: the store
 * @result: the callback's result
 * @error: a #NatterServerDbError: NOT_FOUND for a token that is not valid
 *
 * Returns: (transfer full) (nullable): the token's user and the profile
 */
NatterStoreAuth *
natter_server_store_authenticate_finish (NatterServerStore *self,
                                         GAsyncResult *result,
                                         GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_server_store_list_participants (NatterServerStore *self,
                                       gint64 conversation_id,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data)
{
  g_return_if_fail (NATTER_IS_SERVER_STORE (self));

  NATTER_SERVER_STORE_GET_IFACE (self)->list_participants (self, conversation_id, callback,
                                                           user_data);
}

/**
 * natter_server_store_list_participants_finish:
 * @self: the store
 * @result: the callback's result
 * @error: a #NatterServerDbError
 *
 * Returns: (transfer full) (element-type NatterProfile) (nullable): the
 *   participants, empty for no such conversation
 */
GPtrArray *
natter_server_store_list_participants_finish (NatterServerStore *self,
                                              GAsyncResult *result,
                                              GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_server_store_resolve_direct (NatterServerStore *self,
                                    const NatterProfile *sender,
                                    const NatterProfile *to,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  g_return_if_fail (NATTER_IS_SERVER_STORE (self));
  g_return_if_fail (sender != NULL && to != NULL);

  NATTER_SERVER_STORE_GET_IFACE (self)->resolve_direct (self, sender, to, callback, user_data);
}

/**
 * natter_server_store_resolve_direct_finish:
 * @self: the store
 * @result: the callback's result
 * @error: a #NatterServerDbError: NOT_FOUND for no such profile
 *
 * Returns: (transfer full) (nullable): where the message goes
 */
NatterStoreDirect *
natter_server_store_resolve_direct_finish (NatterServerStore *self,
                                           GAsyncResult *result,
                                           GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_direct_free (NatterStoreDirect *direct)
{
  if (direct == NULL)
    return;

  g_clear_pointer (&direct->to, natter_profile_free);
  g_free (direct);
}

void
natter_server_store_replay (NatterServerStore *self,
                            const NatterProfile *profile,
                            gint64 after_event_id,
                            guint limit,
                            GAsyncReadyCallback callback,
                            gpointer user_data)
{
  g_return_if_fail (NATTER_IS_SERVER_STORE (self));
  g_return_if_fail (profile != NULL);

  NATTER_SERVER_STORE_GET_IFACE (self)->replay (self, profile, after_event_id, limit, callback,
                                                user_data);
}

/**
 * natter_server_store_replay_finish:
 * @self: the store
 * @result: the callback's result
 * @error: a #NatterServerDbError
 *
 * Returns: (transfer full) (nullable): the events and the last id
 */
NatterStoreReplay *
natter_server_store_replay_finish (NatterServerStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_store_auth_free (NatterStoreAuth *auth)
{
  if (auth == NULL)
    return;

  g_clear_pointer (&auth->profile, natter_profile_free);
  g_free (auth);
}

void
natter_store_replay_free (NatterStoreReplay *replay)
{
  if (replay == NULL)
    return;

  g_clear_pointer (&replay->events, g_ptr_array_unref);
  g_free (replay->epoch);
  g_free (replay);
}

NatterStoreChatMessage *
natter_store_chat_message_new (const NatterProfile *sender,
                               gint64 conversation_id,
                               const char *text,
                               const char *client_msg_id,
                               GPtrArray *participants)
{
  NatterStoreChatMessage *message = g_new0 (NatterStoreChatMessage, 1);

  message->sender = natter_profile_copy (sender);
  message->conversation_id = conversation_id;
  message->text = g_strdup (text);
  message->client_msg_id = g_strdup (client_msg_id);
  message->participants = g_ptr_array_ref (participants);

  return message;
}

void
natter_store_chat_message_free (NatterStoreChatMessage *message)
{
  if (message == NULL)
    return;

  g_clear_pointer (&message->sender, natter_profile_free);
  g_clear_pointer (&message->to_profile, natter_profile_free);
  g_free (message->text);
  g_free (message->client_msg_id);
  g_clear_pointer (&message->participants, g_ptr_array_unref);
  g_clear_pointer (&message->attachment_ids, g_array_unref);
  g_clear_pointer (&message->message, natter_message_free);
  g_clear_pointer (&message->event_texts, g_ptr_array_unref);
  g_free (message->message_json);
  g_free (message);
}

NatterStoreReadMark *
natter_store_read_mark_new (const NatterProfile *reader,
                            gint64 conversation_id,
                            gint64 up_to_seq,
                            GPtrArray *participants)
{
  NatterStoreReadMark *mark = g_new0 (NatterStoreReadMark, 1);

  mark->reader = natter_profile_copy (reader);
  mark->conversation_id = conversation_id;
  mark->up_to_seq = up_to_seq;
  mark->participants = g_ptr_array_ref (participants);

  return mark;
}

void
natter_store_read_mark_free (NatterStoreReadMark *mark)
{
  if (mark == NULL)
    return;

  g_clear_pointer (&mark->reader, natter_profile_free);
  g_clear_pointer (&mark->participants, g_ptr_array_unref);
  g_clear_pointer (&mark->event_texts, g_ptr_array_unref);
  g_free (mark);
}

NatterStoreEvent *
natter_store_event_new (const NatterProfile *profile, NatterFrame *frame)
{
  NatterStoreEvent *event = g_atomic_rc_box_new0 (NatterStoreEvent);

  event->profile = natter_profile_copy (profile);
  event->frame = frame;

  return event;
}

NatterStoreEvent *
natter_store_event_ref (NatterStoreEvent *event)
{
  return g_atomic_rc_box_acquire (event);
}

static void
store_event_clear (gpointer data)
{
  NatterStoreEvent *event = data;

  g_clear_pointer (&event->profile, natter_profile_free);
  g_clear_pointer (&event->frame, natter_frame_free);
  g_clear_pointer (&event->replaces, natter_store_event_unref);
  g_free (event->text);
}

void
natter_store_event_unref (NatterStoreEvent *event)
{
  g_atomic_rc_box_release_full (event, store_event_clear);
}

void
natter_store_stamp_sender (NatterFrame *frame, const NatterProfile *sender)
{
  frame->from_profile_id = sender->profile_id;
  g_free (frame->from_profile_type);
  frame->from_profile_type = g_strdup (sender->profile_type);
  g_free (frame->from_name);
  frame->from_name = g_strdup (sender->display_name);
  g_free (frame->from_avatar);
  frame->from_avatar = g_strdup (sender->avatar_url);
}

/**
 * natter_server_store_read_task_new:
 * @self: the backend
 * @source_tag: the read's function
 * @callback: the caller's callback
 * @user_data: its data
 *
 * Returns: (transfer full): the task a backend's read answers through
 */
GTask *
natter_server_store_read_task_new (NatterServerStore *self,
                                   gpointer source_tag,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, source_tag);

  return task;
}

/**
 * natter_server_store_query:
 * @self: the store
 * @func: what to run, with the backend's queries
 * @data: for @func
 * @data_free: (nullable): frees @data once @func ran
 * @result_free: (nullable): frees what @func returned when nobody takes it
 * @callback: runs on the main context
 * @user_data: for @callback
 */
void
natter_server_store_query (NatterServerStore *self,
                           NatterStoreQueryFunc func,
                           gpointer data,
                           GDestroyNotify data_free,
                           GDestroyNotify result_free,
                           GAsyncReadyCallback callback,
                           gpointer user_data)
{
  g_return_if_fail (NATTER_IS_SERVER_STORE (self));
  g_return_if_fail (func != NULL);

  NATTER_SERVER_STORE_GET_IFACE (self)->query (self, func, data, data_free, result_free, callback,
                                               user_data);
}

/**
 * natter_server_store_query_finish:
 * @self: the store
 * @result: the result
 * @error: what failed
 *
 * Returns: (transfer full) (nullable): what the query's function returned
 */
gpointer
natter_server_store_query_finish (NatterServerStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * natter_server_store_query_run:
 * @task: the query's task (taken)
 * @queries: the backend's queries
 * @func: what to run
 * @data: for @func
 * @data_free: (nullable): frees @data
 * @result_free: (nullable): frees the result
 *
 * For backends: runs a query and answers its task.
 */
void
natter_server_store_query_run (GTask *task,
                               NatterStoreQueries *queries,
                               NatterStoreQueryFunc func,
                               gpointer data,
                               GDestroyNotify data_free,
                               GDestroyNotify result_free)
{
  GError *error = NULL;
  gpointer result = func (queries, data, &error);

  if (data_free != NULL)
    data_free (data);
  if (result != NULL)
    g_task_return_pointer (task, result, result_free);
  else if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_new_error (task, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_FAILED,
                             "database: the query returned nothing");
  g_object_unref (task);
}
