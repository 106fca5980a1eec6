/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-config"

#include "config.h"

#include <gio/gio.h>

#include <string.h>

#include "natter-protocol.h"
#include "natter-server-config.h"

static const char *const default_profile_types[] = { "tutor", "student", "parent", "advertiser",
                                                     NULL };

/**
 * natter_server_config_new:
 *
 * Returns: (transfer full): a configuration holding PROTOCOL.md's defaults
 */
NatterServerConfig *
natter_server_config_new (void)
{
  NatterServerConfig *config = g_new0 (NatterServerConfig, 1);

  config->listen_address = g_strdup ("127.0.0.1");
  config->port = 8000;
  config->db_path = g_build_filename (g_get_user_data_dir (), "natter-server", "natter.db", NULL);
  config->ring_timeout_s = NATTER_RING_TIMEOUT_S;
  config->caller_grace_s = NATTER_CALLER_GRACE_S;
  config->allowed_origins = g_new0 (char *, 1);
  config->registration_enabled = TRUE;
  config->profile_types = g_strdupv ((GStrv) default_profile_types);
  config->stun_uris = g_new0 (char *, 1);
  config->turn_uris = g_new0 (char *, 1);
  config->turn_ttl_s = 86400;

  config->max_frame_bytes = NATTER_MAX_FRAME_BYTES;
  config->max_chat_chars = NATTER_MAX_CHAT_TEXT_CHARS;
  config->chat_rate_per_s = NATTER_CHAT_RATE_PER_S;
  config->chat_burst = NATTER_CHAT_BURST;
  config->frame_rate_per_s = NATTER_FRAME_RATE_PER_S;
  config->frame_burst = NATTER_FRAME_BURST;
  config->max_connections_per_user = NATTER_MAX_CONNECTIONS_PER_USER;
  config->sync_replay_max = NATTER_SYNC_REPLAY_MAX;
  config->heartbeat_s = NATTER_HEARTBEAT_S;
  config->loop_interval_us = 1000;
  config->dead_after_s = NATTER_DEAD_AFTER_S;
  config->token_lifetime_s = NATTER_TOKEN_LIFETIME_S;
  config->login_rate_per_min = 10;
  config->login_burst = 10;
  config->max_request_body_bytes = NATTER_MAX_HTTP_BODY_BYTES;
  config->max_avatar_bytes = NATTER_MAX_AVATAR_BYTES;
  config->max_attachment_bytes = 25 * 1024 * 1024;
  config->attachment_quota_bytes = G_GUINT64_CONSTANT (1024) * 1024 * 1024;
  config->attachment_unsent_lifetime_s = 24 * 3600;
  config->header_timeout_s = 10;
  config->idle_timeout_s = 60;
  config->max_connections_per_address = 64;
  config->trusted_proxies = g_new0 (char *, 1);
  config->max_hashes_waiting = 64;
  config->registration_rate_per_hour = 5;
  config->registration_burst = 5;

  return config;
}

void
natter_server_config_free (NatterServerConfig *config)
{
  if (config == NULL)
    return;

  g_free (config->listen_address);
  g_free (config->db_path);
  g_free (config->attachments_dir);
  g_strfreev (config->allowed_origins);
  g_strfreev (config->profile_types);
  g_free (config->tls_cert_file);
  g_free (config->tls_key_file);
  g_strfreev (config->stun_uris);
  g_strfreev (config->turn_uris);
  g_free (config->turn_secret);
  g_strfreev (config->trusted_proxies);
  g_free (config->metrics_listen);
  g_free (config->redis_uri);
  g_free (config->node_id);
  g_free (config);
}

/**
 * natter_server_config_origin_allowed:
 * @config: the configuration
 * @origin: (nullable): the request's Origin header
 *
 * A request without Origin comes from a native client and is allowed; a
 * browser's Origin must be on the --allowed-origin list ("*" allows any).
 *
 * Returns: whether a request with that Origin may use the API
 */
gboolean
natter_server_config_origin_allowed (const NatterServerConfig *config, const char *origin)
{
  g_return_val_if_fail (config != NULL, FALSE);

  if (origin == NULL)
    return TRUE;

  for (guint i = 0; config->allowed_origins != NULL && config->allowed_origins[i] != NULL; i++) {
    const char *allowed = config->allowed_origins[i];

    if (g_str_equal (allowed, "*") || g_ascii_strcasecmp (allowed, origin) == 0)
      return TRUE;
  }

  return FALSE;
}

static gboolean
parse_seconds (const char *option, const char *value, guint min, guint *out, GError **error)
{
  guint64 parsed;

  if (!g_ascii_string_to_unsigned (value, 10, min, G_MAXUINT32, &parsed, NULL)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "%s: expected a whole number of at least %u, got “%s”", option, min, value);
    return FALSE;
  }
  *out = (guint) parsed;
  return TRUE;
}

static gboolean
parse_positive_double (const char *option, const char *value, double *out, GError **error)
{
  char *end = NULL;
  double parsed = g_ascii_strtod (value, &end);

  if (end == value || *end != '\0' || !(parsed > 0) || parsed > 1e9) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "%s: expected a positive number, got “%s”", option, value);
    return FALSE;
  }
  *out = parsed;
  return TRUE;
}

/* What an option takes and where it goes in NatterServerConfig. */
typedef enum {
  OPTION_FLAG,     /* gboolean */
  OPTION_PORT,     /* 0..65535 into a guint */
  OPTION_TEXT,     /* char * */
  OPTION_PATH,     /* char *, a file name */
  OPTION_LIST,     /* GStrv, repeatable; replaces the default list */
  OPTION_UINT,     /* a whole number of at least min, into a guint */
  OPTION_SIZE,     /* the same, into a gsize */
  OPTION_INT64,    /* the same, into a gint64 */
  OPTION_POSITIVE, /* a positive number, into a double */
} OptionKind;

typedef struct {
  const char *name;
  OptionKind kind;
  gssize offset; /* in NatterServerConfig; -1: only validate_config () reads it */
  guint min;     /* OPTION_UINT, _SIZE, _INT64 */
  const char *description;
  const char *arg_description;
} OptionSpec;

#define AT(member) ((gssize) G_STRUCT_OFFSET (NatterServerConfig, member))

/* In the order --help lists them. */
static const OptionSpec option_specs[] = {
  { "listen", OPTION_TEXT, AT (listen_address), 0,
    "Address to listen on (default 127.0.0.1; 0.0.0.0 or :: for every interface)", "ADDR" },
  { "port", OPTION_PORT, AT (port), 0, "TCP port (default 8000; 0 picks a free port)", "N" },
  { "db", OPTION_PATH, AT (db_path), 0,
    "SQLite database file (default $XDG_DATA_HOME/natter-server/natter.db), or PostgreSQL: "
    "postgresql://USER@HOST:PORT/NAME",
    "PATH|URI" },
  { "ring-timeout", OPTION_UINT, AT (ring_timeout_s), 1,
    "Seconds an unanswered call rings before it is missed (default 45)", "S" },
  { "allowed-origin", OPTION_LIST, AT (allowed_origins), 0,
    "Browser Origin allowed to use the API and the WebSocket (repeatable; * allows any)",
    "ORIGIN" },
  { "no-registration", OPTION_FLAG, -1, 0,
    "Refuse POST /api/register (accounts only through adduser)", NULL },
  { "profile-types", OPTION_TEXT, -1, 0,
    "Comma-separated profile types users may hold (default tutor,student,parent,advertiser)",
    "LIST" },
  { "tls-cert", OPTION_PATH, AT (tls_cert_file), 0,
    "PEM certificate: serve https and wss (needs --tls-key)", "FILE" },
  { "tls-key", OPTION_PATH, AT (tls_key_file), 0, "PEM private key of --tls-cert", "FILE" },
  { "stun-uri", OPTION_LIST, AT (stun_uris), 0,
    "STUN server handed to clients by /api/ice-servers (repeatable)", "URI" },
  { "turn-uri", OPTION_LIST, AT (turn_uris), 0,
    "TURN server handed to clients with ephemeral credentials (repeatable; needs "
    "--turn-secret)",
    "URI" },
  { "turn-secret", OPTION_TEXT, AT (turn_secret), 0,
    "Shared secret of the TURN server's REST API credentials", "S" },
  { "turn-ttl", OPTION_UINT, AT (turn_ttl_s), 1,
    "Seconds a TURN credential stays valid (default 86400)", "S" },
  { "demo", OPTION_FLAG, AT (demo), 0,
    "Create demo accounts in an empty database and print them on stderr", NULL },
  { "caller-grace", OPTION_UINT, AT (caller_grace_s), 1,
    "Seconds a ringing call survives without a caller connection (default 10)", "S" },
  { "heartbeat", OPTION_UINT, AT (heartbeat_s), 1,
    "Seconds of WebSocket silence before a ping (default 30)", "S" },
  { "dead-after", OPTION_UINT, AT (dead_after_s), 1,
    "Seconds without a pong (the answer to a ping) before a WebSocket is closed (default 90)",
    "S" },
  { "token-lifetime", OPTION_INT64, AT (token_lifetime_s), 1,
    "Seconds a login token stays valid (default 2592000, 30 days)", "S" },
  { "chat-rate", OPTION_POSITIVE, AT (chat_rate_per_s), 0,
    "Chat messages per second per connection (default 10)", "N" },
  { "chat-burst", OPTION_POSITIVE, AT (chat_burst), 0,
    "Chat message burst per connection (default 30)", "N" },
  { "frame-rate", OPTION_POSITIVE, AT (frame_rate_per_s), 0,
    "Frames per second per connection (default 200)", "N" },
  { "frame-burst", OPTION_POSITIVE, AT (frame_burst), 0, "Frame burst per connection (default 400)",
    "N" },
  { "max-connections-per-user", OPTION_UINT, AT (max_connections_per_user), 1,
    "WebSocket connections one user may hold (default 16)", "N" },
  { "sync-replay-max", OPTION_UINT, AT (sync_replay_max), 1,
    "Events replayed at most on sync (default 1000)", "N" },
  { "login-rate", OPTION_POSITIVE, AT (login_rate_per_min), 0,
    "Failed logins per minute per client address (default 10)", "N" },
  { "login-burst", OPTION_POSITIVE, AT (login_burst), 0,
    "Failed login burst per client address (default 10)", "N" },
  { "max-request-body", OPTION_SIZE, AT (max_request_body_bytes), 1,
    "Bytes an API request body may hold (default 65536)", "BYTES" },
  { "max-avatar-size", OPTION_SIZE, AT (max_avatar_bytes), 1,
    "Bytes an avatar upload may hold (default 1048576)", "BYTES" },
  { "max-attachment-size", OPTION_SIZE, AT (max_attachment_bytes), 1,
    "Bytes an attachment upload may hold (default 26214400)", "BYTES" },
  { "header-timeout", OPTION_UINT, AT (header_timeout_s), 1,
    "Seconds a client has to send a request's headers (default 10)", "S" },
  { "idle-timeout", OPTION_UINT, AT (idle_timeout_s), 1,
    "Seconds an idle keep-alive HTTP connection stays open (default 60)", "S" },
  { "max-connections-per-address", OPTION_UINT, AT (max_connections_per_address), 1,
    "Open connections one client address may hold (default 64; trusted proxies are exempt)", "N" },
  { "trusted-proxy", OPTION_LIST, AT (trusted_proxies), 0,
    "Reverse proxy whose X-Forwarded-For names the client address (repeatable)", "ADDR" },
  { "max-hashes-waiting", OPTION_UINT, AT (max_hashes_waiting), 1,
    "Password hashes that may wait for a thread before logins get 503 (default 64)", "N" },
  { "registration-rate", OPTION_POSITIVE, AT (registration_rate_per_hour), 0,
    "Registrations per hour per client address (default 5)", "N" },
  { "registration-burst", OPTION_POSITIVE, AT (registration_burst), 0,
    "Registration burst per client address (default 5)", "N" },
  { "metrics-listen", OPTION_TEXT, AT (metrics_listen), 0,
    "Serve /metrics on this separate ADDR:PORT only (default: not served)", "ADDR:PORT" },
  { "loop-interval", OPTION_UINT, AT (loop_interval_us), 0,
    "Microseconds between two main-loop wake-ups under load, so each serves many sockets "
    "(default 1000; 0: wake for every event)",
    "US" },
  { "redis", OPTION_TEXT, AT (redis_uri), 0,
    "Redis server that joins several nodes sharing one database (default: none, this node "
    "alone)",
    "redis://HOST:PORT" },
  { "node-id", OPTION_TEXT, AT (node_id), 0,
    "This node's name among the nodes of --redis (default: host name and process id)", "NAME" },
  { "node-dead-after-ms", OPTION_UINT, AT (node_dead_after_ms), 300,
    "Milliseconds after which a node of --redis that stopped saying it lives is dead: another "
    "node makes its ringing calls missed (default 10000)",
    "MS" },
};

#undef AT

/* What the command line said, one per option_specs entry. */
typedef union {
  gboolean flag;
  int number; /* OPTION_PORT; -1 when absent */
  char *text;
  GStrv list;
} OptionValue;

static GOptionEntry *
option_entries_new (OptionValue *values)
{
  GOptionEntry *entries = g_new0 (GOptionEntry, G_N_ELEMENTS (option_specs) + 1);

  for (guint i = 0; i < G_N_ELEMENTS (option_specs); i++) {
    const OptionSpec *spec = &option_specs[i];
    GOptionEntry *entry = &entries[i];

    entry->long_name = spec->name;
    entry->description = spec->description;
    entry->arg_description = spec->arg_description;
    switch (spec->kind) {
      case OPTION_FLAG:
        entry->arg = G_OPTION_ARG_NONE;
        entry->arg_data = &values[i].flag;
        break;
      case OPTION_PORT:
        entry->arg = G_OPTION_ARG_INT;
        values[i].number = -1;
        entry->arg_data = &values[i].number;
        break;
      case OPTION_PATH:
        entry->arg = G_OPTION_ARG_FILENAME;
        entry->arg_data = &values[i].text;
        break;
      case OPTION_LIST:
        entry->arg = G_OPTION_ARG_STRING_ARRAY;
        entry->arg_data = &values[i].list;
        break;
      default:
        entry->arg = G_OPTION_ARG_STRING;
        entry->arg_data = &values[i].text;
        break;
    }
  }

  return entries;
}

static void
option_values_clear (OptionValue *values)
{
  for (guint i = 0; i < G_N_ELEMENTS (option_specs); i++) {
    if (option_specs[i].kind == OPTION_LIST)
      g_strfreev (values[i].list);
    else if (option_specs[i].kind != OPTION_FLAG && option_specs[i].kind != OPTION_PORT)
      g_free (values[i].text);
  }
}

/* Converts one given value into its config member; the option's own
 * syntax only, combinations are validate_config ()'s. */
static gboolean
store_option (NatterServerConfig *config,
              const OptionSpec *spec,
              OptionValue *value,
              GError **error)
{
  gpointer member = G_STRUCT_MEMBER_P (config, spec->offset);
  g_autofree char *option = g_strconcat ("--", spec->name, NULL);
  guint whole = 0;

  switch (spec->kind) {
    case OPTION_FLAG:
      *(gboolean *) member = value->flag;
      return TRUE;

    case OPTION_PORT:
      if (value->number == -1)
        return TRUE;
      if (value->number < 0 || value->number > 65535) {
        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                     "--port: %d is not a port number (0–65535)", value->number);
        return FALSE;
      }
      *(guint *) member = (guint) value->number;
      return TRUE;

    case OPTION_TEXT:
    case OPTION_PATH:
      if (value->text == NULL)
        return TRUE;
      g_free (*(char **) member);
      *(char **) member = g_steal_pointer (&value->text);
      return TRUE;

    case OPTION_LIST:
      if (value->list == NULL)
        return TRUE;
      g_strfreev (*(GStrv *) member);
      *(GStrv *) member = g_steal_pointer (&value->list);
      return TRUE;

    case OPTION_POSITIVE:
      return value->text == NULL ||
             parse_positive_double (option, value->text, (double *) member, error);

    case OPTION_UINT:
    case OPTION_SIZE:
    case OPTION_INT64:
      if (value->text == NULL)
        return TRUE;
      if (!parse_seconds (option, value->text, spec->min, &whole, error))
        return FALSE;
      if (spec->kind == OPTION_UINT)
        *(guint *) member = whole;
      else if (spec->kind == OPTION_SIZE)
        *(gsize *) member = whole;
      else
        *(gint64 *) member = whole;
      return TRUE;

    default:
      g_assert_not_reached ();
  }
}

static gboolean G_GNUC_PRINTF (2, 3) bad_value (GError **error, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, message);
  return FALSE;
}

/* The comma-separated --profile-types, each a valid word. */
static gboolean
store_profile_types (NatterServerConfig *config, const char *profile_types, GError **error)
{
  g_auto (GStrv) words = g_strsplit (profile_types, ",", -1);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  guint n = 0;

  for (guint i = 0; words[i] != NULL; i++) {
    g_autoptr (GError) local_error = NULL;
    g_autofree char *normalized = NULL;

    g_strstrip (words[i]);
    if (words[i][0] == '\0')
      continue;
    normalized = natter_profile_type_normalize (words[i], &local_error);
    if (normalized == NULL)
      return bad_value (error, "--profile-types: “%s” is not a profile type: %s", words[i],
                        local_error->message);
    g_strv_builder_add (builder, normalized);
    n++;
  }
  if (n == 0)
    return bad_value (error, "--profile-types: the list is empty");

  g_strfreev (config->profile_types);
  config->profile_types = g_strv_builder_end (builder);
  return TRUE;
}

/* The one validation step, once every option is stored: values that must
 * be addresses, and the combinations. */
static gboolean
validate_config (NatterServerConfig *config, GError **error)
{
  g_autoptr (GInetAddress) listen = g_inet_address_new_from_string (config->listen_address);

  if (listen == NULL)
    return bad_value (error, "--listen: “%s” is not an IP address", config->listen_address);
  if (config->loop_interval_us > 100000)
    return bad_value (error, "--loop-interval: at most 100000 microseconds, got %u",
                      config->loop_interval_us);
  for (guint i = 0; config->trusted_proxies[i] != NULL; i++) {
    g_autoptr (GInetAddress) address = g_inet_address_new_from_string (config->trusted_proxies[i]);

    if (address == NULL)
      return bad_value (error, "--trusted-proxy: “%s” is not an IP address",
                        config->trusted_proxies[i]);
  }
  if (config->metrics_listen != NULL) {
    g_autoptr (GSocketConnectable) connectable =
      g_network_address_parse (config->metrics_listen, 0, NULL);
    g_autoptr (GInetAddress) address = NULL;

    if (connectable != NULL)
      address = g_inet_address_new_from_string (
        g_network_address_get_hostname (G_NETWORK_ADDRESS (connectable)));
    if (address == NULL || strchr (config->metrics_listen, ':') == NULL)
      return bad_value (error,
                        "--metrics-listen: expected ADDR:PORT (IPv6 as [ADDR]:PORT), got “%s”",
                        config->metrics_listen);
  }
  if (config->login_burst < 1 || config->registration_burst < 1)
    return bad_value (error, "--login-burst and --registration-burst: at least 1");
  /* The demo accounts share a published password. */
  if (config->demo && !g_inet_address_get_is_loopback (listen))
    return bad_value (error,
                      "--demo: the demo accounts have a published password; --listen must be a "
                      "loopback address, not “%s”",
                      config->listen_address);
  if ((config->tls_cert_file == NULL) != (config->tls_key_file == NULL))
    return bad_value (error, "--tls-cert and --tls-key go together");
  if (config->turn_secret != NULL && config->turn_secret[0] == '\0')
    return bad_value (error, "--turn-secret: the secret is empty");
  if (config->turn_uris[0] != NULL && config->turn_secret == NULL)
    return bad_value (error, "--turn-uri needs --turn-secret");

  return natter_server_config_check_nodes (config, error);
}

/**
 * natter_server_config_parse_args:
 * @config: the configuration to fill
 * @argc: (inout): the argument count
 * @argv: (inout): the arguments; parsed options are removed
 * @error: a #GOptionError naming the option on failure
 *
 * Reads natter-server's command line into @config and checks it: a port
 * within range, a TLS key with every certificate, a secret with TURN URIs,
 * profile types that are valid words.
 *
 * Returns: %TRUE when the command line was valid
 */
gboolean
natter_server_config_parse_args (NatterServerConfig *config,
                                 int *argc,
                                 char ***argv,
                                 GError **error)
{
  OptionValue values[G_N_ELEMENTS (option_specs)] = { { 0 } };
  g_autofree GOptionEntry *entries = option_entries_new (values);
  g_autoptr (GOptionContext) context = NULL;
  gboolean valid = FALSE;

  g_return_val_if_fail (config != NULL, FALSE);

  context = g_option_context_new ("- the Natter chat and call server");
  g_option_context_set_summary (context,
                                "Serves PROTOCOL.md's HTTP API and WebSocket. Once listening it "
                                "prints\n“listening on http://ADDR:PORT” on stdout; logs go to "
                                "stderr.\n\nAdministration:\n  natter-server adduser --db PATH "
                                "--email E --name N --profile-type T --password-stdin");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_group (context, natter_server_config_hub_option_group (config));
  g_option_context_add_group (context, natter_server_config_attachments_option_group (config));
  if (!g_option_context_parse (context, argc, argv, error))
    goto out;

  if (*argc > 1) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION, "unexpected argument “%s”",
                 (*argv)[1]);
    goto out;
  }

  for (guint i = 0; i < G_N_ELEMENTS (option_specs); i++) {
    const OptionSpec *spec = &option_specs[i];

    if (spec->offset >= 0 && !store_option (config, spec, &values[i], error))
      goto out;
    if (g_str_equal (spec->name, "no-registration"))
      config->registration_enabled = !values[i].flag;
    else if (g_str_equal (spec->name, "profile-types") && values[i].text != NULL &&
             !store_profile_types (config, values[i].text, error))
      goto out;
  }

  valid = validate_config (config, error);

out:
  option_values_clear (values);
  return valid;
}

/**
 * natter_server_config_is_trusted_proxy:
 * @config: the configuration
 * @address: (nullable): a peer's IP address as text
 *
 * Returns: whether @address is one of the --trusted-proxy addresses
 */
gboolean
natter_server_config_is_trusted_proxy (const NatterServerConfig *config, const char *address)
{
  g_autoptr (GInetAddress) peer = NULL;

  g_return_val_if_fail (config != NULL, FALSE);

  if (address == NULL || config->trusted_proxies == NULL || config->trusted_proxies[0] == NULL)
    return FALSE;
  peer = g_inet_address_new_from_string (address);
  if (peer == NULL)
    return FALSE;

  for (guint i = 0; config->trusted_proxies[i] != NULL; i++) {
    g_autoptr (GInetAddress) proxy = g_inet_address_new_from_string (config->trusted_proxies[i]);

    if (proxy != NULL && g_inet_address_equal (proxy, peer))
      return TRUE;
  }

  return FALSE;
}
