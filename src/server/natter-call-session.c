/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-session"

#include "natter-call-session.h"

enum { SIGNAL_RING_TIMEOUT, SIGNAL_CALLER_GONE, SIGNAL_ABANDONED, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterCallSession {
  GObject parent_instance;

  gint64 call_log_id;
  NatterProfile *caller;
  NatterProfile *callee;
  char *caller_key;
  char *callee_key;
  NatterCallSessionState state;

  NatterHubConnection *caller_connection;
  NatterHubConnection *callee_connection;

  char *invitation_json;
  GPtrArray *caller_candidates;

  guint ring_timeout_id;
  guint caller_grace_id;
  guint abandoned_id;
};

G_DEFINE_FINAL_TYPE (NatterCallSession, natter_call_session, G_TYPE_OBJECT)

static gboolean
on_ring_timeout (gpointer user_data)
{
  NatterCallSession *self = user_data;

  self->ring_timeout_id = 0;
  if (self->state == NATTER_CALL_SESSION_RINGING)
    g_signal_emit (self, signals[SIGNAL_RING_TIMEOUT], 0);

  return G_SOURCE_REMOVE;
}

static gboolean
on_caller_grace_over (gpointer user_data)
{
  NatterCallSession *self = user_data;

  self->caller_grace_id = 0;
  if (self->state == NATTER_CALL_SESSION_RINGING)
    g_signal_emit (self, signals[SIGNAL_CALLER_GONE], 0);

  return G_SOURCE_REMOVE;
}

static gboolean
on_abandoned (gpointer user_data)
{
  NatterCallSession *self = user_data;

  self->abandoned_id = 0;
  if (self->state == NATTER_CALL_SESSION_ANSWERED)
    g_signal_emit (self, signals[SIGNAL_ABANDONED], 0);

  return G_SOURCE_REMOVE;
}

static void
stop_timers (NatterCallSession *self)
{
  g_clear_handle_id (&self->ring_timeout_id, g_source_remove);
  g_clear_handle_id (&self->caller_grace_id, g_source_remove);
  g_clear_handle_id (&self->abandoned_id, g_source_remove);
}

static void
natter_call_session_dispose (GObject *object)
{
  NatterCallSession *self = (NatterCallSession *) object;

  stop_timers (self);
  g_clear_object (&self->caller_connection);
  g_clear_object (&self->callee_connection);

  G_OBJECT_CLASS (natter_call_session_parent_class)->dispose (object);
}

static void
natter_call_session_finalize (GObject *object)
{
  NatterCallSession *self = (NatterCallSession *) object;

  g_clear_pointer (&self->caller, natter_profile_free);
  g_clear_pointer (&self->callee, natter_profile_free);
  g_clear_pointer (&self->caller_key, g_free);
  g_clear_pointer (&self->callee_key, g_free);
  g_clear_pointer (&self->invitation_json, g_free);
  g_clear_pointer (&self->caller_candidates, g_ptr_array_unref);

  G_OBJECT_CLASS (natter_call_session_parent_class)->finalize (object);
}

static void
natter_call_session_class_init (NatterCallSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_call_session_dispose;
  object_class->finalize = natter_call_session_finalize;

  /**
   * NatterCallSession::ring-timeout:
   * @self: the session
   *
   * Nobody answered within the ring timeout.
   */
  signals[SIGNAL_RING_TIMEOUT] =
    g_signal_new ("ring-timeout", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);

  /**
   * NatterCallSession::caller-gone:
   * @self: the session
   *
   * The caller had no connection for the whole grace period while ringing.
   */
  signals[SIGNAL_CALLER_GONE] =
    g_signal_new ("caller-gone", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);

  /**
   * NatterCallSession::abandoned:
   * @self: the session
   *
   * Neither party of the answered call came back within the timeout.
   */
  signals[SIGNAL_ABANDONED] = g_signal_new ("abandoned", G_TYPE_FROM_CLASS (klass),
                                            G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
natter_call_session_init (NatterCallSession *self)
{
  self->state = NATTER_CALL_SESSION_RINGING;
  self->caller_candidates = g_ptr_array_new_with_free_func (g_free);
}

/**
 * natter_call_session_new:
 * @call_log_id: the call log row
 * @caller: the calling profile
 * @callee: the called profile
 * @caller_connection: the connection that sent the invitation
 *
 * Returns: (transfer full): a session in the ringing state, timers not
 *   started yet
 */
NatterCallSession *
natter_call_session_new (gint64 call_log_id,
                         const NatterProfile *caller,
                         const NatterProfile *callee,
                         NatterHubConnection *caller_connection)
{
  NatterCallSession *self;

  g_return_val_if_fail (caller != NULL, NULL);
  g_return_val_if_fail (callee != NULL, NULL);
  g_return_val_if_fail (NATTER_IS_HUB_CONNECTION (caller_connection), NULL);

  self = g_object_new (NATTER_TYPE_CALL_SESSION, NULL);
  self->call_log_id = call_log_id;
  self->caller = natter_profile_copy (caller);
  self->callee = natter_profile_copy (callee);
  self->caller_key = natter_hub_profile_key (caller->profile_id, caller->profile_type);
  self->callee_key = natter_hub_profile_key (callee->profile_id, callee->profile_type);
  self->caller_connection = g_object_ref (caller_connection);

  return self;
}

gint64
natter_call_session_get_call_log_id (NatterCallSession *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_SESSION (self), 0);

  return self->call_log_id;
}

const NatterProfile *
natter_call_session_get_caller (NatterCallSession *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_SESSION (self), NULL);

  return self->caller;
}

const NatterProfile *
natter_call_session_get_callee (NatterCallSession *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_SESSION (self), NULL);

  return self->callee;
}

const char *
natter_call_session_get_caller_key (NatterCallSession *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_SESSION (self), NULL);

  return self->caller_key;
}

const char *
natter_call_session_get_callee_key (NatterCallSession *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_SESSION (self), NULL);

  return self->callee_key;
}

NatterCallSessionState
natter_call_session_get_state (NatterCallSession *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_SESSION (self), NATTER_CALL_SESSION_ENDED);

  return self->state;
}

gboolean
natter_call_session_is_caller (NatterCallSession *self, const NatterProfile *profile)
{
  g_return_val_if_fail (NATTER_IS_CALL_SESSION (self), FALSE);

  return natter_profile_equal (self->caller, profile);
}

gboolean
natter_call_session_is_callee (NatterCallSession *self, const NatterProfile *profile)
{
  g_return_val_if_fail (NATTER_IS_CALL_SESSION (self), FALSE);

  return natter_profile_equal (self->callee, profile);
}

static NatterHubConnection *
open_or_null (NatterHubConnection *connection)
{
  if (connection != NULL && natter_hub_connection_is_open (connection))
    return connection;
  return NULL;
}

/**
 * natter_call_session_get_caller_connection:
 * @self: a session
 *
 * Returns: (transfer none) (nullable): the caller's bound connection, if
 *   still open
 */
NatterHubConnection *
natter_call_session_get_caller_connection (NatterCallSession *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_SESSION (self), NULL);

  return open_or_null (self->caller_connection);
}

/**
 * natter_call_session_get_callee_connection:
 * @self: a session
 *
 * Returns: (transfer none) (nullable): the connection that answered, if
 *   still open
 */
NatterHubConnection *
natter_call_session_get_callee_connection (NatterCallSession *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_SESSION (self), NULL);

  return open_or_null (self->callee_connection);
}

void
natter_call_session_bind_caller (NatterCallSession *self, NatterHubConnection *connection)
{
  g_return_if_fail (NATTER_IS_CALL_SESSION (self));
  g_return_if_fail (NATTER_IS_HUB_CONNECTION (connection));

  g_set_object (&self->caller_connection, connection);
}

void
natter_call_session_bind_callee (NatterCallSession *self, NatterHubConnection *connection)
{
  g_return_if_fail (NATTER_IS_CALL_SESSION (self));
  g_return_if_fail (NATTER_IS_HUB_CONNECTION (connection));

  g_set_object (&self->callee_connection, connection);
}

void
natter_call_session_set_invitation (NatterCallSession *self, const char *invitation_json)
{
  g_return_if_fail (NATTER_IS_CALL_SESSION (self));

  g_free (self->invitation_json);
  self->invitation_json = g_strdup (invitation_json);
}

const char *
natter_call_session_get_invitation (NatterCallSession *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_SESSION (self), NULL);

  return self->invitation_json;
}

void
natter_call_session_add_caller_candidate (NatterCallSession *self, const char *candidate_json)
{
  g_return_if_fail (NATTER_IS_CALL_SESSION (self));
  g_return_if_fail (candidate_json != NULL);

  g_ptr_array_add (self->caller_candidates, g_strdup (candidate_json));
}

/**
 * natter_call_session_get_caller_candidates:
 * @self: a session
 *
 * Returns: (transfer none) (element-type utf8): the caller's serialized
 *   ice_candidate frames sent while ringing
 */
GPtrArray *
natter_call_session_get_caller_candidates (NatterCallSession *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_SESSION (self), NULL);

  return self->caller_candidates;
}

/**
 * natter_call_session_start_ringing:
 * @self: a session
 * @ring_timeout_s: seconds until ::ring-timeout
 */
void
natter_call_session_start_ringing (NatterCallSession *self, guint ring_timeout_s)
{
  g_return_if_fail (NATTER_IS_CALL_SESSION (self));
  g_return_if_fail (self->state == NATTER_CALL_SESSION_RINGING);

  g_clear_handle_id (&self->ring_timeout_id, g_source_remove);
  self->ring_timeout_id = g_timeout_add (MAX (ring_timeout_s, 1) * 1000, on_ring_timeout, self);
}

/**
 * natter_call_session_answer:
 * @self: a ringing session
 * @callee_connection: the connection whose answer won
 */
void
natter_call_session_answer (NatterCallSession *self, NatterHubConnection *callee_connection)
{
  g_return_if_fail (NATTER_IS_CALL_SESSION (self));
  g_return_if_fail (self->state == NATTER_CALL_SESSION_RINGING);

  self->state = NATTER_CALL_SESSION_ANSWERED;
  stop_timers (self);
  g_set_object (&self->callee_connection, callee_connection);
  /* Early candidates were only kept for devices joining during the ring. */
  g_ptr_array_set_size (self->caller_candidates, 0);
}

void
natter_call_session_end (NatterCallSession *self)
{
  g_return_if_fail (NATTER_IS_CALL_SESSION (self));

  self->state = NATTER_CALL_SESSION_ENDED;
  stop_timers (self);
}

void
natter_call_session_caller_left (NatterCallSession *self, guint grace_s)
{
  g_return_if_fail (NATTER_IS_CALL_SESSION (self));

  if (self->state != NATTER_CALL_SESSION_RINGING || self->caller_grace_id != 0)
    return;

  self->caller_grace_id = g_timeout_add (MAX (grace_s, 1) * 1000, on_caller_grace_over, self);
}

void
natter_call_session_caller_returned (NatterCallSession *self)
{
  g_return_if_fail (NATTER_IS_CALL_SESSION (self));

  g_clear_handle_id (&self->caller_grace_id, g_source_remove);
}

void
natter_call_session_parties_left (NatterCallSession *self, guint timeout_s)
{
  g_return_if_fail (NATTER_IS_CALL_SESSION (self));

  if (self->state != NATTER_CALL_SESSION_ANSWERED || self->abandoned_id != 0)
    return;

  self->abandoned_id = g_timeout_add (MAX (timeout_s, 1) * 1000, on_abandoned, self);
}

void
natter_call_session_party_returned (NatterCallSession *self)
{
  g_return_if_fail (NATTER_IS_CALL_SESSION (self));

  g_clear_handle_id (&self->abandoned_id, g_source_remove);
}
