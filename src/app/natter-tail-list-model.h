/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NATTER_TYPE_TAIL_LIST_MODEL (natter_tail_list_model_get_type ())
G_DECLARE_FINAL_TYPE (NatterTailListModel, natter_tail_list_model, NATTER, TAIL_LIST_MODEL, GObject)

NatterTailListModel *natter_tail_list_model_new (GListModel *model, guint n_newest);
GListModel *natter_tail_list_model_get_model (NatterTailListModel *self);
guint natter_tail_list_model_get_start (NatterTailListModel *self);
guint natter_tail_list_model_grow (NatterTailListModel *self, guint n_older);
guint natter_tail_list_model_show_position (NatterTailListModel *self, guint position);

G_END_DECLS
