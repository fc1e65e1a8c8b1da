//! The in-process layer: unmarshalled code of recent hits and writes, shared by every cache
//! object in the process, in front of the storage backends. A repeat load (an Environment
//! per request or per job, a test suite, a dbt-style tool) then costs hashing the source and
//! a map lookup instead of a read and an unmarshal.
//!
//! Keyed by the full cache key (which carries the environment fingerprint) and the source
//! checksum, so it can only return what the backend would have returned for the same
//! template, configuration and source. Bounded by the size of the serialized entries (a
//! proxy for the memory the code objects take); least recently used first out.

use std::sync::Mutex;

use lru::LruCache;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// The default budget, in bytes of serialized entries.
pub const DEFAULT_MAX_BYTES: usize = 32 * 1024 * 1024;

struct Layer {
    entries: LruCache<(String, String), (Py<PyAny>, usize)>,
    bytes: usize,
    max_bytes: usize,
}

impl Layer {
    /// Evict least recently used entries until the layer fits its budget.
    fn fit_budget(&mut self) {
        while self.bytes > self.max_bytes {
            let Some((_, (_, evicted))) = self.entries.pop_lru() else {
                break;
            };
            self.bytes -= evicted;
        }
    }
}

// Every access happens with the GIL held and without releasing it, so the lock is never
// contended and is never held by another thread when a process forks.
static LAYER: Mutex<Option<Layer>> = Mutex::new(None);

fn with_layer<T>(f: impl FnOnce(&mut Layer) -> T) -> T {
    let mut guard = LAYER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let layer = guard.get_or_insert_with(|| Layer {
        entries: LruCache::unbounded(),
        bytes: 0,
        max_bytes: DEFAULT_MAX_BYTES,
    });
    f(layer)
}

pub fn get<'py>(py: Python<'py>, key: &str, checksum: &str) -> Option<Bound<'py, PyAny>> {
    with_layer(|layer| {
        if layer.max_bytes == 0 {
            return None;
        }
        // the tuple key needs owned strings; this allocation is small next to a file read
        let code = layer.entries.get(&(key.to_owned(), checksum.to_owned()))?;
        Some(code.0.bind(py).clone())
    })
}

pub fn put(code: &Bound<'_, PyAny>, key: &str, checksum: &str, weight: usize) {
    with_layer(|layer| {
        if weight > layer.max_bytes {
            return; // also covers a disabled layer
        }
        let old = layer.entries.put(
            (key.to_owned(), checksum.to_owned()),
            (code.clone().unbind(), weight),
        );
        layer.bytes += weight;
        if let Some((_, old_weight)) = old {
            layer.bytes -= old_weight;
        }
        layer.fit_budget();
    })
}

/// `memory_cache_clear()`: drop everything. `clear()` on any cache does it too: a user
/// clearing a cache expects recompiles.
#[pyfunction]
#[pyo3(name = "memory_cache_clear")]
pub fn forget_all() {
    with_layer(|layer| {
        layer.entries.clear();
        layer.bytes = 0;
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
pub fn checksum_text<'a>(checksum: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    checksum
        .cast::<PyString>()
        .ok()
        .and_then(|s| s.to_str().ok())
}

/// `memory_store(code, key, checksum, weight)`: remember code just loaded or written.
#[pyfunction]
pub fn memory_store(
    code: &Bound<'_, PyAny>,
    key: &str,
    checksum: &Bound<'_, PyAny>,
    weight: usize,
) {
    if let Some(text) = checksum_text(checksum) {
        put(code, key, text, weight)
    }
}

/// `memory_cache_info()`: `(entries, bytes, max_bytes)`.
#[pyfunction]
pub fn memory_cache_info() -> (usize, usize, usize) {
    with_layer(|layer| (layer.entries.len(), layer.bytes, layer.max_bytes))
}
