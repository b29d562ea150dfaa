//! Per-source-address token buckets for the boot listener.
//!
//! Each source IP holds up to `burst` tokens, refilled at `rate` per second; a request
//! takes one or is refused (HTTP 429). Time comes in as an argument, so the limiter is
//! deterministic under test. The table is bounded: when full, the bucket that has been
//! idle longest is forgotten (a forgotten source starts again with a full bucket, which
//! is the state it would have reached anyway after `burst / rate` seconds of quiet).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Sources remembered at most (a boot network has far fewer machines booting at once).
pub const MAX_SOURCES: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets by source address.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: HashMap<IpAddr, Bucket>,
}

impl RateLimiter {
    /// `rate` requests per second on average, `burst` at once (both at least 1).
    #[must_use]
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Takes a token for `source` at `now`; `Err(wait)` says how long until one is there.
    ///
    /// # Errors
    /// The time until the next token when the bucket is empty.
    pub fn check(&mut self, source: IpAddr, now: Instant) -> Result<(), Duration> {
        if !self.buckets.contains_key(&source)
            && self.buckets.len() >= MAX_SOURCES
            && let Some(idle) = self
                .buckets
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(ip, _)| *ip)
        {
            self.buckets.remove(&idle);
        }
        let burst = self.burst;
        let b = self.buckets.entry(source).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 2, 15));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 2, 16));

    #[test]
    fn allows_a_burst_then_refuses_until_refilled() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(2, 3);
        for _ in 0..3 {
            assert!(l.check(A, t0).is_ok());
        }
        let wait = l.check(A, t0).unwrap_err();
        assert!(
            wait <= Duration::from_millis(500) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(l.check(B, t0).is_ok(), "another source has its own bucket");
        assert!(l.check(A, t0 + Duration::from_millis(499)).is_err());
        assert!(l.check(A, t0 + Duration::from_millis(1000)).is_ok());
        // A long quiet period refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(l.check(A, later).is_ok());
        }
        assert!(l.check(A, later).is_err());
    }

    #[test]
    fn the_table_of_sources_stays_bounded() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(1, 1);
        for i in 0..u32::try_from(MAX_SOURCES + 100).unwrap() {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = l.check(ip, t0 + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(l.buckets.len(), MAX_SOURCES);
    }
}
