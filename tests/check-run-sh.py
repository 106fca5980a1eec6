#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Starts build-aux/run.sh as a newcomer would, then stops it with SIGTERM.

Every child it started (natter-server, Selam's natter-cli, the app when a
display exists) must be gone within a few seconds of the signal. Run with a
display (xvfb-run) to cover the app, without one for the shell branch.

Usage: check-run-sh.py SOURCE_ROOT BUILD_ROOT
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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


def children(pid):
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def command_line(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace').strip()
    except OSError:
        return ''


def alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds * scale
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def check_printed_commands(output, source_root):
    """The commands run.sh prints must work when pasted as printed."""
    printed = [line.strip() for line in output.splitlines() if 'natter-cli --server' in line]
    check(len(printed) == 2, f'run.sh printed two natter-cli commands ({len(printed)})')
    for line in printed:
        result = subprocess.run(['bash', '-c', line], cwd=source_root, capture_output=True,
                                text=True, timeout=90 * scale)
        ok = result.returncode == 0
        if ' call ' in line:
            ok = ok and '"state":"connected"' in result.stdout
        if not check(ok, f'the printed command works: {line}'):
            print(result.stdout[-2000:], result.stderr[-2000:])


def main():
    source_root, build_root = sys.argv[1], sys.argv[2]
    with_display = bool(os.environ.get('DISPLAY'))
    run_dir = tempfile.mkdtemp(prefix='natter-run-sh-')
    env = dict(os.environ, NATTER_BUILD_DIR=build_root, NATTER_PORT=str(free_port()),
               NATTER_RUN_DIR=run_dir)
    log_path = os.path.join(run_dir, 'run.log')
    with open(log_path, 'w') as log:
        script = subprocess.Popen([os.path.join(source_root, 'build-aux', 'run.sh')],
                                  cwd=source_root, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)

    wanted = ['natter-server', 'natter-cli'] + (['src/app/natter '] if with_display else [])
    marker = 'Opening Natter' if with_display else 'Press Ctrl+C'

    def started():
        lines = ' | '.join(command_line(pid) + ' ' for pid in children(script.pid))
        with open(log_path) as f:
            return marker in f.read() and all(name in lines for name in wanted)

    try:
        ready = wait_for(started, 120)
        with open(log_path) as f:
            output = f.read()
        if not check(ready, 'run.sh started ' + ', '.join(n.strip() for n in wanted)):
            print(output)
            return
        if not with_display:
            check_printed_commands(output, source_root)
        started_children = children(script.pid)
        os.kill(script.pid, signal.SIGTERM)
        check(wait_for(lambda: script.poll() is not None, 10), 'run.sh exits on SIGTERM')
        left = [pid for pid in started_children if wait_for(lambda: not alive(pid), 10) is False]
        check(not left, 'every child stopped with it: ' +
              (', '.join(command_line(pid) for pid in left) or 'none left'))
        check(script.returncode == 143, f'run.sh exit status is 143 (was {script.returncode})')
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
        for pid in children(script.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(run_dir, ignore_errors=True)


main()
sys.exit(1 if failures else 0)
