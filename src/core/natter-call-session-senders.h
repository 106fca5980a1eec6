/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct _NatterCallSessionSenders NatterCallSessionSenders;

NatterCallSessionSenders *natter_call_session_senders_new (void);
NatterCallSessionSenders *natter_call_session_senders_ref (NatterCallSessionSenders *self);
void natter_call_session_senders_unref (NatterCallSessionSenders *self);
void natter_call_session_senders_set_audio_payload (NatterCallSessionSenders *self, guint payload);
void natter_call_session_senders_watch (NatterCallSessionSenders *self, GstElement *rtpsession);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterCallSessionSenders, natter_call_session_senders_unref)

G_END_DECLS
