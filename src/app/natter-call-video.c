/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-video"

#include "config.h"

#include "natter-call-media-proxy.h"
#include "natter-call-video.h"
#include "natter-video-paintable.h"

/* A call's pictures as paintables for GTK: it makes the video sinks and
 * hands them to the call (the peer's picture, and the camera's own for the
 * self view of each new pipeline), so core stays free of GTK and the call
 * overlay only shows the two paintables. When the call's media runs in
 * natter-call-media (NatterCallMediaProxy), the frames come from there as
 * shared memory and become GdkMemoryTextures here: the app then loads no
 * GStreamer plugin at all. */

enum { PROP_0, PROP_CALL, PROP_REMOTE_PAINTABLE, PROP_LOCAL_PAINTABLE, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterCallVideo {
  GObject parent_instance;

  NatterCall *call;
  GSignalGroup *call_signals;
  GSignalGroup *media_signals; /* the helper's frames */
  GdkPaintable *remote_paintable;
  GdkPaintable *local_paintable;
};

G_DEFINE_FINAL_TYPE (NatterCallVideo, natter_call_video, G_TYPE_OBJECT)

/* gtk4paintablesink when installed; Natter's own paintable otherwise. */
static GstElement *
create_video_sink (GdkPaintable **out_paintable)
{
  GstElement *sink;

  gst_init (NULL, NULL); /* not at start-up (issue 20); cheap once done */
  sink = gst_element_factory_make ("gtk4paintablesink", NULL);

  if (sink != NULL) {
    g_object_get (sink, "paintable", out_paintable, NULL);
    return sink;
  }

  *out_paintable = GDK_PAINTABLE (natter_video_paintable_new ());
  return natter_video_paintable_create_sink (NATTER_VIDEO_PAINTABLE (*out_paintable));
}

/* NATTER_BENCH_TIMING: natter-bench-app reads how long after the call was
 * accepted (for the caller: after the answer came) its first remote frame
 * reached the picture, with the media in a helper or in this process. */
static void
on_first_remote_contents (GdkPaintable *paintable, NatterCallVideo *self)
{
  gint64 accepted_at = self->call != NULL ? natter_call_get_accepted_at (self->call) : 0;

  g_signal_handlers_disconnect_by_func (paintable, on_first_remote_contents, self);
  if (accepted_at <= 0)
    return;
  /* Through a helper: when its FirstRemoteMedia (the first remote frame
   * decoded there) reached this process, to split the time. */
  if (NATTER_IS_CALL_MEDIA_PROXY (natter_call_get_media (self->call))) {
    gint64 decoded_at = natter_call_media_proxy_get_first_video_time (
      NATTER_CALL_MEDIA_PROXY (natter_call_get_media (self->call)));

    if (decoded_at > 0)
      g_print ("natter-bench: call-trace decoded-in-helper %" G_GINT64_FORMAT "\n",
               decoded_at - accepted_at);
  }
  g_print ("natter-bench: call-trace accepted-at %" G_GINT64_FORMAT "\n", accepted_at);
  g_print ("natter-bench: call-first-video %" G_GINT64_FORMAT "\n",
           g_get_monotonic_time () - accepted_at);
  fflush (stdout);
}

static void
set_paintable (NatterCallVideo *self, GdkPaintable **field, GdkPaintable *paintable, guint prop)
{
  if (*field != NULL)
    g_signal_handlers_disconnect_by_func (*field, on_first_remote_contents, self);
  if (!g_set_object (field, paintable))
    return;
  if (paintable != NULL && prop == PROP_REMOTE_PAINTABLE &&
      g_getenv ("NATTER_BENCH_TIMING") != NULL)
    g_signal_connect (paintable, "invalidate-contents", G_CALLBACK (on_first_remote_contents),
                      self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static gboolean
uses_media_helper (void)
{
  return natter_call_media_proxy_get_helper_path () != NULL;
}

/* The helper's frames: mapped memfds, wrapped without a copy. */
static void
on_helper_video_frame (
  NatterCallVideo *self, gboolean local, guint width, guint height, guint stride, GBytes *pixels)
{
  g_autoptr (GdkTexture) texture = NULL;
  GdkPaintable **field = local ? &self->local_paintable : &self->remote_paintable;

  if (*field == NULL) {
    g_autoptr (GdkPaintable) paintable = GDK_PAINTABLE (natter_video_paintable_new ());

    set_paintable (self, field, paintable, local ? PROP_LOCAL_PAINTABLE : PROP_REMOTE_PAINTABLE);
  }
  if (!NATTER_IS_VIDEO_PAINTABLE (*field))
    return;
  texture = gdk_memory_texture_new ((int) width, (int) height, GDK_MEMORY_R8G8B8A8, pixels, stride);
  natter_video_paintable_push_texture (NATTER_VIDEO_PAINTABLE (*field), texture);
}

static void
follow_media (NatterCallVideo *self)
{
  NatterCallMedia *media = self->call != NULL ? natter_call_get_media (self->call) : NULL;

  g_signal_group_set_target (self->media_signals,
                             NATTER_IS_CALL_MEDIA_PROXY (media) ? media : NULL);
}

/* The self view: the camera's picture, for each pipeline of the call that
 * sends video, before it starts. */
static void
attach_self_view (NatterCallVideo *self)
{
  g_autoptr (GdkPaintable) paintable = NULL;
  GstElement *sink;

  follow_media (self);
  if (self->call == NULL || !natter_call_wants_local_video_sink (self->call))
    return;

  set_paintable (self, &self->local_paintable, NULL, PROP_LOCAL_PAINTABLE);
  sink = create_video_sink (&paintable);
  if (sink == NULL)
    return;

  if (natter_call_set_local_video_sink (self->call, sink))
    set_paintable (self, &self->local_paintable, paintable, PROP_LOCAL_PAINTABLE);
}

static void
natter_call_video_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterCallVideo *self = NATTER_CALL_VIDEO (object);

  switch (prop_id) {
    case PROP_CALL:
      g_value_set_object (value, self->call);
      break;
    case PROP_REMOTE_PAINTABLE:
      g_value_set_object (value, self->remote_paintable);
      break;
    case PROP_LOCAL_PAINTABLE:
      g_value_set_object (value, self->local_paintable);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_video_set_property (GObject *object,
                                guint prop_id,
                                const GValue *value,
                                GParamSpec *pspec)
{
  NatterCallVideo *self = NATTER_CALL_VIDEO (object);

  switch (prop_id) {
    case PROP_CALL:
      natter_call_video_set_call (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_video_dispose (GObject *object)
{
  NatterCallVideo *self = NATTER_CALL_VIDEO (object);

  if (self->call_signals != NULL)
    g_signal_group_set_target (self->call_signals, NULL);
  g_clear_object (&self->call_signals);
  if (self->media_signals != NULL)
    g_signal_group_set_target (self->media_signals, NULL);
  g_clear_object (&self->media_signals);
  g_clear_object (&self->call);
  set_paintable (self, &self->remote_paintable, NULL, PROP_REMOTE_PAINTABLE);
  set_paintable (self, &self->local_paintable, NULL, PROP_LOCAL_PAINTABLE);

  G_OBJECT_CLASS (natter_call_video_parent_class)->dispose (object);
}

static void
natter_call_video_class_init (NatterCallVideoClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_call_video_get_property;
  object_class->set_property = natter_call_video_set_property;
  object_class->dispose = natter_call_video_dispose;

  properties[PROP_CALL] =
    g_param_spec_object ("call", NULL, NULL, NATTER_TYPE_CALL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallVideo:remote-paintable:
   *
   * The peer's picture, for a video call.
   */
  properties[PROP_REMOTE_PAINTABLE] =
    g_param_spec_object ("remote-paintable", NULL, NULL, GDK_TYPE_PAINTABLE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallVideo:local-paintable:
   *
   * The camera's own picture (the self view), once a pipeline took its sink.
   */
  properties[PROP_LOCAL_PAINTABLE] =
    g_param_spec_object ("local-paintable", NULL, NULL, GDK_TYPE_PAINTABLE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_call_video_init (NatterCallVideo *self)
{
  self->call_signals = g_signal_group_new (NATTER_TYPE_CALL);
  g_signal_group_connect_swapped (self->call_signals, "notify::pipeline",
                                  G_CALLBACK (attach_self_view), self);
  self->media_signals = g_signal_group_new (NATTER_TYPE_CALL_MEDIA_PROXY);
  g_signal_group_connect_swapped (self->media_signals, "video-frame",
                                  G_CALLBACK (on_helper_video_frame), self);
}

/**
 * natter_call_video_new:
 *
 * Returns: (transfer full): an object that shows no call yet
 */
NatterCallVideo *
natter_call_video_new (void)
{
  return g_object_new (NATTER_TYPE_CALL_VIDEO, NULL);
}

/**
 * natter_call_video_get_call:
 * @self: a #NatterCallVideo
 *
 * Returns: (transfer none) (nullable): the call whose pictures these are
 */
NatterCall *
natter_call_video_get_call (NatterCallVideo *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_VIDEO (self), NULL);

  return self->call;
}

/**
 * natter_call_video_set_call:
 * @self: a #NatterCallVideo
 * @call: (nullable): the call to show; a video call that has not ended
 *   gets its sinks at once
 */
void
natter_call_video_set_call (NatterCallVideo *self, NatterCall *call)
{
  g_return_if_fail (NATTER_IS_CALL_VIDEO (self));
  g_return_if_fail (call == NULL || NATTER_IS_CALL (call));

  if (!g_set_object (&self->call, call))
    return;

  g_signal_group_set_target (self->call_signals, call);
  set_paintable (self, &self->remote_paintable, NULL, PROP_REMOTE_PAINTABLE);
  set_paintable (self, &self->local_paintable, NULL, PROP_LOCAL_PAINTABLE);

  if (uses_media_helper ()) {
    /* The paintables come with the helper's first frames. */
  } else if (call != NULL && g_strcmp0 (natter_call_get_call_type (call), "video") == 0 &&
             natter_call_get_state (call) != NATTER_CALL_STATE_ENDED) {
    g_autoptr (GdkPaintable) paintable = NULL;
    GstElement *sink = create_video_sink (&paintable);

    if (sink != NULL)
      natter_call_set_video_sink (call, sink);
    set_paintable (self, &self->remote_paintable, paintable, PROP_REMOTE_PAINTABLE);
  }
  attach_self_view (self);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CALL]);
}

/**
 * natter_call_video_get_remote_paintable:
 * @self: a #NatterCallVideo
 *
 * Returns: (transfer none) (nullable): the peer's picture
 */
GdkPaintable *
natter_call_video_get_remote_paintable (NatterCallVideo *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_VIDEO (self), NULL);

  return self->remote_paintable;
}

/**
 * natter_call_video_get_local_paintable:
 * @self: a #NatterCallVideo
 *
 * Returns: (transfer none) (nullable): the self view's picture
 */
GdkPaintable *
natter_call_video_get_local_paintable (NatterCallVideo *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_VIDEO (self), NULL);

  return self->local_paintable;
}
