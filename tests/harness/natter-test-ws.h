/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <libsoup/soup.h>

#include "natter-frame.h"
#include "natter-test-server.h"

G_BEGIN_DECLS

/* A small WebSocket client for the hub tests: connects as a profile, sends
 * JSON strings, and waits (with a deadline) for the next frame of a type.
 * Every frame received is checked against the protocol library
 * (NATTER_DIRECTION_TO_CLIENT): a frame the server should not have sent
 * fails the test. */
typedef struct _NatterTestWs NatterTestWs;

typedef enum {
  NATTER_TEST_WS_TOKEN_IN_HEADER = 0,
  NATTER_TEST_WS_TOKEN_IN_QUERY = 1 << 0,
} NatterTestWsFlags;

/* Connects to @base_url (http://127.0.0.1:PORT) as /ws/@profile_id/@profile_type.
 * @token and @origin may be NULL. On a refused upgrade returns NULL and the
 * HTTP status in @out_status. Waits at most 5 s. */
NatterTestWs *natter_test_ws_connect (const char *base_url,
                                      gint64 profile_id,
                                      const char *profile_type,
                                      const char *token,
                                      const char *origin,
                                      NatterTestWsFlags flags,
                                      guint *out_status);
/* The same, asserting success and consuming the hello frame. */
NatterTestWs *natter_test_ws_open (const char *base_url,
                                   gint64 profile_id,
                                   const char *profile_type,
                                   const char *token);
void natter_test_ws_free (NatterTestWs *ws);

void natter_test_ws_send (NatterTestWs *ws, const char *json);
void natter_test_ws_send_printf (NatterTestWs *ws, const char *format, ...) G_GNUC_PRINTF (2, 3);
void natter_test_ws_send_bytes (NatterTestWs *ws, gsize length, char fill);

/* The first queued or arriving frame of @type (removed from the queue), or
 * NULL after @timeout_ms. */
NatterFrame *natter_test_ws_wait_for (NatterTestWs *ws, const char *type, guint timeout_ms);
/* The next frame of any type, asserting that one arrives. */
NatterFrame *natter_test_ws_next (NatterTestWs *ws);
/* Like natter_test_ws_wait_for, asserting that it arrives. */
NatterFrame *natter_test_ws_expect (NatterTestWs *ws, const char *type);
/* The error frame with @code, asserting that it arrives. */
NatterFrame *natter_test_ws_expect_error (NatterTestWs *ws, const char *code);
/* Asserts that no frame of @type arrives while the main context runs for
 * @ms (for "must not be sent" rules: the frame would already be queued). */
void natter_test_ws_assert_none (NatterTestWs *ws, const char *type, guint ms);
/* Drops every queued frame. */
void natter_test_ws_clear (NatterTestWs *ws);
guint natter_test_ws_count (NatterTestWs *ws, const char *type);

gboolean natter_test_ws_is_open (NatterTestWs *ws);
/* The close code once closed (0 while open), waiting at most @timeout_ms. */
gushort natter_test_ws_wait_closed (NatterTestWs *ws, guint timeout_ms);
void natter_test_ws_close (NatterTestWs *ws);

/* Iterates the default main context until @done returns TRUE or @timeout_ms
 * passed; returns the last value of @done. */
gboolean natter_test_ws_iterate_until (gboolean (*done) (gpointer user_data),
                                       gpointer user_data,
                                       guint timeout_ms);

/* A fresh random id for client_msg_id / client_call_id. */
char *natter_test_ws_uuid (void);

/* A registered account with one profile, for the hub tests. */
typedef struct {
  NatterProfile *profile;
  char *token;
  char *email;
} NatterTestPeer;

/* Registers "@name@example.org" with one profile of @profile_type. */
NatterTestPeer *
natter_test_peer_new (NatterTestServer *server, const char *name, const char *profile_type);
void natter_test_peer_free (NatterTestPeer *peer);
/* Opens a WebSocket as the peer's profile (header token), hello consumed. */
NatterTestWs *natter_test_peer_open (NatterTestServer *server, NatterTestPeer *peer);
/* The direct conversation of @peer and @other, over HTTP. */
gint64 natter_test_peer_conversation_with (NatterTestServer *server,
                                           NatterTestPeer *peer,
                                           NatterTestPeer *other);

/* Makes the two contacts who see each other's presence: both write once in
 * their direct conversation. Returns its id. */
gint64
natter_test_peers_befriend (NatterTestServer *server, NatterTestPeer *peer, NatterTestPeer *other);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterTestWs, natter_test_ws_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterTestPeer, natter_test_peer_free)

G_END_DECLS
