//! The write / read-back strategy over RMCP+ against the pyghmi-based BMC simulator
//! (`scripts/peers/start-bmc-sim.sh`), read back with our client and with ipmitool as an
//! independent client (`chassis bootparam get 5`, `chassis bootmbox get`).

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use ipmi_iscsi::bootopt::{
    BLOCK_LEN, Block, BootFlags, Dialect, EncodeError, IscsiState, Pen, ReadExchange, StepOutcome,
    WriteError, WriteExchange, WritePlan, mailbox,
};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ipmi_iscsi::bootopt::{Configured, oem};
use ipmi_iscsi::driver::{Client, serve};
use ipmi_iscsi::ipmi::{CompletionCode, Response};
use ipmi_iscsi::params::{
    AddressConfig, Authentication, ChapCredentials, InitiatorNetwork, IscsiBootParams, IscsiName,
    IscsiTarget, Lun, Secret,
};
use ipmi_iscsi::rmcp::{CipherSuite, ClientConfig, ConfAlg, Password, Responder, ResponderConfig};
use ipmi_iscsi::store::{BootOptionsStore, ChassisAction, StoreConfig};

const BOUND: Duration = Duration::from_secs(15);

fn start_bmc_sim(blocks: u16) -> (harness::Peer, SocketAddr) {
    harness::require_program("python3");
    let port = harness::free_udp_port();
    let peer = harness::Peer::start(
        "bmc-sim",
        &[
            ("BMC_PORT", port.to_string()),
            ("BMC_MAILBOX_BLOCKS", blocks.to_string()),
        ],
    );
    (peer, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn params() -> IscsiBootParams {
    IscsiBootParams {
        initiator_name: IscsiName::new("iqn.2024-01.org.example.lab:server-07").unwrap(),
        network: InitiatorNetwork {
            config: AddressConfig::Static {
                address: "192.0.2.57".parse().unwrap(),
                prefix_len: 24,
                gateway: Some("192.0.2.1".parse().unwrap()),
                dns: vec!["192.0.2.53".parse().unwrap()],
            },
            vlan: Some(120),
        },
        primary: IscsiTarget {
            name: IscsiName::new("iqn.2024-01.org.example.lab:boot-a").unwrap(),
            address: "192.0.2.10".parse().unwrap(),
            port: 3260,
            lun: Lun::new(7).unwrap(),
        },
        secondary: Some(IscsiTarget {
            name: IscsiName::new("iqn.2024-01.org.example.lab:boot-b").unwrap(),
            address: "2001:db8::10".parse().unwrap(),
            port: 3261,
            lun: Lun::new(7).unwrap(),
        }),
        auth: Authentication::Chap {
            initiator: ChapCredentials {
                user: "server-07".into(),
                secret: Secret::new("liveSecret1234").unwrap(),
            },
            allow_any_secret_length: false,
        },
    }
}

fn ipmitool(addr: SocketAddr, args: &[&str]) -> String {
    let (ok, out, err) = harness::ipmitool_lan(addr.port(), "admin", "password", Some(3), args);
    assert!(ok, "ipmitool {args:?} failed: {out}\n{err}");
    out
}

/// `Boot parameter data: 8004000000` → bytes.
fn bootparam_data(out: &str) -> Vec<u8> {
    let line = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Boot parameter data:"))
        .unwrap_or_else(|| panic!("no data line in {out}"));
    hex(line.trim())
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Rebuilds mailbox blocks from `ipmitool chassis bootmbox get` (PEN line + per-block hex).
fn mailbox_from_ipmitool(out: &str) -> Vec<Block> {
    let pen: u32 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("IANA PEN"))
        .and_then(|l| l.trim().trim_start_matches(':').split_whitespace().next())
        .unwrap_or_else(|| panic!("no PEN in {out}"))
        .parse()
        .unwrap();
    let mut blocks = Vec::new();
    for line in out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("Block "))
    {
        let (head, data) = line.split_once(':').unwrap();
        let index: u8 = head
            .trim_start_matches("Block")
            .trim()
            .trim_end_matches("Data")
            .trim()
            .parse()
            .unwrap();
        let mut bytes = hex(data.trim());
        if index == 0 {
            let mut with_pen = Pen::new(pen).unwrap().to_bytes().to_vec();
            with_pen.append(&mut bytes);
            bytes = with_pen;
        }
        let mut block = [0u8; BLOCK_LEN];
        block[..bytes.len()].copy_from_slice(&bytes);
        blocks.push(Block { index, data: block });
    }
    blocks
}

#[test]
fn mailbox_dialect_round_trips_through_bmc_sim_and_ipmitool_sees_the_same() {
    let (_peer, addr) = start_bmc_sim(16);
    let p = params();
    let flags = BootFlags::network_boot(true, true);
    let read = rt().block_on(async {
        let mut c = Client::connect(
            addr,
            ClientConfig::new("admin", Password::new("password").unwrap()),
            BOUND,
        )
        .await
        .unwrap();
        let mut plan = WritePlan::new(p.clone(), Dialect::Mailbox { pen: Pen::EXAMPLE });
        plan.boot_flags = Some(flags);
        let mut ex = WriteExchange::new(&plan).unwrap();
        c.run_exchange(&mut ex).await.unwrap();
        let report = ex.into_outcome().unwrap().unwrap();
        assert_eq!(report.set_in_progress, StepOutcome::Done);
        assert_eq!(report.valid_bit_clearing, StepOutcome::Done);
        assert_eq!(report.boot_info_ack, StepOutcome::Done);
        assert_eq!(report.commit, StepOutcome::Done);
        // A second session reads back what is configured.
        c.close().await.unwrap();
        let mut c = Client::connect(
            addr,
            ClientConfig::new("admin", Password::new("password").unwrap()),
            BOUND,
        )
        .await
        .unwrap();
        let mut read = ReadExchange::new(Dialect::Mailbox { pen: Pen::EXAMPLE });
        c.run_exchange(&mut read).await.unwrap();
        // bmc-sim has no OEM parameters: the OEM read says so.
        let mut oem = ReadExchange::new(Dialect::Oem { confidential: true });
        c.run_exchange(&mut oem).await.unwrap();
        assert_eq!(
            oem.outcome().unwrap().iscsi,
            IscsiState::NotSupported(CompletionCode::BOOT_PARAM_NOT_SUPPORTED)
        );
        c.close().await.unwrap();
        read.outcome().unwrap()
    });
    assert_eq!(read.iscsi, IscsiState::Mailbox(p.without_secrets()));
    assert_eq!(read.boot_flags, Some(flags));

    // Independent client: ipmitool.
    let out = ipmitool(addr, &["chassis", "bootparam", "get", "5"]);
    assert_eq!(bootparam_data(&out), flags.encode());
    let out = ipmitool(addr, &["chassis", "bootmbox", "get"]);
    let blocks = mailbox_from_ipmitool(&out);
    assert_eq!(blocks.len(), 16);
    assert_eq!(
        mailbox::decode_blocks(Pen::EXAMPLE, &blocks).unwrap(),
        p.without_secrets()
    );
    assert!(!out.contains("liveSecret1234"), "no secret in the mailbox");
}

#[test]
fn bmc_sim_with_five_blocks_is_too_small_for_two_targets_and_says_use_oem() {
    let (_peer, addr) = start_bmc_sim(5);
    let err = rt().block_on(async {
        let mut c = Client::connect(
            addr,
            ClientConfig::new("admin", Password::new("password").unwrap()),
            BOUND,
        )
        .await
        .unwrap();
        let plan = WritePlan::new(params(), Dialect::Mailbox { pen: Pen::EXAMPLE });
        let mut ex = WriteExchange::new(&plan).unwrap();
        c.run_exchange(&mut ex).await.unwrap();
        c.close().await.unwrap();
        ex.into_outcome().unwrap().unwrap_err()
    });
    let WriteError::Encode(EncodeError::MailboxTooSmall { capacity, .. }) = &err else {
        panic!("{err}");
    };
    assert_eq!(*capacity, 5, "probed until bmc-sim answered 0xC9");
    assert!(err.to_string().contains("oem dialect"));
}

#[test]
fn oem_dialect_is_refused_by_bmc_sim_and_set_in_progress_is_released() {
    let (_peer, addr) = start_bmc_sim(16);
    let (err, confidential) = rt().block_on(async {
        let mut c = Client::connect(
            addr,
            ClientConfig::new("admin", Password::new("password").unwrap()),
            BOUND,
        )
        .await
        .unwrap();
        let confidential = c
            .cipher_suite()
            .is_some_and(|s| s.confidentiality == ConfAlg::AesCbc128);
        let plan = WritePlan::new(params(), Dialect::Oem { confidential });
        let mut ex = WriteExchange::new(&plan).unwrap();
        c.run_exchange(&mut ex).await.unwrap();
        c.close().await.unwrap();
        (ex.into_outcome().unwrap().unwrap_err(), confidential)
    });
    assert!(confidential, "suite 3 encrypts");
    assert!(
        matches!(err, WriteError::Refused { completion, .. } if completion == CompletionCode::BOOT_PARAM_NOT_SUPPORTED),
        "{err}"
    );
    let out = ipmitool(addr, &["chassis", "bootparam", "get", "0"]);
    assert_eq!(bootparam_data(&out), [0x00], "set complete again");
}

/// Our store behind our RMCP+ responder (suite 17 only) on 127.0.0.1.
struct OurBmc {
    addr: SocketAddr,
    store: Arc<Mutex<BootOptionsStore>>,
    _rt: tokio::runtime::Runtime,
}

fn start_our_bmc() -> OurBmc {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(Mutex::new(BootOptionsStore::new(StoreConfig::default())));
    let mut cfg = ResponderConfig::new(
        *b"bootparams-bmc-1",
        "admin",
        Password::new("password").unwrap(),
    );
    cfg.suites = vec![CipherSuite::SUITE_17];
    let responder = Responder::new(cfg, ipmi_iscsi::driver::os_random());
    let socket = rt
        .block_on(tokio::net::UdpSocket::bind("127.0.0.1:0"))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    let st = store.clone();
    let t0 = Instant::now();
    rt.spawn(async move {
        serve(socket, responder, move |i| -> Response {
            st.lock().unwrap().handle(t0.elapsed(), &i.request)
        })
        .await
    });
    OurBmc {
        addr,
        store,
        _rt: rt,
    }
}

fn ipmitool17(addr: SocketAddr, args: &[&str]) -> String {
    let (ok, out, err) = harness::ipmitool_lan(addr.port(), "admin", "password", Some(17), args);
    assert!(ok, "ipmitool {args:?} failed: {out}\n{err}");
    out
}

fn raw_bytes(out: &str) -> Vec<u8> {
    out.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

#[test]
fn oem_dialect_over_suite_17_into_our_store_and_ipmitool_reads_records_but_no_secret() {
    let bmc = start_our_bmc();
    let mut p = params();
    p.auth = Authentication::MutualChap {
        initiator: ChapCredentials {
            user: "server-07".into(),
            secret: Secret::new("liveSecret1234").unwrap(),
        },
        target: ChapCredentials {
            user: "boot-a".into(),
            secret: Secret::new("targetSecret77").unwrap(),
        },
        allow_any_secret_length: false,
    };
    let flags = BootFlags::network_boot(false, true);
    let report = rt().block_on(async {
        let mut c = Client::connect(
            bmc.addr,
            ClientConfig::new("admin", Password::new("password").unwrap()),
            BOUND,
        )
        .await
        .unwrap();
        assert_eq!(c.cipher_suite(), Some(CipherSuite::SUITE_17));
        let confidential = c
            .cipher_suite()
            .is_some_and(|s| s.confidentiality == ConfAlg::AesCbc128);
        let mut plan = WritePlan::new(p.clone(), Dialect::Oem { confidential });
        plan.boot_flags = Some(flags);
        let mut ex = WriteExchange::new(&plan).unwrap();
        c.run_exchange(&mut ex).await.unwrap();
        c.close().await.unwrap();
        ex.into_outcome().unwrap().unwrap()
    });
    let Some(Configured {
        iscsi: IscsiState::Oem(rb),
        boot_flags,
    }) = report.read_back
    else {
        panic!("no oem read-back");
    };
    assert_eq!(rb.params, p.without_secrets());
    assert_eq!((rb.chap_secret_len, rb.reverse_secret_len), (14, 14));
    assert_eq!(boot_flags, Some(flags));
    // The BMC side holds the secrets for rendering.
    let stored = bmc.store.lock().unwrap().oem_params().unwrap();
    assert_eq!(
        stored.auth.target().unwrap().secret.expose(),
        "targetSecret77"
    );
    assert_eq!(stored.without_secrets(), p.without_secrets());

    // ipmitool, suite 17: boot flags, the initiator-name record, and the write-only secret.
    let out = ipmitool17(bmc.addr, &["chassis", "bootparam", "get", "5"]);
    assert_eq!(bootparam_data(&out), flags.encode());
    let name = p.initiator_name.as_str().as_bytes();
    let mut record = Vec::new();
    for block in 0..oem::record_blocks(name.len()) {
        let b = block.to_string();
        let got = raw_bytes(&ipmitool17(
            bmc.addr,
            &["raw", "0x00", "0x09", "0x63", &b, "0x00"],
        ));
        assert_eq!(got[..3], [0x01, 0x63, u8::try_from(block).unwrap()]);
        record.extend_from_slice(&got[3..]);
    }
    assert_eq!(usize::from(record[0]), name.len());
    assert_eq!(&record[1..=name.len()], name);
    let secret = raw_bytes(&ipmitool17(
        bmc.addr,
        &["raw", "0x00", "0x09", "0x6a", "0x00", "0x00"],
    ));
    assert_eq!(secret[3], 14, "length is visible");
    assert!(secret[4..].iter().all(|&b| b == 0), "secret bytes are not");
    // Writes to the read-only dialect-info parameter are refused with 0x82.
    let (ok, out, err) = harness::ipmitool_lan(
        bmc.addr.port(),
        "admin",
        "password",
        Some(17),
        &["raw", "0x00", "0x08", "0x60", "0x00", "0x01"],
    );
    assert!(
        !ok && format!("{out}{err}").contains("rsp=0x82"),
        "{out} {err}"
    );

    // Configure, then reboot into it: a power cycle is a boot that consumes one-shot flags.
    ipmitool17(bmc.addr, &["chassis", "power", "cycle"]);
    let status = ipmitool17(bmc.addr, &["chassis", "power", "status"]);
    assert!(status.contains("Chassis Power is on"), "{status}");
    let mut s = bmc.store.lock().unwrap();
    assert_eq!(s.chassis().last_action, Some(ChassisAction::PowerCycle));
    assert_eq!(s.chassis().boots, 1);
    assert!(!s.boot_flags().valid, "next-boot flags consumed");
    let mut booted_with = None;
    while let Some(e) = s.poll_event() {
        if let ipmi_iscsi::store::StoreEvent::Boot { flags } = e {
            booted_with = Some(flags);
        }
    }
    assert_eq!(booted_with.map(|f| f.valid && f.efi), Some(true));
}

/// OpenIPMI `ipmi_sim` refuses boot parameters 4–7 with 0xCC (see the peers README): the
/// optional steps are skipped as unsupported and the mailbox write fails with a typed
/// error naming parameter 7 and the completion code.
#[test]
fn ipmi_sim_refuses_the_mailbox_with_a_typed_error() {
    harness::require_program("ipmi_sim");
    let port = harness::free_udp_port();
    let _peer = harness::Peer::start("ipmi-sim", &[("IPMI_SIM_PORT", port.to_string())]);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let err = rt().block_on(async {
        let mut c = Client::connect(
            addr,
            ClientConfig::new("admin", Password::new("password").unwrap()),
            BOUND,
        )
        .await
        .unwrap();
        let mut plan = WritePlan::new(params(), Dialect::Mailbox { pen: Pen::EXAMPLE });
        plan.steps.valid_bit_clearing = None;
        let mut ex = WriteExchange::new(&plan).unwrap();
        c.run_exchange(&mut ex).await.unwrap();
        c.close().await.unwrap();
        ex.into_outcome().unwrap().unwrap_err()
    });
    // The capacity probe (Get parameter 7, block 0) is the first thing ipmi_sim refuses.
    let WriteError::Encode(EncodeError::MailboxTooSmall { capacity: 0, .. }) = &err else {
        panic!("{err}");
    };
}
