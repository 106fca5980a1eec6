/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-http-body.h"
#include "natter-http-query.h"

G_BEGIN_DECLS

/* The storage work of natter-http-api.c's routes (NatterHttpQueryRun
 * functions), apart so that they see nothing but their request: what the
 * path and the query string said, checked on the main context, and what
 * the main context needs afterwards. */
typedef struct {
  /* in */
  gint64 profile_id; /* /api/as/{id}/{type}/… and the avatar's */
  char *profile_type;
  gint64 conversation_id;
  gint64 limit;
  gint64 before_seq;
  char *text;        /* ?q= */
  char *bad_request; /* a 400 to answer once the token passed */
  gboolean all_tokens;
  /* a session: a new token with this lifetime, answered with this status */
  gint64 token_lifetime_s;
  guint session_status;
  /* registration: the account to make (taken), its password hashed */
  NatterRegisterRequest *registration;
  char *password_hash;
  gpointer owner; /* the API, for the callbacks (a reference) */
  GDestroyNotify owner_free;
  /* out */
  gint64 user_id;
  gint64 token_id;
  gboolean created; /* POST …/conversations made conversation_id */
} NatterHttpRoute;

NatterHttpRoute *natter_http_route_new (void);
void natter_http_route_free (NatterHttpRoute *route);

void natter_http_route_authenticate (NatterStoreQueries *queries,
                                     const NatterHttpRequest *request,
                                     NatterHttpReply *reply,
                                     gpointer route);
/* A token for route->user_id, answered with the user (register, login). */
void natter_http_route_session (NatterStoreQueries *queries,
                                const NatterHttpRequest *request,
                                NatterHttpReply *reply,
                                gpointer route);
/* Makes route->registration's account, then a session as above. */
void natter_http_route_register (NatterStoreQueries *queries,
                                 const NatterHttpRequest *request,
                                 NatterHttpReply *reply,
                                 gpointer route);
void natter_http_route_logout (NatterStoreQueries *queries,
                               const NatterHttpRequest *request,
                               NatterHttpReply *reply,
                               gpointer route);
void natter_http_route_me (NatterStoreQueries *queries,
                           const NatterHttpRequest *request,
                           NatterHttpReply *reply,
                           gpointer route);
void natter_http_route_profiles (NatterStoreQueries *queries,
                                 const NatterHttpRequest *request,
                                 NatterHttpReply *reply,
                                 gpointer route);
void natter_http_route_avatar (NatterStoreQueries *queries,
                               const NatterHttpRequest *request,
                               NatterHttpReply *reply,
                               gpointer route);
void natter_http_route_conversations (NatterStoreQueries *queries,
                                      const NatterHttpRequest *request,
                                      NatterHttpReply *reply,
                                      gpointer route);
void natter_http_route_messages (NatterStoreQueries *queries,
                                 const NatterHttpRequest *request,
                                 NatterHttpReply *reply,
                                 gpointer route);
void natter_http_route_calls (NatterStoreQueries *queries,
                              const NatterHttpRequest *request,
                              NatterHttpReply *reply,
                              gpointer route);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterHttpRoute, natter_http_route_free)

G_END_DECLS
