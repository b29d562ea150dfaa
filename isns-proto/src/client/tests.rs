//! In-memory tests: the session against a scripted server with a manual clock.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::*;
use crate::{Body, FunctionId, Message, NodeType, Pdu, PduFlags, Port, ScnBitmap, Status, Tag};

const ME: &str = "iqn.2026-01.test:manager";
const T1: &str = "iqn.2026-01.test:t1";
const INI: &str = "iqn.2026-01.test:ini";

fn cfg() -> ClientConfig {
    let mut c = ClientConfig::new(
        NodeName::new(ME).unwrap(),
        EntityId::new("mgr.entity").unwrap(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    );
    c.scn_port = 4001;
    c.esi_port = Some(4002);
    // Most tests here script the DevGetNext walk with a query per target; the per-portal
    // queries have their own tests below.
    c.detail_by_portal = false;
    c
}

fn enc(m: &Message<'_>) -> Vec<u8> {
    let mut b = BytesMut::new();
    m.encode(&mut b).unwrap();
    b.to_vec()
}

fn server_pdus(s: &mut Session) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(t) = s.poll_transmit() {
        if let Transmit::Server(b) = t {
            out.push(b);
        }
    }
    out
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// Connects and answers the registration with `period` seconds; returns the PDUs that
/// follow (SCNReg and the walk's first steps).
fn registered(s: &mut Session, t: Instant, period: u32) -> Vec<Vec<u8>> {
    assert_eq!(s.poll_transmit(), Some(Transmit::Connect));
    s.handle_connected(t);
    let reg = server_pdus(s);
    assert_eq!(reg.len(), 1, "only the registration goes out first");
    let p = Pdu::parse(&reg[0]).unwrap();
    s.handle_input(
        t,
        &enc(
            &Message::response(p.function(), p.xid(), Status::SUCCESSFUL)
                .key(Tag::ENTITY_IDENTIFIER, "mgr.entity")
                .op(Tag::REGISTRATION_PERIOD, period)
                .op(Tag::ESI_INTERVAL, 30u32),
        ),
    );
    server_pdus(s)
}

#[test]
fn registers_as_control_node_with_scn_and_esi_ports_then_scn_reg_and_walk() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), t);
    assert_eq!(s.poll_transmit(), Some(Transmit::Connect));
    s.handle_connected(t);
    let reg = server_pdus(&mut s);
    let p = Pdu::parse(&reg[0]).unwrap();
    assert_eq!(p.function(), FunctionId::DEV_ATTR_REG);
    assert!(p.flags().contains(PduFlags::REPLACE));
    let m = Message::decode(&p).unwrap();
    let has =
        |tag: Tag, v: crate::Value<'_>| m.operating.iter().any(|a| a.tag == tag && a.value == v);
    assert!(has(Tag::SCN_PORT, crate::Value::Port(Port::tcp(4001))));
    assert!(has(Tag::ESI_PORT, crate::Value::Port(Port::tcp(4002))));
    assert!(has(
        Tag::ISCSI_NODE_TYPE,
        crate::Value::U32(NodeType::CONTROL.bits())
    ));
    s.handle_input(
        t,
        &enc(
            &Message::response(p.function(), p.xid(), Status::SUCCESSFUL)
                .key(Tag::ENTITY_IDENTIFIER, "mgr.entity")
                .op(Tag::REGISTRATION_PERIOD, 600u32)
                .op(Tag::ESI_INTERVAL, 30u32),
        ),
    );
    let ev = events(&mut s);
    assert!(ev.contains(&Event::Registered(Registration {
        entity_id: "mgr.entity".into(),
        registration_period: Some(Duration::from_secs(600)),
        esi_interval: Some(Duration::from_secs(30)),
        esi: true,
    })));
    let next = server_pdus(&mut s);
    let first = Pdu::parse(&next[0]).unwrap();
    assert_eq!(first.function(), FunctionId::SCN_REG);
    let m = Message::decode(&first).unwrap();
    let bitmap = m
        .operating
        .iter()
        .find(|a| a.tag == Tag::ISCSI_SCN_BITMAP)
        .unwrap();
    assert_eq!(bitmap.value, crate::Value::U32(cfg().scn_bitmap.bits()));
    assert!(cfg().scn_bitmap.contains(ScnBitmap::MANAGEMENT));
    let getnexts = next
        .iter()
        .filter(|b| Pdu::parse(b).unwrap().function() == FunctionId::DEV_GET_NEXT)
        .count();
    assert_eq!(getnexts, 5, "five object chains walk at once");
    assert_eq!(s.in_flight(), 6);
}

#[test]
fn refreshes_registration_at_half_the_granted_period() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), t);
    registered(&mut s, t, 100);
    assert!(s.poll_timeout().unwrap() <= t + Duration::from_secs(50));
    // Nothing is answered, so request timeouts fire first; skip to the refresh.
    let later = t + Duration::from_secs(50);
    s.handle_timeout(later);
    let sent: Vec<_> = server_pdus(&mut s)
        .iter()
        .map(|b| Pdu::parse(b).unwrap().function())
        .collect();
    assert!(sent.contains(&FunctionId::DEV_ATTR_REG), "{sent:?}");
}

#[test]
fn esi_not_available_registers_again_without_esi_port() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), t);
    s.poll_transmit();
    s.handle_connected(t);
    let reg = server_pdus(&mut s);
    let p = Pdu::parse(&reg[0]).unwrap();
    s.handle_input(
        t,
        &enc(&Message::response(
            p.function(),
            p.xid(),
            Status::ESI_NOT_AVAILABLE,
        )),
    );
    let again = server_pdus(&mut s);
    let m = Message::decode(&Pdu::parse(&again[0]).unwrap()).unwrap();
    assert!(m.operating.iter().all(|a| a.tag != Tag::ESI_PORT));
    assert!(m.operating.iter().any(|a| a.tag == Tag::SCN_PORT));
}

#[test]
fn unanswered_request_times_out_with_typed_error_and_command_fails() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), t);
    registered(&mut s, t, 3600);
    let op = s.create_dd(t, "dd-x", &[T1]).unwrap();
    server_pdus(&mut s);
    events(&mut s);
    let deadline = s.poll_timeout().unwrap();
    assert_eq!(deadline, t + cfg().request_timeout);
    s.handle_timeout(deadline);
    let ev = events(&mut s);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Error(ClientError::Timeout {
            function: FunctionId::DD_REG,
            ..
        })
    )));
    assert!(ev.contains(&Event::OpCompleted {
        op,
        result: Err(OpError::Timeout(cfg().request_timeout))
    }));
    assert!(s.is_ready(), "a dropped request does not drop the session");
}

#[test]
fn never_more_than_max_in_flight_requests() {
    let t = Instant::now();
    let mut c = cfg();
    c.max_in_flight = 3;
    let mut s = Session::new(c, t);
    registered(&mut s, t, 3600);
    for i in 0..20 {
        s.create_dd(t, &format!("dd-{i}"), &[]).unwrap();
    }
    assert_eq!(s.in_flight(), 3);
    assert!(s.queued() >= 20);
}

#[test]
fn reconnects_with_backoff_and_registers_again_after_the_server_goes_away() {
    let t = Instant::now();
    let mut c = cfg();
    c.backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
        factor: 2,
    };
    let mut s = Session::new(c, t);
    registered(&mut s, t, 3600);
    s.handle_closed(t);
    assert!(events(&mut s).contains(&Event::Disconnected {
        retry_in: Duration::from_millis(100),
        cause: DisconnectCause::Closed,
        failures: 1,
    }));
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_millis(100)));
    let t1 = t + Duration::from_millis(100);
    s.handle_timeout(t1);
    assert_eq!(s.poll_transmit(), Some(Transmit::Connect));
    // The connect fails: the next delay doubles.
    s.handle_closed_because(t1, DisconnectCause::Refused);
    assert!(events(&mut s).contains(&Event::Disconnected {
        retry_in: Duration::from_millis(200),
        cause: DisconnectCause::Refused,
        failures: 2,
    }));
    let t2 = t1 + Duration::from_millis(200);
    s.handle_timeout(t2);
    assert_eq!(s.poll_transmit(), Some(Transmit::Connect));
    s.handle_connected(t2);
    let reg = server_pdus(&mut s);
    assert_eq!(
        Pdu::parse(&reg[0]).unwrap().function(),
        FunctionId::DEV_ATTR_REG
    );
}

#[test]
fn backoff_grows_and_caps() {
    let b = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(450),
        factor: 2,
    };
    let d: Vec<_> = (0..5).map(|a| b.delay(a).as_millis()).collect();
    assert_eq!(d, [100, 200, 400, 450, 450]);
}

#[test]
fn scn_is_answered_on_its_connection_and_triggers_one_requery_per_name() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), t);
    registered(&mut s, t, 3600);
    let conn = InboundId(7);
    s.handle_inbound_open(conn);
    let scn = enc(&Message::scn(0x55, ME, 1_700_000_000)
        .op(Tag::ISCSI_SCN_BITMAP, ScnBitmap::OBJECT_ADDED)
        .op(Tag::ISCSI_NAME, T1)
        .op(Tag::ISCSI_SCN_BITMAP, ScnBitmap::OBJECT_UPDATED)
        .op(Tag::ISCSI_NAME, T1));
    // Split across reads.
    s.handle_inbound(t, conn, &scn[..10]);
    s.handle_inbound(t, conn, &scn[10..]);
    let mut replies = Vec::new();
    let mut requeries = 0;
    while let Some(tx) = s.poll_transmit() {
        match tx {
            Transmit::Inbound { conn: c, bytes } => {
                assert_eq!(c, conn);
                replies.push(bytes);
            }
            Transmit::Server(b) => {
                let p = Pdu::parse(&b).unwrap();
                if p.function() == FunctionId::DEV_ATTR_QRY {
                    requeries += 1;
                }
            }
            _ => {}
        }
    }
    assert_eq!(replies.len(), 1);
    let r = Pdu::parse(&replies[0]).unwrap();
    assert_eq!(r.function(), FunctionId::SCN.response());
    assert_eq!(r.xid(), 0x55);
    let Body::Response(r) = r.body().unwrap() else {
        panic!()
    };
    assert_eq!(r.status(), Status::SUCCESSFUL);
    // Both entries name T1; at most one query is queued for it at a time. (The walk may
    // hold the other in-flight slots.)
    assert!(requeries <= 1 && s.queued() + requeries >= 1);
}

#[test]
fn requery_answer_becomes_node_changed_or_node_removed() {
    let t = Instant::now();
    let mut c = cfg();
    c.max_in_flight = 64;
    let mut s = Session::new(c, t);
    registered(&mut s, t, 3600);
    let op = s.query_node(t, T1).unwrap();
    let q = server_pdus(&mut s)
        .into_iter()
        .find(|b| Pdu::parse(b).unwrap().function() == FunctionId::DEV_ATTR_QRY)
        .unwrap();
    let p = Pdu::parse(&q).unwrap();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    s.handle_input(
        t,
        &enc(
            &Message::response(p.function(), p.xid(), Status::SUCCESSFUL)
                .key(Tag::ISCSI_NAME, T1)
                .op(Tag::ENTITY_IDENTIFIER, "array-1")
                .op(Tag::ISCSI_NAME, T1)
                .op(Tag::ISCSI_NODE_TYPE, NodeType::TARGET)
                .op(Tag::ISCSI_ALIAS, "disk one")
                .op(Tag::PORTAL_IP_ADDRESS, lo)
                .op(Tag::PORTAL_PORT, Port::tcp(3260))
                .op(Tag::PG_TAG, 1u32)
                .op(Tag::PG_PORTAL_IP_ADDR, lo)
                .op(Tag::PG_PORTAL_PORT, Port::tcp(3260)),
        ),
    );
    let ev = events(&mut s);
    let node = ev
        .iter()
        .find_map(|e| match e {
            Event::OpCompleted {
                op: o,
                result: Ok(OpOutcome::Node(Some(n))),
            } if *o == op => Some(n.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(node.entity.as_deref(), Some("array-1"));
    assert_eq!(node.alias.as_deref(), Some("disk one"));
    assert_eq!(
        node.portals,
        [PortalRef {
            ip: lo,
            port: 3260,
            tag: Some(1)
        }]
    );
}

#[test]
fn unknown_transaction_and_garbage_are_typed_errors_and_the_session_stays_up() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), t);
    registered(&mut s, t, 3600);
    s.handle_input(
        t,
        &enc(&Message::response(
            FunctionId::DEV_ATTR_QRY,
            0xBEEF,
            Status::SUCCESSFUL,
        )),
    );
    let ev = events(&mut s);
    assert!(ev.contains(&Event::Error(ClientError::UnknownTransaction {
        function: FunctionId::DEV_ATTR_QRY.response(),
        xid: 0xBEEF
    })));
    assert!(s.is_ready());
    // A PDU with a bad version cannot be framed: the connection is dropped and retried.
    s.handle_input(t, &[0, 9, 0x80, 2, 0, 0, 0x4c, 0, 0, 1, 0, 0]);
    let ev = events(&mut s);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Error(ClientError::Framing(_))))
    );
    assert!(ev.iter().any(|e| matches!(e, Event::Disconnected { .. })));
    assert!(!s.is_ready());
}

#[test]
fn scn_flood_keeps_memory_bounded_and_falls_back_to_a_walk() {
    let t = Instant::now();
    let mut c = cfg();
    c.max_pending_requeries = 16;
    c.max_events = 64;
    let mut s = Session::new(c, t);
    registered(&mut s, t, 3600);
    let conn = InboundId(1);
    s.handle_inbound_open(conn);
    for i in 0..5000u32 {
        let name = format!("iqn.2026-01.flood:n{i}");
        let scn = enc(&Message::scn(u16::try_from(i % 60000).unwrap(), ME, 1)
            .op(Tag::ISCSI_SCN_BITMAP, ScnBitmap::OBJECT_ADDED)
            .op(Tag::ISCSI_NAME, name.as_str()));
        s.handle_inbound(t, conn, &scn);
        while s.poll_transmit().is_some() {}
    }
    assert!(s.pending_events() <= 64);
    assert!(s.queued() <= 16 + 64, "queued {}", s.queued());
    assert!(s.buffered_bytes() < 1024);
    assert!(s.is_ready());
}

#[test]
fn command_issued_while_unreachable_fails_at_its_deadline_with_the_cause() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), t);
    assert_eq!(s.poll_transmit(), Some(Transmit::Connect));
    s.handle_closed_because(t, DisconnectCause::Refused);
    let ev = events(&mut s);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Disconnected {
            cause: DisconnectCause::Refused,
            failures: 1,
            ..
        }
    )));
    assert_eq!(s.last_disconnect(), Some(&DisconnectCause::Refused));
    let op = s.create_dd(t, "dd-x", &[T1]).unwrap();
    // The server stays unreachable: every reconnect is refused.
    let deadline = t + cfg().request_timeout;
    let mut now = t;
    let mut done = None;
    while done.is_none() {
        let next = s.poll_timeout().expect("a deadline is pending");
        assert!(next <= deadline, "the command's deadline bounds the wait");
        now = next;
        s.handle_timeout(now);
        if s.poll_transmit() == Some(Transmit::Connect) {
            s.handle_closed_because(now, DisconnectCause::Refused);
        }
        done = events(&mut s).into_iter().find_map(|e| match e {
            Event::OpCompleted { op: o, result } if o == op => Some(result),
            _ => None,
        });
    }
    assert_eq!(
        now, deadline,
        "counted from the moment the command was issued"
    );
    assert_eq!(
        done,
        Some(Err(OpError::Unreachable {
            after: cfg().request_timeout,
            cause: DisconnectCause::Refused,
        }))
    );
    assert_eq!(s.queued(), 0);
}

#[test]
fn command_sent_after_a_late_connect_keeps_its_issue_deadline() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), t);
    let op = s.create_dd(t, "dd-x", &[T1]).unwrap();
    let late = t + Duration::from_secs(3);
    registered(&mut s, late, 3600);
    events(&mut s);
    s.handle_timeout(t + cfg().request_timeout);
    assert!(events(&mut s).contains(&Event::OpCompleted {
        op,
        result: Err(OpError::Timeout(cfg().request_timeout))
    }));
}

#[test]
fn unsupported_version_from_the_server_is_a_definite_protocol_cause() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), t);
    assert_eq!(s.poll_transmit(), Some(Transmit::Connect));
    s.handle_connected(t);
    server_pdus(&mut s);
    // iSNSP version 2, otherwise a plausible 12-byte header.
    s.handle_input(t, &[0, 2, 0x80, 3, 0, 0, 0x8c, 0, 0, 1, 0, 0]);
    let cause = events(&mut s).into_iter().find_map(|e| match e {
        Event::Disconnected { cause, .. } => Some(cause),
        _ => None,
    });
    let cause = cause.expect("the connection is dropped");
    assert!(
        matches!(cause, DisconnectCause::Protocol(ClientError::Framing(_))),
        "{cause:?}"
    );
    assert!(cause.is_definite());
    assert!(cause.to_string().contains("version"), "{cause}");
}

#[test]
fn registration_unanswered_is_a_timeout_cause_not_definite() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), t);
    assert_eq!(s.poll_transmit(), Some(Transmit::Connect));
    s.handle_connected(t);
    server_pdus(&mut s);
    s.handle_timeout(t + cfg().request_timeout);
    let cause = events(&mut s).into_iter().find_map(|e| match e {
        Event::Disconnected { cause, .. } => Some(cause),
        _ => None,
    });
    assert_eq!(
        cause,
        Some(DisconnectCause::RegistrationTimeout(cfg().request_timeout))
    );
    assert!(!cause.is_some_and(|c| c.is_definite()));
}

#[test]
fn io_errors_map_to_causes() {
    use std::io::ErrorKind as K;
    assert_eq!(
        DisconnectCause::from_io(K::ConnectionRefused, "x"),
        DisconnectCause::Refused
    );
    assert_eq!(
        DisconnectCause::from_io(K::ConnectionReset, "x"),
        DisconnectCause::Reset
    );
    assert_eq!(DisconnectCause::Refused.to_string(), "connection refused");
}

/// Answers every walk request of `s` from a two-target database (one entity, one portal,
/// one DD) until the walk ends; the per-portal query is answered `portal_status`. Returns
/// the snapshot and the requests seen: (function, first key tag).
fn serve_walk(
    s: &mut Session,
    t: Instant,
    first: Vec<Vec<u8>>,
    portal_status: Status,
) -> (Snapshot, Vec<(FunctionId, Tag)>) {
    let ip: IpAddr = Ipv4Addr::new(127, 0, 0, 2).into();
    let nodes = ["iqn.2026-01.test:a1", T1];
    let mut seen = Vec::new();
    let mut pending = first;
    for _ in 0..100 {
        for b in std::mem::take(&mut pending) {
            let p = Pdu::parse(&b).unwrap();
            let f = p.function();
            if f != FunctionId::DEV_GET_NEXT && f != FunctionId::DEV_ATTR_QRY {
                continue;
            }
            let m = Message::decode(&p).unwrap();
            let key = m.key.first().unwrap();
            seen.push((f, key.tag));
            let empty = key.value == crate::Value::Empty;
            let none = Message::response(f, p.xid(), Status::NO_SUCH_ENTRY);
            let ok = Message::response(f, p.xid(), Status::SUCCESSFUL);
            let node = |m: Message<'static>, name: &'static str| {
                m.op(Tag::ISCSI_NAME, name)
                    .op(Tag::ISCSI_NODE_TYPE, NodeType::TARGET.bits())
            };
            let a = match (f, key.tag) {
                (FunctionId::DEV_GET_NEXT, Tag::ENTITY_IDENTIFIER) if empty => ok
                    .key(Tag::ENTITY_IDENTIFIER, "array-1")
                    .op(Tag::ENTITY_IDENTIFIER, "array-1"),
                (FunctionId::DEV_GET_NEXT, Tag::PORTAL_IP_ADDRESS) if empty => ok
                    .key(Tag::PORTAL_IP_ADDRESS, ip)
                    .key(Tag::PORTAL_PORT, Port::tcp(3260))
                    .op(Tag::PORTAL_IP_ADDRESS, ip)
                    .op(Tag::PORTAL_PORT, Port::tcp(3260)),
                (FunctionId::DEV_GET_NEXT, Tag::ISCSI_NAME) => {
                    let next = if empty {
                        Some(nodes[0])
                    } else if key.value == crate::Value::Str(nodes[0]) {
                        Some(nodes[1])
                    } else {
                        None
                    };
                    match next {
                        Some(n) => node(ok.key(Tag::ISCSI_NAME, n), n),
                        None => none,
                    }
                }
                (FunctionId::DEV_GET_NEXT, Tag::DD_ID) if empty => ok
                    .key(Tag::DD_ID, 7u32)
                    .op(Tag::DD_ID, 7u32)
                    .op(Tag::DD_MEMBER_ISCSI_NAME, T1),
                (FunctionId::DEV_ATTR_QRY, Tag::PORTAL_IP_ADDRESS)
                    if portal_status.is_success() =>
                {
                    let mut a = ok
                        .op(Tag::ENTITY_IDENTIFIER, "array-1")
                        .op(Tag::PORTAL_IP_ADDRESS, ip)
                        .op(Tag::PORTAL_PORT, Port::tcp(3260));
                    for n in nodes {
                        a = node(a, n)
                            .op(Tag::PG_ISCSI_NAME, n)
                            .op(Tag::PG_TAG, 1u32)
                            .op(Tag::PG_PORTAL_IP_ADDR, ip)
                            .op(Tag::PG_PORTAL_PORT, Port::tcp(3260));
                    }
                    a
                }
                (FunctionId::DEV_ATTR_QRY, Tag::PORTAL_IP_ADDRESS) => {
                    Message::response(f, p.xid(), portal_status)
                }
                (FunctionId::DEV_ATTR_QRY, Tag::ISCSI_NODE_TYPE) => ok
                    .op(Tag::ENTITY_IDENTIFIER, "ini-entity")
                    .op(Tag::ISCSI_NAME, INI)
                    .op(Tag::ISCSI_NODE_TYPE, NodeType::INITIATOR.bits()),
                (FunctionId::DEV_ATTR_QRY, Tag::ISCSI_NAME) => {
                    let crate::Value::Str(n) = key.value else {
                        panic!()
                    };
                    let n: &'static str = if n == T1 { T1 } else { nodes[0] };
                    node(
                        ok.op(Tag::ENTITY_IDENTIFIER, "array-1")
                            .op(Tag::PORTAL_IP_ADDRESS, ip)
                            .op(Tag::PORTAL_PORT, Port::tcp(3260)),
                        n,
                    )
                }
                _ => none,
            };
            s.handle_input(t, &enc(&a));
        }
        for e in events(s) {
            if let Event::Walked(snap) = e {
                return (snap, seen);
            }
        }
        pending = server_pdus(s);
    }
    panic!("the walk did not end: {seen:?}");
}

#[test]
fn portal_walk_reads_every_node_behind_a_portal_in_one_query() {
    let t = Instant::now();
    let mut c = cfg();
    c.detail_by_portal = true;
    let mut s = Session::new(c, t);
    let first = registered(&mut s, t, 600);
    let (snap, seen) = serve_walk(&mut s, t, first, Status::SUCCESSFUL);
    let queries: Vec<Tag> = seen
        .iter()
        .filter(|r| r.0 == FunctionId::DEV_ATTR_QRY)
        .map(|r| r.1)
        .collect();
    assert_eq!(
        queries,
        [Tag::ISCSI_NODE_TYPE, Tag::PORTAL_IP_ADDRESS],
        "the initiators and one portal, no query per target"
    );
    for chain in [Tag::PG_ISCSI_NAME, Tag::ISCSI_NAME] {
        assert!(
            !seen.contains(&(FunctionId::DEV_GET_NEXT, chain)),
            "no node or portal group chain: {seen:?}"
        );
    }
    assert_eq!(snap.targets().count(), 2);
    let ini = snap
        .nodes
        .iter()
        .find(|n| n.name == INI)
        .expect("initiator");
    assert_eq!(ini.entity.as_deref(), Some("ini-entity"));
    assert_eq!(ini.node_type, NodeType::INITIATOR);
    for n in snap.targets() {
        assert_eq!(n.entity.as_deref(), Some("array-1"), "{n:?}");
        assert_eq!(n.portals.len(), 1);
        assert_eq!(n.portals[0].tag, Some(1));
    }
    assert_eq!(snap.portal_groups.len(), 2);
    assert_eq!(snap.entities.len(), 1);
    assert_eq!(snap.dds.len(), 1);
}

#[test]
fn refused_portal_query_reads_its_targets_one_by_one() {
    let t = Instant::now();
    let mut c = cfg();
    c.detail_by_portal = true;
    let mut s = Session::new(c, t);
    let first = registered(&mut s, t, 600);
    let (snap, seen) = serve_walk(&mut s, t, first, Status::INTERNAL_ERROR);
    let per_target = seen
        .iter()
        .filter(|r| *r == &(FunctionId::DEV_ATTR_QRY, Tag::ISCSI_NAME))
        .count();
    assert_eq!(per_target, 2, "{seen:?}");
    assert!(seen.contains(&(FunctionId::DEV_GET_NEXT, Tag::ISCSI_NAME)));
    assert_eq!(snap.nodes.len(), 3);
    for n in snap.targets() {
        assert_eq!(n.entity.as_deref(), Some("array-1"), "{n:?}");
        assert_eq!(n.portals.len(), 1);
    }
}
