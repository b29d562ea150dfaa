//! Counters and a latency histogram for Prometheus (`/metrics`), kept without locks.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{ManagerError, ProvisionReport};

/// Upper bounds (seconds) of the provisioning latency histogram.
const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The manager's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    provisions_ok: AtomicU64,
    provisions_replayed: AtomicU64,
    provisions_rejected: AtomicU64,
    provisions_failed: AtomicU64,
    releases_ok: AtomicU64,
    releases_failed: AtomicU64,
    releases_nothing: AtomicU64,
    step_retries: AtomicU64,
    step_failures: Mutex<Vec<(&'static str, u64)>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    boot_fetches_known: AtomicU64,
    boot_fetches_unknown: AtomicU64,
    boot_fetches_refused: AtomicU64,
    boot_confirmed: AtomicU64,
}

impl Metrics {
    pub(super) fn record_provision(
        &self,
        result: &Result<ProvisionReport, ManagerError>,
        took: Duration,
    ) {
        let counter = match result {
            Ok(r) if r.replayed => &self.provisions_replayed,
            Ok(_) => &self.provisions_ok,
            Err(ManagerError::Rejected(_)) => &self.provisions_rejected,
            Err(_) => &self.provisions_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if matches!(result, Ok(r) if !r.replayed) {
            let secs = took.as_secs_f64();
            for (b, bound) in self.latency_buckets.iter().zip(BUCKETS) {
                if secs <= bound {
                    b.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.latency_count.fetch_add(1, Ordering::Relaxed);
            self.latency_sum_us.fetch_add(
                u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
    }

    pub(super) fn record_release<T>(&self, result: &Result<T, ManagerError>) {
        match result {
            Ok(_) => &self.releases_ok,
            // A server that holds nothing is an answer (404), not a failed release.
            Err(ManagerError::NothingToRelease { .. }) => &self.releases_nothing,
            Err(_) => &self.releases_failed,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn step_retried(&self) {
        self.step_retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn step_failed(&self, step: &'static str) {
        let mut v = self
            .step_failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match v.iter_mut().find(|(s, _)| *s == step) {
            Some((_, n)) => *n += 1,
            None => v.push((step, 1)),
        }
    }

    /// Counts a boot-script fetch: `Some(true)` a machine with an assignment, `Some(false)`
    /// an unknown or unassigned one, `None` one refused by the rate limit.
    pub fn boot_fetch(&self, known: Option<bool>) {
        match known {
            Some(true) => &self.boot_fetches_known,
            Some(false) => &self.boot_fetches_unknown,
            None => &self.boot_fetches_refused,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a boot confirmed by the initiator's login to its target.
    pub fn boot_confirmed(&self) {
        self.boot_confirmed.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the counters in the Prometheus text exposition format.
    pub fn render(&self, out: &mut String) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP bcm_provisions_total Provisioning requests by outcome.\n# TYPE bcm_provisions_total counter"
        );
        for (outcome, c) in [
            ("ok", &self.provisions_ok),
            ("replayed", &self.provisions_replayed),
            ("rejected", &self.provisions_rejected),
            ("failed", &self.provisions_failed),
        ] {
            let _ = writeln!(
                out,
                "bcm_provisions_total{{outcome=\"{outcome}\"}} {}",
                get(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP bcm_releases_total Release requests by outcome.\n# TYPE bcm_releases_total counter"
        );
        let _ = writeln!(
            out,
            "bcm_releases_total{{outcome=\"ok\"}} {}",
            get(&self.releases_ok)
        );
        let _ = writeln!(
            out,
            "bcm_releases_total{{outcome=\"failed\"}} {}",
            get(&self.releases_failed)
        );
        let _ = writeln!(
            out,
            "bcm_releases_total{{outcome=\"nothing\"}} {}",
            get(&self.releases_nothing)
        );
        let _ = writeln!(
            out,
            "# HELP bcm_step_retries_total Step attempts retried after a transient failure.\n# TYPE bcm_step_retries_total counter\nbcm_step_retries_total {}",
            get(&self.step_retries)
        );
        let _ = writeln!(
            out,
            "# HELP bcm_step_failures_total Steps that failed after retries.\n# TYPE bcm_step_failures_total counter"
        );
        let failures = self
            .step_failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for (step, n) in failures {
            let _ = writeln!(out, "bcm_step_failures_total{{step=\"{step}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP bcm_provision_seconds Time to provision one server.\n# TYPE bcm_provision_seconds histogram"
        );
        for (b, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "bcm_provision_seconds_bucket{{le=\"{bound}\"}} {}",
                get(b)
            );
        }
        let count = get(&self.latency_count);
        let _ = writeln!(out, "bcm_provision_seconds_bucket{{le=\"+Inf\"}} {count}");
        #[allow(clippy::cast_precision_loss)] // microseconds summed: exact far past any real count
        let sum = get(&self.latency_sum_us) as f64 / 1e6;
        let _ = writeln!(out, "bcm_provision_seconds_sum {sum}");
        let _ = writeln!(out, "bcm_provision_seconds_count {count}");
        let _ = writeln!(
            out,
            "# HELP bcm_boot_script_fetches_total iPXE script requests on the boot listener.\n# TYPE bcm_boot_script_fetches_total counter"
        );
        for (machine, c) in [
            ("assigned", &self.boot_fetches_known),
            ("unknown", &self.boot_fetches_unknown),
            ("rate_limited", &self.boot_fetches_refused),
        ] {
            let _ = writeln!(
                out,
                "bcm_boot_script_fetches_total{{machine=\"{machine}\"}} {}",
                get(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP bcm_boot_confirmations_total Boots confirmed by the initiator's login.\n# TYPE bcm_boot_confirmations_total counter\nbcm_boot_confirmations_total {}",
            get(&self.boot_confirmed)
        );
    }
}
