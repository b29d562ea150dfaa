//! Sans-IO iSNS client session: the client registered as a Control node, management SCNs
//! and ESI answered, inventory walks (DevGetNext chains and one DevAttrQry per portal),
//! targeted re-queries and Discovery Domain operations. It does no I/O and reads no clock; `client_tokio` (feature `tokio`)
//! drives it over TCP.
//!
//! ```text
//!             handle_connected / handle_input / handle_closed        (the server connection)
//!  driver --> handle_inbound_open / handle_inbound / handle_inbound_closed   (isnsd's SCN/ESI
//!             handle_timeout(now)                                     connections to us)
//!  commands:  walk(), query_node(), create_dd(), add_dd_members(), remove_dd_members(),
//!             remove_dd(), register_initiator(), deregister_initiator()
//!  driver <-- poll_transmit() -> Transmit::{Connect, Server, CloseServer, Inbound, CloseInbound}
//!             poll_timeout() -> next deadline;  poll_event() -> Event
//! ```
//!
//! Life of a session: `Transmit::Connect`; once connected a Replace DevAttrReg of the
//! manager's entity (EID, protocol iSCSI, a portal carrying the SCN port and ESI port, the
//! Control node), reading back the Registration Period and ESI Interval the server granted;
//! an SCNReg with the management bit; then a full walk. The registration is refreshed at
//! half the granted period. A lost connection is retried after the [`Backoff`] delay and
//! leads to the same registration, SCNReg and full walk. Requests carry their own
//! transaction ID, are answered in any order, time out (isnsd silently drops some
//! requests), stay single PDUs within `max_pdu_len` (open-isns: 8 KiB) and at most
//! `max_in_flight` are outstanding. SCNs are answered and trigger a targeted DevAttrQry of
//! the named node (or a DD re-read); a periodic reconciliation walk repairs missed SCNs.
//!
//! Memory is bounded whatever the server does: receive buffers are capped at one PDU,
//! pending re-queries are de-duplicated and capped (an overflow turns into one full walk),
//! the event queue is capped (an overflow also schedules a walk), and walks stop at
//! `max_walk_objects`.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::{Duration, Instant};
//! use isns_proto::client::{ClientConfig, EntityId, Event, NodeName, Session, Transmit};
//! use isns_proto::{Message, Pdu, Status, Tag};
//!
//! let mut cfg = ClientConfig::new(
//!     NodeName::new("iqn.2026-01.example:manager")?,
//!     EntityId::new("manager.example")?,
//!     IpAddr::V4(Ipv4Addr::LOCALHOST),
//! );
//! // Driving the session yourself: the port your SCN listener is bound to.
//! cfg.scn_port = 3999;
//! let t0 = Instant::now();
//! let mut s = Session::new(cfg, t0);
//! assert_eq!(s.poll_transmit(), Some(Transmit::Connect));
//! s.handle_connected(t0);
//! let Some(Transmit::Server(reg)) = s.poll_transmit() else { unreachable!() };
//! let pdu = Pdu::parse(&reg)?;
//! // The server grants a 600 s registration period.
//! let mut rsp = bytes::BytesMut::new();
//! Message::response(pdu.function(), pdu.xid(), Status::SUCCESSFUL)
//!     .key(Tag::ENTITY_IDENTIFIER, "manager.example")
//!     .op(Tag::REGISTRATION_PERIOD, 600u32)
//!     .encode(&mut rsp)?;
//! s.handle_input(t0, &rsp);
//! let granted = std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
//!     Event::Registered(r) => Some(r.registration_period),
//!     _ => None,
//! });
//! assert_eq!(granted, Some(Some(Duration::from_secs(600))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod inbound;
mod model;
mod names;
mod portal_query;
mod session;

pub use error::{ClientError, DisconnectCause, OpError};
pub use model::{
    DdInfo, DdMember, EntityInfo, NodeInfo, OpOutcome, PortalGroupInfo, PortalInfo, PortalRef,
    Registration, ScnEntry, ScnNotice, Snapshot,
};
pub use names::{EntityId, NameError, NodeName};
pub use session::{Event, InboundId, OpId, Session, Transmit};

use core::net::IpAddr;
use core::time::Duration;

use crate::{NodeType, OPEN_ISNS_MAX_PDU_LEN, ScnBitmap};

/// Reconnect back-off: `initial`, multiplied by `factor` per failed attempt, capped at `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
    /// Growth per attempt (1 = constant).
    pub factor: u32,
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based).
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let mut d = self.initial;
        for _ in 0..attempt.min(32) {
            d = d.saturating_mul(self.factor.max(1));
            if d >= self.max {
                return self.max;
            }
        }
        d.min(self.max)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
            factor: 2,
        }
    }
}

/// Everything a [`Session`] needs to know up front.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// The client's Control node name, also the Source of every request.
    pub source_name: NodeName,
    /// The client's Entity Identifier.
    pub entity_id: EntityId,
    /// Address the server reaches the client's SCN/ESI listeners on.
    pub portal_ip: IpAddr,
    /// TCP port of the SCN listener (also the registered portal port). The tokio driver
    /// (`client_tokio::IsnsClient::start`) binds the listener
    /// and sets it; whoever drives [`Session`] directly sets it to their listener's port.
    pub scn_port: u16,
    /// TCP port of the ESI listener; `None` registers no ESI port.
    pub esi_port: Option<u16>,
    /// Registration Period to ask for (the server may grant another one).
    pub registration_period: Duration,
    /// ESI Interval to ask for (the server may change it).
    pub esi_interval: Duration,
    /// SCN bitmap registered for the Control node.
    pub scn_bitmap: ScnBitmap,
    /// How long a request may go unanswered.
    pub request_timeout: Duration,
    /// Most requests outstanding at once (at least 1).
    pub max_in_flight: usize,
    /// Most requests waiting to be sent.
    pub max_queued: usize,
    /// Largest PDU sent or accepted (open-isns: 8 KiB).
    pub max_pdu_len: usize,
    /// Largest PDU accepted from the server.
    pub max_rx_pdu_len: usize,
    /// Most node re-queries waiting (beyond it, one full walk replaces them).
    pub max_pending_requeries: usize,
    /// Most events waiting for [`Session::poll_event`].
    pub max_events: usize,
    /// Most simultaneous inbound (SCN/ESI) connections.
    pub max_inbound: usize,
    /// A walk stops with an error after this many objects.
    pub max_walk_objects: usize,
    /// Period of the reconciliation walk; `None` walks only after (re)registration.
    pub reconcile_interval: Option<Duration>,
    /// Node types whose entity and portals the walk reads (a DevAttrQry per node when
    /// [`ClientConfig::detail_by_portal`] is off or a portal's query failed).
    pub detail_node_types: NodeType,
    /// Read the nodes' entities, portals and portal groups with one DevAttrQry per portal
    /// (every node behind it in one answer) instead of one DevGetNext per portal group and
    /// one DevAttrQry per target. A portal whose answer the server refuses (open-isns: more
    /// nodes than its 8 KiB answer holds) gets its targets read one by one.
    pub detail_by_portal: bool,
    /// With [`ClientConfig::detail_by_portal`], list every initiator too (one DevAttrQry
    /// keyed by the node type; open-isns refuses it past ~100 initiators, and the walk then
    /// lists every node with DevGetNext). Off, the walk lists the nodes behind a portal only.
    pub walk_initiators: bool,
    /// Reconnect policy.
    pub backoff: Backoff,
}

impl ClientConfig {
    /// A configuration with the defaults: SCN port 0 (to be filled in, see
    /// [`ClientConfig::scn_port`]), 1 h period asked, no ESI port, 5 s request timeout,
    /// 8 requests in flight, 8 KiB PDUs, a reconciliation walk every 5 minutes.
    #[must_use]
    pub fn new(source_name: NodeName, entity_id: EntityId, portal_ip: IpAddr) -> ClientConfig {
        ClientConfig {
            source_name,
            entity_id,
            portal_ip,
            scn_port: 0,
            esi_port: None,
            registration_period: Duration::from_secs(3600),
            esi_interval: Duration::from_secs(60),
            scn_bitmap: ScnBitmap::MANAGEMENT
                | ScnBitmap::OBJECT_ADDED
                | ScnBitmap::OBJECT_REMOVED
                | ScnBitmap::OBJECT_UPDATED
                | ScnBitmap::MEMBER_ADDED
                | ScnBitmap::MEMBER_REMOVED,
            request_timeout: Duration::from_secs(5),
            max_in_flight: 8,
            max_queued: 65_536,
            max_pdu_len: OPEN_ISNS_MAX_PDU_LEN,
            max_rx_pdu_len: 65_536 + crate::HEADER_LEN,
            max_pending_requeries: 1024,
            max_events: 65_536,
            max_inbound: 16,
            max_walk_objects: 1_000_000,
            reconcile_interval: Some(Duration::from_secs(300)),
            detail_node_types: NodeType::TARGET,
            detail_by_portal: true,
            walk_initiators: true,
            backoff: Backoff::default(),
        }
    }
}

#[cfg(test)]
mod tests;
