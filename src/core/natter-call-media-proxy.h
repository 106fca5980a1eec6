/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-call-media.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CALL_MEDIA_PROXY (natter_call_media_proxy_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterCallMediaProxy, natter_call_media_proxy, NATTER, CALL_MEDIA_PROXY, GObject)

void natter_call_media_proxy_set_helper_path (const char *path);
const char *natter_call_media_proxy_get_helper_path (void);
void natter_call_media_proxy_prepare (void);
void natter_call_media_proxy_discard_spare (void);

NatterCallMedia *natter_call_media_proxy_new (gboolean with_video, GError **error);
GPid natter_call_media_proxy_get_helper_pid (NatterCallMediaProxy *self);
gint64 natter_call_media_proxy_get_first_video_time (NatterCallMediaProxy *self);
guint64 natter_call_media_proxy_get_video_frames_shown (NatterCallMediaProxy *self);

G_END_DECLS
