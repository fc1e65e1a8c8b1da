//! jinja-bccache: Rust cores for a drop-in replacement of `jinja2.bccache`.
//!
//! `format`, `keys`, `fs`, `seal` and `unlink` are plain Rust (no Python) and unit-tested with `cargo test`;
//! `py` is the thin binding layer exported as `jinja_bccache._native`.

pub mod error;
pub mod format;
pub mod fs;
pub mod keys;
pub mod memcached;
mod py;
pub mod seal;
pub mod unlink;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Cache the Python loggers but not their levels, so `logging.getLogger(...).setLevel()`
    // after import still takes effect. Nothing logs on the hit path, so this costs nothing there.
    let logger = pyo3_log::Logger::new(m.py(), pyo3_log::Caching::Loggers)?;
    // Already installed by an earlier import in this process (reload): keep that one.
    let _ = logger.install();
    py::register(m)
}
