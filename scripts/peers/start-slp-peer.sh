#!/usr/bin/env bash
# Start our pyslp-driven SLPv2 peer (slp-peer.py serve) on UDP.
#
# Usage: start-slp-peer.sh DIR
# Env:   SLP_PEER_PORT (427; tests pass a free port on the host, 427 only in a netns)
#        SLP_PEER_BIND (127.0.0.1)  SLP_PEER_SCOPE (DEFAULT)
#        SLP_PEER_REGISTER  registrations, one per line: url|service-type|attr-list|lifetime
#        SLP_PEER_MULTICAST group to join as well (empty: unicast only)
#        SLP_PEER_MULTICAST_IF interface address for the join (127.0.0.1)
#        PYTHON (python3)
# Prints SLP_PEER_PID SLP_PEER_PORT SLP_PEER_BIND SLP_PEER_LOG SLP_PEER_START_MS.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

DIR="$(peer_dir "${1:-}")"
PORT="${SLP_PEER_PORT:-427}"
BIND="${SLP_PEER_BIND:-127.0.0.1}"
PY="${PYTHON:-python3}"
if udp_bound "$PORT" && [ -z "${SLP_PEER_MULTICAST:-}" ]; then
    echo "start-slp-peer: UDP port $PORT is taken" >&2; exit 1
fi

ARGS=(serve --port "$PORT" --bind "$BIND" --scope "${SLP_PEER_SCOPE:-DEFAULT}")
while IFS= read -r line; do
    [ -n "$line" ] && ARGS+=(--register "$line")
done <<< "${SLP_PEER_REGISTER:-}"
if [ -n "${SLP_PEER_MULTICAST:-}" ]; then
    ARGS+=(--multicast-group "$SLP_PEER_MULTICAST" --multicast-if "${SLP_PEER_MULTICAST_IF:-127.0.0.1}")
fi

ready() { grep -q '^READY' "$DIR/slp-peer.log" 2>/dev/null; }
T0="$(now_ms)"
setsid "$PY" -u "$HERE/slp-peer.py" "${ARGS[@]}" </dev/null >>"$DIR/slp-peer.log" 2>&1 &
PID=$!
echo "$PID" > "$DIR/slp-peer.pid"
await "$PID" 10 "$DIR/slp-peer.log" ready
cat <<OUT
SLP_PEER_PID=$PID
SLP_PEER_PORT=$PORT
SLP_PEER_BIND=$BIND
SLP_PEER_LOG=$DIR/slp-peer.log
SLP_PEER_START_MS=$(( $(now_ms) - T0 ))
OUT
