/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "natter-client.h"

G_BEGIN_DECLS

/* What every command gets: the global options and the client, created on
 * first use. */
typedef struct {
  char *server_url; /* --server; NULL: the last one used */
  char *profile;    /* --profile TYPE:ID; NULL: the remembered one */
  NatterClient *client;
} NatterCli;

/* One command: `natter-cli [global options] NAME [its arguments]`.
 * @run gets argv with the command name as argv[0] and returns the exit
 * status. */
typedef struct {
  const char *name;
  const char *synopsis;
  const char *summary;
  int (*run) (NatterCli *cli, int argc, char **argv);
} NatterCliCommand;

int natter_cli_main (int argc, char **argv);

NatterClient *natter_cli_get_client (NatterCli *cli);
gboolean natter_cli_sign_in (NatterCli *cli, guint timeout_s, GError **error);
gboolean natter_cli_wait (gboolean *done, guint timeout_s);
void natter_cli_task_done (GObject *source, GAsyncResult *result, gpointer user_data);
void natter_cli_wait_for_task (GAsyncResult **result);
char *natter_cli_read_password (GError **error);
gboolean
natter_cli_parse_profile (const char *text, gint64 *out_id, char **out_type, GError **error);
char *natter_cli_format_profile (const NatterProfile *profile);
gboolean natter_cli_parse_options (
  GOptionEntry *entries, const char *parameter_string, int *argc, char ***argv, GError **error);

JsonBuilder *natter_cli_event_begin (const char *event);
void natter_cli_event_end (JsonBuilder *builder);
void natter_cli_add_message (JsonBuilder *builder, const NatterMessage *message);
void natter_cli_print_message (const char *event, const NatterMessage *message);
void natter_cli_print_attachments (const NatterMessage *message);
int natter_cli_fail (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* The commands, one file per area. */
int natter_cli_register (NatterCli *cli, int argc, char **argv);
int natter_cli_login (NatterCli *cli, int argc, char **argv);
int natter_cli_logout (NatterCli *cli, int argc, char **argv);
int natter_cli_whoami (NatterCli *cli, int argc, char **argv);
int natter_cli_conversations (NatterCli *cli, int argc, char **argv);
int natter_cli_history (NatterCli *cli, int argc, char **argv);
int natter_cli_send (NatterCli *cli, int argc, char **argv);
int natter_cli_listen (NatterCli *cli, int argc, char **argv);
int natter_cli_download (NatterCli *cli, int argc, char **argv);
int natter_cli_call (NatterCli *cli, int argc, char **argv);
int natter_cli_answer (NatterCli *cli, int argc, char **argv);
int natter_cli_block (NatterCli *cli, int argc, char **argv);
int natter_cli_unblock (NatterCli *cli, int argc, char **argv);
int natter_cli_blocked (NatterCli *cli, int argc, char **argv);

G_END_DECLS
