//! Crash recovery: reconciling the persisted ledger with the DDs found in iSNS.
//!
//! The manager persists the ledger entry (reserve) before it creates anything in iSNS, so after a
//! crash every DD it owns (name starts with the configured prefix) must belong to an allocation;
//! anything else is an orphan to remove.

use std::collections::{BTreeMap, BTreeSet};

use crate::names::{DdId, IscsiName, LunRef, RequestId};
use crate::plan::{Action, StepKind};

/// What the manager should do for one allocation or orphan after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryAction {
    /// Ledger and iSNS agree.
    Consistent {
        /// The request.
        request: RequestId,
    },
    /// An in-flight provisioning whose reservation is still valid: run the plan from `from`.
    Resume {
        /// The request.
        request: RequestId,
        /// First step not observed as done (steps are idempotent, so re-running is safe).
        from: StepKind,
    },
    /// An in-flight provisioning whose reservation lapsed: run these compensations (all
    /// idempotent) then it is gone.
    RollBack {
        /// The request.
        request: RequestId,
        /// Compensations in order, ending with the ledger release.
        actions: Vec<Action>,
    },
    /// A committed allocation whose DD is missing or wrong: bring the DD back to exactly its
    /// targets plus the initiator (re-register the initiator if the DD was missing).
    RepairDd {
        /// The request.
        request: RequestId,
        /// The DD name.
        dd_name: String,
        /// The DD if it exists.
        dd: Option<DdId>,
        /// Members to add.
        missing: Vec<IscsiName>,
        /// Members to remove.
        extra: Vec<IscsiName>,
    },
    /// A committed allocation's LUN is not in the inventory (yet): wait for the probe, or release.
    LunMissing {
        /// The request.
        request: RequestId,
        /// The LUN.
        lun: LunRef,
    },
    /// A DD with our prefix that no allocation accounts for: remove it (and deregister the
    /// initiators listed, which are ours by name).
    RemoveOrphanDd {
        /// The DD.
        dd: DdId,
        /// Its name.
        name: String,
        /// Its members.
        members: Vec<IscsiName>,
    },
}

/// The outcome of [`Engine::reconcile`](crate::Engine::reconcile).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// One or more actions per allocation (request-ID order), then orphans (DD-ID order).
    pub actions: Vec<RecoveryAction>,
}

impl RecoveryReport {
    /// Whether nothing needs doing.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.actions
            .iter()
            .all(|a| matches!(a, RecoveryAction::Consistent { .. }))
    }
}

/// The DD view recovery works on: name → (id, members); the first DD of a name wins and later
/// ones are reported as orphans.
pub(crate) struct DdIndex {
    pub(crate) by_name: BTreeMap<String, (DdId, BTreeSet<IscsiName>)>,
    pub(crate) duplicates: Vec<(DdId, String, Vec<IscsiName>)>,
}

impl DdIndex {
    pub(crate) fn new(dds: impl Iterator<Item = crate::inventory::DdView>) -> Self {
        let mut by_name = BTreeMap::new();
        let mut duplicates = Vec::new();
        for d in dds {
            match by_name.entry(d.name) {
                std::collections::btree_map::Entry::Occupied(e) => {
                    duplicates.push((d.id, e.key().clone(), d.members));
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert((d.id, d.members.into_iter().collect()));
                }
            }
        }
        Self {
            by_name,
            duplicates,
        }
    }
}
