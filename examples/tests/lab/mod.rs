//! A lab of real peers for the manager's live tests: isnsd, tgtd instances with LUNs
//! (iSNS access control on), imm-sim BMCs, the `bcm serve` daemon as a subprocess, and the
//! independent clients that check what happened (curl, isnsadm, ipmitool).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{self, Peer};

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub isnsd: Peer,
    /// isnsd restarted in the same directory (the first `Peer` keeps owning it).
    pub isnsd_again: Option<Peer>,
    pub tgtds: Vec<Peer>,
    pub imm: Peer,
    pub bmc_first: u16,
    pub bmc_password: String,
    pub config: PathBuf,
    pub serve: Option<Child>,
    pub api: Option<String>,
    /// The storage systems' network namespaces (`LabSpec::netns`); dropped last, after the
    /// peers inside them stopped.
    pub netns: Option<harness::Netns>,
}

/// What a lab holds.
pub struct LabSpec {
    /// Per tgtd instance: its listen address (distinct addresses give distinct iSNS
    /// entities) and its targets as `IQN=SIZE`.
    pub tgtds: Vec<(String, Vec<String>)>,
    /// Emulated BMCs.
    pub bmcs: u16,
    /// CHAP by default.
    pub chap: bool,
    /// Extra TOML appended to the manager's config.
    pub extra_config: String,
    /// BMC addresses the manager uses instead of imm-sim's (a lossy relay), by index.
    pub bmc_overrides: Vec<(u16, String)>,
    /// Extra lines for the `[isns]`, `[bmc]` and `[api]` sections.
    pub isns_extra: String,
    pub bmc_extra: String,
    pub api_listen: Option<String>,
    /// Keep isnsd's database in files (a test that restarts isnsd needs it); otherwise it
    /// stays in memory and isnsd writes and fsyncs no object files on every registration,
    /// which on a loaded machine made 50 tgtd registrations take over a minute.
    pub isnsd_file_database: bool,
    /// Each tgtd in its own network namespace with its own address (the `tgtds` addresses
    /// are then ignored), isnsd on the namespaces' hub address.
    pub netns: bool,
    /// Extra `imm-sim` flags (e.g. `--redfish ADDR`).
    pub imm_args: String,
    /// Extra TOML lines for the `[[server]]` table of BMC index `i`.
    pub server_extra: Vec<(u16, String)>,
}

impl Default for LabSpec {
    fn default() -> Self {
        Self {
            tgtds: Vec::new(),
            bmcs: 1,
            chap: false,
            extra_config: String::new(),
            bmc_overrides: Vec::new(),
            isns_extra: String::new(),
            bmc_extra: String::new(),
            api_listen: None,
            isnsd_file_database: false,
            netns: false,
            imm_args: String::new(),
            server_extra: Vec::new(),
        }
    }
}

/// A plain TCP relay from `[::1]:port` to isnsd (threads that live as long as the test
/// process); returns the port. Both ends are the real peers; it only copies bytes.
fn ipv6_relay(isnsd: &str) -> u16 {
    let l = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let isnsd = isnsd.to_owned();
    std::thread::spawn(move || {
        for a in l.incoming().flatten() {
            let Ok(b) = std::net::TcpStream::connect(&isnsd) else {
                continue;
            };
            let (Ok(mut a2), Ok(mut b2)) = (a.try_clone(), b.try_clone()) else {
                continue;
            };
            let (mut a, mut b) = (a, b);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut b);
                let _ = b.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut b2, &mut a2);
                let _ = a2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

/// `n` consecutive free UDP ports on 127.0.0.1.
pub fn free_udp_run(n: u16) -> u16 {
    for _ in 0..100 {
        let first = harness::free_udp_port();
        if first.checked_add(n).is_none() {
            continue;
        }
        if (first..first + n).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return first;
        }
    }
    panic!("no {n} consecutive free UDP ports");
}

/// `curl` on any URL, from any thread: (curl succeeded, HTTP status, body, stderr). The status
/// is 0 when no response came (the server is down).
pub fn curl(url: &str, method: &str, body: Option<&str>) -> (bool, u16, String, String) {
    let mut args = vec![
        "-sS",
        "-X",
        method,
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "--max-time",
        "120",
    ];
    if let Some(b) = body {
        args.extend(["-H", "content-type: application/json", "--data-binary", b]);
    }
    args.push(url);
    let (ok, out, err) = harness::run("curl", &args, &[]);
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", ""));
    (ok, code.trim().parse().unwrap_or(0), body.to_owned(), err)
}

impl Lab {
    pub fn start(spec: &LabSpec) -> Lab {
        assert!(spec.bmcs > 0);
        for p in ["isnsd", "isnsadm", "tgtd", "tgtadm", "ipmitool", "curl"] {
            harness::require_program(p);
        }
        let dir = tempfile::tempdir().unwrap();
        let netns = spec.netns.then(|| harness::Netns::up(spec.tgtds.len()));
        let hub = netns
            .as_ref()
            .map_or_else(|| "127.0.0.1".to_owned(), |n| n.hub.to_string());
        let isnsd = Peer::start(
            "isnsd",
            &[
                ("ISNSD_PORT", harness::free_tcp_port().to_string()),
                ("ISNSD_DEBUG", String::new()),
                ("ISNSD_ADDR", hub.clone()),
            ]
            .into_iter()
            .chain((!spec.isnsd_file_database).then(|| ("ISNSD_DATABASE", String::new())))
            .collect::<Vec<_>>(),
        );
        let isns = format!("{hub}:{}", isnsd.var("ISNSD_PORT"));
        let mut tgtds = Vec::new();
        let mut addrs = Vec::new();
        for (i, (addr, targets)) in spec.tgtds.iter().enumerate() {
            if let Some(n) = &netns {
                // Its own namespace and address: its own iSNS entity, its own SCN listener.
                let (ns, ip) = &n.systems[i];
                addrs.push(ip.to_string());
                tgtds.push(Peer::start_in_netns(
                    "tgtd",
                    ns,
                    &[
                        ("TGTD_PORT", "3260".to_owned()),
                        ("TGTD_ADDR", ip.to_string()),
                        ("TGTD_TARGETS", targets.join(" ")),
                        ("TGTD_ISNS", isns.clone()),
                        ("TGTD_ISNS_ACCESS_CONTROL", "On".to_owned()),
                    ],
                ));
                continue;
            }
            addrs.push(addr.clone());
            // tgtd names its iSNS entity after the local address of its iSNS connection:
            // an IPv6 tgtd reaches isnsd through a relay on [::1] to be its own entity. tgt
            // 1.0.85 opens no SCN listener over IPv6, so it cannot learn of DD changes and
            // runs with iSNS access control off.
            let (via, access) = if addr.contains(':') {
                (format!("::1:{}", ipv6_relay(&isns)), "Off")
            } else {
                (isns.clone(), "On")
            };
            tgtds.push(Peer::start(
                "tgtd",
                &[
                    ("TGTD_PORT", harness::free_tcp_port().to_string()),
                    ("TGTD_ADDR", addr.clone()),
                    ("TGTD_TARGETS", targets.join(" ")),
                    ("TGTD_ISNS", via),
                    ("TGTD_ISNS_ACCESS_CONTROL", access.to_owned()),
                ],
            ));
        }
        // tgtd registers its targets with isnsd one by one after it starts; the manager's
        // first walk must see them all (isnsd tells a Control node of new targets by no SCN).
        let want: usize = spec.tgtds.iter().map(|(_, t)| t.len()).sum();
        let conf = isnsd.var("ISNSADM_CONF").to_owned();
        let source = isnsd.var("ISNSADM_SOURCE").to_owned();
        let _ = harness::run(
            "isnsadm",
            &["-c", &conf, "--register", &format!("control={source}")],
            &[],
        );
        let t0 = Instant::now();
        loop {
            let (_, out, _) = harness::run("isnsadm", &["-c", &conf, "--list", "nodes"], &[]);
            let seen = out
                .lines()
                .filter(|l| l.contains("iSCSI node type = Target"))
                .count();
            if seen >= want {
                break;
            }
            // A readiness wait, not a measurement: tgtd registers its targets one request at
            // a time, so the bound grows with their number.
            let bound = Duration::from_secs(60 + 2 * u64::try_from(want).unwrap());
            assert!(
                t0.elapsed() < bound,
                "only {seen} of {want} targets registered with isnsd after {bound:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let bmc_first = free_udp_run(spec.bmcs);
        let bmc_password = format!("pw{:x}", std::process::id());
        let imm = Peer::start(
            "imm-sim",
            &[
                (
                    "IMM_SIM_BMCS",
                    format!("127.0.0.1:{bmc_first}-{}", bmc_first + spec.bmcs - 1),
                ),
                ("IMM_SIM_PASSWORD", bmc_password.clone()),
                (
                    "IMM_SIM_BIN",
                    harness::workspace_bin("imm-sim", "imm-sim")
                        .to_string_lossy()
                        .into_owned(),
                ),
                (
                    "IMM_SIM_ARGS",
                    format!("--log-level warn {}", spec.imm_args),
                ),
            ],
        );
        // One CHAP hook per tgtd, chosen by the shipped dispatcher from the target's portal.
        let tgt_chap = harness::repo_root().join("scripts/peers/tgt-chap.sh");
        let map = dir.path().join("chap-hooks.map");
        let rules: String = addrs
            .iter()
            .zip(&tgtds)
            .map(|(addr, t)| {
                let host = if addr.contains(':') {
                    format!("[{addr}]")
                } else {
                    addr.clone()
                };
                format!(
                    "portal={host}:{} env TGT_IPC_SOCKET={} {}\n",
                    t.var("TGTD_PORT"),
                    t.var("TGT_IPC_SOCKET"),
                    tgt_chap.display()
                )
            })
            .collect();
        std::fs::write(&map, format!("# written by the test lab\n{rules}")).unwrap();
        // The configured hook is a file of the lab, so a test can put another in its place.
        let hook = dir.path().join("chap-hook.sh");
        std::fs::write(
            &hook,
            format!(
                "#!/bin/sh\nexec {} {}\n",
                harness::repo_root()
                    .join("scripts/chap-hook-dispatch.sh")
                    .display(),
                map.display()
            ),
        )
        .unwrap();
        run_ok("chmod", &["+x", hook.to_str().unwrap()]);
        let config = dir.path().join("bcm.toml");
        let mut text = format!(
            r#"[manager]
store = "{store}"
domain = "example.com"
iqn_date = "2026-12"
reservation_ttl = "2m"
chap = {chap}

[isns]
server = "{isns}"
control_node = "iqn.2026-12.com.example:bcm"
request_timeout = "3s"
reconcile_interval = "10m"
{isns_extra}

[probe]
initiator = "iqn.2026-12.com.example:bcm-inventory"
concurrency = 8
timeout = "15s"

[bmc]
user = "admin"
password = {{ value = "{bmc_password}" }}
timeout = "5s"
{bmc_extra}

[targets]
chap_hook = ["{hook}"]

[api]
listen = "{api}"
"#,
            isns_extra = spec.isns_extra,
            bmc_extra = spec.bmc_extra,
            api = spec.api_listen.as_deref().unwrap_or("127.0.0.1:0"),
            store = dir.path().join("bcm.sqlite").display(),
            chap = spec.chap,
            hook = hook.display(),
        );
        for i in 0..spec.bmcs {
            let bmc = spec
                .bmc_overrides
                .iter()
                .find(|(j, _)| *j == i)
                .map_or_else(
                    || format!("127.0.0.1:{}", bmc_first + i),
                    |(_, a)| a.clone(),
                );
            text.push_str(&format!(
                "\n[[server]]\nname = \"server-{i}\"\nbmc = \"{bmc}\"\n"
            ));
            for (_, extra) in spec.server_extra.iter().filter(|(j, _)| *j == i) {
                text.push_str(extra);
                text.push('\n');
            }
        }
        text.push_str(&spec.extra_config);
        std::fs::write(&config, text).unwrap();
        Lab {
            dir,
            isnsd,
            isnsd_again: None,
            tgtds,
            imm,
            bmc_first,
            bmc_password,
            config,
            serve: None,
            api: None,
            netns,
        }
    }

    /// Kills isnsd (SIGKILL, as a crash) and starts it again on the same port and database
    /// after `down`.
    pub fn restart_isnsd(&mut self, down: Duration) {
        assert!(
            !self.isnsd.var("ISNSD_DB").is_empty(),
            "restart_isnsd needs LabSpec::isnsd_file_database"
        );
        let pid = self.isnsd_peer().var("ISNSD_PID").to_owned();
        run_ok("kill", &["-KILL", &pid]);
        std::thread::sleep(down);
        let dir = self.isnsd.dir.clone();
        let port = self.isnsd.var("ISNSD_PORT").to_owned();
        self.isnsd_again = Some(Peer::start_in_dir(
            "isnsd",
            &dir,
            &[("ISNSD_PORT", port), ("ISNSD_DEBUG", String::new())],
        ));
    }

    fn isnsd_peer(&self) -> &Peer {
        self.isnsd_again.as_ref().unwrap_or(&self.isnsd)
    }

    /// Starts `bcm serve` and waits until its API listens and the first inventory round
    /// finished (`bcm serve` only listens after that).
    pub fn serve(&mut self) -> String {
        let ready = self.dir.path().join("serve.ready");
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("serve.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_bcm"))
            .args(["--log", "bcm=info,warn", "-c"])
            .arg(&self.config)
            .args(["serve", "--ready-file"])
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.serve = Some(child);
        let t0 = Instant::now();
        while !ready.exists() {
            if let Some(c) = self.serve.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("bcm serve exited with {status}:\n{}", self.serve_log());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "bcm serve not ready:\n{}",
                self.serve_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let api = format!("http://{}", std::fs::read_to_string(&ready).unwrap().trim());
        self.api = Some(api.clone());
        api
    }

    /// SIGKILLs `bcm serve`.
    pub fn kill_serve(&mut self) {
        if let Some(mut c) = self.serve.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERMs `bcm serve` and waits for it.
    pub fn stop_serve(&mut self) {
        if let Some(mut c) = self.serve.take() {
            run_ok("kill", &["-TERM", &c.id().to_string()]);
            let _ = c.wait();
        }
    }

    pub fn serve_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// `curl` against the API: (HTTP status, body); fails the test when curl fails.
    pub fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let url = format!("{}{path}", self.api.as_deref().expect("serve first"));
        let (ok, code, body, err) = curl(&url, method, body);
        assert!(ok, "curl {method} {path}: {err}");
        (code, body)
    }

    fn isnsadm(&self, args: &[&str]) -> String {
        let conf = self.isnsd_peer().var("ISNSADM_CONF");
        let source = self.isnsd_peer().var("ISNSADM_SOURCE");
        let _ = harness::run(
            "isnsadm",
            &["-c", conf, "--register", &format!("control={source}")],
            &[],
        );
        let mut all = vec!["-c", conf];
        all.extend_from_slice(args);
        let (ok, out, err) = harness::run("isnsadm", &all, &[]);
        assert!(ok, "isnsadm {args:?}: {err}");
        out
    }

    /// `isnsadm --list dds`: DD name → members.
    pub fn dds(&self) -> BTreeMap<String, BTreeSet<String>> {
        bcm::demo::parse_isnsadm_dds(&self.isnsadm(&["--list", "dds"]))
    }

    /// `isnsadm --list nodes`: iSCSI names of every registered node.
    pub fn nodes(&self) -> BTreeSet<String> {
        self.isnsadm(&["--list", "nodes"])
            .lines()
            .filter(|l| l.contains(": iSCSI name = "))
            .filter_map(|l| {
                l.split_once('"')
                    .and_then(|(_, r)| r.rsplit_once('"'))
                    .map(|(v, _)| v.to_owned())
            })
            .collect()
    }

    /// `ipmitool -C 17` against BMC `i`.
    pub fn ipmitool(&self, i: u16, args: &[&str]) -> (bool, String) {
        let (ok, out, err) = harness::ipmitool_lan(
            self.bmc_first + i,
            "admin",
            &self.bmc_password,
            Some(17),
            args,
        );
        (ok, format!("{out}{err}"))
    }

    /// `bcm status --json`.
    pub fn status(&self) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_bcm"))
            .arg("-c")
            .arg(&self.config)
            .args(["status", "--json", "--recent", "1000"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.kill_serve();
    }
}

pub fn run_ok(program: &str, args: &[&str]) {
    let (ok, _, err) = harness::run(program, args, &[]);
    assert!(ok, "{program} {args:?}: {err}");
}

/// Appends a line to a file (test logs).
pub fn note(path: &Path, text: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{text}");
    }
}
