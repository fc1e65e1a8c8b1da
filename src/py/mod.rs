//! The Python-facing layer: thin wrappers that convert arguments and map errors.

mod entry;
mod filesystem;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(entry::configure, m)?)?;
    m.add_function(wrap_pyfunction!(entry::cache_key, m)?)?;
    m.add_function(wrap_pyfunction!(entry::source_checksum, m)?)?;
    m.add_function(wrap_pyfunction!(entry::entry_load, m)?)?;
    m.add_function(wrap_pyfunction!(entry::entry_dump, m)?)?;
    m.add_function(wrap_pyfunction!(entry::seal_py, m)?)?;
    m.add_function(wrap_pyfunction!(entry::unseal, m)?)?;
    m.add_function(wrap_pyfunction!(entry::load_sealed, m)?)?;
    m.add_function(wrap_pyfunction!(entry::dump_sealed, m)?)?;
    m.add_function(wrap_pyfunction!(filesystem::read_entry, m)?)?;
    m.add_function(wrap_pyfunction!(filesystem::write_entry, m)?)?;
    m.add_class::<filesystem::FsStore>()?;
    Ok(())
}
