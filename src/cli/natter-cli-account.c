/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-cli"

#include "config.h"

#include "natter-cli.h"

/* register, login, logout, whoami */

static void
add_user (JsonBuilder *builder, NatterAccount *account)
{
  const NatterUser *user = natter_account_get_user (account);
  const NatterProfile *active = natter_account_get_active_profile (account);

  if (user != NULL) {
    json_builder_set_member_name (builder, "user_id");
    json_builder_add_int_value (builder, user->user_id);
    json_builder_set_member_name (builder, "email");
    json_builder_add_string_value (builder, user->email);
    json_builder_set_member_name (builder, "display_name");
    json_builder_add_string_value (builder, user->display_name);

    json_builder_set_member_name (builder, "profiles");
    json_builder_begin_array (builder);
    for (guint i = 0; i < user->profiles->len; i++) {
      g_autofree char *name = natter_cli_format_profile (g_ptr_array_index (user->profiles, i));

      json_builder_add_string_value (builder, name);
    }
    json_builder_end_array (builder);
  }

  if (active != NULL) {
    g_autofree char *name = natter_cli_format_profile (active);

    json_builder_set_member_name (builder, "active_profile");
    json_builder_add_string_value (builder, name);
  }
}

static void
print_signed_in (NatterAccount *account)
{
  JsonBuilder *builder = natter_cli_event_begin ("signed_in");

  add_user (builder, account);
  natter_cli_event_end (builder);
}

/* Said before the password leaves: a script's log is where the user sees it. */
static void
warn_if_cleartext (NatterAccount *account)
{
  const char *url = natter_account_get_server_url (account);

  if (natter_server_url_is_cleartext (url))
    g_printerr ("natter-cli: warning: %s is not encrypted: the password and the token travel in "
                "clear over the network. Use an https:// address unless you trust every network "
                "between you and the server.\n",
                url);
}

/* Registration and login sign in; --profile then picks among the profiles. */
static int
finish_sign_in (NatterCli *cli, NatterAccount *account)
{
  g_autoptr (GError) error = NULL;

  if (cli->profile != NULL) {
    g_autofree char *type = NULL;
    gint64 id;

    if (!natter_cli_parse_profile (cli->profile, &id, &type, &error) ||
        !natter_account_set_active_profile (account, id, type, &error))
      return natter_cli_fail ("%s", error->message);
  }

  print_signed_in (account);

  return 0;
}

int
natter_cli_register (NatterCli *cli, int argc, char **argv)
{
  g_autofree char *email = NULL;
  g_autofree char *name = NULL;
  g_auto (GStrv) profile_types = NULL;
  g_autofree char *password = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) types = g_ptr_array_new_with_free_func (g_free);
  gboolean password_stdin = FALSE;
  NatterAccount *account;
  GOptionEntry entries[] = {
    { "email", 0, 0, G_OPTION_ARG_STRING, &email, "Email address (the login)", "E" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "Display name", "N" },
    { "profile-type", 0, 0, G_OPTION_ARG_STRING_ARRAY, &profile_types,
      "Profile to create (repeat or separate with commas)", "T" },
    { "password-stdin", 0, 0, G_OPTION_ARG_NONE, &password_stdin,
      "Read the password from the first line of stdin", NULL },
    { NULL },
  };

  if (!natter_cli_parse_options (entries, "- create a user", &argc, &argv, &error))
    return natter_cli_fail ("%s", error->message);

  if (email == NULL || name == NULL || profile_types == NULL || !password_stdin)
    return natter_cli_fail ("register needs --email, --name, --profile-type and --password-stdin");

  for (guint i = 0; profile_types[i] != NULL; i++) {
    g_auto (GStrv) parts = g_strsplit (profile_types[i], ",", -1);

    for (guint j = 0; parts[j] != NULL; j++) {
      if (*g_strstrip (parts[j]) != '\0')
        g_ptr_array_add (types, g_strdup (parts[j]));
    }
  }
  g_ptr_array_add (types, NULL);

  password = natter_cli_read_password (&error);
  if (password == NULL)
    return natter_cli_fail ("%s", error->message);

  account = natter_client_get_account (natter_cli_get_client (cli));
  warn_if_cleartext (account);
  natter_account_register_async (account, email, password, name, (const char *const *) types->pdata,
                                 NULL, natter_cli_task_done, &result);
  natter_cli_wait_for_task (&result);

  if (!natter_account_register_finish (account, result, &error))
    return natter_cli_fail ("Registration refused: %s", error->message);

  return finish_sign_in (cli, account);
}

int
natter_cli_login (NatterCli *cli, int argc, char **argv)
{
  g_autofree char *email = NULL;
  g_autofree char *password = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  gboolean password_stdin = FALSE;
  NatterAccount *account;
  GOptionEntry entries[] = {
    { "email", 0, 0, G_OPTION_ARG_STRING, &email, "Email address", "E" },
    { "password-stdin", 0, 0, G_OPTION_ARG_NONE, &password_stdin,
      "Read the password from the first line of stdin", NULL },
    { NULL },
  };

  if (!natter_cli_parse_options (entries, "- sign in", &argc, &argv, &error))
    return natter_cli_fail ("%s", error->message);

  if (email == NULL || !password_stdin)
    return natter_cli_fail ("login needs --email and --password-stdin");

  password = natter_cli_read_password (&error);
  if (password == NULL)
    return natter_cli_fail ("%s", error->message);

  account = natter_client_get_account (natter_cli_get_client (cli));
  warn_if_cleartext (account);
  natter_account_login_async (account, email, password, NULL, natter_cli_task_done, &result);
  natter_cli_wait_for_task (&result);

  if (!natter_account_login_finish (account, result, &error))
    return natter_cli_fail ("Login refused: %s", error->message);

  return finish_sign_in (cli, account);
}

int
natter_cli_logout (NatterCli *cli, int argc, char **argv)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  NatterAccount *account;
  gboolean everywhere = FALSE;
  GOptionEntry entries[] = {
    { "everywhere", 0, 0, G_OPTION_ARG_NONE, &everywhere,
      "Revoke every token of the user and close all their connections (every device)", NULL },
    { NULL }
  };

  if (!natter_cli_parse_options (entries, "- sign out", &argc, &argv, &error))
    return natter_cli_fail ("%s", error->message);

  account = natter_client_get_account (natter_cli_get_client (cli));
  if (everywhere)
    natter_account_logout_everywhere_async (account, NULL, natter_cli_task_done, &result);
  else
    natter_account_logout_async (account, NULL, natter_cli_task_done, &result);
  natter_cli_wait_for_task (&result);

  if (!natter_account_logout_finish (account, result, &error))
    return natter_cli_fail ("Signed out here, but the server was not told: %s", error->message);

  natter_cli_event_end (natter_cli_event_begin ("signed_out"));

  return 0;
}

int
natter_cli_whoami (NatterCli *cli, int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  NatterAccount *account;
  JsonBuilder *builder;
  const char *storage;
  GOptionEntry entries[] = { { NULL } };

  if (!natter_cli_parse_options (entries, "- show who is signed in", &argc, &argv, &error))
    return natter_cli_fail ("%s", error->message);

  if (!natter_cli_sign_in (cli, 0, &error))
    return natter_cli_fail ("%s", error->message);

  account = natter_client_get_account (natter_cli_get_client (cli));

  if (g_getenv ("NATTER_TOKEN") != NULL && *g_getenv ("NATTER_TOKEN") != '\0')
    storage = "environment";
  else if (natter_account_get_token_in_file (account))
    storage = "file";
  else
    storage = "secret-service";

  builder = natter_cli_event_begin ("whoami");
  json_builder_set_member_name (builder, "server");
  json_builder_add_string_value (builder, natter_account_get_server_url (account));
  add_user (builder, account);
  json_builder_set_member_name (builder, "token_storage");
  json_builder_add_string_value (builder, storage);
  natter_cli_event_end (builder);

  return 0;
}
