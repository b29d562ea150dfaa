//! One State Change Notification connection at a time into each storage system.
//!
//! Why (open-isns 0.101 with tgt 1.0.85, read in both sources and seen on the wire):
//! * isnsd keeps one TCP connection per notified *node* open to the node's SCN port, so a
//!   tgtd whose several targets were notified holds several connections from isnsd;
//! * tgtd reads SCNs through one global descriptor (the connection it accepted last) from
//!   every connection's event handler, so with two connections open it reads the wrong one,
//!   and when an older one closes it closes the global one, then descriptor 0: from then on
//!   its event loop spins or blocks and it stops answering iSCSI logins;
//! * isnsd refreshes an entity's timestamp on every message the entity sends and, at the
//!   next notification for one of its nodes, frees that node's connection state while
//!   keeping a pointer into it (`scn_current_funnel`): lost notifications or a crash.
//!
//! So every iSNS change that notifies a target (DD member added or removed, DD removed, an
//! initiator in a DD deregistered) takes a [`Slot`] for the target's entity, which holds the
//! entity (changes for one entity are serialized; different entities run in parallel):
//! 1. before the change, the target's SCN registration is removed and made again, so isnsd
//!    notifies it from fresh state;
//! 2. the change is made;
//! 3. [`Slot::finish`] waits `interval` (the notification is delivered and read), then renews
//!    the registration again: isnsd closes that connection while it is the only one open.
//!    [`Slot::finish_when`] ends that wait early on proof the storage system read the
//!    notification: the manager's DD creations pass "every target admits the DD's initiator"
//!    (tgtd admits an initiator only after it queried isnsd in answer to the SCN), so the
//!    interval is a bound, not a fixed cost.
//!
//! A provisioning makes one such change per target (the DD is created with the targets and
//! the already registered initiator in one registration) and a release one (the DD is
//! removed before the initiator is deregistered); registering or deregistering a node that
//! no DD holds notifies nobody and takes no slot.
//!
//! Between changes no SCN connection into a tgtd stays open. A process that died inside a slot
//! may have left one: [`Pacer::sweep`], run once by the inventory after its first walk and
//! before any change, renews every known target (at most one connection per entity is then
//! closed). Renewal is optional (`None` bitmap) for iSNS servers without these defects.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use isns_proto::ScnBitmap;
use isns_proto::client::OpError;
use isns_proto::client_tokio::{DriverError, IsnsClient};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::time::Instant;

#[derive(Debug, Default)]
struct EntityState {
    /// Earliest time of the next change.
    next: Option<Instant>,
}

/// Per-entity spacing and SCN renewal of notifying iSNS changes (see the module docs).
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    renew: Option<ScnBitmap>,
    entities: StdMutex<HashMap<String, Arc<Mutex<EntityState>>>>,
    stats: Arc<Stats>,
}

/// What the pacing cost, for `/metrics`.
#[derive(Debug, Default)]
struct Stats {
    /// Changes that held at least one entity.
    changes: AtomicU64,
    /// Microseconds changes spent waiting: for their entities (held by another change, or
    /// spaced after one) and, after the change, for its notifications to be read.
    waited_us: AtomicU64,
    /// Changes whose wait after the change ended on proof, before `interval`.
    proved: AtomicU64,
}

impl Stats {
    fn waited(&self, d: Duration) {
        self.waited_us.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Holds the entities of one change. [`Slot::finish`] after the change; a slot merely
/// dropped (the change was abandoned) keeps the entity quiet for `interval`.
#[derive(Debug)]
pub struct Slot {
    /// Each entity's state, with the targets of that entity the change notifies.
    held: Vec<(OwnedMutexGuard<EntityState>, Vec<String>)>,
    interval: Duration,
    renew: Option<ScnBitmap>,
    stats: Arc<Stats>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let next = Instant::now() + self.interval;
        for (state, _) in &mut self.held {
            state.next = Some(next);
        }
    }
}

impl Slot {
    fn targets(&self) -> Vec<&str> {
        self.held
            .iter()
            .flat_map(|(_, ts)| ts.iter().map(String::as_str))
            .collect()
    }

    /// After the change: waits `interval` for its notifications to be delivered, then renews
    /// the notified targets' SCN registrations, which closes isnsd's connections to them.
    ///
    /// # Errors
    /// The iSNS error of a renewal (other than "nothing registered").
    pub async fn finish(self, isns: &IsnsClient) -> Result<(), DriverError> {
        self.finish_when(isns, std::future::pending()).await
    }

    /// [`Slot::finish`], with the wait ended early by `read`: a future that resolves once the
    /// storage systems show they acted on the notification (so read it), such as the target
    /// admitting the initiator a DD change added. `interval` stays the bound.
    ///
    /// # Errors
    /// As [`Slot::finish`].
    pub async fn finish_when(
        mut self,
        isns: &IsnsClient,
        read: impl std::future::Future<Output = ()>,
    ) -> Result<(), DriverError> {
        // A change that notified no storage system has nothing to wait for.
        if self.renew.is_none() || self.held.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        if tokio::time::timeout(self.interval, read).await.is_ok() {
            self.stats.proved.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.waited(started.elapsed());
        let result = renew(isns, self.renew, &self.targets()).await;
        // The connection is closed: the next change may follow at once.
        self.interval = Duration::ZERO;
        result
    }
}

/// Removes and re-makes the SCN registration of each target with `bitmap`.
async fn renew<S: AsRef<str>>(
    isns: &IsnsClient,
    bitmap: Option<ScnBitmap>,
    targets: &[S],
) -> Result<(), DriverError> {
    let Some(bitmap) = bitmap else {
        return Ok(());
    };
    for t in targets {
        let t = t.as_ref();
        match isns.scn_dereg(t).await {
            Ok(()) => {}
            Err(e) if is_absent(&e) => {}
            Err(e) => return Err(e),
        }
        match isns.scn_reg(t, bitmap).await {
            Ok(()) => {}
            // A target that left iSNS has nothing to renew.
            Err(e) if is_absent(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn is_absent(e: &DriverError) -> bool {
    matches!(
        e,
        DriverError::Op(OpError::Status(
            isns_proto::Status::NO_SUCH_ENTRY
                | isns_proto::Status::SCN_REGISTRATION_REJECTED
                | isns_proto::Status::INVALID_DEREGISTRATION
        ))
    )
}

impl Pacer {
    /// Changes for one entity `interval` apart; `renew` is the SCN bitmap re-registered for
    /// the targets (`None`: no renewal).
    #[must_use]
    pub fn new(interval: Duration, renew: Option<ScnBitmap>) -> Self {
        Self {
            interval,
            renew,
            entities: StdMutex::new(HashMap::new()),
            stats: Arc::default(),
        }
    }

    /// Appends the pacing counters in the Prometheus text exposition format.
    pub fn render(&self, out: &mut String) {
        let changes = self.stats.changes.load(Ordering::Relaxed);
        let proved = self.stats.proved.load(Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)] // microseconds: exact far past any real total
        let waited = self.stats.waited_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP bcm_scn_paced_changes_total iSNS changes that notified a storage system and were paced.\n# TYPE bcm_scn_paced_changes_total counter\nbcm_scn_paced_changes_total {changes}"
        );
        let _ = writeln!(
            out,
            "# HELP bcm_scn_pacing_wait_seconds_total Time paced changes waited for their storage system and for their notifications to be read.\n# TYPE bcm_scn_pacing_wait_seconds_total counter\nbcm_scn_pacing_wait_seconds_total {waited}"
        );
        let _ = writeln!(
            out,
            "# HELP bcm_scn_pacing_proved_total Paced changes whose storage system showed it had read the notification before scn_pacing ran out.\n# TYPE bcm_scn_pacing_proved_total counter\nbcm_scn_pacing_proved_total {proved}"
        );
    }

    fn entity(&self, name: &str) -> Arc<Mutex<EntityState>> {
        let mut m = self
            .entities
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(m.entry(name.to_owned()).or_default())
    }

    /// Waits for the entities of `changes` (`(entity, target)` pairs; a target may be
    /// `None` when only the entity is known), renews SCN registrations through `isns`, and
    /// returns the slot to hold while making the change.
    ///
    /// # Errors
    /// The iSNS error of a renewal (other than "nothing registered").
    pub async fn slot(
        &self,
        changes: &[(String, Option<String>)],
        isns: &IsnsClient,
    ) -> Result<Slot, DriverError> {
        let mut by_entity: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (entity, target) in changes {
            let ts = by_entity.entry(entity.as_str()).or_default();
            if let Some(t) = target
                && !ts.contains(t)
            {
                ts.push(t.clone());
            }
        }
        let slot = self.hold(by_entity).await;
        renew(isns, self.renew, &slot.targets()).await?;
        Ok(slot)
    }

    /// Renews the SCN registration of every `(entity, target)` once, entity by entity (each
    /// held meanwhile): closes whatever SCN connection a previous process left open.
    ///
    /// # Errors
    /// The first iSNS error of a renewal.
    pub async fn sweep(
        &self,
        targets: &[(String, String)],
        isns: &IsnsClient,
    ) -> Result<(), DriverError> {
        let mut by_entity: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (e, t) in targets {
            by_entity.entry(e.as_str()).or_default().push(t.as_str());
        }
        for (entity, targets) in by_entity {
            let _held = self.entity(entity).lock_owned().await;
            renew(isns, self.renew, &targets).await?;
        }
        Ok(())
    }

    /// Waits for the entities without renewing anything (changes that notify no target by
    /// name, such as registering an initiator that may already be a DD member).
    pub async fn wait(&self, entities: &[String]) -> Slot {
        let by_entity = entities.iter().map(|e| (e.as_str(), Vec::new())).collect();
        let mut slot = self.hold(by_entity).await;
        slot.renew = None;
        slot
    }

    /// Locks the entities in name order (two changes spanning the same entities cannot
    /// deadlock) and waits until the latest of them may change again.
    async fn hold(&self, by_entity: BTreeMap<&str, Vec<String>>) -> Slot {
        let started = Instant::now();
        let mut held = Vec::with_capacity(by_entity.len());
        for (entity, targets) in by_entity {
            held.push((self.entity(entity).lock_owned().await, targets));
        }
        let slot = Slot {
            held,
            interval: self.interval,
            renew: self.renew,
            stats: Arc::clone(&self.stats),
        };
        if let Some(at) = slot.held.iter().filter_map(|(s, _)| s.next).max()
            && at > Instant::now()
        {
            tokio::time::sleep_until(at).await;
        }
        if !slot.held.is_empty() {
            self.stats.changes.fetch_add(1, Ordering::Relaxed);
            self.stats.waited(started.elapsed());
        }
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_changes_for_one_entity_and_not_for_others() {
        let p = Pacer::new(Duration::from_secs(1), None);
        let t0 = Instant::now();
        drop(p.wait(&["array-1".to_owned()]).await);
        drop(p.wait(&["array-2".to_owned()]).await);
        assert_eq!(
            t0.elapsed(),
            Duration::ZERO,
            "first changes of each entity go at once"
        );
        drop(p.wait(&["array-1".to_owned()]).await);
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        drop(p.wait(&["array-1".to_owned(), "array-2".to_owned()]).await);
        assert_eq!(
            t0.elapsed(),
            Duration::from_secs(2),
            "waits for the later of both"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        let t1 = Instant::now();
        drop(p.wait(&["array-1".to_owned()]).await);
        assert_eq!(
            t1.elapsed(),
            Duration::ZERO,
            "an old change holds nothing back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_interval_counts_from_the_end_of_a_held_change() {
        let p = Pacer::new(Duration::from_secs(1), None);
        let t0 = Instant::now();
        let slot = p.wait(&["array".to_owned()]).await;
        tokio::time::sleep(Duration::from_secs(3)).await; // a slow change
        drop(slot);
        drop(p.wait(&["array".to_owned()]).await);
        assert_eq!(t0.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_changes_for_one_entity_are_serialized_and_spaced() {
        let p = Arc::new(Pacer::new(Duration::from_millis(500), None));
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let p = Arc::clone(&p);
            tasks.push(tokio::spawn(async move {
                let slot = p.wait(&["array".to_owned()]).await;
                let at = Instant::now();
                tokio::time::sleep(Duration::from_millis(100)).await;
                drop(slot);
                at
            }));
        }
        let mut at: Vec<Duration> = Vec::new();
        for t in tasks {
            at.push(t.await.unwrap() - t0);
        }
        at.sort();
        assert_eq!(at, [0, 600, 1200, 1800].map(Duration::from_millis));
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_notifying_no_storage_system_waits_for_nothing() {
        let p = Pacer::new(Duration::from_secs(1), None);
        let t0 = Instant::now();
        for _ in 0..10 {
            drop(p.wait(&[]).await);
        }
        drop(p.wait(&["array".to_owned()]).await);
        assert_eq!(t0.elapsed(), Duration::ZERO);
        let mut out = String::new();
        p.render(&mut out);
        assert!(out.contains("bcm_scn_paced_changes_total 1\n"), "{out}");
        drop(p.wait(&["array".to_owned()]).await);
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        let mut out = String::new();
        p.render(&mut out);
        assert!(out.contains("bcm_scn_paced_changes_total 2\n"), "{out}");
        assert!(
            out.contains("bcm_scn_pacing_wait_seconds_total 1\n"),
            "{out}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zero_interval_never_waits() {
        let p = Pacer::new(Duration::ZERO, None);
        let t0 = Instant::now();
        for _ in 0..100 {
            drop(p.wait(&["a".to_owned()]).await);
        }
        assert_eq!(t0.elapsed(), Duration::ZERO);
    }
}
