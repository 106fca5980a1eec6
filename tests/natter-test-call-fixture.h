/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "natter-call-manager.h"
#include "natter-call-overlay.h"
#include "natter-client.h"
#include "natter-test-server.h"

G_BEGIN_DECLS

/* Two real clients, Alice and Bob, signed in to a real natter-server, and
 * a window holding a call overlay with the app's style sheet: the set-up
 * of the tests that put the overlay on a real call. */
typedef struct {
  NatterTestServer *server;
  GPtrArray *data_dirs;
  NatterProfile *alice_profile;
  NatterProfile *bob_profile;
  NatterClient *alice;
  NatterClient *bob;
  GtkWindow *window;
  NatterCallOverlay *overlay;
  char *shots_dir;
  GtkCssProvider *css;
} NatterTestCallFixture;

void natter_test_call_fixture_set_up (NatterTestCallFixture *fixture, gconstpointer data);
void natter_test_call_fixture_tear_down (NatterTestCallFixture *fixture, gconstpointer data);
gpointer natter_test_call_fixture_template_child (NatterTestCallFixture *fixture, const char *name);
const char *natter_test_call_fixture_label_text (NatterTestCallFixture *fixture, const char *name);
void natter_test_call_fixture_save_screenshot (NatterTestCallFixture *fixture, const char *name);
NatterCall *natter_test_call_fixture_ring_alice (NatterTestCallFixture *fixture,
                                                 const char *call_type,
                                                 NatterCall **out_bob_call);

NatterCallManager *natter_test_call_manager_of (NatterClient *client);
NatterCall *natter_test_call_first (NatterClient *client);
gboolean natter_test_call_has_state (NatterCall *call, NatterCallState state);

G_END_DECLS
