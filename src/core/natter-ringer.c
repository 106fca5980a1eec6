/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-ringer"

#include "config.h"

#include <gst/gst.h>

#include "natter-ringer.h"

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
  GstElement *pipeline;
  GstElement *volume;
  char *sound_dir;
  guint bus_watch_id;
  guint cadence_id;
  guint busy_timeout_id;
  guint busy_duration_ms;
  guint cadence_step;
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

/* Synthesized fallbacks: a tone and its on/off cadence in milliseconds. */
typedef struct {
  double frequency;
  double volume;
  guint on_ms;
  guint off_ms;
  const char *theme_sound;
} Tone;

static const Tone tones[] = {
  [NATTER_RINGER_MODE_INCOMING] = { 480.0, 0.5, 1000, 2000, "phone-incoming-call" },
  [NATTER_RINGER_MODE_RINGBACK] = { 440.0, 0.3, 2000, 4000, "phone-outgoing-calling" },
  [NATTER_RINGER_MODE_BUSY] = { 620.0, 0.3, 500, 500, "phone-outgoing-busy" },
  [NATTER_RINGER_MODE_SOFT] = { 880.0, 0.15, 200, 3000, NULL },
};

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
stop_pipeline (NatterRinger *self)
{
  g_clear_handle_id (&self->cadence_id, g_source_remove);
  g_clear_handle_id (&self->bus_watch_id, g_source_remove);
  if (self->pipeline != NULL) {
    gst_element_set_state (self->pipeline, GST_STATE_NULL);
    g_clear_object (&self->pipeline);
  }
  self->volume = NULL;
  set_playing (self, FALSE);
}

static gboolean
on_cadence (gpointer user_data)
{
  NatterRinger *self = user_data;
  const Tone *tone = &tones[self->mode];
  gboolean on = (self->cadence_step++ % 2) == 1;

  g_object_set (self->volume, "mute", !on, NULL);
  self->cadence_id = g_timeout_add (on ? tone->on_ms : tone->off_ms, on_cadence, self);
  return G_SOURCE_REMOVE;
}

static gboolean
on_bus_message (GstBus *bus, GstMessage *message, gpointer user_data)
{
  NatterRinger *self = user_data;

  switch (GST_MESSAGE_TYPE (message)) {
    case GST_MESSAGE_EOS:
      /* Loop the theme sound. */
      gst_element_seek_simple (self->pipeline, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH, 0);
      break;
    case GST_MESSAGE_STATE_CHANGED:
      if (GST_MESSAGE_SRC (message) == GST_OBJECT (self->pipeline)) {
        GstState state;

        gst_message_parse_state_changed (message, NULL, &state, NULL);
        set_playing (self, state == GST_STATE_PLAYING);
      }
      break;
    case GST_MESSAGE_ERROR: {
      g_autoptr (GError) error = NULL;

      gst_message_parse_error (message, &error, NULL);
      g_warning ("Cannot play the ringtone: %s", error->message);
      stop_pipeline (self);
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

static char *
sink_description (void)
{
  const char *sink = g_getenv ("NATTER_AUDIO_SINK");

  return g_strdup (sink != NULL && *sink != '\0' ? sink : "autoaudiosink");
}

static void
start_pipeline (NatterRinger *self)
{
  const Tone *tone = &tones[self->mode];
  g_autofree char *sink = sink_description ();
  g_autofree char *file = NULL;
  g_autofree char *description = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GstBus) bus = NULL;
  char volume[G_ASCII_DTOSTR_BUF_SIZE];
  char frequency[G_ASCII_DTOSTR_BUF_SIZE];

  if (tone->theme_sound != NULL) {
    g_autofree char *name = g_strconcat (tone->theme_sound, ".oga", NULL);

    file = g_build_filename (self->sound_dir, name, NULL);
    if (!g_file_test (file, G_FILE_TEST_IS_REGULAR))
      g_clear_pointer (&file, g_free);
  }

  /* A decimal point whatever the locale: gst_parse_launch() reads "0,30"
   * (German) as no number at all. */
  g_ascii_formatd (volume, sizeof volume, "%.2f", tone->volume);
  g_ascii_formatd (frequency, sizeof frequency, "%.0f", tone->frequency);
  if (file != NULL) {
    g_autofree char *quoted = g_strescape (file, NULL);

    description =
      g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! audioconvert ! audioresample ! "
                       "volume name=level volume=%s ! %s",
                       quoted, volume, sink);
  } else {
    description = g_strdup_printf ("audiotestsrc is-live=true wave=sine freq=%s ! audioconvert ! "
                                   "audioresample ! volume name=level volume=%s ! %s",
                                   frequency, volume, sink);
  }
  set_synthesized (self, file == NULL);

  gst_init (NULL, NULL);
  self->pipeline = gst_parse_launch (description, &error);
  if (self->pipeline == NULL || error != NULL) {
    g_warning ("Cannot build the ringtone pipeline: %s",
               error != NULL ? error->message : "unknown");
    g_clear_object (&self->pipeline);
    return;
  }
  gst_object_ref_sink (self->pipeline);
  self->volume = gst_bin_get_by_name (GST_BIN (self->pipeline), "level");
  /* The bin keeps it alive; we only need a borrowed pointer. */
  gst_object_unref (self->volume);

  bus = gst_pipeline_get_bus (GST_PIPELINE (self->pipeline));
  self->bus_watch_id = gst_bus_add_watch (bus, on_bus_message, self);

  if (file == NULL) {
    self->cadence_step = 0;
    on_cadence (self);
  }
  if (gst_element_set_state (self->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_warning ("Cannot start the ringtone");
    stop_pipeline (self);
  }
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
  stop_pipeline (self);

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
  stop_pipeline (self);
  self->mode = mode;
  if (mode != NATTER_RINGER_MODE_NONE)
    start_pipeline (self);
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
