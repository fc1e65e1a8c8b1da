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

    /// A load through a bucket's own method: a hit if it left code in the bucket.
    pub fn loaded(&self, hit: bool) {
        Counters::bump(if hit { &self.hits } else { &self.misses }, 1);
    }

    /// An entry of `bytes` bytes the store now holds; `local` when only this process can use
    /// it. A write that was refused or failed is not one.
    pub fn stored(&self, bytes: usize, local: bool) {
        Counters::bump(&self.writes, 1);
        Counters::bump(&self.bytes_written, bytes as u64);
        if local {
            Counters::bump(&self.process_local, 1);
        }
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
    fn counted_and_reported_by_name() {
        let counters = Counters::default();
        counters.loaded(true);
        counters.loaded(true);
        counters.loaded(false);
        counters.stored(100, true);
        counters.stored(20, false);
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.len(), 9);
        let named = |name| snapshot.iter().find(|(field, _)| *field == name).unwrap().1;
        assert_eq!(named("hits"), 2);
        assert_eq!(named("misses"), 1);
        assert_eq!(named("writes"), 2);
        assert_eq!(named("bytes_written"), 120);
        assert_eq!(named("process_local"), 1);
        assert_eq!(
            named("memory_hits") + named("rejected") + named("errors"),
            0
        );
        assert_eq!(named("bytes_read"), 0);
    }
}
