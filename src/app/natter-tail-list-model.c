/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-tail-list-model"

#include "config.h"

#include "natter-tail-list-model.h"

/* The newest items of a list model, from a start position to its end:
 * what the chat view's list shows. GTK 4.8's list view makes a row for up
 * to 200 items around the one it scrolls to, whatever is on screen, and
 * each message row costs text layout and styles: opening a 10,000-message
 * conversation made 205 rows, 0.35 s before the first frame. Showing the
 * newest few and growing towards the older ones as the list is scrolled
 * up makes only the rows that are needed, a few per frame.
 *
 * Items added at or after the start are shown (new messages, the outbox);
 * items added before it are not, unless it is 0: all is shown then (older
 * history fetched from the server). GtkSliceListModel does not do this:
 * moving its offset replaces every item, and the list view would lose its
 * place. */

struct _NatterTailListModel {
  GObject parent_instance;

  GListModel *model;
  guint start; /* position in @model of the first item shown */
  guint n_items;
};

static void natter_tail_list_model_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterTailListModel,
                               natter_tail_list_model,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      natter_tail_list_model_model_init))

static GType
natter_tail_list_model_get_item_type (GListModel *model)
{
  NatterTailListModel *self = NATTER_TAIL_LIST_MODEL (model);

  return g_list_model_get_item_type (self->model);
}

static guint
natter_tail_list_model_get_n_items (GListModel *model)
{
  NatterTailListModel *self = NATTER_TAIL_LIST_MODEL (model);

  return self->n_items - self->start;
}

static gpointer
natter_tail_list_model_get_item (GListModel *model, guint position)
{
  NatterTailListModel *self = NATTER_TAIL_LIST_MODEL (model);

  if (position >= self->n_items - self->start)
    return NULL;
  return g_list_model_get_item (self->model, self->start + position);
}

static void
natter_tail_list_model_model_init (GListModelInterface *iface)
{
  iface->get_item_type = natter_tail_list_model_get_item_type;
  iface->get_n_items = natter_tail_list_model_get_n_items;
  iface->get_item = natter_tail_list_model_get_item;
}

static void
on_items_changed (NatterTailListModel *self, guint position, guint removed, guint added)
{
  self->n_items = g_list_model_get_n_items (self->model);

  if (self->start > 0 && position + removed <= self->start) {
    /* Before what is shown: it moves along. */
    self->start = self->start + added - removed;
  } else if (position >= self->start) {
    g_list_model_items_changed (G_LIST_MODEL (self), position - self->start, removed, added);
  } else {
    /* Across the start: show the change from where it begins. */
    guint removed_shown = position + removed - self->start;

    self->start = position;
    g_list_model_items_changed (G_LIST_MODEL (self), 0, removed_shown, added);
  }
}

static void
natter_tail_list_model_dispose (GObject *object)
{
  NatterTailListModel *self = NATTER_TAIL_LIST_MODEL (object);

  if (self->model != NULL)
    g_signal_handlers_disconnect_by_data (self->model, self);
  g_clear_object (&self->model);

  G_OBJECT_CLASS (natter_tail_list_model_parent_class)->dispose (object);
}

static void
natter_tail_list_model_class_init (NatterTailListModelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_tail_list_model_dispose;
}

static void
natter_tail_list_model_init (NatterTailListModel *self)
{
}

/**
 * natter_tail_list_model_new:
 * @model: the whole list
 * @n_newest: how many of its newest items to show first
 *
 * Returns: (transfer full): a model of the newest @n_newest items of @model
 *   and all that is added after them
 */
NatterTailListModel *
natter_tail_list_model_new (GListModel *model, guint n_newest)
{
  NatterTailListModel *self;

  g_return_val_if_fail (G_IS_LIST_MODEL (model), NULL);

  self = g_object_new (NATTER_TYPE_TAIL_LIST_MODEL, NULL);
  self->model = g_object_ref (model);
  self->n_items = g_list_model_get_n_items (model);
  self->start = self->n_items > n_newest ? self->n_items - n_newest : 0;
  g_signal_connect_swapped (model, "items-changed", G_CALLBACK (on_items_changed), self);

  return self;
}

/**
 * natter_tail_list_model_get_model:
 * @self: a #NatterTailListModel
 *
 * Returns: (transfer none): the whole list
 */
GListModel *
natter_tail_list_model_get_model (NatterTailListModel *self)
{
  g_return_val_if_fail (NATTER_IS_TAIL_LIST_MODEL (self), NULL);

  return self->model;
}

/**
 * natter_tail_list_model_get_start:
 * @self: a #NatterTailListModel
 *
 * Returns: the position in the whole list of the first item shown: add it
 *   to a position in @self for one in the whole list
 */
guint
natter_tail_list_model_get_start (NatterTailListModel *self)
{
  g_return_val_if_fail (NATTER_IS_TAIL_LIST_MODEL (self), 0);

  return self->start;
}

/**
 * natter_tail_list_model_grow:
 * @self: a #NatterTailListModel
 * @n_older: how many older items to show too
 *
 * Returns: how many were added: fewer than @n_older, or 0, once the
 *   oldest item is shown
 */
guint
natter_tail_list_model_grow (NatterTailListModel *self, guint n_older)
{
  guint added;

  g_return_val_if_fail (NATTER_IS_TAIL_LIST_MODEL (self), 0);

  added = MIN (n_older, self->start);
  if (added > 0) {
    self->start -= added;
    g_list_model_items_changed (G_LIST_MODEL (self), 0, 0, added);
  }

  return added;
}

/**
 * natter_tail_list_model_show_position:
 * @self: a #NatterTailListModel
 * @position: a position in the whole list
 *
 * Shows the whole list from @position on (a search match, an unread
 * message).
 *
 * Returns: where @position is in @self
 */
guint
natter_tail_list_model_show_position (NatterTailListModel *self, guint position)
{
  g_return_val_if_fail (NATTER_IS_TAIL_LIST_MODEL (self), 0);

  if (position < self->start)
    natter_tail_list_model_grow (self, self->start - position);

  return position - self->start;
}
