/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-hub"

/* Call signalling (PROTOCOL.md, "Calls"): invitations, ringing, answer,
 * decline, end, candidates, glare, timers.
 *
 * Binding and reconnects: a session is bound to the caller's connection that
 * sent the invitation and, once answered, to the callee's connection whose
 * answer won. Frames for the call go only to those two connections. When a
 * bound connection is gone (a dropped WebSocket does not end an answered
 * call), frames for that side go to every connection of the profile: a
 * reconnecting client only has its call_log_id, on a new connection the hub
 * has never seen, and must still get the peer's ice_candidate, call_update
 * (ICE restart) and call_ended. The first frame for the call from a
 * connection of that profile binds the call to it again; the profile's other
 * devices ignore frames for a call_log_id they do not know. */

#include "natter-hub-private.h"
#include "natter-token-bucket.h"

static void
count_call_outcome (NatterHub *self, const char *status)
{
  if (self->metrics != NULL)
    natter_metrics_inc (self->metrics, "natter_calls_total", "outcome", status);
}

/* Through the store, in order with the call's other writes. */
static void
store_status (NatterHub *self, NatterCallSession *session, const char *status)
{
  natter_hub_call_log_write (self, natter_call_session_get_call_log_id (session), status, NULL,
                             NULL, NULL);
}

static void
unindex_from (NatterHub *self, const char *profile_key, NatterCallSession *session)
{
  GPtrArray *sessions = g_hash_table_lookup (self->calls_by_profile, profile_key);

  if (sessions == NULL)
    return;

  g_ptr_array_remove_fast (sessions, session);
  if (sessions->len == 0)
    g_hash_table_remove (self->calls_by_profile, profile_key);
}

static void
index_into (NatterHub *self, const char *profile_key, NatterCallSession *session)
{
  GPtrArray *sessions = g_hash_table_lookup (self->calls_by_profile, profile_key);

  if (sessions == NULL) {
    sessions = g_ptr_array_new ();
    g_hash_table_insert (self->calls_by_profile, g_strdup (profile_key), sessions);
  }
  g_ptr_array_add (sessions, session);
}

/* Stops the session's timers and forgets it. */
static void
drop_session (NatterHub *self, NatterCallSession *session)
{
  G_GNUC_UNUSED g_autoptr (NatterCallSession) hold = g_object_ref (session);
  gint64 call_log_id = natter_call_session_get_call_log_id (session);

  natter_call_session_end (session);
  if (self->shared)
    natter_server_bus_release_call (self->bus, call_log_id);
  natter_hub_remote_calls_dropped (self, session);
  g_signal_handlers_disconnect_by_data (session, self);
  unindex_from (self, natter_call_session_get_caller_key (session), session);
  unindex_from (self, natter_call_session_get_callee_key (session), session);
  g_hash_table_remove (self->calls, &call_log_id);
}

/* Sends to the bound connection of one side, or to every connection of that
 * profile when none is bound (ringing callee, or a dropped connection). */
static void
send_to_side (NatterHub *self,
              NatterCallSession *session,
              gboolean to_caller,
              NatterHubConnection *except,
              const NatterFrame *frame)
{
  g_autofree char *text = natter_frame_to_json (frame, NULL);
  const char *type = natter_frame_type_to_string (frame->type);
  NatterHubConnection *bound;

  bound = to_caller ? natter_call_session_get_caller_connection (session)
                    : natter_call_session_get_callee_connection (session);
  if (bound != NULL) {
    if (bound != except)
      natter_hub_connection_send_text (bound, type, text);
    return;
  }

  natter_hub_send_to_profile (self,
                              to_caller ? natter_call_session_get_caller_key (session)
                                        : natter_call_session_get_callee_key (session),
                              except, type, text);
  natter_hub_remote_calls_to_side (self, session, to_caller, except, type, text);
}

static NatterFrame *
new_call_frame (NatterFrameType type, NatterCallSession *session, const char *reason)
{
  NatterFrame *frame = natter_frame_new (type);

  frame->call_log_id = natter_call_session_get_call_log_id (session);
  frame->reason = g_strdup (reason);
  return frame;
}

/* call_cancelled to the callee's ringing connections, but @except. */
static void
cancel_ringing (NatterHub *self,
                NatterCallSession *session,
                NatterHubConnection *except,
                const char *reason)
{
  g_autoptr (NatterFrame) cancelled = new_call_frame (NATTER_FRAME_CALL_CANCELLED, session, reason);
  g_autofree char *text = natter_frame_to_json (cancelled, NULL);

  natter_hub_send_to_profile (self, natter_call_session_get_callee_key (session), except,
                              "call_cancelled", text);
  natter_hub_remote_calls_to_callee (self, session, except, "call_cancelled", text);
}

/* The one missed_call event a caller has in the history of a callee that
 * has not been online since. */
typedef struct {
  gint64 event_id;
  gint64 count;
  NatterStoreEvent *pending; /* the request storing its newest copy */
} MissedCalls;

static void
missed_calls_free (gpointer data)
{
  MissedCalls *missed = data;

  g_clear_pointer (&missed->pending, natter_store_event_unref);
  g_free (missed);
}

/* A missed_call event on its way to the store. */
typedef struct {
  NatterHub *hub;
  NatterStoreEvent *request;
  char *callee_key;
  char *caller_key;
  /* Sent once the event is stored (nullable): what the caller learns
   * comes after what the callee will find. */
  NatterHubConnection *reply_to;
  NatterFrame *reply;
} PendingMissedCall;

static void
on_missed_call_stored (NatterServerStore *store, const GError *error, gpointer user_data)
{
  PendingMissedCall *pending = user_data;
  NatterHub *self = pending->hub;
  GHashTable *by_caller = NULL;
  MissedCalls *previous = NULL;

  if (self->missed_calls != NULL)
    by_caller = g_hash_table_lookup (self->missed_calls, pending->callee_key);
  if (by_caller != NULL)
    previous = g_hash_table_lookup (by_caller, pending->caller_key);
  if (previous != NULL && previous->pending == pending->request) {
    if (error == NULL)
      previous->event_id = pending->request->event_id;
    g_clear_pointer (&previous->pending, natter_store_event_unref);
  }

  if (error != NULL)
    g_warning ("Could not store a missed call: %s", error->message);
  else
    /* Sent only once committed: an event that is not stored is never sent. */
    natter_hub_deliver_event (self, pending->callee_key, NULL, "missed_call",
                              pending->request->text);
  if (pending->reply_to != NULL)
    natter_hub_connection_send_frame (pending->reply_to, pending->reply);

  g_clear_object (&pending->reply_to);
  g_clear_pointer (&pending->reply, natter_frame_free);
  natter_store_event_unref (pending->request);
  g_free (pending->callee_key);
  g_free (pending->caller_key);
  g_object_unref (pending->hub);
  g_free (pending);
}

/* While the callee is away, a caller's missed calls are one event with a
 * count, moved to the end of the history: a flood of calls cannot push
 * messages out of the replay window. */
static void
store_missed_call_event (NatterHub *self,
                         const NatterProfile *callee,
                         NatterCallLog *call_log,
                         NatterHubConnection *reply_to,
                         NatterFrame *reply)
{
  NatterFrame *missed;
  PendingMissedCall *pending;
  GHashTable *by_caller;
  MissedCalls *previous = NULL;

  if (call_log == NULL || call_log->caller == NULL) {
    if (reply_to != NULL)
      natter_hub_connection_send_frame (reply_to, reply);
    return;
  }

  pending = g_new0 (PendingMissedCall, 1);
  pending->reply_to = reply_to != NULL ? g_object_ref (reply_to) : NULL;
  pending->reply = reply != NULL ? natter_frame_copy (reply) : NULL;
  pending->hub = g_object_ref (self);
  pending->callee_key = natter_hub_profile_key (callee->profile_id, callee->profile_type);
  pending->caller_key =
    natter_hub_profile_key (call_log->caller->profile_id, call_log->caller->profile_type);
  by_caller = g_hash_table_lookup (self->missed_calls, pending->callee_key);
  if (by_caller != NULL)
    previous = g_hash_table_lookup (by_caller, pending->caller_key);

  missed = natter_frame_new (NATTER_FRAME_MISSED_CALL);
  missed->call = natter_call_log_copy (call_log);
  missed->count = previous != NULL ? previous->count + 1 : 1;
  pending->request = natter_store_event_new (callee, missed);
  /* The copy this one replaces may still be on its way to the disk. */
  if (previous != NULL && previous->pending != NULL)
    pending->request->replaces = natter_store_event_ref (previous->pending);
  else if (previous != NULL)
    pending->request->replace_event_id = previous->event_id;

  /* Only a callee with no connection gathers: one online sees the event. */
  if (natter_hub_lookup_connections (self, pending->callee_key) == NULL) {
    if (by_caller == NULL) {
      /* Bounded like the routes: forgetting only means a new event. */
      if (g_hash_table_size (self->missed_calls) >= 65536)
        g_hash_table_remove_all (self->missed_calls);
      by_caller = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, missed_calls_free);
      g_hash_table_insert (self->missed_calls, g_strdup (pending->callee_key), by_caller);
    }
    if (previous == NULL) {
      previous = g_new0 (MissedCalls, 1);
      g_hash_table_insert (by_caller, g_strdup (pending->caller_key), previous);
    }
    previous->count = missed->count;
    g_clear_pointer (&previous->pending, natter_store_event_unref);
    previous->pending = natter_store_event_ref (pending->request);
  }

  natter_server_store_add_event (self->store, pending->request, on_missed_call_stored, pending);
}

/* How many calls @caller_key has ringing right now. */
static guint
count_ringing_from (NatterHub *self, const char *caller_key, const NatterProfile *caller)
{
  GPtrArray *sessions = g_hash_table_lookup (self->calls_by_profile, caller_key);
  guint n = 0;

  for (guint i = 0; sessions != NULL && i < sessions->len; i++) {
    NatterCallSession *session = g_ptr_array_index (sessions, i);

    if (natter_call_session_get_state (session) == NATTER_CALL_SESSION_RINGING &&
        natter_call_session_is_caller (session, caller))
      n++;
  }

  return n;
}

static gboolean
take_invitation (NatterHub *self, const char *caller_key)
{
  NatterTokenBucket *bucket = g_hash_table_lookup (self->invitation_buckets, caller_key);
  guint per_min = self->config->call_invitations_per_min > 0
                    ? self->config->call_invitations_per_min
                    : NATTER_CALL_INVITATIONS_PER_MIN;

  if (bucket == NULL) {
    if (g_hash_table_size (self->invitation_buckets) >= 65536)
      g_hash_table_remove_all (self->invitation_buckets);
    bucket = natter_token_bucket_new (per_min / 60.0, per_min);
    g_hash_table_insert (self->invitation_buckets, g_strdup (caller_key), bucket);
  }

  return natter_token_bucket_take (bucket, g_get_monotonic_time ());
}

/* The callee's missed_call event, once the call log says "missed". */
static void
on_missed_status_stored (NatterHub *self,
                         NatterCallLog *call_log,
                         gboolean were_contacts,
                         gpointer user_data)
{
  store_missed_call_event (self, user_data, call_log, NULL, NULL);
}

static void
on_ring_timeout (NatterHub *self, NatterCallSession *session)
{
  G_GNUC_UNUSED g_autoptr (NatterCallSession) hold = g_object_ref (session);
  g_autoptr (NatterFrame) ended = NULL;

  natter_hub_call_log_write (self, natter_call_session_get_call_log_id (session), "missed",
                             on_missed_status_stored,
                             natter_profile_copy (natter_call_session_get_callee (session)),
                             (GDestroyNotify) natter_profile_free);
  count_call_outcome (self, "missed");

  ended = new_call_frame (NATTER_FRAME_CALL_ENDED, session, "no_answer");
  natter_hub_stamp_sender (ended, natter_call_session_get_callee (session));
  send_to_side (self, session, TRUE, NULL, ended);
  cancel_ringing (self, session, NULL, "timeout");
  drop_session (self, session);
}

static void
on_caller_gone (NatterHub *self, NatterCallSession *session)
{
  G_GNUC_UNUSED g_autoptr (NatterCallSession) hold = g_object_ref (session);
  g_autoptr (NatterCallLog) call_log = NULL;
  g_autoptr (NatterFrame) ended = NULL;
  g_autofree char *text = NULL;

  store_status (self, session, "cancelled");
  count_call_outcome (self, "cancelled");

  ended = new_call_frame (NATTER_FRAME_CALL_ENDED, session, "caller_cancelled");
  natter_hub_stamp_sender (ended, natter_call_session_get_caller (session));
  text = natter_frame_to_json (ended, NULL);
  natter_hub_send_to_profile (self, natter_call_session_get_callee_key (session), NULL,
                              "call_ended", text);
  natter_hub_remote_calls_to_callee (self, session, NULL, "call_ended", text);
  drop_session (self, session);
}

/* Both parties of an answered call have been gone for a long time: the
 * media path is surely dead too, so the call ends instead of being kept in
 * memory forever. */
static void
on_call_abandoned (NatterHub *self, NatterCallSession *session)
{
  G_GNUC_UNUSED g_autoptr (NatterCallSession) hold = g_object_ref (session);

  natter_hub_call_log_write (self, natter_call_session_get_call_log_id (session), NULL, NULL, NULL,
                             NULL);
  drop_session (self, session);
}

static NatterCallSession *
find_ringing_between (NatterHub *self,
                      const char *profile_key,
                      const NatterProfile *caller,
                      const NatterProfile *callee)
{
  GPtrArray *sessions = g_hash_table_lookup (self->calls_by_profile, profile_key);

  if (sessions == NULL)
    return NULL;

  for (guint i = 0; i < sessions->len; i++) {
    NatterCallSession *session = g_ptr_array_index (sessions, i);

    if (natter_call_session_get_state (session) == NATTER_CALL_SESSION_RINGING &&
        natter_call_session_is_caller (session, caller) &&
        natter_call_session_is_callee (session, callee))
      return session;
  }

  return NULL;
}

/* The newest live call between @profile and @other, either direction. */
static NatterCallSession *
find_call_with (NatterHub *self, const NatterProfile *profile, const NatterProfile *other)
{
  g_autofree char *key = natter_hub_profile_key (profile->profile_id, profile->profile_type);
  GPtrArray *sessions = g_hash_table_lookup (self->calls_by_profile, key);
  NatterCallSession *found = NULL;

  if (sessions == NULL)
    return NULL;

  for (guint i = 0; i < sessions->len; i++) {
    NatterCallSession *session = g_ptr_array_index (sessions, i);

    if ((natter_call_session_is_caller (session, profile) &&
         natter_call_session_is_callee (session, other)) ||
        (natter_call_session_is_caller (session, other) &&
         natter_call_session_is_callee (session, profile))) {
      if (found == NULL || natter_call_session_get_call_log_id (session) >
                             natter_call_session_get_call_log_id (found))
        found = session;
    }
  }

  return found;
}

/* A call_invitation on its way through the store (the checks, then the
 * call log); the connection's later frames wait for it. */
typedef struct {
  NatterHub *hub;
  NatterHubConnection *connection;
  NatterFrame *frame;
  NatterProfile *callee;
  NatterCallLog *call_log;
  NatterFrame *reply;
  /* From the other nodes' check (natter-hub-remote-calls.c): the callee
   * is online on another node, and the claim on the pair that the ring
   * takes over (0: none). */
  gboolean callee_elsewhere;
  guint64 claim;
} PendingInvitation;

static void
pending_invitation_free (gpointer data)
{
  PendingInvitation *pending = data;

  /* It did not ring: the other nodes may ring this pair again. */
  natter_hub_remote_calls_drop_claim (pending->hub, pending->claim, pending->connection);
  natter_hub_release_frames (pending->hub, pending->connection);
  g_object_unref (pending->hub);
  g_object_unref (pending->connection);
  natter_frame_free (pending->frame);
  g_clear_pointer (&pending->callee, natter_profile_free);
  g_clear_pointer (&pending->call_log, natter_call_log_free);
  g_clear_pointer (&pending->reply, natter_frame_free);
  g_free (pending);
}

/* The next step's: holds the connection's frames again. */
static PendingInvitation *
pending_invitation_next (PendingInvitation *pending)
{
  PendingInvitation *next = g_new0 (PendingInvitation, 1);

  next->hub = g_object_ref (pending->hub);
  next->connection = g_object_ref (pending->connection);
  next->frame = natter_frame_copy (pending->frame);
  next->callee = g_steal_pointer (&pending->callee);
  next->call_log = g_steal_pointer (&pending->call_log);
  next->reply = g_steal_pointer (&pending->reply);
  next->callee_elsewhere = pending->callee_elsewhere;
  next->claim = pending->claim;
  pending->claim = 0;
  natter_hub_hold_frames (next->hub, next->connection);
  return next;
}

/* Glare or too many calls ringing: FALSE after call_unavailable. */
static gboolean
may_ring (NatterHub *self,
          NatterHubConnection *connection,
          NatterFrame *frame,
          const NatterProfile *callee,
          gint64 call_log_id)
{
  const NatterProfile *caller = natter_hub_connection_get_profile (connection);
  g_autoptr (NatterFrame) reply = NULL;
  NatterCallSession *glare;

  /* Glare: the callee is ringing us right now; the earlier call survives. */
  glare =
    find_ringing_between (self, natter_hub_connection_get_profile_key (connection), callee, caller);
  if (glare != NULL) {
    reply = natter_frame_new (NATTER_FRAME_CALL_UNAVAILABLE);
    reply->client_call_id = g_strdup (frame->client_call_id);
    reply->reason = g_strdup ("glare");
    reply->ringing_call_log_id = natter_call_session_get_call_log_id (glare);
  } else if (count_ringing_from (self, natter_hub_connection_get_profile_key (connection),
                                 caller) >= (self->config->max_ringing_calls > 0
                                               ? self->config->max_ringing_calls
                                               : NATTER_MAX_RINGING_CALLS)) {
    reply = natter_frame_new (NATTER_FRAME_CALL_UNAVAILABLE);
    reply->client_call_id = g_strdup (frame->client_call_id);
    reply->reason = g_strdup ("busy");
  } else {
    return TRUE;
  }

  /* Found only once its call log was stored: it never rang. */
  if (call_log_id != 0)
    natter_hub_call_log_write (self, call_log_id, "failed", NULL, NULL, NULL);
  natter_hub_connection_send_frame (connection, reply);
  return FALSE;
}

static void
on_offline_missed_stored (NatterHub *self,
                          NatterCallLog *missed,
                          gboolean were_contacts,
                          gpointer user_data)
{
  PendingInvitation *pending = user_data;

  store_missed_call_event (self, pending->callee, missed != NULL ? missed : pending->call_log,
                           pending->connection, pending->reply);
}

static void
on_invitation_stored (NatterHub *self,
                      NatterCallLog *stored,
                      gboolean were_contacts,
                      gpointer user_data)
{
  PendingInvitation *pending = user_data;
  NatterHubConnection *connection = pending->connection;
  NatterFrame *frame = pending->frame;
  const NatterProfile *caller = natter_hub_connection_get_profile (connection);
  const NatterProfile *callee = pending->callee;
  NatterCallLog *call_log;
  g_autoptr (NatterCallSession) session = NULL;
  g_autoptr (NatterFrame) reply = NULL;
  g_autoptr (NatterFrame) invitation = NULL;
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr (GDateTime) expires = NULL;
  g_autofree char *callee_key = NULL;
  g_autofree char *invitation_json = NULL;
  guint ring_timeout_s;

  if (stored == NULL) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_INTERNAL,
                                      "the server could not store the call", frame->client_call_id);
    return;
  }
  if (!natter_hub_connection_is_open (connection) || self->shutting_down) {
    natter_hub_call_log_write (self, stored->call_log_id, "failed", NULL, NULL, NULL);
    return;
  }
  /* Another invitation may have begun to ring meanwhile. */
  if (!may_ring (self, connection, frame, callee, stored->call_log_id))
    return;
  call_log = pending->call_log = natter_call_log_copy (stored);

  callee_key = natter_hub_profile_key (callee->profile_id, callee->profile_type);
  if (natter_hub_lookup_connections (self, callee_key) == NULL && !pending->callee_elsewhere) {
    count_call_outcome (self, "missed");

    pending->reply = natter_frame_new (NATTER_FRAME_CALL_UNAVAILABLE);
    pending->reply->client_call_id = g_strdup (frame->client_call_id);
    pending->reply->call_log_id = call_log->call_log_id;
    pending->reply->reason = g_strdup ("offline");
    /* The connection's frames wait until the event is on its way. */
    natter_hub_call_log_write (self, call_log->call_log_id, "missed", on_offline_missed_stored,
                               pending_invitation_next (pending), pending_invitation_free);
    return;
  }
  ring_timeout_s =
    self->config->ring_timeout_s > 0 ? self->config->ring_timeout_s : NATTER_RING_TIMEOUT_S;
  session = natter_call_session_new (call_log->call_log_id, caller, callee, connection);
  g_signal_connect_object (session, "ring-timeout", G_CALLBACK (on_ring_timeout), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "caller-gone", G_CALLBACK (on_caller_gone), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "abandoned", G_CALLBACK (on_call_abandoned), self,
                           G_CONNECT_SWAPPED);

  g_hash_table_insert (self->calls,
                       g_memdup2 (&call_log->call_log_id, sizeof call_log->call_log_id),
                       g_object_ref (session));
  index_into (self, natter_call_session_get_caller_key (session), session);
  index_into (self, natter_call_session_get_callee_key (session), session);
  /* Should this node die, another one ends it. */
  if (self->shared)
    natter_server_bus_own_call (self->bus, call_log->call_log_id);

  invitation = natter_frame_new (NATTER_FRAME_CALL_INVITATION);
  invitation->call_log_id = call_log->call_log_id;
  natter_hub_stamp_sender (invitation, caller);
  invitation->call_type = g_strdup (frame->call_type);
  invitation->conversation_id = frame->conversation_id;
  invitation->offer = natter_session_description_copy (frame->offer);
  expires = g_date_time_add_seconds (now, ring_timeout_s);
  invitation->expires_at = natter_format_time (expires);
  invitation_json = natter_frame_to_json (invitation, NULL);
  natter_call_session_set_invitation (session, invitation_json);

  reply = natter_frame_new (NATTER_FRAME_CALL_RINGING);
  reply->client_call_id = g_strdup (frame->client_call_id);
  reply->call_log_id = call_log->call_log_id;
  natter_hub_connection_send_frame (connection, reply);

  natter_hub_send_to_profile (self, callee_key, NULL, "call_invitation", invitation_json);
  natter_hub_remote_calls_ring (self, session, pending->claim);
  pending->claim = 0;
  natter_call_session_start_ringing (session, ring_timeout_s);
}

static void
on_invitation_checked (NatterHub *self, NatterCallInvitationCheck *check, gpointer user_data)
{
  PendingInvitation *pending = user_data;
  NatterHubConnection *connection = pending->connection;
  NatterFrame *frame = pending->frame;
  const NatterProfile *caller = natter_hub_connection_get_profile (connection);

  if (check == NULL) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_INTERNAL,
                                      "the server could not read the callee",
                                      frame->client_call_id);
    return;
  }
  if (check->callee == NULL) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_FOUND,
                                      "no such profile", frame->client_call_id);
    return;
  }

  if (natter_profile_equal (check->callee, caller)) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                      "you cannot call yourself", frame->client_call_id);
    return;
  }

  if (check->blocked) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                      "you cannot call this profile", frame->client_call_id);
    return;
  }

  if (!take_invitation (self, natter_hub_connection_get_profile_key (connection))) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_RATE_LIMITED,
                                      "too many calls, wait a minute", frame->client_call_id);
    return;
  }

  if (!check->participants) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                      "the conversation is not yours and theirs",
                                      frame->client_call_id);
    return;
  }

  if (!may_ring (self, connection, frame, check->callee, 0))
    return;

  pending = pending_invitation_next (pending);
  pending->callee = natter_profile_copy (check->callee);
  natter_hub_call_log_create (self, caller, check->callee, frame->call_type, frame->conversation_id,
                              on_invitation_stored, pending, pending_invitation_free);
}

/**
 * natter_hub_calls_handle_invitation:
 * @self: the hub
 * @connection: the caller's
 * @frame: its call_invitation
 * @callee_elsewhere: the other nodes' check found the callee online there
 * @claim: that check's claim on the pair (0: none), the invitation's from
 *   now on: its ring takes it over, or it is dropped
 *
 * Checks @frame through the store, then rings the callee.
 */
void
natter_hub_calls_handle_invitation (NatterHub *self,
                                    NatterHubConnection *connection,
                                    NatterFrame *frame,
                                    gboolean callee_elsewhere,
                                    guint64 claim)
{
  PendingInvitation *pending = g_new0 (PendingInvitation, 1);

  pending->hub = g_object_ref (self);
  pending->connection = g_object_ref (connection);
  pending->frame = natter_frame_copy (frame);
  pending->callee_elsewhere = callee_elsewhere;
  pending->claim = claim;
  natter_hub_hold_frames (self, connection);
  natter_hub_call_check_invitation (self, natter_hub_connection_get_profile (connection), frame,
                                    on_invitation_checked, pending, pending_invitation_free);
}

/* The live session @frame is about, or NULL after an error frame: not_found
 * for an unknown or finished call, not_allowed when @connection's profile is
 * not one of its two parties. */
/* A frame about a call with no session here, once its call log is read.
 * A call answered before this server (re)started has no session, only its
 * call log row, "answered" and not ended: a party's call_ended ends it
 * there and goes to every connection of the other party, or the peer would
 * keep the call up on a media path nobody is sending on. */
static void
on_unknown_call_read (NatterHub *self,
                      NatterCallLog *call_log,
                      gboolean were_contacts,
                      gpointer user_data)
{
  PendingInvitation *pending = user_data;
  NatterFrame *frame = pending->frame;
  const NatterProfile *sender = natter_hub_connection_get_profile (pending->connection);
  const NatterProfile *other = NULL;

  if (call_log != NULL && call_log->caller != NULL && call_log->callee != NULL) {
    if (natter_profile_equal (call_log->caller, sender))
      other = call_log->callee;
    else if (natter_profile_equal (call_log->callee, sender))
      other = call_log->caller;
  }

  if (other != NULL && frame->type == NATTER_FRAME_CALL_ENDED &&
      g_strcmp0 (call_log->status, "answered") == 0 && call_log->ended_at == NULL &&
      !g_hash_table_contains (self->calls, &frame->call_log_id)) {
    g_autoptr (NatterFrame) forward = natter_frame_new (NATTER_FRAME_CALL_ENDED);
    g_autofree char *key = natter_hub_profile_key (other->profile_id, other->profile_type);
    g_autofree char *text = NULL;

    natter_hub_call_log_write (self, frame->call_log_id, NULL, NULL, NULL, NULL);
    forward->call_log_id = frame->call_log_id;
    forward->reason = g_strdup (frame->reason);
    natter_hub_stamp_sender (forward, sender);
    text = natter_frame_to_json (forward, NULL);
    natter_hub_send_to_profile (self, key, NULL, "call_ended", text);
    return;
  }

  if (call_log != NULL && other == NULL)
    natter_hub_connection_send_error (pending->connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                      "this is not your call", NULL);
  else
    natter_hub_connection_send_error (pending->connection, NATTER_PROTOCOL_ERROR_NOT_FOUND,
                                      "no such call, or it is over", NULL);
}

static NatterCallSession *
lookup_session (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame)
{
  const NatterProfile *profile = natter_hub_connection_get_profile (connection);
  NatterCallSession *session;

  if (frame->call_log_id == 0) {
    g_autoptr (NatterProfile) other = NULL;

    /* Compat: an older client names the peer instead of the call. */
    if (frame->to_profile_id == 0 || frame->to_profile_type == NULL) {
      natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_BAD_FRAME,
                                        "call_log_id is missing", NULL);
      return NULL;
    }

    other = natter_profile_new (frame->to_profile_id, frame->to_profile_type, NULL, NULL);
    session = find_call_with (self, profile, other);
    if (session == NULL) {
      natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_FOUND,
                                        "no call with this profile", NULL);
      return NULL;
    }
    return session;
  }

  session = g_hash_table_lookup (self->calls, &frame->call_log_id);
  if (session == NULL) {
    /* Over, never here, or someone else's: the call log tells, and the
     * connection's later frames wait for the answer. */
    PendingInvitation *pending = g_new0 (PendingInvitation, 1);

    pending->hub = g_object_ref (self);
    pending->connection = g_object_ref (connection);
    pending->frame = natter_frame_copy (frame);
    natter_hub_hold_frames (self, connection);
    natter_hub_call_log_read (self, frame->call_log_id, on_unknown_call_read, pending,
                              pending_invitation_free);
    return NULL;
  }

  if (!natter_call_session_is_caller (session, profile) &&
      !natter_call_session_is_callee (session, profile)) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                      "this is not your call", NULL);
    return NULL;
  }

  return session;
}

/* Only the bound connection of a side speaks for it; when that connection
 * is gone, the sender becomes the bound one (see the top of this file). The
 * callee is bound by its answer, so before that any of its devices may
 * speak. */
static gboolean
authorize_sender (NatterHub *self,
                  NatterCallSession *session,
                  NatterHubConnection *connection,
                  gboolean *out_is_caller)
{
  const NatterProfile *profile = natter_hub_connection_get_profile (connection);
  gboolean is_caller = natter_call_session_is_caller (session, profile);
  NatterHubConnection *bound;

  *out_is_caller = is_caller;

  if (is_caller) {
    bound = natter_call_session_get_caller_connection (session);
    if (bound == NULL) {
      natter_call_session_bind_caller (session, connection);
      natter_call_session_caller_returned (session);
      return TRUE;
    }
  } else {
    if (natter_call_session_get_state (session) != NATTER_CALL_SESSION_ANSWERED)
      return TRUE;
    bound = natter_call_session_get_callee_connection (session);
    if (bound == NULL) {
      natter_call_session_bind_callee (session, connection);
      return TRUE;
    }
  }

  if (bound == connection)
    return TRUE;

  natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                    "this call is bound to another of your connections", NULL);
  return FALSE;
}

static void
handle_ice_candidate (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame)
{
  g_autoptr (NatterFrame) forward = NULL;
  NatterCallSession *session;
  gboolean is_caller;

  session = lookup_session (self, connection, frame);
  if (session == NULL || !authorize_sender (self, session, connection, &is_caller))
    return;

  forward = new_call_frame (NATTER_FRAME_ICE_CANDIDATE, session, NULL);
  forward->candidate =
    frame->candidate != NULL ? natter_ice_candidate_copy (frame->candidate) : NULL;
  natter_hub_stamp_sender (forward, natter_hub_connection_get_profile (connection));

  if (frame->call_log_id == 0) {
    g_autofree char *key = natter_hub_profile_key (frame->to_profile_id, frame->to_profile_type);
    g_autofree char *text = natter_frame_to_json (forward, NULL);

    natter_hub_send_to_profile (self, key, NULL, "ice_candidate", text);
    /* The named peer is the other party: its devices on other nodes too. */
    natter_hub_remote_calls_to_side (self, session, !is_caller, NULL, "ice_candidate", text);
    return;
  }

  if (is_caller && natter_call_session_get_state (session) == NATTER_CALL_SESSION_RINGING) {
    g_autofree char *text = natter_frame_to_json (forward, NULL);

    /* Kept for a callee device that comes online during the ring, up to
     * the limit: the live devices get every one anyway. */
    if (natter_call_session_get_caller_candidates (session)->len <
        (self->config->max_call_candidates > 0 ? self->config->max_call_candidates
                                               : NATTER_MAX_CALL_CANDIDATES))
      natter_call_session_add_caller_candidate (session, text);
    natter_hub_send_to_profile (self, natter_call_session_get_callee_key (session), NULL,
                                "ice_candidate", text);
    natter_hub_remote_calls_to_callee (self, session, NULL, "ice_candidate", text);
    return;
  }

  send_to_side (self, session, !is_caller, NULL, forward);
}

/* An answer on its way to the call log: the caller hears of it once the
 * log says "answered", and the callee's later frames (its candidates)
 * wait behind it. */
typedef struct {
  NatterHub *hub;
  NatterHubConnection *connection;
  NatterCallSession *session;
  NatterFrame *forward;
} PendingAnswer;

static void
pending_answer_free (gpointer data)
{
  PendingAnswer *pending = data;

  natter_hub_release_frames (pending->hub, pending->connection);
  g_object_unref (pending->hub);
  g_object_unref (pending->connection);
  g_object_unref (pending->session);
  natter_frame_free (pending->forward);
  g_free (pending);
}

/* A first answered call between two makes them contacts. */
static void
on_answer_stored (NatterHub *self,
                  NatterCallLog *call_log,
                  gboolean were_contacts,
                  gpointer user_data)
{
  PendingAnswer *pending = user_data;

  if (call_log != NULL && !were_contacts && call_log->caller != NULL && call_log->callee != NULL)
    natter_hub_introduce (self, call_log->caller, call_log->callee);

  send_to_side (self, pending->session, TRUE, NULL, pending->forward);
  cancel_ringing (self, pending->session, pending->connection, "answered_elsewhere");
}

void
natter_hub_calls_handle_answer (NatterHub *self,
                                NatterHubConnection *connection,
                                NatterFrame *frame)
{
  const NatterProfile *callee = natter_hub_connection_get_profile (connection);
  PendingAnswer *pending;
  NatterCallSession *session;

  session = lookup_session (self, connection, frame);
  if (session == NULL)
    return;

  if (!natter_call_session_is_callee (session, callee)) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                      "only the callee answers", NULL);
    return;
  }

  if (natter_call_session_get_state (session) != NATTER_CALL_SESSION_RINGING) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                      "the call was already answered", NULL);
    return;
  }

  /* Answering a call takes part like writing: a first one makes contacts. */
  natter_call_session_answer (session, connection);
  if (self->shared)
    natter_server_bus_release_call (self->bus, natter_call_session_get_call_log_id (session));
  count_call_outcome (self, "answered");

  pending = g_new0 (PendingAnswer, 1);
  pending->hub = g_object_ref (self);
  pending->connection = g_object_ref (connection);
  pending->session = g_object_ref (session);
  pending->forward = new_call_frame (NATTER_FRAME_CALL_ANSWER, session, NULL);
  pending->forward->answer = natter_session_description_copy (frame->answer);
  natter_hub_stamp_sender (pending->forward, callee);
  natter_hub_hold_frames (self, connection);
  natter_hub_call_log_answer (self, natter_call_session_get_call_log_id (session),
                              natter_call_session_get_caller (session), callee, on_answer_stored,
                              pending, pending_answer_free);
}

static void
handle_declined (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame)
{
  const NatterProfile *callee = natter_hub_connection_get_profile (connection);
  g_autoptr (NatterCallSession) hold = NULL;
  g_autoptr (NatterFrame) forward = NULL;
  g_autoptr (NatterCallLog) call_log = NULL;
  gboolean busy = g_strcmp0 (frame->reason, "busy") == 0;
  NatterCallSession *session;

  session = lookup_session (self, connection, frame);
  if (session == NULL)
    return;

  if (!natter_call_session_is_callee (session, callee) ||
      natter_call_session_get_state (session) != NATTER_CALL_SESSION_RINGING) {
    natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
                                      "only the callee declines a ringing call", NULL);
    return;
  }

  hold = g_object_ref (session);
  store_status (self, session, busy ? "busy" : "declined");
  count_call_outcome (self, busy ? "busy" : "declined");

  forward = new_call_frame (NATTER_FRAME_CALL_DECLINED, session, busy ? "busy" : "declined");
  natter_hub_stamp_sender (forward, callee);
  send_to_side (self, session, TRUE, NULL, forward);
  cancel_ringing (self, session, connection, "declined_elsewhere");
  drop_session (self, session);
}

static void
handle_ended (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame)
{
  const NatterProfile *sender = natter_hub_connection_get_profile (connection);
  g_autoptr (NatterCallSession) hold = NULL;
  g_autoptr (NatterFrame) forward = NULL;
  g_autoptr (NatterCallLog) call_log = NULL;
  g_autoptr (GError) error = NULL;
  NatterCallSession *session;
  gboolean is_caller;

  session = lookup_session (self, connection, frame);
  if (session == NULL || !authorize_sender (self, session, connection, &is_caller))
    return;

  hold = g_object_ref (session);

  if (natter_call_session_get_state (session) == NATTER_CALL_SESSION_RINGING) {
    if (is_caller) {
      store_status (self, session, "cancelled");
      count_call_outcome (self, "cancelled");
      forward = new_call_frame (NATTER_FRAME_CALL_ENDED, session, "caller_cancelled");
      natter_hub_stamp_sender (forward, sender);
      send_to_side (self, session, FALSE, NULL, forward);
    } else {
      /* Hanging up on a ringing call is declining it. */
      store_status (self, session, "declined");
      count_call_outcome (self, "declined");
      forward = new_call_frame (NATTER_FRAME_CALL_ENDED, session, frame->reason);
      natter_hub_stamp_sender (forward, sender);
      send_to_side (self, session, TRUE, NULL, forward);
      cancel_ringing (self, session, connection, "declined_elsewhere");
    }
  } else {
    natter_hub_call_log_write (self, natter_call_session_get_call_log_id (session), NULL, NULL,
                               NULL, NULL);
    forward = new_call_frame (NATTER_FRAME_CALL_ENDED, session, frame->reason);
    natter_hub_stamp_sender (forward, sender);
    send_to_side (self, session, !is_caller, NULL, forward);
  }

  drop_session (self, session);
}

static void
handle_in_call (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame)
{
  g_autoptr (NatterFrame) forward = NULL;
  NatterCallSession *session;
  gboolean is_caller;

  session = lookup_session (self, connection, frame);
  if (session == NULL || !authorize_sender (self, session, connection, &is_caller))
    return;

  forward = new_call_frame (frame->type, session, NULL);
  if (frame->type == NATTER_FRAME_CALL_MEDIA_STATE) {
    forward->audio_muted = frame->audio_muted;
    forward->video_enabled = frame->video_enabled;
  } else {
    forward->offer = frame->offer != NULL ? natter_session_description_copy (frame->offer) : NULL;
    forward->answer =
      frame->answer != NULL ? natter_session_description_copy (frame->answer) : NULL;
  }
  natter_hub_stamp_sender (forward, natter_hub_connection_get_profile (connection));
  send_to_side (self, session, !is_caller, NULL, forward);
}

void
natter_hub_calls_handle_frame (NatterHub *self, NatterHubConnection *connection, NatterFrame *frame)
{
  /* Calls of other nodes go there (natter-hub-remote-calls.c). */
  if (natter_hub_remote_calls_forward (self, connection, frame))
    return;

  switch (frame->type) {
    case NATTER_FRAME_CALL_INVITATION:
      if (!natter_hub_remote_calls_take_invitation (self, connection, frame))
        natter_hub_calls_handle_invitation (self, connection, frame, FALSE, 0);
      break;
    case NATTER_FRAME_ICE_CANDIDATE:
      handle_ice_candidate (self, connection, frame);
      break;
    case NATTER_FRAME_CALL_ANSWER:
      if (!natter_hub_remote_calls_take_answer (self, connection, frame))
        natter_hub_calls_handle_answer (self, connection, frame);
      break;
    case NATTER_FRAME_CALL_DECLINED:
      handle_declined (self, connection, frame);
      break;
    case NATTER_FRAME_CALL_ENDED:
      handle_ended (self, connection, frame);
      break;
    case NATTER_FRAME_CALL_MEDIA_STATE:
    case NATTER_FRAME_CALL_UPDATE:
      handle_in_call (self, connection, frame);
      break;
    default:
      g_assert_not_reached ();
  }
}

/* A callee device that comes online during the ring rings too: the
 * invitation at once, then the caller's candidates so far. A caller that
 * comes back stops the grace timer. */
void
natter_hub_calls_connection_opened (NatterHub *self, NatterHubConnection *connection)
{
  const NatterProfile *profile = natter_hub_connection_get_profile (connection);
  GPtrArray *sessions;

  natter_hub_remote_calls_connection_opened (self, connection);
  sessions = g_hash_table_lookup (self->calls_by_profile,
                                  natter_hub_connection_get_profile_key (connection));
  if (sessions == NULL)
    return;

  for (guint i = 0; i < sessions->len; i++) {
    NatterCallSession *session = g_ptr_array_index (sessions, i);
    GPtrArray *candidates;

    natter_call_session_party_returned (session);
    if (natter_call_session_get_state (session) != NATTER_CALL_SESSION_RINGING)
      continue;

    if (natter_call_session_is_caller (session, profile)) {
      natter_call_session_caller_returned (session);
      continue;
    }

    natter_hub_connection_send_text (connection, "call_invitation",
                                     natter_call_session_get_invitation (session));
    candidates = natter_call_session_get_caller_candidates (session);
    for (guint j = 0; j < candidates->len; j++)
      natter_hub_connection_send_text (connection, "ice_candidate",
                                       g_ptr_array_index (candidates, j));
  }
}

void
natter_hub_calls_connection_closed (NatterHub *self,
                                    NatterHubConnection *connection,
                                    gboolean was_last)
{
  const NatterProfile *profile = natter_hub_connection_get_profile (connection);
  GPtrArray *sessions;
  guint grace_s;
  guint abandoned_s;

  natter_hub_remote_calls_connection_closed (self, connection);
  if (!was_last)
    return;

  sessions = g_hash_table_lookup (self->calls_by_profile,
                                  natter_hub_connection_get_profile_key (connection));
  if (sessions == NULL)
    return;

  grace_s = self->config->caller_grace_s > 0 ? self->config->caller_grace_s : NATTER_CALLER_GRACE_S;
  /* As long as a silent connection is given before it counts as dead. */
  abandoned_s = self->config->dead_after_s > 0 ? self->config->dead_after_s : NATTER_DEAD_AFTER_S;
  for (guint i = 0; i < sessions->len; i++) {
    NatterCallSession *session = g_ptr_array_index (sessions, i);

    if (natter_call_session_get_state (session) == NATTER_CALL_SESSION_RINGING &&
        natter_call_session_is_caller (session, profile))
      natter_call_session_caller_left (session, grace_s);
    else if (natter_call_session_get_state (session) == NATTER_CALL_SESSION_ANSWERED &&
             natter_hub_lookup_connections (self, natter_call_session_get_caller_key (session)) ==
               NULL &&
             natter_hub_lookup_connections (self, natter_call_session_get_callee_key (session)) ==
               NULL &&
             !natter_hub_remote_calls_party_elsewhere (self, session))
      natter_call_session_parties_left (session, abandoned_s);
  }
}

/* Ringing calls cannot survive the process: they become "failed", as the
 * next start would mark them anyway. */
void
natter_hub_calls_shutdown (NatterHub *self)
{
  g_autoptr (GPtrArray) sessions = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer session;

  g_hash_table_iter_init (&iter, self->calls);
  while (g_hash_table_iter_next (&iter, NULL, &session))
    g_ptr_array_add (sessions, g_object_ref (session));

  for (guint i = 0; i < sessions->len; i++) {
    NatterCallSession *live = g_ptr_array_index (sessions, i);

    if (natter_call_session_get_state (live) == NATTER_CALL_SESSION_RINGING) {
      store_status (self, live, "failed");

      count_call_outcome (self, "failed");
    }
    drop_session (self, live);
  }
}

/* A call of a node that is gone, on its way through the store. */
typedef struct {
  char *node_id;
  gboolean own;
  NatterCallLog *call_log; /* as it was before */
} LeftCall;

static void
left_call_free (gpointer data)
{
  LeftCall *left = data;

  g_free (left->node_id);
  g_clear_pointer (&left->call_log, natter_call_log_free);
  g_free (left);
}

static void
on_left_call_stored (NatterHub *self,
                     NatterCallLog *stored,
                     gboolean were_contacts,
                     gpointer user_data)
{
  LeftCall *left = user_data;
  NatterCallLog *call_log = left->call_log;
  g_autoptr (NatterFrame) ended_frame = NULL;
  g_autoptr (NatterFrame) cancelled = NULL;
  g_autofree char *caller_key = NULL;
  g_autofree char *callee_key = NULL;
  g_autofree char *text = NULL;

  if (stored == NULL)
    return;
  count_call_outcome (self, left->own ? "failed" : "missed");
  g_message ("call %" G_GINT64_FORMAT " left ringing by %s node %s marked %s",
             call_log->call_log_id, left->own ? "this" : "the dead", left->node_id,
             left->own ? "failed" : "missed");
  if (left->own)
    return;

  caller_key =
    natter_hub_profile_key (call_log->caller->profile_id, call_log->caller->profile_type);
  callee_key =
    natter_hub_profile_key (call_log->callee->profile_id, call_log->callee->profile_type);
  ended_frame = natter_frame_new (NATTER_FRAME_CALL_ENDED);
  ended_frame->call_log_id = call_log->call_log_id;
  ended_frame->reason = g_strdup ("no_answer");
  natter_hub_stamp_sender (ended_frame, call_log->callee);
  text = natter_frame_to_json (ended_frame, NULL);
  natter_hub_send_to_profile (self, caller_key, NULL, "call_ended", text);
  g_clear_pointer (&text, g_free);
  cancelled = natter_frame_new (NATTER_FRAME_CALL_CANCELLED);
  cancelled->call_log_id = call_log->call_log_id;
  cancelled->reason = g_strdup ("timeout");
  text = natter_frame_to_json (cancelled, NULL);
  natter_hub_send_to_profile (self, callee_key, NULL, "call_cancelled", text);
  store_missed_call_event (self, call_log->callee, stored, NULL, NULL);
}

static void
on_left_call_read (NatterHub *self,
                   NatterCallLog *call_log,
                   gboolean were_contacts,
                   gpointer user_data)
{
  LeftCall *left = user_data;
  LeftCall *next;

  /* Rings here (a set Redis lost and got back), or ended meanwhile. */
  if (call_log == NULL || g_hash_table_contains (self->calls, &call_log->call_log_id) ||
      g_strcmp0 (call_log->status, "ringing") != 0 || call_log->caller == NULL ||
      call_log->callee == NULL)
    return;

  next = g_new0 (LeftCall, 1);
  next->node_id = g_strdup (left->node_id);
  next->own = left->own;
  next->call_log = natter_call_log_copy (call_log);
  natter_hub_call_log_write (self, call_log->call_log_id, left->own ? "failed" : "missed",
                             on_left_call_stored, next, left_call_free);
}

/**
 * natter_hub_calls_left:
 * @self: the hub
 * @node_id: the node that is gone (this one's own id at start-up)
 * @own: whether those were this node's calls
 * @call_log_ids: (element-type gint64): the calls it owned
 *
 * Ends what still rings of them in the store: this node's own as
 * "failed", as a node alone does at start-up; a dead node's as "missed",
 * like a ring timeout (call_ended no_answer to the caller's connections
 * here, call_cancelled timeout to the callee's, a missed_call event).
 */
void
natter_hub_calls_left (NatterHub *self, const char *node_id, gboolean own, GArray *call_log_ids)
{
  for (guint i = 0; i < call_log_ids->len; i++) {
    gint64 call_log_id = g_array_index (call_log_ids, gint64, i);
    LeftCall *left;

    if (g_hash_table_contains (self->calls, &call_log_id))
      continue;
    left = g_new0 (LeftCall, 1);
    left->node_id = g_strdup (node_id);
    left->own = own;
    natter_hub_call_log_read (self, call_log_id, on_left_call_read, left, left_call_free);
  }
}
