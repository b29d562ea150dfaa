//! Error types, split by whose fault they are: bad bytes ([`DecodeError`]), a PDU we cannot build
//! ([`EncodeError`]), a well-formed PDU that is illegal now ([`ProtocolError`]), and the outcome of a
//! session that did not finish ([`SessionError`], [`AuthError`]).

use crate::codes::{LoginStatus, Opcode, RejectReason};

/// Bytes from the peer that cannot be decoded. `at` is a byte offset into the unit being decoded
/// (PDU, data segment, or SCSI parameter data, as the variant says).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A fixed-size structure is cut short.
    #[error("{what} needs {needed} bytes but {available} are present (at byte {at})")]
    Truncated {
        /// What was being decoded.
        what: &'static str,
        /// Offset where the structure starts.
        at: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// The BHS DataSegmentLength is over the limit we accept (checked before any buffering).
    #[error("data segment length {declared} exceeds the limit {limit} (at byte 5)")]
    DataSegmentTooLong {
        /// Length the header claims.
        declared: usize,
        /// Largest we accept.
        limit: usize,
    },
    /// A buffer handed to a PDU view is not exactly the length its header declares.
    #[error("PDU buffer is {actual} bytes but its header declares {declared} (at byte 4)")]
    LengthMismatch {
        /// Length from TotalAHSLength and DataSegmentLength, padded.
        declared: usize,
        /// Length of the buffer.
        actual: usize,
    },
    /// A typed view was asked for a PDU with another opcode.
    #[error("opcode {opcode:?} is not a {expected} (at byte 0)")]
    WrongOpcode {
        /// Opcode found.
        opcode: Opcode,
        /// Kind of PDU expected.
        expected: &'static str,
    },
    /// A text key=value pair is malformed.
    #[error("text pair is malformed: {reason} (at byte {at} of the data segment)")]
    BadText {
        /// Offset of the pair in the text.
        at: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A text value is over the length limit.
    #[error("text value is {len} bytes, over the limit {limit} (at byte {at} of the data segment)")]
    TextValueTooLong {
        /// Offset of the value in the text.
        at: usize,
        /// Length of the value.
        len: usize,
        /// Limit.
        limit: usize,
    },
    /// A length field inside parameter data or sense data is inconsistent.
    #[error("{field} {declared} does not fit the {available} bytes present (at byte {at})")]
    BadLength {
        /// Which length field.
        field: &'static str,
        /// Offset of the field.
        at: usize,
        /// Value it declares.
        declared: usize,
        /// Bytes available for it.
        available: usize,
    },
    /// A field value is malformed (binary value encoding, sense response code ...).
    #[error("{field} is malformed (at byte {at})")]
    BadField {
        /// Which field.
        field: &'static str,
        /// Offset of the field.
        at: usize,
    },
}

/// A PDU or text that cannot be built as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A field is longer than the wire allows.
    #[error("{what} is {len} bytes, over the limit {limit}")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// Its length.
        len: usize,
        /// Limit.
        limit: usize,
    },
    /// A field value does not fit its bit width.
    #[error("{what} value {value} does not fit in {bits} bits")]
    OutOfRange {
        /// Which field.
        what: &'static str,
        /// The value.
        value: u32,
        /// Width of the field.
        bits: u32,
    },
    /// A text key has characters RFC 7143 §6.1 does not allow, or is empty.
    #[error("text key is not a valid iSCSI key: {reason}")]
    BadKey {
        /// What is wrong.
        reason: &'static str,
    },
    /// A name is not an iSCSI name (`iqn.`, `eui.` or `naa.` format, RFC 7143 §4.2.7).
    #[error("{what} is not an iSCSI name: {reason}")]
    BadName {
        /// Which name.
        what: &'static str,
        /// The rule broken.
        reason: &'static str,
    },
    /// A name has a character outside the RFC 3722 ASCII repertoire.
    #[error(
        "{what} has character 0x{byte:02x} not allowed at byte {at} (lower-case a-z, 0-9, '-', '.', ':')"
    )]
    NameCharacter {
        /// Which name.
        what: &'static str,
        /// Byte offset.
        at: usize,
        /// The byte.
        byte: u8,
    },
    /// A text value contains a NUL byte.
    #[error("text value for key {key} contains a NUL byte")]
    NulInValue {
        /// The key.
        key: String,
    },
}

/// A well-formed PDU that is not legal in the session's current state (the target's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A PDU of this kind is not expected now.
    #[error("unexpected {opcode:?} while {phase}")]
    UnexpectedPdu {
        /// Opcode received.
        opcode: Opcode,
        /// What the session was doing.
        phase: &'static str,
    },
    /// A response names a task we do not have outstanding.
    #[error("response for unknown initiator task tag {itt:#010x} while {phase}")]
    UnknownTaskTag {
        /// The tag.
        itt: u32,
        /// What the session was doing.
        phase: &'static str,
    },
    /// A login response does not match the stage we asked for.
    #[error("login response stage is {got:?}, expected {expected:?}")]
    LoginStageMismatch {
        /// Stage the response carries.
        got: crate::codes::Stage,
        /// Stage we are in.
        expected: crate::codes::Stage,
    },
    /// Login did not finish within the bounded number of request/response rounds.
    #[error("login did not finish within {rounds} rounds")]
    TooManyLoginRounds {
        /// Round limit.
        rounds: u32,
    },
    /// The target omitted a key it must send.
    #[error("target did not send {key}")]
    MissingKey {
        /// The key.
        key: &'static str,
    },
    /// The target answered a key with a value we cannot accept.
    #[error("target answered {key} with an unacceptable value")]
    BadKeyValue {
        /// The key.
        key: String,
    },
    /// The target rejected one of our PDUs.
    #[error("target rejected a PDU: {reason}")]
    Rejected {
        /// Reject reason.
        reason: RejectReason,
    },
    /// Data-In out of order (DataSN or buffer offset), which we negotiated away.
    #[error("Data-In out of order: {what} is {got}, expected {expected}")]
    DataOutOfOrder {
        /// Which counter.
        what: &'static str,
        /// Value received.
        got: u32,
        /// Value expected.
        expected: u32,
    },
    /// The target sent more data than the command's expected transfer length.
    #[error("target sent {got} bytes of data for a {expected}-byte transfer")]
    DataOverflow {
        /// Bytes received so far.
        got: usize,
        /// Expected transfer length.
        expected: usize,
    },
    /// Text exchanged in a continued login or text sequence exceeds our bound.
    #[error("text sequence exceeds {limit} bytes")]
    TextTooLong {
        /// Limit.
        limit: usize,
    },
    /// The target closed the connection.
    #[error("connection closed by the target while {phase}")]
    ConnectionClosed {
        /// What the session was doing.
        phase: &'static str,
    },
    /// A response carried no status where one is required.
    #[error("target reported service response {response:#04x} (target failure)")]
    TargetFailure {
        /// iSCSI service response byte.
        response: u8,
    },
}

/// Why authentication failed. Secrets never appear here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The target refused the credentials (login status 0x0201 or 0x0202).
    #[error("target refused authentication: {status}")]
    Rejected {
        /// Login status.
        status: LoginStatus,
    },
    /// The target does not accept the authentication method we offered.
    #[error("target refused AuthMethod {offered}")]
    MethodRefused {
        /// What we offered.
        offered: &'static str,
    },
    /// The target does not do CHAP with MD5 (CHAP_A=5).
    #[error("target refused CHAP algorithm MD5")]
    AlgorithmRefused,
    /// The target's CHAP challenge is malformed or too short.
    #[error("target sent a malformed CHAP challenge")]
    BadChallenge,
    /// Mutual CHAP: the target's name or response did not match what we expect.
    #[error("target failed mutual CHAP authentication")]
    MutualFailed,
}

/// Which part of a session a timeout hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Login (security or operational negotiation).
    Login,
    /// SendTargets discovery.
    Discovery,
    /// A SCSI command.
    Command,
    /// Logout.
    Logout,
    /// Waiting for the CmdSN window to open.
    CommandWindow,
}

impl Phase {
    /// A lower-case description for messages.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "logging in",
            Self::Discovery => "discovering targets",
            Self::Command => "running a SCSI command",
            Self::Logout => "logging out",
            Self::CommandWindow => "waiting for the command window",
        }
    }
}

impl core::fmt::Display for Phase {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a session ended without its result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The target sent bytes we cannot decode.
    #[error("undecodable PDU from target: {0}")]
    Decode(#[from] DecodeError),
    /// The target broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// Authentication failed.
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
    /// The target does not know the target name, or does not admit this initiator to it (tgtd
    /// answers "not found" when iSNS access control refuses the initiator).
    #[error("target not found or initiator not admitted (login status 0x0203)")]
    TargetNotFound,
    /// Login failed with another status.
    #[error("login rejected: {status}")]
    LoginRejected {
        /// Login status from the target.
        status: LoginStatus,
    },
    /// The target did not answer in time.
    #[error("no response from target while {phase}")]
    Timeout {
        /// What the session was doing.
        phase: Phase,
    },
    /// A request could not be encoded (a configuration problem, e.g. an over-long name).
    #[error("cannot encode request: {0}")]
    Encode(#[from] EncodeError),
}
