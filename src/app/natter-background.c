/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-background"

#include "config.h"

#include <malloc.h>

#include "natter-background.h"
#include "natter-display.h"

/* What a process that runs all day without a window does to stay small
 * (issue 20). */

/**
 * natter_background_start_without_gl:
 *
 * For a process started with no window (natter --background, as at
 * login): opens the display without GL (see natter-display.c), so the GL
 * driver never loads: 58 of the 95 MiB of a hidden, signed-in Natter on
 * llvmpipe. The choice holds for the life of the process, so a window
 * opened later (a call, the user) draws with GSK's cairo renderer: the
 * same widgets, text, images and call video, drawn on the CPU. Started
 * with a window (from the launcher), Natter keeps GL.
 */
void
natter_background_start_without_gl (void)
{
  natter_display_open_without_gl ();
}

/**
 * natter_background_give_memory_back:
 *
 * Returns the heap's free pages to the system, once the last window and
 * its views are gone: glibc keeps what it freed in its arenas otherwise,
 * and the process runs on for hours with no window.
 */
void
natter_background_give_memory_back (void)
{
  malloc_trim (0);
}
