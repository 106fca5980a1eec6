/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "natter-bench"

#include "config.h"

#include "natter-bench-chat.h"

#include <stdio.h>
#include <string.h>

#include "natter-bench-common.h"
#include "natter-bench-epoll.h"
#include "natter-bench-server.h"
#include "natter-protocol.h"

/* How often the pacing timer looks at the clock: at 5,000 messages/s that is
 * about ten frames per tick, and the send time is taken per frame. */
#define SEND_TICK_MS 2

/* How a record's state moves, set with atomic ORs: the ack and the error
 * come to the sender's thread, the delivery to the recipient's, and whichever
 * completes the record counts it settled, once. */
enum {
  RECORD_ACKED = 1 << 0,
  RECORD_DELIVERED = 1 << 1,
  RECORD_FAILED = 1 << 2,
  RECORD_SETTLED = 1 << 3,
};

/* One message: fixed-size, in one array indexed by the number embedded in
 * client_msg_id, so receiving a frame allocates nothing. The sender's thread
 * writes the send, ack, echo and failure fields, the recipient's thread the
 * delivery fields; the report reads them after the threads are joined. */
typedef struct {
  gint64 sent_us;
  gint64 acked_us;
  gint64 delivered_us;
  guint32 sender;
  guint32 recipient;
  guint state; /* RECORD_*, atomic */
  guint16 deliveries;
  guint16 echoes;
  guint8 acks;
  guint8 failed;
  guint8 used;       /* sent (or refused before sending) by some thread */
  guint8 cross_node; /* sender and recipient on different --server nodes */
} ChatRecord;

typedef struct _Chat Chat;

/* A client thread: its own GMainContext, SoupSession and share of the
 * connections (client i belongs to thread i mod K), so no thread polls all
 * of them. It sends from its own connections and counts what they receive;
 * the counters are summed into the Chat once the threads are joined. */
typedef struct {
  Chat *chat;
  guint id;
  GThread *thread;
  NatterBench bench;                  /* this thread's session and errors */
  GPtrArray *connections;             /* NatterBenchConnection, unowned */
  NatterBenchContextSet *context_set; /* --iterate ready */
  GPtrArray *member_contexts;         /* GMainContext: the set's members */
  GArray *senders; /* guint32: slots in chat->live of this thread's live clients */
  GRand *rand;
  guint connected;
  int sending_finished; /* atomic */

  double rate;
  guint64 n_planned;
  gint64 send_stopped_us;
  GSource *send_timer;

  guint64 n_sent;
  guint64 n_acked;
  guint64 n_delivered;
  guint64 n_duplicated;
  guint64 n_echoes;
  guint64 n_misrouted;
  guint64 n_failed;
  guint64 n_frames_in;
  guint64 n_foreign;
  gint64 last_delivery_us;
  guint64 n_visits; /* member contexts visited from go to stop */
} ChatThread;

struct _Chat {
  NatterBench bench;
  GPtrArray *users;       /* NatterBenchUser */
  GPtrArray *connections; /* NatterBenchConnection, one per client */
  GArray *live;           /* guint32: indexes of connected clients */
  GArray *records;        /* ChatRecord, sized before sending: threads never resize it */
  GPtrArray *event_ids;   /* GArray of guint64 per client: the event ids it saw */
  guint n_nodes;          /* --server URLs; client i is on node i % n_nodes */

  ChatThread *threads;
  guint n_threads;
  gint64 connect_deadline_us;
  gint64 loop_interval_us;
  /* The client threads wait with natter_bench_epoll_poll () once connected. */
  gboolean epoll;
  /* --iterate ready: each client thread runs its connections in small
   * contexts, group_size connections each, and visits only the ready ones
   * (natter-bench-context-set.c); all: in its own context, every iteration
   * over every connection. */
  gboolean iterate_ready;
  guint group_size;
  /* --pairs: each client sends to its fixed partner (live slots 2k and
   * 2k + 1), not to a random client. */
  gboolean pairs;
  GMutex mutex;
  GCond cond;
  guint n_threads_connected; /* under mutex */
  gboolean go;               /* under mutex: live, records and shares are ready */
  int stop;                  /* atomic: draining is over */
  int n_settled;             /* atomic */

  double rate;
  guint64 n_planned;
  gint64 send_start_us;
  gint64 send_end_us;
  gint64 send_stopped_us;

  /* Sums of the threads' counters, after they are joined. */
  guint64 n_sent;
  guint64 n_acked;
  guint64 n_delivered;
  guint64 n_duplicated;
  guint64 n_echoes;
  guint64 n_misrouted;
  guint64 n_failed;
  guint64 n_frames_in;
  guint64 n_foreign;
  gint64 last_delivery_us;
  guint64 n_visits;

  gint64 drain_us;
  guint64 drain_settled;
  gint64 drain_progress_us;
};

static gboolean
parse_record_index (Chat *chat, const char *id, gsize length, guint64 *out_index)
{
  guint64 index = 0;
  gsize tag_length = strlen (chat->bench.run_tag);

  if (length <= tag_length + 1 || memcmp (id, chat->bench.run_tag, tag_length) != 0 ||
      id[tag_length] != '-')
    return FALSE;

  for (gsize i = tag_length + 1; i < length; i++) {
    if (!g_ascii_isdigit (id[i]))
      return FALSE;
    index = index * 10 + (guint64) (id[i] - '0');
  }

  if (index >= chat->records->len)
    return FALSE;

  *out_index = index;
  return TRUE;
}

static ChatRecord *
find_record (ChatThread *thread, const char *data, gsize length)
{
  const char *id;
  gsize id_length;
  guint64 index;

  if (!natter_bench_scan_string (data, length, "client_msg_id", &id, &id_length) ||
      !parse_record_index (thread->chat, id, id_length, &index)) {
    thread->n_foreign++;
    return NULL;
  }

  return &g_array_index (thread->chat->records, ChatRecord, index);
}

/* The top-level "event_id" number of a frame (the first one: the server
 * writes it before the message object). */
static gboolean
scan_event_id (const char *data, gsize length, guint64 *out_event_id)
{
  static const char key[] = "\"event_id\":";
  const char *found = g_strstr_len (data, (gssize) length, key);
  const char *end = data + length;
  guint64 value = 0;
  const char *digit;

  if (found == NULL)
    return FALSE;
  digit = found + strlen (key);
  if (digit >= end || !g_ascii_isdigit (*digit))
    return FALSE;
  for (; digit < end && g_ascii_isdigit (*digit); digit++)
    value = value * 10 + (guint64) (*digit - '0');
  *out_event_id = value;
  return TRUE;
}

static void
note_event_id (Chat *chat, NatterBenchConnection *connection, const char *data, gsize length)
{
  guint64 event_id;

  if (scan_event_id (data, length, &event_id))
    g_array_append_val (g_ptr_array_index (chat->event_ids, connection->index), event_id);
}

/* Event ids of a profile increase by one per stored event, and in this load
 * each profile has one connection that is sent every event it stores (acks
 * of its messages, the messages to it): an id missing between the lowest and
 * the highest a connection saw is an event it never got. */
static guint64
count_gaps (Chat *chat, guint64 *out_seen)
{
  guint64 gaps = 0;

  *out_seen = 0;
  for (guint i = 0; i < chat->event_ids->len; i++) {
    GArray *ids = g_ptr_array_index (chat->event_ids, i);

    *out_seen += ids->len;
    natter_bench_sort (ids);
    for (guint k = 1; k < ids->len; k++) {
      guint64 before = g_array_index (ids, guint64, k - 1);
      guint64 after = g_array_index (ids, guint64, k);

      if (after > before + 1)
        gaps += after - before - 1;
    }
  }

  return gaps;
}

static guint
node_of (Chat *chat, guint32 connection_index)
{
  return connection_index % chat->n_nodes;
}

static void
mark_record (ChatThread *thread, ChatRecord *record, guint bit)
{
  guint state = g_atomic_int_or (&record->state, bit) | bit;

  if ((state & RECORD_SETTLED) == 0 &&
      ((state & (RECORD_ACKED | RECORD_DELIVERED)) == (RECORD_ACKED | RECORD_DELIVERED) ||
       (state & RECORD_FAILED) != 0) &&
      (g_atomic_int_or (&record->state, RECORD_SETTLED) & RECORD_SETTLED) == 0)
    g_atomic_int_inc (&thread->chat->n_settled);
}

static gboolean
type_is (const char *type, gsize type_length, const char *expected)
{
  return type_length == strlen (expected) && memcmp (type, expected, type_length) == 0;
}

static void
on_chat_frame (NatterBenchConnection *connection,
               const char *data,
               gsize length,
               gpointer user_data)
{
  ChatThread *thread = user_data;
  Chat *chat = thread->chat;
  gint64 now_us = g_get_monotonic_time ();
  const char *type;
  gsize type_length;
  ChatRecord *record;

  thread->n_frames_in++;
  if (!natter_bench_scan_string (data, length, "type", &type, &type_length)) {
    natter_bench_errors_add (&thread->bench.errors, "frame:unreadable");
    return;
  }

  if (type_is (type, type_length, "chat_message")) {
    record = find_record (thread, data, length);
    if (record == NULL)
      return;

    note_event_id (chat, connection, data, length);
    if (connection->index == record->recipient) {
      record->deliveries++;
      if (record->deliveries == 1) {
        record->delivered_us = now_us;
        thread->n_delivered++;
        thread->last_delivery_us = now_us;
        mark_record (thread, record, RECORD_DELIVERED);
      } else {
        thread->n_duplicated++;
      }
    } else if (connection->index == record->sender) {
      record->echoes++;
      thread->n_echoes++;
    } else {
      thread->n_misrouted++;
    }
  } else if (type_is (type, type_length, "message_ack")) {
    record = find_record (thread, data, length);
    if (record == NULL)
      return;

    note_event_id (chat, connection, data, length);
    record->acks++;
    if (record->acks == 1) {
      record->acked_us = now_us;
      thread->n_acked++;
      mark_record (thread, record, RECORD_ACKED);
    }
  } else if (type_is (type, type_length, "error")) {
    const char *code;
    gsize code_length;
    const char *ref;
    gsize ref_length;
    guint64 index;
    g_autofree char *name = NULL;

    if (natter_bench_scan_string (data, length, "code", &code, &code_length))
      name = g_strdup_printf ("frame:%.*s", (int) code_length, code);
    else
      name = g_strdup ("frame:error");
    natter_bench_errors_add (&thread->bench.errors, name);

    if (natter_bench_scan_string (data, length, "ref", &ref, &ref_length) &&
        parse_record_index (chat, ref, ref_length, &index)) {
      record = &g_array_index (chat->records, ChatRecord, index);
      if (!record->failed) {
        record->failed = TRUE;
        thread->n_failed++;
        mark_record (thread, record, RECORD_FAILED);
      }
    }
  }
  /* presence, typing, read receipts: not part of the measure. */
}

static void
send_one (ChatThread *thread, gint64 now_us)
{
  Chat *chat = thread->chat;
  char frame[320];
  guint n_live = chat->live->len;
  guint32 sender_slot =
    g_array_index (thread->senders, guint32, (guint) (thread->n_sent % thread->senders->len));
  guint32 recipient_slot;
  NatterBenchConnection *sender;
  NatterBenchConnection *recipient;
  ChatRecord *record;
  /* Threads interleave their indexes, so the records need no lock. */
  guint64 index = thread->n_sent++ * chat->n_threads + thread->id;

  /* Round robin over senders spreads the rate evenly (each stays under the
   * per-connection limit); the recipient is any other client, on any thread,
   * or with --pairs its partner: slot 2k with 2k + 1 (an odd last one with
   * the one before it), so each pair's conversation exists after its first
   * message. */
  if (chat->pairs) {
    recipient_slot = sender_slot ^ 1;
    if (recipient_slot >= n_live)
      recipient_slot = sender_slot - 1;
  } else {
    recipient_slot = (guint32) g_rand_int_range (thread->rand, 0, (gint32) n_live - 1);
    if (recipient_slot >= sender_slot)
      recipient_slot++;
  }
  /* Over several nodes, every other message goes to a client on another
   * node: half the deliveries cross nodes, half stay on one. */
  if (chat->n_nodes > 1 && !chat->pairs) {
    guint32 sender_index = g_array_index (chat->live, guint32, sender_slot);
    gboolean want_cross = index % 2 == 1;

    for (guint tries = 0; tries < 64; tries++) {
      guint32 recipient_index = g_array_index (chat->live, guint32, recipient_slot);

      if (recipient_slot != sender_slot &&
          (node_of (chat, recipient_index) != node_of (chat, sender_index)) == want_cross)
        break;
      recipient_slot = (guint32) g_rand_int_range (thread->rand, 0, (gint32) n_live);
    }
    if (recipient_slot == sender_slot)
      recipient_slot = (sender_slot + 1) % n_live;
  }
  sender = g_ptr_array_index (chat->connections, g_array_index (chat->live, guint32, sender_slot));
  recipient =
    g_ptr_array_index (chat->connections, g_array_index (chat->live, guint32, recipient_slot));

  record = &g_array_index (chat->records, ChatRecord, index);
  record->used = TRUE;
  record->sender = sender->index;
  record->recipient = recipient->index;
  record->cross_node = node_of (chat, sender->index) != node_of (chat, recipient->index);

  g_snprintf (frame, sizeof frame,
              "{\"type\":\"chat_message\",\"client_msg_id\":\"%s-%" G_GUINT64_FORMAT "\","
              "\"to_profile_id\":%" G_GINT64_FORMAT ",\"to_profile_type\":\"%s\","
              "\"text\":\"bench message %" G_GUINT64_FORMAT "\"}",
              chat->bench.run_tag, index, recipient->user->profile_id,
              recipient->user->profile_type, index);

  if (sender->closed ||
      soup_websocket_connection_get_state (sender->websocket) != SOUP_WEBSOCKET_STATE_OPEN) {
    natter_bench_errors_add (&thread->bench.errors, "send:closed");
    record->failed = TRUE;
    thread->n_failed++;
    mark_record (thread, record, RECORD_FAILED);
    return;
  }

  record->sent_us = now_us;
  natter_bench_connection_enter (sender);
  soup_websocket_connection_send_text (sender->websocket, frame);
  natter_bench_connection_leave (sender);
}

static gboolean
on_send_tick (gpointer user_data)
{
  ChatThread *thread = user_data;
  Chat *chat = thread->chat;
  gint64 now_us = g_get_monotonic_time ();
  guint64 due;

  if (now_us >= chat->send_end_us)
    due = thread->n_planned;
  else
    due = (guint64) ((double) (now_us - chat->send_start_us) * thread->rate / G_USEC_PER_SEC);
  due = MIN (due, thread->n_planned);

  while (thread->n_sent < due)
    send_one (thread, g_get_monotonic_time ());

  if (thread->n_sent >= thread->n_planned) {
    thread->send_stopped_us = g_get_monotonic_time ();
    g_clear_pointer (&thread->send_timer, g_source_unref);
    return G_SOURCE_REMOVE;
  }

  return G_SOURCE_CONTINUE;
}

static gboolean
thread_sending_done (gpointer user_data)
{
  return ((ChatThread *) user_data)->send_timer == NULL;
}

static gboolean
chat_stopped (gpointer user_data)
{
  return g_atomic_int_get (&((Chat *) user_data)->stop) != 0;
}

/* A client thread's life: connect its clients, wait for the others, send
 * its share, keep reading until the main thread ends the drain, close. */
static gpointer
chat_thread_run (gpointer user_data)
{
  ChatThread *thread = user_data;
  Chat *chat = thread->chat;
  GMainContext *context = g_main_context_new ();
  GSource *clock;
  gboolean go;

  g_main_context_push_thread_default (context);
  /* The session is made here: libsoup binds it to this thread's context. */
  thread->bench.session = soup_session_new_with_options (
    "max-conns", thread->bench.concurrency + 8, "max-conns-per-host", thread->bench.concurrency + 8,
    "timeout", 0, "idle-timeout", 0, "user-agent", "natter-bench/" PACKAGE_VERSION, NULL);
  soup_session_set_proxy_resolver (thread->bench.session, NULL);

  /* Each group of connections gets a context of its own before it
   * connects: libsoup attaches a WebSocket's sources to the thread-default
   * context, so the handshake runs there and the WebSocket stays. */
  if (chat->iterate_ready) {
    GMainContext *member = NULL;

    thread->context_set = natter_bench_context_set_new ();
    g_source_attach ((GSource *) thread->context_set, context);
    thread->member_contexts = g_ptr_array_new ();
    for (guint i = 0; i < thread->connections->len; i++) {
      NatterBenchConnection *connection = g_ptr_array_index (thread->connections, i);

      if (i % chat->group_size == 0) {
        member = g_main_context_new ();
        natter_bench_context_set_add (thread->context_set, member);
        g_ptr_array_add (thread->member_contexts, member);
      }
      connection->context = member;
      connection->context_set = thread->context_set;
    }
  }

  thread->connected =
    natter_bench_connect_all (&thread->bench, thread->connections, chat->connect_deadline_us);

  g_mutex_lock (&chat->mutex);
  chat->n_threads_connected++;
  g_cond_broadcast (&chat->cond);
  while (!chat->go && !g_atomic_int_get (&chat->stop))
    g_cond_wait (&chat->cond, &chat->mutex);
  go = chat->go;
  g_mutex_unlock (&chat->mutex);

  /* Every connection is up and none opens from here on: the socket set is
   * fixed, which natter_bench_epoll_poll () needs. */
  if (chat->epoll)
    g_main_context_set_poll_func (context, natter_bench_epoll_poll);
  clock = natter_bench_add_clock (50);
  if (thread->context_set != NULL)
    thread->n_visits = natter_bench_context_set_get_visits (thread->context_set);
  thread->send_stopped_us = chat->send_start_us;
  if (go && thread->n_planned > 0) {
    thread->send_timer = g_timeout_source_new (SEND_TICK_MS);
    g_source_set_callback (thread->send_timer, on_send_tick, thread, NULL);
    g_source_attach (thread->send_timer, context);
    natter_bench_iterate_until (thread_sending_done, thread, G_MAXINT64, chat->loop_interval_us);
  }
  g_atomic_int_set (&thread->sending_finished, 1);
  natter_bench_iterate_until (chat_stopped, chat, G_MAXINT64, chat->loop_interval_us);
  if (thread->context_set != NULL)
    thread->n_visits = natter_bench_context_set_get_visits (thread->context_set) - thread->n_visits;
  g_source_destroy (clock);
  g_source_unref (clock);

  g_main_context_set_poll_func (context, NULL);
  natter_bench_close_all (thread->connections, g_get_monotonic_time () + 5 * G_USEC_PER_SEC);
  /* Everything of this context goes before the thread does. */
  for (guint i = 0; i < thread->connections->len; i++) {
    NatterBenchConnection *connection = g_ptr_array_index (thread->connections, i);

    if (connection->websocket != NULL) {
      g_signal_handlers_disconnect_by_data (connection->websocket, connection);
      g_clear_object (&connection->websocket);
    }
  }
  g_clear_object (&thread->bench.session);
  for (guint i = 0; thread->member_contexts != NULL && i < thread->member_contexts->len; i++) {
    GMainContext *member = g_ptr_array_index (thread->member_contexts, i);

    natter_bench_context_set_remove (thread->context_set, member);
    g_main_context_push_thread_default (member);
    while (g_main_context_iteration (member, FALSE))
      ;
    g_main_context_pop_thread_default (member);
    g_main_context_unref (member);
  }
  g_clear_pointer (&thread->member_contexts, g_ptr_array_unref);
  for (guint i = 0; i < thread->connections->len; i++) {
    NatterBenchConnection *connection = g_ptr_array_index (thread->connections, i);

    connection->context = NULL;
    connection->context_set = NULL;
  }
  if (thread->context_set != NULL) {
    g_source_destroy ((GSource *) thread->context_set);
    g_source_unref ((GSource *) thread->context_set);
    thread->context_set = NULL;
  }
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  return NULL;
}

/* Draining ends when every message is settled, or when nothing settled for
 * the drain time: a slow server still gets to deliver its backlog, so what
 * is counted as lost really never came. */
static gboolean
drained (Chat *chat, guint64 n_sent)
{
  gint64 now_us = g_get_monotonic_time ();
  guint64 n_settled = (guint64) g_atomic_int_get (&chat->n_settled);

  if (n_settled >= n_sent)
    return TRUE;

  if (n_settled != chat->drain_settled) {
    chat->drain_settled = n_settled;
    chat->drain_progress_us = now_us;
  }

  return now_us - chat->drain_progress_us >= chat->drain_us;
}

/* A process whose CPU is reported per message: a node, Redis, or PostgreSQL
 * with every process it forked (one backend per connection of a node). */
typedef struct {
  char *key;
  char *label;
  GArray *pids; /* int */
  NatterBenchProcStats start;
  NatterBenchProcStats end;
} Watched;

static void
watched_free (Watched *watched)
{
  g_free (watched->key);
  g_free (watched->label);
  g_array_unref (watched->pids);
  g_free (watched);
}

static void
watched_add (GPtrArray *watched, const char *key, const char *label, int pid, gboolean children)
{
  Watched *entry = g_new0 (Watched, 1);

  entry->key = g_strdup (key);
  entry->label = g_strdup (label);
  entry->pids = g_array_new (FALSE, FALSE, sizeof (int));
  g_array_append_val (entry->pids, pid);
  if (children) {
    g_autofree char *path = g_strdup_printf ("/proc/%d/task/%d/children", pid, pid);
    g_autofree char *text = NULL;

    if (g_file_get_contents (path, &text, NULL, NULL)) {
      g_auto (GStrv) words = g_strsplit (g_strstrip (text), " ", -1);

      for (guint i = 0; words[i] != NULL; i++) {
        int child = (int) g_ascii_strtoll (words[i], NULL, 10);

        if (child > 0)
          g_array_append_val (entry->pids, child);
      }
    }
  }
  g_ptr_array_add (watched, entry);
}

static void
watched_sample (GPtrArray *watched, gboolean at_end)
{
  for (guint i = 0; i < watched->len; i++) {
    Watched *entry = g_ptr_array_index (watched, i);
    NatterBenchProcStats *sum = at_end ? &entry->end : &entry->start;

    memset (sum, 0, sizeof *sum);
    for (guint k = 0; k < entry->pids->len; k++) {
      NatterBenchProcStats one;

      if (natter_bench_read_proc (g_array_index (entry->pids, int, k), &one)) {
        sum->cpu_ticks += one.cpu_ticks;
        sum->rss_kib += one.rss_kib;
      }
    }
  }
}

static gboolean
parse_pids (char **texts, GArray *pids)
{
  for (guint i = 0; texts != NULL && texts[i] != NULL; i++) {
    guint64 pid;

    if (!g_ascii_string_to_unsigned (texts[i], 10, 1, G_MAXINT, &pid, NULL))
      return FALSE;
    g_array_append_vals (pids, &(int){ (int) pid }, 1);
  }

  return TRUE;
}

static void
chat_clear (Chat *chat)
{
  g_clear_pointer (&chat->connections, g_ptr_array_unref);
  g_clear_pointer (&chat->users, g_ptr_array_unref);
  g_clear_pointer (&chat->live, g_array_unref);
  g_clear_pointer (&chat->records, g_array_unref);
  g_clear_pointer (&chat->event_ids, g_ptr_array_unref);
  for (guint i = 0; chat->threads != NULL && i < chat->n_threads; i++) {
    ChatThread *thread = &chat->threads[i];

    g_clear_pointer (&thread->connections, g_ptr_array_unref);
    g_clear_pointer (&thread->senders, g_array_unref);
    g_clear_pointer (&thread->rand, g_rand_free);
    natter_bench_clear (&thread->bench);
  }
  g_clear_pointer (&chat->threads, g_free);
  g_mutex_clear (&chat->mutex);
  g_cond_clear (&chat->cond);
  natter_bench_clear (&chat->bench);
}

/**
 * natter_bench_chat_main:
 * @argc: the command's arguments, argv[0] naming it
 * @argv: (array length=argc): the arguments
 *
 * Returns: 0, 1 when messages were lost or duplicated, 2 on bad options
 */
int
natter_bench_chat_main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *server_url = NULL;
  g_auto (GStrv) server_urls = NULL;
  g_auto (GStrv) server_pid_texts = NULL;
  g_autoptr (GArray) server_pids = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GPtrArray) node_urls = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) watched = g_ptr_array_new_with_free_func ((GDestroyNotify) watched_free);
  g_autoptr (GArray) latencies_same = NULL;
  g_autoptr (GArray) latencies_cross = NULL;
  guint64 n_cross_sent = 0;
  guint64 n_gaps;
  guint64 n_event_ids;
  int redis_pid = 0;
  int postgres_pid = 0;
  g_autofree char *users_file = NULL;
  g_autofree char *save_users_file = NULL;
  int n_clients = 10;
  double rate = 100;
  double duration_s = 10;
  double drain_s = 5;
  double connect_timeout_s = 120;
  int server_pid = 0;
  g_auto (NatterBenchServer) local_server = { 0 };
  g_autofree char *server_cpus = NULL;
  int concurrency = 8;
  int n_threads = (int) g_get_num_processors ();
  int loop_interval_us = 1000;
  g_autofree char *poll_name = NULL;
  g_autofree char *iterate_name = NULL;
  int group_size = 0;
  gboolean pairs = FALSE;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_STRING_ARRAY, &server_urls,
      "Server URL (http://HOST:PORT; default: start this build's natter-server); repeated: "
      "nodes of one cluster, clients spread over them in turn, half the messages to a client "
      "on another node",
      "URL" },
    { "clients", 0, 0, G_OPTION_ARG_INT, &n_clients, "Connected clients (default 10)", "N" },
    { "rate", 0, 0, G_OPTION_ARG_DOUBLE, &rate, "Messages per second in total (default 100)", "R" },
    { "duration", 0, 0, G_OPTION_ARG_DOUBLE, &duration_s, "Seconds of sending (default 10)", "S" },
    { "drain", 0, 0, G_OPTION_ARG_DOUBLE, &drain_s,
      "Stop waiting for late deliveries after S seconds without any (default 5)", "S" },
    { "users", 0, 0, G_OPTION_ARG_FILENAME, &users_file,
      "Log in the users of FILE (email:password lines) instead of registering", "FILE" },
    { "save-users", 0, 0, G_OPTION_ARG_FILENAME, &save_users_file,
      "Write the registered users to FILE for --users", "FILE" },
    { "server-pid", 0, 0, G_OPTION_ARG_STRING_ARRAY, &server_pid_texts,
      "Report the server's RSS and CPU; repeated: each node's CPU, in --server order", "PID" },
    { "redis-pid", 0, 0, G_OPTION_ARG_INT, &redis_pid, "Report redis-server's CPU per message",
      "PID" },
    { "postgres-pid", 0, 0, G_OPTION_ARG_INT, &postgres_pid,
      "Report the CPU per message of PostgreSQL (this postmaster and its children)", "PID" },
    { "server-cpus", 0, 0, G_OPTION_ARG_STRING, &server_cpus,
      "Pin the server this command starts to these CPUs (taskset's list: 0 or 0,1)", "LIST" },
    { "concurrency", 0, 0, G_OPTION_ARG_INT, &concurrency,
      "Sign-ins and handshakes in flight (default 8)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &n_threads,
      "Client threads, each with its own main context, HTTP session and share of the "
      "connections (default: the number of cores)",
      "K" },
    { "connect-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &connect_timeout_s,
      "Seconds allowed for connecting every client (default 120)", "S" },
    { "loop-interval", 0, 0, G_OPTION_ARG_INT, &loop_interval_us,
      "Start main loop iterations at most every US microseconds while sending, so each reads "
      "many sockets (default 1000; 0: as often as frames come)",
      "US" },
    { "poll", 0, 0, G_OPTION_ARG_STRING, &poll_name,
      "How the client threads wait for their sockets once connected: epoll (default) or poll "
      "(GLib's own, poll (2) over every socket in each iteration)",
      "epoll|poll" },
    { "iterate", 0, 0, G_OPTION_ARG_STRING, &iterate_name,
      "What a client thread's main-loop iteration visits: ready (default: each connection, or "
      "--group-size of them, in a main context of its own; only the contexts epoll reports "
      "ready or with a timeout due) or all (one context per thread, every connection's sources "
      "in every iteration)",
      "ready|all" },
    { "group-size", 0, 0, G_OPTION_ARG_INT, &group_size,
      "With --iterate ready, connections per context (default: 1, more when the open file "
      "limit cannot hold a wake-up descriptor per connection)",
      "N" },
    { "pairs", 0, 0, G_OPTION_ARG_NONE, &pairs,
      "Each client sends to a fixed partner (default: to a random client each message)", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the results as JSON", NULL },
    { NULL },
  };
  Chat chat = { 0 };
  NatterBenchReport report;
  NatterBenchProcStats server_start = { 0 };
  NatterBenchProcStats server_sending = { 0 };
  NatterBenchProcStats server_end = { 0 };
  gboolean have_server = FALSE;
  g_autoptr (GArray) latencies = NULL;
  g_autoptr (GArray) ack_latencies = NULL;
  g_autoptr (GArray) handshakes = NULL;
  gint64 sign_in_start_us;
  gint64 sign_in_us;
  gint64 connect_start_us;
  gint64 connect_us;
  gint64 self_cpu_start_us;
  gint64 self_cpu_us;
  gint64 measure_end_us;
  gint64 send_window_us;
  gint64 delivery_window_us;
  guint64 n_lost = 0;
  guint64 n_unacked = 0;
  guint64 max_planned = 0;
  guint connected;
  guint n_accounts;
  guint64 fd_limit;
  int status;

  context = g_option_context_new ("- chat load: N clients sending at R messages/s");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (
    context, "Registers (or logs in) N users, connects one WebSocket each, and has them send\n"
             "chat messages to random other clients at R messages/s in total. Prints delivery\n"
             "rate, send-to-delivery latency, loss, duplicates and errors by code.");
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("natter-bench chat: %s\n", error->message);
    return 2;
  }

  if (!parse_pids (server_pid_texts, server_pids) || redis_pid < 0 || postgres_pid < 0) {
    g_printerr ("natter-bench chat: --server-pid, --redis-pid and --postgres-pid take a "
                "process id\n");
    return 2;
  }
  if (server_pids->len > 0)
    server_pid = g_array_index (server_pids, int, 0);
  if (server_urls != NULL && server_urls[0] != NULL)
    server_url = g_strdup (server_urls[0]);

  n_accounts = (guint) MAX (n_clients, 0);
  if (n_clients < 2 || rate <= 0 || duration_s <= 0 || drain_s < 0 || concurrency < 1 ||
      loop_interval_us < 0 || n_threads < 1) {
    g_printerr ("natter-bench chat: needs --clients ≥ 2, --rate > 0, --duration > 0\n");
    return 2;
  }
  if (poll_name != NULL && g_strcmp0 (poll_name, "epoll") != 0 &&
      g_strcmp0 (poll_name, "poll") != 0) {
    g_printerr ("natter-bench chat: --poll is epoll or poll, not %s\n", poll_name);
    return 2;
  }
  if (iterate_name != NULL && g_strcmp0 (iterate_name, "ready") != 0 &&
      g_strcmp0 (iterate_name, "all") != 0) {
    g_printerr ("natter-bench chat: --iterate is ready or all, not %s\n", iterate_name);
    return 2;
  }
  if (group_size < 0) {
    g_printerr ("natter-bench chat: --group-size is at least 1\n");
    return 2;
  }

  /* Before a server of our own starts, so that it inherits the limit: one
   * descriptor per client, on both sides. */
  fd_limit = natter_bench_raise_fd_limit ();
  if (fd_limit < (guint64) n_clients + 64) {
    g_printerr ("natter-bench chat: the open file limit is too low for %d clients"
                " (raise the hard limit: ulimit -Hn)\n",
                n_clients);
    return 2;
  }
  /* A context holds a wake-up eventfd: one per connection when the limit
   * has room for them beside the sockets, else shared by a few. */
  if (group_size == 0) {
    guint64 spare = fd_limit - (guint64) n_clients - 64;

    group_size =
      spare >= (guint64) n_clients ? 1 : (int) ((n_clients + spare - 1) / MAX (spare, 1));
  }
  if (server_cpus != NULL && !natter_bench_server_set_cpus (server_cpus, &error)) {
    g_printerr ("natter-bench chat: %s\n", error->message);
    return 2;
  }
  if (!natter_bench_server_start_unless_given (&local_server, &server_url, &server_pid, &error)) {
    g_printerr ("natter-bench chat: %s\n", error->message);
    return 2;
  }
  if (!natter_bench_init (&chat.bench, server_url, server_pid, (guint) concurrency, &error)) {
    g_printerr ("natter-bench chat: %s\n", error->message);
    return 2;
  }
  /* Accounts are made on the first node (the nodes share one store); the
   * WebSockets go to every node in turn. */
  g_ptr_array_add (node_urls, g_strdup (chat.bench.base_url));
  for (guint i = 1; server_urls != NULL && server_urls[i] != NULL; i++) {
    g_autoptr (GUri) uri = g_uri_parse (server_urls[i], G_URI_FLAGS_NONE, NULL);
    char *url = g_strdup (server_urls[i]);

    if (uri == NULL || (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 &&
                        g_strcmp0 (g_uri_get_scheme (uri), "https") != 0)) {
      g_printerr ("natter-bench chat: --server: %s is not an http:// or https:// URL\n",
                  server_urls[i]);
      g_free (url);
      chat_clear (&chat);
      return 2;
    }
    while (g_str_has_suffix (url, "/"))
      url[strlen (url) - 1] = '\0';
    g_ptr_array_add (node_urls, url);
  }
  chat.n_nodes = node_urls->len;
  if (server_pids->len > 1)
    for (guint i = 0; i < server_pids->len; i++) {
      g_autofree char *key = g_strdup_printf ("node_%u", i + 1);
      g_autofree char *label = g_strdup_printf ("node %u", i + 1);

      watched_add (watched, key, label, g_array_index (server_pids, int, i), FALSE);
    }

  if (local_server.process == NULL && rate / n_clients > NATTER_CHAT_RATE_PER_S)
    g_printerr ("natter-bench chat: %.1f messages/s per client is over the server's default "
                "limit of %d/s; expect rate_limited errors\n",
                rate / n_clients, NATTER_CHAT_RATE_PER_S);

  /* Sign in. */
  if (users_file != NULL) {
    chat.users = natter_bench_load_users (users_file, &error);
    if (chat.users == NULL) {
      g_printerr ("natter-bench chat: %s\n", error->message);
      chat_clear (&chat);
      return 2;
    }
    /* Each account may hold several profiles, one client each. */
    if (chat.users->len > (guint) n_clients)
      g_ptr_array_set_size (chat.users, n_clients);
  } else {
    chat.users = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_bench_user_free);
  }
  /* A server of our own offers sixteen profile types: one registration (one
   * argon2id hash, at full cost in a release build whatever
   * NATTER_TEST_INSECURE_PASSWORD_HASH says) for sixteen clients. */
  if (local_server.process != NULL) {
    chat.bench.profile_types = g_strsplit (NATTER_BENCH_SERVER_PROFILE_TYPES, ",", -1);
    n_accounts = (n_clients + g_strv_length (chat.bench.profile_types) - 1) /
                 g_strv_length (chat.bench.profile_types);
  }

  sign_in_start_us = g_get_monotonic_time ();
  natter_bench_sign_in (&chat.bench, chat.users, n_accounts);
  sign_in_us = g_get_monotonic_time () - sign_in_start_us;
  if (chat.users->len > (guint) n_clients)
    g_ptr_array_set_size (chat.users, n_clients);
  if (users_file != NULL && chat.users->len < (guint) n_clients &&
      natter_bench_errors_total (&chat.bench.errors) == 0) {
    g_printerr ("natter-bench chat: %s has %u profiles, --clients needs %d (one profile each)\n",
                users_file, chat.users->len, n_clients);
    chat_clear (&chat);
    return 2;
  }
  if (save_users_file != NULL && !natter_bench_save_users (save_users_file, chat.users, &error)) {
    g_printerr ("natter-bench chat: %s\n", error->message);
    g_clear_error (&error);
  }

  /* Connect, one WebSocket per user, each on client thread i mod K. */
  g_mutex_init (&chat.mutex);
  g_cond_init (&chat.cond);
  chat.n_threads = MIN ((guint) n_threads, MAX (chat.users->len, 1));
  chat.threads = g_new0 (ChatThread, chat.n_threads);
  chat.loop_interval_us = loop_interval_us;
  chat.epoll = g_strcmp0 (poll_name, "poll") != 0;
  chat.iterate_ready = g_strcmp0 (iterate_name, "all") != 0;
  chat.group_size = (guint) group_size;
  chat.pairs = pairs;
  for (guint t = 0; t < chat.n_threads; t++) {
    ChatThread *thread = &chat.threads[t];

    thread->chat = &chat;
    thread->id = t;
    thread->connections = g_ptr_array_new ();
    thread->senders = g_array_new (FALSE, FALSE, sizeof (guint32));
    thread->rand = g_rand_new ();
    /* The session is made by the thread itself. */
    thread->bench.base_url = g_strdup (chat.bench.base_url);
    thread->bench.concurrency = chat.bench.concurrency;
    natter_bench_errors_init (&thread->bench.errors);
    memcpy (thread->bench.run_tag, chat.bench.run_tag, sizeof thread->bench.run_tag);
  }
  chat.connections = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_bench_connection_free);
  for (guint i = 0; i < chat.users->len; i++) {
    NatterBenchConnection *connection = g_new0 (NatterBenchConnection, 1);
    ChatThread *thread = &chat.threads[i % chat.n_threads];

    connection->index = i;
    connection->user = g_ptr_array_index (chat.users, i);
    connection->base_url = g_ptr_array_index (node_urls, i % chat.n_nodes);
    connection->on_frame = on_chat_frame;
    connection->user_data = thread;
    g_ptr_array_add (chat.connections, connection);
    g_ptr_array_add (thread->connections, connection);
  }
  chat.event_ids = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  for (guint i = 0; i < chat.connections->len; i++)
    g_ptr_array_add (chat.event_ids, g_array_new (FALSE, FALSE, sizeof (guint64)));

  have_server = natter_bench_read_proc (server_pid, &server_start);
  connect_start_us = g_get_monotonic_time ();
  chat.connect_deadline_us = connect_start_us + (gint64) (connect_timeout_s * G_USEC_PER_SEC);
  for (guint t = 0; t < chat.n_threads; t++)
    chat.threads[t].thread = g_thread_new ("bench-client", chat_thread_run, &chat.threads[t]);
  g_mutex_lock (&chat.mutex);
  while (chat.n_threads_connected < chat.n_threads)
    g_cond_wait (&chat.cond, &chat.mutex);
  g_mutex_unlock (&chat.mutex);
  connect_us = g_get_monotonic_time () - connect_start_us;

  connected = 0;
  chat.live = g_array_new (FALSE, FALSE, sizeof (guint32));
  handshakes = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (guint i = 0; i < chat.connections->len; i++) {
    NatterBenchConnection *connection = g_ptr_array_index (chat.connections, i);

    if (connection->hello_us != 0 && !connection->failed) {
      gint64 handshake_us = connection->hello_us - connection->started_us;
      guint32 slot = chat.live->len;

      g_array_append_val (chat.live, i);
      g_array_append_val (handshakes, handshake_us);
      g_array_append_val (chat.threads[i % chat.n_threads].senders, slot);
    }
  }
  for (guint t = 0; t < chat.n_threads; t++) {
    connected += chat.threads[t].connected;
    natter_bench_errors_merge (&chat.bench.errors, &chat.threads[t].bench.errors);
    g_hash_table_remove_all (chat.threads[t].bench.errors.counts);
  }
  natter_bench_sort (handshakes);

  /* Each thread sends its clients' share of the messages, paced by the
   * clock; the record indexes interleave (thread t writes t, t + K, …). */
  chat.rate = rate;
  chat.n_planned = connected >= 2 ? (guint64) (rate * duration_s + 0.5) : 0;
  for (guint t = 0, before = 0; t < chat.n_threads && chat.n_planned > 0; t++) {
    ChatThread *thread = &chat.threads[t];
    guint64 start = chat.n_planned * before / chat.live->len;

    before += thread->senders->len;
    thread->n_planned = chat.n_planned * before / chat.live->len - start;
    thread->rate = rate * thread->senders->len / chat.live->len;
    max_planned = MAX (max_planned, thread->n_planned);
  }
  chat.records =
    g_array_sized_new (FALSE, TRUE, sizeof (ChatRecord), (guint) (max_planned * chat.n_threads));
  g_array_set_size (chat.records, (guint) (max_planned * chat.n_threads));
  /* After connecting: PostgreSQL's backends for the nodes exist by now. */
  if (redis_pid > 0)
    watched_add (watched, "redis", "redis-server", redis_pid, FALSE);
  if (postgres_pid > 0)
    watched_add (watched, "postgres", "PostgreSQL", postgres_pid, TRUE);

  self_cpu_start_us = natter_bench_self_cpu_us ();
  natter_bench_read_proc (server_pid, &server_sending);
  watched_sample (watched, FALSE);
  chat.send_start_us = g_get_monotonic_time ();
  chat.send_end_us = chat.send_start_us + (gint64) (duration_s * G_USEC_PER_SEC);
  g_mutex_lock (&chat.mutex);
  chat.go = TRUE;
  g_cond_broadcast (&chat.cond);
  g_mutex_unlock (&chat.mutex);

  /* The main thread only watches: every thread done sending, then the
   * drain over the settled count the threads keep together. */
  for (guint t = 0; t < chat.n_threads; t++)
    while (!g_atomic_int_get (&chat.threads[t].sending_finished))
      g_usleep (2000);
  chat.send_stopped_us = chat.send_start_us;
  for (guint t = 0; t < chat.n_threads; t++) {
    chat.n_sent += chat.threads[t].n_sent;
    chat.send_stopped_us = MAX (chat.send_stopped_us, chat.threads[t].send_stopped_us);
  }
  chat.drain_us = (gint64) (drain_s * G_USEC_PER_SEC);
  chat.drain_settled = (guint64) g_atomic_int_get (&chat.n_settled);
  chat.drain_progress_us = g_get_monotonic_time ();
  while (!drained (&chat, chat.n_sent))
    g_usleep (2000);
  self_cpu_us = natter_bench_self_cpu_us () - self_cpu_start_us;
  natter_bench_read_proc (server_pid, &server_end);
  watched_sample (watched, TRUE);
  measure_end_us = g_get_monotonic_time ();

  /* The threads close their connections and end; their counters are then
   * theirs no more and add up here. */
  g_atomic_int_set (&chat.stop, 1);
  for (guint t = 0; t < chat.n_threads; t++) {
    ChatThread *thread = &chat.threads[t];

    g_thread_join (thread->thread);
    chat.n_acked += thread->n_acked;
    chat.n_delivered += thread->n_delivered;
    chat.n_duplicated += thread->n_duplicated;
    chat.n_echoes += thread->n_echoes;
    chat.n_misrouted += thread->n_misrouted;
    chat.n_failed += thread->n_failed;
    chat.n_frames_in += thread->n_frames_in;
    chat.n_foreign += thread->n_foreign;
    chat.n_visits += thread->n_visits;
    chat.last_delivery_us = MAX (chat.last_delivery_us, thread->last_delivery_us);
    natter_bench_errors_merge (&chat.bench.errors, &thread->bench.errors);
  }

  send_window_us = chat.send_stopped_us - chat.send_start_us;
  delivery_window_us = chat.last_delivery_us > 0 ? chat.last_delivery_us - chat.send_start_us : 0;

  /* Loss and latency, from the records. */
  latencies = g_array_sized_new (FALSE, FALSE, sizeof (gint64), (guint) chat.n_delivered + 1);
  ack_latencies = g_array_sized_new (FALSE, FALSE, sizeof (gint64), (guint) chat.n_acked + 1);
  latencies_same = g_array_new (FALSE, FALSE, sizeof (gint64));
  latencies_cross = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (guint i = 0; i < chat.records->len; i++) {
    ChatRecord *record = &g_array_index (chat.records, ChatRecord, i);

    if (!record->used)
      continue;
    if (record->deliveries > 0) {
      gint64 latency_us = record->delivered_us - record->sent_us;

      g_array_append_val (latencies, latency_us);
      g_array_append_val (record->cross_node ? latencies_cross : latencies_same, latency_us);
    }
    if (record->cross_node)
      n_cross_sent++;
    if (record->acks > 0) {
      gint64 latency_us = record->acked_us - record->sent_us;

      g_array_append_val (ack_latencies, latency_us);
      if (record->deliveries == 0)
        n_lost++;
    } else if (!record->failed) {
      n_unacked++;
    }
  }
  natter_bench_sort (latencies);
  natter_bench_sort (ack_latencies);
  natter_bench_sort (latencies_same);
  natter_bench_sort (latencies_cross);
  n_gaps = count_gaps (&chat, &n_event_ids);

  natter_bench_report_init (&report, "chat");
  natter_bench_report_section (&report, "setup");
  natter_bench_report_int (&report, "clients", "clients requested", n_clients);
  natter_bench_report_int (&report, "clients_connected", "clients connected", connected);
  natter_bench_report_double (&report, "sign_in_s",
                              users_file != NULL ? "log in time" : "registration time", "s",
                              sign_in_us / 1e6);
  natter_bench_report_double (&report, "connect_s", "connect time (all clients)", "s",
                              connect_us / 1e6);
  natter_bench_report_double (&report, "connects_per_s", "connections per second", "/s",
                              connect_us > 0 ? connected * 1e6 / connect_us : 0);
  natter_bench_report_double (&report, "connect_p50_ms", "connect p50 (handshake + hello)", "ms",
                              natter_bench_percentile_ms (handshakes, 50));
  natter_bench_report_double (&report, "connect_p99_ms", "connect p99", "ms",
                              natter_bench_percentile_ms (handshakes, 99));

  natter_bench_report_section (&report, "messages");
  natter_bench_report_double (&report, "rate_target", "target rate", "msg/s", rate);
  natter_bench_report_double (&report, "duration_s", "sending time", "s", send_window_us / 1e6);
  natter_bench_report_int (&report, "loop_interval_us", "bench loop interval (us)",
                           loop_interval_us);
  natter_bench_report_int (&report, "epoll", "client threads wait with epoll (1) or poll (0)",
                           chat.epoll ? 1 : 0);
  natter_bench_report_int (&report, "iterate_ready",
                           "client threads visit ready contexts (1) or all connections (0)",
                           chat.iterate_ready ? 1 : 0);
  natter_bench_report_int (&report, "connections_per_context", "connections per context",
                           chat.iterate_ready
                             ? chat.group_size
                             : (chat.connections->len + chat.n_threads - 1) / chat.n_threads);
  natter_bench_report_double (&report, "context_visits_per_message",
                              "contexts visited per message (--iterate ready)", "",
                              (double) chat.n_visits / MAX (chat.n_delivered, 1));
  natter_bench_report_int (&report, "pairs", "fixed partners (1) or random recipients (0)",
                           chat.pairs ? 1 : 0);
  natter_bench_report_int (&report, "sent", "sent", (gint64) chat.n_sent);
  natter_bench_report_double (&report, "sent_per_s", "sent per second", "msg/s",
                              send_window_us > 0 ? chat.n_sent * 1e6 / send_window_us : 0);
  natter_bench_report_int (&report, "acked", "acked", (gint64) chat.n_acked);
  natter_bench_report_int (&report, "delivered", "delivered", (gint64) chat.n_delivered);
  natter_bench_report_double (&report, "delivered_per_s", "delivered per second", "msg/s",
                              delivery_window_us > 0 ? chat.n_delivered * 1e6 / delivery_window_us
                                                     : 0);
  natter_bench_report_int (&report, "lost", "lost (acked, never delivered)", (gint64) n_lost);
  natter_bench_report_int (&report, "duplicated", "duplicated", (gint64) chat.n_duplicated);
  natter_bench_report_int (&report, "unacked", "unacked (no ack, no error)", (gint64) n_unacked);
  natter_bench_report_int (&report, "failed", "refused (error frame)", (gint64) chat.n_failed);
  natter_bench_report_int (&report, "misrouted", "misrouted", (gint64) chat.n_misrouted);
  natter_bench_report_int (&report, "gaps", "event ids missing (gaps)", (gint64) n_gaps);
  natter_bench_report_int (&report, "event_ids_seen", "event ids seen (acks, deliveries)",
                           (gint64) n_event_ids);
  natter_bench_report_int (&report, "echoes", "copies to the sender", (gint64) chat.n_echoes);

  natter_bench_report_section (&report, "latency (send to recipient's chat_message)");
  natter_bench_report_double (&report, "latency_p50_ms", "p50", "ms",
                              natter_bench_percentile_ms (latencies, 50));
  natter_bench_report_double (&report, "latency_p95_ms", "p95", "ms",
                              natter_bench_percentile_ms (latencies, 95));
  natter_bench_report_double (&report, "latency_p99_ms", "p99", "ms",
                              natter_bench_percentile_ms (latencies, 99));
  natter_bench_report_double (&report, "latency_max_ms", "max", "ms",
                              natter_bench_percentile_ms (latencies, 100));
  natter_bench_report_double (&report, "ack_p50_ms", "ack p50 (send to message_ack)", "ms",
                              natter_bench_percentile_ms (ack_latencies, 50));
  natter_bench_report_double (&report, "ack_p99_ms", "ack p99", "ms",
                              natter_bench_percentile_ms (ack_latencies, 99));

  if (chat.n_nodes > 1) {
    natter_bench_report_section (&report, "nodes (client i on node i mod N)");
    natter_bench_report_int (&report, "nodes", "nodes", chat.n_nodes);
    natter_bench_report_int (&report, "cross_node_sent", "sent to a client on another node",
                             (gint64) n_cross_sent);
    natter_bench_report_int (&report, "same_node_sent", "sent to a client on the same node",
                             (gint64) (chat.n_sent - n_cross_sent));
    natter_bench_report_double (&report, "latency_same_node_p50_ms", "same-node p50", "ms",
                                natter_bench_percentile_ms (latencies_same, 50));
    natter_bench_report_double (&report, "latency_same_node_p99_ms", "same-node p99", "ms",
                                natter_bench_percentile_ms (latencies_same, 99));
    natter_bench_report_double (&report, "latency_cross_node_p50_ms", "cross-node p50", "ms",
                                natter_bench_percentile_ms (latencies_cross, 50));
    natter_bench_report_double (&report, "latency_cross_node_p99_ms", "cross-node p99", "ms",
                                natter_bench_percentile_ms (latencies_cross, 99));
  }

  natter_bench_report_section (&report, "processes (while sending and draining)");
  /* CPU per delivered message does not depend on what else the machine
   * runs: it gives the capacity of a free core when the figures above are
   * bent by other load. */
  natter_bench_report_double (&report, "bench_cpu_percent", "bench CPU", "% of a core",
                              100.0 * self_cpu_us / MAX (measure_end_us - chat.send_start_us, 1));
  natter_bench_report_double (&report, "bench_cpu_us_per_message", "bench CPU per message", "us",
                              (double) self_cpu_us / MAX (chat.n_delivered, 1));
  if (have_server) {
    natter_bench_report_double (
      &report, "server_cpu_percent", "server CPU", "% of a core",
      natter_bench_cpu_percent (&server_sending, &server_end, measure_end_us - chat.send_start_us));
    natter_bench_report_double (
      &report, "server_cpu_us_per_message", "server CPU per message", "us",
      (double) natter_bench_cpu_us (&server_sending, &server_end) / MAX (chat.n_delivered, 1));
    natter_bench_report_int (&report, "server_rss_start_kib", "server RSS before connecting (KiB)",
                             (gint64) server_start.rss_kib);
    natter_bench_report_int (&report, "server_rss_end_kib", "server RSS at the end (KiB)",
                             (gint64) server_end.rss_kib);
    natter_bench_report_int (&report, "server_rss_peak_kib", "server RSS peak (KiB)",
                             (gint64) server_end.hwm_kib);
  }
  for (guint i = 0; i < watched->len; i++) {
    Watched *entry = g_ptr_array_index (watched, i);
    g_autofree char *percent_key = g_strdup_printf ("%s_cpu_percent", entry->key);
    g_autofree char *percent_label = g_strdup_printf ("%s CPU", entry->label);
    g_autofree char *message_key = g_strdup_printf ("%s_cpu_us_per_message", entry->key);
    g_autofree char *message_label = g_strdup_printf ("%s CPU per message", entry->label);

    natter_bench_report_double (
      &report, percent_key, percent_label, "% of a core",
      natter_bench_cpu_percent (&entry->start, &entry->end, measure_end_us - chat.send_start_us));
    natter_bench_report_double (&report, message_key, message_label, "us",
                                (double) natter_bench_cpu_us (&entry->start, &entry->end) /
                                  MAX (chat.n_delivered, 1));
  }
  natter_bench_report_int (&report, "frames_received", "frames received",
                           (gint64) chat.n_frames_in);
  natter_bench_report_errors (&report, &chat.bench.errors);
  natter_bench_report_print (&report, json);

  /* Loss and duplicates are bugs, not slowness: they fail the run. */
  status = n_lost > 0 || chat.n_duplicated > 0 || n_gaps > 0 ? 1 : 0;
  chat_clear (&chat);

  return status;
}
