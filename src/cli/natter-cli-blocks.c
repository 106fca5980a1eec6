/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-cli"

/* natter-cli block | unblock | blocked: the active profile's blocks. */

#include "config.h"

#include "natter-cli.h"

static void
print_profile_event (const char *event, const NatterProfile *profile)
{
  JsonBuilder *builder = natter_cli_event_begin (event);
  g_autofree char *name = natter_cli_format_profile (profile);

  json_builder_set_member_name (builder, "profile");
  json_builder_add_string_value (builder, name);
  if (profile->display_name != NULL) {
    json_builder_set_member_name (builder, "display_name");
    json_builder_add_string_value (builder, profile->display_name);
  }
  natter_cli_event_end (builder);
}

static int
change_block (NatterCli *cli, int argc, char **argv, gboolean blocked)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterProfile) profile = NULL;
  g_autofree char *type = NULL;
  NatterClient *client;
  gint64 id;
  GOptionEntry entries[] = { { NULL } };

  if (!natter_cli_parse_options (
        entries, blocked ? "TYPE:ID - block a profile" : "TYPE:ID - unblock a profile", &argc,
        &argv, &error))
    return natter_cli_fail ("%s", error->message);
  if (argc != 2)
    return natter_cli_fail ("%s needs TYPE:ID", blocked ? "block" : "unblock");
  if (!natter_cli_parse_profile (argv[1], &id, &type, &error))
    return natter_cli_fail ("%s", error->message);
  if (!natter_cli_sign_in (cli, 0, &error))
    return natter_cli_fail ("%s", error->message);

  client = natter_cli_get_client (cli);
  profile = natter_profile_new (id, type, NULL, NULL);
  natter_client_set_blocked_async (client, profile, blocked, NULL, natter_cli_task_done, &result);
  natter_cli_wait_for_task (&result);
  if (!natter_client_set_blocked_finish (client, result, &error))
    return natter_cli_fail ("Cannot %s %s: %s", blocked ? "block" : "unblock", argv[1],
                            error->message);

  print_profile_event (blocked ? "blocked" : "unblocked", profile);
  return 0;
}

int
natter_cli_block (NatterCli *cli, int argc, char **argv)
{
  return change_block (cli, argc, argv, TRUE);
}

int
natter_cli_unblock (NatterCli *cli, int argc, char **argv)
{
  return change_block (cli, argc, argv, FALSE);
}

int
natter_cli_blocked (NatterCli *cli, int argc, char **argv)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) blocked = NULL;
  NatterClient *client;
  GOptionEntry entries[] = { { NULL } };

  if (!natter_cli_parse_options (entries, "- list the blocked profiles", &argc, &argv, &error))
    return natter_cli_fail ("%s", error->message);
  if (argc != 1)
    return natter_cli_fail ("blocked takes no arguments");
  if (!natter_cli_sign_in (cli, 0, &error))
    return natter_cli_fail ("%s", error->message);

  client = natter_cli_get_client (cli);
  natter_client_list_blocked_async (client, NULL, natter_cli_task_done, &result);
  natter_cli_wait_for_task (&result);
  blocked = natter_client_list_blocked_finish (client, result, &error);
  if (blocked == NULL)
    return natter_cli_fail ("Cannot list the blocked profiles: %s", error->message);

  for (guint i = 0; i < blocked->len; i++)
    print_profile_event ("blocked", g_ptr_array_index (blocked, i));
  return 0;
}
