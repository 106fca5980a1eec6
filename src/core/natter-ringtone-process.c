/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-ringtone-process"

#include "config.h"

#include "natter-ringtone-process.h"

/* A #NatterRingtone played by `natter-call-media --ring` (issue 20): the
 * app then loads no GStreamer for its ringer. The helper reports on its
 * stdout, a word a line ("playing", "paused", "failed"), and exits
 * when its stdin closes: when this object goes, or the app dies. The same
 * properties as #NatterRingtone, so #NatterRinger follows either. */

enum { PROP_0, PROP_PLAYING, PROP_FAILED, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterRingtoneProcess {
  GObject parent_instance;

  char *helper_path;
  NatterRingerMode mode;
  char *sound_dir;
  GSubprocess *helper;
  GDataInputStream *reports;
  GCancellable *cancellable;
  gboolean playing;
  gboolean failed;
};

G_DEFINE_FINAL_TYPE (NatterRingtoneProcess, natter_ringtone_process, G_TYPE_OBJECT)

static void
set_flag (NatterRingtoneProcess *self, gboolean *field, gboolean value, guint prop)
{
  if (*field == value)
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void read_report (NatterRingtoneProcess *self);

static void
weak_ref_free (GWeakRef *ref)
{
  g_weak_ref_clear (ref);
  g_free (ref);
}

static void
on_report (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *line =
    g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, &error);
  g_autoptr (NatterRingtoneProcess) self = g_weak_ref_get (user_data);

  weak_ref_free (user_data);
  /* Gone, or going: a line read as it went is not for anyone. */
  if (self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (line == NULL) {
    /* The helper exited: silent, and failed unless it was asked to stop. */
    set_flag (self, &self->playing, FALSE, PROP_PLAYING);
    set_flag (self, &self->failed, TRUE, PROP_FAILED);
    return;
  }
  if (g_str_equal (line, "playing"))
    set_flag (self, &self->playing, TRUE, PROP_PLAYING);
  else if (g_str_equal (line, "paused"))
    set_flag (self, &self->playing, FALSE, PROP_PLAYING);
  else if (g_str_equal (line, "failed"))
    set_flag (self, &self->failed, TRUE, PROP_FAILED);
  read_report (self);
}

static void
read_report (NatterRingtoneProcess *self)
{
  GWeakRef *ref = g_new0 (GWeakRef, 1);

  /* Not a strong reference: the helper stops when the last one goes. */
  g_weak_ref_init (ref, self);
  g_data_input_stream_read_line_async (self->reports, G_PRIORITY_DEFAULT, self->cancellable,
                                       on_report, ref);
}

static void
natter_ringtone_process_get_property (GObject *object,
                                      guint prop_id,
                                      GValue *value,
                                      GParamSpec *pspec)
{
  NatterRingtoneProcess *self = NATTER_RINGTONE_PROCESS (object);

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
natter_ringtone_process_dispose (GObject *object)
{
  NatterRingtoneProcess *self = NATTER_RINGTONE_PROCESS (object);

  g_cancellable_cancel (self->cancellable);
  /* Silent before this returns: SIGKILL, not a request it may answer late. */
  if (self->helper != NULL) {
    g_subprocess_force_exit (self->helper);
    g_subprocess_wait_async (self->helper, NULL, NULL, NULL); /* reaps it */
  }
  g_clear_object (&self->reports);
  g_clear_object (&self->helper);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (natter_ringtone_process_parent_class)->dispose (object);
}

static void
natter_ringtone_process_finalize (GObject *object)
{
  NatterRingtoneProcess *self = NATTER_RINGTONE_PROCESS (object);

  g_free (self->helper_path);
  g_free (self->sound_dir);

  G_OBJECT_CLASS (natter_ringtone_process_parent_class)->finalize (object);
}

static void
natter_ringtone_process_class_init (NatterRingtoneProcessClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = natter_ringtone_process_get_property;
  object_class->dispose = natter_ringtone_process_dispose;
  object_class->finalize = natter_ringtone_process_finalize;

  properties[PROP_PLAYING] = g_param_spec_boolean ("playing", NULL, NULL, FALSE, flags);
  properties[PROP_FAILED] = g_param_spec_boolean ("failed", NULL, NULL, FALSE, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_ringtone_process_init (NatterRingtoneProcess *self)
{
  self->cancellable = g_cancellable_new ();
}

/**
 * natter_ringtone_process_new:
 * @helper_path: the natter-call-media executable
 * @mode: what to play, not %NATTER_RINGER_MODE_NONE
 * @sound_dir: where the theme's `phone-*.oga` files are
 *
 * Returns: (transfer full): a ringtone not started yet
 */
NatterRingtoneProcess *
natter_ringtone_process_new (const char *helper_path, NatterRingerMode mode, const char *sound_dir)
{
  NatterRingtoneProcess *self;

  g_return_val_if_fail (helper_path != NULL, NULL);
  g_return_val_if_fail (mode > NATTER_RINGER_MODE_NONE && mode <= NATTER_RINGER_MODE_SOFT, NULL);
  g_return_val_if_fail (sound_dir != NULL, NULL);

  self = g_object_new (NATTER_TYPE_RINGTONE_PROCESS, NULL);
  self->helper_path = g_strdup (helper_path);
  self->mode = mode;
  self->sound_dir = g_strdup (sound_dir);
  return self;
}

/**
 * natter_ringtone_process_start:
 * @self: a #NatterRingtoneProcess
 * @error: where a failed spawn is told
 *
 * Starts the helper (it inherits the environment: `NATTER_AUDIO_SINK`);
 * #NatterRingtoneProcess:playing follows when its pipeline plays.
 *
 * Returns: whether the helper started
 */
gboolean
natter_ringtone_process_start (NatterRingtoneProcess *self, GError **error)
{
  g_autoptr (GEnumClass) modes = g_type_class_ref (NATTER_TYPE_RINGER_MODE);
  GEnumValue *mode = g_enum_get_value (modes, self->mode);

  g_return_val_if_fail (NATTER_IS_RINGTONE_PROCESS (self), FALSE);
  g_return_val_if_fail (self->helper == NULL, FALSE);

  self->helper = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                                   error, self->helper_path, "--ring", mode->value_nick,
                                   "--sound-dir", self->sound_dir, NULL);
  if (self->helper == NULL) {
    set_flag (self, &self->failed, TRUE, PROP_FAILED);
    return FALSE;
  }
  self->reports = g_data_input_stream_new (g_subprocess_get_stdout_pipe (self->helper));
  read_report (self);
  return TRUE;
}

gboolean
natter_ringtone_process_get_playing (NatterRingtoneProcess *self)
{
  g_return_val_if_fail (NATTER_IS_RINGTONE_PROCESS (self), FALSE);
  return self->playing;
}

gboolean
natter_ringtone_process_get_failed (NatterRingtoneProcess *self)
{
  g_return_val_if_fail (NATTER_IS_RINGTONE_PROCESS (self), FALSE);
  return self->failed;
}
