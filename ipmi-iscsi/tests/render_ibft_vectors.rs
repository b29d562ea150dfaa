//! The iBFT iPXE really publishes (captured from a QEMU boot, see the vector's header)
//! decodes with our decoder to the parameters that boot used; every truncation fails.

use std::net::IpAddr;

use ipmi_iscsi::params::Lun;
use ipmi_iscsi::render::{decode_ibft, ibft};

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let hex: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.trim().chars())
        .collect();
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn ipxe_published_ibft_decodes_to_the_pushed_initiator_and_target() {
    let t = decode_ibft(&vector("ipxe-qemu-ibft.hex")).unwrap();
    assert_eq!(&t.oem_id, b"FENSYS");
    assert_eq!(
        t.initiator_name.as_deref(),
        Some("iqn.2024-01.org.example.bootparams:vm1")
    );
    assert_eq!(t.initiator_flags & ibft::FLAG_VALID, ibft::FLAG_VALID);
    let nic = &t.nics[0];
    assert_eq!(nic.origin, ibft::origin::DHCP);
    assert_eq!(nic.ip, ip("10.0.2.15"));
    assert_eq!(nic.prefix_len, 24);
    assert_eq!(nic.gateway, ip("10.0.2.2"));
    assert_eq!(nic.dns[0], ip("10.0.2.3"));
    assert_eq!(nic.mac, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    assert_eq!(t.targets.len(), 1);
    let tg = &t.targets[0];
    assert_eq!(
        tg.name.as_deref(),
        Some("iqn.2024-01.org.example.bootparams:render-disk")
    );
    assert_eq!(tg.ip, ip("10.0.2.2"));
    assert_eq!(tg.port, 41335);
    assert_eq!(tg.lun, Lun::new(1).unwrap());
    assert_eq!(tg.chap_type, 1);
    assert_eq!(tg.chap_name.as_deref(), Some("vm1-user"));
    assert_eq!(
        tg.chap_secret
            .as_ref()
            .map(ipmi_iscsi::params::Secret::expose),
        Some("renderSecret42")
    );
    assert_eq!(format!("{:?}", tg.chap_secret), "Some(***)");
}

#[test]
fn every_truncation_of_the_ipxe_ibft_is_an_error() {
    let bytes = vector("ipxe-qemu-ibft.hex");
    for n in 0..bytes.len() {
        assert!(decode_ibft(&bytes[..n]).is_err(), "prefix {n}");
    }
}
