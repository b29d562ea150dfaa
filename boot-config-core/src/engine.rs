//! The engine: inventory plus ledger, the one object the manager and the iSNS driver talk to.

use core::time::Duration;

use serde::{Deserialize, Serialize};

use crate::change::Changes;
use crate::inventory::{Hold, Inventory};
use crate::ledger::{Allocation, AllocationState, Ledger, LedgerError};
use crate::model::{InventoryEvent, Provenance};
use crate::names::{LunRef, RequestId, ServerName};
use crate::plan::{self, Action, InitiatorNameScheme, NamingScheme, ProvisioningPlan, StepKind};
use crate::recovery::{DdIndex, RecoveryAction, RecoveryReport};
use crate::rejection::{self, ConstraintOrSize, RejectReason, Rejection};
use crate::request::BootRequest;
use crate::secret::NotEnoughRandomness;
use crate::select::{self, Selection};
use crate::time::Timestamp;

/// Engine settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// How long a reservation holds without commit.
    pub reservation_ttl: Duration,
    /// Initiator and DD naming.
    pub naming: NamingScheme,
    /// Let a target that already serves one server serve others (off by default: a
    /// Discovery Domain admits an initiator to every LUN of a target, so servers sharing a
    /// target can read each other's disks).
    #[serde(default)]
    pub share_targets: bool,
}

impl EngineConfig {
    /// Settings with a 5-minute reservation, initiators named under `domain` owned since
    /// `year-month`, and DDs prefixed `bcm:`.
    ///
    /// # Errors
    /// [`plan::NamingError`] for a bad date or domain.
    pub fn new(year: u16, month: u8, domain: &str) -> Result<Self, plan::NamingError> {
        Ok(Self {
            reservation_ttl: Duration::from_secs(300),
            naming: NamingScheme {
                initiator: InitiatorNameScheme::new(year, month, domain)?,
                dd_prefix: "bcm:".to_owned(),
            },
            share_targets: false,
        })
    }
}

/// The result of a successful [`Engine::reserve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reserved {
    /// The allocation (new, or the earlier one for a repeated request).
    pub allocation: Allocation,
    /// Whether this request ID had been answered before (the same answer is returned).
    pub replayed: bool,
}

/// Why a plan could not be produced.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// No allocation for the request.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Not enough random bytes for the CHAP secrets.
    #[error(transparent)]
    Randomness(#[from] NotEnoughRandomness),
}

/// A broken internal invariant found by [`Engine::verify`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("engine invariant violated: {0}")]
pub struct InvariantViolation(pub String);

/// Inventory, selection, ledger and plans. Pure: every input, including time and randomness,
/// is an argument; the same calls in the same order give the same results.
///
/// Mutating calls take `&mut self`, so a manager serving concurrent requests owns the engine in
/// one task (or behind one mutex): reservations are then serialized and, with the ledger's
/// one-holder-per-LUN invariant, two requests can never receive the same LUN.
#[derive(Clone, Debug)]
pub struct Engine {
    inv: Inventory,
    ledger: Ledger,
    config: EngineConfig,
}

impl Engine {
    /// An engine with an empty inventory and ledger.
    #[must_use]
    pub fn new(config: EngineConfig) -> Self {
        Self::with_ledger(config, Ledger::new())
    }

    /// An engine resuming from a persisted ledger; LUNs it holds are marked as they reappear
    /// in the inventory (feed the events after this), then call [`Engine::reconcile`].
    #[must_use]
    pub fn with_ledger(config: EngineConfig, ledger: Ledger) -> Self {
        Self {
            inv: Inventory::new(),
            ledger,
            config,
        }
    }

    /// The inventory (read-only).
    #[must_use]
    pub fn inventory(&self) -> &Inventory {
        &self.inv
    }

    /// The ledger (read-only; clone and serialize it to persist).
    #[must_use]
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Applies one inventory event observed as `prov` says; idempotent; returns what changed.
    pub fn apply(&mut self, event: &InventoryEvent, prov: Provenance) -> Changes {
        self.inv.apply(event, prov, &self.ledger)
    }

    /// Chooses LUNs for `req` without holding them (dry run).
    ///
    /// # Errors
    /// A [`Rejection`] saying why nothing fits and what to change.
    pub fn select(&self, req: &BootRequest) -> Result<Selection, Rejection> {
        let reject = |reason| Rejection {
            request: req.id.clone(),
            reason: Box::new(reason),
        };
        validate(req).map_err(|problem| reject(RejectReason::InvalidRequest { problem }))?;
        let share = self.config.share_targets;
        let primary = select::pick(&self.inv, req, None, share)
            .and_then(|s| self.explained(req, None, s))
            .ok_or_else(|| {
                reject(match rejection::explain(&self.inv, req, None, share) {
                    ConstraintOrSize::Size(r) => RejectReason::NoLunInSizeRange(r),
                    ConstraintOrSize::Constraint(r) => RejectReason::ExcludedByConstraints(r),
                })
            })?;
        let secondary = match req.redundancy {
            crate::request::Redundancy::None => None,
            crate::request::Redundancy::SecondaryOnOtherEntity => {
                let ex = Some(&primary.entity);
                let s = select::pick(&self.inv, req, ex, share)
                    .and_then(|s| self.explained(req, ex, s))
                    .ok_or_else(|| {
                        let report = match rejection::explain(&self.inv, req, ex, share) {
                            ConstraintOrSize::Constraint(r) => r,
                            // Unreachable in practice (the primary fits); report it as empty.
                            ConstraintOrSize::Size(_) => crate::rejection::ConstraintReport {
                                fitting: 0,
                                complete: true,
                                excluded: Vec::new(),
                                nearest: None,
                            },
                        };
                        reject(RejectReason::NoSecondary {
                            primary: primary.lun.clone(),
                            primary_entity: primary.entity.clone(),
                            report,
                        })
                    })?;
                Some(s)
            }
        };
        Ok(Selection { primary, secondary })
    }

    /// The placement of `slot` with the explanation of its choice.
    fn explained(
        &self,
        req: &BootRequest,
        exclude: Option<&crate::EntityId>,
        slot: u32,
    ) -> Option<select::Placement> {
        let mut p = select::placement(&self.inv, req, slot)?;
        let share = self.config.share_targets;
        p.why = Some(crate::choice::explain(&self.inv, req, exclude, share, slot));
        Some(p)
    }

    /// Selects and holds LUNs for `req` until `now + reservation_ttl`. Idempotent by request
    /// ID: a repeated identical request gets the same allocation (a lapsed but not yet expired
    /// reservation is renewed).
    ///
    /// # Errors
    /// A [`Rejection`]: nothing fits, the server already holds a disk, or the ID was reused.
    pub fn reserve(&mut self, req: &BootRequest, now: Timestamp) -> Result<Reserved, Rejection> {
        let reject = |reason| Rejection {
            request: req.id.clone(),
            reason: Box::new(reason),
        };
        let ttl = self.config.reservation_ttl;
        if let Some(a) = self.ledger.get_mut(&req.id) {
            if a.request != *req {
                return Err(reject(RejectReason::RequestIdReused {
                    earlier_server: a.server().clone(),
                }));
            }
            if let AllocationState::Reserved { expires_at } = &mut a.state
                && *expires_at <= now
            {
                *expires_at = now.saturating_add(ttl);
            }
            return Ok(Reserved {
                allocation: a.clone(),
                replayed: true,
            });
        }
        if let Some(a) = self.ledger.for_server(&req.server.name) {
            return Err(reject(RejectReason::ServerAlreadyHolds {
                server: req.server.name.clone(),
                request: a.id().clone(),
                lun: a.selection.primary.lun.clone(),
            }));
        }
        let naming = &self.config.naming;
        let names = naming
            .initiator
            .initiator_for(&req.server.name)
            .and_then(|i| Ok((i, naming.dd_for(&req.server.name)?)));
        let (initiator, dd_name) = names.map_err(|e| {
            reject(RejectReason::InvalidRequest {
                problem: e.to_string(),
            })
        })?;
        let selection = self.select(req)?;
        let allocation = Allocation {
            request: req.clone(),
            selection,
            state: AllocationState::Reserved {
                expires_at: now.saturating_add(ttl),
            },
            reserved_at: now,
            initiator,
            dd_name,
        };
        self.ledger.insert(allocation.clone()).map_err(|e| {
            // Selection only returns free LUNs, so this is an internal inconsistency; surface it.
            reject(RejectReason::InvalidRequest {
                problem: e.to_string(),
            })
        })?;
        for lun in allocation.selection.luns() {
            self.inv.set_hold(lun, Hold::Reserved);
        }
        Ok(Reserved {
            allocation,
            replayed: false,
        })
    }

    /// Commits a reservation (idempotent: committing twice is fine).
    ///
    /// # Errors
    /// [`LedgerError::UnknownRequest`], or [`LedgerError::ReservationExpired`] when `now` is at or
    /// past its expiry (roll back instead).
    pub fn commit(&mut self, id: &RequestId, now: Timestamp) -> Result<&Allocation, LedgerError> {
        let a = self
            .ledger
            .get_mut(id)
            .ok_or_else(|| LedgerError::UnknownRequest {
                request: id.clone(),
            })?;
        if let AllocationState::Reserved { expires_at } = a.state {
            if expires_at <= now {
                return Err(LedgerError::ReservationExpired {
                    request: id.clone(),
                    expired_at_ms: expires_at.as_millis(),
                });
            }
            a.state = AllocationState::Committed { at: now };
            let luns: Vec<LunRef> = a.selection.luns().cloned().collect();
            for lun in &luns {
                self.inv.set_hold(lun, Hold::Assigned);
            }
        }
        self.ledger
            .get(id)
            .ok_or_else(|| LedgerError::UnknownRequest {
                request: id.clone(),
            })
    }

    /// Releases an allocation, returning its LUNs to the pool. Idempotent: `None` if nothing
    /// was held under `id`.
    pub fn release(&mut self, id: &RequestId) -> Option<Allocation> {
        let a = self.ledger.remove(id)?;
        for lun in a.selection.luns() {
            self.inv.set_hold(lun, Hold::Free);
        }
        Some(a)
    }

    /// Releases whatever `server` holds.
    pub fn release_server(&mut self, server: &ServerName) -> Option<Allocation> {
        let id = self.ledger.for_server(server)?.id().clone();
        self.release(&id)
    }

    /// Drops every reservation lapsed at `now` and returns them (roll each back with
    /// [`Engine::release_plan_of`]).
    pub fn expire(&mut self, now: Timestamp) -> Vec<Allocation> {
        let lapsed: Vec<RequestId> = self
            .ledger
            .iter()
            .filter(|a| a.is_expired(now))
            .map(|a| a.id().clone())
            .collect();
        lapsed.iter().filter_map(|id| self.release(id)).collect()
    }

    /// The provisioning plan of a reserved or committed request. `random` supplies the CHAP
    /// secrets ([`crate::CHAP_SECRET_LEN`] bytes, twice that for mutual CHAP); the same bytes
    /// give the same plan, so the manager stores them with its secrets to resume.
    ///
    /// # Errors
    /// [`PlanError`] for an unknown request or too few random bytes.
    pub fn provisioning_plan(
        &self,
        id: &RequestId,
        random: &[u8],
    ) -> Result<ProvisioningPlan, PlanError> {
        let a = self
            .ledger
            .get(id)
            .ok_or_else(|| LedgerError::UnknownRequest {
                request: id.clone(),
            })?;
        Ok(plan::provisioning_plan(a, random)?)
    }

    /// The release plan of a request: the reverse of its provisioning plan.
    ///
    /// # Errors
    /// [`LedgerError::UnknownRequest`].
    pub fn release_plan(&self, id: &RequestId) -> Result<Vec<Action>, LedgerError> {
        self.ledger
            .get(id)
            .map(plan::release_plan)
            .ok_or_else(|| LedgerError::UnknownRequest {
                request: id.clone(),
            })
    }

    /// The release plan of an allocation already removed from the ledger (e.g. by
    /// [`Engine::expire`]).
    #[must_use]
    pub fn release_plan_of(allocation: &Allocation) -> Vec<Action> {
        plan::release_plan(allocation)
    }

    /// Compares the ledger with the DDs in the inventory (feed the iSNS walk first) and says
    /// what to resume, roll back, repair or remove.
    #[must_use]
    pub fn reconcile(&self, now: Timestamp) -> RecoveryReport {
        let dds = DdIndex::new(self.inv.dds());
        let mut actions = Vec::new();
        let mut claimed = std::collections::BTreeSet::new();
        for a in self.ledger.iter() {
            let id = a.id().clone();
            let found = dds.by_name.get(&a.dd_name);
            if found.is_some() {
                claimed.insert(a.dd_name.clone());
            }
            let mut want: std::collections::BTreeSet<_> =
                a.selection.luns().map(|l| l.target.clone()).collect();
            want.insert(a.initiator.clone());
            match a.state {
                AllocationState::Reserved { expires_at } if expires_at <= now => {
                    actions.push(RecoveryAction::RollBack {
                        request: id,
                        actions: plan::release_plan(a),
                    });
                }
                AllocationState::Reserved { .. } => {
                    let from = match found {
                        // With CHAP the account step precedes the DD; steps are idempotent.
                        None if a.request.auth != crate::request::AuthWanted::None => {
                            StepKind::SetTargetChap
                        }
                        None => StepKind::RegisterInitiator,
                        // A DD without the initiator: filled by CreateDd (idempotent).
                        Some((_, m)) if !m.contains(&a.initiator) => StepKind::CreateDd,
                        Some(_) => StepKind::ConfigureBmc,
                    };
                    actions.push(RecoveryAction::Resume { request: id, from });
                }
                AllocationState::Committed { .. } => {
                    let (dd, have) = match found {
                        Some((d, m)) => (Some(*d), m.clone()),
                        None => (None, std::collections::BTreeSet::new()),
                    };
                    let missing: Vec<_> = want.difference(&have).cloned().collect();
                    let extra: Vec<_> = have.difference(&want).cloned().collect();
                    let mut ok = missing.is_empty() && extra.is_empty();
                    if !ok {
                        actions.push(RecoveryAction::RepairDd {
                            request: id.clone(),
                            dd_name: a.dd_name.clone(),
                            dd,
                            missing,
                            extra,
                        });
                    }
                    for lun in a.selection.luns() {
                        if self.inv.lun(lun).is_none() {
                            ok = false;
                            actions.push(RecoveryAction::LunMissing {
                                request: id.clone(),
                                lun: lun.clone(),
                            });
                        }
                    }
                    if ok {
                        actions.push(RecoveryAction::Consistent { request: id });
                    }
                }
            }
        }
        let mut orphans: Vec<_> = dds
            .by_name
            .iter()
            .filter(|(n, _)| self.config.naming.owns_dd(n) && !claimed.contains(*n))
            .map(|(n, (id, m))| (*id, n.clone(), m.iter().cloned().collect::<Vec<_>>()))
            .chain(
                dds.duplicates
                    .into_iter()
                    .filter(|(_, n, _)| self.config.naming.owns_dd(n)),
            )
            .collect();
        orphans.sort();
        actions.extend(
            orphans
                .into_iter()
                .map(|(dd, name, members)| RecoveryAction::RemoveOrphanDd { dd, name, members }),
        );
        RecoveryReport { actions }
    }

    /// Re-derives every index and cross-checks ledger and inventory (tests, fuzzing, and a
    /// cheap sanity check after recovery: O(n)).
    ///
    /// # Errors
    /// [`InvariantViolation`] naming the first inconsistency.
    pub fn verify(&self) -> Result<(), InvariantViolation> {
        self.inv.check().map_err(InvariantViolation)?;
        for t in self.inv.targets() {
            for l in self.inv.luns_of(t.name.as_str()) {
                let slot = self
                    .inv
                    .slot_of(&l.lun)
                    .ok_or_else(|| InvariantViolation(format!("{} unindexed", l.lun)))?;
                let hold = self.inv.luns[crate::inventory::ix(slot)].hold;
                let want = self
                    .ledger
                    .holder_of(&l.lun)
                    .map_or(Hold::Free, |id| self.ledger.hold_for(id));
                if hold != want {
                    return Err(InvariantViolation(format!(
                        "{}: inventory hold {hold:?}, ledger {want:?}",
                        l.lun
                    )));
                }
            }
        }
        Ok(())
    }
}

fn validate(req: &BootRequest) -> Result<(), String> {
    if req.id.as_str().is_empty() {
        return Err("request ID is empty".into());
    }
    if req.server.name.as_str().is_empty() {
        return Err("server name is empty".into());
    }
    if req.size.min == 0 {
        return Err("minimum size is 0; ask for the size the OS needs".into());
    }
    if let Some(max) = req.size.max
        && max < req.size.min
    {
        return Err(format!(
            "maximum size {} is below minimum {}",
            crate::names::human_bytes(max),
            crate::names::human_bytes(req.size.min)
        ));
    }
    Ok(())
}
