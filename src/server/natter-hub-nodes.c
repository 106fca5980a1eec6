/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-hub"

/* The hub among several nodes (ARCHITECTURE.md "Server: one node, many
 * cores, many nodes"): every stored event is published after its commit on
 * its profile's channel, and the node holding connections of a profile
 * hears that channel. Per profile the node remembers the last event id its
 * connections got; an event that jumps past it first brings the missing
 * ones from the store (an event another node committed whose publication is
 * late or lost), one at or below it was already delivered and is dropped.
 * So each connection sees every event once, in id order, whichever node
 * stored it. Frames stored nowhere (typing) go on the same channels and
 * are simply lost while the bus is down; requests every node must carry
 * out (close a revoked token's WebSockets) go on natter:nodes. Each node
 * also hears a channel of its own, natter:node:ID, on which calls across
 * nodes travel (natter-hub-remote-calls.c). The calls ringing on a node are written
 * to Redis: when the node dies another one makes them missed calls, and
 * when it starts again under the same id it fails only those
 * (natter_hub_calls_left ()). A node alone (the in-process bus) skips all
 * of this. */

#include "natter-hub-private.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define PROFILE_CHANNEL_PREFIX "natter:profile:"
#define NODE_CHANNEL_PREFIX "natter:node:"
/* Every node hears it: what all must do (close the WebSockets of a token
 * revoked on one of them). */
#define NODES_CHANNEL "natter:nodes"
/* What a bus message carries: a stored event, or a frame stored nowhere. */
#define EVENT_KIND "event"
#define FRAME_KIND_PREFIX "frame:"
/* On a profile's channel: a presence frame (online) of a profile that just
 * became its contact, told to its connections if that one is online. */
#define INTRODUCE_KIND "introduce"

static void on_introduced (NatterHub *self, const char *to_key, const char *text);
/* Events and requests kept while the bus is down, at most. */
#define UNPUBLISHED_MAX 65536

/* A profile this node holds connections of. */
typedef struct {
  NatterProfile *profile;
  /* The last event id its connections were sent (the hello's
   * last_event_id to begin with; -1 until hello read it). */
  gint64 delivered;
  /* While the store reads a gap (or hello's last id): the events that
   * came meanwhile (WaitingEvent), delivered after it. */
  gboolean filling;
  GQueue waiting;
} NodeProfile;

typedef struct {
  NatterHubConnection *except; /* nullable */
  char *type;
  gint64 event_id;
  char *text;
} WaitingEvent;

static void
waiting_event_free (gpointer data)
{
  WaitingEvent *waiting = data;

  g_clear_object (&waiting->except);
  g_free (waiting->type);
  g_free (waiting->text);
  g_free (waiting);
}

static void
node_profile_free (gpointer data)
{
  NodeProfile *node_profile = data;

  natter_profile_free (node_profile->profile);
  g_queue_clear_full (&node_profile->waiting, waiting_event_free);
  g_free (node_profile);
}

static char *
profile_channel (const char *profile_key)
{
  return g_strconcat (PROFILE_CHANNEL_PREFIX, profile_key, NULL);
}

/* json_object_get_object_member () complains about a missing member. */
static JsonObject *
object_member (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

/* An event's id and type (for the metrics), read from its stored text;
 * FALSE for anything else (bus payloads come from the network). With
 * @out_sending, the key under which natter_hub_nodes_sending_begin () knows
 * a chat message of this node's (NULL for any other event). */
static gboolean
read_event_head (
  const char *text, gsize length, gint64 *out_event_id, const char **out_type, char **out_sending)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;
  JsonObject *object;
  NatterFrameType type;

  if (!json_parser_load_from_data (parser, text, (gssize) length, NULL))
    return FALSE;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return FALSE;
  object = json_node_get_object (root);
  if (json_object_get_int_member_with_default (object, "event_id", 0) <= 0)
    return FALSE;
  type =
    natter_frame_type_from_string (json_object_get_string_member_with_default (object, "type", ""));
  if (type == NATTER_FRAME_UNKNOWN)
    return FALSE;

  *out_event_id = json_object_get_int_member (object, "event_id");
  *out_type = natter_frame_type_to_string (type);
  if (out_sending != NULL) {
    JsonObject *message = object_member (object, "message");
    JsonObject *sender = message != NULL ? object_member (message, "sender") : NULL;
    const char *client_msg_id =
      message != NULL ? json_object_get_string_member_with_default (message, "client_msg_id", NULL)
                      : NULL;
    const char *sender_type =
      sender != NULL ? json_object_get_string_member_with_default (sender, "profile_type", NULL)
                     : NULL;

    *out_sending = NULL;
    if (type == NATTER_FRAME_CHAT_MESSAGE && client_msg_id != NULL && sender_type != NULL) {
      g_autofree char *sender_key = natter_hub_profile_key (
        json_object_get_int_member_with_default (sender, "profile_id", 0), sender_type);

      *out_sending = g_strconcat (sender_key, "\n", client_msg_id, NULL);
    }
  }
  return TRUE;
}

static void
count (NatterHub *self, const char *name, guint64 n)
{
  if (self->metrics != NULL && n > 0)
    natter_metrics_add (self->metrics, name, NULL, NULL, n);
}

/* The kind of channel, as the label of natter_bus_subscribed_total. */
static const char *
channel_kind (const char *channel)
{
  if (g_str_has_prefix (channel, PROFILE_CHANNEL_PREFIX))
    return "profile";
  if (g_str_equal (channel, NODES_CHANNEL))
    return "nodes";
  return "node";
}

static void deliver_waiting (NatterHub *self, const char *key, gboolean may_fill);

/* A gap of a profile's events on its way from the store. */
typedef struct {
  NatterHub *hub;
  char *key;
} GapRead;

/* The event @event_id if it waits for this gap, taken from the queue. */
static WaitingEvent *
take_waiting (NodeProfile *node_profile, gint64 event_id)
{
  for (GList *l = node_profile->waiting.head; l != NULL; l = l->next) {
    WaitingEvent *waiting = l->data;

    if (waiting->event_id == event_id) {
      g_queue_delete_link (&node_profile->waiting, l);
      return waiting;
    }
  }
  return NULL;
}

/* Sends @key's connections the stored events after the last one they got
 * (read by fill_gap ()), in order: one that also came from the bus and
 * waits goes as it came (its sender's connection has the ack instead).
 * Sending may close a connection, and with it forget the profile: looked
 * up again after each. */
static void
on_gap_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GapRead *gap = user_data;
  NatterHub *self = gap->hub;
  const char *key = gap->key;
  NodeProfile *node_profile;
  g_autoptr (NatterStoreReplay) replay = NULL;
  g_autoptr (GError) error = NULL;
  guint64 filled = 0;
  gint64 delivered_before = -1;

  node_profile = g_hash_table_lookup (self->node_profiles, key);
  if (node_profile != NULL)
    delivered_before = node_profile->delivered;

  replay = natter_server_store_replay_finish (NATTER_SERVER_STORE (source), result, &error);
  if (replay == NULL)
    g_warning ("Could not read the events %s missed: %s", key, error->message);
  else if (replay->truncated)
    g_message ("%s missed more than %u events: its clients catch up with sync", key,
               replay->events->len);

  for (guint i = 0; replay != NULL && i < replay->events->len; i++) {
    const char *text = g_ptr_array_index (replay->events, i);
    g_autofree char *sending = NULL;
    WaitingEvent *waiting;
    gint64 event_id;
    const char *type;

    if (!read_event_head (text, strlen (text), &event_id, &type, &sending))
      continue;
    node_profile = g_hash_table_lookup (self->node_profiles, key);
    if (node_profile == NULL)
      break;
    if (event_id <= node_profile->delivered)
      continue;
    node_profile->delivered = event_id;
    waiting = take_waiting (node_profile, event_id);
    if (waiting != NULL) {
      natter_hub_send_to_profile (self, key, waiting->except, waiting->type, waiting->text);
      waiting_event_free (waiting);
      continue;
    }
    /* A message of this profile's that this node is storing: the commit
     * was faster than its callback, which will only ack it. The sending
     * connection learns of it by that ack alone. */
    natter_hub_send_to_profile (
      self, key, sending != NULL ? g_hash_table_lookup (self->sending, sending) : NULL, type, text);
    filled++;
  }
  count (self, "natter_bus_gap_events_total", filled);

  /* What still waits goes now; a gap before it is read again (events of
   * other nodes arrive out of order, but ids commit in order: the store
   * has them), unless this read brought nothing or was cut. */
  node_profile = g_hash_table_lookup (self->node_profiles, key);
  if (node_profile != NULL) {
    node_profile->filling = FALSE;
    deliver_waiting (self, key,
                     replay != NULL && !replay->truncated &&
                       node_profile->delivered > delivered_before);
  }

  g_object_unref (gap->hub);
  g_free (gap->key);
  g_free (gap);
}

/* Reads the stored events of @key after the last one its connections got;
 * what arrives meanwhile waits behind them. */
static void
fill_gap (NatterHub *self, const char *key)
{
  NodeProfile *node_profile = g_hash_table_lookup (self->node_profiles, key);
  guint limit =
    self->config->sync_replay_max > 0 ? self->config->sync_replay_max : NATTER_SYNC_REPLAY_MAX;
  GapRead *gap;

  if (node_profile == NULL || node_profile->filling || node_profile->delivered < 0)
    return;
  node_profile->filling = TRUE;
  gap = g_new0 (GapRead, 1);
  gap->hub = g_object_ref (self);
  gap->key = g_strdup (key);
  natter_server_store_replay (self->store, node_profile->profile, node_profile->delivered, limit,
                              on_gap_read, gap);
}

/* Delivers one event to this node's connections of @key: after the ones
 * it skipped, never twice. @may_fill: a gap is read from the store first
 * (else, the store having been asked once, the event goes anyway). */
static void
deliver_now (NatterHub *self,
             const char *key,
             NatterHubConnection *except,
             const char *type,
             gint64 event_id,
             const char *text,
             gboolean may_fill)
{
  NodeProfile *node_profile = g_hash_table_lookup (self->node_profiles, key);

  if (node_profile == NULL)
    return;
  if (node_profile->filling || node_profile->delivered < 0 ||
      (may_fill && event_id > node_profile->delivered + 1)) {
    WaitingEvent *waiting;

    if (node_profile->delivered >= 0 && event_id <= node_profile->delivered)
      return;
    waiting = g_new0 (WaitingEvent, 1);
    waiting->except = except != NULL ? g_object_ref (except) : NULL;
    waiting->type = g_strdup (type);
    waiting->event_id = event_id;
    waiting->text = g_strdup (text);
    g_queue_push_tail (&node_profile->waiting, waiting);
    fill_gap (self, key);
    return;
  }
  if (event_id <= node_profile->delivered)
    return;
  node_profile->delivered = event_id;
  natter_hub_send_to_profile (self, key, except, type, text);
}

static void
deliver_in_order (NatterHub *self,
                  const char *key,
                  NatterHubConnection *except,
                  const char *type,
                  gint64 event_id,
                  const char *text)
{
  deliver_now (self, key, except, type, event_id, text, TRUE);
}

static int
compare_waiting (gconstpointer a, gconstpointer b)
{
  const WaitingEvent *first = *(WaitingEvent *const *) a;
  const WaitingEvent *second = *(WaitingEvent *const *) b;

  return first->event_id < second->event_id ? -1 : first->event_id > second->event_id;
}

/* The events that waited for a gap (or hello), in order; with @may_fill a
 * gap before one of them is read from the store first. */
static void
deliver_waiting (NatterHub *self, const char *key, gboolean may_fill)
{
  NodeProfile *node_profile = g_hash_table_lookup (self->node_profiles, key);
  g_autoptr (GPtrArray) waiting = g_ptr_array_new_with_free_func (waiting_event_free);

  if (node_profile == NULL)
    return;
  while (!g_queue_is_empty (&node_profile->waiting))
    g_ptr_array_add (waiting, g_queue_pop_head (&node_profile->waiting));
  /* Events of several nodes come in any order. */
  g_ptr_array_sort (waiting, compare_waiting);
  for (guint i = 0; i < waiting->len; i++) {
    WaitingEvent *event = g_ptr_array_index (waiting, i);

    deliver_now (self, key, event->except, event->type, event->event_id, event->text, may_fill);
  }
}

typedef struct {
  char *channel;
  GBytes *payload;
} Unpublished;

static void
unpublished_free (gpointer data)
{
  Unpublished *unpublished = data;

  g_free (unpublished->channel);
  g_bytes_unref (unpublished->payload);
  g_free (unpublished);
}

/* What the bus could not take goes now, in order, as far as it takes it. */
static void
publish_kept (NatterHub *self)
{
  Unpublished *unpublished;

  while ((unpublished = g_queue_peek_head (self->unpublished)) != NULL) {
    if (!natter_server_bus_publish (self->bus, unpublished->channel, unpublished->payload))
      return;
    unpublished_free (g_queue_pop_head (self->unpublished));
  }
}

/* "NODE\nKIND\nTEXT", KIND EVENT_KIND or FRAME_KIND_PREFIX + the frame's
 * type: receivers skip what they published themselves. With @keep, what
 * the bus could not take waits for it to come back: a node that already
 * read its gaps after subscribing again would otherwise miss the events
 * this node stored meanwhile until the next one. */
static void
publish_on (NatterHub *self, const char *channel, const char *kind, const char *text, gboolean keep)
{
  g_autoptr (GString) payload = g_string_new (natter_server_bus_get_node_id (self->bus));
  g_autoptr (GBytes) bytes = NULL;
  Unpublished *unpublished;

  g_string_append_c (payload, '\n');
  g_string_append (payload, kind);
  g_string_append_c (payload, '\n');
  g_string_append (payload, text);
  bytes = g_string_free_to_bytes (g_steal_pointer (&payload));
  /* In order: what waits goes first. */
  publish_kept (self);
  if (g_queue_is_empty (self->unpublished) && natter_server_bus_publish (self->bus, channel, bytes))
    return;

  count (self, "natter_bus_publish_failures_total", 1);
  if (!keep)
    return;
  unpublished = g_new0 (Unpublished, 1);
  unpublished->channel = g_strdup (channel);
  unpublished->payload = g_steal_pointer (&bytes);
  g_queue_push_tail (self->unpublished, unpublished);
  /* The oldest go first: their receivers read them from the store at
   * their next event. */
  if (g_queue_get_length (self->unpublished) > UNPUBLISHED_MAX) {
    unpublished_free (g_queue_pop_head (self->unpublished));
    count (self, "natter_bus_unpublished_dropped_total", 1);
  }
}

static void
publish (NatterHub *self, const char *profile_key, const char *kind, const char *text)
{
  g_autofree char *channel = profile_channel (profile_key);

  publish_on (self, channel, kind, text, g_str_equal (kind, EVENT_KIND));
}

/**
 * natter_hub_nodes_tell_others:
 * @self: the hub
 * @request: NATTER_HUB_NODES_DISCONNECT_TOKEN or _USER
 * @id: the token or user id
 *
 * Asks every other node to do what this one just did. Lost if the bus is
 * down.
 */
void
natter_hub_nodes_tell_others (NatterHub *self, const char *request, gint64 id)
{
  g_autofree char *text = NULL;

  if (!self->shared)
    return;
  text = g_strdup_printf ("%" G_GINT64_FORMAT, id);
  publish_on (self, NODES_CHANNEL, request, text, TRUE);
}

/* For natter-hub-remote-calls.c: what only is true now, lost if the bus
 * is down (a call outlives no Redis outage of its ring anyway). */
void
natter_hub_nodes_publish_to_node (NatterHub *self,
                                  const char *node_id,
                                  const char *kind,
                                  const char *text)
{
  g_autofree char *channel = g_strconcat (NODE_CHANNEL_PREFIX, node_id, NULL);

  if (self->shared)
    publish_on (self, channel, kind, text, FALSE);
}

void
natter_hub_nodes_publish_to_profile (NatterHub *self,
                                     const char *profile_key,
                                     const char *kind,
                                     const char *text)
{
  g_autofree char *channel = profile_channel (profile_key);

  if (self->shared)
    publish_on (self, channel, kind, text, FALSE);
}

void
natter_hub_nodes_publish_to_all (NatterHub *self, const char *kind, const char *text)
{
  if (self->shared)
    publish_on (self, NODES_CHANNEL, kind, text, FALSE);
}

static void
on_nodes_request (NatterHub *self, const char *request, const char *text)
{
  gint64 id = 0;

  if (!g_ascii_string_to_signed (text, 10, 1, G_MAXINT64, &id, NULL)) {
    g_warning ("A request of the other nodes without an id: dropped");
    return;
  }
  if (g_str_equal (request, NATTER_HUB_NODES_DISCONNECT_TOKEN))
    natter_hub_close_token_here (self, id);
  else if (g_str_equal (request, NATTER_HUB_NODES_DISCONNECT_USER))
    natter_hub_close_user_here (self, id);
  else
    g_warning ("An unknown request of the other nodes “%s”: dropped", request);
}

/**
 * natter_hub_relay_frame:
 * @self: the hub
 * @profile_key: to whom
 * @type: the frame's type (a NatterFrameType name)
 * @text: the serialized frame, stored nowhere (typing)
 *
 * Sends @text to every connection of the profile, on this node and on the
 * others. Nothing is read back if the bus loses it: such frames only say
 * what is true now.
 */
void
natter_hub_relay_frame (NatterHub *self,
                        const char *profile_key,
                        const char *type,
                        const char *text)
{
  natter_hub_send_to_profile (self, profile_key, NULL, type, text);
  if (self->shared) {
    g_autofree char *kind = g_strconcat (FRAME_KIND_PREFIX, type, NULL);

    publish (self, profile_key, kind, text);
  }
}

/**
 * natter_hub_deliver_event:
 * @self: the hub
 * @profile_key: whose event
 * @except: (nullable): a connection that learns of it otherwise (the
 *   sender's, through its message_ack)
 * @type: the event's type, for the metrics
 * @text: the stored event, just committed
 *
 * Sends a stored event to the profile's connections on this node and, with
 * other nodes, publishes it to theirs.
 */
void
natter_hub_deliver_event (NatterHub *self,
                          const char *profile_key,
                          NatterHubConnection *except,
                          const char *type,
                          const char *text)
{
  gint64 event_id;
  const char *parsed_type;

  if (!self->shared) {
    natter_hub_send_to_profile (self, profile_key, except, type, text);
    return;
  }

  if (!read_event_head (text, strlen (text), &event_id, &parsed_type, NULL)) {
    g_warning ("An event of %s without an event_id: sent, not published", profile_key);
    natter_hub_send_to_profile (self, profile_key, except, type, text);
    return;
  }

  publish (self, profile_key, EVENT_KIND, text);
  deliver_in_order (self, profile_key, except, type, event_id, text);
}

/* Splits "NODE\nKIND\nTEXT"; FALSE when malformed or published by this
 * node. */
static gboolean
split_payload (const char *node_id, GBytes *payload, char **out_kind, char **out_text)
{
  gsize size;
  const char *data = g_bytes_get_data (payload, &size);
  const char *end;
  const char *first;
  const char *second;

  if (data == NULL)
    return FALSE;
  end = data + size;
  first = memchr (data, '\n', size);
  if (first == NULL)
    return FALSE;
  second = memchr (first + 1, '\n', (gsize) (end - first - 1));
  if (second == NULL)
    return FALSE;
  if ((gsize) (first - data) == strlen (node_id) && memcmp (data, node_id, strlen (node_id)) == 0)
    return FALSE;

  *out_kind = g_strndup (first + 1, (gsize) (second - first - 1));
  *out_text = g_strndup (second + 1, (gsize) (end - second - 1));
  return TRUE;
}

static void
on_bus_message (NatterServerBus *bus, const char *channel, GBytes *payload, NatterHub *self)
{
  g_autofree char *kind = NULL;
  g_autofree char *text = NULL;
  const char *key;
  const char *type;
  gint64 event_id;

  if (!split_payload (natter_server_bus_get_node_id (bus), payload, &kind, &text))
    return;
  if (g_str_has_prefix (kind, NATTER_HUB_REMOTE_CALLS_KIND_PREFIX)) {
    natter_hub_remote_calls_bus_message (self, kind, text);
    return;
  }
  if (g_str_equal (channel, NODES_CHANNEL)) {
    on_nodes_request (self, kind, text);
    return;
  }
  if (!g_str_has_prefix (channel, PROFILE_CHANNEL_PREFIX))
    return;
  key = channel + strlen (PROFILE_CHANNEL_PREFIX);

  if (g_str_equal (kind, INTRODUCE_KIND)) {
    on_introduced (self, key, text);
    return;
  }
  if (g_str_has_prefix (kind, FRAME_KIND_PREFIX)) {
    NatterFrameType frame_type = natter_frame_type_from_string (kind + strlen (FRAME_KIND_PREFIX));

    if (frame_type == NATTER_FRAME_UNKNOWN) {
      g_warning ("A bus message on %s of unknown kind “%s”: dropped", channel, kind);
      return;
    }
    natter_hub_send_to_profile (self, key, NULL, natter_frame_type_to_string (frame_type), text);
    return;
  }

  if (!g_str_equal (kind, EVENT_KIND) ||
      !read_event_head (text, strlen (text), &event_id, &type, NULL)) {
    g_warning ("A bus message on %s that is no event: dropped", channel);
    return;
  }
  deliver_in_order (self, key, NULL, type, event_id, text);
}

/* What was published before the subscription held may be missed: read
 * it. */
static void
on_bus_subscribed (NatterServerBus *bus, const char *channel, NatterHub *self)
{
  g_autofree char *key = NULL;

  if (self->metrics != NULL)
    natter_metrics_inc (self->metrics, "natter_bus_subscribed_total", "kind",
                        channel_kind (channel));
  publish_kept (self);
  if (!g_str_has_prefix (channel, PROFILE_CHANNEL_PREFIX))
    return;
  key = g_strdup (channel + strlen (PROFILE_CHANNEL_PREFIX));
  fill_gap (self, key);
}

/* What was published while the bus was down is gone: read it. */
static void
on_bus_reconnected (NatterServerBus *bus, NatterHub *self)
{
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;

  publish_kept (self);
  g_hash_table_iter_init (&iter, self->node_profiles);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (keys, g_strdup (key));
  for (guint i = 0; i < keys->len; i++)
    fill_gap (self, g_ptr_array_index (keys, i));
}

/**
 * natter_hub_nodes_profile_opened:
 * @self: the hub
 * @connection: the first connection of its profile on this node
 *
 * Subscribes to the profile's channel; its events are counted from what
 * the store holds now, which the hello tells the client too.
 */
void
natter_hub_nodes_profile_opened (NatterHub *self, NatterHubConnection *connection)
{
  const NatterProfile *profile = natter_hub_connection_get_profile (connection);
  const char *key = natter_hub_connection_get_profile_key (connection);
  g_autofree char *channel = NULL;
  NodeProfile *node_profile;

  if (!self->shared)
    return;

  node_profile = g_new0 (NodeProfile, 1);
  node_profile->profile = natter_profile_copy (profile);
  /* Known once hello read it (natter_hub_nodes_profile_read ()). */
  node_profile->delivered = -1;
  g_queue_init (&node_profile->waiting);
  g_hash_table_replace (self->node_profiles, g_strdup (key), node_profile);
  channel = profile_channel (key);
  natter_server_bus_subscribe (self->bus, channel);
}

/**
 * natter_hub_nodes_profile_read:
 * @self: the hub
 * @connection: a connection whose hello was just sent
 * @last_event_id: the profile's last event id, as hello gave it
 *
 * Events of the profile published since it was opened here waited for
 * this (the ones up to @last_event_id are in hello's count already).
 */
void
natter_hub_nodes_profile_read (NatterHub *self,
                               NatterHubConnection *connection,
                               gint64 last_event_id)
{
  const char *key = natter_hub_connection_get_profile_key (connection);
  NodeProfile *node_profile;

  if (!self->shared)
    return;
  node_profile = g_hash_table_lookup (self->node_profiles, key);
  if (node_profile == NULL || node_profile->delivered >= 0)
    return;
  node_profile->delivered = last_event_id;
  deliver_waiting (self, key, TRUE);
}

/* The last connection of @profile_key on this node closed. */
void
natter_hub_nodes_profile_closed (NatterHub *self, const char *profile_key)
{
  g_autofree char *channel = NULL;

  if (!self->shared || !g_hash_table_remove (self->node_profiles, profile_key))
    return;
  channel = profile_channel (profile_key);
  natter_server_bus_unsubscribe (self->bus, channel);
}

/**
 * natter_hub_nodes_sending_begin:
 * @self: the hub
 * @connection: a connection whose chat_message goes to the store
 * @client_msg_id: its id
 *
 * Until natter_hub_nodes_sending_end (), a gap filled from the store sends
 * that message to the profile's other connections only: the sending one
 * gets its message_ack instead.
 */
void
natter_hub_nodes_sending_begin (NatterHub *self,
                                NatterHubConnection *connection,
                                const char *client_msg_id)
{
  if (!self->shared || client_msg_id == NULL)
    return;
  g_hash_table_replace (
    self->sending,
    g_strconcat (natter_hub_connection_get_profile_key (connection), "\n", client_msg_id, NULL),
    connection);
}

void
natter_hub_nodes_sending_end (NatterHub *self,
                              NatterHubConnection *connection,
                              const char *client_msg_id)
{
  g_autofree char *sending = NULL;

  if (!self->shared || client_msg_id == NULL)
    return;
  sending =
    g_strconcat (natter_hub_connection_get_profile_key (connection), "\n", client_msg_id, NULL);
  if (g_hash_table_lookup (self->sending, sending) == connection)
    g_hash_table_remove (self->sending, sending);
}

/* The presence frame of @profile: online now, or gone now. */
static char *
presence_json (const NatterProfile *profile, gboolean online)
{
  g_autoptr (NatterFrame) presence = natter_frame_new (NATTER_FRAME_PRESENCE);
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();

  presence->profile = natter_profile_copy (profile);
  presence->online = online;
  presence->last_seen = natter_format_time (now);
  return natter_frame_to_json (presence, NULL);
}

/* A presence change another node decided on, and what the store knows of
 * its profile. */
typedef struct {
  char *profile_key;
  gboolean online;
  NatterProfile *profile; /* out */
  GPtrArray *contacts;    /* out */
} PresenceChanged;

static void
presence_changed_free (gpointer data)
{
  PresenceChanged *changed = data;

  g_free (changed->profile_key);
  g_clear_pointer (&changed->profile, natter_profile_free);
  g_clear_pointer (&changed->contacts, g_ptr_array_unref);
  g_free (changed);
}

/* Where the store runs queries. The key is "TYPE/ID", as
 * natter_hub_profile_key () writes it; anything else came through Redis
 * and is dropped. */
/* Where the store runs queries: what the store knows of the profile is
 * the result. */
static gpointer
run_presence_changed (NatterStoreQueries *queries, gpointer data, GError **error)
{
  PresenceChanged *changed = data;
  const char *slash = strrchr (changed->profile_key, '/');
  g_autoptr (NatterProfile) profile = NULL;
  g_autoptr (GPtrArray) contacts = NULL;
  g_autofree char *type = NULL;
  PresenceChanged *found;
  gint64 id = 0;

  if (slash == NULL || slash == changed->profile_key ||
      !g_ascii_string_to_signed (slash + 1, 10, 1, G_MAXINT64, &id, NULL)) {
    g_set_error (error, NATTER_SERVER_DB_ERROR, NATTER_SERVER_DB_ERROR_NOT_FOUND,
                 "the presence of an unknown profile “%s”", changed->profile_key);
    return NULL;
  }
  type = g_strndup (changed->profile_key, (gsize) (slash - changed->profile_key));
  profile = natter_store_queries_get_profile (queries, id, type, error);
  if (profile == NULL)
    return NULL;
  contacts = natter_store_queries_list_contacts (queries, profile, error);
  if (contacts == NULL)
    return NULL;

  found = g_new0 (PresenceChanged, 1);
  found->online = changed->online;
  found->profile = g_steal_pointer (&profile);
  found->contacts = g_steal_pointer (&contacts);
  return found;
}

static void
on_presence_contacts (NatterHub *self, gpointer result, gpointer user_data)
{
  PresenceChanged *changed = result;
  g_autofree char *text = NULL;

  if (changed == NULL)
    return;
  count (self, "natter_presence_changes_total", 1);
  text = presence_json (changed->profile, changed->online);
  for (guint i = 0; i < changed->contacts->len; i++) {
    NatterProfile *contact = g_ptr_array_index (changed->contacts, i);
    g_autofree char *key = natter_hub_profile_key (contact->profile_id, contact->profile_type);

    natter_hub_relay_frame (self, key, "presence", text);
  }
}

/* This node alone saw @profile_key come online or go offline on all
 * nodes: its contacts hear it wherever they are connected. */
static void
on_presence_changed (NatterServerBus *bus,
                     const char *profile_key,
                     gboolean online,
                     NatterHub *self)
{
  PresenceChanged *changed = g_new0 (PresenceChanged, 1);

  changed->profile_key = g_strdup (profile_key);
  changed->online = online;
  natter_hub_query (self, run_presence_changed, changed, presence_changed_free,
                    presence_changed_free, "read a presence change", on_presence_contacts, NULL,
                    NULL);
}

/* A new connection waiting to learn which contacts are online on other
 * nodes. */
typedef struct {
  NatterHubConnection *connection;
  GPtrArray *contacts; /* NatterProfile */
} PresenceGreet;

static void
presence_greet_free (gpointer data)
{
  PresenceGreet *greet = data;

  g_object_unref (greet->connection);
  g_ptr_array_unref (greet->contacts);
  g_free (greet);
}

static void
on_presence_queried (NatterServerBus *bus,
                     guint64 request,
                     const char *const *online,
                     NatterHub *self)
{
  PresenceGreet *greet = g_hash_table_lookup (self->presence_greets, &request);

  if (greet == NULL)
    return;
  for (guint i = 0; i < greet->contacts->len; i++) {
    NatterProfile *contact = g_ptr_array_index (greet->contacts, i);
    g_autofree char *key = natter_hub_profile_key (contact->profile_id, contact->profile_type);

    if (g_strv_contains (online, key)) {
      g_autofree char *text = presence_json (contact, TRUE);

      natter_hub_connection_send_text (greet->connection, "presence", text);
    }
  }
  g_hash_table_remove (self->presence_greets, &request);
}

#define PRESENCE_MEMBER_KEY "natter-presence-member"

static void
query_elsewhere (NatterHub *self, NatterHubConnection *connection, GPtrArray *contacts_elsewhere);

/**
 * natter_hub_nodes_presence_opened:
 * @self: the hub
 * @connection: a connection just greeted with the contacts online here
 * @contacts_elsewhere: (element-type NatterProfile): its contacts without
 *   a connection on this node
 *
 * Among several nodes, the connection counts in Redis (whether its
 * profile came online by it is decided there, see on_presence_changed ())
 * and learns which of @contacts_elsewhere are online on other nodes.
 */
void
natter_hub_nodes_presence_opened (NatterHub *self,
                                  NatterHubConnection *connection,
                                  GPtrArray *contacts_elsewhere)
{
  g_autofree char *member = NULL;

  if (!self->shared)
    return;

  member = g_strdup_printf ("%s:%" G_GUINT64_FORMAT, natter_server_bus_get_node_id (self->bus),
                            ++self->next_member);
  g_hash_table_insert (self->presence_connections, g_strdup (member), connection);
  natter_server_bus_add_presence (self->bus, natter_hub_connection_get_profile_key (connection),
                                  natter_hub_connection_get_user_id (connection), member,
                                  self->config->max_connections_per_user > 0
                                    ? self->config->max_connections_per_user
                                    : NATTER_MAX_CONNECTIONS_PER_USER);
  g_object_set_data_full (G_OBJECT (connection), PRESENCE_MEMBER_KEY, g_steal_pointer (&member),
                          g_free);
  query_elsewhere (self, connection, contacts_elsewhere);
}

/* @connection learns which of @contacts (none with a connection here) are
 * online on other nodes, once Redis answers. */
static void
query_elsewhere (NatterHub *self, NatterHubConnection *connection, GPtrArray *contacts_elsewhere)
{
  g_autoptr (GPtrArray) keys = NULL;
  PresenceGreet *greet;
  guint64 request;

  if (contacts_elsewhere == NULL || contacts_elsewhere->len == 0)
    return;
  keys = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < contacts_elsewhere->len; i++) {
    const NatterProfile *contact = g_ptr_array_index (contacts_elsewhere, i);

    g_ptr_array_add (keys, natter_hub_profile_key (contact->profile_id, contact->profile_type));
  }
  g_ptr_array_add (keys, NULL);
  request = ++self->next_greet;
  if (!natter_server_bus_query_presence (self->bus, request, (const char *const *) keys->pdata))
    return;
  greet = g_new0 (PresenceGreet, 1);
  greet->connection = g_object_ref (connection);
  greet->contacts = g_ptr_array_ref (contacts_elsewhere);
  g_hash_table_insert (self->presence_greets, g_memdup2 (&request, sizeof request), greet);
}

/* The connection closed: Redis decides whether its profile went offline. */
void
natter_hub_nodes_presence_closed (NatterHub *self, NatterHubConnection *connection)
{
  const char *member = g_object_get_data (G_OBJECT (connection), PRESENCE_MEMBER_KEY);

  if (!self->shared || member == NULL)
    return;
  g_hash_table_remove (self->presence_connections, member);
  natter_server_bus_remove_presence (self->bus, member);
}

/* The user holds --max-connections-per-user on the nodes together
 * already: the newest connection goes, as the upgrade of one too many on
 * a single node is refused. */
static void
on_connection_refused (NatterServerBus *bus, const char *member, NatterHub *self)
{
  NatterHubConnection *connection = g_hash_table_lookup (self->presence_connections, member);

  if (connection == NULL)
    return;
  g_hash_table_remove (self->presence_connections, member);
  g_object_set_data (G_OBJECT (connection), PRESENCE_MEMBER_KEY, NULL);
  count (self, "natter_node_connections_refused_total", 1);
  natter_hub_connection_close (connection, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                               "too many connections");
}

/* The connections of @to_key here learn that @about is online, if it is on
 * any node: at once when it has a connection here, else once Redis says. */
static void
tell_presence_here (NatterHub *self, const char *to_key, const NatterProfile *about)
{
  GPtrArray *connections = natter_hub_lookup_connections (self, to_key);
  g_autofree char *about_key = natter_hub_profile_key (about->profile_id, about->profile_type);
  g_autoptr (GPtrArray) contacts = NULL;

  if (connections == NULL)
    return;
  if (natter_hub_lookup_connections (self, about_key) != NULL) {
    g_autofree char *text = presence_json (about, TRUE);

    natter_hub_send_to_profile (self, to_key, NULL, "presence", text);
    return;
  }
  contacts = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_profile_free);
  g_ptr_array_add (contacts, natter_profile_copy (about));
  for (guint i = 0; i < connections->len; i++)
    query_elsewhere (self, g_ptr_array_index (connections, i), contacts);
}

/**
 * natter_hub_nodes_introduce:
 * @self: the hub
 * @a: a profile
 * @b: a profile that just became @a's contact
 *
 * Among several nodes each side learns the other's presence wherever
 * their connections are: this node's connections of either from Redis,
 * and the other nodes' through the two profiles' channels.
 */
void
natter_hub_nodes_introduce (NatterHub *self, const NatterProfile *a, const NatterProfile *b)
{
  g_autofree char *a_key = natter_hub_profile_key (a->profile_id, a->profile_type);
  g_autofree char *b_key = natter_hub_profile_key (b->profile_id, b->profile_type);
  g_autofree char *a_text = presence_json (a, TRUE);
  g_autofree char *b_text = presence_json (b, TRUE);

  g_return_if_fail (self->shared);

  tell_presence_here (self, a_key, b);
  tell_presence_here (self, b_key, a);
  natter_hub_nodes_publish_to_profile (self, a_key, INTRODUCE_KIND, b_text);
  natter_hub_nodes_publish_to_profile (self, b_key, INTRODUCE_KIND, a_text);
}

static void
on_introduced (NatterHub *self, const char *to_key, const char *text)
{
  g_autoptr (NatterFrame) presence = NULL;
  g_autoptr (GError) error = NULL;

  presence = natter_frame_parse (text, strlen (text), NATTER_DIRECTION_TO_CLIENT, NULL, &error);
  if (presence == NULL || presence->type != NATTER_FRAME_PRESENCE || presence->profile == NULL) {
    g_warning ("An introduction on the bus that is no presence frame: dropped");
    return;
  }
  tell_presence_here (self, to_key, presence->profile);
}

void
natter_hub_nodes_init (NatterHub *self)
{
  self->presence_greets =
    g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, presence_greet_free);
  self->presence_connections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->node_profiles = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, node_profile_free);
  self->sending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->unpublished = g_queue_new ();
}

void
natter_hub_nodes_dispose (NatterHub *self)
{
  if (self->bus != NULL)
    g_signal_handlers_disconnect_by_data (self->bus, self);
  natter_hub_remote_calls_dispose (self);
  g_clear_object (&self->bus);
  g_clear_pointer (&self->node_profiles, g_hash_table_unref);
  g_clear_pointer (&self->sending, g_hash_table_unref);
  g_clear_pointer (&self->presence_greets, g_hash_table_unref);
  g_clear_pointer (&self->presence_connections, g_hash_table_unref);
  if (self->unpublished != NULL)
    g_queue_free_full (g_steal_pointer (&self->unpublished), unpublished_free);
}

/**
 * natter_hub_set_bus:
 * @self: a hub without connections yet
 * @bus: how this node reaches the others
 *
 * The hub starts with the in-process bus of a node alone.
 */
void
natter_hub_set_bus (NatterHub *self, NatterServerBus *bus)
{
  g_autofree char *node_channel = NULL;

  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (NATTER_IS_SERVER_BUS (bus));
  g_return_if_fail (g_hash_table_size (self->connections) == 0);

  if (self->bus != NULL)
    g_signal_handlers_disconnect_by_data (self->bus, self);
  g_set_object (&self->bus, bus);
  self->shared = natter_server_bus_is_shared (bus);
  if (!self->shared)
    return;

  g_signal_connect (bus, "message", G_CALLBACK (on_bus_message), self);
  g_signal_connect (bus, "subscribed", G_CALLBACK (on_bus_subscribed), self);
  g_signal_connect (bus, "reconnected", G_CALLBACK (on_bus_reconnected), self);
  g_signal_connect_swapped (bus, "calls-left", G_CALLBACK (natter_hub_calls_left), self);
  g_signal_connect (bus, "presence-changed", G_CALLBACK (on_presence_changed), self);
  g_signal_connect (bus, "presence-queried", G_CALLBACK (on_presence_queried), self);
  g_signal_connect (bus, "connection-refused", G_CALLBACK (on_connection_refused), self);
  natter_hub_remote_calls_init (self);
  /* What is meant for this node alone. */
  node_channel = g_strconcat (NODE_CHANNEL_PREFIX, natter_server_bus_get_node_id (bus), NULL);
  natter_server_bus_subscribe (bus, node_channel);
  natter_server_bus_subscribe (bus, NODES_CHANNEL);
}
