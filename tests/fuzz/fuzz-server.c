/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fuzz-server"

/* The hub as the network sees it: each input is a sequence of lines, each
 * one frame sent on one of four connections of an in-process hub, on a fresh
 * in-memory database with three profiles, two of them in one conversation:
 *
 *   slot 0, 1  profile 1 "tutor" (user 1, two devices)
 *   slot 2     profile 2 "student" (user 2), in conversation 1 with profile 1
 *   slot 3     profile 3 "parent" (user 3), in no conversation
 *
 * A line "0{…}" … "3{…}" sends the rest of the line on that slot, "cN"
 * closes slot N, "oN" opens it again, any other line is sent on slot 0.
 * After every line the main context runs until idle, every frame the hub
 * sent must parse as a frame to a client, and the hub must count exactly
 * the open connections. At the end the hub shuts down and everything must be
 * freed: no object survives, and LeakSanitizer sees no leak. */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "natter-frame.h"
#include "natter-hub-private.h"
#include "natter-hub-testing.h"
#include "natter-server-sqlite-store.h"

#define N_SLOTS 4

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct {
  NatterServerDb *db;
  NatterServerSqliteStore *store;
  NatterServerConfig *config;
  NatterMetrics *metrics;
  NatterHub *hub;
  NatterProfile *profiles[3];
  gint64 user_ids[3];
  NatterHubConnection *slots[N_SLOTS];
} World;

static const guint slot_profile[N_SLOTS] = { 0, 0, 1, 2 };
static gboolean verbose;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* A critical or warning from the server is a bug the fuzzer should report:
   * nothing a client sends may make the hub complain about itself. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  /* NATTER_FUZZ_VERBOSE=1 prints what the hub sends, to read a crash. */
  verbose = g_getenv ("NATTER_FUZZ_VERBOSE") != NULL;
  return 0;
}

static void
drain_main_context (void)
{
  /* The hub defers group commits to a zero timeout: run them. */
  for (guint i = 0; i < 1000 && g_main_context_iteration (NULL, FALSE); i++)
    ;
}

static void
check_outboxes (World *world)
{
  for (guint i = 0; i < N_SLOTS; i++) {
    GPtrArray *outbox;

    if (world->slots[i] == NULL)
      continue;

    outbox = natter_hub_connection_get_outbox_for_testing (world->slots[i]);
    for (guint j = 0; j < outbox->len; j++) {
      const char *text = g_ptr_array_index (outbox, j);
      g_autoptr (GError) error = NULL;
      g_autoptr (NatterFrame) frame = NULL;

      frame = natter_frame_parse (text, strlen (text), NATTER_DIRECTION_TO_CLIENT, NULL, &error);
      if (frame == NULL) {
        g_printerr ("the hub sent a frame no client can read: %s\n  %s\n", error->message, text);
        abort ();
      }
      if (verbose)
        g_printerr ("  slot %u <- %s\n", i, text);
    }
    g_ptr_array_set_size (outbox, 0);
  }
}

static void
check_connection_count (World *world)
{
  guint open = 0;

  for (guint i = 0; i < N_SLOTS; i++) {
    if (world->slots[i] != NULL && natter_hub_connection_is_open (world->slots[i]))
      open++;
  }
  if (natter_hub_get_n_connections (world->hub) != open) {
    g_printerr ("the hub counts %u connections, %u are open\n",
                natter_hub_get_n_connections (world->hub), open);
    abort ();
  }
}

static void
open_slot (World *world, guint slot)
{
  guint who = slot_profile[slot];

  if (world->slots[slot] != NULL && natter_hub_connection_is_open (world->slots[slot]))
    return;

  g_clear_object (&world->slots[slot]);
  world->slots[slot] = natter_hub_connection_new_for_testing (
    world->profiles[who], world->user_ids[who], who + 1, world->config, world->metrics);
  natter_hub_add_connection_for_testing (world->hub, world->slots[slot]);
}

static void
world_init (World *world)
{
  static const char *const types[] = { "tutor", "student", "parent" };
  g_autoptr (GError) error = NULL;
  g_autoptr (NatterConversation) conversation = NULL;

  world->db = natter_server_db_open (":memory:", &error);
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
    const char *profile_types[] = { types[i], NULL };
    g_autofree char *email = g_strdup_printf ("user%u@fuzz.invalid", i + 1);
    g_autofree char *name = g_strdup_printf ("User %u", i + 1);
    g_autoptr (NatterUser) user = NULL;

    natter_server_db_create_user (world->db, email, "not-a-hash", name, profile_types,
                                  &world->user_ids[i], &error);
    g_assert_no_error (error);
    user = natter_server_db_get_user (world->db, world->user_ids[i], &error);
    g_assert_no_error (error);
    world->profiles[i] = natter_profile_copy (g_ptr_array_index (user->profiles, 0));
  }

  conversation = natter_server_db_get_or_create_direct (world->db, world->profiles[0],
                                                        world->profiles[1], &error);
  g_assert_no_error (error);

  world->config = natter_server_config_new ();
  /* Room for long inputs: the rate limits are tested elsewhere, here they
   * would only hide the handlers behind rate_limited errors. */
  world->config->frame_burst = 100000;
  world->config->chat_burst = 100000;
  world->metrics = natter_metrics_new ();
  world->store = natter_server_sqlite_store_new (world->db, &error);
  g_assert_no_error (error);
  world->hub = natter_hub_new (NATTER_SERVER_STORE (world->store), world->config, world->metrics);

  for (guint i = 0; i < N_SLOTS; i++)
    open_slot (world, i);
}

static void
on_shut_down (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *done = user_data;

  if (!natter_hub_shutdown_finish (NATTER_HUB (source), result, NULL))
    abort ();
  *done = TRUE;
}

static void
world_clear (World *world)
{
  gboolean done = FALSE;
  gpointer hub_alive = world->hub;
  gpointer db_alive = world->db;

  natter_hub_shutdown_async (world->hub, NULL, on_shut_down, &done);
  for (guint i = 0; i < 10000 && !done; i++)
    g_main_context_iteration (NULL, FALSE);
  if (!done)
    abort ();
  check_outboxes (world);

  for (guint i = 0; i < N_SLOTS; i++) {
    gpointer alive = world->slots[i];

    if (alive == NULL)
      continue;
    g_object_add_weak_pointer (alive, &alive);
    g_clear_object (&world->slots[i]);
    /* Call sessions and pending messages hold connections: the shutdown
     * must have let go of all of them. */
    if (alive != NULL) {
      g_printerr ("a connection outlived the hub's shutdown\n");
      abort ();
    }
  }

  g_object_add_weak_pointer (hub_alive, &hub_alive);
  g_clear_object (&world->hub);
  drain_main_context ();
  if (hub_alive != NULL) {
    g_printerr ("the hub outlived its last reference\n");
    abort ();
  }

  natter_server_sqlite_store_close (world->store);
  g_clear_object (&world->store);
  natter_server_db_close (world->db);
  g_object_add_weak_pointer (db_alive, &db_alive);
  g_clear_object (&world->db);
  if (db_alive != NULL)
    abort ();

  g_clear_object (&world->metrics);
  g_clear_pointer (&world->config, natter_server_config_free);
  for (guint i = 0; i < G_N_ELEMENTS (world->profiles); i++)
    g_clear_pointer (&world->profiles[i], natter_profile_free);
}

static void
run_line (World *world, const char *line, gsize length)
{
  guint slot = 0;

  if (length == 2 && line[1] >= '0' && line[1] < '0' + N_SLOTS &&
      (line[0] == 'c' || line[0] == 'o')) {
    slot = (guint) (line[1] - '0');
    if (line[0] == 'o')
      open_slot (world, slot);
    else if (world->slots[slot] != NULL)
      natter_hub_connection_close (world->slots[slot], SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    return;
  }

  if (length > 0 && line[0] >= '0' && line[0] < '0' + N_SLOTS) {
    slot = (guint) (line[0] - '0');
    line++;
    length--;
  }

  if (world->slots[slot] != NULL)
    natter_hub_connection_receive_for_testing (world->slots[slot], line, length);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  World world = { NULL };
  const char *text = (const char *) data;
  const char *end = text + size;

  world_init (&world);
  drain_main_context ();
  check_outboxes (&world);

  while (text < end) {
    const char *newline = memchr (text, '\n', (size_t) (end - text));
    const char *line_end = newline != NULL ? newline : end;

    if (verbose)
      g_printerr ("%.*s\n", (int) (line_end - text), text);
    run_line (&world, text, (gsize) (line_end - text));
    drain_main_context ();
    check_outboxes (&world);
    check_connection_count (&world);

    text = newline != NULL ? newline + 1 : end;
  }

  world_clear (&world);
  return 0;
}
