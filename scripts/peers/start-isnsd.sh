#!/usr/bin/env bash
# Start open-isns `isnsd` on 127.0.0.1 (TCP only; isnsd has no UDP listener).
#
# Usage: start-isnsd.sh DIR
# Env:   ISNSD_PORT (3205)  ISNSD_DEFAULT_DD (0: real DD scoping)
#        ISNSD_ADDR (127.0.0.1: listen address; a hub bridge address serves namespaces)
#        ISNSD_REGISTRATION_PERIOD (1h; never 0, which clamps the ESI interval to 0)
#        ISNSD_DEBUG ("all"; empty for no protocol trace)
#        ISNSD_DATABASE (DIR/isnsd/db; empty keeps the database in memory: isnsd then
#                       writes no object files on every request, which benches want)
# Prints ISNSD_PID ISNSD_PORT ISNSD_CONF ISNSADM_CONF ISNSADM_SOURCE ISNSD_LOG ISNSD_DB.
# Reusing DIR keeps the file-backed database (restart tests).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

DIR="$(peer_dir "${1:-}")"
PORT="${ISNSD_PORT:-3205}"
W="$DIR/isnsd"
mkdir -p "$W/db"
if tcp_listening "$PORT"; then echo "start-isnsd: TCP port $PORT is taken" >&2; exit 1; fi

# isnsd keeps its database in memory only when no Database key is given at all.
DB_LINE="Database               = ${ISNSD_DATABASE-$W/db}"
if [ -z "${ISNSD_DATABASE-$W/db}" ]; then DB_LINE="# Database: none, in memory"; fi
# A previous isnsd killed without cleanup (crash, SIGKILL) leaves its PID file behind and
# isnsd then refuses to start ("PID file exists"): drop it when that PID is gone.
# (A killed daemon may linger as a zombie where nothing reaps it: that is gone too.)
if [ -f "$W/isnsd.pidfile" ]; then
    old="$(tr -dc '0-9' < "$W/isnsd.pidfile")"
    st="$(ps -o stat= -p "${old:-0}" 2>/dev/null || true)"
    if [ -z "$st" ] || [ "${st:0:1}" = Z ]; then rm -f "$W/isnsd.pidfile"; fi
fi

cat > "$W/isnsd.conf" <<CONF
SourceName             = isns.test.server
HostName               = localhost
BindAddress            = ${ISNSD_ADDR:-127.0.0.1}:$PORT
$DB_LINE
PIDFile                = $W/isnsd.pidfile
ControlSocket          = $W/control
Security               = 0
SLPRegister            = 0
RegistrationPeriod     = ${ISNSD_REGISTRATION_PERIOD:-1h}
DefaultDiscoveryDomain = ${ISNSD_DEFAULT_DD:-0}
SCNTimeout             = 10
SCNRetries             = 3
CONF

# isnsadm client config; its source sees everything once registered as a
# control node: isnsadm -c $ISNSADM_CONF --register control=$ISNSADM_SOURCE
cat > "$W/isnsadm.conf" <<CONF
SourceName    = iqn.2000-01.test:isnsadm
HostName      = localhost
ServerAddress = ${ISNSD_ADDR:-127.0.0.1}:$PORT
Security      = 0
ControlSocket = $W/control
CONF

DBG=()
if [ -n "${ISNSD_DEBUG-all}" ]; then DBG=(-d "${ISNSD_DEBUG-all}"); fi
T0="$(now_ms)"
setsid isnsd -f -c "$W/isnsd.conf" "${DBG[@]}" </dev/null >>"$DIR/isnsd.log" 2>&1 &
PID=$!
echo "$PID" > "$DIR/isnsd.pid"
await "$PID" 10 "$DIR/isnsd.log" tcp_listening "$PORT"
cat <<OUT
ISNSD_PID=$PID
ISNSD_PORT=$PORT
ISNSD_CONF=$W/isnsd.conf
ISNSADM_CONF=$W/isnsadm.conf
ISNSADM_SOURCE=iqn.2000-01.test:isnsadm
ISNSD_LOG=$DIR/isnsd.log
ISNSD_DB=${ISNSD_DATABASE-$W/db}
ISNSD_START_MS=$(( $(now_ms) - T0 ))
OUT
