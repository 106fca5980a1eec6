/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-protocol-frames"

#include "config.h"

#include <string.h>

#include "natter-frame.h"
#include "natter-json.h"

#define SERVER NATTER_DIRECTION_TO_SERVER
#define CLIENT NATTER_DIRECTION_TO_CLIENT

#define PROFILE_1                                                          \
  "{\"profile_id\":1,\"profile_type\":\"tutor\",\"display_name\":\"Abebe " \
  "K.\",\"avatar_url\":\"/api/profiles/tutor/1/avatar\"}"
#define PROFILE_2 "{\"profile_id\":2,\"profile_type\":\"student\",\"display_name\":\"Sara\"}"
#define MESSAGE                                                               \
  "{\"message_id\":100,\"conversation_id\":7,\"seq\":3,\"sender\":" PROFILE_1 \
  ",\"text\":\"Selam\",\"sent_at\":\"2026-11-22T01:38:27.123Z\",\"client_msg_id\":\"c-1\"}"
#define ATTACHMENT_PDF                                                                     \
  "{\"attachment_id\":31,\"name\":\"worksheet.pdf\",\"content_type\":\"application/pdf\"," \
  "\"size\":20971520,\"sha256\":"                                                          \
  "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"}"
#define ATTACHMENT_PHOTO                                                                           \
  "{\"attachment_id\":32,\"name\":\"homework.jpg\",\"content_type\":\"image/jpeg\","               \
  "\"size\":2048,\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"," \
  "\"width\":4032,\"height\":3024}"
#define MESSAGE_WITH_ATTACHMENTS                                                       \
  "{\"message_id\":101,\"conversation_id\":7,\"seq\":4,\"sender\":" PROFILE_1          \
  ",\"text\":\"\",\"sent_at\":\"2026-11-22T01:39:00.000Z\",\"client_msg_id\":\"c-3\"," \
  "\"attachments\":[" ATTACHMENT_PDF "," ATTACHMENT_PHOTO "]}"
#define CALL_LOG                                                                                \
  "{\"call_log_id\":55,\"conversation_id\":7,\"caller\":" PROFILE_1 ",\"callee\":" PROFILE_2    \
  ",\"call_type\":\"video\",\"status\":\"missed\",\"started_at\":\"2026-11-22T01:00:00.000Z\"," \
  "\"answered_at\":null,\"ended_at\":\"2026-11-22T01:00:45.000Z\",\"duration_s\":0}"
#define OFFER "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n\"}"
#define ANSWER "{\"type\":\"answer\",\"sdp\":\"v=0\\r\\n\"}"
#define STAMP                                                                         \
  "\"from_profile_id\":1,\"from_profile_type\":\"tutor\",\"from_name\":\"Abebe K.\"," \
  "\"from_avatar\":\"/api/profiles/tutor/1/avatar\""

typedef void (*CheckFunc) (const NatterFrame *frame);

typedef struct {
  const char *name;
  NatterDirection direction;
  const char *input;
  NatterFrameType type;
  CheckFunc check;
  const char *output; /* the serialization; NULL: the same as the input */
} FrameCase;

static void
check_profile_1 (const NatterProfile *profile)
{
  g_assert_nonnull (profile);
  g_assert_cmpint (profile->profile_id, ==, 1);
  g_assert_cmpstr (profile->profile_type, ==, "tutor");
  g_assert_cmpstr (profile->display_name, ==, "Abebe K.");
  g_assert_cmpstr (profile->avatar_url, ==, "/api/profiles/tutor/1/avatar");
}

static void
check_stamp (const NatterFrame *frame)
{
  g_assert_cmpint (frame->from_profile_id, ==, 1);
  g_assert_cmpstr (frame->from_profile_type, ==, "tutor");
  g_assert_cmpstr (frame->from_name, ==, "Abebe K.");
  g_assert_cmpstr (frame->from_avatar, ==, "/api/profiles/tutor/1/avatar");
}

static void
check_no_stamp (const NatterFrame *frame)
{
  g_assert_cmpint (frame->from_profile_id, ==, 0);
  g_assert_null (frame->from_profile_type);
  g_assert_null (frame->from_name);
  g_assert_null (frame->from_avatar);
}

static void
check_message (const NatterMessage *message)
{
  g_assert_nonnull (message);
  g_assert_cmpint (message->message_id, ==, 100);
  g_assert_cmpint (message->conversation_id, ==, 7);
  g_assert_cmpint (message->seq, ==, 3);
  check_profile_1 (message->sender);
  g_assert_cmpstr (message->text, ==, "Selam");
  g_assert_cmpstr (message->sent_at, ==, "2026-11-22T01:38:27.123Z");
  g_assert_cmpstr (message->client_msg_id, ==, "c-1");
}

static void
check_offer (const NatterSessionDescription *offer)
{
  g_assert_nonnull (offer);
  g_assert_cmpstr (offer->type, ==, "offer");
  g_assert_cmpstr (offer->sdp, ==, "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n");
}

static void
check_answer (const NatterSessionDescription *answer)
{
  g_assert_nonnull (answer);
  g_assert_cmpstr (answer->type, ==, "answer");
  g_assert_cmpstr (answer->sdp, ==, "v=0\r\n");
}

static void
check_hello (const NatterFrame *frame)
{
  g_assert_cmpint (frame->protocol, ==, 1);
  check_profile_1 (frame->profile);
  g_assert_cmpint (frame->last_event_id, ==, 0);
  g_assert_cmpint (frame->heartbeat_s, ==, 30);
  g_assert_cmpstr (frame->server_time, ==, "2026-11-22T01:38:27.123Z");
}

static void
check_sync (const NatterFrame *frame)
{
  g_assert_cmpint (frame->after_event_id, ==, 41);
}

static void
check_sync_done (const NatterFrame *frame)
{
  g_assert_cmpint (frame->last_event_id, ==, 1041);
  g_assert_true (frame->truncated);
}

static void
check_error (const NatterFrame *frame)
{
  g_assert_cmpstr (frame->code, ==, "too_long");
  g_assert_cmpstr (frame->error_message, ==, "text: longer than 4096 characters");
  g_assert_cmpstr (frame->ref, ==, "c-1");
}

static void
check_chat_to_server (const NatterFrame *frame)
{
  g_assert_cmpstr (frame->client_msg_id, ==, "c-1");
  g_assert_cmpint (frame->conversation_id, ==, 7);
  g_assert_cmpstr (frame->text, ==, "Selam 👋");
  g_assert_cmpint (frame->event_id, ==, 0);
  g_assert_null (frame->message);
  check_no_stamp (frame);
}

static void
check_chat_to_profile (const NatterFrame *frame)
{
  g_assert_cmpstr (frame->client_msg_id, ==, "c-2");
  g_assert_cmpint (frame->conversation_id, ==, 0);
  g_assert_cmpint (frame->to_profile_id, ==, 2);
  g_assert_cmpstr (frame->to_profile_type, ==, "student");
  g_assert_cmpstr (frame->text, ==, "hi");
}

static void
check_chat_to_client (const NatterFrame *frame)
{
  g_assert_cmpint (frame->event_id, ==, 12);
  check_message (frame->message);
  g_assert_null (frame->message->attachments);
  g_assert_null (frame->client_msg_id);
  g_assert_null (frame->text);
}

static void
check_chat_with_attachment_ids (const NatterFrame *frame)
{
  g_assert_cmpstr (frame->client_msg_id, ==, "c-3");
  g_assert_cmpint (frame->conversation_id, ==, 7);
  g_assert_cmpstr (frame->text, ==, "");
  g_assert_nonnull (frame->attachment_ids);
  g_assert_cmpuint (frame->attachment_ids->len, ==, 2);
  g_assert_cmpint (g_array_index (frame->attachment_ids, gint64, 0), ==, 31);
  g_assert_cmpint (g_array_index (frame->attachment_ids, gint64, 1), ==, 32);
}

static void
check_message_with_attachments (const NatterMessage *message)
{
  const NatterAttachment *pdf;
  const NatterAttachment *photo;

  g_assert_nonnull (message);
  g_assert_cmpstr (message->text, ==, "");
  g_assert_nonnull (message->attachments);
  g_assert_cmpuint (message->attachments->len, ==, 2);

  pdf = g_ptr_array_index (message->attachments, 0);
  g_assert_cmpint (pdf->attachment_id, ==, 31);
  g_assert_cmpstr (pdf->name, ==, "worksheet.pdf");
  g_assert_cmpstr (pdf->content_type, ==, "application/pdf");
  g_assert_cmpint (pdf->size, ==, 20971520);
  g_assert_cmpstr (pdf->sha256, ==,
                   "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  g_assert_cmpint (pdf->width, ==, 0);
  g_assert_cmpint (pdf->height, ==, 0);
  g_assert_false (natter_attachment_is_image (pdf));

  photo = g_ptr_array_index (message->attachments, 1);
  g_assert_cmpint (photo->attachment_id, ==, 32);
  g_assert_cmpstr (photo->content_type, ==, "image/jpeg");
  g_assert_cmpint (photo->width, ==, 4032);
  g_assert_cmpint (photo->height, ==, 3024);
  g_assert_true (natter_attachment_is_image (photo));
}

static void
check_chat_to_client_with_attachments (const NatterFrame *frame)
{
  g_assert_cmpint (frame->event_id, ==, 13);
  check_message_with_attachments (frame->message);
  g_assert_null (frame->attachment_ids);
}

static void
check_message_ack_with_attachments (const NatterFrame *frame)
{
  g_assert_cmpstr (frame->client_msg_id, ==, "c-3");
  check_message_with_attachments (frame->message);
}

static void
check_message_ack (const NatterFrame *frame)
{
  g_assert_cmpstr (frame->client_msg_id, ==, "c-1");
  check_message (frame->message);
}

static void
check_typing_to_server (const NatterFrame *frame)
{
  g_assert_cmpint (frame->conversation_id, ==, 7);
  g_assert_true (frame->active);
  check_no_stamp (frame);
}

static void
check_typing_to_client (const NatterFrame *frame)
{
  g_assert_cmpint (frame->conversation_id, ==, 7);
  g_assert_false (frame->active);
  check_stamp (frame);
}

static void
check_mark_read (const NatterFrame *frame)
{
  g_assert_cmpint (frame->conversation_id, ==, 7);
  g_assert_cmpint (frame->up_to_seq, ==, 42);
}

static void
check_read_receipt (const NatterFrame *frame)
{
  g_assert_cmpint (frame->event_id, ==, 13);
  g_assert_cmpint (frame->conversation_id, ==, 7);
  check_profile_1 (frame->profile);
  g_assert_cmpint (frame->up_to_seq, ==, 42);
}

static void
check_presence (const NatterFrame *frame)
{
  check_profile_1 (frame->profile);
  g_assert_false (frame->online);
  g_assert_cmpstr (frame->last_seen, ==, "2026-11-22T01:38:27.123Z");
}

static void
check_presence_online (const NatterFrame *frame)
{
  g_assert_true (frame->online);
  g_assert_null (frame->last_seen);
}

static void
check_invitation_to_server (const NatterFrame *frame)
{
  g_assert_cmpstr (frame->client_call_id, ==, "call-1");
  g_assert_cmpint (frame->to_profile_id, ==, 2);
  g_assert_cmpstr (frame->to_profile_type, ==, "student");
  g_assert_cmpstr (frame->call_type, ==, "video");
  g_assert_cmpint (frame->conversation_id, ==, 7);
  check_offer (frame->offer);
  g_assert_cmpint (frame->call_log_id, ==, 0);
  check_no_stamp (frame);
}

static void
check_invitation_to_client (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 55);
  check_stamp (frame);
  g_assert_cmpstr (frame->call_type, ==, "video");
  g_assert_cmpint (frame->conversation_id, ==, 7);
  check_offer (frame->offer);
  g_assert_cmpstr (frame->expires_at, ==, "2026-11-22T01:39:12.000Z");
  g_assert_null (frame->client_call_id);
}

static void
check_incoming_call (const NatterFrame *frame)
{
  g_assert_cmpint (frame->type, ==, NATTER_FRAME_CALL_INVITATION);
  g_assert_cmpint (frame->call_log_id, ==, 56);
  g_assert_cmpstr (frame->from_name, ==, "Abebe K.");
  g_assert_cmpstr (frame->from_avatar, ==, "/a.png");
  g_assert_cmpstr (frame->call_type, ==, "voice");
  g_assert_cmpint (frame->conversation_id, ==, 0);
}

static void
check_call_ringing (const NatterFrame *frame)
{
  g_assert_cmpstr (frame->client_call_id, ==, "call-1");
  g_assert_cmpint (frame->call_log_id, ==, 55);
}

static void
check_call_unavailable (const NatterFrame *frame)
{
  g_assert_cmpstr (frame->client_call_id, ==, "call-1");
  g_assert_cmpint (frame->call_log_id, ==, 55);
  g_assert_cmpstr (frame->reason, ==, "offline");
  g_assert_cmpint (frame->ringing_call_log_id, ==, 0);
}

static void
check_call_unavailable_glare (const NatterFrame *frame)
{
  g_assert_cmpstr (frame->reason, ==, "glare");
  g_assert_cmpint (frame->ringing_call_log_id, ==, 54);
}

static void
check_candidate (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 55);
  g_assert_nonnull (frame->candidate);
  g_assert_cmpstr (frame->candidate->candidate, ==,
                   "candidate:1 1 UDP 2122252543 192.168.1.2 50000 typ host");
  g_assert_cmpstr (frame->candidate->sdp_mid, ==, "0");
  g_assert_cmpint (frame->candidate->sdp_mline_index, ==, 0);
}

static void
check_candidate_no_mid (const NatterFrame *frame)
{
  g_assert_nonnull (frame->candidate);
  g_assert_null (frame->candidate->sdp_mid);
  g_assert_cmpint (frame->candidate->sdp_mline_index, ==, 1);
}

static void
check_end_of_candidates (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 55);
  g_assert_null (frame->candidate);
}

static void
check_candidate_compat (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 0);
  g_assert_cmpint (frame->to_profile_id, ==, 2);
  g_assert_cmpstr (frame->to_profile_type, ==, "student");
  g_assert_nonnull (frame->candidate);
}

static void
check_candidate_to_client (const NatterFrame *frame)
{
  check_candidate (frame);
  check_stamp (frame);
}

static void
check_call_answer (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 55);
  check_answer (frame->answer);
  g_assert_null (frame->offer);
}

static void
check_call_answer_compat (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 0);
  g_assert_cmpint (frame->to_profile_id, ==, 1);
  g_assert_cmpstr (frame->to_profile_type, ==, "tutor");
  check_answer (frame->answer);
}

static void
check_call_declined (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 55);
  g_assert_cmpstr (frame->reason, ==, "busy");
}

static void
check_call_cancelled (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 55);
  g_assert_cmpstr (frame->reason, ==, "answered_elsewhere");
}

static void
check_call_ended (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 55);
  g_assert_null (frame->reason);
}

static void
check_call_ended_reason (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 55);
  g_assert_cmpstr (frame->reason, ==, "no_answer");
}

static void
check_missed_call (const NatterFrame *frame)
{
  g_assert_cmpint (frame->event_id, ==, 14);
  g_assert_nonnull (frame->call);
  g_assert_cmpint (frame->call->call_log_id, ==, 55);
  g_assert_cmpint (frame->call->conversation_id, ==, 7);
  check_profile_1 (frame->call->caller);
  g_assert_cmpint (frame->call->callee->profile_id, ==, 2);
  g_assert_cmpstr (frame->call->callee->profile_type, ==, "student");
  g_assert_null (frame->call->callee->avatar_url);
  g_assert_cmpstr (frame->call->call_type, ==, "video");
  g_assert_cmpstr (frame->call->status, ==, "missed");
  g_assert_cmpstr (frame->call->started_at, ==, "2026-11-22T01:00:00.000Z");
  g_assert_null (frame->call->answered_at);
  g_assert_cmpstr (frame->call->ended_at, ==, "2026-11-22T01:00:45.000Z");
  g_assert_cmpint (frame->call->duration_s, ==, 0);
}

static void
check_media_state (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 55);
  g_assert_true (frame->audio_muted);
  g_assert_false (frame->video_enabled);
}

static void
check_call_update_offer (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 55);
  check_offer (frame->offer);
  g_assert_null (frame->answer);
}

static void
check_call_update_answer (const NatterFrame *frame)
{
  g_assert_cmpint (frame->call_log_id, ==, 55);
  g_assert_null (frame->offer);
  check_answer (frame->answer);
}

static const FrameCase frame_cases[] = {
  /* session */
  { "hello/to-client", CLIENT,
    "{\"type\":\"hello\",\"protocol\":1,\"profile\":" PROFILE_1
    ",\"last_event_id\":0,\"heartbeat_s\":30,\"server_time\":\"2026-11-22T01:38:27.123Z\"}",
    NATTER_FRAME_HELLO, check_hello, NULL },
  { "sync/to-server", SERVER, "{\"type\":\"sync\",\"after_event_id\":41}", NATTER_FRAME_SYNC,
    check_sync, NULL },
  { "sync_done/to-client", CLIENT,
    "{\"type\":\"sync_done\",\"last_event_id\":1041,\"truncated\":true}", NATTER_FRAME_SYNC_DONE,
    check_sync_done, NULL },
  { "error/to-client", CLIENT,
    "{\"type\":\"error\",\"code\":\"too_long\",\"message\":\"text: longer than 4096 "
    "characters\",\"ref\":\"c-1\"}",
    NATTER_FRAME_ERROR, check_error, NULL },
  /* chat */
  { "chat_message/to-server", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7,\"text\":\" \\n "
    "Selam 👋\\t \"}",
    NATTER_FRAME_CHAT_MESSAGE, check_chat_to_server,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-1\",\"conversation_id\":7,\"text\":\"Selam "
    "👋\"}" },
  { "chat_message/to-server-by-profile", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-2\",\"to_profile_id\":2,\"to_profile_type\":"
    "\"Student\",\"text\":\"hi\"}",
    NATTER_FRAME_CHAT_MESSAGE, check_chat_to_profile,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-2\",\"to_profile_id\":2,\"to_profile_type\":"
    "\"student\",\"text\":\"hi\"}" },
  { "chat_message/to-client", CLIENT,
    "{\"type\":\"chat_message\",\"event_id\":12,\"message\":" MESSAGE "}",
    NATTER_FRAME_CHAT_MESSAGE, check_chat_to_client, NULL },
  { "chat_message/to-server-with-attachments", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-3\",\"conversation_id\":7,\"text\":\" "
    "\",\"attachments\":[31,32]}",
    NATTER_FRAME_CHAT_MESSAGE, check_chat_with_attachment_ids,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-3\",\"conversation_id\":7,\"text\":\"\","
    "\"attachments\":[31,32]}" },
  { "chat_message/to-server-empty-attachments", SERVER,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-2\",\"to_profile_id\":2,\"to_profile_type\":"
    "\"student\",\"text\":\"hi\",\"attachments\":[]}",
    NATTER_FRAME_CHAT_MESSAGE, check_chat_to_profile,
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-2\",\"to_profile_id\":2,\"to_profile_type\":"
    "\"student\",\"text\":\"hi\"}" },
  { "chat_message/to-client-with-attachments", CLIENT,
    "{\"type\":\"chat_message\",\"event_id\":13,\"message\":" MESSAGE_WITH_ATTACHMENTS "}",
    NATTER_FRAME_CHAT_MESSAGE, check_chat_to_client_with_attachments, NULL },
  { "message_ack/to-client-with-attachments", CLIENT,
    "{\"type\":\"message_ack\",\"client_msg_id\":\"c-3\",\"event_id\":14,"
    "\"message\":" MESSAGE_WITH_ATTACHMENTS "}",
    NATTER_FRAME_MESSAGE_ACK, check_message_ack_with_attachments, NULL },
  { "message_ack/to-client", CLIENT,
    "{\"type\":\"message_ack\",\"client_msg_id\":\"c-1\",\"message\":" MESSAGE "}",
    NATTER_FRAME_MESSAGE_ACK, check_message_ack, NULL },
  { "typing/to-server", SERVER, "{\"type\":\"typing\",\"conversation_id\":7,\"active\":true}",
    NATTER_FRAME_TYPING, check_typing_to_server, NULL },
  { "typing/to-client", CLIENT,
    "{\"type\":\"typing\",\"conversation_id\":7,\"active\":false," STAMP "}", NATTER_FRAME_TYPING,
    check_typing_to_client, NULL },
  { "mark_read/to-server", SERVER,
    "{\"type\":\"mark_read\",\"conversation_id\":7,\"up_to_seq\":42}", NATTER_FRAME_MARK_READ,
    check_mark_read, NULL },
  { "read_receipt/to-client", CLIENT,
    "{\"type\":\"read_receipt\",\"event_id\":13,\"conversation_id\":7,\"profile\":" PROFILE_1
    ",\"up_to_seq\":42}",
    NATTER_FRAME_READ_RECEIPT, check_read_receipt, NULL },
  { "presence/to-client", CLIENT,
    "{\"type\":\"presence\",\"profile\":" PROFILE_1
    ",\"online\":false,\"last_seen\":\"2026-11-22T01:38:27.123Z\"}",
    NATTER_FRAME_PRESENCE, check_presence, NULL },
  { "presence/to-client-online", CLIENT,
    "{\"type\":\"presence\",\"profile\":" PROFILE_1 ",\"online\":true,\"last_seen\":null}",
    NATTER_FRAME_PRESENCE, check_presence_online,
    "{\"type\":\"presence\",\"profile\":" PROFILE_1 ",\"online\":true}" },
  /* calls */
  { "call_invitation/to-server", SERVER,
    "{\"type\":\"call_invitation\",\"client_call_id\":\"call-1\",\"to_profile_id\":2,"
    "\"to_profile_type\":\"student\",\"call_type\":\"video\",\"conversation_id\":7,\"offer\":" OFFER
    "}",
    NATTER_FRAME_CALL_INVITATION, check_invitation_to_server, NULL },
  { "call_invitation/to-client", CLIENT,
    "{\"type\":\"call_invitation\",\"call_log_id\":55,\"call_type\":\"video\",\"conversation_id\":"
    "7,\"offer\":" OFFER ",\"expires_at\":\"2026-11-22T01:39:12.000Z\"," STAMP "}",
    NATTER_FRAME_CALL_INVITATION, check_invitation_to_client, NULL },
  { "call_invitation/to-client-incoming-call-synonyms", CLIENT,
    "{\"type\":\"incoming_call\",\"call_log_id\":56,\"caller_name\":\"Abebe K.\","
    "\"caller_avatar\":\"/a.png\",\"call_type\":\"voice\",\"offer\":" OFFER "}",
    NATTER_FRAME_CALL_INVITATION, check_incoming_call,
    "{\"type\":\"call_invitation\",\"call_log_id\":56,\"call_type\":\"voice\",\"offer\":" OFFER
    ",\"from_name\":\"Abebe K.\",\"from_avatar\":\"/a.png\"}" },
  { "call_ringing/to-client", CLIENT,
    "{\"type\":\"call_ringing\",\"client_call_id\":\"call-1\",\"call_log_id\":55}",
    NATTER_FRAME_CALL_RINGING, check_call_ringing, NULL },
  { "call_unavailable/to-client", CLIENT,
    "{\"type\":\"call_unavailable\",\"client_call_id\":\"call-1\",\"call_log_id\":55,\"reason\":"
    "\"offline\"}",
    NATTER_FRAME_CALL_UNAVAILABLE, check_call_unavailable, NULL },
  { "call_unavailable/to-client-glare", CLIENT,
    "{\"type\":\"call_unavailable\",\"client_call_id\":\"call-1\",\"call_log_id\":56,\"reason\":"
    "\"glare\",\"ringing_call_log_id\":54}",
    NATTER_FRAME_CALL_UNAVAILABLE, check_call_unavailable_glare, NULL },
  { "ice_candidate/to-server", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":55,\"candidate\":{\"candidate\":\"candidate:1 1 "
    "UDP 2122252543 192.168.1.2 50000 typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}}",
    NATTER_FRAME_ICE_CANDIDATE, check_candidate, NULL },
  { "ice_candidate/to-server-null-mid", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":55,\"candidate\":{\"candidate\":\"candidate:2 1 "
    "UDP 1 10.0.0.1 9 typ host\",\"sdpMLineIndex\":1}}",
    NATTER_FRAME_ICE_CANDIDATE, check_candidate_no_mid,
    "{\"type\":\"ice_candidate\",\"call_log_id\":55,\"candidate\":{\"candidate\":\"candidate:2 1 "
    "UDP 1 10.0.0.1 9 typ host\",\"sdpMid\":null,\"sdpMLineIndex\":1}}" },
  { "ice_candidate/to-server-end-null", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":55,\"candidate\":null}",
    NATTER_FRAME_ICE_CANDIDATE, check_end_of_candidates,
    "{\"type\":\"ice_candidate\",\"call_log_id\":55,\"candidate\":{\"candidate\":null}}" },
  { "ice_candidate/to-server-end-inner-null", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":55,\"candidate\":{\"candidate\":null}}",
    NATTER_FRAME_ICE_CANDIDATE, check_end_of_candidates, NULL },
  { "ice_candidate/to-server-end-empty-string", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":55,\"candidate\":{\"candidate\":\"\","
    "\"sdpMid\":\"0\",\"sdpMLineIndex\":0}}",
    NATTER_FRAME_ICE_CANDIDATE, check_end_of_candidates,
    "{\"type\":\"ice_candidate\",\"call_log_id\":55,\"candidate\":{\"candidate\":null}}" },
  { "ice_candidate/to-server-end-missing-string", SERVER,
    "{\"type\":\"ice_candidate\",\"call_log_id\":55,\"candidate\":{\"sdpMid\":\"0\"}}",
    NATTER_FRAME_ICE_CANDIDATE, check_end_of_candidates,
    "{\"type\":\"ice_candidate\",\"call_log_id\":55,\"candidate\":{\"candidate\":null}}" },
  { "ice_candidate/to-server-compat-routing", SERVER,
    "{\"type\":\"ice_candidate\",\"to_profile_id\":2,\"to_profile_type\":\"student\","
    "\"candidate\":{\"candidate\":\"candidate:1\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}}",
    NATTER_FRAME_ICE_CANDIDATE, check_candidate_compat, NULL },
  { "ice_candidate/to-client", CLIENT,
    "{\"type\":\"ice_candidate\",\"call_log_id\":55,\"candidate\":{\"candidate\":\"candidate:1 1 "
    "UDP 2122252543 192.168.1.2 50000 typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}," STAMP "}",
    NATTER_FRAME_ICE_CANDIDATE, check_candidate_to_client, NULL },
  { "call_answer/to-server", SERVER,
    "{\"type\":\"call_answer\",\"call_log_id\":55,\"answer\":" ANSWER "}", NATTER_FRAME_CALL_ANSWER,
    check_call_answer, NULL },
  { "call_answer/to-server-compat-routing", SERVER,
    "{\"type\":\"call_answer\",\"to_profile_id\":1,\"to_profile_type\":\"TUTOR\",\"answer\":" ANSWER
    "}",
    NATTER_FRAME_CALL_ANSWER, check_call_answer_compat,
    "{\"type\":\"call_answer\",\"to_profile_id\":1,\"to_profile_type\":\"tutor\",\"answer\":" ANSWER
    "}" },
  { "call_answer/to-client", CLIENT,
    "{\"type\":\"call_answer\",\"call_log_id\":55,\"answer\":" ANSWER "}", NATTER_FRAME_CALL_ANSWER,
    check_call_answer, NULL },
  { "call_declined/to-server", SERVER,
    "{\"type\":\"call_declined\",\"call_log_id\":55,\"reason\":\"busy\"}",
    NATTER_FRAME_CALL_DECLINED, check_call_declined, NULL },
  { "call_declined/to-client", CLIENT,
    "{\"type\":\"call_declined\",\"call_log_id\":55,\"reason\":\"busy\"}",
    NATTER_FRAME_CALL_DECLINED, check_call_declined, NULL },
  { "call_cancelled/to-client", CLIENT,
    "{\"type\":\"call_cancelled\",\"call_log_id\":55,\"reason\":\"answered_elsewhere\"}",
    NATTER_FRAME_CALL_CANCELLED, check_call_cancelled, NULL },
  { "call_ended/to-server", SERVER, "{\"type\":\"call_ended\",\"call_log_id\":55}",
    NATTER_FRAME_CALL_ENDED, check_call_ended, NULL },
  { "call_ended/to-client", CLIENT,
    "{\"type\":\"call_ended\",\"call_log_id\":55,\"reason\":\"no_answer\"}",
    NATTER_FRAME_CALL_ENDED, check_call_ended_reason, NULL },
  { "missed_call/to-client", CLIENT,
    "{\"type\":\"missed_call\",\"event_id\":14,\"call\":" CALL_LOG "}", NATTER_FRAME_MISSED_CALL,
    check_missed_call, NULL },
  { "call_media_state/to-server", SERVER,
    "{\"type\":\"call_media_state\",\"call_log_id\":55,\"audio_muted\":true,\"video_enabled\":"
    "false}",
    NATTER_FRAME_CALL_MEDIA_STATE, check_media_state, NULL },
  { "call_media_state/to-client", CLIENT,
    "{\"type\":\"call_media_state\",\"call_log_id\":55,\"audio_muted\":true,\"video_enabled\":"
    "false}",
    NATTER_FRAME_CALL_MEDIA_STATE, check_media_state, NULL },
  { "call_update/to-server-offer", SERVER,
    "{\"type\":\"call_update\",\"call_log_id\":55,\"offer\":" OFFER "}", NATTER_FRAME_CALL_UPDATE,
    check_call_update_offer, NULL },
  { "call_update/to-client-answer", CLIENT,
    "{\"type\":\"call_update\",\"call_log_id\":55,\"answer\":" ANSWER "}", NATTER_FRAME_CALL_UPDATE,
    check_call_update_answer, NULL },
  /* the type's case does not matter; unknown members are ignored */
  { "case-insensitive/Call_Ended", SERVER, "{\"type\":\"Call_Ended\",\"call_log_id\":55}",
    NATTER_FRAME_CALL_ENDED, check_call_ended, "{\"type\":\"call_ended\",\"call_log_id\":55}" },
  { "case-insensitive/SYNC", SERVER, "{\"type\":\"SYNC\",\"after_event_id\":41}", NATTER_FRAME_SYNC,
    check_sync, "{\"type\":\"sync\",\"after_event_id\":41}" },
  { "forward-compatible/unknown-members", SERVER,
    "{\"type\":\"sync\",\"after_event_id\":41,\"future\":{\"x\":[1,2]},\"also\":null}",
    NATTER_FRAME_SYNC, check_sync, "{\"type\":\"sync\",\"after_event_id\":41}" },
  { "forward-compatible/type-not-first", SERVER, "{\"after_event_id\":41,\"type\":\"sync\"}",
    NATTER_FRAME_SYNC, check_sync, "{\"type\":\"sync\",\"after_event_id\":41}" },
};

/* JSON text -> parse -> check -> serialize -> parse again -> equal. */
static void
test_round_trip (gconstpointer data)
{
  const FrameCase *test = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterFrame) frame = NULL;
  g_autoptr (NatterFrame) again = NULL;
  g_autoptr (NatterFrame) copy = NULL;
  g_autofree char *ref = NULL;
  g_autofree char *json = NULL;
  g_autofree char *json_again = NULL;
  g_autofree char *json_copy = NULL;
  gsize length = 0;

  frame = natter_frame_parse (test->input, strlen (test->input), test->direction, &ref, &error);
  g_assert_no_error (error);
  g_assert_nonnull (frame);
  g_assert_null (ref);
  g_assert_cmpint (frame->type, ==, test->type);
  test->check (frame);

  json = natter_frame_to_json (frame, &length);
  g_assert_cmpuint (length, ==, strlen (json));
  g_assert_cmpstr (json, ==, test->output != NULL ? test->output : test->input);

  again = natter_frame_parse (json, length, test->direction, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (again->type, ==, test->type);
  test->check (again);
  json_again = natter_frame_to_json (again, NULL);
  g_assert_cmpstr (json_again, ==, json);

  /* A copy is deep and equal. */
  copy = natter_frame_copy (frame);
  g_clear_pointer (&frame, natter_frame_free);
  test->check (copy);
  json_copy = natter_frame_to_json (copy, NULL);
  g_assert_cmpstr (json_copy, ==, json);
}

typedef struct {
  const char *name;
  const char *input;
} ForgedCase;

/* Whatever a client claims, frames it sends carry no from_* stamp. */
static const ForgedCase forged_cases[] = {
  { "chat_message",
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c\",\"conversation_id\":7,\"text\":\"x\"," STAMP
    "}" },
  { "typing", "{\"type\":\"typing\",\"conversation_id\":7,\"active\":true," STAMP "}" },
  { "call_invitation",
    "{\"type\":\"call_invitation\",\"client_call_id\":\"k\",\"to_profile_id\":2,"
    "\"to_profile_type\":\"student\",\"call_type\":\"voice\",\"offer\":" OFFER ",\"caller_name\":"
    "\"Boss\",\"caller_avatar\":\"/x\"," STAMP "}" },
  { "ice_candidate",
    "{\"type\":\"ice_candidate\",\"call_log_id\":55,\"candidate\":null," STAMP "}" },
  { "call_answer",
    "{\"type\":\"call_answer\",\"call_log_id\":55,\"answer\":" ANSWER "," STAMP "}" },
  { "call_declined", "{\"type\":\"call_declined\",\"call_log_id\":55," STAMP "}" },
  { "call_ended", "{\"type\":\"call_ended\",\"call_log_id\":55," STAMP "}" },
  { "call_media_state",
    "{\"type\":\"call_media_state\",\"call_log_id\":55,\"audio_muted\":false,\"video_enabled\":"
    "true," STAMP "}" },
  { "call_update", "{\"type\":\"call_update\",\"call_log_id\":55,\"offer\":" OFFER "," STAMP "}" },
  { "invalid-stamp-ignored",
    "{\"type\":\"call_ended\",\"call_log_id\":55,\"from_profile_id\":\"x\",\"from_name\":5}" },
};

static void
test_forged_stamp_dropped (gconstpointer data)
{
  const ForgedCase *test = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterFrame) frame = NULL;
  g_autofree char *json = NULL;

  frame = natter_frame_parse (test->input, strlen (test->input), SERVER, NULL, &error);
  g_assert_no_error (error);
  check_no_stamp (frame);

  json = natter_frame_to_json (frame, NULL);
  g_assert_null (strstr (json, "from_"));
  g_assert_null (strstr (json, "caller_"));
}

/* A message serialized once and spliced into each frame that carries it
 * gives the very bytes of serializing each frame whole, whatever the text
 * holds (quotes, the splice marker's own spelling, control characters). */
static void
test_frame_with_message_json (void)
{
  const char *texts[] = { "plain", "\"message\":\"\\u0001\"", "\001 \" \\ \n",
                          "\"message\":\"\001\"" };

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
    g_autoptr (NatterMessage) message = natter_message_new ();
    g_autoptr (NatterFrame) event = natter_frame_new (NATTER_FRAME_CHAT_MESSAGE);
    g_autoptr (NatterFrame) ack = natter_frame_new (NATTER_FRAME_MESSAGE_ACK);
    g_autofree char *message_json = NULL;
    g_autofree char *event_whole = NULL;
    g_autofree char *event_spliced = NULL;
    g_autofree char *ack_whole = NULL;
    g_autofree char *ack_spliced = NULL;
    gsize length = 0;

    message->message_id = 9;
    message->conversation_id = 7;
    message->seq = 3;
    message->sender = natter_profile_new (4, "tutor", texts[i], "/avatar");
    message->text = g_strdup (texts[i]);
    message->sent_at = g_strdup ("2026-12-07T00:00:00.000Z");
    message->client_msg_id = g_strdup (texts[i]);
    message_json = natter_message_to_json (message);

    event->event_id = 12;
    event->from_profile_id = 4;
    event->from_profile_type = g_strdup ("tutor");
    event->from_name = g_strdup (texts[i]);
    event_spliced = natter_frame_to_json_with_message (event, message_json, &length);
    g_assert_cmpuint (length, ==, strlen (event_spliced));
    event->message = natter_message_copy (message);
    event_whole = natter_frame_to_json (event, NULL);
    g_assert_cmpstr (event_spliced, ==, event_whole);

    ack->client_msg_id = g_strdup (texts[i]);
    ack->event_id = 12;
    ack_spliced = natter_frame_to_json_with_message (ack, message_json, NULL);
    ack->message = natter_message_copy (message);
    ack_whole = natter_frame_to_json (ack, NULL);
    g_assert_cmpstr (ack_spliced, ==, ack_whole);
  }
}

static void
test_type_names (void)
{
  for (int type = NATTER_FRAME_UNKNOWN + 1; type < NATTER_N_FRAME_TYPES; type++) {
    const char *name = natter_frame_type_to_string (type);
    g_autofree char *upper = NULL;

    g_assert_nonnull (name);
    g_assert_cmpint (natter_frame_type_from_string (name), ==, type);
    upper = g_ascii_strup (name, -1);
    g_assert_cmpint (natter_frame_type_from_string (upper), ==, type);
  }

  g_assert_null (natter_frame_type_to_string (NATTER_FRAME_UNKNOWN));
  g_assert_null (natter_frame_type_to_string (NATTER_N_FRAME_TYPES));
  g_assert_cmpint (natter_frame_type_from_string ("incoming_call"), ==,
                   NATTER_FRAME_CALL_INVITATION);
  g_assert_cmpint (natter_frame_type_from_string ("nonsense"), ==, NATTER_FRAME_UNKNOWN);
  g_assert_cmpint (natter_frame_type_from_string (""), ==, NATTER_FRAME_UNKNOWN);
  g_assert_cmpint (natter_frame_type_from_string (NULL), ==, NATTER_FRAME_UNKNOWN);
}

/* Every frame type is covered by a round-trip case in each direction it
 * travels. */
static void
test_every_type_covered (void)
{
  gboolean seen[NATTER_N_FRAME_TYPES] = { FALSE };

  for (guint i = 0; i < G_N_ELEMENTS (frame_cases); i++)
    seen[frame_cases[i].type] = TRUE;

  for (int type = NATTER_FRAME_UNKNOWN + 1; type < NATTER_N_FRAME_TYPES; type++) {
    if (!seen[type])
      g_error ("no round-trip case for %s", natter_frame_type_to_string (type));
  }
}

static void
test_error_frame (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterFrame) frame = NULL;
  g_autoptr (NatterFrame) other = NULL;
  g_autoptr (GError) io_error = NULL;
  g_autofree char *ref = NULL;
  g_autofree char *json = NULL;
  const char *input = "{\"type\":\"chat_message\",\"client_msg_id\":\"c-9\",\"conversation_id\":7,"
                      "\"text\":\"   \"}";

  g_assert_null (natter_frame_parse (input, strlen (input), SERVER, &ref, &error));
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME);
  g_assert_cmpstr (ref, ==, "c-9");

  frame = natter_frame_new_error (error, ref);
  json = natter_frame_to_json (frame, NULL);
  g_assert_cmpstr (json, ==,
                   "{\"type\":\"error\",\"code\":\"bad_frame\",\"message\":\"text: "
                   "empty\",\"ref\":\"c-9\"}");

  io_error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "disk on fire");
  other = natter_frame_new_error (io_error, NULL);
  g_assert_cmpstr (other->code, ==, "internal");
  g_assert_null (other->ref);
}

static void
test_boxed (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterFrame) frame = NULL;
  NatterFrame *copy;
  const char *input = "{\"type\":\"read_receipt\",\"event_id\":13,\"conversation_id\":7,"
                      "\"profile\":" PROFILE_1 ",\"up_to_seq\":42}";

  frame = natter_frame_parse (input, strlen (input), CLIENT, NULL, &error);
  g_assert_no_error (error);

  g_assert_true (G_TYPE_IS_BOXED (NATTER_TYPE_FRAME));
  copy = g_boxed_copy (NATTER_TYPE_FRAME, frame);
  check_read_receipt (copy);
  g_boxed_free (NATTER_TYPE_FRAME, copy);
}

static void
test_attachment_values (void)
{
  g_autoptr (NatterAttachment) attachment = natter_attachment_new ();
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *json = NULL;
  NatterAttachment *copy;

  g_assert_true (natter_attachment_name_is_valid ("Worksheet 3 (final).pdf"));
  g_assert_true (natter_attachment_name_is_valid ("ፎቶ.jpg"));
  g_assert_false (natter_attachment_name_is_valid (""));
  g_assert_false (natter_attachment_name_is_valid (NULL));
  g_assert_false (natter_attachment_name_is_valid (".."));
  g_assert_false (natter_attachment_name_is_valid ("../etc/passwd"));
  g_assert_false (natter_attachment_name_is_valid ("a\\b"));
  g_assert_false (natter_attachment_name_is_valid ("line\nbreak"));
  g_assert_false (natter_attachment_name_is_valid ("\xff.pdf"));

  g_assert_true (natter_attachment_content_type_is_valid ("application/pdf"));
  g_assert_true (
    natter_attachment_content_type_is_valid ("application/vnd.oasis.opendocument.text"));
  g_assert_false (natter_attachment_content_type_is_valid ("Image/PNG"));
  g_assert_false (natter_attachment_content_type_is_valid ("text/plain; charset=utf-8"));
  g_assert_false (natter_attachment_content_type_is_valid ("pdf"));
  g_assert_false (natter_attachment_content_type_is_valid ("/pdf"));
  g_assert_false (natter_attachment_content_type_is_valid ("image/"));

  g_assert_true (natter_attachment_sha256_is_valid (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  g_assert_false (natter_attachment_sha256_is_valid (
    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
  g_assert_false (natter_attachment_sha256_is_valid ("e3b0"));

  attachment->attachment_id = 5;
  attachment->name = g_strdup ("a.txt");
  attachment->content_type = g_strdup ("text/plain");
  attachment->size = 0;
  attachment->sha256 =
    g_strdup ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  node = natter_attachment_to_node (attachment);
  json = natter_json_to_string (node, NULL);
  g_assert_cmpstr (json, ==,
                   "{\"attachment_id\":5,\"name\":\"a.txt\",\"content_type\":\"text/plain\","
                   "\"size\":0,\"sha256\":"
                   "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}");

  {
    g_autofree char *body = natter_attachment_to_json (attachment);
    g_autoptr (NatterAttachment) parsed = natter_attachment_parse (body, strlen (body), NULL);
    g_autoptr (GError) error = NULL;

    g_assert_cmpstr (body, ==, json);
    g_assert_nonnull (parsed);
    g_assert_cmpint (parsed->attachment_id, ==, 5);
    g_assert_cmpint (parsed->width, ==, 0);
    g_assert_null (
      natter_attachment_parse ("{\"attachment_id\":5}", strlen ("{\"attachment_id\":5}"), &error));
    g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME);
  }

  g_assert_true (G_TYPE_IS_BOXED (NATTER_TYPE_ATTACHMENT));
  copy = g_boxed_copy (NATTER_TYPE_ATTACHMENT, attachment);
  g_assert_cmpstr (copy->name, ==, "a.txt");
  g_assert_true (copy->name != attachment->name);
  g_boxed_free (NATTER_TYPE_ATTACHMENT, copy);
}

static void
test_message_copy_keeps_attachments (void)
{
  const char *input =
    "{\"type\":\"chat_message\",\"event_id\":13,\"message\":" MESSAGE_WITH_ATTACHMENTS "}";
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterFrame) frame = NULL;
  g_autoptr (NatterFrame) copy = NULL;
  g_autoptr (NatterFrame) server_frame = NULL;
  const char *to_server =
    "{\"type\":\"chat_message\",\"client_msg_id\":\"c-3\",\"conversation_id\":"
    "7,\"text\":\"\",\"attachments\":[31,32]}";

  frame = natter_frame_parse (input, strlen (input), CLIENT, NULL, &error);
  g_assert_no_error (error);
  copy = natter_frame_copy (frame);
  natter_frame_free (g_steal_pointer (&frame));
  check_chat_to_client_with_attachments (copy);

  frame = natter_frame_parse (to_server, strlen (to_server), SERVER, NULL, &error);
  g_assert_no_error (error);
  server_frame = natter_frame_copy (frame);
  natter_frame_free (g_steal_pointer (&frame));
  check_chat_with_attachment_ids (server_frame);
}

static void
test_profile_type_normalize (void)
{
  static const struct {
    const char *input;
    const char *output; /* NULL: refused */
  } cases[] = {
    { "tutor", "tutor" },
    { "Tutor", "tutor" },
    { "ADVERTISER", "advertiser" },
    { "x", "x" },
    { "a1_b-c", "a1_b-c" },
    { "abcdefghijabcdefghijabcdefghijab", "abcdefghijabcdefghijabcdefghijab" },
    { "abcdefghijabcdefghijabcdefghijabc", NULL },
    { "", NULL },
    { "1tutor", NULL },
    { "_tutor", NULL },
    { "tu tor", NULL },
    { "tutor/1", NULL },
    { "tütor", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autofree char *normalized = natter_profile_type_normalize (cases[i].input, &error);

    g_assert_cmpstr (normalized, ==, cases[i].output);
    if (cases[i].output == NULL)
      g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME);
    else
      g_assert_no_error (error);
  }
}

static void
test_ids (void)
{
  g_assert_false (natter_id_is_valid (0));
  g_assert_false (natter_id_is_valid (-1));
  g_assert_true (natter_id_is_valid (1));
  g_assert_true (natter_id_is_valid (NATTER_MAX_ID));
  g_assert_false (natter_id_is_valid (NATTER_MAX_ID + 1));
  g_assert_false (natter_id_is_valid (G_MAXINT64));
}

static void
test_error_codes (void)
{
  static const char *const codes[] = {
    "bad_json",  "bad_frame", "unknown_type", "not_allowed",
    "not_found", "too_long",  "rate_limited", "internal",
  };

  for (guint i = 0; i < G_N_ELEMENTS (codes); i++) {
    NatterProtocolError code = NATTER_PROTOCOL_ERROR_INTERNAL;

    g_assert_cmpstr (natter_protocol_error_to_code ((NatterProtocolError) i), ==, codes[i]);
    g_assert_true (natter_protocol_error_from_code (codes[i], &code));
    g_assert_cmpint (code, ==, i);
  }

  g_assert_nonnull (natter_protocol_error_to_code (NATTER_PROTOCOL_ERROR_FRAME_TOO_LARGE));
  g_assert_cmpstr (natter_protocol_error_to_code ((NatterProtocolError) 1000), ==, "internal");
  g_assert_false (natter_protocol_error_from_code ("nope", NULL));
  g_assert_false (natter_protocol_error_from_code (NULL, NULL));
}

static void
test_times (void)
{
  g_autoptr (GDateTime) time = g_date_time_new_utc (2026, 11, 22, 1, 38, 27.123456);
  g_autoptr (GTimeZone) zone = g_time_zone_new_offset (3 * 3600);
  g_autoptr (GDateTime) local = g_date_time_to_timezone (time, zone);
  g_autoptr (GDateTime) parsed = NULL;
  g_autoptr (GDateTime) offset = NULL;
  g_autofree char *text = natter_format_time (time);
  g_autofree char *local_text = natter_format_time (local);
  g_autofree char *again = NULL;

  g_assert_cmpstr (text, ==, "2026-11-22T01:38:27.123Z");
  /* Always written in UTC. */
  g_assert_cmpstr (local_text, ==, text);

  parsed = natter_parse_time (text);
  g_assert_nonnull (parsed);
  again = natter_format_time (parsed);
  g_assert_cmpstr (again, ==, text);

  offset = natter_parse_time ("2026-11-22T04:38:27.123+03:00");
  g_assert_nonnull (offset);
  g_assert_cmpint (g_date_time_get_hour (offset), ==, 1);
  g_assert_cmpint (g_date_time_compare (offset, parsed), ==, 0);

  g_assert_null (natter_parse_time (NULL));
  g_assert_null (natter_parse_time (""));
  g_assert_null (natter_parse_time ("yesterday"));
  g_assert_null (natter_parse_time ("2026-11-22T01:38:27"));  /* no zone */
  g_assert_null (natter_parse_time ("2026-W47-7T01:38:27Z")); /* ISO week date */
  g_assert_null (natter_parse_time ("20261122T013827Z"));     /* basic format */
  g_assert_null (natter_parse_time ("2026-13-22T01:38:27Z")); /* month 13 */
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (frame_cases); i++) {
    g_autofree char *path =
      g_strdup_printf ("/natter/protocol/frames/round-trip/%s", frame_cases[i].name);
    g_test_add_data_func (path, &frame_cases[i], test_round_trip);
  }

  for (guint i = 0; i < G_N_ELEMENTS (forged_cases); i++) {
    g_autofree char *path =
      g_strdup_printf ("/natter/protocol/frames/forged-from-dropped/%s", forged_cases[i].name);
    g_test_add_data_func (path, &forged_cases[i], test_forged_stamp_dropped);
  }

  g_test_add_func ("/natter/protocol/frames/type-names", test_type_names);
  g_test_add_func ("/natter/protocol/frames/every-type-covered", test_every_type_covered);
  g_test_add_func ("/natter/protocol/frames/error-frame", test_error_frame);
  g_test_add_func ("/natter/protocol/frames/boxed", test_boxed);
  g_test_add_func ("/natter/protocol/attachment-values", test_attachment_values);
  g_test_add_func ("/natter/protocol/frames/message-copy-keeps-attachments",
                   test_message_copy_keeps_attachments);
  g_test_add_func ("/natter/protocol/profile-type-normalize", test_profile_type_normalize);
  g_test_add_func ("/natter/protocol/ids", test_ids);
  g_test_add_func ("/natter/protocol/frames/message-serialized-once", test_frame_with_message_json);
  g_test_add_func ("/natter/protocol/error-codes", test_error_codes);
  g_test_add_func ("/natter/protocol/times", test_times);

  return g_test_run ();
}
