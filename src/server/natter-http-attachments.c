/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-http-attachments"

/* PROTOCOL.md's attachments: POST /api/as/{id}/{type}/conversations/{cid}/attachments
 * streams the body into a temporary file as it arrives (never whole in
 * memory), hashing it on the way; once complete the file is synced and
 * renamed to FOLDER/ab/abcdef… (its SHA-256), so the same bytes are stored
 * once. GET /api/attachments/{id} serves them with Range and ETag. Unsent
 * uploads are removed after --attachment-unsent-lifetime. */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "natter-http-attachments.h"
#include "natter-server.h"
#include "natter-http-body.h"
#include "natter-password.h"
#include "natter-server-db-attachments.h"
#include "natter-server-store.h"

#define UPLOAD_KEY "natter-attachment-upload"
#define STATUS_RANGE_NOT_SATISFIABLE 416

struct _NatterHttpAttachments {
  GObject parent_instance;

  NatterServerStore *store; /* every read and write, off the routing thread */
  const NatterServerConfig *config;
  NatterMetrics *metrics;
  NatterRequestGuard *guard;
  char *folder;          /* beside the database: DB_DIR/attachments */
  char *temp_folder;     /* folder/tmp: uploads in progress */
  GHashTable *finishing; /* sha256 -> count: renamed, row not yet stored */
  guint expiry_id;
  gboolean expiring; /* an expiry query is on its way */
};

G_DEFINE_FINAL_TYPE (NatterHttpAttachments, natter_http_attachments, G_TYPE_OBJECT)

/* One upload, from its headers until it is stored or given up. */
typedef struct {
  int fd; /* -1 once closed */
  char *temp_path;
  GChecksum *checksum;
  guint64 received;
  guint64 quota_left;
  gint64 user_id;
  NatterProfile *uploader;
  gint64 conversation_id;
  NatterAttachment *attachment; /* name, content type, width, height */
  gboolean failed;              /* a write failed or the quota ran out: nothing is kept */
} Upload;

static void
upload_discard (Upload *upload)
{
  if (upload->fd >= 0) {
    close (upload->fd);
    upload->fd = -1;
  }
  if (upload->temp_path != NULL) {
    g_unlink (upload->temp_path);
    g_clear_pointer (&upload->temp_path, g_free);
  }
}

/* Whatever happens to the request (finished, aborted, connection stolen),
 * an unfinished temporary file goes with it. */
static void
upload_free (gpointer data)
{
  Upload *upload = data;

  upload_discard (upload);
  g_clear_pointer (&upload->checksum, g_checksum_free);
  g_clear_pointer (&upload->uploader, natter_profile_free);
  g_clear_pointer (&upload->attachment, natter_attachment_free);
  g_free (upload);
}

static void
respond (SoupServerMessage *msg, guint status, const char *content_type, char *body)
{
  soup_server_message_set_status (msg, status, NULL);
  if (body != NULL)
    soup_server_message_set_response (msg, content_type, SOUP_MEMORY_TAKE, body, strlen (body));
}

static void
respond_error (NatterHttpAttachments *self,
               SoupServerMessage *msg,
               guint status,
               const char *code,
               const char *text)
{
  natter_metrics_inc (self->metrics, "natter_http_errors_total", "code", code);
  respond (msg, status, "application/json", natter_http_error_to_json (code, text));
}

static gboolean
parse_id (const char *text, gint64 *out_id)
{
  return g_ascii_string_to_signed (text, 10, 1, NATTER_MAX_ID, out_id, NULL);
}

/* "/api/as/{id}/{type}/conversations/{cid}/attachments". */
static gboolean
match_upload_path (const char *path, NatterProfile **out_uploader, gint64 *out_conversation_id)
{
  g_auto (GStrv) parts = NULL;
  g_autofree char *type = NULL;
  gint64 id = 0;

  if (path == NULL || !g_str_has_prefix (path, "/api/as/"))
    return FALSE;
  parts = g_strsplit (path + 1, "/", 8);
  if (g_strv_length (parts) != 7 || !g_str_equal (parts[4], "conversations") ||
      !g_str_equal (parts[6], "attachments") || !parse_id (parts[2], &id) ||
      !parse_id (parts[5], out_conversation_id) ||
      (type = natter_profile_type_normalize (parts[3], NULL)) == NULL)
    return FALSE;

  if (out_uploader != NULL)
    *out_uploader = natter_profile_new (id, type, NULL, NULL);
  return TRUE;
}

/* "/api/attachments/{id}". */
static gboolean
match_download_path (const char *path, gint64 *out_attachment_id)
{
  g_auto (GStrv) parts = NULL;

  if (path == NULL || !g_str_has_prefix (path, "/api/attachments/"))
    return FALSE;
  parts = g_strsplit (path + 1, "/", 4);

  return g_strv_length (parts) == 3 && parse_id (parts[2], out_attachment_id);
}

/* The bearer token's user, or 0 (unknown, expired, revoked, absent); on
 * the store's side. */
static gint64
token_user (NatterStoreQueries *queries, const char *authorization)
{
  g_autofree char *token_hash = NULL;
  const char *token;
  gint64 user_id = 0;

  if (authorization == NULL || g_ascii_strncasecmp (authorization, "Bearer ", 7) != 0)
    return 0;
  for (token = authorization + 7; *token == ' '; token++)
    ;

  token_hash = natter_token_hash (token);
  if (!natter_store_queries_lookup_token (queries, token_hash, g_get_real_time () / G_USEC_PER_SEC,
                                          &user_id, NULL, NULL))
    return 0;

  return user_id;
}

static const char *
authorization_of (SoupServerMessage *msg)
{
  return soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                       "Authorization");
}

/* A message waiting (paused) for the store. */
typedef struct {
  NatterHttpAttachments *self;
  SoupServerMessage *msg;
  gulong disconnected_id;
  gboolean disconnected;
} Waiting;

static void
on_waiting_disconnected (SoupServerMessage *msg, gpointer user_data)
{
  Waiting *waiting = user_data;

  waiting->disconnected = TRUE;
}

static void
waiting_init (Waiting *waiting, NatterHttpAttachments *self, SoupServerMessage *msg)
{
  waiting->self = g_object_ref (self);
  waiting->msg = g_object_ref (msg);
  waiting->disconnected_id =
    g_signal_connect (msg, "disconnected", G_CALLBACK (on_waiting_disconnected), waiting);
  soup_server_message_pause (msg);
}

static void
waiting_clear (Waiting *waiting)
{
  if (waiting->disconnected_id != 0)
    g_signal_handler_disconnect (waiting->msg, waiting->disconnected_id);
  g_clear_object (&waiting->msg);
  g_clear_object (&waiting->self);
}

static char *
blob_path (NatterHttpAttachments *self, const char *sha256)
{
  char prefix[3] = { sha256[0], sha256[1], '\0' };

  return g_build_filename (self->folder, prefix, sha256, NULL);
}

/* Reads ?name=, &width=, &height= and the Content-Type; NULL after setting
 * @out_problem. */
static NatterAttachment *
read_upload_metadata (SoupServerMessage *msg, const char **out_problem)
{
  g_autoptr (NatterAttachment) attachment = natter_attachment_new ();
  g_autoptr (GHashTable) query = NULL;
  const char *query_text = g_uri_get_query (soup_server_message_get_uri (msg));
  const char *content_type =
    soup_message_headers_get_content_type (soup_server_message_get_request_headers (msg), NULL);
  static const char *const sides[] = { "width", "height" };

  if (query_text != NULL)
    query = g_uri_parse_params (query_text, -1, "&", G_URI_PARAMS_NONE, NULL);
  if (query == NULL || g_hash_table_lookup (query, "name") == NULL) {
    *out_problem = "name: missing (?name=FILE)";
    return NULL;
  }
  attachment->name = g_strdup (g_hash_table_lookup (query, "name"));
  if (!natter_attachment_name_is_valid (attachment->name)) {
    *out_problem = "name: not a file name (1..255 characters, no / or control characters)";
    return NULL;
  }

  if (content_type == NULL &&
      soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                    "Content-Type") != NULL) {
    *out_problem = "Content-Type: expected type/subtype";
    return NULL;
  }
  attachment->content_type =
    g_ascii_strdown (content_type != NULL ? content_type : "application/octet-stream", -1);
  if (!natter_attachment_content_type_is_valid (attachment->content_type)) {
    *out_problem = "Content-Type: expected type/subtype";
    return NULL;
  }

  for (guint i = 0; i < G_N_ELEMENTS (sides); i++) {
    const char *text = g_hash_table_lookup (query, sides[i]);
    gint64 value = 0;

    if (text == NULL)
      continue;
    if (!g_ascii_string_to_signed (text, 10, 1, NATTER_MAX_IMAGE_SIDE, &value, NULL)) {
      *out_problem = i == 0 ? "width: expected a whole number from 1 to 100000"
                            : "height: expected a whole number from 1 to 100000";
      return NULL;
    }
    if (i == 0)
      attachment->width = value;
    else
      attachment->height = value;
  }

  return g_steal_pointer (&attachment);
}

static gboolean
write_all (int fd, const guint8 *data, gsize size)
{
  while (size > 0) {
    gssize written = write (fd, data, size);

    if (written < 0 && errno == EINTR)
      continue;
    if (written <= 0)
      return FALSE;
    data += written;
    size -= (gsize) written;
  }

  return TRUE;
}

static void
on_upload_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  NatterHttpAttachments *self = NATTER_HTTP_ATTACHMENTS (user_data);
  Upload *upload = g_object_get_data (G_OBJECT (msg), UPLOAD_KEY);
  gsize size;
  const guint8 *data = g_bytes_get_data (chunk, &size);

  if (upload == NULL || upload->failed)
    return;

  upload->received += size;
  /* Past the size limit the request guard has already answered 413. */
  if (upload->received > self->config->max_attachment_bytes) {
    upload->failed = TRUE;
    upload_discard (upload);
    return;
  }
  /* A body of unannounced length (chunked) may run into the quota. */
  if (upload->received > upload->quota_left) {
    upload->failed = TRUE;
    upload_discard (upload);
    natter_request_guard_refuse (self->guard, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                                 "too_large", "your attachment quota is used up");
    return;
  }

  g_checksum_update (upload->checksum, data, size);
  if (!write_all (upload->fd, data, size)) {
    g_warning ("Could not write %s: %s", upload->temp_path, g_strerror (errno));
    upload->failed = TRUE;
    upload_discard (upload);
  }
}

/* An upload's headers, checked by the store: who, where, how much. */
typedef struct {
  Waiting waiting;
  char *authorization;
  NatterProfile *uploader;
  gint64 conversation_id;
  NatterAttachment *attachment; /* NULL: @problem */
  const char *problem;
  goffset length; /* -1: unannounced */
  guint64 quota;
  /* the answer: a refusal (status), or the user and their usage */
  guint status;
  const char *code;
  const char *text;
  gint64 user_id;
  gint64 used;
} UploadCheck;

static void
upload_check_free (UploadCheck *check)
{
  waiting_clear (&check->waiting);
  g_free (check->authorization);
  g_clear_pointer (&check->uploader, natter_profile_free);
  g_clear_pointer (&check->attachment, natter_attachment_free);
  g_free (check);
}

static void
check_refuse (UploadCheck *check, guint status, const char *code, const char *text)
{
  check->status = status;
  check->code = code;
  check->text = text;
}

static gpointer
check_upload (NatterStoreQueries *queries, gpointer data, GError **error)
{
  UploadCheck *check = data;
  NatterProfile *uploader = check->uploader;

  check->user_id = token_user (queries, check->authorization);
  if (check->user_id == 0) {
    check_refuse (check, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                  "a valid bearer token is needed");
    return check;
  }
  if (natter_store_queries_get_profile_owner (queries, uploader->profile_id,
                                              uploader->profile_type) != check->user_id) {
    check_refuse (check, SOUP_STATUS_FORBIDDEN, "forbidden", "that profile is not yours");
    return check;
  }
  if (!natter_store_queries_is_participant (queries, check->conversation_id, uploader)) {
    g_autoptr (GPtrArray) participants =
      natter_store_queries_list_participants (queries, check->conversation_id, NULL);

    if (participants != NULL && participants->len > 0)
      check_refuse (check, SOUP_STATUS_FORBIDDEN, "forbidden",
                    "that profile is not in this conversation");
    else
      check_refuse (check, SOUP_STATUS_NOT_FOUND, "not_found", "no such conversation");
    return check;
  }
  if (check->attachment == NULL) {
    check_refuse (check, SOUP_STATUS_BAD_REQUEST, "bad_frame", check->problem);
    return check;
  }
  check->used = natter_store_queries_get_attachment_usage (queries, check->user_id);
  if (check->used < 0 || (guint64) check->used > check->quota ||
      (check->length > 0 && (guint64) check->length > check->quota - (guint64) check->used))
    check_refuse (check, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                  "your attachment quota is used up");

  return check;
}

static void
on_upload_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  UploadCheck *check = user_data;
  NatterHttpAttachments *self = check->waiting.self;
  SoupServerMessage *msg = check->waiting.msg;
  g_autoptr (GError) error = NULL;
  g_autofree char *template = NULL;
  Upload *upload;

  if (natter_server_store_query_finish (NATTER_SERVER_STORE (source), result, &error) == NULL) {
    g_warning ("Could not check an upload: %s", error->message);
    check_refuse (check, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                  "the server could not store the file");
  }
  if (check->waiting.disconnected) {
    upload_check_free (check);
    return;
  }
  if (check->status != 0) {
    /* Answered on a connection of its own: the message is done with. */
    natter_request_guard_refuse (self->guard, msg, check->status, check->code, check->text);
    upload_check_free (check);
    return;
  }

  upload = g_new0 (Upload, 1);
  upload->fd = -1;
  upload->quota_left = self->config->attachment_quota_bytes - (guint64) check->used;
  upload->user_id = check->user_id;
  upload->uploader = g_steal_pointer (&check->uploader);
  upload->conversation_id = check->conversation_id;
  upload->attachment = g_steal_pointer (&check->attachment);
  upload->checksum = g_checksum_new (G_CHECKSUM_SHA256);
  template = g_build_filename (self->temp_folder, "upload-XXXXXX", NULL);
  upload->fd = g_mkstemp_full (template, O_WRONLY | O_CLOEXEC, 0600);
  if (upload->fd < 0) {
    g_warning ("Could not create %s: %s", template, g_strerror (errno));
    upload->failed = TRUE;
  } else {
    upload->temp_path = g_steal_pointer (&template);
  }
  g_object_set_data_full (G_OBJECT (msg), UPLOAD_KEY, upload, upload_free);

  /* The body goes to the file chunk by chunk and is not kept. */
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  g_signal_connect_object (msg, "got-chunk", G_CALLBACK (on_upload_chunk), self, 0);
  soup_server_message_unpause (msg);
  upload_check_free (check);
}

/* Decides about an upload once its headers are in, before a byte of its
 * body is read: who, where, how much, what. A refusal answers at once and
 * reads nothing more. */
static void
on_got_headers (SoupServerMessage *msg, gpointer user_data)
{
  NatterHttpAttachments *self = NATTER_HTTP_ATTACHMENTS (user_data);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *path = g_uri_get_path (soup_server_message_get_uri (msg));
  g_autoptr (NatterProfile) uploader = NULL;
  UploadCheck *check;
  gint64 conversation_id = 0;
  goffset length;

  if (!g_str_equal (soup_server_message_get_method (msg), "POST") ||
      !match_upload_path (path, &uploader, &conversation_id) ||
      soup_server_message_get_status (msg) != 0)
    return;

  /* Over the size limit: the request guard refuses it. */
  length = soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH
             ? soup_message_headers_get_content_length (headers)
             : -1;
  if (length > (goffset) self->config->max_attachment_bytes)
    return;

  check = g_new0 (UploadCheck, 1);
  check->authorization = g_strdup (authorization_of (msg));
  check->uploader = g_steal_pointer (&uploader);
  check->conversation_id = conversation_id;
  check->attachment = read_upload_metadata (msg, &check->problem);
  check->length = length;
  check->quota = self->config->attachment_quota_bytes;
  /* Nothing of the body is read until the store has answered. */
  waiting_init (&check->waiting, self, msg);
  natter_server_store_query (self->store, check_upload, check, NULL, NULL, on_upload_checked,
                             check);
}

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  g_signal_connect_object (msg, "got-headers", G_CALLBACK (on_got_headers), user_data, 0);
}

/* A client that went away mid-upload leaves nothing behind. */
static void
on_request_aborted (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  Upload *upload = g_object_get_data (G_OBJECT (msg), UPLOAD_KEY);

  if (upload != NULL) {
    upload->failed = TRUE;
    upload_discard (upload);
  }
}

/* What the worker thread needs to make an upload durable. */
typedef struct {
  int fd;
  char *temp_path;
  char *final_path;
} Finish;

static void
finish_free (Finish *finish)
{
  if (finish->fd >= 0)
    close (finish->fd);
  if (finish->temp_path != NULL)
    g_unlink (finish->temp_path);
  g_free (finish->temp_path);
  g_free (finish->final_path);
  g_free (finish);
}

/* Synced before the rename, so that a name under FOLDER always holds all
 * of its bytes; the same bytes already there make the copy redundant. */
static void
finish_in_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Finish *finish = task_data;
  g_autofree char *folder = g_path_get_dirname (finish->final_path);
  int saved_errno;

  if (fsync (finish->fd) != 0 || close (finish->fd) != 0) {
    saved_errno = errno;
    finish->fd = -1;
    g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                             "cannot sync %s: %s", finish->temp_path, g_strerror (saved_errno));
    return;
  }
  finish->fd = -1;

  if (g_mkdir_with_parents (folder, 0700) != 0 ||
      (!g_file_test (finish->final_path, G_FILE_TEST_EXISTS) &&
       g_rename (finish->temp_path, finish->final_path) != 0)) {
    saved_errno = errno;
    g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                             "cannot store %s: %s", finish->final_path, g_strerror (saved_errno));
    return;
  }

  /* Renamed, or a duplicate that finish_free () removes. */
  if (!g_file_test (finish->temp_path, G_FILE_TEST_EXISTS))
    g_clear_pointer (&finish->temp_path, g_free);
  g_task_return_boolean (task, TRUE);
}

static void
finishing_release (NatterHttpAttachments *self, const char *sha256)
{
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (self->finishing, sha256));

  if (count <= 1)
    g_hash_table_remove (self->finishing, sha256);
  else
    g_hash_table_insert (self->finishing, g_strdup (sha256), GUINT_TO_POINTER (count - 1));
}

typedef struct {
  Waiting waiting;
  gint64 user_id;
  NatterProfile *uploader;
  gint64 conversation_id;
  NatterAttachment *attachment; /* in: what was received; out: the stored row */
  char *sha256;                 /* held in self->finishing until the row exists */
  guint64 received;
  guint64 quota;
  gboolean over_quota;
} UploadRow;

static void
upload_row_free (UploadRow *row)
{
  waiting_clear (&row->waiting);
  g_clear_pointer (&row->uploader, natter_profile_free);
  g_clear_pointer (&row->attachment, natter_attachment_free);
  g_free (row->sha256);
  g_free (row);
}

static UploadRow *
upload_row_new (NatterHttpAttachments *self, SoupServerMessage *msg, Upload *upload)
{
  UploadRow *row = g_new0 (UploadRow, 1);

  waiting_init (&row->waiting, self, msg);
  row->user_id = upload->user_id;
  row->uploader = natter_profile_copy (upload->uploader);
  row->conversation_id = upload->conversation_id;
  row->attachment = natter_attachment_copy (upload->attachment);
  row->received = upload->received;
  row->quota = self->config->attachment_quota_bytes;

  return row;
}

static gpointer
add_attachment (NatterStoreQueries *queries, gpointer data, GError **error)
{
  UploadRow *row = data;
  NatterAttachment *stored = natter_store_queries_add_attachment (
    queries, row->user_id, row->uploader, row->conversation_id, row->attachment, error);

  if (stored == NULL)
    return NULL;
  natter_attachment_free (row->attachment);
  row->attachment = stored;

  return row;
}

static void
on_attachment_added (GObject *source, GAsyncResult *result, gpointer user_data)
{
  UploadRow *row = user_data;
  NatterHttpAttachments *self = row->waiting.self;
  SoupServerMessage *msg = row->waiting.msg;
  g_autoptr (GError) error = NULL;

  finishing_release (self, row->sha256);
  if (natter_server_store_query_finish (NATTER_SERVER_STORE (source), result, &error) == NULL) {
    g_warning ("Could not store an attachment: %s", error->message);
    respond_error (self, msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                   "the server could not store the file");
  } else {
    natter_metrics_inc (self->metrics, "natter_attachments_uploaded_total", NULL, NULL);
    respond (msg, SOUP_STATUS_CREATED, "application/json",
             natter_attachment_to_json (row->attachment));
  }
  if (!row->waiting.disconnected)
    soup_server_message_unpause (msg);
  upload_row_free (row);
}

static void
on_upload_finished (GObject *source, GAsyncResult *result, gpointer user_data)
{
  NatterHttpAttachments *self = NATTER_HTTP_ATTACHMENTS (source);
  UploadRow *row = user_data;
  g_autoptr (GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    g_warning ("Could not store an attachment: %s", error->message);
    finishing_release (self, row->sha256);
    respond_error (self, row->waiting.msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                   "the server could not store the file");
    if (!row->waiting.disconnected)
      soup_server_message_unpause (row->waiting.msg);
    upload_row_free (row);
    return;
  }
  natter_server_store_query (self->store, add_attachment, row, NULL, NULL, on_attachment_added,
                             row);
}

/* Another upload of the same user may have finished meanwhile: the
 * usage once more, from the store. */
static gpointer
recheck_quota (NatterStoreQueries *queries, gpointer data, GError **error)
{
  UploadRow *row = data;

  row->over_quota =
    (guint64) natter_store_queries_get_attachment_usage (queries, row->user_id) + row->received >
    row->quota;

  return row;
}

static void
on_quota_rechecked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  UploadRow *row = user_data;
  NatterHttpAttachments *self = row->waiting.self;
  SoupServerMessage *msg = row->waiting.msg;
  Upload *upload = g_object_get_data (G_OBJECT (msg), UPLOAD_KEY);
  g_autoptr (GError) error = NULL;
  g_autoptr (GTask) task = NULL;
  Finish *finish;
  const char *sha256;

  if (natter_server_store_query_finish (NATTER_SERVER_STORE (source), result, &error) == NULL) {
    g_warning ("Could not check an upload: %s", error->message);
    respond_error (self, msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                   "the server could not store the file");
    row->over_quota = TRUE;
  } else if (row->over_quota) {
    respond_error (self, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                   "your attachment quota is used up");
  }
  if (row->over_quota || row->waiting.disconnected || upload == NULL || upload->fd < 0) {
    if (upload != NULL)
      upload_discard (upload);
    if (!row->waiting.disconnected)
      soup_server_message_unpause (msg);
    upload_row_free (row);
    return;
  }

  upload->attachment->size = (gint64) upload->received;
  sha256 = g_checksum_get_string (upload->checksum);
  upload->attachment->sha256 = g_strdup (sha256);
  row->attachment->size = upload->attachment->size;
  row->attachment->sha256 = g_strdup (sha256);
  row->sha256 = g_strdup (sha256);

  finish = g_new0 (Finish, 1);
  finish->fd = upload->fd;
  finish->temp_path = g_steal_pointer (&upload->temp_path);
  finish->final_path = blob_path (self, sha256);
  upload->fd = -1;

  /* Expiry must not delete this hash's file before the row exists. */
  g_hash_table_insert (
    self->finishing, g_strdup (sha256),
    GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (self->finishing, sha256)) + 1));

  task = g_task_new (self, NULL, on_upload_finished, row);
  g_task_set_task_data (task, finish, (GDestroyNotify) finish_free);
  g_task_run_in_thread (task, finish_in_thread);
}

static void
handle_upload (NatterHttpAttachments *self, SoupServerMessage *msg)
{
  Upload *upload = g_object_get_data (G_OBJECT (msg), UPLOAD_KEY);
  UploadRow *row;

  /* Refused after its headers: answered already, nothing to do. */
  if (upload == NULL) {
    if (soup_server_message_get_status (msg) == 0)
      respond_error (self, msg, SOUP_STATUS_BAD_REQUEST, "bad_frame", "the upload was refused");
    return;
  }
  if (upload->failed || upload->fd < 0) {
    respond_error (self, msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                   "the server could not store the file");
    return;
  }
  if (upload->received > upload->quota_left) {
    upload_discard (upload);
    respond_error (self, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                   "your attachment quota is used up");
    return;
  }

  row = upload_row_new (self, msg, upload);
  natter_server_store_query (self->store, recheck_quota, row, NULL, NULL, on_quota_rechecked, row);
}

/* "bytes=FIRST-LAST", "bytes=FIRST-" or "bytes=-SUFFIX", one range only.
 * FALSE when absent or not understood (the whole file is sent); TRUE with
 * *out_satisfiable telling a 206 from a 416. */
static gboolean
parse_range (
  const char *header, gint64 size, gint64 *out_first, gint64 *out_last, gboolean *out_satisfiable)
{
  g_auto (GStrv) bounds = NULL;
  guint64 first = 0;
  guint64 last = 0;
  gboolean has_first;
  gboolean has_last;

  if (header == NULL || !g_str_has_prefix (header, "bytes=") || strchr (header, ',') != NULL)
    return FALSE;
  bounds = g_strsplit (header + 6, "-", 2);
  if (g_strv_length (bounds) != 2)
    return FALSE;
  g_strstrip (bounds[0]);
  g_strstrip (bounds[1]);
  has_first = bounds[0][0] != '\0';
  has_last = bounds[1][0] != '\0';
  if ((!has_first && !has_last) ||
      (has_first && !g_ascii_string_to_unsigned (bounds[0], 10, 0, G_MAXINT64, &first, NULL)) ||
      (has_last && !g_ascii_string_to_unsigned (bounds[1], 10, 0, G_MAXINT64, &last, NULL)) ||
      (has_first && has_last && last < first))
    return FALSE;

  if (!has_first) {
    /* The last N bytes. */
    *out_satisfiable = last > 0 && size > 0;
    *out_first = size - (gint64) MIN (last, (guint64) size);
    *out_last = size - 1;
  } else {
    *out_satisfiable = (gint64) first < size;
    *out_first = (gint64) first;
    *out_last = has_last ? MIN ((gint64) last, size - 1) : size - 1;
  }

  return TRUE;
}

static gboolean
etag_matches (const char *if_none_match, const char *etag)
{
  g_auto (GStrv) tags = NULL;

  if (if_none_match == NULL)
    return FALSE;
  tags = g_strsplit (if_none_match, ",", -1);
  for (guint i = 0; tags[i] != NULL; i++) {
    const char *tag = g_strstrip (tags[i]);

    if (g_str_has_prefix (tag, "W/"))
      tag += 2;
    if (g_str_equal (tag, "*") || g_str_equal (tag, etag))
      return TRUE;
  }

  return FALSE;
}

/* Raster images are shown where they are; anything else, SVG (which can
 * carry script) included, is offered as a download. */
static gboolean
shown_inline (const NatterAttachment *attachment)
{
  return natter_attachment_is_image (attachment) &&
         !g_str_equal (attachment->content_type, "image/svg+xml");
}

/* A download's question to the store: whose token, which attachment. */
typedef struct {
  Waiting waiting;
  char *authorization;
  gint64 attachment_id;
  gint64 user_id;
  NatterAttachmentAccess access;
  NatterAttachment *attachment;
  GError *error;
} DownloadAccess;

static void
download_access_free (DownloadAccess *access)
{
  waiting_clear (&access->waiting);
  g_free (access->authorization);
  g_clear_pointer (&access->attachment, natter_attachment_free);
  g_clear_error (&access->error);
  g_free (access);
}

static gpointer
read_download_access (NatterStoreQueries *queries, gpointer data, GError **error)
{
  DownloadAccess *access = data;

  access->user_id = token_user (queries, access->authorization);
  if (access->user_id != 0)
    access->access = natter_store_queries_get_attachment_for_user (
      queries, access->attachment_id, access->user_id, &access->attachment, &access->error);

  return access;
}

static void send_download (NatterHttpAttachments *self,
                           SoupServerMessage *msg,
                           gint64 attachment_id,
                           NatterAttachment *attachment);

static void
on_download_access (GObject *source, GAsyncResult *result, gpointer user_data)
{
  DownloadAccess *access = user_data;
  NatterHttpAttachments *self = access->waiting.self;
  SoupServerMessage *msg = access->waiting.msg;
  g_autoptr (GError) error = NULL;

  if (access->waiting.disconnected) {
    download_access_free (access);
    return;
  }
  if (natter_server_store_query_finish (NATTER_SERVER_STORE (source), result, &error) == NULL) {
    g_warning ("Could not read an attachment: %s", error->message);
    respond_error (self, msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                   "the server could not read the attachment");
  } else if (access->user_id == 0) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "WWW-Authenticate", "Bearer");
    respond_error (self, msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                   "a valid bearer token is needed");
  } else if (access->access == NATTER_ATTACHMENT_ACCESS_ALLOWED) {
    send_download (self, msg, access->attachment_id, access->attachment);
  } else if (access->access == NATTER_ATTACHMENT_ACCESS_FORBIDDEN) {
    respond_error (self, msg, SOUP_STATUS_FORBIDDEN, "forbidden",
                   "you are not in the conversation of this attachment");
  } else if (access->error != NULL) {
    respond_error (self, msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                   "the server could not read the attachment");
  } else {
    respond_error (self, msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such attachment");
  }
  soup_server_message_unpause (msg);
  download_access_free (access);
}

static void
handle_download (NatterHttpAttachments *self, SoupServerMessage *msg, gint64 attachment_id)
{
  DownloadAccess *access = g_new0 (DownloadAccess, 1);

  access->authorization = g_strdup (authorization_of (msg));
  access->attachment_id = attachment_id;
  waiting_init (&access->waiting, self, msg);
  natter_server_store_query (self->store, read_download_access, access, NULL, NULL,
                             on_download_access, access);
}

/* The bytes of an attachment @msg may read. */
static void
send_download (NatterHttpAttachments *self,
               SoupServerMessage *msg,
               gint64 attachment_id,
               NatterAttachment *attachment)
{
  SoupMessageHeaders *request = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *response = soup_server_message_get_response_headers (msg);
  g_autoptr (GHashTable) disposition = NULL;
  g_autoptr (GMappedFile) file = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *etag = NULL;
  gint64 first = 0;
  gint64 last = 0;
  gboolean satisfiable = FALSE;

  etag = g_strdup_printf ("\"%s\"", attachment->sha256);
  soup_message_headers_replace (response, "ETag", etag);
  soup_message_headers_replace (response, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (response, "Cache-Control", "private, max-age=31536000, immutable");
  soup_message_headers_replace (response, "Accept-Ranges", "bytes");
  soup_message_headers_replace (response, "Content-Security-Policy", "default-src 'none'; sandbox");
  disposition = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (disposition, (gpointer) "filename", attachment->name);
  soup_message_headers_set_content_disposition (
    response, shown_inline (attachment) ? "inline" : "attachment", disposition);

  if (etag_matches (soup_message_headers_get_list (request, "If-None-Match"), etag)) {
    soup_server_message_set_status (msg, SOUP_STATUS_NOT_MODIFIED, NULL);
    return;
  }

  path = blob_path (self, attachment->sha256);
  file = g_mapped_file_new (path, FALSE, &error);
  if (file == NULL) {
    g_warning ("Could not read attachment %" G_GINT64_FORMAT ": %s", attachment_id, error->message);
    respond_error (self, msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                   "the server could not read the attachment");
    return;
  }
  /* Mapped, not read: a 25 MiB download costs the process no heap. */
  bytes = g_mapped_file_get_bytes (file);

  {
    const char *if_range = soup_message_headers_get_one (request, "If-Range");
    const char *range = soup_message_headers_get_one (request, "Range");
    gint64 size = (gint64) g_bytes_get_size (bytes);

    if ((if_range == NULL || g_str_equal (if_range, etag)) &&
        parse_range (range, size, &first, &last, &satisfiable)) {
      g_autofree char *content_range = NULL;

      if (!satisfiable) {
        content_range = g_strdup_printf ("bytes */%" G_GINT64_FORMAT, size);
        soup_message_headers_replace (response, "Content-Range", content_range);
        respond_error (self, msg, STATUS_RANGE_NOT_SATISFIABLE, "bad_frame",
                       "the range is outside the file");
        return;
      }
      content_range = g_strdup_printf (
        "bytes %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT, first, last, size);
      soup_message_headers_replace (response, "Content-Range", content_range);
      soup_server_message_set_status (msg, SOUP_STATUS_PARTIAL_CONTENT, NULL);
      g_autoptr (GBytes) whole = g_steal_pointer (&bytes);

      bytes = g_bytes_new_from_bytes (whole, (gsize) first, (gsize) (last - first + 1));
    } else {
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
    }
  }

  soup_message_headers_set_content_type (response, attachment->content_type, NULL);
  soup_message_body_append_bytes (soup_server_message_get_response_body (msg), bytes);
}

/**
 * natter_http_attachments_is_path:
 * @self: the attachments
 * @path: a request's path
 *
 * Returns: whether @path is an upload or a download path
 */
gboolean
natter_http_attachments_is_path (NatterHttpAttachments *self, const char *path)
{
  gint64 id = 0;

  g_return_val_if_fail (NATTER_IS_HTTP_ATTACHMENTS (self), FALSE);

  return match_upload_path (path, NULL, &id) || match_download_path (path, &id);
}

/**
 * natter_http_attachments_handle:
 * @self: the attachments
 * @msg: a request, its body (if any) already streamed to disk
 * @path: its path
 *
 * Answers @msg when @path is an attachment path.
 *
 * Returns: %TRUE when @msg was answered here
 */
gboolean
natter_http_attachments_handle (NatterHttpAttachments *self,
                                SoupServerMessage *msg,
                                const char *path)
{
  const char *method = soup_server_message_get_method (msg);
  gint64 conversation_id = 0;
  gint64 attachment_id = 0;
  gboolean upload;

  g_return_val_if_fail (NATTER_IS_HTTP_ATTACHMENTS (self), FALSE);

  upload = match_upload_path (path, NULL, &conversation_id);
  if (!upload && !match_download_path (path, &attachment_id))
    return FALSE;

  if (g_str_equal (method, "OPTIONS")) {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow",
                                  upload ? "POST" : "GET, HEAD");
    respond (msg, SOUP_STATUS_NO_CONTENT, NULL, NULL);
  } else if (upload && g_str_equal (method, "POST")) {
    handle_upload (self, msg);
  } else if (!upload && (g_str_equal (method, "GET") || g_str_equal (method, "HEAD"))) {
    handle_download (self, msg, attachment_id);
  } else {
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow",
                                  upload ? "POST" : "GET, HEAD");
    respond_error (self, msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "not_allowed",
                   "this method is not allowed here");
  }

  return TRUE;
}

/**
 * natter_http_attachments_check_request:
 * @config: for the upload limit
 * @method: the request's method
 * @path: its path
 * @response: the response's headers: a 405 sets Allow there
 * @out_body_limit: (out): the most its body may hold
 *
 * What the request guard asks before reading a body.
 *
 * Returns: 0 when @path is an attachment path that takes @method, else the
 *   status to refuse it with (404 when it is not an attachment path, 405)
 */
guint
natter_http_attachments_check_request (const NatterServerConfig *config,
                                       const char *method,
                                       const char *path,
                                       SoupMessageHeaders *response,
                                       gsize *out_body_limit)
{
  gint64 id = 0;

  *out_body_limit = 0;
  if (match_upload_path (path, NULL, &id)) {
    if (g_str_equal (method, "OPTIONS"))
      return 0;
    if (!g_str_equal (method, "POST")) {
      soup_message_headers_replace (response, "Allow", "POST");
      return SOUP_STATUS_METHOD_NOT_ALLOWED;
    }
    *out_body_limit = config->max_attachment_bytes;
    return 0;
  }
  if (match_download_path (path, &id)) {
    if (g_str_equal (method, "GET") || g_str_equal (method, "HEAD") ||
        g_str_equal (method, "OPTIONS"))
      return 0;
    soup_message_headers_replace (response, "Allow", "GET, HEAD");
    return SOUP_STATUS_METHOD_NOT_ALLOWED;
  }

  return SOUP_STATUS_NOT_FOUND;
}

static gpointer
expire_attachments (NatterStoreQueries *queries, gpointer data, GError **error)
{
  return natter_store_queries_expire_attachments (queries, *(gint64 *) data, error);
}

static void
on_expired (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterHttpAttachments) self = user_data;
  g_autoptr (GPtrArray) unused = NULL;
  g_autoptr (GError) error = NULL;

  self->expiring = FALSE;
  unused = natter_server_store_query_finish (NATTER_SERVER_STORE (source), result, &error);
  if (unused == NULL) {
    g_warning ("Could not remove expired attachments: %s", error->message);
    return;
  }

  for (guint i = 0; i < unused->len; i++) {
    const char *sha256 = g_ptr_array_index (unused, i);
    g_autofree char *path = NULL;

    if (g_hash_table_contains (self->finishing, sha256))
      continue;
    path = blob_path (self, sha256);
    if (g_unlink (path) != 0 && errno != ENOENT)
      g_warning ("Could not remove %s: %s", path, g_strerror (errno));
  }
  if (unused->len > 0)
    natter_metrics_add (self->metrics, "natter_attachment_files_removed_total", NULL, NULL,
                        unused->len);
}

/* Unsent uploads past their lifetime go, and with them every file no row
 * names any more. */
static gboolean
on_expiry (gpointer user_data)
{
  NatterHttpAttachments *self = NATTER_HTTP_ATTACHMENTS (user_data);
  gint64 *before_ms;

  if (self->expiring)
    return G_SOURCE_CONTINUE;
  before_ms = g_new (gint64, 1);
  *before_ms =
    g_get_real_time () / 1000 - (gint64) self->config->attachment_unsent_lifetime_s * 1000;
  self->expiring = TRUE;
  natter_server_store_query (self->store, expire_attachments, before_ms, g_free,
                             (GDestroyNotify) g_ptr_array_unref, on_expired, g_object_ref (self));

  return G_SOURCE_CONTINUE;
}

/* Files of uploads a previous process did not finish. */
static void
clear_temp_folder (NatterHttpAttachments *self)
{
  g_autoptr (GDir) dir = g_dir_open (self->temp_folder, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_build_filename (self->temp_folder, name, NULL);

    g_unlink (path);
  }
}

static void
natter_http_attachments_dispose (GObject *object)
{
  NatterHttpAttachments *self = NATTER_HTTP_ATTACHMENTS (object);

  g_clear_handle_id (&self->expiry_id, g_source_remove);
  g_clear_object (&self->store);
  g_clear_object (&self->metrics);
  g_clear_object (&self->guard);

  G_OBJECT_CLASS (natter_http_attachments_parent_class)->dispose (object);
}

static void
natter_http_attachments_finalize (GObject *object)
{
  NatterHttpAttachments *self = NATTER_HTTP_ATTACHMENTS (object);

  g_free (self->folder);
  g_free (self->temp_folder);
  g_clear_pointer (&self->finishing, g_hash_table_unref);

  G_OBJECT_CLASS (natter_http_attachments_parent_class)->finalize (object);
}

static void
natter_http_attachments_class_init (NatterHttpAttachmentsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_http_attachments_dispose;
  object_class->finalize = natter_http_attachments_finalize;
}

static void
natter_http_attachments_init (NatterHttpAttachments *self)
{
  self->finishing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/**
 * natter_http_attachments_new:
 * @store: where the rows are read and written
 * @config: the limits and the database path; must outlive the object
 * @metrics: where uploads are counted
 * @guard: refuses uploads after their headers
 * @error: when the folder cannot be made
 *
 * Returns: (transfer full) (nullable): the attachment endpoints, their
 *   files in --attachments-dir, else in an `attachments` folder beside an
 *   SQLite database or in the user data folder with PostgreSQL
 */
NatterHttpAttachments *
natter_http_attachments_new (NatterServerStore *store,
                             const NatterServerConfig *config,
                             NatterMetrics *metrics,
                             NatterRequestGuard *guard,
                             GError **error)
{
  g_autoptr (NatterHttpAttachments) self = NULL;
  g_autofree char *db_folder = NULL;
  guint interval_ms;

  g_return_val_if_fail (NATTER_IS_SERVER_STORE (store), NULL);
  g_return_val_if_fail (config != NULL && config->db_path != NULL, NULL);

  self = g_object_new (NATTER_TYPE_HTTP_ATTACHMENTS, NULL);
  self->store = g_object_ref (store);
  self->config = config;
  self->metrics = g_object_ref (metrics);
  self->guard = g_object_ref (guard);
  if (config->attachments_dir != NULL) {
    self->folder = g_strdup (config->attachments_dir);
  } else if (natter_server_db_is_postgresql (config->db_path)) {
    self->folder = g_build_filename (g_get_user_data_dir (), "natter-server", "attachments", NULL);
  } else {
    db_folder = g_path_get_dirname (config->db_path);
    self->folder = g_build_filename (db_folder, "attachments", NULL);
  }
  self->temp_folder = g_build_filename (self->folder, "tmp", NULL);
  if (g_mkdir_with_parents (self->temp_folder, 0700) != 0) {
    int saved_errno = errno;

    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "cannot create %s: %s",
                 self->temp_folder, g_strerror (saved_errno));
    return NULL;
  }
  clear_temp_folder (self);

  /* A quarter of the lifetime late at most, and at least once a minute. */
  interval_ms =
    (guint) CLAMP ((guint64) config->attachment_unsent_lifetime_s * 1000 / 4, 100, 60 * 1000);
  self->expiry_id = g_timeout_add (interval_ms, on_expiry, self);

  return g_steal_pointer (&self);
}

/**
 * natter_http_attachments_install:
 * @self: the attachments
 * @server: the public server
 *
 * Watches every request's headers for uploads. Install after the request
 * guard, so that its size check runs first.
 */
void
natter_http_attachments_install (NatterHttpAttachments *self, SoupServer *server)
{
  g_return_if_fail (NATTER_IS_HTTP_ATTACHMENTS (self));
  g_return_if_fail (SOUP_IS_SERVER (server));

  g_signal_connect_object (server, "request-started", G_CALLBACK (on_request_started), self, 0);
  g_signal_connect_object (server, "request-aborted", G_CALLBACK (on_request_aborted), self, 0);
}

/**
 * natter_http_attachments_get_folder:
 * @self: the attachments
 *
 * Returns: (transfer none): where the files are kept
 */
const char *
natter_http_attachments_get_folder (NatterHttpAttachments *self)
{
  g_return_val_if_fail (NATTER_IS_HTTP_ATTACHMENTS (self), NULL);

  return self->folder;
}
