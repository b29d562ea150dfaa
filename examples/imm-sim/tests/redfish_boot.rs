//! The real boot with the parameters arriving over Redfish: curl (verifying the BMC's
//! certificate) PATCHes `iSCSIBoot` and `BootMode` into the iSCSI function's settings
//! object with its ETag, sets a one-time PXE override and resets the system; the reset
//! applies the settings into the boot-options store, `imm-sim` renders `boot.ipxe`, and a
//! QEMU VM (TCG) whose iPXE runs that script boots the tgtd LUN with CHAP. The boot
//! sector's serial marker proves the boot; the iBFT iPXE published names what was PATCHed.

#[path = "../../../scripts/peers/harness.rs"]
mod harness;
mod imm_common;
mod redfish_common;

use imm_common::{BootExpected, assert_booted_as_rendered};
use redfish_common::*;

const CHAP_USER: &str = "rf-boot-user";
const CHAP_SECRET: &str = "rfBootSecret42";

#[test]
fn vm_boots_the_lun_whose_parameters_came_over_redfish() {
    let target = "iqn.2026-12.org.example.rf:boot-disk";
    let initiator = "iqn.2026-12.org.example.rf:boot-vm";
    harness::require_program("curl");
    let (_tgtd, port) =
        harness::start_boot_target(target, "redfish-boot", Some((CHAP_USER, CHAP_SECRET)));
    let rf = RedfishSim::start();
    let patch = serde_json::json!({
        "BootMode": "iSCSI",
        "iSCSIBoot": {
            "InitiatorName": initiator,
            // QEMU user-mode networking: DHCP, and the host's loopback is 10.0.2.2.
            "IPMaskDNSViaDHCP": true,
            "PrimaryTargetName": target,
            "PrimaryTargetIPAddress": "10.0.2.2",
            "PrimaryTargetTCPPort": port,
            "PrimaryLUN": 1,
            "AuthenticationMethod": "CHAP",
            "CHAPUsername": CHAP_USER,
            "CHAPSecret": CHAP_SECRET,
        }
    })
    .to_string();
    let (s, head, _) = rf.curl("GET", SETTINGS, None);
    assert_eq!(s, 200);
    let if_match = format!("If-Match: {}", header(&head, "etag").unwrap());
    let (s, _, b) = rf.curl_with("PATCH", SETTINGS, Some(&patch), &[&if_match], true);
    assert_eq!(s, 200, "{b}");
    assert!(!b.contains(CHAP_SECRET));
    let dir = rf.sim.render_dir(rf.sim.addr());
    assert!(!dir.join("boot.ipxe").exists(), "applied only at reset");
    let boot = r#"{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}"#;
    let (s, _, b) = rf.curl("PATCH", "/redfish/v1/Systems/1", Some(boot));
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = rf.curl("POST", RESET, Some(r#"{"ResetType":"PowerCycle"}"#));
    assert_eq!(s, 204, "{b}");
    let log = rf.sim.wait_log("boot: host powered up or reset");
    assert!(
        log.contains(&format!("iscsi:10.0.2.2::{port}:1:{target}")),
        "{log}"
    );
    assert!(log.contains("device=pxe"), "{log}");
    assert!(!log.contains(CHAP_SECRET), "{log}");

    let (code, serial) = harness::run_vm(&dir, "120");
    assert_booted_as_rendered(
        &dir,
        code,
        &serial,
        &BootExpected {
            label: "redfish-boot",
            initiator,
            target,
            port,
            chap_user: CHAP_USER,
        },
    );
}
