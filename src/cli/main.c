/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-cli"

#include "config.h"

#include "natter-cli.h"

int
main (int argc, char **argv)
{
  return natter_cli_main (argc, argv);
}
