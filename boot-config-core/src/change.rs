//! What applying an event changed, so the driver can log it and the manager can react.

use serde::{Deserialize, Serialize};

use crate::model::Portal;
use crate::names::{DdId, EntityId, IscsiName, LunRef, RequestId};

/// One change to the inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Change {
    /// A new entity appeared.
    EntityAdded {
        /// The entity.
        entity: EntityId,
    },
    /// An entity left with all its targets.
    EntityRemoved {
        /// The entity.
        entity: EntityId,
    },
    /// A new target appeared.
    TargetAdded {
        /// The target.
        target: IscsiName,
    },
    /// A target's entity, alias or tags changed.
    TargetUpdated {
        /// The target.
        target: IscsiName,
    },
    /// A target's portal list changed.
    PortalsChanged {
        /// The target.
        target: IscsiName,
        /// The new portal list (sorted).
        portals: Vec<Portal>,
    },
    /// A target left the inventory (its LUNs are reported separately).
    TargetRemoved {
        /// The target.
        target: IscsiName,
    },
    /// A LUN appeared.
    LunAdded {
        /// The LUN.
        lun: LunRef,
        /// Its size, when known.
        size: Option<u64>,
    },
    /// A LUN's size became known or changed.
    LunResized {
        /// The LUN.
        lun: LunRef,
        /// Previous size.
        from: Option<u64>,
        /// New size.
        to: u64,
        /// The request holding it, if any: the manager may want to check it still fits.
        held_by: Option<RequestId>,
    },
    /// A LUN answered again.
    LunOnline {
        /// The LUN.
        lun: LunRef,
    },
    /// A LUN stopped answering.
    LunOffline {
        /// The LUN.
        lun: LunRef,
        /// The request holding it, if any: that server may not boot.
        held_by: Option<RequestId>,
    },
    /// A LUN disappeared.
    LunRemoved {
        /// The LUN.
        lun: LunRef,
        /// The request holding it, if any: its allocation now points at a missing LUN.
        held_by: Option<RequestId>,
    },
    /// A DD appeared.
    DdAdded {
        /// The DD.
        dd: DdId,
    },
    /// A DD's name or membership changed.
    DdUpdated {
        /// The DD.
        dd: DdId,
    },
    /// A DD was deleted.
    DdRemoved {
        /// The DD.
        dd: DdId,
    },
}

/// An event that could not be applied as given; nothing changed because of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Warning {
    /// The event names a target the inventory does not know (register it first).
    UnknownTarget {
        /// The target.
        target: IscsiName,
    },
    /// The event names a DD the inventory does not know.
    UnknownDd {
        /// The DD.
        dd: DdId,
    },
    /// The inventory is full (2^32 − 1 LUNs or targets); the item was dropped.
    CapacityExceeded,
}

/// The result of applying one event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// State changes, in the order they happened.
    pub changes: Vec<Change>,
    /// Parts of the event that were not applied.
    pub warnings: Vec<Warning>,
}

impl Changes {
    /// Whether the event changed nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub(crate) fn push(&mut self, c: Change) {
        self.changes.push(c);
    }

    pub(crate) fn warn(&mut self, w: Warning) {
        self.warnings.push(w);
    }
}
