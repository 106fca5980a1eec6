/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-server-bus.h"

G_BEGIN_DECLS

#define NATTER_TYPE_LOCAL_BUS (natter_local_bus_get_type ())
G_DECLARE_FINAL_TYPE (NatterLocalBus, natter_local_bus, NATTER, LOCAL_BUS, GObject)

NatterLocalBus *natter_local_bus_new (const char *node_id);

G_END_DECLS
