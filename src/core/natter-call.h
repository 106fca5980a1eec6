/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gst/gst.h>

#include "natter-call-media.h"
#include "natter-call-pipeline.h"
#include "natter-call-stats.h"
#include "natter-connection.h"
#include "natter-frame.h"

G_BEGIN_DECLS

/**
 * NatterCallState:
 * @NATTER_CALL_STATE_RINGING_OUTGOING: we invited; the peer has not answered
 * @NATTER_CALL_STATE_RINGING_INCOMING: we were invited; not answered yet
 * @NATTER_CALL_STATE_CONNECTING: answered; media being set up
 * @NATTER_CALL_STATE_CONNECTED: media flowing
 * @NATTER_CALL_STATE_ENDED: over; see #NatterCall:end-reason
 */
typedef enum {
  NATTER_CALL_STATE_RINGING_OUTGOING,
  NATTER_CALL_STATE_RINGING_INCOMING,
  NATTER_CALL_STATE_CONNECTING,
  NATTER_CALL_STATE_CONNECTED,
  NATTER_CALL_STATE_ENDED,
} NatterCallState;

#define NATTER_TYPE_CALL_STATE (natter_call_state_get_type ())
GType natter_call_state_get_type (void);

/**
 * NatterCallEndReason:
 * @NATTER_CALL_END_REASON_NONE: not ended
 * @NATTER_CALL_END_REASON_HANGUP: one side hung up (see #NatterCall:ended-locally)
 * @NATTER_CALL_END_REASON_DECLINED: the callee declined
 * @NATTER_CALL_END_REASON_BUSY: the callee was in another call
 * @NATTER_CALL_END_REASON_NO_ANSWER: the caller's view of a ring timeout
 * @NATTER_CALL_END_REASON_ANSWERED_ELSEWHERE: another device of ours answered
 * @NATTER_CALL_END_REASON_DECLINED_ELSEWHERE: another device of ours declined
 * @NATTER_CALL_END_REASON_CALLER_CANCELLED: the caller gave up while it rang
 * @NATTER_CALL_END_REASON_TIMEOUT: the callee's view of a ring timeout
 * @NATTER_CALL_END_REASON_UNAVAILABLE: the callee is offline (or glare)
 * @NATTER_CALL_END_REASON_FAILED: media could not be set up or recovered
 *
 * The nicks are the words of PROTOCOL.md.
 */
typedef enum {
  NATTER_CALL_END_REASON_NONE,
  NATTER_CALL_END_REASON_HANGUP,
  NATTER_CALL_END_REASON_DECLINED,
  NATTER_CALL_END_REASON_BUSY,
  NATTER_CALL_END_REASON_NO_ANSWER,
  NATTER_CALL_END_REASON_ANSWERED_ELSEWHERE,
  NATTER_CALL_END_REASON_DECLINED_ELSEWHERE,
  NATTER_CALL_END_REASON_CALLER_CANCELLED,
  NATTER_CALL_END_REASON_TIMEOUT,
  NATTER_CALL_END_REASON_UNAVAILABLE,
  NATTER_CALL_END_REASON_FAILED,
} NatterCallEndReason;

#define NATTER_TYPE_CALL_END_REASON (natter_call_end_reason_get_type ())
GType natter_call_end_reason_get_type (void);

#define NATTER_TYPE_CALL (natter_call_get_type ())
G_DECLARE_FINAL_TYPE (NatterCall, natter_call, NATTER, CALL, GObject)

NatterCall *natter_call_new_outgoing (NatterConnection *connection,
                                      const NatterProfile *peer,
                                      const char *call_type,
                                      gint64 conversation_id);
NatterCall *natter_call_new_incoming (NatterConnection *connection, const NatterFrame *invitation);

gboolean natter_call_start (NatterCall *self, GError **error);
gboolean natter_call_handle_frame (NatterCall *self, const NatterFrame *frame);

gboolean natter_call_accept (NatterCall *self, gboolean with_video);
void natter_call_decline (NatterCall *self);
void natter_call_decline_busy (NatterCall *self);
void natter_call_hang_up (NatterCall *self);
void natter_call_set_muted (NatterCall *self, gboolean muted);
void natter_call_set_camera_enabled (NatterCall *self, gboolean enabled);
void natter_call_silence (NatterCall *self);
GLoadableIcon *natter_call_get_avatar (NatterCall *self);
void natter_call_set_avatar (NatterCall *self, GLoadableIcon *avatar);

NatterCallState natter_call_get_state (NatterCall *self);
gboolean natter_call_is_ringing (NatterCall *self);
gboolean natter_call_is_live (NatterCall *self);
NatterCallEndReason natter_call_get_end_reason (NatterCall *self);
const char *natter_call_get_end_message (NatterCall *self);
gboolean natter_call_get_ended_locally (NatterCall *self);
gboolean natter_call_get_incoming (NatterCall *self);
gint64 natter_call_get_call_log_id (NatterCall *self);
const char *natter_call_get_client_call_id (NatterCall *self);
const NatterProfile *natter_call_get_peer (NatterCall *self);
const char *natter_call_get_call_type (NatterCall *self);
gboolean natter_call_get_peer_ringing (NatterCall *self);
gboolean natter_call_get_silenced (NatterCall *self);
guint natter_call_get_duration (NatterCall *self);
gboolean natter_call_get_muted (NatterCall *self);
gboolean natter_call_get_camera_enabled (NatterCall *self);
gboolean natter_call_get_remote_muted (NatterCall *self);
gboolean natter_call_get_remote_camera_enabled (NatterCall *self);
const NatterCallStats *natter_call_get_stats (NatterCall *self);
int natter_call_get_network_quality (NatterCall *self);
gboolean natter_call_get_poor_connection (NatterCall *self);
NatterCallPipeline *natter_call_get_pipeline (NatterCall *self);
NatterCallMedia *natter_call_get_media (NatterCall *self);
void natter_call_set_video_sink (NatterCall *self, GstElement *sink);
void natter_call_set_ice_servers (NatterCall *self, GPtrArray *ice_servers);
void natter_call_set_devices (NatterCall *self,
                              NatterDevice *microphone,
                              NatterDevice *camera,
                              NatterDevice *speaker);
void natter_call_set_camera_available (NatterCall *self, gboolean available);

gint64 natter_call_get_invited_at (NatterCall *self);
gint64 natter_call_get_ringing_at (NatterCall *self);
gint64 natter_call_get_accepted_at (NatterCall *self);

gboolean natter_call_wants_local_video_sink (NatterCall *self);
gboolean natter_call_set_local_video_sink (NatterCall *self, GstElement *sink);

G_END_DECLS
