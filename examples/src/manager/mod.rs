//! The provisioning executor: turns the engine's plans into journalled side effects.
//!
//! [`Manager`] owns the `boot-config-core` [`Engine`] and the SQLite [`Store`] and runs every
//! provisioning and release as a sequence of steps:
//!
//! ```text
//!  provision: reserve ─ [target CHAP] ─ create DD ─ register initiator ─ add initiator to DD
//!             ─ configure BMC ─ commit
//!  release:   clear BMC ─ remove initiator from DD ─ deregister initiator ─ remove DD
//!             ─ [remove target CHAP] ─ release
//! ```
//!
//! Each step is journalled `begun` before its side effect and `done` after it. A step that
//! fails (after retries, for transient failures) rolls back every step that began, newest
//! first, with its compensation; a compensation that cannot run leaves the request
//! `rolling-back`, and [`Manager::recover`] finishes it later. After a crash, `recover`
//! resumes in-flight requests whose reservation is still valid, rolls back the rest, then
//! reconciles the ledger with the DDs iSNS holds (repairing committed DDs, removing orphans).
//!
//! Concurrency: one operation per server at a time ([`ManagerError::Busy`]); the engine is
//! locked only for its synchronous calls, so requests for different servers run in parallel
//! and the engine's reservation keeps any LUN from reaching two servers.

mod effects;
pub mod live;
mod metrics;
mod report;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use boot_config_core::{
    Action, Allocation, BootRequest, Engine, InventoryEvent, LedgerError, PlannedStep, Provenance,
    RecoveryAction, Rejection, RequestId, StepKind, Timestamp,
};
use serde::{Deserialize, Serialize};

pub use effects::{Effects, StepContext, StepError, StepOutcome};
pub use metrics::Metrics;
pub use report::{
    Assignment, BootPathView, LunRow, ProvisionReport, RecoveryOutcome, StepReport, TargetRow,
    inventory_rows, with_probe_failures,
};

use crate::store::{
    LedgerChange, NewRequest, OwnedKind, RequestKind, RequestState, StepPhase, Store, StoreError,
};

/// Random bytes drawn per provisioning (CHAP secrets for mutual CHAP need 32).
pub const PLAN_RANDOM_LEN: usize = 2 * boot_config_core::CHAP_SECRET_LEN;

/// Why a manager operation did not succeed. Messages say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The engine cannot serve the request (no fitting LUN, server already provisioned, …).
    #[error("{0}")]
    Rejected(Rejection),
    /// Another operation for this server is running.
    #[error("server {server} has an operation in progress; retry when it finishes")]
    Busy {
        /// The server.
        server: String,
    },
    /// The request ID is known with a different meaning.
    #[error("{0}")]
    Conflict(String),
    /// `release` for a server that holds nothing.
    #[error("server {server} holds no boot disk")]
    NothingToRelease {
        /// The server.
        server: String,
    },
    /// A step failed; `rolled_back` says whether every compensation ran.
    #[error("{request}: step '{step}' failed: {error}{}", if *rolled_back {
        "; everything done so far was rolled back"
    } else {
        "; the rollback is incomplete and will be retried (bcm status shows it)"
    })]
    StepFailed {
        /// The request.
        request: String,
        /// The step.
        step: String,
        /// What failed.
        error: String,
        /// Whether the rollback finished.
        rolled_back: bool,
    },
    /// A release step failed; the disk stays assigned until the release is retried.
    #[error("release of {server}: step '{step}' failed: {error}; retry `bcm release`")]
    ReleaseIncomplete {
        /// The server.
        server: String,
        /// The step.
        step: String,
        /// What failed.
        error: String,
    },
    /// The request was rolled back earlier; the same request ID gets the same answer.
    #[error("request {request} was rolled back earlier ({error}); send a new request ID to retry")]
    RolledBackEarlier {
        /// The request.
        request: String,
        /// Why it was rolled back.
        error: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Something that should not happen (a bug or a corrupted store).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<Rejection> for ManagerError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

/// Retries of a step that failed transiently.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// Delay before the second attempt; doubles after each.
    pub first_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
        }
    }
}

/// One step's progress, for a live account (CLI, demo, logs).
#[derive(Clone, Debug)]
pub struct Progress {
    /// The request.
    pub request: String,
    /// The server.
    pub server: String,
    /// What happened.
    pub phase: ProgressPhase,
    /// The step's action, for a person.
    pub description: String,
    /// Detail reported by the step (or the error).
    pub detail: Option<String>,
}

/// The phases [`Progress`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressPhase {
    /// A step is starting.
    Started,
    /// A step finished.
    Done,
    /// A step failed (after retries).
    Failed,
    /// A compensation ran.
    Compensated,
}

/// Receives [`Progress`].
pub type Observer = Arc<dyn Fn(&Progress) + Send + Sync>;
/// The manager's clock.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;
/// The manager's CSPRNG.
pub type RandomFill = Arc<dyn Fn(&mut [u8]) + Send + Sync>;

/// Settings of a [`Manager`].
#[derive(Clone)]
pub struct ManagerOptions {
    /// Retries of transient step failures.
    pub retry: RetryPolicy,
    /// Progress receiver.
    pub observer: Option<Observer>,
    /// Clock (system clock by default).
    pub clock: Clock,
    /// Random bytes for CHAP secrets (OS CSPRNG by default).
    pub random: RandomFill,
    /// Power-cycle servers after configuring their BMC unless a request says otherwise.
    pub power_cycle: bool,
    /// Bound of one attempt of one step (a server that vanished mid-request must not hold
    /// the request forever); a timeout counts as a transient failure.
    pub step_timeout: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            observer: None,
            clock: Arc::new(system_now),
            random: Arc::new(|buf: &mut [u8]| rand::fill(buf)),
            power_cycle: false,
            step_timeout: Duration::from_secs(60),
        }
    }
}

impl std::fmt::Debug for ManagerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerOptions")
            .field("retry", &self.retry)
            .field("power_cycle", &self.power_cycle)
            .finish_non_exhaustive()
    }
}

/// The system clock as an engine [`Timestamp`].
#[must_use]
pub fn system_now() -> Timestamp {
    Timestamp::from_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// A provisioning request as the manager receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionRequest {
    /// What the engine selects for.
    pub boot: BootRequest,
    /// Power-cycle after configuring the BMC (`None`: the manager's default).
    #[serde(default)]
    pub power_cycle: Option<bool>,
}

/// What a provisioning request stores as its body.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ProvisionBody {
    request: BootRequest,
    power_cycle: bool,
}

/// What a release request stores as its body.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ReleaseBody {
    provision: String,
}

struct Inner<E> {
    engine: Mutex<Engine>,
    store: Mutex<Store>,
    effects: E,
    busy: Mutex<BTreeSet<String>>,
    options: ManagerOptions,
    metrics: Metrics,
    conflicts: Mutex<Vec<StoreConflict>>,
}

/// A stored allocation the ledger could not take because an older one holds the same LUN or
/// server (a store written by two processes before the schema refused it): `bcm repair`
/// releases it.
#[derive(Clone, Debug, Serialize)]
pub struct StoreConflict {
    /// The younger request.
    pub request: String,
    /// Its server.
    pub server: String,
    /// What it collides with, naming the older holder.
    pub error: String,
    /// The allocation, when it decodes (what `bcm repair` undoes).
    #[serde(skip)]
    pub allocation: Option<Allocation>,
}

impl std::fmt::Display for StoreConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "request {} (server {}) conflicts with an older holder: {}; `bcm repair` releases the younger",
            self.request, self.server, self.error
        )
    }
}

/// The provisioning executor (cheap to clone; clones share state).
pub struct Manager<E> {
    inner: Arc<Inner<E>>,
}

impl<E> Clone for Manager<E> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// From a request's journal: steps done, steps compensated, the last step begun.
type JournalSummary = (BTreeSet<u32>, BTreeSet<u32>, Option<u32>);

/// Removes the server from the busy set when dropped.
struct BusyGuard<'a> {
    busy: &'a Mutex<BTreeSet<String>>,
    server: String,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        lock(self.busy).remove(&self.server);
    }
}

/// Locks, recovering from poisoning (a panicking holder leaves consistent data: every
/// mutation is one engine or store call).
/// The entities and targets an action's iSNS change notifies: those of the request's
/// allocation, the target members of the DD it removes or changes (`dd`, for a DD the ledger
/// does not know), and the targets of a DD it creates.
fn notified_by(
    engine: &Engine,
    action: &Action,
    request: &str,
    dd: Option<&boot_config_core::DdView>,
) -> Vec<(String, String)> {
    let inv = engine.inventory();
    let provision = request.strip_prefix("release:").unwrap_or(request);
    let mut targets: Vec<String> = match action {
        // A node (de)registration notifies the targets of the DDs that hold it, and no other:
        // the plans register the initiator before its DD exists and deregister it after the
        // DD is gone, so these normally notify nobody and wait for no storage system.
        Action::RegisterInitiator { initiator, .. } | Action::DeregisterInitiator { initiator } => {
            inv.dds()
                .filter(|d| d.members.contains(initiator))
                .flat_map(|d| d.members)
                .filter(|m| m != initiator)
                .map(|m| m.as_str().to_owned())
                .collect()
        }
        _ => match engine.ledger().get(&RequestId::new(provision)) {
            Some(a) => a
                .selection
                .luns()
                .map(|l| l.target.as_str().to_owned())
                .collect(),
            None => Vec::new(),
        },
    };
    if let (Action::RemoveDd { .. } | Action::RemoveDdMember { .. }, Some(dd)) = (action, dd) {
        targets.extend(dd.members.iter().map(|m| m.as_str().to_owned()));
    }
    if let Action::CreateDd { targets: t, .. } = action {
        targets.extend(t.iter().map(|m| m.as_str().to_owned()));
    }
    targets.sort();
    targets.dedup();
    targets
        .into_iter()
        .filter_map(|t| inv.target(&t).map(|v| (v.entity.as_str().to_owned(), t)))
        .collect()
}

/// For CHAP actions and DD creations: the portals (`ip:port`) of each target named (a DD's
/// members that are no known target are left out).
fn portals_of(inv: &boot_config_core::Inventory, action: &Action) -> Vec<(String, Vec<String>)> {
    let (Action::SetTargetChap { targets, .. }
    | Action::RemoveTargetChap { targets, .. }
    | Action::CreateDd { targets, .. }) = action
    else {
        return Vec::new();
    };
    let dd = matches!(action, Action::CreateDd { .. });
    targets
        .iter()
        .filter(|t| !dd || inv.target(t.as_str()).is_some())
        .map(|t| {
            let portals = inv.target(t.as_str()).map_or_else(Vec::new, |v| {
                v.portals
                    .iter()
                    .map(|p| boot_config_core::Portal::new(p.addr, p.port).to_string())
                    .collect()
            });
            (t.as_str().to_owned(), portals)
        })
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn internal(e: impl std::fmt::Display) -> ManagerError {
    ManagerError::Internal(e.to_string())
}

impl<E: Effects> Manager<E> {
    /// A manager over `engine` (rebuilt from the store's ledger by the caller), `store` and
    /// `effects`.
    pub fn new(engine: Engine, store: Store, effects: E, options: ManagerOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine: Mutex::new(engine),
                store: Mutex::new(store),
                effects,
                busy: Mutex::new(BTreeSet::new()),
                options,
                metrics: Metrics::default(),
                conflicts: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The engine's ledger as stored, for [`Engine::with_ledger`].
    ///
    /// # Errors
    /// Store errors, or a ledger that does not deserialize.
    pub fn load_ledger(store: &Store) -> Result<boot_config_core::Ledger, ManagerError> {
        Ok(Self::rebuild_ledger(store)?.0)
    }

    /// The ledger rebuilt from the store's rows, oldest request first, and the rows it could
    /// not take (a younger holder of a LUN or server already held): an inconsistent store
    /// never stops the manager; the conflicts are reported and `bcm repair` resolves them.
    ///
    /// # Errors
    /// Store errors.
    pub fn rebuild_ledger(
        store: &Store,
    ) -> Result<(boot_config_core::Ledger, Vec<StoreConflict>), ManagerError> {
        let mut ledger = boot_config_core::Ledger::new();
        let mut conflicts = Vec::new();
        for (id, json) in store.allocation_rows()? {
            let server = || {
                store
                    .request(&id)
                    .ok()
                    .flatten()
                    .map(|r| r.server)
                    .unwrap_or_default()
            };
            match serde_json::from_str::<Allocation>(&json) {
                Ok(a) => {
                    if let Err(e) = ledger.try_insert(a.clone()) {
                        conflicts.push(StoreConflict {
                            request: id,
                            server: a.server().as_str().to_owned(),
                            error: e.to_string(),
                            allocation: Some(a),
                        });
                    }
                }
                Err(e) => conflicts.push(StoreConflict {
                    server: server(),
                    request: id,
                    error: format!("the stored allocation does not decode: {e}"),
                    allocation: None,
                }),
            }
        }
        Ok((ledger, conflicts))
    }

    /// Sets the conflicts found when the ledger was loaded (see [`Manager::rebuild_ledger`]).
    pub fn set_conflicts(&self, conflicts: Vec<StoreConflict>) {
        *lock(&self.inner.conflicts) = conflicts;
    }

    /// Stored allocations the ledger could not take (see [`Manager::rebuild_ledger`]).
    pub fn conflicts(&self) -> Vec<StoreConflict> {
        lock(&self.inner.conflicts).clone()
    }

    /// Releases every conflicting younger holder: undoes what its provisioning created (BMC,
    /// DD member, initiator, DD, CHAP account; each only if this request created it) and drops
    /// its allocation, keeping the older holder. Returns what was repaired.
    ///
    /// # Errors
    /// The first step that failed (the conflict stays, run `bcm repair` again).
    pub async fn repair(&self) -> Result<Vec<String>, ManagerError> {
        let mut done = Vec::new();
        for c in self.conflicts() {
            if let Some(a) = &c.allocation {
                for action in Engine::release_plan_of(a) {
                    if matches!(action, Action::Release { .. }) {
                        continue;
                    }
                    self.execute(&action, &c.request, &c.server, None)
                        .await
                        .map_err(|e| ManagerError::ReleaseIncomplete {
                            server: c.server.clone(),
                            step: action_name(&action).to_owned(),
                            error: e.message,
                        })?;
                }
            }
            let note = format!("released by bcm repair: {}", c.error);
            lock(&self.inner.store).drop_conflicting(&c.request, &note)?;
            lock(&self.inner.conflicts).retain(|x| x.request != c.request);
            done.push(format!("{} (server {})", c.request, c.server));
        }
        Ok(done)
    }

    /// The effects (e.g. to reach the iSNS client).
    pub fn effects(&self) -> &E {
        &self.inner.effects
    }

    /// Counters for `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Runs `f` with the engine locked (inventory views, selection dry runs).
    pub fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        f(&lock(&self.inner.engine))
    }

    /// Runs `f` with the store locked.
    pub fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&lock(&self.inner.store))
    }

    /// Applies inventory events in order; returns how many changed something.
    pub fn apply(&self, events: &[InventoryEvent], provenance: Provenance) -> usize {
        let mut engine = lock(&self.inner.engine);
        events
            .iter()
            .filter(|e| !engine.apply(e, provenance).is_empty())
            .count()
    }

    fn now(&self) -> Timestamp {
        (self.inner.options.clock)()
    }

    fn claim(&self, server: &str) -> Result<BusyGuard<'_>, ManagerError> {
        let mut busy = lock(&self.inner.busy);
        if !busy.insert(server.to_owned()) {
            return Err(ManagerError::Busy {
                server: server.to_owned(),
            });
        }
        Ok(BusyGuard {
            busy: &self.inner.busy,
            server: server.to_owned(),
        })
    }

    fn observe(
        &self,
        request: &str,
        server: &str,
        phase: ProgressPhase,
        description: String,
        detail: Option<String>,
    ) {
        if let Some(o) = &self.inner.options.observer {
            o(&Progress {
                request: request.to_owned(),
                server: server.to_owned(),
                phase,
                description,
                detail,
            });
        }
    }

    /// Provisions a boot disk for a server (idempotent by request ID: a completed request
    /// returns its assignment, an interrupted one resumes).
    ///
    /// # Errors
    /// [`ManagerError`]; a failed step is rolled back before the error returns.
    pub async fn provision(&self, req: ProvisionRequest) -> Result<ProvisionReport, ManagerError> {
        let started = Instant::now();
        let server = req.boot.server.name.as_str().to_owned();
        let _guard = self.claim(&server)?;
        let result = self.provision_claimed(req).await;
        let took = started.elapsed();
        self.inner.metrics.record_provision(&result, took);
        let took = crate::wording::duration(took);
        match &result {
            Ok(r) => {
                let p = &r.assignment.primary;
                tracing::info!(
                    server,
                    lun = %format_args!("{} LUN {}", p.target, p.lun),
                    outcome = if r.replayed { "already provisioned" } else { "provisioned" },
                    %took,
                    "provisioning"
                );
            }
            Err(e) => tracing::info!(server, outcome = "failed", error = %e, %took, "provisioning"),
        }
        result
    }

    async fn provision_claimed(
        &self,
        req: ProvisionRequest,
    ) -> Result<ProvisionReport, ManagerError> {
        let id = req.boot.id.as_str().to_owned();
        let server = req.boot.server.name.as_str().to_owned();
        let existing = lock(&self.inner.store)
            .request(&id)?
            .filter(|s| s.state != RequestState::Refused);
        if let Some(stored) = existing {
            if stored.kind != RequestKind::Provision || stored.server != server {
                return Err(ManagerError::Conflict(format!(
                    "request ID {id} was used for the {} of {}",
                    stored.kind.as_str(),
                    stored.server
                )));
            }
            let body: ProvisionBody = serde_json::from_str(&stored.body_json).map_err(internal)?;
            if body.request != req.boot {
                return Err(ManagerError::Conflict(format!(
                    "request ID {id} was used for a different request for {server}; send a new ID"
                )));
            }
            return match stored.state {
                RequestState::Completed => self.report(&id, true, Vec::new()),
                RequestState::RolledBack => Err(ManagerError::RolledBackEarlier {
                    request: id,
                    error: stored.error.unwrap_or_default(),
                }),
                // Filtered out above: a refusal is served again like a new request.
                RequestState::Refused => Err(internal("a refused request cannot be replayed")),
                RequestState::Released => Err(ManagerError::Conflict(format!(
                    "request {id} was provisioned and later released; send a new request ID"
                ))),
                RequestState::InFlight => {
                    self.run_provision(&id, &body, stored.secret.as_deref())
                        .await
                }
                RequestState::RollingBack => {
                    self.finish_rollback(
                        &id,
                        &body,
                        stored.secret.as_deref(),
                        stored.error.unwrap_or_default(),
                    )
                    .await
                }
            };
        }
        let now = self.now();
        let reserved = {
            // Checked and reserved under one lock: two requests cannot both pass the check.
            let mut engine = lock(&self.inner.engine);
            refuse_shared_names_or_bmc(&engine, &req.boot)?;
            engine.reserve(&req.boot, now)
        };
        let reserved = match reserved {
            Ok(r) => r,
            Err(rejection) => {
                let error = rejection.to_string();
                // Best effort: the answer to the caller matters more than the record.
                if let Ok(body) = serde_json::to_string(&ProvisionBody {
                    request: req.boot.clone(),
                    power_cycle: req.power_cycle.unwrap_or(self.inner.options.power_cycle),
                }) && let Err(e) =
                    lock(&self.inner.store).record_refusal(&id, &server, &body, &error)
                {
                    tracing::warn!(error = %e, request = %id, "cannot record a refused request");
                }
                return Err(rejection.into());
            }
        };
        let mut random = [0u8; PLAN_RANDOM_LEN];
        (self.inner.options.random)(&mut random);
        let body = ProvisionBody {
            request: req.boot.clone(),
            power_cycle: req.power_cycle.unwrap_or(self.inner.options.power_cycle),
        };
        let stored = (|| {
            let body_json = serde_json::to_string(&body).map_err(internal)?;
            let alloc_json = serde_json::to_string(&reserved.allocation).map_err(internal)?;
            lock(&self.inner.store)
                .begin_request(&NewRequest {
                    request_id: &id,
                    server: &server,
                    kind: RequestKind::Provision,
                    body_json: &body_json,
                    secret: Some(&random),
                    allocation: Some((&id, &alloc_json)),
                })
                .map_err(ManagerError::from)
        })();
        if let Err(e) = stored {
            // Nothing happened outside yet: undo the in-memory reservation.
            lock(&self.inner.engine).release(&req.boot.id);
            return Err(match e {
                // The schema refused a second holder the in-memory ledger did not know of.
                ManagerError::Store(held @ StoreError::Held { .. }) => {
                    ManagerError::Conflict(held.to_string())
                }
                other => other,
            });
        }
        self.run_provision(&id, &body, Some(&random)).await
    }

    fn plan_for(
        &self,
        id: &str,
        secret: Option<&[u8]>,
    ) -> Result<boot_config_core::ProvisioningPlan, ManagerError> {
        lock(&self.inner.engine)
            .provisioning_plan(&RequestId::new(id), secret.unwrap_or(&[]))
            .map_err(internal)
    }

    /// What the effects need to know about `action` from the engine, read under one lock
    /// (again on every attempt: a retry may find a DD the previous attempt created).
    fn step_context<'a>(
        &self,
        action: &Action,
        request: &'a str,
        server: &'a str,
        power_cycle: bool,
    ) -> StepContext<'a> {
        let engine = lock(&self.inner.engine);
        let inv = engine.inventory();
        let dd = match action {
            Action::CreateDd { dd_name, .. }
            | Action::AddDdMember { dd_name, .. }
            | Action::RemoveDd { dd_name }
            | Action::RemoveDdMember { dd_name, .. } => inv.dd_named(dd_name),
            _ => None,
        };
        StepContext {
            request,
            server,
            known_dd: dd.as_ref().map(|d| d.id.0),
            power_cycle,
            target_portals: portals_of(inv, action),
            notified: notified_by(&engine, action, request, dd.as_ref()),
        }
    }

    /// Runs one action (engine actions here, the rest through the effects), retrying
    /// transient failures.
    async fn execute(
        &self,
        action: &Action,
        request: &str,
        server: &str,
        provision: Option<&ProvisionBody>,
    ) -> Result<StepOutcome, StepError> {
        let power_cycle = provision.is_some_and(|b| b.power_cycle);
        match action {
            Action::Reserve { .. } => {
                // Reserved when the request was stored; re-reserving renews a lapsed hold.
                let body = provision
                    .ok_or_else(|| StepError::permanent("reserve outside a provisioning"))?;
                lock(&self.inner.engine)
                    .reserve(&body.request, self.now())
                    .map(|_| StepOutcome::detail("held"))
                    .map_err(|e| StepError::permanent(e.to_string()))
            }
            Action::Commit { request: rid } => self
                .commit(rid)
                .map_err(|e| StepError::permanent(e.to_string())),
            Action::Release { request: rid } => {
                lock(&self.inner.engine).release(rid);
                Ok(StepOutcome::detail("LUN returned to the pool"))
            }
            _ => {
                let owner = provisioning_of(request);
                if let Some(skipped) = self.ownership_gate(action, owner, server)? {
                    return Ok(skipped);
                }
                let retry = self.inner.options.retry;
                let mut delay = retry.first_delay;
                let mut attempt = 1;
                loop {
                    let ctx = self.step_context(action, request, server, power_cycle);
                    let attempt_result = tokio::time::timeout(
                        self.inner.options.step_timeout,
                        self.inner.effects.perform(action, &ctx),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Err(StepError::transient(format!(
                            "{action}: no outcome within {}",
                            crate::wording::duration(self.inner.options.step_timeout)
                        )))
                    });
                    match attempt_result {
                        Ok(outcome) => {
                            if !outcome.events.is_empty() {
                                let seen = Provenance::new(
                                    boot_config_core::Source::IsnsRegistration,
                                    self.now(),
                                );
                                self.apply(&outcome.events, seen);
                            }
                            if let Some((bmc, suite)) = &outcome.cipher_suite {
                                let _ = lock(&self.inner.store).remember_cipher_suite(bmc, *suite);
                            }
                            if let Some((bmc, fp)) = &outcome.cert_pin
                                && let Err(e) = lock(&self.inner.store).remember_cert_pin(bmc, fp)
                            {
                                tracing::warn!(bmc, error = %e, "recording the bmc certificate pin");
                            }
                            if let Some(uuid) = &outcome.system_uuid
                                && let Err(e) =
                                    lock(&self.inner.store).set_server_uuid(server, uuid, "bmc")
                            {
                                tracing::warn!(server, error = %e, "remembering the system uuid");
                            }
                            self.record_ownership(action, owner, &outcome)?;
                            return Ok(outcome);
                        }
                        Err(e) if e.transient && attempt < retry.attempts.max(1) => {
                            tracing::warn!(request, step = %action, attempt, error = %e, "step failed, retrying");
                            self.inner.metrics.step_retried();
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(retry.max_delay);
                            attempt += 1;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// Ownership is data: before an action creates an iSNS object the store records which
    /// provisioning (`owner`) creates it, refusing an object another live provisioning owns;
    /// an action that removes something, or clears a BMC, runs only on what `owner` created
    /// or holds, and is otherwise skipped (`Some`, saying why). A target is never deregistered.
    fn ownership_gate(
        &self,
        action: &Action,
        owner: &str,
        server: &str,
    ) -> Result<Option<StepOutcome>, StepError> {
        let store_err = |e: StoreError| StepError::transient(e.to_string());
        let mut store = lock(&self.inner.store);
        let refuse = |what: &str, o: crate::store::Owned| {
            StepError::permanent(format!(
                "{what} was created by request {} of server {}; it is not this request's to use",
                o.request_id, o.server
            ))
        };
        let owned_by_us = |store: &Store, kind: OwnedKind, name: &str| {
            store
                .owner(kind, name)
                .map(|o| o.is_some_and(|o| o.request_id == owner))
        };
        match action {
            Action::CreateDd { dd_name, .. } => {
                if let Some(o) = store
                    .claim(OwnedKind::Dd, dd_name, owner, server)
                    .map_err(store_err)?
                {
                    return Err(refuse(&format!("DD {dd_name}"), o));
                }
            }
            Action::RegisterInitiator {
                initiator,
                server: s,
            } => {
                if let Some(o) = store
                    .claim(OwnedKind::Initiator, initiator.as_str(), owner, s.as_str())
                    .map_err(store_err)?
                {
                    return Err(refuse(&format!("initiator {initiator}"), o));
                }
                let entity = format!("bcm.{}", s.as_str());
                if let Some(o) = store
                    .claim(OwnedKind::Entity, &entity, owner, s.as_str())
                    .map_err(store_err)?
                {
                    return Err(refuse(&format!("entity {entity}"), o));
                }
            }
            Action::RemoveDd { dd_name } | Action::RemoveDdMember { dd_name, .. } => {
                let ours = owned_by_us(&store, OwnedKind::Dd, dd_name).map_err(store_err)?;
                if !ours {
                    return Ok(Some(StepOutcome::detail(format!(
                        "DD {dd_name} left alone: not created by {owner}"
                    ))));
                }
            }
            Action::DeregisterInitiator { initiator } => {
                drop(store);
                let is_target = lock(&self.inner.engine)
                    .inventory()
                    .target(initiator.as_str())
                    .is_some();
                if is_target {
                    return Ok(Some(StepOutcome::detail(format!(
                        "{initiator} left alone: it is a target"
                    ))));
                }
                let store = lock(&self.inner.store);
                if !owned_by_us(&store, OwnedKind::Initiator, initiator.as_str())
                    .map_err(store_err)?
                {
                    return Ok(Some(StepOutcome::detail(format!(
                        "{initiator} left alone: not registered by {owner}"
                    ))));
                }
            }
            Action::ClearBmcBootConfig { bmc: Some(bmc) } => {
                if let Some(holder) = store.bmc_holder(bmc).map_err(store_err)?
                    && holder != owner
                {
                    return Ok(Some(StepOutcome::detail(format!(
                        "BMC {bmc} left alone: it boots request {holder}'s server"
                    ))));
                }
            }
            _ => {}
        }
        Ok(None)
    }

    /// After an action succeeded: the DD_ID of a DD created, or the records of objects removed.
    fn record_ownership(
        &self,
        action: &Action,
        owner: &str,
        outcome: &StepOutcome,
    ) -> Result<(), StepError> {
        let store = lock(&self.inner.store);
        let result = match action {
            Action::CreateDd { dd_name, .. } => {
                let id = outcome.events.iter().find_map(|e| match e {
                    InventoryEvent::DdUpserted(spec) => Some(spec.id.0),
                    InventoryEvent::DdMemberAdded { dd, .. } => Some(dd.0),
                    _ => None,
                });
                match id {
                    Some(id) => store.set_owned_dd_id(dd_name, id),
                    None => Ok(()),
                }
            }
            Action::RemoveDd { dd_name } => store.disown(OwnedKind::Dd, dd_name, owner),
            Action::DeregisterInitiator { initiator } => {
                match store.owner(OwnedKind::Initiator, initiator.as_str()) {
                    Ok(Some(o)) => store
                        .disown(OwnedKind::Initiator, initiator.as_str(), owner)
                        .and_then(|()| {
                            store.disown(OwnedKind::Entity, &format!("bcm.{}", o.server), owner)
                        }),
                    other => other.map(drop),
                }
            }
            _ => Ok(()),
        };
        result.map_err(|e| StepError::transient(e.to_string()))
    }

    fn commit(&self, id: &RequestId) -> Result<StepOutcome, ManagerError> {
        let now = self.now();
        let json = {
            let mut engine = lock(&self.inner.engine);
            let a = engine.commit(id, now).map_err(|e| match e {
                LedgerError::ReservationExpired { .. } => internal(format!(
                    "{e}: the steps took longer than the reservation TTL"
                )),
                other => internal(other),
            })?;
            serde_json::to_string(a).map_err(internal)?
        };
        lock(&self.inner.store).set_state(
            id.as_str(),
            RequestState::Completed,
            None,
            LedgerChange::Put(id.as_str(), &json),
        )?;
        Ok(StepOutcome::detail("assignment committed"))
    }

    fn done_steps(&self, id: &str) -> Result<JournalSummary, ManagerError> {
        let entries = lock(&self.inner.store).steps(id)?;
        let done = entries
            .iter()
            .filter(|e| e.phase == StepPhase::Done)
            .map(|e| e.step)
            .collect();
        let compensated = entries
            .iter()
            .filter(|e| e.phase == StepPhase::Compensated)
            .map(|e| e.step)
            .collect();
        let last_begun = entries
            .iter()
            .filter(|e| e.phase == StepPhase::Begun)
            .map(|e| e.step)
            .max();
        Ok((done, compensated, last_begun))
    }

    /// Runs one step with its journal entries (`begun` before, `done` or `failed` after) and
    /// progress reports: the part every provisioning and release step shares.
    async fn journalled(
        &self,
        request: &str,
        server: &str,
        index: u32,
        step: &'static str,
        description: String,
        work: impl Future<Output = Result<StepOutcome, StepError>>,
    ) -> Result<Result<StepReport, StepError>, ManagerError> {
        lock(&self.inner.store).journal(request, index, StepPhase::Begun, None)?;
        self.observe(
            request,
            server,
            ProgressPhase::Started,
            description.clone(),
            None,
        );
        match work.await {
            Ok(outcome) => {
                lock(&self.inner.store).journal(
                    request,
                    index,
                    StepPhase::Done,
                    Some(&outcome.detail),
                )?;
                self.observe(
                    request,
                    server,
                    ProgressPhase::Done,
                    description.clone(),
                    Some(outcome.detail.clone()),
                );
                Ok(Ok(StepReport {
                    step,
                    description,
                    detail: outcome.detail,
                }))
            }
            Err(e) => {
                self.inner.metrics.step_failed(step);
                lock(&self.inner.store).journal(
                    request,
                    index,
                    StepPhase::Failed,
                    Some(&e.message),
                )?;
                self.observe(
                    request,
                    server,
                    ProgressPhase::Failed,
                    description,
                    Some(e.message.clone()),
                );
                Ok(Err(e))
            }
        }
    }

    async fn run_provision(
        &self,
        id: &str,
        body: &ProvisionBody,
        secret: Option<&[u8]>,
    ) -> Result<ProvisionReport, ManagerError> {
        let server = body.request.server.name.as_str();
        let plan = self.plan_for(id, secret)?;
        let (done, _, _) = self.done_steps(id)?;
        let mut reports = Vec::new();
        for (i, step) in plan.steps.iter().enumerate() {
            let index = u32::try_from(i).map_err(internal)?;
            if done.contains(&index) {
                continue;
            }
            let work = self.execute(&step.action, id, server, Some(body));
            // Commit moves the request to completed with the allocation itself.
            match self
                .journalled(
                    id,
                    server,
                    index,
                    step_name(step),
                    step.action.to_string(),
                    work,
                )
                .await?
            {
                Ok(report) => reports.push(report),
                Err(e) => {
                    let error = format!("{}: {}", step_name(step), e.message);
                    lock(&self.inner.store).set_state(
                        id,
                        RequestState::RollingBack,
                        Some(&error),
                        LedgerChange::None,
                    )?;
                    return self.finish_rollback(id, body, secret, error).await;
                }
            }
        }
        self.report(id, false, reports)
    }

    /// Rolls the request back (see [`Manager::roll_back`]) and returns the step failure
    /// that caused it, marked rolled back.
    async fn finish_rollback(
        &self,
        id: &str,
        body: &ProvisionBody,
        secret: Option<&[u8]>,
        error: String,
    ) -> Result<ProvisionReport, ManagerError> {
        let step = self.roll_back(id, body, secret, &error).await?;
        Err(ManagerError::StepFailed {
            request: id.to_owned(),
            step,
            error,
            rolled_back: true,
        })
    }

    /// Runs the compensations of every step that began and was not compensated yet, newest
    /// first, ending with the release of the reservation; returns the name of the step that
    /// failed (`error` says why). A compensation that fails leaves the request rolling back.
    async fn roll_back(
        &self,
        id: &str,
        body: &ProvisionBody,
        secret: Option<&[u8]>,
        error: &str,
    ) -> Result<String, ManagerError> {
        let server = body.request.server.name.as_str();
        let plan = self.plan_for(id, secret)?;
        let (_, compensated, last_begun) = self.done_steps(id)?;
        let failed_step = last_begun
            .and_then(|i| plan.steps.get(usize::try_from(i).ok()?))
            .map_or_else(|| "reserve".to_owned(), |s| step_name(s).to_owned());
        let upto = last_begun.map_or(0, |i| i);
        for (i, step) in plan.steps.iter().enumerate().rev() {
            let index = u32::try_from(i).map_err(internal)?;
            if index > upto || compensated.contains(&index) {
                continue;
            }
            let Some(comp) = &step.compensation else {
                continue;
            };
            match self.execute(comp, id, server, None).await {
                Ok(outcome) => {
                    lock(&self.inner.store).journal(
                        id,
                        index,
                        StepPhase::Compensated,
                        Some(&outcome.detail),
                    )?;
                    self.observe(
                        id,
                        server,
                        ProgressPhase::Compensated,
                        comp.to_string(),
                        Some(outcome.detail),
                    );
                }
                Err(e) => {
                    tracing::error!(request = id, step = %comp, error = %e, "compensation failed; the request stays rolling-back");
                    return Err(ManagerError::StepFailed {
                        request: id.to_owned(),
                        step: failed_step,
                        error: format!("{error}; then compensation '{comp}' failed: {e}"),
                        rolled_back: false,
                    });
                }
            }
        }
        lock(&self.inner.store).set_state(
            id,
            RequestState::RolledBack,
            None,
            LedgerChange::Delete(id),
        )?;
        Ok(failed_step)
    }

    /// Releases whatever `server` holds: clears its BMC, removes its DD and initiator (and
    /// target CHAP account), returns the LUN to the pool.
    ///
    /// # Errors
    /// [`ManagerError::NothingToRelease`], [`ManagerError::Busy`], or
    /// [`ManagerError::ReleaseIncomplete`] (retry).
    pub async fn release(&self, server: &str) -> Result<Vec<StepReport>, ManagerError> {
        let started = Instant::now();
        let _guard = self.claim(server)?;
        let result = self.release_claimed(server).await;
        self.inner.metrics.record_release(&result);
        let took = crate::wording::duration(started.elapsed());
        match &result {
            Ok(_) => tracing::info!(server, outcome = "released", %took, "release"),
            Err(e) => tracing::info!(server, outcome = "failed", error = %e, %took, "release"),
        }
        result
    }

    async fn release_claimed(&self, server: &str) -> Result<Vec<StepReport>, ManagerError> {
        let allocation = lock(&self.inner.engine)
            .ledger()
            .for_server(&boot_config_core::ServerName::new(server))
            .cloned();
        let Some(allocation) = allocation else {
            return Err(ManagerError::NothingToRelease {
                server: server.to_owned(),
            });
        };
        let provision = allocation.id().as_str().to_owned();
        if !allocation.is_committed() {
            return Err(ManagerError::Conflict(format!(
                "server {server}'s provisioning {provision} has not finished; it is resumed or rolled back by the manager"
            )));
        }
        let release_id = format!("release:{provision}");
        let body = serde_json::to_string(&ReleaseBody {
            provision: provision.clone(),
        })
        .map_err(internal)?;
        lock(&self.inner.store).begin_request(&NewRequest {
            request_id: &release_id,
            server,
            kind: RequestKind::Release,
            body_json: &body,
            secret: None,
            allocation: None,
        })?;
        self.run_release(&release_id, &allocation).await
    }

    async fn run_release(
        &self,
        release_id: &str,
        allocation: &Allocation,
    ) -> Result<Vec<StepReport>, ManagerError> {
        let server = allocation.server().as_str();
        let provision = allocation.id().as_str();
        let actions = Engine::release_plan_of(allocation);
        let (done, _, _) = self.done_steps(release_id)?;
        let mut reports = Vec::new();
        for (i, action) in actions.iter().enumerate() {
            let index = u32::try_from(i).map_err(internal)?;
            if done.contains(&index) {
                continue;
            }
            let work = async {
                if let Action::Release { request } = action {
                    lock(&self.inner.engine).release(request);
                    lock(&self.inner.store)
                        .finish_release(release_id, provision)
                        .map(|()| StepOutcome::detail("LUN returned to the pool"))
                        .map_err(|e| StepError::permanent(e.to_string()))
                } else {
                    self.execute(action, release_id, server, None).await
                }
            };
            match self
                .journalled(
                    release_id,
                    server,
                    index,
                    action_name(action),
                    action.to_string(),
                    work,
                )
                .await?
            {
                Ok(report) => reports.push(report),
                Err(e) => {
                    lock(&self.inner.store).set_state(
                        release_id,
                        RequestState::InFlight,
                        Some(&e.message),
                        LedgerChange::None,
                    )?;
                    return Err(ManagerError::ReleaseIncomplete {
                        server: server.to_owned(),
                        step: action_name(action).to_owned(),
                        error: e.message,
                    });
                }
            }
        }
        Ok(reports)
    }

    /// After a restart (feed the inventory's first full walk first): resumes in-flight
    /// provisionings whose reservation holds, rolls back the rest, finishes releases, then
    /// reconciles the ledger with iSNS's DDs (repairs committed DDs, removes orphan DDs and
    /// their initiators). Errors of single requests are collected, not fatal.
    ///
    /// # Errors
    /// Store errors.
    pub async fn recover(&self) -> Result<RecoveryOutcome, ManagerError> {
        let mut out = RecoveryOutcome::default();
        let unfinished = lock(&self.inner.store).unfinished()?;
        for stored in unfinished {
            let Ok(_guard) = self.claim(&stored.server) else {
                continue; // being worked on right now
            };
            let id = stored.request_id.clone();
            let result = match stored.kind {
                RequestKind::Provision => {
                    let body: ProvisionBody =
                        serde_json::from_str(&stored.body_json).map_err(internal)?;
                    let expired = lock(&self.inner.engine)
                        .ledger()
                        .get(&RequestId::new(&id))
                        .is_none_or(|a| a.is_expired(self.now()));
                    if stored.state == RequestState::RollingBack || expired {
                        let why = stored.error.clone().unwrap_or_else(|| {
                            "the manager stopped mid-way and the reservation lapsed".to_owned()
                        });
                        if stored.state == RequestState::InFlight {
                            lock(&self.inner.store).set_state(
                                &id,
                                RequestState::RollingBack,
                                Some(&why),
                                LedgerChange::None,
                            )?;
                        }
                        self.roll_back(&id, &body, stored.secret.as_deref(), &why)
                            .await
                            .map(|_| out.rolled_back.push(id.clone()))
                    } else {
                        match self
                            .run_provision(&id, &body, stored.secret.as_deref())
                            .await
                        {
                            Ok(_) => {
                                out.resumed.push(id.clone());
                                Ok(())
                            }
                            Err(ManagerError::StepFailed {
                                rolled_back: true, ..
                            }) => {
                                out.rolled_back.push(id.clone());
                                Ok(())
                            }
                            Err(e) => Err(e),
                        }
                    }
                }
                RequestKind::Release => {
                    let body: ReleaseBody =
                        serde_json::from_str(&stored.body_json).map_err(internal)?;
                    let allocation = lock(&self.inner.engine)
                        .ledger()
                        .get(&RequestId::new(&body.provision))
                        .cloned();
                    match allocation {
                        Some(a) => self
                            .run_release(&id, &a)
                            .await
                            .map(|_| out.released.push(id.clone())),
                        None => lock(&self.inner.store)
                            .finish_release(&id, &body.provision)
                            .map_err(ManagerError::from),
                    }
                }
            };
            if let Err(e) = result {
                out.errors.push(format!("{id}: {e}"));
            }
        }
        self.reconcile(&mut out).await;
        self.reassert_target_chap(&mut out).await;
        Ok(out)
    }

    /// Re-asserts the target CHAP accounts of committed assignments: a target that lost them
    /// (tgtd keeps them in memory only, so a restart forgets them) would admit the server
    /// without CHAP, or refuse it. Accounts the effects report in place are left alone (a
    /// read, without claiming the server); a missing one is set again under the server's
    /// claim, unless an operation for it is running (that operation owns its accounts).
    async fn reassert_target_chap(&self, out: &mut RecoveryOutcome) {
        let committed: Vec<(String, String)> = lock(&self.inner.engine)
            .ledger()
            .iter()
            .filter(|a| a.is_committed() && a.request.auth != boot_config_core::AuthWanted::None)
            .map(|a| (a.id().as_str().to_owned(), a.server().as_str().to_owned()))
            .collect();
        for (id, server) in committed {
            let plan = lock(&self.inner.store)
                .request(&id)
                .map_err(ManagerError::from)
                .and_then(|r| self.plan_for(&id, r.and_then(|r| r.secret).as_deref()));
            let action = match plan {
                Ok(plan) => plan.steps.into_iter().find_map(|s| match s.action {
                    a @ Action::SetTargetChap { .. } => Some(a),
                    _ => None,
                }),
                Err(e) => {
                    out.errors.push(format!("{id}: target CHAP: {e}"));
                    continue;
                }
            };
            let Some(action) = action else { continue };
            let ctx = self.step_context(&action, &id, &server, false);
            let in_place = self.inner.effects.target_chap_in_place(&action, &ctx).await;
            if in_place == Some(true) {
                continue;
            }
            let Ok(_guard) = self.claim(&server) else {
                continue;
            };
            // A release may have finished between the check and the claim.
            let still = lock(&self.inner.engine)
                .ledger()
                .get(&RequestId::new(&id))
                .is_some_and(boot_config_core::Allocation::is_committed);
            if !still {
                continue;
            }
            match self.execute(&action, &id, &server, None).await {
                Ok(_) if in_place == Some(false) => {
                    tracing::warn!(server, "target CHAP account was missing; set again");
                    out.chap_reasserted.push(id);
                }
                Ok(_) => {}
                Err(e) => out.errors.push(format!("{id}: {action}: {e}")),
            }
        }
    }

    /// Brings iSNS in line with the ledger: repairs the DDs of committed assignments and
    /// removes DDs named by this manager that no assignment accounts for.
    async fn reconcile(&self, out: &mut RecoveryOutcome) {
        let (report, initiators, servers) = {
            let engine = lock(&self.inner.engine);
            let servers: std::collections::BTreeMap<String, boot_config_core::ServerName> = engine
                .ledger()
                .iter()
                .map(|a| (a.id().as_str().to_owned(), a.server().clone()))
                .collect();
            let initiators: BTreeSet<String> = engine
                .ledger()
                .iter()
                .map(|a| a.initiator.as_str().to_owned())
                .collect();
            (engine.reconcile(self.now()), initiators, servers)
        };
        let conflicting: BTreeSet<String> =
            self.conflicts().into_iter().map(|c| c.request).collect();
        for action in report.actions {
            let (request, actions, server) = match action {
                RecoveryAction::RepairDd {
                    request,
                    dd_name,
                    dd,
                    missing,
                    extra,
                } => {
                    let mut actions = Vec::new();
                    if dd.is_none() {
                        let initiator = missing.iter().find(|m| initiators.contains(m.as_str()));
                        if let (Some(i), Some(server)) = (initiator, servers.get(request.as_str()))
                        {
                            actions.push(Action::RegisterInitiator {
                                initiator: i.clone(),
                                server: server.clone(),
                            });
                        }
                        actions.push(Action::CreateDd {
                            dd_name: dd_name.clone(),
                            targets: missing,
                        });
                    } else {
                        actions.extend(missing.into_iter().map(|m| Action::AddDdMember {
                            dd_name: dd_name.clone(),
                            member: m,
                        }));
                    }
                    actions.extend(extra.into_iter().map(|m| Action::RemoveDdMember {
                        dd_name: dd_name.clone(),
                        member: m,
                    }));
                    out.repaired.push(request.as_str().to_owned());
                    let server = servers
                        .get(request.as_str())
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default();
                    (request.as_str().to_owned(), actions, server)
                }
                RecoveryAction::RemoveOrphanDd { name, members, dd } => {
                    // Only what the store records as created by a provisioning that no longer
                    // holds an allocation (and is not a conflict awaiting `bcm repair`); a DD
                    // recorded with another DD_ID is a namesake someone else made.
                    let record = lock(&self.inner.store).owner(OwnedKind::Dd, &name);
                    let owner = match record {
                        Ok(Some(o))
                            if !servers.contains_key(&o.request_id)
                                && !conflicting.contains(&o.request_id)
                                && o.dd_id.is_none_or(|id| id == dd.0) =>
                        {
                            o
                        }
                        _ => {
                            out.orphans_left.push(name.clone());
                            continue;
                        }
                    };
                    let mut actions = vec![(
                        Action::RemoveDd {
                            dd_name: name.clone(),
                        },
                        owner.request_id.clone(),
                        owner.server.clone(),
                    )];
                    for m in members {
                        if initiators.contains(m.as_str()) {
                            continue;
                        }
                        let rec = lock(&self.inner.store).owner(OwnedKind::Initiator, m.as_str());
                        if let Ok(Some(o)) = rec
                            && !servers.contains_key(&o.request_id)
                            && !conflicting.contains(&o.request_id)
                        {
                            actions.push((
                                Action::DeregisterInitiator { initiator: m },
                                o.request_id,
                                o.server,
                            ));
                        }
                    }
                    out.orphans_removed.push(name.clone());
                    for (a, request, server) in actions {
                        if let Err(e) = self.execute(&a, &request, &server, None).await {
                            out.errors.push(format!("{request}: {a}: {e}"));
                        }
                    }
                    continue;
                }
                RecoveryAction::LunMissing { request, lun } => {
                    out.luns_missing.push(format!("{request}: {lun}"));
                    continue;
                }
                _ => continue,
            };
            for a in actions {
                if let Err(e) = self.execute(&a, &request, &server, None).await {
                    out.errors.push(format!("{request}: {a}: {e}"));
                }
            }
        }
    }

    /// Retries every incomplete rollback (a compensation that failed, e.g. a CHAP hook that
    /// timed out) whose server has no operation running; returns how many are still pending.
    /// `bcm serve` calls it with back-off, so a rollback does not wait for a restart.
    pub async fn retry_rollbacks(&self) -> usize {
        let pending = match lock(&self.inner.store).unfinished() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "listing unfinished requests");
                return 0;
            }
        };
        let mut left = 0;
        for stored in pending {
            if stored.state != RequestState::RollingBack || stored.kind != RequestKind::Provision {
                continue;
            }
            let Ok(_guard) = self.claim(&stored.server) else {
                left += 1;
                continue;
            };
            let Ok(body) = serde_json::from_str::<ProvisionBody>(&stored.body_json) else {
                left += 1;
                continue;
            };
            let why = stored.error.clone().unwrap_or_default();
            match self
                .roll_back(&stored.request_id, &body, stored.secret.as_deref(), &why)
                .await
            {
                Ok(_) => {
                    tracing::info!(request = %stored.request_id, "incomplete rollback finished");
                }
                Err(e) => {
                    tracing::warn!(request = %stored.request_id, error = %e, "rollback still incomplete; retrying later");
                    left += 1;
                }
            }
        }
        left
    }

    /// Rolls back reservations that lapsed without an operation running for their server.
    pub async fn expire_lapsed(&self) -> Vec<String> {
        let now = self.now();
        let lapsed: Vec<(String, String)> = lock(&self.inner.engine)
            .ledger()
            .iter()
            .filter(|a| a.is_expired(now))
            .map(|a| (a.id().as_str().to_owned(), a.server().as_str().to_owned()))
            .collect();
        let mut out = Vec::new();
        for (id, server) in lapsed {
            let Ok(_guard) = self.claim(&server) else {
                continue;
            };
            let stored = lock(&self.inner.store).request(&id).ok().flatten();
            let Some(stored) = stored else { continue };
            let Ok(body) = serde_json::from_str::<ProvisionBody>(&stored.body_json) else {
                continue;
            };
            let why = "the reservation lapsed before the provisioning finished".to_owned();
            if lock(&self.inner.store)
                .set_state(
                    &id,
                    RequestState::RollingBack,
                    Some(&why),
                    LedgerChange::None,
                )
                .is_ok()
                && self
                    .roll_back(&id, &body, stored.secret.as_deref(), &why)
                    .await
                    .is_ok()
            {
                out.push(id);
            }
        }
        out
    }

    fn report(
        &self,
        id: &str,
        replayed: bool,
        steps: Vec<StepReport>,
    ) -> Result<ProvisionReport, ManagerError> {
        let engine = lock(&self.inner.engine);
        let a = engine
            .ledger()
            .get(&RequestId::new(id))
            .ok_or_else(|| internal(format!("request {id} has no allocation")))?;
        Ok(ProvisionReport {
            assignment: Assignment::of(a, &engine),
            replayed,
            steps,
        })
    }

    /// Every assignment (reserved or committed), by server name.
    pub fn assignments(&self) -> Vec<Assignment> {
        let engine = lock(&self.inner.engine);
        let mut v: Vec<Assignment> = engine
            .ledger()
            .iter()
            .map(|a| Assignment::of(a, &engine))
            .collect();
        v.sort_by(|a, b| a.server.cmp(&b.server));
        v
    }

    /// The CHAP secret generated for `server`'s assignment (only for callers that asked to
    /// see secrets).
    ///
    /// # Errors
    /// Store errors.
    pub fn chap_secret(&self, server: &str) -> Result<Option<String>, ManagerError> {
        let id = {
            let engine = lock(&self.inner.engine);
            match engine
                .ledger()
                .for_server(&boot_config_core::ServerName::new(server))
            {
                Some(a) => a.id().as_str().to_owned(),
                None => return Ok(None),
            }
        };
        let secret = lock(&self.inner.store).request(&id)?.and_then(|r| r.secret);
        let plan = self.plan_for(&id, secret.as_deref())?;
        Ok(plan.steps.iter().find_map(|s| match &s.action {
            Action::ConfigureBmc(b) => b.chap.as_ref().map(|c| c.secret.expose_secret().to_owned()),
            _ => None,
        }))
    }
}

/// Refuses a request whose server maps to the initiator name or DD name of another server's
/// live allocation (`Q`/`q`, `a/b`/`a-b`), or whose BMC another server's allocation holds:
/// before anything is reserved, naming the holder.
fn refuse_shared_names_or_bmc(engine: &Engine, req: &BootRequest) -> Result<(), ManagerError> {
    let naming = &engine.config().naming;
    let server = &req.server.name;
    let initiator = naming.initiator.initiator_for(server).ok();
    let dd = naming.dd_for(server).ok();
    let bmc = req.server.bmc.as_deref().map(crate::store::bmc_key);
    for a in engine.ledger().iter() {
        if a.server() == server {
            continue;
        }
        if initiator.as_ref() == Some(&a.initiator) || dd.as_deref() == Some(a.dd_name.as_str()) {
            return Err(ManagerError::Conflict(format!(
                "server {server} would get initiator {} and DD {}, which server {} holds (request {}); server names differing only in case or punctuation are one name in iSCSI: rename one",
                a.initiator,
                a.dd_name,
                a.server(),
                a.id()
            )));
        }
        if let (Some(want), Some(theirs)) = (&bmc, a.request.server.bmc.as_deref())
            && *want == crate::store::bmc_key(theirs)
        {
            return Err(ManagerError::Conflict(format!(
                "BMC {want} belongs to server {} (request {}); one BMC boots one server: release {} first or fix the address",
                a.server(),
                a.id(),
                a.server()
            )));
        }
    }
    Ok(())
}

/// The provisioning a request ID speaks for (`release:<id>` is the release of `<id>`).
fn provisioning_of(request: &str) -> &str {
    request.strip_prefix("release:").unwrap_or(request)
}

fn step_name(step: &PlannedStep) -> &'static str {
    match step.kind {
        StepKind::Reserve => "reserve",
        StepKind::SetTargetChap => "set target CHAP",
        StepKind::CreateDd => "create DD",
        StepKind::RegisterInitiator => "register initiator",
        StepKind::AddInitiatorToDd => "add initiator to DD",
        StepKind::ConfigureBmc => "configure BMC",
        StepKind::Commit => "commit",
    }
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::ClearBmcBootConfig { .. } => "clear BMC",
        Action::RemoveDdMember { .. } => "remove initiator from DD",
        Action::DeregisterInitiator { .. } => "deregister initiator",
        Action::RemoveDd { .. } => "remove DD",
        Action::RemoveTargetChap { .. } => "remove target CHAP",
        Action::Release { .. } => "release",
        _ => "step",
    }
}

#[cfg(test)]
mod tests;
