/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-tcp-proxy"

#include "config.h"

#include "tcp-proxy.h"

/* Each accepted connection is paired with a new one to the target and the
 * two are spliced. A cut closes both ends at once, so the client sees the
 * link drop exactly as if the network had failed. */

typedef struct {
  NatterTcpProxy *proxy;
  GSocketConnection *downstream; /* from the client */
  GSocketConnection *upstream;   /* to the server */
  GCancellable *cancellable;
} Link;

/* Links still finishing their async operations, proxy or not. */
static guint live_links;

struct _NatterTcpProxy {
  GSocketService *service;
  GSocketClient *client;
  guint16 port;
  guint16 target_port;
  char *url;
  GPtrArray *links; /* Link */
  guint n_cuts;
  GRand *rand;
  guint min_ms;
  guint max_ms;
  guint cut_source_id;
};

static void
link_close (Link *link)
{
  g_cancellable_cancel (link->cancellable);
  if (link->downstream != NULL)
    g_io_stream_close (G_IO_STREAM (link->downstream), NULL, NULL);
  if (link->upstream != NULL)
    g_io_stream_close (G_IO_STREAM (link->upstream), NULL, NULL);
}

static void
link_free (Link *link)
{
  link_close (link);
  g_clear_object (&link->downstream);
  g_clear_object (&link->upstream);
  g_clear_object (&link->cancellable);
  g_free (link);
  live_links--;
}

static void
on_splice_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Link *link = user_data;

  g_io_stream_splice_finish (result, NULL);

  /* The proxy may already be gone (it cut and freed every link). */
  if (link->proxy != NULL)
    g_ptr_array_remove (link->proxy->links, link);
  else
    link_free (link);
}

static void
on_upstream_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Link *link = user_data;
  g_autoptr (GError) error = NULL;

  link->upstream = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);

  if (link->upstream == NULL || g_cancellable_is_cancelled (link->cancellable)) {
    if (link->proxy != NULL)
      g_ptr_array_remove (link->proxy->links, link);
    else
      link_free (link);
    return;
  }

  g_io_stream_splice_async (G_IO_STREAM (link->downstream), G_IO_STREAM (link->upstream),
                            G_IO_STREAM_SPLICE_CLOSE_STREAM1 | G_IO_STREAM_SPLICE_CLOSE_STREAM2,
                            G_PRIORITY_DEFAULT, link->cancellable, on_splice_done, link);
}

static gboolean
on_incoming (GSocketService *service,
             GSocketConnection *connection,
             GObject *source_object,
             gpointer user_data)
{
  NatterTcpProxy *self = user_data;
  Link *link = g_new0 (Link, 1);

  live_links++;
  link->proxy = self;
  link->downstream = g_object_ref (connection);
  link->cancellable = g_cancellable_new ();
  g_ptr_array_add (self->links, link);

  g_socket_client_connect_to_host_async (self->client, "127.0.0.1", self->target_port,
                                         link->cancellable, on_upstream_connected, link);

  return TRUE;
}

/* Links whose async operations are still running are handed over: they
 * free themselves when those finish. */
static void
detach_links (NatterTcpProxy *self)
{
  while (self->links->len > 0) {
    Link *link = g_ptr_array_steal_index (self->links, self->links->len - 1);

    link->proxy = NULL;
    link_close (link);
  }
}

/**
 * natter_tcp_proxy_new:
 * @target_port: the server's port on 127.0.0.1
 *
 * Returns: (transfer full): a proxy listening on a free loopback port
 */
NatterTcpProxy *
natter_tcp_proxy_new (guint16 target_port)
{
  NatterTcpProxy *self = g_new0 (NatterTcpProxy, 1);
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) effective = NULL;
  g_autoptr (GError) error = NULL;

  self->target_port = target_port;
  self->links = g_ptr_array_new_with_free_func ((GDestroyNotify) link_free);
  self->client = g_socket_client_new ();
  self->service = g_socket_service_new ();

  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &effective,
                                      &error))
    g_error ("Cannot listen on the loopback: %s", error->message);

  self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  self->url = g_strdup_printf ("http://127.0.0.1:%u", self->port);

  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);
  g_socket_service_start (self->service);

  return self;
}

/**
 * natter_tcp_proxy_free:
 * @self: a proxy
 *
 * Stops listening and cuts every link.
 */
void
natter_tcp_proxy_free (NatterTcpProxy *self)
{
  if (self == NULL)
    return;

  natter_tcp_proxy_stop_cutting (self);
  g_socket_service_stop (self->service);
  g_socket_listener_close (G_SOCKET_LISTENER (self->service));
  g_signal_handlers_disconnect_by_data (self->service, self);
  detach_links (self);

  /* Let the cut links finish, so nothing outlives the test. */
  {
    gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

    while (live_links > 0 && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, FALSE);
  }

  g_clear_object (&self->service);
  g_clear_object (&self->client);
  g_clear_pointer (&self->links, g_ptr_array_unref);
  g_clear_pointer (&self->rand, g_rand_free);
  g_free (self->url);
  g_free (self);
}

guint16
natter_tcp_proxy_get_port (NatterTcpProxy *self)
{
  return self->port;
}

/* "http://127.0.0.1:PORT", for clients. */
const char *
natter_tcp_proxy_get_url (NatterTcpProxy *self)
{
  return self->url;
}

/* Links open now. */
guint
natter_tcp_proxy_get_n_links (NatterTcpProxy *self)
{
  return self->links->len;
}

/* Cuts that hit at least one link. */
guint
natter_tcp_proxy_get_n_cuts (NatterTcpProxy *self)
{
  return self->n_cuts;
}

/**
 * natter_tcp_proxy_cut_all:
 * @self: a proxy
 *
 * Closes every open link at both ends. New connections are still accepted.
 */
void
natter_tcp_proxy_cut_all (NatterTcpProxy *self)
{
  if (self->links->len > 0)
    self->n_cuts++;

  detach_links (self);
}

static gboolean on_cut_timeout (gpointer user_data);

static void
schedule_cut (NatterTcpProxy *self)
{
  guint delay =
    (guint) g_rand_int_range (self->rand, (gint32) self->min_ms, (gint32) self->max_ms + 1);

  self->cut_source_id = g_timeout_add (delay, on_cut_timeout, self);
}

static gboolean
on_cut_timeout (gpointer user_data)
{
  NatterTcpProxy *self = user_data;

  self->cut_source_id = 0;
  natter_tcp_proxy_cut_all (self);
  schedule_cut (self);

  return G_SOURCE_REMOVE;
}

/**
 * natter_tcp_proxy_cut_randomly:
 * @self: a proxy
 * @seed: seed of the random intervals, so a failing run can be replayed
 * @min_ms: shortest interval between cuts
 * @max_ms: longest interval between cuts
 */
void
natter_tcp_proxy_cut_randomly (NatterTcpProxy *self, guint32 seed, guint min_ms, guint max_ms)
{
  g_return_if_fail (min_ms <= max_ms && max_ms < G_MAXINT32);

  natter_tcp_proxy_stop_cutting (self);
  g_clear_pointer (&self->rand, g_rand_free);
  self->rand = g_rand_new_with_seed (seed);
  self->min_ms = min_ms;
  self->max_ms = max_ms;
  schedule_cut (self);
}

void
natter_tcp_proxy_stop_cutting (NatterTcpProxy *self)
{
  g_clear_handle_id (&self->cut_source_id, g_source_remove);
}
