//! `marshal.loads` and `marshal.dumps` of the running interpreter. A per-version build calls
//! marshal's C functions directly: no Python call, no copy of the payload. The stable ABI
//! (the `abi3` feature) has no marshal functions, so that build calls the `marshal` module,
//! handing it a read-only view of the payload rather than a copy.

#[cfg(not(feature = "abi3"))]
pub use pyo3::marshal::{dumps, loads, VERSION};

#[cfg(feature = "abi3")]
pub use stable::{dumps, loads, VERSION};

#[cfg(feature = "abi3")]
mod stable {
    use pyo3::prelude::*;
    use pyo3::sync::PyOnceLock;
    use pyo3::types::PyBytes;
    use pyo3::{ffi, intern};

    /// `marshal.version` of every CPython this package supports.
    pub const VERSION: i32 = 4;

    /// CPython's `PyBUF_READ` (a read-only memoryview), which the stable ABI's headers
    /// declare only from 3.11 though `PyMemoryView_FromMemory` takes it since 3.3.
    const PYBUF_READ: std::os::raw::c_int = 0x100;

    pub fn loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let loads = LOADS.import(py, "marshal", "loads")?;
        let len = ffi::Py_ssize_t::try_from(data.len())?;
        // SAFETY: the view covers `data`, which outlives it: it is released below, before
        // this function returns, and marshal keeps no reference to its argument.
        let view = unsafe {
            let ptr = data.as_ptr().cast_mut().cast();
            Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromMemory(ptr, len, PYBUF_READ))?
        };
        let result = loads.call1((&view,));
        view.call_method0(intern!(py, "release"))?;
        result
    }

    pub fn dumps<'py>(object: &Bound<'py, PyAny>, version: i32) -> PyResult<Bound<'py, PyBytes>> {
        static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let dumps = DUMPS.import(object.py(), "marshal", "dumps")?;
        Ok(dumps.call1((object, version))?.cast_into::<PyBytes>()?)
    }
}
