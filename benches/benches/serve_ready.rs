//! `bcm serve`: how soon it is ready, and how much memory it holds, against real peers on
//! loopback (issue 19).
//!
//! * **ready** — one `tgtd` with N single-LUN targets (`BCM_BENCH_READY_TARGETS`, default
//!   `50,500`; iSNS access control on) registered in a fresh in-memory `isnsd`: the time from
//!   starting `bcm serve` to its ready file (the first inventory round: the walk, one
//!   management DD per target made and paced at `scn_pacing` 250 ms, the probes), first
//!   against the fresh isnsd, then for a restart (the DDs are in place: walk and probes).
//! * **memory** — 5,000 targets (500 entities of 10, registered by a plain client, on
//!   portals nothing listens on, so every probe fails at once; their management DDs made up
//!   front as `inventory_walk` does) and 5,000 committed assignments seeded in the store,
//!   with their DDs made in iSNS
//!   (provisioning 5,000 servers through the API would take over an hour against one
//!   pacing-bound isnsd): `VmHWM` of `bcm serve` once it is ready.
//!
//! A run, not a criterion loop. Build first: `cargo build --release -p bcm --bins`, then
//! `cargo bench -p benches --bench serve_ready`. `BCM_BENCH_MEMORY_TARGETS` changes 5,000
//! (0 skips the memory run); `BCM_BENCH_SERVE_WRAPPER` runs `bcm` under a profiler.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bcm::inventory::{DEFAULT_MANAGEMENT_DD, management_dd_name};
use bcm::store::{LedgerChange, NewRequest, RequestKind, RequestState, Store};
use boot_config_core::{
    Allocation, AllocationState, BootRequest, EntityId, IscsiName, LunNumber, LunRef, Placement,
    Portal, Selection, SizeRange, Timestamp,
};
use bytes::BytesMut;
use harness::Peer;
use isns_proto::{Body, EntityProtocol, Message, NodeType, Pdu, Port, Status, Tag};

const PROBE: &str = "iqn.2026-12.com.example:bcm-inventory";
const PER_ENTITY: usize = 10;

fn lo() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One request to isnsd over `s`; the DD_ID of a DDReg answer (0 for others).
fn call(s: &mut TcpStream, m: &Message<'_>) -> u32 {
    let mut out = BytesMut::new();
    m.encode(&mut out).expect("encodes");
    s.write_all(&out).expect("write");
    let mut hdr = [0u8; 12];
    s.read_exact(&mut hdr).expect("read");
    let len = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    let mut buf = hdr.to_vec();
    buf.resize(12 + len, 0);
    s.read_exact(&mut buf[12..]).expect("read");
    let pdu = Pdu::parse(&buf).expect("pdu");
    let Ok(Body::Response(r)) = pdu.body() else {
        panic!("not a response")
    };
    assert_eq!(r.status(), Status::SUCCESSFUL);
    r.find(Tag::DD_ID)
        .and_then(|a| a.as_u32().ok())
        .unwrap_or(0)
}

fn memory_target(i: usize) -> String {
    format!(
        "iqn.2026-12.bench.array{:04}:disk{:02}",
        i / PER_ENTITY,
        i % PER_ENTITY
    )
}

/// Registers `n` targets, PER_ENTITY per entity, on ports nothing listens on; the probe
/// initiator; and each target's management DD (created empty, filled by DD_ID, as the
/// inventory does it).
fn register_memory_targets(server: SocketAddr, n: usize) {
    let mut s = TcpStream::connect(server).expect("isnsd");
    let mut xid = 0u16;
    let mut next = || {
        xid = xid.wrapping_add(1);
        xid
    };
    for e in 0..n.div_ceil(PER_ENTITY) {
        let eid = format!("bench-array-{e:04}");
        let names: Vec<String> = (e * PER_ENTITY..((e + 1) * PER_ENTITY).min(n))
            .map(memory_target)
            .collect();
        let port = Port::tcp(u16::try_from(20_000 + e).expect("port"));
        let mut m = Message::dev_attr_reg(next(), names[0].as_str())
            .key(Tag::ENTITY_IDENTIFIER, eid.as_str())
            .entity(eid.as_str(), EntityProtocol::ISCSI)
            .portal(lo(), port);
        for t in &names {
            m = m.node(t.as_str(), NodeType::TARGET);
        }
        call(&mut s, &m);
    }
    call(
        &mut s,
        &Message::dev_attr_reg(next(), PROBE)
            .key(Tag::ENTITY_IDENTIFIER, PROBE)
            .entity(PROBE, EntityProtocol::ISCSI)
            .node(PROBE, NodeType::INITIATOR),
    );
    for i in 0..n {
        let target = memory_target(i);
        let name = management_dd_name(DEFAULT_MANAGEMENT_DD, &target);
        let id = call(
            &mut s,
            &Message::dd_reg(next(), PROBE, None).op(Tag::DD_SYMBOLIC_NAME, name.as_str()),
        );
        call(
            &mut s,
            &Message::dd_reg(next(), PROBE, Some(id))
                .op(Tag::DD_MEMBER_ISCSI_NAME, PROBE)
                .op(Tag::DD_MEMBER_ISCSI_NAME, target.as_str()),
        );
        // The DD of the assignment seeded for target i (`seed_assignments`), as the manager
        // makes it; without it the manager's first reconciliation would repair 5,000 DDs.
        let server = format!("server-{i}");
        let id = call(
            &mut s,
            &Message::dd_reg(next(), PROBE, None)
                .op(Tag::DD_SYMBOLIC_NAME, format!("bcm:{server}").as_str()),
        );
        call(
            &mut s,
            &Message::dd_reg(next(), PROBE, Some(id))
                .op(
                    Tag::DD_MEMBER_ISCSI_NAME,
                    format!("iqn.2026-12.com.example:{server}").as_str(),
                )
                .op(Tag::DD_MEMBER_ISCSI_NAME, target.as_str()),
        );
    }
}

/// 5,000 committed assignments, server-i on LUN 1 of target i, as the manager stores them.
fn seed_assignments(store: &Path, n: usize) {
    let mut st = Store::open(store).expect("store");
    for i in 0..n {
        let (id, server) = (format!("seed-{i}"), format!("server-{i}"));
        let target = memory_target(i);
        let mut request = BootRequest::new(id.as_str(), server.as_str(), SizeRange::at_least(1));
        request.server.bmc = Some(format!("127.0.0.1:{}", 30_000 + i));
        let a = Allocation {
            request,
            selection: Selection {
                primary: Placement {
                    lun: LunRef::new(
                        IscsiName::new(target.as_str()).expect("name"),
                        LunNumber::new(1).expect("lun"),
                    ),
                    size: 8 << 20,
                    entity: EntityId::new(format!("bench-array-{:04}", i / PER_ENTITY)),
                    portal: Portal::new(
                        lo(),
                        u16::try_from(20_000 + i / PER_ENTITY).expect("port"),
                    ),
                    alias: None,
                    why: None,
                },
                secondary: None,
            },
            state: AllocationState::Committed {
                at: Timestamp::from_millis(1),
            },
            reserved_at: Timestamp::from_millis(1),
            initiator: IscsiName::new(format!("iqn.2026-12.com.example:{server}")).expect("name"),
            dd_name: format!("bcm:{server}"),
        };
        let json = serde_json::to_string(&a).expect("json");
        let body = format!(r#"{{"request_id":"{id}","server":"{server}","size":"1MiB"}}"#);
        st.begin_request(&NewRequest {
            request_id: &id,
            server: &server,
            kind: RequestKind::Provision,
            body_json: &body,
            secret: Some(b"0123456789abcdef"),
            allocation: Some((&id, &json)),
        })
        .expect("seed");
        st.set_state(&id, RequestState::Completed, None, LedgerChange::None)
            .expect("commit");
    }
}

fn config(dir: &Path, isns: &str, servers: usize) -> std::path::PathBuf {
    let mut config = format!(
        r#"[manager]
store = "{store}"
domain = "example.com"
iqn_date = "2026-12"
[isns]
server = "{isns}"
control_node = "iqn.2026-12.com.example:bcm"
reconcile_interval = "1h"
scn_pacing = "250ms"
[probe]
initiator = "{PROBE}"
concurrency = 16
timeout = "2s"
[bmc]
user = "admin"
password = {{ value = "bench-Pw" }}
[api]
listen = "127.0.0.1:{api}"
"#,
        store = dir.join("bcm.sqlite").display(),
        api = harness::free_tcp_port(),
    );
    for i in 0..servers {
        config.push_str(&format!(
            "[[server]]\nname = \"server-{i}\"\nbmc = \"127.0.0.1:{}\"\n",
            30_000 + i
        ));
    }
    let path = dir.join("bcm.toml");
    std::fs::write(&path, config).expect("config");
    path
}

/// Starts `bcm serve` and waits for its ready file: the process and the time it took.
fn serve_until_ready(bin: &Path, cfg: &Path, dir: &Path, log: &str) -> (Child, Duration) {
    let ready = dir.join("ready");
    let _ = std::fs::remove_file(&ready);
    let t0 = Instant::now();
    // BCM_BENCH_SERVE_WRAPPER runs bcm under a profiler (e.g. "heaptrack -o /tmp/serve");
    // the figures then include the profiler's.
    let wrapper = std::env::var("BCM_BENCH_SERVE_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut serve = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let mut serve = serve
        .args(["--log", "warn", "-c"])
        .arg(cfg)
        .args(["serve", "--ready-file"])
        .arg(&ready)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).expect("log"))
        .spawn()
        .expect("bcm serve");
    while !ready.exists() {
        assert!(
            serve.try_wait().expect("wait").is_none(),
            "bcm serve exited: see {}",
            dir.join(log).display()
        );
        assert!(
            t0.elapsed() < Duration::from_secs(1800),
            "bcm serve not ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (serve, t0.elapsed())
}

fn stop(mut serve: Child) {
    // SIGTERM: the inventory deregisters its control node on the way out (isnsd 0.101
    // crashed after SCNs to a departed listener timed out).
    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let t0 = Instant::now();
    while serve.try_wait().ok().flatten().is_none() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = serve.kill();
    let _ = serve.wait();
}

fn isnsd() -> Peer {
    // In memory: with its file database isnsd rewrites and fsyncs it on every registration.
    Peer::start(
        "isnsd",
        &[
            ("ISNSD_PORT", harness::free_tcp_port().to_string()),
            ("ISNSD_DEBUG", String::new()),
            ("ISNSD_DATABASE", String::new()),
        ],
    )
}

fn ready_run(bin: &Path, targets: usize) {
    let isnsd = isnsd();
    let isns = format!("127.0.0.1:{}", isnsd.var("ISNSD_PORT"));
    let names: Vec<String> = (0..targets)
        .map(|i| format!("iqn.2026-12.bench.storage:disk{i:04}"))
        .collect();
    let tgtd = Peer::start(
        "tgtd",
        &[
            ("TGTD_PORT", harness::free_tcp_port().to_string()),
            (
                "TGTD_TARGETS",
                names
                    .iter()
                    .map(|t| format!("{t}=8M"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ("TGTD_ISNS", isns.clone()),
            ("TGTD_ISNS_ACCESS_CONTROL", "On".to_owned()),
        ],
    );
    // tgtd registers its targets one by one after it starts: wait for all of them.
    let (conf, source) = (isnsd.var("ISNSADM_CONF"), isnsd.var("ISNSADM_SOURCE"));
    let _ = harness::run(
        "isnsadm",
        &["-c", conf, "--register", &format!("control={source}")],
        &[],
    );
    let t = Instant::now();
    loop {
        let (_, out, _) = harness::run("isnsadm", &["-c", conf, "--list", "nodes"], &[]);
        let seen = out
            .lines()
            .filter(|l| l.contains("iqn.2026-12.bench.storage:"))
            .count();
        if seen >= targets {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "only {seen} targets registered"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &isns, 0);
    let (serve, first) = serve_until_ready(bin, &cfg, dir.path(), "serve-1.log");
    let hwm = vm_hwm_kib(serve.id()).unwrap_or(0);
    stop(serve);
    let (serve, again) = serve_until_ready(bin, &cfg, dir.path(), "serve-2.log");
    stop(serve);
    println!(
        "serve_ready: {targets} targets in one tgtd: ready after {:.2} s on a fresh isnsd ({targets} management DDs to make), {:.2} s on a restart (DDs in place); peak RSS {:.1} MiB",
        first.as_secs_f64(),
        again.as_secs_f64(),
        hwm as f64 / 1024.0
    );
    drop(tgtd);
    drop(isnsd);
}

fn memory_run(bin: &Path, n: usize) {
    let isnsd = isnsd();
    let isns = format!("127.0.0.1:{}", isnsd.var("ISNSD_PORT"));
    let server: SocketAddr = isns.parse().expect("addr");
    let t = Instant::now();
    register_memory_targets(server, n);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &isns, n);
    seed_assignments(&dir.path().join("bcm.sqlite"), n);
    eprintln!(
        "serve_ready: {n} targets, their management DDs and {n} assignments set up in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (serve, ready) = serve_until_ready(bin, &cfg, dir.path(), "serve-mem.log");
    // Whatever the manager does after its first round (recovery, reconciliation) counts too.
    std::thread::sleep(Duration::from_secs(5));
    let hwm = vm_hwm_kib(serve.id()).expect("VmHWM");
    stop(serve);
    println!(
        "serve_ready: {n} targets and {n} assignments: ready after {:.2} s, peak RSS (VmHWM) {:.1} MiB",
        ready.as_secs_f64(),
        hwm as f64 / 1024.0
    );
    drop(isnsd);
}

fn main() {
    for p in ["isnsd", "isnsadm", "tgtd", "tgtadm"] {
        harness::require_program(p);
    }
    let bin = harness::repo_root().join("target/release/bcm");
    assert!(
        bin.is_file(),
        "{} is missing: cargo build --release -p bcm --bins",
        bin.display()
    );
    let ready: Vec<usize> = std::env::var("BCM_BENCH_READY_TARGETS")
        .unwrap_or_else(|_| "50,500".to_owned())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    for n in ready {
        ready_run(&bin, n);
    }
    let memory: usize = std::env::var("BCM_BENCH_MEMORY_TARGETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    if memory > 0 {
        memory_run(&bin, memory);
    }
}
