/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-media-launch"

#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natter-call-media-launch.h"

/* natter-call-media started for a call, and its private D-Bus connection
 * on a socketpair, without blocking the main context (issue 20): the
 * exec is synchronous (a missing helper fails the call at once), the
 * D-Bus handshake, which waits for the helper to load and reach its
 * main(), is not. ::done tells when the connection is up or failed. */

enum { SIGNAL_DONE, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterCallMediaLaunch {
  GObject parent_instance;

  GSubprocess *helper;
  GDBusConnection *connection;
  GCancellable *cancellable;
  GError *error;
  gboolean done;
};

G_DEFINE_FINAL_TYPE (NatterCallMediaLaunch, natter_call_media_launch, G_TYPE_OBJECT)

static void
on_connection_ready (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterCallMediaLaunch) self = user_data; /* the ref the handshake held */
  g_autoptr (GError) error = NULL;
  GDBusConnection *connection = g_dbus_connection_new_finish (result, &error);

  if (connection == NULL) {
    if (self->helper != NULL)
      g_subprocess_force_exit (self->helper);
    g_prefix_error (&error, "Could not reach the call's media process: ");
    self->error = g_steal_pointer (&error);
  } else {
    g_dbus_connection_set_exit_on_close (connection, FALSE);
    self->connection = connection;
  }
  self->done = TRUE;
  g_signal_emit (self, signals[SIGNAL_DONE], 0);
}

static void
natter_call_media_launch_dispose (GObject *object)
{
  NatterCallMediaLaunch *self = NATTER_CALL_MEDIA_LAUNCH (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->connection);
  /* GSubprocess reaps the helper when it exits. */
  g_clear_object (&self->helper);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (natter_call_media_launch_parent_class)->dispose (object);
}

static void
natter_call_media_launch_finalize (GObject *object)
{
  g_clear_error (&NATTER_CALL_MEDIA_LAUNCH (object)->error);

  G_OBJECT_CLASS (natter_call_media_launch_parent_class)->finalize (object);
}

static void
natter_call_media_launch_class_init (NatterCallMediaLaunchClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_call_media_launch_dispose;
  object_class->finalize = natter_call_media_launch_finalize;

  /**
   * NatterCallMediaLaunch::done:
   *
   * The connection is up, or natter_call_media_launch_get_error() says
   * why not. Emitted once, on the main context.
   */
  signals[SIGNAL_DONE] = g_signal_new ("done", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
natter_call_media_launch_init (NatterCallMediaLaunch *self)
{
  self->cancellable = g_cancellable_new ();
}

/**
 * natter_call_media_launch_new:
 * @helper_path: the natter-call-media executable
 * @error: where a helper that cannot be executed says so
 *
 * Returns: (transfer full) (nullable): the helper, its connection on the way
 */
NatterCallMediaLaunch *
natter_call_media_launch_new (const char *helper_path, GError **error)
{
  g_autoptr (NatterCallMediaLaunch) self = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketConnection) stream = NULL;
  int fds[2];

  g_return_val_if_fail (helper_path != NULL, NULL);

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
    int saved_errno = errno;

    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                 "Could not start the call's media process: %s", g_strerror (saved_errno));
    return NULL;
  }

  self = g_object_new (NATTER_TYPE_CALL_MEDIA_LAUNCH, NULL);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_take_fd (launcher, fds[1], 3);
  self->helper = g_subprocess_launcher_spawn (launcher, error, helper_path, "--fd", "3", NULL);
  g_clear_object (&launcher); /* closes our copy of the helper's end */
  if (self->helper == NULL) {
    close (fds[0]);
    g_prefix_error (error, "Could not start the call's media process: ");
    return NULL;
  }

  socket = g_socket_new_from_fd (fds[0], error);
  if (socket == NULL) {
    close (fds[0]);
    g_subprocess_force_exit (self->helper);
    return NULL;
  }
  stream = g_socket_connection_factory_create_connection (socket);
  g_dbus_connection_new (G_IO_STREAM (stream), NULL,
                         G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                           G_DBUS_CONNECTION_FLAGS_DELAY_MESSAGE_PROCESSING,
                         NULL, self->cancellable, on_connection_ready, g_object_ref (self));
  return g_steal_pointer (&self);
}

/**
 * natter_call_media_launch_get_done:
 * @self: a #NatterCallMediaLaunch
 *
 * Returns: whether ::done was emitted
 */
gboolean
natter_call_media_launch_get_done (NatterCallMediaLaunch *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA_LAUNCH (self), FALSE);
  return self->done;
}

/**
 * natter_call_media_launch_get_connection:
 * @self: a #NatterCallMediaLaunch
 *
 * Returns: (transfer none) (nullable): the connection, with its message
 *   processing not started yet, once ::done succeeded
 */
GDBusConnection *
natter_call_media_launch_get_connection (NatterCallMediaLaunch *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA_LAUNCH (self), NULL);
  return self->connection;
}

/**
 * natter_call_media_launch_get_error:
 * @self: a #NatterCallMediaLaunch
 *
 * Returns: (transfer none) (nullable): why the connection failed
 */
const GError *
natter_call_media_launch_get_error (NatterCallMediaLaunch *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA_LAUNCH (self), NULL);
  return self->error;
}

/**
 * natter_call_media_launch_get_helper:
 * @self: a #NatterCallMediaLaunch
 *
 * Returns: (transfer none): the helper process
 */
GSubprocess *
natter_call_media_launch_get_helper (NatterCallMediaLaunch *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MEDIA_LAUNCH (self), NULL);
  return self->helper;
}

/**
 * natter_call_media_launch_cancel:
 * @self: a #NatterCallMediaLaunch
 *
 * A helper nobody will use: the handshake stops, the connection closes
 * and the helper exits when it sees the end of its socket.
 */
void
natter_call_media_launch_cancel (NatterCallMediaLaunch *self)
{
  g_return_if_fail (NATTER_IS_CALL_MEDIA_LAUNCH (self));

  g_cancellable_cancel (self->cancellable);
  if (self->connection != NULL)
    g_dbus_connection_close (self->connection, NULL, NULL, NULL);
}
