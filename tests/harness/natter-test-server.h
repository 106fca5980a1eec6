/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "natter-test-services.h"
#include "natter-types.h"

G_BEGIN_DECLS

/* The password natter_test_server_register() gives every account. */
#define NATTER_TEST_PASSWORD "natter-test-password"

typedef struct _NatterTestServer NatterTestServer;

NatterTestServer *natter_test_server_new (const char *const *extra_args);
/* NATTER_TEST_DB=postgresql: servers run on PostgreSQL (--db URI). */
gboolean natter_test_server_uses_postgresql (void);
NatterTestPostgres *natter_test_server_get_postgres (void);
void natter_test_server_free (NatterTestServer *self);

const char *natter_test_server_get_url (NatterTestServer *self);
const char *natter_test_server_get_ws_url (NatterTestServer *self);
guint natter_test_server_get_port (NatterTestServer *self);
const char *natter_test_server_get_db_path (NatterTestServer *self);
const char *natter_test_server_get_tmpdir (NatterTestServer *self);
GPid natter_test_server_get_pid (NatterTestServer *self);
gboolean natter_test_server_is_running (NatterTestServer *self);

int natter_test_server_stop (NatterTestServer *self);
void natter_test_server_kill (NatterTestServer *self);
void natter_test_server_restart (NatterTestServer *self);
void natter_test_server_set_extra_args (NatterTestServer *self, const char *const *extra_args);

GBytes *natter_test_http_full (NatterTestServer *server,
                               const char *method,
                               const char *path,
                               const char *token,
                               const char *content_type,
                               GBytes *body,
                               const char *const *extra_headers,
                               guint *out_status,
                               char **out_content_type);
char *natter_test_http (NatterTestServer *server,
                        const char *method,
                        const char *path,
                        const char *token,
                        const char *json_body,
                        guint *out_status);

NatterUser *natter_test_server_register (NatterTestServer *server,
                                         const char *email,
                                         const char *display_name,
                                         const char *profile_type,
                                         char **out_token,
                                         NatterProfile **out_profile);
guint64 natter_test_server_metric (NatterTestServer *server, const char *prefix);
guint natter_test_server_get_n_nodes (NatterTestServer *server);
guint64 natter_test_server_metric_all_nodes (NatterTestServer *server, const char *prefix);
char *natter_test_server_fetch_metrics (NatterTestServer *server, guint *out_status);
const char *natter_test_server_get_metrics_url (NatterTestServer *self);
char *natter_test_server_login (NatterTestServer *server,
                                const char *email,
                                const char *password,
                                guint *out_status);
gint64 natter_test_server_create_conversation (NatterTestServer *server,
                                               const char *token,
                                               const NatterProfile *as,
                                               const NatterProfile *with);

void natter_test_remove_tree (const char *path);
char *natter_test_top_build_filename (const char *first_element, ...) G_GNUC_NULL_TERMINATED;
char *natter_test_soup_server_listen (SoupServer *server);

/* A server that speaks broken protocol, as scripted by a test. */
typedef struct {
  SoupServer *server;
  char *url;
  SoupWebsocketConnection *websocket; /* the last one opened on /ws */
} NatterTestScriptedServer;

void natter_test_scripted_server_init (NatterTestScriptedServer *self,
                                       SoupServerCallback http_handler);
void natter_test_scripted_server_clear (NatterTestScriptedServer *self);
void natter_test_on_task_done (GObject *source, GAsyncResult *result, gpointer user_data);

typedef gboolean (*NatterTestCondition) (gpointer user_data);

void natter_test_wait_full (NatterTestCondition condition,
                            gpointer user_data,
                            guint timeout_ms,
                            const char *what,
                            const char *file,
                            int line);
#define natter_test_wait(condition, user_data, timeout_ms) \
  natter_test_wait_full ((condition), (user_data), (timeout_ms), #condition, __FILE__, __LINE__)

gboolean natter_test_iterate_until (gint64 deadline_us);
guint natter_test_scale_ms (guint ms);

/**
 * natter_test_wait_until:
 * @expr: a C expression, re-evaluated after each main-context iteration
 * @timeout_ms: the deadline on a quiet machine
 *
 * Iterates the thread-default main context until @expr holds; fails the
 * test, naming @expr, at the deadline, which NATTER_TEST_TIME_SCALE
 * stretches (natter_test_scale_ms()) for sanitizer and valgrind runs.
 */
#define natter_test_wait_until(expr, timeout_ms)                                                   \
  G_STMT_START                                                                                     \
  {                                                                                                \
    guint natter_test_timeout_ = natter_test_scale_ms (timeout_ms);                                \
    gint64 natter_test_deadline_ = g_get_monotonic_time () + (gint64) natter_test_timeout_ * 1000; \
    while (!(expr)) {                                                                              \
      if (!natter_test_iterate_until (natter_test_deadline_))                                      \
        g_error ("%s:%d: timed out after %u ms waiting for %s", __FILE__, __LINE__,                \
                 natter_test_timeout_, #expr);                                                     \
    }                                                                                              \
  }                                                                                                \
  G_STMT_END

GSubprocess *natter_test_start_notification_server (void);

G_END_DECLS
