//! The available-LUN index: the [`SizeKey`] of every selectable LUN, in best-fit order, kept in
//! blocks so that changing one LUN costs a few cache misses however large the inventory is.
//!
//! * The blocks partition the key space: the block at order position `i` holds the keys in
//!   `fences[i]..fences[i + 1]` (`fences[0]` is the smallest key there is), at most [`CAP`] of
//!   them, **unsorted**, in an allocation of exactly `CAP` keys that never moves.
//! * Every LUN slot records where its key sits (block and position). Removing a key is a swap
//!   with the last key of its block; inserting one is a binary search over the fences (a small
//!   array that stays in cache) and an append. A resize (remove + insert) thus touches the LUN's
//!   position entry, two key positions and one block length — no tree descent, one index only.
//! * Each block has a mask of the groups (entities, tags) of its keys' targets (bit `g % 128` for
//!   group `g`), so a walk constrained to some groups skips blocks that cannot hold a candidate.
//!   Removals leave stale bits behind (the mask stays a superset, which is all a filter needs);
//!   after [`CAP`] removals the mask is recomputed from the targets' signatures.
//! * A block that fills up is sorted and split in two; one that falls below a quarter is merged
//!   with a neighbour when the two fit in three quarters of a block.
//!
//! Selection walks blocks in order from the block holding its lower bound: the first block with
//! a passing key holds the best one. Callers that need keys one by one in order (explanations,
//! the largest LUN) use [`AvailIndex::sorted_from`], which sorts one block at a time.

use crate::inventory::{SizeKey, ix};

/// Keys per block at most.
pub(crate) const CAP: usize = 128;
/// A block below this many keys is merged with a neighbour when they fit in [`MERGED_MAX`].
const MERGE_BELOW: usize = CAP / 4;
/// Largest block a merge may produce (leaves room before the next split).
const MERGED_MAX: usize = CAP * 3 / 4;
/// "Not indexed" in [`AvailIndex::at`].
const NOWHERE: u64 = u64::MAX;
// Positions are packed as `block * CAP + position`; CAP is a power of two.
const POS_BITS: u32 = CAP.trailing_zeros();

/// The mask bit of a group.
pub(crate) fn group_bit(g: u32) -> u128 {
    1u128 << (g % 128)
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
    /// Keys by block ID (capacity exactly [`CAP`]; emptied blocks are kept for reuse).
    blocks: Vec<Vec<SizeKey>>,
    /// Group mask by block ID (a superset of its keys' target signatures).
    masks: Vec<u128>,
    /// Removals since the block's mask was last recomputed, by block ID.
    stale: Vec<u16>,
    /// Unused block IDs.
    free: Vec<u32>,
    /// By LUN slot: `block * CAP + position` of its key, or [`NOWHERE`].
    at: Vec<u64>,
    len: usize,
}

/// One block as a walk sees it.
pub(crate) struct BlockView<'a> {
    /// Its keys, unsorted.
    pub(crate) keys: &'a [SizeKey],
    /// The smallest key it may hold.
    pub(crate) fence: SizeKey,
    /// A superset of the group bits of its keys' targets.
    pub(crate) mask: u128,
}

fn pack(block: u32, pos: usize) -> u64 {
    (u64::from(block) << POS_BITS) | u64::try_from(pos).unwrap_or(0)
}

fn unpack(code: u64) -> Option<(usize, usize)> {
    let block = usize::try_from(code >> POS_BITS).ok()?;
    let pos = usize::try_from(code & (u64::try_from(CAP).ok()? - 1)).ok()?;
    Some((block, pos))
}

impl AvailIndex {
    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The order position of the block whose range holds `k`.
    fn position_of(&self, k: &SizeKey) -> usize {
        let mut i = self
            .fence_sizes
            .partition_point(|&s| s <= k.size)
            .saturating_sub(1);
        // Blocks whose fence has k's size but a larger key come after k's block.
        while i > 0 && self.fences.get(i).is_some_and(|f| f > k) {
            i -= 1;
        }
        i
    }

    /// The order position of the block a walk from `lo` starts at.
    pub(crate) fn start(&self, lo: &SizeKey) -> usize {
        self.position_of(lo)
    }

    /// The block at order position `i`.
    pub(crate) fn block(&self, i: usize) -> Option<BlockView<'_>> {
        let id = ix(*self.order.get(i)?);
        Some(BlockView {
            keys: self.blocks.get(id)?,
            fence: *self.fences.get(i)?,
            mask: self.masks.get(id).copied().unwrap_or(u128::MAX),
        })
    }

    fn new_block(&mut self) -> u32 {
        if let Some(id) = self.free.pop() {
            return id;
        }
        // Block IDs are bounded by the number of keys (every block but one is non-empty), and
        // keys by the u32 slot space, so the ID always fits.
        let id = u32::try_from(self.blocks.len()).unwrap_or(u32::MAX);
        self.blocks.push(Vec::with_capacity(CAP));
        self.masks.push(0);
        self.stale.push(0);
        id
    }

    fn set_at(&mut self, slot: u32, code: u64) {
        let s = ix(slot);
        if self.at.len() <= s {
            self.at.resize(s + 1, NOWHERE);
        }
        self.at[s] = code;
    }

    /// Adds a key whose target has the group signature `sig`. The slot must not be indexed.
    pub(crate) fn insert(&mut self, k: SizeKey, sig: u128) {
        if self.order.is_empty() {
            let id = self.new_block();
            self.fences.push(SizeKey::MIN);
            self.fence_sizes.push(0);
            self.order.push(id);
        }
        let mut i = self.position_of(&k);
        if self.blocks[ix(self.order[i])].len() >= CAP {
            self.split(i);
            i = self.position_of(&k);
        }
        let id = self.order[i];
        let block = &mut self.blocks[ix(id)];
        let pos = block.len();
        block.push(k);
        self.masks[ix(id)] |= sig;
        self.set_at(k.slot, pack(id, pos));
        self.len += 1;
    }

    /// Removes the key of a LUN slot and returns it; `sigs` are the targets' group signatures
    /// (by target slot), read when a block's mask is recomputed.
    pub(crate) fn remove(&mut self, slot: u32, sigs: &[u128]) -> Option<SizeKey> {
        let (b, p) = unpack(*self.at.get(ix(slot))?)?;
        let block = self.blocks.get_mut(b)?;
        if p >= block.len() {
            return None;
        }
        let k = block.swap_remove(p);
        let moved = block.get(p).map(|m| m.slot);
        let left = block.len();
        let id = u32::try_from(b).ok()?;
        if let Some(m) = moved {
            self.set_at(m, pack(id, p));
        }
        self.set_at(slot, NOWHERE);
        self.len -= 1;
        let stale = &mut self.stale[b];
        *stale = stale.saturating_add(1);
        if usize::from(*stale) >= CAP {
            *stale = 0;
            self.masks[b] = self.blocks[b]
                .iter()
                .map(|k| sigs.get(ix(k.target)).copied().unwrap_or(u128::MAX))
                .fold(0, |a, s| a | s);
        }
        if left < MERGE_BELOW {
            let i = self.position_of(&k);
            self.merge_around(i);
        }
        Some(k)
    }

    /// Adds group bits to the mask of the block holding a slot's key.
    pub(crate) fn add_bits(&mut self, slot: u32, bits: u128) {
        if let Some((b, _)) = self.at.get(ix(slot)).and_then(|&c| unpack(c))
            && let Some(m) = self.masks.get_mut(b)
        {
            *m |= bits;
        }
    }

    /// Sorts the full block at order position `i` and moves its upper half to a new block.
    fn split(&mut self, i: usize) {
        let id = self.order[i];
        let fresh = self.new_block();
        let mut keys = core::mem::take(&mut self.blocks[ix(id)]);
        keys.sort_unstable();
        let mut upper = core::mem::take(&mut self.blocks[ix(fresh)]);
        upper.extend(keys.drain(keys.len() / 2..));
        for (p, k) in keys.iter().enumerate() {
            self.set_at(k.slot, pack(id, p));
        }
        for (p, k) in upper.iter().enumerate() {
            self.set_at(k.slot, pack(fresh, p));
        }
        let fence = upper.first().copied().unwrap_or(SizeKey::MIN);
        self.blocks[ix(id)] = keys;
        self.blocks[ix(fresh)] = upper;
        // Both halves keep the whole mask: a superset of each.
        self.masks[ix(fresh)] = self.masks[ix(id)];
        self.stale[ix(fresh)] = self.stale[ix(id)];
        self.fences.insert(i + 1, fence);
        self.fence_sizes.insert(i + 1, fence.size);
        self.order.insert(i + 1, fresh);
    }

    /// Merges the small block at order position `i` into a neighbour when they fit together, or
    /// drops it when it is empty and not the only block.
    fn merge_around(&mut self, i: usize) {
        let len_at = |j: usize| {
            self.order
                .get(j)
                .and_then(|&id| self.blocks.get(ix(id)))
                .map(Vec::len)
        };
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
            self.free.push(id);
        }
    }

    /// Moves the keys of the block at order position `j = i + 1` into the block at `i`.
    fn absorb(&mut self, i: usize, j: usize) {
        let (into, from) = (self.order[i], self.order[j]);
        let moved = core::mem::take(&mut self.blocks[ix(from)]);
        let base = self.blocks[ix(into)].len();
        for (p, k) in moved.iter().enumerate() {
            self.set_at(k.slot, pack(into, base + p));
        }
        self.blocks[ix(into)].extend_from_slice(&moved);
        let mut moved = moved;
        moved.clear();
        self.blocks[ix(from)] = moved;
        self.masks[ix(into)] |= self.masks[ix(from)];
        self.masks[ix(from)] = 0;
        self.stale[ix(into)] = self.stale[ix(into)].max(self.stale[ix(from)]);
        self.stale[ix(from)] = 0;
        self.order.remove(j);
        self.fences.remove(j);
        self.fence_sizes.remove(j);
        self.free.push(from);
    }

    /// The largest key.
    pub(crate) fn last(&self) -> Option<SizeKey> {
        self.order
            .iter()
            .rev()
            .find_map(|&id| self.blocks.get(ix(id))?.iter().max().copied())
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
    pub(crate) fn keys(&self) -> impl Iterator<Item = &SizeKey> {
        self.order
            .iter()
            .filter_map(|&id| self.blocks.get(ix(id)))
            .flatten()
    }

    /// Checks the structure: fences ordered, every key inside its block's range and found
    /// where its slot says, masks covering the signatures, sizes and the length consistent.
    pub(crate) fn check(&self, sigs: &[u128]) -> Result<(), String> {
        if self.fences.len() != self.order.len()
            || self.fences.iter().map(|f| f.size).ne(self.fence_sizes.iter().copied())
        {
            return Err("avail: fences, fence sizes and order disagree".into());
        }
        if self.fences.first().is_some_and(|f| *f != SizeKey::MIN) {
            return Err("avail: first fence is not the minimum key".into());
        }
        if self.fences.windows(2).any(|w| w[0] >= w[1]) {
            return Err("avail: fences out of order".into());
        }
        let mut seen = vec![false; self.blocks.len()];
        let mut total = 0usize;
        for (i, (&id, fence)) in self.order.iter().zip(&self.fences).enumerate() {
            let keys = self
                .blocks
                .get(ix(id))
                .ok_or_else(|| format!("avail: block {id} missing"))?;
            if core::mem::replace(&mut seen[ix(id)], true) {
                return Err(format!("avail: block {id} listed twice"));
            }
            if keys.len() > CAP || keys.capacity() != CAP {
                return Err(format!("avail: block {id} holds {} keys", keys.len()));
            }
            if keys.is_empty() && self.order.len() > 1 {
                return Err(format!("avail: block {id} is empty"));
            }
            let next = self.fences.get(i + 1);
            let mut mask = 0;
            for (p, k) in keys.iter().enumerate() {
                if k < fence || next.is_some_and(|n| k >= n) {
                    return Err(format!("avail: key {k:?} outside block {id}"));
                }
                if self.at.get(ix(k.slot)).copied() != Some(pack(id, p)) {
                    return Err(format!("avail: slot {} not found where its key is", k.slot));
                }
                mask |= sigs.get(ix(k.target)).copied().unwrap_or(u128::MAX);
            }
            if mask & !self.masks[ix(id)] != 0 {
                return Err(format!("avail: mask of block {id} misses group bits"));
            }
            total += keys.len();
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
            let block = self.index.block(self.next_block)?;
            self.next_block += 1;
            self.buf.clear();
            self.buf
                .extend(block.keys.iter().filter(|k| **k >= self.lo).copied());
            self.buf.sort_unstable();
            self.at = 0;
        }
        let k = self.buf.get(self.at).copied();
        self.at += 1;
        k
    }
}
