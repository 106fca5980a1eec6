/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-protocol"

#include "config.h"

#include <string.h>

#include "natter-http-body.h"
#include "natter-json.h"
#include "natter-protocol-private.h"

#define MAX_TOKEN_CHARS 512
#define MAX_TIME_CHARS 64
#define MAX_PROFILE_TYPES 16
#define MAX_ERROR_CODE_CHARS 64
#define MAX_ERROR_MESSAGE_CHARS 1024

static gboolean G_GNUC_PRINTF (3, 4)
  body_error (GError **error, const char *name, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME, "%s: %s", name, what);
  return FALSE;
}

/* Reads a body that must be a JSON object; *out_root keeps it alive. */
static JsonObject *
parse_object (const char *body, gsize length, JsonNode **out_root, GError **error)
{
  JsonNode *root;

  g_return_val_if_fail (body != NULL || length == 0, NULL);

  if (length > NATTER_MAX_HTTP_BODY_BYTES) {
    g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_FRAME_TOO_LARGE,
                 "body of %" G_GSIZE_FORMAT " bytes is over the limit of %d", length,
                 NATTER_MAX_HTTP_BODY_BYTES);
    return NULL;
  }

  root = natter_json_parse (body, length, error);
  if (root == NULL)
    return NULL;

  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    json_node_unref (root);
    g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME,
                         "the body must be a JSON object");
    return NULL;
  }

  *out_root = root;
  return json_node_get_object (root);
}

static char *
object_to_json (JsonObject *object)
{
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), object);

  json_object_unref (object);
  return natter_json_to_string (node, NULL);
}

static JsonArray *
read_array (JsonObject *object, const char *name, GError **error)
{
  JsonNode *node;

  if (!natter_read_member (object, NULL, name, NATTER_FIELD_REQUIRED, &node, error))
    return NULL;

  if (!JSON_NODE_HOLDS_ARRAY (node)) {
    body_error (error, name, "expected an array");
    return NULL;
  }

  return json_node_get_array (node);
}

static gboolean
email_is_valid (const char *email)
{
  const char *at = strchr (email, '@');

  if (at == NULL || at == email || at[1] == '\0' || strchr (at + 1, '@') != NULL)
    return FALSE;

  for (const char *p = email; *p != '\0'; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);

    if (g_unichar_isspace (c) || g_unichar_iscntrl (c))
      return FALSE;
  }

  return TRUE;
}

static gboolean
read_email (JsonObject *object, gboolean check_syntax, char **out_email, GError **error)
{
  g_autofree char *raw = NULL;
  g_autofree char *trimmed = NULL;
  g_autofree char *lowered = NULL;

  /* Room for surrounding spaces; the limit applies after trimming. */
  if (!natter_read_string (object, NULL, "email", NATTER_FIELD_REQUIRED, 4 * NATTER_MAX_EMAIL_CHARS,
                           FALSE, &raw, error))
    return FALSE;

  /* Checked after lowercasing, which can change the length ("İ" -> "i̇"), so
   * that what we write reads back the same. */
  trimmed = natter_utf8_strip (raw);
  lowered = g_utf8_strdown (trimmed, -1);
  if (lowered[0] == '\0')
    return body_error (error, "email", "empty");
  if (g_utf8_strlen (lowered, -1) > NATTER_MAX_EMAIL_CHARS)
    return body_error (error, "email", "longer than %d characters", NATTER_MAX_EMAIL_CHARS);
  if (check_syntax && !email_is_valid (lowered))
    return body_error (error, "email", "not an email address");

  *out_email = g_steal_pointer (&lowered);
  return TRUE;
}

/* Register */

/**
 * natter_register_request_parse:
 * @body: the body of POST /api/register
 * @length: its length in bytes
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the validated request: email trimmed
 *   and lowercased, display name trimmed, profile types normalized and
 *   deduplicated
 */
NatterRegisterRequest *
natter_register_request_parse (const char *body, gsize length, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (NatterRegisterRequest) request = g_new0 (NatterRegisterRequest, 1);
  g_autoptr (GPtrArray) types = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *display_name = NULL;
  JsonObject *object;
  JsonArray *array;
  glong password_chars;
  guint count;

  if (!(object = parse_object (body, length, &root, error)) ||
      !read_email (object, TRUE, &request->email, error) ||
      !natter_read_string (object, NULL, "password", NATTER_FIELD_REQUIRED,
                           NATTER_MAX_PASSWORD_CHARS, TRUE, &request->password, error) ||
      !natter_read_string (object, NULL, "display_name", NATTER_FIELD_REQUIRED,
                           4 * NATTER_MAX_DISPLAY_NAME_CHARS, TRUE, &display_name, error))
    return NULL;

  password_chars = g_utf8_strlen (request->password, -1);
  if (password_chars < NATTER_MIN_PASSWORD_CHARS) {
    body_error (error, "password", "shorter than %d characters", NATTER_MIN_PASSWORD_CHARS);
    return NULL;
  }

  request->display_name = natter_utf8_strip (display_name);
  if (request->display_name[0] == '\0') {
    body_error (error, "display_name", "empty");
    return NULL;
  }
  if (g_utf8_strlen (request->display_name, -1) > NATTER_MAX_DISPLAY_NAME_CHARS) {
    body_error (error, "display_name", "longer than %d characters", NATTER_MAX_DISPLAY_NAME_CHARS);
    return NULL;
  }

  array = read_array (object, "profile_types", error);
  if (array == NULL)
    return NULL;

  count = json_array_get_length (array);
  if (count == 0) {
    body_error (error, "profile_types", "empty");
    return NULL;
  }
  if (count > MAX_PROFILE_TYPES) {
    body_error (error, "profile_types", "more than %d types", MAX_PROFILE_TYPES);
    return NULL;
  }

  for (guint i = 0; i < count; i++) {
    JsonNode *element = json_array_get_element (array, i);
    g_autoptr (GError) local_error = NULL;
    g_autofree char *name = g_strdup_printf ("profile_types[%u]", i);
    char *type;

    if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_STRING) {
      body_error (error, name, "expected a string");
      return NULL;
    }

    type = natter_profile_type_normalize (json_node_get_string (element), &local_error);
    if (type == NULL) {
      body_error (error, name, "%s", local_error->message);
      return NULL;
    }

    if (g_ptr_array_find_with_equal_func (types, type, g_str_equal, NULL))
      g_free (type);
    else
      g_ptr_array_add (types, type);
  }

  g_ptr_array_add (types, NULL);
  request->profile_types = (GStrv) g_ptr_array_free (g_steal_pointer (&types), FALSE);

  return g_steal_pointer (&request);
}

/**
 * natter_register_request_to_json:
 * @request: a #NatterRegisterRequest
 *
 * Returns: (transfer full): the body
 */
char *
natter_register_request_to_json (const NatterRegisterRequest *request)
{
  JsonObject *object;
  JsonArray *types;

  g_return_val_if_fail (request != NULL, NULL);

  object = json_object_new ();
  types = json_array_new ();
  if (request->email != NULL)
    json_object_set_string_member (object, "email", request->email);
  if (request->password != NULL)
    json_object_set_string_member (object, "password", request->password);
  if (request->display_name != NULL)
    json_object_set_string_member (object, "display_name", request->display_name);
  for (guint i = 0; request->profile_types != NULL && request->profile_types[i] != NULL; i++)
    json_array_add_string_element (types, request->profile_types[i]);
  json_object_set_array_member (object, "profile_types", types);

  return object_to_json (object);
}

/**
 * natter_register_request_free:
 * @request: (nullable): a #NatterRegisterRequest
 */
void
natter_register_request_free (NatterRegisterRequest *request)
{
  if (request == NULL)
    return;

  g_free (request->email);
  if (request->password != NULL)
    memset (request->password, 0, strlen (request->password));
  g_free (request->password);
  g_free (request->display_name);
  g_strfreev (request->profile_types);
  g_free (request);
}

/* Login */

/**
 * natter_login_request_parse:
 * @body: the body of POST /api/login
 * @length: its length in bytes
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the request, email trimmed and
 *   lowercased
 */
NatterLoginRequest *
natter_login_request_parse (const char *body, gsize length, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (NatterLoginRequest) request = g_new0 (NatterLoginRequest, 1);
  JsonObject *object;

  /* No syntax check on the email: a wrong one is a 401 like any other. */
  if (!(object = parse_object (body, length, &root, error)) ||
      !read_email (object, FALSE, &request->email, error) ||
      !natter_read_string (object, NULL, "password", NATTER_FIELD_REQUIRED,
                           NATTER_MAX_PASSWORD_CHARS, FALSE, &request->password, error))
    return NULL;

  return g_steal_pointer (&request);
}

/**
 * natter_login_request_to_json:
 * @request: a #NatterLoginRequest
 *
 * Returns: (transfer full): the body
 */
char *
natter_login_request_to_json (const NatterLoginRequest *request)
{
  JsonObject *object;

  g_return_val_if_fail (request != NULL, NULL);

  object = json_object_new ();
  if (request->email != NULL)
    json_object_set_string_member (object, "email", request->email);
  if (request->password != NULL)
    json_object_set_string_member (object, "password", request->password);

  return object_to_json (object);
}

/**
 * natter_login_request_free:
 * @request: (nullable): a #NatterLoginRequest
 */
void
natter_login_request_free (NatterLoginRequest *request)
{
  if (request == NULL)
    return;

  g_free (request->email);
  if (request->password != NULL)
    memset (request->password, 0, strlen (request->password));
  g_free (request->password);
  g_free (request);
}

/* Session */

/**
 * natter_session_parse:
 * @body: the answer to register or login
 * @length: its length in bytes
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the session
 */
NatterSession *
natter_session_parse (const char *body, gsize length, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (NatterSession) session = g_new0 (NatterSession, 1);
  JsonObject *object;
  JsonNode *user;

  if (!(object = parse_object (body, length, &root, error)) ||
      !natter_read_string (object, NULL, "token", NATTER_FIELD_REQUIRED, MAX_TOKEN_CHARS, FALSE,
                           &session->token, error) ||
      !natter_read_string (object, NULL, "expires_at", NATTER_FIELD_REQUIRED, MAX_TIME_CHARS, FALSE,
                           &session->expires_at, error) ||
      !natter_read_member (object, NULL, "user", NATTER_FIELD_REQUIRED, &user, error))
    return NULL;

  session->user = natter_user_from_node (user, "user", error);
  if (session->user == NULL)
    return NULL;

  return g_steal_pointer (&session);
}

/**
 * natter_session_to_json:
 * @session: a #NatterSession
 *
 * Returns: (transfer full): the body
 */
char *
natter_session_to_json (const NatterSession *session)
{
  JsonObject *object;

  g_return_val_if_fail (session != NULL, NULL);

  object = json_object_new ();
  if (session->token != NULL)
    json_object_set_string_member (object, "token", session->token);
  if (session->expires_at != NULL)
    json_object_set_string_member (object, "expires_at", session->expires_at);
  if (session->user != NULL)
    json_object_set_member (object, "user", natter_user_to_node (session->user));

  return object_to_json (object);
}

/**
 * natter_session_free:
 * @session: (nullable): a #NatterSession
 */
void
natter_session_free (NatterSession *session)
{
  if (session == NULL)
    return;

  g_free (session->token);
  g_free (session->expires_at);
  g_clear_pointer (&session->user, natter_user_free);
  g_free (session);
}

/* User */

/**
 * natter_user_parse:
 * @body: the answer to GET /api/me
 * @length: its length in bytes
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the user
 */
NatterUser *
natter_user_parse (const char *body, gsize length, GError **error)
{
  g_autoptr (JsonNode) root = NULL;

  if (parse_object (body, length, &root, error) == NULL)
    return NULL;

  return natter_user_from_node (root, NULL, error);
}

/**
 * natter_user_to_json:
 * @user: a #NatterUser
 *
 * Returns: (transfer full): the body
 */
char *
natter_user_to_json (const NatterUser *user)
{
  g_autoptr (JsonNode) node = NULL;

  g_return_val_if_fail (user != NULL, NULL);

  node = natter_user_to_node (user);
  return natter_json_to_string (node, NULL);
}

/* Conversations */

/**
 * natter_conversation_request_parse:
 * @body: the body of POST …/conversations
 * @length: its length in bytes
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable) (element-type NatterProfile): the
 *   profiles to talk with, as bare references
 */
GPtrArray *
natter_conversation_request_parse (const char *body, gsize length, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GPtrArray) with = NULL;
  JsonObject *object;
  JsonArray *array;
  guint count;

  if (!(object = parse_object (body, length, &root, error)) ||
      !(array = read_array (object, "with", error)))
    return NULL;

  count = json_array_get_length (array);
  if (count < 1 || count > NATTER_MAX_PARTICIPANTS - 1) {
    body_error (error, "with", "expected 1..%d profiles", NATTER_MAX_PARTICIPANTS - 1);
    return NULL;
  }

  with = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  for (guint i = 0; i < count; i++) {
    g_autofree char *name = g_strdup_printf ("with[%u]", i);
    NatterProfile *profile;

    profile = natter_profile_from_node (json_array_get_element (array, i), name, error);
    if (profile == NULL)
      return NULL;

    /* Only the reference counts; names are the server's to say. */
    g_clear_pointer (&profile->display_name, g_free);
    g_clear_pointer (&profile->avatar_url, g_free);
    g_ptr_array_add (with, profile);
  }

  return g_steal_pointer (&with);
}

/**
 * natter_conversation_request_to_json:
 * @with: (element-type NatterProfile): the profiles to talk with
 *
 * Returns: (transfer full): the body, with bare references
 */
char *
natter_conversation_request_to_json (GPtrArray *with)
{
  JsonObject *object = json_object_new ();
  JsonArray *array = json_array_new ();

  for (guint i = 0; with != NULL && i < with->len; i++) {
    const NatterProfile *profile = g_ptr_array_index (with, i);
    JsonObject *reference = json_object_new ();

    json_object_set_int_member (reference, "profile_id", profile->profile_id);
    if (profile->profile_type != NULL)
      json_object_set_string_member (reference, "profile_type", profile->profile_type);
    json_array_add_object_element (array, reference);
  }
  json_object_set_array_member (object, "with", array);

  return object_to_json (object);
}

/**
 * natter_conversation_parse:
 * @body: a conversation
 * @length: its length in bytes
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the conversation
 */
NatterConversation *
natter_conversation_parse (const char *body, gsize length, GError **error)
{
  g_autoptr (JsonNode) root = NULL;

  if (parse_object (body, length, &root, error) == NULL)
    return NULL;

  return natter_conversation_from_node (root, NULL, error);
}

/**
 * natter_conversation_to_json:
 * @conversation: a #NatterConversation
 *
 * Returns: (transfer full): the body
 */
char *
natter_conversation_to_json (const NatterConversation *conversation)
{
  g_autoptr (JsonNode) node = NULL;

  g_return_val_if_fail (conversation != NULL, NULL);

  node = natter_conversation_to_node (conversation);
  return natter_json_to_string (node, NULL);
}

/* Lists */

typedef gpointer (*RecordFromNode) (JsonNode *node, const char *field, GError **error);
typedef JsonNode *(*RecordToNode) (gconstpointer record);

static GPtrArray *
parse_list (JsonObject *object,
            const char *name,
            RecordFromNode from_node,
            GDestroyNotify free_func,
            GError **error)
{
  g_autoptr (GPtrArray) records = NULL;
  JsonArray *array;
  guint count;

  array = read_array (object, name, error);
  if (array == NULL)
    return NULL;

  count = json_array_get_length (array);
  records = g_ptr_array_new_full (count, free_func);
  for (guint i = 0; i < count; i++) {
    g_autofree char *path = g_strdup_printf ("%s[%u]", name, i);
    gpointer record = from_node (json_array_get_element (array, i), path, error);

    if (record == NULL)
      return NULL;
    g_ptr_array_add (records, record);
  }

  return g_steal_pointer (&records);
}

static JsonArray *
list_to_array (GPtrArray *records, RecordToNode to_node)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; records != NULL && i < records->len; i++)
    json_array_add_element (array, to_node (g_ptr_array_index (records, i)));

  return array;
}

static GPtrArray *
parse_list_body (const char *body,
                 gsize length,
                 const char *name,
                 RecordFromNode from_node,
                 GDestroyNotify free_func,
                 GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  JsonObject *object;

  object = parse_object (body, length, &root, error);
  if (object == NULL)
    return NULL;

  return parse_list (object, name, from_node, free_func, error);
}

static char *
list_to_json (const char *name, GPtrArray *records, RecordToNode to_node)
{
  JsonObject *object = json_object_new ();

  json_object_set_array_member (object, name, list_to_array (records, to_node));
  return object_to_json (object);
}

/**
 * natter_profile_list_parse:
 * @body: {"profiles":[…]}
 * @length: its length in bytes
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable) (element-type NatterProfile): the profiles
 */
GPtrArray *
natter_profile_list_parse (const char *body, gsize length, GError **error)
{
  return parse_list_body (body, length, "profiles", (RecordFromNode) natter_profile_from_node,
                          (GDestroyNotify) natter_profile_free, error);
}

/**
 * natter_profile_list_to_json:
 * @profiles: (element-type NatterProfile) (nullable): the profiles
 *
 * Returns: (transfer full): {"profiles":[…]}
 */
char *
natter_profile_list_to_json (GPtrArray *profiles)
{
  return list_to_json ("profiles", profiles, (RecordToNode) natter_profile_to_node);
}

/**
 * natter_conversation_list_parse:
 * @body: {"conversations":[…]}
 * @length: its length in bytes
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable) (element-type NatterConversation): the
 *   conversations
 */
GPtrArray *
natter_conversation_list_parse (const char *body, gsize length, GError **error)
{
  return parse_list_body (body, length, "conversations",
                          (RecordFromNode) natter_conversation_from_node,
                          (GDestroyNotify) natter_conversation_free, error);
}

/**
 * natter_conversation_list_to_json:
 * @conversations: (element-type NatterConversation) (nullable): the
 *   conversations
 *
 * Returns: (transfer full): {"conversations":[…]}
 */
char *
natter_conversation_list_to_json (GPtrArray *conversations)
{
  return list_to_json ("conversations", conversations, (RecordToNode) natter_conversation_to_node);
}

/**
 * natter_call_log_list_parse:
 * @body: {"calls":[…]}
 * @length: its length in bytes
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable) (element-type NatterCallLog): the calls
 */
GPtrArray *
natter_call_log_list_parse (const char *body, gsize length, GError **error)
{
  return parse_list_body (body, length, "calls", (RecordFromNode) natter_call_log_from_node,
                          (GDestroyNotify) natter_call_log_free, error);
}

/**
 * natter_call_log_list_to_json:
 * @calls: (element-type NatterCallLog) (nullable): the calls
 *
 * Returns: (transfer full): {"calls":[…]}
 */
char *
natter_call_log_list_to_json (GPtrArray *calls)
{
  return list_to_json ("calls", calls, (RecordToNode) natter_call_log_to_node);
}

/**
 * natter_message_page_parse:
 * @body: {"messages":[…],"has_more":bool}
 * @length: its length in bytes
 * @out_has_more: (out) (optional): whether older messages exist
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable) (element-type NatterMessage): the
 *   messages, oldest first
 */
GPtrArray *
natter_message_page_parse (const char *body, gsize length, gboolean *out_has_more, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GPtrArray) messages = NULL;
  gboolean has_more = FALSE;
  JsonObject *object;

  if (!(object = parse_object (body, length, &root, error)) ||
      !(messages = parse_list (object, "messages", (RecordFromNode) natter_message_from_node,
                               (GDestroyNotify) natter_message_free, error)) ||
      !natter_read_bool (object, NULL, "has_more", NATTER_FIELD_REQUIRED, &has_more, error))
    return NULL;

  if (out_has_more != NULL)
    *out_has_more = has_more;

  return g_steal_pointer (&messages);
}

/**
 * natter_message_page_to_json:
 * @messages: (element-type NatterMessage) (nullable): the messages
 * @has_more: whether older messages exist
 *
 * Returns: (transfer full): {"messages":[…],"has_more":bool}
 */
char *
natter_message_page_to_json (GPtrArray *messages, gboolean has_more)
{
  JsonObject *object = json_object_new ();

  json_object_set_array_member (object, "messages",
                                list_to_array (messages, (RecordToNode) natter_message_to_node));
  json_object_set_boolean_member (object, "has_more", has_more);
  return object_to_json (object);
}

/**
 * natter_ice_servers_parse:
 * @body: {"ice_servers":[…],"ttl_s":N}
 * @length: its length in bytes
 * @out_ttl_s: (out) (optional): how long the credentials last
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable) (element-type NatterIceServer): the
 *   servers
 */
GPtrArray *
natter_ice_servers_parse (const char *body, gsize length, gint64 *out_ttl_s, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GPtrArray) servers = NULL;
  gint64 ttl_s = 0;
  JsonObject *object;

  if (!(object = parse_object (body, length, &root, error)) ||
      !(servers = parse_list (object, "ice_servers", (RecordFromNode) natter_ice_server_from_node,
                              (GDestroyNotify) natter_ice_server_free, error)) ||
      !natter_read_int (object, NULL, "ttl_s", NATTER_FIELD_REQUIRED, 0, NATTER_MAX_ID, &ttl_s,
                        error))
    return NULL;

  if (out_ttl_s != NULL)
    *out_ttl_s = ttl_s;

  return g_steal_pointer (&servers);
}

/**
 * natter_ice_servers_to_json:
 * @servers: (element-type NatterIceServer) (nullable): the servers
 * @ttl_s: how long the credentials last
 *
 * Returns: (transfer full): {"ice_servers":[…],"ttl_s":N}
 */
char *
natter_ice_servers_to_json (GPtrArray *servers, gint64 ttl_s)
{
  JsonObject *object = json_object_new ();

  json_object_set_array_member (object, "ice_servers",
                                list_to_array (servers, (RecordToNode) natter_ice_server_to_node));
  json_object_set_int_member (object, "ttl_s", ttl_s);
  return object_to_json (object);
}

/* Errors */

/**
 * natter_http_error_to_json:
 * @code: the error word, like "bad_frame"
 * @message: (nullable): a human explanation
 *
 * Returns: (transfer full): {"error":{"code","message"}}
 */
char *
natter_http_error_to_json (const char *code, const char *message)
{
  JsonObject *object = json_object_new ();
  JsonObject *inner = json_object_new ();

  g_return_val_if_fail (code != NULL, NULL);

  json_object_set_string_member (inner, "code", code);
  json_object_set_string_member (inner, "message", message != NULL ? message : "");
  json_object_set_object_member (object, "error", inner);

  return object_to_json (object);
}

/**
 * natter_http_error_parse:
 * @body: an HTTP error body
 * @length: its length in bytes
 * @out_code: (out) (optional) (transfer full): the error word
 * @out_message: (out) (optional) (transfer full): the explanation
 *
 * Returns: %TRUE if @body is {"error":{"code","message"}}
 */
gboolean
natter_http_error_parse (const char *body, gsize length, char **out_code, char **out_message)
{
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *code = NULL;
  g_autofree char *message = NULL;
  JsonObject *object;
  JsonNode *inner_node;
  JsonObject *inner;

  if (body == NULL && length > 0)
    return FALSE;

  if (!(object = parse_object (body, length, &root, NULL)) ||
      !natter_read_member (object, NULL, "error", NATTER_FIELD_REQUIRED, &inner_node, NULL) ||
      !(inner = natter_node_get_object (inner_node, "error", NULL)) ||
      !natter_read_string (inner, "error", "code", NATTER_FIELD_REQUIRED, MAX_ERROR_CODE_CHARS,
                           FALSE, &code, NULL) ||
      !natter_read_string (inner, "error", "message", NATTER_FIELD_OPTIONAL,
                           MAX_ERROR_MESSAGE_CHARS, TRUE, &message, NULL))
    return FALSE;

  if (out_code != NULL)
    *out_code = g_steal_pointer (&code);
  if (out_message != NULL)
    *out_message = message != NULL ? g_steal_pointer (&message) : g_strdup ("");

  return TRUE;
}

/**
 * natter_block_request_parse:
 * @body: the body of POST …/blocks: {"profile_id","profile_type"}
 * @length: its length in bytes
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the profile to block, a bare reference
 */
NatterProfile *
natter_block_request_parse (const char *body, gsize length, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  NatterProfile *profile;

  if (parse_object (body, length, &root, error) == NULL)
    return NULL;

  profile = natter_profile_from_node (root, "profile", error);
  if (profile == NULL)
    return NULL;
  g_clear_pointer (&profile->display_name, g_free);
  g_clear_pointer (&profile->avatar_url, g_free);

  return profile;
}

/**
 * natter_block_request_to_json:
 * @profile: the profile to block
 *
 * Returns: (transfer full): {"profile_id","profile_type"}
 */
char *
natter_block_request_to_json (const NatterProfile *profile)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  g_return_val_if_fail (profile != NULL, NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "profile_id");
  json_builder_add_int_value (builder, profile->profile_id);
  json_builder_set_member_name (builder, "profile_type");
  json_builder_add_string_value (builder, profile->profile_type);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);

  return json_to_string (root, FALSE);
}

/**
 * natter_block_list_parse:
 * @body: {"blocked":[profile…]}
 * @length: its length in bytes
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable) (element-type NatterProfile): the
 *   blocked profiles
 */
GPtrArray *
natter_block_list_parse (const char *body, gsize length, GError **error)
{
  return parse_list_body (body, length, "blocked", (RecordFromNode) natter_profile_from_node,
                          (GDestroyNotify) natter_profile_free, error);
}

/**
 * natter_block_list_to_json:
 * @profiles: (element-type NatterProfile) (nullable): the blocked profiles
 *
 * Returns: (transfer full): {"blocked":[…]}
 */
char *
natter_block_list_to_json (GPtrArray *profiles)
{
  return list_to_json ("blocked", profiles, (RecordToNode) natter_profile_to_node);
}
