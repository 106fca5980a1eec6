/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-config"

/* The WebSocket hub's limits (PROTOCOL.md "Limits"): slow readers, replay,
 * calls and typing. A group of its own, so its options read as the main
 * ones (--max-outgoing-bytes) and stay apart from the HTTP side's. */

#include "natter-server-config.h"

typedef struct {
  NatterServerConfig *config;
  char *max_outgoing_bytes;
  char *sync_replay_max_bytes;
  char *max_ringing_calls;
  char *call_invitations_per_min;
  char *max_call_candidates;
  char *typing_rate;
} HubOptions;

static void
hub_options_free (gpointer data)
{
  HubOptions *options = data;

  g_free (options->max_outgoing_bytes);
  g_free (options->sync_replay_max_bytes);
  g_free (options->max_ringing_calls);
  g_free (options->call_invitations_per_min);
  g_free (options->max_call_candidates);
  g_free (options->typing_rate);
  g_free (options);
}

static gboolean
parse_count (const char *option, const char *value, guint64 max, guint64 *out, GError **error)
{
  if (value == NULL)
    return TRUE;

  if (!g_ascii_string_to_unsigned (value, 10, 1, max, out, NULL)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "%s: “%s” is not a whole number from 1 to %" G_GUINT64_FORMAT, option, value, max);
    return FALSE;
  }

  return TRUE;
}

static gboolean
parse_rate (const char *option, const char *value, double *out, GError **error)
{
  char *end = NULL;
  double rate;

  if (value == NULL)
    return TRUE;

  rate = g_ascii_strtod (value, &end);
  if (end == value || *end != '\0' || !(rate > 0) || rate > 1e6) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "%s: “%s” is not a positive number", option, value);
    return FALSE;
  }
  *out = rate;

  return TRUE;
}

static gboolean
on_hub_options_parsed (GOptionContext *context,
                       GOptionGroup *group,
                       gpointer user_data,
                       GError **error)
{
  HubOptions *options = user_data;
  NatterServerConfig *config = options->config;
  guint64 value = 0;

  if (!parse_count ("--max-outgoing-bytes", options->max_outgoing_bytes, G_MAXINT32, &value, error))
    return FALSE;
  if (options->max_outgoing_bytes != NULL)
    config->max_outgoing_bytes = value;
  if (!parse_count ("--sync-replay-max-bytes", options->sync_replay_max_bytes, G_MAXINT32, &value,
                    error))
    return FALSE;
  if (options->sync_replay_max_bytes != NULL)
    config->sync_replay_max_bytes = value;
  if (!parse_count ("--max-ringing-calls", options->max_ringing_calls, 1000, &value, error))
    return FALSE;
  if (options->max_ringing_calls != NULL)
    config->max_ringing_calls = value;
  if (!parse_count ("--call-invitations-per-minute", options->call_invitations_per_min, 100000,
                    &value, error))
    return FALSE;
  if (options->call_invitations_per_min != NULL)
    config->call_invitations_per_min = value;
  if (!parse_count ("--max-call-candidates", options->max_call_candidates, 100000, &value, error))
    return FALSE;
  if (options->max_call_candidates != NULL)
    config->max_call_candidates = value;

  return parse_rate ("--typing-rate", options->typing_rate, &config->typing_rate_per_s, error);
}

/**
 * natter_server_config_hub_option_group:
 * @config: filled in once the command line is parsed; must outlive the group
 *
 * Returns: (transfer full): the hub's options
 */
GOptionGroup *
natter_server_config_hub_option_group (NatterServerConfig *config)
{
  HubOptions *options = g_new0 (HubOptions, 1);
  GOptionGroup *group;
  const GOptionEntry entries[] = {
    { "max-outgoing-bytes", 0, 0, G_OPTION_ARG_STRING, &options->max_outgoing_bytes,
      "Bytes that may wait for a WebSocket that does not read before it is closed with 1008 "
      "(default 4194304)",
      "N" },
    { "sync-replay-max-bytes", 0, 0, G_OPTION_ARG_STRING, &options->sync_replay_max_bytes,
      "Bytes of events replayed at most on one sync (default 4194304)", "N" },
    { "max-ringing-calls", 0, 0, G_OPTION_ARG_STRING, &options->max_ringing_calls,
      "Outgoing calls one profile may have ringing at once (default 2)", "N" },
    { "call-invitations-per-minute", 0, 0, G_OPTION_ARG_STRING, &options->call_invitations_per_min,
      "Call invitations per minute per profile (default 10)", "N" },
    { "max-call-candidates", 0, 0, G_OPTION_ARG_STRING, &options->max_call_candidates,
      "ICE candidates kept per ringing call for devices that join late (default 64)", "N" },
    { "typing-rate", 0, 0, G_OPTION_ARG_STRING, &options->typing_rate,
      "Typing frames relayed per second per connection and conversation (default 2)", "N" },
    { NULL }
  };

  g_return_val_if_fail (config != NULL, NULL);

  options->config = config;
  group = g_option_group_new ("hub", "WebSocket hub limits:", "Show the WebSocket hub's limits",
                              options, hub_options_free);
  g_option_group_add_entries (group, entries);
  g_option_group_set_parse_hooks (group, NULL, on_hub_options_parsed);

  return group;
}
