//! The sans-IO initiator session: login (AuthMethod None or CHAP), then either SendTargets
//! discovery or the LUN walk (REPORT LUNS, INQUIRY, READ CAPACITY(16) falling back to (10)),
//! then logout.
//!
//! Input comes in through [`Session::handle_input`] (raw stream bytes, any chunking),
//! [`Session::handle_timeout`] and [`Session::handle_close`]; output goes out through
//! [`Session::poll_transmit`] (whole PDUs), [`Session::poll_event`] and
//! [`Session::poll_timeout`]. Time is an argument; nothing here reads a clock, sleeps, spawns or
//! draws random numbers (the ISID and the mutual-CHAP challenge come in the config).
//!
//! ```text
//!  Login(Security) --AuthMethod--> [CHAP_A -> CHAP_N/CHAP_R] --T=1--> Login(Operational)
//!     --T=1 NSG=FFP--> Discovery: SendTargets=All (C/F continuation) --> Logout --> Closed
//!                      Normal:    REPORT LUNS -> per LUN INQUIRY -> READ CAPACITY(16|10)
//!                                 --> Logout --> Closed
//! any state --timeout / bad PDU / login status--> Failed
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::chap::{self, Auth, CHAP_MD5, MAX_CHALLENGE_LEN};
use crate::codes::{
    DeviceType, LoginStatus, LogoutReason, Opcode, ScsiStatus, SenseKey, ServiceResponse, Stage,
};
use crate::error::{AuthError, EncodeError, Phase, ProtocolError, SessionError};
use crate::message::{
    DataIn, LoginRequest, LoginResponse, LogoutRequest, LogoutResponse, Message, NopIn, NopOut,
    Reject, ScsiCommand, ScsiResponse, TextRequest, TextResponse,
};
use crate::pdu::{Pdu, RESERVED_TAG};
use crate::report::{DiscoveredTarget, LunError, LunReport, TargetAddress, TargetReport};
use crate::scsi::{self, Capacity, InquiryData, Lun, LunList, Sense};
use crate::text::{self, TextBuilder};

/// Longest iSCSI name (RFC 7143 §4.2.7.1: 223 bytes of UTF-8).
pub const MAX_NAME_LEN: usize = 223;
/// Data segment length every target may send before negotiation (RFC 7143 §13.12 default).
const DEFAULT_MAX_RECV: usize = 8192;
/// Rounds of login request/response per stage before giving up.
const MAX_LOGIN_ROUNDS: u32 = 8;
/// Allocation length of the first REPORT LUNS (room for 256 LUNs).
const FIRST_REPORT_LUNS_ALLOC: u32 = 8 + 8 * 256;
/// Allocation length of the standard INQUIRY.
const INQUIRY_ALLOC: u16 = 96;
/// Allocation length of READ CAPACITY(16) (SBC-3: 32 bytes of parameter data).
const READ_CAPACITY16_ALLOC: u32 = 32;
/// Task attribute SIMPLE (SAM-5).
const ATTR_SIMPLE: u8 = 1;

/// What the session is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKind {
    /// A discovery session that runs `SendTargets=All`.
    Discovery,
    /// A normal session to one target whose LUNs are walked.
    Normal {
        /// The target's iSCSI name.
        target_name: String,
    },
}

/// Everything a session needs, including the randomness it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our iSCSI name (`InitiatorName`).
    pub initiator_name: String,
    /// Discovery or normal.
    pub kind: SessionKind,
    /// Authentication.
    pub auth: Auth,
    /// Initiator session ID (RFC 7143 §11.12.5); see [`SessionConfig::with_random`].
    pub isid: [u8; 6],
    /// Our challenge for mutual CHAP (must be unpredictable; see [`SessionConfig::with_random`]).
    pub mutual_challenge: [u8; 16],
    /// CHAP identifier for mutual CHAP.
    pub mutual_id: u8,
    /// First CmdSN.
    pub initial_cmd_sn: u32,
    /// How long to wait for each response.
    pub response_timeout: Duration,
    /// `MaxRecvDataSegmentLength` we declare, and the largest data segment we accept.
    pub max_recv_data_segment_len: u32,
    /// How often a command is re-issued after UNIT ATTENTION.
    pub unit_attention_retries: u8,
    /// Most LUNs walked per target (more are ignored).
    pub max_luns: usize,
    /// Most text bytes accepted across a continued login or SendTargets exchange.
    pub max_text_len: usize,
}

impl SessionConfig {
    fn base(initiator_name: &str, kind: SessionKind) -> Self {
        Self {
            initiator_name: initiator_name.to_owned(),
            kind,
            auth: Auth::None,
            isid: [0x80, 0, 0, 0, 0, 1],
            mutual_challenge: [0; 16],
            mutual_id: 1,
            initial_cmd_sn: 1,
            response_timeout: Duration::from_secs(10),
            max_recv_data_segment_len: 65536,
            unit_attention_retries: 3,
            max_luns: 1024,
            max_text_len: 256 * 1024,
        }
    }

    /// A normal session probing `target_name`.
    #[must_use]
    pub fn normal(initiator_name: &str, target_name: &str) -> Self {
        Self::base(
            initiator_name,
            SessionKind::Normal {
                target_name: target_name.to_owned(),
            },
        )
    }

    /// A discovery session.
    #[must_use]
    pub fn discovery(initiator_name: &str) -> Self {
        Self::base(initiator_name, SessionKind::Discovery)
    }

    /// Sets the authentication.
    #[must_use]
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Fills the ISID (type "random", RFC 7143 §11.12.5), the mutual-CHAP challenge and its
    /// identifier from caller-supplied random bytes.
    #[must_use]
    pub fn with_random(mut self, random: [u8; 24]) -> Self {
        // T=10b (random), A reserved 0, B and C random (3 bytes), D qualifier (2 bytes).
        self.isid = [0x80, 0, random[0], random[1], random[2], random[3]];
        self.mutual_challenge.copy_from_slice(&random[4..20]);
        self.mutual_id = random[20];
        self.initial_cmd_sn = u32::from_be_bytes([0, 0, random[21], random[22]]).max(1);
        self
    }
}

/// What the session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Login finished; the session is in full feature phase.
    LoggedIn {
        /// Target session identifying handle.
        tsih: u16,
    },
    /// Discovery result (discovery sessions).
    Targets(Vec<DiscoveredTarget>),
    /// LUN walk result (normal sessions).
    Report(TargetReport),
    /// Logout completed; the connection may be closed.
    LoggedOut,
    /// The session failed; nothing more will happen.
    Failed(SessionError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecStep {
    /// Sent `AuthMethod=None`.
    NoneOffered,
    /// Sent `AuthMethod=CHAP`.
    ChapOffered,
    /// Sent `CHAP_A`.
    ChapAlgorithm,
    /// Sent `CHAP_N`/`CHAP_R`.
    ChapResponse,
}

#[derive(Debug)]
struct Login {
    stage: Stage,
    sec: SecStep,
    itt: u32,
    rounds: u32,
    text: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    ReportLuns { alloc: u32 },
    Inquiry { idx: usize },
    ReadCapacity16 { idx: usize },
    ReadCapacity10 { idx: usize },
    SendTargets,
}

impl Task {
    fn name(self) -> &'static str {
        match self {
            Task::ReportLuns { .. } => "REPORT LUNS",
            Task::Inquiry { .. } => "INQUIRY",
            Task::ReadCapacity16 { .. } => "READ CAPACITY(16)",
            Task::ReadCapacity10 { .. } => "READ CAPACITY(10)",
            Task::SendTargets => "SendTargets",
        }
    }
}

#[derive(Debug)]
struct Command {
    task: Task,
    itt: u32,
    expected_len: usize,
    data: Vec<u8>,
    next_data_sn: u32,
    retries_left: u8,
}

#[derive(Debug)]
enum State {
    Login(Login),
    /// Full feature phase, waiting for the command window to take `Task`.
    Waiting {
        task: Task,
        retries_left: u8,
    },
    Command(Command),
    LoggingOut {
        itt: u32,
    },
    Done,
}

/// RFC 1982 serial comparison on 32 bits: `a <= b`.
fn sn_le(a: u32, b: u32) -> bool {
    b.wrapping_sub(a) < 0x8000_0000
}

/// The sans-IO initiator session. See the module docs for the flow.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    rx: Vec<u8>,
    max_rx: usize,
    tx: VecDeque<Bytes>,
    events: VecDeque<Event>,
    deadline: Option<Instant>,
    next_itt: u32,
    cmd_sn: u32,
    exp_stat_sn: u32,
    exp_cmd_sn: u32,
    max_cmd_sn: u32,
    tsih: u16,
    alias: Option<String>,
    luns: Vec<LunReport>,
}

/// RFC 7143 §4.2.7 / RFC 3720 §3.2.6: at most 223 bytes in the ASCII output of RFC 3722
/// stringprep (lower-case letters, digits, `-`, `.`, `:`), in the `iqn.yyyy-mm.reversed.domain`,
/// `eui.` (16 hex digits) or `naa.` (16 or 32 hex digits) format. The same contract as
/// `ipmi_iscsi::params::IscsiName` and `boot_config_core::IscsiName`: a target refuses a login
/// with any other name, and a name the probe accepts can go into the boot parameters.
fn check_name(what: &'static str, name: &str) -> Result<(), EncodeError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(EncodeError::TooLong {
            what,
            len: name.len(),
            limit: MAX_NAME_LEN,
        });
    }
    let bad = |reason| Err(EncodeError::BadName { what, reason });
    if let Some(rest) = name.strip_prefix("iqn.") {
        if let Some((at, &byte)) =
            name.as_bytes().iter().enumerate().find(|&(_, &b)| {
                !(b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b))
            })
        {
            return Err(EncodeError::NameCharacter { what, at, byte });
        }
        // RFC 3720 §3.2.6.3.1: "iqn." yyyy "-" mm "." reversed-domain [":" anything].
        let Some([y0, y1, y2, y3, b'-', m0, m1]) = rest
            .as_bytes()
            .get(..7)
            .and_then(|d| <[u8; 7]>::try_from(d).ok())
        else {
            return bad("iqn. needs a yyyy-mm date");
        };
        if ![y0, y1, y2, y3, m0, m1].iter().all(u8::is_ascii_digit) {
            return bad("iqn. needs a yyyy-mm date");
        }
        if !(1..=12).contains(&((m0 - b'0') * 10 + (m1 - b'0'))) {
            return bad("iqn. date month must be 01..12");
        }
        let Some(authority) = rest.get(7..).and_then(|a| a.strip_prefix('.')) else {
            return bad("iqn. date must be followed by '.' and a naming authority");
        };
        let domain = authority.split(':').next().unwrap_or("");
        if domain.is_empty() || domain.split('.').any(str::is_empty) {
            return bad("iqn. naming authority must be a reversed domain name");
        }
        return Ok(());
    }
    let (hex, lens, reason): (&str, &[usize], _) = if let Some(h) = name.strip_prefix("eui.") {
        (h, &[16], "eui. needs exactly 16 hex digits")
    } else if let Some(h) = name.strip_prefix("naa.") {
        (h, &[16, 32], "naa. needs 16 or 32 hex digits")
    } else {
        return bad("must start with iqn., eui. or naa.");
    };
    if let Some((i, byte)) = hex
        .bytes()
        .enumerate()
        .find(|(_, b)| !b.is_ascii_hexdigit())
    {
        // After the 4-byte "eui."/"naa." prefix.
        return Err(EncodeError::NameCharacter {
            what,
            at: 4 + i,
            byte,
        });
    }
    if lens.contains(&hex.len()) {
        Ok(())
    } else {
        bad(reason)
    }
}

fn scalar_u8(v: &str) -> Option<u8> {
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => u8::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// Compares without an early exit, so timing does not reveal where responses differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Session {
    /// Starts a session: the first Login Request is queued at once.
    ///
    /// # Errors
    /// [`EncodeError`] when a name is empty or over 223 bytes, or cannot be put in text.
    pub fn new(config: SessionConfig, now: Instant) -> Result<Self, EncodeError> {
        check_name("initiator name", &config.initiator_name)?;
        if let SessionKind::Normal { target_name } = &config.kind {
            check_name("target name", target_name)?;
        }
        let max_rx = usize::try_from(config.max_recv_data_segment_len)
            .unwrap_or(DEFAULT_MAX_RECV)
            .max(DEFAULT_MAX_RECV);
        let cmd_sn = config.initial_cmd_sn;
        let mut s = Self {
            config,
            state: State::Done,
            rx: Vec::new(),
            max_rx,
            tx: VecDeque::new(),
            events: VecDeque::new(),
            deadline: None,
            next_itt: 1,
            cmd_sn,
            exp_stat_sn: 0,
            exp_cmd_sn: cmd_sn,
            // Nothing is granted before the first Login Response (login requests are immediate).
            max_cmd_sn: cmd_sn.wrapping_sub(1),
            tsih: 0,
            alias: None,
            luns: Vec::new(),
        };
        let itt = s.alloc_itt();
        let sec = match s.config.auth {
            Auth::None => SecStep::NoneOffered,
            Auth::Chap { .. } => SecStep::ChapOffered,
        };
        let mut t = TextBuilder::new();
        t.push("InitiatorName", &s.config.initiator_name)?;
        match &s.config.kind {
            SessionKind::Discovery => {
                t.push("SessionType", "Discovery")?;
            }
            SessionKind::Normal { target_name } => {
                t.push("SessionType", "Normal")?;
                t.push("TargetName", target_name)?;
            }
        }
        // One-way CHAP also offers None (RFC 7143 §6.2: the target picks from the list), so a
        // probe with credentials still reads targets that demand no authentication; mutual CHAP
        // offers CHAP alone, since the target's proof is then required.
        let mutual = s.config.auth.is_mutual();
        t.push(
            "AuthMethod",
            match sec {
                SecStep::NoneOffered => "None",
                _ if mutual => "CHAP",
                _ => "CHAP,None",
            },
        )?;
        s.state = State::Login(Login {
            stage: Stage::SECURITY,
            sec,
            itt,
            rounds: 1,
            text: Vec::new(),
        });
        // With no authentication we are ready to leave the security stage at once.
        let transit = sec == SecStep::NoneOffered;
        s.send_login(
            now,
            transit,
            Stage::SECURITY,
            Stage::OPERATIONAL,
            t.as_bytes(),
        )?;
        Ok(s)
    }

    /// Feeds bytes read from the connection (any chunking).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if matches!(self.state, State::Done) {
            return;
        }
        self.rx.extend_from_slice(data);
        let buf = core::mem::take(&mut self.rx);
        let mut pos = 0;
        while !matches!(self.state, State::Done) {
            match Pdu::parse(&buf[pos..], self.max_rx) {
                Ok(Some((pdu, used))) => {
                    pos += used;
                    if let Err(e) = self.handle_pdu(now, pdu) {
                        self.fail(e);
                    }
                }
                Ok(None) => break,
                Err(e) => self.fail(e.into()),
            }
        }
        if !matches!(self.state, State::Done) {
            self.rx = buf;
            self.rx.drain(..pos);
        }
    }

    /// Tells the session the clock reached `now`; fails it when a response is overdue.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.deadline
            && now >= d
        {
            let phase = self.phase();
            self.fail(SessionError::Timeout { phase });
        }
    }

    /// Tells the session the peer closed the connection.
    pub fn handle_close(&mut self) {
        match self.state {
            State::Done => {}
            State::LoggingOut { .. } => {
                // The target may close right after (or instead of) its Logout Response.
                self.events.push_back(Event::LoggedOut);
                self.finish();
            }
            _ => {
                let phase = self.phase().as_str();
                self.fail(ProtocolError::ConnectionClosed { phase }.into());
            }
        }
    }

    /// The next PDU to write to the connection.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.tx.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next, if anything is awaited.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the session has ended (logged out or failed); events may still be queued.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn phase(&self) -> Phase {
        match &self.state {
            State::Login(_) => Phase::Login,
            State::Waiting { .. } => Phase::CommandWindow,
            State::Command(c) if c.task == Task::SendTargets => Phase::Discovery,
            State::Command(_) => Phase::Command,
            State::LoggingOut { .. } | State::Done => Phase::Logout,
        }
    }

    fn fail(&mut self, e: SessionError) {
        if !matches!(self.state, State::Done) {
            self.events.push_back(Event::Failed(e));
        }
        self.finish();
    }

    fn finish(&mut self) {
        self.state = State::Done;
        self.deadline = None;
        self.rx = Vec::new();
    }

    fn alloc_itt(&mut self) -> u32 {
        let itt = self.next_itt;
        self.next_itt = self.next_itt.wrapping_add(1);
        if self.next_itt == RESERVED_TAG {
            self.next_itt = 0;
        }
        itt
    }

    fn arm(&mut self, now: Instant) {
        self.deadline = now.checked_add(self.config.response_timeout);
    }

    fn push_pdu(&mut self, m: &Message<'_>) -> Result<(), EncodeError> {
        let mut out = BytesMut::with_capacity(m.encoded_len());
        m.encode(&mut out)?;
        self.tx.push_back(out.freeze());
        Ok(())
    }

    fn update_stat_sn(&mut self, stat_sn: u32) {
        let next = stat_sn.wrapping_add(1);
        if sn_le(self.exp_stat_sn, next) {
            self.exp_stat_sn = next;
        }
    }

    /// RFC 7143 §4.2.2.1: ignore a window with MaxCmdSN < ExpCmdSN - 1; never move backwards.
    fn update_window(&mut self, exp: u32, max: u32) {
        if !sn_le(exp, max.wrapping_add(1)) {
            return;
        }
        if sn_le(self.exp_cmd_sn, exp) {
            self.exp_cmd_sn = exp;
        }
        if sn_le(self.max_cmd_sn, max) {
            self.max_cmd_sn = max;
        }
    }

    // ---- login -------------------------------------------------------------------------

    fn send_login(
        &mut self,
        now: Instant,
        transit: bool,
        csg: Stage,
        nsg: Stage,
        text: &[u8],
    ) -> Result<(), EncodeError> {
        let State::Login(l) = &self.state else {
            return Ok(());
        };
        let m = LoginRequest {
            transit,
            cont: false,
            csg,
            nsg: if transit { nsg } else { Stage(0) },
            version_max: 0,
            version_min: 0,
            isid: self.config.isid,
            tsih: 0,
            itt: l.itt,
            cid: 0,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
            data: text,
        };
        self.push_pdu(&Message::LoginRequest(m))?;
        self.arm(now);
        Ok(())
    }

    fn operational_text(&self) -> Result<Vec<u8>, EncodeError> {
        let mut t = TextBuilder::new();
        for (k, v) in self.operational_keys() {
            t.push(k, &v)?;
        }
        Ok(t.into_bytes())
    }

    /// The operational keys we offer (RFC 7143 §13): no digests, one connection, no R2T
    /// needed since we never write, error recovery level 0.
    fn operational_keys(&self) -> Vec<(&'static str, String)> {
        let mrdsl = self.config.max_recv_data_segment_len.to_string();
        let mut v = vec![
            ("HeaderDigest", "None".to_owned()),
            ("DataDigest", "None".to_owned()),
            ("MaxRecvDataSegmentLength", mrdsl),
        ];
        if matches!(self.config.kind, SessionKind::Normal { .. }) {
            v.extend([
                ("InitialR2T", "Yes".to_owned()),
                ("ImmediateData", "No".to_owned()),
                ("MaxBurstLength", "262144".to_owned()),
                ("FirstBurstLength", "65536".to_owned()),
                ("DefaultTime2Wait", "0".to_owned()),
                ("DefaultTime2Retain", "0".to_owned()),
                ("MaxOutstandingR2T", "1".to_owned()),
                ("DataPDUInOrder", "Yes".to_owned()),
                ("DataSequenceInOrder", "Yes".to_owned()),
                ("ErrorRecoveryLevel", "0".to_owned()),
                ("MaxConnections", "1".to_owned()),
            ]);
        }
        v
    }

    fn login_status_error(status: LoginStatus) -> SessionError {
        match status {
            LoginStatus::AUTHENTICATION_FAILURE | LoginStatus::AUTHORIZATION_FAILURE => {
                AuthError::Rejected { status }.into()
            }
            LoginStatus::NOT_FOUND => SessionError::TargetNotFound,
            _ => SessionError::LoginRejected { status },
        }
    }

    fn handle_login_response(
        &mut self,
        now: Instant,
        r: &LoginResponse<'_>,
    ) -> Result<(), SessionError> {
        let max_text = self.config.max_text_len;
        let State::Login(l) = &mut self.state else {
            return Err(ProtocolError::UnexpectedPdu {
                opcode: Opcode::LOGIN_RESPONSE,
                phase: "not logging in",
            }
            .into());
        };
        if r.itt != l.itt {
            return Err(ProtocolError::UnknownTaskTag {
                itt: r.itt,
                phase: "logging in",
            }
            .into());
        }
        if r.status != LoginStatus::SUCCESS {
            return Err(Self::login_status_error(r.status));
        }
        if r.csg != l.stage {
            return Err(ProtocolError::LoginStageMismatch {
                got: r.csg,
                expected: l.stage,
            }
            .into());
        }
        if l.text.len() + r.data.len() > max_text {
            return Err(ProtocolError::TextTooLong { limit: max_text }.into());
        }
        l.text.extend_from_slice(r.data);
        l.rounds += 1;
        if l.rounds > MAX_LOGIN_ROUNDS * 2 {
            return Err(ProtocolError::TooManyLoginRounds {
                rounds: MAX_LOGIN_ROUNDS * 2,
            }
            .into());
        }
        let stage = l.stage;
        let cont = r.cont;
        let text = if cont {
            Vec::new()
        } else {
            core::mem::take(&mut l.text)
        };
        self.update_stat_sn(r.stat_sn);
        self.update_window(r.exp_cmd_sn, r.max_cmd_sn);
        if cont {
            // RFC 7143 §6.2: answer a continued response with an empty request.
            self.send_login(now, false, stage, stage, &[])?;
            return Ok(());
        }
        if let Some(alias) = text::find(&text, "TargetAlias")? {
            self.alias = Some(alias.to_owned());
        }
        if stage == Stage::SECURITY {
            self.security_step(now, r, &text)
        } else {
            self.operational_step(now, r, &text)
        }
    }

    fn security_step(
        &mut self,
        now: Instant,
        r: &LoginResponse<'_>,
        text: &[u8],
    ) -> Result<(), SessionError> {
        let State::Login(l) = &mut self.state else {
            return Ok(());
        };
        let sec = l.sec;
        match sec {
            SecStep::NoneOffered => {
                if let Some(m) = text::find(text, "AuthMethod")?
                    && m != "None"
                {
                    return Err(AuthError::MethodRefused { offered: "None" }.into());
                }
            }
            SecStep::ChapOffered => {
                let mutual = self.config.auth.is_mutual();
                match text::find(text, "AuthMethod")? {
                    Some("CHAP") => {}
                    // The target chose None from "CHAP,None": no authentication stage.
                    Some("None") if !mutual => {
                        if let State::Login(l) = &mut self.state {
                            l.sec = SecStep::NoneOffered;
                        }
                        return self.finish_security(now, r);
                    }
                    _ => return Err(AuthError::MethodRefused { offered: "CHAP" }.into()),
                }
                l.sec = SecStep::ChapAlgorithm;
                let mut t = TextBuilder::new();
                t.push("CHAP_A", &CHAP_MD5.to_string())?;
                self.send_login(
                    now,
                    false,
                    Stage::SECURITY,
                    Stage::OPERATIONAL,
                    t.as_bytes(),
                )?;
                return Ok(());
            }
            SecStep::ChapAlgorithm => {
                let reply = self.chap_reply(text)?;
                if let State::Login(l) = &mut self.state {
                    l.sec = SecStep::ChapResponse;
                }
                self.send_login(now, true, Stage::SECURITY, Stage::OPERATIONAL, &reply)?;
                return Ok(());
            }
            SecStep::ChapResponse => self.check_mutual(text)?,
        }
        self.finish_security(now, r)
    }

    /// The security stage is done on our side: move on as the target allows.
    fn finish_security(&mut self, now: Instant, r: &LoginResponse<'_>) -> Result<(), SessionError> {
        if !r.transit {
            // The target wants another round in this stage; offer to move on again.
            self.send_login(now, true, Stage::SECURITY, Stage::OPERATIONAL, &[])?;
            return Ok(());
        }
        if r.nsg == Stage::FULL_FEATURE {
            return self.enter_full_feature(now, r.tsih);
        }
        if let State::Login(l) = &mut self.state {
            l.stage = Stage::OPERATIONAL;
        }
        let t = self.operational_text()?;
        self.send_login(now, true, Stage::OPERATIONAL, Stage::FULL_FEATURE, &t)?;
        Ok(())
    }

    fn chap_reply(&self, text: &[u8]) -> Result<Vec<u8>, SessionError> {
        let Auth::Chap { initiator, target } = &self.config.auth else {
            return Err(ProtocolError::UnexpectedPdu {
                opcode: Opcode::LOGIN_RESPONSE,
                phase: "CHAP without credentials",
            }
            .into());
        };
        if text::find(text, "CHAP_A")?.and_then(scalar_u8) != Some(CHAP_MD5) {
            return Err(AuthError::AlgorithmRefused.into());
        }
        let id = text::find(text, "CHAP_I")?
            .and_then(scalar_u8)
            .ok_or(AuthError::BadChallenge)?;
        let challenge = text::find(text, "CHAP_C")?.ok_or(AuthError::BadChallenge)?;
        let challenge = chap::decode_binary(challenge, MAX_CHALLENGE_LEN)
            .map_err(|_| AuthError::BadChallenge)?;
        let resp = chap::response(id, &initiator.secret, &challenge);
        let mut t = TextBuilder::new();
        t.push("CHAP_N", &initiator.name)?;
        t.push("CHAP_R", &chap::encode_binary(&resp))?;
        if target.is_some() {
            // RFC 7143 §12.1.3: a reflected challenge would let the target answer with ours.
            if same_bytes(&challenge, &self.config.mutual_challenge) {
                return Err(AuthError::BadChallenge.into());
            }
            t.push("CHAP_I", &self.config.mutual_id.to_string())?;
            t.push(
                "CHAP_C",
                &chap::encode_binary(&self.config.mutual_challenge),
            )?;
        }
        Ok(t.into_bytes())
    }

    fn check_mutual(&self, text: &[u8]) -> Result<(), SessionError> {
        let Auth::Chap {
            target: Some(target),
            ..
        } = &self.config.auth
        else {
            return Ok(());
        };
        let name = text::find(text, "CHAP_N")?;
        let resp = text::find(text, "CHAP_R")?
            .and_then(|r| chap::decode_binary(r, MAX_CHALLENGE_LEN).ok());
        let expected = chap::response(
            self.config.mutual_id,
            &target.secret,
            &self.config.mutual_challenge,
        );
        match (name, resp) {
            (Some(n), Some(r)) if n == target.name && same_bytes(&r, &expected) => Ok(()),
            _ => Err(AuthError::MutualFailed.into()),
        }
    }

    fn operational_step(
        &mut self,
        now: Instant,
        r: &LoginResponse<'_>,
        text: &[u8],
    ) -> Result<(), SessionError> {
        for key in ["HeaderDigest", "DataDigest"] {
            if let Some(v) = text::find(text, key)?
                && v != "None"
            {
                return Err(ProtocolError::BadKeyValue {
                    key: key.to_owned(),
                }
                .into());
            }
        }
        if r.transit && r.nsg == Stage::FULL_FEATURE {
            return self.enter_full_feature(now, r.tsih);
        }
        // Answer keys the target offered first; ours already went out.
        let ours = self.operational_keys();
        let mut t = TextBuilder::new();
        for p in text::pairs(text) {
            let p = p?;
            if ours.iter().any(|(k, _)| *k == p.key) || is_declarative(p.key) {
                continue;
            }
            t.push(p.key, "NotUnderstood")?;
        }
        self.send_login(
            now,
            true,
            Stage::OPERATIONAL,
            Stage::FULL_FEATURE,
            t.as_bytes(),
        )?;
        Ok(())
    }

    fn enter_full_feature(&mut self, now: Instant, tsih: u16) -> Result<(), SessionError> {
        self.tsih = tsih;
        self.events.push_back(Event::LoggedIn { tsih });
        let task = match self.config.kind {
            SessionKind::Discovery => Task::SendTargets,
            SessionKind::Normal { .. } => Task::ReportLuns {
                alloc: FIRST_REPORT_LUNS_ALLOC,
            },
        };
        self.start(now, task)
    }

    // ---- full feature phase -----------------------------------------------------------

    fn start(&mut self, now: Instant, task: Task) -> Result<(), SessionError> {
        let retries = self.config.unit_attention_retries;
        self.start_with(now, task, retries)
    }

    fn start_with(
        &mut self,
        now: Instant,
        task: Task,
        retries_left: u8,
    ) -> Result<(), SessionError> {
        if !sn_le(self.cmd_sn, self.max_cmd_sn) {
            // Window closed: wait for a PDU that opens it (RFC 7143 §4.2.2.1).
            self.state = State::Waiting { task, retries_left };
            self.arm(now);
            return Ok(());
        }
        let itt = self.alloc_itt();
        let (expected_len, cdb, lun) = match task {
            Task::SendTargets => {
                let mut t = TextBuilder::new();
                t.push("SendTargets", "All")?;
                self.send_text(itt, RESERVED_TAG, t.as_bytes())?;
                (self.config.max_text_len, [0u8; 16], [0u8; 8])
            }
            Task::ReportLuns { alloc } => {
                (alloc, scsi::report_luns_cdb(alloc), [0u8; 8]).into_cmd()
            }
            Task::Inquiry { idx } => (
                u32::from(INQUIRY_ALLOC),
                scsi::inquiry_cdb(INQUIRY_ALLOC),
                self.lun_at(idx),
            )
                .into_cmd(),
            Task::ReadCapacity16 { idx } => (
                READ_CAPACITY16_ALLOC,
                scsi::read_capacity16_cdb(READ_CAPACITY16_ALLOC),
                self.lun_at(idx),
            )
                .into_cmd(),
            Task::ReadCapacity10 { idx } => {
                (8, scsi::read_capacity10_cdb(), self.lun_at(idx)).into_cmd()
            }
        };
        if task != Task::SendTargets {
            let m = ScsiCommand {
                immediate: false,
                final_: true,
                read: true,
                write: false,
                attr: ATTR_SIMPLE,
                lun,
                itt,
                expected_len: u32::try_from(expected_len).unwrap_or(u32::MAX),
                cmd_sn: self.cmd_sn,
                exp_stat_sn: self.exp_stat_sn,
                cdb,
                data: &[],
            };
            self.push_pdu(&Message::ScsiCommand(m))?;
            self.cmd_sn = self.cmd_sn.wrapping_add(1);
        }
        self.state = State::Command(Command {
            task,
            itt,
            expected_len,
            data: Vec::new(),
            next_data_sn: 0,
            retries_left,
        });
        self.arm(now);
        Ok(())
    }

    fn send_text(&mut self, itt: u32, ttt: u32, data: &[u8]) -> Result<(), EncodeError> {
        let m = TextRequest {
            immediate: false,
            final_: true,
            cont: false,
            lun: [0; 8],
            itt,
            ttt,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
            data,
        };
        self.push_pdu(&Message::TextRequest(m))?;
        self.cmd_sn = self.cmd_sn.wrapping_add(1);
        Ok(())
    }

    fn lun_at(&self, idx: usize) -> [u8; 8] {
        self.luns.get(idx).map_or([0; 8], |l| l.lun.0)
    }

    fn logout(&mut self, now: Instant) -> Result<(), SessionError> {
        let itt = self.alloc_itt();
        let m = LogoutRequest {
            immediate: true,
            reason: LogoutReason::CLOSE_SESSION,
            itt,
            cid: 0,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
        };
        self.push_pdu(&Message::LogoutRequest(m))?;
        self.state = State::LoggingOut { itt };
        self.arm(now);
        Ok(())
    }

    fn command_mut(&mut self, itt: u32, opcode: Opcode) -> Result<&mut Command, SessionError> {
        let phase = self.phase().as_str();
        match &mut self.state {
            State::Command(c) if c.itt == itt => Ok(c),
            State::Command(_) => Err(ProtocolError::UnknownTaskTag { itt, phase }.into()),
            _ => Err(ProtocolError::UnexpectedPdu { opcode, phase }.into()),
        }
    }

    fn handle_data_in(&mut self, now: Instant, d: &DataIn<'_>) -> Result<(), SessionError> {
        self.update_window(d.exp_cmd_sn, d.max_cmd_sn);
        let c = self.command_mut(d.itt, Opcode::DATA_IN)?;
        if d.data_sn != c.next_data_sn {
            return Err(ProtocolError::DataOutOfOrder {
                what: "DataSN",
                got: d.data_sn,
                expected: c.next_data_sn,
            }
            .into());
        }
        let have = u32::try_from(c.data.len()).unwrap_or(u32::MAX);
        if d.buffer_offset != have {
            return Err(ProtocolError::DataOutOfOrder {
                what: "buffer offset",
                got: d.buffer_offset,
                expected: have,
            }
            .into());
        }
        let total = c.data.len() + d.data.len();
        if total > c.expected_len {
            return Err(ProtocolError::DataOverflow {
                got: total,
                expected: c.expected_len,
            }
            .into());
        }
        c.data.extend_from_slice(d.data);
        c.next_data_sn = c.next_data_sn.wrapping_add(1);
        self.arm(now);
        if let Some(status) = d.status {
            self.update_stat_sn(d.stat_sn);
            self.complete(now, status, None)?;
        }
        Ok(())
    }

    fn handle_scsi_response(
        &mut self,
        now: Instant,
        r: &ScsiResponse<'_>,
    ) -> Result<(), SessionError> {
        self.update_window(r.exp_cmd_sn, r.max_cmd_sn);
        let c = self.command_mut(r.itt, Opcode::SCSI_RESPONSE)?;
        let command = c.task.name();
        self.update_stat_sn(r.stat_sn);
        if r.response != ServiceResponse::COMPLETED {
            return self.finish_lun(now, Err(LunError::TargetFailure { command }));
        }
        let sense = match r.sense() {
            Ok(Some(s)) => match Sense::parse(s) {
                Ok(s) => Some(s),
                Err(error) => {
                    return self.finish_lun(now, Err(LunError::BadData { command, error }));
                }
            },
            Ok(None) => None,
            Err(error) => return self.finish_lun(now, Err(LunError::BadData { command, error })),
        };
        self.complete(now, r.status, sense)
    }

    /// A SCSI command finished with `status`.
    fn complete(
        &mut self,
        now: Instant,
        status: ScsiStatus,
        sense: Option<Sense>,
    ) -> Result<(), SessionError> {
        let State::Command(c) = &mut self.state else {
            return Ok(());
        };
        let task = c.task;
        let command = task.name();
        let retries_left = c.retries_left;
        let data = core::mem::take(&mut c.data);
        if status == ScsiStatus::GOOD {
            return self.on_good(now, task, &data);
        }
        if status == ScsiStatus::CHECK_CONDITION {
            let Some(sense) = sense else {
                return self.finish_lun(now, Err(LunError::Status { command, status }));
            };
            if sense.key == SenseKey::UNIT_ATTENTION && retries_left > 0 {
                return self.start_with(now, task, retries_left - 1);
            }
            if sense.key == SenseKey::ILLEGAL_REQUEST
                && let Task::ReadCapacity16 { idx } = task
            {
                // SBC-3: READ CAPACITY(16) is optional for older devices; (10) is mandatory.
                return self.start(now, Task::ReadCapacity10 { idx });
            }
            return self.finish_lun(now, Err(LunError::Check { command, sense }));
        }
        self.finish_lun(now, Err(LunError::Status { command, status }))
    }

    fn on_good(&mut self, now: Instant, task: Task, data: &[u8]) -> Result<(), SessionError> {
        let command = task.name();
        match task {
            Task::ReportLuns { alloc } => {
                let list = match LunList::parse(data) {
                    Ok(l) => l,
                    Err(error) => {
                        return self.finish_target(now, Err(LunError::BadData { command, error }));
                    }
                };
                let cap = self.config.max_luns.saturating_mul(8);
                if !list.is_complete() && list.declared_len() <= cap {
                    let want = u32::try_from(list.declared_len() + 8).unwrap_or(u32::MAX);
                    if want > alloc {
                        return self.start(now, Task::ReportLuns { alloc: want });
                    }
                }
                self.luns = list
                    .iter()
                    .take(self.config.max_luns)
                    .map(LunReport::new)
                    .collect();
                self.next_lun(now, 0)
            }
            Task::Inquiry { idx } => {
                let inq = match InquiryData::parse(data) {
                    Ok(i) => i,
                    Err(error) => {
                        return self.finish_lun(now, Err(LunError::BadData { command, error }));
                    }
                };
                let (qualifier, dt) = (inq.qualifier(), inq.device_type());
                if let Some(l) = self.luns.get_mut(idx) {
                    l.qualifier = qualifier;
                    l.device_type = dt;
                    l.vendor = String::from_utf8_lossy(inq.vendor()).into_owned();
                    l.product = String::from_utf8_lossy(inq.product()).into_owned();
                    l.revision = String::from_utf8_lossy(inq.revision()).into_owned();
                }
                if qualifier != 0 || !dt.has_block_capacity() {
                    return self.next_lun(now, idx + 1);
                }
                let sbc = matches!(
                    dt,
                    DeviceType::DIRECT_ACCESS
                        | DeviceType::SIMPLIFIED_DIRECT_ACCESS
                        | DeviceType::HOST_MANAGED_ZONED
                );
                if sbc {
                    self.start(now, Task::ReadCapacity16 { idx })
                } else {
                    self.start(now, Task::ReadCapacity10 { idx })
                }
            }
            Task::ReadCapacity16 { .. } | Task::ReadCapacity10 { .. } => {
                let parsed = if matches!(task, Task::ReadCapacity16 { .. }) {
                    Capacity::parse16(data)
                } else {
                    Capacity::parse10(data)
                };
                match parsed {
                    Err(error) => self.finish_lun(now, Err(LunError::BadData { command, error })),
                    Ok(c) if c.bytes().is_none() => {
                        self.finish_lun(now, Err(LunError::CapacityOverflow))
                    }
                    Ok(c) if matches!(task, Task::ReadCapacity10 { .. }) && c.needs_16() => {
                        self.finish_lun(now, Err(LunError::CapacityOverflow))
                    }
                    Ok(c) => self.finish_lun(now, Ok(c)),
                }
            }
            Task::SendTargets => Ok(()),
        }
    }

    /// Records the outcome of the current LUN's last command and moves on.
    fn finish_lun(
        &mut self,
        now: Instant,
        outcome: Result<Capacity, LunError>,
    ) -> Result<(), SessionError> {
        let State::Command(c) = &self.state else {
            return Ok(());
        };
        let idx = match c.task {
            Task::Inquiry { idx } | Task::ReadCapacity16 { idx } | Task::ReadCapacity10 { idx } => {
                idx
            }
            Task::ReportLuns { .. } | Task::SendTargets => {
                return self.finish_target(now, outcome.map(|_| ()));
            }
        };
        if let Some(l) = self.luns.get_mut(idx) {
            match outcome {
                Ok(c) => l.capacity = Some(c),
                Err(e) => {
                    l.error.get_or_insert(e);
                }
            }
        }
        self.next_lun(now, idx + 1)
    }

    /// REPORT LUNS failed: report the target with no LUNs, then log out.
    fn finish_target(
        &mut self,
        now: Instant,
        outcome: Result<(), LunError>,
    ) -> Result<(), SessionError> {
        if let Err(e) = outcome {
            // Keep the reason visible: a pseudo-entry for LUN 0 carries it.
            let mut l = LunReport::new(Lun([0; 8]));
            l.error = Some(e);
            self.luns = vec![l];
        }
        self.next_lun(now, usize::MAX)
    }

    fn next_lun(&mut self, now: Instant, idx: usize) -> Result<(), SessionError> {
        if idx < self.luns.len() {
            return self.start(now, Task::Inquiry { idx });
        }
        let target_name = match &self.config.kind {
            SessionKind::Normal { target_name } => target_name.clone(),
            SessionKind::Discovery => String::new(),
        };
        let report = TargetReport {
            target_name,
            alias: self.alias.clone(),
            luns: core::mem::take(&mut self.luns),
        };
        self.events.push_back(Event::Report(report));
        self.logout(now)
    }

    fn handle_text_response(
        &mut self,
        now: Instant,
        r: &TextResponse<'_>,
    ) -> Result<(), SessionError> {
        self.update_window(r.exp_cmd_sn, r.max_cmd_sn);
        self.update_stat_sn(r.stat_sn);
        let c = self.command_mut(r.itt, Opcode::TEXT_RESPONSE)?;
        if c.data.len() + r.data.len() > c.expected_len {
            return Err(ProtocolError::TextTooLong {
                limit: c.expected_len,
            }
            .into());
        }
        c.data.extend_from_slice(r.data);
        let itt = c.itt;
        if !r.final_ || r.cont {
            // RFC 7143 §11.10.4: ask for the rest with the target's transfer tag.
            self.send_text(itt, r.ttt, &[])?;
            self.arm(now);
            return Ok(());
        }
        let data = core::mem::take(&mut c.data);
        let targets = parse_send_targets(&data)?;
        self.events.push_back(Event::Targets(targets));
        self.logout(now)
    }

    fn handle_nop_in(&mut self, now: Instant, n: &NopIn<'_>) -> Result<(), SessionError> {
        self.update_window(n.exp_cmd_sn, n.max_cmd_sn);
        if n.ttt != RESERVED_TAG {
            // A target ping: answer at once (RFC 7143 §11.18), echoing its data.
            let m = NopOut {
                immediate: true,
                lun: n.lun,
                itt: RESERVED_TAG,
                ttt: n.ttt,
                cmd_sn: self.cmd_sn,
                exp_stat_sn: self.exp_stat_sn,
                data: n.data,
            };
            self.push_pdu(&Message::NopOut(m))?;
        } else if n.itt != RESERVED_TAG {
            self.update_stat_sn(n.stat_sn);
        }
        self.retry_waiting(now)
    }

    fn retry_waiting(&mut self, now: Instant) -> Result<(), SessionError> {
        if let State::Waiting { task, retries_left } = self.state
            && sn_le(self.cmd_sn, self.max_cmd_sn)
        {
            return self.start_with(now, task, retries_left);
        }
        Ok(())
    }

    fn handle_logout_response(&mut self, r: &LogoutResponse) -> Result<(), SessionError> {
        match self.state {
            State::LoggingOut { itt } if itt == r.itt => {
                self.update_stat_sn(r.stat_sn);
                self.events.push_back(Event::LoggedOut);
                self.finish();
                Ok(())
            }
            State::LoggingOut { .. } => Err(ProtocolError::UnknownTaskTag {
                itt: r.itt,
                phase: "logging out",
            }
            .into()),
            _ => Err(ProtocolError::UnexpectedPdu {
                opcode: Opcode::LOGOUT_RESPONSE,
                phase: self.phase().as_str(),
            }
            .into()),
        }
    }

    fn handle_reject(&mut self, r: &Reject<'_>) -> Result<(), SessionError> {
        self.update_stat_sn(r.stat_sn);
        Err(ProtocolError::Rejected { reason: r.reason }.into())
    }

    fn handle_pdu(&mut self, now: Instant, pdu: Pdu<'_>) -> Result<(), SessionError> {
        let in_login = matches!(self.state, State::Login(_));
        let msg = Message::from_pdu(pdu);
        match (&msg, in_login) {
            (Message::LoginResponse(r), _) => self.handle_login_response(now, r),
            (Message::Reject(r), _) => self.handle_reject(r),
            (_, true) => Err(ProtocolError::UnexpectedPdu {
                opcode: pdu.opcode(),
                phase: "logging in",
            }
            .into()),
            (Message::DataIn(d), false) => self.handle_data_in(now, d),
            (Message::ScsiResponse(r), false) => self.handle_scsi_response(now, r),
            (Message::TextResponse(r), false) => self.handle_text_response(now, r),
            (Message::NopIn(n), false) => self.handle_nop_in(now, n),
            (Message::LogoutResponse(r), false) => self.handle_logout_response(r),
            (Message::Other(p), false) if p.opcode() == Opcode::ASYNC_MESSAGE => {
                // RFC 7143 §11.9: StatSN advances; the events themselves need no action from a
                // short-lived probe session (it logs out on its own shortly).
                self.update_stat_sn(p.u32_at(24));
                self.update_window(p.u32_at(28), p.u32_at(32));
                self.retry_waiting(now)
            }
            _ => Err(ProtocolError::UnexpectedPdu {
                opcode: pdu.opcode(),
                phase: self.phase().as_str(),
            }
            .into()),
        }
    }
}

/// Helper to turn a (len, cdb, lun) triple with a u32 length into the usize form.
trait IntoCmd {
    fn into_cmd(self) -> (usize, [u8; 16], [u8; 8]);
}

impl IntoCmd for (u32, [u8; 16], [u8; 8]) {
    fn into_cmd(self) -> (usize, [u8; 16], [u8; 8]) {
        (
            usize::try_from(self.0).unwrap_or(usize::MAX),
            self.1,
            self.2,
        )
    }
}

/// Keys a target declares without expecting an answer (RFC 7143 §13).
fn is_declarative(key: &str) -> bool {
    matches!(
        key,
        "TargetAlias"
            | "TargetAddress"
            | "TargetPortalGroupTag"
            | "MaxRecvDataSegmentLength"
            | "TargetName"
            | "InitiatorAlias"
    )
}

/// Parses a SendTargets response: `TargetName=` starts a target, `TargetAddress=` lines that
/// follow belong to it (RFC 7143 Appendix C).
///
/// # Errors
/// [`SessionError::Decode`] for malformed text; [`ProtocolError::UnexpectedPdu`]-free: a
/// `TargetAddress` before any `TargetName` is ignored.
pub fn parse_send_targets(data: &[u8]) -> Result<Vec<DiscoveredTarget>, SessionError> {
    let mut out: Vec<DiscoveredTarget> = Vec::new();
    for p in text::pairs(data) {
        let p = p?;
        match p.key {
            "TargetName" => out.push(DiscoveredTarget {
                name: p.value.to_owned(),
                addresses: Vec::new(),
            }),
            "TargetAddress" => {
                if let Some(t) = out.last_mut() {
                    t.addresses.push(TargetAddress::parse(p.value));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_comparison_wraps_around() {
        assert!(sn_le(5, 5));
        assert!(sn_le(5, 6));
        assert!(!sn_le(6, 5));
        assert!(sn_le(u32::MAX, 0));
        assert!(!sn_le(0, u32::MAX));
    }

    #[test]
    fn rejects_names_that_are_not_iscsi_names() {
        let now = Instant::now();
        let long = "iqn.".repeat(60);
        for bad in [
            "",
            "target1",
            "iqn.2026-01.x:a b",
            "iqn.2026-01.x:A",
            "iqn.x:t1",
            "eui.0200",
            long.as_str(),
        ] {
            let cfg = SessionConfig::normal("iqn.2026-01.test:i", bad);
            assert!(Session::new(cfg, now).is_err(), "{bad:?} accepted");
        }
        for good in [
            "iqn.2026-01.test:t",
            "eui.02004567A425678D",
            "naa.52004567BA64678D",
        ] {
            let cfg = SessionConfig::normal("iqn.2026-01.test:i", good);
            assert!(Session::new(cfg, now).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn send_targets_groups_addresses_under_their_target() {
        let text = b"TargetAddress=ignored:1,1\0TargetName=iqn.a:1\0\
TargetAddress=10.0.0.1:3260,1\0TargetAddress=[::1]:3261,2\0TargetName=iqn.a:2\0";
        let t = parse_send_targets(text).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].addresses.len(), 2);
        assert_eq!(t[0].addresses[1].tpgt, Some(2));
        assert!(t[1].addresses.is_empty());
    }
}
