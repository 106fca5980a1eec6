#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Runs COMMAND with two network namespaces joined by link-emulator, and
# takes everything down afterwards (also on Ctrl-C or an error).
#
#   link-emulator.sh [--emulator PATH] [--delay-ms D] [--loss PCT]
#                    [--rate-kbit K] [--queue-ms Q] [--seed S]
#                    [--stats-interval-ms MS]
#                    [--stats FILE] -- COMMAND [ARG…]
#
#          namespace A                                   namespace B
#   10.99.0.1 nlink ══ link-emulator (delay, loss, rate) ══ nlink 10.99.0.2
#   10.98.N.2 veth ─┐                                   ┌─ veth 10.98.N.6
#                   └── 10.98.N.1   this namespace  10.98.N.5 ──┘
#
# Media between A and B can only cross the emulated link: each veth reaches
# this namespace alone (no forwarding, no default routes), so a server
# listening here on 0.0.0.0 is reachable from both sides, unimpaired, and
# ICE finds no other path between them.
#
# COMMAND runs here (not inside a namespace) with:
#   NATTER_LINK_NETNS_A, NATTER_LINK_NETNS_B   the namespaces (ip netns exec …)
#   NATTER_LINK_SERVER_A, NATTER_LINK_SERVER_B this namespace's address as seen
#                                              from A and from B
#   NATTER_LINK_ADDRESS_A, NATTER_LINK_ADDRESS_B  the emulated link's ends
#   NATTER_LINK_STATS                          the emulator's JSON lines
#
# Exits with COMMAND's status; 77 (meson's "skip") when the namespaces or
# the TUN devices cannot be made (not root, no CAP_NET_ADMIN, no netns).

set -u

emulator=
stats=
own_stats=
emulator_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --emulator) emulator=$2; shift 2 ;;
        --stats) stats=$2; shift 2 ;;
        --delay-ms|--loss|--rate-kbit|--queue-ms|--seed|--stats-interval-ms)
            emulator_args+=("$1" "$2"); shift 2 ;;
        --) shift; break ;;
        *) echo "link-emulator.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ $# -eq 0 ]; then
    echo "usage: link-emulator.sh [options] -- COMMAND [ARG…]" >&2
    exit 2
fi
if [ -z "$emulator" ]; then
    emulator=$(dirname "$(readlink -f "$0")")/link-emulator
fi
if [ ! -x "$emulator" ]; then
    echo "link-emulator.sh: no emulator at $emulator (--emulator PATH)" >&2
    exit 2
fi

# Names unique to this run (interface names: at most 15 characters).
tag=nl$$
ns_a=${tag}a
ns_b=${tag}b
veth_a=${tag}ha
veth_b=${tag}hb
emulator_pid=

cleanup() {
    trap - EXIT INT TERM
    if [ -n "$emulator_pid" ]; then
        kill -TERM "$emulator_pid" 2>/dev/null
        wait "$emulator_pid" 2>/dev/null
    fi
    ip netns del "$ns_a" 2>/dev/null
    ip netns del "$ns_b" 2>/dev/null
    # Deleting a namespace deletes its veth end and with it ours; be sure.
    ip link del "$veth_a" 2>/dev/null
    ip link del "$veth_b" 2>/dev/null
    [ -n "$own_stats" ] && rm -f "$own_stats"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

skip() {
    echo "link-emulator.sh: SKIP: $*" >&2
    exit 77
}

# Leftovers of runs that were killed outright (SIGKILL runs no trap): their
# namespaces are named after a process that no longer exists.
for stale in $(ip netns list 2>/dev/null | sed -n 's/^\(nl[0-9]*\)[ab]\b.*/\1/p' | sort -u); do
    if ! kill -0 "${stale#nl}" 2>/dev/null; then
        ip netns del "${stale}a" 2>/dev/null
        ip netns del "${stale}b" 2>/dev/null
        ip link del "${stale}ha" 2>/dev/null
        ip link del "${stale}hb" 2>/dev/null
    fi
done

if ! ip netns add "$ns_a" 2>/dev/null; then
    skip "cannot create a network namespace (needs root or CAP_SYS_ADMIN + CAP_NET_ADMIN)"
fi
ip netns add "$ns_b" || skip "cannot create a second network namespace"

# A free 10.98.N.0/29 for the two veth pairs, chosen under a lock so that
# concurrent runs never share one.
lock=/run/lock/natter-link-emulator.lock
[ -d /run/lock ] || lock=/tmp/natter-link-emulator.lock
exec 9>"$lock"
flock -w 10 9
subnet=
for n in $(seq 1 250); do
    if ! ip -4 -o addr show | grep -q " 10\.98\.$n\."; then
        subnet=10.98.$n
        break
    fi
done
[ -n "$subnet" ] || skip "no free 10.98.N.0/29 subnet for the veth pairs"
ip link add "$veth_a" type veth peer name ga netns "$ns_a" || skip "cannot create a veth pair"
ip link add "$veth_b" type veth peer name gb netns "$ns_b" || skip "cannot create a veth pair"
ip addr add "$subnet.1/30" dev "$veth_a"
ip addr add "$subnet.5/30" dev "$veth_b"
ip link set "$veth_a" up
ip link set "$veth_b" up
flock -u 9
exec 9>&-
ip -n "$ns_a" addr add "$subnet.2/30" dev ga
ip -n "$ns_b" addr add "$subnet.6/30" dev gb
for ns in "$ns_a" "$ns_b"; do
    ip -n "$ns" link set lo up
    # IPv4 only: the kernel's IPv6 chatter (neighbour discovery, MLD) on the
    # TUN devices would draw from the seeded loss and shift its pattern.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 2>/dev/null
done
ip -n "$ns_a" link set ga up
ip -n "$ns_b" link set gb up

if [ -z "$stats" ]; then
    own_stats=$(mktemp /tmp/natter-link-stats.XXXXXX)
    stats=$own_stats
fi
"$emulator" --netns-a "$ns_a" --netns-b "$ns_b" --tun-a nlink --tun-b nlink \
    --address-a 10.99.0.1 --address-b 10.99.0.2 --prefix 24 "${emulator_args[@]}" \
    >"$stats" &
emulator_pid=$!
for _ in $(seq 1 100); do
    grep -q '"event":"ready"' "$stats" 2>/dev/null && break
    if ! kill -0 "$emulator_pid" 2>/dev/null; then
        emulator_pid=
        skip "link-emulator could not make its TUN devices"
    fi
    sleep 0.05
done
grep -q '"event":"ready"' "$stats" || { echo "link-emulator.sh: emulator not ready" >&2; exit 1; }

export NATTER_LINK_NETNS_A=$ns_a NATTER_LINK_NETNS_B=$ns_b
export NATTER_LINK_SERVER_A=$subnet.1 NATTER_LINK_SERVER_B=$subnet.5
export NATTER_LINK_ADDRESS_A=10.99.0.1 NATTER_LINK_ADDRESS_B=10.99.0.2
export NATTER_LINK_STATS=$stats

"$@"
exit $?
