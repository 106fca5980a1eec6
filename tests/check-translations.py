#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks one translation: valid, and complete against the current sources.

1. msgfmt --check accepts po/LANG.po (format strings, headers, plurals).
2. msgfmt --statistics reports no fuzzy and no untranslated messages.
3. A template extracted now from po/POTFILES.in (the same xgettext options as
   meson's glib preset) merged into the translation is still 100 %
   translated, so strings added to the sources without updating the
   translations are caught. The fix is `meson compile -C BUILD
   natter-update-po`, then translating what is new (po/README.md).

Usage: check-translations.py SOURCE_ROOT LANG
"""

import os
import re
import subprocess
import sys
import tempfile

XGETTEXT_ARGS = [
    '--from-code=UTF-8', '--add-comments',
    '--keyword=_', '--keyword=N_', '--keyword=C_:1c,2', '--keyword=NC_:1c,2',
    '--keyword=g_dcgettext:2', '--keyword=g_dngettext:2,3',
    '--keyword=g_dpgettext2:2c,3',
    '--flag=N_:1:pass-c-format', '--flag=C_:2:pass-c-format',
    '--flag=NC_:2:pass-c-format', '--flag=g_dngettext:2:pass-c-format',
    '--flag=g_strdup_printf:1:c-format', '--flag=g_string_printf:2:c-format',
    '--flag=g_string_append_printf:2:c-format',
    '--flag=g_error_new:3:c-format', '--flag=g_set_error:4:c-format',
    '--flag=g_markup_printf_escaped:1:c-format',
    '--flag=g_log:3:c-format', '--flag=g_print:1:c-format',
    '--flag=g_printerr:1:c-format', '--flag=g_printf:1:c-format',
    '--flag=g_fprintf:2:c-format', '--flag=g_sprintf:2:c-format',
    '--flag=g_snprintf:3:c-format',
]


def statistics(po_path):
    """Returns (translated, fuzzy, untranslated) from msgfmt --statistics."""
    result = subprocess.run(
        ['msgfmt', '--check', '--statistics', '-o', os.devnull, po_path],
        capture_output=True, text=True,
        env=dict(os.environ, LC_ALL='C'))
    if result.returncode != 0:
        raise RuntimeError('msgfmt --check failed on %s:\n%s' % (po_path, result.stderr))
    counts = {'translated': 0, 'fuzzy': 0, 'untranslated': 0}
    for number, kind in re.findall(r'(\d+) (translated|fuzzy|untranslated) messages?', result.stderr):
        counts[kind] = int(number)
    return counts['translated'], counts['fuzzy'], counts['untranslated']


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    root, lang = sys.argv[1], sys.argv[2]
    po_path = os.path.join(root, 'po', lang + '.po')

    with open(os.path.join(root, 'po', 'LINGUAS'), encoding='utf-8') as f:
        linguas = [w for line in f for w in line.split('#')[0].split()]
    if lang not in linguas:
        print('FAIL: %s is not listed in po/LINGUAS' % lang)
        return 1

    try:
        translated, fuzzy, untranslated = statistics(po_path)
    except RuntimeError as error:
        print('FAIL: %s' % error)
        return 1
    print('%s.po: %d translated, %d fuzzy, %d untranslated' % (lang, translated, fuzzy, untranslated))
    if translated == 0 or fuzzy or untranslated:
        print('FAIL: %s.po is not completely translated' % lang)
        return 1

    with tempfile.TemporaryDirectory() as tmp:
        pot = os.path.join(tmp, 'natter.pot')
        merged = os.path.join(tmp, lang + '.po')
        subprocess.run(
            ['xgettext', '--package-name=natter', '--directory=' + root,
             '--files-from=' + os.path.join(root, 'po', 'POTFILES.in'),
             '--output=' + pot] + XGETTEXT_ARGS,
            check=True)
        subprocess.run(
            ['msgmerge', '--quiet', '--no-fuzzy-matching', '--output-file=' + merged, po_path, pot],
            check=True)
        translated_now, fuzzy_now, untranslated_now = statistics(merged)

    print('against the current sources: %d translated, %d fuzzy, %d untranslated'
          % (translated_now, fuzzy_now, untranslated_now))
    if fuzzy_now or untranslated_now:
        print('FAIL: %s.po lacks %d strings of the current sources; run '
              '"meson compile -C BUILD natter-update-po" and translate them'
              % (lang, fuzzy_now + untranslated_now))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
