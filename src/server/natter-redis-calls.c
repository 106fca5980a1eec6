/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-redis-calls"

#include "natter-redis-calls.h"

#include <hiredis/hiredis.h>
#include <string.h>

/* Call sessions every node agrees on (ARCHITECTURE.md "Server: one node,
 * many cores, many nodes", rule 3). natter:call:ID is a hash (state
 * ringing or answered, owner node, caller, callee, answered_by) that
 * expires: a ringing call a little after its ring timeout, an answered one
 * after NATTER_REDIS_ANSWERED_CALL_MS. natter:calls:out:PROFILE is a
 * sorted set of the calls a profile has ringing, scored by when they stop
 * ringing (Redis's clock). Each step is one script, so it is atomic across
 * nodes: the check before an invitation (glare with a call ringing the
 * other way, the caller's ringing calls against the limit, whether the
 * callee has a connection on any node), the ring that writes the hash,
 * and every move between states as a compare-and-set on the state: of two
 * answers only the first finds the call ringing.
 *
 * Between the check and the ring the node stores the call's row, so the
 * check that says "ring" also claims the pair: it writes
 * natter:call:claim:NODE:REQUEST (state claimed) and puts claim:NODE:REQUEST
 * among the caller's ringing calls. An invitation the other way that
 * meets the claim is told to wait and asks again: it then finds the call
 * ringing (glare, with its id) or the claim dropped (the ring did not
 * happen). The ring replaces the claim with the call; a claim whose node
 * died expires after NATTER_REDIS_CLAIM_MS. */

#define CALL_PREFIX "natter:call:"
#define OUT_PREFIX "natter:calls:out:"
#define PRESENCE_PREFIX "natter:presence:"
#define NOW_MS                     \
  "local t = redis.call('TIME')\n" \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS: the callee's presence, the caller's ringing calls, the callee's,
 * the claim; ARGV: the caller's key, the most calls it may have ringing,
 * the claim's member (claim:NODE:REQUEST), the callee's key, how long a
 * claim lasts (ms). */
static const char check_script[] =
  NOW_MS "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
         "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)\n"
         "local wait = false\n"
         "for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do\n"
         "  local call = redis.call('HMGET', '" CALL_PREFIX "' .. id, 'state', 'callee')\n"
         "  if call[2] == ARGV[1] then\n"
         "    if call[1] == 'ringing' then return {'glare', id} end\n"
         "    if call[1] == 'claimed' then wait = true end\n"
         "  end\n"
         "end\n"
         "if wait then return {'wait', '0'} end\n"
         "if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return {'busy', '0'} end\n"
         "if redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') == 0 then\n"
         "  return {'offline', '0'}\n"
         "end\n"
         "redis.call('HSET', KEYS[4], 'state', 'claimed', 'caller', ARGV[1], 'callee', ARGV[4])\n"
         "redis.call('PEXPIRE', KEYS[4], ARGV[5])\n"
         "redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[3])\n"
         "if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then\n"
         "  redis.call('PEXPIRE', KEYS[2], ARGV[5])\n"
         "end\n"
         "return {'ring', '0'}\n";

/* KEYS: the caller's ringing calls, the claim; ARGV: the claim's member. */
static const char drop_claim_script[] = "redis.call('ZREM', KEYS[1], ARGV[1])\n"
                                        "redis.call('DEL', KEYS[2])\n"
                                        "return 1\n";

/* KEYS: the call, the caller's ringing calls, the claim it replaces;
 * ARGV: its id, the owner node, the caller's key, the callee's, how long
 * it rings (ms), the claim's member ('': none). */
static const char ring_script[] =
  NOW_MS "if ARGV[6] ~= '' then\n"
         "  redis.call('ZREM', KEYS[2], ARGV[6])\n"
         "  redis.call('DEL', KEYS[3])\n"
         "end\n"
         "redis.call('HSET', KEYS[1], 'state', 'ringing', 'owner', ARGV[2], 'caller', ARGV[3],\n"
         "           'callee', ARGV[4])\n"
         "redis.call('PEXPIRE', KEYS[1], ARGV[5])\n"
         "redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[1])\n"
         "redis.call('PEXPIRE', KEYS[2], ARGV[5])\n"
         "return 1\n";

/* KEYS: the call; ARGV: the state it must be in ('*': any, for its end),
 * the new state ('ended' deletes it), the member of the connection that
 * made the move, how long an answered call is kept (ms), its id. 1: moved;
 * 0: in another state; -1: unknown (expired, or never written). */
static const char move_script[] =
  "local call = redis.call('HMGET', KEYS[1], 'state', 'caller')\n"
  "if not call[1] then return -1 end\n"
  "if ARGV[1] ~= '*' and call[1] ~= ARGV[1] then return 0 end\n"
  "redis.call('ZREM', '" OUT_PREFIX "' .. call[2], ARGV[5])\n"
  "if ARGV[2] == 'ended' then\n"
  "  redis.call('DEL', KEYS[1])\n"
  "  return 1\n"
  "end\n"
  "redis.call('HSET', KEYS[1], 'state', ARGV[2], 'answered_by', ARGV[3])\n"
  "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
  "return 1\n";

static gboolean
command (NatterRedisConnection *commands,
         NatterRedisReplyFunc func,
         gpointer user_data,
         int argc,
         const char **argv)
{
  size_t lengths[16];

  g_assert (argc <= (int) G_N_ELEMENTS (lengths));
  for (int i = 0; i < argc; i++)
    lengths[i] = strlen (argv[i]);
  return natter_redis_connection_command (commands, func, user_data, argc, argv, lengths);
}

#define CLAIM_PREFIX "claim:"

/* The member of a check's claim among the caller's ringing calls; its hash
 * is CALL_PREFIX and this. */
static char *
claim_member (const char *node_id, guint64 request)
{
  return g_strdup_printf (CLAIM_PREFIX "%s:%" G_GUINT64_FORMAT, node_id, request);
}

static gboolean
reply_is_error (const redisReply *reply, const char *what)
{
  if (reply == NULL)
    return TRUE;
  if (reply->type != REDIS_REPLY_ERROR)
    return FALSE;
  g_warning ("Redis refused %s: %s", what, reply->str);
  return TRUE;
}

typedef struct {
  guint64 request;
  NatterRedisCallsCheckedFunc checked;
  NatterRedisCallsMovedFunc moved;
  gpointer user_data;
} Request;

static void
on_checked (NatterRedisConnection *connection, const redisReply *reply, gpointer user_data)
{
  g_autofree Request *request = user_data;
  const char *verdict = "error";
  gint64 ringing = 0;

  if (!reply_is_error (reply, "the check of a call") && reply->type == REDIS_REPLY_ARRAY &&
      reply->elements == 2 && reply->element[0]->type == REDIS_REPLY_STRING &&
      reply->element[1]->type == REDIS_REPLY_STRING) {
    const char *word = reply->element[0]->str;

    if (g_str_equal (word, "wait"))
      verdict = "wait";
    else if (g_str_equal (word, "glare") &&
             g_ascii_string_to_signed (reply->element[1]->str, 10, 1, G_MAXINT64, &ringing, NULL))
      verdict = "glare";
    else if (g_str_equal (word, "busy"))
      verdict = "busy";
    else if (g_str_equal (word, "offline"))
      verdict = "offline";
    else if (g_str_equal (word, "ring"))
      verdict = "ring";
  }
  request->checked (request->request, verdict, ringing, request->user_data);
}

/**
 * natter_redis_calls_check:
 * @commands: the command connection
 * @request: the asker's number for the answer, which names the claim
 * @node_id: this node
 * @caller_key: who invites
 * @callee_key: whom
 * @max_ringing: how many calls @caller_key may have ringing
 * @func: gets the verdict
 * @user_data: for @func
 *
 * A "ring" verdict claims the pair until natter_redis_calls_ring () or
 * natter_redis_calls_drop_claim () with @request.
 *
 * Returns: %FALSE when Redis is unreachable: no answer comes
 */
gboolean
natter_redis_calls_check (NatterRedisConnection *commands,
                          guint64 request,
                          const char *node_id,
                          const char *caller_key,
                          const char *callee_key,
                          guint max_ringing,
                          NatterRedisCallsCheckedFunc func,
                          gpointer user_data)
{
  g_autofree char *presence = g_strconcat (PRESENCE_PREFIX, callee_key, NULL);
  g_autofree char *caller_out = g_strconcat (OUT_PREFIX, caller_key, NULL);
  g_autofree char *callee_out = g_strconcat (OUT_PREFIX, callee_key, NULL);
  g_autofree char *max = g_strdup_printf ("%u", max_ringing);
  g_autofree char *member = claim_member (node_id, request);
  g_autofree char *claim = g_strconcat (CALL_PREFIX, member, NULL);
  g_autofree char *claim_ms = g_strdup_printf ("%u", NATTER_REDIS_CLAIM_MS);
  const char *argv[] = { "EVAL", check_script, "4", presence, caller_out, callee_out,
                         claim,  caller_key,   max, member,   callee_key, claim_ms };
  Request *pending = g_new0 (Request, 1);

  pending->request = request;
  pending->checked = func;
  pending->user_data = user_data;
  if (!command (commands, on_checked, pending, G_N_ELEMENTS (argv), argv)) {
    g_free (pending);
    return FALSE;
  }
  return TRUE;
}

static void
on_rung (NatterRedisConnection *connection, const redisReply *reply, gpointer user_data)
{
  reply_is_error (reply, "the ring of a call");
}

/* Writes the hash of a call that starts ringing on @node_id, in place of
 * the claim of check @claim (0: none); FALSE when Redis is unreachable. */
gboolean
natter_redis_calls_ring (NatterRedisConnection *commands,
                         gint64 call_log_id,
                         const char *node_id,
                         const char *caller_key,
                         const char *callee_key,
                         guint ring_ms,
                         guint64 claim)
{
  g_autofree char *member = claim != 0 ? claim_member (node_id, claim) : g_strdup ("");
  g_autofree char *claim_key = g_strconcat (CALL_PREFIX, member, NULL);
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, call_log_id);
  g_autofree char *call = g_strconcat (CALL_PREFIX, id, NULL);
  g_autofree char *caller_out = g_strconcat (OUT_PREFIX, caller_key, NULL);
  g_autofree char *ms = g_strdup_printf ("%u", ring_ms);
  const char *argv[] = { "EVAL", ring_script, "3",        call,       caller_out, claim_key,
                         id,     node_id,     caller_key, callee_key, ms,         member };

  return command (commands, on_rung, NULL, G_N_ELEMENTS (argv), argv);
}

/* Check @claim of @node_id said "ring" but no call rings: the pair is
 * free again. FALSE when Redis is unreachable (the claim expires). */
gboolean
natter_redis_calls_drop_claim (NatterRedisConnection *commands,
                               const char *node_id,
                               guint64 claim,
                               const char *caller_key)
{
  g_autofree char *member = claim_member (node_id, claim);
  g_autofree char *claim_key = g_strconcat (CALL_PREFIX, member, NULL);
  g_autofree char *caller_out = g_strconcat (OUT_PREFIX, caller_key, NULL);
  const char *argv[] = { "EVAL", drop_claim_script, "2", caller_out, claim_key, member };

  return command (commands, on_rung, NULL, G_N_ELEMENTS (argv), argv);
}

static void
on_moved (NatterRedisConnection *connection, const redisReply *reply, gpointer user_data)
{
  g_autofree Request *request = user_data;
  int outcome = -1;

  if (!reply_is_error (reply, "a move of a call") && reply->type == REDIS_REPLY_INTEGER)
    outcome = reply->integer > 0 ? 1 : reply->integer == 0 ? 0 : -1;
  if (request->moved != NULL)
    request->moved (request->request, outcome, request->user_data);
}

/**
 * natter_redis_calls_move:
 * @commands: the command connection
 * @request: the asker's number for the answer
 * @call_log_id: the call
 * @from_state: the state it must be in ("*": any)
 * @to_state: "answered", or "ended" (forgotten)
 * @member: (nullable): the connection that moves it
 * @func: (nullable): gets the outcome
 * @user_data: for @func
 *
 * Returns: %FALSE when Redis is unreachable: no answer comes
 */
gboolean
natter_redis_calls_move (NatterRedisConnection *commands,
                         guint64 request,
                         gint64 call_log_id,
                         const char *from_state,
                         const char *to_state,
                         const char *member,
                         NatterRedisCallsMovedFunc func,
                         gpointer user_data)
{
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, call_log_id);
  g_autofree char *call = g_strconcat (CALL_PREFIX, id, NULL);
  g_autofree char *keep = g_strdup_printf ("%u", NATTER_REDIS_ANSWERED_CALL_MS);
  const char *argv[] = {
    "EVAL", move_script, "1", call, from_state, to_state, member != NULL ? member : "", keep, id
  };
  Request *pending = g_new0 (Request, 1);

  pending->request = request;
  pending->moved = func;
  pending->user_data = user_data;
  if (!command (commands, on_moved, pending, G_N_ELEMENTS (argv), argv)) {
    g_free (pending);
    return FALSE;
  }
  return TRUE;
}
