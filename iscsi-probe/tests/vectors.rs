//! Captured vectors (`tests/vectors/tgtd-libiscsi-*.hex`, made by `tests/vectors/capture.sh`):
//! every PDU that real tgtd and libiscsi exchanged decodes into its typed form, re-encodes byte
//! for byte, carries well-formed text, and every prefix of it is "need more", never a panic.

mod common;

use bytes::BytesMut;
use common::load;
use iscsi_probe::codes::Opcode;
use iscsi_probe::message::Message;
use iscsi_probe::pdu::Pdu;
use iscsi_probe::scsi::{Capacity, InquiryData, LunList};
use iscsi_probe::text;

#[test]
fn every_captured_pdu_decodes_typed_and_reencodes_byte_for_byte() {
    let vectors = load();
    let mut seen = std::collections::BTreeSet::new();
    for v in &vectors {
        let pdu =
            Pdu::new_checked(&v.bytes).unwrap_or_else(|e| panic!("{} {}: {e}", v.file, v.label));
        let m = Message::from_pdu(pdu);
        assert!(
            !matches!(m, Message::Other(_)),
            "{} {}: untyped {:?}",
            v.file,
            v.label,
            pdu
        );
        seen.insert(pdu.opcode());
        let mut out = BytesMut::new();
        m.encode(&mut out).unwrap();
        assert_eq!(
            &out[..],
            &v.bytes[..],
            "{} {} re-encodes differently",
            v.file,
            v.label
        );
        if matches!(
            pdu.opcode(),
            Opcode::LOGIN_REQUEST
                | Opcode::LOGIN_RESPONSE
                | Opcode::TEXT_REQUEST
                | Opcode::TEXT_RESPONSE
        ) {
            for p in text::pairs(pdu.data()) {
                p.unwrap_or_else(|e| panic!("{} {}: {e}", v.file, v.label));
            }
        }
    }
    for op in [
        Opcode::LOGIN_REQUEST,
        Opcode::LOGIN_RESPONSE,
        Opcode::TEXT_REQUEST,
        Opcode::TEXT_RESPONSE,
        Opcode::SCSI_COMMAND,
        Opcode::DATA_IN,
        Opcode::LOGOUT_REQUEST,
        Opcode::LOGOUT_RESPONSE,
    ] {
        assert!(seen.contains(&op), "no captured {op:?}");
    }
}

#[test]
fn scsi_parameter_data_in_the_capture_decodes() {
    let vectors = load();
    // (file, stream, ITT) -> CDB operation code, from the captured SCSI Commands.
    let mut ops = std::collections::BTreeMap::new();
    for v in &vectors {
        let pdu = Pdu::new_checked(&v.bytes).unwrap();
        if let Message::ScsiCommand(c) = Message::from_pdu(pdu) {
            let stream = v.label.split_whitespace().next().unwrap().to_owned();
            ops.insert((v.file.clone(), stream, c.itt), c.cdb);
        }
    }
    let (mut capacities, mut luns, mut inquiries) = (Vec::new(), 0, 0);
    for v in &vectors {
        let pdu = Pdu::new_checked(&v.bytes).unwrap();
        let Message::DataIn(d) = Message::from_pdu(pdu) else {
            continue;
        };
        let stream = v.label.split_whitespace().next().unwrap().to_owned();
        let cdb = ops[&(v.file.clone(), stream, d.itt)];
        match cdb[0] {
            0xa0 => {
                // libiscsi asks with a 16-byte allocation first, then again with enough room.
                let l = LunList::parse(d.data).unwrap();
                if l.is_complete() {
                    luns += l.iter().count();
                }
            }
            0x12 if cdb[1] & 1 == 0 => {
                InquiryData::parse(d.data).unwrap();
                inquiries += 1;
            }
            0x9e => capacities.push(Capacity::parse16(d.data).unwrap()),
            0x25 => capacities.push(Capacity::parse10(d.data).unwrap()),
            _ => {}
        }
    }
    assert!(
        inquiries > 0 && luns > 0,
        "inquiries {inquiries} luns {luns}"
    );
    // The capture's LUN 2 is 1 GiB (capture.sh: TGTD_LUN_SIZES='32M 1G').
    assert!(
        capacities.iter().any(|c| c.bytes() == Some(1 << 30)),
        "{capacities:?}"
    );
}

#[test]
fn every_prefix_of_every_captured_pdu_needs_more() {
    for v in load() {
        for cut in 0..v.bytes.len() {
            assert_eq!(
                Pdu::parse(&v.bytes[..cut], 1 << 20),
                Ok(None),
                "{} {}",
                v.file,
                v.label
            );
        }
    }
}
