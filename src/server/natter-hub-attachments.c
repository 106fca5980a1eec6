/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-hub"

/* The hub's part of attachments: a chat_message may carry only its
 * sender's own unsent uploads to the same conversation. */

#include "natter-hub-private.h"
#include "natter-server-db-attachments.h"

/**
 * natter_hub_check_attachments:
 * @self: the hub
 * @connection: the sending connection, told why a message is refused
 * @frame: its chat_message
 * @conversation_id: the conversation it goes to
 * @error: a storage failure
 *
 * Returns: TRUE when the attachments (if any) may be sent; FALSE after an
 *   error frame (@error unset) or on a storage failure (@error set)
 */
gboolean
natter_hub_check_attachments (NatterHub *self,
                              NatterHubConnection *connection,
                              const NatterFrame *frame,
                              gint64 conversation_id,
                              GError **error)
{
  const NatterProfile *sender = natter_hub_connection_get_profile (connection);
  g_autoptr (GError) local_error = NULL;

  if (natter_server_db_check_attachments (self->db, frame->attachment_ids, sender, conversation_id,
                                          &local_error))
    return TRUE;

  if (local_error->domain != NATTER_PROTOCOL_ERROR) {
    g_propagate_error (error, g_steal_pointer (&local_error));
    return FALSE;
  }
  natter_hub_connection_send_error (connection, local_error->code, local_error->message,
                                    frame->client_msg_id);
  return FALSE;
}
