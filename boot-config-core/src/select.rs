//! Selection: which LUN a request gets, without scanning the inventory in the common case.
//!
//! # Cost model (n available LUNs, T targets, L LUNs per target)
//!
//! * **Best fit** walks the ordered size index from `min` upward and takes the first LUN whose
//!   target passes the constraints: O(log n + k) where k is the number of better-fitting LUNs
//!   the constraints exclude. k is bounded by [`SCAN_BUDGET`]; past it the engine switches to
//!   the smallest candidate-target set one of the indexed constraints yields (entity list, tags,
//!   literal prefix of the name pattern, portal subnets) and takes the best LUN of each of
//!   those targets: O(c · L) for c candidate targets (c ≤ [`SET_LIMIT`]).
//! * **First fit** walks targets in name order (from the pattern's literal prefix when there is
//!   one) or the candidate set, skipping in O(1) any target whose largest available LUN is too
//!   small: O(t + L) where t is the number of targets skipped.
//! * **Least loaded** walks targets by load (or the candidate set), same skipping: O(t + L).
//!
//! **Worst case.** When no indexed constraint narrows the candidates (e.g. a pattern that starts
//! with `*` and matches almost nothing, or a secondary whose only fits sit on the primary's
//! entity) best fit continues the size-index walk past the budget with a per-target verdict
//! memo: O(k) with k up to the number of available LUNs in the size range (1,000,000 LUNs:
//! a few milliseconds); first fit and least loaded are bounded by O(T) target visits.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::inventory::{Inventory, SizeKey, TargetRec, ix};
use crate::model::Portal;
use crate::names::{EntityId, LunNumber, LunRef};
use crate::request::{BootRequest, Constraints, Policy, SizeRange};

/// Best-fit candidates examined in size order before switching to an indexed candidate set.
pub const SCAN_BUDGET: usize = 64;
/// Largest indexed candidate-target set evaluated target by target.
pub const SET_LIMIT: usize = 2048;

pub(crate) const C_PATTERN: u8 = 1;
pub(crate) const C_ENTITY: u8 = 2;
pub(crate) const C_SUBNET: u8 = 4;
pub(crate) const C_TAGS: u8 = 8;
pub(crate) const C_NO_PORTAL: u8 = 16;
pub(crate) const C_SAME_ENTITY: u8 = 32;

/// Where one LUN of a selection lives and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The LUN.
    pub lun: LunRef,
    /// Its size in bytes.
    pub size: u64,
    /// The entity (storage system) exporting it.
    pub entity: EntityId,
    /// The portal the server should log in through.
    pub portal: Portal,
    /// The target's alias, if any.
    pub alias: Option<String>,
}

/// The answer to a request: a primary LUN and, when redundancy was asked for, a secondary one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// The boot LUN.
    pub primary: Placement,
    /// The fallback LUN on another entity.
    pub secondary: Option<Placement>,
}

impl Selection {
    /// The selected LUNs, primary first.
    pub fn luns(&self) -> impl Iterator<Item = &LunRef> {
        core::iter::once(&self.primary.lun).chain(self.secondary.as_ref().map(|p| &p.lun))
    }

    /// Both placements, primary first.
    pub fn placements(&self) -> impl Iterator<Item = &Placement> {
        core::iter::once(&self.primary).chain(self.secondary.as_ref())
    }
}

/// Which constraints a target fails, as a bit set of `C_*`.
pub(crate) fn target_failures(
    tr: &TargetRec,
    c: &Constraints,
    exclude_entity: Option<&EntityId>,
) -> u8 {
    let mut f = 0;
    if let Some(p) = &c.target_pattern
        && !p.matches(tr.name.as_str())
    {
        f |= C_PATTERN;
    }
    if !c.entities.is_empty() && !c.entities.contains(&tr.entity) {
        f |= C_ENTITY;
    }
    if tr.portals.is_empty() {
        f |= C_NO_PORTAL;
    } else if !c.reachable_from.is_empty()
        && !tr
            .portals
            .iter()
            .any(|p| c.reachable_from.iter().any(|s| s.contains(p.addr)))
    {
        f |= C_SUBNET;
    }
    if !c.tags.is_empty() && !c.tags.iter().all(|t| tr.tags.binary_search(t).is_ok()) {
        f |= C_TAGS;
    }
    if exclude_entity.is_some_and(|e| *e == tr.entity) {
        f |= C_SAME_ENTITY;
    }
    f
}

struct Ctx<'a> {
    inv: &'a Inventory,
    c: &'a Constraints,
    size: SizeRange,
    exclude: Option<&'a EntityId>,
}

impl Ctx<'_> {
    fn ok(&self, t: u32) -> bool {
        self.inv
            .target_rec(t)
            .is_some_and(|tr| target_failures(tr, self.c, self.exclude) == 0)
    }

    /// Best-fit LUN of one target within the size range.
    fn best_in(&self, tr: &TargetRec) -> Option<SizeKey> {
        if tr.max_avail < self.size.min {
            return None;
        }
        tr.luns
            .iter()
            .filter(|&&s| {
                let r = &self.inv.luns[ix(s)];
                r.selectable() && self.size.contains(r.size)
            })
            .map(|&s| self.inv.key_of(s))
            .min()
    }

    /// First-fit LUN of one target (lowest LUN number in range).
    fn first_in(&self, tr: &TargetRec) -> Option<u32> {
        if tr.max_avail < self.size.min {
            return None;
        }
        tr.luns.iter().copied().find(|&s| {
            let r = &self.inv.luns[ix(s)];
            r.selectable() && self.size.contains(r.size)
        })
    }

    /// The smallest candidate-target set an indexed constraint yields, if one is ≤ SET_LIMIT.
    fn indexed_set(&self) -> Option<Vec<u32>> {
        let inv = self.inv;
        let mut best: Option<Vec<u32>> = None;
        let mut consider = |v: Vec<u32>| {
            if best.as_ref().is_none_or(|b| v.len() < b.len()) {
                best = Some(v);
            }
        };
        if !self.c.entities.is_empty() {
            let n: usize = self
                .c
                .entities
                .iter()
                .filter_map(|e| inv.entity_targets(e.as_str()))
                .map(std::collections::BTreeSet::len)
                .sum();
            if n <= SET_LIMIT {
                let mut v: Vec<u32> = self
                    .c
                    .entities
                    .iter()
                    .filter_map(|e| inv.entity_targets(e.as_str()))
                    .flatten()
                    .copied()
                    .collect();
                v.sort_unstable();
                v.dedup();
                consider(v);
            }
        }
        if let Some(smallest) = self
            .c
            .tags
            .iter()
            .map(|t| inv.by_tag.get(t.as_str()))
            .min_by_key(|s| s.map_or(0, std::collections::BTreeSet::len))
        {
            let len = smallest.map_or(0, std::collections::BTreeSet::len);
            if len <= SET_LIMIT {
                consider(smallest.map_or_else(Vec::new, |s| s.iter().copied().collect()));
            }
        }
        if let Some(p) = &self.c.target_pattern {
            let prefix = p.literal_prefix();
            if !prefix.is_empty() {
                let v: Vec<u32> = inv
                    .by_name
                    .range::<str, _>((
                        core::ops::Bound::Included(prefix),
                        core::ops::Bound::Unbounded,
                    ))
                    .take_while(|(n, _)| n.as_str().starts_with(prefix))
                    .take(SET_LIMIT + 1)
                    .map(|(_, &t)| t)
                    .collect();
                if v.len() <= SET_LIMIT {
                    consider(v);
                }
            }
        }
        if !self.c.reachable_from.is_empty() {
            let mut v = Vec::new();
            for s in &self.c.reachable_from {
                let (lo, hi) = s.bounds();
                v.extend(
                    inv.by_portal
                        .range((lo, 0)..=(hi, u32::MAX))
                        .take(SET_LIMIT + 1)
                        .map(|&(_, t)| t),
                );
                if v.len() > SET_LIMIT {
                    break;
                }
            }
            v.sort_unstable();
            v.dedup();
            if v.len() <= SET_LIMIT {
                consider(v);
            }
        }
        best
    }

    fn best_fit(&self) -> Option<u32> {
        let lo = SizeKey {
            size: self.size.min,
            tie: 0,
            number: 0,
            slot: 0,
        };
        let upper = self.size.upper();
        let mut it = self
            .inv
            .available
            .range(lo..)
            .take_while(|k| k.size <= upper);
        for _ in 0..SCAN_BUDGET {
            let k = it.next()?;
            if self.ok(self.inv.luns[ix(k.slot)].target) {
                return Some(k.slot);
            }
        }
        if let Some(set) = self.indexed_set() {
            return set
                .iter()
                .filter(|&&t| self.ok(t))
                .filter_map(|&t| self.inv.target_rec(t).and_then(|tr| self.best_in(tr)))
                .min()
                .map(|k| k.slot);
        }
        // No indexed constraint narrows the set: keep walking, judging each target once.
        let mut memo: HashMap<u32, bool> = HashMap::new();
        it.find(|k| {
            let t = self.inv.luns[ix(k.slot)].target;
            *memo.entry(t).or_insert_with(|| self.ok(t))
        })
        .map(|k| k.slot)
    }

    fn first_fit(&self) -> Option<u32> {
        if let Some(mut set) = self.indexed_set() {
            set.retain(|&t| self.ok(t));
            set.sort_unstable_by(|&a, &b| {
                let name = |t| self.inv.target_rec(t).map(|tr| tr.name.as_str());
                name(a).cmp(&name(b))
            });
            return set
                .iter()
                .filter_map(|&t| self.inv.target_rec(t))
                .find_map(|tr| self.first_in(tr));
        }
        let prefix = self
            .c
            .target_pattern
            .as_ref()
            .map_or("", |p| p.literal_prefix());
        self.inv
            .by_name
            .range::<str, _>((
                core::ops::Bound::Included(prefix),
                core::ops::Bound::Unbounded,
            ))
            .take_while(|(n, _)| n.as_str().starts_with(prefix))
            .filter_map(|(_, &t)| self.inv.target_rec(t).map(|tr| (t, tr)))
            .filter(|(_, tr)| tr.max_avail >= self.size.min)
            .filter(|&(t, _)| self.ok(t))
            .find_map(|(_, tr)| self.first_in(tr))
    }

    fn least_loaded(&self) -> Option<u32> {
        if let Some(set) = self.indexed_set() {
            return set
                .iter()
                .filter(|&&t| self.ok(t))
                .filter_map(|&t| {
                    let tr = self.inv.target_rec(t)?;
                    Some(((tr.load, tr.hash, t), self.best_in(tr)?))
                })
                .min()
                .map(|(_, k)| k.slot);
        }
        self.inv
            .by_load
            .iter()
            .filter_map(|&(_, _, t)| self.inv.target_rec(t).map(|tr| (t, tr)))
            .filter(|(_, tr)| tr.max_avail >= self.size.min)
            .filter(|&(t, _)| self.ok(t))
            .find_map(|(_, tr)| self.best_in(tr))
            .map(|k| k.slot)
    }
}

/// Picks one LUN for `req`, excluding targets on `exclude` (the primary's entity for a
/// secondary). Returns the LUN's slot.
pub(crate) fn pick(inv: &Inventory, req: &BootRequest, exclude: Option<&EntityId>) -> Option<u32> {
    let ctx = Ctx {
        inv,
        c: &req.constraints,
        size: req.size,
        exclude,
    };
    match req.policy {
        Policy::BestFit => ctx.best_fit(),
        Policy::FirstFit => ctx.first_fit(),
        Policy::LeastLoaded => ctx.least_loaded(),
    }
}

/// The placement of a slot: its portal is the first reachable one in (group tag, address,
/// port) order, or rotated by the target's load for least-loaded.
pub(crate) fn placement(inv: &Inventory, req: &BootRequest, slot: u32) -> Option<Placement> {
    let r = inv.luns.get(ix(slot))?;
    let tr = inv.target_rec(r.target)?;
    let subnets = &req.constraints.reachable_from;
    let reachable: Vec<&Portal> = tr
        .portals
        .iter()
        .filter(|p| subnets.is_empty() || subnets.iter().any(|s| s.contains(p.addr)))
        .collect();
    let n = u32::try_from(reachable.len()).ok().filter(|&n| n > 0)?;
    let i = match req.policy {
        Policy::LeastLoaded => usize::try_from(tr.load % n).ok()?,
        Policy::BestFit | Policy::FirstFit => 0,
    };
    Some(Placement {
        lun: LunRef {
            target: tr.name.clone(),
            lun: LunNumber(r.number),
        },
        size: r.size,
        entity: tr.entity.clone(),
        portal: **reachable.get(i)?,
        alias: tr.alias.clone(),
    })
}
