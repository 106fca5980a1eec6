/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-hub"

/* The hub's chat: the route cache, chat messages on their way to the store
 * and back (group commit, acks and deliveries after the commit), typing,
 * read marks and the replay of events. */

#include "natter-hub-private.h"

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

/* The cached route of a conversation, or NULL. */
static NatterConversationRoute *
cached_route (NatterHub *self, gint64 conversation_id)
{
  NatterConversationRoute *route = g_hash_table_lookup (self->routes, &conversation_id);

  return route != NULL ? g_rc_box_acquire (route) : NULL;
}

/**
 * natter_hub_cache_route:
 * @self: the hub
 * @conversation_id: a conversation
 * @participants: (transfer none): its participants, as the store read them
 *
 * Returns: (transfer full): its route, kept for the next frames
 */
NatterConversationRoute *
natter_hub_cache_route (NatterHub *self, gint64 conversation_id, GPtrArray *participants)
{
  NatterConversationRoute *route = cached_route (self, conversation_id);

  if (route != NULL)
    return route;

  route = g_rc_box_new0 (NatterConversationRoute);
  route->keys = g_ptr_array_new_full (participants->len, g_free);
  route->participants =
    g_ptr_array_new_full (participants->len, (GDestroyNotify) natter_profile_free);
  for (guint i = 0; i < participants->len; i++) {
    NatterProfile *participant = g_ptr_array_index (participants, i);

    g_ptr_array_add (route->participants, natter_profile_copy (participant));
    g_ptr_array_add (route->keys,
                     natter_hub_profile_key (participant->profile_id, participant->profile_type));
  }

  if (g_hash_table_size (self->routes) >= ROUTES_MAX)
    g_hash_table_remove_all (self->routes);
  g_hash_table_insert (self->routes, g_memdup2 (&conversation_id, sizeof conversation_id),
                       g_rc_box_acquire (route));

  return route;
}

/* The key of @a and @b's direct conversation, the same both ways. */
static char *
direct_pair_key (const NatterProfile *a, const NatterProfile *b)
{
  g_autofree char *first = natter_hub_profile_key (a->profile_id, a->profile_type);
  g_autofree char *second = natter_hub_profile_key (b->profile_id, b->profile_type);

  return strcmp (first, second) < 0 ? g_strconcat (first, "|", second, NULL)
                                    : g_strconcat (second, "|", first, NULL);
}

/* The id of @a and @b's direct conversation when a check found it before,
 * or 0: then the store looks it up (and the blocks between the two). */
static gint64
cached_direct_conversation (NatterHub *self, const NatterProfile *a, const NatterProfile *b)
{
  g_autofree char *key = direct_pair_key (a, b);
  gint64 *conversation_id = g_hash_table_lookup (self->direct_conversations, key);

  return conversation_id != NULL ? *conversation_id : 0;
}

static void
cache_direct_conversation (NatterHub *self,
                           const NatterProfile *a,
                           const NatterProfile *b,
                           gint64 conversation_id)
{
  if (g_hash_table_size (self->direct_conversations) >= ROUTES_MAX)
    g_hash_table_remove_all (self->direct_conversations);
  g_hash_table_replace (self->direct_conversations, direct_pair_key (a, b),
                        g_memdup2 (&conversation_id, sizeof conversation_id));
}

/* What a frame about a conversation needs from the store, read in one
 * query where the store runs them (never waiting on the routing thread);
 * run_check () stops at the first reason to refuse. */
typedef struct {
  /* in */
  NatterProfile *sender;
  gint64 conversation_id;  /* 0: the direct conversation of @sender and @to */
  NatterProfile *to;       /* id and type only; NULL unless direct */
  GPtrArray *participants; /* the cached route's copy, or NULL: read them */
  char *client_msg_id;     /* a chat_message: was it stored before? */
  GArray *attachment_ids;  /* a chat_message's, checked */
  gboolean want_read_seq;  /* a mark_read */
  /* out */
  gboolean read_participants;
  NatterMessage *stored; /* stored before under client_msg_id */
  gint64 stored_event_id;
  NatterProfile *to_full; /* no direct conversation yet: the recipient */
  gboolean blocked;
  gint64 read_seq;
  GError *refusal; /* NATTER_PROTOCOL_ERROR, for the error frame */
  GError *failure; /* storage */
} ConversationCheck;

static void
conversation_check_free (gpointer data)
{
  ConversationCheck *check = data;

  /* A batch holds NULL for a message its frame alone refused. */
  if (check == NULL)
    return;

  g_clear_pointer (&check->sender, natter_profile_free);
  g_clear_pointer (&check->to, natter_profile_free);
  g_clear_pointer (&check->participants, g_ptr_array_unref);
  g_free (check->client_msg_id);
  g_clear_pointer (&check->attachment_ids, g_array_unref);
  g_clear_pointer (&check->stored, natter_message_free);
  g_clear_pointer (&check->to_full, natter_profile_free);
  g_clear_error (&check->refusal);
  g_clear_error (&check->failure);
  g_free (check);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ConversationCheck, conversation_check_free)

static ConversationCheck *
conversation_check_new (NatterHub *self, NatterHubConnection *connection, gint64 conversation_id)
{
  ConversationCheck *check = g_new0 (ConversationCheck, 1);
  g_autoptr (NatterConversationRoute) route = cached_route (self, conversation_id);

  check->sender = natter_profile_copy (natter_hub_connection_get_profile (connection));
  check->conversation_id = conversation_id;
  if (route != NULL)
    check->participants =
      g_ptr_array_copy (route->participants, (GCopyFunc) natter_profile_copy, NULL);
  return check;
}

static void
refuse_check (ConversationCheck *check, NatterProtocolError code, const char *message)
{
  g_set_error_literal (&check->refusal, NATTER_PROTOCOL_ERROR, code, message);
}

/* Where the store runs queries: touches nothing but @check. */
static void
run_check (NatterStoreQueries *queries, ConversationCheck *check)
{
  g_autoptr (GError) error = NULL;
  gboolean participant = FALSE;

  if (check->client_msg_id != NULL) {
    check->stored = natter_store_queries_find_message_by_client_id (
      queries, check->sender, check->client_msg_id, &check->stored_event_id, &error);
    if (check->stored != NULL || error != NULL) {
      check->failure = g_steal_pointer (&error);
      return;
    }
  }

  if (check->conversation_id == 0 && check->to != NULL) {
    if (natter_store_queries_is_blocked_either (queries, check->sender, check->to)) {
      check->blocked = TRUE;
      refuse_check (check, NATTER_PROTOCOL_ERROR_NOT_ALLOWED, "you cannot write to this profile");
      return;
    }
    /* Only the id: the conversation itself is never read here. */
    check->conversation_id = natter_store_queries_find_direct (queries, check->sender, check->to);
    if (check->conversation_id == 0) {
      check->to_full = natter_store_queries_get_profile (queries, check->to->profile_id,
                                                         check->to->profile_type, &error);
      if (check->to_full != NULL) {
        /* A new direct conversation: no upload can belong to it. */
        if (!natter_store_queries_check_attachments (queries, check->attachment_ids, check->sender,
                                                     0, &error))
          goto failed;
      } else if (g_error_matches (error, NATTER_SERVER_DB_ERROR,
                                  NATTER_SERVER_DB_ERROR_NOT_FOUND)) {
        refuse_check (check, NATTER_PROTOCOL_ERROR_NOT_FOUND, "no such profile");
      } else {
        check->failure = g_steal_pointer (&error);
      }
      return;
    }
    /* The cached participants were of conversation 0: none. */
    g_clear_pointer (&check->participants, g_ptr_array_unref);
  }

  if (check->participants == NULL) {
    check->participants =
      natter_store_queries_list_participants (queries, check->conversation_id, &error);
    if (check->participants == NULL) {
      check->failure = g_steal_pointer (&error);
      return;
    }
    check->read_participants = TRUE;
  }
  if (check->participants->len == 0) {
    refuse_check (check, NATTER_PROTOCOL_ERROR_NOT_FOUND, "no such conversation");
    return;
  }
  for (guint i = 0; i < check->participants->len; i++)
    participant |= natter_profile_equal (g_ptr_array_index (check->participants, i), check->sender);
  if (!participant) {
    refuse_check (check, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                  "you are not a participant of this conversation");
    return;
  }
  /* Blocked: @sender and another participant blocked one another. */
  for (guint i = 0; i < check->participants->len; i++) {
    const NatterProfile *other = g_ptr_array_index (check->participants, i);

    if (!natter_profile_equal (other, check->sender) &&
        natter_store_queries_is_blocked_either (queries, check->sender, other)) {
      check->blocked = TRUE;
      refuse_check (check, NATTER_PROTOCOL_ERROR_NOT_ALLOWED, "you cannot write to this profile");
      return;
    }
  }

  /* Only the sender's own unsent uploads to this conversation. */
  if (!natter_store_queries_check_attachments (queries, check->attachment_ids, check->sender,
                                               check->conversation_id, &error))
    goto failed;

  if (check->want_read_seq)
    check->read_seq =
      natter_store_queries_get_read_seq (queries, check->conversation_id, check->sender);
  return;

failed:
  if (error->domain == NATTER_PROTOCOL_ERROR)
    check->refusal = g_steal_pointer (&error);
  else
    check->failure = g_steal_pointer (&error);
}

static gpointer
run_checks (NatterStoreQueries *queries, gpointer data, GError **error)
{
  GPtrArray *checks = data;

  /* One snapshot for the whole batch: a few reads per message. */
  natter_store_queries_begin_reads (queries);
  for (guint i = 0; i < checks->len; i++) {
    if (g_ptr_array_index (checks, i) != NULL)
      run_check (queries, g_ptr_array_index (checks, i));
  }
  natter_store_queries_end_reads (queries);
  return g_ptr_array_ref (checks);
}

/* Runs @checks (ConversationCheck, taken) where the store runs queries;
 * @callback gets them back through natter_server_store_query_finish (). */
static void
start_checks (NatterHub *self, GPtrArray *checks, GAsyncReadyCallback callback, gpointer user_data)
{
  natter_server_store_query (self->store, run_checks, checks, (GDestroyNotify) g_ptr_array_unref,
                             (GDestroyNotify) g_ptr_array_unref, callback, user_data);
}

/* The checks back on the routing thread: NULL after the error frame went
 * to @connection (when given). */
static GPtrArray *
finish_checks (NatterHub *self,
               GAsyncResult *result,
               NatterHubConnection *connection,
               const char *ref)
{
  g_autoptr (GError) error = NULL;
  GPtrArray *checks = natter_server_store_query_finish (self->store, result, &error);

  if (checks == NULL) {
    if (connection != NULL)
      natter_hub_send_internal_error (connection, error, ref);
    else
      g_warning ("Could not read for chat messages: %s", error->message);
  }
  return checks;
}

/* The route a check found (cached: participants never change); NULL after
 * the error frame, or silently when blocked and @quiet_when_blocked. */
static NatterConversationRoute *
check_route (NatterHub *self,
             NatterHubConnection *connection,
             ConversationCheck *check,
             const char *ref,
             gboolean quiet_when_blocked)
{
  g_autoptr (NatterConversationRoute) route = NULL;

  if (check->failure != NULL) {
    natter_hub_send_internal_error (connection, check->failure, ref);
    return NULL;
  }
  if (check->participants != NULL && check->participants->len > 0)
    route = natter_hub_cache_route (self, check->conversation_id, check->participants);
  if (check->refusal != NULL) {
    if (!check->blocked || !quiet_when_blocked)
      natter_hub_connection_send_error (connection, check->refusal->code, check->refusal->message,
                                        ref);
    return NULL;
  }
  return g_steal_pointer (&route);
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

/* What the store is asked for, after the routing checks (@check): FALSE
 * after the error frame when the message is refused; an earlier copy
 * already on disk is acked at once. */
static gboolean
prepare_chat_message (NatterHub *self, PendingChat *pending, ConversationCheck *check)
{
  const NatterProfile *sender = natter_hub_connection_get_profile (pending->connection);
  NatterFrame *frame = pending->frame;

  /* A retry after a reconnect: same ack, no second copy, no second event.
   * The store checks again for a copy that is not committed yet. */
  if (check->stored != NULL) {
    pending->stored = g_steal_pointer (&check->stored);
    pending->stored_event_id = check->stored_event_id;
    return FALSE;
  }

  if (check->to_full != NULL && check->refusal == NULL && check->failure == NULL)
    pending->route = new_direct_route (sender, check->to_full);
  else
    pending->route = check_route (self, pending->connection, check, frame->client_msg_id, FALSE);
  if (pending->route == NULL)
    return FALSE;
  /* Found by the pair: the next message to the same profile is checked as
   * one with the conversation's id (route cached, no lookup by the pair). */
  if (check->to != NULL && check->to_full == NULL)
    cache_direct_conversation (self, sender, check->to, check->conversation_id);

  pending->request =
    natter_store_chat_message_new (sender, check->to_full != NULL ? 0 : check->conversation_id,
                                   frame->text, frame->client_msg_id, pending->route->participants);
  pending->request->to_profile = g_steal_pointer (&check->to_full);
  if (frame->attachment_ids != NULL)
    pending->request->attachment_ids = g_array_ref (frame->attachment_ids);
  return TRUE;
}

/* The check of a chat_message, or NULL after the error frame when the
 * frame alone refuses it. */
static ConversationCheck *
chat_check_new (NatterHub *self, PendingChat *pending)
{
  const NatterProfile *sender = natter_hub_connection_get_profile (pending->connection);
  NatterFrame *frame = pending->frame;
  ConversationCheck *check;
  NatterProfile to = { 0 };
  gint64 conversation_id = frame->conversation_id;

  if (frame->conversation_id == 0) {
    if (frame->to_profile_id == 0 || frame->to_profile_type == NULL) {
      natter_hub_connection_send_error (
        pending->connection, NATTER_PROTOCOL_ERROR_BAD_FRAME,
        "conversation_id or to_profile_id and to_profile_type needed", frame->client_msg_id);
      return NULL;
    }
    to.profile_id = frame->to_profile_id;
    to.profile_type = frame->to_profile_type;
    if (natter_profile_equal (&to, sender)) {
      natter_hub_connection_send_error (pending->connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                        "you cannot write to yourself", frame->client_msg_id);
      return NULL;
    }
  }

  if (conversation_id == 0)
    conversation_id = cached_direct_conversation (self, sender, &to);
  check = conversation_check_new (self, pending->connection, conversation_id);
  if (conversation_id == 0)
    check->to = natter_profile_copy (&to);
  check->client_msg_id = g_strdup (frame->client_msg_id);
  if (frame->attachment_ids != NULL)
    check->attachment_ids = g_array_ref (frame->attachment_ids);
  return check;
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
   * sender's first message may make the participants contacts, unless it
   * created the conversation: then no one else took part yet (a reply in
   * the same commit introduces both), and the query would find no one. */
  if (request->took_part && !request->created)
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

static void
on_chat_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ChatBatch *batch = user_data;
  NatterHub *self = batch->hub;
  g_autoptr (GPtrArray) checks = finish_checks (self, result, NULL, NULL);

  for (guint i = 0; i < batch->pending->len; i++) {
    PendingChat *pending = g_ptr_array_index (batch->pending, i);
    ConversationCheck *check = checks != NULL ? g_ptr_array_index (checks, i) : NULL;

    if (check == NULL) {
      if (checks == NULL)
        natter_hub_connection_send_error (pending->connection, NATTER_PROTOCOL_ERROR_INTERNAL,
                                          "the server could not store this, try again",
                                          pending->frame->client_msg_id);
      continue;
    }
    if (prepare_chat_message (self, pending, check))
      g_ptr_array_add (batch->requests, pending->request);
  }

  if (batch->requests->len == 0) {
    on_chat_messages_stored (self->store, NULL, batch);
    return;
  }
  natter_server_store_store_chat_messages (self->store, batch->requests, on_chat_messages_stored,
                                           batch);
}

/* Group commit: the chat messages that arrived in one main-loop iteration
 * are checked in one query and go to the store in one request, stored in
 * one transaction (with whatever else is queued), and only then acked and
 * delivered. One commit per message would bound the hub by the disk's
 * write latency. Queries answer in the order they were asked, so batches
 * reach the store in the order their messages arrived. */
void
natter_hub_chat_flush (NatterHub *self)
{
  ChatBatch *batch;
  GPtrArray *checks;

  g_clear_handle_id (&self->chat_flush_id, g_source_remove);
  if (self->pending_chats->len == 0)
    return;

  batch = g_new0 (ChatBatch, 1);
  batch->hub = g_object_ref (self);
  batch->pending = g_steal_pointer (&self->pending_chats);
  batch->requests = g_ptr_array_sized_new (batch->pending->len);
  self->pending_chats = g_ptr_array_new_with_free_func (natter_hub_chat_pending_free);

  /* NULL for a message the frame alone refuses (its error went). */
  checks = g_ptr_array_new_full (batch->pending->len, conversation_check_free);
  for (guint i = 0; i < batch->pending->len; i++)
    g_ptr_array_add (checks, chat_check_new (self, g_ptr_array_index (batch->pending, i)));
  start_checks (self, checks, on_chat_checked, batch);
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

/* A typing or mark_read frame waiting for its check; the connection's
 * later frames wait too. */
typedef struct {
  NatterHub *hub;
  NatterHubConnection *connection;
  NatterFrame *frame;
} PendingFrame;

static PendingFrame *
pending_frame_new (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame)
{
  PendingFrame *pending = g_new0 (PendingFrame, 1);

  pending->hub = g_object_ref (self);
  pending->connection = g_object_ref (connection);
  pending->frame = natter_frame_copy (frame);
  natter_hub_hold_frames (self, connection);
  return pending;
}

static void
pending_frame_free (PendingFrame *pending)
{
  natter_hub_release_frames (pending->hub, pending->connection);
  natter_frame_free (pending->frame);
  g_object_unref (pending->connection);
  g_object_unref (pending->hub);
  g_free (pending);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PendingFrame, pending_frame_free)

static void
start_frame_check (NatterHub *self,
                   NatterHubConnection *connection,
                   NatterFrame *frame,
                   gboolean want_read_seq,
                   GAsyncReadyCallback callback)
{
  GPtrArray *checks = g_ptr_array_new_with_free_func (conversation_check_free);
  ConversationCheck *check = conversation_check_new (self, connection, frame->conversation_id);

  check->want_read_seq = want_read_seq;
  g_ptr_array_add (checks, check);
  start_checks (self, checks, callback, pending_frame_new (self, connection, frame));
}

static void
on_typing_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (PendingFrame) pending = user_data;
  NatterHub *self = pending->hub;
  NatterHubConnection *connection = pending->connection;
  NatterFrame *frame = pending->frame;
  const NatterProfile *sender = natter_hub_connection_get_profile (connection);
  g_autoptr (GPtrArray) checks = finish_checks (self, result, connection, NULL);
  g_autoptr (NatterConversationRoute) route = NULL;
  g_autoptr (NatterFrame) relay = NULL;
  g_autofree char *text = NULL;

  if (checks == NULL)
    return;
  /* Blocked: dropped silently, like extra typing frames. */
  route = check_route (self, connection, g_ptr_array_index (checks, 0), NULL, TRUE);
  if (route == NULL)
    return;

  /* Extra typing frames are dropped silently: they only say "still typing". */
  if (!natter_hub_connection_take_typing (connection, frame->conversation_id))
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

void
natter_hub_chat_handle_typing (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame)
{
  start_frame_check (self, connection, frame, FALSE, on_typing_checked);
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

static void
on_mark_read_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (PendingFrame) frame_pending = user_data;
  NatterHub *self = frame_pending->hub;
  NatterHubConnection *connection = frame_pending->connection;
  NatterFrame *frame = frame_pending->frame;
  const NatterProfile *reader = natter_hub_connection_get_profile (connection);
  g_autoptr (GPtrArray) checks = finish_checks (self, result, connection, NULL);
  g_autoptr (NatterConversationRoute) route = NULL;
  ConversationCheck *check;
  PendingRead *pending;

  if (checks == NULL)
    return;
  check = g_ptr_array_index (checks, 0);
  route = check_route (self, connection, check, NULL, FALSE);
  if (route == NULL)
    return;

  /* A mark_read that does not move the position stores and sends nothing
   * (the store checks again against what is queued before it). */
  if (frame->up_to_seq <= check->read_seq)
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

void
natter_hub_chat_handle_mark_read (NatterHub *self,
                                  NatterHubConnection *connection,
                                  NatterFrame *frame)
{
  start_frame_check (self, connection, frame, TRUE, on_mark_read_checked);
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
