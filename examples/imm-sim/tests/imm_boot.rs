//! The real boot, driven end to end: our client pushes iSCSI boot parameters (OEM
//! dialect, CHAP secret, over an encrypting RMCP+ session) to `imm-sim` and power-cycles
//! the "server"; `imm-sim` renders `boot.ipxe`; a QEMU VM (TCG) whose iPXE runs that script
//! boots the tgtd LUN with CHAP. The boot sector's serial marker proves the boot, and the
//! iBFT iPXE published names the initiator and target we pushed. A wrong CHAP secret
//! pushed the same way is refused by tgtd: no boot.

#[path = "../../../scripts/peers/harness.rs"]
mod harness;
mod imm_common;

use imm_common::*;
use ipmi_iscsi::bootopt::{Dialect, WritePlan};
use ipmi_iscsi::params::IscsiBootParams;

const CHAP_USER: &str = "imm-boot-user";
const CHAP_SECRET: &str = "immBootSecret42";

/// Pushes `params` the way the manager does (suite 17, OEM dialect with confidentiality,
/// network-boot flags) and power-cycles the server.
fn push_and_cycle(sim: &ImmSim, params: &IscsiBootParams) {
    rt().block_on(async {
        let mut c = connect(sim.addr(), None).await;
        assert_eq!(
            c.cipher_suite(),
            Some(ipmi_iscsi::rmcp::CipherSuite::SUITE_17)
        );
        let conf = confidential(&c);
        assert!(conf, "suite 17 encrypts");
        push(
            &mut c,
            &WritePlan::new(params.clone(), Dialect::Oem { confidential: conf }),
        )
        .await;
        assert!(power_cycle(&mut c).await.is_ok());
        c.close().await.unwrap();
    });
}

#[test]
fn vm_boots_the_lun_from_the_script_imm_sim_rendered_from_our_push() {
    let target = "iqn.2026-11.org.example.imm:boot-disk";
    let initiator = "iqn.2026-11.org.example.imm:boot-vm";
    let (_tgtd, port) =
        harness::start_boot_target(target, "imm-sim-boot", Some((CHAP_USER, CHAP_SECRET)));
    let sim = ImmSim::range(1, "");
    // QEMU user-mode networking: the host's loopback is 10.0.2.2 inside the VM.
    let params = chap_params(initiator, target, "10.0.2.2", port, CHAP_USER, CHAP_SECRET);
    push_and_cycle(&sim, &params);
    let log = sim.wait_log("boot: host powered up or reset");
    assert!(
        log.contains(&format!("iscsi:10.0.2.2::{port}:1:{target}")),
        "{log}"
    );

    let dir = sim.render_dir(sim.addr());
    let script = std::fs::read_to_string(dir.join("boot.ipxe")).unwrap();
    assert!(
        script.contains(&format!("set initiator-iqn {initiator}")),
        "{script}"
    );
    let (code, serial) = harness::run_vm(&dir, "120");
    assert_booted_as_rendered(
        &dir,
        code,
        &serial,
        &BootExpected {
            label: "imm-sim-boot",
            initiator,
            target,
            port,
            chap_user: CHAP_USER,
        },
    );
}

#[test]
fn a_wrong_chap_secret_pushed_through_imm_sim_is_refused_at_login() {
    let target = "iqn.2026-11.org.example.imm:deny-disk";
    let (_tgtd, port) =
        harness::start_boot_target(target, "imm-sim-deny", Some((CHAP_USER, CHAP_SECRET)));
    let sim = ImmSim::range(1, "");
    let params = chap_params(
        "iqn.2026-11.org.example.imm:deny-vm",
        target,
        "10.0.2.2",
        port,
        CHAP_USER,
        "notTheSecret42",
    );
    push_and_cycle(&sim, &params);
    let dir = sim.render_dir(sim.addr());
    let script = std::fs::read_to_string(dir.join("boot.ipxe")).unwrap();
    assert!(
        script.contains("set password notTheSecret42"),
        "the wrong secret was rendered"
    );
    let (code, serial) = harness::run_vm(&dir, "60");
    assert_ne!(code, Some(33), "booted with a wrong chap secret:\n{serial}");
    assert_ne!(
        code,
        Some(124),
        "the vm neither booted nor gave up within 60 s:\n{serial}"
    );
    assert!(!serial.contains("BCM-BOOT-OK"), "{serial}");
    // iPXE's words for a refused iSCSI login (EPERM), not some other failure.
    assert!(
        serial.contains("Could not open SAN device: Operation not permitted"),
        "{serial}"
    );
}
