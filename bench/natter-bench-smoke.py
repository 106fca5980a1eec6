#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Smoke test of natter-bench chat against a real natter-server.

Starts natter-server on a free loopback port with a temporary database, runs
`natter-bench chat --clients 10 --rate 50 --duration 2 --json`, and checks
that nothing was lost or duplicated and that messages were delivered.
Prints TAP.

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
BENCH_TIMEOUT_S = 120


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


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    server_binary, bench_binary = sys.argv[1], sys.argv[2]

    print("1..4")
    with tempfile.TemporaryDirectory(prefix="natter-bench-smoke-") as tmp:
        server = subprocess.Popen(
            [server_binary, "--port", "0", "--db", os.path.join(tmp, "natter.db")],
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
            if result["lost"] == 0 and result["duplicated"] == 0:
                print("ok 3 - nothing lost or duplicated")
            else:
                print("not ok 3 - lost %d, duplicated %d" % (result["lost"], result["duplicated"]))
                failures += 1
            if result["delivered"] > 0:
                print("ok 4 - %d messages delivered, p99 %.2f ms"
                      % (result["delivered"], result["latency_p99_ms"]))
            else:
                print("not ok 4 - delivered %d of %d sent; errors %s"
                      % (result["delivered"], result["sent"], result["errors"]))
                failures += 1
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
