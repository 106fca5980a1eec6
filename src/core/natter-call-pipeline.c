/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-pipeline"

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <gst/gst.h>

#include "natter-call-media.h"
#include "natter-call-pipeline-private.h"

/* Jitter buffer: see natter_call_pipeline_init() for why 60 ms. */
#define DEFAULT_LATENCY_MS 60

/* A connected call whose peer sends nothing for this long has lost its
 * media path (see check_media_flow()). */
#define DEFAULT_MEDIA_TIMEOUT_MS 5000

GParamSpec *natter_call_pipeline_properties[N_PROPS];

guint natter_call_pipeline_signals[N_SIGNALS];

static void natter_call_pipeline_media_init (NatterCallMediaInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterCallPipeline,
                               natter_call_pipeline,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NATTER_TYPE_CALL_MEDIA,
                                                      natter_call_pipeline_media_init))

G_DEFINE_ENUM_TYPE (NatterCallPipelineState,
                    natter_call_pipeline_state,
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_NEW, "new"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_NEGOTIATING, "negotiating"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_CONNECTING, "connecting"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_CONNECTED, "connected"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_DISCONNECTED, "disconnected"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_FAILED, "failed"),
                    G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_STATE_CLOSED, "closed"))

G_DEFINE_ENUM_TYPE (
  NatterCallPipelineMark,
  natter_call_pipeline_mark,
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_STARTED, "started"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_LOCAL_DESCRIPTION, "local-description"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_REMOTE_DESCRIPTION, "remote-description"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_FIRST_LOCAL_CANDIDATE, "first-local-candidate"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_ICE_CONNECTED, "ice-connected"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_DTLS_CONNECTED, "dtls-connected"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_FIRST_RTP, "first-rtp"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_FIRST_AUDIO, "first-audio"),
  G_DEFINE_ENUM_VALUE (NATTER_CALL_PIPELINE_MARK_FIRST_VIDEO, "first-video"))

/* Records the first time @mark happens; any thread. */
void
natter_call_pipeline_set_mark (NatterCallPipeline *self, NatterCallPipelineMark mark)
{
  gint64 now = 0;

  g_mutex_lock (&self->marks_lock);
  if (self->marks[mark] == 0)
    self->marks[mark] = now = g_get_monotonic_time ();
  g_mutex_unlock (&self->marks_lock);

  /* natter-bench-app --calls: the app's setup, step by step, whether the
   * pipeline runs in the app or in natter-call-media (whose stdout is the
   * app's). CLOCK_MONOTONIC, so comparable across the two processes. */
  if (now != 0 && g_getenv ("NATTER_BENCH_TIMING") != NULL) {
    g_autoptr (GEnumClass) marks = g_type_class_ref (NATTER_TYPE_CALL_PIPELINE_MARK);

    g_print ("natter-bench: call-trace %s-at %" G_GINT64_FORMAT "\n",
             g_enum_get_value (marks, mark)->value_nick, now);
    fflush (stdout);
  }
}

gint64
natter_call_pipeline_get_mark (NatterCallPipeline *self, NatterCallPipelineMark mark)
{
  gint64 time;

  g_mutex_lock (&self->marks_lock);
  time = self->marks[mark];
  g_mutex_unlock (&self->marks_lock);
  return time;
}

void
natter_call_pipeline_pending_candidate_free (gpointer data)
{
  PendingCandidate *pending = data;

  g_free (pending->candidate);
  g_free (pending);
}

void
natter_call_pipeline_set_state (NatterCallPipeline *self, NatterCallPipelineState state)
{
  if (self->state == state)
    return;

  /* Closed and failed are final, except that a failed path may recover. */
  if (self->state == NATTER_CALL_PIPELINE_STATE_CLOSED)
    return;

  if (!g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN)) {
    g_autofree char *name = g_enum_to_string (NATTER_TYPE_CALL_PIPELINE_STATE, state);

    g_debug ("pipeline %p: %s", self, name);
  }
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), natter_call_pipeline_properties[PROP_STATE]);
}

void
natter_call_pipeline_fail (NatterCallPipeline *self, const char *message)
{
  if (self->state == NATTER_CALL_PIPELINE_STATE_CLOSED)
    return;

  g_warning ("Call media failed: %s", message);
  if (self->error_message == NULL)
    self->error_message = g_strdup (message);
  natter_call_pipeline_set_state (self, NATTER_CALL_PIPELINE_STATE_FAILED);
}

typedef struct {
  NatterCallPipeline *self;
  MainFunc func;
  gpointer data;
  GDestroyNotify data_free;
} Invocation;

static gboolean
run_invocation (gpointer user_data)
{
  Invocation *invocation = user_data;

  if (!invocation->self->closed)
    invocation->func (invocation->self, invocation->data);

  return G_SOURCE_REMOVE;
}

static void
invocation_free (gpointer user_data)
{
  Invocation *invocation = user_data;

  if (invocation->data_free != NULL)
    g_clear_pointer (&invocation->data, invocation->data_free);
  g_object_unref (invocation->self);
  g_free (invocation);
}

void
natter_call_pipeline_invoke_on_main (NatterCallPipeline *self,
                                     MainFunc func,
                                     gpointer data,
                                     GDestroyNotify data_free)
{
  Invocation *invocation = g_new0 (Invocation, 1);
  GSource *source;

  invocation->self = g_object_ref (self);
  invocation->func = func;
  invocation->data = data;
  invocation->data_free = data_free;
  /* Always through a source: g_main_context_invoke() runs the function at
   * once on the calling streaming thread whenever it can acquire the
   * context, which it can while the main thread is between iterations (a
   * test's own code, natter-cli between waits). A candidate then went out
   * on the WebSocket from that thread while the main thread used it too,
   * and libsoup's frame queue broke (assertion "len > frame->sent"). */
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, run_invocation, invocation, invocation_free);
  g_source_set_static_name (source, "[natter] call pipeline to main");
  g_source_attach (source, self->context);
  g_source_unref (source);
}

static void
natter_call_pipeline_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterCallPipeline *self = NATTER_CALL_PIPELINE (object);

  switch (prop_id) {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_WITH_VIDEO:
      g_value_set_boolean (value, self->with_video);
      break;
    case PROP_VIDEO_SINK:
      g_value_set_object (value, self->video_sink);
      break;
    case PROP_LOCAL_VIDEO_SINK:
      g_value_set_object (value, self->local_video_sink);
      break;
    case PROP_LATENCY:
      g_value_set_uint (value, self->latency_ms);
      break;
    case PROP_MUTED:
      g_value_set_boolean (value, self->muted);
      break;
    case PROP_CAMERA_ENABLED:
      g_value_set_boolean (value, self->camera_enabled);
      break;
    case PROP_STATS:
      g_value_set_boxed (value, self->stats);
      break;
    case PROP_BANDWIDTH_ESTIMATE:
      g_value_set_uint (value, self->bandwidth_estimate);
      break;
    case PROP_VIDEO_REDUCED:
      g_value_set_boolean (value, self->video_reduced);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_pipeline_set_property (GObject *object,
                                   guint prop_id,
                                   const GValue *value,
                                   GParamSpec *pspec)
{
  NatterCallPipeline *self = NATTER_CALL_PIPELINE (object);

  switch (prop_id) {
    case PROP_WITH_VIDEO:
      self->with_video = g_value_get_boolean (value);
      break;
    case PROP_VIDEO_SINK:
      natter_call_pipeline_set_video_sink (self, g_value_get_object (value));
      break;
    case PROP_LOCAL_VIDEO_SINK:
      natter_call_pipeline_set_local_video_sink (self, g_value_get_object (value));
      break;
    case PROP_LATENCY:
      natter_call_pipeline_set_latency (self, g_value_get_uint (value));
      break;
    case PROP_MUTED:
      natter_call_pipeline_set_muted (self, g_value_get_boolean (value));
      break;
    case PROP_CAMERA_ENABLED:
      natter_call_pipeline_set_camera_enabled (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_pipeline_dispose (GObject *object)
{
  NatterCallPipeline *self = NATTER_CALL_PIPELINE (object);

  natter_call_pipeline_close (self);
  g_clear_object (&self->video_sink);
  g_clear_object (&self->local_video_sink);
  g_clear_object (&self->audio_source_device);
  g_clear_object (&self->video_source_device);
  g_clear_object (&self->audio_sink_device);

  G_OBJECT_CLASS (natter_call_pipeline_parent_class)->dispose (object);
}

static void
natter_call_pipeline_finalize (GObject *object)
{
  NatterCallPipeline *self = NATTER_CALL_PIPELINE (object);

  g_clear_pointer (&self->error_message, g_free);
  g_clear_pointer (&self->ice_servers, g_ptr_array_unref);
  g_clear_pointer (&self->pending_candidates, g_ptr_array_unref);
  g_clear_pointer (&self->stats, natter_call_stats_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->session_senders, natter_call_session_senders_unref);
  g_mutex_clear (&self->marks_lock);
  g_clear_pointer (&self->video_received_timing, natter_frame_timing_free);
  g_clear_pointer (&self->video_decoded_timing, natter_frame_timing_free);
  g_clear_pointer (&self->video_sent_timing, natter_frame_timing_free);

  G_OBJECT_CLASS (natter_call_pipeline_parent_class)->finalize (object);
}

static gboolean
media_get_unrecoverable (NatterCallMedia *media)
{
  return natter_call_pipeline_get_microphone_failed (NATTER_CALL_PIPELINE (media));
}

static void
media_set_devices (NatterCallMedia *media,
                   NatterDevice *microphone,
                   NatterDevice *camera,
                   NatterDevice *speaker)
{
  NatterCallPipeline *self = NATTER_CALL_PIPELINE (media);

  /* Devices known by name only (the app's lists) open the defaults here. */
  natter_call_pipeline_set_audio_source_device (
    self, microphone != NULL ? natter_device_get_gst_device (microphone) : NULL);
  natter_call_pipeline_set_video_source_device (
    self, camera != NULL ? natter_device_get_gst_device (camera) : NULL);
  natter_call_pipeline_set_audio_sink_device (
    self, speaker != NULL ? natter_device_get_gst_device (speaker) : NULL);
}

static void
natter_call_pipeline_media_init (NatterCallMediaInterface *iface)
{
#define MEDIA_FUNC(name) iface->name = (gpointer) natter_call_pipeline_##name
  MEDIA_FUNC (get_state);
  MEDIA_FUNC (get_error_message);
  MEDIA_FUNC (get_with_video);
  MEDIA_FUNC (get_camera_enabled);
  MEDIA_FUNC (get_stats);
  MEDIA_FUNC (get_bandwidth_estimate);
  MEDIA_FUNC (get_bandwidth_limited);
  MEDIA_FUNC (get_video_reduced);
  MEDIA_FUNC (set_video_sink);
  MEDIA_FUNC (set_ice_servers);
  MEDIA_FUNC (set_muted);
  MEDIA_FUNC (set_camera_enabled);
  MEDIA_FUNC (start_offer);
  MEDIA_FUNC (set_remote_description);
  MEDIA_FUNC (add_remote_candidate);
  MEDIA_FUNC (update_stats);
  MEDIA_FUNC (close);
#undef MEDIA_FUNC
  iface->get_unrecoverable = media_get_unrecoverable;
  iface->set_devices = media_set_devices;
}

static void
natter_call_pipeline_class_init (NatterCallPipelineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_call_pipeline_get_property;
  object_class->set_property = natter_call_pipeline_set_property;
  object_class->dispose = natter_call_pipeline_dispose;
  object_class->finalize = natter_call_pipeline_finalize;

  natter_call_pipeline_properties[PROP_STATE] = g_param_spec_enum (
    "state", NULL, NULL, NATTER_TYPE_CALL_PIPELINE_STATE, NATTER_CALL_PIPELINE_STATE_NEW,
    G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  natter_call_pipeline_properties[PROP_WITH_VIDEO] =
    g_param_spec_boolean ("with-video", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallPipeline:video-sink:
   *
   * Where the remote video goes (the app's paintable sink). Set before the
   * remote video arrives; by default a fakesink, counted.
   */
  natter_call_pipeline_properties[PROP_VIDEO_SINK] =
    g_param_spec_object ("video-sink", NULL, NULL, GST_TYPE_ELEMENT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallPipeline:local-video-sink:
   *
   * Self view. Set before negotiation starts; %NULL for none.
   */
  natter_call_pipeline_properties[PROP_LOCAL_VIDEO_SINK] =
    g_param_spec_object ("local-video-sink", NULL, NULL, GST_TYPE_ELEMENT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  natter_call_pipeline_properties[PROP_LATENCY] =
    g_param_spec_uint ("latency", NULL, NULL, 0, 10000, DEFAULT_LATENCY_MS,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  natter_call_pipeline_properties[PROP_MUTED] =
    g_param_spec_boolean ("muted", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  natter_call_pipeline_properties[PROP_CAMERA_ENABLED] =
    g_param_spec_boolean ("camera-enabled", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  natter_call_pipeline_properties[PROP_STATS] =
    g_param_spec_boxed ("stats", NULL, NULL, NATTER_TYPE_CALL_STATS,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallPipeline:bandwidth-estimate:
   *
   * Bits per second the path to the peer is estimated to carry, from the
   * peer's transport-wide congestion control feedback and receiver
   * reports; 0 before the first.
   */
  natter_call_pipeline_properties[PROP_BANDWIDTH_ESTIMATE] =
    g_param_spec_uint ("bandwidth-estimate", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallPipeline:video-reduced:
   *
   * Whether the video we send is smaller or slower than the camera gives,
   * for want of bandwidth.
   */
  natter_call_pipeline_properties[PROP_VIDEO_REDUCED] =
    g_param_spec_boolean ("video-reduced", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, natter_call_pipeline_properties);

  /* The signals NatterCall follows are NatterCallMedia's. */
  natter_call_pipeline_signals[SIGNAL_LOCAL_DESCRIPTION] =
    natter_call_media_local_description_signal ();
  natter_call_pipeline_signals[SIGNAL_LOCAL_CANDIDATE] =
    natter_call_media_local_candidate_signal ();
  /**
   * NatterCallPipeline::first-remote-media:
   * @kind: "audio" or "video"
   *
   * The first remote audio buffer or video frame was decoded.
   */
  natter_call_pipeline_signals[SIGNAL_FIRST_REMOTE_MEDIA] =
    g_signal_new ("first-remote-media", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
natter_call_pipeline_init (NatterCallPipeline *self)
{
  self->context = g_main_context_ref_thread_default ();
  g_mutex_init (&self->marks_lock);
  self->session_senders = natter_call_session_senders_new ();
  self->video_received_timing = natter_frame_timing_new ();
  self->video_decoded_timing = natter_frame_timing_new ();
  self->video_sent_timing = natter_frame_timing_new ();
  self->pending_candidates =
    g_ptr_array_new_with_free_func (natter_call_pipeline_pending_candidate_free);
  self->camera_enabled = TRUE;
  self->with_video = TRUE;
  /* 60 ms: the jitter buffer plays packets that arrive in order at once;
   * the latency is how long it waits for a late or retransmitted one, and
   * what the audio sink adds to the mouth-to-ear delay. 60 ms absorbs
   * ordinary Wi-Fi jitter and one NACK retransmission on a LAN or within a
   * city (RTT < 40 ms), and stays far below the 150 ms where talk starts to
   * feel delayed. At 30 ms a retransmission would rarely make it in time, and
   * a lost packet becomes a gap; webrtcbin's 200 ms is made for the open
   * internet. The first packets no longer wait
   * for it (faststart-min-packets, see on_new_jitterbuffer()), so the choice
   * does not cost the setup time. NATTER_CALL_LATENCY_MS overrides it. */
  self->media_timeout_ms = DEFAULT_MEDIA_TIMEOUT_MS;
  if (g_getenv ("NATTER_CALL_MEDIA_TIMEOUT_MS") != NULL)
    self->media_timeout_ms =
      (guint) MIN (g_ascii_strtoull (g_getenv ("NATTER_CALL_MEDIA_TIMEOUT_MS"), NULL, 10), 600000);
  /* NATTER_CALL_CONGESTION_CONTROL=0: a fixed 1.5 Mbit/s and no
   * transport-cc, as before (for comparisons). */
  self->congestion_control = g_strcmp0 (g_getenv ("NATTER_CALL_CONGESTION_CONTROL"), "0") != 0;
  self->latency_ms = DEFAULT_LATENCY_MS;
  if (g_getenv ("NATTER_CALL_LATENCY_MS") != NULL)
    self->latency_ms =
      (guint) MIN (g_ascii_strtoull (g_getenv ("NATTER_CALL_LATENCY_MS"), NULL, 10), 10000);
}

static gpointer
preload_thread (gpointer data)
{
  static const char *const factories[] = {
    "webrtcbin", "dtlsdec",   "nicesrc",      "srtpdec",      "opusenc",       "opusdec",
    "vp8enc",    "vp8dec",    "rtpopuspay",   "rtpopusdepay", "rtpvp8pay",     "rtpvp8depay",
    "webrtcdsp", "decodebin", "videoconvert", "audioconvert", "audioresample",
  };

  for (guint i = 0; i < G_N_ELEMENTS (factories); i++) {
    GstElement *element = gst_element_factory_make (factories[i], NULL);

    if (element != NULL)
      gst_object_unref (gst_object_ref_sink (element));
  }
  return NULL;
}

static GMutex preload_lock;
static GThread *preload_thread_handle;

/**
 * natter_call_pipeline_preload_wait:
 *
 * Waits for natter_call_pipeline_preload() to finish, if it runs: before
 * the first pipeline (the work is the same, no need to do it twice at
 * once), at exit, and before a program leaves through _exit(), so that no
 * plugin is half-way through a dlopen() when the process goes.
 */
void
natter_call_pipeline_preload_wait (void)
{
  GThread *thread;

  g_mutex_lock (&preload_lock);
  thread = g_steal_pointer (&preload_thread_handle);
  g_mutex_unlock (&preload_lock);
  if (thread != NULL)
    g_thread_join (thread);
}

/**
 * natter_call_pipeline_preload:
 *
 * Loads the plugins a call uses and makes the DTLS certificate, once per
 * process, on a worker thread. The first call of a process otherwise pays
 * for both between accept and the first frame: about half a second on a
 * busy machine. natter_call_pipeline_hold() starts it when a call rings or
 * is placed (45 s of ringing is plenty); natter-cli's answer starts it as
 * it begins waiting. A process that never calls never loads them.
 */
void
natter_call_pipeline_preload (void)
{
  static gsize started = 0;

  if (g_once_init_enter (&started)) {
    gst_init (NULL, NULL);
    g_mutex_lock (&preload_lock);
    preload_thread_handle = g_thread_new ("natter-call-preload", preload_thread, NULL);
    g_mutex_unlock (&preload_lock);
    atexit (natter_call_pipeline_preload_wait);
    g_once_init_leave (&started, 1);
  }
}

/* glibc's arenas for the process: the main one and one for other threads.
 * One arena made calls slower (2026-12-07: accept → first remote video
 * 1 to 9 ms longer in each of three back-to-back pairs of `natter-bench
 * calls --count 10`: every streaming thread of a call took the one lock)
 * and a second costs 0.7 MiB in the background. */
#define DEFAULT_MALLOC_ARENAS 2
#define MAX_MALLOC_ARENAS 64

static int malloc_arenas = 1; /* set by natter_call_pipeline_limit_arenas() */

/**
 * natter_call_pipeline_limit_arenas:
 *
 * Caps glibc's malloc arenas at two (NATTER_MALLOC_ARENAS, 1 to 64,
 * changes it, to compare in benchmarks). Each call's new streaming threads
 * would otherwise take arenas of their own (up to 8 per core), each
 * faulting in the encoder's memory afresh (see natter_call_pipeline_hold())
 * and keeping its free top after the call: 26 MiB in the app after a
 * call, in 15 arenas. glibc fixes the limit when the second arena is made,
 * so this must run before the process's first thread: each program's
 * main() calls it first; #NatterCallManager calls it too, for the programs
 * that did not (it then only stops more arenas being made).
 */
void
natter_call_pipeline_limit_arenas (void)
{
#ifdef __GLIBC__
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    const char *arenas = g_getenv ("NATTER_MALLOC_ARENAS");

    malloc_arenas = arenas != NULL
                      ? (int) CLAMP (g_ascii_strtoll (arenas, NULL, 10), 1, MAX_MALLOC_ARENAS)
                      : DEFAULT_MALLOC_ARENAS;
    mallopt (M_ARENA_MAX, malloc_arenas);
    g_once_init_leave (&done, 1);
  }
#endif
}

#ifdef __GLIBC__
/* Larger than glibc's fast-bin consolidation threshold (64 KiB), under
 * the mmap threshold (128 KiB) once the call's settings are undone. */
#define ARENA_TRIM_BLOCK (96 * 1024)

/* malloc_trim() gives back the free pages inside every arena but the free
 * top only of the main one; a thread's arena shrinks its top when a big
 * block is freed in it. A new thread takes the arena a call's ended
 * threads left (glibc reuses free arenas first) or, with none free, the
 * next one in turn: one thread per arena, one after the other, frees a
 * big block in each. */
static gpointer
trim_thread_arena (gpointer data)
{
  g_free (g_malloc (ARENA_TRIM_BLOCK));
  return NULL;
}

static void
trim_thread_arenas (void)
{
  for (int i = 0; i < malloc_arenas; i++) {
    GThread *thread = g_thread_try_new ("natter-trim", trim_thread_arena, NULL, NULL);

    if (thread != NULL)
      g_thread_join (thread);
  }
}
#endif

static guint call_holds; /* main thread only */

/**
 * natter_call_pipeline_hold:
 *
 * A call rings or was placed: loads the call stack (see
 * natter_call_pipeline_preload()) and sets the allocator for calls until
 * the matching natter_call_pipeline_release(). Holds nest; call on the
 * main thread.
 */
void
natter_call_pipeline_hold (void)
{
  if (call_holds++ > 0)
    return;
#ifdef __GLIBC__
  /* Every call allocates about 30 MiB for the VP8 encoder alone at 720p
   * and touches all of it. glibc gave big blocks back to the kernel at
   * once (mmap, and trimming the top of each heap), so a call's encoder
   * took 7,500 fresh page faults, 65 to 80 ms on the callee between accept
   * and its first frame. While calls go on, fixed thresholds keep freed
   * blocks for the next one. And each call's new streaming threads took
   * arenas of their own (up to 16 here), each keeping its peak: a callee
   * grew to 380 MiB over 20 calls and 460 MiB over 40; with few arenas it
   * stays near 150 MiB (natter_call_pipeline_limit_arenas()). */
  mallopt (M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt (M_TRIM_THRESHOLD, 256 * 1024 * 1024);
#endif
  natter_call_pipeline_preload ();
}

/**
 * natter_call_pipeline_release:
 *
 * Ends a natter_call_pipeline_hold(). After the last one the allocator
 * goes back to glibc's defaults and returns what the calls freed to the
 * system: an app that runs all day keeps no call's peak.
 */
void
natter_call_pipeline_release (void)
{
  g_return_if_fail (call_holds > 0);

  if (--call_holds > 0)
    return;
#ifdef __GLIBC__
  mallopt (M_MMAP_THRESHOLD, 128 * 1024);
  mallopt (M_TRIM_THRESHOLD, 128 * 1024);
#endif
  natter_call_pipeline_trim_memory ();
}

/**
 * natter_call_pipeline_trim_memory:
 *
 * Returns to the system what the process freed, in every arena: after a
 * call whose media ran in a helper, what showing its video freed.
 */
void
natter_call_pipeline_trim_memory (void)
{
#ifdef __GLIBC__
  malloc_trim (0);
  trim_thread_arenas ();
#endif
}

/**
 * natter_call_pipeline_get_held:
 *
 * Returns: whether a natter_call_pipeline_hold() is in force: a call
 *   rings, runs, or ended moments ago
 */
gboolean
natter_call_pipeline_get_held (void)
{
  return call_holds > 0;
}

/**
 * natter_call_pipeline_new:
 * @with_video: whether to send video (an offer then has a video m-line)
 *
 * Creates the media side of one call. Nothing runs until
 * natter_call_pipeline_start_offer() or
 * natter_call_pipeline_set_remote_description() with an offer.
 *
 * Returns: (transfer full): a new pipeline object
 */
NatterCallPipeline *
natter_call_pipeline_new (gboolean with_video)
{
  gst_init (NULL, NULL);
  natter_call_pipeline_preload_wait ();
  return g_object_new (NATTER_TYPE_CALL_PIPELINE, "with-video", with_video, NULL);
}

NatterCallPipelineState
natter_call_pipeline_get_state (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NATTER_CALL_PIPELINE_STATE_CLOSED);
  return self->state;
}

/**
 * natter_call_pipeline_get_error_message:
 * @self: a #NatterCallPipeline
 *
 * Returns: (nullable): why the pipeline failed
 */
const char *
natter_call_pipeline_get_error_message (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->error_message;
}

/**
 * natter_call_pipeline_get_microphone_failed:
 * @self: a #NatterCallPipeline
 *
 * Returns: whether the pipeline failed because the microphone, opened,
 *   errored before it gave anything; no new session will do better
 */
gboolean
natter_call_pipeline_get_microphone_failed (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return self->microphone_failed;
}

gboolean
natter_call_pipeline_get_with_video (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return self->with_video;
}

/**
 * natter_call_pipeline_get_remote_has_video:
 * @self: a #NatterCallPipeline
 *
 * Returns: whether the remote offer had a video m-line (answerer only)
 */
gboolean
natter_call_pipeline_get_remote_has_video (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return self->remote_has_video;
}

/**
 * natter_call_pipeline_set_local_video_sink:
 * @self: a #NatterCallPipeline
 * @sink: (nullable): the self-view element
 */
void
natter_call_pipeline_set_local_video_sink (NatterCallPipeline *self, GstElement *sink)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));
  g_return_if_fail (sink == NULL || GST_IS_ELEMENT (sink));

  if (self->pipeline != NULL || self->local_video_sink == sink)
    return;
  if (sink != NULL)
    gst_object_ref_sink (sink);
  g_clear_object (&self->local_video_sink);
  self->local_video_sink = sink;
  g_object_notify_by_pspec (G_OBJECT (self),
                            natter_call_pipeline_properties[PROP_LOCAL_VIDEO_SINK]);
}

/**
 * natter_call_pipeline_get_local_video_sink:
 * @self: a #NatterCallPipeline
 *
 * Returns: (transfer none) (nullable): the self-view sink
 */
GstElement *
natter_call_pipeline_get_local_video_sink (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->local_video_sink;
}

void
natter_call_pipeline_set_latency (NatterCallPipeline *self, guint latency_ms)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));

  if (self->latency_ms == latency_ms)
    return;
  self->latency_ms = latency_ms;
  if (self->webrtcbin != NULL)
    g_object_set (self->webrtcbin, "latency", latency_ms, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), natter_call_pipeline_properties[PROP_LATENCY]);
}

guint
natter_call_pipeline_get_latency (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return self->latency_ms;
}

/**
 * natter_call_pipeline_close:
 * @self: a #NatterCallPipeline
 *
 * Stops and releases the pipeline. Call on the main thread. Idempotent.
 */
void
natter_call_pipeline_close (NatterCallPipeline *self)
{
  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));

  if (self->closed)
    return;
  self->closed = TRUE;

  if (self->media_watch_id != 0) {
    GSource *source = g_main_context_find_source_by_id (self->context, self->media_watch_id);

    if (source != NULL)
      g_source_destroy (source);
    self->media_watch_id = 0;
  }

  if (self->bus_watch_id != 0) {
    GSource *source = g_main_context_find_source_by_id (self->context, self->bus_watch_id);

    if (source != NULL)
      g_source_destroy (source);
    self->bus_watch_id = 0;
  }

  /* Our handlers go before the elements do: webrtcbin finalizes some of
   * its objects on its own threads, and a handler left to
   * g_signal_connect_object() would be invalidated from whichever thread
   * drops the last reference. */
  if (self->dtls_transport != NULL) {
    g_signal_handlers_disconnect_by_data (self->dtls_transport, self);
    g_clear_object (&self->dtls_transport);
  }
  /* A video packet waiting for its time would hold up the state change. */
  if (self->pacer != NULL) {
    g_signal_handlers_disconnect_by_data (self->pacer, self);
    natter_pacer_stop (self->pacer);
  }
  if (self->pipeline != NULL) {
    g_autoptr (GstIterator) iterator = gst_bin_iterate_recurse (GST_BIN (self->pipeline));
    g_auto (GValue) item = G_VALUE_INIT;
    GstIteratorResult result;

    g_signal_handlers_disconnect_by_data (self->pipeline, self);
    while ((result = gst_iterator_next (iterator, &item)) != GST_ITERATOR_DONE &&
           result != GST_ITERATOR_ERROR) {
      if (result == GST_ITERATOR_RESYNC) {
        gst_iterator_resync (iterator);
        continue;
      }
      g_signal_handlers_disconnect_by_data (g_value_get_object (&item), self);
      g_value_reset (&item);
    }
    gst_element_set_state (self->pipeline, GST_STATE_NULL);
    g_clear_object (&self->pipeline);
  }
  self->webrtcbin = NULL;
  self->echo_probe = NULL;
  self->audio_receive_head = NULL;
  self->mute_volume = NULL;
  self->video_valve = NULL;
  self->video_encoder = NULL;
  self->audio_source = NULL;
  self->video_source = NULL;
  self->audio_sink = NULL;
  g_clear_object (&self->video_transceiver);
  g_clear_object (&self->pacer);
  g_mutex_lock (&self->marks_lock);
  g_clear_pointer (&self->adaptation, natter_call_adaptation_free);
  g_mutex_unlock (&self->marks_lock);
  g_ptr_array_set_size (self->pending_candidates, 0);

  if (self->state != NATTER_CALL_PIPELINE_STATE_FAILED) {
    self->state = NATTER_CALL_PIPELINE_STATE_CLOSED;
    g_object_notify_by_pspec (G_OBJECT (self), natter_call_pipeline_properties[PROP_STATE]);
  }
}

/**
 * natter_call_pipeline_get_audio_buffers_received:
 * @self: a #NatterCallPipeline
 *
 * Counters are read at any time; they are not notified.
 *
 * Returns: decoded remote audio buffers so far
 */
guint64
natter_call_pipeline_get_audio_buffers_received (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return natter_call_pipeline_counter_get (&self->audio_buffers_received);
}

guint64
natter_call_pipeline_get_video_frames_received (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return natter_call_pipeline_counter_get (&self->video_frames_received);
}

/**
 * natter_call_pipeline_get_audio_buffers_sent:
 * @self: a #NatterCallPipeline
 *
 * Returns: Opus packets the encoder produced
 */
guint64
natter_call_pipeline_get_audio_buffers_sent (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return natter_call_pipeline_counter_get (&self->audio_buffers_sent);
}

/**
 * natter_call_pipeline_get_video_frames_sent:
 * @self: a #NatterCallPipeline
 *
 * Returns: frames the video encoder produced
 */
guint64
natter_call_pipeline_get_video_frames_sent (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return natter_call_pipeline_counter_get (&self->video_frames_sent);
}

/**
 * natter_call_pipeline_get_first_audio_time:
 * @self: a #NatterCallPipeline
 *
 * Returns: g_get_monotonic_time() of the first decoded remote audio buffer,
 *   0 if none yet
 */
gint64
natter_call_pipeline_get_first_audio_time (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return natter_call_pipeline_get_mark (self, NATTER_CALL_PIPELINE_MARK_FIRST_AUDIO);
}

/**
 * natter_call_pipeline_get_video_received_timing:
 * @self: a #NatterCallPipeline
 *
 * Returns: (transfer none): when the peer's video frames were rendered, or
 *   would be by a sink synced to the pipeline clock (browsers' count)
 */
NatterFrameTiming *
natter_call_pipeline_get_video_received_timing (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->video_received_timing;
}

/**
 * natter_call_pipeline_get_video_decoded_timing:
 * @self: a #NatterCallPipeline
 *
 * Returns: (transfer none): when the peer's video frames left the decoder
 *   (frames held back for a retransmission come out in a burst)
 */
NatterFrameTiming *
natter_call_pipeline_get_video_decoded_timing (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->video_decoded_timing;
}

/**
 * natter_call_pipeline_get_video_sent_timing:
 * @self: a #NatterCallPipeline
 *
 * Returns: (transfer none): when our video frames left the encoder
 */
NatterFrameTiming *
natter_call_pipeline_get_video_sent_timing (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->video_sent_timing;
}

/**
 * natter_call_pipeline_get_first_video_time:
 * @self: a #NatterCallPipeline
 *
 * Returns: g_get_monotonic_time() of the first decoded remote video frame,
 *   0 if none yet
 */
gint64
natter_call_pipeline_get_first_video_time (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return natter_call_pipeline_get_mark (self, NATTER_CALL_PIPELINE_MARK_FIRST_VIDEO);
}

static void
on_stats_main (NatterCallPipeline *self, gpointer data)
{
  GstPromise *promise = data;
  const GstStructure *reply = gst_promise_get_reply (promise);
  NatterCallStats *stats;

  self->stats_pending = FALSE;
  if (reply == NULL)
    return;

  stats = natter_call_stats_new_from_structure (reply, self->stats, g_get_monotonic_time ());
  if (self->pipeline != NULL)
    natter_call_stats_read_audio_playout (stats, self->pipeline);
  g_clear_pointer (&self->stats, natter_call_stats_free);
  self->stats = stats;
  if (self->adaptation != NULL && self->congestion_control) {
    natter_call_adaptation_on_receiver_report (self->adaptation, stats->round_trip_time_ms,
                                               stats->send_packet_loss, g_get_monotonic_time ());
    natter_call_pipeline_update_adaptation_properties (self);
  }
  natter_call_pipeline_update_render_latency (self);
  g_object_notify_by_pspec (G_OBJECT (self), natter_call_pipeline_properties[PROP_STATS]);
}

static void
on_stats (GstPromise *promise, gpointer user_data)
{
  natter_call_pipeline_invoke_on_main (user_data, on_stats_main, gst_promise_ref (promise),
                                       (GDestroyNotify) gst_promise_unref);
}

/**
 * natter_call_pipeline_update_stats:
 * @self: a #NatterCallPipeline
 *
 * Asks webrtcbin for statistics; #NatterCallPipeline:stats is notified when
 * they arrive.
 */
void
natter_call_pipeline_update_stats (NatterCallPipeline *self)
{
  GstPromise *promise;

  g_return_if_fail (NATTER_IS_CALL_PIPELINE (self));

  if (self->webrtcbin == NULL || self->stats_pending)
    return;
  self->stats_pending = TRUE;
  promise = gst_promise_new_with_change_func (on_stats, g_object_ref (self), g_object_unref);
  g_signal_emit_by_name (self->webrtcbin, "get-stats", NULL, promise);
  gst_promise_unref (promise);
}

/**
 * natter_call_pipeline_get_stats:
 * @self: a #NatterCallPipeline
 *
 * Returns: (transfer none) (nullable): the last statistics sample
 */
const NatterCallStats *
natter_call_pipeline_get_stats (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->stats;
}

/**
 * natter_call_pipeline_get_bandwidth_estimate:
 * @self: a #NatterCallPipeline
 *
 * Returns: see #NatterCallPipeline:bandwidth-estimate
 */
guint
natter_call_pipeline_get_bandwidth_estimate (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return self->bandwidth_estimate;
}

/**
 * natter_call_pipeline_get_bandwidth_limited:
 * @self: a #NatterCallPipeline
 *
 * Returns: whether the estimate has met the path's limit (congestion was
 *   seen); before, it is a start-up value still growing
 */
gboolean
natter_call_pipeline_get_bandwidth_limited (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return self->adaptation != NULL && natter_call_adaptation_get_limited (self->adaptation);
}

/**
 * natter_call_pipeline_get_video_reduced:
 * @self: a #NatterCallPipeline
 *
 * Returns: see #NatterCallPipeline:video-reduced
 */
gboolean
natter_call_pipeline_get_video_reduced (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), FALSE);
  return self->video_reduced;
}

/**
 * natter_call_pipeline_get_send_plan:
 * @self: a #NatterCallPipeline
 *
 * Returns: (transfer none) (nullable): what the rate controller has the
 *   encoders send, %NULL when there is no running call or no congestion
 *   control
 */
const NatterRatePlan *
natter_call_pipeline_get_send_plan (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  if (self->adaptation == NULL || !self->congestion_control)
    return NULL;
  return natter_call_adaptation_get_plan (self->adaptation);
}

/* Copies the jitter buffers' latency for the receive side's streaming
 * thread, which counts frames at their render time (media-receive). */
void
natter_call_pipeline_update_render_latency (NatterCallPipeline *self)
{
  g_atomic_int_set (&self->video_render_latency_ms,
                    (gint) natter_call_pipeline_get_jitter_latency (self));
}

/**
 * natter_call_pipeline_get_jitter_latency:
 * @self: a #NatterCallPipeline
 *
 * Returns: the jitter buffers' latency now, in ms (it follows the round
 *   trip)
 */
guint
natter_call_pipeline_get_jitter_latency (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  return self->adaptation != NULL ? natter_call_adaptation_get_latency (self->adaptation)
                                  : self->latency_ms;
}

/**
 * natter_call_pipeline_get_element:
 * @self: a #NatterCallPipeline
 *
 * The GStreamer pipeline itself, for diagnostics and tests (a test cuts its
 * network elements to stand for a lost path).
 *
 * Returns: (transfer none) (nullable): the pipeline, %NULL before it is
 *   built or after it is closed
 */
GstElement *
natter_call_pipeline_get_element (NatterCallPipeline *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), NULL);
  return self->pipeline;
}

/**
 * natter_call_pipeline_get_mark_time:
 * @self: a #NatterCallPipeline
 * @mark: a point of the call's setup
 *
 * Returns: g_get_monotonic_time() of the first time @mark happened, 0 if
 *   it has not
 */
gint64
natter_call_pipeline_get_mark_time (NatterCallPipeline *self, NatterCallPipelineMark mark)
{
  g_return_val_if_fail (NATTER_IS_CALL_PIPELINE (self), 0);
  g_return_val_if_fail (mark < NATTER_CALL_PIPELINE_N_MARKS, 0);
  return natter_call_pipeline_get_mark (self, mark);
}
