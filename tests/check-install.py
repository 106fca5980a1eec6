#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Installs the project into a temporary DESTDIR and checks the tree.

A desktop expects: the desktop file, AppStream metainfo, the GSettings
schema, the D-Bus service, the scalable and symbolic icons and the
translations under the prefix, and every executable the build installs.

Usage: check-install.py MESON BUILD_ROOT SOURCE_ROOT APP_ID PREFIX BINDIR DATADIR LOCALEDIR
(BINDIR, DATADIR and LOCALEDIR as meson's options: relative to PREFIX or absolute.)
"""

import gettext
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

failures = []


def check(condition, message):
    print(('ok   ' if condition else 'FAIL ') + message)
    if not condition:
        failures.append(message)
    return condition


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def under(root, prefix, directory):
    if not os.path.isabs(directory):
        directory = os.path.join(prefix, directory)
    return root + directory


def check_svg(path, view_box):
    if not check(os.path.isfile(path), 'icon %s' % os.path.basename(path)):
        return
    svg = ElementTree.parse(path).getroot()
    check(svg.tag == '{http://www.w3.org/2000/svg}svg' and svg.get('viewBox') == view_box,
          '%s is an SVG with viewBox "%s"' % (os.path.basename(path), view_box))


def main():
    if len(sys.argv) != 9:
        print(__doc__, file=sys.stderr)
        return 2
    meson, build_root, source_root, app_id, prefix, bindir, datadir, localedir = sys.argv[1:]

    with tempfile.TemporaryDirectory(prefix='natter-install-') as destdir:
        result = subprocess.run(
            [meson, 'install', '-C', build_root, '--no-rebuild', '--quiet', '--destdir', destdir],
            capture_output=True, text=True)
        if not check(result.returncode == 0, 'meson install --destdir succeeds'):
            print(result.stdout + result.stderr)
            return 1

        data = under(destdir, prefix, datadir)
        bin_dir = under(destdir, prefix, bindir)
        locale_dir = under(destdir, prefix, localedir)

        # Desktop entry
        desktop = os.path.join(data, 'applications', app_id + '.desktop')
        if check(os.path.isfile(desktop), 'desktop file %s.desktop' % app_id):
            text = read(desktop)
            valid = subprocess.run(['desktop-file-validate', desktop], capture_output=True, text=True)
            check(valid.returncode == 0 and not valid.stdout.strip(),
                  'installed desktop file validates ' + valid.stdout.strip())
            check('\nIcon=%s\n' % app_id in text, 'desktop file names the icon %s' % app_id)
            check('\nDBusActivatable=true\n' in text, 'desktop file is D-Bus activatable')
            check('Name[de]=' in text and 'Comment[am]=' in text, 'desktop file carries the translations')

        # AppStream
        metainfo = os.path.join(data, 'metainfo', app_id + '.metainfo.xml')
        if check(os.path.isfile(metainfo), 'metainfo %s.metainfo.xml' % app_id):
            component = ElementTree.parse(metainfo).getroot()
            check(component.findtext('id') == app_id, 'metainfo id is %s' % app_id)
            check(component.findtext('launchable') == app_id + '.desktop',
                  'metainfo launchable is %s.desktop' % app_id)
            langs = {e.get('{http://www.w3.org/XML/1998/namespace}lang') for e in component.iter()}
            check({'de', 'am'} <= langs, 'metainfo carries German and Amharic text')

        # GSettings
        schemas = os.path.join(data, 'glib-2.0', 'schemas')
        schema = os.path.join(schemas, app_id + '.gschema.xml')
        if check(os.path.isfile(schema), 'schema %s.gschema.xml' % app_id):
            check(ElementTree.parse(schema).getroot().find('schema').get('id') == app_id,
                  'schema id is %s' % app_id)
            compiled = subprocess.run(['glib-compile-schemas', '--strict', '--dry-run', schemas])
            check(compiled.returncode == 0, 'installed schema compiles with --strict')

        # D-Bus activation
        service = os.path.join(data, 'dbus-1', 'services', app_id + '.service')
        if check(os.path.isfile(service), 'D-Bus service %s.service' % app_id):
            text = read(service)
            natter = os.path.join(bindir if os.path.isabs(bindir) else os.path.join(prefix, bindir), 'natter')
            check('\nName=%s\n' % app_id in text, 'service name is %s' % app_id)
            check('\nExec=%s --gapplication-service\n' % natter in text,
                  'service runs %s --gapplication-service' % natter)

        # Icons
        check_svg(os.path.join(data, 'icons', 'hicolor', 'scalable', 'apps', app_id + '.svg'), '0 0 128 128')
        check_svg(os.path.join(data, 'icons', 'hicolor', 'symbolic', 'apps', app_id + '-symbolic.svg'),
                  '0 0 16 16')

        # Translations: installed and actually used by gettext.
        with open(os.path.join(source_root, 'po', 'LINGUAS'), encoding='utf-8') as f:
            linguas = [w for line in f for w in line.split('#')[0].split()]
        check(len(linguas) >= 2, 'LINGUAS lists %s' % ', '.join(linguas))
        for lang in linguas:
            mo = os.path.join(locale_dir, lang, 'LC_MESSAGES', 'natter.mo')
            check(os.path.isfile(mo), 'translation %s/LC_MESSAGES/natter.mo' % lang)
        expected = {'de': 'Im Hintergrund ausführen', 'am': 'ከበስተጀርባ አሂድ'}
        for lang, text in expected.items():
            if lang in linguas:
                catalog = gettext.translation('natter', locale_dir, [lang], fallback=True)
                check(catalog.gettext('Run in background') == text,
                      'the %s catalogue translates "Run in background"' % lang)

        # Every executable the build installs is there and executable.
        targets = json.loads(subprocess.run(
            [meson, 'introspect', '--targets', build_root],
            capture_output=True, text=True, check=True).stdout)
        executables = [t for t in targets if t['type'] == 'executable' and t['installed']]
        for target in executables:
            for filename in target['install_filename']:
                path = destdir + filename
                check(os.path.isfile(path) and os.access(path, os.X_OK),
                      'executable %s' % filename)
        print('%d installed executables: %s' % (len(executables), ', '.join(t['name'] for t in executables)))
        if any(t['name'] == 'natter' for t in executables):
            check(os.path.isfile(os.path.join(bin_dir, 'natter')), 'the D-Bus service target %s/natter exists' % bindir)

        # Nothing lands outside the prefix.
        stray = []
        for dirpath, _, filenames in os.walk(destdir):
            for name in filenames:
                path = os.path.join(dirpath, name)
                if not path.startswith(destdir + prefix + os.sep):
                    stray.append(path[len(destdir):])
        check(not stray, 'everything is installed under %s %s' % (prefix, ' '.join(stray)))

    print('%d checks failed' % len(failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
