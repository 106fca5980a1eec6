/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-attempt-limiter"

#include "config.h"

#include "natter-attempt-limiter.h"

#define MAX_BACKOFF_S (15 * 60)

typedef struct {
  char *key;
  double tokens;
  gint64 updated_us;
  gint64 blocked_until_us; /* backoff: no token before this */
  guint strikes;           /* refusals since the last success */
  GList link;              /* in the LRU queue; data is this entry */
} Entry;

struct _NatterAttemptLimiter {
  double rate_per_s;
  double burst;
  guint capacity;
  GHashTable *entries; /* key -> Entry (owned) */
  GQueue lru;          /* most recently used at the head */
};

static void
entry_free (Entry *entry)
{
  g_free (entry->key);
  g_free (entry);
}

NatterAttemptLimiter *
natter_attempt_limiter_new (double rate_per_s, double burst, guint capacity)
{
  NatterAttemptLimiter *self = g_new0 (NatterAttemptLimiter, 1);

  g_return_val_if_fail (rate_per_s > 0 && burst >= 1 && capacity > 0, NULL);

  self->rate_per_s = rate_per_s;
  self->burst = burst;
  self->capacity = capacity;
  self->entries =
    g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) entry_free);
  g_queue_init (&self->lru);

  return self;
}

void
natter_attempt_limiter_free (NatterAttemptLimiter *self)
{
  if (self == NULL)
    return;

  /* The queue's links live inside the entries: freeing those is enough. */
  g_hash_table_unref (self->entries);
  g_free (self);
}

/* The entry of @key, refilled up to @now_us, made (and the least recently
 * used one forgotten when full) if new. */
static Entry *
lookup (NatterAttemptLimiter *self, const char *key, gint64 now_us)
{
  Entry *entry = g_hash_table_lookup (self->entries, key);

  if (entry == NULL) {
    if (g_hash_table_size (self->entries) >= self->capacity) {
      Entry *oldest = g_queue_peek_tail (&self->lru);

      g_queue_unlink (&self->lru, &oldest->link);
      g_hash_table_remove (self->entries, oldest->key);
    }
    entry = g_new0 (Entry, 1);
    entry->key = g_strdup (key);
    entry->tokens = self->burst;
    entry->updated_us = now_us;
    entry->link.data = entry;
    g_hash_table_insert (self->entries, entry->key, entry);
    g_queue_push_head_link (&self->lru, &entry->link);
  } else {
    g_queue_unlink (&self->lru, &entry->link);
    g_queue_push_head_link (&self->lru, &entry->link);
  }

  entry->tokens += (double) (now_us - entry->updated_us) / G_USEC_PER_SEC * self->rate_per_s;
  entry->tokens = MIN (entry->tokens, self->burst);
  entry->updated_us = now_us;

  return entry;
}

gboolean
natter_attempt_limiter_take (NatterAttemptLimiter *self,
                             const char *key,
                             gint64 now_us,
                             guint *out_retry_after_s)
{
  Entry *entry;
  double wait_s;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);

  entry = lookup (self, key, now_us);
  if (entry->blocked_until_us <= now_us && entry->tokens >= 1) {
    entry->tokens -= 1;
    return TRUE;
  }

  /* Each refusal doubles the wait from the time one token takes. */
  entry->strikes = MIN (entry->strikes + 1, 30);
  wait_s = MAX ((1 - entry->tokens) / self->rate_per_s, 1);
  wait_s = MIN (wait_s * (double) (1u << MIN (entry->strikes - 1, 20)), MAX_BACKOFF_S);
  entry->blocked_until_us =
    MAX (entry->blocked_until_us, now_us + (gint64) (wait_s * G_USEC_PER_SEC));
  if (out_retry_after_s != NULL)
    *out_retry_after_s =
      (guint) ((entry->blocked_until_us - now_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);

  return FALSE;
}

void
natter_attempt_limiter_give_back (NatterAttemptLimiter *self, const char *key)
{
  Entry *entry;

  g_return_if_fail (self != NULL);
  g_return_if_fail (key != NULL);

  entry = g_hash_table_lookup (self->entries, key);
  if (entry == NULL)
    return;
  entry->tokens = MIN (entry->tokens + 1, self->burst);
  entry->strikes = 0;
  entry->blocked_until_us = 0;
}

guint
natter_attempt_limiter_get_size (NatterAttemptLimiter *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return g_hash_table_size (self->entries);
}
