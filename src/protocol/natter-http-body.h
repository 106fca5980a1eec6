/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-protocol.h"
#include "natter-types.h"

G_BEGIN_DECLS

/* The JSON bodies of PROTOCOL.md's HTTP API. Each _parse reads a whole body
 * through the strict reader and validates it (NATTER_PROTOCOL_ERROR, the
 * message naming the field); each _to_json writes one (transfer full). */

typedef struct {
  char *email; /* trimmed, lowercased */
  char *password;
  char *display_name;  /* trimmed, 1..NATTER_MAX_DISPLAY_NAME_CHARS */
  GStrv profile_types; /* normalized, at least one */
} NatterRegisterRequest;

NatterRegisterRequest *
natter_register_request_parse (const char *body, gsize length, GError **error);
char *natter_register_request_to_json (const NatterRegisterRequest *request);
void natter_register_request_free (NatterRegisterRequest *request);

typedef struct {
  char *email; /* trimmed, lowercased */
  char *password;
} NatterLoginRequest;

NatterLoginRequest *natter_login_request_parse (const char *body, gsize length, GError **error);
char *natter_login_request_to_json (const NatterLoginRequest *request);
void natter_login_request_free (NatterLoginRequest *request);

/* The answer to register and login: {"token","expires_at","user"}. */
typedef struct {
  char *token;
  char *expires_at;
  NatterUser *user;
} NatterSession;

NatterSession *natter_session_parse (const char *body, gsize length, GError **error);
char *natter_session_to_json (const NatterSession *session);
void natter_session_free (NatterSession *session);

/* GET /api/me */
NatterUser *natter_user_parse (const char *body, gsize length, GError **error);
char *natter_user_to_json (const NatterUser *user);

/* POST …/conversations: {"with":[{"profile_id","profile_type"}…]};
 * returns the profiles (bare references), 1..NATTER_MAX_PARTICIPANTS - 1. */
GPtrArray *natter_conversation_request_parse (const char *body, gsize length, GError **error);
char *natter_conversation_request_to_json (GPtrArray *with);

/* A single conversation (the answer to POST …/conversations). */
NatterConversation *natter_conversation_parse (const char *body, gsize length, GError **error);
char *natter_conversation_to_json (const NatterConversation *conversation);

/* {"profiles":[…]}, {"conversations":[…]}, {"calls":[…]}: GPtrArray of the
 * record type, with its free function set. */
GPtrArray *natter_profile_list_parse (const char *body, gsize length, GError **error);
char *natter_profile_list_to_json (GPtrArray *profiles);
GPtrArray *natter_conversation_list_parse (const char *body, gsize length, GError **error);
char *natter_conversation_list_to_json (GPtrArray *conversations);
GPtrArray *natter_call_log_list_parse (const char *body, gsize length, GError **error);
char *natter_call_log_list_to_json (GPtrArray *calls);

/* {"messages":[…],"has_more":bool}, oldest first. */
GPtrArray *
natter_message_page_parse (const char *body, gsize length, gboolean *out_has_more, GError **error);
char *natter_message_page_to_json (GPtrArray *messages, gboolean has_more);

/* {"ice_servers":[…],"ttl_s":N} */
GPtrArray *
natter_ice_servers_parse (const char *body, gsize length, gint64 *out_ttl_s, GError **error);
char *natter_ice_servers_to_json (GPtrArray *servers, gint64 ttl_s);

/* {"error":{"code","message"}}. _parse returns FALSE if the body is not one. */
char *natter_http_error_to_json (const char *code, const char *message);

/* Blocks: POST …/blocks and GET …/blocks. */
NatterProfile *natter_block_request_parse (const char *body, gsize length, GError **error);
char *natter_block_request_to_json (const NatterProfile *profile);
GPtrArray *natter_block_list_parse (const char *body, gsize length, GError **error);
char *natter_block_list_to_json (GPtrArray *profiles);
gboolean
natter_http_error_parse (const char *body, gsize length, char **out_code, char **out_message);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterRegisterRequest, natter_register_request_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterLoginRequest, natter_login_request_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterSession, natter_session_free)

G_END_DECLS
