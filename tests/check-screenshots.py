#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks the AppStream screenshots against data/screenshots/.

Every <image> of the metainfo names a PNG under data/screenshots/ (by its
file name), which is a real screenshot: a valid PNG of at least 300 x 300
pixels. Exactly one screenshot is the default, and each has a caption.

Usage: check-screenshots.py SOURCE_ROOT METAINFO_IN
"""

import os
import struct
import sys
import xml.etree.ElementTree as ET


def png_size(path):
    with open(path, 'rb') as f:
        header = f.read(24)
    if len(header) < 24 or header[:8] != b'\x89PNG\r\n\x1a\n' or header[12:16] != b'IHDR':
        return None
    return struct.unpack('>II', header[16:24])


def main():
    root, metainfo = sys.argv[1], sys.argv[2]
    folder = os.path.join(root, 'data', 'screenshots')
    failures = []

    component = ET.parse(metainfo).getroot()
    shots = component.findall('./screenshots/screenshot')
    if not shots:
        failures.append('no <screenshot> in the metainfo')
    defaults = [s for s in shots if s.get('type') == 'default']
    if len(defaults) != 1:
        failures.append('%d default screenshots, want 1' % len(defaults))

    named = set()
    for shot in shots:
        image = shot.find('image')
        caption = shot.find('caption')
        if image is None or not (image.text or '').strip():
            failures.append('a screenshot without <image>')
            continue
        if caption is None or not (caption.text or '').strip():
            failures.append('%s has no caption' % image.text)
        name = os.path.basename(image.text.strip())
        named.add(name)
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            failures.append('%s: no data/screenshots/%s' % (image.text.strip(), name))
            continue
        size = png_size(path)
        if size is None:
            failures.append('data/screenshots/%s is not a PNG' % name)
        elif size[0] < 300 or size[1] < 300:
            failures.append('data/screenshots/%s is only %d x %d' % (name, size[0], size[1]))

    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name.endswith('.png') and name not in named:
                failures.append('data/screenshots/%s is not in the metainfo' % name)

    for failure in failures:
        print('FAIL: ' + failure)
    if not failures:
        print('%d screenshots, all in data/screenshots' % len(shots))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
