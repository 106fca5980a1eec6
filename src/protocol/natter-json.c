/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-protocol"

#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "natter-json.h"
#include "natter-protocol.h"
#include "natter-protocol-private.h"

/* A recursive-descent reader: the recursion is bounded by
 * NATTER_MAX_JSON_DEPTH, which is checked before each descent. */
typedef struct {
  const char *data;
  gsize length;
  gsize pos;
  GError **error;
} Reader;

static JsonNode *read_value (Reader *reader, guint depth);

static gboolean G_GNUC_PRINTF (3, 4)
  reader_fail (Reader *reader, gsize offset, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error (reader->error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
               "bad JSON at byte %" G_GSIZE_FORMAT ": %s", offset, what);
  return FALSE;
}

static gboolean
reader_fail_unexpected (Reader *reader)
{
  guchar c;

  if (reader->pos >= reader->length)
    return reader_fail (reader, reader->pos, "unexpected end of input");

  c = (guchar) reader->data[reader->pos];
  if (c >= 0x21 && c < 0x7f)
    return reader_fail (reader, reader->pos, "unexpected character '%c'", c);

  return reader_fail (reader, reader->pos, "unexpected byte 0x%02x", c);
}

static void
skip_whitespace (Reader *reader)
{
  while (reader->pos < reader->length) {
    char c = reader->data[reader->pos];

    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      break;
    reader->pos++;
  }
}

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Reads the four hex digits after "\u" at reader->pos. */
static gboolean
read_hex4 (Reader *reader, gunichar *out_value)
{
  gunichar value = 0;

  if (reader->length - reader->pos < 4)
    return reader_fail (reader, reader->pos, "truncated \\u escape");

  for (guint i = 0; i < 4; i++) {
    int digit = hex_value (reader->data[reader->pos + i]);

    if (digit < 0)
      return reader_fail (reader, reader->pos + i, "invalid hex digit in \\u escape");
    value = (value << 4) | (gunichar) digit;
  }

  reader->pos += 4;
  *out_value = value;
  return TRUE;
}

static gboolean
read_unicode_escape (Reader *reader, GString *buffer)
{
  gsize start = reader->pos - 2; /* the backslash */
  gunichar value;

  if (!read_hex4 (reader, &value))
    return FALSE;

  if (value == 0)
    return reader_fail (reader, start, "\\u0000 in string");

  if (value >= 0xDC00 && value <= 0xDFFF)
    return reader_fail (reader, start, "lone low surrogate in \\u escape");

  if (value >= 0xD800 && value <= 0xDBFF) {
    gunichar low;

    if (reader->length - reader->pos < 2 || reader->data[reader->pos] != '\\' ||
        reader->data[reader->pos + 1] != 'u')
      return reader_fail (reader, start, "lone high surrogate in \\u escape");

    reader->pos += 2;
    if (!read_hex4 (reader, &low))
      return FALSE;

    if (low < 0xDC00 || low > 0xDFFF)
      return reader_fail (reader, start, "lone high surrogate in \\u escape");

    value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00);
  }

  g_string_append_unichar (buffer, value);
  return TRUE;
}

/* reader->pos is on the opening quote. The input is known to be valid UTF-8,
 * so bytes other than quotes, backslashes and controls are copied as they are. */
static char *
read_string (Reader *reader)
{
  g_autoptr (GString) buffer = g_string_new (NULL);
  gsize start = reader->pos;

  reader->pos++;

  while (TRUE) {
    gsize run = reader->pos;
    guchar c;

    while (reader->pos < reader->length) {
      c = (guchar) reader->data[reader->pos];
      if (c == '"' || c == '\\' || c < 0x20)
        break;
      reader->pos++;
    }
    g_string_append_len (buffer, reader->data + run, (gssize) (reader->pos - run));

    if (reader->pos >= reader->length) {
      reader_fail (reader, start, "unterminated string");
      return NULL;
    }

    c = (guchar) reader->data[reader->pos];
    if (c == '"') {
      reader->pos++;
      return g_string_free (g_steal_pointer (&buffer), FALSE);
    }

    if (c < 0x20) {
      reader_fail (reader, reader->pos, "control character 0x%02x in string", c);
      return NULL;
    }

    /* a backslash */
    if (reader->pos + 1 >= reader->length) {
      reader_fail (reader, reader->pos, "unterminated escape");
      return NULL;
    }

    c = (guchar) reader->data[reader->pos + 1];
    reader->pos += 2;

    switch (c) {
      case '"':
        g_string_append_c (buffer, '"');
        break;
      case '\\':
        g_string_append_c (buffer, '\\');
        break;
      case '/':
        g_string_append_c (buffer, '/');
        break;
      case 'b':
        g_string_append_c (buffer, '\b');
        break;
      case 'f':
        g_string_append_c (buffer, '\f');
        break;
      case 'n':
        g_string_append_c (buffer, '\n');
        break;
      case 'r':
        g_string_append_c (buffer, '\r');
        break;
      case 't':
        g_string_append_c (buffer, '\t');
        break;
      case 'u':
        if (!read_unicode_escape (reader, buffer))
          return NULL;
        break;
      default:
        reader_fail (reader, reader->pos - 2, "invalid escape in string");
        return NULL;
    }
  }
}

static gsize
skip_digits (Reader *reader)
{
  gsize start = reader->pos;

  while (reader->pos < reader->length && g_ascii_isdigit (reader->data[reader->pos]))
    reader->pos++;

  return reader->pos - start;
}

static JsonNode *
read_number (Reader *reader)
{
  gsize start = reader->pos;
  gsize int_digits;
  gboolean is_integer = TRUE;
  g_autofree char *text = NULL;

  if (reader->data[reader->pos] == '-')
    reader->pos++;

  if (reader->pos < reader->length && reader->data[reader->pos] == '0') {
    reader->pos++;
    int_digits = 1;
  } else {
    int_digits = skip_digits (reader);
    if (int_digits == 0) {
      reader_fail (reader, start, "invalid number");
      return NULL;
    }
  }

  if (reader->pos < reader->length && reader->data[reader->pos] == '.') {
    reader->pos++;
    is_integer = FALSE;
    if (skip_digits (reader) == 0) {
      reader_fail (reader, start, "invalid number: no digits after '.'");
      return NULL;
    }
  }

  if (reader->pos < reader->length &&
      (reader->data[reader->pos] == 'e' || reader->data[reader->pos] == 'E')) {
    reader->pos++;
    is_integer = FALSE;
    if (reader->pos < reader->length &&
        (reader->data[reader->pos] == '+' || reader->data[reader->pos] == '-'))
      reader->pos++;
    if (skip_digits (reader) == 0) {
      reader_fail (reader, start, "invalid number: no digits in exponent");
      return NULL;
    }
  }

  text = g_strndup (reader->data + start, reader->pos - start);

  if (is_integer) {
    gint64 value;

    /* 2^53 - 1 has 16 digits; more cannot be in range and could overflow. */
    if (int_digits > 16) {
      reader_fail (reader, start, "integer out of range (beyond +/-(2^53-1))");
      return NULL;
    }

    value = g_ascii_strtoll (text, NULL, 10);
    if (value > NATTER_MAX_ID || value < -NATTER_MAX_ID) {
      reader_fail (reader, start, "integer out of range (beyond +/-(2^53-1))");
      return NULL;
    }

    return json_node_init_int (json_node_alloc (), value);
  } else {
    double value = g_ascii_strtod (text, NULL);

    if (!isfinite (value)) {
      reader_fail (reader, start, "number out of range");
      return NULL;
    }

    return json_node_init_double (json_node_alloc (), value);
  }
}

static gboolean
read_literal (Reader *reader, const char *literal)
{
  gsize length = strlen (literal);

  if (reader->length - reader->pos < length ||
      memcmp (reader->data + reader->pos, literal, length) != 0)
    return reader_fail_unexpected (reader);

  reader->pos += length;
  return TRUE;
}

static JsonNode *
read_object (Reader *reader, guint depth)
{
  g_autoptr (JsonObject) object = json_object_new ();
  guint members = 0;

  reader->pos++;
  skip_whitespace (reader);

  if (reader->pos < reader->length && reader->data[reader->pos] == '}') {
    reader->pos++;
    return json_node_init_object (json_node_alloc (), object);
  }

  while (TRUE) {
    g_autofree char *key = NULL;
    g_autoptr (JsonNode) value = NULL;
    gsize key_start;

    if (reader->pos >= reader->length || reader->data[reader->pos] != '"') {
      if (reader->pos < reader->length)
        reader_fail (reader, reader->pos, "expected a member name in quotes");
      else
        reader_fail_unexpected (reader);
      return NULL;
    }

    key_start = reader->pos;
    key = read_string (reader);
    if (key == NULL)
      return NULL;

    if (json_object_has_member (object, key)) {
      g_autofree char *shown = natter_describe_string (key, 32);

      reader_fail (reader, key_start, "duplicate key \"%s\"", shown);
      return NULL;
    }

    if (members >= NATTER_MAX_JSON_OBJECT_MEMBERS) {
      reader_fail (reader, key_start, "object with more than %d members",
                   NATTER_MAX_JSON_OBJECT_MEMBERS);
      return NULL;
    }

    skip_whitespace (reader);
    if (reader->pos >= reader->length || reader->data[reader->pos] != ':') {
      reader_fail_unexpected (reader);
      return NULL;
    }
    reader->pos++;

    value = read_value (reader, depth);
    if (value == NULL)
      return NULL;

    json_object_set_member (object, key, g_steal_pointer (&value));
    members++;

    skip_whitespace (reader);
    if (reader->pos < reader->length && reader->data[reader->pos] == ',') {
      reader->pos++;
      skip_whitespace (reader);
      continue;
    }
    if (reader->pos < reader->length && reader->data[reader->pos] == '}') {
      reader->pos++;
      return json_node_init_object (json_node_alloc (), object);
    }

    reader_fail_unexpected (reader);
    return NULL;
  }
}

static JsonNode *
read_array (Reader *reader, guint depth)
{
  g_autoptr (JsonArray) array = json_array_new ();
  guint elements = 0;

  reader->pos++;
  skip_whitespace (reader);

  if (reader->pos < reader->length && reader->data[reader->pos] == ']') {
    reader->pos++;
    return json_node_init_array (json_node_alloc (), array);
  }

  while (TRUE) {
    JsonNode *value;

    if (elements >= NATTER_MAX_JSON_ARRAY_LENGTH) {
      reader_fail (reader, reader->pos, "array with more than %d elements",
                   NATTER_MAX_JSON_ARRAY_LENGTH);
      return NULL;
    }

    value = read_value (reader, depth);
    if (value == NULL)
      return NULL;

    json_array_add_element (array, value);
    elements++;

    skip_whitespace (reader);
    if (reader->pos < reader->length && reader->data[reader->pos] == ',') {
      reader->pos++;
      continue;
    }
    if (reader->pos < reader->length && reader->data[reader->pos] == ']') {
      reader->pos++;
      return json_node_init_array (json_node_alloc (), array);
    }

    reader_fail_unexpected (reader);
    return NULL;
  }
}

/* @depth: the number of containers around the value. */
static JsonNode *
read_value (Reader *reader, guint depth)
{
  char c;

  skip_whitespace (reader);

  if (reader->pos >= reader->length) {
    reader_fail_unexpected (reader);
    return NULL;
  }

  c = reader->data[reader->pos];
  switch (c) {
    case '{':
    case '[':
      if (depth + 1 > NATTER_MAX_JSON_DEPTH) {
        reader_fail (reader, reader->pos, "nesting deeper than %d", NATTER_MAX_JSON_DEPTH);
        return NULL;
      }
      return c == '{' ? read_object (reader, depth + 1) : read_array (reader, depth + 1);

    case '"': {
      g_autofree char *text = read_string (reader);

      if (text == NULL)
        return NULL;
      return json_node_init_string (json_node_alloc (), text);
    }

    case 't':
      if (!read_literal (reader, "true"))
        return NULL;
      return json_node_init_boolean (json_node_alloc (), TRUE);

    case 'f':
      if (!read_literal (reader, "false"))
        return NULL;
      return json_node_init_boolean (json_node_alloc (), FALSE);

    case 'n':
      if (!read_literal (reader, "null"))
        return NULL;
      return json_node_init_null (json_node_alloc ());

    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
      return read_number (reader);

    default:
      reader_fail_unexpected (reader);
      return NULL;
  }
}

/**
 * natter_json_parse:
 * @data: the JSON text (not necessarily NUL-terminated)
 * @length: its length in bytes
 * @error: a #GError, %NATTER_PROTOCOL_ERROR_BAD_JSON naming what is wrong
 *   and the byte offset
 *
 * Reads one JSON value strictly: see natter-json.h for what is refused.
 *
 * Returns: (transfer full) (nullable): the value
 */
JsonNode *
natter_json_parse (const char *data, gsize length, GError **error)
{
  Reader reader = { data, length, 0, error };
  g_autoptr (JsonNode) root = NULL;
  const char *invalid = NULL;

  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (length == 0) {
    reader_fail (&reader, 0, "empty input");
    return NULL;
  }

  if (length >= 3 && memcmp (data, "\xEF\xBB\xBF", 3) == 0) {
    reader_fail (&reader, 0, "byte order mark");
    return NULL;
  }

  if (!g_utf8_validate_len (data, length, &invalid)) {
    gsize offset = (gsize) (invalid - data);

    if (data[offset] == '\0')
      reader_fail (&reader, offset, "NUL byte");
    else
      reader_fail (&reader, offset, "invalid UTF-8");
    return NULL;
  }

  root = read_value (&reader, 0);
  if (root == NULL)
    return NULL;

  skip_whitespace (&reader);
  if (reader.pos < reader.length) {
    reader_fail (&reader, reader.pos, "trailing characters after the value");
    return NULL;
  }

  return g_steal_pointer (&root);
}

static void
write_string (GString *out, const char *text)
{
  const char *p = text;

  g_string_append_c (out, '"');

  while (*p != '\0') {
    const char *run = p;

    while (*p != '\0' && *p != '"' && *p != '\\' && (guchar) *p >= 0x20 &&
           !((guchar) p[0] == 0xE2 && (guchar) p[1] == 0x80 &&
             ((guchar) p[2] == 0xA8 || (guchar) p[2] == 0xA9)))
      p++;
    g_string_append_len (out, run, p - run);

    if (*p == '\0')
      break;

    switch (*p) {
      case '"':
        g_string_append (out, "\\\"");
        break;
      case '\\':
        g_string_append (out, "\\\\");
        break;
      case '\b':
        g_string_append (out, "\\b");
        break;
      case '\f':
        g_string_append (out, "\\f");
        break;
      case '\n':
        g_string_append (out, "\\n");
        break;
      case '\r':
        g_string_append (out, "\\r");
        break;
      case '\t':
        g_string_append (out, "\\t");
        break;
      default:
        if ((guchar) *p == 0xE2) {
          /* U+2028 and U+2029 end lines in JavaScript source. */
          g_string_append_printf (out, "\\u%04x", (guchar) p[2] == 0xA8 ? 0x2028 : 0x2029);
          p += 2;
        } else {
          g_string_append_printf (out, "\\u%04x", (guchar) *p);
        }
        break;
    }
    p++;
  }

  g_string_append_c (out, '"');
}

static void
write_double (GString *out, double value)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  if (!isfinite (value)) {
    g_string_append (out, "null");
    return;
  }

  /* The shortest of %.15g..%.17g that reads back exactly. */
  for (int precision = 15; precision <= 17; precision++) {
    char format[8];

    g_snprintf (format, sizeof format, "%%.%dg", precision);
    g_ascii_formatd (buffer, sizeof buffer, format, value);
    if (g_ascii_strtod (buffer, NULL) == value)
      break;
  }

  g_string_append (out, buffer);

  /* Keep it a double when read back. */
  if (strpbrk (buffer, ".eE") == NULL)
    g_string_append (out, ".0");
}

/* Decimal, as "%" G_GINT64_FORMAT writes it, without printf's cost (every
 * frame carries ids: a twentieth of the store's writer thread). */
static void
write_int (GString *out, gint64 value)
{
  char digits[24];
  gsize at = sizeof digits;
  guint64 magnitude = value < 0 ? (guint64) 0 - (guint64) value : (guint64) value;

  do {
    digits[--at] = (char) ('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  if (value < 0)
    digits[--at] = '-';
  g_string_append_len (out, digits + at, (gssize) (sizeof digits - at));
}

static void
write_node (GString *out, JsonNode *node)
{
  if (node == NULL) {
    g_string_append (out, "null");
    return;
  }

  switch (json_node_get_node_type (node)) {
    case JSON_NODE_OBJECT: {
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;
      gboolean first = TRUE;

      /* In insertion order, like json_object_get_members (), without its
       * list and a lookup per member. */
      json_object_iter_init_ordered (&iter, json_node_get_object (node));
      g_string_append_c (out, '{');
      while (json_object_iter_next_ordered (&iter, &name, &member)) {
        if (!first)
          g_string_append_c (out, ',');
        first = FALSE;
        write_string (out, name);
        g_string_append_c (out, ':');
        write_node (out, member);
      }
      g_string_append_c (out, '}');
    } break;

    case JSON_NODE_ARRAY: {
      JsonArray *array = json_node_get_array (node);
      guint length = json_array_get_length (array);

      g_string_append_c (out, '[');
      for (guint i = 0; i < length; i++) {
        if (i > 0)
          g_string_append_c (out, ',');
        write_node (out, json_array_get_element (array, i));
      }
      g_string_append_c (out, ']');
    } break;

    case JSON_NODE_VALUE: {
      GType type = json_node_get_value_type (node);

      if (type == G_TYPE_STRING)
        write_string (out, json_node_get_string (node));
      else if (type == G_TYPE_BOOLEAN)
        g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
      else if (type == G_TYPE_DOUBLE || type == G_TYPE_FLOAT)
        write_double (out, json_node_get_double (node));
      else if (type == G_TYPE_INT64 || type == G_TYPE_INT || type == G_TYPE_UINT ||
               type == G_TYPE_LONG || type == G_TYPE_ULONG || type == G_TYPE_UINT64 ||
               type == G_TYPE_CHAR || type == G_TYPE_UCHAR)
        write_int (out, json_node_get_int (node));
      else
        g_string_append (out, "null");
    } break;

    case JSON_NODE_NULL:
    default:
      g_string_append (out, "null");
      break;
  }
}

/**
 * natter_json_to_string:
 * @node: (nullable): a JSON value
 * @out_length: (out) (optional): the length of the result in bytes
 *
 * Writes @node compactly, without spaces; natter_json_parse() reads the
 * result back to an equal value (integers stay integers, doubles doubles).
 *
 * Returns: (transfer full): the NUL-terminated JSON text
 */
char *
natter_json_to_string (JsonNode *node, gsize *out_length)
{
  GString *out = g_string_new (NULL);

  write_node (out, node);

  if (out_length != NULL)
    *out_length = out->len;

  return g_string_free (out, FALSE);
}
