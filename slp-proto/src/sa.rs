//! The sans-IO Service Agent: answers SrvRqst, AttrRqst and SrvTypeRqst for its own
//! registrations (scope, service type and predicate matched; RFC 2608 §8, §10), answers
//! SA discovery with an SAAdvert, stays silent when listed in a PRList or when a multicast
//! request matches nothing, truncates oversize UDP replies with OVERFLOW, adds the RFC 3059
//! Attribute List extension when asked, and registers with every DA it learns of
//! (SrvReg with FRESH, retransmitted until SrvAck, refreshed before the lifetime ends).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::agent::{DEFAULT_MTU, Destination, Timing, Transmit, Via};
use crate::attr::AttrList;
use crate::code_points::{ErrorCode, ExtensionId};
use crate::error::{DecodeError, EncodeError};
use crate::extension::{AttrListExt, Extension, Extensions};
use crate::header::{Flags, Header};
use crate::message::{Body, Message};
use crate::msg::{AttrRply, NamingAuthority, SaAdvert, SrvReg, SrvRply, SrvTypeRply};
use crate::predicate::{Predicate, wildcard_match};
use crate::service_url::{ServiceType, ServiceUrl};
use crate::strings::{StringList, join_list};
use crate::url_entry::{UrlEntries, UrlEntry};

/// A service the SA advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Service URL, e.g. `service:iscsi:sms://127.0.0.1:3205`.
    pub url: String,
    /// Service type; empty means "taken from the URL".
    pub service_type: String,
    /// Attribute list, e.g. `(protocols=isns)`.
    pub attrs: String,
    /// Lifetime advertised, seconds.
    pub lifetime: u16,
}

impl Registration {
    /// An iSNS server at `addr`: `service:iscsi:sms://ADDR` with `(protocols=isns)`
    /// (RFC 4018), plus `server-priority` when given.
    #[must_use]
    pub fn isns_server(addr: SocketAddr, priority: Option<i32>, lifetime: u16) -> Self {
        let host = match addr.ip() {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        let mut attrs = String::from("(protocols=isns)");
        if let Some(p) = priority {
            attrs.push_str(&format!(",(server-priority={p})"));
        }
        Registration {
            url: format!("service:iscsi:sms://{host}:{}", addr.port()),
            service_type: "service:iscsi:sms".to_owned(),
            attrs,
            lifetime,
        }
    }
}

/// Service agent configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaConfig {
    /// Scopes served (RFC 2608 §11: `DEFAULT` unless configured).
    pub scopes: Vec<String>,
    /// This host's addresses: a PRList naming one of them silences the SA.
    pub addresses: Vec<IpAddr>,
    /// URL for SAAdverts, e.g. `service:service-agent://127.0.0.1`.
    pub sa_url: String,
    /// Largest UDP reply before truncation with OVERFLOW.
    pub mtu: usize,
    /// Directory agents to register with from the start.
    pub directory_agents: Vec<SocketAddr>,
    /// Registration retransmission policy.
    pub timing: Timing,
}

impl SaConfig {
    /// Scope `DEFAULT`, host address `addr`.
    #[must_use]
    pub fn new(addr: IpAddr) -> Self {
        let host = match addr {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        SaConfig {
            scopes: vec![crate::ua::DEFAULT_SCOPE.to_owned()],
            addresses: vec![addr],
            sa_url: format!("service:service-agent://{host}"),
            mtu: DEFAULT_MTU,
            directory_agents: Vec::new(),
            timing: Timing::default(),
        }
    }
}

/// Something the service agent noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaEvent {
    /// A DA acknowledged a registration.
    Registered {
        /// The DA.
        da: SocketAddr,
        /// The URL.
        url: String,
        /// Its error code.
        error: ErrorCode,
    },
    /// A DA never acknowledged.
    RegistrationTimedOut {
        /// The DA.
        da: SocketAddr,
        /// The URL.
        url: String,
    },
    /// A DA became known.
    DirectoryAgent(SocketAddr),
}

#[derive(Debug)]
struct PendingReg {
    da: SocketAddr,
    url: String,
    xid: u16,
    payload: Vec<u8>,
    next_send: Instant,
    wait: Duration,
    deadline: Instant,
    acked: bool,
    refresh_at: Option<Instant>,
}

/// The sans-IO SLP service agent.
#[derive(Debug)]
pub struct ServiceAgent {
    cfg: SaConfig,
    regs: Vec<Registration>,
    das: Vec<SocketAddr>,
    pending: Vec<PendingReg>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<SaEvent>,
    xid: u16,
}

fn reg_type(r: &Registration) -> &str {
    if r.service_type.is_empty() {
        r.url.split("://").next().unwrap_or("")
    } else {
        &r.service_type
    }
}

impl ServiceAgent {
    /// A service agent with no registrations; `xid_seed` is the caller's randomness.
    #[must_use]
    pub fn new(cfg: SaConfig, now: Instant, xid_seed: u16) -> Self {
        let mut sa = ServiceAgent {
            regs: Vec::new(),
            das: Vec::new(),
            pending: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            xid: xid_seed,
            cfg,
        };
        for da in sa.cfg.directory_agents.clone() {
            sa.add_da(now, da);
        }
        sa
    }

    /// Adds (or, for the same URL, replaces) a registration, and registers it with every
    /// known DA.
    ///
    /// # Errors
    /// [`DecodeError::Url`] or [`DecodeError::AttrList`] when the URL or attributes do not
    /// parse (RFC 2608: INVALID_REGISTRATION).
    pub fn register(&mut self, now: Instant, mut reg: Registration) -> Result<(), DecodeError> {
        ServiceUrl::parse(&reg.url)?;
        AttrList::parse(&reg.attrs)?;
        if reg.service_type.is_empty() {
            reg.service_type = reg_type(&reg).to_owned();
        }
        self.regs.retain(|r| r.url != reg.url);
        for da in self.das.clone() {
            self.queue_reg(now, da, &reg);
        }
        self.regs.push(reg);
        Ok(())
    }

    /// Removes a registration (DAs keep it until its lifetime ends).
    pub fn unregister(&mut self, url: &str) {
        self.regs.retain(|r| r.url != url);
        self.pending.retain(|p| p.url != url);
    }

    /// The registrations.
    #[must_use]
    pub fn registrations(&self) -> &[Registration] {
        &self.regs
    }

    fn next_xid(&mut self) -> u16 {
        self.xid = self.xid.wrapping_add(1);
        if self.xid == 0 {
            self.xid = 1;
        }
        self.xid
    }

    fn add_da(&mut self, now: Instant, da: SocketAddr) {
        if self.das.contains(&da) {
            return;
        }
        self.das.push(da);
        self.events.push_back(SaEvent::DirectoryAgent(da));
        for reg in self.regs.clone() {
            self.queue_reg(now, da, &reg);
        }
    }

    fn queue_reg(&mut self, now: Instant, da: SocketAddr, reg: &Registration) {
        let xid = self.next_xid();
        let scopes = join_list(self.cfg.scopes.iter().map(String::as_str));
        let mut header = Header::new(xid, "en");
        header.flags = Flags::FRESH;
        let msg = Message::new(
            header,
            Body::SrvReg(SrvReg {
                url: UrlEntry::new(&reg.url, reg.lifetime),
                service_type: &reg.service_type,
                scopes: StringList(&scopes),
                attrs: &reg.attrs,
                ..SrvReg::default()
            }),
        );
        let Ok(payload) = msg.to_vec() else { return };
        self.pending.retain(|p| !(p.da == da && p.url == reg.url));
        self.pending.push(PendingReg {
            da,
            url: reg.url.clone(),
            xid,
            payload,
            next_send: now,
            wait: self.cfg.timing.retry,
            deadline: now + self.cfg.timing.retry_max,
            acked: false,
            refresh_at: None,
        });
    }

    /// Advances registration timers (first sends, retransmissions, refreshes).
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut refresh = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            let p = &mut self.pending[i];
            if p.acked {
                if p.refresh_at.is_some_and(|t| now >= t) {
                    refresh.push((p.da, p.url.clone()));
                }
            } else if now >= p.next_send {
                if now >= p.deadline {
                    self.events.push_back(SaEvent::RegistrationTimedOut {
                        da: p.da,
                        url: p.url.clone(),
                    });
                    self.pending.remove(i);
                    continue;
                }
                self.transmits.push_back(Transmit {
                    destination: Destination::Unicast(p.da),
                    payload: p.payload.clone(),
                });
                p.next_send = now + p.wait;
                p.wait *= 2;
            }
            i += 1;
        }
        for (da, url) in refresh {
            if let Some(reg) = self.regs.iter().find(|r| r.url == url).cloned() {
                self.queue_reg(now, da, &reg);
            }
        }
        if self.pending.iter().any(|p| !p.acked && p.next_send <= now) {
            self.handle_timeout(now);
        }
    }

    /// When [`ServiceAgent::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .iter()
            .filter_map(|p| {
                if p.acked {
                    p.refresh_at
                } else {
                    Some(p.next_send)
                }
            })
            .min()
    }

    /// The next message to send (registrations with DAs).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SaEvent> {
        self.events.pop_front()
    }

    /// Handles a received message and returns the reply to send back to `from` (over the
    /// same transport), if any. DAAdverts and SrvAcks update DA registration state.
    pub fn handle_input(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        via: Via,
    ) -> Option<Vec<u8>> {
        let Ok(msg) = Message::parse(bytes) else {
            return self.parse_error_reply(bytes, via);
        };
        let mcast = via == Via::Multicast || msg.header.flags.contains(Flags::REQUEST_MCAST);
        match msg.body {
            Body::DaAdvert(da) => {
                if da.error == ErrorCode::OK && da.boot_timestamp != 0 {
                    self.add_da(now, from);
                    self.handle_timeout(now);
                }
                return None;
            }
            Body::SrvAck(ack) => {
                if let Some(p) = self
                    .pending
                    .iter_mut()
                    .find(|p| p.xid == msg.header.xid && p.da == from && !p.acked)
                {
                    p.acked = true;
                    let lifetime = self
                        .regs
                        .iter()
                        .find(|r| r.url == p.url)
                        .map_or(0, |r| r.lifetime);
                    // Refresh at three quarters of the lifetime.
                    p.refresh_at = (ack.error == ErrorCode::OK && lifetime > 0)
                        .then(|| now + Duration::from_secs(u64::from(lifetime)) * 3 / 4);
                    self.events.push_back(SaEvent::Registered {
                        da: p.da,
                        url: p.url.clone(),
                        error: ack.error,
                    });
                }
                return None;
            }
            _ => {}
        }
        if msg.extensions.iter().any(|e| e.id.is_mandatory()) {
            // RFC 2608 §9.1: unknown mandatory extension in a request.
            return self.error_reply(&msg, ErrorCode::OPTION_NOT_UNDERSTOOD, mcast);
        }
        let pr_list = match msg.body {
            Body::SrvRqst(r) => r.pr_list,
            Body::AttrRqst(r) => r.pr_list,
            Body::SrvTypeRqst(r) => r.pr_list,
            _ => return None,
        };
        // RFC 2608 §6.3: a responder listed in the PRList stays silent.
        if pr_list.iter().any(|a| {
            a.parse::<IpAddr>()
                .is_ok_and(|ip| self.cfg.addresses.contains(&ip))
        }) {
            return None;
        }
        match msg.body {
            Body::SrvRqst(r) => self.srv_rqst(&msg, r, mcast, via),
            Body::AttrRqst(r) => self.attr_rqst(&msg, r, mcast),
            Body::SrvTypeRqst(r) => self.srv_type_rqst(&msg, r, mcast),
            _ => None,
        }
    }

    fn parse_error_reply(&self, bytes: &[u8], via: Via) -> Option<Vec<u8>> {
        // Errors go only to unicast requests (RFC 2608 §7); the header must be readable.
        let raw = crate::header::RawHeader::parse(bytes).ok()?;
        if via == Via::Multicast || raw.header.flags.contains(Flags::REQUEST_MCAST) {
            return None;
        }
        let body = match raw.function {
            crate::FunctionId::SRV_RQST => Body::SrvRply(SrvRply {
                error: ErrorCode::PARSE_ERROR,
                ..SrvRply::default()
            }),
            crate::FunctionId::ATTR_RQST => Body::AttrRply(AttrRply {
                error: ErrorCode::PARSE_ERROR,
                ..AttrRply::default()
            }),
            crate::FunctionId::SRV_TYPE_RQST => Body::SrvTypeRply(SrvTypeRply {
                error: ErrorCode::PARSE_ERROR,
                ..SrvTypeRply::default()
            }),
            _ => return None,
        };
        reply(&raw.header, body, Extensions::default(), Flags::empty()).ok()
    }

    fn error_reply(&self, msg: &Message<'_>, error: ErrorCode, mcast: bool) -> Option<Vec<u8>> {
        if mcast {
            return None;
        }
        let body = match msg.body {
            Body::SrvRqst(_) => Body::SrvRply(SrvRply {
                error,
                ..SrvRply::default()
            }),
            Body::AttrRqst(_) => Body::AttrRply(AttrRply {
                error,
                ..AttrRply::default()
            }),
            Body::SrvTypeRqst(_) => Body::SrvTypeRply(SrvTypeRply {
                error,
                ..SrvTypeRply::default()
            }),
            _ => return None,
        };
        reply(&msg.header, body, Extensions::default(), Flags::empty()).ok()
    }

    fn in_scope(&self, scopes: &StringList<'_>) -> bool {
        scopes.iter().any(|s| {
            self.cfg
                .scopes
                .iter()
                .any(|mine| crate::strings::folded_eq(s, mine))
        })
    }

    fn srv_rqst(
        &self,
        msg: &Message<'_>,
        r: crate::msg::SrvRqst<'_>,
        mcast: bool,
        via: Via,
    ) -> Option<Vec<u8>> {
        if r.service_type.is_empty() {
            return self.error_reply(msg, ErrorCode::PARSE_ERROR, mcast);
        }
        let st = ServiceType(r.service_type);
        if st.matches(&ServiceType("service:service-agent"))
            && st.0.len() == "service:service-agent".len()
        {
            // SA discovery (RFC 2608 §8.6); an empty scope list is allowed here (§11).
            if !r.scopes.is_empty() && !self.in_scope(&r.scopes) {
                return self.error_reply(msg, ErrorCode::SCOPE_NOT_SUPPORTED, mcast);
            }
            let scopes = join_list(self.cfg.scopes.iter().map(String::as_str));
            let body = Body::SaAdvert(SaAdvert {
                url: &self.cfg.sa_url,
                scopes: StringList(&scopes),
                ..SaAdvert::default()
            });
            return reply(&msg.header, body, Extensions::default(), Flags::empty()).ok();
        }
        if st.0.eq_ignore_ascii_case("service:directory-agent") {
            return None;
        }
        if !self.in_scope(&r.scopes) {
            return self.error_reply(msg, ErrorCode::SCOPE_NOT_SUPPORTED, mcast);
        }
        let Ok(pred) = Predicate::parse(r.predicate) else {
            return self.error_reply(msg, ErrorCode::PARSE_ERROR, mcast);
        };
        let hits: Vec<&Registration> = self
            .regs
            .iter()
            .filter(|g| st.matches(&ServiceType(reg_type(g))))
            .filter(|g| AttrList::parse(&g.attrs).is_ok_and(|a| pred.matches(&a)))
            .collect();
        if hits.is_empty() && mcast {
            // RFC 2608 §8.2: no reply at all to a multicast request without a match.
            return None;
        }
        let want_attrs = msg.extensions.find(ExtensionId::ATTRIBUTE_LIST).is_some();
        let entries: Vec<UrlEntry<'_>> = hits
            .iter()
            .map(|g| UrlEntry::new(&g.url, g.lifetime))
            .collect();
        let ext_data: Vec<Vec<u8>> = if want_attrs {
            hits.iter()
                .filter_map(|g| {
                    AttrListExt {
                        url: &g.url,
                        attrs: &g.attrs,
                        ..AttrListExt::default()
                    }
                    .to_data()
                    .ok()
                })
                .collect()
        } else {
            Vec::new()
        };
        let exts: Vec<Extension<'_>> = ext_data
            .iter()
            .map(|d| Extension {
                id: ExtensionId::ATTRIBUTE_LIST,
                data: d,
            })
            .collect();
        // RFC 2608 §6.1: over UDP, drop whole URL entries until the reply fits and set
        // OVERFLOW; over TCP there is no limit.
        let mut n = entries.len();
        loop {
            let flags = if n < entries.len() {
                Flags::OVERFLOW
            } else {
                Flags::empty()
            };
            let body = Body::SrvRply(SrvRply {
                error: ErrorCode::OK,
                urls: UrlEntries::List(&entries[..n]),
            });
            let ext = Extensions::List(&exts[..n.min(exts.len())]);
            let bytes = reply(&msg.header, body, ext, flags).ok()?;
            if via == Via::Tcp || bytes.len() <= self.cfg.mtu || n == 0 {
                return Some(bytes);
            }
            n -= 1;
        }
    }

    fn attr_rqst(
        &self,
        msg: &Message<'_>,
        r: crate::msg::AttrRqst<'_>,
        mcast: bool,
    ) -> Option<Vec<u8>> {
        if !self.in_scope(&r.scopes) {
            return self.error_reply(msg, ErrorCode::SCOPE_NOT_SUPPORTED, mcast);
        }
        // A full URL names one registration; otherwise it is a service type (RFC 2608 §10.3).
        let is_url = r.url.contains("://");
        let hits: Vec<&Registration> = self
            .regs
            .iter()
            .filter(|g| {
                if is_url {
                    g.url == r.url
                } else {
                    ServiceType(r.url).matches(&ServiceType(reg_type(g)))
                }
            })
            .collect();
        if hits.is_empty() && mcast {
            return None;
        }
        let mut out: Vec<&str> = Vec::new();
        for g in &hits {
            let Ok(list) = AttrList::parse(&g.attrs) else {
                continue;
            };
            for a in list.iter() {
                let wanted = r.tags.is_empty() || r.tags.iter().any(|t| wildcard_match(a.tag(), t));
                if wanted {
                    out.push(a.as_str());
                }
            }
        }
        let attrs = join_list(out);
        let body = Body::AttrRply(AttrRply {
            error: ErrorCode::OK,
            attrs: &attrs,
            ..AttrRply::default()
        });
        reply(&msg.header, body, Extensions::default(), Flags::empty()).ok()
    }

    fn srv_type_rqst(
        &self,
        msg: &Message<'_>,
        r: crate::msg::SrvTypeRqst<'_>,
        mcast: bool,
    ) -> Option<Vec<u8>> {
        if !self.in_scope(&r.scopes) {
            return self.error_reply(msg, ErrorCode::SCOPE_NOT_SUPPORTED, mcast);
        }
        let mut types: Vec<&str> = Vec::new();
        for g in &self.regs {
            let t = reg_type(g);
            let na = ServiceType(t).naming_authority();
            let ok = match r.naming_authority {
                NamingAuthority::All => true,
                NamingAuthority::Iana => na.is_none(),
                NamingAuthority::Named(n) => na.is_some_and(|x| x.eq_ignore_ascii_case(n)),
            };
            if ok && !types.iter().any(|x| x.eq_ignore_ascii_case(t)) {
                types.push(t);
            }
        }
        if types.is_empty() && mcast {
            return None;
        }
        let list = join_list(types);
        let body = Body::SrvTypeRply(SrvTypeRply {
            error: ErrorCode::OK,
            types: StringList(&list),
        });
        reply(&msg.header, body, Extensions::default(), Flags::empty()).ok()
    }
}

/// A reply echoing the request's XID and language tag (RFC 2608 §8).
fn reply(
    req: &Header<'_>,
    body: Body<'_>,
    extensions: Extensions<'_>,
    flags: Flags,
) -> Result<Vec<u8>, EncodeError> {
    let header = Header {
        flags,
        xid: req.xid,
        language_tag: req.language_tag,
    };
    Message {
        header,
        body,
        extensions,
    }
    .to_vec()
}
