//! The dashboard at scale, in one run:
//!
//! * `dashboard/page_500_assignments` — `GET /`'s work without its cache: gather the page's
//!   data (engine, store: 500 assignments with their boot status and request times, 50
//!   recent requests) and render the whole page, for 10 storage systems of 80 targets;
//!   plus the same page fetched over HTTP from the real router on loopback, cold cache;
//! * provisioning with and without 50 open dashboards — 100 more servers provisioned and
//!   released through the manager, round after round for 4 s, while 50 clients poll
//!   `/ui/live` once a second each as the page's script does (`If-None-Match`, gzip),
//!   against the same with nobody watching; five alternated pairs, the median slowdown.
//!
//! The manager here has effects that succeed at once (no iSNS, target or BMC I/O): what is
//! left is the manager's own CPU and store work, the part the dashboard competes with, so
//! the ratio is the worst case; against real peers a provisioning takes seconds (see
//! `bcm_provision`) and the same polling cost is a smaller share of it.
#![allow(missing_docs)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bcm::app::InventoryStatus;
use bcm::auth::ApiAuth;
use bcm::config::Config;
use bcm::dashboard::{DashboardState, Role, render_page};
use bcm::manager::{
    Effects, Manager, ManagerOptions, ProvisionRequest, StepContext, StepError, StepOutcome,
};
use bcm::store::Store;
use boot_config_core::{
    Action, BootRequest, Engine, EngineConfig, EntityId, InventoryEvent, IscsiName, LunNumber,
    LunSpec, Portal, Provenance, ServerIdentity, SizeRange, Source, TargetSpec, Timestamp,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MIB: u64 = 1 << 20;
const SYSTEMS: usize = 10;
const PER_SYSTEM: usize = 80;
const ASSIGNED: usize = 500;
const BATCH: usize = 100;
const DASHBOARDS: usize = 50;
/// Alternated runs without and with the dashboards.
const PAIRS: usize = 5;
/// How long each run provisions.
const WINDOW: Duration = Duration::from_secs(4);

/// Effects that succeed at once.
struct Instant0;

impl Effects for Instant0 {
    async fn perform(
        &self,
        _action: &Action,
        _ctx: &StepContext<'_>,
    ) -> Result<StepOutcome, StepError> {
        Ok(StepOutcome::detail("done"))
    }
}

fn request(i: usize, round: usize) -> ProvisionRequest {
    let server = format!("server-{i:04}");
    let mut boot = BootRequest::new(
        format!("req-{round}-{i:04}"),
        server.as_str(),
        SizeRange::at_least(MIB),
    );
    boot.server = ServerIdentity {
        bmc: Some(format!("127.0.0.1:{}", 20_000 + i)),
        ..ServerIdentity::named(server.as_str())
    };
    ProvisionRequest {
        boot,
        power_cycle: None,
    }
}

fn manager() -> Manager<Instant0> {
    // In memory: a store on a shared disk made the figures follow other processes' fsyncs.
    let store = Store::open_in_memory().unwrap();
    let engine = Engine::new(EngineConfig::new(2026, 12, "example.com").unwrap());
    let m = Manager::new(engine, store, Instant0, ManagerOptions::default());
    let mut events = Vec::new();
    for s in 0..SYSTEMS {
        for t in 0..PER_SYSTEM {
            let name =
                IscsiName::new(format!("iqn.2026-12.com.example.array{s}:lun{t:03}")).unwrap();
            events.push(InventoryEvent::TargetUpserted(TargetSpec {
                name: name.clone(),
                entity: EntityId::new(format!("array{s}.example.com")),
                alias: Some(format!("array {s} volume {t}")),
                portals: vec![Portal::new(
                    IpAddr::V4(Ipv4Addr::new(127, 0, 0, u8::try_from(s + 1).unwrap())),
                    3260,
                )],
            }));
            events.push(InventoryEvent::LunsReported {
                target: name,
                luns: vec![LunSpec {
                    number: LunNumber::new(0).unwrap(),
                    size: Some(u64::try_from(32 + t).unwrap() * MIB),
                }],
            });
        }
    }
    m.apply(
        &events,
        Provenance::new(Source::IsnsQuery, Timestamp::from_millis(1_796_000_000_000)),
    );
    m
}

fn config() -> Config {
    let mut text = String::new();
    for i in 0..ASSIGNED {
        text.push_str(&format!(
            "[[server]]\nname = \"server-{i:04}\"\nbmc = \"127.0.0.1:{}\"\n",
            20_000 + i
        ));
    }
    Config::parse(&text, std::path::Path::new("bench")).unwrap()
}

/// One HTTP/1.1 GET on a kept-alive connection: (status, etag, body length).
fn get(conn: &mut TcpStream, path: &str, etag: Option<&str>) -> (u16, Option<String>, usize) {
    let inm = etag
        .map(|e| format!("if-none-match: {e}\r\n"))
        .unwrap_or_default();
    // One write: a request split over several small writes waits for the peer's delayed ACK.
    // Browsers accept gzip.
    let req = format!("GET {path} HTTP/1.1\r\nhost: bench\r\naccept-encoding: gzip\r\n{inm}\r\n");
    conn.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    let mut len = 0;
    let mut tag = None;
    for line in head.lines() {
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length: ") {
            len = v.trim().parse().unwrap();
        }
        if lower.starts_with("etag: ") {
            tag = Some(line[6..].trim().to_owned());
        }
    }
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).unwrap();
    (status, tag, len)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let m = manager();
    rt.block_on(async {
        for i in 0..ASSIGNED {
            m.provision(request(i, 0)).await.unwrap();
        }
    });
    assert_eq!(m.assignments().len(), ASSIGNED);
    let (_tx, status) = tokio::sync::watch::channel(InventoryStatus {
        rounds: 3,
        registered: true,
        targets: SYSTEMS * PER_SYSTEM,
        ..InventoryStatus::default()
    });
    let state = || DashboardState {
        manager: m.clone(),
        config: Arc::new(config()),
        status: status.clone(),
        auth: ApiAuth::open(),
    };

    let direct = state();
    let page = render_page(&direct, Role::Operator);
    assert_eq!(page.matches("<tr class=\"assignment\"").count(), ASSIGNED);
    println!(
        "dashboard: page of {ASSIGNED} assignments, {} targets: {} KiB",
        SYSTEMS * PER_SYSTEM,
        page.len() / 1024
    );
    let mut g = c.benchmark_group("dashboard");
    g.throughput(Throughput::Elements(u64::try_from(ASSIGNED).unwrap()));
    g.bench_function("page_500_assignments", |b| {
        b.iter(|| render_page(&direct, Role::Operator).len());
    });
    g.finish();

    // The real router on loopback.
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(SocketAddr::from((
            [127, 0, 0, 1],
            0,
        ))))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let router = bcm::dashboard::router(state());
    rt.spawn(async move {
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, router).await
    });
    let mut conn = TcpStream::connect(addr).unwrap();
    let mut cold = Vec::new();
    for _ in 0..10 {
        // Past the render cache's lifetime: every GET renders afresh.
        std::thread::sleep(bcm::dashboard::RENDER_TTL + Duration::from_millis(50));
        let t0 = Instant::now();
        let (code, _, len) = get(&mut conn, "/", None);
        cold.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(code, 200);
        assert!(len > 100_000);
    }
    let worst = cold.iter().copied().fold(0.0, f64::max);
    println!(
        "dashboard: GET / over HTTP, cold cache: median {:.1} ms, worst {worst:.1} ms (10 requests)",
        median(&mut cold)
    );

    let mut warm = Vec::new();
    for _ in 0..10 {
        let t0 = Instant::now();
        let (code, _, _) = get(&mut conn, "/", None);
        warm.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(code, 200);
    }
    println!(
        "dashboard: GET / over HTTP, warm cache (rendered within {} ms): median {:.1} ms",
        bcm::dashboard::RENDER_TTL.as_millis(),
        median(&mut warm)
    );

    // Provisioning with and without 50 open dashboards.
    let polls = Arc::new(AtomicU64::new(0));
    // Provision BATCH servers and release them again, round after round, for WINDOW; the
    // figure is provisionings per second (releases run too but are not counted).
    let round = AtomicU64::new(0);
    let run = |watchers: usize| -> f64 {
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..watchers)
            .map(|k| {
                let stop = Arc::clone(&stop);
                let polls = Arc::clone(&polls);
                std::thread::spawn(move || {
                    let mut conn = TcpStream::connect(addr).unwrap();
                    let mut etag = None;
                    // Spread the pollers over the second, as browsers opened at random.
                    std::thread::sleep(Duration::from_millis(u64::try_from(k * 20).unwrap()));
                    while !stop.load(Ordering::Relaxed) {
                        let (code, tag, _) = get(&mut conn, "/ui/live", etag.as_deref());
                        assert!(code == 200 || code == 304, "{code}");
                        if tag.is_some() {
                            etag = tag;
                        }
                        polls.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_secs(1));
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1100));
        let t0 = Instant::now();
        let mut done = 0usize;
        rt.block_on(async {
            while t0.elapsed() < WINDOW {
                let r = usize::try_from(round.fetch_add(1, Ordering::Relaxed)).unwrap() + 1;
                for i in ASSIGNED..ASSIGNED + BATCH {
                    m.provision(request(i, r)).await.unwrap();
                    done += 1;
                }
                for i in ASSIGNED..ASSIGNED + BATCH {
                    m.release(&format!("server-{i:04}")).await.unwrap();
                }
            }
        });
        #[allow(clippy::cast_precision_loss)]
        let rate = done as f64 / t0.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        rate
    };
    let mut ratios = Vec::new();
    let (mut alone, mut watched) = (Vec::new(), Vec::new());
    for _ in 0..PAIRS {
        let a = run(0);
        let w = run(DASHBOARDS);
        alone.push(a);
        watched.push(w);
        ratios.push(a / w);
    }
    println!(
        "dashboard: provisioning with {ASSIGNED} assigned ({BATCH} provisioned and released per round, {}s windows): alone median {:.0}/s, with {DASHBOARDS} dashboards polling median {:.0}/s ({} polls in all); slowdown (alone/with) median {:.3} (runs: {})",
        WINDOW.as_secs(),
        median(&mut alone),
        median(&mut watched),
        polls.load(Ordering::Relaxed),
        median(&mut ratios.clone()),
        ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(8));
    targets = bench
}
criterion_main!(benches);
