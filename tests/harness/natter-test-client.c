/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-test-client"

#include "config.h"

#include "natter-test-client.h"
#include "natter-test-server.h"

/* NatterClient-side helpers shared by the integration tests; GTK-free. */

/**
 * natter_test_client_is_connected:
 * @client: (nullable): a client
 *
 * Returns: whether @client exists and its connection is connected
 */
gboolean
natter_test_client_is_connected (NatterClient *client)
{
  return client != NULL && natter_connection_get_state (natter_client_get_connection (client)) ==
                             NATTER_CONNECTION_STATE_CONNECTED;
}

/**
 * natter_test_client_login:
 * @client: a client
 * @email: an account registered with natter_test_server_register()
 * @timeout_ms: the deadline for the login
 *
 * Logs @client in with #NATTER_TEST_PASSWORD and waits for the answer;
 * fails the test if the login fails or the deadline passes.
 */
void
natter_test_client_login (NatterClient *client, const char *email, guint timeout_ms)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  NatterAccount *account;

  g_return_if_fail (NATTER_IS_CLIENT (client));
  g_return_if_fail (email != NULL);

  account = natter_client_get_account (client);
  natter_account_login_async (account, email, NATTER_TEST_PASSWORD, NULL, natter_test_on_task_done,
                              &result);
  natter_test_wait_until (result != NULL, timeout_ms);
  g_assert_true (natter_account_login_finish (account, result, &error));
  g_assert_no_error (error);
}

/**
 * natter_test_client_sign_in:
 * @client: a client on a data directory that holds a kept session
 * @timeout_ms: the deadline for the sign-in
 *
 * Signs @client in as a restarted application does, and waits for it;
 * fails the test if signing in fails or the deadline passes.
 */
void
natter_test_client_sign_in (NatterClient *client, guint timeout_ms)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  g_return_if_fail (NATTER_IS_CLIENT (client));

  natter_client_sign_in_async (client, NULL, natter_test_on_task_done, &result);
  natter_test_wait_until (result != NULL, timeout_ms);
  g_assert_true (natter_client_sign_in_finish (client, result, &error));
  g_assert_no_error (error);
}

/**
 * natter_test_client_new_signed_in:
 * @server_url: the server's base URL
 * @data_dir: the client's data directory
 * @token: a session token of a registered account
 * @timeout_ms: the deadline for the sign-in and for the connection
 *
 * Makes a client on @data_dir signed in with @token (as a user who
 * pasted it: `NATTER_TOKEN`), and waits until its connection is up.
 *
 * Returns: (transfer full): the connected client
 */
NatterClient *
natter_test_client_new_signed_in (const char *server_url,
                                  const char *data_dir,
                                  const char *token,
                                  guint timeout_ms)
{
  NatterClient *client = natter_client_new (server_url, data_dir);

  g_setenv ("NATTER_TOKEN", token, TRUE);
  natter_test_client_sign_in (client, timeout_ms);
  g_unsetenv ("NATTER_TOKEN");
  natter_test_wait_until (natter_test_client_is_connected (client), timeout_ms);
  return client;
}

/**
 * natter_test_client_refresh_conversations:
 * @client: a signed-in client
 * @timeout_ms: the deadline
 *
 * Fetches @client's conversation list and waits for it; fails the test
 * on an error or when the deadline passes.
 */
void
natter_test_client_refresh_conversations (NatterClient *client, guint timeout_ms)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  g_return_if_fail (NATTER_IS_CLIENT (client));

  natter_client_refresh_conversations_async (client, NULL, natter_test_on_task_done, &result);
  natter_test_wait_until (result != NULL, timeout_ms);
  natter_client_refresh_conversations_finish (client, result, &error);
  g_assert_no_error (error);
}
