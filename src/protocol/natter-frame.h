/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-protocol.h"
#include "natter-types.h"

G_BEGIN_DECLS

typedef enum {
  NATTER_FRAME_UNKNOWN = 0,
  /* session */
  NATTER_FRAME_HELLO,
  NATTER_FRAME_SYNC,
  NATTER_FRAME_SYNC_DONE,
  NATTER_FRAME_ERROR,
  /* chat */
  NATTER_FRAME_CHAT_MESSAGE,
  NATTER_FRAME_MESSAGE_ACK,
  NATTER_FRAME_TYPING,
  NATTER_FRAME_MARK_READ,
  NATTER_FRAME_READ_RECEIPT,
  NATTER_FRAME_PRESENCE,
  /* calls */
  NATTER_FRAME_CALL_INVITATION,
  NATTER_FRAME_CALL_RINGING,
  NATTER_FRAME_CALL_UNAVAILABLE,
  NATTER_FRAME_ICE_CANDIDATE,
  NATTER_FRAME_CALL_ANSWER,
  NATTER_FRAME_CALL_DECLINED,
  NATTER_FRAME_CALL_CANCELLED,
  NATTER_FRAME_CALL_ENDED,
  NATTER_FRAME_MISSED_CALL,
  NATTER_FRAME_CALL_MEDIA_STATE,
  NATTER_FRAME_CALL_UPDATE,
  NATTER_N_FRAME_TYPES
} NatterFrameType;

/* Which way a frame travels decides which fields it must carry: a client's
 * chat_message has client_msg_id and text, the server's has event_id and
 * message. */
typedef enum {
  NATTER_DIRECTION_TO_SERVER,
  NATTER_DIRECTION_TO_CLIENT,
} NatterDirection;

/**
 * NatterFrame:
 *
 * One WebSocket frame of PROTOCOL.md as a C value. Only the fields of its
 * @type are meaningful; the others stay zero/NULL. Ids are 0 when absent.
 *
 * On frames the server forwards, the from_* fields carry the sender's stamp.
 * When parsing with %NATTER_DIRECTION_TO_SERVER they are always left empty,
 * whatever the client sent: a client can never speak as someone else.
 */
typedef struct {
  NatterFrameType type;

  /* the server's stamp on forwarded frames */
  gint64 from_profile_id;
  char *from_profile_type;
  char *from_name;   /* also read from the synonym "caller_name" */
  char *from_avatar; /* also read from the synonym "caller_avatar" */

  /* events (chat_message to client, read_receipt, missed_call) */
  gint64 event_id;

  /* hello */
  gint64 protocol;
  gint64 heartbeat_s;
  char *server_time;
  char *server_epoch; /* names the server's event history; NULL from a 1.0 server */
  /* hello, sync_done: last_event_id; sync: after_event_id */
  gint64 last_event_id;
  gint64 after_event_id;
  gboolean truncated; /* sync_done */

  /* hello, read_receipt, presence: the profile concerned */
  NatterProfile *profile;

  /* chat */
  char *client_msg_id;    /* chat_message to server, message_ack */
  gint64 conversation_id; /* chat_message/typing/mark_read/read_receipt; optional on calls */
  gint64 to_profile_id;   /* chat_message (instead of conversation_id), call_invitation,
                             compat routing of ice_candidate/call_answer */
  char *to_profile_type;
  char *text;             /* chat_message to server; trimmed on parse; "" only with
                             attachment_ids */
  GArray *attachment_ids; /* chat_message to server: gint64 ids of uploaded attachments,
                             1..NATTER_MAX_MESSAGE_ATTACHMENTS, no repeats; NULL when none */
  NatterMessage *message; /* chat_message to client, message_ack */
  gboolean active;        /* typing */
  gint64 up_to_seq;       /* mark_read, read_receipt */
  gboolean online;        /* presence */
  char *last_seen;        /* presence, may be NULL */

  /* calls */
  char *client_call_id; /* call_invitation to server, call_ringing, call_unavailable */
  gint64 call_log_id;
  gint64 ringing_call_log_id;       /* call_unavailable with reason "glare" */
  char *call_type;                  /* "voice" or "video" */
  NatterSessionDescription *offer;  /* call_invitation, call_update */
  NatterSessionDescription *answer; /* call_answer, call_update */
  char *expires_at;                 /* call_invitation to client */
  char *reason;                     /* call_unavailable/declined/cancelled/ended */
  /* ice_candidate: NULL means end of candidates ({"candidate":null} or "") */
  NatterIceCandidate *candidate;
  NatterCallLog *call;    /* missed_call */
  gint64 count;           /* missed_call: calls it stands for (0 or absent: one) */
  gboolean audio_muted;   /* call_media_state */
  gboolean video_enabled; /* call_media_state */

  /* error */
  char *code;
  char *error_message; /* the "message" string of an error frame */
  char *ref;           /* client_msg_id or client_call_id, may be NULL */
} NatterFrame;

#define NATTER_TYPE_FRAME (natter_frame_get_type ())
GType natter_frame_get_type (void); /* boxed, for signal arguments */

NatterFrame *natter_frame_new (NatterFrameType type);
NatterFrame *natter_frame_copy (const NatterFrame *frame);
void natter_frame_free (NatterFrame *frame);

/* "chat_message", …; NULL for NATTER_FRAME_UNKNOWN. */
const char *natter_frame_type_to_string (NatterFrameType type);
/* Accepts the synonym "incoming_call"; NATTER_FRAME_UNKNOWN otherwise. */
NatterFrameType natter_frame_type_from_string (const char *type);

/**
 * natter_frame_parse:
 * @data: the frame's bytes (not necessarily NUL-terminated)
 * @length: their number
 * @direction: which way the frame travels
 * @out_ref: (out) (optional) (transfer full): on failure, the frame's
 *   client_msg_id or client_call_id if one could be read, for the error
 *   frame's "ref"
 * @error: NATTER_PROTOCOL_ERROR: FRAME_TOO_LARGE over NATTER_MAX_FRAME_BYTES,
 *   BAD_JSON, UNKNOWN_TYPE, BAD_FRAME (missing or wrong-typed field, named in
 *   the message), TOO_LONG (chat text over NATTER_MAX_CHAT_TEXT_CHARS)
 *
 * Returns: (transfer full) (nullable): the validated frame
 */
NatterFrame *natter_frame_parse (
  const char *data, gsize length, NatterDirection direction, char **out_ref, GError **error);

/* Serializes the fields of frame->type; transfer full, NUL-terminated. */
char *natter_frame_to_json (const NatterFrame *frame, gsize *out_length);
/* As natter_frame_to_json () with the frame's message given as serialized
 * text: a message serialized once goes into every frame that carries it. */
char *natter_frame_to_json_with_message (const NatterFrame *frame,
                                         const char *message_json,
                                         gsize *out_length);
char *natter_message_to_json (const NatterMessage *message);
JsonNode *natter_frame_to_node (const NatterFrame *frame);

/* An error frame for @error (a NATTER_PROTOCOL_ERROR), with @ref if not NULL. */
NatterFrame *natter_frame_new_error (const GError *error, const char *ref);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterFrame, natter_frame_free)

G_END_DECLS
