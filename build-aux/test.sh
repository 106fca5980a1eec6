#!/usr/bin/env bash
# Builds Natter and runs the whole test suite. Ends with "N passed, N failed".
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
  meson compile -C "$fuzz_build" || exit 1
  meson test -C "$fuzz_build" --suite fuzz --print-errorlogs --num-processes 1
  logs+=("$fuzz_build/meson-logs/testlog.json")
fi

# AddressSanitizer + UndefinedBehaviorSanitizer over the tests that are clean
# under them today. LeakSanitizer needs the slow unwinder for the
# third-party suppressions in tests/*.supp to match whole stacks.
sanitized_tests=(
  json protocol-frames http-body protocol-bad-input
  server-cli server-http server-ws server-chat server-limits server-calls
  store connection client-chat cli
)
if [ $# -eq 0 ] && [ "${NATTER_SKIP_SANITIZERS:-0}" != 1 ]; then
  asan_build=${NATTER_ASAN_BUILD_DIR:-build-asan}
  if [ ! -f "$asan_build/build.ninja" ]; then
    meson setup "$asan_build" --buildtype=debug -Db_sanitize=address,undefined \
      -Db_lundef=false -Dapp=disabled || exit 1
  fi
  meson compile -C "$asan_build" || exit 1
  ASAN_OPTIONS=${ASAN_OPTIONS:-fast_unwind_on_malloc=0:detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    meson test -C "$asan_build" --print-errorlogs --num-processes 2 "${sanitized_tests[@]}"
  logs+=("$asan_build/meson-logs/testlog.json")
fi

python3 build-aux/test-summary.py "${logs[@]}"
