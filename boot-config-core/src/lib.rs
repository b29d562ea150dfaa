//! Pure engine of the iSCSI boot manager: inventory, selection, allocation ledger and
//! provisioning plan.
//!
//! The iSNS driver feeds [`InventoryEvent`]s into an [`Engine`]; the manager asks it to
//! [`reserve`](Engine::reserve) LUNs for a [`BootRequest`], executes the
//! [`ProvisioningPlan`] it returns step by step, [`commit`](Engine::commit)s, persists the
//! [`Ledger`] with serde, and after a crash rebuilds the engine from that ledger and
//! [`reconcile`](Engine::reconcile)s it with the DDs found in iSNS. No I/O, no clock, no global
//! randomness: time ([`Timestamp`]) and random bytes are arguments.
//!
//! ```
//! use boot_config_core::*;
//! use std::net::{IpAddr, Ipv4Addr};
//!
//! let config = EngineConfig::new(2026, 1, "example.com").unwrap();
//! let mut engine = Engine::new(config.clone());
//! let now = Timestamp::from_millis(1_700_000_000_000);
//! let seen = Provenance::new(Source::IsnsQuery, now);
//! let target = IscsiName::new("iqn.2026-01.com.example:array1.t1").unwrap();
//! let portal = Portal::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 3260);
//! let events = [
//!     InventoryEvent::TargetUpserted(TargetSpec {
//!         name: target.clone(),
//!         entity: EntityId::new("array1"),
//!         alias: None,
//!         portals: vec![portal],
//!     }),
//!     InventoryEvent::LunsReported {
//!         target: target.clone(),
//!         luns: vec![
//!             LunSpec { number: LunNumber::new(1).unwrap(), size: Some(32 * GIB) },
//!             LunSpec { number: LunNumber::new(2).unwrap(), size: Some(64 * GIB) },
//!         ],
//!     },
//! ];
//! for e in &events {
//!     assert!(!engine.apply(e, seen).is_empty());
//!     assert!(engine.apply(e, seen).is_empty()); // idempotent
//! }
//!
//! // Best fit: 40 GiB asked, the 64 GiB LUN is the smallest that fits.
//! let req = BootRequest::new("req-1", "server-a", SizeRange::at_least(40 * GIB));
//! let got = engine.reserve(&req, now).unwrap().allocation;
//! assert_eq!(got.selection.primary.lun, LunRef::new(target.clone(), LunNumber::new(2).unwrap()));
//! assert_eq!(got.initiator.as_str(), "iqn.2026-01.com.example:server-a");
//!
//! // The plan, then commit.
//! let plan = engine.provisioning_plan(&req.id, &[0u8; 32]).unwrap();
//! assert_eq!(plan.steps.last().map(|s| s.kind), Some(StepKind::Commit));
//! engine.commit(&req.id, now).unwrap();
//!
//! // A second 40 GiB request is refused with a reason a person can act on.
//! let other = BootRequest::new("req-2", "server-b", SizeRange::at_least(40 * GIB));
//! let why = engine.reserve(&other, now).unwrap_err().to_string();
//! assert!(why.contains("largest available is 32 GiB"), "{why}");
//!
//! // Persist, "crash", recover: the same assignment comes back.
//! let saved = serde_json::to_string(engine.ledger()).unwrap();
//! let mut again = Engine::with_ledger(config, serde_json::from_str(&saved).unwrap());
//! for e in &events {
//!     again.apply(e, seen);
//! }
//! let lun = again.inventory().lun(&LunRef::new(target, LunNumber::new(2).unwrap())).unwrap();
//! assert_eq!(lun.state, LunState::Assigned);
//! ```
//!
//! The crate has no features and no runtime; `examples/select_lun.rs` runs a selection and
//! prints its provisioning plan.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod avail;
mod change;
mod choice;
mod engine;
mod inventory;
mod ledger;
mod model;
mod name_index;
mod names;
mod net;
mod pattern;
mod plan;
mod recovery;
mod rejection;
mod request;
mod secret;
mod select;
mod time;

/// Deterministic xorshift64 for the crate's randomized unit tests: `rnd(n)` is in `0..n`.
#[cfg(test)]
pub(crate) fn test_rng(mut x: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}

pub use change::{Change, Changes, Warning};
pub use choice::{COUNT_LIMIT, Choice, EXAMINE_LIMIT, LostBecause, RunnerUp};
pub use engine::{Engine, EngineConfig, InvariantViolation, PlanError, Reserved};
pub use inventory::{DdView, Inventory, LunCounts, LunView, TargetView};
pub use ledger::{Allocation, AllocationState, LEDGER_VERSION, Ledger, LedgerError};
pub use model::{
    DdSpec, InventoryEvent, LunSpec, LunState, Portal, Provenance, Source, TargetSpec,
};
pub use names::{
    DdId, EntityId, GIB, IscsiName, IscsiNameError, LunNumber, LunNumberError, LunRef,
    MAX_LUN_NUMBER, RequestId, ServerName, Tag, human_bytes,
};
pub use net::{Subnet, SubnetError};
pub use pattern::NamePattern;
pub use plan::{
    Action, BmcBootSettings, BootPath, InitiatorNameScheme, MAX_ISCSI_NAME, NamingError,
    NamingScheme, PlannedStep, ProvisioningPlan, StepKind,
};
pub use recovery::{RecoveryAction, RecoveryReport};
pub use rejection::{
    ConstraintKind, ConstraintReport, EXPLAIN_LIMIT, Exclusion, NearMiss, RejectReason, Rejection,
    SizeReport,
};
pub use request::{
    AuthWanted, BootRequest, Constraints, Policy, Redundancy, ServerIdentity, SizeRange,
};
pub use secret::{CHAP_SECRET_LEN, ChapCredentials, ChapSecret, NotEnoughRandomness};
pub use select::{
    MAX_DERIVED_ENTITIES, MAX_RUNS, Placement, SCAN_BUDGET, SET_LIMIT, Selection, WALK_BUDGET,
};
pub use time::Timestamp;

// The README's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
