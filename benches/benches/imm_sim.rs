//! One imm-sim host emulating 1,000 BMCs: RMCP+ session set-ups per second and commands
//! per second it sustains.
//!
//! The host runs in a separate process: this bench binary re-executes itself with
//! `IMM_SIM_BENCH_HOST=1`, and that child runs exactly what the `imm-sim` binary runs
//! (`imm_sim::cli::main_from`: one tokio runtime, one UDP socket, responder and store per
//! BMC, `--log-level warn` so log I/O does not dominate). The load generator is this
//! process: our tokio RMCP+ client (`ipmi_iscsi::driver::Client`), one UDP socket per
//! session, up to [`CONCURRENCY`] set-ups or one outstanding command per session at once.
//! Both processes share the machine's cores, so a figure is what one box does end to end.
//!
//! Measured:
//! - `session_setup`: Get Channel Auth Caps-less RMCP+ set-up (Open Session, RAKP 1-4,
//!   Set Session Privilege) plus Close Session, suite 17, spread over all 1,000 BMCs;
//! - `get_boot_flags`: Get System Boot Options parameter 5 over 1,000 open sessions (one per
//!   BMC), suite 17 (AES-CBC + HMAC-SHA256-128 each way);
//! - `set_boot_flags`: Set System Boot Options parameter 5 over the same sessions; each one
//!   changes the store, so imm-sim writes that BMC's `state.json` (temp + fsync + rename)
//!   before it answers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use ipmi_iscsi::driver::Client;
use ipmi_iscsi::ipmi::{NetFn, Request, chassis};
use ipmi_iscsi::rmcp::{CipherSuite, ClientConfig, Password};

/// Emulated BMCs in the host.
const BMCS: u16 = 1000;
/// Session set-ups in flight at once.
const CONCURRENCY: usize = 64;
const PASSWORD: &str = "bench-Pw-1000";
const BOUND: Duration = Duration::from_secs(20);

fn client_config() -> ClientConfig {
    let mut c = ClientConfig::new("admin", Password::new(PASSWORD).expect("short password"));
    c.suites = vec![CipherSuite::SUITE_17];
    c
}

/// `n` consecutive free UDP ports on 127.0.0.1.
fn free_range(n: u16) -> u16 {
    let mut base = 20_000u16;
    while base < 60_000 {
        match (base..base + n).find(|&p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_err()) {
            Some(taken) => base = taken + 1,
            None => return base,
        }
    }
    panic!("no {n} consecutive free udp ports");
}

struct Host {
    child: Child,
    dir: PathBuf,
    addrs: Vec<SocketAddr>,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn start_host() -> Host {
    let base = free_range(BMCS);
    let dir = std::env::temp_dir().join(format!("imm-sim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let ready = dir.join("ready");
    let child = Command::new(std::env::current_exe().expect("own path"))
        .env("IMM_SIM_BENCH_HOST", "1")
        .env("IMM_SIM_BENCH_PW", PASSWORD)
        .args(["imm-sim", "--bmc"])
        .arg(format!("127.0.0.1:{base}-{}", base + BMCS - 1))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["--user", "admin", "--password-env", "IMM_SIM_BENCH_PW"])
        .args(["--log-level", "warn", "--max-sessions", "4"])
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the imm-sim host");
    let t0 = Instant::now();
    while !ready.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "imm-sim host not ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "imm-sim host: {BMCS} bmcs bound in {:?}, rss {} KiB",
        t0.elapsed(),
        rss_kib(child.id()).unwrap_or(0)
    );
    Host {
        child,
        dir,
        addrs: (base..base + BMCS)
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .collect(),
    }
}

/// `n` set-ups (connect + close), BMCs round-robin, at most CONCURRENCY at once.
async fn setups(addrs: Arc<Vec<SocketAddr>>, n: u64, next: Arc<AtomicU64>) -> Duration {
    let t0 = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY.min(usize::try_from(n).unwrap_or(usize::MAX)) {
        let (addrs, next, done) = (addrs.clone(), next.clone(), done.clone());
        tasks.spawn(async move {
            while done.fetch_add(1, Ordering::Relaxed) < n {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let addr = addrs[usize::try_from(i % addrs.len() as u64).unwrap_or(0)];
                let c = Client::connect(addr, client_config(), BOUND)
                    .await
                    .expect("session set-up");
                c.close().await.expect("close");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("set-up task");
    }
    t0.elapsed()
}

/// `n` requests spread over every session, one outstanding per session.
async fn commands(pool: &mut Vec<Client>, n: u64, request: Request) -> Duration {
    let sessions = pool.len() as u64;
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut c) in pool.drain(..).enumerate() {
        let share = n / sessions + u64::from((i as u64) < n % sessions);
        let req = request.clone();
        tasks.spawn(async move {
            for _ in 0..share {
                let r = c.execute(req.clone()).await.expect("command");
                assert!(r.is_ok(), "completion {:?}", r.completion);
            }
            c
        });
    }
    while let Some(r) = tasks.join_next().await {
        pool.push(r.expect("command task"));
    }
    t0.elapsed()
}

fn bench(c: &mut Criterion) {
    let host = start_host();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let addrs = Arc::new(host.addrs.clone());
    let mut g = c.benchmark_group(format!("imm_sim_{BMCS}_bmcs"));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(2));
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(1));
    let next = Arc::new(AtomicU64::new(0));
    g.bench_function("session_setup", |b| {
        b.iter_custom(|iters| rt.block_on(setups(addrs.clone(), iters, next.clone())));
    });
    // One open session per BMC for the command figures.
    let mut pool: Vec<Client> = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in host.addrs.chunks(host.addrs.len().div_ceil(CONCURRENCY)) {
            let chunk = chunk.to_vec();
            tasks.spawn(async move {
                let mut out = Vec::new();
                for a in chunk {
                    out.push(
                        Client::connect(a, client_config(), BOUND)
                            .await
                            .expect("open"),
                    );
                }
                out
            });
        }
        let mut all = Vec::new();
        while let Some(r) = tasks.join_next().await {
            all.extend(r.expect("open task"));
        }
        all
    });
    assert_eq!(pool.len(), usize::from(BMCS));
    eprintln!(
        "imm-sim host with {} open sessions: rss {} KiB",
        pool.len(),
        rss_kib(host.child.id()).unwrap_or(0)
    );
    let get = Request::new(NetFn::CHASSIS, chassis::GET_SYSTEM_BOOT_OPTIONS, [5, 0, 0]);
    g.bench_function("get_boot_flags", |b| {
        b.iter_custom(|iters| rt.block_on(commands(&mut pool, iters, get.clone())));
    });
    let set = Request::new(
        NetFn::CHASSIS,
        chassis::SET_SYSTEM_BOOT_OPTIONS,
        [5, 0x80, 0x04, 0, 0, 0],
    );
    g.bench_function("set_boot_flags_persisted", |b| {
        b.iter_custom(|iters| rt.block_on(commands(&mut pool, iters, set.clone())));
    });
    g.finish();
    rt.block_on(async {
        for c in pool {
            let _ = c.close().await;
        }
    });
    drop(host);
}

fn main() -> ExitCode {
    if std::env::var_os("IMM_SIM_BENCH_HOST").is_some() {
        // The child: an imm-sim host, argv[1..] are its flags.
        return imm_sim::cli::main_from(std::env::args_os().skip(1));
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    ExitCode::SUCCESS
}
