//! The real boot with bcm driving the BMC over Redfish: bcm's client finds the iSCSI
//! function of `imm-sim --redfish`, PATCHes its settings object (ETag, session), resets the
//! system (which applies the settings into the boot-options store, and imm-sim renders
//! `boot.ipxe`), reads back; then a QEMU VM (TCG) whose iPXE runs that script boots the
//! tgtd LUN with CHAP. The boot sector's serial marker proves the boot; the iBFT iPXE
//! published and imm-sim's own iBFT name what bcm pushed.

#[path = "../../scripts/peers/harness.rs"]
mod harness;
#[path = "../imm-sim/tests/imm_common/mod.rs"]
mod imm_common;
mod rf_sim;

use std::time::Duration;

use bcm::redfish::flow::{self, Endpoint};
use bcm::redfish::tls::Trust;
use bcm::redfish::transport::{Bounds, Credentials};
use imm_common::{BootExpected, assert_booted_as_rendered, chap_params};
use ipmi_iscsi::params::{AddressConfig, InitiatorNetwork};
use rf_sim::{NDF1, PASSWORD, RedfishSim};

const CHAP_USER: &str = "bcm-rf-boot";
const CHAP_SECRET: &str = "bcmRfBootSec42";

#[test]
fn vm_boots_the_lun_bcm_configured_over_redfish() {
    let target = "iqn.2026-12.org.example.bcmrf:boot-disk";
    let initiator = "iqn.2026-12.org.example.bcmrf:boot-vm";
    let (_tgtd, port) =
        harness::start_boot_target(target, "bcm-redfish-boot", Some((CHAP_USER, CHAP_SECRET)));
    let rf = RedfishSim::start();
    // QEMU user-mode networking: DHCP, and the host's loopback is 10.0.2.2.
    let mut params = chap_params(initiator, target, "10.0.2.2", port, CHAP_USER, CHAP_SECRET);
    params.network = InitiatorNetwork {
        config: AddressConfig::Dhcp,
        vlan: None,
    };
    let ep = Endpoint {
        bmc: rf.https.to_string(),
        trust: Trust::CaFile(rf.cert()),
        creds: Credentials {
            user: "admin".into(),
            password: PASSWORD.into(),
        },
        system_uuid: None,
        mac: None,
    };
    let bounds = Bounds {
        request: Duration::from_secs(20),
        step: Duration::from_secs(90),
        ..Bounds::default()
    };
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(flow::configure(&ep, &params, true, bounds))
        .unwrap();
    assert_eq!(report.function, NDF1);
    assert!(report.reset.is_some(), "{report}");
    rf.wait_log("boot: host powered up or reset");
    let log = rf.log();
    assert!(
        log.contains(&format!("iscsi:10.0.2.2::{port}:1:{target}")),
        "{log}"
    );
    assert!(!log.contains(CHAP_SECRET), "{log}");

    let dir = rf.render_dir();
    let (code, serial) = harness::run_vm(&dir, "120");
    assert_booted_as_rendered(
        &dir,
        code,
        &serial,
        &BootExpected {
            label: "bcm-redfish-boot",
            initiator,
            target,
            port,
            chap_user: CHAP_USER,
        },
    );
}
