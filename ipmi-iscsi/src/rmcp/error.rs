//! Errors of the RMCP/RMCP+ layer, split by whose fault they are.

use super::crypto::CryptError;
use crate::ipmi;

/// Bytes that are not a well-formed RMCP/RMCP+ datagram or session-setup payload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    #[error("{what} needs {need} bytes, got {have}")]
    Truncated {
        /// The structure being decoded.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Not an RMCP version 1.0 (0x06) header.
    #[error("rmcp version {version:#04x} is not 0x06 (at byte 0)")]
    NotRmcp {
        /// The version byte found.
        version: u8,
    },
    /// An RMCP message class other than IPMI.
    #[error("rmcp class {class:#04x} is not ipmi (at byte 3)")]
    UnsupportedClass {
        /// The class byte found.
        class: u8,
    },
    /// A v1.5 session authentication type this crate does not speak.
    #[error("ipmi v1.5 authentication type {auth_type:#04x} is not supported (at byte 4)")]
    UnsupportedAuthType {
        /// The authentication type found.
        auth_type: u8,
    },
    /// A payload length field that runs past the datagram.
    #[error("payload length {declared} exceeds the {available} bytes left (at byte {at})")]
    PayloadLength {
        /// Declared length.
        declared: usize,
        /// Bytes actually left.
        available: usize,
        /// Offset of the length field.
        at: usize,
    },
    /// A malformed integrity trailer (pad, pad length or next header).
    #[error("rmcp+ integrity trailer: {what} (at byte {at})")]
    Trailer {
        /// What is wrong.
        what: &'static str,
        /// Offset of the offending byte.
        at: usize,
    },
    /// Bytes after the end of the structure.
    #[error("{count} trailing bytes after {what} (at byte {at})")]
    TrailingBytes {
        /// The structure that ended.
        what: &'static str,
        /// How many bytes follow.
        count: usize,
        /// Offset of the first extra byte.
        at: usize,
    },
    /// A field value the structure does not allow.
    #[error("{what} has invalid value {value:#04x} (at byte {at})")]
    InvalidField {
        /// The field.
        what: &'static str,
        /// The value found.
        value: u8,
        /// Its offset.
        at: usize,
    },
    /// The embedded IPMI message is malformed.
    #[error("ipmi message: {0}")]
    Ipmi(#[from] ipmi::DecodeError),
}

/// A packet that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A payload longer than its length field allows.
    #[error("payload of {len} bytes exceeds the {max}-byte limit")]
    PayloadTooLong {
        /// Payload length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A user name longer than 16 bytes.
    #[error("user name of {len} bytes exceeds 16")]
    UsernameTooLong {
        /// Name length.
        len: usize,
    },
    /// The IPMI message could not be framed.
    #[error("ipmi message: {0}")]
    Ipmi(#[from] ipmi::EncodeError),
}

/// A well-formed datagram that a session refuses (forged, replayed, misdirected or
/// unexpected). The session stays as it was; the datagram is dropped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// The datagram does not decode.
    #[error("malformed datagram: {0}")]
    Decode(#[from] DecodeError),
    /// Addressed to another session.
    #[error("session id {found:#010x} is not ours ({expected:#010x})")]
    WrongSessionId {
        /// Our session ID.
        expected: u32,
        /// The ID in the datagram.
        found: u32,
    },
    /// The integrity AuthCode does not verify.
    #[error("integrity check value does not verify")]
    BadAuthCode,
    /// The AuthCode has the wrong length for the negotiated integrity algorithm.
    #[error("auth code is {found} bytes, the integrity algorithm gives {expected}")]
    AuthCodeLength {
        /// Expected length.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// An unauthenticated or unencrypted packet inside a session that requires both.
    #[error("packet lacks the {missing} the session requires")]
    Unprotected {
        /// `"integrity"` or `"confidentiality"`.
        missing: &'static str,
    },
    /// The confidentiality layer does not decrypt.
    #[error("decryption failed: {0}")]
    Decrypt(#[from] CryptError),
    /// Session sequence number already seen (replay) or too far behind the window.
    #[error("session sequence number {sequence} is a replay or outside the window")]
    Replay {
        /// The sequence number.
        sequence: u32,
    },
    /// A payload type or message the session does not expect now.
    #[error("unexpected {what} in state {state}")]
    Unexpected {
        /// What arrived.
        what: &'static str,
        /// The session state.
        state: &'static str,
    },
    /// A response that answers no outstanding request.
    #[error("response to netfn {netfn:#04x} cmd {cmd:#04x} seq {rq_seq} matches no request")]
    Unsolicited {
        /// Response NetFn.
        netfn: u8,
        /// Command.
        cmd: u8,
        /// Request sequence number.
        rq_seq: u8,
    },
    /// Handshake message for another session attempt (tag or session ID mismatch).
    #[error("handshake message tag/session does not match the attempt in progress")]
    StaleHandshake,
}

/// Why authentication of a session failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The BMC's RAKP 2 key exchange auth code does not verify: wrong password (or a
    /// user name/role mismatch).
    #[error("rakp 2 hmac from the bmc does not verify (wrong password?)")]
    Rakp2HmacMismatch,
    /// The BMC's RAKP 4 integrity check value does not verify.
    #[error("rakp 4 integrity check value from the bmc does not verify")]
    Rakp4IcvMismatch,
    /// The BMC answered a handshake step with a RAKP status code.
    #[error("bmc refused {step}: {status}")]
    Status {
        /// The handshake step.
        step: &'static str,
        /// RAKP/RMCP+ status code.
        status: super::messages::RakpStatus,
    },
    /// The BMC selected a cipher suite we did not offer, or suite 0 without permission.
    #[error("bmc selected algorithms {auth}/{integrity}/{confidentiality} which were not offered")]
    SuiteMismatch {
        /// Authentication algorithm number.
        auth: u8,
        /// Integrity algorithm number.
        integrity: u8,
        /// Confidentiality algorithm number.
        confidentiality: u8,
    },
    /// Set Session Privilege Level was refused.
    #[error("bmc refused privilege level: {0}")]
    Privilege(ipmi::CompletionCode),
}

/// Why a client session ended or could not start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Authentication failed (wrong password, refused user, ...).
    #[error("authentication failed: {0}")]
    Authentication(#[from] AuthFailure),
    /// No offered cipher suite was accepted.
    #[error("no cipher suite accepted by the bmc (tried {tried:?})")]
    NoCipherSuite {
        /// Suite IDs tried, in order.
        tried: Vec<u8>,
    },
    /// The peer did not answer within the retry policy.
    #[error("no answer from the bmc during {stage} after {attempts} attempts")]
    Timeout {
        /// The stage that timed out.
        stage: &'static str,
        /// How many transmissions were made.
        attempts: u32,
    },
    /// The session is closed.
    #[error("session is closed")]
    Closed,
    /// A request is not valid in the session's current state.
    #[error("session not ready: {0}")]
    NotReady(&'static str),
    /// A packet could not be built.
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
}
