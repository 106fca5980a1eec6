#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Starts build-aux/cluster.sh as a newcomer would, uses it, stops it.

Two nodes on one PostgreSQL and one Redis: a user signed in on the first
node writes to one signed in on the second, and calls them; the commands
are the ones cluster.sh prints. Then SIGTERM must stop every node,
redis-server and PostgreSQL, and remove the cluster's folder. Skipped
(exit 77) when redis-server or PostgreSQL 15 is not installed.

Usage: check-cluster-sh.py SOURCE_ROOT BUILD_ROOT
"""

import os
import re
import shutil
import signal
import subprocess
import sys

from check_helpers import check, failures, json_lines, port_open, read_until, scale, wait_for


def printed_commands(output):
    """The shell lines cluster.sh prints for one user, in order."""
    lines = [line.strip() for line in output.splitlines()]
    return [line for line in lines if line.startswith(('echo natter-demo', 'XDG_DATA_HOME='))]


def main():
    source_root, build_root = sys.argv[1], sys.argv[2]
    if shutil.which('redis-server') is None or not os.path.exists(
            '/usr/lib/postgresql/15/bin/initdb'):
        print('SKIP: redis-server or PostgreSQL 15 is not installed '
              '(Debian: redis-server postgresql-15)')
        sys.exit(77)

    log_path = os.path.join(build_root, 'meson-logs', 'check-cluster-sh.log')
    env = dict(os.environ, NATTER_BUILD_DIR=build_root, NATTER_TOKEN_STORE='file')
    env.pop('NATTER_CLUSTER_DIR', None)
    with open(log_path, 'w') as log:
        script = subprocess.Popen([os.path.join(source_root, 'build-aux', 'cluster.sh'),
                                   '--nodes', '2'],
                                  cwd=source_root, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)

    def output():
        with open(log_path) as f:
            return f.read()

    try:
        ready = wait_for(lambda: 'Press Ctrl+C' in output() or script.poll() is not None, 180)
        text = output()
        if not check(ready and script.poll() is None, 'cluster.sh started two nodes'):
            print(text[-4000:])
            return
        urls = re.findall(r'^node\d+: (http://\S+)', text, re.M)
        check(len(urls) == 2 and urls[0] != urls[1], f'it printed two node URLs: {urls}')
        folder = re.search(r'XDG_DATA_HOME=(\S+)/selam', text).group(1)
        redis_port = int(re.search(r'^redis-server: redis://127.0.0.1:(\d+)', text, re.M).group(1))
        pg_port = int(re.search(r'^PostgreSQL: postgresql://\S+:(\d+)/', text, re.M).group(1))

        commands = printed_commands(text)
        check(len(commands) == 5, f'it printed five commands ({len(commands)})')
        selam_login, selam_answer, abebe_login, abebe_send, abebe_call = commands

        def run(line, seconds=60):
            return subprocess.run(['bash', '-c', line], cwd=source_root, capture_output=True,
                                  text=True, timeout=seconds * scale, env=env)

        check(run(selam_login).returncode == 0, 'Selam signs in on node2')
        check(run(abebe_login).returncode == 0, 'Abebe signs in on node1')
        check(urls[1] in selam_login and urls[0] in abebe_login,
              'the two users are on different nodes')

        listen_line = selam_login.split('|', 1)[1].split(' login ')[0] + ' listen --timeout 60'
        listener = subprocess.Popen(['bash', '-c', listen_line], cwd=source_root, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        # Whether Selam's listener connects before or after the send, the
        # message reaches it: live, or in the replay of its first sync (with
        # the demo conversation's older messages).
        sent = run(abebe_send)
        check(sent.returncode == 0, 'Abebe sends from node1: ' + sent.stderr[-300:])
        seen, _ = read_until(listener, lambda e: e.get('text') == 'Hello across nodes', 30)
        texts = [e.get('text') for e in seen if e.get('event') == 'message']
        listener.kill()
        listener.wait()
        check('Hello across nodes' in texts, f'Selam on node2 receives it: {texts[-5:]}')

        answerer = subprocess.Popen(['bash', '-c', selam_answer.replace(
            ' answer --auto', ' answer --auto --count 1 --duration 3')],
            cwd=source_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        call = run(abebe_call, 90)
        answered, _ = answerer.communicate(timeout=60 * scale)
        caller_states = [e.get('state') for e in json_lines(call.stdout) if e.get('event') == 'call_state']
        callee_states = [e.get('state') for e in json_lines(answered) if e.get('event') == 'call_state']
        check('connected' in caller_states, f'Abebe on node1 calls Selam on node2: {caller_states}')
        check('connected' in callee_states, f'Selam answers on node2: {callee_states}')

        os.kill(script.pid, signal.SIGTERM)
        check(wait_for(lambda: script.poll() is not None, 20), 'cluster.sh exits on SIGTERM')
        check(script.returncode == 143, f'its exit status is 143 (was {script.returncode})')
        for url in urls:
            port = int(url.rsplit(':', 1)[1].strip('/'))
            check(wait_for(lambda: not port_open(port), 10), f'the node on {url} stopped')
        check(wait_for(lambda: not port_open(redis_port), 10), 'redis-server stopped')
        check(wait_for(lambda: not port_open(pg_port), 10), 'PostgreSQL stopped')
        check(not os.path.exists(folder), f'the cluster folder {folder} is gone')
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)


main()
sys.exit(1 if failures else 0)
