/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Everything the command line can set, with PROTOCOL.md's defaults from
 * natter_server_config_new (). Plain data, shared read-only by the server's
 * parts. */
typedef struct {
  char *listen_address;  /* "127.0.0.1" */
  guint port;            /* 8000; 0 picks a free port */
  char *db_path;         /* $XDG_DATA_HOME/natter-server/natter.db */
  guint ring_timeout_s;  /* 45 */
  guint caller_grace_s;  /* 10 */
  GStrv allowed_origins; /* NULL or empty: any Origin is refused except none */
  gboolean registration_enabled;
  GStrv profile_types; /* tutor, student, parent, advertiser */
  char *tls_cert_file;
  char *tls_key_file;
  GStrv stun_uris;
  GStrv turn_uris;
  char *turn_secret;
  guint turn_ttl_s; /* 86400 */
  gboolean demo;

  /* limits */
  gsize max_frame_bytes;
  guint max_chat_chars;
  double chat_rate_per_s;
  double chat_burst;
  double frame_rate_per_s;
  double frame_burst;
  guint max_connections_per_user;
  guint sync_replay_max;
  guint heartbeat_s;
  guint dead_after_s;
  gint64 token_lifetime_s;
  double login_rate_per_min; /* failed logins per client address, 10 */
  double login_burst;        /* 10 */

  /* HTTP transport (natter-request-guard.c) */
  gsize max_request_body_bytes;      /* 64 KiB: every API body */
  gsize max_avatar_bytes;            /* 1 MiB: PUT …/avatar */
  gsize max_attachment_bytes;        /* 25 MiB: attachment uploads */
  guint header_timeout_s;            /* 10: to send a request's headers */
  guint idle_timeout_s;              /* 60: an idle keep-alive connection */
  guint max_connections_per_address; /* 64 */
  GStrv trusted_proxies;             /* addresses whose X-Forwarded-For counts */
  guint max_hashes_waiting;          /* 64: password hashes queued, then 503 */
  double registration_rate_per_hour; /* 5 per client address */
  double registration_burst;         /* 5 */
  char *metrics_listen;              /* ADDR:PORT of /metrics; NULL: off */

  /* Attachments (natter-server-config-attachments.c) */
  char *attachments_dir;              /* NULL: beside the SQLite file, or the data dir */
  guint64 attachment_quota_bytes;     /* 1 GiB one user may keep */
  guint attachment_unsent_lifetime_s; /* 86400: unsent uploads are removed after */

  /* The shortest time between two main-loop wake-ups, so that under load
   * each iteration serves many sockets; 0: wake for every event. */
  guint loop_interval_us; /* 1000 */

  /* WebSocket hub limits (natter-server-config-hub.c); 0 means the default */
  gsize max_outgoing_bytes;       /* 4 MiB waiting per connection, then close 1008 */
  gsize sync_replay_max_bytes;    /* 4 MiB replayed at most on one sync */
  guint max_ringing_calls;        /* 2 outgoing calls ringing per profile */
  guint call_invitations_per_min; /* 10 */
  guint max_call_candidates;      /* 64 kept per ringing call */
  double typing_rate_per_s;       /* 2 per conversation */

  /* Several nodes (natter-server-config-nodes.c) */
  char *redis_uri;          /* redis://HOST:PORT; NULL: a node alone, the in-process bus */
  char *node_id;            /* NULL: natter_server_config_default_node_id () */
  guint node_dead_after_ms; /* 10000: a node silent this long is dead; 0: the default */
} NatterServerConfig;

#define NATTER_MAX_OUTGOING_BYTES (4 * 1024 * 1024)
#define NATTER_SYNC_REPLAY_MAX_BYTES (4 * 1024 * 1024)
#define NATTER_MAX_RINGING_CALLS 2
#define NATTER_CALL_INVITATIONS_PER_MIN 10
#define NATTER_MAX_CALL_CANDIDATES 64
#define NATTER_TYPING_RATE_PER_S 2.0

NatterServerConfig *natter_server_config_new (void);
void natter_server_config_free (NatterServerConfig *config);
/* Fills @config from the command line (GOption; --help explains each option)
 * and checks the combination. On error the message names the option. */
gboolean natter_server_config_parse_args (NatterServerConfig *config,
                                          int *argc,
                                          char ***argv,
                                          GError **error);
/* The hub's limits as options (--max-outgoing-bytes …), filled in @config
 * once parsed. */
GOptionGroup *natter_server_config_hub_option_group (NatterServerConfig *config);
/* --attachment-quota and --attachment-unsent-lifetime. */
GOptionGroup *natter_server_config_attachments_option_group (NatterServerConfig *config);
/* --redis and --node-id make sense (natter-server-config-nodes.c). */
gboolean natter_server_config_check_nodes (const NatterServerConfig *config, GError **error);
/* HOSTNAME-PID: unique among the nodes of one machine and across machines. */
char *natter_server_config_default_node_id (void);
gboolean natter_server_config_origin_allowed (const NatterServerConfig *config, const char *origin);
gboolean natter_server_config_is_trusted_proxy (const NatterServerConfig *config,
                                                const char *address);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterServerConfig, natter_server_config_free)

G_END_DECLS
