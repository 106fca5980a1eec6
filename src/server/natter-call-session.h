/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-hub-connection.h"

G_BEGIN_DECLS

typedef enum {
  NATTER_CALL_SESSION_RINGING,
  NATTER_CALL_SESSION_ANSWERED,
  NATTER_CALL_SESSION_ENDED,
} NatterCallSessionState;

#define NATTER_TYPE_CALL_SESSION (natter_call_session_get_type ())
G_DECLARE_FINAL_TYPE (NatterCallSession, natter_call_session, NATTER, CALL_SESSION, GObject)

/* One call's server-side state: ringing -> answered -> ended, or ringing ->
 * ended. It remembers the connections it is bound to, the invitation sent to
 * the callee's devices and the caller's early candidates, and runs the ring
 * and caller-grace timers (::ring-timeout, ::caller-gone). Routing is the
 * hub's; the session only keeps the truth about one call. */
NatterCallSession *natter_call_session_new (gint64 call_log_id,
                                            const NatterProfile *caller,
                                            const NatterProfile *callee,
                                            NatterHubConnection *caller_connection);

gint64 natter_call_session_get_call_log_id (NatterCallSession *self);
const NatterProfile *natter_call_session_get_caller (NatterCallSession *self);
const NatterProfile *natter_call_session_get_callee (NatterCallSession *self);
const char *natter_call_session_get_caller_key (NatterCallSession *self);
const char *natter_call_session_get_callee_key (NatterCallSession *self);
NatterCallSessionState natter_call_session_get_state (NatterCallSession *self);
gboolean natter_call_session_is_caller (NatterCallSession *self, const NatterProfile *profile);
gboolean natter_call_session_is_callee (NatterCallSession *self, const NatterProfile *profile);

/* The bound connections; NULL when none is bound or the bound one closed. */
NatterHubConnection *natter_call_session_get_caller_connection (NatterCallSession *self);
NatterHubConnection *natter_call_session_get_callee_connection (NatterCallSession *self);
void natter_call_session_bind_caller (NatterCallSession *self, NatterHubConnection *connection);
void natter_call_session_bind_callee (NatterCallSession *self, NatterHubConnection *connection);

/* The serialized call_invitation for the callee's devices. */
void natter_call_session_set_invitation (NatterCallSession *self, const char *invitation_json);
const char *natter_call_session_get_invitation (NatterCallSession *self);
/* The caller's candidates before the answer, serialized, oldest first. */
void natter_call_session_add_caller_candidate (NatterCallSession *self, const char *candidate_json);
GPtrArray *natter_call_session_get_caller_candidates (NatterCallSession *self);

void natter_call_session_start_ringing (NatterCallSession *self, guint ring_timeout_s);
void natter_call_session_answer (NatterCallSession *self, NatterHubConnection *callee_connection);
void natter_call_session_end (NatterCallSession *self);

/* The caller has no connection left: ::caller-gone after @grace_s unless
 * natter_call_session_caller_returned () comes first. */
void natter_call_session_caller_left (NatterCallSession *self, guint grace_s);
void natter_call_session_caller_returned (NatterCallSession *self);

/* Neither party of an answered call has a connection: ::abandoned after
 * @timeout_s unless natter_call_session_party_returned () comes first. */
void natter_call_session_parties_left (NatterCallSession *self, guint timeout_s);
void natter_call_session_party_returned (NatterCallSession *self);

G_END_DECLS
