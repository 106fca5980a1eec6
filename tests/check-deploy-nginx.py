#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""deploy/nginx-natter.conf in front of two natter-server nodes.

The operator's file, with this test's addresses put in (the two nodes, a
loopback port instead of 443 with TLS): the API is balanced over both nodes,
every WebSocket of one profile path lands on the same node, and clients
signed in through nginx chat. The nodes share one SQLite file and one
redis-server, as the node tests do. Skipped (exit 77) without nginx or
redis-server.

Usage: check-deploy-nginx.py SOURCE_ROOT BUILD_ROOT
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request

from check_helpers import check, failures, free_port, port_open, read_until, scale, wait_for

processes = []


def start(argv, log_path, **kwargs):
    log = open(log_path, 'w')
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kwargs)
    processes.append(process)
    return process


def metric(port, name):
    """The value of an unlabelled series in a node's /metrics, 0 if absent;
    for a labelled one, the sum over its labels."""
    with urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf'^{name}(\{{[^}}]*\}})? (\S+)$', line)
        if match:
            total += float(match.group(2))
    return total


def operator_config(source_root, nodes, port):
    """deploy/nginx-natter.conf with this test's nodes and port."""
    with open(os.path.join(source_root, 'deploy', 'nginx-natter.conf')) as f:
        text = f.read()
    examples = sorted(set(re.findall(r'server (10\.0\.0\.\d+:\d+)', text)))
    check(len(examples) == 2, f'the file names two example nodes: {examples}')
    for example, node in zip(examples, nodes):
        text = text.replace(f'server {example}', f'server {node}')
    text = re.sub(r'^\s*listen \[::\]:443 ssl;\n', '', text, flags=re.M)
    text = re.sub(r'listen 443 ssl;', f'listen 127.0.0.1:{port};', text)
    text = re.sub(r'^\s*ssl_certificate\S* .*\n', '', text, flags=re.M)
    text = re.sub(r'server_name \S+;', 'server_name localhost;', text)
    return text


def cli(build_root, home, url, *args, stdin=None):
    return subprocess.run([os.path.join(build_root, 'src', 'cli', 'natter-cli'), '--server', url,
                           *args], input=stdin, capture_output=True, text=True,
                          timeout=60 * scale,
                          env=dict(os.environ, XDG_DATA_HOME=home, NATTER_TOKEN_STORE='file'))


def listener(build_root, home, url):
    return subprocess.Popen([os.path.join(build_root, 'src', 'cli', 'natter-cli'), '--server', url,
                             'listen', '--timeout', '60'], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL,
                            env=dict(os.environ, XDG_DATA_HOME=home, NATTER_TOKEN_STORE='file'))


def main(tmp):
    source_root, build_root = sys.argv[1], sys.argv[2]
    nginx = shutil.which('nginx') or ('/usr/sbin/nginx' if os.path.exists('/usr/sbin/nginx')
                                      else None)
    if nginx is None or shutil.which('redis-server') is None:
        print('SKIP: nginx or redis-server is not installed (Debian: nginx redis-server)')
        sys.exit(77)

    redis_port = free_port()
    start(['redis-server', '--bind', '127.0.0.1', '--port', str(redis_port), '--save', '',
           '--appendonly', 'no'], os.path.join(tmp, 'redis.log'))
    check(wait_for(lambda: port_open(redis_port), 10), 'redis-server listens')

    server = os.path.join(build_root, 'src', 'server', 'natter-server')
    db = os.path.join(tmp, 'natter.db')
    nodes, metrics = [], []
    for i in (1, 2):
        out = os.path.join(tmp, f'node{i}.out')
        metrics_port = free_port()
        argv = [server, '--port', '0', '--db', db, '--redis', f'redis://127.0.0.1:{redis_port}',
                '--node-id', f'node{i}', '--trusted-proxy', '127.0.0.1',
                '--metrics-listen', f'127.0.0.1:{metrics_port}']
        if i == 1:
            argv.append('--demo')
        with open(os.path.join(tmp, f'node{i}.log'), 'w') as log:
            processes.append(subprocess.Popen(argv, stdout=open(out, 'w'), stderr=log,
                                              env=dict(os.environ,
                                                       XDG_DATA_HOME=os.path.join(tmp, f'n{i}'))))

        def listening():
            with open(out) as f:
                return 'listening on ' in f.read()

        check(wait_for(listening, 30), f'node{i} listens')
        with open(out) as f:
            url = f.read().split('listening on ', 1)[1].split()[0]
        nodes.append(url.split('://', 1)[1].rstrip('/'))
        metrics.append(metrics_port)

    port = free_port()
    prefix = os.path.join(tmp, 'nginx')
    os.makedirs(prefix)
    with open(os.path.join(prefix, 'natter.conf'), 'w') as f:
        f.write(operator_config(source_root, nodes, port))
    temp_paths = ''.join(f'  {kind}_temp_path {prefix}/{kind};\n'
                         for kind in ('client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'))
    user = 'user root root;\n' if os.getuid() == 0 else ''
    with open(os.path.join(prefix, 'nginx.conf'), 'w') as f:
        f.write(f'{user}worker_processes 1;\ndaemon off;\npid {prefix}/nginx.pid;\n'
                f'error_log {prefix}/error.log;\nevents {{ worker_connections 256; }}\n'
                f'http {{\n  access_log {prefix}/access.log;\n{temp_paths}'
                f'  include {prefix}/natter.conf;\n}}\n')
    tested = subprocess.run([nginx, '-t', '-p', prefix, '-c', f'{prefix}/nginx.conf'],
                            capture_output=True, text=True)
    if not check(tested.returncode == 0, 'nginx accepts the configuration'):
        print(tested.stderr)
        return
    start([nginx, '-p', prefix, '-c', f'{prefix}/nginx.conf'], os.path.join(tmp, 'nginx.out'))
    check(wait_for(lambda: port_open(port), 10), 'nginx listens')
    url = f'http://127.0.0.1:{port}'

    # The API through nginx, spread over both nodes.
    before = [metric(m, 'natter_http_requests_total') for m in metrics]
    # Abebe on two devices (two data folders), Selam on one.
    for home, name in (('abebe-1', 'abebe'), ('abebe-2', 'abebe'), ('selam', 'selam')):
        signed = cli(build_root, os.path.join(tmp, home), url, 'login', '--email',
                     f'{name}@demo.natter', '--password-stdin', stdin='natter-demo\n')
        check(signed.returncode == 0, f'{name} signs in through nginx: {signed.stderr[-200:]}')
    for _ in range(8):
        listed = cli(build_root, os.path.join(tmp, 'abebe-1'), url, 'conversations')
        check(listed.returncode == 0, 'conversations through nginx')
    served = [metric(m, 'natter_http_requests_total') - b for m, b in zip(metrics, before)]
    check(all(n > 0 for n in served), f'both nodes served API requests: {served}')

    # Two WebSockets of Abebe's profile path: both on one node.
    abebe = [listener(build_root, os.path.join(tmp, home), url) for home in ('abebe-1', 'abebe-2')]
    for process in abebe:
        _, connected = read_until(process, lambda e: e.get('state') == 'connected', 30)
        check(connected, 'a WebSocket through nginx connects')
    counts = [metric(m, 'natter_connections') for m in metrics]
    check(sorted(counts) == [0, 2], f"Abebe's two connections are on one node: {counts}")

    # Selam writes to Abebe through nginx: both of Abebe's devices get it.
    sent = cli(build_root, os.path.join(tmp, 'selam'), url, 'send', 'tutor:1', 'via nginx')
    check(sent.returncode == 0, f'Selam sends through nginx: {sent.stderr[-200:]}')
    for process in abebe:
        _, got = read_until(process, lambda e: e.get('text') == 'via nginx', 30)
        check(got, "Abebe's device receives Selam's message")
        process.kill()
        process.wait()


tmp = tempfile.mkdtemp(prefix='natter-deploy-nginx-')
try:
    main(tmp)
finally:
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10 * scale)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if failures:
        for name in ('nginx/error.log', 'node1.log', 'node2.log'):
            path = os.path.join(tmp, name)
            if os.path.exists(path):
                with open(path) as f:
                    print(f'--- {name}\n' + f.read()[-3000:])
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failures else 0)
