//! Boot-option decoders on arbitrary bytes: parse → encode → re-parse equality for every
//! encoding (standard parameters, Get responses, mailbox blocks, OEM records), and the
//! iBFT decoder. The first byte picks the decoder.
#![no_main]

use ipmi_iscsi::bootopt::{
    Block, BootFlags, BootInfoAck, BootInitiatorInfo, GetResponse, Pen, SetInProgress, ValidBitClearing,
    mailbox, oem,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => {
            if let Ok(r) = GetResponse::decode(rest) {
                let wire = r.encode();
                assert_eq!(GetResponse::decode(&wire).unwrap(), r);
            }
        }
        1 => {
            if let Ok(f) = BootFlags::decode(rest) {
                assert_eq!(BootFlags::decode(&f.encode()).unwrap(), f);
            }
            if let Ok(i) = BootInitiatorInfo::decode(rest) {
                assert_eq!(BootInitiatorInfo::decode(&i.encode()).unwrap(), i);
            }
            if let Ok(a) = BootInfoAck::decode(rest) {
                assert_eq!(BootInfoAck::decode(&a.encode()).unwrap(), a);
            }
            if let Ok(s) = SetInProgress::decode(rest) {
                assert_eq!(SetInProgress::decode(&s.encode()).unwrap(), s);
            }
            if let Ok(v) = ValidBitClearing::decode(rest) {
                assert_eq!(ValidBitClearing::decode(&v.encode()).unwrap(), v);
            }
        }
        2 => {
            if let Ok(b) = Block::decode(rest) {
                assert_eq!(Block::decode(&b.encode()).unwrap(), b);
            }
        }
        3 | 4 => {
            // Mailbox: the bytes as consecutive 16-byte blocks (PEN in block 0).
            let blocks: Vec<Block> = rest
                .chunks(16)
                .zip(0u8..=u8::MAX)
                .map(|(c, index)| {
                    let mut data = [0u8; 16];
                    data[..c.len()].copy_from_slice(c);
                    Block { index, data }
                })
                .collect();
            let pen = blocks
                .first()
                .map_or(Pen::EXAMPLE, |b| Pen::from_bytes([b.data[0], b.data[1], b.data[2]]));
            if let Ok(p) = mailbox::decode_blocks(pen, &blocks) {
                let payload = mailbox::encode_payload(&p).expect("decoded params re-encode");
                let again = mailbox::payload_to_blocks(pen, &payload);
                assert_eq!(mailbox::decode_blocks(pen, &again).unwrap(), p);
            }
        }
        5 | 6 => {
            // OEM: the bytes split into records by a leading length byte each.
            let mut records: Vec<&[u8]> = Vec::new();
            let mut r = rest;
            while let Some((&len, tail)) = r.split_first() {
                let n = usize::from(len).min(tail.len());
                records.push(&tail[..n]);
                r = &tail[n..];
            }
            let order = oem::RECORD_PARAMS;
            if let Ok(p) = oem::decode_public(|q| {
                order.iter().position(|&x| x == q).and_then(|i| records.get(i).copied())
            }) {
                // Re-encode through the public records (no secrets, no confidentiality needed).
                let again = ipmi_iscsi::params::IscsiBootParams {
                    initiator_name: p.initiator_name.clone(),
                    network: p.network.clone(),
                    primary: p.primary.clone(),
                    secondary: p.secondary.clone(),
                    auth: ipmi_iscsi::params::Authentication::None,
                };
                if again.validate().is_ok() {
                    let recs = oem::encode_records(&again, false, true).unwrap();
                    let back = oem::decode_public(|q| {
                        recs.iter().find(|(x, _)| *x == q).map(|(_, r)| r.as_slice())
                    })
                    .unwrap();
                    assert_eq!(back.without_auth_eq(), p.without_auth_eq());
                }
            }
            let _ = oem::decode_control(rest);
        }
        _ => {
            if let Ok(t) = ipmi_iscsi::render::decode_ibft(rest) {
                let _ = format!("{t:?}");
            }
        }
    }
});

/// Compare everything but the authentication summary (re-encoded without CHAP).
trait WithoutAuth {
    fn without_auth_eq(&self) -> String;
}

impl WithoutAuth for ipmi_iscsi::params::PublicBootParams {
    fn without_auth_eq(&self) -> String {
        format!("{:?}{:?}{:?}{:?}", self.initiator_name, self.network, self.primary, self.secondary)
    }
}
