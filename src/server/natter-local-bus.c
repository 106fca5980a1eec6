/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-local-bus"

#include "config.h"

#include "natter-local-bus.h"

/* The bus of a node alone (no --redis): the hub already delivers to its own
 * connections, and there is no other node to tell, so publishing is free
 * and nothing is ever heard. */

struct _NatterLocalBus {
  GObject parent_instance;

  char *node_id;
};

static void natter_local_bus_iface_init (NatterServerBusInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterLocalBus,
                               natter_local_bus,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NATTER_TYPE_SERVER_BUS,
                                                      natter_local_bus_iface_init))

static const char *
natter_local_bus_get_node_id (NatterServerBus *bus)
{
  return NATTER_LOCAL_BUS (bus)->node_id;
}

static gboolean
natter_local_bus_is_shared (NatterServerBus *bus)
{
  return FALSE;
}

static void
natter_local_bus_subscribe (NatterServerBus *bus, const char *channel)
{
}

static gboolean
natter_local_bus_publish (NatterServerBus *bus, const char *channel, GBytes *payload)
{
  /* Every subscriber is this node, which never hears itself. */
  return TRUE;
}

static void
natter_local_bus_iface_init (NatterServerBusInterface *iface)
{
  iface->get_node_id = natter_local_bus_get_node_id;
  iface->is_shared = natter_local_bus_is_shared;
  iface->subscribe = natter_local_bus_subscribe;
  iface->unsubscribe = natter_local_bus_subscribe;
  iface->publish = natter_local_bus_publish;
}

static void
natter_local_bus_finalize (GObject *object)
{
  g_free (NATTER_LOCAL_BUS (object)->node_id);

  G_OBJECT_CLASS (natter_local_bus_parent_class)->finalize (object);
}

static void
natter_local_bus_class_init (NatterLocalBusClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = natter_local_bus_finalize;
}

static void
natter_local_bus_init (NatterLocalBus *self)
{
}

/**
 * natter_local_bus_new:
 * @node_id: this node's name
 *
 * Returns: (transfer full): the bus of a node without others
 */
NatterLocalBus *
natter_local_bus_new (const char *node_id)
{
  NatterLocalBus *self = g_object_new (NATTER_TYPE_LOCAL_BUS, NULL);

  self->node_id = g_strdup (node_id != NULL ? node_id : "local");
  return self;
}
