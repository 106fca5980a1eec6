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
 * answers only the first finds the call ringing. */

#define CALL_PREFIX "natter:call:"
#define OUT_PREFIX "natter:calls:out:"
#define PRESENCE_PREFIX "natter:presence:"
#define NOW_MS                     \
  "local t = redis.call('TIME')\n" \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS: the callee's presence, the caller's ringing calls, the callee's;
 * ARGV: the caller's key, the most calls it may have ringing. */
static const char check_script[] =
  NOW_MS "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
         "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)\n"
         "for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do\n"
         "  local call = redis.call('HMGET', '" CALL_PREFIX "' .. id, 'state', 'callee')\n"
         "  if call[1] == 'ringing' and call[2] == ARGV[1] then return {'glare', id} end\n"
         "end\n"
         "if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return {'busy', '0'} end\n"
         "if redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') == 0 then\n"
         "  return {'offline', '0'}\n"
         "end\n"
         "return {'ring', '0'}\n";

/* KEYS: the call, the caller's ringing calls; ARGV: its id, the owner
 * node, the caller's key, the callee's, how long it rings (ms). */
static const char ring_script[] =
  NOW_MS "redis.call('HSET', KEYS[1], 'state', 'ringing', 'owner', ARGV[2], 'caller', ARGV[3],\n"
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

    if (g_str_equal (word, "glare") &&
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
 * @request: the asker's number for the answer
 * @caller_key: who invites
 * @callee_key: whom
 * @max_ringing: how many calls @caller_key may have ringing
 * @func: gets the verdict
 * @user_data: for @func
 *
 * Returns: %FALSE when Redis is unreachable: no answer comes
 */
gboolean
natter_redis_calls_check (NatterRedisConnection *commands,
                          guint64 request,
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
  const char *argv[] = { "EVAL",     check_script, "3",        presence,
                         caller_out, callee_out,   caller_key, max };
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

/* Writes the hash of a call that starts ringing on @node_id; FALSE when
 * Redis is unreachable. */
gboolean
natter_redis_calls_ring (NatterRedisConnection *commands,
                         gint64 call_log_id,
                         const char *node_id,
                         const char *caller_key,
                         const char *callee_key,
                         guint ring_ms)
{
  g_autofree char *id = g_strdup_printf ("%" G_GINT64_FORMAT, call_log_id);
  g_autofree char *call = g_strconcat (CALL_PREFIX, id, NULL);
  g_autofree char *caller_out = g_strconcat (OUT_PREFIX, caller_key, NULL);
  g_autofree char *ms = g_strdup_printf ("%u", ring_ms);
  const char *argv[] = { "EVAL", ring_script, "2",        call,       caller_out,
                         id,     node_id,     caller_key, callee_key, ms };

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
