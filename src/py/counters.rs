//! `Counters`: what a cache object has done since it was created, for `cache.stats()`.
//! Atomics, so the native stores count with the GIL released and without locks.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pyclass(frozen, module = "jinja_bccache._native")]
#[derive(Default)]
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
    fn fields(&self) -> [(&'static str, &AtomicU64); 9] {
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

    pub fn bump(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}

#[pymethods]
impl Counters {
    #[new]
    fn new() -> Self {
        Counters::default()
    }

    /// Add `n` to the counter `name` (for the cache paths that run in Python).
    #[pyo3(signature = (name, n=1))]
    fn add(&self, name: &str, n: u64) -> PyResult<()> {
        let (_, counter) = self
            .fields()
            .into_iter()
            .find(|(field, _)| *field == name)
            .ok_or_else(|| PyValueError::new_err(format!("no counter named {name:?}")))?;
        Counters::bump(counter, n);
        Ok(())
    }

    /// A snapshot as a dict.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (name, counter) in self.fields() {
            out.set_item(name, counter.load(Relaxed))?;
        }
        Ok(out)
    }
}
