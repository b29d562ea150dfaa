//! The inventory's vocabulary: portals, LUN states and where each fact came from.

use core::fmt;
use core::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::names::{DdId, EntityId, IscsiName, LunNumber, Tag};
use crate::time::Timestamp;

/// An address a target listens on, with its iSNS portal group tag when one was registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Portal {
    /// Portal group tag (RFC 3720 TPGT as registered in iSNS); `None` when unknown.
    pub group_tag: Option<u16>,
    /// IP address.
    pub addr: IpAddr,
    /// TCP port (3260 by default).
    pub port: u16,
}

impl Portal {
    /// A portal without a group tag.
    #[must_use]
    pub const fn new(addr: IpAddr, port: u16) -> Self {
        Self {
            group_tag: None,
            addr,
            port,
        }
    }
}

impl fmt::Display for Portal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port)?,
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port)?,
        }
        if let Some(t) = self.group_tag {
            write!(f, ",{t}")?;
        }
        Ok(())
    }
}

/// Where a fact came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Source {
    /// An iSNS registration seen by the driver.
    IsnsRegistration,
    /// An iSNS query result (DevAttrQry / DevGetNext walk).
    IsnsQuery,
    /// An iSNS state change notification.
    IsnsScn,
    /// An iSCSI probe of the target (REPORT LUNS / READ CAPACITY).
    Probe,
    /// Operator configuration (tags, static entries).
    Config,
    /// Rebuilt during crash recovery.
    Recovery,
}

/// Where and when a fact was last observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Who told us.
    pub source: Source,
    /// When (caller's clock).
    pub at: Timestamp,
}

impl Provenance {
    /// A provenance record.
    #[must_use]
    pub const fn new(source: Source, at: Timestamp) -> Self {
        Self { source, at }
    }
}

/// The allocation state of a LUN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LunState {
    /// Online and held by nobody (selectable once its size is known).
    Available,
    /// Held by an uncommitted reservation.
    Reserved,
    /// Held by a committed assignment.
    Assigned,
    /// Its target did not answer the last probe; a holder, if any, keeps it.
    Offline,
}

impl fmt::Display for LunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Available => "available",
            Self::Reserved => "reserved",
            Self::Assigned => "assigned",
            Self::Offline => "offline",
        })
    }
}

/// A target as a caller describes it in an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSpec {
    /// iSCSI name.
    pub name: IscsiName,
    /// The network entity (storage system) that registered it.
    pub entity: EntityId,
    /// iSCSI alias, if registered.
    pub alias: Option<String>,
    /// Portals through which the target is reached.
    pub portals: Vec<Portal>,
}

/// A LUN as a probe reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LunSpec {
    /// LUN number.
    pub number: LunNumber,
    /// Capacity in bytes; `None` until READ CAPACITY answered (a known size is then kept).
    pub size: Option<u64>,
}

/// A Discovery Domain with its full membership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DdSpec {
    /// DD ID assigned by the iSNS server.
    pub id: DdId,
    /// Symbolic name.
    pub name: String,
    /// iSCSI names of all members (targets and initiators).
    pub members: Vec<IscsiName>,
}

/// One observation fed to the engine. Applying the same event twice changes nothing the second time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum InventoryEvent {
    /// A target was registered or re-registered (LUNs are untouched).
    TargetUpserted(TargetSpec),
    /// A target was deregistered: it and its LUNs leave the inventory.
    TargetRemoved {
        /// The target.
        target: IscsiName,
    },
    /// Operator tags of a target (replaces the previous set).
    TargetTagged {
        /// The target.
        target: IscsiName,
        /// All its tags.
        tags: Vec<Tag>,
    },
    /// One LUN was seen (online); a `None` size keeps a known size.
    LunUpserted {
        /// The target.
        target: IscsiName,
        /// The LUN.
        lun: LunSpec,
    },
    /// One LUN disappeared.
    LunRemoved {
        /// The target.
        target: IscsiName,
        /// The LUN number.
        number: LunNumber,
    },
    /// A probe's complete LUN list for a target: LUNs not listed are removed, listed ones are online.
    LunsReported {
        /// The target.
        target: IscsiName,
        /// Every LUN the target reported.
        luns: Vec<LunSpec>,
    },
    /// A probe of the target failed: all its LUNs are offline until it reports again.
    TargetUnreachable {
        /// The target.
        target: IscsiName,
    },
    /// Full view of one entity's targets: targets of the entity not listed are removed
    /// (LUNs of listed targets are kept; they come from probes).
    EntitySnapshot {
        /// The entity.
        entity: EntityId,
        /// Every target it has now.
        targets: Vec<TargetSpec>,
    },
    /// An entity was deregistered with all its targets.
    EntityRemoved {
        /// The entity.
        entity: EntityId,
    },
    /// A DD was created or its full membership was read.
    DdUpserted(DdSpec),
    /// A member joined a DD.
    DdMemberAdded {
        /// The DD.
        dd: DdId,
        /// The member's iSCSI name.
        member: IscsiName,
    },
    /// A member left a DD.
    DdMemberRemoved {
        /// The DD.
        dd: DdId,
        /// The member's iSCSI name.
        member: IscsiName,
    },
    /// A DD was deleted.
    DdRemoved {
        /// The DD.
        dd: DdId,
    },
}
