/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-cli"

#include "config.h"

#include <glib-unix.h>
#include <signal.h>

#include "natter-call-manager.h"
#include "natter-cli.h"

/* `call` and `answer`: headless calls on test sources or real devices,
 * one JSON line per state change and a call_summary at the end. */

#define DEFAULT_DURATION_S 10
#define DEFAULT_WAIT_S 60
/* How long the server may take to answer our close before we exit anyway. */
#define CLOSE_WAIT_S 5

typedef struct {
  NatterCli *cli;
  NatterCallManager *manager;
  NatterCall *call; /* the call being followed */
  guint duration_s;
  guint hang_up_id;
  guint stats_interval_ms; /* 0: no call_stats lines */
  guint stats_id;
  NatterCallStats *last_stats; /* the call forgets its stats when it ends */
  gboolean decline;
  guint count;
  guint handled;
  gboolean done;
  int status;
} CallSession;

static const char *
enum_nick (GType type, int value)
{
  g_autoptr (GEnumClass) klass = g_type_class_ref (type);
  GEnumValue *enum_value = g_enum_get_value (klass, value);

  return enum_value != NULL ? enum_value->value_nick : "unknown";
}

static gint64
elapsed_ms (gint64 from, gint64 to)
{
  return from > 0 && to > 0 ? (to - from) / 1000 : -1;
}

static void
add_int (JsonBuilder *builder, const char *name, gint64 value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, value);
}

static void
print_state (NatterCall *call)
{
  JsonBuilder *builder = natter_cli_event_begin ("call_state");
  g_autofree char *peer = natter_cli_format_profile (natter_call_get_peer (call));

  json_builder_set_member_name (builder, "state");
  json_builder_add_string_value (builder,
                                 enum_nick (NATTER_TYPE_CALL_STATE, natter_call_get_state (call)));
  add_int (builder, "call_log_id", natter_call_get_call_log_id (call));
  json_builder_set_member_name (builder, "peer");
  json_builder_add_string_value (builder, peer);
  json_builder_set_member_name (builder, "call_type");
  json_builder_add_string_value (builder, natter_call_get_call_type (call));
  json_builder_set_member_name (builder, "direction");
  json_builder_add_string_value (builder,
                                 natter_call_get_incoming (call) ? "incoming" : "outgoing");
  if (natter_call_get_state (call) == NATTER_CALL_STATE_ENDED) {
    json_builder_set_member_name (builder, "reason");
    json_builder_add_string_value (
      builder, enum_nick (NATTER_TYPE_CALL_END_REASON, natter_call_get_end_reason (call)));
    if (natter_call_get_end_message (call) != NULL) {
      json_builder_set_member_name (builder, "message");
      json_builder_add_string_value (builder, natter_call_get_end_message (call));
    }
  }
  natter_cli_event_end (builder);
}

static void
add_double (JsonBuilder *builder, const char *name, double value)
{
  json_builder_set_member_name (builder, name);
  /* Two decimals are all a frame rate or a percentage needs. */
  gint64 hundredths = (gint64) (ABS (value) * 100.0 + 0.5);

  json_builder_add_double_value (builder, (value < 0 ? -hundredths : hundredths) / 100.0);
}

/* How smooth the video was each way (browsers' freeze count) and how much
 * of the peer's audio had to be concealed. */
static void
add_smoothness (JsonBuilder *builder, NatterCall *call, const NatterCallStats *stats)
{
  NatterCallPipeline *pipeline = natter_call_get_pipeline (call);
  NatterFrameTiming *received = NULL, *sent = NULL, *decoded = NULL;

  if (pipeline != NULL) {
    received = natter_call_pipeline_get_video_received_timing (pipeline);
    decoded = natter_call_pipeline_get_video_decoded_timing (pipeline);
    sent = natter_call_pipeline_get_video_sent_timing (pipeline);
  }
  add_double (builder, "video_fps_received",
              received != NULL ? natter_frame_timing_get_frames_per_second (received) : 0);
  add_double (builder, "video_fps_sent",
              sent != NULL ? natter_frame_timing_get_frames_per_second (sent) : 0);
  add_int (builder, "video_freezes",
           received != NULL ? natter_frame_timing_get_freeze_count (received) : 0);
  add_int (builder, "video_freeze_ms",
           received != NULL ? natter_frame_timing_get_freeze_duration_us (received) / 1000 : 0);
  /* The same counted as frames left the decoder (before the rendered
   * count, fourth pass of bench/README.md). */
  add_int (builder, "video_freezes_decoded",
           decoded != NULL ? natter_frame_timing_get_freeze_count (decoded) : 0);
  add_int (builder, "video_freeze_ms_decoded",
           decoded != NULL ? natter_frame_timing_get_freeze_duration_us (decoded) / 1000 : 0);
  add_int (builder, "audio_frames_played",
           stats != NULL ? (gint64) stats->audio_packets_played : 0);
  add_int (builder, "audio_frames_concealed",
           stats != NULL ? (gint64) stats->audio_packets_concealed : 0);
  add_int (builder, "audio_frames_rebuilt",
           stats != NULL ? (gint64) stats->audio_packets_rebuilt : 0);
  add_int (builder, "audio_frames_concealed_silent",
           stats != NULL ? (gint64) stats->audio_packets_concealed_silent : 0);
  add_double (builder, "audio_concealed_pct",
              stats != NULL ? 100.0 * natter_call_stats_get_audio_concealed (stats) : 0);
}

/* The video encoder's target bitrate in bit/s, or -1 without one. */
static gint64
encoder_target_bitrate (NatterCallPipeline *pipeline)
{
  GstElement *bin = pipeline != NULL ? natter_call_pipeline_get_element (pipeline) : NULL;
  g_autoptr (GstIterator) iterator = NULL;
  g_auto (GValue) item = G_VALUE_INIT;
  gint64 bitrate = -1;

  if (bin == NULL || !GST_IS_BIN (bin))
    return -1;
  iterator = gst_bin_iterate_recurse (GST_BIN (bin));
  while (bitrate < 0 && gst_iterator_next (iterator, &item) == GST_ITERATOR_OK) {
    GstElement *element = g_value_get_object (&item);
    GstElementFactory *factory = gst_element_get_factory (element);
    int target = 0;

    if (factory != NULL && g_str_equal (GST_OBJECT_NAME (factory), "vp8enc")) {
      g_object_get (element, "target-bitrate", &target, NULL);
      bitrate = target;
    }
    g_value_reset (&item);
  }
  return bitrate;
}

/* The congestion controller's estimate; -1 (null) before the first
 * feedback or without congestion control. */
static gint64
estimated_bitrate (NatterCall *call)
{
  NatterCallPipeline *pipeline = natter_call_get_pipeline (call);
  guint estimate = pipeline != NULL ? natter_call_pipeline_get_bandwidth_estimate (pipeline) : 0;

  return estimate > 0 ? (gint64) estimate : -1;
}

static void
add_optional_int (JsonBuilder *builder, const char *name, gint64 value)
{
  json_builder_set_member_name (builder, name);
  if (value < 0)
    json_builder_add_null_value (builder);
  else
    json_builder_add_int_value (builder, value);
}

/* The pipeline's stats carry it every 2 s; read it again for each
 * call_stats line, and while the pipeline runs: it is gone when the
 * summary is printed. */
static void
read_audio_playout (CallSession *session)
{
  NatterCallPipeline *pipeline =
    session->call != NULL ? natter_call_get_pipeline (session->call) : NULL;
  GstElement *element = pipeline != NULL ? natter_call_pipeline_get_element (pipeline) : NULL;

  if (element == NULL)
    return;
  if (session->last_stats == NULL)
    session->last_stats = natter_call_stats_new ();
  natter_call_stats_read_audio_playout (session->last_stats, element);
}

/* One call_stats line: counters since the start, so that a reader can take
 * any window (natter-bench calls --link leaves the first 5 s out). */
static gboolean
on_stats_time (gpointer user_data)
{
  CallSession *session = user_data;
  NatterCall *call = session->call;
  NatterCallPipeline *pipeline = call != NULL ? natter_call_get_pipeline (call) : NULL;
  const NatterCallStats *stats;
  JsonBuilder *builder;

  if (pipeline == NULL)
    return G_SOURCE_CONTINUE;
  read_audio_playout (session);
  stats = session->last_stats;
  builder = natter_cli_event_begin ("call_stats");
  add_int (builder, "t_ms",
           elapsed_ms (natter_call_get_accepted_at (call), g_get_monotonic_time ()));
  add_int (builder, "video_frames_received",
           (gint64) natter_frame_timing_get_frames (
             natter_call_pipeline_get_video_received_timing (pipeline)));
  add_int (builder, "video_frames_sent",
           (gint64) natter_frame_timing_get_frames (
             natter_call_pipeline_get_video_sent_timing (pipeline)));
  add_smoothness (builder, call, stats);
  add_int (builder, "audio_send_bitrate", stats != NULL ? (gint64) stats->audio_send_bitrate : 0);
  add_int (builder, "video_send_bitrate", stats != NULL ? (gint64) stats->video_send_bitrate : 0);
  add_int (builder, "video_receive_bitrate",
           stats != NULL ? (gint64) stats->video_receive_bitrate : 0);
  add_optional_int (builder, "encoder_target_bitrate", encoder_target_bitrate (pipeline));
  add_optional_int (builder, "estimated_bitrate", estimated_bitrate (call));
  add_double (builder, "round_trip_time_ms", stats != NULL ? stats->round_trip_time_ms : -1);
  add_double (builder, "packet_loss_pct", stats != NULL ? 100.0 * stats->packet_loss : 0);
  natter_cli_event_end (builder);
  return G_SOURCE_CONTINUE;
}

/* Prints the summary; returns whether media flowed both ways. */
static gboolean
print_summary (NatterCall *call, const NatterCallStats *last_stats)
{
  NatterCallPipeline *pipeline = natter_call_get_pipeline (call);
  JsonBuilder *builder = natter_cli_event_begin ("call_summary");
  gboolean video = pipeline != NULL && natter_call_pipeline_get_with_video (pipeline) &&
                   g_str_equal (natter_call_get_call_type (call), "video");
  guint64 audio_in = 0, video_in = 0, audio_out = 0, video_out = 0;
  gint64 first_audio = 0, first_video = 0;
  gboolean flowed;

  if (pipeline != NULL) {
    audio_in = natter_call_pipeline_get_audio_buffers_received (pipeline);
    video_in = natter_call_pipeline_get_video_frames_received (pipeline);
    audio_out = natter_call_pipeline_get_audio_buffers_sent (pipeline);
    video_out = natter_call_pipeline_get_video_frames_sent (pipeline);
    first_audio = natter_call_pipeline_get_first_audio_time (pipeline);
    first_video = natter_call_pipeline_get_first_video_time (pipeline);
  }

  add_int (builder, "call_log_id", natter_call_get_call_log_id (call));
  json_builder_set_member_name (builder, "call_type");
  json_builder_add_string_value (builder, natter_call_get_call_type (call));
  json_builder_set_member_name (builder, "end_reason");
  json_builder_add_string_value (
    builder, enum_nick (NATTER_TYPE_CALL_END_REASON, natter_call_get_end_reason (call)));
  json_builder_set_member_name (builder, "ended_locally");
  json_builder_add_boolean_value (builder, natter_call_get_ended_locally (call));
  if (!natter_call_get_incoming (call))
    add_int (builder, "invitation_to_ringing_ms",
             elapsed_ms (natter_call_get_invited_at (call), natter_call_get_ringing_at (call)));
  add_int (builder, "accept_to_first_audio_ms",
           elapsed_ms (natter_call_get_accepted_at (call), first_audio));
  add_int (builder, "accept_to_first_video_ms",
           elapsed_ms (natter_call_get_accepted_at (call), first_video));
  add_int (builder, "duration_s", natter_call_get_duration (call));
  add_int (builder, "audio_buffers_received", (gint64) audio_in);
  add_int (builder, "video_frames_received", (gint64) video_in);
  add_int (builder, "audio_buffers_sent", (gint64) audio_out);
  add_int (builder, "video_frames_sent", (gint64) video_out);
  add_smoothness (builder, call, last_stats);

  /* Where the setup time went, from accept (the callee's click, or the
   * answer's arrival at the caller); accepted_at_us is the system's
   * monotonic clock, so two processes on one machine can be lined up. */
  add_int (builder, "accepted_at_us", natter_call_get_accepted_at (call));
  json_builder_set_member_name (builder, "setup_ms");
  json_builder_begin_object (builder);
  for (int mark = 0; pipeline != NULL && mark < NATTER_CALL_PIPELINE_N_MARKS; mark++) {
    gint64 time = natter_call_pipeline_get_mark_time (pipeline, mark);

    if (time == 0 || natter_call_get_accepted_at (call) == 0)
      continue;
    add_int (builder, enum_nick (NATTER_TYPE_CALL_PIPELINE_MARK, mark),
             (time - natter_call_get_accepted_at (call)) / 1000);
  }
  json_builder_end_object (builder);

  flowed = audio_in > 0 && audio_out > 0 && (!video || (video_in > 0 && video_out > 0));
  json_builder_set_member_name (builder, "media_both_ways");
  json_builder_add_boolean_value (builder, flowed);
  natter_cli_event_end (builder);
  return flowed;
}

static gboolean
on_hang_up_time (gpointer user_data)
{
  CallSession *session = user_data;

  session->hang_up_id = 0;
  if (session->call != NULL)
    natter_call_hang_up (session->call);
  return G_SOURCE_REMOVE;
}

/* A machine without sound devices (a VM, a container) has no microphone
 * to call with: say which device and what to use instead. */
static void
explain_device_failure (const char *message)
{
  if (message == NULL || !g_str_has_prefix (message, "The microphone could not be opened"))
    return;
  natter_cli_fail ("no usable microphone (no sound device?). To call with test sources, run "
                   "it as NATTER_AUDIO_SRC=audiotestsrc NATTER_AUDIO_SINK=fakesink "
                   "NATTER_VIDEO_SRC=videotestsrc natter-cli …");
}

static void
on_call_state (NatterCall *call, GParamSpec *pspec, CallSession *session)
{
  print_state (call);

  if (natter_call_get_state (call) == NATTER_CALL_STATE_CONNECTED && session->hang_up_id == 0)
    session->hang_up_id = g_timeout_add_seconds (session->duration_s, on_hang_up_time, session);
  if (natter_call_get_state (call) == NATTER_CALL_STATE_CONNECTED && session->stats_id == 0 &&
      session->stats_interval_ms > 0)
    session->stats_id = g_timeout_add (session->stats_interval_ms, on_stats_time, session);

  if (natter_call_get_state (call) != NATTER_CALL_STATE_ENDED)
    return;

  g_clear_handle_id (&session->hang_up_id, g_source_remove);
  g_clear_handle_id (&session->stats_id, g_source_remove);
  g_signal_handlers_disconnect_by_data (call, session);
  if (natter_call_get_end_reason (call) == NATTER_CALL_END_REASON_FAILED &&
      natter_call_get_end_message (call) != NULL) {
    natter_cli_fail ("%s", natter_call_get_end_message (call));
    explain_device_failure (natter_call_get_end_message (call));
  }
  if (call == session->call) {
    gboolean declined_by_us =
      session->decline && natter_call_get_end_reason (call) == NATTER_CALL_END_REASON_DECLINED;

    if (!print_summary (call, session->last_stats) && !declined_by_us)
      session->status = 1;
    g_clear_object (&session->call);
  }

  if (++session->handled >= session->count)
    session->done = TRUE;
}

static void
on_call_stats (NatterCall *call, GParamSpec *pspec, CallSession *session)
{
  if (natter_call_get_stats (call) == NULL)
    return;
  g_clear_pointer (&session->last_stats, natter_call_stats_free);
  session->last_stats = natter_call_stats_copy (natter_call_get_stats (call));
  read_audio_playout (session);
}

static void
follow (CallSession *session, NatterCall *call)
{
  g_set_object (&session->call, call);
  g_clear_pointer (&session->last_stats, natter_call_stats_free);
  g_signal_connect (call, "notify::state", G_CALLBACK (on_call_state), session);
  g_signal_connect (call, "notify::stats", G_CALLBACK (on_call_stats), session);
  print_state (call);
}

static gboolean
on_signal (gpointer user_data)
{
  CallSession *session = user_data;

  /* Ctrl-C hangs up properly, so the peer is told. */
  if (session->call != NULL)
    natter_call_hang_up (session->call);
  session->done = TRUE;
  return G_SOURCE_CONTINUE;
}

static gboolean
connection_is_up (NatterCli *cli)
{
  NatterConnection *connection = natter_client_get_connection (natter_cli_get_client (cli));

  return natter_connection_get_state (connection) == NATTER_CONNECTION_STATE_CONNECTED;
}

static void
on_connected_notify (NatterConnection *connection, GParamSpec *pspec, gboolean *connected)
{
  *connected = natter_connection_get_state (connection) == NATTER_CONNECTION_STATE_CONNECTED;
}

static gboolean
connect_and_wait (NatterCli *cli, guint timeout_s, GError **error)
{
  NatterConnection *connection;
  gboolean connected = FALSE;

  if (!natter_cli_sign_in (cli, timeout_s, error))
    return FALSE;
  connection = natter_client_get_connection (natter_cli_get_client (cli));
  g_signal_connect (connection, "notify::state", G_CALLBACK (on_connected_notify), &connected);
  natter_connection_start (connection);
  connected = connection_is_up (cli);
  natter_cli_wait (&connected, timeout_s);
  g_signal_handlers_disconnect_by_data (connection, &connected);
  if (!connected) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "Could not connect within %u s",
                 timeout_s);
    return FALSE;
  }
  return TRUE;
}

static NatterCallManager *
call_manager (NatterCli *cli)
{
  NatterCallManager *manager = NULL;

  g_object_get (natter_cli_get_client (cli), "call-manager", &manager, NULL);
  return manager;
}

/* Wakes the loop that waits for the close handshake to look at the clock. */
static gboolean
keep_ticking (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static int
run_session (CallSession *session, guint timeout_s)
{
  NatterConnection *connection = natter_call_manager_get_connection (session->manager);
  gint64 close_deadline;
  guint tick;
  guint sigint_id = g_unix_signal_add (SIGINT, on_signal, session);
  guint sigterm_id = g_unix_signal_add (SIGTERM, on_signal, session);
  gboolean finished = natter_cli_wait (&session->done, timeout_s);

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);

  if (!finished) {
    if (session->call != NULL) {
      /* Hanging up prints the summary through the state handler. */
      natter_call_hang_up (session->call);
      session->status = natter_cli_fail ("Timed out after %u s", timeout_s);
    } else if (session->handled < session->count) {
      session->status =
        natter_cli_fail ("Timed out waiting for calls: %u of %u", session->handled, session->count);
    }
  }

  /* Let the last frames (call_ended, call_declined) reach the server
   * before the process exits: the server answers our close only after
   * reading what came before it. Exiting at once could lose them (the
   * socket reset by the exit) and leave the peer ringing. */
  natter_connection_flush_outbox (connection);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  natter_connection_close (connection);
  close_deadline = g_get_monotonic_time () + CLOSE_WAIT_S * G_USEC_PER_SEC;
  tick = g_timeout_add (100, keep_ticking, NULL);
  while (natter_connection_is_closing (connection) && g_get_monotonic_time () < close_deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  g_clear_handle_id (&session->hang_up_id, g_source_remove);
  g_clear_handle_id (&session->stats_id, g_source_remove);
  g_clear_pointer (&session->last_stats, natter_call_stats_free);
  if (session->call != NULL)
    g_signal_handlers_disconnect_by_data (session->call, session);
  g_clear_object (&session->call);
  return session->status;
}

/**
 * natter_cli_call:
 * @cli: the CLI
 * @argc: argument count
 * @argv: `call TYPE:ID [--voice|--video] [--duration S]`
 *
 * Returns: 0 if media flowed both ways
 */
int
natter_cli_call (NatterCli *cli, int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterProfile) peer = NULL;
  g_autoptr (NatterCallManager) manager = NULL;
  g_autofree char *peer_type = NULL;
  gboolean voice = FALSE, video = FALSE;
  int duration_s = DEFAULT_DURATION_S;
  int timeout_s = DEFAULT_WAIT_S;
  int stats_interval_ms = 0;
  gint64 peer_id = 0;
  NatterCall *call;
  CallSession session = { 0 };
  GOptionEntry entries[] = {
    { "voice", 0, 0, G_OPTION_ARG_NONE, &voice, "A voice call", NULL },
    { "video", 0, 0, G_OPTION_ARG_NONE, &video, "A video call (the default)", NULL },
    { "duration", 0, 0, G_OPTION_ARG_INT, &duration_s,
      "Hang up S seconds after connecting (default 10)", "S" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s, "Give up after S seconds in all (default 60)",
      "S" },
    { "stats-interval", 0, 0, G_OPTION_ARG_INT, &stats_interval_ms,
      "Print a call_stats line every MS while connected (default 0: none)", "MS" },
    { NULL },
  };

  if (!natter_cli_parse_options (entries, "TYPE:ID - call a profile", &argc, &argv, &error))
    return natter_cli_fail ("%s", error->message);
  if (argc != 2 || (voice && video) || duration_s < 0 || timeout_s <= 0 || stats_interval_ms < 0)
    return natter_cli_fail ("usage: call TYPE:ID [--voice|--video] [--duration S] [--timeout S] "
                            "[--stats-interval MS]");
  if (!natter_cli_parse_profile (argv[1], &peer_id, &peer_type, &error))
    return natter_cli_fail ("%s", error->message);

  /* Plugins and DTLS certificate load while the connection comes up. */
  natter_call_pipeline_preload ();
  if (!connect_and_wait (cli, 10, &error))
    return natter_cli_fail ("%s", error->message);

  manager = call_manager (cli);
  peer = natter_profile_new (peer_id, peer_type, NULL, NULL);
  call = natter_call_manager_start_call (manager, peer, voice ? "voice" : "video", 0, &error);
  if (call == NULL) {
    natter_cli_fail ("Cannot call %s: %s", argv[1], error->message);
    explain_device_failure (error->message);
    return 1;
  }

  session.cli = cli;
  session.manager = manager;
  session.duration_s = (guint) duration_s;
  session.stats_interval_ms = (guint) stats_interval_ms;
  session.count = 1;
  follow (&session, call);
  return run_session (&session, (guint) (timeout_s + duration_s));
}

static void
on_incoming_call (NatterCallManager *manager, NatterCall *call, CallSession *session)
{
  if (session->call != NULL) {
    /* One at a time: a second caller hears busy. */
    natter_call_decline_busy (call);
    return;
  }

  follow (session, call);
  if (session->decline)
    natter_call_decline (call);
  else
    natter_call_accept (call, TRUE);
}

/**
 * natter_cli_answer:
 * @cli: the CLI
 * @argc: argument count
 * @argv: `answer [--auto|--decline] [--count N] [--duration S]`
 *
 * Returns: 0 if every answered call had media both ways
 */
int
natter_cli_answer (NatterCli *cli, int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterCallManager) manager = NULL;
  gboolean automatic = FALSE, decline = FALSE;
  int count = 1;
  int duration_s = DEFAULT_DURATION_S;
  int timeout_s = 0;
  int stats_interval_ms = 0;
  CallSession session = { 0 };
  int status;
  GOptionEntry entries[] = {
    { "auto", 0, 0, G_OPTION_ARG_NONE, &automatic, "Accept every call (the default)", NULL },
    { "decline", 0, 0, G_OPTION_ARG_NONE, &decline, "Decline every call", NULL },
    { "count", 0, 0, G_OPTION_ARG_INT, &count, "Exit after N calls (default 1)", "N" },
    { "duration", 0, 0, G_OPTION_ARG_INT, &duration_s,
      "Hang up S seconds after connecting (default 10)", "S" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s, "Give up after S seconds (default: wait)",
      "S" },
    { "stats-interval", 0, 0, G_OPTION_ARG_INT, &stats_interval_ms,
      "Print a call_stats line every MS while connected (default 0: none)", "MS" },
    { NULL },
  };

  if (!natter_cli_parse_options (entries, "- answer incoming calls", &argc, &argv, &error))
    return natter_cli_fail ("%s", error->message);
  if (argc != 1 || (automatic && decline) || count <= 0 || duration_s < 0 || timeout_s < 0 ||
      stats_interval_ms < 0)
    return natter_cli_fail ("usage: answer [--auto|--decline] [--count N] [--duration S] "
                            "[--timeout S] [--stats-interval MS]");

  natter_call_pipeline_preload ();
  if (!connect_and_wait (cli, 10, &error))
    return natter_cli_fail ("%s", error->message);

  manager = call_manager (cli);
  session.cli = cli;
  session.manager = manager;
  session.duration_s = (guint) duration_s;
  session.stats_interval_ms = (guint) stats_interval_ms;
  session.count = (guint) count;
  session.decline = decline;

  {
    JsonBuilder *builder = natter_cli_event_begin ("waiting");

    add_int (builder, "count", count);
    natter_cli_event_end (builder);
  }

  g_signal_connect (manager, "incoming-call", G_CALLBACK (on_incoming_call), &session);
  status = run_session (&session, (guint) timeout_s);
  g_signal_handlers_disconnect_by_data (manager, &session);
  return status;
}
