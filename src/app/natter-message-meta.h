/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define NATTER_TYPE_MESSAGE_META (natter_message_meta_get_type ())
G_DECLARE_FINAL_TYPE (NatterMessageMeta, natter_message_meta, NATTER, MESSAGE_META, GtkWidget)

GtkWidget *natter_message_meta_new (void);
void natter_message_meta_set_time (NatterMessageMeta *self, const char *time);
const char *natter_message_meta_get_time (NatterMessageMeta *self);
void natter_message_meta_set_state (NatterMessageMeta *self,
                                    const char *icon_name,
                                    const char *description,
                                    gboolean emphasized);
const char *natter_message_meta_get_icon_name (NatterMessageMeta *self);

G_END_DECLS
