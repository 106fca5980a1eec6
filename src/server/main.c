/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server"

#include "config.h"

#include "natter-server.h"

int
main (int argc, char **argv)
{
  if (argc > 1 && g_str_equal (argv[1], "adduser"))
    return natter_server_adduser (argc - 1, argv + 1);

  return natter_server_run (argc, argv);
}
