//! Properties of the codec: every PDU kind we build decodes back to itself, `encoded_len`
//! is what `encode` writes, and arbitrary or truncated bytes never panic any decoder.

use bytes::BytesMut;
use iscsi_probe::codes::{
    LoginStatus, LogoutReason, LogoutResponseCode, RejectReason, ScsiStatus, ServiceResponse, Stage,
};
use iscsi_probe::message::{
    DataIn, LoginRequest, LoginResponse, LogoutRequest, LogoutResponse, Message, NopIn, NopOut,
    Reject, ResidualFlags, ScsiCommand, ScsiResponse, TextRequest, TextResponse,
};
use iscsi_probe::pdu::Pdu;
use iscsi_probe::scsi::{Capacity, InquiryData, LunList, Sense};
use iscsi_probe::text::{self, TextBuilder};
use proptest::prelude::*;

fn stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        Just(Stage::SECURITY),
        Just(Stage::OPERATIONAL),
        Just(Stage::FULL_FEATURE)
    ]
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..600)
}

fn residual(mask: u8) -> impl Strategy<Value = ResidualFlags> {
    any::<u8>().prop_map(move |b| ResidualFlags::from_bits_truncate(b & mask))
}

/// Owned inputs for every PDU kind; the message borrows `data`.
#[derive(Debug, Clone)]
struct Case {
    kind: u8,
    b: [bool; 4],
    s: (Stage, Stage),
    w: [u32; 10],
    h: [u16; 2],
    small: [u8; 3],
    isid: [u8; 6],
    lun: [u8; 8],
    cdb: [u8; 16],
    flags: ResidualFlags,
    data: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        0u8..12,
        any::<[bool; 4]>(),
        (stage(), stage()),
        any::<[u32; 10]>(),
        any::<[u16; 2]>(),
        (any::<u8>(), 0u8..8, 0u8..0x80),
        any::<[u8; 6]>(),
        any::<[u8; 8]>(),
        (any::<[u8; 16]>(), residual(0x1e), data()),
    )
        .prop_map(
            |(kind, b, s, w, h, (x, attr, reason), isid, lun, (cdb, flags, data))| Case {
                kind,
                b,
                s,
                w,
                h,
                small: [x, attr, reason],
                isid,
                lun,
                cdb,
                flags,
                data,
            },
        )
}

fn message(c: &Case) -> Message<'_> {
    let w = c.w;
    let d = c.data.as_slice();
    match c.kind {
        0 => Message::LoginRequest(LoginRequest {
            transit: c.b[0],
            cont: c.b[1],
            csg: c.s.0,
            nsg: c.s.1,
            version_max: c.small[0],
            version_min: c.small[1],
            isid: c.isid,
            tsih: c.h[0],
            itt: w[0],
            cid: c.h[1],
            cmd_sn: w[1],
            exp_stat_sn: w[2],
            data: d,
        }),
        1 => Message::LoginResponse(LoginResponse {
            transit: c.b[0],
            cont: c.b[1],
            csg: c.s.0,
            nsg: c.s.1,
            version_max: c.small[0],
            version_active: c.small[1],
            isid: c.isid,
            tsih: c.h[0],
            itt: w[0],
            stat_sn: w[1],
            exp_cmd_sn: w[2],
            max_cmd_sn: w[3],
            status: LoginStatus(c.h[1]),
            data: d,
        }),
        2 => Message::TextRequest(TextRequest {
            immediate: c.b[0],
            final_: c.b[1],
            cont: c.b[2],
            lun: c.lun,
            itt: w[0],
            ttt: w[1],
            cmd_sn: w[2],
            exp_stat_sn: w[3],
            data: d,
        }),
        3 => Message::TextResponse(TextResponse {
            final_: c.b[1],
            cont: c.b[2],
            lun: c.lun,
            itt: w[0],
            ttt: w[1],
            stat_sn: w[2],
            exp_cmd_sn: w[3],
            max_cmd_sn: w[4],
            data: d,
        }),
        4 => Message::ScsiCommand(ScsiCommand {
            immediate: c.b[0],
            final_: c.b[1],
            read: c.b[2],
            write: c.b[3],
            attr: c.small[1],
            lun: c.lun,
            itt: w[0],
            expected_len: w[1],
            cmd_sn: w[2],
            exp_stat_sn: w[3],
            cdb: c.cdb,
            data: d,
        }),
        5 => Message::ScsiResponse(ScsiResponse {
            residual_flags: c.flags,
            response: ServiceResponse(c.small[0]),
            status: ScsiStatus(c.small[2]),
            itt: w[0],
            snack_tag: w[1],
            stat_sn: w[2],
            exp_cmd_sn: w[3],
            max_cmd_sn: w[4],
            exp_data_sn: w[5],
            bidi_residual: w[6],
            residual: w[7],
            data: d,
        }),
        6 => Message::DataIn(DataIn {
            final_: c.b[0],
            ack: c.b[1],
            residual_flags: c.flags & (ResidualFlags::OVERFLOW | ResidualFlags::UNDERFLOW),
            status: c.b[2].then_some(ScsiStatus(c.small[0])),
            lun: c.lun,
            itt: w[0],
            ttt: w[1],
            stat_sn: w[2],
            exp_cmd_sn: w[3],
            max_cmd_sn: w[4],
            data_sn: w[5],
            buffer_offset: w[6],
            residual: w[7],
            data: d,
        }),
        7 => Message::LogoutRequest(LogoutRequest {
            immediate: c.b[0],
            reason: LogoutReason(c.small[2]),
            itt: w[0],
            cid: c.h[0],
            cmd_sn: w[1],
            exp_stat_sn: w[2],
        }),
        8 => Message::LogoutResponse(LogoutResponse {
            response: LogoutResponseCode(c.small[0]),
            itt: w[0],
            stat_sn: w[1],
            exp_cmd_sn: w[2],
            max_cmd_sn: w[3],
            time2wait: c.h[0],
            time2retain: c.h[1],
        }),
        9 => Message::NopOut(NopOut {
            immediate: c.b[0],
            lun: c.lun,
            itt: w[0],
            ttt: w[1],
            cmd_sn: w[2],
            exp_stat_sn: w[3],
            data: d,
        }),
        10 => Message::NopIn(NopIn {
            lun: c.lun,
            itt: w[0],
            ttt: w[1],
            stat_sn: w[2],
            exp_cmd_sn: w[3],
            max_cmd_sn: w[4],
            data: d,
        }),
        _ => Message::Reject(Reject {
            reason: RejectReason(c.small[0]),
            stat_sn: w[1],
            exp_cmd_sn: w[2],
            max_cmd_sn: w[3],
            data_sn: w[4],
            data: d,
        }),
    }
}

proptest! {
    #[test]
    fn every_built_pdu_decodes_back_to_itself(c in case()) {
        let m = message(&c);
        let mut out = BytesMut::new();
        m.encode(&mut out).unwrap();
        prop_assert_eq!(out.len(), m.encoded_len());
        prop_assert_eq!(out.len() % 4, 0);
        let (pdu, used) = Pdu::parse(&out, 1 << 20).unwrap().unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(Message::from_pdu(pdu), m);
    }

    #[test]
    fn every_proper_prefix_of_a_pdu_needs_more(c in case()) {
        let m = message(&c);
        let mut out = BytesMut::new();
        m.encode(&mut out).unwrap();
        for cut in 0..out.len() {
            prop_assert_eq!(Pdu::parse(&out[..cut], 1 << 20), Ok(None));
            prop_assert!(Pdu::new_checked(&out[..cut]).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        if let Ok(Some((pdu, _))) = Pdu::parse(&bytes, 8192) {
            let m = Message::from_pdu(pdu);
            let mut out = BytesMut::new();
            if m.encode(&mut out).is_ok() {
                let again = Pdu::new_checked(&out).unwrap();
                prop_assert_eq!(Message::from_pdu(again), m);
            }
            if let Message::ScsiResponse(r) = Message::from_pdu(pdu) {
                let _ = r.sense();
            }
        }
        let _ = Pdu::new_checked(&bytes);
        for p in text::pairs(&bytes) {
            let _ = p;
        }
        let _ = LunList::parse(&bytes).map(|l| l.iter().count());
        let _ = InquiryData::parse(&bytes).map(|i| (i.vendor(), i.product(), i.revision()));
        let _ = Capacity::parse16(&bytes).map(|c| c.bytes());
        let _ = Capacity::parse10(&bytes).map(|c| c.bytes());
        let _ = Sense::parse(&bytes);
    }

    #[test]
    fn text_built_from_valid_pairs_parses_back_in_order(
        kv in proptest::collection::vec(("[A-Za-z][A-Za-z0-9.+@_-]{0,20}", "[ -~]{0,40}"), 0..20)
    ) {
        let mut b = TextBuilder::new();
        for (k, v) in &kv {
            b.push(k, v).unwrap();
        }
        let back: Vec<(String, String)> = text::pairs(b.as_bytes())
            .map(|p| p.map(|p| (p.key.to_owned(), p.value.to_owned())))
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(back, kv);
    }
}
