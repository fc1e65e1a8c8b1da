//! Counters behind `MemcachedClient.stats()`: every failure is counted, so a test or an
//! operator can tell a miss from an error without reading logs.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        #[derive(Debug, Default)]
        pub struct Stats {
            $($(#[doc = $doc])* pub $name: AtomicU64,)*
        }

        impl Stats {
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*]
            }
        }
    };
}

counters! {
    /// `get` calls with a valid key.
    gets,
    hits,
    /// Clean misses: the server answered that it has no such item.
    misses,
    /// `set` calls with a valid key.
    sets,
    stored,
    /// Requests sent to a server (one per get or set that reached the network).
    attempts,
    /// Failed requests of any kind (timeouts included).
    errors,
    /// Failed requests that ran out of time (connect or I/O).
    timeouts,
    /// Requests answered with SERVER_ERROR / CLIENT_ERROR (the server stays up).
    server_errors,
    /// Requests served by a key's fallback server because its own server was down.
    failovers,
    /// Requests given up without I/O because every candidate server was down.
    unavailable,
    /// Writes skipped because the value exceeded `max_value_size`.
    too_large,
    /// Values stored compressed.
    compressed,
    /// Stored values that could not be decompressed (a miss).
    corrupt,
    /// Servers marked down after a failure.
    marked_down,
    /// Servers re-admitted after a successful probe.
    readmitted,
    /// Connection pools discarded because the process was forked.
    pool_resets,
}

pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
