#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Starts build-aux/run.sh as a newcomer would, then stops it with SIGTERM.

Every child it started (natter-server, Selam's natter-cli, the app when a
display exists, and the media helper of the call it places from the app) must
be gone within a few seconds of the signal. Run with a display (xvfb-run) to
cover the app, without one for the shell branch.

Usage: check-run-sh.py SOURCE_ROOT BUILD_ROOT
"""

import json
import os
import re
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


def application_id(build_root):
    with open(os.path.join(build_root, 'config.h')) as f:
        return re.search(r'#define APPLICATION_ID "([^"]+)"', f.read()).group(1)


def place_call_in_app(source_root, build_root, env, run_dir, app_pid):
    """Abebe calls Selam from the app, as a newcomer pressing the video call
    button would (the app's start-call action over D-Bus): the call's media
    helper must start and Selam's natter-cli must report the call connected."""
    url = f'http://127.0.0.1:{env["NATTER_PORT"]}'
    cli = os.path.join(build_root, 'src', 'cli', 'natter-cli')
    listed = subprocess.run([cli, '--server', url, 'conversations'], capture_output=True, text=True,
                            timeout=30 * scale,
                            env=dict(env, XDG_DATA_HOME=os.path.join(run_dir, 'abebe'),
                                     NATTER_TOKEN_STORE='file'))
    ids = [json.loads(line)['conversation_id'] for line in listed.stdout.splitlines()
           if '"peer":"student:2"' in line]
    if not check(len(ids) == 1, f'Abebe has one conversation with Selam ({len(ids)})'):
        print(listed.stdout, listed.stderr)
        return
    app_id = application_id(build_root)
    activate = ['gdbus', 'call', '--session', '--dest', app_id,
                '--object-path', '/' + app_id.replace('.', '/'),
                '--method', 'org.gtk.Actions.Activate', 'start-call',
                f"[<(int64 {ids[0]}, 'video')>]", '{}']

    def helper_started():
        return any('natter-call-media' in command_line(pid) for pid in children(app_pid))

    # The app may still be fetching its conversations: the action does nothing
    # until it knows the peer, so it is sent again until the helper starts.
    deadline = time.monotonic() + 60 * scale
    while not helper_started() and time.monotonic() < deadline:
        subprocess.run(activate, capture_output=True, timeout=30 * scale)
        wait_for(helper_started, 3)
    if not check(helper_started(), "the app's call started its media helper (natter-call-media)"):
        return
    answers = os.path.join(run_dir, 'selam-answers.log')

    def connected():
        with open(answers) as f:
            return '"state":"connected"' in f.read()

    if not check(wait_for(connected, 60), "Selam's natter-cli reports the app's call connected"):
        with open(answers) as f:
            print(f.read()[-2000:])


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
        started_children = children(script.pid)
        if with_display:
            app_pid = next(pid for pid in started_children if 'src/app/natter ' in command_line(pid) + ' ')
            place_call_in_app(source_root, build_root, env, run_dir, app_pid)
            started_children += children(app_pid)
        else:
            check_printed_commands(output, source_root)
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
