//! The Python extension `jinja_bccache._native`: the thin binding layer (`py`), the error
//! mapping (`error`) and the logging bridge (`pylog`) over the pure-Rust core crate
//! `jinja_bccache_core` (crates/jinja-bccache-core), which is where entries are framed,
//! sealed, named, read, written and sent to memcached.

mod error;
mod py;
mod pylog;

use pyo3::prelude::*;

/// `gil_used = true`: on a free-threaded CPython, importing the module keeps the GIL on (the
/// README's "Free-threaded CPython" says why). PyO3 would declare it safe without the GIL.
#[pymodule(gil_used = true)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    pylog::install();
    py::register(m)
}
