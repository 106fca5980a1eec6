/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-outbox"

#include "config.h"

#include "natter-client.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "tcp-proxy.h"

/* The outbox: messages survive reconnects, client restarts and a link
 * that keeps breaking, and arrive exactly once, in order. */

#define N_MESSAGES 300

typedef struct {
  NatterClient *client;
  NatterProfile *profile;
  char *data_dir;
  char *email;
  GPtrArray *received; /* NatterMessage */
  guint sent;
} Side;

typedef struct {
  NatterTestServer *server;
  NatterTcpProxy *proxy;
  char *data_dir;
  Side a;
  Side b;
} Fixture;

static void
on_message_received (NatterClient *client, const NatterMessage *message, Side *side)
{
  g_ptr_array_add (side->received, natter_message_copy (message));
}

static void
on_message_sent (NatterClient *client,
                 const char *client_msg_id,
                 const NatterMessage *message,
                 Side *side)
{
  side->sent++;
}

static void
side_attach (Side *side, const char *url)
{
  side->client = natter_client_new (url, side->data_dir);
  g_signal_connect (side->client, "message-received", G_CALLBACK (on_message_received), side);
  g_signal_connect (side->client, "message-sent", G_CALLBACK (on_message_sent), side);
}

static void
side_detach (Side *side)
{
  if (side->client == NULL)
    return;

  g_signal_handlers_disconnect_by_data (side->client, side);
  g_assert_finalize_object (g_steal_pointer (&side->client));
}

static void
side_login (Side *side, const char *url)
{
  side_attach (side, url);
  natter_test_client_login (side->client, side->email, 5000);
  natter_test_wait_until (natter_test_client_is_connected (side->client), 5000);
}

static void
side_set_up (Fixture *fixture, Side *side, const char *name, const char *type)
{
  g_autoptr (NatterUser) user = NULL;

  side->email = g_strdup_printf ("%s@example.org", name);
  side->data_dir = g_build_filename (fixture->data_dir, name, NULL);
  side->received = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  user =
    natter_test_server_register (fixture->server, side->email, name, type, NULL, &side->profile);
}

static void
side_clear (Side *side)
{
  side_detach (side);
  g_clear_pointer (&side->received, g_ptr_array_unref);
  g_clear_pointer (&side->profile, natter_profile_free);
  g_clear_pointer (&side->data_dir, g_free);
  g_clear_pointer (&side->email, g_free);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  const char *const args[] = { "--chat-rate", "200", "--chat-burst", "400", NULL };
  g_autoptr (GError) error = NULL;

  fixture->server = natter_test_server_new (args);
  fixture->proxy = natter_tcp_proxy_new (natter_test_server_get_port (fixture->server));
  fixture->data_dir = g_dir_make_tmp ("natter-test-outbox-XXXXXX", &error);
  g_assert_no_error (error);

  side_set_up (fixture, &fixture->a, "abebe", "tutor");
  side_set_up (fixture, &fixture->b, "sara", "student");
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  side_clear (&fixture->a);
  side_clear (&fixture->b);
  natter_tcp_proxy_free (fixture->proxy);
  natter_test_server_free (fixture->server);
  natter_test_remove_tree (fixture->data_dir);
  g_free (fixture->data_dir);
}

static guint
count_pending (Side *side)
{
  g_autoptr (GPtrArray) pending =
    natter_store_outbox_list (natter_client_get_store (side->client), 0, TRUE);

  return pending->len;
}

static void
test_survives_client_restart (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_test_server_get_url (fixture->server);
  g_autoptr (GError) error = NULL;
  g_autofree char *client_msg_id = NULL;
  g_autoptr (NatterOutboxEntry) entry = NULL;
  NatterMessage *message;

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);

  /* The server goes away; a message is written while it is gone, then the
   * application quits. */
  natter_test_server_stop (fixture->server);
  natter_test_wait_until (!natter_test_client_is_connected (fixture->a.client), 5000);
  client_msg_id = natter_client_send_message_to_profile (fixture->a.client, fixture->b.profile,
                                                         "written offline", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (count_pending (&fixture->a), ==, 1);
  side_detach (&fixture->a);

  /* A new NatterClient on the same data directory, signing in while the
   * server is still down: it works from the remembered profile. */
  side_attach (&fixture->a, url);
  natter_test_client_sign_in (fixture->a.client, 5000);
  g_assert_nonnull (natter_client_get_store (fixture->a.client));
  entry = natter_store_outbox_lookup (natter_client_get_store (fixture->a.client), client_msg_id);
  g_assert_nonnull (entry);
  g_assert_cmpint (entry->state, ==, NATTER_OUTBOX_PENDING);

  natter_test_server_restart (fixture->server);
  natter_test_wait_until (fixture->a.sent == 1, 15000);
  natter_test_wait_until (fixture->b.received->len == 1, 5000);
  g_assert_cmpuint (count_pending (&fixture->a), ==, 0);

  message = g_ptr_array_index (fixture->b.received, 0);
  g_assert_cmpstr (message->text, ==, "written offline");
  g_assert_cmpstr (message->client_msg_id, ==, client_msg_id);

  /* The restarted client learned who it is once the server answered. */
  natter_test_wait_until (
    natter_account_get_user (natter_client_get_account (fixture->a.client)) != NULL, 5000);
}

typedef struct {
  Fixture *fixture;
  guint a_queued;
  guint b_queued;
  gint64 conversation_id;
  guint source_id;
} Typist;

/* Both sides type a message every 20 ms (about 6 s for 300), whatever
 * state their link is in. */
static gboolean
on_type_some (gpointer user_data)
{
  Typist *typist = user_data;
  Fixture *fixture = typist->fixture;

  for (guint i = 0; i < 1 && typist->a_queued < N_MESSAGES; i++) {
    g_autofree char *text = g_strdup_printf ("a %03u", ++typist->a_queued);
    g_autoptr (GError) error = NULL;
    g_autofree char *id =
      natter_client_send_message (fixture->a.client, typist->conversation_id, text, &error);

    g_assert_no_error (error);
    g_assert_nonnull (id);
  }

  for (guint i = 0; i < 1 && typist->b_queued < N_MESSAGES; i++) {
    g_autofree char *text = g_strdup_printf ("b %03u", ++typist->b_queued);
    g_autoptr (GError) error = NULL;
    g_autofree char *id =
      natter_client_send_message (fixture->b.client, typist->conversation_id, text, &error);

    g_assert_no_error (error);
    g_assert_nonnull (id);
  }

  if (typist->a_queued < N_MESSAGES || typist->b_queued < N_MESSAGES)
    return G_SOURCE_CONTINUE;

  typist->source_id = 0;
  return G_SOURCE_REMOVE;
}

static int
compare_seq (gconstpointer a, gconstpointer b)
{
  const NatterMessage *first = *(NatterMessage **) a;
  const NatterMessage *second = *(NatterMessage **) b;

  return first->seq < second->seq ? -1 : first->seq > second->seq;
}

/* In conversation order (seq, as every view shows it), the sender's
 * messages appear once each, in the order they were written. Arrival
 * order may differ: a replay after a reconnect interleaves with live
 * messages. */
static void
assert_exactly_once_in_order (GPtrArray *received, const char *prefix)
{
  g_autoptr (GPtrArray) by_seq = g_ptr_array_new ();
  guint expected = 0;

  for (guint i = 0; i < received->len; i++) {
    NatterMessage *message = g_ptr_array_index (received, i);

    if (g_str_has_prefix (message->text, prefix))
      g_ptr_array_add (by_seq, message);
  }
  g_ptr_array_sort (by_seq, compare_seq);

  for (guint i = 0; i < by_seq->len; i++) {
    NatterMessage *message = g_ptr_array_index (by_seq, i);
    g_autofree char *text = g_strdup_printf ("%s%03u", prefix, ++expected);

    g_assert_cmpstr (message->text, ==, text);
    if (i > 0)
      g_assert_cmpint (message->seq, >, ((NatterMessage *) g_ptr_array_index (by_seq, i - 1))->seq);
  }

  g_assert_cmpuint (expected, ==, N_MESSAGES);
}

static void
test_random_cuts (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_tcp_proxy_get_url (fixture->proxy);
  const char *seed_text = g_getenv ("NATTER_TEST_PROXY_SEED");
  guint32 seed = seed_text != NULL ? (guint32) g_ascii_strtoull (seed_text, NULL, 10) : 20261122;
  Typist typist = { fixture, 0, 0, 0, 0 };
  gint64 settle;

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);

  g_free (
    natter_client_send_message_to_profile (fixture->a.client, fixture->b.profile, "start", NULL));
  natter_test_wait_until (fixture->b.received->len == 1, 5000);
  typist.conversation_id =
    ((NatterMessage *) g_ptr_array_index (fixture->b.received, 0))->conversation_id;

  g_test_message ("proxy seed %u (NATTER_TEST_PROXY_SEED replays a run)", seed);
  /* Slower runs (NATTER_TEST_TIME_SCALE) cut links that much less often, so a
   * reconnect still has time to send some. */
  natter_tcp_proxy_cut_randomly (fixture->proxy, seed, natter_test_scale_ms (300),
                                 natter_test_scale_ms (1200));
  typist.source_id = g_timeout_add (20, on_type_some, &typist);

  natter_test_wait_until (fixture->a.sent == N_MESSAGES + 1 && fixture->b.sent == N_MESSAGES,
                          120000);
  natter_tcp_proxy_stop_cutting (fixture->proxy);
  natter_test_wait_until (
    fixture->a.received->len >= N_MESSAGES && fixture->b.received->len >= N_MESSAGES + 1, 30000);

  /* Give a duplicate every chance to arrive before counting. */
  settle = g_get_monotonic_time () + 1000 * 1000;
  while (natter_test_iterate_until (settle))
    ;

  g_test_message ("%u cuts", natter_tcp_proxy_get_n_cuts (fixture->proxy));
  g_assert_cmpuint (natter_tcp_proxy_get_n_cuts (fixture->proxy), >=, 3);

  g_assert_cmpuint (fixture->b.received->len, ==, N_MESSAGES + 1);
  g_assert_cmpuint (fixture->a.received->len, ==, N_MESSAGES);
  assert_exactly_once_in_order (fixture->b.received, "a ");
  assert_exactly_once_in_order (fixture->a.received, "b ");
  g_assert_cmpuint (count_pending (&fixture->a), ==, 0);
  g_assert_cmpuint (count_pending (&fixture->b), ==, 0);
  g_assert_cmpuint (natter_store_count_messages (natter_client_get_store (fixture->a.client),
                                                 typist.conversation_id),
                    ==, 2 * N_MESSAGES + 1);

  g_clear_handle_id (&typist.source_id, g_source_remove);
}

/* --- attachments ------------------------------------------------------------ */

#define N_ATTACHMENT_MESSAGES 6
#define ATTACHMENT_BYTES (2 * 1024 * 1024)

/* A file of @size random bytes from @seed under the fixture's folder;
 * returns its path and, in @out_sha256, its SHA-256. */
static char *
write_random_file (Fixture *fixture, const char *name, gsize size, guint32 seed, char **out_sha256)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  g_autofree guint8 *data = g_malloc (size);
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (fixture->data_dir, name, NULL);

  for (gsize i = 0; i < size; i++)
    data[i] = (guint8) g_rand_int (rand);
  g_file_set_contents (path, (const char *) data, size, &error);
  g_assert_no_error (error);
  *out_sha256 = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, size);

  return path;
}

static char *
file_sha256 (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  gsize length;

  g_file_get_contents (path, &data, &length, &error);
  g_assert_no_error (error);

  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guint8 *) data, length);
}

static char *
send_with_file (Side *side, const NatterProfile *peer, const char *text, const char *path)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GError) error = NULL;
  char *client_msg_id;

  g_ptr_array_add (files, g_file_new_for_path (path));
  client_msg_id =
    natter_client_send_message_with_attachments (side->client, 0, peer, text, files, &error);
  g_assert_no_error (error);
  g_assert_nonnull (client_msg_id);

  return client_msg_id;
}

/* The live item of a queued message's first file, as a bubble binds it. */
static NatterAttachmentItem *
outbox_item (Side *side, const char *client_msg_id)
{
  g_autoptr (NatterOutboxEntry) entry =
    natter_store_outbox_lookup (natter_client_get_store (side->client), client_msg_id);

  g_assert_nonnull (entry);
  g_assert_cmpuint (entry->attachments->len, ==, 1);

  return natter_attachment_transfers_item_for_outbox (
    natter_client_get_attachment_transfers (side->client), entry,
    g_ptr_array_index (entry->attachments, 0));
}

typedef struct {
  double highest;
  gboolean restarted; /* progress fell back to 0 after it had moved */
} ProgressWatch;

static void
on_progress (NatterAttachmentItem *item, GParamSpec *pspec, ProgressWatch *watch)
{
  double progress = natter_attachment_item_get_progress (item);

  if (progress == 0 && watch->highest > 0)
    watch->restarted = TRUE;
  watch->highest = MAX (watch->highest, progress);
}

static void
on_download_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  char **out_path = user_data;
  g_autoptr (GError) error = NULL;

  *out_path = natter_client_download_attachment_finish (NATTER_CLIENT (source), result, &error);
  g_assert_no_error (error);
  g_assert_nonnull (*out_path);
}

static char *
download (Side *side, gint64 attachment_id)
{
  char *path = NULL;

  natter_client_download_attachment_async (side->client, attachment_id, NULL, on_download_done,
                                           &path);
  natter_test_wait_until (path != NULL, 20000);

  return path;
}

/* Messages with files while the proxy cuts every link at random, and one
 * cut made on purpose in the middle of the first upload: each message
 * arrives exactly once, in order, with its file byte-identical. */
static void
test_attachments_random_cuts (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_tcp_proxy_get_url (fixture->proxy);
  const char *seed_text = g_getenv ("NATTER_TEST_PROXY_SEED");
  guint32 seed = seed_text != NULL ? (guint32) g_ascii_strtoull (seed_text, NULL, 10) : 20261206;
  char *sha256s[N_ATTACHMENT_MESSAGES] = { NULL };
  char *ids[N_ATTACHMENT_MESSAGES] = { NULL };
  g_autoptr (NatterAttachmentItem) first = NULL;
  ProgressWatch watch = { 0, FALSE };
  gint64 settle;

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);

  for (guint i = 0; i < N_ATTACHMENT_MESSAGES; i++) {
    g_autofree char *name = g_strdup_printf ("worksheet-%u.pdf", i + 1);
    g_autofree char *path =
      write_random_file (fixture, name, ATTACHMENT_BYTES, seed + i, &sha256s[i]);
    g_autofree char *text = g_strdup_printf ("file %03u", i + 1);

    ids[i] = send_with_file (&fixture->a, fixture->b.profile, text, path);
    if (i == 0) {
      first = outbox_item (&fixture->a, ids[0]);
      g_signal_connect (first, "notify::progress", G_CALLBACK (on_progress), &watch);
    }
  }

  /* The first file is going up: cut it in the middle. */
  natter_test_wait_until (
    watch.highest > 0.2 || natter_attachment_item_get_attachment_id (first) > 0, 10000);
  g_assert_cmpint (natter_attachment_item_get_attachment_id (first), ==, 0);
  natter_tcp_proxy_cut_all (fixture->proxy);

  g_test_message ("proxy seed %u (NATTER_TEST_PROXY_SEED replays a run)", seed);
  natter_tcp_proxy_cut_randomly (fixture->proxy, seed, natter_test_scale_ms (200),
                                 natter_test_scale_ms (900));
  natter_test_wait_until (fixture->a.sent == N_ATTACHMENT_MESSAGES, 90000);
  natter_tcp_proxy_stop_cutting (fixture->proxy);
  natter_test_wait_until (fixture->b.received->len >= N_ATTACHMENT_MESSAGES, 30000);

  settle = g_get_monotonic_time () + 1000 * 1000;
  while (natter_test_iterate_until (settle))
    ;

  g_test_message ("%u cuts", natter_tcp_proxy_get_n_cuts (fixture->proxy));
  g_assert_true (watch.restarted);
  g_assert_cmpfloat (natter_attachment_item_get_progress (first), ==, 1.0);
  g_assert_cmpint (natter_attachment_item_get_attachment_id (first), >, 0);
  g_assert_cmpuint (fixture->b.received->len, ==, N_ATTACHMENT_MESSAGES);
  g_assert_cmpuint (count_pending (&fixture->a), ==, 0);

  /* In conversation order, as a view shows them: a replay after B's
   * reconnect can arrive after a message sent live meanwhile. */
  g_ptr_array_sort (fixture->b.received, compare_seq);
  for (guint i = 0; i < N_ATTACHMENT_MESSAGES; i++) {
    NatterMessage *message = g_ptr_array_index (fixture->b.received, i);
    NatterAttachment *attachment;
    g_autofree char *text = g_strdup_printf ("file %03u", i + 1);
    g_autofree char *path = NULL;
    g_autofree char *sha256 = NULL;

    /* One sender, one outbox: conversation order is writing order. */
    g_assert_cmpstr (message->text, ==, text);
    if (i > 0)
      g_assert_cmpint (message->seq, >,
                       ((NatterMessage *) g_ptr_array_index (fixture->b.received, i - 1))->seq);
    g_assert_cmpstr (message->client_msg_id, ==, ids[i]);
    g_assert_nonnull (message->attachments);
    g_assert_cmpuint (message->attachments->len, ==, 1);
    attachment = g_ptr_array_index (message->attachments, 0);
    g_assert_cmpint (attachment->size, ==, ATTACHMENT_BYTES);
    g_assert_cmpstr (attachment->sha256, ==, sha256s[i]);

    path = download (&fixture->b, attachment->attachment_id);
    sha256 = file_sha256 (path);
    g_assert_cmpstr (sha256, ==, sha256s[i]);
  }

  for (guint i = 0; i < N_ATTACHMENT_MESSAGES; i++) {
    g_free (sha256s[i]);
    g_free (ids[i]);
  }
}

/* A message whose upload is under way when the application quits goes,
 * once, after the restart: the file is uploaded again from its start. */
static void
test_attachments_survive_client_restart (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_test_server_get_url (fixture->server);
  g_autofree char *sha256 = NULL;
  g_autofree char *path = write_random_file (fixture, "photo.jpg", 8 * 1024 * 1024, 7, &sha256);
  g_autofree char *client_msg_id = NULL;
  g_autoptr (NatterAttachmentItem) item = NULL;
  ProgressWatch watch = { 0, FALSE };
  NatterMessage *message;
  gint64 settle;

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);

  client_msg_id = send_with_file (&fixture->a, fixture->b.profile, NULL, path);
  item = outbox_item (&fixture->a, client_msg_id);
  g_signal_connect (item, "notify::progress", G_CALLBACK (on_progress), &watch);
  natter_test_wait_until (watch.highest > 0.1 || fixture->a.sent > 0, 10000);
  g_signal_handlers_disconnect_by_data (item, &watch);
  g_assert_cmpuint (fixture->a.sent, ==, 0);
  side_detach (&fixture->a);

  side_login (&fixture->a, url);
  natter_test_wait_until (fixture->a.sent == 1, 30000);
  natter_test_wait_until (fixture->b.received->len == 1, 5000);
  settle = g_get_monotonic_time () + 500 * 1000;
  while (natter_test_iterate_until (settle))
    ;

  g_assert_cmpuint (fixture->b.received->len, ==, 1);
  message = g_ptr_array_index (fixture->b.received, 0);
  g_assert_cmpstr (message->client_msg_id, ==, client_msg_id);
  /* No text given: the file's name, for clients that show no files. */
  g_assert_cmpstr (message->text, ==, "photo.jpg");
  g_assert_cmpuint (message->attachments->len, ==, 1);
  g_assert_cmpstr (((NatterAttachment *) g_ptr_array_index (message->attachments, 0))->sha256, ==,
                   sha256);
}

/* Cancel during the upload takes the message back: it is never sent. */
static void
test_attachments_cancel (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_test_server_get_url (fixture->server);
  g_autofree char *sha256 = NULL;
  g_autofree char *path = write_random_file (fixture, "big.bin", 16 * 1024 * 1024, 9, &sha256);
  g_autofree char *client_msg_id = NULL;
  g_autoptr (NatterAttachmentItem) item = NULL;
  g_autoptr (GError) error = NULL;
  ProgressWatch watch = { 0, FALSE };
  gint64 settle;

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);

  client_msg_id = send_with_file (&fixture->a, fixture->b.profile, "big one", path);
  item = outbox_item (&fixture->a, client_msg_id);
  g_assert_cmpint (natter_attachment_item_get_state (item), ==, NATTER_ATTACHMENT_STATE_UPLOADING);
  g_signal_connect (item, "notify::progress", G_CALLBACK (on_progress), &watch);
  natter_test_wait_until (watch.highest > 0.05 || fixture->a.sent > 0, 10000);
  g_signal_handlers_disconnect_by_data (item, &watch);

  g_assert_true (natter_client_cancel_message (fixture->a.client, client_msg_id, &error));
  g_assert_no_error (error);
  g_assert_cmpint (natter_attachment_item_get_state (item), ==, NATTER_ATTACHMENT_STATE_CANCELLED);
  g_assert_cmpuint (count_pending (&fixture->a), ==, 0);

  /* Taken back once; a second cancel finds nothing. */
  g_assert_false (natter_client_cancel_message (fixture->a.client, client_msg_id, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);

  /* The next message still goes: the cancelled upload holds nothing up. */
  g_free (
    natter_client_send_message_to_profile (fixture->a.client, fixture->b.profile, "after", NULL));
  natter_test_wait_until (fixture->b.received->len == 1, 10000);
  settle = g_get_monotonic_time () + 500 * 1000;
  while (natter_test_iterate_until (settle))
    ;
  g_assert_cmpuint (fixture->b.received->len, ==, 1);
  g_assert_cmpstr (((NatterMessage *) g_ptr_array_index (fixture->b.received, 0))->text, ==,
                   "after");
  g_assert_cmpuint (fixture->a.sent, ==, 1);
}

/* The download cache keeps at most its limit, evicting the least recently
 * used copy; exactly at the limit nothing goes. */
static void
test_attachments_cache_limit (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_test_server_get_url (fixture->server);
  const gsize size = 100 * 1024;
  char *paths[3] = { NULL };
  char *sha256s[3] = { NULL };
  char *cached[3] = { NULL };
  gint64 attachment_ids[3];
  g_autofree char *again = NULL;

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);
  natter_client_set_attachment_cache_limit (fixture->b.client, 2 * size);

  for (guint i = 0; i < 3; i++) {
    g_autofree char *name = g_strdup_printf ("page-%u.png", i);
    g_autofree char *id = NULL;

    paths[i] = write_random_file (fixture, name, size, 100 + i, &sha256s[i]);
    id = send_with_file (&fixture->a, fixture->b.profile, NULL, paths[i]);
    natter_test_wait_until (fixture->b.received->len == i + 1, 10000);
    attachment_ids[i] =
      ((NatterAttachment *) g_ptr_array_index (
         ((NatterMessage *) g_ptr_array_index (fixture->b.received, i))->attachments, 0))
        ->attachment_id;
  }

  cached[0] = download (&fixture->b, attachment_ids[0]);
  cached[1] = download (&fixture->b, attachment_ids[1]);
  /* Exactly at the limit: both stay. */
  g_assert_true (g_file_test (cached[0], G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (cached[1], G_FILE_TEST_EXISTS));
  g_assert_cmpint (natter_store_get_cache_size (natter_client_get_store (fixture->b.client)), ==,
                   2 * size);

  /* One byte over: the least recently used goes. */
  cached[2] = download (&fixture->b, attachment_ids[2]);
  g_assert_false (g_file_test (cached[0], G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (cached[1], G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (cached[2], G_FILE_TEST_EXISTS));
  g_assert_cmpint (natter_store_get_cache_size (natter_client_get_store (fixture->b.client)), ==,
                   2 * size);

  /* Evicted is not lost: it comes down again, checked. */
  again = download (&fixture->b, attachment_ids[0]);
  {
    g_autofree char *sha256 = file_sha256 (again);

    g_assert_cmpstr (sha256, ==, sha256s[0]);
  }
  g_assert_false (g_file_test (cached[1], G_FILE_TEST_EXISTS));

  for (guint i = 0; i < 3; i++) {
    g_free (paths[i]);
    g_free (sha256s[i]);
    g_free (cached[i]);
  }
}

typedef struct {
  char *client_msg_id;
  char *code;
} Failure;

static void
on_message_failed (NatterClient *client,
                   const char *client_msg_id,
                   const char *code,
                   const char *message,
                   Failure *failure)
{
  g_free (failure->client_msg_id);
  g_free (failure->code);
  failure->client_msg_id = g_strdup (client_msg_id);
  failure->code = g_strdup (code);
}

/* The server's upload limit, at its edge: a file of exactly the limit
 * goes; one byte more fails the message for good (kept, retryable), and
 * the outbox goes on with the next message instead of trying forever. */
static void
test_attachments_over_the_server_limit (Fixture *fixture, gconstpointer data)
{
  const char *const args[] = { "--chat-rate", "200", "--chat-burst", "400", "--max-attachment-size",
                               "100000",      NULL };
  const char *url = natter_test_server_get_url (fixture->server);
  g_autofree char *at_sha256 = NULL;
  g_autofree char *over_sha256 = NULL;
  g_autofree char *at_limit = write_random_file (fixture, "at.bin", 100000, 1, &at_sha256);
  g_autofree char *over_limit = write_random_file (fixture, "over.bin", 100001, 2, &over_sha256);
  g_autofree char *over_id = NULL;
  g_autofree char *at_id = NULL;
  g_autoptr (NatterOutboxEntry) entry = NULL;
  g_autoptr (NatterAttachmentItem) item = NULL;
  Failure failure = { NULL, NULL };
  NatterMessage *message;

  natter_test_server_set_extra_args (fixture->server, args);
  natter_test_server_restart (fixture->server);
  url = natter_test_server_get_url (fixture->server);
  side_login (&fixture->a, url);
  side_login (&fixture->b, url);
  g_signal_connect (fixture->a.client, "message-failed", G_CALLBACK (on_message_failed), &failure);

  over_id = send_with_file (&fixture->a, fixture->b.profile, "too big", over_limit);
  item = outbox_item (&fixture->a, over_id);
  at_id = send_with_file (&fixture->a, fixture->b.profile, "just fits", at_limit);

  natter_test_wait_until (failure.client_msg_id != NULL, 10000);
  g_assert_cmpstr (failure.client_msg_id, ==, over_id);
  g_assert_cmpstr (failure.code, ==, "too_large");
  g_assert_cmpint (natter_attachment_item_get_state (item), ==, NATTER_ATTACHMENT_STATE_FAILED);
  g_assert_nonnull (natter_attachment_item_get_error (item));
  entry = natter_store_outbox_lookup (natter_client_get_store (fixture->a.client), over_id);
  g_assert_nonnull (entry);
  g_assert_cmpint (entry->state, ==, NATTER_OUTBOX_FAILED);

  natter_test_wait_until (fixture->b.received->len == 1, 10000);
  message = g_ptr_array_index (fixture->b.received, 0);
  g_assert_cmpstr (message->client_msg_id, ==, at_id);
  g_assert_cmpstr (((NatterAttachment *) g_ptr_array_index (message->attachments, 0))->sha256, ==,
                   at_sha256);

  g_signal_handlers_disconnect_by_data (fixture->a.client, &failure);
  g_free (failure.client_msg_id);
  g_free (failure.code);
}

static void
on_download_cancelled (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GError **out_error = user_data;
  g_autofree char *path = NULL;

  path = natter_client_download_attachment_finish (NATTER_CLIENT (source), result, out_error);
  g_assert_null (path);
}

/* What a bubble binds: the receiver's message row holds the attachment
 * item, whose progress and state follow the download; a cancelled
 * download says so and leaves nothing in the cache. */
static void
test_attachments_download_progress_and_cancel (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_test_server_get_url (fixture->server);
  g_autofree char *sha256 = NULL;
  g_autofree char *path = write_random_file (fixture, "scan.pdf", 8 * 1024 * 1024, 11, &sha256);
  g_autofree char *client_msg_id = NULL;
  g_autofree char *cached = NULL;
  g_autoptr (NatterMessageList) list = NULL;
  g_autoptr (NatterMessageItem) row = NULL;
  g_autoptr (NatterAttachmentItem) item = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  ProgressWatch watch = { 0, FALSE };
  NatterMessage *message;
  GListModel *attachments;

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);
  client_msg_id = send_with_file (&fixture->a, fixture->b.profile, NULL, path);
  natter_test_wait_until (fixture->b.received->len == 1, 20000);
  message = g_ptr_array_index (fixture->b.received, 0);

  list = natter_client_open_conversation (fixture->b.client, message->conversation_id);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 1);
  row = g_list_model_get_item (G_LIST_MODEL (list), 0);
  attachments = natter_message_item_get_attachments (row);
  g_assert_cmpuint (g_list_model_get_n_items (attachments), ==, 1);
  item = g_list_model_get_item (attachments, 0);
  g_assert_cmpstr (natter_attachment_item_get_name (item), ==, "scan.pdf");
  g_assert_cmpstr (natter_attachment_item_get_content_type (item), ==, "application/pdf");
  g_assert_cmpint (natter_attachment_item_get_size (item), ==, 8 * 1024 * 1024);
  g_assert_cmpint (natter_attachment_item_get_state (item), ==, NATTER_ATTACHMENT_STATE_REMOTE);
  g_assert_null (natter_attachment_item_get_local_path (item));
  g_signal_connect (item, "notify::progress", G_CALLBACK (on_progress), &watch);

  /* Cancelled on its way. */
  natter_client_download_attachment_async (fixture->b.client,
                                           natter_attachment_item_get_attachment_id (item),
                                           cancellable, on_download_cancelled, &error);
  g_assert_cmpint (natter_attachment_item_get_state (item), ==,
                   NATTER_ATTACHMENT_STATE_DOWNLOADING);
  natter_test_wait_until (watch.highest > 0, 10000);
  g_cancellable_cancel (cancellable);
  natter_test_wait_until (error != NULL, 10000);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (natter_attachment_item_get_state (item), ==, NATTER_ATTACHMENT_STATE_CANCELLED);
  g_assert_null (natter_attachment_item_get_local_path (item));
  g_assert_cmpint (natter_store_get_cache_size (natter_client_get_store (fixture->b.client)), ==,
                   0);

  /* Then whole: progress to 1, the verified copy is the item's file. */
  watch.highest = 0;
  cached = download (&fixture->b, natter_attachment_item_get_attachment_id (item));
  g_assert_cmpint (natter_attachment_item_get_state (item), ==, NATTER_ATTACHMENT_STATE_DOWNLOADED);
  g_assert_cmpfloat (natter_attachment_item_get_progress (item), ==, 1.0);
  g_assert_cmpstr (natter_attachment_item_get_local_path (item), ==, cached);
  {
    g_autofree char *received = file_sha256 (cached);

    g_assert_cmpstr (received, ==, sha256);
  }
  g_signal_handlers_disconnect_by_data (item, &watch);
}

/* A download cut by the network goes on where it stopped (a Range
 * request): progress never falls back to 0, and the file is whole. */
static void
test_attachments_download_goes_on_after_a_cut (Fixture *fixture, gconstpointer data)
{
  const char *url = natter_tcp_proxy_get_url (fixture->proxy);
  g_autofree char *sha256 = NULL;
  g_autofree char *path = write_random_file (fixture, "scan.pdf", 16 * 1024 * 1024, 12, &sha256);
  g_autofree char *client_msg_id = NULL;
  g_autofree char *cached = NULL;
  g_autofree char *received = NULL;
  g_autoptr (NatterMessageList) list = NULL;
  g_autoptr (NatterMessageItem) row = NULL;
  g_autoptr (NatterAttachmentItem) item = NULL;
  ProgressWatch watch = { 0, FALSE };
  NatterMessage *message;
  guint cuts;

  side_login (&fixture->a, url);
  side_login (&fixture->b, url);
  client_msg_id = send_with_file (&fixture->a, fixture->b.profile, NULL, path);
  natter_test_wait_until (fixture->b.received->len == 1, 30000);
  message = g_ptr_array_index (fixture->b.received, 0);
  list = natter_client_open_conversation (fixture->b.client, message->conversation_id);
  row = g_list_model_get_item (G_LIST_MODEL (list), 0);
  item = g_list_model_get_item (natter_message_item_get_attachments (row), 0);
  g_signal_connect (item, "notify::progress", G_CALLBACK (on_progress), &watch);

  natter_client_download_attachment_async (fixture->b.client,
                                           natter_attachment_item_get_attachment_id (item), NULL,
                                           on_download_done, &cached);
  natter_test_wait_until (watch.highest > 0 || cached != NULL, 10000);
  g_assert_null (cached);
  cuts = natter_tcp_proxy_get_n_cuts (fixture->proxy);
  natter_tcp_proxy_cut_all (fixture->proxy);
  g_assert_cmpuint (natter_tcp_proxy_get_n_cuts (fixture->proxy), >, cuts);

  natter_test_wait_until (cached != NULL, 30000);
  g_assert_false (watch.restarted);
  g_assert_cmpint (natter_attachment_item_get_state (item), ==, NATTER_ATTACHMENT_STATE_DOWNLOADED);
  received = file_sha256 (cached);
  g_assert_cmpstr (received, ==, sha256);
  g_signal_handlers_disconnect_by_data (item, &watch);
}

int
main (int argc, char **argv)
{
  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
  g_setenv ("NATTER_CHAT_RATE", "150", TRUE);
  g_setenv ("NATTER_CHAT_BURST", "300", TRUE);
  g_unsetenv ("NATTER_TOKEN");
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/natter/outbox/survives-client-restart", test_survives_client_restart);
  ADD ("/natter/outbox/random-cuts-300-each-exactly-once-in-order", test_random_cuts);
  ADD ("/natter/outbox/attachments-random-cuts-each-exactly-once-byte-identical",
       test_attachments_random_cuts);
  ADD ("/natter/outbox/attachments-survive-client-restart",
       test_attachments_survive_client_restart);
  ADD ("/natter/outbox/attachments-cancel-takes-the-message-back", test_attachments_cancel);
  ADD ("/natter/outbox/attachments-cache-limit-evicts-least-recently-used",
       test_attachments_cache_limit);
  ADD ("/natter/outbox/attachments-download-progress-and-cancel",
       test_attachments_download_progress_and_cancel);
  ADD ("/natter/outbox/attachments-download-goes-on-after-a-cut",
       test_attachments_download_goes_on_after_a_cut);
  ADD ("/natter/outbox/attachments-over-the-server-limit-fail-for-good",
       test_attachments_over_the_server_limit);
#undef ADD

  return g_test_run ();
}
