/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-conversation-item"

#include "config.h"

#include "natter-conversation-item.h"

/* One row of the conversation list. The object lives as long as the
 * conversation is listed, so widgets can bind to its unread count, typing
 * and presence. */

enum {
  PROP_0,
  PROP_CONVERSATION_ID,
  PROP_TITLE,
  PROP_PEER,
  PROP_LAST_MESSAGE_TEXT,
  PROP_LAST_SEQ,
  PROP_UPDATED_AT,
  PROP_UNREAD_COUNT,
  PROP_PEER_READ_SEQ,
  PROP_TYPING,
  PROP_PEER_ONLINE,
  PROP_PEER_LAST_SEEN,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _NatterConversationItem {
  GObject parent_instance;

  NatterProfile *own_profile;
  gint64 conversation_id;
  char *title;
  NatterProfile *peer;
  char *last_message_text;
  gint64 last_seq;
  char *updated_at;
  guint unread_count;
  gint64 peer_read_seq;
  gboolean typing;
  guint typing_timeout_id;
  gboolean peer_online;
  char *peer_last_seen;
};

G_DEFINE_FINAL_TYPE (NatterConversationItem, natter_conversation_item, G_TYPE_OBJECT)

static gboolean
set_string (char **field, const char *value)
{
  if (g_strcmp0 (*field, value) == 0)
    return FALSE;

  g_free (*field);
  *field = g_strdup (value);

  return TRUE;
}

static gboolean
on_typing_expired (gpointer user_data)
{
  NatterConversationItem *self = user_data;

  self->typing_timeout_id = 0;
  natter_conversation_item_set_typing (self, FALSE, 0);

  return G_SOURCE_REMOVE;
}

static void
natter_conversation_item_get_property (GObject *object,
                                       guint prop_id,
                                       GValue *value,
                                       GParamSpec *pspec)
{
  NatterConversationItem *self = NATTER_CONVERSATION_ITEM (object);

  switch (prop_id) {
    case PROP_CONVERSATION_ID:
      g_value_set_int64 (value, self->conversation_id);
      break;
    case PROP_TITLE:
      g_value_set_string (value, self->title);
      break;
    case PROP_PEER:
      g_value_set_boxed (value, self->peer);
      break;
    case PROP_LAST_MESSAGE_TEXT:
      g_value_set_string (value, self->last_message_text);
      break;
    case PROP_LAST_SEQ:
      g_value_set_int64 (value, self->last_seq);
      break;
    case PROP_UPDATED_AT:
      g_value_set_string (value, self->updated_at);
      break;
    case PROP_UNREAD_COUNT:
      g_value_set_uint (value, self->unread_count);
      break;
    case PROP_PEER_READ_SEQ:
      g_value_set_int64 (value, self->peer_read_seq);
      break;
    case PROP_TYPING:
      g_value_set_boolean (value, self->typing);
      break;
    case PROP_PEER_ONLINE:
      g_value_set_boolean (value, self->peer_online);
      break;
    case PROP_PEER_LAST_SEEN:
      g_value_set_string (value, self->peer_last_seen);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_conversation_item_dispose (GObject *object)
{
  NatterConversationItem *self = NATTER_CONVERSATION_ITEM (object);

  g_clear_handle_id (&self->typing_timeout_id, g_source_remove);

  G_OBJECT_CLASS (natter_conversation_item_parent_class)->dispose (object);
}

static void
natter_conversation_item_finalize (GObject *object)
{
  NatterConversationItem *self = NATTER_CONVERSATION_ITEM (object);

  g_clear_pointer (&self->own_profile, natter_profile_free);
  g_clear_pointer (&self->title, g_free);
  g_clear_pointer (&self->peer, natter_profile_free);
  g_clear_pointer (&self->last_message_text, g_free);
  g_clear_pointer (&self->updated_at, g_free);
  g_clear_pointer (&self->peer_last_seen, g_free);

  G_OBJECT_CLASS (natter_conversation_item_parent_class)->finalize (object);
}

static void
natter_conversation_item_class_init (NatterConversationItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = natter_conversation_item_get_property;
  object_class->dispose = natter_conversation_item_dispose;
  object_class->finalize = natter_conversation_item_finalize;

  properties[PROP_CONVERSATION_ID] =
    g_param_spec_int64 ("conversation-id", NULL, NULL, 0, G_MAXINT64, 0, flags);
  /* The other participant's display name. */
  properties[PROP_TITLE] = g_param_spec_string ("title", NULL, NULL, NULL, flags);
  properties[PROP_PEER] = g_param_spec_boxed ("peer", NULL, NULL, NATTER_TYPE_PROFILE, flags);
  properties[PROP_LAST_MESSAGE_TEXT] =
    g_param_spec_string ("last-message-text", NULL, NULL, NULL, flags);
  properties[PROP_LAST_SEQ] = g_param_spec_int64 ("last-seq", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_UPDATED_AT] = g_param_spec_string ("updated-at", NULL, NULL, NULL, flags);
  properties[PROP_UNREAD_COUNT] =
    g_param_spec_uint ("unread-count", NULL, NULL, 0, G_MAXUINT, 0, flags);
  /* How far the other participant has read: the read receipt. */
  properties[PROP_PEER_READ_SEQ] =
    g_param_spec_int64 ("peer-read-seq", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_TYPING] = g_param_spec_boolean ("typing", NULL, NULL, FALSE, flags);
  properties[PROP_PEER_ONLINE] = g_param_spec_boolean ("peer-online", NULL, NULL, FALSE, flags);
  properties[PROP_PEER_LAST_SEEN] = g_param_spec_string ("peer-last-seen", NULL, NULL, NULL, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_conversation_item_init (NatterConversationItem *self)
{
}

/**
 * natter_conversation_item_new:
 * @conversation: the conversation as stored
 * @own_profile: the active profile, to tell the peer apart
 *
 * Returns: (transfer full): a new item
 */
NatterConversationItem *
natter_conversation_item_new (const NatterConversation *conversation,
                              const NatterProfile *own_profile)
{
  NatterConversationItem *self;

  g_return_val_if_fail (conversation != NULL, NULL);
  g_return_val_if_fail (own_profile != NULL, NULL);

  self = g_object_new (NATTER_TYPE_CONVERSATION_ITEM, NULL);
  self->own_profile = natter_profile_copy (own_profile);
  self->conversation_id = conversation->conversation_id;
  natter_conversation_item_update (self, conversation);

  return self;
}

/**
 * natter_conversation_item_update:
 * @self: a #NatterConversationItem
 * @conversation: the conversation as now stored
 *
 * Takes the new summary; notifies only what changed.
 */
void
natter_conversation_item_update (NatterConversationItem *self,
                                 const NatterConversation *conversation)
{
  const NatterProfile *peer = NULL;
  const char *last_text = NULL;
  gint64 last_seq = 0;
  guint unread;
  guint i;

  g_return_if_fail (NATTER_IS_CONVERSATION_ITEM (self));
  g_return_if_fail (conversation != NULL);

  for (i = 0; i < conversation->participants->len; i++) {
    const NatterProfile *participant = g_ptr_array_index (conversation->participants, i);

    if (!natter_profile_equal (participant, self->own_profile)) {
      peer = participant;
      break;
    }
  }

  g_object_freeze_notify (G_OBJECT (self));

  if (peer != NULL && (self->peer == NULL || !natter_profile_equal (peer, self->peer) ||
                       g_strcmp0 (peer->display_name, self->peer->display_name) != 0 ||
                       g_strcmp0 (peer->avatar_url, self->peer->avatar_url) != 0)) {
    g_clear_pointer (&self->peer, natter_profile_free);
    self->peer = natter_profile_copy (peer);
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PEER]);
  }

  if (peer != NULL) {
    g_autofree char *fallback = NULL;
    const char *title = peer->display_name;

    if (title == NULL)
      title = fallback =
        g_strdup_printf ("%s:%" G_GINT64_FORMAT, peer->profile_type, peer->profile_id);

    if (set_string (&self->title, title))
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TITLE]);
  }

  if (conversation->last_message != NULL) {
    last_text = conversation->last_message->text;
    last_seq = conversation->last_message->seq;
  }

  if (set_string (&self->last_message_text, last_text))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_MESSAGE_TEXT]);

  if (self->last_seq != last_seq) {
    self->last_seq = last_seq;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_SEQ]);
  }

  if (set_string (&self->updated_at, conversation->updated_at))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UPDATED_AT]);

  unread = (guint) CLAMP (conversation->unread_count, 0, G_MAXUINT);
  if (self->unread_count != unread) {
    self->unread_count = unread;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UNREAD_COUNT]);
  }

  g_object_thaw_notify (G_OBJECT (self));
}

/**
 * natter_conversation_item_get_conversation_id:
 * @self: a #NatterConversationItem
 *
 * Returns: the conversation's id
 */
gint64
natter_conversation_item_get_conversation_id (NatterConversationItem *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ITEM (self), 0);

  return self->conversation_id;
}

/**
 * natter_conversation_item_get_title:
 * @self: a #NatterConversationItem
 *
 * Returns: (nullable): the other participant's name
 */
const char *
natter_conversation_item_get_title (NatterConversationItem *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ITEM (self), NULL);

  return self->title;
}

/**
 * natter_conversation_item_get_peer:
 * @self: a #NatterConversationItem
 *
 * Returns: (transfer none) (nullable): the other participant
 */
const NatterProfile *
natter_conversation_item_get_peer (NatterConversationItem *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ITEM (self), NULL);

  return self->peer;
}

/**
 * natter_conversation_item_get_last_message_text:
 * @self: a #NatterConversationItem
 *
 * Returns: (nullable): the newest message's text
 */
const char *
natter_conversation_item_get_last_message_text (NatterConversationItem *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ITEM (self), NULL);

  return self->last_message_text;
}

/**
 * natter_conversation_item_get_last_seq:
 * @self: a #NatterConversationItem
 *
 * Returns: the newest message's seq, 0 if none
 */
gint64
natter_conversation_item_get_last_seq (NatterConversationItem *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ITEM (self), 0);

  return self->last_seq;
}

/**
 * natter_conversation_item_get_updated_at:
 * @self: a #NatterConversationItem
 *
 * Returns: (nullable): RFC 3339 time of the last activity
 */
const char *
natter_conversation_item_get_updated_at (NatterConversationItem *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ITEM (self), NULL);

  return self->updated_at;
}

/**
 * natter_conversation_item_get_unread_count:
 * @self: a #NatterConversationItem
 *
 * Returns: messages from others past the active profile's read marker
 */
guint
natter_conversation_item_get_unread_count (NatterConversationItem *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ITEM (self), 0);

  return self->unread_count;
}

/**
 * natter_conversation_item_get_peer_read_seq:
 * @self: a #NatterConversationItem
 *
 * Returns: how far the other participant has read
 */
gint64
natter_conversation_item_get_peer_read_seq (NatterConversationItem *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ITEM (self), 0);

  return self->peer_read_seq;
}

/**
 * natter_conversation_item_set_peer_read_seq:
 * @self: a #NatterConversationItem
 * @seq: how far the other participant has read
 */
void
natter_conversation_item_set_peer_read_seq (NatterConversationItem *self, gint64 seq)
{
  g_return_if_fail (NATTER_IS_CONVERSATION_ITEM (self));

  if (self->peer_read_seq == seq)
    return;

  self->peer_read_seq = seq;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PEER_READ_SEQ]);
}

/**
 * natter_conversation_item_get_typing:
 * @self: a #NatterConversationItem
 *
 * Returns: whether the other participant is typing
 */
gboolean
natter_conversation_item_get_typing (NatterConversationItem *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ITEM (self), FALSE);

  return self->typing;
}

/**
 * natter_conversation_item_set_typing:
 * @self: a #NatterConversationItem
 * @typing: whether the other participant is typing
 * @expire_ms: when @typing, clear it after this long without a new notice
 *
 * A typing notice that is never followed by "stopped" (the peer closed the
 * window, lost the network) must not stick, hence the expiry.
 */
void
natter_conversation_item_set_typing (NatterConversationItem *self, gboolean typing, guint expire_ms)
{
  g_return_if_fail (NATTER_IS_CONVERSATION_ITEM (self));

  g_clear_handle_id (&self->typing_timeout_id, g_source_remove);

  if (typing && expire_ms > 0)
    self->typing_timeout_id = g_timeout_add (expire_ms, on_typing_expired, self);

  typing = !!typing;
  if (self->typing == typing)
    return;

  self->typing = typing;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TYPING]);
}

/**
 * natter_conversation_item_get_peer_online:
 * @self: a #NatterConversationItem
 *
 * Returns: whether the other participant has a connection
 */
gboolean
natter_conversation_item_get_peer_online (NatterConversationItem *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ITEM (self), FALSE);

  return self->peer_online;
}

/**
 * natter_conversation_item_get_peer_last_seen:
 * @self: a #NatterConversationItem
 *
 * Returns: (nullable): RFC 3339 time the other participant was last online
 */
const char *
natter_conversation_item_get_peer_last_seen (NatterConversationItem *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_ITEM (self), NULL);

  return self->peer_last_seen;
}

/**
 * natter_conversation_item_set_presence:
 * @self: a #NatterConversationItem
 * @online: whether the other participant has a connection
 * @last_seen: (nullable): when it was last online
 */
void
natter_conversation_item_set_presence (NatterConversationItem *self,
                                       gboolean online,
                                       const char *last_seen)
{
  g_return_if_fail (NATTER_IS_CONVERSATION_ITEM (self));

  online = !!online;

  g_object_freeze_notify (G_OBJECT (self));

  if (self->peer_online != online) {
    self->peer_online = online;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PEER_ONLINE]);
  }

  if (last_seen != NULL && set_string (&self->peer_last_seen, last_seen))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PEER_LAST_SEEN]);

  /* Someone who went away is no longer typing. */
  if (!online)
    natter_conversation_item_set_typing (self, FALSE, 0);

  g_object_thaw_notify (G_OBJECT (self));
}
