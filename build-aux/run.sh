#!/usr/bin/env bash
# Builds Natter and starts it for a newcomer: a local natter-server with demo
# accounts, a second demo user (Selam) on natter-cli who answers calls, and
# the app signed in as the first demo user (Abebe).
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

server_bin="$build/src/server/natter-server"
cli_bin="$build/src/cli/natter-cli"
app_bin="$build/src/app/natter"
port=${NATTER_PORT:-8000}
state=${NATTER_RUN_DIR:-$build/run}
mkdir -p "$state"

pids=()
cleanup ()
{
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The server prints one line on stdout once it listens; demo accounts go to stderr.
rm -f "$state/server.out"
"$server_bin" --port "$port" --db "$state/natter-server.db" --demo >"$state/server.out" &
pids+=($!)
for _ in $(seq 100); do
  grep -q '^listening on ' "$state/server.out" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "natter-server did not start" >&2; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$state/server.out")
[ -n "$url" ] || { echo "natter-server did not start" >&2; exit 1; }
echo "natter-server: $url (database $state/natter-server.db)"

# Each demo user gets a data folder of their own, as two machines would.
export NATTER_TOKEN_STORE=file
sign_in ()
{
  echo natter-demo | XDG_DATA_HOME="$state/$1" "$cli_bin" --server "$url" \
    login --email "$1@demo.natter" --password-stdin >/dev/null
}
sign_in selam || exit 1
sign_in abebe || exit 1

# Selam has no camera or microphone here: a test pattern and ticks stand in.
XDG_DATA_HOME="$state/selam" NATTER_VIDEO_SRC="videotestsrc is-live=true pattern=ball" \
  NATTER_AUDIO_SRC="audiotestsrc is-live=true wave=ticks" NATTER_AUDIO_SINK=fakesink \
  "$cli_bin" --server "$url" answer --auto --count 1000 \
  >"$state/selam-answers.log" 2>&1 &
pids+=($!)
echo "Selam Tesfaye (student) answers calls through natter-cli: $state/selam-answers.log"

# A machine without sound or camera (a VM, a container) would fail Abebe's
# calls: test sources stand in, as for Selam, and the commands printed below
# carry them too. Real devices are used if any.
runtime=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}
media_env=()
if [ ! -d /dev/snd ] && [ ! -S "$runtime/pulse/native" ] && [ ! -S "$runtime/pipewire-0" ] &&
  [ -z "${PULSE_SERVER:-}" ]; then
  echo "No sound devices: Abebe's calls send silence and play into nothing"
  media_env+=("NATTER_AUDIO_SRC=${NATTER_AUDIO_SRC:-audiotestsrc is-live=true wave=silence}")
  media_env+=("NATTER_AUDIO_SINK=${NATTER_AUDIO_SINK:-fakesink}")
fi
if ! ls /dev/video* >/dev/null 2>&1; then
  echo "No camera: a test pattern stands in for Abebe's"
  media_env+=("NATTER_VIDEO_SRC=${NATTER_VIDEO_SRC:-videotestsrc is-live=true}")
fi

if [ -x "$app_bin" ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
  echo "Opening Natter as Abebe Kebede (tutor). Demo password for every account: natter-demo"
  # In the background and waited for, so that SIGTERM reaches the trap at
  # once (bash runs traps only after a foreground child ends) and stops
  # every child, the app included.
  env "${media_env[@]}" XDG_DATA_HOME="$state/abebe" GSETTINGS_BACKEND=${GSETTINGS_BACKEND:-memory} \
    GSETTINGS_SCHEMA_DIR="$build/data" \
    NATTER_CALL_MEDIA_HELPER="$build/src/call-media/natter-call-media" "$app_bin" --server "$url" &
  pids+=($!)
  wait "${pids[-1]}"
else
  # Quoted so that each printed line works when pasted into a shell.
  prefix="XDG_DATA_HOME=$state/abebe NATTER_TOKEN_STORE=file"
  for assignment in "${media_env[@]}"; do
    prefix+=" ${assignment%%=*}=$(printf '%q' "${assignment#*=}")"
  done
  echo "No display (or no app built): chat from a shell instead, for example"
  echo "  $prefix $cli_bin --server $url send student:2 'Hello'"
  echo "  $prefix $cli_bin --server $url call student:2 --video --duration 5"
  echo "Press Ctrl+C to stop the server."
  wait "${pids[0]}"
fi
