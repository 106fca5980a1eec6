/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-chat-view.h"

G_BEGIN_DECLS

void natter_chat_view_install_block_action (GtkWidgetClass *widget_class);

G_END_DECLS
