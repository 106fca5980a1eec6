/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-ringer"

#include "config.h"

#include "natter-call-media-proxy.h"
#include "natter-ringer.h"
#include "natter-ringtone-process.h"
#include "natter-ringtone.h"

/* The ringer decides what plays and for how long; the sound itself is a
 * #NatterRingtone in this process, or, when calls run in natter-call-media
 * (the app), a #NatterRingtoneProcess: that helper plays it, and the app
 * loads no GStreamer for ringing (issue 20). Both have the properties
 * `playing` and `failed`. */

#define DEFAULT_SOUND_DIR "/usr/share/sounds/freedesktop/stereo"
#define DEFAULT_BUSY_MS 3000

enum {
  PROP_0,
  PROP_MODE,
  PROP_PLAYING,
  PROP_SYNTHESIZED,
  PROP_SOUND_DIR,
  PROP_BUSY_DURATION,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _NatterRinger {
  GObject parent_instance;

  NatterRingerMode mode;
  GObject *ringtone; /* NatterRingtone or NatterRingtoneProcess */
  char *sound_dir;
  guint busy_timeout_id;
  guint busy_duration_ms;
  gboolean playing;
  gboolean synthesized;
};

G_DEFINE_FINAL_TYPE (NatterRinger, natter_ringer, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (NatterRingerMode,
                    natter_ringer_mode,
                    G_DEFINE_ENUM_VALUE (NATTER_RINGER_MODE_NONE, "none"),
                    G_DEFINE_ENUM_VALUE (NATTER_RINGER_MODE_INCOMING, "incoming"),
                    G_DEFINE_ENUM_VALUE (NATTER_RINGER_MODE_RINGBACK, "ringback"),
                    G_DEFINE_ENUM_VALUE (NATTER_RINGER_MODE_BUSY, "busy"),
                    G_DEFINE_ENUM_VALUE (NATTER_RINGER_MODE_SOFT, "soft"))

static void
set_playing (NatterRinger *self, gboolean playing)
{
  if (self->playing == playing)
    return;
  self->playing = playing;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PLAYING]);
}

static void
set_synthesized (NatterRinger *self, gboolean synthesized)
{
  if (self->synthesized == synthesized)
    return;
  self->synthesized = synthesized;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SYNTHESIZED]);
}

static void
stop_ringtone (NatterRinger *self)
{
  if (self->ringtone != NULL) {
    g_signal_handlers_disconnect_by_data (self->ringtone, self);
    /* Its last reference: the pipeline stops, or the helper is killed. */
    g_clear_object (&self->ringtone);
  }
  set_playing (self, FALSE);
}

static void
on_ringtone_playing (GObject *ringtone, GParamSpec *pspec, NatterRinger *self)
{
  gboolean playing = FALSE;

  g_object_get (ringtone, "playing", &playing, NULL);
  set_playing (self, playing);
}

static void
on_ringtone_failed (GObject *ringtone, GParamSpec *pspec, NatterRinger *self)
{
  stop_ringtone (self);
}

/* Returns: (transfer full) (nullable): the helper playing the tone */
static GObject *
start_in_helper (NatterRinger *self, const char *helper_path)
{
  g_autoptr (NatterRingtoneProcess) process =
    natter_ringtone_process_new (helper_path, self->mode, self->sound_dir);
  g_autoptr (GError) error = NULL;

  if (!natter_ringtone_process_start (process, &error)) {
    g_warning ("Cannot start the ringtone's process, playing it in the app: %s", error->message);
    return NULL;
  }
  return G_OBJECT (g_steal_pointer (&process));
}

/* Returns: (transfer full) (nullable): the pipeline playing the tone */
static GObject *
start_in_process (NatterRinger *self)
{
  g_autoptr (NatterRingtone) ringtone = natter_ringtone_new (self->mode, self->sound_dir);

  if (!natter_ringtone_start (ringtone))
    return NULL;
  return G_OBJECT (g_steal_pointer (&ringtone));
}

static void
start_ringtone (NatterRinger *self)
{
  const char *helper_path = natter_call_media_proxy_get_helper_path ();
  g_autofree char *sound = natter_ringtone_find_sound (self->mode, self->sound_dir);

  set_synthesized (self, sound == NULL);
  if (helper_path != NULL)
    self->ringtone = start_in_helper (self, helper_path);
  /* A call must ring: without its helper, the ringtone plays here. */
  if (self->ringtone == NULL)
    self->ringtone = start_in_process (self);
  if (self->ringtone == NULL)
    return;
  g_signal_connect (self->ringtone, "notify::playing", G_CALLBACK (on_ringtone_playing), self);
  g_signal_connect (self->ringtone, "notify::failed", G_CALLBACK (on_ringtone_failed), self);
}

static gboolean
on_busy_done (gpointer user_data)
{
  NatterRinger *self = user_data;

  self->busy_timeout_id = 0;
  natter_ringer_set_mode (self, NATTER_RINGER_MODE_NONE);
  return G_SOURCE_REMOVE;
}

static void
natter_ringer_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterRinger *self = NATTER_RINGER (object);

  switch (prop_id) {
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_PLAYING:
      g_value_set_boolean (value, self->playing);
      break;
    case PROP_SYNTHESIZED:
      g_value_set_boolean (value, self->synthesized);
      break;
    case PROP_SOUND_DIR:
      g_value_set_string (value, self->sound_dir);
      break;
    case PROP_BUSY_DURATION:
      g_value_set_uint (value, self->busy_duration_ms);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_ringer_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  NatterRinger *self = NATTER_RINGER (object);

  switch (prop_id) {
    case PROP_MODE:
      natter_ringer_set_mode (self, g_value_get_enum (value));
      break;
    case PROP_SOUND_DIR:
      natter_ringer_set_sound_dir (self, g_value_get_string (value));
      break;
    case PROP_BUSY_DURATION:
      natter_ringer_set_busy_duration (self, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_ringer_dispose (GObject *object)
{
  NatterRinger *self = NATTER_RINGER (object);

  g_clear_handle_id (&self->busy_timeout_id, g_source_remove);
  stop_ringtone (self);

  G_OBJECT_CLASS (natter_ringer_parent_class)->dispose (object);
}

static void
natter_ringer_finalize (GObject *object)
{
  NatterRinger *self = NATTER_RINGER (object);

  g_free (self->sound_dir);

  G_OBJECT_CLASS (natter_ringer_parent_class)->finalize (object);
}

static void
natter_ringer_class_init (NatterRingerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_ringer_get_property;
  object_class->set_property = natter_ringer_set_property;
  object_class->dispose = natter_ringer_dispose;
  object_class->finalize = natter_ringer_finalize;

  properties[PROP_MODE] =
    g_param_spec_enum ("mode", NULL, NULL, NATTER_TYPE_RINGER_MODE, NATTER_RINGER_MODE_NONE,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterRinger:playing:
   *
   * Whether the sound pipeline is actually running (it reaches PLAYING a
   * moment after the mode changes; it stops at once).
   */
  properties[PROP_PLAYING] =
    g_param_spec_boolean ("playing", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SYNTHESIZED] =
    g_param_spec_boolean ("synthesized", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SOUND_DIR] =
    g_param_spec_string ("sound-dir", NULL, NULL, DEFAULT_SOUND_DIR,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BUSY_DURATION] =
    g_param_spec_uint ("busy-duration", NULL, NULL, 0, G_MAXUINT, DEFAULT_BUSY_MS,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_ringer_init (NatterRinger *self)
{
  const char *sound_dir = g_getenv ("NATTER_SOUND_DIR");

  self->sound_dir = g_strdup (sound_dir != NULL ? sound_dir : DEFAULT_SOUND_DIR);
  self->busy_duration_ms = DEFAULT_BUSY_MS;
}

/**
 * natter_ringer_new:
 *
 * The ringer plays the freedesktop sound theme's phone sounds, or
 * synthesized tones when the theme is missing, to `NATTER_AUDIO_SINK` when
 * set.
 *
 * Returns: (transfer full): a silent ringer
 */
NatterRinger *
natter_ringer_new (void)
{
  return g_object_new (NATTER_TYPE_RINGER, NULL);
}

NatterRingerMode
natter_ringer_get_mode (NatterRinger *self)
{
  g_return_val_if_fail (NATTER_IS_RINGER (self), NATTER_RINGER_MODE_NONE);
  return self->mode;
}

/**
 * natter_ringer_set_mode:
 * @self: a #NatterRinger
 * @mode: what to play
 *
 * Switching to %NATTER_RINGER_MODE_NONE stops the sound before returning.
 */
void
natter_ringer_set_mode (NatterRinger *self, NatterRingerMode mode)
{
  g_return_if_fail (NATTER_IS_RINGER (self));
  g_return_if_fail (mode <= NATTER_RINGER_MODE_SOFT);

  if (self->mode == mode)
    return;

  g_clear_handle_id (&self->busy_timeout_id, g_source_remove);
  stop_ringtone (self);
  self->mode = mode;
  if (mode != NATTER_RINGER_MODE_NONE)
    start_ringtone (self);
  if (mode == NATTER_RINGER_MODE_BUSY)
    self->busy_timeout_id = g_timeout_add (self->busy_duration_ms, on_busy_done, self);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODE]);
}

gboolean
natter_ringer_get_playing (NatterRinger *self)
{
  g_return_val_if_fail (NATTER_IS_RINGER (self), FALSE);
  return self->playing;
}

/**
 * natter_ringer_get_synthesized:
 * @self: a #NatterRinger
 *
 * Returns: whether the current sound is a synthesized fallback
 */
gboolean
natter_ringer_get_synthesized (NatterRinger *self)
{
  g_return_val_if_fail (NATTER_IS_RINGER (self), FALSE);
  return self->synthesized;
}

const char *
natter_ringer_get_sound_dir (NatterRinger *self)
{
  g_return_val_if_fail (NATTER_IS_RINGER (self), NULL);
  return self->sound_dir;
}

/**
 * natter_ringer_set_sound_dir:
 * @self: a #NatterRinger
 * @sound_dir: where the theme's `phone-*.oga` files are
 *
 * Takes effect at the next mode change.
 */
void
natter_ringer_set_sound_dir (NatterRinger *self, const char *sound_dir)
{
  g_return_if_fail (NATTER_IS_RINGER (self));
  g_return_if_fail (sound_dir != NULL);

  if (g_strcmp0 (self->sound_dir, sound_dir) == 0)
    return;
  g_free (self->sound_dir);
  self->sound_dir = g_strdup (sound_dir);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SOUND_DIR]);
}

guint
natter_ringer_get_busy_duration (NatterRinger *self)
{
  g_return_val_if_fail (NATTER_IS_RINGER (self), 0);
  return self->busy_duration_ms;
}

/**
 * natter_ringer_set_busy_duration:
 * @self: a #NatterRinger
 * @milliseconds: how long the busy tone plays before the ringer falls silent
 */
void
natter_ringer_set_busy_duration (NatterRinger *self, guint milliseconds)
{
  g_return_if_fail (NATTER_IS_RINGER (self));

  if (self->busy_duration_ms == milliseconds)
    return;
  self->busy_duration_ms = milliseconds;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY_DURATION]);
}
