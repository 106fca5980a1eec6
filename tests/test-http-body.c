/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-http-body"

#include "config.h"

#include <string.h>

#include "natter-http-body.h"

#define PROFILE_1                                                          \
  "{\"profile_id\":1,\"profile_type\":\"tutor\",\"display_name\":\"Abebe " \
  "K.\",\"avatar_url\":\"/api/profiles/tutor/1/avatar\"}"
#define PROFILE_2 "{\"profile_id\":2,\"profile_type\":\"student\",\"display_name\":\"Sara\"}"
#define USER                                                                 \
  "{\"user_id\":9,\"email\":\"abebe@example.org\",\"display_name\":\"Abebe " \
  "K.\",\"profiles\":[" PROFILE_1 "," PROFILE_2 "]}"
#define MESSAGE                                                               \
  "{\"message_id\":100,\"conversation_id\":7,\"seq\":3,\"sender\":" PROFILE_1 \
  ",\"text\":\"Selam\",\"sent_at\":\"2026-11-22T01:38:27.123Z\",\"client_msg_id\":\"c-1\"}"
#define MESSAGE_NO_CLIENT_ID                                                  \
  "{\"message_id\":101,\"conversation_id\":7,\"seq\":4,\"sender\":" PROFILE_2 \
  ",\"text\":\"hi\",\"sent_at\":\"2026-11-22T01:39:00.000Z\"}"
#define CONVERSATION                                                  \
  "{\"conversation_id\":7,\"participants\":[" PROFILE_1 "," PROFILE_2 \
  "],\"last_message\":" MESSAGE ",\"unread_count\":2,\"updated_at\":\"2026-11-22T01:38:27.123Z\"}"
#define CONVERSATION_EMPTY                                                         \
  "{\"conversation_id\":8,\"participants\":[" PROFILE_1 "],\"last_message\":null," \
  "\"unread_count\":0}"
#define CALL_LOG                                                                                  \
  "{\"call_log_id\":55,\"conversation_id\":7,\"caller\":" PROFILE_1 ",\"callee\":" PROFILE_2      \
  ",\"call_type\":\"video\",\"status\":\"answered\",\"started_at\":\"2026-11-22T01:00:00.000Z\"," \
  "\"answered_at\":\"2026-11-22T01:00:05.000Z\",\"ended_at\":\"2026-11-22T01:10:05.000Z\","       \
  "\"duration_s\":600}"
#define CALL_LOG_RINGING                                                                         \
  "{\"call_log_id\":56,\"conversation_id\":null,\"caller\":" PROFILE_2 ",\"callee\":" PROFILE_1  \
  ",\"call_type\":\"voice\",\"status\":\"ringing\",\"started_at\":\"2026-11-22T02:00:00.000Z\"," \
  "\"answered_at\":null,\"ended_at\":null,\"duration_s\":0}"

#define assert_contains(haystack, needle)         \
  G_STMT_START                                    \
  {                                               \
    if (strstr ((haystack), (needle)) == NULL)    \
      g_assert_cmpstr ((haystack), ==, (needle)); \
  }                                               \
  G_STMT_END

#define PARSE(func, text, ...) func (text, strlen (text), ##__VA_ARGS__)

static void
test_register (void)
{
  const char *body = "{\"email\":\"  Abebe@Example.ORG \",\"password\":\"correct horse\","
                     "\"display_name\":\"\\tAbebe K.  \",\"profile_types\":[\"Tutor\",\"parent\","
                     "\"TUTOR\"],\"extra\":true}";
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterRegisterRequest) request = NULL;
  g_autoptr (NatterRegisterRequest) again = NULL;
  g_autofree char *json = NULL;

  request = PARSE (natter_register_request_parse, body, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (request->email, ==, "abebe@example.org");
  g_assert_cmpstr (request->password, ==, "correct horse");
  g_assert_cmpstr (request->display_name, ==, "Abebe K.");
  g_assert_cmpuint (g_strv_length (request->profile_types), ==, 2);
  g_assert_cmpstr (request->profile_types[0], ==, "tutor");
  g_assert_cmpstr (request->profile_types[1], ==, "parent");

  json = natter_register_request_to_json (request);
  g_assert_cmpstr (json, ==,
                   "{\"email\":\"abebe@example.org\",\"password\":\"correct horse\","
                   "\"display_name\":\"Abebe K.\",\"profile_types\":[\"tutor\",\"parent\"]}");
  again = PARSE (natter_register_request_parse, json, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again->email, ==, request->email);
  g_assert_true (g_strv_equal ((const char *const *) again->profile_types,
                               (const char *const *) request->profile_types));
}

static void
test_login (void)
{
  const char *body = "{\"email\":\" SARA@example.org\",\"password\":\"x\"}";
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterLoginRequest) request = NULL;
  g_autoptr (NatterLoginRequest) again = NULL;
  g_autofree char *json = NULL;

  request = PARSE (natter_login_request_parse, body, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (request->email, ==, "sara@example.org");
  g_assert_cmpstr (request->password, ==, "x");

  json = natter_login_request_to_json (request);
  g_assert_cmpstr (json, ==, "{\"email\":\"sara@example.org\",\"password\":\"x\"}");
  again = PARSE (natter_login_request_parse, json, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again->password, ==, "x");
}

static void
check_user (const NatterUser *user)
{
  const NatterProfile *first;
  const NatterProfile *second;

  g_assert_cmpint (user->user_id, ==, 9);
  g_assert_cmpstr (user->email, ==, "abebe@example.org");
  g_assert_cmpstr (user->display_name, ==, "Abebe K.");
  g_assert_cmpuint (user->profiles->len, ==, 2);
  first = g_ptr_array_index (user->profiles, 0);
  second = g_ptr_array_index (user->profiles, 1);
  g_assert_cmpint (first->profile_id, ==, 1);
  g_assert_cmpstr (first->avatar_url, ==, "/api/profiles/tutor/1/avatar");
  g_assert_cmpstr (second->profile_type, ==, "student");
  g_assert_null (second->avatar_url);
}

static void
test_session (void)
{
  const char *body = "{\"token\":\"tok-123\",\"expires_at\":\"2026-12-22T01:38:27.123Z\","
                     "\"user\":" USER "}";
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterSession) session = NULL;
  g_autoptr (NatterSession) again = NULL;
  g_autofree char *json = NULL;

  session = PARSE (natter_session_parse, body, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (session->token, ==, "tok-123");
  g_assert_cmpstr (session->expires_at, ==, "2026-12-22T01:38:27.123Z");
  check_user (session->user);

  json = natter_session_to_json (session);
  g_assert_cmpstr (json, ==, body);
  again = PARSE (natter_session_parse, json, &error);
  g_assert_no_error (error);
  check_user (again->user);
}

static void
test_user (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterUser) user = NULL;
  g_autoptr (NatterUser) copy = NULL;
  g_autofree char *json = NULL;

  user = PARSE (natter_user_parse, USER, &error);
  g_assert_no_error (error);
  check_user (user);

  json = natter_user_to_json (user);
  g_assert_cmpstr (json, ==, USER);

  copy = g_boxed_copy (NATTER_TYPE_USER, user);
  g_clear_pointer (&user, natter_user_free);
  check_user (copy);
}

static void
test_conversation_request (void)
{
  const char *body = "{\"with\":[{\"profile_id\":2,\"profile_type\":\"Student\",\"display_name\":"
                     "\"ignored\"}]}";
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) with = NULL;
  g_autoptr (GPtrArray) again = NULL;
  g_autofree char *json = NULL;
  const NatterProfile *profile;

  with = PARSE (natter_conversation_request_parse, body, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (with->len, ==, 1);
  profile = g_ptr_array_index (with, 0);
  g_assert_cmpint (profile->profile_id, ==, 2);
  g_assert_cmpstr (profile->profile_type, ==, "student");
  g_assert_null (profile->display_name);

  json = natter_conversation_request_to_json (with);
  g_assert_cmpstr (json, ==, "{\"with\":[{\"profile_id\":2,\"profile_type\":\"student\"}]}");
  again = PARSE (natter_conversation_request_parse, json, &error);
  g_assert_no_error (error);
  g_assert_true (natter_profile_equal (g_ptr_array_index (again, 0), profile));
}

static void
test_conversation (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterConversation) conversation = NULL;
  g_autoptr (NatterConversation) copy = NULL;
  g_autofree char *json = NULL;
  g_autofree char *json_copy = NULL;

  conversation = PARSE (natter_conversation_parse, CONVERSATION, &error);
  g_assert_no_error (error);
  g_assert_cmpint (conversation->conversation_id, ==, 7);
  g_assert_cmpuint (conversation->participants->len, ==, 2);
  g_assert_nonnull (conversation->last_message);
  g_assert_cmpstr (conversation->last_message->text, ==, "Selam");
  g_assert_cmpint (conversation->unread_count, ==, 2);
  g_assert_cmpstr (conversation->updated_at, ==, "2026-11-22T01:38:27.123Z");

  json = natter_conversation_to_json (conversation);
  g_assert_cmpstr (json, ==, CONVERSATION);

  copy = natter_conversation_copy (conversation);
  json_copy = natter_conversation_to_json (copy);
  g_assert_cmpstr (json_copy, ==, json);
}

static void
test_lists (void)
{
  const char *profiles_body = "{\"profiles\":[" PROFILE_1 "," PROFILE_2 "]}";
  const char *conversations_body = "{\"conversations\":[" CONVERSATION "," CONVERSATION_EMPTY "]}";
  const char *calls_body = "{\"calls\":[" CALL_LOG "," CALL_LOG_RINGING "]}";
  const char *empty_body = "{\"profiles\":[]}";
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) profiles = NULL;
  g_autoptr (GPtrArray) conversations = NULL;
  g_autoptr (GPtrArray) calls = NULL;
  g_autoptr (GPtrArray) empty = NULL;
  g_autofree char *profiles_json = NULL;
  g_autofree char *conversations_json = NULL;
  g_autofree char *calls_json = NULL;
  g_autofree char *empty_json = NULL;
  NatterConversation *second;
  NatterCallLog *ringing;

  profiles = PARSE (natter_profile_list_parse, profiles_body, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (profiles->len, ==, 2);
  profiles_json = natter_profile_list_to_json (profiles);
  g_assert_cmpstr (profiles_json, ==, profiles_body);

  conversations = PARSE (natter_conversation_list_parse, conversations_body, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (conversations->len, ==, 2);
  second = g_ptr_array_index (conversations, 1);
  g_assert_null (second->last_message);
  g_assert_null (second->updated_at);
  conversations_json = natter_conversation_list_to_json (conversations);
  g_assert_cmpstr (conversations_json, ==, conversations_body);

  calls = PARSE (natter_call_log_list_parse, calls_body, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (calls->len, ==, 2);
  ringing = g_ptr_array_index (calls, 1);
  g_assert_cmpint (ringing->conversation_id, ==, 0);
  g_assert_null (ringing->answered_at);
  g_assert_null (ringing->ended_at);
  g_assert_cmpstr (ringing->status, ==, "ringing");
  calls_json = natter_call_log_list_to_json (calls);
  g_assert_cmpstr (calls_json, ==, calls_body);

  empty = PARSE (natter_profile_list_parse, empty_body, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (empty->len, ==, 0);
  empty_json = natter_profile_list_to_json (empty);
  g_assert_cmpstr (empty_json, ==, empty_body);
}

static void
test_message_page (void)
{
  const char *body = "{\"messages\":[" MESSAGE "," MESSAGE_NO_CLIENT_ID "],\"has_more\":true}";
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) messages = NULL;
  g_autofree char *json = NULL;
  gboolean has_more = FALSE;
  NatterMessage *second;

  messages = PARSE (natter_message_page_parse, body, &has_more, &error);
  g_assert_no_error (error);
  g_assert_true (has_more);
  g_assert_cmpuint (messages->len, ==, 2);
  second = g_ptr_array_index (messages, 1);
  g_assert_cmpint (second->seq, ==, 4);
  g_assert_null (second->client_msg_id);

  json = natter_message_page_to_json (messages, has_more);
  g_assert_cmpstr (json, ==, body);
}

static void
test_ice_servers (void)
{
  const char *body = "{\"ice_servers\":[{\"urls\":[\"stun:stun.example.org:3478\"]},"
                     "{\"urls\":[\"turn:turn.example.org:3478?transport=udp\","
                     "\"turns:turn.example.org:5349\"],\"username\":\"1700000000:9\","
                     "\"credential\":\"c2VjcmV0\"}],\"ttl_s\":86400}";
  const char *single_url = "{\"ice_servers\":[{\"urls\":\"stun:a\"}],\"ttl_s\":0}";
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) servers = NULL;
  g_autoptr (GPtrArray) single = NULL;
  g_autofree char *json = NULL;
  gint64 ttl_s = 0;
  NatterIceServer *turn;

  servers = PARSE (natter_ice_servers_parse, body, &ttl_s, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ttl_s, ==, 86400);
  g_assert_cmpuint (servers->len, ==, 2);
  turn = g_ptr_array_index (servers, 1);
  g_assert_cmpuint (g_strv_length (turn->urls), ==, 2);
  g_assert_cmpstr (turn->urls[1], ==, "turns:turn.example.org:5349");
  g_assert_cmpstr (turn->username, ==, "1700000000:9");
  g_assert_cmpstr (turn->credential, ==, "c2VjcmV0");
  g_assert_null (((NatterIceServer *) g_ptr_array_index (servers, 0))->username);

  json = natter_ice_servers_to_json (servers, ttl_s);
  g_assert_cmpstr (json, ==, body);

  single = PARSE (natter_ice_servers_parse, single_url, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (((NatterIceServer *) g_ptr_array_index (single, 0))->urls[0], ==, "stun:a");
}

static void
test_http_error (void)
{
  g_autofree char *json = natter_http_error_to_json ("not_found", "no \"such\" conversation");
  g_autofree char *code = NULL;
  g_autofree char *message = NULL;

  g_assert_cmpstr (json, ==,
                   "{\"error\":{\"code\":\"not_found\",\"message\":\"no \\\"such\\\" "
                   "conversation\"}}");
  g_assert_true (natter_http_error_parse (json, strlen (json), &code, &message));
  g_assert_cmpstr (code, ==, "not_found");
  g_assert_cmpstr (message, ==, "no \"such\" conversation");

  g_assert_false (PARSE (natter_http_error_parse, "{\"error\":\"x\"}", NULL, NULL));
  g_assert_false (PARSE (natter_http_error_parse, "{\"token\":\"x\"}", NULL, NULL));
  g_assert_false (PARSE (natter_http_error_parse, "<html>502</html>", NULL, NULL));
  g_assert_false (natter_http_error_parse ("", 0, NULL, NULL));
}

typedef enum {
  BODY_REGISTER,
  BODY_LOGIN,
  BODY_SESSION,
  BODY_USER,
  BODY_CONVERSATION_REQUEST,
  BODY_CONVERSATION,
  BODY_PROFILES,
  BODY_CONVERSATIONS,
  BODY_CALLS,
  BODY_MESSAGES,
  BODY_ICE_SERVERS,
} BodyKind;

typedef struct {
  const char *name;
  BodyKind kind;
  const char *body;
  NatterProtocolError code;
  const char *message;
} BadBody;

#define REGISTER(email, password, name, types)                            \
  "{\"email\":" email ",\"password\":" password ",\"display_name\":" name \
  ",\"profile_types\":" types "}"

static const BadBody bad_bodies[] = {
  { "register/not-json", BODY_REGISTER, "email=a@b", NATTER_PROTOCOL_ERROR_BAD_JSON,
    "bad JSON at byte 0" },
  { "register/array", BODY_REGISTER, "[]", NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "the body must be a JSON object" },
  { "register/duplicate-key", BODY_REGISTER,
    "{\"email\":\"a@b\",\"email\":\"c@d\",\"password\":\"12345678\",\"display_name\":\"A\","
    "\"profile_types\":[\"tutor\"]}",
    NATTER_PROTOCOL_ERROR_BAD_JSON, "duplicate key \"email\"" },
  { "register/no-at", BODY_REGISTER,
    REGISTER ("\"abebe.example.org\"", "\"12345678\"", "\"A\"", "[\"tutor\"]"),
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "email: not an email address" },
  { "register/two-ats", BODY_REGISTER,
    REGISTER ("\"a@b@c\"", "\"12345678\"", "\"A\"", "[\"tutor\"]"), NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "email: not an email address" },
  { "register/space-in-email", BODY_REGISTER,
    REGISTER ("\"a b@c\"", "\"12345678\"", "\"A\"", "[\"tutor\"]"), NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "email: not an email address" },
  { "register/empty-local-part", BODY_REGISTER,
    REGISTER ("\"@c\"", "\"12345678\"", "\"A\"", "[\"tutor\"]"), NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "email: not an email address" },
  { "register/email-number", BODY_REGISTER, REGISTER ("5", "\"12345678\"", "\"A\"", "[\"tutor\"]"),
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "email: expected a string" },
  { "register/email-too-long", BODY_REGISTER,
    REGISTER ("\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
              "aaaaaaaaaa@b\"",
              "\"12345678\"",
              "\"A\"",
              "[\"tutor\"]"),
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "email: longer than 254 characters" },
  { "register/missing-password", BODY_REGISTER,
    "{\"email\":\"a@b\",\"display_name\":\"A\",\"profile_types\":[\"tutor\"]}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "password: missing" },
  { "register/short-password", BODY_REGISTER,
    REGISTER ("\"a@b\"", "\"1234567\"", "\"A\"", "[\"tutor\"]"), NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "password: shorter than 8 characters" },
  { "register/blank-name", BODY_REGISTER,
    REGISTER ("\"a@b\"", "\"12345678\"", "\"  \\t \"", "[\"tutor\"]"),
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "display_name: empty" },
  { "register/name-too-long", BODY_REGISTER,
    REGISTER ("\"a@b\"",
              "\"12345678\"",
              "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
              "aaaaaaaaaaaaaaaaaaaaa\"",
              "[\"tutor\"]"),
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "display_name: longer than 100 characters" },
  { "register/no-types", BODY_REGISTER, REGISTER ("\"a@b\"", "\"12345678\"", "\"A\"", "[]"),
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "profile_types: empty" },
  { "register/types-string", BODY_REGISTER,
    REGISTER ("\"a@b\"", "\"12345678\"", "\"A\"", "\"tutor\""), NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "profile_types: expected an array" },
  { "register/type-number", BODY_REGISTER,
    REGISTER ("\"a@b\"", "\"12345678\"", "\"A\"", "[\"tutor\",3]"), NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "profile_types[1]: expected a string" },
  { "register/type-invalid", BODY_REGISTER,
    REGISTER ("\"a@b\"", "\"12345678\"", "\"A\"", "[\"tu/tor\"]"), NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "profile_types[0]: profile type may hold only" },
  { "login/missing-email", BODY_LOGIN, "{\"password\":\"x\"}", NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "email: missing" },
  { "login/empty-password", BODY_LOGIN, "{\"email\":\"a@b\",\"password\":\"\"}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "password: empty" },
  { "login/password-null", BODY_LOGIN, "{\"email\":\"a@b\",\"password\":null}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "password: must not be null" },
  { "session/missing-token", BODY_SESSION, "{\"expires_at\":\"t\",\"user\":" USER "}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "token: missing" },
  { "session/user-bad-profile", BODY_SESSION,
    "{\"token\":\"t\",\"expires_at\":\"t\",\"user\":{\"user_id\":1,\"email\":\"a@b\","
    "\"display_name\":\"A\",\"profiles\":[{\"profile_id\":0,\"profile_type\":\"tutor\"}]}}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "user.profiles[0].profile_id: expected a positive integer" },
  { "user/id-negative", BODY_USER,
    "{\"user_id\":-1,\"email\":\"a@b\",\"display_name\":\"A\",\"profiles\":[]}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "user_id: expected a positive integer" },
  { "user/profiles-object", BODY_USER,
    "{\"user_id\":1,\"email\":\"a@b\",\"display_name\":\"A\",\"profiles\":{}}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "profiles: expected an array" },
  { "conversation-request/empty", BODY_CONVERSATION_REQUEST, "{\"with\":[]}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "with: expected 1..1 profiles" },
  { "conversation-request/too-many", BODY_CONVERSATION_REQUEST,
    "{\"with\":[" PROFILE_1 "," PROFILE_2 "]}", NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "with: expected 1..1 profiles" },
  { "conversation-request/bad-type", BODY_CONVERSATION_REQUEST,
    "{\"with\":[{\"profile_id\":2,\"profile_type\":7}]}", NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "with[0].profile_type: expected a string" },
  { "conversation/no-participants", BODY_CONVERSATION,
    "{\"conversation_id\":7,\"participants\":[],\"last_message\":null}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "participants: expected 1..256 profiles" },
  { "conversation/bad-last-message", BODY_CONVERSATION,
    "{\"conversation_id\":7,\"participants\":[" PROFILE_1 "],\"last_message\":{\"message_id\":1}}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "last_message.conversation_id: missing" },
  { "conversation/unread-negative", BODY_CONVERSATION,
    "{\"conversation_id\":7,\"participants\":[" PROFILE_1 "],\"unread_count\":-2}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "unread_count: expected a non-negative integer" },
  { "profiles/missing", BODY_PROFILES, "{}", NATTER_PROTOCOL_ERROR_BAD_FRAME, "profiles: missing" },
  { "profiles/element-string", BODY_PROFILES, "{\"profiles\":[\"a\"]}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "profiles[0]: expected an object" },
  { "conversations/bad-id", BODY_CONVERSATIONS, "{\"conversations\":[{\"conversation_id\":\"7\"}]}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "conversations[0].conversation_id: expected a positive integer" },
  { "calls/bad-call-type", BODY_CALLS,
    "{\"calls\":[{\"call_log_id\":1,\"caller\":" PROFILE_1 ",\"callee\":" PROFILE_2
    ",\"call_type\":\"fax\",\"status\":\"missed\",\"started_at\":\"t\"}]}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "calls[0].call_type: expected \"voice\" or \"video\"" },
  { "messages/missing-has-more", BODY_MESSAGES, "{\"messages\":[]}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "has_more: missing" },
  { "messages/seq-zero", BODY_MESSAGES,
    "{\"messages\":[{\"message_id\":1,\"conversation_id\":7,\"seq\":0}],\"has_more\":false}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "messages[0].seq: expected a positive integer" },
  { "ice-servers/no-urls", BODY_ICE_SERVERS, "{\"ice_servers\":[{}],\"ttl_s\":1}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "ice_servers[0].urls: missing" },
  { "ice-servers/url-number", BODY_ICE_SERVERS,
    "{\"ice_servers\":[{\"urls\":[\"stun:a\",5]}],\"ttl_s\":1}", NATTER_PROTOCOL_ERROR_BAD_FRAME,
    "ice_servers[0].urls[1]: expected a URL string" },
  { "ice-servers/ttl-negative", BODY_ICE_SERVERS, "{\"ice_servers\":[],\"ttl_s\":-1}",
    NATTER_PROTOCOL_ERROR_BAD_FRAME, "ttl_s: expected a non-negative integer" },
};

static gboolean
parse_body (BodyKind kind, const char *body, GError **error)
{
  gsize length = strlen (body);
  gboolean has_more;
  gint64 ttl_s;

  switch (kind) {
    case BODY_REGISTER: {
      g_autoptr (NatterRegisterRequest) parsed =
        natter_register_request_parse (body, length, error);
      return parsed != NULL;
    }
    case BODY_LOGIN: {
      g_autoptr (NatterLoginRequest) parsed = natter_login_request_parse (body, length, error);
      return parsed != NULL;
    }
    case BODY_SESSION: {
      g_autoptr (NatterSession) parsed = natter_session_parse (body, length, error);
      return parsed != NULL;
    }
    case BODY_USER: {
      g_autoptr (NatterUser) parsed = natter_user_parse (body, length, error);
      return parsed != NULL;
    }
    case BODY_CONVERSATION: {
      g_autoptr (NatterConversation) parsed = natter_conversation_parse (body, length, error);
      return parsed != NULL;
    }
    case BODY_CONVERSATION_REQUEST:
    case BODY_PROFILES:
    case BODY_CONVERSATIONS:
    case BODY_CALLS:
    case BODY_MESSAGES:
    case BODY_ICE_SERVERS:
    default: {
      g_autoptr (GPtrArray) parsed = NULL;

      if (kind == BODY_CONVERSATION_REQUEST)
        parsed = natter_conversation_request_parse (body, length, error);
      else if (kind == BODY_PROFILES)
        parsed = natter_profile_list_parse (body, length, error);
      else if (kind == BODY_CONVERSATIONS)
        parsed = natter_conversation_list_parse (body, length, error);
      else if (kind == BODY_CALLS)
        parsed = natter_call_log_list_parse (body, length, error);
      else if (kind == BODY_MESSAGES)
        parsed = natter_message_page_parse (body, length, &has_more, error);
      else
        parsed = natter_ice_servers_parse (body, length, &ttl_s, error);
      return parsed != NULL;
    }
  }
}

static void
test_bad_body (gconstpointer data)
{
  const BadBody *test = data;
  g_autoptr (GError) error = NULL;

  g_assert_false (parse_body (test->kind, test->body, &error));
  g_assert_error (error, NATTER_PROTOCOL_ERROR, (int) test->code);
  assert_contains (error->message, test->message);
}

static void
test_body_too_large (void)
{
  g_autoptr (GString) body = g_string_new ("{\"email\":\"a@b\",\"password\":\"");
  g_autoptr (GError) error = NULL;

  while (body->len <= NATTER_MAX_HTTP_BODY_BYTES)
    g_string_append_c (body, 'x');
  g_string_append (body, "\"}");

  g_assert_null (natter_login_request_parse (body->str, body->len, &error));
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_FRAME_TOO_LARGE);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/http-body/register", test_register);
  g_test_add_func ("/natter/http-body/login", test_login);
  g_test_add_func ("/natter/http-body/session", test_session);
  g_test_add_func ("/natter/http-body/user", test_user);
  g_test_add_func ("/natter/http-body/conversation-request", test_conversation_request);
  g_test_add_func ("/natter/http-body/conversation", test_conversation);
  g_test_add_func ("/natter/http-body/lists", test_lists);
  g_test_add_func ("/natter/http-body/message-page", test_message_page);
  g_test_add_func ("/natter/http-body/ice-servers", test_ice_servers);
  g_test_add_func ("/natter/http-body/error", test_http_error);
  g_test_add_func ("/natter/http-body/too-large", test_body_too_large);

  for (guint i = 0; i < G_N_ELEMENTS (bad_bodies); i++) {
    g_autofree char *path = g_strdup_printf ("/natter/http-body/refuses/%s", bad_bodies[i].name);
    g_test_add_data_func (path, &bad_bodies[i], test_bad_body);
  }

  return g_test_run ();
}
