/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-muted-conversations"

#include "config.h"

#include "natter-muted-conversations.h"

static char *
muted_key (const char *server_url, gint64 conversation_id)
{
  return g_strdup_printf ("%s#%" G_GINT64_FORMAT, server_url, conversation_id);
}

/**
 * natter_settings_get_conversation_muted:
 * @settings: Natter's settings
 * @server_url: the server the conversation is on
 * @conversation_id: the conversation
 *
 * Returns: whether the conversation's messages notify no more
 */
gboolean
natter_settings_get_conversation_muted (GSettings *settings,
                                        const char *server_url,
                                        gint64 conversation_id)
{
  g_auto (GStrv) muted = NULL;
  g_autofree char *key = NULL;

  g_return_val_if_fail (G_IS_SETTINGS (settings), FALSE);

  if (server_url == NULL || conversation_id <= 0)
    return FALSE;

  muted = g_settings_get_strv (settings, "muted-conversations");
  key = muted_key (server_url, conversation_id);
  return g_strv_contains ((const char *const *) muted, key);
}

/**
 * natter_settings_set_conversation_muted:
 * @settings: Natter's settings
 * @server_url: the server the conversation is on
 * @conversation_id: the conversation
 * @muted: whether its messages notify no more
 *
 * Mutes live in GSettings beside the other notification choices, not in
 * the local store: they are this desktop user's choice, outlive sign-out
 * and a rebuilt store, and cost nothing to read when an event comes.
 */
void
natter_settings_set_conversation_muted (GSettings *settings,
                                        const char *server_url,
                                        gint64 conversation_id,
                                        gboolean muted)
{
  g_autoptr (GStrvBuilder) builder = NULL;
  g_auto (GStrv) old = NULL;
  g_auto (GStrv) updated = NULL;
  g_autofree char *key = NULL;

  g_return_if_fail (G_IS_SETTINGS (settings));
  g_return_if_fail (server_url != NULL);
  g_return_if_fail (conversation_id > 0);

  if (natter_settings_get_conversation_muted (settings, server_url, conversation_id) == !!muted)
    return;

  key = muted_key (server_url, conversation_id);
  old = g_settings_get_strv (settings, "muted-conversations");
  builder = g_strv_builder_new ();
  for (guint i = 0; old[i] != NULL; i++)
    if (!g_str_equal (old[i], key))
      g_strv_builder_add (builder, old[i]);
  if (muted)
    g_strv_builder_add (builder, key);
  updated = g_strv_builder_end (builder);
  g_settings_set_strv (settings, "muted-conversations", (const char *const *) updated);
}
