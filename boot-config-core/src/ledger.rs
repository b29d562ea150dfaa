//! The allocation ledger: who holds which LUN, reserved or committed. Serializable so the
//! manager can persist it; deserializing re-checks that no LUN and no server is held twice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::inventory::Hold;
use crate::names::{IscsiName, LunRef, RequestId, ServerName};
use crate::request::BootRequest;
use crate::select::Selection;
use crate::time::Timestamp;

/// Where an allocation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AllocationState {
    /// Held for a provisioning in progress until `expires_at`.
    Reserved {
        /// When the reservation lapses unless committed.
        expires_at: Timestamp,
    },
    /// Provisioning finished; held until released.
    Committed {
        /// When it was committed.
        at: Timestamp,
    },
}

/// One server's disk: the request, the LUNs chosen and the names the plan uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The request as received (idempotency fingerprint).
    pub request: BootRequest,
    /// The LUNs chosen.
    pub selection: Selection,
    /// Reserved or committed.
    pub state: AllocationState,
    /// When it was reserved.
    pub reserved_at: Timestamp,
    /// The initiator name generated for the server.
    pub initiator: IscsiName,
    /// The name of the server's Discovery Domain.
    pub dd_name: String,
}

impl Allocation {
    /// The request ID.
    #[must_use]
    pub fn id(&self) -> &RequestId {
        &self.request.id
    }

    /// The server.
    #[must_use]
    pub fn server(&self) -> &ServerName {
        &self.request.server.name
    }

    /// Whether provisioning was committed.
    #[must_use]
    pub fn is_committed(&self) -> bool {
        matches!(self.state, AllocationState::Committed { .. })
    }

    /// Whether an uncommitted reservation has lapsed at `now`.
    #[must_use]
    pub fn is_expired(&self, now: Timestamp) -> bool {
        matches!(self.state, AllocationState::Reserved { expires_at } if expires_at <= now)
    }

    fn hold(&self) -> Hold {
        if self.is_committed() {
            Hold::Assigned
        } else {
            Hold::Reserved
        }
    }
}

/// Errors of ledger operations and of loading a persisted ledger.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// No allocation has this request ID.
    #[error("no allocation for request {request}")]
    UnknownRequest {
        /// The request.
        request: RequestId,
    },
    /// The reservation lapsed before commit; roll the plan back and ask again.
    #[error(
        "reservation for request {request} expired at {expired_at_ms} ms; roll back and request again"
    )]
    ReservationExpired {
        /// The request.
        request: RequestId,
        /// When it lapsed (ms since epoch).
        expired_at_ms: u64,
    },
    /// Two allocations claim one LUN (a corrupt or hand-edited ledger).
    #[error("{lun} is held by both {first} and {second}")]
    LunHeldTwice {
        /// The LUN.
        lun: LunRef,
        /// One holder.
        first: RequestId,
        /// The other.
        second: RequestId,
    },
    /// Two allocations for one server.
    #[error("server {server} holds both {first} and {second}")]
    ServerHeldTwice {
        /// The server.
        server: ServerName,
        /// One request.
        first: RequestId,
        /// The other.
        second: RequestId,
    },
    /// Two allocations with one request ID.
    #[error("request {request} appears twice")]
    DuplicateRequest {
        /// The request.
        request: RequestId,
    },
    /// A persisted ledger from an unknown format version.
    #[error("ledger format version {found} is not supported (expected {LEDGER_VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
}

/// The ledger format version written by this crate.
pub const LEDGER_VERSION: u32 = 1;

/// All allocations, indexed by request, LUN and server. Invariant: a LUN belongs to at most one
/// allocation, and a server has at most one allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "LedgerRepr", into = "LedgerRepr")]
pub struct Ledger {
    allocations: BTreeMap<RequestId, Allocation>,
    by_lun: BTreeMap<IscsiName, BTreeMap<u64, RequestId>>,
    by_server: BTreeMap<ServerName, RequestId>,
}

#[derive(Serialize, Deserialize)]
struct LedgerRepr {
    version: u32,
    allocations: Vec<Allocation>,
}

impl TryFrom<LedgerRepr> for Ledger {
    type Error = LedgerError;

    fn try_from(r: LedgerRepr) -> Result<Self, Self::Error> {
        if r.version != LEDGER_VERSION {
            return Err(LedgerError::UnsupportedVersion { found: r.version });
        }
        let mut l = Self::default();
        for a in r.allocations {
            l.insert(a)?;
        }
        Ok(l)
    }
}

impl From<Ledger> for LedgerRepr {
    fn from(l: Ledger) -> Self {
        Self {
            version: LEDGER_VERSION,
            allocations: l.allocations.into_values().collect(),
        }
    }
}

impl Ledger {
    /// An empty ledger.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of allocations.
    #[must_use]
    pub fn len(&self) -> usize {
        self.allocations.len()
    }

    /// Whether there are no allocations.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.allocations.is_empty()
    }

    /// All allocations in request-ID order.
    pub fn iter(&self) -> impl Iterator<Item = &Allocation> {
        self.allocations.values()
    }

    /// The allocation of a request.
    #[must_use]
    pub fn get(&self, id: &RequestId) -> Option<&Allocation> {
        self.allocations.get(id)
    }

    /// The allocation of a server.
    #[must_use]
    pub fn for_server(&self, server: &ServerName) -> Option<&Allocation> {
        self.by_server
            .get(server)
            .and_then(|id| self.allocations.get(id))
    }

    /// The request holding a LUN.
    #[must_use]
    pub fn holder_of(&self, lun: &LunRef) -> Option<&RequestId> {
        self.by_lun.get(lun.target.as_str())?.get(&lun.lun.0)
    }

    pub(crate) fn hold_of(&self, target: &str, lun: u64) -> Hold {
        self.by_lun
            .get(target)
            .and_then(|m| m.get(&lun))
            .and_then(|id| self.allocations.get(id))
            .map_or(Hold::Free, Allocation::hold)
    }

    pub(crate) fn hold_for(&self, id: &RequestId) -> Hold {
        self.allocations
            .get(id)
            .map_or(Hold::Free, Allocation::hold)
    }

    /// Adds an allocation, refusing any double hold.
    pub(crate) fn insert(&mut self, a: Allocation) -> Result<(), LedgerError> {
        let id = a.id().clone();
        if self.allocations.contains_key(&id) {
            return Err(LedgerError::DuplicateRequest { request: id });
        }
        if let Some(other) = self.by_server.get(a.server()) {
            return Err(LedgerError::ServerHeldTwice {
                server: a.server().clone(),
                first: other.clone(),
                second: id,
            });
        }
        let luns: Vec<LunRef> = a.selection.luns().cloned().collect();
        for (i, lun) in luns.iter().enumerate() {
            let dup_in_self = luns[..i].contains(lun);
            if let Some(other) = self
                .holder_of(lun)
                .cloned()
                .or(dup_in_self.then(|| id.clone()))
            {
                return Err(LedgerError::LunHeldTwice {
                    lun: lun.clone(),
                    first: other,
                    second: id,
                });
            }
        }
        for lun in luns {
            self.by_lun
                .entry(lun.target)
                .or_default()
                .insert(lun.lun.0, id.clone());
        }
        self.by_server.insert(a.server().clone(), id.clone());
        self.allocations.insert(id, a);
        Ok(())
    }

    /// Adds an allocation, refusing any double hold: rebuilds a ledger one stored row at a
    /// time, so a store holding a LUN twice yields the older holder and names the younger.
    ///
    /// # Errors
    /// [`LedgerError::LunHeldTwice`], [`LedgerError::ServerHeldTwice`] or
    /// [`LedgerError::DuplicateRequest`]; the ledger is then unchanged.
    pub fn try_insert(&mut self, a: Allocation) -> Result<(), LedgerError> {
        self.insert(a)
    }

    pub(crate) fn get_mut(&mut self, id: &RequestId) -> Option<&mut Allocation> {
        self.allocations.get_mut(id)
    }

    pub(crate) fn remove(&mut self, id: &RequestId) -> Option<Allocation> {
        let a = self.allocations.remove(id)?;
        for lun in a.selection.luns() {
            if let Some(m) = self.by_lun.get_mut(lun.target.as_str()) {
                m.remove(&lun.lun.0);
                if m.is_empty() {
                    self.by_lun.remove(lun.target.as_str());
                }
            }
        }
        self.by_server.remove(a.server());
        Some(a)
    }
}
