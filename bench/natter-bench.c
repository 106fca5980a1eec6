/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench"

#include "config.h"

#include <glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "natter-bench-calls.h"
#include "natter-bench-chat.h"
#include "natter-bench-idle.h"

static const struct {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} commands[] = {
  { "chat", natter_bench_chat_main,
    "N clients send chat messages at R/s in total: delivery rate, latency, loss" },
  { "idle", natter_bench_idle_main, "N WebSockets held open: server RSS per connection" },
  { "calls", natter_bench_calls_main,
    "N calls between two in-process clients: ringing and first-frame times" },
};

static void
print_usage (FILE *out)
{
  fprintf (out, "Usage: natter-bench COMMAND [OPTION…]\n\n"
                "Benchmarks of a server that speaks Natter's PROTOCOL.md, and of calls.\n"
                "Without --server a command starts this build's natter-server.\n\n"
                "Commands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-6s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nnatter-bench COMMAND --help lists the command's options.\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  /* Figures print with a decimal point whatever the locale. */
  setlocale (LC_NUMERIC, "C");

  if (argc < 2 || g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h")) {
    print_usage (argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++) {
    if (g_str_equal (argv[1], commands[i].name)) {
      g_autofree char *program = g_strdup_printf ("natter-bench %s", commands[i].name);

      /* The command parses its own options; argv[0] names it in --help. */
      argv[1] = program;
      return commands[i].run (argc - 1, argv + 1);
    }
  }

  fprintf (stderr, "natter-bench: unknown command “%s”\n\n", argv[1]);
  print_usage (stderr);
  return 2;
}
