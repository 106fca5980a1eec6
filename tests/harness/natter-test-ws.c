/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-test-ws"

#include "natter-test-ws.h"

#include "natter-http-body.h"

#define CONNECT_TIMEOUT_MS natter_test_scale_ms (5000)
#define FRAME_TIMEOUT_MS natter_test_scale_ms (5000)

typedef struct {
  char *text;
  NatterFrame *frame;
} Received;

struct _NatterTestWs {
  SoupSession *session;
  SoupWebsocketConnection *websocket;
  GQueue received; /* Received */
  gboolean closed;
  gushort close_code;
};

static void
received_free (gpointer data)
{
  Received *received = data;

  g_free (received->text);
  natter_frame_free (received->frame);
  g_free (received);
}

gboolean
natter_test_ws_iterate_until (gboolean (*done) (gpointer user_data),
                              gpointer user_data,
                              guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (!done (user_data)) {
    if (g_get_monotonic_time () >= deadline)
      return done (user_data);
    /* Wakes at least every 10 ms to look at the clock. */
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
  }

  return TRUE;
}

static void
on_message (SoupWebsocketConnection *websocket,
            SoupWebsocketDataType data_type,
            GBytes *message,
            NatterTestWs *ws)
{
  g_autoptr (GError) error = NULL;
  Received *received;
  gsize length;
  const char *data = g_bytes_get_data (message, &length);

  g_assert_cmpint (data_type, ==, SOUP_WEBSOCKET_DATA_TEXT);

  received = g_new0 (Received, 1);
  received->text = g_strndup (data, length);
  received->frame = natter_frame_parse (data, length, NATTER_DIRECTION_TO_CLIENT, NULL, &error);
  if (received->frame == NULL)
    g_error ("The server sent a frame the protocol refuses: %s\n%s", error->message,
             received->text);

  g_queue_push_tail (&ws->received, received);
}

static void
on_closed (SoupWebsocketConnection *websocket, NatterTestWs *ws)
{
  ws->closed = TRUE;
  ws->close_code = soup_websocket_connection_get_close_code (websocket);
  if (ws->close_code == 0)
    ws->close_code = SOUP_WEBSOCKET_CLOSE_ABNORMAL;
}

typedef struct {
  gboolean done;
  SoupWebsocketConnection *websocket;
  GError *error;
} ConnectData;

static void
on_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ConnectData *data = user_data;

  data->websocket =
    soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &data->error);
  data->done = TRUE;
}

static gboolean
connect_done (gpointer user_data)
{
  return ((ConnectData *) user_data)->done;
}

NatterTestWs *
natter_test_ws_connect (const char *base_url,
                        gint64 profile_id,
                        const char *profile_type,
                        const char *token,
                        const char *origin,
                        NatterTestWsFlags flags,
                        guint *out_status)
{
  g_autoptr (SoupSession) session = soup_session_new ();
  g_autoptr (SoupMessage) message = NULL;
  g_autofree char *url = NULL;
  ConnectData data = { 0 };
  NatterTestWs *ws;

  if (token != NULL && (flags & NATTER_TEST_WS_TOKEN_IN_QUERY) != 0) {
    g_autofree char *escaped = g_uri_escape_string (token, NULL, FALSE);

    url = g_strdup_printf ("%s/ws/%" G_GINT64_FORMAT "/%s?token=%s", base_url, profile_id,
                           profile_type, escaped);
  } else {
    url = g_strdup_printf ("%s/ws/%" G_GINT64_FORMAT "/%s", base_url, profile_id, profile_type);
  }

  message = soup_message_new ("GET", url);
  g_assert_nonnull (message);
  if (token != NULL && (flags & NATTER_TEST_WS_TOKEN_IN_QUERY) == 0) {
    g_autofree char *authorization = g_strdup_printf ("Bearer %s", token);

    soup_message_headers_replace (soup_message_get_request_headers (message), "Authorization",
                                  authorization);
  }

  soup_session_websocket_connect_async (session, message, origin, NULL, G_PRIORITY_DEFAULT, NULL,
                                        on_connected, &data);
  if (!natter_test_ws_iterate_until (connect_done, &data, CONNECT_TIMEOUT_MS))
    g_error ("WebSocket connection to %s timed out", url);

  if (out_status != NULL)
    *out_status = soup_message_get_status (message);

  if (data.websocket == NULL) {
    g_test_message ("connection refused: %s", data.error->message);
    g_clear_error (&data.error);
    return NULL;
  }

  ws = g_new0 (NatterTestWs, 1);
  ws->session = g_steal_pointer (&session);
  ws->websocket = data.websocket;
  g_queue_init (&ws->received);
  soup_websocket_connection_set_max_incoming_payload_size (ws->websocket, 0);
  g_signal_connect (ws->websocket, "message", G_CALLBACK (on_message), ws);
  g_signal_connect (ws->websocket, "closed", G_CALLBACK (on_closed), ws);

  return ws;
}

NatterTestWs *
natter_test_ws_open (const char *base_url,
                     gint64 profile_id,
                     const char *profile_type,
                     const char *token)
{
  g_autoptr (NatterFrame) hello = NULL;
  NatterTestWs *ws;
  guint status = 0;

  ws = natter_test_ws_connect (base_url, profile_id, profile_type, token, NULL, 0, &status);
  if (ws == NULL)
    g_error ("Could not connect as %s/%" G_GINT64_FORMAT ": HTTP %u", profile_type, profile_id,
             status);

  hello = natter_test_ws_expect (ws, "hello");
  g_assert_cmpint (hello->profile->profile_id, ==, profile_id);

  return ws;
}

static gboolean
closed_done (gpointer user_data)
{
  return ((NatterTestWs *) user_data)->closed;
}

void
natter_test_ws_close (NatterTestWs *ws)
{
  if (ws->closed)
    return;

  if (soup_websocket_connection_get_state (ws->websocket) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (ws->websocket, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  natter_test_ws_iterate_until (closed_done, ws, 3000);
}

void
natter_test_ws_free (NatterTestWs *ws)
{
  if (ws == NULL)
    return;

  natter_test_ws_close (ws);
  g_signal_handlers_disconnect_by_data (ws->websocket, ws);
  g_clear_object (&ws->websocket);
  g_clear_object (&ws->session);
  g_queue_clear_full (&ws->received, received_free);
  g_free (ws);
}

void
natter_test_ws_send (NatterTestWs *ws, const char *json)
{
  g_assert_false (ws->closed);
  soup_websocket_connection_send_text (ws->websocket, json);
}

void
natter_test_ws_send_printf (NatterTestWs *ws, const char *format, ...)
{
  g_autofree char *json = NULL;
  va_list args;

  va_start (args, format);
  json = g_strdup_vprintf (format, args);
  va_end (args);

  natter_test_ws_send (ws, json);
}

void
natter_test_ws_send_bytes (NatterTestWs *ws, gsize length, char fill)
{
  g_autofree char *text = g_malloc (length + 1);

  memset (text, fill, length);
  text[length] = '\0';
  natter_test_ws_send (ws, text);
}

typedef struct {
  NatterTestWs *ws;
  const char *type;
  Received *found;
} WaitData;

static gboolean
frame_arrived (gpointer user_data)
{
  WaitData *data = user_data;

  for (GList *l = data->ws->received.head; l != NULL; l = l->next) {
    Received *received = l->data;

    if (g_strcmp0 (natter_frame_type_to_string (received->frame->type), data->type) == 0) {
      data->found = received;
      g_queue_delete_link (&data->ws->received, l);
      return TRUE;
    }
  }

  return data->ws->closed;
}

NatterFrame *
natter_test_ws_wait_for (NatterTestWs *ws, const char *type, guint timeout_ms)
{
  WaitData data = { ws, type, NULL };
  NatterFrame *frame;

  natter_test_ws_iterate_until (frame_arrived, &data, timeout_ms);
  if (data.found == NULL)
    return NULL;

  frame = g_steal_pointer (&data.found->frame);
  received_free (data.found);
  return frame;
}

NatterFrame *
natter_test_ws_expect (NatterTestWs *ws, const char *type)
{
  NatterFrame *frame = natter_test_ws_wait_for (ws, type, FRAME_TIMEOUT_MS);

  if (frame == NULL)
    g_error ("No %s frame arrived (closed: %d, code %u)", type, ws->closed, ws->close_code);

  return frame;
}

NatterFrame *
natter_test_ws_expect_error (NatterTestWs *ws, const char *code)
{
  NatterFrame *frame = natter_test_ws_expect (ws, "error");

  g_assert_cmpstr (frame->code, ==, code);
  return frame;
}

static gboolean
any_frame (gpointer user_data)
{
  NatterTestWs *ws = user_data;

  return ws->received.length > 0 || ws->closed;
}

NatterFrame *
natter_test_ws_next (NatterTestWs *ws)
{
  Received *received;
  NatterFrame *frame;

  natter_test_ws_iterate_until (any_frame, ws, FRAME_TIMEOUT_MS);
  received = g_queue_pop_head (&ws->received);
  if (received == NULL)
    g_error ("No frame arrived (closed: %d, code %u)", ws->closed, ws->close_code);

  frame = g_steal_pointer (&received->frame);
  received_free (received);
  return frame;
}

static gboolean
never (gpointer user_data)
{
  return FALSE;
}

void
natter_test_ws_assert_none (NatterTestWs *ws, const char *type, guint ms)
{
  natter_test_ws_iterate_until (never, NULL, ms);
  g_assert_cmpuint (natter_test_ws_count (ws, type), ==, 0);
}

void
natter_test_ws_clear (NatterTestWs *ws)
{
  g_queue_clear_full (&ws->received, received_free);
  g_queue_init (&ws->received);
}

guint
natter_test_ws_count (NatterTestWs *ws, const char *type)
{
  guint n = 0;

  for (GList *l = ws->received.head; l != NULL; l = l->next) {
    Received *received = l->data;

    if (g_strcmp0 (natter_frame_type_to_string (received->frame->type), type) == 0)
      n++;
  }

  return n;
}

gboolean
natter_test_ws_is_open (NatterTestWs *ws)
{
  return !ws->closed;
}

gushort
natter_test_ws_wait_closed (NatterTestWs *ws, guint timeout_ms)
{
  natter_test_ws_iterate_until (closed_done, ws, timeout_ms);
  return ws->closed ? ws->close_code : 0;
}

char *
natter_test_ws_uuid (void)
{
  return g_uuid_string_random ();
}

NatterTestPeer *
natter_test_peer_new (NatterTestServer *server, const char *name, const char *profile_type)
{
  NatterTestPeer *peer = g_new0 (NatterTestPeer, 1);
  g_autoptr (NatterUser) user = NULL;

  peer->email = g_strdup_printf ("%s@example.org", name);
  user = natter_test_server_register (server, peer->email, name, profile_type, &peer->token,
                                      &peer->profile);

  return peer;
}

void
natter_test_peer_free (NatterTestPeer *peer)
{
  if (peer == NULL)
    return;

  natter_profile_free (peer->profile);
  g_free (peer->token);
  g_free (peer->email);
  g_free (peer);
}

NatterTestWs *
natter_test_peer_open (NatterTestServer *server, NatterTestPeer *peer)
{
  return natter_test_ws_open (natter_test_server_get_url (server), peer->profile->profile_id,
                              peer->profile->profile_type, peer->token);
}

gint64
natter_test_peer_conversation_with (NatterTestServer *server,
                                    NatterTestPeer *peer,
                                    NatterTestPeer *other)
{
  return natter_test_server_create_conversation (server, peer->token, peer->profile,
                                                 other->profile);
}

/* Makes @peer and @other contacts (PROTOCOL.md: presence only between
 * profiles who both took part): each sends one message in their direct
 * conversation, from a connection closed again afterwards.
 *
 * On two nodes it returns only once both connections are gone from every
 * node: each profile came online and went offline (four presence changes,
 * counted by the node that decided them), so no offline of theirs reaches
 * the test's next connections through Redis after their new online. */
#define PRESENCE_CHANGES "natter_presence_changes_total "

gint64
natter_test_peers_befriend (NatterTestServer *server, NatterTestPeer *peer, NatterTestPeer *other)
{
  gint64 conversation_id = natter_test_peer_conversation_with (server, peer, other);
  NatterTestPeer *both[] = { peer, other };
  gboolean several_nodes = natter_test_server_get_n_nodes (server) > 1;
  guint64 changes =
    several_nodes ? natter_test_server_metric_all_nodes (server, PRESENCE_CHANGES) : 0;

  for (guint i = 0; i < G_N_ELEMENTS (both); i++) {
    g_autoptr (NatterTestWs) ws = natter_test_peer_open (server, both[i]);
    g_autoptr (NatterFrame) ack = NULL;

    natter_test_ws_send_printf (
      ws,
      "{\"type\":\"chat_message\",\"client_msg_id\":\"befriend-%u-%" G_GINT64_FORMAT
      "\",\"conversation_id\":%" G_GINT64_FORMAT ",\"text\":\"hello\"}",
      i, conversation_id, conversation_id);
    ack = natter_test_ws_expect (ws, "message_ack");
  }
  if (several_nodes)
    natter_test_wait_until (natter_test_server_metric_all_nodes (server, PRESENCE_CHANGES) >=
                              changes + 2 * G_N_ELEMENTS (both),
                            5000);

  return conversation_id;
}
