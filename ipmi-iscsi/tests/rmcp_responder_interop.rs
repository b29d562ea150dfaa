//! Independent IPMI clients (ipmitool lanplus, FreeIPMI) against our RMCP+ responder
//! served over UDP on 127.0.0.1, and our client against the same responder.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipmi_iscsi::driver::{Client, ClientError, serve};
use ipmi_iscsi::ipmi::{CompletionCode, NetFn, Request, Response, app, chassis};
use ipmi_iscsi::rmcp::{
    AuthFailure, CipherSuite, ClientConfig, Incoming, Password, Responder, ResponderConfig,
    SessionError,
};

type Store = Arc<Mutex<HashMap<(u8, u8), Vec<u8>>>>;

/// A minimal raw-bytes boot-options store for the responder tests (the real store lives
/// with the boot parameter model).
fn dispatch(store: &Store, incoming: &Incoming<'_>) -> Response {
    let r = &incoming.request;
    let mut s = store.lock().unwrap();
    match (r.netfn, r.cmd) {
        (NetFn::CHASSIS, chassis::SET_SYSTEM_BOOT_OPTIONS) if !r.data.is_empty() => {
            let param = r.data[0] & 0x7f;
            let (key, value) = if param == 7 && r.data.len() >= 2 {
                ((7, r.data[1]), r.data[1..].to_vec())
            } else {
                ((param, 0), r.data[1..].to_vec())
            };
            s.insert(key, value);
            Response::ok([])
        }
        (NetFn::CHASSIS, chassis::GET_SYSTEM_BOOT_OPTIONS) if r.data.len() == 3 => {
            let param = r.data[0] & 0x7f;
            let key = if param == 7 {
                (7, r.data[1])
            } else {
                (param, 0)
            };
            match s.get(&key) {
                Some(v) => {
                    let mut out = vec![1, param];
                    out.extend_from_slice(v);
                    Response::ok(out)
                }
                None if param == 5 => Response::ok([1, 5, 0, 0, 0, 0, 0]),
                None => Response::error(CompletionCode::BOOT_PARAM_NOT_SUPPORTED),
            }
        }
        (NetFn::CHASSIS, chassis::GET_CHASSIS_STATUS) => Response::ok([0x01, 0x00, 0x40, 0x00]),
        (NetFn::APP, app::GET_DEVICE_ID) => Response::ok([
            0x20, 0x01, 0x01, 0x00, 0x02, 0xbf, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]),
        _ => Response::error(CompletionCode::INVALID_COMMAND),
    }
}

struct Bmc {
    addr: SocketAddr,
    store: Store,
    _rt: tokio::runtime::Runtime,
}

fn start_bmc(suites: &[CipherSuite]) -> Bmc {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store: Store = Arc::default();
    let mut cfg = ResponderConfig::new(
        *b"bcm-test-bmc-gid",
        "admin",
        Password::new("password").unwrap(),
    );
    cfg.suites = suites.to_vec();
    let responder = Responder::new(cfg, ipmi_iscsi::driver::os_random());
    let socket = rt
        .block_on(tokio::net::UdpSocket::bind("127.0.0.1:0"))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    let st = store.clone();
    rt.spawn(async move { serve(socket, responder, move |i| dispatch(&st, i)).await });
    Bmc {
        addr,
        store,
        _rt: rt,
    }
}

fn ipmitool(bmc: &Bmc, suite: u8, password: &str, args: &[&str]) -> (bool, String, String) {
    harness::ipmitool_lan(
        bmc.addr.port(),
        "admin",
        password,
        Some(suite),
        &[&["-N", "1", "-R", "2"], args].concat(),
    )
}

#[test]
fn ipmitool_suite_17_reads_boot_flags_our_responder_stores() {
    let bmc = start_bmc(&[CipherSuite::SUITE_17, CipherSuite::SUITE_3]);
    bmc.store
        .lock()
        .unwrap()
        .insert((5, 0), vec![0xa0, 0x04, 0x00, 0x00, 0x00]);
    let (ok, out, err) = ipmitool(&bmc, 17, "password", &["chassis", "bootparam", "get", "5"]);
    assert!(ok, "ipmitool failed: {out}\n{err}");
    assert!(out.contains("Force PXE"), "{out}");
    assert!(out.contains("Options apply to only next boot"), "{out}");
}

#[test]
fn ipmitool_suite_3_raw_set_is_seen_by_the_store() {
    let bmc = start_bmc(&[CipherSuite::SUITE_17, CipherSuite::SUITE_3]);
    let (ok, out, err) = ipmitool(
        &bmc,
        3,
        "password",
        &[
            "raw", "0x00", "0x08", "0x05", "0xe0", "0x04", "0x00", "0x00", "0x00",
        ],
    );
    assert!(ok, "ipmitool failed: {out}\n{err}");
    assert_eq!(
        bmc.store.lock().unwrap().get(&(5, 0)),
        Some(&vec![0xe0, 0x04, 0, 0, 0])
    );
}

#[test]
fn ipmitool_with_wrong_password_is_refused() {
    let bmc = start_bmc(&[CipherSuite::SUITE_17]);
    let (ok, out, err) = ipmitool(&bmc, 17, "wrongpass", &["chassis", "power", "status"]);
    assert!(!ok, "wrong password accepted: {out}");
    assert!(
        err.contains("RAKP") || err.contains("Unable to establish"),
        "{err}"
    );
}

#[test]
fn ipmitool_suite_0_is_refused() {
    let bmc = start_bmc(&[CipherSuite::SUITE_17, CipherSuite::SUITE_0]);
    let (ok, out, err) = ipmitool(&bmc, 0, "password", &["chassis", "power", "status"]);
    assert!(!ok, "suite 0 accepted: {out}");
    assert!(!err.is_empty());
}

#[test]
fn ipmitool_reads_power_status() {
    let bmc = start_bmc(&[CipherSuite::SUITE_17]);
    let (ok, out, err) = ipmitool(&bmc, 17, "password", &["chassis", "power", "status"]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("Chassis Power is on"), "{out}");
}

fn freeipmi_raw(bmc: &Bmc, suite: &str, bytes: &[&str]) -> (bool, String, String) {
    harness::require_program("ipmi-raw");
    let host = format!("127.0.0.1:{}", bmc.addr.port());
    let mut all = vec![
        "-h",
        &host,
        "-u",
        "admin",
        "-p",
        "password",
        "-D",
        "LAN_2_0",
        "-I",
        suite,
        "-l",
        "ADMIN",
        "--session-timeout",
        "3000",
        "--retransmission-timeout",
        "500",
    ];
    all.extend_from_slice(bytes);
    harness::run("ipmi-raw", &all, &[])
}

#[test]
fn freeipmi_raw_suite_17_and_3_read_mailbox_block_written_by_our_client() {
    let bmc = start_bmc(&[CipherSuite::SUITE_17, CipherSuite::SUITE_3]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = ClientConfig::new("admin", Password::new("password").unwrap());
        let mut c = Client::connect(bmc.addr, cfg, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(c.cipher_suite(), Some(CipherSuite::SUITE_17));
        let mut data = vec![0x07, 0x00, 0x02, 0x00, 0x00];
        data.extend_from_slice(b"hello mailbox");
        let r = c
            .execute(Request::new(
                NetFn::CHASSIS,
                chassis::SET_SYSTEM_BOOT_OPTIONS,
                data,
            ))
            .await
            .unwrap();
        assert!(r.is_ok());
        c.close().await.unwrap();
    });
    for suite in ["17", "3"] {
        let (ok, out, err) =
            freeipmi_raw(&bmc, suite, &["0", "0x00", "0x09", "0x07", "0x00", "0x00"]);
        assert!(ok, "ipmi-raw -I {suite} failed: {out}\n{err}");
        // rcvd: cmd, cc, version, param, block, IANA 02 00 00, "hello mailbox"
        assert!(
            out.to_uppercase()
                .contains("09 00 01 07 00 02 00 00 68 65 6C 6C 6F"),
            "{out}"
        );
    }
}

#[test]
fn our_client_reports_wrong_password_and_unreachable_bmc() {
    let bmc = start_bmc(&[CipherSuite::SUITE_17, CipherSuite::SUITE_3]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = ClientConfig::new("admin", Password::new("not-it").unwrap());
        let err = Client::connect(bmc.addr, cfg, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Session(SessionError::Authentication(AuthFailure::Rakp2HmacMismatch))
            ),
            "{err}"
        );
        let dead = harness::free_udp_port();
        let cfg = ClientConfig::new("admin", Password::new("password").unwrap());
        let bound = Duration::from_millis(800);
        let t0 = std::time::Instant::now();
        let err = Client::connect(SocketAddr::from(([127, 0, 0, 1], dead)), cfg, bound)
            .await
            .unwrap_err();
        let took = t0.elapsed();
        assert!(err.is_timeout(), "{err}");
        assert!(
            took >= bound && took < bound + Duration::from_millis(500),
            "took {took:?}"
        );
    });
}

#[test]
fn ipmitool_lists_our_cipher_suites_and_picks_one_without_c() {
    let bmc = start_bmc(&[CipherSuite::SUITE_17, CipherSuite::SUITE_3]);
    let (ok, out, err) = ipmitool(&bmc, 17, "password", &["channel", "getciphers", "ipmi"]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.lines().any(|l| l.starts_with("17 ")
            && l.contains("hmac_sha256")
            && l.contains("aes_cbc_128")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("3 ") && l.contains("hmac_sha1_96")),
        "{out}"
    );
    // Without -C ipmitool asks Get Channel Cipher Suites and chooses on its own.
    let (ok, out, err) = harness::ipmitool_lan(
        bmc.addr.port(),
        "admin",
        "password",
        None,
        &["chassis", "power", "status"],
    );
    assert!(ok && out.contains("Chassis Power is on"), "{out}\n{err}");
}

#[test]
fn freeipmi_chassis_reads_boot_flags_over_suite_17() {
    harness::require_program("ipmi-chassis");
    let bmc = start_bmc(&[CipherSuite::SUITE_17]);
    bmc.store
        .lock()
        .unwrap()
        .insert((5, 0), vec![0xa0, 0x04, 0x00, 0x00, 0x00]);
    let host = format!("127.0.0.1:{}", bmc.addr.port());
    let (ok, out, err) = harness::run(
        "ipmi-chassis",
        &[
            "-h",
            &host,
            "-u",
            "admin",
            "-p",
            "password",
            "-D",
            "LAN_2_0",
            "-I",
            "17",
            "--get-boot-flags",
        ],
        &[],
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("PXE"), "{out}");
    assert!(out.contains("Extensible firmware Interface boot"), "{out}");
}
