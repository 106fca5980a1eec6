/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-cli"

#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <unistd.h>

#include "natter-cli.h"
#include "natter-json.h"

/* natter-cli: JSON lines on stdout (one object per line, with an "event"
 * member), human errors on stderr, exit 0 only on success. */

static const NatterCliCommand commands[] = {
  { "register", "--email E --name N --profile-type T --password-stdin",
    "Create a user, sign in as them", natter_cli_register },
  { "login", "--email E --password-stdin", "Sign in", natter_cli_login },
  { "logout", "[--everywhere]",
    "Revoke the token and forget it; --everywhere: every token of the user", natter_cli_logout },
  { "whoami", "", "Show the user, their profiles and the active one", natter_cli_whoami },
  { "conversations", "", "List the active profile's conversations", natter_cli_conversations },
  { "history", "CONVERSATION_ID [--limit N]", "Print the newest messages", natter_cli_history },
  { "send", "TYPE:ID [TEXT] [--file PATH]… [--timeout S]",
    "Send a message, with files; exits after the server's ack", natter_cli_send },
  { "download", "ATTACHMENT_ID --output PATH", "Save an attachment's file, checked",
    natter_cli_download },
  { "listen", "[--count N] [--timeout S]", "Print every event; reconnects on its own",
    natter_cli_listen },
  { "call", "TYPE:ID [--voice|--video] [--duration S]",
    "Call a profile; prints call states and a call_summary", natter_cli_call },
  { "answer", "[--auto|--decline] [--count N] [--duration S]",
    "Answer (or decline) incoming calls; prints call states and a call_summary",
    natter_cli_answer },
  { "block", "TYPE:ID", "Block a profile: it can no longer write, call or see you online",
    natter_cli_block },
  { "unblock", "TYPE:ID", "Unblock a profile", natter_cli_unblock },
  { "blocked", "", "List the blocked profiles", natter_cli_blocked },
};

static const char events_help[] =
  "Output: one JSON object per line, each with an \"event\" member:\n"
  "  signed_in      register, login: user_id, email, display_name, profiles, active_profile\n"
  "  signed_out     logout\n"
  "  whoami         server, user_id, email, display_name, profiles, active_profile,\n"
  "                 token_storage (\"secret-service\", \"file\" or \"environment\")\n"
  "  conversation   conversation_id, peer (\"type:id\"), title, unread_count, last_seq,\n"
  "                 last_text, updated_at\n"
  "  message        conversation_id, seq, message_id, from (\"type:id\"), from_name, text,\n"
  "                 sent_at, client_msg_id\n"
  "  queued         send: client_msg_id (written to the outbox)\n"
  "  sent           send: client_msg_id, message_id, conversation_id, seq\n"
  "  failed         send: client_msg_id, code, message (refused for good)\n"
  "  state          listen: state (connecting, connected, waiting-to-retry, …), error\n"
  "  read           listen: conversation_id, profile, up_to_seq\n"
  "  typing         listen: conversation_id, from, active\n"
  "  presence       listen: profile, online, last_seen\n"
  "  missed_call    listen: call_log_id, from, call_type, started_at\n"
  "  blocked        block, blocked: profile (\"type:id\"), display_name\n"
  "  unblocked      unblock: profile\n"
  "  call_state     call, answer: state, call_log_id, peer, call_type, direction, reason\n"
  "  call_summary   call, answer: end_reason, invitation_to_ringing_ms,\n"
  "                 accept_to_first_audio_ms, accept_to_first_video_ms, audio/video counts\n"
  "\n"
  "Environment: NATTER_TOKEN overrides the kept token; XDG_DATA_HOME locates the\n"
  "data directory ($XDG_DATA_HOME/natter).\n";

static void
print_usage (FILE *stream)
{
  gsize i;

  fprintf (stream, "Usage: natter-cli [--server URL] [--profile TYPE:ID] COMMAND …\n\nCommands:\n");
  for (i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (stream, "  %-14s %s\n  %-14s   %s\n", commands[i].name, commands[i].synopsis, "",
             commands[i].summary);
  fprintf (stream,
           "\nGlobal options:\n"
           "  --server URL       the server (default: the last used, else http://127.0.0.1:8000)\n"
           "  --profile TYPE:ID  act as this profile (default: the last used)\n\n%s",
           events_help);
}

/**
 * natter_cli_fail:
 * @format: a printf format for the message
 * @...: its arguments
 *
 * Prints a human error on stderr.
 *
 * Returns: the exit status for a failure, 1
 */
int
natter_cli_fail (const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  fprintf (stderr, "natter-cli: %s\n", message);

  return 1;
}

/**
 * natter_cli_get_client:
 * @cli: the CLI
 *
 * Returns: (transfer none): the client, created on first use
 */
NatterClient *
natter_cli_get_client (NatterCli *cli)
{
  if (cli->client == NULL)
    cli->client = natter_client_new (cli->server_url, NULL);

  return cli->client;
}

static gboolean
keep_ticking (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/**
 * natter_cli_wait:
 * @done: set when the wait is over
 * @timeout_s: the deadline, 0 for none
 *
 * Returns: %FALSE on timeout
 */
gboolean
natter_cli_wait (gboolean *done, guint timeout_s)
{
  gint64 deadline =
    timeout_s > 0 ? g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC : 0;
  guint tick;

  /* Wake up now and then to look at the clock. */
  tick = g_timeout_add (100, keep_ticking, NULL);

  while (!*done && (deadline == 0 || g_get_monotonic_time () < deadline))
    g_main_context_iteration (NULL, TRUE);

  g_source_remove (tick);

  return *done;
}

/**
 * natter_cli_task_done:
 * @source: the operation's object
 * @result: its result
 * @user_data: a `GAsyncResult **`, for natter_cli_wait_for_task()
 *
 * A #GAsyncReadyCallback that keeps the result.
 */
void
natter_cli_task_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out_result = user_data;

  *out_result = g_object_ref (result);
}

/**
 * natter_cli_wait_for_task:
 * @result: (out): where the finished operation's result lands
 *
 * Iterates the main context until *@result is set (by the callback that
 * natter_cli_task_done() stores).
 */
void
natter_cli_wait_for_task (GAsyncResult **result)
{
  while (*result == NULL)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
is_network_error (const GError *error)
{
  return error->domain != NATTER_ACCOUNT_ERROR &&
         !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/**
 * natter_cli_sign_in:
 * @cli: the CLI
 * @timeout_s: keep retrying an unreachable server this long (0: try once)
 * @error: a #GError
 *
 * Restores the kept sign-in and applies --profile.
 *
 * Returns: %TRUE if signed in
 */
gboolean
natter_cli_sign_in (NatterCli *cli, guint timeout_s, GError **error)
{
  NatterClient *client = natter_cli_get_client (cli);
  NatterAccount *account = natter_client_get_account (client);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;

  for (;;) {
    g_autoptr (GAsyncResult) result = NULL;
    g_autoptr (GError) local_error = NULL;

    natter_client_sign_in_async (client, NULL, natter_cli_task_done, &result);
    natter_cli_wait_for_task (&result);

    if (natter_client_sign_in_finish (client, result, &local_error))
      break;

    if (!is_network_error (local_error) || g_get_monotonic_time () >= deadline) {
      if (g_error_matches (local_error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN))
        g_set_error (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN,
                     "Not signed in on %s: use natter-cli login",
                     natter_account_get_server_url (account));
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

    /* Server unreachable and never seen from here: wait and try again. */
    {
      gboolean never = FALSE;

      natter_cli_wait (&never, 1);
    }
  }

  if (cli->profile != NULL) {
    g_autofree char *type = NULL;
    gint64 id;

    if (!natter_cli_parse_profile (cli->profile, &id, &type, error) ||
        !natter_account_set_active_profile (account, id, type, error))
      return FALSE;
  }

  return TRUE;
}

/**
 * natter_cli_read_password:
 * @error: a #GError
 *
 * Returns: (transfer full) (nullable): the first line of stdin
 */
char *
natter_cli_read_password (GError **error)
{
  g_autoptr (GString) line = g_string_new (NULL);
  int c;

  while ((c = getchar ()) != EOF && c != '\n')
    g_string_append_c (line, (char) c);

  if (line->len > 0 && line->str[line->len - 1] == '\r')
    g_string_truncate (line, line->len - 1);

  if (line->len == 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "No password on stdin");
    return NULL;
  }

  return g_string_free (g_steal_pointer (&line), FALSE);
}

/**
 * natter_cli_parse_profile:
 * @text: "type:id", for example "tutor:1"
 * @out_id: (out): the id
 * @out_type: (out) (transfer full): the type, lowercase
 * @error: a #GError
 *
 * Returns: %TRUE if @text names a profile
 */
gboolean
natter_cli_parse_profile (const char *text, gint64 *out_id, char **out_type, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (text, ":", 2);
  g_autofree char *type = NULL;
  guint64 id = 0;

  if (g_strv_length (parts) != 2 ||
      !g_ascii_string_to_unsigned (parts[1], 10, 1, NATTER_MAX_ID, &id, NULL) ||
      (type = natter_profile_type_normalize (parts[0], NULL)) == NULL) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "Not a profile: “%s” (expected TYPE:ID, for example tutor:1)", text);
    return FALSE;
  }

  *out_id = (gint64) id;
  *out_type = g_steal_pointer (&type);

  return TRUE;
}

/**
 * natter_cli_format_profile:
 * @profile: a profile
 *
 * Returns: (transfer full): "type:id"
 */
char *
natter_cli_format_profile (const NatterProfile *profile)
{
  return g_strdup_printf ("%s:%" G_GINT64_FORMAT, profile->profile_type, profile->profile_id);
}

/**
 * natter_cli_parse_options:
 * @entries: the command's options
 * @parameter_string: its positional arguments, for --help
 * @argc: (inout): argument count
 * @argv: (inout): arguments, the command name first
 * @error: a #GError
 *
 * Returns: %TRUE if the options parsed
 */
gboolean
natter_cli_parse_options (
  GOptionEntry *entries, const char *parameter_string, int *argc, char ***argv, GError **error)
{
  g_autoptr (GOptionContext) context = g_option_context_new (parameter_string);

  g_option_context_add_main_entries (context, entries, NULL);

  return g_option_context_parse (context, argc, argv, error);
}

/**
 * natter_cli_event_begin:
 * @event: the event's name
 *
 * Returns: (transfer full): a builder inside the event's object
 */
JsonBuilder *
natter_cli_event_begin (const char *event)
{
  JsonBuilder *builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "event");
  json_builder_add_string_value (builder, event);

  return builder;
}

/**
 * natter_cli_event_end:
 * @builder: (transfer full): from natter_cli_event_begin()
 *
 * Prints the event as one line and flushes, so a reader sees it at once.
 */
void
natter_cli_event_end (JsonBuilder *builder)
{
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *json = NULL;

  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json = natter_json_to_string (root, NULL);
  g_object_unref (builder);

  fprintf (stdout, "%s\n", json);
  fflush (stdout);
}

/**
 * natter_cli_add_message:
 * @builder: inside an event object
 * @message: a message
 *
 * Adds the members of the "message" event.
 */
void
natter_cli_add_message (JsonBuilder *builder, const NatterMessage *message)
{
  json_builder_set_member_name (builder, "conversation_id");
  json_builder_add_int_value (builder, message->conversation_id);
  json_builder_set_member_name (builder, "seq");
  json_builder_add_int_value (builder, message->seq);
  json_builder_set_member_name (builder, "message_id");
  json_builder_add_int_value (builder, message->message_id);

  if (message->sender != NULL) {
    g_autofree char *from = natter_cli_format_profile (message->sender);

    json_builder_set_member_name (builder, "from");
    json_builder_add_string_value (builder, from);
    if (message->sender->display_name != NULL) {
      json_builder_set_member_name (builder, "from_name");
      json_builder_add_string_value (builder, message->sender->display_name);
    }
  }

  json_builder_set_member_name (builder, "text");
  json_builder_add_string_value (builder, message->text);
  json_builder_set_member_name (builder, "sent_at");
  json_builder_add_string_value (builder, message->sent_at);

  if (message->client_msg_id != NULL) {
    json_builder_set_member_name (builder, "client_msg_id");
    json_builder_add_string_value (builder, message->client_msg_id);
  }
}

/**
 * natter_cli_print_attachments:
 * @message: a message
 *
 * Prints one "attachment" line per file of @message, after its own line.
 */
void
natter_cli_print_attachments (const NatterMessage *message)
{
  for (guint i = 0; message->attachments != NULL && i < message->attachments->len; i++) {
    NatterAttachment *attachment = g_ptr_array_index (message->attachments, i);
    JsonBuilder *builder = natter_cli_event_begin ("attachment");

    json_builder_set_member_name (builder, "conversation_id");
    json_builder_add_int_value (builder, message->conversation_id);
    json_builder_set_member_name (builder, "seq");
    json_builder_add_int_value (builder, message->seq);
    json_builder_set_member_name (builder, "attachment_id");
    json_builder_add_int_value (builder, attachment->attachment_id);
    json_builder_set_member_name (builder, "name");
    json_builder_add_string_value (builder, attachment->name);
    json_builder_set_member_name (builder, "content_type");
    json_builder_add_string_value (builder, attachment->content_type);
    json_builder_set_member_name (builder, "size");
    json_builder_add_int_value (builder, attachment->size);
    json_builder_set_member_name (builder, "sha256");
    json_builder_add_string_value (builder, attachment->sha256);
    if (attachment->width > 0 && attachment->height > 0) {
      json_builder_set_member_name (builder, "width");
      json_builder_add_int_value (builder, attachment->width);
      json_builder_set_member_name (builder, "height");
      json_builder_add_int_value (builder, attachment->height);
    }
    natter_cli_event_end (builder);
  }
}

/**
 * natter_cli_print_message:
 * @event: the event's name
 * @message: a message
 */
void
natter_cli_print_message (const char *event, const NatterMessage *message)
{
  JsonBuilder *builder = natter_cli_event_begin (event);

  natter_cli_add_message (builder, message);
  natter_cli_event_end (builder);
}

static gboolean
take_global_option (const char *name, int *i, int argc, char **argv, char **out_value)
{
  gsize length = strlen (name);

  if (g_str_equal (argv[*i], name)) {
    if (*i + 1 >= argc)
      return FALSE;
    g_free (*out_value);
    *out_value = g_strdup (argv[++*i]);
    return TRUE;
  }

  if (g_str_has_prefix (argv[*i], name) && argv[*i][length] == '=') {
    g_free (*out_value);
    *out_value = g_strdup (argv[*i] + length + 1);
    return TRUE;
  }

  return FALSE;
}

/**
 * natter_cli_main:
 * @argc: argument count
 * @argv: arguments
 *
 * Returns: the exit status
 */
static void
natter_cli_clear (NatterCli *cli)
{
  g_clear_object (&cli->client);
  g_clear_pointer (&cli->server_url, g_free);
  g_clear_pointer (&cli->profile, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (NatterCli, natter_cli_clear)

int
natter_cli_main (int argc, char **argv)
{
  g_auto (NatterCli) cli = { 0 };
  const NatterCliCommand *command = NULL;
  int i;
  gsize j;

  setlocale (LC_ALL, "");

  for (i = 1; i < argc; i++) {
    if (take_global_option ("--server", &i, argc, argv, &cli.server_url) ||
        take_global_option ("--profile", &i, argc, argv, &cli.profile))
      continue;

    if (g_str_equal (argv[i], "--help") || g_str_equal (argv[i], "-h") ||
        g_str_equal (argv[i], "help")) {
      print_usage (stdout);
      return 0;
    }

    if (argv[i][0] == '-') {
      print_usage (stderr);
      return natter_cli_fail ("Unknown option %s", argv[i]);
    }

    break;
  }

  if (i >= argc) {
    print_usage (stderr);
    return natter_cli_fail ("No command given");
  }

  for (j = 0; j < G_N_ELEMENTS (commands); j++) {
    if (g_str_equal (commands[j].name, argv[i]))
      command = &commands[j];
  }

  if (command == NULL) {
    print_usage (stderr);
    return natter_cli_fail ("Unknown command %s", argv[i]);
  }

  return command->run (&cli, argc - i, argv + i);
}
