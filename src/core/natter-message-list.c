/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-message-list"

#include "config.h"

#include "natter-http-body.h"
#include "natter-message-list.h"

/* One conversation's messages, oldest first, with its calls among them in
 * time order, then the messages still in the outbox. Stored messages are
 * read from the local store a page at a time and only a few pages are
 * kept, so a conversation of any length costs the same memory. Calls are
 * few and all kept, each with the number of stored messages before it. */

#define PAGE_SIZE 50
#define MAX_CACHED_PAGES 8

enum { PROP_0, PROP_CONVERSATION_ID, PROP_HAS_MORE, PROP_LOADING, PROP_N_ITEMS, N_PROPS };

static GParamSpec *properties[N_PROPS];

struct _NatterMessageList {
  GObject parent_instance;

  NatterStore *store;
  NatterAccount *account;
  NatterAttachmentTransfers *transfers; /* NULL: attachments shown without transfers */
  gint64 conversation_id;

  guint n_stored;
  GHashTable *pages;       /* page index -> GPtrArray of NatterMessageItem */
  GQueue page_lru;         /* page indexes, most recently used first */
  GPtrArray *outbox_items; /* NatterMessageItem, pending and failed */
  GPtrArray *call_items;   /* NatterMessageItem for calls, in time order */
  GArray *calls_before;    /* guint per call: stored messages before it */

  gboolean has_more;
  gboolean loading;
};

static void natter_message_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterMessageList,
                               natter_message_list,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      natter_message_list_model_init))

static void
add_attachments (NatterMessageList *self, NatterMessageItem *item, GPtrArray *attachments)
{
  for (guint i = 0; attachments != NULL && i < attachments->len; i++) {
    NatterAttachment *attachment = g_ptr_array_index (attachments, i);
    g_autoptr (NatterAttachmentItem) attachment_item = NULL;

    if (self->transfers != NULL)
      attachment_item =
        natter_attachment_transfers_item_for_attachment (self->transfers, attachment);
    else
      attachment_item = natter_attachment_item_new (
        attachment->attachment_id, attachment->name != NULL ? attachment->name : "",
        attachment->content_type, attachment->size, (int) CLAMP (attachment->width, 0, G_MAXINT),
        (int) CLAMP (attachment->height, 0, G_MAXINT), attachment->sha256);
    natter_message_item_add_attachment (item, attachment_item);
  }
}

static NatterMessageItem *
item_for_message (NatterMessageList *self, const NatterMessage *message, gboolean outgoing)
{
  NatterMessageItem *item = natter_message_item_new (message, outgoing);

  add_attachments (self, item, message->attachments);

  return item;
}

static NatterMessageItem *
item_for_outbox (NatterMessageList *self, const NatterOutboxEntry *entry)
{
  NatterMessageItem *item =
    natter_message_item_new_from_outbox (entry, natter_store_get_own_profile (self->store));

  for (guint i = 0; entry->attachments != NULL && i < entry->attachments->len; i++) {
    NatterOutboxAttachment *attachment = g_ptr_array_index (entry->attachments, i);
    g_autoptr (NatterAttachmentItem) attachment_item = NULL;

    if (self->transfers != NULL) {
      attachment_item =
        natter_attachment_transfers_item_for_outbox (self->transfers, entry, attachment);
    } else {
      attachment_item = natter_attachment_item_new (
        attachment->attachment_id, attachment->name, attachment->content_type, attachment->size,
        attachment->width, attachment->height, attachment->sha256);
      natter_attachment_item_set_local_path (attachment_item, attachment->path);
    }
    natter_message_item_add_attachment (item, attachment_item);
  }

  return item;
}

static void
drop_pages_from (NatterMessageList *self, guint first_page)
{
  GList *link = self->page_lru.head;

  while (link != NULL) {
    GList *next = link->next;
    guint page = GPOINTER_TO_UINT (link->data);

    if (page >= first_page) {
      g_hash_table_remove (self->pages, GUINT_TO_POINTER (page));
      g_queue_delete_link (&self->page_lru, link);
    }

    link = next;
  }
}

static guint
call_position (NatterMessageList *self, guint index)
{
  return g_array_index (self->calls_before, guint, index) + index;
}

/* Where stored message number @index (oldest first) is in the list. */
static guint
message_position (NatterMessageList *self, guint index)
{
  guint calls = 0;

  for (guint i = 0; i < self->call_items->len; i++) {
    if (g_array_index (self->calls_before, guint, i) <= index)
      calls++;
  }

  return index + calls;
}

static guint
n_timeline (NatterMessageList *self)
{
  return self->n_stored + self->call_items->len;
}

static GPtrArray *
load_page (NatterMessageList *self, guint page)
{
  GPtrArray *items = g_hash_table_lookup (self->pages, GUINT_TO_POINTER (page));
  const NatterProfile *own = natter_store_get_own_profile (self->store);

  if (items != NULL) {
    g_queue_remove (&self->page_lru, GUINT_TO_POINTER (page));
    g_queue_push_head (&self->page_lru, GUINT_TO_POINTER (page));
    return items;
  }

  {
    g_autoptr (GPtrArray) messages =
      natter_store_load_messages (self->store, self->conversation_id, page * PAGE_SIZE, PAGE_SIZE);
    guint i;

    items = g_ptr_array_new_full (messages->len, g_object_unref);
    for (i = 0; i < messages->len; i++) {
      NatterMessage *message = g_ptr_array_index (messages, i);
      gboolean outgoing = message->sender != NULL && natter_profile_equal (message->sender, own);

      g_ptr_array_add (items, item_for_message (self, message, outgoing));
    }
  }

  g_hash_table_insert (self->pages, GUINT_TO_POINTER (page), items);
  g_queue_push_head (&self->page_lru, GUINT_TO_POINTER (page));

  while (self->page_lru.length > MAX_CACHED_PAGES) {
    guint oldest = GPOINTER_TO_UINT (g_queue_pop_tail (&self->page_lru));

    g_hash_table_remove (self->pages, GUINT_TO_POINTER (oldest));
  }

  return items;
}

static GType
natter_message_list_get_item_type (GListModel *model)
{
  return NATTER_TYPE_MESSAGE_ITEM;
}

static guint
natter_message_list_get_n_items (GListModel *model)
{
  NatterMessageList *self = NATTER_MESSAGE_LIST (model);

  return n_timeline (self) + self->outbox_items->len;
}

static gpointer
natter_message_list_get_item (GListModel *model, guint position)
{
  NatterMessageList *self = NATTER_MESSAGE_LIST (model);
  GPtrArray *page;
  guint index;

  if (position >= n_timeline (self)) {
    index = position - n_timeline (self);
    if (index >= self->outbox_items->len)
      return NULL;
    return g_object_ref (g_ptr_array_index (self->outbox_items, index));
  }

  /* A call, or the stored message after the calls before it. */
  {
    guint calls_before_position = 0;

    for (guint i = 0; i < self->call_items->len; i++) {
      guint at = call_position (self, i);

      if (at == position)
        return g_object_ref (g_ptr_array_index (self->call_items, i));
      if (at < position)
        calls_before_position++;
    }
    position -= calls_before_position;
  }

  page = load_page (self, position / PAGE_SIZE);
  index = position % PAGE_SIZE;

  /* The store may hold fewer rows than counted if another process trimmed
   * it; an empty slot is better than a crash. */
  if (index >= page->len)
    return NULL;

  return g_object_ref (g_ptr_array_index (page, index));
}

static void
natter_message_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = natter_message_list_get_item_type;
  iface->get_n_items = natter_message_list_get_n_items;
  iface->get_item = natter_message_list_get_item;
}

static void
reload_outbox (NatterMessageList *self)
{
  g_autoptr (GPtrArray) entries =
    natter_store_outbox_list (self->store, self->conversation_id, FALSE);
  g_autoptr (GPtrArray) old_items = self->outbox_items;
  guint i;

  self->outbox_items = g_ptr_array_new_full (entries->len, g_object_unref);
  for (i = 0; i < entries->len; i++)
    g_ptr_array_add (self->outbox_items, item_for_outbox (self, g_ptr_array_index (entries, i)));

  if (old_items->len > 0 || self->outbox_items->len > 0) {
    g_list_model_items_changed (G_LIST_MODEL (self), n_timeline (self), old_items->len,
                                self->outbox_items->len);
    if (old_items->len != self->outbox_items->len)
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
  }
}

static void
on_message_added (NatterMessageList *self, gint64 conversation_id, gint64 seq)
{
  guint position;
  guint index;

  if (conversation_id != self->conversation_id)
    return;

  index = natter_store_get_message_position (self->store, conversation_id, seq);

  /* Calls after the new message have one more message before them. */
  if (self->call_items->len > 0) {
    g_autoptr (GPtrArray) added =
      natter_store_load_messages (self->store, conversation_id, index, 1);
    const char *sent_at = added->len > 0 ? ((NatterMessage *) added->pdata[0])->sent_at : NULL;

    for (guint i = 0; i < self->call_items->len; i++) {
      const char *started_at =
        natter_message_item_get_sent_at (g_ptr_array_index (self->call_items, i));

      if (sent_at != NULL && g_strcmp0 (started_at, sent_at) > 0)
        g_array_index (self->calls_before, guint, i)++;
    }
  }

  self->n_stored++;
  drop_pages_from (self, index / PAGE_SIZE);
  position = message_position (self, index);

  g_list_model_items_changed (G_LIST_MODEL (self), position, 0, 1);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
}

static gboolean
same_call (const NatterCallLog *a, const NatterCallLog *b)
{
  return g_strcmp0 (a->status, b->status) == 0 && a->duration_s == b->duration_s &&
         g_strcmp0 (a->ended_at, b->ended_at) == 0 &&
         g_strcmp0 (a->answered_at, b->answered_at) == 0;
}

/* New calls go in where they belong, changed ones are replaced: the list
 * is never reset, so the view keeps its place. */
static void
on_calls_changed (NatterMessageList *self, gint64 conversation_id)
{
  g_autoptr (GPtrArray) calls = NULL;
  const NatterProfile *own;

  if (conversation_id != self->conversation_id)
    return;

  calls = natter_store_load_calls (self->store, conversation_id);
  own = natter_store_get_own_profile (self->store);

  for (guint c = 0; c < calls->len; c++) {
    const NatterCallLog *call = g_ptr_array_index (calls, c);
    g_autoptr (NatterMessageItem) item = natter_message_item_new_from_call (call, own);
    guint index = self->call_items->len;
    gboolean known = FALSE;

    for (guint i = 0; i < self->call_items->len; i++) {
      NatterMessageItem *existing = g_ptr_array_index (self->call_items, i);
      const NatterCallLog *old = natter_message_item_get_call (existing);
      int order = g_strcmp0 (old->started_at, call->started_at);

      if (old->call_log_id == call->call_log_id) {
        known = TRUE;
        if (!same_call (old, call)) {
          g_ptr_array_index (self->call_items, i) = g_object_ref (item);
          g_object_unref (existing);
          g_list_model_items_changed (G_LIST_MODEL (self), call_position (self, i), 1, 1);
        }
        break;
      }
      if (index == self->call_items->len &&
          (order > 0 || (order == 0 && old->call_log_id > call->call_log_id)))
        index = i;
    }

    if (!known) {
      guint before =
        natter_store_count_messages_before (self->store, conversation_id, call->started_at);

      g_ptr_array_insert (self->call_items, index, g_object_ref (item));
      g_array_insert_val (self->calls_before, index, before);
      g_list_model_items_changed (G_LIST_MODEL (self), call_position (self, index), 0, 1);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
    }
  }
}

static void
on_outbox_changed (NatterMessageList *self, gint64 conversation_id)
{
  if (conversation_id != self->conversation_id && conversation_id != 0)
    return;

  reload_outbox (self);
}

static void
set_loading (NatterMessageList *self, gboolean loading)
{
  if (self->loading == loading)
    return;

  self->loading = loading;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
}

static void
set_has_more (NatterMessageList *self, gboolean has_more)
{
  if (self->has_more == has_more)
    return;

  self->has_more = has_more;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_MORE]);
}

static void
natter_message_list_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterMessageList *self = NATTER_MESSAGE_LIST (object);

  switch (prop_id) {
    case PROP_CONVERSATION_ID:
      g_value_set_int64 (value, self->conversation_id);
      break;
    case PROP_HAS_MORE:
      g_value_set_boolean (value, self->has_more);
      break;
    case PROP_LOADING:
      g_value_set_boolean (value, self->loading);
      break;
    case PROP_N_ITEMS:
      g_value_set_uint (value, g_list_model_get_n_items (G_LIST_MODEL (self)));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_message_list_dispose (GObject *object)
{
  NatterMessageList *self = NATTER_MESSAGE_LIST (object);

  g_clear_object (&self->store);
  g_clear_object (&self->account);
  g_clear_object (&self->transfers);

  G_OBJECT_CLASS (natter_message_list_parent_class)->dispose (object);
}

static void
natter_message_list_finalize (GObject *object)
{
  NatterMessageList *self = NATTER_MESSAGE_LIST (object);

  g_clear_pointer (&self->pages, g_hash_table_unref);
  g_queue_clear (&self->page_lru);
  g_clear_pointer (&self->outbox_items, g_ptr_array_unref);
  g_clear_pointer (&self->call_items, g_ptr_array_unref);
  g_clear_pointer (&self->calls_before, g_array_unref);

  G_OBJECT_CLASS (natter_message_list_parent_class)->finalize (object);
}

static void
natter_message_list_class_init (NatterMessageListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = natter_message_list_get_property;
  object_class->dispose = natter_message_list_dispose;
  object_class->finalize = natter_message_list_finalize;

  properties[PROP_CONVERSATION_ID] =
    g_param_spec_int64 ("conversation-id", NULL, NULL, 0, G_MAXINT64, 0, flags);
  /* Whether the server may hold messages older than the oldest one here. */
  properties[PROP_HAS_MORE] = g_param_spec_boolean ("has-more", NULL, NULL, TRUE, flags);
  properties[PROP_LOADING] = g_param_spec_boolean ("loading", NULL, NULL, FALSE, flags);
  properties[PROP_N_ITEMS] = g_param_spec_uint ("n-items", NULL, NULL, 0, G_MAXUINT, 0, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_message_list_init (NatterMessageList *self)
{
  self->pages = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_ptr_array_unref);
  self->outbox_items = g_ptr_array_new_with_free_func (g_object_unref);
  self->call_items = g_ptr_array_new_with_free_func (g_object_unref);
  self->calls_before = g_array_new (FALSE, FALSE, sizeof (guint));
}

/**
 * natter_message_list_new:
 * @store: the profile's local store
 * @account: (nullable): the account, to fetch older history over HTTP
 * @conversation_id: the conversation
 *
 * Returns: (transfer full): a list model of #NatterMessageItem
 */
NatterMessageList *
natter_message_list_new (NatterStore *store, NatterAccount *account, gint64 conversation_id)
{
  NatterMessageList *self;

  g_return_val_if_fail (NATTER_IS_STORE (store), NULL);
  g_return_val_if_fail (account == NULL || NATTER_IS_ACCOUNT (account), NULL);

  self = g_object_new (NATTER_TYPE_MESSAGE_LIST, NULL);
  self->store = g_object_ref (store);
  self->account = account != NULL ? g_object_ref (account) : NULL;
  self->conversation_id = conversation_id;
  self->n_stored = natter_store_count_messages (store, conversation_id);
  self->has_more = natter_store_get_has_older (store, conversation_id);

  g_clear_pointer (&self->outbox_items, g_ptr_array_unref);
  self->outbox_items = g_ptr_array_new_with_free_func (g_object_unref);
  {
    g_autoptr (GPtrArray) entries = natter_store_outbox_list (store, conversation_id, FALSE);

    for (guint i = 0; i < entries->len; i++)
      g_ptr_array_add (self->outbox_items, item_for_outbox (self, g_ptr_array_index (entries, i)));
  }

  g_signal_connect_object (store, "message-added", G_CALLBACK (on_message_added), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (store, "outbox-changed", G_CALLBACK (on_outbox_changed), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (store, "calls-changed", G_CALLBACK (on_calls_changed), self,
                           G_CONNECT_SWAPPED);

  {
    g_autoptr (GPtrArray) calls = natter_store_load_calls (store, conversation_id);
    const NatterProfile *own = natter_store_get_own_profile (store);

    for (guint i = 0; i < calls->len; i++) {
      const NatterCallLog *call = g_ptr_array_index (calls, i);
      guint before = natter_store_count_messages_before (store, conversation_id, call->started_at);

      g_ptr_array_add (self->call_items, natter_message_item_new_from_call (call, own));
      g_array_append_val (self->calls_before, before);
    }
  }

  return self;
}

/**
 * natter_message_list_get_conversation_id:
 * @self: a #NatterMessageList
 *
 * Returns: the conversation
 */
gint64
natter_message_list_get_conversation_id (NatterMessageList *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_LIST (self), 0);

  return self->conversation_id;
}

/**
 * natter_message_list_get_has_more:
 * @self: a #NatterMessageList
 *
 * Returns: whether load_older may find more
 */
gboolean
natter_message_list_get_has_more (NatterMessageList *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_LIST (self), FALSE);

  return self->has_more;
}

/**
 * natter_message_list_get_loading:
 * @self: a #NatterMessageList
 *
 * Returns: whether older history is being fetched
 */
gboolean
natter_message_list_get_loading (NatterMessageList *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_LIST (self), FALSE);

  return self->loading;
}

static void
on_history_page (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  NatterMessageList *self = g_task_get_source_object (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GPtrArray) messages = NULL;
  gboolean has_more = FALSE;
  guint before;
  gsize length;
  const char *data;

  set_loading (self, FALSE);

  body = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  if (body == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  data = g_bytes_get_data (body, &length);
  messages = natter_message_page_parse (data, length, &has_more, &error);
  if (messages == NULL) {
    g_task_return_new_error (task, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_BAD_RESPONSE,
                             "Bad history page: %s", error->message);
    return;
  }

  /* Only this conversation's messages belong here, whatever the server says. */
  for (guint i = messages->len; i > 0; i--) {
    NatterMessage *message = g_ptr_array_index (messages, i - 1);

    if (message->conversation_id != self->conversation_id)
      g_ptr_array_remove_index (messages, i - 1);
  }

  before = self->n_stored;
  if (!natter_store_add_messages (self->store, messages, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  /* Done at seq 1. Otherwise the server's word counts, except that a gap
   * below the fetched page (older messages stored earlier) is still to
   * fill. */
  {
    gint64 edge = natter_store_get_history_edge (self->store, self->conversation_id);
    gint64 oldest = natter_store_get_oldest_seq (self->store, self->conversation_id);

    has_more = edge != 1 && (has_more || oldest < edge);
  }

  if (!natter_store_set_has_older (self->store, self->conversation_id, has_more, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  set_has_more (self, has_more);
  g_task_return_int (task, self->n_stored - before);
}

/**
 * natter_message_list_load_older_async:
 * @self: a #NatterMessageList
 * @limit: how many messages to ask for (at most the protocol's 200)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the page is stored
 * @user_data: data for @callback
 *
 * Fetches the page before the oldest stored message over HTTP, for when
 * the user scrolls to the top. New messages arrive through items-changed.
 */
void
natter_message_list_load_older_async (NatterMessageList *self,
                                      guint limit,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autofree char *path = NULL;
  gint64 oldest;

  g_return_if_fail (NATTER_IS_MESSAGE_LIST (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_message_list_load_older_async);

  if (self->account == NULL || natter_account_get_active_profile (self->account) == NULL) {
    g_task_return_new_error (task, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN,
                             "Not signed in");
    return;
  }

  limit = CLAMP (limit, 1, NATTER_HISTORY_LIMIT_MAX);
  oldest = natter_store_get_history_edge (self->store, self->conversation_id);

  /* Everything from seq 1 up is stored: say so to the store too, or the
   * next opening starts with has-more again. */
  if (oldest == 1) {
    g_autoptr (GError) error = NULL;

    if (!natter_store_set_has_older (self->store, self->conversation_id, FALSE, &error)) {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
    set_has_more (self, FALSE);
    g_task_return_int (task, 0);
    return;
  }

  if (oldest > 0)
    path = natter_account_build_profile_path (self->account,
                                              "/conversations/%" G_GINT64_FORMAT
                                              "/messages?before_seq=%" G_GINT64_FORMAT "&limit=%u",
                                              self->conversation_id, oldest, limit);
  else
    path = natter_account_build_profile_path (
      self->account, "/conversations/%" G_GINT64_FORMAT "/messages?limit=%u", self->conversation_id,
      limit);

  set_loading (self, TRUE);
  natter_account_request_async (self->account, "GET", path, NULL, cancellable, on_history_page,
                                g_steal_pointer (&task));
}

/**
 * natter_message_list_load_older_finish:
 * @self: a #NatterMessageList
 * @result: the result
 * @error: a #GError
 *
 * Returns: how many messages were new to the store
 */
guint
natter_message_list_load_older_finish (NatterMessageList *self,
                                       GAsyncResult *result,
                                       GError **error)
{
  gssize count;

  g_return_val_if_fail (g_task_is_valid (result, self), 0);

  count = g_task_propagate_int (G_TASK (result), error);

  return count > 0 ? (guint) count : 0;
}

/**
 * natter_message_list_get_position_for_seq:
 * @self: a #NatterMessageList
 * @seq: a stored message's seq
 *
 * Returns: where that message is in the list, calls counted
 */
guint
natter_message_list_get_position_for_seq (NatterMessageList *self, gint64 seq)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_LIST (self), 0);

  return message_position (
    self, natter_store_get_message_position (self->store, self->conversation_id, seq));
}

/**
 * natter_message_list_set_attachment_transfers:
 * @self: a #NatterMessageList
 * @transfers: (nullable): the profile's transfers
 *
 * Attachments then show as the live items of @transfers, following their
 * uploads and downloads. Set once, before the list is shown.
 */
void
natter_message_list_set_attachment_transfers (NatterMessageList *self,
                                              NatterAttachmentTransfers *transfers)
{
  g_return_if_fail (NATTER_IS_MESSAGE_LIST (self));

  if (!g_set_object (&self->transfers, transfers))
    return;

  /* Items built so far hold detached attachments. */
  drop_pages_from (self, 0);
  reload_outbox (self);
}
