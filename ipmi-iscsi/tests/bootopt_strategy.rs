//! The write / read-back strategy driven in memory against the BMC-side store, with every
//! fallback the digest records (§3.4, §6 IPMI 1, 2, 7).

use std::time::Duration;

use ipmi_iscsi::bootopt::{
    BootParam, Configured, Dialect, EncodeError, IscsiState, Pen, ReadExchange, StepOutcome,
    WriteError, WriteExchange, WritePlan, set_request,
};
use ipmi_iscsi::ipmi::{CompletionCode, Request, Response, drive};
use ipmi_iscsi::params::{
    AddressConfig, Authentication, ChapCredentials, InitiatorNetwork, IscsiBootParams, IscsiName,
    IscsiTarget, Lun, Secret,
};
use ipmi_iscsi::store::{BootOptionsStore, StoreConfig, StoreEvent};

fn target(name: &str, addr: &str, lun: u16) -> IscsiTarget {
    IscsiTarget {
        name: IscsiName::new(name).unwrap(),
        address: addr.parse().unwrap(),
        port: 3260,
        lun: Lun::new(lun).unwrap(),
    }
}

fn small_params() -> IscsiBootParams {
    IscsiBootParams::new(
        IscsiName::new("iqn.2024-01.org.example:n1").unwrap(),
        target("iqn.2024-01.org.example:d1", "192.0.2.10", 1),
    )
}

fn full_params() -> IscsiBootParams {
    IscsiBootParams {
        initiator_name: IscsiName::new("iqn.2024-01.org.example.lab:server-rack12-slot07").unwrap(),
        network: InitiatorNetwork {
            config: AddressConfig::Static {
                address: "2001:db8::15".parse().unwrap(),
                prefix_len: 64,
                gateway: Some("2001:db8::1".parse().unwrap()),
                dns: vec!["2001:db8::53".parse().unwrap()],
            },
            vlan: Some(120),
        },
        primary: target(
            "iqn.2024-01.org.example.lab:storage-a.boot-volumes",
            "2001:db8::100",
            3,
        ),
        secondary: Some(target(
            "iqn.2024-01.org.example.lab:storage-b.boot-volumes",
            "2001:db8::101",
            3,
        )),
        auth: Authentication::MutualChap {
            initiator: ChapCredentials {
                user: "rack12-slot07".into(),
                secret: Secret::new("initiatorSecr1").unwrap(),
            },
            target: ChapCredentials {
                user: "storage-a".into(),
                secret: Secret::new("targetSecret99").unwrap(),
            },
            allow_any_secret_length: false,
        },
    }
}

/// Runs an exchange against the store; returns the requests it sent.
fn run(ex: &mut impl ipmi_iscsi::ipmi::Exchange, bmc: &mut BootOptionsStore) -> Vec<Request> {
    let mut sent = Vec::new();
    drive(ex, |req: &Request| {
        sent.push(req.clone());
        Ok::<Response, ()>(bmc.handle(Duration::from_secs(1), req))
    })
    .unwrap();
    sent
}

fn params0(sent: &[Request]) -> Vec<u8> {
    sent.iter()
        .filter(|r| r.cmd == 0x08 && r.data[0] == 0)
        .map(|r| r.data[1])
        .collect()
}

#[test]
fn mailbox_write_uses_every_step_and_reads_back_equal() {
    let mut bmc = BootOptionsStore::new(StoreConfig::default());
    let plan = WritePlan::new(small_params(), Dialect::Mailbox { pen: Pen::EXAMPLE });
    let mut ex = WriteExchange::new(&plan).unwrap();
    let sent = run(&mut ex, &mut bmc);
    let report = ex.into_outcome().unwrap().unwrap();
    assert_eq!(report.set_in_progress, StepOutcome::Done);
    assert_eq!(report.valid_bit_clearing, StepOutcome::Done);
    assert_eq!(report.boot_info_ack, StepOutcome::Done);
    assert_eq!(report.commit, StepOutcome::Done);
    assert_eq!(
        params0(&sent),
        [1, 2, 0],
        "in progress, commit write, set complete"
    );
    let rb = report.read_back.unwrap();
    assert_eq!(
        rb.iscsi,
        IscsiState::Mailbox(small_params().without_secrets())
    );
    assert_eq!(
        bmc.mailbox_params(Pen::EXAMPLE).unwrap(),
        small_params().without_secrets()
    );
    assert!(bmc.boot_flags().valid);
    assert_eq!(
        bmc.set_in_progress(),
        ipmi_iscsi::bootopt::SetInProgress::Complete
    );
}

#[test]
fn oem_write_with_confidentiality_stores_secrets_for_the_bmc_and_reads_back_lengths() {
    let mut bmc = BootOptionsStore::new(StoreConfig::default());
    let plan = WritePlan::new(full_params(), Dialect::Oem { confidential: true });
    let mut ex = WriteExchange::new(&plan).unwrap();
    run(&mut ex, &mut bmc);
    let report = ex.into_outcome().unwrap().unwrap();
    let Some(Configured {
        iscsi: IscsiState::Oem(rb),
        ..
    }) = report.read_back
    else {
        panic!("no oem read-back");
    };
    assert_eq!(rb.params, full_params().without_secrets());
    assert_eq!((rb.chap_secret_len, rb.reverse_secret_len), (14, 14));
    assert!(rb.enabled);
    let stored = bmc.oem_params().unwrap();
    assert_eq!(
        stored.auth.initiator().unwrap().secret.expose(),
        "initiatorSecr1"
    );
    assert_eq!(stored.without_secrets(), full_params().without_secrets());
    let mut saw_commit = false;
    while let Some(e) = bmc.poll_event() {
        saw_commit |= e == StoreEvent::OemCommitted { enabled: true };
    }
    assert!(saw_commit);
}

#[test]
fn oem_dialect_refuses_chap_secrets_without_confidentiality() {
    let plan = WritePlan::new(
        full_params(),
        Dialect::Oem {
            confidential: false,
        },
    );
    assert_eq!(
        WriteExchange::new(&plan).unwrap_err(),
        EncodeError::SecretsNeedConfidentiality
    );
}

#[test]
fn bmc_without_params_0_3_4_still_gets_the_parameters() {
    let mut bmc = BootOptionsStore::new(StoreConfig {
        set_in_progress: false,
        valid_bit_clearing: false,
        boot_info_ack: false,
        ..StoreConfig::default()
    });
    let plan = WritePlan::new(small_params(), Dialect::Mailbox { pen: Pen::EXAMPLE });
    let mut ex = WriteExchange::new(&plan).unwrap();
    let sent = run(&mut ex, &mut bmc);
    let report = ex.into_outcome().unwrap().unwrap();
    let unsupported = StepOutcome::Unsupported(CompletionCode::BOOT_PARAM_NOT_SUPPORTED);
    assert_eq!(report.set_in_progress, unsupported);
    assert_eq!(report.valid_bit_clearing, unsupported);
    assert_eq!(report.boot_info_ack, unsupported);
    assert_eq!(
        report.commit,
        StepOutcome::Skipped,
        "no commit without set in progress"
    );
    assert_eq!(
        params0(&sent),
        [1],
        "set-in-progress tried once, then never again"
    );
    assert!(report.read_back.is_some());
}

#[test]
fn stale_set_in_progress_is_cleared_and_retried_once() {
    let mut bmc = BootOptionsStore::new(StoreConfig::default());
    // A crashed earlier client left the BMC in "set in progress".
    assert!(
        bmc.handle(
            Duration::ZERO,
            &set_request(BootParam::SET_IN_PROGRESS, &[1])
        )
        .is_ok()
    );
    let plan = WritePlan::new(small_params(), Dialect::Mailbox { pen: Pen::EXAMPLE });
    let mut ex = WriteExchange::new(&plan).unwrap();
    let sent = run(&mut ex, &mut bmc);
    let report = ex.into_outcome().unwrap().unwrap();
    assert_eq!(report.set_in_progress, StepOutcome::Recovered);
    assert_eq!(params0(&sent), [1, 0, 1, 2, 0]);
}

/// A BMC that answers 0x81 to every "set in progress" (and accepts everything else).
#[test]
fn set_in_progress_stuck_at_0x81_is_an_error() {
    let mut bmc = BootOptionsStore::new(StoreConfig::default());
    let plan = WritePlan::new(small_params(), Dialect::Mailbox { pen: Pen::EXAMPLE });
    let mut ex = WriteExchange::new(&plan).unwrap();
    let mut sent = Vec::new();
    drive(&mut ex, |req: &Request| {
        sent.push(req.clone());
        if req.cmd == 0x08 && req.data == [0, 1] {
            return Ok::<_, ()>(Response::error(CompletionCode::BOOT_PARAM_SET_IN_PROGRESS));
        }
        Ok(bmc.handle(Duration::ZERO, req))
    })
    .unwrap();
    assert_eq!(
        ex.into_outcome().unwrap().unwrap_err(),
        WriteError::SetInProgressStuck
    );
    assert_eq!(params0(&sent), [1, 0, 1]);
    assert!(sent.iter().all(|r| r.data[0] != 7), "nothing written");
}

#[test]
fn bmc_that_acks_but_ignores_is_an_error() {
    for dialect in [
        Dialect::Mailbox { pen: Pen::EXAMPLE },
        Dialect::Oem { confidential: true },
    ] {
        let mut bmc = BootOptionsStore::new(StoreConfig {
            ignore_writes: true,
            ..StoreConfig::default()
        });
        let plan = WritePlan::new(small_params(), dialect);
        let mut ex = WriteExchange::new(&plan).unwrap();
        let sent = run(&mut ex, &mut bmc);
        let err = ex.into_outcome().unwrap().unwrap_err();
        assert!(
            matches!(err, WriteError::Ignored { .. }),
            "{dialect:?}: {err}"
        );
        assert_eq!(params0(&sent).last(), Some(&0), "set-in-progress released");
    }
}

#[test]
fn mailbox_too_small_is_found_by_probing_and_names_the_oem_dialect() {
    let mut bmc = BootOptionsStore::new(StoreConfig {
        mailbox_blocks: 5,
        ..StoreConfig::default()
    });
    let plan = WritePlan::new(full_params(), Dialect::Mailbox { pen: Pen::EXAMPLE });
    let mut ex = WriteExchange::new(&plan).unwrap();
    let sent = run(&mut ex, &mut bmc);
    let err = ex.into_outcome().unwrap().unwrap_err();
    let WriteError::Encode(EncodeError::MailboxTooSmall {
        capacity, needed, ..
    }) = &err
    else {
        panic!("{err}");
    };
    assert_eq!(*capacity, 5);
    assert!(*needed > 5);
    assert!(err.to_string().contains("oem dialect"));
    assert!(
        sent.iter().all(|r| r.cmd != 0x08 || r.data[0] != 7),
        "no block written"
    );
    assert_eq!(params0(&sent), [1, 0], "released without commit");
    // Same parameters through the OEM dialect work on that BMC.
    let plan = WritePlan::new(full_params(), Dialect::Oem { confidential: true });
    let mut ex = WriteExchange::new(&plan).unwrap();
    run(&mut ex, &mut bmc);
    assert!(ex.into_outcome().unwrap().is_ok());
}

#[test]
fn read_exchange_reports_what_is_configured() {
    let mut bmc = BootOptionsStore::new(StoreConfig::default());
    let mut read = ReadExchange::new(Dialect::Mailbox { pen: Pen::EXAMPLE });
    run(&mut read, &mut bmc);
    assert_eq!(read.outcome().unwrap().iscsi, IscsiState::NotConfigured);

    let plan = WritePlan::new(small_params(), Dialect::Mailbox { pen: Pen::EXAMPLE });
    let mut ex = WriteExchange::new(&plan).unwrap();
    run(&mut ex, &mut bmc);
    let mut read = ReadExchange::new(Dialect::Mailbox { pen: Pen::EXAMPLE });
    run(&mut read, &mut bmc);
    let got = read.outcome().unwrap();
    assert_eq!(
        got.iscsi,
        IscsiState::Mailbox(small_params().without_secrets())
    );
    assert!(got.boot_flags.unwrap().valid);

    let mut no_oem = BootOptionsStore::new(StoreConfig {
        oem: false,
        ..StoreConfig::default()
    });
    let mut read = ReadExchange::new(Dialect::Oem {
        confidential: false,
    });
    run(&mut read, &mut no_oem);
    assert_eq!(
        read.outcome().unwrap().iscsi,
        IscsiState::NotSupported(CompletionCode::BOOT_PARAM_NOT_SUPPORTED)
    );
}

#[test]
fn oem_write_on_bmc_without_oem_is_refused_with_0x80() {
    let mut bmc = BootOptionsStore::new(StoreConfig {
        oem: false,
        ..StoreConfig::default()
    });
    let plan = WritePlan::new(small_params(), Dialect::Oem { confidential: true });
    let mut ex = WriteExchange::new(&plan).unwrap();
    run(&mut ex, &mut bmc);
    let err = ex.into_outcome().unwrap().unwrap_err();
    assert!(matches!(
        err,
        WriteError::Refused {
            completion: CompletionCode::BOOT_PARAM_NOT_SUPPORTED,
            ..
        }
    ));
    assert_eq!(
        bmc.set_in_progress(),
        ipmi_iscsi::bootopt::SetInProgress::Complete
    );
}

#[test]
fn persistent_flags_survive_the_timeout_thanks_to_param3() {
    let mut bmc = BootOptionsStore::new(StoreConfig::default());
    let mut plan = WritePlan::new(small_params(), Dialect::Mailbox { pen: Pen::EXAMPLE });
    plan.boot_flags = Some(ipmi_iscsi::bootopt::BootFlags::network_boot(true, true));
    let mut ex = WriteExchange::new(&plan).unwrap();
    run(&mut ex, &mut bmc);
    assert!(ex.into_outcome().unwrap().is_ok());
    bmc.handle_timeout(Duration::from_secs(3600));
    let f = bmc.boot_flags();
    assert!(f.valid && f.persistent && f.efi);
}

/// 0xCC (ipmi_sim's answer) on parameters 3/4 means "not here, carry on"; a privilege
/// refusal does not.
#[test]
fn optional_steps_tolerate_0xcc_but_not_insufficient_privilege() {
    for (cc, ok) in [
        (CompletionCode::INVALID_DATA_FIELD, true),
        (CompletionCode::INSUFFICIENT_PRIVILEGE, false),
    ] {
        let mut bmc = BootOptionsStore::new(StoreConfig::default());
        let plan = WritePlan::new(small_params(), Dialect::Mailbox { pen: Pen::EXAMPLE });
        let mut ex = WriteExchange::new(&plan).unwrap();
        drive(&mut ex, |req: &Request| {
            if req.cmd == 0x08 && matches!(req.data[0], 3 | 4) {
                return Ok::<_, ()>(Response::error(cc));
            }
            Ok(bmc.handle(Duration::ZERO, req))
        })
        .unwrap();
        let out = ex.into_outcome().unwrap();
        assert_eq!(out.is_ok(), ok, "{cc}: {out:?}");
        if let Ok(r) = out {
            assert_eq!(r.valid_bit_clearing, StepOutcome::Unsupported(cc));
            assert_eq!(r.boot_info_ack, StepOutcome::Unsupported(cc));
        }
        assert_eq!(
            bmc.set_in_progress(),
            ipmi_iscsi::bootopt::SetInProgress::Complete
        );
    }
}

#[test]
fn mailbox_probe_counts_blocks_until_0xc9() {
    for blocks in [1u16, 5, 16, 256] {
        let mut bmc = BootOptionsStore::new(StoreConfig {
            mailbox_blocks: blocks,
            ..StoreConfig::default()
        });
        let mut probe = ipmi_iscsi::bootopt::MailboxProbe::new();
        run(&mut probe, &mut bmc);
        let (n, refused) = probe.outcome().unwrap();
        assert_eq!(n, usize::from(blocks));
        let expect = (blocks < 256).then_some(CompletionCode::PARAMETER_OUT_OF_RANGE);
        assert_eq!(refused, expect);
    }
}

#[test]
fn dialect_and_steps_are_serde_configurable() {
    let d: Dialect = serde_json::from_str(r#"{"dialect":"mailbox","pen":343}"#).unwrap();
    assert_eq!(
        d,
        Dialect::Mailbox {
            pen: Pen::new(343).unwrap()
        }
    );
    let steps: ipmi_iscsi::bootopt::WriteSteps =
        serde_json::from_str(r#"{"set_in_progress":false}"#).unwrap();
    assert!(!steps.set_in_progress && steps.boot_info_ack);
}

#[test]
fn pen_over_24_bits_is_refused_by_serde() {
    assert!(serde_json::from_str::<Pen>("16777216").is_err());
    assert_eq!(
        serde_json::from_str::<Pen>("16777215").unwrap().get(),
        0x00ff_ffff
    );
}
