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
use ipmi_iscsi::driver::Client;
use ipmi_iscsi::ipmi::CompletionCode;
use ipmi_iscsi::params::{
    AddressConfig, Authentication, ChapCredentials, InitiatorNetwork, IscsiBootParams, IscsiName,
    IscsiTarget, Lun, Secret,
};
use ipmi_iscsi::rmcp::{ClientConfig, ConfAlg, Password};

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
    harness::require_program("ipmitool");
    let port = addr.port().to_string();
    let mut all = vec![
        "-I",
        "lanplus",
        "-H",
        "127.0.0.1",
        "-p",
        &port,
        "-U",
        "admin",
        "-P",
        "password",
        "-C",
        "3",
    ];
    all.extend_from_slice(args);
    let (ok, out, err) = harness::run("ipmitool", &all, &[]);
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
