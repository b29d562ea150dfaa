//! Session errors, split by whose fault they are: bad bytes from a peer, a well-formed
//! message that is illegal now, our own limits, and a request that failed.

use core::time::Duration;

use crate::{DecodeError, EncodeError, FunctionId, Status};

/// Something went wrong; the session reports it as an event and keeps running.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server connection carried bytes that do not frame; the connection is dropped.
    #[error("server sent an unframeable PDU: {0}")]
    Framing(DecodeError),
    /// A PDU from the server framed but its payload did not decode.
    #[error("server sent a malformed {function} (transaction {xid}): {error}")]
    Malformed {
        /// Function ID of the PDU.
        function: FunctionId,
        /// Its transaction ID.
        xid: u16,
        /// What was wrong.
        error: DecodeError,
    },
    /// A response arrived for a transaction ID that is not outstanding.
    #[error("response {function} for unknown transaction {xid}")]
    UnknownTransaction {
        /// Function ID of the response.
        function: FunctionId,
        /// Its transaction ID.
        xid: u16,
    },
    /// A response's function does not answer the request with that transaction ID.
    #[error("transaction {xid} expected {expected}, got {got}")]
    UnexpectedResponse {
        /// Transaction ID.
        xid: u16,
        /// Response function expected.
        expected: FunctionId,
        /// Response function received.
        got: FunctionId,
    },
    /// The server sent a request the client does not serve.
    #[error("server sent unexpected {function} (transaction {xid})")]
    UnexpectedRequest {
        /// Function ID.
        function: FunctionId,
        /// Transaction ID.
        xid: u16,
    },
    /// A request went unanswered.
    #[error("{function} (transaction {xid}) unanswered after {after:?}")]
    Timeout {
        /// Function ID of the request.
        function: FunctionId,
        /// Its transaction ID.
        xid: u16,
        /// The timeout.
        after: Duration,
    },
    /// The server refused the client's registration.
    #[error("registration refused: {0}")]
    RegistrationRefused(Status),
    /// The server refused the SCN registration.
    #[error("SCN registration refused: {0}")]
    ScnRegistrationRefused(Status),
    /// A walk step was refused or malformed; the walk is abandoned and retried later.
    #[error("walk of {object} failed: {status}")]
    WalkFailed {
        /// Object type walked.
        object: &'static str,
        /// Status returned.
        status: Status,
    },
    /// A walk returned more objects than allowed or made no progress.
    #[error("walk of {object} stopped: {reason}")]
    WalkRunaway {
        /// Object type walked.
        object: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// An inbound (SCN/ESI) connection carried bytes that do not frame; it is closed.
    #[error("inbound connection {conn}: {error}")]
    InboundFraming {
        /// Inbound connection.
        conn: u64,
        /// What was wrong.
        error: DecodeError,
    },
    /// Too many inbound connections; the newest is refused.
    #[error("more than {max} inbound connections")]
    TooManyInbound {
        /// The limit.
        max: usize,
    },
    /// A message could not be built (e.g. too many members for one 8 KiB PDU).
    #[error("cannot build request: {0}")]
    Encode(EncodeError),
    /// The send queue is full.
    #[error("more than {max} requests queued")]
    QueueFull {
        /// The limit.
        max: usize,
    },
    /// Events were dropped because nobody polled them; a full walk is scheduled.
    #[error("{dropped} events dropped (queue limit {max})")]
    EventsDropped {
        /// How many.
        dropped: u64,
        /// The limit.
        max: usize,
    },
    /// Too many distinct nodes awaited a re-query; a full walk replaces them.
    #[error("more than {max} re-queries pending; a full walk replaces them")]
    RequeryOverflow {
        /// The limit.
        max: usize,
    },
}

/// Why a command (DD operation, initiator registration, query) did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The server answered with this status.
    #[error("server answered {0}")]
    Status(Status),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection dropped before the answer.
    #[error("connection lost before the answer: {0}")]
    Disconnected(DisconnectCause),
    /// The request could not be sent before its deadline: the server was unreachable.
    #[error("not sent within {after:?}: {cause}")]
    Unreachable {
        /// The deadline, counted from when the request was issued.
        after: Duration,
        /// Why the server connection was down.
        cause: DisconnectCause,
    },
    /// The answer did not decode or lacked what was needed.
    #[error("malformed answer: {0}")]
    Malformed(String),
}

/// Why the server connection was lost or could not be opened; carried by
/// [`Event::Disconnected`](super::Event::Disconnected) and by failed requests.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectCause {
    /// Nothing listens at the server's address.
    #[error("connection refused")]
    Refused,
    /// The server reset the connection.
    #[error("connection reset by the server")]
    Reset,
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// No route to the server's address, or the network is down.
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// The TCP connection did not open in time.
    #[error("no TCP connection within {0:?}")]
    ConnectTimeout(Duration),
    /// The connection opened but the registration went unanswered.
    #[error("the server did not answer the registration within {0:?}")]
    RegistrationTimeout(Duration),
    /// The server spoke something else than iSNS, or broke the protocol (an unframeable
    /// PDU, an unsupported version, a malformed or refused registration).
    #[error("protocol error: {0}")]
    Protocol(ClientError),
    /// Another I/O error, as the operating system worded it.
    #[error("{0}")]
    Io(String),
}

impl DisconnectCause {
    /// True when retrying soon will most likely meet the same cause: nothing listens, or
    /// the peer does not speak iSNS. A one-shot command may give up at once; a daemon keeps
    /// retrying with back-off.
    #[must_use]
    pub fn is_definite(&self) -> bool {
        matches!(
            self,
            DisconnectCause::Refused
                | DisconnectCause::Unreachable(_)
                | DisconnectCause::Protocol(_)
        )
    }

    /// The cause for an I/O error kind met while connecting, reading or writing.
    #[must_use]
    pub fn from_io(kind: std::io::ErrorKind, detail: &str) -> DisconnectCause {
        use std::io::ErrorKind as K;
        match kind {
            K::ConnectionRefused => DisconnectCause::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => DisconnectCause::Reset,
            K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown | K::AddrNotAvailable => {
                DisconnectCause::Unreachable(detail.to_owned())
            }
            K::UnexpectedEof => DisconnectCause::Closed,
            _ => DisconnectCause::Io(detail.to_owned()),
        }
    }
}
