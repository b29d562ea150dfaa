//! Boot requests: who wants a disk, how big, where from, and how to choose.

use core::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::names::{EntityId, RequestId, ServerName, Tag};
use crate::net::Subnet;
use crate::pattern::NamePattern;

/// The server that will boot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerIdentity {
    /// Server name; becomes part of its initiator name and DD name.
    pub name: ServerName,
    /// BMC address (`host` or `host:port`) the plan configures.
    pub bmc: Option<String>,
    /// MAC address of the boot NIC, as text (`52:54:00:12:34:56`).
    pub nic_mac: Option<String>,
    /// IP address of the boot NIC, if static.
    pub nic_addr: Option<IpAddr>,
    /// Subnet of the boot NIC.
    pub nic_subnet: Option<Subnet>,
}

impl ServerIdentity {
    /// An identity with only a name.
    #[must_use]
    pub fn named(name: impl Into<ServerName>) -> Self {
        Self {
            name: name.into(),
            bmc: None,
            nic_mac: None,
            nic_addr: None,
            nic_subnet: None,
        }
    }
}

/// Acceptable LUN sizes in bytes: `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeRange {
    /// Smallest acceptable size.
    pub min: u64,
    /// Largest acceptable size (`None`: no upper bound).
    pub max: Option<u64>,
}

impl SizeRange {
    /// At least `min` bytes.
    #[must_use]
    pub const fn at_least(min: u64) -> Self {
        Self { min, max: None }
    }

    /// Between `min` and `max` bytes inclusive.
    #[must_use]
    pub const fn between(min: u64, max: u64) -> Self {
        Self {
            min,
            max: Some(max),
        }
    }

    /// Whether `size` is in range.
    #[must_use]
    pub fn contains(&self, size: u64) -> bool {
        size >= self.min && self.max.is_none_or(|m| size <= m)
    }

    pub(crate) fn upper(&self) -> u64 {
        self.max.unwrap_or(u64::MAX)
    }
}

/// Where the LUN may come from. All given constraints must hold (empty lists mean "any").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints {
    /// Target names must match this glob.
    pub target_pattern: Option<NamePattern>,
    /// Target must belong to one of these entities (storage systems / pools).
    pub entities: Vec<EntityId>,
    /// Target must have a portal inside one of these subnets (reachable from the server).
    pub reachable_from: Vec<Subnet>,
    /// Target must carry every one of these tags.
    pub tags: Vec<Tag>,
}

impl Constraints {
    /// Whether no constraint is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.target_pattern.is_none()
            && self.entities.is_empty()
            && self.reachable_from.is_empty()
            && self.tags.is_empty()
    }
}

/// Whether a second LUN is wanted for a fallback boot path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Redundancy {
    /// One LUN.
    #[default]
    None,
    /// A secondary LUN, satisfying the same size and constraints, on a different entity.
    SecondaryOnOtherEntity,
}

/// Authentication the boot path should use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthWanted {
    /// No authentication.
    #[default]
    None,
    /// One-way CHAP (target authenticates the initiator).
    Chap,
    /// Mutual CHAP (both directions).
    MutualChap,
}

/// How to choose among fitting LUNs. Every policy is deterministic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Policy {
    /// Smallest fitting LUN; ties by stable target-name hash, then LUN number. Wastes least space.
    #[default]
    BestFit,
    /// First fitting LUN in inventory order (target name, then LUN number). Fills targets in order.
    FirstFit,
    /// Target with the fewest held LUNs (ties by stable name hash), best fit within it; portals are
    /// rotated by the target's load. Spreads sessions.
    LeastLoaded,
}

/// A request for a boot disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootRequest {
    /// Idempotency key: the same ID with the same request always gets the same answer.
    pub id: RequestId,
    /// The server.
    pub server: ServerIdentity,
    /// Acceptable sizes.
    pub size: SizeRange,
    /// Placement constraints.
    pub constraints: Constraints,
    /// Secondary LUN wanted.
    pub redundancy: Redundancy,
    /// Authentication wanted.
    pub auth: AuthWanted,
    /// Selection policy.
    pub policy: Policy,
}

impl BootRequest {
    /// A request with default constraints, no redundancy, no auth and best fit.
    #[must_use]
    pub fn new(id: impl Into<RequestId>, server: impl Into<ServerName>, size: SizeRange) -> Self {
        Self {
            id: id.into(),
            server: ServerIdentity::named(server),
            size,
            constraints: Constraints::default(),
            redundancy: Redundancy::None,
            auth: AuthWanted::None,
            policy: Policy::BestFit,
        }
    }
}
