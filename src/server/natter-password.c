/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-password"

#include "config.h"

#include <argon2.h>
#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/random.h>

#include "natter-password.h"

#define SALT_BYTES 16
#define HASH_BYTES 32
#define TOKEN_BYTES 32

/**
 * natter_random_bytes:
 * @buffer: (out caller-allocates) (array length=length): where to write
 * @length: how many bytes
 * @error: a #GIOError if the kernel refused
 *
 * Fills @buffer from the kernel's cryptographic generator (getrandom(2));
 * GRand is not fit for secrets.
 *
 * Returns: %TRUE on success
 */
gboolean
natter_random_bytes (guint8 *buffer, gsize length, GError **error)
{
  gsize done = 0;

  while (done < length) {
    ssize_t n = getrandom (buffer + done, length - done, 0);

    if (n < 0) {
      int saved_errno = errno;

      if (saved_errno == EINTR)
        continue;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "getrandom: %s",
                   g_strerror (saved_errno));
      return FALSE;
    }
    done += (gsize) n;
  }

  return TRUE;
}

/* argon2's memory cost in KiB. NATTER_TEST_INSECURE_PASSWORD_HASH=1 makes
 * it 64 KiB (and one pass) for test runs under valgrind, where every 19 MiB
 * hash takes seconds; the encoded hash names its parameters, so
 * verification works whichever way a hash was made. The switch exists only
 * in builds with test hooks (meson -Dtest_hooks, on in debug and
 * debugoptimized builds only). */
static guint32
memory_cost_kib (guint32 *out_passes)
{
  static gsize insecure_once;
  static gboolean insecure;

  if (g_once_init_enter (&insecure_once)) {
#if NATTER_TEST_HOOKS
    insecure = g_strcmp0 (g_getenv ("NATTER_TEST_INSECURE_PASSWORD_HASH"), "1") == 0;
#else
    insecure = FALSE;
#endif
    if (insecure)
      g_warning ("NATTER_TEST_INSECURE_PASSWORD_HASH=1: passwords are hashed with test "
                 "parameters, not fit for real accounts");
    g_once_init_leave (&insecure_once, 1);
  }

  *out_passes = insecure ? 1 : NATTER_PASSWORD_PASSES;
  return insecure ? 64 : NATTER_PASSWORD_MEMORY_KIB;
}

/**
 * natter_password_hash:
 * @password: the password
 * @error: on failure
 *
 * Hashes with argon2id (19 MiB, t=2, p=1) and a random 128-bit salt. Slow on
 * purpose: call it from a worker thread.
 *
 * Returns: (transfer full): the encoded hash string ("$argon2id$v=19$…")
 */
char *
natter_password_hash (const char *password, GError **error)
{
  guint8 salt[SALT_BYTES];
  gsize encoded_length;
  g_autofree char *encoded = NULL;
  guint32 passes;
  guint32 memory_kib = memory_cost_kib (&passes);
  int rc;

  g_return_val_if_fail (password != NULL, NULL);

  if (!natter_random_bytes (salt, sizeof salt, error))
    return NULL;

  encoded_length = argon2_encodedlen (passes, memory_kib, NATTER_PASSWORD_LANES, SALT_BYTES,
                                      HASH_BYTES, Argon2_id);
  encoded = g_malloc0 (encoded_length);
  rc =
    argon2id_hash_encoded (passes, memory_kib, NATTER_PASSWORD_LANES, password, strlen (password),
                           salt, SALT_BYTES, HASH_BYTES, encoded, encoded_length);
  if (rc != ARGON2_OK) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "argon2id: %s", argon2_error_message (rc));
    return NULL;
  }

  return g_steal_pointer (&encoded);
}

/**
 * natter_password_verify:
 * @encoded_hash: a string from natter_password_hash()
 * @password: the password to check
 *
 * Constant-time comparison through argon2id_verify.
 *
 * Returns: whether @password matches
 */
gboolean
natter_password_verify (const char *encoded_hash, const char *password)
{
  g_return_val_if_fail (encoded_hash != NULL, FALSE);
  g_return_val_if_fail (password != NULL, FALSE);

  return argon2id_verify (encoded_hash, password, strlen (password)) == ARGON2_OK;
}

/**
 * natter_password_get_dummy_hash:
 *
 * A hash of a random password, made once with the same parameters as real
 * ones, so that a login for an unknown email costs what a wrong password costs.
 *
 * Returns: (transfer none): the encoded hash
 */
const char *
natter_password_get_dummy_hash (void)
{
  static char *dummy_hash;

  if (g_once_init_enter (&dummy_hash)) {
    guint8 secret[16];
    g_autofree char *password = NULL;
    char *hash;

    if (!natter_random_bytes (secret, sizeof secret, NULL))
      memset (secret, 0x5a, sizeof secret);
    password = g_base64_encode (secret, sizeof secret);
    hash = natter_password_hash (password, NULL);
    if (hash == NULL)
      g_error ("argon2id cannot hash; the server cannot check passwords");
    g_once_init_leave (&dummy_hash, hash);
  }

  return dummy_hash;
}

/**
 * natter_password_verify_dummy:
 * @password: the password that was sent
 *
 * Spends the time of one verification and forgets the result.
 */
void
natter_password_verify_dummy (const char *password)
{
  g_return_if_fail (password != NULL);

  (void) natter_password_verify (natter_password_get_dummy_hash (), password);
}

static char *
base64url (const guint8 *data, gsize length)
{
  g_autofree char *base64 = g_base64_encode (data, length);
  GString *out = g_string_sized_new (strlen (base64));

  for (const char *p = base64; *p != '\0' && *p != '='; p++) {
    if (*p == '+')
      g_string_append_c (out, '-');
    else if (*p == '/')
      g_string_append_c (out, '_');
    else
      g_string_append_c (out, *p);
  }

  return g_string_free (out, FALSE);
}

/**
 * natter_token_generate:
 * @error: if the kernel has no randomness to give
 *
 * Returns: (transfer full): 256 random bits, base64url without padding
 */
char *
natter_token_generate (GError **error)
{
  guint8 bytes[TOKEN_BYTES];
  char *token;

  if (!natter_random_bytes (bytes, sizeof bytes, error))
    return NULL;
  token = base64url (bytes, sizeof bytes);
  memset (bytes, 0, sizeof bytes);

  return token;
}

/**
 * natter_token_hash:
 * @token: a bearer token
 *
 * Only this hash is stored: a leaked database gives no usable token.
 *
 * Returns: (transfer full): SHA-256 of @token in lowercase hex
 */
char *
natter_token_hash (const char *token)
{
  g_return_val_if_fail (token != NULL, NULL);

  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, token, -1);
}

/**
 * natter_turn_credential:
 * @secret: the TURN server's shared secret
 * @username: "expiry_unix:user_id"
 *
 * The TURN REST API credential that coturn's use-auth-secret checks.
 *
 * Returns: (transfer full): base64 of HMAC-SHA1 (@secret, @username)
 */
char *
natter_turn_credential (const char *secret, const char *username)
{
  g_autoptr (GHmac) hmac = NULL;
  guint8 digest[20];
  gsize digest_length = sizeof digest;

  g_return_val_if_fail (secret != NULL, NULL);
  g_return_val_if_fail (username != NULL, NULL);

  hmac = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) secret, strlen (secret));
  g_hmac_update (hmac, (const guchar *) username, -1);
  g_hmac_get_digest (hmac, digest, &digest_length);

  return g_base64_encode (digest, digest_length);
}
