#!/usr/bin/env bash
# Start bmc-sim.py (pyghmi 1.6.19 BMC that stores boot options 0,3,4,5,6,7) on 127.0.0.1.
#
# Usage: start-bmc-sim.sh DIR
# Env:   BMC_PORT (9623)  BMC_USER (admin)  BMC_PASSWORD (password)
#        BMC_MAILBOX_BLOCKS (16)  BMC_GUID (system GUID, text form)  PYTHON (python3)
# Prints BMC_SIM_PID BMC_SIM_PORT BMC_SIM_USER BMC_SIM_PASSWORD BMC_SIM_STATE BMC_SIM_LOG
#        BMC_SIM_START_MS. Only RMCP+ cipher suite 3 (pyghmi answers every Open Session
#        with suite 3's algorithms).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

DIR="$(peer_dir "${1:-}")"
PORT="${BMC_PORT:-9623}"
USER_NAME="${BMC_USER:-admin}"
PASS="${BMC_PASSWORD:-password}"
STATE="$DIR/bmc-sim.json"
if udp_bound "$PORT"; then echo "start-bmc-sim: UDP port $PORT is taken" >&2; exit 1; fi

T0="$(now_ms)"
setsid "${PYTHON:-python3}" -u "$HERE/bmc-sim.py" --port "$PORT" --user "$USER_NAME" \
    --password "$PASS" --state "$STATE" --mailbox-blocks "${BMC_MAILBOX_BLOCKS:-16}" \
    ${BMC_GUID:+--guid "$BMC_GUID"} \
    </dev/null >>"$DIR/bmc-sim.log" 2>&1 &
PID=$!
echo "$PID" > "$DIR/bmc-sim.pid"
await "$PID" 20 "$DIR/bmc-sim.log" grep -q 'listening' "$DIR/bmc-sim.log"
await "$PID" 5 "$DIR/bmc-sim.log" udp_bound "$PORT"
cat <<OUT
BMC_SIM_PID=$PID
BMC_SIM_PORT=$PORT
BMC_SIM_USER=$USER_NAME
BMC_SIM_PASSWORD=$PASS
BMC_SIM_STATE=$STATE
BMC_SIM_LOG=$DIR/bmc-sim.log
BMC_SIM_START_MS=$(( $(now_ms) - T0 ))
OUT
