//! Provisioning a fleet through `bcm serve`, against real peers on a realistic topology: N
//! storage systems, each a `tgtd` in its own network namespace with its own address
//! (`scripts/peers/netns-storage.sh`, so each is its own iSNS entity, as in a data center),
//! all registered with one open-isns `isnsd` (in memory, iSNS access control on); one
//! `imm-sim` emulating every BMC. The load generator posts boot requests to the HTTP API from
//! [`CLIENTS`] concurrent `curl` workers and reports the wall time, p50/p99 of the request
//! latency, provisions/s per storage system, the time the manager's iSNS changes waited for
//! their storage system (`bcm_scn_pacing_wait_seconds_total` from `/metrics`: the spacing
//! `scn_pacing` imposes, see `bcm::pacing`), and the manager's peak RSS (`VmHWM`).
//!
//! Two phases in one run: the fleet (`BCM_BENCH_SERVERS` servers, 500, over
//! `BCM_BENCH_SYSTEMS` systems, 10) and the one-storage-system worst case
//! (`BCM_BENCH_WORST_SERVERS`, 60, all on one system; 0 skips it), where every change is
//! serialized by the pacer.
//!
//! Side by side: the same BMC configuration done the way an operator scripts it, one
//! `ipmitool -I lanplus -C 17 raw ...` per request of our write sequence (the exact requests
//! `ipmi_iscsi::bootopt::WriteExchange` sends for that server, taken from the exchange
//! offline), sequentially, over a sample of [`IPMITOOL_SAMPLE`] BMCs; reported per BMC and as
//! a ratio to the manager's wall time per server.
//!
//! A run, not a criterion loop. Needs root (network namespaces). Build first:
//! `cargo build --release -p bcm -p imm-sim --bins`, then
//! `cargo bench -p benches --bench bcm_provision`. `BCM_BENCH_BIN_DIR` runs other `bcm` and
//! `imm-sim` binaries (a before/after comparison), `BCM_BENCH_PACING` another `scn_pacing`.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{Netns, Peer};
use ipmi_iscsi::bootopt::{Dialect, WriteExchange, WritePlan};
use ipmi_iscsi::ipmi::{Exchange, Response};
use ipmi_iscsi::params::{IscsiBootParams, IscsiName, IscsiTarget, Lun};

const CLIENTS: usize = 16;
const IPMITOOL_SAMPLE: usize = 10;
const BMC_PASSWORD: &str = "bench-Pw-500";

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn curl(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let mut args = vec![
        "-sS",
        "-X",
        method,
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "--max-time",
        "600",
    ];
    if let Some(b) = body {
        args.extend(["-H", "content-type: application/json", "--data-binary", b]);
    }
    args.push(url);
    let (_, out, _) = harness::run("curl", &args, &[]);
    match out.rsplit_once('\n') {
        Some((b, c)) => (c.trim().parse().unwrap_or(0), b.to_owned()),
        None => (0, String::new()),
    }
}

/// CPU time (user + system) a process used so far, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks / 100.0)
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A counter's value from the Prometheus text `metrics`.
fn metric(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The requests our write exchange sends for one server, answered "ok" offline (what a BMC
/// that accepts everything would see).
fn write_requests(server: usize, target: &str, port: u16) -> Vec<(u8, u8, Vec<u8>)> {
    let params = IscsiBootParams::new(
        IscsiName::new(format!("iqn.2026-12.com.example:server-{server}")).expect("name"),
        IscsiTarget {
            name: IscsiName::new(target).expect("target"),
            address: "127.0.0.1".parse().expect("ip"),
            port,
            lun: Lun::new(1).expect("lun"),
        },
    );
    let mut plan = WritePlan::new(params, Dialect::Oem { confidential: true });
    plan.steps.read_back = false;
    let mut ex = WriteExchange::new(&plan).expect("encodes");
    let mut out = Vec::new();
    while let Some(r) = ex.poll_request() {
        out.push((r.netfn.0, r.cmd, r.data.clone()));
        ex.handle_response(&Response::ok([]));
    }
    out
}

/// `n` consecutive free UDP ports on 127.0.0.1.
fn bmc_ports(n: u16) -> u16 {
    let mut base = 20_000u16;
    loop {
        match (base..base + n).find(|&p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_err()) {
            Some(taken) => base = taken + 1,
            None => break base,
        }
    }
}

/// What one phase measured.
struct Phase {
    systems: usize,
    servers: usize,
    wall: Duration,
    p50: Duration,
    p99: Duration,
    /// Per system: provisionings, its first request sent and its last answer.
    per_system: Vec<(usize, Duration, Duration)>,
    pacing_wait: Option<f64>,
    paced_changes: Option<f64>,
    proved: Option<f64>,
    hwm_kib: Option<u64>,
    ready: Duration,
    /// CPU seconds isnsd and `bcm serve` used during the provisionings.
    isnsd_cpu: Option<f64>,
    bcm_cpu: Option<f64>,
    /// For the ipmitool sample: BMC ports, targets and their portal port.
    bmc_first: u16,
    sample_targets: Vec<String>,
}

/// Provisions `servers` servers spread over `systems` storage systems.
fn run_phase(bin_dir: &Path, systems: usize, servers: usize, pacing: &str) -> Phase {
    let net = Netns::up(systems);
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = net.hub.to_string();
    // In memory: with its file database isnsd rewrites (and fsyncs) the database on every
    // registration, and 500 of them take minutes.
    let isnsd = Peer::start(
        "isnsd",
        &[
            ("ISNSD_PORT", harness::free_tcp_port().to_string()),
            ("ISNSD_ADDR", hub.clone()),
            ("ISNSD_DEBUG", String::new()),
            ("ISNSD_DATABASE", String::new()),
        ],
    );
    let isns = format!("{hub}:{}", isnsd.var("ISNSD_PORT"));
    // Server i's disk is on system i % systems.
    let target = |i: usize| format!("iqn.2026-12.bench.array{:02}:disk{i:04}", i % systems);
    let t_start = Instant::now();
    let tgtds: Vec<Peer> = std::thread::scope(|s| {
        let handles: Vec<_> = net
            .systems
            .iter()
            .enumerate()
            .map(|(k, (ns, ip))| {
                let targets: Vec<String> = (0..servers)
                    .filter(|i| i % systems == k)
                    .map(|i| format!("{}=8M", target(i)))
                    .collect();
                let isns = isns.clone();
                s.spawn(move || {
                    Peer::start_in_netns(
                        "tgtd",
                        ns,
                        &[
                            ("TGTD_PORT", "3260".to_owned()),
                            ("TGTD_ADDR", ip.to_string()),
                            ("TGTD_TARGETS", targets.join(" ")),
                            ("TGTD_ISNS", isns),
                            ("TGTD_ISNS_ACCESS_CONTROL", "On".to_owned()),
                        ],
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("tgtd start"))
            .collect()
    });
    // tgtd registers its targets with isnsd one by one after it starts: wait for all of them,
    // or the manager's first walk sees part of them.
    let (conf, source) = (isnsd.var("ISNSADM_CONF"), isnsd.var("ISNSADM_SOURCE"));
    let _ = harness::run(
        "isnsadm",
        &["-c", conf, "--register", &format!("control={source}")],
        &[],
    );
    loop {
        let (_, out, _) = harness::run("isnsadm", &["-c", conf, "--list", "nodes"], &[]);
        let seen = out
            .lines()
            .filter(|l| l.contains("iqn.2026-12.bench.array"))
            .count();
        if seen >= servers {
            break;
        }
        assert!(
            t_start.elapsed() < Duration::from_secs(600),
            "only {seen} targets registered"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (_, entities, _) = harness::run("isnsadm", &["-c", conf, "--list", "entities"], &[]);
    for (_, ip) in &net.systems {
        assert!(
            entities.contains(&ip.to_string()),
            "no iSNS entity for {ip}:\n{entities}"
        );
    }
    eprintln!(
        "{systems} tgtd with {servers} targets registered in iSNS after {:.1} s",
        t_start.elapsed().as_secs_f64()
    );
    let n = u16::try_from(servers).expect("servers fit u16");
    let bmc_first = bmc_ports(n);
    let imm = Peer::start(
        "imm-sim",
        &[
            (
                "IMM_SIM_BMCS",
                format!("127.0.0.1:{bmc_first}-{}", bmc_first + n - 1),
            ),
            ("IMM_SIM_PASSWORD", BMC_PASSWORD.to_owned()),
            (
                "IMM_SIM_BIN",
                bin_dir.join("imm-sim").to_string_lossy().into_owned(),
            ),
            ("IMM_SIM_ARGS", "--log-level warn".to_owned()),
        ],
    );
    let api_port = harness::free_tcp_port();
    let mut config = format!(
        r#"[manager]
store = "{store}"
domain = "example.com"
iqn_date = "2026-12"
reservation_ttl = "30m"
[isns]
server = "{isns}"
control_node = "iqn.2026-12.com.example:bcm"
reconcile_interval = "1h"
scn_pacing = "{pacing}"
[probe]
initiator = "iqn.2026-12.com.example:bcm-inventory"
concurrency = 16
[bmc]
user = "admin"
password = {{ value = "{BMC_PASSWORD}" }}
[api]
listen = "127.0.0.1:{api_port}"
"#,
        store = dir.path().join("bcm.sqlite").display()
    );
    for i in 0..servers {
        config.push_str(&format!(
            "[[server]]\nname = \"server-{i}\"\nbmc = \"127.0.0.1:{}\"\n",
            usize::from(bmc_first) + i
        ));
    }
    let cfg_path = dir.path().join("bcm.toml");
    std::fs::write(&cfg_path, config).expect("config");
    let ready_file = dir.path().join("ready");
    let t_serve = Instant::now();
    let mut serve = Command::new(bin_dir.join("bcm"))
        .args(["--log", "warn", "-c"])
        .arg(&cfg_path)
        .args(["serve", "--ready-file"])
        .arg(&ready_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).expect("log"))
        .spawn()
        .expect("bcm serve");
    while !ready_file.exists() {
        assert!(
            serve.try_wait().expect("wait").is_none(),
            "bcm serve exited"
        );
        assert!(
            t_serve.elapsed() < Duration::from_secs(1200),
            "bcm serve not ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ready = t_serve.elapsed();
    eprintln!("bcm serve ready in {:.1} s", ready.as_secs_f64());
    let base = format!("http://127.0.0.1:{api_port}");
    let url = format!("{base}/v1/boot-requests");
    let next = Arc::new(Mutex::new(0usize));
    let done = Arc::new(Mutex::new(Vec::new()));
    let isnsd_pid: u32 = isnsd.var("ISNSD_PID").parse().expect("pid");
    // The inventory's own paced changes (management DDs) happened before: counted apart.
    let (_, metrics_before) = curl("GET", &format!("{base}/metrics"), None);
    let cpu_before = (cpu_seconds(isnsd_pid), cpu_seconds(serve.id()));
    let t0 = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, done, url) = (Arc::clone(&next), Arc::clone(&done), url.clone());
            std::thread::spawn(move || {
                loop {
                    let i = {
                        let mut n = next.lock().expect("lock");
                        if *n >= servers {
                            return;
                        }
                        *n += 1;
                        *n - 1
                    };
                    let body = format!(
                        r#"{{"request_id":"bench-{i}","server":"server-{i}","size":"4MiB"}}"#
                    );
                    let t = Instant::now();
                    let began = t0.elapsed();
                    let (code, resp) = curl("POST", &url, Some(&body));
                    assert_eq!(code, 201, "server-{i}: {resp}");
                    let system = resp
                        .split("bench.array")
                        .nth(1)
                        .and_then(|r| r.get(..2))
                        .and_then(|s| s.parse::<usize>().ok())
                        .expect("the response names the target");
                    done.lock()
                        .expect("lock")
                        .push((system, t.elapsed(), began, t0.elapsed()));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let wall = t0.elapsed();
    let hwm_kib = vm_hwm_kib(serve.id());
    let isnsd_cpu = cpu_seconds(isnsd_pid).zip(cpu_before.0).map(|(a, b)| a - b);
    let bcm_cpu = cpu_seconds(serve.id())
        .zip(cpu_before.1)
        .map(|(a, b)| a - b);
    let (_, metrics) = curl("GET", &format!("{base}/metrics"), None);
    let _ = serve.kill();
    let _ = serve.wait();
    let done = done.lock().expect("lock").clone();
    let mut l: Vec<Duration> = done.iter().map(|(_, d, _, _)| *d).collect();
    l.sort();
    // Per system: provisionings, first request sent, last answer received.
    let mut per: BTreeMap<usize, (usize, Duration, Duration)> = BTreeMap::new();
    for (s, _, began, at) in &done {
        let e = per.entry(*s).or_insert((0, *began, *at));
        e.0 += 1;
        e.1 = e.1.min(*began);
        e.2 = e.2.max(*at);
    }
    let delta = |name: &str| {
        metric(&metrics, name).map(|after| after - metric(&metrics_before, name).unwrap_or(0.0))
    };
    let sample_targets = (0..IPMITOOL_SAMPLE.min(servers)).map(target).collect();
    drop(imm);
    drop(tgtds);
    drop(isnsd);
    drop(net);
    Phase {
        systems,
        servers,
        wall,
        p50: percentile(&l, 0.50),
        p99: percentile(&l, 0.99),
        per_system: per.into_values().collect(),
        pacing_wait: delta("bcm_scn_pacing_wait_seconds_total"),
        paced_changes: delta("bcm_scn_paced_changes_total"),
        proved: delta("bcm_scn_pacing_proved_total"),
        hwm_kib,
        ready,
        isnsd_cpu,
        bcm_cpu,
        bmc_first,
        sample_targets,
    }
}

/// The ipmitool loop and bcm's own pusher over the sample of a phase, each BMC once:
/// seconds per BMC for each, and the raw requests per BMC. The BMCs must still run: a fresh
/// imm-sim is started on the phase's ports.
fn bmc_side_by_side(bin_dir: &Path, phase: &Phase) -> (f64, f64, usize) {
    let sample = phase.sample_targets.len();
    let n = u16::try_from(sample).expect("small");
    let imm = Peer::start(
        "imm-sim",
        &[
            (
                "IMM_SIM_BMCS",
                format!("127.0.0.1:{}-{}", phase.bmc_first, phase.bmc_first + n - 1),
            ),
            ("IMM_SIM_PASSWORD", BMC_PASSWORD.to_owned()),
            (
                "IMM_SIM_BIN",
                bin_dir.join("imm-sim").to_string_lossy().into_owned(),
            ),
            ("IMM_SIM_ARGS", "--log-level warn".to_owned()),
        ],
    );
    let t_ipmi = Instant::now();
    let mut requests_sent = 0usize;
    for (i, target) in phase.sample_targets.iter().enumerate() {
        let port = phase.bmc_first + u16::try_from(i).expect("sample fits u16");
        for (netfn, cmd, data) in write_requests(i, target, 3260) {
            let mut args = vec![
                "raw".to_owned(),
                format!("0x{netfn:02x}"),
                format!("0x{cmd:02x}"),
            ];
            args.extend(data.iter().map(|b| format!("0x{b:02x}")));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (ok, _, err) = harness::ipmitool_lan(port, "admin", BMC_PASSWORD, Some(17), &args);
            assert!(ok, "ipmitool: {err}");
            requests_sent += 1;
        }
    }
    let per_bmc_ipmitool = t_ipmi.elapsed().as_secs_f64() / sample as f64;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pusher = bcm::bmc::BmcPusher::new(bcm::bmc::PusherConfig::default(), &[]);
    let t_ours = Instant::now();
    for (i, target) in phase.sample_targets.iter().enumerate() {
        let login = bcm::bmc::BmcLogin {
            addr: std::net::SocketAddr::from((
                [127, 0, 0, 1],
                phase.bmc_first + u16::try_from(i).expect("small"),
            )),
            user: "admin".to_owned(),
            password: ipmi_iscsi::rmcp::Password::new(BMC_PASSWORD).expect("password"),
        };
        let params = IscsiBootParams::new(
            IscsiName::new(format!("iqn.2026-12.com.example:server-{i}")).expect("name"),
            IscsiTarget {
                name: IscsiName::new(target.as_str()).expect("target"),
                address: "127.0.0.1".parse().expect("ip"),
                port: 3260,
                lun: Lun::new(1).expect("lun"),
            },
        );
        rt.block_on(pusher.configure(&login, &params, false))
            .expect("push");
    }
    let per_bmc_ours = t_ours.elapsed().as_secs_f64() / sample as f64;
    drop(imm);
    (
        per_bmc_ipmitool,
        per_bmc_ours,
        requests_sent / sample.max(1),
    )
}

fn report(phase: &Phase, per_bmc_ipmitool: f64, pacing: &str) {
    let wall = phase.wall.as_secs_f64();
    println!(
        "bcm_provision: {} servers over {} storage system(s) through bcm serve ({CLIENTS} concurrent clients, scn_pacing {pacing})",
        phase.servers, phase.systems
    );
    println!("  serve ready          {:.1} s", phase.ready.as_secs_f64());
    println!(
        "  wall time            {wall:.1} s  ({:.2} provisions/s)",
        phase.servers as f64 / wall
    );
    println!(
        "  request p50 / p99    {:.2} s / {:.2} s",
        phase.p50.as_secs_f64(),
        phase.p99.as_secs_f64()
    );
    let rates: Vec<f64> = phase
        .per_system
        .iter()
        .map(|(n, first, last)| *n as f64 / (*last - *first).as_secs_f64())
        .collect();
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    println!(
        "  per storage system   {:.2} .. {:.2} provisions/s (its count / its first request to its last answer; {} systems)",
        min,
        max,
        rates.len()
    );
    match (phase.pacing_wait, phase.paced_changes) {
        (Some(w), Some(c)) => println!(
            "  pacing waits         {w:.1} s in all over {c:.0} paced iSNS changes ({:.0} ms each, queueing for the system included); {} ended on proof tgtd read its SCN",
            if c > 0.0 { w * 1000.0 / c } else { 0.0 },
            phase
                .proved
                .map_or_else(|| "none".to_owned(), |p| format!("{p:.0}"))
        ),
        _ => println!("  pacing waits         not reported by this bcm"),
    }
    let per = |c: Option<f64>| {
        c.map_or_else(
            || "?".to_owned(),
            |c| format!("{:.1} ms", c * 1000.0 / phase.servers as f64),
        )
    };
    println!(
        "  CPU per provisioning isnsd {}, bcm serve {}",
        per(phase.isnsd_cpu),
        per(phase.bcm_cpu)
    );
    println!(
        "  manager peak RSS     {} MiB",
        phase
            .hwm_kib
            .map_or_else(|| "?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
    );
    println!(
        "  vs ipmitool loop     {:.1}x (ipmitool loop per BMC / manager wall per server)",
        per_bmc_ipmitool / (wall / phase.servers as f64)
    );
}

fn main() {
    for p in [
        "isnsd", "isnsadm", "tgtd", "tgtadm", "curl", "ipmitool", "ip",
    ] {
        harness::require_program(p);
    }
    let servers: usize = env_or("BCM_BENCH_SERVERS", 500);
    let systems: usize = env_or("BCM_BENCH_SYSTEMS", 10);
    let worst: usize = env_or("BCM_BENCH_WORST_SERVERS", 60);
    let pacing: String = env_or("BCM_BENCH_PACING", "250ms".to_owned());
    let root = harness::repo_root();
    let bin_dir = std::env::var_os("BCM_BENCH_BIN_DIR")
        .map_or_else(|| root.join("target/release"), PathBuf::from);
    for b in ["bcm", "imm-sim"] {
        assert!(
            bin_dir.join(b).is_file(),
            "{} is missing: cargo build --release -p bcm -p imm-sim --bins",
            bin_dir.join(b).display()
        );
    }
    let fleet = run_phase(&bin_dir, systems, servers, &pacing);
    let (per_bmc_ipmitool, per_bmc_ours, requests) = bmc_side_by_side(&bin_dir, &fleet);
    report(&fleet, per_bmc_ipmitool, &pacing);
    println!(
        "  ipmitool loop        {per_bmc_ipmitool:.2} s per BMC ({requests} raw requests, one process and RMCP+ session each, over {} BMCs)",
        fleet.sample_targets.len()
    );
    println!(
        "  bcm's pusher         {per_bmc_ours:.3} s per BMC (one RMCP+ session, write + read-back), same sample: {:.0}x faster than the loop",
        per_bmc_ipmitool / per_bmc_ours
    );
    if worst > 0 {
        let one = run_phase(&bin_dir, 1, worst, &pacing);
        report(&one, per_bmc_ipmitool, &pacing);
    }
}
