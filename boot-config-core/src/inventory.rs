//! The inventory: entities, targets, LUNs and Discovery Domains, with the indexes selection uses.
//!
//! Storage is a slab of compact LUN records (32 bytes) addressed by `u32` slots, one record per
//! target, and these indexes, all kept in step by every mutation:
//!
//! * `avail`: the [`SizeKey`] `(size, target hash, LUN number, slot, target)` of exactly the LUNs
//!   that are online, sized and held by nobody, in size-ordered blocks with a mask of the groups
//!   present in each ([`AvailIndex`]). It is the only per-LUN index: a resize is one remove and
//!   one insert there, a few cache misses in all;
//! * one [`Group`] per entity and per tag: the group's targets (for constrained selections that
//!   evaluate candidates target by target), and, per target, `sigs`: the mask bits of its groups,
//!   so a walk over `avail` filters keys by entity and tags from two dense arrays (`entity_of`,
//!   `sigs`) without reading target records;
//! * `by_name` (targets in name order, for lookups, first fit and pattern prefixes),
//!   `by_portal` (address order, for subnet ranges) and `by_load` (targets ordered by the
//!   number of LUNs held on them, for least-loaded);
//! * `name_runs` and `portal_runs`: the run starts of `by_name` and `by_portal`, i.e. the keys
//!   whose target lies on another entity than the target of the key before them. Targets of one
//!   storage system usually share a name prefix and a subnet, so a name-prefix or subnet range
//!   holds few runs, and the entities it touches are found in O(log n + runs) without visiting
//!   its targets (selection then filters `avail` by those entities).

use core::ops::Bound;
use std::collections::{BTreeMap, BTreeSet};

use core::net::IpAddr;

use crate::avail::{AvailIndex, Located, TargetBits, group_bit};
use crate::change::{Change, Changes, Warning};
use crate::ledger::Ledger;
use crate::model::{
    DdSpec, InventoryEvent, LunSpec, LunState, Portal, Provenance, Source, TargetSpec,
};
use crate::name_index::NameIndex;
use crate::names::{DdId, EntityId, IscsiName, LunNumber, LunRef, Tag};
use crate::time::Timestamp;

/// Who holds a LUN, as far as the inventory's indexes care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hold {
    Free,
    Reserved,
    Assigned,
}

const LIVE: u8 = 1;
const ONLINE: u8 = 2;
const SIZED: u8 = 4;

/// One LUN, 32 bytes. The target's name lives once in its [`TargetRec`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct LunRec {
    pub(crate) size: u64,
    pub(crate) number: u64,
    pub(crate) seen_ms: u64,
    pub(crate) target: u32,
    flags: u8,
    pub(crate) hold: Hold,
    source: Source,
}

impl LunRec {
    fn live(&self) -> bool {
        self.flags & LIVE != 0
    }

    pub(crate) fn online(&self) -> bool {
        self.flags & ONLINE != 0
    }

    pub(crate) fn sized(&self) -> bool {
        self.flags & SIZED != 0
    }

    pub(crate) fn size_opt(&self) -> Option<u64> {
        self.sized().then_some(self.size)
    }

    /// Online, sized, held by nobody: in the `available` index.
    pub(crate) fn selectable(&self) -> bool {
        self.flags & (LIVE | ONLINE | SIZED) == (LIVE | ONLINE | SIZED) && self.hold == Hold::Free
    }

    fn state(&self) -> LunState {
        if !self.online() {
            LunState::Offline
        } else {
            match self.hold {
                Hold::Free => LunState::Available,
                Hold::Reserved => LunState::Reserved,
                Hold::Assigned => LunState::Assigned,
            }
        }
    }

    fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.flags |= bit;
        } else {
            self.flags &= !bit;
        }
    }
}

/// The key of the ordered size index; its order is the best-fit order and the deterministic
/// tie-break: smaller size, then a stable hash of the target name (spreads equal sizes over
/// targets instead of piling onto the alphabetically first), then the LUN number. It carries
/// its target so walks can filter by target without reading the LUN record (the slot already
/// makes keys unique, so the target never decides the order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SizeKey {
    pub(crate) size: u64,
    pub(crate) tie: u64,
    pub(crate) number: u64,
    pub(crate) slot: u32,
    pub(crate) target: u32,
}

impl SizeKey {
    /// The smallest key.
    pub(crate) const MIN: Self = Self::at_least(0);

    /// The smallest key of a size.
    pub(crate) const fn at_least(size: u64) -> Self {
        Self {
            size,
            tie: 0,
            number: 0,
            slot: 0,
            target: 0,
        }
    }
}

/// A copy of a target name of up to [`NameHead::LEN`] bytes inside the target record, so that
/// confirming a hashed lookup reads the record's own cache lines rather than following a
/// pointer to the heap (longer names are compared on the heap).
#[derive(Clone, Debug)]
struct NameHead {
    len: u8,
    bytes: [u8; NameHead::LEN],
}

impl NameHead {
    const LEN: usize = 63;

    fn new(name: &str) -> Self {
        let mut bytes = [0; Self::LEN];
        let len = match bytes.get_mut(..name.len()) {
            Some(b) => {
                b.copy_from_slice(name.as_bytes());
                u8::try_from(name.len()).unwrap_or(u8::MAX)
            }
            None => u8::MAX,
        };
        Self { len, bytes }
    }

    /// Whether the record whose full name is `full` is named `name`.
    fn is(&self, name: &str, full: &IscsiName) -> bool {
        match self.bytes.get(..usize::from(self.len)) {
            Some(head) => head == name.as_bytes(),
            None => full.as_str() == name,
        }
    }
}

/// One target.
#[derive(Clone, Debug)]
pub(crate) struct TargetRec {
    pub(crate) name: IscsiName,
    name_head: NameHead,
    pub(crate) entity: EntityId,
    pub(crate) alias: Option<String>,
    pub(crate) portals: Vec<Portal>,
    pub(crate) tags: Vec<Tag>,
    /// LUN slots, sorted by LUN number.
    pub(crate) luns: Vec<u32>,
    /// Where LUN `n` is expected: slot `lun_base + n` (LUNs reported together get consecutive
    /// slots), so a lookup usually reads that one record and not `luns`; always verified.
    lun_base: u32,
    pub(crate) hash: u64,
    /// LUNs on this target held by a reservation or assignment.
    pub(crate) load: u32,
    /// Largest selectable size on this target (0: none), lets scans skip a target in O(1).
    pub(crate) max_avail: u64,
    /// Groups this target belongs to: its entity's first, then one per tag.
    pub(crate) groups: Vec<u32>,
    pub(crate) provenance: Provenance,
}

#[derive(Clone, Debug)]
struct EntityRec {
    group: u32,
    provenance: Provenance,
}

/// The targets of one entity or one tag.
#[derive(Clone, Debug, Default)]
pub(crate) struct Group {
    pub(crate) targets: BTreeSet<u32>,
}

/// One run of `by_name`: consecutive names whose targets lie on one entity.
#[derive(Clone, Debug)]
struct NameRun {
    group: u32,
    /// The run's last name in name order.
    last: IscsiName,
}

#[derive(Clone, Debug)]
struct DdRec {
    name: String,
    members: BTreeSet<IscsiName>,
    provenance: Provenance,
}

/// Counts of LUNs by condition, kept exactly by every mutation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LunCounts {
    /// Online, free, size known: selectable.
    pub available: u64,
    /// Online, free, size not yet probed.
    pub awaiting_size: u64,
    /// Held by an uncommitted reservation (online).
    pub reserved: u64,
    /// Held by a committed assignment (online).
    pub assigned: u64,
    /// Offline (held or not).
    pub offline: u64,
}

impl LunCounts {
    fn slot_for(&mut self, r: &LunRec) -> &mut u64 {
        match r.state() {
            LunState::Offline => &mut self.offline,
            LunState::Reserved => &mut self.reserved,
            LunState::Assigned => &mut self.assigned,
            LunState::Available if r.sized() => &mut self.available,
            LunState::Available => &mut self.awaiting_size,
        }
    }

    /// All LUNs in the inventory.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.available + self.awaiting_size + self.reserved + self.assigned + self.offline
    }
}

/// A read-only view of one LUN.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LunView {
    /// Which LUN.
    pub lun: LunRef,
    /// Size in bytes, when probed.
    pub size: Option<u64>,
    /// Allocation state.
    pub state: LunState,
    /// Where and when it was last observed.
    pub provenance: Provenance,
}

/// A read-only view of one target.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetView {
    /// iSCSI name.
    pub name: IscsiName,
    /// Owning entity.
    pub entity: EntityId,
    /// Alias.
    pub alias: Option<String>,
    /// Portals, sorted.
    pub portals: Vec<Portal>,
    /// Operator tags, sorted.
    pub tags: Vec<Tag>,
    /// Number of its LUNs held by servers.
    pub load: u32,
    /// Where and when it was last observed.
    pub provenance: Provenance,
}

/// A read-only view of one Discovery Domain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DdView {
    /// DD ID.
    pub id: DdId,
    /// Symbolic name.
    pub name: String,
    /// Members, sorted.
    pub members: Vec<IscsiName>,
    /// Where and when it was last observed.
    pub provenance: Provenance,
}

/// The inventory of storage as the engine knows it. Mutated only through
/// [`Engine::apply`](crate::Engine::apply) and the ledger operations of the engine.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub(crate) luns: Vec<LunRec>,
    free_luns: Vec<u32>,
    pub(crate) targets: Vec<Option<TargetRec>>,
    free_targets: Vec<u32>,
    pub(crate) by_name: BTreeMap<IscsiName, u32>,
    /// Same map hashed, for point lookups: one probe, then the name is confirmed against the
    /// target record.
    name_index: NameIndex,
    entities: BTreeMap<EntityId, EntityRec>,
    /// Group of every entity ever seen (kept after removal so group IDs stay stable).
    entity_group: BTreeMap<EntityId, u32>,
    /// Group of every tag ever seen.
    pub(crate) by_tag: BTreeMap<Tag, u32>,
    pub(crate) groups: Vec<Group>,
    /// Entity group of each target slot: a dense array (80 KB at 20,000 targets) so mapping a
    /// candidate-target set onto entities does not touch the target records.
    entity_of: Vec<u32>,
    pub(crate) by_portal: BTreeSet<(IpAddr, u32)>,
    /// Run starts of `by_name`, each with its entity group and last name (see the module doc).
    name_runs: BTreeMap<IscsiName, NameRun>,
    /// Run starts of `by_portal`, each with its target's entity group.
    portal_runs: BTreeMap<(IpAddr, u32), u32>,
    pub(crate) by_load: BTreeSet<(u32, u64, u32)>,
    pub(crate) avail: AvailIndex,
    /// Group signature of each target slot: the OR of [`group_bit`] over its groups.
    pub(crate) sigs: Vec<u128>,
    dds: BTreeMap<DdId, DdRec>,
    counts: LunCounts,
}

/// FNV-1a, 64 bit: a stable hash (no per-process keys) so tie-breaks are reproducible.
pub(crate) fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

// Slots are u32 created by this module; widening to usize is lossless on every supported target.
#[inline]
pub(crate) fn ix(slot: u32) -> usize {
    slot as usize
}

fn normalise_portals(mut p: Vec<Portal>) -> Vec<Portal> {
    for portal in &mut p {
        portal.addr = portal.addr.to_canonical();
    }
    p.sort_unstable();
    p.dedup();
    p
}

impl Inventory {
    /// An empty inventory.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    // ----- read-only queries -------------------------------------------------------------

    /// LUN counts by condition.
    #[must_use]
    pub fn counts(&self) -> LunCounts {
        self.counts
    }

    /// Number of targets.
    #[must_use]
    pub fn target_count(&self) -> usize {
        self.by_name.len()
    }

    /// Entity IDs, sorted.
    pub fn entities(&self) -> impl Iterator<Item = &EntityId> {
        self.entities.keys()
    }

    /// Targets in name order.
    pub fn targets(&self) -> impl Iterator<Item = TargetView> + '_ {
        self.by_name.values().filter_map(|&t| self.target_view(t))
    }

    /// One target.
    #[must_use]
    pub fn target(&self, name: &str) -> Option<TargetView> {
        self.target_slot(name).and_then(|t| self.target_view(t))
    }

    /// The LUNs of one target in LUN-number order.
    pub fn luns_of<'a>(&'a self, target: &str) -> impl Iterator<Item = LunView> + 'a {
        let t = self.target_slot(target).and_then(|t| self.target_rec(t));
        t.into_iter()
            .flat_map(move |t| t.luns.iter().map(move |&s| self.lun_view(t, s)))
    }

    /// One LUN.
    #[must_use]
    pub fn lun(&self, lun: &LunRef) -> Option<LunView> {
        let id = self.target_slot(lun.target.as_str())?;
        let t = self.target_rec(id)?;
        let slot = self.find_lun(id, t, lun.lun.0)?;
        Some(self.lun_view(t, slot))
    }

    /// Discovery Domains in ID order.
    pub fn dds(&self) -> impl Iterator<Item = DdView> + '_ {
        self.dds.iter().map(|(id, d)| DdView {
            id: *id,
            name: d.name.clone(),
            members: d.members.iter().cloned().collect(),
            provenance: d.provenance,
        })
    }

    /// The Discovery Domain named `name` (names are unique per iSNS server).
    #[must_use]
    pub fn dd_named(&self, name: &str) -> Option<DdView> {
        self.dds
            .iter()
            .find(|(_, d)| d.name == name)
            .map(|(id, d)| DdView {
                id: *id,
                name: d.name.clone(),
                members: d.members.iter().cloned().collect(),
                provenance: d.provenance,
            })
    }

    pub(crate) fn target_rec(&self, t: u32) -> Option<&TargetRec> {
        self.targets.get(ix(t)).and_then(Option::as_ref)
    }

    /// The slot of a target, by name.
    fn target_slot(&self, name: &str) -> Option<u32> {
        self.name_index.get(name, |t, n| {
            self.target_rec(t)
                .is_some_and(|tr| tr.name_head.is(n, &tr.name))
        })
    }

    /// The group of a present entity.
    pub(crate) fn entity_group(&self, e: &str) -> Option<&Group> {
        self.entities
            .get(e)
            .and_then(|r| self.groups.get(ix(r.group)))
    }

    /// The group of a tag.
    pub(crate) fn tag_group(&self, t: &str) -> Option<&Group> {
        self.by_tag.get(t).and_then(|&g| self.groups.get(ix(g)))
    }

    /// The entity group of a target.
    pub(crate) fn entity_group_of(&self, t: u32) -> Option<u32> {
        self.entity_of.get(ix(t)).copied()
    }

    /// The group of a present entity, by ID.
    pub(crate) fn entity_group_id_of(&self, e: &str) -> Option<u32> {
        self.entities.get(e).map(|r| r.group)
    }

    /// The entity groups that can hold a target named in `lo..hi`, sorted: every group of
    /// such a target, plus possibly the group of the run that straddles `lo` when none of its
    /// names falls below `hi` (a superset, never a subset). Reads only the small run map, not
    /// `by_name`, whose string keys would cost a cache miss per comparison. `None` when the
    /// range holds more than `max_runs` run starts (entities interleave there).
    pub(crate) fn name_range_groups(
        &self,
        lo: &str,
        hi: &str,
        max_runs: usize,
    ) -> Option<Vec<u32>> {
        let straddling = self
            .name_runs
            .range::<str, _>((Bound::Unbounded, Bound::Included(lo)))
            .next_back()
            .filter(|(_, run)| run.last.as_str() >= lo)
            .map(|(_, run)| run.group);
        let later = self
            .name_runs
            .range::<str, _>((Bound::Excluded(lo), Bound::Unbounded))
            .take_while(|(n, _)| n.as_str() < hi)
            .map(|(_, run)| run.group);
        collect_groups(straddling, later, max_runs)
    }

    /// The entity groups of the targets with a portal in `lo..=hi`, sorted; `None` when the
    /// range holds more than `max_runs` run starts.
    pub(crate) fn portal_range_groups(
        &self,
        lo: IpAddr,
        hi: IpAddr,
        max_runs: usize,
    ) -> Option<Vec<u32>> {
        let Some(&first) = self.by_portal.range((lo, 0)..=(hi, u32::MAX)).next() else {
            return Some(Vec::new());
        };
        let later = self
            .portal_runs
            .range((Bound::Excluded(first), Bound::Included((hi, u32::MAX))))
            .map(|(_, &g)| g);
        collect_groups(Some(self.group_at(first.1)), later, max_runs)
    }

    fn group_at(&self, t: u32) -> u32 {
        self.entity_group_of(t).unwrap_or(u32::MAX)
    }

    /// Re-derives whether `name` starts a run and whether the name after it does, then the
    /// last names of the runs around it; call after `name` was added, removed or moved to
    /// another entity.
    fn refresh_name_runs(&mut self, name: &IscsiName) {
        let neighbour = |inv: &Self, after: bool| {
            let r = if after {
                inv.by_name
                    .range::<str, _>((Bound::Excluded(name.as_str()), Bound::Unbounded))
                    .next()
            } else {
                inv.by_name
                    .range::<str, _>((Bound::Unbounded, Bound::Excluded(name.as_str())))
                    .next_back()
            };
            r.map(|(n, _)| n.clone())
        };
        let next = neighbour(self, true);
        let prev = neighbour(self, false);
        self.refresh_name_run(name.as_str());
        if let Some(n) = &next {
            self.refresh_name_run(n.as_str());
        }
        // Only runs next to `name` can have gained or lost their last name or their end.
        for at in [prev.as_ref(), Some(name), next.as_ref()]
            .into_iter()
            .flatten()
        {
            self.refresh_run_end(at.as_str());
        }
    }

    fn refresh_name_run(&mut self, name: &str) {
        let Some((key, &t)) = self.by_name.get_key_value(name) else {
            self.name_runs.remove(name);
            return;
        };
        let g = self.group_at(t);
        let prev = self
            .by_name
            .range::<str, _>((Bound::Unbounded, Bound::Excluded(name)))
            .next_back();
        if prev.is_some_and(|(_, &p)| self.group_at(p) == g) {
            self.name_runs.remove(name);
        } else if let Some(run) = self.name_runs.get_mut(name) {
            run.group = g;
        } else {
            let key = key.clone();
            self.name_runs.insert(
                key.clone(),
                NameRun {
                    group: g,
                    last: key,
                },
            );
        }
    }

    /// Recomputes the last name of the run holding `at`.
    fn refresh_run_end(&mut self, at: &str) {
        let Some(start) = self
            .name_runs
            .range::<str, _>((Bound::Unbounded, Bound::Included(at)))
            .next_back()
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        let next_start = self
            .name_runs
            .range::<str, _>((Bound::Excluded(start.as_str()), Bound::Unbounded))
            .next()
            .map(|(k, _)| k.as_str());
        let last = match next_start {
            Some(ns) => self
                .by_name
                .range::<str, _>((Bound::Unbounded, Bound::Excluded(ns)))
                .next_back(),
            None => self.by_name.iter().next_back(),
        }
        .map(|(k, _)| k.clone());
        if let (Some(last), Some(run)) = (last, self.name_runs.get_mut(start.as_str())) {
            run.last = last;
        }
    }

    /// As [`Inventory::refresh_name_runs`], for one `by_portal` entry.
    fn refresh_portal_runs(&mut self, key: (IpAddr, u32)) {
        self.refresh_portal_run(key);
        let next = self
            .by_portal
            .range((Bound::Excluded(key), Bound::Unbounded))
            .next()
            .copied();
        if let Some(n) = next {
            self.refresh_portal_run(n);
        }
    }

    fn refresh_portal_run(&mut self, key: (IpAddr, u32)) {
        if !self.by_portal.contains(&key) {
            self.portal_runs.remove(&key);
            return;
        }
        let g = self.group_at(key.1);
        let prev = self.by_portal.range(..key).next_back();
        if prev.is_some_and(|&(_, p)| self.group_at(p) == g) {
            self.portal_runs.remove(&key);
        } else {
            self.portal_runs.insert(key, g);
        }
    }

    fn new_group(&mut self) -> Option<u32> {
        let g = u32::try_from(self.groups.len()).ok()?;
        self.groups.push(Group::default());
        Some(g)
    }

    fn entity_group_id(&mut self, e: &EntityId) -> Option<u32> {
        if let Some(&g) = self.entity_group.get(e.as_str()) {
            return Some(g);
        }
        let g = self.new_group()?;
        self.entity_group.insert(e.clone(), g);
        Some(g)
    }

    fn tag_group_id(&mut self, t: &Tag) -> Option<u32> {
        if let Some(&g) = self.by_tag.get(t.as_str()) {
            return Some(g);
        }
        let g = self.new_group()?;
        self.by_tag.insert(t.clone(), g);
        Some(g)
    }

    /// Adds a target to or removes it from one group's target set.
    fn set_member(&mut self, t: u32, g: u32, member: bool) {
        if let Some(group) = self.groups.get_mut(ix(g)) {
            if member {
                group.targets.insert(t);
            } else {
                group.targets.remove(&t);
            }
        }
    }

    /// Re-derives a target's signature from its groups and gives its indexed keys the new
    /// entity group and signature (call after its entity or tags changed).
    fn refresh_sig(&mut self, t: u32) {
        // Field by field, so the target's LUN list is read in place while the index changes.
        let Some(tr) = self.targets.get(ix(t)).and_then(Option::as_ref) else {
            return;
        };
        let sig = tr.groups.iter().fold(0, |a, &g| a | group_bit(g));
        if self.sigs.len() <= ix(t) {
            self.sigs.resize(ix(t) + 1, 0);
        }
        self.sigs[ix(t)] = sig;
        let bits = TargetBits {
            group: self.entity_of.get(ix(t)).copied().unwrap_or(u32::MAX),
            sig,
        };
        for &s in &tr.luns {
            self.avail.retag(s, bits);
        }
    }

    /// What the size index stores about a target.
    fn bits_of(&self, t: u32) -> TargetBits {
        TargetBits {
            group: self.group_at(t),
            sig: self.sigs.get(ix(t)).copied().unwrap_or(u128::MAX),
        }
    }

    fn target_view(&self, t: u32) -> Option<TargetView> {
        let r = self.target_rec(t)?;
        Some(TargetView {
            name: r.name.clone(),
            entity: r.entity.clone(),
            alias: r.alias.clone(),
            portals: r.portals.clone(),
            tags: r.tags.clone(),
            load: r.load,
            provenance: r.provenance,
        })
    }

    fn lun_view(&self, t: &TargetRec, slot: u32) -> LunView {
        let r = &self.luns[ix(slot)];
        LunView {
            lun: LunRef {
                target: t.name.clone(),
                lun: LunNumber(r.number),
            },
            size: r.size_opt(),
            state: r.state(),
            provenance: Provenance::new(r.source, Timestamp::from_millis(r.seen_ms)),
        }
    }

    pub(crate) fn lun_ref(&self, slot: u32) -> Option<LunRef> {
        let r = self.luns.get(ix(slot))?;
        let t = self.target_rec(r.target)?;
        Some(LunRef {
            target: t.name.clone(),
            lun: LunNumber(r.number),
        })
    }

    /// The slot of LUN `number` of target `id` (whose record is `t`).
    pub(crate) fn find_lun(&self, id: u32, t: &TargetRec, number: u64) -> Option<u32> {
        let guess = u32::try_from(number)
            .ok()
            .map(|n| t.lun_base.wrapping_add(n));
        self.predicted_slot(id, guess, number)
            .or_else(|| self.lun_position(t, number).ok().map(|i| t.luns[i]))
    }

    /// `guess` (the slot `lun_base` predicts for LUN `number`), if that record is LUN
    /// `number` of target `id`.
    fn predicted_slot(&self, id: u32, guess: Option<u32>, number: u64) -> Option<u32> {
        let s = guess?;
        let r = self.luns.get(ix(s))?;
        (r.live() && r.number == number && r.target == id).then_some(s)
    }

    /// Re-derives `lun_base` from the target's first LUN.
    fn refresh_lun_base(&mut self, t: u32) {
        let first = self.target_rec(t).and_then(|tr| tr.luns.first().copied());
        let base = first.map_or(0, |s| {
            let n = self.luns.get(ix(s)).map_or(0, |r| r.number);
            s.wrapping_sub(u32::try_from(n).unwrap_or(0))
        });
        if let Some(tr) = self.targets.get_mut(ix(t)).and_then(Option::as_mut) {
            tr.lun_base = base;
        }
    }

    /// Where LUN `number` is (`Ok`) or belongs (`Err`) in the target's number-sorted list.
    /// Targets usually number their LUNs 0, 1, 2, …, so the entry at index `number` is tried
    /// first: one record read instead of a binary search's chain of cache misses.
    fn lun_position(&self, t: &TargetRec, number: u64) -> Result<usize, usize> {
        if let Some(&s) = usize::try_from(number).ok().and_then(|i| t.luns.get(i))
            && self.luns[ix(s)].number == number
        {
            return usize::try_from(number).map_err(|_| 0);
        }
        t.luns
            .binary_search_by_key(&number, |&s| self.luns[ix(s)].number)
    }

    pub(crate) fn slot_of(&self, lun: &LunRef) -> Option<u32> {
        let id = self.target_slot(lun.target.as_str())?;
        self.find_lun(id, self.target_rec(id)?, lun.lun.0)
    }

    pub(crate) fn key_of(&self, slot: u32) -> SizeKey {
        self.key_for(&self.luns[ix(slot)], slot)
    }

    fn key_for(&self, r: &LunRec, slot: u32) -> SizeKey {
        let tie = self.target_rec(r.target).map_or(0, |t| t.hash);
        SizeKey {
            size: r.size,
            tie,
            number: r.number,
            slot,
            target: r.target,
        }
    }

    // ----- the one place LUN records change ----------------------------------------------

    /// Mutates one LUN and keeps counts, the size index, target max and load in step.
    fn update_lun(&mut self, slot: u32, f: impl FnOnce(&mut LunRec)) {
        self.update_located_lun(slot, None, f);
    }

    /// As [`Inventory::update_lun`], with where the LUN's key sits in `avail` when the caller
    /// read that already (alongside the record, one cache miss instead of two in a row).
    fn update_located_lun(&mut self, slot: u32, at: Option<Located>, f: impl FnOnce(&mut LunRec)) {
        let before = self.luns[ix(slot)];
        f(&mut self.luns[ix(slot)]);
        let after = self.luns[ix(slot)];
        // Re-observing a LUN (the common event) changes only its provenance: no index work.
        let class = |r: &LunRec| r.live().then(|| (r.state(), r.sized()));
        if class(&before) != class(&after) {
            if before.live() {
                *self.counts.slot_for(&before) -= 1;
            }
            if after.live() {
                *self.counts.slot_for(&after) += 1;
            }
        }
        let key_before = before.selectable().then(|| self.key_for(&before, slot));
        let key_after = after.selectable().then(|| self.key_for(&after, slot));
        if key_before != key_after {
            if let Some(k) = key_before {
                match at {
                    Some(at) => self.avail.remove_located(&k, at, &self.sigs),
                    None => self.avail.remove(&k, &self.sigs),
                };
            }
            if let Some(k) = key_after {
                let bits = self.bits_of(k.target);
                self.avail.insert(k, bits, &self.sigs);
            }
        }
        let held = |r: &LunRec| r.live() && r.hold != Hold::Free;
        let load_delta = i64::from(held(&after)) - i64::from(held(&before));
        let t = before.target;
        if load_delta != 0 {
            self.change_load(t, load_delta);
        }
        let sel_before = before.selectable().then_some(before.size);
        let sel_after = after.selectable().then_some(after.size);
        if sel_before != sel_after {
            let Some(tr) = self.targets.get_mut(ix(t)).and_then(Option::as_mut) else {
                return;
            };
            if let Some(sz) = sel_after {
                tr.max_avail = tr.max_avail.max(sz);
            }
            if sel_before.is_some_and(|sz| sz >= tr.max_avail) {
                self.recompute_max(t);
            }
        }
    }

    fn recompute_max(&mut self, t: u32) {
        let Some(tr) = self.targets.get(ix(t)).and_then(Option::as_ref) else {
            return;
        };
        let m = tr
            .luns
            .iter()
            .map(|&s| &self.luns[ix(s)])
            .filter(|r| r.selectable())
            .map(|r| r.size)
            .max()
            .unwrap_or(0);
        if let Some(tr) = self.targets.get_mut(ix(t)).and_then(Option::as_mut) {
            tr.max_avail = m;
        }
    }

    fn change_load(&mut self, t: u32, delta: i64) {
        let Some(tr) = self.targets.get_mut(ix(t)).and_then(Option::as_mut) else {
            return;
        };
        self.by_load.remove(&(tr.load, tr.hash, t));
        tr.load = if delta > 0 {
            tr.load.saturating_add(1)
        } else {
            tr.load.saturating_sub(1)
        };
        self.by_load.insert((tr.load, tr.hash, t));
    }

    /// Sets the hold of a LUN (engine/ledger use). Returns false if the LUN is not present.
    pub(crate) fn set_hold(&mut self, lun: &LunRef, hold: Hold) -> bool {
        match self.slot_of(lun) {
            Some(slot) => {
                self.update_lun(slot, |r| r.hold = hold);
                true
            }
            None => false,
        }
    }

    // ----- events ------------------------------------------------------------------------

    /// Applies one event; `ledger` says who holds LUNs that (re)appear.
    pub(crate) fn apply(
        &mut self,
        event: &InventoryEvent,
        prov: Provenance,
        ledger: &Ledger,
    ) -> Changes {
        let mut out = Changes::default();
        match event {
            InventoryEvent::TargetUpserted(spec) => {
                self.upsert_target(spec, prov, &mut out);
            }
            InventoryEvent::TargetRemoved { target } => {
                if let Some(t) = self.target_slot(target.as_str()) {
                    self.remove_target(t, ledger, &mut out);
                }
            }
            InventoryEvent::TargetTagged { target, tags } => {
                self.tag_target(target, tags, prov, &mut out);
            }
            InventoryEvent::LunUpserted { target, lun } => {
                if let Some(t) = self.known_target(target, &mut out) {
                    self.upsert_lun(t, target, *lun, prov, ledger, &mut out);
                }
            }
            InventoryEvent::LunRemoved { target, number } => {
                if let Some(t) = self.known_target(target, &mut out) {
                    let slot = self
                        .target_rec(t)
                        .and_then(|tr| self.find_lun(t, tr, number.0));
                    if let Some(slot) = slot {
                        self.remove_lun(slot, ledger, &mut out);
                    }
                }
            }
            InventoryEvent::LunsReported { target, luns } => {
                if let Some(t) = self.known_target(target, &mut out) {
                    self.report_luns(t, target, luns, prov, ledger, &mut out);
                }
            }
            InventoryEvent::TargetUnreachable { target } => {
                if let Some(t) = self.known_target(target, &mut out) {
                    self.mark_unreachable(t, prov, ledger, &mut out);
                }
            }
            InventoryEvent::EntitySnapshot { entity, targets } => {
                self.snapshot_entity(entity, targets, prov, ledger, &mut out);
            }
            InventoryEvent::EntityRemoved { entity } => {
                if let Some(rec) = self.entities.get(entity.as_str()) {
                    let ts: Vec<u32> = self
                        .groups
                        .get(ix(rec.group))
                        .map(|g| g.targets.iter().copied().collect())
                        .unwrap_or_default();
                    for t in ts {
                        self.remove_target(t, ledger, &mut out);
                    }
                    self.entities.remove(entity.as_str());
                    out.push(Change::EntityRemoved {
                        entity: entity.clone(),
                    });
                }
            }
            InventoryEvent::DdUpserted(spec) => self.upsert_dd(spec, prov, &mut out),
            InventoryEvent::DdMemberAdded { dd, member } => match self.dds.get_mut(dd) {
                Some(rec) => {
                    rec.provenance = prov;
                    if rec.members.insert(member.clone()) {
                        out.push(Change::DdUpdated { dd: *dd });
                    }
                }
                None => out.warn(Warning::UnknownDd { dd: *dd }),
            },
            InventoryEvent::DdMemberRemoved { dd, member } => match self.dds.get_mut(dd) {
                Some(rec) => {
                    rec.provenance = prov;
                    if rec.members.remove(member.as_str()) {
                        out.push(Change::DdUpdated { dd: *dd });
                    }
                }
                None => out.warn(Warning::UnknownDd { dd: *dd }),
            },
            InventoryEvent::DdRemoved { dd } => {
                if self.dds.remove(dd).is_some() {
                    out.push(Change::DdRemoved { dd: *dd });
                }
            }
        }
        out
    }

    fn known_target(&self, target: &IscsiName, out: &mut Changes) -> Option<u32> {
        let t = self.target_slot(target.as_str());
        if t.is_none() {
            out.warn(Warning::UnknownTarget {
                target: target.clone(),
            });
        }
        t
    }

    fn ensure_entity(
        &mut self,
        entity: &EntityId,
        prov: Provenance,
        out: &mut Changes,
    ) -> Option<u32> {
        match self.entities.get_mut(entity.as_str()) {
            Some(e) => {
                e.provenance = prov;
                Some(e.group)
            }
            None => {
                let Some(group) = self.entity_group_id(entity) else {
                    out.warn(Warning::CapacityExceeded);
                    return None;
                };
                self.entities.insert(
                    entity.clone(),
                    EntityRec {
                        group,
                        provenance: prov,
                    },
                );
                out.push(Change::EntityAdded {
                    entity: entity.clone(),
                });
                Some(group)
            }
        }
    }

    fn upsert_target(&mut self, spec: &TargetSpec, prov: Provenance, out: &mut Changes) {
        let Some(group) = self.ensure_entity(&spec.entity, prov, out) else {
            return;
        };
        let portals = normalise_portals(spec.portals.clone());
        if let Some(t) = self.target_slot(spec.name.as_str()) {
            let old_group = self.entity_group_of(t);
            let moved = self
                .target_rec(t)
                .is_some_and(|tr| tr.entity != spec.entity);
            if moved {
                if let Some(og) = old_group {
                    self.set_member(t, og, false);
                }
                if let Some(tr) = self.targets.get_mut(ix(t)).and_then(Option::as_mut) {
                    tr.entity = spec.entity.clone();
                    if let Some(first) = tr.groups.first_mut() {
                        *first = group;
                    }
                }
                if let Some(e) = self.entity_of.get_mut(ix(t)) {
                    *e = group;
                }
                self.set_member(t, group, true);
                self.refresh_sig(t);
            }
            let Some(tr) = self.targets.get_mut(ix(t)).and_then(Option::as_mut) else {
                return;
            };
            tr.provenance = prov;
            let mut updated = moved;
            if tr.alias != spec.alias {
                tr.alias.clone_from(&spec.alias);
                updated = true;
            }
            let portals_changed = tr.portals != portals;
            // Run starts to re-derive: every portal entry removed or added, and, after a move,
            // the target's name and all its entries.
            let mut touched: Vec<(IpAddr, u32)> = Vec::new();
            if portals_changed || moved {
                touched.extend(tr.portals.iter().map(|p| (p.addr, t)));
            }
            if portals_changed {
                for p in &tr.portals {
                    self.by_portal.remove(&(p.addr, t));
                }
                for p in &portals {
                    self.by_portal.insert((p.addr, t));
                }
                tr.portals.clone_from(&portals);
                touched.extend(portals.iter().map(|p| (p.addr, t)));
            }
            for k in touched {
                self.refresh_portal_runs(k);
            }
            if moved {
                self.refresh_name_runs(&spec.name);
            }
            if updated {
                out.push(Change::TargetUpdated {
                    target: spec.name.clone(),
                });
            }
            if portals_changed {
                out.push(Change::PortalsChanged {
                    target: spec.name.clone(),
                    portals,
                });
            }
            return;
        }
        let t = match self.free_targets.pop() {
            Some(t) => t,
            None => match u32::try_from(self.targets.len()) {
                Ok(t) if t < u32::MAX => {
                    self.targets.push(None);
                    t
                }
                _ => {
                    out.warn(Warning::CapacityExceeded);
                    return;
                }
            },
        };
        let hash = stable_hash(spec.name.as_str());
        for p in &portals {
            self.by_portal.insert((p.addr, t));
        }
        self.targets[ix(t)] = Some(TargetRec {
            name: spec.name.clone(),
            name_head: NameHead::new(spec.name.as_str()),
            entity: spec.entity.clone(),
            alias: spec.alias.clone(),
            portals,
            tags: Vec::new(),
            luns: Vec::new(),
            lun_base: 0,
            hash,
            load: 0,
            max_avail: 0,
            groups: vec![group],
            provenance: prov,
        });
        if let Some(g) = self.groups.get_mut(ix(group)) {
            g.targets.insert(t);
        }
        if self.entity_of.len() <= ix(t) {
            self.entity_of.resize(ix(t) + 1, u32::MAX);
        }
        self.entity_of[ix(t)] = group;
        self.refresh_sig(t);
        self.by_name.insert(spec.name.clone(), t);
        self.name_index.insert(spec.name.as_str(), t);
        self.by_load.insert((0, hash, t));
        self.refresh_name_runs(&spec.name);
        let entries: Vec<(IpAddr, u32)> = self
            .target_rec(t)
            .map(|tr| tr.portals.iter().map(|p| (p.addr, t)).collect())
            .unwrap_or_default();
        for k in entries {
            self.refresh_portal_runs(k);
        }
        out.push(Change::TargetAdded {
            target: spec.name.clone(),
        });
    }

    fn remove_target(&mut self, t: u32, ledger: &Ledger, out: &mut Changes) {
        let slots = match self.target_rec(t) {
            Some(tr) => tr.luns.clone(),
            None => return,
        };
        for s in slots {
            self.remove_lun(s, ledger, out);
        }
        let Some(tr) = self.targets.get_mut(ix(t)).and_then(Option::take) else {
            return;
        };
        self.by_name.remove(tr.name.as_str());
        self.name_index.remove(tr.name.as_str(), t);
        self.by_load.remove(&(tr.load, tr.hash, t));
        for p in &tr.portals {
            self.by_portal.remove(&(p.addr, t));
        }
        self.refresh_name_runs(&tr.name);
        for p in &tr.portals {
            self.refresh_portal_runs((p.addr, t));
        }
        // Its LUNs are gone already, so only the target sets of its groups need updating.
        for &g in &tr.groups {
            if let Some(gr) = self.groups.get_mut(ix(g)) {
                gr.targets.remove(&t);
            }
        }
        self.free_targets.push(t);
        out.push(Change::TargetRemoved { target: tr.name });
    }

    fn tag_target(
        &mut self,
        target: &IscsiName,
        tags: &[Tag],
        prov: Provenance,
        out: &mut Changes,
    ) {
        let Some(t) = self.known_target(target, out) else {
            return;
        };
        let mut tags = tags.to_vec();
        tags.sort_unstable();
        tags.dedup();
        let Some(tr) = self.targets.get_mut(ix(t)).and_then(Option::as_mut) else {
            return;
        };
        tr.provenance = prov;
        if tr.tags == tags {
            return;
        }
        let old_groups: Vec<u32> = tr.groups.iter().skip(1).copied().collect();
        for g in old_groups {
            self.set_member(t, g, false);
        }
        let mut new_groups = Vec::with_capacity(tags.len());
        for tag in &tags {
            match self.tag_group_id(tag) {
                Some(g) => new_groups.push(g),
                None => out.warn(Warning::CapacityExceeded),
            }
        }
        for &g in &new_groups {
            self.set_member(t, g, true);
        }
        if let Some(tr) = self.targets.get_mut(ix(t)).and_then(Option::as_mut) {
            tr.tags = tags;
            tr.groups.truncate(1);
            tr.groups.extend(new_groups);
        }
        self.refresh_sig(t);
        out.push(Change::TargetUpdated {
            target: target.clone(),
        });
    }

    fn holder(ledger: &Ledger, target: &IscsiName, number: u64) -> Hold {
        ledger.hold_of(target.as_str(), number)
    }

    /// Adds or updates LUN `spec` of target `t`, whose name is `name` (the event's copy: the
    /// caller found `t` by it, and it is in cache where the record's copy is not).
    fn upsert_lun(
        &mut self,
        t: u32,
        name: &IscsiName,
        spec: LunSpec,
        prov: Provenance,
        ledger: &Ledger,
        out: &mut Changes,
    ) {
        let Some(tr) = self.target_rec(t) else {
            return;
        };
        let number = spec.number.0;
        // Where the predicted slot's key sits, read before the record so the two misses overlap.
        let guess = u32::try_from(number)
            .ok()
            .map(|n| tr.lun_base.wrapping_add(n));
        let early = guess.map(|s| self.avail.locate(s));
        let found = match self.predicted_slot(t, guess, number) {
            Some(slot) => Ok(slot),
            None => self.lun_position(tr, number).map(|i| tr.luns[i]),
        };
        match found {
            Ok(slot) => {
                let before = self.luns[ix(slot)];
                let resized = spec.size.filter(|&s| before.size_opt() != Some(s));
                let at = early.filter(|_| guess == Some(slot));
                self.update_located_lun(slot, at, |r| {
                    r.seen_ms = prov.at.as_millis();
                    r.source = prov.source;
                    r.set(ONLINE, true);
                    if let Some(s) = spec.size {
                        r.size = s;
                        r.set(SIZED, true);
                    }
                });
                // Only a change is reported; an unchanged re-observation copies no name.
                if resized.is_some() || !before.online() {
                    let lun = LunRef {
                        target: name.clone(),
                        lun: spec.number,
                    };
                    let held_by = (before.hold != Hold::Free)
                        .then(|| ledger.holder_of(&lun).cloned())
                        .flatten();
                    if let Some(to) = resized {
                        out.push(Change::LunResized {
                            lun: lun.clone(),
                            from: before.size_opt(),
                            to,
                            held_by,
                        });
                    }
                    if !before.online() {
                        out.push(Change::LunOnline { lun });
                    }
                }
            }
            Err(i) => {
                let hold = Self::holder(ledger, &tr.name, number);
                let name = tr.name.clone();
                let slot = match self.free_luns.pop() {
                    Some(s) => s,
                    None => match u32::try_from(self.luns.len()) {
                        Ok(s) if s < u32::MAX => {
                            self.luns.push(LunRec {
                                size: 0,
                                number: 0,
                                seen_ms: 0,
                                target: t,
                                flags: 0,
                                hold: Hold::Free,
                                source: prov.source,
                            });
                            s
                        }
                        _ => {
                            out.warn(Warning::CapacityExceeded);
                            return;
                        }
                    },
                };
                // Link first so the record's target (and hash) is known when it is indexed.
                self.luns[ix(slot)].target = t;
                self.luns[ix(slot)].number = number;
                if let Some(tr) = self.targets.get_mut(ix(t)).and_then(Option::as_mut) {
                    tr.luns.insert(i, slot);
                }
                self.refresh_lun_base(t);
                self.update_lun(slot, |r| {
                    *r = LunRec {
                        size: spec.size.unwrap_or(0),
                        number,
                        seen_ms: prov.at.as_millis(),
                        target: t,
                        flags: LIVE | ONLINE | if spec.size.is_some() { SIZED } else { 0 },
                        hold,
                        source: prov.source,
                    };
                });
                out.push(Change::LunAdded {
                    lun: LunRef {
                        target: name,
                        lun: spec.number,
                    },
                    size: spec.size,
                });
            }
        }
    }

    fn remove_lun(&mut self, slot: u32, ledger: &Ledger, out: &mut Changes) {
        let before = self.luns[ix(slot)];
        if !before.live() {
            return;
        }
        let lun = self.lun_ref(slot);
        self.update_lun(slot, |r| r.flags = 0);
        let t = before.target;
        if let Some(tr) = self.targets.get_mut(ix(t)).and_then(Option::as_mut) {
            tr.luns.retain(|&s| s != slot);
        }
        self.refresh_lun_base(t);
        self.free_luns.push(slot);
        if let Some(lun) = lun {
            let held_by = (before.hold != Hold::Free)
                .then(|| ledger.holder_of(&lun).cloned())
                .flatten();
            out.push(Change::LunRemoved { lun, held_by });
        }
    }

    fn report_luns(
        &mut self,
        t: u32,
        name: &IscsiName,
        luns: &[LunSpec],
        prov: Provenance,
        ledger: &Ledger,
        out: &mut Changes,
    ) {
        // A report naming one LUN twice is read as one entry: the last size given wins, but a
        // missing size never erases a given one (so applying the same report twice is a no-op).
        let mut merged: BTreeMap<u64, LunSpec> = BTreeMap::new();
        for l in luns {
            let e = merged.entry(l.number.0).or_insert(*l);
            if l.size.is_some() {
                e.size = l.size;
            }
        }
        let reported: BTreeSet<u64> = merged.keys().copied().collect();
        let gone: Vec<u32> = self.target_rec(t).map_or_else(Vec::new, |tr| {
            tr.luns
                .iter()
                .copied()
                .filter(|&s| !reported.contains(&self.luns[ix(s)].number))
                .collect()
        });
        for s in gone {
            self.remove_lun(s, ledger, out);
        }
        for l in merged.into_values() {
            self.upsert_lun(t, name, l, prov, ledger, out);
        }
        if let Some(tr) = self.targets.get_mut(ix(t)).and_then(Option::as_mut) {
            tr.provenance = prov;
        }
    }

    fn mark_unreachable(&mut self, t: u32, prov: Provenance, ledger: &Ledger, out: &mut Changes) {
        let slots = match self.target_rec(t) {
            Some(tr) => tr.luns.clone(),
            None => return,
        };
        for s in slots {
            let before = self.luns[ix(s)];
            if !before.online() {
                continue;
            }
            self.update_lun(s, |r| {
                r.set(ONLINE, false);
                r.seen_ms = prov.at.as_millis();
                r.source = prov.source;
            });
            if let Some(lun) = self.lun_ref(s) {
                let held_by = (before.hold != Hold::Free)
                    .then(|| ledger.holder_of(&lun).cloned())
                    .flatten();
                out.push(Change::LunOffline { lun, held_by });
            }
        }
    }

    fn snapshot_entity(
        &mut self,
        entity: &EntityId,
        targets: &[TargetSpec],
        prov: Provenance,
        ledger: &Ledger,
        out: &mut Changes,
    ) {
        self.ensure_entity(entity, prov, out);
        let listed: BTreeSet<&str> = targets.iter().map(|s| s.name.as_str()).collect();
        let stale: Vec<u32> = self
            .entity_group(entity.as_str())
            .map(|g| {
                g.targets
                    .iter()
                    .copied()
                    .filter(|&t| {
                        self.target_rec(t)
                            .is_some_and(|tr| !listed.contains(tr.name.as_str()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for t in stale {
            self.remove_target(t, ledger, out);
        }
        // A target listed twice is read once (the last listing wins), so the snapshot is idempotent.
        let unique: BTreeMap<&str, &TargetSpec> =
            targets.iter().map(|s| (s.name.as_str(), s)).collect();
        for spec in unique.into_values() {
            if spec.entity == *entity {
                self.upsert_target(spec, prov, out);
            } else {
                // A snapshot speaks for one entity; a target listed under another is that entity's.
                let mut s = spec.clone();
                s.entity = entity.clone();
                self.upsert_target(&s, prov, out);
            }
        }
    }

    fn upsert_dd(&mut self, spec: &DdSpec, prov: Provenance, out: &mut Changes) {
        let members: BTreeSet<IscsiName> = spec.members.iter().cloned().collect();
        match self.dds.get_mut(&spec.id) {
            Some(rec) => {
                rec.provenance = prov;
                if rec.name != spec.name || rec.members != members {
                    rec.name.clone_from(&spec.name);
                    rec.members = members;
                    out.push(Change::DdUpdated { dd: spec.id });
                }
            }
            None => {
                self.dds.insert(
                    spec.id,
                    DdRec {
                        name: spec.name.clone(),
                        members,
                        provenance: prov,
                    },
                );
                out.push(Change::DdAdded { dd: spec.id });
            }
        }
    }

    // ----- self-check ----------------------------------------------------------------------

    /// Recomputes every index from the records and compares; used by tests, fuzzing and
    /// [`Engine::verify`](crate::Engine::verify).
    pub(crate) fn check(&self) -> Result<(), String> {
        let mut counts = LunCounts::default();
        let mut avail = Vec::new();
        let mut live = 0usize;
        for (i, r) in self.luns.iter().enumerate() {
            if !r.live() {
                continue;
            }
            live += 1;
            let slot = u32::try_from(i).map_err(|e| e.to_string())?;
            *counts.slot_for(r) += 1;
            if r.selectable() {
                avail.push(self.key_of(slot));
            }
            let tr = self
                .target_rec(r.target)
                .ok_or_else(|| format!("LUN slot {slot} points at missing target"))?;
            if self.find_lun(r.target, tr, r.number) != Some(slot) {
                return Err(format!("LUN slot {slot} not linked from its target"));
            }
        }
        if counts != self.counts {
            return Err(format!("counts {:?} != recomputed {counts:?}", self.counts));
        }
        self.avail.check(|t| {
            self.target_rec(t)?;
            Some(self.bits_of(t))
        })?;
        let mut have: Vec<SizeKey> = self.avail.keys().collect();
        have.sort_unstable();
        avail.sort_unstable();
        if avail != have || have.len() != self.avail.len() {
            return Err("available index differs from records".into());
        }
        let mut groups = vec![Group::default(); self.groups.len()];
        for &t in self.by_name.values() {
            let tr = self
                .target_rec(t)
                .ok_or_else(|| format!("target slot {t} empty"))?;
            let mut want = vec![self.entity_group.get(tr.entity.as_str()).copied()];
            want.extend(
                tr.tags
                    .iter()
                    .map(|tag| self.by_tag.get(tag.as_str()).copied()),
            );
            if self.entity_of.get(ix(t)) != tr.groups.first() {
                return Err(format!("{}: entity_of disagrees with its groups", tr.name));
            }
            if want
                .iter()
                .map(|g| g.unwrap_or(u32::MAX))
                .ne(tr.groups.iter().copied())
            {
                return Err(format!("{}: groups {:?} != {want:?}", tr.name, tr.groups));
            }
            for &g in &tr.groups {
                let gr = groups
                    .get_mut(ix(g))
                    .ok_or_else(|| format!("group {g} missing"))?;
                gr.targets.insert(t);
            }
            let sig = tr.groups.iter().fold(0, |a, &g| a | group_bit(g));
            if self.sigs.get(ix(t)) != Some(&sig) {
                return Err(format!("{}: signature disagrees with its groups", tr.name));
            }
        }
        for (i, (have, want)) in self.groups.iter().zip(&groups).enumerate() {
            if have.targets != want.targets {
                return Err(format!("group {i} differs from records"));
            }
        }
        let mut linked = 0usize;
        for (name, &t) in &self.by_name {
            let tr = self
                .target_rec(t)
                .ok_or_else(|| format!("{name} maps to empty slot"))?;
            linked += tr.luns.len();
            let load = tr
                .luns
                .iter()
                .filter(|&&s| self.luns[ix(s)].hold != Hold::Free)
                .count();
            if u32::try_from(load).ok() != Some(tr.load)
                || !self.by_load.contains(&(tr.load, tr.hash, t))
            {
                return Err(format!("{name}: load {} != {load}", tr.load));
            }
            let max = tr
                .luns
                .iter()
                .map(|&s| &self.luns[ix(s)])
                .filter(|r| r.selectable())
                .map(|r| r.size)
                .max()
                .unwrap_or(0);
            if max != tr.max_avail {
                return Err(format!("{name}: max_avail {} != {max}", tr.max_avail));
            }
        }
        if self.name_index.len() != self.by_name.len()
            || self
                .by_name
                .iter()
                .any(|(n, &t)| self.target_slot(n.as_str()) != Some(t))
        {
            return Err("hashed and ordered name maps disagree".into());
        }
        let mut hashed: Vec<u32> = self.name_index.slots().collect();
        let mut ordered: Vec<u32> = self.by_name.values().copied().collect();
        hashed.sort_unstable();
        ordered.sort_unstable();
        if hashed != ordered {
            return Err("hashed name map holds stale entries".into());
        }
        if linked != live || self.by_load.len() != self.by_name.len() {
            return Err("target links and live LUNs disagree".into());
        }
        let runs = |keys: &mut dyn Iterator<Item = u32>| -> Vec<(usize, u32)> {
            let mut prev = None;
            let mut out = Vec::new();
            for (i, g) in keys.enumerate() {
                if prev != Some(g) {
                    out.push((i, g));
                }
                prev = Some(g);
            }
            out
        };
        let name_pos: BTreeMap<&str, usize> = self
            .by_name
            .keys()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let want = runs(&mut self.by_name.values().map(|&t| self.group_at(t)));
        let have: Vec<(usize, u32)> = self
            .name_runs
            .iter()
            .map(|(n, r)| {
                (
                    name_pos.get(n.as_str()).copied().unwrap_or(usize::MAX),
                    r.group,
                )
            })
            .collect();
        if have != want {
            return Err("name run starts differ from the name order".into());
        }
        let names: Vec<&IscsiName> = self.by_name.keys().collect();
        for (i, run) in self.name_runs.values().enumerate() {
            let end = want.get(i + 1).map_or(names.len(), |&(p, _)| p);
            if end.checked_sub(1).and_then(|e| names.get(e)) != Some(&&run.last) {
                return Err(format!(
                    "name run {i} ends at {} in the name order",
                    run.last
                ));
            }
        }
        let portal_pos: BTreeMap<(IpAddr, u32), usize> = self
            .by_portal
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, i))
            .collect();
        let want = runs(&mut self.by_portal.iter().map(|&(_, t)| self.group_at(t)));
        let have: Vec<(usize, u32)> = self
            .portal_runs
            .iter()
            .map(|(k, &g)| (portal_pos.get(k).copied().unwrap_or(usize::MAX), g))
            .collect();
        if have != want {
            return Err("portal run starts differ from the address order".into());
        }
        Ok(())
    }
}

/// The distinct groups of a range: the first target's, then one per run start, sorted; `None`
/// past `max_runs` run starts.
fn collect_groups(
    first: Option<u32>,
    later: impl Iterator<Item = u32>,
    max_runs: usize,
) -> Option<Vec<u32>> {
    let mut groups: Vec<u32> = first.into_iter().collect();
    for (i, g) in later.enumerate() {
        if i >= max_runs {
            return None;
        }
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    groups.sort_unstable();
    Some(groups)
}

#[cfg(test)]
mod tests {
    use core::net::IpAddr;
    use core::ops::Bound;

    use crate::model::{InventoryEvent, Portal, Provenance, Source, TargetSpec};
    use crate::names::{EntityId, IscsiName};
    use crate::net::Subnet;
    use crate::time::Timestamp;
    use crate::{Engine, EngineConfig};

    /// Distinct entity groups of the targets `keep` selects, by brute force over the records.
    fn brute(inv: &super::Inventory, keep: impl Fn(&super::TargetRec) -> bool) -> Vec<u32> {
        let mut g: Vec<u32> = inv
            .by_name
            .values()
            .filter_map(|&t| {
                inv.target_rec(t)
                    .filter(|tr| keep(tr))
                    .map(|_| inv.group_at(t))
            })
            .collect();
        g.sort_unstable();
        g.dedup();
        g
    }

    #[test]
    fn names_longer_than_the_inline_copy_are_found_and_told_apart() {
        let mut e = Engine::new(EngineConfig::new(2026, 1, "example.com").unwrap());
        let p = Provenance::new(Source::IsnsQuery, Timestamp::EPOCH);
        let base = "iqn.2026-01.com.example:".to_owned();
        // Lengths around the inline copy's 63 bytes, and two long names sharing that prefix.
        let names: Vec<String> = [
            (40usize, "p"),
            (62, "q"),
            (63, "r"),
            (64, "s"),
            (100, "t"),
            (223, "u"),
        ]
        .iter()
        .map(|&(n, c)| format!("{base}{}", c.repeat(n - base.len())))
        .chain([
            format!("{base}{}a", "y".repeat(80)),
            format!("{base}{}b", "y".repeat(80)),
        ])
        .collect();
        for (i, n) in names.iter().enumerate() {
            e.apply(
                &InventoryEvent::TargetUpserted(TargetSpec {
                    name: IscsiName::new(n.clone()).unwrap(),
                    entity: EntityId::new(format!("e{i}")),
                    alias: None,
                    portals: Vec::new(),
                }),
                p,
            );
        }
        let inv = e.inventory();
        for (i, n) in names.iter().enumerate() {
            let t = inv.target(n).unwrap_or_else(|| panic!("{} bytes", n.len()));
            assert_eq!(t.entity.as_str(), format!("e{i}"));
            assert!(inv.target(&n[..n.len() - 1]).is_none());
            assert!(inv.target(&format!("{n}z")).is_none());
        }
        inv.check().unwrap();
    }

    #[test]
    fn run_indexes_agree_with_a_brute_force_scan_after_random_events() {
        let mut e = Engine::new(EngineConfig::new(2026, 1, "example.com").unwrap());
        let p = Provenance::new(Source::IsnsQuery, Timestamp::EPOCH);
        let mut rnd = crate::test_rng(0x2545_f491_4f6c_dd1d);
        let prefixes = [
            "iqn.2026-01.a:",
            "iqn.2026-01.a:1",
            "iqn.2026-01.b:",
            "iqn.2026-01.b:2",
            "iqn.",
            "iqn.2026-01.c",
        ];
        let subnets: Vec<Subnet> = ["10.0.0.0/24", "10.0.1.0/24", "10.0.0.0/16", "10.9.0.0/16"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let (mut served_name, mut served_subnet) = (0, 0);
        for step in 0..3000 {
            let name = IscsiName::new(format!(
                "iqn.2026-01.{}:{}",
                ["a", "b"][usize::try_from(rnd(2)).unwrap()],
                rnd(24)
            ))
            .unwrap();
            let entity = EntityId::new(format!("e{}", rnd(4)));
            let ev = match rnd(10) {
                0..=5 => InventoryEvent::TargetUpserted(TargetSpec {
                    name,
                    entity,
                    alias: None,
                    portals: (0..rnd(3))
                        .map(|_| {
                            let ip = IpAddr::from([10, 0, u8::try_from(rnd(2)).unwrap(), 1]);
                            Portal::new(ip, 3260)
                        })
                        .collect(),
                }),
                6 | 7 => InventoryEvent::TargetRemoved { target: name },
                8 => InventoryEvent::EntityRemoved { entity },
                _ => InventoryEvent::EntitySnapshot {
                    entity,
                    targets: Vec::new(),
                },
            };
            e.apply(&ev, p);
            let inv = e.inventory();
            inv.check().unwrap_or_else(|m| panic!("step {step}: {m}"));
            for pre in prefixes {
                let upper = format!(
                    "{}{}",
                    &pre[..pre.len() - 1],
                    char::from(pre.as_bytes()[pre.len() - 1] + 1)
                );
                let got = inv
                    .name_range_groups(pre, upper.as_str(), usize::MAX)
                    .unwrap();
                let want = brute(inv, |tr| tr.name.as_str().starts_with(pre));
                // Allowed beyond the exact answer: the entity of the run straddling `pre`.
                let straddling = inv
                    .by_name
                    .range::<str, _>((Bound::Unbounded, Bound::Included(pre)))
                    .next_back()
                    .map(|(_, &t)| inv.group_at(t));
                assert!(
                    want.iter().all(|g| got.contains(g))
                        && got
                            .iter()
                            .all(|g| want.contains(g) || Some(*g) == straddling),
                    "step {step}: prefix {pre}: {got:?} vs {want:?}"
                );
                served_name += usize::from(!want.is_empty());
                if let Some(capped) = inv.name_range_groups(pre, upper.as_str(), 1) {
                    assert_eq!(capped, got, "step {step}: capped prefix {pre}");
                }
            }
            for s in &subnets {
                let (lo, hi) = s.bounds();
                let got = inv.portal_range_groups(lo, hi, usize::MAX);
                let want = brute(inv, |tr| tr.portals.iter().any(|p| s.contains(p.addr)));
                assert_eq!(got, Some(want.clone()), "step {step}: subnet {s}");
                served_subnet += usize::from(!want.is_empty());
            }
        }
        // The walk reached states where the ranges were populated, not only empty ones.
        assert!(
            served_name > 1000 && served_subnet > 1000,
            "{served_name} {served_subnet}"
        );
    }
}
