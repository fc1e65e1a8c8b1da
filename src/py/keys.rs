//! `BytecodeCache.get_cache_key` and `get_source_checksum`: Jinja's digests, computed natively.

use pyo3::prelude::*;

use super::args::{key_of, utf8};
use jinja_bccache_core::keys;

/// `BytecodeCache.get_cache_key(name, filename=None)`.
#[pyfunction]
#[pyo3(signature = (name, filename=None))]
pub fn cache_key(name: &Bound<'_, PyAny>, filename: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
    match filename {
        Some(filename) => key_of(name, filename),
        None => Ok(keys::cache_key(utf8(name, "name")?.as_bytes(), None)),
    }
}

/// `BytecodeCache.get_source_checksum(source)`.
#[pyfunction]
pub fn source_checksum(source: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(keys::source_checksum(utf8(source, "source")?.as_bytes()))
}
