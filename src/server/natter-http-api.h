/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "natter-http-attachments.h"
#include "natter-hub.h"
#include "natter-metrics.h"
#include "natter-server-config.h"
#include "natter-server-db.h"
#include "natter-server-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_HTTP_API (natter_http_api_get_type ())
G_DECLARE_FINAL_TYPE (NatterHttpApi, natter_http_api, NATTER, HTTP_API, GObject)

NatterHttpApi *natter_http_api_new (NatterServerStore *store,
                                    const NatterServerConfig *config,
                                    NatterMetrics *metrics,
                                    NatterHub *hub);
void natter_http_api_install (NatterHttpApi *self, SoupServer *server);
/* Hands the attachment paths to @attachments. */
void natter_http_api_set_attachments (NatterHttpApi *self, NatterHttpAttachments *attachments);
void natter_http_api_install_metrics (NatterHttpApi *self, SoupServer *server);
void natter_http_api_set_shutting_down (NatterHttpApi *self, gboolean shutting_down);
guint natter_http_api_check_request (SoupServerMessage *msg,
                                     const char *method,
                                     const char *path,
                                     gsize *out_body_limit,
                                     gpointer user_data);

G_END_DECLS
