//! The standard-parameter requests we send are byte-for-byte what ipmitool sends, checked
//! against the plaintext (cipher suite 2) tshark capture of ipmitool talking to ipmi_sim
//! (`tests/vectors/ipmitool-ipmi_sim-suite2-boot-options.hex`, header there).

use ipmi_iscsi::bootopt::{
    Block, BootFlags, BootInfoAck, BootParam, Pen, SetInProgress, get_request, set_request,
};
use ipmi_iscsi::ipmi::{NetFn, RequestFrame};

/// Chassis requests (netfn, cmd, data) ipmitool sent, from the unencrypted RMCP+ payloads.
fn ipmitool_chassis_requests() -> Vec<(u8, Vec<u8>)> {
    let path = format!(
        "{}/tests/vectors/ipmitool-ipmi_sim-suite2-boot-options.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut out = Vec::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let Some(hex) = line.strip_prefix("c2b ") else {
            continue;
        };
        let b: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        // RMCP (4) | auth type 06 | payload type (IPMI = 0, maybe authenticated) | session
        // ID (4) | sequence (4) | length (2, LE) | IPMI message.
        if b.len() < 16 || b[4] != 0x06 || b[5] & 0x3f != 0 || b[5] & 0x80 != 0 {
            continue;
        }
        let len = usize::from(u16::from_le_bytes([b[14], b[15]]));
        let frame = RequestFrame::decode(&b[16..16 + len]).unwrap();
        if frame.netfn == NetFn::CHASSIS {
            out.push((frame.cmd, frame.data.to_vec()));
        }
    }
    out
}

#[test]
fn our_standard_parameter_requests_equal_ipmitools_bytes() {
    let sent = ipmitool_chassis_requests();
    let has = |cmd: u8, data: &[u8]| sent.iter().any(|(c, d)| *c == cmd && d == data);
    // `chassis bootdev pxe options=efiboot`: set in progress, clear BIOS ack, flags.
    let sip = set_request(
        BootParam::SET_IN_PROGRESS,
        &SetInProgress::InProgress.encode(),
    );
    assert!(has(sip.cmd, &sip.data), "{sent:02x?}");
    let ack = set_request(
        BootParam::BOOT_INFO_ACK,
        &BootInfoAck::IPMITOOL_CLEAR_BIOS.encode(),
    );
    assert!(has(ack.cmd, &ack.data));
    let efi_pxe = set_request(
        BootParam::BOOT_FLAGS,
        &BootFlags::network_boot(false, true).encode(),
    );
    assert!(has(efi_pxe.cmd, &efi_pxe.data));
    // `chassis bootparam set bootflag force_pxe`: legacy PXE, next boot.
    let pxe = set_request(
        BootParam::BOOT_FLAGS,
        &BootFlags::network_boot(false, false).encode(),
    );
    assert!(has(pxe.cmd, &pxe.data));
    // `chassis bootparam get 5` / `get 7`.
    let g5 = get_request(BootParam::BOOT_FLAGS, 0, 0);
    assert!(has(g5.cmd, &g5.data));
    let g7 = get_request(BootParam::BOOT_INITIATOR_MAILBOX, 0, 0);
    assert!(has(g7.cmd, &g7.data));
}

#[test]
fn ipmitool_mailbox_write_decodes_as_block_0_with_pen_ls_byte_first() {
    // `chassis bootmbox set text 343 hello`.
    let (_, data) = ipmitool_chassis_requests()
        .into_iter()
        .find(|(c, d)| *c == 0x08 && d.first() == Some(&0x07))
        .unwrap();
    let block = Block::decode(&data[1..]).unwrap();
    assert_eq!(block.index, 0);
    assert_eq!(
        Pen::from_bytes([block.data[0], block.data[1], block.data[2]]),
        Pen::new(343).unwrap()
    );
    assert_eq!(&block.data[3..9], b"hello\0");
    // Our encoder writes the same three PEN bytes for 343.
    assert_eq!(Pen::new(343).unwrap().to_bytes(), [0x57, 0x01, 0x00]);
}
