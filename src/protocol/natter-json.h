/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The strict JSON reader every frame and HTTP body goes through. Unlike
 * JsonParser it refuses invalid UTF-8, duplicate keys, nesting deeper than
 * NATTER_MAX_JSON_DEPTH, arrays and objects over the limits of
 * natter-protocol.h, integers outside ±2^53, lone surrogates in \u escapes,
 * NUL characters in strings and trailing garbage, all with
 * NATTER_PROTOCOL_ERROR_BAD_JSON, without recursion on the C stack deeper
 * than the depth limit. Returns a JsonNode (transfer full). */
JsonNode *natter_json_parse (const char *data, gsize length, GError **error);

/* Compact serialization (no spaces); transfer full, NUL-terminated. */
char *natter_json_to_string (JsonNode *node, gsize *out_length);

G_END_DECLS
