/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-cli"

#include "config.h"

#include <stdio.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define NATTER_CLI_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NATTER_CLI_LSAN 1
#endif
#endif

#ifdef NATTER_CLI_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#include "natter-call-pipeline.h"
#include "natter-cli.h"

int
main (int argc, char **argv)
{
  int status;

  /* Before any thread: what calls free goes back to the system. */
  natter_call_pipeline_limit_arenas ();
  status = natter_cli_main (argc, argv);

  /* Everything of ours is freed by now, but a library may still be busy
   * on a thread of its own (a GIO or GStreamer worker), and running the
   * libraries' exit handlers under it crashed short commands. So leave
   * without them, once the plugin preload of call and answer is over: a
   * dlopen() cut in half left allocations valgrind called lost. Every
   * event line is flushed. */
  natter_call_pipeline_preload_wait ();
  fflush (stdout);
  fflush (stderr);
#ifdef NATTER_CLI_LSAN
  /* LeakSanitizer checks in an exit handler: run it here instead. */
  __lsan_do_leak_check ();
#endif
  _exit (status);
}
