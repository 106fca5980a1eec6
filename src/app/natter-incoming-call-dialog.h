/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "natter-call.h"

G_BEGIN_DECLS

#define NATTER_TYPE_INCOMING_CALL_DIALOG (natter_incoming_call_dialog_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterIncomingCallDialog, natter_incoming_call_dialog, NATTER, INCOMING_CALL_DIALOG, AdwWindow)

NatterIncomingCallDialog *natter_incoming_call_dialog_new (GtkWindow *parent, NatterCall *call);
NatterCall *natter_incoming_call_dialog_get_call (NatterIncomingCallDialog *self);
const char *natter_incoming_call_dialog_get_caller_name (NatterIncomingCallDialog *self);

G_END_DECLS
