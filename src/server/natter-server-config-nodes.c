/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-server-config"

/* --redis and --node-id: the options of a node among several (issue 17). */

#include "config.h"

#include "natter-server-config.h"

#include <gio/gio.h>
#include <string.h>
#include <unistd.h>

/* Node ids name Redis channels and appear in logs. */
#define NODE_ID_MAX 64

static gboolean bad_value (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
bad_value (GError **error, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_propagate_error (error,
                     g_error_new_valist (G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, format, args));
  va_end (args);
  return FALSE;
}

static gboolean
node_id_valid (const char *node_id)
{
  gsize length = strlen (node_id);

  if (length == 0 || length > NODE_ID_MAX)
    return FALSE;
  for (gsize i = 0; i < length; i++) {
    if (!g_ascii_isalnum (node_id[i]) && strchr ("._-", node_id[i]) == NULL)
      return FALSE;
  }
  return TRUE;
}

/**
 * natter_server_config_check_nodes:
 * @config: a parsed configuration
 * @error: a #G_OPTION_ERROR_BAD_VALUE naming the option
 *
 * Returns: %TRUE when --redis is a Redis address this build can use and
 *   --node-id a short name of letters, digits, '.', '_' and '-'
 */
gboolean
natter_server_config_check_nodes (const NatterServerConfig *config, GError **error)
{
  g_return_val_if_fail (config != NULL, FALSE);

  if (config->node_id != NULL && !node_id_valid (config->node_id))
    return bad_value (error, "--node-id: “%s” is not 1 to %d letters, digits, '.', '_' or '-'",
                      config->node_id, NODE_ID_MAX);
  if (config->redis_uri != NULL) {
    g_autoptr (GUri) uri = g_uri_parse (config->redis_uri, G_URI_FLAGS_NONE, NULL);

    if (uri == NULL || g_strcmp0 (g_uri_get_scheme (uri), "redis") != 0 ||
        g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' ||
        g_uri_get_userinfo (uri) != NULL ||
        (*g_uri_get_path (uri) != '\0' && !g_str_equal (g_uri_get_path (uri), "/")))
      return bad_value (error, "--redis: “%s” is not a Redis address: use redis://HOST:PORT",
                        config->redis_uri);
#ifndef NATTER_HAVE_HIREDIS
    return bad_value (error, "--redis: this natter-server was built without hiredis");
#endif
  }

  return TRUE;
}

char *
natter_server_config_default_node_id (void)
{
  g_autofree char *host = g_strdup (g_get_host_name ());

  /* Host names may hold characters a node id may not. */
  for (char *c = host; *c != '\0'; c++) {
    if (!g_ascii_isalnum (*c) && strchr ("._-", *c) == NULL)
      *c = '-';
  }
  if (strlen (host) > NODE_ID_MAX - 12)
    host[NODE_ID_MAX - 12] = '\0';
  return g_strdup_printf ("%s-%d", host, (int) getpid ());
}
