//! The sans-IO User Agent: finds services (by default iSNS servers advertised as
//! `service:iscsi:sms` with `protocols=isns`, RFC 4018) by multicast convergence
//! (RFC 2608 §6.3) and/or unicast requests to Directory Agents, with OVERFLOW → TCP retry,
//! several scopes, the RFC 3059 Attribute List extension, and AttrRqst fallback.
//!
//! Time and randomness come in as arguments: `handle_timeout(now)`, `handle_input(now, ..)`
//! and an XID seed. Outputs are pulled with [`UserAgent::poll_transmit`] and
//! [`UserAgent::poll_timeout`]; the answer with [`UserAgent::results`].

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::agent::{DEFAULT_MTU, Destination, Timing, Transmit, Via};
use crate::attr::AttrList;
use crate::code_points::{ErrorCode, ExtensionId};
use crate::error::ProtocolError;
use crate::extension::{AttrListExt, Extension, Extensions};
use crate::header::{Flags, Header};
use crate::message::{Body, Message};
use crate::msg::{AttrRqst, SrvRqst};
use crate::predicate::Predicate;
use crate::service_url::{Host, ServiceUrl};
use crate::strings::{StringList, join_list};

/// The iSNS server's service type (RFC 4018: `service:iscsi:sms` with `protocols=isns`).
pub const ISNS_SERVICE_TYPE: &str = "service:iscsi:sms";
/// The predicate open-isns uses to find iSNS servers.
pub const ISNS_PREDICATE: &str = "(protocols=isns)";
/// The scope open-isns registers in (RFC 4018's placeholder, used literally).
pub const OPEN_ISNS_SCOPE: &str = "initiator-scope-list";
/// The default scope (RFC 2608 §11).
pub const DEFAULT_SCOPE: &str = "DEFAULT";
/// The default iSNS port (RFC 4171).
pub const ISNS_DEFAULT_PORT: u16 = 3205;

/// What the user agent looks for and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UaConfig {
    /// Service type, e.g. [`ISNS_SERVICE_TYPE`].
    pub service_type: String,
    /// Predicate sent to responders (and re-checked locally once attributes are known).
    pub predicate: String,
    /// Scopes; one request per scope is made (peers such as pyslp compare the scope list
    /// as a whole string).
    pub scopes: Vec<String>,
    /// Language tag of requests.
    pub language: String,
    /// Directory agents to ask by unicast.
    pub directory_agents: Vec<SocketAddr>,
    /// Run multicast convergence directly to SAs.
    pub multicast: bool,
    /// Look for DAs by multicast and ask each one found.
    pub discover_das: bool,
    /// Ask for the RFC 3059 Attribute List extension.
    pub attr_list_extension: bool,
    /// Send an AttrRqst for URLs whose attributes did not come with the reply.
    pub fetch_attributes: bool,
    /// Timing policy.
    pub timing: Timing,
    /// Largest request datagram; convergence stops when the PRList no longer fits.
    pub mtu: usize,
}

impl UaConfig {
    /// Finds iSNS servers in `DEFAULT` and open-isns' `initiator-scope-list` by multicast.
    #[must_use]
    pub fn isns() -> Self {
        UaConfig {
            service_type: ISNS_SERVICE_TYPE.to_owned(),
            predicate: ISNS_PREDICATE.to_owned(),
            scopes: vec![DEFAULT_SCOPE.to_owned(), OPEN_ISNS_SCOPE.to_owned()],
            language: "en".to_owned(),
            directory_agents: Vec::new(),
            multicast: true,
            discover_das: false,
            attr_list_extension: true,
            fetch_attributes: true,
            timing: Timing::default(),
            mtu: DEFAULT_MTU,
        }
    }
}

/// One service found, deduplicated by URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The service URL.
    pub url: String,
    /// Host from the URL (name or literal, IPv6 without brackets).
    pub host: String,
    /// Port from the URL, or [`ISNS_DEFAULT_PORT`] when absent.
    pub port: u16,
    /// Attribute list, when known.
    pub attrs: Option<String>,
    /// `server-priority` (lower is preferred; RFC 4018), when present.
    pub priority: Option<i32>,
    /// Lifetime the responder gave, seconds.
    pub lifetime: u16,
    /// When the URL must be dropped from any cache.
    pub expires_at: Instant,
    /// Who answered.
    pub responder: SocketAddr,
    /// Scope it was found in.
    pub scope: String,
}

impl Discovered {
    /// The socket address, when the host is an IP literal.
    #[must_use]
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.host
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, self.port))
    }
}

/// Something the user agent noticed (for logs; the result is in [`UserAgent::results`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UaEvent {
    /// A directory agent was discovered.
    DirectoryAgent(SocketAddr),
    /// A unicast peer answered with an error code.
    ErrorReply {
        /// Who.
        from: SocketAddr,
        /// The code.
        error: ErrorCode,
    },
    /// A unicast request got no answer within CONFIG_RETRY_MAX.
    Unanswered(SocketAddr),
    /// A reply was malformed or illegal and was dropped.
    Dropped {
        /// Who sent it.
        from: SocketAddr,
        /// Why, as text.
        reason: String,
    },
    /// All requests finished.
    Finished,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    Services { scope: String },
    DirectoryAgents,
    Attributes { url: String, scope: String },
}

#[derive(Debug)]
struct McastOp {
    xid: u16,
    purpose: Purpose,
    responders: Vec<IpAddr>,
    next_send: Instant,
    wait: Duration,
    deadline: Instant,
    rounds: u32,
    new_this_round: bool,
}

#[derive(Debug)]
struct UnicastOp {
    xid: u16,
    purpose: Purpose,
    dest: Destination,
    payload: Vec<u8>,
    next_send: Instant,
    wait: Duration,
    deadline: Instant,
}

#[derive(Debug)]
enum Op {
    Mcast(McastOp),
    Unicast(UnicastOp),
}

impl Op {
    fn xid(&self) -> u16 {
        match self {
            Op::Mcast(m) => m.xid,
            Op::Unicast(u) => u.xid,
        }
    }

    fn next_send(&self) -> Instant {
        match self {
            Op::Mcast(m) => m.next_send,
            Op::Unicast(u) => u.next_send,
        }
    }
}

#[derive(Debug)]
struct Found {
    url: String,
    attrs: Option<String>,
    lifetime: u16,
    expires_at: Instant,
    responder: SocketAddr,
    scope: String,
}

/// The sans-IO SLP user agent. One instance runs one discovery.
#[derive(Debug)]
pub struct UserAgent {
    cfg: UaConfig,
    predicate: Predicate,
    xid: u16,
    ops: Vec<Op>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<UaEvent>,
    found: Vec<Found>,
    das: Vec<SocketAddr>,
    attributes_phase: bool,
    finished: bool,
}

impl UserAgent {
    /// Starts a discovery at `now`. `xid_seed` is the caller's randomness for XIDs.
    ///
    /// # Errors
    /// [`crate::DecodeError::Predicate`] when the configured predicate does not parse.
    pub fn new(cfg: UaConfig, now: Instant, xid_seed: u16) -> Result<Self, crate::DecodeError> {
        let predicate = Predicate::parse(&cfg.predicate)?;
        let mut ua = UserAgent {
            predicate,
            xid: xid_seed,
            ops: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            found: Vec::new(),
            das: Vec::new(),
            attributes_phase: false,
            finished: false,
            cfg,
        };
        for da in ua.cfg.directory_agents.clone() {
            ua.das.push(da);
            ua.ask_da(now, da);
        }
        if ua.cfg.multicast {
            for scope in ua.cfg.scopes.clone() {
                ua.start_mcast(now, Purpose::Services { scope });
            }
        }
        if ua.cfg.discover_das {
            ua.start_mcast(now, Purpose::DirectoryAgents);
        }
        ua.handle_timeout(now);
        Ok(ua)
    }

    fn next_xid(&mut self) -> u16 {
        // XID 0 is reserved for unsolicited DAAdverts.
        self.xid = self.xid.wrapping_add(1);
        if self.xid == 0 {
            self.xid = 1;
        }
        self.xid
    }

    fn start_mcast(&mut self, now: Instant, purpose: Purpose) {
        let xid = self.next_xid();
        self.ops.push(Op::Mcast(McastOp {
            xid,
            purpose,
            responders: Vec::new(),
            next_send: now,
            wait: self.cfg.timing.retry,
            deadline: now + self.cfg.timing.mc_max,
            rounds: 0,
            new_this_round: false,
        }));
    }

    fn start_unicast(
        &mut self,
        now: Instant,
        dest: Destination,
        purpose: Purpose,
        xid: Option<u16>,
    ) {
        let xid = xid.unwrap_or_else(|| self.next_xid());
        let Some(payload) = self.request_bytes(&purpose, xid, "", false) else {
            return;
        };
        self.ops.push(Op::Unicast(UnicastOp {
            xid,
            purpose,
            dest,
            payload,
            next_send: now,
            wait: self.cfg.timing.retry,
            deadline: now + self.cfg.timing.retry_max,
        }));
    }

    fn ask_da(&mut self, now: Instant, da: SocketAddr) {
        for scope in self.cfg.scopes.clone() {
            self.start_unicast(
                now,
                Destination::Unicast(da),
                Purpose::Services { scope },
                None,
            );
        }
    }

    fn request_bytes(
        &self,
        purpose: &Purpose,
        xid: u16,
        pr_list: &str,
        mcast: bool,
    ) -> Option<Vec<u8>> {
        let mut header = Header::new(xid, &self.cfg.language);
        if mcast {
            header.flags |= Flags::REQUEST_MCAST;
        }
        let want_ext = [Extension {
            id: ExtensionId::ATTRIBUTE_LIST,
            data: &[0, 0, 0, 0, 0],
        }];
        let scope_text;
        let msg = match purpose {
            Purpose::Services { scope } => {
                scope_text = scope.as_str();
                let mut m = Message::new(
                    header,
                    Body::SrvRqst(SrvRqst {
                        pr_list: StringList(pr_list),
                        service_type: &self.cfg.service_type,
                        scopes: StringList(scope_text),
                        predicate: &self.cfg.predicate,
                        spi: "",
                    }),
                );
                if self.cfg.attr_list_extension {
                    m.extensions = Extensions::List(&want_ext);
                }
                m
            }
            Purpose::DirectoryAgents => {
                scope_text = "";
                Message::new(
                    header,
                    Body::SrvRqst(SrvRqst {
                        pr_list: StringList(pr_list),
                        service_type: "service:directory-agent",
                        scopes: StringList(scope_text),
                        ..SrvRqst::default()
                    }),
                )
            }
            Purpose::Attributes { url, scope } => Message::new(
                header,
                Body::AttrRqst(AttrRqst {
                    url,
                    scopes: StringList(scope),
                    ..AttrRqst::default()
                }),
            ),
        };
        msg.to_vec().ok()
    }

    /// Advances timers: sends first requests and retransmissions, ends rounds.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut remove = Vec::new();
        for i in 0..self.ops.len() {
            match &self.ops[i] {
                Op::Mcast(m) if now >= m.next_send => {
                    // RFC 2608 §6.3: stop when a retransmission brings nothing new, or at
                    // CONFIG_MC_MAX. The first send's silence still earns one retransmission.
                    if (m.rounds >= 2 && !m.new_this_round) || now >= m.deadline {
                        remove.push(i);
                        continue;
                    }
                    let pr: Vec<String> = m.responders.iter().map(IpAddr::to_string).collect();
                    let bytes = self.request_bytes(
                        &m.purpose,
                        m.xid,
                        &join_list(pr.iter().map(String::as_str)),
                        true,
                    );
                    match bytes {
                        // RFC 2608 §6.3: stop once the PRList makes the request too big.
                        Some(b) if b.len() <= self.cfg.mtu => {
                            self.transmits.push_back(Transmit {
                                destination: Destination::Multicast,
                                payload: b,
                            });
                            if let Op::Mcast(m) = &mut self.ops[i] {
                                m.rounds += 1;
                                m.new_this_round = false;
                                m.next_send = (now + m.wait).min(m.deadline);
                                m.wait *= 2;
                            }
                        }
                        _ => remove.push(i),
                    }
                }
                Op::Unicast(u) if now >= u.next_send => {
                    if now >= u.deadline {
                        let (Destination::Unicast(a) | Destination::Tcp(a)) = u.dest else {
                            remove.push(i);
                            continue;
                        };
                        self.events.push_back(UaEvent::Unanswered(a));
                        remove.push(i);
                        continue;
                    }
                    self.transmits.push_back(Transmit {
                        destination: u.dest,
                        payload: u.payload.clone(),
                    });
                    if let Op::Unicast(u) = &mut self.ops[i] {
                        u.next_send = (now + u.wait).min(u.deadline);
                        u.wait *= 2;
                    }
                }
                _ => {}
            }
        }
        for i in remove.into_iter().rev() {
            self.ops.remove(i);
        }
        self.check_finished(now);
    }

    fn check_finished(&mut self, now: Instant) {
        if !self.ops.is_empty() || self.finished {
            return;
        }
        if !self.attributes_phase {
            self.attributes_phase = true;
            if self.cfg.fetch_attributes {
                let wanted: Vec<(String, String, SocketAddr)> = self
                    .found
                    .iter()
                    .filter(|f| f.attrs.is_none())
                    .map(|f| (f.url.clone(), f.scope.clone(), f.responder))
                    .collect();
                for (url, scope, responder) in wanted {
                    self.start_unicast(
                        now,
                        Destination::Unicast(responder),
                        Purpose::Attributes { url, scope },
                        None,
                    );
                }
                if !self.ops.is_empty() {
                    self.handle_timeout(now);
                    return;
                }
            }
        }
        self.finished = true;
        self.events.push_back(UaEvent::Finished);
    }

    /// Feeds a received message. `via` says whether it came over UDP or TCP.
    pub fn handle_input(&mut self, now: Instant, from: SocketAddr, bytes: &[u8], via: Via) {
        if let Err(e) = self.input(now, from, bytes, via) {
            self.events.push_back(UaEvent::Dropped { from, reason: e });
        }
        self.check_finished(now);
    }

    fn input(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        via: Via,
    ) -> Result<(), String> {
        let msg = Message::parse(bytes).map_err(|e| e.to_string())?;
        if let Some(e) = msg.extensions.iter().find(|e| e.id.is_mandatory()) {
            // RFC 2608 §9.1: a reply with an unknown mandatory extension is discarded.
            return Err(ProtocolError::MandatoryExtension { id: e.id.0 }.to_string());
        }
        let xid = msg.header.xid;
        if let Body::DaAdvert(da) = msg.body
            && (xid == 0 || self.ops.iter().any(|o| o.xid() == xid))
        {
            if da.error == ErrorCode::OK && da.boot_timestamp != 0 {
                self.note_da(now, from);
            }
            if let Some(Op::Mcast(m)) = self.ops.iter_mut().find(|o| o.xid() == xid)
                && !m.responders.contains(&from.ip())
            {
                m.responders.push(from.ip());
                m.new_this_round = true;
            }
            return Ok(());
        }
        // A TCP retry shares its XID with the request that overflowed (RFC 2608 §6.1), so
        // a reply is matched by XID and by transport.
        let idx = self
            .ops
            .iter()
            .position(|o| match o {
                Op::Unicast(u) if u.dest == Destination::Tcp(from) => {
                    via == Via::Tcp && u.xid == xid
                }
                _ => via != Via::Tcp && o.xid() == xid,
            })
            .ok_or_else(|| ProtocolError::UnknownXid { xid }.to_string())?;
        match (&mut self.ops[idx], msg.body) {
            (Op::Mcast(m), Body::SrvRply(r)) => {
                let Purpose::Services { scope } = m.purpose.clone() else {
                    return Err(ProtocolError::Unexpected {
                        function: "SrvRply",
                    }
                    .to_string());
                };
                if !m.responders.contains(&from.ip()) {
                    m.responders.push(from.ip());
                    m.new_this_round = true;
                }
                if r.error != ErrorCode::OK {
                    return Ok(());
                }
                let mcast_xid = m.xid;
                let already = self
                    .ops
                    .iter()
                    .any(|o| matches!(o, Op::Unicast(u) if u.dest == Destination::Tcp(from)));
                if msg.header.flags.contains(Flags::OVERFLOW) && via != Via::Tcp && !already {
                    // RFC 2608 §6.1: retry over TCP with the same XID.
                    self.start_unicast(
                        now,
                        Destination::Tcp(from),
                        Purpose::Services {
                            scope: scope.clone(),
                        },
                        Some(mcast_xid),
                    );
                }
                self.record(now, from, &scope, &msg, &r);
            }
            (Op::Unicast(u), Body::SrvRply(r)) => {
                let Purpose::Services { scope } = u.purpose.clone() else {
                    return Err(ProtocolError::Unexpected {
                        function: "SrvRply",
                    }
                    .to_string());
                };
                let xid = u.xid;
                self.ops.remove(idx);
                if r.error != ErrorCode::OK {
                    self.events.push_back(UaEvent::ErrorReply {
                        from,
                        error: r.error,
                    });
                    return Ok(());
                }
                if msg.header.flags.contains(Flags::OVERFLOW) && via != Via::Tcp {
                    // RFC 2608 §6.1: same XID over TCP.
                    self.start_unicast(
                        now,
                        Destination::Tcp(from),
                        Purpose::Services {
                            scope: scope.clone(),
                        },
                        Some(xid),
                    );
                }
                self.record(now, from, &scope, &msg, &r);
            }
            (Op::Unicast(u), Body::AttrRply(r)) => {
                let Purpose::Attributes { url, .. } = u.purpose.clone() else {
                    return Err(ProtocolError::Unexpected {
                        function: "AttrRply",
                    }
                    .to_string());
                };
                self.ops.remove(idx);
                if r.error != ErrorCode::OK {
                    self.events.push_back(UaEvent::ErrorReply {
                        from,
                        error: r.error,
                    });
                    return Ok(());
                }
                if AttrList::parse(r.attrs).is_ok() {
                    for f in self.found.iter_mut().filter(|f| f.url == url) {
                        f.attrs = Some(r.attrs.to_owned());
                    }
                }
            }
            _ => {
                return Err(ProtocolError::Unexpected {
                    function: msg.function().name().unwrap_or("unknown"),
                }
                .to_string());
            }
        }
        Ok(())
    }

    fn note_da(&mut self, now: Instant, from: SocketAddr) {
        // The DA is asked at the address it answered from (its URL may name a host that
        // cannot be resolved here).
        if !self.das.contains(&from) {
            self.das.push(from);
            self.events.push_back(UaEvent::DirectoryAgent(from));
            self.ask_da(now, from);
            self.handle_timeout(now);
        }
    }

    fn record(
        &mut self,
        now: Instant,
        from: SocketAddr,
        scope: &str,
        msg: &Message<'_>,
        r: &crate::msg::SrvRply<'_>,
    ) {
        for e in r.urls.iter() {
            if ServiceUrl::parse(e.url).is_err() {
                self.events.push_back(UaEvent::Dropped {
                    from,
                    reason: format!("bad URL {:?}", e.url),
                });
                continue;
            }
            let attrs = msg
                .extensions
                .iter()
                .filter_map(|x| x.attr_list().and_then(Result::ok))
                .find(|a: &AttrListExt<'_>| a.url == e.url)
                .filter(|a| AttrList::parse(a.attrs).is_ok())
                .map(|a| a.attrs.to_owned());
            let expires_at = now + Duration::from_secs(u64::from(e.lifetime));
            if let Some(f) = self.found.iter_mut().find(|f| f.url == e.url) {
                if expires_at > f.expires_at {
                    f.expires_at = expires_at;
                    f.lifetime = e.lifetime;
                }
                if f.attrs.is_none() {
                    f.attrs = attrs;
                }
            } else {
                self.found.push(Found {
                    url: e.url.to_owned(),
                    attrs,
                    lifetime: e.lifetime,
                    expires_at,
                    responder: from,
                    scope: scope.to_owned(),
                });
            }
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`UserAgent::handle_timeout`] must next be called; `None` when finished.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ops.iter().map(Op::next_send).min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<UaEvent> {
        self.events.pop_front()
    }

    /// Whether every request has finished (convergence over, DAs answered or timed out,
    /// attributes fetched).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Directory agents known so far.
    #[must_use]
    pub fn directory_agents(&self) -> &[SocketAddr] {
        &self.das
    }

    /// The services found and still alive at `now`: deduplicated by URL, those whose
    /// attributes are known and fail the predicate removed (pyslp, for one, ignores
    /// predicates), ordered by `server-priority` (lowest first, absent last), then URL.
    #[must_use]
    pub fn results(&self, now: Instant) -> Vec<Discovered> {
        let mut out: Vec<Discovered> = self
            .found
            .iter()
            .filter(|f| f.expires_at > now)
            .filter(|f| match &f.attrs {
                Some(a) => AttrList::parse(a).is_ok_and(|l| self.predicate.matches(&l)),
                None => true,
            })
            .filter_map(|f| {
                let u = ServiceUrl::parse(&f.url).ok()?;
                let host = match u.host {
                    Host::Name(n) => n.to_owned(),
                    Host::V4(a) => a.to_string(),
                    Host::V6(a) => a.to_string(),
                };
                let priority = f
                    .attrs
                    .as_deref()
                    .and_then(|a| AttrList::parse(a).ok()?.int("server-priority"));
                Some(Discovered {
                    url: f.url.clone(),
                    host,
                    port: u.port.unwrap_or(ISNS_DEFAULT_PORT),
                    attrs: f.attrs.clone(),
                    priority,
                    lifetime: f.lifetime,
                    expires_at: f.expires_at,
                    responder: f.responder,
                    scope: f.scope.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (a.priority.is_none(), a.priority, &a.url).cmp(&(
                b.priority.is_none(),
                b.priority,
                &b.url,
            ))
        });
        out
    }
}
