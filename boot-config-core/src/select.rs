//! Selection: which LUN a request gets, without scanning the inventory in the common case.
//!
//! # Cost model (n available LUNs, T targets, L LUNs per target, B = [`crate::avail::CAP`] keys per block)
//!
//! * **Best fit** walks the one size index (`avail`: blocks of at most B keys partitioning the
//!   key space) from the block holding `min` upward; the first block with a key whose target
//!   passes every constraint holds the answer (its smallest such key). Before a target record is
//!   read, each key is filtered from two dense per-target arrays — entity group and group
//!   signature — by the request's entities, tags and excluded entity, and by the entities that a
//!   name pattern's literal prefix or the portal subnets map onto (at most
//!   [`MAX_DERIVED_ENTITIES`], found through the run-start indexes of the inventory in
//!   O(log T + r) for r ≤ [`MAX_RUNS`] run starts, without visiting targets); a whole block is
//!   skipped when its group mask lacks the entities or tags asked for. Cost:
//!   O(log n + B · blocks read), blocks read being those up to the first passing key.
//! * When the walk has examined [`SCAN_BUDGET`] keys (a skipped block counts a few, a target
//!   that fails its full check counts more) the engine evaluates the smallest candidate-target
//!   set an indexed constraint yields (entity list, tag, pattern prefix, portal subnets; at most
//!   [`SET_LIMIT`] targets) target by target: O(c · L).
//! * **First fit** visits targets in name order (from the pattern's literal prefix) and
//!   **least loaded** in load order, skipping in O(1) any target whose largest available LUN is
//!   too small; after [`WALK_BUDGET`] fruitless visits they switch to the indexed candidate set.
//!
//! **Worst case.** With no indexed constraint able to narrow the candidates — a pattern with a
//! leading `*` that matches almost nothing, subnets that span many entities, or a secondary whose
//! only fits sit on the primary's entity — best fit keeps walking blocks, judging each target
//! once (a dense per-target verdict memo): O(k) with k up to the available LUNs in the size range
//! (milliseconds at 1,000,000 LUNs); first fit and least loaded are bounded by O(T · L) in the
//! same situation.

use core::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::avail::{BlockView, Hot, fold, group_bit};
use crate::inventory::{Group, Inventory, SizeKey, TargetRec, ix};
use crate::model::Portal;
use crate::names::{EntityId, LunNumber, LunRef};
use crate::request::{BootRequest, Constraints, Policy, SizeRange};

/// Best-fit work, in keys examined, before switching to an indexed candidate set; a block
/// skipped by its group mask counts 4 keys, a target failing its full check 16.
pub const SCAN_BUDGET: usize = 2048;
/// Budget units a block skipped by its group mask costs.
const SKIP_COST: usize = 4;
/// Budget units a candidate whose target fails the full constraint check costs (a target-record
/// read).
const FAILED_CHECK_COST: usize = 16;
/// Largest indexed candidate-target set evaluated target by target.
pub const SET_LIMIT: usize = 2048;
/// Targets visited in first-fit / least-loaded order before switching to an indexed set.
pub const WALK_BUDGET: usize = 1024;
/// A pattern or subnet whose targets span at most this many entities filters best-fit keys by
/// those entities.
pub const MAX_DERIVED_ENTITIES: usize = 8;
/// Run starts (entity changes in name or address order) read per name-prefix or subnet range
/// before the engine falls back to enumerating the range's targets.
pub const MAX_RUNS: usize = 64;

pub(crate) const C_PATTERN: u8 = 1;
pub(crate) const C_ENTITY: u8 = 2;
pub(crate) const C_SUBNET: u8 = 4;
pub(crate) const C_TAGS: u8 = 8;
pub(crate) const C_NO_PORTAL: u8 = 16;
pub(crate) const C_SAME_ENTITY: u8 = 32;
/// The target already serves another server and targets are not shared.
pub(crate) const C_HELD_TARGET: u8 = 64;

/// [`C_HELD_TARGET`] when `tr` holds any LUN for a server and sharing is off: a Discovery
/// Domain admits an initiator to the whole target, every LUN of it, not to one LUN.
pub(crate) fn isolation_failure(tr: &TargetRec, share_targets: bool) -> u8 {
    if !share_targets && tr.load > 0 {
        C_HELD_TARGET
    } else {
        0
    }
}

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
    /// Why this LUN was chosen (policy, candidates, runner-up); absent in ledgers written
    /// before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<crate::choice::Choice>,
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

/// What a best-fit walk tests from a block's entity and tag columns before reading a key's
/// target; every target passing the request's constraints passes this (not conversely).
struct Prefilter<'a> {
    sigs: &'a [u128],
    /// Allowed entity groups, sorted; `None`: any.
    entities: Option<Vec<u32>>,
    /// A block must hold at least one of these bits (0: no requirement).
    any_bits: u128,
    /// A block and a target must hold all of these bits (the tags asked for).
    all_bits: u128,
    /// `all_bits` folded as the tag column stores them.
    all_folded: u32,
    /// The entity group a secondary must avoid.
    exclude: Option<u32>,
}

impl Prefilter<'_> {
    /// Whether a block with this group mask cannot hold a candidate.
    fn skips(&self, mask: u128) -> bool {
        mask & self.all_bits != self.all_bits || (self.any_bits != 0 && mask & self.any_bits == 0)
    }

    /// Whether a key with this entity group and tag column entry may be a candidate.
    fn admits(&self, group: u32, tags: u32) -> bool {
        tags & self.all_folded == self.all_folded
            && self.exclude != Some(group)
            && match self.entities.as_deref() {
                None => true,
                Some([one]) => group == *one,
                Some(v) => v.binary_search(&group).is_ok(),
            }
    }

    /// Whether a target admitted by its folded tags has them all in its full signature.
    fn confirms(&self, t: u32) -> bool {
        self.all_bits == 0
            || self
                .sigs
                .get(ix(t))
                .is_some_and(|&s| s & self.all_bits == self.all_bits)
    }
}

/// The smallest key of `block` with a size in `min..=max` at a position `pick` accepts. A
/// position is offered to `pick` only while its size could still beat the best so far, and a
/// key's trailing fields are read only then, so a pass mostly streams the size column.
fn smallest(
    block: &BlockView<'_>,
    min: u64,
    max: u64,
    mut pick: impl FnMut(usize, &Hot) -> bool,
) -> Option<SizeKey> {
    let mut best: Option<SizeKey> = None;
    for (p, h) in block.hot.iter().enumerate() {
        let s = h.size;
        if s < min || s > max || best.is_some_and(|b| s > b.size) || block.is_hole(p) || !pick(p, h)
        {
            continue;
        }
        if let Some(k) = block.key(p)
            && best.is_none_or(|b| k < b)
        {
            best = Some(k);
        }
    }
    best
}

struct Ctx<'a> {
    inv: &'a Inventory,
    c: &'a Constraints,
    size: SizeRange,
    exclude: Option<&'a EntityId>,
    share_targets: bool,
}

impl<'a> Ctx<'a> {
    fn ok(&self, t: u32) -> bool {
        self.inv.target_rec(t).is_some_and(|tr| {
            target_failures(tr, self.c, self.exclude) | isolation_failure(tr, self.share_targets)
                == 0
        })
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
            let groups: Vec<&Group> = self
                .c
                .entities
                .iter()
                .filter_map(|e| inv.entity_group(e.as_str()))
                .collect();
            if groups.iter().map(|g| g.targets.len()).sum::<usize>() <= SET_LIMIT {
                let mut v: Vec<u32> = groups
                    .iter()
                    .flat_map(|g| g.targets.iter().copied())
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
            .map(|t| inv.tag_group(t.as_str()))
            .min_by_key(|g| g.map_or(0, |g| g.targets.len()))
        {
            let len = smallest.map_or(0, |g| g.targets.len());
            if len <= SET_LIMIT {
                consider(smallest.map_or_else(Vec::new, |g| g.targets.iter().copied().collect()));
            }
        }
        if let Some(v) = self.pattern_or_subnet_set() {
            consider(v);
        }
        best
    }

    /// The entities that can hold a target matching the pattern's literal prefix and having a
    /// portal in the subnets, read from the run-start indexes without visiting targets:
    /// O(log T + runs). `None` when neither constraint is present or the ranges interleave
    /// entities too finely ([`MAX_RUNS`] run starts per range).
    fn derived_groups(&self) -> Option<Vec<u32>> {
        let inv = self.inv;
        let by_name = self.c.target_pattern.as_ref().and_then(|p| {
            let prefix = p.literal_prefix();
            let upper = prefix_upper(prefix)?;
            inv.name_range_groups(prefix, upper.as_str(), MAX_RUNS)
        });
        let by_subnet = if self.c.reachable_from.is_empty() {
            None
        } else {
            let mut all: Vec<u32> = Vec::new();
            let mut ok = true;
            for s in &self.c.reachable_from {
                let (lo, hi) = s.bounds();
                match inv.portal_range_groups(lo, hi, MAX_RUNS) {
                    Some(g) => all.extend(g),
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            all.sort_unstable();
            all.dedup();
            ok.then_some(all)
        };
        match (by_name, by_subnet) {
            // A candidate's entity is in both lists: the intersection covers every candidate.
            (Some(a), Some(b)) => Some(
                a.into_iter()
                    .filter(|g| b.binary_search(g).is_ok())
                    .collect(),
            ),
            (a, b) => a.or(b),
        }
    }

    /// Targets matching the pattern's literal prefix or having a portal in the subnets, if
    /// that set is ≤ SET_LIMIT (the smaller of the two).
    fn pattern_or_subnet_set(&self) -> Option<Vec<u32>> {
        let inv = self.inv;
        let mut best: Option<Vec<u32>> = None;
        if let Some(p) = &self.c.target_pattern {
            let prefix = p.literal_prefix();
            if !prefix.is_empty() {
                let v: Vec<u32> = prefix_range(inv, prefix)
                    .take(SET_LIMIT + 1)
                    .map(|(_, &t)| t)
                    .collect();
                if v.len() <= SET_LIMIT {
                    best = Some(v);
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
            if v.len() <= SET_LIMIT && best.as_ref().is_none_or(|b| v.len() < b.len()) {
                best = Some(v);
            }
        }
        best
    }

    /// The dense-array filter of a best-fit walk; `None` when no target can pass (an unknown
    /// tag, no known entity among those asked for, no target in the pattern's or subnets' range).
    fn prefilter(&self) -> Option<Prefilter<'a>> {
        let inv = self.inv;
        let mut entities: Option<Vec<u32>> = None;
        if !self.c.entities.is_empty() {
            let mut v: Vec<u32> = self
                .c
                .entities
                .iter()
                .filter_map(|e| inv.entity_group_id_of(e.as_str()))
                .collect();
            v.sort_unstable();
            v.dedup();
            entities = Some(v);
        }
        if self.c.target_pattern.is_some() || !self.c.reachable_from.is_empty() {
            let derived = self.derived_groups().or_else(|| {
                let set = self.pattern_or_subnet_set()?;
                let mut groups: Vec<u32> =
                    set.iter().filter_map(|&t| inv.entity_group_of(t)).collect();
                groups.sort_unstable();
                groups.dedup();
                Some(groups)
            });
            if let Some(d) = derived
                && d.len() <= MAX_DERIVED_ENTITIES
            {
                // Both lists cover every candidate's entity, so their intersection does too.
                entities = Some(match entities {
                    Some(e) => e
                        .into_iter()
                        .filter(|g| d.binary_search(g).is_ok())
                        .collect(),
                    None => d,
                });
            }
        }
        let mut all_bits = 0;
        for t in &self.c.tags {
            all_bits |= group_bit(*inv.by_tag.get(t.as_str())?);
        }
        let any_bits = match &entities {
            Some(e) if e.is_empty() => return None,
            Some(e) => e.iter().fold(0, |a, &g| a | group_bit(g)),
            None => 0,
        };
        Some(Prefilter {
            sigs: &inv.sigs,
            entities,
            any_bits,
            all_bits,
            all_folded: fold(all_bits),
            exclude: self
                .exclude
                .and_then(|e| inv.entity_group_id_of(e.as_str())),
        })
    }

    fn best_fit(&self) -> Option<u32> {
        let pf = self.prefilter()?;
        let (min, upper) = (self.size.min, self.size.upper());
        let index = &self.inv.avail;
        let mut budget = SCAN_BUDGET;
        // Targets whose full check failed in this walk (at most SCAN_BUDGET / FAILED_CHECK_COST).
        let mut failed: Vec<u32> = Vec::new();
        let mut i = index.start(&SizeKey::at_least(min));
        while let Some(b) = index.block(i) {
            if b.fence_size > upper {
                return None;
            }
            if pf.skips(b.mask) {
                budget = budget.saturating_sub(SKIP_COST);
            } else {
                while budget > 0 {
                    budget = budget.saturating_sub(b.hot.len());
                    let admitted = |p: usize, h: &Hot| {
                        pf.admits(h.group, h.tags)
                            && (failed.is_empty()
                                || b.target(p).is_some_and(|t| !failed.contains(&t)))
                    };
                    let Some(k) = smallest(&b, min, upper, admitted) else {
                        break;
                    };
                    if pf.confirms(k.target) && self.ok(k.target) {
                        return Some(k.slot);
                    }
                    failed.push(k.target);
                    budget = budget.saturating_sub(FAILED_CHECK_COST);
                }
            }
            if budget == 0 {
                // Block `i` may hold unexamined candidates: continue from it.
                return self.best_fit_past_budget(&pf, i);
            }
            i += 1;
        }
        None
    }

    /// Best fit once the walk's budget is spent: the indexed candidate set if there is one,
    /// else the rest of the walk from block `from` with a per-target verdict memo.
    fn best_fit_past_budget(&self, pf: &Prefilter<'_>, from: usize) -> Option<u32> {
        if let Some(set) = self.indexed_set() {
            return set
                .iter()
                .filter(|&&t| self.ok(t))
                .filter_map(|&t| self.inv.target_rec(t).and_then(|tr| self.best_in(tr)))
                .min()
                .map(|k| k.slot);
        }
        let (min, upper) = (self.size.min, self.size.upper());
        // 0: not judged yet, 1: passes, 2: fails.
        let mut memo = vec![0u8; self.inv.targets.len()];
        let mut verdict = |t: u32| match memo.get(ix(t)).copied() {
            Some(1) => true,
            Some(0) => {
                let ok = pf.confirms(t) && self.ok(t);
                memo[ix(t)] = if ok { 1 } else { 2 };
                ok
            }
            _ => false,
        };
        let index = &self.inv.avail;
        let mut i = from;
        while let Some(b) = index.block(i) {
            if b.fence_size > upper {
                return None;
            }
            i += 1;
            if pf.skips(b.mask) {
                continue;
            }
            let found = smallest(&b, min, upper, |p, h| {
                pf.admits(h.group, h.tags) && b.target(p).is_some_and(&mut verdict)
            });
            if let Some(k) = found {
                return Some(k.slot);
            }
        }
        None
    }

    /// Visits targets in `order`, taking the first fitting LUN `pick` finds; after
    /// [`WALK_BUDGET`] targets without success, switches to the indexed candidate set if there
    /// is one (`from_set` chooses among it), else keeps walking.
    fn walk(
        &self,
        order: impl Iterator<Item = u32>,
        pick: impl Fn(&TargetRec) -> Option<u32>,
        from_set: impl FnOnce(Vec<u32>) -> Option<u32>,
    ) -> Option<u32> {
        let mut order = order.peekable();
        for _ in 0..WALK_BUDGET {
            let t = order.next()?;
            if let Some(s) = self.try_target(t, &pick) {
                return Some(s);
            }
        }
        order.peek()?;
        if let Some(set) = self.indexed_set() {
            return from_set(set);
        }
        order.find_map(|t| self.try_target(t, &pick))
    }

    fn try_target(&self, t: u32, pick: &impl Fn(&TargetRec) -> Option<u32>) -> Option<u32> {
        let tr = self.inv.target_rec(t)?;
        if tr.max_avail < self.size.min || !self.ok(t) {
            return None;
        }
        pick(tr)
    }

    fn first_fit(&self) -> Option<u32> {
        let prefix = self
            .c
            .target_pattern
            .as_ref()
            .map_or("", |p| p.literal_prefix());
        let order = prefix_range(self.inv, prefix).map(|(_, &t)| t);
        self.walk(
            order,
            |tr| self.first_in(tr),
            |mut set| {
                set.retain(|&t| self.ok(t));
                set.sort_unstable_by(|&a, &b| {
                    let name = |t| self.inv.target_rec(t).map(|tr| tr.name.as_str());
                    name(a).cmp(&name(b))
                });
                set.iter()
                    .filter_map(|&t| self.inv.target_rec(t))
                    .find_map(|tr| self.first_in(tr))
            },
        )
    }

    fn least_loaded(&self) -> Option<u32> {
        let order = self.inv.by_load.iter().map(|&(_, _, t)| t);
        self.walk(
            order,
            |tr| self.best_in(tr).map(|k| k.slot),
            |set| {
                set.iter()
                    .filter(|&&t| self.ok(t))
                    .filter_map(|&t| {
                        let tr = self.inv.target_rec(t)?;
                        Some(((tr.load, tr.hash, t), self.best_in(tr)?))
                    })
                    .min()
                    .map(|(_, k)| k.slot)
            },
        )
    }
}

/// The exclusive upper bound of the names starting with a non-empty `prefix` whose last byte
/// is ASCII below DEL: the prefix with that byte incremented.
fn prefix_upper(prefix: &str) -> Option<String> {
    let (&last, head) = prefix.as_bytes().split_last()?;
    if last >= 0x7f {
        return None;
    }
    let mut u = String::from_utf8(head.to_vec()).ok()?;
    u.push(char::from(last + 1));
    Some(u)
}

/// Targets whose names start with `prefix`, in name order. For an ASCII prefix the range gets
/// an exclusive upper bound, so no key string is read past the two descents.
fn prefix_range<'i>(
    inv: &'i Inventory,
    prefix: &'i str,
) -> impl Iterator<Item = (&'i crate::names::IscsiName, &'i u32)> + 'i {
    let upper = prefix_upper(prefix);
    let bounded = upper.is_some();
    let hi = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    inv.by_name
        .range::<str, _>((Bound::Included(prefix), hi))
        .take_while(move |(n, _)| bounded || n.as_str().starts_with(prefix))
}

/// Picks one LUN for `req`, excluding targets on `exclude` (the primary's entity for a
/// secondary) and, unless `share_targets`, targets that already serve a server. Returns the
/// LUN's slot.
pub(crate) fn pick(
    inv: &Inventory,
    req: &BootRequest,
    exclude: Option<&EntityId>,
    share_targets: bool,
) -> Option<u32> {
    let ctx = Ctx {
        inv,
        c: &req.constraints,
        size: req.size,
        exclude,
        share_targets,
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
        why: None,
    })
}
