/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define NATTER_TYPE_BACKOFF (natter_backoff_get_type ())
G_DECLARE_FINAL_TYPE (NatterBackoff, natter_backoff, NATTER, BACKOFF, GObject)

NatterBackoff *natter_backoff_new (guint first_ms, guint base_ms, guint max_ms);
NatterBackoff *
natter_backoff_new_with_seed (guint first_ms, guint base_ms, guint max_ms, guint32 seed);

guint natter_backoff_next_delay (NatterBackoff *self);
void natter_backoff_reset (NatterBackoff *self);
guint natter_backoff_get_attempts (NatterBackoff *self);

G_END_DECLS
