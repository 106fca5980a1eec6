/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-protocol-bad-input"

#include "config.h"

#include <string.h>

#include "natter-frame.h"

#define SERVER NATTER_DIRECTION_TO_SERVER
#define CLIENT NATTER_DIRECTION_TO_CLIENT

#define BAD_JSON NATTER_PROTOCOL_ERROR_BAD_JSON
#define BAD_FRAME NATTER_PROTOCOL_ERROR_BAD_FRAME
#define UNKNOWN_TYPE NATTER_PROTOCOL_ERROR_UNKNOWN_TYPE
#define TOO_LONG NATTER_PROTOCOL_ERROR_TOO_LONG
#define TOO_LARGE NATTER_PROTOCOL_ERROR_FRAME_TOO_LARGE

#define OFFER "{\"type\":\"offer\",\"sdp\":\"v=0\"}"
#define PROFILE "{\"profile_id\":1,\"profile_type\":\"tutor\"}"
#define MESSAGE_WITH(field)                                               \
  "{\"message_id\":1,\"conversation_id\":7,\"seq\":1,\"sender\":" PROFILE \
  ",\"text\":\"x\",\"sent_at\":\"t\"," field "}"
#define CALL_LOG_WITH(field)                                       \
  "{\"call_log_id\":55,\"caller\":" PROFILE ",\"callee\":" PROFILE \
  ",\"call_type\":\"voice\",\"started_at\":\"t\"," field "}"
#define INVITATION_WITH(fields)                                                   \
  "{\"type\":\"call_invitation\",\"client_call_id\":\"k-1\",\"to_profile_id\":2," \
  "\"to_profile_type\":\"student\"," fields "}"

/* Shows the whole message when the expected part is not in it. */
#define assert_contains(haystack, needle)         \
  G_STMT_START                                    \
  {                                               \
    if (strstr ((haystack), (needle)) == NULL)    \
      g_assert_cmpstr ((haystack), ==, (needle)); \
  }                                               \
  G_STMT_END

typedef struct {
  const char *name;
  NatterDirection direction;
  const char *input;
  gssize length; /* -1: strlen */
  NatterProtocolError code;
  const char *message; /* a substring of the error message */
  const char *ref;     /* the expected *out_ref, or NULL */
} BadCase;

static const BadCase bad_cases[] = {
  /* not JSON at all */
  { "empty", SERVER, "", 0, BAD_JSON, "empty input", NULL },
  { "whitespace-only", SERVER, "   ", -1, BAD_JSON, "unexpected end of input", NULL },
  { "bom", SERVER, "\xEF\xBB\xBF{\"type\":\"sync\",\"after_event_id\":1}", -1, BAD_JSON,
    "byte order mark", NULL },
  { "invalid-utf8-in-string", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c\",\"conversation_id\":7,\"text\":\"\xFF\"}",
    -1, BAD_JSON, "byte 71: invalid UTF-8", NULL },
  { "invalid-utf8-in-key", SERVER, "{\"\xC3\":1}", -1, BAD_JSON, "invalid UTF-8", NULL },
  { "nul-byte", SERVER, "{\"type\":\"sync\"\0}", 16, BAD_JSON, "NUL byte", NULL },
  { "truncated", SERVER, "{\"type\":\"sync\",\"after_event_id\":", -1, BAD_JSON,
    "unexpected end of input", NULL },
  { "trailing-garbage", SERVER, "{\"type\":\"sync\",\"after_event_id\":1}}", -1, BAD_JSON,
    "trailing characters", NULL },
  { "two-frames", SERVER, "{\"type\":\"sync\",\"after_event_id\":1}{}", -1, BAD_JSON,
    "trailing characters", NULL },
  { "duplicate-type", SERVER, "{\"type\":\"sync\",\"type\":\"hello\",\"after_event_id\":1}", -1,
    BAD_JSON, "duplicate key \"type\"", NULL },
  { "duplicate-id", SERVER, "{\"type\":\"call_ended\",\"call_log_id\":1,\"call_log_id\":2}", -1,
    BAD_JSON, "duplicate key \"call_log_id\"", NULL },
  { "duplicate-nested", CLIENT,
    "{\"type\":\"presence\",\"online\":true,\"profile\":{\"profile_id\":1,\"profile_id\":2}}", -1,
    BAD_JSON, "duplicate key \"profile_id\"", NULL },
  { "deep-nesting", SERVER, "{\"type\":\"sync\",\"x\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}",
    -1, BAD_JSON, "nesting deeper than 16", NULL },
  { "nested-garbage", SERVER, "{\"type\":\"sync\",\"x\":{\"a\":[1,{\"b\":tru}]}}", -1, BAD_JSON,
    "unexpected character 't'", NULL },
  { "number-too-large", SERVER, "{\"type\":\"sync\",\"after_event_id\":9007199254740992}", -1,
    BAD_JSON, "integer out of range", NULL },
  { "number-huge", SERVER, "{\"type\":\"call_ended\",\"call_log_id\":99999999999999999999999}", -1,
    BAD_JSON, "integer out of range", NULL },
  { "number-infinite", SERVER, "{\"type\":\"call_ended\",\"call_log_id\":1e400}", -1, BAD_JSON,
    "number out of range", NULL },
  { "lone-surrogate", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c\",\"conversation_id\":7,\"text\":"
    "\"\\ud800\"}",
    -1, BAD_JSON, "lone high surrogate", NULL },
  { "escaped-nul-in-text", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c\",\"conversation_id\":7,\"text\":"
    "\"a\\u0000\"}",
    -1, BAD_JSON, "\\u0000 in string", NULL },
  { "raw-control-in-text", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c\",\"conversation_id\":7,\"text\":\"a\x01\"}",
    -1, BAD_JSON, "control character 0x01", NULL },
  /* not a frame */
  { "array", SERVER, "[{\"type\":\"sync\"}]", -1, BAD_FRAME, "a frame must be a JSON object",
    NULL },
  { "string", SERVER, "\"sync\"", -1, BAD_FRAME, "a frame must be a JSON object", NULL },
  { "number", SERVER, "42", -1, BAD_FRAME, "a frame must be a JSON object", NULL },
  { "null", SERVER, "null", -1, BAD_FRAME, "a frame must be a JSON object", NULL },
  { "missing-type", SERVER, "{\"after_event_id\":1}", -1, BAD_FRAME, "type: missing", NULL },
  { "type-number", SERVER, "{\"type\":5}", -1, BAD_FRAME, "type: expected a string", NULL },
  { "type-null", SERVER, "{\"type\":null}", -1, BAD_FRAME, "type: expected a string", NULL },
  { "type-object", SERVER, "{\"type\":{\"name\":\"sync\"}}", -1, BAD_FRAME,
    "type: expected a string", NULL },
  { "unknown-type", SERVER, "{\"type\":\"teleport\"}", -1, UNKNOWN_TYPE,
    "unknown frame type \"teleport\"", NULL },
  { "unknown-type-truncated", SERVER,
    "{\"type\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", -1,
    UNKNOWN_TYPE, "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…\"", NULL },
  { "unknown-type-sanitized", SERVER, "{\"type\":\"a\\\"b\\nc\"}", -1, UNKNOWN_TYPE,
    "unknown frame type \"a?b?c\"", NULL },
  { "empty-type", SERVER, "{\"type\":\"\"}", -1, UNKNOWN_TYPE, "unknown frame type \"\"", NULL },
  { "unknown-type-keeps-ref", SERVER, "{\"type\":\"chat\",\"client_msg_id\":\"c-5\"}", -1,
    UNKNOWN_TYPE, "unknown frame type \"chat\"", "c-5" },
  { "server-only-type-to-server", SERVER,
    "{\"type\":\"hello\",\"protocol\":1,\"profile\":" PROFILE
    ",\"last_event_id\":0,\"heartbeat_s\":30,\"server_time\":\"t\"}",
    -1, UNKNOWN_TYPE, "\"hello\" is not sent to the server", NULL },
  { "client-only-type-to-client", CLIENT, "{\"type\":\"sync\",\"after_event_id\":1}", -1,
    UNKNOWN_TYPE, "\"sync\" is not sent to the client", NULL },
  /* chat_message to the server */
  { "chat/missing-client-msg-id", SERVER,
    "{\"type\":\"chat_message\",\"conversation_id\":7,\"text\":\"hi\"}", -1, BAD_FRAME,
    "client_msg_id: missing", NULL },
  { "chat/client-msg-id-number", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":7,\"conversation_id\":7,\"text\":\"hi\"}", -1,
    BAD_FRAME, "client_msg_id: expected a string", NULL },
  { "chat/client-msg-id-empty", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"\",\"conversation_id\":7,\"text\":\"hi\"}", -1,
    BAD_FRAME, "client_msg_id: empty", NULL },
  { "chat/client-msg-id-too-long", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"1234567890123456789012345678901234567890123"
    "4567890123456789012345678901234567890123456789012345678901234567890123456789012345678901"
    "23456789\",\"conversation_id\":7,\"text\":\"hi\"}",
    -1, BAD_FRAME, "client_msg_id: longer than 128 characters", NULL },
  { "chat/missing-text", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7}", -1, BAD_FRAME,
    "text: missing", "c-1" },
  { "chat/text-null", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7,\"text\":null}", -1,
    BAD_FRAME, "text: must not be null", "c-1" },
  { "chat/text-array", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7,\"text\":[\"a\"]}",
    -1, BAD_FRAME, "text: expected a string", "c-1" },
  { "chat/text-empty", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7,\"text\":\"\"}", -1,
    BAD_FRAME, "text: empty", "c-1" },
  { "chat/text-only-spaces", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7,\"text\":\" "
    "\\t\\n\\u3000\\u00a0 \"}",
    -1, BAD_FRAME, "text: empty", "c-1" },
  { "chat/conversation-id-zero", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":0,\"text\":\"hi\"}",
    -1, BAD_FRAME, "conversation_id: expected a positive integer", "c-1" },
  { "chat/conversation-id-negative", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":-7,\"text\":\"hi\"}",
    -1, BAD_FRAME, "conversation_id: expected a positive integer", "c-1" },
  { "chat/conversation-id-string", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":\"7\",\"text\":"
    "\"hi\"}",
    -1, BAD_FRAME, "conversation_id: expected a positive integer", "c-1" },
  { "chat/conversation-id-fraction", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7.5,\"text\":"
    "\"hi\"}",
    -1, BAD_FRAME, "conversation_id: expected a positive integer", "c-1" },
  { "chat/conversation-id-bool", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":true,\"text\":"
    "\"hi\"}",
    -1, BAD_FRAME, "conversation_id: expected a positive integer", "c-1" },
  { "chat/no-recipient", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"text\":\"hi\"}", -1, BAD_FRAME,
    "conversation_id: missing (or to_profile_id and to_profile_type)", "c-1" },
  { "chat/to-profile-without-type", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"to_profile_id\":2,\"text\":\"hi\"}", -1,
    BAD_FRAME, "to_profile_type: missing", "c-1" },
  { "chat/to-type-without-id", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"to_profile_type\":\"tutor\",\"text\":"
    "\"hi\"}",
    -1, BAD_FRAME, "to_profile_id: missing", "c-1" },
  { "chat/bad-profile-type", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"to_profile_id\":2,\"to_profile_type\":"
    "\"tu tor\",\"text\":\"hi\"}",
    -1, BAD_FRAME, "to_profile_type: profile type may hold only", "c-1" },
  { "chat/profile-type-digit-first", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"to_profile_id\":2,\"to_profile_type\":"
    "\"1tutor\",\"text\":\"hi\"}",
    -1, BAD_FRAME, "to_profile_type: profile type must start with a letter", "c-1" },
  { "chat/profile-type-too-long", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"to_profile_id\":2,\"to_profile_type\":"
    "\"abcdefghijabcdefghijabcdefghijabc\",\"text\":\"hi\"}",
    -1, BAD_FRAME, "to_profile_type: profile type longer than 32", "c-1" },
  { "chat/to-profile-id-too-big", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"to_profile_id\":9007199254740992,"
    "\"to_profile_type\":\"tutor\",\"text\":\"hi\"}",
    -1, BAD_JSON, "integer out of range", NULL },
  { "chat/attachments-not-array", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7,\"text\":\"\","
    "\"attachments\":31}",
    -1, BAD_FRAME, "attachments: expected an array of attachment ids", "c-1" },
  { "chat/attachments-eleven", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7,\"text\":\"\","
    "\"attachments\":[1,2,3,4,5,6,7,8,9,10,11]}",
    -1, BAD_FRAME, "attachments: more than 10 attachments", "c-1" },
  { "chat/attachments-string-id", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7,\"text\":\"\","
    "\"attachments\":[\"31\"]}",
    -1, BAD_FRAME, "attachments: element 0: expected a positive integer", "c-1" },
  { "chat/attachments-zero-id", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7,\"text\":\"\","
    "\"attachments\":[4,0]}",
    -1, BAD_FRAME, "attachments: element 1: expected a positive integer", "c-1" },
  { "chat/attachments-repeated", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7,\"text\":\"\","
    "\"attachments\":[4,4]}",
    -1, BAD_FRAME, "attachments: attachment 4 given twice", "c-1" },
  { "chat/attachments-empty-and-no-text", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7,\"text\":\"\","
    "\"attachments\":[]}",
    -1, BAD_FRAME, "text: empty", "c-1" },
  { "chat-to-client/attachment-bad-sha", CLIENT,
    "{\"type\":\"chat_message\",\"event_id\":1,\"message\":{\"message_id\":1,\"conversation_id\":7,"
    "\"seq\":1,\"sender\":{\"profile_id\":1,\"profile_type\":\"tutor\"},\"text\":\"\","
    "\"sent_at\":\"t\",\"attachments\":[{\"attachment_id\":3,\"name\":\"a.pdf\","
    "\"content_type\":\"application/pdf\",\"size\":1,\"sha256\":\"abc\"}]}}",
    -1, BAD_FRAME, "message.attachments[0].sha256: expected 64 lowercase hex digits", NULL },
  { "chat-to-client/attachment-path-name", CLIENT,
    "{\"type\":\"chat_message\",\"event_id\":1,\"message\":{\"message_id\":1,\"conversation_id\":7,"
    "\"seq\":1,\"sender\":{\"profile_id\":1,\"profile_type\":\"tutor\"},\"text\":\"\","
    "\"sent_at\":\"t\",\"attachments\":[{\"attachment_id\":3,\"name\":\"../a.pdf\","
    "\"content_type\":\"application/pdf\",\"size\":1,\"sha256\":"
    "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}]}}",
    -1, BAD_FRAME, "message.attachments[0].name: not a file name", NULL },
  { "chat-to-client/attachment-negative-width", CLIENT,
    "{\"type\":\"chat_message\",\"event_id\":1,\"message\":{\"message_id\":1,\"conversation_id\":7,"
    "\"seq\":1,\"sender\":{\"profile_id\":1,\"profile_type\":\"tutor\"},\"text\":\"\","
    "\"sent_at\":\"t\",\"attachments\":[{\"attachment_id\":3,\"name\":\"a.png\","
    "\"content_type\":\"image/png\",\"size\":1,\"width\":-4,\"sha256\":"
    "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}]}}",
    -1, BAD_FRAME, "message.attachments[0].width: expected a positive integer", NULL },
  /* typing, mark_read, sync */
  { "typing/active-string", SERVER,
    "{\"type\":\"typing\",\"conversation_id\":7,\"active\":\"yes\"}", -1, BAD_FRAME,
    "active: expected true or false", NULL },
  { "typing/active-number", SERVER, "{\"type\":\"typing\",\"conversation_id\":7,\"active\":1}", -1,
    BAD_FRAME, "active: expected true or false", NULL },
  { "typing/missing-conversation", SERVER, "{\"type\":\"typing\",\"active\":true}", -1, BAD_FRAME,
    "conversation_id: missing", NULL },
  { "mark_read/negative-seq", SERVER,
    "{\"type\":\"mark_read\",\"conversation_id\":7,\"up_to_seq\":-1}", -1, BAD_FRAME,
    "up_to_seq: expected a non-negative integer", NULL },
  { "mark_read/missing-seq", SERVER, "{\"type\":\"mark_read\",\"conversation_id\":7}", -1,
    BAD_FRAME, "up_to_seq: missing", NULL },
  { "sync/missing-after", SERVER, "{\"type\":\"sync\"}", -1, BAD_FRAME, "after_event_id: missing",
    NULL },
  { "sync/after-string", SERVER, "{\"type\":\"sync\",\"after_event_id\":\"12\"}", -1, BAD_FRAME,
    "after_event_id: expected a non-negative integer", NULL },
  /* calls to the server */
  { "invitation/missing-client-call-id", SERVER,
    "{\"type\":\"call_invitation\",\"to_profile_id\":2,\"to_profile_type\":\"student\","
    "\"call_type\":\"video\",\"offer\":" OFFER "}",
    -1, BAD_FRAME, "client_call_id: missing", NULL },
  { "invitation/bad-call-type", SERVER,
    INVITATION_WITH ("\"call_type\":\"hologram\",\"offer\":" OFFER), -1, BAD_FRAME,
    "call_type: expected \"voice\" or \"video\"", "k-1" },
  { "invitation/call-type-number", SERVER, INVITATION_WITH ("\"call_type\":1,\"offer\":" OFFER), -1,
    BAD_FRAME, "call_type: expected a string", "k-1" },
  { "invitation/missing-offer", SERVER, INVITATION_WITH ("\"call_type\":\"voice\""), -1, BAD_FRAME,
    "offer: missing", "k-1" },
  { "invitation/offer-string", SERVER,
    INVITATION_WITH ("\"call_type\":\"voice\",\"offer\":\"v=0\""), -1, BAD_FRAME,
    "offer: expected an object", "k-1" },
  { "invitation/offer-is-answer", SERVER,
    INVITATION_WITH ("\"call_type\":\"voice\",\"offer\":{\"type\":\"answer\",\"sdp\":\"v=0\"}"), -1,
    BAD_FRAME, "offer.type: expected \"offer\"", "k-1" },
  { "invitation/offer-empty-sdp", SERVER,
    INVITATION_WITH ("\"call_type\":\"voice\",\"offer\":{\"type\":\"offer\",\"sdp\":\"\"}"), -1,
    BAD_FRAME, "offer.sdp: empty", "k-1" },
  { "invitation/offer-sdp-number", SERVER,
    INVITATION_WITH ("\"call_type\":\"voice\",\"offer\":{\"type\":\"offer\",\"sdp\":0}"), -1,
    BAD_FRAME, "offer.sdp: expected a string", "k-1" },
  { "invitation/offer-missing-sdp", SERVER,
    INVITATION_WITH ("\"call_type\":\"voice\",\"offer\":{\"type\":\"offer\"}"), -1, BAD_FRAME,
    "offer.sdp: missing", "k-1" },
  { "invitation/conversation-id-zero", SERVER,
    INVITATION_WITH ("\"call_type\":\"voice\",\"conversation_id\":0,\"offer\":" OFFER), -1,
    BAD_FRAME, "conversation_id: expected a positive integer", "k-1" },
  { "invitation/missing-to-profile", SERVER,
    "{\"type\":\"call_invitation\",\"client_call_id\":\"k-2\",\"call_type\":\"video\","
    "\"offer\":" OFFER "}",
    -1, BAD_FRAME, "to_profile_id: missing", "k-2" },
  { "ice/no-route", SERVER, "{\"type\":\"ice_candidate\",\"candidate\":null}", -1, BAD_FRAME,
    "call_log_id: missing (or to_profile_id and to_profile_type)", NULL },
  { "ice/candidate-number", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":5,\"candidate\":5}", -1, BAD_FRAME,
    "candidate: expected an object", NULL },
  { "ice/candidate-string-number", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":5,\"candidate\":{\"candidate\":5}}", -1, BAD_FRAME,
    "candidate.candidate: expected a string", NULL },
  { "ice/mid-number", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":5,\"candidate\":{\"candidate\":\"c\","
    "\"sdpMid\":0}}",
    -1, BAD_FRAME, "candidate.sdpMid: expected a string", NULL },
  { "ice/mline-negative", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":5,\"candidate\":{\"candidate\":\"c\","
    "\"sdpMLineIndex\":-1}}",
    -1, BAD_FRAME, "candidate.sdpMLineIndex: expected a non-negative integer", NULL },
  { "ice/mline-too-big", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":5,\"candidate\":{\"candidate\":\"c\","
    "\"sdpMLineIndex\":65536}}",
    -1, BAD_FRAME, "candidate.sdpMLineIndex: expected an integer in 0..65535", NULL },
  { "ice/mline-string", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":5,\"candidate\":{\"candidate\":\"c\","
    "\"sdpMLineIndex\":\"0\"}}",
    -1, BAD_FRAME, "candidate.sdpMLineIndex: expected a non-negative integer", NULL },
  { "ice/call-log-id-zero", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":0,\"candidate\":null}", -1, BAD_FRAME,
    "call_log_id: expected a positive integer", NULL },
  { "answer/missing", SERVER, "{\"type\":\"call_answer\",\"call_log_id\":55}", -1, BAD_FRAME,
    "answer: missing", NULL },
  { "answer/is-offer", SERVER, "{\"type\":\"call_answer\",\"call_log_id\":55,\"answer\":" OFFER "}",
    -1, BAD_FRAME, "answer.type: expected \"answer\"", NULL },
  { "answer/no-route", SERVER,
    "{\"type\":\"call_answer\",\"answer\":{\"type\":\"answer\",\"sdp\":\"v=0\"}}", -1, BAD_FRAME,
    "call_log_id: missing", NULL },
  { "declined/reason-number", SERVER,
    "{\"type\":\"call_declined\",\"call_log_id\":55,\"reason\":404}", -1, BAD_FRAME,
    "reason: expected a string", NULL },
  { "declined/reason-too-long", SERVER,
    "{\"type\":\"call_declined\",\"call_log_id\":55,\"reason\":\"abcdefghijabcdefghijabcdefghija"
    "bcdefghijabcdefghijabcdefghijabcde\"}",
    -1, BAD_FRAME, "reason: longer than 64 characters", NULL },
  { "ended/missing-call-log-id", SERVER, "{\"type\":\"call_ended\"}", -1, BAD_FRAME,
    "call_log_id: missing", NULL },
  { "media-state/muted-null", SERVER,
    "{\"type\":\"call_media_state\",\"call_log_id\":55,\"audio_muted\":null,\"video_enabled\":"
    "true}",
    -1, BAD_FRAME, "audio_muted: must not be null", NULL },
  { "media-state/missing-video", SERVER,
    "{\"type\":\"call_media_state\",\"call_log_id\":55,\"audio_muted\":false}", -1, BAD_FRAME,
    "video_enabled: missing", NULL },
  { "update/neither", SERVER, "{\"type\":\"call_update\",\"call_log_id\":55}", -1, BAD_FRAME,
    "offer: missing (call_update needs an offer or an answer)", NULL },
  /* frames to the client */
  { "hello/profile-missing-id", CLIENT,
    "{\"type\":\"hello\",\"protocol\":1,\"profile\":{\"profile_type\":\"tutor\"},"
    "\"last_event_id\":0,\"heartbeat_s\":30,\"server_time\":\"t\"}",
    -1, BAD_FRAME, "profile.profile_id: missing", NULL },
  { "hello/protocol-zero", CLIENT,
    "{\"type\":\"hello\",\"protocol\":0,\"profile\":" PROFILE
    ",\"last_event_id\":0,\"heartbeat_s\":30,\"server_time\":\"t\"}",
    -1, BAD_FRAME, "protocol: expected a positive integer", NULL },
  { "chat-to-client/missing-event-id", CLIENT,
    "{\"type\":\"chat_message\",\"message\":" MESSAGE_WITH ("\"client_msg_id\":\"c\"") "}", -1,
    BAD_FRAME, "event_id: missing", NULL },
  { "chat-to-client/sender-id-string", CLIENT,
    "{\"type\":\"chat_message\",\"event_id\":1,\"message\":{\"message_id\":1,\"conversation_id\":"
    "7,\"seq\":1,\"sender\":{\"profile_id\":\"1\",\"profile_type\":\"tutor\"},\"text\":\"x\","
    "\"sent_at\":\"t\"}}",
    -1, BAD_FRAME, "message.sender.profile_id: expected a positive integer", NULL },
  { "chat-to-client/sender-bad-type", CLIENT,
    "{\"type\":\"chat_message\",\"event_id\":1,\"message\":{\"message_id\":1,\"conversation_id\":"
    "7,\"seq\":1,\"sender\":{\"profile_id\":1,\"profile_type\":\"\"},\"text\":\"x\","
    "\"sent_at\":\"t\"}}",
    -1, BAD_FRAME, "message.sender.profile_type: empty profile type", NULL },
  { "chat-to-client/time-number", CLIENT,
    "{\"type\":\"chat_message\",\"event_id\":1,\"message\":{\"message_id\":1,\"conversation_id\":"
    "7,\"seq\":1,\"sender\":" PROFILE ",\"text\":\"x\",\"sent_at\":1700000000}}",
    -1, BAD_FRAME, "message.sent_at: expected a string", NULL },
  { "chat-to-client/client-msg-id-object", CLIENT,
    "{\"type\":\"chat_message\",\"event_id\":1,\"message\":" MESSAGE_WITH (
      "\"client_msg_id\":{}") "}",
    -1, BAD_FRAME, "message.client_msg_id: expected a string", NULL },
  { "presence/online-missing", CLIENT, "{\"type\":\"presence\",\"profile\":" PROFILE "}", -1,
    BAD_FRAME, "online: missing", NULL },
  { "missed-call/bad-status", CLIENT,
    "{\"type\":\"missed_call\",\"event_id\":3,\"call\":" CALL_LOG_WITH ("\"status\":\"lost\"") "}",
    -1, BAD_FRAME, "call.status: expected a call status", NULL },
  { "missed-call/duration-negative", CLIENT,
    "{\"type\":\"missed_call\",\"event_id\":3,\"call\":" CALL_LOG_WITH (
      "\"status\":\"missed\",\"duration_s\":-5") "}",
    -1, BAD_FRAME, "call.duration_s: expected a non-negative integer", NULL },
  { "missed-call/answered-at-number", CLIENT,
    "{\"type\":\"missed_call\",\"event_id\":3,\"call\":" CALL_LOG_WITH (
      "\"status\":\"missed\",\"answered_at\":0") "}",
    -1, BAD_FRAME, "call.answered_at: expected a string", NULL },
  { "missed-call/callee-not-object", CLIENT,
    "{\"type\":\"missed_call\",\"event_id\":3,\"call\":{\"call_log_id\":55,\"caller\":" PROFILE
    ",\"callee\":[],\"call_type\":\"voice\",\"status\":\"missed\",\"started_at\":\"t\"}}",
    -1, BAD_FRAME, "call.callee: expected an object", NULL },
  { "invitation-to-client/from-id-string", CLIENT,
    "{\"type\":\"call_invitation\",\"call_log_id\":55,\"call_type\":\"voice\",\"offer\":" OFFER
    ",\"from_profile_id\":\"1\"}",
    -1, BAD_FRAME, "from_profile_id: expected a positive integer", NULL },
  { "invitation-to-client/caller-name-number", CLIENT,
    "{\"type\":\"incoming_call\",\"call_log_id\":55,\"call_type\":\"voice\",\"offer\":" OFFER
    ",\"caller_name\":5}",
    -1, BAD_FRAME, "caller_name: expected a string", NULL },
  { "error/code-missing", CLIENT, "{\"type\":\"error\",\"message\":\"x\"}", -1, BAD_FRAME,
    "code: missing", NULL },
};

static void
test_bad_input (gconstpointer data)
{
  const BadCase *test = data;
  gsize length = test->length < 0 ? strlen (test->input) : (gsize) test->length;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterFrame) frame = NULL;
  g_autofree char *ref = NULL;

  frame = natter_frame_parse (test->input, length, test->direction, &ref, &error);
  g_assert_null (frame);
  g_assert_error (error, NATTER_PROTOCOL_ERROR, (int) test->code);
  assert_contains (error->message, test->message);
  g_assert_cmpstr (ref, ==, test->ref);
}

static void
test_text_too_long (void)
{
  g_autoptr (GString) at_limit = g_string_new (NULL);
  g_autoptr (GString) over = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterFrame) frame = NULL;
  g_autofree char *ref = NULL;

  /* 4096 characters of three bytes each, with spaces around that do not count. */
  g_string_append (at_limit,
                   "{\"type\":\"chat_message\",\"client_msg_id\":\"c-7\",\"conversation_id\":7,"
                   "\"text\":\"  ");
  for (guint i = 0; i < NATTER_MAX_CHAT_TEXT_CHARS; i++)
    g_string_append (at_limit, "ሰ");
  over = g_string_new (at_limit->str);
  g_string_append (at_limit, "  \"}");
  g_string_append (over, "x\"}");

  frame = natter_frame_parse (at_limit->str, at_limit->len, SERVER, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_utf8_strlen (frame->text, -1), ==, NATTER_MAX_CHAT_TEXT_CHARS);

  g_assert_null (natter_frame_parse (over->str, over->len, SERVER, &ref, &error));
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_TOO_LONG);
  g_assert_cmpstr (error->message, ==, "text: longer than 4096 characters");
  g_assert_cmpstr (ref, ==, "c-7");
}

static void
test_frame_too_large (void)
{
  g_autoptr (GString) frame_text =
    g_string_new ("{\"type\":\"sync\",\"after_event_id\":1,\"pad\":\"");
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterFrame) frame = NULL;

  while (frame_text->len < NATTER_MAX_FRAME_BYTES - 2)
    g_string_append_c (frame_text, 'x');
  g_string_append (frame_text, "\"}");
  g_assert_cmpuint (frame_text->len, ==, NATTER_MAX_FRAME_BYTES);

  /* Exactly at the limit is fine. */
  frame = natter_frame_parse (frame_text->str, frame_text->len, SERVER, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (frame);

  /* One byte more is refused before parsing, even though it is garbage. */
  g_string_insert_c (frame_text, 1, ' ');
  g_string_overwrite (frame_text, 0, "\xFF");
  g_assert_null (natter_frame_parse (frame_text->str, frame_text->len, SERVER, NULL, &error));
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_FRAME_TOO_LARGE);
  g_assert_nonnull (strstr (error->message, "65537 bytes"));
}

static void
test_sdp_too_large (void)
{
  g_autoptr (GString) text = g_string_new (
    INVITATION_WITH ("\"call_type\":\"voice\",\"offer\":{\"type\":\"offer\",\"sdp\":\""));
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i <= NATTER_MAX_SDP_BYTES; i++)
    g_string_append_c (text, 'a');
  g_string_append (text, "\"}}");

  g_assert_null (natter_frame_parse (text->str, text->len, SERVER, NULL, &error));
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME);
  g_assert_nonnull (strstr (error->message, "offer.sdp: longer than 49152"));
}

static void
test_huge_array (void)
{
  g_autoptr (GString) text = g_string_new ("{\"type\":\"sync\",\"after_event_id\":1,\"x\":[");
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < 10000; i++)
    g_string_append (text, i > 0 ? ",0" : "0");
  g_string_append (text, "]}");

  g_assert_null (natter_frame_parse (text->str, text->len, SERVER, NULL, &error));
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON);
  g_assert_nonnull (strstr (error->message, "array with more than 256 elements"));
}

static void
test_many_members (void)
{
  g_autoptr (GString) text = g_string_new ("{\"type\":\"sync\",\"after_event_id\":1");
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < 100; i++)
    g_string_append_printf (text, ",\"m%u\":%u", i, i);
  g_string_append (text, "}");

  g_assert_null (natter_frame_parse (text->str, text->len, SERVER, NULL, &error));
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON);
  g_assert_nonnull (strstr (error->message, "object with more than 64 members"));
}

/* Random bytes and mutations of a valid frame never crash or leak; every
 * failure carries an error of the protocol domain. */
static void
test_random_mutations (void)
{
  const char *seed = "{\"type\":\"call_invitation\",\"client_call_id\":\"k\",\"to_profile_id\":2,"
                     "\"to_profile_type\":\"student\",\"call_type\":\"video\",\"offer\":" OFFER "}";
  gsize length = strlen (seed);
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261122);
  g_autofree char *buffer = g_malloc (length);
  guint parsed = 0;

  for (guint round = 0; round < 20000; round++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (NatterFrame) frame = NULL;
    g_autofree char *ref = NULL;
    guint flips = g_rand_int_range (rand, 1, 4);

    memcpy (buffer, seed, length);
    for (guint i = 0; i < flips; i++)
      buffer[g_rand_int_range (rand, 0, (gint32) length)] = (char) g_rand_int_range (rand, 0, 256);

    /* Mostly one to three changed bytes; every fourth round also cut short. */
    frame = natter_frame_parse (
      buffer, round % 4 == 0 ? (gsize) g_rand_int_range (rand, 0, (gint32) length) : length,
      round % 2 ? SERVER : CLIENT, &ref, &error);
    if (frame != NULL) {
      g_autofree char *json = natter_frame_to_json (frame, NULL);
      g_autoptr (NatterFrame) again =
        natter_frame_parse (json, strlen (json), round % 2 ? SERVER : CLIENT, NULL, &error);

      g_assert_no_error (error);
      g_assert_nonnull (again);
      parsed++;
    } else {
      g_assert_nonnull (error);
      g_assert_true (error->domain == NATTER_PROTOCOL_ERROR);
    }
  }

  g_test_message ("%u of 20000 mutations parsed", parsed);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_assert_cmpuint (G_N_ELEMENTS (bad_cases), >=, 60);

  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/natter/protocol/bad-input/%s", bad_cases[i].name);
    g_test_add_data_func (path, &bad_cases[i], test_bad_input);
  }

  g_test_add_func ("/natter/protocol/bad-input/text-too-long", test_text_too_long);
  g_test_add_func ("/natter/protocol/bad-input/frame-too-large", test_frame_too_large);
  g_test_add_func ("/natter/protocol/bad-input/sdp-too-large", test_sdp_too_large);
  g_test_add_func ("/natter/protocol/bad-input/huge-array", test_huge_array);
  g_test_add_func ("/natter/protocol/bad-input/many-members", test_many_members);
  g_test_add_func ("/natter/protocol/bad-input/random-mutations", test_random_mutations);

  return g_test_run ();
}
