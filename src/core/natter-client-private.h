/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-client.h"

G_BEGIN_DECLS

/* For the files that make NatterClient's REST calls: a call that needs the
 * active profile fails @task with NO_TOKEN before it asks the server. */
static inline gboolean
natter_client_check_signed_in (NatterClient *self, GTask *task)
{
  NatterAccount *account = natter_client_get_account (self);

  if (natter_account_get_token (account) != NULL &&
      natter_account_get_active_profile (account) != NULL)
    return TRUE;

  g_task_return_new_error (task, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN,
                           "Not signed in");
  return FALSE;
}

G_END_DECLS
