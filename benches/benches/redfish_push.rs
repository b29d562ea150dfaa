//! bcm's Redfish push against 500 Redfish BMCs in one imm-sim, beside a sequential loop of
//! curl doing the same requests, in one run.
//!
//! The imm-sim host runs in a child process (this bench binary re-executed with
//! `IMM_SIM_BENCH_HOST=1`, running exactly what the `imm-sim` binary runs), 500 BMCs, each
//! with its HTTPS Redfish service. One push is bcm's whole conversation
//! (`bcm::redfish::flow::configure`, no reset): service root, session login, Systems,
//! the system, its chassis, NetworkAdapters, the NIC, its functions, each function, the
//! settings object (ETag), PATCH with If-Match, read-back, session DELETE — 14 requests over
//! one kept-alive TLS connection, certificate checked against the BMC's own PEM.
//!
//! Measured (elements = pushes):
//! - `bcm_concurrent_16`: 16 pushes in flight, BMCs round-robin;
//! - `bcm_sequential`: one push at a time (what the curl loop does);
//! - `curl_sequential`: the same 14 requests as one `curl` process each (a new TLS
//!   connection per request, as a shell loop over curl or `rf_raw_request.py` makes), one
//!   push at a time. DMTF's `rf_raw_request.py` was not timed: at ~0.3 s of Python start-up
//!   per request a push would take ~5 s.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bcm::redfish::flow::{self, Endpoint};
use bcm::redfish::tls::Trust;
use bcm::redfish::transport::{Bounds, Credentials};
use criterion::{Criterion, Throughput};
use ipmi_iscsi::params::{IscsiBootParams, IscsiName, IscsiTarget, Lun};

/// Emulated BMCs in the host.
const BMCS: u16 = 500;
const CONCURRENCY: usize = 16;
const PASSWORD: &str = "bench-Rf-500";

/// `n` consecutive free ports on 127.0.0.1 (UDP or TCP) from `from`.
fn free_range(n: u16, from: u16, tcp: bool) -> u16 {
    let mut base = from;
    while base < 60_000 {
        let taken = (base..base + n).find(|&p| {
            if tcp {
                std::net::TcpListener::bind(("127.0.0.1", p)).is_err()
            } else {
                std::net::UdpSocket::bind(("127.0.0.1", p)).is_err()
            }
        });
        match taken {
            Some(t) => base = t + 1,
            None => return base,
        }
    }
    panic!("no {n} consecutive free ports");
}

struct Host {
    child: Child,
    dir: PathBuf,
    https: Vec<SocketAddr>,
    certs: Vec<PathBuf>,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_host() -> Host {
    let udp = free_range(BMCS, 21_000, false);
    let tcp = free_range(BMCS, 31_000, true);
    let dir = std::env::temp_dir().join(format!("redfish-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let ready = dir.join("ready");
    let child = Command::new(std::env::current_exe().expect("own path"))
        .env("IMM_SIM_BENCH_HOST", "1")
        .env("IMM_SIM_BENCH_PW", PASSWORD)
        .args(["imm-sim", "--bmc"])
        .arg(format!("127.0.0.1:{udp}-{}", udp + BMCS - 1))
        .arg("--redfish")
        .arg(format!("127.0.0.1:{tcp}-{}", tcp + BMCS - 1))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["--user", "admin", "--password-env", "IMM_SIM_BENCH_PW"])
        .args(["--log-level", "warn"])
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the imm-sim host");
    let t0 = Instant::now();
    while !ready.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "imm-sim host not ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "imm-sim host: {BMCS} redfish bmcs ready in {:?}",
        t0.elapsed()
    );
    Host {
        child,
        https: (tcp..tcp + BMCS)
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .collect(),
        certs: (udp..udp + BMCS)
            .map(|p| {
                dir.join("state")
                    .join(format!("127.0.0.1_{p}"))
                    .join("redfish.pem")
            })
            .collect(),
        dir,
    }
}

fn params(i: u64) -> IscsiBootParams {
    IscsiBootParams::new(
        IscsiName::new(format!("iqn.2026-12.bench.rf:host{i}")).expect("iqn"),
        IscsiTarget {
            name: IscsiName::new("iqn.2026-12.bench.rf:disk").expect("iqn"),
            address: "127.0.0.1".parse().expect("ip"),
            port: 3260,
            lun: Lun::new(u16::try_from(i % 200).expect("lun")).expect("lun"),
        },
    )
}

fn endpoint(host: &Host, i: usize) -> Endpoint {
    Endpoint {
        bmc: host.https[i].to_string(),
        trust: Trust::CaFile(host.certs[i].clone()),
        creds: Credentials {
            user: "admin".into(),
            password: PASSWORD.into(),
        },
        system_uuid: None,
        mac: None,
    }
}

/// `n` pushes, BMCs round-robin, at most `concurrency` in flight.
async fn pushes(
    host: Arc<Vec<Endpoint>>,
    n: u64,
    concurrency: usize,
    next: Arc<AtomicU64>,
) -> Duration {
    let bounds = Bounds {
        request: Duration::from_secs(30),
        step: Duration::from_secs(120),
        ..Bounds::default()
    };
    let t0 = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(usize::try_from(n).unwrap_or(usize::MAX)) {
        let (host, next, done) = (host.clone(), next.clone(), done.clone());
        tasks.spawn(async move {
            while done.fetch_add(1, Ordering::Relaxed) < n {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let at = usize::try_from(i % host.len() as u64).unwrap_or(0);
                let r = flow::configure(&host[at], &params(i), false, bounds)
                    .await
                    .expect("push");
                assert_eq!(r.requests, 14, "{r}");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("push task");
    }
    t0.elapsed()
}

fn curl(ep: &Endpoint, cert: &std::path::Path, args: &[&str], path: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "-D", "-", "--max-time", "30", "--cacert"])
        .arg(cert)
        .args(args)
        .arg(format!("https://{}{path}", ep.bmc))
        .output()
        .expect("curl");
    assert!(out.status.success(), "curl {path}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_owned(), body.to_owned())
}

fn header(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
        .unwrap_or_default()
}

/// The same 14 requests as bcm's push, one curl process each, one push at a time.
fn curl_pushes(host: &Host, eps: &[Endpoint], n: u64, next: &AtomicU64) -> Duration {
    let t0 = Instant::now();
    for _ in 0..n {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let at = usize::try_from(i % eps.len() as u64).unwrap_or(0);
        let (ep, cert) = (&eps[at], &host.certs[at]);
        let login = format!(r#"{{"UserName":"admin","Password":"{PASSWORD}"}}"#);
        curl(ep, cert, &[], "/redfish/v1/");
        let (head, _) = curl(
            ep,
            cert,
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                &login,
            ],
            "/redfish/v1/SessionService/Sessions",
        );
        let token = format!("X-Auth-Token: {}", header(&head, "X-Auth-Token"));
        let session = header(&head, "Location");
        let auth = ["-H", token.as_str()];
        let base = "/redfish/v1/Chassis/1/NetworkAdapters";
        for path in [
            "/redfish/v1/Systems",
            "/redfish/v1/Systems/1",
            "/redfish/v1/Chassis/1",
            base,
            "/redfish/v1/Chassis/1/NetworkAdapters/NIC1",
            "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions",
            "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/1",
            "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/2",
        ] {
            curl(ep, cert, &auth, path);
        }
        let settings =
            "/redfish/v1/Chassis/1/NetworkAdapters/NIC1/NetworkDeviceFunctions/1/Settings";
        let (head, _) = curl(ep, cert, &auth, settings);
        let if_match = format!("If-Match: {}", header(&head, "ETag"));
        let body = serde_json::json!({
            "BootMode": "iSCSI",
            "iSCSIBoot": bcm::redfish::mapping::to_iscsi_boot(&params(i)).expect("maps"),
        })
        .to_string();
        let (head, _) = curl(
            ep,
            cert,
            &[
                "-X",
                "PATCH",
                "-H",
                &token,
                "-H",
                &if_match,
                "-H",
                "Content-Type: application/json",
                "-d",
                &body,
            ],
            settings,
        );
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        curl(ep, cert, &auth, settings);
        curl(ep, cert, &["-X", "DELETE", "-H", &token], &session);
    }
    t0.elapsed()
}

fn bench(c: &mut Criterion) {
    let host = start_host();
    let eps: Arc<Vec<Endpoint>> =
        Arc::new((0..host.https.len()).map(|i| endpoint(&host, i)).collect());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group(format!("redfish_push_{BMCS}_bmcs"));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(2));
    g.measurement_time(Duration::from_secs(15));
    g.throughput(Throughput::Elements(1));
    let next = Arc::new(AtomicU64::new(0));
    g.bench_function("bcm_concurrent_16", |b| {
        b.iter_custom(|iters| rt.block_on(pushes(eps.clone(), iters, CONCURRENCY, next.clone())));
    });
    g.bench_function("bcm_sequential", |b| {
        b.iter_custom(|iters| rt.block_on(pushes(eps.clone(), iters, 1, next.clone())));
    });
    g.bench_function("curl_sequential", |b| {
        b.iter_custom(|iters| curl_pushes(&host, &eps, iters, &next));
    });
    g.finish();
    drop(host);
}

fn main() -> ExitCode {
    if std::env::var_os("IMM_SIM_BENCH_HOST").is_some() {
        return imm_sim::cli::main_from(std::env::args_os().skip(1));
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    ExitCode::SUCCESS
}
