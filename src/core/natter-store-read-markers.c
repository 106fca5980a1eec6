/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-store"

#include "config.h"

#include "natter-store-private.h"

/* Read markers and unread counts: everyone's markers from read receipts,
 * our own moved at once and kept pending until the server confirms them. */

/* Unread: messages from others past our own read marker, among those stored. */
gboolean
natter_store_recount_unread (NatterStore *self, gint64 conversation_id, GError **error)
{
  const NatterProfile *own = natter_store_get_own_profile (self);
  sqlite3_stmt *stmt = natter_store_statement (
    self, "UPDATE conversations SET unread_count = (SELECT count (*) FROM messages m "
          "WHERE m.conversation_id = ?1 AND m.seq > ?2 AND NOT (m.sender_id = ?3 AND "
          "m.sender_type = ?4)) WHERE conversation_id = ?1");

  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2, natter_store_get_read_seq (self, conversation_id, own));
  sqlite3_bind_int64 (stmt, 3, own->profile_id);
  natter_store_bind_text (stmt, 4, own->profile_type);

  return natter_store_step_done (self, stmt, error);
}

gboolean
natter_store_has_pending_read (NatterStore *self, gint64 conversation_id)
{
  sqlite3_stmt *stmt =
    natter_store_statement (self, "SELECT 1 FROM pending_reads WHERE conversation_id = ?1");
  gboolean found;

  sqlite3_bind_int64 (stmt, 1, conversation_id);
  found = sqlite3_step (stmt) == SQLITE_ROW;
  sqlite3_reset (stmt);

  return found;
}

gboolean
natter_store_apply_read_receipt (NatterStore *self, const NatterFrame *frame, GError **error)
{
  sqlite3_stmt *stmt;

  if (frame->profile == NULL || frame->conversation_id <= 0)
    return TRUE;

  if (!natter_store_ensure_conversation (self, frame->conversation_id, error) ||
      !natter_store_upsert_participant (self, frame->conversation_id, frame->profile, error))
    return FALSE;

  /* Read markers only move forward. */
  stmt = natter_store_statement (
    self, "UPDATE participants SET read_seq = max (read_seq, ?4) "
          "WHERE conversation_id = ?1 AND profile_id = ?2 AND profile_type = ?3");
  sqlite3_bind_int64 (stmt, 1, frame->conversation_id);
  sqlite3_bind_int64 (stmt, 2, frame->profile->profile_id);
  natter_store_bind_text (stmt, 3, frame->profile->profile_type);
  sqlite3_bind_int64 (stmt, 4, frame->up_to_seq);
  if (!natter_store_step_done (self, stmt, error))
    return FALSE;

  if (natter_store_is_own (self, frame->profile->profile_id, frame->profile->profile_type)) {
    if (!natter_store_recount_unread (self, frame->conversation_id, error))
      return FALSE;

    /* The server has our marker that far: nothing left to send. */
    stmt = natter_store_statement (self, "DELETE FROM pending_reads WHERE conversation_id = ?1 AND "
                                         "up_to_seq <= ?2");
    sqlite3_bind_int64 (stmt, 1, frame->conversation_id);
    sqlite3_bind_int64 (stmt, 2, frame->up_to_seq);
    if (!natter_store_step_done (self, stmt, error))
      return FALSE;
  }

  natter_store_queue_conversation_changed (self, frame->conversation_id);

  return TRUE;
}

/**
 * natter_store_get_read_seq:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @profile: a participant
 *
 * Returns: how far @profile has read @conversation
 */
gint64
natter_store_get_read_seq (NatterStore *self, gint64 conversation_id, const NatterProfile *profile)
{
  sqlite3_stmt *stmt;
  gint64 seq = 0;

  g_return_val_if_fail (NATTER_IS_STORE (self), 0);
  g_return_val_if_fail (profile != NULL, 0);

  stmt = natter_store_statement (self,
                                 "SELECT read_seq FROM participants WHERE conversation_id = ?1 AND "
                                 "profile_id = ?2 AND profile_type = ?3");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2, profile->profile_id);
  natter_store_bind_text (stmt, 3, profile->profile_type);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    seq = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);

  return seq;
}

/**
 * natter_store_mark_read:
 * @self: a #NatterStore
 * @conversation_id: the conversation
 * @up_to_seq: the newest message the user has seen
 * @out_changed: (out) (optional): %FALSE if the marker was already there
 * @error: a #GError
 *
 * Moves our own read marker forward at once (the unread count drops) and
 * keeps it as pending until the server's read receipt confirms it, so a
 * marker set offline, or before a restart, is not lost. @up_to_seq is
 * capped at the newest message known here.
 *
 * Returns: %TRUE unless the database failed
 */
gboolean
natter_store_mark_read (NatterStore *self,
                        gint64 conversation_id,
                        gint64 up_to_seq,
                        gboolean *out_changed,
                        GError **error)
{
  const NatterProfile *own;
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (conversation_id > 0, FALSE);

  if (out_changed != NULL)
    *out_changed = FALSE;

  own = natter_store_get_own_profile (self);
  up_to_seq = MIN (up_to_seq, natter_store_get_last_seq (self, conversation_id));
  if (up_to_seq <= natter_store_get_read_seq (self, conversation_id, own))
    return TRUE;

  if (!natter_store_begin (self, error))
    return FALSE;

  if (!natter_store_ensure_conversation (self, conversation_id, error) ||
      !natter_store_upsert_participant (self, conversation_id, own, error))
    goto failed;

  stmt = natter_store_statement (
    self, "UPDATE participants SET read_seq = max (read_seq, ?4) "
          "WHERE conversation_id = ?1 AND profile_id = ?2 AND profile_type = ?3");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2, own->profile_id);
  natter_store_bind_text (stmt, 3, own->profile_type);
  sqlite3_bind_int64 (stmt, 4, up_to_seq);
  if (!natter_store_step_done (self, stmt, error) ||
      !natter_store_recount_unread (self, conversation_id, error))
    goto failed;

  /* Only the highest marker per conversation is worth sending. */
  stmt = natter_store_statement (
    self, "INSERT INTO pending_reads (conversation_id, up_to_seq) VALUES (?1, ?2) "
          "ON CONFLICT (conversation_id) DO UPDATE SET "
          "up_to_seq = max (up_to_seq, ?2)");
  sqlite3_bind_int64 (stmt, 1, conversation_id);
  sqlite3_bind_int64 (stmt, 2, up_to_seq);
  if (!natter_store_step_done (self, stmt, error))
    goto failed;

  natter_store_queue_conversation_changed (self, conversation_id);

  if (!natter_store_commit (self, error))
    return FALSE;

  if (out_changed != NULL)
    *out_changed = TRUE;

  return TRUE;

failed:
  natter_store_rollback (self);
  return FALSE;
}

/**
 * natter_store_list_pending_reads:
 * @self: a #NatterStore
 *
 * Returns: (transfer full) (element-type NatterPendingRead): our read
 *   markers not yet confirmed by the server, one per conversation
 */
GArray *
natter_store_list_pending_reads (NatterStore *self)
{
  GArray *reads;
  sqlite3_stmt *stmt;

  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  reads = g_array_new (FALSE, FALSE, sizeof (NatterPendingRead));
  stmt = natter_store_statement (self, "SELECT conversation_id, up_to_seq FROM pending_reads "
                                       "ORDER BY conversation_id");
  while (sqlite3_step (stmt) == SQLITE_ROW) {
    NatterPendingRead read = { sqlite3_column_int64 (stmt, 0), sqlite3_column_int64 (stmt, 1) };

    g_array_append_val (reads, read);
  }
  sqlite3_reset (stmt);

  return reads;
}
