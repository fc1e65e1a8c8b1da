//! The in-process layer: unmarshalled code of recent hits and writes, in front of the
//! storage backends. A repeat load (an Environment per request or per job, a test suite, a
//! dbt-style tool) then costs hashing the source and a map lookup instead of a read and an
//! unmarshal.
//!
//! It never answers differently from the store behind it:
//! - every entry belongs to one store *scope*: a digest of what decides the store's answer
//!   (the directory and pattern, or the memcached servers or client object and prefix; the
//!   secret's digest; whether stock Jinja's entries are accepted). A cache object is answered
//!   only with what a store of its own scope loaded or accepted, so a new directory, another
//!   pattern, a secret or a memcached store always gets its own first load and write;
//! - every entry carries a `Check`: a filesystem entry answers only while the file at its
//!   name is still the file it was loaded from (one `lstat`), a memcached entry only while the
//!   server still holds the same item (its CAS, asked without the value).
//!
//! Keyed by scope, full cache key (which carries the environment fingerprint) and source
//! checksum. Bounded by the size of the serialized entries (a proxy for the memory the code
//! objects take); least recently used first out.

use std::borrow::Cow;
use std::sync::Mutex;

use lru::LruCache;
use pyo3::prelude::*;
use pyo3::types::PyString;
use sha2::{Digest, Sha256};

use jinja_bccache_core::fs::FileStamp;
use jinja_bccache_core::memcached::Version;

/// The default budget, in bytes of serialized entries.
pub const DEFAULT_MAX_BYTES: usize = 32 * 1024 * 1024;

/// Which store an entry belongs to: a digest of the store's description (`scope_of`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope(u128);

/// The scope of a store of `kind` described by `description` (its location: directory and
/// pattern, servers and prefix), read with `secret` and accepting stock Jinja's entries or not:
/// everything that decides the store's answer. A collision-resistant digest, so no two stores
/// share entries by accident; the secret enters only as its own digest, and nothing of the
/// description is kept.
pub fn scope_of(
    kind: &str,
    description: &[&[u8]],
    secret: Option<&[u8]>,
    accept_plain: bool,
) -> Scope {
    let secret = secret.map_or_else(Vec::new, |secret| {
        Sha256::new()
            .chain_update(b"jinja_bccache scope secret\0")
            .chain_update(secret)
            .finalize()
            .to_vec()
    });
    let mut hasher = Sha256::new();
    let parts = [kind.as_bytes(), &secret, &[u8::from(accept_plain)]];
    for part in parts.iter().chain(description) {
        // length-prefixed: ("ab", "c") and ("a", "bc") describe different stores
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut head = [0u8; 16];
    head.copy_from_slice(&digest[..16]);
    Scope(u128::from_le_bytes(head))
}

/// What must still hold for an entry to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The file at the entry's name is still this one.
    File(FileStamp),
    /// The memcached item under the entry's key is still this one.
    Item(Version),
}

struct Slot {
    code: Py<PyAny>,
    weight: usize,
    check: Check,
}

type Key = (Scope, String, String);

struct Layer {
    entries: LruCache<Key, Slot>,
    bytes: usize,
    max_bytes: usize,
    /// Code objects that left the layer, dropped once the lock is released: dropping one may
    /// run Python (a weakref callback, a finalizer), which may use the layer again.
    dropped: Vec<Py<PyAny>>,
}

impl Layer {
    /// Evict least recently used entries until the layer fits its budget.
    fn fit_budget(&mut self) {
        while self.bytes > self.max_bytes {
            let Some((_, slot)) = self.entries.pop_lru() else {
                break;
            };
            self.release(slot);
        }
    }

    fn release(&mut self, slot: Slot) {
        self.bytes -= slot.weight;
        self.dropped.push(slot.code);
    }
}

// Every access happens with the GIL held and without releasing it, so the lock is never
// contended and is never held by another thread when a process forks.
static LAYER: Mutex<Option<Layer>> = Mutex::new(None);

fn with_layer<T>(f: impl FnOnce(&mut Layer) -> T) -> T {
    let (result, dropped) = {
        let mut guard = LAYER
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let layer = guard.get_or_insert_with(|| Layer {
            entries: LruCache::unbounded(),
            bytes: 0,
            max_bytes: DEFAULT_MAX_BYTES,
            dropped: Vec::new(),
        });
        let result = f(layer);
        (result, std::mem::take(&mut layer.dropped))
    };
    drop(dropped); // the lock is released: Python may run now
    result
}

fn key(scope: Scope, key: &str, checksum: &str) -> Key {
    // the tuple key needs owned strings; this allocation is small next to a file read
    (scope, key.to_owned(), checksum.to_owned())
}

/// The code held for `key` and `checksum` in `scope`, with what must still hold for it.
pub fn get<'py>(
    py: Python<'py>,
    scope: Scope,
    key_: &str,
    checksum: &str,
) -> Option<(Bound<'py, PyAny>, Check)> {
    with_layer(|layer| {
        if layer.max_bytes == 0 {
            return None;
        }
        let slot = layer.entries.get(&key(scope, key_, checksum))?;
        Some((slot.code.bind(py).clone(), slot.check))
    })
}

/// Replace the check of an entry (a refreshed file has a new stamp).
pub fn recheck(scope: Scope, key_: &str, checksum: &str, check: Check) {
    with_layer(|layer| {
        if let Some(slot) = layer.entries.peek_mut(&key(scope, key_, checksum)) {
            slot.check = check;
        }
    })
}

/// Drop an entry whose check failed: the store answers for it again.
pub fn forget(scope: Scope, key_: &str, checksum: &str) {
    with_layer(|layer| {
        if let Some(slot) = layer.entries.pop(&key(scope, key_, checksum)) {
            layer.release(slot);
        }
    })
}

/// Drop every entry of `scope` (its store was cleared).
pub fn forget_scope(scope: Scope) {
    with_layer(|layer| {
        let keys: Vec<Key> = layer
            .entries
            .iter()
            .filter(|(k, _)| k.0 == scope)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            if let Some(slot) = layer.entries.pop(&k) {
                layer.release(slot);
            }
        }
    })
}

pub fn put(
    scope: Scope,
    code: &Bound<'_, PyAny>,
    key_: &str,
    checksum: &str,
    weight: usize,
    check: Check,
) {
    with_layer(|layer| {
        if weight > layer.max_bytes {
            return; // also covers a disabled layer
        }
        let slot = Slot {
            code: code.clone().unbind(),
            weight,
            check,
        };
        layer.bytes += weight;
        if let Some(old) = layer.entries.put(key(scope, key_, checksum), slot) {
            layer.release(old);
        }
        layer.fit_budget();
    })
}

/// `memory_cache_clear()`: drop everything.
#[pyfunction]
#[pyo3(name = "memory_cache_clear")]
pub fn forget_all() {
    with_layer(|layer| {
        while let Some((_, slot)) = layer.entries.pop_lru() {
            layer.release(slot);
        }
    })
}

/// `set_memory_cache(max_bytes)`: the layer's budget in bytes of serialized entries; 0 turns it
/// off. Returns the previous budget.
#[pyfunction]
pub fn set_memory_cache(max_bytes: usize) -> usize {
    with_layer(|layer| {
        let previous = layer.max_bytes;
        layer.max_bytes = max_bytes;
        layer.fit_budget();
        previous
    })
}

/// The checksum as the layer keys it: Jinja's checksums are str; anything else (a subclass's
/// choice) keeps the template out of the layer.
pub fn checksum_text<'a>(checksum: &'a Bound<'_, PyAny>) -> Option<Cow<'a, str>> {
    checksum
        .cast::<PyString>()
        .ok()
        .and_then(|s| s.to_cow().ok())
}

/// `memory_cache_info()`: `(entries, bytes, max_bytes)`.
#[pyfunction]
pub fn memory_cache_info() -> (usize, usize, usize) {
    with_layer(|layer| (layer.entries.len(), layer.bytes, layer.max_bytes))
}
