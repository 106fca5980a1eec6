/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A token bucket: @rate_per_s tokens are added each second, up to @burst. */
typedef struct _NatterTokenBucket NatterTokenBucket;

NatterTokenBucket *natter_token_bucket_new (double rate_per_s, double burst);
void natter_token_bucket_free (NatterTokenBucket *bucket);
/* Takes one token at @now_us (monotonic microseconds); FALSE when empty. */
gboolean natter_token_bucket_take (NatterTokenBucket *bucket, gint64 now_us);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterTokenBucket, natter_token_bucket_free)

G_END_DECLS
