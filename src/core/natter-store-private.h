/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <sqlite3.h>

#include "natter-store.h"

G_BEGIN_DECLS

/* For the files that keep one concern of the local store each
 * (natter-store-chat.c: drafts, the call log, full-text search). */
sqlite3 *natter_store_get_db (NatterStore *self);
gboolean natter_store_chat_init (NatterStore *self, GError **error);
gint64 natter_store_chat_put_call (NatterStore *self, const NatterCallLog *call, GError **error);

G_END_DECLS
