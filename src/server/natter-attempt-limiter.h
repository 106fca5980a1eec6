/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Token buckets by key (a client address, an account), for attempts that
 * cost the server dearly: logins and registrations. A token is taken when
 * the attempt arrives, so parallel attempts cannot pass together, and given
 * back when it turns out well (a correct password). Each refusal doubles a
 * key's wait (backoff, up to 15 minutes); a success forgets it. At most
 * @capacity keys are remembered, the least recently used forgotten first. */
typedef struct _NatterAttemptLimiter NatterAttemptLimiter;

NatterAttemptLimiter *natter_attempt_limiter_new (double rate_per_s, double burst, guint capacity);
void natter_attempt_limiter_free (NatterAttemptLimiter *self);
/* Takes a token of @key at @now_us; FALSE, and the seconds to wait in
 * @out_retry_after_s, when the key must wait. */
gboolean natter_attempt_limiter_take (NatterAttemptLimiter *self,
                                      const char *key,
                                      gint64 now_us,
                                      guint *out_retry_after_s);
/* Gives back the token of an attempt that went well and ends @key's backoff. */
void natter_attempt_limiter_give_back (NatterAttemptLimiter *self, const char *key);
guint natter_attempt_limiter_get_size (NatterAttemptLimiter *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterAttemptLimiter, natter_attempt_limiter_free)

G_END_DECLS
