/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-json"

#include "config.h"

#include <string.h>

#include "natter-json.h"
#include "natter-protocol.h"

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
  const char *input;
  gssize length;         /* -1: strlen (input) */
  const char *canonical; /* what natter_json_to_string writes */
} AcceptCase;

typedef struct {
  const char *name;
  const char *input;
  gssize length;
  const char *message; /* a substring of the error message */
} RefuseCase;

static const AcceptCase accept_cases[] = {
  { "empty-object", "{}", -1, "{}" },
  { "empty-array", " [ ] ", -1, "[]" },
  { "whitespace", " \t\r\n{ \"a\" : 1 }\n", -1, "{\"a\":1}" },
  { "string", "\"hi\"", -1, "\"hi\"" },
  { "literals", "[true,false,null]", -1, "[true,false,null]" },
  { "member-order-kept", "{\"z\":1,\"a\":2,\"m\":3}", -1, "{\"z\":1,\"a\":2,\"m\":3}" },
  { "max-id", "9007199254740991", -1, "9007199254740991" },
  { "min-id", "-9007199254740991", -1, "-9007199254740991" },
  { "zero", "0", -1, "0" },
  { "minus-zero", "-0", -1, "0" },
  { "double", "1.5", -1, "1.5" },
  { "double-stays-double", "1.0", -1, "1.0" },
  { "exponent", "2.5e3", -1, "2500.0" },
  { "negative-exponent", "1E-2", -1, "0.01" },
  { "big-double", "1e300", -1, "1e+300" },
  { "escapes", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", -1, "\"\\\"\\\\/\\b\\f\\n\\r\\t\"" },
  { "unicode-escape", "\"\\u00e9\\u4e2d\"", -1, "\"é中\"" },
  { "surrogate-pair", "\"\\ud83d\\ude00\"", -1, "\"😀\"" },
  { "raw-utf8", "\"Abebe K. ✓ 😀\"", -1, "\"Abebe K. ✓ 😀\"" },
  { "line-separator-escaped", "\"a\\u2028b\"", -1, "\"a\\u2028b\"" },
  { "control-escape", "\"\\u001f\"", -1, "\"\\u001f\"" },
  { "delete-char", "\"\x7f\"", -1, "\"\x7f\"" },
  { "depth-16", "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]", -1, "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]" },
  { "empty-key", "{\"\":1}", -1, "{\"\":1}" },
  { "keys-differ-by-case", "{\"a\":1,\"A\":2}", -1, "{\"a\":1,\"A\":2}" },
  { "nested", "{\"a\":{\"b\":[1,{\"c\":null}]}}", -1, "{\"a\":{\"b\":[1,{\"c\":null}]}}" },
};

static const RefuseCase refuse_cases[] = {
  { "empty", "", 0, "empty input" },
  { "only-whitespace", "  \n", -1, "unexpected end of input" },
  { "bom", "\xEF\xBB\xBF{}", -1, "byte order mark" },
  { "invalid-utf8", "\"\xC3\x28\"", -1, "invalid UTF-8" },
  { "overlong-utf8", "\"\xC0\xAF\"", -1, "invalid UTF-8" },
  { "utf8-surrogate", "\"\xED\xA0\x80\"", -1, "invalid UTF-8" },
  { "truncated-utf8", "\"\xE4\xB8", -1, "invalid UTF-8" },
  { "nul-byte", "{\"a\":\"x\0y\"}", 11, "NUL byte" },
  { "duplicate-key", "{\"a\":1,\"b\":2,\"a\":3}", -1, "duplicate key \"a\"" },
  { "duplicate-key-by-escape", "{\"a\":1,\"\\u0061\":2}", -1, "duplicate key" },
  { "depth-17", "[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", -1, "nesting deeper than 16" },
  { "deep-objects",
    "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
    "{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}}}}}}}}}}}",
    -1, "nesting deeper" },
  { "int-too-big", "9007199254740992", -1, "integer out of range" },
  { "int-too-small", "-9007199254740992", -1, "integer out of range" },
  { "int-huge", "123456789012345678901234567890", -1, "integer out of range" },
  { "double-overflow", "1e999", -1, "number out of range" },
  { "negative-double-overflow", "-1e400", -1, "number out of range" },
  { "nan", "NaN", -1, "unexpected character 'N'" },
  { "infinity", "Infinity", -1, "unexpected character 'I'" },
  { "leading-zero", "01", -1, "trailing characters" },
  { "leading-plus", "+1", -1, "unexpected character '+'" },
  { "bare-minus", "-", -1, "invalid number" },
  { "dot-without-digits", "1.", -1, "no digits after '.'" },
  { "leading-dot", ".5", -1, "unexpected character '.'" },
  { "exponent-without-digits", "1e+", -1, "no digits in exponent" },
  { "hex-number", "0x10", -1, "trailing characters" },
  { "lone-high-surrogate", "\"\\ud83d\"", -1, "lone high surrogate" },
  { "high-surrogate-then-text", "\"\\ud83dabc\"", -1, "lone high surrogate" },
  { "high-surrogate-then-high", "\"\\ud83d\\ud83d\"", -1, "lone high surrogate" },
  { "lone-low-surrogate", "\"\\ude00\"", -1, "lone low surrogate" },
  { "escaped-nul", "\"a\\u0000b\"", -1, "\\u0000 in string" },
  { "raw-newline", "\"a\nb\"", -1, "control character 0x0a" },
  { "raw-tab", "\"a\tb\"", -1, "control character 0x09" },
  { "bad-escape", "\"\\x41\"", -1, "invalid escape" },
  { "bad-hex-in-unicode-escape", "\"\\u12xy\"", -1, "invalid hex digit" },
  { "truncated-unicode-escape", "\"\\u12", -1, "truncated \\u escape" },
  { "unterminated-string", "\"abc", -1, "unterminated string" },
  { "unterminated-escape", "\"abc\\", -1, "unterminated" },
  { "trailing-garbage", "{} x", -1, "trailing characters" },
  { "two-values", "1 2", -1, "trailing characters" },
  { "trailing-comma-array", "[1,]", -1, "unexpected character ']'" },
  { "trailing-comma-object", "{\"a\":1,}", -1, "expected a member name" },
  { "missing-colon", "{\"a\" 1}", -1, "unexpected character '1'" },
  { "unquoted-key", "{a:1}", -1, "expected a member name" },
  { "single-quotes", "{'a':1}", -1, "expected a member name" },
  { "unclosed-array", "[1,2", -1, "unexpected end of input" },
  { "unclosed-object", "{\"a\":1", -1, "unexpected end of input" },
  { "bad-literal", "tru", -1, "unexpected character 't'" },
  { "literal-prefix", "nulll", -1, "trailing characters" },
  { "capital-literal", "True", -1, "unexpected character 'T'" },
  { "comment", "{} // hi", -1, "trailing characters" },
  { "control-byte-outside", "\x01", -1, "unexpected byte 0x01" },
};

static void
test_accepts (gconstpointer data)
{
  const AcceptCase *test = data;
  gsize length = test->length < 0 ? strlen (test->input) : (gsize) test->length;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (JsonNode) again = NULL;
  g_autofree char *text = NULL;
  g_autofree char *text_again = NULL;
  gsize text_length = 0;

  node = natter_json_parse (test->input, length, &error);
  g_assert_no_error (error);
  g_assert_nonnull (node);

  text = natter_json_to_string (node, &text_length);
  g_assert_cmpstr (text, ==, test->canonical);
  g_assert_cmpuint (text_length, ==, strlen (text));

  /* The written form reads back to an equal value and writes the same. */
  again = natter_json_parse (text, text_length, &error);
  g_assert_no_error (error);
  g_assert_true (json_node_equal (node, again));
  text_again = natter_json_to_string (again, NULL);
  g_assert_cmpstr (text_again, ==, text);
}

static void
test_refuses (gconstpointer data)
{
  const RefuseCase *test = data;
  gsize length = test->length < 0 ? strlen (test->input) : (gsize) test->length;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = NULL;

  node = natter_json_parse (test->input, length, &error);
  g_assert_null (node);
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON);
  assert_contains (error->message, test->message);
  g_assert_true (g_str_has_prefix (error->message, "bad JSON at byte "));
}

static void
test_integer_types (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = NULL;
  JsonArray *array;
  const char *input = "[42,-7,4.25,1e2]";

  node = natter_json_parse (input, strlen (input), &error);
  g_assert_no_error (error);
  array = json_node_get_array (node);

  g_assert_cmpint (json_node_get_value_type (json_array_get_element (array, 0)), ==, G_TYPE_INT64);
  g_assert_cmpint (json_array_get_int_element (array, 0), ==, 42);
  g_assert_cmpint (json_node_get_value_type (json_array_get_element (array, 1)), ==, G_TYPE_INT64);
  g_assert_cmpint (json_array_get_int_element (array, 1), ==, -7);
  g_assert_cmpint (json_node_get_value_type (json_array_get_element (array, 2)), ==, G_TYPE_DOUBLE);
  g_assert_cmpfloat (json_array_get_double_element (array, 2), ==, 4.25);
  g_assert_cmpint (json_node_get_value_type (json_array_get_element (array, 3)), ==, G_TYPE_DOUBLE);
  g_assert_cmpfloat (json_array_get_double_element (array, 3), ==, 100.0);
}

static void
test_error_offset (void)
{
  g_autoptr (GError) error = NULL;
  const char *input = "{\"a\":1,\"a\":2}";

  g_assert_null (natter_json_parse (input, strlen (input), &error));
  /* The duplicate key starts at byte 7. */
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON);
  g_assert_cmpstr (error->message, ==, "bad JSON at byte 7: duplicate key \"a\"");
}

static void
test_not_nul_terminated (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = NULL;
  char *buffer = g_malloc (3);

  /* Exactly the bytes given are read: ASan flags a read past them. */
  memcpy (buffer, "[1]", 3);
  node = natter_json_parse (buffer, 3, &error);
  g_assert_no_error (error);
  g_assert_cmpint (json_array_get_length (json_node_get_array (node)), ==, 1);
  g_free (buffer);
}

static GString *
repeat (const char *head, const char *element, guint count, const char *tail)
{
  GString *out = g_string_new (head);

  for (guint i = 0; i < count; i++) {
    if (i > 0)
      g_string_append_c (out, ',');
    g_string_append (out, element);
  }
  g_string_append (out, tail);
  return out;
}

static void
test_array_limit (void)
{
  g_autoptr (GString) at_limit = repeat ("[", "0", NATTER_MAX_JSON_ARRAY_LENGTH, "]");
  g_autoptr (GString) over = repeat ("[", "0", NATTER_MAX_JSON_ARRAY_LENGTH + 1, "]");
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = NULL;

  node = natter_json_parse (at_limit->str, at_limit->len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (json_array_get_length (json_node_get_array (node)), ==,
                   NATTER_MAX_JSON_ARRAY_LENGTH);

  g_assert_null (natter_json_parse (over->str, over->len, &error));
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON);
  assert_contains (error->message, "array with more than 256 elements");
}

static void
test_object_limit (void)
{
  g_autoptr (GString) at_limit = g_string_new ("{");
  g_autoptr (GString) over = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = NULL;

  for (guint i = 0; i < NATTER_MAX_JSON_OBJECT_MEMBERS; i++)
    g_string_append_printf (at_limit, "%s\"k%u\":%u", i > 0 ? "," : "", i, i);
  over = g_string_new (at_limit->str);
  g_string_append (at_limit, "}");
  g_string_append (over, ",\"one_more\":0}");

  node = natter_json_parse (at_limit->str, at_limit->len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_object_get_size (json_node_get_object (node)), ==,
                    NATTER_MAX_JSON_OBJECT_MEMBERS);

  g_assert_null (natter_json_parse (over->str, over->len, &error));
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON);
  assert_contains (error->message, "object with more than 64 members");
}

static void
test_deep_nesting_is_refused_early (void)
{
  /* A million brackets must fail fast at depth 17, not recurse. */
  gsize length = 1000000;
  g_autofree char *input = g_malloc (length);
  g_autoptr (GError) error = NULL;

  memset (input, '[', length);
  g_assert_null (natter_json_parse (input, length, &error));
  g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON);
  g_assert_cmpstr (error->message, ==, "bad JSON at byte 16: nesting deeper than 16");
}

static void
test_writer (void)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "x\"\\\x01");
  json_builder_set_member_name (builder, "n");
  json_builder_add_int_value (builder, -3);
  json_builder_set_member_name (builder, "d");
  json_builder_add_double_value (builder, 0.1);
  json_builder_set_member_name (builder, "b");
  json_builder_add_boolean_value (builder, FALSE);
  json_builder_set_member_name (builder, "z");
  json_builder_add_null_value (builder);
  json_builder_end_object (builder);
  node = json_builder_get_root (builder);

  text = natter_json_to_string (node, NULL);
  g_assert_cmpstr (text, ==,
                   "{\"type\":\"x\\\"\\\\\\u0001\",\"n\":-3,\"d\":0.1,\"b\":false,\"z\":null}");
  g_clear_pointer (&text, g_free);

  text = natter_json_to_string (NULL, NULL);
  g_assert_cmpstr (text, ==, "null");
}

/* Integers are written in decimal like printf's, down to the extremes of
 * int64 (the writer does not use printf). */
static void
test_integers_written (void)
{
  const gint64 values[] = { 0, 7, -7, 10, -10, 1234567890123, G_MAXINT64, G_MININT64 };

  for (gsize i = 0; i < G_N_ELEMENTS (values); i++) {
    g_autoptr (JsonNode) node = json_node_init_int (json_node_alloc (), values[i]);
    g_autofree char *expected = g_strdup_printf ("%" G_GINT64_FORMAT, values[i]);
    g_autofree char *text = natter_json_to_string (node, NULL);

    g_assert_cmpstr (text, ==, expected);
  }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (accept_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/natter/json/accepts/%s", accept_cases[i].name);
    g_test_add_data_func (path, &accept_cases[i], test_accepts);
  }

  for (guint i = 0; i < G_N_ELEMENTS (refuse_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/natter/json/refuses/%s", refuse_cases[i].name);
    g_test_add_data_func (path, &refuse_cases[i], test_refuses);
  }

  g_test_add_func ("/natter/json/integers-are-int64-others-double", test_integer_types);
  g_test_add_func ("/natter/json/integers-written-in-decimal", test_integers_written);
  g_test_add_func ("/natter/json/error-names-byte-offset", test_error_offset);
  g_test_add_func ("/natter/json/reads-only-the-given-bytes", test_not_nul_terminated);
  g_test_add_func ("/natter/json/array-limit", test_array_limit);
  g_test_add_func ("/natter/json/object-limit", test_object_limit);
  g_test_add_func ("/natter/json/deep-nesting-refused-early", test_deep_nesting_is_refused_early);
  g_test_add_func ("/natter/json/writer-escapes-and-types", test_writer);

  return g_test_run ();
}
