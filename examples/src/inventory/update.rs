//! What the inventory tells the manager, and the helper that applies it to an engine.

use std::time::Duration;

use boot_config_core::{Changes, Engine, InventoryEvent, Provenance};
use iscsi_probe::ProbeError;
use isns_proto::client::{ClientError, DisconnectCause};
use isns_proto::client_tokio::DriverError;

/// The iSNS session's state, for logs and health.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// The control node is registered (`reconnected`: after a lost connection).
    Registered {
        /// Entity identifier the server holds for the manager.
        entity_id: String,
        /// Registration period granted.
        registration_period: Option<Duration>,
        /// True when this follows a lost connection.
        reconnected: bool,
    },
    /// The connection to the iSNS server was lost; the session retries after `retry_in`.
    Disconnected {
        /// Back-off before the next attempt.
        retry_in: Duration,
        /// Why the connection was lost or could not be opened.
        cause: DisconnectCause,
        /// Consecutive failed attempts.
        failures: u32,
    },
}

/// Something went wrong; the inventory keeps running and repairs it on the next walk.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryWarning {
    /// The iSNS session reported an error (malformed PDU, timeout, refused walk ...).
    #[error("isns session: {0}")]
    Isns(ClientError),
    /// A probe failed; the target's LUNs are reported offline.
    #[error("probe of {target} failed: {error}")]
    Probe {
        /// The target.
        target: String,
        /// Why.
        error: ProbeError,
    },
    /// Creating or filling the management DD failed.
    #[error("management dd {dd}: {error}")]
    ManagementDd {
        /// The DD's name.
        dd: String,
        /// Why.
        error: DriverError,
    },
    /// Registering the probe initiator in iSNS failed.
    #[error("registering probe initiator {initiator}: {error}")]
    ProbeInitiator {
        /// The initiator.
        initiator: String,
        /// Why.
        error: DriverError,
    },
}

/// Why the last probe of a target failed, for the inventory listing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProbeFailure {
    /// A short state for a table column: `auth failed`, `not admitted`, `login rejected`,
    /// `timeout`, `unreachable` or `probe failed`.
    pub state: &'static str,
    /// The whole cause, in words.
    pub reason: String,
}

impl ProbeFailure {
    /// Classifies a probe error.
    #[must_use]
    pub fn of(error: &ProbeError) -> Self {
        use iscsi_probe::SessionError as S;
        let state = match error {
            ProbeError::Connect { .. } | ProbeError::Io { .. } => "unreachable",
            ProbeError::Timeout { .. } => "timeout",
            ProbeError::Session { error, .. } => match error {
                S::Auth(_) => "auth failed",
                S::TargetNotFound => "not admitted",
                S::LoginRejected { .. } => "login rejected",
                S::Timeout { .. } => "timeout",
                _ => "probe failed",
            },
            _ => "probe failed",
        };
        Self {
            state,
            reason: error.to_string(),
        }
    }
}

/// One message on the inventory's update channel.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InventoryUpdate {
    /// Events to apply to the engine, in order.
    Events {
        /// The events.
        events: Vec<InventoryEvent>,
        /// Where they come from (walk, SCN re-query or probe) and when.
        provenance: Provenance,
    },
    /// Probing progress of the current round (sent best effort: dropped when the channel
    /// is full).
    Progress {
        /// Targets finished.
        probed: usize,
        /// Targets in the round.
        total: usize,
    },
    /// A full walk and its probe round finished.
    Synced {
        /// Targets known.
        targets: usize,
        /// LUNs reported by the round's probes.
        luns: usize,
        /// From the walk's start request (or the previous round) to the last probe.
        took: Duration,
    },
    /// A target's probe finished: `None` when it answered, else why it failed (sent
    /// reliably, unlike [`InventoryUpdate::Warning`]).
    Probed {
        /// The target.
        target: String,
        /// Why the probe failed.
        failure: Option<ProbeFailure>,
    },
    /// The iSNS session's state changed.
    Connection(ConnectionState),
    /// A recoverable problem (best effort, like `Progress`).
    Warning(InventoryWarning),
}

/// Applies an update to `engine`: the events of [`InventoryUpdate::Events`] in order, with
/// their provenance; other updates change nothing. Returns what each event changed.
pub fn apply_update(engine: &mut Engine, update: &InventoryUpdate) -> Vec<Changes> {
    match update {
        InventoryUpdate::Events { events, provenance } => events
            .iter()
            .map(|e| engine.apply(e, *provenance))
            .collect(),
        _ => Vec::new(),
    }
}
