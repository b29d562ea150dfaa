#!/usr/bin/env bash
# Start our BMC/IMM emulator `imm-sim` (one process, one or many BMCs) on 127.0.0.1.
#
# Usage: start-imm-sim.sh DIR
# Env:   IMM_SIM_BMCS ("127.0.0.1:9001"; items `ip:port` or `ip:first-last`, separated by
#        spaces or commas)  IMM_SIM_USER (admin)  IMM_SIM_PASSWORD (password; handed over
#        in the environment, never on the command line)  IMM_SIM_STATE_DIR (DIR/imm-sim/state)
#        IMM_SIM_RENDER_DIR (DIR/imm-sim/render)  IMM_SIM_ARGS (extra flags, word-split,
#        e.g. "--suites 17 --users-file F --log-format json")  IMM_SIM_BIN (the binary;
#        default target/debug/imm-sim of this repository)  IMM_SIM_WAIT_S (20)
# Prints IMM_SIM_PID IMM_SIM_BMCS IMM_SIM_USER IMM_SIM_PASSWORD IMM_SIM_STATE_DIR
#        IMM_SIM_RENDER_DIR IMM_SIM_LOG IMM_SIM_START_MS.
# Ready means every BMC's socket is bound (imm-sim writes DIR/imm-sim.ready then).
# A restart with the same DIR keeps every BMC's state (DIR/imm-sim/state/<ip_port>/).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

DIR="$(peer_dir "${1:-}")"
BIN="${IMM_SIM_BIN:-$HERE/../../target/debug/imm-sim}"
BMCS="${IMM_SIM_BMCS:-127.0.0.1:9001}"
USER_NAME="${IMM_SIM_USER:-admin}"
PASS="${IMM_SIM_PASSWORD:-password}"
STATE="${IMM_SIM_STATE_DIR:-$DIR/imm-sim/state}"
RENDER="${IMM_SIM_RENDER_DIR:-$DIR/imm-sim/render}"
READY="$DIR/imm-sim.ready"
LOG="$DIR/imm-sim.log"
if [ ! -x "$BIN" ]; then
    echo "start-imm-sim: $BIN is missing; build it with: cargo build -p bcm --bin imm-sim" >&2
    exit 1
fi

args=()
for item in ${BMCS//,/ }; do
    ports="${item##*:}"
    first="${ports%-*}"
    last="${ports#*-}"
    if ! [[ "$first" =~ ^[0-9]+$ && "$last" =~ ^[0-9]+$ ]]; then
        echo "start-imm-sim: cannot read the ports of '$item'" >&2
        exit 1
    fi
    # A range checks its ends only: imm-sim itself refuses to start on a taken port.
    for p in "$first" "$last"; do
        if udp_bound "$p"; then echo "start-imm-sim: UDP port $p is taken" >&2; exit 1; fi
    done
    args+=(--bmc "$item")
done
mkdir -p "$STATE" "$RENDER"
rm -f "$READY"

T0="$(now_ms)"
# shellcheck disable=SC2086  # IMM_SIM_ARGS is a flag list on purpose
IMM_SIM_PASSWORD="$PASS" setsid "$BIN" "${args[@]}" --state-dir "$STATE" \
    --render-dir "$RENDER" --user "$USER_NAME" --password-env IMM_SIM_PASSWORD \
    --ready-file "$READY" ${IMM_SIM_ARGS:-} </dev/null >>"$LOG" 2>&1 &
PID=$!
echo "$PID" > "$DIR/imm-sim.pid"
await "$PID" "${IMM_SIM_WAIT_S:-20}" "$LOG" test -f "$READY"
cat <<OUT
IMM_SIM_PID=$PID
IMM_SIM_BMCS="$BMCS"
IMM_SIM_USER=$USER_NAME
IMM_SIM_PASSWORD=$PASS
IMM_SIM_STATE_DIR=$STATE
IMM_SIM_RENDER_DIR=$RENDER
IMM_SIM_LOG=$LOG
IMM_SIM_START_MS=$(( $(now_ms) - T0 ))
OUT
