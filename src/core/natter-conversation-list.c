/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-conversation-list"

#include "config.h"

#include "natter-conversation-list.h"

/* The conversations of one profile, most recently active first, as
 * NatterConversationItems. Conversations are few and small (no history), so
 * all their items are kept; items are reused across reloads so bindings on
 * them survive.
 *
 * Presence is kept per profile, not per item: it often arrives (the
 * server's greeting right after hello) before the conversation list has
 * been fetched, and an item made later must still show it. */

enum { PROP_0, PROP_STORE, PROP_N_ITEMS, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterConversationList {
  GObject parent_instance;

  NatterStore *store;
  GPtrArray *items;        /* NatterConversationItem, in list order */
  GHashTable *presence;    /* "type:id" -> Presence */
  GHashTable *unconfirmed; /* "type:id" set: online before a reconnect, not greeted since */
};

typedef struct {
  gboolean online;
  char *last_seen;
} Presence;

static void
presence_free (Presence *presence)
{
  g_free (presence->last_seen);
  g_free (presence);
}

static char *
profile_key (const NatterProfile *profile)
{
  return g_strdup_printf ("%s:%" G_GINT64_FORMAT, profile->profile_type, profile->profile_id);
}

static void natter_conversation_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterConversationList,
                               natter_conversation_list,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      natter_conversation_list_model_init))

static GType
natter_conversation_list_get_item_type (GListModel *model)
{
  return NATTER_TYPE_CONVERSATION_ITEM;
}

static guint
natter_conversation_list_get_n_items (GListModel *model)
{
  NatterConversationList *self = NATTER_CONVERSATION_LIST (model);

  return self->items->len;
}

static gpointer
natter_conversation_list_get_item (GListModel *model, guint position)
{
  NatterConversationList *self = NATTER_CONVERSATION_LIST (model);

  if (position >= self->items->len)
    return NULL;

  return g_object_ref (g_ptr_array_index (self->items, position));
}

static void
natter_conversation_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = natter_conversation_list_get_item_type;
  iface->get_n_items = natter_conversation_list_get_n_items;
  iface->get_item = natter_conversation_list_get_item;
}

static gboolean
find_position (GPtrArray *items, gint64 conversation_id, guint *out_position)
{
  guint i;

  for (i = 0; i < items->len; i++) {
    NatterConversationItem *item = g_ptr_array_index (items, i);

    if (natter_conversation_item_get_conversation_id (item) == conversation_id) {
      *out_position = i;
      return TRUE;
    }
  }

  return FALSE;
}

static void
update_item (NatterConversationList *self,
             NatterConversationItem *item,
             const NatterConversation *conversation)
{
  const NatterProfile *peer;

  natter_conversation_item_update (item, conversation);

  peer = natter_conversation_item_get_peer (item);
  if (peer != NULL) {
    g_autofree char *key = profile_key (peer);
    Presence *presence = g_hash_table_lookup (self->presence, key);

    natter_conversation_item_set_peer_read_seq (
      item, natter_store_get_read_seq (self->store, conversation->conversation_id, peer));
    if (presence != NULL)
      natter_conversation_item_set_presence (item, presence->online, presence->last_seen);
  }
}

/* Rebuilds the order from the store, reusing items; emits the smallest
 * change it can tell: nothing, one move, or the whole range. */
static void
reload (NatterConversationList *self)
{
  g_autoptr (GPtrArray) conversations = natter_store_load_conversations (self->store);
  g_autoptr (GPtrArray) old_items = self->items;
  GPtrArray *new_items = g_ptr_array_new_with_free_func (g_object_unref);
  const NatterProfile *own = natter_store_get_own_profile (self->store);
  gboolean same_order;
  guint i;

  for (i = 0; i < conversations->len; i++) {
    NatterConversation *conversation = g_ptr_array_index (conversations, i);
    NatterConversationItem *item;
    guint old_position;

    if (find_position (old_items, conversation->conversation_id, &old_position)) {
      item = g_object_ref (g_ptr_array_index (old_items, old_position));
    } else {
      item = natter_conversation_item_new (conversation, own);
    }

    update_item (self, item, conversation);
    g_ptr_array_add (new_items, item);
  }

  self->items = new_items;

  same_order = old_items->len == new_items->len;
  for (i = 0; same_order && i < new_items->len; i++)
    same_order = g_ptr_array_index (old_items, i) == g_ptr_array_index (new_items, i);

  if (same_order)
    return;

  /* The common case: one conversation got a message and moved to the top. */
  if (old_items->len == new_items->len && new_items->len > 0) {
    gpointer moved = g_ptr_array_index (new_items, 0);
    guint old_position = 0;

    if (g_ptr_array_find (old_items, moved, &old_position)) {
      gboolean single_move = TRUE;
      guint j = 0;

      for (i = 1; single_move && i < new_items->len; i++, j++) {
        if (j == old_position)
          j++;
        single_move = g_ptr_array_index (new_items, i) == g_ptr_array_index (old_items, j);
      }

      if (single_move) {
        g_list_model_items_changed (G_LIST_MODEL (self), old_position, 1, 0);
        g_list_model_items_changed (G_LIST_MODEL (self), 0, 0, 1);
        return;
      }
    }
  }

  g_list_model_items_changed (G_LIST_MODEL (self), 0, old_items->len, new_items->len);
  if (old_items->len != new_items->len)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
}

static void
on_conversation_changed (NatterConversationList *self, gint64 conversation_id)
{
  reload (self);
}

static void
on_conversations_reset (NatterConversationList *self)
{
  reload (self);
}

static void
natter_conversation_list_get_property (GObject *object,
                                       guint prop_id,
                                       GValue *value,
                                       GParamSpec *pspec)
{
  NatterConversationList *self = NATTER_CONVERSATION_LIST (object);

  switch (prop_id) {
    case PROP_STORE:
      g_value_set_object (value, self->store);
      break;
    case PROP_N_ITEMS:
      g_value_set_uint (value, self->items->len);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_conversation_list_set_property (GObject *object,
                                       guint prop_id,
                                       const GValue *value,
                                       GParamSpec *pspec)
{
  NatterConversationList *self = NATTER_CONVERSATION_LIST (object);

  switch (prop_id) {
    case PROP_STORE:
      self->store = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_conversation_list_constructed (GObject *object)
{
  NatterConversationList *self = NATTER_CONVERSATION_LIST (object);

  G_OBJECT_CLASS (natter_conversation_list_parent_class)->constructed (object);

  g_signal_connect_object (self->store, "conversation-changed",
                           G_CALLBACK (on_conversation_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->store, "conversations-reset", G_CALLBACK (on_conversations_reset),
                           self, G_CONNECT_SWAPPED);

  reload (self);
}

static void
natter_conversation_list_dispose (GObject *object)
{
  NatterConversationList *self = NATTER_CONVERSATION_LIST (object);

  g_clear_object (&self->store);

  G_OBJECT_CLASS (natter_conversation_list_parent_class)->dispose (object);
}

static void
natter_conversation_list_finalize (GObject *object)
{
  NatterConversationList *self = NATTER_CONVERSATION_LIST (object);

  g_clear_pointer (&self->items, g_ptr_array_unref);
  g_clear_pointer (&self->presence, g_hash_table_unref);
  g_clear_pointer (&self->unconfirmed, g_hash_table_unref);

  G_OBJECT_CLASS (natter_conversation_list_parent_class)->finalize (object);
}

static void
natter_conversation_list_class_init (NatterConversationListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_conversation_list_get_property;
  object_class->set_property = natter_conversation_list_set_property;
  object_class->constructed = natter_conversation_list_constructed;
  object_class->dispose = natter_conversation_list_dispose;
  object_class->finalize = natter_conversation_list_finalize;

  properties[PROP_STORE] =
    g_param_spec_object ("store", NULL, NULL, NATTER_TYPE_STORE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_ITEMS] =
    g_param_spec_uint ("n-items", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_conversation_list_init (NatterConversationList *self)
{
  self->items = g_ptr_array_new_with_free_func (g_object_unref);
  self->presence =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) presence_free);
  self->unconfirmed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/**
 * natter_conversation_list_new:
 * @store: the profile's local store
 *
 * Returns: (transfer full): a list model of #NatterConversationItem
 */
NatterConversationList *
natter_conversation_list_new (NatterStore *store)
{
  g_return_val_if_fail (NATTER_IS_STORE (store), NULL);

  return g_object_new (NATTER_TYPE_CONVERSATION_LIST, "store", store, NULL);
}

/**
 * natter_conversation_list_get_store:
 * @self: a #NatterConversationList
 *
 * Returns: (transfer none): the store it shows
 */
NatterStore *
natter_conversation_list_get_store (NatterConversationList *self)
{
  g_return_val_if_fail (NATTER_IS_CONVERSATION_LIST (self), NULL);

  return self->store;
}

/**
 * natter_conversation_list_lookup:
 * @self: a #NatterConversationList
 * @conversation_id: a conversation
 *
 * Returns: (transfer none) (nullable): its item
 */
NatterConversationItem *
natter_conversation_list_lookup (NatterConversationList *self, gint64 conversation_id)
{
  guint position;

  g_return_val_if_fail (NATTER_IS_CONVERSATION_LIST (self), NULL);

  if (!find_position (self->items, conversation_id, &position))
    return NULL;

  return g_ptr_array_index (self->items, position);
}

/**
 * natter_conversation_list_find_by_peer:
 * @self: a #NatterConversationList
 * @peer: a profile
 *
 * Returns: (transfer none) (nullable): the direct conversation with @peer
 */
NatterConversationItem *
natter_conversation_list_find_by_peer (NatterConversationList *self, const NatterProfile *peer)
{
  guint i;

  g_return_val_if_fail (NATTER_IS_CONVERSATION_LIST (self), NULL);
  g_return_val_if_fail (peer != NULL, NULL);

  for (i = 0; i < self->items->len; i++) {
    NatterConversationItem *item = g_ptr_array_index (self->items, i);
    const NatterProfile *item_peer = natter_conversation_item_get_peer (item);

    if (item_peer != NULL && natter_profile_equal (item_peer, peer))
      return item;
  }

  return NULL;
}

/**
 * natter_conversation_list_set_presence:
 * @self: a #NatterConversationList
 * @profile: a profile sharing a conversation with the active one
 * @online: whether it has a connection
 * @last_seen: (nullable): when it was last online
 *
 * Updates the peer presence of @profile's conversations, now and for
 * items that appear later.
 */
void
natter_conversation_list_set_presence (NatterConversationList *self,
                                       const NatterProfile *profile,
                                       gboolean online,
                                       const char *last_seen)
{
  g_autofree char *key = NULL;
  Presence *presence;
  guint i;

  g_return_if_fail (NATTER_IS_CONVERSATION_LIST (self));
  g_return_if_fail (profile != NULL);

  key = profile_key (profile);
  g_hash_table_remove (self->unconfirmed, key);

  presence = g_hash_table_lookup (self->presence, key);
  if (presence == NULL) {
    presence = g_new0 (Presence, 1);
    g_hash_table_insert (self->presence, g_strdup (key), presence);
  }
  presence->online = !!online;
  if (last_seen != NULL) {
    g_free (presence->last_seen);
    presence->last_seen = g_strdup (last_seen);
  }

  for (i = 0; i < self->items->len; i++) {
    NatterConversationItem *item = g_ptr_array_index (self->items, i);
    const NatterProfile *peer = natter_conversation_item_get_peer (item);

    if (peer != NULL && natter_profile_equal (peer, profile))
      natter_conversation_item_set_presence (item, presence->online, presence->last_seen);
  }
}

/**
 * natter_conversation_list_begin_presence_refresh:
 * @self: a #NatterConversationList
 *
 * A new connection said hello: the server now names every contact that is
 * online. Who went offline while we were away is not named, so everyone
 * online until now must be confirmed before
 * natter_conversation_list_end_presence_refresh().
 */
void
natter_conversation_list_begin_presence_refresh (NatterConversationList *self)
{
  GHashTableIter iter;
  gpointer key;
  gpointer value;

  g_return_if_fail (NATTER_IS_CONVERSATION_LIST (self));

  g_hash_table_remove_all (self->unconfirmed);
  g_hash_table_iter_init (&iter, self->presence);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    Presence *presence = value;

    if (presence->online)
      g_hash_table_add (self->unconfirmed, g_strdup (key));
  }
}

/**
 * natter_conversation_list_end_presence_refresh:
 * @self: a #NatterConversationList
 *
 * The greeting is over (the server answers `sync` after it): contacts
 * that were online and were not named since
 * natter_conversation_list_begin_presence_refresh() went offline.
 */
void
natter_conversation_list_end_presence_refresh (NatterConversationList *self)
{
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;
  guint i;

  g_return_if_fail (NATTER_IS_CONVERSATION_LIST (self));

  g_hash_table_iter_init (&iter, self->unconfirmed);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (gone, g_strdup (key));
  g_hash_table_remove_all (self->unconfirmed);

  for (i = 0; i < gone->len; i++) {
    const char *name = g_ptr_array_index (gone, i);
    const char *colon = strchr (name, ':');
    g_autofree char *type = g_strndup (name, colon - name);
    g_autoptr (NatterProfile) profile =
      natter_profile_new (g_ascii_strtoll (colon + 1, NULL, 10), type, NULL, NULL);

    natter_conversation_list_set_presence (self, profile, FALSE, NULL);
  }
}
