/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-hub"

/* Calls across nodes (PROTOCOL.md "Calls", ARCHITECTURE.md "Server: one
 * node, many cores, many nodes"). A call lives on the node its caller
 * invited from, the owner, in the same NatterCallSession as on a node alone,
 * and in Redis as a hash every node agrees on (natter-redis-calls.c). Every
 * answer reaches the owner and is first a compare-and-set on that hash:
 * the one that finds the call ringing wins, the others lose as they would
 * on one node. An invitation is first checked there in one script (glare
 * with a call ringing the other way, the caller's ringing calls against
 * the limit, whether the callee is online on any node); the end of a call
 * removes its hash.
 *
 * The callee's devices on other nodes reach the session through stand-ins:
 * for each such device the owner holds a relay connection
 * (natter_hub_connection_new_relay ()) that the session binds to like to a
 * local one, and what the session sends it goes to the device's node on
 * natter:node:ID. The device's node forwards the device's frames for the
 * call to the owner the same way. So answer, decline, end, candidates and
 * updates flow between the two bound devices' nodes, and the losing
 * devices get answered_elsewhere exactly as on one node.
 *
 * Ringing: the owner publishes the invitation on the callee's profile
 * channel, which the nodes holding the callee's connections hear; what the
 * session then sends to all the callee's devices (candidates, the
 * call_cancelled of the losers, call_ended) follows the same way, naming
 * the winning device so its node skips it. A device that connects during
 * the ring asks every node (natter:nodes) and the owner sends it the
 * invitation and the candidates so far through a stand-in. Glare with a
 * call ringing from another node is also seen at once from the calls this
 * node rings for.
 *
 * Bus messages (kind, then lines of text; the last line may hold
 * anything):
 *   call-ring  (profile channel) OWNER ID CALLER CALLEE INVITATION
 *   call-send  (profile channel) OWNER ID CALLER CALLEE TO EXCEPT TYPE TEXT
 *   call-join  (natter:nodes)    NODE MEMBER PROFILE
 *   call-known (node channel)    OWNER ID CALLER CALLEE MEMBER
 *   call-to    (node channel)    MEMBER TYPE TEXT
 *   call-from  (node channel)    NODE MEMBER PROFILE FRAME
 *   call-gone  (node channel)    MEMBER */

#include "natter-hub-private.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define PRESENCE_MEMBER_KEY "natter-presence-member"
/* On a stand-in: the member of the connection it stands for. */
#define REMOTE_MEMBER_KEY "natter-remote-member"
/* On a local connection: the owners it sent frames to (a set). */
#define OWNERS_KEY "natter-remote-owners"
/* Calls of other nodes remembered at most: forgetting one only means its
 * devices here stop reaching it. */
#define REMOTE_CALLS_MAX 65536
/* How much longer than its ring a ringing call is kept in Redis. */
#define RING_MARGIN_MS 5000
/* How soon an invitation that met a call being made the other way asks
 * Redis again: that call's node is storing its row. */
#define CLAIM_RETRY_MS 10

/* A call owned by another node that rings (or was answered) here. */
typedef struct {
  char *owner;
  char *caller_key;
  char *callee_key;
  gboolean ringing;
  /* Members of the connections here already sent its invitation: a
   * device whose call-join crossed the ring is not rung twice. */
  GHashTable *rung;
} RemoteCall;

/* An invitation waiting to learn whether its callee is online elsewhere. */
typedef struct {
  NatterHubConnection *connection;
  NatterFrame *frame;
  char *callee_key;
  /* Asking Redis again soon (the check said "wait"). */
  NatterHub *hub;
  guint64 request;
  guint retry_id;
} HeldInvitation;

/* Where a stand-in's frames go. */
typedef struct {
  NatterHub *hub;
  char *node;
  char *member;
} RelayTarget;

struct _NatterHubRemoteCalls {
  /* call_log_id -> RemoteCall */
  GHashTable *calls;
  /* member -> NatterHubConnection (owned): stand-ins on the owner */
  GHashTable *stand_ins;
  /* request -> HeldInvitation: invitations waiting for the check in
   * Redis, answers waiting for their compare-and-set there */
  GHashTable *held;
};

static void
remote_call_free (gpointer data)
{
  RemoteCall *call = data;

  g_free (call->owner);
  g_free (call->caller_key);
  g_free (call->callee_key);
  g_hash_table_unref (call->rung);
  g_free (call);
}

static void
held_invitation_free (gpointer data)
{
  HeldInvitation *held = data;

  g_clear_handle_id (&held->retry_id, g_source_remove);
  g_object_unref (held->connection);
  natter_frame_free (held->frame);
  g_free (held->callee_key);
  g_free (held);
}

static void
relay_target_free (gpointer data)
{
  RelayTarget *target = data;

  g_free (target->node);
  g_free (target->member);
  g_free (target);
}

static gboolean
active (NatterHub *self)
{
  return self->shared && self->remote_calls != NULL;
}

static const char *
node_id (NatterHub *self)
{
  return natter_server_bus_get_node_id (self->bus);
}

/* The member naming @connection across nodes: its presence member, or for
 * a stand-in the member of the connection it stands for. */
static const char *
member_of (NatterHubConnection *connection)
{
  const char *member;

  if (connection == NULL)
    return NULL;
  member = g_object_get_data (G_OBJECT (connection), REMOTE_MEMBER_KEY);
  if (member != NULL)
    return member;
  return g_object_get_data (G_OBJECT (connection), PRESENCE_MEMBER_KEY);
}

/* Splits @text into exactly @n lines, the last one taking the rest;
 * NULL when there are fewer (bus payloads come from the network). */
static GStrv
split_lines (const char *text, guint n)
{
  g_auto (GStrv) parts = g_strsplit (text, "\n", (gint) n);

  if (g_strv_length (parts) != n)
    return NULL;
  return g_steal_pointer (&parts);
}

static gboolean
parse_id (const char *text, gint64 *out_id)
{
  return g_ascii_string_to_signed (text, 10, 1, G_MAXINT64, out_id, NULL);
}

static RemoteCall *
remember (NatterHub *self,
          gint64 call_log_id,
          const char *owner,
          const char *caller_key,
          const char *callee_key)
{
  RemoteCall *call = g_hash_table_lookup (self->remote_calls->calls, &call_log_id);

  if (call != NULL)
    return call;
  if (g_hash_table_size (self->remote_calls->calls) >= REMOTE_CALLS_MAX)
    g_hash_table_remove_all (self->remote_calls->calls);
  call = g_new0 (RemoteCall, 1);
  call->owner = g_strdup (owner);
  call->caller_key = g_strdup (caller_key);
  call->callee_key = g_strdup (callee_key);
  call->ringing = TRUE;
  call->rung = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_replace (self->remote_calls->calls, g_memdup2 (&call_log_id, sizeof call_log_id),
                        call);
  return call;
}

/* @owner will send @connection's frames: it must hear when it closes. */
static void
note_owner (NatterHubConnection *connection, const char *owner)
{
  GHashTable *owners = g_object_get_data (G_OBJECT (connection), OWNERS_KEY);

  if (owners == NULL) {
    owners = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    g_object_set_data_full (G_OBJECT (connection), OWNERS_KEY, owners,
                            (GDestroyNotify) g_hash_table_unref);
  }
  g_hash_table_add (owners, g_strdup (owner));
}

static gboolean
ends_call (const char *type)
{
  return g_str_equal (type, "call_ended") || g_str_equal (type, "call_declined") ||
         g_str_equal (type, "call_cancelled");
}

/* The call_log_id of a serialized frame, 0 if none. */
static gint64
call_log_id_of (const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;

  if (!json_parser_load_from_data (parser, text, -1, NULL))
    return 0;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return 0;
  return json_object_get_int_member_with_default (json_node_get_object (root), "call_log_id", 0);
}

static void
on_stand_in_send (NatterHubConnection *stand_in,
                  const char *type,
                  const char *text,
                  gpointer user_data)
{
  RelayTarget *target = user_data;
  g_autofree char *message = g_strdup_printf ("%s\n%s\n%s", target->member, type, text);

  natter_hub_nodes_publish_to_node (target->hub, target->node, "call-to", message);
}

/* The full profile behind @profile_key, as a party of one of this node's
 * calls knows it (the store is not asked: a device of another node only
 * ever speaks here for a call of this node's). */
static const NatterProfile *
party_profile (NatterHub *self, const char *profile_key)
{
  GPtrArray *sessions = g_hash_table_lookup (self->calls_by_profile, profile_key);

  for (guint i = 0; sessions != NULL && i < sessions->len; i++) {
    NatterCallSession *session = g_ptr_array_index (sessions, i);

    if (g_str_equal (natter_call_session_get_caller_key (session), profile_key))
      return natter_call_session_get_caller (session);
    if (g_str_equal (natter_call_session_get_callee_key (session), profile_key))
      return natter_call_session_get_callee (session);
  }

  return NULL;
}

/* The stand-in on this node for @member of @node, made on first use. */
static NatterHubConnection *
stand_in_for (NatterHub *self, const char *node, const char *member, const char *profile_key)
{
  NatterHubConnection *stand_in = g_hash_table_lookup (self->remote_calls->stand_ins, member);
  const NatterProfile *profile;
  RelayTarget *target;

  if (stand_in != NULL)
    return stand_in;
  /* Bounded: a node that died never says its connections are gone. */
  if (g_hash_table_size (self->remote_calls->stand_ins) >= REMOTE_CALLS_MAX)
    g_hash_table_remove_all (self->remote_calls->stand_ins);
  profile = party_profile (self, profile_key);
  if (profile == NULL)
    return NULL;

  target = g_new0 (RelayTarget, 1);
  target->hub = self;
  target->node = g_strdup (node);
  target->member = g_strdup (member);
  stand_in = natter_hub_connection_new_relay (profile, self->config, self->metrics,
                                              on_stand_in_send, target, relay_target_free);
  g_object_set_data_full (G_OBJECT (stand_in), REMOTE_MEMBER_KEY, g_strdup (member), g_free);
  g_hash_table_insert (self->remote_calls->stand_ins, g_strdup (member), stand_in);
  return stand_in;
}

static gboolean
check_call (NatterHub *self, guint64 request, const char *caller_key, const char *callee_key)
{
  return natter_server_bus_check_call (self->bus, request, caller_key, callee_key,
                                       self->config->max_ringing_calls > 0
                                         ? self->config->max_ringing_calls
                                         : NATTER_MAX_RINGING_CALLS);
}

/**
 * natter_hub_remote_calls_take_invitation:
 * @self: the hub
 * @connection: the caller's
 * @frame: its call_invitation
 *
 * Among several nodes, an invitation whose callee has no connection here
 * waits for presence in Redis, and one that meets a call ringing from the
 * callee on another node is refused as glare.
 *
 * Returns: %TRUE when it took @frame (it is handled later, or answered)
 */
gboolean
natter_hub_remote_calls_take_invitation (NatterHub *self,
                                         NatterHubConnection *connection,
                                         NatterFrame *frame)
{
  const char *caller_key = natter_hub_connection_get_profile_key (connection);
  g_autofree char *callee_key = NULL;
  const char *keys[2] = { NULL, NULL };
  HeldInvitation *held;
  GHashTableIter iter;
  gpointer id;
  gpointer value;
  guint64 request;

  if (!active (self) || frame->to_profile_type == NULL)
    return FALSE;
  callee_key = natter_hub_profile_key (frame->to_profile_id, frame->to_profile_type);

  /* Glare: the callee rings us from another node; the earlier call wins. */
  g_hash_table_iter_init (&iter, self->remote_calls->calls);
  while (g_hash_table_iter_next (&iter, &id, &value)) {
    RemoteCall *call = value;

    if (call->ringing && g_str_equal (call->caller_key, callee_key) &&
        g_str_equal (call->callee_key, caller_key)) {
      g_autoptr (NatterFrame) reply = natter_frame_new (NATTER_FRAME_CALL_UNAVAILABLE);

      reply->client_call_id = g_strdup (frame->client_call_id);
      reply->reason = g_strdup ("glare");
      reply->ringing_call_log_id = *(gint64 *) id;
      natter_hub_connection_send_frame (connection, reply);
      return TRUE;
    }
  }

  request = ++self->next_greet;
  if (!check_call (self, request, caller_key, callee_key)) {
    /* Without call sessions in the bus, presence alone tells whether to ring. */
    if (natter_hub_lookup_connections (self, callee_key) != NULL)
      return FALSE;
    keys[0] = callee_key;
    if (!natter_server_bus_query_presence (self->bus, request, keys))
      return FALSE;
  }
  held = g_new0 (HeldInvitation, 1);
  held->connection = g_object_ref (connection);
  held->frame = natter_frame_copy (frame);
  held->callee_key = g_steal_pointer (&callee_key);
  held->hub = self;
  held->request = request;
  g_hash_table_insert (self->remote_calls->held, g_memdup2 (&request, sizeof request), held);
  return TRUE;
}

/* Handles a held frame again, now that Redis answered: past the checks
 * that held it, with their verdict; @claim: the check's claim on the pair
 * (0: none), handed to the invitation. */
static void
resume (NatterHub *self, HeldInvitation *held, gboolean callee_elsewhere, guint64 claim)
{
  if (!natter_hub_connection_is_open (held->connection))
    natter_hub_remote_calls_drop_claim (self, claim, held->connection);
  else if (held->frame->type == NATTER_FRAME_CALL_INVITATION)
    natter_hub_calls_handle_invitation (self, held->connection, held->frame, callee_elsewhere,
                                        claim);
  else
    natter_hub_calls_handle_answer (self, held->connection, held->frame);
  held_invitation_free (held);
}

static HeldInvitation *
take_held (NatterHub *self, guint64 request)
{
  HeldInvitation *held = NULL;
  gpointer key = NULL;

  if (!active (self) ||
      !g_hash_table_steal_extended (self->remote_calls->held, &request, &key, (gpointer *) &held))
    return NULL;
  g_free (key);
  return held;
}

static gboolean
on_claim_retry_due (gpointer user_data)
{
  HeldInvitation *held = user_data;
  NatterHub *self = held->hub;
  guint64 request = held->request;
  const char *caller_key = natter_hub_connection_get_profile_key (held->connection);

  held->retry_id = 0;
  if (!check_call (self, request, caller_key, held->callee_key)) {
    /* Redis is gone: as if it had not answered the first time. */
    held = take_held (self, request);
    if (held != NULL)
      resume (self, held, FALSE, 0);
  }
  return G_SOURCE_REMOVE;
}

static void
on_call_checked (NatterServerBus *bus,
                 guint64 request,
                 const char *verdict,
                 gint64 ringing_call_log_id,
                 NatterHub *self)
{
  HeldInvitation *held = take_held (self, request);
  g_autoptr (NatterFrame) reply = NULL;

  if (held == NULL)
    return;
  /* A call the other way is being made: it rings (glare) or not (ring). */
  if (g_str_equal (verdict, "wait")) {
    held->retry_id = g_timeout_add (CLAIM_RETRY_MS, on_claim_retry_due, held);
    g_hash_table_insert (self->remote_calls->held, g_memdup2 (&request, sizeof request), held);
    return;
  }
  if (g_str_equal (verdict, "glare") || g_str_equal (verdict, "busy")) {
    reply = natter_frame_new (NATTER_FRAME_CALL_UNAVAILABLE);
    reply->client_call_id = g_strdup (held->frame->client_call_id);
    reply->reason = g_strdup (verdict);
    reply->ringing_call_log_id = ringing_call_log_id;
    natter_hub_connection_send_frame (held->connection, reply);
    held_invitation_free (held);
    return;
  }
  resume (self, held, g_str_equal (verdict, "ring"), g_str_equal (verdict, "ring") ? request : 0);
}

/**
 * natter_hub_remote_calls_take_answer:
 * @self: the hub
 * @connection: the callee's (or a stand-in for one on another node)
 * @frame: its call_answer
 *
 * An answer to a call ringing here first wins the compare-and-set in
 * Redis; the loser is told the call was answered.
 *
 * Returns: %TRUE when it took @frame (it is handled later)
 */
gboolean
natter_hub_remote_calls_take_answer (NatterHub *self,
                                     NatterHubConnection *connection,
                                     NatterFrame *frame)
{
  NatterCallSession *session;
  HeldInvitation *held;
  guint64 request;

  if (!active (self))
    return FALSE;
  session = g_hash_table_lookup (self->calls, &frame->call_log_id);
  if (session == NULL || natter_call_session_get_state (session) != NATTER_CALL_SESSION_RINGING ||
      !natter_call_session_is_callee (session, natter_hub_connection_get_profile (connection)))
    return FALSE;
  request = ++self->next_greet;
  if (!natter_server_bus_move_call (self->bus, request, frame->call_log_id, "ringing", "answered",
                                    member_of (connection)))
    return FALSE;
  held = g_new0 (HeldInvitation, 1);
  held->connection = g_object_ref (connection);
  held->frame = natter_frame_copy (frame);
  g_hash_table_insert (self->remote_calls->held, g_memdup2 (&request, sizeof request), held);
  return TRUE;
}

static void
on_call_moved (NatterServerBus *bus, guint64 request, int outcome, NatterHub *self)
{
  HeldInvitation *held = take_held (self, request);
  NatterCallSession *session;

  if (held == NULL)
    return;
  session = g_hash_table_lookup (self->calls, &held->frame->call_log_id);
  /* Another answer won in Redis: this one lost, as it would here. */
  if (outcome == 0 && session != NULL &&
      natter_call_session_get_state (session) == NATTER_CALL_SESSION_RINGING) {
    natter_hub_connection_send_error (held->connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                      "the call was already answered", NULL);
    held_invitation_free (held);
    return;
  }
  /* Won, or Redis lost the call: this node's session decides. */
  resume (self, held, FALSE, 0);
}

/* A party of @session is bound to a device on another node: the call is
 * not abandoned while only this node has no connection of either. */
gboolean
natter_hub_remote_calls_party_elsewhere (NatterHub *self, NatterCallSession *session)
{
  NatterHubConnection *caller = natter_call_session_get_caller_connection (session);
  NatterHubConnection *callee = natter_call_session_get_callee_connection (session);

  return active (self) &&
         ((caller != NULL && g_object_get_data (G_OBJECT (caller), REMOTE_MEMBER_KEY) != NULL) ||
          (callee != NULL && g_object_get_data (G_OBJECT (callee), REMOTE_MEMBER_KEY) != NULL));
}

/* The session ended here: Redis forgets it, whatever state it was in. */
void
natter_hub_remote_calls_dropped (NatterHub *self, NatterCallSession *session)
{
  if (active (self))
    natter_server_bus_move_call (self->bus, 0, natter_call_session_get_call_log_id (session), "*",
                                 "ended", NULL);
}

static void
on_presence_queried (NatterServerBus *bus,
                     guint64 request,
                     const char *const *online,
                     NatterHub *self)
{
  HeldInvitation *held = take_held (self, request);

  if (held != NULL)
    resume (self, held, g_strv_contains (online, held->callee_key), 0);
}

/* The invitation that held @claim will not ring. */
void
natter_hub_remote_calls_drop_claim (NatterHub *self, guint64 claim, NatterHubConnection *caller)
{
  if (claim != 0 && active (self))
    natter_server_bus_drop_call_claim (self->bus, claim,
                                       natter_hub_connection_get_profile_key (caller));
}

/* The session just rang the callee's connections here: the other nodes
 * ring theirs; @claim: its invitation's claim on the pair (0: none). */
void
natter_hub_remote_calls_ring (NatterHub *self, NatterCallSession *session, guint64 claim)
{
  g_autofree char *message = NULL;

  if (!active (self))
    return;
  message = g_strdup_printf (
    "%s\n%" G_GINT64_FORMAT "\n%s\n%s\n%s", node_id (self),
    natter_call_session_get_call_log_id (session), natter_call_session_get_caller_key (session),
    natter_call_session_get_callee_key (session), natter_call_session_get_invitation (session));
  natter_hub_nodes_publish_to_profile (self, natter_call_session_get_callee_key (session),
                                       "call-ring", message);
  /* A little longer than the ring: the owner ends it in Redis first. */
  natter_server_bus_ring_call (
    self->bus, natter_call_session_get_call_log_id (session),
    natter_call_session_get_caller_key (session), natter_call_session_get_callee_key (session),
    (self->config->ring_timeout_s > 0 ? self->config->ring_timeout_s : NATTER_RING_TIMEOUT_S) *
        1000 +
      RING_MARGIN_MS,
    claim);
}

/**
 * natter_hub_remote_calls_to_side:
 * @self: the hub
 * @session: a call of this node's
 * @to_caller: which party
 * @except: (nullable): a connection that does not get it
 * @type: the frame's type
 * @text: the frame
 *
 * The session just sent @text to every connection of one party here but
 * @except (the callee's ringing devices, or a party whose bound connection
 * is gone): that party's connections on the other nodes get it too, and a
 * device reconnected there speaks for the call from then on.
 */
void
natter_hub_remote_calls_to_side (NatterHub *self,
                                 NatterCallSession *session,
                                 gboolean to_caller,
                                 NatterHubConnection *except,
                                 const char *type,
                                 const char *text)
{
  g_autofree char *message = NULL;
  const char *except_member = member_of (except);
  const char *key;

  if (!active (self))
    return;
  key = to_caller ? natter_call_session_get_caller_key (session)
                  : natter_call_session_get_callee_key (session);
  message = g_strdup_printf ("%s\n%" G_GINT64_FORMAT "\n%s\n%s\n%s\n%s\n%s\n%s", node_id (self),
                             natter_call_session_get_call_log_id (session),
                             natter_call_session_get_caller_key (session),
                             natter_call_session_get_callee_key (session), key,
                             except_member != NULL ? except_member : "", type, text);
  natter_hub_nodes_publish_to_profile (self, key, "call-send", message);
}

void
natter_hub_remote_calls_to_callee (NatterHub *self,
                                   NatterCallSession *session,
                                   NatterHubConnection *except,
                                   const char *type,
                                   const char *text)
{
  natter_hub_remote_calls_to_side (self, session, FALSE, except, type, text);
}

/* Compat (a frame naming the peer, not the call): the newest call another
 * node owns between @connection's profile and the peer, unless one of this
 * node's is between them too (the hub's own lookup finds that one). */
static gint64
remote_call_with_peer (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame)
{
  const char *own_key = natter_hub_connection_get_profile_key (connection);
  g_autofree char *peer_key = NULL;
  GPtrArray *sessions = g_hash_table_lookup (self->calls_by_profile, own_key);
  GHashTableIter iter;
  gpointer id;
  gpointer value;
  gint64 found = 0;

  if (frame->to_profile_id == 0 || frame->to_profile_type == NULL)
    return 0;
  peer_key = natter_hub_profile_key (frame->to_profile_id, frame->to_profile_type);
  for (guint i = 0; sessions != NULL && i < sessions->len; i++) {
    NatterCallSession *session = g_ptr_array_index (sessions, i);

    if (g_str_equal (natter_call_session_get_caller_key (session), peer_key) ||
        g_str_equal (natter_call_session_get_callee_key (session), peer_key))
      return 0;
  }

  g_hash_table_iter_init (&iter, self->remote_calls->calls);
  while (g_hash_table_iter_next (&iter, &id, &value)) {
    RemoteCall *call = value;

    if (((g_str_equal (call->caller_key, own_key) && g_str_equal (call->callee_key, peer_key)) ||
         (g_str_equal (call->caller_key, peer_key) && g_str_equal (call->callee_key, own_key))) &&
        *(gint64 *) id > found)
      found = *(gint64 *) id;
  }

  return found;
}

/**
 * natter_hub_remote_calls_forward:
 * @self: the hub
 * @connection: a connection here
 * @frame: its frame about a call
 *
 * A frame for a call another node owns goes to that node.
 *
 * Returns: %TRUE when it went there
 */
gboolean
natter_hub_remote_calls_forward (NatterHub *self,
                                 NatterHubConnection *connection,
                                 NatterFrame *frame)
{
  g_autofree char *json = NULL;
  g_autofree char *message = NULL;
  const char *member;
  RemoteCall *call;

  if (!active (self) || frame->type == NATTER_FRAME_CALL_INVITATION)
    return FALSE;
  if (frame->call_log_id == 0)
    frame->call_log_id = remote_call_with_peer (self, connection, frame);
  if (frame->call_log_id == 0 || g_hash_table_contains (self->calls, &frame->call_log_id))
    return FALSE;
  call = g_hash_table_lookup (self->remote_calls->calls, &frame->call_log_id);
  member = member_of (connection);
  if (call == NULL || member == NULL)
    return FALSE;

  json = natter_frame_to_json (frame, NULL);
  message = g_strdup_printf ("%s\n%s\n%s\n%s", node_id (self), member,
                             natter_hub_connection_get_profile_key (connection), json);
  natter_hub_nodes_publish_to_node (self, call->owner, "call-from", message);
  note_owner (connection, call->owner);

  if (frame->type == NATTER_FRAME_CALL_ENDED || frame->type == NATTER_FRAME_CALL_DECLINED)
    g_hash_table_remove (self->remote_calls->calls, &frame->call_log_id);
  return TRUE;
}

/* A connection here opened: the owners of calls ringing its profile ring
 * it too. */
void
natter_hub_remote_calls_connection_opened (NatterHub *self, NatterHubConnection *connection)
{
  g_autofree char *message = NULL;
  const char *member = member_of (connection);

  if (!active (self) || member == NULL)
    return;
  message = g_strdup_printf ("%s\n%s\n%s", node_id (self), member,
                             natter_hub_connection_get_profile_key (connection));
  natter_hub_nodes_publish_to_all (self, "call-join", message);
}

/* A connection here closed: the owners it spoke to drop its stand-ins. */
void
natter_hub_remote_calls_connection_closed (NatterHub *self, NatterHubConnection *connection)
{
  GHashTable *owners = g_object_get_data (G_OBJECT (connection), OWNERS_KEY);
  const char *member = member_of (connection);
  GHashTableIter iter;
  gpointer owner;

  if (!active (self) || owners == NULL || member == NULL)
    return;
  g_hash_table_iter_init (&iter, owners);
  while (g_hash_table_iter_next (&iter, &owner, NULL))
    natter_hub_nodes_publish_to_node (self, owner, "call-gone", member);
}

static void
on_ring (NatterHub *self, const char *text)
{
  g_auto (GStrv) parts = split_lines (text, 5);
  GPtrArray *connections;
  RemoteCall *call;
  gint64 call_log_id;

  if (parts == NULL || !parse_id (parts[1], &call_log_id)) {
    g_warning ("A malformed call-ring from the bus: dropped");
    return;
  }
  call = remember (self, call_log_id, parts[0], parts[2], parts[3]);
  connections = natter_hub_lookup_connections (self, parts[3]);
  for (guint i = 0; connections != NULL && i < connections->len; i++) {
    NatterHubConnection *connection = g_ptr_array_index (connections, i);
    const char *member = member_of (connection);

    if (member != NULL && !g_hash_table_add (call->rung, g_strdup (member)))
      continue;
    natter_hub_connection_send_text (connection, "call_invitation", parts[4]);
  }
}

static void
on_send (NatterHub *self, const char *text)
{
  g_auto (GStrv) parts = split_lines (text, 8);
  NatterHubConnection *except = NULL;
  RemoteCall *call;
  gint64 call_log_id;

  if (parts == NULL || !parse_id (parts[1], &call_log_id) ||
      natter_frame_type_from_string (parts[6]) == NATTER_FRAME_UNKNOWN) {
    g_warning ("A malformed call-send from the bus: dropped");
    return;
  }
  if (parts[5][0] != '\0')
    except = g_hash_table_lookup (self->presence_connections, parts[5]);
  natter_hub_send_to_profile (self, parts[4], except, parts[6], parts[7]);

  call = g_hash_table_lookup (self->remote_calls->calls, &call_log_id);
  /* A party's device that reconnected here: its frames for the call go to
   * the owner, which binds the call to it. */
  if (call == NULL && !ends_call (parts[6]) && natter_hub_lookup_connections (self, parts[4])) {
    call = remember (self, call_log_id, parts[0], parts[2], parts[3]);
    call->ringing = FALSE;
  }
  if (call != NULL && ends_call (parts[6])) {
    call->ringing = FALSE;
    /* The device that won the call is here: it goes on through us. */
    if (except == NULL)
      g_hash_table_remove (self->remote_calls->calls, &call_log_id);
  }
}

static void
on_join (NatterHub *self, const char *text)
{
  g_auto (GStrv) parts = split_lines (text, 3);
  GPtrArray *sessions;
  NatterHubConnection *stand_in = NULL;

  if (parts == NULL) {
    g_warning ("A malformed call-join from the bus: dropped");
    return;
  }
  sessions = g_hash_table_lookup (self->calls_by_profile, parts[2]);
  for (guint i = 0; sessions != NULL && i < sessions->len; i++) {
    NatterCallSession *session = g_ptr_array_index (sessions, i);
    g_autofree char *known = NULL;
    GPtrArray *candidates;

    /* As when a party comes back here (natter_hub_calls_connection_opened
     * ()): a caller back on another node within the grace keeps the call,
     * and what the session sends the caller reaches that node through the
     * caller's profile channel. */
    natter_call_session_party_returned (session);
    if (natter_call_session_get_state (session) == NATTER_CALL_SESSION_RINGING &&
        g_str_equal (natter_call_session_get_caller_key (session), parts[2])) {
      natter_call_session_caller_returned (session);
      continue;
    }
    if (natter_call_session_get_state (session) != NATTER_CALL_SESSION_RINGING ||
        !g_str_equal (natter_call_session_get_callee_key (session), parts[2]))
      continue;
    if (stand_in == NULL)
      stand_in = stand_in_for (self, parts[0], parts[1], parts[2]);
    if (stand_in == NULL)
      return;

    known = g_strdup_printf ("%s\n%" G_GINT64_FORMAT "\n%s\n%s\n%s", node_id (self),
                             natter_call_session_get_call_log_id (session),
                             natter_call_session_get_caller_key (session),
                             natter_call_session_get_callee_key (session), parts[1]);
    natter_hub_nodes_publish_to_node (self, parts[0], "call-known", known);
    natter_hub_connection_send_text (stand_in, "call_invitation",
                                     natter_call_session_get_invitation (session));
    candidates = natter_call_session_get_caller_candidates (session);
    for (guint j = 0; j < candidates->len; j++)
      natter_hub_connection_send_text (stand_in, "ice_candidate",
                                       g_ptr_array_index (candidates, j));
  }
}

static void
on_known (NatterHub *self, const char *text)
{
  g_auto (GStrv) parts = split_lines (text, 5);
  NatterHubConnection *connection;
  gint64 call_log_id;

  if (parts == NULL || !parse_id (parts[1], &call_log_id)) {
    g_warning ("A malformed call-known from the bus: dropped");
    return;
  }
  remember (self, call_log_id, parts[0], parts[2], parts[3]);
  connection = g_hash_table_lookup (self->presence_connections, parts[4]);
  if (connection != NULL)
    note_owner (connection, parts[0]);
}

static void
on_to (NatterHub *self, const char *text)
{
  g_auto (GStrv) parts = split_lines (text, 3);
  NatterHubConnection *connection;

  if (parts == NULL || natter_frame_type_from_string (parts[1]) == NATTER_FRAME_UNKNOWN) {
    g_warning ("A malformed call-to from the bus: dropped");
    return;
  }
  connection = g_hash_table_lookup (self->presence_connections, parts[0]);
  if (connection != NULL && g_str_equal (parts[1], "call_invitation")) {
    gint64 call_log_id = call_log_id_of (parts[2]);
    RemoteCall *call = g_hash_table_lookup (self->remote_calls->calls, &call_log_id);

    /* Rung already by the ring itself. */
    if (call != NULL && !g_hash_table_add (call->rung, g_strdup (parts[0])))
      connection = NULL;
  }
  if (connection != NULL)
    natter_hub_connection_send_text (connection, parts[1], parts[2]);
  if (g_str_equal (parts[1], "call_ended") || g_str_equal (parts[1], "call_declined")) {
    gint64 call_log_id = call_log_id_of (parts[2]);

    g_hash_table_remove (self->remote_calls->calls, &call_log_id);
  }
}

static void
on_from (NatterHub *self, const char *text)
{
  g_auto (GStrv) parts = split_lines (text, 4);
  g_autoptr (NatterFrame) frame = NULL;
  g_autoptr (GError) error = NULL;
  NatterHubConnection *stand_in;

  if (parts == NULL) {
    g_warning ("A malformed call-from from the bus: dropped");
    return;
  }
  frame =
    natter_frame_parse (parts[3], strlen (parts[3]), NATTER_DIRECTION_TO_SERVER, NULL, &error);
  if (frame == NULL) {
    g_warning ("A call frame from node %s that does not parse: %s", parts[0], error->message);
    return;
  }
  switch (frame->type) {
    case NATTER_FRAME_ICE_CANDIDATE:
    case NATTER_FRAME_CALL_ANSWER:
    case NATTER_FRAME_CALL_DECLINED:
    case NATTER_FRAME_CALL_ENDED:
    case NATTER_FRAME_CALL_MEDIA_STATE:
    case NATTER_FRAME_CALL_UPDATE:
      break;
    default:
      g_warning ("A frame of node %s that is no call frame: dropped", parts[0]);
      return;
  }
  stand_in = stand_in_for (self, parts[0], parts[1], parts[2]);
  if (stand_in == NULL) {
    g_warning ("A call frame from node %s of an unknown profile: dropped", parts[0]);
    return;
  }
  natter_hub_calls_handle_frame (self, stand_in, frame);
}

static void
on_gone (NatterHub *self, const char *member)
{
  NatterHubConnection *stand_in = g_hash_table_lookup (self->remote_calls->stand_ins, member);

  g_autoptr (NatterHubConnection) gone = NULL;

  if (stand_in == NULL)
    return;
  gone = g_object_ref (stand_in);
  natter_hub_connection_close (gone, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
  g_hash_table_remove (self->remote_calls->stand_ins, member);
  /* As when a connection here closes: the grace of a caller, the end of
   * a call both parties left. */
  natter_hub_calls_connection_closed (
    self, gone,
    natter_hub_lookup_connections (self, natter_hub_connection_get_profile_key (gone)) == NULL);
}

/**
 * natter_hub_remote_calls_bus_message:
 * @self: the hub
 * @kind: a kind starting with NATTER_HUB_REMOTE_CALLS_KIND_PREFIX
 * @text: what came with it
 *
 * Carries out what another node sent about a call.
 */
void
natter_hub_remote_calls_bus_message (NatterHub *self, const char *kind, const char *text)
{
  if (!active (self))
    return;
  if (g_str_equal (kind, "call-ring"))
    on_ring (self, text);
  else if (g_str_equal (kind, "call-send"))
    on_send (self, text);
  else if (g_str_equal (kind, "call-join"))
    on_join (self, text);
  else if (g_str_equal (kind, "call-known"))
    on_known (self, text);
  else if (g_str_equal (kind, "call-to"))
    on_to (self, text);
  else if (g_str_equal (kind, "call-from"))
    on_from (self, text);
  else if (g_str_equal (kind, "call-gone"))
    on_gone (self, text);
  else
    g_warning ("An unknown call message “%s” from the bus: dropped", kind);
}

void
natter_hub_remote_calls_init (NatterHub *self)
{
  NatterHubRemoteCalls *remote = g_new0 (NatterHubRemoteCalls, 1);

  remote->calls = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, remote_call_free);
  remote->stand_ins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  remote->held = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, held_invitation_free);
  self->remote_calls = remote;
  g_signal_connect (self->bus, "presence-queried", G_CALLBACK (on_presence_queried), self);
  g_signal_connect (self->bus, "call-checked", G_CALLBACK (on_call_checked), self);
  g_signal_connect (self->bus, "call-moved", G_CALLBACK (on_call_moved), self);
}

void
natter_hub_remote_calls_dispose (NatterHub *self)
{
  NatterHubRemoteCalls *remote = g_steal_pointer (&self->remote_calls);

  if (remote == NULL)
    return;
  g_hash_table_unref (remote->calls);
  g_hash_table_unref (remote->stand_ins);
  g_hash_table_unref (remote->held);
  g_free (remote);
}
