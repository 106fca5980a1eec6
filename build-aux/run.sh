#!/usr/bin/env bash
# Builds Natter and starts it: a local natter-server with demo accounts, and
# the app signed in as the first demo user (when the app is built).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. build-aux/deps.sh
natter_install_deps || exit 1

build=${NATTER_BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=debugoptimized || exit 1
fi
meson compile -C "$build" || exit 1

echo "Built:"
for program in src/server/natter-server src/cli/natter-cli src/app/natter; do
  if [ -x "$build/$program" ]; then
    echo "  $build/$program"
  fi
done

server="$build/src/server/natter-server"
if [ ! -x "$server" ]; then
  exit 0
fi

state="$build/run"
mkdir -p "$state"
"$server" --port "${NATTER_PORT:-8000}" --db "$state/natter-server.db" --demo &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null' EXIT INT TERM
wait $server_pid
