/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-hub"

/* The hub's chat: the route cache, chat messages on their way to the store
 * and back (group commit, acks and deliveries after the commit), typing,
 * read marks and the replay of events. */

#include "natter-hub-private.h"
#include "natter-server-db-attachments.h"

#include <string.h>

#define CHAT_BATCH_MAX 512
/* Routes kept before the cache starts again from empty. */
#define ROUTES_MAX 65536

static void
route_clear (gpointer data)
{
  NatterConversationRoute *route = data;

  g_clear_pointer (&route->participants, g_ptr_array_unref);
  g_clear_pointer (&route->keys, g_ptr_array_unref);
}

void
natter_conversation_route_release (gpointer data)
{
  g_rc_box_release_full (data, route_clear);
}

/* The conversation's route from the cache or the database; NULL with
 * *not_found set when it does not exist, NULL with @error on a storage
 * failure. */
NatterConversationRoute *
natter_hub_lookup_route (NatterHub *self, gint64 conversation_id, GError **error)
{
  NatterConversationRoute *route = g_hash_table_lookup (self->routes, &conversation_id);
  g_autoptr (GPtrArray) participants = NULL;

  if (route != NULL)
    return g_rc_box_acquire (route);

  participants = natter_server_db_list_participants (self->db, conversation_id, error);
  if (participants == NULL)
    return NULL;
  if (participants->len == 0) {
    g_set_error_literal (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                         "no such conversation");
    return NULL;
  }

  route = g_rc_box_new0 (NatterConversationRoute);
  route->keys = g_ptr_array_new_full (participants->len, g_free);
  for (guint i = 0; i < participants->len; i++) {
    NatterProfile *participant = g_ptr_array_index (participants, i);

    g_ptr_array_add (route->keys,
                     natter_hub_profile_key (participant->profile_id, participant->profile_type));
  }
  route->participants = g_steal_pointer (&participants);

  if (g_hash_table_size (self->routes) >= ROUTES_MAX)
    g_hash_table_remove_all (self->routes);
  g_hash_table_insert (self->routes, g_memdup2 (&conversation_id, sizeof conversation_id),
                       g_rc_box_acquire (route));

  return route;
}

/* NULL after sending the error frame when @profile may not use the
 * conversation: not_found when it does not exist, not_allowed when the
 * profile is not one of its participants. */
static NatterConversationRoute *
get_route_for (NatterHub *self,
               NatterHubConnection *connection,
               gint64 conversation_id,
               const char *ref)
{
  const NatterProfile *profile = natter_hub_connection_get_profile (connection);
  g_autoptr (NatterConversationRoute) route = NULL;
  g_autoptr (GError) error = NULL;

  route = natter_hub_lookup_route (self, conversation_id, &error);
  if (route == NULL) {
    if (g_error_matches (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND))
      natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_FOUND,
                                        "no such conversation", ref);
    else
      natter_hub_send_internal_error (connection, error, ref);
    return NULL;
  }

  for (guint i = 0; i < route->participants->len; i++) {
    if (natter_profile_equal (g_ptr_array_index (route->participants, i), profile))
      return g_steal_pointer (&route);
  }

  natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                    "you are not a participant of this conversation", ref);
  return NULL;
}

/* The conversation a chat_message goes to. 0 with *out_to set when its
 * to_profile_* names a profile without a direct conversation with the
 * sender yet: the store creates it with the message. 0 alone after sending
 * the error frame. */
static gint64
resolve_conversation (NatterHub *self,
                      NatterHubConnection *connection,
                      NatterFrame *frame,
                      NatterProfile **out_to)
{
  const NatterProfile *sender = natter_hub_connection_get_profile (connection);
  NatterProfile to = { 0 };
  g_autoptr (GError) error = NULL;
  gint64 conversation_id;

  *out_to = NULL;

  if (frame->conversation_id != 0)
    return frame->conversation_id;

  if (frame->to_profile_id == 0 || frame->to_profile_type == NULL) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_BAD_FRAME,
                                      "conversation_id or to_profile_id and to_profile_type needed",
                                      frame->client_msg_id);
    return 0;
  }

  to.profile_id = frame->to_profile_id;
  to.profile_type = frame->to_profile_type;
  if (natter_profile_equal (&to, sender)) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                      "you cannot write to yourself", frame->client_msg_id);
    return 0;
  }

  if (natter_server_db_is_blocked_either (self->db, sender, &to)) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                      "you cannot write to this profile", frame->client_msg_id);
    return 0;
  }

  /* Only the id: the conversation itself is never read here. */
  conversation_id = natter_server_db_find_direct (self->db, sender, &to);
  if (conversation_id != 0)
    return conversation_id;

  *out_to = natter_server_db_get_profile (self->db, to.profile_id, to.profile_type, &error);
  if (*out_to == NULL) {
    if (g_error_matches (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND))
      natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_FOUND,
                                        "no such profile", frame->client_msg_id);
    else
      natter_hub_send_internal_error (connection, error, frame->client_msg_id);
  }

  return 0;
}

/* The route of a direct conversation the store is about to create. */
static NatterConversationRoute *
new_direct_route (const NatterProfile *sender, const NatterProfile *to)
{
  NatterConversationRoute *route = g_rc_box_new0 (NatterConversationRoute);

  route->participants = g_ptr_array_new_full (2, (GDestroyNotify) natter_profile_free);
  g_ptr_array_add (route->participants, natter_profile_copy (sender));
  g_ptr_array_add (route->participants, natter_profile_copy (to));
  route->keys = g_ptr_array_new_full (2, g_free);
  g_ptr_array_add (route->keys, natter_hub_profile_key (sender->profile_id, sender->profile_type));
  g_ptr_array_add (route->keys, natter_hub_profile_key (to->profile_id, to->profile_type));

  return route;
}

static void
send_message_ack (NatterHubConnection *connection, const NatterMessage *message, gint64 event_id)
{
  g_autoptr (NatterFrame) ack = natter_frame_new (NATTER_FRAME_MESSAGE_ACK);

  ack->client_msg_id = g_strdup (message->client_msg_id);
  ack->event_id = event_id;
  ack->message = natter_message_copy (message);
  natter_hub_connection_send_frame (connection, ack);
}

/* The same ack around the message the store serialized for the events. */
static void
send_message_ack_text (NatterHubConnection *connection,
                       const NatterMessage *message,
                       const char *message_json,
                       gint64 event_id)
{
  g_autoptr (NatterFrame) ack = natter_frame_new (NATTER_FRAME_MESSAGE_ACK);
  g_autofree char *text = NULL;

  ack->client_msg_id = g_strdup (message->client_msg_id);
  ack->event_id = event_id;
  text = natter_frame_to_json_with_message (ack, message_json, NULL);
  natter_hub_connection_send_text (connection, "message_ack", text);
}

/* One chat_message of a group commit, and what to send once it is on disk. */
typedef struct {
  NatterHubConnection *connection;
  NatterFrame *frame;
  NatterConversationRoute *route;  /* NULL when refused or already stored */
  NatterStoreChatMessage *request; /* NULL when refused or already stored */
  NatterMessage *stored;           /* stored before this batch: acked at once */
  gint64 stored_event_id;
} PendingChat;

/* The chat messages handed to the store in one call. */
typedef struct {
  NatterHub *hub;
  GPtrArray *pending;  /* PendingChat */
  GPtrArray *requests; /* NatterStoreChatMessage (unowned: the PendingChat's) */
} ChatBatch;

/* TRUE when @sender and another participant blocked one another. */
static gboolean
route_is_blocked (NatterHub *self, NatterConversationRoute *route, const NatterProfile *sender)
{
  for (guint i = 0; i < route->participants->len; i++) {
    const NatterProfile *participant = g_ptr_array_index (route->participants, i);

    if (!natter_profile_equal (participant, sender) &&
        natter_server_db_is_blocked_either (self->db, sender, participant))
      return TRUE;
  }

  return FALSE;
}

void
natter_hub_chat_pending_free (gpointer data)
{
  PendingChat *pending = data;

  g_clear_object (&pending->connection);
  g_clear_pointer (&pending->frame, natter_frame_free);
  g_clear_pointer (&pending->route, natter_conversation_route_release);
  g_clear_pointer (&pending->request, natter_store_chat_message_free);
  g_clear_pointer (&pending->stored, natter_message_free);
  g_free (pending);
}

static void
chat_batch_free (ChatBatch *batch)
{
  g_clear_pointer (&batch->requests, g_ptr_array_unref);
  g_clear_pointer (&batch->pending, g_ptr_array_unref);
  g_clear_object (&batch->hub);
  g_free (batch);
}

/* Decides what the store is asked for: the routing checks, on this thread
 * with the read connection. Sends the error frame and returns FALSE when the
 * message is refused; an earlier copy already on disk is acked at once. */
static gboolean
prepare_chat_message (NatterHub *self, PendingChat *pending)
{
  const NatterProfile *sender = natter_hub_connection_get_profile (pending->connection);
  NatterFrame *frame = pending->frame;
  g_autoptr (NatterProfile) to = NULL;
  gint64 conversation_id;

  /* A retry after a reconnect: same ack, no second copy, no second event.
   * The store checks again for a copy that is not committed yet. */
  pending->stored =
    natter_server_db_find_message_by_client_id (self->db, sender, frame->client_msg_id);
  if (pending->stored != NULL) {
    g_autoptr (GError) error = NULL;

    pending->stored_event_id =
      natter_server_db_get_sender_event_id (self->db, pending->stored->message_id);
    if (!natter_server_db_fill_attachments (self->db, pending->stored, &error)) {
      natter_hub_send_internal_error (pending->connection, error, frame->client_msg_id);
      g_clear_pointer (&pending->stored, natter_message_free);
    }
    return FALSE;
  }

  conversation_id = resolve_conversation (self, pending->connection, frame, &to);
  if (conversation_id == 0 && to == NULL)
    return FALSE;

  if (to != NULL)
    pending->route = new_direct_route (sender, to);
  else
    pending->route =
      get_route_for (self, pending->connection, conversation_id, frame->client_msg_id);
  if (pending->route == NULL)
    return FALSE;
  if (route_is_blocked (self, pending->route, sender)) {
    natter_hub_connection_send_error (pending->connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                      "you cannot write to this profile", frame->client_msg_id);
    g_clear_pointer (&pending->route, natter_conversation_route_release);
    return FALSE;
  }

  /* Only the sender's own unsent uploads to this conversation (a new
   * direct conversation has none). */
  if (frame->attachment_ids != NULL) {
    g_autoptr (GError) error = NULL;

    if (!natter_hub_check_attachments (self, pending->connection, frame, conversation_id, &error)) {
      if (error != NULL)
        natter_hub_send_internal_error (pending->connection, error, frame->client_msg_id);
      g_clear_pointer (&pending->route, natter_conversation_route_release);
      return FALSE;
    }
  }

  pending->request = natter_store_chat_message_new (
    sender, conversation_id, frame->text, frame->client_msg_id, pending->route->participants);
  pending->request->to_profile = g_steal_pointer (&to);
  if (frame->attachment_ids != NULL)
    pending->request->attachment_ids = g_array_ref (frame->attachment_ids);
  return TRUE;
}

static void
deliver_chat_message (NatterHub *self, PendingChat *pending)
{
  NatterStoreChatMessage *request = pending->request;

  if (request == NULL) {
    if (pending->stored != NULL)
      send_message_ack (pending->connection, pending->stored, pending->stored_event_id);
    return;
  }

  if (request->message_json != NULL)
    send_message_ack_text (pending->connection, request->message, request->message_json,
                           request->sender_event_id);
  else
    send_message_ack (pending->connection, request->message, request->sender_event_id);
  if (request->duplicate)
    return;

  /* Only now, after the commit: a failed batch changed nothing. The
   * sender's first message may make the participants contacts. */
  if (request->took_part)
    natter_hub_introduce_participants (self, pending->route, request->message->conversation_id,
                                       natter_hub_connection_get_profile (pending->connection));

  /* The sending connection has its ack; the sender's other devices get the
   * message like everyone else. */
  for (guint i = 0; i < request->event_texts->len; i++)
    natter_hub_deliver_event (self, g_ptr_array_index (pending->route->keys, i),
                              pending->connection, "chat_message",
                              g_ptr_array_index (request->event_texts, i));
}

static void
on_chat_messages_stored (NatterServerStore *store, const GError *error, gpointer user_data)
{
  ChatBatch *batch = user_data;
  NatterHub *self = batch->hub;

  for (guint i = 0; i < batch->pending->len; i++) {
    PendingChat *pending = g_ptr_array_index (batch->pending, i);

    natter_hub_nodes_sending_end (self, pending->connection, pending->frame->client_msg_id);
    if (error == NULL || pending->request == NULL) {
      deliver_chat_message (self, pending);
      continue;
    }

    /* Nothing of the batch is on disk: every sender retries with the same
     * client_msg_id. */
    natter_hub_connection_send_error (pending->connection, NATTER_PROTOCOL_ERROR_INTERNAL,
                                      "the server could not store this, try again",
                                      pending->frame->client_msg_id);
  }
  if (error != NULL)
    g_warning ("Could not store chat messages: %s", error->message);

  chat_batch_free (batch);
}

/* Group commit: the chat messages that arrived in one main-loop iteration
 * go to the store in one request, stored in one transaction (with whatever
 * else is queued), and only then acked and delivered. One commit per
 * message would bound the hub by the disk's write latency. */
void
natter_hub_chat_flush (NatterHub *self)
{
  ChatBatch *batch;

  g_clear_handle_id (&self->chat_flush_id, g_source_remove);
  if (self->pending_chats->len == 0)
    return;

  batch = g_new0 (ChatBatch, 1);
  batch->hub = g_object_ref (self);
  batch->pending = g_steal_pointer (&self->pending_chats);
  batch->requests = g_ptr_array_sized_new (batch->pending->len);
  self->pending_chats = g_ptr_array_new_with_free_func (natter_hub_chat_pending_free);

  for (guint i = 0; i < batch->pending->len; i++) {
    PendingChat *pending = g_ptr_array_index (batch->pending, i);

    if (prepare_chat_message (self, pending))
      g_ptr_array_add (batch->requests, pending->request);
  }

  if (batch->requests->len == 0) {
    on_chat_messages_stored (self->store, NULL, batch);
    return;
  }
  natter_server_store_store_chat_messages (self->store, batch->requests, on_chat_messages_stored,
                                           batch);
}

static gboolean
on_chat_flush (gpointer user_data)
{
  NatterHub *self = user_data;

  self->chat_flush_id = 0;
  natter_hub_chat_flush (self);
  return G_SOURCE_REMOVE;
}

void
natter_hub_chat_queue_message (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame)
{
  PendingChat *pending = g_new0 (PendingChat, 1);

  pending->connection = g_object_ref (connection);
  pending->frame = natter_frame_copy (frame);
  g_ptr_array_add (self->pending_chats, pending);
  natter_hub_nodes_sending_begin (self, connection, frame->client_msg_id);

  if (self->pending_chats->len >= CHAT_BATCH_MAX)
    natter_hub_chat_flush (self);
  else if (self->chat_flush_id == 0)
    /* Default priority, not idle: under load an idle would never run. */
    self->chat_flush_id = g_timeout_add (0, on_chat_flush, self);
}

void
natter_hub_chat_handle_typing (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame)
{
  const NatterProfile *sender = natter_hub_connection_get_profile (connection);
  g_autoptr (NatterConversationRoute) route = NULL;
  g_autoptr (NatterFrame) relay = NULL;
  g_autofree char *text = NULL;

  route = get_route_for (self, connection, frame->conversation_id, NULL);
  if (route == NULL)
    return;

  /* Extra typing frames are dropped silently: they only say "still typing". */
  if (!natter_hub_connection_take_typing (connection, frame->conversation_id))
    return;
  if (route_is_blocked (self, route, sender))
    return;

  relay = natter_frame_new (NATTER_FRAME_TYPING);
  relay->conversation_id = frame->conversation_id;
  relay->active = frame->active;
  natter_hub_stamp_sender (relay, sender);
  text = natter_frame_to_json (relay, NULL);

  for (guint i = 0; i < route->participants->len; i++) {
    if (natter_profile_equal (g_ptr_array_index (route->participants, i), sender))
      continue;

    natter_hub_relay_frame (self, g_ptr_array_index (route->keys, i), "typing", text);
  }
}

/* A mark_read on its way to the store. */
typedef struct {
  NatterHub *hub;
  NatterHubConnection *connection;
  NatterConversationRoute *route;
  NatterStoreReadMark *mark;
} PendingRead;

static void
on_read_marked (NatterServerStore *store, const GError *error, gpointer user_data)
{
  PendingRead *pending = user_data;

  if (error != NULL) {
    natter_hub_send_internal_error (pending->connection, error, NULL);
  } else {
    /* Sent after the commit: nothing is sent that is not stored. */
    for (guint i = 0; i < pending->mark->event_texts->len; i++)
      natter_hub_deliver_event (pending->hub, g_ptr_array_index (pending->route->keys, i), NULL,
                                "read_receipt", g_ptr_array_index (pending->mark->event_texts, i));
  }

  natter_store_read_mark_free (pending->mark);
  natter_conversation_route_release (pending->route);
  g_object_unref (pending->connection);
  g_object_unref (pending->hub);
  g_free (pending);
}

void
natter_hub_chat_handle_mark_read (NatterHub *self,
                                  NatterHubConnection *connection,
                                  NatterFrame *frame)
{
  const NatterProfile *reader = natter_hub_connection_get_profile (connection);
  g_autoptr (NatterConversationRoute) route = NULL;
  PendingRead *pending;

  route = get_route_for (self, connection, frame->conversation_id, NULL);
  if (route == NULL)
    return;

  /* A mark_read that does not move the position stores and sends nothing
   * (the store checks again against what is queued before it). */
  if (frame->up_to_seq <= natter_server_db_get_read_seq (self->db, frame->conversation_id, reader))
    return;

  /* The position and every participant's event in one commit. */
  pending = g_new0 (PendingRead, 1);
  pending->hub = g_object_ref (self);
  pending->connection = g_object_ref (connection);
  pending->mark = natter_store_read_mark_new (reader, frame->conversation_id, frame->up_to_seq,
                                              route->participants);
  pending->route = g_steal_pointer (&route);
  natter_server_store_mark_read (self->store, pending->mark, on_read_marked, pending);
}

/* A sync waiting for its replay; the connection's later frames wait too. */
typedef struct {
  NatterHub *hub;
  NatterHubConnection *connection;
} PendingSync;

static void
on_replay_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PendingSync *pending = user_data;
  NatterHub *self = pending->hub;
  NatterHubConnection *connection = pending->connection;
  g_autoptr (NatterStoreReplay) replay = NULL;
  g_autoptr (NatterFrame) done = NULL;
  g_autoptr (GError) error = NULL;
  gboolean truncated;
  gsize max_bytes = self->config->sync_replay_max_bytes > 0 ? self->config->sync_replay_max_bytes
                                                            : NATTER_SYNC_REPLAY_MAX_BYTES;
  gsize bytes = 0;
  guint first = 0;

  replay = natter_server_store_replay_finish (NATTER_SERVER_STORE (source), result, &error);
  if (replay == NULL) {
    natter_hub_send_internal_error (connection, error, NULL);
    goto out;
  }

  /* The newest events that fit in the byte limit. */
  truncated = replay->truncated;
  for (first = replay->events->len; first > 0; first--) {
    gsize size = strlen (g_ptr_array_index (replay->events, first - 1));

    if (bytes + size > max_bytes) {
      truncated = TRUE;
      break;
    }
    bytes += size;
  }

  natter_hub_connection_begin_replay (connection);
  for (guint i = first; i < replay->events->len && natter_hub_connection_is_open (connection); i++)
    natter_hub_connection_send_text (connection, "event", g_ptr_array_index (replay->events, i));

  /* The store read last_event_id before the replay: the writer commits
   * events meanwhile, and a last_event_id read after it could name events
   * the replay did not hold, which the client would then skip when they
   * arrive. Everything up to this one is in the replay (ids commit in
   * order); what comes after it is sent live as well, and the client
   * applies it once. */
  done = natter_frame_new (NATTER_FRAME_SYNC_DONE);
  done->last_event_id = replay->last_event_id;
  done->truncated = truncated;
  natter_hub_connection_send_frame (connection, done);
  natter_hub_connection_end_replay (connection);

out:
  natter_hub_release_frames (self, connection);
  g_object_unref (pending->connection);
  g_object_unref (pending->hub);
  g_free (pending);
}

void
natter_hub_chat_handle_sync (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame)
{
  const NatterProfile *profile = natter_hub_connection_get_profile (connection);
  guint limit =
    self->config->sync_replay_max > 0 ? self->config->sync_replay_max : NATTER_SYNC_REPLAY_MAX;
  PendingSync *pending;

  /* One sync at a time: a client that asks again before it took the last
   * replay does not read what it is sent, and each replay would pile up in
   * memory. It is closed like any reader that does not read (1008); its
   * events wait for a proper sync. */
  if (natter_hub_connection_is_replaying (connection)) {
    natter_hub_connection_close_slow_reader (connection,
                                             "one sync at a time: read the last replay");
    return;
  }

  pending = g_new0 (PendingSync, 1);
  pending->hub = g_object_ref (self);
  pending->connection = g_object_ref (connection);
  natter_hub_hold_frames (self, connection);
  natter_server_store_replay (self->store, profile, frame->after_event_id, limit, on_replay_read,
                              pending);
}
