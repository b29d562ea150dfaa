//! Hostile responders and requesters: oversized lengths, extension-offset loops and bogus
//! URL counts give typed errors (never a panic, never a hang), and the agents shrug them off.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use slp_proto::agent::{Destination, Timing, Via};
use slp_proto::sa::{Registration, SaConfig, ServiceAgent};
use slp_proto::ua::{UaConfig, UaEvent, UserAgent};
use slp_proto::{Body, DecodeError, Header, Message, SrvRply, UrlEntries, UrlEntry};

fn srv_rply(xid: u16, urls: &[UrlEntry<'_>]) -> Vec<u8> {
    Message::new(
        Header::new(xid, "en"),
        Body::SrvRply(SrvRply {
            urls: UrlEntries::List(urls),
            ..SrvRply::default()
        }),
    )
    .to_vec()
    .unwrap()
}

fn set_u24(b: &mut [u8], at: usize, v: usize) {
    let v = u32::try_from(v).unwrap().to_be_bytes();
    b[at..at + 3].copy_from_slice(&v[1..]);
}

#[test]
fn header_length_larger_than_the_datagram_is_a_length_mismatch() {
    let mut b = srv_rply(1, &[UrlEntry::new("service:x://h", 1)]);
    set_u24(&mut b, 2, 0xFF_FFFF);
    assert_eq!(
        Message::parse(&b),
        Err(DecodeError::LengthMismatch {
            declared: 0xFF_FFFF,
            actual: b.len()
        })
    );
}

#[test]
fn string_length_past_the_end_is_truncated_with_its_offset() {
    let mut b = srv_rply(1, &[UrlEntry::new("service:x://h", 1)]);
    // URL length field of the first entry: header 16 + error 2 + count 2 + reserved 1 + lifetime 2.
    b[23] = 0xFF;
    b[24] = 0xFF;
    assert!(matches!(
        Message::parse(&b),
        Err(DecodeError::UrlCount {
            declared: 1,
            index: 0,
            at: 20
        })
    ));
}

#[test]
fn bogus_url_count_is_reported_not_followed() {
    let mut b = srv_rply(1, &[UrlEntry::new("service:x://h", 1)]);
    b[18] = 0xFF;
    b[19] = 0xFF;
    let e = Message::parse(&b).unwrap_err();
    assert_eq!(
        e,
        DecodeError::UrlCount {
            declared: 0xFFFF,
            index: 1,
            at: b.len()
        }
    );
    assert_eq!(
        e.to_string(),
        format!(
            "URL count 65535 but entry 1 is missing or cut short (at byte {})",
            b.len()
        )
    );
}

#[test]
fn extension_chain_that_loops_is_detected() {
    let mut b = srv_rply(1, &[]);
    let first = b.len();
    // Two extensions pointing at each other.
    b.extend_from_slice(&[0, 2, 0, 0, 0, 0, 2, 0, 0, 0]);
    set_u24(&mut b, first + 2, first + 5);
    set_u24(&mut b, first + 7, first);
    let len = b.len();
    set_u24(&mut b, 2, len);
    set_u24(&mut b, 7, first);
    assert_eq!(
        Message::parse(&b),
        Err(DecodeError::ExtensionLoop {
            offset: first,
            at: first + 7
        })
    );
    // An extension pointing at itself.
    set_u24(&mut b, first + 2, first);
    assert_eq!(
        Message::parse(&b),
        Err(DecodeError::ExtensionLoop {
            offset: first,
            at: first + 2
        })
    );
    // The header pointing back into the header.
    set_u24(&mut b, 7, 3);
    assert_eq!(
        Message::parse(&b),
        Err(DecodeError::ExtensionLoop { offset: 3, at: 7 })
    );
}

#[test]
fn auth_block_count_without_blocks_is_truncated() {
    let mut b = srv_rply(1, &[UrlEntry::new("service:x://h", 1)]);
    let last = b.len() - 1;
    b[last] = 200;
    assert!(matches!(
        Message::parse(&b),
        Err(DecodeError::UrlCount { .. } | DecodeError::Truncated { .. })
    ));
}

#[test]
fn arbitrary_garbage_of_every_length_never_panics() {
    let mut x: u32 = 0x1234_5678;
    for len in 0..600 {
        let mut b: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect();
        if len > 5 {
            b[0] = 2;
            set_u24(&mut b, 2, len);
        }
        let _ = Message::parse(&b);
    }
}

#[test]
fn user_agent_drops_hostile_replies_and_keeps_the_honest_one() {
    let t0 = Instant::now();
    let mut cfg = UaConfig::isns();
    cfg.scopes = vec!["DEFAULT".into()];
    cfg.timing = Timing {
        retry: Duration::from_millis(100),
        ..Timing::default()
    };
    let mut ua = UserAgent::new(cfg, t0, 9).unwrap();
    let rq = ua.poll_transmit().unwrap();
    assert_eq!(rq.destination, Destination::Multicast);
    let xid = Message::parse(&rq.payload).unwrap().header.xid;

    let evil: SocketAddr = "10.9.9.9:427".parse().unwrap();
    let mut bogus_count = srv_rply(xid, &[UrlEntry::new("service:iscsi:sms://10.9.9.9", 1)]);
    bogus_count[18] = 0xFF;
    let mut looped = srv_rply(xid, &[]);
    let n = looped.len();
    looped.extend_from_slice(&[0, 2, 0, 0, 0]);
    set_u24(&mut looped, n + 2, n);
    set_u24(&mut looped, 2, n + 5);
    set_u24(&mut looped, 7, n);
    let wrong_xid = srv_rply(
        xid.wrapping_add(77),
        &[UrlEntry::new("service:iscsi:sms://10.9.9.9", 1)],
    );
    let bad_url = srv_rply(xid, &[UrlEntry::new("not a url", 100)]);
    for b in [bogus_count, looped, wrong_xid, bad_url, vec![2; 3], vec![]] {
        ua.handle_input(t0, evil, &b, Via::Unicast);
    }
    let mut sa_cfg = SaConfig::new("10.0.0.1".parse().unwrap());
    sa_cfg.scopes = vec!["DEFAULT".into()];
    let mut sa = ServiceAgent::new(sa_cfg, t0, 1);
    sa.register(
        t0,
        Registration::isns_server("10.0.0.1:3205".parse().unwrap(), Some(0), 60),
    )
    .unwrap();
    let reply = sa
        .handle_input(
            t0,
            "10.0.0.200:5000".parse().unwrap(),
            &rq.payload,
            Via::Multicast,
        )
        .unwrap();
    ua.handle_input(t0, "10.0.0.1:427".parse().unwrap(), &reply, Via::Unicast);
    let events: Vec<UaEvent> = std::iter::from_fn(|| ua.poll_event()).collect();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, UaEvent::Dropped { .. }))
            .count(),
        6,
        "{events:?}"
    );
    let r = ua.results(t0);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].url, "service:iscsi:sms://10.0.0.1:3205");
}

#[test]
fn service_agent_answers_a_malformed_unicast_request_with_parse_error_and_ignores_multicast() {
    let t0 = Instant::now();
    let mut sa = ServiceAgent::new(SaConfig::new("10.0.0.1".parse().unwrap()), t0, 1);
    // A SrvRqst header whose body is cut short.
    let mut b = vec![2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 2, b'e', b'n', 0, 9];
    let len = b.len();
    set_u24(&mut b, 2, len);
    let from: SocketAddr = "10.0.0.9:5000".parse().unwrap();
    let reply = sa.handle_input(t0, from, &b, Via::Unicast).unwrap();
    let m = Message::parse(&reply).unwrap();
    assert_eq!(m.header.xid, 5);
    assert_eq!(
        m.body,
        Body::SrvRply(SrvRply {
            error: slp_proto::ErrorCode::PARSE_ERROR,
            ..SrvRply::default()
        })
    );
    assert_eq!(sa.handle_input(t0, from, &b, Via::Multicast), None);
}

#[test]
fn url_entry_reserved_byte_is_ignored_on_receipt_and_written_as_zero() {
    // Found by the slp_message fuzz target: a SrvDeReg whose URL entry's reserved byte is
    // 'T' (0x54). RFC 2608 §4.3 says reserved is 0; receivers ignore it.
    let b = hex::decode(
        "0204000043000000000 0b72d0002656e000744454600 4c5541540000002273657276696365\
         3a69736373693a736d733a2f2f3132372e302e302e313a33323035000000"
            .replace([' ', '\\', '\n'], ""),
    )
    .unwrap();
    let m = Message::parse(&b).unwrap();
    let Body::SrvDeReg(d) = m.body else {
        panic!("{m:?}")
    };
    assert_eq!(d.scopes.as_str(), "DEF\0LUA");
    assert_eq!(d.url.url, "service:iscsi:sms://127.0.0.1:3205");
    let again = m.to_vec().unwrap();
    assert_eq!(again.len(), b.len());
    // Header 16 bytes, scope list 2 + 7: the URL entry starts at byte 25.
    assert_eq!((b[25], again[25]), (b'T', 0), "reserved byte written as 0");
    assert_eq!(again[..25], b[..25]);
    assert_eq!(again[26..], b[26..]);
    assert_eq!(Message::parse(&again).unwrap(), m);
}

#[test]
fn error_reply_cut_short_after_its_code_decodes_and_re_encodes_in_full() {
    // Found by the slp_message fuzz target: an AttrRply ending after error code 2.
    let b = hex::decode("020700001200000000 00986d0002654e0002".replace(' ', "")).unwrap();
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        m.body,
        Body::AttrRply(slp_proto::AttrRply {
            error: slp_proto::ErrorCode::PARSE_ERROR,
            ..Default::default()
        })
    );
    let full = m.to_vec().unwrap();
    assert_eq!(
        full.len(),
        b.len() + 3,
        "attribute list length and auth count added"
    );
    assert_eq!(Message::parse(&full).unwrap(), m);
}
