//! The sans-IO RMCP+ client (remote console) session.
//!
//! ```text
//!  connect ─► AuthCaps ─► OpenSession(suite i) ─► Rakp1 ─► Rakp3 ─► Active ─► Closing ─► Closed
//!                              │ refused/timeout/mismatch: suite i+1
//!  any step: error ─► Failed
//! ```
//!
//! Inputs: [`ClientSession::connect`], [`ClientSession::handle_input`],
//! [`ClientSession::handle_timeout`], [`ClientSession::send_request`],
//! [`ClientSession::close`]. Outputs: [`ClientSession::poll_transmit`],
//! [`ClientSession::poll_timeout`], [`ClientSession::poll_event`]. Time and randomness come
//! in from outside; nothing here reads a clock or a socket.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::crypto::{AES_BLOCK, CipherSuite, RakpTranscript, SessionKeys};
use super::error::{AuthFailure, Rejected, SessionError};
use super::messages::{
    Algorithms, OpenSessionRequest, OpenSessionResponse, Privilege, ROLE_NAME_ONLY_LOOKUP, Rakp1,
    Rakp2, RakpStatus, RakpTail,
};
use super::packet::{Packet, PayloadType, Seal, V15Packet};
use super::secret::Password;
use super::window::{ReplayWindow, next_sequence};
use crate::ipmi::{
    Addressing, CompletionCode, MAX_RQ_SEQ, NetFn, Request, Response, ResponseFrame, app,
};

/// A source of cryptographically secure random bytes (session IDs, Rm, IVs).
pub type RandomSource = Box<dyn FnMut(&mut [u8]) + Send>;

/// Retransmission policy for one request or handshake step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Time to wait for an answer before retransmitting.
    pub timeout: Duration,
    /// Transmissions in total (first send included); at least 1.
    pub attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(1000),
            attempts: 3,
        }
    }
}

/// What a client session needs to log in.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// User name (at most 16 bytes).
    pub username: Vec<u8>,
    /// User password (Kuid).
    pub password: Password,
    /// BMC key Kg for two-key logins; `None` uses the password.
    pub bmc_key: Option<Password>,
    /// Privilege level to run at.
    pub privilege: Privilege,
    /// Cipher suites to try, in order (default 17 then 3).
    pub suites: Vec<CipherSuite>,
    /// Permit suite 0 and suites without integrity (1, 15). Off by default.
    pub allow_unauthenticated: bool,
    /// Set the RAKP 1 "name-only lookup" role bit (ipmitool's default).
    pub name_only_lookup: bool,
    /// Retransmission policy per step.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// Administrator login with suites 17 then 3 and the default retry policy.
    #[must_use]
    pub fn new(username: impl Into<Vec<u8>>, password: Password) -> Self {
        Self {
            username: username.into(),
            password,
            bmc_key: None,
            privilege: Privilege::ADMINISTRATOR,
            suites: vec![CipherSuite::SUITE_17, CipherSuite::SUITE_3],
            allow_unauthenticated: false,
            name_only_lookup: true,
            retry: RetryPolicy::default(),
        }
    }

    /// Moves `suite` to the front of the list (a suite remembered for this BMC).
    #[must_use]
    pub fn prefer(mut self, suite: CipherSuite) -> Self {
        self.suites.retain(|s| *s != suite);
        self.suites.insert(0, suite);
        self
    }
}

/// Handle of a request passed to [`ClientSession::send_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Something the session reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The session is active with this suite.
    Connected {
        /// The negotiated cipher suite.
        suite: CipherSuite,
    },
    /// The BMC answered a request.
    Response {
        /// The request.
        id: RequestId,
        /// The BMC's response (any completion code).
        response: Response,
    },
    /// A request got no answer within the retry policy (or the session ended).
    RequestFailed {
        /// The request.
        id: RequestId,
        /// Why.
        error: SessionError,
    },
    /// The session was closed (Close Session answered or given up on).
    Closed,
    /// The session could not be established or died.
    Failed(SessionError),
}

/// One transmission awaiting an answer.
#[derive(Debug)]
struct Pending {
    packet: Vec<u8>,
    deadline: Instant,
    sent: u32,
}

/// Why a request is in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    User(RequestId),
    SetPrivilege,
    Close,
}

#[derive(Debug)]
struct InFlight {
    purpose: Purpose,
    request: Request,
    rq_seq: u8,
    pending: Pending,
}

#[derive(Debug)]
struct Active {
    keys: SessionKeys,
    bmc_sid: u32,
    console_sid: u32,
    out_seq: u32,
    window: ReplayWindow,
    rq_seq: u8,
    in_flight: Option<InFlight>,
    closing: bool,
}

#[derive(Debug)]
struct Handshake {
    suite_index: usize,
    console_sid: u32,
    tag: u8,
}

#[derive(Debug)]
enum State {
    Idle,
    AuthCaps {
        v2_bit: bool,
        pending: Pending,
    },
    OpenSession {
        hs: Handshake,
        pending: Pending,
    },
    Rakp1 {
        hs: Handshake,
        bmc_sid: u32,
        rm: [u8; 16],
        role: u8,
        pending: Pending,
    },
    Rakp3 {
        hs: Handshake,
        bmc_sid: u32,
        rm: [u8; 16],
        guid: [u8; 16],
        keys: SessionKeys,
        pending: Pending,
    },
    Active(Box<Active>),
    Closed,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::AuthCaps { .. } => "get channel authentication capabilities",
            Self::OpenSession { .. } => "open session",
            Self::Rakp1 { .. } => "rakp 1",
            Self::Rakp3 { .. } => "rakp 3",
            Self::Active(_) => "active",
            Self::Closed => "closed",
            Self::Failed => "failed",
        }
    }
}

/// A sans-IO RMCP+ client session with one BMC.
pub struct ClientSession {
    config: ClientConfig,
    suites: Vec<CipherSuite>,
    random: RandomSource,
    state: State,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    queue: VecDeque<(RequestId, Request)>,
    next_id: u64,
    suite: Option<CipherSuite>,
}

impl core::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientSession")
            .field("state", &self.state.name())
            .field("suite", &self.suite.map(|s| s.id))
            .finish_non_exhaustive()
    }
}

fn ipmi_request_packet(req: &Request, rq_seq: u8) -> Result<Vec<u8>, SessionError> {
    let mut msg = Vec::with_capacity(req.encoded_len());
    req.encode(
        Addressing {
            rq_seq,
            ..Addressing::default()
        },
        &mut msg,
    )
    .map_err(|e| SessionError::Encode(e.into()))?;
    Ok(msg)
}

impl ClientSession {
    /// A session that will log in with `config`, drawing random bytes from `random`.
    #[must_use]
    pub fn new(config: ClientConfig, random: RandomSource) -> Self {
        let suites = config
            .suites
            .iter()
            .copied()
            .filter(|s| {
                config.allow_unauthenticated
                    || (s.is_authenticated() && s.integrity != super::crypto::IntegrityAlg::None)
            })
            .collect();
        Self {
            config,
            suites,
            random,
            state: State::Idle,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            queue: VecDeque::new(),
            next_id: 0,
            suite: None,
        }
    }

    /// Starts the handshake: Get Channel Authentication Capabilities, then Open Session.
    pub fn connect(&mut self, now: Instant) {
        if !matches!(self.state, State::Idle) {
            return;
        }
        if self.suites.is_empty() {
            self.fail(SessionError::NoCipherSuite { tried: Vec::new() });
            return;
        }
        self.send_auth_caps(now, true);
    }

    /// The negotiated cipher suite once active.
    #[must_use]
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.suite
    }

    /// Whether the session is active (commands can be sent).
    #[must_use]
    pub fn is_active(&self) -> bool {
        matches!(&self.state, State::Active(a) if !a.closing)
    }

    /// Whether the session has ended (closed or failed).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Closed | State::Failed)
    }

    /// The current state's name, for logs.
    #[must_use]
    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }

    /// The next datagram to send to the BMC.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`ClientSession::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::AuthCaps { pending, .. }
            | State::OpenSession { pending, .. }
            | State::Rakp1 { pending, .. }
            | State::Rakp3 { pending, .. } => Some(pending.deadline),
            State::Active(a) => a.in_flight.as_ref().map(|f| f.pending.deadline),
            _ => None,
        }
    }

    /// Queues an IPMI request; it is sent once the session is active and earlier requests
    /// are answered.
    ///
    /// # Errors
    /// [`SessionError::Closed`] once the session is closing, closed or failed.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
    ) -> Result<RequestId, SessionError> {
        match &self.state {
            State::Closed | State::Failed => return Err(SessionError::Closed),
            State::Active(a) if a.closing => return Err(SessionError::Closed),
            _ => {}
        }
        let id = RequestId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        self.queue.push_back((id, request));
        self.pump(now);
        Ok(id)
    }

    /// Closes the session (Close Session), after the requests already queued.
    pub fn close(&mut self, now: Instant) {
        match &mut self.state {
            State::Active(a) => {
                if !a.closing {
                    a.closing = true;
                    self.pump(now);
                }
            }
            State::Closed | State::Failed => {}
            _ => {
                self.state = State::Closed;
                self.drain_queue(&SessionError::Closed);
                self.events.push_back(Event::Closed);
            }
        }
    }

    fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        (self.random)(&mut b);
        b
    }

    fn pending(&self, now: Instant, packet: Vec<u8>) -> Pending {
        Pending {
            packet,
            deadline: now + self.config.retry.timeout,
            sent: 1,
        }
    }

    fn fail(&mut self, error: SessionError) {
        self.state = State::Failed;
        self.drain_queue(&error);
        self.events.push_back(Event::Failed(error));
    }

    fn drain_queue(&mut self, error: &SessionError) {
        while let Some((id, _)) = self.queue.pop_front() {
            self.events.push_back(Event::RequestFailed {
                id,
                error: error.clone(),
            });
        }
    }

    fn send_auth_caps(&mut self, now: Instant, v2_bit: bool) {
        // Channel 0xE = this channel; bit 7 asks for IPMI v2.0 extended data.
        let chan = if v2_bit { 0x8e } else { 0x0e };
        let req = Request::new(
            NetFn::APP,
            app::GET_CHANNEL_AUTH_CAPABILITIES,
            [chan, self.config.privilege.0],
        );
        let mut packet = Vec::new();
        let built = ipmi_request_packet(&req, 0)
            .and_then(|m| V15Packet::encode(&m, &mut packet).map_err(SessionError::Encode));
        if let Err(e) = built {
            self.fail(e);
            return;
        }
        self.transmit.push_back(packet.clone());
        let pending = self.pending(now, packet);
        self.state = State::AuthCaps { v2_bit, pending };
    }

    fn start_open_session(&mut self, now: Instant, suite_index: usize) {
        let Some(suite) = self.suites.get(suite_index).copied() else {
            let tried = self.suites.iter().map(|s| s.id).collect();
            self.fail(SessionError::NoCipherSuite { tried });
            return;
        };
        let mut console_sid = u32::from_le_bytes(self.random());
        if console_sid == 0 {
            console_sid = 1;
        }
        let tag = u8::try_from(suite_index & 0x3f).unwrap_or(0);
        let req = OpenSessionRequest {
            tag,
            max_privilege: self.config.privilege,
            console_sid,
            algorithms: Algorithms {
                auth: suite.auth.number(),
                integrity: suite.integrity.number(),
                confidentiality: suite.confidentiality.number(),
            },
        };
        let mut payload = Vec::with_capacity(OpenSessionRequest::LEN);
        req.encode(&mut payload);
        let Some(packet) = self.setup_packet(PayloadType::OPEN_SESSION_REQUEST, &payload) else {
            return;
        };
        self.transmit.push_back(packet.clone());
        let pending = self.pending(now, packet);
        self.state = State::OpenSession {
            hs: Handshake {
                suite_index,
                console_sid,
                tag,
            },
            pending,
        };
    }

    fn setup_packet(&mut self, payload_type: PayloadType, payload: &[u8]) -> Option<Vec<u8>> {
        let mut packet = Vec::new();
        let seal = Seal {
            payload_type,
            session_id: 0,
            sequence: 0,
            payload,
        };
        match seal.encode(None, [0; AES_BLOCK], &mut packet) {
            Ok(()) => Some(packet),
            Err(e) => {
                self.fail(SessionError::Encode(e));
                None
            }
        }
    }

    /// Retransmits or gives up on whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let attempts = self.config.retry.attempts.max(1);
        let timeout = self.config.retry.timeout;
        let state_name = self.state.name();
        match &mut self.state {
            State::AuthCaps { pending, .. }
            | State::Rakp1 { pending, .. }
            | State::Rakp3 { pending, .. }
            | State::OpenSession { pending, .. } => {
                if now < pending.deadline {
                    return;
                }
                if pending.sent < attempts {
                    pending.sent += 1;
                    pending.deadline = now + timeout;
                    self.transmit.push_back(pending.packet.clone());
                    return;
                }
                let sent = pending.sent;
                if let State::OpenSession { hs, .. } = &self.state {
                    // A BMC may silently drop an Open Session for a suite it lacks.
                    let next = hs.suite_index + 1;
                    if next < self.suites.len() {
                        self.start_open_session(now, next);
                        return;
                    }
                }
                self.fail(SessionError::Timeout {
                    stage: state_name,
                    attempts: sent,
                });
            }
            State::Active(a) => {
                let Some(f) = a.in_flight.as_mut() else {
                    return;
                };
                if now < f.pending.deadline {
                    return;
                }
                if f.pending.sent < attempts {
                    f.pending.sent += 1;
                    f.pending.deadline = now + timeout;
                    // A retransmission reuses rqSeq but takes a fresh session sequence number.
                    let req = f.request.clone();
                    let rq_seq = f.rq_seq;
                    match self.seal_request(&req, rq_seq) {
                        Ok(p) => self.transmit.push_back(p),
                        Err(e) => self.fail(e),
                    }
                    return;
                }
                let sent = f.pending.sent;
                let purpose = f.purpose;
                a.in_flight = None;
                let error = SessionError::Timeout {
                    stage: "ipmi request",
                    attempts: sent,
                };
                match purpose {
                    Purpose::User(id) => {
                        self.events.push_back(Event::RequestFailed { id, error });
                        self.pump(now);
                    }
                    Purpose::SetPrivilege => self.fail(error),
                    Purpose::Close => {
                        self.state = State::Closed;
                        self.drain_queue(&SessionError::Closed);
                        self.events.push_back(Event::Closed);
                    }
                }
            }
            State::Idle | State::Closed | State::Failed => {}
        }
    }

    fn seal_request(&mut self, req: &Request, rq_seq: u8) -> Result<Vec<u8>, SessionError> {
        let msg = ipmi_request_packet(req, rq_seq)?;
        let iv = self.random::<AES_BLOCK>();
        let State::Active(a) = &mut self.state else {
            return Err(SessionError::NotReady("session not active"));
        };
        a.out_seq = next_sequence(a.out_seq);
        let mut packet = Vec::new();
        Seal {
            payload_type: PayloadType::IPMI,
            session_id: a.bmc_sid,
            sequence: a.out_seq,
            payload: &msg,
        }
        .encode(Some(&a.keys), iv, &mut packet)?;
        Ok(packet)
    }

    /// Sends the next queued request when nothing is in flight.
    fn pump(&mut self, now: Instant) {
        let (purpose, request) = {
            let State::Active(a) = &self.state else {
                return;
            };
            if a.in_flight.is_some() {
                return;
            }
            if let Some((id, req)) = self.queue.pop_front() {
                (Purpose::User(id), req)
            } else if a.closing {
                (
                    Purpose::Close,
                    Request::new(NetFn::APP, app::CLOSE_SESSION, a.bmc_sid.to_le_bytes()),
                )
            } else {
                return;
            }
        };
        let rq_seq = {
            let State::Active(a) = &mut self.state else {
                return;
            };
            a.rq_seq = (a.rq_seq + 1) & MAX_RQ_SEQ;
            a.rq_seq
        };
        self.dispatch(now, purpose, request, rq_seq);
    }

    fn dispatch(&mut self, now: Instant, purpose: Purpose, request: Request, rq_seq: u8) {
        match self.seal_request(&request, rq_seq) {
            Ok(packet) => {
                let deadline = now + self.config.retry.timeout;
                self.transmit.push_back(packet.clone());
                if let State::Active(a) = &mut self.state {
                    a.in_flight = Some(InFlight {
                        purpose,
                        request,
                        rq_seq,
                        pending: Pending {
                            packet,
                            deadline,
                            sent: 1,
                        },
                    });
                }
            }
            Err(e) => match purpose {
                Purpose::User(id) => {
                    self.events.push_back(Event::RequestFailed { id, error: e });
                    self.pump(now);
                }
                _ => self.fail(e),
            },
        }
    }

    /// Handles one datagram from the BMC.
    ///
    /// # Errors
    /// [`Rejected`] when the datagram is malformed, forged, replayed, misdirected or
    /// unexpected; the session is unchanged and the datagram should be dropped.
    /// Authentication failures are not errors here: they end the session with
    /// [`Event::Failed`].
    pub fn handle_input(&mut self, now: Instant, datagram: &[u8]) -> Result<(), Rejected> {
        let packet = Packet::decode(datagram)?;
        let state = self.state.name();
        match (&self.state, packet) {
            (State::AuthCaps { .. }, Packet::V15(p)) => self.on_auth_caps(now, p.message),
            (State::Active(_), Packet::V2(p)) if p.payload_type == PayloadType::IPMI => {
                self.on_active(now, &p)
            }
            (_, Packet::V2(p)) if p.session_id == 0 || !matches!(self.state, State::Active(_)) => {
                if p.session_id != 0 {
                    return Err(Rejected::Unexpected {
                        what: "session packet",
                        state,
                    });
                }
                let payload = p.open(None)?;
                self.on_setup(now, p.payload_type, &payload)
            }
            _ => Err(Rejected::Unexpected {
                what: "datagram",
                state,
            }),
        }
    }

    fn on_auth_caps(&mut self, now: Instant, message: &[u8]) -> Result<(), Rejected> {
        let frame = ResponseFrame::decode(message).map_err(super::error::DecodeError::from)?;
        if !frame.answers(NetFn::APP, app::GET_CHANNEL_AUTH_CAPABILITIES, 0) {
            return Err(Rejected::Unsolicited {
                netfn: frame.netfn.0,
                cmd: frame.cmd,
                rq_seq: frame.addressing.rq_seq,
            });
        }
        let v2_bit = matches!(self.state, State::AuthCaps { v2_bit: true, .. });
        if !frame.completion.is_ok() && v2_bit {
            // Older BMCs reject the v2.0 data bit; ipmitool retries without it.
            self.send_auth_caps(now, false);
            return Ok(());
        }
        self.start_open_session(now, 0);
        Ok(())
    }

    fn on_setup(&mut self, now: Instant, ty: PayloadType, payload: &[u8]) -> Result<(), Rejected> {
        let state = self.state.name();
        match (ty, &self.state) {
            (PayloadType::OPEN_SESSION_RESPONSE, State::OpenSession { hs, .. }) => {
                let r = OpenSessionResponse::decode(payload)?;
                if r.tag != hs.tag || (r.console_sid != hs.console_sid && r.status.is_ok()) {
                    return Err(Rejected::StaleHandshake);
                }
                let suite_index = hs.suite_index;
                let console_sid = hs.console_sid;
                let tag = hs.tag;
                let Some((bmc_sid, algs)) = r.accepted else {
                    if r.status.is_algorithm_refusal() {
                        self.start_open_session(now, suite_index + 1);
                    } else {
                        self.fail(
                            AuthFailure::Status {
                                step: "open session",
                                status: r.status,
                            }
                            .into(),
                        );
                    }
                    return Ok(());
                };
                let suite = self.suites[suite_index];
                let offered = Algorithms {
                    auth: suite.auth.number(),
                    integrity: suite.integrity.number(),
                    confidentiality: suite.confidentiality.number(),
                };
                if algs != offered || bmc_sid == 0 {
                    // The BMC picked something we did not offer (pyghmi always answers
                    // suite 3): try our next suite rather than trust its choice.
                    if suite_index + 1 < self.suites.len() {
                        self.start_open_session(now, suite_index + 1);
                    } else {
                        self.fail(
                            AuthFailure::SuiteMismatch {
                                auth: algs.auth,
                                integrity: algs.integrity,
                                confidentiality: algs.confidentiality,
                            }
                            .into(),
                        );
                    }
                    return Ok(());
                }
                let rm = self.random::<16>();
                let role = self.config.privilege.0
                    | if self.config.name_only_lookup {
                        ROLE_NAME_ONLY_LOOKUP
                    } else {
                        0
                    };
                let rakp1 = Rakp1 {
                    tag,
                    bmc_sid,
                    console_random: rm,
                    role,
                    username: self.config.username.clone(),
                };
                let mut p = Vec::new();
                if let Err(e) = rakp1.encode(&mut p) {
                    self.fail(SessionError::Encode(e));
                    return Ok(());
                }
                let Some(packet) = self.setup_packet(PayloadType::RAKP1, &p) else {
                    return Ok(());
                };
                self.transmit.push_back(packet.clone());
                let pending = self.pending(now, packet);
                self.state = State::Rakp1 {
                    hs: Handshake {
                        suite_index,
                        console_sid,
                        tag,
                    },
                    bmc_sid,
                    rm,
                    role,
                    pending,
                };
                Ok(())
            }
            (
                PayloadType::RAKP2,
                State::Rakp1 {
                    hs,
                    bmc_sid,
                    rm,
                    role,
                    ..
                },
            ) => {
                let suite = self.suites[hs.suite_index];
                let r = Rakp2::decode(payload, suite.auth.mac_len())?;
                if r.tag != hs.tag || (r.status.is_ok() && r.console_sid != hs.console_sid) {
                    return Err(Rejected::StaleHandshake);
                }
                let Some((rc, guid, code)) = r.accepted else {
                    self.fail(
                        AuthFailure::Status {
                            step: "rakp 1",
                            status: r.status,
                        }
                        .into(),
                    );
                    return Ok(());
                };
                let t = RakpTranscript {
                    console_sid: hs.console_sid,
                    bmc_sid: *bmc_sid,
                    console_random: rm,
                    bmc_random: &rc,
                    bmc_guid: &guid,
                    role: *role,
                    username: &self.config.username,
                };
                let kuid = self.config.password.padded();
                if suite.is_authenticated() && !t.rakp2_auth_code(suite.auth, kuid).matches(&code) {
                    // Tell the BMC (as ipmitool does) so it frees the half-open session now.
                    let refusal = RakpTail {
                        tag: hs.tag,
                        status: RakpStatus::INVALID_INTEGRITY_CHECK_VALUE,
                        session_id: *bmc_sid,
                        code: Vec::new(),
                    };
                    let mut p = Vec::new();
                    refusal.encode(&mut p);
                    if let Some(packet) = self.setup_packet(PayloadType::RAKP3, &p) {
                        self.transmit.push_back(packet);
                    }
                    self.fail(AuthFailure::Rakp2HmacMismatch.into());
                    return Ok(());
                }
                let kg = self
                    .config
                    .bmc_key
                    .as_ref()
                    .unwrap_or(&self.config.password)
                    .padded();
                let keys = t.derive_keys(suite, kg);
                let rakp3 = RakpTail {
                    tag: hs.tag,
                    status: RakpStatus::OK,
                    session_id: *bmc_sid,
                    code: t.rakp3_auth_code(suite.auth, kuid).as_bytes().to_vec(),
                };
                let mut p = Vec::new();
                rakp3.encode(&mut p);
                let (hs2, bmc_sid, rm) = (
                    Handshake {
                        suite_index: hs.suite_index,
                        console_sid: hs.console_sid,
                        tag: hs.tag,
                    },
                    *bmc_sid,
                    *rm,
                );
                let Some(packet) = self.setup_packet(PayloadType::RAKP3, &p) else {
                    return Ok(());
                };
                self.transmit.push_back(packet.clone());
                let pending = self.pending(now, packet);
                self.state = State::Rakp3 {
                    hs: hs2,
                    bmc_sid,
                    rm,
                    guid,
                    keys,
                    pending,
                };
                Ok(())
            }
            (
                PayloadType::RAKP4,
                State::Rakp3 {
                    hs,
                    bmc_sid,
                    rm,
                    guid,
                    keys,
                    ..
                },
            ) => {
                let suite = keys.suite();
                let r = RakpTail::decode(payload, suite.auth.rakp4_icv_len(), "rakp 4")?;
                if r.tag != hs.tag || (r.status.is_ok() && r.session_id != hs.console_sid) {
                    return Err(Rejected::StaleHandshake);
                }
                if !r.status.is_ok() {
                    self.fail(
                        AuthFailure::Status {
                            step: "rakp 3",
                            status: r.status,
                        }
                        .into(),
                    );
                    return Ok(());
                }
                let t = RakpTranscript {
                    console_sid: hs.console_sid,
                    bmc_sid: *bmc_sid,
                    console_random: rm,
                    bmc_random: &[0; 16],
                    bmc_guid: guid,
                    role: 0,
                    username: &[],
                };
                if suite.is_authenticated() && !keys.rakp4_icv(&t).matches(&r.code) {
                    self.fail(AuthFailure::Rakp4IcvMismatch.into());
                    return Ok(());
                }
                let active = Active {
                    keys: keys.clone(),
                    bmc_sid: *bmc_sid,
                    console_sid: hs.console_sid,
                    out_seq: 0,
                    window: ReplayWindow::new(),
                    rq_seq: 0,
                    in_flight: None,
                    closing: false,
                };
                self.suite = Some(suite);
                self.state = State::Active(Box::new(active));
                let priv_req = Request::new(
                    NetFn::APP,
                    app::SET_SESSION_PRIVILEGE_LEVEL,
                    [self.config.privilege.0],
                );
                let rq_seq = {
                    let State::Active(a) = &mut self.state else {
                        return Ok(());
                    };
                    a.rq_seq = 1;
                    1
                };
                self.dispatch(now, Purpose::SetPrivilege, priv_req, rq_seq);
                Ok(())
            }
            _ => Err(Rejected::Unexpected {
                what: "session set-up payload",
                state,
            }),
        }
    }

    fn on_active(&mut self, now: Instant, p: &super::packet::V2Packet<'_>) -> Result<(), Rejected> {
        let State::Active(a) = &mut self.state else {
            return Err(Rejected::Unexpected {
                what: "ipmi payload",
                state: "set-up",
            });
        };
        if p.session_id != a.console_sid {
            return Err(Rejected::WrongSessionId {
                expected: a.console_sid,
                found: p.session_id,
            });
        }
        if !a.window.check(p.sequence) {
            return Err(Rejected::Replay {
                sequence: p.sequence,
            });
        }
        let payload = p.open(Some(&a.keys))?;
        let frame = ResponseFrame::decode(&payload).map_err(super::error::DecodeError::from)?;
        let unsolicited = Rejected::Unsolicited {
            netfn: frame.netfn.0,
            cmd: frame.cmd,
            rq_seq: frame.addressing.rq_seq,
        };
        let Some(f) = a.in_flight.as_ref() else {
            return Err(unsolicited);
        };
        if !frame.answers(f.request.netfn, f.request.cmd, f.rq_seq) {
            return Err(unsolicited);
        }
        // Only an authentic, expected answer advances the replay window.
        a.window.accept(p.sequence);
        let purpose = f.purpose;
        a.in_flight = None;
        let response = frame.to_response();
        match purpose {
            Purpose::User(id) => self.events.push_back(Event::Response { id, response }),
            Purpose::SetPrivilege => {
                if response.completion != CompletionCode::OK {
                    self.fail(AuthFailure::Privilege(response.completion).into());
                    return Ok(());
                }
                if let Some(suite) = self.suite {
                    self.events.push_back(Event::Connected { suite });
                }
            }
            Purpose::Close => {
                self.state = State::Closed;
                self.drain_queue(&SessionError::Closed);
                self.events.push_back(Event::Closed);
                return Ok(());
            }
        }
        self.pump(now);
        Ok(())
    }
}
