/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-client"

/* The active profile's blocks (PROTOCOL.md: /api/as/{id}/{type}/blocks),
 * for the app's menu and preferences and for natter-cli. */

#include "config.h"

#include "natter-client-private.h"

#include "natter-http-body.h"

static void
on_blocks_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  GPtrArray *blocked;

  body = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  if (body == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  blocked =
    natter_block_list_parse (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
  if (blocked == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, blocked, (GDestroyNotify) g_ptr_array_unref);
}

/**
 * natter_client_list_blocked_async:
 * @self: a #NatterClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: for @callback
 *
 * Fetches the profiles the active profile blocked.
 */
void
natter_client_list_blocked_async (NatterClient *self,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autofree char *path = NULL;
  NatterAccount *account;

  g_return_if_fail (NATTER_IS_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_client_list_blocked_async);
  if (!natter_client_check_signed_in (self, task))
    return;

  account = natter_client_get_account (self);
  path = natter_account_build_profile_path (account, "/blocks");
  natter_account_request_async (account, "GET", path, NULL, cancellable, on_blocks_answer,
                                g_steal_pointer (&task));
}

/**
 * natter_client_list_blocked_finish:
 * @self: a #NatterClient
 * @result: the result
 * @error: a #GError
 *
 * Returns: (transfer full) (element-type NatterProfile): the blocked
 *   profiles, newest first; %NULL on error
 */
GPtrArray *
natter_client_list_blocked_finish (NatterClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (NATTER_IS_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
on_block_changed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;

  body = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  if (body == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * natter_client_set_blocked_async:
 * @self: a #NatterClient
 * @profile: the profile to block or unblock
 * @blocked: %TRUE to block, %FALSE to unblock
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the server answered
 * @user_data: for @callback
 *
 * A blocked profile can no longer write to, call, start a conversation
 * with, or see the presence of the active profile.
 */
void
natter_client_set_blocked_async (NatterClient *self,
                                 const NatterProfile *profile,
                                 gboolean blocked,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autofree char *path = NULL;
  g_autofree char *body = NULL;
  NatterAccount *account;

  g_return_if_fail (NATTER_IS_CLIENT (self));
  g_return_if_fail (profile != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_client_set_blocked_async);
  if (!natter_client_check_signed_in (self, task))
    return;

  account = natter_client_get_account (self);
  if (blocked) {
    path = natter_account_build_profile_path (account, "/blocks");
    body = natter_block_request_to_json (profile);
  } else {
    path = natter_account_build_profile_path (account, "/blocks/%s/%" G_GINT64_FORMAT,
                                              profile->profile_type, profile->profile_id);
  }
  natter_account_request_async (account, blocked ? "POST" : "DELETE", path, body, cancellable,
                                on_block_changed, g_steal_pointer (&task));
}

/**
 * natter_client_set_blocked_finish:
 * @self: a #NatterClient
 * @result: the result
 * @error: a #GError
 *
 * Returns: %TRUE when the server took the change
 */
gboolean
natter_client_set_blocked_finish (NatterClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (NATTER_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
