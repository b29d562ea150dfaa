//! The client state machine.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use core::net::IpAddr;
use core::time::Duration;

use bytes::BytesMut;

use super::ClientConfig;
use super::error::{ClientError, DisconnectCause, OpError};
use super::inbound::Framer;
use super::model::{
    self, DdInfo, NodeInfo, OpOutcome, Registration, ScnNotice, Snapshot, owned_str, secs,
};
use super::names::{EntityId, NodeName};
use super::portal_query::{self, Reached};
use crate::{
    Attr, Body, DecodeError, EntityProtocol, FunctionId, Message, NodeType, Pdu, Port, Reassembler,
    Reassembly, ScnBitmap, Status, Tag, Tlv, Value,
};

/// Identifies a command; its result comes back as [`Event::OpCompleted`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

/// Identifies an inbound (server-initiated SCN/ESI) connection; chosen by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InboundId(pub u64);

/// What the driver must do on the network.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transmit {
    /// Open the TCP connection to the server, then call [`Session::handle_connected`]
    /// (or [`Session::handle_closed`] when that fails).
    Connect,
    /// Write these bytes (one PDU) to the server connection.
    Server(Vec<u8>),
    /// Close the server connection (the session already treats it as closed).
    CloseServer,
    /// Write these bytes (one PDU) to an inbound connection.
    Inbound {
        /// The connection.
        conn: InboundId,
        /// The PDU.
        bytes: Vec<u8>,
    },
    /// Close an inbound connection.
    CloseInbound {
        /// The connection.
        conn: InboundId,
    },
}

/// What the session reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The client is registered (also after every reconnect).
    Registered(Registration),
    /// The server connection was lost (or could not be opened); a reconnect follows after
    /// `retry_in`.
    Disconnected {
        /// Back-off delay before the next attempt.
        retry_in: Duration,
        /// Why.
        cause: DisconnectCause,
        /// Consecutive failed attempts so far (1 after the first loss).
        failures: u32,
    },
    /// A full walk finished.
    Walked(Snapshot),
    /// A targeted re-query read a node (entity and portals filled in).
    NodeChanged(NodeInfo),
    /// A targeted re-query found the node gone (or no longer visible).
    NodeRemoved {
        /// The node's iSCSI name.
        name: String,
    },
    /// A DD was re-read after a membership SCN.
    DdChanged(DdInfo),
    /// A DD was found gone after an SCN.
    DdRemoved {
        /// DD_ID.
        id: u32,
    },
    /// An SCN arrived (already answered; re-queries are queued).
    Scn(ScnNotice),
    /// An ESI arrived and was answered.
    Esi,
    /// A command finished.
    OpCompleted {
        /// The command.
        op: OpId,
        /// Its outcome.
        result: Result<OpOutcome, OpError>,
    },
    /// Something went wrong; the session keeps running.
    Error(ClientError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Chain {
    Entities,
    Portals,
    PortalGroups,
    Nodes,
    Dds,
}

impl Chain {
    const ALL: [Chain; 5] = [
        Chain::Entities,
        Chain::Portals,
        Chain::PortalGroups,
        Chain::Nodes,
        Chain::Dds,
    ];

    fn name(self) -> &'static str {
        match self {
            Chain::Entities => "entities",
            Chain::Portals => "portals",
            Chain::PortalGroups => "portal groups",
            Chain::Nodes => "nodes",
            Chain::Dds => "discovery domains",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum LastKey {
    Eid(String),
    Portal(IpAddr, Port),
    Pg(String, IpAddr, Port),
    Name(String),
    Dd(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Cmd {
    QueryNode(String),
    CreateDd {
        name: String,
        members: Vec<String>,
    },
    AddMembers {
        id: u32,
        members: Vec<String>,
    },
    RemoveMembers {
        id: u32,
        members: Vec<String>,
    },
    RemoveDd(u32),
    RegisterInitiator {
        name: String,
        entity: String,
        alias: Option<String>,
    },
    DeregisterInitiator(String),
    ScnReg {
        node: String,
        bitmap: ScnBitmap,
    },
    ScnDereg(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Req {
    Register {
        esi: bool,
    },
    Refresh,
    ScnReg,
    WalkStep {
        walk: u64,
        chain: Chain,
        last: Option<LastKey>,
    },
    NodeDetail {
        walk: u64,
        name: String,
    },
    /// The nodes behind one portal (see `portal_query`).
    PortalDetail {
        walk: u64,
        ip: IpAddr,
        port: Port,
    },
    /// Every initiator (see `portal_query`).
    Initiators {
        walk: u64,
    },
    Requery(String),
    DdRequery(u32),
    Op {
        op: OpId,
        cmd: Cmd,
        /// Counted from when the command was issued, not from when it was sent.
        deadline: Instant,
    },
}

impl Req {
    fn before_ready(&self) -> bool {
        matches!(self, Req::Register { .. })
    }

    fn is_walk(&self) -> bool {
        matches!(
            self,
            Req::WalkStep { .. }
                | Req::NodeDetail { .. }
                | Req::PortalDetail { .. }
                | Req::Initiators { .. }
        )
    }

    fn deadline(&self) -> Option<Instant> {
        match self {
            Req::Op { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct InFlight {
    xid: u16,
    function: FunctionId,
    deadline: Instant,
    req: Req,
}

/// The server connection's state; each variant holds only what is valid in it.
#[derive(Debug)]
enum State {
    /// Not connected; the next attempt is due at `retry_at`.
    Idle { retry_at: Instant, attempt: u32 },
    /// [`Transmit::Connect`] was issued; waiting for the driver.
    Connecting { attempt: u32 },
    /// Connected; the registration is in flight.
    Registering { attempt: u32 },
    /// Registered; `refresh_at` is when the registration is renewed.
    Ready {
        registration: Registration,
        refresh_at: Option<Instant>,
    },
}

#[derive(Debug)]
struct Walk {
    id: u64,
    open_chains: usize,
    pending_details: usize,
    objects: usize,
    snapshot: Snapshot,
    node_index: BTreeMap<String, usize>,
    /// What the per-portal and initiator queries found (applied when the chains are done).
    reached: Reached,
    /// One of those queries failed: the nodes are listed with DevGetNext, and the targets
    /// no answer covered are read one by one.
    need_nodes: bool,
    /// The DevGetNext node chain was started.
    nodes_chain: bool,
    /// The per-target queries that make up for unread nodes were queued.
    backfilled: bool,
}

#[derive(Debug, Default)]
struct InboundConn {
    framer: Framer,
}

/// The sans-IO iSNS client session (see the [module docs](super)).
#[derive(Debug)]
pub struct Session {
    cfg: ClientConfig,
    state: State,
    next_xid: u16,
    next_op: u64,
    next_walk_id: u64,
    rx: Framer,
    reassembler: Reassembler,
    urgent: VecDeque<Req>,
    background: VecDeque<Req>,
    in_flight: Vec<InFlight>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    dropped_events: u64,
    inbound: BTreeMap<InboundId, InboundConn>,
    walk: Option<Walk>,
    walk_due: Option<Instant>,
    walk_now: bool,
    requery_names: BTreeSet<String>,
    requery_dds: BTreeSet<u32>,
    last_cause: Option<DisconnectCause>,
    last_error: Option<ClientError>,
    failures: u32,
}

const MAX_SCN_ENTRIES: usize = 1024;
const MAX_DD_MEMBERS: usize = 65_536;

impl Session {
    /// A session whose first transmit is [`Transmit::Connect`]. `now` is the caller's clock.
    #[must_use]
    pub fn new(cfg: ClientConfig, now: Instant) -> Session {
        let _ = now;
        Session {
            reassembler: Reassembler::new(cfg.max_rx_pdu_len.saturating_mul(4), 4),
            cfg,
            state: State::Connecting { attempt: 0 },
            next_xid: 1,
            next_op: 1,
            next_walk_id: 1,
            rx: Framer::default(),
            urgent: VecDeque::new(),
            background: VecDeque::new(),
            in_flight: Vec::new(),
            transmits: VecDeque::from([Transmit::Connect]),
            events: VecDeque::new(),
            dropped_events: 0,
            inbound: BTreeMap::new(),
            walk: None,
            walk_due: None,
            walk_now: false,
            requery_names: BTreeSet::new(),
            requery_dds: BTreeSet::new(),
            last_cause: None,
            last_error: None,
            failures: 0,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// The registration granted, while registered.
    #[must_use]
    pub fn registration(&self) -> Option<&Registration> {
        match &self.state {
            State::Ready { registration, .. } => Some(registration),
            _ => None,
        }
    }

    /// True while registered.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    /// True while a full walk is running.
    #[must_use]
    pub fn is_walking(&self) -> bool {
        self.walk.is_some()
    }

    /// Requests outstanding.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Requests waiting to be sent.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.urgent.len() + self.background.len()
    }

    /// Bytes held in receive buffers (server and inbound connections).
    #[must_use]
    pub fn buffered_bytes(&self) -> usize {
        self.rx.held()
            + self.reassembler.held_bytes()
            + self
                .inbound
                .values()
                .map(|c| c.framer.held())
                .sum::<usize>()
    }

    /// Events waiting.
    #[must_use]
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Why the server connection was last lost, until the next registration succeeds.
    #[must_use]
    pub fn last_disconnect(&self) -> Option<&DisconnectCause> {
        self.last_cause.as_ref()
    }

    // ----- driver input -------------------------------------------------------------

    /// The server connection is up: the registration goes out.
    pub fn handle_connected(&mut self, now: Instant) {
        let attempt = match self.state {
            State::Connecting { attempt } | State::Idle { attempt, .. } => attempt,
            // A duplicate notification changes nothing.
            State::Registering { .. } | State::Ready { .. } => return,
        };
        self.rx.clear();
        self.reassembler = Reassembler::new(self.cfg.max_rx_pdu_len.saturating_mul(4), 4);
        self.state = State::Registering { attempt };
        let esi = self.cfg.esi_port.is_some();
        self.urgent.push_front(Req::Register { esi });
        self.pump(now);
    }

    /// The server closed the connection (end of stream). Same as
    /// [`Session::handle_closed_because`] with [`DisconnectCause::Closed`].
    pub fn handle_closed(&mut self, now: Instant) {
        self.handle_closed_because(now, DisconnectCause::Closed);
    }

    /// The server connection closed or could not be opened, for `cause` (see
    /// [`DisconnectCause::from_io`] for I/O errors).
    pub fn handle_closed_because(&mut self, now: Instant, cause: DisconnectCause) {
        let attempt = match self.state {
            State::Idle { .. } => return,
            State::Connecting { attempt } | State::Registering { attempt } => attempt + 1,
            State::Ready { .. } => 0,
        };
        self.drop_connection(now, attempt, cause);
    }

    /// Bytes from the server connection.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if !matches!(self.state, State::Registering { .. } | State::Ready { .. }) {
            return;
        }
        self.rx.push(bytes);
        loop {
            let n = match self.rx.next_len(self.cfg.max_rx_pdu_len) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(e) => {
                    self.error(ClientError::Framing(e));
                    self.transmits.push_back(Transmit::CloseServer);
                    let attempt = match self.state {
                        State::Registering { attempt } => attempt + 1,
                        _ => 0,
                    };
                    let cause = DisconnectCause::Protocol(ClientError::Framing(e));
                    self.drop_connection(now, attempt, cause);
                    return;
                }
            };
            let frame = self.rx.bytes().get(..n).unwrap_or(&[]).to_vec();
            self.rx.consume(n);
            self.server_pdu(now, &frame);
            if !matches!(self.state, State::Registering { .. } | State::Ready { .. }) {
                return;
            }
        }
        self.pump(now);
    }

    /// The server opened a connection to the SCN or ESI listener.
    pub fn handle_inbound_open(&mut self, conn: InboundId) {
        if self.inbound.len() >= self.cfg.max_inbound {
            self.error(ClientError::TooManyInbound {
                max: self.cfg.max_inbound,
            });
            self.transmits.push_back(Transmit::CloseInbound { conn });
            return;
        }
        self.inbound.insert(conn, InboundConn::default());
    }

    /// Bytes from an inbound connection.
    pub fn handle_inbound(&mut self, now: Instant, conn: InboundId, bytes: &[u8]) {
        let Some(c) = self.inbound.get_mut(&conn) else {
            return;
        };
        c.framer.push(bytes);
        loop {
            let Some(c) = self.inbound.get_mut(&conn) else {
                return;
            };
            let n = match c.framer.next_len(self.cfg.max_rx_pdu_len) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(error) => {
                    self.inbound.remove(&conn);
                    self.error(ClientError::InboundFraming {
                        conn: conn.0,
                        error,
                    });
                    self.transmits.push_back(Transmit::CloseInbound { conn });
                    return;
                }
            };
            let frame = c.framer.bytes().get(..n).unwrap_or(&[]).to_vec();
            c.framer.consume(n);
            self.notification_pdu(now, Some(conn), &frame);
        }
        self.pump(now);
    }

    /// An inbound connection closed.
    pub fn handle_inbound_closed(&mut self, conn: InboundId) {
        self.inbound.remove(&conn);
    }

    /// Time passed: retries, timeouts, refreshes, reconciliation walks.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Idle { retry_at, attempt } = self.state
            && now >= retry_at
        {
            self.state = State::Connecting { attempt };
            self.transmits.push_back(Transmit::Connect);
        }
        // Request timeouts.
        let mut expired = Vec::new();
        self.in_flight.retain_mut(|f| {
            if now >= f.deadline {
                expired.push((f.xid, f.function, f.req.clone()));
                false
            } else {
                true
            }
        });
        let after = self.cfg.request_timeout;
        self.expire_queued(now);
        let mut lost_registration = false;
        for (xid, function, req) in expired {
            self.error(ClientError::Timeout {
                function,
                xid,
                after,
            });
            match req {
                Req::Register { .. } => lost_registration = true,
                other => self.request_failed(now, other, OpError::Timeout(after)),
            }
        }
        if lost_registration {
            // A server that does not answer its registration is as good as gone.
            self.transmits.push_back(Transmit::CloseServer);
            let attempt = match self.state {
                State::Registering { attempt } => attempt + 1,
                _ => 0,
            };
            self.drop_connection(now, attempt, DisconnectCause::RegistrationTimeout(after));
        }
        if let State::Ready { refresh_at, .. } = &mut self.state
            && refresh_at.is_some_and(|t| now >= t)
        {
            *refresh_at = None;
            self.urgent.push_front(Req::Refresh);
        }
        if self.walk.is_none() && self.walk_due.is_some_and(|t| now >= t) && self.is_ready() {
            self.start_walk();
        }
        self.pump(now);
    }

    // ----- driver output ------------------------------------------------------------

    /// The next network action.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next deadline at which [`Session::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut min = |x: Instant| t = Some(t.map_or(x, |t| t.min(x)));
        match &self.state {
            State::Idle { retry_at, .. } => min(*retry_at),
            State::Ready { refresh_at, .. } => {
                if let Some(r) = refresh_at {
                    min(*r);
                }
                if self.walk.is_none()
                    && let Some(w) = self.walk_due
                {
                    min(w);
                }
            }
            State::Connecting { .. } | State::Registering { .. } => {}
        }
        if let Some(d) = self.in_flight.iter().map(|f| f.deadline).min() {
            min(d);
        }
        if let Some(d) = self.urgent.iter().filter_map(Req::deadline).min() {
            min(d);
        }
        t
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ----- commands -----------------------------------------------------------------

    /// Starts a full walk now (ignored while one runs or before registration: one follows
    /// every registration anyway).
    pub fn walk(&mut self, now: Instant) {
        if self.is_ready() && self.walk.is_none() {
            self.start_walk();
            self.pump(now);
        } else if !self.is_ready() {
            self.walk_now = true;
        }
    }

    /// Reads one node (entity, portals, type, alias); answers with
    /// [`OpOutcome::Node`].
    ///
    /// # Errors
    /// [`ClientError::QueueFull`].
    pub fn query_node(&mut self, now: Instant, name: &str) -> Result<OpId, ClientError> {
        self.command(now, Cmd::QueryNode(name.to_owned()))
    }

    /// Creates a DD named `name` with `members` (iSCSI names; may be empty); answers with
    /// [`OpOutcome::DdCreated`].
    ///
    /// # Errors
    /// [`ClientError::QueueFull`], or [`ClientError::Encode`] when the message would not
    /// fit one PDU.
    pub fn create_dd(
        &mut self,
        now: Instant,
        name: &str,
        members: &[&str],
    ) -> Result<OpId, ClientError> {
        self.command(
            now,
            Cmd::CreateDd {
                name: name.to_owned(),
                members: members.iter().map(|m| (*m).to_owned()).collect(),
            },
        )
    }

    /// Adds target or initiator members to DD `id` (isnsd needs the ID, not the name).
    ///
    /// # Errors
    /// As [`Session::create_dd`].
    pub fn add_dd_members(
        &mut self,
        now: Instant,
        id: u32,
        members: &[&str],
    ) -> Result<OpId, ClientError> {
        self.command(
            now,
            Cmd::AddMembers {
                id,
                members: members.iter().map(|m| (*m).to_owned()).collect(),
            },
        )
    }

    /// Removes members from DD `id`.
    ///
    /// # Errors
    /// As [`Session::create_dd`].
    pub fn remove_dd_members(
        &mut self,
        now: Instant,
        id: u32,
        members: &[&str],
    ) -> Result<OpId, ClientError> {
        self.command(
            now,
            Cmd::RemoveMembers {
                id,
                members: members.iter().map(|m| (*m).to_owned()).collect(),
            },
        )
    }

    /// Removes DD `id` (its members stay registered).
    ///
    /// # Errors
    /// [`ClientError::QueueFull`].
    pub fn remove_dd(&mut self, now: Instant, id: u32) -> Result<OpId, ClientError> {
        self.command(now, Cmd::RemoveDd(id))
    }

    /// Registers an initiator node on behalf of a server, in its own entity `entity`.
    ///
    /// # Errors
    /// As [`Session::create_dd`].
    pub fn register_initiator(
        &mut self,
        now: Instant,
        name: &NodeName,
        entity: &EntityId,
        alias: Option<&str>,
    ) -> Result<OpId, ClientError> {
        self.command(
            now,
            Cmd::RegisterInitiator {
                name: name.as_str().to_owned(),
                entity: entity.as_str().to_owned(),
                alias: alias.map(str::to_owned),
            },
        )
    }

    /// Deregisters an initiator node.
    ///
    /// # Errors
    /// [`ClientError::QueueFull`].
    pub fn deregister_initiator(&mut self, now: Instant, name: &str) -> Result<OpId, ClientError> {
        self.command(now, Cmd::DeregisterInitiator(name.to_owned()))
    }

    /// Registers `node` for SCNs with `bitmap` on its behalf (a Control node may, RFC 4171
    /// §5.6.5.5); answers with [`OpOutcome::ScnUpdated`]. With [`Session::scn_dereg`] first,
    /// this renews isnsd's notification state for a node (see `ClientConfig` docs).
    ///
    /// # Errors
    /// [`ClientError::QueueFull`].
    pub fn scn_reg(
        &mut self,
        now: Instant,
        node: &str,
        bitmap: ScnBitmap,
    ) -> Result<OpId, ClientError> {
        self.command(
            now,
            Cmd::ScnReg {
                node: node.to_owned(),
                bitmap,
            },
        )
    }

    /// Removes `node`'s SCN registration; answers with [`OpOutcome::ScnUpdated`].
    ///
    /// # Errors
    /// [`ClientError::QueueFull`].
    pub fn scn_dereg(&mut self, now: Instant, node: &str) -> Result<OpId, ClientError> {
        self.command(now, Cmd::ScnDereg(node.to_owned()))
    }

    fn command(&mut self, now: Instant, cmd: Cmd) -> Result<OpId, ClientError> {
        let op = OpId(self.next_op);
        let deadline = now + self.cfg.request_timeout;
        let req = Req::Op { op, cmd, deadline };
        // Refuse at once what could never be sent.
        self.build(0, &req).map_err(ClientError::Encode)?;
        if self.queued() >= self.cfg.max_queued {
            return Err(ClientError::QueueFull {
                max: self.cfg.max_queued,
            });
        }
        self.next_op += 1;
        self.urgent.push_back(req);
        self.pump(now);
        Ok(op)
    }

    // ----- internals ----------------------------------------------------------------

    /// Queues the SCN registration first in line, unless the bitmap is empty, which means
    /// "no SCNs".
    fn queue_scn_reg(&mut self) {
        if !self.cfg.scn_bitmap.is_empty() {
            self.urgent.push_front(Req::ScnReg);
        }
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= self.cfg.max_events {
            self.dropped_events += 1;
            // Something was missed: repair with a walk once the queue drains.
            self.walk_now = true;
            return;
        }
        if self.dropped_events > 0 && self.events.len() + 1 < self.cfg.max_events {
            let dropped = core::mem::take(&mut self.dropped_events);
            self.events
                .push_back(Event::Error(ClientError::EventsDropped {
                    dropped,
                    max: self.cfg.max_events,
                }));
        }
        self.events.push_back(e);
    }

    fn error(&mut self, e: ClientError) {
        self.last_error = Some(e.clone());
        self.push_event(Event::Error(e));
    }

    /// Fails the commands still waiting to be sent whose deadline has passed.
    fn expire_queued(&mut self, now: Instant) {
        let mut expired = Vec::new();
        self.urgent.retain(|r| match r {
            Req::Op { op, deadline, .. } if now >= *deadline => {
                expired.push(*op);
                false
            }
            _ => true,
        });
        let after = self.cfg.request_timeout;
        for op in expired {
            let result = Err(match &self.last_cause {
                Some(cause) => OpError::Unreachable {
                    after,
                    cause: cause.clone(),
                },
                None => OpError::Timeout(after),
            });
            self.push_event(Event::OpCompleted { op, result });
        }
    }

    fn alloc_xid(&mut self) -> u16 {
        loop {
            let x = self.next_xid;
            self.next_xid = self.next_xid.wrapping_add(1).max(1);
            if !self.in_flight.iter().any(|f| f.xid == x) {
                return x;
            }
        }
    }

    fn pump(&mut self, now: Instant) {
        if self.walk_now && self.is_ready() && self.walk.is_none() {
            self.walk_now = false;
            self.start_walk();
        }
        let ready = match self.state {
            State::Ready { .. } => true,
            State::Registering { .. } => false,
            State::Idle { .. } | State::Connecting { .. } => return,
        };
        while self.in_flight.len() < self.cfg.max_in_flight.max(1) {
            let req = if ready {
                match self.urgent.pop_front() {
                    Some(r) => r,
                    None => match self.background.pop_front() {
                        Some(r) => r,
                        None => break,
                    },
                }
            } else {
                match self.urgent.iter().position(Req::before_ready) {
                    Some(p) => match self.urgent.remove(p) {
                        Some(r) => r,
                        None => break,
                    },
                    None => break,
                }
            };
            match &req {
                Req::Requery(name) => {
                    self.requery_names.remove(name);
                }
                Req::DdRequery(id) => {
                    self.requery_dds.remove(id);
                }
                _ => {}
            }
            let xid = self.alloc_xid();
            match self.build(xid, &req) {
                Ok((function, bytes)) => {
                    self.in_flight.push(InFlight {
                        xid,
                        function,
                        deadline: req.deadline().unwrap_or(now + self.cfg.request_timeout),
                        req,
                    });
                    self.transmits.push_back(Transmit::Server(bytes));
                }
                Err(e) => {
                    self.error(ClientError::Encode(e));
                    self.request_failed(now, req, OpError::Malformed(e.to_string()));
                }
            }
        }
    }

    fn build(&self, xid: u16, req: &Req) -> Result<(FunctionId, Vec<u8>), crate::EncodeError> {
        let src = self.cfg.source_name.as_str();
        let eid = self.cfg.entity_id.as_str();
        let period = u32::try_from(self.cfg.registration_period.as_secs()).unwrap_or(u32::MAX);
        let m = match req {
            Req::Register { esi } => {
                let scn = Port::tcp(self.cfg.scn_port);
                let mut m = Message::dev_attr_reg(xid, src)
                    .replace(true)
                    .key(Tag::ENTITY_IDENTIFIER, eid)
                    .entity(eid, EntityProtocol::ISCSI)
                    .op(Tag::REGISTRATION_PERIOD, period)
                    .portal(self.cfg.portal_ip, scn)
                    .op(Tag::SCN_PORT, scn);
                if let (true, Some(esi_port)) = (*esi, self.cfg.esi_port) {
                    let interval =
                        u32::try_from(self.cfg.esi_interval.as_secs()).unwrap_or(u32::MAX);
                    m = m
                        .op(Tag::ESI_INTERVAL, interval)
                        .op(Tag::ESI_PORT, Port::tcp(esi_port));
                }
                m.node(src, NodeType::CONTROL)
            }
            Req::Refresh => Message::dev_attr_reg(xid, src)
                .key(Tag::ENTITY_IDENTIFIER, eid)
                .op(Tag::ENTITY_IDENTIFIER, eid)
                .op(Tag::REGISTRATION_PERIOD, period),
            Req::ScnReg => Message::scn_reg(xid, src, src, self.cfg.scn_bitmap),
            Req::WalkStep { chain, last, .. } => {
                let m = Message::dev_get_next(xid, src);
                match (chain, last) {
                    (Chain::Entities, Some(LastKey::Eid(e))) => {
                        m.key(Tag::ENTITY_IDENTIFIER, e.as_str())
                    }
                    (Chain::Entities, _) => m.key(Tag::ENTITY_IDENTIFIER, Value::Empty),
                    (Chain::Portals, Some(LastKey::Portal(ip, port))) => m
                        .key(Tag::PORTAL_IP_ADDRESS, *ip)
                        .key(Tag::PORTAL_PORT, *port),
                    (Chain::Portals, _) => m
                        .key(Tag::PORTAL_IP_ADDRESS, Value::Empty)
                        .key(Tag::PORTAL_PORT, Value::Empty),
                    (Chain::PortalGroups, Some(LastKey::Pg(n, ip, port))) => m
                        .key(Tag::PG_ISCSI_NAME, n.as_str())
                        .key(Tag::PG_PORTAL_IP_ADDR, *ip)
                        .key(Tag::PG_PORTAL_PORT, *port),
                    (Chain::PortalGroups, _) => m
                        .key(Tag::PG_ISCSI_NAME, Value::Empty)
                        .key(Tag::PG_PORTAL_IP_ADDR, Value::Empty)
                        .key(Tag::PG_PORTAL_PORT, Value::Empty),
                    (Chain::Nodes, Some(LastKey::Name(n))) => m.key(Tag::ISCSI_NAME, n.as_str()),
                    (Chain::Nodes, _) => m.key(Tag::ISCSI_NAME, Value::Empty),
                    (Chain::Dds, Some(LastKey::Dd(id))) => m.key(Tag::DD_ID, *id),
                    (Chain::Dds, _) => m.key(Tag::DD_ID, Value::Empty),
                }
            }
            Req::NodeDetail { name, .. } | Req::Requery(name) => {
                node_query(Message::dev_attr_qry(xid, src).key(Tag::ISCSI_NAME, name.as_str()))
            }
            Req::DdRequery(id) => Message::dev_attr_qry(xid, src).key(Tag::DD_ID, *id),
            Req::Initiators { .. } => {
                let mut m = Message::dev_attr_qry(xid, src)
                    .key(Tag::ISCSI_NODE_TYPE, NodeType::INITIATOR.bits());
                for tag in portal_query::WANTED {
                    m = m.query(tag);
                }
                m
            }
            Req::PortalDetail { ip, port, .. } => {
                let mut m = Message::dev_attr_qry(xid, src)
                    .key(Tag::PORTAL_IP_ADDRESS, *ip)
                    .key(Tag::PORTAL_PORT, *port);
                for tag in portal_query::WANTED {
                    m = m.query(tag);
                }
                m
            }
            Req::Op { cmd, .. } => match cmd {
                Cmd::QueryNode(name) => {
                    node_query(Message::dev_attr_qry(xid, src).key(Tag::ISCSI_NAME, name.as_str()))
                }
                Cmd::CreateDd {
                    name,
                    members: list,
                } => members(
                    Message::dd_reg(xid, src, None).op(Tag::DD_SYMBOLIC_NAME, name.as_str()),
                    list,
                ),
                Cmd::AddMembers { id, members: list } => {
                    members(Message::dd_reg(xid, src, Some(*id)), list)
                }
                Cmd::RemoveMembers { id, members: list } => {
                    members(Message::dd_dereg(xid, src, *id), list)
                }
                Cmd::RemoveDd(id) => Message::dd_dereg(xid, src, *id),
                Cmd::RegisterInitiator {
                    name,
                    entity,
                    alias,
                } => {
                    let m = Message::dev_attr_reg(xid, name.as_str())
                        .key(Tag::ENTITY_IDENTIFIER, entity.as_str())
                        .entity(entity.as_str(), EntityProtocol::ISCSI)
                        .node(name.as_str(), NodeType::INITIATOR);
                    match alias {
                        Some(a) => m.op(Tag::ISCSI_ALIAS, a.as_str()),
                        None => m,
                    }
                }
                Cmd::DeregisterInitiator(name) => {
                    Message::dev_dereg(xid, src).op(Tag::ISCSI_NAME, name.as_str())
                }
                Cmd::ScnReg { node, bitmap } => Message::scn_reg(xid, src, node.as_str(), *bitmap),
                Cmd::ScnDereg(node) => Message::scn_dereg(xid, src, node.as_str()),
            },
        };
        let mut out = BytesMut::new();
        let len = m.encode(&mut out)?;
        if len > self.cfg.max_pdu_len {
            return Err(crate::EncodeError::PayloadTooLarge {
                len,
                max: self.cfg.max_pdu_len,
            });
        }
        Ok((m.function, out.to_vec()))
    }

    fn drop_connection(&mut self, now: Instant, attempt: u32, cause: DisconnectCause) {
        for f in core::mem::take(&mut self.in_flight) {
            if let Req::Op { op, .. } = f.req {
                self.push_event(Event::OpCompleted {
                    op,
                    result: Err(OpError::Disconnected(cause.clone())),
                });
            }
        }
        // Commands wait for the next connection; everything else is redone by the walk
        // that follows the re-registration.
        self.urgent.retain(|r| matches!(r, Req::Op { .. }));
        self.background.clear();
        self.requery_names.clear();
        self.requery_dds.clear();
        self.walk = None;
        self.walk_now = false;
        self.rx.clear();
        let retry_in = self.cfg.backoff.delay(attempt);
        self.state = State::Idle {
            retry_at: now + retry_in,
            attempt,
        };
        self.failures = self.failures.saturating_add(1);
        self.last_cause = Some(cause.clone());
        self.push_event(Event::Disconnected {
            retry_in,
            cause,
            failures: self.failures,
        });
    }

    fn start_walk(&mut self) {
        let id = self.next_walk_id;
        self.next_walk_id += 1;
        let by_portal = self.cfg.detail_by_portal;
        let chains: &[Chain] = if by_portal {
            // Nodes and portal groups come with the per-portal and initiator answers.
            &[Chain::Entities, Chain::Portals, Chain::Dds]
        } else {
            &Chain::ALL
        };
        self.walk = Some(Walk {
            id,
            open_chains: chains.len(),
            pending_details: usize::from(by_portal && self.cfg.walk_initiators),
            objects: 0,
            snapshot: Snapshot::default(),
            node_index: BTreeMap::new(),
            reached: Reached::new(),
            need_nodes: false,
            nodes_chain: false,
            backfilled: false,
        });
        self.walk_due = None;
        self.background.retain(|r| !r.is_walk());
        if by_portal && self.cfg.walk_initiators {
            self.background.push_back(Req::Initiators { walk: id });
        }
        for &chain in chains {
            self.background.push_back(Req::WalkStep {
                walk: id,
                chain,
                last: None,
            });
        }
    }

    /// One per-portal answer: what it says about each node is kept for the end of the
    /// walk; a failure (open-isns: the answer would not fit its 8 KiB buffer) makes the
    /// walk read the targets it did not reach one by one.
    fn portal_answer(
        &mut self,
        now: Instant,
        walk: u64,
        status: Status,
        rsp: &crate::Response<'_>,
    ) -> Result<(), DecodeError> {
        let max = self.cfg.max_walk_objects;
        let Some(w) = self.walk.as_mut().filter(|w| w.id == walk) else {
            return Ok(());
        };
        w.pending_details = w.pending_details.saturating_sub(1);
        if status.is_success() {
            let read = portal_query::read(
                rsp.operating(),
                &mut w.reached,
                &mut w.snapshot.portal_groups,
                max,
            )?;
            // A portal whose answer names no node: its entity's nodes were registered
            // without portal groups (open-isns then relates none to the portal), so only
            // the node chain can list them.
            if read == 0 {
                w.need_nodes = true;
            }
            w.objects += read;
            if w.objects > max {
                self.abort_walk(
                    now,
                    ClientError::WalkRunaway {
                        object: "portal nodes",
                        reason: "more objects than max_walk_objects",
                    },
                );
                return Ok(());
            }
        } else if status != Status::NO_SUCH_ENTRY {
            w.need_nodes = true;
        }
        self.finish_walk_if_done(now);
        Ok(())
    }

    fn abort_walk(&mut self, now: Instant, e: ClientError) {
        self.walk = None;
        self.background.retain(|r| !r.is_walk());
        self.walk_due = Some(now + self.cfg.request_timeout);
        self.error(e);
    }

    fn finish_walk_if_done(&mut self, now: Instant) {
        if self.cfg.detail_by_portal && self.backfill_nodes() {
            return;
        }
        if self
            .walk
            .as_ref()
            .is_some_and(|w| w.open_chains == 0 && w.pending_details == 0)
            && let Some(w) = self.walk.take()
        {
            self.walk_due = self.cfg.reconcile_interval.map(|d| now + d);
            self.push_event(Event::Walked(w.snapshot));
        }
    }

    /// Once the chains and the per-portal queries are done: gives each node what the
    /// per-portal answers said, and queues a per-target query for each target they did not
    /// cover. Returns whether such queries are now outstanding.
    fn backfill_nodes(&mut self) -> bool {
        let detail = self.cfg.detail_node_types;
        let Some(w) = self
            .walk
            .as_mut()
            .filter(|w| w.open_chains == 0 && w.pending_details == 0 && !w.backfilled)
        else {
            return false;
        };
        let walk = w.id;
        if w.need_nodes && !w.nodes_chain {
            w.nodes_chain = true;
            w.open_chains += 1;
            self.background.push_back(Req::WalkStep {
                walk,
                chain: Chain::Nodes,
                last: None,
            });
            return true;
        }
        w.backfilled = true;
        let mut reached = core::mem::take(&mut w.reached);
        let mut missing = Vec::new();
        // The listed nodes (when a query failed), completed by the answers.
        for n in &mut w.snapshot.nodes {
            match reached.remove(&n.name) {
                Some(r) => {
                    n.entity = r.entity;
                    n.portals = r.portals;
                    if n.alias.is_none() {
                        n.alias = r.alias;
                    }
                }
                None if n.node_type.intersects(detail) => missing.push(n.name.clone()),
                None => {}
            }
        }
        // The nodes only the answers named.
        for (name, n) in reached {
            w.node_index.insert(name, w.snapshot.nodes.len());
            w.snapshot.nodes.push(n);
        }
        w.pending_details += missing.len();
        let queued = !missing.is_empty();
        for name in missing {
            self.background.push_back(Req::NodeDetail { walk, name });
        }
        queued
    }

    fn request_failed(&mut self, now: Instant, req: Req, err: OpError) {
        match req {
            Req::Register { .. } => {}
            Req::Refresh => {
                if let State::Ready { refresh_at, .. } = &mut self.state {
                    *refresh_at = Some(now + self.cfg.request_timeout);
                }
            }
            Req::ScnReg => self.urgent.push_back(Req::ScnReg),
            Req::WalkStep { walk, chain, .. } => {
                if self.walk.as_ref().is_some_and(|w| w.id == walk) {
                    self.abort_walk(
                        now,
                        ClientError::WalkRunaway {
                            object: chain.name(),
                            reason: "a step went unanswered",
                        },
                    );
                }
            }
            Req::NodeDetail { walk, .. } => {
                if self.walk.as_ref().is_some_and(|w| w.id == walk) {
                    self.abort_walk(
                        now,
                        ClientError::WalkRunaway {
                            object: "node details",
                            reason: "a node query went unanswered",
                        },
                    );
                }
            }
            Req::PortalDetail { walk, .. } | Req::Initiators { walk } => {
                if self.walk.as_ref().is_some_and(|w| w.id == walk) {
                    self.abort_walk(
                        now,
                        ClientError::WalkRunaway {
                            object: "portal nodes",
                            reason: "a portal query went unanswered",
                        },
                    );
                }
            }
            Req::Requery(name) => self.requery_node(&name),
            Req::DdRequery(id) => self.requery_dd(id),
            Req::Op { op, .. } => self.push_event(Event::OpCompleted {
                op,
                result: Err(err),
            }),
        }
    }

    fn requery_node(&mut self, name: &str) {
        if self.requery_names.contains(name) {
            return;
        }
        if self.requery_names.len() >= self.cfg.max_pending_requeries {
            self.requery_overflow();
            return;
        }
        self.requery_names.insert(name.to_owned());
        self.urgent.push_back(Req::Requery(name.to_owned()));
    }

    fn requery_dd(&mut self, id: u32) {
        if self.requery_dds.contains(&id) {
            return;
        }
        if self.requery_dds.len() >= self.cfg.max_pending_requeries {
            self.requery_overflow();
            return;
        }
        self.requery_dds.insert(id);
        self.urgent.push_back(Req::DdRequery(id));
    }

    fn requery_overflow(&mut self) {
        self.urgent
            .retain(|r| !matches!(r, Req::Requery(_) | Req::DdRequery(_)));
        self.requery_names.clear();
        self.requery_dds.clear();
        self.walk_now = true;
        self.error(ClientError::RequeryOverflow {
            max: self.cfg.max_pending_requeries,
        });
    }

    fn server_pdu(&mut self, now: Instant, frame: &[u8]) {
        let raw_function = FunctionId(be16(frame, 2));
        let raw_xid = be16(frame, 8);
        let pdu = match Pdu::parse(frame) {
            Ok(p) => p,
            Err(error) => {
                self.malformed(now, raw_function, raw_xid, error);
                return;
            }
        };
        match self.reassembler.push(&pdu) {
            Ok(Reassembly::Whole(p)) => {
                self.dispatch(
                    now,
                    None,
                    p.function(),
                    p.xid(),
                    p.payload(),
                    crate::HEADER_LEN,
                );
            }
            Ok(Reassembly::Assembled(a)) => {
                self.dispatch(now, None, a.function, a.xid, &a.payload, 0);
            }
            Ok(Reassembly::Pending) => {}
            Err(error) => self.malformed(now, raw_function, raw_xid, error),
        }
    }

    fn notification_pdu(&mut self, now: Instant, conn: Option<InboundId>, frame: &[u8]) {
        let raw_function = FunctionId(be16(frame, 2));
        let raw_xid = be16(frame, 8);
        match Pdu::parse(frame) {
            Ok(p) => self.dispatch(
                now,
                conn,
                p.function(),
                p.xid(),
                p.payload(),
                crate::HEADER_LEN,
            ),
            Err(error) => self.error(ClientError::Malformed {
                function: raw_function,
                xid: raw_xid,
                error,
            }),
        }
    }

    /// A PDU that framed but did not decode: report it and fail its request, if any.
    fn malformed(&mut self, now: Instant, function: FunctionId, xid: u16, error: DecodeError) {
        let msg = error.to_string();
        self.error(ClientError::Malformed {
            function,
            xid,
            error,
        });
        if function.is_response()
            && let Some(i) = self.in_flight.iter().position(|f| f.xid == xid)
        {
            let f = self.in_flight.swap_remove(i);
            self.fail_in_flight(now, f.req, OpError::Malformed(msg));
        }
    }

    fn fail_in_flight(&mut self, now: Instant, req: Req, err: OpError) {
        if let Req::Register { .. } = req {
            self.transmits.push_back(Transmit::CloseServer);
            let attempt = match self.state {
                State::Registering { attempt } => attempt + 1,
                _ => 0,
            };
            // Every caller reported what was wrong just before.
            let cause = match self.last_error.clone() {
                Some(e) => DisconnectCause::Protocol(e),
                None => DisconnectCause::Io(err.to_string()),
            };
            self.drop_connection(now, attempt, cause);
        } else {
            self.request_failed(now, req, err);
        }
    }

    fn dispatch(
        &mut self,
        now: Instant,
        conn: Option<InboundId>,
        function: FunctionId,
        xid: u16,
        payload: &[u8],
        base: usize,
    ) {
        if function == FunctionId::SCN || function == FunctionId::ESI {
            self.serve_notification(conn, function, xid, payload, base);
            return;
        }
        if conn.is_some() || !function.is_response() {
            self.error(ClientError::UnexpectedRequest { function, xid });
            return;
        }
        let Some(i) = self.in_flight.iter().position(|f| f.xid == xid) else {
            self.error(ClientError::UnknownTransaction { function, xid });
            return;
        };
        let expected = self.in_flight.get(i).map(|f| f.function.response());
        if expected != Some(function) {
            let f = self.in_flight.swap_remove(i);
            self.error(ClientError::UnexpectedResponse {
                xid,
                expected: f.function.response(),
                got: function,
            });
            self.fail_in_flight(now, f.req, OpError::Malformed("wrong response".into()));
            return;
        }
        let f = self.in_flight.swap_remove(i);
        match crate::Response::parse(function, payload, base) {
            Ok(rsp) => {
                if let Err(error) = self.on_response(now, f.req.clone(), &rsp) {
                    let msg = error.to_string();
                    self.error(ClientError::Malformed {
                        function,
                        xid,
                        error,
                    });
                    self.fail_in_flight(now, f.req, OpError::Malformed(msg));
                }
            }
            Err(error) => {
                let msg = error.to_string();
                self.error(ClientError::Malformed {
                    function,
                    xid,
                    error,
                });
                self.fail_in_flight(now, f.req, OpError::Malformed(msg));
            }
        }
    }

    fn serve_notification(
        &mut self,
        conn: Option<InboundId>,
        function: FunctionId,
        xid: u16,
        payload: &[u8],
        base: usize,
    ) {
        let body = match Body::parse(function, payload, base) {
            Ok(Body::Notification(n)) => n,
            Ok(_) => return,
            Err(error) => {
                self.error(ClientError::Malformed {
                    function,
                    xid,
                    error,
                });
                return;
            }
        };
        let reply = if function == FunctionId::SCN {
            let notice = match model::parse_scn(body.attrs(), MAX_SCN_ENTRIES) {
                Ok(n) => n,
                Err(error) => {
                    self.error(ClientError::Malformed {
                        function,
                        xid,
                        error,
                    });
                    return;
                }
            };
            let dest = notice
                .destination
                .clone()
                .unwrap_or_else(|| self.cfg.source_name.as_str().to_owned());
            let mut out = BytesMut::new();
            let r = Message::scn_rsp(xid, Status::SUCCESSFUL, dest.as_str()).encode(&mut out);
            for e in &notice.entries {
                match (&e.name, e.dd_id) {
                    (_, Some(dd)) => self.requery_dd(dd),
                    (Some(name), None) if name != self.cfg.source_name.as_str() => {
                        let name = name.clone();
                        self.requery_node(&name);
                    }
                    _ => {}
                }
            }
            self.push_event(Event::Scn(notice));
            r.map(|_| out)
        } else {
            let echo: Result<Vec<Tlv<'_>>, DecodeError> = body
                .attrs()
                .map(|a| a.and_then(|a| Ok(Tlv::new(a.tag(), a.typed()?))))
                .collect();
            match echo {
                Ok(echo) => {
                    let mut out = BytesMut::new();
                    let r = Message::esi_rsp(xid, Status::SUCCESSFUL, &echo).encode(&mut out);
                    self.push_event(Event::Esi);
                    r.map(|_| out)
                }
                Err(error) => {
                    self.error(ClientError::Malformed {
                        function,
                        xid,
                        error,
                    });
                    return;
                }
            }
        };
        match reply {
            Ok(bytes) => {
                let bytes = bytes.to_vec();
                self.transmits.push_back(match conn {
                    Some(conn) => Transmit::Inbound { conn, bytes },
                    None => Transmit::Server(bytes),
                });
            }
            Err(e) => self.error(ClientError::Encode(e)),
        }
    }

    fn on_response(
        &mut self,
        now: Instant,
        req: Req,
        rsp: &crate::Response<'_>,
    ) -> Result<(), DecodeError> {
        let status = rsp.status();
        let find = |tag: Tag| -> Option<Attr<'_>> {
            rsp.key()
                .chain(rsp.operating())
                .filter_map(Result::ok)
                .find(|a| a.tag() == tag)
        };
        match req {
            Req::Register { esi } => {
                if status == Status::ESI_NOT_AVAILABLE && esi {
                    self.urgent.push_front(Req::Register { esi: false });
                    return Ok(());
                }
                if !status.is_success() {
                    self.error(ClientError::RegistrationRefused(status));
                    self.fail_in_flight(now, Req::Register { esi }, OpError::Status(status));
                    return Ok(());
                }
                let entity_id = match find(Tag::ENTITY_IDENTIFIER) {
                    Some(a) => owned_str(&a)?,
                    None => self.cfg.entity_id.as_str().to_owned(),
                };
                let period = find(Tag::REGISTRATION_PERIOD)
                    .map(|a| a.as_u32())
                    .transpose()?
                    .map(secs);
                let esi_interval = find(Tag::ESI_INTERVAL)
                    .map(|a| a.as_u32())
                    .transpose()?
                    .map(secs);
                let registration = Registration {
                    entity_id,
                    registration_period: period,
                    esi_interval,
                    esi,
                };
                let refresh_at = period.filter(|p| !p.is_zero()).map(|p| now + p / 2);
                let first = !self.is_ready();
                self.state = State::Ready {
                    registration: registration.clone(),
                    refresh_at,
                };
                self.failures = 0;
                self.last_cause = None;
                self.push_event(Event::Registered(registration));
                if first {
                    self.queue_scn_reg();
                    self.walk_now = true;
                }
            }
            Req::Refresh => {
                if status.is_success() {
                    let granted = find(Tag::REGISTRATION_PERIOD)
                        .map(|a| a.as_u32())
                        .transpose()?
                        .map(secs);
                    if let State::Ready {
                        registration,
                        refresh_at,
                    } = &mut self.state
                    {
                        if granted.is_some() {
                            registration.registration_period = granted;
                        }
                        *refresh_at = registration
                            .registration_period
                            .filter(|p| !p.is_zero())
                            .map(|p| now + p / 2);
                    }
                } else {
                    // The server forgot us (restart with a fresh database): register anew.
                    self.error(ClientError::RegistrationRefused(status));
                    let esi = self.cfg.esi_port.is_some();
                    self.queue_scn_reg();
                    self.urgent.push_front(Req::Register { esi });
                    self.walk_now = true;
                }
            }
            Req::ScnReg => {
                if !status.is_success() {
                    self.error(ClientError::ScnRegistrationRefused(status));
                }
            }
            Req::WalkStep { walk, chain, last } => {
                if self.walk.as_ref().is_none_or(|w| w.id != walk) {
                    return Ok(());
                }
                self.walk_step(now, walk, chain, last.as_ref(), status, rsp)?;
            }
            Req::PortalDetail { walk, .. } | Req::Initiators { walk } => {
                self.portal_answer(now, walk, status, rsp)?;
            }
            Req::NodeDetail { walk, name } => {
                let Some(w) = self.walk.as_mut().filter(|w| w.id == walk) else {
                    return Ok(());
                };
                w.pending_details = w.pending_details.saturating_sub(1);
                let found = if status.is_success() {
                    model::parse_node(rsp.operating(), Some(&name))?
                } else {
                    None
                };
                if let Some(&i) = w.node_index.get(&name)
                    && let Some(n) = w.snapshot.nodes.get_mut(i)
                {
                    match found {
                        Some(f) => {
                            n.entity = f.entity;
                            n.portals = f.portals;
                            if f.alias.is_some() {
                                n.alias = f.alias;
                            }
                        }
                        None => n.node_type = NodeType::empty(),
                    }
                }
                self.finish_walk_if_done(now);
            }
            Req::Requery(name) => {
                let found = if status.is_success() {
                    model::parse_node(rsp.operating(), Some(&name))?
                } else if status == Status::NO_SUCH_ENTRY {
                    None
                } else {
                    self.error(ClientError::WalkFailed {
                        object: "node",
                        status,
                    });
                    return Ok(());
                };
                self.push_event(match found {
                    Some(n) => Event::NodeChanged(n),
                    None => Event::NodeRemoved { name },
                });
            }
            Req::DdRequery(id) => {
                let found = if status.is_success() {
                    model::parse_dd(rsp.operating(), MAX_DD_MEMBERS)?
                } else if status == Status::NO_SUCH_ENTRY {
                    None
                } else {
                    self.error(ClientError::WalkFailed {
                        object: "discovery domain",
                        status,
                    });
                    return Ok(());
                };
                self.push_event(match found {
                    Some(d) if d.id == id => Event::DdChanged(d),
                    _ => Event::DdRemoved { id },
                });
            }
            Req::Op { op, cmd, .. } => {
                let result = if status.is_success() {
                    Ok(match cmd {
                        Cmd::QueryNode(name) => {
                            OpOutcome::Node(model::parse_node(rsp.operating(), Some(&name))?)
                        }
                        Cmd::CreateDd { .. } => match find(Tag::DD_ID) {
                            Some(a) => OpOutcome::DdCreated { id: a.as_u32()? },
                            None => {
                                self.push_event(Event::OpCompleted {
                                    op,
                                    result: Err(OpError::Malformed(
                                        "DDReg response without DD_ID".into(),
                                    )),
                                });
                                return Ok(());
                            }
                        },
                        Cmd::AddMembers { id, .. } | Cmd::RemoveMembers { id, .. } => {
                            OpOutcome::DdUpdated { id }
                        }
                        Cmd::RemoveDd(id) => OpOutcome::DdRemoved { id },
                        Cmd::RegisterInitiator { entity, .. } => OpOutcome::NodeRegistered {
                            entity: match find(Tag::ENTITY_IDENTIFIER) {
                                Some(a) => owned_str(&a)?,
                                None => entity,
                            },
                        },
                        Cmd::DeregisterInitiator(_) => OpOutcome::NodeDeregistered,
                        Cmd::ScnReg { .. } | Cmd::ScnDereg(_) => OpOutcome::ScnUpdated,
                    })
                } else {
                    Err(OpError::Status(status))
                };
                self.push_event(Event::OpCompleted { op, result });
            }
        }
        Ok(())
    }

    fn walk_step(
        &mut self,
        now: Instant,
        walk: u64,
        chain: Chain,
        last: Option<&LastKey>,
        status: Status,
        rsp: &crate::Response<'_>,
    ) -> Result<(), DecodeError> {
        let done = |s: &mut Session| {
            if let Some(w) = s.walk.as_mut() {
                w.open_chains = w.open_chains.saturating_sub(1);
            }
            s.finish_walk_if_done(now);
        };
        if status == Status::NO_SUCH_ENTRY || (status.is_success() && rsp.key().next().is_none()) {
            done(self);
            return Ok(());
        }
        if !status.is_success() {
            self.abort_walk(
                now,
                ClientError::WalkFailed {
                    object: chain.name(),
                    status,
                },
            );
            return Ok(());
        }
        // Objects come back with all their attributes in the operating list (open-isns);
        // fall back to the key when the operating list is empty.
        let attrs = || {
            if rsp.operating().next().is_some() {
                rsp.operating()
            } else {
                rsp.key()
            }
        };
        let key_str = |tag: Tag| -> Result<Option<String>, DecodeError> {
            rsp.key()
                .find(|a| a.as_ref().is_ok_and(|a| a.tag() == tag))
                .transpose()?
                .map(|a| owned_str(&a))
                .transpose()
        };
        let max_members = MAX_DD_MEMBERS;
        let mut detail: Option<String> = None;
        let mut portal: Option<(IpAddr, Port)> = None;
        let next = match chain {
            Chain::Entities => {
                let e = model::parse_entity(attrs())?;
                let k =
                    key_str(Tag::ENTITY_IDENTIFIER)?.or_else(|| e.as_ref().map(|e| e.eid.clone()));
                if let (Some(e), Some(w)) = (e, self.walk.as_mut()) {
                    w.snapshot.entities.push(e);
                }
                k.map(LastKey::Eid)
            }
            Chain::Portals => {
                let p = model::parse_portal(attrs())?;
                let k = p.as_ref().map(|p| LastKey::Portal(p.ip, p.port));
                if let (Some(p), Some(w)) = (p, self.walk.as_mut()) {
                    if self.cfg.detail_by_portal {
                        portal = Some((p.ip, p.port));
                    }
                    w.snapshot.portals.push(p);
                }
                k
            }
            Chain::PortalGroups => {
                let pg = model::parse_portal_group(rsp.key().chain(rsp.operating()))?;
                let k = pg
                    .as_ref()
                    .map(|g| LastKey::Pg(g.name.clone(), g.ip, g.port));
                if let (Some(pg), Some(w)) = (pg, self.walk.as_mut()) {
                    w.snapshot.portal_groups.push(pg);
                }
                k
            }
            Chain::Nodes => {
                let n = model::parse_node(attrs(), None)?;
                let k = key_str(Tag::ISCSI_NAME)?.or_else(|| n.as_ref().map(|n| n.name.clone()));
                if let (Some(n), Some(w)) = (n, self.walk.as_mut()) {
                    if !self.cfg.detail_by_portal
                        && n.node_type.intersects(self.cfg.detail_node_types)
                    {
                        detail = Some(n.name.clone());
                    }
                    if !w.node_index.contains_key(&n.name) {
                        w.node_index.insert(n.name.clone(), w.snapshot.nodes.len());
                        w.snapshot.nodes.push(n);
                    }
                }
                k.map(LastKey::Name)
            }
            Chain::Dds => {
                let d = model::parse_dd(attrs(), max_members)?;
                let k = d.as_ref().map(|d| LastKey::Dd(d.id));
                if let (Some(d), Some(w)) = (d, self.walk.as_mut()) {
                    w.snapshot.dds.push(d);
                }
                k
            }
        };
        let Some(next) = next else {
            self.abort_walk(
                now,
                ClientError::WalkRunaway {
                    object: chain.name(),
                    reason: "a response carried no key",
                },
            );
            return Ok(());
        };
        if last == Some(&next) {
            self.abort_walk(
                now,
                ClientError::WalkRunaway {
                    object: chain.name(),
                    reason: "the key did not advance",
                },
            );
            return Ok(());
        }
        let max = self.cfg.max_walk_objects;
        let Some(w) = self.walk.as_mut() else {
            return Ok(());
        };
        w.objects += 1;
        if w.objects > max {
            self.abort_walk(
                now,
                ClientError::WalkRunaway {
                    object: chain.name(),
                    reason: "more objects than max_walk_objects",
                },
            );
            return Ok(());
        }
        if let Some(name) = detail {
            w.pending_details += 1;
            self.background.push_back(Req::NodeDetail { walk, name });
        }
        if let Some((ip, port)) = portal {
            w.pending_details += 1;
            self.background
                .push_back(Req::PortalDetail { walk, ip, port });
        }
        self.background.push_back(Req::WalkStep {
            walk,
            chain,
            last: Some(next),
        });
        Ok(())
    }
}

fn node_query(m: Message<'_>) -> Message<'_> {
    m.query(Tag::ENTITY_IDENTIFIER)
        .query(Tag::ISCSI_NAME)
        .query(Tag::ISCSI_NODE_TYPE)
        .query(Tag::ISCSI_ALIAS)
        .query(Tag::PORTAL_IP_ADDRESS)
        .query(Tag::PORTAL_PORT)
        .query(Tag::PG_TAG)
        .query(Tag::PG_PORTAL_IP_ADDR)
        .query(Tag::PG_PORTAL_PORT)
}

fn members<'m>(mut m: Message<'m>, list: &'m [String]) -> Message<'m> {
    for name in list {
        m = m.op(Tag::DD_MEMBER_ISCSI_NAME, name.as_str());
    }
    m
}

fn be16(b: &[u8], at: usize) -> u16 {
    match (b.get(at), b.get(at + 1)) {
        (Some(&h), Some(&l)) => u16::from_be_bytes([h, l]),
        _ => 0,
    }
}
