//! jinja-bccache: Rust cores for a drop-in replacement of `jinja2.bccache`.
//!
//! `format`, `keys`, `fs`, `seal`, `unlink` and `memcached` are plain Rust (no Python) and
//! unit-tested with `cargo test`;
//! `py` is the thin binding layer exported as `jinja_bccache._native`.

pub mod error;
pub mod format;
pub mod fs;
pub mod keys;
pub mod memcached;
mod py;
mod pylog;
pub mod seal;
pub mod unlink;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    pylog::install();
    py::register(m)
}
