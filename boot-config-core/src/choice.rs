//! Why a selection chose its LUN: the policy, how many LUNs qualified, and the runner-up with
//! the reason it lost — the success-side counterpart of a [`crate::Rejection`].
//!
//! The explanation is computed after the pick. For best fit it walks the size index upward
//! from the request's minimum, counting at most [`COUNT_LIMIT`] fitting LUNs and reading at
//! most [`EXAMINE_LIMIT`] keys, so a selection stays cheap at a million LUNs; first fit and
//! least loaded read every LUN record (O(n)), as their pick may in its worst case.

use core::cmp::Ordering;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::inventory::{Inventory, ix};
use crate::names::{EntityId, LunNumber, LunRef, human_bytes};
use crate::request::{BootRequest, Policy};
use crate::select::{isolation_failure, target_failures};

/// Why one placement was chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// The policy that ordered the candidates.
    pub policy: Policy,
    /// Available LUNs that satisfied size and constraints (the winner included).
    pub candidates: usize,
    /// False when counting stopped at a bound: `candidates` is then a lower bound.
    #[serde(default = "counted_all")]
    pub complete: bool,
    /// The best LUN that was not chosen, if any other qualified.
    pub runner_up: Option<RunnerUp>,
}

/// The LUN that came second, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerUp {
    /// The LUN.
    pub lun: LunRef,
    /// Its size in bytes.
    pub size: u64,
    /// Its entity (storage system).
    pub entity: EntityId,
    /// Why the winner beat it.
    pub lost_because: LostBecause,
}

/// Why the runner-up lost, in the policy's own terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LostBecause {
    /// Best fit: it is larger than the winner.
    Larger {
        /// The winner's size.
        winner: u64,
        /// The runner-up's size.
        runner_up: u64,
    },
    /// Best fit: same size; the stable target-name hash (then LUN number) broke the tie.
    SizeTie,
    /// First fit: its target's name sorts after the winner's.
    LaterTarget,
    /// First fit: same target, higher LUN number.
    HigherLun,
    /// Least loaded: its target holds more LUNs for servers.
    MoreLoaded {
        /// LUNs held on the winner's target.
        winner: u32,
        /// LUNs held on the runner-up's target.
        runner_up: u32,
    },
    /// Least loaded: the same load; the stable target-name hash broke the tie.
    LoadTie,
    /// Least loaded: same target, a larger LUN.
    LargerOnSameTarget {
        /// The winner's size.
        winner: u64,
        /// The runner-up's size.
        runner_up: u64,
    },
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::BestFit => "best fit",
            Policy::FirstFit => "first fit",
            Policy::LeastLoaded => "least loaded",
        })
    }
}

impl fmt::Display for LostBecause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LostBecause::Larger { winner, runner_up } => write!(
                f,
                "it is larger ({} against {})",
                human_bytes(*runner_up),
                human_bytes(*winner)
            ),
            LostBecause::SizeTie => f.write_str("same size; the stable target-name hash decided"),
            LostBecause::LaterTarget => f.write_str("its target's name sorts later"),
            LostBecause::HigherLun => f.write_str("a higher LUN number on the same target"),
            LostBecause::MoreLoaded { winner, runner_up } => write!(
                f,
                "its target holds more LUNs for servers ({runner_up} against {winner})"
            ),
            LostBecause::LoadTie => f.write_str("same load; the stable target-name hash decided"),
            LostBecause::LargerOnSameTarget { winner, runner_up } => write!(
                f,
                "a larger LUN on the same target ({} against {})",
                human_bytes(*runner_up),
                human_bytes(*winner)
            ),
        }
    }
}

fn counted_all() -> bool {
    true
}

/// Fitting LUNs counted at most when explaining a best-fit choice.
pub const COUNT_LIMIT: usize = 256;
/// Index keys read at most when explaining a best-fit choice.
pub const EXAMINE_LIMIT: usize = 16_384;

impl fmt::Display for Choice {
    /// `best fit among 2 LUNs; runner-up iqn…:a LUN 0 (64.0 MiB on array1) lost: it is larger …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.candidates;
        write!(
            f,
            "{} among {}{n} fitting LUN{}",
            self.policy,
            if self.complete { "" } else { "at least " },
            if n == 1 { "" } else { "s" }
        )?;
        match &self.runner_up {
            Some(r) => write!(
                f,
                "; runner-up {} ({} on {}) lost: {}",
                r.lun,
                human_bytes(r.size),
                r.entity,
                r.lost_because
            ),
            None => f.write_str("; no other LUN qualified"),
        }
    }
}

/// The policy's order key of one candidate LUN; smaller wins.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key<'a> {
    Best(crate::inventory::SizeKey),
    First(&'a str, u64),
    Least((u32, u64, u32), crate::inventory::SizeKey),
}

/// Explains the choice of `winner` (a slot) for `req`, excluding targets on `exclude` (and
/// targets already serving a server unless `share_targets`) as the pick did.
pub(crate) fn explain(
    inv: &Inventory,
    req: &BootRequest,
    exclude: Option<&EntityId>,
    share_targets: bool,
    winner: u32,
) -> Choice {
    let key = |slot: u32| -> Option<Key<'_>> {
        let r = inv.luns.get(ix(slot))?;
        let tr = inv.target_rec(r.target)?;
        Some(match req.policy {
            Policy::BestFit => Key::Best(inv.key_of(slot)),
            Policy::FirstFit => Key::First(tr.name.as_str(), r.number),
            Policy::LeastLoaded => Key::Least((tr.load, tr.hash, r.target), inv.key_of(slot)),
        })
    };
    let passes_constraints = |t: u32| {
        inv.target_rec(t).is_some_and(|tr| {
            target_failures(tr, &req.constraints, exclude) | isolation_failure(tr, share_targets)
                == 0
        })
    };
    if req.policy == Policy::BestFit {
        // Keys come in best-fit order: the first fitting one after the winner is second.
        let mut memo: std::collections::BTreeMap<u32, bool> = std::collections::BTreeMap::new();
        let (mut candidates, mut complete, mut second) = (0usize, true, None);
        let start = crate::inventory::SizeKey::at_least(req.size.min);
        for (n, k) in inv.avail.sorted_from(start).enumerate() {
            if k.size > req.size.upper() {
                break;
            }
            if n >= EXAMINE_LIMIT || candidates >= COUNT_LIMIT {
                complete = false;
                break;
            }
            let ok = *memo
                .entry(k.target)
                .or_insert_with(|| passes_constraints(k.target));
            if !ok || !req.size.contains(k.size) {
                continue;
            }
            candidates += 1;
            if k.slot != winner && second.is_none() {
                second = Some(k.slot);
            }
        }
        return Choice {
            policy: req.policy,
            candidates: candidates.max(1),
            complete,
            runner_up: second.and_then(|slot| runner_up(inv, req.policy, winner, slot)),
        };
    }
    let mut candidates = 0usize;
    let mut second: Option<(Key<'_>, u32)> = None;
    let mut verdicts: Vec<u8> = vec![0; inv.targets.len()];
    for (i, r) in inv.luns.iter().enumerate() {
        if !r.selectable() || !req.size.contains(r.size) {
            continue;
        }
        let passes = match verdicts.get(ix(r.target)).copied() {
            Some(1) => true,
            Some(2) | None => false,
            Some(_) => {
                let ok = passes_constraints(r.target);
                if let Some(v) = verdicts.get_mut(ix(r.target)) {
                    *v = if ok { 1 } else { 2 };
                }
                ok
            }
        };
        let Ok(slot) = u32::try_from(i) else { break };
        if !passes {
            continue;
        }
        candidates += 1;
        if slot == winner {
            continue;
        }
        if let Some(k) = key(slot)
            && second
                .as_ref()
                .is_none_or(|(b, _)| k.cmp(b) == Ordering::Less)
        {
            second = Some((k, slot));
        }
    }
    let runner_up = second.and_then(|(_, slot)| runner_up(inv, req.policy, winner, slot));
    Choice {
        policy: req.policy,
        candidates,
        complete: true,
        runner_up,
    }
}

fn runner_up(inv: &Inventory, policy: Policy, winner: u32, slot: u32) -> Option<RunnerUp> {
    let (w, r) = (inv.luns.get(ix(winner))?, inv.luns.get(ix(slot))?);
    let (wt, rt) = (inv.target_rec(w.target)?, inv.target_rec(r.target)?);
    let lost_because = match policy {
        Policy::BestFit if r.size > w.size => LostBecause::Larger {
            winner: w.size,
            runner_up: r.size,
        },
        Policy::BestFit => LostBecause::SizeTie,
        Policy::FirstFit if w.target == r.target => LostBecause::HigherLun,
        Policy::FirstFit => LostBecause::LaterTarget,
        Policy::LeastLoaded if w.target == r.target => LostBecause::LargerOnSameTarget {
            winner: w.size,
            runner_up: r.size,
        },
        Policy::LeastLoaded if rt.load > wt.load => LostBecause::MoreLoaded {
            winner: wt.load,
            runner_up: rt.load,
        },
        Policy::LeastLoaded => LostBecause::LoadTie,
    };
    Some(RunnerUp {
        lun: LunRef {
            target: rt.name.clone(),
            lun: LunNumber(r.number),
        },
        size: r.size,
        entity: rt.entity.clone(),
        lost_because,
    })
}
