#!/usr/bin/env python3
"""Counts test cases in meson test logs and prints "N passed, N failed".

TAP tests (GTest with --tap) count one per test case; other tests count once.
Exits non-zero when anything failed or nothing ran. For each failed test it
prints, just above that line, the few output lines that say why (CI shows
only the end of the output).
"""
import json
import re
import sys

TAP_LINE = re.compile(r"^(not ok|ok)\b(.*)$")
TAP_PLAN = re.compile(r"^1\.\.\d+", re.MULTILINE)
# Lines that say why a test failed: failed TAP cases, GLib's assertion and
# critical messages, sanitizer and valgrind reports, the interop driver's
# failed checks.
WHY_LINE = re.compile(r"^(not ok\b|Bail out!|# FAILED|.*(ERROR|CRITICAL|Sanitizer|"
                      r"definitely lost|timed out)\b)")
WHY_MAX_LINES = 8


def why(entry):
    output = (entry.get("stdout") or "") + "\n" + (entry.get("stderr") or "")
    lines = [line.strip()[:300] for line in output.splitlines() if WHY_LINE.match(line.strip())]
    return lines[:WHY_MAX_LINES]


passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as log:
            entries = [json.loads(line) for line in log if line.strip()]
    except FileNotFoundError:
        failed += 1
        print(f"missing test log: {path}", file=sys.stderr)
        continue
    for entry in entries:
        result = entry.get("result", "")
        counted = False
        failed_before = failed
        # meson's log does not record the protocol; GTest's --tap output
        # starts with a plan line "1..N".
        stdout = entry.get("stdout") or ""
        if "--tap" in (entry.get("command") or []) or TAP_PLAN.search(stdout):
            for line in stdout.splitlines():
                match = TAP_LINE.match(line.strip())
                if not match:
                    continue
                counted = True
                if "# SKIP" in match.group(2):
                    skipped += 1
                elif match.group(1) == "ok":
                    passed += 1
                else:
                    failed += 1
        if result in ("OK", "EXPECTEDFAIL"):
            if not counted:
                passed += 1
        elif result == "SKIP":
            if not counted:
                skipped += 1
        else:
            # A crash or timeout after some cases passed is still a failure.
            if failed == failed_before:
                failed += 1
            print(f"FAILED: {entry.get('name')} ({result}) in {path}", file=sys.stderr)
            for line in why(entry):
                print(f"  {line}", file=sys.stderr)

# The last line is exactly "N passed, N failed" (CI reads it); skips go above.
if skipped:
    print(f"{skipped} skipped")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or passed == 0 else 0)
