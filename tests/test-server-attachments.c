/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-server-attachments"

/* Attachments against the real natter-server (issue 18, PROTOCOL.md 1.1):
 * uploads streamed over a raw socket (so a test can send slowly, in
 * chunks, or stop half way), downloads with Range and ETag, chat messages
 * that carry them, the limits at their edges, and unsent expiry. */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "natter-attachment.h"
#include "natter-http-body.h"
#include "natter-test-ws.h"

#define LIMIT_BYTES 100000
#define QUOTA_BYTES 250000

typedef struct {
  NatterTestServer *server;
  NatterTestPeer *alem;   /* tutor */
  NatterTestPeer *bethel; /* student, Alem's conversation partner */
  NatterTestPeer *chala;  /* a stranger to their conversation */
  gint64 conversation_id; /* Alem and Bethel */
} Fixture;

static const char *const limit_args[] = { "--max-attachment-size", G_STRINGIFY (LIMIT_BYTES),
                                          "--attachment-quota", G_STRINGIFY (QUOTA_BYTES), NULL };
static const char *const expiry_args[] = { "--attachment-unsent-lifetime", "1", NULL };
/* --attachments-dir and a folder made in main(). */
static const char *folder_args[] = { "--attachments-dir", NULL, NULL };

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  fixture->server = natter_test_server_new (data);
  fixture->alem = natter_test_peer_new (fixture->server, "alem", "tutor");
  fixture->bethel = natter_test_peer_new (fixture->server, "bethel", "student");
  fixture->chala = natter_test_peer_new (fixture->server, "chala", "student");
  fixture->conversation_id =
    natter_test_peer_conversation_with (fixture->server, fixture->alem, fixture->bethel);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_clear_pointer (&fixture->alem, natter_test_peer_free);
  g_clear_pointer (&fixture->bethel, natter_test_peer_free);
  g_clear_pointer (&fixture->chala, natter_test_peer_free);
  g_clear_pointer (&fixture->server, natter_test_server_free);
}

/* One HTTP/1.1 answer, read to the end of the connection. */
typedef struct {
  guint status;
  GHashTable *headers; /* lowercase name -> value */
  GBytes *body;
} Response;

static void
response_free (Response *response)
{
  g_clear_pointer (&response->headers, g_hash_table_unref);
  g_clear_pointer (&response->body, g_bytes_unref);
  g_free (response);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Response, response_free)

static const char *
header (Response *response, const char *name)
{
  return g_hash_table_lookup (response->headers, name);
}

static char *
attachments_folder (Fixture *fixture)
{
  g_autofree char *db_folder =
    g_path_get_dirname (natter_test_server_get_db_path (fixture->server));

  return g_build_filename (db_folder, "attachments", NULL);
}

static GSocketConnection *
connect_raw (Fixture *fixture)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GError) error = NULL;
  GSocketConnection *connection;

  g_socket_client_set_timeout (client, natter_test_scale_ms (10000) / 1000);
  connection = g_socket_client_connect_to_host (
    client, "127.0.0.1", (guint16) natter_test_server_get_port (fixture->server), NULL, &error);
  g_assert_no_error (error);

  return connection;
}

static gboolean
send_raw (GSocketConnection *connection, const void *data, gsize size)
{
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));

  return g_output_stream_write_all (out, data, size, NULL, NULL, NULL);
}

static Response *
read_response (GSocketConnection *connection)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  g_autoptr (GByteArray) data = g_byte_array_new ();
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;
  Response *response = g_new0 (Response, 1);
  guint8 buffer[64 * 1024];
  const char *end;
  gsize head_length;
  gssize n;

  while ((n = g_input_stream_read (in, buffer, sizeof buffer, NULL, &error)) > 0)
    g_byte_array_append (data, buffer, (guint) n);
  g_assert_no_error (error);

  end = g_strstr_len ((const char *) data->data, data->len, "\r\n\r\n");
  g_assert_nonnull (end);
  head_length = (gsize) (end - (const char *) data->data);
  {
    g_autofree char *head = g_strndup ((const char *) data->data, head_length);

    lines = g_strsplit (head, "\r\n", -1);
  }
  g_assert_true (g_str_has_prefix (lines[0], "HTTP/1.1 "));
  response->status = (guint) g_ascii_strtoull (lines[0] + 9, NULL, 10);
  response->headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (guint i = 1; lines[i] != NULL; i++) {
    const char *colon = strchr (lines[i], ':');

    g_assert_nonnull (colon);
    g_hash_table_replace (response->headers, g_ascii_strdown (lines[i], colon - lines[i]),
                          g_strstrip (g_strdup (colon + 1)));
  }
  response->body = g_bytes_new (data->data + head_length + 4, data->len - head_length - 4);

  return response;
}

static char *
upload_path (NatterTestPeer *peer, gint64 conversation_id, const char *query)
{
  return g_strdup_printf (
    "/api/as/%" G_GINT64_FORMAT "/%s/conversations/%" G_GINT64_FORMAT "/attachments?%s",
    peer->profile->profile_id, peer->profile->profile_type, conversation_id, query);
}

/* Sends the request line and headers of an upload of @length bytes. */
static GSocketConnection *
start_upload (
  Fixture *fixture, const char *token, const char *path, const char *content_type, gssize length)
{
  GSocketConnection *connection = connect_raw (fixture);
  g_autofree char *framing =
    length >= 0 ? g_strdup_printf ("Content-Length: %" G_GSSIZE_FORMAT "\r\n", length)
                : g_strdup ("Transfer-Encoding: chunked\r\n");
  g_autofree char *head = g_strdup_printf (
    "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s"
    "Content-Type: %s\r\n%s\r\n",
    path, token != NULL ? "Authorization: Bearer " : "", token != NULL ? token : "",
    token != NULL ? "\r\n" : "", content_type, framing);

  g_assert_true (send_raw (connection, head, strlen (head)));
  return connection;
}

/* Uploads @data whole; the body is sent only when @send_body (a refusal
 * at the headers reads none of it). */
static Response *
upload_full (Fixture *fixture,
             NatterTestPeer *peer,
             gint64 conversation_id,
             const char *query,
             const char *content_type,
             GBytes *data,
             gboolean send_body)
{
  g_autofree char *path = upload_path (peer, conversation_id, query);
  g_autoptr (GSocketConnection) connection =
    start_upload (fixture, peer->token, path, content_type, (gssize) g_bytes_get_size (data));

  if (send_body)
    send_raw (connection, g_bytes_get_data (data, NULL), g_bytes_get_size (data));
  return read_response (connection);
}

static GBytes *
make_bytes (gsize size, guint seed)
{
  guint8 *data = g_malloc (size);

  for (gsize i = 0; i < size; i++)
    data[i] = (guint8) ((i * 31 + seed * 7 + i / 251) & 0xff);
  return g_bytes_new_take (data, size);
}

static NatterAttachment *
expect_created (Response *response)
{
  g_autoptr (GError) error = NULL;
  gsize size;
  const char *body = g_bytes_get_data (response->body, &size);
  NatterAttachment *attachment;

  if (response->status != 201)
    g_error ("upload: expected 201, got %u: %.*s", response->status, (int) size, body);
  attachment = natter_attachment_parse (body, size, &error);
  g_assert_no_error (error);
  return attachment;
}

static void
expect_error (Response *response, guint status, const char *code)
{
  g_autofree char *found_code = NULL;
  gsize size;
  const char *body = g_bytes_get_data (response->body, &size);

  if (response->status != status)
    g_error ("expected %u, got %u: %.*s", status, response->status, (int) size, body);
  g_assert_true (natter_http_error_parse (body, size, &found_code, NULL));
  g_assert_cmpstr (found_code, ==, code);
}

static NatterAttachment *
upload (Fixture *fixture, NatterTestPeer *peer, gsize size, guint seed)
{
  g_autoptr (GBytes) data = make_bytes (size, seed);
  g_autoptr (Response) response =
    upload_full (fixture, peer, fixture->conversation_id, "name=data.bin",
                 "application/octet-stream", data, TRUE);

  return expect_created (response);
}

static Response *
download (Fixture *fixture, NatterTestPeer *peer, gint64 attachment_id, const char *extra_headers)
{
  g_autoptr (GSocketConnection) connection = connect_raw (fixture);
  g_autofree char *request =
    g_strdup_printf ("GET /api/attachments/%" G_GINT64_FORMAT " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\nAuthorization: Bearer %s\r\n%s\r\n",
                     attachment_id, peer->token, extra_headers != NULL ? extra_headers : "");

  g_assert_true (send_raw (connection, request, strlen (request)));
  return read_response (connection);
}

/* Sends a chat_message with @ids; returns the ack, or NULL after the
 * error frame with @error_code. */
static NatterFrame *
send_with_attachments (Fixture *fixture,
                       NatterTestWs *ws,
                       gint64 conversation_id,
                       const char *client_msg_id,
                       const char *ids,
                       const char *error_code)
{
  natter_test_ws_send_printf (ws,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"%s\","
                              "\"conversation_id\":%" G_GINT64_FORMAT
                              ",\"text\":\"\",\"attachments\":[%s]}",
                              client_msg_id, conversation_id, ids);
  if (error_code != NULL) {
    g_autoptr (NatterFrame) error = natter_test_ws_expect_error (ws, error_code);

    g_assert_cmpstr (error->ref, ==, client_msg_id);
    return NULL;
  }

  return natter_test_ws_expect (ws, "message_ack");
}

static guint
count_files (const char *folder)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  const char *name;
  guint count = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_build_filename (folder, name, NULL);

    if (g_str_equal (name, "tmp"))
      continue;
    if (g_file_test (path, G_FILE_TEST_IS_DIR))
      count += count_files (path);
    else
      count++;
  }

  return count;
}

static guint
count_temp_files (Fixture *fixture)
{
  g_autofree char *folder = attachments_folder (fixture);
  g_autofree char *temp = g_build_filename (folder, "tmp", NULL);
  g_autoptr (GDir) dir = g_dir_open (temp, 0, NULL);
  guint count = 0;

  while (dir != NULL && g_dir_read_name (dir) != NULL)
    count++;
  return count;
}

static guint
count_stored_files (Fixture *fixture)
{
  g_autofree char *folder = attachments_folder (fixture);

  return count_files (folder);
}

/* A body of unannounced length is streamed and counted the same way. */
static void
test_chunked_upload (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GBytes) bytes = make_bytes (3 * 16384 + 5, 3);
  g_autofree char *path = upload_path (fixture->alem, fixture->conversation_id, "name=c.bin");
  g_autoptr (GSocketConnection) connection =
    start_upload (fixture, fixture->alem->token, path, "application/octet-stream", -1);
  g_autoptr (Response) response = NULL;
  g_autoptr (NatterAttachment) attachment = NULL;
  g_autofree char *sha256 = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
  const guint8 *data_bytes = g_bytes_get_data (bytes, NULL);
  gsize sent = 0;

  while (sent < g_bytes_get_size (bytes)) {
    gsize n = MIN (16384, g_bytes_get_size (bytes) - sent);
    g_autofree char *size_line = g_strdup_printf ("%zx\r\n", n);

    g_assert_true (send_raw (connection, size_line, strlen (size_line)));
    g_assert_true (send_raw (connection, data_bytes + sent, n));
    g_assert_true (send_raw (connection, "\r\n", 2));
    sent += n;
  }
  g_assert_true (send_raw (connection, "0\r\n\r\n", 5));

  response = read_response (connection);
  attachment = expect_created (response);
  g_assert_cmpint (attachment->size, ==, (gint64) g_bytes_get_size (bytes));
  g_assert_cmpstr (attachment->sha256, ==, sha256);
}

static void
test_size_limit_edge (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GBytes) at_limit = make_bytes (LIMIT_BYTES, 1);
  g_autoptr (GBytes) over_limit = make_bytes (LIMIT_BYTES + 1, 2);
  g_autoptr (Response) passed = NULL;
  g_autoptr (Response) refused = NULL;
  g_autoptr (NatterAttachment) attachment = NULL;
  g_autofree char *sha256 = NULL;

  passed = upload_full (fixture, fixture->alem, fixture->conversation_id, "name=a.bin",
                        "application/octet-stream", at_limit, TRUE);
  attachment = expect_created (passed);
  g_assert_cmpint (attachment->size, ==, LIMIT_BYTES);
  g_assert_cmpstr (attachment->name, ==, "a.bin");
  sha256 = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, at_limit);
  g_assert_cmpstr (attachment->sha256, ==, sha256);

  refused = upload_full (fixture, fixture->alem, fixture->conversation_id, "name=b.bin",
                         "application/octet-stream", over_limit, FALSE);
  expect_error (refused, 413, "too_large");
  g_assert_cmpuint (count_stored_files (fixture), ==, 1);

  test_chunked_upload (fixture, data);
}

static void
test_quota_edge (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterAttachment) first = upload (fixture, fixture->alem, LIMIT_BYTES, 1);
  g_autoptr (NatterAttachment) second = upload (fixture, fixture->alem, LIMIT_BYTES, 2);
  g_autoptr (GBytes) one_over = make_bytes (QUOTA_BYTES - 2 * LIMIT_BYTES + 1, 3);
  g_autoptr (GBytes) exact = make_bytes (QUOTA_BYTES - 2 * LIMIT_BYTES, 4);
  g_autoptr (GBytes) one = make_bytes (1, 5);
  g_autoptr (Response) refused = NULL;
  g_autoptr (Response) filled = NULL;
  g_autoptr (Response) full = NULL;
  g_autoptr (NatterAttachment) other_user = NULL;

  refused = upload_full (fixture, fixture->alem, fixture->conversation_id, "name=x",
                         "application/octet-stream", one_over, FALSE);
  expect_error (refused, 413, "too_large");
  filled = upload_full (fixture, fixture->alem, fixture->conversation_id, "name=x",
                        "application/octet-stream", exact, TRUE);
  g_clear_pointer (&other_user, natter_attachment_free);
  other_user = expect_created (filled);
  full = upload_full (fixture, fixture->alem, fixture->conversation_id, "name=x",
                      "application/octet-stream", one, FALSE);
  expect_error (full, 413, "too_large");

  /* The quota is the user's: Bethel still has all of hers. */
  g_clear_pointer (&other_user, natter_attachment_free);
  other_user = upload (fixture, fixture->bethel, LIMIT_BYTES, 6);
  g_assert_cmpint (other_user->size, ==, LIMIT_BYTES);
}

static void
test_bad_uploads (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GBytes) bytes = make_bytes (10, 1);
  static const struct {
    const char *query;
    const char *content_type;
  } cases[] = {
    { "other=1", "text/plain" },
    { "name=", "text/plain" },
    { "name=..%2Fetc%2Fpasswd", "text/plain" },
    { "name=a.png&width=0", "image/png" },
    { "name=a.png&height=abc", "image/png" },
    { "name=a.txt", "text plain" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (Response) response =
      upload_full (fixture, fixture->alem, fixture->conversation_id, cases[i].query,
                   cases[i].content_type, bytes, FALSE);

    expect_error (response, 400, "bad_frame");
  }
  g_assert_cmpuint (count_stored_files (fixture), ==, 0);
}

static void
test_foreign_upload (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GBytes) bytes = make_bytes (10, 1);
  g_autofree char *path = upload_path (fixture->alem, fixture->conversation_id, "name=a");
  g_autoptr (GSocketConnection) no_token = NULL;
  g_autoptr (GSocketConnection) as_alem = NULL;
  g_autoptr (Response) response = NULL;

  /* A stranger to the conversation, as herself: 403. */
  response = upload_full (fixture, fixture->chala, fixture->conversation_id, "name=a", "text/plain",
                          bytes, FALSE);
  expect_error (response, 403, "forbidden");
  g_clear_pointer (&response, response_free);

  /* … as Alem's profile with her own token: 403 too. */
  as_alem = start_upload (fixture, fixture->chala->token, path, "text/plain", 10);
  response = read_response (as_alem);
  expect_error (response, 403, "forbidden");
  g_clear_pointer (&response, response_free);

  /* No token: 401; a conversation that does not exist: 404. */
  no_token = start_upload (fixture, NULL, path, "text/plain", 10);
  response = read_response (no_token);
  expect_error (response, 401, "unauthorized");
  g_clear_pointer (&response, response_free);
  response = upload_full (fixture, fixture->alem, 999999, "name=a", "text/plain", bytes, FALSE);
  expect_error (response, 404, "not_found");

  g_assert_cmpuint (count_stored_files (fixture), ==, 0);
  test_bad_uploads (fixture, data);
}

/* The disposition type and the file name, quoted or not (RFC 6266). */
static void
assert_disposition (Response *response, const char *type, const char *filename)
{
  g_autoptr (SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  g_autoptr (GHashTable) params = NULL;
  g_autofree char *found_type = NULL;

  soup_message_headers_append (headers, "Content-Disposition",
                               header (response, "content-disposition"));
  g_assert_true (soup_message_headers_get_content_disposition (headers, &found_type, &params));
  g_assert_cmpstr (found_type, ==, type);
  g_assert_cmpstr (g_hash_table_lookup (params, "filename"), ==, filename);
}

static void
test_send_and_download (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alem = natter_test_peer_open (fixture->server, fixture->alem);
  g_autoptr (NatterTestWs) bethel = natter_test_peer_open (fixture->server, fixture->bethel);
  g_autoptr (GBytes) text = g_bytes_new_static ("0123456789", 10);
  g_autoptr (GBytes) picture = make_bytes (64, 9);
  g_autoptr (Response) created = NULL;
  g_autoptr (NatterAttachment) notes = NULL;
  g_autoptr (NatterAttachment) photo = NULL;
  g_autoptr (NatterFrame) ack = NULL;
  g_autoptr (NatterFrame) again = NULL;
  g_autoptr (NatterFrame) delivered = NULL;
  g_autofree char *ids = NULL;
  g_autofree char *etag = NULL;
  g_autofree char *history_path = NULL;
  g_autofree char *history = NULL;
  g_autoptr (GPtrArray) messages = NULL;
  g_autoptr (GError) error = NULL;
  const NatterMessage *message;
  guint status = 0;
  gboolean has_more = FALSE;

  created = upload_full (fixture, fixture->alem, fixture->conversation_id, "name=notes.txt",
                         "text/plain", text, TRUE);
  notes = expect_created (created);
  g_clear_pointer (&created, response_free);
  created = upload_full (fixture, fixture->alem, fixture->conversation_id,
                         "name=homework.png&width=640&height=480", "image/png", picture, TRUE);
  photo = expect_created (created);
  g_assert_cmpint (photo->width, ==, 640);
  g_assert_cmpint (photo->height, ==, 480);

  /* Before it is sent, Bethel cannot see it: it does not exist for her. */
  {
    g_autoptr (Response) early = download (fixture, fixture->bethel, notes->attachment_id, NULL);

    expect_error (early, 404, "not_found");
  }

  ids = g_strdup_printf ("%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT, photo->attachment_id,
                         notes->attachment_id);
  ack = send_with_attachments (fixture, alem, fixture->conversation_id, "m-1", ids, NULL);
  message = ack->message;
  g_assert_cmpstr (message->text, ==, "");
  g_assert_nonnull (message->attachments);
  g_assert_cmpuint (message->attachments->len, ==, 2);
  g_assert_cmpint (((NatterAttachment *) message->attachments->pdata[0])->attachment_id, ==,
                   photo->attachment_id);
  g_assert_cmpstr (((NatterAttachment *) message->attachments->pdata[1])->sha256, ==,
                   notes->sha256);

  delivered = natter_test_ws_expect (bethel, "chat_message");
  g_assert_cmpuint (delivered->message->attachments->len, ==, 2);
  g_assert_cmpint (((NatterAttachment *) delivered->message->attachments->pdata[0])->width, ==,
                   640);

  /* A retry gets the same ack, attachments included. */
  natter_test_ws_send_printf (alem,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"m-1\","
                              "\"conversation_id\":%" G_GINT64_FORMAT
                              ",\"text\":\"\",\"attachments\":[%s]}",
                              fixture->conversation_id, ids);
  again = natter_test_ws_expect (alem, "message_ack");
  g_assert_cmpint (again->message->message_id, ==, message->message_id);
  g_assert_cmpuint (again->message->attachments->len, ==, 2);

  /* Sent once: never again. */
  g_assert_null (
    send_with_attachments (fixture, alem, fixture->conversation_id, "m-2", ids, "not_allowed"));

  /* History carries them. */
  history_path = g_strdup_printf ("/api/as/%" G_GINT64_FORMAT
                                  "/student/conversations/%" G_GINT64_FORMAT "/messages",
                                  fixture->bethel->profile->profile_id, fixture->conversation_id);
  history =
    natter_test_http (fixture->server, "GET", history_path, fixture->bethel->token, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  messages = natter_message_page_parse (history, strlen (history), &has_more, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (messages->len, ==, 1);
  g_assert_cmpuint (((NatterMessage *) messages->pdata[0])->attachments->len, ==, 2);

  /* So does the conversation list's last message. */
  {
    g_autofree char *list_path = g_strdup_printf (
      "/api/as/%" G_GINT64_FORMAT "/student/conversations", fixture->bethel->profile->profile_id);
    g_autofree char *list =
      natter_test_http (fixture->server, "GET", list_path, fixture->bethel->token, NULL, &status);
    g_autoptr (GPtrArray) conversations = NULL;
    NatterConversation *conversation;

    g_assert_cmpuint (status, ==, 200);
    conversations = natter_conversation_list_parse (list, strlen (list), &error);
    g_assert_no_error (error);
    g_assert_cmpuint (conversations->len, ==, 1);
    conversation = g_ptr_array_index (conversations, 0);
    g_assert_cmpuint (conversation->last_message->attachments->len, ==, 2);
  }

  /* Download: headers, Range, ETag. */
  {
    g_autoptr (Response) whole = download (fixture, fixture->bethel, notes->attachment_id, NULL);
    g_autoptr (Response) image = download (fixture, fixture->bethel, photo->attachment_id, NULL);
    g_autoptr (Response) middle = NULL;
    g_autoptr (Response) suffix = NULL;
    g_autoptr (Response) open_end = NULL;
    g_autoptr (Response) outside = NULL;
    g_autoptr (Response) cached = NULL;
    g_autoptr (Response) stranger = NULL;
    g_autofree char *if_none_match = NULL;

    g_assert_cmpuint (whole->status, ==, 200);
    g_assert_cmpmem (g_bytes_get_data (whole->body, NULL), g_bytes_get_size (whole->body),
                     "0123456789", 10);
    g_assert_cmpstr (header (whole, "content-type"), ==, "text/plain");
    g_assert_cmpstr (header (whole, "x-content-type-options"), ==, "nosniff");
    assert_disposition (whole, "attachment", "notes.txt");
    etag = g_strdup_printf ("\"%s\"", notes->sha256);
    g_assert_cmpstr (header (whole, "etag"), ==, etag);

    g_assert_cmpuint (image->status, ==, 200);
    assert_disposition (image, "inline", "homework.png");
    g_assert_cmpstr (header (image, "content-type"), ==, "image/png");
    g_assert_true (g_bytes_equal (image->body, picture));

    middle = download (fixture, fixture->bethel, notes->attachment_id, "Range: bytes=2-5\r\n");
    g_assert_cmpuint (middle->status, ==, 206);
    g_assert_cmpmem (g_bytes_get_data (middle->body, NULL), g_bytes_get_size (middle->body), "2345",
                     4);
    g_assert_cmpstr (header (middle, "content-range"), ==, "bytes 2-5/10");

    suffix = download (fixture, fixture->bethel, notes->attachment_id, "Range: bytes=-3\r\n");
    g_assert_cmpuint (suffix->status, ==, 206);
    g_assert_cmpmem (g_bytes_get_data (suffix->body, NULL), g_bytes_get_size (suffix->body), "789",
                     3);

    open_end = download (fixture, fixture->bethel, notes->attachment_id, "Range: bytes=8-\r\n");
    g_assert_cmpuint (open_end->status, ==, 206);
    g_assert_cmpstr (header (open_end, "content-range"), ==, "bytes 8-9/10");

    outside = download (fixture, fixture->bethel, notes->attachment_id, "Range: bytes=10-\r\n");
    g_assert_cmpuint (outside->status, ==, 416);
    g_assert_cmpstr (header (outside, "content-range"), ==, "bytes */10");

    if_none_match = g_strdup_printf ("If-None-Match: %s\r\n", etag);
    cached = download (fixture, fixture->bethel, notes->attachment_id, if_none_match);
    g_assert_cmpuint (cached->status, ==, 304);
    g_assert_cmpuint (g_bytes_get_size (cached->body), ==, 0);

    /* Not a participant: 403. */
    stranger = download (fixture, fixture->chala, notes->attachment_id, NULL);
    expect_error (stranger, 403, "forbidden");
  }
}

static void
test_attachment_rules (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alem = natter_test_peer_open (fixture->server, fixture->alem);
  g_autoptr (NatterTestWs) bethel = natter_test_peer_open (fixture->server, fixture->bethel);
  g_autoptr (GString) ten = g_string_new (NULL);
  g_autoptr (NatterFrame) ack = NULL;
  g_autofree char *eleven = NULL;
  g_autofree char *other_conversation = NULL;
  gint64 ids[11];
  gint64 chala_conversation =
    natter_test_peer_conversation_with (fixture->server, fixture->alem, fixture->chala);

  for (guint i = 0; i < G_N_ELEMENTS (ids); i++) {
    g_autoptr (NatterAttachment) attachment = upload (fixture, fixture->alem, 16, i);

    ids[i] = attachment->attachment_id;
    if (i < 10)
      g_string_append_printf (ten, "%s%" G_GINT64_FORMAT, i > 0 ? "," : "", ids[i]);
  }
  eleven = g_strdup_printf ("%s,%" G_GINT64_FORMAT, ten->str, ids[10]);

  /* 11: refused, nothing sent; then 10 pass. */
  g_assert_null (
    send_with_attachments (fixture, alem, fixture->conversation_id, "m-11", eleven, "bad_frame"));
  ack = send_with_attachments (fixture, alem, fixture->conversation_id, "m-10", ten->str, NULL);
  g_assert_cmpuint (ack->message->attachments->len, ==, 10);
  for (guint i = 0; i < 10; i++)
    g_assert_cmpint (((NatterAttachment *) ack->message->attachments->pdata[i])->attachment_id, ==,
                     ids[i]);

  /* Someone else's upload does not exist for Bethel. */
  other_conversation = g_strdup_printf ("%" G_GINT64_FORMAT, ids[10]);
  g_assert_null (send_with_attachments (fixture, bethel, fixture->conversation_id, "b-1",
                                        other_conversation, "not_found"));
  /* Uploaded to Alem and Bethel's conversation, not to Alem and Chala's. */
  g_assert_null (send_with_attachments (fixture, alem, chala_conversation, "m-other",
                                        other_conversation, "not_allowed"));
  /* An id that was never uploaded. */
  g_assert_null (send_with_attachments (fixture, alem, fixture->conversation_id, "m-none", "999999",
                                        "not_found"));
  /* Text still required without attachments. */
  natter_test_ws_send_printf (alem,
                              "{\"type\":\"chat_message\",\"client_msg_id\":\"m-empty\","
                              "\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"\"}",
                              fixture->conversation_id);
  g_clear_pointer (&ack, natter_frame_free);
  ack = natter_test_ws_expect_error (alem, "bad_frame");
}

/* Same bytes twice (even by two users): one file on disk, two rows. */
static void
test_dedup (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterAttachment) first = upload (fixture, fixture->alem, 5000, 42);
  g_autoptr (NatterAttachment) second = upload (fixture, fixture->alem, 5000, 42);
  g_autoptr (NatterAttachment) third = upload (fixture, fixture->bethel, 5000, 42);
  g_autoptr (NatterAttachment) different = upload (fixture, fixture->alem, 5000, 43);
  g_autofree char *folder = attachments_folder (fixture);
  g_autofree char *prefix = g_strndup (first->sha256, 2);
  g_autofree char *path = g_build_filename (folder, prefix, first->sha256, NULL);

  g_assert_cmpint (first->attachment_id, !=, second->attachment_id);
  g_assert_cmpstr (first->sha256, ==, second->sha256);
  g_assert_cmpstr (first->sha256, ==, third->sha256);
  g_assert_cmpstr (first->sha256, !=, different->sha256);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpuint (count_stored_files (fixture), ==, 2);
  g_assert_cmpuint (count_temp_files (fixture), ==, 0);
}

/* --attachments-dir: the files go there, not beside the database (where
 * nodes on several machines could not share them). */
static void
test_attachments_dir (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterAttachment) stored = upload (fixture, fixture->alem, 5000, 44);
  g_autofree char *prefix = g_strndup (stored->sha256, 2);
  g_autofree char *path = g_build_filename (folder_args[1], prefix, stored->sha256, NULL);
  g_autofree char *beside_db = attachments_folder (fixture);

  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpuint (count_files (folder_args[1]), ==, 1);
  g_assert_cmpuint (count_files (beside_db), ==, 0);
}

/* The client goes away half way: no row, no file, no temporary file. */
static void
test_truncated_upload (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GBytes) bytes = make_bytes (LIMIT_BYTES, 7);
  g_autofree char *path = upload_path (fixture->alem, fixture->conversation_id, "name=half.bin");
  g_autoptr (GSocketConnection) connection =
    start_upload (fixture, fixture->alem->token, path, "application/octet-stream", LIMIT_BYTES);
  g_autoptr (NatterAttachment) after = NULL;

  g_assert_true (send_raw (connection, g_bytes_get_data (bytes, NULL), LIMIT_BYTES / 2));
  /* Streamed as it arrives: the temporary file is there before the end. */
  natter_test_wait_until (count_temp_files (fixture) == 1, 5000);
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);

  natter_test_wait_until (count_temp_files (fixture) == 0, 5000);
  g_assert_cmpuint (count_stored_files (fixture), ==, 0);

  /* Nothing of it counts against the quota (which is LIMIT_BYTES * 2.5). */
  after = upload (fixture, fixture->alem, LIMIT_BYTES, 8);
  g_assert_cmpuint (count_stored_files (fixture), ==, 1);
}

static gboolean
attachment_gone (Fixture *fixture, NatterTestPeer *peer, gint64 attachment_id)
{
  g_autoptr (Response) response = download (fixture, peer, attachment_id, NULL);

  return response->status == 404;
}

static void
test_unsent_expiry (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterTestWs) alem = natter_test_peer_open (fixture->server, fixture->alem);
  g_autoptr (NatterAttachment) unsent = upload (fixture, fixture->alem, 1000, 1);
  g_autoptr (NatterAttachment) sent = upload (fixture, fixture->alem, 1000, 2);
  g_autoptr (NatterFrame) ack = NULL;
  g_autoptr (Response) kept = NULL;
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, sent->attachment_id);

  ack = send_with_attachments (fixture, alem, fixture->conversation_id, "m-1", id, NULL);
  g_assert_cmpuint (count_stored_files (fixture), ==, 2);

  /* A lifetime of 1 s, checked every 250 ms. */
  natter_test_wait_until (attachment_gone (fixture, fixture->alem, unsent->attachment_id), 5000);
  natter_test_wait_until (count_stored_files (fixture) == 1, 5000);

  kept = download (fixture, fixture->bethel, sent->attachment_id, NULL);
  g_assert_cmpuint (kept->status, ==, 200);
  g_assert_cmpint ((gint64) g_bytes_get_size (kept->body), ==, 1000);
}

static gboolean
server_is_natter_server (Fixture *fixture)
{
  g_autofree char *link =
    g_strdup_printf ("/proc/%d/exe", (int) natter_test_server_get_pid (fixture->server));
  g_autofree char *exe = g_file_read_link (link, NULL);

  return exe != NULL && g_str_has_suffix (exe, "/natter-server");
}

static gint64
server_rss_kib (Fixture *fixture)
{
  g_autofree char *path =
    g_strdup_printf ("/proc/%d/status", (int) natter_test_server_get_pid (fixture->server));
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true (g_file_get_contents (path, &status, NULL, NULL));
  line = strstr (status, "VmRSS:");
  g_assert_nonnull (line);
  return g_ascii_strtoll (line + 6, NULL, 10);
}

/* 25 MiB sent in 64 KiB pieces: the server's resident memory stays within
 * 4 MiB of what it was before. */
static void
test_rss_during_upload (Fixture *fixture, gconstpointer data)
{
  const gsize size = 25 * 1024 * 1024;
  const gsize piece = 64 * 1024;
  g_autofree char *path = upload_path (fixture->alem, fixture->conversation_id, "name=big.pdf");
  g_autoptr (GSocketConnection) connection = NULL;
  g_autoptr (NatterAttachment) warm = NULL;
  g_autoptr (NatterAttachment) attachment = NULL;
  g_autoptr (Response) response = NULL;
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *buffer = g_malloc (piece);
  gint64 before;
  gint64 peak;

#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("AddressSanitizer's quarantine keeps freed chunks resident");
  return;
#endif
  /* valgrind (test.sh traces children) holds freed blocks back too. */
  if (!server_is_natter_server (fixture)) {
    g_test_skip ("the server runs under a memory checker");
    return;
  }

  /* Every code path of an upload runs once before the baseline. */
  warm = upload (fixture, fixture->alem, 256 * 1024, 1);
  before = server_rss_kib (fixture);
  peak = before;

  connection = start_upload (fixture, fixture->alem->token, path, "application/pdf", (gssize) size);
  for (gsize sent = 0; sent < size; sent += piece) {
    memset (buffer, (int) (sent / piece), piece);
    g_checksum_update (checksum, buffer, piece);
    g_assert_true (send_raw (connection, buffer, piece));
    if ((sent / piece) % 16 == 0)
      peak = MAX (peak, server_rss_kib (fixture));
  }
  response = read_response (connection);
  peak = MAX (peak, server_rss_kib (fixture));
  attachment = expect_created (response);
  g_assert_cmpint (attachment->size, ==, (gint64) size);
  g_assert_cmpstr (attachment->sha256, ==, g_checksum_get_string (checksum));

  g_test_message ("server RSS: %" G_GINT64_FORMAT " KiB before, %" G_GINT64_FORMAT
                  " KiB at most during a 25 MiB upload",
                  before, peak);
  g_assert_cmpint (peak - before, <=, 4 * 1024);
}

/* The new options refuse what is not a whole number from 1, naming
 * themselves, before anything listens. */
static void
test_bad_options (void)
{
  static const char *const cases[][2] = {
    { "--attachment-quota", "0" },           { "--attachment-quota", "lots" },
    { "--attachment-unsent-lifetime", "0" }, { "--attachment-unsent-lifetime", "-5" },
    { "--max-attachment-size", "0" },        { "--attachments-dir", "" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    const char *argv[] = { g_getenv ("NATTER_SERVER_BINARY"), cases[i][0], cases[i][1], NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr (GError) error = NULL;
    int status = 0;

    g_assert_nonnull (argv[0]);
    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                  &error);
    g_assert_no_error (error);
    g_assert_false (g_spawn_check_wait_status (status, NULL));
    if (strstr (err, cases[i][0]) == NULL)
      g_error ("%s %s: stderr does not name the option: %s", cases[i][0], cases[i][1], err);
    g_assert_cmpstr (out, ==, "");
  }
}

int
main (int argc, char *argv[])
{
  g_autofree char *folder = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, args)                                                          \
  g_test_add ("/natter/server/attachments/" path, Fixture, args, fixture_set_up, func, \
              fixture_tear_down)

  ADD ("size-limit-edge-and-chunked", test_size_limit_edge, limit_args);
  ADD ("quota-edge", test_quota_edge, limit_args);
  ADD ("foreign-and-bad-uploads", test_foreign_upload, limit_args);
  ADD ("send-and-download", test_send_and_download, limit_args);
  ADD ("ten-not-eleven-own-unsent-same-conversation", test_attachment_rules, limit_args);
  ADD ("same-bytes-stored-once", test_dedup, limit_args);
  ADD ("truncated-upload-leaves-nothing", test_truncated_upload, limit_args);
  ADD ("unsent-expire", test_unsent_expiry, expiry_args);
  ADD ("rss-during-25-mib-upload", test_rss_during_upload, NULL);
  ADD ("attachments-dir", test_attachments_dir, folder_args);

#undef ADD
  g_test_add_func ("/natter/server/attachments/bad-options", test_bad_options);

  folder = g_dir_make_tmp ("natter-attachments-dir-XXXXXX", NULL);
  g_assert_nonnull (folder);
  folder_args[1] = folder;
  status = g_test_run ();
  natter_test_remove_tree (folder);
  return status;
}
