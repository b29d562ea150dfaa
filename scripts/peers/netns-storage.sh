#!/usr/bin/env bash
# Network namespaces for N storage systems, one address each, all reachable from the root
# namespace: the topology of a data center with several arrays, on one machine.
#
# Usage: netns-storage.sh up N [OWNER_PID]   creates them, prints KEY=VALUE lines
#        netns-storage.sh down TAG            removes everything `up` made for TAG
#        netns-storage.sh sweep               removes the sets whose owner process is gone
#
# Layout for tag T (1..250, the first free one):
#   bridge bcmfT in the root namespace, address 10.213.T.1/24 (the hub: isnsd, bcm, BMCs
#   and iscsi-inq reach the systems through it);
#   namespace bcmfT-I (I = 1..N) with veth bcmfT-I (root side, on the bridge) and eth0
#   (inside, 10.213.T.(10+I)/24), loopback up, no default route: a system reaches the hub's
#   subnet and nothing else. Nothing is forwarded or NATed: no packet leaves the machine.
# `up` prints NETNS_TAG, NETNS_HUB (hub address), NETNS_NAMES and NETNS_ADDRS (space
# separated, system I first). Requires root (CI runs as root).
# OWNER_PID (default: the caller's parent) is recorded: `sweep`, run by every `up`, removes
# the sets of owners that died without `down` (a test killed by SIGKILL).
set -euo pipefail
STATE=/run/bcm-netns
mkdir -p "$STATE"

down() {
    local t="$1" ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^bcmf$t-[0-9]+$" || true); do
        # Processes still inside (a tgtd whose stop failed) keep nothing alive: the namespace
        # goes away with its last process; its veth end is removed with the root side.
        ip link del "$ns" 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    ip link del "bcmf$t" 2>/dev/null || true
    rm -f "$STATE/$t.owner"
}

sweep() {
    local f t pid
    for f in "$STATE"/*.owner; do
        [ -e "$f" ] || continue
        t="$(basename "$f" .owner)"
        pid="$(tr -dc '0-9' < "$f")"
        if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then down "$t"; fi
    done
}

up() {
    local n="$1" owner="$2" t="" i ns addr names="" addrs=""
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || {
        echo "netns-storage: N must be 1..200" >&2
        exit 2
    }
    exec 9>"$STATE/lock"
    flock 9
    sweep
    for i in $(seq 1 250); do
        if [ ! -e "$STATE/$i.owner" ] && ! ip link show "bcmf$i" >/dev/null 2>&1; then
            t="$i"
            break
        fi
    done
    [ -n "$t" ] || { echo "netns-storage: no free tag" >&2; exit 1; }
    echo "$owner" > "$STATE/$t.owner"
    flock -u 9
    # A failure half-way removes what was made.
    trap 'down "$t"' ERR
    ip link add "bcmf$t" type bridge
    ip addr add "10.213.$t.1/24" dev "bcmf$t"
    ip link set "bcmf$t" up
    for i in $(seq 1 "$n"); do
        ns="bcmf$t-$i"
        addr="10.213.$t.$((10 + i))"
        ip netns add "$ns"
        ip link add "$ns" type veth peer name eth0 netns "$ns"
        ip link set "$ns" master "bcmf$t" up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
        names="${names:+$names }$ns"
        addrs="${addrs:+$addrs }$addr"
    done
    trap - ERR
    # The bridge carries traffic once it and its ports are up (no STP, no forward delay).
    for i in $(seq 1 100); do
        [ "$(cat "/sys/class/net/bcmf$t/operstate")" = up ] && break
        sleep 0.05
    done
    cat <<OUT
NETNS_TAG=$t
NETNS_HUB=10.213.$t.1
NETNS_NAMES="$names"
NETNS_ADDRS="$addrs"
OUT
}

case "${1:-}" in
up) up "${2:?usage: netns-storage.sh up N [OWNER_PID]}" "${3:-$PPID}" ;;
down) down "${2:?usage: netns-storage.sh down TAG}" ;;
sweep)
    exec 9>"$STATE/lock"
    flock 9
    sweep
    ;;
*)
    echo "usage: netns-storage.sh up N [OWNER_PID] | down TAG | sweep" >&2
    exit 2
    ;;
esac
