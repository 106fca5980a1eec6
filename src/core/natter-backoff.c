/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-backoff"

#include "config.h"

#include "natter-backoff.h"

/* Exponential backoff with full jitter (each delay is uniform between 0 and
 * the current ceiling), so that many clients losing one server do not all
 * come back in the same millisecond. */
struct _NatterBackoff {
  GObject parent_instance;

  guint first_ms;
  guint base_ms;
  guint max_ms;
  guint attempts;
  GRand *rand;
};

G_DEFINE_FINAL_TYPE (NatterBackoff, natter_backoff, G_TYPE_OBJECT)

static void
natter_backoff_finalize (GObject *object)
{
  NatterBackoff *self = NATTER_BACKOFF (object);

  g_clear_pointer (&self->rand, g_rand_free);

  G_OBJECT_CLASS (natter_backoff_parent_class)->finalize (object);
}

static void
natter_backoff_class_init (NatterBackoffClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = natter_backoff_finalize;
}

static void
natter_backoff_init (NatterBackoff *self)
{
}

/**
 * natter_backoff_new_with_seed:
 * @first_ms: ceiling of the first delay
 * @base_ms: ceiling of the second delay; each later one doubles it
 * @max_ms: no delay is ever longer
 * @seed: seed of the random source, so tests can replay a sequence
 *
 * Returns: (transfer full): a new backoff
 */
NatterBackoff *
natter_backoff_new_with_seed (guint first_ms, guint base_ms, guint max_ms, guint32 seed)
{
  NatterBackoff *self = g_object_new (NATTER_TYPE_BACKOFF, NULL);

  self->first_ms = MIN (first_ms, max_ms);
  self->base_ms = MAX (base_ms, 1);
  self->max_ms = max_ms;
  self->rand = g_rand_new_with_seed (seed);

  return self;
}

/**
 * natter_backoff_new:
 * @first_ms: ceiling of the first delay
 * @base_ms: ceiling of the second delay; each later one doubles it
 * @max_ms: no delay is ever longer
 *
 * Returns: (transfer full): a new backoff with a random seed
 */
NatterBackoff *
natter_backoff_new (guint first_ms, guint base_ms, guint max_ms)
{
  return natter_backoff_new_with_seed (first_ms, base_ms, max_ms, g_random_int ());
}

/**
 * natter_backoff_next_delay:
 * @self: a #NatterBackoff
 *
 * Counts one more attempt and returns how long to wait before it.
 *
 * Returns: the delay in milliseconds, at most the configured maximum
 */
guint
natter_backoff_next_delay (NatterBackoff *self)
{
  guint64 ceiling;

  g_return_val_if_fail (NATTER_IS_BACKOFF (self), 0);

  if (self->attempts == 0) {
    ceiling = self->first_ms;
  } else {
    guint shift = MIN (self->attempts - 1, 32);

    ceiling = MIN ((guint64) self->base_ms << shift, (guint64) self->max_ms);
  }

  self->attempts++;

  ceiling = MIN (ceiling, (guint64) G_MAXINT32 - 1);

  return (guint) g_rand_int_range (self->rand, 0, (gint32) ceiling + 1);
}

/**
 * natter_backoff_reset:
 * @self: a #NatterBackoff
 *
 * Starts over after a success: the next delay is a first delay again.
 */
void
natter_backoff_reset (NatterBackoff *self)
{
  g_return_if_fail (NATTER_IS_BACKOFF (self));

  self->attempts = 0;
}

/**
 * natter_backoff_get_attempts:
 * @self: a #NatterBackoff
 *
 * Returns: the number of delays handed out since the last reset
 */
guint
natter_backoff_get_attempts (NatterBackoff *self)
{
  g_return_val_if_fail (NATTER_IS_BACKOFF (self), 0);

  return self->attempts;
}
