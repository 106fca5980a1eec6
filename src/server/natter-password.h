/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* argon2id with OWASP's parameters: 19 MiB, 2 passes, 1 lane. */
#define NATTER_PASSWORD_MEMORY_KIB 19456
#define NATTER_PASSWORD_PASSES 2
#define NATTER_PASSWORD_LANES 1

gboolean natter_random_bytes (guint8 *buffer, gsize length, GError **error);

char *natter_password_hash (const char *password, GError **error);
gboolean natter_password_verify (const char *encoded_hash, const char *password);
const char *natter_password_get_dummy_hash (void);
void natter_password_verify_dummy (const char *password);

char *natter_token_generate (GError **error);
char *natter_token_hash (const char *token);

char *natter_turn_credential (const char *secret, const char *username);

G_END_DECLS
