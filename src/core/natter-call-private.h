/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* NatterCall's state, shared by its files: natter-call.c (the object, its
 * pipeline and the user's actions) and natter-call-signalling.c (the
 * peer's frames). */

#include "natter-call.h"

G_BEGIN_DECLS

enum {
  PROP_0,
  PROP_STATE,
  PROP_END_REASON,
  PROP_END_MESSAGE,
  PROP_ENDED_LOCALLY,
  PROP_INCOMING,
  PROP_CALL_LOG_ID,
  PROP_PEER,
  PROP_CALL_TYPE,
  PROP_PEER_RINGING,
  PROP_SILENCED,
  PROP_DURATION,
  PROP_MUTED,
  PROP_CAMERA_ENABLED,
  PROP_REMOTE_MUTED,
  PROP_REMOTE_CAMERA_ENABLED,
  PROP_STATS,
  PROP_PIPELINE,
  PROP_NETWORK_QUALITY,
  PROP_POOR_CONNECTION,
  PROP_AVATAR,
  N_PROPS
};

struct _NatterCall {
  GObject parent_instance;

  NatterConnection *connection;
  NatterCallMedia *media; /* a NatterCallPipeline, or the helper's proxy */
  GstElement *video_sink;
  GPtrArray *ice_servers;
  NatterDevice *microphone;
  NatterDevice *camera;
  NatterDevice *speaker;

  NatterCallState state;
  NatterCallEndReason end_reason;
  char *end_message;
  gboolean ended_locally;
  gboolean incoming;
  gint64 call_log_id;
  char *client_call_id;
  NatterProfile *peer;
  GLoadableIcon *avatar; /* the peer's picture, once fetched */
  char *call_type;
  gint64 conversation_id;
  NatterSessionDescription *remote_offer;
  GPtrArray *early_candidates;   /* NatterIceCandidate from the peer, before accept */
  GPtrArray *pending_candidates; /* ours, before we know the call_log_id */
  GStrv local_mids;              /* a=mid of each m-line of our last description */

  gboolean invitation_sent;
  gboolean answer_sent;
  gboolean hang_up_pending;
  gboolean peer_ringing;
  gboolean silenced;
  gboolean muted;
  gboolean camera_enabled;
  gboolean camera_available;
  gboolean remote_muted;
  gboolean remote_camera_enabled;
  int network_quality; /* -1 unknown */
  gboolean poor_connection;

  gint64 invited_at;
  gint64 ringing_at;
  gint64 accepted_at;
  gint64 connected_at;
  guint duration;
  guint duration_id;
  guint stats_id;
  guint recovery_id;
  guint recovery_ms;
  char *last_error;         /* why the media path was lost, while recovering */
  gboolean restart_offered; /* our call_update offer has no answer yet */
};

void natter_call_notify (NatterCall *self, guint prop);
void natter_call_set_state (NatterCall *self, NatterCallState state);
/* Takes @frame. */
void natter_call_send_frame (NatterCall *self, NatterFrame *frame);
void natter_call_send_candidate (NatterCall *self, const NatterIceCandidate *candidate);
NatterCallMedia *
natter_call_create_pipeline (NatterCall *self, gboolean with_video, GError **error);
/* Ends the call unless the media path comes back within recovery_ms. */
void natter_call_start_recovery (NatterCall *self);
void natter_call_add_remote_candidate (NatterCall *self, const NatterIceCandidate *candidate);
void natter_call_end (NatterCall *self,
                      NatterCallEndReason reason,
                      const char *message,
                      gboolean locally);

G_END_DECLS
