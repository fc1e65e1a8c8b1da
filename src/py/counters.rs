//! `Counters`: a cache object's counters (`jinja_bccache_core::counters`), shared by the
//! stores that replace one another when the cache's settings change.

use std::ops::Deref;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

pub use jinja_bccache_core::counters::Counters;

#[pyclass(frozen, name = "Counters", module = "jinja_bccache._native")]
#[derive(Default)]
pub struct CountersPy(Counters);

impl Deref for CountersPy {
    type Target = Counters;

    fn deref(&self) -> &Counters {
        &self.0
    }
}

#[pymethods]
impl CountersPy {
    #[new]
    fn new() -> Self {
        CountersPy::default()
    }

    /// Add `n` to the counter `name` (for the cache paths that run in Python).
    #[pyo3(signature = (name, n=1))]
    fn add(&self, name: &str, n: u64) -> PyResult<()> {
        let counter = self
            .named(name)
            .ok_or_else(|| PyValueError::new_err(format!("no counter named {name:?}")))?;
        Counters::bump(counter, n);
        Ok(())
    }

    /// A snapshot as a dict.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (name, value) in self.0.snapshot() {
            out.set_item(name, value)?;
        }
        Ok(out)
    }
}
