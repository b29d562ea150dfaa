//! A real boot: QEMU (TCG) runs the iPXE script our renderer produced, iPXE logs in to
//! tgtd with CHAP and boots the LUN; the boot sector prints the iBFT iPXE published, and
//! our iBFT decoder reads it to the same initiator/target fields our own iBFT encoder
//! writes for the same parameters.

#[path = "../../scripts/peers/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;

use ipmi_iscsi::params::{
    Authentication, ChapCredentials, IscsiBootParams, IscsiName, IscsiTarget, Lun, Secret,
};
use ipmi_iscsi::render::{IbftOptions, IpxeOptions, decode_ibft, ibft_table, ipxe_script};

const TARGET: &str = "iqn.2024-01.org.example.bootparams:render-disk";
const INITIATOR: &str = "iqn.2024-01.org.example.bootparams:vm1";
const CHAP_USER: &str = "vm1-user";
const CHAP_SECRET: &str = "renderSecret42";

fn tgtadm(socket: &str, args: &[&str]) {
    let (ok, out, err) = harness::run("tgtadm", args, &[("TGT_IPC_SOCKET", socket)]);
    assert!(ok, "tgtadm {args:?}: {out} {err}");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn ipxe_boots_the_lun_from_our_script_and_publishes_an_ibft_our_decoder_matches() {
    for p in ["qemu-system-x86_64", "nasm", "tgtd", "tgtadm"] {
        harness::require_program(p);
    }
    let root = harness::repo_root();
    let port = harness::free_tcp_port();
    let tgtd = harness::Peer::start(
        "tgtd",
        &[
            ("TGTD_PORT", port.to_string()),
            ("TGTD_TARGETS", TARGET.to_string()),
            ("TGTD_LUN_SIZES", "32M".to_string()),
        ],
    );
    let socket = tgtd.var("TGT_IPC_SOCKET").to_owned();
    tgtadm(
        &socket,
        &[
            "--lld",
            "iscsi",
            "--op",
            "new",
            "--mode",
            "account",
            "--user",
            CHAP_USER,
            "--password",
            CHAP_SECRET,
        ],
    );
    tgtadm(
        &socket,
        &[
            "--lld", "iscsi", "--op", "bind", "--mode", "account", "--tid", "1", "--user",
            CHAP_USER,
        ],
    );

    // The LUN's content: the boot sector that reports the iBFT.
    let lun_img = tgtd.dir.join("tgtd").join("t1-lun1.img");
    let disk = tgtd.dir.join("bootdisk.img");
    let (ok, out, err) = harness::run(
        "bash",
        &[
            root.join("scripts/vm/make-bootdisk.sh").to_str().unwrap(),
            disk.to_str().unwrap(),
            "bootparams-render",
            "1M",
        ],
        &[],
    );
    assert!(ok, "make-bootdisk: {out} {err}");
    let status = Command::new("dd")
        .args([
            &format!("if={}", disk.display()),
            &format!("of={}", lun_img.display()),
            "conv=notrunc",
            "status=none",
        ])
        .status()
        .unwrap();
    assert!(status.success());

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
    let serial = vm.join("serial.log");
    let status = Command::new("bash")
        .args([
            root.join("scripts/vm/run-vm.sh").to_str().unwrap(),
            vm.to_str().unwrap(),
            serial.to_str().unwrap(),
            "240",
        ])
        .status()
        .unwrap();
    let log = std::fs::read_to_string(&serial).unwrap_or_default();
    assert_eq!(
        status.code(),
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
