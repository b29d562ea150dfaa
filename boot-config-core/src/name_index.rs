//! Target name → target slot, hashed: one probe into a flat table, then the name is confirmed
//! against the target record (which the caller reads anyway), so a lookup costs one cache miss
//! more than reading the target — where a map keyed by owned strings costs three (control
//! bytes, bucket, key string).
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

    /// The slot of `name`; `name_of` gives the name of a target slot.
    pub(crate) fn get<'n>(&self, name: &str, name_of: impl Fn(u32) -> Option<&'n str>) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        let hash = fragment(name);
        let mut i = self.home(hash);
        for _ in 0..self.table.len() {
            let e = self.table[i];
            let t = e.target.checked_sub(1)?;
            if e.hash == hash && name_of(t) == Some(name) {
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

    /// A brute-force oracle: names by slot, `None` for free slots.
    fn check(ix: &NameIndex, names: &[Option<String>]) {
        let name_of = |t: u32| names.get(t as usize).and_then(|n| n.as_deref());
        for (t, n) in names.iter().enumerate() {
            if let Some(n) = n {
                assert_eq!(ix.get(n, name_of), Some(t as u32), "{n}");
            }
        }
        assert_eq!(ix.len(), names.iter().flatten().count());
        let mut slots: Vec<u32> = ix.slots().collect();
        slots.sort_unstable();
        let want: Vec<u32> = (0..names.len() as u32)
            .filter(|&t| names[t as usize].is_some())
            .collect();
        assert_eq!(slots, want);
    }

    #[test]
    fn finds_every_name_through_growth_and_backward_shift_deletion() {
        let mut ix = NameIndex::default();
        let mut names: Vec<Option<String>> = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = (x % 700) as usize;
            if names.len() <= t {
                names.resize(t + 1, None);
            }
            match names[t].take() {
                Some(n) => {
                    assert!(ix.remove(&n, t as u32));
                    assert!(!ix.remove(&n, t as u32));
                    let name_of = |s: u32| names.get(s as usize).and_then(|n| n.as_deref());
                    assert_eq!(ix.get(&n, name_of), None);
                }
                None => {
                    let n = format!("iqn.2026-01.com.example:t{step}");
                    ix.insert(&n, t as u32);
                    names[t] = Some(n);
                }
            }
            if step % 97 == 0 {
                check(&ix, &names);
            }
        }
        check(&ix, &names);
        assert!(ix.len() > 200, "{}", ix.len());
    }

    #[test]
    fn an_unknown_name_or_an_empty_table_finds_nothing() {
        let mut ix = NameIndex::default();
        assert_eq!(ix.get("iqn.x", |_| None), None);
        ix.insert("iqn.a", 0);
        assert_eq!(ix.get("iqn.b", |_| Some("iqn.a")), None);
        assert!(!ix.remove("iqn.a", 1));
        assert_eq!(ix.len(), 1);
        assert!(ix.remove("iqn.a", 0));
        assert_eq!(ix.get("iqn.a", |_| Some("iqn.a")), None);
    }
}
