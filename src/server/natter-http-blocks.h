/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "natter-hub.h"
#include "natter-server-store.h"

G_BEGIN_DECLS

gboolean natter_http_blocks_handle (NatterServerStore *store,
                                    NatterHub *hub,
                                    SoupServerMessage *msg,
                                    const char *path);

guint natter_http_blocks_check_request (const char *method,
                                        const char *path,
                                        SoupMessageHeaders *response);

G_END_DECLS
