#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks po/POTFILES.in against the sources.

Every file under src/app, src/cli and src/core that marks a string for
translation (_(), N_(), C_(), NC_(), ngettext(), or translatable="yes" in a
.ui file) must be listed, and every listed file must exist, so no string is
forgotten by translators and no stale entry breaks natter-pot.

Usage: check-potfiles.py SOURCE_ROOT
"""

import os
import re
import sys

SCANNED_DIRS = ['src/app', 'src/cli', 'src/core']
SOURCE_SUFFIXES = ('.c', '.h', '.ui')
C_MARKERS = re.compile(r'(?<![A-Za-z0-9_])(?:_|N_|C_|NC_|g_dngettext|ngettext)\s*\(')
UI_MARKER = re.compile(r'translatable\s*=\s*"(?:yes|true)"')


def listed_files(potfiles_in):
    listed = []
    with open(potfiles_in, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith('#'):
                listed.append(line)
    return listed


def has_translatable_strings(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    if path.endswith('.ui'):
        return UI_MARKER.search(text) is not None
    # Comments may mention _() without marking anything; drop them first.
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    text = re.sub(r'//[^\n]*', '', text)
    return C_MARKERS.search(text) is not None


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = sys.argv[1]
    listed = listed_files(os.path.join(root, 'po', 'POTFILES.in'))
    failures = []

    for entry in listed:
        if not os.path.isfile(os.path.join(root, entry)):
            failures.append('POTFILES.in lists %s, which does not exist' % entry)

    duplicates = sorted({e for e in listed if listed.count(e) > 1})
    for entry in duplicates:
        failures.append('POTFILES.in lists %s more than once' % entry)

    needed = []
    for scanned in SCANNED_DIRS:
        top = os.path.join(root, scanned)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                path = os.path.join(dirpath, name)
                if has_translatable_strings(path):
                    needed.append(os.path.relpath(path, root))

    for path in needed:
        if path not in listed:
            failures.append('%s has translatable strings but is missing from po/POTFILES.in' % path)

    print('%d files listed, %d sources with translatable strings' % (len(listed), len(needed)))
    for failure in failures:
        print('FAIL: ' + failure)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
