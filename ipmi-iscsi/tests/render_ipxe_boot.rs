//! A real boot: QEMU (TCG) runs the iPXE script our renderer produced, iPXE logs in to
//! tgtd with CHAP and boots the LUN; the boot sector prints the iBFT iPXE published, and
//! our iBFT decoder reads it to the same initiator/target fields our own iBFT encoder
//! writes for the same parameters.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::path::Path;

use ipmi_iscsi::params::{
    Authentication, ChapCredentials, IscsiBootParams, IscsiName, IscsiTarget, Lun, Secret,
};
use ipmi_iscsi::render::{IbftOptions, IpxeOptions, decode_ibft, ibft_table, ipxe_script};

const TARGET: &str = "iqn.2024-01.org.example.bootparams:render-disk";
const INITIATOR: &str = "iqn.2024-01.org.example.bootparams:vm1";
const CHAP_USER: &str = "vm1-user";
const CHAP_SECRET: &str = "renderSecret42";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn ipxe_boots_the_lun_from_our_script_and_publishes_an_ibft_our_decoder_matches() {
    let (tgtd, port) =
        harness::start_boot_target(TARGET, "bootparams-render", Some((CHAP_USER, CHAP_SECRET)));

    let mut params = IscsiBootParams::new(
        IscsiName::new(INITIATOR).unwrap(),
        IscsiTarget {
            name: IscsiName::new(TARGET).unwrap(),
            // QEMU user-mode networking: the host's loopback is 10.0.2.2 inside the VM.
            address: "10.0.2.2".parse().unwrap(),
            port,
            lun: Lun::new(1).unwrap(),
        },
    );
    params.auth = Authentication::Chap {
        initiator: ChapCredentials {
            user: CHAP_USER.into(),
            secret: Secret::new(CHAP_SECRET).unwrap(),
        },
        allow_any_secret_length: false,
    };
    let vm = tgtd.dir.join("vm");
    std::fs::create_dir_all(&vm).unwrap();
    std::fs::write(
        vm.join("boot.ipxe"),
        ipxe_script(&params, &IpxeOptions::default()).unwrap(),
    )
    .unwrap();
    let (code, log) = harness::run_vm(&vm, "240");
    assert_eq!(
        code,
        Some(33),
        "vm did not reach the boot sector; serial:\n{log}"
    );
    assert!(log.contains("BCM-BOOT-OK label=bootparams-render"), "{log}");
    let ibft_hex = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("IBFT-HEX "))
        .unwrap_or_else(|| panic!("no IBFT-HEX line:\n{log}"));
    let published = hex(ibft_hex.trim());
    save_vector(&published);

    let theirs = decode_ibft(&published).expect("iPXE's iBFT decodes with our decoder");
    let ours = decode_ibft(&ibft_table(&params, &IbftOptions::default()).unwrap()).unwrap();
    assert_eq!(theirs.initiator_name, ours.initiator_name);
    let (t, o) = (&theirs.targets[0], &ours.targets[0]);
    assert_eq!(t.name, o.name);
    assert_eq!(t.ip, o.ip);
    assert_eq!(t.port, o.port);
    assert_eq!(t.lun, o.lun);
    assert_eq!(t.chap_type, o.chap_type);
    assert_eq!(t.chap_name, o.chap_name);
    assert_eq!(t.chap_secret, o.chap_secret);
    assert_eq!(theirs.nics[0].origin, ours.nics[0].origin, "both say DHCP");
}

/// Keeps the last published table next to the scratch files for inspection.
fn save_vector(bytes: &[u8]) {
    let dir = std::env::temp_dir();
    let _ = std::fs::write(Path::new(&dir).join("bootparams-ipxe-ibft.bin"), bytes);
}
