/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

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
