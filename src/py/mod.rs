//! The binding: pyclasses and the jobs that touch Python objects (code, buckets, Python
//! clients, the Environment registries the fingerprint memo reads), over the core crate.

mod args;
mod codec;
mod counters;
mod filesystem;
mod keys;
mod layer;
mod loading;
mod marshal;
mod memcached_client;
mod memcached_store;
mod memo;
mod sealing;
mod signature;

pub use memcached_client::MemcachedError;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The version is written once, in Cargo.toml; pyproject.toml and the package read it.
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(keys::cache_key, m)?)?;
    m.add_function(wrap_pyfunction!(keys::source_checksum, m)?)?;
    m.add_function(wrap_pyfunction!(codec::entry_load, m)?)?;
    m.add_function(wrap_pyfunction!(codec::entry_dump, m)?)?;
    m.add_class::<filesystem::FsStorePy>()?;
    m.add_class::<memcached_client::MemcachedClientPy>()?;
    m.add_class::<memcached_store::McStorePy>()?;
    m.add(
        "MemcachedError",
        m.py().get_type::<memcached_client::MemcachedError>(),
    )?;
    m.add_function(wrap_pyfunction!(layer::set_memory_cache, m)?)?;
    m.add_function(wrap_pyfunction!(layer::memory_cache_info, m)?)?;
    m.add_function(wrap_pyfunction!(layer::forget_all, m)?)?;
    m.add_function(wrap_pyfunction!(memo::changes, m)?)?;
    m.add_function(wrap_pyfunction!(memo::snapshot, m)?)?;
    m.add_function(wrap_pyfunction!(memo::memo_entry, m)?)?;
    m.add_function(wrap_pyfunction!(signature::shallow_names, m)?)?;
    m.add_function(wrap_pyfunction!(signature::factory_shape, m)?)?;
    Ok(())
}
