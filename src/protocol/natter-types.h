/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "natter-attachment.h"

G_BEGIN_DECLS

/* The records of PROTOCOL.md as plain C values. Each has _new/_copy/_free,
 * _to_node (a JsonNode object, transfer full) and _from_node (validates; on
 * failure a NATTER_PROTOCOL_ERROR whose message names the offending field,
 * prefixed with @field, for example "message.sender.profile_id: …").
 * Optional strings are NULL when absent; optional ids are 0 when absent. */

typedef struct {
  gint64 profile_id;
  char *profile_type; /* always lowercase */
  char *display_name; /* NULL in a bare reference {"profile_id","profile_type"} */
  char *avatar_url;
} NatterProfile;

NatterProfile *natter_profile_new (gint64 profile_id,
                                   const char *profile_type,
                                   const char *display_name,
                                   const char *avatar_url);
#define NATTER_TYPE_PROFILE (natter_profile_get_type ())
GType natter_profile_get_type (void); /* boxed */
NatterProfile *natter_profile_copy (const NatterProfile *profile);
void natter_profile_free (NatterProfile *profile);
gboolean natter_profile_equal (const NatterProfile *a, const NatterProfile *b); /* id and type */
JsonNode *natter_profile_to_node (const NatterProfile *profile);
/* A bare reference is accepted: only profile_id and profile_type are required. */
NatterProfile *natter_profile_from_node (JsonNode *node, const char *field, GError **error);

typedef struct {
  gint64 message_id;
  gint64 conversation_id;
  gint64 seq;
  NatterProfile *sender;
  char *text;
  char *sent_at;
  char *client_msg_id;    /* may be NULL */
  GPtrArray *attachments; /* NatterAttachment, owned; NULL when none ("attachments" absent) */
} NatterMessage;

NatterMessage *natter_message_new (void);
#define NATTER_TYPE_MESSAGE (natter_message_get_type ())
GType natter_message_get_type (void); /* boxed */
NatterMessage *natter_message_copy (const NatterMessage *message);
void natter_message_free (NatterMessage *message);
JsonNode *natter_message_to_node (const NatterMessage *message);
NatterMessage *natter_message_from_node (JsonNode *node, const char *field, GError **error);

typedef struct {
  gint64 call_log_id;
  gint64 conversation_id; /* 0: none */
  NatterProfile *caller;
  NatterProfile *callee;
  char *call_type; /* "voice" or "video" */
  char *status;    /* ringing, answered, missed, declined, cancelled, busy, failed */
  char *started_at;
  char *answered_at; /* NULL: never answered (JSON null) */
  char *ended_at;    /* NULL: not ended (JSON null) */
  gint64 duration_s;
} NatterCallLog;

NatterCallLog *natter_call_log_new (void);
#define NATTER_TYPE_CALL_LOG (natter_call_log_get_type ())
GType natter_call_log_get_type (void); /* boxed */
NatterCallLog *natter_call_log_copy (const NatterCallLog *call_log);
void natter_call_log_free (NatterCallLog *call_log);
JsonNode *natter_call_log_to_node (const NatterCallLog *call_log);
NatterCallLog *natter_call_log_from_node (JsonNode *node, const char *field, GError **error);
gboolean natter_call_type_is_valid (const char *call_type);
gboolean natter_call_status_is_valid (const char *status);

typedef struct {
  gint64 conversation_id;
  GPtrArray *participants;     /* NatterProfile, owned */
  NatterMessage *last_message; /* NULL: none yet (JSON null) */
  gint64 unread_count;
  char *updated_at;
} NatterConversation;

NatterConversation *natter_conversation_new (void);
#define NATTER_TYPE_CONVERSATION (natter_conversation_get_type ())
GType natter_conversation_get_type (void); /* boxed */
NatterConversation *natter_conversation_copy (const NatterConversation *conversation);
void natter_conversation_free (NatterConversation *conversation);
JsonNode *natter_conversation_to_node (const NatterConversation *conversation);
NatterConversation *
natter_conversation_from_node (JsonNode *node, const char *field, GError **error);

typedef struct {
  gint64 user_id;
  char *email;
  char *display_name;
  GPtrArray *profiles; /* NatterProfile, owned */
} NatterUser;

NatterUser *natter_user_new (void);
#define NATTER_TYPE_USER (natter_user_get_type ())
GType natter_user_get_type (void); /* boxed */
NatterUser *natter_user_copy (const NatterUser *user);
void natter_user_free (NatterUser *user);
JsonNode *natter_user_to_node (const NatterUser *user);
NatterUser *natter_user_from_node (JsonNode *node, const char *field, GError **error);

/* An SDP offer or answer: {"type":"offer","sdp":"v=0…"}. */
typedef struct {
  char *type; /* "offer" or "answer" */
  char *sdp;
} NatterSessionDescription;

NatterSessionDescription *natter_session_description_new (const char *type, const char *sdp);
NatterSessionDescription *natter_session_description_copy (const NatterSessionDescription *desc);
void natter_session_description_free (NatterSessionDescription *desc);
JsonNode *natter_session_description_to_node (const NatterSessionDescription *desc);
/* @expected_type: "offer", "answer", or NULL for either. */
NatterSessionDescription *natter_session_description_from_node (JsonNode *node,
                                                                const char *field,
                                                                const char *expected_type,
                                                                GError **error);

/* {"candidate":"candidate:…","sdpMid":"0","sdpMLineIndex":0}. An end of
 * candidates ({"candidate":null}, or an empty candidate string) is represented
 * by a NULL NatterIceCandidate in frames. */
typedef struct {
  char *candidate;
  char *sdp_mid;          /* may be NULL */
  gint64 sdp_mline_index; /* -1: absent */
} NatterIceCandidate;

NatterIceCandidate *
natter_ice_candidate_new (const char *candidate, const char *sdp_mid, gint64 sdp_mline_index);
NatterIceCandidate *natter_ice_candidate_copy (const NatterIceCandidate *candidate);
void natter_ice_candidate_free (NatterIceCandidate *candidate);
JsonNode *natter_ice_candidate_to_node (const NatterIceCandidate *candidate);

typedef struct {
  GStrv urls;
  char *username;   /* NULL for STUN */
  char *credential; /* NULL for STUN */
} NatterIceServer;

NatterIceServer *
natter_ice_server_new (const char *const *urls, const char *username, const char *credential);
void natter_ice_server_free (NatterIceServer *server);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterProfile, natter_profile_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterMessage, natter_message_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterCallLog, natter_call_log_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterConversation, natter_conversation_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterUser, natter_user_free)
GStrv natter_sdp_get_mids (const char *sdp);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterSessionDescription, natter_session_description_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterIceCandidate, natter_ice_candidate_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterIceServer, natter_ice_server_free)

G_END_DECLS
