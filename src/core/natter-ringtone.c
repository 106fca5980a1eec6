/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-ringtone"

#include "config.h"

#include <gst/gst.h>

#include "natter-ringtone.h"

/* One of the ringer's sounds as a GStreamer pipeline: the freedesktop
 * theme's phone sound, looped, or a synthesized tone with its cadence. The
 * ringer plays it in its own process (core, natter-cli), or the app has
 * natter-call-media --ring play it, so that the app loads no GStreamer
 * (issue 20). It stops when the last reference goes. */

enum { PROP_0, PROP_PLAYING, PROP_FAILED, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterRingtone {
  GObject parent_instance;

  NatterRingerMode mode;
  char *sound_dir;
  GstElement *pipeline;
  GstElement *volume;
  guint bus_watch_id;
  guint cadence_id;
  guint cadence_step;
  gboolean playing;
  gboolean failed;
};

G_DEFINE_FINAL_TYPE (NatterRingtone, natter_ringtone, G_TYPE_OBJECT)

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
set_flag (NatterRingtone *self, gboolean *field, gboolean value, guint prop)
{
  if (*field == value)
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
stop_pipeline (NatterRingtone *self)
{
  g_clear_handle_id (&self->cadence_id, g_source_remove);
  g_clear_handle_id (&self->bus_watch_id, g_source_remove);
  if (self->pipeline != NULL) {
    gst_element_set_state (self->pipeline, GST_STATE_NULL);
    g_clear_object (&self->pipeline);
  }
  self->volume = NULL;
  set_flag (self, &self->playing, FALSE, PROP_PLAYING);
}

static void
fail (NatterRingtone *self)
{
  stop_pipeline (self);
  set_flag (self, &self->failed, TRUE, PROP_FAILED);
}

static gboolean
on_cadence (gpointer user_data)
{
  NatterRingtone *self = user_data;
  const Tone *tone = &tones[self->mode];
  gboolean on = (self->cadence_step++ % 2) == 1;

  g_object_set (self->volume, "mute", !on, NULL);
  self->cadence_id = g_timeout_add (on ? tone->on_ms : tone->off_ms, on_cadence, self);
  return G_SOURCE_REMOVE;
}

static gboolean
on_bus_message (GstBus *bus, GstMessage *message, gpointer user_data)
{
  NatterRingtone *self = user_data;

  switch (GST_MESSAGE_TYPE (message)) {
    case GST_MESSAGE_EOS:
      /* Loop the theme sound. */
      gst_element_seek_simple (self->pipeline, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH, 0);
      break;
    case GST_MESSAGE_STATE_CHANGED:
      if (GST_MESSAGE_SRC (message) == GST_OBJECT (self->pipeline)) {
        GstState state;

        gst_message_parse_state_changed (message, NULL, &state, NULL);
        set_flag (self, &self->playing, state == GST_STATE_PLAYING, PROP_PLAYING);
      }
      break;
    case GST_MESSAGE_ERROR: {
      g_autoptr (GError) error = NULL;

      gst_message_parse_error (message, &error, NULL);
      g_warning ("Cannot play the ringtone: %s", error->message);
      fail (self);
      return G_SOURCE_REMOVE;
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
natter_ringtone_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterRingtone *self = NATTER_RINGTONE (object);

  switch (prop_id) {
    case PROP_PLAYING:
      g_value_set_boolean (value, self->playing);
      break;
    case PROP_FAILED:
      g_value_set_boolean (value, self->failed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_ringtone_dispose (GObject *object)
{
  stop_pipeline (NATTER_RINGTONE (object));

  G_OBJECT_CLASS (natter_ringtone_parent_class)->dispose (object);
}

static void
natter_ringtone_finalize (GObject *object)
{
  g_free (NATTER_RINGTONE (object)->sound_dir);

  G_OBJECT_CLASS (natter_ringtone_parent_class)->finalize (object);
}

static void
natter_ringtone_class_init (NatterRingtoneClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = natter_ringtone_get_property;
  object_class->dispose = natter_ringtone_dispose;
  object_class->finalize = natter_ringtone_finalize;

  properties[PROP_PLAYING] = g_param_spec_boolean ("playing", NULL, NULL, FALSE, flags);
  properties[PROP_FAILED] = g_param_spec_boolean ("failed", NULL, NULL, FALSE, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_ringtone_init (NatterRingtone *self)
{
}

/**
 * natter_ringtone_new:
 * @mode: what to play, not %NATTER_RINGER_MODE_NONE
 * @sound_dir: where the theme's `phone-*.oga` files are
 *
 * Returns: (transfer full): a silent ringtone; natter_ringtone_start() plays it
 */
NatterRingtone *
natter_ringtone_new (NatterRingerMode mode, const char *sound_dir)
{
  NatterRingtone *self;

  g_return_val_if_fail (mode > NATTER_RINGER_MODE_NONE && mode <= NATTER_RINGER_MODE_SOFT, NULL);
  g_return_val_if_fail (sound_dir != NULL, NULL);

  self = g_object_new (NATTER_TYPE_RINGTONE, NULL);
  self->mode = mode;
  self->sound_dir = g_strdup (sound_dir);
  return self;
}

/**
 * natter_ringtone_start:
 * @self: a #NatterRingtone
 *
 * Builds the pipeline and sets it playing; #NatterRingtone:playing follows
 * a moment later, on the main context.
 *
 * Returns: %FALSE if the pipeline could not be built or started
 */
gboolean
natter_ringtone_start (NatterRingtone *self)
{
  const Tone *tone;
  g_autofree char *sink = sink_description ();
  g_autofree char *file = NULL;
  g_autofree char *description = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GstBus) bus = NULL;
  char volume[G_ASCII_DTOSTR_BUF_SIZE];
  char frequency[G_ASCII_DTOSTR_BUF_SIZE];

  g_return_val_if_fail (NATTER_IS_RINGTONE (self), FALSE);
  g_return_val_if_fail (self->pipeline == NULL, FALSE);

  tone = &tones[self->mode];
  file = natter_ringtone_find_sound (self->mode, self->sound_dir);

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

  gst_init (NULL, NULL);
  self->pipeline = gst_parse_launch (description, &error);
  if (self->pipeline == NULL || error != NULL) {
    g_warning ("Cannot build the ringtone pipeline: %s",
               error != NULL ? error->message : "unknown");
    g_clear_object (&self->pipeline);
    set_flag (self, &self->failed, TRUE, PROP_FAILED);
    return FALSE;
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
    fail (self);
    return FALSE;
  }
  return TRUE;
}

gboolean
natter_ringtone_get_playing (NatterRingtone *self)
{
  g_return_val_if_fail (NATTER_IS_RINGTONE (self), FALSE);
  return self->playing;
}

/**
 * natter_ringtone_find_sound:
 * @mode: a mode that plays
 * @sound_dir: where the theme's `phone-*.oga` files are
 *
 * Returns: (transfer full) (nullable): the theme's sound file for @mode,
 *   or %NULL when a synthesized tone plays instead
 */
char *
natter_ringtone_find_sound (NatterRingerMode mode, const char *sound_dir)
{
  g_autofree char *name = NULL;
  g_autofree char *file = NULL;

  g_return_val_if_fail (mode > NATTER_RINGER_MODE_NONE && mode <= NATTER_RINGER_MODE_SOFT, NULL);

  if (tones[mode].theme_sound == NULL)
    return NULL;
  name = g_strconcat (tones[mode].theme_sound, ".oga", NULL);
  file = g_build_filename (sound_dir, name, NULL);
  return g_file_test (file, G_FILE_TEST_IS_REGULAR) ? g_steal_pointer (&file) : NULL;
}

/**
 * natter_ringtone_get_failed:
 * @self: a #NatterRingtone
 *
 * Returns: whether the pipeline could not be built or stopped on an error
 */
gboolean
natter_ringtone_get_failed (NatterRingtone *self)
{
  g_return_val_if_fail (NATTER_IS_RINGTONE (self), FALSE);
  return self->failed;
}
