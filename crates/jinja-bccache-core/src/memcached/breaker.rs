//! A per-server circuit breaker. A server that failed is skipped for `retry_interval`, so a
//! dead or hung server costs one timeout per interval instead of one per call; then exactly
//! one caller is let through to probe it, and its success re-admits the server.
//!
//! Times are milliseconds on the caller's monotonic clock, passed in so tests need no sleep.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a caller may do with a server right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Up,
    /// Down, but its interval is over and this caller won the right to try it.
    Probe,
    Down,
}

#[derive(Debug)]
pub struct Breaker {
    /// 0 while the server is up; otherwise the time before which it is skipped.
    down_until: AtomicU64,
    interval_ms: u64,
}

impl Breaker {
    pub fn new(interval_ms: u64) -> Self {
        Breaker {
            down_until: AtomicU64::new(0),
            interval_ms,
        }
    }

    /// Never 0, which means "up".
    fn until(&self, now: u64) -> u64 {
        now.saturating_add(self.interval_ms).max(1)
    }

    pub fn admit(&self, now: u64) -> Admission {
        let until = self.down_until.load(Ordering::Acquire);
        if until == 0 {
            return Admission::Up;
        }
        if now < until {
            return Admission::Down;
        }
        // Push the deadline forward before probing: the other callers keep skipping the
        // server while this one finds out, so a recovery check costs one timeout, not many.
        match self.down_until.compare_exchange(
            until,
            self.until(now),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Admission::Probe,
            Err(_) => Admission::Down,
        }
    }

    /// Records a failure; true when the server was up until now (worth a log line).
    pub fn trip(&self, now: u64) -> bool {
        self.down_until.swap(self.until(now), Ordering::AcqRel) == 0
    }

    /// Records a success; true when the server was down until now.
    pub fn succeed(&self) -> bool {
        // A load first: the hit path must not write a shared cache line.
        self.down_until.load(Ordering::Relaxed) != 0
            && self.down_until.swap(0, Ordering::AcqRel) != 0
    }

    pub fn is_down(&self) -> bool {
        self.down_until.load(Ordering::Acquire) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_for_the_interval_then_one_probe() {
        let b = Breaker::new(1000);
        assert_eq!(b.admit(5), Admission::Up);
        assert!(b.trip(10));
        assert!(!b.trip(11), "a second failure is not news");
        assert_eq!(b.admit(500), Admission::Down);
        assert_eq!(b.admit(1011), Admission::Probe);
        // while the probe is out, everyone else still skips the server
        assert_eq!(b.admit(1012), Admission::Down);
        assert!(b.succeed());
        assert!(!b.succeed());
        assert_eq!(b.admit(1013), Admission::Up);
    }

    #[test]
    fn failed_probe_waits_another_interval() {
        let b = Breaker::new(100);
        b.trip(0);
        assert_eq!(b.admit(100), Admission::Probe);
        b.trip(150);
        assert_eq!(b.admit(200), Admission::Down);
        assert_eq!(b.admit(250), Admission::Probe);
    }

    #[test]
    fn zero_interval_still_marks_down() {
        let b = Breaker::new(0);
        b.trip(0);
        assert!(b.is_down());
        assert_eq!(b.admit(1), Admission::Probe);
    }
}
