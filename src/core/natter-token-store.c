/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-token-store"

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <libsecret/secret.h>

#include "natter-token-store.h"

#define TOKEN_GROUP "tokens"

/* Tokens live in the Secret Service, keyed by server URL. Where none runs
 * (CI, a bare session) they go to a keyfile only the user can read. */
struct _NatterTokenStore {
  GObject parent_instance;

  char *data_dir;
  gboolean uses_file;
};

G_DEFINE_FINAL_TYPE (NatterTokenStore, natter_token_store, G_TYPE_OBJECT)

static const SecretSchema *
token_schema (void)
{
  static const SecretSchema schema = {
    "org.natter.Natter.Token",
    SECRET_SCHEMA_NONE,
    {
      { "server", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    },
  };

  return &schema;
}

static gboolean
session_bus_available (void)
{
  g_autofree char *socket_path = NULL;

  if (g_getenv ("DBUS_SESSION_BUS_ADDRESS") != NULL)
    return TRUE;

  /* Without an address GDBus would try to autolaunch a bus, which is slow
   * and pointless on a headless machine. */
  socket_path = g_build_filename (g_get_user_runtime_dir (), "bus", NULL);

  return g_file_test (socket_path, G_FILE_TEST_EXISTS);
}

static void
fall_back_to_file (NatterTokenStore *self, const GError *error)
{
  static gboolean said_so;

  self->uses_file = TRUE;

  if (!said_so) {
    said_so = TRUE;
    g_message ("No Secret Service (%s): keeping the token in %s/tokens.ini, readable only by you",
               error != NULL ? error->message : "no session bus", self->data_dir);
  }
}

static char *
token_file_path (NatterTokenStore *self)
{
  return g_build_filename (self->data_dir, "tokens.ini", NULL);
}

static GKeyFile *
load_token_file (NatterTokenStore *self)
{
  g_autoptr (GKeyFile) key_file = g_key_file_new ();
  g_autofree char *path = token_file_path (self);

  /* A missing file is an empty store. */
  g_key_file_load_from_file (key_file, path, G_KEY_FILE_NONE, NULL);

  return g_steal_pointer (&key_file);
}

static gboolean
save_token_file (NatterTokenStore *self, GKeyFile *key_file, GError **error)
{
  g_autofree char *path = token_file_path (self);
  g_autofree char *data = NULL;
  gsize length;

  if (g_mkdir_with_parents (self->data_dir, 0700) != 0) {
    int saved_errno = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "Cannot create %s: %s",
                 self->data_dir, g_strerror (saved_errno));
    return FALSE;
  }

  data = g_key_file_to_data (key_file, &length, NULL);

  return g_file_set_contents_full (path, data, length, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

static void
natter_token_store_finalize (GObject *object)
{
  NatterTokenStore *self = NATTER_TOKEN_STORE (object);

  g_clear_pointer (&self->data_dir, g_free);

  G_OBJECT_CLASS (natter_token_store_parent_class)->finalize (object);
}

static void
natter_token_store_class_init (NatterTokenStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = natter_token_store_finalize;
}

static void
natter_token_store_init (NatterTokenStore *self)
{
}

/**
 * natter_token_store_new:
 * @data_dir: Natter's data directory, home of the fallback file
 *
 * `NATTER_TOKEN_STORE=file` in the environment skips the Secret Service.
 *
 * Returns: (transfer full): a new token store
 */
NatterTokenStore *
natter_token_store_new (const char *data_dir)
{
  NatterTokenStore *self;

  g_return_val_if_fail (data_dir != NULL, NULL);

  self = g_object_new (NATTER_TYPE_TOKEN_STORE, NULL);
  self->data_dir = g_strdup (data_dir);

  if (g_strcmp0 (g_getenv ("NATTER_TOKEN_STORE"), "file") == 0)
    self->uses_file = TRUE;
  else if (!session_bus_available ())
    fall_back_to_file (self, NULL);

  return self;
}

/**
 * natter_token_store_lookup:
 * @self: a #NatterTokenStore
 * @server_url: the server the token is for
 * @error: a #GError, set only for a broken fallback file
 *
 * Returns: (transfer full) (nullable): the token, or %NULL if none is kept
 */
char *
natter_token_store_lookup (NatterTokenStore *self, const char *server_url, GError **error)
{
  g_autoptr (GKeyFile) key_file = NULL;

  g_return_val_if_fail (NATTER_IS_TOKEN_STORE (self), NULL);
  g_return_val_if_fail (server_url != NULL, NULL);

  if (!self->uses_file) {
    g_autoptr (GError) local_error = NULL;
    char *secret;

    secret =
      secret_password_lookup_sync (token_schema (), NULL, &local_error, "server", server_url, NULL);
    if (local_error == NULL)
      return secret;

    fall_back_to_file (self, local_error);
  }

  key_file = load_token_file (self);

  return g_key_file_get_string (key_file, TOKEN_GROUP, server_url, NULL);
}

/**
 * natter_token_store_save:
 * @self: a #NatterTokenStore
 * @server_url: the server the token is for
 * @token: the bearer token
 * @error: a #GError
 *
 * Returns: %TRUE if the token was kept
 */
gboolean
natter_token_store_save (NatterTokenStore *self,
                         const char *server_url,
                         const char *token,
                         GError **error)
{
  g_autoptr (GKeyFile) key_file = NULL;

  g_return_val_if_fail (NATTER_IS_TOKEN_STORE (self), FALSE);
  g_return_val_if_fail (server_url != NULL, FALSE);
  g_return_val_if_fail (token != NULL, FALSE);

  if (!self->uses_file) {
    g_autoptr (GError) local_error = NULL;
    g_autofree char *label = g_strdup_printf ("Natter token for %s", server_url);

    if (secret_password_store_sync (token_schema (), SECRET_COLLECTION_DEFAULT, label, token, NULL,
                                    &local_error, "server", server_url, NULL))
      return TRUE;

    fall_back_to_file (self, local_error);
  }

  key_file = load_token_file (self);
  g_key_file_set_string (key_file, TOKEN_GROUP, server_url, token);

  return save_token_file (self, key_file, error);
}

/**
 * natter_token_store_clear:
 * @self: a #NatterTokenStore
 * @server_url: the server the token is for
 * @error: a #GError
 *
 * Returns: %TRUE if no token is kept for @server_url any more
 */
gboolean
natter_token_store_clear (NatterTokenStore *self, const char *server_url, GError **error)
{
  g_autoptr (GKeyFile) key_file = NULL;

  g_return_val_if_fail (NATTER_IS_TOKEN_STORE (self), FALSE);
  g_return_val_if_fail (server_url != NULL, FALSE);

  if (!self->uses_file) {
    g_autoptr (GError) local_error = NULL;

    secret_password_clear_sync (token_schema (), NULL, &local_error, "server", server_url, NULL);
    if (local_error == NULL)
      return TRUE;

    fall_back_to_file (self, local_error);
  }

  key_file = load_token_file (self);
  if (!g_key_file_has_key (key_file, TOKEN_GROUP, server_url, NULL))
    return TRUE;

  g_key_file_remove_key (key_file, TOKEN_GROUP, server_url, NULL);

  return save_token_file (self, key_file, error);
}

/**
 * natter_token_store_get_uses_file:
 * @self: a #NatterTokenStore
 *
 * Returns: %TRUE when tokens go to the fallback file
 */
gboolean
natter_token_store_get_uses_file (NatterTokenStore *self)
{
  g_return_val_if_fail (NATTER_IS_TOKEN_STORE (self), FALSE);

  return self->uses_file;
}

/**
 * natter_token_store_dup_file_path:
 * @self: a #NatterTokenStore
 *
 * Returns: (transfer full) (nullable): the fallback file the tokens are
 *   kept in, or %NULL while the Secret Service keeps them
 */
char *
natter_token_store_dup_file_path (NatterTokenStore *self)
{
  g_return_val_if_fail (NATTER_IS_TOKEN_STORE (self), NULL);

  return self->uses_file ? token_file_path (self) : NULL;
}
