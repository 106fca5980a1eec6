/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-call-memory"

#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

#include "natter-call-pipeline.h"

/* What a call allocates on its own threads goes back to the system once
 * the last call lets go of the call stack (issue 20): the app runs all day
 * and must not keep a call's peak. A thread stands in for a call's
 * streaming threads; it allocates and frees as an encoder does. */

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

#define CHURN_BLOCKS 2048
#define CHURN_BLOCK_SIZE (16 * 1024) /* under the mmap threshold: from an arena */
#define MIB 1024

static gint64
rss_kib (void)
{
  g_autofree char *statm = NULL;
  g_auto (GStrv) fields = NULL;

  g_assert_true (g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL));
  fields = g_strsplit (statm, " ", -1);
  g_assert_cmpuint (g_strv_length (fields), >=, 2);
  return g_ascii_strtoll (fields[1], NULL, 10) * (sysconf (_SC_PAGESIZE) / 1024);
}

/* glibc's arenas in use: one <heap> in malloc_info()'s XML each. */
static guint
n_malloc_arenas (void)
{
  g_autofree char *xml = NULL;
  size_t xml_size = 0;
  FILE *stream = open_memstream (&xml, &xml_size);
  guint n = 0;

  g_assert_nonnull (stream);
  g_assert_cmpint (malloc_info (0, stream), ==, 0);
  g_assert_cmpint (fclose (stream), ==, 0);
  for (const char *at = xml; (at = strstr (at, "<heap nr=")) != NULL; at++)
    n++;
  return n;
}

/* 32 MiB in blocks, touched, then freed newest first: all of it ends free
 * at the top of the arena the thread used. */
static gpointer
churn (gpointer data)
{
  g_autofree char **blocks = g_new (char *, CHURN_BLOCKS);

  for (guint i = 0; i < CHURN_BLOCKS; i++) {
    blocks[i] = g_malloc (CHURN_BLOCK_SIZE);
    memset (blocks[i], 0x5a, CHURN_BLOCK_SIZE);
  }
  for (guint i = CHURN_BLOCKS; i > 0; i--)
    g_free (blocks[i - 1]);
  return NULL;
}

static void
test_release_returns_thread_memory (void)
{
  gint64 before, held, released;

#ifdef UNDER_SANITIZER
  g_test_skip ("the sanitizer's allocator is not glibc's");
  return;
#endif

  natter_call_pipeline_hold ();
  /* The plugins' pages stay loaded: measure from after them. */
  natter_call_pipeline_preload_wait ();
  before = rss_kib ();

  g_thread_join (g_thread_new ("call-like", churn, NULL));
  held = rss_kib ();
  /* The call's threads allocate from an arena of their own, not the main
   * thread's: one lock for every thread made calls slower. */
  g_assert_cmpuint (n_malloc_arenas (), ==, 2);
  /* While calls go on, freed memory is kept for the next call. */
  g_assert_cmpint (held - before, >=, 24 * MIB);

  natter_call_pipeline_release ();
  g_assert_false (natter_call_pipeline_get_held ());
  released = rss_kib ();
  g_test_message ("RSS %" G_GINT64_FORMAT " KiB before, %" G_GINT64_FORMAT
                  " KiB held, %" G_GINT64_FORMAT " KiB released",
                  before, held, released);
  /* Including the free top of the thread's arena, which malloc_trim()
   * alone keeps. */
  g_assert_cmpint (released - before, <, 4 * MIB);
}

int
main (int argc, char *argv[])
{
  /* First, as natter and natter-cli do: before any thread. */
  natter_call_pipeline_limit_arenas ();
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/natter/call-memory/release-returns-thread-memory",
                   test_release_returns_thread_memory);

  return g_test_run ();
}
