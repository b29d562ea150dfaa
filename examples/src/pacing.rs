//! Spacing of iSNS changes that make the server notify the same storage system.
//!
//! Why: open-isns `isnsd` (0.101) opens a new TCP connection for each State Change
//! Notification but, when a second SCN for the same recipient is due before the first was
//! acknowledged, writes both on the first connection and leaves the second empty; tgtd
//! (1.0.85) reads each accepted SCN connection with a blocking read in its single event
//! loop, so it then hangs for good and stops answering iSCSI logins. Seen here with two DD
//! membership changes of targets of one tgtd within about half a second; one second apart
//! they are always delivered. So every iSNS change that notifies the targets of an entity
//! (DD member added or removed, DD removed, an initiator in a DD deregistered) waits until
//! the previous change notifying that entity is at least `interval` old. Changes for
//! different entities (storage systems) proceed in parallel.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Per-entity spacing of notifying iSNS changes.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    /// A pacer keeping changes for the same entity `interval` apart (zero: no spacing).
    #[must_use]
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            next: Mutex::new(HashMap::new()),
        }
    }

    /// The spacing.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for a slot for a change notifying `entities`, and books it.
    pub async fn pace<S: AsRef<str>>(&self, entities: &[S]) {
        if self.interval.is_zero() || entities.is_empty() {
            return;
        }
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = entities
                .iter()
                .filter_map(|e| next.get(e.as_ref()).copied())
                .fold(now, Instant::max);
            for e in entities {
                next.insert(e.as_ref().to_owned(), at + self.interval);
            }
            // Entries in the past hold nothing back: keep the map small.
            next.retain(|_, t| *t > now);
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_changes_for_one_entity_and_not_for_others() {
        let p = Pacer::new(Duration::from_secs(1));
        let t0 = Instant::now();
        p.pace(&["array-1"]).await;
        p.pace(&["array-2"]).await;
        assert_eq!(
            t0.elapsed(),
            Duration::ZERO,
            "first changes of each entity go at once"
        );
        p.pace(&["array-1"]).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        p.pace(&["array-1", "array-2"]).await;
        assert_eq!(
            t0.elapsed(),
            Duration::from_secs(2),
            "waits for the later of both"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        let t1 = Instant::now();
        p.pace(&["array-1"]).await;
        assert_eq!(
            t1.elapsed(),
            Duration::ZERO,
            "an old change holds nothing back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_changes_get_distinct_slots() {
        let p = std::sync::Arc::new(Pacer::new(Duration::from_millis(500)));
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let p = std::sync::Arc::clone(&p);
            tasks.push(tokio::spawn(async move {
                p.pace(&["array"]).await;
                Instant::now()
            }));
        }
        let mut at: Vec<Duration> = Vec::new();
        for t in tasks {
            at.push(t.await.unwrap() - t0);
        }
        at.sort();
        assert_eq!(at, [0, 500, 1000, 1500].map(Duration::from_millis));
    }

    #[tokio::test]
    async fn zero_interval_never_waits() {
        let p = Pacer::new(Duration::ZERO);
        let t0 = Instant::now();
        for _ in 0..100 {
            p.pace(&["a"]).await;
        }
        assert!(t0.elapsed() < Duration::from_millis(100));
    }
}
