//! Session sequence-number replay window (IPMI v2.0 §6.12.13).

/// Width of the window of recently accepted sequence numbers.
pub const REPLAY_WINDOW: u32 = 32;

/// Tracks the inbound session sequence numbers of one session: accepts each number once,
/// within [`REPLAY_WINDOW`] of the highest seen; 0 is never valid inside a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    highest: u32,
    /// Bit i set = `highest - i` was accepted.
    seen: u32,
}

impl ReplayWindow {
    /// An empty window (no number seen yet).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            highest: 0,
            seen: 0,
        }
    }

    /// Whether `seq` would be accepted, without recording it.
    #[must_use]
    pub fn check(&self, seq: u32) -> bool {
        if seq == 0 {
            return false;
        }
        if self.seen == 0 || seq > self.highest {
            return true;
        }
        let behind = self.highest - seq;
        behind < REPLAY_WINDOW && self.seen & (1 << behind) == 0
    }

    /// Records `seq` if acceptable; returns whether it was.
    pub fn accept(&mut self, seq: u32) -> bool {
        if !self.check(seq) {
            return false;
        }
        if self.seen == 0 {
            self.highest = seq;
            self.seen = 1;
        } else if seq > self.highest {
            let ahead = seq - self.highest;
            self.seen = if ahead >= REPLAY_WINDOW {
                0
            } else {
                self.seen << ahead
            };
            self.seen |= 1;
            self.highest = seq;
        } else {
            self.seen |= 1 << (self.highest - seq);
        }
        true
    }
}

/// The next outbound session sequence number after `seq` (wraps past 0, which is reserved).
#[must_use]
pub const fn next_sequence(seq: u32) -> u32 {
    match seq.wrapping_add(1) {
        0 => 1,
        n => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_number_once_and_rejects_zero() {
        let mut w = ReplayWindow::new();
        assert!(!w.accept(0));
        assert!(w.accept(5));
        assert!(!w.accept(5));
        assert!(w.accept(3));
        assert!(!w.accept(3));
        assert!(w.accept(6));
        assert!(w.accept(4));
    }

    #[test]
    fn rejects_numbers_older_than_the_window() {
        let mut w = ReplayWindow::new();
        assert!(w.accept(100));
        assert!(!w.accept(100 - REPLAY_WINDOW));
        assert!(w.accept(100 - REPLAY_WINDOW + 1));
        assert!(w.accept(1000));
        assert!(!w.accept(100));
    }

    #[test]
    fn outbound_sequence_skips_zero() {
        assert_eq!(next_sequence(u32::MAX), 1);
        assert_eq!(next_sequence(1), 2);
    }
}
