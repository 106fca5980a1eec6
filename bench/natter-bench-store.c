/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench-store"

#include "config.h"

#include <glib/gstdio.h>
#include <stdio.h>

#include "natter-message-list.h"
#include "natter-store.h"

/* Fills a store with one conversation of N messages, then, in a fresh
 * process (so the fill does not inflate the figures), opens it and reads
 * the newest 50 messages through the list model the chat view uses. */

#define CONVERSATION_ID 7
#define BATCH 1000

static gint64
rss_kib (const char *field)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return -1;

  line = strstr (status, field);
  if (line == NULL)
    return -1;

  return g_ascii_strtoll (line + strlen (field), NULL, 10);
}

static void
fill (const char *path, guint n_messages)
{
  g_autoptr (NatterProfile) own = natter_profile_new (1, "tutor", "Abebe", NULL);
  g_autoptr (NatterProfile) peer = natter_profile_new (2, "student", "Sara", NULL);
  g_autoptr (NatterStore) store = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDateTime) base = g_date_time_new_utc (2026, 1, 1, 0, 0, 0);
  gint64 started = g_get_monotonic_time ();
  guint seq = 0;

  store = natter_store_new (path, own, &error);
  if (store == NULL)
    g_error ("%s", error->message);

  while (seq < n_messages) {
    g_autoptr (GPtrArray) batch =
      g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);

    for (guint i = 0; i < BATCH && seq < n_messages; i++) {
      NatterMessage *message = natter_message_new ();
      g_autoptr (GDateTime) sent = g_date_time_add_seconds (base, ++seq);

      message->conversation_id = CONVERSATION_ID;
      message->seq = seq;
      message->message_id = seq;
      message->sender = natter_profile_copy (seq % 2 == 0 ? own : peer);
      message->text =
        g_strdup_printf ("Message number %u, about as long as a chat line usually is.", seq);
      message->sent_at = natter_format_time (sent);
      g_ptr_array_add (batch, message);
    }

    if (!natter_store_add_messages (store, batch, &error))
      g_error ("%s", error->message);
  }

  printf ("fill: %u messages in %.0f ms (%u per transaction)\n", n_messages,
          (g_get_monotonic_time () - started) / 1000.0, BATCH);
}

static void
measure (const char *path, guint n_messages)
{
  g_autoptr (NatterProfile) own = natter_profile_new (1, "tutor", "Abebe", NULL);
  g_autoptr (NatterStore) store = NULL;
  g_autoptr (NatterMessageList) list = NULL;
  g_autoptr (GError) error = NULL;
  gint64 rss_before = rss_kib ("VmRSS:");
  gint64 started;
  gint64 opened;
  gint64 newest_read;
  gint64 oldest_read;
  guint n_items;

  started = g_get_monotonic_time ();
  store = natter_store_new (path, own, &error);
  if (store == NULL)
    g_error ("%s", error->message);
  list = natter_message_list_new (store, NULL, CONVERSATION_ID);
  n_items = g_list_model_get_n_items (G_LIST_MODEL (list));
  opened = g_get_monotonic_time ();

  /* What a chat view does first: bind the newest 50 rows. */
  for (guint i = n_items - MIN (n_items, 50); i < n_items; i++) {
    g_autoptr (NatterMessageItem) item = g_list_model_get_item (G_LIST_MODEL (list), i);

    if (natter_message_item_get_seq (item) != (gint64) i + 1)
      g_error ("item %u has seq %" G_GINT64_FORMAT, i, natter_message_item_get_seq (item));
  }
  newest_read = g_get_monotonic_time ();

  /* And the far end, as after scrolling to the very top. */
  {
    g_autoptr (NatterMessageItem) item = g_list_model_get_item (G_LIST_MODEL (list), 0);

    if (natter_message_item_get_seq (item) != 1)
      g_error ("the oldest item is not seq 1");
  }
  oldest_read = g_get_monotonic_time ();

  if (n_items != n_messages)
    g_error ("the model has %u items, not %u", n_items, n_messages);

  printf ("messages in the conversation: %u\n", n_items);
  printf ("open store + model (count): %.2f ms\n", (opened - started) / 1000.0);
  printf ("newest 50 from the model:   %.2f ms\n", (newest_read - opened) / 1000.0);
  printf ("open + newest 50, total:    %.2f ms\n", (newest_read - started) / 1000.0);
  printf ("oldest page (position 0):   %.2f ms\n", (oldest_read - newest_read) / 1000.0);
  printf ("RSS before opening: %" G_GINT64_FORMAT " KiB\n", rss_before);
  printf ("RSS with it open:   %" G_GINT64_FORMAT " KiB (+%" G_GINT64_FORMAT " KiB)\n",
          rss_kib ("VmRSS:"), rss_kib ("VmRSS:") - rss_before);
  printf ("peak RSS:           %" G_GINT64_FORMAT " KiB\n", rss_kib ("VmHWM:"));
  fflush (stdout);
}

int
main (int argc, char **argv)
{
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  guint n_messages = 100000;
  int status = 0;

  if (argc == 4 && g_str_equal (argv[1], "--measure")) {
    measure (argv[2], (guint) g_ascii_strtoull (argv[3], NULL, 10));
    return 0;
  }

  if (argc == 2)
    n_messages = (guint) g_ascii_strtoull (argv[1], NULL, 10);
  if (n_messages == 0)
    n_messages = 100000;

  dir = g_dir_make_tmp ("natter-bench-store-XXXXXX", &error);
  if (dir == NULL)
    g_error ("%s", error->message);
  path = g_build_filename (dir, "bench.db", NULL);

  fill (path, n_messages);
  fflush (stdout);

  {
    g_autofree char *count = g_strdup_printf ("%u", n_messages);
    const char *child_argv[] = { argv[0], "--measure", path, count, NULL };

    if (!g_spawn_sync (NULL, (char **) child_argv, NULL, G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL,
                       NULL, NULL, &status, &error))
      g_error ("%s", error->message);
  }

  {
    g_autofree char *wal = g_strconcat (path, "-wal", NULL);
    g_autofree char *shm = g_strconcat (path, "-shm", NULL);
    GStatBuf info;

    if (g_stat (path, &info) == 0)
      printf ("database file: %.1f MiB\n", info.st_size / 1048576.0);
    g_unlink (path);
    g_unlink (wal);
    g_unlink (shm);
    g_rmdir (dir);
  }

  return g_spawn_check_wait_status (status, NULL) ? 0 : 1;
}
