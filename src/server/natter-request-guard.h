/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "natter-metrics.h"
#include "natter-server-config.h"

G_BEGIN_DECLS

/* What the HTTP API would do with a request before its body is read: the
 * body limit, or the status it answers anyway (404, 405). It may add the
 * headers a refusal must carry to @msg's response (Allow, CORS): the guard
 * sends them with whatever refusal it makes. */
typedef guint (*NatterRequestCheckFunc) (SoupServerMessage *msg,
                                         const char *method,
                                         const char *path,
                                         gsize *out_body_limit,
                                         gpointer user_data);

#define NATTER_TYPE_REQUEST_GUARD (natter_request_guard_get_type ())

G_DECLARE_FINAL_TYPE (NatterRequestGuard, natter_request_guard, NATTER, REQUEST_GUARD, GObject)

NatterRequestGuard *natter_request_guard_new (const NatterServerConfig *config,
                                              NatterMetrics *metrics,
                                              NatterRequestCheckFunc check,
                                              gpointer check_data);
void natter_request_guard_install (NatterRequestGuard *self, SoupServer *server);
guint natter_request_guard_get_n_connections (NatterRequestGuard *self);
/* Answers @msg at once with an error body and closes the connection,
 * without reading (the rest of) its body: for handlers that refuse a
 * streamed upload after its headers. */
void natter_request_guard_refuse (NatterRequestGuard *self,
                                  SoupServerMessage *msg,
                                  guint status,
                                  const char *code,
                                  const char *text);

char *natter_request_guard_client_address (const NatterServerConfig *config,
                                           SoupServerMessage *msg);

G_END_DECLS
