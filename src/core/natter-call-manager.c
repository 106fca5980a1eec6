/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-call-manager"

#include "config.h"

#include "natter-call-manager.h"
#include "natter-call-media-proxy.h"
#include "natter-http-body.h"

/* See release_call_stack_later(). */
#define RELEASE_CALL_STACK_DELAY_MS 5000

/* Owned by NatterClient, so by the application, never by a view: calls ring
 * whatever window is open, or none. The app follows calls through the
 * `calls` model, `active-call`, and the `incoming-call` / `call-ended`
 * signals; a call leaves the model right after `call-ended`. */

enum {
  PROP_0,
  PROP_CONNECTION,
  PROP_ACCOUNT,
  PROP_CALLS,
  PROP_ACTIVE_CALL,
  PROP_RINGER,
  PROP_DEVICES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum { SIGNAL_INCOMING_CALL, SIGNAL_CALL_ENDED, N_SIGNALS };

static guint signals[N_SIGNALS];

struct _NatterCallManager {
  GObject parent_instance;

  NatterConnection *connection;
  NatterAccount *account;
  GListStore *calls;
  NatterCall *active_call;
  NatterRinger *ringer;
  NatterDevices *devices;
  GPtrArray *ice_servers;
  GCancellable *cancellable;
  gint64 ice_servers_expire_us;
  gboolean ice_servers_pending;

  /* Glare: we lost our own invitation to this ringing call; accept it. */
  gint64 glare_call_log_id;
  NatterProfile *glare_peer;
  gboolean glare_with_video;

  gboolean holds_call_stack; /* while it has calls: natter_call_pipeline_hold() */
  guint release_call_stack_id;
};

G_DEFINE_FINAL_TYPE (NatterCallManager, natter_call_manager, G_TYPE_OBJECT)

static void
update_ringer (NatterCallManager *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->calls));
  gboolean incoming = FALSE;
  NatterRingerMode mode = NATTER_RINGER_MODE_NONE;

  for (guint i = 0; i < n; i++) {
    g_autoptr (NatterCall) call = g_list_model_get_item (G_LIST_MODEL (self->calls), i);

    if (natter_call_get_state (call) == NATTER_CALL_STATE_RINGING_INCOMING &&
        !natter_call_get_silenced (call))
      incoming = TRUE;
  }

  if (incoming)
    mode = self->active_call != NULL ? NATTER_RINGER_MODE_SOFT : NATTER_RINGER_MODE_INCOMING;
  else if (self->active_call != NULL &&
           natter_call_get_state (self->active_call) == NATTER_CALL_STATE_RINGING_OUTGOING &&
           natter_call_get_peer_ringing (self->active_call))
    mode = NATTER_RINGER_MODE_RINGBACK;
  else if (natter_ringer_get_mode (self->ringer) == NATTER_RINGER_MODE_BUSY)
    mode = NATTER_RINGER_MODE_BUSY; /* it stops on its own */

  natter_ringer_set_mode (self->ringer, mode);
}

static void
update_active_call (NatterCallManager *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->calls));
  NatterCall *active = NULL;

  for (guint i = 0; i < n && active == NULL; i++) {
    g_autoptr (NatterCall) call = g_list_model_get_item (G_LIST_MODEL (self->calls), i);
    NatterCallState state = natter_call_get_state (call);

    if (state == NATTER_CALL_STATE_RINGING_OUTGOING || state == NATTER_CALL_STATE_CONNECTING ||
        state == NATTER_CALL_STATE_CONNECTED)
      active = call;
  }

  if (g_set_object (&self->active_call, active))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACTIVE_CALL]);
}

static void
remove_call (NatterCallManager *self, NatterCall *call)
{
  guint position;

  g_signal_handlers_disconnect_by_data (call, self);
  if (g_list_store_find (self->calls, call, &position))
    g_list_store_remove (self->calls, position);
}

/* The call stack loads when a call rings or is placed, not when the
 * program starts, and its memory goes back once no call is left. */
static void
hold_call_stack (NatterCallManager *self)
{
  g_clear_handle_id (&self->release_call_stack_id, g_source_remove);
  if (self->holds_call_stack)
    return;
  self->holds_call_stack = TRUE;
  /* With a helper the call stack loads there, and this process only
   * starts the helper (its start-up is done before accept). */
  if (natter_call_media_proxy_get_helper_path () != NULL)
    natter_call_media_proxy_prepare ();
  else
    natter_call_pipeline_hold ();
}

static gboolean
release_call_stack (gpointer user_data)
{
  NatterCallManager *self = user_data;

  self->release_call_stack_id = 0;
  if (self->holds_call_stack) {
    self->holds_call_stack = FALSE;
    if (natter_call_media_proxy_get_helper_path () != NULL) {
      natter_call_media_proxy_discard_spare ();
      /* natter-call-media --devices too: the next call starts it again. */
      if (self->devices != NULL)
        natter_devices_stop_helper (self->devices);
      natter_call_pipeline_trim_memory ();
    } else {
      natter_call_pipeline_release ();
    }
  }
  return G_SOURCE_REMOVE;
}

/* A few seconds after the last call ended: its pipeline is closed, the
 * listeners of call-ended have let go of what they held, and a call made
 * right after (a redial, a call back) still finds the memory the last one
 * freed (see natter_call_pipeline_hold()). NATTER_CALL_RELEASE_DELAY_MS
 * changes the wait (tests, benchmarks). */
static void
release_call_stack_later (NatterCallManager *self)
{
  const char *delay_env = g_getenv ("NATTER_CALL_RELEASE_DELAY_MS");
  guint delay_ms = RELEASE_CALL_STACK_DELAY_MS;

  if (!self->holds_call_stack || self->release_call_stack_id != 0 ||
      g_list_model_get_n_items (G_LIST_MODEL (self->calls)) > 0)
    return;
  if (delay_env != NULL)
    delay_ms = (guint) MIN (g_ascii_strtoull (delay_env, NULL, 10), 600000);
  self->release_call_stack_id = g_timeout_add (delay_ms, release_call_stack, self);
  g_source_set_static_name (g_main_context_find_source_by_id (NULL, self->release_call_stack_id),
                            "[natter] release the call stack");
}

static void
on_call_state (NatterCall *call, GParamSpec *pspec, NatterCallManager *self)
{
  G_GNUC_UNUSED g_autoptr (NatterCall) keep = g_object_ref (call);

  if (natter_call_get_state (call) == NATTER_CALL_STATE_ENDED) {
    if (!natter_call_get_incoming (call) &&
        natter_call_get_end_reason (call) == NATTER_CALL_END_REASON_BUSY)
      natter_ringer_set_mode (self->ringer, NATTER_RINGER_MODE_BUSY);
    remove_call (self, call);
    update_active_call (self);
    update_ringer (self);
    g_signal_emit (self, signals[SIGNAL_CALL_ENDED], 0, call);
    release_call_stack_later (self);
    return;
  }

  update_active_call (self);
  update_ringer (self);
}

static void
on_call_ringing_changed (NatterCall *call, GParamSpec *pspec, NatterCallManager *self)
{
  update_ringer (self);
}

static void
give_devices (NatterCallManager *self, NatterCall *call)
{
  g_autoptr (NatterDevice) microphone = natter_devices_get_microphone (self->devices);
  g_autoptr (NatterDevice) camera = natter_devices_get_camera (self->devices);
  g_autoptr (NatterDevice) speaker = natter_devices_get_speaker (self->devices);

  natter_call_set_devices (call, microphone, camera, speaker);
}

/* A choice made in preferences or the call's device menu applies to the
 * calls under way at once. */
static void
on_device_choice_changed (NatterDevices *devices, GParamSpec *pspec, NatterCallManager *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->calls));

  for (guint i = 0; i < n; i++) {
    g_autoptr (NatterCall) call = g_list_model_get_item (G_LIST_MODEL (self->calls), i);

    if (natter_call_get_state (call) != NATTER_CALL_STATE_ENDED)
      give_devices (self, call);
  }
}

static void
prepare_call (NatterCallManager *self, NatterCall *call)
{
  hold_call_stack (self);
  natter_call_set_ice_servers (call, self->ice_servers);
  if (self->devices != NULL) {
    g_autoptr (NatterDevice) camera = NULL;

    natter_devices_ensure_started (self->devices);
    camera = natter_devices_get_camera (self->devices);
    give_devices (self, call);
    /* A test source stands in for a camera when one is configured. */
    if (g_getenv ("NATTER_VIDEO_SRC") == NULL)
      natter_call_set_camera_available (call, camera != NULL);
  }
  g_signal_connect (call, "notify::state", G_CALLBACK (on_call_state), self);
  g_signal_connect (call, "notify::silenced", G_CALLBACK (on_call_ringing_changed), self);
  g_signal_connect (call, "notify::peer-ringing", G_CALLBACK (on_call_ringing_changed), self);
  g_list_store_append (self->calls, call);
}

static NatterCall *
find_by_client_call_id (NatterCallManager *self, const char *client_call_id)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->calls));

  for (guint i = 0; client_call_id != NULL && i < n; i++) {
    g_autoptr (NatterCall) call = g_list_model_get_item (G_LIST_MODEL (self->calls), i);

    if (g_strcmp0 (natter_call_get_client_call_id (call), client_call_id) == 0)
      return call;
  }
  return NULL;
}

static NatterCall *
find_by_peer (NatterCallManager *self,
              gint64 profile_id,
              const char *profile_type,
              gboolean incoming_ringing)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->calls));

  for (guint i = 0; profile_type != NULL && i < n; i++) {
    g_autoptr (NatterCall) call = g_list_model_get_item (G_LIST_MODEL (self->calls), i);
    const NatterProfile *peer = natter_call_get_peer (call);

    if (peer->profile_id != profile_id ||
        g_ascii_strcasecmp (peer->profile_type, profile_type) != 0)
      continue;
    if (incoming_ringing && natter_call_get_state (call) != NATTER_CALL_STATE_RINGING_INCOMING)
      continue;
    return call;
  }
  return NULL;
}

static void
clear_glare (NatterCallManager *self)
{
  self->glare_call_log_id = 0;
  g_clear_pointer (&self->glare_peer, natter_profile_free);
}

static gboolean
glare_matches (NatterCallManager *self, NatterCall *call)
{
  if (self->glare_peer == NULL)
    return FALSE;
  if (self->glare_call_log_id != 0)
    return natter_call_get_call_log_id (call) == self->glare_call_log_id;
  return natter_profile_equal (self->glare_peer, natter_call_get_peer (call));
}

static void
handle_invitation (NatterCallManager *self, const NatterFrame *frame)
{
  g_autoptr (NatterCall) call = NULL;

  /* A reconnect during the ring replays the invitation: one call only. */
  if (natter_call_manager_find_call (self, frame->call_log_id) != NULL)
    return;

  call = natter_call_new_incoming (self->connection, frame);
  if (call == NULL) {
    g_debug ("Ignoring an invitation without call_log_id or offer");
    return;
  }
  prepare_call (self, call);
  update_ringer (self);
  g_signal_emit (self, signals[SIGNAL_INCOMING_CALL], 0, call);

  if (glare_matches (self, call) &&
      natter_call_get_state (call) == NATTER_CALL_STATE_RINGING_INCOMING) {
    gboolean with_video = self->glare_with_video;

    clear_glare (self);
    natter_call_accept (call, with_video);
  }
}

static void
handle_unavailable (NatterCallManager *self, NatterCall *call, const NatterFrame *frame)
{
  gboolean with_video = g_strcmp0 (natter_call_get_call_type (call), "video") == 0;
  g_autoptr (NatterProfile) peer = natter_profile_copy (natter_call_get_peer (call));
  NatterCall *incoming;

  natter_call_handle_frame (call, frame);
  if (g_strcmp0 (frame->reason, "glare") != 0)
    return;

  /* Both asked to talk: take the call that survived, without a click. */
  incoming = natter_call_manager_find_call (self, frame->ringing_call_log_id);
  if (incoming == NULL)
    incoming = find_by_peer (self, peer->profile_id, peer->profile_type, TRUE);
  if (incoming != NULL && natter_call_get_state (incoming) == NATTER_CALL_STATE_RINGING_INCOMING) {
    natter_call_accept (incoming, with_video);
    return;
  }
  clear_glare (self);
  self->glare_call_log_id = frame->ringing_call_log_id;
  self->glare_peer = g_steal_pointer (&peer);
  self->glare_with_video = with_video;
}

static void
on_frame (NatterConnection *connection, const NatterFrame *frame, NatterCallManager *self)
{
  NatterCall *call = NULL;

  switch (frame->type) {
    case NATTER_FRAME_CALL_INVITATION:
      handle_invitation (self, frame);
      return;
    case NATTER_FRAME_CALL_RINGING:
      call = find_by_client_call_id (self, frame->client_call_id);
      break;
    case NATTER_FRAME_CALL_UNAVAILABLE:
      call = find_by_client_call_id (self, frame->client_call_id);
      if (call != NULL) {
        g_autoptr (NatterCall) keep = g_object_ref (call);

        handle_unavailable (self, keep, frame);
      }
      return;
    case NATTER_FRAME_ERROR:
      /* An invitation the server refused (rate_limited, not_allowed for a
       * block, …) never rings: the call ends as unavailable. */
      call = frame->ref != NULL ? find_by_client_call_id (self, frame->ref) : NULL;
      if (call != NULL && natter_call_get_call_log_id (call) == 0 &&
          natter_call_get_state (call) == NATTER_CALL_STATE_RINGING_OUTGOING) {
        g_autoptr (NatterCall) keep = g_object_ref (call);
        g_autoptr (NatterFrame) refused = natter_frame_new (NATTER_FRAME_CALL_UNAVAILABLE);

        refused->client_call_id = g_strdup (frame->ref);
        refused->reason = g_strdup (frame->code != NULL ? frame->code : "refused");
        natter_call_handle_frame (keep, refused);
      }
      return;
    case NATTER_FRAME_ICE_CANDIDATE:
    case NATTER_FRAME_CALL_ANSWER:
    case NATTER_FRAME_CALL_DECLINED:
    case NATTER_FRAME_CALL_CANCELLED:
    case NATTER_FRAME_CALL_ENDED:
    case NATTER_FRAME_CALL_MEDIA_STATE:
    case NATTER_FRAME_CALL_UPDATE:
      call = natter_call_manager_find_call (self, frame->call_log_id);
      /* Compatibility routing carries only the sender's profile. */
      if (call == NULL && frame->call_log_id == 0)
        call = find_by_peer (self, frame->from_profile_id, frame->from_profile_type, FALSE);
      break;
    default:
      return;
  }

  if (call != NULL) {
    g_autoptr (NatterCall) keep = g_object_ref (call);

    natter_call_handle_frame (keep, frame);
  }
}

static void
on_ice_servers_fetched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (NatterCallManager) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = natter_account_request_finish (NATTER_ACCOUNT (source), result, &error);
  g_autoptr (GPtrArray) servers = NULL;
  gint64 ttl_s = 0;

  self->ice_servers_pending = FALSE;
  if (body == NULL) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_info ("Cannot fetch the ICE servers: %s", error->message);
    return;
  }

  servers = natter_ice_servers_parse (g_bytes_get_data (body, NULL), g_bytes_get_size (body),
                                      &ttl_s, &error);
  if (servers == NULL) {
    g_info ("Unreadable ICE servers: %s", error->message);
    return;
  }
  g_clear_pointer (&self->ice_servers, g_ptr_array_unref);
  self->ice_servers = g_steal_pointer (&servers);
  /* Refresh at half the credentials' life. */
  self->ice_servers_expire_us = g_get_monotonic_time () + MAX (ttl_s, 60) * G_USEC_PER_SEC / 2;
}

static void
refresh_ice_servers (NatterCallManager *self)
{
  if (self->account == NULL || self->ice_servers_pending ||
      !natter_account_get_signed_in (self->account))
    return;
  if (self->ice_servers != NULL && g_get_monotonic_time () < self->ice_servers_expire_us)
    return;

  self->ice_servers_pending = TRUE;
  natter_account_request_async (self->account, "GET", "/api/ice-servers", NULL, self->cancellable,
                                on_ice_servers_fetched, g_object_ref (self));
}

static void
on_connection_state (NatterConnection *connection, GParamSpec *pspec, NatterCallManager *self)
{
  if (natter_connection_get_state (connection) == NATTER_CONNECTION_STATE_CONNECTED)
    refresh_ice_servers (self);
}

static void
natter_call_manager_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  NatterCallManager *self = NATTER_CALL_MANAGER (object);

  switch (prop_id) {
    case PROP_CONNECTION:
      g_value_set_object (value, self->connection);
      break;
    case PROP_ACCOUNT:
      g_value_set_object (value, self->account);
      break;
    case PROP_CALLS:
      g_value_set_object (value, self->calls);
      break;
    case PROP_ACTIVE_CALL:
      g_value_set_object (value, self->active_call);
      break;
    case PROP_RINGER:
      g_value_set_object (value, self->ringer);
      break;
    case PROP_DEVICES:
      g_value_set_object (value, self->devices);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_manager_set_property (GObject *object,
                                  guint prop_id,
                                  const GValue *value,
                                  GParamSpec *pspec)
{
  NatterCallManager *self = NATTER_CALL_MANAGER (object);

  switch (prop_id) {
    case PROP_CONNECTION:
      self->connection = g_value_dup_object (value);
      break;
    case PROP_ACCOUNT:
      self->account = g_value_dup_object (value);
      break;
    case PROP_DEVICES:
      natter_call_manager_set_devices (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
natter_call_manager_constructed (GObject *object)
{
  NatterCallManager *self = NATTER_CALL_MANAGER (object);

  G_OBJECT_CLASS (natter_call_manager_parent_class)->constructed (object);

  g_signal_connect_object (self->connection, "frame", G_CALLBACK (on_frame), self, 0);
  g_signal_connect_object (self->connection, "notify::state", G_CALLBACK (on_connection_state),
                           self, 0);
  if (natter_connection_get_state (self->connection) == NATTER_CONNECTION_STATE_CONNECTED)
    refresh_ice_servers (self);
}

static void
natter_call_manager_dispose (GObject *object)
{
  NatterCallManager *self = NATTER_CALL_MANAGER (object);

  g_cancellable_cancel (self->cancellable);

  /* Ending the app ends its calls: the peer must not wait for media. */
  while (self->calls != NULL && g_list_model_get_n_items (G_LIST_MODEL (self->calls)) > 0) {
    g_autoptr (NatterCall) call = g_list_model_get_item (G_LIST_MODEL (self->calls), 0);

    remove_call (self, call);
    natter_call_hang_up (call);
  }
  if (self->ringer != NULL)
    natter_ringer_set_mode (self->ringer, NATTER_RINGER_MODE_NONE);
  g_clear_handle_id (&self->release_call_stack_id, g_source_remove);
  release_call_stack (self);

  g_clear_object (&self->active_call);
  g_clear_object (&self->calls);
  g_clear_object (&self->ringer);
  if (self->devices != NULL)
    g_signal_handlers_disconnect_by_func (self->devices, on_device_choice_changed, self);
  g_clear_object (&self->devices);
  g_clear_object (&self->connection);
  g_clear_object (&self->account);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (natter_call_manager_parent_class)->dispose (object);
}

static void
natter_call_manager_finalize (GObject *object)
{
  NatterCallManager *self = NATTER_CALL_MANAGER (object);

  g_clear_pointer (&self->ice_servers, g_ptr_array_unref);
  clear_glare (self);

  G_OBJECT_CLASS (natter_call_manager_parent_class)->finalize (object);
}

static void
natter_call_manager_class_init (NatterCallManagerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  /* Before the threads of any call exist. */
  natter_call_pipeline_limit_arenas ();

  object_class->get_property = natter_call_manager_get_property;
  object_class->set_property = natter_call_manager_set_property;
  object_class->constructed = natter_call_manager_constructed;
  object_class->dispose = natter_call_manager_dispose;
  object_class->finalize = natter_call_manager_finalize;

  properties[PROP_CONNECTION] =
    g_param_spec_object ("connection", NULL, NULL, NATTER_TYPE_CONNECTION,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ACCOUNT] =
    g_param_spec_object ("account", NULL, NULL, NATTER_TYPE_ACCOUNT,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallManager:calls:
   *
   * The calls that have not ended (#NatterCall), ringing ones included.
   */
  properties[PROP_CALLS] = g_param_spec_object ("calls", NULL, NULL, G_TYPE_LIST_MODEL,
                                                G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * NatterCallManager:active-call:
   *
   * The one call we placed or answered that has not ended; ringing
   * incoming calls are not active.
   */
  properties[PROP_ACTIVE_CALL] =
    g_param_spec_object ("active-call", NULL, NULL, NATTER_TYPE_CALL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_RINGER] = g_param_spec_object ("ringer", NULL, NULL, NATTER_TYPE_RINGER,
                                                 G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_DEVICES] =
    g_param_spec_object ("devices", NULL, NULL, NATTER_TYPE_DEVICES,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterCallManager::incoming-call:
   * @call: the ringing #NatterCall
   *
   * An invitation arrived. The ringer already plays.
   */
  signals[SIGNAL_INCOMING_CALL] =
    g_signal_new ("incoming-call", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, NATTER_TYPE_CALL);
  /**
   * NatterCallManager::call-ended:
   * @call: the #NatterCall, already out of #NatterCallManager:calls
   *
   * Any call ended, for any reason; see #NatterCall:end-reason.
   */
  signals[SIGNAL_CALL_ENDED] =
    g_signal_new ("call-ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, NATTER_TYPE_CALL);
}

static void
natter_call_manager_init (NatterCallManager *self)
{
  self->calls = g_list_store_new (NATTER_TYPE_CALL);
  self->ringer = natter_ringer_new ();
  self->cancellable = g_cancellable_new ();
}

/**
 * natter_call_manager_new:
 * @connection: the application's connection
 * @account: (nullable): the account, for `GET /api/ice-servers`
 *
 * Returns: (transfer full): a call manager listening on @connection
 */
NatterCallManager *
natter_call_manager_new (NatterConnection *connection, NatterAccount *account)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (connection), NULL);
  g_return_val_if_fail (account == NULL || NATTER_IS_ACCOUNT (account), NULL);

  return g_object_new (NATTER_TYPE_CALL_MANAGER, "connection", connection, "account", account,
                       NULL);
}

/**
 * natter_call_manager_get_connection:
 * @self: a #NatterCallManager
 *
 * Returns: (transfer none): the connection
 */
NatterConnection *
natter_call_manager_get_connection (NatterCallManager *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MANAGER (self), NULL);
  return self->connection;
}

/**
 * natter_call_manager_get_calls:
 * @self: a #NatterCallManager
 *
 * Returns: (transfer none): the calls that have not ended
 */
GListModel *
natter_call_manager_get_calls (NatterCallManager *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MANAGER (self), NULL);
  return G_LIST_MODEL (self->calls);
}

/**
 * natter_call_manager_get_active_call:
 * @self: a #NatterCallManager
 *
 * Returns: (transfer none) (nullable): the call in progress
 */
NatterCall *
natter_call_manager_get_active_call (NatterCallManager *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MANAGER (self), NULL);
  return self->active_call;
}

/**
 * natter_call_manager_get_ringer:
 * @self: a #NatterCallManager
 *
 * Returns: (transfer none): the ringer
 */
NatterRinger *
natter_call_manager_get_ringer (NatterCallManager *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MANAGER (self), NULL);
  return self->ringer;
}

/**
 * natter_call_manager_get_devices:
 * @self: a #NatterCallManager
 *
 * Returns: (transfer none) (nullable): the devices calls use
 */
NatterDevices *
natter_call_manager_get_devices (NatterCallManager *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MANAGER (self), NULL);
  return self->devices;
}

/**
 * natter_call_manager_set_devices:
 * @self: a #NatterCallManager
 * @devices: (nullable): where new calls take their microphone, camera and
 *   speaker from; without, the automatic elements are used
 */
void
natter_call_manager_set_devices (NatterCallManager *self, NatterDevices *devices)
{
  g_return_if_fail (NATTER_IS_CALL_MANAGER (self));

  if (self->devices == devices)
    return;
  if (self->devices != NULL)
    g_signal_handlers_disconnect_by_func (self->devices, on_device_choice_changed, self);
  g_set_object (&self->devices, devices);
  if (devices != NULL) {
    g_signal_connect (devices, "notify::microphone-name", G_CALLBACK (on_device_choice_changed),
                      self);
    g_signal_connect (devices, "notify::camera-name", G_CALLBACK (on_device_choice_changed), self);
    g_signal_connect (devices, "notify::speaker-name", G_CALLBACK (on_device_choice_changed), self);
  }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEVICES]);
}

/**
 * natter_call_manager_get_ice_servers:
 * @self: a #NatterCallManager
 *
 * Returns: (transfer none) (nullable) (element-type NatterIceServer): the
 *   servers fetched from the server, if any yet
 */
GPtrArray *
natter_call_manager_get_ice_servers (NatterCallManager *self)
{
  g_return_val_if_fail (NATTER_IS_CALL_MANAGER (self), NULL);
  return self->ice_servers;
}

/**
 * natter_call_manager_start_call:
 * @self: a #NatterCallManager
 * @peer: whom to call
 * @call_type: "voice" or "video"
 * @conversation_id: the conversation, or 0
 * @error: return location for a #GError
 *
 * Places a call. With no camera a video call goes out voice-only.
 *
 * Returns: (transfer none) (nullable): the ringing call, or %NULL with
 *   %G_IO_ERROR_BUSY when another call is active
 */
NatterCall *
natter_call_manager_start_call (NatterCallManager *self,
                                const NatterProfile *peer,
                                const char *call_type,
                                gint64 conversation_id,
                                GError **error)
{
  g_autoptr (NatterCall) call = NULL;

  g_return_val_if_fail (NATTER_IS_CALL_MANAGER (self), NULL);
  g_return_val_if_fail (peer != NULL, NULL);
  g_return_val_if_fail (natter_call_type_is_valid (call_type), NULL);

  if (self->active_call != NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_BUSY, "Another call is in progress");
    return NULL;
  }

  refresh_ice_servers (self);
  call = natter_call_new_outgoing (self->connection, peer, call_type, conversation_id);
  prepare_call (self, call);
  update_active_call (self);
  if (!natter_call_start (call, error))
    return NULL;
  return call;
}

/**
 * natter_call_manager_end_active_and_accept:
 * @self: a #NatterCallManager
 * @call: a ringing incoming call
 * @with_video: send our camera
 *
 * The "end current call and accept" of an invitation during a call.
 *
 * Returns: %TRUE if @call is now connecting
 */
gboolean
natter_call_manager_end_active_and_accept (NatterCallManager *self,
                                           NatterCall *call,
                                           gboolean with_video)
{
  g_return_val_if_fail (NATTER_IS_CALL_MANAGER (self), FALSE);
  g_return_val_if_fail (NATTER_IS_CALL (call), FALSE);

  if (natter_call_get_state (call) != NATTER_CALL_STATE_RINGING_INCOMING)
    return FALSE;
  if (self->active_call != NULL && self->active_call != call)
    natter_call_hang_up (self->active_call);
  return natter_call_accept (call, with_video);
}

/**
 * natter_call_manager_find_call:
 * @self: a #NatterCallManager
 * @call_log_id: the server's id of a call
 *
 * Returns: (transfer none) (nullable): the call, if it has not ended
 */
NatterCall *
natter_call_manager_find_call (NatterCallManager *self, gint64 call_log_id)
{
  guint n;

  g_return_val_if_fail (NATTER_IS_CALL_MANAGER (self), NULL);

  n = g_list_model_get_n_items (G_LIST_MODEL (self->calls));
  for (guint i = 0; call_log_id > 0 && i < n; i++) {
    g_autoptr (NatterCall) call = g_list_model_get_item (G_LIST_MODEL (self->calls), i);

    if (natter_call_get_call_log_id (call) == call_log_id)
      return call;
  }
  return NULL;
}
