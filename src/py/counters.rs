//! A cache object's counters (`jinja_bccache_core::counters`) as its stores keep them: one
//! set per cache, handed on to each store that replaces the last when a setting changes, and
//! reported by `cache.stats()`.

use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

pub use jinja_bccache_core::counters::Counters;

/// The counters of a new store: those of the store it replaces, or a new set.
pub fn carried(previous: Option<&Arc<Counters>>) -> Arc<Counters> {
    previous.cloned().unwrap_or_default()
}

/// `stats()`: every counter by name.
pub fn stats<'py>(py: Python<'py>, counters: &Counters) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (name, value) in counters.snapshot() {
        out.set_item(name, value)?;
    }
    Ok(out)
}

/// Whether `set_bucket` marked the bucket's code as usable by this process only.
pub fn is_local(bucket: &Bound<'_, PyAny>) -> PyResult<bool> {
    match bucket.getattr_opt(intern!(bucket.py(), "_jinja_bccache_local"))? {
        Some(flag) => flag.is_truthy(),
        None => Ok(false),
    }
}
