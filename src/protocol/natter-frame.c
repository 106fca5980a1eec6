/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-protocol"

#include "config.h"

#include <string.h>

#include "natter-frame.h"
#include "natter-json.h"
#include "natter-protocol-private.h"

#define MAX_TIME_CHARS 64
#define MAX_NAME_CHARS 256
#define MAX_URL_CHARS 2048
#define MAX_CODE_CHARS 64
#define MAX_ERROR_MESSAGE_CHARS 4096
#define MAX_SDP_MID_CHARS 64
#define MAX_SHOWN_TYPE_CHARS 32
#define MAX_EPOCH_CHARS 64

G_DEFINE_BOXED_TYPE (NatterFrame, natter_frame, natter_frame_copy, natter_frame_free)

/* How one member of a frame is read and written. */
typedef enum {
  KIND_ID,             /* 1..2^53-1, written when non-zero */
  KIND_COUNT,          /* 0..2^53-1, always written */
  KIND_POSITIVE,       /* 1..2^53-1, always written */
  KIND_BOOL,           /* always written */
  KIND_STRING,         /* written when set */
  KIND_CLIENT_ID,      /* 1..128 characters */
  KIND_PROFILE_TYPE,   /* normalized */
  KIND_CALL_TYPE,      /* "voice" or "video" */
  KIND_TEXT,           /* chat text: trimmed, 1..4096 characters (0 with attachments) */
  KIND_ATTACHMENT_IDS, /* chat_message: 1..10 distinct ids; absent or [] when none */
  KIND_PROFILE,
  KIND_MESSAGE,
  KIND_CALL_LOG,
  KIND_OFFER,
  KIND_ANSWER,
  KIND_CANDIDATE, /* always written; NULL is end of candidates */
} FieldKind;

/* Whether a member is read in one direction. */
typedef enum {
  NOT_READ = 0,
  OPTIONAL,
  REQUIRED,
} Presence;

typedef struct {
  const char *name;
  FieldKind kind;
  gsize offset;
  guint max_chars; /* KIND_STRING */
  Presence to_server;
  Presence to_client;
} FieldSpec;

typedef struct {
  const char *name;
  gboolean to_server;
  gboolean to_client;
  const FieldSpec *fields;
} FrameSpec;

#define F(member) G_STRUCT_OFFSET (NatterFrame, member)
#define END             \
  {                     \
    NULL, 0, 0, 0, 0, 0 \
  }

static const FieldSpec hello_fields[] = {
  { "protocol", KIND_POSITIVE, F (protocol), 0, NOT_READ, REQUIRED },
  { "profile", KIND_PROFILE, F (profile), 0, NOT_READ, REQUIRED },
  { "last_event_id", KIND_COUNT, F (last_event_id), 0, NOT_READ, REQUIRED },
  { "heartbeat_s", KIND_POSITIVE, F (heartbeat_s), 0, NOT_READ, REQUIRED },
  { "server_time", KIND_STRING, F (server_time), MAX_TIME_CHARS, NOT_READ, REQUIRED },
  { "server_epoch", KIND_STRING, F (server_epoch), MAX_EPOCH_CHARS, NOT_READ, OPTIONAL },
  END
};

static const FieldSpec sync_fields[] = {
  { "after_event_id", KIND_COUNT, F (after_event_id), 0, REQUIRED, NOT_READ }, END
};

static const FieldSpec sync_done_fields[] = {
  { "last_event_id", KIND_COUNT, F (last_event_id), 0, NOT_READ, REQUIRED },
  { "truncated", KIND_BOOL, F (truncated), 0, NOT_READ, OPTIONAL },
  END
};

static const FieldSpec error_fields[] = {
  { "code", KIND_STRING, F (code), MAX_CODE_CHARS, NOT_READ, REQUIRED },
  { "message", KIND_STRING, F (error_message), MAX_ERROR_MESSAGE_CHARS, NOT_READ, REQUIRED },
  { "ref", KIND_STRING, F (ref), NATTER_MAX_CLIENT_ID_CHARS, NOT_READ, OPTIONAL },
  END
};

static const FieldSpec chat_message_fields[] = {
  { "event_id", KIND_ID, F (event_id), 0, NOT_READ, REQUIRED },
  { "client_msg_id", KIND_CLIENT_ID, F (client_msg_id), 0, REQUIRED, NOT_READ },
  { "conversation_id", KIND_ID, F (conversation_id), 0, OPTIONAL, NOT_READ },
  { "to_profile_id", KIND_ID, F (to_profile_id), 0, OPTIONAL, NOT_READ },
  { "to_profile_type", KIND_PROFILE_TYPE, F (to_profile_type), 0, OPTIONAL, NOT_READ },
  { "text", KIND_TEXT, F (text), 0, REQUIRED, NOT_READ },
  { "attachments", KIND_ATTACHMENT_IDS, F (attachment_ids), 0, OPTIONAL, NOT_READ },
  { "message", KIND_MESSAGE, F (message), 0, NOT_READ, REQUIRED },
  END
};

static const FieldSpec message_ack_fields[] = {
  { "client_msg_id", KIND_CLIENT_ID, F (client_msg_id), 0, NOT_READ, REQUIRED },
  { "event_id", KIND_ID, F (event_id), 0, NOT_READ, OPTIONAL },
  { "message", KIND_MESSAGE, F (message), 0, NOT_READ, REQUIRED },
  END
};

static const FieldSpec typing_fields[] = {
  { "conversation_id", KIND_ID, F (conversation_id), 0, REQUIRED, REQUIRED },
  { "active", KIND_BOOL, F (active), 0, REQUIRED, REQUIRED },
  END
};

static const FieldSpec mark_read_fields[] = {
  { "conversation_id", KIND_ID, F (conversation_id), 0, REQUIRED, NOT_READ },
  { "up_to_seq", KIND_COUNT, F (up_to_seq), 0, REQUIRED, NOT_READ },
  END
};

static const FieldSpec read_receipt_fields[] = {
  { "event_id", KIND_ID, F (event_id), 0, NOT_READ, REQUIRED },
  { "conversation_id", KIND_ID, F (conversation_id), 0, NOT_READ, REQUIRED },
  { "profile", KIND_PROFILE, F (profile), 0, NOT_READ, REQUIRED },
  { "up_to_seq", KIND_COUNT, F (up_to_seq), 0, NOT_READ, REQUIRED },
  END
};

static const FieldSpec presence_fields[] = {
  { "profile", KIND_PROFILE, F (profile), 0, NOT_READ, REQUIRED },
  { "online", KIND_BOOL, F (online), 0, NOT_READ, REQUIRED },
  { "last_seen", KIND_STRING, F (last_seen), MAX_TIME_CHARS, NOT_READ, OPTIONAL },
  END
};

static const FieldSpec call_invitation_fields[] = {
  { "client_call_id", KIND_CLIENT_ID, F (client_call_id), 0, REQUIRED, NOT_READ },
  { "call_log_id", KIND_ID, F (call_log_id), 0, NOT_READ, REQUIRED },
  { "to_profile_id", KIND_ID, F (to_profile_id), 0, REQUIRED, NOT_READ },
  { "to_profile_type", KIND_PROFILE_TYPE, F (to_profile_type), 0, REQUIRED, NOT_READ },
  { "call_type", KIND_CALL_TYPE, F (call_type), 0, REQUIRED, REQUIRED },
  { "conversation_id", KIND_ID, F (conversation_id), 0, OPTIONAL, OPTIONAL },
  { "offer", KIND_OFFER, F (offer), 0, REQUIRED, REQUIRED },
  { "expires_at", KIND_STRING, F (expires_at), MAX_TIME_CHARS, NOT_READ, OPTIONAL },
  END
};

static const FieldSpec call_ringing_fields[] = {
  { "client_call_id", KIND_CLIENT_ID, F (client_call_id), 0, NOT_READ, REQUIRED },
  { "call_log_id", KIND_ID, F (call_log_id), 0, NOT_READ, REQUIRED },
  END
};

static const FieldSpec call_unavailable_fields[] = {
  { "client_call_id", KIND_CLIENT_ID, F (client_call_id), 0, NOT_READ, REQUIRED },
  { "call_log_id", KIND_ID, F (call_log_id), 0, NOT_READ, OPTIONAL },
  { "reason", KIND_STRING, F (reason), NATTER_MAX_REASON_CHARS, NOT_READ, REQUIRED },
  { "ringing_call_log_id", KIND_ID, F (ringing_call_log_id), 0, NOT_READ, OPTIONAL },
  END
};

static const FieldSpec ice_candidate_fields[] = {
  { "call_log_id", KIND_ID, F (call_log_id), 0, OPTIONAL, OPTIONAL },
  { "to_profile_id", KIND_ID, F (to_profile_id), 0, OPTIONAL, NOT_READ },
  { "to_profile_type", KIND_PROFILE_TYPE, F (to_profile_type), 0, OPTIONAL, NOT_READ },
  { "candidate", KIND_CANDIDATE, F (candidate), 0, OPTIONAL, OPTIONAL },
  END
};

static const FieldSpec call_answer_fields[] = {
  { "call_log_id", KIND_ID, F (call_log_id), 0, OPTIONAL, OPTIONAL },
  { "to_profile_id", KIND_ID, F (to_profile_id), 0, OPTIONAL, NOT_READ },
  { "to_profile_type", KIND_PROFILE_TYPE, F (to_profile_type), 0, OPTIONAL, NOT_READ },
  { "answer", KIND_ANSWER, F (answer), 0, REQUIRED, REQUIRED },
  END
};

static const FieldSpec call_declined_fields[] = {
  { "call_log_id", KIND_ID, F (call_log_id), 0, REQUIRED, REQUIRED },
  { "reason", KIND_STRING, F (reason), NATTER_MAX_REASON_CHARS, OPTIONAL, OPTIONAL },
  END
};

static const FieldSpec call_cancelled_fields[] = {
  { "call_log_id", KIND_ID, F (call_log_id), 0, NOT_READ, REQUIRED },
  { "reason", KIND_STRING, F (reason), NATTER_MAX_REASON_CHARS, NOT_READ, OPTIONAL },
  END
};

static const FieldSpec call_ended_fields[] = {
  { "call_log_id", KIND_ID, F (call_log_id), 0, REQUIRED, REQUIRED },
  { "reason", KIND_STRING, F (reason), NATTER_MAX_REASON_CHARS, OPTIONAL, OPTIONAL },
  END
};

static const FieldSpec missed_call_fields[] = {
  { "event_id", KIND_ID, F (event_id), 0, NOT_READ, REQUIRED },
  { "call", KIND_CALL_LOG, F (call), 0, NOT_READ, REQUIRED },
  { "count", KIND_ID, F (count), 0, NOT_READ, OPTIONAL },
  END
};

static const FieldSpec call_media_state_fields[] = {
  { "call_log_id", KIND_ID, F (call_log_id), 0, REQUIRED, REQUIRED },
  { "audio_muted", KIND_BOOL, F (audio_muted), 0, REQUIRED, REQUIRED },
  { "video_enabled", KIND_BOOL, F (video_enabled), 0, REQUIRED, REQUIRED },
  END
};

static const FieldSpec call_update_fields[] = {
  { "call_log_id", KIND_ID, F (call_log_id), 0, REQUIRED, REQUIRED },
  { "offer", KIND_OFFER, F (offer), 0, OPTIONAL, OPTIONAL },
  { "answer", KIND_ANSWER, F (answer), 0, OPTIONAL, OPTIONAL },
  END
};

static const FrameSpec frame_specs[NATTER_N_FRAME_TYPES] = {
  [NATTER_FRAME_HELLO] = { "hello", FALSE, TRUE, hello_fields },
  [NATTER_FRAME_SYNC] = { "sync", TRUE, FALSE, sync_fields },
  [NATTER_FRAME_SYNC_DONE] = { "sync_done", FALSE, TRUE, sync_done_fields },
  [NATTER_FRAME_ERROR] = { "error", FALSE, TRUE, error_fields },
  [NATTER_FRAME_CHAT_MESSAGE] = { "chat_message", TRUE, TRUE, chat_message_fields },
  [NATTER_FRAME_MESSAGE_ACK] = { "message_ack", FALSE, TRUE, message_ack_fields },
  [NATTER_FRAME_TYPING] = { "typing", TRUE, TRUE, typing_fields },
  [NATTER_FRAME_MARK_READ] = { "mark_read", TRUE, FALSE, mark_read_fields },
  [NATTER_FRAME_READ_RECEIPT] = { "read_receipt", FALSE, TRUE, read_receipt_fields },
  [NATTER_FRAME_PRESENCE] = { "presence", FALSE, TRUE, presence_fields },
  [NATTER_FRAME_CALL_INVITATION] = { "call_invitation", TRUE, TRUE, call_invitation_fields },
  [NATTER_FRAME_CALL_RINGING] = { "call_ringing", FALSE, TRUE, call_ringing_fields },
  [NATTER_FRAME_CALL_UNAVAILABLE] = { "call_unavailable", FALSE, TRUE, call_unavailable_fields },
  [NATTER_FRAME_ICE_CANDIDATE] = { "ice_candidate", TRUE, TRUE, ice_candidate_fields },
  [NATTER_FRAME_CALL_ANSWER] = { "call_answer", TRUE, TRUE, call_answer_fields },
  [NATTER_FRAME_CALL_DECLINED] = { "call_declined", TRUE, TRUE, call_declined_fields },
  [NATTER_FRAME_CALL_CANCELLED] = { "call_cancelled", FALSE, TRUE, call_cancelled_fields },
  [NATTER_FRAME_CALL_ENDED] = { "call_ended", TRUE, TRUE, call_ended_fields },
  [NATTER_FRAME_MISSED_CALL] = { "missed_call", FALSE, TRUE, missed_call_fields },
  [NATTER_FRAME_CALL_MEDIA_STATE] = { "call_media_state", TRUE, TRUE, call_media_state_fields },
  [NATTER_FRAME_CALL_UPDATE] = { "call_update", TRUE, TRUE, call_update_fields },
};

#undef F
#undef END

static gboolean G_GNUC_PRINTF (4, 5)
  frame_error (GError **error, NatterProtocolError code, const char *name, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);

  if (name != NULL)
    g_set_error (error, NATTER_PROTOCOL_ERROR, code, "%s: %s", name, what);
  else
    g_set_error_literal (error, NATTER_PROTOCOL_ERROR, code, what);
  return FALSE;
}

/**
 * natter_frame_new:
 * @type: the frame type
 *
 * Returns: (transfer full): an empty frame of @type
 */
NatterFrame *
natter_frame_new (NatterFrameType type)
{
  NatterFrame *frame = g_new0 (NatterFrame, 1);

  frame->type = type;
  return frame;
}

/**
 * natter_frame_copy:
 * @frame: a #NatterFrame
 *
 * Returns: (transfer full): a deep copy
 */
NatterFrame *
natter_frame_copy (const NatterFrame *frame)
{
  NatterFrame *copy;

  g_return_val_if_fail (frame != NULL, NULL);

  copy = g_memdup2 (frame, sizeof *frame);

  copy->from_profile_type = g_strdup (frame->from_profile_type);
  copy->from_name = g_strdup (frame->from_name);
  copy->from_avatar = g_strdup (frame->from_avatar);
  copy->server_time = g_strdup (frame->server_time);
  copy->server_epoch = g_strdup (frame->server_epoch);
  copy->profile = frame->profile != NULL ? natter_profile_copy (frame->profile) : NULL;
  copy->client_msg_id = g_strdup (frame->client_msg_id);
  copy->to_profile_type = g_strdup (frame->to_profile_type);
  copy->text = g_strdup (frame->text);
  if (frame->attachment_ids != NULL)
    copy->attachment_ids = g_array_copy (frame->attachment_ids);
  copy->message = frame->message != NULL ? natter_message_copy (frame->message) : NULL;
  copy->last_seen = g_strdup (frame->last_seen);
  copy->client_call_id = g_strdup (frame->client_call_id);
  copy->call_type = g_strdup (frame->call_type);
  copy->offer = frame->offer != NULL ? natter_session_description_copy (frame->offer) : NULL;
  copy->answer = frame->answer != NULL ? natter_session_description_copy (frame->answer) : NULL;
  copy->expires_at = g_strdup (frame->expires_at);
  copy->reason = g_strdup (frame->reason);
  copy->candidate = frame->candidate != NULL ? natter_ice_candidate_copy (frame->candidate) : NULL;
  copy->call = frame->call != NULL ? natter_call_log_copy (frame->call) : NULL;
  copy->code = g_strdup (frame->code);
  copy->error_message = g_strdup (frame->error_message);
  copy->ref = g_strdup (frame->ref);

  return copy;
}

/**
 * natter_frame_free:
 * @frame: (nullable): a #NatterFrame
 */
void
natter_frame_free (NatterFrame *frame)
{
  if (frame == NULL)
    return;

  g_free (frame->from_profile_type);
  g_free (frame->from_name);
  g_free (frame->from_avatar);
  g_free (frame->server_time);
  g_free (frame->server_epoch);
  g_clear_pointer (&frame->profile, natter_profile_free);
  g_free (frame->client_msg_id);
  g_free (frame->to_profile_type);
  g_free (frame->text);
  g_clear_pointer (&frame->attachment_ids, g_array_unref);
  g_clear_pointer (&frame->message, natter_message_free);
  g_free (frame->last_seen);
  g_free (frame->client_call_id);
  g_free (frame->call_type);
  g_clear_pointer (&frame->offer, natter_session_description_free);
  g_clear_pointer (&frame->answer, natter_session_description_free);
  g_free (frame->expires_at);
  g_free (frame->reason);
  g_clear_pointer (&frame->candidate, natter_ice_candidate_free);
  g_clear_pointer (&frame->call, natter_call_log_free);
  g_free (frame->code);
  g_free (frame->error_message);
  g_free (frame->ref);
  g_free (frame);
}

/**
 * natter_frame_type_to_string:
 * @type: a #NatterFrameType
 *
 * Returns: (nullable): the wire name, like "chat_message"; %NULL for
 *   %NATTER_FRAME_UNKNOWN
 */
const char *
natter_frame_type_to_string (NatterFrameType type)
{
  if (type <= NATTER_FRAME_UNKNOWN || type >= NATTER_N_FRAME_TYPES)
    return NULL;

  return frame_specs[type].name;
}

/**
 * natter_frame_type_from_string:
 * @type: (nullable): a wire name, matched case-insensitively
 *
 * Returns: the frame type; "incoming_call" is %NATTER_FRAME_CALL_INVITATION;
 *   %NATTER_FRAME_UNKNOWN for other words
 */
NatterFrameType
natter_frame_type_from_string (const char *type)
{
  if (type == NULL)
    return NATTER_FRAME_UNKNOWN;

  for (guint i = NATTER_FRAME_UNKNOWN + 1; i < NATTER_N_FRAME_TYPES; i++) {
    if (g_ascii_strcasecmp (type, frame_specs[i].name) == 0)
      return (NatterFrameType) i;
  }

  if (g_ascii_strcasecmp (type, "incoming_call") == 0)
    return NATTER_FRAME_CALL_INVITATION;

  return NATTER_FRAME_UNKNOWN;
}

static gboolean
read_candidate (JsonObject *object, NatterIceCandidate **out_candidate, GError **error)
{
  g_autoptr (NatterIceCandidate) candidate = NULL;
  JsonNode *node;
  JsonObject *inner;
  gint64 mline_index = -1;

  if (!natter_read_member (object, NULL, "candidate", NATTER_FIELD_OPTIONAL, &node, error))
    return FALSE;

  /* No candidate at all, null, or an empty or absent candidate string all
   * mean the end of candidates. */
  if (node == NULL)
    return TRUE;

  inner = natter_node_get_object (node, "candidate", error);
  if (inner == NULL)
    return FALSE;

  candidate = natter_ice_candidate_new (NULL, NULL, -1);
  if (!natter_read_string (inner, "candidate", "candidate", NATTER_FIELD_OPTIONAL,
                           NATTER_MAX_CANDIDATE_CHARS, TRUE, &candidate->candidate, error) ||
      !natter_read_string (inner, "candidate", "sdpMid", NATTER_FIELD_OPTIONAL, MAX_SDP_MID_CHARS,
                           TRUE, &candidate->sdp_mid, error) ||
      !natter_read_int (inner, "candidate", "sdpMLineIndex", NATTER_FIELD_OPTIONAL, 0, G_MAXUINT16,
                        &mline_index, error))
    return FALSE;

  candidate->sdp_mline_index = mline_index;

  if (candidate->candidate == NULL || candidate->candidate[0] == '\0')
    return TRUE;

  *out_candidate = g_steal_pointer (&candidate);
  return TRUE;
}

static gboolean
read_attachment_ids (JsonObject *object, const char *name, GArray **out_ids, GError **error)
{
  g_autoptr (GArray) ids = NULL;
  JsonNode *node;
  JsonArray *array;
  guint length;

  if (!natter_read_member (object, NULL, name, NATTER_FIELD_OPTIONAL, &node, error))
    return FALSE;
  if (node == NULL)
    return TRUE;

  if (!JSON_NODE_HOLDS_ARRAY (node))
    return frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, name,
                        "expected an array of attachment ids");

  array = json_node_get_array (node);
  length = json_array_get_length (array);
  if (length > NATTER_MAX_MESSAGE_ATTACHMENTS)
    return frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, name, "more than %d attachments",
                        NATTER_MAX_MESSAGE_ATTACHMENTS);
  if (length == 0)
    return TRUE;

  ids = g_array_sized_new (FALSE, FALSE, sizeof (gint64), length);
  for (guint i = 0; i < length; i++) {
    JsonNode *element = json_array_get_element (array, i);
    gint64 id;

    if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_INT64 ||
        !natter_id_is_valid (id = json_node_get_int (element)))
      return frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, name,
                          "element %u: expected a positive integer", i);

    for (guint j = 0; j < ids->len; j++) {
      if (g_array_index (ids, gint64, j) == id)
        return frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, name,
                            "attachment %" G_GINT64_FORMAT " given twice", id);
    }
    g_array_append_val (ids, id);
  }

  g_clear_pointer (out_ids, g_array_unref);
  *out_ids = g_steal_pointer (&ids);
  return TRUE;
}

static gboolean
read_text (JsonObject *object, const char *name, Presence presence, char **out_text, GError **error)
{
  g_autofree char *raw = NULL;
  g_autofree char *text = NULL;
  glong length;

  /* The raw text is bounded by the frame size; its length is checked after
   * trimming. */
  if (!natter_read_string (object, NULL, name,
                           presence == REQUIRED ? NATTER_FIELD_REQUIRED : NATTER_FIELD_OPTIONAL,
                           NATTER_MAX_FRAME_BYTES, TRUE, &raw, error))
    return FALSE;
  if (raw == NULL)
    return TRUE;

  /* An empty text is refused in check_frame () unless attachments come with
   * it. */
  text = natter_utf8_strip (raw);
  length = g_utf8_strlen (text, -1);

  if (length > NATTER_MAX_CHAT_TEXT_CHARS)
    return frame_error (error, NATTER_PROTOCOL_ERROR_TOO_LONG, name, "longer than %d characters",
                        NATTER_MAX_CHAT_TEXT_CHARS);

  g_free (*out_text);
  *out_text = g_steal_pointer (&text);
  return TRUE;
}

static gboolean
read_field (
  JsonObject *object, const FieldSpec *field, Presence presence, NatterFrame *frame, GError **error)
{
  gpointer member = G_STRUCT_MEMBER_P (frame, field->offset);
  NatterFieldPresence required =
    presence == REQUIRED ? NATTER_FIELD_REQUIRED : NATTER_FIELD_OPTIONAL;

  switch (field->kind) {
    case KIND_ID:
      return natter_read_id (object, NULL, field->name, required, member, error);

    case KIND_COUNT:
      return natter_read_int (object, NULL, field->name, required, 0, NATTER_MAX_ID, member, error);

    case KIND_POSITIVE:
      return natter_read_int (object, NULL, field->name, required, 1, NATTER_MAX_ID, member, error);

    case KIND_BOOL:
      return natter_read_bool (object, NULL, field->name, required, member, error);

    case KIND_STRING:
      return natter_read_string (object, NULL, field->name, required, field->max_chars, TRUE,
                                 member, error);

    case KIND_CLIENT_ID:
      return natter_read_string (object, NULL, field->name, required, NATTER_MAX_CLIENT_ID_CHARS,
                                 FALSE, member, error);

    case KIND_PROFILE_TYPE:
      return natter_read_profile_type (object, NULL, field->name, required, member, error);

    case KIND_CALL_TYPE: {
      g_autofree char *call_type = NULL;

      if (!natter_read_string (object, NULL, field->name, required, 16, FALSE, &call_type, error))
        return FALSE;
      if (call_type == NULL)
        return TRUE;
      if (!natter_call_type_is_valid (call_type))
        return frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, field->name,
                            "expected \"voice\" or \"video\"");
      g_free (*(char **) member);
      *(char **) member = g_steal_pointer (&call_type);
      return TRUE;
    }

    case KIND_TEXT:
      return read_text (object, field->name, presence, member, error);

    case KIND_CANDIDATE:
      return read_candidate (object, member, error);

    case KIND_ATTACHMENT_IDS:
      return read_attachment_ids (object, field->name, member, error);

    case KIND_PROFILE:
    case KIND_MESSAGE:
    case KIND_CALL_LOG:
    case KIND_OFFER:
    case KIND_ANSWER: {
      JsonNode *node;

      if (!natter_read_member (object, NULL, field->name, required, &node, error))
        return FALSE;
      if (node == NULL)
        return TRUE;

      if (field->kind == KIND_PROFILE)
        *(NatterProfile **) member = natter_profile_from_node (node, field->name, error);
      else if (field->kind == KIND_MESSAGE)
        *(NatterMessage **) member = natter_message_from_node (node, field->name, error);
      else if (field->kind == KIND_CALL_LOG)
        *(NatterCallLog **) member = natter_call_log_from_node (node, field->name, error);
      else
        *(NatterSessionDescription **) member = natter_session_description_from_node (
          node, field->name, field->kind == KIND_OFFER ? "offer" : "answer", error);

      return *(gpointer *) member != NULL;
    }

    default:
      g_assert_not_reached ();
  }
}

/* Rules that span several members. */
static gboolean
check_frame (NatterFrame *frame, NatterDirection direction, GError **error)
{
  gboolean has_to_profile;

  if (frame->type == NATTER_FRAME_CALL_UPDATE) {
    if (frame->offer == NULL && frame->answer == NULL)
      return frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, "offer",
                          "missing (call_update needs an offer or an answer)");
    return TRUE;
  }

  if (direction != NATTER_DIRECTION_TO_SERVER)
    return TRUE;

  /* Text may be empty only when attachments carry the message. */
  if (frame->type == NATTER_FRAME_CHAT_MESSAGE && frame->text != NULL && frame->text[0] == '\0' &&
      frame->attachment_ids == NULL)
    return frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, "text", "empty");

  if (frame->type != NATTER_FRAME_CHAT_MESSAGE && frame->type != NATTER_FRAME_ICE_CANDIDATE &&
      frame->type != NATTER_FRAME_CALL_ANSWER)
    return TRUE;

  if (frame->to_profile_id != 0 && frame->to_profile_type == NULL)
    return frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, "to_profile_type",
                        "missing (to_profile_id needs it)");
  if (frame->to_profile_id == 0 && frame->to_profile_type != NULL)
    return frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, "to_profile_id",
                        "missing (to_profile_type needs it)");

  has_to_profile = frame->to_profile_id != 0;

  if (frame->type == NATTER_FRAME_CHAT_MESSAGE) {
    if (frame->conversation_id == 0 && !has_to_profile)
      return frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, "conversation_id",
                          "missing (or to_profile_id and to_profile_type)");
  } else if (frame->call_log_id == 0 && !has_to_profile) {
    return frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, "call_log_id",
                        "missing (or to_profile_id and to_profile_type)");
  }

  return TRUE;
}

static gboolean
read_stamp (JsonObject *object, NatterFrame *frame, GError **error)
{
  if (!natter_read_id (object, NULL, "from_profile_id", NATTER_FIELD_OPTIONAL,
                       &frame->from_profile_id, error) ||
      !natter_read_profile_type (object, NULL, "from_profile_type", NATTER_FIELD_OPTIONAL,
                                 &frame->from_profile_type, error))
    return FALSE;

  if (json_object_has_member (object, "from_name")) {
    if (!natter_read_string (object, NULL, "from_name", NATTER_FIELD_OPTIONAL, MAX_NAME_CHARS, TRUE,
                             &frame->from_name, error))
      return FALSE;
  } else if (!natter_read_string (object, NULL, "caller_name", NATTER_FIELD_OPTIONAL,
                                  MAX_NAME_CHARS, TRUE, &frame->from_name, error)) {
    return FALSE;
  }

  if (json_object_has_member (object, "from_avatar")) {
    if (!natter_read_string (object, NULL, "from_avatar", NATTER_FIELD_OPTIONAL, MAX_URL_CHARS,
                             TRUE, &frame->from_avatar, error))
      return FALSE;
  } else if (!natter_read_string (object, NULL, "caller_avatar", NATTER_FIELD_OPTIONAL,
                                  MAX_URL_CHARS, TRUE, &frame->from_avatar, error)) {
    return FALSE;
  }

  return TRUE;
}

static char *
read_ref (JsonObject *object)
{
  static const char *const names[] = { "client_msg_id", "client_call_id" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    JsonNode *node = json_object_get_member (object, names[i]);
    const char *value;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
        json_node_get_value_type (node) != G_TYPE_STRING)
      continue;

    value = json_node_get_string (node);
    if (value[0] != '\0' && g_utf8_strlen (value, -1) <= NATTER_MAX_CLIENT_ID_CHARS)
      return g_strdup (value);
  }

  return NULL;
}

/**
 * natter_frame_parse:
 * @data: the frame's bytes (not necessarily NUL-terminated)
 * @length: their number
 * @direction: which way the frame travels
 * @out_ref: (out) (optional) (transfer full): on failure, the frame's
 *   client_msg_id or client_call_id if one could be read, for the error
 *   frame's "ref"
 * @error: a #GError
 *
 * Reads and validates one WebSocket frame of PROTOCOL.md.
 *
 * Returns: (transfer full) (nullable): the validated frame
 */
NatterFrame *
natter_frame_parse (
  const char *data, gsize length, NatterDirection direction, char **out_ref, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (NatterFrame) frame = NULL;
  JsonObject *object;
  JsonNode *type_node;
  const char *type_name;
  NatterFrameType type;
  const FrameSpec *spec;

  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (out_ref != NULL)
    *out_ref = NULL;

  if (length > NATTER_MAX_FRAME_BYTES) {
    g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_FRAME_TOO_LARGE,
                 "frame of %" G_GSIZE_FORMAT " bytes is over the limit of %d", length,
                 NATTER_MAX_FRAME_BYTES);
    return NULL;
  }

  root = natter_json_parse (data, length, error);
  if (root == NULL)
    return NULL;

  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, NULL, "a frame must be a JSON object");
    return NULL;
  }
  object = json_node_get_object (root);

  type_node = json_object_get_member (object, "type");
  if (type_node == NULL || !JSON_NODE_HOLDS_VALUE (type_node) ||
      json_node_get_value_type (type_node) != G_TYPE_STRING) {
    frame_error (error, NATTER_PROTOCOL_ERROR_BAD_FRAME, "type",
                 type_node == NULL ? "missing" : "expected a string");
    goto failed;
  }

  type_name = json_node_get_string (type_node);
  type = natter_frame_type_from_string (type_name);
  spec = &frame_specs[type];

  if (type == NATTER_FRAME_UNKNOWN ||
      !(direction == NATTER_DIRECTION_TO_SERVER ? spec->to_server : spec->to_client)) {
    g_autofree char *shown = natter_describe_string (type_name, MAX_SHOWN_TYPE_CHARS);

    if (type == NATTER_FRAME_UNKNOWN)
      frame_error (error, NATTER_PROTOCOL_ERROR_UNKNOWN_TYPE, NULL, "unknown frame type \"%s\"",
                   shown);
    else
      frame_error (error, NATTER_PROTOCOL_ERROR_UNKNOWN_TYPE, NULL,
                   "frame type \"%s\" is not sent to the %s", shown,
                   direction == NATTER_DIRECTION_TO_SERVER ? "server" : "client");
    goto failed;
  }

  frame = natter_frame_new (type);

  for (const FieldSpec *field = spec->fields; field->name != NULL; field++) {
    Presence presence =
      direction == NATTER_DIRECTION_TO_SERVER ? field->to_server : field->to_client;

    if (presence == NOT_READ)
      continue;

    if (!read_field (object, field, presence, frame, error))
      goto failed;
  }

  /* Only the server stamps who a frame is from. */
  if (direction == NATTER_DIRECTION_TO_CLIENT && !read_stamp (object, frame, error))
    goto failed;

  if (!check_frame (frame, direction, error))
    goto failed;

  return g_steal_pointer (&frame);

failed:
  if (out_ref != NULL)
    *out_ref = read_ref (object);
  return NULL;
}

static void
write_field (JsonObject *object, const FieldSpec *field, const NatterFrame *frame)
{
  gconstpointer member = G_STRUCT_MEMBER_P (frame, field->offset);

  switch (field->kind) {
    case KIND_ID:
      if (*(const gint64 *) member != 0)
        json_object_set_int_member (object, field->name, *(const gint64 *) member);
      break;

    case KIND_COUNT:
    case KIND_POSITIVE:
      json_object_set_int_member (object, field->name, *(const gint64 *) member);
      break;

    case KIND_BOOL:
      json_object_set_boolean_member (object, field->name, *(const gboolean *) member);
      break;

    case KIND_STRING:
    case KIND_CLIENT_ID:
    case KIND_PROFILE_TYPE:
    case KIND_CALL_TYPE:
    case KIND_TEXT:
      if (*(char *const *) member != NULL)
        json_object_set_string_member (object, field->name, *(char *const *) member);
      break;

    case KIND_PROFILE:
      if (*(NatterProfile *const *) member != NULL)
        json_object_set_member (object, field->name,
                                natter_profile_to_node (*(NatterProfile *const *) member));
      break;

    case KIND_MESSAGE:
      if (*(NatterMessage *const *) member != NULL)
        json_object_set_member (object, field->name,
                                natter_message_to_node (*(NatterMessage *const *) member));
      break;

    case KIND_CALL_LOG:
      if (*(NatterCallLog *const *) member != NULL)
        json_object_set_member (object, field->name,
                                natter_call_log_to_node (*(NatterCallLog *const *) member));
      break;

    case KIND_OFFER:
    case KIND_ANSWER:
      if (*(NatterSessionDescription *const *) member != NULL)
        json_object_set_member (
          object, field->name,
          natter_session_description_to_node (*(NatterSessionDescription *const *) member));
      break;

    case KIND_CANDIDATE:
      json_object_set_member (object, field->name,
                              natter_ice_candidate_to_node (*(NatterIceCandidate *const *) member));
      break;

    case KIND_ATTACHMENT_IDS: {
      GArray *ids = *(GArray *const *) member;
      JsonArray *array;

      if (ids == NULL || ids->len == 0)
        break;
      array = json_array_sized_new (ids->len);
      for (guint i = 0; i < ids->len; i++)
        json_array_add_int_element (array, g_array_index (ids, gint64, i));
      json_object_set_array_member (object, field->name, array);
      break;
    }

    default:
      g_assert_not_reached ();
  }
}

/* With @message_placeholder, a KIND_MESSAGE member is written as the string
 * "\001", for natter_frame_to_json_with_message () to replace. */
static JsonNode *
frame_to_node (const NatterFrame *frame, gboolean message_placeholder)
{
  g_autoptr (JsonObject) object = NULL;
  const FrameSpec *spec;

  spec = &frame_specs[frame->type];
  object = json_object_new ();
  json_object_set_string_member (object, "type", spec->name);

  for (const FieldSpec *field = spec->fields; field->name != NULL; field++) {
    if (message_placeholder && field->kind == KIND_MESSAGE)
      json_object_set_string_member (object, field->name, "\001");
    else
      write_field (object, field, frame);
  }

  if (frame->from_profile_id != 0)
    json_object_set_int_member (object, "from_profile_id", frame->from_profile_id);
  if (frame->from_profile_type != NULL)
    json_object_set_string_member (object, "from_profile_type", frame->from_profile_type);
  if (frame->from_name != NULL)
    json_object_set_string_member (object, "from_name", frame->from_name);
  if (frame->from_avatar != NULL)
    json_object_set_string_member (object, "from_avatar", frame->from_avatar);

  return json_node_init_object (json_node_alloc (), object);
}

/**
 * natter_frame_to_node:
 * @frame: a #NatterFrame
 *
 * Writes the members of @frame's type, "type" first: ids only when non-zero,
 * optional strings and objects only when set, the from_* stamp when set.
 *
 * Returns: (transfer full): the frame as a JSON object
 */
JsonNode *
natter_frame_to_node (const NatterFrame *frame)
{
  g_return_val_if_fail (frame != NULL, NULL);
  g_return_val_if_fail (frame->type > NATTER_FRAME_UNKNOWN && frame->type < NATTER_N_FRAME_TYPES,
                        NULL);

  return frame_to_node (frame, FALSE);
}

/**
 * natter_frame_to_json:
 * @frame: a #NatterFrame
 * @out_length: (out) (optional): the length of the result in bytes
 *
 * Returns: (transfer full): the frame as compact JSON text, NUL-terminated
 */
char *
natter_frame_to_json (const NatterFrame *frame, gsize *out_length)
{
  g_autoptr (JsonNode) node = NULL;

  g_return_val_if_fail (frame != NULL, NULL);

  node = natter_frame_to_node (frame);
  g_return_val_if_fail (node != NULL, NULL);

  return natter_json_to_string (node, out_length);
}

/**
 * natter_frame_to_json_with_message:
 * @frame: a frame with a message member (chat_message, message_ack), its
 *   message left NULL
 * @message_json: that message, serialized once (natter_message_to_json ())
 * @out_length: (out) (optional): the length of the result in bytes
 *
 * The text natter_frame_to_json () writes for @frame with its message set,
 * byte for byte, without building or writing the message again: one
 * message goes out as each participant's event and as the sender's ack.
 *
 * Returns: (transfer full): the frame as compact JSON text, NUL-terminated
 */
char *
natter_frame_to_json_with_message (const NatterFrame *frame,
                                   const char *message_json,
                                   gsize *out_length)
{
  /* Bare quotes: inside a written string every quote is escaped, so this
   * matches only the member itself. */
  static const char placeholder[] = "\"message\":\"\\u0001\"";
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *text = NULL;
  const char *at;
  GString *out;

  g_return_val_if_fail (frame != NULL, NULL);
  g_return_val_if_fail (frame->type > NATTER_FRAME_UNKNOWN && frame->type < NATTER_N_FRAME_TYPES,
                        NULL);
  g_return_val_if_fail (frame->message == NULL, NULL);
  g_return_val_if_fail (message_json != NULL, NULL);

  node = frame_to_node (frame, TRUE);
  text = natter_json_to_string (node, NULL);
  at = strstr (text, placeholder);
  g_return_val_if_fail (at != NULL, NULL);

  out = g_string_sized_new (strlen (text) + strlen (message_json));
  g_string_append_len (out, text, at - text);
  g_string_append (out, "\"message\":");
  g_string_append (out, message_json);
  g_string_append (out, at + strlen (placeholder));
  if (out_length != NULL)
    *out_length = out->len;

  return g_string_free (out, FALSE);
}

/**
 * natter_message_to_json:
 * @message: a #NatterMessage
 *
 * Returns: (transfer full): @message as compact JSON text, as it appears in
 *   frames
 */
char *
natter_message_to_json (const NatterMessage *message)
{
  g_autoptr (JsonNode) node = NULL;

  g_return_val_if_fail (message != NULL, NULL);

  node = natter_message_to_node (message);
  return natter_json_to_string (node, NULL);
}

/**
 * natter_frame_new_error:
 * @error: a #GError, normally in %NATTER_PROTOCOL_ERROR
 * @ref: (nullable): the client_msg_id or client_call_id the error is about
 *
 * Returns: (transfer full): an error frame: {"type":"error","code","message",
 *   "ref"}; errors of other domains get the code "internal"
 */
NatterFrame *
natter_frame_new_error (const GError *error, const char *ref)
{
  NatterFrame *frame;

  g_return_val_if_fail (error != NULL, NULL);

  frame = natter_frame_new (NATTER_FRAME_ERROR);
  if (error->domain == NATTER_PROTOCOL_ERROR)
    frame->code = g_strdup (natter_protocol_error_to_code ((NatterProtocolError) error->code));
  else
    frame->code = g_strdup ("internal");
  frame->error_message = g_strdup (error->message);
  frame->ref = g_strdup (ref);

  return frame;
}
