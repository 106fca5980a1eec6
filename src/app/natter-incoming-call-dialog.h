/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define NATTER_TYPE_INCOMING_CALL_DIALOG (natter_incoming_call_dialog_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterIncomingCallDialog, natter_incoming_call_dialog, NATTER, INCOMING_CALL_DIALOG, AdwWindow)

NatterIncomingCallDialog *
natter_incoming_call_dialog_new (GtkWindow *parent, const char *caller_name, const char *call_type);
const char *natter_incoming_call_dialog_get_caller_name (NatterIncomingCallDialog *self);
void natter_incoming_call_dialog_set_caller_name (NatterIncomingCallDialog *self,
                                                  const char *caller_name);
const char *natter_incoming_call_dialog_get_call_type (NatterIncomingCallDialog *self);
void natter_incoming_call_dialog_set_call_type (NatterIncomingCallDialog *self,
                                                const char *call_type);
GdkPaintable *natter_incoming_call_dialog_get_avatar (NatterIncomingCallDialog *self);
void natter_incoming_call_dialog_set_avatar (NatterIncomingCallDialog *self, GdkPaintable *avatar);
gboolean natter_incoming_call_dialog_get_silenced (NatterIncomingCallDialog *self);

G_END_DECLS
