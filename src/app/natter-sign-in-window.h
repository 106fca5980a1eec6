/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define NATTER_TYPE_SIGN_IN_WINDOW (natter_sign_in_window_get_type ())
G_DECLARE_FINAL_TYPE (
  NatterSignInWindow, natter_sign_in_window, NATTER, SIGN_IN_WINDOW, AdwApplicationWindow)

NatterSignInWindow *natter_sign_in_window_new (GtkApplication *application);
const char *natter_sign_in_window_get_server_url (NatterSignInWindow *self);
void natter_sign_in_window_set_server_url (NatterSignInWindow *self, const char *server_url);
const char *natter_sign_in_window_get_email (NatterSignInWindow *self);
void natter_sign_in_window_set_email (NatterSignInWindow *self, const char *email);
const char *natter_sign_in_window_get_password (NatterSignInWindow *self);
const char *natter_sign_in_window_get_display_name (NatterSignInWindow *self);
const char *natter_sign_in_window_get_profile_type (NatterSignInWindow *self);
gboolean natter_sign_in_window_get_creating_account (NatterSignInWindow *self);
void natter_sign_in_window_set_creating_account (NatterSignInWindow *self,
                                                 gboolean creating_account);
gboolean natter_sign_in_window_get_busy (NatterSignInWindow *self);
void natter_sign_in_window_set_busy (NatterSignInWindow *self, gboolean busy);
void natter_sign_in_window_show_error (NatterSignInWindow *self, const GError *error);
void natter_sign_in_window_set_error_message (NatterSignInWindow *self, const char *message);

G_END_DECLS
