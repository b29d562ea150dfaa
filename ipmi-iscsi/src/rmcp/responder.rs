//! The sans-IO RMCP+ responder (BMC) side: session set-up, authentication, per-session
//! sequence windows and timeouts, with application commands handed to a dispatcher.
//!
//! One [`Responder`] is one emulated BMC (its own users, GUID and sessions). A UDP server
//! hosting many BMCs keeps one responder per local address/port and feeds each datagram
//! to the responder that owns the port it arrived on; the reply goes back to the sender.
//!
//! ```text
//! v1.5 Get Channel Auth Caps ─► reply (no session)
//! Open Session Request ─► [Opened] ─RAKP 1─► [Rakp2Sent] ─RAKP 3 (verified)─► [Active]
//!                                                       └─RAKP 3 bad─► RAKP 4 status 0x0f, dropped
//! [Active] IPMI request ─► session commands handled here, others to the dispatcher
//! idle > session timeout, or Close Session ─► removed
//! [Opened]/[Rakp2Sent] idle > 5 s, or the oldest of 32 when another opens ─► removed
//! ```
//!
//! Set-up travels unauthenticated, so anyone can open sessions. Half-open sessions (no
//! verified RAKP 3 yet) live in their own pool of [`Responder::MAX_HALF_OPEN`], the oldest
//! evicted for a newcomer, and expire after [`Responder::HALF_OPEN_TIMEOUT`] idle; only
//! authenticated sessions count against [`ResponderConfig::max_sessions`]. A flood from
//! strangers thus delays nobody for long and never pushes an authenticated session out. An
//! Open Session Request is a retransmission only when it repeats, byte for byte and from
//! the same peer, the one that opened a session still waiting for RAKP 1: consoles such as
//! ipmitool use one fixed console session ID, so matching on that ID alone would answer a
//! newcomer with a stranger's session.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::client::RandomSource;
use super::crypto::{AES_BLOCK, CipherSuite, RakpTranscript, SessionKeys};
use super::error::{DecodeError, Rejected};
use super::messages::{
    Algorithms, OpenSessionRequest, OpenSessionResponse, Privilege, Rakp1, Rakp2, RakpStatus,
    RakpTail,
};
use super::packet::{Packet, PayloadType, Seal, V2Packet, V15Packet};
use super::secret::Password;
use super::window::{ReplayWindow, next_sequence};
use crate::ipmi::{CompletionCode, NetFn, Request, RequestFrame, Response, app, chassis};

/// One user of the emulated BMC.
#[derive(Clone, Debug)]
pub struct User {
    /// User name (at most 16 bytes).
    pub name: Vec<u8>,
    /// Password (Kuid).
    pub password: Password,
    /// Highest privilege the user may take.
    pub max_privilege: Privilege,
}

/// Configuration of one emulated BMC's RMCP+ endpoint.
#[derive(Clone, Debug)]
pub struct ResponderConfig {
    /// BMC GUID (enters the RAKP HMACs).
    pub guid: [u8; 16],
    /// Users; looked up by name.
    pub users: Vec<User>,
    /// Cipher suites accepted (default 17 and 3).
    pub suites: Vec<CipherSuite>,
    /// Accept suite 0 (no authentication) even when listed in `suites`. Off by default.
    pub allow_unauthenticated: bool,
    /// Largest number of authenticated sessions at once (half-open ones are bounded
    /// separately by [`Responder::MAX_HALF_OPEN`]).
    pub max_sessions: usize,
    /// A session idle this long is dropped.
    pub session_timeout: Duration,
    /// BMC key Kg; `None` uses each user's password.
    pub bmc_key: Option<Password>,
    /// IPMI channel number reported to clients.
    pub channel: u8,
}

impl ResponderConfig {
    /// A BMC with one administrator, suites 17 and 3, 16 sessions, 60 s timeout.
    #[must_use]
    pub fn new(guid: [u8; 16], username: impl Into<Vec<u8>>, password: Password) -> Self {
        Self {
            guid,
            users: vec![User {
                name: username.into(),
                password,
                max_privilege: Privilege::ADMINISTRATOR,
            }],
            suites: vec![CipherSuite::SUITE_17, CipherSuite::SUITE_3],
            allow_unauthenticated: false,
            max_sessions: 16,
            session_timeout: Duration::from_secs(60),
            bmc_key: None,
            channel: 1,
        }
    }
}

/// An authenticated application request for the dispatcher.
#[derive(Clone, Debug)]
pub struct Incoming<'a> {
    /// The BMC-side session ID.
    pub session_id: u32,
    /// The session's current privilege level (already checked against
    /// [`required_privilege`]).
    pub privilege: Privilege,
    /// The logged-in user's name.
    pub username: &'a [u8],
    /// The request.
    pub request: Request,
}

/// The privilege a command needs (IPMI v2.0 appendix G) for the commands this crate knows;
/// `None` leaves the decision to the dispatcher.
#[must_use]
pub fn required_privilege(netfn: NetFn, cmd: u8) -> Option<Privilege> {
    match (netfn, cmd) {
        (NetFn::CHASSIS, chassis::GET_CHASSIS_CAPABILITIES | chassis::GET_CHASSIS_STATUS)
        | (NetFn::APP, app::GET_DEVICE_ID | app::GET_DEVICE_GUID | app::GET_SYSTEM_GUID) => {
            Some(Privilege::USER)
        }
        (
            NetFn::CHASSIS,
            chassis::CHASSIS_CONTROL
            | chassis::CHASSIS_RESET
            | chassis::CHASSIS_IDENTIFY
            | chassis::SET_SYSTEM_BOOT_OPTIONS
            | chassis::GET_SYSTEM_BOOT_OPTIONS,
        ) => Some(Privilege::OPERATOR),
        _ => None,
    }
}

#[derive(Debug)]
enum Phase {
    Opened,
    Rakp2Sent {
        rm: [u8; 16],
        rc: [u8; 16],
        role: u8,
        user: usize,
        reply: Vec<u8>,
    },
    Active {
        keys: SessionKeys,
        user: usize,
        max: Privilege,
        current: Privilege,
    },
}

#[derive(Debug)]
struct Session {
    bmc_sid: u32,
    console_sid: u32,
    /// Who opened it and the exact datagram, to recognise a retransmission.
    opener: (Option<SocketAddr>, Vec<u8>),
    suite: CipherSuite,
    requested: Privilege,
    last_seen: Instant,
    out_seq: u32,
    window: ReplayWindow,
    phase: Phase,
    open_reply: Vec<u8>,
}

/// A sans-IO RMCP+ responder: one emulated BMC.
pub struct Responder {
    config: ResponderConfig,
    random: RandomSource,
    sessions: Vec<Session>,
}

impl core::fmt::Debug for Responder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Responder")
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

fn setup_packet(ty: PayloadType, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    // Set-up payloads are bounded far below MAX_PAYLOAD, so sealing cannot fail.
    let _ = Seal {
        payload_type: ty,
        session_id: 0,
        sequence: 0,
        payload,
    }
    .encode(None, [0; AES_BLOCK], &mut out);
    out
}

impl Responder {
    /// Half-open sessions (opened, RAKP 3 not yet verified) kept at once; a new Open
    /// Session Request beyond this evicts the oldest of them.
    pub const MAX_HALF_OPEN: usize = 32;

    /// A half-open session idle this long is dropped (a console answers each set-up step
    /// within a second, retransmissions included).
    pub const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(5);

    /// A responder drawing session IDs, Rc and IVs from `random`.
    #[must_use]
    pub fn new(config: ResponderConfig, random: RandomSource) -> Self {
        Self {
            config,
            random,
            sessions: Vec::new(),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ResponderConfig {
        &self.config
    }

    /// Sessions in set-up or active.
    #[must_use]
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Active (authenticated) sessions.
    #[must_use]
    pub fn active_sessions(&self) -> usize {
        self.sessions
            .iter()
            .filter(|s| matches!(s.phase, Phase::Active { .. }))
            .count()
    }

    /// Sessions in set-up (no verified RAKP 3 yet).
    #[must_use]
    pub fn half_open_sessions(&self) -> usize {
        self.sessions.len() - self.active_sessions()
    }

    /// How long `s` may stay idle.
    fn idle_limit(&self, s: &Session) -> Duration {
        match s.phase {
            Phase::Active { .. } => self.config.session_timeout,
            _ => Self::HALF_OPEN_TIMEOUT.min(self.config.session_timeout),
        }
    }

    /// Drops sessions idle longer than the session timeout, half-open ones after
    /// [`Responder::HALF_OPEN_TIMEOUT`].
    pub fn expire(&mut self, now: Instant) {
        let limits: Vec<Duration> = self.sessions.iter().map(|s| self.idle_limit(s)).collect();
        let mut limits = limits.into_iter();
        self.sessions.retain(|s| {
            let limit = limits.next().unwrap_or_default();
            now.saturating_duration_since(s.last_seen) < limit
        });
    }

    /// When the next session would expire.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sessions
            .iter()
            .map(|s| s.last_seen + self.idle_limit(s))
            .min()
    }

    fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        (self.random)(&mut b);
        b
    }

    fn suite_allowed(&self, algs: Algorithms) -> Option<CipherSuite> {
        let s = CipherSuite::from_algorithms(algs.auth, algs.integrity, algs.confidentiality)?;
        let ok = self.config.suites.contains(&s)
            && (s.is_authenticated() || self.config.allow_unauthenticated);
        ok.then_some(s)
    }

    /// Handles one datagram whose sender is not known (every datagram is taken to come from
    /// one peer); see [`Responder::handle_datagram_from`].
    ///
    /// # Errors
    /// As [`Responder::handle_datagram_from`].
    pub fn handle_datagram<F>(
        &mut self,
        now: Instant,
        datagram: &[u8],
        dispatch: F,
    ) -> Result<Option<Vec<u8>>, Rejected>
    where
        F: FnOnce(&Incoming<'_>) -> Response,
    {
        self.handle(now, None, datagram, dispatch)
    }

    /// Handles one datagram from `peer`; returns the reply to send back, if any.
    ///
    /// Application requests of an active session go to `dispatch` (after the privilege
    /// check of [`required_privilege`]); its response is sealed into the reply.
    ///
    /// # Errors
    /// [`Rejected`] for datagrams that are malformed, unauthenticated, replayed or for an
    /// unknown session; nothing is sent back for them.
    pub fn handle_datagram_from<F>(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        datagram: &[u8],
        dispatch: F,
    ) -> Result<Option<Vec<u8>>, Rejected>
    where
        F: FnOnce(&Incoming<'_>) -> Response,
    {
        self.handle(now, Some(peer), datagram, dispatch)
    }

    fn handle<F>(
        &mut self,
        now: Instant,
        peer: Option<SocketAddr>,
        datagram: &[u8],
        dispatch: F,
    ) -> Result<Option<Vec<u8>>, Rejected>
    where
        F: FnOnce(&Incoming<'_>) -> Response,
    {
        self.expire(now);
        match Packet::decode(datagram)? {
            Packet::V15(p) => {
                if p.session_id != 0 {
                    return Err(Rejected::Unexpected {
                        what: "ipmi v1.5 session",
                        state: "no v1.5 sessions",
                    });
                }
                let frame = RequestFrame::decode(p.message).map_err(DecodeError::from)?;
                let reply = self.sessionless(&frame).ok_or(Rejected::Unexpected {
                    what: "session-less command",
                    state: "pre-session",
                })?;
                let mut msg = Vec::new();
                reply
                    .encode(&frame, &mut msg)
                    .map_err(|_| Rejected::Unexpected {
                        what: "unencodable request",
                        state: "pre-session",
                    })?;
                let mut out = Vec::new();
                V15Packet::encode(&msg, &mut out).map_err(|_| Rejected::Unexpected {
                    what: "oversized reply",
                    state: "pre-session",
                })?;
                Ok(Some(out))
            }
            Packet::V2(p) if p.session_id == 0 => self.setup(now, (peer, datagram), &p).map(Some),
            Packet::V2(p) => self.in_session(now, &p, dispatch).map(Some),
        }
    }

    fn sessionless(&self, frame: &RequestFrame<'_>) -> Option<Response> {
        match (frame.netfn, frame.cmd) {
            (NetFn::APP, app::GET_CHANNEL_AUTH_CAPABILITIES) => Some(self.auth_caps(frame.data)),
            (NetFn::APP, app::GET_CHANNEL_CIPHER_SUITES) => Some(self.cipher_suites(frame.data)),
            _ => None,
        }
    }

    fn auth_caps(&self, data: &[u8]) -> Response {
        if data.len() != 2 {
            return Response::error(CompletionCode::REQUEST_DATA_LENGTH_INVALID);
        }
        let v2 = data[0] & 0x80 != 0;
        let none = u8::from(self.config.allow_unauthenticated);
        Response::ok([
            self.config.channel,
            // bit 7: extended (v2.0) data present; bit 0: authentication type "none".
            (u8::from(v2) << 7) | none,
            // bit 2: non-null user names enabled.
            0x04,
            // extended capabilities: bit 1 = IPMI v2.0 connections supported.
            if v2 { 0x02 } else { 0x00 },
            0,
            0,
            0,
            0,
        ])
    }

    fn cipher_suites(&self, data: &[u8]) -> Response {
        if data.len() != 3 {
            return Response::error(CompletionCode::REQUEST_DATA_LENGTH_INVALID);
        }
        let mut records = Vec::new();
        for s in &self.config.suites {
            if !s.is_authenticated() && !self.config.allow_unauthenticated {
                continue;
            }
            records.extend_from_slice(&[
                0xc0,
                s.id,
                s.auth.number(),
                0x40 | s.integrity.number(),
                0x80 | s.confidentiality.number(),
            ]);
        }
        let index = usize::from(data[2] & 0x3f) * 16;
        let mut out = vec![self.config.channel];
        out.extend(records.iter().skip(index).take(16));
        Response::ok(out)
    }

    fn setup(
        &mut self,
        now: Instant,
        from: (Option<SocketAddr>, &[u8]),
        p: &V2Packet<'_>,
    ) -> Result<Vec<u8>, Rejected> {
        let payload = p.open(None)?;
        match p.payload_type {
            PayloadType::IPMI => {
                let frame = RequestFrame::decode(&payload).map_err(DecodeError::from)?;
                let reply = self.sessionless(&frame).ok_or(Rejected::Unexpected {
                    what: "session-less command",
                    state: "pre-session",
                })?;
                let mut msg = Vec::new();
                reply
                    .encode(&frame, &mut msg)
                    .map_err(|_| Rejected::Unexpected {
                        what: "unencodable request",
                        state: "pre-session",
                    })?;
                Ok(setup_packet(PayloadType::IPMI, &msg))
            }
            PayloadType::OPEN_SESSION_REQUEST => self.open_session(now, from, &payload),
            PayloadType::RAKP1 => self.rakp1(now, &payload),
            PayloadType::RAKP3 => self.rakp3(now, &payload),
            _ => Err(Rejected::Unexpected {
                what: "payload type",
                state: "session set-up",
            }),
        }
    }

    fn open_session(
        &mut self,
        now: Instant,
        (peer, datagram): (Option<SocketAddr>, &[u8]),
        payload: &[u8],
    ) -> Result<Vec<u8>, Rejected> {
        let req = OpenSessionRequest::decode(payload)?;
        // A retransmitted request (same peer, same bytes) gets the same answer, not a
        // second session.
        if let Some(s) = self.sessions.iter_mut().find(|s| {
            matches!(s.phase, Phase::Opened) && s.opener.0 == peer && s.opener.1 == datagram
        }) {
            s.last_seen = now;
            return Ok(s.open_reply.clone());
        }
        let refuse = |status: RakpStatus| {
            let mut out = Vec::new();
            OpenSessionResponse {
                tag: req.tag,
                status,
                max_privilege: Privilege(0),
                console_sid: req.console_sid,
                accepted: None,
            }
            .encode(&mut out);
            setup_packet(PayloadType::OPEN_SESSION_RESPONSE, &out)
        };
        let Some(suite) = self.suite_allowed(req.algorithms) else {
            return Ok(refuse(RakpStatus::NO_CIPHER_SUITE_MATCH));
        };
        if req.max_privilege.0 > Privilege::OEM.0 {
            return Ok(refuse(RakpStatus::INVALID_ROLE));
        }
        if self.active_sessions() >= self.config.max_sessions {
            return Ok(refuse(RakpStatus::INSUFFICIENT_RESOURCES));
        }
        if self.half_open_sessions() >= Self::MAX_HALF_OPEN {
            // The pool is full of consoles that went quiet (or strangers): the oldest goes.
            if let Some(oldest) = self
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| !matches!(s.phase, Phase::Active { .. }))
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(i, _)| i)
            {
                self.sessions.remove(oldest);
            }
        }
        let mut bmc_sid = 0;
        while bmc_sid == 0 || self.sessions.iter().any(|s| s.bmc_sid == bmc_sid) {
            bmc_sid = u32::from_le_bytes(self.random());
        }
        let requested = if req.max_privilege == Privilege::HIGHEST {
            Privilege::ADMINISTRATOR
        } else {
            req.max_privilege
        };
        let mut out = Vec::new();
        OpenSessionResponse {
            tag: req.tag,
            status: RakpStatus::OK,
            max_privilege: requested,
            console_sid: req.console_sid,
            accepted: Some((bmc_sid, req.algorithms)),
        }
        .encode(&mut out);
        let reply = setup_packet(PayloadType::OPEN_SESSION_RESPONSE, &out);
        self.sessions.push(Session {
            bmc_sid,
            console_sid: req.console_sid,
            opener: (peer, datagram.to_vec()),
            suite,
            requested,
            last_seen: now,
            out_seq: 0,
            window: ReplayWindow::new(),
            phase: Phase::Opened,
            open_reply: reply.clone(),
        });
        Ok(reply)
    }

    fn rakp1(&mut self, now: Instant, payload: &[u8]) -> Result<Vec<u8>, Rejected> {
        let r = Rakp1::decode(payload)?;
        let rc = self.random::<16>();
        let refuse = |status: RakpStatus, console_sid: u32| {
            let mut out = Vec::new();
            Rakp2 {
                tag: r.tag,
                status,
                console_sid,
                accepted: None,
            }
            .encode(&mut out);
            setup_packet(PayloadType::RAKP2, &out)
        };
        let Some(idx) = self.sessions.iter().position(|s| s.bmc_sid == r.bmc_sid) else {
            return Ok(refuse(RakpStatus::INVALID_SESSION_ID, 0));
        };
        let session = &mut self.sessions[idx];
        match &session.phase {
            Phase::Opened => {}
            Phase::Rakp2Sent { rm, reply, .. } if *rm == r.console_random => {
                return Ok(reply.clone());
            }
            _ => return Err(Rejected::StaleHandshake),
        }
        let console_sid = session.console_sid;
        let Some(user) = self.config.users.iter().position(|u| u.name == r.username) else {
            self.sessions.remove(idx);
            return Ok(refuse(RakpStatus::UNAUTHORIZED_NAME, console_sid));
        };
        let role_priv = r.role & 0x0f;
        let user_max = self.config.users[user].max_privilege;
        if role_priv > Privilege::OEM.0 || role_priv == 0 {
            self.sessions.remove(idx);
            return Ok(refuse(RakpStatus::INVALID_ROLE, console_sid));
        }
        if role_priv > user_max.0 {
            self.sessions.remove(idx);
            return Ok(refuse(RakpStatus::UNAUTHORIZED_ROLE, console_sid));
        }
        let session = &mut self.sessions[idx];
        let t = RakpTranscript {
            console_sid,
            bmc_sid: session.bmc_sid,
            console_random: &r.console_random,
            bmc_random: &rc,
            bmc_guid: &self.config.guid,
            role: r.role,
            username: &r.username,
        };
        let code = t.rakp2_auth_code(
            session.suite.auth,
            self.config.users[user].password.padded(),
        );
        let mut out = Vec::new();
        Rakp2 {
            tag: r.tag,
            status: RakpStatus::OK,
            console_sid,
            accepted: Some((rc, self.config.guid, code.as_bytes().to_vec())),
        }
        .encode(&mut out);
        let reply = setup_packet(PayloadType::RAKP2, &out);
        session.last_seen = now;
        session.phase = Phase::Rakp2Sent {
            rm: r.console_random,
            rc,
            role: r.role,
            user,
            reply: reply.clone(),
        };
        Ok(reply)
    }

    fn rakp3(&mut self, now: Instant, payload: &[u8]) -> Result<Vec<u8>, Rejected> {
        // The code length is known only once the session (and its suite) is found.
        let bmc_sid = if payload.len() >= 8 {
            u32::from_le_bytes([payload[4], payload[5], payload[6], payload[7]])
        } else {
            return Err(DecodeError::Truncated {
                what: "rakp 3",
                need: 8,
                have: payload.len(),
            }
            .into());
        };
        let Some(idx) = self.sessions.iter().position(|s| s.bmc_sid == bmc_sid) else {
            let mut out = Vec::new();
            RakpTail {
                tag: payload[0],
                status: RakpStatus::INVALID_SESSION_ID,
                session_id: 0,
                code: Vec::new(),
            }
            .encode(&mut out);
            return Ok(setup_packet(PayloadType::RAKP4, &out));
        };
        let session = &self.sessions[idx];
        let Phase::Rakp2Sent {
            rm, rc, role, user, ..
        } = &session.phase
        else {
            return Err(Rejected::StaleHandshake);
        };
        let (rm, rc, role, user) = (*rm, *rc, *role, *user);
        let suite = session.suite;
        let console_sid = session.console_sid;
        let r = RakpTail::decode(payload, suite.auth.mac_len(), "rakp 3")?;
        if !r.status.is_ok() {
            // The console refused our RAKP 2 (it thinks the password is wrong).
            self.sessions.remove(idx);
            return Err(Rejected::Unexpected {
                what: "rakp 3 error status",
                state: "rakp 2 sent",
            });
        }
        let u = &self.config.users[user];
        let t = RakpTranscript {
            console_sid,
            bmc_sid,
            console_random: &rm,
            bmc_random: &rc,
            bmc_guid: &self.config.guid,
            role,
            username: &u.name,
        };
        let tail = |status: RakpStatus, code: Vec<u8>| {
            let mut out = Vec::new();
            RakpTail {
                tag: r.tag,
                status,
                session_id: console_sid,
                code,
            }
            .encode(&mut out);
            setup_packet(PayloadType::RAKP4, &out)
        };
        if suite.is_authenticated()
            && !t
                .rakp3_auth_code(suite.auth, u.password.padded())
                .matches(&r.code)
        {
            self.sessions.remove(idx);
            return Ok(tail(RakpStatus::INVALID_INTEGRITY_CHECK_VALUE, Vec::new()));
        }
        if self.active_sessions() >= self.config.max_sessions {
            // Sessions authenticated since this one opened took the last places.
            self.sessions.remove(idx);
            return Ok(tail(RakpStatus::INSUFFICIENT_RESOURCES, Vec::new()));
        }
        let kg = self.config.bmc_key.as_ref().unwrap_or(&u.password).padded();
        let keys = t.derive_keys(suite, kg);
        let icv = keys.rakp4_icv(&t).as_bytes().to_vec();
        let max = Privilege((role & 0x0f).min(u.max_privilege.0));
        let session = &mut self.sessions[idx];
        let max = Privilege(max.0.min(session.requested.0));
        session.last_seen = now;
        // IPMI v2.0 §13.22: the session starts at User level (or lower if that is the max).
        session.phase = Phase::Active {
            keys,
            user,
            max,
            current: Privilege(max.0.min(Privilege::USER.0)),
        };
        Ok(tail(RakpStatus::OK, icv))
    }

    fn in_session<F>(
        &mut self,
        now: Instant,
        p: &V2Packet<'_>,
        dispatch: F,
    ) -> Result<Vec<u8>, Rejected>
    where
        F: FnOnce(&Incoming<'_>) -> Response,
    {
        if p.payload_type != PayloadType::IPMI {
            return Err(Rejected::Unexpected {
                what: "payload type",
                state: "active",
            });
        }
        let Some(idx) = self.sessions.iter().position(|s| s.bmc_sid == p.session_id) else {
            return Err(Rejected::WrongSessionId {
                expected: 0,
                found: p.session_id,
            });
        };
        let session = &mut self.sessions[idx];
        let Phase::Active {
            keys,
            user,
            max,
            current,
        } = &mut session.phase
        else {
            return Err(Rejected::Unexpected {
                what: "ipmi payload",
                state: "session set-up",
            });
        };
        if !session.window.check(p.sequence) {
            return Err(Rejected::Replay {
                sequence: p.sequence,
            });
        }
        let payload = p.open(Some(keys))?;
        let frame = RequestFrame::decode(&payload).map_err(DecodeError::from)?;
        session.window.accept(p.sequence);
        session.last_seen = now;
        let mut close = false;
        let response = match (frame.netfn, frame.cmd) {
            (NetFn::APP, app::SET_SESSION_PRIVILEGE_LEVEL) => match frame.data {
                [0] => Response::ok([current.0]),
                [level] if *level > Privilege::OEM.0 || *level < Privilege::USER.0 => {
                    Response::error(CompletionCode::INVALID_DATA_FIELD)
                }
                // 0x81: requested level not available for this user.
                [level] if *level > max.0 => Response::error(CompletionCode(0x81)),
                [level] => {
                    *current = Privilege(*level);
                    Response::ok([*level])
                }
                _ => Response::error(CompletionCode::REQUEST_DATA_LENGTH_INVALID),
            },
            (NetFn::APP, app::CLOSE_SESSION) => match frame.data {
                [a, b, c, d] if u32::from_le_bytes([*a, *b, *c, *d]) == session.bmc_sid => {
                    close = true;
                    Response::ok([])
                }
                // 0x87: invalid session ID in request.
                [_, _, _, _] => Response::error(CompletionCode(0x87)),
                _ => Response::error(CompletionCode::REQUEST_DATA_LENGTH_INVALID),
            },
            (NetFn::APP, app::GET_CHANNEL_AUTH_CAPABILITIES) => self.auth_caps(frame.data),
            (NetFn::APP, app::GET_CHANNEL_CIPHER_SUITES) => self.cipher_suites(frame.data),
            (netfn, cmd) => {
                let need = required_privilege(netfn, cmd);
                if need.is_some_and(|n| current.0 < n.0) {
                    Response::error(CompletionCode::INSUFFICIENT_PRIVILEGE)
                } else {
                    let incoming = Incoming {
                        session_id: session.bmc_sid,
                        privilege: *current,
                        username: &self.config.users[*user].name,
                        request: frame.to_request(),
                    };
                    dispatch(&incoming)
                }
            }
        };
        let mut msg = Vec::new();
        response
            .encode(&frame, &mut msg)
            .map_err(|_| Rejected::Unexpected {
                what: "unencodable request",
                state: "active",
            })?;
        let mut iv = [0u8; AES_BLOCK];
        (self.random)(&mut iv);
        let session = &mut self.sessions[idx];
        let Phase::Active { keys, .. } = &session.phase else {
            return Err(Rejected::Unexpected {
                what: "ipmi payload",
                state: "session set-up",
            });
        };
        session.out_seq = next_sequence(session.out_seq);
        let mut out = Vec::new();
        Seal {
            payload_type: PayloadType::IPMI,
            session_id: session.console_sid,
            sequence: session.out_seq,
            payload: &msg,
        }
        .encode(Some(keys), iv, &mut out)
        .map_err(|_| Rejected::Unexpected {
            what: "oversized response",
            state: "active",
        })?;
        if close {
            self.sessions.remove(idx);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::{Duration, Instant};

    use super::super::client::{ClientConfig, ClientSession, Event};
    use super::super::error::{AuthFailure, SessionError};
    use super::*;

    /// ipmitool's fixed console session ID.
    const IPMITOOL_SID: u32 = 0xa0a2_a3a4;

    fn rng(seed: u64) -> RandomSource {
        let mut s = seed | 1;
        Box::new(move |buf: &mut [u8]| {
            for b in buf {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                *b = s.to_le_bytes()[3];
            }
        })
    }

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    fn bmc(max_sessions: usize) -> Responder {
        let mut cfg = ResponderConfig::new([7; 16], "admin", Password::new("password").unwrap());
        cfg.max_sessions = max_sessions;
        Responder::new(cfg, rng(42))
    }

    /// An Open Session Request datagram as a stranger (or ipmitool) sends it.
    fn open_request(console_sid: u32, suite: CipherSuite, tag: u8) -> Vec<u8> {
        let mut payload = Vec::new();
        OpenSessionRequest {
            tag,
            max_privilege: Privilege(0),
            console_sid,
            algorithms: Algorithms {
                auth: suite.auth.number(),
                integrity: suite.integrity.number(),
                confidentiality: suite.confidentiality.number(),
            },
        }
        .encode(&mut payload);
        setup_packet(PayloadType::OPEN_SESSION_REQUEST, &payload)
    }

    /// The payload type of a set-up datagram and, for an Open Session Request, its console
    /// session ID.
    fn setup_step(datagram: &[u8]) -> Option<(PayloadType, Option<u32>)> {
        match Packet::decode(datagram).ok()? {
            Packet::V2(p) if p.session_id == 0 => Some((
                p.payload_type,
                OpenSessionRequest::decode(p.payload)
                    .ok()
                    .filter(|_| p.payload_type == PayloadType::OPEN_SESSION_REQUEST)
                    .map(|r| r.console_sid),
            )),
            _ => None,
        }
    }

    /// A suite-17-only console (`ipmitool -C 17`) logging in from `from` at `now`;
    /// `before` runs just before each of its set-up datagrams reaches the BMC.
    fn login(
        bmc: &mut Responder,
        now: Instant,
        from: SocketAddr,
        seed: u64,
        mut before: impl FnMut(&mut Responder, PayloadType, Option<u32>),
    ) -> Event {
        let mut cfg = ClientConfig::new("admin", Password::new("password").unwrap());
        cfg.suites = vec![CipherSuite::SUITE_17];
        let mut c = ClientSession::new(cfg, rng(seed));
        c.connect(now);
        for _ in 0..20 {
            while let Some(d) = c.poll_transmit() {
                if let Some((step, sid)) = setup_step(&d) {
                    before(bmc, step, sid);
                }
                if let Ok(Some(r)) = bmc.handle_datagram_from(now, from, &d, |_| Response::ok([])) {
                    let _ = c.handle_input(now, &r);
                }
            }
            if let Some(e) = c.poll_event() {
                return e;
            }
        }
        panic!("the handshake did not settle");
    }

    fn connected(e: &Event) -> bool {
        matches!(e, Event::Connected { suite } if *suite == CipherSuite::SUITE_17)
    }

    #[test]
    fn a_strangers_open_session_with_the_consoles_sid_is_not_its_retransmission() {
        let mut bmc = bmc(16);
        let now = Instant::now();
        let stranger = open_request(IPMITOOL_SID, CipherSuite::SUITE_3, 0);
        assert!(
            bmc.handle_datagram_from(now, peer(9), &stranger, |_| Response::ok([]))
                .unwrap()
                .is_some()
        );
        // The console uses the same console session ID (as every ipmitool does).
        let e = login(&mut bmc, now, peer(10), 1, |bmc, _, sid| {
            if let Some(sid) = sid {
                let same = open_request(sid, CipherSuite::SUITE_3, 0);
                let _ = bmc.handle_datagram_from(now, peer(9), &same, |_| Response::ok([]));
            }
        });
        assert!(connected(&e), "{e:?}");
    }

    #[test]
    fn an_identical_open_session_from_the_same_peer_is_answered_again() {
        let mut bmc = bmc(16);
        let now = Instant::now();
        let req = open_request(IPMITOOL_SID, CipherSuite::SUITE_17, 3);
        let answer = |bmc: &mut Responder, from, req: &[u8]| {
            bmc.handle_datagram_from(now, from, req, |_| Response::ok([]))
                .unwrap()
                .unwrap()
        };
        let first = answer(&mut bmc, peer(9), &req);
        assert_eq!(answer(&mut bmc, peer(9), &req), first);
        assert_eq!(bmc.session_count(), 1);
        // Another peer, or other bytes: a session of its own.
        assert_ne!(answer(&mut bmc, peer(10), &req), first);
        let other_tag = open_request(IPMITOOL_SID, CipherSuite::SUITE_17, 4);
        assert_ne!(answer(&mut bmc, peer(9), &other_tag), first);
        assert_eq!(bmc.session_count(), 3);
    }

    #[test]
    fn a_flood_of_open_sessions_leaves_a_console_logging_in_at_once() {
        let mut bmc = bmc(16);
        let now = Instant::now();
        for i in 0..1000u16 {
            let req = open_request(IPMITOOL_SID, CipherSuite::SUITE_3, 0);
            let _ = bmc.handle_datagram_from(now, peer(20_000 + i), &req, |_| Response::ok([]));
        }
        assert_eq!(bmc.half_open_sessions(), Responder::MAX_HALF_OPEN);
        let e = login(&mut bmc, now, peer(10), 1, |_, _, _| {});
        assert!(connected(&e), "{e:?}");
        assert_eq!(bmc.active_sessions(), 1);
    }

    #[test]
    fn half_open_sessions_expire_after_the_half_open_timeout_and_active_ones_later() {
        let mut bmc = bmc(16);
        let t0 = Instant::now();
        let e = login(&mut bmc, t0, peer(10), 1, |_, _, _| {});
        assert!(connected(&e), "{e:?}");
        let req = open_request(IPMITOOL_SID, CipherSuite::SUITE_3, 0);
        let _ = bmc.handle_datagram_from(t0, peer(9), &req, |_| Response::ok([]));
        assert_eq!((bmc.active_sessions(), bmc.half_open_sessions()), (1, 1));
        assert_eq!(bmc.poll_timeout(), Some(t0 + Responder::HALF_OPEN_TIMEOUT));
        bmc.expire(t0 + Responder::HALF_OPEN_TIMEOUT - Duration::from_millis(1));
        assert_eq!(bmc.half_open_sessions(), 1);
        bmc.expire(t0 + Responder::HALF_OPEN_TIMEOUT);
        assert_eq!((bmc.active_sessions(), bmc.half_open_sessions()), (1, 0));
        assert_eq!(bmc.poll_timeout(), Some(t0 + bmc.config().session_timeout));
        bmc.expire(t0 + bmc.config().session_timeout);
        assert_eq!(bmc.session_count(), 0);
    }

    #[test]
    fn half_open_sessions_never_take_the_place_of_authenticated_ones() {
        let mut bmc = bmc(2);
        let now = Instant::now();
        for (seed, port) in [(1, 10), (2, 11)] {
            let e = login(&mut bmc, now, peer(port), seed, |_, _, _| {});
            assert!(connected(&e), "{e:?}");
        }
        for i in 0..100u16 {
            let req = open_request(IPMITOOL_SID, CipherSuite::SUITE_17, 0);
            let _ = bmc.handle_datagram_from(now, peer(20_000 + i), &req, |_| Response::ok([]));
        }
        assert_eq!(bmc.active_sessions(), 2);
        // Both places are taken by authenticated consoles: a third is refused up front.
        let e = login(&mut bmc, now, peer(12), 3, |_, _, _| {});
        assert_eq!(
            e,
            Event::Failed(SessionError::Authentication(AuthFailure::Status {
                step: "open session",
                status: RakpStatus::INSUFFICIENT_RESOURCES
            }))
        );
    }

    #[test]
    fn a_session_that_lost_the_last_place_meanwhile_is_refused_at_rakp_3() {
        let mut bmc = bmc(1);
        let now = Instant::now();
        // A console opens a session; a second one logs in before the first sends RAKP 3.
        let mut second = None;
        let e = login(&mut bmc, now, peer(10), 1, |bmc, step, _| {
            if step == PayloadType::RAKP3 && second.is_none() {
                second = Some(login(bmc, now, peer(11), 2, |_, _, _| {}));
            }
        });
        assert!(connected(second.as_ref().unwrap()));
        assert!(
            matches!(
                e,
                Event::Failed(SessionError::Authentication(AuthFailure::Status {
                    step: "rakp 3",
                    status: RakpStatus::INSUFFICIENT_RESOURCES,
                }))
            ),
            "{e:?}"
        );
        assert_eq!(bmc.session_count(), 1);
    }
}
