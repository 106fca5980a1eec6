/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "natter-types.h"

G_BEGIN_DECLS

#define NATTER_ACCOUNT_ERROR (natter_account_error_quark ())

/**
 * NatterAccountError:
 * @NATTER_ACCOUNT_ERROR_NO_TOKEN: nobody is signed in on this server
 * @NATTER_ACCOUNT_ERROR_UNAUTHORIZED: 401: bad credentials, or a revoked token
 * @NATTER_ACCOUNT_ERROR_FORBIDDEN: 403
 * @NATTER_ACCOUNT_ERROR_NOT_FOUND: 404
 * @NATTER_ACCOUNT_ERROR_CONFLICT: 409 (for example: email taken)
 * @NATTER_ACCOUNT_ERROR_HTTP: any other error status
 * @NATTER_ACCOUNT_ERROR_BAD_RESPONSE: the server's answer did not parse
 * @NATTER_ACCOUNT_ERROR_NO_PROFILE: the requested profile is not the user's
 */
typedef enum {
  NATTER_ACCOUNT_ERROR_NO_TOKEN,
  NATTER_ACCOUNT_ERROR_UNAUTHORIZED,
  NATTER_ACCOUNT_ERROR_FORBIDDEN,
  NATTER_ACCOUNT_ERROR_NOT_FOUND,
  NATTER_ACCOUNT_ERROR_CONFLICT,
  NATTER_ACCOUNT_ERROR_HTTP,
  NATTER_ACCOUNT_ERROR_BAD_RESPONSE,
  NATTER_ACCOUNT_ERROR_NO_PROFILE,
} NatterAccountError;

GQuark natter_account_error_quark (void);

gboolean natter_server_url_is_cleartext (const char *server_url);

#define NATTER_TYPE_ACCOUNT (natter_account_get_type ())
G_DECLARE_FINAL_TYPE (NatterAccount, natter_account, NATTER, ACCOUNT, GObject)

NatterAccount *natter_account_new (const char *server_url, const char *data_dir);
NatterAccount *natter_account_new_for_profile (NatterAccount *signed_in,
                                               const NatterProfile *profile);

const char *natter_account_get_server_url (NatterAccount *self);
const char *natter_account_get_data_dir (NatterAccount *self);
SoupSession *natter_account_get_session (NatterAccount *self);
const char *natter_account_get_token (NatterAccount *self);
gboolean natter_account_get_signed_in (NatterAccount *self);
const NatterUser *natter_account_get_user (NatterAccount *self);
const NatterProfile *natter_account_get_active_profile (NatterAccount *self);
gboolean natter_account_set_active_profile (NatterAccount *self,
                                            gint64 profile_id,
                                            const char *profile_type,
                                            GError **error);
gboolean natter_account_get_token_in_file (NatterAccount *self);
char *natter_account_dup_token_file (NatterAccount *self);

void natter_account_register_async (NatterAccount *self,
                                    const char *email,
                                    const char *password,
                                    const char *display_name,
                                    const char *const *profile_types,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean natter_account_register_finish (NatterAccount *self, GAsyncResult *result, GError **error);

void natter_account_login_async (NatterAccount *self,
                                 const char *email,
                                 const char *password,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean natter_account_login_finish (NatterAccount *self, GAsyncResult *result, GError **error);

void natter_account_restore_async (NatterAccount *self,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean natter_account_restore_finish (NatterAccount *self, GAsyncResult *result, GError **error);

void natter_account_refresh_user_async (NatterAccount *self,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer user_data);
gboolean
natter_account_refresh_user_finish (NatterAccount *self, GAsyncResult *result, GError **error);

void natter_account_logout_async (NatterAccount *self,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);
void natter_account_logout_everywhere_async (NatterAccount *self,
                                             GCancellable *cancellable,
                                             GAsyncReadyCallback callback,
                                             gpointer user_data);
gboolean natter_account_logout_finish (NatterAccount *self, GAsyncResult *result, GError **error);

void natter_account_forget_token (NatterAccount *self);

void natter_account_request_async (NatterAccount *self,
                                   const char *method,
                                   const char *path,
                                   const char *body,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data);
GBytes *natter_account_request_finish (NatterAccount *self, GAsyncResult *result, GError **error);
SoupMessage *natter_account_new_message (NatterAccount *self, const char *method, const char *path);
GError *natter_account_error_for_status (guint status, GBytes *body);

void natter_account_search_profiles_async (NatterAccount *self,
                                           const char *query,
                                           guint limit,
                                           GCancellable *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer user_data);
GPtrArray *
natter_account_search_profiles_finish (NatterAccount *self, GAsyncResult *result, GError **error);

char *natter_account_build_profile_path (NatterAccount *self, const char *format, ...)
  G_GNUC_PRINTF (2, 3);

G_END_DECLS
