#!/usr/bin/env bash
# Start OpenIPMI's ipmi_sim as an RMCP+ BMC on 127.0.0.1 (cipher suites 0-3 and 6-ish; no 17).
#
# Usage: start-ipmi-sim.sh DIR
# Env:   IPMI_SIM_PORT (9624)  IPMI_SIM_USER (admin)  IPMI_SIM_PASSWORD (password)
#        IPMI_SIM_GUID (32 hex digits; what Get System GUID answers, bytes as written)
#        IPMI_SIM_CHASSIS_CONTROL (a program ipmi_sim runs as `PROG 0x20 get|set NAME [VALUE]`
#        for power, reset and boot; with it, ipmi_sim accepts boot flags parameter 5)
# Prints IPMI_SIM_PID IPMI_SIM_PORT IPMI_SIM_USER IPMI_SIM_PASSWORD IPMI_SIM_LOG IPMI_SIM_START_MS.
# ipmi_sim answers boot options 5/6/7 with 0xCC unless IPMI_SIM_CHASSIS_CONTROL names a
# chassis_control program (then parameter 5 becomes `set boot pxe|none|...` calls to it).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

DIR="$(peer_dir "${1:-}")"
PORT="${IPMI_SIM_PORT:-9624}"
USER_NAME="${IPMI_SIM_USER:-admin}"
PASS="${IPMI_SIM_PASSWORD:-password}"
W="$DIR/ipmi-sim"
mkdir -p "$W/state"
if udp_bound "$PORT"; then echo "start-ipmi-sim: UDP port $PORT is taken" >&2; exit 1; fi

cat > "$W/lan.conf" <<CONF
name "bcm-ipmi-sim"
startlan 1
  addr 127.0.0.1 $PORT
  priv_limit admin
  allowed_auths_callback none md5 straight
  allowed_auths_user none md5 straight
  allowed_auths_operator none md5 straight
  allowed_auths_admin none md5 straight
  guid ${IPMI_SIM_GUID:-a123456789abcdefa123456789abcdef}
endlan
${IPMI_SIM_CHASSIS_CONTROL:+chassis_control \"$IPMI_SIM_CHASSIS_CONTROL 0x20\"}
user 2 true "$USER_NAME" "$PASS" admin 10 none md5 straight
CONF
cat > "$W/bmc.emu" <<'EMU'
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_enable 0x20
EMU

T0="$(now_ms)"
setsid ipmi_sim -c "$W/lan.conf" -f "$W/bmc.emu" -s "$W/state" -n \
    </dev/null >>"$DIR/ipmi-sim.log" 2>&1 &
PID=$!
echo "$PID" > "$DIR/ipmi-sim.pid"
await "$PID" 10 "$DIR/ipmi-sim.log" udp_bound "$PORT"
cat <<OUT
IPMI_SIM_PID=$PID
IPMI_SIM_PORT=$PORT
IPMI_SIM_USER=$USER_NAME
IPMI_SIM_PASSWORD=$PASS
IPMI_SIM_LOG=$DIR/ipmi-sim.log
IPMI_SIM_START_MS=$(( $(now_ms) - T0 ))
OUT
