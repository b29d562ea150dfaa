//! Properties: `parse(encode(m)) == m` and `encode(m).len() == m.encoded_len()` for every
//! message kind; arbitrary bytes never panic; service URLs and attribute lists round-trip.

use proptest::prelude::*;
use slp_proto::attr::{AttrList, AttrListBuilder, AttrValue};
use slp_proto::predicate::Predicate;
use slp_proto::service_url::{Host, ServiceUrl};
use slp_proto::strings::Unescaped;
use slp_proto::*;

#[derive(Debug, Clone)]
struct Owned {
    kind: u8,
    xid: u16,
    flags: u16,
    lang: String,
    s: Vec<String>,
    n16: u16,
    n32: u32,
    urls: Vec<(u16, String)>,
    auths: Vec<(u16, u32, String, Vec<u8>)>,
    exts: Vec<(u16, Vec<u8>)>,
    raw: Vec<u8>,
    /// A service type the builders accept (RFC 2608 §4.1).
    service_type: String,
    /// A predicate the builders accept (RFC 2254).
    predicate: String,
}

fn owned() -> impl Strategy<Value = Owned> {
    (
        0u8..=13,
        any::<u16>(),
        any::<u16>(),
        "[a-z]{1,8}(-[a-zA-Z]{1,8})?",
        proptest::collection::vec("[ -~]{0,24}", 6),
        any::<u16>(),
        any::<u32>(),
        proptest::collection::vec((any::<u16>(), "[ -~]{0,40}"), 0..6),
        proptest::collection::vec(
            (
                any::<u16>(),
                any::<u32>(),
                "[a-z]{0,6}",
                proptest::collection::vec(any::<u8>(), 0..12),
            ),
            0..3,
        ),
        proptest::collection::vec(
            (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..16)),
            0..4,
        ),
        proptest::collection::vec(any::<u8>(), 0..32),
        (
            "(service|SERVICE):[a-z][a-z0-9+-]{0,8}(\\.[a-z][a-z0-9-]{0,6})?(:[a-z][a-z0-9+-]{0,8})?",
            prop_oneof![
                Just(String::new()),
                "\\([a-z]{1,8}=[a-z0-9]{1,8}\\)",
                "\\(&\\([a-z]{1,8}=[a-z0-9]{1,8}\\)\\([a-z]{1,8}>=[0-9]{1,3}\\)\\)",
            ],
        ),
    )
        .prop_map(
            |(kind, xid, flags, lang, s, n16, n32, urls, auths, exts, raw, (service_type, predicate))| Owned {
                kind,
                xid,
                flags,
                lang,
                s,
                n16,
                n32,
                urls,
                auths,
                exts,
                raw,
                service_type,
                predicate,
            },
        )
}

fn check(o: &Owned) -> Result<(), TestCaseError> {
    let blocks: Vec<AuthBlock<'_>> = o
        .auths
        .iter()
        .map(|(bsd, ts, spi, data)| AuthBlock {
            bsd: BlockStructureDescriptor(*bsd),
            timestamp: *ts,
            spi,
            data,
        })
        .collect();
    let auths = AuthBlocks::List(&blocks);
    let entries: Vec<UrlEntry<'_>> = o
        .urls
        .iter()
        .map(|(l, u)| UrlEntry {
            lifetime: *l,
            url: u,
            auths,
        })
        .collect();
    let exts: Vec<Extension<'_>> = o
        .exts
        .iter()
        .map(|(id, d)| Extension {
            id: ExtensionId(*id),
            data: d,
        })
        .collect();
    let s = |i: usize| o.s[i].as_str();
    let first = entries.first().copied().unwrap_or_default();
    let body = match o.kind {
        1 => Body::SrvRqst(SrvRqst {
            pr_list: StringList(s(0)),
            service_type: &o.service_type,
            scopes: StringList(s(2)),
            predicate: &o.predicate,
            spi: s(4),
        }),
        2 => Body::SrvRply(SrvRply {
            error: ErrorCode(o.n16),
            urls: UrlEntries::List(&entries),
        }),
        3 => Body::SrvReg(SrvReg {
            url: first,
            service_type: &o.service_type,
            scopes: StringList(s(1)),
            attrs: s(2),
            attr_auths: auths,
        }),
        4 => Body::SrvDeReg(SrvDeReg {
            scopes: StringList(s(0)),
            url: first,
            tags: StringList(s(1)),
        }),
        5 => Body::SrvAck(SrvAck {
            error: ErrorCode(o.n16),
        }),
        6 => Body::AttrRqst(AttrRqst {
            pr_list: StringList(s(0)),
            url: s(1),
            scopes: StringList(s(2)),
            tags: StringList(s(3)),
            spi: s(4),
        }),
        7 => Body::AttrRply(AttrRply {
            error: ErrorCode(o.n16),
            attrs: s(0),
            auths,
        }),
        8 => Body::DaAdvert(DaAdvert {
            error: ErrorCode(o.n16),
            boot_timestamp: o.n32,
            url: s(0),
            scopes: StringList(s(1)),
            attrs: s(2),
            spi_list: StringList(s(3)),
            auths,
        }),
        9 => Body::SrvTypeRqst(SrvTypeRqst {
            pr_list: StringList(s(0)),
            naming_authority: match (o.n16 % 3, s(1)) {
                (0, _) => NamingAuthority::All,
                (1, _) | (_, "") => NamingAuthority::Iana,
                (_, na) => NamingAuthority::Named(na),
            },
            scopes: StringList(s(2)),
        }),
        10 => Body::SrvTypeRply(SrvTypeRply {
            error: ErrorCode(o.n16),
            types: StringList(s(0)),
        }),
        11 => Body::SaAdvert(SaAdvert {
            url: s(0),
            scopes: StringList(s(1)),
            attrs: s(2),
            auths,
        }),
        k => Body::Unknown {
            function: FunctionId(if k == 12 { 0 } else { 200 }),
            bytes: &o.raw,
        },
    };
    let mut m = Message::new(
        Header {
            flags: Flags::from_bits_retain(o.flags),
            xid: o.xid,
            language_tag: &o.lang,
        },
        body,
    );
    m.extensions = Extensions::List(&exts);
    let bytes = m.to_vec().map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(bytes.len(), m.encoded_len());
    let back = Message::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(back, m);
    prop_assert_eq!(back.to_vec().unwrap(), bytes);
    Ok(())
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,12}(\\.[a-z][a-z0-9-]{0,8}){0,3}",
        any::<[u8; 4]>().prop_map(|a| std::net::Ipv4Addr::from(a).to_string()),
        any::<[u8; 16]>().prop_map(|a| std::net::Ipv6Addr::from(a).to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_message_kind_round_trips(o in owned()) {
        check(&o)?;
    }

    #[test]
    fn any_service_type_and_predicate_round_trip_or_are_refused(st in "[ -~]{0,24}", pr in "[ -~]{0,24}") {
        let m = Message::new(Header::new(1, "en"), Body::SrvRqst(SrvRqst { service_type: &st, predicate: &pr, ..SrvRqst::default() }));
        match m.to_vec() {
            Ok(bytes) => prop_assert_eq!(Message::parse(&bytes).unwrap(), m),
            Err(e) => prop_assert!(matches!(e, EncodeError::ServiceType(_) | EncodeError::Predicate { .. }), "{}", e),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Message::parse(&b);
        let _ = frame_len(&b);
    }

    #[test]
    fn mutated_valid_messages_never_panic(o in owned(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let exts: Vec<Extension<'_>> = o.exts.iter().map(|(id, d)| Extension { id: ExtensionId(*id), data: d }).collect();
        let entries: Vec<UrlEntry<'_>> = o.urls.iter().map(|(l, u)| UrlEntry::new(u, *l)).collect();
        let mut m = Message::new(Header::new(o.xid, "en"), Body::SrvRply(SrvRply { urls: UrlEntries::List(&entries), ..SrvRply::default() }));
        m.extensions = Extensions::List(&exts);
        let mut b = m.to_vec().unwrap();
        for (i, v) in flips {
            let n = b.len();
            b[i % n] = v;
        }
        if let Ok(m) = Message::parse(&b) {
            // Whatever parses must iterate without surprises.
            if let Body::SrvRply(r) = m.body {
                prop_assert_eq!(r.urls.iter().count(), r.urls.len());
            }
            prop_assert!(m.extensions.iter().count() <= b.len() / 5);
        }
    }

    #[test]
    fn service_urls_round_trip(h in host(), port in proptest::option::of(any::<u16>()), path in "(/[a-zA-Z0-9.:-]{0,20}){0,2}", concrete in "(sms|target|x-[a-z]{1,5})") {
        let st = format!("service:iscsi:{concrete}");
        let host = match h.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(a)) => Host::V4(a),
            Ok(std::net::IpAddr::V6(a)) => Host::V6(a),
            Err(_) => Host::Name(&h),
        };
        let u = ServiceUrl::new(&st, host, port, &path).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = u.to_string();
        prop_assert_eq!(ServiceUrl::parse(&text).unwrap(), u);
    }

    #[test]
    fn arbitrary_text_never_panics_the_text_parsers(t in "\\PC{0,80}") {
        let _ = ServiceUrl::parse(&t);
        let _ = AttrList::parse(&t).map(|l| l.iter().flat_map(|a| a.values().collect::<Vec<_>>()).count());
        let _ = Predicate::parse(&t).map(|p| p.matches(&AttrList::parse("(a=1),(b=x),c").unwrap()));
    }

    #[test]
    fn built_attribute_lists_parse_back_to_the_same_values(
        attrs in proptest::collection::vec(("[a-z][a-z0-9-]{0,10}", proptest::collection::vec("[!-~][ -~]{0,14}[!-~]", 1..4)), 1..5)
    ) {
        let mut b = AttrListBuilder::new();
        for (tag, vals) in &attrs {
            let v: Vec<&str> = vals.iter().map(String::as_str).collect();
            b = b.strings(tag, &v);
        }
        let text = b.finish();
        let list = match AttrList::parse(&text) {
            Ok(l) => l,
            // Values that look like integers or booleans next to strings are mixed types.
            Err(DecodeError::AttrList { reason: "values of one attribute have mixed types", .. }) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("{e}: {text}"))),
        };
        let parsed: Vec<_> = list.iter().collect();
        prop_assert_eq!(parsed.len(), attrs.len());
        for (a, (tag, vals)) in parsed.iter().zip(&attrs) {
            prop_assert!(a.tag_is(tag));
            for (v, want) in a.values().zip(vals) {
                if let AttrValue::Str(s) = v {
                    prop_assert_eq!(Unescaped::new(s).collect::<Vec<u8>>(), want.as_bytes().to_vec());
                    // And an equality predicate on the escaped value matches it.
                    let pred = format!("({tag}={})", slp_proto::strings::escape(want).replace('*', "\\2A"));
                    prop_assert!(Predicate::parse(&pred).unwrap().matches(&list), "{} vs {}", pred, text);
                }
            }
        }
    }
}
