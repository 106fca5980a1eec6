/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-account"

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>

#include "natter-account.h"
#include "natter-http-body.h"
#include "natter-protocol.h"
#include "natter-token-store.h"

/* Who is signed in on one server: the token, the user with their profiles,
 * and which profile is active. Also the one door to the HTTP API, so every
 * request carries the token and every error reads the same. */

enum {
  PROP_0,
  PROP_SERVER_URL,
  PROP_DATA_DIR,
  PROP_SIGNED_IN,
  PROP_USER,
  PROP_ACTIVE_PROFILE,
  PROP_TOKEN_IN_FILE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _NatterAccount {
  GObject parent_instance;

  char *server_url;
  char *data_dir;
  SoupSession *session;
  NatterTokenStore *token_store;
  char *token;
  gboolean token_from_environment;
  gboolean secondary; /* watches one more profile of a signed-in user */
  NatterUser *user;
  NatterProfile *active_profile;
};

G_DEFINE_FINAL_TYPE (NatterAccount, natter_account, G_TYPE_OBJECT)

G_DEFINE_QUARK (natter - account - error - quark, natter_account_error)

static char *
state_file_path (NatterAccount *self)
{
  return g_build_filename (self->data_dir, "state.ini", NULL);
}

static GKeyFile *
load_state (NatterAccount *self)
{
  g_autoptr (GKeyFile) key_file = g_key_file_new ();
  g_autofree char *path = state_file_path (self);

  g_key_file_load_from_file (key_file, path, G_KEY_FILE_NONE, NULL);

  return g_steal_pointer (&key_file);
}

static void
save_state (NatterAccount *self, GKeyFile *key_file)
{
  g_autofree char *path = state_file_path (self);
  g_autofree char *data = NULL;
  g_autoptr (GError) error = NULL;
  gsize length;

  if (g_mkdir_with_parents (self->data_dir, 0700) != 0) {
    g_warning ("Cannot create %s: %s", self->data_dir, g_strerror (errno));
    return;
  }

  data = g_key_file_to_data (key_file, &length, NULL);
  if (!g_file_set_contents_full (path, data, length, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
    g_warning ("Cannot remember the active profile: %s", error->message);
}

/* The server last used, so natter-cli needs no --server every time. */
static void
remember_server (NatterAccount *self)
{
  g_autoptr (GKeyFile) key_file = load_state (self);
  g_autofree char *last = g_key_file_get_string (key_file, "general", "last-server", NULL);

  if (g_strcmp0 (last, self->server_url) == 0)
    return;

  g_key_file_set_string (key_file, "general", "last-server", self->server_url);
  save_state (self, key_file);
}

static void
set_signed_in_state (NatterAccount *self, const char *token, NatterUser *user)
{
  gboolean was_signed_in = natter_account_get_signed_in (self);

  g_object_freeze_notify (G_OBJECT (self));

  if (g_strcmp0 (self->token, token) != 0) {
    g_free (self->token);
    self->token = g_strdup (token);
  }

  if (user != self->user) {
    g_clear_pointer (&self->user, natter_user_free);
    self->user = user;
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_USER]);
  }

  if (was_signed_in != natter_account_get_signed_in (self))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SIGNED_IN]);

  g_object_thaw_notify (G_OBJECT (self));
}

static void
remember_profile (NatterAccount *self, const NatterProfile *profile)
{
  g_autoptr (GKeyFile) key_file = load_state (self);
  g_autofree char *type = g_key_file_get_string (key_file, self->server_url, "profile-type", NULL);
  gint64 id = g_key_file_get_int64 (key_file, self->server_url, "profile-id", NULL);

  if (id == profile->profile_id && g_strcmp0 (type, profile->profile_type) == 0)
    return;

  g_key_file_set_int64 (key_file, self->server_url, "profile-id", profile->profile_id);
  g_key_file_set_string (key_file, self->server_url, "profile-type", profile->profile_type);
  save_state (self, key_file);
}

static void
set_active_profile (NatterAccount *self, const NatterProfile *profile)
{
  gboolean was_signed_in;

  /* Remembered per server, so the next start (even offline) acts as it. */
  if (profile != NULL && !self->secondary)
    remember_profile (self, profile);

  if (profile == NULL && self->active_profile == NULL)
    return;

  if (profile != NULL && self->active_profile != NULL &&
      natter_profile_equal (profile, self->active_profile) &&
      g_strcmp0 (profile->display_name, self->active_profile->display_name) == 0)
    return;

  was_signed_in = natter_account_get_signed_in (self);
  g_clear_pointer (&self->active_profile, natter_profile_free);
  self->active_profile = profile != NULL ? natter_profile_copy (profile) : NULL;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACTIVE_PROFILE]);

  if (was_signed_in != natter_account_get_signed_in (self))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SIGNED_IN]);
}

static const NatterProfile *
find_user_profile (NatterAccount *self, gint64 profile_id, const char *profile_type)
{
  guint i;

  if (self->user == NULL || self->user->profiles == NULL)
    return NULL;

  for (i = 0; i < self->user->profiles->len; i++) {
    const NatterProfile *profile = g_ptr_array_index (self->user->profiles, i);

    if (profile->profile_id == profile_id && g_strcmp0 (profile->profile_type, profile_type) == 0)
      return profile;
  }

  return NULL;
}

/* The remembered profile if the user still has it, else the first one. */
static void
choose_active_profile (NatterAccount *self)
{
  g_autoptr (GKeyFile) key_file = load_state (self);
  g_autofree char *type = NULL;
  const NatterProfile *profile = NULL;
  gint64 id;

  id = g_key_file_get_int64 (key_file, self->server_url, "profile-id", NULL);
  type = g_key_file_get_string (key_file, self->server_url, "profile-type", NULL);

  if (self->active_profile != NULL)
    profile = find_user_profile (self, self->active_profile->profile_id,
                                 self->active_profile->profile_type);
  if (profile == NULL && type != NULL)
    profile = find_user_profile (self, id, type);
  if (profile == NULL && self->user != NULL && self->user->profiles->len > 0)
    profile = g_ptr_array_index (self->user->profiles, 0);

  set_active_profile (self, profile);
}

static gboolean
activate_remembered_profile (NatterAccount *self)
{
  g_autoptr (GKeyFile) key_file = load_state (self);
  g_autoptr (NatterProfile) profile = NULL;
  g_autofree char *type = NULL;
  gint64 id;

  if (self->active_profile != NULL)
    return TRUE;

  id = g_key_file_get_int64 (key_file, self->server_url, "profile-id", NULL);
  type = g_key_file_get_string (key_file, self->server_url, "profile-type", NULL);
  if (type == NULL || !natter_id_is_valid (id))
    return FALSE;

  profile = natter_profile_new (id, type, NULL, NULL);
  set_active_profile (self, profile);

  return TRUE;
}

/**
 * natter_account_error_for_status:
 * @status: an HTTP error status
 * @body: (nullable): the answer's body, perhaps a PROTOCOL.md error object
 *
 * Returns: (transfer full): a %NATTER_ACCOUNT_ERROR with the server's message
 */
GError *
natter_account_error_for_status (guint status, GBytes *body)
{
  g_autofree char *code = NULL;
  g_autofree char *message = NULL;
  NatterAccountError error_code;
  const char *data = NULL;
  gsize length = 0;

  if (body != NULL)
    data = g_bytes_get_data (body, &length);

  if (data == NULL || !natter_http_error_parse (data, length, &code, &message))
    message = g_strdup_printf ("HTTP %u %s", status, soup_status_get_phrase (status));

  switch (status) {
    case SOUP_STATUS_UNAUTHORIZED:
      error_code = NATTER_ACCOUNT_ERROR_UNAUTHORIZED;
      break;
    case SOUP_STATUS_FORBIDDEN:
      error_code = NATTER_ACCOUNT_ERROR_FORBIDDEN;
      break;
    case SOUP_STATUS_NOT_FOUND:
      error_code = NATTER_ACCOUNT_ERROR_NOT_FOUND;
      break;
    case SOUP_STATUS_CONFLICT:
      error_code = NATTER_ACCOUNT_ERROR_CONFLICT;
      break;
    default:
      error_code = NATTER_ACCOUNT_ERROR_HTTP;
  }

  return g_error_new_literal (NATTER_ACCOUNT_ERROR, error_code, message);
}

static void
on_request_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  SoupMessage *message = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  guint status;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  if (body == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  status = soup_message_get_status (message);
  if (!SOUP_STATUS_IS_SUCCESSFUL (status)) {
    g_task_return_error (task, natter_account_error_for_status (status, body));
    return;
  }

  g_task_return_pointer (task, g_steal_pointer (&body), (GDestroyNotify) g_bytes_unref);
}

static void
natter_account_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterAccount *self = NATTER_ACCOUNT (object);

  switch (prop_id) {
    case PROP_SERVER_URL:
      g_value_set_string (value, self->server_url);
      break;
    case PROP_DATA_DIR:
      g_value_set_string (value, self->data_dir);
      break;
    case PROP_SIGNED_IN:
      g_value_set_boolean (value, natter_account_get_signed_in (self));
      break;
    case PROP_USER:
      g_value_set_boxed (value, self->user);
      break;
    case PROP_ACTIVE_PROFILE:
      g_value_set_boxed (value, self->active_profile);
      break;
    case PROP_TOKEN_IN_FILE:
      g_value_set_boolean (value, natter_account_get_token_in_file (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_account_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  NatterAccount *self = NATTER_ACCOUNT (object);

  switch (prop_id) {
    case PROP_SERVER_URL:
      self->server_url = g_value_dup_string (value);
      break;
    case PROP_DATA_DIR:
      self->data_dir = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_account_constructed (GObject *object)
{
  NatterAccount *self = NATTER_ACCOUNT (object);

  G_OBJECT_CLASS (natter_account_parent_class)->constructed (object);

  if (self->data_dir == NULL)
    self->data_dir = g_build_filename (g_get_user_data_dir (), "natter", NULL);

  if (self->server_url == NULL) {
    g_autoptr (GKeyFile) key_file = load_state (self);

    self->server_url = g_key_file_get_string (key_file, "general", "last-server", NULL);
    if (self->server_url == NULL)
      self->server_url = g_strdup ("http://127.0.0.1:8000");
  }

  /* "http://host:8000/" and "http://host:8000" are the same server. */
  while (g_str_has_suffix (self->server_url, "/") && strlen (self->server_url) > 1)
    self->server_url[strlen (self->server_url) - 1] = '\0';

  self->token_store = natter_token_store_new (self->data_dir);
}

static void
natter_account_dispose (GObject *object)
{
  NatterAccount *self = NATTER_ACCOUNT (object);

  if (self->session != NULL)
    soup_session_abort (self->session);
  g_clear_object (&self->session);
  g_clear_object (&self->token_store);

  G_OBJECT_CLASS (natter_account_parent_class)->dispose (object);
}

static void
natter_account_finalize (GObject *object)
{
  NatterAccount *self = NATTER_ACCOUNT (object);

  g_clear_pointer (&self->server_url, g_free);
  g_clear_pointer (&self->data_dir, g_free);
  g_clear_pointer (&self->token, g_free);
  g_clear_pointer (&self->user, natter_user_free);
  g_clear_pointer (&self->active_profile, natter_profile_free);

  G_OBJECT_CLASS (natter_account_parent_class)->finalize (object);
}

static void
natter_account_class_init (NatterAccountClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags read_flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  GParamFlags construct_flags = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = natter_account_get_property;
  object_class->set_property = natter_account_set_property;
  object_class->constructed = natter_account_constructed;
  object_class->dispose = natter_account_dispose;
  object_class->finalize = natter_account_finalize;

  /**
   * NatterAccount:server-url:
   *
   * The server, for example `http://127.0.0.1:8000`; the last one used if
   * not given.
   */
  properties[PROP_SERVER_URL] =
    g_param_spec_string ("server-url", NULL, NULL, NULL, construct_flags);
  /**
   * NatterAccount:data-dir:
   *
   * Natter's data directory: `$XDG_DATA_HOME/natter` if not given.
   */
  properties[PROP_DATA_DIR] = g_param_spec_string ("data-dir", NULL, NULL, NULL, construct_flags);
  properties[PROP_SIGNED_IN] = g_param_spec_boolean ("signed-in", NULL, NULL, FALSE, read_flags);
  properties[PROP_USER] = g_param_spec_boxed ("user", NULL, NULL, NATTER_TYPE_USER, read_flags);
  /**
   * NatterAccount:active-profile:
   *
   * The profile the client acts as; remembered per server.
   */
  properties[PROP_ACTIVE_PROFILE] =
    g_param_spec_boxed ("active-profile", NULL, NULL, NATTER_TYPE_PROFILE, read_flags);
  /**
   * NatterAccount:token-in-file:
   *
   * %TRUE when no Secret Service runs and the token is kept in a file.
   */
  properties[PROP_TOKEN_IN_FILE] =
    g_param_spec_boolean ("token-in-file", NULL, NULL, FALSE, read_flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_account_init (NatterAccount *self)
{
  self->session = soup_session_new_with_options ("user-agent", "natter/" PACKAGE_VERSION, NULL);
}

/**
 * natter_server_url_is_cleartext:
 * @server_url: a server address as the user typed it
 *
 * Whether signing in to @server_url would send the password and then the
 * token unencrypted over a network: `http://` (or `ws://`) to any host but
 * this machine's own loopback. A host name other than `localhost` counts as
 * remote, since it is not resolved here.
 *
 * Returns: %TRUE when the user should be warned
 */
gboolean
natter_server_url_is_cleartext (const char *server_url)
{
  g_autoptr (GUri) uri = NULL;
  g_autoptr (GInetAddress) address = NULL;
  const char *host;

  g_return_val_if_fail (server_url != NULL, FALSE);

  uri = g_uri_parse (server_url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_uri_get_scheme (uri) == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (g_uri_get_scheme (uri), "http") != 0 &&
      g_ascii_strcasecmp (g_uri_get_scheme (uri), "ws") != 0)
    return FALSE;

  host = g_uri_get_host (uri);
  if (host == NULL || *host == '\0')
    return FALSE;
  if (g_ascii_strcasecmp (host, "localhost") == 0 || g_str_has_suffix (host, ".localhost"))
    return FALSE;

  address = g_inet_address_new_from_string (host);

  return address == NULL || !g_inet_address_get_is_loopback (address);
}

/**
 * natter_account_new:
 * @server_url: (nullable): the server; %NULL for the last one used
 * @data_dir: (nullable): Natter's data directory; %NULL for `$XDG_DATA_HOME/natter`
 *
 * Returns: (transfer full): a new account, signed out
 */
NatterAccount *
natter_account_new (const char *server_url, const char *data_dir)
{
  return g_object_new (NATTER_TYPE_ACCOUNT, "server-url", server_url, "data-dir", data_dir, NULL);
}

/**
 * natter_account_new_for_profile:
 * @signed_in: a signed-in account
 * @profile: another profile of its user
 *
 * An account acting as @profile with @signed_in's token, for a second
 * connection: the application keeps one per signed-in profile so messages
 * to every profile arrive. It neither remembers its profile as the one
 * used last nor removes the kept token when the server refuses it.
 *
 * Returns: (transfer full): a new account
 */
NatterAccount *
natter_account_new_for_profile (NatterAccount *signed_in, const NatterProfile *profile)
{
  NatterAccount *self;

  g_return_val_if_fail (NATTER_IS_ACCOUNT (signed_in), NULL);
  g_return_val_if_fail (profile != NULL, NULL);

  self = natter_account_new (signed_in->server_url, signed_in->data_dir);
  self->secondary = TRUE;
  self->token = g_strdup (signed_in->token);
  self->user = signed_in->user != NULL ? natter_user_copy (signed_in->user) : NULL;
  self->active_profile = natter_profile_copy (profile);

  return self;
}

/**
 * natter_account_get_server_url:
 * @self: a #NatterAccount
 *
 * Returns: the server's base URL, without a trailing slash
 */
const char *
natter_account_get_server_url (NatterAccount *self)
{
  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), NULL);

  return self->server_url;
}

/**
 * natter_account_get_data_dir:
 * @self: a #NatterAccount
 *
 * Returns: Natter's data directory
 */
const char *
natter_account_get_data_dir (NatterAccount *self)
{
  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), NULL);

  return self->data_dir;
}

/**
 * natter_account_get_session:
 * @self: a #NatterAccount
 *
 * Returns: (transfer none): the HTTP session every request goes through
 */
SoupSession *
natter_account_get_session (NatterAccount *self)
{
  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), NULL);

  return self->session;
}

/**
 * natter_account_get_token:
 * @self: a #NatterAccount
 *
 * Returns: (nullable): the bearer token
 */
const char *
natter_account_get_token (NatterAccount *self)
{
  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), NULL);

  return self->token;
}

/**
 * natter_account_get_signed_in:
 * @self: a #NatterAccount
 *
 * Returns: whether a token is known, with the user behind it or (offline)
 *   the remembered profile
 */
gboolean
natter_account_get_signed_in (NatterAccount *self)
{
  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), FALSE);

  return self->token != NULL && (self->user != NULL || self->active_profile != NULL);
}

/**
 * natter_account_get_user:
 * @self: a #NatterAccount
 *
 * Returns: (transfer none) (nullable): the user, with their profiles
 */
const NatterUser *
natter_account_get_user (NatterAccount *self)
{
  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), NULL);

  return self->user;
}

/**
 * natter_account_get_active_profile:
 * @self: a #NatterAccount
 *
 * Returns: (transfer none) (nullable): the profile the client acts as
 */
const NatterProfile *
natter_account_get_active_profile (NatterAccount *self)
{
  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), NULL);

  return self->active_profile;
}

/**
 * natter_account_set_active_profile:
 * @self: a #NatterAccount
 * @profile_id: one of the user's profiles
 * @profile_type: its type (any case)
 * @error: %NATTER_ACCOUNT_ERROR_NO_PROFILE if the user has no such profile
 *
 * Switches the active profile and remembers it for this server. The client
 * reconnects as that profile.
 *
 * Returns: %TRUE if switched
 */
gboolean
natter_account_set_active_profile (NatterAccount *self,
                                   gint64 profile_id,
                                   const char *profile_type,
                                   GError **error)
{
  g_autoptr (NatterProfile) offline_profile = NULL;
  g_autofree char *type = NULL;
  const NatterProfile *profile;

  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), FALSE);
  g_return_val_if_fail (profile_type != NULL, FALSE);

  type = natter_profile_type_normalize (profile_type, NULL);
  profile = type != NULL ? find_user_profile (self, profile_id, type) : NULL;

  /* Offline the user's profiles are unknown: trust the caller; the server
   * refuses a wrong one with 403 when it is back. */
  if (profile == NULL && self->user == NULL && self->token != NULL && type != NULL &&
      natter_id_is_valid (profile_id))
    profile = offline_profile = natter_profile_new (profile_id, type, NULL, NULL);

  if (profile == NULL) {
    g_set_error (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_PROFILE,
                 "You have no profile %s:%" G_GINT64_FORMAT, profile_type, profile_id);
    return FALSE;
  }

  set_active_profile (self, profile);

  return TRUE;
}

/**
 * natter_account_get_token_in_file:
 * @self: a #NatterAccount
 *
 * Returns: %TRUE when the token is kept in the fallback file
 */
gboolean
natter_account_get_token_in_file (NatterAccount *self)
{
  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), FALSE);

  return natter_token_store_get_uses_file (self->token_store);
}

/**
 * natter_account_dup_token_file:
 * @self: a #NatterAccount
 *
 * Returns: (transfer full) (nullable): the file the token is kept in when
 *   no keyring could take it, or %NULL
 */
char *
natter_account_dup_token_file (NatterAccount *self)
{
  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), NULL);

  return natter_token_store_dup_file_path (self->token_store);
}

/**
 * natter_account_request_async:
 * @self: a #NatterAccount
 * @method: "GET", "POST", …
 * @path: the path under the server URL, with its query
 * @body: (nullable): a JSON body
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Sends one HTTP request with the bearer token, if any.
 */
void
natter_account_request_async (NatterAccount *self,
                              const char *method,
                              const char *path,
                              const char *body,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (SoupMessage) message = NULL;
  g_autofree char *url = NULL;

  g_return_if_fail (NATTER_IS_ACCOUNT (self));
  g_return_if_fail (method != NULL);
  g_return_if_fail (path != NULL && path[0] == '/');

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_account_request_async);

  url = g_strconcat (self->server_url, path, NULL);
  message = soup_message_new (method, url);
  if (message == NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                             "Not a valid server URL: %s", self->server_url);
    return;
  }

  if (self->token != NULL) {
    g_autofree char *authorization = g_strconcat ("Bearer ", self->token, NULL);

    soup_message_headers_replace (soup_message_get_request_headers (message), "Authorization",
                                  authorization);
  }

  if (body != NULL) {
    g_autoptr (GBytes) bytes = g_bytes_new (body, strlen (body));

    soup_message_set_request_body_from_bytes (message, "application/json", bytes);
  }

  g_task_set_task_data (task, g_object_ref (message), g_object_unref);
  soup_session_send_and_read_async (self->session, message, G_PRIORITY_DEFAULT, cancellable,
                                    on_request_done, g_steal_pointer (&task));
}

/**
 * natter_account_new_message:
 * @self: a #NatterAccount
 * @method: "GET", "POST", …
 * @path: the path under the server URL, with its query
 *
 * For requests whose bodies are streamed (attachments): the caller sets
 * the body and sends it on natter_account_get_session().
 *
 * Returns: (transfer full) (nullable): a message carrying the bearer
 *   token, %NULL if the server URL is not valid
 */
SoupMessage *
natter_account_new_message (NatterAccount *self, const char *method, const char *path)
{
  g_autofree char *url = NULL;
  SoupMessage *message;

  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), NULL);
  g_return_val_if_fail (path != NULL && path[0] == '/', NULL);

  url = g_strconcat (self->server_url, path, NULL);
  message = soup_message_new (method, url);
  if (message != NULL && self->token != NULL) {
    g_autofree char *authorization = g_strconcat ("Bearer ", self->token, NULL);

    soup_message_headers_replace (soup_message_get_request_headers (message), "Authorization",
                                  authorization);
  }

  return message;
}

/**
 * natter_account_request_finish:
 * @self: a #NatterAccount
 * @result: the result
 * @error: %NATTER_ACCOUNT_ERROR for an error status (the server's message),
 *   or a #GIOError / #GTlsError for the network
 *
 * Returns: (transfer full) (nullable): the body of a 2xx answer
 */
GBytes *
natter_account_request_finish (NatterAccount *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * natter_account_build_profile_path:
 * @self: a #NatterAccount
 * @format: what follows `/api/as/{id}/{type}`, printf-style
 * @...: the arguments
 *
 * Returns: (transfer full): the path for the active profile
 */
char *
natter_account_build_profile_path (NatterAccount *self, const char *format, ...)
{
  g_autofree char *suffix = NULL;
  va_list args;

  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), NULL);
  g_return_val_if_fail (self->active_profile != NULL, NULL);

  va_start (args, format);
  suffix = g_strdup_vprintf (format, args);
  va_end (args);

  return g_strdup_printf ("/api/as/%" G_GINT64_FORMAT "/%s%s", self->active_profile->profile_id,
                          self->active_profile->profile_type, suffix);
}

static void
on_session_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  NatterAccount *self = NATTER_ACCOUNT (source);
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  g_autoptr (NatterSession) session = NULL;
  g_autoptr (GError) save_error = NULL;
  const char *data;
  gsize length;

  body = natter_account_request_finish (self, result, &error);
  if (body == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  data = g_bytes_get_data (body, &length);
  session = natter_session_parse (data, length, &error);
  if (session == NULL) {
    g_task_return_new_error (task, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_BAD_RESPONSE,
                             "The server's answer did not parse: %s", error->message);
    return;
  }

  if (!natter_token_store_save (self->token_store, self->server_url, session->token, &save_error))
    g_warning ("Cannot keep the token: %s", save_error->message);

  self->token_from_environment = FALSE;
  set_signed_in_state (self, session->token, g_steal_pointer (&session->user));
  remember_server (self);
  choose_active_profile (self);

  g_task_return_boolean (task, TRUE);
}

/**
 * natter_account_register_async:
 * @self: a #NatterAccount
 * @email: the email address
 * @password: the password
 * @display_name: the name others see
 * @profile_types: the profiles to create, for example `{"student", NULL}`
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when signed in or refused
 * @user_data: data for @callback
 *
 * Creates a user and signs in as them.
 */
void
natter_account_register_async (NatterAccount *self,
                               const char *email,
                               const char *password,
                               const char *display_name,
                               const char *const *profile_types,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data)
{
  NatterRegisterRequest request = { 0 };
  g_autoptr (GTask) task = NULL;
  g_autofree char *body = NULL;

  g_return_if_fail (NATTER_IS_ACCOUNT (self));
  g_return_if_fail (email != NULL && password != NULL && display_name != NULL);
  g_return_if_fail (profile_types != NULL && profile_types[0] != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_account_register_async);

  request.email = (char *) email;
  request.password = (char *) password;
  request.display_name = (char *) display_name;
  request.profile_types = (GStrv) profile_types;
  body = natter_register_request_to_json (&request);

  natter_account_request_async (self, "POST", "/api/register", body, cancellable, on_session_answer,
                                g_steal_pointer (&task));
}

/**
 * natter_account_register_finish:
 * @self: a #NatterAccount
 * @result: the result
 * @error: a #GError; %NATTER_ACCOUNT_ERROR_CONFLICT if the email is taken
 *
 * Returns: %TRUE if registered and signed in
 */
gboolean
natter_account_register_finish (NatterAccount *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_account_login_async:
 * @self: a #NatterAccount
 * @email: the email address
 * @password: the password
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when signed in or refused
 * @user_data: data for @callback
 *
 * Signs in and keeps the token.
 */
void
natter_account_login_async (NatterAccount *self,
                            const char *email,
                            const char *password,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer user_data)
{
  NatterLoginRequest request = { 0 };
  g_autoptr (GTask) task = NULL;
  g_autofree char *body = NULL;

  g_return_if_fail (NATTER_IS_ACCOUNT (self));
  g_return_if_fail (email != NULL && password != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_account_login_async);

  request.email = (char *) email;
  request.password = (char *) password;
  body = natter_login_request_to_json (&request);

  natter_account_request_async (self, "POST", "/api/login", body, cancellable, on_session_answer,
                                g_steal_pointer (&task));
}

/**
 * natter_account_login_finish:
 * @self: a #NatterAccount
 * @result: the result
 * @error: a #GError; %NATTER_ACCOUNT_ERROR_UNAUTHORIZED on bad credentials
 *
 * Returns: %TRUE if signed in
 */
gboolean
natter_account_login_finish (NatterAccount *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_me_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  NatterAccount *self = NATTER_ACCOUNT (source);
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  NatterUser *user;
  const char *data;
  gsize length;

  body = natter_account_request_finish (self, result, &error);
  if (body == NULL) {
    /* A refused token is useless: forget it so nobody retries with it. */
    if (g_error_matches (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_UNAUTHORIZED))
      natter_account_forget_token (self);

    /* The server is unreachable, not refusing: work offline as the
     * remembered profile, so the cache shows and the outbox fills; the
     * connection catches up when the server is back. */
    if (error->domain != NATTER_ACCOUNT_ERROR &&
        !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && self->token != NULL &&
        activate_remembered_profile (self)) {
      g_info ("Working offline: %s", error->message);
      g_task_return_boolean (task, TRUE);
      return;
    }

    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  data = g_bytes_get_data (body, &length);
  user = natter_user_parse (data, length, &error);
  if (user == NULL) {
    g_task_return_new_error (task, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_BAD_RESPONSE,
                             "The server's answer did not parse: %s", error->message);
    return;
  }

  set_signed_in_state (self, self->token, user);
  remember_server (self);
  choose_active_profile (self);

  g_task_return_boolean (task, TRUE);
}

/**
 * natter_account_refresh_user_async:
 * @self: a #NatterAccount
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Fetches `/api/me` again: the user and their profiles.
 */
void
natter_account_refresh_user_async (NatterAccount *self,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (NATTER_IS_ACCOUNT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_account_refresh_user_async);

  if (self->token == NULL) {
    g_task_return_new_error (task, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_NO_TOKEN,
                             "Not signed in on %s", self->server_url);
    return;
  }

  natter_account_request_async (self, "GET", "/api/me", NULL, cancellable, on_me_answer,
                                g_steal_pointer (&task));
}

/**
 * natter_account_refresh_user_finish:
 * @self: a #NatterAccount
 * @result: the result
 * @error: a #GError
 *
 * Returns: %TRUE if the user was fetched
 */
gboolean
natter_account_refresh_user_finish (NatterAccount *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_account_restore_async:
 * @self: a #NatterAccount
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when signed in, or not
 * @user_data: data for @callback
 *
 * Signs in with the kept token: `NATTER_TOKEN` from the environment, else
 * the Secret Service, else the fallback file; then fetches `/api/me`.
 */
void
natter_account_restore_async (NatterAccount *self,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *token = NULL;
  const char *environment_token;

  g_return_if_fail (NATTER_IS_ACCOUNT (self));

  environment_token = g_getenv ("NATTER_TOKEN");
  if (environment_token != NULL && environment_token[0] != '\0') {
    token = g_strdup (environment_token);
    self->token_from_environment = TRUE;
  } else {
    token = natter_token_store_lookup (self->token_store, self->server_url, &error);
    if (error != NULL)
      g_warning ("Cannot read the kept token: %s", error->message);
    self->token_from_environment = FALSE;
  }

  if (token != NULL)
    set_signed_in_state (self, token, self->user);

  natter_account_refresh_user_async (self, cancellable, callback, user_data);
}

/**
 * natter_account_restore_finish:
 * @self: a #NatterAccount
 * @result: the result
 * @error: %NATTER_ACCOUNT_ERROR_NO_TOKEN when nobody signed in here,
 *   %NATTER_ACCOUNT_ERROR_UNAUTHORIZED when the token was revoked
 *
 * Returns: %TRUE if signed in
 */
gboolean
natter_account_restore_finish (NatterAccount *self, GAsyncResult *result, GError **error)
{
  return natter_account_refresh_user_finish (self, result, error);
}

/**
 * natter_account_forget_token:
 * @self: a #NatterAccount
 *
 * Signs out locally: drops the token from memory and from where it is kept
 * (not from the environment, which is the script's to change).
 */
void
natter_account_forget_token (NatterAccount *self)
{
  g_autoptr (GError) error = NULL;

  g_return_if_fail (NATTER_IS_ACCOUNT (self));

  if (!self->token_from_environment && !self->secondary &&
      !natter_token_store_clear (self->token_store, self->server_url, &error))
    g_warning ("Cannot remove the kept token: %s", error->message);

  set_signed_in_state (self, NULL, NULL);
  set_active_profile (self, NULL);
}

static void
on_logout_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  NatterAccount *self = NATTER_ACCOUNT (source);
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;

  body = natter_account_request_finish (self, result, &error);

  /* Signed out locally whatever the server said: the user asked for it. */
  natter_account_forget_token (self);

  if (body == NULL &&
      !g_error_matches (error, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_UNAUTHORIZED)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  g_task_return_boolean (task, TRUE);
}

static void
logout (NatterAccount *self,
        const char *path,
        gpointer source_tag,
        GCancellable *cancellable,
        GAsyncReadyCallback callback,
        gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);

  if (self->token == NULL) {
    g_autoptr (GError) error = NULL;
    g_autofree char *token =
      natter_token_store_lookup (self->token_store, self->server_url, &error);

    if (token == NULL) {
      g_task_return_boolean (task, TRUE);
      return;
    }

    set_signed_in_state (self, token, NULL);
  }

  natter_account_request_async (self, "POST", path, NULL, cancellable, on_logout_answer,
                                g_steal_pointer (&task));
}

/**
 * natter_account_logout_async:
 * @self: a #NatterAccount
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * Revokes the token on the server (everywhere) and forgets it here.
 */
void
natter_account_logout_async (NatterAccount *self,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_return_if_fail (NATTER_IS_ACCOUNT (self));

  logout (self, "/api/logout", natter_account_logout_async, cancellable, callback, user_data);
}

/**
 * natter_account_logout_everywhere_async:
 * @self: a #NatterAccount
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done; finish with natter_account_logout_finish()
 * @user_data: data for @callback
 *
 * Signs out everywhere: the server revokes every token of the user (other
 * devices, a lost laptop) and closes their connections; the token is
 * forgotten here too.
 */
void
natter_account_logout_everywhere_async (NatterAccount *self,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer user_data)
{
  g_return_if_fail (NATTER_IS_ACCOUNT (self));

  logout (self, "/api/logout?everywhere=true", natter_account_logout_everywhere_async, cancellable,
          callback, user_data);
}

/**
 * natter_account_logout_finish:
 * @self: a #NatterAccount
 * @result: the result
 * @error: a #GError, if the server could not be told
 *
 * Returns: %TRUE if the server revoked the token
 */
gboolean
natter_account_logout_finish (NatterAccount *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_profile_search_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  GPtrArray *profiles;

  body = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  if (body == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }

  profiles =
    natter_profile_list_parse (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
  if (profiles == NULL)
    g_task_return_new_error (task, NATTER_ACCOUNT_ERROR, NATTER_ACCOUNT_ERROR_BAD_RESPONSE,
                             "Bad directory answer: %s", error->message);
  else
    g_task_return_pointer (task, profiles, (GDestroyNotify) g_ptr_array_unref);
}

/**
 * natter_account_search_profiles_async:
 * @self: a #NatterAccount
 * @query: the name, or part of it, to look for
 * @limit: how many profiles at most, 1 to %NATTER_DIRECTORY_LIMIT_MAX
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: for @callback
 *
 * Searches the server's directory of profiles by display name.
 */
void
natter_account_search_profiles_async (NatterAccount *self,
                                      const char *query,
                                      guint limit,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;

  g_return_if_fail (NATTER_IS_ACCOUNT (self));
  g_return_if_fail (query != NULL);
  g_return_if_fail (limit >= 1 && limit <= NATTER_DIRECTORY_LIMIT_MAX);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_account_search_profiles_async);

  escaped = g_uri_escape_string (query, NULL, FALSE);
  path = g_strdup_printf ("/api/profiles?q=%s&limit=%u", escaped, limit);
  natter_account_request_async (self, "GET", path, NULL, cancellable, on_profile_search_answer,
                                g_steal_pointer (&task));
}

/**
 * natter_account_search_profiles_finish:
 * @self: a #NatterAccount
 * @result: the result
 * @error: a #GError
 *
 * Returns: (transfer full) (element-type NatterProfile) (nullable): the
 *   profiles found, the user's own included; %NULL on error
 */
GPtrArray *
natter_account_search_profiles_finish (NatterAccount *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (NATTER_IS_ACCOUNT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
