/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-network-monitor"

#include "config.h"

#include "natter-client.h"
#include "natter-test-client.h"
#include "natter-test-server.h"

/* The connection retries at once when the network comes back, throttled,
 * and does nothing when it goes away. The machine's network cannot be
 * switched off and on here, so the test gives the connection a
 * GNetworkMonitor of its own; everything else is real: the server, the
 * client, the backoff (made long through NATTER_RETRY_*_MS). */

#define TEST_TYPE_NETWORK_MONITOR (test_network_monitor_get_type ())
G_DECLARE_FINAL_TYPE (TestNetworkMonitor, test_network_monitor, TEST, NETWORK_MONITOR, GObject)

struct _TestNetworkMonitor {
  GObject parent_instance;

  gboolean available;
};

enum { PROP_0, PROP_NETWORK_AVAILABLE, PROP_NETWORK_METERED, PROP_CONNECTIVITY };

static gboolean
test_network_monitor_can_reach (GNetworkMonitor *monitor,
                                GSocketConnectable *connectable,
                                GCancellable *cancellable,
                                GError **error)
{
  TestNetworkMonitor *self = TEST_NETWORK_MONITOR (monitor);

  if (!self->available)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE, "No network");

  return self->available;
}

static void
test_network_monitor_iface_init (GNetworkMonitorInterface *iface)
{
  iface->can_reach = test_network_monitor_can_reach;
}

static gboolean
test_network_monitor_initable_init (GInitable *initable, GCancellable *cancellable, GError **error)
{
  return TRUE;
}

/* GNetworkMonitor requires GInitable. */
static void
test_network_monitor_initable_iface_init (GInitableIface *iface)
{
  iface->init = test_network_monitor_initable_init;
}

G_DEFINE_FINAL_TYPE_WITH_CODE (TestNetworkMonitor,
                               test_network_monitor,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE,
                                                      test_network_monitor_initable_iface_init)
                                 G_IMPLEMENT_INTERFACE (G_TYPE_NETWORK_MONITOR,
                                                        test_network_monitor_iface_init))

static void
test_network_monitor_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  TestNetworkMonitor *self = TEST_NETWORK_MONITOR (object);

  switch (prop_id) {
    case PROP_NETWORK_AVAILABLE:
      g_value_set_boolean (value, self->available);
      break;
    case PROP_NETWORK_METERED:
      g_value_set_boolean (value, FALSE);
      break;
    case PROP_CONNECTIVITY:
      g_value_set_enum (value, self->available ? G_NETWORK_CONNECTIVITY_FULL
                                               : G_NETWORK_CONNECTIVITY_LOCAL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
test_network_monitor_class_init (TestNetworkMonitorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = test_network_monitor_get_property;

  g_object_class_override_property (object_class, PROP_NETWORK_AVAILABLE, "network-available");
  g_object_class_override_property (object_class, PROP_NETWORK_METERED, "network-metered");
  g_object_class_override_property (object_class, PROP_CONNECTIVITY, "connectivity");
}

static void
test_network_monitor_init (TestNetworkMonitor *self)
{
  self->available = TRUE;
}

/* What a real monitor does when the routes change: update, then signal. */
static void
test_network_monitor_changed (TestNetworkMonitor *self, gboolean available)
{
  if (self->available != available) {
    self->available = available;
    g_object_notify (G_OBJECT (self), "network-available");
  }
  g_signal_emit_by_name (self, "network-changed", available);
}

typedef struct {
  NatterTestServer *server;
  char *tmpdir;
  TestNetworkMonitor *monitor;
  NatterClient *client;
  guint attempts; /* state changes to connecting */
  guint hellos;
  gint64 retry_due_us; /* when the scheduled retry fires */
} Fixture;

static NatterConnection *
connection_of (Fixture *fixture)
{
  return natter_client_get_connection (fixture->client);
}

static gboolean
is_state (Fixture *fixture, NatterConnectionState state)
{
  return natter_connection_get_state (connection_of (fixture)) == state;
}

static void
on_state (NatterConnection *connection, GParamSpec *pspec, Fixture *fixture)
{
  if (natter_connection_get_state (connection) == NATTER_CONNECTION_STATE_CONNECTING)
    fixture->attempts++;
}

static void
on_hello (NatterConnection *connection, const NatterFrame *frame, Fixture *fixture)
{
  fixture->hellos++;
}

static void
on_retry_delay (NatterConnection *connection, GParamSpec *pspec, Fixture *fixture)
{
  guint delay = natter_connection_get_retry_delay (connection);

  fixture->retry_due_us = delay > 0 ? g_get_monotonic_time () + (gint64) delay * 1000 : 0;
}

static void
log_in (NatterClient *client)
{
  natter_test_client_login (client, "abebe@example.org", 5000);
}

static NatterClient *
new_client (Fixture *fixture, const char *name)
{
  g_autofree char *dir = g_build_filename (fixture->tmpdir, name, NULL);

  return natter_client_new (natter_test_server_get_url (fixture->server), dir);
}

/* The client under test: our monitor, and every attempt and retry seen
 * from before the first one. */
static void
start_client (Fixture *fixture)
{
  NatterConnection *connection;

  fixture->client = new_client (fixture, "a");
  connection = connection_of (fixture);
  natter_connection_set_network_monitor (connection, G_NETWORK_MONITOR (fixture->monitor));
  g_signal_connect (connection, "notify::state", G_CALLBACK (on_state), fixture);
  g_signal_connect (connection, "notify::retry-delay", G_CALLBACK (on_retry_delay), fixture);
  g_signal_connect (connection, "frame::hello", G_CALLBACK (on_hello), fixture);
  log_in (fixture->client);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterUser) user = NULL;
  g_autoptr (GError) error = NULL;

  fixture->server = natter_test_server_new (data);
  fixture->tmpdir = g_dir_make_tmp ("natter-test-network-monitor-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->monitor = g_object_new (TEST_TYPE_NETWORK_MONITOR, NULL);

  user = natter_test_server_register (fixture->server, "abebe@example.org", "Abebe", "tutor", NULL,
                                      NULL);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  if (fixture->client != NULL) {
    g_signal_handlers_disconnect_by_data (connection_of (fixture), fixture);
    g_assert_finalize_object (g_steal_pointer (&fixture->client));
  }
  /* The connection lets go of the monitor once its last callbacks ran. */
  g_object_add_weak_pointer (G_OBJECT (fixture->monitor), (gpointer *) &fixture->monitor);
  g_object_unref (fixture->monitor);
  natter_test_wait_until (fixture->monitor == NULL, 5000);
  natter_test_server_free (fixture->server);
  natter_test_remove_tree (fixture->tmpdir);
  g_free (fixture->tmpdir);
}

static gint64
retry_left_ms (Fixture *fixture)
{
  if (!is_state (fixture, NATTER_CONNECTION_STATE_WAITING_TO_RETRY) || fixture->retry_due_us == 0)
    return 0;

  return (fixture->retry_due_us - g_get_monotonic_time ()) / 1000;
}

/* The backoff's delays are random (full jitter): wait for failed attempts
 * until one schedules its retry at least @min_ms away. */
static void
wait_for_long_retry (Fixture *fixture, gint64 min_ms)
{
  natter_test_wait_until (retry_left_ms (fixture) >= min_ms, 120000);
}

static void
settle (guint ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) ms * 1000;

  while (natter_test_iterate_until (deadline))
    ;
}

/* WebSocket handshakes the server has answered, whatever the status. */
static guint
server_ws_attempts (Fixture *fixture)
{
  return (guint) natter_test_server_metric (fixture->server,
                                            "natter_http_requests_total{route=\"/ws/{id}/{type}\"");
}

/* `sync` frames the server has read: one per link that said hello. */
static guint
server_syncs (Fixture *fixture)
{
  return (guint) natter_test_server_metric (fixture->server,
                                            "natter_frames_in_total{type=\"sync\"} ");
}

static gboolean
server_has_no_connections (Fixture *fixture)
{
  g_autofree char *metrics = NULL;
  guint status = 0;

  metrics = natter_test_server_fetch_metrics (fixture->server, &status);

  return status == 200 && strstr (metrics, "\nnatter_connections 0\n") != NULL;
}

static void
test_network_back_retries_at_once (Fixture *fixture, gconstpointer data)
{
  gint64 started;
  gint64 left_ms;
  gint64 took_ms;

  start_client (fixture);
  g_assert_true (natter_connection_get_network_monitor (connection_of (fixture)) ==
                 G_NETWORK_MONITOR (fixture->monitor));
  natter_test_wait_until (is_state (fixture, NATTER_CONNECTION_STATE_CONNECTED), 5000);

  /* The network goes away with the server: the retries back off. */
  natter_test_server_stop (fixture->server);
  test_network_monitor_changed (fixture->monitor, FALSE);
  wait_for_long_retry (fixture, 20000);

  /* The server is back, but nothing tells the connection: it waits. */
  natter_test_server_restart (fixture->server);
  settle (300);
  g_assert_true (is_state (fixture, NATTER_CONNECTION_STATE_WAITING_TO_RETRY));

  /* The network comes back: connected long before the backoff's retry. */
  left_ms = retry_left_ms (fixture);
  g_assert_cmpint (left_ms, >=, 19000);
  started = g_get_monotonic_time ();
  test_network_monitor_changed (fixture->monitor, TRUE);
  natter_test_wait_until (is_state (fixture, NATTER_CONNECTION_STATE_CONNECTED), left_ms / 3);
  took_ms = (g_get_monotonic_time () - started) / 1000;
  g_test_message ("connected %" G_GINT64_FORMAT " ms after the network came back; the backoff "
                  "would have waited %" G_GINT64_FORMAT " ms",
                  took_ms, left_ms);
  g_assert_cmpint (took_ms * 3, <, left_ms);
  g_assert_cmpuint (natter_connection_get_retry_delay (connection_of (fixture)), ==, 0);
}

/* Emits @n network-changed signals @gap_ms apart, as a monitor does when
 * several interfaces and routes change at once. */
static void
burst (Fixture *fixture, gboolean available, guint n, guint gap_ms)
{
  for (guint i = 0; i < n; i++) {
    test_network_monitor_changed (fixture->monitor, available);
    settle (gap_ms);
  }
}

static void
test_burst_is_throttled (Fixture *fixture, gconstpointer data)
{
  g_autoptr (NatterClient) blocker = NULL;
  guint before;
  guint attempts_before;
  guint server_attempts;
  guint client_attempts;
  guint allowed;
  gint64 started;
  gint64 left_ms;
  gint64 took_ms;

  /* The server takes one connection per user: while another device of
   * the user holds it, every attempt of ours is refused (429), counted at
   * the server, and retried. */
  blocker = new_client (fixture, "blocker");
  log_in (blocker);
  natter_test_wait_until (natter_connection_get_state (natter_client_get_connection (blocker)) ==
                            NATTER_CONNECTION_STATE_CONNECTED,
                          5000);

  start_client (fixture);
  wait_for_long_retry (fixture, 4000);

  /* Twenty network-changed (TRUE) in one second: one attempt at once, the
   * rest throttled. Without the throttle each would be an attempt. */
  before = server_ws_attempts (fixture);
  attempts_before = fixture->attempts;
  started = g_get_monotonic_time ();
  burst (fixture, TRUE, 20, 50);
  took_ms = (g_get_monotonic_time () - started) / 1000;
  natter_test_wait_until (is_state (fixture, NATTER_CONNECTION_STATE_WAITING_TO_RETRY), 5000);
  server_attempts = server_ws_attempts (fixture) - before;
  client_attempts = fixture->attempts - attempts_before;
  /* One per 2 s throttle window the burst spanned (one on a quiet
   * machine), and one more if the backoff happened to draw a short delay
   * after a refusal. */
  allowed = 1 + (guint) (took_ms / 2000) + 1;
  g_test_message ("20 network-changed in %" G_GINT64_FORMAT " ms: %u attempts at the server "
                  "(at most %u allowed)",
                  took_ms, server_attempts, allowed);
  g_assert_cmpuint (server_attempts, >=, 1);
  g_assert_cmpuint (server_attempts, <=, allowed);
  g_assert_cmpuint (client_attempts, ==, server_attempts);

  /* The network goes away, repeatedly: nothing is attempted. */
  wait_for_long_retry (fixture, 4000);
  before = server_ws_attempts (fixture);
  attempts_before = fixture->attempts;
  burst (fixture, FALSE, 20, 50);
  g_assert_cmpuint (server_ws_attempts (fixture) - before, ==, 0);
  g_assert_cmpuint (fixture->attempts - attempts_before, ==, 0);
  g_assert_true (is_state (fixture, NATTER_CONNECTION_STATE_WAITING_TO_RETRY));

  /* The other device leaves; the network comes back: connected at once.
   * The long retry is drawn while the other device still holds the link:
   * once it has gone, the next retry would succeed instead of waiting. */
  wait_for_long_retry (fixture, 25000);
  g_assert_finalize_object (g_steal_pointer (&blocker));
  natter_test_wait_until (server_has_no_connections (fixture), 5000);
  /* Past the throttle window of the last network retry. */
  settle (2100);
  left_ms = retry_left_ms (fixture);
  g_assert_cmpint (left_ms, >=, 15000);
  test_network_monitor_changed (fixture->monitor, TRUE);
  natter_test_wait_until (is_state (fixture, NATTER_CONNECTION_STATE_CONNECTED), left_ms / 3);
}

static void
test_link_replaced_after_network_loss (Fixture *fixture, gconstpointer data)
{
  start_client (fixture);
  natter_test_wait_until (is_state (fixture, NATTER_CONNECTION_STATE_CONNECTED), 5000);
  g_assert_cmpuint (fixture->hellos, ==, 1);
  natter_test_wait_until (server_syncs (fixture) == 1, 5000);

  /* "The network changed" while nothing was lost: the link stays. */
  test_network_monitor_changed (fixture->monitor, TRUE);
  settle (500);
  g_assert_cmpuint (fixture->attempts, ==, 1);
  g_assert_cmpuint (fixture->hellos, ==, 1);

  /* Gone: nothing to do yet (the link may still be fine). */
  test_network_monitor_changed (fixture->monitor, FALSE);
  settle (300);
  g_assert_true (is_state (fixture, NATTER_CONNECTION_STATE_CONNECTED));
  g_assert_cmpuint (fixture->attempts, ==, 1);

  /* Back: the link that lived through the loss is replaced at once, not
   * after the watchdog's 90 s. */
  test_network_monitor_changed (fixture->monitor, TRUE);
  natter_test_wait_until (fixture->hellos == 2, 5000);
  g_assert_true (is_state (fixture, NATTER_CONNECTION_STATE_CONNECTED));
  g_assert_cmpuint (fixture->attempts, ==, 2);
  natter_test_wait_until (server_syncs (fixture) == 2, 5000);

  /* Once: the next "back" without a loss leaves it alone. */
  settle (2100);
  test_network_monitor_changed (fixture->monitor, TRUE);
  settle (500);
  g_assert_cmpuint (fixture->attempts, ==, 2);
  g_assert_cmpuint (fixture->hellos, ==, 2);
  g_assert_cmpuint (server_syncs (fixture), ==, 2);
}

int
main (int argc, char **argv)
{
  static const char *const one_connection_per_user[] = { "--max-connections-per-user", "1", NULL };

  g_setenv ("NATTER_TOKEN_STORE", "file", TRUE);
  g_unsetenv ("NATTER_TOKEN");
  /* A backoff of up to two minutes at every attempt: a quick reconnect can
   * only come from the network monitor. */
  g_setenv ("NATTER_RETRY_FIRST_MS", "120000", TRUE);
  g_setenv ("NATTER_RETRY_BASE_MS", "120000", TRUE);
  g_setenv ("NATTER_RETRY_MAX_MS", "120000", TRUE);
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/natter/network-monitor/network-back-retries-at-once", Fixture, NULL, fixture_set_up,
              test_network_back_retries_at_once, fixture_tear_down);
  g_test_add ("/natter/network-monitor/link-replaced-after-network-loss", Fixture, NULL,
              fixture_set_up, test_link_replaced_after_network_loss, fixture_tear_down);
  g_test_add ("/natter/network-monitor/burst-is-throttled-offline-does-not-spin", Fixture,
              one_connection_per_user, fixture_set_up, test_burst_is_throttled, fixture_tear_down);

  return g_test_run ();
}
