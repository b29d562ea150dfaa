//! Our own manager-side client against `imm-sim`: every boot-option parameter round-trips,
//! a commit renders the boot files (and disabling removes them), state survives a
//! restart, several BMCs in one process keep their own users and state, the 60-second
//! timer runs on its own, and the log names every command but never a secret.

#[path = "../../../scripts/peers/harness.rs"]
mod harness;
mod imm_common;

use std::time::Duration;

use imm_common::*;
use imm_sim::persist::decode_state;
use ipmi_iscsi::bootopt::{
    BootFlags, BootInitiatorInfo, BootParam, Dialect, GetResponse, IscsiState, Pen, WritePlan,
    get_request, set_request,
};
use ipmi_iscsi::driver::{Client, ClientError};
use ipmi_iscsi::ipmi::{CompletionCode, NetFn, Request, chassis};
use ipmi_iscsi::params::{Authentication, ChapCredentials, IscsiBootParams, Secret};
use ipmi_iscsi::render::{
    IbftOptions, IpxeOptions, decode_ibft, ibft_table, ipxe_script, root_path,
};
use ipmi_iscsi::rmcp::{CipherSuite, Privilege, SessionError};
use ipmi_iscsi::store::{BootOptionsStore, StoreConfig};

fn mutual(p: &mut IscsiBootParams, secret: &str, target_secret: &str) {
    let user = p.auth.initiator().unwrap().user.clone();
    p.auth = Authentication::MutualChap {
        initiator: ChapCredentials {
            user,
            secret: Secret::new(secret).unwrap(),
        },
        target: ChapCredentials {
            user: "disk-side".into(),
            secret: Secret::new(target_secret).unwrap(),
        },
        allow_any_secret_length: false,
    };
}

async fn get(c: &mut Client, param: BootParam, set: u8) -> Vec<u8> {
    let r = c.execute(get_request(param, set, 0)).await.unwrap();
    assert!(r.is_ok(), "get {param:?}: {:?}", r.completion);
    GetResponse::decode_for(&r.data, param)
        .unwrap()
        .data
        .to_vec()
}

async fn set(c: &mut Client, param: BootParam, data: &[u8]) -> CompletionCode {
    c.execute(set_request(param, data))
        .await
        .unwrap()
        .completion
}

#[test]
fn our_client_round_trips_every_parameter_over_suites_17_and_3() {
    let sim = ImmSim::range(1, "");
    let a = sim.addr();
    let mut p = chap_params(
        "iqn.2026-11.org.example.imm:rt-node",
        "iqn.2026-11.org.example.imm:rt-disk",
        "192.0.2.9",
        3260,
        "rt-node",
        "roundTrip12345",
    );
    mutual(&mut p, "roundTrip12345", "targetSide6789");
    rt().block_on(async {
        for suite in [CipherSuite::SUITE_17, CipherSuite::SUITE_3] {
            let mut c = connect(a, Some(suite)).await;
            assert_eq!(c.cipher_suite(), Some(suite));
            // 0: set in progress, twice = 0x81, back to complete.
            assert!(set(&mut c, BootParam::SET_IN_PROGRESS, &[1]).await.is_ok());
            assert_eq!(get(&mut c, BootParam::SET_IN_PROGRESS, 0).await, [1]);
            assert_eq!(
                set(&mut c, BootParam::SET_IN_PROGRESS, &[1]).await,
                CompletionCode::BOOT_PARAM_SET_IN_PROGRESS
            );
            assert!(set(&mut c, BootParam::SET_IN_PROGRESS, &[0]).await.is_ok());
            // 3, 4, 5, 6.
            assert!(
                set(&mut c, BootParam::VALID_BIT_CLEARING, &[0x1f])
                    .await
                    .is_ok()
            );
            assert_eq!(get(&mut c, BootParam::VALID_BIT_CLEARING, 0).await, [0x1f]);
            assert!(
                set(&mut c, BootParam::BOOT_INFO_ACK, &[0x01, 0x01])
                    .await
                    .is_ok()
            );
            assert_eq!(get(&mut c, BootParam::BOOT_INFO_ACK, 0).await, [0x00, 0x01]);
            let flags = BootFlags::network_boot(true, true).encode();
            assert!(set(&mut c, BootParam::BOOT_FLAGS, &flags).await.is_ok());
            assert_eq!(get(&mut c, BootParam::BOOT_FLAGS, 0).await, flags);
            let info = BootInitiatorInfo {
                channel: 1,
                session_id: 0x1234_5678,
                timestamp: 0x6000_0000,
            }
            .encode();
            assert!(
                set(&mut c, BootParam::BOOT_INITIATOR_INFO, &info)
                    .await
                    .is_ok()
            );
            assert_eq!(get(&mut c, BootParam::BOOT_INITIATOR_INFO, 0).await, info);
            // 7: a block, and past the end.
            let mut block = vec![3u8];
            block.extend_from_slice(b"block three data");
            assert!(
                set(&mut c, BootParam::BOOT_INITIATOR_MAILBOX, &block)
                    .await
                    .is_ok()
            );
            assert_eq!(
                get(&mut c, BootParam::BOOT_INITIATOR_MAILBOX, 3).await,
                block
            );
            let r = c
                .execute(get_request(BootParam::BOOT_INITIATOR_MAILBOX, 16, 0))
                .await
                .unwrap();
            assert_eq!(r.completion, CompletionCode::PARAMETER_OUT_OF_RANGE);
            // 0x60 and the OEM records 0x62..=0x6B through the manager's exchanges.
            assert_eq!(
                get(&mut c, BootParam::OEM_DIALECT_INFO, 0).await[..4],
                [0, 3, 1, 16]
            );
            let conf = confidential(&c);
            let report = push(
                &mut c,
                &WritePlan::new(p.clone(), Dialect::Oem { confidential: conf }),
            )
            .await;
            let Some(IscsiState::Oem(rb)) = report.read_back.map(|r| r.iscsi) else {
                panic!("no oem read-back");
            };
            assert_eq!(rb.params, p.without_secrets());
            assert_eq!(
                (rb.chap_secret_len, rb.reverse_secret_len, rb.enabled),
                (14, 14, true)
            );
            // The mailbox dialect (no secrets) as well.
            let mut plain = p.clone();
            plain.auth = Authentication::None;
            let dialect = Dialect::Mailbox { pen: Pen::EXAMPLE };
            push(&mut c, &WritePlan::new(plain.clone(), dialect)).await;
            let got = read_back(&mut c, dialect).await;
            assert_eq!(got.iscsi, IscsiState::Mailbox(plain.without_secrets()));
            assert_eq!(got.boot_flags, Some(BootFlags::network_boot(false, false)));
            c.close().await.unwrap();
        }
    });
}

#[test]
fn a_commit_renders_the_boot_files_and_disabling_removes_them() {
    let sim = ImmSim::range(1, "");
    let a = sim.addr();
    let dir = sim.render_dir(a);
    let mut p = chap_params(
        "iqn.2026-11.org.example.imm:fl-node",
        "iqn.2026-11.org.example.imm:fl-disk",
        "192.0.2.10",
        3262,
        "fl-node",
        "flashSecret123",
    );
    mutual(&mut p, "flashSecret123", "reverseFlash99");
    rt().block_on(async {
        let mut c = connect(a, None).await;
        let conf = confidential(&c);
        push(
            &mut c,
            &WritePlan::new(p.clone(), Dialect::Oem { confidential: conf }),
        )
        .await;
        c.close().await.unwrap();
    });
    let script = std::fs::read_to_string(dir.join("boot.ipxe")).unwrap();
    assert_eq!(script, ipxe_script(&p, &IpxeOptions::default()).unwrap());
    assert!(
        script.contains("set reverse-password reverseFlash99"),
        "{script}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("root-path")).unwrap(),
        format!("{}\n", root_path(&p.primary))
    );
    let ibft = std::fs::read(dir.join("ibft.bin")).unwrap();
    assert_eq!(
        decode_ibft(&ibft).unwrap(),
        decode_ibft(&ibft_table(&p, &IbftOptions::default()).unwrap()).unwrap()
    );
    let params = std::fs::read_to_string(dir.join("params.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&params).unwrap();
    assert_eq!(json["source"], "oem");
    assert_eq!(json["bmc"], ImmSim::name(a));
    assert_eq!(json["root_path"], root_path(&p.primary));
    let public: ipmi_iscsi::params::PublicBootParams =
        serde_json::from_value(json["params"].clone()).unwrap();
    assert_eq!(public, p.without_secrets());
    for public_file in ["params.json", "root-path"] {
        let text = std::fs::read_to_string(dir.join(public_file)).unwrap();
        assert!(
            !text.contains("flashSecret123") && !text.contains("reverseFlash99"),
            "{text}"
        );
        assert_eq!(mode(&dir.join(public_file)), 0o644);
    }
    assert_eq!(mode(&dir.join("boot.ipxe")), 0o600);
    assert_eq!(mode(&dir.join("ibft.bin")), 0o600);
    assert_eq!(mode(&dir), 0o700);

    // The manager disables iSCSI boot: the files go.
    rt().block_on(async {
        let mut c = connect(a, None).await;
        let mut plan = WritePlan::new(p.clone(), Dialect::Oem { confidential: true });
        plan.enable = false;
        push(&mut c, &plan).await;
        c.close().await.unwrap();
    });
    for f in ["boot.ipxe", "root-path", "ibft.bin", "params.json"] {
        assert!(!dir.join(f).exists(), "{f} left behind");
    }
    sim.wait_log("boot files removed");

    // Mailbox parameters without CHAP render; with a CHAP user but no secret they cannot.
    let mut plain = p.clone();
    plain.auth = Authentication::None;
    let dialect = Dialect::Mailbox { pen: Pen::EXAMPLE };
    rt().block_on(async {
        let mut c = connect(a, None).await;
        push(&mut c, &WritePlan::new(plain.clone(), dialect)).await;
        let script = std::fs::read_to_string(dir.join("boot.ipxe")).unwrap();
        assert_eq!(
            script,
            ipxe_script(&plain, &IpxeOptions::default()).unwrap()
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("params.json")).unwrap())
                .unwrap();
        assert_eq!(json["source"], "mailbox");
        push(&mut c, &WritePlan::new(p.clone(), dialect)).await;
        assert!(!dir.join("boot.ipxe").exists());
        c.close().await.unwrap();
    });
    sim.wait_log("cannot be rendered");
}

#[test]
fn state_and_boot_files_survive_a_restart() {
    let port = free_udp_range(1);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let spec = format!("127.0.0.1:{port}");
    let tmp = tempfile::tempdir().unwrap();
    let p = chap_params(
        "iqn.2026-11.org.example.imm:rs-node",
        "iqn.2026-11.org.example.imm:rs-disk",
        "192.0.2.11",
        3260,
        "rs-node",
        "restartSecret1",
    );
    let flags = BootFlags::network_boot(true, false);
    let (state_before, script_before) = {
        let sim = ImmSim::start_in(tmp.path(), &spec, vec![addr], "");
        rt().block_on(async {
            let mut c = connect(addr, None).await;
            let mut plan = WritePlan::new(
                p.clone(),
                Dialect::Oem {
                    confidential: confidential(&c),
                },
            );
            plan.boot_flags = Some(flags);
            push(&mut c, &plan).await;
            c.close().await.unwrap();
        });
        let state = std::fs::read_to_string(sim.state_file(addr)).unwrap();
        let script = std::fs::read_to_string(sim.render_dir(addr).join("boot.ipxe")).unwrap();
        // Rendered files are derived: remove them to see the restart rebuild them.
        std::fs::remove_file(sim.render_dir(addr).join("boot.ipxe")).unwrap();
        (state, script)
    };
    let sim = ImmSim::start_in(tmp.path(), &spec, vec![addr], "");
    assert_eq!(
        std::fs::read_to_string(sim.state_file(addr)).unwrap(),
        state_before
    );
    assert_eq!(
        std::fs::read_to_string(sim.render_dir(addr).join("boot.ipxe")).unwrap(),
        script_before
    );
    let path = sim.state_file(addr);
    let stored = decode_state(&path, &state_before).unwrap();
    let kept = stored.oem_params().unwrap();
    assert_eq!(kept.without_secrets(), p.without_secrets());
    assert_eq!(
        kept.auth.initiator().unwrap().secret.expose(),
        "restartSecret1",
        "secrets kept for rendering"
    );
    rt().block_on(async {
        let mut c = connect(addr, None).await;
        let got = read_back(&mut c, Dialect::Oem { confidential: true }).await;
        let IscsiState::Oem(rb) = got.iscsi else {
            panic!("{got:?}");
        };
        assert_eq!(rb.params, p.without_secrets());
        assert_eq!(got.boot_flags, Some(flags));
        c.close().await.unwrap();
    });
}

const USERS: &str = r#"
[[user]]
name = "viewer"
password = { env = "IMM_TEST_VIEWER_PW" }
privilege = "user"

[bmc."127.0.0.1_PORT_B"]
inherit = false
[[bmc."127.0.0.1_PORT_B".user]]
name = "alice"
password = { value = "alice-Pw-42" }

[bmc."127.0.0.1_PORT_C"]
[[bmc."127.0.0.1_PORT_C".user]]
name = "carol"
password = { file = "CAROL_FILE" }
privilege = "operator"
"#;

fn auth_refused(e: &ClientError) -> bool {
    matches!(e, ClientError::Session(SessionError::Authentication(_)))
}

#[test]
fn bmcs_in_one_process_keep_separate_users_and_state() {
    let base = free_udp_range(3);
    let (a, b, c) = (
        std::net::SocketAddr::from(([127, 0, 0, 1], base)),
        std::net::SocketAddr::from(([127, 0, 0, 1], base + 1)),
        std::net::SocketAddr::from(([127, 0, 0, 1], base + 2)),
    );
    let tmp = tempfile::tempdir().unwrap();
    let carol_file = tmp.path().join("carol.pw");
    std::fs::write(&carol_file, "carol-Pw-7\n").unwrap();
    let users = tmp.path().join("users.toml");
    std::fs::write(
        &users,
        USERS
            .replace("PORT_B", &b.port().to_string())
            .replace("PORT_C", &c.port().to_string())
            .replace("CAROL_FILE", carol_file.to_str().unwrap()),
    )
    .unwrap();
    // The viewer's password reaches imm-sim through its environment, carol's from a file.
    let spec = format!("127.0.0.1:{base}-{}", base + 2);
    let peer = harness::Peer::start(
        "imm-sim",
        &[
            ("IMM_SIM_BIN", env!("CARGO_BIN_EXE_imm-sim").to_owned()),
            ("IMM_SIM_BMCS", spec),
            ("IMM_SIM_PASSWORD", PASSWORD.to_owned()),
            ("IMM_TEST_VIEWER_PW", "viewer-Pw-1".to_owned()),
            ("IMM_SIM_ARGS", format!("--users-file {}", users.display())),
        ],
    );
    let sim = ImmSim {
        peer,
        addrs: vec![a, b, c],
    };
    let p = chap_params(
        "iqn.2026-11.org.example.imm:mb-node",
        "iqn.2026-11.org.example.imm:mb-disk",
        "192.0.2.12",
        3260,
        "mb-node",
        "multiSecret123",
    );
    rt().block_on(async {
        // admin configures A only.
        let mut ca = connect(a, None).await;
        let conf = confidential(&ca);
        push(
            &mut ca,
            &WritePlan::new(p.clone(), Dialect::Oem { confidential: conf }),
        )
        .await;
        ca.close().await.unwrap();
        // B knows only alice; C knows admin, viewer and carol.
        let e = Client::connect(b, client_config("admin", PASSWORD, None), BOUND)
            .await
            .unwrap_err();
        assert!(auth_refused(&e), "admin on b: {e}");
        let e = Client::connect(a, client_config("alice", "alice-Pw-42", None), BOUND)
            .await
            .unwrap_err();
        assert!(auth_refused(&e), "alice on a: {e}");
        let mut cb = Client::connect(b, client_config("alice", "alice-Pw-42", None), BOUND)
            .await
            .unwrap();
        let got = read_back(&mut cb, Dialect::Oem { confidential: true }).await;
        assert_eq!(got.iscsi, IscsiState::NotConfigured, "b has its own state");
        cb.close().await.unwrap();
        let mut cc = Client::connect(c, client_config("carol", "carol-Pw-7", None), BOUND).await;
        assert!(
            cc.is_err(),
            "carol is an operator: an administrator session is refused"
        );
        let mut op = client_config("carol", "carol-Pw-7", None);
        op.privilege = Privilege::OPERATOR;
        cc = Client::connect(c, op, BOUND).await;
        let mut cc = cc.unwrap();
        let r = cc
            .execute(get_request(BootParam::OEM_CONTROL, 0, 0))
            .await
            .unwrap();
        assert!(r.is_ok());
        assert_eq!(
            GetResponse::decode(&r.data).unwrap().data[1],
            0,
            "c is not configured"
        );
        cc.close().await.unwrap();
        // viewer (user privilege) on A may look but not write.
        let mut v = client_config("viewer", "viewer-Pw-1", None);
        v.privilege = Privilege::USER;
        let mut cv = Client::connect(a, v, BOUND).await.unwrap();
        let status = cv
            .execute(Request::new(
                NetFn::CHASSIS,
                chassis::GET_CHASSIS_STATUS,
                [],
            ))
            .await
            .unwrap();
        assert!(status.is_ok());
        let r = cv
            .execute(set_request(BootParam::BOOT_FLAGS, &[0, 0, 0, 0, 0]))
            .await
            .unwrap();
        assert_eq!(r.completion, CompletionCode::INSUFFICIENT_PRIVILEGE);
        cv.close().await.unwrap();
    });
    assert!(sim.render_dir(a).join("boot.ipxe").exists());
    assert!(!sim.render_dir(b).join("boot.ipxe").exists());
    assert!(!sim.render_dir(c).join("boot.ipxe").exists());
    assert!(sim.state_file(a).exists());
    assert!(!sim.state_file(b).exists(), "nothing was written to b");
    let log = sim.log();
    assert!(
        !log.contains("alice-Pw-42") && !log.contains("carol-Pw-7") && !log.contains("viewer-Pw-1")
    );
}

#[test]
fn the_sixty_second_boot_flag_timer_runs_and_persists_without_any_client() {
    let port = free_udp_range(1);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let name = ImmSim::name(addr);
    let tmp = tempfile::tempdir().unwrap();
    // A saved state whose next-boot flags were set 59 s ago.
    let mut store = BootOptionsStore::new(StoreConfig::default());
    let set_at = imm_sim::wall_clock() - Duration::from_secs(59);
    let r = store.handle(
        set_at,
        &set_request(
            BootParam::BOOT_FLAGS,
            &BootFlags::network_boot(false, false).encode(),
        ),
    );
    assert!(r.is_ok());
    let state_dir = tmp.path().join("imm-sim").join("state").join(&name);
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::write(
        state_dir.join("state.json"),
        serde_json::to_vec(&store).unwrap(),
    )
    .unwrap();
    let sim = ImmSim::start_in(tmp.path(), &format!("127.0.0.1:{port}"), vec![addr], "");
    sim.wait_log("boot flags valid bit cleared");
    let path = sim.state_file(addr);
    let saved = decode_state(&path, &std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(!saved.boot_flags().valid, "the expiry was persisted");
    assert_eq!(
        saved.boot_flags().device,
        ipmi_iscsi::bootopt::BootDevice::PXE
    );
}

#[test]
fn every_command_is_logged_and_no_secret_ever_is() {
    let sim = ImmSim::range(1, "--log-format json");
    let a = sim.addr();
    let mut p = chap_params(
        "iqn.2026-11.org.example.imm:lg-node",
        "iqn.2026-11.org.example.imm:lg-disk",
        "192.0.2.13",
        3260,
        "lg-node",
        "logSecretAbc12",
    );
    mutual(&mut p, "logSecretAbc12", "logReverseXy34");
    let sent = rt().block_on(async {
        let mut c = connect(a, None).await;
        let conf = confidential(&c);
        let report = push(
            &mut c,
            &WritePlan::new(p.clone(), Dialect::Oem { confidential: conf }),
        )
        .await;
        assert!(power_cycle(&mut c).await.is_ok());
        c.close().await.unwrap();
        report.requests + 1
    });
    let log = sim.wait_log("boot: host powered up or reset");
    for secret in ["logSecretAbc12", "logReverseXy34", PASSWORD] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let commands: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["message"] == "command")
        .collect();
    assert_eq!(commands.len(), sent, "one log line per command");
    for e in &commands {
        assert_eq!(e["bmc"], ImmSim::name(a));
        for field in ["session", "user", "netfn", "cmd", "command", "cc"] {
            assert!(e.get(field).is_some(), "{field} missing in {e}");
        }
    }
    // The secret records were written (parameter 0x6A, block 0) and logged as such.
    assert!(
        commands
            .iter()
            .any(|e| e["param"] == 0x6a && e["block"] == 0 && e["cc"] == "0x00")
    );
    let boot = events
        .iter()
        .find(|e| e["message"] == "boot: host powered up or reset")
        .unwrap();
    assert_eq!(boot["root_path"], root_path(&p.primary));
}

#[test]
fn the_mailbox_is_read_under_the_configured_enterprise_number() {
    // --pen 343: our mailbox format under Intel's number renders; under ours it does not.
    let sim = ImmSim::range(2, "--pen 343");
    let (a, b) = (sim.addrs[0], sim.addrs[1]);
    let mut p = chap_params(
        "iqn.2026-11.org.example.imm:pen-node",
        "iqn.2026-11.org.example.imm:pen-disk",
        "192.0.2.14",
        3260,
        "unused",
        "unusedSecret12",
    );
    p.auth = Authentication::None;
    rt().block_on(async {
        for (addr, pen) in [(a, Pen::new(343).unwrap()), (b, Pen::EXAMPLE)] {
            let mut c = connect(addr, None).await;
            push(&mut c, &WritePlan::new(p.clone(), Dialect::Mailbox { pen })).await;
            c.close().await.unwrap();
        }
    });
    let script = std::fs::read_to_string(sim.render_dir(a).join("boot.ipxe")).unwrap();
    assert_eq!(script, ipxe_script(&p, &IpxeOptions::default()).unwrap());
    assert!(
        !sim.render_dir(b).join("boot.ipxe").exists(),
        "another vendor's mailbox"
    );
    // ipmitool reads the same enterprise number back.
    let out = ipmitool_ok(a, 17, &["chassis", "bootmbox", "get"]);
    assert!(out.contains("IANA PEN       : 343"), "{out}");
}
