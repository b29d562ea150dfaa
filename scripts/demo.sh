#!/usr/bin/env bash
# The main job (interim): demonstrate the iSNS codec against real peers on loopback.
# Grows into the full `bcm demo` later.
#
# Starts open-isns `isnsd` and a `tgtd` target that registers itself with it (free ports,
# scratch directory), creates a Discovery Domain with isnsadm, then runs the isns-proto
# example `isns_walk`: a plain blocking TCP client built on the crate's builders and views,
# which registers a control node and walks the whole database with DevGetNext, printing
# every decoded attribute. The peers are stopped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-peers.sh

DIR="$(mktemp -d "${TMPDIR:-/tmp}/bcm-demo.XXXXXX")"
trap 'bash scripts/peers/stop.sh "$DIR"; rm -rf "$DIR"' EXIT

# Reads a start script's KEY=VALUE lines (values may contain spaces) into variables.
load_vars() {
    local line
    while IFS= read -r line; do
        [[ "$line" == *=* ]] && printf -v "${line%%=*}" '%s' "${line#*=}"
    done <<< "$1"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cargo build --quiet --release -p isns-proto --example isns_walk

ISNSD_PORT="$(free_port)"
load_vars "$(ISNSD_PORT="$ISNSD_PORT" ISNSD_DEBUG="" bash scripts/peers/start-isnsd.sh "$DIR")"
echo "demo: isnsd (open-isns) listening on 127.0.0.1:$ISNSD_PORT"

TGTD_PORT="$(free_port)"
load_vars "$(TGTD_PORT="$TGTD_PORT" TGTD_ISNS="127.0.0.1:$ISNSD_PORT" \
    TGTD_TARGETS="iqn.2000-01.demo.tgt:disk1 iqn.2000-01.demo.tgt:disk2" \
    bash scripts/peers/start-tgtd.sh "$DIR")"
echo "demo: tgtd serving $TGTD_TARGETS on 127.0.0.1:$TGTD_PORT, registered with isnsd"

# Wait until tgtd's registrations are visible (it registers asynchronously).
isnsadm -c "$ISNSADM_CONF" --register "control=$ISNSADM_SOURCE" >/dev/null
for _ in $(seq 1 50); do
    isnsadm -c "$ISNSADM_CONF" --list nodes 2>/dev/null | grep -q "demo.tgt:disk2" && break
    sleep 0.1
done
isnsadm -c "$ISNSADM_CONF" --dd-register dd-name=demo-boot-dd \
    member-name=iqn.2000-01.demo.tgt:disk1 member-name=iqn.2000-01.demo.host:server1 >/dev/null
echo "demo: isnsadm created Discovery Domain demo-boot-dd"
echo

./target/release/examples/isns_walk "127.0.0.1:$ISNSD_PORT" iqn.2000-01.demo:bcm-manager
