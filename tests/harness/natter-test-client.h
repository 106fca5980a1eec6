/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-client.h"

G_BEGIN_DECLS

gboolean natter_test_client_is_connected (NatterClient *client);
void natter_test_client_login (NatterClient *client, const char *email, guint timeout_ms);
void natter_test_client_sign_in (NatterClient *client, guint timeout_ms);
NatterClient *natter_test_client_new_signed_in (const char *server_url,
                                                const char *data_dir,
                                                const char *token,
                                                guint timeout_ms);
void natter_test_client_refresh_conversations (NatterClient *client, guint timeout_ms);

G_END_DECLS
