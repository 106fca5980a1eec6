/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "natter-protocol.h"
#include "natter-types.h"

G_BEGIN_DECLS

/* Shared by the records, frames and HTTP bodies: readers of one member of a
 * JSON object that name the member's path ("message.sender.profile_id") in
 * their NATTER_PROTOCOL_ERROR_BAD_FRAME errors. A JSON null counts as absent.
 * On success with an absent optional member the output is left untouched. */

typedef enum {
  NATTER_FIELD_OPTIONAL,
  NATTER_FIELD_REQUIRED,
} NatterFieldPresence;

char *natter_field_path (const char *prefix, const char *name);

/* A short, printable rendering of untrusted text for error messages. */
char *natter_describe_string (const char *text, gsize max_chars);

JsonObject *natter_node_get_object (JsonNode *node, const char *path, GError **error);

gboolean natter_read_id (JsonObject *object,
                         const char *prefix,
                         const char *name,
                         NatterFieldPresence presence,
                         gint64 *out_id,
                         GError **error);
gboolean natter_read_int (JsonObject *object,
                          const char *prefix,
                          const char *name,
                          NatterFieldPresence presence,
                          gint64 min,
                          gint64 max,
                          gint64 *out_value,
                          GError **error);
gboolean natter_read_bool (JsonObject *object,
                           const char *prefix,
                           const char *name,
                           NatterFieldPresence presence,
                           gboolean *out_value,
                           GError **error);
/* @max_chars counts Unicode characters; empty strings are refused when
 * @allow_empty is FALSE. *out_string is replaced (transfer full). */
gboolean natter_read_string (JsonObject *object,
                             const char *prefix,
                             const char *name,
                             NatterFieldPresence presence,
                             gsize max_chars,
                             gboolean allow_empty,
                             char **out_string,
                             GError **error);
gboolean natter_read_profile_type (JsonObject *object,
                                   const char *prefix,
                                   const char *name,
                                   NatterFieldPresence presence,
                                   char **out_profile_type,
                                   GError **error);
/* The member if present and not null, else NULL (or an error if required). */
gboolean natter_read_member (JsonObject *object,
                             const char *prefix,
                             const char *name,
                             NatterFieldPresence presence,
                             JsonNode **out_node,
                             GError **error);

/* Trims with g_unichar_isspace; transfer full. */
char *natter_utf8_strip (const char *text);

NatterIceServer *natter_ice_server_from_node (JsonNode *node, const char *field, GError **error);
JsonNode *natter_ice_server_to_node (const NatterIceServer *server);

G_END_DECLS
