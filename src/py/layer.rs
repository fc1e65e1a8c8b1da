//! The in-process layer (`jinja_bccache_core::layer`) holding unmarshalled code of recent
//! hits and writes, in front of the storage backends. A repeat load (an Environment per
//! request or per job, a test suite, a dbt-style tool) then costs hashing the source and a
//! map lookup instead of a read and an unmarshal. One layer per process, shared by every
//! cache object, each answered only within its store's scope.

use std::borrow::Cow;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyString;

use jinja_bccache_core::layer::Layer;
pub use jinja_bccache_core::layer::{Check, Scope};

// Every access happens with the GIL held and without releasing it, so the lock is never
// contended and is never held by another thread when a process forks.
static LAYER: Mutex<Option<Layer<Py<PyAny>>>> = Mutex::new(None);

fn with_layer<T>(f: impl FnOnce(&mut Layer<Py<PyAny>>) -> T) -> T {
    let (result, dropped) = {
        let mut guard = LAYER
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let layer = guard.get_or_insert_with(Layer::default);
        let result = f(layer);
        (result, layer.take_dropped())
    };
    drop(dropped); // the lock is released: Python may run now (a weakref callback, a finalizer)
    result
}

/// The code held for `key` and `checksum` in `scope`, with what must still hold for it.
pub fn get<'py>(
    py: Python<'py>,
    scope: Scope,
    key: &str,
    checksum: &str,
) -> Option<(Bound<'py, PyAny>, Check)> {
    with_layer(|layer| {
        let (code, check) = layer.get(scope, key, checksum)?;
        Some((code.bind(py).clone(), check))
    })
}

pub fn recheck(scope: Scope, key: &str, checksum: &str, check: Check) {
    with_layer(|layer| layer.recheck(scope, key, checksum, check))
}

pub fn forget(scope: Scope, key: &str, checksum: &str) {
    with_layer(|layer| layer.forget(scope, key, checksum))
}

pub fn forget_scope(scope: Scope) {
    with_layer(|layer| layer.forget_scope(scope))
}

pub fn put(
    scope: Scope,
    code: &Bound<'_, PyAny>,
    key: &str,
    checksum: &str,
    weight: usize,
    check: Check,
) {
    with_layer(|layer| {
        if layer.fits(weight) {
            layer.put(scope, code.clone().unbind(), key, checksum, weight, check);
        }
    })
}

pub fn enabled() -> bool {
    with_layer(|layer| layer.enabled())
}

/// `memory_cache_clear()`: drop everything.
#[pyfunction]
#[pyo3(name = "memory_cache_clear")]
pub fn forget_all() {
    with_layer(Layer::clear)
}

/// `set_memory_cache(max_bytes)`: the layer's budget in bytes of serialized entries; 0 turns it
/// off. Returns the previous budget.
#[pyfunction]
pub fn set_memory_cache(max_bytes: usize) -> usize {
    with_layer(|layer| layer.set_budget(max_bytes))
}

/// `memory_cache_info()`: `(entries, bytes, max_bytes)`.
#[pyfunction]
pub fn memory_cache_info() -> (usize, usize, usize) {
    with_layer(|layer| layer.info())
}

/// The checksum as the layer keys it: Jinja's checksums are str; anything else (a subclass's
/// choice) keeps the template out of the layer.
pub fn checksum_text<'a>(checksum: &'a Bound<'_, PyAny>) -> Option<Cow<'a, str>> {
    checksum
        .cast::<PyString>()
        .ok()
        .and_then(|s| s.to_cow().ok())
}
