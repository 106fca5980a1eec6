#!/usr/bin/env bash
# Starts a natter-server cluster on this machine, as several machines would
# run it: one redis-server, a throwaway PostgreSQL (initdb in a temporary
# folder) and N nodes on loopback ports, sharing nothing else. The first node
# creates the demo accounts. Prints each node's URL and commands that chat
# and call across two nodes; Ctrl+C (or SIGTERM) stops everything and removes
# the temporary folder.
#
# Usage: build-aux/cluster.sh [--nodes N]   (default 2)
# Environment: NATTER_BUILD_DIR (default build), NATTER_CLUSTER_DIR (the
# temporary folder; default a new one under /tmp).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

nodes=2
while [ $# -gt 0 ]; do
  case "$1" in
  --nodes) nodes=${2:-}; shift 2 ;;
  --nodes=*) nodes=${1#--nodes=}; shift ;;
  -h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "cluster.sh: unknown argument $1 (usage: cluster.sh [--nodes N])" >&2; exit 2 ;;
  esac
done
if ! [[ "$nodes" =~ ^[0-9]+$ ]] || [ "$nodes" -lt 1 ] || [ "$nodes" -gt 16 ]; then
  echo "cluster.sh: --nodes takes a number from 1 to 16" >&2
  exit 2
fi

. build-aux/deps.sh
natter_install_deps || exit 1

build=${NATTER_BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=debugoptimized || exit 1
fi
meson compile -C "$build" src/server/natter-server:executable src/cli/natter-cli:executable || exit 1
server_bin="$(cd "$build" && pwd)/src/server/natter-server"
cli_bin="$(cd "$build" && pwd)/src/cli/natter-cli"
pg_bin=${NATTER_POSTGRES_BIN_DIR:-/usr/lib/postgresql/15/bin}

state=${NATTER_CLUSTER_DIR:-$(mktemp -d /tmp/natter-cluster-XXXXXX)}
mkdir -p "$state"

free_port ()
{
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PostgreSQL refuses to run as root: as root its folder belongs to the user
# postgres and its commands run through runuser.
as_postgres ()
{
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pids=()
pg_started=0
cleanup ()
{
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  if [ "$pg_started" -eq 1 ]; then
    as_postgres "$pg_bin/pg_ctl" -D "$state/postgres/data" -m fast -w stop >/dev/null 2>&1
  fi
  if [ -z "${NATTER_CLUSTER_DIR:-}" ]; then
    rm -rf "$state"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Redis: routing, presence, calls. Nothing to keep after the cluster stops.
redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
  --logfile "$state/redis.log" &
pids+=($!)
for _ in $(seq 100); do
  redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "redis-server did not start: $state/redis.log" >&2; exit 1; }
  sleep 0.1
done
redis_uri="redis://127.0.0.1:$redis_port"
echo "redis-server: $redis_uri"

# PostgreSQL: the storage every node shares. Throwaway data, so no fsync.
mkdir -p "$state/postgres"
if [ "$(id -u)" -eq 0 ]; then
  # The user postgres must reach its folder through ours.
  chmod o+x "$state"
  chown postgres: "$state/postgres"
fi
if ! as_postgres "$pg_bin/initdb" -D "$state/postgres/data" -U postgres --auth=trust --no-sync \
  -E UTF8 --locale=C >"$state/initdb.log" 2>&1; then
  echo "initdb failed: $state/initdb.log" >&2
  exit 1
fi
pg_port=$(free_port)
if ! as_postgres "$pg_bin/pg_ctl" -D "$state/postgres/data" -l "$state/postgres/postgres.log" -w \
  -o "-p $pg_port -k $state/postgres -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
  echo "PostgreSQL did not start: $state/postgres/postgres.log" >&2
  exit 1
fi
pg_started=1
db_uri="postgresql://postgres@127.0.0.1:$pg_port/postgres"
echo "PostgreSQL: $db_uri"

# The nodes. Each prints one line on stdout once it listens. They share the
# attachments' folder as nodes on several machines would share storage.
urls=()
for i in $(seq "$nodes"); do
  out="$state/node$i.out"
  extra=()
  [ "$i" -eq 1 ] && extra+=(--demo)
  "$server_bin" --port 0 --db "$db_uri" --redis "$redis_uri" --node-id "node$i" \
    --attachments-dir "$state/attachments" "${extra[@]}" >"$out" 2>"$state/node$i.log" &
  pids+=($!)
  for _ in $(seq 200); do
    grep -q '^listening on ' "$out" 2>/dev/null && break
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "node$i did not start: $state/node$i.log" >&2; exit 1; }
    sleep 0.05
  done
  url=$(sed -n 's/^listening on //p' "$out")
  [ -n "$url" ] || { echo "node$i did not start: $state/node$i.log" >&2; exit 1; }
  urls+=("$url")
  echo "node$i: $url (log $state/node$i.log)"
done

second=${urls[$((nodes > 1 ? 1 : 0))]}
cat <<EOF
Demo accounts (password natter-demo) are in node1's log. To chat and call
across two nodes, in two shells:
  export NATTER_TOKEN_STORE=file
  echo natter-demo | XDG_DATA_HOME=$state/selam $cli_bin --server $second login --email selam@demo.natter --password-stdin
  XDG_DATA_HOME=$state/selam NATTER_VIDEO_SRC='videotestsrc is-live=true' NATTER_AUDIO_SRC='audiotestsrc is-live=true' NATTER_AUDIO_SINK=fakesink $cli_bin --server $second answer --auto
and
  export NATTER_TOKEN_STORE=file
  echo natter-demo | XDG_DATA_HOME=$state/abebe $cli_bin --server ${urls[0]} login --email abebe@demo.natter --password-stdin
  XDG_DATA_HOME=$state/abebe $cli_bin --server ${urls[0]} send student:2 'Hello across nodes'
  XDG_DATA_HOME=$state/abebe NATTER_VIDEO_SRC='videotestsrc is-live=true' NATTER_AUDIO_SRC='audiotestsrc is-live=true' NATTER_AUDIO_SINK=fakesink $cli_bin --server ${urls[0]} call student:2 --video --duration 5
Press Ctrl+C to stop the cluster.
EOF
# Until Ctrl+C, or until one of them stops on its own.
wait -n "${pids[@]}"
echo "cluster.sh: a process of the cluster stopped; stopping the rest (logs in $state)" >&2
NATTER_CLUSTER_DIR=$state
exit 1
