//! Test harness for integration tests that run against real third-party peers.
//!
//! Include it from an integration test with
//! `#[path = "../../scripts/peers/harness.rs"] mod harness;` (one `../` more from a crate two
//! levels down, such as `examples/imm-sim`) (one file, shared by every
//! crate, so the workspace needs no test-support crate). It starts a peer through
//! `scripts/peers/start-<peer>.sh`, parses the `KEY=VALUE` lines the script prints, and
//! stops the peer (via `stop.sh`) when the returned [`Peer`] is dropped, also on panic.
//!
//! A missing peer program is a test failure, never a silent skip: `scripts/test.sh`
//! installs every peer first (`scripts/install-peers.sh`).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root: the nearest directory above the including crate that holds
/// `scripts/peers` (crates sit one or two levels below it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("scripts").join("peers").is_dir())
        .expect("a directory above the crate holds scripts/peers")
        .to_path_buf()
}

/// A binary of another workspace package (`imm-sim` for the manager's tests), from the
/// profile directory this test runs in. Cargo tells a test only its own package's binary
/// paths; `cargo test --workspace` builds every package's binaries before any test runs,
/// and a single-package run needs `cargo build -p <package>` first (the failure says so).
pub fn workspace_bin(package: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable sits in target/<profile>/deps");
    let bin = profile_dir.join(name);
    assert!(
        bin.is_file(),
        "{} is not built: run `cargo build -p {package}` (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// Directory holding the peer scripts.
pub fn peers_dir() -> PathBuf {
    repo_root().join("scripts").join("peers")
}

/// Fails the test (with the install hint) unless `program` is on `PATH`.
pub fn require_program(program: &str) {
    // Remembered per process: helpers that check on every call (ipmitool_lan) spawn no
    // extra shell each time, which timed loops over them would measure.
    static FOUND: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut found_before = FOUND
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if found_before.iter().any(|p| p == program) {
        return;
    }
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if found {
        found_before.push(program.to_owned());
    }
    assert!(
        found,
        "required peer program `{program}` is not installed; run scripts/install-peers.sh \
         (tests never skip a missing peer)"
    );
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    s.local_addr().expect("local addr").port()
}

/// A running peer; dropping it stops every process its script recorded.
pub struct Peer {
    /// Scratch directory (pid files, logs, configs). Kept after the test for inspection.
    pub dir: PathBuf,
    /// The `KEY=VALUE` lines the start script printed.
    pub vars: BTreeMap<String, String>,
    _tmp: Option<tempdir_lite::TempDir>,
}

impl Peer {
    /// Runs `scripts/peers/start-<name>.sh DIR` with `env` and parses its output.
    ///
    /// Panics (failing the test) when the script fails, with its stderr.
    pub fn start(name: &str, env: &[(&str, String)]) -> Peer {
        let tmp = tempdir_lite::TempDir::new(name);
        let dir = tmp.path().to_path_buf();
        Self::start_in(name, &dir, env, Some(tmp))
    }

    /// Like [`Peer::start`] but in a caller-chosen directory (restart tests reuse it).
    pub fn start_in_dir(name: &str, dir: &Path, env: &[(&str, String)]) -> Peer {
        Self::start_in(name, dir, env, None)
    }

    /// Like [`Peer::start`] but inside network namespace `netns` (`ip netns exec`): the peer
    /// listens on that namespace's addresses (see [`Netns`]).
    pub fn start_in_netns(name: &str, netns: &str, env: &[(&str, String)]) -> Peer {
        let tmp = tempdir_lite::TempDir::new(name);
        let dir = tmp.path().to_path_buf();
        Self::start_with(name, &dir, env, Some(tmp), Some(netns))
    }

    fn start_in(
        name: &str,
        dir: &Path,
        env: &[(&str, String)],
        tmp: Option<tempdir_lite::TempDir>,
    ) -> Peer {
        Self::start_with(name, dir, env, tmp, None)
    }

    fn start_with(
        name: &str,
        dir: &Path,
        env: &[(&str, String)],
        tmp: Option<tempdir_lite::TempDir>,
        netns: Option<&str>,
    ) -> Peer {
        let script = peers_dir().join(format!("start-{name}.sh"));
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "bash"]);
                c
            }
            None => Command::new("bash"),
        };
        cmd.arg(&script).arg(dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script:?}: {e}"));
        // Build the guard first so a failed start still stops what was recorded.
        let mut peer = Peer {
            dir: dir.to_path_buf(),
            vars: BTreeMap::new(),
            _tmp: tmp,
        };
        assert!(
            out.status.success(),
            "start-{name}.sh failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((k, v)) = line.split_once('=') {
                peer.vars
                    .insert(k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
            }
        }
        peer
    }

    /// The value of a `KEY=VALUE` line the start script printed.
    pub fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("peer printed no {key}: {:?}", self.vars))
    }

    /// Stops the peer now (also done on drop).
    pub fn stop(&self) {
        let _ = Command::new("bash")
            .arg(peers_dir().join("stop.sh"))
            .arg(&self.dir)
            .status();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Network namespaces for storage systems (`scripts/peers/netns-storage.sh`): one namespace
/// and address per system, all reachable from the root namespace through a bridge whose
/// address is [`Netns::hub`]. Removed on drop, also on panic; a process killed outright
/// leaves them to the next `up`, which removes the sets of dead owners.
pub struct Netns {
    /// The set's tag (its bridge is `bcmf<tag>`).
    pub tag: String,
    /// The root namespace's address on the bridge (listen here to serve the systems).
    pub hub: Ipv4Addr,
    /// Per system: namespace name and its address.
    pub systems: Vec<(String, Ipv4Addr)>,
}

impl Netns {
    /// Creates `n` namespaces; fails the test when that is impossible (not root, no `ip`).
    pub fn up(n: usize) -> Netns {
        require_program("ip");
        let script = peers_dir().join("netns-storage.sh");
        let out = Command::new("bash")
            .arg(&script)
            .args(["up", &n.to_string(), &std::process::id().to_string()])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script:?}: {e}"));
        assert!(
            out.status.success(),
            "netns-storage.sh up {n} failed (needs root):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut vars = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((k, v)) = line.split_once('=') {
                vars.insert(k.to_owned(), v.trim_matches('"').to_owned());
            }
        }
        let tag = vars["NETNS_TAG"].clone();
        // From here on a panic still removes the set.
        let mut set = Netns {
            tag,
            hub: Ipv4Addr::UNSPECIFIED,
            systems: Vec::new(),
        };
        set.hub = vars["NETNS_HUB"].parse().expect("hub address");
        set.systems = vars["NETNS_NAMES"]
            .split_whitespace()
            .zip(vars["NETNS_ADDRS"].split_whitespace())
            .map(|(n, a)| (n.to_owned(), a.parse().expect("system address")))
            .collect();
        assert_eq!(set.systems.len(), n, "netns-storage.sh printed {vars:?}");
        set
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(peers_dir().join("netns-storage.sh"))
            .args(["down", &self.tag])
            .status();
    }
}

/// An `isnsd` on 127.0.0.1 (its own directory and file database), with `isnsadm` bound to it.
pub struct Isnsd {
    pub peer: Peer,
    pub port: u16,
}

impl Isnsd {
    /// Starts isnsd on a free port; fails the test when isnsd or isnsadm is missing.
    pub fn start() -> Isnsd {
        require_program("isnsd");
        require_program("isnsadm");
        let port = free_tcp_port();
        let peer = Peer::start("isnsd", &[("ISNSD_PORT", port.to_string())]);
        Isnsd { peer, port }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port)
    }

    /// `isnsadm` with this server's configuration; fails the test unless it succeeds.
    pub fn isnsadm(&self, args: &[&str]) -> String {
        let mut all = vec!["-c", self.peer.var("ISNSADM_CONF")];
        all.extend_from_slice(args);
        let (ok, out, err) = run("isnsadm", &all, &[]);
        assert!(ok, "isnsadm {args:?} failed: {out} {err}");
        out
    }

    /// Registers isnsadm's source as a Control node, which sees every node and DD.
    pub fn as_control(&self) {
        let src = self.peer.var("ISNSADM_SOURCE").to_owned();
        self.isnsadm(&["--register", &format!("control={src}")]);
    }

    /// `isnsadm --list dds` as a Control node.
    pub fn list_dds(&self) -> String {
        self.as_control();
        self.isnsadm(&["--list", "dds"])
    }
}

/// `ipmitool -I lanplus` against the BMC on 127.0.0.1:`port` as `user`, the password passed
/// through `IPMI_PASSWORD` (`-E`, so it is not on the command line), with cipher suite `suite`
/// (`None`: ipmitool picks one). `args` are the remaining options and the command.
pub fn ipmitool_lan(
    port: u16,
    user: &str,
    password: &str,
    suite: Option<u8>,
    args: &[&str],
) -> (bool, String, String) {
    require_program("ipmitool");
    let port = port.to_string();
    let suite = suite.map(|s| s.to_string());
    let mut all = vec![
        "-I",
        "lanplus",
        "-H",
        "127.0.0.1",
        "-p",
        &port,
        "-U",
        user,
        "-E",
    ];
    if let Some(s) = &suite {
        all.extend(["-C", s.as_str()]);
    }
    all.extend_from_slice(args);
    run("ipmitool", &all, &[("IPMI_PASSWORD", password)])
}

/// Runs a command, returning (success, stdout, stderr) as strings.
pub fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A tiny temporary-directory guard (no extra dependency): removed on drop unless
/// `KEEP_PEER_DIRS=1` is set.
mod tempdir_lite {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    static COUNTER: AtomicU32 = AtomicU32::new(0);

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let base = std::env::var_os("TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
            let p = base.join(format!("bcm-peer-{tag}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).expect("create peer dir");
            TempDir(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            if std::env::var_os("KEEP_PEER_DIRS").is_none() {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}

/// `tgtadm` against the tgtd whose management socket is `socket`; fails the test on error.
pub fn tgtadm(socket: &str, args: &[&str]) {
    let (ok, out, err) = run("tgtadm", args, &[("TGT_IPC_SOCKET", socket)]);
    assert!(ok, "tgtadm {args:?}: {out} {err}");
}

/// Writes the reporting boot sector (`scripts/vm/bootdisk.asm`, labelled `label`) into LUN 1
/// of the first target of the tgtd started in `tgtd_dir`.
pub fn write_boot_sector(tgtd_dir: &Path, label: &str) {
    let disk = tgtd_dir.join("bootdisk.img");
    let script = repo_root().join("scripts/vm/make-bootdisk.sh");
    let (ok, out, err) = run(
        "bash",
        &[
            script.to_str().expect("utf-8 path"),
            disk.to_str().expect("utf-8 path"),
            label,
            "1M",
        ],
        &[],
    );
    assert!(ok, "make-bootdisk: {out} {err}");
    let lun = tgtd_dir.join("tgtd").join("t1-lun1.img");
    let (ok, out, err) = run(
        "dd",
        &[
            &format!("if={}", disk.display()),
            &format!("of={}", lun.display()),
            "conv=notrunc",
            "status=none",
        ],
        &[],
    );
    assert!(ok, "dd the boot sector into {}: {out} {err}", lun.display());
}

/// A tgtd serving `target` with one 32 MiB LUN that holds the reporting boot sector labelled
/// `label`; with `chap = Some((user, secret))` that account is bound to the target, so a
/// login needs it. Returns the peer and its iSCSI port.
pub fn start_boot_target(target: &str, label: &str, chap: Option<(&str, &str)>) -> (Peer, u16) {
    for p in ["qemu-system-x86_64", "nasm", "tgtd", "tgtadm"] {
        require_program(p);
    }
    let port = free_tcp_port();
    let tgtd = Peer::start(
        "tgtd",
        &[
            ("TGTD_PORT", port.to_string()),
            ("TGTD_TARGETS", target.to_owned()),
            ("TGTD_LUN_SIZES", "32M".to_owned()),
        ],
    );
    if let Some((user, secret)) = chap {
        let socket = tgtd.var("TGT_IPC_SOCKET").to_owned();
        let account = ["--lld", "iscsi", "--mode", "account", "--user", user];
        let new = [&account[..], &["--op", "new", "--password", secret]].concat();
        tgtadm(&socket, &new);
        let bind = [&account[..], &["--op", "bind", "--tid", "1"]].concat();
        tgtadm(&socket, &bind);
    }
    write_boot_sector(&tgtd.dir, label);
    (tgtd, port)
}

/// Boots a QEMU VM (`scripts/vm/run-vm.sh`) on `dir/boot.ipxe` with a time limit of
/// `timeout_s` seconds. The serial log goes next to `dir`, not inside it (QEMU serves `dir`
/// over TFTP). Returns QEMU's exit status (33: the boot sector ran) and the serial log.
pub fn run_vm(dir: &Path, timeout_s: &str) -> (Option<i32>, String) {
    let serial = dir
        .parent()
        .expect("the VM directory has a parent")
        .join(format!(
            "{}-serial.log",
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("vm")
        ));
    let script = repo_root().join("scripts/vm/run-vm.sh");
    let status = Command::new("bash")
        .args([
            script.to_str().expect("utf-8 path"),
            dir.to_str().expect("utf-8 path"),
            serial.to_str().expect("utf-8 path"),
            timeout_s,
        ])
        .status()
        .expect("run scripts/vm/run-vm.sh");
    (
        status.code(),
        std::fs::read_to_string(&serial).unwrap_or_default(),
    )
}
