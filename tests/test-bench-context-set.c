/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "test-bench-context-set"

/*
 * natter-bench's set of small main contexts (bench/natter-bench-context-set.c)
 * visits a member when one of its descriptors is ready, its earliest timeout
 * is due, or it was woken, and no other: a ready member is dispatched (with
 * itself thread-default) while idle members are not even prepared; timeouts
 * of idle members fire on time without the loop spinning; a hang-up, a
 * descriptor that is not open and a descriptor number reused by another
 * member are served as poll (2) would; sources attached from outside between
 * enter and leave are run; a removed member is left alone.
 */

#include <glib.h>
#include <glib-unix.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natter-bench-context-set.h"

#define N_MEMBERS 64

/* A source that counts how often its context prepares and checks it: a
 * member that is not visited does neither. */
typedef struct {
  GSource source;
  guint prepared;
  guint checked;
} CountingSource;

static gboolean
counting_prepare (GSource *source, int *timeout_ms)
{
  ((CountingSource *) source)->prepared++;
  *timeout_ms = -1;
  return FALSE;
}

static gboolean
counting_check (GSource *source)
{
  ((CountingSource *) source)->checked++;
  return FALSE;
}

static gboolean
counting_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs counting_funcs = {
  .prepare = counting_prepare,
  .check = counting_check,
  .dispatch = counting_dispatch,
};

typedef struct {
  GMainContext *context;
  int pair[2];
  GSource *readable;
  CountingSource *counting;
  guint served;
  GIOCondition last_condition;
  gint64 fired_us;
  gboolean wrong_default; /* dispatched with another thread-default context */
} Member;

typedef struct {
  GMainContext *outer;
  NatterBenchContextSet *set;
  Member members[N_MEMBERS];
  guint n_members;
} Fixture;

static gboolean
on_readable (int fd, GIOCondition condition, gpointer user_data)
{
  Member *member = user_data;
  char byte;

  member->served++;
  member->last_condition = condition;
  if (g_main_context_get_thread_default () != member->context)
    member->wrong_default = TRUE;
  /* A byte, or the end after a hang-up. */
  if (condition & G_IO_IN)
    g_assert_cmpint (read (fd, &byte, 1), >=, 0);
  /* Hung up or not a descriptor: nothing more to come, as a caller of poll
   * (2) would conclude. */
  if (condition & (G_IO_HUP | G_IO_NVAL)) {
    member->readable = NULL;
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

static void
watch_fd (Member *member, int fd)
{
  member->readable = g_unix_fd_source_new (fd, G_IO_IN);
  g_source_set_callback (member->readable, G_SOURCE_FUNC (on_readable), member, NULL);
  g_source_attach (member->readable, member->context);
  g_source_unref (member->readable);
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  fixture->outer = g_main_context_new ();
  g_main_context_push_thread_default (fixture->outer);
  fixture->set = natter_bench_context_set_new ();
  g_source_attach ((GSource *) fixture->set, fixture->outer);
  fixture->n_members = GPOINTER_TO_UINT (data);

  for (guint i = 0; i < fixture->n_members; i++) {
    Member *member = &fixture->members[i];

    member->context = g_main_context_new ();
    g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, member->pair), ==, 0);
    watch_fd (member, member->pair[0]);
    member->counting = (CountingSource *) g_source_new (&counting_funcs, sizeof (CountingSource));
    g_source_attach ((GSource *) member->counting, member->context);
    natter_bench_context_set_add (fixture->set, member->context);
  }
  /* Attaching signalled each member's wake-up descriptor: a first visit
   * acknowledges it. */
  while (g_main_context_iteration (fixture->outer, FALSE))
    ;
  for (guint i = 0; i < fixture->n_members; i++)
    fixture->members[i].counting->checked = 0;
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  g_source_destroy ((GSource *) fixture->set);
  g_source_unref ((GSource *) fixture->set);
  for (guint i = 0; i < fixture->n_members; i++) {
    Member *member = &fixture->members[i];

    g_source_destroy ((GSource *) member->counting);
    g_source_unref ((GSource *) member->counting);
    if (member->readable != NULL)
      g_source_destroy (member->readable);
    while (g_main_context_iteration (member->context, FALSE))
      ;
    g_main_context_unref (member->context);
    for (guint k = 0; k < 2; k++)
      if (member->pair[k] >= 0)
        close (member->pair[k]);
  }
  g_main_context_pop_thread_default (fixture->outer);
  while (g_main_context_iteration (fixture->outer, FALSE))
    ;
  g_main_context_unref (fixture->outer);
}

/* Iterates the outer context, blocking, until *@count reaches @wanted or 5 s
 * pass. */
static gboolean
on_deadline (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
iterate_until_count (Fixture *fixture, const guint *count, guint wanted)
{
  gboolean timed_out = FALSE;
  /* Wakes the loop if the set never does. */
  GSource *deadline = g_timeout_source_new_seconds (5);

  g_source_set_callback (deadline, on_deadline, &timed_out, NULL);
  g_source_attach (deadline, fixture->outer);
  while (*count < wanted && !timed_out)
    g_main_context_iteration (fixture->outer, TRUE);
  g_source_destroy (deadline);
  g_source_unref (deadline);
  g_assert_cmpuint (*count, ==, wanted);
}

/* Iterates the outer context without blocking until nothing is left to do.
 * GLib takes a source's descriptors out of its context while it dispatches
 * and puts them back after, which signals the context's wake-up descriptor:
 * a visit that dispatched is followed by one that only acknowledges it. A
 * loop that does not come to rest within a few iterations spins. */
static void
settle (Fixture *fixture)
{
  guint iterations = 0;

  while (g_main_context_iteration (fixture->outer, FALSE))
    g_assert_cmpuint (++iterations, <, 4);
}

static void
write_byte (int fd)
{
  char byte = 'x';

  g_assert_cmpint (write (fd, &byte, 1), ==, 1);
}

static void
test_ready_members_only (Fixture *fixture, gconstpointer data)
{
  guint prepared[N_MEMBERS];
  guint64 visits;

  /* Nothing ready: nothing dispatched, the set's source included. */
  g_assert_false (g_main_context_iteration (fixture->outer, FALSE));
  for (guint i = 0; i < fixture->n_members; i++) {
    g_assert_cmpuint (fixture->members[i].served, ==, 0);
    prepared[i] = fixture->members[i].counting->prepared;
  }

  write_byte (fixture->members[3].pair[1]);
  write_byte (fixture->members[40].pair[1]);
  visits = natter_bench_context_set_get_visits (fixture->set);
  iterate_until_count (fixture, &fixture->members[3].served, 1);
  iterate_until_count (fixture, &fixture->members[40].served, 1);

  for (guint i = 0; i < fixture->n_members; i++) {
    Member *member = &fixture->members[i];

    g_assert_false (member->wrong_default);
    if (i == 3 || i == 40) {
      g_assert_cmpuint (member->served, ==, 1);
      g_assert_cmpuint (member->last_condition, ==, G_IO_IN);
      g_assert_cmpuint (member->counting->checked, >=, 1);
    } else {
      /* Idle members are neither checked nor prepared again. */
      g_assert_cmpuint (member->served, ==, 0);
      g_assert_cmpuint (member->counting->checked, ==, 0);
      g_assert_cmpuint (member->counting->prepared, ==, prepared[i]);
    }
  }
  /* Two members, each visited once (a read also signals its context's
   * wake-up descriptor: a second visit acknowledges it). */
  g_assert_cmpuint (natter_bench_context_set_get_visits (fixture->set) - visits, <=, 4);

  /* Level-triggered: two bytes, read one at a time, are two dispatches. */
  write_byte (fixture->members[7].pair[1]);
  write_byte (fixture->members[7].pair[1]);
  iterate_until_count (fixture, &fixture->members[7].served, 2);
  settle (fixture);
  g_assert_cmpuint (fixture->members[7].served, ==, 2);
}

static gboolean
on_timeout (gpointer user_data)
{
  Member *member = user_data;

  member->fired_us = g_get_monotonic_time ();
  member->served++;
  if (g_main_context_get_thread_default () != member->context)
    member->wrong_default = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_timers_of_idle_members (Fixture *fixture, gconstpointer data)
{
  Member *early = &fixture->members[1];
  Member *late = &fixture->members[2];
  Member *entered = &fixture->members[5];
  gint64 start_us = g_get_monotonic_time ();
  guint rounds;
  guint iterations = 0;
  GSource *timeout;

  /* Attached while the members are idle and already prepared: GLib signals
   * nothing for a timeout attached from this thread, so between enter and
   * leave as the bench does for libsoup's close timeouts. */
  natter_bench_context_set_enter (fixture->set, late->context);
  timeout = g_timeout_source_new (120);
  g_source_set_callback (timeout, on_timeout, late, NULL);
  g_source_attach (timeout, g_main_context_get_thread_default ());
  g_source_unref (timeout);
  natter_bench_context_set_leave (fixture->set, late->context);

  natter_bench_context_set_enter (fixture->set, early->context);
  timeout = g_timeout_source_new (40);
  g_source_set_callback (timeout, on_timeout, early, NULL);
  g_source_attach (timeout, g_main_context_get_thread_default ());
  g_source_unref (timeout);
  natter_bench_context_set_leave (fixture->set, early->context);

  /* An idle source attached between enter and leave runs at once. */
  natter_bench_context_set_enter (fixture->set, entered->context);
  timeout = g_idle_source_new ();
  g_source_set_callback (timeout, on_timeout, entered, NULL);
  g_source_attach (timeout, g_main_context_get_thread_default ());
  g_source_unref (timeout);
  natter_bench_context_set_leave (fixture->set, entered->context);
  g_assert_true (g_main_context_iteration (fixture->outer, FALSE));
  g_assert_cmpuint (entered->served, ==, 1);
  g_assert_false (entered->wrong_default);

  rounds = natter_bench_context_set_get_rounds (fixture->set);
  {
    gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

    while (late->served == 0 && g_get_monotonic_time () < deadline) {
      g_main_context_iteration (fixture->outer, TRUE);
      iterations++;
    }
  }
  g_assert_cmpuint (early->served, ==, 1);
  g_assert_cmpuint (late->served, ==, 1);
  g_assert_false (early->wrong_default);
  g_assert_false (late->wrong_default);
  g_assert_cmpint (early->fired_us - start_us, >=, 40 * 1000);
  g_assert_cmpint (late->fired_us - start_us, >=, 120 * 1000);
  g_assert_cmpint (early->fired_us, <, late->fired_us);
  /* The outer loop slept until each was due: a round per timeout, give or
   * take a millisecond's rounding, not one per pass of a spinning loop. */
  g_test_message ("%u iterations, %u rounds", iterations,
                  natter_bench_context_set_get_rounds (fixture->set) - rounds);
  g_assert_cmpuint (iterations, <=, 6);
  for (guint i = 0; i < fixture->n_members; i++)
    if (i != 1 && i != 2 && i != 5)
      g_assert_cmpuint (fixture->members[i].counting->checked, ==, 0);
}

static void
test_hang_up (Fixture *fixture, gconstpointer data)
{
  Member *member = &fixture->members[2];

  close (member->pair[1]);
  member->pair[1] = -1;
  iterate_until_count (fixture, &member->served, 1);
  g_assert_true (member->last_condition & G_IO_HUP);
  /* Its source removed itself: nothing left to wake the loop. */
  settle (fixture);
  g_assert_cmpuint (member->served, ==, 1);
}

static void
test_not_a_descriptor (Fixture *fixture, gconstpointer data)
{
  Member *member = &fixture->members[0];
  int closed[2];

  /* A source on a number that is not open, attached from outside: poll (2)
   * answers POLLNVAL, and so does the set. */
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, closed), ==, 0);
  close (closed[0]);
  close (closed[1]);
  natter_bench_context_set_enter (fixture->set, member->context);
  g_source_destroy (member->readable);
  watch_fd (member, closed[0]);
  natter_bench_context_set_leave (fixture->set, member->context);
  iterate_until_count (fixture, &member->served, 1);
  g_assert_cmpuint (member->last_condition, ==, G_IO_NVAL);
  settle (fixture);
  g_assert_cmpuint (member->served, ==, 1);

  /* The other members are still served. */
  write_byte (fixture->members[1].pair[1]);
  iterate_until_count (fixture, &fixture->members[1].served, 1);
}

static void
test_number_reused (Fixture *fixture, gconstpointer data)
{
  Member *first = &fixture->members[0];
  Member *second = &fixture->members[1];
  int number = first->pair[0];
  int fresh[2];

  /* The first member's socket is closed and its number given to a new
   * socket the second member watches, before the set visits either: when
   * it does, the first drops the number and the second takes it, in either
   * order. */
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fresh), ==, 0);
  g_source_destroy (first->readable);
  first->readable = NULL;
  close (first->pair[0]);
  g_assert_cmpint (dup2 (fresh[0], number), ==, number);
  close (fresh[0]);
  first->pair[0] = -1;
  g_source_destroy (second->readable);
  close (second->pair[0]);
  second->pair[0] = number;
  close (second->pair[1]);
  second->pair[1] = fresh[1];
  natter_bench_context_set_enter (fixture->set, second->context);
  watch_fd (second, number);
  natter_bench_context_set_leave (fixture->set, second->context);
  write_byte (second->pair[1]);
  iterate_until_count (fixture, &second->served, 1);

  /* The first member's visits must not have taken the second's
   * registration with them. */
  natter_bench_context_set_wake (fixture->set, first->context);
  g_assert_true (g_main_context_iteration (fixture->outer, FALSE));
  write_byte (second->pair[1]);
  iterate_until_count (fixture, &second->served, 2);
  g_assert_cmpuint (first->served, ==, 0);
  /* The second is in the epoll set, not polled in every round. */
  settle (fixture);
}

static void
test_removed_member (Fixture *fixture, gconstpointer data)
{
  Member *member = &fixture->members[4];

  natter_bench_context_set_remove (fixture->set, member->context);
  write_byte (member->pair[1]);
  g_assert_false (g_main_context_iteration (fixture->outer, FALSE));
  g_assert_cmpuint (member->served, ==, 0);
  /* Released: its own iteration serves it. */
  g_main_context_push_thread_default (member->context);
  g_assert_true (g_main_context_iteration (member->context, FALSE));
  g_main_context_pop_thread_default (member->context);
  g_assert_cmpuint (member->served, ==, 1);

  /* The others are still served. */
  write_byte (fixture->members[5].pair[1]);
  iterate_until_count (fixture, &fixture->members[5].served, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/natter/bench-context-set/ready-members-only", Fixture, GUINT_TO_POINTER (N_MEMBERS),
              fixture_set_up, test_ready_members_only, fixture_tear_down);
  g_test_add ("/natter/bench-context-set/timers-of-idle-members", Fixture, GUINT_TO_POINTER (8),
              fixture_set_up, test_timers_of_idle_members, fixture_tear_down);
  g_test_add ("/natter/bench-context-set/hang-up", Fixture, GUINT_TO_POINTER (4), fixture_set_up,
              test_hang_up, fixture_tear_down);
  g_test_add ("/natter/bench-context-set/not-a-descriptor", Fixture, GUINT_TO_POINTER (2),
              fixture_set_up, test_not_a_descriptor, fixture_tear_down);
  g_test_add ("/natter/bench-context-set/number-reused", Fixture, GUINT_TO_POINTER (2),
              fixture_set_up, test_number_reused, fixture_tear_down);
  g_test_add ("/natter/bench-context-set/removed-member", Fixture, GUINT_TO_POINTER (8),
              fixture_set_up, test_removed_member, fixture_tear_down);

  return g_test_run ();
}
