//! The in-process layer's bookkeeping: what it holds for which store, what must still hold
//! for each entry to answer, and its byte budget. Generic over the value held (the binding
//! holds Python code objects), so all of it is tested here without Python.
//!
//! It never answers differently from the store behind it:
//! - every entry belongs to one store *scope*: a digest of what decides the store's answer
//!   (the directory and pattern, or the memcached servers and prefix; the secret's digest;
//!   whether stock Jinja's entries are accepted). A cache object is answered only with what a
//!   store of its own scope loaded or accepted, so a new directory, another pattern, a secret
//!   or a memcached store always gets its own first load and write;
//! - every entry carries a [`Check`]: a filesystem entry answers only while the file at its
//!   name is still the file it was loaded from (one `lstat`), a memcached entry only while the
//!   server still holds the same item (its version, asked without the value).
//!
//! Keyed by scope, full cache key (which carries the environment fingerprint) and source
//! checksum. Bounded by the size of the serialized entries (a proxy for the memory the values
//! take); least recently used first out.

use lru::LruCache;
use sha2::{Digest, Sha256};

use crate::fs::FileStamp;
use crate::memcached::Version;

/// The default budget, in bytes of serialized entries.
pub const DEFAULT_MAX_BYTES: usize = 32 * 1024 * 1024;

/// Which store an entry belongs to: a digest of the store's description ([`Scope::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope(u128);

impl Scope {
    /// The scope of a store of `kind` described by `description` (its location: directory
    /// and pattern, servers and prefix), read with `secret` and accepting stock Jinja's
    /// entries or not: everything that decides the store's answer. A collision-resistant
    /// digest, so no two stores share entries by accident; the secret enters only as its own
    /// digest, and nothing of the description is kept.
    pub fn of(
        kind: &str,
        description: &[&[u8]],
        secret: Option<&[u8]>,
        accept_plain: bool,
    ) -> Self {
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
}

/// What must still hold for an entry to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The file at the entry's name is still this one.
    File(FileStamp),
    /// The memcached item under the entry's key is still this one.
    Item(Version),
}

struct Slot<V> {
    value: V,
    weight: usize,
    check: Check,
}

type Key = (Scope, String, String);

fn key(scope: Scope, key: &str, checksum: &str) -> Key {
    // the tuple key needs owned strings; this allocation is small next to a file read
    (scope, key.to_owned(), checksum.to_owned())
}

pub struct Layer<V> {
    entries: LruCache<Key, Slot<V>>,
    bytes: usize,
    max_bytes: usize,
    /// Values that left the layer, for the owner to drop once it is safe to: dropping a
    /// Python object may run Python code, which may use the layer again.
    dropped: Vec<V>,
}

impl<V> Default for Layer<V> {
    fn default() -> Self {
        Layer {
            entries: LruCache::unbounded(),
            bytes: 0,
            max_bytes: DEFAULT_MAX_BYTES,
            dropped: Vec::new(),
        }
    }
}

impl<V> Layer<V> {
    /// Whether the layer keeps anything (a budget of 0 turns it off).
    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// The value held for `key` and `checksum` in `scope`, with what must still hold for it.
    pub fn get(&mut self, scope: Scope, key_: &str, checksum: &str) -> Option<(&V, Check)> {
        if !self.enabled() {
            return None;
        }
        let slot = self.entries.get(&key(scope, key_, checksum))?;
        Some((&slot.value, slot.check))
    }

    /// Replace the check of an entry (a refreshed file has a new stamp).
    pub fn recheck(&mut self, scope: Scope, key_: &str, checksum: &str, check: Check) {
        if let Some(slot) = self.entries.peek_mut(&key(scope, key_, checksum)) {
            slot.check = check;
        }
    }

    /// Drop an entry whose check failed: the store answers for it again.
    pub fn forget(&mut self, scope: Scope, key_: &str, checksum: &str) {
        if let Some(slot) = self.entries.pop(&key(scope, key_, checksum)) {
            self.release(slot);
        }
    }

    /// Drop every entry of `scope` (its store was cleared).
    pub fn forget_scope(&mut self, scope: Scope) {
        let keys: Vec<Key> = self
            .entries
            .iter()
            .filter(|(k, _)| k.0 == scope)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            if let Some(slot) = self.entries.pop(&k) {
                self.release(slot);
            }
        }
    }

    /// Whether a value of `weight` bytes would be held (not over the whole budget): the
    /// owner need not make a value the layer would drop at once.
    pub fn fits(&self, weight: usize) -> bool {
        weight <= self.max_bytes
    }

    /// Hold `value` (`weight` bytes serialized) while `check` holds.
    pub fn put(
        &mut self,
        scope: Scope,
        value: V,
        key_: &str,
        checksum: &str,
        weight: usize,
        check: Check,
    ) {
        if !self.fits(weight) {
            self.dropped.push(value);
            return; // also covers a disabled layer
        }
        self.bytes += weight;
        let slot = Slot {
            value,
            weight,
            check,
        };
        if let Some(old) = self.entries.put(key(scope, key_, checksum), slot) {
            self.release(old);
        }
        self.fit_budget();
    }

    /// Drop everything.
    pub fn clear(&mut self) {
        while let Some((_, slot)) = self.entries.pop_lru() {
            self.release(slot);
        }
    }

    /// Set the budget in bytes of serialized entries (0 turns the layer off); the previous one.
    pub fn set_budget(&mut self, max_bytes: usize) -> usize {
        let previous = std::mem::replace(&mut self.max_bytes, max_bytes);
        self.fit_budget();
        previous
    }

    /// `(entries, bytes, max_bytes)`.
    pub fn info(&self) -> (usize, usize, usize) {
        (self.entries.len(), self.bytes, self.max_bytes)
    }

    /// The values that left the layer since the last call.
    pub fn take_dropped(&mut self) -> Vec<V> {
        std::mem::take(&mut self.dropped)
    }

    /// Evict least recently used entries until the layer fits its budget.
    fn fit_budget(&mut self) {
        while self.bytes > self.max_bytes {
            let Some((_, slot)) = self.entries.pop_lru() else {
                break;
            };
            self.release(slot);
        }
    }

    fn release(&mut self, slot: Slot<V>) {
        self.bytes -= slot.weight;
        self.dropped.push(slot.value);
    }
}

#[cfg(test)]
mod tests;
