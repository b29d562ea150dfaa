//! iSCSI PDU decode throughput over the PDUs real tgtd and libiscsi exchanged
//! (`iscsi-probe/tests/vectors/*.hex`): frame, type, walk the text; and encode of a SCSI Command.
#![allow(missing_docs)]

use std::path::Path;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use iscsi_probe::message::{Message, ScsiCommand};
use iscsi_probe::pdu::Pdu;
use iscsi_probe::scsi;
use iscsi_probe::text;

/// Every captured PDU, concatenated as one stream (as a connection would deliver them).
fn stream() -> (Vec<u8>, usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../iscsi-probe/tests/vectors");
    let mut out = Vec::new();
    let mut n = 0;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "hex"))
    {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            if line.starts_with("# stream") {
                n += 1;
            } else if !line.starts_with('#') {
                out.extend(
                    line.split_whitespace()
                        .map(|h| u8::from_str_radix(h, 16).unwrap()),
                );
            }
        }
    }
    (out, n)
}

fn decode_all(mut buf: &[u8]) -> usize {
    let mut n = 0;
    while let Ok(Some((pdu, used))) = Pdu::parse(buf, 1 << 20) {
        n += match Message::from_pdu(pdu) {
            Message::LoginRequest(m) => text::pairs(m.data).count(),
            Message::LoginResponse(m) => text::pairs(m.data).count(),
            Message::TextResponse(m) => text::pairs(m.data).count(),
            Message::DataIn(d) => d.data.len(),
            _ => 1,
        };
        buf = &buf[used..];
    }
    n
}

fn bench(c: &mut Criterion) {
    let (bytes, pdus) = stream();
    let mut g = c.benchmark_group("iscsi_pdu");
    g.throughput(Throughput::Bytes(u64::try_from(bytes.len()).unwrap()));
    g.bench_function(format!("decode_captured_stream_{pdus}_pdus"), |b| {
        b.iter(|| decode_all(std::hint::black_box(&bytes)));
    });
    g.throughput(Throughput::Elements(1));
    let cmd = ScsiCommand {
        immediate: false,
        final_: true,
        read: true,
        write: false,
        attr: 1,
        lun: [0, 1, 0, 0, 0, 0, 0, 0],
        itt: 7,
        expected_len: 32,
        cmd_sn: 9,
        exp_stat_sn: 3,
        cdb: scsi::read_capacity16_cdb(32),
        data: &[],
    };
    let mut out = BytesMut::with_capacity(64);
    g.bench_function("encode_read_capacity16_command", |b| {
        b.iter(|| {
            out.clear();
            cmd.encode(&mut out).unwrap();
            out.len()
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
