/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fuzz-http-body"

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "natter-http-body.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

/* Every body goes through every parser. A body that parses is written,
 * parsed again, and must be written the same way. */

static void
check_failure (GError *error)
{
  if (error == NULL || error->domain != NATTER_PROTOCOL_ERROR)
    abort ();
}

static void
check_same (const char *first, const char *second)
{
  if (first == NULL || second == NULL || strcmp (first, second) != 0)
    abort ();
}

#define CHECK_RECORD(Type, parse, to_json, free_func)    \
  G_STMT_START                                           \
  {                                                      \
    g_autoptr (GError) error = NULL;                     \
    Type *parsed = parse (text, size, &error);           \
                                                         \
    if (parsed == NULL) {                                \
      check_failure (error);                             \
    } else {                                             \
      g_autofree char *json = to_json (parsed);          \
      Type *again = parse (json, strlen (json), &error); \
      g_autofree char *json_again = NULL;                \
                                                         \
      if (again == NULL)                                 \
        abort ();                                        \
      json_again = to_json (again);                      \
      check_same (json, json_again);                     \
      free_func (again);                                 \
      free_func (parsed);                                \
    }                                                    \
  }                                                      \
  G_STMT_END

#define CHECK_LIST(parse, to_json)                                       \
  G_STMT_START                                                           \
  {                                                                      \
    g_autoptr (GError) error = NULL;                                     \
    g_autoptr (GPtrArray) parsed = parse (text, size, &error);           \
                                                                         \
    if (parsed == NULL) {                                                \
      check_failure (error);                                             \
    } else {                                                             \
      g_autofree char *json = to_json (parsed);                          \
      g_autoptr (GPtrArray) again = parse (json, strlen (json), &error); \
      g_autofree char *json_again = NULL;                                \
                                                                         \
      if (again == NULL)                                                 \
        abort ();                                                        \
      json_again = to_json (again);                                      \
      check_same (json, json_again);                                     \
    }                                                                    \
  }                                                                      \
  G_STMT_END

static void
check_message_page (const char *text, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) parsed = NULL;
  g_autoptr (GPtrArray) again = NULL;
  g_autofree char *json = NULL;
  g_autofree char *json_again = NULL;
  gboolean has_more = FALSE;
  gboolean has_more_again = FALSE;

  parsed = natter_message_page_parse (text, size, &has_more, &error);
  if (parsed == NULL) {
    check_failure (error);
    return;
  }

  json = natter_message_page_to_json (parsed, has_more);
  again = natter_message_page_parse (json, strlen (json), &has_more_again, &error);
  if (again == NULL || has_more != has_more_again)
    abort ();
  json_again = natter_message_page_to_json (again, has_more_again);
  check_same (json, json_again);
}

static void
check_ice_servers (const char *text, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) parsed = NULL;
  g_autoptr (GPtrArray) again = NULL;
  g_autofree char *json = NULL;
  g_autofree char *json_again = NULL;
  gint64 ttl_s = 0;
  gint64 ttl_s_again = 0;

  parsed = natter_ice_servers_parse (text, size, &ttl_s, &error);
  if (parsed == NULL) {
    check_failure (error);
    return;
  }

  json = natter_ice_servers_to_json (parsed, ttl_s);
  again = natter_ice_servers_parse (json, strlen (json), &ttl_s_again, &error);
  if (again == NULL || ttl_s != ttl_s_again)
    abort ();
  json_again = natter_ice_servers_to_json (again, ttl_s_again);
  check_same (json, json_again);
}

static void
check_http_error (const char *text, size_t size)
{
  g_autofree char *code = NULL;
  g_autofree char *message = NULL;
  g_autofree char *json = NULL;
  g_autofree char *code_again = NULL;
  g_autofree char *message_again = NULL;

  if (!natter_http_error_parse (text, size, &code, &message))
    return;

  json = natter_http_error_to_json (code, message);
  if (!natter_http_error_parse (json, strlen (json), &code_again, &message_again))
    abort ();
  check_same (code, code_again);
  check_same (message, message_again);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;

  CHECK_RECORD (NatterRegisterRequest, natter_register_request_parse,
                natter_register_request_to_json, natter_register_request_free);
  CHECK_RECORD (NatterLoginRequest, natter_login_request_parse, natter_login_request_to_json,
                natter_login_request_free);
  CHECK_RECORD (NatterSession, natter_session_parse, natter_session_to_json, natter_session_free);
  CHECK_RECORD (NatterUser, natter_user_parse, natter_user_to_json, natter_user_free);
  CHECK_RECORD (NatterConversation, natter_conversation_parse, natter_conversation_to_json,
                natter_conversation_free);
  CHECK_LIST (natter_conversation_request_parse, natter_conversation_request_to_json);
  CHECK_LIST (natter_profile_list_parse, natter_profile_list_to_json);
  CHECK_LIST (natter_conversation_list_parse, natter_conversation_list_to_json);
  CHECK_LIST (natter_call_log_list_parse, natter_call_log_list_to_json);
  check_message_page (text, size);
  check_ice_servers (text, size);
  check_http_error (text, size);

  return 0;
}
