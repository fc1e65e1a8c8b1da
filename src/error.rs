//! Errors of the pure core, raised as Python exceptions at the edge.

use std::io;

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
            match errno_of(&source) {
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

/// The errno of an I/O error. tempfile wraps OS errors to add the temp file's path and the
/// errno is lost on the way; the kind survives, so the common kinds are mapped back. (On
/// Windows an OS error's own code is a Windows code, not an errno: see `raise`.)
fn errno_of(err: &io::Error) -> Option<i32> {
    use io::ErrorKind::*;
    #[cfg(unix)]
    let raw = err.raw_os_error();
    #[cfg(not(unix))]
    let raw = None;
    raw.or(match err.kind() {
        NotFound => Some(libc::ENOENT),
        PermissionDenied => Some(libc::EACCES),
        AlreadyExists => Some(libc::EEXIST),
        NotADirectory => Some(libc::ENOTDIR),
        IsADirectory => Some(libc::EISDIR),
        ReadOnlyFilesystem => Some(libc::EROFS),
        StorageFull => Some(libc::ENOSPC),
        // Windows' C runtime has no EDQUOT; there the quota error keeps its raw OS code.
        #[cfg(unix)]
        QuotaExceeded => Some(libc::EDQUOT),
        FileTooLarge => Some(libc::EFBIG),
        InvalidFilename => Some(libc::ENAMETOOLONG),
        _ => None,
    })
}

/// The message of an OS error without Rust's " (os error N)" suffix, as Python prints it.
fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}
