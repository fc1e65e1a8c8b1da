//! A warning that may repeat on every request (a dead server, a value too large) is logged
//! at most once per interval, so a failure does not write one line per render.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The interval the project uses for repeating warnings.
pub const LOG_INTERVAL: Duration = Duration::from_secs(30);

pub struct RateLimit {
    interval_ms: u64,
    epoch: Instant,
    /// Milliseconds since `epoch` of the last time through, plus one (0: never).
    last: AtomicU64,
}

impl RateLimit {
    pub fn new(interval: Duration) -> Self {
        RateLimit {
            interval_ms: interval.as_millis() as u64,
            epoch: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    /// Whether to let this one through; lock-free, and only one of racing callers wins.
    pub fn allow(&self) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let previous = self.last.load(Ordering::Relaxed);
        (previous == 0 || now >= previous + self.interval_ms)
            && self
                .last
                .compare_exchange(previous, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(LOG_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_interval() {
        let limit = RateLimit::new(Duration::from_millis(50));
        assert!(limit.allow());
        assert!(!limit.allow());
        std::thread::sleep(Duration::from_millis(60));
        assert!(limit.allow());
    }
}
