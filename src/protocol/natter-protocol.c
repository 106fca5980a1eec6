/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-protocol"

#include "config.h"

#include <string.h>

#include "natter-protocol.h"

G_DEFINE_QUARK (natter - protocol - error - quark, natter_protocol_error)

static const char *const error_codes[] = {
  [NATTER_PROTOCOL_ERROR_BAD_JSON] = "bad_json",
  [NATTER_PROTOCOL_ERROR_BAD_FRAME] = "bad_frame",
  [NATTER_PROTOCOL_ERROR_UNKNOWN_TYPE] = "unknown_type",
  [NATTER_PROTOCOL_ERROR_NOT_ALLOWED] = "not_allowed",
  [NATTER_PROTOCOL_ERROR_NOT_FOUND] = "not_found",
  [NATTER_PROTOCOL_ERROR_TOO_LONG] = "too_long",
  [NATTER_PROTOCOL_ERROR_RATE_LIMITED] = "rate_limited",
  [NATTER_PROTOCOL_ERROR_INTERNAL] = "internal",
  /* Never sent in an error frame (the socket closes with 1009), but HTTP
   * answers 413 with it. */
  [NATTER_PROTOCOL_ERROR_FRAME_TOO_LARGE] = "too_large",
};

/**
 * natter_protocol_error_to_code:
 * @error: a #NatterProtocolError
 *
 * Returns: the word of PROTOCOL.md for @error; "internal" for values that are
 *   not a #NatterProtocolError
 */
const char *
natter_protocol_error_to_code (NatterProtocolError error)
{
  if ((guint) error >= G_N_ELEMENTS (error_codes))
    return "internal";

  return error_codes[error];
}

/**
 * natter_protocol_error_from_code:
 * @code: a word such as "bad_frame"
 * @out_error: (out) (optional): the matching #NatterProtocolError
 *
 * Returns: %TRUE if @code is one of the words of PROTOCOL.md
 */
gboolean
natter_protocol_error_from_code (const char *code, NatterProtocolError *out_error)
{
  if (code == NULL)
    return FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (error_codes); i++) {
    if (g_strcmp0 (error_codes[i], code) == 0) {
      if (out_error != NULL)
        *out_error = (NatterProtocolError) i;
      return TRUE;
    }
  }

  return FALSE;
}

/**
 * natter_profile_type_normalize:
 * @profile_type: a profile type as received
 * @error: a #GError, %NATTER_PROTOCOL_ERROR_BAD_FRAME
 *
 * Validates @profile_type (1..32 ASCII letters, digits, '_' or '-', starting
 * with a letter) and lowercases it.
 *
 * Returns: (transfer full) (nullable): the lowercase type
 */
char *
natter_profile_type_normalize (const char *profile_type, GError **error)
{
  gsize length;

  if (profile_type == NULL || profile_type[0] == '\0') {
    g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME,
                         "empty profile type");
    return NULL;
  }

  length = strnlen (profile_type, NATTER_MAX_PROFILE_TYPE_CHARS + 1);
  if (length > NATTER_MAX_PROFILE_TYPE_CHARS) {
    g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME,
                 "profile type longer than %d characters", NATTER_MAX_PROFILE_TYPE_CHARS);
    return NULL;
  }

  if (!g_ascii_isalpha (profile_type[0])) {
    g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME,
                         "profile type must start with a letter");
    return NULL;
  }

  for (gsize i = 0; i < length; i++) {
    char c = profile_type[i];

    if (!g_ascii_isalnum (c) && c != '_' && c != '-') {
      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME,
                           "profile type may hold only letters, digits, '_' and '-'");
      return NULL;
    }
  }

  return g_ascii_strdown (profile_type, length);
}

/**
 * natter_id_is_valid:
 * @id: an identifier
 *
 * Returns: %TRUE if @id is in 1..2^53-1, exact in a JavaScript number
 */
gboolean
natter_id_is_valid (gint64 id)
{
  return id >= 1 && id <= NATTER_MAX_ID;
}

/**
 * natter_format_time:
 * @time: a #GDateTime
 *
 * Returns: (transfer full): @time as RFC 3339 UTC with milliseconds, like
 *   "2026-11-22T01:38:27.123Z"
 */
char *
natter_format_time (GDateTime *time)
{
  g_autoptr (GDateTime) utc = NULL;
  g_autofree char *seconds = NULL;

  g_return_val_if_fail (time != NULL, NULL);

  utc = g_date_time_to_utc (time);
  seconds = g_date_time_format (utc, "%Y-%m-%dT%H:%M:%S");

  return g_strdup_printf ("%s.%03dZ", seconds, g_date_time_get_microsecond (utc) / 1000);
}

static gboolean
is_digits (const char *text, gsize count)
{
  for (gsize i = 0; i < count; i++) {
    if (!g_ascii_isdigit (text[i]))
      return FALSE;
  }

  return TRUE;
}

/**
 * natter_parse_time:
 * @text: an RFC 3339 time with a zone ("…Z" or "…+02:00")
 *
 * Returns: (transfer full) (nullable): the time in UTC, or %NULL if @text is
 *   not an RFC 3339 date-time
 */
GDateTime *
natter_parse_time (const char *text)
{
  g_autoptr (GDateTime) parsed = NULL;

  if (text == NULL)
    return NULL;

  /* g_date_time_new_from_iso8601() takes many ISO 8601 forms (week dates,
   * no separators); RFC 3339 is the one "YYYY-MM-DDTHH:MM:SS" form. */
  if (strnlen (text, 20) < 20 || !is_digits (text, 4) || text[4] != '-' ||
      !is_digits (text + 5, 2) || text[7] != '-' || !is_digits (text + 8, 2) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !is_digits (text + 11, 2) ||
      text[13] != ':' || !is_digits (text + 14, 2) || text[16] != ':' || !is_digits (text + 17, 2))
    return NULL;

  parsed = g_date_time_new_from_iso8601 (text, NULL);
  if (parsed == NULL)
    return NULL;

  return g_date_time_to_utc (parsed);
}
