//! The client session against a hostile iSNS server written with isns-proto: responses for
//! unknown transactions, unsolicited requests, wrong response functions, malformed
//! attributes, answers out of order, an unframeable PDU, and floods of SCNs (well formed,
//! malformed and for many distinct nodes). The session must report typed errors, stay up
//! (a command still succeeds afterwards) and keep its memory bounded.
//!
//! Two halves: the tokio driver over real TCP on 127.0.0.1 (what the manager runs), and the
//! sans-IO session fed the same kind of flood in memory, where its buffers and queues can
//! be read after every step.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use isns_proto::client::{
    Backoff, ClientConfig, ClientError, EntityId, Event, InboundId, NodeName, Session, Transmit,
};
use isns_proto::client_tokio::IsnsClient;
use isns_proto::{FunctionId, Message, Pdu, PduFlags, ScnBitmap, Status, Tag, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ME: &str = "iqn.2026-01.test.hostile:manager";
const FLOOD: usize = 20_000;

fn lo() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

fn enc(m: &Message<'_>) -> Vec<u8> {
    let mut b = BytesMut::new();
    m.encode(&mut b).unwrap();
    b.to_vec()
}

/// A response PDU by hand: header, status 0, then one attribute whose length (5) is not a
/// multiple of 4, as RFC 4171 §5.1 requires.
fn malformed_response(function: FunctionId, xid: u16) -> Vec<u8> {
    let mut payload = vec![0u8; 4];
    payload.extend_from_slice(&32u32.to_be_bytes());
    payload.extend_from_slice(&5u32.to_be_bytes());
    payload.extend_from_slice(b"abcde\0\0\0");
    let mut out = Vec::new();
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&function.response().0.to_be_bytes());
    out.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    let flags = PduFlags::SERVER | PduFlags::SINGLE;
    out.extend_from_slice(&flags.bits().to_be_bytes());
    out.extend_from_slice(&xid.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

fn scn_for(name: &str, xid: u16) -> Vec<u8> {
    enc(&Message::scn(xid, ME, 1_700_000_000)
        .op(Tag::ISCSI_SCN_BITMAP, ScnBitmap::OBJECT_UPDATED.bits())
        .op(Tag::ISCSI_NAME, name))
}

async fn read_pdu(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut hdr = [0u8; 12];
    s.read_exact(&mut hdr).await.ok()?;
    let len = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    let mut buf = hdr.to_vec();
    buf.resize(12 + len, 0);
    s.read_exact(&mut buf[12..]).await.ok()?;
    Some(buf)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// What the hostile server saw.
#[derive(Debug, Default)]
struct Seen {
    registrations: usize,
    scn_responses: usize,
}

/// Serves one connection: registers the client properly, then misbehaves as scripted.
/// Returns when the client closes the connection or after the unframeable PDU.
async fn serve(mut s: TcpStream, first: bool, seen: &tokio::sync::Mutex<Seen>) {
    let mut getnext = 0usize;
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut scn_port = None;
    while let Some(req) = read_pdu(&mut s).await {
        let pdu = Pdu::parse(&req).unwrap();
        let (f, xid) = (pdu.function(), pdu.xid());
        let mut out: Vec<Vec<u8>> = Vec::new();
        match f {
            FunctionId::DEV_ATTR_REG if pdu.flags().contains(PduFlags::REPLACE) => {
                let m = Message::decode(&pdu).unwrap();
                if let Some(a) = m.operating.iter().find(|a| a.tag == Tag::SCN_PORT)
                    && let Value::Port(p) = a.value
                {
                    scn_port = Some(p.number);
                }
                seen.lock().await.registrations += 1;
                out.push(enc(&Message::response(f, xid, Status::SUCCESSFUL)
                    .key(Tag::ENTITY_IDENTIFIER, "hostile.entity")
                    .op(Tag::REGISTRATION_PERIOD, 600u32)));
                if first {
                    // Before anything else: an answer nobody asked for, and a request a
                    // server must not send on this connection.
                    out.push(enc(&Message::response(
                        FunctionId::DEV_ATTR_QRY,
                        0xFFF0,
                        Status::SUCCESSFUL,
                    )));
                    out.push(enc(
                        &Message::dev_attr_qry(0x0101, "evil").key(Tag::ISCSI_NAME, ME)
                    ));
                }
            }
            FunctionId::DEV_GET_NEXT => {
                getnext += 1;
                match getnext {
                    // The first step is answered with the wrong function, the second with
                    // a malformed attribute.
                    1 if first => out.push(enc(&Message::response(
                        FunctionId::DEV_ATTR_QRY,
                        xid,
                        Status::SUCCESSFUL,
                    ))),
                    2 if first => out.push(malformed_response(f, xid)),
                    _ => {
                        // Everything else is empty, answered two at a time in reverse order.
                        held.push(enc(&Message::response(f, xid, Status::NO_SUCH_ENTRY)));
                        if held.len() == 2 {
                            held.reverse();
                            out.append(&mut held);
                        }
                    }
                }
            }
            FunctionId::DD_REG => out.push(enc(
                &Message::response(f, xid, Status::SUCCESSFUL).op(Tag::DD_ID, 7u32)
            )),
            FunctionId::DEV_ATTR_QRY => {
                out.push(enc(&Message::response(f, xid, Status::NO_SUCH_ENTRY)));
            }
            _ => out.push(enc(&Message::response(f, xid, Status::SUCCESSFUL))),
        }
        for o in out {
            if s.write_all(&o).await.is_err() {
                return;
            }
        }
        // Flush a lone held answer so a walk of an odd number of steps finishes.
        if !held.is_empty() && getnext % 2 == 1 {
            let h = std::mem::take(&mut held);
            for o in h {
                let _ = s.write_all(&o).await;
            }
        }
        if first
            && f == FunctionId::DD_REG
            && let Some(port) = scn_port.take()
        {
            flood(port, seen).await;
            // Then a header whose payload length is not a multiple of 4: unframeable, the
            // session drops this connection and must come back.
            let mut bad = enc(&Message::response(f, 0x7777, Status::SUCCESSFUL));
            bad[5] = 3;
            let _ = s.write_all(&bad).await;
            return;
        }
    }
}

/// Opens the client's SCN port and floods it: well-formed SCNs for many distinct nodes
/// (each answered), interleaved malformed ones; then a PDU whose declared length is too
/// large for the client, which closes that connection.
async fn flood(port: u16, seen: &tokio::sync::Mutex<Seen>) {
    let s = TcpStream::connect(SocketAddr::new(lo(), port))
        .await
        .unwrap();
    let (mut r, mut w) = s.into_split();
    let reader = tokio::spawn(async move {
        let mut n = 0usize;
        let mut hdr = [0u8; 12];
        while r.read_exact(&mut hdr).await.is_ok() {
            let len = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
            let mut body = vec![0u8; len];
            if r.read_exact(&mut body).await.is_err() {
                break;
            }
            if u16::from_be_bytes([hdr[2], hdr[3]]) == FunctionId::SCN.response().0 {
                n += 1;
            }
        }
        n
    });
    let mut batch = Vec::new();
    for i in 0..FLOOD {
        let xid = u16::try_from(i % 60_000).unwrap();
        batch.extend_from_slice(&scn_for(&format!("iqn.2026-01.test.flood:n{i}"), xid));
        if i % 100 == 0 {
            // A well-framed SCN whose attribute list does not decode.
            let mut bad = malformed_response(FunctionId::SCN, 9);
            bad[2..4].copy_from_slice(&FunctionId::SCN.0.to_be_bytes());
            batch.extend_from_slice(&bad);
        }
        if batch.len() > 64 * 1024 {
            w.write_all(&batch).await.unwrap();
            batch.clear();
        }
    }
    w.write_all(&batch).await.unwrap();
    // Give the client time to answer the last ones, then close our side.
    tokio::time::sleep(Duration::from_millis(500)).await;
    w.shutdown().await.ok();
    drop(w);
    let answered = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .unwrap()
        .unwrap();
    seen.lock().await.scn_responses = answered;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_server_yields_typed_errors_and_the_session_stays_up_with_bounded_memory() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(tokio::sync::Mutex::new(Seen::default()));
    let seen2 = std::sync::Arc::clone(&seen);
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((s, _)) = listener.accept().await {
            let seen = std::sync::Arc::clone(&seen2);
            let f = first;
            first = false;
            tokio::spawn(async move { serve(s, f, &seen).await });
        }
    });

    let mut cfg = ClientConfig::new(
        NodeName::new(ME).unwrap(),
        EntityId::new("hostile.entity").unwrap(),
        lo(),
    );
    cfg.request_timeout = Duration::from_millis(500);
    cfg.reconcile_interval = None;
    // This server scripts its hostile answers into the DevGetNext walk with a query per
    // target (the per-portal answers get hostile bytes in `client::portal_query`).
    cfg.detail_by_portal = false;
    cfg.backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(200),
        factor: 2,
    };
    let rss_before = rss_kib();
    let (client, mut ev) = IsnsClient::start(server, cfg, false).await.unwrap();
    let mut errors: Vec<ClientError> = Vec::new();
    let mut walked = 0usize;
    let mut scns = 0usize;
    let mut registered = 0usize;
    let mut peak_rss = rss_before;
    // Wait for the first complete walk (the first two steps were sabotaged).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let drain = |e: Event,
                 errors: &mut Vec<ClientError>,
                 walked: &mut usize,
                 scns: &mut usize,
                 registered: &mut usize| match e {
        Event::Error(err) if errors.len() < 10_000 => errors.push(err),
        Event::Walked(_) => *walked += 1,
        Event::Scn(_) => *scns += 1,
        Event::Registered(_) => *registered += 1,
        _ => {}
    };
    while walked == 0 {
        let e = tokio::time::timeout_at(deadline, ev.recv())
            .await
            .expect("no walk completed")
            .unwrap();
        drain(e, &mut errors, &mut walked, &mut scns, &mut registered);
    }
    // The DD command triggers the SCN flood and, after it, the unframeable PDU.
    let id = client.create_dd("hostile-dd", &[ME]).await.unwrap();
    assert_eq!(id, 7);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while registered < 2 || seen.lock().await.scn_responses == 0 {
        let e = tokio::time::timeout_at(deadline, ev.recv())
            .await
            .expect("the session did not come back after the flood")
            .unwrap();
        drain(e, &mut errors, &mut walked, &mut scns, &mut registered);
        peak_rss = peak_rss.max(rss_kib());
    }
    // Still up: a command on the new connection succeeds.
    assert_eq!(client.create_dd("after", &[ME]).await.unwrap(), 7);
    while let Ok(e) = ev.try_recv() {
        drain(e, &mut errors, &mut walked, &mut scns, &mut registered);
    }
    peak_rss = peak_rss.max(rss_kib());
    client.shutdown().await;

    let kinds: BTreeSet<&'static str> = errors
        .iter()
        .map(|e| match e {
            ClientError::UnknownTransaction { xid: 0xFFF0, .. } => "unknown transaction",
            ClientError::UnexpectedRequest { .. } => "unexpected request",
            ClientError::UnexpectedResponse { .. } => "unexpected response",
            ClientError::Malformed { .. } => "malformed",
            ClientError::Framing(_) => "framing",
            ClientError::RequeryOverflow { .. } => "requery overflow",
            ClientError::WalkRunaway { .. } => "walk runaway",
            ClientError::Timeout { .. } => "timeout",
            _ => "other",
        })
        .collect();
    for want in [
        "unknown transaction",
        "unexpected request",
        "unexpected response",
        "malformed",
        "framing",
        "requery overflow",
    ] {
        assert!(kinds.contains(want), "no {want} error among {kinds:?}");
    }
    let seen = seen.lock().await;
    assert_eq!(seen.registrations, 2, "registered once per connection");
    // Every well-formed SCN was answered and reported.
    assert_eq!(seen.scn_responses, FLOOD);
    assert_eq!(scns, FLOOD);
    let grew = peak_rss.saturating_sub(rss_before);
    eprintln!("rss before {rss_before} KiB, peak {peak_rss} KiB, grew {grew} KiB");
    assert!(
        grew < 64 * 1024,
        "memory grew by {grew} KiB during the flood"
    );
}

/// The sans-IO session: every buffer and queue stays within its configured bound while a
/// never-polled flood arrives, and the session still answers afterwards.
#[test]
fn an_unpolled_scn_flood_keeps_every_buffer_and_queue_bounded() {
    let t = Instant::now();
    let mut cfg = ClientConfig::new(
        NodeName::new(ME).unwrap(),
        EntityId::new("hostile.entity").unwrap(),
        lo(),
    );
    cfg.scn_port = 4001;
    cfg.max_events = 1000;
    cfg.max_pending_requeries = 100;
    cfg.max_inbound = 4;
    cfg.max_rx_pdu_len = 8192 + 12;
    let (max_events, max_requeries) = (cfg.max_events, cfg.max_pending_requeries);
    let max_rx = cfg.max_rx_pdu_len;
    let mut s = Session::new(cfg, t);
    assert_eq!(s.poll_transmit(), Some(Transmit::Connect));
    s.handle_connected(t);
    let Some(Transmit::Server(reg)) = s.poll_transmit() else {
        panic!("no registration")
    };
    let p = Pdu::parse(&reg).unwrap();
    s.handle_input(
        t,
        &enc(
            &Message::response(p.function(), p.xid(), Status::SUCCESSFUL)
                .op(Tag::REGISTRATION_PERIOD, 600u32),
        ),
    );
    assert!(s.is_ready());
    let conn = InboundId(1);
    s.handle_inbound_open(conn);
    // More inbound connections than allowed: refused with a typed error.
    for i in 2..10 {
        s.handle_inbound_open(InboundId(i));
    }
    let mut responses = 0usize;
    for i in 0..100_000usize {
        let mut pdu = scn_for(
            &format!("iqn.2026-01.test.flood:n{i}"),
            u16::try_from(i % 60_000).unwrap(),
        );
        if i % 97 == 0 {
            // Malformed attribute list inside a well-framed SCN.
            pdu = malformed_response(FunctionId::SCN, 1);
            pdu[2..4].copy_from_slice(&FunctionId::SCN.0.to_be_bytes());
        }
        // Delivered in two pieces, as TCP may.
        let (a, b) = pdu.split_at(pdu.len() / 2);
        s.handle_inbound(t, conn, a);
        s.handle_inbound(t, conn, b);
        while let Some(tx) = s.poll_transmit() {
            if matches!(tx, Transmit::Inbound { .. }) {
                responses += 1;
            }
        }
        assert!(
            s.pending_events() <= max_events + 1,
            "{}",
            s.pending_events()
        );
        assert!(s.buffered_bytes() <= 2 * max_rx, "{}", s.buffered_bytes());
        // Queued: re-queries (bounded, then replaced by one walk) plus the walk's steps.
        assert!(s.queued() <= max_requeries + 16, "{}", s.queued());
    }
    assert!(responses > 98_000, "{responses}");
    let mut errors: Vec<ClientError> = Vec::new();
    let mut take_errors = |s: &mut Session| {
        for e in std::iter::from_fn(|| s.poll_event()) {
            if let Event::Error(e) = e {
                errors.push(e);
            }
        }
    };
    take_errors(&mut s);
    // Once the queue has room again, the next event is preceded by the count of the
    // dropped ones.
    s.handle_inbound(t, conn, &scn_for("iqn.2026-01.test.flood:last", 1));
    take_errors(&mut s);
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, ClientError::TooManyInbound { .. }))
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, ClientError::EventsDropped { .. }))
    );
    // A declared length beyond the limit closes that inbound connection, typed.
    let mut huge = scn_for("iqn.x", 1);
    huge[4] = 0xFF;
    huge[5] = 0xFC;
    s.handle_inbound(t, conn, &huge[..12]);
    let mut closed = false;
    while let Some(tx) = s.poll_transmit() {
        closed |= tx == Transmit::CloseInbound { conn };
    }
    assert!(closed, "the oversized PDU did not close its connection");
    assert!(
        std::iter::from_fn(|| s.poll_event())
            .any(|e| matches!(e, Event::Error(ClientError::InboundFraming { .. })))
    );
    assert!(s.buffered_bytes() <= 2 * max_rx);
    // The server connection is still up and takes commands.
    assert!(s.is_ready());
    assert!(s.create_dd(t, "still-up", &[ME]).is_ok());
}
