//! What a cache object has done since it was created, for `cache.stats()`. Atomics, so the
//! stores count with the GIL released and without locks.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Counters {
    pub hits: AtomicU64,
    /// Hits served by the in-process layer (also counted in `hits`).
    pub memory_hits: AtomicU64,
    pub misses: AtomicU64,
    /// Entries refused as damaged, unsigned or forged (also counted as misses).
    pub rejected: AtomicU64,
    pub writes: AtomicU64,
    /// Read or write failures of the storage itself.
    pub errors: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
    /// Entries written that only this process can use (a configuration or a folding result
    /// with no description that holds across processes).
    pub process_local: AtomicU64,
}

impl Counters {
    /// Every counter with its name in `stats()`, in the order reported.
    pub fn fields(&self) -> [(&'static str, &AtomicU64); 9] {
        [
            ("hits", &self.hits),
            ("memory_hits", &self.memory_hits),
            ("misses", &self.misses),
            ("rejected", &self.rejected),
            ("writes", &self.writes),
            ("errors", &self.errors),
            ("bytes_read", &self.bytes_read),
            ("bytes_written", &self.bytes_written),
            ("process_local", &self.process_local),
        ]
    }

    /// The counter named `name`.
    pub fn named(&self, name: &str) -> Option<&AtomicU64> {
        let (_, counter) = self
            .fields()
            .into_iter()
            .find(|(field, _)| *field == name)?;
        Some(counter)
    }

    pub fn bump(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// A one-time read of every counter, named.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let fields = self.fields().into_iter();
        fields
            .map(|(name, counter)| (name, counter.load(Relaxed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_by_field_and_by_name() {
        let counters = Counters::default();
        Counters::bump(&counters.hits, 2);
        Counters::bump(counters.named("process_local").unwrap(), 1);
        assert!(counters.named("nothing").is_none());
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.len(), 9);
        assert_eq!(snapshot[0], ("hits", 2));
        assert_eq!(snapshot[8], ("process_local", 1));
        assert!(snapshot[1..8].iter().all(|(_, n)| *n == 0));
    }
}
