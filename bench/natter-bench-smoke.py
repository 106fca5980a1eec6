#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Smoke test of natter-bench's three commands against a real natter-server.

Starts natter-server on a free loopback port with a temporary database, runs
`natter-bench chat --clients 10 --rate 50 --duration 2 --json`, and checks
that nothing was lost or duplicated and that messages were delivered; runs
`natter-bench idle` on it without --server-pid (the bench finds the
listening process) and checks the server's RSS figures; then runs
`natter-bench calls --count 2` without --server (the bench starts this
build's natter-server itself) and checks that both calls had video both
ways and that the setup times and each side's CPU (the callee of the CPU
call is this build's natter-cli) are there; then `natter-bench calls
--link`: a malformed link is refused, and one short call over a clean
emulated link has video both ways (skipped without root); last `natter-bench
chat` with two --server URLs of the same server (two "nodes") and two
--server-pid: half the messages counted cross-node, both latency splits and
each node's CPU reported, no event id gaps; then `natter-bench chat` on a
server of its own with 20 clients on 3 client threads: two accounts of
sixteen profiles each (the saved users file has two lines), every message
delivered once, and `--threads 0` refused; last the client threads' two
loops: `--iterate all` (every connection's sources in every iteration) and
`--iterate ready --group-size 3 --pairs` (small contexts visited when ready,
fixed partners) each deliver every message once. Prints TAP.

Usage: natter-bench-smoke.py NATTER_SERVER NATTER_BENCH
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading

START_TIMEOUT_S = 30


def time_scale():
    """NATTER_TEST_TIME_SCALE (1 to 20), as the C tests read it."""
    try:
        return min(max(int(os.environ.get("NATTER_TEST_TIME_SCALE", "1")), 1), 20)
    except ValueError:
        return 1


BENCH_TIMEOUT_S = 60 * time_scale()


def read_listening_line(server):
    """The URL from the server's "listening on URL" line, or None."""
    found = {}

    def reader():
        line = server.stdout.readline()
        if line.startswith("listening on "):
            found["url"] = line[len("listening on "):].strip()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(START_TIMEOUT_S)
    return found.get("url")


def run_json(argv, number, what):
    """Runs natter-bench with --json; the parsed output, or None after a
    "not ok" line with what it printed."""
    try:
        bench = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=BENCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print("not ok %d - %s: timed out after %d s" % (number, what, BENCH_TIMEOUT_S))
        return None
    try:
        result = json.loads(bench.stdout)
        if bench.returncode == 0:
            return result
    except json.JSONDecodeError:
        pass
    print("not ok %d - %s: exit %d" % (number, what, bench.returncode))
    for line in (bench.stdout + bench.stderr).splitlines()[-20:]:
        print("# " + line)
    return None


def check_idle(bench_binary, url, server_pid):
    """Case 5: idle connections on the running server, its process found by
    the bench from the URL's port."""
    result = run_json([bench_binary, "idle", "--server", url, "--clients", "20", "--hold", "1",
                       "--json"], 5, "natter-bench idle")
    if result is None:
        return 1
    rss = result["server_rss_connected_kib"]
    if result["clients_connected"] == 20 and rss > 0:
        print("ok 5 - natter-bench idle held 20 connections; server RSS %d KiB, %.2f KiB each"
              % (rss, result["server_rss_per_connection_kib"]))
        return 0
    print("not ok 5 - idle: %d of 20 connected, server RSS %d KiB (server pid %d)"
          % (result["clients_connected"], rss, server_pid))
    return 1


def check_calls(bench_binary):
    """Cases 6 and 7: two small calls between in-process clients on a server
    the bench starts for itself."""
    result = run_json([bench_binary, "calls", "--count", "2", "--cpu-seconds", "1",
                       "--width", "320", "--height", "240", "--json"], 6, "natter-bench calls")
    if result is None:
        print("not ok 7 - natter-bench calls reports setup times")
        return 2
    failures = 0
    if result["completed"] == 2 and result["failed"] == 0:
        print("ok 6 - natter-bench calls: 2 of 2 calls had video both ways")
    else:
        print("not ok 6 - natter-bench calls: %d completed, %d failed"
              % (result["completed"], result["failed"]))
        failures += 1
    keys = ["invitation_to_ringing_median_ms", "invitation_to_ringing_worst_ms",
            "accept_to_first_video_caller_median_ms", "accept_to_first_video_caller_worst_ms",
            "accept_to_first_video_callee_median_ms", "accept_to_first_video_callee_worst_ms",
            "cpu_percent_caller", "cpu_percent_callee"]
    missing = [key for key in keys if not result.get(key, 0) > 0]
    if not missing:
        print("ok 7 - invitation to ringing %.1f ms, accept to first video %.1f / %.1f ms, "
              "CPU %.0f %% / %.0f %%"
              % (result["invitation_to_ringing_median_ms"],
                 result["accept_to_first_video_caller_median_ms"],
                 result["accept_to_first_video_callee_median_ms"],
                 result["cpu_percent_caller"], result["cpu_percent_callee"]))
    else:
        print("not ok 7 - figures missing or zero: %s" % ", ".join(missing))
        failures += 1
    return failures


def check_calls_over_link(bench_binary):
    """Cases 8 and 9: --link refuses a malformed link; a short call over a
    clean emulated link has video both ways (root only: namespaces)."""
    failures = 0
    bad = subprocess.run([bench_binary, "calls", "--link", "40,1"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=BENCH_TIMEOUT_S)
    if bad.returncode == 2 and "DELAY_MS,LOSS_PCT,KBIT" in bad.stderr:
        print("ok 8 - natter-bench calls --link 40,1 is refused: %s" % bad.stderr.strip())
    else:
        print("not ok 8 - natter-bench calls --link 40,1 exited %d: %s"
              % (bad.returncode, bad.stderr.strip()))
        failures += 1
    run = subprocess.run([bench_binary, "calls", "--link", "0,0,0", "--count", "1",
                          "--duration", "4", "--warm-up", "1", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=BENCH_TIMEOUT_S)
    if run.returncode == 77:
        print("ok 9 # SKIP natter-bench calls --link needs root (network namespaces)")
        return failures
    try:
        result = json.loads(run.stdout.strip().splitlines()[-1])
        fps = (result["caller_to_callee"]["fps"], result["callee_to_caller"]["fps"])
    except (ValueError, IndexError, KeyError, TypeError):
        result, fps = None, (0, 0)
    if result is not None and result["calls"] == 1 and min(fps) > 0:
        print("ok 9 - natter-bench calls --link 0,0,0: %.1f / %.1f fps, bottleneck drops "
              "%.1f / %.1f %%" % (fps[0], fps[1], result["caller_to_callee"]["bottleneck_dropped_pct"],
                                  result["callee_to_caller"]["bottleneck_dropped_pct"]))
    else:
        print("not ok 9 - natter-bench calls --link 0,0,0 (exit %d): %s %s"
              % (run.returncode, run.stdout.strip(), run.stderr.strip()[-500:]))
        failures += 1
    return failures


def check_chat_nodes(bench_binary, url, pid):
    """Two --server URLs (the same server twice: the bench cannot tell) spread
    the clients and split the latencies into same-node and cross-node."""
    bench = subprocess.run(
        [bench_binary, "chat", "--server", url, "--server", url + "/", "--clients", "10",
         "--rate", "50", "--duration", "1", "--drain", "5", "--server-pid", str(pid),
         "--server-pid", str(pid), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=BENCH_TIMEOUT_S)
    try:
        result = json.loads(bench.stdout)
        ok = (bench.returncode == 0 and result["nodes"] == 2 and result["sent"] == 50
              and result["cross_node_sent"] == 25 and result["same_node_sent"] == 25
              and result["lost"] == 0 and result["gaps"] == 0 and result["duplicated"] == 0
              and result["latency_cross_node_p99_ms"] > 0
              and result["latency_same_node_p99_ms"] > 0
              and result["event_ids_seen"] >= 100
              and "node_2_cpu_us_per_message" in result)
    except (ValueError, KeyError, TypeError):
        result, ok = None, False
    if ok:
        print("ok 10 - natter-bench chat over two --server URLs: 25 same-node (p99 %.2f ms), "
              "25 cross-node (p99 %.2f ms), no gaps"
              % (result["latency_same_node_p99_ms"], result["latency_cross_node_p99_ms"]))
        return 0
    print("not ok 10 - natter-bench chat over two --server URLs (exit %d): %s %s"
          % (bench.returncode, bench.stdout.strip(), bench.stderr.strip()[-500:]))
    return 1


def check_chat_threads(bench_binary, tmp):
    """Clients on three threads (7, 7 and 6 of them) on a server the bench
    starts: ⌈20/16⌉ accounts, and the counts add up across the threads."""
    users_file = os.path.join(tmp, "bench-users.txt")
    bench = subprocess.run(
        [bench_binary, "chat", "--clients", "20", "--threads", "3", "--rate", "40",
         "--duration", "1", "--drain", "5", "--save-users", users_file, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=BENCH_TIMEOUT_S)
    try:
        result = json.loads(bench.stdout)
        with open(users_file, encoding="utf-8") as f:
            accounts = len([line for line in f if line.strip()])
        ok = (bench.returncode == 0 and result["clients_connected"] == 20
              and result["sent"] == 40 and result["acked"] == 40 and result["delivered"] == 40
              and result["lost"] == 0 and result["duplicated"] == 0 and result["gaps"] == 0
              and result["unacked"] == 0 and result["misrouted"] == 0
              and result["event_ids_seen"] >= 80 and result["errors"] == {} and accounts == 2)
    except (ValueError, KeyError, TypeError, OSError):
        result, accounts, ok = None, 0, False
    if ok:
        print("ok 11 - natter-bench chat on 3 threads: 20 clients of 2 accounts, 40 sent, "
              "40 delivered, no gaps")
    else:
        print("not ok 11 - natter-bench chat --threads 3 (exit %d, %d accounts): %s %s"
              % (bench.returncode, accounts, bench.stdout.strip(), bench.stderr.strip()[-500:]))
    refused = subprocess.run([bench_binary, "chat", "--threads", "0"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=BENCH_TIMEOUT_S)
    if refused.returncode == 2:
        print("ok 12 - natter-bench chat --threads 0 is refused")
        return 0 if ok else 1
    print("not ok 12 - natter-bench chat --threads 0: exit %d" % refused.returncode)
    return 1


def check_chat_loops(bench_binary, url, pid):
    """The old loop stays selectable, and the new one holds with several
    connections per context and fixed partners."""
    failures = 0
    cases = [(13, ["--iterate", "all"], {"iterate_ready": 0, "pairs": 0}),
             (14, ["--iterate", "ready", "--group-size", "3", "--pairs"],
              {"iterate_ready": 1, "connections_per_context": 3, "pairs": 1})]
    for number, options, expected in cases:
        what = "natter-bench chat " + " ".join(options)
        result = run_json([bench_binary, "chat", "--server", url, "--clients", "10", "--threads",
                           "2", "--rate", "50", "--duration", "1", "--drain", "5",
                           "--server-pid", str(pid), "--json"] + options, number, what)
        if result is None:
            failures += 1
            continue
        ok = (result["sent"] == 50 and result["acked"] == 50 and result["delivered"] == 50
              and result["lost"] == 0 and result["duplicated"] == 0 and result["gaps"] == 0
              and result["misrouted"] == 0 and result["errors"] == {}
              and all(result[key] == value for key, value in expected.items()))
        if ok:
            print("ok %d - %s: 50 sent, 50 delivered once, p99 %.2f ms"
                  % (number, what, result["latency_p99_ms"]))
        else:
            print("not ok %d - %s: %s" % (number, what, json.dumps(result)))
            failures += 1
    return failures


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    server_binary, bench_binary = sys.argv[1], sys.argv[2]

    print("1..14")
    with tempfile.TemporaryDirectory(prefix="natter-bench-smoke-") as tmp:
        server = subprocess.Popen(
            # Every bench client comes from 127.0.0.1: lift the per-address
            # registration and connection limits of a public server.
            [server_binary, "--port", "0", "--db", os.path.join(tmp, "natter.db"),
             "--registration-burst", "1000", "--max-connections-per-address", "1000"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            url = read_listening_line(server)
            if url is None:
                print("not ok 1 - natter-server prints its listening line")
                return 1
            print("ok 1 - natter-server listens on %s" % url)

            bench = subprocess.run(
                [bench_binary, "chat", "--server", url, "--clients", "10", "--rate", "50",
                 "--duration", "2", "--drain", "5", "--server-pid", str(server.pid), "--json"],
                stdout=subprocess.PIPE, text=True, timeout=BENCH_TIMEOUT_S)
            try:
                result = json.loads(bench.stdout)
            except json.JSONDecodeError:
                print("not ok 2 - natter-bench prints JSON (exit %d)" % bench.returncode)
                for line in bench.stdout.splitlines():
                    print("# " + line)
                return 1
            print("ok 2 - natter-bench chat ran: %d connected, %d sent, exit %d"
                  % (result["clients_connected"], result["sent"], bench.returncode))

            failures = 0
            if result["lost"] == 0 and result["duplicated"] == 0 and result["gaps"] == 0:
                print("ok 3 - nothing lost or duplicated, no event id gaps")
            else:
                print("not ok 3 - lost %d, duplicated %d, gaps %d"
                      % (result["lost"], result["duplicated"], result["gaps"]))
                failures += 1
            if result["delivered"] > 0:
                print("ok 4 - %d messages delivered, p99 %.2f ms"
                      % (result["delivered"], result["latency_p99_ms"]))
            else:
                print("not ok 4 - delivered %d of %d sent; errors %s"
                      % (result["delivered"], result["sent"], result["errors"]))
                failures += 1
            failures += check_idle(bench_binary, url, server.pid)
            failures += check_calls(bench_binary)
            failures += check_calls_over_link(bench_binary)
            failures += check_chat_nodes(bench_binary, url, server.pid)
            failures += check_chat_threads(bench_binary, tmp)
            failures += check_chat_loops(bench_binary, url, server.pid)
            return 1 if failures else 0
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    sys.exit(main())
