/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-redis-nodes"

#include "natter-redis-nodes.h"

#include <hiredis/hiredis.h>
#include <string.h>

/* Which nodes are alive, and who cleans up after the dead ones
 * (ARCHITECTURE.md "Server: one node, many cores, many nodes"). Each node
 * sets natter:node:ID:alive with an expiry of --node-dead-after-ms and
 * refreshes it three times as often; a node whose key expired is dead.
 * The node holding natter:nodes:cleaner (taken with SET NX PX, refreshed
 * by its holder like the liveness key) looks at every node named in
 * natter:nodes:known and, for each dead one, takes the set of calls it had
 * ringing (natter:node:ID:calls) in one script that also forgets the
 * node: whoever runs it first gets the calls, nobody else does, so each
 * becomes a missed call once. A node that starts again under the same id
 * takes its own set the same way at its first connection: those calls are
 * its previous run's, failed, and no one else's calls are touched; the
 * connections of that run leave presence as a dead node's do.
 *
 * Presence: natter:presence:PROFILE is a sorted set of NODE:CONNECTION
 * scored by when it expires (Redis's clock), one member per WebSocket,
 * refreshed by the node holding it like its liveness key. Whether a
 * profile came online or went offline is decided inside the script that
 * adds or removes a member, so one node alone sees each transition and
 * announces it. A dead node's members are removed by the claim script;
 * the profiles left without a member went offline. An expired member
 * never counts as online. */

#define KNOWN_KEY "natter:nodes:known"
#define CLEANER_KEY "natter:nodes:cleaner"

/* KEYS: alive, known, cleaner; ARGV: node id, expiry (ms). 1: this node
 * cleans up. */
static const char heartbeat_script[] =
  "redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])\n"
  "redis.call('SADD', KEYS[2], ARGV[1])\n"
  "if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end\n"
  "if redis.call('GET', KEYS[3]) == ARGV[1] then\n"
  "  redis.call('PEXPIRE', KEYS[3], ARGV[2])\n"
  "  return 1\n"
  "end\n"
  "return 0\n";

#define PRESENCE_PREFIX "natter:presence:"
#define NOW_MS                     \
  "local t = redis.call('TIME')\n" \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS: the node's alive key, its calls, known, its profiles; ARGV: its
 * id, "own" when a node takes what its previous run under that id left
 * (it lives again), else "dead". Once it is dead: its ringing calls and
 * the profiles that went offline with it; nil while it lives. */
static const char claim_script[] =
  "if ARGV[2] ~= 'own' and redis.call('EXISTS', KEYS[1]) == 1 then return false end\n" NOW_MS
  "local calls = redis.call('SMEMBERS', KEYS[2])\n"
  "local offline = {}\n"
  "local prefix = ARGV[1] .. ':'\n"
  "for _, profile in ipairs(redis.call('SMEMBERS', KEYS[4])) do\n"
  "  local key = '" PRESENCE_PREFIX "' .. profile\n"
  "  local removed = 0\n"
  "  for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do\n"
  "    if string.sub(member, 1, #prefix) == prefix then\n"
  "      removed = removed + redis.call('ZREM', key, member)\n"
  "    end\n"
  "  end\n"
  "  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)\n"
  "  if removed > 0 and redis.call('ZCARD', key) == 0 then offline[#offline + 1] = profile end\n"
  "end\n"
  "redis.call('DEL', KEYS[2], KEYS[4])\n"
  "redis.call('SREM', KEYS[3], ARGV[1])\n"
  "return {calls, offline}\n";

/* KEYS: the profile's presence, this node's profiles, the user's
 * connections (a sorted set like presence); ARGV: the member, the expiry
 * (ms), the profile, the user's cap (0: a refresh, no check). 1: the
 * profile came online; -1: the user holds as many connections as the cap
 * on all nodes together, this one is not counted. A refresh brings back a
 * member Redis lost. */
static const char presence_add_script[] =
  NOW_MS "local expires = now + tonumber(ARGV[2])\n"
         "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)\n"
         "if ARGV[4] ~= '0' and not redis.call('ZSCORE', KEYS[3], ARGV[1]) and\n"
         "   redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then\n"
         "  return -1\n"
         "end\n"
         "redis.call('ZADD', KEYS[3], expires, ARGV[1])\n"
         "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
         "local before = redis.call('ZCARD', KEYS[1])\n"
         "redis.call('ZADD', KEYS[1], expires, ARGV[1])\n"
         "redis.call('SADD', KEYS[2], ARGV[3])\n"
         "if before == 0 then return 1 end\n"
         "return 0\n";

/* KEYS: the profile's presence, the user's connections; ARGV: the
 * member. 1: the profile went offline. */
static const char presence_remove_script[] =
  NOW_MS "redis.call('ZREM', KEYS[2], ARGV[1])\n"
         "local removed = redis.call('ZREM', KEYS[1], ARGV[1])\n"
         "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
         "if removed == 1 and redis.call('ZCARD', KEYS[1]) == 0 then return 1 end\n"
         "return 0\n";

#define USER_CONNECTIONS_PREFIX "natter:user-connections:"

/* A connection of this node, as Redis counts it. */
typedef struct {
  char *profile_key;
  char *user_key; /* its user's connections */
  guint cap;      /* its user's connections at most */
  /* Redis answered its capped add with "counted": from then on it is
   * refreshed. Until then a refresh (which adds without the cap) could
   * land after a refusal and count a connection that is being closed. */
  gboolean counted;
  gboolean adding; /* its capped add awaits its answer */
} Member;

static void
member_free (gpointer data)
{
  Member *member = data;

  g_free (member->profile_key);
  g_free (member->user_key);
  g_free (member);
}

/* KEYS: presence sets. The indexes (1-based) of those with a member that
 * has not expired. */
static const char presence_query_script[] =
  NOW_MS "local online = {}\n"
         "for i, key in ipairs(KEYS) do\n"
         "  if redis.call('ZCOUNT', key, '(' .. now, '+inf') > 0 then online[#online + 1] = i end\n"
         "end\n"
         "return online\n";

struct _NatterRedisNodes {
  GObject parent_instance;

  /* Not a reference: the bus disposes it first, which answers every
   * pending command with NULL while this object still lives. */
  NatterRedisConnection *commands;
  char *node_id;
  char *alive_key;
  char *calls_key;
  guint dead_after_ms;
  char *profiles_key;
  NatterRedisNodesCallsLeftFunc calls_left;
  NatterRedisNodesPresenceFunc presence_changed;
  NatterRedisNodesQueriedFunc presence_queried;
  NatterRedisNodesRefusedFunc refused;
  gpointer user_data;

  /* The members this node holds: member -> Member. */
  GHashTable *members;

  /* The calls ringing here (gint64 set), written again after Redis lost
   * them. */
  GHashTable *owned;
  gboolean claimed_own;
  gboolean cleaner;
  guint heartbeat_id;
};

G_DEFINE_FINAL_TYPE (NatterRedisNodes, natter_redis_nodes, G_TYPE_OBJECT)

static gboolean
command (NatterRedisNodes *self,
         NatterRedisReplyFunc func,
         gpointer user_data,
         int argc,
         const char **argv)
{
  size_t lengths[16];

  g_assert (argc <= (int) G_N_ELEMENTS (lengths));
  for (int i = 0; i < argc; i++)
    lengths[i] = strlen (argv[i]);
  return natter_redis_connection_command (self->commands, func, user_data, argc, argv, lengths);
}

static char *
alive_key (const char *node_id)
{
  return g_strconcat ("natter:node:", node_id, ":alive", NULL);
}

static char *
calls_key (const char *node_id)
{
  return g_strconcat ("natter:node:", node_id, ":calls", NULL);
}

static char *
profiles_key (const char *node_id)
{
  return g_strconcat ("natter:node:", node_id, ":profiles", NULL);
}

static gboolean
reply_is_error (const redisReply *reply, const char *what)
{
  if (reply->type != REDIS_REPLY_ERROR)
    return FALSE;
  g_warning ("Redis refused %s: %s", what, reply->str);
  return TRUE;
}

/* The call ids of an array reply; NULL for anything else (nil: the node
 * lives). */
static GArray *
call_ids_of (const redisReply *reply)
{
  GArray *ids;

  if (reply->type != REDIS_REPLY_ARRAY)
    return NULL;
  ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (size_t i = 0; i < reply->elements; i++) {
    const redisReply *element = reply->element[i];
    gint64 id;

    if (element->type == REDIS_REPLY_STRING &&
        g_ascii_string_to_signed (element->str, 10, 1, G_MAXINT64, &id, NULL))
      g_array_append_val (ids, id);
  }
  return ids;
}

typedef struct {
  NatterRedisNodes *nodes;
  char *node_id;
  gboolean own;
} Claim;

/* The profiles of the second element of a dead node's claim. */
static void
presence_gone (NatterRedisNodes *self, const redisReply *reply)
{
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[1]->type != REDIS_REPLY_ARRAY)
    return;
  reply = reply->element[1];
  for (size_t i = 0; i < reply->elements; i++) {
    if (reply->element[i]->type == REDIS_REPLY_STRING)
      self->presence_changed (reply->element[i]->str, FALSE, self->user_data);
  }
}

static void
on_claimed (NatterRedisConnection *connection, const redisReply *reply, gpointer user_data)
{
  Claim *claim = user_data;
  g_autoptr (GArray) ids = NULL;

  if (reply != NULL && !reply_is_error (reply, "a claim of a node's calls")) {
    /* {calls, profiles gone offline}; nil: the node lives. */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
      ids = call_ids_of (reply->element[0]);
      presence_gone (claim->nodes, reply);
    }
  }
  if (ids != NULL) {
    if (!claim->own)
      g_message ("node %s: node %s is dead, %u of its calls rang", claim->nodes->node_id,
                 claim->node_id, ids->len);
    if (ids->len > 0)
      claim->nodes->calls_left (claim->node_id, claim->own, ids, claim->nodes->user_data);
  }
  g_free (claim->node_id);
  g_free (claim);
}

static void
claim (NatterRedisNodes *self, const char *node_id, gboolean own)
{
  Claim *pending = g_new0 (Claim, 1);
  g_autofree char *alive = alive_key (node_id);
  g_autofree char *calls = calls_key (node_id);
  g_autofree char *profiles = profiles_key (node_id);
  const char *argv[] = { "EVAL",  claim_script,        "4", alive, calls, KNOWN_KEY, profiles,
                         node_id, own ? "own" : "dead" };

  pending->nodes = self;
  pending->node_id = g_strdup (node_id);
  pending->own = own;
  if (!command (self, on_claimed, pending, G_N_ELEMENTS (argv), argv)) {
    g_free (pending->node_id);
    g_free (pending);
  }
}

static void
on_known (NatterRedisConnection *connection, const redisReply *reply, gpointer user_data)
{
  NatterRedisNodes *self = user_data;

  if (reply == NULL || reply_is_error (reply, "the list of nodes") ||
      reply->type != REDIS_REPLY_ARRAY)
    return;
  for (size_t i = 0; i < reply->elements; i++) {
    const redisReply *element = reply->element[i];

    if (element->type == REDIS_REPLY_STRING && !g_str_equal (element->str, self->node_id))
      claim (self, element->str, FALSE);
  }
}

static void
on_heartbeat_reply (NatterRedisConnection *connection, const redisReply *reply, gpointer user_data)
{
  NatterRedisNodes *self = user_data;
  gboolean cleaner;

  if (reply == NULL || reply_is_error (reply, "the liveness heartbeat"))
    return;
  cleaner = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
  if (cleaner != self->cleaner)
    g_message ("node %s: %s cleaning up after dead nodes", self->node_id,
               cleaner ? "now" : "no longer");
  self->cleaner = cleaner;
  if (cleaner) {
    const char *argv[] = { "SMEMBERS", KNOWN_KEY };

    command (self, on_known, self, G_N_ELEMENTS (argv), argv);
  }
}

typedef struct {
  NatterRedisNodes *nodes;
  char *profile_key;
  char *member;
  gboolean online; /* what 1 means: the adding script, or the removing one */
} PresenceChange;

static void
on_presence_changed (NatterRedisConnection *connection, const redisReply *reply, gpointer user_data)
{
  PresenceChange *change = user_data;
  NatterRedisNodes *self = change->nodes;

  Member *member = g_hash_table_lookup (self->members, change->member);

  /* Only the capped add's answer says whether the member counts; a lost
   * answer leaves it to be added again, with the cap, on reconnection. */
  if (member != NULL && change->online && member->adding) {
    member->adding = FALSE;
    member->counted = reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0;
  }
  if (reply != NULL && !reply_is_error (reply, "a presence change") &&
      reply->type == REDIS_REPLY_INTEGER) {
    if (reply->integer == 1)
      self->presence_changed (change->profile_key, change->online, self->user_data);
    /* Over the cap: the connection never counted. */
    else if (reply->integer == -1 && g_hash_table_remove (self->members, change->member))
      self->refused (change->member, self->user_data);
  }
  g_free (change->profile_key);
  g_free (change->member);
  g_free (change);
}

/* @cap: the user's connections at most, 0 for a refresh or removal. */
static void
presence_script (
  NatterRedisNodes *self, gboolean add, const char *member_name, Member *member, guint cap)
{
  g_autofree char *key = g_strconcat (PRESENCE_PREFIX, member->profile_key, NULL);
  g_autofree char *expiry = g_strdup_printf ("%u", self->dead_after_ms);
  g_autofree char *cap_text = g_strdup_printf ("%u", cap);
  PresenceChange *change = g_new0 (PresenceChange, 1);
  gboolean sent;

  change->nodes = self;
  change->profile_key = g_strdup (member->profile_key);
  change->member = g_strdup (member_name);
  change->online = add;
  if (add) {
    const char *argv[] = {
      "EVAL", presence_add_script, "3",     key, self->profiles_key, member->user_key, member_name,
      expiry, member->profile_key, cap_text
    };

    sent = command (self, on_presence_changed, change, G_N_ELEMENTS (argv), argv);
    if (sent && cap > 0)
      member->adding = TRUE;
  } else {
    const char *argv[] = {
      "EVAL", presence_remove_script, "2", key, member->user_key, member_name
    };

    sent = command (self, on_presence_changed, change, G_N_ELEMENTS (argv), argv);
  }
  if (!sent) {
    g_free (change->profile_key);
    g_free (change->member);
    g_free (change);
  }
}

static gboolean
on_heartbeat_due (gpointer user_data)
{
  NatterRedisNodes *self = user_data;
  g_autofree char *expiry = g_strdup_printf ("%u", self->dead_after_ms);
  const char *argv[] = { "EVAL",    heartbeat_script, "3",           self->alive_key,
                         KNOWN_KEY, CLEANER_KEY,      self->node_id, expiry };
  GHashTableIter iter;
  gpointer name;
  gpointer member;

  command (self, on_heartbeat_reply, self, G_N_ELEMENTS (argv), argv);
  /* Each member lives as long as this node says it lives; one Redis lost
   * comes back. One not yet counted is added with the cap once (again,
   * if Redis was unreachable at its add); one whose add is unanswered is
   * left alone. */
  g_hash_table_iter_init (&iter, self->members);
  while (g_hash_table_iter_next (&iter, &name, &member)) {
    Member *held = member;

    if (held->counted)
      presence_script (self, TRUE, name, held, 0);
    else if (!held->adding)
      presence_script (self, TRUE, name, held, held->cap);
  }
  return G_SOURCE_CONTINUE;
}

static void
natter_redis_nodes_dispose (GObject *object)
{
  NatterRedisNodes *self = NATTER_REDIS_NODES (object);

  g_clear_handle_id (&self->heartbeat_id, g_source_remove);

  G_OBJECT_CLASS (natter_redis_nodes_parent_class)->dispose (object);
}

static void
natter_redis_nodes_finalize (GObject *object)
{
  NatterRedisNodes *self = NATTER_REDIS_NODES (object);

  g_free (self->node_id);
  g_free (self->alive_key);
  g_free (self->calls_key);
  g_free (self->profiles_key);
  g_hash_table_unref (self->owned);
  g_hash_table_unref (self->members);

  G_OBJECT_CLASS (natter_redis_nodes_parent_class)->finalize (object);
}

static void
natter_redis_nodes_class_init (NatterRedisNodesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_redis_nodes_dispose;
  object_class->finalize = natter_redis_nodes_finalize;
}

static void
natter_redis_nodes_init (NatterRedisNodes *self)
{
  self->owned = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  self->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, member_free);
  self->dead_after_ms = NATTER_NODE_DEAD_AFTER_MS;
}

/**
 * natter_redis_nodes_new:
 * @commands: the bus's command connection, which must outlive the
 *   returned object's pending commands (dispose it first)
 * @node_id: this node's id
 * @calls_left: told of the calls a dead node (or this node's previous
 *   run) left ringing
 * @presence_changed: told when a profile came online or went offline, by
 *   a connection of this node or because a node died
 * @presence_queried: told which profiles of natter_redis_nodes_query ()
 *   are online
 * @refused: told of a connection over its user's cap
 * @user_data: for the four
 *
 * Returns: (transfer full): the node registry, not started
 */
NatterRedisNodes *
natter_redis_nodes_new (NatterRedisConnection *commands,
                        const char *node_id,
                        NatterRedisNodesCallsLeftFunc calls_left,
                        NatterRedisNodesPresenceFunc presence_changed,
                        NatterRedisNodesQueriedFunc presence_queried,
                        NatterRedisNodesRefusedFunc refused,
                        gpointer user_data)
{
  NatterRedisNodes *self;

  g_return_val_if_fail (NATTER_IS_REDIS_CONNECTION (commands), NULL);
  g_return_val_if_fail (node_id != NULL && calls_left != NULL, NULL);
  g_return_val_if_fail (presence_changed != NULL && presence_queried != NULL, NULL);

  self = g_object_new (NATTER_TYPE_REDIS_NODES, NULL);
  self->commands = commands;
  self->node_id = g_strdup (node_id);
  self->alive_key = alive_key (node_id);
  self->calls_key = calls_key (node_id);
  self->profiles_key = profiles_key (node_id);
  self->calls_left = calls_left;
  self->presence_changed = presence_changed;
  self->presence_queried = presence_queried;
  self->refused = refused;
  self->user_data = user_data;
  return self;
}

/**
 * natter_redis_nodes_set_dead_after:
 * @self: a registry, not started
 * @dead_after_ms: how long after its last heartbeat a node counts as dead
 */
void
natter_redis_nodes_set_dead_after (NatterRedisNodes *self, guint dead_after_ms)
{
  g_return_if_fail (NATTER_IS_REDIS_NODES (self));
  g_return_if_fail (dead_after_ms >= 3 && self->heartbeat_id == 0);

  self->dead_after_ms = dead_after_ms;
}

void
natter_redis_nodes_start (NatterRedisNodes *self)
{
  g_return_if_fail (NATTER_IS_REDIS_NODES (self));

  if (self->heartbeat_id == 0)
    self->heartbeat_id = g_timeout_add (self->dead_after_ms / 3, on_heartbeat_due, self);
}

/**
 * natter_redis_nodes_connected:
 * @self: a registry
 *
 * The command connection is (again) ready: the first time, what a
 * previous run under this id left is taken; every time, the calls ringing
 * here are written again (a restarted Redis forgot them) and this node
 * says it lives (and its connections are online).
 */
void
natter_redis_nodes_connected (NatterRedisNodes *self)
{
  GHashTableIter iter;
  gpointer key;

  g_return_if_fail (NATTER_IS_REDIS_NODES (self));

  /* Commands run in order: the claim cannot take what comes after it. */
  if (!self->claimed_own) {
    self->claimed_own = TRUE;
    claim (self, self->node_id, TRUE);
  }
  g_hash_table_iter_init (&iter, self->owned);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, *(gint64 *) key);
    const char *argv[] = { "SADD", self->calls_key, id };

    command (self, NULL, NULL, G_N_ELEMENTS (argv), argv);
  }
  on_heartbeat_due (self);
}

/**
 * natter_redis_nodes_own_call:
 * @self: a registry
 * @call_log_id: a call now ringing on this node
 *
 * Should this node die, the cleaner makes it a missed call.
 */
void
natter_redis_nodes_own_call (NatterRedisNodes *self, gint64 call_log_id)
{
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, call_log_id);
  const char *argv[] = { "SADD", self->calls_key, id };

  g_return_if_fail (NATTER_IS_REDIS_NODES (self));

  if (!g_hash_table_add (self->owned, g_memdup2 (&call_log_id, sizeof call_log_id)))
    return;
  /* Not ready: natter_redis_nodes_connected () writes it. */
  command (self, NULL, NULL, G_N_ELEMENTS (argv), argv);
}

/* @call_log_id stopped ringing here. */
void
natter_redis_nodes_release_call (NatterRedisNodes *self, gint64 call_log_id)
{
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, call_log_id);
  const char *argv[] = { "SREM", self->calls_key, id };

  g_return_if_fail (NATTER_IS_REDIS_NODES (self));

  if (!g_hash_table_remove (self->owned, &call_log_id))
    return;
  command (self, NULL, NULL, G_N_ELEMENTS (argv), argv);
}

/* Whether this node held the cleaner key at its last heartbeat. */
gboolean
natter_redis_nodes_is_cleaner (NatterRedisNodes *self)
{
  g_return_val_if_fail (NATTER_IS_REDIS_NODES (self), FALSE);

  return self->cleaner;
}

/**
 * natter_redis_nodes_presence_add:
 * @self: a registry
 * @profile_key: whose connection
 * @user_id: the profile's user
 * @member: the connection's member, `NODE:N`, unique
 * @cap: how many connections the user may hold on all nodes together
 *
 * A connection opened here: refreshed until removed. Tells
 * presence_changed if the profile came online by it, refused if it is one
 * too many.
 */
void
natter_redis_nodes_presence_add (
  NatterRedisNodes *self, const char *profile_key, gint64 user_id, const char *member, guint cap)
{
  Member *added;

  g_return_if_fail (NATTER_IS_REDIS_NODES (self));
  g_return_if_fail (cap > 0);

  added = g_new0 (Member, 1);
  added->profile_key = g_strdup (profile_key);
  added->user_key = g_strdup_printf (USER_CONNECTIONS_PREFIX "%" G_GINT64_FORMAT, user_id);
  added->cap = cap;
  g_hash_table_replace (self->members, g_strdup (member), added);
  presence_script (self, TRUE, member, added, cap);
}

/* The connection closed: presence_changed if the profile went offline. */
void
natter_redis_nodes_presence_remove (NatterRedisNodes *self, const char *member)
{
  Member *removed;

  g_return_if_fail (NATTER_IS_REDIS_NODES (self));

  removed = g_hash_table_lookup (self->members, member);
  if (removed == NULL)
    return;
  presence_script (self, FALSE, member, removed, 0);
  g_hash_table_remove (self->members, member);
}

typedef struct {
  NatterRedisNodes *nodes;
  guint64 request;
  GStrv profile_keys;
} Query;

static void
on_queried (NatterRedisConnection *connection, const redisReply *reply, gpointer user_data)
{
  Query *query = user_data;
  g_autoptr (GPtrArray) online = g_ptr_array_new ();
  guint n = g_strv_length (query->profile_keys);

  if (reply != NULL && !reply_is_error (reply, "a presence query") &&
      reply->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < reply->elements; i++) {
      const redisReply *element = reply->element[i];

      if (element->type == REDIS_REPLY_INTEGER && element->integer >= 1 && element->integer <= n)
        g_ptr_array_add (online, query->profile_keys[element->integer - 1]);
    }
  }
  g_ptr_array_add (online, NULL);
  /* Also on a lost connection (none online): the asker forgets it. */
  query->nodes->presence_queried (query->request, (const char *const *) online->pdata,
                                  query->nodes->user_data);
  g_strfreev (query->profile_keys);
  g_free (query);
}

/**
 * natter_redis_nodes_query:
 * @self: a registry
 * @request: the asker's number for the answer
 * @profile_keys: profiles
 *
 * Asks which of @profile_keys have a connection on any node; the answer
 * comes through presence_queried (none when Redis is unreachable).
 *
 * Returns: %FALSE when Redis is unreachable: no answer comes
 */
gboolean
natter_redis_nodes_query (NatterRedisNodes *self, guint64 request, const char *const *profile_keys)
{
  guint n;
  g_autofree const char **argv = NULL;
  g_autofree size_t *lengths = NULL;
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *n_keys = NULL;
  Query *query;

  g_return_val_if_fail (NATTER_IS_REDIS_NODES (self), FALSE);

  n = g_strv_length ((GStrv) profile_keys);
  argv = g_new0 (const char *, n + 3);
  lengths = g_new0 (size_t, n + 3);
  n_keys = g_strdup_printf ("%u", n);
  argv[0] = "EVAL";
  argv[1] = presence_query_script;
  argv[2] = n_keys;
  for (guint i = 0; i < n; i++) {
    g_ptr_array_add (keys, g_strconcat (PRESENCE_PREFIX, profile_keys[i], NULL));
    argv[3 + i] = g_ptr_array_index (keys, i);
  }
  for (guint i = 0; i < n + 3; i++)
    lengths[i] = strlen (argv[i]);

  query = g_new0 (Query, 1);
  query->nodes = self;
  query->request = request;
  query->profile_keys = g_strdupv ((GStrv) profile_keys);
  if (!natter_redis_connection_command (self->commands, on_queried, query, (int) n + 3, argv,
                                        lengths)) {
    g_strfreev (query->profile_keys);
    g_free (query);
    return FALSE;
  }
  return TRUE;
}

/* KEYS: the user's connections. How many have not expired. */
static const char connections_count_script[] =
  NOW_MS "return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')\n";

static void
on_connections_counted (NatterRedisConnection *connection,
                        const redisReply *reply,
                        gpointer user_data)
{
  g_autoptr (GTask) task = user_data;

  if (reply == NULL || reply_is_error (reply, "a count of a user's connections") ||
      reply->type != REDIS_REPLY_INTEGER)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                             "Redis did not count the user's connections");
  else
    g_task_return_int (task, MAX (reply->integer, 0));
}

/**
 * natter_redis_nodes_count_connections_async:
 * @self: a registry
 * @user_id: a user
 * @callback: told once Redis answered (or cannot)
 * @user_data: for @callback
 *
 * Counts the user's connections on all nodes together, as the capped add
 * of natter_redis_nodes_presence_add () does.
 */
void
natter_redis_nodes_count_connections_async (NatterRedisNodes *self,
                                            gint64 user_id,
                                            GAsyncReadyCallback callback,
                                            gpointer user_data)
{
  g_autofree char *key = NULL;
  GTask *task;

  g_return_if_fail (NATTER_IS_REDIS_NODES (self));

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, natter_redis_nodes_count_connections_async);
  key = g_strdup_printf (USER_CONNECTIONS_PREFIX "%" G_GINT64_FORMAT, user_id);
  {
    const char *argv[] = { "EVAL", connections_count_script, "1", key };

    if (!command (self, on_connections_counted, task, G_N_ELEMENTS (argv), argv)) {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "Redis is unreachable");
      g_object_unref (task);
    }
  }
}

/**
 * natter_redis_nodes_count_connections_finish:
 * @self: a registry
 * @result: the result
 * @error: where Redis's failure goes
 *
 * Returns: the user's connections on all nodes, or -1 with @error set
 */
gssize
natter_redis_nodes_count_connections_finish (NatterRedisNodes *self,
                                             GAsyncResult *result,
                                             GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), -1);

  return g_task_propagate_int (G_TASK (result), error);
}
