//! Property tests: `decode(encode(m)) == m`, `encoded_len() == written`, segmentation and
//! reassembly give the same message back, and arbitrary bytes never panic any decoder.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use isns_proto::{
    Attrs, Body, FunctionId, IsnsCodec, Message, Pdu, PduFlags, Port, Reassembler, Reassembly,
    Segmenter, Status, Tag, Tlv, Value, ValueKind, frame_len,
};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

/// An owned value, so a strategy can generate it and a [`Message`] can borrow it.
#[derive(Clone, Debug)]
enum OwnedValue {
    Empty,
    U32(u32),
    U64(u64),
    Str(String),
    Ip(IpAddr),
    Port(u32),
    Opaque(Vec<u8>),
}

impl OwnedValue {
    fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Empty => Value::Empty,
            OwnedValue::U32(v) => Value::U32(*v),
            OwnedValue::U64(v) => Value::U64(*v),
            OwnedValue::Str(s) => Value::Str(s),
            OwnedValue::Ip(ip) => Value::Ip(*ip),
            OwnedValue::Port(p) => Value::Port(Port::from_wire(*p)),
            OwnedValue::Opaque(b) => Value::Opaque(b),
        }
    }
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        // Genuine IPv6 (first byte non-zero, so neither mapped nor compatible).
        (1u8..=255, any::<[u8; 15]>()).prop_map(|(h, t)| {
            let mut b = [0u8; 16];
            b[0] = h;
            b[1..].copy_from_slice(&t);
            IpAddr::V6(Ipv6Addr::from(b))
        }),
    ]
}

fn value_for(tag: Tag) -> BoxedStrategy<OwnedValue> {
    let (min, max) = tag.info().map_or((4, 64), |i| (i.min_len, i.max_len));
    let typed: BoxedStrategy<OwnedValue> = match tag.kind() {
        ValueKind::U32 => any::<u32>().prop_map(OwnedValue::U32).boxed(),
        ValueKind::U64 => any::<u64>().prop_map(OwnedValue::U64).boxed(),
        ValueKind::Ip => ip().prop_map(OwnedValue::Ip).boxed(),
        ValueKind::Port => any::<u32>().prop_map(OwnedValue::Port).boxed(),
        ValueKind::String => {
            let most = usize::try_from(max.min(80)).unwrap() - 1;
            proptest::string::string_regex(&format!("[a-z0-9.:-]{{0,{most}}}"))
                .unwrap()
                .prop_map(OwnedValue::Str)
                .boxed()
        }
        ValueKind::None => Just(OwnedValue::Empty).boxed(),
        _ => {
            let lo = usize::try_from(min / 4).unwrap().max(1);
            let hi = usize::try_from(max.min(64) / 4).unwrap().max(lo);
            (lo..=hi)
                .prop_flat_map(|words| proptest::collection::vec(any::<u8>(), words * 4))
                .prop_map(OwnedValue::Opaque)
                .boxed()
        }
    };
    prop_oneof![1 => Just(OwnedValue::Empty), 6 => typed].boxed()
}

fn tag() -> impl Strategy<Value = Tag> {
    let known: Vec<Tag> = Tag::ALL
        .iter()
        .copied()
        .filter(|t| *t != Tag::DELIMITER)
        .collect();
    prop_oneof![
        6 => proptest::sample::select(known),
        1 => (257u32..=2048).prop_filter("not in table", |t| Tag(*t).info().is_none()).prop_map(Tag),
        1 => (0xFFFF_0600u32..=0xFFFF_060A).prop_map(Tag),
    ]
}

fn tlv() -> impl Strategy<Value = (Tag, OwnedValue)> {
    tag().prop_flat_map(|t| value_for(t).prop_map(move |v| (t, v)))
}

fn tlvs(max: usize) -> impl Strategy<Value = Vec<(Tag, OwnedValue)>> {
    proptest::collection::vec(tlv(), 0..max)
}

/// An owned message description; `build` borrows it into a [`Message`].
#[derive(Clone, Debug)]
struct Model {
    kind: u8,
    function: u16,
    xid: u16,
    flags: u16,
    status: u32,
    source: String,
    key: Vec<(Tag, OwnedValue)>,
    delimiter: bool,
    operating: Vec<(Tag, OwnedValue)>,
}

fn model() -> impl Strategy<Value = Model> {
    (
        0u8..4,
        prop_oneof![
            Just(1u16),
            Just(2),
            Just(3),
            Just(7),
            Just(0x11),
            Just(0x0020)
        ],
        any::<u16>(),
        prop_oneof![
            Just(0u16),
            Just(0x1000),
            Just(0x8000),
            Just(0x4000),
            Just(0x9000)
        ],
        any::<u32>(),
        "[a-z0-9.:-]{1,60}",
        tlvs(8),
        any::<bool>(),
        tlvs(16),
    )
        .prop_map(
            |(kind, function, xid, flags, status, source, key, delimiter, operating)| Model {
                kind,
                function,
                xid,
                flags,
                status,
                source,
                key,
                delimiter,
                operating,
            },
        )
}

fn conv(l: &[(Tag, OwnedValue)]) -> Vec<Tlv<'_>> {
    l.iter()
        .map(|(t, v)| Tlv {
            tag: *t,
            value: v.as_value(),
        })
        .collect()
}

fn build(m: &Model) -> Message<'_> {
    let mut msg = match m.kind {
        // Request with Source / Key / delimiter / Operating.
        0 => {
            let mut x = Message::request(FunctionId(m.function), m.xid, &m.source);
            x.key = conv(&m.key);
            x.operating = conv(&m.operating);
            x
        }
        // Response: a key needs the delimiter.
        1 => {
            let mut x = Message::response(FunctionId(m.function), m.xid, Status(m.status));
            x.delimiter = m.delimiter || !m.key.is_empty();
            x.key = conv(&m.key);
            x.operating = conv(&m.operating);
            x
        }
        // Flat SCN / ESI.
        2 => {
            let f = if m.function.is_multiple_of(2) {
                FunctionId::SCN
            } else {
                FunctionId::ESI
            };
            let mut x = Message::scn(m.xid, &m.source, 0);
            x.function = f;
            x.operating = conv(&m.operating);
            x
        }
        // SCNDereg: no delimiter.
        _ => Message::scn_dereg(m.xid, &m.source, &m.source),
    };
    msg.flags = PduFlags::from_bits_retain(m.flags);
    msg
}

fn pdus(mut b: &[u8]) -> Vec<Pdu<'_>> {
    let mut v = Vec::new();
    while !b.is_empty() {
        let (p, n) = Pdu::parse_prefix(b).unwrap();
        v.push(p);
        b = &b[n..];
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decode_of_encode_is_identity_and_len_matches(m in model()) {
        let msg = build(&m);
        let mut out = BytesMut::new();
        let written = msg.encode(&mut out).unwrap();
        prop_assert_eq!(written, out.len());
        prop_assert_eq!(written, msg.encoded_len().unwrap());
        let pdu = Pdu::parse(&out).unwrap();
        prop_assert_eq!(Message::decode(&pdu).unwrap(), msg);
    }

    #[test]
    fn segmented_message_reassembles_to_the_same_message(m in model(), max in 40usize..400) {
        let msg = build(&m);
        let mut out = BytesMut::new();
        let count = match Segmenter::new(max).unwrap().encode(&msg, &mut out) {
            Ok(n) => n,
            // A single attribute larger than the PDU size is a typed refusal.
            Err(isns_proto::EncodeError::AttrTooLarge { .. }) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
        };
        let list = pdus(&out);
        prop_assert_eq!(list.len(), count);
        let mut r = Reassembler::default();
        let mut completed = 0;
        for p in &list {
            prop_assert!(p.as_bytes().len() <= max);
            match r.push(p).unwrap() {
                Reassembly::Whole(w) => {
                    prop_assert_eq!(Message::decode(&w).unwrap(), msg.clone());
                    completed += 1;
                }
                Reassembly::Assembled(a) => {
                    prop_assert_eq!(a.message().unwrap(), msg.clone());
                    completed += 1;
                }
                Reassembly::Pending => {}
            }
        }
        prop_assert_eq!(completed, 1);
        prop_assert_eq!(r.held_bytes(), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = frame_len(&bytes, 8192);
        if let Ok((pdu, _)) = Pdu::parse_prefix(&bytes) {
            let _ = pdu.body();
            let _ = Message::decode(&pdu);
            for a in pdu.attrs() {
                if let Ok(a) = a { let _ = a.typed(); } else { break; }
            }
        }
        for a in Attrs::new(&bytes, 0).flatten() {
            let _ = (a.typed(), a.as_str(), a.as_ip());
        }
        let mut src = BytesMut::from(&bytes[..]);
        let mut c = IsnsCodec::new(4096);
        while let Ok(Some(_)) = c.decode(&mut src) {}
    }

    #[test]
    fn arbitrary_payload_behind_a_valid_header_never_panics(
        function in any::<u16>(),
        flags in any::<u16>(),
        words in proptest::collection::vec(any::<u32>(), 0..100),
    ) {
        let mut b = Vec::new();
        let len = u16::try_from(words.len() * 4).unwrap();
        for x in [1u16, function, len, flags & !0x2000, 1, 0] {
            b.extend(x.to_be_bytes());
        }
        for w in &words {
            // Small values make plausible tags and lengths.
            b.extend((w % 64).to_be_bytes());
        }
        let pdu = Pdu::parse(&b).unwrap();
        if let Ok(Body::Response(r)) = pdu.body() {
            for a in r.key().chain(r.operating()) { let _ = a.unwrap().typed(); }
        }
        if let Ok(m) = Message::decode(&pdu) {
            let mut out = BytesMut::new();
            if m.encode(&mut out).is_ok() {
                prop_assert_eq!(Message::decode(&Pdu::parse(&out).unwrap()).unwrap(), m);
            }
        }
    }
}
