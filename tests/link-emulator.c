/* SPDX-License-Identifier: GPL-3.0-or-later */

/* link-emulator: a network link between two network namespaces, for calls
 * over links people really have. The kernel here has no netem and no
 * iptables, so this program makes one TUN device in each namespace and
 * forwards IP packets between them itself, adding per direction:
 *
 *   - a bottleneck of --rate-kbit with a drop-tail queue of --queue-ms
 *     (packets that would wait longer are dropped and counted: the
 *     "bottleneck drops" a sender's congestion control should avoid);
 *   - seeded random loss of --loss percent (the same seed drops the same
 *     packets of the same sequence);
 *   - a fixed one-way delay of --delay-ms.
 *
 * The rate is enforced here rather than with `tc qdisc … tbf` on the TUN
 * devices so that drops are counted per direction by one program and the
 * queue length is exact; see bench/README.md for the comparison.
 *
 * Every --stats-interval-ms it prints a JSON line of counters on stdout;
 * once both devices are up and addressed it prints {"event":"ready",…}.
 * SIGTERM or SIGINT prints a last line and exits; the TUN devices go with
 * it. Needs CAP_NET_ADMIN (root). tests/link-emulator.sh sets up the
 * namespaces around it. */

#define _GNU_SOURCE /* setns, ppoll */

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PACKET 65536

typedef struct {
  gint64 deliver_at_us;
  gsize length;
  guint8 data[];
} Packet;

typedef struct {
  const char *name; /* "a_to_b" or "b_to_a" */
  int from_fd;
  int to_fd;
  GQueue queue; /* of Packet, in delivery order */
  GRand *rand;
  gint64 busy_until_us; /* when the bottleneck has sent what it holds */
  guint64 packets_in;
  guint64 bytes_in;
  guint64 packets_out;
  guint64 bytes_out;
  guint64 bottleneck_dropped;
  guint64 lost;
} Direction;

typedef struct {
  double delay_ms;
  double loss_percent;
  guint rate_kbit;
  double queue_ms;
} Link;

static int
open_tun_in (const char *netns, const char *name, const char *address, int prefix, GError **error)
{
  int own_netns = -1, target_netns = -1, fd = -1, sock = -1;
  struct ifreq request = { 0 };
  struct sockaddr_in *in = (struct sockaddr_in *) &request.ifr_addr;
  gboolean ok = FALSE;

  if (netns != NULL) {
    g_autofree char *path = g_strdup_printf ("/run/netns/%s", netns);

    own_netns = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    target_netns = open (path, O_RDONLY | O_CLOEXEC);
    if (own_netns < 0 || target_netns < 0 || setns (target_netns, CLONE_NEWNET) < 0) {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                   "Cannot enter network namespace %s: %s", netns, g_strerror (errno));
      goto out;
    }
  }

  fd = open ("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "/dev/net/tun: %s",
                 g_strerror (errno));
    goto out;
  }
  request.ifr_flags = IFF_TUN | IFF_NO_PI;
  g_strlcpy (request.ifr_name, name, IFNAMSIZ);
  if (ioctl (fd, TUNSETIFF, &request) < 0) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "TUNSETIFF %s: %s", name,
                 g_strerror (errno));
    goto out;
  }

  /* Address and link state through a socket of the namespace itself. */
  sock = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  memset (&request.ifr_ifru, 0, sizeof request.ifr_ifru);
  in->sin_family = AF_INET;
  if (sock < 0 || inet_pton (AF_INET, address, &in->sin_addr) != 1 ||
      ioctl (sock, SIOCSIFADDR, &request) < 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot give %s the address %s: %s", name,
                 address, g_strerror (errno));
    goto out;
  }
  in->sin_addr.s_addr = htonl (prefix == 0 ? 0 : 0xffffffffu << (32 - prefix));
  if (ioctl (sock, SIOCSIFNETMASK, &request) < 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot set the netmask of %s: %s", name,
                 g_strerror (errno));
    goto out;
  }
  memset (&request.ifr_ifru, 0, sizeof request.ifr_ifru);
  request.ifr_flags = IFF_UP | IFF_RUNNING;
  if (ioctl (sock, SIOCSIFFLAGS, &request) < 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot bring %s up: %s", name,
                 g_strerror (errno));
    goto out;
  }
  ok = TRUE;

out:
  if (own_netns >= 0 && setns (own_netns, CLONE_NEWNET) < 0 && ok) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot return to our namespace: %s",
                 g_strerror (errno));
    ok = FALSE;
  }
  if (sock >= 0)
    close (sock);
  if (own_netns >= 0)
    close (own_netns);
  if (target_netns >= 0)
    close (target_netns);
  if (!ok && fd >= 0) {
    close (fd);
    fd = -1;
  }
  return fd;
}

static void
on_stop_signal (int signal_number)
{
}

static gint64
now_us (void)
{
  return g_get_monotonic_time ();
}

/* One packet into the link: through the bottleneck (or dropped at its full
 * queue), then lost at random, then delayed. */
static void
admit (Direction *direction, const Link *link, const guint8 *data, gsize length, gint64 now)
{
  gint64 leaves_at = now;
  Packet *packet;

  direction->packets_in++;
  direction->bytes_in += length;

  if (link->rate_kbit > 0) {
    gint64 starts_at = MAX (now, direction->busy_until_us);

    if ((double) (starts_at - now) > link->queue_ms * 1000.0) {
      direction->bottleneck_dropped++;
      return;
    }
    direction->busy_until_us = starts_at + (gint64) length * 8 * 1000 / link->rate_kbit;
    leaves_at = direction->busy_until_us;
  }

  if (link->loss_percent > 0 && g_rand_double (direction->rand) * 100.0 < link->loss_percent) {
    direction->lost++;
    return;
  }

  packet = g_malloc (sizeof (Packet) + length);
  packet->deliver_at_us = leaves_at + (gint64) (link->delay_ms * 1000.0);
  packet->length = length;
  memcpy (packet->data, data, length);
  g_queue_push_tail (&direction->queue, packet);
}

static void
read_packets (Direction *direction, const Link *link)
{
  guint8 buffer[MAX_PACKET];

  for (;;) {
    ssize_t length = read (direction->from_fd, buffer, sizeof buffer);

    if (length <= 0)
      return; /* EAGAIN: drained */
    admit (direction, link, buffer, (gsize) length, now_us ());
  }
}

static void
deliver_due (Direction *direction, gint64 now)
{
  Packet *packet;

  while ((packet = g_queue_peek_head (&direction->queue)) != NULL && packet->deliver_at_us <= now) {
    g_queue_pop_head (&direction->queue);
    /* A write to a TUN device hands the packet to the kernel at once; if the
     * namespace refuses it, it is lost like on a real link. */
    if (write (direction->to_fd, packet->data, packet->length) == (ssize_t) packet->length) {
      direction->packets_out++;
      direction->bytes_out += packet->length;
    }
    g_free (packet);
  }
}

static void
print_direction (const Direction *direction)
{
  printf (
    "\"%s\":{\"packets_in\":%" G_GUINT64_FORMAT ",\"bytes_in\":%" G_GUINT64_FORMAT
    ",\"packets_out\":%" G_GUINT64_FORMAT ",\"bytes_out\":%" G_GUINT64_FORMAT
    ",\"bottleneck_dropped\":%" G_GUINT64_FORMAT ",\"lost\":%" G_GUINT64_FORMAT ",\"queued\":%u}",
    direction->name, direction->packets_in, direction->bytes_in, direction->packets_out,
    direction->bytes_out, direction->bottleneck_dropped, direction->lost, direction->queue.length);
}

static void
print_stats (const char *event, Direction directions[2], gint64 started_us)
{
  gint64 now = now_us ();

  /* now_us: CLOCK_MONOTONIC, the clock of natter-cli's accepted_at_us. */
  printf ("{\"event\":\"%s\",\"t_ms\":%" G_GINT64_FORMAT ",\"now_us\":%" G_GINT64_FORMAT ",", event,
          (now - started_us) / 1000, now);
  print_direction (&directions[0]);
  printf (",");
  print_direction (&directions[1]);
  printf ("}\n");
  fflush (stdout);
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *netns_a = NULL, *netns_b = NULL;
  g_autofree char *tun_a = NULL, *tun_b = NULL;
  g_autofree char *address_a = NULL, *address_b = NULL;
  Link link = { 0, 0, 0, 100 };
  int prefix = 24;
  gint64 seed = 1;
  int stats_interval_ms = 1000;
  Direction directions[2] = { { "a_to_b" }, { "b_to_a" } };
  sigset_t blocked, unblocked;
  gint64 started_us, next_stats_us;
  int status = 0;
  GOptionEntry entries[] = {
    { "netns-a", 0, 0, G_OPTION_ARG_STRING, &netns_a, "Side A's namespace (default: ours)", "NS" },
    { "netns-b", 0, 0, G_OPTION_ARG_STRING, &netns_b, "Side B's namespace (default: ours)", "NS" },
    { "tun-a", 0, 0, G_OPTION_ARG_STRING, &tun_a, "Side A's TUN device (default nlink-a)", "NAME" },
    { "tun-b", 0, 0, G_OPTION_ARG_STRING, &tun_b, "Side B's TUN device (default nlink-b)", "NAME" },
    { "address-a", 0, 0, G_OPTION_ARG_STRING, &address_a, "Side A's address (default 10.99.0.1)",
      "IPV4" },
    { "address-b", 0, 0, G_OPTION_ARG_STRING, &address_b, "Side B's address (default 10.99.0.2)",
      "IPV4" },
    { "prefix", 0, 0, G_OPTION_ARG_INT, &prefix, "Prefix length of both (default 24)", "N" },
    { "delay-ms", 0, 0, G_OPTION_ARG_DOUBLE, &link.delay_ms, "One-way delay (default 0)", "MS" },
    { "loss", 0, 0, G_OPTION_ARG_DOUBLE, &link.loss_percent, "Random loss (default 0)", "PERCENT" },
    { "rate-kbit", 0, 0, G_OPTION_ARG_INT, &link.rate_kbit,
      "Bottleneck rate each way (default 0: none)", "KBIT" },
    { "queue-ms", 0, 0, G_OPTION_ARG_DOUBLE, &link.queue_ms,
      "Bottleneck queue: the longest wait before a drop (default 100)", "MS" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed of the random loss (default 1)", "N" },
    { "stats-interval-ms", 0, 0, G_OPTION_ARG_INT, &stats_interval_ms,
      "Counters on stdout every MS (default 1000; 0: only at exit)", "MS" },
    { NULL },
  };

  context = g_option_context_new ("- a link with delay, loss and a bottleneck between two "
                                  "network namespaces");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("link-emulator: %s\n", error->message);
    return 2;
  }
  if (link.delay_ms < 0 || link.delay_ms > 10000 || link.loss_percent < 0 ||
      link.loss_percent > 100 || link.queue_ms < 0 || prefix < 1 || prefix > 30 ||
      stats_interval_ms < 0) {
    g_printerr ("link-emulator: delay 0–10000 ms, loss 0–100 %%, queue ≥ 0, prefix 1–30\n");
    return 2;
  }

  directions[0].from_fd = open_tun_in (netns_a, tun_a ? tun_a : "nlink-a",
                                       address_a ? address_a : "10.99.0.1", prefix, &error);
  if (directions[0].from_fd >= 0)
    directions[1].from_fd = open_tun_in (netns_b, tun_b ? tun_b : "nlink-b",
                                         address_b ? address_b : "10.99.0.2", prefix, &error);
  if (error != NULL) {
    g_printerr ("link-emulator: %s\n", error->message);
    return 1;
  }
  directions[0].to_fd = directions[1].from_fd;
  directions[1].to_fd = directions[0].from_fd;
  /* One stream per direction, so the loss pattern of one does not depend on
   * how much the other carried. */
  directions[0].rand = g_rand_new_with_seed ((guint32) seed);
  directions[1].rand = g_rand_new_with_seed ((guint32) seed ^ 0x9e3779b9u);

  sigemptyset (&blocked);
  sigaddset (&blocked, SIGTERM);
  sigaddset (&blocked, SIGINT);
  sigprocmask (SIG_BLOCK, &blocked, &unblocked);
  {
    /* With a handler (and only then) ppoll returns EINTR on them. */
    struct sigaction action = { 0 };

    action.sa_handler = on_stop_signal;
    sigaction (SIGTERM, &action, NULL);
    sigaction (SIGINT, &action, NULL);
  }

  started_us = now_us ();
  next_stats_us = started_us + (gint64) stats_interval_ms * 1000;
  printf ("{\"event\":\"ready\",\"rate_kbit\":%u,\"delay_ms\":%g,\"loss\":%g,\"queue_ms\":%g,"
          "\"seed\":%" G_GINT64_FORMAT "}\n",
          link.rate_kbit, link.delay_ms, link.loss_percent, link.queue_ms, seed);
  fflush (stdout);

  for (;;) {
    struct pollfd fds[2] = {
      { directions[0].from_fd, POLLIN, 0 },
      { directions[1].from_fd, POLLIN, 0 },
    };
    gint64 now = now_us ();
    gint64 wake_us = stats_interval_ms > 0 ? next_stats_us : now + G_USEC_PER_SEC;
    struct timespec timeout;
    int ready;

    for (int i = 0; i < 2; i++) {
      Packet *head = g_queue_peek_head (&directions[i].queue);

      if (head != NULL)
        wake_us = MIN (wake_us, head->deliver_at_us);
    }
    wake_us = MAX (wake_us, now);
    timeout.tv_sec = (wake_us - now) / G_USEC_PER_SEC;
    timeout.tv_nsec = ((wake_us - now) % G_USEC_PER_SEC) * 1000;

    ready = ppoll (fds, 2, &timeout, &unblocked);
    if (ready < 0 && errno == EINTR)
      break; /* SIGTERM or SIGINT */
    if (ready < 0) {
      g_printerr ("link-emulator: poll: %s\n", g_strerror (errno));
      status = 1;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i].revents & (POLLERR | POLLHUP)) {
        g_printerr ("link-emulator: a TUN device went away\n");
        status = 1;
        goto done;
      }
      if (fds[i].revents & POLLIN)
        read_packets (&directions[i], &link);
    }
    now = now_us ();
    deliver_due (&directions[0], now);
    deliver_due (&directions[1], now);
    if (stats_interval_ms > 0 && now >= next_stats_us) {
      print_stats ("stats", directions, started_us);
      next_stats_us += (gint64) stats_interval_ms * 1000;
    }
  }

done:
  print_stats ("final", directions, started_us);
  for (int i = 0; i < 2; i++) {
    g_queue_clear_full (&directions[i].queue, g_free);
    g_rand_free (directions[i].rand);
    close (directions[i].from_fd);
  }
  return status;
}
