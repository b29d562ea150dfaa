#!/usr/bin/env bash
# Capture real open-isns traffic on 127.0.0.1 and turn it into isns-proto test vectors.
#
# Usage: capture-isns.sh OUTDIR      (default: isns-proto/tests/vectors)
# Needs root (tshark on lo), isnsd, isnsadm, tgtd, tshark, python3.
#
# What runs: isnsd on a free port; isnsadm registers a control node, registers an entity
# with a target and a portal, queries it, lists nodes, creates a DD, lists DDs, removes
# a DD member and deregisters the target; then tgtd registers a target with an SCN port
# and SCNReg, an initiator is registered and a DD joining both is created, so isnsd
# delivers an SCN to tgtd's SCN listener. Every iSNS PDU of every TCP stream becomes
# one OUTDIR/<source>-<step>-<n>-<function>.hex file with a provenance header.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$ROOT/isns-proto/tests/vectors}"
mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/isns-capture.XXXXXX")"
TSHARK_PIDS=()
cleanup() {
    for p in "${TSHARK_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    sleep 0.5
    bash "$HERE/stop.sh" "$WORK/peers"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

ISNS_PORT="$(free_port)"
eval "$(ISNSD_PORT="$ISNS_PORT" bash "$HERE/start-isnsd.sh" "$WORK/peers")"

start_capture() { # FILTER FILE
    tshark -q -i lo -f "$1" -w "$2" >"$2.log" 2>&1 &
    TSHARK_PIDS+=("$!")
    for _ in $(seq 1 60); do grep -q "Capturing on" "$2.log" 2>/dev/null && break; sleep 0.1; done
    sleep 0.3
}
start_capture "tcp port $ISNS_PORT" "$WORK/isns.pcapng"

# Each step is one isnsadm run (one TCP connection); the step list names the streams.
STEPS=()
adm() { local name="$1"; shift; STEPS+=("$name"); isnsadm -c "$ISNSADM_CONF" "$@"; sleep 0.2; }
adm register-control --register "control=$ISNSADM_SOURCE"
adm register-target --register entity=ent.capture.a target=iqn.2000-01.test.capture:t1 portal=127.0.0.1:3260
adm query-target --query iscsi-name=iqn.2000-01.test.capture:t1
adm list-nodes --list nodes
adm dd-create --dd-register dd-name=capture-dd member-name=iqn.2000-01.test.capture:t1
adm list-dds --list dds
adm dd-remove-member --dd-deregister 1 member-name=iqn.2000-01.test.capture:t1
adm deregister-target --deregister iscsi-name=iqn.2000-01.test.capture:t1

# SCN: tgtd registers with an SCN port and SCNReg; a DD joining its target and a new
# initiator makes isnsd deliver an SCN to tgtd's listener.
TGT_PORT="$(free_port)"
eval "$(TGTD_PORT="$TGT_PORT" TGTD_ISNS="127.0.0.1:$ISNS_PORT" TGTD_TARGETS=iqn.2000-01.test.capture:tgt \
    bash "$HERE/start-tgtd.sh" "$WORK/peers")"
STEPS+=(tgtd)
sleep 1
SCN_PORT="$(ss -Hltnp | awk -v pid="pid=$TGTD_PID," '$0 ~ pid {n=split($4,a,":"); print a[n]}' \
    | grep -v "^$TGT_PORT$" | head -n1)"
[ -n "$SCN_PORT" ] || { echo "capture-isns: no tgtd SCN listener found" >&2; exit 1; }
start_capture "tcp port $SCN_PORT" "$WORK/scn.pcapng"
adm register-initiator --register entity=ent.capture.b initiator=iqn.2000-01.test.capture:i1
adm dd-create-scn --dd-register dd-name=scn-dd member-name=iqn.2000-01.test.capture:tgt \
    member-name=iqn.2000-01.test.capture:i1
sleep 2

for p in "${TSHARK_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
TSHARK_PIDS=()
sleep 1

dump() { # PCAP PORT LABEL
    tshark -r "$1" -d "tcp.port==$2,isns" -Y "tcp.len>0" \
        -T fields -E separator=, -e tcp.stream -e tcp.srcport -e tcp.dstport -e tcp.payload 2>/dev/null \
        | sed "s/^/$3,/"
}
{ dump "$WORK/isns.pcapng" "$ISNS_PORT" isns; dump "$WORK/scn.pcapng" "$SCN_PORT" scn; } > "$WORK/segments.csv"

python3 - "$WORK/segments.csv" "$OUT" "$ISNS_PORT" "$SCN_PORT" "${STEPS[*]}" <<'PY'
import sys, datetime
seg_file, out, isns_port, scn_port, steps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split()
FN = {1:"devattrreg",2:"devattrqry",3:"devgetnext",4:"devdereg",5:"scnreg",6:"scndereg",8:"scn",
      9:"ddreg",10:"dddereg",13:"esi"}
streams = {}
order = []
for line in open(seg_file):
    cap, stream, sport, dport, payload = line.strip().split(",")
    key = (cap, int(stream))
    if key not in streams:
        streams[key] = {}
        order.append(key)
    streams[key].setdefault((sport, dport), bytearray()).extend(bytes.fromhex(payload))
# isnsadm streams come first in capture order; tgtd's own traffic interleaves after them.
adm_steps = [s for s in steps if s != "tgtd"]
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
step_of = {}
isns_keys = [k for k in order if k[0] == "isns"]
# Map streams to steps: isnsadm connects from an ephemeral port; tgtd keeps one connection.
i = 0
tgtd_stream = None
for k in isns_keys:
    dirs = streams[k]
    client = [d for d in dirs if d[1] == isns_port]
    first = bytes(dirs[client[0]]) if client else b""
    # tgtd sends its DevAttrReg with the source of its target, isnsadm uses its own name.
    if b"iqn.2000-01.test.capture:tgt" in first[:200] and b"isnsadm" not in first:
        step_of[k] = "tgtd"
        continue
    step_of[k] = adm_steps[i] if i < len(adm_steps) else f"extra{i}"
    i += 1
for k in order:
    if k[0] == "scn":
        step_of[k] = "scn-to-tgtd"
written = 0
for k in order:
    step = step_of[k]
    source = "tgtd" if step == "tgtd" else ("isnsd" if step == "scn-to-tgtd" else "isnsadm")
    if step == "tgtd":
        step = "register"
    pdus = []
    for (sport, dport), data in streams[k].items():
        off = 0
        while off + 12 <= len(data):
            ln = int.from_bytes(data[off+4:off+6], "big")
            pdus.append((sport, dport, bytes(data[off:off+12+ln])))
            off += 12 + ln
    # Interleave request/response in wire order: sort by transaction id then response bit.
    pdus.sort(key=lambda p: (int.from_bytes(p[2][8:10], "big"), int.from_bytes(p[2][2:4], "big") >> 15))
    for n, (sport, dport, pdu) in enumerate(pdus, 1):
        fid = int.from_bytes(pdu[2:4], "big")
        name = FN.get(fid & 0x7fff, f"fn{fid & 0x7fff:x}") + ("-rsp" if fid & 0x8000 else "")
        fname = f"{out}/{source}-{step}-{n}-{name}.hex"
        with open(fname, "w") as f:
            f.write(f"# source: real traffic captured with tshark on 127.0.0.1 ({date})\n")
            f.write(f"# peers: open-isns 0.101 isnsd (port {isns_port}), isnsadm, tgt 1.0.85 tgtd\n")
            f.write(f"# step: {source}-{step}; tcp {sport} -> {dport}; scripts/peers/capture-isns.sh\n")
            for j in range(0, len(pdu), 16):
                f.write(pdu[j:j+16].hex(" ") + "\n")
        written += 1
print(f"capture-isns: wrote {written} vectors to {out}", file=sys.stderr)
PY
