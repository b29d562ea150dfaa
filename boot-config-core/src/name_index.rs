//! Target name → target slot, hashed: one probe into a flat table, then the name is confirmed
//! against the target record (which the caller reads anyway, and which keeps a copy of a short
//! name inline), so a lookup costs one cache miss more than reading the target — where a map
//! keyed by owned strings costs three in a row (control bytes, bucket, key string).
//!
//! Open addressing with linear probing and backward-shift deletion over entries of a 32-bit
//! hash fragment and a slot; the table is kept at most half full. The hash is SipHash with
//! fixed keys, so nothing depends on process randomness.

use core::hash::{BuildHasher, BuildHasherDefault};
use std::hash::DefaultHasher;

/// One table entry: `(hash fragment, target slot + 1)`; slot 0 marks an empty entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    hash: u32,
    target: u32,
}

/// The index; see the module documentation.
#[derive(Clone, Debug, Default)]
pub(crate) struct NameIndex {
    table: Vec<Entry>,
    len: usize,
}

fn fragment(name: &str) -> u32 {
    let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(name);
    // The low half of the 64-bit hash; slots derive from it alone, so entries can be moved
    // (growth, deletion) without the names.
    u32::try_from(h & u64::from(u32::MAX)).unwrap_or(0)
}

impl NameIndex {
    /// Number of names.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn home(&self, hash: u32) -> usize {
        usize::try_from(hash).unwrap_or(0) & (self.table.len().wrapping_sub(1))
    }

    /// The slot of `name`; `is_named(t, name)` says whether target slot `t` has that name.
    pub(crate) fn get(&self, name: &str, is_named: impl Fn(u32, &str) -> bool) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        let hash = fragment(name);
        let mut i = self.home(hash);
        for _ in 0..self.table.len() {
            let e = self.table[i];
            let t = e.target.checked_sub(1)?;
            if e.hash == hash && is_named(t, name) {
                return Some(t);
            }
            i = (i + 1) & (self.table.len() - 1);
        }
        None
    }

    /// Adds `name` → `t`; `name` must not be present.
    pub(crate) fn insert(&mut self, name: &str, t: u32) {
        if (self.len + 1) * 2 > self.table.len() {
            self.grow();
        }
        self.place(Entry {
            hash: fragment(name),
            target: t.saturating_add(1),
        });
        self.len += 1;
    }

    fn place(&mut self, e: Entry) {
        let mask = self.table.len() - 1;
        let mut i = self.home(e.hash);
        while self.table[i].target != 0 {
            i = (i + 1) & mask;
        }
        self.table[i] = e;
    }

    fn grow(&mut self) {
        let cap = (self.table.len() * 2).max(16);
        let old = core::mem::replace(&mut self.table, vec![Entry::default(); cap]);
        for e in old.into_iter().filter(|e| e.target != 0) {
            self.place(e);
        }
    }

    /// Removes the entry of `name` for slot `t`; returns whether there was one.
    pub(crate) fn remove(&mut self, name: &str, t: u32) -> bool {
        if self.table.is_empty() {
            return false;
        }
        let mask = self.table.len() - 1;
        let want = t.saturating_add(1);
        let mut hole = self.home(fragment(name));
        loop {
            match self.table[hole].target {
                0 => return false,
                x if x == want => break,
                _ => hole = (hole + 1) & mask,
            }
        }
        // Backward shift: pull later entries of the probe run into the hole when their home
        // does not lie (cyclically) after the hole.
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let e = self.table[j];
            if e.target == 0 {
                break;
            }
            let home = self.home(e.hash);
            let dist_home = j.wrapping_sub(home) & mask;
            let dist_hole = j.wrapping_sub(hole) & mask;
            if dist_home >= dist_hole {
                self.table[hole] = e;
                hole = j;
            }
        }
        self.table[hole] = Entry::default();
        self.len -= 1;
        true
    }

    /// Every slot held, in table order.
    pub(crate) fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.table.iter().filter_map(|e| e.target.checked_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::NameIndex;

    fn ix(t: u32) -> usize {
        usize::try_from(t).unwrap()
    }

    /// Checks `index` against a brute-force oracle: names by slot, `None` for free slots.
    fn check(index: &NameIndex, names: &[Option<String>]) {
        let name_of = |t: u32, n: &str| names.get(ix(t)).and_then(|n| n.as_deref()) == Some(n);
        let mut want = Vec::new();
        for (t, n) in (0u32..).zip(names) {
            if let Some(n) = n {
                assert_eq!(index.get(n, name_of), Some(t), "{n}");
                want.push(t);
            }
        }
        assert_eq!(index.len(), want.len());
        let mut slots: Vec<u32> = index.slots().collect();
        slots.sort_unstable();
        assert_eq!(slots, want);
    }

    #[test]
    fn finds_every_name_through_growth_and_backward_shift_deletion() {
        let mut index = NameIndex::default();
        let mut names: Vec<Option<String>> = vec![None; 700];
        let mut rnd = crate::test_rng(0x9e37_79b9_7f4a_7c15);
        for step in 0..20_000 {
            let t = u32::try_from(rnd(700)).unwrap();
            match names[ix(t)].take() {
                Some(n) => {
                    assert!(index.remove(&n, t));
                    assert!(!index.remove(&n, t));
                    let name_of =
                        |s: u32, n: &str| names.get(ix(s)).and_then(|n| n.as_deref()) == Some(n);
                    assert_eq!(index.get(&n, name_of), None);
                }
                None => {
                    let n = format!("iqn.2026-01.com.example:t{step}");
                    index.insert(&n, t);
                    names[ix(t)] = Some(n);
                }
            }
            if step % 97 == 0 {
                check(&index, &names);
            }
        }
        check(&index, &names);
        assert!(index.len() > 200, "{}", index.len());
    }

    #[test]
    fn an_unknown_name_or_an_empty_table_finds_nothing() {
        let mut index = NameIndex::default();
        let only_a = |_: u32, n: &str| n == "iqn.a";
        assert_eq!(index.get("iqn.x", |_, _| false), None);
        index.insert("iqn.a", 0);
        assert_eq!(index.get("iqn.b", only_a), None);
        assert!(!index.remove("iqn.a", 1));
        assert_eq!(index.len(), 1);
        assert!(index.remove("iqn.a", 0));
        assert_eq!(index.get("iqn.a", only_a), None);
    }
}
