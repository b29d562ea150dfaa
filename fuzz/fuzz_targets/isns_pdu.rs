//! iSNS PDU: parse -> typed message -> encode -> re-parse must give the same message; the
//! views, typed accessors, reassembler and tokio-util codec must never panic.
#![no_main]

use bytes::BytesMut;
use isns_proto::{Body, IsnsCodec, Message, Pdu, Reassembler};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let mut reassembler = Reassembler::new(4096, 4);
    while let Ok((pdu, used)) = Pdu::parse_prefix(rest) {
        rest = &rest[used..];
        let _ = reassembler.push(&pdu);
        if let Ok(body) = pdu.body() {
            let lists = match &body {
                Body::Request(r) => vec![r.key(), r.operating()],
                Body::Response(r) => vec![r.key(), r.operating()],
                Body::Notification(n) => vec![n.attrs()],
                _ => vec![],
            };
            for list in lists {
                for a in list {
                    // Framing was validated by `body()`.
                    let a = a.expect("framing validated");
                    let _ = (a.typed(), a.as_str(), a.as_ip(), a.as_port(), a.as_u64());
                }
            }
        }
        if let Ok(m) = Message::decode(&pdu) {
            let mut out = BytesMut::new();
            if let Ok(n) = m.encode(&mut out) {
                assert_eq!(n, out.len());
                assert_eq!(Some(n), m.encoded_len().ok());
                let again = Pdu::parse(&out).expect("our own encoding parses");
                assert_eq!(Message::decode(&again).expect("our own encoding decodes"), m);
            }
        }
        if used == 0 {
            break;
        }
    }
    let mut src = BytesMut::from(data);
    let mut codec = IsnsCodec::new(8192);
    while let Ok(Some(frame)) = codec.decode(&mut src) {
        Pdu::parse(&frame).expect("codec frames parse");
    }
});
