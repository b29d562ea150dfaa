#!/usr/bin/env python3
"""Splits captured iSCSI TCP payloads (tshark fields: stream, srcport, hex payload) into PDUs.

Prints one block per PDU: a comment naming direction and opcode, then the bytes as hex.
"""
import sys

tsv, port, name, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
streams = {}
order = []
for line in open(tsv):
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 3 or not parts[2]:
        continue
    key = (parts[0], "t2i" if parts[1] == port else "i2t")
    streams.setdefault(key, bytearray()).extend(bytes.fromhex(parts[2].replace(":", "")))
    if key not in order:
        order.append(key)

print("# source: real traffic captured with tshark on 127.0.0.1")
print("# peers: tgt 1.0.85 tgtd (target) and libiscsi-bin 1.19 (initiator)")
print(f"# capture: {name}: {cmd}")
print("# format: one PDU per block; '# <stream> <i2t|t2i> opcode 0x..' then hex bytes")
pdus = []
for key in order:
    buf = bytes(streams[key])
    pos = 0
    seq = 0
    while pos + 48 <= len(buf):
        ahs = buf[pos + 4] * 4
        dlen = int.from_bytes(buf[pos + 5:pos + 8], "big")
        total = 48 + ahs + ((dlen + 3) & ~3)
        pdus.append((key, seq, buf[pos:pos + total]))
        pos += total
        seq += 1
for (stream, direction), seq, pdu in pdus:
    print()
    print(f"# stream {stream} {direction} #{seq} opcode 0x{pdu[0] & 0x3f:02x}")
    for i in range(0, len(pdu), 16):
        print(" ".join(f"{b:02x}" for b in pdu[i:i + 16]))
