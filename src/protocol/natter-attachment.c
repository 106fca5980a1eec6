/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-protocol"

#include "config.h"

#include <string.h>

#include "natter-attachment.h"
#include "natter-json.h"
#include "natter-protocol.h"
#include "natter-protocol-private.h"

G_DEFINE_BOXED_TYPE (NatterAttachment,
                     natter_attachment,
                     natter_attachment_copy,
                     natter_attachment_free)

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

/* RFC 9110 token characters, the ones a media type's parts are made of. */
static gboolean
is_token_char (char c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-.^_`|~", c) != NULL);
}

/**
 * natter_attachment_name_is_valid:
 * @name: (nullable): a file name
 *
 * A name is 1..255 characters of UTF-8 without control characters or path
 * separators, and not "." or "..": it is shown to people and offered as the
 * name to save under, so it must never name a directory.
 *
 * Returns: whether @name is acceptable
 */
gboolean
natter_attachment_name_is_valid (const char *name)
{
  glong length;

  if (name == NULL || !g_utf8_validate (name, -1, NULL))
    return FALSE;

  length = g_utf8_strlen (name, -1);
  if (length < 1 || length > NATTER_MAX_ATTACHMENT_NAME_CHARS)
    return FALSE;
  if (g_str_equal (name, ".") || g_str_equal (name, ".."))
    return FALSE;

  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);

    if (g_unichar_iscntrl (c) || c == '/' || c == '\\')
      return FALSE;
  }

  return TRUE;
}

/**
 * natter_attachment_content_type_is_valid:
 * @content_type: (nullable): a MIME type
 *
 * Returns: whether @content_type is a bare, lowercase `type/subtype` of
 *   token characters (no parameters), at most 255 characters
 */
gboolean
natter_attachment_content_type_is_valid (const char *content_type)
{
  const char *slash;
  gsize length;

  if (content_type == NULL)
    return FALSE;

  length = strlen (content_type);
  slash = strchr (content_type, '/');
  if (length > NATTER_MAX_CONTENT_TYPE_CHARS || slash == NULL || slash == content_type ||
      slash[1] == '\0')
    return FALSE;

  for (const char *p = content_type; *p != '\0'; p++) {
    if (p == slash)
      continue;
    if (!is_token_char (*p) || g_ascii_isupper (*p))
      return FALSE;
  }

  return TRUE;
}

/**
 * natter_attachment_sha256_is_valid:
 * @sha256: (nullable): a digest
 *
 * Returns: whether @sha256 is 64 lowercase hex digits
 */
gboolean
natter_attachment_sha256_is_valid (const char *sha256)
{
  if (sha256 == NULL || strlen (sha256) != NATTER_SHA256_HEX_CHARS)
    return FALSE;

  for (const char *p = sha256; *p != '\0'; p++) {
    if (!g_ascii_isxdigit (*p) || g_ascii_isupper (*p))
      return FALSE;
  }

  return TRUE;
}

/**
 * natter_attachment_new:
 *
 * Returns: (transfer full): an empty #NatterAttachment
 */
NatterAttachment *
natter_attachment_new (void)
{
  return g_new0 (NatterAttachment, 1);
}

/**
 * natter_attachment_copy:
 * @attachment: a #NatterAttachment
 *
 * Returns: (transfer full): a deep copy
 */
NatterAttachment *
natter_attachment_copy (const NatterAttachment *attachment)
{
  NatterAttachment *copy;

  g_return_val_if_fail (attachment != NULL, NULL);

  copy = g_memdup2 (attachment, sizeof *attachment);
  copy->name = g_strdup (attachment->name);
  copy->content_type = g_strdup (attachment->content_type);
  copy->sha256 = g_strdup (attachment->sha256);

  return copy;
}

/**
 * natter_attachment_free:
 * @attachment: (nullable): a #NatterAttachment
 */
void
natter_attachment_free (NatterAttachment *attachment)
{
  if (attachment == NULL)
    return;

  g_free (attachment->name);
  g_free (attachment->content_type);
  g_free (attachment->sha256);
  g_free (attachment);
}

/**
 * natter_attachment_is_image:
 * @attachment: a #NatterAttachment
 *
 * Returns: whether its content type is `image/…`
 */
gboolean
natter_attachment_is_image (const NatterAttachment *attachment)
{
  g_return_val_if_fail (attachment != NULL, FALSE);

  return attachment->content_type != NULL && g_str_has_prefix (attachment->content_type, "image/");
}

/**
 * natter_attachment_to_node:
 * @attachment: a #NatterAttachment
 *
 * Returns: (transfer full): its JSON object; width and height only when set
 */
JsonNode *
natter_attachment_to_node (const NatterAttachment *attachment)
{
  g_autoptr (JsonObject) object = NULL;

  g_return_val_if_fail (attachment != NULL, NULL);

  object = json_object_new ();
  json_object_set_int_member (object, "attachment_id", attachment->attachment_id);
  json_object_set_string_member (object, "name", attachment->name != NULL ? attachment->name : "");
  json_object_set_string_member (object, "content_type",
                                 attachment->content_type != NULL ? attachment->content_type
                                                                  : "application/octet-stream");
  json_object_set_int_member (object, "size", attachment->size);
  json_object_set_string_member (object, "sha256",
                                 attachment->sha256 != NULL ? attachment->sha256 : "");
  if (attachment->width > 0)
    json_object_set_int_member (object, "width", attachment->width);
  if (attachment->height > 0)
    json_object_set_int_member (object, "height", attachment->height);

  return json_node_init_object (json_node_alloc (), object);
}

/**
 * natter_attachment_from_node:
 * @node: a JSON value
 * @field: (nullable): the path of @node, for error messages
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the validated attachment
 */
NatterAttachment *
natter_attachment_from_node (JsonNode *node, const char *field, GError **error)
{
  g_autoptr (NatterAttachment) attachment = natter_attachment_new ();
  JsonObject *object;

  if (!(object = natter_node_get_object (node, field, error)) ||
      !natter_read_id (object, field, "attachment_id", NATTER_FIELD_REQUIRED,
                       &attachment->attachment_id, error) ||
      !natter_read_string (object, field, "name", NATTER_FIELD_REQUIRED,
                           NATTER_MAX_ATTACHMENT_NAME_CHARS, FALSE, &attachment->name, error) ||
      !natter_read_string (object, field, "content_type", NATTER_FIELD_REQUIRED,
                           NATTER_MAX_CONTENT_TYPE_CHARS, FALSE, &attachment->content_type,
                           error) ||
      !natter_read_int (object, field, "size", NATTER_FIELD_REQUIRED, 0, NATTER_MAX_ID,
                        &attachment->size, error) ||
      !natter_read_string (object, field, "sha256", NATTER_FIELD_REQUIRED, NATTER_SHA256_HEX_CHARS,
                           FALSE, &attachment->sha256, error) ||
      !natter_read_int (object, field, "width", NATTER_FIELD_OPTIONAL, 1, NATTER_MAX_IMAGE_SIDE,
                        &attachment->width, error) ||
      !natter_read_int (object, field, "height", NATTER_FIELD_OPTIONAL, 1, NATTER_MAX_IMAGE_SIDE,
                        &attachment->height, error))
    return NULL;

  if (!natter_attachment_name_is_valid (attachment->name)) {
    field_error (error, field, "name", "not a file name");
    return NULL;
  }
  if (!natter_attachment_content_type_is_valid (attachment->content_type)) {
    field_error (error, field, "content_type", "expected a lowercase type/subtype");
    return NULL;
  }
  if (!natter_attachment_sha256_is_valid (attachment->sha256)) {
    field_error (error, field, "sha256", "expected 64 lowercase hex digits");
    return NULL;
  }

  return g_steal_pointer (&attachment);
}

/**
 * natter_attachment_list_to_node:
 * @attachments: (element-type NatterAttachment): the attachments
 *
 * Returns: (transfer full): a JSON array of attachment objects
 */
JsonNode *
natter_attachment_list_to_node (GPtrArray *attachments)
{
  g_autoptr (JsonArray) array = json_array_new ();

  g_return_val_if_fail (attachments != NULL, NULL);

  for (guint i = 0; i < attachments->len; i++)
    json_array_add_element (array, natter_attachment_to_node (g_ptr_array_index (attachments, i)));

  return json_node_init_array (json_node_alloc (), array);
}

/**
 * natter_attachment_list_from_node:
 * @node: a JSON value
 * @field: (nullable): the path of @node, for error messages
 * @error: a #GError
 *
 * Returns: (transfer full) (element-type NatterAttachment) (nullable): the
 *   attachments, at most %NATTER_MAX_MESSAGE_ATTACHMENTS
 */
GPtrArray *
natter_attachment_list_from_node (JsonNode *node, const char *field, GError **error)
{
  g_autoptr (GPtrArray) attachments = NULL;
  JsonArray *array;
  guint length;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node)) {
    field_error (error, field, NULL, "expected an array");
    return NULL;
  }

  array = json_node_get_array (node);
  length = json_array_get_length (array);
  if (length > NATTER_MAX_MESSAGE_ATTACHMENTS) {
    field_error (error, field, NULL, "more than %d attachments", NATTER_MAX_MESSAGE_ATTACHMENTS);
    return NULL;
  }

  attachments = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_attachment_free);
  for (guint i = 0; i < length; i++) {
    g_autofree char *path = g_strdup_printf ("%s[%u]", field != NULL ? field : "", i);
    NatterAttachment *attachment =
      natter_attachment_from_node (json_array_get_element (array, i), path, error);

    if (attachment == NULL)
      return NULL;
    g_ptr_array_add (attachments, attachment);
  }

  return g_steal_pointer (&attachments);
}

/**
 * natter_attachment_parse:
 * @body: the body's bytes (not necessarily NUL-terminated)
 * @length: their number
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the attachment of an upload's answer
 */
NatterAttachment *
natter_attachment_parse (const char *body, gsize length, GError **error)
{
  g_autoptr (JsonNode) root = NULL;

  g_return_val_if_fail (body != NULL || length == 0, NULL);

  root = natter_json_parse (body, length, error);
  if (root == NULL)
    return NULL;

  return natter_attachment_from_node (root, NULL, error);
}

/**
 * natter_attachment_to_json:
 * @attachment: a #NatterAttachment
 *
 * Returns: (transfer full): the attachment as compact JSON text
 */
char *
natter_attachment_to_json (const NatterAttachment *attachment)
{
  g_autoptr (JsonNode) node = NULL;

  g_return_val_if_fail (attachment != NULL, NULL);

  node = natter_attachment_to_node (attachment);
  return natter_json_to_string (node, NULL);
}
