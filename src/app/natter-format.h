/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

GDateTime *natter_parse_local_time (const char *rfc3339);
char *natter_format_message_time (GDateTime *time);
char *natter_format_list_time (GDateTime *time, GDateTime *now);
char *natter_format_day (GDateTime *time, GDateTime *now);
char *natter_format_last_seen (const char *rfc3339, GDateTime *now);
char *natter_format_duration (gint64 seconds);
char *natter_format_one_line (const char *text);
char *natter_text_to_markup (const char *text);
const char *natter_profile_type_label (const char *profile_type);

G_END_DECLS
