#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks flatpak/org.natter.Natter.json.

Strict JSON (no json-glib comments), the application id and command, the
GNOME runtime and SDK, exactly the permissions a calling app needs and none
of the broad ones, a meson build of the client with the default profile and
without the server, and every downloaded source pinned by sha256.

Usage: check-flatpak-manifest.py MANIFEST APP_ID
"""

import json
import re
import sys

EXPECTED_FINISH_ARGS = {
    '--share=network',
    '--share=ipc',
    '--socket=wayland',
    '--socket=fallback-x11',
    '--socket=pulseaudio',
    '--device=all',
}
# Broader than a chat-and-call app needs, or handled by portals.
FORBIDDEN_PREFIXES = (
    '--filesystem=host', '--filesystem=home', '--socket=x11', '--socket=session-bus',
    '--socket=system-bus', '--talk-name=org.freedesktop.Notifications',
    '--talk-name=org.freedesktop.Flatpak', '--own-name=', '--system-talk-name=',
)

failures = []


def check(condition, message):
    print(('ok   ' if condition else 'FAIL ') + message)
    if not condition:
        failures.append(message)
    return condition


def walk_modules(modules):
    for module in modules:
        if isinstance(module, str):
            continue
        yield module
        yield from walk_modules(module.get('modules', []))


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, app_id = sys.argv[1:]
    try:
        with open(path, encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, ValueError) as error:
        check(False, 'manifest is valid JSON: %s' % error)
        return 1
    check(isinstance(manifest, dict), 'manifest is a JSON object')

    check(manifest.get('id', manifest.get('app-id')) == app_id, 'id is %s' % app_id)
    check(manifest.get('command') == 'natter', 'command is natter')
    check(manifest.get('runtime') == 'org.gnome.Platform', 'runtime is org.gnome.Platform')
    check(manifest.get('sdk') == 'org.gnome.Sdk', 'sdk is org.gnome.Sdk')
    check(re.fullmatch(r'\d+', str(manifest.get('runtime-version', ''))) is not None
          and int(manifest['runtime-version']) >= 47,
          'runtime-version is a stable GNOME release >= 47')

    finish_args = manifest.get('finish-args', [])
    check(len(finish_args) == len(set(finish_args)), 'finish-args has no duplicates')
    missing = EXPECTED_FINISH_ARGS - set(finish_args)
    extra = set(finish_args) - EXPECTED_FINISH_ARGS
    check(not missing, 'finish-args has %s' % ', '.join(sorted(EXPECTED_FINISH_ARGS)))
    check(not extra, 'finish-args asks for nothing more %s' % ' '.join(sorted(extra)))
    broad = [arg for arg in finish_args if arg.startswith(FORBIDDEN_PREFIXES)]
    check(not broad, 'no broad or portal-replaced permissions %s' % ' '.join(broad))

    modules = list(walk_modules(manifest.get('modules', [])))
    natter = [m for m in modules if m.get('name') == 'natter']
    if check(len(natter) == 1, 'one module named natter'):
        module = natter[0]
        opts = module.get('config-opts', [])
        check(module is modules[-1], 'natter is built last, after its dependencies')
        check(module.get('buildsystem') == 'meson', 'natter is built with meson')
        check('-Dprofile=default' in opts, 'natter uses -Dprofile=default')
        check('-Dserver=false' in opts, 'the server is left out (-Dserver=false)')

    for module in modules:
        for source in module.get('sources', []):
            if isinstance(source, str):
                continue
            if 'url' in source:
                check(source['url'].startswith('https://'),
                      '%s: source %s is fetched over https' % (module['name'], source['url']))
                if source.get('type') in ('archive', 'file'):
                    check(re.fullmatch(r'[0-9a-f]{64}', source.get('sha256', '')) is not None,
                          '%s: source %s is pinned by sha256' % (module['name'], source['url']))
            if source.get('type') == 'git':
                check('commit' in source or 'tag' in source,
                      '%s: git source is pinned to a commit or tag' % module['name'])

    print('%d checks failed' % len(failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
