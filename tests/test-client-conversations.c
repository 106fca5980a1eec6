/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-client-conversations"

#include "config.h"

#include <glib/gstdio.h>

#include "natter-client.h"
#include "natter-test-client.h"
#include "natter-test-server.h"

/* The REST calls the views make through core, against the real server:
 * starting a conversation, a page of history, the profile directory. */

typedef struct {
  NatterTestServer *server;
  char *data_dir;
  NatterClient *client; /* Abebe, signed in */
  NatterProfile *abebe;
  NatterProfile *sara;
  guint sent;
} Fixture;

static void
on_message_sent (NatterClient *client,
                 const char *client_msg_id,
                 const NatterMessage *message,
                 Fixture *fixture)
{
  fixture->sent++;
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  const char *const args[] = { "--chat-rate", "1000", "--chat-burst", "1000", NULL };
  g_autoptr (NatterUser) abebe = NULL;
  g_autoptr (NatterUser) sara = NULL;
  g_autoptr (NatterUser) sarah = NULL;
  g_autoptr (GError) error = NULL;

  fixture->server = natter_test_server_new (args);
  fixture->data_dir = g_dir_make_tmp ("natter-test-client-conversations-XXXXXX", &error);
  g_assert_no_error (error);

  abebe = natter_test_server_register (fixture->server, "abebe@example.org", "Abebe", "tutor", NULL,
                                       &fixture->abebe);
  sara = natter_test_server_register (fixture->server, "sara@example.org", "Sara Tesfaye",
                                      "student", NULL, &fixture->sara);
  sarah = natter_test_server_register (fixture->server, "sarah@example.org", "Sarah Bekele",
                                       "parent", NULL, NULL);

  fixture->client =
    natter_client_new (natter_test_server_get_url (fixture->server), fixture->data_dir);
  g_signal_connect (fixture->client, "message-sent", G_CALLBACK (on_message_sent), fixture);
  natter_test_client_login (fixture->client, "abebe@example.org", 5000);
  natter_test_wait_until (natter_test_client_is_connected (fixture->client), 5000);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_signal_handlers_disconnect_by_data (fixture->client, fixture);
  g_assert_finalize_object (g_steal_pointer (&fixture->client));
  g_clear_pointer (&fixture->abebe, natter_profile_free);
  g_clear_pointer (&fixture->sara, natter_profile_free);
  natter_test_server_free (fixture->server);
  natter_test_remove_tree (fixture->data_dir);
  g_free (fixture->data_dir);
}

static NatterConversation *
start_conversation (NatterClient *client, const NatterProfile *peer, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  natter_client_start_conversation_async (client, peer, NULL, natter_test_on_task_done, &result);
  natter_test_wait_until (result != NULL, 5000);

  return natter_client_start_conversation_finish (client, result, error);
}

static gboolean
has_participant (const NatterConversation *conversation, const NatterProfile *profile)
{
  for (guint i = 0; conversation->participants != NULL && i < conversation->participants->len; i++)
    if (natter_profile_equal (g_ptr_array_index (conversation->participants, i), profile))
      return TRUE;

  return FALSE;
}

static void
test_start_conversation (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterConversation) first = NULL;
  g_autoptr (NatterConversation) again = NULL;
  g_autoptr (NatterConversation) stranger = NULL;
  g_autoptr (NatterProfile) nobody = natter_profile_new (9999, "student", NULL, NULL);
  g_autoptr (GError) error = NULL;

  first = start_conversation (fixture->client, fixture->sara, &error);
  g_assert_no_error (error);
  g_assert_nonnull (first);
  g_assert_cmpint (first->conversation_id, >, 0);
  g_assert_true (has_participant (first, fixture->abebe));
  g_assert_true (has_participant (first, fixture->sara));

  /* A direct conversation is never made twice. */
  again = start_conversation (fixture->client, fixture->sara, &error);
  g_assert_no_error (error);
  g_assert_cmpint (again->conversation_id, ==, first->conversation_id);

  /* A profile that does not exist: the server's refusal, as an error. */
  stranger = start_conversation (fixture->client, nobody, &error);
  g_assert_null (stranger);
  g_assert_error (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NOT_FOUND);
}

static GPtrArray *
fetch_history (Fixture *fixture,
               gint64 conversation_id,
               gint64 before_seq,
               guint limit,
               gboolean *out_has_more,
               GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  natter_client_fetch_history_async (fixture->client, conversation_id, before_seq, limit, NULL,
                                     natter_test_on_task_done, &result);
  natter_test_wait_until (result != NULL, 5000);

  return natter_client_fetch_history_finish (fixture->client, result, out_has_more, error);
}

static void
assert_texts (GPtrArray *messages, guint first, guint count)
{
  g_assert_cmpuint (messages->len, ==, count);
  for (guint i = 0; i < count; i++) {
    const NatterMessage *message = g_ptr_array_index (messages, i);
    g_autofree char *expected = g_strdup_printf ("message %u", first + i);

    g_assert_cmpstr (message->text, ==, expected);
    g_assert_cmpint (message->seq, ==, first + i);
  }
}

static void
test_fetch_history (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterConversation) conversation = NULL;
  g_autoptr (GPtrArray) newest = NULL;
  g_autoptr (GPtrArray) older = NULL;
  g_autoptr (GPtrArray) missing = NULL;
  g_autoptr (GError) error = NULL;
  gboolean has_more = FALSE;

  conversation = start_conversation (fixture->client, fixture->sara, &error);
  g_assert_no_error (error);
  for (guint i = 1; i <= 5; i++) {
    g_autofree char *text = g_strdup_printf ("message %u", i);
    g_autofree char *client_msg_id =
      natter_client_send_message (fixture->client, conversation->conversation_id, text, &error);

    g_assert_no_error (error);
    g_assert_nonnull (client_msg_id);
  }
  natter_test_wait_until (fixture->sent == 5, 5000);

  /* The newest page, oldest first, says there is more. */
  newest = fetch_history (fixture, conversation->conversation_id, 0, 2, &has_more, &error);
  g_assert_no_error (error);
  assert_texts (newest, 4, 2);
  g_assert_true (has_more);

  /* The page below it reaches seq 1. */
  older = fetch_history (fixture, conversation->conversation_id, 4, NATTER_HISTORY_LIMIT_MAX,
                         &has_more, &error);
  g_assert_no_error (error);
  assert_texts (older, 1, 3);
  g_assert_false (has_more);

  /* Someone else's (or no) conversation: the server's refusal, no page. */
  missing = fetch_history (fixture, conversation->conversation_id + 100, 0, 10, &has_more, &error);
  g_assert_null (missing);
  g_assert_nonnull (error);
  g_assert_true (error->domain == NATTER_ACCOUNT_ERROR);
  g_assert_false (has_more);
}

static GPtrArray *
search_profiles (
  NatterAccount *account, const char *query, guint limit, GCancellable *cancellable, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  natter_account_search_profiles_async (account, query, limit, cancellable,
                                        natter_test_on_task_done, &result);
  natter_test_wait_until (result != NULL, 5000);

  return natter_account_search_profiles_finish (account, result, error);
}

static void
test_search_profiles (Fixture *fixture, gconstpointer data)
{
  NatterAccount *account = natter_client_get_account (fixture->client);
  g_autoptr (GPtrArray) both = NULL;
  g_autoptr (GPtrArray) one = NULL;
  g_autoptr (GPtrArray) none = NULL;
  g_autoptr (GPtrArray) cancelled = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  gboolean found_sara = FALSE;

  /* Query text goes through the URL escaped: a space is part of the name. */
  both = search_profiles (account, "Sara", NATTER_DIRECTORY_LIMIT_MAX, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (both->len, ==, 2);
  for (guint i = 0; i < both->len; i++)
    found_sara = found_sara || natter_profile_equal (g_ptr_array_index (both, i), fixture->sara);
  g_assert_true (found_sara);

  one = search_profiles (account, "Sara Tes", 1, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (one->len, ==, 1);
  g_assert_true (natter_profile_equal (g_ptr_array_index (one, 0), fixture->sara));
  g_assert_cmpstr (((NatterProfile *) g_ptr_array_index (one, 0))->display_name, ==,
                   "Sara Tesfaye");

  none = search_profiles (account, "Nobody & Co?", 20, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (none->len, ==, 0);

  g_cancellable_cancel (cancellable);
  cancelled = search_profiles (account, "Sara", 20, cancellable, &error);
  g_assert_null (cancelled);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_signed_out (Fixture *fixture, gconstpointer data)
{
  g_autofree char *dir = g_build_filename (fixture->data_dir, "signed-out", NULL);
  g_autoptr (NatterClient) client =
    natter_client_new (natter_test_server_get_url (fixture->server), dir);
  g_autoptr (GAsyncResult) started = NULL;
  g_autoptr (GAsyncResult) fetched = NULL;
  g_autoptr (NatterConversation) conversation = NULL;
  g_autoptr (GPtrArray) messages = NULL;
  g_autoptr (GError) error = NULL;

  natter_client_start_conversation_async (client, fixture->sara, NULL, natter_test_on_task_done,
                                          &started);
  natter_client_fetch_history_async (client, 1, 0, 10, NULL, natter_test_on_task_done, &fetched);
  natter_test_wait_until (started != NULL && fetched != NULL, 5000);

  conversation = natter_client_start_conversation_finish (client, started, &error);
  g_assert_null (conversation);
  g_assert_error (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN);
  g_clear_error (&error);

  messages = natter_client_fetch_history_finish (client, fetched, NULL, &error);
  g_assert_null (messages);
  g_assert_error (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN);

  g_clear_object (&started);
  g_clear_object (&fetched);
  g_assert_finalize_object (g_steal_pointer (&client));
}

int
main (int argc, char **argv)
{
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
  g_unsetenv ("NATTER_TOKEN");
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/client/conversations/start", test_start_conversation);
  ADD ("/natter/client/conversations/fetch-history", test_fetch_history);
  ADD ("/natter/client/conversations/search-profiles", test_search_profiles);
  ADD ("/natter/client/conversations/signed-out", test_signed_out);
#undef ADD

  return g_test_run ();
}
