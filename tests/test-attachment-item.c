/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "natter-attachment-item.h"
#include "natter-message-item.h"

static void
count_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  GHashTable *counts = user_data;
  const char *name = g_param_spec_get_name (pspec);

  g_hash_table_replace (
    counts, (gpointer) name,
    GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (counts, name)) + 1));
}

static guint
notified (GHashTable *counts, const char *name)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (counts, name));
}

/* A bubble binds these: each notifies once per real change, never for the
 * same value again. */
static void
test_notifies_on_real_change (void)
{
  g_autoptr (GHashTable) counts = g_hash_table_new (g_str_hash, g_str_equal);
  NatterAttachmentItem *item =
    natter_attachment_item_new (0, "worksheet.pdf", "application/pdf", 1234, 0, 0, NULL);

  g_signal_connect (item, "notify", G_CALLBACK (count_notify), counts);
  g_assert_cmpint (natter_attachment_item_get_state (item), ==, NATTER_ATTACHMENT_STATE_REMOTE);
  g_assert_false (natter_attachment_item_is_image (item));

  natter_attachment_item_set_state (item, NATTER_ATTACHMENT_STATE_UPLOADING, NULL);
  natter_attachment_item_set_state (item, NATTER_ATTACHMENT_STATE_UPLOADING, NULL);
  g_assert_cmpuint (notified (counts, "state"), ==, 1);

  natter_attachment_item_set_progress (item, 0.5);
  natter_attachment_item_set_progress (item, 0.5);
  natter_attachment_item_set_progress (item, 7); /* clamped to 1 */
  g_assert_cmpuint (notified (counts, "progress"), ==, 2);
  g_assert_cmpfloat (natter_attachment_item_get_progress (item), ==, 1.0);

  natter_attachment_item_set_uploaded (item, 42, "ab12");
  g_assert_cmpint (natter_attachment_item_get_attachment_id (item), ==, 42);
  g_assert_cmpstr (natter_attachment_item_get_sha256 (item), ==, "ab12");
  g_assert_cmpint (natter_attachment_item_get_state (item), ==, NATTER_ATTACHMENT_STATE_REMOTE);
  g_assert_cmpuint (notified (counts, "attachment-id"), ==, 1);
  g_assert_cmpuint (notified (counts, "state"), ==, 2);

  natter_attachment_item_set_state (item, NATTER_ATTACHMENT_STATE_FAILED, "Disk full");
  g_assert_cmpstr (natter_attachment_item_get_error (item), ==, "Disk full");
  natter_attachment_item_set_state (item, NATTER_ATTACHMENT_STATE_DOWNLOADED, NULL);
  g_assert_null (natter_attachment_item_get_error (item));
  g_assert_cmpuint (notified (counts, "error"), ==, 2);

  natter_attachment_item_set_local_path (item, "/tmp/x.pdf");
  natter_attachment_item_set_local_path (item, "/tmp/x.pdf");
  g_assert_cmpuint (notified (counts, "local-path"), ==, 1);

  g_assert_finalize_object (item);
}

static void
test_image_and_defaults (void)
{
  NatterAttachmentItem *item =
    natter_attachment_item_new (7, "photo.jpg", "image/jpeg", 10, 4032, 3024, "ff");
  NatterAttachmentItem *unknown = natter_attachment_item_new (8, "blob", NULL, -5, -1, -1, NULL);

  g_assert_true (natter_attachment_item_is_image (item));
  g_assert_cmpint (natter_attachment_item_get_width (item), ==, 4032);
  g_assert_cmpint (natter_attachment_item_get_height (item), ==, 3024);
  g_assert_cmpstr (natter_attachment_item_get_content_type (unknown), ==,
                   "application/octet-stream");
  g_assert_cmpint (natter_attachment_item_get_size (unknown), ==, 0);
  g_assert_cmpint (natter_attachment_item_get_width (unknown), ==, 0);

  g_assert_finalize_object (item);
  g_assert_finalize_object (unknown);
}

static void
test_message_item_holds_attachments (void)
{
  g_autoptr (NatterProfile) sender = natter_profile_new (1, "tutor", "Abebe", NULL);
  NatterMessage message = { .message_id = 3,
                            .conversation_id = 7,
                            .seq = 1,
                            .sender = sender,
                            .text = (char *) "worksheet.pdf",
                            .sent_at = (char *) "2026-12-06T20:00:00Z" };
  NatterMessageItem *row = natter_message_item_new (&message, TRUE);
  NatterAttachmentItem *item =
    natter_attachment_item_new (5, "worksheet.pdf", "application/pdf", 1, 0, 0, NULL);
  g_autoptr (GListModel) bound = NULL;

  g_assert_cmpuint (g_list_model_get_n_items (natter_message_item_get_attachments (row)), ==, 0);
  natter_message_item_add_attachment (row, item);
  g_object_get (row, "attachments", &bound, NULL);
  g_assert_true (bound == natter_message_item_get_attachments (row));
  g_assert_cmpuint (g_list_model_get_n_items (bound), ==, 1);
  g_assert_true (g_list_model_get_item_type (bound) == NATTER_TYPE_ATTACHMENT_ITEM);

  g_clear_object (&bound);
  g_object_unref (item);
  g_assert_finalize_object (row);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/attachment-item/notifies-on-real-change", test_notifies_on_real_change);
  g_test_add_func ("/natter/attachment-item/image-and-defaults", test_image_and_defaults);
  g_test_add_func ("/natter/attachment-item/message-item-holds-attachments",
                   test_message_item_holds_attachments);

  return g_test_run ();
}
