//! Decoding and walking every attribute of a realistic large DevAttrQry response: 512 target
//! nodes in 64 entities, each entity with a portal and each node with a portal group, as an
//! iSNS server returns them, segmented into open-isns-sized (8 KiB) PDUs.
//!
//! Side by side in the same run: open-isns' own C decoder (`libisns`, Debian `libisns-dev`)
//! walks the same bytes. `benches/c/isns_decode.c` is compiled with gcc at bench time and run
//! as a subprocess that times only its own decode loop (criterion's `iter_custom`), so the
//! Rust code stays free of `unsafe` and FFI.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bytes::BytesMut;
use cpu_time::ThreadTime;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use isns_proto::{
    Attrs, Body, EntityProtocol, FunctionId, Message, NodeType, Pdu, Port, Reassembler, Reassembly,
    Segmenter, Status, Tag, Value,
};

const NODES: usize = 512;
const NODES_PER_ENTITY: usize = 8;

/// The response and the number of attributes it carries.
fn response() -> (Vec<u8>, usize) {
    let names: Vec<String> = (0..NODES)
        .map(|i| {
            format!(
                "iqn.2001-04.com.example.storage:array{:02}.lun-group-{i:04}",
                i / 64
            )
        })
        .collect();
    let aliases: Vec<String> = (0..NODES)
        .map(|i| format!("array {} volume {i}", i / 64))
        .collect();
    let eids: Vec<String> = (0..NODES / NODES_PER_ENTITY)
        .map(|e| format!("isns.entity.{e:04}"))
        .collect();
    let mut m = Message::response(FunctionId::DEV_ATTR_QRY, 77, Status::SUCCESSFUL)
        .key(Tag::ISCSI_NODE_TYPE, NodeType::TARGET);
    for (e, eid) in eids.iter().enumerate() {
        let ip = IpAddr::V4(Ipv4Addr::new(
            10,
            20,
            u8::try_from(e / 250).unwrap(),
            u8::try_from(e % 250 + 1).unwrap(),
        ));
        m = m
            .entity(eid.as_str(), EntityProtocol::ISCSI)
            .op(Tag::REGISTRATION_PERIOD, 900u32)
            .op(Tag::TIMESTAMP, 1_795_000_000u64 + u64::try_from(e).unwrap())
            .op(Tag::ENTITY_INDEX, u32::try_from(e + 1).unwrap())
            .portal(ip, Port::tcp(3260))
            .op(Tag::PORTAL_INDEX, u32::try_from(e + 1).unwrap())
            .op(Tag::SCN_PORT, Port::tcp(40_000));
        for n in e * NODES_PER_ENTITY..(e + 1) * NODES_PER_ENTITY {
            m = m
                .node(names[n].as_str(), NodeType::TARGET)
                .op(Tag::ISCSI_ALIAS, aliases[n].as_str())
                .op(Tag::ISCSI_NODE_INDEX, u32::try_from(n + 1).unwrap())
                .op(Tag::PG_ISCSI_NAME, names[n].as_str())
                .op(Tag::PG_PORTAL_IP_ADDR, ip)
                .op(Tag::PG_PORTAL_PORT, Port::tcp(3260))
                .op(Tag::PG_TAG, 1u32)
                .op(Tag::PG_INDEX, u32::try_from(n + 1).unwrap());
        }
    }
    let attrs = m.key.len() + m.operating.len();
    let mut out = BytesMut::new();
    Segmenter::default()
        .encode(&m, &mut out)
        .expect("encode bench response");
    (out.to_vec(), attrs)
}

fn fold(acc: &mut u64, v: Value<'_>) {
    *acc = acc.wrapping_add(match v {
        Value::U32(x) => u64::from(x),
        Value::U64(x) => x,
        Value::Str(s) => s.len() as u64,
        Value::Ip(IpAddr::V4(a)) => u64::from(a.octets()[3]),
        Value::Ip(IpAddr::V6(a)) => u64::from(a.octets()[15]),
        Value::Port(p) => u64::from(p.number),
        Value::Opaque(b) => b.len() as u64,
        _ => 0,
    });
}

/// Zero-copy walk: each PDU is parsed in place, the first through the Response view (status,
/// key, delimiter), continuations as attribute lists; every value is decoded by type.
fn walk(bytes: &[u8]) -> (usize, u64) {
    let mut rest = bytes;
    let (mut n, mut acc) = (0usize, 0u64);
    let mut first = true;
    while !rest.is_empty() {
        let (pdu, used) = Pdu::parse_prefix(rest).expect("pdu");
        rest = &rest[used..];
        let lists: [Attrs<'_>; 2] = if first {
            let Ok(Body::Response(r)) = pdu.body() else {
                panic!("response expected")
            };
            [r.key(), r.operating()]
        } else {
            [Attrs::new(pdu.payload(), 12), Attrs::empty()]
        };
        first = false;
        for list in lists {
            for a in list {
                let a = a.expect("attr");
                acc = acc.wrapping_add(u64::from(a.tag().0));
                fold(&mut acc, a.typed().expect("value"));
                n += 1;
            }
        }
    }
    (n, acc)
}

/// Reassembles the message into one buffer first (one copy), then walks the Response view.
fn reassemble_and_walk(bytes: &[u8]) -> (usize, u64) {
    let mut rest = bytes;
    let mut r = Reassembler::default();
    loop {
        let (pdu, used) = Pdu::parse_prefix(rest).expect("pdu");
        rest = &rest[used..];
        if let Reassembly::Assembled(a) = r.push(&pdu).expect("reassembly") {
            let Ok(Body::Response(resp)) = Body::parse(a.function, &a.payload, 0) else {
                panic!("response")
            };
            let (mut n, mut acc) = (0usize, 0u64);
            for x in resp.key().chain(resp.operating()) {
                let x = x.expect("attr");
                acc = acc.wrapping_add(u64::from(x.tag().0));
                fold(&mut acc, x.typed().expect("value"));
                n += 1;
            }
            return (n, acc);
        }
    }
}

fn pdu_count(mut bytes: &[u8]) -> usize {
    let mut n = 0;
    while !bytes.is_empty() {
        let (_, used) = Pdu::parse_prefix(bytes).expect("pdu");
        bytes = &bytes[used..];
        n += 1;
    }
    n
}

/// Builds the C walker; panics with the reason when gcc or libisns-dev is missing.
fn build_libisns_walker() -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("c")
        .join("isns_decode.c");
    let dir = std::env::temp_dir().join(format!("isns-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let exe = dir.join("isns_decode");
    let out = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg("-lisns")
        .output()
        .expect("gcc is required for the libisns side-by-side bench (scripts/install-peers.sh)");
    assert!(
        out.status.success(),
        "building the libisns walker failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Runs the C walker for `iters` walks: (wall time, CPU time, attributes per walk).
fn run_libisns(exe: &PathBuf, input: &PathBuf, iters: u64) -> (Duration, Duration, usize) {
    let out = Command::new(exe)
        .arg(input)
        .arg(iters.to_string())
        .output()
        .expect("run libisns walker");
    assert!(
        out.status.success(),
        "libisns walker failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace();
    let ns: u64 = f.next().and_then(|x| x.parse().ok()).expect("elapsed ns");
    let cpu: u64 = f.next().and_then(|x| x.parse().ok()).expect("cpu ns");
    let attrs: usize = f.next().and_then(|x| x.parse().ok()).expect("attr count");
    (Duration::from_nanos(ns), Duration::from_nanos(cpu), attrs)
}

struct Setup {
    bytes: Vec<u8>,
    attrs: usize,
    exe: PathBuf,
    input: PathBuf,
}

fn setup() -> Setup {
    let (bytes, attrs) = response();
    let (n, _) = walk(&bytes);
    assert_eq!(n, attrs, "walk visits every attribute");
    assert_eq!(reassemble_and_walk(&bytes).0, attrs);
    let exe = build_libisns_walker();
    let input = exe.with_file_name("response.bin");
    std::fs::write(&input, &bytes).expect("write bench input");
    let (_, _, c_attrs) = run_libisns(&exe, &input, 1);
    assert_eq!(c_attrs, attrs, "libisns decodes the same attributes");
    eprintln!(
        "isns_decode: DevAttrQry response, {NODES} nodes, {} bytes in {} PDUs, {attrs} attributes",
        bytes.len(),
        pdu_count(&bytes)
    );

    Setup {
        bytes,
        attrs,
        exe,
        input,
    }
}

/// Wall-clock time, bytes/s and attributes/s.
fn bench_wall(c: &mut Criterion) {
    let s = setup();
    for (group, throughput) in [
        ("isns_walk_bytes", Throughput::Bytes(s.bytes.len() as u64)),
        ("isns_walk_attrs", Throughput::Elements(s.attrs as u64)),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(throughput);
        g.bench_function("isns-proto", |b| b.iter(|| walk(black_box(&s.bytes))));
        g.bench_function("isns-proto-reassembled", |b| {
            b.iter(|| reassemble_and_walk(black_box(&s.bytes)));
        });
        g.bench_function("libisns", |b| {
            b.iter_custom(|iters| run_libisns(&s.exe, &s.input, iters).0);
        });
        g.finish();
    }
}

/// The same walk timed in CPU time (this thread for Rust, the process for C), so that a
/// shared, loaded machine does not count time spent waiting for a core.
fn bench_cpu(c: &mut Criterion<CpuTime>) {
    let s = setup();
    let mut g = c.benchmark_group("isns_walk_bytes_cpu");
    g.throughput(Throughput::Bytes(s.bytes.len() as u64));
    g.bench_function("isns-proto", |b| b.iter(|| walk(black_box(&s.bytes))));
    g.bench_function("libisns", |b| {
        b.iter_custom(|iters| run_libisns(&s.exe, &s.input, iters).1);
    });
    g.finish();
}

/// Thread CPU time as a criterion measurement.
struct CpuTime;

static WALL: WallTime = WallTime;

impl Measurement for CpuTime {
    type Intermediate = ThreadTime;
    type Value = Duration;
    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }
    fn end(&self, i: ThreadTime) -> Duration {
        i.elapsed()
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

criterion_group!(wall, bench_wall);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(CpuTime);
    targets = bench_cpu
}
criterion_main!(wall, cpu);
