/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "natter-test-processes.h"

/**
 * natter_test_count_children:
 * @name: the start of the children's command name (at most 15 characters
 *   are kept by the kernel: "natter-call-med" for natter-call-media)
 *
 * Returns: how many children of this process by that name have not exited
 */
guint
natter_test_count_children (const char *name)
{
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  g_autofree char *needle = g_strdup_printf ("(%s", name);
  const char *entry;
  guint count = 0;

  g_assert_nonnull (proc);
  while ((entry = g_dir_read_name (proc)) != NULL) {
    g_autofree char *path = g_build_filename ("/proc", entry, "stat", NULL);
    g_autofree char *stat = NULL;
    const char *end;
    int ppid = 0;
    char state = '?';

    if (!g_ascii_isdigit (entry[0]) || !g_file_get_contents (path, &stat, NULL, NULL))
      continue;
    /* The name may hold spaces or parentheses: the fields follow the last ')'. */
    end = strrchr (stat, ')');
    if (end == NULL || strstr (stat, needle) == NULL)
      continue;
    if (sscanf (end + 1, " %c %d", &state, &ppid) == 2 && ppid == (int) getpid () && state != 'Z')
      count++;
  }
  return count;
}
