//! Errors of the pure core, raised as Python exceptions at the edge.

use std::io;

use jinja_bccache_core::error::{errno, strerror};
use jinja_bccache_core::memcached::Failure;
use jinja_bccache_core::Error;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::PyErr;

use crate::py::MemcachedError;

/// `.or_raise()`: a core result as a Python one.
pub trait OrRaise<T> {
    fn or_raise(self) -> pyo3::PyResult<T>;
}

impl<T> OrRaise<T> for Result<T, Error> {
    fn or_raise(self) -> pyo3::PyResult<T> {
        self.map_err(raise)
    }
}

impl<T> OrRaise<T> for Result<T, Failure> {
    fn or_raise(self) -> pyo3::PyResult<T> {
        self.map_err(raise_failure)
    }
}

/// A memcached failure: `MemcachedError` (an `OSError`) naming the server.
pub fn raise_failure(failure: Failure) -> PyErr {
    MemcachedError::new_err(failure.to_string())
}

pub fn raise(err: Error) -> PyErr {
    match err {
        // OSError(errno, strerror, filename) picks FileNotFoundError, PermissionError, ...
        Error::Io { path, source } => {
            // Windows reports its own error codes: given as `winerror`, they are what Python
            // derives errno and the subclass (FileNotFoundError, ...) from, as for its own calls.
            #[cfg(windows)]
            if let Some(code) = source.raw_os_error() {
                let path = path.to_string_lossy().into_owned();
                return PyOSError::new_err((0, strerror(&source), path, code));
            }
            match errno(&source) {
                Some(errno) => PyOSError::new_err((
                    errno,
                    strerror(&io::Error::from_raw_os_error(errno)),
                    path.to_string_lossy().into_owned(),
                )),
                None => PyOSError::new_err(format!("{}: {}", path.display(), source)),
            }
        }
        Error::Value(msg) => PyValueError::new_err(msg),
    }
}
