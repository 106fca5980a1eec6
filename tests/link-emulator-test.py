#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The link emulator on its own, with UDP between its two namespaces.

  /natter/link-emulator/delay: an echo across a 30 ms link takes 60 ms
      there and back (at least, and not much more).
  /natter/link-emulator/seeded-loss: 10 % loss drops about 10 % of 600
      packets, and the same seed drops exactly the same number again.
  /natter/link-emulator/bottleneck: 2 Mbit/s offered to a 500 kbit/s link
      comes out at about 500 kbit/s; the rest is counted as bottleneck drops.
  /natter/link-emulator/no-other-path: namespace A cannot reach B's veth
      address, so media can only cross the emulated link.

Prints TAP; skipped without root (network namespaces and TUN devices).

Usage: link-emulator-test.py LINK_EMULATOR_SH
"""

import json
import os
import socket
import subprocess
import sys
import time

PORT = 9000


def udp_echo(count):
    """In namespace B: echoes 'e' packets, counts the others; prints the count."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((os.environ["NATTER_LINK_ADDRESS_B"], PORT))
    sock.settimeout(3)
    received = 0
    print("ready", flush=True)
    try:
        while True:
            data, peer = sock.recvfrom(2048)
            if data[:1] == b"e":
                sock.sendto(data, peer)
            else:
                received += 1
                if data[:1] == b"q":
                    break
    except socket.timeout:
        pass
    print(received, flush=True)


def in_b(mode, *extra):
    return subprocess.Popen(
        ["ip", "netns", "exec", os.environ["NATTER_LINK_NETNS_B"], sys.executable,
         os.path.abspath(__file__), "--" + mode] + list(extra),
        stdout=subprocess.PIPE, text=True)


def in_a(mode, *extra):
    done = subprocess.run(
        ["ip", "netns", "exec", os.environ["NATTER_LINK_NETNS_A"], sys.executable,
         os.path.abspath(__file__), "--" + mode] + list(extra),
        stdout=subprocess.PIPE, text=True, timeout=60)
    return done.stdout.strip()


def send_echoes():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1)
    rtts = []
    for i in range(10):
        start = time.monotonic()
        sock.sendto(b"e%d" % i, (os.environ["NATTER_LINK_ADDRESS_B"], PORT))
        try:
            sock.recvfrom(2048)
            rtts.append((time.monotonic() - start) * 1000)
        except socket.timeout:
            pass
    print(json.dumps(rtts))


def send_flood(kbit, count, size):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    interval = int(size) * 8 / (float(kbit) * 1000)
    start = time.monotonic()
    sent = 0
    while sent < int(count):
        sock.sendto(b"f" * int(size), (os.environ["NATTER_LINK_ADDRESS_B"], PORT))
        sent += 1
        delay = start + sent * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(0.3)
    sock.sendto(b"q", (os.environ["NATTER_LINK_ADDRESS_B"], PORT))
    print(sent)


def last_counters():
    with open(os.environ["NATTER_LINK_STATS"]) as stream:
        lines = [json.loads(line) for line in stream if line.startswith("{")]
    return lines[-1]


def flood_through(kbit, count, size):
    """@count packets of @size bytes at @kbit from A to B."""
    receiver = in_b("receive")
    assert receiver.stdout.readline().strip() == "ready"
    sent = int(in_a("flood", str(kbit), str(count), str(size)))
    received = int(receiver.stdout.readline().strip() or "0")
    receiver.wait(timeout=10)
    time.sleep(0.6)  # the emulator's next counters line
    return sent, received, last_counters()


def inside(case):
    """One case under link-emulator.sh; prints a JSON verdict."""
    if case == "delay":
        receiver = in_b("receive")
        assert receiver.stdout.readline().strip() == "ready"
        rtts = json.loads(in_a("echoes"))
        receiver.terminate()
        ok = len(rtts) >= 8 and min(rtts) >= 60 and sorted(rtts)[len(rtts) // 2] < 60 + 40
        return ok, "round trips (ms): %s" % ", ".join("%.1f" % r for r in rtts)
    if case == "loss":
        # 400 packets, 2.1 s; judged by what arrived (the counters would
        # also count any packet of the kernel's own).
        sent, received, counters = flood_through(300, 400, 200)
        lost = sent - received
        ok = 0.05 * sent <= lost <= 0.15 * sent and counters["a_to_b"]["lost"] >= lost
        return ok, json.dumps({"sent": sent, "received": received, "lost": lost})
    if case == "bottleneck":
        sent, received, counters = flood_through(2000, 500, 1000)  # 2 s
        a_to_b = counters["a_to_b"]
        kbit_out = a_to_b["bytes_out"] * 8 / 1000 / 2.0
        ok = (a_to_b["bottleneck_dropped"] > 0.5 * sent and 400 <= kbit_out <= 600 and
              received <= a_to_b["packets_out"] and
              a_to_b["packets_in"] == a_to_b["packets_out"] + a_to_b["bottleneck_dropped"]
              + a_to_b["lost"] + a_to_b["queued"])
        return ok, json.dumps({"sent": sent, "received": received, "kbit_out": kbit_out,
                               "counters": a_to_b})
    if case == "no-other-path":
        # B's veth address, from A: no route (only the emulated link joins them).
        veth_b = os.environ["NATTER_LINK_SERVER_B"].rsplit(".", 1)[0] + ".6"
        reply = in_a("probe", veth_b)
        return reply == "unreachable", "A → %s: %s" % (veth_b, reply)
    raise ValueError(case)


def probe(address):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.sendto(b"p", (address, PORT))
    except OSError:
        print("unreachable")
        return
    print("sent")


CASES = [
    ("delay", ["--delay-ms", "30"]),
    ("loss", ["--loss", "10", "--seed", "7"]),
    ("loss", ["--loss", "10", "--seed", "7"]),
    ("bottleneck", ["--rate-kbit", "500", "--queue-ms", "100"]),
    ("no-other-path", []),
]
NAMES = ["delay", "seeded-loss", "seeded-loss-repeats", "bottleneck", "no-other-path"]


def main(argv):
    if len(argv) >= 2 and argv[1].startswith("--"):
        mode = argv[1][2:]
        if mode == "receive":
            udp_echo(0)
        elif mode == "echoes":
            send_echoes()
        elif mode == "flood":
            send_flood(*argv[2:5])
        elif mode == "probe":
            probe(argv[2])
        elif mode == "inside":
            ok, note = inside(argv[2])
            print(json.dumps({"ok": ok, "note": note}))
        return 0

    script = argv[1]
    emulator = os.path.join(os.path.dirname(os.path.abspath(script)), "link-emulator")
    results = []
    for case, options in CASES:
        done = subprocess.run(
            [script, "--emulator", emulator, "--stats-interval-ms", "200"] + options
            + ["--", sys.executable, os.path.abspath(__file__), "--inside", case],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        if done.returncode == 77:
            print("1..0 # SKIP cannot create network namespaces and TUN devices (needs root)")
            return 0
        verdict = None
        for line in done.stdout.splitlines():
            if line.startswith("{"):
                verdict = json.loads(line)
        if verdict is None:
            verdict = {"ok": False, "note": "no verdict: " + done.stderr[-2000:]}
        results.append(verdict)

    print("1..%d" % len(NAMES))
    status = 0
    for number, (name, verdict) in enumerate(zip(NAMES, results), 1):
        ok = verdict["ok"]
        if name == "seeded-loss-repeats":
            same = json.loads(results[1]["note"])["lost"] == json.loads(verdict["note"])["lost"] \
                if results[1]["ok"] and ok else False
            ok = ok and same
        print("%s %d /natter/link-emulator/%s" % ("ok" if ok else "not ok", number, name))
        print("# " + verdict["note"].replace("\n", "\n# "))
        if not ok:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
