/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-cli"

#include "config.h"

#include <glib-unix.h>

#include "natter-cli.h"

/* conversations, history, send, listen */

#define SEND_TIMEOUT_DEFAULT_S 30

int
natter_cli_conversations (NatterCli *cli, int argc, char **argv)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  NatterClient *client;
  GListModel *conversations;
  guint n_items;
  GOptionEntry entries[] = { { NULL } };

  if (!natter_cli_parse_options (entries, "- list conversations", &argc, &argv, &error))
    return natter_cli_fail ("%s", error->message);

  if (!natter_cli_sign_in (cli, 0, &error))
    return natter_cli_fail ("%s", error->message);

  client = natter_cli_get_client (cli);
  natter_client_refresh_conversations_async (client, NULL, natter_cli_task_done, &result);
  natter_cli_wait_for_task (&result);

  if (!natter_client_refresh_conversations_finish (client, result, &error))
    return natter_cli_fail ("Cannot fetch the conversations: %s", error->message);

  conversations = natter_client_get_conversations (client);
  n_items = g_list_model_get_n_items (conversations);
  for (guint i = 0; i < n_items; i++) {
    g_autoptr (NatterConversationItem) item = g_list_model_get_item (conversations, i);
    const NatterProfile *peer = natter_conversation_item_get_peer (item);
    JsonBuilder *builder = natter_cli_event_begin ("conversation");

    json_builder_set_member_name (builder, "conversation_id");
    json_builder_add_int_value (builder, natter_conversation_item_get_conversation_id (item));
    if (peer != NULL) {
      g_autofree char *name = natter_cli_format_profile (peer);

      json_builder_set_member_name (builder, "peer");
      json_builder_add_string_value (builder, name);
    }
    json_builder_set_member_name (builder, "title");
    json_builder_add_string_value (builder, natter_conversation_item_get_title (item));
    json_builder_set_member_name (builder, "unread_count");
    json_builder_add_int_value (builder, natter_conversation_item_get_unread_count (item));
    json_builder_set_member_name (builder, "last_seq");
    json_builder_add_int_value (builder, natter_conversation_item_get_last_seq (item));
    json_builder_set_member_name (builder, "last_text");
    json_builder_add_string_value (builder, natter_conversation_item_get_last_message_text (item));
    json_builder_set_member_name (builder, "updated_at");
    json_builder_add_string_value (builder, natter_conversation_item_get_updated_at (item));
    natter_cli_event_end (builder);
  }

  return 0;
}

int
natter_cli_history (NatterCli *cli, int argc, char **argv)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) messages = NULL;
  NatterClient *client;
  guint64 conversation_id;
  int limit = NATTER_HISTORY_LIMIT_DEFAULT;
  GOptionEntry entries[] = {
    { "limit", 0, 0, G_OPTION_ARG_INT, &limit, "How many messages (default 50, at most 200)", "N" },
    { NULL },
  };

  if (!natter_cli_parse_options (entries, "CONVERSATION_ID - print messages", &argc, &argv, &error))
    return natter_cli_fail ("%s", error->message);

  if (argc != 2 ||
      !g_ascii_string_to_unsigned (argv[1], 10, 1, NATTER_MAX_ID, &conversation_id, NULL))
    return natter_cli_fail ("history needs one CONVERSATION_ID");

  if (limit < 1 || limit > NATTER_HISTORY_LIMIT_MAX)
    return natter_cli_fail ("--limit must be 1 to %d", NATTER_HISTORY_LIMIT_MAX);

  if (!natter_cli_sign_in (cli, 0, &error))
    return natter_cli_fail ("%s", error->message);

  client = natter_cli_get_client (cli);
  natter_client_fetch_history_async (client, (gint64) conversation_id, 0, (guint) limit, NULL,
                                     natter_cli_task_done, &result);
  natter_cli_wait_for_task (&result);

  messages = natter_client_fetch_history_finish (client, result, NULL, &error);
  if (messages == NULL)
    return natter_cli_fail ("Cannot fetch the history: %s", error->message);

  for (guint i = 0; i < messages->len; i++) {
    natter_cli_print_message ("message", g_ptr_array_index (messages, i));
    natter_cli_print_attachments (g_ptr_array_index (messages, i));
  }

  return 0;
}

typedef struct {
  char *client_msg_id;
  gboolean done;
  int status;
} SendState;

static void
on_send_acked (NatterClient *client,
               const char *client_msg_id,
               const NatterMessage *message,
               SendState *state)
{
  JsonBuilder *builder;

  if (g_strcmp0 (client_msg_id, state->client_msg_id) != 0)
    return;

  builder = natter_cli_event_begin ("sent");
  json_builder_set_member_name (builder, "client_msg_id");
  json_builder_add_string_value (builder, client_msg_id);
  json_builder_set_member_name (builder, "message_id");
  json_builder_add_int_value (builder, message->message_id);
  json_builder_set_member_name (builder, "conversation_id");
  json_builder_add_int_value (builder, message->conversation_id);
  json_builder_set_member_name (builder, "seq");
  json_builder_add_int_value (builder, message->seq);
  natter_cli_event_end (builder);
  natter_cli_print_attachments (message);

  state->status = 0;
  state->done = TRUE;
}

static void
on_send_failed (NatterClient *client,
                const char *client_msg_id,
                const char *code,
                const char *message,
                SendState *state)
{
  JsonBuilder *builder;

  if (g_strcmp0 (client_msg_id, state->client_msg_id) != 0)
    return;

  builder = natter_cli_event_begin ("failed");
  json_builder_set_member_name (builder, "client_msg_id");
  json_builder_add_string_value (builder, client_msg_id);
  json_builder_set_member_name (builder, "code");
  json_builder_add_string_value (builder, code);
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, message);
  natter_cli_event_end (builder);

  state->status =
    natter_cli_fail ("The server refused the message: %s", message != NULL ? message : code);
  state->done = TRUE;
}

static void
on_send_state (NatterConnection *connection, GParamSpec *pspec, SendState *state)
{
  const GError *error = natter_connection_get_last_error (connection);

  if (natter_connection_get_state (connection) == NATTER_CONNECTION_STATE_SIGNED_OUT ||
      g_error_matches (error, NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_FORBIDDEN)) {
    state->status = natter_cli_fail ("%s (the message stays in the outbox)",
                                     error != NULL ? error->message : "Signed out");
    state->done = TRUE;
  }
}

int
natter_cli_send (NatterCli *cli, int argc, char **argv)
{
  SendState state = { NULL, FALSE, 1 };
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterProfile) peer = NULL;
  g_autofree char *peer_type = NULL;
  g_autofree char *client_msg_id = NULL;
  g_auto (GStrv) file_paths = NULL;
  NatterClient *client;
  NatterConnection *connection;
  JsonBuilder *builder;
  int timeout_s = SEND_TIMEOUT_DEFAULT_S;
  gint64 peer_id;
  gint64 deadline;
  gint64 left_s;
  GOptionEntry entries[] = {
    { "file", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &file_paths,
      "Attach this file (repeat for more, at most 10)", "PATH" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s,
      "Give up after S seconds without the server's ack (default 30)", "S" },
    { NULL },
  };

  if (!natter_cli_parse_options (entries, "TYPE:ID [TEXT] - send a message", &argc, &argv, &error))
    return natter_cli_fail ("%s", error->message);

  if (argc != 3 && !(argc == 2 && file_paths != NULL))
    return natter_cli_fail ("send needs TYPE:ID and TEXT, or TYPE:ID and --file PATH");

  if (file_paths != NULL && g_strv_length (file_paths) > NATTER_MAX_MESSAGE_ATTACHMENTS)
    return natter_cli_fail ("send takes at most %d --file", NATTER_MAX_MESSAGE_ATTACHMENTS);

  if (timeout_s < 1)
    return natter_cli_fail ("--timeout must be at least 1");

  if (!natter_cli_parse_profile (argv[1], &peer_id, &peer_type, &error))
    return natter_cli_fail ("%s", error->message);

  /* Before signing in: a file that is not there is the user's mistake. */
  for (guint i = 0; file_paths != NULL && file_paths[i] != NULL; i++) {
    if (!g_file_test (file_paths[i], G_FILE_TEST_IS_REGULAR))
      return natter_cli_fail ("%s is not a file", file_paths[i]);
  }

  deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;

  if (!natter_cli_sign_in (cli, (guint) timeout_s, &error))
    return natter_cli_fail ("%s", error->message);

  client = natter_cli_get_client (cli);
  connection = natter_client_get_connection (client);
  peer = natter_profile_new (peer_id, peer_type, NULL, NULL);

  g_signal_connect (client, "message-sent", G_CALLBACK (on_send_acked), &state);
  g_signal_connect (client, "message-failed", G_CALLBACK (on_send_failed), &state);
  g_signal_connect (connection, "notify::state", G_CALLBACK (on_send_state), &state);

  if (file_paths != NULL) {
    g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_object_unref);

    for (guint i = 0; file_paths[i] != NULL; i++)
      g_ptr_array_add (files, g_file_new_for_commandline_arg (file_paths[i]));
    client_msg_id = natter_client_send_message_with_attachments (
      client, 0, peer, argc == 3 ? argv[2] : NULL, files, &error);
  } else {
    client_msg_id = natter_client_send_message_to_profile (client, peer, argv[2], &error);
  }
  if (client_msg_id == NULL) {
    g_signal_handlers_disconnect_by_data (client, &state);
    g_signal_handlers_disconnect_by_data (connection, &state);
    return natter_cli_fail ("%s", error->message);
  }
  state.client_msg_id = client_msg_id;

  builder = natter_cli_event_begin ("queued");
  json_builder_set_member_name (builder, "client_msg_id");
  json_builder_add_string_value (builder, client_msg_id);
  natter_cli_event_end (builder);

  natter_connection_start (connection);

  left_s = (deadline - g_get_monotonic_time () + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
  if (!natter_cli_wait (&state.done, (guint) MAX (left_s, 1)))
    state.status = natter_cli_fail ("No ack from the server within %d s; the message stays in "
                                    "the outbox and goes out with the next natter-cli run",
                                    timeout_s);

  g_signal_handlers_disconnect_by_data (client, &state);
  g_signal_handlers_disconnect_by_data (connection, &state);

  return state.status;
}

#define DOWNLOAD_TIMEOUT_DEFAULT_S 60
#define DOWNLOAD_RETRY_MS 500

static void
on_retry_wait_done (gpointer user_data)
{
  gboolean *waited = user_data;

  *waited = TRUE;
}

int
natter_cli_download (NatterCli *cli, int argc, char **argv)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *output = NULL;
  g_autofree char *cached = NULL;
  g_autoptr (GFile) source = NULL;
  g_autoptr (GFile) destination = NULL;
  g_autoptr (GFileInfo) info = NULL;
  NatterClient *client;
  JsonBuilder *builder;
  guint64 attachment_id;
  int timeout_s = DOWNLOAD_TIMEOUT_DEFAULT_S;
  gint64 deadline;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "Where to save the file", "PATH" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s,
      "Keep trying across cut links for S seconds (default 60)", "S" },
    { NULL },
  };

  if (!natter_cli_parse_options (entries, "ATTACHMENT_ID - save an attachment's file", &argc, &argv,
                                 &error))
    return natter_cli_fail ("%s", error->message);

  if (argc != 2 ||
      !g_ascii_string_to_unsigned (argv[1], 10, 1, NATTER_MAX_ID, &attachment_id, NULL))
    return natter_cli_fail ("download needs one ATTACHMENT_ID");
  if (output == NULL)
    return natter_cli_fail ("download needs --output PATH");
  if (timeout_s < 1)
    return natter_cli_fail ("--timeout must be at least 1");

  if (!natter_cli_sign_in (cli, 0, &error))
    return natter_cli_fail ("%s", error->message);

  client = natter_cli_get_client (cli);
  deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;

  /* A cut link starts the download again; what the server refused, or
   * bytes that do not match, do not get better by asking again. */
  for (;;) {
    natter_client_download_attachment_async (client, (gint64) attachment_id, NULL,
                                             natter_cli_task_done, &result);
    natter_cli_wait_for_task (&result);
    cached = natter_client_download_attachment_finish (client, result, &error);
    g_clear_object (&result);
    if (cached != NULL || error->domain == NATTER_ACCOUNT_ERROR ||
        g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA) ||
        g_get_monotonic_time () + DOWNLOAD_RETRY_MS * 1000 > deadline)
      break;

    g_debug ("Download interrupted (%s); again", error->message);
    g_clear_error (&error);
    {
      gboolean waited = FALSE;

      g_timeout_add_once (DOWNLOAD_RETRY_MS, on_retry_wait_done, &waited);
      while (!waited)
        g_main_context_iteration (NULL, TRUE);
    }
  }

  if (cached == NULL)
    return natter_cli_fail ("Cannot download attachment %" G_GUINT64_FORMAT ": %s", attachment_id,
                            error->message);

  /* The verified copy stays in the cache; the user gets their own. */
  source = g_file_new_for_path (cached);
  destination = g_file_new_for_commandline_arg (output);
  if (!g_file_copy (source, destination, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &error))
    return natter_cli_fail ("Cannot write %s: %s", output, error->message);

  info = g_file_query_info (destination, G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE,
                            NULL, NULL);

  builder = natter_cli_event_begin ("downloaded");
  json_builder_set_member_name (builder, "attachment_id");
  json_builder_add_int_value (builder, (gint64) attachment_id);
  json_builder_set_member_name (builder, "path");
  json_builder_add_string_value (builder, output);
  json_builder_set_member_name (builder, "size");
  json_builder_add_int_value (builder, info != NULL ? g_file_info_get_size (info) : 0);
  natter_cli_event_end (builder);

  return 0;
}

typedef struct {
  guint count;
  guint received;
  gboolean done;
  int status;
  char *said; /* the last error already on stderr */
} ListenState;

static void
on_listen_message (NatterClient *client, const NatterMessage *message, ListenState *state)
{
  natter_cli_print_message ("message", message);
  natter_cli_print_attachments (message);

  state->received++;
  if (state->count > 0 && state->received >= state->count) {
    state->status = 0;
    state->done = TRUE;
  }
}

static void
on_listen_read_receipt (NatterClient *client,
                        gint64 conversation_id,
                        const NatterProfile *profile,
                        gint64 up_to_seq,
                        ListenState *state)
{
  JsonBuilder *builder = natter_cli_event_begin ("read");
  g_autofree char *name = natter_cli_format_profile (profile);

  json_builder_set_member_name (builder, "conversation_id");
  json_builder_add_int_value (builder, conversation_id);
  json_builder_set_member_name (builder, "profile");
  json_builder_add_string_value (builder, name);
  json_builder_set_member_name (builder, "up_to_seq");
  json_builder_add_int_value (builder, up_to_seq);
  natter_cli_event_end (builder);
}

static void
on_listen_missed_call (NatterClient *client, const NatterCallLog *call, ListenState *state)
{
  JsonBuilder *builder = natter_cli_event_begin ("missed_call");

  json_builder_set_member_name (builder, "call_log_id");
  json_builder_add_int_value (builder, call->call_log_id);
  if (call->caller != NULL) {
    g_autofree char *name = natter_cli_format_profile (call->caller);

    json_builder_set_member_name (builder, "from");
    json_builder_add_string_value (builder, name);
  }
  json_builder_set_member_name (builder, "call_type");
  json_builder_add_string_value (builder, call->call_type);
  json_builder_set_member_name (builder, "started_at");
  json_builder_add_string_value (builder, call->started_at);
  natter_cli_event_end (builder);
}

static void
on_listen_typing (NatterConnection *connection, const NatterFrame *frame, ListenState *state)
{
  JsonBuilder *builder = natter_cli_event_begin ("typing");
  g_autoptr (NatterProfile) from = NULL;
  g_autofree char *name = NULL;

  json_builder_set_member_name (builder, "conversation_id");
  json_builder_add_int_value (builder, frame->conversation_id);
  if (frame->from_profile_type != NULL) {
    from = natter_profile_new (frame->from_profile_id, frame->from_profile_type, NULL, NULL);
    name = natter_cli_format_profile (from);
    json_builder_set_member_name (builder, "from");
    json_builder_add_string_value (builder, name);
  }
  json_builder_set_member_name (builder, "active");
  json_builder_add_boolean_value (builder, frame->active);
  natter_cli_event_end (builder);
}

static void
on_listen_presence (NatterConnection *connection, const NatterFrame *frame, ListenState *state)
{
  JsonBuilder *builder;
  g_autofree char *name = NULL;

  if (frame->profile == NULL)
    return;

  builder = natter_cli_event_begin ("presence");
  name = natter_cli_format_profile (frame->profile);
  json_builder_set_member_name (builder, "profile");
  json_builder_add_string_value (builder, name);
  json_builder_set_member_name (builder, "online");
  json_builder_add_boolean_value (builder, frame->online);
  if (frame->last_seen != NULL) {
    json_builder_set_member_name (builder, "last_seen");
    json_builder_add_string_value (builder, frame->last_seen);
  }
  natter_cli_event_end (builder);
}

static void
on_listen_state (NatterConnection *connection, GParamSpec *pspec, ListenState *state)
{
  NatterConnectionState connection_state = natter_connection_get_state (connection);
  const GError *error = natter_connection_get_last_error (connection);
  g_autoptr (GEnumClass) enum_class = g_type_class_ref (NATTER_TYPE_CONNECTION_STATE);
  GEnumValue *value = g_enum_get_value (enum_class, connection_state);
  JsonBuilder *builder = natter_cli_event_begin ("state");

  json_builder_set_member_name (builder, "state");
  json_builder_add_string_value (builder, value != NULL ? value->value_nick : "unknown");
  if (error != NULL && connection_state != NATTER_CONNECTION_STATE_CONNECTED) {
    json_builder_set_member_name (builder, "error");
    json_builder_add_string_value (builder, error->message);
  }
  natter_cli_event_end (builder);

  if (connection_state == NATTER_CONNECTION_STATE_SIGNED_OUT ||
      (connection_state == NATTER_CONNECTION_STATE_DISCONNECTED && error != NULL)) {
    if (error != NULL && g_strcmp0 (error->message, state->said) == 0)
      state->status = 1;
    else
      state->status = natter_cli_fail ("%s", error != NULL ? error->message : "Signed out");
    state->done = TRUE;
  }
}

/* A frame the server should never have sent does not end the link, and
 * no state change shows it: say so on stderr. */
static void
on_listen_error (NatterConnection *connection, GParamSpec *pspec, ListenState *state)
{
  const GError *error = natter_connection_get_last_error (connection);

  if (!g_error_matches (error, NATTER_CONNECTION_ERROR, NATTER_CONNECTION_ERROR_PROTOCOL))
    return;

  natter_cli_fail ("%s", error->message);
  g_free (state->said);
  state->said = g_strdup (error->message);
}

static gboolean
on_listen_signal (gpointer user_data)
{
  ListenState *state = user_data;

  state->status = 0;
  state->done = TRUE;

  return G_SOURCE_CONTINUE;
}

int
natter_cli_listen (NatterCli *cli, int argc, char **argv)
{
  ListenState state = { 0, 0, FALSE, 0, NULL };
  g_autoptr (GError) error = NULL;
  NatterClient *client;
  NatterConnection *connection;
  int count = 0;
  int timeout_s = 0;
  guint sigint_id;
  guint sigterm_id;
  GOptionEntry entries[] = {
    { "count", 0, 0, G_OPTION_ARG_INT, &count, "Exit after N messages", "N" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s,
      "Exit after S seconds (an error if --count was not reached)", "S" },
    { NULL },
  };

  if (!natter_cli_parse_options (entries, "- print every event", &argc, &argv, &error))
    return natter_cli_fail ("%s", error->message);

  if (argc != 1 || count < 0 || timeout_s < 0)
    return natter_cli_fail ("listen takes only --count N and --timeout S");

  state.count = (guint) count;

  /* Listening is waiting: an unreachable server is waited for too. */
  if (!natter_cli_sign_in (cli, timeout_s > 0 ? (guint) timeout_s : G_MAXUINT / 2, &error))
    return natter_cli_fail ("%s", error->message);

  client = natter_cli_get_client (cli);
  connection = natter_client_get_connection (client);

  g_signal_connect (client, "message-received", G_CALLBACK (on_listen_message), &state);
  g_signal_connect (client, "read-receipt", G_CALLBACK (on_listen_read_receipt), &state);
  g_signal_connect (client, "missed-call", G_CALLBACK (on_listen_missed_call), &state);
  g_signal_connect (connection, "notify::state", G_CALLBACK (on_listen_state), &state);
  g_signal_connect (connection, "notify::last-error", G_CALLBACK (on_listen_error), &state);
  g_signal_connect (connection, "frame::typing", G_CALLBACK (on_listen_typing), &state);
  g_signal_connect (connection, "frame::presence", G_CALLBACK (on_listen_presence), &state);

  sigint_id = g_unix_signal_add (SIGINT, on_listen_signal, &state);
  sigterm_id = g_unix_signal_add (SIGTERM, on_listen_signal, &state);

  natter_connection_start (connection);
  on_listen_state (connection, NULL, &state);

  if (!natter_cli_wait (&state.done, (guint) timeout_s)) {
    if (state.count > 0)
      state.status =
        natter_cli_fail ("Timed out after %u of %u messages", state.received, state.count);
    else
      state.status = 0;
  }

  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_signal_handlers_disconnect_by_data (client, &state);
  g_signal_handlers_disconnect_by_data (connection, &state);

  g_free (state.said);

  return state.status;
}
