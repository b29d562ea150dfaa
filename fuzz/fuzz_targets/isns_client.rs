//! iSNS client session state machine fed random event sequences: connects, closes, raw
//! bytes, plausible responses (right or wrong transaction, any status, attributes from the
//! input) to whatever it last sent, inbound SCN/ESI connections with raw or well-formed
//! SCNs, time jumps and every command. It must never panic and every buffer and queue must
//! stay within the bound its configuration sets.
#![no_main]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use isns_proto::client::{ClientConfig, EntityId, InboundId, NodeName, Session, Transmit};
use isns_proto::{FunctionId, Message, Pdu, ScnBitmap, Status, Tag};
use libfuzzer_sys::fuzz_target;

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes([self.u8()?, self.u8()?, self.u8()?, self.u8()?]))
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    /// A short iSCSI-name-like string, mostly from a small set so keys repeat.
    fn name(&mut self) -> String {
        match self.u8() {
            Some(b) if b < 200 => format!("iqn.2026-01.fuzz:n{}", b % 16),
            Some(_) => String::from_utf8_lossy(self.take(8)).into_owned(),
            None => "iqn.2026-01.fuzz:n0".to_owned(),
        }
    }
}

const MAX_EVENTS: usize = 64;
const MAX_QUEUED: usize = 64;
const MAX_IN_FLIGHT: usize = 4;
const MAX_RX: usize = 2048 + 12;

fn enc(m: &Message<'_>) -> Vec<u8> {
    let mut b = BytesMut::new();
    match m.encode(&mut b) {
        Ok(_) => b.to_vec(),
        Err(_) => Vec::new(),
    }
}

/// A response to `(function, xid)` with a status and attributes from the input.
fn response(inp: &mut Input<'_>, function: FunctionId, xid: u16) -> Vec<u8> {
    let status = match inp.u8().unwrap_or(0) % 4 {
        0 | 1 => Status::SUCCESSFUL,
        2 => Status::NO_SUCH_ENTRY,
        _ => Status(inp.u32().unwrap_or(3)),
    };
    let names: Vec<String> = (0..inp.u8().unwrap_or(0) % 4).map(|_| inp.name()).collect();
    let mut m = Message::response(function, xid, status);
    if let Some(first) = names.first() {
        m = m.key(Tag::ISCSI_NAME, first.as_str());
    }
    for n in &names {
        m = m.op(Tag::ISCSI_NAME, n.as_str());
        match inp.u8().unwrap_or(0) % 6 {
            0 => m = m.op(Tag::ISCSI_NODE_TYPE, u32::from(inp.u8().unwrap_or(1) % 8)),
            1 => m = m.op(Tag::DD_ID, u32::from(inp.u8().unwrap_or(1))),
            2 => m = m.op(Tag::REGISTRATION_PERIOD, inp.u32().unwrap_or(0)),
            3 => m = m.op(Tag::ENTITY_IDENTIFIER, n.as_str()),
            4 => m = m.op(Tag::DD_MEMBER_ISCSI_NAME, n.as_str()),
            _ => m = m.op(Tag::PORTAL_IP_ADDRESS, IpAddr::V4(Ipv4Addr::LOCALHOST)),
        }
    }
    let mut out = enc(&m);
    // Sometimes damage it after framing.
    if inp.u8().unwrap_or(0) % 8 == 0 && out.len() > 12 {
        let at = 12 + usize::from(inp.u8().unwrap_or(0)) % (out.len() - 12);
        out[at] ^= inp.u8().unwrap_or(0xFF);
    }
    out
}

fn scn(inp: &mut Input<'_>, xid: u16) -> Vec<u8> {
    let mut m = Message::scn(xid, "iqn.2026-01.fuzz:manager", 1);
    let names: Vec<String> = (0..inp.u8().unwrap_or(0) % 5).map(|_| inp.name()).collect();
    for n in &names {
        let bitmap = ScnBitmap::from_bits_retain(u32::from(inp.u8().unwrap_or(4)));
        m = m.op(Tag::ISCSI_SCN_BITMAP, bitmap.bits()).op(Tag::ISCSI_NAME, n.as_str());
        if inp.u8().unwrap_or(0) % 2 == 0 {
            m = m.op(Tag::DD_ID, u32::from(inp.u8().unwrap_or(1)));
        }
    }
    enc(&m)
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let t0 = Instant::now();
    let mut now = t0;
    let (Ok(me), Ok(entity)) = (
        NodeName::new("iqn.2026-01.fuzz:manager"),
        EntityId::new("fuzz.entity"),
    ) else {
        return;
    };
    let mut cfg = ClientConfig::new(me, entity, IpAddr::V4(Ipv4Addr::LOCALHOST));
    cfg.scn_port = 4001;
    cfg.esi_port = Some(4002);
    cfg.max_events = MAX_EVENTS;
    cfg.max_queued = MAX_QUEUED;
    cfg.max_in_flight = MAX_IN_FLIGHT;
    cfg.max_pending_requeries = 8;
    cfg.max_inbound = 3;
    cfg.max_walk_objects = 200;
    cfg.max_rx_pdu_len = MAX_RX;
    cfg.request_timeout = Duration::from_secs(2);
    cfg.reconcile_interval = Some(Duration::from_secs(10));
    let mut s = Session::new(cfg, t0);
    // (function, xid) of the requests the session sent, newest last.
    let mut sent: VecDeque<(FunctionId, u16)> = VecDeque::new();
    for _ in 0..512 {
        let Some(op) = inp.u8() else { break };
        match op % 12 {
            0 => s.handle_connected(now),
            1 => s.handle_closed(now),
            2 => {
                let n = usize::from(inp.u8().unwrap_or(0));
                let bytes = inp.take(n).to_vec();
                s.handle_input(now, &bytes);
            }
            3 | 4 => {
                // Answer one outstanding request (sometimes with the wrong xid or function).
                let pick = usize::from(inp.u8().unwrap_or(0));
                if let Some(&(f, x)) = sent.get(pick % sent.len().max(1)) {
                    let (f, x) = match inp.u8().unwrap_or(0) % 8 {
                        0 => (f, x.wrapping_add(1)),
                        1 => (FunctionId::DEV_ATTR_QRY, x),
                        _ => (f, x),
                    };
                    let bytes = response(&mut inp, f, x);
                    s.handle_input(now, &bytes);
                    if op % 12 == 3 {
                        sent.retain(|&(_, sx)| sx != x);
                    }
                }
            }
            5 => s.handle_inbound_open(InboundId(u64::from(inp.u8().unwrap_or(0) % 4))),
            6 => {
                let id = InboundId(u64::from(inp.u8().unwrap_or(0) % 4));
                let n = usize::from(inp.u8().unwrap_or(0));
                let bytes = inp.take(n).to_vec();
                s.handle_inbound(now, id, &bytes);
            }
            7 => {
                let id = InboundId(u64::from(inp.u8().unwrap_or(0) % 4));
                let xid = inp.u16().unwrap_or(1);
                let bytes = scn(&mut inp, xid);
                // Delivered whole or split.
                let cut = usize::from(inp.u8().unwrap_or(0)).min(bytes.len());
                s.handle_inbound(now, id, &bytes[..cut]);
                s.handle_inbound(now, id, &bytes[cut..]);
            }
            8 => s.handle_inbound_closed(InboundId(u64::from(inp.u8().unwrap_or(0) % 4))),
            9 => {
                let ms = u64::from(inp.u16().unwrap_or(0)) * 10;
                now += Duration::from_millis(ms);
                s.handle_timeout(now);
            }
            10 => {
                let name = inp.name();
                let other = inp.name();
                let id = u32::from(inp.u8().unwrap_or(0));
                let _ = match inp.u8().unwrap_or(0) % 8 {
                    0 => {
                        s.walk(now);
                        Ok(isns_proto::client::OpId(0))
                    }
                    1 => s.query_node(now, &name),
                    2 => s.create_dd(now, &name, &[other.as_str()]),
                    3 => s.add_dd_members(now, id, &[name.as_str(), other.as_str()]),
                    4 => s.remove_dd_members(now, id, &[name.as_str()]),
                    5 => s.remove_dd(now, id),
                    // Names the types refuse never reach the session.
                    6 => match (NodeName::new(name.as_str()), EntityId::new(other.as_str())) {
                        (Ok(node), Ok(entity)) => s.register_initiator(now, &node, &entity, None),
                        _ => Ok(isns_proto::client::OpId(0)),
                    },
                    _ => s.deregister_initiator(now, &name),
                };
            }
            _ => {
                while s.poll_event().is_some() {}
            }
        }
        while let Some(t) = s.poll_transmit() {
            if let Transmit::Server(bytes) = t
                && let Ok(p) = Pdu::parse(&bytes)
            {
                assert!(bytes.len() <= isns_proto::OPEN_ISNS_MAX_PDU_LEN);
                sent.push_back((p.function(), p.xid()));
                if sent.len() > 16 {
                    sent.pop_front();
                }
            }
        }
        assert!(s.pending_events() <= MAX_EVENTS + 1, "{}", s.pending_events());
        assert!(s.in_flight() <= MAX_IN_FLIGHT, "{}", s.in_flight());
        // Commands are capped at MAX_QUEUED; on top come at most eight re-queries, five walk
        // chains and one detail query per walked object (max_walk_objects = 200).
        assert!(s.queued() <= MAX_QUEUED + 8 + 5 + 2 * 200, "{}", s.queued());
        // At most one partial PDU plus the last read per connection (server + 4 inbound
        // ids), and the reassembler's own cap (4 PDUs).
        let cap = 5 * (MAX_RX + 1024) + 4 * MAX_RX;
        assert!(s.buffered_bytes() <= cap, "{}", s.buffered_bytes());
    }
});
