/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-config"

/* The attachment limits beside --max-attachment-size: how much one user
 * may keep, and how long an upload may wait for its chat_message. */

#include "natter-server-config.h"

typedef struct {
  NatterServerConfig *config;
  char *folder;
  char *quota;
  char *unsent_lifetime;
} AttachmentOptions;

static void
attachment_options_free (gpointer data)
{
  AttachmentOptions *options = data;

  g_free (options->folder);
  g_free (options->quota);
  g_free (options->unsent_lifetime);
  g_free (options);
}

static gboolean
parse_whole (const char *option, const char *value, guint64 max, guint64 *out, GError **error)
{
  if (!g_ascii_string_to_unsigned (value, 10, 1, max, out, NULL)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "%s: “%s” is not a whole number from 1 to %" G_GUINT64_FORMAT, option, value, max);
    return FALSE;
  }

  return TRUE;
}

static gboolean
on_attachment_options_parsed (GOptionContext *context,
                              GOptionGroup *group,
                              gpointer user_data,
                              GError **error)
{
  AttachmentOptions *options = user_data;
  guint64 value = 0;

  if (options->folder != NULL) {
    if (*options->folder == '\0') {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--attachments-dir: the folder is empty");
      return FALSE;
    }
    g_free (options->config->attachments_dir);
    options->config->attachments_dir = g_strdup (options->folder);
  }

  if (options->quota != NULL) {
    if (!parse_whole ("--attachment-quota", options->quota, G_MAXINT64, &value, error))
      return FALSE;
    options->config->attachment_quota_bytes = value;
  }
  if (options->unsent_lifetime != NULL) {
    if (!parse_whole ("--attachment-unsent-lifetime", options->unsent_lifetime, G_MAXINT32, &value,
                      error))
      return FALSE;
    options->config->attachment_unsent_lifetime_s = (guint) value;
  }

  return TRUE;
}

/**
 * natter_server_config_attachments_option_group:
 * @config: filled in once the command line is parsed; must outlive the group
 *
 * Returns: (transfer full): the attachment options
 */
GOptionGroup *
natter_server_config_attachments_option_group (NatterServerConfig *config)
{
  AttachmentOptions *options = g_new0 (AttachmentOptions, 1);
  GOptionGroup *group;
  const GOptionEntry entries[] = {
    { "attachments-dir", 0, 0, G_OPTION_ARG_FILENAME, &options->folder,
      "Folder of the attachments' files (default: “attachments” beside an SQLite database, "
      "$XDG_DATA_HOME/natter-server/attachments with PostgreSQL; shared by every node)",
      "PATH" },
    { "attachment-quota", 0, 0, G_OPTION_ARG_STRING, &options->quota,
      "Bytes of attachments one user may keep on the server (default 1073741824)", "BYTES" },
    { "attachment-unsent-lifetime", 0, 0, G_OPTION_ARG_STRING, &options->unsent_lifetime,
      "Seconds an uploaded attachment may wait to be sent before it is removed (default 86400)",
      "SECONDS" },
    { NULL }
  };

  g_return_val_if_fail (config != NULL, NULL);

  options->config = config;
  group = g_option_group_new ("attachments", "Attachment limits:", "Show the attachment limits",
                              options, attachment_options_free);
  g_option_group_add_entries (group, entries);
  g_option_group_set_parse_hooks (group, NULL, on_attachment_options_parsed);

  return group;
}
