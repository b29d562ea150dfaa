#!/usr/bin/env bash
# Start OpenStack's Redfish BMC emulator `sushy-emulator` (pip sushy-tools) with its fake
# systems driver (no libvirt) over HTTPS on 127.0.0.1, with a self-signed certificate made
# here by openssl (CA:FALSE: webpki refuses openssl's default CA:TRUE self-signed
# certificate as a server's own, "CaUsedAsEndEntity").
#
# Usage: start-sushy.sh DIR
# Env:   SUSHY_PORT (required)  SUSHY_UUID (27946b59-9e44-4fa7-8e91-f3527a1ef094)
#        SUSHY_MAC (52:54:00:12:34:56)  SUSHY_WAIT_S (30)
# Prints SUSHY_PID SUSHY_URL SUSHY_CERT SUSHY_SYSTEM SUSHY_LOG SUSHY_START_MS.
# Ready means the service root answers over HTTPS (verified with the certificate).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

DIR="$(peer_dir "${1:-}")"
PORT="${SUSHY_PORT:?SUSHY_PORT is required}"
UUID="${SUSHY_UUID:-27946b59-9e44-4fa7-8e91-f3527a1ef094}"
MAC="${SUSHY_MAC:-52:54:00:12:34:56}"
LOG="$DIR/sushy.log"
CERT="$DIR/sushy-cert.pem"
KEY="$DIR/sushy-key.pem"
command -v sushy-emulator >/dev/null || { echo "start-sushy: sushy-emulator is missing (scripts/install-peers.sh)" >&2; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$KEY" -out "$CERT" -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth >/dev/null 2>&1 \
    || { echo "start-sushy: openssl could not make a certificate" >&2; exit 1; }
cat > "$DIR/sushy.conf" <<CONF
SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = $PORT
SUSHY_EMULATOR_SSL_CERT = '$CERT'
SUSHY_EMULATOR_SSL_KEY = '$KEY'
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_FAKE_SYSTEMS = [{'uuid': '$UUID', 'name': 'server-a', 'power_state': 'Off', 'nics': [{'mac': '$MAC', 'ip': '127.0.0.1'}]}]
CONF

T0="$(now_ms)"
setsid sushy-emulator --config "$DIR/sushy.conf" </dev/null >>"$LOG" 2>&1 &
PID=$!
echo "$PID" > "$DIR/sushy.pid"
await "$PID" "${SUSHY_WAIT_S:-30}" "$LOG" \
    curl -fsS --max-time 2 --cacert "$CERT" -o /dev/null "https://127.0.0.1:$PORT/redfish/v1/"
cat <<OUT
SUSHY_PID=$PID
SUSHY_URL=https://127.0.0.1:$PORT
SUSHY_CERT=$CERT
SUSHY_SYSTEM=/redfish/v1/Systems/$UUID
SUSHY_LOG=$LOG
SUSHY_START_MS=$(( $(now_ms) - T0 ))
OUT
