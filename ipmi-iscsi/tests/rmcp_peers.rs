//! Our RMCP+ client against real BMC simulators on 127.0.0.1: `bmc-sim.py` (pyghmi,
//! cipher suite 3 only, stores boot options) and OpenIPMI `ipmi_sim` (suites 0-3, no 17),
//! cross-checked with ipmitool and FreeIPMI as independent clients.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use ipmi_iscsi::driver::{Client, ClientError, SuiteMemory};
use ipmi_iscsi::ipmi::{CompletionCode, NetFn, Request, app, chassis};
use ipmi_iscsi::rmcp::{AuthFailure, CipherSuite, ClientConfig, Password, SessionError};

const BOUND: Duration = Duration::from_secs(10);

fn start_bmc_sim() -> (harness::Peer, SocketAddr) {
    harness::require_program("python3");
    let port = harness::free_udp_port();
    let peer = harness::Peer::start("bmc-sim", &[("BMC_PORT", port.to_string())]);
    (peer, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn start_ipmi_sim() -> (harness::Peer, SocketAddr) {
    harness::require_program("ipmi_sim");
    let port = harness::free_udp_port();
    let peer = harness::Peer::start("ipmi-sim", &[("IPMI_SIM_PORT", port.to_string())]);
    (peer, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn admin() -> ClientConfig {
    ClientConfig::new("admin", Password::new("password").unwrap())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn set_boot(data: &[u8]) -> Request {
    Request::new(
        NetFn::CHASSIS,
        chassis::SET_SYSTEM_BOOT_OPTIONS,
        data.to_vec(),
    )
}

fn get_boot(param: u8, set: u8) -> Request {
    Request::new(
        NetFn::CHASSIS,
        chassis::GET_SYSTEM_BOOT_OPTIONS,
        [param, set, 0],
    )
}

fn ipmitool(addr: SocketAddr, suite: &str, args: &[&str]) -> (bool, String, String) {
    let suite = suite.parse().expect("cipher suite number");
    harness::ipmitool_lan(addr.port(), "admin", "password", Some(suite), args)
}

fn sim_state(peer: &harness::Peer) -> serde_like::State {
    serde_like::State::read(peer.var("BMC_SIM_STATE"))
}

/// Just enough JSON reading for bmc-sim's state file (no serde in this crate).
mod serde_like {
    pub(crate) struct State(String);
    impl State {
        pub(crate) fn read(path: &str) -> State {
            State(std::fs::read_to_string(path).unwrap())
        }
        /// The hex string stored for parameter `p`.
        pub(crate) fn param(&self, p: u8) -> String {
            let key = format!("\"{p}\": \"");
            let i = self
                .0
                .find(&key)
                .unwrap_or_else(|| panic!("no param {p} in {}", self.0))
                + key.len();
            self.0[i..].split('"').next().unwrap().to_owned()
        }
        /// The hex string of mailbox block `b`.
        pub(crate) fn block(&self, b: usize) -> String {
            let i = self.0.find("\"mailbox\": [").unwrap();
            self.0[i..]
                .split('"')
                .filter(|s| s.len() == 32)
                .nth(b)
                .unwrap()
                .to_owned()
        }
    }
}

#[test]
fn client_falls_back_to_suite_3_on_bmc_sim_and_boot_flags_match_ipmitool_and_freeipmi() {
    let (peer, addr) = start_bmc_sim();
    let mut memory = SuiteMemory::new();
    rt().block_on(async {
        let mut c = Client::connect_remembering(addr, admin(), BOUND, &mut memory)
            .await
            .unwrap();
        assert_eq!(c.cipher_suite(), Some(CipherSuite::SUITE_3));
        // pyghmi/Ironic order: don't clear the valid bit on the 60 s timeout, then the flags:
        // valid, next boot only, EFI; PXE.
        assert!(c.execute(set_boot(&[0x03, 0x08])).await.unwrap().is_ok());
        assert!(
            c.execute(set_boot(&[0x05, 0xa0, 0x04, 0x00, 0x00, 0x00]))
                .await
                .unwrap()
                .is_ok()
        );
        let r = c.execute(get_boot(5, 0)).await.unwrap();
        assert_eq!(r.data, vec![0x01, 0x05, 0xa0, 0x04, 0x00, 0x00, 0x00]);
        c.close().await.unwrap();
    });
    assert_eq!(memory.get(addr), Some(CipherSuite::SUITE_3));
    let state = sim_state(&peer);
    assert_eq!(state.param(3), "08");
    assert_eq!(state.param(5), "a004000000");

    let (ok, out, err) = ipmitool(addr, "3", &["chassis", "bootparam", "get", "5"]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("Boot parameter data: a004000000"), "{out}");
    assert!(out.contains("Force PXE"), "{out}");
    assert!(out.contains("BIOS EFI boot"), "{out}");

    harness::require_program("ipmi-raw");
    let host = addr.to_string();
    let (ok, out, err) = harness::run(
        "ipmi-raw",
        &[
            "-h", &host, "-u", "admin", "-p", "password", "-D", "LAN_2_0", "-I", "3", "-l",
            "ADMIN", "0", "0x00", "0x09", "0x05", "0x00", "0x00",
        ],
        &[],
    );
    assert!(ok, "{out}\n{err}");
    assert!(
        out.to_uppercase().contains("09 00 01 05 A0 04 00 00 00"),
        "{out}"
    );
}

#[test]
fn mailbox_written_by_our_client_reads_back_through_ipmitool() {
    let (peer, addr) = start_bmc_sim();
    let payload = b"iqn.2026-11.test:boot";
    rt().block_on(async {
        let cfg = admin().prefer(CipherSuite::SUITE_3);
        let mut c = Client::connect(addr, cfg, BOUND).await.unwrap();
        // Block 0: IANA 343 (Intel, LS byte first: 57 01 00) then 13 bytes; block 1: the rest.
        let mut b0 = vec![0x07, 0x00, 0x57, 0x01, 0x00];
        b0.extend_from_slice(&payload[..13]);
        let mut b1 = vec![0x07, 0x01];
        b1.extend_from_slice(&payload[13..]);
        for req in [set_boot(&b0), set_boot(&b1)] {
            assert!(c.execute(req).await.unwrap().is_ok());
        }
        let r = c.execute(get_boot(7, 1)).await.unwrap();
        assert_eq!(&r.data[..3], &[0x01, 0x07, 0x01]);
        assert_eq!(&r.data[3..3 + 8], &payload[13..]);
        // Past the end of the 16-block mailbox: 0xC9, a completion code, not an error.
        let r = c.execute(get_boot(7, 16)).await.unwrap();
        assert_eq!(r.completion, CompletionCode::PARAMETER_OUT_OF_RANGE);
        c.close().await.unwrap();
    });
    let state = sim_state(&peer);
    assert_eq!(state.block(0), format!("570100{}", hex(&payload[..13])));
    let (ok, out, err) = ipmitool(addr, "3", &["chassis", "bootparam", "get", "7"]);
    assert!(ok, "{out}\n{err}");
    // ipmitool prints the parameter data after version/param bytes: block 0 = 00 57 01 00 ...
    assert!(
        out.contains(&format!("00570100{}", hex(&payload[..13]))),
        "{out}"
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn wrong_password_on_bmc_sim_is_an_authentication_error() {
    let (_peer, addr) = start_bmc_sim();
    rt().block_on(async {
        let cfg =
            ClientConfig::new("admin", Password::new("nope").unwrap()).prefer(CipherSuite::SUITE_3);
        let err = Client::connect(addr, cfg, BOUND).await.unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Session(SessionError::Authentication(AuthFailure::Rakp2HmacMismatch))
            ),
            "{err}"
        );
    });
}

#[test]
fn client_falls_back_to_suite_3_on_ipmi_sim_and_matches_ipmitool_device_id() {
    let (_peer, addr) = start_ipmi_sim();
    let ours = rt().block_on(async {
        let mut c = Client::connect(addr, admin(), BOUND).await.unwrap();
        assert_eq!(c.cipher_suite(), Some(CipherSuite::SUITE_3));
        let id = c
            .execute(Request::new(NetFn::APP, app::GET_DEVICE_ID, []))
            .await
            .unwrap();
        assert!(id.is_ok());
        // ipmi_sim has no chassis control program: boot flags are refused with 0xCC, which
        // reaches us as a completion code.
        let r = c
            .execute(set_boot(&[0x05, 0x80, 0x04, 0, 0, 0]))
            .await
            .unwrap();
        assert_eq!(r.completion, CompletionCode::INVALID_DATA_FIELD);
        c.close().await.unwrap();
        id.data
    });
    let (ok, out, err) = ipmitool(addr, "3", &["raw", "0x06", "0x01"]);
    assert!(ok, "{out}\n{err}");
    let theirs: Vec<u8> = out
        .split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    assert_eq!(ours, theirs);
}

#[test]
fn client_opens_suite_2_on_ipmi_sim_for_plaintext_captures() {
    let (_peer, addr) = start_ipmi_sim();
    rt().block_on(async {
        let mut cfg = admin();
        cfg.suites = vec![CipherSuite::SUITE_2];
        let mut c = Client::connect(addr, cfg, BOUND).await.unwrap();
        assert_eq!(c.cipher_suite(), Some(CipherSuite::SUITE_2));
        let r = c
            .execute(Request::new(
                NetFn::CHASSIS,
                chassis::GET_CHASSIS_STATUS,
                [],
            ))
            .await
            .unwrap();
        assert!(r.is_ok());
        c.close().await.unwrap();
    });
}

#[test]
fn wrong_password_on_ipmi_sim_is_an_authentication_error() {
    let (_peer, addr) = start_ipmi_sim();
    rt().block_on(async {
        let cfg = ClientConfig::new("admin", Password::new("nope").unwrap());
        let err = Client::connect(addr, cfg, BOUND).await.unwrap_err();
        assert!(
            matches!(err, ClientError::Session(SessionError::Authentication(_))),
            "{err}"
        );
    });
}

#[test]
fn write_exchange_runs_over_our_client_against_bmc_sim_and_ipmitool_sees_the_flags() {
    use ipmi_iscsi::bootopt::{Dialect, Pen, ReadExchange, WriteExchange, WritePlan};
    use ipmi_iscsi::params::{IscsiBootParams, IscsiName, IscsiTarget, Lun};

    let (peer, addr) = start_bmc_sim();
    let params = IscsiBootParams::new(
        IscsiName::new("iqn.2026-11.test:n1").unwrap(),
        IscsiTarget {
            name: IscsiName::new("iqn.2026-11.test:t").unwrap(),
            address: "127.0.0.1".parse().unwrap(),
            port: 3260,
            lun: Lun::new(0).unwrap(),
        },
    );
    let dialect = Dialect::Mailbox { pen: Pen::EXAMPLE };
    let plan = WritePlan::new(params.clone(), dialect);
    let (report, configured) = rt().block_on(async {
        let mut c = Client::connect(addr, admin(), BOUND).await.unwrap();
        let mut write = WriteExchange::new(&plan).unwrap();
        let sent = c.run_exchange(&mut write).await.unwrap();
        assert!(sent >= 5, "only {sent} requests");
        let report = write
            .into_outcome()
            .expect("write finished")
            .expect("write succeeded");
        let mut read = ReadExchange::new(dialect);
        c.run_exchange(&mut read).await.unwrap();
        c.close().await.unwrap();
        (report, read.outcome().expect("read finished"))
    });
    assert!(report.read_back.is_some(), "{report:?}");
    assert_eq!(configured.boot_flags, plan.boot_flags);
    // The simulator's own record of what arrived, and an independent client's view.
    let state = sim_state(&peer);
    let flags = plan.boot_flags.unwrap().encode();
    assert_eq!(state.param(5), hex(&flags));
    assert!(state.block(0).starts_with(&hex(&Pen::EXAMPLE.to_bytes())));
    let (ok, out, err) = ipmitool(addr, "3", &["chassis", "bootparam", "get", "5"]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!("Boot parameter data: {}", hex(&flags))),
        "{out}"
    );
    assert!(out.contains("Force PXE"), "{out}");
}
