/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-protocol"

#include "config.h"

#include <string.h>

#include "natter-protocol.h"
#include "natter-protocol-private.h"
#include "natter-types.h"

#define MAX_TIME_CHARS 64
#define MAX_URL_CHARS 2048
#define MAX_STATUS_CHARS 16

G_DEFINE_BOXED_TYPE (NatterProfile, natter_profile, natter_profile_copy, natter_profile_free)
G_DEFINE_BOXED_TYPE (NatterMessage, natter_message, natter_message_copy, natter_message_free)
G_DEFINE_BOXED_TYPE (NatterCallLog, natter_call_log, natter_call_log_copy, natter_call_log_free)
G_DEFINE_BOXED_TYPE (NatterConversation,
                     natter_conversation,
                     natter_conversation_copy,
                     natter_conversation_free)
G_DEFINE_BOXED_TYPE (NatterUser, natter_user, natter_user_copy, natter_user_free)

static gboolean G_GNUC_PRINTF (4, 5)
  field_error (GError **error, const char *prefix, const char *name, const char *format, ...)
{
  g_autofree char *path = natter_field_path (prefix, name);
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME, "%s: %s", path, what);
  return FALSE;
}

char *
natter_field_path (const char *prefix, const char *name)
{
  if (prefix == NULL || prefix[0] == '\0')
    return g_strdup (name);
  if (name == NULL || name[0] == '\0')
    return g_strdup (prefix);

  return g_strconcat (prefix, ".", name, NULL);
}

char *
natter_describe_string (const char *text, gsize max_chars)
{
  GString *out = g_string_new (NULL);
  gsize count = 0;

  for (const char *p = text; p != NULL && *p != '\0'; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);

    if (count == max_chars) {
      g_string_append (out, "…");
      break;
    }

    if (c == '"' || c == '\\' || !g_unichar_isprint (c))
      g_string_append_c (out, '?');
    else
      g_string_append_unichar (out, c);
    count++;
  }

  return g_string_free (out, FALSE);
}

JsonObject *
natter_node_get_object (JsonNode *node, const char *path, GError **error)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
    if (path == NULL || path[0] == '\0')
      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME,
                           "expected a JSON object");
    else
      g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FRAME,
                   "%s: expected an object", path);
    return NULL;
  }

  return json_node_get_object (node);
}

gboolean
natter_read_member (JsonObject *object,
                    const char *prefix,
                    const char *name,
                    NatterFieldPresence presence,
                    JsonNode **out_node,
                    GError **error)
{
  JsonNode *node = json_object_get_member (object, name);

  *out_node = NULL;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node)) {
    if (presence == NATTER_FIELD_REQUIRED)
      return field_error (error, prefix, name, node == NULL ? "missing" : "must not be null");
    return TRUE;
  }

  *out_node = node;
  return TRUE;
}

static gboolean
node_holds_int (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64;
}

gboolean
natter_read_int (JsonObject *object,
                 const char *prefix,
                 const char *name,
                 NatterFieldPresence presence,
                 gint64 min,
                 gint64 max,
                 gint64 *out_value,
                 GError **error)
{
  JsonNode *node;
  gint64 value;

  if (!natter_read_member (object, prefix, name, presence, &node, error))
    return FALSE;
  if (node == NULL)
    return TRUE;

  if (!node_holds_int (node) || (value = json_node_get_int (node)) < min) {
    if (min == 1)
      return field_error (error, prefix, name, "expected a positive integer");
    if (min == 0)
      return field_error (error, prefix, name, "expected a non-negative integer");
    return field_error (error, prefix, name, "expected an integer of at least %" G_GINT64_FORMAT,
                        min);
  }

  if (value > max)
    return field_error (error, prefix, name,
                        "expected an integer in %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, min, max);

  *out_value = value;
  return TRUE;
}

gboolean
natter_read_id (JsonObject *object,
                const char *prefix,
                const char *name,
                NatterFieldPresence presence,
                gint64 *out_id,
                GError **error)
{
  return natter_read_int (object, prefix, name, presence, 1, NATTER_MAX_ID, out_id, error);
}

gboolean
natter_read_bool (JsonObject *object,
                  const char *prefix,
                  const char *name,
                  NatterFieldPresence presence,
                  gboolean *out_value,
                  GError **error)
{
  JsonNode *node;

  if (!natter_read_member (object, prefix, name, presence, &node, error))
    return FALSE;
  if (node == NULL)
    return TRUE;

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return field_error (error, prefix, name, "expected true or false");

  *out_value = json_node_get_boolean (node);
  return TRUE;
}

gboolean
natter_read_string (JsonObject *object,
                    const char *prefix,
                    const char *name,
                    NatterFieldPresence presence,
                    gsize max_chars,
                    gboolean allow_empty,
                    char **out_string,
                    GError **error)
{
  JsonNode *node;
  const char *text;

  if (!natter_read_member (object, prefix, name, presence, &node, error))
    return FALSE;
  if (node == NULL)
    return TRUE;

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return field_error (error, prefix, name, "expected a string");

  text = json_node_get_string (node);
  if (!allow_empty && text[0] == '\0')
    return field_error (error, prefix, name, "empty");

  if (g_utf8_strlen (text, -1) > (glong) max_chars)
    return field_error (error, prefix, name, "longer than %" G_GSIZE_FORMAT " characters",
                        max_chars);

  g_free (*out_string);
  *out_string = g_strdup (text);
  return TRUE;
}

gboolean
natter_read_profile_type (JsonObject *object,
                          const char *prefix,
                          const char *name,
                          NatterFieldPresence presence,
                          char **out_profile_type,
                          GError **error)
{
  JsonNode *node;
  g_autoptr (GError) local_error = NULL;
  char *normalized;

  if (!natter_read_member (object, prefix, name, presence, &node, error))
    return FALSE;
  if (node == NULL)
    return TRUE;

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return field_error (error, prefix, name, "expected a string");

  normalized = natter_profile_type_normalize (json_node_get_string (node), &local_error);
  if (normalized == NULL)
    return field_error (error, prefix, name, "%s", local_error->message);

  g_free (*out_profile_type);
  *out_profile_type = normalized;
  return TRUE;
}

char *
natter_utf8_strip (const char *text)
{
  const char *start = text;
  const char *end = text + strlen (text);

  while (start < end && g_unichar_isspace (g_utf8_get_char (start)))
    start = g_utf8_next_char (start);

  while (end > start) {
    const char *last = g_utf8_prev_char (end);

    if (!g_unichar_isspace (g_utf8_get_char (last)))
      break;
    end = last;
  }

  return g_strndup (start, end - start);
}

static void
set_string_if (JsonObject *object, const char *name, const char *value)
{
  if (value != NULL)
    json_object_set_string_member (object, name, value);
}

static void
set_string_or_null (JsonObject *object, const char *name, const char *value)
{
  if (value != NULL)
    json_object_set_string_member (object, name, value);
  else
    json_object_set_null_member (object, name);
}

static JsonNode *
node_new_object (JsonObject *object)
{
  JsonNode *node = json_node_init_object (json_node_alloc (), object);

  json_object_unref (object);
  return node;
}

/* NatterProfile */

/**
 * natter_profile_new:
 * @profile_id: the id, 1..2^53-1
 * @profile_type: the type, lowercase
 * @display_name: (nullable): the name shown
 * @avatar_url: (nullable): where the avatar is
 *
 * Returns: (transfer full): a new #NatterProfile
 */
NatterProfile *
natter_profile_new (gint64 profile_id,
                    const char *profile_type,
                    const char *display_name,
                    const char *avatar_url)
{
  NatterProfile *profile = g_new0 (NatterProfile, 1);

  profile->profile_id = profile_id;
  profile->profile_type = g_strdup (profile_type);
  profile->display_name = g_strdup (display_name);
  profile->avatar_url = g_strdup (avatar_url);

  return profile;
}

/**
 * natter_profile_copy:
 * @profile: a #NatterProfile
 *
 * Returns: (transfer full): a deep copy
 */
NatterProfile *
natter_profile_copy (const NatterProfile *profile)
{
  g_return_val_if_fail (profile != NULL, NULL);

  return natter_profile_new (profile->profile_id, profile->profile_type, profile->display_name,
                             profile->avatar_url);
}

/**
 * natter_profile_free:
 * @profile: (nullable): a #NatterProfile
 */
void
natter_profile_free (NatterProfile *profile)
{
  if (profile == NULL)
    return;

  g_free (profile->profile_type);
  g_free (profile->display_name);
  g_free (profile->avatar_url);
  g_free (profile);
}

/**
 * natter_profile_equal:
 * @a: (nullable): a #NatterProfile
 * @b: (nullable): a #NatterProfile
 *
 * Returns: %TRUE if both name the same profile (id and type)
 */
gboolean
natter_profile_equal (const NatterProfile *a, const NatterProfile *b)
{
  if (a == NULL || b == NULL)
    return a == b;

  return a->profile_id == b->profile_id && g_strcmp0 (a->profile_type, b->profile_type) == 0;
}

/**
 * natter_profile_to_node:
 * @profile: a #NatterProfile
 *
 * Returns: (transfer full): its JSON object
 */
JsonNode *
natter_profile_to_node (const NatterProfile *profile)
{
  JsonObject *object;

  g_return_val_if_fail (profile != NULL, NULL);

  object = json_object_new ();
  json_object_set_int_member (object, "profile_id", profile->profile_id);
  set_string_if (object, "profile_type", profile->profile_type);
  set_string_if (object, "display_name", profile->display_name);
  set_string_if (object, "avatar_url", profile->avatar_url);

  return node_new_object (object);
}

/**
 * natter_profile_from_node:
 * @node: a JSON value
 * @field: (nullable): the path of @node, for error messages
 * @error: a #GError
 *
 * Reads a profile; a bare reference (only id and type) is accepted.
 *
 * Returns: (transfer full) (nullable): the profile
 */
NatterProfile *
natter_profile_from_node (JsonNode *node, const char *field, GError **error)
{
  g_autoptr (NatterProfile) profile = g_new0 (NatterProfile, 1);
  JsonObject *object;

  if (!(object = natter_node_get_object (node, field, error)) ||
      !natter_read_id (object, field, "profile_id", NATTER_FIELD_REQUIRED, &profile->profile_id,
                       error) ||
      !natter_read_profile_type (object, field, "profile_type", NATTER_FIELD_REQUIRED,
                                 &profile->profile_type, error) ||
      !natter_read_string (object, field, "display_name", NATTER_FIELD_OPTIONAL,
                           NATTER_MAX_DISPLAY_NAME_CHARS, TRUE, &profile->display_name, error) ||
      !natter_read_string (object, field, "avatar_url", NATTER_FIELD_OPTIONAL, MAX_URL_CHARS, TRUE,
                           &profile->avatar_url, error))
    return NULL;

  return g_steal_pointer (&profile);
}

static gboolean
read_profile_member (JsonObject *object,
                     const char *prefix,
                     const char *name,
                     NatterFieldPresence presence,
                     NatterProfile **out_profile,
                     GError **error)
{
  g_autofree char *path = natter_field_path (prefix, name);
  JsonNode *node;
  NatterProfile *profile;

  if (!natter_read_member (object, prefix, name, presence, &node, error))
    return FALSE;
  if (node == NULL)
    return TRUE;

  profile = natter_profile_from_node (node, path, error);
  if (profile == NULL)
    return FALSE;

  g_clear_pointer (out_profile, natter_profile_free);
  *out_profile = profile;
  return TRUE;
}

/* An absent, null or empty array leaves *out_attachments NULL. */
static gboolean
read_attachments_member (JsonObject *object,
                         const char *prefix,
                         GPtrArray **out_attachments,
                         GError **error)
{
  g_autofree char *path = natter_field_path (prefix, "attachments");
  JsonNode *node;
  GPtrArray *attachments;

  if (!natter_read_member (object, prefix, "attachments", NATTER_FIELD_OPTIONAL, &node, error))
    return FALSE;
  if (node == NULL)
    return TRUE;

  attachments = natter_attachment_list_from_node (node, path, error);
  if (attachments == NULL)
    return FALSE;

  g_clear_pointer (out_attachments, g_ptr_array_unref);
  if (attachments->len == 0)
    g_ptr_array_unref (attachments);
  else
    *out_attachments = attachments;
  return TRUE;
}

/* NatterMessage */

/**
 * natter_message_new:
 *
 * Returns: (transfer full): an empty #NatterMessage
 */
NatterMessage *
natter_message_new (void)
{
  return g_new0 (NatterMessage, 1);
}

/**
 * natter_message_copy:
 * @message: a #NatterMessage
 *
 * Returns: (transfer full): a deep copy
 */
NatterMessage *
natter_message_copy (const NatterMessage *message)
{
  NatterMessage *copy;

  g_return_val_if_fail (message != NULL, NULL);

  copy = natter_message_new ();
  copy->message_id = message->message_id;
  copy->conversation_id = message->conversation_id;
  copy->seq = message->seq;
  copy->sender = message->sender != NULL ? natter_profile_copy (message->sender) : NULL;
  copy->text = g_strdup (message->text);
  copy->sent_at = g_strdup (message->sent_at);
  copy->client_msg_id = g_strdup (message->client_msg_id);
  if (message->attachments != NULL) {
    copy->attachments = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_attachment_free);
    for (guint i = 0; i < message->attachments->len; i++)
      g_ptr_array_add (copy->attachments,
                       natter_attachment_copy (g_ptr_array_index (message->attachments, i)));
  }

  return copy;
}

/**
 * natter_message_free:
 * @message: (nullable): a #NatterMessage
 */
void
natter_message_free (NatterMessage *message)
{
  if (message == NULL)
    return;

  g_clear_pointer (&message->sender, natter_profile_free);
  g_free (message->text);
  g_free (message->sent_at);
  g_free (message->client_msg_id);
  g_clear_pointer (&message->attachments, g_ptr_array_unref);
  g_free (message);
}

/**
 * natter_message_to_node:
 * @message: a #NatterMessage
 *
 * Returns: (transfer full): its JSON object
 */
JsonNode *
natter_message_to_node (const NatterMessage *message)
{
  JsonObject *object;

  g_return_val_if_fail (message != NULL, NULL);

  object = json_object_new ();
  json_object_set_int_member (object, "message_id", message->message_id);
  json_object_set_int_member (object, "conversation_id", message->conversation_id);
  json_object_set_int_member (object, "seq", message->seq);
  if (message->sender != NULL)
    json_object_set_member (object, "sender", natter_profile_to_node (message->sender));
  set_string_if (object, "text", message->text);
  set_string_if (object, "sent_at", message->sent_at);
  set_string_if (object, "client_msg_id", message->client_msg_id);
  if (message->attachments != NULL && message->attachments->len > 0)
    json_object_set_member (object, "attachments",
                            natter_attachment_list_to_node (message->attachments));

  return node_new_object (object);
}

/**
 * natter_message_from_node:
 * @node: a JSON value
 * @field: (nullable): the path of @node, for error messages
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the message
 */
NatterMessage *
natter_message_from_node (JsonNode *node, const char *field, GError **error)
{
  g_autoptr (NatterMessage) message = natter_message_new ();
  JsonObject *object;

  if (!(object = natter_node_get_object (node, field, error)) ||
      !natter_read_id (object, field, "message_id", NATTER_FIELD_REQUIRED, &message->message_id,
                       error) ||
      !natter_read_id (object, field, "conversation_id", NATTER_FIELD_REQUIRED,
                       &message->conversation_id, error) ||
      !natter_read_id (object, field, "seq", NATTER_FIELD_REQUIRED, &message->seq, error) ||
      !read_profile_member (object, field, "sender", NATTER_FIELD_REQUIRED, &message->sender,
                            error) ||
      !natter_read_string (object, field, "text", NATTER_FIELD_REQUIRED, NATTER_MAX_CHAT_TEXT_CHARS,
                           TRUE, &message->text, error) ||
      !natter_read_string (object, field, "sent_at", NATTER_FIELD_REQUIRED, MAX_TIME_CHARS, FALSE,
                           &message->sent_at, error) ||
      !natter_read_string (object, field, "client_msg_id", NATTER_FIELD_OPTIONAL,
                           NATTER_MAX_CLIENT_ID_CHARS, TRUE, &message->client_msg_id, error) ||
      !read_attachments_member (object, field, &message->attachments, error))
    return NULL;

  return g_steal_pointer (&message);
}

/* NatterCallLog */

/**
 * natter_call_type_is_valid:
 * @call_type: (nullable): a call type
 *
 * Returns: %TRUE for "voice" and "video"
 */
gboolean
natter_call_type_is_valid (const char *call_type)
{
  return g_strcmp0 (call_type, "voice") == 0 || g_strcmp0 (call_type, "video") == 0;
}

/**
 * natter_call_status_is_valid:
 * @status: (nullable): a call status
 *
 * Returns: %TRUE for the statuses of PROTOCOL.md's call log
 */
gboolean
natter_call_status_is_valid (const char *status)
{
  static const char *const statuses[] = {
    "ringing", "answered", "missed", "declined", "cancelled", "busy", "failed",
  };

  for (guint i = 0; i < G_N_ELEMENTS (statuses); i++) {
    if (g_strcmp0 (status, statuses[i]) == 0)
      return TRUE;
  }

  return FALSE;
}

/**
 * natter_call_log_new:
 *
 * Returns: (transfer full): an empty #NatterCallLog
 */
NatterCallLog *
natter_call_log_new (void)
{
  return g_new0 (NatterCallLog, 1);
}

/**
 * natter_call_log_copy:
 * @call_log: a #NatterCallLog
 *
 * Returns: (transfer full): a deep copy
 */
NatterCallLog *
natter_call_log_copy (const NatterCallLog *call_log)
{
  NatterCallLog *copy;

  g_return_val_if_fail (call_log != NULL, NULL);

  copy = natter_call_log_new ();
  copy->call_log_id = call_log->call_log_id;
  copy->conversation_id = call_log->conversation_id;
  copy->caller = call_log->caller != NULL ? natter_profile_copy (call_log->caller) : NULL;
  copy->callee = call_log->callee != NULL ? natter_profile_copy (call_log->callee) : NULL;
  copy->call_type = g_strdup (call_log->call_type);
  copy->status = g_strdup (call_log->status);
  copy->started_at = g_strdup (call_log->started_at);
  copy->answered_at = g_strdup (call_log->answered_at);
  copy->ended_at = g_strdup (call_log->ended_at);
  copy->duration_s = call_log->duration_s;

  return copy;
}

/**
 * natter_call_log_free:
 * @call_log: (nullable): a #NatterCallLog
 */
void
natter_call_log_free (NatterCallLog *call_log)
{
  if (call_log == NULL)
    return;

  g_clear_pointer (&call_log->caller, natter_profile_free);
  g_clear_pointer (&call_log->callee, natter_profile_free);
  g_free (call_log->call_type);
  g_free (call_log->status);
  g_free (call_log->started_at);
  g_free (call_log->answered_at);
  g_free (call_log->ended_at);
  g_free (call_log);
}

/**
 * natter_call_log_to_node:
 * @call_log: a #NatterCallLog
 *
 * Returns: (transfer full): its JSON object; absent times are null
 */
JsonNode *
natter_call_log_to_node (const NatterCallLog *call_log)
{
  JsonObject *object;

  g_return_val_if_fail (call_log != NULL, NULL);

  object = json_object_new ();
  json_object_set_int_member (object, "call_log_id", call_log->call_log_id);
  if (call_log->conversation_id != 0)
    json_object_set_int_member (object, "conversation_id", call_log->conversation_id);
  else
    json_object_set_null_member (object, "conversation_id");
  if (call_log->caller != NULL)
    json_object_set_member (object, "caller", natter_profile_to_node (call_log->caller));
  if (call_log->callee != NULL)
    json_object_set_member (object, "callee", natter_profile_to_node (call_log->callee));
  set_string_if (object, "call_type", call_log->call_type);
  set_string_if (object, "status", call_log->status);
  set_string_if (object, "started_at", call_log->started_at);
  set_string_or_null (object, "answered_at", call_log->answered_at);
  set_string_or_null (object, "ended_at", call_log->ended_at);
  json_object_set_int_member (object, "duration_s", call_log->duration_s);

  return node_new_object (object);
}

static gboolean
read_word (JsonObject *object,
           const char *prefix,
           const char *name,
           gboolean (*is_valid) (const char *word),
           const char *expected,
           char **out_word,
           GError **error)
{
  g_autofree char *word = NULL;

  if (!natter_read_string (object, prefix, name, NATTER_FIELD_REQUIRED, MAX_STATUS_CHARS, FALSE,
                           &word, error))
    return FALSE;

  if (!is_valid (word))
    return field_error (error, prefix, name, "expected %s", expected);

  g_free (*out_word);
  *out_word = g_steal_pointer (&word);
  return TRUE;
}

/**
 * natter_call_log_from_node:
 * @node: a JSON value
 * @field: (nullable): the path of @node, for error messages
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the call log entry
 */
NatterCallLog *
natter_call_log_from_node (JsonNode *node, const char *field, GError **error)
{
  g_autoptr (NatterCallLog) call_log = natter_call_log_new ();
  JsonObject *object;

  if (!(object = natter_node_get_object (node, field, error)) ||
      !natter_read_id (object, field, "call_log_id", NATTER_FIELD_REQUIRED, &call_log->call_log_id,
                       error) ||
      !natter_read_id (object, field, "conversation_id", NATTER_FIELD_OPTIONAL,
                       &call_log->conversation_id, error) ||
      !read_profile_member (object, field, "caller", NATTER_FIELD_REQUIRED, &call_log->caller,
                            error) ||
      !read_profile_member (object, field, "callee", NATTER_FIELD_REQUIRED, &call_log->callee,
                            error) ||
      !read_word (object, field, "call_type", natter_call_type_is_valid, "\"voice\" or \"video\"",
                  &call_log->call_type, error) ||
      !read_word (object, field, "status", natter_call_status_is_valid, "a call status",
                  &call_log->status, error) ||
      !natter_read_string (object, field, "started_at", NATTER_FIELD_REQUIRED, MAX_TIME_CHARS,
                           FALSE, &call_log->started_at, error) ||
      !natter_read_string (object, field, "answered_at", NATTER_FIELD_OPTIONAL, MAX_TIME_CHARS,
                           FALSE, &call_log->answered_at, error) ||
      !natter_read_string (object, field, "ended_at", NATTER_FIELD_OPTIONAL, MAX_TIME_CHARS, FALSE,
                           &call_log->ended_at, error) ||
      !natter_read_int (object, field, "duration_s", NATTER_FIELD_OPTIONAL, 0, NATTER_MAX_ID,
                        &call_log->duration_s, error))
    return NULL;

  return g_steal_pointer (&call_log);
}

/* NatterConversation */

static GPtrArray *
profile_array_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
}

/**
 * natter_conversation_new:
 *
 * Returns: (transfer full): an empty #NatterConversation with an empty
 *   participants array
 */
NatterConversation *
natter_conversation_new (void)
{
  NatterConversation *conversation = g_new0 (NatterConversation, 1);

  conversation->participants = profile_array_new ();
  return conversation;
}

/**
 * natter_conversation_copy:
 * @conversation: a #NatterConversation
 *
 * Returns: (transfer full): a deep copy
 */
NatterConversation *
natter_conversation_copy (const NatterConversation *conversation)
{
  NatterConversation *copy;

  g_return_val_if_fail (conversation != NULL, NULL);

  copy = natter_conversation_new ();
  copy->conversation_id = conversation->conversation_id;
  for (guint i = 0; conversation->participants != NULL && i < conversation->participants->len; i++)
    g_ptr_array_add (copy->participants,
                     natter_profile_copy (g_ptr_array_index (conversation->participants, i)));
  copy->last_message =
    conversation->last_message != NULL ? natter_message_copy (conversation->last_message) : NULL;
  copy->unread_count = conversation->unread_count;
  copy->updated_at = g_strdup (conversation->updated_at);

  return copy;
}

/**
 * natter_conversation_free:
 * @conversation: (nullable): a #NatterConversation
 */
void
natter_conversation_free (NatterConversation *conversation)
{
  if (conversation == NULL)
    return;

  g_clear_pointer (&conversation->participants, g_ptr_array_unref);
  g_clear_pointer (&conversation->last_message, natter_message_free);
  g_free (conversation->updated_at);
  g_free (conversation);
}

static JsonNode *
profiles_to_node (GPtrArray *profiles)
{
  JsonArray *array = json_array_new ();
  JsonNode *node;

  for (guint i = 0; profiles != NULL && i < profiles->len; i++)
    json_array_add_element (array, natter_profile_to_node (g_ptr_array_index (profiles, i)));

  node = json_node_init_array (json_node_alloc (), array);
  json_array_unref (array);
  return node;
}

/**
 * natter_conversation_to_node:
 * @conversation: a #NatterConversation
 *
 * Returns: (transfer full): its JSON object; no last message is null
 */
JsonNode *
natter_conversation_to_node (const NatterConversation *conversation)
{
  JsonObject *object;

  g_return_val_if_fail (conversation != NULL, NULL);

  object = json_object_new ();
  json_object_set_int_member (object, "conversation_id", conversation->conversation_id);
  json_object_set_member (object, "participants", profiles_to_node (conversation->participants));
  if (conversation->last_message != NULL)
    json_object_set_member (object, "last_message",
                            natter_message_to_node (conversation->last_message));
  else
    json_object_set_null_member (object, "last_message");
  json_object_set_int_member (object, "unread_count", conversation->unread_count);
  set_string_if (object, "updated_at", conversation->updated_at);

  return node_new_object (object);
}

static gboolean
read_profile_array (JsonObject *object,
                    const char *prefix,
                    const char *name,
                    guint min_length,
                    guint max_length,
                    GPtrArray *profiles,
                    GError **error)
{
  g_autofree char *path = natter_field_path (prefix, name);
  JsonNode *node;
  JsonArray *array;
  guint length;

  if (!natter_read_member (object, prefix, name, NATTER_FIELD_REQUIRED, &node, error))
    return FALSE;

  if (!JSON_NODE_HOLDS_ARRAY (node))
    return field_error (error, prefix, name, "expected an array");

  array = json_node_get_array (node);
  length = json_array_get_length (array);
  if (length < min_length || length > max_length)
    return field_error (error, prefix, name, "expected %u..%u profiles", min_length, max_length);

  for (guint i = 0; i < length; i++) {
    g_autofree char *element_path = g_strdup_printf ("%s[%u]", path, i);
    NatterProfile *profile;

    profile = natter_profile_from_node (json_array_get_element (array, i), element_path, error);
    if (profile == NULL)
      return FALSE;
    g_ptr_array_add (profiles, profile);
  }

  return TRUE;
}

/**
 * natter_conversation_from_node:
 * @node: a JSON value
 * @field: (nullable): the path of @node, for error messages
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the conversation
 */
NatterConversation *
natter_conversation_from_node (JsonNode *node, const char *field, GError **error)
{
  g_autoptr (NatterConversation) conversation = natter_conversation_new ();
  g_autofree char *last_message_path = natter_field_path (field, "last_message");
  JsonObject *object;
  JsonNode *last_message;

  if (!(object = natter_node_get_object (node, field, error)) ||
      !natter_read_id (object, field, "conversation_id", NATTER_FIELD_REQUIRED,
                       &conversation->conversation_id, error) ||
      !read_profile_array (object, field, "participants", 1, NATTER_MAX_JSON_ARRAY_LENGTH,
                           conversation->participants, error) ||
      !natter_read_member (object, field, "last_message", NATTER_FIELD_OPTIONAL, &last_message,
                           error))
    return NULL;

  if (last_message != NULL) {
    conversation->last_message = natter_message_from_node (last_message, last_message_path, error);
    if (conversation->last_message == NULL)
      return NULL;
  }

  if (!natter_read_int (object, field, "unread_count", NATTER_FIELD_OPTIONAL, 0, NATTER_MAX_ID,
                        &conversation->unread_count, error) ||
      !natter_read_string (object, field, "updated_at", NATTER_FIELD_OPTIONAL, MAX_TIME_CHARS,
                           FALSE, &conversation->updated_at, error))
    return NULL;

  return g_steal_pointer (&conversation);
}

/* NatterUser */

/**
 * natter_user_new:
 *
 * Returns: (transfer full): an empty #NatterUser with an empty profiles array
 */
NatterUser *
natter_user_new (void)
{
  NatterUser *user = g_new0 (NatterUser, 1);

  user->profiles = profile_array_new ();
  return user;
}

/**
 * natter_user_copy:
 * @user: a #NatterUser
 *
 * Returns: (transfer full): a deep copy
 */
NatterUser *
natter_user_copy (const NatterUser *user)
{
  NatterUser *copy;

  g_return_val_if_fail (user != NULL, NULL);

  copy = natter_user_new ();
  copy->user_id = user->user_id;
  copy->email = g_strdup (user->email);
  copy->display_name = g_strdup (user->display_name);
  for (guint i = 0; user->profiles != NULL && i < user->profiles->len; i++)
    g_ptr_array_add (copy->profiles, natter_profile_copy (g_ptr_array_index (user->profiles, i)));

  return copy;
}

/**
 * natter_user_free:
 * @user: (nullable): a #NatterUser
 */
void
natter_user_free (NatterUser *user)
{
  if (user == NULL)
    return;

  g_clear_pointer (&user->profiles, g_ptr_array_unref);
  g_free (user->email);
  g_free (user->display_name);
  g_free (user);
}

/**
 * natter_user_to_node:
 * @user: a #NatterUser
 *
 * Returns: (transfer full): its JSON object
 */
JsonNode *
natter_user_to_node (const NatterUser *user)
{
  JsonObject *object;

  g_return_val_if_fail (user != NULL, NULL);

  object = json_object_new ();
  json_object_set_int_member (object, "user_id", user->user_id);
  set_string_if (object, "email", user->email);
  set_string_if (object, "display_name", user->display_name);
  json_object_set_member (object, "profiles", profiles_to_node (user->profiles));

  return node_new_object (object);
}

/**
 * natter_user_from_node:
 * @node: a JSON value
 * @field: (nullable): the path of @node, for error messages
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the user
 */
NatterUser *
natter_user_from_node (JsonNode *node, const char *field, GError **error)
{
  g_autoptr (NatterUser) user = natter_user_new ();
  JsonObject *object;

  if (!(object = natter_node_get_object (node, field, error)) ||
      !natter_read_id (object, field, "user_id", NATTER_FIELD_REQUIRED, &user->user_id, error) ||
      !natter_read_string (object, field, "email", NATTER_FIELD_REQUIRED, NATTER_MAX_EMAIL_CHARS,
                           FALSE, &user->email, error) ||
      !natter_read_string (object, field, "display_name", NATTER_FIELD_REQUIRED,
                           NATTER_MAX_DISPLAY_NAME_CHARS, FALSE, &user->display_name, error) ||
      !read_profile_array (object, field, "profiles", 0, NATTER_MAX_JSON_ARRAY_LENGTH,
                           user->profiles, error))
    return NULL;

  return g_steal_pointer (&user);
}

/* NatterSessionDescription */

/**
 * natter_session_description_new:
 * @type: "offer" or "answer"
 * @sdp: the SDP text
 *
 * Returns: (transfer full): a new #NatterSessionDescription
 */
NatterSessionDescription *
natter_session_description_new (const char *type, const char *sdp)
{
  NatterSessionDescription *desc = g_new0 (NatterSessionDescription, 1);

  desc->type = g_strdup (type);
  desc->sdp = g_strdup (sdp);
  return desc;
}

/**
 * natter_session_description_copy:
 * @desc: a #NatterSessionDescription
 *
 * Returns: (transfer full): a deep copy
 */
NatterSessionDescription *
natter_session_description_copy (const NatterSessionDescription *desc)
{
  g_return_val_if_fail (desc != NULL, NULL);

  return natter_session_description_new (desc->type, desc->sdp);
}

/**
 * natter_session_description_free:
 * @desc: (nullable): a #NatterSessionDescription
 */
void
natter_session_description_free (NatterSessionDescription *desc)
{
  if (desc == NULL)
    return;

  g_free (desc->type);
  g_free (desc->sdp);
  g_free (desc);
}

/**
 * natter_session_description_to_node:
 * @desc: a #NatterSessionDescription
 *
 * Returns: (transfer full): {"type","sdp"}
 */
JsonNode *
natter_session_description_to_node (const NatterSessionDescription *desc)
{
  JsonObject *object;

  g_return_val_if_fail (desc != NULL, NULL);

  object = json_object_new ();
  set_string_if (object, "type", desc->type);
  set_string_if (object, "sdp", desc->sdp);

  return node_new_object (object);
}

/**
 * natter_session_description_from_node:
 * @node: a JSON value
 * @field: (nullable): the path of @node, for error messages
 * @expected_type: (nullable): "offer", "answer", or %NULL for either
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the session description, its SDP
 *   non-empty and at most %NATTER_MAX_SDP_BYTES
 */
NatterSessionDescription *
natter_session_description_from_node (JsonNode *node,
                                      const char *field,
                                      const char *expected_type,
                                      GError **error)
{
  g_autoptr (NatterSessionDescription) desc = g_new0 (NatterSessionDescription, 1);
  JsonObject *object;

  if (!(object = natter_node_get_object (node, field, error)) ||
      !natter_read_string (object, field, "type", NATTER_FIELD_REQUIRED, 16, FALSE, &desc->type,
                           error) ||
      !natter_read_string (object, field, "sdp", NATTER_FIELD_REQUIRED, NATTER_MAX_SDP_BYTES, FALSE,
                           &desc->sdp, error))
    return NULL;

  if (expected_type != NULL && g_strcmp0 (desc->type, expected_type) != 0) {
    field_error (error, field, "type", "expected \"%s\"", expected_type);
    return NULL;
  }

  if (g_strcmp0 (desc->type, "offer") != 0 && g_strcmp0 (desc->type, "answer") != 0) {
    field_error (error, field, "type", "expected \"offer\" or \"answer\"");
    return NULL;
  }

  if (strlen (desc->sdp) > NATTER_MAX_SDP_BYTES) {
    field_error (error, field, "sdp", "larger than %d bytes", NATTER_MAX_SDP_BYTES);
    return NULL;
  }

  return g_steal_pointer (&desc);
}

/* NatterIceCandidate */

/**
 * natter_ice_candidate_new:
 * @candidate: the candidate line ("candidate:…")
 * @sdp_mid: (nullable): the media stream id
 * @sdp_mline_index: the m-line index, or -1 when absent
 *
 * Returns: (transfer full): a new #NatterIceCandidate
 */
NatterIceCandidate *
natter_ice_candidate_new (const char *candidate, const char *sdp_mid, gint64 sdp_mline_index)
{
  NatterIceCandidate *ice = g_new0 (NatterIceCandidate, 1);

  ice->candidate = g_strdup (candidate);
  ice->sdp_mid = g_strdup (sdp_mid);
  ice->sdp_mline_index = sdp_mline_index;
  return ice;
}

/**
 * natter_ice_candidate_copy:
 * @candidate: a #NatterIceCandidate
 *
 * Returns: (transfer full): a deep copy
 */
NatterIceCandidate *
natter_ice_candidate_copy (const NatterIceCandidate *candidate)
{
  g_return_val_if_fail (candidate != NULL, NULL);

  return natter_ice_candidate_new (candidate->candidate, candidate->sdp_mid,
                                   candidate->sdp_mline_index);
}

/**
 * natter_ice_candidate_free:
 * @candidate: (nullable): a #NatterIceCandidate
 */
void
natter_ice_candidate_free (NatterIceCandidate *candidate)
{
  if (candidate == NULL)
    return;

  g_free (candidate->candidate);
  g_free (candidate->sdp_mid);
  g_free (candidate);
}

/**
 * natter_ice_candidate_to_node:
 * @candidate: (nullable): a #NatterIceCandidate, or %NULL for end of
 *   candidates
 *
 * Returns: (transfer full): {"candidate","sdpMid","sdpMLineIndex"}, absent
 *   values as null; {"candidate":null} for %NULL
 */
JsonNode *
natter_ice_candidate_to_node (const NatterIceCandidate *candidate)
{
  JsonObject *object = json_object_new ();

  if (candidate == NULL) {
    json_object_set_null_member (object, "candidate");
    return node_new_object (object);
  }

  set_string_or_null (object, "candidate", candidate->candidate);
  set_string_or_null (object, "sdpMid", candidate->sdp_mid);
  if (candidate->sdp_mline_index >= 0)
    json_object_set_int_member (object, "sdpMLineIndex", candidate->sdp_mline_index);
  else
    json_object_set_null_member (object, "sdpMLineIndex");

  return node_new_object (object);
}

/* NatterIceServer */

/**
 * natter_ice_server_new:
 * @urls: the "stun:…" or "turn:…" URLs
 * @username: (nullable): the TURN user name
 * @credential: (nullable): the TURN credential
 *
 * Returns: (transfer full): a new #NatterIceServer
 */
NatterIceServer *
natter_ice_server_new (const char *const *urls, const char *username, const char *credential)
{
  NatterIceServer *server = g_new0 (NatterIceServer, 1);

  server->urls = urls != NULL ? g_strdupv ((char **) urls) : g_new0 (char *, 1);
  server->username = g_strdup (username);
  server->credential = g_strdup (credential);
  return server;
}

/**
 * natter_ice_server_free:
 * @server: (nullable): a #NatterIceServer
 */
void
natter_ice_server_free (NatterIceServer *server)
{
  if (server == NULL)
    return;

  g_strfreev (server->urls);
  g_free (server->username);
  g_free (server->credential);
  g_free (server);
}

JsonNode *
natter_ice_server_to_node (const NatterIceServer *server)
{
  JsonObject *object = json_object_new ();
  JsonArray *urls = json_array_new ();

  for (guint i = 0; server->urls != NULL && server->urls[i] != NULL; i++)
    json_array_add_string_element (urls, server->urls[i]);
  json_object_set_array_member (object, "urls", urls);
  set_string_if (object, "username", server->username);
  set_string_if (object, "credential", server->credential);

  return node_new_object (object);
}

NatterIceServer *
natter_ice_server_from_node (JsonNode *node, const char *field, GError **error)
{
  g_autoptr (NatterIceServer) server = g_new0 (NatterIceServer, 1);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  JsonObject *object;
  JsonNode *urls;

  if (!(object = natter_node_get_object (node, field, error)) ||
      !natter_read_member (object, field, "urls", NATTER_FIELD_REQUIRED, &urls, error))
    return NULL;

  /* RTCIceServer allows one URL as a plain string. */
  if (JSON_NODE_HOLDS_VALUE (urls) && json_node_get_value_type (urls) == G_TYPE_STRING) {
    if (json_node_get_string (urls)[0] == '\0') {
      field_error (error, field, "urls", "empty");
      return NULL;
    }
    g_strv_builder_add (builder, json_node_get_string (urls));
  } else if (JSON_NODE_HOLDS_ARRAY (urls)) {
    JsonArray *array = json_node_get_array (urls);
    guint length = json_array_get_length (array);

    if (length == 0) {
      field_error (error, field, "urls", "empty");
      return NULL;
    }

    for (guint i = 0; i < length; i++) {
      JsonNode *element = json_array_get_element (array, i);

      if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_STRING ||
          json_node_get_string (element)[0] == '\0' ||
          g_utf8_strlen (json_node_get_string (element), -1) > MAX_URL_CHARS) {
        g_autofree char *name = g_strdup_printf ("urls[%u]", i);

        field_error (error, field, name, "expected a URL string");
        return NULL;
      }
      g_strv_builder_add (builder, json_node_get_string (element));
    }
  } else {
    field_error (error, field, "urls", "expected an array of strings");
    return NULL;
  }

  server->urls = g_strv_builder_end (builder);

  if (!natter_read_string (object, field, "username", NATTER_FIELD_OPTIONAL, MAX_URL_CHARS, TRUE,
                           &server->username, error) ||
      !natter_read_string (object, field, "credential", NATTER_FIELD_OPTIONAL, MAX_URL_CHARS, TRUE,
                           &server->credential, error))
    return NULL;

  return g_steal_pointer (&server);
}

/**
 * natter_sdp_get_mids:
 * @sdp: an SDP text
 *
 * Returns: (transfer full): the a=mid of each m-line of @sdp, "" where an
 *   m-line has none (what PROTOCOL.md's sdpMid names)
 */
GStrv
natter_sdp_get_mids (const char *sdp)
{
  g_auto (GStrv) lines = g_strsplit (sdp, "\n", -1);
  g_autoptr (GPtrArray) mids = g_ptr_array_new ();

  for (guint i = 0; lines[i] != NULL; i++) {
    if (g_str_has_prefix (lines[i], "m=")) {
      g_ptr_array_add (mids, g_strdup (""));
    } else if (g_str_has_prefix (lines[i], "a=mid:") && mids->len > 0) {
      g_free (mids->pdata[mids->len - 1]);
      mids->pdata[mids->len - 1] = g_strdup (g_strstrip (lines[i] + sizeof ("a=mid:") - 1));
    }
  }
  g_ptr_array_add (mids, NULL);
  return (GStrv) g_ptr_array_steal (mids, NULL);
}
