#!/usr/bin/env bash
# Re-creates the captured vectors in this directory: real tgtd (tgt 1.0.85) talking to
# libiscsi's command-line initiators on 127.0.0.1, recorded with tshark, split into PDUs.
# Needs root (tshark on lo), tgtd, tgtadm, libiscsi-bin, tshark, python3.
# Usage: capture.sh   (writes tgtd-libiscsi-*.hex next to this script)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
DIR="$(mktemp -d)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
T=iqn.2026-01.test.capture:disk
cleanup() { bash "$ROOT/scripts/peers/stop.sh" "$DIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
eval "$(TGTD_PORT=$PORT TGTD_TARGETS=$T TGTD_LUN_SIZES='32M 1G' bash "$ROOT/scripts/peers/start-tgtd.sh" "$DIR" | grep -E '^(TGT_IPC_SOCKET|TGTD_PORT)=')"
export TGT_IPC_SOCKET

capture() { # name command...
    local name="$1"; shift
    tshark -i lo -f "tcp port $PORT" -w "$DIR/$name.pcapng" -q 2>/dev/null &
    local tpid=$!
    sleep 1.5
    "$@" >/dev/null
    sleep 0.5
    kill "$tpid"; wait "$tpid" 2>/dev/null || true
    tshark -r "$DIR/$name.pcapng" -Y 'tcp.len>0' -T fields -e tcp.stream -e tcp.srcport -e tcp.payload \
        > "$DIR/$name.tsv"
    python3 "$HERE/split.py" "$DIR/$name.tsv" "$PORT" "$name" "$*" > "$HERE/tgtd-libiscsi-$name.hex"
}

capture ls iscsi-ls -s -i iqn.2026-01.test.capture:init "iscsi://127.0.0.1:$PORT"
capture readcapacity16 iscsi-readcapacity16 -i iqn.2026-01.test.capture:init "iscsi://127.0.0.1:$PORT/$T/2"
tgtadm --lld iscsi --op new --mode account --user capuser --password capsecret1234
tgtadm --lld iscsi --op bind --mode account --tid 1 --user capuser
capture chap iscsi-inq -i iqn.2026-01.test.capture:init "iscsi://capuser%capsecret1234@127.0.0.1:$PORT/$T/1"
