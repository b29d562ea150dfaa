//! Rejections that explain themselves: what was asked, what exists, and what to change.

use core::fmt;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::inventory::{Inventory, LunCounts, SizeKey};
use crate::names::{EntityId, LunRef, RequestId, ServerName, Tag, human_bytes};
use crate::net::Subnet;
use crate::pattern::NamePattern;
use crate::request::{BootRequest, SizeRange};
use crate::select::{
    C_ENTITY, C_HELD_TARGET, C_NO_PORTAL, C_PATTERN, C_SAME_ENTITY, C_SUBNET, C_TAGS,
    isolation_failure, target_failures,
};

/// Fitting LUNs examined at most when explaining a constraint rejection (counts are then
/// lower bounds and the report says so).
pub const EXPLAIN_LIMIT: usize = 100_000;

/// A request the engine could not serve, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("request {request}: {reason}")]
pub struct Rejection {
    /// The request.
    pub request: RequestId,
    /// Why (boxed: reports are large and rejections are the rare path).
    pub reason: Box<RejectReason>,
}

/// One constraint of a request, as named in explanations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ConstraintKind {
    /// The target name pattern.
    TargetPattern(NamePattern),
    /// The allowed entities.
    Entities(Vec<EntityId>),
    /// The subnets a portal must lie in.
    ReachableFrom(Vec<Subnet>),
    /// The required tags.
    Tags(Vec<Tag>),
    /// The target has no registered portal at all.
    NoPortal,
    /// A secondary must not share the primary's entity.
    SameEntityAsPrimary(EntityId),
    /// The target already serves another server, and targets are not shared.
    TargetServesAnotherServer,
}

impl fmt::Display for ConstraintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |v: Vec<String>| v.join(", ");
        match self {
            Self::TargetPattern(p) => write!(f, "target pattern \"{p}\""),
            Self::Entities(e) => write!(
                f,
                "entity in [{}]",
                join(e.iter().map(ToString::to_string).collect())
            ),
            Self::ReachableFrom(s) => write!(
                f,
                "portal reachable from [{}]",
                join(s.iter().map(ToString::to_string).collect())
            ),
            Self::Tags(t) => write!(
                f,
                "tags [{}]",
                join(t.iter().map(ToString::to_string).collect())
            ),
            Self::NoPortal => f.write_str("target has no portal registered"),
            Self::SameEntityAsPrimary(e) => write!(f, "on the primary's entity {e}"),
            Self::TargetServesAnotherServer => f.write_str(
                "target already serves another server (a DD opens every LUN of a target to \
                 its initiator, so targets are not shared unless share_targets is set)",
            ),
        }
    }
}

/// How many fitting LUNs one constraint excluded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    /// The constraint.
    pub constraint: ConstraintKind,
    /// LUNs it excluded (a LUN excluded by two constraints counts for both).
    pub luns: u64,
}

/// The fitting LUN that failed the fewest constraints: relaxing those would serve the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NearMiss {
    /// The LUN.
    pub lun: LunRef,
    /// Its size.
    pub size: u64,
    /// The constraints it fails.
    pub fails: Vec<ConstraintKind>,
}

/// Why LUNs of the right size were all excluded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstraintReport {
    /// Available LUNs in the size range (examined).
    pub fitting: u64,
    /// Whether all fitting LUNs were examined (otherwise counts are lower bounds).
    pub complete: bool,
    /// Exclusions per constraint, most excluding first.
    pub excluded: Vec<Exclusion>,
    /// The best candidate that failed the fewest constraints.
    pub nearest: Option<NearMiss>,
}

/// Why no LUN of the right size exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeReport {
    /// The size range asked for.
    pub size: SizeRange,
    /// The largest available LUN.
    pub largest_available: Option<(LunRef, u64)>,
    /// The smallest available LUN above the maximum, when a maximum was given.
    pub smallest_above_max: Option<(LunRef, u64)>,
    /// LUN counts by condition (unsized, offline and held LUNs might fit later).
    pub counts: LunCounts,
}

/// The reason for a rejection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RejectReason {
    /// The request itself is malformed.
    InvalidRequest {
        /// What is wrong, in words.
        problem: String,
    },
    /// The request ID was used before with different parameters.
    RequestIdReused {
        /// The server of the earlier request.
        earlier_server: ServerName,
    },
    /// The server already holds a disk under another request.
    ServerAlreadyHolds {
        /// The server.
        server: ServerName,
        /// Its existing request.
        request: RequestId,
        /// Its LUN.
        lun: LunRef,
    },
    /// No available LUN has a size in range.
    NoLunInSizeRange(SizeReport),
    /// LUNs in range exist but constraints exclude them all.
    ExcludedByConstraints(ConstraintReport),
    /// A primary was found but no secondary on another entity.
    NoSecondary {
        /// The primary that was found.
        primary: LunRef,
        /// Its entity.
        primary_entity: EntityId,
        /// Why each other candidate was excluded.
        report: ConstraintReport,
    },
}

/// `1 LUN is`, `3 LUNs are`: a count of LUNs with its verb agreeing in number.
fn luns(n: u64, singular_verb: &str, plural_verb: &str) -> String {
    if n == 1 {
        format!("1 LUN {singular_verb}")
    } else {
        format!("{n} LUNs {plural_verb}")
    }
}

fn size_phrase(s: &SizeRange) -> String {
    match s.max {
        Some(max) => format!("between {} and {}", human_bytes(s.min), human_bytes(max)),
        None => format!("of at least {}", human_bytes(s.min)),
    }
}

impl fmt::Display for ConstraintReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for e in &self.excluded {
            f.write_str(if first { "" } else { ", " })?;
            first = false;
            let more = if self.complete { "" } else { "at least " };
            write!(f, "{more}{} excluded by {}", e.luns, e.constraint)?;
        }
        if let Some(n) = &self.nearest {
            let fails: Vec<String> = n.fails.iter().map(ToString::to_string).collect();
            write!(
                f,
                "; closest candidate {} ({}) fails only {}",
                n.lun,
                human_bytes(n.size),
                fails.join(" and ")
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidRequest { problem } => write!(f, "invalid request: {problem}"),
            Self::RequestIdReused { earlier_server } => write!(
                f,
                "request ID already used with different parameters (server {earlier_server}); \
                 use a new request ID"
            ),
            Self::ServerAlreadyHolds {
                server,
                request,
                lun,
            } => write!(
                f,
                "server {server} already holds {lun} under request {request}; release it first"
            ),
            Self::NoLunInSizeRange(r) => {
                if r.counts.total() == 0 {
                    return f.write_str(
                        "the inventory has no LUNs yet; is the iSNS inventory running and have \
                         the targets been probed?",
                    );
                }
                write!(f, "no available LUN {}", size_phrase(&r.size))?;
                match &r.largest_available {
                    Some((lun, size)) => {
                        write!(f, "; largest available is {} on {lun}", human_bytes(*size))?;
                    }
                    None => f.write_str("; no LUN is available at all")?,
                }
                if let Some((lun, size)) = &r.smallest_above_max {
                    write!(
                        f,
                        "; smallest above the maximum is {} on {lun}",
                        human_bytes(*size)
                    )?;
                }
                let c = &r.counts;
                if c.awaiting_size > 0 {
                    write!(
                        f,
                        "; {} a size probe",
                        luns(c.awaiting_size, "still awaits", "still await")
                    )?;
                }
                if c.offline > 0 {
                    write!(f, "; {} offline", luns(c.offline, "is", "are"))?;
                }
                let held = c.reserved + c.assigned;
                if held > 0 {
                    write!(f, "; {} held by other servers", luns(held, "is", "are"))?;
                }
                Ok(())
            }
            Self::ExcludedByConstraints(r) => {
                let more = if r.complete { "" } else { "at least " };
                match r.fitting {
                    1 if r.complete => write!(
                        f,
                        "1 available LUN fits the size but does not satisfy the constraints: {r}"
                    ),
                    n => write!(
                        f,
                        "{more}{n} available LUNs fit the size but none satisfies the \
                         constraints: {r}"
                    ),
                }
            }
            Self::NoSecondary {
                primary,
                primary_entity,
                report,
            } => write!(
                f,
                "primary {primary} found on entity {primary_entity} but no secondary on another \
                 entity satisfies size and constraints: {report}"
            ),
        }
    }
}

fn kinds(bits: u8, req: &BootRequest, exclude: Option<&EntityId>) -> Vec<ConstraintKind> {
    let c = &req.constraints;
    let mut v = Vec::new();
    if bits & C_PATTERN != 0
        && let Some(p) = &c.target_pattern
    {
        v.push(ConstraintKind::TargetPattern(p.clone()));
    }
    if bits & C_ENTITY != 0 {
        v.push(ConstraintKind::Entities(c.entities.clone()));
    }
    if bits & C_SUBNET != 0 {
        v.push(ConstraintKind::ReachableFrom(c.reachable_from.clone()));
    }
    if bits & C_TAGS != 0 {
        v.push(ConstraintKind::Tags(c.tags.clone()));
    }
    if bits & C_NO_PORTAL != 0 {
        v.push(ConstraintKind::NoPortal);
    }
    if bits & C_SAME_ENTITY != 0
        && let Some(e) = exclude
    {
        v.push(ConstraintKind::SameEntityAsPrimary(e.clone()));
    }
    if bits & C_HELD_TARGET != 0 {
        v.push(ConstraintKind::TargetServesAnotherServer);
    }
    v
}

fn lun_of(inv: &Inventory, k: &SizeKey) -> Option<(LunRef, u64)> {
    Some((inv.lun_ref(k.slot)?, k.size))
}

/// Explains why `pick` found nothing. Cost: O(log n) for a size shortfall; for constraint
/// exclusions a walk over at most [`EXPLAIN_LIMIT`] fitting LUNs, judging each target once.
pub(crate) fn explain(
    inv: &Inventory,
    req: &BootRequest,
    exclude: Option<&EntityId>,
    share_targets: bool,
) -> ConstraintOrSize {
    let lo = SizeKey::at_least(req.size.min);
    let upper = req.size.upper();
    let mut fitting = inv
        .avail
        .sorted_from(lo)
        .take_while(|k| k.size <= upper)
        .peekable();
    if fitting.peek().is_none() {
        let largest = inv.avail.last().and_then(|k| lun_of(inv, &k));
        let above = req.size.max.and_then(|m| {
            inv.avail
                .sorted_from(SizeKey::at_least(m.saturating_add(1)))
                .next()
                .and_then(|k| lun_of(inv, &k))
        });
        return ConstraintOrSize::Size(SizeReport {
            size: req.size,
            largest_available: largest,
            smallest_above_max: above,
            counts: inv.counts(),
        });
    }
    let mut memo: HashMap<u32, u8> = HashMap::new();
    let mut per_bit = [0u64; 7];
    let mut seen = 0u64;
    let mut nearest: Option<(u32, u8, SizeKey)> = None;
    let mut complete = true;
    for (i, k) in fitting.enumerate() {
        if i >= EXPLAIN_LIMIT {
            complete = false;
            break;
        }
        seen += 1;
        let t = k.target;
        let bits = *memo.entry(t).or_insert_with(|| {
            inv.target_rec(t).map_or(u8::MAX, |tr| {
                target_failures(tr, &req.constraints, exclude)
                    | isolation_failure(tr, share_targets)
            })
        });
        for (b, count) in per_bit.iter_mut().enumerate() {
            if bits & (1 << b) != 0 {
                *count += 1;
            }
        }
        if nearest.is_none_or(|(n, _, _)| bits.count_ones() < n) {
            nearest = Some((bits.count_ones(), bits, k));
        }
    }
    let mut excluded: Vec<Exclusion> = per_bit
        .iter()
        .enumerate()
        .filter(|&(_, &n)| n > 0)
        .filter_map(|(b, &n)| {
            let bit = u8::try_from(1u32 << b).ok()?;
            kinds(bit, req, exclude)
                .into_iter()
                .next()
                .map(|constraint| Exclusion {
                    constraint,
                    luns: n,
                })
        })
        .collect();
    excluded.sort_by_key(|e| core::cmp::Reverse(e.luns));
    let nearest = nearest.and_then(|(_, bits, k)| {
        Some(NearMiss {
            lun: inv.lun_ref(k.slot)?,
            size: k.size,
            fails: kinds(bits, req, exclude),
        })
    });
    ConstraintOrSize::Constraint(ConstraintReport {
        fitting: seen,
        complete,
        excluded,
        nearest,
    })
}

/// The two shapes an explanation takes.
pub(crate) enum ConstraintOrSize {
    Size(SizeReport),
    Constraint(ConstraintReport),
}
