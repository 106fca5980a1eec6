/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-message-item"

#include "config.h"

#include "natter-attachment-item.h"
#include "natter-message-item.h"

/* One row of a NatterMessageList: a stored message, an outbox entry
 * still waiting for its ack, or a call of the conversation. Immutable: the list replaces the item
 * when its state changes. */

enum {
  PROP_0,
  PROP_MESSAGE_ID,
  PROP_CONVERSATION_ID,
  PROP_SEQ,
  PROP_SENDER,
  PROP_SENDER_NAME,
  PROP_TEXT,
  PROP_SENT_AT,
  PROP_CLIENT_MSG_ID,
  PROP_OUTGOING,
  PROP_STATE,
  PROP_ERROR_MESSAGE,
  PROP_ATTACHMENTS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _NatterMessageItem {
  GObject parent_instance;

  gint64 message_id;
  gint64 conversation_id;
  gint64 seq;
  NatterProfile *sender;
  char *text;
  char *sent_at;
  char *client_msg_id;
  gboolean outgoing;
  NatterMessageState state;
  char *error_message;
  NatterCallLog *call;
  GListStore *attachments; /* NatterAttachmentItem */
};

G_DEFINE_FINAL_TYPE (NatterMessageItem, natter_message_item, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (NatterMessageState,
                    natter_message_state,
                    G_DEFINE_ENUM_VALUE (NATTER_MESSAGE_STATE_SENT, "sent"),
                    G_DEFINE_ENUM_VALUE (NATTER_MESSAGE_STATE_PENDING, "pending"),
                    G_DEFINE_ENUM_VALUE (NATTER_MESSAGE_STATE_FAILED, "failed"))

static void
natter_message_item_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterMessageItem *self = NATTER_MESSAGE_ITEM (object);

  switch (prop_id) {
    case PROP_MESSAGE_ID:
      g_value_set_int64 (value, self->message_id);
      break;
    case PROP_CONVERSATION_ID:
      g_value_set_int64 (value, self->conversation_id);
      break;
    case PROP_SEQ:
      g_value_set_int64 (value, self->seq);
      break;
    case PROP_SENDER:
      g_value_set_boxed (value, self->sender);
      break;
    case PROP_SENDER_NAME:
      g_value_set_string (value, natter_message_item_get_sender_name (self));
      break;
    case PROP_TEXT:
      g_value_set_string (value, self->text);
      break;
    case PROP_SENT_AT:
      g_value_set_string (value, self->sent_at);
      break;
    case PROP_CLIENT_MSG_ID:
      g_value_set_string (value, self->client_msg_id);
      break;
    case PROP_OUTGOING:
      g_value_set_boolean (value, self->outgoing);
      break;
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_ERROR_MESSAGE:
      g_value_set_string (value, self->error_message);
      break;
    case PROP_ATTACHMENTS:
      g_value_set_object (value, self->attachments);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_message_item_finalize (GObject *object)
{
  NatterMessageItem *self = NATTER_MESSAGE_ITEM (object);

  g_clear_pointer (&self->sender, natter_profile_free);
  g_clear_pointer (&self->text, g_free);
  g_clear_pointer (&self->sent_at, g_free);
  g_clear_pointer (&self->client_msg_id, g_free);
  g_clear_pointer (&self->error_message, g_free);
  g_clear_pointer (&self->call, natter_call_log_free);
  g_clear_object (&self->attachments);

  G_OBJECT_CLASS (natter_message_item_parent_class)->finalize (object);
}

static void
natter_message_item_class_init (NatterMessageItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  object_class->get_property = natter_message_item_get_property;
  object_class->finalize = natter_message_item_finalize;

  properties[PROP_MESSAGE_ID] =
    g_param_spec_int64 ("message-id", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_CONVERSATION_ID] =
    g_param_spec_int64 ("conversation-id", NULL, NULL, 0, G_MAXINT64, 0, flags);
  /* 0 while the message waits in the outbox. */
  properties[PROP_SEQ] = g_param_spec_int64 ("seq", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_SENDER] = g_param_spec_boxed ("sender", NULL, NULL, NATTER_TYPE_PROFILE, flags);
  properties[PROP_SENDER_NAME] = g_param_spec_string ("sender-name", NULL, NULL, NULL, flags);
  properties[PROP_TEXT] = g_param_spec_string ("text", NULL, NULL, NULL, flags);
  properties[PROP_SENT_AT] = g_param_spec_string ("sent-at", NULL, NULL, NULL, flags);
  properties[PROP_CLIENT_MSG_ID] = g_param_spec_string ("client-msg-id", NULL, NULL, NULL, flags);
  properties[PROP_OUTGOING] = g_param_spec_boolean ("outgoing", NULL, NULL, FALSE, flags);
  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, NATTER_TYPE_MESSAGE_STATE,
                                              NATTER_MESSAGE_STATE_SENT, flags);
  properties[PROP_ERROR_MESSAGE] = g_param_spec_string ("error-message", NULL, NULL, NULL, flags);
  /**
   * NatterMessageItem:attachments:
   *
   * The message's files and images (#NatterAttachmentItem), in the order
   * the sender attached them; empty for a text-only message. The items are
   * shared and change in place while they upload or download.
   */
  properties[PROP_ATTACHMENTS] =
    g_param_spec_object ("attachments", NULL, NULL, G_TYPE_LIST_MODEL, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_message_item_init (NatterMessageItem *self)
{
  self->attachments = g_list_store_new (NATTER_TYPE_ATTACHMENT_ITEM);
}

/**
 * natter_message_item_new:
 * @message: a stored message
 * @outgoing: whether the active profile sent it
 *
 * Returns: (transfer full): a new item
 */
NatterMessageItem *
natter_message_item_new (const NatterMessage *message, gboolean outgoing)
{
  NatterMessageItem *self;

  g_return_val_if_fail (message != NULL, NULL);

  self = g_object_new (NATTER_TYPE_MESSAGE_ITEM, NULL);
  self->message_id = message->message_id;
  self->conversation_id = message->conversation_id;
  self->seq = message->seq;
  self->sender = message->sender != NULL ? natter_profile_copy (message->sender) : NULL;
  self->text = g_strdup (message->text);
  self->sent_at = g_strdup (message->sent_at);
  self->client_msg_id = g_strdup (message->client_msg_id);
  self->outgoing = outgoing;
  self->state = NATTER_MESSAGE_STATE_SENT;

  return self;
}

/**
 * natter_message_item_new_from_outbox:
 * @entry: an outbox entry
 * @own_profile: the active profile, its sender
 *
 * Returns: (transfer full): a new item, pending or failed
 */
NatterMessageItem *
natter_message_item_new_from_outbox (const NatterOutboxEntry *entry,
                                     const NatterProfile *own_profile)
{
  NatterMessageItem *self;

  g_return_val_if_fail (entry != NULL, NULL);
  g_return_val_if_fail (own_profile != NULL, NULL);

  self = g_object_new (NATTER_TYPE_MESSAGE_ITEM, NULL);
  self->conversation_id = entry->conversation_id;
  self->sender = natter_profile_copy (own_profile);
  self->text = g_strdup (entry->text);
  self->sent_at = g_strdup (entry->created_at);
  self->client_msg_id = g_strdup (entry->client_msg_id);
  self->outgoing = TRUE;
  self->state = entry->state == NATTER_OUTBOX_FAILED ? NATTER_MESSAGE_STATE_FAILED
                                                     : NATTER_MESSAGE_STATE_PENDING;
  self->error_message =
    g_strdup (entry->error_message != NULL ? entry->error_message : entry->error_code);

  return self;
}

/**
 * natter_message_item_get_message_id:
 * @self: a #NatterMessageItem
 *
 * Returns: the server's id, 0 while pending
 */
gint64
natter_message_item_get_message_id (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), 0);

  return self->message_id;
}

/**
 * natter_message_item_get_conversation_id:
 * @self: a #NatterMessageItem
 *
 * Returns: the conversation
 */
gint64
natter_message_item_get_conversation_id (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), 0);

  return self->conversation_id;
}

/**
 * natter_message_item_get_seq:
 * @self: a #NatterMessageItem
 *
 * Returns: the place in the conversation, 0 while pending
 */
gint64
natter_message_item_get_seq (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), 0);

  return self->seq;
}

/**
 * natter_message_item_get_sender:
 * @self: a #NatterMessageItem
 *
 * Returns: (transfer none): who wrote it
 */
const NatterProfile *
natter_message_item_get_sender (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), NULL);

  return self->sender;
}

/**
 * natter_message_item_get_sender_name:
 * @self: a #NatterMessageItem
 *
 * Returns: (nullable): the sender's display name, if known
 */
const char *
natter_message_item_get_sender_name (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), NULL);

  return self->sender != NULL ? self->sender->display_name : NULL;
}

/**
 * natter_message_item_get_text:
 * @self: a #NatterMessageItem
 *
 * Returns: the text
 */
const char *
natter_message_item_get_text (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), NULL);

  return self->text;
}

/**
 * natter_message_item_get_sent_at:
 * @self: a #NatterMessageItem
 *
 * Returns: RFC 3339 time: the server's, or when it was written if pending
 */
const char *
natter_message_item_get_sent_at (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), NULL);

  return self->sent_at;
}

/**
 * natter_message_item_get_client_msg_id:
 * @self: a #NatterMessageItem
 *
 * Returns: (nullable): the idempotency key of a message written here
 */
const char *
natter_message_item_get_client_msg_id (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), NULL);

  return self->client_msg_id;
}

/**
 * natter_message_item_get_outgoing:
 * @self: a #NatterMessageItem
 *
 * Returns: whether the active profile sent it
 */
gboolean
natter_message_item_get_outgoing (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), FALSE);

  return self->outgoing;
}

/**
 * natter_message_item_get_state:
 * @self: a #NatterMessageItem
 *
 * Returns: sent, pending or failed
 */
NatterMessageState
natter_message_item_get_state (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), NATTER_MESSAGE_STATE_SENT);

  return self->state;
}

/**
 * natter_message_item_get_error_message:
 * @self: a #NatterMessageItem
 *
 * Returns: (nullable): why the server refused a failed message
 */
const char *
natter_message_item_get_error_message (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), NULL);

  return self->error_message;
}

/**
 * natter_message_item_new_from_call:
 * @call: a call of the conversation's log
 * @own_profile: the signed-in profile, to tell made calls from received
 *
 * Returns: (transfer full): an item for a call row
 */
NatterMessageItem *
natter_message_item_new_from_call (const NatterCallLog *call, const NatterProfile *own_profile)
{
  NatterMessageItem *self;

  g_return_val_if_fail (call != NULL, NULL);

  self = g_object_new (NATTER_TYPE_MESSAGE_ITEM, NULL);
  self->conversation_id = call->conversation_id;
  self->sender = call->caller ? natter_profile_copy (call->caller) : NULL;
  self->sent_at = g_strdup (call->started_at);
  self->outgoing =
    call->caller != NULL && own_profile != NULL && natter_profile_equal (call->caller, own_profile);
  self->state = NATTER_MESSAGE_STATE_SENT;
  self->call = natter_call_log_copy (call);

  return self;
}

/**
 * natter_message_item_get_call:
 * @self: a #NatterMessageItem
 *
 * Returns: (transfer none) (nullable): the call this row shows, %NULL for
 *   a message
 */
const NatterCallLog *
natter_message_item_get_call (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), NULL);

  return self->call;
}

/**
 * natter_message_item_get_attachments:
 * @self: a #NatterMessageItem
 *
 * Returns: (transfer none): a #GListModel of #NatterAttachmentItem, never
 *   %NULL
 */
GListModel *
natter_message_item_get_attachments (NatterMessageItem *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ITEM (self), NULL);

  return G_LIST_MODEL (self->attachments);
}

/**
 * natter_message_item_add_attachment:
 * @self: a #NatterMessageItem
 * @attachment: an attachment of the message
 *
 * For the core, while it builds the item.
 */
void
natter_message_item_add_attachment (NatterMessageItem *self, NatterAttachmentItem *attachment)
{
  g_return_if_fail (NATTER_IS_MESSAGE_ITEM (self));
  g_return_if_fail (NATTER_IS_ATTACHMENT_ITEM (attachment));

  g_list_store_append (self->attachments, attachment);
}
