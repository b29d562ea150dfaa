//! Why a Redfish conversation failed, worded for the operator: the service's own
//! `@Message.ExtendedInfo` (MessageId, Message, Resolution) is shown when it sent one.

use std::fmt;
use std::time::Duration;

use super::decode::{DecodeError, ExtendedInfo};
use super::mapping::MappingError;
use super::tls::{Fingerprint, TlsError};

/// The service's messages, one per line: `MessageId: Message (resolution: ...)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Messages(pub Vec<ExtendedInfo>);

impl fmt::Display for Messages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.0 {
            write!(
                f,
                "\n  {}: {}",
                m.message_id.as_deref().unwrap_or("(no MessageId)"),
                m.message.as_deref().unwrap_or("(no Message)")
            )?;
            if let Some(r) = &m.resolution {
                write!(f, " (resolution: {r})")?;
            }
        }
        Ok(())
    }
}

/// Why a Redfish operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedfishError {
    /// The TLS set-up could not be built.
    #[error("bmc {bmc}: {source}")]
    Tls {
        /// The BMC.
        bmc: String,
        /// What failed.
        source: TlsError,
    },
    /// The BMC presented a certificate other than the one pinned for it.
    #[error(
        "bmc {bmc}: its certificate changed: pinned {pinned}, presented {presented}; \
         refusing to talk to it. If the change is expected (a new BMC certificate), accept it \
         by setting redfish_fingerprint = \"{presented}\" for this server in the config (a \
         configured fingerprint replaces the recorded one)"
    )]
    CertificateChanged {
        /// The BMC.
        bmc: String,
        /// The recorded fingerprint.
        pinned: Fingerprint,
        /// The one presented now.
        presented: Fingerprint,
    },
    /// Connection, TLS handshake or HTTP failure.
    #[error("bmc {bmc}: {method} {path}: {reason}")]
    Transport {
        /// The BMC.
        bmc: String,
        /// HTTP method.
        method: &'static str,
        /// Path.
        path: String,
        /// What failed (the cause chain).
        reason: String,
    },
    /// A request or step took longer than its bound.
    #[error("bmc {bmc}: {what} took longer than {}s", after.as_secs_f32())]
    Timeout {
        /// The BMC.
        bmc: String,
        /// What was waited for.
        what: String,
        /// The bound.
        after: Duration,
    },
    /// A response body was refused.
    #[error("bmc {bmc}: {method} {path}: {source}")]
    Decode {
        /// The BMC.
        bmc: String,
        /// HTTP method.
        method: &'static str,
        /// Path.
        path: String,
        /// Why.
        source: DecodeError,
    },
    /// The service answered with an error status.
    #[error("bmc {bmc}: {method} {path} answered {status}{messages}")]
    Status {
        /// The BMC.
        bmc: String,
        /// HTTP method.
        method: &'static str,
        /// Path.
        path: String,
        /// HTTP status.
        status: u16,
        /// `@Message.ExtendedInfo`.
        messages: Messages,
    },
    /// The service has no resource the flow needs (system, iSCSI-capable function, ...).
    #[error("bmc {bmc}: {what}; nothing was written")]
    Unsupported {
        /// The BMC.
        bmc: String,
        /// What is missing.
        what: String,
    },
    /// The parameters cannot be put into `iSCSIBoot`, or the BMC's cannot be read.
    #[error("bmc {bmc}: {source}")]
    Mapping {
        /// The BMC.
        bmc: String,
        /// Why.
        source: MappingError,
    },
    /// The BMC accepted the PATCH but reads back something else.
    #[error("bmc {bmc}: read-back of {path} differs from what was written: {differences}")]
    ReadBack {
        /// The BMC.
        bmc: String,
        /// The resource read.
        path: String,
        /// Property by property.
        differences: String,
    },
    /// A task the service started ended badly.
    #[error("bmc {bmc}: task {path} ended {state}{messages}")]
    Task {
        /// The BMC.
        bmc: String,
        /// The task monitor.
        path: String,
        /// `TaskState`.
        state: String,
        /// `Messages`.
        messages: Messages,
    },
}

impl RedfishError {
    /// Whether retrying later may help (timeouts, connection failures, 503).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Transport { .. } => true,
            Self::Status { status, .. } => *status == 503,
            _ => false,
        }
    }
}
