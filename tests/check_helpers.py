# SPDX-License-Identifier: GPL-3.0-or-later
"""What the check-*.py scripts that start processes share."""

import json
import os
import select
import socket
import time

scale = float(os.environ.get('NATTER_TEST_TIME_SCALE', '1') or 1)
failures = []


def check(condition, message):
    print(('ok   ' if condition else 'FAIL ') + message)
    if not condition:
        failures.append(message)
    return condition


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(('127.0.0.1', port)) == 0


def wait_for(predicate, seconds):
    """Polls @predicate until it holds or @seconds (scaled) have passed."""
    deadline = time.monotonic() + seconds * scale
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def json_lines(text):
    found = []
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            pass
    return found


def read_until(process, predicate, seconds):
    """Reads @process's stdout (a binary pipe) as JSON lines until one
    satisfies @predicate; returns (lines seen, whether one did). Reads the
    pipe's bytes itself: a buffered reader could hold a line that select()
    no longer reports."""
    seen = []
    buffered = getattr(process, 'natter_buffer', b'')
    deadline = time.monotonic() + seconds * scale
    while True:
        while b'\n' in buffered:
            line, buffered = buffered.split(b'\n', 1)
            try:
                seen.append(json.loads(line))
            except ValueError:
                continue
            if predicate(seen[-1]):
                process.natter_buffer = buffered
                return seen, True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select([process.stdout], [], [], min(remaining, 0.2))
        if ready:
            data = os.read(process.stdout.fileno(), 65536)
            if not data:
                break
            buffered += data
    process.natter_buffer = buffered
    return seen, False
