/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-token-bucket"

#include "natter-token-bucket.h"

struct _NatterTokenBucket {
  double rate_per_s;
  double burst;
  double tokens;
  gint64 updated_us;
};

/**
 * natter_token_bucket_new:
 * @rate_per_s: tokens added per second
 * @burst: the most tokens the bucket holds; it starts full
 *
 * Returns: (transfer full): a new bucket
 */
NatterTokenBucket *
natter_token_bucket_new (double rate_per_s, double burst)
{
  NatterTokenBucket *bucket = g_new0 (NatterTokenBucket, 1);

  bucket->rate_per_s = MAX (rate_per_s, 0.0);
  bucket->burst = MAX (burst, 1.0);
  bucket->tokens = bucket->burst;
  bucket->updated_us = g_get_monotonic_time ();

  return bucket;
}

void
natter_token_bucket_free (NatterTokenBucket *bucket)
{
  g_free (bucket);
}

/**
 * natter_token_bucket_take:
 * @bucket: a bucket
 * @now_us: the monotonic time, in microseconds
 *
 * Refills the bucket for the time passed and takes one token.
 *
 * Returns: %TRUE when a token was available
 */
gboolean
natter_token_bucket_take (NatterTokenBucket *bucket, gint64 now_us)
{
  g_return_val_if_fail (bucket != NULL, FALSE);

  if (now_us > bucket->updated_us) {
    double elapsed_s = (double) (now_us - bucket->updated_us) / G_USEC_PER_SEC;

    bucket->tokens = MIN (bucket->burst, bucket->tokens + elapsed_s * bucket->rate_per_s);
    bucket->updated_us = now_us;
  }

  if (bucket->tokens < 1.0)
    return FALSE;

  bucket->tokens -= 1.0;
  return TRUE;
}
