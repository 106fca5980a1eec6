/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-hub-connection.h"
#include "natter-hub.h"

G_BEGIN_DECLS

/* For the fuzzer (tests/fuzz/fuzz-server.c): connections without a
 * WebSocket, frames injected and sent frames kept in memory. */
NatterHubConnection *natter_hub_connection_new_for_testing (const NatterProfile *profile,
                                                            gint64 user_id,
                                                            gint64 token_id,
                                                            const NatterServerConfig *config,
                                                            NatterMetrics *metrics);
void natter_hub_connection_receive_for_testing (NatterHubConnection *self,
                                                const char *data,
                                                gsize length);
GPtrArray *natter_hub_connection_get_outbox_for_testing (NatterHubConnection *self);
void natter_hub_add_connection_for_testing (NatterHub *self, NatterHubConnection *connection);

G_END_DECLS
