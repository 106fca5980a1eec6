/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Limits and timings of PROTOCOL.md, version 1. Servers may configure their
 * own values; these are the defaults every side assumes. */
#define NATTER_PROTOCOL_VERSION 1

#define NATTER_MAX_FRAME_BYTES (64 * 1024)
#define NATTER_MAX_CHAT_TEXT_CHARS 4096
#define NATTER_CHAT_RATE_PER_S 10
#define NATTER_CHAT_BURST 30
#define NATTER_FRAME_RATE_PER_S 200
#define NATTER_FRAME_BURST 400
#define NATTER_MAX_CONNECTIONS_PER_USER 16
#define NATTER_RING_TIMEOUT_S 45
#define NATTER_CALLER_GRACE_S 10
#define NATTER_SYNC_REPLAY_MAX 1000
#define NATTER_HEARTBEAT_S 30
#define NATTER_DEAD_AFTER_S 90
#define NATTER_HISTORY_LIMIT_DEFAULT 50
#define NATTER_HISTORY_LIMIT_MAX 200
#define NATTER_DIRECTORY_LIMIT_DEFAULT 20
#define NATTER_DIRECTORY_LIMIT_MAX 100
#define NATTER_CALLS_LIMIT_DEFAULT 50
#define NATTER_CALLS_LIMIT_MAX 200
#define NATTER_MAX_AVATAR_BYTES (1024 * 1024)
#define NATTER_TOKEN_LIFETIME_S (30 * 24 * 3600)

/* Structural limits of the strict JSON reader: anything deeper, longer or
 * larger than a real frame or HTTP body is refused before it is looked at. */
#define NATTER_MAX_JSON_DEPTH 16
#define NATTER_MAX_JSON_ARRAY_LENGTH 256
#define NATTER_MAX_JSON_OBJECT_MEMBERS 64
#define NATTER_MAX_HTTP_BODY_BYTES (64 * 1024)

/* Field sizes. */
#define NATTER_MAX_PROFILE_TYPE_CHARS 32
#define NATTER_MAX_DISPLAY_NAME_CHARS 100
#define NATTER_MAX_EMAIL_CHARS 254
#define NATTER_MIN_PASSWORD_CHARS 8
#define NATTER_MAX_PASSWORD_CHARS 1024
#define NATTER_MAX_CLIENT_ID_CHARS 128
#define NATTER_MAX_SDP_BYTES (48 * 1024)
#define NATTER_MAX_CANDIDATE_CHARS 1024
#define NATTER_MAX_REASON_CHARS 64
#define NATTER_MAX_PARTICIPANTS 2

/* Identifiers are positive and exact in a JavaScript number (2^53 - 1), so a
 * browser client reads them without rounding. */
#define NATTER_MAX_ID G_GINT64_CONSTANT (9007199254740991)

#define NATTER_PROTOCOL_ERROR (natter_protocol_error_quark ())

/**
 * NatterProtocolError:
 * The `code` words of PROTOCOL.md's error frames and HTTP errors.
 * %NATTER_PROTOCOL_ERROR_FRAME_TOO_LARGE has no word: it closes the
 * WebSocket with code 1009.
 */
typedef enum {
  NATTER_PROTOCOL_ERROR_BAD_JSON,
  NATTER_PROTOCOL_ERROR_BAD_FRAME,
  NATTER_PROTOCOL_ERROR_UNKNOWN_TYPE,
  NATTER_PROTOCOL_ERROR_NOT_ALLOWED,
  NATTER_PROTOCOL_ERROR_NOT_FOUND,
  NATTER_PROTOCOL_ERROR_TOO_LONG,
  NATTER_PROTOCOL_ERROR_RATE_LIMITED,
  NATTER_PROTOCOL_ERROR_INTERNAL,
  NATTER_PROTOCOL_ERROR_FRAME_TOO_LARGE,
} NatterProtocolError;

GQuark natter_protocol_error_quark (void);

/* "bad_json", "bad_frame", …; never NULL. */
const char *natter_protocol_error_to_code (NatterProtocolError error);
/* Returns FALSE for a word that is not one of the codes. */
gboolean natter_protocol_error_from_code (const char *code, NatterProtocolError *out_error);

/* Validates and lowercases a profile type ("Tutor" -> "tutor"): 1..32 ASCII
 * letters, digits, '_' or '-', starting with a letter. */
char *natter_profile_type_normalize (const char *profile_type, GError **error);
gboolean natter_id_is_valid (gint64 id);

/* RFC 3339 UTC with milliseconds: "2026-11-22T01:38:27.123Z". */
char *natter_format_time (GDateTime *time);
GDateTime *natter_parse_time (const char *text);

G_END_DECLS
