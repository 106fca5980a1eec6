#!/usr/bin/env bash
# Builds Natter and runs the whole test suite. Ends with "N passed, N failed".
#
# Without arguments, four runs count in that line:
#   1. the suite on a debugoptimized build ($NATTER_BUILD_DIR, build/);
#   2. the libFuzzer targets for a bounded time each (clang);
#   3. the whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer
#      with LeakSanitizer ($NATTER_ASAN_BUILD_DIR, build-asan/; skipped with
#      NATTER_SKIP_SANITIZERS=1);
#   4. the protocol, server, core and cli tests under valgrind's leak check,
#      on the build of run 1 (skipped with NATTER_SKIP_VALGRIND=1).
# With arguments (test names, meson test options), only run 1, with them.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. build-aux/deps.sh
natter_install_deps || exit 1

build=${NATTER_BUILD_DIR:-build}
fuzz_build=${NATTER_FUZZ_BUILD_DIR:-build-fuzz}
logs=()

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=debugoptimized -Dwerror=true || exit 1
fi
meson compile -C "$build" || exit 1
meson test -C "$build" --print-errorlogs --num-processes 2 "$@"
logs+=("$build/meson-logs/testlog.json")

# The fuzz targets need clang's libFuzzer; they run for a bounded time each.
if command -v clang >/dev/null 2>&1 && [ $# -eq 0 ]; then
  if [ ! -f "$fuzz_build/build.ninja" ]; then
    CC=clang meson setup "$fuzz_build" --buildtype=debugoptimized -Dfuzzing=true \
      -Db_lundef=false -Dapp=disabled || exit 1
  fi
  # Only the fuzz targets (tests/fuzz): they compile the protocol and server
  # sources in themselves, so the rest of this build would go unused (about
  # two thirds of its compile time).
  mapfile -t fuzz_targets < <(meson introspect "$fuzz_build" --targets | python3 -c '
import json, sys
for target in json.load(sys.stdin):
    if target["defined_in"].endswith("/tests/fuzz/meson.build"):
        print(target["name"])')
  [ "${#fuzz_targets[@]}" -gt 0 ] || { echo "no fuzz targets in $fuzz_build" >&2; exit 1; }
  meson compile -C "$fuzz_build" "${fuzz_targets[@]}" || exit 1
  # Each target is one process on one core: two at a time.
  meson test -C "$fuzz_build" --no-rebuild --suite fuzz --print-errorlogs --num-processes 2
  logs+=("$fuzz_build/meson-logs/testlog.json")
fi

# The whole suite under ASan + UBSan, app included. LeakSanitizer is on;
# tests/natter-server-lsan.supp and natter-app-lsan.supp hold the only
# suppressions, all third-party, each explained. tests/meson.build sets
# ASAN_OPTIONS (slow unwinder, so those suppressions match whole stacks);
# UBSan stops at the first error. Sanitized code runs 2-5x slower: meson's
# timeouts are tripled and NATTER_TEST_TIME_SCALE stretches the pace of the
# fault-injection tests (tests/test-faults.c) to match.
# Left out: the fuzz suite, which has its own build (run 2), and the
# acceptance programs that run the same tests again on PostgreSQL or on two
# nodes (listed below): the server code they add is the store's PostgreSQL
# backend, which server-http-postgresql and server-store-queries run here,
# and the Redis bus, which server-nodes and server-node-* run here. They
# cost the ASan stage about two minutes that CI does not have.
# Also left out (about 90 s of the stage's wall time): app-screens-de, the
# app-screens program again in German (the same code, other strings);
# bench-smoke, the load generator's own smoke run (not shipped; its client
# loop is ASan's in bench-context-set and bench-epoll); and the liveness and
# fault runs of two nodes on PostgreSQL, whose node code is ASan's in
# server-node-liveness and server-node-faults and whose PostgreSQL store is
# in server-nodes-postgresql.
# And the programs that run no compiled code of Natter's that other ASan
# tests do not run (about 55 s, most of it with one core idle, as they run
# alone): the data suite (files validated, translations, the install
# tree), link-emulator (the emulated link itself), and the checks of
# build-aux/run.sh, cluster.sh and the nginx configuration, which start
# the same server and natter-cli code the server and cli tests run here
# (the demo accounts in server-cli and server-hardening).
# And faults (about 75 s, run alone): its link cuts, server kills and
# restarts go through the outbox, connection and reconnect code that
# outbox, connection, server-node-faults and calls'
# websocket-cut-keeps-media run under ASan; the plain stage runs it. And
# cli-call (about 17 s, run alone): natter-cli's call and answer commands
# are ASan's in call-over-link, the call in calls. And interop-chromium
# (about 36 s, run alone; CI took 40 min 10 s on 2026-12-08): Chromium is
# not instrumented, and Natter's side of it is natter-cli's call and
# answer over the same core signalling and webrtcbin code that
# call-over-link and calls run under ASan; the plain stage runs it.
asan_skip=(link-emulator run-sh-app run-sh-shell cluster-sh deploy-nginx faults cli-call interop-chromium
  server-ws-postgresql server-chat-postgresql server-calls-postgresql
  server-cli-postgresql
  server-ws-two-nodes server-chat-two-nodes server-calls-two-nodes
  server-attachments-two-nodes server-limits-two-nodes server-hardening-ws-two-nodes
  server-hardening-two-nodes server-http-two-nodes
  app-screens-de bench-smoke
  server-node-liveness-postgresql server-node-faults-postgresql)
if [ $# -eq 0 ] && [ "${NATTER_SKIP_SANITIZERS:-0}" != 1 ]; then
  asan_build=${NATTER_ASAN_BUILD_DIR:-build-asan}
  if [ ! -f "$asan_build/build.ninja" ]; then
    meson setup "$asan_build" --buildtype=debug -Db_sanitize=address,undefined \
      -Db_lundef=false || exit 1
  elif [ "$(meson introspect --buildoptions "$asan_build" | python3 -c \
    'import json, sys; print(*[o["value"] for o in json.load(sys.stdin) if o["name"] == "app"])')" = disabled ]; then
    # Build directories from before the app joined this run.
    meson configure "$asan_build" -Dapp=auto || exit 1
  fi
  meson compile -C "$asan_build" || exit 1
  mapfile -t asan_tests < <(meson test -C "$asan_build" --list 2>/dev/null | python3 -c '
import sys
skip = set(sys.argv[1].split())
for line in sys.stdin:
    if " / " not in line:
        continue
    suite, name = line.strip().split(" / ", 1)
    if suite.split(":")[-1] not in ("fuzz", "data") and name not in skip:
        print(name)' "${asan_skip[*]}")
  # GSK_RENDERER=cairo: with GL, Mesa's llvmpipe registers its JIT code
  # with libgcc's unwinder, which allocates while holding its lock; ASan's
  # full unwinder (fast_unwind_on_malloc=0) then takes that lock again
  # from the malloc hook and the app tests hang.
  GSK_RENDERER=cairo NATTER_TEST_TIME_SCALE=${NATTER_TEST_TIME_SCALE:-3} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:abort_on_error=1} \
    meson test -C "$asan_build" --print-errorlogs --num-processes 2 --timeout-multiplier 3 \
    "${asan_tests[@]}"
  logs+=("$asan_build/meson-logs/testlog.json")
fi

# valgrind --leak-check=full over the protocol, server, core and cli tests
# on the plain build: a definite leak fails the test. --trace-children
# follows the natter-server and natter-cli processes the tests start, so
# their leaks count too. tests/natter-valgrind.supp holds the third-party
# suppressions besides GLib's own file. The services the multi-node tests
# start (redis-server, PostgreSQL) are not ours: they run untraced.
valgrind_suites=(protocol server server-hub core cli)
# Left out: outbox, whose random link cuts under 300 messages a side with
# the test's own 5 s deadlines cannot run at valgrind's pace; its code paths
# are those of client-chat and connection, which run here.
# The PostgreSQL runs of the hub and CLI acceptance tests too: the same
# tests run here on SQLite, and the PostgreSQL code they add (the store's
# backend) is valgrind's in server-http-postgresql and
# server-store-queries; six more at valgrind's pace would cost the CI
# minutes it does not have. Left out too: the acceptance suites on two
# nodes (*-two-nodes), about 230 s each under valgrind against 5-15 s
# plain, for server code that valgrind already sees in their one-node runs
# and in server-nodes and server-node-*. And server-cli (51 s under
# valgrind): natter-cli's code is valgrind's in the cli test, the server's
# in the server tests. And server-node-liveness (44 s): the node code it
# runs (heartbeats, a dead node's calls claimed once, a restart) is
# valgrind's in redis-nodes and server-nodes, and ASan's in
# server-node-liveness itself. And network-monitor (43 s): the reconnects
# it drives are valgrind's in connection and client-chat, and its handling
# of network changes is ASan's in network-monitor itself.
valgrind_skip=(outbox server-cli server-node-liveness network-monitor server-ws-postgresql server-chat-postgresql server-calls-postgresql
  server-cli-postgresql server-nodes-postgresql server-node-liveness-postgresql
  server-node-faults-postgresql
  server-ws-two-nodes server-chat-two-nodes server-calls-two-nodes
  server-attachments-two-nodes server-limits-two-nodes server-hardening-ws-two-nodes
  server-hardening-two-nodes server-http-two-nodes)
if [ $# -eq 0 ] && [ "${NATTER_SKIP_VALGRIND:-0}" != 1 ] && command -v valgrind >/dev/null 2>&1; then
  mapfile -t valgrind_tests < <(meson test -C "$build" --list 2>/dev/null | python3 -c '
import sys
suites, skip = set(sys.argv[1].split()), set(sys.argv[2].split())
for line in sys.stdin:
    if " / " not in line:
        continue
    suite, name = line.strip().split(" / ", 1)
    if suite.split(":")[-1] in suites and name not in skip:
        print(name)' "${valgrind_suites[*]}" "${valgrind_skip[*]}")
  glib_supp=$(pkg-config --variable=prefix glib-2.0)/share/glib-2.0/valgrind/glib.supp
  vg=(valgrind --quiet --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --error-exitcode=1 --trace-children=yes
    --num-callers=20 --suppressions="$top/tests/natter-valgrind.supp"
    --trace-children-skip='*/redis-server,*/initdb,*/postgres')
  [ -f "$glib_supp" ] && vg+=(--suppressions="$glib_supp")
  # 20 callers, not 40: memcheck records a stack for every allocation, and
  # the deeper half of it cost a fifth of the stage's CPU (server-http: 98
  # against 76 s of user time with 40 and 16). Ours match within 7 frames,
  # GLib's file is written for valgrind's default of 12; rerun a failing
  # test with more callers to see its whole stack.
  # A 19 MiB argon2id hash takes seconds under valgrind: the servers use
  # test parameters (src/server/natter-password.c). GLib's libproxy resolver
  # throws C++ exceptions, and libunwind probes memory while unwinding them
  # in ways memcheck reports as invalid reads; the tests only talk to
  # 127.0.0.1, which no proxy serves, so GIO's dummy resolver stands in.
  GIO_USE_PROXY_RESOLVER=dummy NATTER_TEST_INSECURE_PASSWORD_HASH=1 NATTER_TEST_TIME_SCALE=${NATTER_TEST_TIME_SCALE:-10} \
    meson test -C "$build" --print-errorlogs --num-processes 2 --timeout-multiplier 10 \
    --wrap="${vg[*]}" "${valgrind_tests[@]}"
  # meson names the log of a wrapped run after the wrapper.
  logs+=("$build/meson-logs/testlog-valgrind.json")
fi

python3 build-aux/test-summary.py "${logs[@]}"
