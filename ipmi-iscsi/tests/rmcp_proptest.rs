//! Property tests: round-trips of IPMI messages, RMCP+ packets (every suite) and session
//! set-up payloads; arbitrary bytes never panic any decoder.

use ipmi_iscsi::ipmi::{
    Addressing, CompletionCode, NetFn, Request, RequestFrame, Response, ResponseFrame,
};
use ipmi_iscsi::rmcp::{
    Algorithms, CipherSuite, OpenSessionRequest, OpenSessionResponse, Packet, PayloadType,
    Privilege, Rakp1, Rakp2, RakpStatus, RakpTail, RakpTranscript, Seal, SessionKeys,
};
use proptest::prelude::*;

fn request() -> impl Strategy<Value = (Request, Addressing)> {
    (
        0u8..32,
        0u8..4,
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<u8>(),
        any::<u8>(),
        0u8..64,
        0u8..4,
    )
        .prop_map(|(nf, lun, cmd, data, rs, rq, seq, rql)| {
            (
                Request {
                    netfn: NetFn(nf * 2),
                    lun,
                    cmd,
                    data,
                },
                Addressing {
                    rs_addr: rs,
                    rq_addr: rq,
                    rq_seq: seq,
                    rq_lun: rql,
                },
            )
        })
}

fn keys(suite_index: usize, rm: [u8; 16], rc: [u8; 16], sid: u32) -> SessionKeys {
    let suite = CipherSuite::ALL[suite_index];
    RakpTranscript {
        console_sid: sid,
        bmc_sid: sid.rotate_left(7),
        console_random: &rm,
        bmc_random: &rc,
        bmc_guid: &[9; 16],
        role: 0x14,
        username: b"admin",
    }
    .derive_keys(suite, b"password\0\0\0\0\0\0\0\0\0\0\0\0")
}

proptest! {
    #[test]
    fn ipmi_request_round_trips((req, addr) in request()) {
        let mut wire = Vec::new();
        req.encode(addr, &mut wire).unwrap();
        prop_assert_eq!(wire.len(), req.encoded_len());
        let f = RequestFrame::decode(&wire).unwrap();
        prop_assert_eq!(f.addressing, addr);
        prop_assert_eq!(f.to_request(), req);
    }

    #[test]
    fn ipmi_response_round_trips((req, addr) in request(), cc in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut wire = Vec::new();
        req.encode(addr, &mut wire).unwrap();
        let f = RequestFrame::decode(&wire).unwrap();
        let resp = Response { completion: CompletionCode(cc), data };
        let mut rwire = Vec::new();
        resp.encode(&f, &mut rwire).unwrap();
        prop_assert_eq!(rwire.len(), resp.encoded_len());
        let r = ResponseFrame::decode(&rwire).unwrap();
        prop_assert!(r.answers(req.netfn, req.cmd, addr.rq_seq));
        prop_assert_eq!(r.to_response(), resp);
    }

    #[test]
    fn sealed_packets_open_to_their_payload_for_every_suite(
        suite_index in 0usize..CipherSuite::ALL.len(),
        rm in any::<[u8; 16]>(), rc in any::<[u8; 16]>(), sid in 1u32..,
        seq in 1u32.., iv in any::<[u8; 16]>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let k = keys(suite_index, rm, rc, sid);
        let mut wire = Vec::new();
        Seal { payload_type: PayloadType::IPMI, session_id: sid, sequence: seq, payload: &payload }
            .encode(Some(&k), iv, &mut wire)
            .unwrap();
        let Ok(Packet::V2(p)) = Packet::decode(&wire) else { panic!("not rmcp+") };
        prop_assert_eq!(p.session_id, sid);
        prop_assert_eq!(p.sequence, seq);
        prop_assert_eq!(p.open(Some(&k)).unwrap(), payload);
        // The integrity pad keeps authtype..next header a multiple of 4.
        prop_assert_eq!(p.signed.len() % 4, 0);
    }

    #[test]
    fn packets_sealed_under_other_keys_do_not_open(
        rm in any::<[u8; 16]>(), rc in any::<[u8; 16]>(), other in any::<[u8; 16]>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assume!(rc != other);
        let ours = keys(0, rm, rc, 5);
        let theirs = keys(0, rm, other, 5);
        let mut wire = Vec::new();
        Seal { payload_type: PayloadType::IPMI, session_id: 5, sequence: 1, payload: &payload }
            .encode(Some(&theirs), [1; 16], &mut wire)
            .unwrap();
        let Ok(Packet::V2(p)) = Packet::decode(&wire) else { panic!("not rmcp+") };
        prop_assert!(p.open(Some(&ours)).is_err());
    }

    #[test]
    fn setup_payloads_round_trip(
        tag in any::<u8>(), sid in any::<u32>(), sid2 in any::<u32>(), algs in any::<(u8, u8, u8)>(),
        rnd in any::<[u8; 16]>(), guid in any::<[u8; 16]>(), role in any::<u8>(),
        name in proptest::collection::vec(any::<u8>(), 0..=16), code in proptest::collection::vec(any::<u8>(), 32),
    ) {
        let algorithms = Algorithms { auth: algs.0 & 0x3f, integrity: algs.1 & 0x3f, confidentiality: algs.2 & 0x3f };
        let osr = OpenSessionRequest { tag, max_privilege: Privilege(role & 0x0f), console_sid: sid, algorithms };
        let mut b = Vec::new();
        osr.encode(&mut b);
        prop_assert_eq!(OpenSessionRequest::decode(&b).unwrap(), osr);
        let osp = OpenSessionResponse {
            tag, status: RakpStatus::OK, max_privilege: Privilege(role & 0x0f), console_sid: sid,
            accepted: Some((sid2, algorithms)),
        };
        let mut b = Vec::new();
        osp.encode(&mut b);
        prop_assert_eq!(OpenSessionResponse::decode(&b).unwrap(), osp);
        let r1 = Rakp1 { tag, bmc_sid: sid2, console_random: rnd, role, username: name };
        let mut b = Vec::new();
        r1.encode(&mut b).unwrap();
        prop_assert_eq!(Rakp1::decode(&b).unwrap(), r1);
        let r2 = Rakp2 { tag, status: RakpStatus::OK, console_sid: sid, accepted: Some((rnd, guid, code.clone())) };
        let mut b = Vec::new();
        r2.encode(&mut b);
        prop_assert_eq!(Rakp2::decode(&b, 32).unwrap(), r2);
        let r4 = RakpTail { tag, status: RakpStatus::OK, session_id: sid, code: code[..16].to_vec() };
        let mut b = Vec::new();
        r4.encode(&mut b);
        prop_assert_eq!(RakpTail::decode(&b, 16, "rakp 4").unwrap(), r4);
    }

    #[test]
    fn arbitrary_bytes_never_panic_any_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let k = keys(0, [1; 16], [2; 16], 3);
        if let Ok(Packet::V2(p)) = Packet::decode(&bytes) {
            let _ = p.open(Some(&k));
            let _ = p.open(None);
        }
        let _ = RequestFrame::decode(&bytes);
        let _ = ResponseFrame::decode(&bytes);
        let _ = OpenSessionRequest::decode(&bytes);
        let _ = OpenSessionResponse::decode(&bytes);
        let _ = Rakp1::decode(&bytes);
        let _ = Rakp2::decode(&bytes, 20);
        let _ = RakpTail::decode(&bytes, 12, "rakp 4");
        let _ = k.decrypt(&bytes);
    }

    #[test]
    fn rmcp_prefixed_garbage_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..120), pt in any::<u8>()) {
        // Force the RMCP+ branch so the fuzzing reaches the session header and trailer.
        let mut bytes = vec![0x06, 0x00, 0xff, 0x07, 0x06, pt];
        bytes.extend_from_slice(&tail);
        let k = keys(1, [1; 16], [2; 16], 3);
        if let Ok(Packet::V2(p)) = Packet::decode(&bytes) {
            let _ = p.open(Some(&k));
        }
    }
}
