/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-hub"

#include "natter-hub-private.h"
#include "natter-hub-testing.h"

#include "natter-http-body.h"
#include "natter-local-bus.h"
#include "natter-password.h"
#include "natter-token-bucket.h"
#include "natter-ws-transport.h"

#include <string.h>

#define AUTH_DATA_KEY "natter-hub-auth"
#define SHUTDOWN_DEADLINE_MS 2000

/* What the pre-upgrade check learned, handed to the WebSocket callback. */
typedef struct {
  gint64 user_id;
  gint64 token_id;
  NatterProfile *profile;
} HubAuth;

G_DEFINE_FINAL_TYPE (NatterHub, natter_hub, G_TYPE_OBJECT)

static void
hub_auth_free (gpointer data)
{
  HubAuth *auth = data;

  g_clear_pointer (&auth->profile, natter_profile_free);
  g_free (auth);
}

static void
update_connections_gauge (NatterHub *self)
{
  if (self->metrics != NULL)
    natter_metrics_set (self->metrics, "natter_connections", NULL, NULL,
                        g_hash_table_size (self->connections));
}

/**
 * natter_hub_lookup_connections:
 * @self: the hub
 * @profile_key: a key from natter_hub_profile_key ()
 *
 * Returns: (transfer none) (nullable) (element-type NatterHubConnection): the
 *   profile's open connections, NULL when it has none
 */
GPtrArray *
natter_hub_lookup_connections (NatterHub *self, const char *profile_key)
{
  return g_hash_table_lookup (self->by_profile, profile_key);
}

/* Sends one serialized frame to every connection of a profile: the frame is
 * serialized once by the caller, whatever the number of devices. */
void
natter_hub_send_to_profile (NatterHub *self,
                            const char *profile_key,
                            NatterHubConnection *except,
                            const char *type,
                            const char *text)
{
  GPtrArray *connections = natter_hub_lookup_connections (self, profile_key);

  if (connections == NULL)
    return;

  for (guint i = 0; i < connections->len; i++) {
    NatterHubConnection *connection = g_ptr_array_index (connections, i);

    if (connection != except)
      natter_hub_connection_send_text (connection, type, text);
  }
}

void
natter_hub_stamp_sender (NatterFrame *frame, const NatterProfile *sender)
{
  natter_store_stamp_sender (frame, sender);
}

static char *
now_rfc3339 (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();

  return natter_format_time (now);
}

void
natter_hub_send_internal_error (NatterHubConnection *connection,
                                const GError *error,
                                const char *ref)
{
  g_warning ("Storage failed: %s", error != NULL ? error->message : "unknown error");
  natter_hub_connection_send_error (connection, NATTER_PROTOCOL_ERROR_INTERNAL,
                                    "the server could not store this, try again", ref);
}

static void
dispatch_frame (NatterHub *self, NatterFrame *frame, NatterHubConnection *connection)
{
  switch (frame->type) {
    case NATTER_FRAME_SYNC:
      natter_hub_chat_handle_sync (self, connection, frame);
      break;

    case NATTER_FRAME_CHAT_MESSAGE:
      natter_hub_chat_queue_message (self, connection, frame);
      break;

    case NATTER_FRAME_TYPING:
      natter_hub_chat_handle_typing (self, connection, frame);
      break;

    case NATTER_FRAME_MARK_READ:
      natter_hub_chat_handle_mark_read (self, connection, frame);
      break;

    case NATTER_FRAME_CALL_INVITATION:
    case NATTER_FRAME_ICE_CANDIDATE:
    case NATTER_FRAME_CALL_ANSWER:
    case NATTER_FRAME_CALL_DECLINED:
    case NATTER_FRAME_CALL_ENDED:
    case NATTER_FRAME_CALL_MEDIA_STATE:
    case NATTER_FRAME_CALL_UPDATE:
      natter_hub_calls_handle_frame (self, connection, frame);
      break;

    case NATTER_FRAME_UNKNOWN:
    case NATTER_FRAME_HELLO:
    case NATTER_FRAME_SYNC_DONE:
    case NATTER_FRAME_ERROR:
    case NATTER_FRAME_MESSAGE_ACK:
    case NATTER_FRAME_READ_RECEIPT:
    case NATTER_FRAME_PRESENCE:
    case NATTER_FRAME_CALL_RINGING:
    case NATTER_FRAME_CALL_UNAVAILABLE:
    case NATTER_FRAME_CALL_CANCELLED:
    case NATTER_FRAME_MISSED_CALL:
    case NATTER_N_FRAME_TYPES:
    default:
      /* Server-to-client types coming the wrong way. */
      natter_hub_connection_send_error (
        connection, NATTER_PROTOCOL_ERROR_UNKNOWN_TYPE, "this type is not sent to the server",
        frame->client_msg_id != NULL ? frame->client_msg_id : frame->client_call_id);
      break;
  }
}

/* A query of the hub (natter_hub_query ()) on its way. */
typedef struct {
  NatterHub *hub;
  const char *what;
  NatterHubQueryDone done;
  gpointer user_data;
  GDestroyNotify user_data_free;
  GDestroyNotify result_free;
} HubQuery;

static void
on_hub_query_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  HubQuery *query = user_data;
  g_autoptr (GError) error = NULL;
  gpointer value = natter_server_store_query_finish (NATTER_SERVER_STORE (source), result, &error);

  /* Not found is an answer (a client may name a call or profile that
   * does not exist), not a failure of the store. */
  if (value == NULL &&
      g_error_matches (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND))
    g_debug ("Could not %s: %s", query->what, error->message);
  else if (value == NULL)
    g_warning ("Could not %s: %s", query->what, error->message);
  query->done (query->hub, value, query->user_data);
  if (value != NULL && query->result_free != NULL)
    query->result_free (value);
  if (query->user_data_free != NULL)
    query->user_data_free (query->user_data);
  g_object_unref (query->hub);
  g_free (query);
}

/**
 * natter_hub_query:
 * @self: the hub
 * @func: what to read or write, with the store's queries
 * @data: for @func (freed with @data_free where the store runs it)
 * @data_free: (nullable): frees @data
 * @result_free: frees what @func returned, after @done
 * @what: for the warning on a failure ("list contacts")
 * @done: runs on the routing thread with the result, NULL on a failure
 * @user_data: for @done (freed with @user_data_free after it)
 * @user_data_free: (nullable): frees @user_data
 *
 * Storage work of the hub, done where the store runs queries: SQLite on
 * its main-thread connection in a later iteration, PostgreSQL on its own
 * thread; never waited for on the routing thread. Queries answer in the
 * order they were made.
 */
void
natter_hub_query (NatterHub *self,
                  NatterStoreQueryFunc func,
                  gpointer data,
                  GDestroyNotify data_free,
                  GDestroyNotify result_free,
                  const char *what,
                  NatterHubQueryDone done,
                  gpointer user_data,
                  GDestroyNotify user_data_free)
{
  HubQuery *query = g_new0 (HubQuery, 1);

  query->hub = g_object_ref (self);
  query->what = what;
  query->done = done;
  query->user_data = user_data;
  query->user_data_free = user_data_free;
  query->result_free = result_free;
  natter_server_store_query (self->store, func, data, data_free, result_free, on_hub_query_done,
                             query);
}

static gpointer
run_list_contacts (NatterStoreQueries *queries, gpointer data, GError **error)
{
  return natter_store_queries_list_contacts (queries, data, error);
}

/* @done gets @profile's contacts (NatterProfile), NULL on a failure. */
void
natter_hub_read_contacts (NatterHub *self,
                          const NatterProfile *profile,
                          NatterHubQueryDone done,
                          gpointer user_data,
                          GDestroyNotify user_data_free)
{
  natter_hub_query (self, run_list_contacts, natter_profile_copy (profile),
                    (GDestroyNotify) natter_profile_free, (GDestroyNotify) g_ptr_array_unref,
                    "list contacts", done, user_data, user_data_free);
}

static char *
presence_json (const NatterProfile *profile, gboolean online)
{
  g_autoptr (NatterFrame) presence = natter_frame_new (NATTER_FRAME_PRESENCE);

  presence->profile = natter_profile_copy (profile);
  presence->online = online;
  presence->last_seen = now_rfc3339 ();
  return natter_frame_to_json (presence, NULL);
}

/* The frames of a connection that arrived while an earlier one waits for
 * the store: a later frame never overtakes an earlier one. */
typedef struct {
  guint holds;
  GQueue frames; /* NatterFrame */
} HubInbox;

#define INBOX_DATA_KEY "natter-hub-inbox"

static void
hub_inbox_free (gpointer data)
{
  HubInbox *inbox = data;

  g_queue_clear_full (&inbox->frames, (GDestroyNotify) natter_frame_free);
  g_free (inbox);
}

static HubInbox *
get_inbox (NatterHubConnection *connection)
{
  HubInbox *inbox = g_object_get_data (G_OBJECT (connection), INBOX_DATA_KEY);

  if (inbox == NULL) {
    inbox = g_new0 (HubInbox, 1);
    g_queue_init (&inbox->frames);
    g_object_set_data_full (G_OBJECT (connection), INBOX_DATA_KEY, inbox, hub_inbox_free);
  }
  return inbox;
}

/**
 * natter_hub_hold_frames:
 * @self: the hub
 * @connection: a connection whose frame now waits for the store
 *
 * Its later frames wait until natter_hub_release_frames (), called once
 * for each hold, usually from the store's callback.
 */
void
natter_hub_hold_frames (NatterHub *self, NatterHubConnection *connection)
{
  get_inbox (connection)->holds++;
}

void
natter_hub_release_frames (NatterHub *self, NatterHubConnection *connection)
{
  G_GNUC_UNUSED g_autoptr (NatterHubConnection) hold = g_object_ref (connection);
  HubInbox *inbox = get_inbox (connection);

  g_return_if_fail (inbox->holds > 0);

  inbox->holds--;
  while (inbox->holds == 0 && !g_queue_is_empty (&inbox->frames)) {
    g_autoptr (NatterFrame) frame = g_queue_pop_head (&inbox->frames);

    /* Closed: what it still sent goes nowhere, as it would have. */
    if (!natter_hub_connection_is_open (connection) ||
        !g_hash_table_contains (self->connections, connection)) {
      g_queue_clear_full (&inbox->frames, (GDestroyNotify) natter_frame_free);
      break;
    }
    dispatch_frame (self, frame, connection);
  }
}

static void
on_frame_received (NatterHub *self, NatterFrame *frame, NatterHubConnection *connection)
{
  HubInbox *inbox = get_inbox (connection);

  if (inbox->holds > 0 || !g_queue_is_empty (&inbox->frames))
    g_queue_push_tail (&inbox->frames, natter_frame_copy (frame));
  else
    dispatch_frame (self, frame, connection);
}

/* A presence change waiting for the profile's contacts. */
typedef struct {
  NatterProfile *profile;
  gboolean online;
} PresenceChange;

static void
presence_change_free (gpointer data)
{
  PresenceChange *change = data;

  natter_profile_free (change->profile);
  g_free (change);
}

static void
on_announce_contacts (NatterHub *self, gpointer result, gpointer user_data)
{
  GPtrArray *contacts = result;
  PresenceChange *change = user_data;
  g_autofree char *text = NULL;

  for (guint i = 0; contacts != NULL && i < contacts->len; i++) {
    NatterProfile *contact = g_ptr_array_index (contacts, i);
    g_autofree char *key = natter_hub_profile_key (contact->profile_id, contact->profile_type);

    if (natter_hub_lookup_connections (self, key) == NULL)
      continue;
    if (text == NULL)
      text = presence_json (change->profile, change->online);
    natter_hub_send_to_profile (self, key, NULL, "presence", text);
  }
}

/* Tells the profiles sharing a conversation with @profile that it came
 * online or went offline: one frame, serialized once. */
static void
announce_presence (NatterHub *self, const NatterProfile *profile, gboolean online)
{
  PresenceChange *change = g_new0 (PresenceChange, 1);

  change->profile = natter_profile_copy (profile);
  change->online = online;
  natter_hub_read_contacts (self, profile, on_announce_contacts, change, presence_change_free);
}

/* The participants of a conversation that a newcomer's first message made
 * its contacts: those who took part too, with no block between them. */
typedef struct {
  gint64 conversation_id;
  NatterProfile *newcomer;
  GPtrArray *participants; /* NatterProfile */
} Introduction;

static void
introduction_free (gpointer data)
{
  Introduction *introduction = data;

  natter_profile_free (introduction->newcomer);
  g_ptr_array_unref (introduction->participants);
  g_free (introduction);
}

static gpointer
run_introduction (NatterStoreQueries *queries, gpointer data, GError **error)
{
  Introduction *introduction = data;
  GPtrArray *contacts = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);

  for (guint i = 0; i < introduction->participants->len; i++) {
    const NatterProfile *other = g_ptr_array_index (introduction->participants, i);

    if (!natter_profile_equal (other, introduction->newcomer) &&
        natter_store_queries_took_part (queries, introduction->conversation_id, other) &&
        !natter_store_queries_is_blocked_either (queries, introduction->newcomer, other))
      g_ptr_array_add (contacts, natter_profile_copy (other));
  }
  return contacts;
}

static void
on_introduction_read (NatterHub *self, gpointer result, gpointer user_data)
{
  GPtrArray *contacts = result;
  const NatterProfile *newcomer = user_data;
  g_autofree char *newcomer_key =
    natter_hub_profile_key (newcomer->profile_id, newcomer->profile_type);
  g_autofree char *newcomer_text = NULL;

  for (guint i = 0; contacts != NULL && i < contacts->len; i++) {
    const NatterProfile *other = g_ptr_array_index (contacts, i);
    g_autofree char *other_key = natter_hub_profile_key (other->profile_id, other->profile_type);
    g_autofree char *text = NULL;

    if (natter_hub_lookup_connections (self, newcomer_key) == NULL)
      return;
    /* Among several nodes the other may be online elsewhere. */
    if (self->shared) {
      natter_hub_nodes_introduce (self, newcomer, other);
      continue;
    }
    if (natter_hub_lookup_connections (self, other_key) == NULL)
      continue;

    if (newcomer_text == NULL)
      newcomer_text = presence_json (newcomer, TRUE);
    natter_hub_send_to_profile (self, other_key, NULL, "presence", newcomer_text);
    text = presence_json (other, TRUE);
    natter_hub_send_to_profile (self, newcomer_key, NULL, "presence", text);
  }
}

/* @newcomer just took part in the conversation for the first time: with
 * each other participant who took part too (and no block between them),
 * it became a contact while both may have been online all along, so each
 * side learns the other's presence now, as a connection learns it from
 * greet_contacts (). */
void
natter_hub_introduce_participants (NatterHub *self,
                                   NatterConversationRoute *route,
                                   gint64 conversation_id,
                                   const NatterProfile *newcomer)
{
  g_autofree char *newcomer_key =
    natter_hub_profile_key (newcomer->profile_id, newcomer->profile_type);
  Introduction *introduction;

  if (natter_hub_lookup_connections (self, newcomer_key) == NULL)
    return;

  introduction = g_new0 (Introduction, 1);
  introduction->conversation_id = conversation_id;
  introduction->newcomer = natter_profile_copy (newcomer);
  introduction->participants =
    g_ptr_array_copy (route->participants, (GCopyFunc) natter_profile_copy, NULL);
  natter_hub_query (self, run_introduction, introduction, introduction_free,
                    (GDestroyNotify) g_ptr_array_unref, "read who took part", on_introduction_read,
                    natter_profile_copy (newcomer), (GDestroyNotify) natter_profile_free);
}

/* A new connection learns which of its contacts are online right now (later
 * changes reach it through announce_presence ()); when it is the profile's
 * first, those contacts learn that it came online. One contact query.
 * Among several nodes Redis decides who came online (natter-hub-nodes.c):
 * returns the contacts without a connection here, to ask it about. */
static GPtrArray *
greet_contacts (NatterHub *self,
                NatterHubConnection *connection,
                gboolean first,
                GPtrArray *contacts)
{
  const NatterProfile *profile = natter_hub_connection_get_profile (connection);
  g_autoptr (GPtrArray) elsewhere = NULL;
  g_autofree char *online_text = NULL;

  if (contacts == NULL)
    return NULL;
  if (self->shared)
    elsewhere = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);

  for (guint i = 0; i < contacts->len; i++) {
    NatterProfile *contact = g_ptr_array_index (contacts, i);
    g_autofree char *key = natter_hub_profile_key (contact->profile_id, contact->profile_type);
    g_autofree char *text = NULL;

    if (natter_hub_lookup_connections (self, key) == NULL) {
      if (elsewhere != NULL)
        g_ptr_array_add (elsewhere, natter_profile_copy (contact));
      continue;
    }

    if (first && !self->shared) {
      if (online_text == NULL)
        online_text = presence_json (profile, TRUE);
      natter_hub_send_to_profile (self, key, NULL, "presence", online_text);
    }

    text = presence_json (contact, TRUE);
    natter_hub_connection_send_text (connection, "presence", text);
  }
  return g_steal_pointer (&elsewhere);
}

static void
maybe_finish_shutdown (NatterHub *self)
{
  g_autoptr (GTask) task = NULL;

  if (self->shutdown_task == NULL)
    return;
  if (g_hash_table_size (self->connections) > 0 && self->shutdown_timeout_id != 0)
    return;

  g_clear_handle_id (&self->shutdown_timeout_id, g_source_remove);
  task = g_steal_pointer (&self->shutdown_task);
  g_task_return_boolean (task, TRUE);
}

static void
on_connection_closed (NatterHub *self, NatterHubConnection *connection)
{
  G_GNUC_UNUSED g_autoptr (NatterHubConnection) hold = g_object_ref (connection);
  const char *key = natter_hub_connection_get_profile_key (connection);
  gint64 user_id = natter_hub_connection_get_user_id (connection);
  GPtrArray *same_profile;
  gboolean was_last = FALSE;
  guint n_user;

  if (!g_hash_table_contains (self->connections, connection))
    return;

  g_signal_handlers_disconnect_by_data (connection, self);

  same_profile = natter_hub_lookup_connections (self, key);
  if (same_profile != NULL) {
    g_ptr_array_remove_fast (same_profile, connection);
    if (same_profile->len == 0) {
      natter_hub_nodes_profile_closed (self, key);
      g_hash_table_remove (self->by_profile, key);
      was_last = TRUE;
    }
  }

  n_user = GPOINTER_TO_UINT (g_hash_table_lookup (self->by_user, &user_id));
  if (n_user <= 1)
    g_hash_table_remove (self->by_user, &user_id);
  else
    g_hash_table_insert (self->by_user, g_memdup2 (&user_id, sizeof user_id),
                         GUINT_TO_POINTER (n_user - 1));

  g_hash_table_remove (self->connections, connection);
  update_connections_gauge (self);

  if (!self->shutting_down) {
    natter_hub_calls_connection_closed (self, connection, was_last);
    if (was_last && !self->shared)
      announce_presence (self, natter_hub_connection_get_profile (connection), FALSE);
  }
  natter_hub_nodes_presence_closed (self, connection);

  maybe_finish_shutdown (self);
}

/* A connection being greeted: hello waits for the profile's last event id. */
typedef struct {
  NatterHub *hub;
  NatterHubConnection *connection;
  gboolean first;
  char *hello; /* sent with the contacts' presence */
} HubGreeting;

static void
hub_greeting_free (HubGreeting *greeting)
{
  g_free (greeting->hello);
  g_clear_object (&greeting->hub);
  g_clear_object (&greeting->connection);
  g_free (greeting);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubGreeting, hub_greeting_free)

/* Presence and the calls ringing for the profile, after hello; then the
 * connection's frames. */
static void
on_greeting_contacts (NatterHub *self, gpointer result, gpointer user_data)
{
  HubGreeting *greeting = user_data;
  NatterHubConnection *connection = greeting->connection;

  /* Presence sent meanwhile is dropped: what follows hello is the state
   * as it is now, each contact once. */
  natter_hub_connection_release_output (connection, "hello", greeting->hello, "presence");
  if (g_hash_table_contains (self->connections, connection) && !self->shutting_down) {
    g_autoptr (GPtrArray) elsewhere = greet_contacts (self, connection, greeting->first, result);

    natter_hub_nodes_presence_opened (self, connection, elsewhere);
    natter_hub_calls_connection_opened (self, connection);
  }
  natter_hub_release_frames (self, connection);
}

/* Hello, then presence and the calls ringing for the profile; what was
 * sent to the connection while hello was read follows hello. */
static void
on_hello_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (HubGreeting) greeting = user_data;
  NatterHub *self = greeting->hub;
  NatterHubConnection *connection = greeting->connection;
  const NatterProfile *profile = natter_hub_connection_get_profile (connection);
  g_autoptr (NatterStoreReplay) replay = NULL;
  g_autoptr (NatterFrame) hello = NULL;
  g_autoptr (GError) error = NULL;

  replay = natter_server_store_replay_finish (NATTER_SERVER_STORE (source), result, &error);
  if (replay == NULL) {
    g_warning ("Could not read the last event of %s: %s",
               natter_hub_connection_get_profile_key (connection), error->message);
    natter_hub_connection_close (connection, SOUP_WEBSOCKET_CLOSE_SERVER_ERROR,
                                 "the server could not read your history");
    natter_hub_release_frames (self, connection);
    return;
  }

  hello = natter_frame_new (NATTER_FRAME_HELLO);
  hello->protocol = NATTER_PROTOCOL_VERSION;
  hello->profile = natter_profile_copy (profile);
  hello->last_event_id = replay->last_event_id;
  hello->heartbeat_s =
    self->config->heartbeat_s > 0 ? self->config->heartbeat_s : NATTER_HEARTBEAT_S;
  hello->server_time = now_rfc3339 ();
  hello->server_epoch = g_strdup (replay->epoch);
  greeting->hello = natter_frame_to_json (hello, NULL);

  natter_hub_nodes_profile_read (self, connection, replay->last_event_id);
  natter_hub_read_contacts (self, profile, on_greeting_contacts, g_steal_pointer (&greeting),
                            (GDestroyNotify) hub_greeting_free);
}

static guint
max_connections_per_user (NatterHub *self)
{
  return self->config->max_connections_per_user > 0 ? self->config->max_connections_per_user
                                                    : NATTER_MAX_CONNECTIONS_PER_USER;
}

/* Registers an accepted connection and greets it: hello, presence, and the
 * calls ringing for its profile. */
static void
add_connection (NatterHub *self, NatterHubConnection *connection)
{
  gint64 user_id = natter_hub_connection_get_user_id (connection);
  GPtrArray *same_profile;
  gboolean first;
  guint n_user;

  n_user = GPOINTER_TO_UINT (g_hash_table_lookup (self->by_user, &user_id));
  g_hash_table_add (self->connections, g_object_ref (connection));
  g_hash_table_insert (self->by_user, g_memdup2 (&user_id, sizeof user_id),
                       GUINT_TO_POINTER (n_user + 1));

  same_profile =
    natter_hub_lookup_connections (self, natter_hub_connection_get_profile_key (connection));
  first = same_profile == NULL;
  if (first) {
    same_profile = g_ptr_array_new ();
    g_hash_table_insert (self->by_profile,
                         g_strdup (natter_hub_connection_get_profile_key (connection)),
                         same_profile);
  }
  g_ptr_array_add (same_profile, connection);
  update_connections_gauge (self);
  if (first)
    natter_hub_nodes_profile_opened (self, connection);

  g_signal_connect_object (connection, "frame-received", G_CALLBACK (on_frame_received), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (connection, "closed", G_CALLBACK (on_connection_closed), self,
                           G_CONNECT_SWAPPED);

  /* Missed calls from now on are news again, not more of the same. */
  if (first)
    g_hash_table_remove (self->missed_calls, natter_hub_connection_get_profile_key (connection));

  /* Registered already: an event stored while hello is read is held for
   * the connection, after hello, and so are its own frames. */
  {
    HubGreeting *greeting = g_new0 (HubGreeting, 1);

    greeting->hub = g_object_ref (self);
    greeting->connection = g_object_ref (connection);
    greeting->first = first;
    natter_hub_connection_hold_output (connection);
    natter_hub_hold_frames (self, connection);
    natter_server_store_replay (self->store, natter_hub_connection_get_profile (connection), 0, 0,
                                on_hello_read, greeting);
  }
}

static void
open_connection (NatterHub *self,
                 SoupServerMessage *message,
                 GSocket *socket,
                 NatterWsTransport *transport)
{
  HubAuth *auth = g_object_get_data (G_OBJECT (message), AUTH_DATA_KEY);
  g_autoptr (NatterHubConnection) connection = NULL;
  guint n_user;

  if (auth == NULL || self->shutting_down) {
    natter_ws_transport_close (transport, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
    return;
  }

  /* Two upgrades of one user may have passed the check at the same time. */
  n_user = GPOINTER_TO_UINT (g_hash_table_lookup (self->by_user, &auth->user_id));
  if (n_user >= max_connections_per_user (self)) {
    natter_ws_transport_close (transport, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                               "too many connections");
    return;
  }

  connection = natter_hub_connection_new (transport, auth->profile, auth->user_id, auth->token_id,
                                          self->config, self->metrics);
  natter_hub_connection_set_socket (connection, socket);
  add_connection (self, connection);
}

/* The 101 is on the wire: the connection becomes a WebSocket. libsoup did
 * the handshake; from here the socket is wslay's, in the hub's one epoll
 * source (natter-ws-transport.c): libsoup's WebSocket would cost a few
 * GSources per connection, polled on every main-loop iteration, and joins
 * fragments without a whole-message limit (CVE-2025-32049). */
static void
on_upgrade_written (SoupServerMessage *message, gpointer user_data)
{
  NatterHub *self = user_data;
  guint heartbeat_s =
    self->config->heartbeat_s > 0 ? self->config->heartbeat_s : NATTER_HEARTBEAT_S;
  guint max_bytes =
    self->config->max_frame_bytes > 0 ? self->config->max_frame_bytes : NATTER_MAX_FRAME_BYTES;
  g_autoptr (GSocket) socket = g_object_ref (soup_server_message_get_socket (message));
  g_autoptr (GIOStream) stream = soup_server_message_steal_connection (message);
  g_autoptr (NatterWsTransport) transport = NULL;

  g_signal_handlers_disconnect_by_func (message, on_upgrade_written, self);
  if (stream == NULL)
    return;

  transport = natter_ws_transport_new (self->poller, stream, socket, max_bytes, heartbeat_s,
                                       self->config->tls_cert_file != NULL);
  open_connection (self, message, socket, transport);
}

static void
refuse (SoupServerMessage *message, guint status, const char *code, const char *text)
{
  char *body = natter_http_error_to_json (code, text);

  /* libsoup 3.2 has no name for 429, so give the reason phrase. */
  soup_server_message_set_status (message, status, status == 429 ? "Too Many Requests" : NULL);
  /* A refused upgrade closes the connection, so that every client library
   * reports the status at once (the request guard does so for answers
   * given inside the handler; this one may come after the store read). */
  soup_message_headers_replace (soup_server_message_get_response_headers (message), "Connection",
                                "close");
  soup_server_message_set_response (message, "application/json", SOUP_MEMORY_TAKE, body,
                                    strlen (body));
}

static char *
find_token (SoupServerMessage *message, GHashTable *query)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (message);
  const char *authorization = soup_message_headers_get_one (headers, "Authorization");

  if (authorization != NULL) {
    if (g_ascii_strncasecmp (authorization, "Bearer ", 7) != 0)
      return NULL;
    return g_strstrip (g_strdup (authorization + 7));
  }

  if (query != NULL && g_hash_table_lookup (query, "token") != NULL)
    return g_strdup (g_hash_table_lookup (query, "token"));

  return NULL;
}

/* An upgrade request paused while the store reads its token (and, among
 * several nodes, while Redis counts the user's connections). */
typedef struct {
  NatterHub *hub;
  SoupServerMessage *message;
  gulong disconnected_id;
  gboolean disconnected;
  NatterStoreAuth *found; /* while Redis counts */
} UpgradeJob;

static void
upgrade_job_free (UpgradeJob *job)
{
  g_clear_pointer (&job->found, natter_store_auth_free);
  g_clear_signal_handler (&job->disconnected_id, job->message);
  g_clear_object (&job->message);
  g_clear_object (&job->hub);
  g_free (job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (UpgradeJob, upgrade_job_free)

static void
on_upgrade_disconnected (SoupServerMessage *message, gpointer user_data)
{
  UpgradeJob *job = user_data;

  job->disconnected = TRUE;
}

/* Every check passed: the handshake. */
static void
accept_upgrade (NatterHub *self, SoupServerMessage *message, NatterStoreAuth *found)
{
  HubAuth *auth = g_new0 (HubAuth, 1);

  auth->user_id = found->user_id;
  auth->token_id = found->token_id;
  auth->profile = g_steal_pointer (&found->profile);
  g_object_set_data_full (G_OBJECT (message), AUTH_DATA_KEY, auth, hub_auth_free);

  /* No subprotocol and no extension. permessage-deflate is not offered:
   * chat frames are small, inflating each one costs the routing thread
   * CPU, and a compressed frame is a decompression bomb waiting to happen
   * (a client that sends RSV1 anyway is closed). A request that is no
   * handshake gets libsoup's 400. */
  if (soup_websocket_server_process_handshake (message, NULL, NULL, NULL, NULL))
    g_signal_connect_object (message, "wrote-informational", G_CALLBACK (on_upgrade_written), self,
                             0);
}

/* Among several nodes: one over the cap on all nodes together is refused
 * like one over it here (429). A connection that wins a race past this
 * check is still closed after hello by the capped add in Redis
 * (natter-hub-nodes.c); without an answer from Redis the upgrade goes on
 * and that add decides. */
static void
on_upgrade_counted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (UpgradeJob) job = user_data;
  NatterHub *self = job->hub;
  g_autoptr (GError) error = NULL;
  gssize count;

  count = natter_server_bus_count_connections_finish (NATTER_SERVER_BUS (source), result, &error);
  if (job->disconnected)
    return;
  if (count < 0)
    g_debug ("Redis did not count a user's connections: %s", error->message);

  if (self->shutting_down)
    refuse (job->message, SOUP_STATUS_SERVICE_UNAVAILABLE, "internal",
            "the server is shutting down");
  else if (count >= 0 && (gsize) count >= max_connections_per_user (self))
    refuse (job->message, 429, "rate_limited", "too many connections");
  else
    accept_upgrade (self, job->message, job->found);
  soup_server_message_unpause (job->message);
}

/* The rest of the checks of on_websocket_request (), once the token and
 * the profile are read; then the handshake. */
static void
on_upgrade_authenticated (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (UpgradeJob) job = user_data;
  NatterHub *self = job->hub;
  SoupServerMessage *message = job->message;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (message);
  g_autoptr (NatterStoreAuth) found = NULL;
  g_autoptr (GError) error = NULL;
  const char *origin;

  found = natter_server_store_authenticate_finish (NATTER_SERVER_STORE (source), result, &error);
  if (job->disconnected)
    return;

  if (self->shutting_down) {
    refuse (message, SOUP_STATUS_SERVICE_UNAVAILABLE, "internal", "the server is shutting down");
  } else if (found == NULL) {
    if (g_error_matches (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND)) {
      refuse (message, SOUP_STATUS_UNAUTHORIZED, "unauthorized", "the token is not valid");
    } else {
      g_warning ("Could not read a token: %s", error->message);
      refuse (message, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal", "could not read the token");
    }
  } else if (found->profile == NULL) {
    refuse (message, SOUP_STATUS_FORBIDDEN, "forbidden", "this profile is not yours");
  } else if ((origin = soup_message_headers_get_one (headers, "Origin")) != NULL &&
             !natter_server_config_origin_allowed (self->config, origin)) {
    refuse (message, SOUP_STATUS_FORBIDDEN, "forbidden", "this origin is not allowed");
  } else if (GPOINTER_TO_UINT (g_hash_table_lookup (self->by_user, &found->user_id)) >=
             max_connections_per_user (self)) {
    refuse (message, 429, "rate_limited", "too many connections");
  } else if (self->shared) {
    /* The cap counts the user's connections on every node: Redis knows. */
    gint64 user_id = found->user_id;

    job->found = g_steal_pointer (&found);
    natter_server_bus_count_connections_async (self->bus, user_id, on_upgrade_counted,
                                               g_steal_pointer (&job));
    return;
  } else {
    accept_upgrade (self, message, found);
  }
  soup_server_message_unpause (message);
}

/* Runs before libsoup's WebSocket handshake on the same path: any status set
 * here answers the request as plain HTTP and no WebSocket is ever created. */
static void
on_websocket_request (SoupServer *server,
                      SoupServerMessage *message,
                      const char *path,
                      GHashTable *query,
                      gpointer user_data)
{
  NatterHub *self = user_data;
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  g_autofree char *profile_type = NULL;
  g_autofree char *token = NULL;
  g_autofree char *token_hash = NULL;
  NatterProfile wanted = { 0 };
  UpgradeJob *job;
  guint64 profile_id = 0;

  if (self->shutting_down) {
    refuse (message, SOUP_STATUS_SERVICE_UNAVAILABLE, "internal", "the server is shutting down");
    return;
  }

  /* "", "ws", id, type */
  if (g_strv_length (parts) != 4 || g_strcmp0 (parts[1], "ws") != 0 ||
      !g_ascii_string_to_unsigned (parts[2], 10, 1, NATTER_MAX_ID, &profile_id, NULL) ||
      (profile_type = natter_profile_type_normalize (parts[3], NULL)) == NULL) {
    refuse (message, SOUP_STATUS_NOT_FOUND, "not_found", "use /ws/{profile_id}/{profile_type}");
    return;
  }

  token = find_token (message, query);
  if (token == NULL || *token == '\0') {
    refuse (message, SOUP_STATUS_UNAUTHORIZED, "unauthorized", "a bearer token is needed");
    return;
  }

  token_hash = natter_token_hash (token);
  job = g_new0 (UpgradeJob, 1);
  job->hub = g_object_ref (self);
  job->message = g_object_ref (message);
  job->disconnected_id =
    g_signal_connect (message, "disconnected", G_CALLBACK (on_upgrade_disconnected), job);
  soup_server_message_pause (message);
  wanted.profile_id = (gint64) profile_id;
  wanted.profile_type = profile_type;
  natter_server_store_authenticate (self->store, token_hash, g_get_real_time () / G_USEC_PER_SEC,
                                    &wanted, on_upgrade_authenticated, job);
}

/* A connection that answers nothing, not even pings, for the dead-after
 * time is closed. One timer for all of them: a GSource per connection costs
 * memory, and every main-loop iteration walks every source. */
static gboolean
on_watchdog (gpointer user_data)
{
  NatterHub *self = user_data;
  g_autoptr (GPtrArray) open = g_ptr_array_new_with_free_func (g_object_unref);
  gint64 now_us = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer connection;

  /* Closing may emit ::closed, which edits the table: iterate a copy,
   * of only the connections that may be dead or have bytes waiting (most
   * idle ones are neither; reading every socket's TCP_INFO was the largest
   * part of what 10,000 idle connections cost in syscalls). */
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &connection, NULL))
    if (natter_hub_connection_needs_check (connection, now_us))
      g_ptr_array_add (open, g_object_ref (connection));
  for (guint i = 0; i < open->len; i++)
    natter_hub_connection_check_alive (g_ptr_array_index (open, i), now_us);

  return G_SOURCE_CONTINUE;
}

static void
natter_hub_dispose (GObject *object)
{
  NatterHub *self = (NatterHub *) object;

  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  g_clear_handle_id (&self->shutdown_timeout_id, g_source_remove);
  g_clear_handle_id (&self->chat_flush_id, g_source_remove);
  g_clear_pointer (&self->pending_chats, g_ptr_array_unref);
  if (self->connections != NULL) {
    GHashTableIter iter;
    gpointer connection;

    g_hash_table_iter_init (&iter, self->connections);
    while (g_hash_table_iter_next (&iter, &connection, NULL))
      g_signal_handlers_disconnect_by_data (connection, self);
  }
  natter_hub_nodes_dispose (self);
  g_clear_pointer (&self->routes, g_hash_table_unref);
  g_clear_pointer (&self->direct_conversations, g_hash_table_unref);
  g_clear_pointer (&self->calls_by_profile, g_hash_table_unref);
  g_clear_pointer (&self->invitation_buckets, g_hash_table_unref);
  g_clear_pointer (&self->missed_calls, g_hash_table_unref);
  g_clear_pointer (&self->calls, g_hash_table_unref);
  g_clear_pointer (&self->by_profile, g_hash_table_unref);
  g_clear_pointer (&self->by_user, g_hash_table_unref);
  g_clear_pointer (&self->connections, g_hash_table_unref);
  g_clear_object (&self->metrics);
  g_clear_object (&self->store);
  if (self->poller != NULL)
    natter_ws_poller_abort_all (self->poller);
  g_clear_object (&self->poller);

  G_OBJECT_CLASS (natter_hub_parent_class)->dispose (object);
}

static void
natter_hub_class_init (NatterHubClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_hub_dispose;
}

static void
natter_hub_init (NatterHub *self)
{
  self->connections = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  self->pending_chats = g_ptr_array_new_with_free_func (natter_hub_chat_pending_free);
  self->by_profile =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  self->by_user = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  self->calls = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
  self->routes =
    g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, natter_conversation_route_release);
  self->direct_conversations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->calls_by_profile =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  self->invitation_buckets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                    (GDestroyNotify) natter_token_bucket_free);
  self->missed_calls =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_hash_table_unref);
  self->bus = NATTER_SERVER_BUS (natter_local_bus_new (NULL));
  natter_hub_nodes_init (self);
}

/**
 * natter_hub_new:
 * @store: everything the hub reads and writes goes there
 * @config: the server's settings; must outlive the hub
 * @metrics: (nullable): where frames, errors, calls and connections are counted
 *
 * Returns: (transfer full): a hub without connections
 */
NatterHub *
natter_hub_new (NatterServerStore *store, const NatterServerConfig *config, NatterMetrics *metrics)
{
  NatterHub *self;
  guint dead_after_s;
  g_autoptr (GError) error = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER_STORE (store), NULL);
  g_return_val_if_fail (config != NULL, NULL);

  self = g_object_new (NATTER_TYPE_HUB, NULL);
  self->store = g_object_ref (store);
  self->config = config;
  self->metrics = metrics != NULL ? g_object_ref (metrics) : NULL;
  update_connections_gauge (self);

  dead_after_s = config->dead_after_s > 0 ? config->dead_after_s : NATTER_DEAD_AFTER_S;
  self->watchdog_id = g_timeout_add (MAX (250, dead_after_s * 1000 / 4), on_watchdog, self);
  self->poller = natter_ws_poller_new (NULL, &error);
  if (self->poller == NULL)
    g_error ("cannot watch WebSockets: %s", error->message);

  return self;
}

/**
 * natter_hub_install:
 * @self: the hub
 * @server: the server to add /ws/{profile_id}/{profile_type} to
 *
 * Token, profile ownership, Origin and the per-user connection cap are
 * checked before the WebSocket handshake: refused requests get 401, 403 or
 * 429 and never become WebSockets. The hub answers the handshake itself.
 */
void
natter_hub_install (NatterHub *self, SoupServer *server)
{
  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (SOUP_IS_SERVER (server));

  soup_server_add_handler (server, "/ws", on_websocket_request, g_object_ref (self),
                           g_object_unref);
}

/**
 * natter_hub_add_connection_for_testing:
 * @self: the hub
 * @connection: from natter_hub_connection_new_for_testing ()
 *
 * Registers @connection as if its WebSocket had just been accepted: it gets
 * hello, presence and ringing calls, and its frames are routed.
 */
void
natter_hub_add_connection_for_testing (NatterHub *self, NatterHubConnection *connection)
{
  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (NATTER_IS_HUB_CONNECTION (connection));
  g_return_if_fail (!self->shutting_down);

  add_connection (self, connection);
}

/**
 * natter_hub_disconnect_token:
 * @self: the hub
 * @token_id: a revoked token
 *
 * Closes (1008) every connection opened with @token_id.
 */
void
natter_hub_disconnect_token (NatterHub *self, gint64 token_id)
{
  g_return_if_fail (NATTER_IS_HUB (self));

  natter_hub_close_token_here (self, token_id);
  natter_hub_nodes_tell_others (self, NATTER_HUB_NODES_DISCONNECT_TOKEN, token_id);
}

/* The same on this node only. */
void
natter_hub_close_token_here (NatterHub *self, gint64 token_id)
{
  g_autoptr (GPtrArray) doomed = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer connection;

  g_return_if_fail (NATTER_IS_HUB (self));

  /* Logout is rare; a scan of the connections is fine here. */
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &connection, NULL)) {
    if (natter_hub_connection_get_token_id (connection) == token_id)
      g_ptr_array_add (doomed, g_object_ref (connection));
  }

  for (guint i = 0; i < doomed->len; i++)
    natter_hub_connection_close (g_ptr_array_index (doomed, i),
                                 SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "logged out");
}

static gboolean
on_shutdown_deadline (gpointer user_data)
{
  NatterHub *self = user_data;

  self->shutdown_timeout_id = 0;
  maybe_finish_shutdown (self);
  return G_SOURCE_REMOVE;
}

/**
 * natter_hub_shutdown_async:
 * @self: the hub
 * @cancellable: (nullable): unused beyond GTask's own check
 * @callback: runs when every connection closed, or after 2 s
 * @user_data: for @callback
 *
 * Ends live calls, closes every WebSocket with 1001 and refuses new ones.
 */
void
natter_hub_shutdown_async (NatterHub *self,
                           GCancellable *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GPtrArray) open = NULL;
  GHashTableIter iter;
  gpointer connection;

  g_return_if_fail (NATTER_IS_HUB (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_hub_shutdown_async);

  if (self->shutdown_task != NULL) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING, "already shutting down");
    return;
  }

  self->shutting_down = TRUE;
  natter_hub_chat_flush (self);
  natter_hub_calls_shutdown (self);
  /* What was queued is stored, acked and delivered before the sockets
   * close. */
  natter_server_store_flush (self->store);

  if (g_hash_table_size (self->connections) == 0) {
    g_task_return_boolean (task, TRUE);
    return;
  }

  self->shutdown_task = g_steal_pointer (&task);
  self->shutdown_timeout_id = g_timeout_add (SHUTDOWN_DEADLINE_MS, on_shutdown_deadline, self);

  open = g_ptr_array_new_with_free_func (g_object_unref);
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &connection, NULL))
    g_ptr_array_add (open, g_object_ref (connection));
  for (guint i = 0; i < open->len; i++)
    natter_hub_connection_close (g_ptr_array_index (open, i), SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                 "server shutting down");
}

gboolean
natter_hub_shutdown_finish (NatterHub *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (NATTER_IS_HUB (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_hub_conversation_created:
 * @self: the hub
 * @conversation_id: a conversation just created (and committed)
 *
 * Sends each online participant the presence of the other online ones:
 * presence otherwise only moves when a profile's first connection opens or
 * its last closes, so two people online when their conversation starts
 * would see each other offline.
 */
typedef struct {
  NatterHub *hub;
  gint64 conversation_id;
} CreatedConversation;

static void
on_created_participants (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CreatedConversation *created = user_data;
  g_autoptr (GPtrArray) participants = NULL;
  g_autoptr (GError) error = NULL;

  participants =
    natter_server_store_list_participants_finish (NATTER_SERVER_STORE (source), result, &error);
  if (participants == NULL)
    g_warning ("Could not read the participants of conversation %" G_GINT64_FORMAT ": %s",
               created->conversation_id, error->message);
  else if (participants->len > 0)
    natter_conversation_route_release (
      natter_hub_cache_route (created->hub, created->conversation_id, participants));

  g_object_unref (created->hub);
  g_free (created);
}

void
natter_hub_conversation_created (NatterHub *self, gint64 conversation_id)
{
  CreatedConversation *created;

  g_return_if_fail (NATTER_IS_HUB (self));

  if (self->shutting_down)
    return;

  /* Opening a conversation takes no part in it: presence waits until both
   * sides wrote. This only warms the route cache for the first message. */
  created = g_new0 (CreatedConversation, 1);
  created->hub = g_object_ref (self);
  created->conversation_id = conversation_id;
  natter_server_store_list_participants (self->store, conversation_id, on_created_participants,
                                         created);
}

/* @a and @b just became contacts: each online side learns the other's
 * presence at once. */
void
natter_hub_introduce (NatterHub *self, const NatterProfile *a, const NatterProfile *b)
{
  g_autofree char *a_key = natter_hub_profile_key (a->profile_id, a->profile_type);
  g_autofree char *b_key = natter_hub_profile_key (b->profile_id, b->profile_type);
  g_autofree char *a_text = NULL;
  g_autofree char *b_text = NULL;

  /* Among several nodes either may be online elsewhere. */
  if (self->shared) {
    natter_hub_nodes_introduce (self, a, b);
    return;
  }
  if (natter_hub_lookup_connections (self, a_key) == NULL ||
      natter_hub_lookup_connections (self, b_key) == NULL)
    return;

  a_text = presence_json (a, TRUE);
  b_text = presence_json (b, TRUE);
  natter_hub_send_to_profile (self, b_key, NULL, "presence", a_text);
  natter_hub_send_to_profile (self, a_key, NULL, "presence", b_text);
}

/**
 * natter_hub_profile_blocked:
 * @self: the hub
 * @blocker: who blocked
 * @blocked: whom
 *
 * Presence stops between the two at once: each online side is told the
 * other went offline.
 */
void
natter_hub_profile_blocked (NatterHub *self,
                            const NatterProfile *blocker,
                            const NatterProfile *blocked)
{
  g_autofree char *blocker_key = NULL;
  g_autofree char *blocked_key = NULL;

  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (blocker != NULL && blocked != NULL);

  blocker_key = natter_hub_profile_key (blocker->profile_id, blocker->profile_type);
  blocked_key = natter_hub_profile_key (blocked->profile_id, blocked->profile_type);
  /* Among several nodes either may be online on another node: both sides'
   * connections everywhere hear it (an offline they knew already is
   * harmless). */
  if (self->shared) {
    g_autofree char *blocker_text = presence_json (blocker, FALSE);
    g_autofree char *blocked_text = presence_json (blocked, FALSE);

    natter_hub_relay_frame (self, blocked_key, "presence", blocker_text);
    natter_hub_relay_frame (self, blocker_key, "presence", blocked_text);
    return;
  }
  if (natter_hub_lookup_connections (self, blocker_key) != NULL) {
    g_autofree char *text = presence_json (blocker, FALSE);

    natter_hub_send_to_profile (self, blocked_key, NULL, "presence", text);
  }
  if (natter_hub_lookup_connections (self, blocked_key) != NULL) {
    g_autofree char *text = presence_json (blocked, FALSE);

    natter_hub_send_to_profile (self, blocker_key, NULL, "presence", text);
  }
}

guint
natter_hub_get_n_connections (NatterHub *self)
{
  g_return_val_if_fail (NATTER_IS_HUB (self), 0);

  return g_hash_table_size (self->connections);
}

gboolean
natter_hub_profile_is_online (NatterHub *self, gint64 profile_id, const char *profile_type)
{
  g_autofree char *key = NULL;

  g_return_val_if_fail (NATTER_IS_HUB (self), FALSE);
  g_return_val_if_fail (profile_type != NULL, FALSE);

  key = natter_hub_profile_key (profile_id, profile_type);
  return natter_hub_lookup_connections (self, key) != NULL;
}

/**
 * natter_hub_disconnect_user:
 * @self: the hub
 * @user_id: a user who signed out everywhere
 *
 * Closes (1008) every connection of @user_id.
 */
void
natter_hub_disconnect_user (NatterHub *self, gint64 user_id)
{
  g_return_if_fail (NATTER_IS_HUB (self));

  natter_hub_close_user_here (self, user_id);
  natter_hub_nodes_tell_others (self, NATTER_HUB_NODES_DISCONNECT_USER, user_id);
}

/* The same on this node only. */
void
natter_hub_close_user_here (NatterHub *self, gint64 user_id)
{
  g_autoptr (GPtrArray) doomed = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer connection;

  g_return_if_fail (NATTER_IS_HUB (self));

  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &connection, NULL)) {
    if (natter_hub_connection_get_user_id (connection) == user_id)
      g_ptr_array_add (doomed, g_object_ref (connection));
  }

  for (guint i = 0; i < doomed->len; i++)
    natter_hub_connection_close (g_ptr_array_index (doomed, i),
                                 SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "signed out everywhere");
}

/**
 * natter_hub_disconnect_tokens:
 * @self: the hub
 * @token_ids: a set of gint64 token ids that expired or were revoked
 *
 * Closes (1008) every connection opened with one of @token_ids: a
 * WebSocket lives no longer than the token that opened it.
 */
void
natter_hub_disconnect_tokens (NatterHub *self, GHashTable *token_ids)
{
  g_autoptr (GPtrArray) doomed = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer connection;

  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (token_ids != NULL);

  if (g_hash_table_size (token_ids) == 0)
    return;
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &connection, NULL)) {
    gint64 token_id = natter_hub_connection_get_token_id (connection);

    if (g_hash_table_contains (token_ids, &token_id))
      g_ptr_array_add (doomed, g_object_ref (connection));
  }

  for (guint i = 0; i < doomed->len; i++)
    natter_hub_connection_close (g_ptr_array_index (doomed, i),
                                 SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "the token expired");

  /* Whichever node sweeps them first removes them from the database: the
   * others would never find them. */
  if (self->shared) {
    gpointer token_id;

    g_hash_table_iter_init (&iter, token_ids);
    while (g_hash_table_iter_next (&iter, &token_id, NULL))
      natter_hub_nodes_tell_others (self, NATTER_HUB_NODES_DISCONNECT_TOKEN, *(gint64 *) token_id);
  }
}
