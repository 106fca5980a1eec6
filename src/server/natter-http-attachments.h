/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "natter-metrics.h"
#include "natter-request-guard.h"
#include "natter-server-config.h"
#include "natter-server-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_HTTP_ATTACHMENTS (natter_http_attachments_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterHttpAttachments, natter_http_attachments, NATTER, HTTP_ATTACHMENTS, GObject)

NatterHttpAttachments *natter_http_attachments_new (NatterServerStore *store,
                                                    const NatterServerConfig *config,
                                                    NatterMetrics *metrics,
                                                    NatterRequestGuard *guard,
                                                    GError **error);
void natter_http_attachments_install (NatterHttpAttachments *self, SoupServer *server);
gboolean natter_http_attachments_is_path (NatterHttpAttachments *self, const char *path);
gboolean natter_http_attachments_handle (NatterHttpAttachments *self,
                                         SoupServerMessage *msg,
                                         const char *path);
guint natter_http_attachments_check_request (const NatterServerConfig *config,
                                             const char *method,
                                             const char *path,
                                             SoupMessageHeaders *response,
                                             gsize *out_body_limit);
const char *natter_http_attachments_get_folder (NatterHttpAttachments *self);

G_END_DECLS
