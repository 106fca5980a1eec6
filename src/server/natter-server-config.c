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
  g_strfreev (config->allowed_origins);
  g_strfreev (config->profile_types);
  g_free (config->tls_cert_file);
  g_free (config->tls_key_file);
  g_strfreev (config->stun_uris);
  g_strfreev (config->turn_uris);
  g_free (config->turn_secret);
  g_strfreev (config->trusted_proxies);
  g_free (config->metrics_listen);
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
  g_autofree char *listen = NULL;
  int port = -1;
  g_autofree char *db = NULL;
  g_autofree char *ring_timeout = NULL;
  g_autofree char *caller_grace = NULL;
  g_autofree char *heartbeat = NULL;
  g_autofree char *loop_interval = NULL;
  g_autofree char *dead_after = NULL;
  g_autofree char *token_lifetime = NULL;
  g_autofree char *turn_ttl = NULL;
  g_autofree char *chat_rate = NULL;
  g_autofree char *chat_burst = NULL;
  g_autofree char *frame_rate = NULL;
  g_autofree char *frame_burst = NULL;
  g_autofree char *login_rate = NULL;
  g_autofree char *login_burst = NULL;
  g_autofree char *max_connections = NULL;
  g_autofree char *sync_replay_max = NULL;
  g_autofree char *max_request_body = NULL;
  g_autofree char *max_avatar_size = NULL;
  g_autofree char *max_attachment_size = NULL;
  g_autofree char *header_timeout = NULL;
  g_autofree char *idle_timeout = NULL;
  g_autofree char *max_connections_per_address = NULL;
  g_auto (GStrv) trusted_proxies = NULL;
  g_autofree char *max_hashes_waiting = NULL;
  g_autofree char *registration_rate = NULL;
  g_autofree char *registration_burst = NULL;
  g_autofree char *metrics_listen = NULL;
  g_auto (GStrv) origins = NULL;
  gboolean no_registration = FALSE;
  g_autofree char *profile_types = NULL;
  g_autofree char *tls_cert = NULL;
  g_autofree char *tls_key = NULL;
  g_auto (GStrv) stun_uris = NULL;
  g_auto (GStrv) turn_uris = NULL;
  g_autofree char *turn_secret = NULL;
  gboolean demo = FALSE;
  const GOptionEntry entries[] = {
    { "listen", 0, 0, G_OPTION_ARG_STRING, &listen,
      "Address to listen on (default 127.0.0.1; 0.0.0.0 or :: for every interface)", "ADDR" },
    { "port", 0, 0, G_OPTION_ARG_INT, &port, "TCP port (default 8000; 0 picks a free port)", "N" },
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &db,
      "SQLite database file (default $XDG_DATA_HOME/natter-server/natter.db)", "PATH" },
    { "ring-timeout", 0, 0, G_OPTION_ARG_STRING, &ring_timeout,
      "Seconds an unanswered call rings before it is missed (default 45)", "S" },
    { "allowed-origin", 0, 0, G_OPTION_ARG_STRING_ARRAY, &origins,
      "Browser Origin allowed to use the API and the WebSocket (repeatable; * allows any)",
      "ORIGIN" },
    { "no-registration", 0, 0, G_OPTION_ARG_NONE, &no_registration,
      "Refuse POST /api/register (accounts only through adduser)", NULL },
    { "profile-types", 0, 0, G_OPTION_ARG_STRING, &profile_types,
      "Comma-separated profile types users may hold (default tutor,student,parent,advertiser)",
      "LIST" },
    { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &tls_cert,
      "PEM certificate: serve https and wss (needs --tls-key)", "FILE" },
    { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key, "PEM private key of --tls-cert", "FILE" },
    { "stun-uri", 0, 0, G_OPTION_ARG_STRING_ARRAY, &stun_uris,
      "STUN server handed to clients by /api/ice-servers (repeatable)", "URI" },
    { "turn-uri", 0, 0, G_OPTION_ARG_STRING_ARRAY, &turn_uris,
      "TURN server handed to clients with ephemeral credentials (repeatable; needs "
      "--turn-secret)",
      "URI" },
    { "turn-secret", 0, 0, G_OPTION_ARG_STRING, &turn_secret,
      "Shared secret of the TURN server's REST API credentials", "S" },
    { "turn-ttl", 0, 0, G_OPTION_ARG_STRING, &turn_ttl,
      "Seconds a TURN credential stays valid (default 86400)", "S" },
    { "demo", 0, 0, G_OPTION_ARG_NONE, &demo,
      "Create demo accounts in an empty database and print them on stderr", NULL },
    { "caller-grace", 0, 0, G_OPTION_ARG_STRING, &caller_grace,
      "Seconds a ringing call survives without a caller connection (default 10)", "S" },
    { "heartbeat", 0, 0, G_OPTION_ARG_STRING, &heartbeat,
      "Seconds of WebSocket silence before a ping (default 30)", "S" },
    { "dead-after", 0, 0, G_OPTION_ARG_STRING, &dead_after,
      "Seconds without a pong (the answer to a ping) before a WebSocket is closed (default 90)",
      "S" },
    { "token-lifetime", 0, 0, G_OPTION_ARG_STRING, &token_lifetime,
      "Seconds a login token stays valid (default 2592000, 30 days)", "S" },
    { "chat-rate", 0, 0, G_OPTION_ARG_STRING, &chat_rate,
      "Chat messages per second per connection (default 10)", "N" },
    { "chat-burst", 0, 0, G_OPTION_ARG_STRING, &chat_burst,
      "Chat message burst per connection (default 30)", "N" },
    { "frame-rate", 0, 0, G_OPTION_ARG_STRING, &frame_rate,
      "Frames per second per connection (default 200)", "N" },
    { "frame-burst", 0, 0, G_OPTION_ARG_STRING, &frame_burst,
      "Frame burst per connection (default 400)", "N" },
    { "max-connections-per-user", 0, 0, G_OPTION_ARG_STRING, &max_connections,
      "WebSocket connections one user may hold (default 16)", "N" },
    { "sync-replay-max", 0, 0, G_OPTION_ARG_STRING, &sync_replay_max,
      "Events replayed at most on sync (default 1000)", "N" },
    { "login-rate", 0, 0, G_OPTION_ARG_STRING, &login_rate,
      "Failed logins per minute per client address (default 10)", "N" },
    { "login-burst", 0, 0, G_OPTION_ARG_STRING, &login_burst,
      "Failed login burst per client address (default 10)", "N" },
    { "max-request-body", 0, 0, G_OPTION_ARG_STRING, &max_request_body,
      "Bytes an API request body may hold (default 65536)", "BYTES" },
    { "max-avatar-size", 0, 0, G_OPTION_ARG_STRING, &max_avatar_size,
      "Bytes an avatar upload may hold (default 1048576)", "BYTES" },
    { "max-attachment-size", 0, 0, G_OPTION_ARG_STRING, &max_attachment_size,
      "Bytes an attachment upload may hold (default 26214400)", "BYTES" },
    { "header-timeout", 0, 0, G_OPTION_ARG_STRING, &header_timeout,
      "Seconds a client has to send a request's headers (default 10)", "S" },
    { "idle-timeout", 0, 0, G_OPTION_ARG_STRING, &idle_timeout,
      "Seconds an idle keep-alive HTTP connection stays open (default 60)", "S" },
    { "max-connections-per-address", 0, 0, G_OPTION_ARG_STRING, &max_connections_per_address,
      "Open connections one client address may hold (default 64; trusted proxies are exempt)",
      "N" },
    { "trusted-proxy", 0, 0, G_OPTION_ARG_STRING_ARRAY, &trusted_proxies,
      "Reverse proxy whose X-Forwarded-For names the client address (repeatable)", "ADDR" },
    { "max-hashes-waiting", 0, 0, G_OPTION_ARG_STRING, &max_hashes_waiting,
      "Password hashes that may wait for a thread before logins get 503 (default 64)", "N" },
    { "registration-rate", 0, 0, G_OPTION_ARG_STRING, &registration_rate,
      "Registrations per hour per client address (default 5)", "N" },
    { "registration-burst", 0, 0, G_OPTION_ARG_STRING, &registration_burst,
      "Registration burst per client address (default 5)", "N" },
    { "metrics-listen", 0, 0, G_OPTION_ARG_STRING, &metrics_listen,
      "Serve /metrics on this separate ADDR:PORT only (default: not served)", "ADDR:PORT" },
    { "loop-interval", 0, 0, G_OPTION_ARG_STRING, &loop_interval,
      "Microseconds between two main-loop wake-ups under load, so each serves many sockets "
      "(default 1000; 0: wake for every event)",
      "US" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = NULL;

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
    return FALSE;

  if (*argc > 1) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION, "unexpected argument “%s”",
                 (*argv)[1]);
    return FALSE;
  }

  if (listen != NULL) {
    g_autoptr (GInetAddress) address = g_inet_address_new_from_string (listen);

    if (address == NULL) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--listen: “%s” is not an IP address", listen);
      return FALSE;
    }
    g_free (config->listen_address);
    config->listen_address = g_steal_pointer (&listen);
  }

  if (port != -1) {
    if (port < 0 || port > 65535) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--port: %d is not a port number (0–65535)", port);
      return FALSE;
    }
    config->port = (guint) port;
  }

  if (db != NULL) {
    g_free (config->db_path);
    config->db_path = g_steal_pointer (&db);
  }

  if (ring_timeout != NULL &&
      !parse_seconds ("--ring-timeout", ring_timeout, 1, &config->ring_timeout_s, error))
    return FALSE;
  if (caller_grace != NULL &&
      !parse_seconds ("--caller-grace", caller_grace, 1, &config->caller_grace_s, error))
    return FALSE;
  if (heartbeat != NULL &&
      !parse_seconds ("--heartbeat", heartbeat, 1, &config->heartbeat_s, error))
    return FALSE;
  if (dead_after != NULL &&
      !parse_seconds ("--dead-after", dead_after, 1, &config->dead_after_s, error))
    return FALSE;
  if (loop_interval != NULL &&
      !parse_seconds ("--loop-interval", loop_interval, 0, &config->loop_interval_us, error))
    return FALSE;
  if (config->loop_interval_us > 100000) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--loop-interval: at most 100000 microseconds, got %u", config->loop_interval_us);
    return FALSE;
  }
  if (turn_ttl != NULL && !parse_seconds ("--turn-ttl", turn_ttl, 1, &config->turn_ttl_s, error))
    return FALSE;
  if (max_connections != NULL && !parse_seconds ("--max-connections-per-user", max_connections, 1,
                                                 &config->max_connections_per_user, error))
    return FALSE;
  if (sync_replay_max != NULL &&
      !parse_seconds ("--sync-replay-max", sync_replay_max, 1, &config->sync_replay_max, error))
    return FALSE;
  if (token_lifetime != NULL) {
    guint lifetime;

    if (!parse_seconds ("--token-lifetime", token_lifetime, 1, &lifetime, error))
      return FALSE;
    config->token_lifetime_s = lifetime;
  }
  if (chat_rate != NULL &&
      !parse_positive_double ("--chat-rate", chat_rate, &config->chat_rate_per_s, error))
    return FALSE;
  if (chat_burst != NULL &&
      !parse_positive_double ("--chat-burst", chat_burst, &config->chat_burst, error))
    return FALSE;
  if (frame_rate != NULL &&
      !parse_positive_double ("--frame-rate", frame_rate, &config->frame_rate_per_s, error))
    return FALSE;
  if (frame_burst != NULL &&
      !parse_positive_double ("--frame-burst", frame_burst, &config->frame_burst, error))
    return FALSE;
  if (login_rate != NULL &&
      !parse_positive_double ("--login-rate", login_rate, &config->login_rate_per_min, error))
    return FALSE;
  if (login_burst != NULL &&
      !parse_positive_double ("--login-burst", login_burst, &config->login_burst, error))
    return FALSE;

  if (max_request_body != NULL) {
    guint bytes;

    if (!parse_seconds ("--max-request-body", max_request_body, 1, &bytes, error))
      return FALSE;
    config->max_request_body_bytes = bytes;
  }
  if (max_avatar_size != NULL) {
    guint bytes;

    if (!parse_seconds ("--max-avatar-size", max_avatar_size, 1, &bytes, error))
      return FALSE;
    config->max_avatar_bytes = bytes;
  }
  if (max_attachment_size != NULL) {
    guint bytes;

    if (!parse_seconds ("--max-attachment-size", max_attachment_size, 1, &bytes, error))
      return FALSE;
    config->max_attachment_bytes = bytes;
  }
  if (header_timeout != NULL &&
      !parse_seconds ("--header-timeout", header_timeout, 1, &config->header_timeout_s, error))
    return FALSE;
  if (idle_timeout != NULL &&
      !parse_seconds ("--idle-timeout", idle_timeout, 1, &config->idle_timeout_s, error))
    return FALSE;
  if (max_connections_per_address != NULL &&
      !parse_seconds ("--max-connections-per-address", max_connections_per_address, 1,
                      &config->max_connections_per_address, error))
    return FALSE;
  if (max_hashes_waiting != NULL && !parse_seconds ("--max-hashes-waiting", max_hashes_waiting, 1,
                                                    &config->max_hashes_waiting, error))
    return FALSE;
  if (registration_rate != NULL &&
      !parse_positive_double ("--registration-rate", registration_rate,
                              &config->registration_rate_per_hour, error))
    return FALSE;
  if (registration_burst != NULL &&
      !parse_positive_double ("--registration-burst", registration_burst,
                              &config->registration_burst, error))
    return FALSE;
  if (trusted_proxies != NULL) {
    for (guint i = 0; trusted_proxies[i] != NULL; i++) {
      g_autoptr (GInetAddress) address = g_inet_address_new_from_string (trusted_proxies[i]);

      if (address == NULL) {
        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                     "--trusted-proxy: “%s” is not an IP address", trusted_proxies[i]);
        return FALSE;
      }
    }
    g_strfreev (config->trusted_proxies);
    config->trusted_proxies = g_steal_pointer (&trusted_proxies);
  }
  if (metrics_listen != NULL) {
    g_autoptr (GSocketConnectable) connectable = g_network_address_parse (metrics_listen, 0, NULL);
    g_autoptr (GInetAddress) address = NULL;

    if (connectable != NULL)
      address = g_inet_address_new_from_string (
        g_network_address_get_hostname (G_NETWORK_ADDRESS (connectable)));
    if (address == NULL || strchr (metrics_listen, ':') == NULL) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--metrics-listen: expected ADDR:PORT (IPv6 as [ADDR]:PORT), got “%s”",
                   metrics_listen);
      return FALSE;
    }
    g_free (config->metrics_listen);
    config->metrics_listen = g_steal_pointer (&metrics_listen);
  }

  if (config->login_burst < 1 || config->registration_burst < 1) {
    g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                         "--login-burst and --registration-burst: at least 1");
    return FALSE;
  }

  if (origins != NULL) {
    g_strfreev (config->allowed_origins);
    config->allowed_origins = g_steal_pointer (&origins);
  }

  config->registration_enabled = !no_registration;
  config->demo = demo;
  if (demo) {
    g_autoptr (GInetAddress) address = g_inet_address_new_from_string (config->listen_address);

    /* The demo accounts share a published password. */
    if (!g_inet_address_get_is_loopback (address)) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--demo: the demo accounts have a published password; --listen must be a "
                   "loopback address, not “%s”",
                   config->listen_address);
      return FALSE;
    }
  }

  if (profile_types != NULL) {
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
      if (normalized == NULL) {
        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                     "--profile-types: “%s” is not a profile type: %s", words[i],
                     local_error->message);
        return FALSE;
      }
      g_strv_builder_add (builder, normalized);
      n++;
    }
    if (n == 0) {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--profile-types: the list is empty");
      return FALSE;
    }
    g_strfreev (config->profile_types);
    config->profile_types = g_strv_builder_end (builder);
  }

  if ((tls_cert == NULL) != (tls_key == NULL)) {
    g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                         "--tls-cert and --tls-key go together");
    return FALSE;
  }
  g_free (config->tls_cert_file);
  config->tls_cert_file = g_steal_pointer (&tls_cert);
  g_free (config->tls_key_file);
  config->tls_key_file = g_steal_pointer (&tls_key);

  if (stun_uris != NULL) {
    g_strfreev (config->stun_uris);
    config->stun_uris = g_steal_pointer (&stun_uris);
  }
  if (turn_uris != NULL) {
    g_strfreev (config->turn_uris);
    config->turn_uris = g_steal_pointer (&turn_uris);
  }
  if (turn_secret != NULL) {
    if (turn_secret[0] == '\0') {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--turn-secret: the secret is empty");
      return FALSE;
    }
    g_free (config->turn_secret);
    config->turn_secret = g_steal_pointer (&turn_secret);
  }
  if (config->turn_uris[0] != NULL && config->turn_secret == NULL) {
    g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                         "--turn-uri needs --turn-secret");
    return FALSE;
  }

  return TRUE;
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
