/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * NatterAttachmentState:
 * @NATTER_ATTACHMENT_STATE_UPLOADING: the sender's file is queued or going up
 * @NATTER_ATTACHMENT_STATE_REMOTE: on the server; no verified copy here
 *   (for the sender, #NatterAttachmentItem:local-path is still the original)
 * @NATTER_ATTACHMENT_STATE_DOWNLOADING: coming down into the cache
 * @NATTER_ATTACHMENT_STATE_DOWNLOADED: a copy checked against its SHA-256
 *   is at #NatterAttachmentItem:local-path
 * @NATTER_ATTACHMENT_STATE_FAILED: the transfer failed (#NatterAttachmentItem:error says why)
 * @NATTER_ATTACHMENT_STATE_CANCELLED: the user stopped the transfer
 */
typedef enum {
  NATTER_ATTACHMENT_STATE_UPLOADING,
  NATTER_ATTACHMENT_STATE_REMOTE,
  NATTER_ATTACHMENT_STATE_DOWNLOADING,
  NATTER_ATTACHMENT_STATE_DOWNLOADED,
  NATTER_ATTACHMENT_STATE_FAILED,
  NATTER_ATTACHMENT_STATE_CANCELLED,
} NatterAttachmentState;

#define NATTER_TYPE_ATTACHMENT_STATE (natter_attachment_state_get_type ())
GType natter_attachment_state_get_type (void);

#define NATTER_TYPE_ATTACHMENT_ITEM (natter_attachment_item_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterAttachmentItem, natter_attachment_item, NATTER, ATTACHMENT_ITEM, GObject)

NatterAttachmentItem *natter_attachment_item_new (gint64 attachment_id,
                                                  const char *name,
                                                  const char *content_type,
                                                  gint64 size,
                                                  int width,
                                                  int height,
                                                  const char *sha256);

gint64 natter_attachment_item_get_attachment_id (NatterAttachmentItem *self);
const char *natter_attachment_item_get_name (NatterAttachmentItem *self);
const char *natter_attachment_item_get_content_type (NatterAttachmentItem *self);
gint64 natter_attachment_item_get_size (NatterAttachmentItem *self);
int natter_attachment_item_get_width (NatterAttachmentItem *self);
int natter_attachment_item_get_height (NatterAttachmentItem *self);
const char *natter_attachment_item_get_sha256 (NatterAttachmentItem *self);
const char *natter_attachment_item_get_local_path (NatterAttachmentItem *self);
double natter_attachment_item_get_progress (NatterAttachmentItem *self);
NatterAttachmentState natter_attachment_item_get_state (NatterAttachmentItem *self);
const char *natter_attachment_item_get_error (NatterAttachmentItem *self);
gboolean natter_attachment_item_is_image (NatterAttachmentItem *self);

/* Set by the core as transfers move on; views only read. */
void natter_attachment_item_set_uploaded (NatterAttachmentItem *self,
                                          gint64 attachment_id,
                                          const char *sha256);
void natter_attachment_item_set_local_path (NatterAttachmentItem *self, const char *local_path);
void natter_attachment_item_set_progress (NatterAttachmentItem *self, double progress);
void natter_attachment_item_set_state (NatterAttachmentItem *self,
                                       NatterAttachmentState state,
                                       const char *error);

G_END_DECLS
