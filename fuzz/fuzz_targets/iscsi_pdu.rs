//! iSCSI PDU decoder: frame -> typed message -> encode -> re-frame must give the same message;
//! text, sense and SCSI parameter-data views must never panic.
#![no_main]

use bytes::BytesMut;
use iscsi_probe::message::Message;
use iscsi_probe::pdu::Pdu;
use iscsi_probe::scsi::{Capacity, InquiryData, LunList, Sense};
use iscsi_probe::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((pdu, used))) = Pdu::parse(rest, 1 << 16) {
        assert_eq!(pdu.as_bytes().len(), used);
        assert!(pdu.data().len() == pdu.data_segment_len());
        let m = Message::from_pdu(pdu);
        let mut out = BytesMut::new();
        if m.encode(&mut out).is_ok() {
            assert_eq!(out.len(), m.encoded_len());
            let again = Pdu::new_checked(&out).expect("re-encoded PDU frames");
            assert_eq!(Message::from_pdu(again), m);
        }
        if let Message::ScsiResponse(r) = &m
            && let Ok(Some(s)) = r.sense()
        {
            let _ = Sense::parse(s);
        }
        for p in text::pairs(pdu.data()) {
            if p.is_err() {
                break;
            }
        }
        let d = pdu.data();
        let _ = LunList::parse(d).map(|l| l.iter().count());
        let _ = InquiryData::parse(d).map(|i| (i.vendor(), i.product(), i.device_type()));
        let _ = Capacity::parse16(d).map(|c| c.bytes());
        let _ = Capacity::parse10(d).map(|c| c.bytes());
        rest = &rest[used..];
    }
});
