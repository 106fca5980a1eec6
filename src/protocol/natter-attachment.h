/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* At most this many attachments ride on one chat message. */
#define NATTER_MAX_MESSAGE_ATTACHMENTS 10
/* The default upload limit of PROTOCOL.md; servers may configure their own. */
#define NATTER_MAX_ATTACHMENT_BYTES (25 * 1024 * 1024)
#define NATTER_MAX_ATTACHMENT_NAME_CHARS 255
#define NATTER_MAX_CONTENT_TYPE_CHARS 255
/* The largest image side an uploader may announce. */
#define NATTER_MAX_IMAGE_SIDE 100000
#define NATTER_SHA256_HEX_CHARS 64

/**
 * NatterAttachment:
 * @attachment_id: the server's id, 1..2^53-1
 * @name: the file name the uploader gave (no directory part)
 * @content_type: the MIME type, lowercase ("application/pdf")
 * @size: the number of bytes
 * @sha256: the SHA-256 of the bytes, 64 lowercase hex digits
 * @width: an image's width as the uploader measured it; 0 when absent
 * @height: an image's height as the uploader measured it; 0 when absent
 *
 * An attachment object of PROTOCOL.md:
 * `{"attachment_id","name","content_type","size","sha256","width","height"}`.
 */
typedef struct {
  gint64 attachment_id;
  char *name;
  char *content_type;
  gint64 size;
  char *sha256;
  gint64 width;
  gint64 height;
} NatterAttachment;

#define NATTER_TYPE_ATTACHMENT (natter_attachment_get_type ())
GType natter_attachment_get_type (void); /* boxed */
NatterAttachment *natter_attachment_new (void);
NatterAttachment *natter_attachment_copy (const NatterAttachment *attachment);
void natter_attachment_free (NatterAttachment *attachment);
gboolean natter_attachment_is_image (const NatterAttachment *attachment);
JsonNode *natter_attachment_to_node (const NatterAttachment *attachment);
NatterAttachment *natter_attachment_from_node (JsonNode *node, const char *field, GError **error);

/* The body of the upload's answer (201): one attachment object, read
 * through the strict reader; _to_json is transfer full. */
NatterAttachment *natter_attachment_parse (const char *body, gsize length, GError **error);
char *natter_attachment_to_json (const NatterAttachment *attachment);

/* A JSON array of attachment objects (transfer full); @attachments holds
 * NatterAttachment. */
JsonNode *natter_attachment_list_to_node (GPtrArray *attachments);
/* Reads an array of at most NATTER_MAX_MESSAGE_ATTACHMENTS attachment
 * objects. Returns: (transfer full) a GPtrArray of NatterAttachment, or NULL
 * with @error set. */
GPtrArray *natter_attachment_list_from_node (JsonNode *node, const char *field, GError **error);

/* Checks of the values an uploader gives (the `name` and `Content-Type` of
 * an upload); both are also applied when reading an attachment object. */
gboolean natter_attachment_name_is_valid (const char *name);
gboolean natter_attachment_content_type_is_valid (const char *content_type);
gboolean natter_attachment_sha256_is_valid (const char *sha256);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterAttachment, natter_attachment_free)

G_END_DECLS
