//! Shared helpers of the `imm_*` tests: start `imm-sim` through its start script, talk to
//! it with ipmitool, FreeIPMI and our own client.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipmi_iscsi::bootopt::{Dialect, ReadExchange, WriteExchange, WritePlan, WriteReport};
use ipmi_iscsi::driver::Client;
use ipmi_iscsi::ipmi::{NetFn, Request, Response, chassis};
use ipmi_iscsi::params::{
    Authentication, ChapCredentials, IscsiBootParams, IscsiName, IscsiTarget, Lun, Secret,
};
use ipmi_iscsi::rmcp::{CipherSuite, ClientConfig, ConfAlg, Password};

use crate::harness;

/// The BMC password every test uses (never expected in any log or public file).
pub const PASSWORD: &str = "imm-Pw-7c1e";
/// Overall bound of one client operation.
pub const BOUND: Duration = Duration::from_secs(10);

/// `n` consecutive UDP ports on 127.0.0.1 that were free a moment ago.
pub fn free_udp_range(n: u16) -> u16 {
    for _ in 0..200 {
        let base = harness::free_udp_port();
        if base > u16::MAX - n {
            continue;
        }
        let held: Vec<_> = (base..base + n)
            .map_while(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no {n} consecutive free udp ports");
}

/// A running `imm-sim` (stopped on drop through `stop.sh`).
pub struct ImmSim {
    /// The peer guard.
    pub peer: harness::Peer,
    /// Every BMC address, in order.
    pub addrs: Vec<SocketAddr>,
}

impl ImmSim {
    /// Starts `imm-sim` with BMCs `spec` (start-script syntax) and extra flags.
    pub fn start(spec: &str, addrs: Vec<SocketAddr>, extra_args: &str) -> Self {
        let peer = harness::Peer::start("imm-sim", &env(spec, extra_args));
        Self { peer, addrs }
    }

    /// Starts `imm-sim` in `dir` (a restart keeps the state found there).
    pub fn start_in(dir: &Path, spec: &str, addrs: Vec<SocketAddr>, extra_args: &str) -> Self {
        let peer = harness::Peer::start_in_dir("imm-sim", dir, &env(spec, extra_args));
        Self { peer, addrs }
    }

    /// `n` BMCs on consecutive ports, started as one range.
    pub fn range(n: u16, extra_args: &str) -> Self {
        let base = free_udp_range(n);
        let spec = format!("127.0.0.1:{base}-{}", base + n - 1);
        let addrs = (base..base + n)
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .collect();
        Self::start(&spec, addrs, extra_args)
    }

    /// The first BMC.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// A BMC's name (`ip_port`).
    pub fn name(addr: SocketAddr) -> String {
        format!("{}_{}", addr.ip(), addr.port())
    }

    /// Where a BMC's rendered files go.
    pub fn render_dir(&self, addr: SocketAddr) -> PathBuf {
        PathBuf::from(self.peer.var("IMM_SIM_RENDER_DIR")).join(Self::name(addr))
    }

    /// A BMC's state file.
    pub fn state_file(&self, addr: SocketAddr) -> PathBuf {
        PathBuf::from(self.peer.var("IMM_SIM_STATE_DIR"))
            .join(Self::name(addr))
            .join("state.json")
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.peer.var("IMM_SIM_LOG")).unwrap_or_default()
    }

    /// Waits until the log contains `needle` (the log is written asynchronously).
    pub fn wait_log(&self, needle: &str) -> String {
        for _ in 0..100 {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("log never showed {needle:?}:\n{}", self.log());
    }
}

fn env(spec: &str, extra_args: &str) -> Vec<(&'static str, String)> {
    vec![
        // Not env!("CARGO_BIN_EXE_imm-sim"): bcm's tests include this module too.
        (
            "IMM_SIM_BIN",
            harness::workspace_bin("imm-sim", "imm-sim")
                .display()
                .to_string(),
        ),
        ("IMM_SIM_BMCS", spec.to_owned()),
        ("IMM_SIM_PASSWORD", PASSWORD.to_owned()),
        ("IMM_SIM_ARGS", extra_args.to_owned()),
    ]
}

/// ipmitool lanplus against `addr` with cipher suite `suite`.
pub fn ipmitool(
    addr: SocketAddr,
    suite: u8,
    user: &str,
    password: &str,
    args: &[&str],
) -> (bool, String, String) {
    harness::ipmitool_lan(
        addr.port(),
        user,
        password,
        Some(suite),
        &[&["-N", "1", "-R", "2"], args].concat(),
    )
}

/// ipmitool as the administrator; fails the test unless it succeeds.
pub fn ipmitool_ok(addr: SocketAddr, suite: u8, args: &[&str]) -> String {
    let (ok, out, err) = ipmitool(addr, suite, "admin", PASSWORD, args);
    assert!(ok, "ipmitool -C {suite} {args:?} failed: {out}\n{err}");
    out
}

/// `ipmitool raw` output (hex bytes separated by white space) as bytes.
pub fn raw_bytes(out: &str) -> Vec<u8> {
    out.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

/// `Boot parameter data: 8004000000` → bytes.
pub fn bootparam_data(out: &str) -> Vec<u8> {
    let line = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Boot parameter data:"))
        .unwrap_or_else(|| panic!("no data line in {out}"));
    hex(line.trim())
}

/// Hex text → bytes.
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// A current-thread tokio runtime.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Our client config for `user`/`password`, optionally pinned to one suite (else 17, 3).
pub fn client_config(user: &str, password: &str, suite: Option<CipherSuite>) -> ClientConfig {
    let mut cfg = ClientConfig::new(user, Password::new(password).unwrap());
    if let Some(s) = suite {
        cfg.suites = vec![s];
    }
    cfg
}

/// Connects our client as the administrator.
pub async fn connect(addr: SocketAddr, suite: Option<CipherSuite>) -> Client {
    Client::connect(addr, client_config("admin", PASSWORD, suite), BOUND)
        .await
        .unwrap()
}

/// Whether the session encrypts (what the OEM dialect needs for secrets).
pub fn confidential(c: &Client) -> bool {
    c.cipher_suite()
        .is_some_and(|s| s.confidentiality == ConfAlg::AesCbc128)
}

/// Pushes `plan` with our client (one session), as the manager does.
pub async fn push(c: &mut Client, plan: &WritePlan) -> WriteReport {
    let mut ex = WriteExchange::new(plan).unwrap();
    c.run_exchange(&mut ex).await.unwrap();
    ex.into_outcome()
        .expect("write finished")
        .expect("write succeeded")
}

/// Reads back with our client.
pub async fn read_back(c: &mut Client, dialect: Dialect) -> ipmi_iscsi::bootopt::Configured {
    let mut ex = ReadExchange::new(dialect);
    c.run_exchange(&mut ex).await.unwrap();
    ex.outcome().expect("read finished")
}

/// Sends one chassis request.
pub async fn chassis_cmd(c: &mut Client, cmd: u8, data: &[u8]) -> Response {
    c.execute(Request::new(NetFn::CHASSIS, cmd, data.to_vec()))
        .await
        .unwrap()
}

/// Chassis Control power cycle.
pub async fn power_cycle(c: &mut Client) -> Response {
    chassis_cmd(c, chassis::CHASSIS_CONTROL, &[0x02]).await
}

/// Boot parameters with one-way CHAP.
pub fn chap_params(
    initiator: &str,
    target: &str,
    address: &str,
    port: u16,
    user: &str,
    secret: &str,
) -> IscsiBootParams {
    let mut p = IscsiBootParams::new(
        IscsiName::new(initiator).unwrap(),
        IscsiTarget {
            name: IscsiName::new(target).unwrap(),
            address: address.parse().unwrap(),
            port,
            lun: Lun::new(1).unwrap(),
        },
    );
    p.auth = Authentication::Chap {
        initiator: ChapCredentials {
            user: user.into(),
            secret: Secret::new(secret).unwrap(),
        },
        allow_any_secret_length: false,
    };
    p
}

/// Unix mode bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// What a VM boot from an imm-sim-rendered script must show.
pub struct BootExpected<'a> {
    /// The boot sector's label (serial marker `BCM-BOOT-OK label=…`).
    pub label: &'a str,
    /// Initiator name the iBFT publishes.
    pub initiator: &'a str,
    /// Target name the iBFT publishes.
    pub target: &'a str,
    /// Target port.
    pub port: u16,
    /// CHAP user name.
    pub chap_user: &'a str,
}

/// Asserts that the VM run on `dir` (QEMU exit `code`, `serial` log) reached the boot sector,
/// that the iBFT iPXE published names what `want` says, and that imm-sim's own rendered
/// `dir/ibft.bin` agrees with it (target, address, port, LUN, CHAP).
pub fn assert_booted_as_rendered(dir: &Path, code: Option<i32>, serial: &str, want: &BootExpected) {
    assert_eq!(
        code,
        Some(33),
        "the vm did not reach the boot sector; serial:\n{serial}"
    );
    assert!(
        serial.contains(&format!("BCM-BOOT-OK label={}", want.label)),
        "{serial}"
    );
    let published = serial
        .lines()
        .find_map(|l| l.trim().strip_prefix("IBFT-HEX "))
        .unwrap_or_else(|| panic!("no IBFT-HEX line:\n{serial}"));
    let theirs =
        ipmi_iscsi::render::decode_ibft(&hex(published.trim())).expect("iPXE's iBFT decodes");
    assert_eq!(theirs.initiator_name.as_deref(), Some(want.initiator));
    let t = &theirs.targets[0];
    assert_eq!(t.name.as_deref(), Some(want.target));
    assert_eq!(t.port, want.port);
    assert_eq!(t.chap_name.as_deref(), Some(want.chap_user));
    let ours =
        ipmi_iscsi::render::decode_ibft(&std::fs::read(dir.join("ibft.bin")).unwrap()).unwrap();
    assert_eq!(ours.initiator_name, theirs.initiator_name);
    let o = &ours.targets[0];
    assert_eq!(
        (&o.name, o.ip, o.port, o.lun, o.chap_type),
        (&t.name, t.ip, t.port, t.lun, t.chap_type)
    );
    assert_eq!(o.chap_secret, t.chap_secret);
}
