//! Integration tests against real tgtd (tgt 1.0.85, user space) on 127.0.0.1, with libiscsi's
//! `iscsi-readcapacity16`, `iscsi-inq` and `iscsi-ls` as the independent reference, and open-isns
//! `isnsd` + `isnsadm` for iSNS access control. A missing peer fails the test.

// The shared harness is formatted by its owner; keep `cargo fmt` out of it.
#[rustfmt::skip]
#[path = "../../scripts/peers/harness.rs"]
mod harness;

use harness::Isnsd;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use iscsi_probe::codes::DeviceType;
use iscsi_probe::{
    Auth, AuthError, ChapCredentials, LunState, ProbeError, ProbeLimits, ProbeRequest,
    SessionError, TargetReport, discover, probe, probe_many,
};

const INITIATOR: &str = "iqn.2026-01.test.bcm:prober";
const TIMEOUT: Duration = Duration::from_secs(10);

struct Tgtd {
    peer: harness::Peer,
    port: u16,
}

impl Tgtd {
    fn start(targets: &[&str], sizes: &str, extra: &[(&str, String)]) -> Self {
        harness::require_program("tgtd");
        harness::require_program("tgtadm");
        let port = harness::free_tcp_port();
        let mut env = vec![
            ("TGTD_PORT", port.to_string()),
            ("TGTD_TARGETS", targets.join(" ")),
            ("TGTD_LUN_SIZES", sizes.to_owned()),
        ];
        env.extend(extra.iter().cloned());
        let peer = harness::Peer::start("tgtd", &env);
        Tgtd { peer, port }
    }

    fn portal(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn tgtadm(&self, args: &[&str]) {
        let sock = self.peer.var("TGT_IPC_SOCKET").to_owned();
        let (ok, out, err) = harness::run("tgtadm", args, &[("TGT_IPC_SOCKET", &sock)]);
        assert!(ok, "tgtadm {args:?} failed: {out} {err}");
    }
}

fn url(port: u16, target: &str, lun: u16) -> String {
    format!("iscsi://127.0.0.1:{port}/{target}/{lun}")
}

/// (total bytes, block length) as `iscsi-readcapacity16` reports them.
fn reference_capacity(port: u16, target: &str, lun: u16) -> (u64, u32) {
    harness::require_program("iscsi-readcapacity16");
    let (ok, out, err) = harness::run(
        "iscsi-readcapacity16",
        &["-i", INITIATOR, &url(port, target, lun)],
        &[],
    );
    assert!(ok, "iscsi-readcapacity16 failed: {out} {err}");
    let field = |name: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    let block = u32::try_from(field("LOGICAL BLOCK LENGTH IN BYTES:")).unwrap();
    (field("Total size:"), block)
}

/// (vendor, product) as `iscsi-inq` reports them.
fn reference_inquiry(port: u16, target: &str, lun: u16) -> (String, String) {
    harness::require_program("iscsi-inq");
    let (ok, out, err) = harness::run(
        "iscsi-inq",
        &["-i", INITIATOR, &url(port, target, lun)],
        &[],
    );
    assert!(ok, "iscsi-inq failed: {out} {err}");
    let field = |name: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim_end().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    (field("Vendor:"), field("Product:"))
}

/// Target name -> LUN numbers, as `iscsi-ls` lists them.
fn reference_listing(port: u16) -> BTreeMap<String, Vec<u16>> {
    harness::require_program("iscsi-ls");
    let portal = format!("iscsi://127.0.0.1:{port}");
    let (ok, out, err) = harness::run("iscsi-ls", &["-i", INITIATOR, "-s", &portal], &[]);
    assert!(ok, "iscsi-ls failed: {out} {err}");
    let mut map: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    let mut current = None;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("Target:") {
            let name = rest.split_whitespace().next().unwrap().to_owned();
            map.entry(name.clone()).or_default();
            current = Some(name);
        } else if let Some(rest) = line.trim().strip_prefix("Lun:") {
            let n: u16 = rest.split_whitespace().next().unwrap().parse().unwrap();
            map.get_mut(current.as_ref().unwrap()).unwrap().push(n);
        }
    }
    map
}

fn assert_matches_reference(port: u16, report: &TargetReport) {
    let listing = reference_listing(port);
    let numbers: Vec<u16> = report.luns.iter().map(|l| l.number().unwrap()).collect();
    assert_eq!(
        Some(&numbers),
        listing.get(&report.target_name),
        "LUN list vs iscsi-ls"
    );
    for lun in &report.luns {
        let n = lun.number().unwrap();
        if n == 0 {
            // tgtd's LUN 0 is its controller: no capacity to report.
            assert_eq!(lun.device_type, DeviceType::STORAGE_ARRAY_CONTROLLER);
            assert_eq!(lun.state(), LunState::NoCapacity);
            continue;
        }
        assert_eq!(lun.device_type, DeviceType::DIRECT_ACCESS);
        assert_eq!(lun.state(), LunState::Ready, "{lun:?}");
        let (bytes, block) = reference_capacity(port, &report.target_name, n);
        assert_eq!(
            lun.size_bytes(),
            Some(bytes),
            "size of {} LUN {n}",
            report.target_name
        );
        assert_eq!(lun.block_size(), Some(block));
        let (vendor, product) = reference_inquiry(port, &report.target_name, n);
        assert_eq!(
            (lun.vendor.as_str(), lun.product.as_str()),
            (vendor.trim(), product.trim())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lun_sizes_of_several_targets_equal_what_iscsi_readcapacity16_reports() {
    let a = Tgtd::start(
        &["iqn.2026-01.test.tgt:a1", "iqn.2026-01.test.tgt:a2"],
        "32M 64M 1G",
        &[],
    );
    let b = Tgtd::start(&["iqn.2026-01.test.tgt:b1"], "64M 1G 32M", &[]);
    let requests = [
        (a.portal(), "iqn.2026-01.test.tgt:a1"),
        (a.portal(), "iqn.2026-01.test.tgt:a2"),
        (b.portal(), "iqn.2026-01.test.tgt:b1"),
    ]
    .map(|(portal, t)| ProbeRequest {
        portal,
        target_iqn: t.to_owned(),
        initiator_iqn: INITIATOR.to_owned(),
        auth: Auth::None,
    });
    let limits = ProbeLimits {
        concurrency: 2,
        per_target_timeout: TIMEOUT,
    };
    let outcomes = probe_many(requests.to_vec(), limits).await;
    assert_eq!(outcomes.len(), 3);
    for o in &outcomes {
        let report = o
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("{} failed: {e}", o.target_iqn));
        assert_eq!(report.target_name, o.target_iqn);
        assert_eq!(report.luns.len(), 4, "LUN 0 plus three disks: {report:?}");
        let port = o.portal.port();
        // The reference tools are blocking processes.
        tokio::task::block_in_place(|| assert_matches_reference(port, report));
    }
    // The sizes asked for, in order, as a cross-check of the reference itself.
    let sizes = |o: &iscsi_probe::ProbeOutcome| -> Vec<Option<u64>> {
        o.result
            .as_ref()
            .unwrap()
            .luns
            .iter()
            .skip(1)
            .map(iscsi_probe::LunReport::size_bytes)
            .collect()
    };
    const M: u64 = 1024 * 1024;
    assert_eq!(
        sizes(&outcomes[0]),
        [Some(32 * M), Some(64 * M), Some(1024 * M)]
    );
    assert_eq!(
        sizes(&outcomes[2]),
        [Some(64 * M), Some(1024 * M), Some(32 * M)]
    );
}

#[tokio::test]
async fn discover_lists_every_target_that_iscsi_ls_lists() {
    let t = Tgtd::start(
        &["iqn.2026-01.test.tgt:d1", "iqn.2026-01.test.tgt:d2"],
        "32M",
        &[],
    );
    let targets = discover(t.portal(), INITIATOR, &Auth::None, TIMEOUT)
        .await
        .unwrap();
    let mut names: Vec<_> = targets.iter().map(|t| t.name.clone()).collect();
    names.sort();
    let reference: Vec<String> = reference_listing(t.port).into_keys().collect();
    assert_eq!(names, reference);
    for target in &targets {
        let addrs: Vec<_> = target
            .addresses
            .iter()
            .filter_map(iscsi_probe::TargetAddress::socket_addr)
            .collect();
        assert_eq!(addrs, [t.portal()], "{target:?}");
    }
}

#[tokio::test]
async fn chap_login_succeeds_with_the_right_secret_and_fails_typed_with_a_wrong_one() {
    let target = "iqn.2026-01.test.tgt:chap";
    let t = Tgtd::start(&[target], "32M", &[]);
    t.tgtadm(&[
        "--lld",
        "iscsi",
        "--op",
        "new",
        "--mode",
        "account",
        "--user",
        "probe-user",
        "--password",
        "probe-secret-12",
    ]);
    t.tgtadm(&[
        "--lld",
        "iscsi",
        "--op",
        "bind",
        "--mode",
        "account",
        "--tid",
        "1",
        "--user",
        "probe-user",
    ]);

    let good = Auth::chap("probe-user", "probe-secret-12");
    let report = probe(t.portal(), target, INITIATOR, &good, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(report.luns.len(), 2);
    assert_eq!(report.luns[1].size_bytes(), Some(32 * 1024 * 1024));

    let wrong = Auth::chap("probe-user", "not-the-secret");
    let err = probe(t.portal(), target, INITIATOR, &wrong, TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.session_error(),
            Some(SessionError::Auth(AuthError::Rejected { .. }))
        ),
        "{err:?}"
    );
    // The secret never shows in the error or the auth's Debug.
    assert!(!format!("{err:?} {err} {wrong:?}").contains("not-the-secret"));

    let none = probe(t.portal(), target, INITIATOR, &Auth::None, TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(none.session_error(), Some(SessionError::Auth(_))),
        "{none:?}"
    );
}

#[tokio::test]
async fn mutual_chap_checks_the_target_secret() {
    let target = "iqn.2026-01.test.tgt:mutual";
    let t = Tgtd::start(&[target], "64M", &[]);
    t.tgtadm(&[
        "--lld",
        "iscsi",
        "--op",
        "new",
        "--mode",
        "account",
        "--user",
        "in-user",
        "--password",
        "in-secret-123",
    ]);
    t.tgtadm(&[
        "--lld", "iscsi", "--op", "bind", "--mode", "account", "--tid", "1", "--user", "in-user",
    ]);
    t.tgtadm(&[
        "--lld",
        "iscsi",
        "--op",
        "new",
        "--mode",
        "account",
        "--user",
        "out-user",
        "--password",
        "out-secret-456",
    ]);
    t.tgtadm(&[
        "--lld",
        "iscsi",
        "--op",
        "bind",
        "--mode",
        "account",
        "--tid",
        "1",
        "--user",
        "out-user",
        "--outgoing",
    ]);

    let initiator = ChapCredentials::new("in-user", "in-secret-123");
    let good = Auth::mutual_chap(
        initiator.clone(),
        ChapCredentials::new("out-user", "out-secret-456"),
    );
    let report = probe(t.portal(), target, INITIATOR, &good, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(report.luns[1].size_bytes(), Some(64 * 1024 * 1024));

    let bad = Auth::mutual_chap(
        initiator,
        ChapCredentials::new("out-user", "wrong-target-secret"),
    );
    let err = probe(t.portal(), target, INITIATOR, &bad, TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(
        err.session_error(),
        Some(&SessionError::Auth(AuthError::MutualFailed))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_target_times_out_within_the_bound_while_others_complete() {
    let t = Tgtd::start(
        &["iqn.2026-01.test.tgt:s1", "iqn.2026-01.test.tgt:s2"],
        "32M 64M",
        &[],
    );
    // Accepts TCP and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let req = |portal, target: &str| ProbeRequest {
        portal,
        target_iqn: target.to_owned(),
        initiator_iqn: INITIATOR.to_owned(),
        auth: Auth::None,
    };
    let bound = Duration::from_secs(2);
    // A port nobody listens on: refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let requests = vec![
        req(silent_addr, "iqn.2026-01.test.tgt:silent"),
        req(closed, "iqn.2026-01.test.tgt:closed"),
        req(t.portal(), "iqn.2026-01.test.tgt:s1"),
        req(t.portal(), "iqn.2026-01.test.tgt:s2"),
    ];
    let started = Instant::now();
    let outcomes = probe_many(
        requests,
        ProbeLimits {
            concurrency: 2,
            per_target_timeout: bound,
        },
    )
    .await;
    let elapsed = started.elapsed();
    holder.abort();

    let err = outcomes[0].result.as_ref().unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let refused = outcomes[1].result.as_ref().unwrap_err();
    assert!(
        matches!(
            refused,
            ProbeError::Connect {
                kind: ErrorKind::ConnectionRefused,
                ..
            }
        ),
        "{refused:?}"
    );
    for o in &outcomes[2..] {
        let r = o.result.as_ref().unwrap();
        assert_eq!(
            r.luns
                .iter()
                .filter(|l| l.state() == LunState::Ready)
                .count(),
            2
        );
    }
    // One silent probe holds one of two slots for `bound`; the others run beside it.
    assert!(
        elapsed >= bound,
        "silent target given up early: {elapsed:?}"
    );
    assert!(
        elapsed < bound * 3,
        "a silent target stalled the probe: {elapsed:?}"
    );
}

#[tokio::test]
async fn isns_access_control_refuses_an_initiator_until_it_shares_a_dd_with_the_target() {
    let isnsd = Isnsd::start();
    let target = "iqn.2026-01.test.tgt:guarded";
    let t = Tgtd::start(
        &[target],
        "32M 64M",
        &[
            ("TGTD_ISNS", format!("127.0.0.1:{}", isnsd.port)),
            ("TGTD_ISNS_ACCESS_CONTROL", "On".to_owned()),
        ],
    );
    let source = isnsd.peer.var("ISNSADM_SOURCE").to_owned();
    isnsd.isnsadm(&["--register", &format!("control={source}")]);
    // Wait until tgtd's target registration is visible in isnsd.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !isnsd.isnsadm(&["--list", "nodes"]).contains(target) {
        assert!(
            Instant::now() < deadline,
            "tgtd never registered {target} in isnsd"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let initiator = "iqn.2026-01.test.bcm:inventory";
    let refused = probe(t.portal(), target, initiator, &Auth::None, TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(
        refused.session_error(),
        Some(&SessionError::TargetNotFound),
        "{refused:?}"
    );

    // Register the initiator as an initiator node and put it in a DD with the target.
    isnsd.isnsadm(&["--register", &format!("initiator={initiator}")]);
    isnsd.isnsadm(&[
        "--dd-register",
        "dd-name=bcm-inventory",
        &format!("member-name={target}"),
        &format!("member-name={initiator}"),
    ]);
    // tgtd learns of the DD change through an SCN; allow it a few seconds.
    let deadline = Instant::now() + Duration::from_secs(15);
    let report = loop {
        match probe(t.portal(), target, initiator, &Auth::None, TIMEOUT).await {
            Ok(r) => break r,
            Err(e) => {
                assert_eq!(
                    e.session_error(),
                    Some(&SessionError::TargetNotFound),
                    "{e:?}"
                );
                assert!(
                    Instant::now() < deadline,
                    "still refused after the DD was set up"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // libiscsi, as the same initiator, is admitted too.
    let (ok, out, err) = harness::run(
        "iscsi-inq",
        &["-i", initiator, &url(t.port, target, 1)],
        &[],
    );
    assert!(ok, "iscsi-inq as the DD member was refused: {out} {err}");
    let sizes: Vec<_> = report
        .luns
        .iter()
        .map(iscsi_probe::LunReport::size_bytes)
        .collect();
    assert_eq!(
        sizes,
        [None, Some(32 * 1024 * 1024), Some(64 * 1024 * 1024)]
    );
    // Another initiator that is not in the DD is still refused.
    let other = "iqn.2026-01.test.bcm:stranger";
    let err = probe(t.portal(), target, other, &Auth::None, TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(err.session_error(), Some(&SessionError::TargetNotFound));
    let (ok, _, _) = harness::run("iscsi-inq", &["-i", other, &url(t.port, target, 1)], &[]);
    assert!(!ok, "iscsi-inq as a stranger was admitted");
}
