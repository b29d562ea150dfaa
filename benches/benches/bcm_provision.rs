//! Provisioning 500 servers through `bcm serve`, against real peers on loopback: open-isns
//! `isnsd`, one `tgtd` with 500 single-LUN targets (iSNS access control on), one `imm-sim`
//! emulating the 500 BMCs. The load generator posts boot requests to the HTTP API from
//! [`CLIENTS`] concurrent `curl` workers; it reports the wall time for all 500, p50/p99 of
//! the request latency, and the manager's peak RSS (`VmHWM`).
//!
//! Side by side: the same BMC configuration done the way an operator scripts it, one
//! `ipmitool -I lanplus -C 17 raw ...` per request of our write sequence (the exact requests
//! `ipmi_iscsi::bootopt::WriteExchange` sends for that server, taken from the exchange
//! offline), sequentially, over a sample of [`IPMITOOL_SAMPLE`] BMCs; reported per BMC and
//! as a ratio to the manager's BMC step (its `configure BMC` steps' durations from the
//! journal are not exposed, so the comparison uses the manager's whole-request median).
//!
//! A run, not a criterion loop: one provisioning of 500 servers takes minutes, because the
//! manager spaces the iSNS changes that notify one tgtd (see `bcm::pacing`; all 500 targets
//! are in one entity here). Build first: `cargo build --release -p bcm -p imm-sim --bins`, then
//! `cargo bench -p benches --bench bcm_provision`. `BCM_BENCH_SERVERS` changes the count.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::Peer;
use ipmi_iscsi::bootopt::{Dialect, WriteExchange, WritePlan};
use ipmi_iscsi::ipmi::{Exchange, Response};
use ipmi_iscsi::params::{IscsiBootParams, IscsiName, IscsiTarget, Lun};

const CLIENTS: usize = 16;
const IPMITOOL_SAMPLE: usize = 10;
const PACING: &str = "250ms";

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

fn curl(url: &str, body: &str) -> (u16, String) {
    let (_, out, _) = harness::run(
        "curl",
        &[
            "-sS",
            "-X",
            "POST",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "--max-time",
            "600",
            "-H",
            "content-type: application/json",
            "--data-binary",
            body,
            url,
        ],
        &[],
    );
    match out.rsplit_once('\n') {
        Some((b, c)) => (c.trim().parse().unwrap_or(0), b.to_owned()),
        None => (0, String::new()),
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
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

fn main() {
    for p in ["isnsd", "tgtd", "tgtadm", "curl", "ipmitool"] {
        harness::require_program(p);
    }
    let servers: usize = std::env::var("BCM_BENCH_SERVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let root = harness::repo_root();
    let bin = |name: &str| root.join("target/release").join(name);
    for b in ["bcm", "imm-sim"] {
        assert!(
            bin(b).is_file(),
            "{} is missing: cargo build --release -p bcm -p imm-sim --bins",
            bin(b).display()
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // In memory: with its file database isnsd rewrites (and fsyncs) the database on every
    // registration, and 500 of them take minutes.
    let isnsd = Peer::start(
        "isnsd",
        &[
            ("ISNSD_PORT", harness::free_tcp_port().to_string()),
            ("ISNSD_DEBUG", String::new()),
            ("ISNSD_DATABASE", String::new()),
        ],
    );
    let isns = format!("127.0.0.1:{}", isnsd.var("ISNSD_PORT"));
    let targets: Vec<String> = (0..servers)
        .map(|i| format!("iqn.2026-12.bench.storage:disk{i:04}"))
        .collect();
    let t_start = Instant::now();
    let tgtd = Peer::start(
        "tgtd",
        &[
            ("TGTD_PORT", harness::free_tcp_port().to_string()),
            (
                "TGTD_TARGETS",
                targets
                    .iter()
                    .map(|t| format!("{t}=8M"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ("TGTD_ISNS", isns.clone()),
            ("TGTD_ISNS_ACCESS_CONTROL", "On".to_owned()),
        ],
    );
    let tgt_port: u16 = tgtd.var("TGTD_PORT").parse().expect("port");
    // tgtd registers its targets with isnsd one by one after it starts: wait for all of them,
    // or the manager's first walk sees part of them (new targets reach the inventory only at
    // its next reconciliation walk: isnsd sends a Control node no SCN for them).
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
            .filter(|l| l.contains("iqn.2026-12.bench.storage:"))
            .count();
        if seen >= servers {
            break;
        }
        assert!(
            t_start.elapsed() < Duration::from_secs(600),
            "only {seen} targets registered"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    eprintln!(
        "tgtd with {servers} targets registered in iSNS after {:.1} s",
        t_start.elapsed().as_secs_f64()
    );
    let n = u16::try_from(servers).expect("servers fit u16");
    let bmc_first = {
        let mut base = 20_000u16;
        loop {
            match (base..base + n).find(|&p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_err()) {
                Some(taken) => base = taken + 1,
                None => break base,
            }
        }
    };
    let password = "bench-Pw-500";
    let imm = Peer::start(
        "imm-sim",
        &[
            (
                "IMM_SIM_BMCS",
                format!("127.0.0.1:{bmc_first}-{}", bmc_first + n - 1),
            ),
            ("IMM_SIM_PASSWORD", password.to_owned()),
            ("IMM_SIM_BIN", bin("imm-sim").to_string_lossy().into_owned()),
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
scn_pacing = "{PACING}"
[probe]
initiator = "iqn.2026-12.com.example:bcm-inventory"
concurrency = 16
[bmc]
user = "admin"
password = {{ value = "{password}" }}
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
    let ready = dir.path().join("ready");
    let t_serve = Instant::now();
    let mut serve = Command::new(bin("bcm"))
        .args(["--log", "warn", "-c"])
        .arg(&cfg_path)
        .args(["serve", "--ready-file"])
        .arg(&ready)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).expect("log"))
        .spawn()
        .expect("bcm serve");
    while !ready.exists() {
        assert!(
            serve.try_wait().expect("wait").is_none(),
            "bcm serve exited"
        );
        assert!(
            t_serve.elapsed() < Duration::from_secs(1200),
            "bcm serve not ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "bcm serve ready (walk, {servers} management DDs, {servers} probes) in {:.1} s",
        t_serve.elapsed().as_secs_f64()
    );
    let url = format!("http://127.0.0.1:{api_port}/v1/boot-requests");
    let next = Arc::new(Mutex::new(0usize));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, latencies, url) = (Arc::clone(&next), Arc::clone(&latencies), url.clone());
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
                    let (code, resp) = curl(&url, &body);
                    assert_eq!(code, 201, "server-{i}: {resp}");
                    latencies.lock().expect("lock").push(t.elapsed());
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let wall = t0.elapsed();
    let hwm = vm_hwm_kib(serve.id());
    let _ = serve.kill();
    let _ = serve.wait();
    let mut l = latencies.lock().expect("lock").clone();
    l.sort();
    let p50 = percentile(&l, 0.50);
    let p99 = percentile(&l, 0.99);

    // The same BMC configuration with ipmitool, sequentially, over a sample.
    let t_ipmi = Instant::now();
    let mut requests_sent = 0usize;
    for (i, target) in targets.iter().enumerate().take(IPMITOOL_SAMPLE) {
        let port = bmc_first + u16::try_from(i).expect("sample fits u16");
        for (netfn, cmd, data) in write_requests(i, target, tgt_port) {
            let mut args = vec![
                "raw".to_owned(),
                format!("0x{netfn:02x}"),
                format!("0x{cmd:02x}"),
            ];
            args.extend(data.iter().map(|b| format!("0x{b:02x}")));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (ok, _, err) = harness::ipmitool_lan(port, "admin", password, Some(17), &args);
            assert!(ok, "ipmitool: {err}");
            requests_sent += 1;
        }
    }
    let sample = u32::try_from(IPMITOOL_SAMPLE.min(servers)).expect("small");
    let per_bmc_ipmitool = t_ipmi.elapsed() / sample;

    // The same configuration with the manager's own pusher, sequentially, over the sample.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pusher = bcm::bmc::BmcPusher::new(bcm::bmc::PusherConfig::default(), &[]);
    let t_ours = Instant::now();
    for (i, target) in targets.iter().enumerate().take(IPMITOOL_SAMPLE) {
        let login = bcm::bmc::BmcLogin {
            addr: std::net::SocketAddr::from((
                [127, 0, 0, 1],
                bmc_first + u16::try_from(i).expect("small"),
            )),
            user: "admin".to_owned(),
            password: ipmi_iscsi::rmcp::Password::new(password).expect("password"),
        };
        let params = IscsiBootParams::new(
            IscsiName::new(format!("iqn.2026-12.com.example:server-{i}")).expect("name"),
            IscsiTarget {
                name: IscsiName::new(target.as_str()).expect("target"),
                address: "127.0.0.1".parse().expect("ip"),
                port: tgt_port,
                lun: Lun::new(1).expect("lun"),
            },
        );
        rt.block_on(pusher.configure(&login, &params, false))
            .expect("push");
    }
    let per_bmc_ours = t_ours.elapsed() / sample;

    println!(
        "bcm_provision: {servers} servers through bcm serve ({CLIENTS} concurrent clients, scn_pacing {PACING})"
    );
    println!(
        "  wall time            {:.1} s  ({:.2} provisions/s)",
        wall.as_secs_f64(),
        servers as f64 / wall.as_secs_f64()
    );
    println!(
        "  request p50 / p99    {:.2} s / {:.2} s",
        p50.as_secs_f64(),
        p99.as_secs_f64()
    );
    println!(
        "  manager peak RSS     {} MiB",
        hwm.map_or_else(|| "?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
    );
    println!(
        "  ipmitool loop        {:.2} s per BMC ({} raw requests, one process and RMCP+ session each, over {} BMCs)",
        per_bmc_ipmitool.as_secs_f64(),
        requests_sent / IPMITOOL_SAMPLE.min(servers),
        IPMITOOL_SAMPLE.min(servers)
    );
    println!(
        "  bcm's pusher         {:.3} s per BMC (one RMCP+ session, write + read-back), same sample",
        per_bmc_ours.as_secs_f64()
    );
    println!(
        "  ratios               ipmitool loop / bcm pusher = {:.1}x; ipmitool loop / manager wall per server = {:.1}x",
        per_bmc_ipmitool.as_secs_f64() / per_bmc_ours.as_secs_f64(),
        per_bmc_ipmitool.as_secs_f64() / (wall.as_secs_f64() / servers as f64)
    );
    drop(imm);
    drop(tgtd);
    drop(isnsd);
    let _ = PathBuf::new();
}
