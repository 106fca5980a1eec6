/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include "natter-test-x11.h"

#include <X11/Xatom.h>

/* Finds a process's windows on an X display as a window manager would,
 * by the _NET_WM_PID property GDK sets on each top-level window: the app
 * tests and natter-bench-app drive the real natter binary from outside. */

static gboolean
window_belongs_to (Display *display, Window window, Atom wm_pid, GPid pid)
{
  Atom type;
  int format;
  unsigned long n_items, bytes_after;
  unsigned char *data = NULL;
  gboolean ours;

  if (XGetWindowProperty (display, window, wm_pid, 0, 1, False, XA_CARDINAL, &type, &format,
                          &n_items, &bytes_after, &data) != Success)
    return FALSE;
  ours = data != NULL && n_items == 1 && (GPid) * (unsigned long *) data == pid;
  if (data != NULL)
    XFree (data);
  return ours;
}

/**
 * natter_test_x11_windows_of:
 * @display: an open display
 * @pid: a process
 *
 * Returns: (transfer full) (element-type Window): @pid's viewable
 * top-level windows, in stacking order from the bottom.
 */
GArray *
natter_test_x11_windows_of (Display *display, GPid pid)
{
  GArray *windows = g_array_new (FALSE, FALSE, sizeof (Window));
  Atom wm_pid = XInternAtom (display, "_NET_WM_PID", False);
  Window root, parent, *children = NULL;
  unsigned int n_children = 0;

  XQueryTree (display, DefaultRootWindow (display), &root, &parent, &children, &n_children);
  for (unsigned int i = 0; i < n_children; i++) {
    XWindowAttributes attributes;

    if (window_belongs_to (display, children[i], wm_pid, pid) &&
        XGetWindowAttributes (display, children[i], &attributes) &&
        attributes.map_state == IsViewable)
      g_array_append_val (windows, children[i]);
  }
  if (children != NULL)
    XFree (children);
  return windows;
}

/* Sends @window the WM_DELETE_WINDOW message of ICCCM, as a window
 * manager's close button does. */
void
natter_test_x11_close_window (Display *display, Window window)
{
  XEvent event = { 0 };

  event.xclient.type = ClientMessage;
  event.xclient.window = window;
  event.xclient.message_type = XInternAtom (display, "WM_PROTOCOLS", False);
  event.xclient.format = 32;
  event.xclient.data.l[0] = (long) XInternAtom (display, "WM_DELETE_WINDOW", False);
  event.xclient.data.l[1] = CurrentTime;
  XSendEvent (display, window, False, NoEventMask, &event);
  XFlush (display);
}
