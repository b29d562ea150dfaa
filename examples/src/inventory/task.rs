//! The inventory task: iSNS session events in, probes out, updates to the manager.
//!
//! ```text
//!  IsnsClient events ──► Walked ──► EntitySnapshot/DdUpserted/...  ──► updates
//!                   │              └► management DD + probe initiator ensured
//!                   │              └► probe round (bounded, time-limited) ──► LunsReported /
//!                   │                                                        TargetUnreachable,
//!                   │                                                        Progress, Synced
//!                   ├► NodeChanged / NodeRemoved (SCN re-query) ──► TargetUpserted/Removed, probe
//!                   └► DdChanged / DdRemoved ──► DdUpserted / DdRemoved
//!  resync() ──► walk now (its round re-probes every target)
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use boot_config_core::{InventoryEvent, Provenance, Source, Timestamp};
use iscsi_probe::{Auth, ProbeError, SessionError, TargetReport};
use isns_proto::NodeType;
use isns_proto::client::{DdInfo, DdMember, EntityId, Event, NodeName, Snapshot};
use isns_proto::client_tokio::{DriverError, IsnsClient};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::config::InventoryConfig;
use super::translate::{self, Reported, TrackedTarget};
use super::update::{ConnectionState, InventoryUpdate, InventoryWarning, ProbeFailure};

/// Pause between login attempts while tgtd learns of a DD change.
const ADMISSION_RETRY: Duration = Duration::from_millis(250);

pub(crate) enum Control {
    Resync,
    Stop,
}

/// Probe tasks alive at once, per permit of `probe_concurrency`: a probe waiting for a
/// permit or for tgtd to admit it holds its task's memory (each several KiB), and spawning
/// one task per target took 80 MiB for 5,000 targets. The rest wait in `Task::probe_queue`.
const PROBE_TASKS_PER_PERMIT: usize = 4;

struct ProbeDone {
    target: String,
    round: Option<u64>,
    /// A task ran it (a target gone before its turn came is reported without one).
    spawned: bool,
    result: Result<TargetReport, ProbeError>,
}

struct Round {
    id: u64,
    started: Instant,
    total: usize,
    done: usize,
    luns: usize,
}

pub(crate) struct Task {
    cfg: InventoryConfig,
    isns: Arc<IsnsClient>,
    updates: mpsc::Sender<InventoryUpdate>,
    reported: Reported,
    targets: BTreeMap<String, TrackedTarget>,
    /// Target -> its management DD (ID and members).
    mgmt: BTreeMap<String, (u32, BTreeSet<String>)>,
    /// Management DDs this task created or filled since the last walk ended. A walk that
    /// was under way meanwhile may have read the DDs before the change: its snapshot would
    /// then drop the DD (or its new members) from the engine and make the next ensure try to
    /// create it again, which isnsd refuses ("clashes with existing DD").
    own_dds: BTreeMap<u32, DdInfo>,
    /// Whether this process renewed every target's SCN registration once (pacing::Pacer::sweep).
    swept: bool,
    /// The probe initiator as registered in iSNS: its node name, also its entity's name.
    probe_names: (NodeName, EntityId),
    initiator_registered: bool,
    /// When a management DD change last made isnsd send an SCN into a portal.
    /// Until when a "target not found" refusal of a target is retried.
    admit_until: BTreeMap<String, Instant>,
    semaphore: Arc<Semaphore>,
    probe_tx: mpsc::UnboundedSender<ProbeDone>,
    /// Probes waiting for a task (see [`PROBE_TASKS_PER_PERMIT`]).
    probe_queue: VecDeque<(String, Option<u64>)>,
    probe_tasks: usize,
    round: Option<Round>,
    next_round: u64,
    round_again: bool,
    walk_requested: Option<Instant>,
    registered_before: bool,
}

fn now_ts() -> Timestamp {
    Timestamp::from_unix(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

fn is_refusal(e: &ProbeError) -> bool {
    e.session_error() == Some(&SessionError::TargetNotFound)
}

/// Probes one target through its portals in order, all within `limit`; a refused login is
/// retried until `admit_until` (tgtd learning of a DD change).
async fn probe_target(
    portals: Vec<SocketAddr>,
    target: String,
    initiator: String,
    auth: Auth,
    limit: Duration,
    admit_until: Option<Instant>,
    semaphore: Arc<Semaphore>,
) -> Result<TargetReport, ProbeError> {
    loop {
        let result = {
            // The semaphore is never closed, so the permit is always granted.
            let _permit = semaphore.acquire().await.ok();
            probe_portals(&portals, &target, &initiator, &auth, limit).await
        };
        match &result {
            Err(e) if is_refusal(e) && admit_until.is_some_and(|t| Instant::now() < t) => {
                tokio::time::sleep(ADMISSION_RETRY).await;
            }
            _ => return result,
        }
    }
}

async fn probe_portals(
    portals: &[SocketAddr],
    target: &str,
    initiator: &str,
    auth: &Auth,
    limit: Duration,
) -> Result<TargetReport, ProbeError> {
    let deadline = Instant::now() + limit;
    let mut last = None;
    for &portal in portals {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match iscsi_probe::probe(portal, target, initiator, auth, left).await {
            Ok(r) => return Ok(r),
            // Only an unreachable portal makes another portal worth a try; a refusal or a
            // protocol failure would be the same there.
            Err(e @ (ProbeError::Connect { .. } | ProbeError::Io { .. })) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| match portals.first() {
        Some(&portal) => ProbeError::Timeout {
            portal,
            after: limit,
        },
        None => ProbeError::Connect {
            portal: SocketAddr::from(([0, 0, 0, 0], 0)),
            kind: std::io::ErrorKind::AddrNotAvailable,
            message: "the target has no portal registered in iSNS".to_owned(),
        },
    }))
}

impl Task {
    /// Spawns the task.
    pub(crate) fn spawn(
        cfg: InventoryConfig,
        probe_names: (NodeName, EntityId),
        isns: Arc<IsnsClient>,
        updates: mpsc::Sender<InventoryUpdate>,
        isns_events: mpsc::UnboundedReceiver<Event>,
        control: mpsc::UnboundedReceiver<Control>,
    ) -> tokio::task::JoinHandle<()> {
        let (probe_tx, probe_rx) = mpsc::unbounded_channel();
        let t = Task::new(cfg, probe_names, isns, updates, probe_tx);
        tokio::spawn(t.run(isns_events, probe_rx, control))
    }

    fn new(
        cfg: InventoryConfig,
        probe_names: (NodeName, EntityId),
        isns: Arc<IsnsClient>,
        updates: mpsc::Sender<InventoryUpdate>,
        probe_tx: mpsc::UnboundedSender<ProbeDone>,
    ) -> Task {
        let semaphore = Arc::new(Semaphore::new(cfg.probe_concurrency.max(1)));
        Task {
            cfg,
            isns,
            updates,
            reported: Reported::default(),
            targets: BTreeMap::new(),
            mgmt: BTreeMap::new(),
            own_dds: BTreeMap::new(),
            swept: false,
            probe_names,
            initiator_registered: false,
            admit_until: BTreeMap::new(),
            semaphore,
            probe_tx,
            probe_queue: VecDeque::new(),
            probe_tasks: 0,
            round: None,
            next_round: 1,
            round_again: false,
            walk_requested: Some(Instant::now()),
            registered_before: false,
        }
    }

    async fn run(
        mut self,
        mut isns_events: mpsc::UnboundedReceiver<Event>,
        mut probes: mpsc::UnboundedReceiver<ProbeDone>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        loop {
            tokio::select! {
                ev = isns_events.recv() => match ev {
                    Some(ev) => self.on_isns(ev).await,
                    None => return,
                },
                done = probes.recv() => {
                    if let Some(done) = done {
                        self.on_probe(done).await;
                    }
                },
                c = control.recv() => match c {
                    Some(Control::Resync) => {
                        self.walk_requested.get_or_insert_with(Instant::now);
                        self.isns.walk();
                    }
                    Some(Control::Stop) | None => return,
                },
            }
        }
    }

    async fn send(&self, u: InventoryUpdate) {
        // A manager that dropped its receiver no longer cares; keep serving isns().
        let _ = self.updates.send(u).await;
    }

    fn send_lossy(&self, u: InventoryUpdate) {
        let _ = self.updates.try_send(u);
    }

    async fn events(&self, events: Vec<InventoryEvent>, source: Source) {
        if events.is_empty() {
            return;
        }
        self.send(InventoryUpdate::Events {
            events,
            provenance: Provenance::new(source, now_ts()),
        })
        .await;
    }

    async fn on_isns(&mut self, ev: Event) {
        match ev {
            Event::Registered(r) => {
                let reconnected = self.registered_before;
                self.registered_before = true;
                // A registration is followed by a walk; measure the round from here.
                self.walk_requested.get_or_insert_with(Instant::now);
                self.send(InventoryUpdate::Connection(ConnectionState::Registered {
                    entity_id: r.entity_id,
                    registration_period: r.registration_period,
                    reconnected,
                }))
                .await;
            }
            Event::Disconnected {
                retry_in,
                cause,
                failures,
            } => {
                // Whatever the server held may be gone (a fresh database): check again.
                self.initiator_registered = false;
                self.send(InventoryUpdate::Connection(ConnectionState::Disconnected {
                    retry_in,
                    cause,
                    failures,
                }))
                .await;
            }
            Event::Walked(snap) => self.on_walk(&snap).await,
            Event::NodeChanged(n) => {
                let (events, tracked) = self.reported.node_changed(&n);
                self.events(events, Source::IsnsScn).await;
                match tracked {
                    Some(t) => {
                        let name = t.spec.name.as_str().to_owned();
                        self.targets.insert(name.clone(), t);
                        self.ensure_management(std::slice::from_ref(&name)).await;
                        self.spawn_probe(&name, None);
                    }
                    None => {
                        self.targets.remove(&n.name);
                    }
                }
            }
            Event::NodeRemoved { name } => {
                let events = self.reported.node_removed(&name);
                self.targets.remove(&name);
                self.events(events, Source::IsnsScn).await;
            }
            Event::DdChanged(dd) => {
                if let Some(t) = self.management_target(dd.name.as_deref()) {
                    let members = dd.member_names().map(str::to_owned).collect();
                    self.mgmt.insert(t, (dd.id, members));
                }
                let events = self.reported.dd_changed(&dd);
                self.events(events, Source::IsnsScn).await;
            }
            Event::DdRemoved { id } => {
                let events = self.reported.dd_removed(id);
                self.events(events, Source::IsnsScn).await;
                let lost: Vec<String> = self
                    .mgmt
                    .iter()
                    .filter(|(_, (dd, _))| *dd == id)
                    .map(|(t, _)| t.clone())
                    .collect();
                for t in &lost {
                    self.mgmt.remove(t);
                }
                let still: Vec<String> = lost
                    .into_iter()
                    .filter(|t| self.targets.contains_key(t))
                    .collect();
                self.ensure_management(&still).await;
            }
            Event::Error(e) => {
                tracing::warn!(error = %e, "isns session");
                self.send_lossy(InventoryUpdate::Warning(InventoryWarning::Isns(e)));
            }
            Event::Scn(notice) => {
                tracing::debug!(entries = notice.entries.len(), "scn");
            }
            // OpCompleted goes to the command's caller; ESI needs nothing from us.
            _ => {}
        }
    }

    async fn on_walk(&mut self, snap: &Snapshot) {
        let merged;
        let snap = if self.own_dds.is_empty() {
            snap
        } else {
            merged = with_own_dds(snap, std::mem::take(&mut self.own_dds));
            &merged
        };
        let (events, targets) = self.reported.walk(snap);
        self.targets = targets;
        self.events(events, Source::IsnsQuery).await;
        let is_probe = |n: &isns_proto::client::NodeInfo| {
            n.name == self.cfg.probe_initiator && n.node_type.contains(NodeType::INITIATOR)
        };
        // The walk lists the nodes behind a portal; the probe initiator usually is not.
        self.initiator_registered = snap.nodes.iter().any(is_probe)
            || self
                .isns
                .query_node(&self.cfg.probe_initiator)
                .await
                .ok()
                .flatten()
                .is_some_and(|n| is_probe(&n));
        self.mgmt.clear();
        for d in &snap.dds {
            if let Some(t) = self.management_target(d.name.as_deref()) {
                let members = d.member_names().map(str::to_owned).collect();
                // Several DDs of the same name: keep the lowest ID, like isnsadm lists them.
                if self.mgmt.get(&t).is_none_or(|(id, _)| d.id < *id) {
                    self.mgmt.insert(t, (d.id, members));
                }
            }
        }
        if !self.swept {
            // A previous process may have died between a change and its slot's end, leaving
            // an SCN connection into a tgtd open: close any before the first change.
            let pairs: Vec<(String, String)> = self
                .targets
                .iter()
                .map(|(name, t)| (t.spec.entity.as_str().to_owned(), name.clone()))
                .collect();
            match self.cfg.pacer.sweep(&pairs, &self.isns).await {
                Ok(()) => self.swept = true,
                Err(error) => tracing::warn!(%error, "scn renewal sweep"),
            }
        }
        let all: Vec<String> = self.targets.keys().cloned().collect();
        self.ensure_management(&all).await;
        self.start_round().await;
    }

    /// Makes sure the probe initiator is registered and shares a management DD with each of
    /// `targets`: one DD per target, `<management_dd>:<target>`. A DD holding several
    /// targets of one tgtd would make isnsd open one SCN connection per target into that
    /// tgtd on every membership change, and tgt 1.0.85 then blocks for good reading the
    /// wrong one (its SCN handler reads a single global socket). Targets whose DD is made
    /// now get an admission window for their probes.
    async fn ensure_management(&mut self, targets: &[String]) {
        let now = Instant::now();
        let window = now + self.cfg.admission_wait;
        if !self.initiator_registered {
            let name = self.cfg.probe_initiator.clone();
            let (node, entity) = &self.probe_names;
            match self.isns.register_initiator(node, entity, None).await {
                Ok(()) => {
                    self.initiator_registered = true;
                    // tgtd learns of a new initiator late, for every target.
                    for t in self.targets.keys() {
                        self.admit_until.insert(t.clone(), window);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, initiator = %name, "probe initiator registration");
                    self.send_lossy(InventoryUpdate::Warning(InventoryWarning::ProbeInitiator {
                        initiator: name,
                        error,
                    }));
                }
            }
        }
        let initiator = self.cfg.probe_initiator.clone();
        // What each target lacks, one chain of changes per storage entity: each change
        // notifies the target's entity (its tgtd) and is paced for that entity, with the
        // manager's own DD changes, by the shared crate::pacing::Pacer. The chains of
        // different entities run at once (one after the other they took the sum of every
        // entity's pacing).
        let mut chains: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
        for target in targets {
            let complete = self.mgmt.get(target).is_some_and(|(_, m)| {
                m.contains(initiator.as_str()) && m.contains(target.as_str())
            });
            if complete {
                continue;
            }
            let entity = self
                .targets
                .get(target)
                .map(|t| t.spec.entity.as_str().to_owned());
            chains.entry(entity).or_default().push(target.clone());
        }
        let this = &*self;
        let initiator_ref = initiator.as_str();
        let done = futures_util::future::join_all(chains.into_iter().map(
            |(entity, targets)| async move {
                let mut out = Vec::with_capacity(targets.len());
                for target in targets {
                    let r = this
                        .ensure_one(entity.as_deref(), &target, initiator_ref)
                        .await;
                    out.push((target, r, Instant::now()));
                }
                out
            },
        ))
        .await;
        for (target, (name, result), at) in done.into_iter().flatten() {
            match result {
                Ok(id) => {
                    let members = [initiator.clone(), target.clone()].into_iter().collect();
                    self.own_dds.insert(
                        id,
                        DdInfo {
                            id,
                            name: Some(name.clone()),
                            members: [initiator.as_str(), target.as_str()]
                                .into_iter()
                                .map(|m| DdMember {
                                    name: Some(m.to_owned()),
                                    index: None,
                                })
                                .collect(),
                        },
                    );
                    self.mgmt.insert(target.clone(), (id, members));
                    // tgtd learns of the change about a second after it: counted from the
                    // change, not from the start of a chain that may run for minutes.
                    self.admit_until
                        .insert(target, at.max(now) + self.cfg.admission_wait);
                }
                Err(error) => {
                    tracing::warn!(%error, dd = %name, "management dd");
                    self.send_lossy(InventoryUpdate::Warning(InventoryWarning::ManagementDd {
                        dd: name,
                        error,
                    }));
                }
            }
        }
    }

    /// Puts `target` and the probe initiator in the target's management DD (made when
    /// missing) within a pacer slot for `entity`; returns the DD's name and ID.
    async fn ensure_one(
        &self,
        entity: Option<&str>,
        target: &str,
        initiator: &str,
    ) -> (String, Result<u32, DriverError>) {
        let changes: Vec<(String, Option<String>)> = entity
            .map(|e| (e.to_owned(), Some(target.to_owned())))
            .into_iter()
            .collect();
        let slot = match self.cfg.pacer.slot(&changes, &self.isns).await {
            Ok(slot) => Some(slot),
            Err(error) => {
                // Without the renewal the change may still be delivered: go on.
                tracing::warn!(%error, %target, "scn renewal before a management dd change");
                None
            }
        };
        let name = super::management_dd_name(&self.cfg.management_dd, target);
        let result = match self.mgmt.get(target) {
            Some((id, members)) => {
                let id = *id;
                let missing: Vec<&str> = [initiator, target]
                    .into_iter()
                    .filter(|m| !members.contains(*m))
                    .collect();
                self.isns.add_dd_members(id, &missing).await.map(|()| id)
            }
            // Created empty, then filled by DD_ID: isnsd 0.101 drops a member of a new DD
            // that already belongs to another DD ("Ignoring duplicate DD registration": it
            // tests the membership before the new DD has an ID), and the probe initiator is
            // in every management DD.
            None => match self.isns.create_dd(&name, &[]).await {
                Ok(id) => self
                    .isns
                    .add_dd_members(id, &[initiator, target])
                    .await
                    .map(|()| id),
                Err(e) => Err(e),
            },
        };
        if let Some(slot) = slot
            && let Err(error) = slot.finish(&self.isns).await
        {
            tracing::warn!(%error, %target, "scn renewal after a management dd change");
        }
        (name, result)
    }

    /// The target a management DD name stands for.
    fn management_target(&self, dd_name: Option<&str>) -> Option<String> {
        dd_name?
            .strip_prefix(self.cfg.management_dd.as_str())?
            .strip_prefix(':')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    }

    fn auth(&self) -> Auth {
        self.cfg
            .probe_chap
            .as_ref()
            .map_or(Auth::None, super::config::ProbeChap::auth)
    }

    /// Probes `name` now, or once a probe task is free.
    fn spawn_probe(&mut self, name: &str, round: Option<u64>) {
        let limit = self
            .cfg
            .probe_concurrency
            .max(1)
            .saturating_mul(PROBE_TASKS_PER_PERMIT);
        if self.probe_tasks >= limit {
            self.probe_queue.push_back((name.to_owned(), round));
            return;
        }
        self.spawn_probe_task(name, round);
    }

    fn spawn_probe_task(&mut self, name: &str, round: Option<u64>) {
        let Some(t) = self.targets.get(name) else {
            // Gone meanwhile: its round still counts it.
            if round.is_some() {
                let _ = self.probe_tx.send(ProbeDone {
                    target: name.to_owned(),
                    round,
                    spawned: false,
                    result: Err(ProbeError::Connect {
                        portal: SocketAddr::from(([0, 0, 0, 0], 0)),
                        kind: std::io::ErrorKind::NotFound,
                        message: "the target left iSNS before its probe".to_owned(),
                    }),
                });
            }
            return;
        };
        let portals: Vec<SocketAddr> = t
            .spec
            .portals
            .iter()
            .map(|p| SocketAddr::new(p.addr, p.port))
            .collect();
        let admit_until = self
            .admit_until
            .get(name)
            .copied()
            .filter(|t| *t > Instant::now());
        let tx = self.probe_tx.clone();
        let target = name.to_owned();
        let fut = probe_target(
            portals,
            target.clone(),
            self.cfg.probe_initiator.clone(),
            self.auth(),
            self.cfg.probe_timeout,
            admit_until,
            Arc::clone(&self.semaphore),
        );
        self.probe_tasks += 1;
        tokio::spawn(async move {
            let result = fut.await;
            let _ = tx.send(ProbeDone {
                target,
                round,
                spawned: true,
                result,
            });
        });
    }

    async fn start_round(&mut self) {
        if self.round.is_some() {
            // Probe again once the running round ends, so the walk's view gets probed.
            self.round_again = true;
            return;
        }
        let started = self.walk_requested.take().unwrap_or_else(Instant::now);
        let names: Vec<String> = self.targets.keys().cloned().collect();
        if names.is_empty() {
            self.send(InventoryUpdate::Synced {
                targets: 0,
                luns: 0,
                took: started.elapsed(),
            })
            .await;
            return;
        }
        let id = self.next_round;
        self.next_round += 1;
        self.round = Some(Round {
            id,
            started,
            total: names.len(),
            done: 0,
            luns: 0,
        });
        self.admit_until.retain(|_, t| *t > Instant::now());
        for n in &names {
            self.spawn_probe(n, Some(id));
        }
        self.send_lossy(InventoryUpdate::Progress {
            probed: 0,
            total: names.len(),
        });
    }

    async fn finish_round_if_done(&mut self) {
        if let Some(r) = self.round.as_ref()
            && r.done >= r.total
            && let Some(r) = self.round.take()
        {
            self.send(InventoryUpdate::Synced {
                targets: self.targets.len(),
                luns: r.luns,
                took: r.started.elapsed(),
            })
            .await;
            if core::mem::take(&mut self.round_again) {
                self.start_round().await;
            }
        }
    }

    async fn on_probe(&mut self, done: ProbeDone) {
        if done.spawned {
            self.probe_tasks = self.probe_tasks.saturating_sub(1);
            let limit = self
                .cfg
                .probe_concurrency
                .max(1)
                .saturating_mul(PROBE_TASKS_PER_PERMIT);
            while self.probe_tasks < limit
                && let Some((name, round)) = self.probe_queue.pop_front()
            {
                self.spawn_probe_task(&name, round);
            }
        }
        // A target removed while it was probed is not reported again.
        if let Some(name) = self.targets.get(&done.target).map(|t| t.spec.name.clone()) {
            if let Err(error) = &done.result {
                tracing::info!(target = %done.target, %error, "probe failed");
                self.send_lossy(InventoryUpdate::Warning(InventoryWarning::Probe {
                    target: done.target.clone(),
                    error: error.clone(),
                }));
            }
            self.send(InventoryUpdate::Probed {
                target: done.target.clone(),
                failure: done.result.as_ref().err().map(ProbeFailure::of),
            })
            .await;
            let ev = translate::probe_event(name, &done.result);
            let luns = match &ev {
                InventoryEvent::LunsReported { luns, .. } => luns.len(),
                _ => 0,
            };
            if let Some(r) = self.round.as_mut()
                && done.round == Some(r.id)
            {
                r.luns += luns;
            }
            self.events(vec![ev], Source::Probe).await;
        }
        if let Some(r) = self.round.as_mut()
            && done.round == Some(r.id)
        {
            r.done += 1;
            let (probed, total) = (r.done, r.total);
            self.send_lossy(InventoryUpdate::Progress { probed, total });
            self.finish_round_if_done().await;
        }
    }
}

/// `snap` with the management DDs this task changed while the walk may have been under way:
/// a DD the walk did not see is added, and members the walk did not see are appended. A DD
/// someone else removed meanwhile comes back for one walk only (its removal SCN, or the next
/// walk, takes it away again).
fn with_own_dds(snap: &Snapshot, own: BTreeMap<u32, DdInfo>) -> Snapshot {
    let mut snap = snap.clone();
    for (id, dd) in own {
        match snap.dds.iter_mut().find(|d| d.id == id) {
            Some(seen) => {
                for member in dd.members {
                    if !seen.members.iter().any(|m| m.name == member.name) {
                        seen.members.push(member);
                    }
                }
            }
            None => snap.dds.push(dd),
        }
    }
    snap
}
