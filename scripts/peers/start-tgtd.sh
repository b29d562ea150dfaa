#!/usr/bin/env bash
# Start tgt's user-space iSCSI target `tgtd` on 127.0.0.1 with file-backed LUNs.
#
# Usage: start-tgtd.sh DIR
# Env:   TGTD_PORT (3260)
#        TGTD_TARGETS ("iqn.2000-01.test.tgt:disk1")  space-separated; each target gets
#                     LUN 1 (and more LUNs from TGTD_LUN_SIZES)
#        TGTD_LUN_SIZES ("64M")  space-separated sizes: LUN 1, LUN 2, ... of every target;
#                     a target written IQN=SIZE[,SIZE...] gets its own sizes instead
#        TGTD_ISNS ("")          iSNS server HOST:PORT; empty = no iSNS
#        TGTD_ADDR (127.0.0.1)   listen address; ::1 makes tgtd name its iSNS entity "::1"
#                     (tgtd names it after its local address: a second instance on
#                     127.0.0.1 would replace the first one's entity in isnsd)
#        TGTD_ISNS_ACCESS_CONTROL (Off)  On = admit only initiators registered in iSNS
#                                sharing a Discovery Domain with the target
# Prints TGTD_PID TGTD_PORT TGTD_TARGETS TGT_IPC_SOCKET TGTD_LOG.
# tgtd ignores SIGTERM; stop.sh runs DIR/tgtd.stop first (offline, delete targets).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

DIR="$(peer_dir "${1:-}")"
PORT="${TGTD_PORT:-3260}"
ADDR="${TGTD_ADDR:-127.0.0.1}"
case "$ADDR" in *:*) PORTAL="[$ADDR]:$PORT" ;; *) PORTAL="$ADDR:$PORT" ;; esac
TARGETS="${TGTD_TARGETS:-iqn.2000-01.test.tgt:disk1}"
SIZES="${TGTD_LUN_SIZES:-64M}"
W="$DIR/tgtd"
mkdir -p "$W"
if tcp_listening "$PORT"; then echo "start-tgtd: TCP port $PORT is taken" >&2; exit 1; fi

# A private management socket per instance: tgtadm reads TGT_IPC_SOCKET.
export TGT_IPC_SOCKET="$W/socket"
T0="$(now_ms)"
setsid tgtd -f -C 0 --iscsi "portal=$PORTAL" </dev/null >>"$DIR/tgtd.log" 2>&1 &
PID=$!
echo "$PID" > "$DIR/tgtd.pid"
await "$PID" 10 "$DIR/tgtd.log" tcp_listening "$PORT"
await "$PID" 5 "$DIR/tgtd.log" test -S "$TGT_IPC_SOCKET.0"

cat > "$DIR/tgtd.stop" <<STOP
#!/bin/sh
export TGT_IPC_SOCKET='$TGT_IPC_SOCKET'
tgtadm --op update --mode sys --name State -v offline
for tid in \$(tgtadm --lld iscsi --op show --mode target | sed -n 's/^Target \([0-9]*\):.*/\1/p'); do
    tgtadm --lld iscsi --op delete --mode target --tid "\$tid" --force
done
tgtadm --op delete --mode system
STOP
chmod +x "$DIR/tgtd.stop"

# iSNS must be configured before the first target exists.
if [ -n "${TGTD_ISNS:-}" ]; then
    tgtadm --op update --mode sys --name iSNSServerIP -v "${TGTD_ISNS%:*}"
    tgtadm --op update --mode sys --name iSNSServerPort -v "${TGTD_ISNS##*:}"
    tgtadm --op update --mode sys --name iSNSAccessControl -v "${TGTD_ISNS_ACCESS_CONTROL:-Off}"
    tgtadm --op update --mode sys --name iSNS -v On
fi

tid=0
names=""
for entry in $TARGETS; do
    tid=$((tid + 1))
    iqn="${entry%%=*}"
    sizes="$SIZES"
    [ "$iqn" != "$entry" ] && sizes="${entry#*=}" && sizes="${sizes//,/ }"
    names="${names:+$names }$iqn"
    tgtadm --lld iscsi --op new --mode target --tid "$tid" -T "$iqn"
    lun=0
    for size in $sizes; do
        lun=$((lun + 1))
        truncate -s "$size" "$W/t$tid-lun$lun.img"
        tgtadm --lld iscsi --op new --mode logicalunit --tid "$tid" --lun "$lun" -b "$W/t$tid-lun$lun.img"
    done
    tgtadm --lld iscsi --op bind --mode target --tid "$tid" -I ALL
done
cat <<OUT
TGTD_PID=$PID
TGTD_PORT=$PORT
TGTD_TARGETS="$names"
TGT_IPC_SOCKET=$TGT_IPC_SOCKET
TGTD_LOG=$DIR/tgtd.log
TGTD_START_MS=$(( $(now_ms) - T0 ))
OUT
