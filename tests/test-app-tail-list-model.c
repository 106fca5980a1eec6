/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The chat view's list shows the newest messages and grows towards older
 * ones (issue 20): what it shows and what it tells the list view. */

#include "config.h"

#include <gtk/gtk.h>

#include "natter-tail-list-model.h"

typedef struct {
  guint position;
  guint removed;
  guint added;
} Change;

static void
on_items_changed (GListModel *model, guint position, guint removed, guint added, GArray *changes)
{
  Change change = { position, removed, added };

  g_array_append_val (changes, change);
}

static void
assert_change (GArray *changes, guint position, guint removed, guint added)
{
  Change *change;

  g_assert_cmpuint (changes->len, ==, 1);
  change = &g_array_index (changes, Change, 0);
  g_assert_cmpuint (change->position, ==, position);
  g_assert_cmpuint (change->removed, ==, removed);
  g_assert_cmpuint (change->added, ==, added);
  g_array_set_size (changes, 0);
}

static GListStore *
numbers (guint count)
{
  GListStore *store = g_list_store_new (GTK_TYPE_STRING_OBJECT);

  for (guint i = 0; i < count; i++) {
    g_autofree char *name = g_strdup_printf ("%u", i);
    g_autoptr (GtkStringObject) item = gtk_string_object_new (name);

    g_list_store_append (store, item);
  }

  return store;
}

static void
add_named (GListStore *store, guint position, const char *name)
{
  g_autoptr (GtkStringObject) item = gtk_string_object_new (name);

  g_list_store_insert (store, position, item);
}

static void
assert_item (NatterTailListModel *tail, guint position, const char *name)
{
  g_autoptr (GtkStringObject) item = g_list_model_get_item (G_LIST_MODEL (tail), position);

  g_assert_nonnull (item);
  g_assert_cmpstr (gtk_string_object_get_string (item), ==, name);
}

static void
test_newest_then_older (void)
{
  g_autoptr (GListStore) store = numbers (100);
  g_autoptr (NatterTailListModel) tail = natter_tail_list_model_new (G_LIST_MODEL (store), 24);
  g_autoptr (GArray) changes = g_array_new (FALSE, FALSE, sizeof (Change));

  g_signal_connect (tail, "items-changed", G_CALLBACK (on_items_changed), changes);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (tail)), ==, 24);
  g_assert_cmpuint (natter_tail_list_model_get_start (tail), ==, 76);
  assert_item (tail, 0, "76");
  assert_item (tail, 23, "99");
  g_assert_null (g_list_model_get_item (G_LIST_MODEL (tail), 24));

  /* A new message at the end is shown. */
  add_named (store, 100, "new");
  assert_change (changes, 24, 0, 1);
  assert_item (tail, 24, "new");

  /* One older than what is shown is not, and the start moves with it. */
  add_named (store, 10, "older");
  g_assert_cmpuint (changes->len, ==, 0);
  g_assert_cmpuint (natter_tail_list_model_get_start (tail), ==, 77);
  assert_item (tail, 0, "76");

  /* Growing adds older items before the first shown. */
  g_assert_cmpuint (natter_tail_list_model_grow (tail, 6), ==, 6);
  assert_change (changes, 0, 0, 6);
  assert_item (tail, 0, "70");
  assert_item (tail, 6, "76");

  /* A change across the start ("68" to "70" go) shows from there on. */
  g_list_store_splice (store, 69, 3, NULL, 0);
  assert_change (changes, 0, 1, 0);
  g_assert_cmpuint (natter_tail_list_model_get_start (tail), ==, 69);
  assert_item (tail, 0, "71");

  /* Down to the oldest, then no more. */
  g_assert_cmpuint (natter_tail_list_model_grow (tail, 1000), ==, 69);
  assert_change (changes, 0, 0, 69);
  g_assert_cmpuint (natter_tail_list_model_grow (tail, 6), ==, 0);
  g_assert_cmpuint (changes->len, ==, 0);
  assert_item (tail, 0, "0");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (tail)), ==,
                    g_list_model_get_n_items (G_LIST_MODEL (store)));

  /* Everything shown: older history from the server is shown too. */
  add_named (store, 0, "from the server");
  assert_change (changes, 0, 0, 1);
  assert_item (tail, 0, "from the server");
}

static void
test_show_position (void)
{
  g_autoptr (GListStore) store = numbers (50);
  g_autoptr (NatterTailListModel) tail = natter_tail_list_model_new (G_LIST_MODEL (store), 100);
  g_autoptr (NatterTailListModel) short_tail = NULL;

  /* Fewer items than asked for: all of them. */
  g_assert_cmpuint (natter_tail_list_model_get_start (tail), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (tail)), ==, 50);

  /* A search match older than what is shown: shown from there on. */
  short_tail = natter_tail_list_model_new (G_LIST_MODEL (store), 5);
  g_assert_cmpuint (natter_tail_list_model_show_position (short_tail, 47), ==, 2);
  g_assert_cmpuint (natter_tail_list_model_get_start (short_tail), ==, 45);
  g_assert_cmpuint (natter_tail_list_model_show_position (short_tail, 12), ==, 0);
  g_assert_cmpuint (natter_tail_list_model_get_start (short_tail), ==, 12);
  assert_item (short_tail, 0, "12");
  g_assert_true (natter_tail_list_model_get_model (short_tail) == G_LIST_MODEL (store));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/app/tail-list-model/newest-then-older", test_newest_then_older);
  g_test_add_func ("/natter/app/tail-list-model/show-position", test_show_position);

  return g_test_run ();
}
