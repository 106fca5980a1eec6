/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NATTER_TYPE_TOKEN_STORE (natter_token_store_get_type ())
G_DECLARE_FINAL_TYPE (NatterTokenStore, natter_token_store, NATTER, TOKEN_STORE, GObject)

NatterTokenStore *natter_token_store_new (const char *data_dir);

char *natter_token_store_lookup (NatterTokenStore *self, const char *server_url, GError **error);
gboolean natter_token_store_save (NatterTokenStore *self,
                                  const char *server_url,
                                  const char *token,
                                  GError **error);
gboolean natter_token_store_clear (NatterTokenStore *self, const char *server_url, GError **error);
gboolean natter_token_store_get_uses_file (NatterTokenStore *self);
char *natter_token_store_dup_file_path (NatterTokenStore *self);

G_END_DECLS
