//! The available-LUN index: the [`SizeKey`] of every selectable LUN, in best-fit order, kept in
//! blocks so that changing one LUN costs a few cache misses however large the inventory is.
//!
//! * The blocks partition the key space: the block at order position `i` holds the keys in
//!   `fences[i]..fences[i + 1]` (`fences[0]` is the smallest key there is), at most [`CAP`] of
//!   them, **unsorted**, in one fixed allocation that never moves.
//! * Every LUN slot records where its key sits (block and position). Removing a key marks its
//!   position a hole in the block's hole mask (a dense array) — no key is read or moved;
//!   inserting one is a binary search over the fence sizes (a small array that stays in cache)
//!   and a write into the block's lowest hole, or an append. A resize (remove + insert) thus
//!   reads one position entry from memory and writes one key; everything else it touches is
//!   small per-block metadata — no tree descent, one index.
//! * A block stores its keys column-wise: sizes, entity groups, tag bits, then the rest of the
//!   key. A best-fit walk reads the size column (and the entity or tag column when the request
//!   constrains them), 8–16 bytes a key, and the rest only of the keys it picks.
//! * Each block has a mask of the groups (entities, tags) of its keys' targets (bit `g % 128` for
//!   group `g`), so a walk constrained to some groups skips blocks that cannot hold a candidate.
//!   Removals leave stale bits behind (the mask stays a superset, which is all a filter needs);
//!   after [`CAP`] removals, and at every split, the mask is recomputed from the targets'
//!   signatures.
//! * A block that fills up is sorted and split in two; one that falls below a quarter is merged
//!   with a neighbour when the two fit in three quarters of a block.
//!
//! Selection walks blocks in order from the block holding its lower bound: the first block with
//! a passing key holds the best one. Callers that need keys one by one in order (explanations,
//! the memo walk) use [`AvailIndex::sorted_from`], which sorts one block at a time.

use crate::inventory::{SizeKey, ix};

/// Keys per block at most.
pub(crate) const CAP: usize = 128;
/// A block below this many keys is merged with a neighbour when they fit in [`MERGED_MAX`].
const MERGE_BELOW: usize = CAP / 4;
/// Largest block a merge may produce (leaves room before the next split).
const MERGED_MAX: usize = CAP * 3 / 4;
/// "Not indexed" in [`AvailIndex::at`].
const NOWHERE: u64 = u64::MAX;
/// Fence sizes per entry of [`AvailIndex::samples`].
const SAMPLE: usize = 32;
// Positions are packed as `block << POS_BITS | position`; CAP is a power of two.
const POS_BITS: u32 = CAP.trailing_zeros();
const POS_MASK: u64 = (1 << POS_BITS) - 1;

/// The mask bit of a group.
pub(crate) fn group_bit(g: u32) -> u128 {
    1u128 << (g % 128)
}

/// A group signature folded to the 32 bits a block stores per key (bit `g % 32` for group `g`):
/// a superset test, confirmed against the full signature.
pub(crate) fn fold(sig: u128) -> u32 {
    let words = sig.to_le_bytes();
    let mut f = 0u32;
    for w in words.chunks_exact(4) {
        f |= u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
    }
    f
}

/// The part of a key a walk reads for every key it passes: 16 bytes, four to a cache line.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Hot {
    /// The LUN's size.
    pub(crate) size: u64,
    /// Its target's entity group.
    pub(crate) group: u32,
    /// Its target's signature, folded (see [`fold`]).
    pub(crate) tags: u32,
}

/// The part of a key a walk reads only for the keys it picks.
#[derive(Clone, Copy, Debug, Default)]
struct Cold {
    tie: u64,
    number: u64,
    slot: u32,
    target: u32,
}

/// Up to [`CAP`] keys in two columns, unsorted; the length is kept by the index.
#[derive(Clone, Debug)]
struct Block {
    hot: [Hot; CAP],
    cold: [Cold; CAP],
}

impl Default for Block {
    fn default() -> Self {
        Self {
            hot: [Hot::default(); CAP],
            cold: [Cold::default(); CAP],
        }
    }
}

/// One block as a walk sees it.
pub(crate) struct BlockView<'a> {
    /// The hot column of its positions (holes included: see [`BlockView::is_hole`]).
    pub(crate) hot: &'a [Hot],
    cold: &'a [Cold],
    holes: u128,
    /// The smallest size it may hold (its fence key's size).
    pub(crate) fence_size: u64,
    /// A superset of the group bits of its keys' targets.
    pub(crate) mask: u128,
}

impl BlockView<'_> {
    /// Whether position `p` holds no key (its columns hold a removed key's stale values).
    pub(crate) fn is_hole(&self, p: usize) -> bool {
        p >= CAP || (self.holes >> p) & 1 != 0
    }

    /// The key at position `p`.
    pub(crate) fn key(&self, p: usize) -> Option<SizeKey> {
        if self.is_hole(p) {
            return None;
        }
        let (h, c) = (self.hot.get(p)?, self.cold.get(p)?);
        Some(SizeKey {
            size: h.size,
            tie: c.tie,
            number: c.number,
            slot: c.slot,
            target: c.target,
        })
    }

    /// The target of the key at position `p`.
    pub(crate) fn target(&self, p: usize) -> Option<u32> {
        if self.is_hole(p) {
            return None;
        }
        self.cold.get(p).map(|c| c.target)
    }

    /// Its keys, unsorted.
    pub(crate) fn keys(&self) -> impl Iterator<Item = SizeKey> + '_ {
        (0..self.hot.len()).filter_map(|p| self.key(p))
    }
}

/// The index; see the module documentation.
#[derive(Clone, Debug, Default)]
pub(crate) struct AvailIndex {
    /// Lower bound of the key range of each block, in order; `fences[0]` is [`SizeKey::MIN`].
    fences: Vec<SizeKey>,
    /// The size of each fence: the array the block search reads (8 bytes a block, so it stays
    /// in cache; the full fence is read only where sizes tie).
    fence_sizes: Vec<u64>,
    /// The block ID at each order position.
    order: Vec<u32>,
    /// Blocks and their bookkeeping by block ID (emptied blocks are kept for reuse): a dense
    /// array of 48-byte entries apart from the keys, so a resize reads one entry, not a block.
    meta: Vec<Meta>,
    /// Every [`SAMPLE`]-th fence size: the first level of the block search (a few KB).
    samples: Vec<u64>,
    /// Unused block IDs.
    free: Vec<u32>,
    /// By LUN slot: `block << POS_BITS | position` of its key, or [`NOWHERE`].
    at: Vec<u64>,
    len: usize,
}

fn pack(block: u32, pos: usize) -> u64 {
    (u64::from(block) << POS_BITS) | (u64::try_from(pos).unwrap_or(0) & POS_MASK)
}

fn unpack(code: u64) -> Option<(usize, usize)> {
    if code == NOWHERE {
        return None;
    }
    let block = usize::try_from(code >> POS_BITS).ok()?;
    let pos = usize::try_from(code & POS_MASK).ok()?;
    Some((block, pos))
}

/// Where a slot's key sits, from [`AvailIndex::locate`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Located(u64);

/// The bookkeeping of one block, and the block.
#[derive(Clone, Debug, Default)]
struct Meta {
    /// The keys.
    block: Box<Block>,
    /// The holes: removed keys' positions below `len`.
    holes: u128,
    /// A superset of the signatures of its keys' targets.
    mask: u128,
    /// Positions in use (keys and holes).
    len: u16,
    /// Removals since `mask` was last recomputed.
    stale: u16,
}

/// What the index needs to know about the target of a key it stores.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TargetBits {
    /// Its entity group.
    pub(crate) group: u32,
    /// Its group signature.
    pub(crate) sig: u128,
}

impl AvailIndex {
    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The order position of the block whose range holds `k`.
    fn position_of(&self, k: &SizeKey) -> usize {
        // Two levels: the sample array picks a run of SAMPLE fence sizes (a few cache lines),
        // instead of a dozen dependent probes across the whole fence array.
        let j = self
            .samples
            .partition_point(|&s| s <= k.size)
            .saturating_sub(1);
        let from = j * SAMPLE;
        let run = self
            .fence_sizes
            .get(from..(from + SAMPLE).min(self.fence_sizes.len()))
            .unwrap_or(&[]);
        let mut i = (from + run.partition_point(|&s| s <= k.size)).saturating_sub(1);
        // Blocks whose fence has k's size but a larger key come after k's block; the full fence
        // is read only when the sizes tie.
        while i > 0
            && self.fence_sizes.get(i) == Some(&k.size)
            && self.fences.get(i).is_some_and(|f| f > k)
        {
            i -= 1;
        }
        i
    }

    /// Rebuilds the sample array after the fences changed (a split or merge: rare).
    fn resample(&mut self) {
        self.samples.clear();
        self.samples
            .extend(self.fence_sizes.iter().step_by(SAMPLE).copied());
    }

    fn len_of(&self, id: usize) -> usize {
        self.meta.get(id).map_or(0, |m| usize::from(m.len))
    }

    fn holes_of(&self, id: usize) -> u128 {
        self.meta.get(id).map_or(0, |m| m.holes)
    }

    /// Keys in block `id`.
    fn live_of(&self, id: usize) -> usize {
        let holes = usize::try_from(self.holes_of(id).count_ones()).unwrap_or(0);
        self.len_of(id).saturating_sub(holes)
    }

    fn view(&self, id: usize, fence_size: u64) -> Option<BlockView<'_>> {
        let m = self.meta.get(id)?;
        let n = usize::from(m.len);
        Some(BlockView {
            hot: m.block.hot.get(..n)?,
            cold: m.block.cold.get(..n)?,
            holes: m.holes,
            fence_size,
            mask: m.mask,
        })
    }

    /// The order position of the block a walk from `lo` starts at.
    pub(crate) fn start(&self, lo: &SizeKey) -> usize {
        self.position_of(lo)
    }

    /// The block at order position `i`.
    pub(crate) fn block(&self, i: usize) -> Option<BlockView<'_>> {
        // The narrow copy of the fence sizes, which a best-fit walk reads block after block.
        self.view(ix(*self.order.get(i)?), *self.fence_sizes.get(i)?)
    }

    fn new_block(&mut self) -> u32 {
        if let Some(id) = self.free.pop() {
            return id;
        }
        // Every block but one holds a key and keys are bounded by the u32 slot space, so the
        // ID fits (and `pack` keeps it whole in 64 bits).
        let id = u32::try_from(self.meta.len()).unwrap_or(u32::MAX);
        self.meta.push(Meta::default());
        id
    }

    /// Writes a key into the lowest hole of block `id`, or appends it; returns its position.
    fn place(&mut self, id: usize, k: SizeKey, hot: Hot) -> Option<usize> {
        let holes = self.holes_of(id);
        let p = if holes == 0 {
            self.len_of(id)
        } else {
            usize::try_from(holes.trailing_zeros()).ok()?
        };
        let b = &mut self.meta.get_mut(id)?.block;
        *b.hot.get_mut(p)? = hot;
        b.cold[p] = Cold {
            tie: k.tie,
            number: k.number,
            slot: k.slot,
            target: k.target,
        };
        if holes == 0 {
            self.meta[id].len = u16::try_from(p + 1).ok()?;
        } else {
            self.meta[id].holes = holes & !(1u128 << p);
        }
        Some(p)
    }

    /// Makes position `p` of block `id` a hole (nothing is read or moved), then drops holes
    /// from the end.
    fn vacate(&mut self, id: usize, p: usize) -> Option<()> {
        let mut len = self.len_of(id);
        if p >= len {
            return None;
        }
        let mut holes = self.holes_of(id) | (1u128 << p);
        while len > 0 && (holes >> (len - 1)) & 1 != 0 {
            len -= 1;
            holes &= !(1u128 << len);
        }
        self.meta[id].holes = holes;
        self.meta[id].len = u16::try_from(len).ok()?;
        Some(())
    }

    /// The keys of block `id` with their hot entries.
    fn entries(&self, id: usize) -> Vec<(SizeKey, Hot)> {
        self.view(id, 0).map_or_else(Vec::new, |v| {
            (0..v.hot.len())
                .filter_map(|p| Some((v.key(p)?, v.hot[p])))
                .collect()
        })
    }

    /// Rewrites block `id` to hold exactly `entries`, without holes, and records their positions.
    fn refill(&mut self, id: u32, entries: Vec<(SizeKey, Hot)>) {
        self.meta[ix(id)].len = 0;
        self.meta[ix(id)].holes = 0;
        for (k, hot) in entries {
            if let Some(p) = self.place(ix(id), k, hot) {
                self.set_at(k.slot, pack(id, p));
            }
        }
    }

    fn set_at(&mut self, slot: u32, code: u64) {
        let s = ix(slot);
        if self.at.len() <= s {
            self.at.resize(s + 1, NOWHERE);
        }
        self.at[s] = code;
    }

    /// Adds a key whose target has `bits`; `sigs` are all targets' signatures (by target slot),
    /// read when a split recomputes masks. The slot must not be indexed.
    pub(crate) fn insert(&mut self, k: SizeKey, bits: TargetBits, sigs: &[u128]) {
        if self.order.is_empty() {
            let id = self.new_block();
            self.fences.push(SizeKey::MIN);
            self.fence_sizes.push(0);
            self.order.push(id);
            self.resample();
        }
        let mut i = self.position_of(&k);
        if self.live_of(ix(self.order[i])) >= CAP {
            self.split(i, sigs);
            i = self.position_of(&k);
        }
        let id = self.order[i];
        let hot = Hot {
            size: k.size,
            group: bits.group,
            tags: fold(bits.sig),
        };
        if let Some(p) = self.place(ix(id), k, hot) {
            self.meta[ix(id)].mask |= bits.sig;
            self.set_at(k.slot, pack(id, p));
            self.len += 1;
        }
    }

    /// Where the key of `slot` sits. Reading it is a cache miss of its own; a caller that knows
    /// the slot before it reads the LUN record can read both at once and hand this to
    /// [`AvailIndex::remove_located`].
    pub(crate) fn locate(&self, slot: u32) -> Located {
        Located(self.at.get(ix(slot)).copied().unwrap_or(NOWHERE))
    }

    /// Removes `k`, the key of its slot (the caller knows it, so the key is not read);
    /// `sigs` as for [`AvailIndex::insert`]. Returns whether the slot was indexed.
    pub(crate) fn remove(&mut self, k: &SizeKey, sigs: &[u128]) -> Option<()> {
        let at = self.locate(k.slot);
        self.remove_located(k, at, sigs)
    }

    /// As [`AvailIndex::remove`], with `at` from [`AvailIndex::locate`] for `k.slot`, read with
    /// no change to the index since.
    pub(crate) fn remove_located(&mut self, k: &SizeKey, at: Located, sigs: &[u128]) -> Option<()> {
        let slot = k.slot;
        let (b, p) = unpack(at.0)?;
        self.vacate(b, p)?;
        let left = self.live_of(b);
        self.set_at(slot, NOWHERE);
        self.len -= 1;
        let stale = &mut self.meta[b].stale;
        *stale = stale.saturating_add(1);
        if usize::from(*stale) >= CAP {
            self.refresh_mask(b, sigs);
        }
        if left < MERGE_BELOW {
            let i = self.position_of(k);
            self.merge_around(i);
        }
        Some(())
    }

    /// Records new entity group and signature bits for the target of a slot's key.
    pub(crate) fn retag(&mut self, slot: u32, bits: TargetBits) {
        let Some((b, p)) = self.at.get(ix(slot)).and_then(|&c| unpack(c)) else {
            return;
        };
        if p < self.len_of(b)
            && (self.holes_of(b) >> p) & 1 == 0
            && let Some(h) = self.meta.get_mut(b).and_then(|x| x.block.hot.get_mut(p))
        {
            h.group = bits.group;
            h.tags = fold(bits.sig);
        }
        if let Some(m) = self.meta.get_mut(b) {
            m.mask |= bits.sig;
        }
    }

    fn refresh_mask(&mut self, b: usize, sigs: &[u128]) {
        let Some(v) = self.view(b, 0) else {
            return;
        };
        let mask = (0..v.hot.len())
            .filter_map(|p| v.target(p))
            .map(|t| sigs.get(ix(t)).copied().unwrap_or(u128::MAX))
            .fold(0, |a, s| a | s);
        self.meta[b].mask = mask;
        self.meta[b].stale = 0;
    }

    /// Sorts the full block at order position `i` and moves its upper half to a new block.
    fn split(&mut self, i: usize, sigs: &[u128]) {
        let id = self.order[i];
        let fresh = self.new_block();
        let mut entries = self.entries(ix(id));
        entries.sort_unstable_by_key(|e| e.0);
        let upper = entries.split_off(entries.len() / 2);
        let fence = upper.first().map_or(SizeKey::MIN, |e| e.0);
        for (into, part) in [(id, entries), (fresh, upper)] {
            self.refill(into, part);
            self.refresh_mask(ix(into), sigs);
        }
        self.fences.insert(i + 1, fence);
        self.fence_sizes.insert(i + 1, fence.size);
        self.order.insert(i + 1, fresh);
        self.resample();
    }

    /// Merges the small block at order position `i` into a neighbour when they fit together, or
    /// drops it when it is empty and not the only block.
    fn merge_around(&mut self, i: usize) {
        let len_at = |j: usize| self.order.get(j).map(|&id| self.live_of(ix(id)));
        let Some(here) = len_at(i) else { return };
        if let Some(prev) = i.checked_sub(1).and_then(len_at)
            && prev + here <= MERGED_MAX
        {
            self.absorb(i - 1, i);
        } else if let Some(next) = len_at(i + 1)
            && here + next <= MERGED_MAX
        {
            self.absorb(i, i + 1);
        } else if here == 0 && self.order.len() > 1 {
            // Empty and both neighbours too full to merge with: drop it; the block before it (or,
            // for the first, the block after it) takes over its range.
            let id = self.order.remove(i);
            let f = if i == 0 { 1 } else { i };
            self.fences.remove(f);
            self.fence_sizes.remove(f);
            self.resample();
            self.meta[ix(id)].mask = 0;
            self.meta[ix(id)].stale = 0;
            self.meta[ix(id)].len = 0;
            self.meta[ix(id)].holes = 0;
            self.free.push(id);
        }
    }

    /// Moves the keys of the block at order position `j = i + 1` into the block at `i`.
    fn absorb(&mut self, i: usize, j: usize) {
        let (into, from) = (self.order[i], self.order[j]);
        let mut all = self.entries(ix(into));
        all.extend(self.entries(ix(from)));
        self.refill(into, all);
        self.meta[ix(from)].len = 0;
        self.meta[ix(from)].holes = 0;
        self.meta[ix(into)].mask |= self.meta[ix(from)].mask;
        self.meta[ix(from)].mask = 0;
        self.meta[ix(into)].stale = self.meta[ix(into)].stale.max(self.meta[ix(from)].stale);
        self.meta[ix(from)].stale = 0;
        self.order.remove(j);
        self.fences.remove(j);
        self.fence_sizes.remove(j);
        self.resample();
        self.free.push(from);
    }

    /// The largest key.
    pub(crate) fn last(&self) -> Option<SizeKey> {
        self.order
            .iter()
            .rev()
            .find_map(|&id| self.view(ix(id), 0)?.keys().max())
    }

    /// The keys from `lo` upward, in order (sorting one block at a time).
    pub(crate) fn sorted_from(&self, lo: SizeKey) -> Sorted<'_> {
        Sorted {
            index: self,
            next_block: self.start(&lo),
            lo,
            buf: Vec::new(),
            at: 0,
        }
    }

    /// Every key, in no particular order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = SizeKey> + '_ {
        self.order
            .iter()
            .flat_map(|&id| self.entries(ix(id)).into_iter().map(|e| e.0))
    }

    /// Checks the structure against the targets' `bits` (by target slot): fences ordered, every
    /// key inside its block's range and found where its slot says, each key's entity group and
    /// tag bits those of its target, masks covering the signatures, the length consistent.
    pub(crate) fn check(&self, bits: impl Fn(u32) -> Option<TargetBits>) -> Result<(), String> {
        if self.fences.len() != self.order.len()
            || self
                .fences
                .iter()
                .map(|f| f.size)
                .ne(self.fence_sizes.iter().copied())
        {
            return Err("avail: fences, fence sizes and order disagree".into());
        }
        if self.fences.first().is_some_and(|f| *f != SizeKey::MIN) {
            return Err("avail: first fence is not the minimum key".into());
        }
        if self.fences.windows(2).any(|w| w[0] >= w[1]) {
            return Err("avail: fences out of order".into());
        }
        if self
            .samples
            .iter()
            .ne(self.fence_sizes.iter().step_by(SAMPLE))
        {
            return Err("avail: samples are not every SAMPLE-th fence size".into());
        }
        let mut seen = vec![false; self.meta.len()];
        let mut total = 0usize;
        for (i, (&id, fence)) in self.order.iter().zip(&self.fences).enumerate() {
            let block = self
                .view(ix(id), fence.size)
                .ok_or_else(|| format!("avail: block {id} missing or overfull"))?;
            if core::mem::replace(&mut seen[ix(id)], true) {
                return Err(format!("avail: block {id} listed twice"));
            }
            let n = block.hot.len();
            let live = self.live_of(ix(id));
            if live == 0 && self.order.len() > 1 {
                return Err(format!("avail: block {id} is empty"));
            }
            let below_len = if n >= CAP {
                u128::MAX
            } else {
                (1u128 << n) - 1
            };
            if block.holes & !below_len != 0 || (n > 0 && block.is_hole(n - 1)) {
                return Err(format!("avail: block {id} has holes at or past its end"));
            }
            let next = self.fences.get(i + 1);
            let mut mask = 0;
            for p in (0..n).filter(|&p| !block.is_hole(p)) {
                let k = block.key(p).ok_or("avail: key missing")?;
                if k < *fence || next.is_some_and(|n| k >= *n) {
                    return Err(format!("avail: key {k:?} outside block {id}"));
                }
                if self.at.get(ix(k.slot)).copied() != Some(pack(id, p)) {
                    return Err(format!("avail: slot {} not found where its key is", k.slot));
                }
                let want = bits(k.target).ok_or("avail: key of a missing target")?;
                if block.hot[p].group != want.group || block.hot[p].tags != fold(want.sig) {
                    return Err(format!("avail: slot {} carries stale target bits", k.slot));
                }
                mask |= want.sig;
            }
            if mask & !self.meta[ix(id)].mask != 0 {
                return Err(format!("avail: mask of block {id} misses group bits"));
            }
            total += live;
        }
        let free_ok = self
            .free
            .iter()
            .all(|&id| !seen.get(ix(id)).copied().unwrap_or(true));
        if !free_ok || seen.iter().filter(|&&s| !s).count() != self.free.len() {
            return Err("avail: free block list is wrong".into());
        }
        let placed = self.at.iter().filter(|&&c| c != NOWHERE).count();
        if total != self.len || placed != self.len {
            return Err(format!(
                "avail: {} keys, {total} in blocks, {placed} placed",
                self.len
            ));
        }
        Ok(())
    }
}

/// Keys from a lower bound upward in order; see [`AvailIndex::sorted_from`].
pub(crate) struct Sorted<'a> {
    index: &'a AvailIndex,
    next_block: usize,
    lo: SizeKey,
    buf: Vec<SizeKey>,
    at: usize,
}

impl Iterator for Sorted<'_> {
    type Item = SizeKey;

    fn next(&mut self) -> Option<SizeKey> {
        while self.at >= self.buf.len() {
            let view = self.index.block(self.next_block)?;
            self.next_block += 1;
            self.buf.clear();
            self.buf.extend(view.keys().filter(|k| *k >= self.lo));
            self.buf.sort_unstable();
            self.at = 0;
        }
        let k = self.buf.get(self.at).copied();
        self.at += 1;
        k
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{AvailIndex, CAP, TargetBits, group_bit};
    use crate::inventory::SizeKey;

    const TARGETS: u32 = 40;
    /// Half a block, as a slot count.
    const HALF: u32 = 64;
    const _: () = assert!(HALF as usize * 2 == CAP);

    /// Target `t` is in entity group `t % 5` and tag group `5 + t % 3`.
    fn bits(t: u32) -> TargetBits {
        TargetBits {
            group: t % 5,
            sig: group_bit(t % 5) | group_bit(5 + t % 3),
        }
    }

    fn sigs() -> Vec<u128> {
        (0..TARGETS).map(|t| bits(t).sig).collect()
    }

    fn key(size: u64, slot: u32) -> SizeKey {
        let target = slot % TARGETS;
        SizeKey {
            size,
            tie: u64::from(target) * 7,
            number: u64::from(slot / TARGETS),
            slot,
            target,
        }
    }

    fn agree(ix: &AvailIndex, oracle: &BTreeSet<SizeKey>, probes: &[u64]) {
        ix.check(|t| (t < TARGETS).then(|| bits(t))).unwrap();
        assert_eq!(ix.len(), oracle.len());
        assert_eq!(ix.last(), oracle.last().copied());
        for &p in probes {
            let lo = SizeKey::at_least(p);
            let got: Vec<SizeKey> = ix.sorted_from(lo).take(300).collect();
            let want: Vec<SizeKey> = oracle.range(lo..).take(300).copied().collect();
            assert_eq!(got, want, "from {p}");
        }
    }

    #[test]
    fn random_inserts_and_removes_keep_blocks_fences_and_positions_consistent() {
        let mut ix = AvailIndex::default();
        let mut oracle = BTreeSet::new();
        let mut present: Vec<Option<SizeKey>> = vec![None; 6000];
        let sigs = sigs();
        let mut rnd = crate::test_rng(0x2545_f491_4f6c_dd1d);
        let (mut max_blocks, mut min_blocks_after_peak) = (0, usize::MAX);
        for step in 0..60_000u32 {
            // Grow to ~5,000 keys, shrink to a few, grow again: splits, merges and drops.
            let phase = (step / 15_000) % 2;
            let want_insert = if phase == 0 {
                rnd(100) < 70
            } else {
                rnd(100) < 3
            };
            let slot = u32::try_from(rnd(6000)).unwrap();
            match (present[slot as usize], want_insert) {
                (None, true) => {
                    // Few distinct sizes, so equal sizes straddle blocks.
                    let k = key(rnd(300) * 1000, slot);
                    ix.insert(k, bits(k.target), &sigs);
                    oracle.insert(k);
                    present[slot as usize] = Some(k);
                }
                (Some(k), false) => {
                    assert_eq!(ix.remove(&k, &sigs), Some(()));
                    oracle.remove(&k);
                    present[slot as usize] = None;
                }
                _ => {}
            }
            max_blocks = max_blocks.max(ix.order.len());
            if max_blocks > 30 {
                min_blocks_after_peak = min_blocks_after_peak.min(ix.order.len());
            }
            if step % 1009 == 0 {
                agree(&ix, &oracle, &[0, 1000, 150_000, 299_000, 400_000]);
            }
        }
        agree(&ix, &oracle, &[0, 77_000, 299_000]);
        // The walk split its way to ~4,200 keys in many blocks and merged most away again.
        assert!(max_blocks * CAP > 4200, "{max_blocks}");
        assert!(
            min_blocks_after_peak * 4 < max_blocks,
            "{min_blocks_after_peak}"
        );
    }

    #[test]
    fn masks_cover_retagged_targets_and_shed_stale_bits_after_cap_removals() {
        let mut ix = AvailIndex::default();
        let mut sigs = sigs();
        for slot in 0..HALF {
            let k = key(10, slot);
            ix.insert(k, bits(k.target), &sigs);
        }
        let view = ix.block(0).unwrap();
        assert_eq!(view.mask, sigs.iter().fold(0, |a, s| a | s));
        // Target 3 gains group 100: its keys are retagged and the mask gains the bit.
        sigs[3] |= group_bit(100);
        for slot in (3..HALF).step_by(TARGETS as usize) {
            ix.retag(
                slot,
                TargetBits {
                    group: 3,
                    sig: sigs[3],
                },
            );
        }
        assert_ne!(ix.block(0).unwrap().mask & group_bit(100), 0);
        ix.check(|t| {
            (t < TARGETS).then(|| TargetBits {
                group: t % 5,
                sig: sigs[t as usize],
            })
        })
        .unwrap();
        // Remove every key of target 3, then churn other keys until CAP removals happened.
        for slot in (3..HALF).step_by(TARGETS as usize) {
            ix.remove(&key(10, slot), &sigs).unwrap();
        }
        let mut removals = (HALF - 3).div_ceil(TARGETS);
        let mut next = 1000;
        while removals < 2 * HALF {
            let k = key(11, next + 1);
            ix.insert(k, bits(k.target), &sigs);
            ix.remove(&k, &sigs).unwrap();
            removals += 1;
            next += TARGETS;
        }
        assert_eq!(ix.block(0).unwrap().mask & group_bit(100), 0);
    }

    /// Three blocks: sizes `0..640` step 10 plus `extra_a` more in that range, `640..1280` step
    /// 10, and `10_000..` with `extra_c` more; returns the index, the oracle and the keys of the
    /// middle block.
    fn three_blocks(extra_a: u64, extra_c: u64) -> (AvailIndex, BTreeSet<SizeKey>, Vec<SizeKey>) {
        let (mut ix, mut oracle, sigs) = (AvailIndex::default(), BTreeSet::new(), sigs());
        let mut slot = 0;
        let mut add = |ix: &mut AvailIndex, size: u64| {
            let k = key(size, slot);
            slot += 1;
            ix.insert(k, bits(k.target), &sigs);
            oracle.insert(k);
            k
        };
        let middle: Vec<SizeKey> = (0..128u64)
            .map(|i| add(&mut ix, i * 10))
            .filter(|k| k.size >= 640)
            .collect();
        for i in 0..64 {
            add(&mut ix, 10_000 + i);
        }
        for i in 0..extra_a {
            add(&mut ix, 1 + i * 10);
        }
        for i in 0..extra_c {
            add(&mut ix, 20_000 + i);
        }
        assert_eq!(ix.order.len(), 3);
        (ix, oracle, middle)
    }

    #[test]
    fn an_emptied_block_between_two_full_ones_is_dropped() {
        let (mut ix, mut oracle, middle) = three_blocks(40, 40);
        let sigs = sigs();
        for k in &middle {
            ix.remove(k, &sigs).unwrap();
            oracle.remove(k);
        }
        assert_eq!(ix.order.len(), 2);
        assert_eq!(ix.free.len(), 1);
        agree(&ix, &oracle, &[0, 600, 640, 1300, 10_000]);
    }

    #[test]
    fn an_emptied_first_block_is_dropped_and_its_range_goes_to_the_next() {
        let (mut ix, mut oracle, _) = three_blocks(0, 40);
        let sigs = sigs();
        // Fill the middle block past what a merge with the first could hold.
        for i in 0..40u32 {
            let k = key(645 + u64::from(i) * 10, 500 + i);
            ix.insert(k, bits(k.target), &sigs);
            oracle.insert(k);
        }
        let first: Vec<SizeKey> = oracle.iter().copied().filter(|k| k.size < 640).collect();
        for k in &first {
            ix.remove(k, &sigs).unwrap();
            oracle.remove(k);
        }
        assert_eq!(ix.order.len(), 2);
        assert_eq!(ix.fences[0], SizeKey::MIN);
        agree(&ix, &oracle, &[0, 640, 1300, 10_000]);
        // A key below the old first block's range lands in the new first block.
        let k = key(5, 900);
        ix.insert(k, bits(k.target), &sigs);
        oracle.insert(k);
        agree(&ix, &oracle, &[0, 5, 6]);
    }
}
