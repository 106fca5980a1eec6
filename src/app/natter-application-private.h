/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "natter-application.h"
#include "natter-call-manager.h"
#include "natter-call-notifier.h"

G_BEGIN_DECLS

/* Shared by natter-application.c and natter-application-actions.c. */
struct _NatterApplication {
  AdwApplication parent_instance;

  GSettings *settings;
  NatterClient *client;
  GPtrArray *watchers;           /* NatterClient: the user's other profiles */
  NatterClient *calling_watcher; /* another profile's client, kept while its call lasts */
  NatterCallManager *call_manager;
  NatterCallNotifier *call_notifier;
  NatterDevices *devices; /* the chosen microphone, camera, speaker for calls */
  char *server_url_option;
  GCancellable *cancellable;

  gboolean signed_in;
  gboolean restoring;
  gboolean mark_sign_in; /* the next hello's server time is this device's sign-in */
  gboolean window_wanted;
  gboolean held;
  gboolean notification_body_markup; /* the notification backend reads markup */
  guint inhibit_cookie;
  guint give_back_id;          /* malloc_trim once the last window is gone */
  gboolean started_hidden;     /* natter --background: no GL to shed */
  gboolean handover_enabled;   /* main () execs a fresh image when asked */
  gboolean handover_requested; /* the run ended for that */
  guint handover_id;           /* the last window closed; hand over when idle */
};

void natter_application_add_actions (NatterApplication *self);
void natter_application_present_main_window (NatterApplication *self);
void natter_application_present_sign_in_window (NatterApplication *self);
void natter_application_update_hold (NatterApplication *self);
void natter_application_update_watchers (NatterApplication *self);
NatterClient *natter_application_find_watcher (NatterApplication *self,
                                               const NatterProfile *profile,
                                               guint *out_index);
gboolean natter_application_can_notify (NatterApplication *self);
void natter_application_set_notification_body (NatterApplication *self,
                                               GNotification *notification,
                                               const char *text);

G_END_DECLS
