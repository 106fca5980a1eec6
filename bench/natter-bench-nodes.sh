#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Runs the same natter-bench chat load on three set-ups, on loopback:
#   sqlite  one natter-server on SQLite (the embedded default)
#   pg1     one node on PostgreSQL + Redis
#   pg2     two nodes on PostgreSQL + Redis (clients spread over both, half
#           the messages to a client on the other node)
# Each set-up gets a fresh database (and a fresh Redis); redis-server and a
# throwaway PostgreSQL (initdb in a temporary folder, no fsync, as the user
# postgres through runuser when run as root) start the way
# build-aux/cluster.sh starts them. Prints natter-bench's report of each run
# and, at the end, one Markdown table row per set-up with the load average
# (1 min) before and after it.
#
# Usage: bench/natter-bench-nodes.sh [--clients N] [--rate R] [--duration S]
#                                    [--setups sqlite,pg1,pg2]
# Environment: NATTER_SERVER (the natter-server to run; default
# build/src/server/natter-server), NATTER_BENCH (default
# build/bench/natter-bench), NATTER_POSTGRES_BIN_DIR (default
# /usr/lib/postgresql/15/bin).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

clients=500
rate=1000
duration=10
setups=sqlite,pg1,pg2
while [ $# -gt 0 ]; do
  case "$1" in
  --clients) clients=${2:-}; shift 2 ;;
  --rate) rate=${2:-}; shift 2 ;;
  --duration) duration=${2:-}; shift 2 ;;
  --setups) setups=${2:-}; shift 2 ;;
  -h | --help) sed -n '3,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "natter-bench-nodes.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

server_bin=${NATTER_SERVER:-$top/build/src/server/natter-server}
bench_bin=${NATTER_BENCH:-$top/build/bench/natter-bench}
pg_bin=${NATTER_POSTGRES_BIN_DIR:-/usr/lib/postgresql/15/bin}
for program in "$server_bin" "$bench_bin"; do
  [ -x "$program" ] || { echo "natter-bench-nodes.sh: $program is missing (build first)" >&2; exit 1; }
done
if [[ "$setups" == *pg* ]]; then
  for program in redis-server redis-cli "$pg_bin/initdb" "$pg_bin/pg_ctl"; do
    command -v "$program" >/dev/null || { echo "natter-bench-nodes.sh: $program is missing" >&2; exit 1; }
  done
fi

state=$(mktemp -d /tmp/natter-bench-nodes-XXXXXX)
[ "$(id -u)" -eq 0 ] && chmod 755 "$state"

free_port ()
{
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

as_postgres ()
{
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pids=()
pg_data=
stop_all ()
{
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null
  done
  pids=()
  if [ -n "$pg_data" ]; then
    as_postgres "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1
    pg_data=
  fi
}
cleanup ()
{
  trap - EXIT INT TERM
  stop_all
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The limits a public server has against one address would stop the bench
# (every client comes from 127.0.0.1), not measure it.
server_options=(--port 0 --chat-rate 1000000 --chat-burst 1000000 --frame-rate 1000000
  --frame-burst 1000000 --registration-burst 1000000 --login-burst 1000000
  --max-connections-per-address 1000000 --max-hashes-waiting 1000000)

# start_node NAME DB [EXTRA...]: starts a node, sets node_url and node_pid.
start_node ()
{
  local name=$1 db=$2
  shift 2
  local out="$state/$name.out"
  "$server_bin" "${server_options[@]}" --db "$db" "$@" >"$out" 2>"$state/$name.log" &
  node_pid=$!
  pids+=("$node_pid")
  for _ in $(seq 400); do
    grep -q '^listening on ' "$out" 2>/dev/null && break
    kill -0 "$node_pid" 2>/dev/null || { echo "$name did not start:" >&2; tail -5 "$state/$name.log" >&2; return 1; }
    sleep 0.05
  done
  node_url=$(sed -n 's/^listening on //p' "$out")
  [ -n "$node_url" ] || { echo "$name did not start: $state/$name.log" >&2; return 1; }
}

start_redis ()
{
  local port
  port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --logfile "$state/redis.log" &
  redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 100); do
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
    kill -0 "$redis_pid" 2>/dev/null || { echo "redis-server did not start" >&2; return 1; }
    sleep 0.1
  done
  redis_uri="redis://127.0.0.1:$port"
}

start_postgres ()
{
  local port dir="$state/postgres-$1"
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  as_postgres "$pg_bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 \
    --locale=C >"$state/initdb.log" 2>&1 || { echo "initdb failed:" >&2; tail -5 "$state/initdb.log" >&2; return 1; }
  port=$(free_port)
  as_postgres "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
    { echo "PostgreSQL did not start: $dir/postgres.log" >&2; return 1; }
  pg_data="$dir/data"
  postgres_pid=$(head -1 "$pg_data/postmaster.pid")
  db_uri="postgresql://postgres@127.0.0.1:$port/postgres"
}

rows=()
run_setup ()
{
  local setup=$1 bench_args=() load_before load_after
  case "$setup" in
  sqlite)
    start_node sqlite "$state/sqlite.db" || return 1
    bench_args+=(--server "$node_url" --server-pid "$node_pid")
    ;;
  pg1 | pg2)
    start_redis || return 1
    start_postgres "$setup" || return 1
    local n=1
    [ "$setup" = pg2 ] && n=2
    for i in $(seq "$n"); do
      start_node "$setup-node$i" "$db_uri" --redis "$redis_uri" --node-id "node$i" || return 1
      bench_args+=(--server "$node_url" --server-pid "$node_pid")
    done
    bench_args+=(--redis-pid "$redis_pid" --postgres-pid "$postgres_pid")
    ;;
  *) echo "natter-bench-nodes.sh: unknown set-up $setup" >&2; return 1 ;;
  esac

  echo "== $setup: $clients clients, $rate msg/s, $duration s"
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  "$bench_bin" chat "${bench_args[@]}" --clients "$clients" --rate "$rate" \
    --duration "$duration" --json >"$state/$setup.json"
  echo "natter-bench chat exit $?"
  load_after=$(cut -d' ' -f1 /proc/loadavg)
  python3 -m json.tool "$state/$setup.json"
  rows+=("$(python3 - "$setup" "$state/$setup.json" "$load_before" "$load_after" <<'EOF'
import json, sys
setup, path, before, after = sys.argv[1:]
r = json.load(open(path))
def cpu(key):
    value = r.get(key + "_cpu_us_per_message")
    return "%.0f" % value if value is not None else "–"
nodes = " / ".join(cpu("node_%d" % i) for i in range(1, 3) if "node_%d_cpu_us_per_message" % i in r) \
    or cpu("server")
if "latency_same_node_p50_ms" in r:
    same = "%.1f / %.1f" % (r["latency_same_node_p50_ms"], r["latency_same_node_p99_ms"])
    cross = "%.1f / %.1f" % (r["latency_cross_node_p50_ms"], r["latency_cross_node_p99_ms"])
else:
    same = "%.1f / %.1f" % (r["latency_p50_ms"], r["latency_p99_ms"])
    cross = "–"
print("| %s | %d | %.0f | %s | %s | %s | %s | %s | %d / %d / %d | %s → %s |" % (
    setup, r["clients_connected"], r["delivered_per_s"], same, cross, nodes, cpu("redis"),
    cpu("postgres"), r["lost"], r["duplicated"], r["gaps"], before, after))
EOF
)")
  stop_all
}

for setup in ${setups//,/ }; do
  run_setup "$setup" || { stop_all; echo "natter-bench-nodes.sh: $setup failed (logs in $state)" >&2; }
done

echo
echo "| set-up | clients | delivered/s | same-node p50 / p99 ms | cross-node p50 / p99 ms | CPU/msg per node µs | Redis CPU/msg µs | PostgreSQL CPU/msg µs | lost / dup / gaps | load 1 min before → after |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
